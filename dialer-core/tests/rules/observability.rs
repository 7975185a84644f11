//! R-O1: the counters.

use dialer_core::{Config, DialRefused, Priority};

use crate::harness::{addr, addrs, dial_ids, ms, secs, Outcome, Sim};

// R-O1, R-P1, R-C5, R-D6
#[test]
fn every_counter_tells_what_happened() {
    let mut sim = Sim::new(
        Config::default()
            .with_max_tokens(3)
            .with_max_per_peer_dials(2)
            .with_address_timeout(secs(3))
            .with_dial_timeout(secs(5)),
    );
    sim.script(&addr(1), Outcome::Succeed(ms(10)));
    sim.script(&addr(3), Outcome::Fail(ms(5), "refused"));

    // t = 0: two requests take all three tokens, a third is refused, a fourth overdraws,
    // a fifth is invalid.
    sim.dial(1, &addrs(&[1, 2])).expect("A");
    sim.dial(2, &[addr(3)]).expect("B");
    assert_eq!(sim.dial(3, &[addr(4)]), Err(DialRefused::NoTokens));
    sim.dial_with(3, &[addr(4)], Priority::High)
        .expect("D overdraws");
    assert_eq!(sim.dial(4, &[]), Err(DialRefused::NoAddresses));
    let s = sim.stats();
    assert_eq!(
        (
            s.tokens_in_use,
            s.tokens_available,
            s.overdraft_dials_in_flight,
            s.requests_in_flight,
            s.dials_in_flight,
        ),
        (3, 0, 1, 3, 4)
    );
    let a_dials = dial_ids(sim.log());

    // 5 ms: B fails; 10 ms: A connects and aborts addr 2; a late report for it is ignored.
    sim.run_until(ms(10));
    assert!(sim.succeed(a_dials[1]).is_err());
    // 3 s: D's only address times out.
    sim.run_until(secs(3));

    // A request whose one address is backed off, one with a duplicate that a second
    // caller joins and both cancel, and one that times out as a whole.
    assert!(matches!(
        sim.dial(5, &[addr(3)]),
        Err(DialRefused::BackedOff { .. })
    ));
    let g1 = sim.dial(6, &addrs(&[5, 5])).expect("G");
    let g2 = sim.dial(6, &[addr(6)]).expect("G joined");
    sim.cancel(g1).expect("waiting");
    sim.cancel(g2).expect("waiting");
    sim.dial(7, &addrs(&[7, 8, 9])).expect("H");
    sim.run();
    assert_eq!(sim.elapsed(), secs(8), "H ends at its dial_timeout");

    let s = sim.stats();
    let requests = [
        ("requests_started", s.requests_started, 5),
        ("requests_joined", s.requests_joined, 1),
        ("requests_succeeded", s.requests_succeeded, 1),
        ("requests_failed", s.requests_failed, 2),
        ("requests_timed_out", s.requests_timed_out, 1),
        ("requests_cancelled", s.requests_cancelled, 1),
        ("callers_cancelled", s.callers_cancelled, 2),
        (
            "requests_rejected_no_tokens",
            s.requests_rejected_no_tokens,
            1,
        ),
        (
            "requests_rejected_no_addresses",
            s.requests_rejected_no_addresses,
            0,
        ),
        (
            "requests_rejected_backed_off",
            s.requests_rejected_backed_off,
            1,
        ),
        ("requests_rejected_invalid", s.requests_rejected_invalid, 1),
        ("overdraft_requests", s.overdraft_requests, 1),
    ];
    let dials = [
        ("dials_started", s.dials_started, 9),
        ("dials_succeeded", s.dials_succeeded, 1),
        ("dials_failed", s.dials_failed, 1),
        ("dials_timed_out", s.dials_timed_out, 4),
        ("dials_aborted", s.dials_aborted, 3),
        ("addresses_skipped", s.addresses_skipped, 2),
        // H's addresses fall to 0 with no proven sibling: nothing is pruned (R-C5).
        ("addresses_pruned", s.addresses_pruned, 0),
        ("addresses_black_holed", s.addresses_black_holed, 0),
        // E's one address, refused 3 s before (R-D2); G's duplicate has no counter of its own.
        ("addresses_deny_listed", s.addresses_deny_listed, 1),
        ("addresses_skipped_pruned", s.addresses_skipped_pruned, 0),
        ("dials_cut", s.dials_cut, 0),
        ("dials_spared", s.dials_spared, 0),
        ("reports_ignored", s.reports_ignored, 1),
    ];
    for (name, got, want) in requests.into_iter().chain(dials) {
        assert_eq!(got, want, "{name}");
    }
    let gauges = [
        ("tokens_in_use", s.tokens_in_use, 0),
        ("tokens_available", s.tokens_available, 3),
        ("overdraft_dials_in_flight", s.overdraft_dials_in_flight, 0),
        ("requests_in_flight", s.requests_in_flight, 0),
        ("dials_in_flight", s.dials_in_flight, 0),
        // learned: 1 (success), 3, 4, 7, 8, 9 (failures); aborted 2, 5, 6 are not
        ("confidence_entries", s.confidence_entries, 6),
        ("deny_list_entries", s.deny_list_entries, 5),
    ];
    for (name, got, want) in gauges {
        assert_eq!(got, want, "{name}");
    }
    sim.finish();
}
