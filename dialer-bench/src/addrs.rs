//! Multiaddrs for the benchmarks that never touch the network (the core and the
//! simulator): all of them name loopback (`127.0.0.1`, `::1`, `localhost`), so that even
//! a mistake could not send a packet anywhere else. Distinct addresses differ by
//! transport and port.

#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use multiaddr::{Multiaddr, Protocol};

/// Address classes, in the order of `go_ranked`'s static rank (QUIC before TCP, IPv6
/// before IPv4, plain before DNS and WebSocket), roughly go-libp2p's default ranker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    Quic6,
    Quic4,
    Tcp6,
    Tcp4,
    DnsTcp,
    Ws4,
}

impl Class {
    pub(crate) const ALL: [Class; 6] = [
        Class::Quic6,
        Class::Quic4,
        Class::Tcp6,
        Class::Tcp4,
        Class::DnsTcp,
        Class::Ws4,
    ];

    /// The `n`-th distinct address of this class; `n < 65_535`.
    pub(crate) fn addr(self, n: usize) -> Multiaddr {
        let port = u16::try_from(n % 65_535 + 1).unwrap_or(u16::MAX);
        let v4 = Multiaddr::from(Ipv4Addr::LOCALHOST);
        let v6 = Multiaddr::from(Ipv6Addr::LOCALHOST);
        match self {
            Class::Quic6 => v6.with(Protocol::Udp(port)).with(Protocol::QuicV1),
            Class::Quic4 => v4.with(Protocol::Udp(port)).with(Protocol::QuicV1),
            Class::Tcp6 => v6.with(Protocol::Tcp(port)),
            Class::Tcp4 => v4.with(Protocol::Tcp(port)),
            Class::DnsTcp => Multiaddr::empty()
                .with(Protocol::Dns4("localhost".into()))
                .with(Protocol::Tcp(port)),
            Class::Ws4 => v4.with(Protocol::Tcp(port)).with(Protocol::Ws("/".into())),
        }
    }
}

/// The `i`-th of 6 × 65 535 distinct loopback addresses.
pub(crate) fn nth(i: usize) -> Multiaddr {
    let classes = Class::ALL.len();
    Class::ALL[i % classes].addr(i / classes)
}
