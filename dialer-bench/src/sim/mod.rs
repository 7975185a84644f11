//! Dialing quality on seeded simulated worlds: this dialer's core (and each of its
//! mechanisms switched off in turn) against models of go-libp2p, rust-libp2p and
//! js-libp2p, all on one discrete-event simulator. No socket is ever opened.

#![forbid(unsafe_code)]

mod baseline;
mod core_run;
mod population;

use std::time::Duration;

use dialer_core::{BlackHoles, Config, Names};

use crate::summary::percentile;

pub(crate) use population::{Class, Params, Population, World};

/// The core's pool and timeouts in every core strategy (the SPEC's defaults).
pub(crate) const MAX_TOKENS: usize = 100;
pub(crate) const PER_PEER: usize = 4;
pub(crate) const ADDRESS_TIMEOUT_NS: u64 = 10_000_000_000;
pub(crate) const REQUEST_TIMEOUT_NS: u64 = 30_000_000_000;

/// Which dial won a request, against the first one dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Won {
    /// The first address dialed.
    First,
    /// A later one, while the first would have connected as well (it was slower).
    RaceLost,
    /// A later one, after the first failed (refused or hung).
    FirstFailed,
}

impl Won {
    /// Classifies a success: `winner` and `first` are dial ids, `first_connects` says
    /// whether the first address dialed was good in that round.
    pub(crate) fn of<T: PartialEq>(winner: T, first: Option<T>, first_connects: bool) -> Self {
        if first.as_ref() == Some(&winner) {
            Won::First
        } else if first_connects {
            Won::RaceLost
        } else {
            Won::FirstFailed
        }
    }
}

/// What one phase of a run (round 1, or the rounds after it) adds up to. Every request is
/// counted once, when it ends: rejected, failed or connected.
#[derive(Debug, Default, Clone)]
pub(crate) struct Bucket {
    pub(crate) requests: u64,
    pub(crate) to_reachable: u64,
    pub(crate) to_unreachable: u64,
    /// Refused for lack of tokens or queue room (not: every address backed off).
    pub(crate) rejected: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) dials: u64,
    /// Dials of requests that connected.
    pub(crate) dials_of_successes: u64,
    /// Dials of requests to peers with no good address that round.
    pub(crate) dials_of_unreachable: u64,
    pub(crate) first_try: u64,
    /// Successes won after the first address dialed failed (refused or hung).
    pub(crate) first_failed: u64,
    /// Successes won by a later address although the first one would have connected
    /// too: the first lost a race against a faster one dialed alongside it.
    pub(crate) first_lost_race: u64,
    latencies_ms: Vec<f64>,
}

impl Bucket {
    fn count(&mut self, reachable: bool, dials: u64) {
        self.requests += 1;
        self.dials += dials;
        if reachable {
            self.to_reachable += 1;
        } else {
            self.to_unreachable += 1;
            self.dials_of_unreachable += dials;
        }
    }
}

/// What each strategy's run adds up to: round 1 (a cold start) and the rounds after it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub(crate) round1: Bucket,
    pub(crate) later: Bucket,
    /// Most dials in flight at once over the whole run (dials waiting for a slot in a
    /// queue are not in flight).
    pub(crate) peak_dials: usize,
    /// Core runs: distinct addresses the core got a verdict on (success, failure or
    /// timeout) over the run, each of which takes a confidence-table entry.
    pub(crate) judged_addrs: Option<usize>,
}

impl Tally {
    fn bucket(&mut self, round: u8) -> &mut Bucket {
        if round == 0 {
            &mut self.round1
        } else {
            &mut self.later
        }
    }

    /// Refused for lack of tokens or queue room, after `dials` dials (a request of names
    /// can be refused when its answers come, after dialing what it had).
    pub(crate) fn rejected(&mut self, round: u8, reachable: bool, dials: u64) {
        let b = self.bucket(round);
        b.count(reachable, dials);
        b.rejected += 1;
    }

    pub(crate) fn failed(&mut self, round: u8, reachable: bool, dials: u64) {
        let b = self.bucket(round);
        b.count(reachable, dials);
        b.failed += 1;
    }

    pub(crate) fn succeeded(&mut self, round: u8, latency_ns: u64, won: Won, dials: u64) {
        let b = self.bucket(round);
        b.count(true, dials);
        b.succeeded += 1;
        b.dials_of_successes += dials;
        b.first_try += u64::from(won == Won::First);
        b.first_lost_race += u64::from(won == Won::RaceLost);
        b.first_failed += u64::from(won == Won::FirstFailed);
        b.latencies_ms.push(latency_ns as f64 / 1e6);
    }

    /// Dials in flight now.
    pub(crate) fn in_flight(&mut self, n: usize) {
        self.peak_dials = self.peak_dials.max(n);
    }
}

/// The figures of one phase of a strategy's run.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) success_pct: f64,
    pub(crate) dials_per_conn: f64,
    pub(crate) wasted_dials_per_unreachable: f64,
    pub(crate) first_try_pct: f64,
    pub(crate) rejected_pct: f64,
    /// Successes won by a later address although the first would have connected, and
    /// after the first failed, in % of successes.
    pub(crate) lost_race_pct: f64,
    pub(crate) first_failed_pct: f64,
}

impl Stats {
    fn new(b: &mut Bucket) -> Self {
        let pct = |a: u64, n: u64| 100.0 * a as f64 / n.max(1) as f64;
        Self {
            p50_ms: percentile(&mut b.latencies_ms, 50.0),
            p99_ms: percentile(&mut b.latencies_ms, 99.0),
            success_pct: pct(b.succeeded, b.to_reachable),
            dials_per_conn: b.dials_of_successes as f64 / b.succeeded.max(1) as f64,
            wasted_dials_per_unreachable: b.dials_of_unreachable as f64
                / b.to_unreachable.max(1) as f64,
            first_try_pct: pct(b.first_try, b.succeeded),
            rejected_pct: pct(b.rejected, b.requests),
            lost_race_pct: pct(b.first_lost_race, b.succeeded),
            first_failed_pct: pct(b.first_failed, b.succeeded),
        }
    }
}

/// The figures of one strategy in one world.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) key: &'static str,
    /// Rounds 2.. (the figures).
    pub(crate) later: Stats,
    /// Round 1 alone (a cold start): shown in the table; only its rejected share is a
    /// figure.
    pub(crate) round1: Stats,
    pub(crate) peak_dials: usize,
    pub(crate) tally: Tally,
}

impl Figures {
    fn new(key: &'static str, mut tally: Tally) -> Self {
        Self {
            key,
            later: Stats::new(&mut tally.later),
            round1: Stats::new(&mut tally.round1),
            peak_dials: tally.peak_dials,
            tally,
        }
    }
}

/// How a strategy picks what to dial.
#[derive(Debug, Clone)]
enum Strategy {
    /// This crate's dialer core with a config.
    Core(Config),
    /// A model of another dialer on the baseline engine.
    Baseline(baseline::Strategy),
}

/// `base` with the bench's pool and timeouts (the SPEC's defaults, spelt out so that a
/// change of a default shows here).
fn core_config(base: Config) -> Config {
    base.with_max_tokens(MAX_TOKENS)
        .with_max_per_peer_dials(PER_PEER)
        .with_address_timeout(Duration::from_nanos(ADDRESS_TIMEOUT_NS))
        .with_dial_timeout(Duration::from_nanos(REQUEST_TIMEOUT_NS))
}

const S: u64 = 1_000_000_000;

/// go-libp2p, its defaults (files under p2p/net/swarm/ unless said otherwise):
/// - order and delays: `dial_ranker.go` DefaultDialRanker: QUIC before TCP, IPv6 first
///   with happy eyeballs, PublicQUICDelay = PublicTCPDelay = 250 ms, TCP 250 ms after the
///   last QUIC, relayed addresses RelayDelay = 500 ms after direct ones; `dial_worker.go`:
///   the next dial at once when none is in flight;
/// - DefaultPerPeerRateLimit = 8 dials per peer, ConcurrentFdDials = 160 dials over
///   file-descriptor transports (not relayed ones), queued, not refused (`limiter.go`,
///   constants in `swarm_dial.go`);
/// - backoff per address BackoffBase 5 s + BackoffCoef 1 s × tries², at most BackoffMax
///   5 min, cleared by a connection to the peer (`swarm_dial.go`);
/// - UDP and IPv6 black-hole detectors, N = 100, MinSuccesses = 5
///   (`black_hole_detector.go`), counting aborted dials as failures;
/// - 15 s per address (`swarm.go` defaultDialTimeout), 60 s per request
///   (`core/network/context.go` DialPeerTimeout);
/// - names: resolved before anything is ranked or dialed (`swarm_dial.go` `addrsForDial`
///   calls `resolveAddrs`, which resolves one name after the other, at most
///   maxAddressResolution = 32 steps per peer, at commit f1a42fe), the answers ranked
///   with the other addresses (the request's 60 s count from its start, the ranker's
///   delays from the end of the lookups).
fn go_model() -> baseline::Strategy {
    use baseline::{Admission, BlackHoleModel, NameModel, Order, Strategy as B};
    B {
        order: Order::GoRanker,
        per_request: 8,
        admission: Admission::Unlimited,
        fd_limit: Some(160),
        address_timeout_ns: 15 * S,
        request_timeout_ns: Some(60 * S),
        go_backoff: true,
        black_holes: Some(BlackHoleModel {
            window: 100,
            min_successes: 5,
        }),
        names: Some(NameModel::BeforeRanking),
    }
}

/// rust-libp2p: the caller's order, dial_concurrency_factor = 8 dials at once per peer,
/// refilled as one fails (`swarm/src/connection/pool.rs`, `pool/concurrent_dial.rs`); no
/// global cap, no backoff, no request timeout. Per address 10 s: libp2p-tcp sets no
/// connect timeout (`transports/tcp/src/lib.rs`: its `Config` holds ttl, nodelay and
/// backlog only), and `SwarmBuilder::build` wraps the whole transport in a
/// `TransportTimeout` of DEFAULT_CONNECTION_TIMEOUT = 10 s (`libp2p/src/builder/phase/
/// build.rs`; `CONNECTION_TIMEOUT` in older versions), which bounds each dial future the
/// swarm starts (`core/src/transport/timeout.rs`).
///
/// Names (`transports/dns/src/lib.rs`, libp2p/rust-libp2p at 006b1c9): the DNS
/// transport sits inside that timeout (`with_dns` wraps the TCP/QUIC transport,
/// `build` wraps the result), so the swarm dials a name as one address and its 10 s
/// cover the lookup and every resolved address tried. `do_dial` resolves (`/dns4`:
/// `ipv4_lookup`; `/dns`: `lookup_ip`, hickory's default strategy `Ipv4thenIpv6` asking
/// A first, `crates/resolver/src/config.rs`), pushes the answers on a stack
/// (`unresolved`, a `SmallVec`) and pops them, so the last answer is dialed first, one at
/// a time, each awaited until it connects or fails; a failure is kept and the next one
/// tried, up to MAX_DIAL_ATTEMPTS = 16 dials and MAX_DNS_LOOKUPS = 32 lookups
/// (MAX_TXT_RECORDS = 16 for `dnsaddr`); none of these caps binds with 2–4 answers.
fn rust_model(names: baseline::NameModel) -> baseline::Strategy {
    use baseline::{Admission, Order, Strategy as B};
    B {
        order: Order::Caller,
        per_request: 8,
        admission: Admission::Unlimited,
        fd_limit: None,
        address_timeout_ns: 10 * S,
        request_timeout_ns: None,
        go_backoff: false,
        black_holes: None,
        names: Some(names),
    }
}

/// Every strategy of `world`, in the order they are reported: the named ones (see
/// [`keys`]), then, in the worlds without names, a cross-check that is not a figure.
fn strategies(world: &World) -> Vec<(&'static str, Strategy)> {
    use baseline::{Admission, NameModel, Order, Strategy as B};
    let ours = core_config(Config::default());
    let rust_default = NameModel::InTransport {
        per_ip_timeout_ns: None,
    };
    if world.names > 0.0 {
        return vec![
            ("go", Strategy::Baseline(go_model())),
            ("rust", Strategy::Baseline(rust_model(rust_default))),
            (
                // rust-libp2p with a hand-built transport instead of SwarmBuilder: the
                // TransportTimeout inside the DNS transport (around TCP), given to
                // `Swarm::new`, which adds none: each resolved address gets 10 s, the
                // name dial no bound of its own.
                "rust_per_ip",
                Strategy::Baseline(rust_model(NameModel::InTransport {
                    per_ip_timeout_ns: Some(10 * S),
                })),
            ),
            (
                "ours",
                Strategy::Core(ours.clone().with_names(Some(Names::default()))),
            ),
            // Names off: the core hands a name to the runtime as an address, and the
            // runtime dials it as this repository's TCP transport does.
            ("ours_no_names", Strategy::Core(ours)),
        ];
    }
    vec![
        ("go", Strategy::Baseline(go_model())),
        ("rust", Strategy::Baseline(rust_model(rust_default))),
        (
            // js-libp2p today (`packages/libp2p/src/connection-manager/dial-queue.ts`):
            // one address at a time per peer, relayed addresses after direct ones (the
            // default address sorter); MAX_PARALLEL_DIALS = 100 jobs at once
            // (`constants.ts`), MAX_DIAL_QUEUE_LENGTH = 500 waiting, refused when full,
            // DIAL_TIMEOUT = 10 s per request including the wait (`constants.defaults.ts`);
            // 6 s per address (the brief's figure; not found in the stored sources).
            // Its names are not modelled: it runs in no world with names.
            "js",
            Strategy::Baseline(B {
                order: Order::CallerRelayLast,
                per_request: 1,
                admission: Admission::Pool {
                    tokens: 100,
                    queue: Some(500),
                },
                fd_limit: None,
                address_timeout_ns: 6 * S,
                request_timeout_ns: Some(10 * S),
                go_backoff: false,
                black_holes: None,
                names: None,
            }),
        ),
        (
            // The seed's dialer (tokens, caller order, nothing learned): the core with
            // `Config::seed()`.
            "js_token",
            Strategy::Core(core_config(Config::seed())),
        ),
        ("ours", Strategy::Core(ours.clone())),
        (
            "ours_no_adaptive",
            Strategy::Core(ours.clone().with_adaptive_timeout(None)),
        ),
        (
            "ours_no_backoff",
            Strategy::Core(ours.clone().with_deny_growth(1)),
        ),
        (
            "ours_no_blackhole",
            Strategy::Core(ours.clone().with_black_holes(BlackHoles::off())),
        ),
        (
            "ours_no_interleave",
            Strategy::Core(ours.clone().with_interleave(false)),
        ),
        (
            // The seed's literal parallel start (was `ours_parallel`).
            "ours_no_headstart",
            Strategy::Core(ours.with_head_start(None)),
        ),
        (
            // Cross-check: js_token written by hand on the baseline engine. It must land
            // on the same numbers as `js_token`, or the engine and the core disagree about
            // the model and the comparison is void.
            CROSS_CHECK,
            Strategy::Baseline(B {
                order: Order::Caller,
                per_request: PER_PEER,
                admission: Admission::Pool {
                    tokens: MAX_TOKENS,
                    queue: None,
                },
                fd_limit: None,
                address_timeout_ns: ADDRESS_TIMEOUT_NS,
                request_timeout_ns: Some(REQUEST_TIMEOUT_NS),
                go_backoff: false,
                black_holes: None,
                names: None,
            }),
        ),
    ]
}

/// The row that must equal `js_token`.
pub(crate) const CROSS_CHECK: &str = "js_token_engine";

/// The named strategies of the worlds without names, in report order.
pub(crate) const KEYS: [&str; 10] = [
    "go",
    "rust",
    "js",
    "js_token",
    "ours",
    "ours_no_adaptive",
    "ours_no_backoff",
    "ours_no_blackhole",
    "ours_no_interleave",
    "ours_no_headstart",
];

/// The named strategies of the world with names, in report order: js-libp2p's name
/// handling is not modelled, and the core's mechanisms are not switched off one by one
/// there.
pub(crate) const NAMES_KEYS: [&str; 5] = ["go", "rust", "rust_per_ip", "ours", "ours_no_names"];

/// The named strategies of `world`, in report order.
pub(crate) fn keys(world: &World) -> &'static [&'static str] {
    if world.names > 0.0 {
        &NAMES_KEYS
    } else {
        &KEYS
    }
}

/// One world's run.
pub(crate) struct WorldReport {
    pub(crate) figures: Vec<Figures>,
    pub(crate) population: Population,
    pub(crate) params: Params,
    /// `js_token_engine` landed on `js_token`'s tallies; `None` where neither runs.
    pub(crate) cross_check_agrees: Option<bool>,
}

pub(crate) struct Report {
    pub(crate) worlds: Vec<WorldReport>,
}

fn run_world(params: Params) -> WorldReport {
    let population = Population::new(&params);
    let figures: Vec<Figures> = strategies(&params.world)
        .into_iter()
        .map(|(key, strategy)| {
            let tally = match strategy {
                Strategy::Core(config) => core_run::run(&population, config),
                Strategy::Baseline(b) => baseline::run(&population, &b),
            };
            Figures::new(key, tally)
        })
        .collect();
    let same = |a: &Bucket, b: &Bucket| {
        (a.requests, a.rejected, a.succeeded, a.dials, a.first_try)
            == (b.requests, b.rejected, b.succeeded, b.dials, b.first_try)
    };
    let find = |k: &str| figures.iter().find(|f| f.key == k).map(|f| &f.tally);
    let cross_check_agrees = match (find("js_token"), find(CROSS_CHECK)) {
        (Some(a), Some(b)) => Some(same(&a.later, &b.later) && same(&a.round1, &b.round1)),
        (None, None) => None,
        _ => Some(false),
    };
    WorldReport {
        figures,
        population,
        params,
        cross_check_agrees,
    }
}

/// Runs every world, two at a time (the machines have 2 cores); each is deterministic.
pub(crate) fn run(quick: bool) -> Report {
    let worlds: Vec<Params> = World::ALL
        .iter()
        .map(|w| Params::standard(quick).in_world(*w))
        .collect();
    let mut out: Vec<Option<WorldReport>> = worlds.iter().map(|_| None).collect();
    for (chunk, slots) in worlds.chunks(2).zip(out.chunks_mut(2)) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|p| {
                    let p = p.clone();
                    scope.spawn(move || run_world(p))
                })
                .collect();
            for (slot, h) in slots.iter_mut().zip(handles) {
                *slot = Some(h.join().expect("a world's run panicked"));
            }
        });
    }
    Report {
        worlds: out.into_iter().flatten().collect(),
    }
}
