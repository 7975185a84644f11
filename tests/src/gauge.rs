//! A counter that async code can wait on: tests wait for real events ("every dial future is
//! gone") instead of sleeping and hoping.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct State {
    value: usize,
    max: usize,
    total: usize,
    wakers: Vec<Waker>,
}

/// A gauge (current value), its high-water mark and the number of increments, runtime
/// independent: [`Gauge::wait_until`] wakes on every change.
#[derive(Debug, Default)]
pub struct Gauge {
    state: Mutex<State>,
}

impl Gauge {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(mut state: MutexGuard<'_, State>) {
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        for waker in wakers {
            waker.wake();
        }
    }

    /// Adds one.
    pub fn inc(&self) {
        let mut state = self.lock();
        state.value += 1;
        state.total += 1;
        state.max = state.max.max(state.value);
        Self::changed(state);
    }

    /// Takes one away (never below zero).
    pub fn dec(&self) {
        let mut state = self.lock();
        state.value = state.value.saturating_sub(1);
        Self::changed(state);
    }

    /// The current value.
    pub fn value(&self) -> usize {
        self.lock().value
    }

    /// The highest value seen.
    pub fn max(&self) -> usize {
        self.lock().max
    }

    /// How many times it was incremented.
    pub fn total(&self) -> usize {
        self.lock().total
    }

    /// Completes once `pred(value, total)` holds.
    pub fn wait_until<F>(&self, pred: F) -> WaitUntil<'_, F>
    where
        F: Fn(usize, usize) -> bool + Unpin,
    {
        WaitUntil { gauge: self, pred }
    }
}

/// The future of [`Gauge::wait_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct WaitUntil<'a, F> {
    gauge: &'a Gauge,
    pred: F,
}

impl<F> Future for WaitUntil<'_, F>
where
    F: Fn(usize, usize) -> bool + Unpin,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.gauge.lock();
        if (self.pred)(state.value, state.total) {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
