//! One dial request's state, and how its address list is built (R-R1).

use std::time::{Duration, Instant};

use multiaddr::Multiaddr;
use smallvec::SmallVec;

use crate::confidence::ConfidenceTable;
use crate::deny::DenyList;
use crate::error::Attempt;
use crate::ids::{CallerId, DialId};
use crate::stats::Stats;

/// Inline capacity of a request's address list: requests of up to 8 addresses live
/// entirely inside the request's map slot.
pub(crate) const INLINE_ADDRS: usize = 8;

pub(crate) type Addrs = SmallVec<[Multiaddr; INLINE_ADDRS]>;

/// The confidence of each address of an [`Addrs`], in the same order.
pub(crate) type Keys = SmallVec<[u8; INLINE_ADDRS]>;

#[derive(Debug)]
pub(crate) struct Request<P> {
    pub(crate) peer: P,
    /// Everyone waiting on this request (R-R8); never empty while the request lives.
    pub(crate) callers: SmallVec<[CallerId; 2]>,
    /// Admitted addresses in dial order; `addrs[..next]` were started or skipped.
    pub(crate) addrs: Addrs,
    pub(crate) next: usize,
    pub(crate) in_flight: SmallVec<[DialId; 4]>,
    /// Pool tokens held (R-T5): the most dials this request keeps in flight.
    pub(crate) tokens: usize,
    /// High priority without tokens: one dial at a time outside the pool (R-P1).
    pub(crate) overdraft: bool,
    /// A caller asked to dial deny-listed addresses too (R-D7).
    pub(crate) ignore_deny: bool,
    pub(crate) deadline: Instant,
    /// With a stagger set, no further dial starts before this while one is in flight (R-S1).
    pub(crate) stagger_at: Option<Instant>,
    /// The head start its first dial gets (see [`HeadStart`](crate::HeadStart)), until
    /// that dial starts.
    pub(crate) head_start: Option<Duration>,
    /// Failed attempts, for the error of R-R5 / R-R6.
    pub(crate) attempts: Vec<Attempt>,
}

impl<P> Request<P> {
    /// The most dials this request may have in flight.
    pub(crate) fn capacity(&self) -> usize {
        if self.overdraft {
            1
        } else {
            self.tokens
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.addrs.len() - self.next
    }
}

impl<P: Clone + Eq> Request<P> {
    /// The next address this request may dial now, if it has a free token (R-R3, R-T7)
    /// and no stagger or head start holds it back (R-S1). Addresses deny-listed (unless the
    /// request ignores the deny list, R-D7) or pruned since they were admitted are passed
    /// over when `recheck` (invariant 4), and counted as skipped.
    #[inline(always)]
    pub(crate) fn next_to_dial(
        &mut self,
        now: Instant,
        recheck: bool,
        stagger: Option<Duration>,
        deny: &DenyList,
        confidence: &ConfidenceTable<P>,
        stats: &mut Stats,
    ) -> Option<Multiaddr> {
        if self.in_flight.len() >= self.capacity() {
            return None;
        }
        if self.stagger_at.is_some() {
            if !self.in_flight.is_empty() {
                return None;
            }
            // Nothing of its own in flight: the next dial starts at once (R-S1), and a
            // head start whose dial ended early is over.
            if stagger.is_none() {
                self.stagger_at = None;
            }
        }
        while self.next < self.addrs.len() {
            let candidate = &self.addrs[self.next];
            self.next += 1;
            if recheck
                && ((!self.ignore_deny && deny.contains(candidate, now))
                    || confidence.is_pruned(candidate, &self.peer, now))
            {
                stats.addresses_skipped += 1;
                continue;
            }
            return Some(candidate.clone());
        }
        None
    }
}

/// Orders `addrs` by confidence, highest first, keeping the caller's order among equals
/// (R-R1: a stable sort).
pub(crate) fn sort_by_confidence<P: Clone + Eq>(
    addrs: &mut [Multiaddr],
    confidence: &ConfidenceTable<P>,
) {
    if addrs.len() < 2 {
        return;
    }
    // Insertion sort on cached keys: stable, allocation-free, and the lists are short
    // (max_addrs_per_request, 25 by default). Longer lists fall back to the std stable sort.
    if addrs.len() <= 32 {
        let mut keys: SmallVec<[u8; 32]> = addrs.iter().map(|a| confidence.get(a)).collect();
        sort_by_keys(addrs, &mut keys);
    } else {
        addrs.sort_by_key(|a| std::cmp::Reverse(confidence.get(a)));
    }
}

/// Orders `addrs` by `keys`, their confidences as the caller looked them up, highest
/// first, keeping the caller's order among equals (R-R1); both slices are permuted alike.
/// Insertion sort (stable, allocation-free) for the usual short lists; a configured
/// `max_addrs_per_request` far above the default gets the std stable sort instead.
pub(crate) fn sort_by_keys(addrs: &mut [Multiaddr], keys: &mut [u8]) {
    let n = addrs.len().min(keys.len());
    if n > 32 {
        let mut pairs: Vec<(u8, Multiaddr)> =
            keys.iter().copied().zip(addrs.iter().cloned()).collect();
        pairs.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
        for (i, (key, addr)) in pairs.into_iter().enumerate() {
            keys[i] = key;
            addrs[i] = addr;
        }
        return;
    }
    for i in 1..n {
        let mut j = i;
        while j > 0 && keys[j - 1] < keys[j] {
            keys.swap(j - 1, j);
            addrs.swap(j - 1, j);
            j -= 1;
        }
    }
}
