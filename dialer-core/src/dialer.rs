//! The state machine.

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;
use smallvec::SmallVec;

use crate::adaptive::ConnectTimes;
use crate::blackhole::{BlackHoleDetector, BlackHoleState, Traits};
use crate::confidence::{ConfidenceTable, INITIAL_CONFIDENCE};
use crate::config::{AddrClass, Config, ConfigError};
use crate::deny::{backoff, DenyList};
use crate::error::{
    Attempt, CancelError, DialFailed, DialRefused, FailReason, ReportError, SkipReason, Skipped,
    TransportError,
};
use crate::ids::{CallerId, DialId, KeyMap, RequestId, ResolveId};
use crate::opts::{DialOpts, Priority};
use crate::output::{AbortDial, AbortReason, Action, Connected, Dialing, Event, StartDial};
use crate::pool::TokenPool;
use crate::request::{order_keys, sort_by_keys, Addrs, Keys, Request, SortKeys, Verdicts};
use crate::resolve::Lookup;
use crate::slab::IdSlab;
use crate::stats::Stats;
use crate::timers::{DeadlineHeap, DeadlineQueue, Earliest};

/// Decides whether the runtime can dial an address at all (R-R1, R-A2).
type DialablePredicate = Box<dyn Fn(&Multiaddr) -> bool + Send + Sync>;

/// The embedder's address filter (R-R10).
type AddressFilter<P> = Box<dyn Fn(&P, &Multiaddr) -> bool + Send + Sync>;

/// How a new request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// With the tokens granted (none: a high-priority overdraft).
    Dial,
    /// Waiting for tokens (R-Q1).
    Wait,
    /// With names alone: no token until they bring addresses (R-N1).
    Resolve,
}

#[derive(Debug)]
pub(crate) struct Dial {
    pub(crate) request: RequestId,
    /// Its address: `addrs[slot]` of its request, which outlives it (a request's dialed
    /// addresses never move). An index, not a clone of the address: a clone is an atomic
    /// increment and decrement, and most dials end aborted, their address unread.
    pub(crate) slot: usize,
    /// When it started: a success measures the address's connect time from here.
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) overdraft: bool,
    /// Its deadline is an adaptive one, shorter than `address_timeout` (R-R6b).
    pub(crate) adaptive: bool,
    /// Its address was cut short last time: spared at its adaptive deadline while the pool
    /// has free tokens, even with other addresses waiting (R-R6b).
    pub(crate) patient: bool,
    /// It outlived its adaptive deadline on a token nobody wanted (R-R6b): the first to
    /// go when a new request finds the pool short.
    pub(crate) spared: bool,
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
    /// Deadlines of dials with the fixed `address_timeout`: pushed in order.
    pub(crate) dial_timers: DeadlineQueue<DialId>,
    /// Deadlines of dials with an adaptive timeout (R-R6b), kept apart so that neither
    /// queue sees out-of-order pushes (a 1 s deadline behind a 10 s one).
    pub(crate) adaptive_timers: DeadlineQueue<DialId>,
    pub(crate) stagger_timers: DeadlineHeap<RequestId>,
    /// The earliest live timer of all the queues, kept between calls: `poll_timeout`
    /// after an input that armed nothing earlier is one liveness check.
    pub(crate) earliest: Earliest<Due>,
    pub(crate) actions: VecDeque<Action<P>>,
    pub(crate) events: VecDeque<Event<P>>,
    pub(crate) stats: Stats,
    pub(crate) overdraft_in_flight: usize,
    pub(crate) dialable: DialablePredicate,
    /// The embedder's address filter (R-R10), if set.
    pub(crate) filter: Option<AddressFilter<P>>,
    /// Name lookups in flight (R-N1).
    pub(crate) resolves: IdSlab<ResolveId, Lookup>,
    /// Their deadlines: `address_timeout` after each was issued, so in order.
    pub(crate) resolve_timers: DeadlineQueue<ResolveId>,
    /// Ends of resolution delays (RFC 8305): a fixed delay, so in order.
    pub(crate) hold_timers: DeadlineQueue<ResolveId>,
    /// Name commands for the runtime (R-N1), apart from `actions` (see [`Action`]).
    pub(crate) name_actions: VecDeque<crate::names::NameAction<P>>,
    /// Live requests with names (a [`NameSet`](crate::resolve::NameSet)).
    pub(crate) named: usize,
    /// Recent connect times, for adaptive address timeouts (R-R6b).
    pub(crate) connect_times: ConnectTimes,
    pub(crate) black_holes: BlackHoleDetector,
    /// Spared dials, oldest first (entries of dials that ended since are skipped).
    pub(crate) spared: VecDeque<DialId>,
    /// Black-hole state changes of the current input, turned into events.
    changes: Vec<(AddrClass, BlackHoleState)>,
    /// Requests waiting for tokens (R-Q1), oldest first; entries of requests that left
    /// the queue since (served, cancelled, timed out, taken out by a high-priority join)
    /// are skipped.
    pub(crate) queue: VecDeque<RequestId>,
    /// Requests waiting now: the live entries of `queue`.
    pub(crate) waiting: usize,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Request(RequestId),
    Dial(DialId),
    AdaptiveDial(DialId),
    Stagger(RequestId),
    Resolve(ResolveId),
    Hold(ResolveId),
}

/// The earlier of two deadlines; a tie goes to `a`. Written out rather than as an
/// iterator chain: `next_due` runs twice per drive-loop turn, and the chain cost more than
/// the queue fronts together.
#[inline(always)]
fn earlier(a: Option<(Instant, Due)>, b: Option<(Instant, Due)>) -> Option<(Instant, Due)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What a request's candidates are judged by in [`Dialer::verdict`], the same for each.
#[derive(Clone, Copy)]
pub(crate) struct Terms<'a, P> {
    pub(crate) peer: &'a P,
    /// The request ignores the deny list and black holes (R-D7).
    pub(crate) ignore_deny: bool,
    /// The blocked classes the request probes (R-B2).
    pub(crate) probes: u8,
    pub(crate) now: Instant,
}

impl<'a, P> Terms<'a, P> {
    /// The terms of a request in flight.
    pub(crate) fn of(req: &'a Request<P>, now: Instant) -> Self {
        Self {
            peer: &req.peer,
            ignore_deny: req.ignore_deny,
            probes: req.probes,
            now,
        }
    }
}

/// When a request whose wait ends at `deadline` was queued: its deadline is its queueing
/// time plus `wait` (see `wait_bound`).
fn queued_at(deadline: Instant, wait: Duration) -> Instant {
    deadline.checked_sub(wait).unwrap_or(deadline)
}

#[inline(always)]
pub(crate) fn deadline_after(now: Instant, d: Duration) -> Instant {
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
            confidence: ConfidenceTable::new(
                config.confidence_capacity,
                config
                    .adaptive_timeout
                    .map_or(Duration::MAX, |a| a.syn_retry / a.margin.max(1)),
            ),
            deny: DenyList::new(config.deny_list_capacity),
            request_timers: DeadlineQueue::new(),
            dial_timers: DeadlineQueue::new(),
            adaptive_timers: DeadlineQueue::new(),
            stagger_timers: DeadlineHeap::new(),
            earliest: Earliest::unknown(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            overdraft_in_flight: 0,
            dialable: Box::new(|_| true),
            filter: None,
            resolves: IdSlab::default(),
            resolve_timers: DeadlineQueue::new(),
            hold_timers: DeadlineQueue::new(),
            name_actions: VecDeque::new(),
            named: 0,
            connect_times: ConnectTimes::new(config.adaptive_timeout),
            black_holes: BlackHoleDetector::new(config.black_holes.clone()),
            changes: Vec::new(),
            spared: VecDeque::new(),
            queue: VecDeque::new(),
            waiting: 0,
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
            requests_waiting: self.waiting,
            dials_in_flight: self.dials.len(),
            resolves_in_flight: self.resolves.len(),
            confidence_entries: self.confidence.len(),
            deny_list_entries: self.deny.len(),
            black_holed_classes: self.black_holes.blocked().count_ones() as usize,
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

    /// The request in flight for `peer`, if any (the one a new caller would join, R-R8).
    pub fn request_for(&self, peer: &P) -> Option<RequestId> {
        self.by_peer.get(peer).copied()
    }

    /// The request a caller is waiting on, while it waits.
    pub fn request_of(&self, caller: CallerId) -> Option<RequestId> {
        self.callers.get(&caller).copied()
    }

    /// Confidence of `addr`, 0..=10 (R-C).
    pub fn confidence(&self, addr: &Multiaddr) -> u8 {
        self.confidence.get(addr)
    }

    /// Whether `addr` is pruned for `peer` at `now` (R-C5): pruned, and the mark has not
    /// yet expired (see [`Config::prune_duration`]).
    pub fn is_pruned(&self, now: Instant, peer: &P, addr: &Multiaddr) -> bool {
        self.confidence.is_pruned(addr, peer, self.effective(now))
    }

    /// Whether `addr` is on the deny list at `now` (R-D2).
    pub fn is_deny_listed(&self, now: Instant, addr: &Multiaddr) -> bool {
        self.deny.contains(addr, self.effective(now))
    }

    /// Failures in a row of `addr` since its last success (R-D4): what its next failure's
    /// deny time grows from.
    pub fn failures(&self, addr: &Multiaddr) -> u8 {
        self.confidence.failures(addr)
    }

    /// The black-hole state of `class` (R-B4), or `None` if it is not watched.
    pub fn black_hole_state(&self, class: AddrClass) -> Option<BlackHoleState> {
        self.black_holes.state(class)
    }

    /// Whether a new request would skip `addr` as black-holed now (R-B2): it is public
    /// and in a blocked class (a probe request still dials it).
    pub fn is_black_holed(&self, addr: &Multiaddr) -> bool {
        self.black_holes.skips(addr, 0)
    }

    /// The adaptive address timeout a dial of `addr` would get now (R-R6b), or the fixed
    /// `address_timeout` when adaptive timeouts are off or not yet measured.
    pub fn address_timeout_for(&self, addr: &Multiaddr) -> Duration {
        match self.timeout_for(addr) {
            // A patient dial may run to the full timeout, on a lent token.
            (_, _, true) => self.config.address_timeout,
            (timeout, _, false) => timeout,
        }
    }

    /// Every learned confidence, least recently used first (R-C6). Feed it to
    /// [`import_confidence`](Self::import_confidence) after a restart.
    pub fn export_confidence(&self) -> Vec<(Multiaddr, u8)> {
        self.confidence.export()
    }

    /// Loads learned confidence (R-C6). Values above 10 are clamped; entries beyond the
    /// table's capacity push out the least recent ones, so import in
    /// [`export_confidence`](Self::export_confidence) order. Pruning marks are not carried,
    /// and importing an address lifts its marks (R-C5a).
    pub fn import_confidence(&mut self, entries: impl IntoIterator<Item = (Multiaddr, u8)>) {
        for (addr, value) in entries {
            self.confidence.set(&addr, value);
        }
    }

    /// Everything learned about addresses at `now`, as one [`Snapshot`](crate::Snapshot)
    /// (R-C7, feature `serde`): confidence entries with their connect times, failures in a
    /// row and prune marks, deny entries, and the connect-time histogram; expiries as
    /// durations from `now`. Black-hole state is not saved. See [`crate::snapshot`].
    #[cfg(feature = "serde")]
    pub fn snapshot(&self, now: Instant) -> crate::Snapshot<P> {
        crate::snapshot::take(self, self.effective(now))
    }

    /// Restores a [`Snapshot`](crate::Snapshot) at `now` (R-C7, feature `serde`): its
    /// expiries count from `now`, and its entries replace what this dialer knows of the
    /// same addresses and become the most recent, as an import does. What does not fit the
    /// tables is dropped and counted in the [`RestoreReport`](crate::RestoreReport). A
    /// snapshot that fails [`Snapshot::validate`](crate::Snapshot::validate) is refused
    /// and changes nothing.
    #[cfg(feature = "serde")]
    pub fn restore(
        &mut self,
        now: Instant,
        snapshot: crate::Snapshot<P>,
    ) -> Result<crate::RestoreReport, crate::RestoreError> {
        snapshot.validate()?;
        let now = self.advance(now);
        Ok(crate::snapshot::apply(self, now, snapshot))
    }

    // ----- commands ------------------------------------------------------------------

    /// Asks to connect to `peer` at any of `addrs`, with `opts` (priority, R-P1; ignoring
    /// the deny list, R-D7).
    ///
    /// Returns the caller's id and the request it waits on ([`Dialing`]); the outcome
    /// arrives later as one [`Event::Finished`] for that caller. If a request for `peer`
    /// is already in flight, the caller joins it and its new addresses are merged in
    /// (R-R8). Refusals are immediate and spend nothing ([`DialRefused`]): an empty or too
    /// long list (R-R9), nothing dialable after filtering (R-R2), every dialable address
    /// backed off (R-D6), or an empty pool (R-T4; a [`Priority::High`] request proceeds
    /// instead, R-P1).
    pub fn dial(
        &mut self,
        now: Instant,
        peer: P,
        addrs: impl IntoIterator<Item = Multiaddr>,
        opts: DialOpts,
    ) -> Result<Dialing, DialRefused> {
        let result = self.dial_inner(now, peer, addrs, opts);
        if !self.queue.is_empty() {
            // Tokens the call freed (an expired request, a first pump that had more
            // tokens than addresses) go to the queue (R-Q1, R-T8).
            let now = self.effective(now);
            self.serve_queue(now);
        }
        result
    }

    #[inline(always)]
    fn dial_inner(
        &mut self,
        now: Instant,
        peer: P,
        addrs: impl IntoIterator<Item = Multiaddr>,
        opts: DialOpts,
    ) -> Result<Dialing, DialRefused> {
        let now = self.advance(now);
        let input = self.bounded_input(addrs)?;
        if let Some(&request) = self.by_peer.get(&peer) {
            if self.past_deadline(request, now) {
                // Its dial_timeout (or its wait for tokens, R-Q1) passed before the timer
                // was handled: it is over, and this caller starts afresh instead of
                // sharing its timeout (R-R6, R-R8).
                self.time_out_request(request, now);
            } else {
                let caller = self.join(now, request, input, opts);
                return Ok(Dialing {
                    caller,
                    request,
                    joined: true,
                });
            }
        }
        if self.config.names.is_some() && input.iter().any(crate::names::is_name) {
            return self.dial_with_names(now, peer, input, opts);
        }
        let (admitted, keys, probes) = self.admit_all(now, &peer, input, opts)?;
        self.dial_admitted(now, peer, admitted, &keys, opts, probes, Vec::new())
    }

    /// A new request's admitted addresses (and names, R-N1) start dialing, wait for
    /// tokens, or are refused for want of tokens (R-T4, R-Q1).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn dial_admitted(
        &mut self,
        now: Instant,
        peer: P,
        admitted: Addrs,
        keys: &[u32],
        opts: DialOpts,
        probes: u8,
        names: Vec<Multiaddr>,
    ) -> Result<Dialing, DialRefused> {
        // R-Q1: behind requests that wait already, a normal one waits too (FIFO).
        if self.waiting > 0 && opts.priority == Priority::Normal {
            let dialing = self.enqueue(now, peer, admitted, keys, opts, probes)?;
            self.start_names(dialing.request, names, 0, now);
            return Ok(dialing);
        }
        // A pool short of what this request asks for takes back lent tokens (R-R6b).
        let reclaims = self.stats.dials_reclaimed;
        let wanted = self.config.max_per_peer_dials.min(admitted.len());
        if self.pool.available() < wanted && !self.spared.is_empty() {
            self.reclaim(now, wanted);
        }
        if self.pool.available() == 0
            && opts.priority == Priority::Normal
            && self.config.wait_for_tokens.is_some()
        {
            let dialing = self.enqueue(now, peer, admitted, keys, opts, probes)?;
            self.start_names(dialing.request, names, 0, now);
            return Ok(dialing);
        }
        let (requested, granted) = self.take_tokens(admitted.len(), opts.priority)?;
        let dialing = self.start_request(
            now,
            peer,
            admitted,
            keys,
            opts,
            requested,
            granted,
            Start::Dial,
        );
        if let Some(req) = self.requests.get_mut(&dialing.request) {
            req.probes = probes;
        }
        if !names.is_empty() {
            // The caller's addresses dial at once, in the pump below, without waiting for
            // its names (R-N2); registered first, the names keep the request alive if
            // every address is passed over.
            self.start_names(dialing.request, names, 0, now);
        }
        // Every address was checked against the deny list and prune marks just now, and
        // unless a reclaim cut a dial (which deny-lists its address) nothing can have
        // changed them since: the first pump need not check again.
        let recheck = self.stats.dials_reclaimed != reclaims;
        self.pump_from(dialing.request, now, recheck);
        self.compact_timers();
        Ok(dialing)
    }

    /// A new request with names (R-N1): its names are admitted apart from its addresses,
    /// and it is refused only if neither leaves anything.
    ///
    /// A request of names alone (R-N1): it resolves first and takes its tokens when its
    /// names bring addresses (see the `resolve` module). With the pool empty now and no
    /// wait queue it is refused at once, fail-fast as any request (R-T4): the answer would
    /// most likely find the pool empty too, and the lookup would be wasted.
    #[cold]
    #[inline(never)]
    fn dial_with_names(
        &mut self,
        now: Instant,
        peer: P,
        input: Addrs,
        opts: DialOpts,
    ) -> Result<Dialing, DialRefused> {
        let (literal, names, mut skipped) =
            self.admit_names(&peer, input, Vec::new(), opts.ignore_backoff, now);
        for s in &skipped {
            self.stats.skipped(Some(s.reason));
        }
        let (admitted, keys, probes, more) = self.admit_list(now, &peer, literal, opts);
        skipped.extend(more);
        if !admitted.is_empty() {
            return self.dial_admitted(now, peer, admitted, &keys, opts, probes, names);
        }
        if names.is_empty() {
            return Err(self.refuse_nothing_dialable(now, skipped));
        }
        self.dial_names_only(now, peer, opts, probes, names)
    }

    #[cold]
    fn dial_names_only(
        &mut self,
        now: Instant,
        peer: P,
        opts: DialOpts,
        probes: u8,
        names: Vec<Multiaddr>,
    ) -> Result<Dialing, DialRefused> {
        // Tokens lent to spared dials count as free: they come back when the answers
        // ask for them (R-R6b).
        if self.pool.available() == 0
            && self.spared.is_empty()
            && opts.priority == Priority::Normal
            && self.config.wait_for_tokens.is_none()
        {
            self.stats.requests_rejected_no_tokens += 1;
            return Err(DialRefused::NoTokens);
        }
        let dialing = self.start_request(now, peer, Addrs::new(), &[], opts, 0, 0, Start::Resolve);
        if let Some(req) = self.requests.get_mut(&dialing.request) {
            req.probes = probes;
        }
        self.start_names(dialing.request, names, 0, now);
        self.compact_timers();
        Ok(dialing)
    }

    /// Ends `caller`'s wait with [`DialFailed::Cancelled`] (R-R7). The request itself is
    /// cancelled (dials aborted, tokens released) only when no other caller waits on it
    /// (R-R8).
    pub fn cancel(&mut self, now: Instant, caller: CallerId) -> Result<(), CancelError> {
        // The core's clock, never back: the queue is served at it (R-Q1).
        let now = self.advance(now);
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
            result: Err(DialFailed::Cancelled),
        });
        if last {
            self.finish(request, Err(DialFailed::Cancelled), AbortReason::Cancelled);
            self.serve_queue(now);
        }
        self.compact_timers();
        Ok(())
    }

    /// Lifts the prune mark of `addr` for `peer` (R-C5a): the embedder's peer store
    /// learned the address again. Returns whether there was a mark.
    pub fn lift_prune(&mut self, peer: &P, addr: &Multiaddr) -> bool {
        self.confidence.lift_prune(addr, peer)
    }

    /// The embedder has a connection to `peer` it got another way (an inbound connection,
    /// another stack's dial): `addrs`, its known addresses, and the addresses of a request
    /// in flight for it leave the deny list, and their failure counts reset (R-D4a), as
    /// go-libp2p clears backoff on any new connection. Confidence is unchanged: the core
    /// did not see which address works. A request in flight for the peer goes on.
    pub fn handle_peer_connected<'a>(
        &mut self,
        now: Instant,
        peer: &P,
        addrs: impl IntoIterator<Item = &'a Multiaddr>,
    ) {
        self.advance(now);
        for addr in addrs {
            self.deny.remove(addr);
            self.confidence.forgive(addr);
        }
        if let Some(req) = self.by_peer.get(peer).and_then(|r| self.requests.get(r)) {
            for addr in &req.addrs {
                self.deny.remove(addr);
                self.confidence.forgive(addr);
            }
        }
    }

    /// The node's network changed (a new interface or default route, a wake from sleep):
    /// what the core learned about the old one goes (R-D4b). Every black-hole window
    /// restarts (an event for each class that leaves its state), the connect-time
    /// estimates of adaptive timeouts are dropped, the deny list is emptied and failure
    /// counts reset. Confidence and prune marks, which are about peers, stay. Requests in
    /// flight go on.
    pub fn network_changed(&mut self, now: Instant) {
        self.advance(now);
        self.deny.clear();
        self.confidence.forgive_all();
        self.connect_times.reset();
        self.black_holes.reset(&mut self.changes);
        self.flush_black_hole_changes();
    }

    // ----- inputs from the runtime ---------------------------------------------------

    /// The runtime connected `dial`. The request completes with it; every other dial of
    /// the request is aborted and all its tokens are released (R-R4).
    pub fn handle_dial_succeeded(&mut self, now: Instant, dial: DialId) -> Result<(), ReportError> {
        let now = self.advance(now);
        let Some((d, addr)) = self.take_dial(dial) else {
            return Err(ReportError::UnknownDial(dial));
        };
        self.stats.dials_succeeded += 1;
        let connect_time = now.saturating_duration_since(d.started);
        self.confidence.record_success(&addr, connect_time);
        self.connect_times.record(connect_time);
        self.deny.remove(&addr);
        if self.black_holes.enabled() {
            // Read only for dials that end with an outcome (most aborted ones never do).
            let traits = Traits::of(&addr, self.black_holes.classes());
            self.black_holes.record(traits, true, &mut self.changes);
            self.flush_black_hole_changes();
        }
        let failed = self
            .requests
            .get_mut(&d.request)
            .map(|r| std::mem::take(&mut r.attempts))
            .unwrap_or_default();
        let connected = Connected {
            dial,
            addr,
            connect_time,
            failed,
        };
        self.finish(d.request, Ok(connected), AbortReason::Superseded);
        self.serve_queue(now);
        self.compact_timers();
        Ok(())
    }

    /// The runtime failed to connect `dial`, for `error` (a [`TransportError`], or just a
    /// message: `&str` and `String` convert). Confidence drops and the address is denied
    /// for a while; the token moves to the next address or goes back to the pool (R-T7).
    pub fn handle_dial_failed(
        &mut self,
        now: Instant,
        dial: DialId,
        error: impl Into<TransportError>,
    ) -> Result<(), ReportError> {
        let now = self.advance(now);
        let Some((d, addr)) = self.take_dial(dial) else {
            return Err(ReportError::UnknownDial(dial));
        };
        self.stats.dials_failed += 1;
        let request = d.request;
        self.record_failure(request, addr, FailReason::Transport(error.into()), now);
        self.pump(request, now);
        self.serve_queue(now);
        self.compact_timers();
        Ok(())
    }

    /// Processes every deadline up to `now`: dial timeouts (R-R6a), request timeouts
    /// (R-R6), stagger ticks (R-S1) and deny-list expiry (R-D2). Calling it early, or twice,
    /// does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        loop {
            let next = self.next_due();
            let Some((_, due)) = next.filter(|&(t, _)| t <= now) else {
                // The earliest live timer, for `poll_timeout`.
                self.earliest.set(next);
                break;
            };
            match due {
                Due::Request(request) => {
                    self.request_timers.pop_front();
                    self.time_out_request(request, now);
                }
                Due::Dial(dial) | Due::AdaptiveDial(dial) => {
                    if matches!(due, Due::Dial(_)) {
                        self.dial_timers.pop_front();
                    } else {
                        self.adaptive_timers.pop_front();
                    }
                    if self.spare(dial) {
                        continue;
                    }
                    self.time_out_dial(dial, now, false);
                }
                Due::Stagger(request) => {
                    self.stagger_timers.pop_front();
                    if let Some(req) = self.requests.get_mut(&request) {
                        req.stagger_at = None;
                    }
                    self.pump(request, now);
                }
                Due::Resolve(resolve) => {
                    self.resolve_timers.pop_front();
                    self.time_out_resolve(resolve, now);
                }
                Due::Hold(resolve) => {
                    self.hold_timers.pop_front();
                    self.hold_expired(resolve, now);
                }
            }
            // Tokens a timeout freed go to the queue before a later deadline (a wait
            // that would run out at the same instant) is handled (R-Q1, R-T8).
            self.serve_queue(now);
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
        match self.earliest.get() {
            Some(None) => return None,
            Some(Some((t, due))) if self.is_live(t, due) => return Some(t),
            _ => {}
        }
        let next = self.next_due();
        self.earliest.set(next);
        next.map(|(t, _)| t)
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
    pub(crate) fn advance(&mut self, now: Instant) -> Instant {
        let now = self.effective(now);
        self.now = Some(now);
        now
    }

    /// The timeout of a dial of `addr` started now, and whether it is an adaptive one
    /// shorter than `address_timeout` (R-R6b).
    #[inline]
    fn timeout_for(&self, addr: &Multiaddr) -> (Duration, bool, bool) {
        let full = self.config.address_timeout;
        if self.connect_times.percentile().is_none() {
            return (full, false, false);
        }
        let (own, cut) = self.confidence.timing(addr);
        let (timeout, adaptive) = self.connect_times.timeout(own, full);
        // Its last dial was cut short: this one is *patient*, spared at its adaptive
        // deadline whenever the pool has a token to lend, so a slow but working address
        // is found again without holding a token someone needs.
        (timeout, adaptive, adaptive && cut)
    }

    /// R-R6b: an adaptive timeout does not cut a dial whose request has nothing else to
    /// dial (or whose address was cut before) while the pool has free tokens (cutting
    /// frees a token nobody waits for, and loses a slow peer): it runs on towards the full
    /// `address_timeout`, until a new request needs its token ([`reclaim`](Self::reclaim)). Returns whether the
    /// dial was spared.
    fn spare(&mut self, dial: DialId) -> bool {
        let Some(d) = self.dials.get_mut(&dial) else {
            return false;
        };
        if !d.adaptive {
            return false;
        }
        let pending = self.requests.get(&d.request).map_or(0, |r| r.pending());
        if (pending > 0 && !d.patient) || self.pool.available() == 0 {
            return false;
        }
        d.adaptive = false;
        d.spared = true;
        d.deadline = deadline_after(d.started, self.config.address_timeout);
        let deadline = d.deadline;
        self.dial_timers
            .push(deadline, dial, &mut self.earliest, Due::Dial);
        self.spared.push_back(dial);
        self.stats.dials_spared += 1;
        true
    }

    /// Ends `dial` as timed out (R-R6a): aborted, a failure of its address, its token on to
    /// the next address or back to the pool. `reclaimed`: a spared dial cut because a new
    /// request needs its token (R-R6b), which counts as an adaptive cut.
    fn time_out_dial(&mut self, dial: DialId, now: Instant, reclaimed: bool) {
        let Some((d, addr)) = self.take_dial(dial) else {
            return;
        };
        self.stats.dials_timed_out += 1;
        let request = d.request;
        self.actions.push_back(Action::AbortDial(AbortDial {
            dial,
            request,
            reason: AbortReason::AddressTimeout,
        }));
        let reason = if d.adaptive || reclaimed {
            self.stats.dials_cut += 1;
            // How long it ran: with a late `handle_timeout`, longer than its timeout.
            FailReason::AdaptiveTimeout {
                after: now.saturating_duration_since(d.started),
            }
        } else {
            FailReason::AddressTimeout
        };
        self.record_failure(request, addr, reason, now);
        self.pump(request, now);
    }

    /// R-R6b: a new request asks for `wanted` tokens and the pool has fewer: spared dials
    /// (past their adaptive deadline on tokens nobody wanted then) are cut, oldest first,
    /// until the pool has enough or none is left: the pool is short, so patience ends. A
    /// cut whose request has other addresses waiting moves its token to the next of them
    /// (which has an adaptive timeout) rather than to the newcomer, so the newcomer may
    /// still be refused; the cuts were due anyway, the tokens were only lent.
    pub(crate) fn reclaim(&mut self, now: Instant, wanted: usize) {
        while self.pool.available() < wanted {
            let Some(dial) = self.spared.pop_front() else {
                return;
            };
            if self.dials.get(&dial).is_some_and(|d| d.spared) {
                self.stats.dials_reclaimed += 1;
                self.time_out_dial(dial, now, true);
            }
        }
    }

    /// Turns the black-hole state changes gathered during an input into events (R-B4).
    fn flush_black_hole_changes(&mut self) {
        for (class, state) in self.changes.drain(..) {
            self.stats.black_hole_changes += 1;
            self.events.push_back(Event::BlackHole { class, state });
        }
    }

    /// Why `addr` is left out of a request (R-R1): a new one's, a joining caller's (R-R8)
    /// or a name's result (R-N2); or else its confidence rank, by which a new request
    /// orders it. The one admission chain, in the order that decides which [`SkipReason`]
    /// is reported: a duplicate of a candidate in `known` or `earlier`, the fixed refusals
    /// and the address filter (R-R10), the dialable predicate, the deny list and black
    /// holes (both unless the request ignores them, R-D7), prune marks (R-C5; one lookup
    /// gives the mark and the rank). The caller counts the skip.
    ///
    /// Inlined: a new request without names (`admit_list`) calls it per address with
    /// `earlier` empty, which then costs nothing.
    #[inline(always)]
    pub(crate) fn verdict(
        &self,
        terms: &Terms<'_, P>,
        addr: &Multiaddr,
        known: &[Multiaddr],
        earlier: &[Multiaddr],
    ) -> Result<u8, SkipReason> {
        let Terms {
            peer,
            ignore_deny,
            probes,
            now,
        } = *terms;
        if known.contains(addr) || earlier.contains(addr) {
            Err(SkipReason::Duplicate)
        } else if let Some(reason) = self.filtered(peer, addr) {
            Err(reason)
        } else if !(self.dialable)(addr) {
            Err(SkipReason::Undialable)
        } else if !ignore_deny && self.deny.contains(addr, now) {
            Err(SkipReason::DenyListed)
        } else if !ignore_deny && self.black_holes.skips(addr, probes) {
            Err(SkipReason::BlackHoled)
        } else {
            self.confidence
                .admit(addr, peer, now)
                .ok_or(SkipReason::Pruned)
        }
    }

    /// The blocked classes a new request with `input` probes (R-B2): one request in
    /// `window` among those that could probe them. A request could if it has a public
    /// address of the class that is not backed off, and its peer is not known to be down:
    /// it has no address outside the blocked classes, or one that is neither backed off
    /// nor failed its last dial. A request whose other addresses all failed would
    /// otherwise add the blocked class to a peer that failed everywhere else: a wasted
    /// dial, and a failure the route may not have caused. It does not count, and the next
    /// request probes.
    fn probes_of(&mut self, input: &[Multiaddr], opts: DialOpts, now: Instant) -> u8 {
        let blocked = self.black_holes.blocked();
        if blocked == 0 || opts.ignore_backoff {
            return 0;
        }
        let mut met = 0;
        let (mut others, mut others_live) = (false, false);
        for addr in input {
            let t = Traits::of(addr, self.black_holes.classes());
            if t.public && t.classes & blocked != 0 {
                if !self.deny.contains(addr, now) {
                    met |= t.classes & blocked;
                }
            } else {
                others = true;
                others_live = others_live
                    || (!self.deny.contains(addr, now) && self.confidence.failures(addr) == 0);
            }
        }
        if others && !others_live {
            return 0;
        }
        let probes = self.black_holes.probes_for(met);
        self.stats.black_hole_probes += u64::from(probes != 0);
        probes
    }

    /// The caller's addresses, refused when there are none or too many (R-R9).
    #[inline(always)]
    fn bounded_input(
        &mut self,
        addrs: impl IntoIterator<Item = Multiaddr>,
    ) -> Result<Addrs, DialRefused> {
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
            return Err(DialRefused::NoAddresses);
        }
        if given > max {
            self.stats.requests_rejected_invalid += 1;
            return Err(DialRefused::TooManyAddresses { given, max });
        }
        Ok(input)
    }

    /// The addresses of a new request in dial order, each with its confidence (R-R1), or
    /// why there is nothing to dial (R-R2, R-D6).
    #[inline(always)]
    fn admit_all(
        &mut self,
        now: Instant,
        peer: &P,
        input: Addrs,
        opts: DialOpts,
    ) -> Result<(Addrs, SortKeys, u8), DialRefused> {
        let (admitted, keys, probes, skipped) = self.admit_list(now, peer, input, opts);
        if admitted.is_empty() {
            return Err(self.refuse_nothing_dialable(now, skipped));
        }
        Ok((admitted, keys, probes))
    }

    /// [`admit_all`](Self::admit_all) without the refusal: what was admitted, in dial
    /// order with its keys, the probes, and what was skipped.
    #[inline(always)]
    fn admit_list(
        &mut self,
        now: Instant,
        peer: &P,
        input: Addrs,
        opts: DialOpts,
    ) -> (Addrs, SortKeys, u8, Vec<Skipped>) {
        let probes = self.probes_of(&input, opts, now);
        let mut admitted = Addrs::new();
        // Confidence of each admitted address, looked up once with its prune mark.
        let mut confidence = Keys::new();
        let mut skipped = Vec::new();
        let terms = Terms {
            peer,
            ignore_deny: opts.ignore_backoff,
            probes,
            now,
        };
        for addr in input {
            match self.verdict(&terms, &addr, &admitted, &[]) {
                Err(reason) => {
                    self.stats.skipped(Some(reason));
                    skipped.push(Skipped { addr, reason });
                }
                Ok(value) => {
                    admitted.push(addr);
                    confidence.push(value);
                }
            }
        }
        let mut keys = order_keys(&admitted, &confidence, self.config.interleave);
        sort_by_keys(&mut admitted, &mut keys);
        (admitted, keys, probes, skipped)
    }

    /// R-R2, R-D6, R-B3: nothing is left to dial. If some address is only backed off, say
    /// when the first comes back; if some is only black-holed, say that.
    fn refuse_nothing_dialable(&mut self, now: Instant, skipped: Vec<Skipped>) -> DialRefused {
        let retry_at = skipped
            .iter()
            .filter(|s| s.reason == SkipReason::DenyListed)
            .filter_map(|s| self.deny.until(&s.addr))
            .min();
        match retry_at {
            Some(retry_at) => {
                self.stats.requests_rejected_backed_off += 1;
                DialRefused::BackedOff {
                    skipped,
                    retry_at,
                    retry_in: retry_at.saturating_duration_since(now),
                }
            }
            None if skipped.iter().any(|s| s.reason == SkipReason::BlackHoled) => {
                self.stats.requests_rejected_black_holed += 1;
                DialRefused::BlackHoled { skipped }
            }
            None => {
                self.stats.requests_rejected_no_addresses += 1;
                DialRefused::NoDialableAddresses { skipped }
            }
        }
    }

    /// R-T2 … R-T4, R-P1: asks the pool for `min(max_per_peer_dials, addresses)` tokens;
    /// returns what was asked and granted (0 granted: a high-priority overdraft).
    #[inline(always)]
    fn take_tokens(
        &mut self,
        addresses: usize,
        priority: Priority,
    ) -> Result<(usize, usize), DialRefused> {
        let requested = self.config.max_per_peer_dials.min(addresses);
        let granted = self.pool.acquire(requested);
        if granted == 0 {
            if priority != Priority::High {
                self.stats.requests_rejected_no_tokens += 1;
                return Err(DialRefused::NoTokens);
            }
            self.stats.overdraft_requests += 1;
        }
        Ok((requested, granted))
    }

    /// Records a new request that holds `granted` tokens (none: an overdraft) and its first
    /// caller, and arms its deadline. Its dials start in the pump that follows. With
    /// `wait`, it holds none and waits for them instead (R-Q1): no grant is announced, and
    /// its deadline is the end of its wait.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn start_request(
        &mut self,
        now: Instant,
        peer: P,
        addrs: Addrs,
        keys: &[u32],
        opts: DialOpts,
        requested: usize,
        granted: usize,
        start: Start,
    ) -> Dialing {
        let request = self.requests.next_key();
        let caller = self.callers.next_key();
        let wait = start == Start::Wait;
        let deadline = if wait {
            deadline_after(now, self.wait_bound())
        } else {
            deadline_after(now, self.config.dial_timeout)
        };
        let overdraft = granted == 0 && start == Start::Dial;
        // A proven best address dials alone first (HeadStart); a single token has
        // nothing to hold back. Its key says whether it connected before, so an unproven
        // one costs no lookup.
        let head_start = if granted > 1 && crate::request::proven_of(keys[0]) {
            self.head_start_of(&addrs[0])
        } else {
            None
        };
        let mut callers = SmallVec::new();
        callers.push(caller);
        if start == Start::Dial {
            self.events.push_back(Event::RequestTokens {
                request,
                requested,
                granted,
                overdraft,
            });
        }
        self.by_peer.insert(peer.clone(), request);
        self.requests.insert(
            request,
            Request {
                peer,
                callers,
                addrs,
                next: 0,
                in_flight: SmallVec::new(),
                tokens: granted,
                overdraft,
                ignore_deny: opts.ignore_backoff,
                probes: 0,
                probed: 0,
                deadline,
                stagger_at: None,
                head_start,
                queued: wait,
                attempts: Vec::new(),
                high: opts.priority == Priority::High,
                names: None,
            },
        );
        self.callers.insert(caller, request);
        self.request_timers
            .push(deadline, request, &mut self.earliest, Due::Request);
        self.stats.requests_started += 1;
        self.stats.head_starts += u64::from(head_start.is_some());
        Dialing {
            caller,
            request,
            joined: false,
        }
    }

    /// A caller joins the request in flight for its peer (R-R8): its new addresses are
    /// merged in, ranked among those not yet dialed, and may take more tokens.
    fn join(&mut self, now: Instant, request: RequestId, input: Addrs, opts: DialOpts) -> CallerId {
        let caller = self.callers.next_key();
        let max_addrs = self.config.max_addrs_per_request;
        // `by_peer` only names live requests, so the lookup cannot fail.
        let Some(req) = self.requests.get_mut(&request) else {
            return caller;
        };
        self.callers.insert(caller, request);
        self.stats.requests_joined += 1;
        req.callers.push(caller);
        req.ignore_deny |= opts.ignore_backoff;
        req.high |= opts.priority == Priority::High;
        if opts.priority == Priority::High && req.queued {
            // R-Q1, R-P1: high priority never waits; the request proceeds as an overdraft.
            self.unqueue(request, now, 0);
            self.stats.overdraft_requests += 1;
        }
        let (input, names) = self.split_names(request, input, now);
        let Some(req) = self.requests.get(&request) else {
            return caller;
        };
        // Admitted addresses gather here and join the request's after the loop, so that
        // the request need not be borrowed mutably while they are judged.
        let mut fresh = Addrs::new();
        let terms = Terms::of(req, now);
        for addr in input {
            // Past the cap on addresses, a skip with no reason.
            let skip = if req.addrs.len() + fresh.len() >= max_addrs {
                Some(None)
            } else {
                self.verdict(&terms, &addr, &req.addrs, &fresh)
                    .err()
                    .map(Some)
            };
            match skip {
                Some(reason) => self.stats.skipped(reason),
                None => fresh.push(addr),
            }
        }
        let added = !fresh.is_empty();
        if added {
            if let Some(req) = self.requests.get_mut(&request) {
                req.addrs.extend(fresh);
            }
        }
        if !names.is_empty() {
            self.start_names(request, names, 0, now);
        }
        if added {
            // Ranked and granted tokens as a name's answers are: a request of names alone
            // may hold none yet (R-N1), and must not leave these addresses idle.
            self.candidates_added(request, true, now);
            self.compact_timers();
        }
        caller
    }

    /// A request that gained addresses asks the pool for the tokens it can now use, up to
    /// `max_per_peer_dials` (an overdraft request stays outside the pool).
    pub(crate) fn top_up_tokens(&mut self, request: RequestId) {
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        if req.overdraft || req.queued {
            return;
        }
        let wanted = self
            .config
            .max_per_peer_dials
            .min(req.in_flight.len() + req.pending());
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

    /// Starts dials while the request has tokens and addresses (R-R3, R-T7, R-S1),
    /// releases tokens it can no longer use (R-T7), and fails the request when nothing is
    /// in flight and nothing is left (R-R5).
    pub(crate) fn pump(&mut self, request: RequestId, now: Instant) {
        self.pump_from(request, now, true);
    }

    /// [`pump`](Self::pump); `recheck: false` skips re-checking pending addresses against
    /// the deny list and prune marks, for a caller that has just checked them all.
    fn pump_from(&mut self, request: RequestId, now: Instant, recheck: bool) {
        if self.past_deadline(request, now) {
            self.time_out_request(request, now);
            return;
        }
        while self.start_next(request, now, recheck) {}
        self.settle(request);
    }

    /// Past its dial_timeout a request that has begun dialing is over (R-R6), even if its
    /// own timer has not been handled yet (an earlier deadline handled in the same
    /// `handle_timeout`, or a report that arrives late): a dial started now would be
    /// aborted at once and its address charged with a failure it never had (R-C4, R-D1).
    /// A new request always gets its first dials, even with the immediate deadline of the
    /// end of time (`deadline_after`). A waiting request (R-Q1) is over at the end of its
    /// wait the same way: a new caller for its peer starts afresh instead of joining it.
    /// So is a request with names (R-N1): it began with its lookups.
    #[inline(always)]
    fn past_deadline(&self, request: RequestId, now: Instant) -> bool {
        self.requests
            .get(&request)
            .is_some_and(|r| (r.next > 0 || r.queued || r.names.is_some()) && now >= r.deadline)
    }

    /// Issues the StartDial of the next address `request` may dial now (see
    /// [`Request::next_to_dial`]), with its address timeout (R-R6a, R-R6b), and arms the
    /// stagger or head start that holds the dial after it back (R-S1). Returns whether it
    /// started one.
    #[inline(always)]
    fn start_next(&mut self, request: RequestId, now: Instant, recheck: bool) -> bool {
        let Some(req) = self.requests.get_mut(&request) else {
            return false;
        };
        // A dial that starts with none of its request's in flight, after the first: the
        // one before it ended (a refusal, a timeout) and this one opens the next wave.
        let reopens = req.next > 0 && req.in_flight.is_empty() && req.capacity() > 1;
        let Some(addr) = req.next_to_dial(
            now,
            recheck,
            self.config.stagger,
            Verdicts {
                deny: &self.deny,
                confidence: &self.confidence,
                black_holes: &self.black_holes,
            },
            &mut self.stats,
        ) else {
            return false;
        };
        let slot = req.next - 1;
        let probes = req.probes;
        let (timeout, adaptive, patient) = self.timeout_for(&addr);
        let deadline = deadline_after(now, timeout);
        // The head start passes down the list: a proven address that opens a new wave
        // dials alone first too, as the request's first did, instead of racing every
        // address left (with one good address failing now and then, a race of three
        // spends three dials where one usually does).
        let head_start = if reopens {
            self.head_start_of(&addr)
        } else {
            None
        };
        // A probing request (rare) notes which of its probed classes started (R-B2).
        let probed = if probes != 0 {
            let traits = Traits::of(&addr, self.black_holes.classes());
            if traits.public {
                traits.classes & probes
            } else {
                0
            }
        } else {
            0
        };

        // `timeout_for` borrowed the tables: look the request up again.
        let Some(req) = self.requests.get_mut(&request) else {
            return false;
        };
        req.probed |= probed;
        let dial = self.dials.next_key();
        self.dials.insert(
            dial,
            Dial {
                request,
                slot,
                started: now,
                deadline,
                overdraft: req.overdraft,
                adaptive,
                patient,
                spared: false,
            },
        );
        if adaptive {
            self.adaptive_timers
                .push(deadline, dial, &mut self.earliest, Due::AdaptiveDial);
        } else {
            self.dial_timers
                .push(deadline, dial, &mut self.earliest, Due::Dial);
        }
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
        let head = req.head_start.take().or(head_start);
        let gap = match (head, self.config.stagger) {
            (Some(head), Some(stagger)) => Some(head.max(stagger)),
            (head, stagger) => head.or(stagger),
        };
        if let Some(gap) = gap {
            // Armed even when nothing is pending yet: a joining caller (R-R8) may add
            // addresses, and they too must wait a full delay after this start.
            let at = deadline_after(now, gap);
            req.stagger_at = Some(at);
            self.stagger_timers
                .push(at, request, &mut self.earliest, Due::Stagger);
        }
        true
    }

    /// R-Q1: a new request that found no token waits in the queue, or is refused with
    /// `NoTokens` when the queue is full. Its deadline is the end of its wait (or its
    /// `dial_timeout`, if sooner); its dials start when [`serve_queue`](Self::serve_queue)
    /// gives it tokens.
    #[cold]
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        peer: P,
        admitted: Addrs,
        keys: &[u32],
        opts: DialOpts,
        probes: u8,
    ) -> Result<Dialing, DialRefused> {
        let Some(wait) = self.config.wait_for_tokens else {
            self.stats.requests_rejected_no_tokens += 1;
            return Err(DialRefused::NoTokens);
        };
        if self.waiting >= wait.queue {
            self.stats.requests_rejected_no_tokens += 1;
            return Err(DialRefused::NoTokens);
        }
        let requested = self.config.max_per_peer_dials.min(admitted.len());
        let dialing =
            self.start_request(now, peer, admitted, keys, opts, requested, 0, Start::Wait);
        if let Some(req) = self.requests.get_mut(&dialing.request) {
            req.probes = probes;
        }
        self.events.push_back(Event::Queued {
            request: dialing.request,
            ahead: self.waiting,
        });
        self.queue.push_back(dialing.request);
        self.waiting += 1;
        self.stats.requests_queued += 1;
        Ok(dialing)
    }

    /// How long a request may wait for tokens: `max_wait`, never past `dial_timeout`.
    pub(crate) fn wait_bound(&self) -> Duration {
        self.config
            .wait_for_tokens
            .map_or(Duration::ZERO, |w| w.max_wait.min(self.config.dial_timeout))
    }

    /// Takes `request` out of the queue with `granted` tokens (0: a high-priority
    /// overdraft, R-P1) and starts its dials; its deadline becomes its `dial_timeout`
    /// from when it was asked for. Its queue entry goes stale.
    fn unqueue(&mut self, request: RequestId, now: Instant, granted: usize) {
        let dial_timeout = self.config.dial_timeout;
        let wait = self.wait_bound();
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        if !req.queued {
            return;
        }
        req.queued = false;
        self.waiting -= 1;
        let requested = self.config.max_per_peer_dials.min(req.pending());
        req.tokens = granted;
        req.overdraft = granted == 0;
        req.deadline = match req.names.as_mut().and_then(|n| n.requeued.take()) {
            // It waited after its names brought addresses: its dial_timeout stands.
            Some((_, dial_deadline)) => dial_deadline,
            None => deadline_after(queued_at(req.deadline, wait), dial_timeout),
        };
        let deadline = req.deadline;
        // The head start a proven best address gets, as any new request's.
        let head = req.addrs.get(req.next).cloned();
        self.request_timers
            .push(deadline, request, &mut self.earliest, Due::Request);
        self.events.push_back(Event::RequestTokens {
            request,
            requested,
            granted,
            overdraft: granted == 0,
        });
        if now >= deadline {
            // Its dial_timeout ran out while it waited (R-R6): over, without a dial.
            self.time_out_request(request, now);
            return;
        }
        if granted > 1 {
            let head_start = head.and_then(|a| self.head_start_of(&a));
            if let Some(req) = self.requests.get_mut(&request) {
                req.head_start = head_start;
            }
            self.stats.head_starts += u64::from(head_start.is_some());
        }
        self.pump(request, now);
    }

    /// R-Q1, R-T8: hands released tokens to the queued requests, oldest first, while the
    /// pool has any. A request served may end at once (everything it had was deny-listed
    /// meanwhile) and free its tokens for the next.
    #[inline(always)]
    pub(crate) fn serve_queue(&mut self, now: Instant) {
        if !self.queue.is_empty() {
            self.serve_waiting(now);
        }
    }

    /// [`serve_queue`](Self::serve_queue) with a queue: out of line, so that a dialer
    /// without one pays a single test per input.
    #[inline(never)]
    fn serve_waiting(&mut self, now: Instant) {
        if self.waiting == 0 {
            // Only stale entries are left.
            self.queue.clear();
            return;
        }
        while self.waiting > 0 && self.pool.available() > 0 {
            let Some(request) = self.queue.pop_front() else {
                return;
            };
            let Some(wanted) = self
                .requests
                .get(&request)
                .filter(|r| r.queued)
                .map(|r| self.config.max_per_peer_dials.min(r.pending()))
            else {
                continue;
            };
            let granted = self.pool.acquire(wanted.max(1));
            self.unqueue(request, now, granted);
        }
        if self.queue.len() > 2 * self.waiting + 64 {
            let requests = &self.requests;
            self.queue
                .retain(|id| requests.get(id).is_some_and(|r| r.queued));
        }
    }

    /// The head start a dial of `addr` gets before the dials after it start: some if
    /// head starts are on and `addr` is proven (it connected, and its confidence is not
    /// below the start value) and quick enough (see [`HeadStart`](crate::HeadStart)).
    fn head_start_of(&self, addr: &Multiaddr) -> Option<Duration> {
        let h = self.config.head_start?;
        self.confidence
            .proven_connect_time(addr)
            .and_then(|t| h.delay(t))
    }

    /// Releases the tokens `request` can no longer use (R-T7, R-T8), and fails it when
    /// nothing is in flight and nothing is left to dial (R-R5).
    #[inline(always)]
    fn settle(&mut self, request: RequestId) {
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
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
        if req.in_flight.is_empty() && pending == 0 && !req.resolving() {
            let attempts = std::mem::take(&mut req.attempts);
            self.finish(
                request,
                Err(DialFailed::AllFailed { attempts }),
                AbortReason::Superseded,
            );
        }
    }

    /// Removes a dial from the core and from its request's in-flight list; returns it
    /// with its address, for a dial that ended with an outcome.
    fn take_dial(&mut self, dial: DialId) -> Option<(Dial, Multiaddr)> {
        let Some(d) = self.dials.remove(&dial) else {
            self.stats.reports_ignored += 1;
            return None;
        };
        if d.overdraft {
            self.overdraft_in_flight -= 1;
        }
        // A live dial's request is live and holds its address (invariant 2).
        debug_assert!(
            self.requests
                .get(&d.request)
                .is_some_and(|r| d.slot < r.addrs.len()),
            "invariant 2: {dial} outlived its request or its address"
        );
        let req = self.requests.get_mut(&d.request)?;
        req.in_flight.retain(|id| *id != dial);
        let addr = req.addrs.get(d.slot)?.clone();
        Some((d, addr))
    }

    /// A dial failed, timeouts included (R-C2, R-C4, R-D1); prunes the address if it fell
    /// to 0 while the peer has a better one (R-C5).
    fn record_failure(
        &mut self,
        request: RequestId,
        addr: Multiaddr,
        reason: FailReason,
        now: Instant,
    ) {
        let cut = matches!(reason, FailReason::AdaptiveTimeout { .. });
        let (value, fails) = self.confidence.record_failure(&addr, cut);
        let c = &self.config;
        let duration = backoff(c.deny_duration, c.deny_growth, c.deny_max, fails);
        self.deny.insert(&addr, now, duration);
        if self.black_holes.enabled() {
            self.black_holes.record(
                Traits::of(&addr, self.black_holes.classes()),
                false,
                &mut self.changes,
            );
            self.flush_black_hole_changes();
        }
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        // R-C5: only against a sibling that has proven itself (it connected), and only
        // after repeated failures: an untried address proves nothing, and one failure of
        // a good address is no verdict.
        if value == 0
            && fails >= self.config.prune_after_failures
            && !self.confidence.is_pruned(&addr, &req.peer, now)
            && req
                .addrs
                .iter()
                .any(|a| a != &addr && self.confidence.get(a) > INITIAL_CONFIDENCE)
        {
            let until = deadline_after(now, self.config.prune_duration);
            self.confidence.prune(&addr, &req.peer, until);
            if self.confidence.is_pruned(&addr, &req.peer, now) {
                self.stats.addresses_pruned += 1;
                self.events.push_back(Event::Pruned {
                    peer: req.peer.clone(),
                    addr: addr.clone(),
                });
            }
        }
        req.attempts.push(Attempt { addr, reason });
    }

    /// R-R6: every dial in flight fails with a timeout and is aborted, then the request ends.
    fn time_out_request(&mut self, request: RequestId, now: Instant) {
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        if req.queued {
            let (since, dial_deadline) = match req.names.as_ref().and_then(|n| n.requeued) {
                Some(times) => times,
                None => {
                    let since = queued_at(req.deadline, self.wait_bound());
                    (since, deadline_after(since, self.config.dial_timeout))
                }
            };
            // R-Q1: the wait ran out, or the request's own dial_timeout came first.
            let result = if now >= dial_deadline {
                // Only a request that waited after its names answered has attempts.
                let attempts = match self.requests.get_mut(&request) {
                    Some(r) if r.names.is_some() => std::mem::take(&mut r.attempts),
                    _ => Vec::new(),
                };
                DialFailed::Timeout { attempts }
            } else {
                self.stats.requests_wait_timed_out += 1;
                DialFailed::NoTokensInTime {
                    waited: now.saturating_duration_since(since),
                }
            };
            self.finish(request, Err(result), AbortReason::RequestTimeout);
            return;
        }
        let in_flight = req.in_flight.clone();
        if req.names.is_some() {
            self.names_timed_out(request);
        }
        for dial in in_flight {
            if let Some((_, addr)) = self.take_dial(dial) {
                self.stats.dials_timed_out += 1;
                self.actions.push_back(Action::AbortDial(AbortDial {
                    dial,
                    request,
                    reason: AbortReason::RequestTimeout,
                }));
                self.record_failure(request, addr, FailReason::RequestTimeout, now);
            }
        }
        let attempts = self
            .requests
            .get_mut(&request)
            .map(|r| std::mem::take(&mut r.attempts))
            .unwrap_or_default();
        self.finish(
            request,
            Err(DialFailed::Timeout { attempts }),
            AbortReason::RequestTimeout,
        );
    }

    /// Ends a request: aborts what is still in flight (`abort` says why), releases every
    /// token, and tells every remaining caller (R-R4 … R-R7).
    pub(crate) fn finish(
        &mut self,
        request: RequestId,
        result: Result<Connected, DialFailed>,
        abort: AbortReason,
    ) {
        let Some(mut req) = self.requests.remove(&request) else {
            return;
        };
        if req.queued {
            self.waiting -= 1;
        }
        // R-B2: a probe whose address never started (a proven sibling connected during
        // its head start, or the request ended first) taught the class nothing; the next
        // request that can probe does, instead of the next window's.
        let unstarted = req.probes & !req.probed;
        if unstarted != 0 {
            self.black_holes.owe(unstarted);
        }
        if let Some(names) = req.names.take() {
            self.named -= 1;
            self.abort_names(request, &names.lookups);
        }
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
            Err(DialFailed::Timeout { .. }) => self.stats.requests_timed_out += 1,
            Err(DialFailed::Cancelled) => self.stats.requests_cancelled += 1,
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

    /// Whether the timer of `due` at `t` is live: its owner is still there, with this
    /// deadline (the test each queue applies to its front).
    #[inline(always)]
    pub(crate) fn is_live(&self, t: Instant, due: Due) -> bool {
        match due {
            Due::Request(id) => self.requests.get(&id).is_some_and(|r| r.deadline == t),
            Due::Dial(id) | Due::AdaptiveDial(id) => {
                self.dials.get(&id).is_some_and(|d| d.deadline == t)
            }
            Due::Stagger(id) => self
                .requests
                .get(&id)
                .is_some_and(|r| r.stagger_at == Some(t)),
            Due::Resolve(id) => self.resolves.get(&id).is_some_and(|l| l.deadline == t),
            Due::Hold(id) => self
                .resolves
                .get(&id)
                .is_some_and(|l| l.hold_until == Some(t)),
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
        let a = self
            .adaptive_timers
            .front(|t, id| dials.get(&id).is_some_and(|d| d.deadline == t))
            .map(|(t, id)| (t, Due::AdaptiveDial(id)));
        let s = self
            .stagger_timers
            .front(|t, id| requests.get(&id).is_some_and(|r| r.stagger_at == Some(t)))
            .map(|(t, id)| (t, Due::Stagger(id)));
        let due = earlier(earlier(r, earlier(d, a)), s);
        if self.resolves.len() == 0 {
            return due;
        }
        self.next_name_due(due)
    }

    /// [`next_due`](Self::next_due) with name lookups in flight (R-N1): their deadlines
    /// and the ends of resolution delays too.
    #[cold]
    #[inline(never)]
    fn next_name_due(&mut self, due: Option<(Instant, Due)>) -> Option<(Instant, Due)> {
        let resolves = &self.resolves;
        let v = self
            .resolve_timers
            .front(|t, id| resolves.get(&id).is_some_and(|l| l.deadline == t))
            .map(|(t, id)| (t, Due::Resolve(id)));
        let h = self
            .hold_timers
            .front(|t, id| resolves.get(&id).is_some_and(|l| l.hold_until == Some(t)))
            .map(|(t, id)| (t, Due::Hold(id)));
        earlier(earlier(due, v), h)
    }

    pub(crate) fn compact_timers(&mut self) {
        let requests = &self.requests;
        let dials = &self.dials;
        self.request_timers.compact(requests.len(), |t, id| {
            requests.get(&id).is_some_and(|r| r.deadline == t)
        });
        self.dial_timers.compact(dials.len(), |t, id| {
            dials.get(&id).is_some_and(|d| d.deadline == t)
        });
        self.adaptive_timers.compact(dials.len(), |t, id| {
            dials.get(&id).is_some_and(|d| d.deadline == t)
        });
        if self.spared.len() > 2 * dials.len() + 64 {
            self.spared
                .retain(|id| dials.get(id).is_some_and(|d| d.spared));
        }
        self.stagger_timers.compact(requests.len(), |t, id| {
            requests.get(&id).is_some_and(|r| r.stagger_at == Some(t))
        });
        let resolves = &self.resolves;
        self.resolve_timers.compact(resolves.len(), |t, id| {
            resolves.get(&id).is_some_and(|l| l.deadline == t)
        });
        self.hold_timers.compact(resolves.len(), |t, id| {
            resolves.get(&id).is_some_and(|l| l.hold_until == Some(t))
        });
    }
}
