//! The TCP transport (R-A2), written once for every runtime: which multiaddrs are TCP,
//! connecting, and the errors. A runtime adds only [`TcpConnect`]: its TCP connect.
//!
//! It dials IP addresses only. Names (`/dns`, `/dns4`, `/dns6`, `/dnsaddr`) are the
//! core's job (R-N1): the driver resolves them with its [`Resolver`](crate::Resolver) and
//! the transport sees each resolved address as a dial of its own, ranked, deny-listed and
//! timed out on its own.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;

use futures::future::BoxFuture;
use multiaddr::{Multiaddr, Protocol};

use crate::Transport;

/// What a runtime gives the [`TcpTransport`]: its TCP connect. The adapters implement it
/// on their runtime type (`TokioRuntime`, `AsyncStdRuntime`).
pub trait TcpConnect: Send + Sync + 'static {
    /// The runtime's TCP stream.
    type Stream: Send + Sync + 'static;

    /// Opens a TCP stream to `addr`, with `TCP_NODELAY` set.
    fn connect(addr: SocketAddr)
        -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static;
}

/// Dials TCP (R-A2) with runtime `N`: `/ip4/…/tcp/…` and `/ip6/…/tcp/…`, each optionally
/// followed by `/p2p/…`.
///
/// Every other multiaddr (`/udp/…/quic-v1`, `/ws`, relays, …) fails
/// [`can_dial`](Transport::can_dial), so the core drops it before spending a token. So do
/// names: the dialer resolves `/dns*` and `/dnsaddr` addresses before they reach a
/// transport (R-N1). Failures are classed from the socket's error: refused, timed out,
/// unreachable.
pub struct TcpTransport<N> {
    _net: PhantomData<fn() -> N>,
}

impl<N> TcpTransport<N> {
    /// A TCP transport on runtime `N`.
    pub fn new() -> Self {
        Self { _net: PhantomData }
    }
}

impl<N> Default for TcpTransport<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N> Clone for TcpTransport<N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<N> Copy for TcpTransport<N> {}

impl<N> fmt::Debug for TcpTransport<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpTransport")
    }
}

impl<N: TcpConnect> Transport for TcpTransport<N> {
    type Output = N::Stream;
    type Error = TcpError;
    type Dial = BoxFuture<'static, Result<N::Stream, TcpError>>;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        socket_addr(addr).is_some()
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        let target = socket_addr(addr).ok_or_else(|| TcpError::Unsupported(addr.clone()));
        Box::pin(async move {
            let addr = target?;
            N::connect(addr)
                .await
                .map_err(|source| TcpError::Connect { addr, source })
        })
    }
}

/// The socket address of `/ip4|ip6/<ip>/tcp/<port>`, optionally followed by
/// `/p2p/<peer>`; `None` for anything else (names, UDP, QUIC, WebSocket, relays, …).
pub fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut parts = addr.iter();
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return None;
    };
    match parts.next() {
        None | Some(Protocol::P2p(_)) => {}
        Some(_) => return None,
    }
    if parts.next().is_some() {
        return None;
    }
    Some(SocketAddr::new(ip, port))
}

/// Why a TCP dial failed. The driver records the message with its sources, so the core's
/// [`Attempt`](dialer_core::Attempt) reads e.g. `connecting to 127.0.0.1:9: Connection refused (os error 111)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// Not an IP TCP multiaddr (normally filtered out by `can_dial` before a token is
    /// spent).
    #[error("{0} is not an IP TCP multiaddr (expected /ip4|ip6/…/tcp/…[/p2p/…]; the dialer resolves names before they reach the transport)")]
    Unsupported(Multiaddr),
    /// The connect failed.
    #[error("connecting to {addr}")]
    Connect {
        /// The socket address.
        addr: SocketAddr,
        /// The socket's error.
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use dialer_core::ErrorClass;

    use super::*;

    fn parse(s: &str) -> Option<SocketAddr> {
        socket_addr(&s.parse().expect("multiaddr"))
    }

    #[test]
    fn parses_tcp_multiaddrs() {
        // R-A2
        assert_eq!(
            parse("/ip4/127.0.0.1/tcp/4001"),
            Some("127.0.0.1:4001".parse().expect("socket"))
        );
        assert_eq!(
            parse("/ip6/::1/tcp/4001"),
            Some("[::1]:4001".parse().expect("socket"))
        );
        assert_eq!(
            parse("/ip4/127.0.0.1/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"),
            Some("127.0.0.1:1".parse().expect("socket"))
        );
    }

    #[test]
    fn rejects_everything_else() {
        // R-A2: these must never cost a token; R-N1: names are the core's, not the
        // transport's.
        for addr in [
            "/ip4/127.0.0.1/udp/4001/quic-v1",
            "/ip4/127.0.0.1/tcp/4001/ws",
            "/ip4/127.0.0.1",
            "/tcp/4001",
            "/ip4/127.0.0.1/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit",
            "/unix/tmp%2Fsock",
            "/dns4/localhost/tcp/1",
            "/dns/localhost/tcp/1",
            "/dns6/localhost/tcp/1",
            "/dnsaddr/localhost",
        ] {
            assert_eq!(parse(addr), None, "{addr}");
            let tcp = TcpTransport::<Net>::new();
            assert!(!tcp.can_dial(&addr.parse().expect("multiaddr")), "{addr}");
        }
    }

    struct Net;
    impl TcpConnect for Net {
        type Stream = ();
        async fn connect(addr: SocketAddr) -> io::Result<()> {
            match addr.port() {
                1 => Ok(()),
                _ => Err(io::ErrorKind::ConnectionRefused.into()),
            }
        }
    }

    #[test]
    fn failures_are_classed() {
        // A socket error keeps its kind.
        let tcp = TcpTransport::<Net>::new();
        let refused = TcpError::Connect {
            addr: "127.0.0.1:9".parse().expect("socket"),
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        assert_eq!(tcp.error_class(&refused), ErrorClass::Refused);
        let timed_out = TcpError::Connect {
            addr: "127.0.0.1:9".parse().expect("socket"),
            source: io::ErrorKind::TimedOut.into(),
        };
        assert_eq!(tcp.error_class(&timed_out), ErrorClass::TimedOut);
    }

    #[tokio::test]
    async fn dials_connect_or_say_which_socket_failed() {
        let tcp = TcpTransport::<Net>::new();
        let ok = tcp.dial(&"/ip4/127.0.0.1/tcp/1".parse().expect("multiaddr"));
        assert!(ok.await.is_ok());
        let refused = tcp.dial(&"/ip4/127.0.0.1/tcp/9".parse().expect("multiaddr"));
        let error = refused.await.expect_err("refused");
        assert_eq!(error.to_string(), "connecting to 127.0.0.1:9");
        let name = tcp.dial(&"/dns4/localhost/tcp/1".parse().expect("multiaddr"));
        assert!(matches!(name.await, Err(TcpError::Unsupported(_))));
    }
}
