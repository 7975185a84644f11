//! The head start of a proven address (`Config::head_start`), beside R-R3 (parallel
//! start), R-S1 (stagger) and R-C (confidence).
//!
//! Hanging addresses are left unscripted (the fake network never answers them) unless a
//! test says otherwise.

use dialer_core::{Config, ConfigError, Event, HeadStart};
use multiaddr::Protocol;

use crate::harness::{addr, addrs, ms, started_at, token_events, Outcome, Sim};

/// Makes address 2 proven: one request over [1, 2, 3] in which 2 connects after
/// `connect` (1 and 3 hang and are aborted). Returns the offset the test goes on from.
fn learn(sim: &mut Sim, connect: u64) -> std::time::Duration {
    sim.script(&addr(2), Outcome::Succeed(ms(connect)));
    sim.dial(100, &addrs(&[1, 2, 3])).expect("dial");
    sim.run();
    assert_eq!(sim.dialer.confidence(&addr(2)), 2);
    let starts = started_at(&sim.take()).len();
    if sim.dialer.config().stagger.is_none() {
        assert_eq!(starts, 3, "nothing learned yet: parallel");
    }
    assert_eq!(sim.stats().head_starts, 0);
    sim.elapsed()
}

/// `(offset from t0, address)` of the dials started since the last `take`.
fn starts_since(sim: &mut Sim, t0: std::time::Duration) -> Vec<(u64, u16)> {
    started_at(&sim.take())
        .into_iter()
        .map(|(at, a)| {
            let port = match a.iter().last() {
                Some(Protocol::Tcp(port)) => port,
                _ => panic!("the harness dials /tcp addresses, not {a}"),
            };
            ((at - t0).as_millis() as u64, port)
        })
        .collect()
}

// Head start, R-C3, R-T2, R-T5
#[test]
fn a_proven_address_dials_alone_and_needs_one_dial() {
    let mut sim = Sim::new(Config::default());
    let t0 = learn(&mut sim, 80);
    let caller = sim.dial(1, &addrs(&[1, 3, 2])).expect("dial");
    let request = sim.dialer.request_of(caller).expect("in flight");
    let out = sim.take();
    // Ordered by confidence (R-R1); all three tokens taken (R-T2) and held while the
    // proven address dials alone (R-T5: at most that many in flight).
    assert_eq!(
        token_events(&out),
        vec![Event::RequestTokens {
            request,
            requested: 3,
            granted: 3,
            overdraft: false,
        }]
    );
    assert_eq!(started_at(&out), vec![(t0, addr(2))]);
    assert_eq!(sim.dialer.tokens_in_use(), 3);
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.addr == addr(2)));
    assert_eq!(starts_since(&mut sim, t0), vec![], "it connected alone");
    assert_eq!(sim.stats().head_starts, 1);
    assert_eq!(sim.dialer.confidence(&addr(2)), 3);
    sim.finish();
}

// Head start, R-R3
#[test]
fn when_the_head_start_runs_out_the_rest_start_together() {
    let mut sim = Sim::new(Config::default());
    let t0 = learn(&mut sim, 80);
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run_for(ms(1_000));
    // 150 % of its 80 ms connect time; then 1 and 3 at once.
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (120, 1), (120, 3)]);
    sim.finish();
}

// Head start, R-T7
#[test]
fn a_proven_address_that_fails_lets_the_rest_start_at_once() {
    let mut sim = Sim::new(Config::default());
    let t0 = learn(&mut sim, 80);
    sim.script(&addr(2), Outcome::Fail(ms(30), "refused"));
    sim.script(&addr(3), Outcome::Succeed(ms(20)));
    let caller = sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run();
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (30, 1), (30, 3)]);
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.addr == addr(3)));
    // The failure cost it its lead (R-C2); the winner gained (R-C3).
    assert_eq!(sim.dialer.confidence(&addr(2)), 1);
    assert_eq!(sim.dialer.confidence(&addr(3)), 2);
    sim.finish();
}

// Head start, R-R3, R-T7: the head start passes down the list. When the proven first
// address fails, the next address opens a new wave; if it is proven too, it dials alone
// for its own head start instead of racing everything left.
#[test]
fn a_proven_address_that_opens_a_new_wave_dials_alone_too() {
    let mut sim = Sim::new(Config::default());
    learn(&mut sim, 80);
    // Address 3 proves itself too, in 40 ms (a single address: no head start).
    sim.script(&addr(3), Outcome::Succeed(ms(40)));
    sim.dial(2, &[addr(3)]).expect("dial");
    sim.run();
    assert_eq!(sim.dialer.confidence(&addr(3)), 2);
    let t0 = sim.elapsed();
    sim.take();
    sim.script(&addr(2), Outcome::Fail(ms(30), "refused"));
    sim.script(&addr(3), Outcome::Hang);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run_for(ms(1_000));
    // 2 alone for 120 ms, refused at 30 ms; 3 alone for 100 ms (1.5 × 40 ms, floored at
    // 100 ms); then 1. Racing would have started 1 and 3 together at 30 ms.
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (30, 3), (130, 1)]);
    sim.finish();
}

// Head start, R-R1: among equal confidence an address that has connected dials first,
// and it keeps its head start after one failure (confidence back at the start value, its
// connect time still measured).
#[test]
fn a_proven_address_leads_its_confidence_level_and_keeps_its_head_start() {
    let mut sim = Sim::new(Config::default());
    learn(&mut sim, 80);
    sim.script(&addr(2), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(3), Outcome::Succeed(ms(20)));
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run();
    assert_eq!(sim.dialer.confidence(&addr(2)), 1);
    // Past the deny time of that failure (R-D1), 3 and 2 are proven and 1 is not.
    sim.run_for(ms(61_000));
    let t0 = sim.elapsed();
    sim.take();
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(4, &addrs(&[1, 2])).expect("dial");
    sim.run_for(ms(1_000));
    // 2 first though the caller put 1 first at the same confidence, alone for
    // 1.5 × 80 ms (a later success would smooth that time, a failure leaves it).
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (120, 1)]);
    sim.finish();
}

// Head start: `min` floors it, `max` decides whether there is one at all.
#[test]
fn the_head_start_is_floored_at_min_and_none_past_max() {
    // 10 ms connect: 1.5 × 10 ms is below the 100 ms floor.
    let mut sim = Sim::new(Config::default());
    let t0 = learn(&mut sim, 10);
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run_for(ms(1_000));
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (100, 1), (100, 3)]);
    sim.finish();

    // 300 ms connect: 450 ms would exceed the 400 ms cap, so the request races.
    let mut sim = Sim::new(Config::default());
    let t0 = learn(&mut sim, 300);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (0, 1), (0, 3)]);
    assert_eq!(sim.stats().head_starts, 0);
    sim.finish();
}

// Head start: the connect time is a moving average, new samples weigh 1/4.
#[test]
fn the_connect_time_is_smoothed() {
    let mut sim = Sim::new(Config::default());
    learn(&mut sim, 80);
    sim.script(&addr(2), Outcome::Succeed(ms(160)));
    sim.dial(2, &addrs(&[1, 2, 3])).expect("dial");
    sim.run();
    // (3 × 80 + 160) / 4 = 100 ms, so a 150 ms head start.
    let t0 = sim.elapsed();
    sim.take();
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run_for(ms(1_000));
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (150, 1), (150, 3)]);
    sim.finish();
}

// Head start, R-C6: imported confidence carries no connect time, so nothing to size a
// head start by: the request races as the seed does.
#[test]
fn imported_confidence_gets_no_head_start() {
    let mut sim = Sim::new(Config::default());
    sim.dialer.import_confidence([(addr(2), 9)]);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    assert_eq!(starts_since(&mut sim, ms(0)), vec![(0, 2), (0, 1), (0, 3)]);
    assert_eq!(sim.stats().head_starts, 0);
    sim.finish();
}

// Head start off, R-R3: the seed's parallel start, learned or not.
#[test]
fn with_the_head_start_off_a_proven_address_races_the_rest() {
    let mut sim = Sim::new(Config::default().with_head_start(None));
    let t0 = learn(&mut sim, 80);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (0, 1), (0, 3)]);
    sim.finish();
}

// Head start, R-T2: one token has nothing to hold back.
#[test]
fn a_single_token_request_gets_no_head_start() {
    let mut sim = Sim::new(Config::default());
    learn(&mut sim, 80);
    sim.dial(1, &[addr(2)]).expect("dial");
    sim.run();
    assert_eq!(sim.stats().head_starts, 0);
    sim.finish();
}

// Head start, R-R8: addresses a joining caller brings wait for the head start too.
#[test]
fn a_join_during_the_head_start_waits_for_it() {
    let mut sim = Sim::new(Config::default());
    let t0 = learn(&mut sim, 80);
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(1, &addrs(&[2, 3])).expect("dial");
    sim.run_for(ms(50));
    sim.dial(1, &[addr(4)]).expect("join");
    sim.run_for(ms(1_000));
    assert_eq!(starts_since(&mut sim, t0), vec![(0, 2), (120, 3), (120, 4)]);
    sim.finish();
}

// Head start, R-S1: with a stagger too, the first gap is the longer of the two, and the
// stagger paces the rest.
#[test]
fn with_a_stagger_the_first_gap_is_the_longer() {
    let mut sim = Sim::new(Config::default().with_stagger(Some(ms(250))));
    let t0 = learn(&mut sim, 200);
    sim.take();
    sim.script(&addr(2), Outcome::Hang);
    sim.dial(1, &addrs(&[1, 2, 3])).expect("dial");
    sim.run_for(ms(2_000));
    // 1.5 × 200 ms = 300 ms beats the 250 ms stagger; then one per 250 ms.
    let starts = starts_since(&mut sim, t0);
    assert_eq!(starts[..3], [(0, 2), (300, 1), (550, 3)], "{starts:?}");
    sim.finish();
}

// Head start: bad settings are refused at construction.
#[test]
fn bad_head_start_settings_are_refused() {
    let with = |h: HeadStart| Config::default().with_head_start(Some(h));
    let d = HeadStart::default();
    assert_eq!(d.delay(ms(80)), Some(ms(120)));
    // 150 % of 266 ms is 399 ms, within the 400 ms cap; of 267 ms, past it.
    assert_eq!(d.delay(ms(266)), Some(ms(399)));
    assert_eq!(d.delay(ms(267)), None);
    for bad in [
        HeadStart { min: ms(600), ..d },
        HeadStart {
            rtt_percent: 99,
            ..d
        },
    ] {
        assert_eq!(with(bad).validate(), Err(ConfigError::HeadStartRange));
    }
    assert_eq!(
        with(HeadStart { min: ms(0), ..d }).validate(),
        Err(ConfigError::ZeroDuration("head_start.min"))
    );
    assert_eq!(with(d).validate(), Ok(()));
}
