//! One test per finding of the fuzzers and property tests, each named after what broke.
//! The inputs that found them are also in the seed corpus (`fuzz/corpus/*/seed-regression-*`),
//! which `fuzz_replay.rs` replays.

use std::time::Duration;

use dialer_core::{Action, Config, DialOpts, Dialer, Multiaddr};
use dialer_tests::ops::{apply, ConfigSpec, Op, Size, Span, WaitSpec};

fn addr(i: usize) -> Multiaddr {
    dialer_tests::ops::address_pool()[i].clone()
}

/// Finding 1 (R-R6, R-C4, R-D1, invariant 4): `handle_timeout(now)` with `now` past both a
/// dial's `address_timeout` and its request's `dial_timeout` handled the earlier dial
/// deadline first, moved the token to the next address (a StartDial at `now`, already past
/// the request's deadline), then timed the request out and charged that address with a
/// failure it never had: confidence −1 and deny-listed.
#[test]
fn no_dial_starts_past_the_request_deadline() {
    let config = Config::default()
        .with_max_per_peer_dials(1)
        .with_dial_timeout(Duration::from_secs(1))
        .with_address_timeout(Duration::from_nanos(1));
    let mut dialer = Dialer::<u8>::new(config).expect("valid config");
    let t0 = std::time::Instant::now();
    let (first, second) = (addr(0), addr(1));
    dialer
        .dial(t0, 1, [first.clone(), second.clone()], DialOpts::default())
        .expect("request starts");
    while dialer.poll_action().is_some() {}
    while dialer.poll_event().is_some() {}

    let late = t0 + Duration::from_secs(2);
    dialer.handle_timeout(late);
    let mut started = Vec::new();
    while let Some(action) = dialer.poll_action() {
        if let Action::StartDial(start) = action {
            started.push(start.addr);
        }
    }
    assert!(
        started.is_empty(),
        "dials started past the deadline: {started:?}"
    );
    assert_eq!(
        dialer.confidence(&first),
        0,
        "the timed-out dial counts (R-C4)"
    );
    assert_eq!(dialer.confidence(&second), 1, "never dialed, never charged");
    assert!(
        !dialer.is_deny_listed(late, &second),
        "never dialed, never denied"
    );
    assert_eq!(dialer.requests_in_flight(), 0);
    assert_eq!(dialer.tokens_in_use(), 0);
}

/// Finding 1 through the interpreter: the Monitor (invariant 4: no StartDial for a request
/// past its `dial_timeout`) and the model must both accept the fixed behaviour.
#[test]
fn overdue_request_through_the_interpreter() {
    let spec = ConfigSpec {
        max_per_peer_dials: Size::One,
        dial_timeout: Span::Millis(1000),
        address_timeout: Span::Nano,
        ..ConfigSpec::default()
    };
    let ops = [
        Op::Dial {
            peer: 1,
            addrs: vec![0, 1, 2],
            high: false,
        },
        Op::Advance { millis: 2000 },
        Op::Timeout,
    ];
    apply(spec.config(), &ops).expect("no violation");
}

/// Finding 2 (invariant 7, R-D3): a success lifts its address from the deny list but left
/// the entry in the expiry queue; the queue was swept only on insert. Peers that share an
/// address (peer 1 fails it, peer 0 connects to it, again and again at the same instant)
/// piled up stale entries past the checker's bound of 2 · live + 17.
#[test]
fn deny_queue_stays_bounded_when_successes_lift_entries() {
    let mut ops = Vec::new();
    for _ in 0..25 {
        ops.push(Op::Dial {
            peer: 0,
            addrs: vec![0],
            high: false,
        });
        ops.push(Op::Dial {
            peer: 1,
            addrs: vec![0],
            high: false,
        });
        // Open dials are picked in id order: peer 0's is first, peer 1's second.
        ops.push(Op::Fail { pick: 1 });
        ops.push(Op::Succeed { pick: 0 });
    }
    apply(ConfigSpec::default().config(), &ops).expect("no violation");
}

/// Issue item 0 (R-R6, R-R8), through the reference model: with the default config, a
/// second caller for peer 7 arriving 30.001 s after the first, before the request's timer
/// was handled, must not inherit its timeout: the old request times out, and the second
/// caller's own address is dialed in a new request.
#[test]
fn a_join_past_the_dial_timeout_starts_a_new_request() {
    let mut dialer = Dialer::<u8>::new(Config::default()).expect("valid config");
    let t0 = std::time::Instant::now();
    let first: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("valid");
    let second: Multiaddr = "/ip4/127.0.0.1/tcp/2".parse().expect("valid");
    let old = dialer
        .dial(t0, 7, [first], DialOpts::default())
        .expect("request starts");
    while dialer.poll_action().is_some() {}
    while dialer.poll_event().is_some() {}
    let late = t0 + Duration::from_millis(30_001);
    let new = dialer
        .dial(late, 7, [second.clone()], DialOpts::default())
        .expect("a new request, not a refusal");
    assert!(
        !new.joined,
        "past its deadline the old request is not joined"
    );
    assert_ne!(new.request, old.request);
    let mut started = Vec::new();
    while let Some(action) = dialer.poll_action() {
        if let Action::StartDial(start) = action {
            started.push(start.addr);
        }
    }
    assert_eq!(
        started,
        [second],
        "the second caller's own address is dialed"
    );
    let mut timed_out = Vec::new();
    while let Some(event) = dialer.poll_event() {
        if let dialer_core::Event::Finished { caller, result, .. } = event {
            timed_out.push((caller, result.is_err()));
        }
    }
    assert_eq!(
        timed_out,
        [(old.caller, true)],
        "only the first caller times out"
    );
    assert!(dialer.is_in_flight(new.request));
}

/// Issue item 0 through the interpreter and its model (which must handle the old request
/// ending and the new one starting in one step).
#[test]
fn item_0_through_the_model() {
    let ops = [
        Op::Dial {
            peer: 0,
            addrs: vec![0],
            high: false,
        },
        Op::Advance { millis: 30_001 },
        Op::Dial {
            peer: 0,
            addrs: vec![1],
            high: false,
        },
        Op::Succeed { pick: 0 },
    ];
    apply(ConfigSpec::default().config(), &ops).expect("the model agrees");
}

/// Finding 3 (R-Q1, R-R8, issue item 0 for waits), by the property tests' model: a caller
/// for a peer whose queued request had run out of time (max_wait 1 ns), before its timer
/// was handled, joined it instead of starting afresh.
#[test]
fn a_caller_does_not_join_a_wait_that_ran_out() {
    let spec = ConfigSpec {
        max_tokens: Size::One,
        max_per_peer_dials: Size::One,
        dial_timeout: Span::Millis(1000),
        address_timeout: Span::Millis(300),
        wait_for_tokens: Some(WaitSpec {
            queue: 0,
            max_wait: Span::Nano,
        }),
        ..ConfigSpec::default()
    };
    let dial = |peer| Op::Dial {
        peer,
        addrs: vec![0],
        high: false,
    };
    let ops = [
        dial(0),
        dial(0),
        dial(3),
        Op::ReportAborted { pick: 0, ok: false },
        Op::Advance { millis: 1 },
        dial(3),
    ];
    apply(spec.config(), &ops).expect("the model agrees");
}

/// Finding 4 (R-Q1, Bad input), by the property tests' model: a cancel dated before the
/// core's clock served the queue at the stale instant, so the served request's dial timed
/// out before its address_timeout.
#[test]
fn a_stale_cancel_serves_the_queue_now() {
    let spec = ConfigSpec {
        max_tokens: Size::One,
        max_per_peer_dials: Size::Two,
        max_addrs_per_request: Size::Two,
        dial_timeout: Span::Nano,
        address_timeout: Span::Nano,
        wait_for_tokens: Some(WaitSpec {
            queue: 0,
            max_wait: Span::Nano,
        }),
        ..ConfigSpec::default()
    };
    let dial = |peer| Op::Dial {
        peer,
        addrs: vec![0],
        high: false,
    };
    let ops = [
        dial(0),
        Op::Advance { millis: 1 },
        Op::Succeed { pick: 0 },
        Op::Rewind { millis: 1 },
        dial(1),
        dial(0),
        Op::Cancel { pick: 11 },
    ];
    apply(spec.config(), &ops).expect("the model agrees");
}
