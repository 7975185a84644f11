//! R-C (confidence) and R-D (deny list): what the dialer learns from dials.

use dialer_core::{
    Config, DialFailed, DialRefused, Event, SkipReason, Skipped, INITIAL_CONFIDENCE, MAX_CONFIDENCE,
};

use crate::harness::{addr, addrs, events, ms, secs, started, Outcome, Sim};

/// A short deny list that does not grow, so one address can be dialed again and again.
fn forgetful() -> Config {
    Config::default()
        .with_deny_duration(ms(1))
        .with_deny_growth(1)
}

/// [`forgetful`], and one failure is enough to prune: for the tests of what a prune mark
/// does once it is there (R-C5's threshold has its own tests).
fn prunes_at_once() -> Config {
    forgetful().with_prune_after_failures(1)
}

/// Dials `port` alone for `peer`, runs to the end and returns the dialer's verdict.
fn dial_once(sim: &mut Sim, peer: u32, port: u16) -> bool {
    let caller = sim.dial(peer, &[addr(port)]).expect("dial");
    sim.run();
    // Let the deny entry of a failure expire before the next round.
    sim.run_for(ms(1));
    matches!(sim.outcome(caller), Some(Ok(_)))
}

// R-C1
#[test]
fn every_address_starts_at_one() {
    assert_eq!(INITIAL_CONFIDENCE, 1);
    let sim = Sim::new(Config::default());
    for port in [1, 2, 65_535] {
        assert_eq!(sim.dialer.confidence(&addr(port)), 1);
    }
    assert_eq!(sim.dialer.export_confidence(), vec![]);
}

// R-C2
#[test]
fn a_failure_lowers_confidence_by_one_down_to_zero() {
    let mut sim = Sim::new(forgetful());
    sim.dialer.import_confidence([(addr(1), 2)]);
    sim.script(&addr(1), Outcome::Fail(ms(5), "refused"));
    let mut seen = Vec::new();
    for _ in 0..3 {
        assert!(!dial_once(&mut sim, 1, 1));
        seen.push(sim.dialer.confidence(&addr(1)));
    }
    assert_eq!(seen, vec![1, 0, 0]);
    sim.finish();
}

// R-C3
#[test]
fn a_success_raises_confidence_by_one_up_to_ten() {
    assert_eq!(MAX_CONFIDENCE, 10);
    let mut sim = Sim::new(Config::default());
    sim.dialer.import_confidence([(addr(1), 8)]);
    sim.script(&addr(1), Outcome::Succeed(ms(5)));
    let mut seen = Vec::new();
    for _ in 0..3 {
        assert!(dial_once(&mut sim, 1, 1));
        seen.push(sim.dialer.confidence(&addr(1)));
    }
    assert_eq!(seen, vec![9, 10, 10]);
    // From the start value, too.
    sim.script(&addr(2), Outcome::Succeed(ms(5)));
    assert!(dial_once(&mut sim, 2, 2));
    assert_eq!(sim.dialer.confidence(&addr(2)), 2);
    sim.finish();
}

// R-C4
#[test]
fn aborted_dials_do_not_change_confidence() {
    let mut sim = Sim::new(Config::default());
    sim.dialer.import_confidence([(addr(1), 5)]);
    sim.script(&addr(3), Outcome::Succeed(ms(10)));
    // 1 and 2 are superseded by 3.
    let caller = sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(_))));
    assert_eq!(sim.dialer.confidence(&addr(1)), 5);
    assert_eq!(sim.dialer.confidence(&addr(2)), 1);
    assert_eq!(sim.dialer.confidence(&addr(3)), 2);
    // A cancelled one neither.
    let caller = sim.dial(2, &addrs(&[1, 2])).expect("dial");
    sim.run_for(ms(100));
    sim.cancel(caller).expect("waiting");
    assert_eq!(sim.dialer.confidence(&addr(1)), 5);
    assert_eq!(sim.dialer.confidence(&addr(2)), 1);
    assert_eq!(sim.stats().dials_aborted, 4);
    sim.finish();
}

// R-C4, R-R6a
#[test]
fn an_address_timeout_is_a_failure() {
    let mut sim = Sim::new(Config::default().with_address_timeout(secs(1)));
    sim.dialer.import_confidence([(addr(1), 3)]);
    let caller = sim.dial(1, &[addr(1)]).expect("dial");
    sim.run();
    assert!(matches!(
        sim.outcome(caller),
        Some(Err(DialFailed::AllFailed { .. }))
    ));
    assert_eq!(sim.dialer.confidence(&addr(1)), 2);
    assert_eq!(sim.stats().dials_timed_out, 1);
    sim.finish();
}

// R-C5
#[test]
fn an_address_that_falls_to_zero_beside_a_better_one_is_pruned_and_skipped() {
    let mut sim = Sim::new(prunes_at_once());
    sim.dialer.import_confidence([(addr(2), 3)]);
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(50)));
    let caller = sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.addr == addr(2)));
    let pruned: Vec<_> = events(sim.log())
        .into_iter()
        .filter(|e| matches!(e, Event::Pruned { .. }))
        .collect();
    assert_eq!(
        pruned,
        vec![Event::Pruned {
            peer: 7,
            addr: addr(1),
        }]
    );
    assert!(sim.dialer.is_pruned(sim.now(), &7, &addr(1)));
    assert_eq!(sim.stats().addresses_pruned, 1);

    // Later requests of peer 7 skip it, even after its deny entry expired …
    sim.run_for(secs(1));
    assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(1)));
    sim.take();
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    // A caller joining that request does not bring it back in.
    sim.dial(7, &[addr(1)]).expect("join");
    sim.run();
    assert_eq!(started(&sim.take()), vec![addr(2)]);
    assert_eq!(
        sim.dial(7, &[addr(1)]),
        Err(DialRefused::NoDialableAddresses {
            skipped: vec![Skipped {
                addr: addr(1),
                reason: SkipReason::Pruned,
            }],
        })
    );
    // … but another peer may still dial it.
    assert!(!sim.dialer.is_pruned(sim.now(), &8, &addr(1)));
    sim.dial(8, &[addr(1)]).expect("not pruned for peer 8");
    assert_eq!(started(&sim.take()), vec![addr(1)]);
    sim.finish();
}

// R-C5
#[test]
fn an_address_pruned_for_two_peers_stays_pruned_for_both() {
    let mut sim = Sim::new(prunes_at_once());
    sim.dialer.import_confidence([(addr(2), 5), (addr(3), 5)]);
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(50)));
    sim.script(&addr(3), Outcome::Succeed(ms(50)));
    // A shared address (say, a relay) falls to 0 for peer 7, then fails for peer 8.
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    sim.run_for(secs(1));
    sim.dial(8, &addrs(&[1, 3])).expect("dial");
    sim.run();
    sim.run_for(secs(1));
    assert!(sim.dialer.is_pruned(sim.now(), &8, &addr(1)));
    assert!(
        sim.dialer.is_pruned(sim.now(), &7, &addr(1)),
        "still pruned for peer 7"
    );
    assert_eq!(sim.stats().addresses_pruned, 2);
    sim.take();
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    assert_eq!(started(&sim.take()), vec![addr(2)]);
    sim.finish();
}

// R-C5
#[test]
fn no_pruning_without_a_better_address_or_without_a_real_failure() {
    let mut sim = Sim::new(forgetful());
    // Alone: falls to 0 but the peer has nothing better.
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    assert!(!dial_once(&mut sim, 1, 1));
    assert_eq!(sim.dialer.confidence(&addr(1)), 0);
    // Both fall to 0, twice: an untried sibling (confidence 1) proves nothing, so
    // neither is pruned.
    sim.script(&addr(2), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(3), Outcome::Fail(ms(20), "refused"));
    for _ in 0..2 {
        sim.dial(2, &addrs(&[2, 3])).expect("dial");
        sim.run();
        sim.run_for(ms(1));
    }
    let pruned: Vec<_> = events(sim.log())
        .into_iter()
        .filter(|e| matches!(e, Event::Pruned { .. }))
        .collect();
    assert_eq!(pruned, vec![]);
    // An abort at confidence 0 is not a failure: no pruning.
    sim.run_for(secs(1));
    sim.dialer.import_confidence([(addr(5), 0), (addr(6), 5)]);
    sim.script(&addr(6), Outcome::Succeed(ms(5)));
    sim.dial(3, &addrs(&[5, 6])).expect("dial");
    sim.run();
    assert!(!sim.dialer.is_pruned(sim.now(), &3, &addr(5)));
    assert_eq!(sim.stats().addresses_pruned, 0);
    sim.finish();
}

// R-C6
#[test]
fn confidence_table_is_bounded_and_drops_the_least_recently_used() {
    let mut sim = Sim::new(forgetful().with_confidence_capacity(2));
    for port in 1..=3 {
        sim.script(&addr(port), Outcome::Succeed(ms(1)));
    }
    assert!(dial_once(&mut sim, 1, 1));
    assert!(dial_once(&mut sim, 2, 2));
    // Touch 1 again: 2 is now the least recent.
    assert!(dial_once(&mut sim, 1, 1));
    assert!(dial_once(&mut sim, 3, 3));
    assert_eq!(sim.stats().confidence_entries, 2);
    assert_eq!(sim.dialer.confidence(&addr(1)), 3);
    assert_eq!(
        sim.dialer.confidence(&addr(2)),
        1,
        "evicted: back to the start"
    );
    assert_eq!(sim.dialer.confidence(&addr(3)), 2);
    assert_eq!(
        sim.dialer.export_confidence(),
        vec![(addr(1), 3), (addr(3), 2)]
    );
    sim.finish();
}

// R-C6
#[test]
fn confidence_survives_a_restart_through_export_and_import() {
    let mut sim = Sim::new(forgetful().with_max_per_peer_dials(1));
    sim.script(&addr(1), Outcome::Fail(ms(1), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(1)));
    sim.script(&addr(3), Outcome::Succeed(ms(1)));
    assert!(!dial_once(&mut sim, 1, 1));
    for _ in 0..4 {
        assert!(dial_once(&mut sim, 2, 2));
    }
    assert!(dial_once(&mut sim, 3, 3));
    let exported = sim.dialer.export_confidence();
    assert_eq!(exported, vec![(addr(1), 0), (addr(2), 5), (addr(3), 2)]);
    sim.finish();

    // A new dialer (a restart) learns it back …
    let mut restarted = Sim::new(forgetful().with_max_per_peer_dials(1));
    restarted.dialer.import_confidence(exported.clone());
    assert_eq!(restarted.dialer.export_confidence(), exported);
    for port in 1..=3 {
        restarted.script(&addr(port), Outcome::Fail(ms(1), "refused"));
    }
    // … and dials by it.
    restarted.dial(9, &addrs(&[1, 3, 2])).expect("dial");
    restarted.run();
    assert_eq!(started(restarted.log()), addrs(&[2, 3, 1]));

    // Import into a smaller table keeps the most recent entries, and clamps values.
    let mut small = Sim::new(Config::default().with_confidence_capacity(2));
    small
        .dialer
        .import_confidence(exported.iter().cloned().chain([(addr(4), 200)]));
    assert_eq!(
        small.dialer.export_confidence(),
        vec![(addr(3), 2), (addr(4), 10)]
    );
    restarted.finish();
}

// R-D1
#[test]
fn failures_and_timeouts_deny_list_but_aborts_do_not() {
    let mut sim = Sim::new(Config::default().with_address_timeout(secs(1)));
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(1)), "failure");
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(2)), "timeout");

    sim.script(&addr(3), Outcome::Hang);
    sim.script(&addr(4), Outcome::Succeed(ms(10)));
    sim.dial(2, &addrs(&[3, 4])).expect("dial");
    sim.run();
    assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(3)), "abort");
    assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(4)), "success");
    assert_eq!(sim.stats().deny_list_entries, 2);
    sim.finish();
}

// R-D2
#[test]
fn deny_listed_addresses_wait_for_expiry_driven_by_now() {
    let mut sim = Sim::new(Config::default().with_deny_duration(secs(60)));
    sim.script(&addr(1), Outcome::Fail(ms(0), "refused"));
    sim.dial(1, &[addr(1)]).expect("dial");
    sim.run();
    assert_eq!(sim.elapsed(), ms(0));
    sim.take();

    // The getter follows the `now` it is given.
    assert!(sim
        .dialer
        .is_deny_listed(sim.at(secs(60) - ms(1)), &addr(1)));
    assert!(!sim.dialer.is_deny_listed(sim.at(secs(60)), &addr(1)));

    // Just before expiry, a new request skips it; nothing drives the core meanwhile
    // (no timer is armed for the deny list: `now` alone decides).
    assert_eq!(sim.dialer.poll_timeout(), None);
    sim.run_until(secs(60) - ms(1));
    assert_eq!(
        sim.dial(2, &[addr(1)]),
        Err(DialRefused::BackedOff {
            skipped: vec![Skipped {
                addr: addr(1),
                reason: SkipReason::DenyListed,
            }],
            retry_at: sim.at(secs(60)),
            retry_in: ms(1),
        })
    );
    // A caller joining a request in flight does not bring it in either.
    sim.dial(3, &[addr(2)]).expect("dial");
    sim.dial(3, &[addr(1)]).expect("join");
    assert_eq!(started(&sim.take()), vec![addr(2)]);
    // At expiry it is dialed again.
    sim.run_until(secs(60));
    sim.dial(2, &[addr(1)]).expect("expired");
    assert_eq!(started(&sim.take()), vec![addr(1)]);
    sim.finish();
}

// R-D2, invariant 4
#[test]
fn an_address_denied_while_queued_is_skipped_when_its_turn_comes() {
    let mut sim = Sim::new(Config::default().with_max_per_peer_dials(1));
    sim.script(&addr(1), Outcome::Fail(ms(20), "refused"));
    sim.script(&addr(2), Outcome::Fail(ms(5), "refused"));
    let queued = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    // Peer 2 fails addr 2 at 5 ms while it waits in peer 1's queue.
    sim.dial(2, &[addr(2)]).expect("dial");
    sim.run();
    let peer1: Vec<_> = started(sim.log());
    assert_eq!(peer1, addrs(&[1, 2]), "addr 2 dialed once, by peer 2");
    let Some(Err(DialFailed::AllFailed { attempts })) = sim.outcome(queued) else {
        panic!("expected AllFailed");
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].addr, addr(1));
    sim.finish();
}

// R-D3
#[test]
fn deny_list_is_bounded() {
    let mut sim = Sim::new(Config::default().with_deny_list_capacity(2));
    for (i, port) in [1u16, 2, 3].into_iter().enumerate() {
        sim.script(&addr(port), Outcome::Fail(ms(1), "refused"));
        sim.dial(u32::from(port), &[addr(port)]).expect("dial");
        sim.run();
        assert_eq!(sim.stats().deny_list_entries, (i + 1).min(2));
    }
    // The entry closest to expiry (the oldest) went first.
    let now = sim.now();
    assert!(!sim.dialer.is_deny_listed(now, &addr(1)));
    assert!(sim.dialer.is_deny_listed(now, &addr(2)));
    assert!(sim.dialer.is_deny_listed(now, &addr(3)));
    sim.dial(1, &[addr(1)]).expect("evicted, so dialable again");

    // Off switch: capacity 0 keeps nothing.
    let mut off = Sim::new(Config::default().with_deny_list_capacity(0));
    off.script(&addr(1), Outcome::Fail(ms(1), "refused"));
    off.dial(1, &[addr(1)]).expect("dial");
    off.run();
    assert_eq!(off.stats().deny_list_entries, 0);
    off.dial(2, &[addr(1)]).expect("never denied");
    sim.finish();
    off.finish();
}

// R-C5, Config::prune_duration: a prune mark expires, so a peer whose better address died
// later is not shut out of the address it has left; a new real failure prunes it again.
#[test]
fn a_prune_mark_expires_and_a_new_failure_renews_it() {
    // No head start: the proven address must not win before the other one fails.
    let mut sim = Sim::new(
        prunes_at_once()
            .with_prune_duration(secs(600))
            .with_head_start(None),
    );
    sim.dialer.import_confidence([(addr(2), 3)]);
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(50)));
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(sim.dialer.is_pruned(sim.now(), &7, &addr(1)));

    // Just before the mark expires: still skipped.
    sim.run_for(secs(599));
    assert!(matches!(
        sim.dial(7, &[addr(1)]),
        Err(DialRefused::NoDialableAddresses { .. })
    ));
    // Once it has expired, the address is dialed again (the good one has died meanwhile,
    // and the pruned one is back).
    sim.run_for(secs(1));
    // The getter follows the `now` it is given, like every other getter: no input has
    // moved the core's clock past the expiry yet.
    assert!(!sim.dialer.is_pruned(sim.now(), &7, &addr(1)));
    sim.take();
    sim.script(&addr(1), Outcome::Succeed(ms(10)));
    sim.script(&addr(2), Outcome::Fail(ms(5), "refused"));
    let caller = sim.dial(7, &addrs(&[2, 1])).expect("dial");
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.addr == addr(1)));

    // A new real failure beside a better address prunes it again, with a fresh mark.
    sim.run_for(secs(1));
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(50)));
    sim.dialer.import_confidence([(addr(1), 1), (addr(2), 3)]);
    sim.take();
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    let pruned: Vec<_> = events(&sim.take())
        .into_iter()
        .filter(|e| matches!(e, Event::Pruned { .. }))
        .collect();
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    assert!(sim.dialer.is_pruned(sim.now(), &7, &addr(1)));
    assert_eq!(sim.stats().addresses_pruned, 2);
    sim.finish();
}
