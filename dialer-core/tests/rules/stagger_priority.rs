//! R-S1 (staggered starts) and R-P1 (high-priority overdraft).

use dialer_core::{AbortReason, Config, DialRefused, Event, Priority};

use crate::harness::{
    aborted, addr, addrs, ms, peak_in_flight, started, started_at, token_events, Out, Outcome, Sim,
};

fn staggered(delay_ms: u64) -> Config {
    Config::default().with_stagger(Some(ms(delay_ms)))
}

// R-S1
#[test]
fn stagger_starts_one_dial_per_delay() {
    let mut sim = Sim::new(staggered(250));
    sim.script(&addr(3), Outcome::Succeed(ms(10)));
    let caller = sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    // All three tokens up front: the stagger paces dials, not the pool.
    assert_eq!(
        token_events(&sim.take()),
        vec![Event::RequestTokens {
            request,
            requested: 3,
            granted: 3,
            overdraft: false,
        }]
    );
    sim.run();
    assert_eq!(
        started_at(sim.log()),
        vec![(ms(0), addr(1)), (ms(250), addr(2)), (ms(500), addr(3))]
    );
    assert_eq!(
        aborted(sim.log()),
        vec![
            (addr(1), AbortReason::Superseded),
            (addr(2), AbortReason::Superseded),
        ]
    );
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.addr == addr(3)));
    assert_eq!(peak_in_flight(sim.log(), request), 3);
    sim.finish();
}

// R-S1
#[test]
fn stagger_starts_the_next_at_once_when_nothing_is_in_flight() {
    let mut sim = Sim::new(staggered(250));
    sim.script(&addr(1), Outcome::Fail(ms(50), "refused"));
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run_until(ms(600));
    // 1 fails at 50 ms with nothing else in flight: 2 starts then, and 3 one delay later.
    assert_eq!(
        started_at(sim.log()),
        vec![(ms(0), addr(1)), (ms(50), addr(2)), (ms(300), addr(3))]
    );
    sim.finish();
}

// R-S1
#[test]
fn no_stagger_by_default_starts_everything_at_once() {
    assert_eq!(Config::default().stagger, None);
    let mut sim = Sim::new(Config::default());
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    assert_eq!(
        started_at(&sim.take()),
        vec![(ms(0), addr(1)), (ms(0), addr(2)), (ms(0), addr(3))]
    );
    sim.finish();
}

// R-S1, R-R8
#[test]
fn stagger_paces_addresses_merged_by_a_join() {
    let mut sim = Sim::new(staggered(250));
    sim.script(&addr(1), Outcome::Fail(ms(100), "refused"));
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.run_until(ms(120));
    sim.dial(1, &[addr(3)]).expect("join");
    sim.run_until(ms(1_000));
    // 2 started at 100 ms (nothing in flight); 3 must wait a full delay after it.
    assert_eq!(
        started_at(sim.log()),
        vec![(ms(0), addr(1)), (ms(100), addr(2)), (ms(350), addr(3))]
    );
    sim.finish();
}

// R-S1, R-R8
#[test]
fn stagger_paces_a_join_after_the_last_pending_address_started() {
    let mut sim = Sim::new(staggered(250));
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.run_until(ms(260));
    sim.dial(1, &[addr(3)]).expect("join");
    sim.run_until(ms(1_000));
    // 2 started at 250 ms and is still in flight: 3 waits until 500 ms.
    assert_eq!(
        started_at(sim.log()),
        vec![(ms(0), addr(1)), (ms(250), addr(2)), (ms(500), addr(3))]
    );
    sim.finish();
}

// R-P1
#[test]
fn high_priority_proceeds_without_tokens_one_address_at_a_time() {
    let mut sim = Sim::new(Config::default().with_max_tokens(1));
    sim.dial(1, &[addr(1)]).expect("takes the only token");
    sim.take();
    for port in [11, 12] {
        sim.script(&addr(port), Outcome::Fail(ms(10), "refused"));
    }
    sim.script(&addr(13), Outcome::Succeed(ms(10)));

    // Normal priority is refused …
    assert_eq!(
        sim.dial(2, &addrs(&[11, 12, 13])),
        Err(DialRefused::NoTokens)
    );
    // … high priority overdraws.
    let caller = sim
        .dial_with(2, &addrs(&[11, 12, 13]), Priority::High)
        .expect("overdraft");
    let request = sim.dialer.request_of(caller).expect("in flight");
    let out = sim.take();
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 3,
            granted: 0,
            overdraft: true,
        }]
    );
    assert_eq!(started(&out), vec![addr(11)]);
    let stats = sim.stats();
    assert_eq!(stats.overdraft_requests, 1);
    assert_eq!(stats.overdraft_dials_in_flight, 1);
    assert_eq!(stats.requests_rejected_no_tokens, 1);
    assert_eq!(sim.dialer.tokens_in_use(), 1, "the pool is untouched");

    sim.run_until(ms(30));
    let log = sim.log().to_vec();
    assert_eq!(peak_in_flight(&log, request), 1);
    let mine: Vec<_> = log
        .iter()
        .filter_map(|r| match &r.out {
            Out::Start {
                request: q, addr, ..
            } if *q == request => Some((r.at, addr.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        mine,
        vec![(ms(0), addr(11)), (ms(10), addr(12)), (ms(20), addr(13))]
    );
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.addr == addr(13)));
    // An overdraft holds no token, so it releases none.
    assert!(!token_events(&log)
        .iter()
        .any(|e| matches!(e, Event::Release { request: r, .. } if *r == request)));
    assert_eq!(sim.stats().overdraft_dials_in_flight, 0);
    assert_eq!(sim.dialer.tokens_in_use(), 1);
    sim.finish();
}

// R-P1
#[test]
fn high_priority_with_tokens_available_is_an_ordinary_request() {
    let mut sim = Sim::new(Config::default());
    let caller = sim
        .dial_with(1, &addrs(&[1, 2]), Priority::High)
        .expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    let out = sim.take();
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 2,
            granted: 2,
            overdraft: false,
        }]
    );
    assert_eq!(started(&out), addrs(&[1, 2]));
    assert_eq!(sim.stats().overdraft_requests, 0);
    assert_eq!(sim.stats().overdraft_dials_in_flight, 0);
    sim.finish();
}

// R-P1, R-R7
#[test]
fn a_cancelled_overdraft_leaves_the_pool_and_the_gauge_as_they_were() {
    let mut sim = Sim::new(Config::default().with_max_tokens(1));
    sim.dial(1, &[addr(1)]).expect("takes the only token");
    let caller = sim
        .dial_with(2, &addrs(&[2, 3]), Priority::High)
        .expect("overdraft");
    assert_eq!(sim.stats().overdraft_dials_in_flight, 1);
    sim.take();
    sim.cancel(caller).expect("waiting");
    let out = sim.take();
    assert_eq!(aborted(&out), vec![(addr(2), AbortReason::Cancelled)]);
    assert_eq!(token_events(&out), vec![], "nothing to release");
    assert_eq!(sim.stats().overdraft_dials_in_flight, 0);
    assert_eq!(sim.stats().overdraft_requests, 1);
    assert_eq!(sim.dialer.tokens_in_use(), 1);
    sim.finish();
}
