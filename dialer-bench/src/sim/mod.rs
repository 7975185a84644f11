//! Dialing quality on a seeded simulated population: this dialer's core against simple
//! strategies, all on one discrete-event simulator with one token pool model.

#![forbid(unsafe_code)]

mod baseline;
mod core_run;
mod population;

use std::time::Duration;

use dialer_core::Config;

use crate::summary::percentile;

pub(crate) use population::{Params, Population};

/// Shared by every strategy (the SPEC's defaults).
pub(crate) const MAX_TOKENS: usize = 100;
pub(crate) const PER_PEER: usize = 4;
pub(crate) const ADDRESS_TIMEOUT_NS: u64 = 10_000_000_000;
pub(crate) const REQUEST_TIMEOUT_NS: u64 = 30_000_000_000;
pub(crate) const STAGGER_NS: u64 = 250_000_000;

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

/// What each strategy's run adds up to, over the rounds after the first.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) rejected: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) dials: u64,
    /// Dials of requests that connected (the rest went to requests that failed).
    pub(crate) dials_of_successes: u64,
    pub(crate) first_try: u64,
    /// Successes won after the first address dialed failed (refused or hung).
    pub(crate) first_failed: u64,
    /// Successes won by a later address although the first one would have connected
    /// too: the first lost a race against a faster one dialed alongside it.
    pub(crate) first_lost_race: u64,
    latencies_ms: Vec<f64>,
    /// Core runs: distinct addresses the core got a verdict on (success, failure or
    /// timeout) over the run, each of which takes a confidence-table entry.
    pub(crate) judged_addrs: Option<usize>,
}

impl Tally {
    fn counts(round: u8) -> bool {
        round > 0
    }

    pub(crate) fn request(&mut self, round: u8) {
        if Self::counts(round) {
            self.requests += 1;
        }
    }

    pub(crate) fn rejected(&mut self, round: u8) {
        if Self::counts(round) {
            self.rejected += 1;
        }
    }

    pub(crate) fn dial(&mut self, round: u8) {
        if Self::counts(round) {
            self.dials += 1;
        }
    }

    pub(crate) fn failed(&mut self, round: u8) {
        if Self::counts(round) {
            self.failed += 1;
        }
    }

    pub(crate) fn succeeded(&mut self, round: u8, latency_ns: u64, won: Won, dials: u64) {
        if Self::counts(round) {
            self.succeeded += 1;
            self.dials_of_successes += dials;
            self.first_try += u64::from(won == Won::First);
            self.first_lost_race += u64::from(won == Won::RaceLost);
            self.first_failed += u64::from(won == Won::FirstFailed);
            self.latencies_ms.push(latency_ns as f64 / 1e6);
        }
    }
}

/// The figures of one strategy.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) key: &'static str,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) dials_per_conn: f64,
    pub(crate) first_try_pct: f64,
    pub(crate) rejected_pct: f64,
    pub(crate) success_pct: f64,
    pub(crate) tally: Tally,
}

impl Figures {
    fn new(key: &'static str, mut tally: Tally) -> Self {
        let pct = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
        Self {
            key,
            p50_ms: percentile(&mut tally.latencies_ms, 50.0),
            p99_ms: percentile(&mut tally.latencies_ms, 99.0),
            dials_per_conn: tally.dials as f64 / tally.succeeded.max(1) as f64,
            first_try_pct: pct(tally.first_try, tally.succeeded),
            rejected_pct: pct(tally.rejected, tally.requests),
            success_pct: pct(tally.succeeded, tally.requests),
            tally,
        }
    }
}

/// How a strategy picks what to dial.
#[derive(Debug, Clone)]
enum Strategy {
    /// This crate's dialer core with a config.
    Core(Config),
    /// A hand-written strategy on the same pool and timeouts.
    Baseline(baseline::Strategy),
}

fn core_config(stagger: Option<Duration>) -> Config {
    Config::default()
        .with_max_tokens(MAX_TOKENS)
        .with_max_per_peer_dials(PER_PEER)
        .with_address_timeout(Duration::from_nanos(ADDRESS_TIMEOUT_NS))
        .with_dial_timeout(Duration::from_nanos(REQUEST_TIMEOUT_NS))
        .with_stagger(stagger)
}

/// Every strategy, in the order they are reported: the named ones (see [`KEYS`]), then a
/// cross-check that is not a figure.
fn strategies() -> Vec<(&'static str, Strategy)> {
    use baseline::{Order, Strategy as B};
    vec![
        ("ours", Strategy::Core(core_config(None))),
        (
            "ours_stagger",
            Strategy::Core(core_config(Some(Duration::from_nanos(STAGGER_NS)))),
        ),
        (
            "sequential",
            Strategy::Baseline(B {
                order: Order::Caller,
                per_request: Some(1),
                stagger_ns: None,
            }),
        ),
        (
            "all_at_once",
            Strategy::Baseline(B {
                order: Order::Caller,
                per_request: None,
                stagger_ns: None,
            }),
        ),
        (
            // The seed's dialer as js-libp2p shipped it: tokens, caller order, nothing
            // learned. The core with both learning tables switched off is exactly that.
            "js_token",
            Strategy::Core(
                core_config(None)
                    .with_confidence_capacity(0)
                    .with_deny_list_capacity(0)
                    .with_head_start(None),
            ),
        ),
        (
            "go_ranked",
            Strategy::Baseline(B {
                order: Order::Ranked,
                per_request: Some(PER_PEER),
                stagger_ns: Some(STAGGER_NS),
            }),
        ),
        (
            // Not a figure: the defaults without the head start, i.e. the seed's
            // literal parallel start, to show what the head start changes.
            "ours_parallel",
            Strategy::Core(core_config(None).with_head_start(None)),
        ),
        (
            // Cross-check: js_token written by hand on the baseline engine. It must land
            // on the same numbers as `js_token`, or the engine and the core disagree about
            // the model and the comparison is void.
            "js_token_engine",
            Strategy::Baseline(B {
                order: Order::Caller,
                per_request: Some(PER_PEER),
                stagger_ns: None,
            }),
        ),
    ]
}

/// The named strategies (in report order) and the cross-check.
pub(crate) const KEYS: [&str; 6] = [
    "ours",
    "ours_stagger",
    "sequential",
    "all_at_once",
    "js_token",
    "go_ranked",
];

pub(crate) struct Report {
    pub(crate) figures: Vec<Figures>,
    pub(crate) population: Population,
    pub(crate) params: Params,
}

pub(crate) fn run(params: Params) -> Report {
    let population = Population::new(&params);
    let figures = strategies()
        .into_iter()
        .map(|(key, strategy)| {
            let tally = match strategy {
                Strategy::Core(config) => core_run::run(&population, config),
                Strategy::Baseline(b) => baseline::run(&population, &b),
            };
            Figures::new(key, tally)
        })
        .collect();
    Report {
        figures,
        population,
        params,
    }
}
