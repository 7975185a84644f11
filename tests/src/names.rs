//! The names interpreter and its reference model (R-N1 … R-N4, R-R10), shared by the
//! property tests and the `names` fuzz target.
//!
//! A [`NameOp`] is one call into the dialer's API, one answer of the name server, or a
//! move of the simulated clock. [`run_names`] applies a sequence of them to a fresh
//! [`Dialer`] with [`Config::names`] on and, after **every** step, drains the outputs
//! through the crate's invariant checker ([`Monitor`], invariants 1-8) and through a
//! reference model of the names rules that recomputes, from the inputs and outputs alone:
//!
//! - which lookups a request must issue (R-N1): every name a caller passes and the core
//!   may admit (distinct, not deny-listed, host not empty) is looked up in the same step,
//!   once per record kind (`/dns`: AAAA and A, `/dns4`: A, `/dns6`: AAAA, `/dnsaddr`: TXT
//!   at `_dnsaddr.<host>`), the host lower-cased without its trailing dot; no other lookup
//!   is ever issued, and none for a `dnsaddr` result deeper than `max_depth` (R-N3);
//! - which addresses a request may dial: the caller's literal ones, and those its own
//!   lookups' answers brought (the IP put in the name's place, or a `dnsaddr` record),
//!   never a record for another peer under `/dnsaddr/<host>/p2p/<id>` (R-N3), never more
//!   than `max_resolved` resolved ones (R-N3), never before the resolution delay of an
//!   IPv4 answer whose IPv6 sibling is still out (R-N2, RFC 8305);
//! - the host a dial's address came from ([`Dialer::dial_name`], R-N1);
//! - when a lookup may end: answered, at its `address_timeout`, or with its request, and
//!   never later (R-N1); an answer to a lookup that is over is refused and changes
//!   nothing (R-N1, bad input);
//! - that a name whose only lookup failed or timed out is deny-listed (R-N2), and that a
//!   request with a name it could resolve is never refused for want of addresses, only
//!   for want of tokens when the pool is empty (R-N1, R-T4).
//!
//! It does not recompute token counts, confidence or the dial order; the model of
//! `tests/src/model.rs` does that for requests of addresses, and the [`Monitor`] checks
//! the pool's balance here too.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use dialer_core::check::{Drained, Monitor, Violation};
use dialer_core::{
    Action, Answer, CallerId, Config, DialId, DialOpts, DialRefused, Dialer, Dialing, Event,
    FailReason, Multiaddr, NameAction, Names, Priority, RecordKind, RequestId, ResolveId, Stats,
};
use multiaddr::{PeerId, Protocol};

use crate::model::remember;
use crate::ops::{dialable, ensure, pick, ConfigSpec, Peer, Span, PEERS};

/// The peer id the pool's `/p2p/` names and records carry.
pub const PEER_A: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
/// Another peer's id, for records a `/p2p/` name must drop.
pub const PEER_B: &str = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";

/// The most ops one input runs.
pub const MAX_NAME_OPS: usize = 96;

/// The most addresses one dial op passes (above the default `max_addrs_per_request`).
const MAX_LIST: usize = 28;

/// The most steps the end-of-run drive may take before it is called a livelock.
const MAX_DRAIN_STEPS: usize = 100_000;

/// The address the harness's filter refuses (R-R10: a name that resolves into the
/// node's own network, DNS rebinding).
const REBOUND: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 66);

fn pool(cell: &'static OnceLock<Vec<Multiaddr>>, list: &[String]) -> &'static [Multiaddr] {
    cell.get_or_init(|| {
        list.iter()
            .map(|s| s.parse().expect("the pool's addresses are valid"))
            .collect()
    })
}

/// What the dial ops pick from: names of every kind (a mixed-case one with a trailing
/// dot, a `/p2p/` one, a `dnsaddr` loop), literal addresses, an unroutable one and one
/// the filter refuses.
pub fn name_pool() -> &'static [Multiaddr] {
    static POOL: OnceLock<Vec<Multiaddr>> = OnceLock::new();
    pool(
        &POOL,
        &[
            "/dns4/a.example/tcp/443".into(),
            "/dns/b.example/tcp/443".into(),
            "/dns6/c.example/tcp/443".into(),
            "/dnsaddr/boot.example".into(),
            format!("/dnsaddr/boot.example/p2p/{PEER_A}"),
            "/dns4/A.Example./tcp/443".into(),
            "/ip4/16.0.0.1/tcp/4001".into(),
            "/ip6/2600::1/tcp/4001".into(),
            "/ip4/0.0.0.0/tcp/1".into(),
            format!("/ip4/{REBOUND}/tcp/443"),
            "/dns/b.example/udp/443/quic-v1".into(),
            "/dnsaddr/loop.example".into(),
            "/ip4/127.0.0.1/tcp/1".into(),
            "/dns4/d.example/tcp/1".into(),
        ],
    )
}

/// The IPs the name server answers with: public, loopback, the rebinding target, and
/// unroutable ones of both families.
pub const IPS: [IpAddr; 11] = [
    IpAddr::V4(Ipv4Addr::new(16, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(16, 0, 0, 2)),
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V4(REBOUND),
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2600, 0, 0, 0, 0, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2600, 0, 0, 0, 0, 0, 0, 2)),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
];

/// The TXT records the name server answers with: literal addresses, this peer's and
/// another's, names (a loop back to the start, a chain, a `/dns4` end), filtered and
/// unroutable ones, malformed ones, and one that is no `dnsaddr` record.
pub fn txt_pool() -> &'static [String] {
    static POOL: OnceLock<Vec<String>> = OnceLock::new();
    POOL.get_or_init(|| {
        vec![
            "dnsaddr=/ip4/16.0.0.3/tcp/4001".into(),
            format!("dnsaddr=/ip4/16.0.0.3/tcp/4001/p2p/{PEER_A}"),
            format!("dnsaddr=/ip4/16.0.0.4/tcp/4001/p2p/{PEER_B}"),
            "dnsaddr=/dnsaddr/boot.example".into(),
            "dnsaddr=/dnsaddr/loop.example".into(),
            format!("dnsaddr=/dnsaddr/deep.example/p2p/{PEER_A}"),
            "dnsaddr=/dns4/a.example/tcp/443".into(),
            format!("dnsaddr=/dns4/d.example/tcp/1/p2p/{PEER_A}"),
            format!("dnsaddr=/ip4/{REBOUND}/tcp/1"),
            "dnsaddr=/ip4/0.0.0.0/tcp/1".into(),
            "dnsaddr=garbage".into(),
            "v=spf1 -all".into(),
            "dnsaddr=".into(),
            format!("dnsaddr=/ip6/2600::3/tcp/4001/p2p/{PEER_A}"),
        ]
    })
}

/// A `max_resolved` setting (R-N3).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedCap {
    /// The default, 100.
    Default,
    /// 1 ..= 8: reached by a few answers.
    Small(u8),
}

/// An arbitrary but valid config with names on: any [`ConfigSpec`], any resolution
/// delay, depth 0 ..= 4, and the address filter on or off.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamesSpec {
    /// Everything but the names.
    pub config: ConfigSpec,
    /// `resolution_delay` (`None`: each answer dials as it comes).
    pub resolution_delay: Option<Span>,
    /// `max_depth`, modulo 5.
    pub max_depth: u8,
    /// `max_resolved`.
    pub max_resolved: ResolvedCap,
    /// Whether the address filter refuses the rebinding target `10.0.0.66` (R-R10).
    pub filter: bool,
}

impl NamesSpec {
    /// The config this spec describes. A deny list that is on holds at least 1,024
    /// entries: a smaller one can evict a name's entry in the middle of a dial call (a
    /// request timed out there deny-lists its dials' addresses), after which which names
    /// the core admits cannot be told from outside. Eviction itself is the address
    /// model's to check (`tests/src/model.rs`, fuzz target `machine`).
    pub fn config(&self) -> Config {
        let mut names = Names::default();
        names.resolution_delay = self
            .resolution_delay
            .map(|s| s.get(Duration::from_millis(50)));
        names.max_depth = self.max_depth % 5;
        names.max_resolved = match self.max_resolved {
            ResolvedCap::Default => 100,
            ResolvedCap::Small(n) => 1 + usize::from(n % 8),
        };
        let config = self.config.config().with_names(Some(names));
        let deny = config.deny_list_capacity;
        config.with_deny_list_capacity(if deny == 0 { 0 } else { deny.max(1024) })
    }
}

/// One call into the dialer, one answer of the name server, or a move of the clock.
///
/// Ops that name something (`pick`) choose among what exists (open lookups, open dials,
/// waiting callers) by index modulo their number; with nothing there they do nothing, or
/// aim at an id the core never issued.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum NameOp {
    /// A request for `peer` (a join if one is in flight) with [`name_pool`] entries.
    Dial {
        /// Peer, modulo [`PEERS`].
        peer: u8,
        /// Indices into [`name_pool`].
        addrs: Vec<u8>,
        /// [`Priority::High`].
        high: bool,
        /// [`DialOpts::ignore_backoff`].
        force: bool,
    },
    /// A lookup is answered with addresses ([`IPS`] by index); the wrong family for its
    /// kind is ignored by the core.
    Ips {
        /// Which open lookup.
        pick: u8,
        /// Indices into the answer IPs.
        ips: Vec<u8>,
    },
    /// A lookup is answered with TXT records ([`txt_pool`] by index).
    Txt {
        /// Which open lookup.
        pick: u8,
        /// Indices into [`txt_pool`].
        records: Vec<u8>,
    },
    /// A lookup is answered with 100 to 355 addresses or records (R-N3's cap).
    Many {
        /// Which open lookup.
        pick: u8,
        /// Answers beyond 100.
        extra: u8,
    },
    /// A lookup fails (NXDOMAIN, SERVFAIL).
    ResolveFail {
        /// Which open lookup.
        pick: u8,
    },
    /// A lookup is answered, then answered again (the second must be refused).
    Twice {
        /// Which open lookup.
        pick: u8,
        /// Indices into the answer IPs.
        ips: Vec<u8>,
    },
    /// A lookup that is over (answered, aborted, timed out) is answered.
    Stale {
        /// Which ended lookup.
        pick: u8,
        /// Report a failure instead.
        fail: bool,
    },
    /// An answer for an id the core never issued.
    Unknown {
        /// Picks the id.
        raw: u16,
    },
    /// The runtime reports an open dial connected.
    Succeed {
        /// Which open dial.
        pick: u8,
    },
    /// The runtime reports an open dial failed.
    Fail {
        /// Which open dial.
        pick: u8,
    },
    /// A waiting caller cancels.
    Cancel {
        /// Which caller.
        pick: u8,
    },
    /// The clock moves forward by up to 65 s.
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// `handle_timeout(now)`, due or not.
    Timeout,
    /// The clock jumps to `poll_timeout()` and `handle_timeout` runs there.
    TimeoutAtDeadline,
    /// `network_changed` (R-D4b): the deny list, names' entries included, is cleared.
    NetworkChanged,
}

/// How often the names paths were taken in a run, so tests can assert that their
/// generators reach them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameCoverage {
    /// Requests started.
    pub requests: u64,
    /// Requests of names alone.
    pub names_only: u64,
    /// Callers that joined a request in flight with a name.
    pub joins_with_names: u64,
    /// Lookups issued.
    pub lookups: u64,
    /// Answers the core accepted.
    pub answers: u64,
    /// Answers refused as late, repeated or unknown.
    pub refused_answers: u64,
    /// Lookups aborted at their `address_timeout`.
    pub lookup_timeouts: u64,
    /// Lookups aborted because their request ended.
    pub lookups_aborted: u64,
    /// Lookups of a `dnsaddr` result (depth 1 or more).
    pub deeper: u64,
    /// Dials of resolved addresses.
    pub resolved_dials: u64,
    /// IPv4 answers held for their IPv6 sibling (R-N2).
    pub held: u64,
    /// Requests that hit `max_resolved` (R-N3).
    pub capped: u64,
    /// `TooDeep` attempts (R-N3).
    pub too_deep: u64,
    /// Records dropped as another peer's (R-N3).
    pub other_peer: u64,
    /// Addresses refused by the filter or as unroutable (R-R10).
    pub filtered: u64,
    /// Dials whose host name was checked against [`Dialer::dial_name`].
    pub named_dials: u64,
    /// Names found deny-listed after their only lookup failed (R-N2).
    pub names_denied: u64,
    /// Refusals with `NoTokens` of a request with names.
    pub no_tokens: u64,
    /// Requests that connected.
    pub connected: u64,
}

impl NameCoverage {
    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &Self) {
        self.requests += o.requests;
        self.names_only += o.names_only;
        self.joins_with_names += o.joins_with_names;
        self.lookups += o.lookups;
        self.answers += o.answers;
        self.refused_answers += o.refused_answers;
        self.lookup_timeouts += o.lookup_timeouts;
        self.lookups_aborted += o.lookups_aborted;
        self.deeper += o.deeper;
        self.resolved_dials += o.resolved_dials;
        self.held += o.held;
        self.capped += o.capped;
        self.too_deep += o.too_deep;
        self.other_peer += o.other_peer;
        self.filtered += o.filtered;
        self.named_dials += o.named_dials;
        self.names_denied += o.names_denied;
        self.no_tokens += o.no_tokens;
        self.connected += o.connected;
    }
}

// ----- multiaddr helpers, written from the rules (not the core's code) ---------------

/// The kind of name `addr` starts with and its host as a lookup asks for it
/// (lower-cased, no trailing dot), if it starts with a name.
fn name_of(addr: &Multiaddr) -> Option<(u8, String)> {
    let (kind, host) = match addr.iter().next()? {
        Protocol::Dns(h) => (0, h),
        Protocol::Dns4(h) => (4, h),
        Protocol::Dns6(h) => (6, h),
        Protocol::Dnsaddr(h) => (1, h),
        _ => return None,
    };
    Some((kind, host.trim_end_matches('.').to_ascii_lowercase()))
}

fn is_name(addr: &Multiaddr) -> bool {
    name_of(addr).is_some()
}

/// The lookups a name needs: (query name, kind).
fn lookups_of(addr: &Multiaddr) -> Vec<(String, RecordKind)> {
    match name_of(addr) {
        Some((_, host)) if host.is_empty() => Vec::new(),
        Some((0, host)) => vec![(host.clone(), RecordKind::Aaaa), (host, RecordKind::A)],
        Some((4, host)) => vec![(host, RecordKind::A)],
        Some((6, host)) => vec![(host, RecordKind::Aaaa)],
        Some((_, host)) => vec![(format!("_dnsaddr.{host}"), RecordKind::Txt)],
        None => Vec::new(),
    }
}

fn own_peer(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last()? {
        Protocol::P2p(id) => Some(id),
        _ => None,
    }
}

fn with_ip(name: &Multiaddr, ip: IpAddr) -> Multiaddr {
    let mut out = Multiaddr::empty();
    out.push(match ip {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    });
    for p in name.iter().skip(1) {
        out.push(p);
    }
    out
}

/// R-R10's fixed refusals: unspecified, multicast, broadcast (an IPv4-mapped one too).
fn unroutable(addr: &Multiaddr) -> bool {
    let v4 = |ip: Ipv4Addr| ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast();
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => v4(ip),
        Some(Protocol::Ip6(ip)) => {
            ip.is_unspecified() || ip.is_multicast() || ip.to_ipv4_mapped().is_some_and(v4)
        }
        _ => false,
    }
}

fn rebound(addr: &Multiaddr) -> bool {
    matches!(addr.iter().next(), Some(Protocol::Ip4(ip)) if ip == REBOUND)
}

// ----- the model ---------------------------------------------------------------------

/// A name of a request that may still be looked up: the kinds not yet asked for.
#[derive(Debug)]
struct Entry {
    addr: Multiaddr,
    depth: u8,
    pending: Vec<(String, RecordKind)>,
    /// The core looked it up: it admitted the name.
    asked: bool,
}

#[derive(Debug)]
struct Look {
    request: RequestId,
    name: Multiaddr,
    kind: RecordKind,
    depth: u8,
    started: Instant,
}

/// An IPv4 answer held for the IPv6 answer of the same `/dns` name (R-N2).
#[derive(Debug)]
struct Held {
    request: RequestId,
    aaaa: ResolveId,
    until: Instant,
    addrs: Vec<Multiaddr>,
}

#[derive(Debug, Default)]
struct Origins {
    /// Hosts of the names whose A/AAAA answers brought it.
    hosts: Vec<String>,
    /// A `dnsaddr` record held it literally.
    record: bool,
}

#[derive(Debug)]
struct Req {
    peer: Peer,
    ignore: bool,
    literal: HashSet<Multiaddr>,
    resolved: HashMap<Multiaddr, Origins>,
    entries: Vec<Entry>,
    dialed_resolved: HashSet<Multiaddr>,
}

/// What the model knew before a dial call.
struct Before {
    available: usize,
    /// Distinct names a new request would resolve, and a join would.
    new_names: Vec<Multiaddr>,
    join_names: Vec<Multiaddr>,
    has_literal: bool,
}

#[derive(Debug)]
struct NameModel {
    config: Config,
    max_depth: u8,
    max_resolved: usize,
    filter: bool,
    now: Option<Instant>,
    requests: HashMap<RequestId, Req>,
    lookups: Vec<(ResolveId, Look)>,
    ended: Vec<ResolveId>,
    held: Vec<Held>,
    dials: Vec<(DialId, RequestId, Multiaddr)>,
    callers: Vec<CallerId>,
    coverage: NameCoverage,
}

impl NameModel {
    fn new(config: Config, filter: bool) -> Self {
        let names = config.names.unwrap_or_default();
        Self {
            max_depth: names.max_depth,
            max_resolved: names.max_resolved,
            config,
            filter,
            now: None,
            requests: HashMap::new(),
            lookups: Vec::new(),
            ended: Vec::new(),
            held: Vec::new(),
            dials: Vec::new(),
            callers: Vec::new(),
            coverage: NameCoverage::default(),
        }
    }

    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.now.map_or(now, |last| last.max(now));
        self.now = Some(now);
        now
    }

    /// The distinct names of `addrs` the core admits (R-N1): with a host, not among
    /// `known`, not deny-listed (unless `ignore`). The deny list is large enough here
    /// that no entry is evicted during a call (see [`NamesSpec::config`]).
    fn admissible(
        &self,
        dialer: &Dialer<Peer>,
        now: Instant,
        addrs: &[Multiaddr],
        known: &[Multiaddr],
        ignore: bool,
    ) -> Vec<Multiaddr> {
        let mut out: Vec<Multiaddr> = Vec::new();
        for a in addrs {
            if !is_name(a) || lookups_of(a).is_empty() || out.contains(a) || known.contains(a) {
                continue;
            }
            if !ignore && dialer.is_deny_listed(now, a) {
                continue;
            }
            out.push(a.clone());
        }
        out
    }

    fn before_dial(
        &mut self,
        dialer: &Dialer<Peer>,
        now: Instant,
        peer: Peer,
        addrs: &[Multiaddr],
        opts: DialOpts,
    ) -> Before {
        let now = self.advance(now);
        let new_names = self.admissible(dialer, now, addrs, &[], opts.ignore_backoff);
        let join_names = match dialer
            .request_for(&peer)
            .and_then(|r| self.requests.get(&r))
        {
            Some(req) => {
                let known: Vec<Multiaddr> = req
                    .entries
                    .iter()
                    .filter(|e| e.depth == 0)
                    .map(|e| e.addr.clone())
                    .collect();
                self.admissible(
                    dialer,
                    now,
                    addrs,
                    &known,
                    req.ignore || opts.ignore_backoff,
                )
            }
            None => Vec::new(),
        };
        Before {
            available: dialer.tokens_available(),
            new_names,
            join_names,
            has_literal: addrs.iter().any(|a| !is_name(a)),
        }
    }

    /// Checks a dial call's result against what the model knew before it; the step's
    /// outputs follow in [`NameModel::step`].
    #[allow(clippy::too_many_arguments)]
    fn dialed(
        &mut self,
        before: Before,
        peer: Peer,
        addrs: &[Multiaddr],
        opts: DialOpts,
        result: &Result<Dialing, DialRefused>,
        drained: &Drained<Peer>,
    ) -> Result<Vec<(RequestId, String, RecordKind)>, Violation> {
        let resolves = drained
            .name_actions
            .iter()
            .filter(|a| matches!(a, NameAction::Resolve(_)))
            .count();
        let dialing = match result {
            Err(e) => {
                ensure!(
                    resolves == 0,
                    "R-N1: a refused dial ({e:?}) issued {resolves} lookups"
                );
                let names = if addrs.len() <= self.config.max_addrs_per_request {
                    before.new_names.len()
                } else {
                    0
                };
                match e {
                    DialRefused::NoTokens => {
                        // With a wait queue, a full queue refuses too (R-Q1).
                        ensure!(
                            before.available == 0 || self.config.wait_for_tokens.is_some(),
                            "R-T4: NoTokens with {} tokens free",
                            before.available
                        );
                        if names > 0 {
                            self.coverage.no_tokens += 1;
                        }
                    }
                    DialRefused::NoDialableAddresses { skipped }
                    | DialRefused::BackedOff { skipped, .. }
                    | DialRefused::BlackHoled { skipped } => {
                        ensure!(
                            names == 0,
                            "R-N1: refused {e:?} though {:?} could be resolved",
                            before.new_names
                        );
                        ensure!(
                            skipped.len() == addrs.len(),
                            "R-R2: {} of {} addresses listed as skipped",
                            skipped.len(),
                            addrs.len()
                        );
                    }
                    DialRefused::TooManyAddresses { given, .. } => {
                        ensure!(*given == addrs.len(), "R-R9: given {given}")
                    }
                    DialRefused::NoAddresses => {
                        ensure!(addrs.is_empty(), "R-R9: NoAddresses for {addrs:?}")
                    }
                    other => return Err(Violation(format!("dial: unexpected {other:?}"))),
                }
                return Ok(Vec::new());
            }
            Ok(d) => *d,
        };
        self.callers.push(dialing.caller);
        let literal: Vec<Multiaddr> = addrs.iter().filter(|a| !is_name(a)).cloned().collect();
        let names = if dialing.joined {
            before.join_names
        } else {
            self.coverage.requests += 1;
            if !before.has_literal {
                self.coverage.names_only += 1;
            }
            self.requests.insert(
                dialing.request,
                Req {
                    peer,
                    ignore: false,
                    literal: HashSet::new(),
                    resolved: HashMap::new(),
                    entries: Vec::new(),
                    dialed_resolved: HashSet::new(),
                },
            );
            before.new_names
        };
        if dialing.joined && !names.is_empty() {
            self.coverage.joins_with_names += 1;
        }
        let Some(req) = self.requests.get_mut(&dialing.request) else {
            return Err(Violation(format!(
                "{} joined {}, which the model never saw start",
                dialing.caller, dialing.request
            )));
        };
        ensure!(
            req.peer == peer,
            "{} dials peer {}, not {peer}",
            dialing.request,
            req.peer
        );
        req.ignore |= opts.ignore_backoff;
        req.literal.extend(literal);
        let mut expected = Vec::new();
        for name in names {
            let pending = lookups_of(&name);
            for (query, kind) in &pending {
                expected.push((dialing.request, query.clone(), *kind));
            }
            req.entries.push(Entry {
                addr: name,
                depth: 0,
                pending,
                asked: false,
            });
        }
        Ok(expected)
    }

    /// The harness answered `resolve`; `accepted` is what the core said.
    fn answered(
        &mut self,
        now: Instant,
        resolve: ResolveId,
        result: &Result<Answer, &str>,
        accepted: bool,
    ) -> Result<Option<(RequestId, Multiaddr)>, Violation> {
        let now = self.advance(now);
        let Some(i) = self.lookups.iter().position(|(id, _)| *id == resolve) else {
            ensure!(
                !accepted,
                "R-N1: the core accepted an answer to {resolve}, which is over"
            );
            self.coverage.refused_answers += 1;
            return Ok(None);
        };
        ensure!(
            accepted,
            "R-N1: the core refused an answer to {resolve}, which is open"
        );
        self.coverage.answers += 1;
        let (_, look) = self.lookups.remove(i);
        remember(&mut self.ended, resolve);
        self.held.retain(|h| h.aaaa != resolve);
        let single = name_of(&look.name).is_some_and(|(k, _)| k != 0);
        let Some(req) = self.requests.get_mut(&look.request) else {
            return Err(Violation(format!(
                "{resolve} open for a request that ended"
            )));
        };
        let answer = match result {
            Ok(answer) => answer,
            // R-N2: a name whose only lookup failed counts as a failed dial of the name.
            Err(_) => return Ok(single.then_some((look.request, look.name))),
        };
        let host = name_of(&look.name).map(|(_, h)| h).unwrap_or_default();
        match (answer, look.kind) {
            (Answer::Ips(ips), RecordKind::A | RecordKind::Aaaa) => {
                let v6 = look.kind == RecordKind::Aaaa;
                // Only the first max_resolved of an answer can be admitted (R-N3).
                let found: Vec<Multiaddr> = ips
                    .iter()
                    .filter(|ip| ip.is_ipv6() == v6)
                    .take(self.max_resolved)
                    .map(|ip| with_ip(&look.name, *ip))
                    .collect();
                for a in &found {
                    let o = req.resolved.entry(a.clone()).or_default();
                    if !o.hosts.contains(&host) {
                        o.hosts.push(host.clone());
                    }
                }
                // R-N2: an IPv4 answer of `/dns` waits for the IPv6 one (RFC 8305).
                let sibling = self
                    .lookups
                    .iter()
                    .find(|(_, l)| {
                        l.request == look.request
                            && l.name == look.name
                            && l.kind == RecordKind::Aaaa
                            && l.depth == look.depth
                    })
                    .map(|(id, _)| *id);
                let delay = self.config.names.and_then(|n| n.resolution_delay);
                if let (false, Some(aaaa), Some(delay)) = (v6, sibling, delay) {
                    if !found.is_empty() {
                        self.coverage.held += 1;
                        self.held.push(Held {
                            request: look.request,
                            aaaa,
                            until: now.checked_add(delay).unwrap_or(now),
                            addrs: found,
                        });
                    }
                }
            }
            (Answer::Txt(records), RecordKind::Txt) => {
                let own = own_peer(&look.name);
                for record in records {
                    let Some(value) = record.strip_prefix("dnsaddr=") else {
                        continue;
                    };
                    let Ok(addr) = value.parse::<Multiaddr>() else {
                        continue;
                    };
                    if addr.is_empty() {
                        continue;
                    }
                    if own.is_some() && own_peer(&addr) != own {
                        self.coverage.other_peer += 1;
                        continue;
                    }
                    if is_name(&addr) {
                        // R-N3: resolved one level deeper, up to max_depth.
                        if look.depth < self.max_depth {
                            let pending = lookups_of(&addr);
                            req.entries.push(Entry {
                                addr,
                                depth: look.depth + 1,
                                pending,
                                asked: false,
                            });
                        }
                    } else {
                        req.resolved.entry(addr).or_default().record = true;
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }

    /// Checks one step's outputs; `expected` are the lookups a dial call must have issued.
    fn step(
        &mut self,
        dialer: &Dialer<Peer>,
        now: Instant,
        drained: &Drained<Peer>,
        expected: Vec<(RequestId, String, RecordKind)>,
        mut failed_names: Vec<(RequestId, Multiaddr)>,
    ) -> Result<(), Violation> {
        let now = self.advance(now);
        let timeout = self.config.address_timeout;
        let filter = self.filter;
        let mut issued = Vec::new();
        for action in &drained.name_actions {
            match action {
                NameAction::Resolve(r) => {
                    let Some(req) = self.requests.get_mut(&r.request) else {
                        return Err(Violation(format!(
                            "R-N1: Resolve {} for {}, which the model does not know",
                            r.resolve, r.request
                        )));
                    };
                    ensure!(
                        r.peer == req.peer,
                        "R-N1: Resolve {} names peer {}",
                        r.resolve,
                        r.peer
                    );
                    let query = r.name.to_string();
                    let entry = req
                        .entries
                        .iter_mut()
                        .find(|e| e.pending.iter().any(|(q, k)| *q == query && *k == r.kind));
                    let Some(entry) = entry else {
                        return Err(Violation(format!(
                            "R-N1, R-N3: {} looked up {} {query}, which no name of it needs \
                             now (asked already, deeper than max_depth {}, or another peer's)",
                            r.request,
                            r.kind.name(),
                            self.max_depth
                        )));
                    };
                    entry
                        .pending
                        .retain(|(q, k)| !(*q == query && *k == r.kind));
                    entry.asked = true;
                    ensure!(entry.depth <= self.max_depth, "R-N3: depth {}", entry.depth);
                    self.coverage.lookups += 1;
                    self.coverage.deeper += u64::from(entry.depth > 0);
                    issued.push((r.request, query, r.kind));
                    self.lookups.push((
                        r.resolve,
                        Look {
                            request: r.request,
                            name: entry.addr.clone(),
                            kind: r.kind,
                            depth: entry.depth,
                            started: now,
                        },
                    ));
                }
                NameAction::AbortResolve(a) => {
                    let Some(i) = self.lookups.iter().position(|(id, _)| *id == a.resolve) else {
                        return Err(Violation(format!(
                            "AbortResolve for {}, which is not open",
                            a.resolve
                        )));
                    };
                    let (_, look) = self.lookups.remove(i);
                    remember(&mut self.ended, a.resolve);
                    self.held.retain(|h| h.aaaa != a.resolve);
                    let due = look.started.checked_add(timeout).is_some_and(|d| now >= d);
                    if dialer.is_in_flight(look.request) {
                        // Its own timeout, the request lives on (R-N1).
                        ensure!(
                            due,
                            "R-N1: {} aborted {:?} after {:?}, before address_timeout {timeout:?}",
                            look.request,
                            look.name.to_string(),
                            now.saturating_duration_since(look.started)
                        );
                        self.coverage.lookup_timeouts += 1;
                        if name_of(&look.name).is_some_and(|(k, _)| k != 0) {
                            failed_names.push((look.request, look.name));
                        }
                    } else {
                        self.coverage.lookups_aborted += 1;
                    }
                }
                _ => return Err(Violation(format!("unknown name action {action:?}"))),
            }
        }
        for want in &expected {
            ensure!(
                issued.contains(want),
                "R-N1: {} did not look up {} {} in the step it got the name: {issued:?}",
                want.0,
                want.2.name(),
                want.1
            );
        }
        let aborted: HashSet<DialId> = drained
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::AbortDial(a) => Some(a.dial),
                _ => None,
            })
            .collect();
        for action in &drained.actions {
            match action {
                Action::StartDial(s) => {
                    let Some(req) = self.requests.get_mut(&s.request) else {
                        return Err(Violation(format!(
                            "StartDial {} for {}, which the model does not know",
                            s.dial, s.request
                        )));
                    };
                    let literal = req.literal.contains(&s.addr);
                    let origins = req.resolved.get(&s.addr);
                    ensure!(
                        literal || origins.is_some(),
                        "R-N1, R-N3: {} dials {}, which neither a caller passed nor an answer \
                         of its own brought",
                        s.request,
                        s.addr
                    );
                    ensure!(
                        !(unroutable(&s.addr) || (filter && rebound(&s.addr))),
                        "R-R10: {} dials {}, which the filter or the fixed refusals refuse",
                        s.request,
                        s.addr
                    );
                    ensure!(dialable(&s.addr), "R-R2: {} is not dialable", s.addr);
                    if !literal {
                        self.coverage.resolved_dials += 1;
                        req.dialed_resolved.insert(s.addr.clone());
                        ensure!(
                            req.dialed_resolved.len() <= self.max_resolved,
                            "R-N3: {} dialed {} resolved addresses, max_resolved is {}",
                            s.request,
                            req.dialed_resolved.len(),
                            self.max_resolved
                        );
                        if req.dialed_resolved.len() == self.max_resolved {
                            self.coverage.capped += 1;
                        }
                        // R-N2: not before the resolution delay while the IPv6 answer is out.
                        let other = origins.is_some_and(|o| o.record || o.hosts.len() > 1);
                        if let Some(h) = self.held.iter().find(|h| {
                            h.request == s.request && now < h.until && h.addrs.contains(&s.addr)
                        }) {
                            ensure!(
                                other,
                                "R-N2: {} dialed the IPv4 answer {} {:?} before its resolution \
                                 delay, with the IPv6 lookup {} still out",
                                s.request,
                                s.addr,
                                h.until.saturating_duration_since(now),
                                h.aaaa
                            );
                        }
                    }
                    if !aborted.contains(&s.dial) {
                        // R-N1: the host a dial's address came from, for SNI and Host.
                        let got = dialer.dial_name(s.dial).map(|h| h.to_string());
                        let hosts = origins.map(|o| o.hosts.clone()).unwrap_or_default();
                        if hosts.is_empty() {
                            ensure!(
                                got.is_none(),
                                "R-N1: dial_name({}) of {} is {got:?}; no name resolved to it",
                                s.dial,
                                s.addr
                            );
                        } else if !literal && !origins.is_some_and(|o| o.record) {
                            ensure!(
                                got.as_ref().is_some_and(|g| hosts.contains(g)),
                                "R-N1: dial_name({}) of {} is {got:?}, not one of {hosts:?}",
                                s.dial,
                                s.addr
                            );
                        }
                        self.coverage.named_dials += u64::from(got.is_some());
                        self.dials.push((s.dial, s.request, s.addr.clone()));
                    }
                }
                Action::AbortDial(a) => {
                    self.dials.retain(|(d, _, _)| *d != a.dial);
                }
                other => return Err(Violation(format!("unknown action {other:?}"))),
            }
        }
        for event in &drained.events {
            if let Event::Finished {
                caller,
                request,
                result,
                ..
            } = event
            {
                self.callers.retain(|c| c != caller);
                let attempts = match result {
                    Ok(c) => {
                        self.coverage.connected += 1;
                        &c.failed
                    }
                    Err(e) => e.attempts(),
                };
                for a in attempts {
                    if let FailReason::TooDeep { max_depth } = &a.reason {
                        ensure!(
                            *max_depth == self.max_depth && is_name(&a.addr),
                            "R-N3: TooDeep {{ {max_depth} }} for {}",
                            a.addr
                        );
                        self.coverage.too_deep += 1;
                    }
                }
                if !dialer.is_in_flight(*request) {
                    self.requests.remove(request);
                    self.dials.retain(|(_, r, _)| r != request);
                    self.held.retain(|h| h.request != *request);
                }
            }
        }
        // Requests that ended without a Finished this step (a cancel of every caller
        // emits one per caller, so this only tidies).
        self.requests.retain(|r, _| dialer.is_in_flight(*r));
        // The core looks a name up in the step that gave it the name, or never (it was
        // deny-listed, filtered or beyond max_resolved): what is still pending now must
        // not be asked for later.
        // A name it did not look up it did not admit, and does not know (a later caller's
        // same name is new to it).
        for req in self.requests.values_mut() {
            req.entries.retain(|e| e.asked);
            for e in &mut req.entries {
                e.pending.clear();
            }
        }
        for (id, look) in &self.lookups {
            ensure!(
                self.requests.contains_key(&look.request),
                "R-N1: {id} still open after its request {} ended",
                look.request
            );
        }
        // R-N2: a name whose only lookup failed is deny-listed (a table large enough
        // that nothing was evicted in one step).
        if self.config.deny_list_capacity >= 1024 {
            for (_, name) in failed_names {
                ensure!(
                    dialer.is_deny_listed(now, &name),
                    "R-N2: {name} failed its only lookup and is not deny-listed"
                );
                self.coverage.names_denied += 1;
            }
        }
        let stats = dialer.stats();
        self.coverage.filtered = stats.addresses_filtered;
        Ok(())
    }

    /// After `handle_timeout(now)`: no lookup is open past its `address_timeout` (R-N1).
    fn nothing_overdue(&self, now: Instant) -> Result<(), Violation> {
        for (id, look) in &self.lookups {
            let due = look.started.checked_add(self.config.address_timeout);
            ensure!(
                due.is_none_or(|d| d > now),
                "R-N1: {id} ({} {}) open {:?} after it started, past address_timeout",
                look.kind.name(),
                look.name,
                now.saturating_duration_since(look.started)
            );
        }
        Ok(())
    }
}

// ----- the interpreter ---------------------------------------------------------------

/// A dialer with names on, driven through the [`Monitor`] and the names model.
#[derive(Debug)]
pub struct NameHarness {
    dialer: Dialer<Peer>,
    monitor: Monitor<Peer>,
    model: NameModel,
    base: Instant,
    clock: Duration,
    high: Duration,
}

impl NameHarness {
    /// A fresh dialer with `spec`'s config, the TCP-only dialable predicate and, if the
    /// spec says so, a filter that refuses `10.0.0.66` (R-R10).
    pub fn new(spec: &NamesSpec) -> Result<Self, Violation> {
        let config = spec.config();
        let mut dialer = Dialer::new(config.clone())
            .map_err(|e| Violation(format!("valid config {config:?} refused: {e}")))?
            .with_dialable(dialable);
        if spec.filter {
            dialer.set_address_filter(|_, addr| !rebound(addr));
        }
        Ok(Self {
            dialer,
            monitor: Monitor::new(),
            model: NameModel::new(config, spec.filter),
            base: Instant::now(),
            clock: Duration::ZERO,
            high: Duration::ZERO,
        })
    }

    /// What the run covered so far.
    pub fn coverage(&self) -> NameCoverage {
        self.model.coverage
    }

    fn now(&self) -> Instant {
        self.base + self.clock
    }

    fn forward(&mut self, by: Duration) {
        self.clock = self.clock.saturating_add(by);
        self.high = self.high.max(self.clock);
    }

    fn settle(
        &mut self,
        expected: Vec<(RequestId, String, RecordKind)>,
        failed: Vec<(RequestId, Multiaddr)>,
    ) -> Result<Drained<Peer>, Violation> {
        let now = self.now();
        let drained = self.monitor.drain(&mut self.dialer, now)?;
        self.model
            .step(&self.dialer, now, &drained, expected, failed)?;
        Ok(drained)
    }

    /// Applies one op and checks every invariant and rule afterwards.
    pub fn step(&mut self, op: &NameOp) -> Result<(), Violation> {
        let open: Vec<ResolveId> = self.model.lookups.iter().map(|(id, _)| *id).collect();
        match op {
            NameOp::Dial {
                peer,
                addrs,
                high,
                force,
            } => {
                let pool = name_pool();
                let addrs: Vec<Multiaddr> = addrs
                    .iter()
                    .take(MAX_LIST)
                    .map(|&i| pool[usize::from(i) % pool.len()].clone())
                    .collect();
                let opts = DialOpts::default()
                    .with_priority(if *high {
                        Priority::High
                    } else {
                        Priority::Normal
                    })
                    .with_ignore_backoff(*force);
                self.dial(peer % PEERS, &addrs, opts)
            }
            NameOp::Ips { pick: p, ips } => {
                let ips = ips
                    .iter()
                    .map(|&i| IPS[usize::from(i) % IPS.len()])
                    .collect();
                match pick(open.iter().copied(), *p) {
                    Some(id) => self.answer(id, Ok(Answer::Ips(ips))),
                    None => Ok(()),
                }
            }
            NameOp::Txt { pick: p, records } => {
                let txt = txt_pool();
                let records = records
                    .iter()
                    .map(|&i| txt[usize::from(i) % txt.len()].clone())
                    .collect();
                match pick(open.iter().copied(), *p) {
                    Some(id) => self.answer(id, Ok(Answer::Txt(records))),
                    None => Ok(()),
                }
            }
            NameOp::Many { pick: p, extra } => {
                let Some(id) = pick(open.iter().copied(), *p) else {
                    return Ok(());
                };
                let n = 100 + u16::from(*extra);
                let kind = self
                    .model
                    .lookups
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, l)| l.kind);
                let answer = match kind {
                    Some(RecordKind::Txt) => Answer::Txt(
                        (0..n)
                            .map(|i| format!("dnsaddr=/ip4/16.2.{}.{}/tcp/4001", i >> 8, i & 255))
                            .collect(),
                    ),
                    Some(RecordKind::Aaaa) => Answer::Ips(
                        (0..n)
                            .map(|i| IpAddr::V6(Ipv6Addr::new(0x2600, 1, 0, 0, 0, 0, 0, i)))
                            .collect(),
                    ),
                    _ => Answer::Ips(
                        (0..n)
                            .map(|i| IpAddr::V4(Ipv4Addr::new(16, 1, (i >> 8) as u8, i as u8)))
                            .collect(),
                    ),
                };
                self.answer(id, Ok(answer))
            }
            NameOp::ResolveFail { pick: p } => match pick(open.iter().copied(), *p) {
                Some(id) => self.answer(id, Err("NXDOMAIN")),
                None => Ok(()),
            },
            NameOp::Twice { pick: p, ips } => {
                let ips: Vec<IpAddr> = ips
                    .iter()
                    .map(|&i| IPS[usize::from(i) % IPS.len()])
                    .collect();
                match pick(open.iter().copied(), *p) {
                    Some(id) => {
                        self.answer(id, Ok(Answer::Ips(ips.clone())))?;
                        self.answer(id, Ok(Answer::Ips(ips)))
                    }
                    None => Ok(()),
                }
            }
            NameOp::Stale { pick: p, fail } => {
                let ended = self.model.ended.clone();
                let id = pick(ended.iter().copied(), *p)
                    .unwrap_or(ResolveId::from_raw(u64::MAX - u64::from(*p)));
                if *fail {
                    self.answer(id, Err("SERVFAIL"))
                } else {
                    self.answer(id, Ok(Answer::Ips(vec![IPS[0]])))
                }
            }
            NameOp::Unknown { raw } => {
                // Ids are a slot and a generation; the core never issues one whose low 32
                // bits are 0.
                let id = ResolveId::from_raw((1 << 40) + (u64::from(*raw) << 32));
                self.answer(id, Ok(Answer::Txt(vec![txt_pool()[0].clone()])))
            }
            NameOp::Succeed { pick: p } => self.report(*p, true),
            NameOp::Fail { pick: p } => self.report(*p, false),
            NameOp::Cancel { pick: p } => {
                let callers = self.model.callers.clone();
                let Some(caller) = pick(callers.iter().copied(), *p) else {
                    return Ok(());
                };
                let result = self.dialer.cancel(self.now(), caller);
                ensure!(
                    result.is_ok(),
                    "R-R7: cancel of waiting {caller}: {result:?}"
                );
                self.settle(Vec::new(), Vec::new()).map(drop)
            }
            NameOp::Advance { millis } => {
                self.forward(Duration::from_millis(u64::from(*millis)));
                Ok(())
            }
            NameOp::Timeout => self.timeout(),
            NameOp::TimeoutAtDeadline => {
                if let Some(deadline) = self.dialer.poll_timeout() {
                    let at = deadline.saturating_duration_since(self.base);
                    self.clock = self.clock.max(at);
                    self.high = self.high.max(self.clock);
                }
                self.timeout()
            }
            NameOp::NetworkChanged => {
                self.dialer.network_changed(self.now());
                self.settle(Vec::new(), Vec::new()).map(drop)
            }
        }
    }

    fn dial(&mut self, peer: Peer, addrs: &[Multiaddr], opts: DialOpts) -> Result<(), Violation> {
        let now = self.now();
        let before = self.model.before_dial(&self.dialer, now, peer, addrs, opts);
        let result = self.dialer.dial(now, peer, addrs.iter().cloned(), opts);
        if let Ok(d) = &result {
            self.monitor.issued(d.caller)?;
        }
        let drained = self.monitor.drain(&mut self.dialer, now)?;
        let expected = self
            .model
            .dialed(before, peer, addrs, opts, &result, &drained)?;
        self.model
            .step(&self.dialer, now, &drained, expected, Vec::new())
    }

    fn answer(&mut self, id: ResolveId, result: Result<Answer, &str>) -> Result<(), Violation> {
        let before = self.snapshot();
        let now = self.now();
        let accepted = self.dialer.handle_resolved(now, id, result.clone()).is_ok();
        self.monitor.resolved(id, accepted)?;
        let failed = self.model.answered(now, id, &result, accepted)?;
        self.settle(Vec::new(), failed.into_iter().collect())?;
        if !accepted {
            let after = self.snapshot();
            let mut want = before.0;
            want.reports_ignored += 1;
            ensure!(
                after.0 == want,
                "bad input: a refused answer changed the stats: {:?} → {:?}",
                before.0,
                after.0
            );
            ensure!(
                after.1 == before.1,
                "bad input: a refused answer changed the next deadline"
            );
        }
        Ok(())
    }

    fn report(&mut self, p: u8, ok: bool) -> Result<(), Violation> {
        let dials: Vec<DialId> = self.model.dials.iter().map(|(d, _, _)| *d).collect();
        let Some(dial) = pick(dials.iter().copied(), p) else {
            return Ok(());
        };
        let now = self.now();
        let result = if ok {
            self.dialer.handle_dial_succeeded(now, dial)
        } else {
            self.dialer
                .handle_dial_failed(now, dial, "connection refused")
        };
        self.monitor.reported(dial, result.is_ok())?;
        self.model.dials.retain(|(d, _, _)| *d != dial);
        self.settle(Vec::new(), Vec::new()).map(drop)
    }

    fn timeout(&mut self) -> Result<(), Violation> {
        let now = self.now();
        self.dialer.handle_timeout(now);
        self.settle(Vec::new(), Vec::new())?;
        self.monitor.after_timeout(&mut self.dialer, now)?;
        let now = self.model.now.unwrap_or(now);
        self.model.nothing_overdue(now)
    }

    fn snapshot(&mut self) -> (Stats, Option<Instant>) {
        (self.dialer.stats(), self.dialer.poll_timeout())
    }

    /// Runs time past every deadline (answering nothing more: every lookup and dial
    /// times out) and checks that nothing is left: no request, lookup, dial or caller.
    pub fn finish(mut self) -> Result<NameCoverage, Violation> {
        let mut steps = 0;
        while let Some(deadline) = self.dialer.poll_timeout() {
            steps += 1;
            ensure!(
                steps <= MAX_DRAIN_STEPS,
                "invariant 5: still busy after {MAX_DRAIN_STEPS} deadlines (livelock)"
            );
            let at = deadline.saturating_duration_since(self.base);
            self.clock = self.clock.max(at);
            self.timeout()?;
        }
        self.monitor.finish(&self.dialer)?;
        ensure!(
            self.dialer.resolves_in_flight() == 0 && self.model.lookups.is_empty(),
            "R-N1: {} lookups left ({} in the model)",
            self.dialer.resolves_in_flight(),
            self.model.lookups.len()
        );
        ensure!(
            self.model.requests.is_empty() && self.model.callers.is_empty(),
            "invariant 5: {} requests and {} callers left in the model",
            self.model.requests.len(),
            self.model.callers.len()
        );
        Ok(self.model.coverage)
    }
}

/// Applies `ops` to a fresh dialer with `spec`, checking everything after every step, then
/// runs time out (see [`NameHarness::finish`]). Returns what the run covered.
pub fn run_names(spec: &NamesSpec, ops: &[NameOp]) -> Result<NameCoverage, Violation> {
    let mut harness = NameHarness::new(spec)?;
    for (i, op) in ops.iter().enumerate() {
        harness
            .step(op)
            .map_err(|v| Violation(format!("step {i} ({op:?}): {v}")))?;
    }
    harness
        .finish()
        .map_err(|v| Violation(format!("after the last step: {v}")))
}

/// Fuzz target `names`: bytes → a [`NamesSpec`] and up to [`MAX_NAME_OPS`] [`NameOp`]s,
/// applied with every invariant and names rule checked after every step (see
/// [`run_names`]). Input that does not make a spec is not interesting.
pub fn names_target(data: &[u8]) -> Result<(), Violation> {
    match decode_names(data) {
        Some((spec, ops)) => run_names(&spec, &ops).map(drop),
        None => Ok(()),
    }
}

/// What [`names_target`] makes of `data`.
pub fn decode_names(data: &[u8]) -> Option<(NamesSpec, Vec<NameOp>)> {
    let mut u = arbitrary::Unstructured::new(data);
    let spec = NamesSpec::arbitrary(&mut u).ok()?;
    Some((spec, crate::ops::decode_ops(&mut u, MAX_NAME_OPS)))
}
