//! R-D6, R-D7: a request with nothing but backed-off addresses, and one that asks to
//! ignore the deny list.

use dialer_core::{DialOpts, DialRefused, Event, SkipReason, Skipped};

use crate::harness::{addr, addrs, ms, secs, started, with_addr3_denied, Outcome};

// R-D6
#[test]
fn all_backed_off_fails_at_once_and_says_when_to_retry() {
    let mut sim = with_addr3_denied();
    sim.run_until(secs(10));
    let before = sim.stats();

    let err = sim
        .dial(1, &addrs(&[7, 3]))
        .expect_err("nothing dialable now");
    assert_eq!(
        err,
        DialRefused::BackedOff {
            skipped: vec![
                Skipped {
                    addr: addr(7),
                    reason: SkipReason::Undialable,
                },
                Skipped {
                    addr: addr(3),
                    reason: SkipReason::DenyListed,
                },
            ],
            retry_at: sim.at(secs(60) + ms(1)),
            retry_in: secs(50) + ms(1),
        }
    );
    assert!(err.to_string().contains("backed off"), "{err}");
    assert_eq!(sim.take(), vec![], "no RequestTokens, no StartDial");
    let after = sim.stats();
    assert_eq!(
        after.requests_rejected_backed_off,
        before.requests_rejected_backed_off + 1
    );
    assert_eq!(
        after.requests_rejected_no_addresses,
        before.requests_rejected_no_addresses
    );
    assert_eq!(after.requests_started, before.requests_started);
    assert_eq!(sim.dialer.tokens_in_use(), 0);

    // At the time it named, the address is dialable again.
    sim.run_until(secs(60) + ms(1));
    sim.dial(1, &addrs(&[7, 3])).expect("dialable again");
    assert_eq!(started(&sim.take()), vec![addr(3)]);
    sim.finish();
}

// R-D7
#[test]
fn ignore_backoff_dials_a_deny_listed_address_and_its_result_counts() {
    let mut sim = with_addr3_denied();
    assert_eq!(sim.dialer.confidence(&addr(3)), 0);
    let caller = sim
        .dial_with(
            1,
            &addrs(&[3]),
            DialOpts::default().with_ignore_backoff(true),
        )
        .expect("forced past the deny list");
    assert_eq!(started(&sim.take()), vec![addr(3)]);
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Err(_))));
    // The failure counted: still deny-listed, from the new failure's time on.
    assert!(sim.dialer.is_deny_listed(sim.at(secs(60)), &addr(3)));

    // A success of a forced dial lifts the entry, as any success does.
    sim.script(&addr(3), Outcome::Succeed(ms(1)));
    let caller = sim
        .dial_with(
            2,
            &addrs(&[3]),
            DialOpts::default().with_ignore_backoff(true),
        )
        .expect("forced");
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(_))));
    assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(3)));
    assert_eq!(sim.dialer.confidence(&addr(3)), 1);
    sim.finish();
}

// R-D7, R-R8: a caller that joins with `ignore_backoff` brings its deny-listed address
// into the shared request; a normal joiner's deny-listed address stays out.
#[test]
fn a_forcing_joiner_brings_its_deny_listed_address_in() {
    let mut sim = with_addr3_denied();
    sim.script(&addr(1), Outcome::Fail(ms(50), "refused"));
    sim.dial(1, &[addr(1)]).expect("dial");
    sim.dial(1, &[addr(3)]).expect("normal join");
    assert_eq!(started(&sim.take()), vec![addr(1)]);
    let joined = sim
        .dial_full(1, &[addr(3)], DialOpts::default().with_ignore_backoff(true))
        .expect("forcing join");
    assert!(joined.joined);
    let out = sim.take();
    assert_eq!(started(&out), vec![addr(3)]);
    assert!(out.iter().any(|r| matches!(
        r.out,
        crate::harness::Out::Event(Event::RequestTokens { granted: 1, .. })
    )));
    sim.run();
    sim.finish();
}
