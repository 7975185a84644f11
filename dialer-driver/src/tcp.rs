//! The TCP transport (R-A2), written once for every runtime: which multiaddrs are TCP,
//! resolving names by family, trying each resolved address, and the errors. A runtime
//! adds only [`TcpConnect`]: its resolver and its connect.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use dialer_core::ErrorClass;
use futures::future::BoxFuture;
use multiaddr::{Multiaddr, Protocol};

use crate::Transport;

/// What a runtime gives the [`TcpTransport`]: its resolver and its TCP connect. The
/// adapters implement it on their runtime type (`TokioRuntime`, `AsyncStdRuntime`).
pub trait TcpConnect: Send + Sync + 'static {
    /// The runtime's TCP stream.
    type Stream: Send + Sync + 'static;

    /// Resolves `host` (with `port`) to socket addresses, with the system's resolver.
    fn resolve(
        host: String,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static;

    /// Opens a TCP stream to `addr`, with `TCP_NODELAY` set.
    fn connect(addr: SocketAddr)
        -> impl Future<Output = io::Result<Self::Stream>> + Send + 'static;
}

/// Dials TCP (R-A2) with runtime `N`: `/ip4/…/tcp/…`, `/ip6/…/tcp/…`, and `/dns/…`,
/// `/dns4/…`, `/dns6/…` then `/tcp/…` (resolved with [`TcpConnect::resolve`], kept to IPv4
/// / IPv6 for `dns4` / `dns6`, each resolved address tried in turn), each optionally
/// followed by `/p2p/…`.
///
/// Every other multiaddr (`/udp/…/quic-v1`, `/ws`, relays, …) fails
/// [`can_dial`](Transport::can_dial), so the core drops it before spending a token.
/// Failures are classed for the core: refused, timed out, unreachable (from the socket's
/// error) or [`ErrorClass::Resolve`] for a name that did not resolve.
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
        TcpTarget::parse(addr).is_some()
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        Box::pin(dial_tcp(addr.clone(), N::resolve, N::connect))
    }

    fn error_class(&self, error: &TcpError) -> ErrorClass {
        match error {
            TcpError::Resolve { .. } | TcpError::NoAddress { .. } => ErrorClass::Resolve,
            other => ErrorClass::of_error(other),
        }
    }
}

/// Which IP family a DNS name may resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// `/dns/…`: either.
    Any,
    /// `/dns4/…`: IPv4 only.
    V4,
    /// `/dns6/…`: IPv6 only.
    V6,
}

impl Family {
    /// Whether `ip` belongs to this family.
    pub fn accepts(self, ip: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::V4 => ip.is_ipv4(),
            Self::V6 => ip.is_ipv6(),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Any => "IP",
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// Where a TCP multiaddr points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpTarget {
    /// `/ip4/…/tcp/…` or `/ip6/…/tcp/…`.
    Socket(SocketAddr),
    /// `/dns/…`, `/dns4/…` or `/dns6/…`, then `/tcp/…`: a name to resolve.
    Dns {
        /// The name.
        host: String,
        /// The TCP port.
        port: u16,
        /// The family the name must resolve to.
        family: Family,
    },
}

impl TcpTarget {
    /// Parses `/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>`, optionally followed by
    /// `/p2p/<peer>`. Anything else (UDP, QUIC, WebSocket, relays, …) is `None`.
    pub fn parse(addr: &Multiaddr) -> Option<Self> {
        let mut parts = addr.iter();
        let host = parts.next()?;
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
        let dns = |host: &str, family| {
            Some(Self::Dns {
                host: host.to_owned(),
                port,
                family,
            })
        };
        match host {
            Protocol::Ip4(ip) => Some(Self::Socket(SocketAddr::new(ip.into(), port))),
            Protocol::Ip6(ip) => Some(Self::Socket(SocketAddr::new(ip.into(), port))),
            Protocol::Dns(host) => dns(&host, Family::Any),
            Protocol::Dns4(host) => dns(&host, Family::V4),
            Protocol::Dns6(host) => dns(&host, Family::V6),
            _ => None,
        }
    }
}

/// Why a TCP dial failed. The driver records the message with its sources, so the core's
/// [`Attempt`](dialer_core::Attempt) reads e.g. `connecting to 127.0.0.1:9: Connection refused (os error 111)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// Not a TCP multiaddr (normally filtered out by `can_dial` before a token is spent).
    #[error("{0} is not a TCP multiaddr (expected /ip4|ip6|dns|dns4|dns6/…/tcp/…[/p2p/…])")]
    Unsupported(Multiaddr),
    /// The name could not be resolved.
    #[error("resolving {host}")]
    Resolve {
        /// The name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The name resolved, but to no address of the wanted family.
    #[error("{host} has no {family} address")]
    NoAddress {
        /// The name.
        host: String,
        /// The family asked for.
        family: Family,
    },
    /// Every resolved address refused or failed; this is the last one's error.
    #[error("connecting to {addr}")]
    Connect {
        /// The socket address that failed last.
        addr: SocketAddr,
        /// The socket's error.
        #[source]
        source: io::Error,
    },
}

/// Dials `addr` with a runtime's resolver and connector: resolves a DNS name (keeping the
/// family asked for), then tries each socket address in turn until one connects.
async fn dial_tcp<S, Resolve, Resolved, Connect, Connecting>(
    addr: Multiaddr,
    resolve: Resolve,
    connect: Connect,
) -> Result<S, TcpError>
where
    Resolve: FnOnce(String, u16) -> Resolved,
    Resolved: Future<Output = io::Result<Vec<SocketAddr>>>,
    Connect: Fn(SocketAddr) -> Connecting,
    Connecting: Future<Output = io::Result<S>>,
{
    let targets = match TcpTarget::parse(&addr) {
        None => return Err(TcpError::Unsupported(addr)),
        Some(TcpTarget::Socket(socket)) => vec![socket],
        Some(TcpTarget::Dns { host, port, family }) => {
            let resolved = match resolve(host.clone(), port).await {
                Ok(resolved) => resolved,
                Err(source) => return Err(TcpError::Resolve { host, source }),
            };
            let targets: Vec<_> = resolved
                .into_iter()
                .filter(|s| family.accepts(s.ip()))
                .collect();
            if targets.is_empty() {
                return Err(TcpError::NoAddress { host, family });
            }
            targets
        }
    };
    let mut last = None;
    for target in targets {
        match connect(target).await {
            Ok(stream) => return Ok(stream),
            Err(source) => {
                last = Some(TcpError::Connect {
                    addr: target,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or(TcpError::Unsupported(addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<TcpTarget> {
        TcpTarget::parse(&s.parse().expect("multiaddr"))
    }

    #[test]
    fn parses_tcp_multiaddrs() {
        // R-A2
        assert_eq!(
            parse("/ip4/127.0.0.1/tcp/4001"),
            Some(TcpTarget::Socket("127.0.0.1:4001".parse().expect("socket")))
        );
        assert_eq!(
            parse("/ip6/::1/tcp/4001"),
            Some(TcpTarget::Socket("[::1]:4001".parse().expect("socket")))
        );
        assert_eq!(
            parse("/dns4/localhost/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"),
            Some(TcpTarget::Dns {
                host: "localhost".into(),
                port: 1,
                family: Family::V4
            })
        );
        assert!(matches!(
            parse("/dns/localhost/tcp/2"),
            Some(TcpTarget::Dns {
                family: Family::Any,
                ..
            })
        ));
        assert!(matches!(
            parse("/dns6/localhost/tcp/2"),
            Some(TcpTarget::Dns {
                family: Family::V6,
                ..
            })
        ));
    }

    #[test]
    fn rejects_everything_else() {
        // R-A2: these must never cost a token.
        for addr in [
            "/ip4/127.0.0.1/udp/4001/quic-v1",
            "/ip4/127.0.0.1/tcp/4001/ws",
            "/ip4/127.0.0.1",
            "/tcp/4001",
            "/ip4/127.0.0.1/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit",
            "/unix/tmp%2Fsock",
        ] {
            assert_eq!(parse(addr), None, "{addr}");
        }
    }

    #[test]
    fn failures_are_classed() {
        // A name that did not resolve is a resolver error; a socket error keeps its kind.
        struct Net;
        impl TcpConnect for Net {
            type Stream = ();
            async fn resolve(_: String, _: u16) -> io::Result<Vec<SocketAddr>> {
                Ok(Vec::new())
            }
            async fn connect(_: SocketAddr) -> io::Result<()> {
                Ok(())
            }
        }
        let tcp = TcpTransport::<Net>::new();
        let resolve = TcpError::Resolve {
            host: "nowhere.invalid".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(tcp.error_class(&resolve), ErrorClass::Resolve);
        let no_address = TcpError::NoAddress {
            host: "localhost".into(),
            family: Family::V6,
        };
        assert_eq!(tcp.error_class(&no_address), ErrorClass::Resolve);
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

    #[test]
    fn family_filter() {
        let v4: IpAddr = "127.0.0.1".parse().expect("ip");
        let v6: IpAddr = "::1".parse().expect("ip");
        assert!(Family::Any.accepts(v4) && Family::Any.accepts(v6));
        assert!(Family::V4.accepts(v4) && !Family::V4.accepts(v6));
        assert!(Family::V6.accepts(v6) && !Family::V6.accepts(v4));
    }
}
