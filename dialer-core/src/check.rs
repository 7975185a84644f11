//! The SPEC's invariants as one reusable checker (feature `invariants`).
//!
//! Property tests and fuzz targets drive a [`Dialer`] through a [`Monitor`]: after every
//! input, [`Monitor::drain`] empties all outputs and checks
//!
//! 1. token conservation: in use + available == pool size, and the sum of tokens held by
//!    live requests equals the tokens in use, and equals what the `RequestTokens` and
//!    `Release` events add up to;
//! 2. per request: every dial in flight is its request's, and its address one the request
//!    has reached; dials in flight ≤ tokens held ≤ `max_per_peer_dials` (1 for an
//!    overdraft), tokens ≤ addresses, addresses ≤ `max_addrs_per_request`; tokens ≤ dials
//!    in flight + addresses left (R-T7), and without a stagger or a head start no token
//!    idles while an address waits (R-R3); a request waiting for tokens (R-Q1) holds
//!    none and dials nothing, at most `queue` wait, and only while the pool is empty;
//! 3. every `StartDial` ends exactly once (a report the core accepted, or an `AbortDial`):
//!    the monitor's set of open dials equals the core's after every drain, and a report
//!    is accepted exactly when the monitor has the dial open ([`Monitor::reported`]);
//! 4. no `StartDial` for a request that already ended or is past its `dial_timeout`, nor
//!    for an address that is deny-listed (other than one that failed by timeout later in
//!    the same step, or one of a request that ignores the deny list, R-D7), nor for a
//!    public address of a black-holed class (other than a probe's, R-B2, one of a request
//!    that ignores black holes, R-D7, or one whose class was blocked in the same step);
//! 5. every caller gets exactly one `Finished`; an ended request holds no token; every
//!    live request has a live deadline, so it ends ([`Monitor::finish`] checks that none
//!    is left after time runs out);
//! 6. confidence within 0..=10;
//! 7. tables within their caps (confidence, deny list) and timer queues bounded by their
//!    live entries; the black-hole windows and the connect-time histogram consistent;
//!    every dial's deadline within `address_timeout` of its start, and an adaptive one
//!    (R-R6b) no shorter than `syn_retry`; the earliest timer the core remembers for
//!    `poll_timeout` is, while it is live, the earliest live timer of every queue;
//!
//! 8. names (R-N1 … R-N4): every `Resolve` ends exactly once (a report the core accepted,
//!    or an `AbortResolve`), only for a live request; a request's count of live lookups
//!    matches the lookups in flight; no dial targets an unspecified, multicast or
//!    broadcast address, nor one the address filter refuses (R-R10);
//!
//! plus the drive-loop rule of `docs/design.md`: after `handle_timeout(t)` the next deadline is
//! later than `t` ([`Monitor::after_timeout`]).

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use multiaddr::Multiaddr;

use crate::names::NameAction;
use crate::output::{AbortReason, Action, Event};

// The checker runs after every step of every fuzz input: SipHash was a fifth of a fuzz
// execution. These tables hold ids and addresses the checker made itself, so a fast hash
// is enough (foldhash, as the core's own maps).
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;
use crate::{CallerId, DialId, Dialer, RequestId, ResolveId};

/// A broken invariant, with a description of what broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($fmt)+)));
        }
    };
}

/// Everything one drain produced, in order, for the harness to act on.
#[derive(Debug)]
pub struct Drained<P> {
    /// Actions, in the order the core emitted them.
    pub actions: Vec<Action<P>>,
    /// Name actions (R-N1), in the order the core emitted them.
    pub name_actions: Vec<NameAction<P>>,
    /// Events, in the order the core emitted them.
    pub events: Vec<Event<P>>,
}

/// Watches a dialer's output streams and checks the SPEC's invariants after every step.
#[derive(Debug)]
pub struct Monitor<P> {
    open: HashMap<DialId, (RequestId, Multiaddr)>,
    ended_dials: HashSet<DialId>,
    open_resolves: HashMap<ResolveId, RequestId>,
    ended_resolves: HashSet<ResolveId>,
    live_requests: HashSet<RequestId>,
    ended_requests: HashSet<RequestId>,
    tokens_held: HashMap<RequestId, usize>,
    deadlines: HashMap<RequestId, Instant>,
    /// Live requests that ignore the deny list (R-D7): they may dial deny-listed addresses.
    ignore_deny: HashSet<RequestId>,
    callers_finished: HashSet<CallerId>,
    callers_issued: HashSet<CallerId>,
    _peer: std::marker::PhantomData<P>,
}

impl<P> Default for Monitor<P> {
    fn default() -> Self {
        Self {
            open: HashMap::default(),
            ended_dials: HashSet::default(),
            open_resolves: HashMap::default(),
            ended_resolves: HashSet::default(),
            live_requests: HashSet::default(),
            ended_requests: HashSet::default(),
            tokens_held: HashMap::default(),
            deadlines: HashMap::default(),
            ignore_deny: HashSet::default(),
            callers_finished: HashSet::default(),
            callers_issued: HashSet::default(),
            _peer: std::marker::PhantomData,
        }
    }
}

impl<P: Clone + Eq + Hash + Debug> Monitor<P> {
    /// A monitor for a fresh dialer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a caller id returned by [`Dialer::dial`].
    pub fn issued(&mut self, caller: CallerId) -> Result<(), Violation> {
        ensure!(
            self.callers_issued.insert(caller),
            "caller {caller} issued twice"
        );
        Ok(())
    }

    /// Records a report the harness made, and whether the core accepted it (`Ok`).
    /// Invariant 3: accepted exactly when the dial was open.
    pub fn reported(&mut self, dial: DialId, accepted: bool) -> Result<(), Violation> {
        let was_open = self.open.remove(&dial).is_some();
        ensure!(
            was_open == accepted,
            "report for {dial}: open={was_open} but core accepted={accepted}"
        );
        if accepted {
            self.ended_dials.insert(dial);
        }
        Ok(())
    }

    /// Records a resolution report the harness made, and whether the core accepted it.
    /// Invariant 8: accepted exactly when the resolution was open.
    pub fn resolved(&mut self, resolve: ResolveId, accepted: bool) -> Result<(), Violation> {
        let was_open = self.open_resolves.remove(&resolve).is_some();
        ensure!(
            was_open == accepted,
            "report for {resolve}: open={was_open} but core accepted={accepted}"
        );
        if accepted {
            self.ended_resolves.insert(resolve);
        }
        Ok(())
    }

    /// The resolutions open now, by the output stream: each is owed one report.
    pub fn open_resolves(&self) -> impl Iterator<Item = ResolveId> + '_ {
        self.open_resolves.keys().copied()
    }

    /// Drains every output of `dialer` and checks all invariants at `now`.
    pub fn drain(&mut self, dialer: &mut Dialer<P>, now: Instant) -> Result<Drained<P>, Violation> {
        let mut actions = Vec::new();
        while let Some(a) = dialer.poll_action() {
            actions.push(a);
        }
        let mut name_actions = Vec::new();
        while let Some(a) = dialer.poll_name_action() {
            name_actions.push(a);
        }
        let mut events = Vec::new();
        while let Some(e) = dialer.poll_event() {
            events.push(e);
        }
        // A StartDial for an address that failed by timeout *later in the same step* was
        // legitimate when it was made; one after the failure is not. Walk the actions
        // backwards, collecting the addresses that time out after each position.
        let mut addr_of: HashMap<DialId, Multiaddr> = self
            .open
            .iter()
            .map(|(d, (_, a))| (*d, a.clone()))
            .collect();
        for action in &actions {
            if let Action::StartDial(start) = action {
                addr_of.insert(start.dial, start.addr.clone());
            }
        }
        let mut excused = vec![false; actions.len()];
        let mut later: HashSet<Multiaddr> = HashSet::default();
        for (i, action) in actions.iter().enumerate().rev() {
            match action {
                Action::StartDial(start) => excused[i] = later.contains(&start.addr),
                Action::AbortDial(abort)
                    if matches!(
                        abort.reason,
                        AbortReason::AddressTimeout | AbortReason::RequestTimeout
                    ) =>
                {
                    if let Some(addr) = addr_of.get(&abort.dial) {
                        later.insert(addr.clone());
                    }
                }
                Action::AbortDial(_) => {}
            }
        }
        // Deadlines of live requests, to check that nothing starts past one (R-R6).
        for (id, req) in dialer.requests.iter() {
            // A queued request's deadline is the end of its wait (R-Q1); its dial_timeout
            // is armed when its turn comes, and that is the one its dials must respect.
            if !req.queued {
                self.deadlines.entry(id).or_insert(req.deadline);
            }
            if req.ignore_deny {
                self.ignore_deny.insert(id);
            }
        }
        let clock = dialer.clock().map_or(now, |c| c.max(now));
        // Requests created in this step: their first dials start whatever the deadline
        // (at the end of representable time it is `now` itself).
        let mut fresh: HashSet<RequestId> = HashSet::default();
        for event in &events {
            if let Event::RequestTokens {
                request, granted, ..
            } = event
            {
                ensure!(
                    !self.ended_requests.contains(request),
                    "RequestTokens for ended {request}"
                );
                if self.live_requests.insert(*request) {
                    fresh.insert(*request);
                }
                *self.tokens_held.entry(*request).or_default() += granted;
            }
        }
        for action in &name_actions {
            if let NameAction::Resolve(r) = action {
                ensure!(
                    !self.ended_requests.contains(&r.request),
                    "Resolve {} for ended {}",
                    r.resolve,
                    r.request
                );
                if self.live_requests.insert(r.request) {
                    fresh.insert(r.request);
                }
            }
        }
        for event in &events {
            if let Event::Queued { request, .. } = event {
                self.live_requests.insert(*request);
            }
        }
        // A class blocked in this step may have been dialed earlier in the same step.
        let blocked_in_step = events.iter().any(|e| {
            matches!(
                e,
                Event::BlackHole {
                    state: crate::BlackHoleState::Blocked,
                    ..
                }
            )
        });
        for (i, action) in actions.iter().enumerate() {
            match action {
                Action::StartDial(start) => {
                    ensure!(
                        !self.ended_requests.contains(&start.request),
                        "StartDial {} for ended {}",
                        start.dial,
                        start.request
                    );
                    ensure!(
                        self.live_requests.contains(&start.request),
                        "StartDial {} for unknown {}",
                        start.dial,
                        start.request
                    );
                    ensure!(
                        !self.ended_dials.contains(&start.dial)
                            && !self.open.contains_key(&start.dial),
                        "dial id {} reused",
                        start.dial
                    );
                    ensure!(
                        !dialer.is_deny_listed(now, &start.addr)
                            || excused[i]
                            || self.ignore_deny.contains(&start.request),
                        "StartDial {} for deny-listed {}",
                        start.dial,
                        start.addr
                    );
                    let probes = dialer.requests.get(&start.request).map(|r| r.probes);
                    ensure!(
                        !dialer.is_black_holed(&start.addr)
                            || blocked_in_step
                            || self.ignore_deny.contains(&start.request)
                            || probes.is_none_or(|p| p != 0),
                        "R-B2: StartDial {} for black-holed {}",
                        start.dial,
                        start.addr
                    );
                    ensure!(
                        fresh.contains(&start.request)
                            || self
                                .deadlines
                                .get(&start.request)
                                .is_none_or(|deadline| clock < *deadline),
                        "StartDial {} for {} at or past its dial_timeout",
                        start.dial,
                        start.request
                    );
                    ensure!(
                        !crate::names::unroutable(&start.addr),
                        "R-R10: StartDial {} for unroutable {}",
                        start.dial,
                        start.addr
                    );
                    ensure!(
                        dialer.filtered(&start.peer, &start.addr).is_none(),
                        "R-R10: StartDial {} for filtered {}",
                        start.dial,
                        start.addr
                    );
                    self.open
                        .insert(start.dial, (start.request, start.addr.clone()));
                }

                Action::AbortDial(abort) => {
                    ensure!(
                        self.open.remove(&abort.dial).is_some(),
                        "AbortDial for {} which is not open",
                        abort.dial
                    );
                    self.ended_dials.insert(abort.dial);
                }
            }
        }
        for action in &name_actions {
            match action {
                NameAction::Resolve(r) => {
                    ensure!(
                        !self.ended_resolves.contains(&r.resolve)
                            && !self.open_resolves.contains_key(&r.resolve),
                        "resolve id {} reused",
                        r.resolve
                    );
                    self.open_resolves.insert(r.resolve, r.request);
                }
                NameAction::AbortResolve(abort) => {
                    ensure!(
                        self.open_resolves.remove(&abort.resolve).is_some(),
                        "AbortResolve for {} which is not open",
                        abort.resolve
                    );
                    self.ended_resolves.insert(abort.resolve);
                }
            }
        }
        for event in &events {
            match event {
                Event::Release { request, count } => {
                    let held = self.tokens_held.entry(*request).or_default();
                    ensure!(
                        *held >= *count,
                        "{request} released {count} of {held} tokens"
                    );
                    *held -= count;
                }
                Event::Finished { caller, .. } => {
                    ensure!(
                        self.callers_issued.contains(caller),
                        "Finished for unknown {caller}"
                    );
                    ensure!(
                        self.callers_finished.insert(*caller),
                        "{caller} finished twice"
                    );
                }
                _ => {}
            }
        }
        // Requests that ended in this step.
        let ended: Vec<RequestId> = self
            .live_requests
            .iter()
            .copied()
            .filter(|r| !dialer.is_in_flight(*r))
            .collect();
        for request in ended {
            self.live_requests.remove(&request);
            self.ended_requests.insert(request);
            self.deadlines.remove(&request);
            self.ignore_deny.remove(&request);
            let held = self.tokens_held.remove(&request).unwrap_or(0);
            ensure!(held == 0, "ended {request} still holds {held} tokens");
        }
        let held: usize = self.tokens_held.values().sum();
        ensure!(
            held == dialer.tokens_in_use(),
            "events say {held} tokens held, pool says {}",
            dialer.tokens_in_use()
        );
        let core_resolves: HashSet<ResolveId> = dialer.resolves.keys().collect();
        let my_resolves: HashSet<ResolveId> = self.open_resolves.keys().copied().collect();
        ensure!(
            core_resolves == my_resolves,
            "open resolutions differ: core {core_resolves:?}, stream {my_resolves:?}"
        );
        for (resolve, request) in &self.open_resolves {
            ensure!(
                dialer.is_in_flight(*request),
                "{resolve} open for ended {request}"
            );
        }
        let core_open: HashSet<DialId> = dialer.dials.keys().collect();
        let mine: HashSet<DialId> = self.open.keys().copied().collect();
        ensure!(
            core_open == mine,
            "open dials differ: core {core_open:?}, stream {mine:?}"
        );
        for caller in dialer.callers.keys() {
            ensure!(
                !self.callers_finished.contains(&caller),
                "{caller} finished but still waiting"
            );
        }
        check_state(dialer)?;
        Ok(Drained {
            actions,
            name_actions,
            events,
        })
    }

    /// Call after `handle_timeout(now)` (and a drain): the next deadline must be later.
    pub fn after_timeout(&self, dialer: &mut Dialer<P>, now: Instant) -> Result<(), Violation> {
        if let Some(next) = dialer.poll_timeout() {
            ensure!(
                next > now,
                "poll_timeout {next:?} not after handle_timeout({now:?})"
            );
        }
        Ok(())
    }

    /// Call once time has run past every deadline: nothing may be left in flight and every
    /// issued caller must have finished (invariant 5).
    pub fn finish(&self, dialer: &Dialer<P>) -> Result<(), Violation> {
        ensure!(
            dialer.requests_in_flight() == 0,
            "{} requests still in flight after every deadline",
            dialer.requests_in_flight()
        );
        ensure!(dialer.tokens_in_use() == 0, "tokens in use after the end");
        ensure!(self.open.is_empty(), "dials still open after the end");
        ensure!(
            self.open_resolves.is_empty(),
            "resolutions still open after the end"
        );
        let missing: Vec<_> = self
            .callers_issued
            .difference(&self.callers_finished)
            .collect();
        ensure!(missing.is_empty(), "callers never finished: {missing:?}");
        Ok(())
    }
}

/// Checks the dialer's internal consistency (invariants 1, 2, 5, 6, 7).
pub fn check_state<P: Clone + Eq + Hash + Debug>(dialer: &Dialer<P>) -> Result<(), Violation> {
    let config = &dialer.config;
    let pool = &dialer.pool;
    ensure!(
        pool.in_use() + pool.available() == pool.size() && pool.in_use() <= config.max_tokens,
        "pool broken: {} in use, {} available, size {}",
        pool.in_use(),
        pool.available(),
        pool.size()
    );
    let mut held = 0;
    let mut in_flight = 0;
    let mut callers = 0;
    let mut overdraft = 0;
    let mut waiting = 0;
    let live_deadlines: HashSet<(Instant, RequestId)> =
        dialer.request_timers.iter().copied().collect();
    for (id, req) in dialer.requests.iter() {
        let id = &id;
        held += req.tokens;
        in_flight += req.in_flight.len();
        callers += req.callers.len();
        ensure!(
            req.in_flight.len() <= req.capacity(),
            "{id}: {} in flight with capacity {}",
            req.in_flight.len(),
            req.capacity()
        );
        ensure!(
            req.tokens <= config.max_per_peer_dials,
            "{id} holds {} tokens",
            req.tokens
        );
        ensure!(
            req.tokens <= req.addrs.len(),
            "{id} holds more tokens than addresses"
        );
        ensure!(
            !(req.overdraft && req.tokens > 0),
            "{id} overdraft with tokens"
        );
        if !req.overdraft {
            // R-T7: a token with neither a dial nor an address left goes back at once.
            ensure!(
                req.tokens <= req.in_flight.len() + req.pending(),
                "{id} holds {} tokens for {} dials in flight and {} addresses left",
                req.tokens,
                req.in_flight.len(),
                req.pending()
            );
            // R-R3, R-T7: without a stagger or a head start, no token idles while an address
            // waits.
            ensure!(
                config.stagger.is_some()
                    || req.stagger_at.is_some()
                    || req.in_flight.len() == req.tokens
                    || req.pending() == 0,
                "{id} leaves a token idle: {} tokens, {} in flight, {} addresses waiting",
                req.tokens,
                req.in_flight.len(),
                req.pending()
            );
        }
        let resolved = config.names.map_or(0, |n| n.max_resolved);
        ensure!(
            req.addrs.len() <= config.max_addrs_per_request.saturating_add(resolved),
            "{id} has too many addresses"
        );
        if let Some(set) = &req.names {
            let live = dialer
                .resolves
                .iter()
                .filter(|(_, l)| l.request == *id)
                .count();
            ensure!(
                set.live == live,
                "{id} counts {} lookups live, {live} are",
                set.live
            );
            let entries: usize = set.entries.iter().map(|e| usize::from(e.live)).sum();
            ensure!(
                entries == live,
                "{id}: its names count {entries} lookups, {live} are live"
            );
            ensure!(
                set.results <= resolved,
                "R-N3: {id} kept {} results, more than {resolved}",
                set.results
            );
            ensure!(
                set.entries
                    .iter()
                    .all(|e| e.depth <= config.names.map_or(0, |n| n.max_depth)),
                "R-N3: {id} resolves a name deeper than max_depth"
            );
        }
        ensure!(
            req.next <= req.addrs.len(),
            "{id} cursor past its addresses"
        );
        if req.queued {
            waiting += 1;
            // R-Q1: a waiting request holds nothing and dials nothing.
            ensure!(
                req.tokens == 0
                    && req.in_flight.is_empty()
                    && (req.next == 0 || req.names.is_some())
                    && !req.overdraft,
                "{id} waits for tokens but holds {} tokens and {} dials",
                req.tokens,
                req.in_flight.len()
            );
            ensure!(
                dialer.queue.contains(id),
                "{id} waits but is not in the queue"
            );
        } else {
            ensure!(
                !req.in_flight.is_empty() || req.resolving(),
                "{id} is live with nothing in flight and no name resolving"
            );
        }
        ensure!(!req.callers.is_empty(), "{id} is live with no caller");
        ensure!(
            dialer.by_peer.get(&req.peer) == Some(id),
            "{id} not indexed by peer"
        );
        ensure!(
            live_deadlines.contains(&(req.deadline, *id)),
            "{id} has no live deadline: it could never end"
        );
        for c in &req.callers {
            ensure!(dialer.callers.get(c) == Some(id), "{c} not indexed to {id}");
        }
        for d in &req.in_flight {
            let dial = dialer.dials.get(d);
            ensure!(
                dial.is_some_and(|x| x.request == *id),
                "{d} of {id} missing"
            );
            ensure!(
                dial.is_some_and(|x| x.slot < req.next),
                "{d} of {id} names an address it has not reached"
            );
            if dial.is_some_and(|x| x.overdraft) {
                overdraft += 1;
            }
        }
    }
    let named = dialer
        .requests
        .iter()
        .filter(|(_, r)| r.names.is_some())
        .count();
    ensure!(
        named == dialer.named,
        "{named} requests have names, the core counts {}",
        dialer.named
    );
    ensure!(
        waiting == dialer.waiting,
        "{waiting} requests wait, the core counts {}",
        dialer.waiting
    );
    // R-Q1: at most `queue` wait, and only while the pool is empty (a release goes to the
    // queue at once, R-T8).
    ensure!(
        dialer
            .config
            .wait_for_tokens
            .map_or(waiting == 0, |w| waiting <= w.queue),
        "{waiting} requests wait with {:?}",
        dialer.config.wait_for_tokens
    );
    ensure!(
        waiting == 0 || pool.available() == 0,
        "{waiting} requests wait while {} tokens are free",
        pool.available()
    );
    ensure!(
        held == pool.in_use(),
        "requests hold {held} tokens, pool says {}",
        pool.in_use()
    );
    ensure!(
        in_flight == dialer.dials.len(),
        "dial table and requests disagree"
    );
    ensure!(
        callers == dialer.callers.len(),
        "caller table and requests disagree"
    );
    ensure!(
        overdraft == dialer.overdraft_in_flight,
        "overdraft gauge broken"
    );
    ensure!(
        dialer.by_peer.len() == dialer.requests.len(),
        "peer index size broken"
    );
    let stats = dialer.stats();
    ensure!(
        stats.dials_started
            == stats.dials_succeeded
                + stats.dials_failed
                + stats.dials_timed_out
                + stats.dials_aborted
                + stats.dials_in_flight as u64,
        "dial counters do not add up: {stats:?}"
    );
    dialer.confidence.check().map_err(Violation)?;
    dialer.deny.check().map_err(Violation)?;
    dialer.connect_times.check().map_err(Violation)?;
    dialer.black_holes.check().map_err(Violation)?;
    let config = &dialer.config;
    for (id, l) in dialer.resolves.iter() {
        ensure!(
            dialer
                .requests
                .get(&l.request)
                .is_some_and(|r| r.names.is_some()),
            "{id} resolves for {} which has no names",
            l.request
        );
    }
    for (id, d) in dialer.dials.iter() {
        let longest = d.started.checked_add(config.address_timeout);
        ensure!(
            longest.is_none_or(|t| d.deadline <= t),
            "R-R6b: {id} has a deadline beyond address_timeout"
        );
        if let (true, Some(a)) = (d.adaptive, config.adaptive_timeout) {
            ensure!(
                d.deadline >= d.started + a.syn_retry.min(config.address_timeout),
                "R-R6b: {id} has an adaptive deadline below the floor"
            );
        }
    }
    ensure!(
        dialer.confidence.len() <= dialer.confidence.capacity(),
        "confidence over cap"
    );
    ensure!(
        dialer.deny.len() <= dialer.deny.capacity(),
        "deny list over cap"
    );
    let bound = |live: usize| 2 * live + 65;
    ensure!(
        dialer.request_timers.len() <= bound(dialer.requests.len())
            && dialer.stagger_timers.len() <= bound(dialer.requests.len())
            && dialer.dial_timers.len() <= bound(dialer.dials.len())
            && dialer.adaptive_timers.len() <= bound(dialer.dials.len())
            && dialer.resolve_timers.len() <= bound(dialer.resolves.len())
            && dialer.hold_timers.len() <= bound(dialer.resolves.len()),
        "timer queues unbounded"
    );
    check_earliest(dialer)
}

/// Invariant 7, `poll_timeout`'s shortcut: while the timer the core remembers as the
/// earliest is live, no live timer of any queue is earlier (and none is live at all if it
/// remembers none).
fn check_earliest<P: Clone + Eq + Hash + Debug>(dialer: &Dialer<P>) -> Result<(), Violation> {
    use crate::dialer::Due;
    let Some(known) = dialer.earliest.get() else {
        return Ok(());
    };
    if known.is_some_and(|(t, due)| !dialer.is_live(t, due)) {
        // Stale: the next poll_timeout recomputes it.
        return Ok(());
    }
    let live = |(t, due): (Instant, Due)| dialer.is_live(t, due).then_some(t);
    let truth = dialer
        .request_timers
        .iter()
        .map(|&(t, id)| (t, Due::Request(id)))
        .chain(dialer.dial_timers.iter().map(|&(t, id)| (t, Due::Dial(id))))
        .chain(
            dialer
                .adaptive_timers
                .iter()
                .map(|&(t, id)| (t, Due::AdaptiveDial(id))),
        )
        .chain(
            dialer
                .stagger_timers
                .iter()
                .map(|(t, id)| (t, Due::Stagger(id))),
        )
        .chain(
            dialer
                .resolve_timers
                .iter()
                .map(|&(t, id)| (t, Due::Resolve(id))),
        )
        .chain(dialer.hold_timers.iter().map(|&(t, id)| (t, Due::Hold(id))))
        .filter_map(live)
        .min();
    ensure!(
        known.map(|(t, _)| t) == truth,
        "poll_timeout would say {known:?}, but the earliest live timer is at {truth:?}"
    );
    Ok(())
}
