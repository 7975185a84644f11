//! The temporary, bounded deny list of failed addresses (R-D1 … R-D3).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;

use crate::ids::KeyMap;

/// Addresses that failed recently, each until its expiry.
///
/// Every entry lives `duration` from its (last) failure, so with the core's monotonic
/// `now` the expiry queue is sorted by construction: expiring and evicting both take from
/// its front. Re-denying an address leaves a stale queue entry behind, skipped when it
/// reaches the front and swept when stale entries outnumber live ones.
#[derive(Debug)]
pub(crate) struct DenyList {
    capacity: usize,
    duration: Duration,
    until: KeyMap<Multiaddr, Instant>,
    expiries: VecDeque<(Instant, Multiaddr)>,
}

impl DenyList {
    pub(crate) fn new(capacity: usize, duration: Duration) -> Self {
        Self {
            capacity,
            duration,
            until: KeyMap::default(),
            expiries: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `addr` is denied at `now` (R-D2).
    pub(crate) fn contains(&self, addr: &Multiaddr, now: Instant) -> bool {
        self.until.get(addr).is_some_and(|&until| now < until)
    }

    /// When the entry of `addr` expires, if it has one (R-D6).
    pub(crate) fn until(&self, addr: &Multiaddr) -> Option<Instant> {
        self.until.get(addr).copied()
    }

    /// Denies `addr` from `now` for the configured duration (R-D1), evicting the entry
    /// closest to expiry when full (R-D3).
    pub(crate) fn insert(&mut self, addr: &Multiaddr, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        self.expire(now);
        let until = now.checked_add(self.duration).unwrap_or(now);
        if let Some(old) = self.until.get_mut(addr) {
            *old = until;
        } else {
            // Every live entry has a queue entry, so this ends with room made.
            while self.until.len() >= self.capacity && !self.expiries.is_empty() {
                self.pop_front();
            }
            self.until.insert(addr.clone(), until);
        }
        self.expiries.push_back((until, addr.clone()));
        self.sweep();
    }

    /// Lifts the entry of `addr`: it just connected, so it is not failing any more.
    pub(crate) fn remove(&mut self, addr: &Multiaddr) {
        // Its queue entry turns stale: sweep here too, or successes on addresses that
        // keep failing for other peers pile stale entries up between inserts.
        // Most successes are for addresses that never failed: with nothing denied, skip
        // hashing the address at all.
        if !self.until.is_empty() && self.until.remove(addr).is_some() {
            self.sweep();
        }
    }

    /// Drops stale queue entries once they outnumber the live ones (amortised O(1)).
    fn sweep(&mut self) {
        if self.expiries.len() > 2 * self.until.len() + 16 {
            let until = &self.until;
            self.expiries.retain(|(t, a)| until.get(a) == Some(t));
        }
    }

    /// Drops every entry that expired at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while self.expiries.front().is_some_and(|(t, _)| *t <= now) {
            self.pop_front();
        }
    }

    /// Removes the front of the expiry queue, and its entry if that is still live.
    fn pop_front(&mut self) {
        if let Some((t, addr)) = self.expiries.pop_front() {
            if self.until.get(&addr) == Some(&t) {
                self.until.remove(&addr);
            }
        }
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.until.len() > self.capacity {
            return Err(format!(
                "deny list holds {} entries, cap {}",
                self.until.len(),
                self.capacity
            ));
        }
        if self.expiries.len() > 2 * self.until.len() + 17 {
            return Err(format!(
                "deny expiry queue holds {} entries for {} live",
                self.expiries.len(),
                self.until.len()
            ));
        }
        Ok(())
    }
}
