//! tokio adapter for the token dialer: real TCP sockets, timers and tasks of tokio.
//!
//! [`Dialer`] is [`dialer_driver::Dialer`] on [`TokioRuntime`], with [`TcpTransport`] as
//! its default transport. Every decision (ordering, tokens, confidence, deny list,
//! timeouts) is made by [`dialer_core`]; this crate only implements the driver's
//! [`Runtime`] (spawn, timer, clock) and a [`Transport`] for TCP. See
//! [`dialer_driver`] for how requests, dials, cancellation and shutdown work.
//!
//! The clock is tokio's ([`tokio::time::Instant`]), so a test with paused time
//! (`#[tokio::test(start_paused = true)]`) runs every dial and request timeout on it.
//!
//! # Names
//!
//! `/dns`, `/dns4`, `/dns6` and `/dnsaddr` addresses are resolved by the core (R-N1): the
//! driver runs each lookup on the dialer's [`Resolver`], by default a [`TokioResolver`]
//! (hickory-resolver on tokio) with the system's configuration, and answers `localhost`
//! itself. To ask a name server of your choice, or to filter the addresses a name may
//! resolve to (R-R10), use the builder:
//!
//! ```no_run
//! use dialer_tokio::{Config, Dialer, TcpTransport, TokioResolver, TokioRuntime};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dialer: Dialer<&str> = Dialer::builder(Config::default(), TcpTransport::default(), TokioRuntime)
//!     .with_resolver(TokioResolver::with_name_server("127.0.0.1:5353".parse()?))
//!     .with_address_filter(|_peer, addr| !addr.to_string().starts_with("/ip4/10."))
//!     .build()?;
//! let dialed = dialer.dial("peer-a", ["/dnsaddr/bootstrap.test".parse()?]).await?;
//! # drop(dialed);
//! # Ok(())
//! # }
//! ```
//!
//! # Quick start
//!
//! ```no_run
//! use dialer_tokio::{Config, Dialer, Multiaddr, TcpTransport};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spawns the driver on the current tokio runtime.
//! let dialer = Dialer::new(Config::default(), TcpTransport::default())?;
//! let addrs: Vec<Multiaddr> = vec![
//!     "/ip4/127.0.0.1/tcp/4001".parse()?,
//!     "/dns4/localhost/tcp/4002".parse()?,
//!     "/ip4/127.0.0.1/udp/4001/quic-v1".parse()?, // not TCP: skipped, costs no token
//! ];
//! let dialed = dialer.dial("peer-a", addrs).await?;
//! println!("connected to {} in {:?}", dialed.addr, dialed.connect_time);
//! // A lone caller owns the stream; callers that joined one request share it.
//! let stream: tokio::net::TcpStream = dialed.into_connection().expect("sole caller");
//! # drop(stream);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use std::time::Instant;

use dialer_driver::hickory::HickoryResolver;
use dialer_driver::tcp::TcpConnect;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::net::TcpStream;

pub use dialer_core::{
    Answer, Attempt, Config, ConfigError, DialFailed, DialId, DialOpts, DialRefused, ErrorClass,
    FailReason, HeadStart, Names, Priority, RecordKind, SkipReason, Skipped, Stats, TransportError,
    WaitForTokens,
};
#[cfg(feature = "serde")]
pub use dialer_core::{
    ConnectTimeHistogram, DenyEntry, LearnedAddress, PruneMark, RestoreError, RestoreReport,
    Snapshot, SNAPSHOT_VERSION,
};
pub use dialer_driver::hickory::HickoryError;
/// The `prometheus-client` crate [`Dialer::with_metrics`](dialer_driver::Dialer::with_metrics)
/// registers with (feature `metrics`, R-O3).
#[cfg(feature = "metrics")]
pub use dialer_driver::prometheus_client;
pub use dialer_driver::tcp::TcpError;
pub use dialer_driver::{AnyResolver, Dialed, DialerBuilder, Error, Resolver, Runtime, Transport};
pub use multiaddr::Multiaddr;

/// The token dialer on tokio, for peers named by `P`, dialing with `T` (TCP by default).
///
/// Build it with `Dialer::new(config, transport)` from inside a tokio runtime, or with
/// [`with_runtime`](dialer_driver::Dialer::with_runtime).
pub type Dialer<P, T = TcpTransport> = dialer_driver::Dialer<P, T, TokioRuntime>;

/// The driver's [`Runtime`] on tokio: [`tokio::spawn`], [`tokio::time::sleep_until`] and
/// tokio's clock (which honours paused time).
///
/// # Panics
///
/// Spawning needs a tokio runtime: build the [`Dialer`] from inside one (or inside
/// [`Runtime::enter`](tokio::runtime::Runtime::enter)), as with [`tokio::spawn`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(future);
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(deadline.into())
    }

    /// A [`TokioResolver::system`]: the system's DNS configuration, read at the first
    /// lookup.
    fn default_resolver(&self) -> Option<AnyResolver> {
        Some(AnyResolver::new(TokioResolver::system()))
    }
}

/// The default resolver on tokio (R-N1): hickory-resolver on its own tokio runtime
/// provider. [`TokioResolver::system`] (the default) reads the system's configuration,
/// [`TokioResolver::with_name_server`] asks one name server of your choice over UDP; see
/// [`HickoryResolver`] for the rest.
pub type TokioResolver = HickoryResolver<TokioRuntimeProvider>;

/// The TCP transport on tokio (R-A2): see [`dialer_driver::tcp::TcpTransport`]. It dials
/// IP addresses; names are resolved by the dialer before. Build it with
/// `TcpTransport::default()`.
pub type TcpTransport = dialer_driver::tcp::TcpTransport<TokioRuntime>;

impl TcpConnect for TokioRuntime {
    type Stream = TcpStream;

    async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Runtime, TokioRuntime};

    #[tokio::test(start_paused = true)]
    async fn the_runtime_clock_and_timer_follow_paused_time() {
        // R-A4: the driver's clock is tokio's, so paused time drives every dialer timeout.
        let start = TokioRuntime.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(TokioRuntime.now() - start, Duration::from_secs(5));
        let deadline = TokioRuntime.now() + Duration::from_secs(3600);
        TokioRuntime.sleep_until(deadline).await;
        assert_eq!(TokioRuntime.now(), deadline);
    }
}
