//! The simulated world: peers, their addresses, how each address answers in each round,
//! and when each request arrives. Everything derives from one seed, and every strategy
//! runs against the very same world (same addresses, same answers, same latencies, same
//! arrival times), so the strategies differ only by what they choose to dial.

#![forbid(unsafe_code)]

use dialer_core::Multiaddr;

use crate::addrs::Class;
use crate::rng::{mix, unit, Rng};

const MS: f64 = 1e6;

/// How an address answers in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Connects after its latency.
    Good,
    /// Refuses (RST / ICMP unreachable) after about one round trip.
    Refuse,
    /// Never answers: only a timeout ends the dial.
    Hang,
}

/// The answer to one dial, in simulated nanoseconds after it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Connect(u64),
    Refuse(u64),
    Hang,
}

/// The knobs of the world. Proportions are per address unless said otherwise.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) seed: u64,
    pub(crate) peers: usize,
    /// Each peer is requested once per round; only rounds after the first count.
    pub(crate) rounds: usize,
    /// Mean request arrivals per simulated second (Poisson).
    pub(crate) rate_per_s: f64,
    /// Peers none of whose addresses ever connect.
    pub(crate) unreachable: f64,
    /// Share of a reachable peer's addresses that change kind between two rounds.
    pub(crate) churn: f64,
    /// Quiet time between rounds, longer than the request timeout so no request spans two.
    pub(crate) round_gap_s: f64,
}

impl Params {
    /// The world every run simulates, quick or full: it takes seconds either way.
    pub(crate) fn standard() -> Self {
        Self {
            seed: 0x5EED_D1A1,
            peers: 10_000,
            rounds: 4,
            // The load at which the seed's dialer (`js_token`) starts to see NoTokens a
            // few percent of the time: the pool matters, without drowning every strategy.
            rate_per_s: 16.0,
            unreachable: 0.15,
            churn: 0.03,
            round_gap_s: 90.0,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Addr {
    pub(crate) multiaddr: Multiaddr,
    pub(crate) class: Class,
    /// Connect latency when good, time to refusal when refusing (ms, before jitter).
    base_ms: f64,
}

/// One request: `peer` asks to be dialed at `at_ns` in `round`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub(crate) at_ns: u64,
    pub(crate) peer: u32,
    pub(crate) round: u8,
}

#[derive(Debug)]
pub(crate) struct Population {
    seed: u64,
    pub(crate) addrs: Vec<Addr>,
    /// Each peer's addresses, in the order the caller passes them (the peer store's order,
    /// which knows nothing about which work).
    pub(crate) peers: Vec<Vec<u32>>,
    /// `kinds[round][addr]`.
    kinds: Vec<Vec<Kind>>,
    pub(crate) arrivals: Vec<Arrival>,
    /// Population facts for the report.
    pub(crate) unreachable_peers: usize,
    pub(crate) kind_counts: [usize; 3],
}

/// Class mix of addresses (weights), and per class: share of good addresses on reachable
/// peers, and connect latency factor over the peer's round trip (QUIC: 1 RTT; TCP needs
/// more; DNS adds a lookup; WebSocket adds an upgrade).
fn class_profile(class: Class) -> (f64, f64, f64) {
    match class {
        Class::Quic6 => (10.0, 0.35, 1.0),
        Class::Quic4 => (25.0, 0.50, 1.0),
        Class::Tcp6 => (15.0, 0.35, 1.5),
        Class::Tcp4 => (35.0, 0.55, 1.5),
        Class::DnsTcp => (5.0, 0.50, 1.8),
        Class::Ws4 => (10.0, 0.50, 2.0),
    }
}

fn pick_class(rng: &mut Rng) -> Class {
    let total: f64 = Class::ALL.iter().map(|c| class_profile(*c).0).sum();
    let mut x = rng.f64() * total;
    for class in Class::ALL {
        x -= class_profile(class).0;
        if x < 0.0 {
            return class;
        }
    }
    Class::Tcp4
}

/// Of the addresses that do not connect, this share refuses; the rest hang (firewalls,
/// NAT, stale addresses mostly drop packets).
const REFUSE_SHARE_REACHABLE: f64 = 0.4;
const REFUSE_SHARE_UNREACHABLE: f64 = 0.3;

fn draw_kind(rng: &mut Rng, class: Class, reachable: bool) -> Kind {
    let refuse_share = if reachable {
        if rng.f64() < class_profile(class).1 {
            return Kind::Good;
        }
        REFUSE_SHARE_REACHABLE
    } else {
        REFUSE_SHARE_UNREACHABLE
    };
    if rng.f64() < refuse_share {
        Kind::Refuse
    } else {
        Kind::Hang
    }
}

/// A reachable peer keeps at least one good address.
fn ensure_reachable(rng: &mut Rng, kinds: &mut [Kind], addrs: &[u32]) {
    if !addrs.iter().any(|&a| kinds[a as usize] == Kind::Good) {
        let a = addrs[rng.below(addrs.len())];
        kinds[a as usize] = Kind::Good;
    }
}

impl Population {
    pub(crate) fn new(p: &Params) -> Self {
        let mut rng = Rng::new(p.seed);
        // Addresses per peer, 1..=8: most peers advertise a handful.
        const COUNT_WEIGHTS: [f64; 8] = [10.0, 15.0, 15.0, 15.0, 15.0, 10.0, 10.0, 10.0];
        let count_total: f64 = COUNT_WEIGHTS.iter().sum();
        let mut per_class = [0usize; 6];
        let mut addrs = Vec::new();
        let mut peers = Vec::with_capacity(p.peers);
        let mut reachable = Vec::with_capacity(p.peers);
        let mut first_kinds = Vec::new();
        for _ in 0..p.peers {
            let mut x = rng.f64() * count_total;
            let mut n = 8;
            for (i, w) in COUNT_WEIGHTS.iter().enumerate() {
                x -= w;
                if x < 0.0 {
                    n = i + 1;
                    break;
                }
            }
            // Round trip to the peer: log-normal, median 40 ms, clamped to 4..200 ms.
            let rtt = (40.0 * (0.8 * rng.normal()).exp()).clamp(4.0, 200.0);
            let is_reachable = rng.f64() >= p.unreachable;
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                let class = pick_class(&mut rng);
                let slot = &mut per_class[class as usize];
                let multiaddr = class.addr(*slot);
                *slot += 1;
                let (_, _, factor) = class_profile(class);
                let kind = draw_kind(&mut rng, class, is_reachable);
                let base_ms = match kind {
                    Kind::Refuse => rtt * (1.0 + 0.2 * rng.f64()),
                    _ => (rtt * factor * (1.0 + 0.4 * rng.f64())).clamp(5.0, 300.0),
                };
                list.push(addrs.len() as u32);
                first_kinds.push(kind);
                addrs.push(Addr {
                    multiaddr,
                    class,
                    base_ms,
                });
            }
            if is_reachable {
                ensure_reachable(&mut rng, &mut first_kinds, &list);
            }
            peers.push(list);
            reachable.push(is_reachable);
        }
        assert!(
            per_class.iter().all(|&n| n < 65_535),
            "more addresses per class than distinct loopback ports"
        );

        // Later rounds: a few addresses change kind (a node moved, a NAT mapping expired).
        let mut kinds = vec![first_kinds];
        for _ in 1..p.rounds {
            let mut next = kinds[kinds.len() - 1].clone();
            for (peer, list) in peers.iter().enumerate() {
                for &a in list {
                    if rng.f64() < p.churn {
                        let class = addrs[a as usize].class;
                        next[a as usize] = draw_kind(&mut rng, class, reachable[peer]);
                    }
                }
                if reachable[peer] {
                    ensure_reachable(&mut rng, &mut next, list);
                }
            }
            kinds.push(next);
        }

        // Arrivals: every peer once per round, in a fresh random order, Poisson in time.
        let mut arrivals = Vec::with_capacity(p.peers * p.rounds);
        let mut t = 0.0f64;
        let mut order: Vec<u32> = (0..p.peers as u32).collect();
        for round in 0..p.rounds {
            rng.shuffle(&mut order);
            for &peer in &order {
                t += rng.exp(1.0 / p.rate_per_s);
                arrivals.push(Arrival {
                    at_ns: (t * 1e9) as u64,
                    peer,
                    round: round as u8,
                });
            }
            t += p.round_gap_s;
        }

        let mut kind_counts = [0usize; 3];
        for k in &kinds[0] {
            kind_counts[*k as usize] += 1;
        }
        Self {
            seed: p.seed,
            addrs,
            peers,
            kinds,
            arrivals,
            unreachable_peers: reachable.iter().filter(|r| !**r).count(),
            kind_counts,
        }
    }

    /// How a dial of `addr` in `round` ends. The jitter is a function of (address,
    /// round) only, so every strategy sees the same answer for the same dial.
    pub(crate) fn outcome(&self, addr: u32, round: u8) -> Outcome {
        let a = &self.addrs[addr as usize];
        let bits = mix(self.seed ^ (u64::from(addr) << 8) ^ u64::from(round));
        let jitter = 0.85 + 0.3 * unit(bits);
        let ns = (a.base_ms * jitter * MS) as u64;
        match self.kinds[usize::from(round)][addr as usize] {
            Kind::Good => Outcome::Connect(ns),
            Kind::Refuse => Outcome::Refuse(ns),
            Kind::Hang => Outcome::Hang,
        }
    }

    /// The index of `multiaddr` among `peer`'s addresses.
    pub(crate) fn find(&self, peer: u32, multiaddr: &Multiaddr) -> Option<u32> {
        self.peers[peer as usize]
            .iter()
            .copied()
            .find(|&a| self.addrs[a as usize].multiaddr == *multiaddr)
    }
}
