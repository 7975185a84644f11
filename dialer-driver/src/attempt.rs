//! The dial attempts in flight, polled by the driver task itself or, under load, by tasks
//! of their own.
//!
//! A task per attempt costs, per dial, a spawn and two task hand-offs (the attempt task
//! woken by its socket, then the driver woken by the result), each a cross-thread wake-up
//! on a multi-threaded runtime: most of a dial's overhead on loopback. So [`Attempts`]
//! keeps the attempts in the driver, keyed by their [`DialId`], and the driver polls them
//! from its own `poll` ([`insert`](Attempts::insert)). The driver's name lookups (R-N1)
//! live in a second set of the same kind, keyed by their `ResolveId`:
//!
//! - each attempt gets its own [`Waker`]; waking it puts its id on a shared list and wakes
//!   the driver task, so a driver poll polls only the attempts that were woken (the idea of
//!   `futures::stream::FuturesUnordered`, with removal by key and no unsafe code);
//! - [`Attempts::remove`] drops the attempt, and so closes its socket, on the spot: an
//!   `AbortDial` takes effect before the driver carries out the next action, so the
//!   sockets in flight never outnumber the tokens (R-T6). Nothing else polls such an
//!   attempt, so there is never a poll in progress to wait for, and a removed attempt can
//!   no longer complete; a wake-up that arrives for it finds no entry and is ignored.
//!
//! One task polling every attempt serialises their work, though, and the first poll of a
//! TCP dial is a `connect` system call that on loopback carries the whole handshake (tens
//! of µs). Under load that would cap the dialer at one core's worth of connects, so the
//! driver can also hand an attempt to a task of its own ([`spawn`](Attempts::spawn)),
//! which reports its end through the same shared list. Such an attempt lives in a slot
//! shared by its task and the driver, with a small state machine saying who may touch it:
//! removing it drops it there and then when no poll of it is in progress, and otherwise
//! has its task drop it the moment that poll returns, so the driver never waits for a poll
//! on another thread (a transport that blocks inside `poll` cannot stall the driver).
//! Until that drop the driver starts no new attempt ([`Attempts::zombies`]), so the sockets
//! in flight still never outnumber the tokens. An end it reported before that is dropped
//! unread, closing the connection it carries (R-A1).
//!
//! A panic inside an attempt's poll, either way, is caught and becomes that attempt's
//! failure, so a faulty transport cannot take the driver (and every other dial) down.

use std::collections::{hash_map, HashMap, VecDeque};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use std::hash::Hash;

use dialer_core::DialId;
use futures::task::AtomicWaker;
use tracing::Span;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside an attempt's poll is caught before it can poison a lock, and nothing
    // else can panic while one is held; stay usable anyway.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How an attempt ended.
pub(crate) enum Outcome<O> {
    /// The attempt's future completed with this output.
    Done(O),
    /// Its poll panicked, with this message; the attempt was dropped.
    Panicked(String),
}

/// Polls `future` once, turning a panic into [`Outcome::Panicked`].
fn poll_caught<F: Future>(future: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Outcome<F::Output>> {
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(output)) => Poll::Ready(Outcome::Done(output)),
        Err(panic) => Poll::Ready(Outcome::Panicked(panic_message(panic.as_ref()))),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("dial attempt panicked: {message}")
}

/// What an attempt set is keyed by: a [`DialId`] for dials, a `ResolveId` for lookups.
pub(crate) trait Key: Copy + Eq + Hash + Send + Sync + 'static {}

impl<K: Copy + Eq + Hash + Send + Sync + 'static> Key for K {}

/// What the inline attempts' wakers hand to the driver.
struct Wakeups<K> {
    /// Ids of inline attempts that were woken.
    woken: Mutex<Vec<K>>,
    /// The driver task, woken when an attempt is woken or a spawned one ends.
    driver: AtomicWaker,
}

impl<K> Default for Wakeups<K> {
    fn default() -> Self {
        Self {
            woken: Mutex::new(Vec::new()),
            driver: AtomicWaker::new(),
        }
    }
}

/// Ends of spawned attempts, for the driver.
type Finished<K, O> = Arc<Mutex<Vec<(K, Outcome<O>)>>>;

/// An inline attempt's waker.
struct AttemptWaker<K> {
    dial: K,
    /// Set while the id is on the woken list (or about to be polled), so that a burst of
    /// wake-ups queues it once.
    queued: AtomicBool,
    wakeups: Arc<Wakeups<K>>,
}

impl<K: Key> Wake for AttemptWaker<K> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            lock(&self.wakeups.woken).push(self.dial);
            self.wakeups.driver.wake();
        }
    }
}

/// Where an attempt runs.
enum Run<F: Future, K> {
    /// Polled by the driver's [`Attempts::poll_next`].
    Inline {
        future: Pin<Box<F>>,
        wake: Arc<AttemptWaker<K>>,
        waker: Waker,
    },
    /// Polled by a task of its own; dropping this drops the attempt.
    Spawned { _slot: AbortSlot<F, K> },
}

struct Entry<F: Future, M, K> {
    run: Run<F, K>,
    meta: M,
}

/// The attempts in flight, each with the driver's bookkeeping `M` for it.
pub(crate) struct Attempts<F: Future, M, K = DialId> {
    entries: HashMap<K, Entry<F, M, K>>,
    /// How many of `entries` are inline.
    inline: usize,
    wakeups: Arc<Wakeups<K>>,
    reported: Finished<K, F::Output>,
    /// Inline attempts to poll in the current round: taken from the woken list, or new.
    batch: VecDeque<K>,
    /// Ends of spawned attempts taken from the shared list, still to hand out.
    finished: VecDeque<(K, Outcome<F::Output>)>,
    /// Spawned attempts that were aborted during a poll on another thread and are not yet
    /// dropped (see [`Shared`]).
    zombies: Arc<AtomicUsize>,
}

impl<F: Future, M, K: Key> Attempts<F, M, K> {
    pub(crate) fn new() -> Self {
        Self {
            entries: HashMap::new(),
            inline: 0,
            wakeups: Arc::default(),
            reported: Arc::default(),
            batch: VecDeque::new(),
            finished: VecDeque::new(),
            zombies: Arc::default(),
        }
    }

    /// Aborted attempts whose drop waits for a poll in progress on another thread. While
    /// there are any, the driver starts no new attempt: their sockets still count against
    /// the tokens (R-T6). Each is dropped right after that poll, which then wakes the
    /// driver.
    pub(crate) fn zombies(&self) -> usize {
        self.zombies.load(Ordering::Acquire)
    }

    /// Adds an attempt that the driver polls itself, for the first time in the next
    /// [`poll_next`](Self::poll_next). The caller must call `poll_next` again before it
    /// sleeps: nothing wakes the driver for this first poll.
    pub(crate) fn insert(&mut self, dial: K, future: F, meta: M) {
        let wake = Arc::new(AttemptWaker {
            dial,
            queued: AtomicBool::new(true),
            wakeups: Arc::clone(&self.wakeups),
        });
        let waker = Waker::from(Arc::clone(&wake));
        let run = Run::Inline {
            future: Box::pin(future),
            wake,
            waker,
        };
        if let Some(old) = self.entries.insert(dial, Entry { run, meta }) {
            self.forget(&old);
        }
        self.inline += 1;
        self.batch.push_back(dial);
    }

    /// Drops the attempt now (closing its socket) and returns its bookkeeping; `None` if
    /// it already ended.
    pub(crate) fn remove(&mut self, dial: K) -> Option<M> {
        let entry = self.entries.remove(&dial)?;
        self.forget(&entry);
        Some(entry.meta)
    }

    fn forget(&mut self, entry: &Entry<F, M, K>) {
        if matches!(entry.run, Run::Inline { .. }) {
            self.inline -= 1;
        }
    }

    /// How many attempts are in flight.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many attempts in flight the driver polls itself.
    pub(crate) fn inline(&self) -> usize {
        self.inline
    }

    /// The ids of the attempts in flight.
    #[cfg(test)]
    pub(crate) fn ids(&self) -> Vec<K> {
        self.entries.keys().copied().collect()
    }

    /// Returns an attempt that ended, removed: first the ends that spawned attempts
    /// reported, then the inline attempts woken since the last round (and the new ones),
    /// each polled once until one ends. `Pending` once all of them have been polled; the
    /// driver task is then woken when another attempt is woken or reports. Each poll runs
    /// in the span that `span` gives for the attempt's bookkeeping.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        span: fn(&M) -> &Span,
    ) -> Poll<(K, M, Outcome<F::Output>)> {
        self.wakeups.driver.register(cx.waker());
        // Both shared lists are taken on every call, even with work left over from the
        // last one: their entries' wake-ups of the driver may already be spent (this poll
        // is their wake-up), and an inline attempt's waker stays silent while its id is
        // queued. Leaving them for a later call would let this one return `Pending` with
        // them unhandled, until some unrelated input happens to wake the driver.
        self.finished.extend(lock(&self.reported).drain(..));
        while let Some((dial, outcome)) = self.finished.pop_front() {
            match self.remove(dial) {
                Some(meta) => return Poll::Ready((dial, meta, outcome)),
                // Removed (aborted) after it ended: a connection it carries is closed here
                // (R-A1).
                None => drop(outcome),
            }
        }
        // One take per call: an attempt that wakes itself while it is polled (a
        // cooperative budget running out) is polled again in the next call, not in a loop
        // here. An id is never both left over and woken: it stays marked queued until it
        // is polled.
        self.batch.extend(lock(&self.wakeups.woken).drain(..));
        while let Some(dial) = self.batch.pop_front() {
            // Not found: removed (aborted) after its wake-up was queued.
            let hash_map::Entry::Occupied(mut slot) = self.entries.entry(dial) else {
                continue;
            };
            let entry = slot.get_mut();
            let Run::Inline {
                future,
                wake,
                waker,
            } = &mut entry.run
            else {
                continue;
            };
            // Cleared before the poll, so that a wake-up during or after it queues it again.
            // A swap, not a store: acquiring the flag from a wake-up that found it still set
            // (and so queued nothing) makes what that wake-up announced visible to this poll.
            wake.queued.swap(false, Ordering::AcqRel);
            let polled = {
                let _span = span(&entry.meta).enter();
                poll_caught(future.as_mut(), &mut Context::from_waker(waker))
            };
            if let Poll::Ready(outcome) = polled {
                let entry = slot.remove();
                self.forget(&entry);
                return Poll::Ready((dial, entry.meta, outcome));
            }
        }
        Poll::Pending
    }
}

impl<F, M, K: Key> Attempts<F, M, K>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// Adds an attempt that runs on a task of its own: returns that task, for the caller
    /// to spawn. Its end comes out of [`poll_next`](Self::poll_next) like any other.
    pub(crate) fn spawn(
        &mut self,
        dial: K,
        future: F,
        meta: M,
    ) -> impl Future<Output = ()> + Send + 'static {
        let (task, slot) = abortable(future, &self.zombies, &self.wakeups);
        if let Some(old) = self.entries.insert(
            dial,
            Entry {
                run: Run::Spawned { _slot: slot },
                meta,
            },
        ) {
            self.forget(&old);
        }
        let (reported, wakeups) = (Arc::clone(&self.reported), Arc::clone(&self.wakeups));
        async move {
            // `None`: removed before it ended; there is nobody to tell.
            if let Some(outcome) = task.await {
                lock(&reported).push((dial, outcome));
                wakeups.driver.wake();
            }
        }
    }
}

/// The state an attempt on its own task shares with the driver.
///
/// Whoever moves `state` away from [`IDLE`] owns the attempt for that step: the task to
/// poll it ([`POLLING`]), the driver to drop it ([`ABORTED`]). So the driver never waits
/// for a poll: it finds the attempt idle and drops it itself, or finds it being polled on
/// another thread and leaves the drop to the task, right after that poll. Such an attempt,
/// aborted but not yet dropped, is a *zombie*: it is counted in `zombies` until its task
/// drops it, and the driver holds back new dials meanwhile (see
/// [`Attempts::zombies`]), so that the sockets in flight never outnumber the tokens (R-T6).
/// The slot's lock only guards the storage: the driver takes it only when the attempt is
/// idle, so nobody ever waits on it across a poll.
struct Shared<F, K> {
    state: AtomicU8,
    slot: Mutex<Slot<F>>,
    zombies: Arc<AtomicUsize>,
    wakeups: Arc<Wakeups<K>>,
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const ABORTED: u8 = 2;

struct Slot<F> {
    /// `None` once the attempt ended or was dropped.
    attempt: Option<Pin<Box<F>>>,
    /// The task's waker, to let it end after the attempt was dropped.
    waker: Option<Waker>,
}

/// Splits `attempt` into the future its task runs and the driver's handle on it.
fn abortable<F: Future, K>(
    attempt: F,
    zombies: &Arc<AtomicUsize>,
    wakeups: &Arc<Wakeups<K>>,
) -> (AttemptTask<F, K>, AbortSlot<F, K>) {
    let shared = Arc::new(Shared {
        state: AtomicU8::new(IDLE),
        slot: Mutex::new(Slot {
            attempt: Some(Box::pin(attempt)),
            waker: None,
        }),
        zombies: Arc::clone(zombies),
        wakeups: Arc::clone(wakeups),
    });
    (
        AttemptTask {
            shared: Arc::clone(&shared),
        },
        AbortSlot { shared },
    )
}

/// The driver's handle on an attempt that runs on its own task: dropping it drops the
/// attempt (closing its socket) on the spot if no poll of it is in progress, or else makes
/// it a zombie that its task drops as soon as that poll returns; either way it lets the
/// task end.
struct AbortSlot<F, K> {
    shared: Arc<Shared<F, K>>,
}

impl<F, K> Drop for AbortSlot<F, K> {
    fn drop(&mut self) {
        // Counted first: the task may drop the zombie (and uncount it) the moment the
        // state says ABORTED.
        self.shared.zombies.fetch_add(1, Ordering::AcqRel);
        match self.shared.state.swap(ABORTED, Ordering::AcqRel) {
            POLLING => return,
            IDLE => {}
            // Already over (the attempt ended or was aborted before): nothing to drop.
            _ => {
                self.shared.zombies.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        }
        // Idle and now ours: the task holds no lock (it takes it only while polling).
        let (attempt, waker) = {
            let mut slot = lock(&self.shared.slot);
            (slot.attempt.take(), slot.waker.take())
        };
        drop(attempt);
        self.shared.zombies.fetch_sub(1, Ordering::AcqRel);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// What an attempt's own task runs: how the attempt ended, or `None` if it was dropped.
struct AttemptTask<F, K> {
    shared: Arc<Shared<F, K>>,
}

impl<F: Future, K> Future for AttemptTask<F, K> {
    type Output = Option<Outcome<F::Output>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.shared;
        if shared
            .state
            .compare_exchange(IDLE, POLLING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Aborted while idle (the driver dropped it), or already ended.
            return Poll::Ready(None);
        }
        let polled = {
            let mut slot = lock(&shared.slot);
            match slot.attempt.as_mut() {
                None => Poll::Ready(None),
                Some(attempt) => match poll_caught(attempt.as_mut(), cx) {
                    Poll::Ready(outcome) => {
                        slot.attempt = None;
                        slot.waker = None;
                        Poll::Ready(Some(outcome))
                    }
                    Poll::Pending => {
                        match &mut slot.waker {
                            Some(waker) if waker.will_wake(cx.waker()) => {}
                            waker => *waker = Some(cx.waker().clone()),
                        }
                        Poll::Pending
                    }
                },
            }
        };
        let next = if polled.is_ready() { ABORTED } else { IDLE };
        if shared
            .state
            .compare_exchange(POLLING, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return polled;
        }
        // The driver aborted it during the poll and left the drop to us: drop it, uncount
        // the zombie and wake the driver, which holds new dials back until then. An end
        // the poll reached is still reported; the driver closes its connection (R-A1).
        let attempt = lock(&shared.slot).attempt.take();
        drop(attempt);
        shared.zombies.fetch_sub(1, Ordering::AcqRel);
        shared.wakeups.driver.wake();
        match polled {
            Poll::Ready(outcome) => Poll::Ready(outcome),
            Poll::Pending => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::task::{waker, ArcWake};

    use super::*;

    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Counts the wake-ups of the driver task.
    #[derive(Default)]
    struct Driver(AtomicUsize);

    impl ArcWake for Driver {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn no_span<M>(_: &M) -> &Span {
        const NONE: &Span = &Span::none();
        NONE
    }

    fn id(raw: u64) -> DialId {
        DialId::from_raw(raw)
    }

    /// Stays pending until `open` is set, keeping the waker it was last polled with.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Gate {
        fn open(&self) {
            self.open.store(true, Ordering::SeqCst);
            if let Some(waker) = lock(&self.waker).take() {
                waker.wake();
            }
        }

        fn polled(&self) -> bool {
            lock(&self.waker).is_some()
        }
    }

    impl Future for Gate {
        type Output = u32;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            if self.open.load(Ordering::SeqCst) {
                return Poll::Ready(7);
            }
            *lock(&self.waker) = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    type Attempt = Pin<Box<dyn Future<Output = u32> + Send>>;

    /// A gated attempt that raises `dropped` when it is dropped.
    fn flagged(gate: &Gate, dropped: &Arc<AtomicBool>) -> Attempt {
        let (gate, flag) = (gate.clone(), DropFlag(Arc::clone(dropped)));
        Box::pin(async move {
            let _flag = flag;
            gate.await
        })
    }

    fn boom() -> u32 {
        panic!("boom")
    }

    #[test]
    fn only_woken_attempts_are_polled_and_wake_the_driver() {
        let driver = Arc::new(Driver::default());
        let driver_waker = waker(Arc::clone(&driver));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, ()> = Attempts::new();
        let gate = Gate::default();
        attempts.insert(id(1), Box::pin(gate.clone()), ());
        attempts.insert(id(2), Box::pin(futures::future::pending()), ());
        assert_eq!(attempts.inline(), 2);
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert_eq!(driver.0.load(Ordering::SeqCst), 0);

        let attempt_waker = lock(&gate.waker).clone().expect("polled");
        gate.open();
        attempt_waker.wake();
        assert_eq!(
            driver.0.load(Ordering::SeqCst),
            1,
            "one wake-up for a burst"
        );
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, (), Outcome::Done(7))) => assert_eq!(dial, id(1)),
            _ => panic!("the woken attempt completes"),
        }
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert_eq!(attempts.ids(), [id(2)]);
        assert_eq!(attempts.inline(), 1);
    }

    #[test]
    fn a_wake_up_queued_behind_a_new_attempt_is_not_lost() {
        // An attempt woken (its driver wake-up spent) while the driver was busy, and a new
        // attempt inserted before the driver's next `poll_next`: that poll must not return
        // `Pending` with the woken attempt still unpolled, or nothing wakes the driver for
        // it again (its waker is marked queued and stays silent).
        let driver = Arc::new(Driver::default());
        let driver_waker = waker(Arc::clone(&driver));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, ()> = Attempts::new();
        let gate = Gate::default();
        attempts.insert(id(1), Box::pin(gate.clone()), ());
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        gate.open();
        assert_eq!(driver.0.load(Ordering::SeqCst), 1);
        attempts.insert(id(2), Box::pin(futures::future::pending()), ());
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, (), Outcome::Done(7))) => assert_eq!(dial, id(1)),
            _ => panic!("the woken attempt is polled and completes"),
        }
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert_eq!(attempts.ids(), [id(2)]);
    }

    #[tokio::test]
    async fn an_end_reported_behind_a_stale_one_is_not_lost() {
        // The same for spawned attempts: an end left over from the last round belongs to an
        // attempt removed since; the ends reported meanwhile must still be handed out.
        let driver = Arc::new(Driver::default());
        let driver_waker = waker(Arc::clone(&driver));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, u8> = Attempts::new();
        let ready = Gate::default();
        ready.open();
        attempts.spawn(id(1), Box::pin(ready.clone()), 1).await;
        attempts.spawn(id(2), Box::pin(ready.clone()), 2).await;
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, 1, Outcome::Done(7))) => assert_eq!(dial, id(1)),
            _ => panic!("the first end is handed out"),
        }
        // Aborted after its end was taken from the shared list, before it was handed out.
        assert_eq!(attempts.remove(id(2)), Some(2));
        attempts.spawn(id(3), Box::pin(ready.clone()), 3).await;
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, 3, Outcome::Done(7))) => assert_eq!(dial, id(3)),
            _ => panic!("the end reported meanwhile is handed out"),
        }
        assert_eq!(attempts.len(), 0);
    }

    #[test]
    fn remove_drops_an_inline_attempt_at_once_and_ignores_its_late_wake_up() {
        let driver_waker = waker(Arc::new(Driver::default()));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, u8> = Attempts::new();
        let (gate, dropped) = (Gate::default(), Arc::new(AtomicBool::new(false)));
        attempts.insert(id(1), flagged(&gate, &dropped), 5);
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(attempts.remove(id(1)), Some(5));
        // Synchronously: no poll in between.
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(attempts.remove(id(1)), None);
        gate.open();
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert_eq!((attempts.len(), attempts.inline()), (0, 0));
    }

    #[test]
    fn a_panicking_attempt_becomes_its_failure() {
        let driver_waker = waker(Arc::new(Driver::default()));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, ()> = Attempts::new();
        attempts.insert(id(3), Box::pin(async { boom() }), ());
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, (), Outcome::Panicked(message))) => {
                assert_eq!(dial, id(3));
                assert_eq!(message, "dial attempt panicked: boom");
            }
            _ => panic!("the panic is reported"),
        }
        assert_eq!(attempts.len(), 0);
    }

    #[tokio::test]
    async fn a_spawned_attempt_reports_its_end_and_wakes_the_driver() {
        let driver = Arc::new(Driver::default());
        let driver_waker = waker(Arc::clone(&driver));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, u8> = Attempts::new();
        let gate = Gate::default();
        let task = attempts.spawn(id(4), Box::pin(gate.clone()), 9);
        let panics = attempts.spawn(id(5), Box::pin(async { boom() }), 10);
        assert_eq!((attempts.len(), attempts.inline()), (2, 0));
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        let mut task = Box::pin(task);
        assert!(futures::poll!(task.as_mut()).is_pending());
        assert!(gate.polled());
        gate.open();
        task.await;
        panics.await;
        // The first wake-up takes the driver's waker; it registers again when it polls.
        assert_eq!(driver.0.load(Ordering::SeqCst), 1);
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, 9, Outcome::Done(7))) => assert_eq!(dial, id(4)),
            _ => panic!("the spawned attempt's end is handed out"),
        }
        match attempts.poll_next(&mut cx, no_span) {
            Poll::Ready((dial, 10, Outcome::Panicked(_))) => assert_eq!(dial, id(5)),
            _ => panic!("the spawned attempt's panic is handed out"),
        }
        assert_eq!(attempts.len(), 0);
    }

    #[tokio::test]
    async fn remove_drops_a_spawned_attempt_before_its_task_runs_again() {
        let driver_waker = waker(Arc::new(Driver::default()));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, ()> = Attempts::new();
        let (gate, dropped) = (Gate::default(), Arc::new(AtomicBool::new(false)));
        let mut task = Box::pin(attempts.spawn(id(6), flagged(&gate, &dropped), ()));
        assert!(futures::poll!(task.as_mut()).is_pending());
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(attempts.remove(id(6)), Some(()));
        // Synchronously: no poll of the task in between.
        assert!(dropped.load(Ordering::SeqCst));
        task.await;
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
    }

    /// An attempt whose poll blocks until the test lets it go, telling the test when its
    /// poll has begun: a transport that blocks inside `poll` on another thread.
    struct Blocking {
        entered: std::sync::mpsc::Sender<()>,
        release: std::sync::mpsc::Receiver<()>,
        _flag: DropFlag,
    }

    impl Future for Blocking {
        type Output = u32;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
            let _ = self.entered.send(());
            let _ = self.release.recv();
            Poll::Pending
        }
    }

    #[test]
    fn removing_an_attempt_mid_poll_waits_for_nothing_and_counts_a_zombie() {
        // R-T6, R-A1: the driver must not block on a poll running on another thread; the
        // attempt is dropped by its own task right after that poll, and counts as a zombie
        // (holding back new dials) until then.
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        let dropped = Arc::new(AtomicBool::new(false));
        let attempt: Attempt = Box::pin(Blocking {
            entered: entered_tx,
            release: release_rx,
            _flag: DropFlag(Arc::clone(&dropped)),
        });
        let driver = Arc::new(Driver::default());
        let driver_waker = waker(Arc::clone(&driver));
        let mut attempts: Attempts<Attempt, ()> = Attempts::new();
        let task = attempts.spawn(id(8), attempt, ());
        // The driver has polled the set (and so registered its waker) before the abort.
        let mut cx = Context::from_waker(&driver_waker);
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        let runner = std::thread::spawn(move || {
            let mut task = Box::pin(task);
            let waker = futures::task::noop_waker();
            while task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
            {}
        });
        entered.recv().expect("the poll began");

        // The poll is in progress on `runner`: removing returns at once.
        assert_eq!(attempts.remove(id(8)), Some(()));
        assert_eq!(attempts.zombies(), 1);
        assert!(!dropped.load(Ordering::SeqCst), "still inside its poll");

        release.send(()).expect("runner waits");
        runner.join().expect("the task ends after its poll");
        assert!(
            dropped.load(Ordering::SeqCst),
            "dropped right after the poll"
        );
        assert_eq!(attempts.zombies(), 0);
        let mut cx = Context::from_waker(&driver_waker);
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert!(
            driver.0.load(Ordering::SeqCst) >= 1,
            "the drop woke the driver"
        );
    }

    #[tokio::test]
    async fn an_end_reported_before_its_removal_is_dropped_unread() {
        let driver_waker = waker(Arc::new(Driver::default()));
        let mut cx = Context::from_waker(&driver_waker);
        let mut attempts: Attempts<Attempt, ()> = Attempts::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let gate = Gate::default();
        gate.open();
        attempts.spawn(id(7), flagged(&gate, &dropped), ()).await;
        // The attempt completed (its future is gone); its output waits for the driver.
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(attempts.remove(id(7)), Some(()));
        assert!(attempts.poll_next(&mut cx, no_span).is_pending());
        assert_eq!(attempts.len(), 0);
    }
}
