//! Resolving names in the core (R-N1 … R-N4): a request's names, their lookups, and how
//! their answers join the request's candidates.
//!
//! A request keeps its names apart from its addresses ([`NameSet`], boxed, so a request
//! without names pays one pointer). Each name issues one lookup per record kind
//! ([`Lookup`], in the dialer's `resolves` slab, with a deadline of `address_timeout`).
//! An answer's addresses are admitted one by one, as a joining caller's would be (R-R8):
//! duplicates, the address filter (R-R10), the dialable predicate, the deny list, black
//! holes and prune marks all apply, then the request's pending addresses are ranked again
//! and the request asks the pool for the tokens it can now use.
//!
//! When a request takes tokens for what its names bring is documented on
//! [`Names`](crate::Names).

use std::time::Instant;

use multiaddr::Multiaddr;
use smallvec::SmallVec;

use crate::dialer::{deadline_after, Dialer, Due, Terms};
use crate::error::TransportError;
use crate::error::{Attempt, DialFailed, FailReason, ReportError, SkipReason, Skipped};
use crate::ids::{RequestId, ResolveId};
use crate::names::{
    is_name, name_of, parse_dnsaddr_record, peer_suffix, query_name, substitute, unroutable,
    AbortResolve, Answer, Host, NameAction, NameKind, RecordKind, Resolve,
};
use crate::output::{AbortReason, Event};
use crate::request::{sort_by_confidence, Addrs};

/// The names of one request.
#[derive(Debug, Default)]
pub(crate) struct NameSet {
    pub(crate) entries: Vec<NameEntry>,
    /// Lookups in flight, of every entry.
    pub(crate) live: usize,
    /// Every lookup issued, live or ended (ended ones are skipped when aborting).
    pub(crate) lookups: SmallVec<[ResolveId; 4]>,
    /// Resolved addresses and the host each came from, for [`Dialer::dial_name`].
    pub(crate) origins: Vec<(Multiaddr, Host)>,
    /// Results kept so far, against [`Names::max_resolved`](crate::Names::max_resolved).
    pub(crate) results: usize,
    /// Set while the request waits for tokens after its names brought addresses (R-Q1):
    /// when it began waiting, and its own `dial_timeout` deadline, which the wait does
    /// not move.
    pub(crate) requeued: Option<(Instant, Instant)>,
}

impl NameSet {
    /// The host `addr` was resolved from, if it was.
    pub(crate) fn origin(&self, addr: &Multiaddr) -> Option<Host> {
        self.origins
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, host)| host.clone())
    }
}

/// One name of a request: a caller's, or a `dnsaddr` result.
#[derive(Debug)]
pub(crate) struct NameEntry {
    pub(crate) addr: Multiaddr,
    pub(crate) host: Host,
    pub(crate) kind: NameKind,
    /// 0 for a caller's name; a `dnsaddr` result is one deeper than its parent.
    pub(crate) depth: u8,
    /// Its lookups in flight.
    pub(crate) live: u8,
    /// It brought a candidate (an address admitted, one already there, or a name).
    pub(crate) yielded: bool,
    /// The last lookup error, for the attempt recorded if nothing came of it.
    pub(crate) error: Option<FailReason>,
    /// Results left out, for the attempt recorded if nothing came of it.
    pub(crate) skipped: Vec<Skipped>,
    /// The first malformed `dnsaddr` record.
    pub(crate) malformed: Option<crate::names::BadRecord>,
}

/// One lookup: one name, one record kind.
#[derive(Debug)]
pub(crate) struct Lookup {
    pub(crate) request: RequestId,
    /// Index of its name in the request's [`NameSet::entries`].
    pub(crate) name: usize,
    pub(crate) kind: RecordKind,
    pub(crate) deadline: Instant,
    /// The IPv4 answer of the same `/dns` name, held until this (IPv6) lookup answers or
    /// `hold_until` passes (RFC 8305's resolution delay).
    pub(crate) held: Vec<Multiaddr>,
    pub(crate) hold_until: Option<Instant>,
}

/// What ended a lookup.
enum Outcome {
    Answer(Answer),
    Failed(FailReason),
}

impl<P: Clone + Eq + std::hash::Hash + std::fmt::Debug> Dialer<P> {
    /// The runtime's answer to the [`Resolve`] `resolve` (R-N1): the records found, or why
    /// there are none (a [`TransportError`]: no such name, a server failure, no server;
    /// `&str` and `String` convert). The name's results join its request's candidates,
    /// each ranked and learned on its own (R-N2); a failure counts against the name
    /// (R-N4). A report for a resolution the core does not know (late, duplicated,
    /// aborted) returns [`ReportError::UnknownResolve`] and changes nothing.
    pub fn handle_resolved<E: Into<TransportError>>(
        &mut self,
        now: Instant,
        resolve: ResolveId,
        result: Result<Answer, E>,
    ) -> Result<(), ReportError> {
        let now = self.advance(now);
        let Some(lookup) = self.resolves.remove(&resolve) else {
            self.stats.reports_ignored += 1;
            return Err(ReportError::UnknownResolve(resolve));
        };
        let outcome = match result {
            Ok(answer) => {
                self.stats.resolves_succeeded += 1;
                Outcome::Answer(answer)
            }
            Err(error) => {
                self.stats.resolves_failed += 1;
                Outcome::Failed(FailReason::Resolve(error.into()))
            }
        };
        self.lookup_ended(lookup, outcome, now);
        self.serve_queue(now);
        self.compact_timers();
        Ok(())
    }

    /// Sets the address filter (R-R10): every candidate of every request, names' results
    /// included, is dialed only if `filter(peer, addr)` returns `true`; a refused one is
    /// skipped as [`SkipReason::Filtered`]. It can refuse private ranges for public peers
    /// (so that a name resolving to an internal address cannot make the node dial inside
    /// its own network), or an address whose `/p2p/<id>` names another peer. Unspecified,
    /// multicast and broadcast addresses are refused before the filter is asked, whatever
    /// it says ([`SkipReason::Unroutable`]). By default every other address passes.
    pub fn set_address_filter(
        &mut self,
        filter: impl Fn(&P, &Multiaddr) -> bool + Send + Sync + 'static,
    ) {
        self.filter = Some(Box::new(filter));
    }

    /// Name lookups in flight.
    pub fn resolves_in_flight(&self) -> usize {
        self.resolves.len()
    }

    /// The host name the address of `dial`, a dial in flight, was resolved from (R-N1):
    /// what TLS SNI or a WebSocket `Host` header needs. `None` for an address the caller
    /// passed as it is, one a `dnsaddr` record held literally, or a dial that is over.
    /// Call it when carrying out the dial's [`StartDial`](crate::StartDial).
    ///
    /// A getter rather than a field of `StartDial`: the field made every dial's command
    /// larger, and measurably slower, for the few dials of resolved names.
    pub fn dial_name(&self, dial: crate::DialId) -> Option<Host> {
        let d = self.dials.get(&dial)?;
        let req = self.requests.get(&d.request)?;
        req.names.as_ref()?.origin(req.addrs.get(d.slot)?)
    }

    /// The next name command for the runtime (R-N1): a lookup to start or to abandon.
    /// With [`Config::names`](crate::Config::names) set, drain it until `None` after every
    /// input, after [`poll_action`](Self::poll_action); without, it is always `None`.
    #[must_use]
    pub fn poll_name_action(&mut self) -> Option<NameAction<P>> {
        self.name_actions.pop_front()
    }

    /// Why the fixed refusals (unspecified, multicast, broadcast) or the embedder's filter
    /// refuse `addr` for `peer` (R-R10), if they do.
    #[inline(always)]
    pub(crate) fn filtered(&self, peer: &P, addr: &Multiaddr) -> Option<SkipReason> {
        if unroutable(addr) {
            Some(SkipReason::Unroutable)
        } else if self.filter.as_ref().is_some_and(|f| !f(peer, addr)) {
            Some(SkipReason::Filtered)
        } else {
            None
        }
    }

    /// A joining caller's input (R-R8), split into its addresses and its names; the
    /// names are admitted here (a name the request already has is a duplicate).
    pub(crate) fn split_names(
        &mut self,
        request: RequestId,
        input: Addrs,
        now: Instant,
    ) -> (Addrs, Vec<Multiaddr>) {
        if self.config.names.is_none() || !input.iter().any(is_name) {
            return (input, Vec::new());
        }
        let Some(req) = self.requests.get(&request) else {
            return (input, Vec::new());
        };
        let known = req
            .names
            .iter()
            .flat_map(|n| n.entries.iter().filter(|e| e.depth == 0))
            .map(|e| e.addr.clone())
            .collect();
        let (addrs, names, skipped) =
            self.admit_names(&req.peer, input, known, req.ignore_deny, now);
        for s in &skipped {
            self.stats.skipped(Some(s.reason));
        }
        (addrs, names)
    }

    /// `input` split into its literal addresses, in order, and its names, each admitted
    /// by [`admit_name`](Self::admit_name) against `known` (the request's names, none for
    /// a new request) and the names admitted before it; returns the addresses, the names
    /// admitted and those skipped, which the caller counts.
    #[cold]
    pub(crate) fn admit_names(
        &self,
        peer: &P,
        input: Addrs,
        mut known: Vec<Multiaddr>,
        ignore_deny: bool,
        now: Instant,
    ) -> (Addrs, Vec<Multiaddr>, Vec<Skipped>) {
        let old = known.len();
        let (mut addrs, mut skipped) = (Addrs::new(), Vec::new());
        for addr in input {
            if !is_name(&addr) {
                addrs.push(addr);
                continue;
            }
            match self.admit_name(peer, &addr, &known, now, ignore_deny) {
                Ok(()) => known.push(addr),
                Err(reason) => skipped.push(Skipped { addr, reason }),
            }
        }
        (addrs, known.split_off(old), skipped)
    }

    /// Why a caller's name is left out of a request, if it is: a duplicate, refused by the
    /// filter, deny-listed (a name whose lookup failed is, R-N2) or malformed.
    pub(crate) fn admit_name(
        &self,
        peer: &P,
        addr: &Multiaddr,
        names: &[Multiaddr],
        now: Instant,
        ignore_deny: bool,
    ) -> Result<(), SkipReason> {
        if names.contains(addr) {
            Err(SkipReason::Duplicate)
        } else if name_of(addr).is_none() {
            Err(SkipReason::Undialable)
        } else if let Some(reason) = self.filtered(peer, addr) {
            Err(reason)
        } else if !ignore_deny && self.deny.contains(addr, now) {
            Err(SkipReason::DenyListed)
        } else {
            Ok(())
        }
    }

    /// Starts resolving `names` (admitted already) for `request` at `depth` (R-N1).
    #[cold]
    pub(crate) fn start_names(
        &mut self,
        request: RequestId,
        names: impl IntoIterator<Item = Multiaddr>,
        depth: u8,
        now: Instant,
    ) {
        let mut names = names.into_iter().peekable();
        if names.peek().is_none() {
            return;
        }
        let deadline = deadline_after(now, self.config.address_timeout);
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        if req.names.is_none() {
            self.named += 1;
        }
        let set = req.names.get_or_insert_with(Box::default);
        for addr in names {
            let Some((kind, host)) = name_of(&addr) else {
                continue;
            };
            let name = set.entries.len();
            let mut entry = NameEntry {
                addr,
                host,
                kind,
                depth,
                live: 0,
                yielded: false,
                error: None,
                skipped: Vec::new(),
                malformed: None,
            };
            for &record in kind.lookups() {
                let resolve = self.resolves.next_key();
                self.resolves.insert(
                    resolve,
                    Lookup {
                        request,
                        name,
                        kind: record,
                        deadline,
                        held: Vec::new(),
                        hold_until: None,
                    },
                );
                self.resolve_timers
                    .push(deadline, resolve, &mut self.earliest, Due::Resolve);
                set.lookups.push(resolve);
                set.live += 1;
                entry.live += 1;
                self.stats.resolves_started += 1;
                self.name_actions.push_back(NameAction::Resolve(Resolve {
                    resolve,
                    request,
                    peer: req.peer.clone(),
                    name: query_name(kind, &entry.host),
                    kind: record,
                }));
            }
            set.entries.push(entry);
        }
    }

    /// A lookup reached `address_timeout` (R-N1): it is aborted and fails its name.
    pub(crate) fn time_out_resolve(&mut self, resolve: ResolveId, now: Instant) {
        let Some(lookup) = self.resolves.remove(&resolve) else {
            return;
        };
        self.stats.resolves_timed_out += 1;
        self.name_actions
            .push_back(NameAction::AbortResolve(AbortResolve {
                resolve,
                request: lookup.request,
            }));
        self.lookup_ended(lookup, Outcome::Failed(FailReason::ResolveTimeout), now);
    }

    /// The resolution delay of a held IPv4 answer passed (RFC 8305): it joins the
    /// candidates without its IPv6 sibling.
    pub(crate) fn hold_expired(&mut self, resolve: ResolveId, now: Instant) {
        let Some(lookup) = self.resolves.get_mut(&resolve) else {
            return;
        };
        lookup.hold_until = None;
        let held = std::mem::take(&mut lookup.held);
        let (request, name) = (lookup.request, lookup.name);
        let added = self.merge(request, name, held, now);
        self.candidates_added(request, added, now);
    }

    /// Aborts the live lookups of a request that ended (R-N1: each resolution ends
    /// exactly once).
    pub(crate) fn abort_names(&mut self, request: RequestId, lookups: &[ResolveId]) {
        for &resolve in lookups {
            if self.resolves.remove(&resolve).is_some() {
                self.stats.resolves_aborted += 1;
                self.name_actions
                    .push_back(NameAction::AbortResolve(AbortResolve { resolve, request }));
            }
        }
    }

    /// Names still resolving when their request timed out (R-R6): each is an attempt.
    pub(crate) fn names_timed_out(&mut self, request: RequestId) {
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        let Some(set) = req.names.as_ref() else {
            return;
        };
        for entry in set.entries.iter().filter(|e| e.live > 0) {
            req.attempts.push(Attempt {
                addr: entry.addr.clone(),
                reason: FailReason::RequestTimeout,
            });
        }
    }

    fn lookup_ended(&mut self, lookup: Lookup, outcome: Outcome, now: Instant) {
        let request = lookup.request;
        let max_depth = self.config.names.map_or(0, |n| n.max_depth);
        let max_resolved = self.config.names.map_or(0, |n| n.max_resolved);
        let delay = self.config.names.and_then(|n| n.resolution_delay);
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        let Some(set) = req.names.as_mut() else {
            return;
        };
        let Some(entry) = set.entries.get_mut(lookup.name) else {
            return;
        };
        set.live -= 1;
        entry.live -= 1;
        // What this answer brings: addresses to admit now, and names to resolve next.
        let mut addrs: Vec<Multiaddr> = lookup.held;
        let mut names = Vec::new();
        match outcome {
            Outcome::Failed(reason) => entry.error = Some(reason),
            Outcome::Answer(Answer::Ips(ips)) => {
                let v6 = lookup.kind == RecordKind::Aaaa;
                let mut ips: Vec<_> = ips
                    .into_iter()
                    .filter(|ip| ip.is_ipv6() == v6 && lookup.kind != RecordKind::Txt)
                    .collect();
                // No answer brings more than max_resolved results: the rest are dropped
                // here, before each is made an address (R-N3).
                if ips.len() > max_resolved {
                    self.stats.resolved_dropped += (ips.len() - max_resolved) as u64;
                    ips.truncate(max_resolved);
                }
                let found: Vec<Multiaddr> = ips
                    .into_iter()
                    .map(|ip| substitute(&entry.addr, ip))
                    .collect();
                // RFC 8305 section 3: an IPv4 answer that comes first waits a little for
                // the IPv6 one, so that the families interleave IPv6 first.
                let sibling = (!v6 && entry.live > 0 && entry.kind == NameKind::Any)
                    .then(|| {
                        set.lookups.iter().copied().find(|id| {
                            self.resolves
                                .get(id)
                                .is_some_and(|l| l.request == request && l.name == lookup.name)
                        })
                    })
                    .flatten();
                match (sibling, delay) {
                    (Some(sibling), Some(delay)) if !found.is_empty() => {
                        if let Some(aaaa) = self.resolves.get_mut(&sibling) {
                            let until = deadline_after(now, delay);
                            aaaa.held = found;
                            aaaa.hold_until = Some(until);
                            self.hold_timers
                                .push(until, sibling, &mut self.earliest, Due::Hold);
                        }
                        // Held answers count as yielded: the name is not a failure.
                        entry.yielded = true;
                    }
                    _ => addrs.extend(found),
                }
            }
            Outcome::Answer(Answer::Txt(records)) => {
                let own = peer_suffix(&entry.addr);
                for record in records {
                    if lookup.kind != RecordKind::Txt {
                        break;
                    }
                    match parse_dnsaddr_record(&record) {
                        None => {}
                        Some(Err(bad)) => {
                            entry.malformed.get_or_insert(bad);
                        }
                        Some(Ok(addr)) => {
                            // R-N3: for /dnsaddr/<name>/p2p/<id>, only that peer's records.
                            if own.is_some() && peer_suffix(&addr) != own {
                                entry.skipped.push(Skipped {
                                    addr,
                                    reason: SkipReason::OtherPeer,
                                });
                                self.stats.skipped(Some(SkipReason::OtherPeer));
                            } else if is_name(&addr) {
                                names.push(addr);
                            } else {
                                addrs.push(addr);
                            }
                        }
                    }
                }
            }
        }
        let depth = entry.depth;
        let added = self.merge(request, lookup.name, addrs, now);
        if !names.is_empty() {
            self.merge_names(request, lookup.name, names, depth, max_depth, now);
        }
        self.name_settled(request, lookup.name, now);
        self.candidates_added(request, added, now);
    }

    /// Admits `addrs`, results of the name `name` of `request`, as candidates (R-N2,
    /// R-R10), within the request's cap on results (R-N3). Returns whether any was added.
    fn merge(
        &mut self,
        request: RequestId,
        name: usize,
        mut addrs: Vec<Multiaddr>,
        now: Instant,
    ) -> bool {
        if addrs.is_empty() {
            return false;
        }
        let max = self.config.names.map_or(0, |n| n.max_resolved);
        let Some(req) = self.requests.get(&request) else {
            return false;
        };
        // Results past the cap are dropped unread: a hostile answer of thousands of
        // addresses costs a count, not a duplicate check each against all the others.
        let room = max.saturating_sub(req.names.as_ref().map_or(0, |s| s.results));
        if addrs.len() > room {
            self.stats.resolved_dropped += (addrs.len() - room) as u64;
            addrs.truncate(room);
        }
        let terms = Terms::of(req, now);
        let mut verdicts = Vec::with_capacity(addrs.len());
        for (i, addr) in addrs.iter().enumerate() {
            // An earlier address of the same answer is a duplicate too, admitted or not.
            verdicts.push(self.verdict(&terms, addr, &req.addrs, &addrs[..i]).err());
        }
        let Some(req) = self.requests.get_mut(&request) else {
            return false;
        };
        let Some(set) = req.names.as_mut() else {
            return false;
        };
        let host = set.entries.get(name).map(|e| e.host.clone());
        let resolved_ip = set
            .entries
            .get(name)
            .is_some_and(|e| e.kind != NameKind::Dnsaddr);
        let mut added = false;
        for (addr, reason) in addrs.into_iter().zip(verdicts) {
            if set.results >= max {
                self.stats.resolved_dropped += 1;
                continue;
            }
            set.results += 1;
            let Some(entry) = set.entries.get_mut(name) else {
                continue;
            };
            match reason {
                Some(SkipReason::Duplicate) => {
                    // Already a candidate: the name did its part.
                    entry.yielded = true;
                    self.stats.skipped(Some(SkipReason::Duplicate));
                }
                Some(reason) => {
                    self.stats.skipped(Some(reason));
                    entry.skipped.push(Skipped { addr, reason });
                }
                None => {
                    entry.yielded = true;
                    added = true;
                    self.stats.resolved_addresses += 1;
                    if resolved_ip {
                        if let Some(host) = &host {
                            set.origins.push((addr.clone(), host.clone()));
                        }
                    }
                    req.addrs.push(addr);
                }
            }
        }
        added
    }

    /// `dnsaddr` results that are names again: resolved one level deeper, up to
    /// `max_depth` (R-N3); deeper ones end as [`FailReason::TooDeep`].
    fn merge_names(
        &mut self,
        request: RequestId,
        name: usize,
        names: Vec<Multiaddr>,
        depth: u8,
        max_depth: u8,
        now: Instant,
    ) {
        let max = self.config.names.map_or(0, |n| n.max_resolved);
        let Some(req) = self.requests.get(&request) else {
            return;
        };
        let mut admitted = Vec::new();
        let mut skipped = Vec::new();
        for addr in names {
            match self.admit_name(&req.peer, &addr, &[], now, req.ignore_deny) {
                Ok(()) => admitted.push(addr),
                Err(reason) => skipped.push(Skipped { addr, reason }),
            }
        }
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        let Some(set) = req.names.as_mut() else {
            return;
        };
        let mut deeper = Vec::new();
        for s in skipped {
            self.stats.skipped(Some(s.reason));
            if let Some(entry) = set.entries.get_mut(name) {
                entry.skipped.push(s);
            }
        }
        for addr in admitted {
            if set.results >= max {
                self.stats.resolved_dropped += 1;
                continue;
            }
            set.results += 1;
            if let Some(entry) = set.entries.get_mut(name) {
                entry.yielded = true;
            }
            if depth >= max_depth {
                req.attempts.push(Attempt {
                    addr,
                    reason: FailReason::TooDeep { max_depth },
                });
            } else {
                deeper.push(addr);
            }
        }
        if !deeper.is_empty() {
            self.start_names(request, deeper, depth + 1, now);
        }
    }

    /// When the last lookup of a name ended and nothing came of it, the name is a failed
    /// attempt of its request (R-N4); a resolver error or timeout also counts against
    /// the name as a dial failure would (confidence, deny list: R-N2).
    fn name_settled(&mut self, request: RequestId, name: usize, now: Instant) {
        let Some(req) = self.requests.get_mut(&request) else {
            return;
        };
        let Some(entry) = req.names.as_mut().and_then(|s| s.entries.get_mut(name)) else {
            return;
        };
        if entry.live > 0 || entry.yielded {
            return;
        }
        let reason = match (entry.error.take(), entry.malformed.take()) {
            (Some(error), _) => error,
            (None, Some(bad)) => FailReason::MalformedRecord(bad),
            (None, None) => FailReason::NothingResolved {
                skipped: std::mem::take(&mut entry.skipped),
            },
        };
        let addr = entry.addr.clone();
        let learn = matches!(reason, FailReason::Resolve(_) | FailReason::ResolveTimeout);
        req.attempts.push(Attempt {
            addr: addr.clone(),
            reason,
        });
        if learn {
            let (_, fails) = self.confidence.record_failure(&addr, false);
            let c = &self.config;
            let duration = crate::deny::backoff(c.deny_duration, c.deny_growth, c.deny_max, fails);
            self.deny.insert(&addr, now, duration);
        }
    }

    /// After an answer, or a joining caller's addresses (R-R8): new candidates (`added`)
    /// are ranked among those not yet dialed and may take tokens; then the request dials,
    /// or ends if nothing is left (R-R5).
    pub(crate) fn candidates_added(&mut self, request: RequestId, added: bool, now: Instant) {
        if added {
            let Some(req) = self.requests.get_mut(&request) else {
                return;
            };
            let next = req.next;
            sort_by_confidence(
                &mut req.addrs[next..],
                &self.confidence,
                self.config.interleave,
            );
            if !self.grant_resolved(request, now) {
                return;
            }
        }
        self.pump(request, now);
    }

    /// Tokens for addresses that came from names, or from a caller that joined a request
    /// of names (see [`Names`](crate::Names)): a request that holds tokens or overdraws
    /// tops up; one that holds none asks the pool as a new request would. Returns `false`
    /// if the request ended or waits.
    fn grant_resolved(&mut self, request: RequestId, now: Instant) -> bool {
        let wait_bound = self.wait_bound();
        let Some(req) = self.requests.get_mut(&request) else {
            return false;
        };
        if req.queued {
            return false;
        }
        if req.overdraft || req.tokens > 0 {
            self.top_up_tokens(request);
            return true;
        }
        let requested = self
            .config
            .max_per_peer_dials
            .min(req.in_flight.len() + req.pending());
        if requested == 0 {
            return true;
        }
        if self.pool.available() < requested && !self.spared.is_empty() {
            // As a new request of addresses does (R-R6b): tokens lent to spared dials
            // come back before this request is refused for want of them.
            self.reclaim(now, requested);
        }
        let Some(req) = self.requests.get_mut(&request) else {
            return false;
        };
        let granted = self.pool.acquire(requested);
        if granted > 0 || req.high {
            req.tokens = granted;
            req.overdraft = granted == 0;
            self.stats.overdraft_requests += u64::from(granted == 0);
            self.events.push_back(Event::RequestTokens {
                request,
                requested,
                granted,
                overdraft: granted == 0,
            });
            return true;
        }
        match self.config.wait_for_tokens {
            Some(wait) if self.waiting < wait.queue => {
                req.queued = true;
                let dial_deadline = req.deadline;
                if let Some(set) = req.names.as_mut() {
                    set.requeued = Some((now, dial_deadline));
                }
                req.deadline = deadline_after(now, wait_bound).min(dial_deadline);
                let deadline = req.deadline;
                self.request_timers
                    .push(deadline, request, &mut self.earliest, Due::Request);
                self.events.push_back(Event::Queued {
                    request,
                    ahead: self.waiting,
                });
                self.queue.push_back(request);
                self.waiting += 1;
                self.stats.requests_queued += 1;
            }
            _ => {
                let attempts = std::mem::take(&mut req.attempts);
                self.finish(
                    request,
                    Err(DialFailed::NoTokens { attempts }),
                    AbortReason::Superseded,
                );
            }
        }
        false
    }
}
