//! R-Q1: waiting for tokens instead of failing fast (off by default).
//!
//! A pool of 2 tokens and one token per request makes the queue easy to fill: two
//! requests take both tokens and hang, and the next ones wait.

use dialer_core::{
    Config, ConfigError, DialFailed, DialOpts, DialRefused, Event, Priority, WaitForTokens,
};

use crate::harness::{aborted, addr, events, ms, secs, started_at, Outcome, Sim};

fn waiting(queue: usize, max_wait_ms: u64) -> Config {
    Config::default()
        .with_max_tokens(2)
        .with_max_per_peer_dials(1)
        .with_wait_for_tokens(Some(WaitForTokens {
            queue,
            max_wait: ms(max_wait_ms),
        }))
}

/// Two hanging requests that hold both tokens (peers 1 and 2, ports 1 and 2).
fn fill(sim: &mut Sim) {
    sim.dial(1, &[addr(1)]).expect("first");
    sim.dial(2, &[addr(2)]).expect("second");
    assert_eq!(sim.dialer.tokens_available(), 0);
    sim.take();
}

// R-Q1, R-T4: off by default, an empty pool still fails fast.
#[test]
fn by_default_an_empty_pool_fails_fast() {
    let mut sim = Sim::new(
        Config::default()
            .with_max_tokens(2)
            .with_max_per_peer_dials(1),
    );
    assert_eq!(sim.dialer.config().wait_for_tokens, None);
    fill(&mut sim);
    assert_eq!(sim.dial(3, &[addr(3)]), Err(DialRefused::NoTokens));
    sim.finish();
}

// R-Q1, R-T8: a queued request gets the first released token, in FIFO order, and dials.
#[test]
fn queued_requests_get_released_tokens_in_order() {
    let mut sim = Sim::new(waiting(10, 5_000));
    sim.script(&addr(1), Outcome::Fail(ms(100), "refused"));
    sim.script(&addr(2), Outcome::Fail(ms(200), "refused"));
    fill(&mut sim);
    let third = sim
        .dial_full(3, &[addr(3)], DialOpts::default())
        .expect("queued");
    let fourth = sim
        .dial_full(4, &[addr(4)], DialOpts::default())
        .expect("queued");
    let out = sim.take();
    assert_eq!(
        events(&out),
        vec![
            Event::Queued {
                request: third.request,
                ahead: 0
            },
            Event::Queued {
                request: fourth.request,
                ahead: 1
            },
        ]
    );
    assert!(
        started_at(&out).is_empty(),
        "a waiting request dials nothing"
    );
    assert_eq!(sim.stats().requests_waiting, 2);
    sim.run_for(ms(1_000));
    // Port 1 failed at 100 ms: its token went to peer 3 at once; port 2's at 200 ms to 4.
    let starts = started_at(&sim.take());
    assert_eq!(starts, vec![(ms(100), addr(3)), (ms(200), addr(4))]);
    assert_eq!(sim.stats().requests_waiting, 0);
    assert_eq!(sim.stats().requests_queued, 2);
    sim.finish();
}

// R-Q1: a full queue fails at once with NoTokens, and nothing is left behind.
#[test]
fn a_full_queue_refuses_with_no_tokens() {
    let mut sim = Sim::new(waiting(2, 5_000));
    fill(&mut sim);
    sim.dial(3, &[addr(3)]).expect("queued");
    sim.dial(4, &[addr(4)]).expect("queued");
    assert_eq!(sim.dial(5, &[addr(5)]), Err(DialRefused::NoTokens));
    assert_eq!(sim.stats().requests_rejected_no_tokens, 1);
    assert_eq!(sim.stats().requests_waiting, 2);
    sim.finish();
}

// R-Q1: a wait that runs out ends the request with its own outcome, having dialed nothing.
#[test]
fn a_wait_that_runs_out_fails_with_no_tokens_in_time() {
    let mut sim = Sim::new(waiting(10, 500));
    fill(&mut sim);
    let caller = sim.dial(3, &[addr(3)]).expect("queued");
    sim.run_for(ms(499));
    assert_eq!(sim.outcome(caller), None, "still waiting");
    sim.run_for(ms(2));
    assert_eq!(
        sim.outcome(caller),
        Some(Err(DialFailed::NoTokensInTime { waited: ms(500) }))
    );
    assert!(started_at(&sim.take()).is_empty());
    assert_eq!(sim.stats().requests_wait_timed_out, 1);
    assert_eq!(sim.stats().requests_waiting, 0);
    sim.finish();
}

// R-Q1, R-R6: the wait never outlasts the request's own dial_timeout, and once it has its
// tokens the request keeps only what is left of its dial_timeout.
#[test]
fn the_dial_timeout_counts_from_the_call() {
    let config = waiting(10, 60_000).with_dial_timeout(secs(2));
    let mut sim = Sim::new(config);
    fill(&mut sim);
    let a = sim.dial(3, &[addr(3)]).expect("queued");
    sim.run_for(ms(2_001));
    assert!(
        matches!(sim.outcome(a), Some(Err(DialFailed::Timeout { ref attempts })) if attempts.is_empty()),
        "{:?}",
        sim.outcome(a)
    );
    assert!(
        !started_at(sim.log()).iter().any(|(_, x)| *x == addr(3)),
        "a request past its dial_timeout dials nothing"
    );

    // Served after 1.5 s of waiting: its dial is aborted 0.5 s later.
    let mut sim = Sim::new(waiting(10, 60_000).with_dial_timeout(secs(2)));
    sim.script(&addr(1), Outcome::Fail(ms(1_500), "refused"));
    fill(&mut sim);
    let b = sim.dial(3, &[addr(3)]).expect("queued");
    sim.run_for(ms(3_000));
    assert_eq!(started_at(sim.log()).last(), Some(&(ms(1_500), addr(3))));
    assert!(matches!(
        sim.outcome(b),
        Some(Err(DialFailed::Timeout { .. }))
    ));
    let finished = sim
        .log()
        .iter()
        .find(|r| matches!(&r.out, crate::harness::Out::Event(Event::Finished { caller, .. }) if *caller == b))
        .map(|r| r.at);
    assert_eq!(finished, Some(ms(2_000)));
    sim.finish();
}

// R-Q1, R-R7: a queued request can be cancelled; it leaves the queue and the next one moves
// up.
#[test]
fn a_queued_request_can_be_cancelled() {
    let mut sim = Sim::new(waiting(1, 5_000));
    sim.script(&addr(1), Outcome::Fail(ms(100), "refused"));
    fill(&mut sim);
    let caller = sim.dial(3, &[addr(3)]).expect("queued");
    sim.cancel(caller).expect("cancel");
    assert_eq!(sim.outcome(caller), Some(Err(DialFailed::Cancelled)));
    assert_eq!(sim.stats().requests_waiting, 0);
    // Its place is free again.
    sim.dial(4, &[addr(4)]).expect("queued in the freed place");
    sim.run_for(ms(1_000));
    let starts: Vec<_> = started_at(&sim.take());
    assert_eq!(
        starts,
        vec![(ms(100), addr(4))],
        "the cancelled one never dials"
    );
    sim.finish();
}

// R-Q1, R-R8: a caller can join a queued request; its addresses are merged and dialed
// when the request's turn comes, and both callers get the outcome.
#[test]
fn a_queued_request_can_be_joined() {
    let config = waiting(10, 5_000)
        .with_max_per_peer_dials(2)
        .with_max_tokens(2);
    let mut sim = Sim::new(config);
    sim.script(&addr(1), Outcome::Fail(ms(100), "refused"));
    sim.script(&addr(4), Outcome::Succeed(ms(10)));
    sim.dial(1, &[addr(1), addr(2)]).expect("takes both tokens");
    sim.take();
    let first = sim.dial(3, &[addr(3)]).expect("queued");
    let second = sim.dial(3, &[addr(4)]).expect("joins");
    sim.run();
    assert!(matches!(sim.outcome(first), Some(Ok(ref c)) if c.addr == addr(4)));
    assert!(matches!(sim.outcome(second), Some(Ok(ref c)) if c.addr == addr(4)));
    sim.finish();
}

// R-Q1, R-P1: a high-priority request never queues, even behind waiting ones, and a
// high-priority caller that joins a queued request takes it out of the queue.
#[test]
fn high_priority_never_waits() {
    let mut sim = Sim::new(waiting(10, 5_000));
    fill(&mut sim);
    sim.dial(3, &[addr(3)]).expect("queued");
    sim.dial_with(5, &[addr(5)], Priority::High)
        .expect("proceeds as an overdraft");
    let out = sim.take();
    assert_eq!(started_at(&out), vec![(ms(0), addr(5))]);
    // Peer 3 was waiting; a high-priority caller joins it.
    sim.dial_with(3, &[addr(3)], Priority::High).expect("joins");
    assert_eq!(started_at(&sim.take()), vec![(ms(0), addr(3))]);
    assert_eq!(sim.stats().requests_waiting, 0);
    assert_eq!(sim.stats().overdraft_requests, 2);
    sim.finish();
}

// R-Q1, R-T8: behind waiting requests a newcomer waits too, even when its own call frees
// a token: the token goes to the head of the queue (FIFO).
#[test]
fn a_newcomer_waits_behind_the_queue() {
    let mut sim = Sim::new(waiting(10, 60_000).with_dial_timeout(secs(1)));
    fill(&mut sim);
    sim.run_for(ms(500));
    let head = sim
        .dial_full(3, &[addr(3)], DialOpts::default())
        .expect("queued");
    sim.take();
    // Past peer 1's dial_timeout, before its timer was handled: the call ends that request
    // (freeing its token) and starts a new one for peer 1.
    let late = sim.at(ms(1_001));
    let again = sim.dial_at(late, 1, &[addr(6)]).expect("queued");
    let out = sim.take();
    let new = sim.dialer.request_of(again).expect("waiting");
    assert!(
        events(&out).contains(&Event::Queued {
            request: new,
            ahead: 1
        }),
        "{out:?}"
    );
    // The freed token went to peer 3, queued first.
    let starts: Vec<_> = started_at(&out).into_iter().map(|(_, a)| a).collect();
    assert_eq!(starts, vec![addr(3)]);
    assert_eq!(sim.dialer.request_for(&3), Some(head.request));
    sim.finish();
}

// R-Q1, R-R6, R-R8 (issue item 0 for waiting requests): a caller for a peer whose queued
// request has run out of time, before its timer was handled, does not join it and inherit
// its end: the old wait ends (NoTokensInTime, or Timeout once dial_timeout has passed too)
// and the caller starts a request of its own. The property tests' model found this.
#[test]
fn a_caller_never_joins_a_wait_that_ran_out() {
    for (max_wait, dial_timeout) in [(500, 30_000), (60_000, 500)] {
        let mut sim = Sim::new(waiting(10, max_wait).with_dial_timeout(ms(dial_timeout)));
        fill(&mut sim);
        let first = sim.dial(3, &[addr(3)]).expect("queued");
        sim.take();
        // 600 ms on, no handle_timeout yet: the wait is over.
        let late = sim.at(ms(600));
        let second = sim.dial_at(late, 3, &[addr(4)]).expect("queued afresh");
        let out = sim.take();
        let old = if max_wait < dial_timeout {
            DialFailed::NoTokensInTime { waited: ms(600) }
        } else {
            DialFailed::Timeout {
                attempts: Vec::new(),
            }
        };
        assert_eq!(sim.outcome(first), Some(Err(old)), "{out:?}");
        assert_eq!(sim.outcome(second), None, "the new caller waits");
        let new = sim.dialer.request_of(second).expect("its own request");
        assert!(
            events(&out).contains(&Event::Queued {
                request: new,
                ahead: 0
            }),
            "{out:?}"
        );
        assert_eq!(sim.stats().requests_waiting, 1);
        sim.finish();
    }
}

// R-Q1, Bad input (time going back is no time): a cancel dated before the core's clock
// that frees a token serves the queue at the core's clock, so the served request's dial
// gets its full address_timeout from now, not from the stale instant. The property tests'
// model found this.
#[test]
fn a_stale_cancel_serves_the_queue_at_the_core_clock() {
    let mut sim = Sim::new(waiting(10, 60_000).with_address_timeout(secs(2)));
    let first = sim.dial(1, &[addr(1)]).expect("first");
    sim.dial(2, &[addr(2)]).expect("second");
    sim.run_for(ms(1_000));
    sim.dial(3, &[addr(3)]).expect("queued");
    sim.take();
    let past = sim.at(ms(0));
    sim.input(|dialer, _| dialer.cancel(past, first))
        .expect("cancel");
    assert_eq!(started_at(&sim.take()), vec![(ms(1_000), addr(3))]);
    sim.run_until(ms(2_500));
    assert!(
        !aborted(sim.log()).iter().any(|(a, _)| *a == addr(3)),
        "the dial started at 1 s times out at 3 s: {:?}",
        aborted(sim.log())
    );
    sim.finish();
}

// R-Q1: settings that make no sense are refused.
#[test]
fn a_zero_queue_or_wait_is_refused() {
    let with = |w: WaitForTokens| Config::default().with_wait_for_tokens(Some(w));
    let d = WaitForTokens::default();
    assert_eq!(d.queue, 500);
    assert_eq!(d.max_wait, secs(10));
    assert_eq!(
        with(WaitForTokens { queue: 0, ..d }).validate(),
        Err(ConfigError::ZeroQueue)
    );
    assert_eq!(
        with(WaitForTokens {
            max_wait: ms(0),
            ..d
        })
        .validate(),
        Err(ConfigError::ZeroDuration("wait_for_tokens.max_wait"))
    );
    assert_eq!(with(d).validate(), Ok(()));
}
