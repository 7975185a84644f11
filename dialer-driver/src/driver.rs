//! The driver task: owns the core, feeds it inputs, carries out its actions.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dialer_core::{
    AbortReason, Action, Attempt, CallerId, DialId, Event, FailReason, RequestId, StartDial,
};
use futures::channel::mpsc;
use futures::StreamExt;
use multiaddr::Multiaddr;
use tracing::{debug, debug_span, Instrument, Span};

use crate::attempt::{abortable, AbortSlot};
use crate::handle::{Command, DialReply, Ticket};
use crate::{Dialed, Error, Runtime, Transport};

/// Inputs handled in one poll before the driver yields to other tasks, so that a flood of
/// commands or dial results cannot starve the runtime.
const BUDGET: usize = 64;

type DialResult<T> = (
    DialId,
    Result<<T as Transport>::Output, <T as Transport>::Error>,
);

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A dial task in flight.
struct DialTask<F> {
    abort: AbortSlot<F>,
    request: RequestId,
    addr: Multiaddr,
    started: Instant,
    span: Span,
}

/// What the driver keeps per request in flight: only what it reports, never decides.
struct RequestState {
    span: Span,
    /// Dials that failed so far, for [`Dialed::failed`]: on success the core reports only
    /// the winner.
    failed: Vec<Attempt>,
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
    latency: Duration,
}

/// Owns the core. Every input (a command, a dial result, the timer) is fed to the core and
/// followed by a full drain of its outputs, as `dialer_core`'s drive loop documents.
pub(crate) struct Driver<P, T: Transport, R: Runtime> {
    core: dialer_core::Dialer<P>,
    transport: Arc<T>,
    runtime: R,
    commands: mpsc::UnboundedReceiver<Command<P, T::Output>>,
    /// Dial tasks report here; the driver keeps a sender, so this stream never ends.
    results: mpsc::UnboundedReceiver<DialResult<T>>,
    results_tx: mpsc::UnboundedSender<DialResult<T>>,
    dials: HashMap<DialId, DialTask<T::Dial>>,
    waiters: HashMap<CallerId, Waiter<T::Output>>,
    tickets: HashMap<Ticket, CallerId>,
    requests: HashMap<RequestId, RequestState>,
    /// Subscribers of [`Event::Pruned`]; closed ones are dropped on the next prune.
    pruned: Vec<mpsc::UnboundedSender<(P, Multiaddr)>>,
    /// The one timer, and the deadline it was armed for.
    timer: Option<(Instant, Sleep)>,
    events: Vec<Event<P>>,
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
        runtime: R,
        commands: mpsc::UnboundedReceiver<Command<P, T::Output>>,
    ) -> Self {
        let (results_tx, results) = mpsc::unbounded();
        Self {
            core,
            transport,
            runtime,
            commands,
            results,
            results_tx,
            dials: HashMap::new(),
            waiters: HashMap::new(),
            tickets: HashMap::new(),
            requests: HashMap::new(),
            pruned: Vec::new(),
            timer: None,
            events: Vec::new(),
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
                priority,
                reply,
            } => match self.core.dial(now, peer.clone(), addrs, priority) {
                Ok(caller) => {
                    if let Some(request) = self.core.request_of(caller) {
                        let state = self
                            .requests
                            .entry(request)
                            .or_insert_with(|| RequestState {
                                span: debug_span!("dial_request", %request, ?peer),
                                failed: Vec::new(),
                            });
                        state
                            .span
                            .in_scope(|| debug!(%caller, ?priority, "caller waiting"));
                    }
                    self.waiters.insert(caller, Waiter { reply, ticket });
                    self.tickets.insert(ticket, caller);
                }
                Err(error) => {
                    debug!(?peer, ?priority, %error, "dial request refused");
                    let _ = reply.send(Err(Error::Dial(error)));
                }
            },
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
        }
        self.drain(None);
    }

    pub(crate) fn on_dial_result(&mut self, dial: DialId, result: Result<T::Output, T::Error>) {
        let now = self.runtime.now();
        let task = self.dials.remove(&dial);
        let span = task.as_ref().map_or_else(Span::none, |t| t.span.clone());
        match result {
            Ok(connection) => match self.core.handle_dial_succeeded(now, dial) {
                Ok(()) => {
                    let latency =
                        task.map_or(Duration::ZERO, |t| now.saturating_duration_since(t.started));
                    span.in_scope(|| debug!(?latency, "dial connected"));
                    let connection = Arc::new(connection);
                    self.drain(Some(Winner {
                        dial,
                        connection,
                        latency,
                    }));
                }
                Err(error) => {
                    // Aborted (or timed out) while completing: nobody wants it (R-A1).
                    debug!(%dial, %error, "closing a connection that completed after its abort");
                    drop(connection);
                }
            },
            Err(error) => {
                let reason = error_chain(&error);
                span.in_scope(|| debug!(%reason, "dial failed"));
                match self.core.handle_dial_failed(now, dial, reason.clone()) {
                    Ok(()) => {
                        if let Some(task) = task {
                            self.record_failure(task, FailReason::Transport(reason));
                        }
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
            self.timer = None;
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
    fn drain(&mut self, mut winner: Option<Winner<T::Output>>) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::StartDial(start) => self.start_dial(start),
                Action::AbortDial(abort) => {
                    if let Some(task) = self.dials.remove(&abort.dial) {
                        task.abort.abort();
                        task.span
                            .in_scope(|| debug!(reason = ?abort.reason, "dial aborted"));
                        if abort.reason == AbortReason::AddressTimeout {
                            self.record_failure(task, FailReason::AddressTimeout);
                        }
                    }
                }
            }
        }

        let mut events = std::mem::take(&mut self.events);
        events.extend(std::iter::from_fn(|| self.core.poll_event()));
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
                            let Some(w) = winner.take_if(|w| w.dial == connected.dial) else {
                                // Unreachable: the core completes a request only from the
                                // report of its winning dial, which comes with the connection.
                                debug!(%caller, "success without its connection");
                                continue;
                            };
                            sharers -= 1;
                            let latency = w.latency;
                            let connection = if sharers == 0 {
                                w.connection
                            } else {
                                let shared = Arc::clone(&w.connection);
                                winner = Some(w);
                                shared
                            };
                            let failed = self
                                .requests
                                .get(&request)
                                .map(|r| r.failed.clone())
                                .unwrap_or_default();
                            Ok(Dialed {
                                addr: connected.addr,
                                connection,
                                latency,
                                dial: connected.dial,
                                failed,
                            })
                        }
                        Err(error) => Err(Error::Dial(error)),
                    };
                    self.finish_caller(caller, request, result);
                }
                Event::RequestTokens {
                    request,
                    requested,
                    granted,
                    overdraft,
                } => {
                    if let Some(state) = self.requests.get(&request) {
                        state
                            .span
                            .in_scope(|| debug!(requested, granted, overdraft, "tokens"));
                    }
                }
                Event::Release { request, count } => {
                    if let Some(state) = self.requests.get(&request) {
                        state.span.in_scope(|| debug!(count, "tokens released"));
                    }
                }
                Event::Pruned { peer, addr } => {
                    debug!(?peer, %addr, "address pruned");
                    self.pruned.retain(|subscriber| {
                        subscriber
                            .unbounded_send((peer.clone(), addr.clone()))
                            .is_ok()
                    });
                }
            }
        }
        self.events = events;
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
            Ok(dialed) => debug!(%caller, addr = %dialed.addr, "request connected"),
            Err(error) => debug!(%caller, %error, "request failed"),
        });
        if let Some(waiter) = self.waiters.remove(&caller) {
            self.tickets.remove(&waiter.ticket);
            // A caller that went away meanwhile has a cancel in the queue; whatever it
            // would have got (a connection too) is dropped here.
            let _ = waiter.reply.send(result);
        }
        if !self.core.is_in_flight(request) {
            self.requests.remove(&request);
        }
    }

    fn record_failure(&mut self, task: DialTask<T::Dial>, reason: FailReason) {
        if let Some(state) = self.requests.get_mut(&task.request) {
            state.failed.push(Attempt {
                addr: task.addr,
                reason,
            });
        }
    }

    fn start_dial(&mut self, start: StartDial<P>) {
        let StartDial {
            dial,
            request,
            addr,
            ..
        } = start;
        let parent = self.requests.get(&request).and_then(|r| r.span.id());
        let span = debug_span!(parent: parent, "dial", %dial, %addr);
        let (attempt, abort) = abortable(self.transport.dial(&addr));
        let results = self.results_tx.clone();
        self.runtime.spawn(
            async move {
                if let Some(result) = attempt.await {
                    // If the driver is gone, the connection is dropped (closed) here.
                    let _ = results.unbounded_send((dial, result));
                }
            }
            .instrument(span.clone()),
        );
        span.in_scope(|| debug!("dial started"));
        self.dials.insert(
            dial,
            DialTask {
                abort,
                request,
                addr,
                started: self.runtime.now(),
                span,
            },
        );
    }
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
                // Every handle is gone, and with them every pending call (each borrows a
                // handle): nobody can ask for or wait on anything any more.
                Poll::Ready(None) => {
                    debug!(dials = this.dials.len(), "all handles dropped, driver ends");
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            if let Poll::Ready(Some((dial, result))) = this.results.poll_next_unpin(cx) {
                this.on_dial_result(dial, result);
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
    pub(crate) fn dial_ids(&self) -> Vec<DialId> {
        self.dials.keys().copied().collect()
    }

    pub(crate) fn core_stats(&self) -> dialer_core::Stats {
        self.core.stats()
    }
}

// No field is ever pinned in place (the timer is boxed), so moving the driver is fine
// whatever `R` is.
impl<P, T: Transport, R: Runtime> Unpin for Driver<P, T, R> {}

impl<P, T: Transport, R: Runtime> Drop for Driver<P, T, R> {
    /// The driver ends (every handle dropped, or its runtime shut down): abort every dial.
    fn drop(&mut self) {
        for task in self.dials.values() {
            task.abort.abort();
        }
    }
}

fn is_finished_by<P>(event: &Event<P>, dial: DialId) -> bool {
    matches!(event, Event::Finished { result: Ok(c), .. } if c.dial == dial)
}

/// `error: source: source …`: the reason the core stores for a failed address.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}
