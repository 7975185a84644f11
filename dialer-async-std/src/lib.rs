//! async-std adapter for the token dialer: real TCP sockets, timers and tasks. Runs under
//! smol as well.
//!
//! **async-std is discontinued upstream in favour of [smol](https://docs.rs/smol).** This
//! crate keeps the name and the `async-std` dependency the project was asked for, and is
//! built so that it runs under smol too: async-std's sockets and timers are
//! [`async-io`](async_io)'s (the reactor smol uses), timers here are [`async_io::Timer`],
//! and tasks go to async-std's global executor, which runs on its own threads whichever
//! executor drives the caller. A dialer created inside `smol::block_on` works as is; the
//! crate's tests show it.
//!
//! [`Dialer`] is [`dialer_driver::Dialer`] on [`AsyncStdRuntime`], with [`TcpTransport`] as
//! its default transport; it has the same API as `dialer-tokio` (R-A1). Every decision is
//! made by [`dialer_core`]; see [`dialer_driver`] for how requests, dials, cancellation and
//! shutdown work.
//!
//! # Names
//!
//! `/dns`, `/dns4`, `/dns6` and `/dnsaddr` addresses are resolved by the core (R-N1): the
//! driver runs each lookup on the dialer's [`Resolver`], by default an [`AsyncStdResolver`]
//! with the system's configuration, and answers `localhost` itself. hickory-resolver (what
//! rust-libp2p's `libp2p-dns` uses) ships a tokio runtime provider only; this crate brings
//! its own, [`AsyncStdProvider`], over async-io's sockets and timers, so it works the same
//! under smol. [`Dialer::builder`](dialer_driver::Dialer::builder) takes another resolver
//! (say, [`AsyncStdResolver::with_name_server`]) and an address filter (R-R10).
//!
//! # Quick start
//!
//! ```no_run
//! use dialer_async_std::{Config, Dialer, Multiaddr, TcpTransport};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # async_std::task::block_on(async {
//! // Works the same inside `smol::block_on`.
//! let dialer = Dialer::new(Config::default(), TcpTransport::default())?;
//! let addrs: Vec<Multiaddr> = vec![
//!     "/ip4/127.0.0.1/tcp/4001".parse()?,
//!     "/dns4/localhost/tcp/4002".parse()?,
//! ];
//! let dialed = dialer.dial("peer-a", addrs).await?;
//! println!("connected to {} in {:?}", dialed.addr, dialed.connect_time);
//! let stream: async_std::net::TcpStream = dialed.into_connection().expect("sole caller");
//! # drop(stream);
//! # Ok(())
//! # })
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use async_std::net::TcpStream;
use dialer_driver::hickory::HickoryResolver;
use dialer_driver::tcp::TcpConnect;

mod dns;

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
pub use dns::{AsyncIoTime, AsyncStdHandle, AsyncStdProvider, AsyncTcpStream, AsyncUdpSocket};
pub use multiaddr::Multiaddr;

/// The token dialer on async-std (or smol), for peers named by `P`, dialing with `T` (TCP
/// by default). Build it with `Dialer::new(config, transport)`.
pub type Dialer<P, T = TcpTransport> = dialer_driver::Dialer<P, T, AsyncStdRuntime>;

/// The driver's [`Runtime`] on async-std: [`async_std::task::spawn`],
/// [`async_io::Timer::at`] and [`Instant::now`]. Needs no runtime context: async-std's
/// executor starts itself, so it works from any executor, smol's included.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

impl Runtime for AsyncStdRuntime {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        // Detached: the driver keeps no JoinHandle, and dropping one does not cancel.
        drop(async_std::task::spawn(future));
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        let timer = async_io::Timer::at(deadline);
        async move {
            timer.await;
        }
    }

    /// An [`AsyncStdResolver::system`]: the system's DNS configuration, read at the first
    /// lookup.
    fn default_resolver(&self) -> Option<AnyResolver> {
        Some(AnyResolver::new(AsyncStdResolver::system()))
    }
}

/// The default resolver on async-std and smol (R-N1): hickory-resolver on
/// [`AsyncStdProvider`]. [`AsyncStdResolver::system`] (the default) reads the system's
/// configuration, [`AsyncStdResolver::with_name_server`] asks one name server of your
/// choice over UDP; see [`HickoryResolver`] for the rest.
pub type AsyncStdResolver = HickoryResolver<AsyncStdProvider>;

/// The TCP transport on async-std (R-A2): see [`dialer_driver::tcp::TcpTransport`]. It
/// dials IP addresses; names are resolved by the dialer before. Build it with
/// `TcpTransport::default()`.
pub type TcpTransport = dialer_driver::tcp::TcpTransport<AsyncStdRuntime>;

impl TcpConnect for AsyncStdRuntime {
    type Stream = TcpStream;

    async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}
