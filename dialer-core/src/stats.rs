//! Counters of a [`Dialer`](crate::Dialer) (R-O1).

use crate::error::SkipReason;

/// A snapshot of the dialer's counters, from [`Dialer::stats`](crate::Dialer::stats).
///
/// Counters only grow; gauges (`*_in_use`, `*_in_flight`, `*_entries`) are the value at the
/// time of the snapshot. For every dial,
/// `dials_started == dials_succeeded + dials_failed + dials_timed_out + dials_aborted + dials_in_flight`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests that obtained tokens (or an overdraft) and started dialing, or a place in
    /// the wait queue (R-Q1).
    pub requests_started: u64,
    /// Callers that joined a request already in flight for their peer (R-R8).
    pub requests_joined: u64,
    /// Requests that ended with a connection.
    pub requests_succeeded: u64,
    /// Requests that ended because every address failed (R-R5), or because a wait for
    /// tokens ran out (R-Q1).
    pub requests_failed: u64,
    /// Requests that ended at `dial_timeout` (R-R6).
    pub requests_timed_out: u64,
    /// Requests whose last caller cancelled (R-R7).
    pub requests_cancelled: u64,
    /// Callers that cancelled their wait, whether or not the request went on for others.
    pub callers_cancelled: u64,
    /// Requests that found the pool empty and waited in the queue (R-Q1).
    pub requests_queued: u64,
    /// Queued requests that got no token within `max_wait` (R-Q1); also in
    /// `requests_failed`.
    pub requests_wait_timed_out: u64,
    /// Requests refused at once because the pool was empty (R-T4), or with a wait queue
    /// (R-Q1) because the queue was full too.
    pub requests_rejected_no_tokens: u64,
    /// Requests refused at once because nothing was left to dial (R-R2).
    pub requests_rejected_no_addresses: u64,
    /// Requests refused at once because every address left was deny-listed (R-D6).
    pub requests_rejected_backed_off: u64,
    /// Requests refused at once because every address left was black-holed (R-B3).
    pub requests_rejected_black_holed: u64,
    /// Requests refused for bad input: no addresses, or too many (R-R9).
    pub requests_rejected_invalid: u64,
    /// High-priority requests that found the pool empty and proceeded anyway (R-P1).
    pub overdraft_requests: u64,
    /// Dials started.
    pub dials_started: u64,
    /// Dials that connected.
    pub dials_succeeded: u64,
    /// Dials the runtime reported as failed.
    pub dials_failed: u64,
    /// Dials that hit `address_timeout`, or were in flight at `dial_timeout` (R-C4).
    pub dials_timed_out: u64,
    /// Dials aborted because another won or the request was cancelled (R-R4, R-R7).
    pub dials_aborted: u64,
    /// Addresses left out of a request: duplicates, deny-listed, pruned, undialable, or past
    /// the merged cap of a joined request.
    pub addresses_skipped: u64,
    /// Addresses left out of a request because their class is black-holed (R-B2);
    /// also counted in `addresses_skipped`.
    pub addresses_black_holed: u64,
    /// Addresses left out of a request because they were on the deny list (R-D2); also
    /// counted in `addresses_skipped`.
    pub addresses_deny_listed: u64,
    /// Addresses left out of a request because they were pruned for its peer (R-C5); also
    /// counted in `addresses_skipped`.
    pub addresses_skipped_pruned: u64,
    /// Requests that dialed a blocked class as its probe (R-B2).
    pub black_hole_probes: u64,
    /// Changes of a class's black-hole state (R-B4).
    pub black_hole_changes: u64,
    /// Dials cut short by the adaptive address timeout (R-R6b); also in `dials_timed_out`.
    pub dials_cut: u64,
    /// Adaptive timeouts that did not cut because the dial was its request's last hope
    /// and the pool had free tokens (R-R6b): the dial runs on towards `address_timeout`.
    pub dials_spared: u64,
    /// Spared dials cut later because a new request found the pool short of their
    /// tokens (R-R6b); also in `dials_cut`.
    pub dials_reclaimed: u64,
    /// Addresses pruned (R-C5).
    pub addresses_pruned: u64,
    /// Requests whose proven first address dialed alone first
    /// ([`HeadStart`](crate::HeadStart)).
    pub head_starts: u64,
    /// Late, duplicated or unknown dial and resolution reports that were ignored.
    pub reports_ignored: u64,
    /// Name lookups issued ([`NameAction::Resolve`](crate::NameAction::Resolve), R-N1).
    pub resolves_started: u64,
    /// Name lookups answered with records.
    pub resolves_succeeded: u64,
    /// Name lookups answered with an error (R-N4).
    pub resolves_failed: u64,
    /// Name lookups cut at `address_timeout` (R-N1).
    pub resolves_timed_out: u64,
    /// Name lookups aborted because their request ended first.
    pub resolves_aborted: u64,
    /// Results of names kept as candidates of their request (R-N2).
    pub resolved_addresses: u64,
    /// Results of names dropped over [`Names::max_resolved`](crate::Names::max_resolved)
    /// (R-N3).
    pub resolved_dropped: u64,
    /// Addresses left out by the address filter, or as unspecified, multicast or
    /// broadcast (R-R10); also counted in `addresses_skipped`.
    pub addresses_filtered: u64,
    /// Gauge: pool tokens held by requests.
    pub tokens_in_use: usize,
    /// Gauge: pool tokens free.
    pub tokens_available: usize,
    /// Gauge: dials in flight outside the pool, for high-priority requests (R-P1).
    pub overdraft_dials_in_flight: usize,
    /// Gauge: requests in flight, queued ones included.
    pub requests_in_flight: usize,
    /// Gauge: requests waiting for tokens (R-Q1).
    pub requests_waiting: usize,
    /// Gauge: dials in flight.
    pub dials_in_flight: usize,
    /// Gauge: name lookups in flight.
    pub resolves_in_flight: usize,
    /// Gauge: entries in the confidence table.
    pub confidence_entries: usize,
    /// Gauge: entries in the deny list.
    pub deny_list_entries: usize,
    /// Gauge: address classes blocked as black holes now (R-B2).
    pub black_holed_classes: usize,
}

impl Stats {
    /// Counts one address left out of a request, with its reason when it is one that
    /// waiting can change (`None`: over the merged cap of a joined request).
    #[inline]
    pub(crate) fn skipped(&mut self, reason: Option<SkipReason>) {
        self.addresses_skipped += 1;
        match reason {
            Some(SkipReason::DenyListed) => self.addresses_deny_listed += 1,
            Some(SkipReason::BlackHoled) => self.addresses_black_holed += 1,
            Some(SkipReason::Pruned) => self.addresses_skipped_pruned += 1,
            Some(SkipReason::Filtered | SkipReason::Unroutable) => self.addresses_filtered += 1,
            _ => {}
        }
    }
}
