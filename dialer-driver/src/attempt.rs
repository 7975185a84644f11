//! A dial attempt that runs on its own task but that the driver can drop at once.
//!
//! `futures::future::Abortable` only flags an aborted task: the attempt (and its socket)
//! is dropped when that task is next polled, which may be after the core has handed the
//! freed token to the next dial. Tokens cap the sockets in flight (R-T6), so an `AbortDial`
//! must close the socket before the driver starts anything else. Here the attempt lives in
//! a slot shared by its task and the driver: the task polls it under a lock, and
//! [`AbortSlot::abort`] takes it out and drops it on the spot (waiting, at worst, for one
//! poll that is running on another thread to end).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

struct Slot<F> {
    /// `None` once the attempt completed or was aborted.
    attempt: Option<Pin<Box<F>>>,
    /// The task's waker, to let it finish after an abort.
    waker: Option<Waker>,
}

type Shared<F> = Arc<Mutex<Slot<F>>>;

fn lock<F>(shared: &Shared<F>) -> MutexGuard<'_, Slot<F>> {
    // A panic inside the attempt's poll poisons the lock; the slot is still consistent
    // (the attempt is merely abandoned), and it must still be droppable.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Splits `attempt` into the future its task runs and the driver's handle to drop it.
pub(crate) fn abortable<F: Future>(attempt: F) -> (AttemptTask<F>, AbortSlot<F>) {
    let shared = Arc::new(Mutex::new(Slot {
        attempt: Some(Box::pin(attempt)),
        waker: None,
    }));
    (
        AttemptTask {
            shared: Arc::clone(&shared),
        },
        AbortSlot { shared },
    )
}

/// The driver's handle on a running attempt.
pub(crate) struct AbortSlot<F> {
    shared: Shared<F>,
}

impl<F> AbortSlot<F> {
    /// Drops the attempt now (closing its socket) and lets its task end. Does nothing if
    /// the attempt already completed.
    pub(crate) fn abort(&self) {
        let (attempt, waker) = {
            let mut slot = lock(&self.shared);
            (slot.attempt.take(), slot.waker.take())
        };
        drop(attempt);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// What the attempt's task runs: the attempt's output, or `None` if it was aborted.
pub(crate) struct AttemptTask<F> {
    shared: Shared<F>,
}

impl<F: Future> Future for AttemptTask<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.shared);
        let Some(attempt) = slot.attempt.as_mut() else {
            return Poll::Ready(None);
        };
        match attempt.as_mut().poll(cx) {
            Poll::Ready(output) => {
                slot.attempt = None;
                slot.waker = None;
                Poll::Ready(Some(output))
            }
            Poll::Pending => {
                match &mut slot.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    waker => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn abort_drops_the_attempt_before_its_task_runs_again() {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(Arc::clone(&dropped));
        let (mut task, slot) = abortable(async move {
            let _flag = flag;
            futures::future::pending::<()>().await;
        });
        assert!(futures::poll!(&mut task).is_pending());
        assert!(!dropped.load(Ordering::SeqCst));
        slot.abort();
        // Synchronously: no poll of the task happened in between.
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(task.await, None);
    }

    #[tokio::test]
    async fn a_completed_attempt_keeps_its_output() {
        let (task, slot) = abortable(async { 7 });
        assert_eq!(task.await, Some(7));
        slot.abort();
    }
}
