//! Models of other dialers on the simulator: go-libp2p, rust-libp2p, js-libp2p, and the
//! seed's token dialer written by hand (the cross-check of the core run). One engine,
//! configured per strategy ([`Strategy`]): the order and delays of a request's dials, how
//! many it has in flight, a global limit that refuses (a token pool) or queues (FIFO),
//! per-address and per-request timeouts, and go's backoff and black-hole detectors.
//! Which source every number comes from is in `sim/mod.rs`, beside each strategy.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use super::population::{Attempts, Class, Outcome, Population, SequentialDial, Target};
use super::{Tally, Won};

/// In which order, and with which delays, a request dials its addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Order {
    /// As the caller gave them, all at once (as far as `per_request` allows).
    Caller,
    /// As the caller gave them, relayed addresses after the direct ones.
    CallerRelayLast,
    /// go-libp2p's DefaultDialRanker (`p2p/net/swarm/dial_ranker.go`): ranked, each
    /// address with a delay from the request's start; a request with no dial in flight
    /// dials its next batch at once (`dial_worker.go`).
    GoRanker,
}

/// Admission of a request: the global limit on requests' dials.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Admission {
    /// No global limit (each request still has `per_request`).
    Unlimited,
    /// A pool of tokens; a request takes `min(per_request, its addresses, available)` and
    /// keeps them until it ends (giving back what it can no longer use). A request that
    /// gets none waits in a FIFO queue of at most `queue` requests, or is rejected when
    /// the queue is full or absent (`None`: refused at once, as the seed's NoTokens).
    Pool { tokens: usize, queue: Option<usize> },
}

/// How a model reaches a peer's names (`/dns4/…`, `/dns/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameModel {
    /// rust-libp2p: the swarm dials a name as one address, like any other (within
    /// `per_request`); the DNS transport (`transports/dns/src/lib.rs`) resolves it inside
    /// that dial and tries the answers one at a time, last answer first, until one
    /// connects. `per_ip_timeout_ns`: `None` bounds the whole name dial by
    /// `address_timeout_ns` (a `TransportTimeout` around the DNS transport, as
    /// `SwarmBuilder::build` sets), so an address that hangs ends the name there; `Some`
    /// gives each resolved address its own timeout (a `TransportTimeout` inside the DNS
    /// transport) and the name dial none.
    InTransport { per_ip_timeout_ns: Option<u64> },
    /// go-libp2p: every name is resolved before anything is dialed (`swarm_dial.go`
    /// `addrsForDial` → `resolveAddrs`, one name after the other), and the answers join
    /// the peer's addresses, ranked, backed off and black-hole-filtered like them.
    BeforeRanking,
}

/// go-libp2p's black-hole detector for one class (`black_hole_detector.go`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlackHoleModel {
    pub(crate) window: usize,
    pub(crate) min_successes: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Strategy {
    pub(crate) order: Order,
    /// Most dials a request has in flight (or waiting for a dial slot) at once.
    pub(crate) per_request: usize,
    pub(crate) admission: Admission,
    /// Most dials in flight over non-relayed addresses, over all requests; further dials
    /// wait in a FIFO queue (go's file-descriptor limiter).
    pub(crate) fd_limit: Option<usize>,
    /// Time a dial gets, from the moment it really starts (after any wait for a slot).
    pub(crate) address_timeout_ns: u64,
    /// Time a request gets, from its arrival (any wait included); `None`: no limit.
    pub(crate) request_timeout_ns: Option<u64>,
    /// go-libp2p's per-address backoff (`swarm_dial.go`): after a failed dial an address
    /// is skipped for `5 s + 1 s × tries²` (at most 5 min); a connection clears the peer.
    pub(crate) go_backoff: bool,
    /// go-libp2p's UDP and IPv6 black-hole detectors.
    pub(crate) black_holes: Option<BlackHoleModel>,
    /// How names are reached; `None`: the model has none, and runs in no world with names.
    pub(crate) names: Option<NameModel>,
}

/// Events, ordered within one instant as the core orders them: request deadlines first
/// (a request that times out starts nothing more), then dial deadlines, answers, delay
/// ticks, and new requests last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    RequestTimeout(u64),
    DialTimeout(u64),
    Answer {
        dial: u64,
        connected: bool,
    },
    Tick {
        request: u64,
        at: u64,
    },
    /// go: the names of arrival `usize` are resolved; the request can rank and dial.
    Resolved(usize),
    Arrival(usize),
}

struct Request {
    peer: u32,
    round: u8,
    reachable: bool,
    arrival_ns: u64,
    /// When it ranked its addresses (after go resolved its names): the delays count from
    /// here.
    ranked_ns: u64,
    /// Addresses (and names, for rust) with their delay from the request's start, in
    /// dial order.
    order: Vec<(Target, u64)>,
    next: usize,
    /// Dials started or waiting for a slot.
    in_flight: Vec<u64>,
    /// Most dials at once: the tokens held (pool) or `per_request`.
    tokens: usize,
    /// Waiting in the admission queue.
    waiting: bool,
    tick_at: Option<u64>,
    first: Option<u64>,
    first_connects: bool,
    dials: u64,
}

struct Dial {
    request: u64,
    target: Target,
    /// A name dialed by rust's DNS transport: its walk over the answers, and when it
    /// started (its sockets are counted when it ends).
    walk: Option<(SequentialDial, u64)>,
    /// On the network (not waiting for a slot).
    started: bool,
    /// Holds (or waits for) a slot of the fd limit.
    fd: bool,
}

/// One go black-hole detector: the outcomes of the last `window` dials of its class.
#[derive(Debug, Default)]
struct Detector {
    results: VecDeque<bool>,
    successes: usize,
    requests: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum DetectorState {
    Probing,
    Allowed,
    Blocked,
}

impl Detector {
    fn state(&self, m: BlackHoleModel) -> DetectorState {
        if self.results.len() < m.window {
            DetectorState::Probing
        } else if self.successes >= m.min_successes {
            DetectorState::Allowed
        } else {
            DetectorState::Blocked
        }
    }

    /// A request with addresses of this class: may it dial them? When blocked, one
    /// request in `window` does, as a probe.
    fn allows(&mut self, m: BlackHoleModel) -> bool {
        self.requests += 1;
        match self.state(m) {
            DetectorState::Allowed | DetectorState::Probing => true,
            DetectorState::Blocked => self.requests.is_multiple_of(m.window as u64),
        }
    }

    fn record(&mut self, m: BlackHoleModel, success: bool) {
        if success && self.state(m) == DetectorState::Blocked {
            // A success while blocked: the class works again; start over.
            *self = Detector::default();
            return;
        }
        self.results.push_back(success);
        self.successes += usize::from(success);
        if self.results.len() > m.window && self.results.pop_front() == Some(true) {
            self.successes -= 1;
        }
    }
}

const MS: u64 = 1_000_000;
/// `dial_ranker.go`: PublicQUICDelay, PublicTCPDelay, RelayDelay.
const GO_QUIC_DELAY: u64 = 250 * MS;
const GO_TCP_DELAY: u64 = 250 * MS;
const GO_RELAY_DELAY: u64 = 500 * MS;
/// `swarm_dial.go`: BackoffBase, BackoffCoef, BackoffMax.
const GO_BACKOFF_BASE: u64 = 5_000 * MS;
const GO_BACKOFF_COEF: u64 = 1_000 * MS;
const GO_BACKOFF_MAX: u64 = 300_000 * MS;

/// go's ranking of one group (public or relayed), written from the description in
/// `dial_ranker.go`: sort by (QUIC6, QUIC4, TCP6, TCP4; lowest port), move the first
/// IPv4 QUIC (TCP) address second when the first is IPv6 (happy eyeballs), then the first
/// QUIC address at 0, the second at 250 ms, the rest at 500 ms (250 ms without happy
/// eyeballs); TCP the same, shifted by the last QUIC delay + 250 ms.
fn go_group(pop: &Population, mut group: Vec<u32>, offset: u64) -> Vec<(u32, u64)> {
    if group.is_empty() {
        return Vec::new();
    }
    let class = |a: u32| pop.addrs[a as usize].class;
    let quic = |a: u32| class(a).quic();
    let ip6 = |a: u32| class(a).ip6();
    group.sort_by_key(|&a| {
        let c = class(a);
        // A relayed address runs over IPv4 TCP: it ranks as one within its group.
        let rank = if c == Class::Relay { Class::Tcp4 } else { c };
        (rank, pop.addrs[a as usize].port)
    });
    let n = group.len();
    let mut he_quic = false;
    let mut he_tcp = false;
    if quic(group[0]) && ip6(group[0]) {
        if let Some(j) = (1..n).find(|&j| quic(group[j]) && !ip6(group[j])) {
            group[1..=j].rotate_right(1);
            he_quic = true;
        }
    }
    let tcp_start = (0..n).find(|&k| !quic(group[k])).unwrap_or(n);
    if tcp_start < n && ip6(group[tcp_start]) {
        if let Some(j) = (tcp_start + 1..n).find(|&j| !quic(group[j]) && !ip6(group[j])) {
            group[tcp_start + 1..=j].rotate_right(1);
            he_tcp = true;
        }
    }
    let mut tcp_first = 0;
    group
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let delay = if quic(a) {
                let d = match i {
                    0 => 0,
                    1 => GO_QUIC_DELAY,
                    _ if he_quic => 2 * GO_QUIC_DELAY,
                    _ => GO_QUIC_DELAY,
                };
                tcp_first = d + GO_TCP_DELAY;
                d
            } else {
                let d = if i <= tcp_start {
                    0
                } else if i == tcp_start + 1 || !he_tcp {
                    GO_TCP_DELAY
                } else {
                    2 * GO_TCP_DELAY
                };
                d + tcp_first
            };
            (a, offset + delay)
        })
        .collect()
}

fn go_ranked(pop: &Population, addrs: &[u32]) -> Vec<(u32, u64)> {
    let (relayed, public): (Vec<u32>, Vec<u32>) = addrs
        .iter()
        .partition(|&&a| pop.addrs[a as usize].class.relay());
    let relay_offset = if public.is_empty() { 0 } else { GO_RELAY_DELAY };
    let mut out = go_group(pop, public, 0);
    out.extend(go_group(pop, relayed, relay_offset));
    out.sort_by_key(|&(_, d)| d);
    out
}

struct Engine<'a> {
    pop: &'a Population,
    strategy: &'a Strategy,
    queue: BinaryHeap<Reverse<(u64, Ev)>>,
    requests: HashMap<u64, Request>,
    dials: HashMap<u64, Dial>,
    /// Pool tokens free.
    available: usize,
    /// Requests waiting for tokens (ids; ended ones are skipped).
    admission_queue: VecDeque<u64>,
    waiting: usize,
    /// Requests to pump once the current event is handled (admitted from the queue).
    to_pump: Vec<u64>,
    fd_in_use: usize,
    fd_queue: VecDeque<u64>,
    /// Dials on the network.
    in_net: usize,
    backoff: HashMap<u32, (u64, u64)>,
    detectors: [Detector; 2],
    attempts: Attempts,
    next_id: u64,
    tally: Tally,
}

impl Engine<'_> {
    fn push(&mut self, at: u64, ev: Ev) {
        self.queue.push(Reverse((at, ev)));
    }

    fn pool_tokens(&self) -> Option<usize> {
        match self.strategy.admission {
            Admission::Pool { tokens, .. } => Some(tokens),
            Admission::Unlimited => None,
        }
    }

    /// A request arrives: go resolves its names first (their lookups one after the
    /// other, `resolveAddrs`; Go's resolver asks A and AAAA of a `/dns` name at once), the
    /// others start at once.
    fn arrive(&mut self, now: u64, index: usize) {
        let a = self.pop.arrivals[index];
        let names = &self.pop.peer_names[a.peer as usize];
        if names.is_empty() {
            return self.admit(now, index);
        }
        match self.strategy.names {
            Some(NameModel::BeforeRanking) => {
                let resolving: u64 = names
                    .iter()
                    .map(|&n| {
                        let a4 = self.pop.lookup(n, a.round, false).after_ns;
                        if self.pop.names[n as usize].any {
                            a4.max(self.pop.lookup(n, a.round, true).after_ns)
                        } else {
                            a4
                        }
                    })
                    .sum();
                self.push(now + resolving, Ev::Resolved(index));
            }
            Some(NameModel::InTransport { .. }) => self.admit(now, index),
            None => panic!("a model without names runs in a world with names"),
        }
    }

    /// The request (arrived at `arrivals[index].at_ns`) ranks what it can dial and asks
    /// for admission.
    fn admit(&mut self, now: u64, index: usize) {
        let a = self.pop.arrivals[index];
        let arrival_ns = a.at_ns;
        let reachable = self.pop.reachable(a.peer, a.round);
        let list = &self.pop.peers[a.peer as usize];
        let mut order: Vec<(Target, u64)> = match self.strategy.order {
            Order::Caller => self.pop.targets(a.peer).map(|x| (x, 0)).collect(),
            Order::CallerRelayLast => {
                let mut v: Vec<(Target, u64)> = self.pop.targets(a.peer).map(|x| (x, 0)).collect();
                v.sort_by_key(|&(x, _)| match x {
                    Target::Addr(x) => self.pop.addrs[x as usize].class.relay(),
                    Target::Name(_) => false,
                });
                v
            }
            Order::GoRanker => {
                // The names' answers join the addresses; `resolveAddrs` pops its work
                // list from the end, so a name's answers come last answer first (which
                // orders them among themselves: they share a class and a port).
                let mut all = list.clone();
                for &n in &self.pop.peer_names[a.peer as usize] {
                    let mut ips = self.pop.lookup(n, a.round, false).ips;
                    ips.reverse();
                    all.extend(ips);
                }
                go_ranked(self.pop, &all)
                    .into_iter()
                    .map(|(x, d)| (Target::Addr(x), d))
                    .collect()
            }
        };
        let class_of = |x: Target| match x {
            Target::Addr(x) => Some(self.pop.addrs[x as usize].class),
            Target::Name(_) => None,
        };
        if let Some(m) = self.strategy.black_holes {
            // `filterKnownUndialables`: a blocked class's addresses are left out.
            let classes: [fn(Class) -> bool; 2] = [Class::udp, Class::ip6];
            for (det, in_class) in self.detectors.iter_mut().zip(classes) {
                let has = order
                    .iter()
                    .any(|&(x, _)| class_of(x).is_some_and(in_class));
                if has && !det.allows(m) {
                    order.retain(|&(x, _)| !class_of(x).is_some_and(in_class));
                }
            }
        }
        if self.strategy.go_backoff {
            order.retain(|&(x, _)| match x {
                Target::Addr(x) => self.backoff.get(&x).is_none_or(|&(_, until)| until <= now),
                Target::Name(_) => true,
            });
        }
        if order.is_empty() {
            // Nothing left to dial (backed off, black-holed): a failure, not a rejection.
            self.tally.failed(a.round, reachable, 0);
            return;
        }
        let wanted = self.strategy.per_request.min(order.len());
        let (tokens, waiting) = match self.strategy.admission {
            Admission::Unlimited => (wanted, false),
            Admission::Pool { queue, .. } => {
                let granted = wanted.min(self.available);
                if granted > 0 {
                    self.available -= granted;
                    (granted, false)
                } else if queue.is_some_and(|depth| self.waiting < depth) {
                    (0, true)
                } else {
                    self.tally.rejected(a.round, reachable, 0);
                    return;
                }
            }
        };
        self.next_id += 1;
        let id = self.next_id;
        if waiting {
            self.admission_queue.push_back(id);
            self.waiting += 1;
        }
        self.requests.insert(
            id,
            Request {
                peer: a.peer,
                round: a.round,
                reachable,
                arrival_ns,
                ranked_ns: now,
                order,
                next: 0,
                in_flight: Vec::new(),
                tokens,
                waiting,
                tick_at: None,
                first: None,
                first_connects: false,
                dials: 0,
            },
        );
        if let Some(t) = self.strategy.request_timeout_ns {
            self.push(arrival_ns + t, Ev::RequestTimeout(id));
        }
        self.pump(now, id);
    }

    /// Starts what the request's limit and delays allow, gives back tokens it can no
    /// longer use, and fails it when nothing is left.
    fn pump(&mut self, now: u64, id: u64) {
        let pooled = self.pool_tokens().is_some();
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        if req.waiting {
            return;
        }
        let mut elapsed = now - req.ranked_ns;
        let mut new = Vec::new();
        while req.in_flight.len() < req.tokens && req.next < req.order.len() {
            let (target, delay) = req.order[req.next];
            if delay > elapsed {
                if !req.in_flight.is_empty() || !new.is_empty() {
                    break;
                }
                // Nothing in flight: the next batch goes at once.
                elapsed = delay;
            }
            req.next += 1;
            self.next_id += 1;
            let dial = self.next_id;
            req.in_flight.push(dial);
            new.push((dial, target));
        }
        if req.next < req.order.len() && req.in_flight.len() < req.tokens {
            let at = req.ranked_ns + req.order[req.next].1;
            if at > now && req.tick_at != Some(at) {
                req.tick_at = Some(at);
                self.queue.push(Reverse((at, Ev::Tick { request: id, at })));
            }
        }
        let needed = req.in_flight.len() + (req.order.len() - req.next);
        let mut surplus = 0;
        if pooled && req.tokens > needed {
            surplus = req.tokens - needed;
            req.tokens = needed;
        }
        let done = needed == 0;
        for (dial, target) in new {
            self.start_dial(now, id, dial, target);
        }
        self.release_tokens(surplus);
        if done {
            self.finish(now, id, None);
        }
    }

    fn start_dial(&mut self, now: u64, request: u64, dial: u64, target: Target) {
        let fd = self.strategy.fd_limit.is_some()
            && match target {
                Target::Addr(addr) => !self.pop.addrs[addr as usize].class.relay(),
                Target::Name(_) => true,
            };
        self.dials.insert(
            dial,
            Dial {
                request,
                target,
                walk: None,
                started: false,
                fd,
            },
        );
        if fd {
            if self.strategy.fd_limit.is_some_and(|l| self.fd_in_use >= l) {
                self.fd_queue.push_back(dial);
                return;
            }
            self.fd_in_use += 1;
        }
        self.launch(now, dial);
    }

    /// Puts a dial on the network.
    fn launch(&mut self, now: u64, dial: u64) {
        let Some(d) = self.dials.get_mut(&dial) else {
            return;
        };
        let Some(req) = self.requests.get_mut(&d.request) else {
            unreachable!("a dial outlived its request");
        };
        d.started = true;
        let round = req.round;
        let mut timeout = Some(self.strategy.address_timeout_ns);
        let outcome = match d.target {
            Target::Addr(addr) => {
                let attempt = self.attempts.next(addr, round);
                req.dials += 1;
                self.pop.outcome(addr, round, attempt)
            }
            Target::Name(name) => {
                let Some(NameModel::InTransport { per_ip_timeout_ns }) = self.strategy.names else {
                    unreachable!("only rust's DNS transport dials a name");
                };
                // libp2p-dns: `unresolved.pop()` takes the last answer first; hickory's
                // default `Ipv4thenIpv6` asks A alone for a name with A records.
                let walk = self.pop.sequential_name_dial(
                    name,
                    round,
                    &mut self.attempts,
                    true,
                    false,
                    per_ip_timeout_ns,
                );
                if per_ip_timeout_ns.is_some() {
                    timeout = None;
                }
                let outcome = walk.outcome;
                d.walk = Some((walk, now));
                outcome
            }
        };
        if req.first.is_none() {
            req.first = Some(dial);
            req.first_connects = matches!(outcome, Outcome::Connect(_));
        }
        self.in_net += 1;
        self.tally.in_flight(self.in_net);
        if let Some(t) = timeout {
            self.push(now + t, Ev::DialTimeout(dial));
        }
        match outcome {
            Outcome::Connect(ns) => self.push(
                now + ns,
                Ev::Answer {
                    dial,
                    connected: true,
                },
            ),
            Outcome::Refuse(ns) => self.push(
                now + ns,
                Ev::Answer {
                    dial,
                    connected: false,
                },
            ),
            Outcome::Hang => {}
        }
    }

    /// A dial leaves the network (answered, timed out or aborted): its fd slot goes to the
    /// next dial waiting, and go's detectors hear of it.
    fn leave_network(&mut self, now: u64, d: &Dial, success: bool) {
        debug_assert!(d.started);
        self.in_net -= 1;
        if let (Some(m), Target::Addr(addr)) = (self.strategy.black_holes, d.target) {
            let class = self.pop.addrs[addr as usize].class;
            if class.udp() {
                self.detectors[0].record(m, success);
            }
            if class.ip6() {
                self.detectors[1].record(m, success);
            }
        }
        // A name's walk: the sockets it opened by now are its request's dials.
        if let Some((walk, started)) = &d.walk {
            if let Some(req) = self.requests.get_mut(&d.request) {
                req.dials += walk.attempts_by(now - started);
            }
        }
        if d.fd {
            self.fd_in_use -= 1;
            while let Some(next) = self.fd_queue.pop_front() {
                if self.dials.get(&next).is_some_and(|d| !d.started) {
                    self.fd_in_use += 1;
                    self.launch(now, next);
                    break;
                }
            }
        }
    }

    fn release_tokens(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.available += n;
        while self.available > 0 {
            let Some(id) = self.admission_queue.pop_front() else {
                break;
            };
            let available = self.available;
            let per_request = self.strategy.per_request;
            let Some(req) = self.requests.get_mut(&id) else {
                continue;
            };
            if !req.waiting {
                continue;
            }
            self.waiting -= 1;
            let granted = per_request.min(req.order.len()).min(available);
            req.waiting = false;
            req.tokens = granted;
            self.available -= granted;
            self.to_pump.push(id);
        }
    }

    /// Ends a request: drops its dials (the aborts), returns its tokens, records it.
    fn finish(&mut self, now: u64, id: u64, success: Option<u64>) {
        let Some(mut req) = self.requests.remove(&id) else {
            return;
        };
        // All of them off the books first, so that a freed fd slot cannot go to one of
        // this request's own queued dials.
        let aborted: Vec<Dial> = req
            .in_flight
            .iter()
            .filter_map(|dial| self.dials.remove(dial))
            .filter(|d| d.started)
            .collect();
        for d in &aborted {
            if let Some((walk, started)) = &d.walk {
                req.dials += walk.attempts_by(now - started);
            }
            // go counts a dial aborted because a sibling won as a failure.
            self.leave_network(now, d, false);
        }
        if req.waiting {
            self.waiting -= 1;
        }
        if self.pool_tokens().is_some() {
            self.release_tokens(req.tokens);
        }
        match success {
            Some(dial) => {
                let won = Won::of(dial, req.first, req.first_connects);
                self.tally
                    .succeeded(req.round, now - req.arrival_ns, won, req.dials);
            }
            None => self.tally.failed(req.round, req.reachable, req.dials),
        }
    }

    /// A dial ended without a connection (refused or timed out): the request moves on.
    fn dial_failed(&mut self, now: u64, dial: u64) {
        let Some(d) = self.dials.remove(&dial) else {
            return;
        };
        self.leave_network(now, &d, false);
        if let (true, Target::Addr(addr)) = (self.strategy.go_backoff, d.target) {
            let entry = self.backoff.entry(addr).or_insert((0, 0));
            let tries = entry.0;
            let wait = (GO_BACKOFF_BASE + GO_BACKOFF_COEF * tries * tries).min(GO_BACKOFF_MAX);
            *entry = (tries + 1, now + wait);
        }
        if let Some(req) = self.requests.get_mut(&d.request) {
            req.in_flight.retain(|x| *x != dial);
        }
        self.pump(now, d.request);
    }

    fn step(&mut self, now: u64, ev: Ev) {
        match ev {
            Ev::Arrival(index) => self.arrive(now, index),
            Ev::Resolved(index) => self.admit(now, index),
            Ev::RequestTimeout(id) => self.finish(now, id, None),
            Ev::DialTimeout(dial) => self.dial_failed(now, dial),
            Ev::Answer {
                dial,
                connected: false,
            } => self.dial_failed(now, dial),
            Ev::Answer {
                dial,
                connected: true,
            } => {
                if let Some(d) = self.dials.remove(&dial) {
                    self.leave_network(now, &d, true);
                    if let Some(req) = self.requests.get_mut(&d.request) {
                        req.in_flight.retain(|x| *x != dial);
                        if self.strategy.go_backoff {
                            let peer = req.peer as usize;
                            for a in &self.pop.peers[peer] {
                                self.backoff.remove(a);
                            }
                            for &n in &self.pop.peer_names[peer] {
                                for a in &self.pop.names[n as usize].ips {
                                    self.backoff.remove(a);
                                }
                            }
                        }
                    }
                    self.finish(now, d.request, Some(dial));
                }
            }
            Ev::Tick { request, at } => {
                let Some(req) = self.requests.get_mut(&request) else {
                    return;
                };
                if req.tick_at == Some(at) {
                    req.tick_at = None;
                    self.pump(now, request);
                }
            }
        }
        while let Some(id) = self.to_pump.pop() {
            self.pump(now, id);
        }
    }
}

pub(super) fn run(pop: &Population, strategy: &Strategy) -> Tally {
    let mut engine = Engine {
        pop,
        strategy,
        queue: BinaryHeap::new(),
        requests: HashMap::new(),
        dials: HashMap::new(),
        available: match strategy.admission {
            Admission::Pool { tokens, .. } => tokens,
            Admission::Unlimited => 0,
        },
        admission_queue: VecDeque::new(),
        waiting: 0,
        to_pump: Vec::new(),
        fd_in_use: 0,
        fd_queue: VecDeque::new(),
        in_net: 0,
        backoff: HashMap::new(),
        detectors: [Detector::default(), Detector::default()],
        attempts: Attempts::new(pop),
        next_id: 0,
        tally: Tally::default(),
    };
    for (index, a) in pop.arrivals.iter().enumerate() {
        engine.push(a.at_ns, Ev::Arrival(index));
    }
    // Each arrival and each dial queues a bounded number of events.
    let max_steps = 100 * pop.arrivals.len() + 1_000;
    let mut steps = 0usize;
    while let Some(Reverse((now, ev))) = engine.queue.pop() {
        steps += 1;
        assert!(steps <= max_steps, "simulation did not settle");
        engine.step(now, ev);
    }
    assert!(engine.requests.is_empty(), "every request ends");
    assert!(engine.dials.is_empty(), "every dial ends");
    assert_eq!(engine.in_net, 0, "every dial leaves the network");
    assert_eq!(engine.fd_in_use, 0, "every fd slot comes back");
    assert_eq!(engine.waiting, 0, "every queued request leaves the queue");
    if let Admission::Pool { tokens, .. } = strategy.admission {
        assert_eq!(engine.available, tokens, "every token comes back");
    }
    let t = &engine.tally;
    assert_eq!(
        t.round1.requests + t.later.requests,
        pop.arrivals.len() as u64,
        "every request is counted once"
    );
    engine.tally
}
