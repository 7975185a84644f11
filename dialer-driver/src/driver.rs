//! The driver task: owns the core, feeds it inputs, carries out its actions.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

#[cfg(feature = "metrics")]
use dialer_core::DialFailed;
use dialer_core::{
    AbortDial, AbortResolve, Action, Answer, CallerId, Connected, DialId, DialOpts, ErrorClass,
    Event, NameAction, RequestId, Resolve, ResolveId, StartDial, TransportError,
};
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use multiaddr::Multiaddr;
use tracing::{debug, debug_span, info, Instrument, Span};

use crate::attempt::{panic_message, Attempts, Outcome};
use crate::command::{Command, DialReply, Ticket};
#[cfg(feature = "metrics")]
use crate::metrics::{AddrLabels, DialOutcome, Metrics, RequestOutcome};
use crate::resolver::{local_answer, AnyResolver, NoResolver};
use crate::{Dialed, Error, Resolver, Runtime, Transport};

/// Inputs handled in one poll before the driver yields to other tasks, so that a flood of
/// commands or dial results cannot starve the runtime.
const BUDGET: usize = 64;

/// Attempts in flight that the driver polls itself; the ones beyond get a task of their
/// own. One dial at a time (the common case, and what latency is about) then costs no task
/// hand-off, while under load the attempts' system calls (on loopback, `connect` carries
/// the whole handshake) run on every worker thread instead of only the driver's. The
/// default of the core's `max_per_peer_dials`, so a lone request stays inline.
///
/// Measured, so kept: with every attempt inline (this set to `usize::MAX`),
/// `tokio_throughput_ratio` fell from 0.925 to 0.764 (medians of 8 and 3 interleaved runs
/// of `dialer-bench --only adapters` on a 2-core AMD EPYC VM), while the connect ratios
/// stayed within noise (1.09–1.13 either way).
const INLINE_ATTEMPTS: usize = 4;

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A name lookup in flight (R-N1), its error already classed.
type Lookup = BoxFuture<'static, Result<Answer, TransportError>>;

/// The span a lookup's polls run in: its bookkeeping is only that.
fn lookup_span(span: &Span) -> &Span {
    span
}

/// What the driver keeps about a dial in flight, next to its attempt (the future itself
/// lives in [`Attempts`]): only its tracing span. Everything else is the core's.
pub(crate) struct DialTask {
    span: Span,
    /// The labels of the dial's address, for its end in the metrics.
    #[cfg(feature = "metrics")]
    addr: AddrLabels,
}

impl DialTask {
    /// The span the attempt's polls run in.
    fn span(&self) -> &Span {
        &self.span
    }

    /// A task with no span, for a report the test feeds in by hand.
    #[cfg(test)]
    pub(crate) fn detached() -> Self {
        Self {
            span: Span::none(),
            #[cfg(feature = "metrics")]
            addr: AddrLabels::UNKNOWN,
        }
    }
}

/// What the driver keeps per request in flight: its tracing span (and, for the metrics,
/// when it started and how many dials it started).
struct RequestState {
    span: Span,
    #[cfg(feature = "metrics")]
    started: Instant,
    #[cfg(feature = "metrics")]
    dials: u32,
}

/// A caller waiting for its `Finished` event.
struct Waiter<C> {
    reply: DialReply<C>,
    ticket: Ticket,
}

/// The connection of the dial that just won, handed out to the callers of its request.
struct Winner<C> {
    dial: DialId,
    connection: Arc<C>,
}

/// Owns the core. Every input (a command, a dial result, the timer) is fed to the core and
/// followed by a full drain of its outputs, as `dialer_core`'s drive loop documents.
///
/// The dial attempts run inside the driver task: it polls them itself (see [`Attempts`]),
/// so an attempt's result is an input of the same task, with no spawn and no channel, and
/// dropping the driver drops (closes) every attempt still in flight.
pub(crate) struct Driver<P, T: Transport, R: Runtime> {
    core: dialer_core::Dialer<P>,
    transport: Arc<T>,
    runtime: R,
    commands: mpsc::UnboundedReceiver<Command<P, T::Output>>,
    dials: Attempts<T::Dial, DialTask>,
    /// Where names are looked up (R-N1); `None`: only `localhost` resolves.
    resolver: Option<AnyResolver>,
    /// The name lookups in flight, polled by the driver itself like its inline dials, each
    /// with its tracing span. Dropping one abandons it (`AbortResolve`).
    lookups: Attempts<Lookup, Span, ResolveId>,
    /// [`INLINE_ATTEMPTS`], but for tests.
    inline_limit: usize,
    /// Dials whose `Transport::dial` call panicked, to be reported failed by the poll loop
    /// (not from inside the drain that started them).
    panicked_starts: Vec<(DialId, DialTask, TransportError)>,
    /// Dials the core started while an aborted attempt's drop was still pending (see
    /// [`Attempts::zombies`]): started, in order, once it is done.
    deferred: VecDeque<StartDial<P>>,
    waiters: HashMap<CallerId, Waiter<T::Output>>,
    tickets: HashMap<Ticket, CallerId>,
    requests: HashMap<RequestId, RequestState>,
    /// Subscribers of [`Event::Pruned`]; closed ones are dropped on the next prune.
    pruned: Vec<mpsc::UnboundedSender<(P, Multiaddr)>>,
    /// The one timer, and the deadline it was armed for.
    timer: Option<(Instant, Sleep)>,
    events: Vec<Event<P>>,
    /// Prometheus metrics (R-O3), when the dialer was built with them.
    #[cfg(feature = "metrics")]
    metrics: Option<Metrics>,
}

impl<P, T, R> Driver<P, T, R>
where
    P: Clone + Eq + Hash + fmt::Debug + Send + 'static,
    T: Transport,
    R: Runtime,
{
    pub(crate) fn new(
        core: dialer_core::Dialer<P>,
        transport: Arc<T>,
        resolver: Option<AnyResolver>,
        runtime: R,
        commands: mpsc::UnboundedReceiver<Command<P, T::Output>>,
    ) -> Self {
        Self {
            core,
            transport,
            runtime,
            commands,
            dials: Attempts::new(),
            resolver,
            lookups: Attempts::new(),
            inline_limit: INLINE_ATTEMPTS,
            panicked_starts: Vec::new(),
            deferred: VecDeque::new(),
            waiters: HashMap::new(),
            tickets: HashMap::new(),
            requests: HashMap::new(),
            pruned: Vec::new(),
            timer: None,
            events: Vec::new(),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }

    /// Registers the dialer's metrics in `registry` and records them from now on (R-O3).
    #[cfg(feature = "metrics")]
    pub(crate) fn register_metrics(
        &mut self,
        registry: &mut prometheus_client::registry::Registry,
    ) {
        self.metrics = Some(Metrics::register(registry, &self.core));
    }

    /// Brings the metrics taken from the core's counters up to date: after every input,
    /// before any caller hears its outcome, so a caller that reads the metrics then sees it.
    #[inline]
    fn update_metrics(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics.as_mut() {
            let core = &self.core;
            metrics.update(core.stats(), |class| core.black_hole_state(class));
        }
    }

    /// Counts the end of a dial whose address had `addr` labels.
    #[cfg(feature = "metrics")]
    #[inline]
    fn dial_ended(&self, addr: AddrLabels, outcome: DialOutcome) {
        if let Some(metrics) = &self.metrics {
            metrics.dial_ended(addr, outcome);
        }
    }

    /// The driver task: ends when every handle (and every pending `dial`) is gone.
    pub(crate) fn run(self) -> impl Future<Output = ()> + Send + 'static {
        let span = debug_span!("dialer_driver");
        span.in_scope(|| debug!("driver started"));
        self.instrument(span)
    }

    pub(crate) fn on_command(&mut self, command: Command<P, T::Output>) {
        let now = self.runtime.now();
        match command {
            Command::Dial {
                ticket,
                peer,
                addrs,
                opts,
                reply,
            } => self.on_dial(now, ticket, peer, addrs, opts, reply),
            Command::Cancel { ticket } => {
                // Unknown tickets already got their answer; the cancel raced it and lost.
                if let Some(caller) = self.tickets.remove(&ticket) {
                    self.waiters.remove(&caller);
                    if let Some(state) = self
                        .core
                        .request_of(caller)
                        .and_then(|r| self.requests.get(&r))
                    {
                        state
                            .span
                            .in_scope(|| debug!(%caller, "caller gone, cancelling its wait"));
                    }
                    let _ = self.core.cancel(now, caller);
                }
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.core.stats());
            }
            Command::ExportConfidence(reply) => {
                let _ = reply.send(self.core.export_confidence());
            }
            Command::ImportConfidence(entries, reply) => {
                self.core.import_confidence(entries);
                let _ = reply.send(());
            }
            Command::WatchPruned(subscriber) => self.pruned.push(subscriber),
            Command::NetworkChanged(reply) => {
                debug!("network changed: forgetting deny entries, timeouts and black holes");
                self.core.network_changed(now);
                let _ = reply.send(());
            }
            Command::PeerConnected(peer, addrs, reply) => {
                self.core.handle_peer_connected(now, &peer, &addrs);
                let _ = reply.send(());
            }
            Command::LiftPrune(peer, addr, reply) => {
                let _ = reply.send(self.core.lift_prune(&peer, &addr));
            }
            #[cfg(feature = "serde")]
            Command::Snapshot(reply) => {
                let _ = reply.send(self.core.snapshot(now));
            }
            #[cfg(feature = "serde")]
            Command::Restore(snapshot, reply) => {
                let result = self.core.restore(now, snapshot);
                match &result {
                    Ok(report) => debug!(?report, "restored a snapshot"),
                    Err(error) => debug!(%error, "refused a snapshot"),
                }
                let _ = reply.send(result);
            }
        }
        self.drain(None);
    }

    /// A `dial` call: the core starts, joins or refuses its request.
    fn on_dial(
        &mut self,
        now: Instant,
        ticket: Ticket,
        peer: P,
        addrs: Vec<Multiaddr>,
        opts: DialOpts,
        reply: DialReply<T::Output>,
    ) {
        match self.core.dial(now, peer.clone(), addrs, opts) {
            Ok(dialing) => {
                let state = self
                    .requests
                    .entry(dialing.request)
                    .or_insert_with(|| RequestState {
                        span: debug_span!("dial_request", request = %dialing.request, ?peer),
                        #[cfg(feature = "metrics")]
                        started: now,
                        #[cfg(feature = "metrics")]
                        dials: 0,
                    });
                state.span.in_scope(|| {
                    debug!(caller = %dialing.caller, joined = dialing.joined, ?opts, "caller waiting");
                });
                self.waiters
                    .insert(dialing.caller, Waiter { reply, ticket });
                self.tickets.insert(ticket, dialing.caller);
            }
            Err(refused) => {
                debug!(?peer, ?opts, %refused, "dial request refused");
                self.update_metrics();
                let _ = reply.send(Err(Error::Refused(refused)));
            }
        }
    }

    /// Feeds the core the end of `dial`: its connection, or why it failed. `task` is what
    /// the driver kept about the dial (its tracing span).
    pub(crate) fn on_dial_result(
        &mut self,
        dial: DialId,
        task: DialTask,
        result: Result<T::Output, TransportError>,
    ) {
        let now = self.runtime.now();
        let span = task.span;
        match result {
            Ok(connection) => match self.core.handle_dial_succeeded(now, dial) {
                Ok(()) => {
                    span.in_scope(|| debug!("dial connected"));
                    #[cfg(feature = "metrics")]
                    self.dial_ended(task.addr, DialOutcome::Connected);
                    self.drain(Some(Winner {
                        dial,
                        connection: Arc::new(connection),
                    }));
                }
                Err(error) => {
                    // Aborted (or timed out) while completing: nobody wants it (R-A1).
                    debug!(%dial, %error, "closing a connection that completed after its abort");
                    drop(connection);
                }
            },
            Err(error) => {
                span.in_scope(|| debug!(%error, class = ?error.class(), "dial failed"));
                #[cfg(feature = "metrics")]
                let class = error.class();
                match self.core.handle_dial_failed(now, dial, error) {
                    Ok(()) => {
                        #[cfg(feature = "metrics")]
                        self.dial_ended(task.addr, DialOutcome::Failed(class));
                        self.drain(None);
                    }
                    Err(error) => debug!(%error, "late failure report ignored"),
                }
            }
        }
    }

    /// Fires the core's timeout when its deadline has passed by the runtime's clock, and
    /// (re-)arms the one timer otherwise. Returns whether it fed the core an input.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.core.poll_timeout() else {
            // Nothing is due, but an armed timer is kept until it fires: the next request's
            // deadlines are later than the last one's, so it will be kept then too, rather
            // than a timer being dropped (deregistered) and made (allocated, registered)
            // again for every request. Its one late wake-up finds nothing to do.
            if let Some((_, sleep)) = self.timer.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    self.timer = None;
                }
            }
            return false;
        };
        // The clock, not the timer future, decides: a timer can stay pending past its
        // deadline (tokio's cooperative budget), and a deadline can already be in the past
        // when it is first seen.
        let now = self.runtime.now();
        if deadline <= now {
            self.timer = None;
            self.core.handle_timeout(now);
            self.drain(None);
            return true;
        }
        // An armed timer that fires no later than the deadline is kept: firing early is a
        // harmless wake-up, and re-arming on every later deadline would allocate each time.
        let rearm = !matches!(&self.timer, Some((armed, _)) if *armed <= deadline);
        if rearm {
            self.timer = Some((deadline, Box::pin(self.runtime.sleep_until(deadline))));
        }
        let Some((_, sleep)) = self.timer.as_mut() else {
            return false;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.timer = None;
        let now = self.runtime.now();
        self.core.handle_timeout(now);
        self.drain(None);
        true
    }

    /// Drains the core after an input: actions first, then events (the order of
    /// `dialer_core`'s drive loop). The caller re-arms the timer afterwards.
    fn drain(&mut self, winner: Option<Winner<T::Output>>) {
        while let Some(action) = self.core.poll_action() {
            #[cfg(feature = "metrics")]
            if let (Action::StartDial(start), Some(_)) = (&action, &self.metrics) {
                if let Some(state) = self.requests.get_mut(&start.request) {
                    state.dials += 1;
                }
            }
            match action {
                // An aborted attempt not yet dropped still holds its socket: the next dial
                // waits for it, so sockets never outnumber tokens (R-T6).
                Action::StartDial(start)
                    if self.dials.zombies() > 0 || !self.deferred.is_empty() =>
                {
                    self.deferred.push_back(start);
                }
                Action::StartDial(start) => self.start_dial(start),
                Action::AbortDial(abort) => self.abort_dial(abort),
                // A command added to the core later, and opt-in there: not turned on here.
                other => debug!(?other, "command not enabled by the driver"),
            }
        }
        // Name lookups come from a queue of their own (R-N1), after the dial commands.
        while let Some(action) = self.core.poll_name_action() {
            match action {
                NameAction::Resolve(resolve) => self.start_resolve(resolve),
                NameAction::AbortResolve(abort) => self.abort_resolve(abort),
                other => debug!(?other, "name command not known to the driver"),
            }
        }
        let mut events = std::mem::take(&mut self.events);
        events.extend(std::iter::from_fn(|| self.core.poll_event()));
        self.update_metrics();
        self.deliver(&mut events, winner);
        self.events = events;
    }

    /// Drops the attempt, closing its socket, before the next action can hand its token to
    /// another dial (R-T6).
    fn abort_dial(&mut self, abort: AbortDial) {
        // A dial whose start panicked has nothing to drop and nothing to report any more.
        #[cfg(feature = "metrics")]
        let mut addr = AddrLabels::UNKNOWN;
        self.panicked_starts.retain(|(dial, _task, _)| {
            #[cfg(feature = "metrics")]
            if *dial == abort.dial {
                addr = _task.addr;
            }
            *dial != abort.dial
        });
        self.deferred.retain(|start| {
            #[cfg(feature = "metrics")]
            if start.dial == abort.dial {
                addr = AddrLabels::of(&start.addr);
            }
            start.dial != abort.dial
        });
        if let Some(task) = self.dials.remove(abort.dial) {
            task.span
                .in_scope(|| debug!(reason = ?abort.reason, "dial aborted"));
            #[cfg(feature = "metrics")]
            {
                addr = task.addr;
            }
        }
        #[cfg(feature = "metrics")]
        self.dial_ended(addr, DialOutcome::Aborted(abort.reason));
    }

    /// Hands the drained events out: outcomes to their callers, prunes to subscribers,
    /// the rest to tracing.
    fn deliver(&mut self, events: &mut Vec<Event<P>>, mut winner: Option<Winner<T::Output>>) {
        // Every caller of the winning request shares its connection; the last one to be
        // served gets the driver's own reference, so a lone caller holds the only one.
        let mut sharers = match &winner {
            Some(w) => events.iter().filter(|e| is_finished_by(e, w.dial)).count(),
            None => 0,
        };
        for event in events.drain(..) {
            match event {
                Event::Finished {
                    caller,
                    request,
                    result,
                    ..
                } => {
                    let result = match result {
                        Ok(connected) => {
                            let Some(connection) = share(&mut winner, &connected, &mut sharers)
                            else {
                                // Unreachable: the core completes a request only from the
                                // report of its winning dial, which comes with the connection.
                                debug!(%caller, "success without its connection");
                                continue;
                            };
                            Ok(Dialed::new(connected, connection))
                        }
                        Err(failed) => Err(Error::Failed(failed)),
                    };
                    self.finish_caller(caller, request, result);
                }
                Event::Pruned { peer, addr } => {
                    debug!(?peer, %addr, "address pruned");
                    self.pruned.retain(|subscriber| {
                        subscriber
                            .unbounded_send((peer.clone(), addr.clone()))
                            .is_ok()
                    });
                }
                other => self.trace_event(&other),
            }
        }
    }

    /// Token events, in their request's span.
    fn trace_event(&self, event: &Event<P>) {
        let in_span = |request: &RequestId, trace: &dyn Fn()| match self.requests.get(request) {
            Some(state) => state.span.in_scope(trace),
            None => trace(),
        };
        match event {
            Event::RequestTokens {
                request,
                requested,
                granted,
                overdraft,
            } => in_span(request, &|| debug!(requested, granted, overdraft, "tokens")),
            Event::Release { request, count } => {
                in_span(request, &|| debug!(count, "tokens released"));
            }
            Event::Queued { request, ahead } => {
                in_span(request, &|| debug!(ahead, "waiting for tokens"));
            }
            Event::BlackHole { class, state } => {
                info!(
                    class = class.name(),
                    ?state,
                    "address class black-hole state changed"
                );
            }
            other => debug!(?other, "event"),
        }
    }

    fn finish_caller(
        &mut self,
        caller: CallerId,
        request: RequestId,
        result: Result<Dialed<T::Output>, Error>,
    ) {
        let span = self
            .requests
            .get(&request)
            .map_or_else(Span::none, |r| r.span.clone());
        span.in_scope(|| match &result {
            Ok(dialed) => debug!(%caller, addr = %dialed.addr, connect_time = ?dialed.connect_time, failed = dialed.failed.len(), "request connected"),
            Err(error) => debug!(%caller, %error, "request failed"),
        });
        if !self.core.is_in_flight(request) {
            let _state = self.requests.remove(&request);
            #[cfg(feature = "metrics")]
            if let (Some(state), Some(metrics)) = (_state, &self.metrics) {
                let outcome = RequestOutcome::of(match &result {
                    Ok(_) => Ok(()),
                    Err(Error::Failed(failed)) => Err(failed),
                    // Unreachable: a started request ends with `Finished`.
                    Err(_) => Err(&DialFailed::Cancelled),
                });
                let elapsed = self.runtime.now().saturating_duration_since(state.started);
                metrics.request_ended(outcome, state.dials, elapsed);
            }
        }
        if let Some(waiter) = self.waiters.remove(&caller) {
            self.tickets.remove(&waiter.ticket);
            // A caller that went away meanwhile has a cancel in the queue; whatever it
            // would have got (a connection too) is dropped here.
            let _ = waiter.reply.send(result);
        }
    }

    fn start_dial(&mut self, start: StartDial<P>) {
        let StartDial {
            dial,
            request,
            addr,
            ..
        } = start;
        let name = self.core.dial_name(dial);
        let parent = self.requests.get(&request).and_then(|r| r.span.id());
        let span = match &name {
            Some(name) => debug_span!(parent: parent, "dial", %dial, %addr, name = name.as_str()),
            None => debug_span!(parent: parent, "dial", %dial, %addr),
        };
        // A transport that panics while making its future fails this dial, not the driver
        // (the future's own polls are guarded the same way, in `attempt`). The name the
        // address was resolved from goes along (R-N1: TLS SNI, WebSocket `Host`).
        let attempt = catch_unwind(AssertUnwindSafe(|| {
            self.transport
                .dial_named(&addr, name.as_ref().map(|n| n.as_str()))
        }));
        let inline = self.dials.inline() < self.inline_limit;
        span.in_scope(|| debug!(inline, "dial started"));
        let task = DialTask {
            span: span.clone(),
            #[cfg(feature = "metrics")]
            addr: match self.metrics {
                Some(_) => AddrLabels::of(&addr),
                None => AddrLabels::UNKNOWN,
            },
        };
        let attempt = match attempt {
            Ok(attempt) => attempt,
            Err(panic) => {
                let reason = panic_message(panic.as_ref());
                self.panicked_starts.push((
                    dial,
                    task,
                    TransportError::msg(ErrorClass::Other, reason),
                ));
                return;
            }
        };
        if inline {
            // First polled by the driver's poll loop, after this drain.
            self.dials.insert(dial, attempt, task);
        } else {
            let run = self.dials.spawn(dial, attempt, task);
            self.runtime.spawn(run.instrument(span));
        }
    }
}

impl<P, T, R> Driver<P, T, R>
where
    P: Clone + Eq + Hash + fmt::Debug + Send + 'static,
    T: Transport,
    R: Runtime,
{
    /// Starts a name lookup (R-N1): `localhost` and names under it are answered here
    /// (RFC 6761: loopback, and no query leaves the machine), every other name goes to the
    /// resolver. Either way the answer is an input of the next poll, never of this drain.
    fn start_resolve(&mut self, resolve: Resolve<P>) {
        let Resolve {
            resolve,
            request,
            name,
            kind,
            ..
        } = resolve;
        let parent = self.requests.get(&request).and_then(|r| r.span.id());
        let span = debug_span!(parent: parent, "resolve", %resolve, name = name.as_str(), kind = kind.name());
        let local = local_answer(&name, kind);
        span.in_scope(|| debug!(local = local.is_some(), "resolving"));
        let lookup: Lookup = match (local, &self.resolver) {
            (Some(answer), _) => std::future::ready(Ok(answer)).boxed(),
            (None, Some(resolver)) => {
                // A resolver that panics while making its future fails this lookup only.
                match catch_unwind(AssertUnwindSafe(|| resolver.resolve(&name, kind))) {
                    Ok(lookup) => lookup,
                    Err(panic) => {
                        let reason = panic_message(panic.as_ref()).replacen(
                            "dial attempt",
                            "name lookup",
                            1,
                        );
                        std::future::ready(Err(TransportError::msg(ErrorClass::Resolve, reason)))
                            .boxed()
                    }
                }
            }
            (None, None) => {
                std::future::ready(Err(TransportError::new(ErrorClass::Resolve, NoResolver)))
                    .boxed()
            }
        };
        self.lookups.insert(resolve, lookup, span);
    }

    /// Drops the lookup `abort.resolve` (R-N1): the core timed it out, or its request
    /// ended. It owes no report.
    fn abort_resolve(&mut self, abort: AbortResolve) {
        if let Some(span) = self.lookups.remove(abort.resolve) {
            span.in_scope(|| debug!("resolve aborted"));
        }
    }

    /// Feeds the core the end of a lookup.
    fn on_resolved(
        &mut self,
        resolve: ResolveId,
        span: Span,
        result: Result<Answer, TransportError>,
    ) {
        let now = self.runtime.now();
        span.in_scope(|| match &result {
            Ok(Answer::Ips(ips)) => debug!(?ips, "resolved"),
            Ok(Answer::Txt(records)) => debug!(records = records.len(), "resolved"),
            Err(error) => debug!(%error, class = ?error.class(), "resolving failed"),
        });
        match self.core.handle_resolved(now, resolve, result) {
            Ok(()) => self.drain(None),
            Err(error) => debug!(%error, "late resolve report ignored"),
        }
    }
}

/// The connection for one more caller of the winning request: a shared reference while
/// others still wait for theirs, the driver's own for the last one.
fn share<C>(
    winner: &mut Option<Winner<C>>,
    connected: &Connected,
    sharers: &mut usize,
) -> Option<Arc<C>> {
    let w = winner.take_if(|w| w.dial == connected.dial)?;
    *sharers -= 1;
    if *sharers == 0 {
        return Some(w.connection);
    }
    let shared = Arc::clone(&w.connection);
    *winner = Some(w);
    Some(shared)
}

impl<P, T, R> Future for Driver<P, T, R>
where
    P: Clone + Eq + Hash + fmt::Debug + Send + 'static,
    T: Transport,
    R: Runtime,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        for _ in 0..BUDGET {
            let mut progress = false;
            match this.commands.poll_next_unpin(cx) {
                Poll::Ready(Some(command)) => {
                    this.on_command(command);
                    progress = true;
                }
                // Every handle and every pending call (each holds a sender) is gone: nobody
                // can ask for or wait on anything any more.
                Poll::Ready(None) => {
                    debug!(dials = this.dials.len(), "all handles dropped, driver ends");
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            if let Some((dial, task, error)) = this.panicked_starts.pop() {
                this.on_dial_result(dial, task, Err(error));
                progress = true;
            }
            // Every attempt woken (or started) since the last round is polled before this
            // returns `Pending`; one that ended is an input like any other.
            if let Poll::Ready((dial, task, outcome)) = this.dials.poll_next(cx, DialTask::span) {
                let result = match outcome {
                    Outcome::Done(Ok(connection)) => Ok(connection),
                    Outcome::Done(Err(error)) => Err(TransportError::new(
                        this.transport.error_class(&error),
                        error,
                    )),
                    Outcome::Panicked(reason) => {
                        Err(TransportError::msg(ErrorClass::Other, reason))
                    }
                };
                this.on_dial_result(dial, task, result);
                progress = true;
            }
            // Lookups end the same way; they are never spawned (they open no socket that a
            // token bounds, and a resolver's own I/O runs where the resolver puts it).
            if let Poll::Ready((resolve, span, outcome)) = this.lookups.poll_next(cx, lookup_span) {
                let result = match outcome {
                    Outcome::Done(result) => result,
                    Outcome::Panicked(reason) => Err(TransportError::msg(
                        ErrorClass::Resolve,
                        reason.replacen("dial attempt", "name lookup", 1),
                    )),
                };
                this.on_resolved(resolve, span, result);
                progress = true;
            }
            if !this.deferred.is_empty() && this.dials.zombies() == 0 {
                while let Some(start) = this.deferred.pop_front() {
                    this.start_dial(start);
                }
                progress = true;
            }
            // Checked after every input, so the timer always matches the core's deadline.
            progress |= this.poll_timer(cx);
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
impl<P, T: Transport, R: Runtime> Driver<P, T, R>
where
    P: Clone + Eq + Hash + fmt::Debug + Send + 'static,
{
    /// Makes every attempt from now on run on a task of its own.
    pub(crate) fn spawn_every_attempt(&mut self) {
        self.inline_limit = 0;
    }

    pub(crate) fn dial_ids(&self) -> Vec<DialId> {
        self.dials.ids()
    }

    pub(crate) fn core_stats(&self) -> dialer_core::Stats {
        self.core.stats()
    }
}

// No field is ever pinned in place (the timer and the attempts are boxed), so moving the
// driver is fine whatever `R` is.
impl<P, T: Transport, R: Runtime> Unpin for Driver<P, T, R> {}

fn is_finished_by<P>(event: &Event<P>, dial: DialId) -> bool {
    matches!(event, Event::Finished { result: Ok(c), .. } if c.dial == dial)
}
