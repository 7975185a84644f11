//! Time: deadlines that always move forward, spurious timeouts, and time going backwards.

use std::time::{Duration, Instant};

use dialer_core::{Action, Config, DialFailed, DialOpts, Dialer, Event};

use crate::harness::{addr, addrs, dial_ids, ms, secs, started, Outcome, Sim, MAX_STEPS};

// Style guide pitfall: after `handle_timeout(t)` the next deadline is later than `t`.
#[test]
fn after_handle_timeout_the_next_deadline_is_later() {
    let mut sim = Sim::new(
        Config::default()
            .with_stagger(Some(ms(250)))
            .with_address_timeout(secs(1))
            .with_dial_timeout(secs(3))
            .with_max_per_peer_dials(2),
    );
    sim.dial(1, &addrs(&[1, 2, 3, 4, 5])).expect("dial");
    let mut fired = 0;
    while let Some(t) = sim.dialer.poll_timeout() {
        sim.handle_timeout_at(t);
        fired += 1;
        let next = sim.dialer.poll_timeout();
        assert!(next.is_none_or(|n| n > t), "{next:?} not after {t:?}");
        assert!(fired < 100, "deadlines do not converge");
    }
    assert!(fired >= 4, "stagger, address and request deadlines fired");
    assert_eq!(sim.dialer.requests_in_flight(), 0);
    sim.finish();
}

// Style guide: a spurious early `handle_timeout` is a no-op.
#[test]
fn an_early_or_repeated_handle_timeout_does_nothing() {
    let mut sim = Sim::new(Config::default().with_stagger(Some(ms(250))));
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.take();
    let deadline = sim.dialer.poll_timeout().expect("a deadline");
    assert_eq!(deadline, sim.at(ms(250)), "the stagger comes first");
    let before = sim.stats();

    for early in [ms(0), ms(1), ms(249)] {
        sim.handle_timeout_at(sim.at(early));
        assert_eq!(sim.take(), vec![], "at {early:?}");
        assert_eq!(sim.stats(), before);
        assert_eq!(sim.dialer.poll_timeout(), Some(deadline));
    }

    sim.handle_timeout_at(deadline);
    assert_eq!(started(&sim.take()), vec![addr(2)]);
    let after = sim.stats();
    let next = sim.dialer.poll_timeout();
    // The same instant again: nothing left to do.
    sim.handle_timeout_at(deadline);
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.stats(), after);
    assert_eq!(sim.dialer.poll_timeout(), next);
    sim.finish();
}

// Bad input: time going backwards is treated as no time passing.
#[test]
fn time_going_backwards_is_no_time_passing() {
    let mut sim = Sim::new(
        Config::default()
            .with_address_timeout(secs(10))
            .with_deny_duration(secs(60)),
    );
    // The core learns that it is 100 s (a spurious timeout: nothing is pending).
    sim.handle_timeout_at(sim.at(secs(100)));
    assert_eq!(sim.take(), vec![]);
    // A dial dated 40 s in the past is dated now: its dial deadline is now + 10 s.
    let caller = sim
        .dial_at(sim.at(secs(60)), 1, &addrs(&[1, 2]))
        .expect("dial");
    assert_eq!(sim.dialer.poll_timeout(), Some(sim.at(secs(110))));
    let dials = dial_ids(&sim.take());

    // A timeout from the past does nothing.
    let before = sim.stats();
    sim.handle_timeout_at(sim.at(secs(5)));
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.stats(), before);
    assert_eq!(sim.dialer.poll_timeout(), Some(sim.at(secs(110))));

    // A report from the past is taken as now: the deny entry runs from 100 s.
    sim.fail_at(sim.at(secs(1)), dials[0], "refused")
        .expect("known dial");
    assert!(sim.dialer.is_deny_listed(sim.at(secs(159)), &addr(1)));
    assert!(!sim.dialer.is_deny_listed(sim.at(secs(160)), &addr(1)));
    // And a getter asked about the past answers for the present.
    assert!(sim.dialer.is_deny_listed(sim.at(secs(0)), &addr(1)));

    // Cancel from the past works like a cancel now.
    sim.cancel(caller).expect("waiting");
    assert_eq!(sim.outcome(caller), Some(Err(DialFailed::Cancelled)));
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    sim.finish();
}

// Bad input: a `now` at the end of representable time does not panic, and the request
// still ends.
#[test]
fn the_end_of_time_does_not_panic() {
    let mut sim = Sim::new(Config::default());
    let mut far = sim.now();
    let mut step = Duration::from_secs(u64::MAX / 4);
    while step >= Duration::from_secs(1) {
        if let Some(t) = far.checked_add(step) {
            far = t;
        } else {
            step /= 2;
        }
    }
    let caller = sim.dial_at(far, 1, &addrs(&[1, 2])).expect("dial");
    assert_eq!(started(&sim.take()).len(), 2);
    sim.run();
    assert!(matches!(
        sim.outcome(caller),
        Some(Err(DialFailed::Timeout { .. }))
    ));
    assert_eq!(sim.dialer.poll_timeout(), None);
    sim.finish();
}

// Drive-loop contract: two inputs without a drain in between lose no output.
#[test]
fn outputs_queue_up_between_drains() {
    let mut dialer = Dialer::<u32>::new(Config::default()).expect("config");
    let now = Instant::now();
    let a = dialer
        .dial(now, 1, addrs(&[1, 2]), DialOpts::default())
        .expect("dial")
        .caller;
    let b = dialer
        .dial(now, 2, addrs(&[3]), DialOpts::default())
        .expect("dial")
        .caller;
    dialer.cancel(now, a).expect("waiting");
    let mut actions = Vec::new();
    while let Some(action) = dialer.poll_action() {
        actions.push(match action {
            Action::StartDial(s) => format!("start {}", s.addr),
            Action::AbortDial(x) => format!("abort {}", x.dial),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        actions,
        vec![
            format!("start {}", addr(1)),
            format!("start {}", addr(2)),
            format!("start {}", addr(3)),
            "abort DialId#1".to_owned(),
            "abort DialId#2".to_owned(),
        ]
    );
    let mut finished = Vec::new();
    let mut token_events = 0;
    while let Some(event) = dialer.poll_event() {
        match event {
            Event::Finished { caller, .. } => finished.push(caller),
            Event::RequestTokens { .. } | Event::Release { .. } => token_events += 1,
            _ => {}
        }
    }
    assert_eq!(finished, vec![a]);
    assert_eq!(token_events, 3, "two RequestTokens, one Release");
    assert!(dialer.request_of(b).is_some());
    assert_eq!(dialer.tokens_in_use(), 1);
}

// The harness itself: a run that never settles fails instead of hanging.
#[test]
#[should_panic(expected = "livelock")]
fn the_drive_loop_is_bounded() {
    let mut sim = Sim::new(Config::default().with_deny_list_capacity(0));
    sim.script(&addr(1), Outcome::Fail(ms(1), "refused"));
    // Each round is one step (the failure report); the loop gives up after MAX_STEPS.
    for _ in 0..=MAX_STEPS {
        sim.dial(1, &[addr(1)]).expect("dial");
        sim.run();
    }
}
