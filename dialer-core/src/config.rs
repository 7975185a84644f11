//! Settings of a [`Dialer`](crate::Dialer), with the SPEC's defaults and their validation.

use std::time::Duration;

use crate::names::Names;

/// How a [`Dialer`](crate::Dialer) behaves. Start from [`Config::default`] and change what
/// you need with one `with_*` call each (or assign the public fields);
/// [`Dialer::new`](crate::Dialer::new) validates it:
///
/// ```
/// use std::time::Duration;
/// use dialer_core::Config;
///
/// let config = Config::default()
///     .with_max_tokens(64)
///     .with_stagger(Some(Duration::from_millis(250)));
/// assert_eq!(config.max_tokens, 64);
/// assert!(config.validate().is_ok());
/// ```
///
/// The struct is `#[non_exhaustive]`, so settings added later do not break a caller.
///
/// | field | default | rule |
/// |---|---|---|
/// | `max_tokens` | 100 | R-T6: caps parallel dials (sockets) across all requests |
/// | `max_per_peer_dials` | 4 | R-T2: most tokens one request asks for |
/// | `dial_timeout` | 30 s | R-R6: the whole request |
/// | `address_timeout` | 10 s | R-R6a: one dial |
/// | `max_addrs_per_request` | 25 | R-R9 |
/// | `deny_duration` | 60 s | R-D2 |
/// | `prune_duration` | 1 h | R-C5: how long a pruned address stays out of its peer's requests |
/// | `stagger` | off | R-S1 |
/// | `head_start` | on: [`HeadStart::default`] | a proven address dials alone first (see [`HeadStart`]) |
/// | `confidence_capacity` | 65 536 | R-C6: entries in the confidence table (a few MB at most) |
/// | `deny_list_capacity` | 65 536 | R-D3: entries in the deny list |
/// | `deny_growth` | 8 | R-D4: each failure in a row multiplies the deny time |
/// | `deny_max` | 30 min | R-D4: longest deny time |
/// | `prune_after_failures` | 2 | R-C5: failures in a row before an address can be pruned |
/// | `adaptive_timeout` | on: [`AdaptiveTimeout::default`] | R-R6b |
/// | `black_holes` | IPv6 and UDP, 100 / 5: [`BlackHoles::default`] | R-B1 … R-B4 |
/// | `interleave` | on | R-R1a: equal confidence alternates IPv6 / IPv4, relayed last |
/// | `wait_for_tokens` | off: fail fast | R-Q1: wait in a bounded FIFO queue instead (see [`WaitForTokens`]) |
/// | `names` | off in the core, on in the adapters | R-N1 … R-N4: resolve `/dns*` and `/dnsaddr` names as core commands (see [`Names`]) |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Size of the global token pool: the most dials in flight at once (R-T6).
    pub max_tokens: usize,
    /// The most tokens (parallel dials) one request asks for (R-T2).
    pub max_per_peer_dials: usize,
    /// Deadline of a whole request, from its start (R-R6).
    pub dial_timeout: Duration,
    /// Deadline of a single dial, from its start (R-R6a).
    pub address_timeout: Duration,
    /// Requests with more addresses than this are rejected (R-R9). When callers join a
    /// request (R-R8), the merged list is also capped at this size; extra addresses of a
    /// joining caller are dropped (and counted in [`Stats::addresses_skipped`](crate::Stats)).
    pub max_addrs_per_request: usize,
    /// How long a failed address stays on the deny list (R-D2).
    pub deny_duration: Duration,
    /// How long a pruned address (R-C5) stays out of its peer's requests. A prune is a
    /// verdict on the past: if the peer's better address later dies and the pruned one
    /// comes back (a node that moved, a NAT mapping renewed), the peer must not stay
    /// unreachable for good. After this long the address is dialed again in its turn; a
    /// real failure then prunes it again if the peer still has something better.
    pub prune_duration: Duration,
    /// Happy-eyeballs delay between the dials of one request (R-S1); `None` starts all of a
    /// request's dials at once, as the seed design does.
    pub stagger: Option<Duration>,
    /// Lets a request's best address, once it has proven itself, dial alone for a short
    /// while before the others start (see [`HeadStart`]). `None` always starts all of a
    /// request's dials at once, exactly as the seed design does.
    pub head_start: Option<HeadStart>,
    /// Most entries in the confidence table, least recently used go first (R-C6).
    /// `0` turns confidence learning off: every address then keeps confidence 1.
    pub confidence_capacity: usize,
    /// Most entries in the deny list (R-D3); when full, the entry closest to expiry goes
    /// first. `0` turns the deny list off.
    pub deny_list_capacity: usize,
    /// Growth of the deny time with consecutive failures (R-D4): the `n`-th failure in a
    /// row denies an address for `deny_duration × deny_growth^(n-1)`, at most
    /// [`deny_max`](Self::deny_max). `1` keeps every deny at `deny_duration` (the seed).
    /// The count lives beside the address's confidence (bounded by
    /// [`confidence_capacity`](Self::confidence_capacity)) and a success resets it (R-D5).
    pub deny_growth: u32,
    /// Longest time one failure can deny an address (R-D4). Below `deny_duration` it
    /// changes nothing: every deny then lasts `deny_duration`.
    pub deny_max: Duration,
    /// Failures in a row an address must have before it can be pruned (R-C5): one failure
    /// of a good address is not a verdict.
    pub prune_after_failures: u8,
    /// Address timeouts sized from measured connect times (R-R6b, see [`AdaptiveTimeout`]);
    /// `None` keeps every dial at the fixed [`address_timeout`](Self::address_timeout).
    pub adaptive_timeout: Option<AdaptiveTimeout>,
    /// Black-hole detection per address class (R-B1 … R-B4, see [`BlackHoles`]);
    /// [`BlackHoles::off`] turns it off.
    pub black_holes: BlackHoles,
    /// Among addresses of equal confidence, alternate IPv6 and IPv4 (IPv6 first) and put
    /// relayed (`/p2p-circuit`) addresses after direct ones (R-R1a, RFC 8305 section 4).
    /// `false` keeps the caller's order among equals (R-R1).
    pub interleave: bool,
    /// What a normal-priority request does when the pool has no token (R-Q1): `None`
    /// fails it at once with [`DialRefused::NoTokens`](crate::DialRefused::NoTokens)
    /// (the seed's fail-fast, R-T4); `Some` queues it (see [`WaitForTokens`]).
    pub wait_for_tokens: Option<WaitForTokens>,
    /// Whether the core resolves names itself (R-N1): `Some` turns `/dns`, `/dns4`,
    /// `/dns6` and `/dnsaddr` addresses into [`NameAction::Resolve`](crate::NameAction::Resolve)
    /// commands, and dials what they resolve to, each address learned on its own (see
    /// [`Names`]). `None`, the default for an embedder of the core, hands names to the
    /// transport as plain addresses (the dialable predicate decides), so a runtime that
    /// does not handle `Resolve` never sees one. The adapters always set it.
    pub names: Option<Names>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_tokens: 100,
            max_per_peer_dials: 4,
            dial_timeout: Duration::from_secs(30),
            address_timeout: Duration::from_secs(10),
            max_addrs_per_request: 25,
            deny_duration: Duration::from_secs(60),
            prune_duration: Duration::from_secs(60 * 60),
            stagger: None,
            head_start: Some(HeadStart::default()),
            // Sized for a node that dials ~10,000 peers of ~4 addresses each: the dialing
            // benchmark's population learns ~23,000 addresses, and a table that evicts them
            // forgets what it learned (first-try wins fell from 85% to 72% at 16,384).
            confidence_capacity: 65_536,
            // As large as the confidence table: the benchmark's worlds have more failing
            // addresses than the 4,096 entries this used to hold, and an evicted entry is
            // an address dialed again too soon.
            deny_list_capacity: 65_536,
            deny_growth: 8,
            deny_max: Duration::from_secs(30 * 60),
            prune_after_failures: 2,
            adaptive_timeout: Some(AdaptiveTimeout::default()),
            black_holes: BlackHoles::default(),
            interleave: true,
            wait_for_tokens: None,
            names: None,
        }
    }
}

impl Config {
    /// The seed design's dialer exactly: tokens, the caller's order, nothing learned
    /// (no confidence, deny list, head start, adaptive timeouts, black holes or
    /// interleaving). The benchmarks' `js_token` strategy; a baseline to compare with.
    pub fn seed() -> Self {
        Self::default()
            .with_confidence_capacity(0)
            .with_deny_list_capacity(0)
            .with_deny_growth(1)
            .with_head_start(None)
            .with_adaptive_timeout(None)
            .with_black_holes(BlackHoles::off())
            .with_interleave(false)
    }
}

/// One `with_<field>(value)` setter per field, each returning the changed config.
macro_rules! setters {
    ($($setter:ident => $field:ident: $ty:ty),* $(,)?) => {
        impl Config {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $setter(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    with_max_tokens => max_tokens: usize,
    with_max_per_peer_dials => max_per_peer_dials: usize,
    with_dial_timeout => dial_timeout: Duration,
    with_address_timeout => address_timeout: Duration,
    with_max_addrs_per_request => max_addrs_per_request: usize,
    with_deny_duration => deny_duration: Duration,
    with_prune_duration => prune_duration: Duration,
    with_stagger => stagger: Option<Duration>,
    with_head_start => head_start: Option<HeadStart>,
    with_confidence_capacity => confidence_capacity: usize,
    with_deny_list_capacity => deny_list_capacity: usize,
    with_deny_growth => deny_growth: u32,
    with_deny_max => deny_max: Duration,
    with_prune_after_failures => prune_after_failures: u8,
    with_adaptive_timeout => adaptive_timeout: Option<AdaptiveTimeout>,
    with_black_holes => black_holes: BlackHoles,
    with_interleave => interleave: bool,
    with_wait_for_tokens => wait_for_tokens: Option<WaitForTokens>,
    with_names => names: Option<Names>,
}

/// How address timeouts adapt to measured connect times (R-R6b).
///
/// A dial that will never answer (a dropped SYN, a firewalled UDP port) holds its token
/// until its timeout. With the fixed [`Config::address_timeout`] of 10 s, a pool of 100
/// empties under a few requests a second to peers with hanging addresses. So the core
/// keeps the connect times of recent successful dials (all addresses, in a bounded
/// histogram) and times a dial out after
///
/// `max(percentile × margin, percentile + syn_retry, own × margin)`, at most `address_timeout`,
///
/// where `percentile` is the global one and `own` the address's own smoothed connect
/// time. `percentile + syn_retry` is the floor: one lost SYN is retransmitted after about
/// 1 s (Linux's initial RTO), and a dial must be able to survive that. Until
/// `min_samples` connects were measured the fixed timeout applies.
///
/// A dial cut short this way is a timeout (it lowers confidence, denies the address,
/// counts for black holes). A dial whose request has nothing else to dial, or whose
/// address was cut short last time, is *spared* at its adaptive deadline while the pool
/// has free tokens: cutting it
/// would free a token nobody waits for and only lose a slow peer. It runs on towards the
/// full `address_timeout` on a token that is only lent: the moment a new request finds
/// the pool short, spared dials are cut (oldest first) to give it their tokens. A cut
/// whose request still has addresses waiting passes its token to the next of them
/// instead, so the new request can still be refused; the cut was due anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveTimeout {
    /// Which percentile of recent connect times sizes the timeout, 1..=100. Default 90: in the
    /// benchmark's `slow` world (7 % of connects take 2–5 s) the 99th percentile is one of
    /// those, which switched adaptation off and let hanging dials empty the pool (46 % of
    /// requests refused at p95, none at p90).
    pub percentile: u8,
    /// Multiple of the percentile (and of the address's own connect time) a dial gets.
    /// Default 2.
    pub margin: u32,
    /// Added to the percentile for the floor: time for one SYN retransmission. Default 1 s.
    pub syn_retry: Duration,
    /// Connects measured before the timeout adapts at all. Default 32.
    pub min_samples: u32,
    /// Roughly how many recent connects the percentile reflects: the histogram halves its
    /// counts each time they add up to this. Default 1,000.
    pub window: u32,
}

impl Default for AdaptiveTimeout {
    fn default() -> Self {
        Self {
            percentile: 90,
            margin: 2,
            syn_retry: Duration::from_secs(1),
            min_samples: 32,
            window: 1_000,
        }
    }
}

/// A class of addresses whose failures usually say more about the dialing node's own
/// network than about the peer (R-B1): no IPv6 route, UDP blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrClass {
    /// Addresses over IPv6 (`/ip6/…`).
    Ip6,
    /// Addresses over UDP (`/udp/…`: QUIC, WebRTC, WebTransport).
    Udp,
    /// Addresses with a component of this protocol name, as
    /// [`Protocol::tag`](multiaddr::Protocol::tag) spells it (`"quic-v1"`, `"webrtc-direct"`).
    Protocol(&'static str),
}

impl AddrClass {
    /// A short name for logs and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            AddrClass::Ip6 => "ip6",
            AddrClass::Udp => "udp",
            AddrClass::Protocol(tag) => tag,
        }
    }
}

/// Black-hole detection (R-B1 … R-B4).
///
/// Per class the core keeps the outcomes of the last `window` completed dials to public
/// addresses (aborts and cancels do not count). A full window with fewer than
/// `min_successes` successes blocks the class: new requests skip its addresses, except one
/// request in `window` of those that could probe, which dials them as a probe (a request
/// could if one of its addresses in the class is not backed off, and it has no other
/// address or one neither backed off nor failed its last dial). A probe that connects unblocks the class with a
/// fresh window. The defaults are go-libp2p's (100 / 5), but go-libp2p also
/// counts dials aborted because a sibling won, which this core does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlackHoles {
    /// The classes watched; empty turns detection off. Default IPv6 and UDP.
    pub classes: Vec<AddrClass>,
    /// Outcomes kept per class (N), 1..=1024. Default 100.
    pub window: u16,
    /// Successes a full window needs to stay allowed (M). Default 5.
    pub min_successes: u16,
}

impl Default for BlackHoles {
    fn default() -> Self {
        Self {
            classes: vec![AddrClass::Ip6, AddrClass::Udp],
            window: 100,
            min_successes: 5,
        }
    }
}

impl BlackHoles {
    /// No detection: every class is always dialed.
    pub fn off() -> Self {
        Self {
            classes: Vec::new(),
            ..Self::default()
        }
    }
}

/// The head start a request's best address gets when the core has seen it connect.
///
/// Without learned knowledge a request dials its addresses in parallel, one per token
/// (R-R3), because it cannot tell which of them works. Once an address has connected,
/// dialing three more alongside it mostly opens sockets that are aborted a moment later,
/// and those aborted dials teach nothing (R-C4). An address is *proven* when the core has
/// seen it connect (so it knows how long that takes) and its confidence has not fallen
/// below the start value of 1 since (R-C): one failure of a good address does not unmake
/// it. When the first address of a new request (the most confident, R-R1; among equal
/// confidence a proven address comes first) is proven, it dials alone first, for
/// `max(min, rtt_percent % of its connect time)`. If it connects in that time, the request
/// needed one dial. If the head start runs out, the remaining addresses start in parallel
/// as usual, so a proven address that has died costs at most one head start. If it fails
/// first, the next address starts at once, and gets a head start of its own if it is
/// proven too (the head start passes down the list: with a good address that refuses now
/// and then, racing every address left would spend three dials where one usually does);
/// an unproven one races the rest as before. This is RFC 8305's connection attempt delay,
/// tuned by historical connect times as its section 5 suggests.
///
/// No head start is given:
/// - when `rtt_percent % of the connect time` exceeds `max`: when the best known address
///   is that slow, waiting for it alone costs more than the sockets of a race, and racing
///   the peer's addresses finds a faster one if there is one. With the defaults that is a
///   connect time above 266.7 ms (400 ms ÷ 1.5);
/// - when the connect time was never measured (confidence that was imported, R-C6): the
///   head start could not be sized, so the request races as the seed does until the core
///   has seen the address connect;
/// - when the request got a single token: there is nothing to hold back.
///
/// The two settings do different jobs. `max` over `rtt_percent` sets which proven
/// addresses race (a higher bound: fewer races, fewer dials); `rtt_percent` sets how long
/// a proven address that has died holds the others back (lower: less time lost). At 150 %
/// the next connect may take half again the address's smoothed connect time; one that
/// takes longer only starts the race early, which costs dials, not time. Both defaults
/// were chosen on the dialing benchmark's worlds (BENCHMARKS.md, "The head start's two
/// settings", a sweep of both): 150 % and 400 ms meet its `p99_ms` and `dials_per_conn`
/// goals together, where the earlier 200 % and 500 ms met neither in its `typical` world.
///
/// The connect time is a moving average of the address's successful dials (weight 1/4
/// per new one, as TCP smooths its RTT), kept beside its confidence in the bounded
/// confidence table; it is not part of [`export_confidence`](crate::Dialer::export_confidence).
///
/// The request keeps its tokens during the head start (R-T2, R-T5): they are needed the
/// moment it ends. A [`stagger`](Config::stagger), if set, still paces the later dials;
/// the first gap is then the longer of the two.
///
/// This departs from the seed's "MUST execute parallel dials" only for addresses the core
/// has itself seen connect; a fresh dialer, and any request whose best address is
/// unproven, starts all its dials at once. Set [`Config::head_start`] to `None` for the
/// seed's parallel start everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadStart {
    /// The head start as a percentage of the learned connect time; at least 100.
    /// Default 150.
    pub rtt_percent: u32,
    /// Shortest head start. Default 100 ms (RFC 8305's recommended minimum connection
    /// attempt delay).
    pub min: Duration,
    /// Longest head start: a proven address that would get more races the others
    /// instead (see above). Default 400 ms.
    pub max: Duration,
}

impl Default for HeadStart {
    fn default() -> Self {
        Self {
            rtt_percent: 150,
            min: Duration::from_millis(100),
            max: Duration::from_millis(400),
        }
    }
}

impl HeadStart {
    /// The head start of a proven address that took `connect_time` to connect (its
    /// moving average), or `None` if it is too slow to get one.
    pub fn delay(&self, connect_time: Duration) -> Option<Duration> {
        let d = connect_time.saturating_mul(self.rtt_percent) / 100;
        (d <= self.max).then(|| d.max(self.min))
    }
}

/// Waiting for tokens instead of failing fast (R-Q1); off by default.
///
/// A normal-priority request that finds the pool empty joins a FIFO queue of at most
/// `queue` requests and gets its tokens the moment some are released (R-T8), oldest
/// first. It waits at most `max_wait` (and never past its own `dial_timeout`): then it
/// ends with [`DialFailed::NoTokensInTime`](crate::DialFailed::NoTokensInTime) (or
/// [`Timeout`](crate::DialFailed::Timeout) if `dial_timeout` came first). A full queue
/// refuses with [`DialRefused::NoTokens`](crate::DialRefused::NoTokens) as before. A
/// high-priority request never queues: it proceeds at once (R-P1), and a high-priority
/// caller that joins a queued request takes it out of the queue the same way. A queued
/// request can be joined (R-R8) and cancelled (R-R7) like any other.
///
/// While requests wait the pool stays empty: a newcomer queues behind them even if a
/// release is due, so the queue is served strictly in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitForTokens {
    /// Most requests waiting at once. Default 500 (js-libp2p's `maxDialQueueLength`).
    pub queue: usize,
    /// Longest wait for a token. Default 10 s.
    pub max_wait: Duration,
}

impl Default for WaitForTokens {
    fn default() -> Self {
        Self {
            queue: 500,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// Why a [`Config`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_tokens` is 0: no request could ever dial.
    #[error("max_tokens must be at least 1")]
    ZeroTokens,
    /// `max_per_peer_dials` is 0: no request could ever dial.
    #[error("max_per_peer_dials must be at least 1")]
    ZeroPerPeerDials,
    /// `max_addrs_per_request` is 0: every request would be rejected.
    #[error("max_addrs_per_request must be at least 1")]
    ZeroAddrsPerRequest,
    /// A duration that must be positive is zero: a zero timeout would fail every dial at
    /// once, and a zero stagger is "no stagger", which is spelt `None`.
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// `head_start.min` is longer than `head_start.max`, or `rtt_percent` is below 100.
    #[error("head_start needs min <= max and rtt_percent >= 100")]
    HeadStartRange,
    /// `deny_growth` is 0 (1 is "no growth").
    #[error("deny_growth must be at least 1")]
    DenyGrowth,
    /// An [`AdaptiveTimeout`] with a percentile outside 1..=100, or a zero margin or window.
    #[error("adaptive_timeout needs percentile in 1..=100, margin >= 1 and window >= 1")]
    AdaptiveRange,
    /// A [`BlackHoles`] window outside 1..=1024, or `min_successes` above the window.
    #[error("black_holes needs window in 1..=1024 and min_successes <= window")]
    BlackHoleRange,
    /// `names.max_resolved` is 0: no name could ever bring an address.
    #[error("names.max_resolved must be at least 1")]
    ZeroResolved,
    /// `wait_for_tokens.queue` is 0: use `None` to fail fast.
    #[error("wait_for_tokens.queue must be at least 1 (None fails fast)")]
    ZeroQueue,
    /// A duration so large that `now + duration` cannot be represented.
    #[error("{0} is too large to add to an Instant")]
    DurationTooLarge(&'static str),
}

/// Longest duration accepted: ~31 years, far from `Instant` overflow on every platform.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(1 << 30);

impl Config {
    /// Checks the settings; [`Dialer::new`](crate::Dialer::new) calls this for you.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_tokens == 0 {
            return Err(ConfigError::ZeroTokens);
        }
        if self.max_per_peer_dials == 0 {
            return Err(ConfigError::ZeroPerPeerDials);
        }
        if self.max_addrs_per_request == 0 {
            return Err(ConfigError::ZeroAddrsPerRequest);
        }
        let durations = [
            ("dial_timeout", Some(self.dial_timeout)),
            ("address_timeout", Some(self.address_timeout)),
            ("deny_duration", Some(self.deny_duration)),
            ("prune_duration", Some(self.prune_duration)),
            ("deny_max", Some(self.deny_max)),
            (
                "adaptive_timeout.syn_retry",
                self.adaptive_timeout.map(|a| a.syn_retry),
            ),
            ("stagger", self.stagger),
            ("head_start.min", self.head_start.map(|h| h.min)),
            ("head_start.max", self.head_start.map(|h| h.max)),
            (
                "wait_for_tokens.max_wait",
                self.wait_for_tokens.map(|w| w.max_wait),
            ),
            (
                "names.resolution_delay",
                self.names.and_then(|n| n.resolution_delay),
            ),
        ];
        for (name, value) in durations {
            match value {
                Some(d) if d.is_zero() => return Err(ConfigError::ZeroDuration(name)),
                Some(d) if d > MAX_DURATION => return Err(ConfigError::DurationTooLarge(name)),
                _ => {}
            }
        }
        if let Some(h) = self.head_start {
            if h.min > h.max || h.rtt_percent < 100 {
                return Err(ConfigError::HeadStartRange);
            }
        }
        if self.deny_growth == 0 {
            return Err(ConfigError::DenyGrowth);
        }
        if self.names.is_some_and(|n| n.max_resolved == 0) {
            return Err(ConfigError::ZeroResolved);
        }
        if self.wait_for_tokens.is_some_and(|w| w.queue == 0) {
            return Err(ConfigError::ZeroQueue);
        }
        if let Some(a) = self.adaptive_timeout {
            if !(1..=100).contains(&a.percentile) || a.margin == 0 || a.window == 0 {
                return Err(ConfigError::AdaptiveRange);
            }
        }
        let b = &self.black_holes;
        if !(1..=1024).contains(&b.window) || b.min_successes > b.window {
            return Err(ConfigError::BlackHoleRange);
        }
        Ok(())
    }
}
