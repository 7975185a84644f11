//! What an address is (family, relayed, public, classes), and black-hole detection per
//! address class (R-B1 … R-B4).

use std::net::{Ipv4Addr, Ipv6Addr};

use multiaddr::{Multiaddr, Protocol};

use crate::config::{AddrClass, BlackHoles};

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
        let mut t = Traits::default();
        for (i, p) in addr.iter().enumerate() {
            if i == 0 {
                match p {
                    Protocol::Ip4(ip) => t.public = public_v4(ip),
                    Protocol::Ip6(ip) => {
                        t.ip6 = true;
                        t.public = public_v6(ip);
                    }
                    Protocol::Dns6(_) => t.ip6 = true,
                    _ => {}
                }
            }
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

    /// Whether the address is interleaved as IPv6 (R-R1a).
    pub(crate) fn family_v6(addr: &Multiaddr) -> (bool, bool) {
        let mut iter = addr.iter();
        let v6 = matches!(iter.next(), Some(Protocol::Ip6(_) | Protocol::Dns6(_)));
        let relayed = iter.any(|p| matches!(p, Protocol::P2pCircuit));
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
            classes: config.classes.iter().take(8).map(|c| Class::new(*c)).collect(),
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

    /// The state of `class`, if it is watched.
    pub(crate) fn state(&self, class: AddrClass) -> Option<BlackHoleState> {
        self.classes
            .iter()
            .find(|c| c.class == class)
            .map(|c| c.state)
    }

    /// A new request meets blocked classes `mask`: the classes this request probes (one
    /// request in `window` per class, R-B2).
    pub(crate) fn probes_for(&mut self, mask: u8) -> u8 {
        let mut probes = 0;
        let window = u32::from(self.config.window);
        for (i, c) in self.classes.iter_mut().enumerate() {
            if mask & (1 << i) != 0 && c.state == BlackHoleState::Blocked {
                c.blocked_requests += 1;
                if c.blocked_requests % window == 0 {
                    probes |= 1 << i;
                }
            }
        }
        probes
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
