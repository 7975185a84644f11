//! One dial request's state, and how its address list is built (R-R1).

use std::time::{Duration, Instant};

use multiaddr::Multiaddr;
use smallvec::SmallVec;

use crate::blackhole::{BlackHoleDetector, Traits};
use crate::confidence::{
    ConfidenceTable, CONFIDENCE_BITS, FAMILY_KNOWN, IP6, MAX_CONFIDENCE, PROVEN, RELAYED,
};
use crate::deny::DenyList;
use crate::error::{Attempt, SkipReason};
use crate::ids::{CallerId, DialId};
use crate::stats::Stats;

pub(crate) use crate::resolve::NameSet;

/// Inline capacity of a request's address list: requests of up to 8 addresses live
/// entirely inside the request's map slot.
pub(crate) const INLINE_ADDRS: usize = 8;

pub(crate) type Addrs = SmallVec<[Multiaddr; INLINE_ADDRS]>;

/// The confidence of each address of an [`Addrs`], in the same order.
pub(crate) type Keys = SmallVec<[u8; INLINE_ADDRS]>;

/// The dial-order key of each address of an [`Addrs`] (see [`order_keys`]), in the same
/// order; higher dials first.
pub(crate) type SortKeys = SmallVec<[u32; INLINE_ADDRS]>;

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
    /// A caller asked to dial deny-listed and black-holed addresses too (R-D7).
    pub(crate) ignore_deny: bool,
    /// Bit `i`: this request probes black-hole class `i` (R-B2).
    pub(crate) probes: u8,
    /// Bit `i`, for a class it probes: a dial of this request to a public address of
    /// class `i` started. A probe that never started is carried on to the next request
    /// that can probe (R-B2).
    pub(crate) probed: u8,
    pub(crate) deadline: Instant,
    /// With a stagger set, no further dial starts before this while one is in flight (R-S1).
    pub(crate) stagger_at: Option<Instant>,
    /// The head start its first dial gets (see [`HeadStart`](crate::HeadStart)), until
    /// that dial starts.
    pub(crate) head_start: Option<Duration>,
    /// Waiting for tokens (R-Q1): it holds none and dials nothing yet; its deadline is
    /// the end of its wait.
    pub(crate) queued: bool,
    /// Failed attempts, for the error of R-R5 / R-R6.
    pub(crate) attempts: Vec<Attempt>,
    /// A caller asked for high priority (R-P1): a request of names that gets addresses
    /// while the pool is empty proceeds as an overdraft.
    pub(crate) high: bool,
    /// Its names and their lookups (R-N1 … R-N4); `None` for a request of addresses only,
    /// which so pays one pointer for the feature.
    pub(crate) names: Option<Box<NameSet>>,
}

impl<P> Request<P> {
    /// The most dials this request may have in flight.
    pub(crate) fn capacity(&self) -> usize {
        if self.queued {
            0
        } else if self.overdraft {
            1
        } else {
            self.tokens
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.addrs.len() - self.next
    }

    /// Whether a name of this request is still being looked up (or its answer held for
    /// its sibling's, RFC 8305): the request is not over while one is.
    #[inline(always)]
    pub(crate) fn resolving(&self) -> bool {
        self.names.as_ref().is_some_and(|n| n.live > 0)
    }
}

/// What the core has learned that can take a waiting address out of a request: the deny
/// list (R-D), prune marks (R-C5) and black holes (R-B).
pub(crate) struct Verdicts<'a, P> {
    pub(crate) deny: &'a DenyList,
    pub(crate) confidence: &'a ConfidenceTable<P>,
    pub(crate) black_holes: &'a BlackHoleDetector,
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
        verdicts: Verdicts<'_, P>,
        stats: &mut Stats,
    ) -> Option<Multiaddr> {
        let Verdicts {
            deny,
            confidence,
            black_holes,
        } = verdicts;
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
        // R-B2: a probe is one dial per class; once it started, the request's other
        // addresses of that class stay out.
        let probing = self.probes & !self.probed;
        while self.next < self.addrs.len() {
            let candidate = &self.addrs[self.next];
            self.next += 1;
            if !recheck
                && probing != self.probes
                && !self.ignore_deny
                && black_holes.skips(candidate, probing)
            {
                stats.skipped(Some(SkipReason::BlackHoled));
                continue;
            }
            if recheck {
                let reason = if !self.ignore_deny && deny.contains(candidate, now) {
                    Some(SkipReason::DenyListed)
                } else if confidence.is_pruned(candidate, &self.peer, now) {
                    Some(SkipReason::Pruned)
                } else if !self.ignore_deny && black_holes.skips(candidate, probing) {
                    // A class blocked since the address was admitted (R-B2), unless this
                    // request probes it or ignores black holes (R-D7).
                    Some(SkipReason::BlackHoled)
                } else {
                    None
                };
                if reason.is_some() {
                    stats.skipped(reason);
                    continue;
                }
            }
            return Some(candidate.clone());
        }
        None
    }
}

/// Whether the address of a dial-order key has connected before (see
/// [`PROVEN`](crate::confidence::PROVEN)).
#[inline]
pub(crate) fn proven_of(key: u32) -> bool {
    key & (1 << 23) != 0
}

/// Dial-order keys for `addrs`, whose dial ranks (confidence, and whether the address
/// connected before: [`rank_of`](crate::confidence::rank_of)) are `ranks` (R-R1, R-R1a):
/// higher confidence first, and among equal confidence proven addresses (that connected
/// before) first; among equals, with `interleave`, direct before relayed
/// (`/p2p-circuit`), and IPv6 and IPv4 alternating, IPv6 first (RFC 8305 section 4), each
/// family in the caller's order. Addresses that are neither (names other than `/dns6`)
/// take the IPv4 lane. Without `interleave` equals keep the caller's order (a stable sort
/// on the rank alone).
pub(crate) fn order_keys(addrs: &[Multiaddr], ranks: &[u8], interleave: bool) -> SortKeys {
    let n = addrs.len().min(ranks.len());
    let mut keys = SortKeys::new();
    if !interleave || n < 2 {
        for &r in &ranks[..n] {
            let (c, proven) = (r & CONFIDENCE_BITS, r & PROVEN != 0);
            keys.push(u32::from(c) << 24 | u32::from(proven) << 23);
        }
        return keys;
    }
    // How many addresses of each lane (confidence 0..=10, proven, IPv6, relayed) came
    // before.
    let mut seen = [0u32; (MAX_CONFIDENCE as usize + 1) * 8];
    for (addr, &r) in addrs.iter().zip(ranks).take(n) {
        let (c, proven) = ((r & CONFIDENCE_BITS).min(MAX_CONFIDENCE), r & PROVEN != 0);
        // Read once by the confidence table if it knows the address.
        let (v6, relayed) = if r & FAMILY_KNOWN != 0 {
            (r & IP6 != 0, r & RELAYED != 0)
        } else {
            Traits::family_v6(addr)
        };
        let lane = usize::from(c) * 8
            + usize::from(proven) * 4
            + usize::from(v6) * 2
            + usize::from(relayed);
        // The k-th address of its lane sits at rank 2k (IPv6) or 2k + 1 (IPv4), so the
        // families alternate among equals.
        let k = seen[lane];
        seen[lane] += 1;
        let rank = (2 * k + u32::from(!v6)).min(0x3F_FFFF);
        keys.push(
            u32::from(c) << 24
                | u32::from(proven) << 23
                | u32::from(!relayed) << 22
                | (0x3F_FFFF - rank),
        );
    }
    keys
}

/// Orders `addrs` by confidence, highest first, and among equals as [`order_keys`] says
/// (R-R1, R-R1a).
pub(crate) fn sort_by_confidence<P: Clone + Eq>(
    addrs: &mut [Multiaddr],
    confidence: &ConfidenceTable<P>,
    interleave: bool,
) {
    if addrs.len() < 2 {
        return;
    }
    let values: SmallVec<[u8; 32]> = addrs.iter().map(|a| confidence.rank(a)).collect();
    let mut keys = order_keys(addrs, &values, interleave);
    sort_by_keys(addrs, &mut keys);
}

/// Orders `addrs` by `keys` (see [`order_keys`]), highest first, keeping the order of
/// equal keys; both slices are permuted alike. Insertion sort (stable, allocation-free)
/// for the usual short lists; a configured `max_addrs_per_request` far above the default
/// gets the std stable sort instead.
pub(crate) fn sort_by_keys(addrs: &mut [Multiaddr], keys: &mut [u32]) {
    let n = addrs.len().min(keys.len());
    if n > 32 {
        let mut pairs: Vec<(u32, Multiaddr)> =
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confidence::{family_bits, rank_of};

    // R-R1a: a rank from a table entry carries the address's family bits, read once; the
    // dial order must be the one the address's own bytes give.
    #[test]
    fn family_bits_from_the_table_order_as_the_bytes_do() {
        let addrs: Vec<Multiaddr> = [
            "/ip4/127.0.0.1/tcp/1",
            "/ip6/::1/tcp/2",
            "/ip4/127.0.0.1/tcp/3/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit",
            "/ip6/::1/udp/4/quic-v1",
            "/dns6/localhost/tcp/5",
            "/dns4/localhost/tcp/6",
            "/ip4/127.0.0.1/tcp/7/ws",
            "/ip6/::1/tcp/8/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit",
        ]
        .iter()
        .map(|a| a.parse().expect("valid multiaddr"))
        .collect();
        for (value, proven) in [(1, false), (3, true), (0, false), (10, true)] {
            let bare: Vec<u8> = addrs.iter().map(|_| rank_of(value, proven, 0)).collect();
            let known: Vec<u8> = addrs
                .iter()
                .map(|a| rank_of(value, proven, family_bits(a)))
                .collect();
            for interleave in [false, true] {
                assert_eq!(
                    order_keys(&addrs, &bare, interleave),
                    order_keys(&addrs, &known, interleave),
                    "confidence {value}, proven {proven}, interleave {interleave}"
                );
            }
        }
        // Mixed: some ranks from the table, some not.
        let mixed: Vec<u8> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| rank_of(2, i % 3 == 0, if i % 2 == 0 { family_bits(a) } else { 0 }))
            .collect();
        let bare: Vec<u8> = (0..addrs.len())
            .map(|i| rank_of(2, i % 3 == 0, 0))
            .collect();
        assert_eq!(
            order_keys(&addrs, &bare, true),
            order_keys(&addrs, &mixed, true)
        );
        // The bits say what the bytes say.
        assert_eq!(family_bits(&addrs[0]) & (IP6 | RELAYED), 0);
        assert_eq!(family_bits(&addrs[1]) & (IP6 | RELAYED), IP6);
        assert_eq!(family_bits(&addrs[2]) & (IP6 | RELAYED), RELAYED);
        assert_eq!(family_bits(&addrs[4]) & (IP6 | RELAYED), IP6);
        assert_eq!(family_bits(&addrs[7]) & (IP6 | RELAYED), IP6 | RELAYED);
    }
}
