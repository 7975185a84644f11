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
//!   timeouts fire neither early nor late, and the spacing of staggered dials (R-S1).
//!
//! Once the deny list has had to evict an entry to stay within its capacity, which entry
//! went is an implementation choice; from then on the model stops predicting deny-list
//! membership (and what depends on it: admission, dial order, pruning) and keeps checking
//! the rest.

use std::collections::BTreeMap;

/// The model runs after every fuzz step: a fast hash, as the core's own maps.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

use crate::idmap::{IdMap, IdSet};
use std::time::{Duration, Instant};

use dialer_core::check::{Drained, Violation};
use dialer_core::{
    AbortReason, Action, Attempt, CallerId, CancelError, Config, Connected, DialFailed, DialId,
    DialRefused, Dialer, Event, FailReason, Multiaddr, Priority, ReportError, RequestId,
    SkipReason, Skipped, INITIAL_CONFIDENCE, MAX_CONFIDENCE,
};

use crate::ops::{address_pool, dialable, ensure, Coverage, Peer, PEERS};

/// How many finished callers and aborted dials the model remembers, to aim late reports
/// and stale cancels at.
const HISTORY: usize = 32;

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
    Join {
        request: RequestId,
        added: Option<usize>,
    },
    /// A new request with these tokens and this dial order.
    New {
        requested: usize,
        granted: usize,
        addrs: Vec<Multiaddr>,
    },
    /// A new request or a refusal the model cannot predict exactly (deny list inexact).
    Loose { given: usize, priority: Priority },
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
}

#[derive(Debug)]
struct Entry {
    addr: Multiaddr,
    value: u8,
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
    deadline: Instant,
    callers: IdSet<CallerId>,
    attempts: Vec<Attempt>,
    last_start: Option<Instant>,
    /// The winning dial, its address and connect time, and the failures before it.
    won: Option<(DialId, Multiaddr, Duration, Vec<Attempt>)>,
}

#[derive(Debug)]
struct OpenDial {
    request: RequestId,
    addr: Multiaddr,
    started: Instant,
    deadline: Instant,
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
    requests: IdMap<RequestId, Req>,
    by_peer: BTreeMap<Peer, RequestId>,
    dials: IdMap<DialId, OpenDial>,
    callers: IdMap<CallerId, RequestId>,
    finished: Vec<CallerId>,
    aborted: Vec<DialId>,
    overdrafts: u64,
    /// Prunes the model predicts in the current step, in order.
    prunes: Vec<(Peer, Multiaddr)>,
    /// Steps observed, for the cadence of [`Model::compare_tables`].
    steps: u64,
    pub(crate) coverage: Coverage,
}

fn remember<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= HISTORY {
        list.remove(0);
    }
    list.push(item);
}

impl Model {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            available: config.max_tokens,
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
            steps: 0,
            coverage: Coverage::default(),
        }
    }

    // ----- what the harness aims its ops at ------------------------------------------

    pub(crate) fn open_dials(&self) -> IdMap<DialId, RequestId> {
        self.dials.iter().map(|(d, o)| (*d, o.request)).collect()
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

    fn deny(&mut self, addr: &Multiaddr, now: Instant) {
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
        let until = Self::after(now, self.config.deny_duration);
        self.deny.insert(addr.clone(), until);
        self.mark_skippable(addr, None);
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
    fn failure(&mut self, request: RequestId, addr: &Multiaddr, reason: FailReason, now: Instant) {
        let value = match self.touch(addr) {
            Some(e) => {
                e.value = e.value.saturating_sub(1);
                e.value
            }
            None => INITIAL_CONFIDENCE,
        };
        self.deny(addr, now);
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        let peer = req.peer;
        let better = req.addrs.iter().any(|a| self.confidence(a) > 0);
        if self.exact
            && value == 0
            && !self.is_pruned(peer, addr, now)
            && better
            && self.mark_pruned(peer, addr, now)
        {
            self.prunes.push((peer, addr.clone()));
            self.mark_skippable(addr, Some(peer));
        }
        if let Some(req) = self.requests.get_mut(&request) {
            req.attempts.push(Attempt {
                addr: addr.clone(),
                reason,
            });
        }
    }

    /// A dial connected (R-C3): confidence up, no longer pruned nor denied.
    fn success(&mut self, addr: &Multiaddr) {
        if let Some(e) = self.touch(addr) {
            e.value = (e.value + 1).min(MAX_CONFIDENCE);
            e.pruned_for.clear();
        }
        self.deny.remove(addr);
    }

    // ----- dial ------------------------------------------------------------------------

    /// Works out what `dial(now, peer, addrs, priority)` must do (R-R1, R-R2, R-R8, R-R9,
    /// R-T2 … R-T4, R-P1).
    pub(crate) fn expect_dial(
        &mut self,
        now: Instant,
        peer: Peer,
        addrs: &[Multiaddr],
        priority: Priority,
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
            return DialPlan::Join {
                request,
                added: self.exact.then(|| self.merge(request, addrs, now)),
            };
        }
        if !self.exact {
            return DialPlan::Loose {
                given: addrs.len(),
                priority,
            };
        }
        let mut admitted: Vec<Multiaddr> = Vec::new();
        let mut skipped = Vec::new();
        for addr in addrs {
            let reason = if admitted.contains(addr) {
                Some(SkipReason::Duplicate)
            } else if !dialable(addr) {
                Some(SkipReason::Undialable)
            } else if self.is_denied(addr, now) {
                Some(SkipReason::DenyListed)
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
            // R-D6: an address that is only deny-listed comes back at its expiry.
            let retry_at = skipped
                .iter()
                .filter(|s| s.reason == SkipReason::DenyListed)
                .filter_map(|s| self.deny.get(&s.addr).copied())
                .min();
            return DialPlan::Refuse(match retry_at {
                Some(retry_at) => DialRefused::BackedOff {
                    skipped,
                    retry_at,
                    retry_in: retry_at.saturating_duration_since(now),
                },
                None => DialRefused::NoDialableAddresses { skipped },
            });
        }
        // R-R1: highest confidence first; `sort_by_key` is stable, so ties keep the
        // caller's order.
        admitted.sort_by_key(|a| std::cmp::Reverse(self.confidence(a)));
        let requested = self.config.max_per_peer_dials.min(admitted.len());
        let granted = requested.min(self.available);
        if granted == 0 && priority == Priority::Normal {
            return DialPlan::Refuse(DialRefused::NoTokens);
        }
        DialPlan::New {
            requested,
            granted,
            addrs: admitted,
        }
    }

    /// R-R8: merges a joining caller's addresses into `request`; returns how many.
    fn merge(&mut self, request: RequestId, addrs: &[Multiaddr], now: Instant) -> usize {
        let Some(req) = self.requests.get(&request) else {
            return 0;
        };
        let peer = req.peer;
        let mut list = req.addrs.clone();
        let old = list.len();
        for addr in addrs {
            let skip = list.len() >= self.config.max_addrs_per_request
                || list.contains(addr)
                || !dialable(addr)
                || self.is_denied(addr, now)
                || self.is_pruned(peer, addr, now);
            if !skip {
                list.push(addr.clone());
            }
        }
        let added = list.len() - old;
        if added > 0 {
            let next = req.next;
            let mut rest = list.split_off(next);
            rest.sort_by_key(|a| std::cmp::Reverse(self.confidence(a)));
            list.extend(rest);
        }
        if let Some(req) = self.requests.get_mut(&request) {
            req.addrs = list;
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
            Expected::Import(_) => self.now.unwrap_or(now),
            _ => self.advance(now),
        };
        self.prunes.clear();
        let mut plan = None;
        let mut cancelled = None;
        let mut joined = None;
        let mut timeout = false;
        match expected {
            Expected::Dial {
                expected,
                result,
                peer,
            } => {
                self.check_dial(&expected, &result)?;
                if let Err(e) = &result {
                    self.count_refusal(e);
                }
                if let Ok(caller) = result {
                    match &expected {
                        DialPlan::Join { request, added } => {
                            self.coverage.joins += 1;
                            // R-R8: a join that brings nothing new spends nothing and
                            // starts nothing.
                            if *added == Some(0) {
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
                            joined = Some(*request);
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
                    }
                }
            }
        }

        self.grants(&drained.events, plan, joined, now)?;
        for action in &drained.actions {
            self.action(action, now)?;
        }
        let ended = self.events(&drained.events, cancelled)?;
        self.reconcile(dialer, now, &ended)?;
        if timeout {
            self.nothing_overdue(now)?;
        }
        Ok(())
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
            (DialPlan::Refuse(want), Ok(c)) => {
                return Err(Violation(format!("dial: expected {want:?}, got {c}")));
            }
            (DialPlan::Loose { given, priority }, Err(got)) => match got {
                DialRefused::NoTokens => ensure!(
                    self.available == 0 && *priority == Priority::Normal,
                    "R-T4: NoTokens with {} tokens available, {priority:?}",
                    self.available
                ),
                DialRefused::NoDialableAddresses { skipped }
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
            DialRefused::NoTokens => self.coverage.no_tokens += 1,
            DialRefused::BackedOff { .. } => self.coverage.backed_off += 1,
            DialRefused::NoDialableAddresses { .. } => self.coverage.no_dialable += 1,
            DialRefused::TooManyAddresses { .. } => self.coverage.too_many += 1,
            _ => {}
        }
    }

    /// `RequestTokens` events: a new request's grant (R-T2, R-T3, R-P1) and a joined
    /// request's top-up.
    fn grants(
        &mut self,
        events: &[Event<Peer>],
        plan: Option<(DialPlan, CallerId, Peer)>,
        joined: Option<RequestId>,
        now: Instant,
    ) -> Result<(), Violation> {
        let mut plan = plan;
        for event in events {
            let Event::RequestTokens {
                request,
                requested,
                granted,
                overdraft,
            } = event
            else {
                continue;
            };
            let (requested, granted, overdraft) = (*requested, *granted, *overdraft);
            ensure!(
                granted == requested.min(self.available),
                "R-T3: {request} asked {requested} with {} available, granted {granted}",
                self.available
            );
            if let Some(req) = self.requests.get_mut(request) {
                ensure!(
                    joined == Some(*request) && !req.overdraft && !overdraft,
                    "RequestTokens for {request} outside a join"
                );
                ensure!(
                    requested >= 1 && req.tokens + requested <= self.config.max_per_peer_dials,
                    "R-T2: {request} holds {} and asks {requested} more",
                    req.tokens
                );
                req.tokens += granted;
                self.available -= granted;
                continue;
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
            let addrs = match expected {
                DialPlan::New {
                    requested: r,
                    granted: g,
                    addrs,
                } => {
                    ensure!(
                        (r, g) == (requested, granted),
                        "R-T2/R-T3: {request} should ask {r} and get {g}, asked {requested} got {granted}"
                    );
                    addrs
                }
                DialPlan::Loose { priority, .. } => {
                    ensure!(
                        requested >= 1 && requested <= self.config.max_per_peer_dials,
                        "R-T2: {request} asks {requested}"
                    );
                    ensure!(
                        granted > 0 || priority == Priority::High,
                        "R-T4: a normal request proceeded without tokens"
                    );
                    Vec::new()
                }
                other => return Err(Violation(format!("new {request} but expected {other:?}"))),
            };
            if overdraft {
                self.overdrafts += 1;
                self.coverage.overdrafts += 1;
            }
            self.coverage.requests += 1;
            self.available -= granted;
            self.by_peer.insert(peer, *request);
            self.callers.insert(caller, *request);
            self.requests.insert(
                *request,
                Req {
                    peer,
                    addrs,
                    next: 0,
                    skippable: HashSet::default(),
                    tokens: granted,
                    overdraft,
                    deadline: Self::after(now, self.config.dial_timeout),
                    callers: IdSet::from([caller]),
                    attempts: Vec::new(),
                    last_start: None,
                    won: None,
                },
            );
        }
        ensure!(
            plan.is_none(),
            "dial returned a caller but no RequestTokens"
        );
        Ok(())
    }

    /// One action, in the order the core emitted it.
    fn action(&mut self, action: &Action<Peer>, now: Instant) -> Result<(), Violation> {
        match action {
            Action::StartDial(start) => {
                let exact = self.exact;
                let stagger = self.config.stagger;
                let has_open = self.dials.values().any(|d| d.request == start.request);
                let denied: Vec<bool> = match self.requests.get(&start.request) {
                    Some(req) => req.addrs[req.next..]
                        .iter()
                        .map(|a| self.is_denied(a, now) || self.is_pruned(req.peer, a, now))
                        .collect(),
                    None => Vec::new(),
                };
                let pruned = self.is_pruned(start.peer, &start.addr, now);
                let Some(req) = self.requests.get_mut(&start.request) else {
                    return Err(Violation(format!(
                        "R-R4: StartDial {} for {} which is not live",
                        start.dial, start.request
                    )));
                };
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
                if exact {
                    ensure!(!pruned, "R-C5: StartDial for pruned {}", start.addr);
                    let rest = &req.addrs[req.next..];
                    let Some(k) = rest.iter().position(|a| a == &start.addr) else {
                        return Err(Violation(format!(
                            "R-R1: StartDial for {} which is not among the request's next addresses {rest:?}",
                            start.addr
                        )));
                    };
                    for (i, a) in rest[..k].iter().enumerate() {
                        ensure!(
                            denied[i] || req.skippable.contains(a),
                            "R-R1: dialed {} before {a} (order {rest:?})",
                            start.addr
                        );
                    }
                    req.next += k + 1;
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
                    AbortReason::AddressTimeout => {
                        ensure!(
                            now >= dial.deadline,
                            "R-R6a: {} timed out {:?} early",
                            abort.dial,
                            dial.deadline.saturating_duration_since(now)
                        );
                        self.coverage.address_timeouts += 1;
                        self.failure(dial.request, &dial.addr, FailReason::AddressTimeout, now);
                    }
                    AbortReason::RequestTimeout => {
                        let deadline = self.requests.get(&dial.request).map(|r| r.deadline);
                        ensure!(
                            deadline.is_some_and(|d| now >= d),
                            "R-R6: {} aborted for a request timeout before its deadline",
                            abort.dial
                        );
                        self.failure(dial.request, &dial.addr, FailReason::RequestTimeout, now);
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

    /// `Release`, `Finished` and `Pruned` events; returns the results per request.
    fn events(
        &mut self,
        events: &[Event<Peer>],
        cancelled: Option<CallerId>,
    ) -> Result<Outcomes, Violation> {
        let mut results: IdMap<RequestId, Vec<_>> = IdMap::new();
        let mut pruned = Vec::new();
        let mut cancel_seen = false;
        for event in events {
            match event {
                Event::RequestTokens { .. } => {}
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
                    if cancelled == Some(*caller) && !cancel_seen {
                        ensure!(
                            *result == Err(DialFailed::Cancelled),
                            "R-R7: cancelled {caller} finished with {result:?}"
                        );
                        cancel_seen = true;
                    } else {
                        results
                            .entry_or_insert_with(*request, Vec::new)
                            .push((*caller, result.clone()));
                    }
                }
                Event::Pruned { peer, addr } => pruned.push((*peer, addr.clone())),
                other => return Err(Violation(format!("unexpected output {other:?}"))),
            }
        }
        ensure!(
            cancelled.is_none() || cancel_seen,
            "R-R7: an accepted cancel emitted no Finished"
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
                }
            }
        }
        Ok(results)
    }

    /// End of step: requests that ended, and every table against the core.
    fn reconcile(
        &mut self,
        dialer: &Dialer<Peer>,
        now: Instant,
        results: &Outcomes,
    ) -> Result<(), Violation> {
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
            self.by_peer.remove(&req.peer);
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
                    req.won
                        == Some((
                            connected.dial,
                            connected.addr.clone(),
                            connected.connect_time,
                            connected.failed.clone()
                        )),
                    "R-R4: {request} completed with {connected:?}, but the winner was {:?}",
                    req.won
                ),
                Err(DialFailed::AllFailed { attempts }) => {
                    self.coverage.all_failed += 1;
                    ensure!(
                        req.won.is_none() && *attempts == req.attempts,
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
                    ensure!(
                        *attempts == req.attempts,
                        "R-R6: {request} lists {attempts:?}, the model saw {:?}",
                        req.attempts
                    );
                }
                Err(other) => {
                    return Err(Violation(format!("{request} finished with {other:?}")));
                }
            }
        }
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
        if self.steps % FULL_EVERY == 0 {
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
