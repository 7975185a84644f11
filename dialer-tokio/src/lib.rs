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
//! # Quick start
//!
//! ```no_run
//! use dialer_tokio::{Config, Dialer, Multiaddr, TcpTransport};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spawns the driver on the current tokio runtime.
//! let dialer = Dialer::new(Config::default(), TcpTransport)?;
//! let addrs: Vec<Multiaddr> = vec![
//!     "/ip4/127.0.0.1/tcp/4001".parse()?,
//!     "/dns4/localhost/tcp/4002".parse()?,
//!     "/ip4/127.0.0.1/udp/4001/quic-v1".parse()?, // not TCP: skipped, costs no token
//! ];
//! let dialed = dialer.dial("peer-a", addrs).await?;
//! println!("connected to {} in {:?}", dialed.addr, dialed.latency);
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

use dialer_driver::tcp::{dial_tcp, TcpTarget};
use futures::future::BoxFuture;
use tokio::net::TcpStream;

pub use dialer_core::{
    Attempt, Config, ConfigError, DialError, DialId, FailReason, HeadStart, Priority, SkipReason,
    Skipped, Stats,
};
pub use dialer_driver::tcp::TcpError;
pub use dialer_driver::{Dialed, Error, Runtime, Transport};
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
}

/// Dials TCP (R-A2): `/ip4/…/tcp/…`, `/ip6/…/tcp/…`, and `/dns/…`, `/dns4/…`, `/dns6/…`
/// then `/tcp/…` (resolved with [`tokio::net::lookup_host`], kept to IPv4 / IPv6 for
/// `dns4` / `dns6`), each optionally followed by `/p2p/…`. Sets `TCP_NODELAY`.
///
/// Every other multiaddr (`/udp/…/quic-v1`, `/ws`, relays, …) fails
/// [`can_dial`](Transport::can_dial), so the core drops it before spending a token.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpTransport;

impl Transport for TcpTransport {
    type Output = TcpStream;
    type Error = TcpError;
    type Dial = BoxFuture<'static, Result<TcpStream, TcpError>>;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        TcpTarget::parse(addr).is_some()
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        Box::pin(dial_tcp(addr.clone(), resolve, connect))
    }
}

async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect())
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
