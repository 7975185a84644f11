//! Property tests of the names rules (R-N1 … R-N4, R-R10): random sequences of dials with
//! names, answers of a name server (late, twice, after an abort, with hundreds of
//! addresses, with `dnsaddr` loops) and moves of the clock, through the names interpreter
//! (`dialer_tests::names`), which checks after every step the invariants (through
//! `dialer_core::check::Monitor`, invariant 8 included) and the names rules through its
//! reference model. Each runs `PROPTEST_CASES` cases, 1,000 unless set.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use dialer_tests::names::{
    name_pool, run_names, txt_pool, NameCoverage, NameOp, NamesSpec, ResolvedCap,
};
use dialer_tests::ops::{Cap, ConfigSpec, Size, Span, WaitSpec};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

fn span() -> impl Strategy<Value = Span> {
    prop_oneof![
        1 => Just(Span::Nano),
        4 => (1u16..3_000).prop_map(Span::Millis),
        1 => (1u16..60).prop_map(Span::Secs),
        2 => Just(Span::Default),
    ]
}

/// Configs with names on: small pools (so that names-only requests meet an empty one),
/// short and long timeouts, the wait queue now and then, small and default caps.
fn spec() -> impl Strategy<Value = NamesSpec> {
    (
        prop_oneof![2 => Just(Size::One), 2 => Just(Size::Two), 1 => Just(Size::Default)],
        prop_oneof![1 => Just(Size::One), 2 => Just(Size::Small(3)), 2 => Just(Size::Default)],
        (span(), span(), span()),
        prop_oneof![5 => Just(Cap::Default), 1 => Just(Cap::Small(2))],
        prop_oneof![
            3 => Just(None),
            1 => (0u8..4, span()).prop_map(|(queue, max_wait)| Some(WaitSpec { queue, max_wait })),
        ],
        (
            prop_oneof![1 => Just(None), 3 => span().prop_map(Some)],
            0u8..5,
            prop_oneof![2 => Just(ResolvedCap::Default), 1 => any::<u8>().prop_map(ResolvedCap::Small)],
            any::<bool>(),
        ),
    )
        .prop_map(
            |(tokens, per_peer, (dial, address, deny), deny_cap, wait, (delay, depth, cap, filter))| {
                NamesSpec {
                    config: ConfigSpec {
                        max_tokens: tokens,
                        max_per_peer_dials: per_peer,
                        dial_timeout: dial,
                        address_timeout: address,
                        deny_duration: deny,
                        deny_list_capacity: deny_cap,
                        wait_for_tokens: wait,
                        ..ConfigSpec::default()
                    },
                    resolution_delay: delay,
                    max_depth: depth,
                    max_resolved: cap,
                    filter,
                }
            },
        )
}

fn addrs() -> impl Strategy<Value = Vec<u8>> {
    let n = name_pool().len() as u8;
    prop_oneof![
        6 => vec(0u8..n, 1..4),
        3 => vec(0u8..6, 1..3),
        1 => vec(6u8..n, 1..3),
        1 => vec(any::<u8>(), 26..30),
    ]
}

fn op() -> impl Strategy<Value = NameOp> {
    let txt = txt_pool().len() as u8;
    prop_oneof![
        5 => (0u8..4, addrs(), proptest::bool::weighted(0.15), proptest::bool::weighted(0.1))
            .prop_map(|(peer, addrs, high, force)| NameOp::Dial { peer, addrs, high, force }),
        4 => (any::<u8>(), vec(0u8..11, 0..4)).prop_map(|(pick, ips)| NameOp::Ips { pick, ips }),
        3 => (any::<u8>(), vec(0u8..txt, 0..5))
            .prop_map(|(pick, records)| NameOp::Txt { pick, records }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(pick, extra)| NameOp::Many { pick, extra }),
        2 => any::<u8>().prop_map(|pick| NameOp::ResolveFail { pick }),
        1 => (any::<u8>(), vec(0u8..11, 1..3)).prop_map(|(pick, ips)| NameOp::Twice { pick, ips }),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(pick, fail)| NameOp::Stale { pick, fail }),
        1 => any::<u16>().prop_map(|raw| NameOp::Unknown { raw }),
        3 => any::<u8>().prop_map(|pick| NameOp::Succeed { pick }),
        3 => any::<u8>().prop_map(|pick| NameOp::Fail { pick }),
        1 => any::<u8>().prop_map(|pick| NameOp::Cancel { pick }),
        3 => (0u16..400).prop_map(|millis| NameOp::Advance { millis }),
        1 => (0u16..u16::MAX).prop_map(|millis| NameOp::Advance { millis }),
        2 => Just(NameOp::Timeout),
        2 => Just(NameOp::TimeoutAtDeadline),
        1 => Just(NameOp::NetworkChanged),
    ]
}

fn ops() -> impl Strategy<Value = Vec<NameOp>> {
    vec(op(), 1..60)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    // R-N1, R-N2, R-N3, R-N4, R-R10: whatever the name server answers, and whenever.
    #[test]
    fn r_n_names_resolved_ranked_filtered_and_ended(spec in spec(), ops in ops()) {
        if let Err(v) = run_names(&spec, &ops) {
            return Err(TestCaseError::fail(format!("{v}\n{spec:?}")));
        }
    }
}

/// The generator reaches every path the names model counts: summed over a few hundred
/// cases, each was taken (else the property above could pass vacuously).
#[test]
fn the_names_generator_reaches_every_rule() {
    let mut runner = TestRunner::deterministic();
    let strategy = (spec(), ops());
    let mut total = NameCoverage::default();
    for _ in 0..500 {
        let (spec, ops) = strategy
            .new_tree(&mut runner)
            .expect("generate a case")
            .current();
        let coverage = run_names(&spec, &ops).unwrap_or_else(|v| panic!("{v}\n{spec:?}\n{ops:?}"));
        total.add(&coverage);
    }
    let counts = [
        ("requests", total.requests),
        ("names_only", total.names_only),
        ("joins_with_names", total.joins_with_names),
        ("lookups", total.lookups),
        ("answers", total.answers),
        ("refused_answers", total.refused_answers),
        ("lookup_timeouts", total.lookup_timeouts),
        ("lookups_aborted", total.lookups_aborted),
        ("deeper", total.deeper),
        ("resolved_dials", total.resolved_dials),
        ("held", total.held),
        ("capped", total.capped),
        ("too_deep", total.too_deep),
        ("other_peer", total.other_peer),
        ("filtered", total.filtered),
        ("named_dials", total.named_dials),
        ("names_denied", total.names_denied),
        ("no_tokens", total.no_tokens),
        ("connected", total.connected),
    ];
    for (name, count) in counts {
        assert!(count > 0, "no case reached {name}: {total:?}");
    }
    println!("names coverage: {total:?}");
}

/// Found by the property test: two names of one request share a lookup
/// (`/dnsaddr/boot.example` and `/dnsaddr/boot.example/p2p/…`), one deny-listed after its
/// lookup timed out; only the other is looked up, and a later caller's same name is a
/// duplicate, not a new name (R-N1, R-N2, R-R8).
#[test]
fn names_that_share_a_lookup_are_told_apart_by_the_deny_list() {
    let spec = NamesSpec {
        config: ConfigSpec {
            max_tokens: Size::One,
            max_per_peer_dials: Size::One,
            dial_timeout: Span::Secs(23),
            address_timeout: Span::Nano,
            deny_duration: Span::Nano,
            ..ConfigSpec::default()
        },
        resolution_delay: None,
        max_depth: 0,
        max_resolved: ResolvedCap::Default,
        filter: false,
    };
    let dial = |peer, addrs: &[u8]| NameOp::Dial {
        peer,
        addrs: addrs.to_vec(),
        high: false,
        force: false,
    };
    let ops = [
        dial(0, &[0]),
        dial(0, &[4]),
        NameOp::ResolveFail { pick: 66 },
        NameOp::Advance { millis: 1 },
        NameOp::Timeout,
        dial(2, &[4, 3]),
        dial(2, &[3]),
    ];
    if let Err(v) = run_names(&spec, &ops) {
        panic!("{v}");
    }
}
