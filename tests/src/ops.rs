//! The operation interpreter shared by the property tests and the fuzz targets.
//!
//! An [`Op`] is one call into the dialer's API (or a move of the simulated clock). [`run`]
//! applies a sequence of them to a fresh [`Dialer`] and, after **every** step, drains the
//! outputs through the crate's one invariant checker ([`Monitor`], SPEC invariants 1-7)
//! and through a small reference model (`tests/src/model.rs`) that recomputes, from the
//! outputs alone, what the rules say must have happened (tokens granted, addresses
//! admitted and their order, confidence, deny list, pruning, timeouts, outcomes).
//! At the end it runs time past every deadline and checks that nothing is left over.
//!
//! The vocabulary is deliberately small so that random sequences collide: 4 peers and 18
//! addresses: private and loopback ones (never evidence for black holes), public IPv4,
//! IPv6 and QUIC ones and a relayed one (so that black holes, R-B, and the interleaved
//! order, R-R1a, are exercised), and two the dialable predicate rejects (QUIC to a
//! private address).

use crate::idmap::IdMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use dialer_core::check::{Drained, Monitor, Violation};
use dialer_core::{
    AdaptiveTimeout, AddrClass, BlackHoles, CallerId, Config, DialId, DialOpts, Dialer, HeadStart,
    Multiaddr, Priority, RequestId, Stats, WaitForTokens,
};
use multiaddr::Protocol;

use crate::model::{is_public, Expected, Model};

/// Peer ids in the interpreter: small integers, so that requests for one peer collide.
pub type Peer = u8;

/// How many distinct peers the ops name.
pub const PEERS: u8 = 4;

/// The most addresses one op passes to [`Dialer::dial`]: above the default
/// `max_addrs_per_request` (25), so that R-R9 is reachable with every config.
pub const MAX_LIST: usize = 32;

/// The most steps the end-of-run drive may take before it is called a livelock.
const MAX_DRAIN_STEPS: usize = 100_000;

/// The furthest the ops move the clock (~35,000 years): far beyond every duration a
/// config accepts, and far from `Instant` overflow. The end-of-run drive may go a little
/// further, to the last deadline.
const MAX_CLOCK: Duration = Duration::from_secs(1 << 40);

const POOL: [&str; 18] = [
    "/ip4/10.0.0.1/tcp/4001",
    "/ip4/10.0.0.2/tcp/4001",
    "/ip4/10.0.0.3/tcp/4002",
    "/ip6/::1/tcp/4001",
    "/ip6/fe80::1/tcp/4003",
    "/dns4/a.example/tcp/443",
    "/dns/b.example/tcp/443",
    "/ip4/10.0.0.9/tcp/9",
    "/ip4/10.0.0.1/udp/4001/quic-v1",
    "/ip6/::1/udp/4001/quic-v1",
    "/ip4/16.0.0.1/tcp/4001",
    "/ip6/2600::1/tcp/4001",
    "/ip4/16.0.0.2/tcp/4001",
    "/ip6/2600::2/tcp/4001",
    "/ip6/2600::1/udp/4001/quic-v1",
    "/ip4/16.0.0.3/udp/4001/quic-v1",
    "/ip6/2600::3/udp/4002/quic-v1",
    "/ip4/16.0.0.1/tcp/1/p2p-circuit",
];

/// The address pool the ops pick from (by index modulo its length).
pub fn address_pool() -> &'static [Multiaddr] {
    static POOL_ADDRS: OnceLock<Vec<Multiaddr>> = OnceLock::new();
    POOL_ADDRS.get_or_init(|| {
        POOL.iter()
            .map(|s| s.parse().expect("the pool's addresses are valid"))
            .collect()
    })
}

/// The interpreter's transport: TCP anywhere, QUIC to public addresses only (R-A2).
pub fn dialable(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::Tcp(_)))
        || (addr.iter().any(|p| matches!(p, Protocol::QuicV1)) && is_public(addr))
}

/// The classes [`Op::Dark`] can take down: public IPv6, and public UDP.
fn dark_class(addr: &Multiaddr) -> u8 {
    if !is_public(addr) {
        return 0;
    }
    let v6 = addr.iter().any(|p| matches!(p, Protocol::Ip6(_)));
    let udp = addr.iter().any(|p| matches!(p, Protocol::Udp(_)));
    u8::from(v6) | u8::from(udp) << 1
}

/// A count setting: tiny, the default, or as large as `usize` goes.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 1.
    One,
    /// 2.
    Two,
    /// 1 ..= 16.
    Small(u8),
    /// The SPEC's default.
    Default,
    /// `usize::MAX`.
    Huge,
}

impl Size {
    fn get(self, default: usize) -> usize {
        match self {
            Self::One => 1,
            Self::Two => 2,
            Self::Small(n) => 1 + usize::from(n % 16),
            Self::Default => default,
            Self::Huge => usize::MAX,
        }
    }
}

/// A table capacity: off, tiny, the default, or unbounded in practice.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// 0: the table is disabled.
    Off,
    /// 1.
    One,
    /// 0 ..= 15.
    Small(u8),
    /// The default.
    Default,
    /// `usize::MAX`.
    Huge,
}

impl Cap {
    fn get(self, default: usize) -> usize {
        match self {
            Self::Off => 0,
            Self::One => 1,
            Self::Small(n) => usize::from(n % 16),
            Self::Default => default,
            Self::Huge => usize::MAX,
        }
    }
}

/// A duration setting, always within [`Config::validate`]'s limits (1 ns ..= 2^30 s).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// 1 ns: everything times out at the next tick.
    Nano,
    /// 1 ..= 65 535 ms.
    Millis(u16),
    /// 1 ..= 65 535 s.
    Secs(u16),
    /// The SPEC's default for the setting.
    Default,
    /// The longest duration a config accepts.
    Max,
}

/// The longest duration [`Config::validate`] accepts (~34 years).
pub const MAX_SPAN: Duration = Duration::from_secs(1 << 30);

impl Span {
    pub(crate) fn get(self, default: Duration) -> Duration {
        match self {
            Self::Nano => Duration::from_nanos(1),
            Self::Millis(n) => Duration::from_millis(u64::from(n.max(1))),
            Self::Secs(n) => Duration::from_secs(u64::from(n.max(1))),
            Self::Default => default,
            Self::Max => MAX_SPAN,
        }
    }
}

/// A `head_start` setting, always valid.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadStartSpec {
    /// [`HeadStart::default`].
    Default,
    /// `None`: the seed's parallel start everywhere.
    Off,
    /// Any percentage (at least 100) and two spans, the shorter as `min`.
    Custom {
        /// `rtt_percent` above 100: 0 reads as 100, 255 as 355.
        rtt_over: u8,
        /// One bound.
        a: Span,
        /// The other bound.
        b: Span,
    },
}

impl HeadStartSpec {
    fn get(self) -> Option<HeadStart> {
        let d = HeadStart::default();
        match self {
            Self::Default => Some(d),
            Self::Off => None,
            Self::Custom { rtt_over, a, b } => {
                let (a, b) = (a.get(d.min), b.get(d.max));
                Some(HeadStart {
                    rtt_percent: 100 + u32::from(rtt_over),
                    min: a.min(b),
                    max: a.max(b),
                })
            }
        }
    }
}

/// An arbitrary but valid [`Config`]: tiny pools, one dial per peer, stagger on or off,
/// tiny and huge caps and durations.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigSpec {
    /// `max_tokens`.
    pub max_tokens: Size,
    /// `max_per_peer_dials`.
    pub max_per_peer_dials: Size,
    /// `max_addrs_per_request`.
    pub max_addrs_per_request: Size,
    /// `dial_timeout`.
    pub dial_timeout: Span,
    /// `address_timeout`.
    pub address_timeout: Span,
    /// `deny_duration`.
    pub deny_duration: Span,
    /// `prune_duration`.
    pub prune_duration: Span,
    /// `stagger` (its `Default` is RFC 8305's 250 ms).
    pub stagger: Option<Span>,
    /// `head_start`.
    pub head_start: HeadStartSpec,
    /// `confidence_capacity`.
    pub confidence_capacity: Cap,
    /// `deny_list_capacity`.
    pub deny_list_capacity: Cap,
    /// `deny_growth` (R-D4).
    pub deny_growth: Growth,
    /// `deny_max` (R-D4).
    pub deny_max: Span,
    /// `prune_after_failures` (R-C5).
    pub prune_after_failures: PruneAfter,
    /// `adaptive_timeout` (R-R6b).
    pub adaptive: AdaptiveSpec,
    /// `black_holes` (R-B).
    pub black_holes: BlackHoleSpec,
    /// `interleave` (R-R1a).
    pub interleave: bool,
    /// `wait_for_tokens` (R-Q1); last, so that inputs from before it decode as before
    /// with one zero byte (`None`) inserted after the other fields.
    pub wait_for_tokens: Option<WaitSpec>,
}

/// A `wait_for_tokens` setting (R-Q1), always valid: a short queue, so that it fills
/// with 4 peers, and any `max_wait`, shorter or longer than `dial_timeout`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitSpec {
    /// `queue`, 1 ..= 4.
    pub queue: u8,
    /// `max_wait` (its `Default` is 10 s).
    pub max_wait: Span,
}

impl WaitSpec {
    fn get(self) -> WaitForTokens {
        WaitForTokens {
            queue: 1 + usize::from(self.queue % 4),
            max_wait: self.max_wait.get(WaitForTokens::default().max_wait),
        }
    }
}

/// A `deny_growth` setting (R-D4), always valid (at least 1).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// 1: no growth, the seed's fixed deny time.
    One,
    /// 2, the default.
    Default,
    /// 1 ..= 16.
    Small(u8),
    /// `u32::MAX`: the second failure in a row is already at `deny_max`.
    Huge,
}

impl Growth {
    fn get(self) -> u32 {
        match self {
            Self::One => 1,
            Self::Default => 2,
            Self::Small(n) => 1 + u32::from(n % 16),
            Self::Huge => u32::MAX,
        }
    }
}

/// A `prune_after_failures` setting (R-C5).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneAfter {
    /// 0: the first failure to confidence 0 can prune.
    Zero,
    /// 1.
    One,
    /// 2, the default.
    Default,
    /// Any value (255: never in a short run).
    Any(u8),
}

impl PruneAfter {
    fn get(self) -> u8 {
        match self {
            Self::Zero => 0,
            Self::One => 1,
            Self::Default => 2,
            Self::Any(n) => n,
        }
    }
}

/// An `adaptive_timeout` setting (R-R6b), always valid.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdaptiveSpec {
    /// `None`: every dial has the fixed `address_timeout`.
    Off,
    /// [`AdaptiveTimeout::default`] (32 samples first: rarely reached in a short run).
    Default,
    /// Measured after a few connects already, so that short inputs reach it.
    Quick {
        /// `min_samples`, 0 ..= 7.
        min_samples: u8,
        /// `percentile`, 1 ..= 100.
        percentile: u8,
        /// `margin`, 1 ..= 4.
        margin: u8,
        /// `syn_retry`.
        syn_retry: Span,
        /// `window`, 1 ..= 64.
        window: u8,
    },
}

impl AdaptiveSpec {
    fn get(self) -> Option<AdaptiveTimeout> {
        match self {
            Self::Off => None,
            Self::Default => Some(AdaptiveTimeout::default()),
            Self::Quick {
                min_samples,
                percentile,
                margin,
                syn_retry,
                window,
            } => Some(AdaptiveTimeout {
                percentile: 1 + percentile % 100,
                margin: 1 + u32::from(margin % 4),
                syn_retry: syn_retry.get(Duration::from_secs(1)),
                min_samples: u32::from(min_samples % 8),
                window: 1 + u32::from(window % 64),
            }),
        }
    }
}

/// A `black_holes` setting (R-B), always valid.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlackHoleSpec {
    /// [`BlackHoles::default`]: IPv6 and UDP, window 100 (rarely full in a short run).
    Default,
    /// [`BlackHoles::off`].
    Off,
    /// Small windows, so that a short run fills them.
    Small {
        /// Bit 0 IPv6, 1 UDP, 2 `quic-v1`, 3 `p2p-circuit`; none: detection off.
        classes: u8,
        /// The window, 1 ..= 8.
        window: u8,
        /// Successes it needs, 0 ..= window.
        min_successes: u8,
    },
}

impl BlackHoleSpec {
    fn get(self) -> BlackHoles {
        match self {
            Self::Default => BlackHoles::default(),
            Self::Off => BlackHoles::off(),
            Self::Small {
                classes,
                window,
                min_successes,
            } => {
                let all = [
                    AddrClass::Ip6,
                    AddrClass::Udp,
                    AddrClass::Protocol("quic-v1"),
                    AddrClass::Protocol("p2p-circuit"),
                ];
                let window = 1 + window % 8;
                BlackHoles {
                    classes: all
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| classes & (1 << i) != 0)
                        .map(|(_, c)| *c)
                        .collect(),
                    window: u16::from(window),
                    min_successes: u16::from(min_successes % (window + 1)),
                }
            }
        }
    }
}

impl Default for ConfigSpec {
    /// The SPEC's defaults.
    fn default() -> Self {
        Self {
            max_tokens: Size::Default,
            max_per_peer_dials: Size::Default,
            max_addrs_per_request: Size::Default,
            dial_timeout: Span::Default,
            address_timeout: Span::Default,
            deny_duration: Span::Default,
            prune_duration: Span::Default,
            stagger: None,
            head_start: HeadStartSpec::Default,
            confidence_capacity: Cap::Default,
            deny_list_capacity: Cap::Default,
            deny_growth: Growth::Default,
            deny_max: Span::Default,
            prune_after_failures: PruneAfter::Default,
            adaptive: AdaptiveSpec::Default,
            black_holes: BlackHoleSpec::Default,
            interleave: true,
            wait_for_tokens: None,
        }
    }
}

impl ConfigSpec {
    /// The config this spec describes.
    pub fn config(&self) -> Config {
        let d = Config::default();
        Config::default()
            .with_max_tokens(self.max_tokens.get(d.max_tokens))
            .with_max_per_peer_dials(self.max_per_peer_dials.get(d.max_per_peer_dials))
            .with_max_addrs_per_request(self.max_addrs_per_request.get(d.max_addrs_per_request))
            .with_dial_timeout(self.dial_timeout.get(d.dial_timeout))
            .with_address_timeout(self.address_timeout.get(d.address_timeout))
            .with_deny_duration(self.deny_duration.get(d.deny_duration))
            .with_prune_duration(self.prune_duration.get(d.prune_duration))
            .with_stagger(self.stagger.map(|s| s.get(Duration::from_millis(250))))
            .with_head_start(self.head_start.get())
            .with_confidence_capacity(self.confidence_capacity.get(d.confidence_capacity))
            .with_deny_list_capacity(self.deny_list_capacity.get(d.deny_list_capacity))
            .with_deny_growth(self.deny_growth.get())
            .with_deny_max(self.deny_max.get(d.deny_max))
            .with_prune_after_failures(self.prune_after_failures.get())
            .with_adaptive_timeout(self.adaptive.get())
            .with_black_holes(self.black_holes.get())
            .with_interleave(self.interleave)
            .with_wait_for_tokens(self.wait_for_tokens.map(WaitSpec::get))
    }
}

/// Ops decoded from what is left of `u`, up to `max`, stopping at the first that does not
/// decode: how the fuzz targets `machine` and `names` read their inputs.
pub fn decode_ops<'a, T: Arbitrary<'a>>(u: &mut arbitrary::Unstructured<'a>, max: usize) -> Vec<T> {
    let mut ops = Vec::new();
    while ops.len() < max && !u.is_empty() {
        match T::arbitrary(u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// One call into the dialer's API, or a move of the clock.
///
/// Ops that name something (`pick`) choose among what exists at that moment (open dials,
/// waiting callers, peers in flight) by index modulo their number; when nothing exists
/// they fall back to the closest meaningful call, usually one about an unknown id.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A request for `peer` (a join if one is already in flight) with pool addresses
    /// picked by index, duplicates and undialable ones included.
    Dial {
        /// Peer, modulo [`PEERS`].
        peer: u8,
        /// Indices into [`address_pool`]; at most [`MAX_LIST`] are used.
        addrs: Vec<u8>,
        /// [`Priority::High`] instead of normal.
        high: bool,
    },
    /// A second caller for a peer already in flight (R-R8), with more addresses.
    Join {
        /// Which in-flight peer.
        pick: u8,
        /// Indices into [`address_pool`].
        addrs: Vec<u8>,
    },
    /// A waiting caller cancels (R-R7).
    Cancel {
        /// Which waiting caller.
        pick: u8,
    },
    /// A cancel for a caller that already finished, or was never issued.
    CancelUnknown {
        /// Which finished caller.
        pick: u8,
        /// Use an id the core never issued instead.
        never_issued: bool,
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
    /// An open dial is reported twice (the second must be refused).
    ReportTwice {
        /// Which open dial.
        pick: u8,
        /// The first report is a success.
        first_ok: bool,
        /// The second report is a success.
        second_ok: bool,
    },
    /// A report for a dial the core aborted.
    ReportAborted {
        /// Which aborted dial.
        pick: u8,
        /// Report a success (a connection that completed after its abort).
        ok: bool,
    },
    /// A report for a dial id the core never issued.
    ReportUnknown {
        /// Picks an id the core never issues (`0`, or one whose low 32 bits are 0).
        raw: u16,
        /// Report a success.
        ok: bool,
    },
    /// The clock moves forward by up to 65 s.
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// The clock moves forward by up to ~68 years.
    AdvanceLarge {
        /// Seconds, modulo 2^31.
        secs: u32,
    },
    /// The clock moves backward (the core must treat it as no time passing).
    Rewind {
        /// Milliseconds.
        millis: u32,
    },
    /// `handle_timeout(now)`, due or not.
    Timeout,
    /// The clock jumps to `poll_timeout()` and `handle_timeout` runs there.
    TimeoutAtDeadline,
    /// `export_confidence` → `import_confidence`, into a fresh dialer and into this one.
    RoundTrip,
    /// `import_confidence` of one entry, values above 10 included (clamped).
    Import {
        /// Index into [`address_pool`].
        addr: u8,
        /// The value.
        value: u8,
    },
    /// A dial with `DialOpts::ignore_backoff` (R-D7): a new request, or a join that
    /// upgrades the request in flight.
    Force {
        /// Peer, modulo [`PEERS`].
        peer: u8,
        /// Indices into [`address_pool`].
        addrs: Vec<u8>,
    },
    /// A class of the pool goes dark (bit 0: public IPv6, bit 1: public UDP): until
    /// [`Op::Light`], reported outcomes of its dials are failures (`hang`: reports of
    /// its dials are held back, so they time out).
    Dark {
        /// Which classes.
        classes: u8,
        /// Hang instead of failing.
        hang: bool,
    },
    /// Dark classes come back.
    Light {
        /// Which classes.
        classes: u8,
    },
    /// Every open dial of a dark class fails now (unless it hangs).
    FailDark,
    /// A slow answer: the clock moves on by `millis` (near an adaptive timeout, R-R6b),
    /// `handle_timeout` runs there or not, then an open dial connects.
    Late {
        /// Which open dial.
        pick: u8,
        /// How late, in milliseconds.
        millis: u16,
        /// Handle the timers first (the dial may be cut or spared).
        timeout_first: bool,
    },
    /// `network_changed` (R-D4b).
    NetworkChanged,
    /// `handle_peer_connected` (R-D4a), for a peer in flight or any.
    PeerConnected {
        /// Which peer (in flight first).
        pick: u8,
        /// Indices into [`address_pool`].
        addrs: Vec<u8>,
    },
    /// `lift_prune` (R-C5a): of a prune mark the model knows (even `peer`), or of any pair.
    LiftPrune {
        /// Peer, modulo [`PEERS`]; even: lift a known mark.
        peer: u8,
        /// Which mark, or index into [`address_pool`].
        addr: u8,
    },
}

/// How often the interesting paths were taken in a run, so tests can assert that their
/// generators reach them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Requests started (new, not joined).
    pub requests: u64,
    /// Callers that joined a request in flight.
    pub joins: u64,
    /// `NoTokens` rejections (R-T4).
    pub no_tokens: u64,
    /// High-priority overdrafts (R-P1).
    pub overdrafts: u64,
    /// `NoDialableAddresses` rejections (R-R2).
    pub no_dialable: u64,
    /// Requests refused because every address left was deny-listed (R-D6).
    pub backed_off: u64,
    /// `TooManyAddresses` rejections (R-R9).
    pub too_many: u64,
    /// Dials started.
    pub dials: u64,
    /// Accepted success reports.
    pub successes: u64,
    /// Accepted failure reports.
    pub failures: u64,
    /// Address timeouts (R-R6a).
    pub address_timeouts: u64,
    /// Request timeouts (R-R6).
    pub request_timeouts: u64,
    /// Caller cancels accepted.
    pub cancels: u64,
    /// Reports the core refused (late, duplicate, unknown).
    pub refused_reports: u64,
    /// Addresses pruned (R-C5).
    pub prunes: u64,
    /// Requests that ended with every address failed (R-R5).
    pub all_failed: u64,
    /// A dial started while another of the same request was in flight, with a stagger
    /// set (R-S1).
    pub staggered: u64,
    /// Requests whose proven first address dialed alone first (`HeadStart`).
    pub head_starts: u64,
    /// Addresses admitted again after their prune mark expired (`prune_duration`).
    pub prunes_expired: u64,
    /// Deny entries longer than `deny_duration`: a failure beyond the first in a row (R-D4).
    pub grown_denies: u64,
    /// Black-hole classes blocked (R-B2).
    pub black_hole_blocked: u64,
    /// Requests that probe a blocked class (R-B2).
    pub black_hole_probes: u64,
    /// Probes that ended without their dial starting, owed to the next request (R-B2).
    pub probes_owed: u64,
    /// Blocked classes unblocked by a success (R-B2).
    pub black_hole_unblocked: u64,
    /// `BlackHoled` refusals (R-B3).
    pub black_holed: u64,
    /// Dials cut by an adaptive timeout before `address_timeout` (R-R6b).
    pub cuts: u64,
    /// Dials spared at their adaptive deadline (`Stats::dials_spared`, R-R6b).
    pub spares: u64,
    /// Patient dials: their address's last dial was cut (R-R6b).
    pub full_after_cut: u64,
    /// Spared dials cut to lend their token to a new request (R-R6b).
    pub reclaims: u64,
    /// Successes of possibly adaptive dials at or after `address_timeout` (R-R6b).
    pub late_answers: u64,
    /// Callers that found their peer's request past its dial_timeout and started a new one
    /// (issue item 0).
    pub restarts: u64,
    /// Requests started with `ignore_backoff` (R-D7).
    pub forced: u64,
    /// `handle_peer_connected` calls (R-D4a).
    pub peer_connected: u64,
    /// `network_changed` calls (R-D4b).
    pub network_changes: u64,
    /// Prune marks lifted by `lift_prune` (R-C5a).
    pub prunes_lifted: u64,
    /// Requests that waited in the queue for tokens (R-Q1).
    pub queued: u64,
    /// Waiting requests served with released tokens (R-Q1, R-T8).
    pub served: u64,
    /// Waits that ran out: `NoTokensInTime` (R-Q1).
    pub wait_timeouts: u64,
    /// Waits that ended with `Timeout`: dial_timeout came before max_wait (R-Q1, R-R6).
    pub wait_dial_timeouts: u64,
    /// `NoTokens` refusals because the queue was full (R-Q1).
    pub queue_full: u64,
    /// Waiting requests whose last caller cancelled (R-Q1, R-R7).
    pub queued_cancels: u64,
    /// Normal callers that joined a waiting request (R-Q1, R-R8).
    pub queued_joins: u64,
    /// Waiting requests a high-priority caller took out of the queue (R-Q1, R-P1).
    pub queue_takeouts: u64,
}

impl Coverage {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.joins += other.joins;
        self.no_tokens += other.no_tokens;
        self.overdrafts += other.overdrafts;
        self.no_dialable += other.no_dialable;
        self.backed_off += other.backed_off;
        self.too_many += other.too_many;
        self.dials += other.dials;
        self.successes += other.successes;
        self.failures += other.failures;
        self.address_timeouts += other.address_timeouts;
        self.request_timeouts += other.request_timeouts;
        self.cancels += other.cancels;
        self.refused_reports += other.refused_reports;
        self.prunes += other.prunes;
        self.all_failed += other.all_failed;
        self.staggered += other.staggered;
        self.head_starts += other.head_starts;
        self.prunes_expired += other.prunes_expired;
        self.grown_denies += other.grown_denies;
        self.black_hole_blocked += other.black_hole_blocked;
        self.black_hole_probes += other.black_hole_probes;
        self.probes_owed += other.probes_owed;
        self.black_hole_unblocked += other.black_hole_unblocked;
        self.black_holed += other.black_holed;
        self.cuts += other.cuts;
        self.spares += other.spares;
        self.full_after_cut += other.full_after_cut;
        self.reclaims += other.reclaims;
        self.late_answers += other.late_answers;
        self.restarts += other.restarts;
        self.forced += other.forced;
        self.peer_connected += other.peer_connected;
        self.network_changes += other.network_changes;
        self.prunes_lifted += other.prunes_lifted;
        self.queued += other.queued;
        self.served += other.served;
        self.wait_timeouts += other.wait_timeouts;
        self.wait_dial_timeouts += other.wait_dial_timeouts;
        self.queue_full += other.queue_full;
        self.queued_cancels += other.queued_cancels;
        self.queued_joins += other.queued_joins;
        self.queue_takeouts += other.queue_takeouts;
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure;

/// A dialer driven through the [`Monitor`] and the reference model, one [`Op`] at a time.
#[derive(Debug)]
pub struct Harness {
    dialer: Dialer<Peer>,
    monitor: Monitor<Peer>,
    model: Model,
    base: Instant,
    clock: Duration,
    /// The latest clock ever given to the core (the clock itself may have been rewound).
    high: Duration,
    /// Dark classes (see [`Op::Dark`]): bit 0 public IPv6, bit 1 public UDP.
    dark: u8,
    /// Of those, the ones whose dials hang rather than fail.
    hang: u8,
}

pub(crate) fn pick<T: Copy>(items: impl ExactSizeIterator<Item = T>, pick: u8) -> Option<T> {
    let len = items.len();
    let mut items = items;
    if len == 0 {
        None
    } else {
        items.nth(usize::from(pick) % len)
    }
}

fn addresses(indices: &[u8]) -> Vec<Multiaddr> {
    let pool = address_pool();
    indices
        .iter()
        .take(MAX_LIST)
        .map(|&i| pool[usize::from(i) % pool.len()].clone())
        .collect()
}

impl Harness {
    /// A fresh dialer with `config` and the TCP-only dialable predicate.
    pub fn new(config: Config) -> Result<Self, Violation> {
        let dialer = Dialer::new(config.clone())
            .map_err(|e| Violation(format!("valid config {config:?} refused: {e}")))?
            .with_dialable(dialable);
        Ok(Self {
            dialer,
            monitor: Monitor::new(),
            model: Model::new(config),
            base: Instant::now(),
            clock: Duration::ZERO,
            high: Duration::ZERO,
            dark: 0,
            hang: 0,
        })
    }

    /// The dialer under test.
    pub fn dialer(&self) -> &Dialer<Peer> {
        &self.dialer
    }

    /// What the run has covered so far.
    pub fn coverage(&self) -> Coverage {
        self.model.coverage
    }

    /// The simulated clock (it may be behind the core's, after a rewind).
    pub fn now(&self) -> Instant {
        self.base + self.clock
    }

    /// Dials the runtime still has open.
    pub fn open_dials(&self) -> IdMap<DialId, RequestId> {
        self.model.open_dials()
    }

    /// Drains and checks everything after one input.
    fn settle(&mut self, expected: Expected) -> Result<Drained<Peer>, Violation> {
        let now = self.now();
        let drained = self.monitor.drain(&mut self.dialer, now)?;
        self.model.observe(&self.dialer, now, expected, &drained)?;
        Ok(drained)
    }

    /// Applies one op and checks every invariant and rule afterwards.
    pub fn step(&mut self, op: &Op) -> Result<(), Violation> {
        match op {
            Op::Dial { peer, addrs, high } => {
                let priority = if *high {
                    Priority::High
                } else {
                    Priority::Normal
                };
                self.dial(peer % PEERS, &addresses(addrs), priority.into())
            }
            Op::Join { pick: p, addrs } => {
                let peer = pick(self.model.peers_in_flight().into_iter(), *p).unwrap_or(p % PEERS);
                self.dial(peer, &addresses(addrs), DialOpts::default())
            }
            Op::Cancel { pick: p } => {
                let caller = pick(self.model.waiting_callers().into_iter(), *p)
                    .unwrap_or(CallerId::from_raw(u64::MAX - u64::from(*p)));
                self.cancel(caller)
            }
            Op::CancelUnknown {
                pick: p,
                never_issued,
            } => {
                let finished = self.model.finished_callers();
                let caller = match pick(finished.iter().copied(), *p) {
                    Some(c) if !never_issued => c,
                    // The core never issues an id whose low 32 bits are 0 (ids are a
                    // slot and a generation, and slots reuse: `(1 << 40) + p` could be live).
                    _ => CallerId::from_raw((1 << 40) + (u64::from(*p) << 32)),
                };
                self.cancel(caller)
            }
            Op::Succeed { pick: p } => {
                let dial = self.pick_open(*p);
                self.outcome(dial, true)
            }
            Op::Fail { pick: p } => {
                let dial = self.pick_open(*p);
                self.outcome(dial, false)
            }
            Op::ReportTwice {
                pick: p,
                first_ok,
                second_ok,
            } => {
                let dial = self.pick_open(*p);
                if self.hangs(dial) {
                    return Ok(());
                }
                let first_ok = *first_ok && !self.is_dark(dial);
                self.report(dial, first_ok)?;
                self.report(dial, *second_ok)
            }
            Op::ReportAborted { pick: p, ok } => {
                let aborted = self.model.aborted_dials();
                let dial = pick(aborted.iter().copied(), *p)
                    .unwrap_or(DialId::from_raw(u64::MAX - u64::from(*p)));
                self.report(dial, *ok)
            }
            Op::ReportUnknown { raw, ok } => {
                let dial = if *raw == 0 {
                    DialId::from_raw(0)
                } else {
                    DialId::from_raw((1 << 40) + (u64::from(*raw) << 32))
                };
                self.report(dial, *ok)
            }
            Op::Advance { millis } => {
                self.forward(Duration::from_millis(u64::from(*millis)));
                Ok(())
            }
            Op::AdvanceLarge { secs } => {
                self.forward(Duration::from_secs(u64::from(*secs % (1 << 31))));
                Ok(())
            }
            Op::Rewind { millis } => {
                self.clock = self
                    .clock
                    .saturating_sub(Duration::from_millis(u64::from(*millis)));
                Ok(())
            }
            Op::Timeout => self.timeout(),
            Op::TimeoutAtDeadline => {
                if let Some(deadline) = self.dialer.poll_timeout() {
                    let at = deadline.saturating_duration_since(self.base);
                    self.set_clock(self.clock.max(at).min(MAX_CLOCK));
                }
                self.timeout()
            }
            Op::RoundTrip => self.round_trip(),
            Op::Import { addr, value } => {
                let pool = address_pool();
                let addr = pool[usize::from(*addr) % pool.len()].clone();
                self.dialer.import_confidence([(addr.clone(), *value)]);
                self.settle(Expected::Import(vec![(addr, *value)]))
                    .map(drop)
            }
            Op::Force { peer, addrs } => self.dial(
                peer % PEERS,
                &addresses(addrs),
                DialOpts::default().with_ignore_backoff(true),
            ),
            Op::Dark { classes, hang } => {
                let classes = classes & 3;
                self.dark |= classes;
                if *hang {
                    self.hang |= classes;
                } else {
                    self.hang &= !classes;
                }
                Ok(())
            }
            Op::Light { classes } => {
                self.dark &= !classes;
                self.hang &= !classes;
                Ok(())
            }
            Op::FailDark => {
                let dark: Vec<DialId> = self
                    .model
                    .open_dial_addrs()
                    .into_iter()
                    .filter(|(_, a)| dark_class(a) & self.dark & !self.hang != 0)
                    .map(|(d, _)| d)
                    .collect();
                for dial in dark {
                    // An earlier failure may have ended the request (and aborted this).
                    if self.model.open_dials().contains_key(&dial) {
                        self.report(dial, false)?;
                    }
                }
                Ok(())
            }
            Op::Late {
                pick: p,
                millis,
                timeout_first,
            } => {
                let dial = self.pick_open(*p);
                self.forward(Duration::from_millis(u64::from(*millis)));
                if *timeout_first {
                    self.timeout()?;
                }
                self.outcome(dial, true)
            }
            Op::NetworkChanged => {
                self.dialer.network_changed(self.now());
                self.model.coverage.network_changes += 1;
                self.settle(Expected::NetworkChanged).map(drop)
            }
            Op::PeerConnected { pick: p, addrs } => {
                let peer = pick(self.model.peers_in_flight().into_iter(), *p).unwrap_or(p % PEERS);
                let addrs = addresses(addrs);
                let now = self.now();
                self.dialer.handle_peer_connected(now, &peer, addrs.iter());
                self.model.peer_connected(now, peer, &addrs);
                self.settle(Expected::Quiet).map(drop)
            }
            Op::LiftPrune { peer, addr } => {
                // A live or expired mark if there is one, else any pair.
                let marks = self.model.prune_marks();
                let pool = address_pool();
                let (peer, addr) = match marks.get(usize::from(*addr) % marks.len().max(1)) {
                    Some(mark) if peer % 2 == 0 => mark.clone(),
                    _ => (peer % PEERS, pool[usize::from(*addr) % pool.len()].clone()),
                };
                let result = self.dialer.lift_prune(&peer, &addr);
                self.settle(Expected::LiftPrune { peer, addr, result })
                    .map(drop)
            }
        }
    }

    /// Whether `dial`'s address is in a dark class (see [`Op::Dark`]).
    fn is_dark(&self, dial: DialId) -> bool {
        self.model
            .open_dial_addrs()
            .into_iter()
            .any(|(d, a)| d == dial && dark_class(&a) & self.dark != 0)
    }

    /// Whether `dial`'s address is in a dark class that hangs.
    fn hangs(&self, dial: DialId) -> bool {
        self.model
            .open_dial_addrs()
            .into_iter()
            .any(|(d, a)| d == dial && dark_class(&a) & self.hang != 0)
    }

    /// The runtime's answer for `dial`: `ok` unless its class is dark (a failure), or
    /// none at all if its class hangs.
    fn outcome(&mut self, dial: DialId, ok: bool) -> Result<(), Violation> {
        if self.hangs(dial) {
            return Ok(());
        }
        let ok = ok && !self.is_dark(dial);
        self.report(dial, ok)
    }

    fn pick_open(&self, p: u8) -> DialId {
        pick(self.model.open_dials().keys().copied(), p)
            .unwrap_or(DialId::from_raw((1 << 41) + (u64::from(p) << 32)))
    }

    fn forward(&mut self, by: Duration) {
        self.set_clock(self.clock.saturating_add(by).min(MAX_CLOCK));
    }

    fn set_clock(&mut self, clock: Duration) {
        self.clock = clock;
        self.high = self.high.max(clock);
    }

    fn dial(&mut self, peer: Peer, addrs: &[Multiaddr], opts: DialOpts) -> Result<(), Violation> {
        let now = self.now();
        let expected = self.model.expect_dial(now, peer, addrs, opts);
        let result = self
            .dialer
            .dial(now, peer, addrs.iter().cloned(), opts)
            .map(|dialing| dialing.caller);
        if let Ok(caller) = &result {
            self.monitor.issued(*caller)?;
        }
        self.settle(Expected::Dial {
            expected,
            result,
            peer,
        })
        .map(drop)
    }

    fn cancel(&mut self, caller: CallerId) -> Result<(), Violation> {
        let before = self.snapshot();
        let result = self.dialer.cancel(self.now(), caller);
        let refused = result.is_err();
        self.settle(Expected::Cancel { caller, result })?;
        if refused {
            self.unchanged(&before, false)?;
        }
        Ok(())
    }

    fn report(&mut self, dial: DialId, ok: bool) -> Result<(), Violation> {
        let before = self.snapshot();
        let now = self.now();
        let result = if ok {
            self.dialer.handle_dial_succeeded(now, dial)
        } else {
            self.dialer
                .handle_dial_failed(now, dial, "connection refused")
        };
        self.monitor.reported(dial, result.is_ok())?;
        let accepted = result.is_ok();
        self.settle(Expected::Report { dial, ok, result })?;
        if !accepted {
            self.unchanged(&before, true)?;
        }
        Ok(())
    }

    fn timeout(&mut self) -> Result<(), Violation> {
        let now = self.now();
        self.dialer.handle_timeout(now);
        self.settle(Expected::Timeout)?;
        self.monitor.after_timeout(&mut self.dialer, now)
    }

    /// R-C6: what is exported imports into a fresh dialer as the same table, and
    /// re-importing it into this one changes nothing.
    fn round_trip(&mut self) -> Result<(), Violation> {
        let exported = self.dialer.export_confidence();
        let mut fresh = Dialer::<Peer>::new(self.dialer.config().clone())
            .map_err(|e| Violation(format!("config refused on re-creation: {e}")))?;
        fresh.import_confidence(exported.clone());
        ensure!(
            fresh.export_confidence() == exported,
            "R-C6: export→import into a fresh dialer changed the table: {exported:?} became {:?}",
            fresh.export_confidence()
        );
        for (addr, value) in &exported {
            ensure!(
                fresh.confidence(addr) == *value,
                "R-C6: imported {addr} reads {} instead of {value}",
                fresh.confidence(addr)
            );
        }
        self.dialer.import_confidence(exported.clone());
        ensure!(
            self.dialer.export_confidence() == exported,
            "R-C6: re-import into the same dialer changed the table"
        );
        self.settle(Expected::Import(exported)).map(drop)
    }

    fn snapshot(&mut self) -> Snapshot {
        Snapshot {
            stats: self.dialer.stats(),
            confidence: self.dialer.export_confidence(),
            deadline: self.dialer.poll_timeout(),
        }
    }

    /// Bad input changes no state: a refused report or cancel leaves everything as it was
    /// (only the `reports_ignored` counter moves, for reports).
    fn unchanged(&mut self, before: &Snapshot, report: bool) -> Result<(), Violation> {
        let after = self.snapshot();
        let mut expected = before.stats;
        if report {
            expected.reports_ignored += 1;
        }
        ensure!(
            after.stats == expected,
            "refused input changed the stats: {:?} → {:?}",
            before.stats,
            after.stats
        );
        ensure!(
            after.confidence == before.confidence,
            "refused input changed the confidence table"
        );
        ensure!(
            after.deadline == before.deadline,
            "refused input changed the next deadline"
        );
        Ok(())
    }

    /// Runs time past every deadline (reporting nothing, so every dial times out), then
    /// past every deny-list entry, and checks that nothing is left: no request, no token,
    /// no open dial, no waiting caller, no deny-list entry (invariant 5, "nothing leaked").
    pub fn finish(mut self) -> Result<Coverage, Violation> {
        let mut steps = 0;
        while let Some(deadline) = self.dialer.poll_timeout() {
            steps += 1;
            ensure!(
                steps <= MAX_DRAIN_STEPS,
                "invariant 5: still busy after {MAX_DRAIN_STEPS} deadlines (livelock)"
            );
            let at = deadline.saturating_duration_since(self.base);
            self.set_clock(self.clock.max(at));
            self.timeout()?;
        }
        self.monitor.finish(&self.dialer)?;
        self.model.finish()?;
        let now = self.now();
        self.model.compare_tables(&self.dialer, now)?;
        self.model.coverage.head_starts = self.dialer.stats().head_starts;
        self.model.coverage.spares = self.dialer.stats().dials_spared;
        ensure!(
            self.dialer.stats().dials_cut >= self.model.coverage.cuts,
            "R-R6b: {} dials cut before address_timeout, the core counts {}",
            self.model.coverage.cuts,
            self.dialer.stats().dials_cut
        );
        // Grown deny entries (R-D4) last up to max(deny_max, deny_duration).
        let deny = self
            .dialer
            .config()
            .deny_max
            .max(self.dialer.config().deny_duration);
        self.set_clock(self.high + deny + Duration::from_nanos(1));
        self.timeout()?;
        let left = self.dialer.stats().deny_list_entries;
        ensure!(
            left == 0,
            "R-D2: {left} deny-list entries outlived deny_duration"
        );
        Ok(self.model.coverage)
    }
}

#[derive(Debug)]
struct Snapshot {
    stats: Stats,
    confidence: Vec<(Multiaddr, u8)>,
    deadline: Option<Instant>,
}

/// Applies `ops` to a fresh dialer with `config`, checking everything after every step,
/// then runs time out (see [`Harness::finish`]). Returns what the run covered.
pub fn run(config: Config, ops: &[Op]) -> Result<Coverage, Violation> {
    let mut harness = Harness::new(config)?;
    for (i, op) in ops.iter().enumerate() {
        harness
            .step(op)
            .map_err(|v| Violation(format!("step {i} ({op:?}): {v}")))?;
    }
    harness
        .finish()
        .map_err(|v| Violation(format!("after the last step: {v}")))
}

/// [`run`], for callers that only need the verdict.
pub fn apply(config: Config, ops: &[Op]) -> Result<(), Violation> {
    run(config, ops).map(drop)
}
