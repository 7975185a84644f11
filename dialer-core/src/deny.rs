//! The temporary, bounded deny list of failed addresses (R-D1 … R-D4).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;

use crate::ids::KeyMap;

/// Addresses that failed recently, each until its expiry.
///
/// Entries live for different times (backoff grows with failures in a row, R-D4), so the
/// expiries sit in a min-heap: expiring and evicting (the entry closest to expiry goes
/// first when full) both take its top. Re-denying or lifting an address leaves a stale
/// heap entry behind, skipped when it reaches the top and swept when stale entries
/// outnumber live ones.
#[derive(Debug)]
pub(crate) struct DenyList {
    capacity: usize,
    until: KeyMap<Multiaddr, Instant>,
    expiries: BinaryHeap<Reverse<(Instant, Multiaddr)>>,
}

/// How long the `failures`-th failure in a row denies an address (R-D4):
/// `base × growth^(failures - 1)`, at most `max` (or `base`, if `max` is shorter).
pub(crate) fn backoff(base: Duration, growth: u32, max: Duration, failures: u8) -> Duration {
    let max = max.max(base);
    let mut d = base;
    for _ in 1..failures {
        if d >= max {
            break;
        }
        d = d.saturating_mul(growth);
    }
    d.min(max)
}

impl DenyList {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            until: KeyMap::default(),
            expiries: BinaryHeap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Every entry and its expiry, in no particular order (R-C7).
    #[cfg(feature = "serde")]
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&Multiaddr, Instant)> {
        self.until.iter().map(|(addr, until)| (addr, *until))
    }

    /// Whether `addr` is denied at `now` (R-D2).
    #[inline]
    pub(crate) fn contains(&self, addr: &Multiaddr, now: Instant) -> bool {
        !self.until.is_empty() && self.until.get(addr).is_some_and(|&until| now < until)
    }

    /// When the entry of `addr` expires, if it has one (R-D6).
    pub(crate) fn until(&self, addr: &Multiaddr) -> Option<Instant> {
        self.until.get(addr).copied()
    }

    /// Denies `addr` from `now` for `duration` (R-D1, R-D4), evicting the entry closest to
    /// expiry when full (R-D3).
    pub(crate) fn insert(&mut self, addr: &Multiaddr, now: Instant, duration: Duration) {
        if self.capacity == 0 {
            return;
        }
        self.expire(now);
        let until = now.checked_add(duration).unwrap_or(now);
        if let Some(old) = self.until.get_mut(addr) {
            if *old == until {
                // Denied again until the same instant (several failures of one address,
                // or of one name, at one `now`): its heap entry is already there, and a
                // copy of it would count as live in every sweep.
                return;
            }
            *old = until;
        } else {
            // Every live entry has a heap entry, so this ends with room made.
            while self.until.len() >= self.capacity && !self.expiries.is_empty() {
                self.pop_front();
            }
            self.until.insert(addr.clone(), until);
        }
        self.expiries.push(Reverse((until, addr.clone())));
        self.sweep();
    }

    /// Lifts the entry of `addr` (R-D5, R-D4a).
    pub(crate) fn remove(&mut self, addr: &Multiaddr) {
        // Its heap entry turns stale: sweep here too, or successes on addresses that
        // keep failing for other peers pile stale entries up between inserts.
        // Most successes are for addresses that never failed: with nothing denied, skip
        // hashing the address at all.
        if !self.until.is_empty() && self.until.remove(addr).is_some() {
            self.sweep();
        }
    }

    /// Lifts every entry (R-D4b).
    pub(crate) fn clear(&mut self) {
        self.until.clear();
        self.expiries.clear();
    }

    /// Drops stale heap entries once they outnumber the live ones (amortised O(1)).
    fn sweep(&mut self) {
        if self.expiries.len() > 2 * self.until.len() + 16 {
            let until = &self.until;
            self.expiries
                .retain(|Reverse((t, a))| until.get(a) == Some(t));
        }
    }

    /// Drops every entry that expired at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        let mut expired = false;
        while self
            .expiries
            .peek()
            .is_some_and(|Reverse((t, _))| *t <= now)
        {
            self.pop_front();
            expired = true;
        }
        // Live entries that expire can leave stale ones behind (an address denied again
        // for less time than before, after `network_changed` reset its backoff): without
        // a sweep here those outnumbered the live ones until the next insert.
        if expired {
            self.sweep();
        }
    }

    /// Removes the top of the expiry heap, and its entry if that is still live.
    fn pop_front(&mut self) {
        if let Some(Reverse((t, addr))) = self.expiries.pop() {
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
                "deny expiry heap holds {} entries for {} live",
                self.expiries.len(),
                self.until.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Found by the names fuzz target: every address denied for 100 s, then again for
    // 1 s (its backoff reset); when the 1 s entries expire, the 100 s ones are stale.
    #[cfg(feature = "invariants")]
    #[test]
    fn expiring_sweeps_the_stale_entries_it_leaves() {
        let now = Instant::now();
        let mut deny = DenyList::new(100);
        for port in 0..20u16 {
            let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr");
            deny.insert(&addr, now, Duration::from_secs(100));
            deny.insert(&addr, now, Duration::from_secs(1));
        }
        assert_eq!(deny.len(), 20);
        deny.expire(now + Duration::from_secs(2));
        assert_eq!(deny.len(), 0);
        assert_eq!(
            deny.check(),
            Ok(()),
            "{} heap entries left",
            deny.expiries.len()
        );
    }

    // Found by the names fuzz target: one name failing for 20 requests at one instant.
    #[cfg(feature = "invariants")]
    #[test]
    fn the_same_expiry_twice_is_one_heap_entry() {
        let now = Instant::now();
        let mut deny = DenyList::new(100);
        let addr: Multiaddr = "/dns4/a.test/tcp/1".parse().expect("addr");
        for _ in 0..40 {
            deny.insert(&addr, now, Duration::from_secs(1));
        }
        assert_eq!(deny.expiries.len(), 1);
        assert_eq!(deny.check(), Ok(()));
        assert!(deny.contains(&addr, now));
    }

    #[test]
    fn backoff_grows_and_stops_at_the_cap() {
        let s = Duration::from_secs;
        let d = |n| backoff(s(60), 2, s(600), n);
        assert_eq!(
            [d(0), d(1), d(2), d(3), d(4), d(5)],
            [s(60), s(60), s(120), s(240), s(480), s(600)]
        );
        assert_eq!(d(255), s(600));
        assert_eq!(
            backoff(s(60), 1, s(600), 9),
            s(60),
            "growth 1: the seed's fixed time"
        );
    }
}
