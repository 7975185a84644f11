//! What the core learns from the network itself (issue 11): adaptive address timeouts
//! (R-R6b), growing backoff (R-D4, R-D4a, R-D4b, R-D5), black holes per address class
//! (R-B1 … R-B4), the order among equals (R-R1a), the prune threshold (R-C5, R-C5a), and
//! a join that arrives after its request's deadline.

use std::time::Duration;

use dialer_core::{
    AdaptiveTimeout, AddrClass, BlackHoleState, BlackHoles, Config, DialFailed, DialOpts,
    DialRefused, Event, FailReason, Multiaddr, SkipReason, Skipped,
};

use crate::harness::{addr, addrs, events, ms, secs, started, Outcome, Sim};

fn ma(s: &str) -> Multiaddr {
    s.parse().expect("valid multiaddr")
}

/// A public IPv6 TCP address (never dialed: the harness's network is scripted).
fn v6(n: u16) -> Multiaddr {
    ma(&format!("/ip6/2600::{n:x}/tcp/4001"))
}

/// A public IPv4 TCP address.
fn v4(n: u16) -> Multiaddr {
    ma(&format!("/ip4/16.0.{}.{}/tcp/4001", n / 256, n % 256))
}

/// Adaptive timeouts that learn from 4 connects, deny entries that do not grow.
fn adaptive() -> Config {
    Config::default()
        .with_adaptive_timeout(Some(AdaptiveTimeout {
            min_samples: 4,
            ..AdaptiveTimeout::default()
        }))
        .with_deny_duration(ms(1))
        .with_deny_growth(1)
}

/// Four peers connect in 40 ms each: the core now knows what a connect costs.
fn warm_up(sim: &mut Sim) {
    for port in 100..104 {
        sim.script(&addr(port), Outcome::Succeed(ms(40)));
        sim.dial(u32::from(port), &[addr(port)]).expect("dial");
        sim.run();
    }
}

fn attempts_of(result: Option<Result<dialer_core::Connected, DialFailed>>) -> Vec<FailReason> {
    match result {
        Some(Ok(c)) => c.failed.into_iter().map(|a| a.reason).collect(),
        Some(Err(DialFailed::AllFailed { attempts } | DialFailed::Timeout { attempts })) => {
            attempts.into_iter().map(|a| a.reason).collect()
        }
        other => panic!("unexpected outcome {other:?}"),
    }
}

// ----- R-R6b -------------------------------------------------------------------------

// R-R6b
#[test]
fn a_hanging_dial_gives_its_token_back_after_the_floor_not_the_full_timeout() {
    let mut sim = Sim::new(adaptive().with_max_per_peer_dials(1));
    assert_eq!(
        sim.dialer.address_timeout_for(&addr(1)),
        secs(10),
        "nothing measured yet"
    );
    warm_up(&mut sim);
    // p99 of 40 ms connects is about 40 ms; the floor, p99 + 1 s, is what a dial gets.
    let timeout = sim.dialer.address_timeout_for(&addr(1));
    assert!(timeout > secs(1) && timeout < ms(1_100), "{timeout:?}");

    sim.script(&addr(1), Outcome::Hang);
    sim.script(&addr(2), Outcome::Succeed(ms(30)));
    let start = sim.elapsed();
    let caller = sim.dial(9, &addrs(&[1, 2])).expect("dial");
    sim.run();
    let Some(Ok(connected)) = sim.outcome(caller) else {
        panic!("the second address connects");
    };
    assert_eq!(connected.addr, addr(2));
    match &connected.failed[..] {
        [a] => {
            assert_eq!(a.addr, addr(1));
            assert_eq!(a.reason, FailReason::AdaptiveTimeout { after: timeout });
            assert_eq!(
                a.reason.to_string(),
                format!("adaptive address timeout after {timeout:?}")
            );
        }
        other => panic!("one cut attempt expected, got {other:?}"),
    }
    assert!(
        sim.elapsed() - start < ms(1_200),
        "the token moved on after the cut"
    );
    assert_eq!(sim.stats().dials_cut, 1);
    // A cut is a timeout: confidence drops and the address is denied (R-C4, R-D1) …
    assert_eq!(sim.dialer.confidence(&addr(1)), 0);
    // … and its next dial gets the full address timeout, so a slow one is found again.
    assert_eq!(sim.dialer.address_timeout_for(&addr(1)), secs(10));
    sim.finish();
}

// R-R6b
#[test]
fn a_cut_address_is_dialed_with_the_full_timeout_next_time() {
    let mut sim = Sim::new(adaptive().with_max_per_peer_dials(1));
    warm_up(&mut sim);
    sim.script(&addr(1), Outcome::Succeed(secs(3)));
    sim.script(&addr(2), Outcome::Fail(ms(5), "refused"));
    // First time: cut (another address waits for the token); the request fails.
    let first = sim.dial(9, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(matches!(
        attempts_of(sim.outcome(first))[..],
        [FailReason::AdaptiveTimeout { .. }, FailReason::Transport(_)]
    ));
    // Second time: the full 10 s, and the slow address connects after 3 s.
    sim.run_for(ms(5));
    let second = sim.dial(9, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(matches!(sim.outcome(second), Some(Ok(ref c)) if c.addr == addr(1)));
    // Its own connect time is learned: margin × 3 s from now on.
    assert_eq!(sim.dialer.address_timeout_for(&addr(1)), secs(6));
    sim.finish();
}

// R-R6b
#[test]
fn the_last_dial_of_a_request_is_not_cut_while_the_pool_has_free_tokens() {
    let mut sim = Sim::new(adaptive());
    warm_up(&mut sim);
    sim.script(&addr(1), Outcome::Succeed(secs(3)));
    let caller = sim.dial(9, &[addr(1)]).expect("dial");
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(ref c)) if c.connect_time == secs(3)));
    assert_eq!((sim.stats().dials_cut, sim.stats().dials_spared), (0, 1));

    // With the pool empty, the same dial is cut: its token is wanted.
    let mut sim = Sim::new(adaptive().with_max_tokens(1));
    warm_up(&mut sim);
    sim.script(&addr(1), Outcome::Succeed(secs(3)));
    let caller = sim.dial(9, &[addr(1)]).expect("dial");
    sim.run();
    assert!(matches!(
        attempts_of(sim.outcome(caller))[..],
        [FailReason::AdaptiveTimeout { .. }]
    ));
    assert_eq!((sim.stats().dials_cut, sim.stats().dials_spared), (1, 0));
    sim.finish();
}

// R-R6b
#[test]
fn without_adaptive_timeouts_every_dial_gets_the_fixed_timeout() {
    let mut sim = Sim::new(
        adaptive()
            .with_adaptive_timeout(None)
            .with_max_per_peer_dials(1),
    );
    warm_up(&mut sim);
    assert_eq!(sim.dialer.address_timeout_for(&addr(1)), secs(10));
    sim.script(&addr(1), Outcome::Hang);
    let caller = sim.dial(9, &addrs(&[1, 2])).expect("dial");
    sim.script(&addr(2), Outcome::Succeed(ms(1)));
    let start = sim.elapsed();
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(_))));
    assert_eq!(sim.elapsed() - start, secs(10) + ms(1));
    sim.finish();
}

// ----- R-D4, R-D4a, R-D4b, R-D5 -------------------------------------------------------

fn growing() -> Config {
    Config::default()
        .with_deny_duration(secs(1))
        .with_deny_growth(2)
        .with_deny_max(secs(5))
        .with_adaptive_timeout(None)
}

/// Dials `a` for `peer` once (it fails at once), returns how long it is denied.
fn fail_and_measure(sim: &mut Sim, peer: u32, a: &Multiaddr) -> Duration {
    sim.dial(peer, std::slice::from_ref(a)).expect("dial");
    sim.run();
    let from = sim.elapsed();
    let mut denied = Duration::ZERO;
    while sim.dialer.is_deny_listed(sim.now(), a) {
        sim.run_for(ms(100));
        denied = sim.elapsed() - from;
    }
    denied
}

// R-D4, R-D5
#[test]
fn backoff_grows_with_failures_in_a_row_up_to_deny_max_and_a_success_resets_it() {
    let mut sim = Sim::new(growing());
    let a = addr(1);
    sim.script(&a, Outcome::Fail(ms(1), "refused"));
    let denied: Vec<Duration> = (0..5).map(|_| fail_and_measure(&mut sim, 1, &a)).collect();
    assert_eq!(denied, [secs(1), secs(2), secs(4), secs(5), secs(5)]);
    assert_eq!(sim.dialer.failures(&a), 5);
    // A success resets the count (R-D5): the next failure denies for deny_duration again.
    sim.script(&a, Outcome::Succeed(ms(1)));
    sim.dial(1, std::slice::from_ref(&a)).expect("dial");
    sim.run();
    assert_eq!(sim.dialer.failures(&a), 0);
    sim.script(&a, Outcome::Fail(ms(1), "refused"));
    assert_eq!(fail_and_measure(&mut sim, 1, &a), secs(1));
    sim.finish();
}

// R-D4, R-D6
#[test]
fn a_refused_backed_off_request_says_when_the_grown_entry_expires() {
    let mut sim = Sim::new(growing());
    let a = addr(1);
    sim.script(&a, Outcome::Fail(ms(1), "refused"));
    fail_and_measure(&mut sim, 1, &a);
    sim.dial(1, std::slice::from_ref(&a)).expect("dial");
    sim.run();
    match sim.dial(1, std::slice::from_ref(&a)) {
        Err(DialRefused::BackedOff { retry_in, .. }) => assert_eq!(retry_in, secs(2)),
        other => panic!("expected BackedOff, got {other:?}"),
    }
    sim.finish();
}

// R-D4a
#[test]
fn a_connection_got_another_way_lifts_the_peers_deny_entries() {
    let mut sim = Sim::new(growing());
    sim.script(&addr(1), Outcome::Fail(ms(1), "refused"));
    sim.script(&addr(2), Outcome::Fail(ms(1), "refused"));
    sim.dial(1, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(1)));
    // The peer dialed us (an inbound connection): its addresses are worth dialing again.
    sim.input(|d, now| d.handle_peer_connected(now, &1, &addrs(&[1, 2])));
    for port in [1, 2] {
        assert!(!sim.dialer.is_deny_listed(sim.now(), &addr(port)));
        assert_eq!(sim.dialer.failures(&addr(port)), 0);
    }
    // Confidence is the core's own verdict on its dials: unchanged.
    assert_eq!(sim.dialer.confidence(&addr(1)), 0);
    sim.dial(1, &addrs(&[1, 2])).expect("dialable again");
    sim.finish();
}

// R-D4b
#[test]
fn a_network_change_forgets_what_was_learned_about_the_old_network() {
    let config = adaptive()
        .with_deny_duration(secs(60))
        .with_black_holes(BlackHoles {
            window: 2,
            min_successes: 1,
            ..BlackHoles::default()
        });
    let mut sim = Sim::new(config);
    warm_up(&mut sim);
    sim.script(&v6(1), Outcome::Fail(ms(1), "unreachable"));
    sim.script(&v6(2), Outcome::Fail(ms(1), "unreachable"));
    sim.dial(1, &[v6(1)]).expect("dial");
    sim.dial(2, &[v6(2)]).expect("dial");
    sim.run();
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Blocked)
    );
    assert!(sim.dialer.is_deny_listed(sim.now(), &v6(1)));
    assert!(sim.dialer.address_timeout_for(&addr(9)) < secs(10));
    sim.take();

    sim.input(|d, now| d.network_changed(now));
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing)
    );
    assert_eq!(
        events(&sim.take()),
        vec![Event::BlackHole {
            class: AddrClass::Ip6,
            state: BlackHoleState::Probing
        }]
    );
    assert!(!sim.dialer.is_deny_listed(sim.now(), &v6(1)));
    assert_eq!(sim.dialer.failures(&v6(1)), 0);
    assert_eq!(
        sim.dialer.address_timeout_for(&addr(9)),
        secs(10),
        "estimates dropped"
    );
    // Confidence is about the peers, not the network: kept.
    assert_eq!(sim.dialer.confidence(&addr(100)), 2);
    sim.finish();
}

// ----- R-B1 … R-B4 ---------------------------------------------------------------------

fn small_window() -> Config {
    Config::default()
        .with_black_holes(BlackHoles {
            window: 4,
            min_successes: 1,
            ..BlackHoles::default()
        })
        .with_deny_list_capacity(0)
        .with_adaptive_timeout(None)
}

/// Fails `n` requests of public IPv6 addresses `from..from + n`, one each.
fn fail_v6(sim: &mut Sim, from: u16, n: u16) {
    for i in from..from + n {
        sim.script(&v6(i), Outcome::Fail(ms(1), "network unreachable"));
        sim.dial(u32::from(i), &[v6(i)]).expect("dial");
        sim.run();
    }
}

/// Three requests of fresh IPv6 addresses (peers 60 … 62) meet the blocked class and
/// are refused: with a window of 4, the next request that can probe is the probe.
fn skip_three_blocked(sim: &mut Sim) {
    for i in 0..3u16 {
        assert!(matches!(
            sim.dial(60 + u32::from(i), &[v6(60 + i)]),
            Err(DialRefused::BlackHoled { .. })
        ));
    }
}

// R-B1, R-B2, R-B3, R-B4
#[test]
fn a_window_of_failed_ipv6_dials_blocks_the_class_and_requests_skip_it() {
    let mut sim = Sim::new(small_window());
    fail_v6(&mut sim, 1, 3);
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing)
    );
    fail_v6(&mut sim, 4, 1);
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Blocked)
    );
    let changes: Vec<_> = events(sim.log())
        .into_iter()
        .filter(|e| matches!(e, Event::BlackHole { .. }))
        .collect();
    assert_eq!(
        changes,
        vec![Event::BlackHole {
            class: AddrClass::Ip6,
            state: BlackHoleState::Blocked
        }]
    );
    assert_eq!(sim.stats().black_hole_changes, 1);
    assert_eq!(sim.stats().black_holed_classes, 1);
    assert!(sim.dialer.is_black_holed(&v6(99)));
    assert!(!sim.dialer.is_black_holed(&v4(99)));
    sim.take();

    // A request with both families dials only IPv4 …
    sim.script(&v4(1), Outcome::Succeed(ms(5)));
    sim.dial(50, &[v6(50), v4(1)]).expect("dial");
    sim.run();
    assert_eq!(started(&sim.take()), vec![v4(1)]);
    // … and one with IPv6 alone fails at once, spending nothing (R-B3).
    assert_eq!(
        sim.dial(51, &[v6(51)]),
        Err(DialRefused::BlackHoled {
            skipped: vec![Skipped {
                addr: v6(51),
                reason: SkipReason::BlackHoled
            }]
        })
    );
    assert_eq!(sim.take(), vec![], "no token asked for, no dial");
    assert_eq!(sim.stats().requests_rejected_black_holed, 1);
    assert_eq!(sim.stats().addresses_black_holed, 2);
    sim.finish();
}

// R-B2, R-B4
#[test]
fn one_request_in_a_window_probes_and_a_probe_that_connects_unblocks() {
    let mut sim = Sim::new(small_window());
    fail_v6(&mut sim, 1, 4);
    sim.take();
    // Requests 1 … 3 that meet the blocked class skip it; the 4th probes.
    skip_three_blocked(&mut sim);
    sim.script(&v6(70), Outcome::Succeed(ms(20)));
    sim.dial(70, &[v6(70)]).expect("the probe");
    assert_eq!(started(&sim.take()), vec![v6(70)]);
    assert_eq!(sim.stats().black_hole_probes, 1);
    sim.run();
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing)
    );
    assert!(events(&sim.take()).contains(&Event::BlackHole {
        class: AddrClass::Ip6,
        state: BlackHoleState::Probing
    }));
    assert!(!sim.dialer.is_black_holed(&v6(71)));
    sim.finish();
}

// R-B2: the probe goes to a request that can make it, for a peer not known to be down
#[test]
fn a_probe_passes_over_requests_whose_class_or_other_addresses_are_backed_off() {
    let mut sim = Sim::new(small_window().with_deny_list_capacity(64));
    // Blocks IPv6; v6(1) … v6(4) are backed off.
    fail_v6(&mut sim, 1, 4);
    // A peer whose IPv4 address failed: backed off too.
    sim.script(&v4(50), Outcome::Fail(ms(1), "refused"));
    sim.dial(50, &[v4(50)]).expect("dial");
    sim.run();
    sim.take();
    skip_three_blocked(&mut sim);
    // The fourth in the window would probe, but its IPv6 address is itself backed off.
    assert!(matches!(
        sim.dial(1, &[v6(1)]),
        Err(DialRefused::BackedOff { .. })
    ));
    // Nor does a peer whose every other address is backed off probe: it failed
    // everywhere else, and would spend a token on the blocked class alone.
    assert!(matches!(
        sim.dial(50, &[v6(50), v4(50)]),
        Err(DialRefused::BackedOff { .. })
    ));
    assert_eq!(sim.stats().black_hole_probes, 0);
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    // The next request that can probe does.
    sim.script(&v6(70), Outcome::Succeed(ms(20)));
    sim.script(&v4(70), Outcome::Hang);
    sim.dial(70, &[v6(70), v4(70)]).expect("the probe");
    assert!(started(&sim.take()).contains(&v6(70)));
    assert_eq!(sim.stats().black_hole_probes, 1);
    sim.run();
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing),
        "the probe connected"
    );
    sim.finish();
}

// R-B2: a probe whose address never started is owed to the next request that can probe;
// a probe is one dial of the class
#[test]
fn a_probe_that_never_started_passes_on_and_a_probe_is_one_dial() {
    let mut sim = Sim::new(small_window());
    // v4(80) connects first, and is proven from then on.
    sim.script(&v4(80), Outcome::Succeed(ms(20)));
    sim.dial(80, &[v4(80)]).expect("dial");
    sim.run();
    fail_v6(&mut sim, 1, 4);
    sim.take();
    skip_three_blocked(&mut sim);
    // The fourth probes, but its proven IPv4 address connects during its head start:
    // the IPv6 address never starts, and the class learns nothing.
    sim.dial(80, &[v6(80), v4(80)]).expect("the probe");
    assert_eq!(started(&sim.take()), vec![v4(80)]);
    assert_eq!(sim.stats().black_hole_probes, 1);
    sim.run();
    assert!(sim.dialer.is_black_holed(&v6(80)));
    // So the next request that can probe does, not the next window's fourth; and it
    // dials one address of the class, not both.
    let second = ma("/ip6/2600::5181/tcp/4002");
    sim.script(&v6(81), Outcome::Fail(ms(5), "network unreachable"));
    sim.script(&second, Outcome::Succeed(ms(5)));
    sim.dial(81, &[v6(81), second.clone()])
        .expect("the owed probe");
    assert_eq!(sim.stats().black_hole_probes, 2);
    let log = sim.take();
    assert_eq!(started(&log), vec![v6(81)]);
    sim.run();
    let log = sim.take();
    assert!(
        started(&log).is_empty(),
        "the class's second address stays out"
    );
    let results: Vec<_> = events(&log)
        .into_iter()
        .filter_map(|e| match e {
            Event::Finished { result, .. } => Some(result),
            _ => None,
        })
        .collect();
    assert!(matches!(
        &results[..],
        [Err(DialFailed::AllFailed { attempts })] if attempts.len() == 1
    ));
    assert!(sim.dialer.is_black_holed(&second));
    // The probe started, so nothing is owed: the next requests skip the class again.
    assert!(matches!(
        sim.dial(82, &[v6(82)]),
        Err(DialRefused::BlackHoled { .. })
    ));
    assert_eq!(sim.stats().black_hole_probes, 2);
    sim.finish();
}

// R-B2: a failure in a row marks a peer as down for the probe, backed off or not
#[test]
fn a_peer_whose_other_addresses_failed_their_last_dial_does_not_probe() {
    // No deny list: v4(50) is dialable again at once, but failed its last dial.
    let mut sim = Sim::new(small_window());
    fail_v6(&mut sim, 1, 4);
    sim.script(&v4(50), Outcome::Fail(ms(1), "refused"));
    sim.dial(50, &[v4(50)]).expect("dial");
    sim.run();
    sim.take();
    skip_three_blocked(&mut sim);
    // Fourth in the window, but its peer failed everywhere else: it dials its IPv4
    // address and leaves the blocked class out.
    sim.script(&v4(50), Outcome::Succeed(ms(5)));
    sim.dial(50, &[v6(50), v4(50)]).expect("dials IPv4");
    assert_eq!(started(&sim.take()), vec![v4(50)]);
    assert_eq!(sim.stats().black_hole_probes, 0);
    sim.run();
    // Its IPv4 address connected: the peer is up, and its next request is the probe
    // (which dials IPv6 only if the proven IPv4 address misses its head start).
    sim.dial(50, &[v6(50), v4(50)]).expect("the probe");
    assert_eq!(sim.stats().black_hole_probes, 1);
    sim.run();
    sim.finish();
}

// R-B1
#[test]
fn private_addresses_and_aborted_dials_say_nothing_about_the_route_out() {
    let mut sim = Sim::new(small_window());
    // Loopback IPv6 fails ten times: loopback is not the route out.
    let local = |n: u16| ma(&format!("/ip6/::1/tcp/{n}"));
    for n in 1..=10 {
        sim.script(&local(n), Outcome::Fail(ms(1), "refused"));
        sim.dial(u32::from(n), &[local(n)]).expect("dial");
        sim.run();
    }
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing)
    );
    // Public IPv6 dials aborted because an IPv4 sibling won: not counted either.
    for n in 20..30u16 {
        sim.script(&v6(n), Outcome::Hang);
        sim.script(&v4(n), Outcome::Succeed(ms(5)));
        sim.dial(u32::from(n), &[v6(n), v4(n)]).expect("dial");
        sim.run();
    }
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing)
    );
    assert_eq!(sim.stats().dials_aborted, 10);
    sim.finish();
}

// R-B2, R-D7
#[test]
fn a_request_that_ignores_backoff_dials_a_blocked_class_and_the_outcome_counts() {
    let mut sim = Sim::new(small_window());
    fail_v6(&mut sim, 1, 4);
    sim.script(&v6(80), Outcome::Succeed(ms(10)));
    let caller = sim
        .dial_with(80, &[v6(80)], DialOpts::default().with_ignore_backoff(true))
        .expect("dials anyway");
    sim.run();
    assert!(matches!(sim.outcome(caller), Some(Ok(_))));
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing),
        "its success unblocked the class"
    );
    sim.finish();
}

// R-B1
#[test]
fn with_no_classes_nothing_is_ever_black_holed() {
    let mut sim = Sim::new(small_window().with_black_holes(BlackHoles::off()));
    fail_v6(&mut sim, 1, 20);
    assert_eq!(sim.dialer.black_hole_state(AddrClass::Ip6), None);
    assert!(!sim.dialer.is_black_holed(&v6(1)));
    sim.finish();
}

// ----- R-R1a ----------------------------------------------------------------------------

// R-R1a
#[test]
fn equal_confidence_interleaves_families_ipv6_first_and_relays_last() {
    let relayed = ma("/ip4/16.0.0.9/tcp/4001/p2p-circuit");
    let given = vec![relayed.clone(), v4(1), v4(2), v6(1), v4(3), v6(2)];
    let one_at_a_time = Config::default().with_max_per_peer_dials(1);
    let mut sim = Sim::new(one_at_a_time.clone());
    for a in &given {
        sim.script(a, Outcome::Fail(ms(1), "refused"));
    }
    sim.dial(1, &given).expect("dial");
    sim.run();
    assert_eq!(
        started(sim.log()),
        vec![v6(1), v4(1), v6(2), v4(2), v4(3), relayed.clone()]
    );
    // Off: the caller's order among equals (R-R1).
    let mut sim = Sim::new(one_at_a_time.with_interleave(false));
    for a in &given {
        sim.script(a, Outcome::Fail(ms(1), "refused"));
    }
    sim.dial(1, &given).expect("dial");
    sim.run();
    assert_eq!(started(sim.log()), given);
    sim.finish();
}

// R-R1a, R-R1
#[test]
fn confidence_still_comes_before_the_family() {
    let mut sim = Sim::new(Config::default().with_max_per_peer_dials(1));
    sim.dialer.import_confidence([(v4(1), 5)]);
    for a in [v4(1), v6(1), v6(2)] {
        sim.script(&a, Outcome::Fail(ms(1), "refused"));
    }
    sim.dial(1, &[v6(1), v6(2), v4(1)]).expect("dial");
    sim.run();
    assert_eq!(started(sim.log()), vec![v4(1), v6(1), v6(2)]);
    sim.finish();
}

// ----- R-C5, R-C5a ---------------------------------------------------------------------

fn pruning() -> Config {
    Config::default()
        .with_deny_duration(ms(1))
        .with_deny_growth(1)
        .with_head_start(None)
}

// R-C5
#[test]
fn one_failure_beside_a_proven_sibling_is_no_verdict_the_second_in_a_row_prunes() {
    let mut sim = Sim::new(pruning());
    sim.dialer.import_confidence([(addr(2), 3)]);
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(50)));
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert_eq!(sim.dialer.confidence(&addr(1)), 0);
    assert!(
        !sim.dialer.is_pruned(sim.now(), &7, &addr(1)),
        "one failure"
    );
    sim.run_for(ms(5));
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(
        sim.dialer.is_pruned(sim.now(), &7, &addr(1)),
        "two in a row"
    );
    assert_eq!(sim.stats().addresses_pruned, 1);
    sim.finish();
}

// R-C5a
#[test]
fn the_embedder_can_lift_a_prune_mark_and_an_import_lifts_it_too() {
    let mut sim = Sim::new(pruning().with_prune_after_failures(1));
    sim.dialer.import_confidence([(addr(2), 3)]);
    sim.script(&addr(1), Outcome::Fail(ms(10), "refused"));
    sim.script(&addr(2), Outcome::Succeed(ms(50)));
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(sim.dialer.is_pruned(sim.now(), &7, &addr(1)));
    assert!(sim.input(|d, _| d.lift_prune(&7, &addr(1))));
    assert!(!sim.dialer.is_pruned(sim.now(), &7, &addr(1)));
    assert!(
        !sim.input(|d, _| d.lift_prune(&7, &addr(1))),
        "nothing left to lift"
    );

    sim.run_for(ms(5));
    sim.dial(7, &addrs(&[1, 2])).expect("dial");
    sim.run();
    assert!(
        sim.dialer.is_pruned(sim.now(), &7, &addr(1)),
        "pruned again"
    );
    sim.dialer.import_confidence([(addr(1), 1)]);
    assert!(
        !sim.dialer.is_pruned(sim.now(), &7, &addr(1)),
        "an import vouches for it"
    );
    sim.finish();
}

// ----- a join past its request's deadline ----------------------------------------------

// R-R6, R-R8
#[test]
fn a_caller_joining_a_request_past_its_deadline_gets_a_request_of_its_own() {
    let mut sim = Sim::new(Config::default());
    sim.script(&addr(1), Outcome::Hang);
    sim.script(&addr(2), Outcome::Succeed(ms(5)));
    let first = sim
        .dial_full(7, &[addr(1)], DialOpts::default())
        .expect("dial");
    // 30.001 s later, before the request's timer was handled, a second caller comes.
    let late = sim.at(secs(30) + ms(1));
    let second = sim.dial_at(late, 7, &[addr(2)]).expect("dial");
    assert_ne!(
        sim.dialer.request_of(second),
        Some(first.request),
        "the old request is over: a new one starts"
    );
    assert!(matches!(
        sim.outcome(first.caller),
        Some(Err(DialFailed::Timeout { .. }))
    ));
    assert_eq!(started(&sim.take()), vec![addr(1), addr(2)]);
    sim.run();
    assert!(matches!(sim.outcome(second), Some(Ok(ref c)) if c.addr == addr(2)));
    // addr 1 timed out (a failure); addr 2 was never pruned on its account.
    assert!(!sim.dialer.is_pruned(sim.now(), &7, &addr(2)));
    sim.finish();
}
