//! What an address is (family, relayed, public, classes), and black-hole detection per
//! address class (R-B1 … R-B4).

use std::net::{Ipv4Addr, Ipv6Addr};

use multiaddr::{Multiaddr, Protocol};

use crate::config::{AddrClass, BlackHoles};

const CODE_IP4: u8 = 4;
const CODE_IP6: u8 = 41;
const CODE_DNS6: u8 = 55;

/// Whether the first component of `bytes` (an encoded multiaddr) is a public IP address,
/// and whether it is IPv6 (R-B1), without parsing the rest.
#[inline]
fn first_ip(bytes: &[u8]) -> (bool, bool) {
    match bytes {
        [CODE_IP4, a, b, c, d, ..] => (public_v4(Ipv4Addr::new(*a, *b, *c, *d)), false),
        [CODE_IP6, rest @ ..] if rest.len() >= 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&rest[..16]);
            (public_v6(Ipv6Addr::from(octets)), true)
        }
        [CODE_DNS6, ..] => (false, true),
        _ => (false, false),
    }
}

/// Reads an unsigned varint of at most two bytes (every protocol code below 16 384).
#[inline]
fn varint2(bytes: &[u8]) -> Option<(usize, usize)> {
    match bytes {
        [a, ..] if *a < 0x80 => Some((usize::from(*a), 1)),
        [a, b, ..] if *b < 0x80 => Some((usize::from(a & 0x7f) | usize::from(*b) << 7, 2)),
        _ => None,
    }
}

/// Whether the encoded multiaddr has a `/p2p-circuit` component, walking the components
/// by their known sizes; `None` at a protocol this walk does not know (the caller then
/// parses).
#[inline]
fn walk_for_circuit(bytes: &[u8]) -> Option<bool> {
    let mut i = 0;
    while i < bytes.len() {
        let (code, n) = varint2(&bytes[i..])?;
        i += n;
        let size = match code {
            290 => return Some(true),               // p2p-circuit
            4 => 4,                                 // ip4
            41 => 16,                               // ip6
            6 | 273 | 33 | 132 => 2,                // tcp, udp, dccp, sctp
            460 | 461 | 477 | 478 | 448 | 480 => 0, // quic, quic-v1, ws, wss, tls, http
            53 | 54 | 55 | 56 | 421 => {
                // dns, dns4, dns6, dnsaddr, p2p: length-prefixed
                let (len, m) = varint2(&bytes[i..])?;
                i += m;
                len
            }
            _ => return None,
        };
        i += size;
    }
    Some(false)
}

/// What the core needs to know of an address's protocols, read in one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Traits {
    /// The first component is `/ip6` (or `/dns6`).
    pub(crate) ip6: bool,
    /// It goes through a relay (`/p2p-circuit`).
    pub(crate) relayed: bool,
    /// Its IP is public: not loopback, private, link-local, shared, documentation,
    /// multicast or unspecified (those say nothing about the route out, R-B1).
    pub(crate) public: bool,
    /// Bit `i`: it belongs to the `i`-th configured black-hole class.
    pub(crate) classes: u8,
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
}

impl Traits {
    /// Reads `addr`'s protocols once; `classes` are the configured black-hole classes.
    pub(crate) fn of(addr: &Multiaddr, classes: &[AddrClass]) -> Self {
        let (public, ip6) = first_ip(addr.as_ref());
        let mut t = Traits {
            ip6,
            public,
            ..Traits::default()
        };
        if !t.public {
            // Nothing else matters for an address that is not public: it is never
            // counted nor blocked (R-B1). The one caller that wants `relayed` of any
            // address uses `family_v6`.
            return t;
        }
        for p in addr.iter() {
            if matches!(p, Protocol::P2pCircuit) {
                t.relayed = true;
            }
            for (bit, class) in classes.iter().enumerate().take(8) {
                let hit = match class {
                    AddrClass::Ip6 => matches!(p, Protocol::Ip6(_)),
                    AddrClass::Udp => matches!(p, Protocol::Udp(_)),
                    AddrClass::Protocol(tag) => p.tag() == *tag,
                };
                if hit {
                    t.classes |= 1 << bit;
                }
            }
        }
        t
    }

    /// Whether the address is interleaved as IPv6, and whether it is relayed (R-R1a).
    ///
    /// Read from the encoded bytes: this runs for every address of every request, and
    /// parsing every component into a `Protocol` cost more than the rest of admitting it.
    /// The walk knows the sizes of the common protocols; at any other it parses the
    /// address properly.
    #[inline]
    pub(crate) fn family_v6(addr: &Multiaddr) -> (bool, bool) {
        let bytes = addr.as_ref();
        let v6 = matches!(bytes.first(), Some(&CODE_IP6 | &CODE_DNS6));
        let relayed = match walk_for_circuit(bytes) {
            Some(found) => found,
            None => addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)),
        };
        (v6, relayed)
    }
}

/// The state of one address class (R-B2, R-B4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlackHoleState {
    /// The window is not full yet: the class is dialed while outcomes are gathered.
    Probing,
    /// A full window with enough successes: the class is dialed.
    Allowed,
    /// A full window with too few successes: new requests skip the class's public
    /// addresses, except one request in `window`, which probes.
    Blocked,
}

#[derive(Debug, Clone)]
struct Class {
    class: AddrClass,
    /// Ring of the last outcomes, one bit each (1 = success).
    ring: [u64; 16],
    len: u16,
    pos: u16,
    successes: u16,
    state: BlackHoleState,
    /// Requests that met the class blocked, to pick one in `window` as a probe.
    blocked_requests: u32,
    /// A probe's request ended before its dial of the class started: the next request
    /// that can probe does (R-B2).
    owed: bool,
}

impl Class {
    fn new(class: AddrClass) -> Self {
        Self {
            class,
            ring: [0; 16],
            len: 0,
            pos: 0,
            successes: 0,
            state: BlackHoleState::Probing,
            blocked_requests: 0,
            owed: false,
        }
    }

    fn bit(&self, i: u16) -> bool {
        self.ring[usize::from(i / 64)] >> (i % 64) & 1 == 1
    }

    fn set_bit(&mut self, i: u16, on: bool) {
        let word = &mut self.ring[usize::from(i / 64)];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }
}

/// Per-class windows of dial outcomes to public addresses (R-B1 … R-B4).
#[derive(Debug, Clone)]
pub(crate) struct BlackHoleDetector {
    classes: Vec<Class>,
    config: BlackHoles,
    /// Bit `i`: class `i` is blocked. Zero on the fast path.
    blocked: u8,
}

impl BlackHoleDetector {
    pub(crate) fn new(config: BlackHoles) -> Self {
        Self {
            classes: config
                .classes
                .iter()
                .take(8)
                .map(|c| Class::new(*c))
                .collect(),
            config,
            blocked: 0,
        }
    }

    /// The configured classes (the first 8).
    pub(crate) fn classes(&self) -> &[AddrClass] {
        &self.config.classes[..self.classes.len()]
    }

    /// Whether any class is watched at all.
    pub(crate) fn enabled(&self) -> bool {
        !self.classes.is_empty()
    }

    /// Classes blocked now, as bits.
    pub(crate) fn blocked(&self) -> u8 {
        self.blocked
    }

    /// Whether a request that probes the classes `probes` skips `addr` (R-B2): it is
    /// public and in a blocked class the request does not probe. Reads the address only
    /// while some class is blocked.
    #[inline(always)]
    pub(crate) fn skips(&self, addr: &Multiaddr, probes: u8) -> bool {
        let blocked = self.blocked & !probes;
        if blocked == 0 {
            return false;
        }
        let t = Traits::of(addr, self.classes());
        t.public && t.classes & blocked != 0
    }

    /// The state of `class`, if it is watched.
    pub(crate) fn state(&self, class: AddrClass) -> Option<BlackHoleState> {
        self.classes
            .iter()
            .find(|c| c.class == class)
            .map(|c| c.state)
    }

    /// A new request meets blocked classes `mask`: the classes this request probes (one
    /// request in `window` per class, and the next one after a probe whose dial never
    /// started, R-B2).
    pub(crate) fn probes_for(&mut self, mask: u8) -> u8 {
        let mut probes = 0;
        let window = u32::from(self.config.window);
        for (i, c) in self.classes.iter_mut().enumerate() {
            if mask & (1 << i) != 0 && c.state == BlackHoleState::Blocked {
                c.blocked_requests += 1;
                if c.owed || c.blocked_requests % window == 0 {
                    c.owed = false;
                    probes |= 1 << i;
                }
            }
        }
        probes
    }

    /// Probes of the classes `mask` ended without their dial starting (R-B2): each of them
    /// still blocked is owed a probe, which the next request that can probe it makes.
    pub(crate) fn owe(&mut self, mask: u8) {
        for (i, c) in self.classes.iter_mut().enumerate() {
            if mask & (1 << i) != 0 && c.state == BlackHoleState::Blocked {
                c.owed = true;
            }
        }
    }

    /// Records a completed dial of an address with `traits` (R-B1: public addresses
    /// only; the caller passes no aborts or cancels). Returns the classes whose state
    /// changed, with their new state.
    pub(crate) fn record(
        &mut self,
        traits: Traits,
        success: bool,
        changes: &mut Vec<(AddrClass, BlackHoleState)>,
    ) {
        if !traits.public || traits.classes == 0 {
            return;
        }
        let window = self.config.window;
        let min = self.config.min_successes;
        for (i, c) in self.classes.iter_mut().enumerate() {
            if traits.classes & (1 << i) == 0 {
                continue;
            }
            let before = c.state;
            if success && before == BlackHoleState::Blocked {
                // A probe connected: the route is back; start a fresh window (R-B2).
                *c = Class::new(c.class);
            } else {
                if c.len == window {
                    if c.bit(c.pos) {
                        c.successes -= 1;
                    }
                } else {
                    c.len += 1;
                }
                c.set_bit(c.pos, success);
                c.successes += u16::from(success);
                c.pos = (c.pos + 1) % window;
            }
            let state = if c.len < window {
                BlackHoleState::Probing
            } else if c.successes < min {
                BlackHoleState::Blocked
            } else {
                BlackHoleState::Allowed
            };
            c.state = state;
            if state != before {
                c.blocked_requests = 0;
                c.owed = false;
                changes.push((c.class, state));
            }
            if state == BlackHoleState::Blocked {
                self.blocked |= 1 << i;
            } else {
                self.blocked &= !(1 << i);
            }
        }
    }

    /// Forgets every window (R-D4b); returns the classes whose state changed.
    pub(crate) fn reset(&mut self, changes: &mut Vec<(AddrClass, BlackHoleState)>) {
        for c in &mut self.classes {
            if c.state != BlackHoleState::Probing {
                changes.push((c.class, BlackHoleState::Probing));
            }
            *c = Class::new(c.class);
        }
        self.blocked = 0;
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn check(&self) -> Result<(), String> {
        for (i, c) in self.classes.iter().enumerate() {
            let ones = (0..c.len).filter(|&j| c.bit(j)).count();
            if ones != usize::from(c.successes) || c.len > self.config.window {
                return Err(format!(
                    "black-hole window of {:?}: {} successes counted, {ones} in {} outcomes",
                    c.class, c.successes, c.len
                ));
            }
            let blocked = self.blocked & (1 << i) != 0;
            if blocked != (c.state == BlackHoleState::Blocked) {
                return Err(format!("black-hole mask disagrees with {:?}", c.class));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("valid multiaddr")
    }

    #[test]
    fn traits_read_family_relay_public_and_classes() {
        let classes = [AddrClass::Ip6, AddrClass::Udp];
        let t = Traits::of(&addr("/ip6/2600::1/udp/1/quic-v1"), &classes);
        assert!(t.ip6 && t.public && !t.relayed);
        assert_eq!(t.classes, 0b11);
        let t = Traits::of(&addr("/ip4/16.0.0.1/tcp/1"), &classes);
        assert!(!t.ip6 && t.public && t.classes == 0);
        for private in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/192.168.1.1/tcp/1",
            "/ip4/100.64.0.1/tcp/1",
            "/ip4/203.0.113.5/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/ip6/2001:db8::1/tcp/1",
        ] {
            assert!(!Traits::of(&addr(private), &classes).public, "{private}");
        }
        let t = Traits::of(
            &addr("/ip4/16.0.0.1/tcp/1/p2p-circuit"),
            &[AddrClass::Protocol("p2p-circuit")],
        );
        assert!(t.relayed && t.classes == 1);
    }

    #[test]
    fn a_window_of_failures_blocks_and_a_probe_success_unblocks() {
        let config = BlackHoles {
            window: 10,
            min_successes: 2,
            ..BlackHoles::default()
        };
        let mut d = BlackHoleDetector::new(config);
        let v6 = Traits::of(&addr("/ip6/2600::1/tcp/1"), d.classes());
        let mut changes = Vec::new();
        d.record(v6, true, &mut changes);
        for _ in 0..9 {
            d.record(v6, false, &mut changes);
        }
        assert_eq!(d.state(AddrClass::Ip6), Some(BlackHoleState::Blocked));
        assert_eq!(changes, [(AddrClass::Ip6, BlackHoleState::Blocked)]);
        assert_eq!(d.blocked(), 1);
        let probes: Vec<u8> = (0..20).map(|_| d.probes_for(1)).collect();
        assert_eq!(probes.iter().filter(|p| **p == 1).count(), 2, "one in 10");
        d.record(v6, true, &mut changes);
        assert_eq!(d.state(AddrClass::Ip6), Some(BlackHoleState::Probing));
        assert_eq!(d.blocked(), 0);
    }
}
