//! A small reference model of the SPEC's rules, kept beside the dialer by the
//! [`Harness`](crate::ops::Harness).
//!
//! The model never looks inside the core. It learns only from the inputs the harness
//! gives and the outputs the core emits, recomputes what the rules say must follow, and
//! compares after every step:
//!
//! - tokens (R-T2 … R-T4, R-P1): what a request asks for and is granted, `NoTokens`
//!   exactly when the pool is empty, and the pool's balance;
//! - admission (R-R1, R-R2, R-R9): which addresses a request keeps, why the others are
//!   skipped, and the confidence order in which they are dialed;
//! - confidence (R-C1 … R-C6): every address's value from the reported outcomes, the
//!   table's LRU order and capacity, pruning;
//! - deny list (R-D1, R-D2): membership, from failures, successes and expiry;
//! - outcomes (R-R4 … R-R8): who gets which `Finished`, the attempts an error lists, that
//!   timeouts fire neither early nor late, and the spacing of staggered dials (R-S1);
//! - the wait queue (R-Q1): who queues (`Queued { ahead }` against the model's queue),
//!   `NoTokens` only when it is full, that a waiting request never dials, that it is
//!   served oldest first as soon as a token is free (what it asks and gets), its deadline
//!   moving from the end of its wait to its dial_timeout, `NoTokensInTime` only at the
//!   end of `max_wait`, joins, cancels and high-priority callers taking it out. Tokens
//!   move in the order of the events, where a release and a grant to a waiting request
//!   interleave.
//!
//! Once the deny list has had to evict an entry to stay within its capacity, which entry
//! went is an implementation choice; from then on the model stops predicting deny-list
//! membership (and what depends on it: admission, dial order, pruning) and keeps checking
//! the rest.

use std::collections::{BTreeMap, VecDeque};

/// The model runs after every fuzz step: a fast hash, as the core's own maps.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

use crate::idmap::{IdMap, IdSet};
use std::time::{Duration, Instant};

use dialer_core::check::{Drained, Violation};
use dialer_core::{
    AbortReason, Action, AddrClass, Attempt, BlackHoleState, CallerId, CancelError, Config,
    Connected, DialFailed, DialId, DialOpts, DialRefused, Dialer, Event, FailReason, Multiaddr,
    Priority, ReportError, RequestId, SkipReason, Skipped, INITIAL_CONFIDENCE, MAX_CONFIDENCE,
};
use multiaddr::Protocol;

use crate::ops::{address_pool, dialable, ensure, Coverage, Peer, PEERS};

/// How many finished callers and aborted dials the model remembers, to aim late reports
/// and stale cancels at.
pub(crate) const HISTORY: usize = 32;

/// Steps between two full comparisons of the learned tables ([`Model::compare_tables`]).
const FULL_EVERY: u64 = 8;

/// The `Finished` results of one step, per request, in order.
type Outcomes = IdMap<RequestId, Vec<(CallerId, Result<Connected, DialFailed>)>>;

/// What a [`Dialer::dial`] call must do, worked out before the call.
#[derive(Debug)]
pub(crate) enum DialPlan {
    /// The call must fail with exactly this error.
    Refuse(DialRefused),
    /// The caller joins `request`; `added` addresses are merged in (when exact).
    /// `takeout`: a high-priority caller joins a queued request and takes it out of the
    /// queue as an overdraft (R-Q1, R-P1), asking for this many tokens (when exact).
    Join {
        request: RequestId,
        added: Option<usize>,
        takeout: Option<Option<usize>>,
    },
    /// A new request with these tokens and this dial order.
    New {
        requested: usize,
        addrs: Vec<Multiaddr>,
        ignore: bool,
        probes: u8,
        /// `NoTokens` is possible too (see `may_reclaim` in `plan_new`).
        may_refuse: bool,
        /// With the wait queue on, it may queue instead (the same `may_reclaim`, R-Q1).
        may_queue: bool,
    },
    /// A new request that must wait in the queue (R-Q1): the pool is empty, or others
    /// wait already; these addresses in this order when its turn comes.
    Queue {
        addrs: Vec<Multiaddr>,
        ignore: bool,
        probes: u8,
    },
    /// A new request or a refusal the model cannot predict exactly (deny list inexact).
    /// With the wait queue on (R-Q1): `full`, admitted it must be refused with `NoTokens`;
    /// `behind`, admitted it must queue; `may_queue`, it may queue.
    Loose {
        given: usize,
        priority: Priority,
        ignore: bool,
        probes: u8,
        full: bool,
        behind: bool,
        may_queue: bool,
    },
    /// The peer's request is past its `dial_timeout` (its timer not yet handled): it times
    /// out first, then a new request is planned from the state that leaves (issue item 0).
    Restart {
        old: RequestId,
        addrs: Vec<Multiaddr>,
        opts: DialOpts,
    },
}

/// One input, its result, and what the model worked out beforehand.
#[derive(Debug)]
pub(crate) enum Expected {
    Dial {
        expected: DialPlan,
        result: Result<CallerId, DialRefused>,
        peer: Peer,
    },
    Cancel {
        caller: CallerId,
        result: Result<(), CancelError>,
    },
    Report {
        dial: DialId,
        ok: bool,
        result: Result<(), ReportError>,
    },
    Timeout,
    Import(Vec<(Multiaddr, u8)>),
    /// `handle_peer_connected` (R-D4a): nothing may come out.
    Quiet,
    /// `lift_prune` (R-C5a) and what it returned.
    LiftPrune {
        peer: Peer,
        addr: Multiaddr,
        result: bool,
    },
    /// `network_changed` (R-D4b).
    NetworkChanged,
}

/// A failed attempt as the model knows it: `either` when it was a timeout of a dial that
/// may have had an adaptive deadline and fired at or after the full `address_timeout`, so
/// the core may call it `AddressTimeout` or `AdaptiveTimeout { after }` (R-R6b).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Att {
    attempt: Attempt,
    either: bool,
}

/// Whether the core's attempts match the model's.
fn attempts_match(got: &[Attempt], want: &[Att]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g == &w.attempt
                || (w.either
                    && g.addr == w.attempt.addr
                    && matches!(g.reason, FailReason::AddressTimeout))
        })
}

/// Whether the first component of `addr` is a public IP (R-B1), worked out from the rule's
/// list: not loopback, private, shared (100.64/10), link-local, documentation, multicast,
/// unspecified or reserved; names are never public.
pub(crate) fn is_public(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => public4(ip),
        Some(Protocol::Ip6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => public4(v4),
            None => {
                let s = ip.segments();
                !(ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_multicast()
                    || s[0] & 0xfe00 == 0xfc00
                    || s[0] & 0xffc0 == 0xfe80
                    || (s[0] == 0x2001 && s[1] == 0x0db8))
            }
        },
        _ => false,
    }
}

fn public4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_unspecified()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

/// Whether `addr` belongs to black-hole `class` (R-B1), public or not.
fn in_class(addr: &Multiaddr, class: &AddrClass) -> bool {
    addr.iter().any(|p| match class {
        AddrClass::Ip6 => matches!(p, Protocol::Ip6(_)),
        AddrClass::Udp => matches!(p, Protocol::Udp(_)),
        AddrClass::Protocol(tag) => p.tag() == *tag,
        _ => false,
    })
}

/// R-R1a: IPv6 lane (`/ip6`, `/dns6` first) and relayed (`/p2p-circuit` anywhere).
fn lane(addr: &Multiaddr) -> (bool, bool) {
    let v6 = matches!(
        addr.iter().next(),
        Some(Protocol::Ip6(_) | Protocol::Dns6(_))
    );
    let relayed = addr.iter().any(|p| matches!(p, Protocol::P2pCircuit));
    (v6, relayed)
}

/// R-D4: the deny time of the `failures`-th failure in a row, `base × growth^(n-1)` capped
/// at `max(max, base)`, in integer nanoseconds.
fn grown(base: Duration, growth: u32, max: Duration, failures: u8) -> Duration {
    let cap = max.max(base).as_nanos();
    let mut d = base.as_nanos();
    let mut n = 1;
    while n < failures && d < cap {
        d = d.saturating_mul(u128::from(growth));
        n += 1;
    }
    let d = d.min(cap);
    Duration::new((d / 1_000_000_000) as u64, (d % 1_000_000_000) as u32)
}

/// The black-hole window of one class (R-B1 … R-B4).
#[derive(Debug)]
struct Hole {
    class: AddrClass,
    outcomes: std::collections::VecDeque<bool>,
    state: BlackHoleState,
    /// Requests that met the class blocked since it last changed state.
    met: u32,
    /// A probe ended without its dial starting: the next request that can probe does.
    owed: bool,
}

#[derive(Debug)]
struct Entry {
    addr: Multiaddr,
    value: u8,
    /// Failures in a row (R-D4), saturating; a success clears it (R-D5).
    fails: u8,
    /// Its last dial was cut by an adaptive timeout (R-R6b).
    cut: bool,
    /// It connected since its entry was made: among equal confidence it dials first (R-R1).
    proven: bool,
    /// Peers it was pruned for (R-C5), with the instant each mark expires.
    pruned_for: Vec<(Peer, Instant)>,
}

#[derive(Debug)]
struct Req {
    peer: Peer,
    /// Every admitted address, in dial order; `addrs[next..]` are not dialed yet.
    addrs: Vec<Multiaddr>,
    next: usize,
    /// Addresses of `addrs[next..]` that were deny-listed or pruned at some point while
    /// waiting: the core may have skipped them.
    skippable: HashSet<Multiaddr>,
    tokens: usize,
    overdraft: bool,
    /// A caller asked to ignore the deny list and black holes (R-D7).
    ignore: bool,
    /// Bit `i`: it probes black-hole class `i` (R-B2).
    probes: u8,
    /// Bit `i`: its probe of class `i` started; the rest of the class stays out.
    probed: u8,
    /// A join merged addresses (R-R1a) while some of its pending ones may already have
    /// been passed over by the core: their ranks may differ, so only membership is checked.
    loose_order: bool,
    /// Its dial_timeout, or while it waits for tokens the end of its wait (R-Q1).
    deadline: Instant,
    /// Waiting for tokens since then (R-Q1): it holds none and dials nothing.
    queued_since: Option<Instant>,
    callers: IdSet<CallerId>,
    attempts: Vec<Att>,
    last_start: Option<Instant>,
    /// The winning dial, its address and connect time, and the failures before it.
    won: Option<(DialId, Multiaddr, Duration, Vec<Att>)>,
}

#[derive(Debug)]
struct OpenDial {
    request: RequestId,
    addr: Multiaddr,
    started: Instant,
    /// `started + address_timeout`: the latest it may time out (R-R6a).
    deadline: Instant,
    /// It may have an adaptive deadline (R-R6b): adaptive timeouts were measured when it
    /// started.
    adaptive: bool,
    /// Its address's last dial was cut: spared at its adaptive deadline whenever the pool
    /// has a free token (R-R6b).
    patient: bool,
}

/// The reference model; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Model {
    config: Config,
    now: Option<Instant>,
    /// Confidence entries, most recently used first.
    confidence: Vec<Entry>,
    /// Deny-list expiry per address.
    deny: HashMap<Multiaddr, Instant>,
    /// False once the deny list evicted an entry (see the module docs).
    exact: bool,
    available: usize,
    /// The fewest tokens free at any moment of the current step so far: a lower bound on
    /// what was free when an action happened (the actions' queue is not interleaved with
    /// the events', and with the wait queue, R-Q1, tokens go out within a handle_timeout).
    floor: usize,
    /// Requests waiting for tokens, oldest first (R-Q1).
    queue: VecDeque<RequestId>,
    requests: IdMap<RequestId, Req>,
    by_peer: BTreeMap<Peer, RequestId>,
    dials: IdMap<DialId, OpenDial>,
    callers: IdMap<CallerId, RequestId>,
    finished: Vec<CallerId>,
    aborted: Vec<DialId>,
    overdrafts: u64,
    /// Prunes the model predicts in the current step, in order.
    prunes: Vec<(Peer, Multiaddr)>,
    /// `Pruned` and `BlackHole` events of the current step, compared once its actions
    /// are processed too ([`Model::compare_step`]).
    seen_prunes: Vec<(Peer, Multiaddr)>,
    seen_changes: Vec<(AddrClass, BlackHoleState)>,
    /// Prune marks mirrored from the core's events in this step while the model was
    /// inexact, checked against the core at the end of the step: a mark the core made can
    /// be gone by then, with its entry evicted by a later failure of the same step (R-C6).
    just_mirrored: Vec<(Peer, Multiaddr)>,
    /// Successes since the start or the last `network_changed` (R-R6b: adaptive timeouts
    /// apply once they reach `min_samples`).
    connects: u32,
    /// Black-hole windows, one per configured class (the first 8).
    holes: Vec<Hole>,
    /// Black-hole state changes the model predicts in the current step (R-B4).
    changes: Vec<(AddrClass, BlackHoleState)>,
    /// Processing what a `dial` did before its grant: cuts there are reclaims (R-R6b).
    in_dial: bool,
    /// Steps observed, for the cadence of [`Model::compare_tables`].
    steps: u64,
    pub(crate) coverage: Coverage,
}

/// Keeps `item` among the last [`HISTORY`] of `list` (what late reports and stale answers
/// aim at; the names model keeps its history the same way).
pub(crate) fn remember<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= HISTORY {
        list.remove(0);
    }
    list.push(item);
}

impl Model {
    pub(crate) fn new(config: Config) -> Self {
        let holes = config
            .black_holes
            .classes
            .iter()
            .take(8)
            .map(|c| Hole {
                class: *c,
                outcomes: std::collections::VecDeque::new(),
                state: BlackHoleState::Probing,
                met: 0,
                owed: false,
            })
            .collect();
        Self {
            available: config.max_tokens,
            floor: config.max_tokens,
            queue: VecDeque::new(),
            config,
            now: None,
            confidence: Vec::new(),
            deny: HashMap::default(),
            exact: true,
            requests: IdMap::new(),
            by_peer: BTreeMap::new(),
            dials: IdMap::new(),
            callers: IdMap::new(),
            finished: Vec::new(),
            aborted: Vec::new(),
            overdrafts: 0,
            prunes: Vec::new(),
            seen_prunes: Vec::new(),
            seen_changes: Vec::new(),
            just_mirrored: Vec::new(),
            connects: 0,
            holes,
            changes: Vec::new(),
            in_dial: false,
            steps: 0,
            coverage: Coverage::default(),
        }
    }

    // ----- what the harness aims its ops at ------------------------------------------

    pub(crate) fn open_dials(&self) -> IdMap<DialId, RequestId> {
        self.dials.iter().map(|(d, o)| (*d, o.request)).collect()
    }

    pub(crate) fn open_dial_addrs(&self) -> Vec<(DialId, Multiaddr)> {
        self.dials
            .iter()
            .map(|(d, o)| (*d, o.addr.clone()))
            .collect()
    }

    /// Every prune mark, live or expired, as (peer, address).
    pub(crate) fn prune_marks(&self) -> Vec<(Peer, Multiaddr)> {
        self.confidence
            .iter()
            .flat_map(|e| e.pruned_for.iter().map(|(p, _)| (*p, e.addr.clone())))
            .collect()
    }

    pub(crate) fn peers_in_flight(&self) -> Vec<Peer> {
        self.by_peer.keys().copied().collect()
    }

    pub(crate) fn waiting_callers(&self) -> Vec<CallerId> {
        self.callers.keys().copied().collect()
    }

    pub(crate) fn finished_callers(&self) -> Vec<CallerId> {
        self.finished.clone()
    }

    pub(crate) fn aborted_dials(&self) -> Vec<DialId> {
        self.aborted.clone()
    }

    // ----- time ----------------------------------------------------------------------

    /// The core's clock: the latest `now` seen (Bad input: time going back is no time).
    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.now.map_or(now, |last| last.max(now));
        self.now = Some(now);
        now
    }

    fn after(now: Instant, d: std::time::Duration) -> Instant {
        now.checked_add(d).unwrap_or(now)
    }

    // ----- confidence (R-C) ------------------------------------------------------------

    fn confidence(&self, addr: &Multiaddr) -> u8 {
        self.confidence
            .iter()
            .find(|e| &e.addr == addr)
            .map_or(INITIAL_CONFIDENCE, |e| e.value)
    }

    /// R-R1: whether `addr` connected since its entry was made (it then dials before the
    /// unproven addresses of its confidence).
    fn proven(&self, addr: &Multiaddr) -> bool {
        self.confidence
            .iter()
            .find(|e| &e.addr == addr)
            .is_some_and(|e| e.proven)
    }

    /// When `peer`'s prune mark on `addr` expires, if it has one (live or expired).
    fn prune_mark(&self, peer: Peer, addr: &Multiaddr) -> Option<Instant> {
        let entry = self.confidence.iter().find(|e| &e.addr == addr)?;
        entry
            .pruned_for
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, until)| *until)
    }

    /// Whether `addr` is pruned for `peer` at `now`: marked, and the mark has not expired
    /// (`Config::prune_duration`).
    fn is_pruned(&self, peer: Peer, addr: &Multiaddr, now: Instant) -> bool {
        self.prune_mark(peer, addr).is_some_and(|until| now < until)
    }

    /// Marks `addr` pruned for `peer` from `now` on, replacing an older mark; false if the
    /// table has no entry for it (capacity 0) or the mark would expire at once.
    fn mark_pruned(&mut self, peer: Peer, addr: &Multiaddr, now: Instant) -> bool {
        let until = Self::after(now, self.config.prune_duration);
        if until <= now {
            return false;
        }
        match self.confidence.iter_mut().find(|e| &e.addr == addr) {
            Some(e) => {
                e.pruned_for.retain(|(p, _)| *p != peer);
                e.pruned_for.push((peer, until));
                true
            }
            None => false,
        }
    }

    /// The entry of `addr`, made most recent; the least recent goes when full (R-C6).
    fn touch(&mut self, addr: &Multiaddr) -> Option<&mut Entry> {
        if let Some(i) = self.confidence.iter().position(|e| &e.addr == addr) {
            let entry = self.confidence.remove(i);
            self.confidence.insert(0, entry);
        } else {
            if self.config.confidence_capacity == 0 {
                return None;
            }
            if self.confidence.len() >= self.config.confidence_capacity {
                self.confidence.pop();
            }
            self.confidence.insert(
                0,
                Entry {
                    addr: addr.clone(),
                    value: INITIAL_CONFIDENCE,
                    fails: 0,
                    cut: false,
                    proven: false,
                    pruned_for: Vec::new(),
                },
            );
        }
        self.confidence.first_mut()
    }

    fn export(&self) -> Vec<(Multiaddr, u8)> {
        self.confidence
            .iter()
            .rev()
            .map(|e| (e.addr.clone(), e.value))
            .collect()
    }

    // ----- deny list (R-D) -------------------------------------------------------------

    fn is_denied(&self, addr: &Multiaddr, now: Instant) -> bool {
        self.deny.get(addr).is_some_and(|until| now < *until)
    }

    fn deny(&mut self, addr: &Multiaddr, now: Instant, fails: u8) {
        if self.config.deny_list_capacity == 0 {
            return;
        }
        self.deny.retain(|_, until| *until > now);
        if !self.deny.contains_key(addr) && self.deny.len() >= self.config.deny_list_capacity {
            // R-D3 evicts an entry; which one is the core's choice.
            self.exact = false;
            if let Some(oldest) = self
                .deny
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(a, _)| a.clone())
            {
                self.deny.remove(&oldest);
            }
        }
        let c = &self.config;
        let duration = grown(c.deny_duration, c.deny_growth, c.deny_max, fails);
        if fails >= 2 && duration > c.deny_duration {
            self.coverage.grown_denies += 1;
        }
        let until = Self::after(now, duration);
        self.deny.insert(addr.clone(), until);
        self.mark_skippable(addr, None);
    }

    /// Failures in a row of `addr` (R-D4).
    fn fails(&self, addr: &Multiaddr) -> u8 {
        self.confidence
            .iter()
            .find(|e| &e.addr == addr)
            .map_or(0, |e| e.fails)
    }

    /// R-D4a: `addr` leaves the deny list, its failures and cut mark are forgotten; its
    /// recency is not touched.
    fn forgive(&mut self, addr: &Multiaddr) {
        self.deny.remove(addr);
        if let Some(e) = self.confidence.iter_mut().find(|e| &e.addr == addr) {
            e.fails = 0;
            e.cut = false;
        }
    }

    // ----- black holes (R-B) -----------------------------------------------------------

    /// Bits of the classes `addr` is in, if it is public (R-B1); 0 otherwise.
    fn classes_of(&self, addr: &Multiaddr) -> u8 {
        if self.holes.is_empty() || !is_public(addr) {
            return 0;
        }
        let mut bits = 0;
        for (i, h) in self.holes.iter().enumerate() {
            if in_class(addr, &h.class) {
                bits |= 1 << i;
            }
        }
        bits
    }

    fn blocked(&self) -> u8 {
        let mut bits = 0;
        for (i, h) in self.holes.iter().enumerate() {
            if h.state == BlackHoleState::Blocked {
                bits |= 1 << i;
            }
        }
        bits
    }

    /// Whether a request that probes `probes` must leave `addr` out (R-B2).
    fn black_holed(&self, addr: &Multiaddr, probes: u8) -> bool {
        let blocked = self.blocked() & !probes;
        blocked != 0 && self.classes_of(addr) & blocked != 0
    }

    /// R-B2: the blocked classes a new request with `input` probes: one request in
    /// `window` among those that could: with an address of the class not backed off, and
    /// no other address, or one neither backed off nor failed its last dial.
    fn probes_of(&mut self, input: &[Multiaddr], ignore: bool, now: Instant) -> u8 {
        let blocked = self.blocked();
        if blocked == 0 || ignore {
            return 0;
        }
        let not_denied = |a: &Multiaddr| !self.is_denied(a, now);
        let (in_class, others): (Vec<&Multiaddr>, Vec<&Multiaddr>) = input
            .iter()
            .partition(|a| self.classes_of(a) & blocked != 0);
        if !others.is_empty() && !others.iter().any(|a| not_denied(a) && self.fails(a) == 0) {
            return 0;
        }
        let met = in_class
            .iter()
            .filter(|a| not_denied(a))
            .fold(0, |m, a| m | (self.classes_of(a) & blocked));
        let window = u32::from(self.config.black_holes.window);
        let mut probes = 0;
        for (i, h) in self.holes.iter_mut().enumerate() {
            if met & (1 << i) != 0 {
                h.met += 1;
                if h.owed || h.met % window == 0 {
                    h.owed = false;
                    probes |= 1 << i;
                }
            }
        }
        if probes != 0 {
            self.coverage.black_hole_probes += 1;
        }
        probes
    }

    /// R-B2: probes of the classes `mask` ended without starting; each class still
    /// blocked is owed one, made by the next request that can probe it.
    fn owe(&mut self, mask: u8) {
        for (i, h) in self.holes.iter_mut().enumerate() {
            if mask & (1 << i) != 0 && h.state == BlackHoleState::Blocked {
                h.owed = true;
                self.coverage.probes_owed += 1;
            }
        }
    }

    /// A completed dial of `addr` (R-B1: public addresses; no aborts).
    fn outcome(&mut self, addr: &Multiaddr, success: bool) {
        let bits = self.classes_of(addr);
        if bits == 0 {
            return;
        }
        let window = usize::from(self.config.black_holes.window);
        let min = usize::from(self.config.black_holes.min_successes);
        let mut newly_blocked = Vec::new();
        for (i, h) in self.holes.iter_mut().enumerate() {
            if bits & (1 << i) == 0 {
                continue;
            }
            let before = h.state;
            if success && before == BlackHoleState::Blocked {
                // The route is back: a fresh window (R-B2).
                h.outcomes.clear();
            } else {
                if h.outcomes.len() == window {
                    h.outcomes.pop_front();
                }
                h.outcomes.push_back(success);
            }
            let successes = h.outcomes.iter().filter(|s| **s).count();
            h.state = if h.outcomes.len() < window {
                BlackHoleState::Probing
            } else if successes < min {
                BlackHoleState::Blocked
            } else {
                BlackHoleState::Allowed
            };
            if h.state != before {
                h.met = 0;
                h.owed = false;
                self.changes.push((h.class, h.state));
                match h.state {
                    BlackHoleState::Blocked => {
                        self.coverage.black_hole_blocked += 1;
                        newly_blocked.push(h.class);
                    }
                    _ if before == BlackHoleState::Blocked => {
                        self.coverage.black_hole_unblocked += 1;
                    }
                    _ => {}
                }
            }
        }
        // Pending public addresses of a class blocked now may be passed over (R-B2).
        for class in newly_blocked {
            for req in self.requests.values_mut() {
                let rest: Vec<Multiaddr> = req.addrs[req.next..]
                    .iter()
                    .filter(|a| is_public(a) && in_class(a, &class))
                    .cloned()
                    .collect();
                req.skippable.extend(rest);
            }
        }
    }

    /// `addr` became undialable for a while: requests waiting to dial it may skip it.
    fn mark_skippable(&mut self, addr: &Multiaddr, peer: Option<Peer>) {
        for req in self.requests.values_mut() {
            if peer.is_none_or(|p| p == req.peer) && req.addrs[req.next..].contains(addr) {
                req.skippable.insert(addr.clone());
            }
        }
    }

    // ----- outcomes --------------------------------------------------------------------

    /// A dial failed, a timeout included (R-C2, R-C4, R-D1, R-C5).
    /// `either`: the core may name the reason `AddressTimeout` instead (see [`Att`]).
    fn failure(
        &mut self,
        request: RequestId,
        addr: &Multiaddr,
        reason: FailReason,
        either: bool,
        now: Instant,
    ) {
        // Known to be a cut only without `either`; unsure, the model assumes it was not, so
        // that the next dial's timeout is only checked loosely.
        let cut = matches!(reason, FailReason::AdaptiveTimeout { .. }) && !either;
        let (value, fails) = match self.touch(addr) {
            Some(e) => {
                e.value = e.value.saturating_sub(1);
                e.fails = e.fails.saturating_add(1);
                // With `either` the core decides whether it was a cut; the model learns
                // which from the attempt list, and until then does not know.
                e.cut = cut;
                (e.value, e.fails)
            }
            None => (INITIAL_CONFIDENCE, 1),
        };
        self.deny(addr, now, fails);
        self.outcome(addr, false);
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        let peer = req.peer;
        // R-C5: only after `prune_after_failures` in a row, and only against another
        // address of the request that has proven itself (confidence above the start).
        let proven = req
            .addrs
            .iter()
            .any(|a| a != addr && self.confidence(a) > INITIAL_CONFIDENCE);
        if self.exact
            && value == 0
            && fails >= self.config.prune_after_failures
            && !self.is_pruned(peer, addr, now)
            && proven
            && self.mark_pruned(peer, addr, now)
        {
            self.prunes.push((peer, addr.clone()));
            self.mark_skippable(addr, Some(peer));
        }
        if let Some(req) = self.requests.get_mut(&request) {
            req.attempts.push(Att {
                attempt: Attempt {
                    addr: addr.clone(),
                    reason,
                },
                either,
            });
        }
    }

    /// A dial connected (R-C3, R-D5): confidence up, no longer pruned nor denied, its
    /// failures and cut mark cleared.
    fn success(&mut self, addr: &Multiaddr) {
        if let Some(e) = self.touch(addr) {
            e.value = (e.value + 1).min(MAX_CONFIDENCE);
            e.fails = 0;
            e.cut = false;
            e.proven = true;
            e.pruned_for.clear();
        }
        self.deny.remove(addr);
        self.connects = self.connects.saturating_add(1);
        self.outcome(addr, true);
    }

    /// Whether dials started now may get an adaptive deadline (R-R6b).
    fn adaptive_active(&self) -> bool {
        self.config
            .adaptive_timeout
            .is_some_and(|a| self.connects >= a.min_samples.max(1))
    }

    // ----- dial ------------------------------------------------------------------------

    /// Works out what `dial(now, peer, addrs, opts)` must do (R-R1, R-R1a, R-R2, R-R8,
    /// R-R9, R-T2 … R-T4, R-P1, R-D6, R-D7, R-B2, R-B3).
    pub(crate) fn expect_dial(
        &mut self,
        now: Instant,
        peer: Peer,
        addrs: &[Multiaddr],
        opts: DialOpts,
    ) -> DialPlan {
        let now = self.advance(now);
        let max = self.config.max_addrs_per_request;
        if addrs.is_empty() {
            return DialPlan::Refuse(DialRefused::NoAddresses);
        }
        if addrs.len() > max {
            return DialPlan::Refuse(DialRefused::TooManyAddresses {
                given: addrs.len(),
                max,
            });
        }
        if let Some(&request) = self.by_peer.get(&peer) {
            if self
                .requests
                .get(&request)
                .is_some_and(|r| now >= r.deadline)
            {
                // Item 0: past its dial_timeout the request is over; this caller starts
                // afresh (R-R6, R-R8).
                return DialPlan::Restart {
                    old: request,
                    addrs: addrs.to_vec(),
                    opts,
                };
            }
            let max_per_peer = self.config.max_per_peer_dials;
            let exact = self.exact;
            let mut takeout = None;
            if let Some(req) = self.requests.get_mut(&request) {
                req.ignore |= opts.ignore_backoff;
                if req.queued_since.is_some() {
                    if opts.priority == Priority::High {
                        // R-Q1, R-P1: out of the queue as an overdraft, asking for what its
                        // addresses before this join allow; its first dial starts before
                        // the merge, so only membership is checked from then on.
                        takeout = Some(exact.then(|| max_per_peer.min(req.addrs.len())));
                    } else {
                        self.coverage.queued_joins += 1;
                    }
                }
            }
            let added = self.exact.then(|| self.merge(request, addrs, now));
            if takeout.is_some() && added != Some(0) {
                if let Some(req) = self.requests.get_mut(&request) {
                    req.loose_order = true;
                }
            }
            return DialPlan::Join {
                request,
                added,
                takeout,
            };
        }
        let waiting = self.queue.len();
        self.plan_new(now, peer, addrs, opts, 0, waiting)
    }

    /// The plan of a new request for `peer` (no request in flight for it).
    /// `extra`: tokens a request timed out just before will have released (item 0);
    /// `waiting`: requests waiting for tokens then (R-Q1).
    fn plan_new(
        &mut self,
        now: Instant,
        peer: Peer,
        addrs: &[Multiaddr],
        opts: DialOpts,
        extra: usize,
        waiting: usize,
    ) -> DialPlan {
        let ignore = opts.ignore_backoff;
        let priority = opts.priority;
        let probes = self.probes_of(addrs, ignore, now);
        // R-Q1: a normal request behind waiting ones waits too, unless the queue is full;
        // high priority never waits (R-P1).
        let wait = self.config.wait_for_tokens;
        let normal = priority == Priority::Normal;
        let full = normal && wait.is_some_and(|w| waiting >= w.queue);
        let behind = normal && wait.is_some() && waiting > 0 && !full;
        if !self.exact {
            return DialPlan::Loose {
                given: addrs.len(),
                priority,
                ignore,
                probes,
                full,
                behind,
                may_queue: behind
                    || (normal && wait.is_some() && !full && self.available + extra == 0),
            };
        }
        let mut admitted: Vec<Multiaddr> = Vec::new();
        let mut skipped = Vec::new();
        for addr in addrs {
            let reason = if admitted.contains(addr) {
                Some(SkipReason::Duplicate)
            } else if !dialable(addr) {
                Some(SkipReason::Undialable)
            } else if !ignore && self.is_denied(addr, now) {
                Some(SkipReason::DenyListed)
            } else if !ignore && self.black_holed(addr, probes) {
                Some(SkipReason::BlackHoled)
            } else if let Some(until) = self.prune_mark(peer, addr) {
                if now < until {
                    Some(SkipReason::Pruned)
                } else {
                    self.coverage.prunes_expired += 1;
                    None
                }
            } else {
                None
            };
            match reason {
                Some(reason) => skipped.push(Skipped {
                    addr: addr.clone(),
                    reason,
                }),
                None => admitted.push(addr.clone()),
            }
        }
        if admitted.is_empty() {
            // R-D6: an address that is only deny-listed comes back at its (grown) expiry.
            let retry_at = skipped
                .iter()
                .filter(|s| s.reason == SkipReason::DenyListed)
                .filter_map(|s| self.deny.get(&s.addr).copied())
                .min();
            let black_holed = skipped.iter().any(|s| s.reason == SkipReason::BlackHoled);
            return DialPlan::Refuse(match retry_at {
                Some(retry_at) => DialRefused::BackedOff {
                    skipped,
                    retry_at,
                    retry_in: retry_at.saturating_duration_since(now),
                },
                // R-B3: only black holes (and other skips) left nothing.
                None if black_holed => DialRefused::BlackHoled { skipped },
                None => DialRefused::NoDialableAddresses { skipped },
            });
        }
        let admitted = self.order(admitted);
        if full {
            return DialPlan::Refuse(DialRefused::NoTokens);
        }
        if behind {
            return DialPlan::Queue {
                addrs: admitted,
                ignore,
                probes,
            };
        }
        let requested = self.config.max_per_peer_dials.min(admitted.len());
        let granted = requested.min(self.available + extra);
        // R-R6b: a spared dial's token is lent; a short pool may take it back, but the
        // model does not know which dials are spared.
        let may_reclaim = granted < requested && self.dials.values().any(|d| d.adaptive);
        if granted == 0 && normal && !may_reclaim {
            return match wait {
                Some(_) => DialPlan::Queue {
                    addrs: admitted,
                    ignore,
                    probes,
                },
                None => DialPlan::Refuse(DialRefused::NoTokens),
            };
        }
        DialPlan::New {
            requested,
            addrs: admitted,
            ignore,
            probes,
            may_refuse: granted == 0 && normal && wait.is_none(),
            may_queue: granted == 0 && normal && wait.is_some(),
        }
    }

    /// R-R1, R-R1a: the dial order of `addrs`. Highest confidence first, and within one
    /// confidence proven addresses (that connected) first; within those, with
    /// `interleave`, direct addresses before relayed ones, and within
    /// those IPv6 and IPv4 alternating, IPv6 first, each family in the given order (names
    /// other than `/dns6` go with IPv4). Without `interleave`, the given order among equals.
    fn order(&self, addrs: Vec<Multiaddr>) -> Vec<Multiaddr> {
        let mut levels: BTreeMap<std::cmp::Reverse<(u8, bool)>, Vec<Multiaddr>> = BTreeMap::new();
        for a in addrs {
            levels
                .entry(std::cmp::Reverse((self.confidence(&a), self.proven(&a))))
                .or_default()
                .push(a);
        }
        let mut out = Vec::new();
        for (_, level) in levels {
            if !self.config.interleave {
                out.extend(level);
                continue;
            }
            for relayed in [false, true] {
                let (mut v6, mut v4) = (Vec::new(), Vec::new());
                for a in &level {
                    let (is6, is_relayed) = lane(a);
                    if is_relayed == relayed {
                        if is6 {
                            v6.push(a.clone());
                        } else {
                            v4.push(a.clone());
                        }
                    }
                }
                let (mut v6, mut v4) = (v6.into_iter(), v4.into_iter());
                loop {
                    let (x, y) = (v6.next(), v4.next());
                    if x.is_none() && y.is_none() {
                        break;
                    }
                    out.extend(x);
                    out.extend(y);
                }
            }
        }
        out
    }

    /// R-R8: merges a joining caller's addresses into `request`; returns how many.
    fn merge(&mut self, request: RequestId, addrs: &[Multiaddr], now: Instant) -> usize {
        let Some(req) = self.requests.get(&request) else {
            return 0;
        };
        let (peer, ignore, probes, probed) = (req.peer, req.ignore, req.probes, req.probed);
        let mut list = req.addrs.clone();
        let old = list.len();
        // Admitted, but in a class whose probe already started (R-B2): the core passes
        // them over when their turn comes, perhaps with no StartDial to show it.
        let mut shut_out = Vec::new();
        for addr in addrs {
            let skip = list.len() >= self.config.max_addrs_per_request
                || list.contains(addr)
                || !dialable(addr)
                || (!ignore && self.is_denied(addr, now))
                || (!ignore && self.black_holed(addr, probes))
                || self.is_pruned(peer, addr, now);
            if !skip {
                if !ignore && self.black_holed(addr, probes & !probed) {
                    shut_out.push(addr.clone());
                }
                list.push(addr.clone());
            }
        }
        let added = list.len() - old;
        let mut loose = false;
        if added > 0 {
            let next = req.next;
            let rest = list.split_off(next);
            // The core orders what it has not passed yet; an address it passed over as
            // skipped still sits in the model's rest and would shift the interleave ranks.
            loose = self.config.interleave
                && rest[..old - next].iter().any(|a| req.skippable.contains(a));
            list.extend(self.order(rest));
        }
        if let Some(req) = self.requests.get_mut(&request) {
            req.addrs = list;
            req.loose_order |= loose;
            req.skippable.extend(shut_out);
        }
        added
    }

    // ----- one step --------------------------------------------------------------------

    /// Checks one step's outputs against the model and moves the model on.
    pub(crate) fn observe(
        &mut self,
        dialer: &Dialer<Peer>,
        now: Instant,
        expected: Expected,
        drained: &Drained<Peer>,
    ) -> Result<(), Violation> {
        let now = match expected {
            Expected::Import(_) | Expected::LiftPrune { .. } => self.now.unwrap_or(now),
            _ => self.advance(now),
        };
        self.prunes.clear();
        self.changes.clear();
        self.floor = self.available;
        let mut plan = None;
        let mut cancelled = None;
        let mut joined = None;
        let mut timeout = false;
        let mut actions: &[Action<Peer>] = &drained.actions;
        let mut events: &[Event<Peer>] = &drained.events;
        let mut ended = Outcomes::new();
        match expected {
            Expected::Dial {
                mut expected,
                result,
                peer,
            } => {
                let mut extra = 0;
                let mut restart = None;
                if let DialPlan::Restart { old, addrs, opts } = expected {
                    // Item 0: the old request's time-out comes first, then the new plan.
                    self.coverage.restarts += 1;
                    let split = actions
                        .iter()
                        .position(|a| !matches!(a, Action::AbortDial(x) if x.request == old))
                        .unwrap_or(actions.len());
                    let (old_actions, rest) = actions.split_at(split);
                    actions = rest;
                    for action in old_actions {
                        self.action(action, now)?;
                    }
                    ensure!(
                        !dialer.is_in_flight(old),
                        "R-R6: {old}, past its dial_timeout, still in flight after a new caller"
                    );
                    if let Some(req) = self.requests.get_mut(&old) {
                        extra = req.tokens;
                        // Its unstarted probe is owed before the new request is planned
                        // (and only once: the request ends at the end of this step).
                        let unstarted = req.probes & !req.probed;
                        req.probes = 0;
                        let peer = req.peer;
                        self.owe(unstarted);
                        self.by_peer.remove(&peer);
                    }
                    restart = Some(old);
                    // A waiting old request leaves the queue before the new one is planned.
                    let waiting = self.queue.iter().filter(|r| **r != old).count();
                    expected = self.plan_new(now, peer, &addrs, opts, extra, waiting);
                }
                if !matches!(expected, DialPlan::Join { .. }) {
                    // R-R6b: spared dials may be cut to lend their tokens back (reclaim)
                    // before the new request's grant; everything before that grant and
                    // the new request's first dial belongs to other requests.
                    // (With the wait queue, R-Q1, a new request may queue instead, and
                    // the end of the call serves the queue: StartDials only, after.)
                    let new = events.iter().find_map(|e| match e {
                        Event::RequestTokens { request, .. } | Event::Queued { request, .. }
                            if !self.requests.contains_key(request) =>
                        {
                            Some(*request)
                        }
                        _ => None,
                    });
                    let split = actions
                        .iter()
                        .position(|a| match a {
                            Action::StartDial(_) => true,
                            Action::AbortDial(x) => Some(x.request) == new,
                            _ => false,
                        })
                        .unwrap_or(actions.len());
                    let (pre, rest) = actions.split_at(split);
                    actions = rest;
                    self.in_dial = true;
                    for action in pre {
                        self.action(action, now)?;
                    }
                    self.in_dial = false;
                    let split = events
                        .iter()
                        .position(|e| matches!(e, Event::RequestTokens { request, .. } | Event::Queued { request, .. } if Some(*request) == new))
                        .unwrap_or(events.len());
                    let (pre, rest) = events.split_at(split);
                    events = rest;
                    ended = self.events(pre, &mut None, None, None, now)?;
                    self.compare_step()?;
                    self.prunes.clear();
                    self.changes.clear();
                    if let Some(old) = restart {
                        ensure!(
                            ended.get(&old).is_some_and(|l| !l.is_empty()),
                            "R-R6: {old}, past its dial_timeout, told no caller it timed out"
                        );
                    }
                }
                self.check_dial(&expected, &result)?;
                if let Err(e) = &result {
                    self.count_refusal(e);
                }
                if let Ok(caller) = result {
                    match &expected {
                        DialPlan::Join {
                            request,
                            added,
                            takeout,
                        } => {
                            self.coverage.joins += 1;
                            // R-R8: a join that brings nothing new spends nothing and
                            // starts nothing (unless it takes its request out of the wait
                            // queue, R-Q1).
                            if *added == Some(0) && takeout.is_none() {
                                ensure!(
                                    drained
                                        .events
                                        .iter()
                                        .all(|e| !matches!(e, Event::RequestTokens { .. }))
                                        && drained.actions.is_empty(),
                                    "R-R8: a join adding no address changed {request}: {drained:?}"
                                );
                            }
                            self.callers.insert(caller, *request);
                            if let Some(req) = self.requests.get_mut(request) {
                                req.callers.insert(caller);
                            }
                            joined = Some((*request, *takeout));
                        }
                        _ => plan = Some((expected, caller, peer)),
                    }
                }
            }
            Expected::Cancel { caller, result } => {
                let known = self.callers.contains_key(&caller);
                ensure!(
                    known == result.is_ok(),
                    "R-R7: cancel of {caller} (waiting: {known}) returned {result:?}"
                );
                if known {
                    self.coverage.cancels += 1;
                    cancelled = Some(caller);
                }
            }
            Expected::Report { dial, ok, result } => {
                let open = self.dials.remove(&dial);
                ensure!(
                    open.is_some() == result.is_ok(),
                    "Bad input: report on {dial} (open: {}) returned {result:?}",
                    open.is_some()
                );
                match open {
                    None => self.coverage.refused_reports += 1,
                    Some(d) if ok => {
                        self.coverage.successes += 1;
                        if d.adaptive && now >= Self::after(d.started, self.config.address_timeout)
                        {
                            // Spared, or its timer not handled yet (R-R6b).
                            self.coverage.late_answers += 1;
                        }
                        self.success(&d.addr);
                        if let Some(req) = self.requests.get_mut(&d.request) {
                            let took = now.saturating_duration_since(d.started);
                            req.won = Some((dial, d.addr, took, req.attempts.clone()));
                        }
                    }
                    Some(d) => {
                        self.coverage.failures += 1;
                        self.failure(
                            d.request,
                            &d.addr,
                            FailReason::Transport("connection refused".into()),
                            false,
                            now,
                        );
                    }
                }
            }
            Expected::Timeout => timeout = true,
            Expected::Import(entries) => {
                for (addr, value) in entries {
                    if let Some(e) = self.touch(&addr) {
                        e.value = value.min(MAX_CONFIDENCE);
                        // R-C5a: an import lifts the address's prune marks.
                        e.pruned_for.clear();
                    }
                }
            }
            Expected::Quiet => {
                ensure!(
                    drained.actions.is_empty() && drained.events.is_empty(),
                    "R-D4a: handle_peer_connected emitted {drained:?}"
                );
                if !self.exact {
                    // A loose request's addresses are unknown to the model, and the core
                    // forgave them too: read the counts back.
                    for e in &mut self.confidence {
                        if dialer.failures(&e.addr) == 0 {
                            e.fails = 0;
                            e.cut = false;
                        }
                    }
                }
            }
            Expected::LiftPrune { peer, addr, result } => {
                let had = match self.confidence.iter_mut().find(|e| e.addr == addr) {
                    Some(e) => {
                        let before = e.pruned_for.len();
                        e.pruned_for.retain(|(p, _)| *p != peer);
                        e.pruned_for.len() != before
                    }
                    None => false,
                };
                ensure!(
                    had == result,
                    "R-C5a: lift_prune({peer}, {addr}) returned {result}, the model says {had}"
                );
                self.coverage.prunes_lifted += u64::from(had);
            }
            Expected::NetworkChanged => {
                // R-D4b: the old network's lessons go; confidence and prune marks stay.
                self.deny.clear();
                for e in &mut self.confidence {
                    e.fails = 0;
                    e.cut = false;
                }
                self.connects = 0;
                for h in &mut self.holes {
                    if h.state != BlackHoleState::Probing {
                        self.changes.push((h.class, BlackHoleState::Probing));
                    }
                    h.outcomes.clear();
                    h.state = BlackHoleState::Probing;
                    h.met = 0;
                    h.owed = false;
                }
                // An empty deny list is the same in the core and the model again.
                if !self.exact && self.requests.is_empty() {
                    self.exact = true;
                }
            }
        }

        let rest = self.events(events, &mut plan, joined, cancelled, now)?;
        ensure!(
            plan.is_none(),
            "dial returned a caller but no RequestTokens nor Queued"
        );
        for action in actions {
            self.action(action, now)?;
        }
        self.compare_step()?;
        for (request, list) in rest {
            ended.entry_or_insert_with(request, Vec::new).extend(list);
        }
        self.reconcile(dialer, now, &ended)?;
        if timeout {
            self.nothing_overdue(now)?;
        }
        Ok(())
    }

    /// R-D4a: `handle_peer_connected(now, peer, addrs)`.
    pub(crate) fn peer_connected(&mut self, now: Instant, peer: Peer, addrs: &[Multiaddr]) {
        self.advance(now);
        for addr in addrs {
            self.forgive(addr);
        }
        let in_flight: Vec<Multiaddr> = self
            .by_peer
            .get(&peer)
            .and_then(|r| self.requests.get(r))
            .map(|r| r.addrs.clone())
            .unwrap_or_default();
        for addr in &in_flight {
            self.forgive(addr);
        }
        self.coverage.peer_connected += 1;
    }

    fn check_dial(
        &self,
        plan: &DialPlan,
        result: &Result<CallerId, DialRefused>,
    ) -> Result<(), Violation> {
        match (plan, result) {
            (DialPlan::Refuse(want), Err(got)) => {
                ensure!(want == got, "dial: expected {want:?}, got {got:?}");
            }
            (
                DialPlan::New {
                    may_refuse: true, ..
                },
                Err(DialRefused::NoTokens),
            ) => {
                ensure!(
                    self.available == 0,
                    "R-T4: NoTokens with {} tokens available",
                    self.available
                );
            }
            (DialPlan::Refuse(want), Ok(c)) => {
                return Err(Violation(format!("dial: expected {want:?}, got {c}")));
            }
            (
                DialPlan::Loose {
                    given,
                    priority,
                    full,
                    ..
                },
                Err(got),
            ) => match got {
                // R-T4; with the wait queue only when it is full (R-Q1).
                DialRefused::NoTokens => ensure!(
                    match self.config.wait_for_tokens {
                        Some(_) => *full,
                        None => self.available == 0 && *priority == Priority::Normal,
                    },
                    "R-T4, R-Q1: NoTokens with {} tokens available, {priority:?}, {} waiting",
                    self.available,
                    self.queue.len()
                ),
                DialRefused::NoDialableAddresses { skipped }
                | DialRefused::BlackHoled { skipped }
                | DialRefused::BackedOff { skipped, .. } => ensure!(
                    skipped.len() == *given,
                    "R-R2, R-D6: {} of {given} addresses listed as skipped",
                    skipped.len()
                ),
                other => return Err(Violation(format!("dial: unexpected {other:?}"))),
            },
            (_, Err(got)) => {
                return Err(Violation(format!("dial: expected {plan:?}, got {got:?}")));
            }
            (_, Ok(_)) => {}
        }
        Ok(())
    }

    fn count_refusal(&mut self, result: &DialRefused) {
        match result {
            DialRefused::NoTokens => {
                self.coverage.no_tokens += 1;
                // With the wait queue on, NoTokens means the queue was full (R-Q1).
                self.coverage.queue_full += u64::from(self.config.wait_for_tokens.is_some());
            }
            DialRefused::BackedOff { .. } => self.coverage.backed_off += 1,
            DialRefused::NoDialableAddresses { .. } => self.coverage.no_dialable += 1,
            DialRefused::TooManyAddresses { .. } => self.coverage.too_many += 1,
            DialRefused::BlackHoled { .. } => self.coverage.black_holed += 1,
            _ => {}
        }
    }

    /// One step's events in the order the core emitted them (tokens move in that order:
    /// a release, then a waiting request served with it, R-Q1, R-T8): `RequestTokens` (a
    /// new request's grant, R-T2, R-T3, R-P1; a joined request's top-up; a waiting
    /// request served or taken out by a high-priority caller, R-Q1), `Queued`, `Release`,
    /// `Finished`; `Pruned` and `BlackHole` are kept for [`Model::compare_step`]. Returns
    /// the results per request, but those of `cancelled`'s own `Finished`.
    fn events(
        &mut self,
        events: &[Event<Peer>],
        plan: &mut Option<(DialPlan, CallerId, Peer)>,
        joined: Option<(RequestId, Option<Option<usize>>)>,
        cancelled: Option<CallerId>,
        now: Instant,
    ) -> Result<Outcomes, Violation> {
        let mut results: IdMap<RequestId, Vec<_>> = IdMap::new();
        let mut cancel_seen = false;
        for event in events {
            match event {
                Event::RequestTokens {
                    request,
                    requested,
                    granted,
                    overdraft,
                } => {
                    self.grant(
                        *request, *requested, *granted, *overdraft, plan, joined, now,
                    )?;
                    self.floor = self.floor.min(self.available);
                }
                Event::Queued { request, ahead } => self.queued(*request, *ahead, plan, now)?,
                Event::Release { request, count } => {
                    let Some(req) = self.requests.get_mut(request) else {
                        return Err(Violation(format!("Release for unknown {request}")));
                    };
                    ensure!(
                        *count >= 1 && *count <= req.tokens,
                        "{request} releases {count} of {} tokens",
                        req.tokens
                    );
                    req.tokens -= count;
                    self.available += count;
                }
                Event::Finished {
                    caller,
                    request,
                    peer,
                    result,
                } => {
                    ensure!(
                        self.callers.remove(caller) == Some(*request),
                        "Finished for {caller} which does not wait on {request}"
                    );
                    remember(&mut self.finished, *caller);
                    let Some(req) = self.requests.get_mut(request) else {
                        return Err(Violation(format!("Finished for unknown {request}")));
                    };
                    ensure!(req.peer == *peer, "Finished names the wrong peer");
                    req.callers.remove(caller);
                    let waited = req.queued_since.is_some();
                    if req.callers.is_empty() {
                        // Every caller told: it is over, and out of the queue (R-Q1).
                        self.queue.retain(|r| r != request);
                    }
                    if cancelled == Some(*caller) && !cancel_seen {
                        ensure!(
                            *result == Err(DialFailed::Cancelled),
                            "R-R7: cancelled {caller} finished with {result:?}"
                        );
                        self.coverage.queued_cancels += u64::from(waited);
                        cancel_seen = true;
                    } else {
                        results
                            .entry_or_insert_with(*request, Vec::new)
                            .push((*caller, result.clone()));
                    }
                }
                Event::Pruned { peer, addr } => self.seen_prunes.push((*peer, addr.clone())),
                Event::BlackHole { class, state } => self.seen_changes.push((*class, *state)),
                other => return Err(Violation(format!("unexpected output {other:?}"))),
            }
        }
        ensure!(
            cancelled.is_none() || cancel_seen,
            "R-R7: an accepted cancel emitted no Finished"
        );
        Ok(results)
    }

    /// The `Pruned` and `BlackHole` events seen against what the model predicted, once
    /// the events and the actions of (a part of) a step are both processed.
    fn compare_step(&mut self) -> Result<(), Violation> {
        let pruned = std::mem::take(&mut self.seen_prunes);
        let changes = std::mem::take(&mut self.seen_changes);
        ensure!(
            changes == self.changes,
            "R-B4: black-hole changes {changes:?}, the model expected {:?}",
            self.changes
        );
        self.coverage.prunes += pruned.len() as u64;
        if self.exact {
            ensure!(
                pruned == self.prunes,
                "R-C5: pruned {pruned:?}, the model expected {:?}",
                self.prunes
            );
        } else {
            // A prune happens at the input's `now`, which is the core's clock.
            if let Some(now) = self.now {
                for (peer, addr) in pruned {
                    self.mark_pruned(peer, &addr, now);
                    self.just_mirrored.push((peer, addr));
                }
            }
        }
        Ok(())
    }

    /// One `RequestTokens` event (see [`Model::events`]).
    #[allow(clippy::too_many_arguments)]
    fn grant(
        &mut self,
        request: RequestId,
        requested: usize,
        granted: usize,
        overdraft: bool,
        plan: &mut Option<(DialPlan, CallerId, Peer)>,
        joined: Option<(RequestId, Option<Option<usize>>)>,
        now: Instant,
    ) -> Result<(), Violation> {
        let max_per_peer = self.config.max_per_peer_dials;
        ensure!(
            granted == requested.min(self.available),
            "R-T3: {request} asked {requested} with {} available, granted {granted}",
            self.available
        );
        let exact = self.exact;
        let dial_timeout = self.config.dial_timeout;
        let oldest = self.queue.front().copied();
        if let Some(req) = self.requests.get_mut(&request) {
            if let Some(since) = req.queued_since {
                if overdraft {
                    // R-Q1, R-P1: a high-priority caller took it out of the queue.
                    let Some((_, Some(takeout))) = joined.filter(|(j, _)| *j == request) else {
                        return Err(Violation(format!(
                            "R-Q1: waiting {request} proceeds as an overdraft without a high-priority join"
                        )));
                    };
                    ensure!(
                        takeout.map_or(requested >= 1 && requested <= max_per_peer, |n| {
                            n == requested
                        }),
                        "R-Q1: {request} taken out of the queue asks {requested}, the model says {takeout:?}"
                    );
                    req.overdraft = true;
                    self.overdrafts += 1;
                    self.coverage.overdrafts += 1;
                    self.coverage.queue_takeouts += 1;
                } else {
                    // R-Q1, R-T8: served, oldest first, as soon as a token is free; it asks
                    // what any new request with its addresses asks (R-T2).
                    ensure!(
                        oldest == Some(request),
                        "R-Q1: {request} served while {oldest:?} waits longer"
                    );
                    ensure!(granted >= 1, "R-Q1: {request} served with no token free");
                    let pending = req.addrs.len() - req.next;
                    ensure!(
                        if exact {
                            requested == max_per_peer.min(pending)
                        } else {
                            requested >= 1 && requested <= max_per_peer
                        },
                        "R-Q1, R-T2: served {request} asks {requested} for {pending} addresses"
                    );
                    req.tokens = granted;
                    self.available -= granted;
                    self.coverage.served += 1;
                }
                // Its dial_timeout counts from the call (R-Q1, R-R6).
                req.queued_since = None;
                req.deadline = Self::after(since, dial_timeout);
                self.queue.retain(|r| *r != request);
                return Ok(());
            }
            ensure!(
                joined.is_some_and(|(j, _)| j == request) && !req.overdraft && !overdraft,
                "RequestTokens for {request} outside a join"
            );
            ensure!(
                requested >= 1 && req.tokens + requested <= max_per_peer,
                "R-T2: {request} holds {} and asks {requested} more",
                req.tokens
            );
            req.tokens += granted;
            self.available -= granted;
            return Ok(());
        }
        let Some((expected, caller, peer)) = plan.take() else {
            return Err(Violation(format!(
                "RequestTokens for unknown {request} outside a dial"
            )));
        };
        ensure!(
            overdraft == (granted == 0),
            "R-P1: new {request} granted {granted}, overdraft {overdraft}"
        );
        let (addrs, ignore, probes) = match expected {
            DialPlan::New {
                requested: r,
                addrs,
                ignore,
                probes,
                ..
            } => {
                // The grant itself was checked above (R-T3), against the pool after
                // any reclaim.
                ensure!(
                    r == requested,
                    "R-T2: {request} should ask {r}, asked {requested} (granted {granted})"
                );
                (addrs, ignore, probes)
            }
            DialPlan::Loose {
                priority,
                ignore,
                probes,
                full,
                behind,
                ..
            } => {
                ensure!(
                    requested >= 1 && requested <= max_per_peer,
                    "R-T2: {request} asks {requested}"
                );
                ensure!(
                    granted > 0 || priority == Priority::High,
                    "R-T4: a normal request proceeded without tokens"
                );
                ensure!(
                    !full && !behind,
                    "R-Q1: new {request} got tokens while {} requests wait",
                    self.queue.len()
                );
                (Vec::new(), ignore, probes)
            }
            other => return Err(Violation(format!("new {request} but expected {other:?}"))),
        };
        if overdraft {
            self.overdrafts += 1;
            self.coverage.overdrafts += 1;
        }
        self.coverage.requests += 1;
        self.coverage.forced += u64::from(ignore);
        self.available -= granted;
        let deadline = Self::after(now, dial_timeout);
        self.insert_request(request, caller, peer, addrs, ignore, probes, deadline, None);
        if let Some(req) = self.requests.get_mut(&request) {
            req.tokens = granted;
            req.overdraft = overdraft;
        }
        Ok(())
    }

    /// One `Queued` event: a new request waits for tokens (R-Q1).
    fn queued(
        &mut self,
        request: RequestId,
        ahead: usize,
        plan: &mut Option<(DialPlan, CallerId, Peer)>,
        now: Instant,
    ) -> Result<(), Violation> {
        let Some(wait) = self.config.wait_for_tokens else {
            return Err(Violation(format!(
                "R-Q1: {request} queued with the wait queue off"
            )));
        };
        ensure!(
            !self.requests.contains_key(&request),
            "R-Q1: {request} queued again"
        );
        let Some((expected, caller, peer)) = plan.take() else {
            return Err(Violation(format!(
                "R-Q1: Queued for unknown {request} outside a dial"
            )));
        };
        let (addrs, ignore, probes) = match expected {
            DialPlan::Queue {
                addrs,
                ignore,
                probes,
            }
            | DialPlan::New {
                may_queue: true,
                addrs,
                ignore,
                probes,
                ..
            } => (addrs, ignore, probes),
            DialPlan::Loose {
                may_queue: true,
                ignore,
                probes,
                ..
            } => (Vec::new(), ignore, probes),
            other => {
                return Err(Violation(format!(
                "R-Q1: {request} queued with {} tokens free, {} waiting, but expected {other:?}",
                self.available,
                self.queue.len()
            )))
            }
        };
        ensure!(
            ahead == self.queue.len() && ahead < wait.queue,
            "R-Q1: {request} queued behind {ahead}, the model counts {} waiting (queue {})",
            self.queue.len(),
            wait.queue
        );
        self.coverage.requests += 1;
        self.coverage.queued += 1;
        self.coverage.forced += u64::from(ignore);
        // It waits at most max_wait, and never past its own dial_timeout.
        let deadline = Self::after(now, wait.max_wait.min(self.config.dial_timeout));
        self.insert_request(
            request,
            caller,
            peer,
            addrs,
            ignore,
            probes,
            deadline,
            Some(now),
        );
        self.queue.push_back(request);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_request(
        &mut self,
        request: RequestId,
        caller: CallerId,
        peer: Peer,
        addrs: Vec<Multiaddr>,
        ignore: bool,
        probes: u8,
        deadline: Instant,
        queued_since: Option<Instant>,
    ) {
        self.by_peer.insert(peer, request);
        self.callers.insert(caller, request);
        self.requests.insert(
            request,
            Req {
                peer,
                addrs,
                next: 0,
                skippable: HashSet::default(),
                tokens: 0,
                overdraft: false,
                ignore,
                probes,
                probed: 0,
                loose_order: false,
                deadline,
                queued_since,
                callers: IdSet::from([caller]),
                attempts: Vec::new(),
                last_start: None,
                won: None,
            },
        );
    }

    /// One action, in the order the core emitted it.
    fn action(&mut self, action: &Action<Peer>, now: Instant) -> Result<(), Violation> {
        match action {
            Action::StartDial(start) => {
                let exact = self.exact;
                let stagger = self.config.stagger;
                let has_open = self.dials.values().any(|d| d.request == start.request);
                // What the core passes over now (R-R1, R-D7, R-B2, R-C5).
                let denied: Vec<bool> = match self.requests.get(&start.request) {
                    Some(req) => req.addrs[req.next..]
                        .iter()
                        .map(|a| {
                            (!req.ignore
                                && (self.is_denied(a, now)
                                    || self.black_holed(a, req.probes & !req.probed)))
                                || self.is_pruned(req.peer, a, now)
                        })
                        .collect(),
                    None => Vec::new(),
                };
                // R-R6b: adaptive once measured, unless the address's last dial was cut.
                let cut = self
                    .confidence
                    .iter()
                    .find(|e| e.addr == start.addr)
                    .is_some_and(|e| e.cut);
                let adaptive = self.adaptive_active();
                let patient = adaptive && cut;
                self.coverage.full_after_cut += u64::from(patient);
                let pruned = self.is_pruned(start.peer, &start.addr, now);
                let classes = self.classes_of(&start.addr);
                let probing_out = self.requests.get(&start.request).is_some_and(|r| {
                    !r.ignore && self.black_holed(&start.addr, r.probes & !r.probed)
                });
                // A probe that starts now shuts its class's other pending addresses out
                // (R-B2): the core passes them over when their turn comes, perhaps with no
                // StartDial after (so the model cannot see it), so they become skippable.
                let shut_out: Vec<Multiaddr> = self
                    .requests
                    .get(&start.request)
                    .map(|r| {
                        let probed = r.probed | (classes & r.probes);
                        if r.ignore || probed == r.probed {
                            return Vec::new();
                        }
                        r.addrs[r.next..]
                            .iter()
                            .filter(|a| {
                                *a != &start.addr && self.black_holed(a, r.probes & !probed)
                            })
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let Some(req) = self.requests.get_mut(&start.request) else {
                    return Err(Violation(format!(
                        "R-R4: StartDial {} for {} which is not live",
                        start.dial, start.request
                    )));
                };
                ensure!(
                    req.queued_since.is_none(),
                    "R-Q1: {} started a dial while it waits for tokens",
                    start.request
                );
                ensure!(
                    req.peer == start.peer,
                    "StartDial {} names peer {} for a request of {}",
                    start.dial,
                    start.peer,
                    req.peer
                );
                ensure!(
                    dialable(&start.addr),
                    "R-R1: StartDial for undialable {}",
                    start.addr
                );
                ensure!(
                    !(probing_out && req.probes != 0 && req.probed & classes != 0),
                    "R-B2: {} dialed {}, a second address of a class it probes",
                    start.request,
                    start.addr
                );
                req.probed |= classes & req.probes;
                req.skippable.extend(shut_out);
                if exact {
                    ensure!(!pruned, "R-C5: StartDial for pruned {}", start.addr);
                    let rest = &req.addrs[req.next..];
                    let Some(k) = rest.iter().position(|a| a == &start.addr) else {
                        return Err(Violation(format!(
                            "R-R1: StartDial for {} which is not among the request's next addresses {rest:?}",
                            start.addr
                        )));
                    };
                    if !req.loose_order {
                        for (i, a) in rest[..k].iter().enumerate() {
                            ensure!(
                                denied[i] || req.skippable.contains(a),
                                "R-R1: dialed {} before {a} (order {rest:?})",
                                start.addr
                            );
                        }
                    }
                    if req.loose_order {
                        // What it passed may still be pending in the core: only the started
                        // address leaves what is left.
                        let next = req.next;
                        req.addrs[next..=next + k].rotate_right(1);
                        req.next += 1;
                    } else {
                        req.next += k + 1;
                    }
                }
                if let (Some(stagger), Some(last), true) = (stagger, req.last_start, has_open) {
                    ensure!(
                        now >= Self::after(last, stagger),
                        "R-S1: {} started a dial at {now:?}, {:?} after the previous one, with another in flight and stagger {stagger:?}",
                        start.request,
                        now.saturating_duration_since(last)
                    );
                    self.coverage.staggered += 1;
                }
                req.last_start = Some(now);
                self.coverage.dials += 1;
                self.dials.insert(
                    start.dial,
                    OpenDial {
                        request: start.request,
                        addr: start.addr.clone(),
                        started: now,
                        deadline: Self::after(now, self.config.address_timeout),
                        adaptive,
                        patient,
                    },
                );
            }
            Action::AbortDial(abort) => {
                let Some(dial) = self.dials.remove(&abort.dial) else {
                    return Err(Violation(format!("AbortDial for {} not open", abort.dial)));
                };
                ensure!(
                    dial.request == abort.request,
                    "AbortDial names {} for a dial of {}",
                    abort.request,
                    dial.request
                );
                remember(&mut self.aborted, abort.dial);
                match abort.reason {
                    AbortReason::AddressTimeout if now >= dial.deadline => {
                        self.coverage.address_timeouts += 1;
                        // A dial that may have been adaptive and fired late: the core
                        // says which (R-R6b).
                        let after = now.saturating_duration_since(dial.started);
                        let (reason, either) = if dial.adaptive {
                            (FailReason::AdaptiveTimeout { after }, true)
                        } else {
                            (FailReason::AddressTimeout, false)
                        };
                        self.failure(dial.request, &dial.addr, reason, either, now);
                    }
                    AbortReason::AddressTimeout => {
                        // Before the full address_timeout: only an adaptive cut (R-R6b).
                        let full = self.config.address_timeout;
                        let floor = self
                            .config
                            .adaptive_timeout
                            .map_or(full, |a| a.syn_retry.min(full));
                        let after = now.saturating_duration_since(dial.started);
                        ensure!(
                            dial.adaptive,
                            "R-R6a/R-R6b: {} ({}) timed out {after:?} after its start, before address_timeout {full:?}, without an adaptive deadline (adaptive measured: {}, its last dial cut: {})",
                            abort.dial,
                            dial.addr,
                            self.adaptive_active(),
                            self.confidence.iter().any(|e| e.addr == dial.addr && e.cut)
                        );
                        ensure!(
                            after >= floor,
                            "R-R6b: {} cut after {after:?}, below the floor {floor:?}",
                            abort.dial
                        );
                        // R-R6b: never cut while its request has nothing pending and the pool
                        // has free tokens (the fewest free so far in the step is a lower
                        // bound on what is free now: see `floor`).
                        let pending = self
                            .requests
                            .get(&dial.request)
                            .map_or(0, |r| r.addrs.len() - r.next);
                        // A patient dial (its address was cut last time) is spared whenever
                        // tokens are free. In a `dial`, a spared dial is reclaimed instead.
                        ensure!(
                            self.in_dial
                                || !((dial.patient || (self.exact && pending == 0))
                                    && self.floor > 0),
                            "R-R6b: {} cut with {pending} pending in {} (patient: {}) and {} tokens free",
                            abort.dial,
                            dial.request,
                            dial.patient,
                            self.floor
                        );
                        self.coverage.reclaims += u64::from(self.in_dial);
                        self.coverage.address_timeouts += 1;
                        self.coverage.cuts += 1;
                        self.failure(
                            dial.request,
                            &dial.addr,
                            FailReason::AdaptiveTimeout { after },
                            false,
                            now,
                        );
                    }
                    AbortReason::RequestTimeout => {
                        let deadline = self.requests.get(&dial.request).map(|r| r.deadline);
                        ensure!(
                            deadline.is_some_and(|d| now >= d),
                            "R-R6: {} aborted for a request timeout before its deadline",
                            abort.dial
                        );
                        self.failure(
                            dial.request,
                            &dial.addr,
                            FailReason::RequestTimeout,
                            false,
                            now,
                        );
                    }
                    // R-C4: aborts change nothing.
                    AbortReason::Superseded | AbortReason::Cancelled => {}
                    other => return Err(Violation(format!("unexpected output {other:?}"))),
                }
            }
            other => return Err(Violation(format!("unexpected output {other:?}"))),
        }
        Ok(())
    }

    /// End of step: requests that ended, and every table against the core.
    fn reconcile(
        &mut self,
        dialer: &Dialer<Peer>,
        now: Instant,
        results: &Outcomes,
    ) -> Result<(), Violation> {
        // Marks mirrored this step whose entry the core evicted later in the same step
        // (the model mirrors at the end of the step, not at the event's place in it).
        let clock = self.now.unwrap_or(now);
        for (peer, addr) in std::mem::take(&mut self.just_mirrored) {
            if !dialer.is_pruned(clock, &peer, &addr) {
                if let Some(e) = self.confidence.iter_mut().find(|e| e.addr == addr) {
                    e.pruned_for.retain(|(p, _)| *p != peer);
                }
            }
        }
        let ended: Vec<RequestId> = self
            .requests
            .keys()
            .copied()
            .filter(|r| !dialer.is_in_flight(*r))
            .collect();
        for (request, list) in results {
            ensure!(
                ended.contains(request),
                "{request} told {} callers it finished but is still in flight",
                list.len()
            );
        }
        for request in ended {
            let Some(req) = self.requests.remove(&request) else {
                continue;
            };
            self.owe(req.probes & !req.probed);
            // A request that timed out for a new caller (item 0) left its peer to it.
            if self.by_peer.get(&req.peer) == Some(&request) {
                self.by_peer.remove(&req.peer);
            }
            ensure!(
                req.callers.is_empty(),
                "invariant 5: {request} ended without telling {:?}",
                req.callers
            );
            ensure!(
                req.tokens == 0,
                "invariant 5: {request} ended holding {} tokens",
                req.tokens
            );
            ensure!(
                !self.dials.values().any(|d| d.request == request),
                "R-R4: {request} ended with dials still open"
            );
            let list = results.get(&request).map(Vec::as_slice).unwrap_or(&[]);
            let Some((_, first)) = list.first() else {
                // Its last caller cancelled (R-R7), told by the cancel itself.
                ensure!(
                    req.won.is_none(),
                    "R-R4: {request} was cancelled after it connected"
                );
                continue;
            };
            for (caller, result) in list {
                ensure!(
                    result == first,
                    "R-R8: {caller} got {result:?}, another caller of {request} got {first:?}"
                );
            }
            match first {
                Ok(connected) => ensure!(
                    req.won.as_ref().is_some_and(|(d, a, t, failed)| {
                        *d == connected.dial
                            && *a == connected.addr
                            && *t == connected.connect_time
                            && attempts_match(&connected.failed, failed)
                    }),
                    "R-R4: {request} completed with {connected:?}, but the winner was {:?}",
                    req.won
                ),
                Err(DialFailed::AllFailed { attempts }) => {
                    self.coverage.all_failed += 1;
                    ensure!(
                        req.won.is_none() && attempts_match(attempts, &req.attempts),
                        "R-R5: {request} lists {attempts:?}, the model saw {:?}",
                        req.attempts
                    );
                }
                Err(DialFailed::Timeout { attempts }) => {
                    self.coverage.request_timeouts += 1;
                    ensure!(
                        req.won.is_none() && now >= req.deadline,
                        "R-R6: {request} timed out before its deadline"
                    );
                    if let Some(since) = req.queued_since {
                        // R-Q1: a wait ends with Timeout only when dial_timeout came first.
                        self.coverage.wait_dial_timeouts += 1;
                        ensure!(
                            now >= Self::after(since, self.config.dial_timeout),
                            "R-Q1: waiting {request} timed out {:?} after the call, before its dial_timeout",
                            now.saturating_duration_since(since)
                        );
                    }
                    ensure!(
                        attempts_match(attempts, &req.attempts),
                        "R-R6: {request} lists {attempts:?}, the model saw {:?}",
                        req.attempts
                    );
                }
                Err(DialFailed::NoTokensInTime { waited }) => {
                    self.coverage.wait_timeouts += 1;
                    // R-Q1: only a request still waiting, at the end of max_wait and before
                    // its dial_timeout (which would make it a Timeout).
                    let Some(since) = req.queued_since else {
                        return Err(Violation(format!(
                            "R-Q1: {request} finished with {first:?} but did not wait"
                        )));
                    };
                    let max_wait = self
                        .config
                        .wait_for_tokens
                        .map_or(Duration::ZERO, |w| w.max_wait);
                    ensure!(
                        now >= Self::after(since, max_wait)
                            && now < Self::after(since, self.config.dial_timeout),
                        "R-Q1: {request} gave up waiting {:?} after the call (max_wait {max_wait:?}, dial_timeout {:?})",
                        now.saturating_duration_since(since),
                        self.config.dial_timeout
                    );
                    ensure!(
                        *waited == now.saturating_duration_since(since),
                        "R-Q1: {request} says it waited {waited:?}, it waited {:?}",
                        now.saturating_duration_since(since)
                    );
                }
                Err(other) => {
                    return Err(Violation(format!("{request} finished with {other:?}")));
                }
            }
        }
        // R-Q1, R-T8: the queue holds exactly the live waiting requests, and they wait only
        // while no token is free.
        let requests = &self.requests;
        self.queue.retain(|r| requests.contains_key(r));
        ensure!(
            self.queue
                .iter()
                .all(|r| requests.get(r).is_some_and(|q| q.queued_since.is_some())),
            "R-Q1: the model's queue holds a request that does not wait"
        );
        let waiting = dialer.stats().requests_waiting;
        ensure!(
            waiting == self.queue.len(),
            "R-Q1: {waiting} requests wait in the core, {} in the model",
            self.queue.len()
        );
        ensure!(
            self.queue.is_empty() || self.available == 0,
            "R-Q1, R-T8: {} requests wait while {} tokens are free",
            self.queue.len(),
            self.available
        );
        ensure!(
            self.requests.len() == dialer.requests_in_flight(),
            "the core has {} requests in flight, the model {}",
            dialer.requests_in_flight(),
            self.requests.len()
        );
        for req in self.requests.values() {
            ensure!(
                req.won.is_none(),
                "R-R4: a request outlived its first success"
            );
        }
        ensure!(
            self.available == dialer.tokens_available(),
            "invariant 1: the model counts {} tokens available, the core {}",
            self.available,
            dialer.tokens_available()
        );
        ensure!(
            dialer.stats().overdraft_requests == self.overdrafts,
            "R-P1: overdrafts counted {}, the model saw {}",
            dialer.stats().overdraft_requests,
            self.overdrafts
        );
        self.steps += 1;
        if self.steps.is_multiple_of(FULL_EVERY) {
            self.compare_tables(dialer, now)?;
        }
        Ok(())
    }

    /// Every learned table against the core's: confidence (R-C), the deny list (R-D) and
    /// prune marks (R-C5) of every pool address. It walks every address and peer, the
    /// dearest check by far, so it runs every [`FULL_EVERY`] steps and at the end of each
    /// input ([`Harness::finish`](crate::ops::Harness::finish)); the cheap checks above run
    /// after every step. A divergence in these tables persists (they change only on
    /// outcomes and expiries), so it is still caught, a few steps later at most.
    pub(crate) fn compare_tables(
        &self,
        dialer: &Dialer<Peer>,
        now: Instant,
    ) -> Result<(), Violation> {
        // Time never goes back, for the model as for the core.
        let now = self.now.map_or(now, |seen| seen.max(now));
        let export = dialer.export_confidence();
        ensure!(
            export == self.export(),
            "R-C: the core's confidence table {export:?}, the model's {:?}",
            self.export()
        );
        for h in &self.holes {
            ensure!(
                dialer.black_hole_state(h.class) == Some(h.state)
                    || self.holes.iter().filter(|o| o.class == h.class).count() > 1,
                "R-B4: {:?} is {:?} in the core, {:?} in the model",
                h.class,
                dialer.black_hole_state(h.class),
                h.state
            );
        }
        for addr in address_pool() {
            ensure!(
                dialer.failures(addr) == self.fails(addr),
                "R-D4: {addr} failed {} times in a row for the core, {} for the model",
                dialer.failures(addr),
                self.fails(addr)
            );
            ensure!(
                dialer.is_black_holed(addr) == self.black_holed(addr, 0),
                "R-B2: {addr} black-holed: core {}, model {}",
                dialer.is_black_holed(addr),
                self.black_holed(addr, 0)
            );
        }
        if self.exact {
            for addr in address_pool() {
                ensure!(
                    dialer.is_deny_listed(now, addr) == self.is_denied(addr, now),
                    "R-D: {addr} deny-listed: core {}, model {}",
                    dialer.is_deny_listed(now, addr),
                    self.is_denied(addr, now)
                );
                // The core answers as of the latest `now` it was given.
                let clock = self.now.unwrap_or(now);
                for peer in 0..PEERS {
                    ensure!(
                        dialer.is_pruned(clock, &peer, addr) == self.is_pruned(peer, addr, clock),
                        "R-C5: {addr} pruned for {peer}: core {}, model {}",
                        dialer.is_pruned(clock, &peer, addr),
                        self.is_pruned(peer, addr, clock)
                    );
                }
            }
        }
        Ok(())
    }

    /// R-R6, R-R6a: after `handle_timeout(now)` nothing due at `now` is left.
    fn nothing_overdue(&self, now: Instant) -> Result<(), Violation> {
        for (id, dial) in self.dials.iter() {
            ensure!(
                dial.deadline > now,
                "R-R6a: {id} is past its address timeout after handle_timeout"
            );
        }
        for (id, req) in self.requests.iter() {
            ensure!(
                req.deadline > now,
                "R-R6: {id} is past its dial timeout after handle_timeout"
            );
        }
        Ok(())
    }

    /// After the end of time: nothing in flight, every token back (invariant 5).
    pub(crate) fn finish(&self) -> Result<(), Violation> {
        ensure!(
            self.requests.is_empty() && self.dials.is_empty() && self.callers.is_empty(),
            "invariant 5: the model still has {} requests, {} dials, {} callers",
            self.requests.len(),
            self.dials.len(),
            self.callers.len()
        );
        ensure!(
            self.available == self.config.max_tokens,
            "invariant 1: {} of {} tokens came back",
            self.available,
            self.config.max_tokens
        );
        Ok(())
    }
}
