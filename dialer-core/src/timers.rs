//! Deadlines of requests, dials and staggers.
//!
//! Every request and dial timer is `now + a fixed duration` and the core's `now` never
//! goes back, so each of those kinds' deadlines arrive in order: a FIFO queue per kind is
//! a sorted timer list with O(1) insert and O(1) next-deadline ([`DeadlineQueue`]).
//! Stagger gaps vary (a head start depends on the address, see `HeadStart`), so
//! they live in a binary heap ([`DeadlineHeap`], O(log n)). In both, cancelled timers stay
//! and are skipped when they reach the front (their owner is gone or has a new deadline);
//! a queue is swept when stale entries outnumber live ones, keeping memory bounded.
//!
//! Every push also goes to an [`Earliest`]: the earliest live deadline of all the queues,
//! remembered between calls, so that `poll_timeout` (called after every input) is one
//! liveness check instead of a look at the front of every queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::marker::PhantomData;
use std::time::Instant;

use crate::slab::SlabKey;

/// The earliest live deadline of a set of timer queues, as last computed and lowered by
/// every timer armed since; or unknown.
///
/// Sound because a timer becomes live only by being pushed (an owner that moves its
/// deadline pushes the new one), and every push goes through here: while the remembered
/// timer `(t, due)` is still live, no live timer is earlier than `t`. Once it is stale (its
/// owner ended, or moved its deadline), the earliest is unknown again and must be
/// recomputed from the queues.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Earliest<D> {
    /// `None`: unknown. `Some(None)`: no live timer at all.
    known: Option<Option<(Instant, D)>>,
}

impl<D: Copy> Earliest<D> {
    /// Nothing known yet.
    pub(crate) fn unknown() -> Self {
        Self { known: None }
    }

    /// What is known: `None` if unknown, else the earliest timer (if any) as computed
    /// then, which the caller must check is still live.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<Option<(Instant, D)>> {
        self.known
    }

    /// The queues' earliest live timer, just computed.
    #[inline(always)]
    pub(crate) fn set(&mut self, earliest: Option<(Instant, D)>) {
        self.known = Some(earliest);
    }

    /// A timer was armed at `at`.
    #[inline(always)]
    fn armed(&mut self, at: Instant, due: D) {
        if let Some(known) = &mut self.known {
            if known.is_none_or(|(t, _)| at < t) {
                *known = Some((at, due));
            }
        }
    }
}

/// Whether a queue of `len` entries, `live` of them live, is due for a sweep: once stale
/// entries outnumber live ones (plus some slack, so small queues are never swept).
fn sweep_due(len: usize, live: usize) -> bool {
    len > 2 * live + 64
}

#[derive(Debug)]
pub(crate) struct DeadlineQueue<K> {
    entries: VecDeque<(Instant, K)>,
}

impl<K: Copy> DeadlineQueue<K> {
    pub(crate) fn new() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Arms a timer for `key` at `deadline`; `earliest` hears of it as `due(key)`.
    #[inline(always)]
    pub(crate) fn push<D: Copy>(
        &mut self,
        deadline: Instant,
        key: K,
        earliest: &mut Earliest<D>,
        due: impl FnOnce(K) -> D,
    ) {
        earliest.armed(deadline, due(key));
        self.insert(deadline, key);
    }

    fn insert(&mut self, deadline: Instant, key: K) {
        if self.entries.back().is_none_or(|(t, _)| *t <= deadline) {
            self.entries.push_back((deadline, key));
        } else {
            // Only reachable if durations change under us; stay correct regardless.
            let at = self.entries.partition_point(|(t, _)| *t <= deadline);
            self.entries.insert(at, (deadline, key));
        }
    }

    /// The earliest live entry, after dropping stale ones from the front.
    pub(crate) fn front(
        &mut self,
        mut live: impl FnMut(Instant, K) -> bool,
    ) -> Option<(Instant, K)> {
        while let Some(&(t, k)) = self.entries.front() {
            if live(t, k) {
                return Some((t, k));
            }
            self.entries.pop_front();
        }
        None
    }

    pub(crate) fn pop_front(&mut self) {
        self.entries.pop_front();
    }

    /// Sweeps stale entries once they outnumber the `live` ones (amortised O(1)).
    /// Inlined: it runs for every queue after every input, and is almost always a
    /// comparison that finds nothing to do.
    #[inline(always)]
    pub(crate) fn compact(&mut self, live_count: usize, live: impl FnMut(Instant, K) -> bool) {
        if sweep_due(self.entries.len(), live_count) {
            self.sweep(live);
        }
    }

    #[cold]
    fn sweep(&mut self, mut live: impl FnMut(Instant, K) -> bool) {
        self.entries.retain(|&(t, k)| live(t, k));
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Instant, K)> {
        self.entries.iter()
    }
}

/// Deadlines of varying durations, earliest first: the same interface as
/// [`DeadlineQueue`] on a binary heap. Keys are stored raw: ids have no meaningful order,
/// but the heap needs one to break ties between equal deadlines.
#[derive(Debug)]
pub(crate) struct DeadlineHeap<K> {
    entries: BinaryHeap<Reverse<(Instant, u64)>>,
    _key: PhantomData<K>,
}

impl<K: SlabKey> DeadlineHeap<K> {
    pub(crate) fn new() -> Self {
        Self {
            entries: BinaryHeap::new(),
            _key: PhantomData,
        }
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Arms a timer for `key` at `deadline`; `earliest` hears of it as `due(key)`.
    pub(crate) fn push<D: Copy>(
        &mut self,
        deadline: Instant,
        key: K,
        earliest: &mut Earliest<D>,
        due: impl FnOnce(K) -> D,
    ) {
        earliest.armed(deadline, due(key));
        self.entries.push(Reverse((deadline, key.into_raw())));
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Instant, K)> + '_ {
        self.entries
            .iter()
            .map(|&Reverse((t, raw))| (t, K::from_raw(raw)))
    }

    /// The earliest live entry, after dropping stale ones from the front.
    pub(crate) fn front(
        &mut self,
        mut live: impl FnMut(Instant, K) -> bool,
    ) -> Option<(Instant, K)> {
        while let Some(&Reverse((t, raw))) = self.entries.peek() {
            let k = K::from_raw(raw);
            if live(t, k) {
                return Some((t, k));
            }
            self.entries.pop();
        }
        None
    }

    pub(crate) fn pop_front(&mut self) {
        self.entries.pop();
    }

    /// Sweeps stale entries once they outnumber the `live` ones (amortised O(1) per
    /// entry, plus the heap rebuild).
    pub(crate) fn compact(&mut self, live_count: usize, mut live: impl FnMut(Instant, K) -> bool) {
        if sweep_due(self.entries.len(), live_count) {
            self.entries
                .retain(|&Reverse((t, raw))| live(t, K::from_raw(raw)));
        }
    }
}
