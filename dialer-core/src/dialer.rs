//! The state machine.

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;
use smallvec::SmallVec;

use crate::confidence::{ConfidenceTable, INITIAL_CONFIDENCE};
use crate::config::{Config, ConfigError};
use crate::deny::DenyList;
use crate::ids::{CallerId, DialId, KeyMap, RequestId};
use crate::output::{
    AbortDial, AbortReason, Action, Attempt, CancelError, Connected, DialError, Event, FailReason,
    Priority, ReportError, SkipReason, Skipped, StartDial,
};
use crate::pool::TokenPool;
use crate::request::{sort_by_confidence, sort_by_keys, Addrs, Request, INLINE_ADDRS};
use crate::slab::IdSlab;
use crate::stats::Stats;
use crate::timers::{DeadlineHeap, DeadlineQueue};

/// Decides whether the runtime can dial an address at all (R-R1, R-A2).
pub type DialablePredicate = Box<dyn Fn(&Multiaddr) -> bool + Send + Sync>;

#[derive(Debug)]
pub(crate) struct Dial {
    pub(crate) request: RequestId,
    pub(crate) addr: Multiaddr,
    /// When it started: a success measures the address's connect time from here.
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) overdraft: bool,
}

/// The sans-IO token dialer. See the [crate documentation](crate) for the drive loop.
///
/// Methods come in four kinds, as in `quinn-proto`:
/// - **getters** (`&self`): [`stats`](Self::stats), [`confidence`](Self::confidence), …;
/// - **commands** from the application: [`dial`](Self::dial), [`cancel`](Self::cancel),
///   [`import_confidence`](Self::import_confidence);
/// - **`handle_*`** inputs from the runtime: dial reports and [`handle_timeout`](Self::handle_timeout);
/// - **`poll_*`** outputs: [`poll_action`](Self::poll_action), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// `P` is the peer id: anything `Clone + Eq + Hash + Debug` (a `libp2p_identity::PeerId`,
/// an integer, a string).
pub struct Dialer<P> {
    pub(crate) config: Config,
    pub(crate) pool: TokenPool,
    /// Latest `now` seen; inputs with an earlier one are treated as this (time never goes back).
    now: Option<Instant>,
    pub(crate) requests: IdSlab<RequestId, Request<P>>,
    pub(crate) dials: IdSlab<DialId, Dial>,
    pub(crate) callers: IdSlab<CallerId, RequestId>,
    pub(crate) by_peer: KeyMap<P, RequestId>,
    pub(crate) confidence: ConfidenceTable<P>,
    pub(crate) deny: DenyList,
    pub(crate) request_timers: DeadlineQueue<RequestId>,
    pub(crate) dial_timers: DeadlineQueue<DialId>,
    pub(crate) stagger_timers: DeadlineHeap<RequestId>,
    actions: VecDeque<Action<P>>,
    events: VecDeque<Event<P>>,
    stats: Stats,
    pub(crate) overdraft_in_flight: usize,
    dialable: DialablePredicate,
}

impl<P: fmt::Debug> fmt::Debug for Dialer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("config", &self.config)
            .field("tokens_in_use", &self.pool.in_use())
            .field("requests", &self.requests.len())
            .field("dials", &self.dials.len())
            .finish_non_exhaustive()
    }
}

/// Which timer is due.
#[derive(Debug, Clone, Copy)]
enum Due {
    Request(RequestId),
    Dial(DialId),
    Stagger(RequestId),
}

fn deadline_after(now: Instant, d: Duration) -> Instant {
    // Config caps durations far below overflow; a `now` near the end of time still must
    // not panic, and an immediate deadline is the least surprising fallback.
    now.checked_add(d).unwrap_or(now)
}

impl<P: Clone + Eq + Hash + fmt::Debug> Dialer<P> {
    /// Builds a dialer; fails if the config is invalid (see [`Config::validate`]).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            pool: TokenPool::new(config.max_tokens),
            now: None,
            requests: IdSlab::default(),
            dials: IdSlab::default(),
            callers: IdSlab::default(),
            by_peer: KeyMap::default(),
            confidence: ConfidenceTable::new(config.confidence_capacity),
            deny: DenyList::new(config.deny_list_capacity, config.deny_duration),
            request_timers: DeadlineQueue::new(),
            dial_timers: DeadlineQueue::new(),
            stagger_timers: DeadlineHeap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            overdraft_in_flight: 0,
            dialable: Box::new(|_| true),
            config,
        })
    }

    /// Tells the core which addresses the runtime can dial; others are dropped from
    /// requests before any token is spent (R-R1, R-A2). By default every address is dialable.
    #[must_use]
    pub fn with_dialable(
        mut self,
        dialable: impl Fn(&Multiaddr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.dialable = Box::new(dialable);
        self
    }

    // ----- getters -------------------------------------------------------------------

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A snapshot of the counters (R-O1).
    pub fn stats(&self) -> Stats {
        Stats {
            tokens_in_use: self.pool.in_use(),
            tokens_available: self.pool.available(),
            overdraft_dials_in_flight: self.overdraft_in_flight,
            requests_in_flight: self.requests.len(),
            dials_in_flight: self.dials.len(),
            confidence_entries: self.confidence.len(),
            deny_list_entries: self.deny.len(),
            ..self.stats
        }
    }

    /// Pool tokens held by requests.
    pub fn tokens_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Pool tokens free.
    pub fn tokens_available(&self) -> usize {
        self.pool.available()
    }

    /// Requests in flight.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Dials in flight (started, not yet reported, timed out or aborted).
    pub fn dials_in_flight(&self) -> usize {
        self.dials.len()
    }

    /// Whether `request` is still in flight.
    pub fn is_in_flight(&self, request: RequestId) -> bool {
        self.requests.contains_key(&request)
    }

    /// The request a caller is waiting on, while it waits.
    pub fn request_of(&self, caller: CallerId) -> Option<RequestId> {
        self.callers.get(&caller).copied()
    }

    /// Confidence of `addr`, 0..=10 (R-C).
    pub fn confidence(&self, addr: &Multiaddr) -> u8 {
        self.confidence.get(addr)
    }

    /// Whether `addr` is pruned for `peer` (R-C5), as of the latest `now` the core was
    /// given: pruned, and the mark has not yet expired (see [`Config::prune_duration`]).
    pub fn is_pruned(&self, peer: &P, addr: &Multiaddr) -> bool {
        self.now
            .is_some_and(|now| self.confidence.is_pruned(addr, peer, now))
    }

    /// Whether `addr` is on the deny list at `now` (R-D2).
    pub fn is_deny_listed(&self, addr: &Multiaddr, now: Instant) -> bool {
        self.deny.contains(addr, self.effective(now))
    }

    /// Every learned confidence, least recently used first (R-C6). Feed it to
    /// [`import_confidence`](Self::import_confidence) after a restart.
    pub fn export_confidence(&self) -> Vec<(Multiaddr, u8)> {
        self.confidence.export()
    }

    /// Loads learned confidence (R-C6). Values above 10 are clamped; entries beyond the
    /// table's capacity push out the least recent ones, so import in
    /// [`export_confidence`](Self::export_confidence) order. Pruning marks are not carried.
    pub fn import_confidence(&mut self, entries: impl IntoIterator<Item = (Multiaddr, u8)>) {
        for (addr, value) in entries {
            self.confidence.set(&addr, value);
        }
    }

    // ----- commands ------------------------------------------------------------------

    /// Asks to connect to `peer` at any of `addrs`.
    ///
    /// Returns the caller's id; its outcome arrives later as one [`Event::Finished`]. If a
    /// request for `peer` is already in flight, the caller joins it and its new addresses
    /// are merged in (R-R8). Errors are immediate and spend nothing: an empty or too long
    /// list (R-R9), nothing dialable after filtering (R-R2), or an empty pool (R-T4; a
    /// [`Priority::High`] request proceeds instead, R-P1).
    pub fn dial(
        &mut self,
        now: Instant,
        peer: P,
        addrs: impl IntoIterator<Item = Multiaddr>,
        priority: Priority,
    ) -> Result<CallerId, DialError> {
        let now = self.advance(now);
        let max = self.config.max_addrs_per_request;
        let mut input = Addrs::new();
        let mut given = 0usize;
        for addr in addrs {
            given += 1;
            if given <= max {
                input.push(addr);
            }
        }
        if given == 0 {
            self.stats.requests_rejected_invalid += 1;
            return Err(DialError::NoAddresses);
        }
        if given > max {
            self.stats.requests_rejected_invalid += 1;
            return Err(DialError::TooManyAddresses { given, max });
        }
        if let Some(&request) = self.by_peer.get(&peer) {
            return Ok(self.join(now, request, input));
        }

        let mut admitted = Addrs::new();
        // Confidence of each admitted address, looked up once with its prune mark.
        let mut keys: SmallVec<[u8; INLINE_ADDRS]> = SmallVec::new();
        let mut skipped = Vec::new();
        for addr in input {
            match self.admit(&peer, &addr, &admitted, now) {
                Err(reason) => skipped.push(Skipped { addr, reason }),
                Ok(confidence) => {
                    admitted.push(addr);
                    keys.push(confidence);
                }
            }
        }
        self.stats.addresses_skipped += skipped.len() as u64;
        if admitted.is_empty() {
            self.stats.requests_rejected_no_addresses += 1;
            return Err(DialError::NoDialableAddresses { skipped });
        }
        sort_by_keys(&mut admitted, &mut keys);

        // R-T2: never more tokens than addresses, never more than the per-peer cap.
        let requested = self.config.max_per_peer_dials.min(admitted.len());
        let granted = self.pool.acquire(requested);
        let overdraft = granted == 0;
        if overdraft {
            if priority == Priority::Normal {
                self.stats.requests_rejected_no_tokens += 1;
                return Err(DialError::NoTokens);
            }
            self.stats.overdraft_requests += 1;
        }

        let request = self.requests.next_key();
        let caller = self.callers.next_key();
        let deadline = deadline_after(now, self.config.dial_timeout);
        // A proven best address dials alone first (HeadStart); a single token has
        // nothing to hold back.
        let head_start = match self.config.head_start {
            Some(h) if granted > 1 && keys[0] > INITIAL_CONFIDENCE => self
                .confidence
                .connect_time(&admitted[0])
                .and_then(|t| h.delay(t)),
            _ => None,
        };
        let mut callers = SmallVec::new();
        callers.push(caller);
        self.events.push_back(Event::RequestTokens {
            request,
            requested,
            granted,
            overdraft,
        });
        self.by_peer.insert(peer.clone(), request);
        self.requests.insert(
            request,
            Request {
                peer,
                callers,
                addrs: admitted,
                next: 0,
                in_flight: SmallVec::new(),
                tokens: granted,
                overdraft,
                deadline,
                stagger_at: None,
                head_start,
                attempts: Vec::new(),
            },
        );
        self.callers.insert(caller, request);
        self.request_timers.push(deadline, request);
        self.stats.requests_started += 1;
        self.stats.head_starts += u64::from(head_start.is_some());
        // Every address was checked against the deny list and prune marks just now, and
        // nothing can have changed them since: the first pump need not check again.
        self.pump_from(request, now, false);
        self.compact_timers();
        Ok(caller)
    }

    /// Ends `caller`'s wait with [`DialError::Cancelled`] (R-R7). The request itself is
    /// cancelled (dials aborted, tokens released) only when no other caller waits on it
    /// (R-R8).
    pub fn cancel(&mut self, now: Instant, caller: CallerId) -> Result<(), CancelError> {
        self.advance(now);
        let Some(request) = self.callers.remove(&caller) else {
            return Err(CancelError::UnknownCaller(caller));
        };
        self.stats.callers_cancelled += 1;
        let Some(req) = self.requests.get_mut(&request) else {
            return Ok(());
        };
        req.callers.retain(|c| *c != caller);
        let last = req.callers.is_empty();
        self.events.push_back(Event::Finished {
            caller,
            request,
            peer: req.peer.clone(),
            result: Err(DialError::Cancelled),
        });
        if last {
            self.finish(request, Err(DialError::Cancelled), AbortReason::Cancelled);
        }
        self.compact_timers();
        Ok(())
    }

    // ----- inputs from the runtime ---------------------------------------------------

    /// The runtime connected `dial`. The request completes with it; every other dial of
    /// the request is aborted and all its tokens are released (R-R4).
    pub fn handle_dial_succeeded(&mut self, now: Instant, dial: DialId) -> Result<(), ReportError> {
        let now = self.advance(now);
        let Some(d) = self.take_dial(dial) else {
            return Err(ReportError::UnknownDial(dial));
        };
        self.stats.dials_succeeded += 1;
        self.confidence
            .record_success(&d.addr, now.saturating_duration_since(d.started));
        self.deny.remove(&d.addr);
        self.finish(
            d.request,
            Ok(Connected { dial, addr: d.addr }),
            AbortReason::Superseded,
        );
        self.compact_timers();
        Ok(())
    }

    /// The runtime failed to connect `dial`. Confidence drops and the address is denied
    /// for a while; the token moves to the next address or goes back to the pool (R-T7).
    pub fn handle_dial_failed(
        &mut self,
        now: Instant,
        dial: DialId,
        reason: impl Into<String>,
    ) -> Result<(), ReportError> {
        let now = self.advance(now);
        let Some(d) = self.take_dial(dial) else {
            return Err(ReportError::UnknownDial(dial));
        };
        self.stats.dials_failed += 1;
        let request = d.request;
        self.record_failure(d, FailReason::Transport(reason.into()), now);
        self.pump(request, now);
        self.compact_timers();
        Ok(())
    }

    /// Processes every deadline up to `now`: dial timeouts (R-R6a), request timeouts
    /// (R-R6), stagger ticks (R-S1) and deny-list expiry (R-D2). Calling it early, or twice,
    /// does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        while let Some((deadline, due)) = self.next_due() {
            if deadline > now {
                break;
            }
            match due {
                Due::Request(request) => {
                    self.request_timers.pop_front();
                    self.time_out_request(request, now);
                }
                Due::Dial(dial) => {
                    self.dial_timers.pop_front();
                    if let Some(d) = self.take_dial(dial) {
                        self.stats.dials_timed_out += 1;
                        let request = d.request;
                        self.actions.push_back(Action::AbortDial(AbortDial {
                            dial,
                            request,
                            reason: AbortReason::AddressTimeout,
                        }));
                        self.record_failure(d, FailReason::AddressTimeout, now);
                        self.pump(request, now);
                    }
                }
                Due::Stagger(request) => {
                    self.stagger_timers.pop_front();
                    if let Some(req) = self.requests.get_mut(&request) {
                        req.stagger_at = None;
                    }
                    self.pump(request, now);
                }
            }
        }
        self.deny.expire(now);
        self.compact_timers();
    }

    // ----- outputs -------------------------------------------------------------------

    /// The next I/O command for the runtime. Drain until `None` after every input.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action<P>> {
        self.actions.pop_front()
    }

    /// The next event for the application. Drain until `None` after every input.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// The next deadline at which [`handle_timeout`](Self::handle_timeout) must be called,
    /// or `None` when nothing is pending. After `handle_timeout(t)` it is always later than
    /// `t`. It can be earlier than the `now` of an input given since the last
    /// `handle_timeout`: then call `handle_timeout` at once.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_due().map(|(t, _)| t)
    }

    // ----- internals -----------------------------------------------------------------

    /// The latest `now` seen: the core's clock (for the invariant checker).
    #[cfg(feature = "invariants")]
    pub(crate) fn clock(&self) -> Option<Instant> {
        self.now
    }

    fn effective(&self, now: Instant) -> Instant {
        match self.now {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    /// Moves the core's clock to `now`, never backwards.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.effective(now);
        self.now = Some(now);
        now
    }

    /// Why `addr` is left out of a new request (R-R1), or else its confidence, by which
    /// the request orders it.
    fn admit(
        &self,
        peer: &P,
        addr: &Multiaddr,
        admitted: &[Multiaddr],
        now: Instant,
    ) -> Result<u8, SkipReason> {
        if admitted.contains(addr) {
            Err(SkipReason::Duplicate)
        } else if !(self.dialable)(addr) {
            Err(SkipReason::Undialable)
        } else if self.deny.contains(addr, now) {
            Err(SkipReason::DenyListed)
        } else {
            self.confidence
                .admit(addr, peer, now)
                .ok_or(SkipReason::Pruned)
        }
    }

    /// A caller joins the request in flight for its peer (R-R8).
    fn join(&mut self, now: Instant, request: RequestId, input: Addrs) -> CallerId {
        let caller = self.callers.next_key();
        let max_addrs = self.config.max_addrs_per_request;
        let max_per_peer = self.config.max_per_peer_dials;
        // `by_peer` only names live requests, so the lookup cannot fail.
        let Some(req) = self.requests.get_mut(&request) else {
            return caller;
        };
        self.callers.insert(caller, request);
        self.stats.requests_joined += 1;
        req.callers.push(caller);
        let old_len = req.addrs.len();
        for addr in input {
            let skip = req.addrs.len() >= max_addrs
                || req.addrs.contains(&addr)
                || !(self.dialable)(&addr)
                || self.deny.contains(&addr, now)
                || self.confidence.is_pruned(&addr, &req.peer, now);
            if skip {
                self.stats.addresses_skipped += 1;
            } else {
                req.addrs.push(addr);
            }
        }
        if req.addrs.len() == old_len {
            return caller;
        }
        let next = req.next;
        sort_by_confidence(&mut req.addrs[next..], &self.confidence);
        if !req.overdraft {
            let wanted = max_per_peer.min(req.in_flight.len() + req.pending());
            if wanted > req.tokens {
                let requested = wanted - req.tokens;
                let granted = self.pool.acquire(requested);
                req.tokens += granted;
                self.events.push_back(Event::RequestTokens {
                    request,
                    requested,
                    granted,
                    overdraft: false,
                });
            }
        }
        self.pump(request, now);
        self.compact_timers();
        caller
    }

    /// Starts dials while the request has tokens and addresses (R-R3, R-T7, R-S1),
    /// releases tokens it can no longer use (R-T7), and fails the request when nothing is
    /// in flight and nothing is left (R-R5).
    fn pump(&mut self, request: RequestId, now: Instant) {
        self.pump_from(request, now, true);
    }

    /// [`pump`](Self::pump); `recheck: false` skips re-checking pending addresses against
    /// the deny list and prune marks, for a caller that has just checked them all.
    fn pump_from(&mut self, request: RequestId, now: Instant, recheck: bool) {
        // Past its dial_timeout a request that has begun dialing is over (R-R6), even if
        // its own timer has not been handled yet (an earlier deadline handled in the same
        // `handle_timeout`, or a report that arrives late): a dial started now would be
        // aborted at once and its address charged with a failure it never had (R-C4,
        // R-D1). A new request always gets its first dials, even with the immediate
        // deadline of the end of time (`deadline_after`).
        if self
            .requests
            .get(&request)
            .is_some_and(|r| r.next > 0 && now >= r.deadline)
        {
            self.time_out_request(request, now);
            return;
        }
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        // Every dial started in this call gets the same deadline.
        let deadline = deadline_after(now, self.config.address_timeout);
        while req.in_flight.len() < req.capacity() {
            if req.stagger_at.is_some() {
                if !req.in_flight.is_empty() {
                    break;
                }
                // Nothing of its own in flight: the next dial starts at once (R-S1), and
                // a head start whose dial ended early is over.
                if self.config.stagger.is_none() {
                    req.stagger_at = None;
                }
            }
            let mut addr = None;
            while req.next < req.addrs.len() {
                let candidate = &req.addrs[req.next];
                req.next += 1;
                // Another request may have failed this address since it was admitted
                // (invariant 4: never dial a deny-listed address).
                if recheck
                    && (self.deny.contains(candidate, now)
                        || self.confidence.is_pruned(candidate, &req.peer, now))
                {
                    self.stats.addresses_skipped += 1;
                    continue;
                }
                addr = Some(candidate.clone());
                break;
            }
            let Some(addr) = addr else { break };
            let dial = self.dials.next_key();
            self.dials.insert(
                dial,
                Dial {
                    request,
                    addr: addr.clone(),
                    started: now,
                    deadline,
                    overdraft: req.overdraft,
                },
            );
            self.dial_timers.push(deadline, dial);
            req.in_flight.push(dial);
            if req.overdraft {
                self.overdraft_in_flight += 1;
            }
            self.stats.dials_started += 1;
            self.actions.push_back(Action::StartDial(StartDial {
                dial,
                request,
                peer: req.peer.clone(),
                addr,
            }));
            // The first dial may have a head start; with a stagger too, the longer wins.
            let gap = match (req.head_start.take(), self.config.stagger) {
                (Some(head), Some(stagger)) => Some(head.max(stagger)),
                (head, stagger) => head.or(stagger),
            };
            if let Some(gap) = gap {
                // Armed even when nothing is pending yet: a joining caller (R-R8) may add
                // addresses, and they too must wait a full delay after this start.
                let at = deadline_after(now, gap);
                req.stagger_at = Some(at);
                self.stagger_timers.push(at, request);
            }
        }
        let pending = req.pending();
        if !req.overdraft {
            let needed = req.in_flight.len() + pending;
            if req.tokens > needed {
                let count = req.tokens - needed;
                req.tokens = needed;
                self.pool.release(count);
                self.events.push_back(Event::Release { request, count });
            }
        }
        if req.in_flight.is_empty() && pending == 0 {
            let attempts = std::mem::take(&mut req.attempts);
            self.finish(
                request,
                Err(DialError::AllFailed { attempts }),
                AbortReason::Superseded,
            );
        }
    }

    /// Removes a dial from the core and from its request's in-flight list.
    fn take_dial(&mut self, dial: DialId) -> Option<Dial> {
        let Some(d) = self.dials.remove(&dial) else {
            self.stats.reports_ignored += 1;
            return None;
        };
        if d.overdraft {
            self.overdraft_in_flight -= 1;
        }
        if let Some(req) = self.requests.get_mut(&d.request) {
            req.in_flight.retain(|id| *id != dial);
        }
        Some(d)
    }

    /// A dial failed, timeouts included (R-C2, R-C4, R-D1); prunes the address if it fell
    /// to 0 while the peer has a better one (R-C5).
    fn record_failure(&mut self, dial: Dial, reason: FailReason, now: Instant) {
        let value = self.confidence.adjust(&dial.addr, false);
        self.deny.insert(&dial.addr, now);
        let Some(req) = self.requests.get_mut(&dial.request) else {
            return;
        };
        if value == 0
            && !self.confidence.is_pruned(&dial.addr, &req.peer, now)
            && req.addrs.iter().any(|a| self.confidence.get(a) > 0)
        {
            let until = deadline_after(now, self.config.prune_duration);
            self.confidence.prune(&dial.addr, &req.peer, until);
            if self.confidence.is_pruned(&dial.addr, &req.peer, now) {
                self.stats.addresses_pruned += 1;
                self.events.push_back(Event::Pruned {
                    peer: req.peer.clone(),
                    addr: dial.addr.clone(),
                });
            }
        }
        req.attempts.push(Attempt {
            addr: dial.addr,
            reason,
        });
    }

    /// R-R6: every dial in flight fails with a timeout and is aborted, then the request ends.
    fn time_out_request(&mut self, request: RequestId, now: Instant) {
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        let in_flight = req.in_flight.clone();
        for dial in in_flight {
            if let Some(d) = self.take_dial(dial) {
                self.stats.dials_timed_out += 1;
                self.actions.push_back(Action::AbortDial(AbortDial {
                    dial,
                    request,
                    reason: AbortReason::RequestTimeout,
                }));
                self.record_failure(d, FailReason::RequestTimeout, now);
            }
        }
        let attempts = self
            .requests
            .get_mut(&request)
            .map(|r| std::mem::take(&mut r.attempts))
            .unwrap_or_default();
        self.finish(
            request,
            Err(DialError::Timeout { attempts }),
            AbortReason::RequestTimeout,
        );
    }

    /// Ends a request: aborts what is still in flight (`abort` says why), releases every
    /// token, and tells every remaining caller (R-R4 … R-R7).
    fn finish(
        &mut self,
        request: RequestId,
        result: Result<Connected, DialError>,
        abort: AbortReason,
    ) {
        let Some(mut req) = self.requests.remove(&request) else {
            return;
        };
        // One lookup: `by_peer` names every live request's peer (R-R8 joins share one),
        // so the entry is this request's; put back anything else, to stay correct anyway.
        if let Some(other) = self.by_peer.remove(&req.peer) {
            if other != request {
                self.by_peer.insert(req.peer.clone(), other);
            }
        }
        for dial in req.in_flight.drain(..) {
            if let Some(d) = self.dials.remove(&dial) {
                if d.overdraft {
                    self.overdraft_in_flight -= 1;
                }
                self.stats.dials_aborted += 1;
                self.actions.push_back(Action::AbortDial(AbortDial {
                    dial,
                    request,
                    reason: abort,
                }));
            }
        }
        if req.tokens > 0 {
            self.pool.release(req.tokens);
            self.events.push_back(Event::Release {
                request,
                count: req.tokens,
            });
        }
        match &result {
            Ok(_) => self.stats.requests_succeeded += 1,
            Err(DialError::Timeout { .. }) => self.stats.requests_timed_out += 1,
            Err(DialError::Cancelled) => self.stats.requests_cancelled += 1,
            Err(_) => self.stats.requests_failed += 1,
        }
        let mut result = Some(result);
        let count = req.callers.len();
        for (i, caller) in req.callers.into_iter().enumerate() {
            self.callers.remove(&caller);
            let result = if i + 1 == count {
                result.take()
            } else {
                result.clone()
            };
            if let Some(result) = result {
                self.events.push_back(Event::Finished {
                    caller,
                    request,
                    peer: req.peer.clone(),
                    result,
                });
            }
        }
    }

    /// The earliest live deadline; ties go request, then dial, then stagger, so that a
    /// request that times out starts nothing new in the same instant.
    fn next_due(&mut self) -> Option<(Instant, Due)> {
        let requests = &self.requests;
        let dials = &self.dials;
        let r = self
            .request_timers
            .front(|t, id| requests.get(&id).is_some_and(|r| r.deadline == t))
            .map(|(t, id)| (t, Due::Request(id)));
        let d = self
            .dial_timers
            .front(|t, id| dials.get(&id).is_some_and(|d| d.deadline == t))
            .map(|(t, id)| (t, Due::Dial(id)));
        let s = self
            .stagger_timers
            .front(|t, id| requests.get(&id).is_some_and(|r| r.stagger_at == Some(t)))
            .map(|(t, id)| (t, Due::Stagger(id)));
        // Written out rather than as an iterator chain: this runs twice per drive-loop
        // turn, and the chain cost more than the three queue fronts together.
        fn earlier(a: Option<(Instant, Due)>, b: Option<(Instant, Due)>) -> Option<(Instant, Due)> {
            match (a, b) {
                (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
                (x, None) => x,
                (None, y) => y,
            }
        }
        earlier(earlier(r, d), s)
    }

    fn compact_timers(&mut self) {
        let requests = &self.requests;
        let dials = &self.dials;
        self.request_timers.compact(requests.len(), |t, id| {
            requests.get(&id).is_some_and(|r| r.deadline == t)
        });
        self.dial_timers.compact(dials.len(), |t, id| {
            dials.get(&id).is_some_and(|d| d.deadline == t)
        });
        self.stagger_timers.compact(requests.len(), |t, id| {
            requests.get(&id).is_some_and(|r| r.stagger_at == Some(t))
        });
    }
}
