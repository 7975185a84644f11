//! Multiaddrs for the benchmarks that never touch the network.
//!
//! - [`nth`] / [`Class`] (the core benchmark): loopback names (`127.0.0.1`, `::1`,
//!   `localhost`), so that even a mistake could not send a packet anywhere else.
//!   Distinct addresses differ by transport and port.
//! - [`public_ip4`] / [`public_ip6`] (the simulator): public-range addresses, because the
//!   core's black-hole detection (R-B1) ignores loopback, private, link-local and
//!   documentation ranges, and a simulator on loopback would never exercise it. The
//!   simulator opens no socket, ever: it hands these addresses to the core and to its own
//!   strategy models as names and answers every "dial" from its seeded world, so nothing
//!   is dialed and no packet is sent.

#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use multiaddr::{Multiaddr, Protocol};

/// Address classes of the core benchmark's loopback addresses.
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

/// The simulator's IPv4 address of host `n` (`n < 2^24`): `16.0.0.0/8`, public unicast
/// (not 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16, nor the documentation
/// ranges 192.0.2/24, 198.51.100/24, 203.0.113/24). Never dialed (see the module docs).
pub(crate) fn public_ip4(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x1000_0000 | (n & 0x00FF_FFFF))
}

/// The simulator's IPv6 address of host `n`: in `2600:1f00::/24`, global unicast (not
/// 2001:db8::/32 documentation, fc00::/7 unique local, fe80::/10 link-local). Never
/// dialed (see the module docs).
pub(crate) fn public_ip6(n: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2600, 0x1f00, (n >> 16) as u16, n as u16, 0, 0, 0, 1)
}
