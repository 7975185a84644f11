//! The runtime-agnostic driver behind `dialer-tokio` and `dialer-async-std`.
//!
//! [`Dialer`] is a cloneable handle to one spawned **driver task** that owns a
//! [`dialer_core::Dialer`] and runs its drive loop. The driver only carries out what the
//! core decides (R-A5):
//!
//! - a `dial` call becomes [`dialer_core::Dialer::dial`]; its caller waits on a oneshot for
//!   its `Finished` event;
//! - a `StartDial` becomes an attempt ([`Transport::dial`]) that the driver task polls
//!   itself, next to its other inputs: no task is spawned for it and no channel carries its
//!   result, which is fed to the core (`handle_dial_succeeded` / `handle_dial_failed`) as
//!   soon as the attempt's poll returns it. Each attempt has its own waker, so a wake-up
//!   polls only the attempts that were woken. Under load (more than a few attempts in
//!   flight) further attempts run on tasks of their own instead, so that their system
//!   calls spread over the runtime's threads; they report through the same path. A panic
//!   in an attempt counts as its failure;
//! - an `AbortDial` drops the attempt (and closes its socket) on the spot, before the
//!   driver carries out the next action, so the sockets in flight never outnumber the
//!   tokens (R-T6). A dropped attempt can no longer complete, and a connection the core
//!   refuses (`ReportError::UnknownDial`) is dropped (closed) at once (R-A1);
//! - one timer of the runtime is armed at `poll_timeout()`; each time the driver wakes it
//!   compares that deadline with [`Runtime::now`] rather than trusting the timer future
//!   alone, and calls `handle_timeout` once the deadline has passed (R-A4);
//! - after every input it drains `poll_action`, then `poll_event`, then re-arms the timer.
//!
//! A runtime plugs in through [`Runtime`] (spawn for the driver task, timer, clock) and a
//! connection type through [`Transport`] (R-A3). The [`tcp`] module holds the
//! runtime-independent half of the adapters' default TCP transports.
//!
//! # Sharing and cancelling
//!
//! Callers that join one request (R-R8) all receive the same connection as an
//! [`Arc`](std::sync::Arc) in [`Dialed`]; a lone caller, the common case, holds the only
//! reference and takes ownership with [`Dialed::into_connection`]. Dropping a `dial`
//! future sends a cancel for that caller only; the core cancels the shared request (aborts
//! its dials, releases its tokens) once its last caller is gone (R-R7). A `dial` future owns
//! what it needs (it is `'static` and can be spawned), so the driver runs until every handle
//! and every pending `dial` future is gone; it then ends and drops every attempt still in
//! flight.
//!
//! Besides the winner, [`Dialed::failed`] lists the request's dials that failed before it
//! (the core reports only the winner on success), and [`Dialer::pruned`] streams the
//! addresses the core prunes (R-C5) so they can be applied to a peer store.
//!
//! # Tracing (R-O2)
//!
//! The driver runs in a `dialer_driver` span; each request gets a `dial_request` span
//! (request id, peer) and each attempt a `dial` span (dial id, address) that is entered
//! for every poll of the attempt (or wraps its task). Events at `DEBUG` mark callers waiting and cancelling, tokens granted
//! and released, dials started, connected (with latency), failed (with the reason) and
//! aborted, requests finished, and addresses pruned.
//!
//! # Metrics (R-O3)
//!
//! With the cargo feature `metrics`, `Dialer::with_metrics` registers Prometheus metrics
//! in a `prometheus-client` registry and the driver task keeps them up to date:
//! requests and dials by outcome, dials per request, time to connect, tokens in use, the
//! wait queue, black-hole states and skipped addresses (the repository's
//! `docs/metrics.md` lists them). Without the feature the driver records nothing and
//! depends on nothing more.
//!
//! # Example
//!
//! A runtime and a transport in a few lines (here tokio and an in-memory test double);
//! the adapters ship real ones.
//!
//! ```
//! use std::future::Future;
//! use std::time::Instant;
//! use dialer_driver::{Config, Dialer, Multiaddr, Runtime, Transport};
//!
//! #[derive(Clone, Default)]
//! struct Tokio;
//!
//! impl Runtime for Tokio {
//!     fn now(&self) -> Instant {
//!         tokio::time::Instant::now().into_std()
//!     }
//!     fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
//!         tokio::spawn(future);
//!     }
//!     fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
//!         tokio::time::sleep_until(deadline.into())
//!     }
//! }
//!
//! /// Connects to port 1 only; every address is "dialable".
//! struct Memory;
//!
//! impl Transport for Memory {
//!     type Output = String;
//!     type Error = std::io::Error;
//!     type Dial = std::future::Ready<Result<String, std::io::Error>>;
//!
//!     fn can_dial(&self, _: &Multiaddr) -> bool {
//!         true
//!     }
//!     fn dial(&self, addr: &Multiaddr) -> Self::Dial {
//!         std::future::ready(if addr.to_string().ends_with("/tcp/1") {
//!             Ok(format!("connection to {addr}"))
//!         } else {
//!             Err(std::io::ErrorKind::ConnectionRefused.into())
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dialer: Dialer<&str, Memory, Tokio> = Dialer::new(Config::default(), Memory)?;
//! let addrs: Vec<Multiaddr> = vec!["/ip4/127.0.0.1/tcp/2".parse()?, "/ip4/127.0.0.1/tcp/1".parse()?];
//! let dialed = dialer.dial("peer-a", addrs).await?;
//! assert_eq!(dialed.addr.to_string(), "/ip4/127.0.0.1/tcp/1");
//! let connection: String = dialed.into_connection().expect("a lone caller owns it");
//! assert_eq!(connection, "connection to /ip4/127.0.0.1/tcp/1");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod attempt;
mod command;
mod driver;
mod error;
mod handle;
#[cfg(feature = "hickory")]
pub mod hickory;
#[cfg(feature = "metrics")]
mod metrics;
mod resolver;
pub mod tcp;
mod traits;

pub use dialer_core::{
    Answer, Attempt, CallerId, Config, ConfigError, DialFailed, DialId, DialOpts, DialRefused,
    ErrorClass, FailReason, HeadStart, Names, Priority, RecordKind, RequestId, ResolveId,
    SkipReason, Skipped, Stats, TransportError, WaitForTokens,
};
#[cfg(feature = "serde")]
pub use dialer_core::{
    ConnectTimeHistogram, DenyEntry, LearnedAddress, PruneMark, RestoreError, RestoreReport,
    Snapshot, SNAPSHOT_VERSION,
};
pub use error::{Dialed, Error};
pub use handle::{Dialer, DialerBuilder};
pub use multiaddr::Multiaddr;
/// The `prometheus-client` crate the metrics are registered with (feature `metrics`), so
/// that a caller's [`Registry`](prometheus_client::registry::Registry) is of the same
/// version.
#[cfg(feature = "metrics")]
pub use prometheus_client;
pub use resolver::{local_answer, AnyResolver, NoResolver};
pub use traits::{Resolver, Runtime, Transport};

#[cfg(test)]
mod tests;
