//! R-T: the token pool.

use dialer_core::{Config, DialFailed, DialRefused, Event, Priority};

use crate::harness::{
    addr, addrs, dial_ids, ms, peak_in_flight, started, started_at, token_events, Outcome, Sim,
};

fn config(max_tokens: usize, max_per_peer_dials: usize) -> Config {
    Config::default()
        .with_max_tokens(max_tokens)
        .with_max_per_peer_dials(max_per_peer_dials)
}

// R-T1
#[test]
fn tokens_are_taken_before_any_dial_starts() {
    let mut sim = Sim::new(config(10, 4));
    let caller = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    let out = sim.take();
    // The request's tokens are in the pool's books at the moment its dials exist …
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
    assert_eq!(sim.dialer.tokens_in_use(), 2);

    // … and a request that obtains none starts nothing.
    let mut sim = Sim::new(config(1, 4));
    sim.dial(1, &[addr(1)]).expect("dial");
    sim.take();
    assert_eq!(sim.dial(2, &[addr(2)]), Err(DialRefused::NoTokens));
    assert_eq!(sim.take(), vec![]);
}

// R-T2
#[test]
fn request_asks_for_min_of_per_peer_cap_and_dialable_addresses() {
    let cases: [(&[u16], usize); 4] = [
        (&[1], 1),
        (&[1, 2, 3], 3),
        (&[1, 2, 3, 4], 4),
        (&[1, 2, 3, 4, 5, 6], 4),
    ];
    for (ports, expected) in cases {
        let mut sim = Sim::new(config(100, 4));
        let caller = sim.dial(1, &addrs(ports)).expect("dial");
        let request = sim.dialer.request_of(caller).expect("in flight");
        assert_eq!(
            token_events(&sim.take()),
            vec![Event::RequestTokens {
                request,
                requested: expected,
                granted: expected,
                overdraft: false,
            }],
            "{} addresses",
            ports.len()
        );
    }

    // Only dialable addresses count: 4 given, one duplicate and one undialable.
    let undialable = addr(9);
    let dialer = dialer_core::Dialer::new(config(100, 4))
        .expect("config")
        .with_dialable(move |a| *a != undialable);
    let mut sim = Sim::with_dialer(dialer);
    let caller = sim
        .dial(1, &[addr(1), addr(9), addr(1), addr(2)])
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
}

// R-T3, R-T5
#[test]
fn pool_grants_what_is_left_and_tokens_cap_the_dials_in_flight() {
    let mut sim = Sim::new(config(5, 4));
    let first = sim.dial(1, &addrs(&[1, 2, 3, 4])).expect("dial");
    let first_req = sim.dialer.request_of(first).expect("in flight");
    sim.take();

    // Peer 2 asks for 4, only 1 is left.
    for port in 11..=14 {
        sim.script(&addr(port), Outcome::Fail(ms(10), "refused"));
    }
    let second = sim.dial(2, &addrs(&[11, 12, 13, 14])).expect("dial");
    let second_req = sim.dialer.request_of(second).expect("in flight");
    let out = sim.take();
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request: second_req,
            requested: 4,
            granted: 1,
            overdraft: false,
        }]
    );
    assert_eq!(started(&out), vec![addr(11)]);
    assert_eq!(sim.dialer.tokens_in_use(), 5);

    // Its one token dials its four addresses one after the other.
    sim.run_for(ms(100));
    let log = sim.log().to_vec();
    assert_eq!(peak_in_flight(&log, second_req), 1);
    assert_eq!(peak_in_flight(&log, first_req), 4);
    let second_starts: Vec<_> = started_at(&log)
        .into_iter()
        .filter(|(_, a)| addrs(&[11, 12, 13, 14]).contains(a))
        .collect();
    assert_eq!(
        second_starts,
        vec![
            (ms(0), addr(11)),
            (ms(10), addr(12)),
            (ms(20), addr(13)),
            (ms(30), addr(14)),
        ]
    );
    assert!(matches!(
        sim.outcome(second),
        Some(Err(DialFailed::AllFailed { ref attempts })) if attempts.len() == 4
    ));
    sim.finish();
}

// R-T4
#[test]
fn empty_pool_fails_at_once_without_queueing() {
    let mut sim = Sim::new(config(2, 2));
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.take();
    let before = sim.stats();

    assert_eq!(sim.dial(2, &addrs(&[3, 4])), Err(DialRefused::NoTokens));
    assert_eq!(sim.take(), vec![], "no event, no action");
    let after = sim.stats();
    assert_eq!(after.requests_rejected_no_tokens, 1);
    assert_eq!(after.requests_started, before.requests_started);
    assert_eq!(after.requests_in_flight, 1);
    assert_eq!(sim.dialer.tokens_in_use(), 2);

    // No queue: when tokens come back, nothing for peer 2 starts by itself.
    let dials = dial_ids(sim.log());
    sim.fail(dials[0], "refused").expect("known");
    sim.fail(dials[1], "refused").expect("known");
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert!(started(&sim.take()).is_empty());
    assert_eq!(sim.dialer.requests_in_flight(), 0);
    sim.finish();
}

// R-T6
#[test]
fn tokens_in_use_never_exceed_the_pool() {
    let mut sim = Sim::new(config(3, 2));
    for port in 1..=20 {
        sim.script(&addr(port), Outcome::Fail(ms(u64::from(port)), "refused"));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for peer in 0..10u16 {
        let ports = [2 * peer + 1, 2 * peer + 2];
        match sim.dial(u32::from(peer), &addrs(&ports)) {
            Ok(_) => accepted += 1,
            Err(DialRefused::NoTokens) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert!(sim.dialer.tokens_in_use() <= 3);
        assert!(sim.dialer.dials_in_flight() <= 3);
    }
    // 2 + 1 tokens for the first two peers, then the pool is dry.
    assert_eq!((accepted, refused), (2, 8));
    sim.finish();
    assert_eq!(sim.peak_tokens(), 3);
}

// R-T7
#[test]
fn failed_dial_moves_its_token_to_the_next_address_or_releases_it() {
    let mut sim = Sim::new(config(10, 2));
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Fail(ms(30), "refused"));
    sim.script(&addr(3), Outcome::Hang);
    let caller = sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    assert_eq!(started(&sim.take()), addrs(&[1, 2]));

    // addr 1 fails at 10 ms: its token starts addr 3 at once, nothing is released.
    sim.run_until(ms(10));
    let out = sim.take();
    assert_eq!(started_at(&out), vec![(ms(10), addr(3))]);
    assert_eq!(token_events(&out), vec![]);
    assert_eq!(sim.dialer.tokens_in_use(), 2);

    // addr 2 fails at 30 ms with nothing left to dial: its token goes back at once.
    sim.run_until(ms(30));
    let out = sim.take();
    assert_eq!(started(&out), vec![]);
    assert_eq!(
        token_events(&out),
        vec![Event::Release { request, count: 1 }]
    );
    assert_eq!(out.last().map(|r| r.at), Some(ms(30)));
    assert_eq!(sim.dialer.tokens_in_use(), 1);
    assert!(sim.dialer.is_in_flight(request));
    sim.finish();
}

// R-T8
#[test]
fn released_tokens_serve_the_very_next_request() {
    let mut sim = Sim::new(config(2, 2));
    let first = sim.dial(1, &addrs(&[1, 2])).expect("dial");
    assert_eq!(sim.dial(2, &[addr(3)]), Err(DialRefused::NoTokens));
    let dials = dial_ids(sim.log());
    sim.take();

    sim.fail(dials[0], "refused").expect("known");
    let request = sim.dialer.request_of(first).expect("still in flight");
    assert_eq!(
        token_events(&sim.take()),
        vec![Event::Release { request, count: 1 }]
    );

    // Same instant, no timer in between: the freed token is there.
    let second = sim
        .dial_with(2, &[addr(3)], Priority::Normal)
        .expect("dial");
    let second_req = sim.dialer.request_of(second).expect("in flight");
    let out = sim.take();
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request: second_req,
            requested: 1,
            granted: 1,
            overdraft: false,
        }]
    );
    assert_eq!(started(&out), vec![addr(3)]);
    assert_eq!(sim.dialer.tokens_in_use(), 2);
    sim.finish();
}
