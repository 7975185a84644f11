//! Property tests: random op sequences through the shared interpreter
//! (`dialer_tests::ops`), which checks after every step the SPEC's invariants 1-7 (through
//! `dialer_core::check::Monitor`) and the rules through its reference model.
//!
//! Every property runs the same checks; what differs is the generator, aimed at one group
//! of rules so that their paths are taken often (the last test shows that they are). Each
//! runs `PROPTEST_CASES` cases, 1,000 unless set.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use dialer_tests::ops::{
    address_pool, run, AdaptiveSpec, BlackHoleSpec, Cap, ConfigSpec, Coverage, Growth,
    HeadStartSpec, Op, PruneAfter, Size, Span, WaitSpec,
};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Failing cases are shrunk and printed; the corpus of named regressions lives in
        // tests/regressions.rs and fuzz/corpus, so no files are written next to the source.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ----- config generators ------------------------------------------------------------

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![
        3 => Just(Size::One),
        2 => Just(Size::Two),
        2 => any::<u8>().prop_map(Size::Small),
        1 => Just(Size::Default),
        1 => Just(Size::Huge),
    ]
}

fn span() -> impl Strategy<Value = Span> {
    prop_oneof![
        1 => Just(Span::Nano),
        4 => (1u16..5_000).prop_map(Span::Millis),
        2 => (1u16..120).prop_map(Span::Secs),
        2 => Just(Span::Default),
        1 => Just(Span::Max),
    ]
}

fn cap() -> impl Strategy<Value = Cap> {
    prop_oneof![
        1 => Just(Cap::Off),
        1 => Just(Cap::One),
        2 => any::<u8>().prop_map(Cap::Small),
        3 => Just(Cap::Default),
        1 => Just(Cap::Huge),
    ]
}

fn head_start() -> impl Strategy<Value = HeadStartSpec> {
    prop_oneof![
        3 => Just(HeadStartSpec::Default),
        1 => Just(HeadStartSpec::Off),
        2 => (any::<u8>(), span(), span())
            .prop_map(|(rtt_over, a, b)| HeadStartSpec::Custom { rtt_over, a, b }),
    ]
}

/// R-D4: growth 1 (none), the default, small, and huge (straight to `deny_max`).
fn growth() -> impl Strategy<Value = Growth> {
    prop_oneof![
        1 => Just(Growth::One),
        2 => Just(Growth::Default),
        1 => any::<u8>().prop_map(Growth::Small),
        1 => Just(Growth::Huge),
    ]
}

/// R-C5: prune after 0, 1, 2 (default) or many failures in a row.
fn prune_after() -> impl Strategy<Value = PruneAfter> {
    prop_oneof![
        1 => Just(PruneAfter::Zero),
        1 => Just(PruneAfter::One),
        2 => Just(PruneAfter::Default),
        1 => any::<u8>().prop_map(PruneAfter::Any),
    ]
}

/// R-R6b: off most of the time (the model is exact there), else measured after a few
/// connects so that short runs cut and spare dials.
fn adaptive() -> impl Strategy<Value = AdaptiveSpec> {
    prop_oneof![
        4 => Just(AdaptiveSpec::Off),
        1 => Just(AdaptiveSpec::Default),
        3 => (0u8..4, any::<u8>(), any::<u8>(), prop_oneof![
                (1u16..400).prop_map(Span::Millis),
                Just(Span::Default),
                Just(Span::Nano),
            ], any::<u8>())
            .prop_map(|(min_samples, percentile, margin, syn_retry, window)| AdaptiveSpec::Quick {
                min_samples, percentile, margin, syn_retry, window,
            }),
    ]
}

/// R-B: the default (rarely full), off, or small windows over any classes, none included.
fn black_holes() -> impl Strategy<Value = BlackHoleSpec> {
    prop_oneof![
        1 => Just(BlackHoleSpec::Default),
        1 => Just(BlackHoleSpec::Off),
        4 => (0u8..16, 1u8..8, any::<u8>()).prop_map(|(classes, window, min_successes)| {
            BlackHoleSpec::Small { classes, window, min_successes }
        }),
    ]
}

/// R-Q1: a queue of 1-4 and a `max_wait` from a nanosecond to far beyond any
/// `dial_timeout`, so that waits end both ways.
fn wait_spec() -> impl Strategy<Value = WaitSpec> {
    (0u8..4, span()).prop_map(|(queue, max_wait)| WaitSpec { queue, max_wait })
}

/// R-Q1: the wait queue off mostly (the seed's fail-fast), on now and then.
fn wait() -> impl Strategy<Value = Option<WaitSpec>> {
    prop_oneof![3 => Just(None), 1 => wait_spec().prop_map(Some)]
}

/// Any valid config: tiny pools, one dial per peer, stagger on/off, head start default,
/// off or custom, tiny and huge caps and durations, and the learned mechanisms (growing
/// backoff, prune threshold, adaptive timeouts, black holes, interleave) on and off.
fn any_config() -> impl Strategy<Value = ConfigSpec> {
    (
        (size(), size(), size()),
        (span(), span(), span(), span(), proptest::option::of(span())),
        (cap(), cap(), head_start()),
        (
            growth(),
            span(),
            prune_after(),
            adaptive(),
            black_holes(),
            proptest::bool::weighted(0.8),
            wait(),
        ),
    )
        .prop_map(
            |((t, p, a), (dt, at, dd, pd, st), (cc, dc, hs), (dg, dm, pa, ad, bh, il, wt))| {
                ConfigSpec {
                    max_tokens: t,
                    max_per_peer_dials: p,
                    max_addrs_per_request: a,
                    dial_timeout: dt,
                    address_timeout: at,
                    deny_duration: dd,
                    prune_duration: pd,
                    stagger: st,
                    head_start: hs,
                    confidence_capacity: cc,
                    deny_list_capacity: dc,
                    deny_growth: dg,
                    deny_max: dm,
                    prune_after_failures: pa,
                    adaptive: ad,
                    black_holes: bh,
                    interleave: il,
                    wait_for_tokens: wt,
                }
            },
        )
}

// ----- op generators ------------------------------------------------------------------

/// Address lists: mostly short, sometimes empty, sometimes longer than any cap (R-R9).
fn addrs() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        7 => vec(0u8..10, 1..5),
        5 => vec(0u8..address_pool().len() as u8, 1..5),
        2 => vec(10u8..address_pool().len() as u8, 1..4),
        1 => Just(Vec::new()),
        1 => vec(any::<u8>(), 20..34),
    ]
}

fn dial() -> impl Strategy<Value = Op> {
    (0u8..4, addrs(), proptest::bool::weighted(0.2)).prop_map(|(peer, addrs, high)| Op::Dial {
        peer,
        addrs,
        high,
    })
}

fn join() -> impl Strategy<Value = Op> {
    (any::<u8>(), addrs()).prop_map(|(pick, addrs)| Op::Join { pick, addrs })
}

fn report() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(|pick| Op::Succeed { pick }),
        6 => any::<u8>().prop_map(|pick| Op::Fail { pick }),
    ]
}

fn bad_report() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(pick, first_ok, second_ok)| {
            Op::ReportTwice {
                pick,
                first_ok,
                second_ok,
            }
        }),
        (any::<u8>(), any::<bool>()).prop_map(|(pick, ok)| Op::ReportAborted { pick, ok }),
        (any::<u16>(), any::<bool>()).prop_map(|(raw, ok)| Op::ReportUnknown { raw, ok }),
    ]
}

fn cancel() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(|pick| Op::Cancel { pick }),
        1 => (any::<u8>(), any::<bool>())
            .prop_map(|(pick, never_issued)| Op::CancelUnknown { pick, never_issued }),
    ]
}

fn time() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Round steps land exactly on deadlines and expiries (the configs' durations are
        // round too), where off-by-one errors live.
        3 => proptest::sample::select(vec![1u16, 250, 300, 500, 1_000, 1_500])
            .prop_map(|millis| Op::Advance { millis }),
        4 => (0u16..3_000).prop_map(|millis| Op::Advance { millis }),
        1 => any::<u16>().prop_map(|millis| Op::Advance { millis }),
        1 => any::<u32>().prop_map(|secs| Op::AdvanceLarge { secs }),
        1 => any::<u32>().prop_map(|millis| Op::Rewind { millis }),
        2 => Just(Op::Timeout),
        3 => Just(Op::TimeoutAtDeadline),
    ]
}

fn learning() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::RoundTrip),
        1 => (any::<u8>(), 0u8..16).prop_map(|(addr, value)| Op::Import { addr, value }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(peer, addr)| Op::LiftPrune { peer, addr }),
    ]
}

/// The network ops: forced dials (R-D7), classes going dark and back (R-B), slow
/// answers (R-R6b), `network_changed` (R-D4b), `handle_peer_connected` (R-D4a).
fn network() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, addrs()).prop_map(|(peer, addrs)| Op::Force { peer, addrs }),
        2 => (1u8..4, any::<bool>()).prop_map(|(classes, hang)| Op::Dark { classes, hang }),
        1 => (1u8..4).prop_map(|classes| Op::Light { classes }),
        3 => Just(Op::FailDark),
        3 => (any::<u8>(), 0u16..3_000, any::<bool>())
            .prop_map(|(pick, millis, timeout_first)| Op::Late { pick, millis, timeout_first }),
        1 => Just(Op::NetworkChanged),
        1 => (any::<u8>(), addrs()).prop_map(|(pick, addrs)| Op::PeerConnected { pick, addrs }),
    ]
}

/// Every kind of op, in proportions that keep requests alive long enough to collide.
fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => dial(),
        2 => join(),
        6 => report(),
        2 => bad_report(),
        2 => cancel(),
        5 => time(),
        1 => learning(),
        2 => network(),
    ]
}

fn ops(op: impl Strategy<Value = Op>) -> impl Strategy<Value = Vec<Op>> {
    vec(op, 0..48)
}

fn check(config: &ConfigSpec, ops: &[Op]) -> Result<Coverage, TestCaseError> {
    run(config.config(), ops).map_err(|v| TestCaseError::fail(v.to_string()))
}

// ----- properties -----------------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config())]

    /// Invariants 1-7, the Bad-input rules and every modelled rule, for any valid config
    /// and any op sequence.
    #[test]
    fn invariants_1_to_7_hold_after_every_step(config in any_config(), ops in ops(any_op())) {
        check(&config, &ops)?;
    }

    /// Invariant 1, R-T1 … R-T8, R-P1: a pool of 1-2 tokens shared by 4 peers, so that
    /// requests are refused (R-T4), overdraw (R-P1), get fewer tokens than they ask
    /// (R-T3) and pass released tokens on (R-T7, R-T8).
    #[test]
    fn invariant_1_and_r_t_tokens_under_pressure(
        config in any_config().prop_map(|c| ConfigSpec {
            max_tokens: Size::One,
            max_per_peer_dials: Size::Two,
            ..c
        }),
        ops in ops(prop_oneof![4 => dial(), 1 => join(), 4 => report(), 1 => cancel(), 2 => time()]),
    ) {
        check(&config, &ops)?;
    }

    /// Invariants 3 and 5, R-R6, R-R6a, R-C4: short timeouts and jumps in time, so that
    /// dials and requests time out in every order (the same `handle_timeout`, late
    /// reports, reports after a timeout).
    #[test]
    fn invariants_3_and_5_r_r6_timeouts(
        config in any_config().prop_map(|c| ConfigSpec {
            dial_timeout: Span::Millis(1_000),
            address_timeout: Span::Millis(300),
            ..c
        }),
        ops in ops(prop_oneof![3 => dial(), 2 => report(), 1 => bad_report(), 5 => time()]),
    ) {
        check(&config, &ops)?;
    }

    /// Invariant 6, R-C1 … R-C6: confidence from outcomes, the LRU table at tiny
    /// capacities, pruning, and export/import round trips.
    #[test]
    fn invariant_6_r_c_confidence(
        config in any_config().prop_map(|c| ConfigSpec { max_per_peer_dials: Size::Small(3), ..c }),
        cap in prop_oneof![Just(Cap::One), Just(Cap::Small(3)), Just(Cap::Small(6)), Just(Cap::Default)],
        ops in ops(prop_oneof![4 => dial(), 6 => report(), 2 => learning(), 2 => time()]),
    ) {
        check(&ConfigSpec { confidence_capacity: cap, ..config }, &ops)?;
    }

    /// Invariant 4, invariant 7, R-D1 … R-D3: the deny list with and without a capacity
    /// limit, entries expiring while requests wait, and no dial of a denied address.
    #[test]
    fn invariants_4_and_7_r_d_deny_list(
        config in any_config().prop_map(|c| ConfigSpec {
            deny_duration: Span::Millis(1_500),
            ..c
        }),
        cap in prop_oneof![Just(Cap::Off), Just(Cap::One), Just(Cap::Small(3)), Just(Cap::Huge)],
        ops in ops(prop_oneof![4 => dial(), 5 => report(), 3 => time()]),
    ) {
        check(&ConfigSpec { deny_list_capacity: cap, ..config }, &ops)?;
    }

    /// Invariant 5, R-R4, R-R7, R-R8: joins, cancels by every caller in every order, the
    /// first success winning for everyone.
    #[test]
    fn invariant_5_r_r8_joins_and_cancels(
        config in any_config(),
        ops in ops(prop_oneof![3 => dial(), 4 => join(), 3 => cancel(), 3 => report(), 1 => time()]),
    ) {
        check(&config, &ops)?;
    }

    /// Invariant 2, R-S1: with a stagger, dials of one request start one per delay, and
    /// at once when nothing of the request is in flight.
    #[test]
    fn invariant_2_r_s1_stagger(
        config in any_config(),
        stagger in prop_oneof![Just(Span::Nano), (1u16..2_000).prop_map(Span::Millis), Just(Span::Default)],
        ops in ops(prop_oneof![3 => dial(), 2 => join(), 3 => report(), 3 => time()]),
    ) {
        let config = ConfigSpec {
            stagger: Some(stagger),
            max_per_peer_dials: Size::Small(3),
            ..config
        };
        check(&config, &ops)?;
    }

    /// R-B1 … R-B4, R-R6b, R-D4, R-D4a, R-D4b, R-D7, R-C5, R-C5a, R-R1a: small black-hole
    /// windows over classes that go dark and come back, adaptive timeouts measured after a
    /// few connects, slow answers, growing backoff, forced dials, network changes.
    #[test]
    fn r_b_r_r6b_r_d4_the_network_rules(
        config in any_config().prop_map(|c| ConfigSpec {
            black_holes: BlackHoleSpec::Small { classes: 3, window: 3, min_successes: 1 },
            max_per_peer_dials: Size::Small(3),
            ..c
        }),
        adaptive in adaptive(),
        ops in ops(prop_oneof![4 => dial(), 1 => join(), 5 => report(), 3 => time(), 5 => network(), 1 => learning()]),
    ) {
        check(&ConfigSpec { adaptive, ..config }, &ops)?;
    }

    /// R-Q1 (with R-T4, R-T8, R-P1, R-R6, R-R7, R-R8): the wait queue on over a pool of
    /// 1-2 tokens, so that requests queue, fill the queue, are served oldest first as
    /// tokens come back, run out of time (max_wait or dial_timeout first), and are
    /// joined, cancelled and taken out by high-priority callers while they wait.
    #[test]
    fn r_q1_the_wait_queue(config in queue_config(), ops in ops(queue_ops())) {
        check(&config, &ops)?;
    }

    /// Bad input: refused reports (twice, after an abort, unknown ids), stale cancels,
    /// empty and over-long lists, time going backwards: an error value, no state change.
    #[test]
    fn bad_input_changes_nothing(
        config in any_config(),
        ops in ops(prop_oneof![3 => dial(), 4 => bad_report(), 2 => cancel(), 2 => report(), 2 => time()]),
    ) {
        check(&config, &ops)?;
    }
}

/// R-Q1: configs with the wait queue on and a pool that a few requests empty.
fn queue_config() -> impl Strategy<Value = ConfigSpec> {
    (
        any_config(),
        wait_spec(),
        prop_oneof![Just(Size::One), Just(Size::Two)],
        prop_oneof![Just(Size::One), Just(Size::Two), Just(Size::Small(2))],
    )
        .prop_map(|(c, w, t, p)| ConfigSpec {
            max_tokens: t,
            max_per_peer_dials: p,
            wait_for_tokens: Some(w),
            ..c
        })
}

/// R-Q1: ops that fill the queue, free tokens, and touch waiting requests.
fn queue_ops() -> impl Strategy<Value = Op> {
    prop_oneof![5 => dial(), 2 => join(), 4 => report(), 2 => cancel(), 4 => time()]
}

/// Runs `cases` cases of `strategy` and adds their coverage to `total`.
fn gather(
    runner: &mut TestRunner,
    strategy: &impl Strategy<Value = (ConfigSpec, Vec<Op>)>,
    cases: usize,
    total: &mut Coverage,
) {
    for _ in 0..cases {
        let (config, ops) = strategy
            .new_tree(runner)
            .expect("generate a case")
            .current();
        let coverage =
            run(config.config(), &ops).unwrap_or_else(|v| panic!("{v}\n{config:?}\n{ops:?}"));
        total.add(&coverage);
    }
}

/// The generators reach every rule the model checks: summed over a few hundred general
/// cases, every path the coverage counts was taken. Without this, a generator that never
/// reaches (say) a prune would make the properties above pass vacuously.
#[test]
fn generators_reach_every_rule() {
    let mut runner = TestRunner::deterministic();
    let strategy = (any_config(), ops(any_op()));
    let mut total = Coverage::default();
    gather(&mut runner, &strategy, 400, &mut total);
    // The network rules' generator (see `r_b_r_r6b_r_d4_the_network_rules`).
    let strategy = (
        any_config().prop_map(|c| ConfigSpec {
            black_holes: BlackHoleSpec::Small {
                classes: 3,
                window: 3,
                min_successes: 1,
            },
            max_per_peer_dials: Size::Small(3),
            adaptive: AdaptiveSpec::Quick {
                min_samples: 1,
                percentile: 49,
                margin: 0,
                syn_retry: Span::Millis(200),
                window: 15,
            },
            ..c
        }),
        ops(
            prop_oneof![4 => dial(), 1 => join(), 5 => report(), 3 => time(), 5 => network(), 2 => learning()],
        ),
    );
    gather(&mut runner, &strategy, 300, &mut total);
    // The wait queue's generator (see `r_q1_the_wait_queue`).
    let strategy = (queue_config(), ops(queue_ops()));
    gather(&mut runner, &strategy, 200, &mut total);
    let counts = [
        ("requests", total.requests),
        ("joins", total.joins),
        ("no_tokens", total.no_tokens),
        ("overdrafts", total.overdrafts),
        ("no_dialable", total.no_dialable),
        ("too_many", total.too_many),
        ("dials", total.dials),
        ("successes", total.successes),
        ("failures", total.failures),
        ("address_timeouts", total.address_timeouts),
        ("request_timeouts", total.request_timeouts),
        ("cancels", total.cancels),
        ("refused_reports", total.refused_reports),
        ("prunes", total.prunes),
        ("all_failed", total.all_failed),
        ("staggered", total.staggered),
        ("head_starts", total.head_starts),
        ("grown_denies", total.grown_denies),
        ("black_hole_blocked", total.black_hole_blocked),
        ("cuts", total.cuts),
        ("spares", total.spares),
        ("restarts", total.restarts),
        ("forced", total.forced),
        ("peer_connected", total.peer_connected),
        ("network_changes", total.network_changes),
        ("queued", total.queued),
        ("served", total.served),
        ("wait_timeouts", total.wait_timeouts),
        ("wait_dial_timeouts", total.wait_dial_timeouts),
        ("queue_full", total.queue_full),
        ("queued_cancels", total.queued_cancels),
        ("queued_joins", total.queued_joins),
        ("queue_takeouts", total.queue_takeouts),
    ];
    for (name, count) in counts {
        assert!(count > 0, "no case reached {name}: {total:?}");
    }
    // Rarer paths (an expired prune mark met again, a probe, a black-holed refusal, a
    // patient dial, a reclaim, a lifted mark) are left to the fuzz corpus and printed
    // here: with 18 addresses random sequences reach them only now and then.
    println!("rarer paths: {total:?}");
}
