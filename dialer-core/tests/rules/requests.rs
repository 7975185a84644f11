//! R-R: dial requests.

use dialer_core::{
    AbortReason, Attempt, Config, Connected, DialFailed, DialRefused, Dialer, Event, FailReason,
    SkipReason, Skipped,
};

use crate::harness::{
    aborted, action_summary, addr, addrs, dial_ids, events, ms, secs, started, started_at,
    token_events, with_addr3_denied_and, Outcome, Sim,
};

fn one_at_a_time() -> Config {
    Config::default().with_max_per_peer_dials(1)
}

// R-R1
#[test]
fn addresses_are_dialed_by_confidence_and_ties_keep_the_callers_order() {
    let mut sim = Sim::new(one_at_a_time());
    sim.dialer
        .import_confidence([(addr(2), 5), (addr(3), 3), (addr(4), 5), (addr(6), 0)]);
    for port in 1..=6 {
        sim.script(&addr(port), Outcome::Fail(ms(1), "refused"));
    }
    let caller = sim.dial(1, &addrs(&[1, 2, 3, 4, 5, 6])).expect("dial");
    sim.run();
    // 5, 5 (caller order 2 before 4), 3, then the two at 1 in caller order, then 0.
    assert_eq!(started(sim.log()), addrs(&[2, 4, 3, 1, 5, 6]));
    let Some(Err(DialFailed::AllFailed { attempts })) = sim.outcome(caller) else {
        panic!("expected AllFailed");
    };
    let tried: Vec<_> = attempts.iter().map(|a| a.addr.clone()).collect();
    assert_eq!(tried, addrs(&[2, 4, 3, 1, 5, 6]));
    sim.finish();
}

// R-R1
#[test]
fn long_lists_are_ordered_stably_too() {
    // Past 32 addresses the core sorts differently; the rule is the same.
    let mut sim = Sim::new(
        Config::default()
            .with_max_addrs_per_request(40)
            .with_max_per_peer_dials(1),
    );
    let ports: Vec<u16> = (1..=40).collect();
    // Every third address is better, every fifth (not third) worse.
    let better: Vec<u16> = ports.iter().copied().filter(|p| p % 3 == 0).collect();
    let worse: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|p| p % 5 == 0 && p % 3 != 0)
        .collect();
    let rest: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|p| !better.contains(p) && !worse.contains(p))
        .collect();
    sim.dialer.import_confidence(
        better
            .iter()
            .map(|&p| (addr(p), 7))
            .chain(worse.iter().map(|&p| (addr(p), 0))),
    );
    for &port in &ports {
        sim.script(&addr(port), Outcome::Fail(ms(1), "refused"));
    }
    // The caller lists them in reverse.
    let reversed: Vec<u16> = ports.iter().rev().copied().collect();
    sim.dial(1, &addrs(&reversed)).expect("dial");
    sim.run();
    let expected: Vec<u16> = [better, rest, worse]
        .into_iter()
        .flat_map(|group| group.into_iter().rev())
        .collect();
    assert_eq!(started(sim.log()), addrs(&expected));
    sim.finish();
}

// R-R1
#[test]
fn equal_confidence_keeps_the_callers_order_in_reverse_too() {
    let mut sim = Sim::new(one_at_a_time());
    for port in 1..=5 {
        sim.script(&addr(port), Outcome::Fail(ms(1), "refused"));
    }
    sim.dial(1, &addrs(&[5, 3, 4, 1, 2])).expect("dial");
    sim.run();
    assert_eq!(started(sim.log()), addrs(&[5, 3, 4, 1, 2]));
    sim.finish();
}

// R-R1
#[test]
fn duplicates_deny_listed_pruned_and_undialable_addresses_are_dropped() {
    // Addr 3 deny-listed (a failure for another peer), addr 7 undialable …
    let mut sim = with_addr3_denied_and(Config::default().with_prune_after_failures(1));
    // … and addr 4 pruned for peer 1: it fails to 0 while addr 5 is better.
    sim.dialer.import_confidence([(addr(5), 4)]);
    sim.script(&addr(4), Outcome::Fail(ms(1), "refused"));
    sim.script(&addr(5), Outcome::Succeed(ms(5)));
    sim.dial(1, &addrs(&[5, 4])).expect("dial");
    sim.run();
    assert!(sim.dialer.is_pruned(sim.now(), &1, &addr(4)));
    sim.take();
    let skipped_before = sim.stats().addresses_skipped;

    let caller = sim
        .dial(1, &addrs(&[1, 3, 1, 4, 7, 2]))
        .expect("something is left");
    let out = sim.take();
    assert_eq!(started(&out), addrs(&[1, 2]));
    let request = sim.dialer.request_of(caller).expect("in flight");
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 2,
            granted: 2,
            overdraft: false,
        }]
    );
    // duplicate 1, deny-listed 3 and 4 (4 is also pruned), undialable 7
    assert_eq!(sim.stats().addresses_skipped, skipped_before + 4);
    sim.finish();
}

// R-R2
#[test]
fn nothing_left_to_dial_fails_at_once_and_spends_nothing() {
    let undialable = addr(7);
    let dialer = Dialer::new(Config::default())
        .expect("config")
        .with_dialable(move |a| *a != undialable);
    let mut sim = Sim::with_dialer(dialer);
    let before = sim.stats();

    let err = sim.dial(1, &addrs(&[7])).expect_err("nothing dialable");
    assert_eq!(
        err,
        DialRefused::NoDialableAddresses {
            skipped: vec![Skipped {
                addr: addr(7),
                reason: SkipReason::Undialable,
            }],
        }
    );
    assert_eq!(sim.take(), vec![], "no RequestTokens, no StartDial");
    let after = sim.stats();
    assert_eq!(
        after.requests_rejected_no_addresses,
        before.requests_rejected_no_addresses + 1
    );
    assert_eq!(after.requests_started, before.requests_started);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert_eq!(sim.dialer.requests_in_flight(), 0);
    sim.finish();
}

// R-R3
#[test]
fn dials_start_in_parallel_one_per_token() {
    let mut sim = Sim::new(Config::default());
    let caller = sim.dial(1, &addrs(&[1, 2, 3, 4, 5, 6])).expect("dial");
    let out = sim.take();
    // 4 tokens (max_per_peer_dials), 4 dials at t = 0, the rest wait for a token.
    assert_eq!(
        started_at(&out),
        vec![
            (ms(0), addr(1)),
            (ms(0), addr(2)),
            (ms(0), addr(3)),
            (ms(0), addr(4)),
        ]
    );
    assert_eq!(sim.dialer.dials_in_flight(), 4);
    assert!(sim.dialer.request_of(caller).is_some());
    sim.finish();
}

// R-R4
#[test]
fn first_success_aborts_the_rest_releases_everything_and_completes() {
    let mut sim = Sim::new(Config::default().with_max_per_peer_dials(3));
    sim.script(&addr(1), Outcome::Succeed(ms(50)));
    sim.script(&addr(2), Outcome::Succeed(ms(20)));
    sim.script(&addr(3), Outcome::Hang);
    let caller = sim.dial(1, &addrs(&[1, 2, 3, 4, 5])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    let dials = dial_ids(&sim.take());

    sim.run_until(ms(20));
    let out = sim.take();
    assert!(out.iter().all(|r| r.at == ms(20)));
    assert_eq!(
        aborted(&out),
        vec![
            (addr(1), AbortReason::Superseded),
            (addr(3), AbortReason::Superseded),
        ]
    );
    assert_eq!(
        token_events(&out),
        vec![Event::Release { request, count: 3 }]
    );
    let connected = sim.outcome(caller).expect("finished").expect("connected");
    assert_eq!((connected.dial, connected.addr), (dials[1], addr(2)));
    assert!(connected.failed.is_empty(), "{:?}", connected.failed);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    let stats = sim.stats();
    assert_eq!(stats.dials_aborted, 2);
    assert_eq!(stats.requests_succeeded, 1);

    // The aborted dial connecting late is not the request's any more.
    assert!(sim.succeed(dials[0]).is_err());
    sim.run();
    // Never a StartDial after completion: addresses 4 and 5 were never dialed.
    assert_eq!(started(sim.log()), addrs(&[1, 2, 3]));
    sim.finish();
}

// R-R5
#[test]
fn all_failed_lists_every_address_and_why() {
    let mut sim = Sim::new(
        Config::default()
            .with_max_per_peer_dials(2)
            .with_address_timeout(secs(1)),
    );
    sim.script(&addr(1), Outcome::Fail(ms(30), "connection refused"));
    sim.script(&addr(2), Outcome::Fail(ms(10), "no route"));
    sim.script(&addr(3), Outcome::Hang);
    let caller = sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    sim.take();
    sim.run();
    // In the order they ended: 2 at 10 ms, 1 at 30 ms, 3 at 10 ms + 1 s.
    assert_eq!(
        sim.outcome(caller),
        Some(Err(DialFailed::AllFailed {
            attempts: vec![
                Attempt {
                    addr: addr(2),
                    reason: FailReason::Transport("no route".into()),
                },
                Attempt {
                    addr: addr(1),
                    reason: FailReason::Transport("connection refused".into()),
                },
                Attempt {
                    addr: addr(3),
                    reason: FailReason::AddressTimeout,
                },
            ],
        }))
    );
    let released: usize = token_events(sim.log())
        .iter()
        .map(|e| match e {
            Event::Release { request: r, count } if *r == request => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(released, 2);
    assert_eq!(sim.stats().requests_failed, 1);
    sim.finish();
}

// R-R6, R-C4, R-D1
#[test]
fn request_timeout_aborts_everything_and_counts_as_failure() {
    let mut sim = Sim::new(
        Config::default()
            .with_dial_timeout(secs(5))
            .with_address_timeout(secs(10)),
    );
    sim.dialer.import_confidence([(addr(1), 4)]);
    sim.script(&addr(3), Outcome::Fail(ms(100), "refused"));
    let caller = sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    sim.take();

    sim.run_until(secs(5) - ms(1));
    assert!(sim.dialer.is_in_flight(request));
    sim.take();
    sim.run_until(secs(5));
    let out = sim.take();
    assert!(out.iter().all(|r| r.at == secs(5)));
    assert_eq!(
        aborted(&out),
        vec![
            (addr(1), AbortReason::RequestTimeout),
            (addr(2), AbortReason::RequestTimeout),
        ]
    );
    // addr 3's token went back when it failed at 100 ms; the other two now.
    assert_eq!(
        token_events(&out),
        vec![Event::Release { request, count: 2 }]
    );
    assert_eq!(
        sim.outcome(caller),
        Some(Err(DialFailed::Timeout {
            attempts: vec![
                Attempt {
                    addr: addr(3),
                    reason: FailReason::Transport("refused".into()),
                },
                Attempt {
                    addr: addr(1),
                    reason: FailReason::RequestTimeout,
                },
                Attempt {
                    addr: addr(2),
                    reason: FailReason::RequestTimeout,
                },
            ],
        }))
    );
    // R-C4: a dial in flight at the request timeout is a failure.
    assert_eq!(sim.dialer.confidence(&addr(1)), 3);
    assert_eq!(sim.dialer.confidence(&addr(2)), 0);
    // R-D1: timeouts deny-list.
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(1)));
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(2)));
    let stats = sim.stats();
    assert_eq!(stats.requests_timed_out, 1);
    assert_eq!(stats.dials_timed_out, 2);
    assert_eq!(stats.dials_failed, 1);
    assert_eq!(stats.dials_aborted, 0);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    sim.finish();
}

// R-R6a, R-T7, R-C4, R-D1
#[test]
fn address_timeout_fails_that_dial_and_moves_its_token() {
    let mut sim = Sim::new(
        Config::default()
            .with_max_per_peer_dials(1)
            .with_address_timeout(secs(2)),
    );
    sim.script(&addr(1), Outcome::Hang);
    sim.script(&addr(2), Outcome::Succeed(ms(10)));
    let caller = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    sim.take();

    sim.run_until(secs(2));
    let out = sim.take();
    assert_eq!(
        action_summary(&out),
        vec![
            format!("abort {} AddressTimeout", addr(1)),
            format!("start {}", addr(2)),
        ]
    );
    assert!(out.iter().all(|r| r.at == secs(2)));
    // The token moved: no Release, no new RequestTokens.
    assert_eq!(token_events(&out), vec![]);
    assert_eq!(sim.dialer.tokens_in_use(), 1);
    assert_eq!(sim.dialer.confidence(&addr(1)), 0);
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(1)));
    assert_eq!(sim.stats().dials_timed_out, 1);

    sim.run();
    assert!(matches!(
        sim.outcome(caller),
        Some(Ok(Connected { ref addr, .. })) if *addr == crate::harness::addr(2)
    ));
    assert_eq!(
        token_events(sim.log()).last(),
        Some(&Event::Release { request, count: 1 })
    );
    sim.finish();
}

// R-R7, R-C4, R-D1
#[test]
fn cancel_aborts_releases_and_reports_cancelled_without_learning() {
    let mut sim = Sim::new(Config::default());
    let caller = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    sim.take();
    sim.run_for(ms(100));

    sim.cancel(caller).expect("known caller");
    let out = sim.take();
    assert_eq!(
        aborted(&out),
        vec![
            (addr(1), AbortReason::Cancelled),
            (addr(2), AbortReason::Cancelled),
        ]
    );
    assert_eq!(
        token_events(&out),
        vec![Event::Release { request, count: 2 }]
    );
    assert_eq!(sim.outcome(caller), Some(Err(DialFailed::Cancelled)));
    // Aborts teach nothing (R-C4) and deny nothing (R-D1).
    assert_eq!(sim.dialer.confidence(&addr(1)), 1);
    assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(1)));
    assert_eq!(sim.dialer.export_confidence(), vec![]);
    let stats = sim.stats();
    assert_eq!(stats.requests_cancelled, 1);
    assert_eq!(stats.callers_cancelled, 1);
    assert_eq!(stats.dials_aborted, 2);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert_eq!(sim.dialer.poll_timeout(), None, "no timer left behind");
    sim.finish();
}

// R-R8
#[test]
fn second_request_joins_merges_addresses_and_tops_up_tokens() {
    let mut sim = Sim::new(Config::default());
    sim.script(&addr(3), Outcome::Succeed(ms(40)));
    let a = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let request = sim.dialer.request_of(a).expect("in flight");
    assert_eq!(started(&sim.take()), addrs(&[1, 2]));

    sim.run_for(ms(10));
    let b = sim.dial(1, &addrs(&[2, 3, 4])).expect("join");
    assert_eq!(sim.dialer.request_of(b), Some(request), "same request");
    let out = sim.take();
    // Only the new addresses, with 2 more tokens (4 per peer, 2 held).
    assert_eq!(started(&out), addrs(&[3, 4]));
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 2,
            granted: 2,
            overdraft: false,
        }]
    );
    assert_eq!(sim.stats().requests_joined, 1);
    assert_eq!(sim.stats().requests_started, 1);

    sim.run();
    let winner = sim.outcome(a).expect("a finished").expect("connected");
    assert_eq!(winner.addr, addr(3));
    assert_eq!(sim.outcome(b), Some(Ok(winner)));
    assert_eq!(sim.stats().requests_succeeded, 1);
    sim.finish();
}

// R-R8
#[test]
fn joined_callers_cancel_their_own_wait_and_the_last_one_cancels_the_request() {
    let mut sim = Sim::new(Config::default());
    let a = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let request = sim.dialer.request_of(a).expect("in flight");
    let b = sim.dial(1, &addrs(&[1])).expect("join");
    let c = sim.dial(1, &addrs(&[2])).expect("join");
    let out = sim.take();
    assert_eq!(started(&out), addrs(&[1, 2]));
    assert_eq!(
        token_events(&out).len(),
        1,
        "joins with no new address ask for nothing"
    );

    sim.cancel(b).expect("b waits");
    let out = sim.take();
    assert_eq!(aborted(&out), vec![]);
    assert_eq!(token_events(&out), vec![]);
    assert_eq!(sim.outcome(b), Some(Err(DialFailed::Cancelled)));
    assert!(sim.dialer.is_in_flight(request));
    assert_eq!(sim.dialer.request_of(b), None);

    sim.cancel(a).expect("a waits");
    assert_eq!(aborted(&sim.take()), vec![]);
    assert!(sim.dialer.is_in_flight(request));

    // A cancel twice is an error and changes nothing.
    assert!(sim.cancel(a).is_err());
    assert!(sim.dialer.is_in_flight(request));

    sim.cancel(c).expect("c waits");
    let out = sim.take();
    assert_eq!(
        aborted(&out),
        vec![
            (addr(1), AbortReason::Cancelled),
            (addr(2), AbortReason::Cancelled),
        ]
    );
    assert_eq!(
        token_events(&out),
        vec![Event::Release { request, count: 2 }]
    );
    let stats = sim.stats();
    assert_eq!(stats.callers_cancelled, 3);
    assert_eq!(stats.requests_cancelled, 1);
    // Each caller got exactly one Finished, and it was Cancelled.
    let finished: Vec<_> = events(sim.log())
        .into_iter()
        .filter_map(|e| match e {
            Event::Finished { caller, result, .. } => Some((caller, result)),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        vec![
            (b, Err(DialFailed::Cancelled)),
            (a, Err(DialFailed::Cancelled)),
            (c, Err(DialFailed::Cancelled)),
        ]
    );
    sim.finish();
}

// R-R8
#[test]
fn a_join_to_a_request_that_then_fails_tells_every_caller() {
    let mut sim = Sim::new(Config::default());
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Fail(ms(20), "refused"));
    let a = sim.dial(1, &[addr(1)]).expect("dial");
    let b = sim.dial(1, &[addr(2)]).expect("join");
    sim.run();
    let expected = Err(DialFailed::AllFailed {
        attempts: vec![
            Attempt {
                addr: addr(1),
                reason: FailReason::Transport("refused".into()),
            },
            Attempt {
                addr: addr(2),
                reason: FailReason::Transport("refused".into()),
            },
        ],
    });
    assert_eq!(sim.outcome(a), Some(expected.clone()));
    assert_eq!(sim.outcome(b), Some(expected));
    // One request, one outcome in the counters.
    assert_eq!(sim.stats().requests_failed, 1);
    sim.finish();
}

// R-R9
#[test]
fn too_many_addresses_are_rejected_before_any_token() {
    let mut sim = Sim::new(Config::default().with_max_addrs_per_request(5));
    let six = addrs(&[1, 2, 3, 4, 5, 6]);
    assert_eq!(
        sim.dial(1, &six),
        Err(DialRefused::TooManyAddresses { given: 6, max: 5 })
    );
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert_eq!(sim.stats().requests_rejected_invalid, 1);
    assert_eq!(sim.stats().requests_started, 0);

    // Exactly the maximum is fine.
    let caller = sim.dial(1, &six[..5]).expect("five is the limit");
    sim.take();

    // A joining caller with too many is rejected too and leaves the request as it was.
    let held = sim.dialer.tokens_in_use();
    assert_eq!(
        sim.dial(1, &six),
        Err(DialRefused::TooManyAddresses { given: 6, max: 5 })
    );
    assert_eq!(sim.take(), vec![]);
    assert_eq!(sim.dialer.tokens_in_use(), held);
    assert_eq!(sim.stats().requests_joined, 0);
    assert!(sim.dialer.request_of(caller).is_some());
    sim.finish();
}

// R-R8, R-R9
#[test]
fn merged_list_is_capped_at_max_addrs_per_request() {
    let mut sim = Sim::new(
        Config::default()
            .with_max_addrs_per_request(3)
            .with_max_per_peer_dials(1),
    );
    for port in 1..=5 {
        sim.script(&addr(port), Outcome::Fail(ms(5), "refused"));
    }
    let a = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let skipped = sim.stats().addresses_skipped;
    sim.dial(1, &addrs(&[3, 4, 5])).expect("join");
    assert_eq!(sim.stats().addresses_skipped, skipped + 2);
    sim.run();
    assert_eq!(started(sim.log()), addrs(&[1, 2, 3]));
    let Some(Err(DialFailed::AllFailed { attempts })) = sim.outcome(a) else {
        panic!("expected AllFailed");
    };
    assert_eq!(attempts.len(), 3);
    sim.finish();
}

// R-R1, R-R8
#[test]
fn merged_addresses_take_their_place_by_confidence() {
    let mut sim = Sim::new(one_at_a_time());
    sim.dialer.import_confidence([(addr(4), 5), (addr(5), 0)]);
    for port in 1..=5 {
        sim.script(&addr(port), Outcome::Fail(ms(10), "refused"));
    }
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.dial(1, &addrs(&[5, 4])).expect("join");
    sim.run();
    // 1 was already in flight; the rest by confidence: 4 (5), 2 and 3 (1), 5 (0).
    assert_eq!(started(sim.log()), addrs(&[1, 4, 2, 3, 5]));
    sim.finish();
}

// R-R8, R-T3
#[test]
fn a_join_may_be_granted_fewer_tokens_than_it_asks_for() {
    let mut sim = Sim::new(Config::default().with_max_tokens(3));
    let a = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let request = sim.dialer.request_of(a).expect("in flight");
    sim.dial(2, &[addr(9)]).expect("takes the last token");
    sim.take();
    sim.dial(1, &addrs(&[3, 4])).expect("join");
    let out = sim.take();
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 2,
            granted: 0,
            overdraft: false,
        }]
    );
    assert_eq!(
        started(&out),
        vec![],
        "the merged addresses wait for a token"
    );
    assert_eq!(sim.dialer.tokens_in_use(), 3);

    // When one of its own dials fails, its token moves to a merged address.
    let dials = dial_ids(sim.log());
    sim.fail(dials[0], "refused").expect("known");
    assert_eq!(started(&sim.take()), vec![addr(3)]);
    sim.finish();
}

// R-R4, R-R6, R-R6a
#[test]
fn request_timeout_wins_a_tie_with_an_address_timeout_and_starts_nothing() {
    let mut sim = Sim::new(
        Config::default()
            .with_max_per_peer_dials(1)
            .with_dial_timeout(secs(2))
            .with_address_timeout(secs(2)),
    );
    let caller = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.take();
    sim.run();
    let out = sim.take();
    assert_eq!(
        action_summary(&out),
        vec![format!("abort {} RequestTimeout", addr(1))]
    );
    assert_eq!(
        sim.outcome(caller),
        Some(Err(DialFailed::Timeout {
            attempts: vec![Attempt {
                addr: addr(1),
                reason: FailReason::RequestTimeout,
            }],
        }))
    );
    assert_eq!(started(sim.log()), vec![addr(1)]);
    sim.finish();
}

// R-R9
#[test]
fn the_default_limit_is_25_addresses_and_the_error_says_so() {
    let mut sim = Sim::new(Config::default());
    let ports: Vec<u16> = (1..=26).collect();
    let err = sim.dial(1, &addrs(&ports)).expect_err("26 is too many");
    assert_eq!(err, DialRefused::TooManyAddresses { given: 26, max: 25 });
    assert_eq!(
        err.to_string(),
        "26 addresses given, at most 25 allowed per request"
    );
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    sim.dial(1, &addrs(&ports[..25])).expect("25 is fine");
    sim.finish();
}
