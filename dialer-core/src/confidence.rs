//! Per-multiaddr confidence with a bounded, least-recently-used table (R-C1 … R-C6).

use std::time::{Duration, Instant};

use hashlink::linked_hash_map::RawEntryMut;
use hashlink::LruCache;
use multiaddr::Multiaddr;
use smallvec::SmallVec;

use crate::blackhole::Traits;

/// Confidence of an address the table has never seen (R-C1).
pub const INITIAL_CONFIDENCE: u8 = 1;
/// Highest confidence (R-C3).
pub const MAX_CONFIDENCE: u8 = 10;

/// Most peers one address is remembered as pruned for (R-C5). An address several peers
/// share (a relay, a NAT) can fail for each of them; past this many marks the oldest goes,
/// so a slot stays bounded.
pub(crate) const MAX_PRUNED_PEERS: usize = 8;

/// What the table knows of one address (a snapshot carries all of it, R-C7).
#[derive(Debug)]
pub(crate) struct Entry<P> {
    pub(crate) value: u8,
    /// Smoothed connect time of the successful dials, in microseconds; 0 = never measured.
    pub(crate) connect_us: u32,
    /// Failures in a row since the last success (R-D4, R-C5), saturating.
    pub(crate) fails: u8,
    /// Its last dial was cut short by the adaptive timeout (R-R6b): the next one gets the
    /// full address timeout.
    pub(crate) cut: bool,
    /// The peers for which this address was pruned (R-C5), oldest first, each with the
    /// instant its mark expires.
    pub(crate) pruned_for: SmallVec<[(P, Instant); 1]>,
    /// The address's family bits of its dial rank ([`family_bits`]), read once when the
    /// entry is made: the dial order (R-R1a) of an address the table knows needs no walk
    /// of its bytes. It fits in the entry's padding.
    pub(crate) family: u8,
}

impl<P> Entry<P> {
    fn new(addr: &Multiaddr) -> Self {
        Self {
            value: INITIAL_CONFIDENCE,
            connect_us: 0,
            fails: 0,
            cut: false,
            pruned_for: SmallVec::new(),
            family: family_bits(addr),
        }
    }
}

/// The bits of a dial rank that hold the confidence (0 ..= [`MAX_CONFIDENCE`]).
pub(crate) const CONFIDENCE_BITS: u8 = 0x0F;
/// The bit of a dial rank that says [`IP6`] and [`RELAYED`] are set as the address is:
/// the rank came from a table entry, which read them once. Without it the dial order
/// reads them from the address.
pub(crate) const FAMILY_KNOWN: u8 = 0x10;
/// With [`FAMILY_KNOWN`]: the address is over IPv6 (or `/dns6`).
pub(crate) const IP6: u8 = 0x20;
/// With [`FAMILY_KNOWN`]: the address goes through a relay (`/p2p-circuit`).
pub(crate) const RELAYED: u8 = 0x40;
/// The bit of a dial rank that says the address has connected before (its connect time
/// is known): among addresses of equal confidence, a proven one dials first (R-R1a).
pub(crate) const PROVEN: u8 = 0x80;

/// The family bits of `addr`'s dial rank: [`FAMILY_KNOWN`], with [`IP6`] and [`RELAYED`]
/// as it is.
pub(crate) fn family_bits(addr: &Multiaddr) -> u8 {
    let (v6, relayed) = Traits::family_v6(addr);
    FAMILY_KNOWN | if v6 { IP6 } else { 0 } | if relayed { RELAYED } else { 0 }
}

/// A dial rank: an address's confidence (never above [`MAX_CONFIDENCE`], so it stays in
/// [`CONFIDENCE_BITS`]), with [`PROVEN`] set if it ever connected while in the table, and
/// its `family` bits ([`family_bits`], or 0 when not read).
#[inline]
pub(crate) fn rank_of(value: u8, proven: bool, family: u8) -> u8 {
    value | family | if proven { PROVEN } else { 0 }
}

impl<P> Entry<P> {
    #[inline]
    fn rank(&self) -> u8 {
        rank_of(self.value, self.connect_us > 0, self.family)
    }
}

/// Whether `marks` holds a live mark for `peer` at `now`.
fn marked<P: Eq>(marks: &[(P, Instant)], peer: &P, now: Instant) -> bool {
    marks.iter().any(|(p, until)| p == peer && now < *until)
}

/// Confidence per multiaddr, bounded by an LRU policy.
///
/// Only addresses whose confidence was reported on (a success or a failure) take an entry;
/// every other address has [`INITIAL_CONFIDENCE`]. The table is a [`hashlink::LruCache`]
/// (a hash map whose entries are linked in recency order, least recent at the front);
/// a full table drops its least recent entry and reuses that entry's node, so it does not
/// allocate in steady state.
pub(crate) struct ConfidenceTable<P> {
    lru: LruCache<Multiaddr, Entry<P>, foldhash::fast::RandomState>,
    /// Connect times above this (µs) may lengthen an adaptive timeout (R-R6b): `own ×
    /// margin` can only beat the floor (at least `syn_retry`) when `own > syn_retry /
    /// margin`.
    slow_us: u32,
    /// Entries that may need a longer timeout than the global one: cut short last time,
    /// or slower than `slow_us`. While there are none, a dial's timeout needs no lookup.
    slow: usize,
}

impl<P> Entry<P> {
    fn is_slow(&self, slow_us: u32) -> bool {
        self.cut || self.connect_us > slow_us
    }
}

impl<P> std::fmt::Debug for ConfidenceTable<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfidenceTable")
            .field("capacity", &self.lru.capacity())
            .field("len", &self.lru.len())
            .finish_non_exhaustive()
    }
}

impl<P: Clone + Eq> ConfidenceTable<P> {
    /// A table of `capacity` entries; `slow_after` is the connect time beyond which an
    /// address may need a longer adaptive timeout than the global one (R-R6b).
    pub(crate) fn new(capacity: usize, slow_after: Duration) -> Self {
        Self {
            lru: LruCache::with_hasher(capacity, foldhash::fast::RandomState::default()),
            slow_us: u32::try_from(slow_after.as_micros()).unwrap_or(u32::MAX),
            slow: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lru.len()
    }

    #[cfg(any(feature = "invariants", feature = "serde"))]
    pub(crate) fn capacity(&self) -> usize {
        self.lru.capacity()
    }

    /// Every entry, least recently used first (R-C7).
    #[cfg(feature = "serde")]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Multiaddr, &Entry<P>)> {
        self.lru.iter()
    }

    /// Makes `entry` what the table knows of `addr`, as its most recently used entry
    /// (R-C7; the least recent goes when full). Returns whether it was stored (not when
    /// the table is disabled).
    #[cfg(feature = "serde")]
    pub(crate) fn restore(&mut self, addr: &Multiaddr, entry: Entry<P>) -> bool {
        self.with_entry(addr, |e| *e = entry).is_some()
    }

    /// Confidence of `addr`, without touching its recency.
    pub(crate) fn get(&self, addr: &Multiaddr) -> u8 {
        self.lru.peek(addr).map_or(INITIAL_CONFIDENCE, |e| e.value)
    }

    /// The dial rank of `addr` (see [`rank_of`]), or `None` if it is pruned for `peer` at
    /// `now` (R-C5): what admitting an address to a request needs, in one lookup.
    pub(crate) fn admit(&self, addr: &Multiaddr, peer: &P, now: Instant) -> Option<u8> {
        match self.lru.peek(addr) {
            None => Some(INITIAL_CONFIDENCE),
            Some(e) => (!marked(&e.pruned_for, peer, now)).then(|| e.rank()),
        }
    }

    /// The dial rank of `addr` (see [`rank_of`]), without touching its recency.
    pub(crate) fn rank(&self, addr: &Multiaddr) -> u8 {
        self.lru.peek(addr).map_or(INITIAL_CONFIDENCE, Entry::rank)
    }

    /// The smoothed connect time of `addr` if it is proven: it connected, and its
    /// confidence is not below the start value (what a head start needs).
    pub(crate) fn proven_connect_time(&self, addr: &Multiaddr) -> Option<Duration> {
        let e = self.lru.peek(addr)?;
        (e.value >= INITIAL_CONFIDENCE && e.connect_us > 0)
            .then(|| Duration::from_micros(u64::from(e.connect_us)))
    }

    /// What sizes the timeout of a dial of `addr` (R-R6b): its smoothed connect time, if
    /// measured, and whether its last dial was cut short.
    #[inline]
    pub(crate) fn timing(&self, addr: &Multiaddr) -> (Option<Duration>, bool) {
        if self.slow == 0 {
            // No address is slow or was cut: the global timeout applies, no lookup.
            return (None, false);
        }
        match self.lru.peek(addr) {
            None => (None, false),
            Some(e) => (
                (e.connect_us > 0).then(|| Duration::from_micros(u64::from(e.connect_us))),
                e.cut,
            ),
        }
    }

    /// Failures in a row of `addr` since its last success (R-D4).
    pub(crate) fn failures(&self, addr: &Multiaddr) -> u8 {
        self.lru.peek(addr).map_or(0, |e| e.fails)
    }

    /// A dial of `addr` failed (`cut`: by an adaptive timeout): confidence down by one
    /// (R-C2), one more failure in a row (R-D4). Returns the new confidence and the
    /// failures in a row (1 when the table is disabled).
    pub(crate) fn record_failure(&mut self, addr: &Multiaddr, cut: bool) -> (u8, u8) {
        self.with_entry(addr, |e| {
            let value = Self::step(e, false);
            e.fails = e.fails.saturating_add(1);
            e.cut = cut;
            (value, e.fails)
        })
        .unwrap_or((INITIAL_CONFIDENCE, 1))
    }

    /// Forgets the failure count and cut mark of `addr` (R-D4a), keeping its confidence.
    pub(crate) fn forgive(&mut self, addr: &Multiaddr) {
        let slow_us = self.slow_us;
        if let Some(e) = self.lru.peek_mut(addr) {
            let before = e.is_slow(slow_us);
            e.fails = 0;
            e.cut = false;
            if before && !e.is_slow(slow_us) {
                self.slow -= 1;
            }
        }
    }

    /// Forgets every failure count and cut mark (R-D4b: they were about the old network).
    pub(crate) fn forgive_all(&mut self) {
        let slow_us = self.slow_us;
        self.slow = 0;
        for (_, e) in self.lru.iter_mut() {
            e.fails = 0;
            e.cut = false;
            self.slow += usize::from(e.is_slow(slow_us));
        }
    }

    /// Lifts the prune mark of `addr` for `peer` (R-C5a); returns whether there was one.
    pub(crate) fn lift_prune(&mut self, addr: &Multiaddr, peer: &P) -> bool {
        match self.lru.peek_mut(addr) {
            Some(e) => {
                let before = e.pruned_for.len();
                e.pruned_for.retain(|(p, _)| p != peer);
                e.pruned_for.len() != before
            }
            None => false,
        }
    }

    /// Whether `addr` is pruned for `peer` at `now` (R-C5): marked, and the mark has not
    /// expired.
    pub(crate) fn is_pruned(&self, addr: &Multiaddr, peer: &P, now: Instant) -> bool {
        self.lru
            .peek(addr)
            .is_some_and(|e| marked(&e.pruned_for, peer, now))
    }

    fn step(e: &mut Entry<P>, up: bool) -> u8 {
        e.value = if up {
            (e.value + 1).min(MAX_CONFIDENCE)
        } else {
            e.value.saturating_sub(1)
        };
        if up {
            // A success proves the address is alive again: it is no longer pruned.
            e.pruned_for.clear();
        }
        e.value
    }

    /// A dial of `addr` connected after `took`: confidence up by one (R-C3), and `took`
    /// folded into the smoothed connect time (weight 1/4, as TCP smooths its RTT).
    /// Returns the new confidence.
    pub(crate) fn record_success(&mut self, addr: &Multiaddr, took: Duration) -> u8 {
        self.with_entry(addr, |e| {
            let value = Self::step(e, true);
            // At least 1 µs, so that a measured time is never read back as "unknown".
            let sample = u32::try_from(took.as_micros()).unwrap_or(u32::MAX).max(1);
            e.connect_us = match e.connect_us {
                0 => sample,
                old => ((u64::from(old) * 3 + u64::from(sample)) / 4) as u32,
            }
            .max(1);
            e.fails = 0;
            e.cut = false;
            value
        })
        .unwrap_or(INITIAL_CONFIDENCE)
    }

    /// Marks `addr` as pruned for `peer` until `until`; an older mark for `peer`, live or
    /// expired, is replaced.
    pub(crate) fn prune(&mut self, addr: &Multiaddr, peer: &P, until: Instant) {
        if let Some(e) = self.lru.peek_mut(addr) {
            let marks = &mut e.pruned_for;
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
        self.lru
            .iter()
            .map(|(addr, e)| (addr.clone(), e.value))
            .collect()
    }

    /// Sets `addr` to `value` (clamped to `0..=10`), lifts its prune marks (R-C5a: the
    /// embedder vouches for it) and marks it most recently used.
    pub(crate) fn set(&mut self, addr: &Multiaddr, value: u8) {
        self.with_entry(addr, |e| {
            e.value = value.min(MAX_CONFIDENCE);
            e.pruned_for.clear();
        });
    }

    /// Runs `f` on the entry of `addr`, created (evicting the least recent when full) and
    /// marked most recently used, in one lookup. `None` only when the table is disabled
    /// (capacity 0).
    fn with_entry<R>(&mut self, addr: &Multiaddr, f: impl FnOnce(&mut Entry<P>) -> R) -> Option<R> {
        if self.lru.capacity() == 0 {
            return None;
        }
        let slow_us = self.slow_us;
        let (out, inserted, before, after) = match self.lru.raw_entry_mut().from_key(addr) {
            RawEntryMut::Occupied(mut o) => {
                o.to_back();
                let e = o.into_mut();
                let before = e.is_slow(slow_us);
                let out = f(e);
                (out, false, before, e.is_slow(slow_us))
            }
            RawEntryMut::Vacant(v) => {
                let e = v.insert(addr.clone(), Entry::new(addr)).1;
                let out = f(e);
                (out, true, false, e.is_slow(slow_us))
            }
        };
        self.slow = self.slow + usize::from(after) - usize::from(before);
        // The new entry went in at the back; a full table drops its front, the least
        // recent (its node is kept for the next insert).
        if inserted && self.lru.len() > self.lru.capacity() {
            if let Some((_, evicted)) = self.lru.remove_lru() {
                self.slow -= usize::from(evicted.is_slow(slow_us));
            }
        }
        Some(out)
    }

    /// Checks the table's bounds (used by the invariant checker); the recency list itself
    /// is hashlink's.
    #[cfg(feature = "invariants")]
    pub(crate) fn check(&self) -> Result<(), String> {
        for (addr, e) in self.lru.iter() {
            if e.value > MAX_CONFIDENCE {
                return Err(format!("confidence {} of {} above 10", e.value, addr));
            }
        }
        let slow = self
            .lru
            .iter()
            .filter(|(_, e)| e.is_slow(self.slow_us))
            .count();
        if slow != self.slow {
            return Err(format!(
                "{slow} slow confidence entries, {} counted",
                self.slow
            ));
        }
        if self.lru.len() > self.lru.capacity() {
            return Err(format!(
                "confidence table holds {} entries, cap {}",
                self.lru.len(),
                self.lru.capacity()
            ));
        }
        Ok(())
    }
}
