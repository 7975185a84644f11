//! Per-multiaddr confidence with a bounded, least-recently-used table (R-C1 … R-C6).

use std::time::{Duration, Instant};

use crate::ids::KeyMap;

use multiaddr::Multiaddr;
use smallvec::SmallVec;

/// Confidence of an address the table has never seen (R-C1).
pub const INITIAL_CONFIDENCE: u8 = 1;
/// Highest confidence (R-C3).
pub const MAX_CONFIDENCE: u8 = 10;

const NIL: u32 = u32::MAX;

/// Most peers one address is remembered as pruned for (R-C5). An address several peers
/// share (a relay, a NAT) can fail for each of them; past this many marks the oldest goes,
/// so a slot stays bounded.
const MAX_PRUNED_PEERS: usize = 8;

#[derive(Debug)]
struct Slot<P> {
    addr: Multiaddr,
    value: u8,
    /// Smoothed connect time of the successful dials, in microseconds; 0 = never measured.
    connect_us: u32,
    /// The peers for which this address was pruned (R-C5), oldest first, each with the
    /// instant its mark expires.
    pruned_for: SmallVec<[(P, Instant); 1]>,
    prev: u32,
    next: u32,
}

/// Whether `marks` holds a live mark for `peer` at `now`.
fn marked<P: Eq>(marks: &[(P, Instant)], peer: &P, now: Instant) -> bool {
    marks.iter().any(|(p, until)| p == peer && now < *until)
}

/// Confidence per multiaddr, bounded by an LRU policy.
///
/// Only addresses whose confidence was reported on (a success or a failure) take an entry;
/// every other address has [`INITIAL_CONFIDENCE`]. Slots live in one `Vec` linked into a
/// recency list by index, so a full table recycles its least recent slot instead of
/// allocating.
#[derive(Debug)]
pub(crate) struct ConfidenceTable<P> {
    capacity: usize,
    index: KeyMap<Multiaddr, u32>,
    slots: Vec<Slot<P>>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
}

impl<P: Clone + Eq> ConfidenceTable<P> {
    pub(crate) fn new(capacity: usize) -> Self {
        // Index ids are u32; a table larger than that is not a table anyone can afford.
        let capacity = capacity.min(NIL as usize - 1);
        Self {
            capacity,
            index: KeyMap::default(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Confidence of `addr`, without touching its recency.
    pub(crate) fn get(&self, addr: &Multiaddr) -> u8 {
        self.index
            .get(addr)
            .map_or(INITIAL_CONFIDENCE, |&i| self.slots[i as usize].value)
    }

    /// Confidence of `addr`, or `None` if it is pruned for `peer` at `now` (R-C5): what
    /// admitting an address to a request needs, in one lookup.
    pub(crate) fn admit(&self, addr: &Multiaddr, peer: &P, now: Instant) -> Option<u8> {
        match self.index.get(addr) {
            None => Some(INITIAL_CONFIDENCE),
            Some(&i) => {
                let slot = &self.slots[i as usize];
                (!marked(&slot.pruned_for, peer, now)).then_some(slot.value)
            }
        }
    }

    /// The smoothed connect time of `addr`'s successful dials, if any was measured.
    pub(crate) fn connect_time(&self, addr: &Multiaddr) -> Option<Duration> {
        let &i = self.index.get(addr)?;
        match self.slots[i as usize].connect_us {
            0 => None,
            us => Some(Duration::from_micros(u64::from(us))),
        }
    }

    /// Whether `addr` is pruned for `peer` at `now` (R-C5): marked, and the mark has not
    /// expired.
    pub(crate) fn is_pruned(&self, addr: &Multiaddr, peer: &P, now: Instant) -> bool {
        self.index
            .get(addr)
            .is_some_and(|&i| marked(&self.slots[i as usize].pruned_for, peer, now))
    }

    /// Raises (`up`) or lowers the confidence of `addr` by one, within `0..=10`, marks it
    /// most recently used and returns the new value.
    pub(crate) fn adjust(&mut self, addr: &Multiaddr, up: bool) -> u8 {
        let Some(i) = self.entry(addr) else {
            return INITIAL_CONFIDENCE;
        };
        let slot = &mut self.slots[i as usize];
        slot.value = if up {
            (slot.value + 1).min(MAX_CONFIDENCE)
        } else {
            slot.value.saturating_sub(1)
        };
        if up {
            // A success proves the address is alive again: it is no longer pruned.
            slot.pruned_for.clear();
        }
        slot.value
    }

    /// A dial of `addr` connected after `took`: confidence up by one (R-C3), and `took`
    /// folded into the smoothed connect time (weight 1/4, as TCP smooths its RTT).
    /// Returns the new confidence.
    pub(crate) fn record_success(&mut self, addr: &Multiaddr, took: Duration) -> u8 {
        let value = self.adjust(addr, true);
        if let Some(&i) = self.index.get(addr) {
            let slot = &mut self.slots[i as usize];
            // At least 1 µs, so that a measured time is never read back as "unknown".
            let sample = u32::try_from(took.as_micros()).unwrap_or(u32::MAX).max(1);
            slot.connect_us = match slot.connect_us {
                0 => sample,
                old => ((u64::from(old) * 3 + u64::from(sample)) / 4) as u32,
            }
            .max(1);
        }
        value
    }

    /// Marks `addr` as pruned for `peer` until `until`; an older mark for `peer`, live or
    /// expired, is replaced.
    pub(crate) fn prune(&mut self, addr: &Multiaddr, peer: &P, until: Instant) {
        if let Some(i) = self.index.get(addr).copied() {
            let marks = &mut self.slots[i as usize].pruned_for;
            marks.retain(|(p, _)| p != peer);
            if marks.len() >= MAX_PRUNED_PEERS {
                marks.remove(0);
            }
            marks.push((peer.clone(), until));
        }
    }

    /// All entries, least recently used first, so that importing them in order restores
    /// the same recency.
    pub(crate) fn export(&self) -> Vec<(Multiaddr, u8)> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = self.tail;
        while i != NIL {
            let slot = &self.slots[i as usize];
            out.push((slot.addr.clone(), slot.value));
            i = slot.prev;
        }
        out
    }

    /// Sets `addr` to `value` (clamped to `0..=10`) and marks it most recently used.
    pub(crate) fn set(&mut self, addr: &Multiaddr, value: u8) {
        if let Some(i) = self.entry(addr) {
            self.slots[i as usize].value = value.min(MAX_CONFIDENCE);
        }
    }

    /// The slot of `addr`, created (evicting the least recent when full) and moved to the
    /// front. `None` only when the table is disabled (capacity 0).
    fn entry(&mut self, addr: &Multiaddr) -> Option<u32> {
        if let Some(&i) = self.index.get(addr) {
            self.unlink(i);
            self.push_front(i);
            return Some(i);
        }
        if self.capacity == 0 {
            return None;
        }
        let i = if self.index.len() >= self.capacity {
            let victim = self.tail;
            self.unlink(victim);
            let slot = &mut self.slots[victim as usize];
            self.index.remove(&slot.addr);
            slot.addr = addr.clone();
            slot.value = INITIAL_CONFIDENCE;
            slot.connect_us = 0;
            slot.pruned_for.clear();
            victim
        } else {
            let i = self.slots.len() as u32;
            self.slots.push(Slot {
                addr: addr.clone(),
                value: INITIAL_CONFIDENCE,
                connect_us: 0,
                pruned_for: SmallVec::new(),
                prev: NIL,
                next: NIL,
            });
            i
        };
        self.index.insert(addr.clone(), i);
        self.push_front(i);
        Some(i)
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[i as usize];
            s.prev = NIL;
            s.next = old;
        }
        if old == NIL {
            self.tail = i;
        } else {
            self.slots[old as usize].prev = i;
        }
        self.head = i;
    }

    /// Checks the recency list against the index (used by the invariant checker).
    #[cfg(feature = "invariants")]
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut seen = 0usize;
        let mut i = self.head;
        let mut prev = NIL;
        while i != NIL {
            let s = &self.slots[i as usize];
            if s.prev != prev {
                return Err(format!("confidence list broken at slot {i}"));
            }
            if self.index.get(&s.addr) != Some(&i) {
                return Err(format!("confidence index misses {}", s.addr));
            }
            if s.value > MAX_CONFIDENCE {
                return Err(format!("confidence {} of {} above 10", s.value, s.addr));
            }
            seen += 1;
            if seen > self.index.len() {
                return Err("confidence list has a cycle".into());
            }
            prev = i;
            i = s.next;
        }
        if prev != self.tail || seen != self.index.len() {
            return Err("confidence list and index disagree".into());
        }
        if self.index.len() > self.capacity {
            return Err(format!(
                "confidence table holds {} entries, cap {}",
                self.index.len(),
                self.capacity
            ));
        }
        Ok(())
    }
}
