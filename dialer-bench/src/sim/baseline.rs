//! Hand-written dialing strategies on the same simulator, pool and timeouts as the core:
//! a global pool of [`MAX_TOKENS`] granting `min(requested, available)` and rejecting a
//! request that gets none; a dial ends by its answer or after 10 s; a request ends at its
//! first success, when every address failed, or after 30 s. What they do not have is
//! anything learned: no confidence, no deny list.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::population::{Outcome, Population};
use super::{Tally, Won, ADDRESS_TIMEOUT_NS, MAX_TOKENS, REQUEST_TIMEOUT_NS};

/// In which order a request dials its addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Order {
    /// As the caller gave them.
    Caller,
    /// A static rank by address class (QUIC, then TCP; IPv6 first), stable.
    Ranked,
}

#[derive(Debug, Clone)]
pub(crate) struct Strategy {
    pub(crate) order: Order,
    /// Tokens a request asks for (its parallelism); `None`: one per address.
    pub(crate) per_request: Option<usize>,
    /// Happy-eyeballs delay between a request's dials; the next starts at once when none
    /// of its dials is in flight.
    pub(crate) stagger_ns: Option<u64>,
}

/// Events, ordered within one instant as the core orders them: request deadlines first
/// (a request that times out starts nothing more), then dial deadlines, answers, stagger
/// ticks, and new requests last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    RequestTimeout(u64),
    DialTimeout(u64),
    Answer { dial: u64, connected: bool },
    Stagger { request: u64, at: u64 },
    Arrival(usize),
}

struct Request {
    round: u8,
    arrival_ns: u64,
    order: Vec<u32>,
    next: usize,
    in_flight: Vec<u64>,
    tokens: usize,
    stagger_at: Option<u64>,
    first: Option<u64>,
    first_connects: bool,
    dials: u64,
}

struct Dial {
    request: u64,
}

struct Engine<'a> {
    pop: &'a Population,
    strategy: &'a Strategy,
    queue: BinaryHeap<Reverse<(u64, Ev)>>,
    requests: HashMap<u64, Request>,
    dials: HashMap<u64, Dial>,
    available: usize,
    next_id: u64,
    tally: Tally,
}

impl Engine<'_> {
    fn push(&mut self, at: u64, ev: Ev) {
        self.queue.push(Reverse((at, ev)));
    }

    fn arrive(&mut self, now: u64, index: usize) {
        let a = self.pop.arrivals[index];
        self.tally.request(a.round);
        let mut order = self.pop.peers[a.peer as usize].clone();
        if let Order::Ranked = self.strategy.order {
            order.sort_by_key(|&i| self.pop.addrs[i as usize].class);
        }
        let wanted = self
            .strategy
            .per_request
            .unwrap_or(order.len())
            .min(order.len());
        let granted = wanted.min(self.available);
        if granted == 0 {
            self.tally.rejected(a.round);
            return;
        }
        self.available -= granted;
        self.next_id += 1;
        let id = self.next_id;
        self.requests.insert(
            id,
            Request {
                round: a.round,
                arrival_ns: now,
                order,
                next: 0,
                in_flight: Vec::new(),
                tokens: granted,
                stagger_at: None,
                first: None,
                first_connects: false,
                dials: 0,
            },
        );
        self.push(now + REQUEST_TIMEOUT_NS, Ev::RequestTimeout(id));
        self.pump(now, id);
    }

    /// Starts what the request's tokens and stagger allow, gives back tokens it can no
    /// longer use, and fails it when nothing is left.
    fn pump(&mut self, now: u64, id: u64) {
        let Some(req) = self.requests.get_mut(&id) else {
            return;
        };
        let mut started = Vec::new();
        while req.in_flight.len() < req.tokens && req.next < req.order.len() {
            if !req.in_flight.is_empty() && req.stagger_at.is_some() {
                break;
            }
            let addr = req.order[req.next];
            req.next += 1;
            self.next_id += 1;
            let dial = self.next_id;
            req.in_flight.push(dial);
            req.dials += 1;
            if req.first.is_none() {
                req.first = Some(dial);
                req.first_connects =
                    matches!(self.pop.outcome(addr, req.round), Outcome::Connect(_));
            }
            started.push((dial, addr, req.round));
            if let Some(stagger) = self.strategy.stagger_ns {
                if req.next < req.order.len() {
                    req.stagger_at = Some(now + stagger);
                }
            }
        }
        let needed = req.in_flight.len() + (req.order.len() - req.next);
        if req.tokens > needed {
            self.available += req.tokens - needed;
            req.tokens = needed;
        }
        let done = needed == 0;
        let stagger = req.stagger_at;
        let round = req.round;
        if let Some(at) = stagger {
            if started.is_empty() {
                // Nothing new: the tick already queued stands.
            } else {
                self.push(at, Ev::Stagger { request: id, at });
            }
        }
        for (dial, addr, round) in started {
            self.tally.dial(round);
            self.dials.insert(dial, Dial { request: id });
            self.push(now + ADDRESS_TIMEOUT_NS, Ev::DialTimeout(dial));
            match self.pop.outcome(addr, round) {
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
        if done {
            self.finish(id, None, round);
        }
    }

    /// Ends a request: drops its dials (the aborts), returns its tokens, records it.
    fn finish(&mut self, id: u64, success: Option<(u64, u64)>, round: u8) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        for dial in &req.in_flight {
            self.dials.remove(dial);
        }
        self.available += req.tokens;
        match success {
            Some((now, dial)) => {
                let won = Won::of(dial, req.first, req.first_connects);
                self.tally
                    .succeeded(round, now - req.arrival_ns, won, req.dials);
            }
            None => self.tally.failed(round),
        }
    }

    /// A dial ended without a connection (refused or timed out): its token moves on.
    fn dial_failed(&mut self, now: u64, dial: u64) {
        let Some(d) = self.dials.remove(&dial) else {
            return;
        };
        if let Some(req) = self.requests.get_mut(&d.request) {
            req.in_flight.retain(|x| *x != dial);
        }
        self.pump(now, d.request);
    }

    fn step(&mut self, now: u64, ev: Ev) {
        match ev {
            Ev::Arrival(index) => self.arrive(now, index),
            Ev::RequestTimeout(id) => {
                if let Some(round) = self.requests.get(&id).map(|r| r.round) {
                    self.finish(id, None, round);
                }
            }
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
                    let round = self.requests.get(&d.request).map_or(0, |r| r.round);
                    if let Some(req) = self.requests.get_mut(&d.request) {
                        req.in_flight.retain(|x| *x != dial);
                    }
                    self.finish(d.request, Some((now, dial)), round);
                }
            }
            Ev::Stagger { request, at } => {
                let Some(req) = self.requests.get_mut(&request) else {
                    return;
                };
                if req.stagger_at == Some(at) {
                    req.stagger_at = None;
                    self.pump(now, request);
                }
            }
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
        available: MAX_TOKENS,
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
    assert_eq!(engine.available, MAX_TOKENS, "every token comes back");
    engine.tally
}
