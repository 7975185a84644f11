//! The SPEC's "Bad input": every one gets a typed error and leaves the dialer consistent.

use std::time::Duration;

use dialer_core::{
    CallerId, CancelError, Config, ConfigError, DialId, DialRefused, Dialer, Event, ReportError,
    SkipReason, Skipped, Stats,
};

use crate::harness::{addr, addrs, dial_ids, ms, secs, started, token_events, Outcome, Sim};

/// Stats with the one counter a refused report may move zeroed out.
fn without_ignored(mut s: Stats) -> Stats {
    s.reports_ignored = 0;
    s
}

// Bad input: max_tokens / max_per_peer_dials / max_addrs of 0 and zero durations
#[test]
fn config_with_zero_or_huge_values_is_rejected() {
    let cases: Vec<(Config, ConfigError)> = vec![
        (
            Config::default().with_max_tokens(0),
            ConfigError::ZeroTokens,
        ),
        (
            Config::default().with_max_per_peer_dials(0),
            ConfigError::ZeroPerPeerDials,
        ),
        (
            Config::default().with_max_addrs_per_request(0),
            ConfigError::ZeroAddrsPerRequest,
        ),
        (
            Config::default().with_dial_timeout(Duration::ZERO),
            ConfigError::ZeroDuration("dial_timeout"),
        ),
        (
            Config::default().with_address_timeout(Duration::ZERO),
            ConfigError::ZeroDuration("address_timeout"),
        ),
        (
            Config::default().with_deny_duration(Duration::ZERO),
            ConfigError::ZeroDuration("deny_duration"),
        ),
        (
            Config::default().with_stagger(Some(Duration::ZERO)),
            ConfigError::ZeroDuration("stagger"),
        ),
        (
            Config::default().with_dial_timeout(Duration::MAX),
            ConfigError::DurationTooLarge("dial_timeout"),
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(config.validate(), Err(expected.clone()), "{config:?}");
        assert_eq!(Dialer::<u32>::new(config).err(), Some(expected));
    }
    // The defaults hold the SPEC's table, and the documented off switches are valid.
    let d = Config::default();
    assert_eq!(
        (
            d.max_tokens,
            d.max_per_peer_dials,
            d.dial_timeout,
            d.address_timeout,
            d.max_addrs_per_request,
            d.deny_duration,
        ),
        (100, 4, secs(30), secs(10), 25, secs(60))
    );
    assert!(Dialer::<u32>::new(
        Config::default()
            .with_confidence_capacity(0)
            .with_deny_list_capacity(0)
    )
    .is_ok());
}

// Bad input: an empty address list
#[test]
fn empty_address_list_is_refused_and_spends_nothing() {
    let mut sim = Sim::new(Config::default());
    assert_eq!(sim.dial(1, &[]), Err(DialRefused::NoAddresses));
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert_eq!(sim.dialer.requests_in_flight(), 0);
    assert_eq!(sim.stats().requests_rejected_invalid, 1);
    assert_eq!(sim.stats().requests_started, 0);

    // Nor does it join a request in flight for the same peer.
    let caller = sim.dial(1, &[addr(1)]).expect("dial");
    sim.take();
    assert_eq!(sim.dial(1, &[]), Err(DialRefused::NoAddresses));
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.stats().requests_joined, 0);
    assert_eq!(sim.dialer.tokens_in_use(), 1);
    assert!(sim.dialer.request_of(caller).is_some());
    sim.finish();
}

// Bad input: duplicate addresses (R-R1, R-T2)
#[test]
fn duplicate_addresses_are_dialed_once_and_cost_one_token() {
    let mut sim = Sim::new(Config::default());
    let caller = sim.dial(1, &addrs(&[1, 1, 1])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    let out = sim.take();
    assert_eq!(started(&out), vec![addr(1)]);
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 1,
            granted: 1,
            overdraft: false,
        }]
    );
    assert_eq!(sim.stats().addresses_skipped, 2);
    sim.finish();
}

// Bad input: addresses that cannot be dialed (R-R1, R-R2)
#[test]
fn undialable_addresses_are_refused_before_any_token() {
    let dialer = Dialer::new(Config::default())
        .expect("config")
        .with_dialable(|a| !a.to_string().contains("/tcp/9"));
    let mut sim = Sim::with_dialer(dialer);
    assert_eq!(
        sim.dial(1, &addrs(&[9, 90, 9])),
        Err(DialRefused::NoDialableAddresses {
            skipped: vec![
                Skipped {
                    addr: addr(9),
                    reason: SkipReason::Undialable,
                },
                Skipped {
                    addr: addr(90),
                    reason: SkipReason::Undialable,
                },
                // A repeat of a dropped address is reported with the first one's reason.
                Skipped {
                    addr: addr(9),
                    reason: SkipReason::Undialable,
                },
            ],
        })
    );
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert_eq!(sim.stats().requests_rejected_no_addresses, 1);
    // A joining caller's undialable addresses are dropped too.
    sim.dial(1, &[addr(1)]).expect("dial");
    sim.dial(1, &[addr(9)]).expect("join");
    assert_eq!(started(&sim.take()), vec![addr(1)]);
    assert_eq!(sim.dialer.tokens_in_use(), 1);
    sim.finish();
}

/// A dialer with one request in flight whose dial 1 connected and dial 2 was aborted.
fn after_a_success() -> (Sim, Vec<DialId>) {
    let mut sim = Sim::new(Config::default());
    sim.script(&addr(1), Outcome::Succeed(ms(10)));
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.run_until(ms(10));
    // Something still in flight, so a stray report has state to disturb.
    sim.dial(2, &addrs(&[3, 4])).expect("dial");
    let dials = dial_ids(sim.log());
    sim.take();
    (sim, dials)
}

// Bad input: reports for unknown, finished or aborted dials
#[test]
fn reports_for_unknown_finished_or_aborted_dials_change_nothing() {
    let (mut sim, dials) = after_a_success();
    let never_issued = DialId::from_raw(9_999);
    let cases = [
        (never_issued, "never issued"),
        (dials[0], "already reported"),
        (dials[1], "aborted"),
    ];
    for (dial, what) in cases {
        for success in [true, false] {
            let before = sim.stats();
            let deadline = sim.dialer.poll_timeout();
            let conf: Vec<u8> = (1..=4).map(|p| sim.dialer.confidence(&addr(p))).collect();
            let result = if success {
                sim.succeed(dial)
            } else {
                sim.fail(dial, "late")
            };
            assert_eq!(result, Err(ReportError::UnknownDial(dial)), "{what}");
            assert_eq!(sim.take(), vec![], "{what}: no output");
            let after = sim.stats();
            assert_eq!(after.reports_ignored, before.reports_ignored + 1);
            assert_eq!(without_ignored(after), without_ignored(before), "{what}");
            assert_eq!(sim.dialer.poll_timeout(), deadline);
            let conf_after: Vec<u8> = (1..=4).map(|p| sim.dialer.confidence(&addr(p))).collect();
            assert_eq!(conf_after, conf, "{what}");
            assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(2)), "{what}");
        }
    }
    assert_eq!(sim.dialer.tokens_in_use(), 2);
    sim.finish();
}

// Bad input: a duplicated report
#[test]
fn a_duplicated_report_is_refused_and_counts_once() {
    let mut sim = Sim::new(Config::default());
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let dials = dial_ids(&sim.take());
    sim.fail(dials[0], "refused").expect("first report");
    assert_eq!(sim.dialer.confidence(&addr(1)), 0);
    sim.take();
    let before = sim.stats();
    assert_eq!(
        sim.fail(dials[0], "refused"),
        Err(ReportError::UnknownDial(dials[0]))
    );
    assert_eq!(
        sim.succeed(dials[0]),
        Err(ReportError::UnknownDial(dials[0]))
    );
    assert_eq!(
        sim.dialer.confidence(&addr(1)),
        0,
        "not raised by a stray success"
    );
    assert_eq!(without_ignored(sim.stats()), without_ignored(before));
    assert_eq!(sim.stats().dials_failed, 1);
    assert_eq!(sim.take(), vec![]);

    sim.succeed(dials[1]).expect("first report");
    assert_eq!(
        sim.succeed(dials[1]),
        Err(ReportError::UnknownDial(dials[1]))
    );
    assert_eq!(sim.stats().dials_succeeded, 1);
    assert_eq!(sim.stats().requests_succeeded, 1);
    assert_eq!(sim.dialer.confidence(&addr(2)), 2);
    sim.finish();
}

// Bad input: cancel of an unknown or finished caller (R-R7)
#[test]
fn cancel_of_an_unknown_or_finished_caller_is_refused() {
    let (mut sim, _) = after_a_success();
    let finished = match sim.log().iter().find_map(|r| match &r.out {
        crate::harness::Out::Event(Event::Finished { caller, .. }) => Some(*caller),
        _ => None,
    }) {
        Some(c) => c,
        None => panic!("the first request finished"),
    };
    for caller in [finished, CallerId::from_raw(4_242)] {
        let before = sim.stats();
        let deadline = sim.dialer.poll_timeout();
        assert_eq!(sim.cancel(caller), Err(CancelError::UnknownCaller(caller)));
        assert_eq!(sim.take(), vec![]);
        assert_eq!(sim.stats(), before);
        assert_eq!(sim.dialer.poll_timeout(), deadline);
    }
    assert_eq!(sim.dialer.requests_in_flight(), 1);
    assert_eq!(sim.dialer.tokens_in_use(), 2);
    sim.finish();
}
