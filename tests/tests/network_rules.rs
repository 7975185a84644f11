//! The rules of issue 11 through the interpreter and its reference model: each test is a
//! short op sequence aimed at one rule, checked step by step by the model (which predicts
//! the rule from its text) and the invariant checker.

use dialer_tests::ops::{
    apply, run, AdaptiveSpec, BlackHoleSpec, ConfigSpec, Growth, Op, PruneAfter, Size, Span,
};

fn dial(peer: u8, addrs: &[u8]) -> Op {
    Op::Dial {
        peer,
        addrs: addrs.to_vec(),
        high: false,
    }
}

/// Pool indices: 11 = /ip6/2600::1/tcp, 13 = /ip6/2600::2/tcp, 10 = /ip4/16.0.0.1/tcp,
/// 12 = /ip4/16.0.0.2/tcp, 17 = the relayed one, 0 and 1 private IPv4.
const V6: [u8; 2] = [11, 13];

// R-D4, R-D5: failures in a row grow the deny time (the model computes every expiry).
#[test]
fn r_d4_backoff_grows_and_a_success_resets_it() {
    let config = ConfigSpec {
        deny_duration: Span::Secs(1),
        deny_growth: Growth::Default,
        deny_max: Span::Secs(60),
        adaptive: AdaptiveSpec::Off,
        ..ConfigSpec::default()
    };
    let mut ops = Vec::new();
    for _ in 0..5 {
        ops.push(dial(0, &[0]));
        ops.push(Op::Fail { pick: 0 });
        ops.push(dial(1, &[0]));
        ops.push(Op::AdvanceLarge { secs: 17 });
        ops.push(Op::Timeout);
    }
    ops.push(dial(0, &[0]));
    ops.push(Op::Succeed { pick: 0 });
    ops.push(dial(0, &[0]));
    ops.push(Op::Fail { pick: 0 });
    let coverage = run(config.config(), &ops).expect("the model agrees");
    assert!(coverage.grown_denies >= 3, "{coverage:?}");
    assert!(coverage.backed_off >= 1, "{coverage:?}");
}

// R-C5: a failure to confidence 0 prunes only after `prune_after_failures` in a row and
// only beside a proven sibling (0 and 1: the threshold itself at its edges).
#[test]
fn r_c5_prunes_only_after_repeated_failures_beside_a_proven_sibling() {
    for prune_after in [PruneAfter::Zero, PruneAfter::One, PruneAfter::Default] {
        let config = ConfigSpec {
            deny_duration: Span::Millis(1),
            max_per_peer_dials: Size::One,
            adaptive: AdaptiveSpec::Off,
            ..ConfigSpec::default()
        };
        let config = ConfigSpec {
            prune_after_failures: prune_after,
            ..config
        };
        let mut ops = vec![
            dial(0, &[1]),
            Op::Succeed { pick: 0 },
            dial(0, &[1]),
            Op::Succeed { pick: 0 },
        ];
        for _ in 0..3 {
            ops.push(Op::Advance { millis: 10 });
            ops.push(dial(0, &[0, 1]));
            ops.push(Op::Fail { pick: 0 });
            ops.push(Op::Cancel { pick: 0 });
        }
        // R-C5a: lift the mark again.
        ops.push(Op::LiftPrune { peer: 0, addr: 0 });
        ops.push(dial(0, &[0]));
        apply(config.config(), &ops).expect("the model agrees");
    }
}

/// Black holes on IPv6 alone with a window of 2 (a probe every second request), deny
/// entries of 1 ms, no adaptive timeouts.
fn small_window() -> ConfigSpec {
    ConfigSpec {
        black_holes: BlackHoleSpec::Small {
            classes: 1,
            window: 2,
            min_successes: 1,
        },
        deny_duration: Span::Millis(1),
        adaptive: AdaptiveSpec::Off,
        ..ConfigSpec::default()
    }
}

/// Public IPv6 goes dark and three requests of it fail: the class is blocked.
fn block_ipv6(ops: &mut Vec<Op>) {
    ops.push(Op::Dark {
        classes: 1,
        hang: false,
    });
    for peer in 0..3 {
        ops.push(dial(peer, &V6));
        ops.push(Op::FailDark);
        ops.push(Op::Advance { millis: 10 });
    }
}

// R-B1, R-B2, R-B3, R-B4: public IPv6 goes dark, its window fills with failures, the class
// is blocked, requests skip it (a refusal when nothing else is left), and it comes back.
#[test]
fn r_b_a_dark_class_is_blocked_probed_and_unblocked() {
    let config = small_window();
    let mut ops = vec![];
    block_ipv6(&mut ops);
    // Blocked: a request of only IPv6 is refused (R-B3); every second one probes (R-B2).
    for peer in 0..4 {
        ops.push(dial(peer, &V6));
        ops.push(Op::Advance { millis: 10 });
    }
    ops.push(Op::Light { classes: 1 });
    for peer in 0..4 {
        ops.push(dial(peer, &V6));
        ops.push(Op::Succeed { pick: 0 });
    }
    // R-D7: a forced dial ignores the black hole; R-D4b forgets every window.
    ops.push(Op::Force {
        peer: 1,
        addrs: V6.to_vec(),
    });
    ops.push(Op::NetworkChanged);
    let coverage = run(config.config(), &ops).expect("the model agrees");
    assert!(coverage.black_hole_blocked >= 1, "{coverage:?}");
    assert!(coverage.black_holed >= 1, "{coverage:?}");
    assert!(coverage.black_hole_probes >= 1, "{coverage:?}");
}

// R-B2: a probe whose address never started (its request connected first) is owed to the
// next request that can probe; a probe is one dial of the class.
#[test]
fn r_b2_an_unstarted_probe_passes_on() {
    let config = ConfigSpec {
        max_per_peer_dials: Size::One,
        ..small_window()
    };
    // The IPv4 address connects first: proven, it leads its requests from then on.
    let mut ops = vec![dial(5, &[10]), Op::Succeed { pick: 0 }];
    block_ipv6(&mut ops);
    // One token each: the IPv4 address connects before the IPv6 one can start.
    for _ in 0..2 {
        ops.push(dial(5, &[10, 11]));
        ops.push(Op::Succeed { pick: 0 });
        ops.push(Op::Advance { millis: 10 });
    }
    // The owed probe: the next request of IPv6 alone dials one of its two addresses.
    ops.push(dial(6, &V6));
    ops.push(Op::FailDark);
    ops.push(dial(7, &V6));
    let coverage = run(config.config(), &ops).expect("the model agrees");
    assert!(coverage.black_hole_blocked >= 1, "{coverage:?}");
    assert!(coverage.probes_owed >= 1, "{coverage:?}");
    assert!(coverage.black_hole_probes >= 2, "{coverage:?}");
}

// R-R1a: equal confidence interleaves IPv6 and IPv4, IPv6 first, relayed last; a join's
// addresses are merged in the same order (the model checks every StartDial's place).
#[test]
fn r_r1a_interleaved_order_on_new_requests_and_joins() {
    for interleave in [true, false] {
        let config = ConfigSpec {
            max_per_peer_dials: Size::One,
            interleave,
            adaptive: AdaptiveSpec::Off,
            ..ConfigSpec::default()
        };
        let mut ops = vec![dial(0, &[17, 10, 12, 11, 13, 0])];
        ops.push(Op::Join {
            pick: 0,
            addrs: vec![3, 1, 14],
        });
        for _ in 0..9 {
            ops.push(Op::Fail { pick: 0 });
        }
        apply(config.config(), &ops).expect("the model agrees");
    }
}

// R-R6b: adaptive timeouts after one connect, slow answers near the cut, dials cut and
// spared; the model checks no cut comes before the floor or without an adaptive deadline,
// none is cut while its request has nothing pending and tokens are free, and patient
// dials (their address cut last time) are spared whenever tokens are free.
#[test]
fn r_r6b_cuts_spares_and_patient_dials() {
    let config = ConfigSpec {
        adaptive: AdaptiveSpec::Quick {
            min_samples: 1,
            percentile: 49,
            margin: 0,
            syn_retry: Span::Millis(100),
            window: 15,
        },
        address_timeout: Span::Secs(5),
        dial_timeout: Span::Secs(60),
        deny_duration: Span::Millis(1),
        max_per_peer_dials: Size::Two,
        ..ConfigSpec::default()
    };
    let mut ops = vec![dial(0, &[0]), Op::Succeed { pick: 0 }];
    for round in 0..4u8 {
        ops.push(dial(1, &[1, 2, 7]));
        ops.push(Op::Late {
            pick: round,
            millis: 150,
            timeout_first: true,
        });
        ops.push(Op::Advance { millis: 400 });
        ops.push(Op::Timeout);
        ops.push(Op::TimeoutAtDeadline);
        ops.push(Op::TimeoutAtDeadline);
    }
    let coverage = run(config.config(), &ops).expect("the model agrees");
    assert!(coverage.cuts + coverage.spares >= 1, "{coverage:?}");
}

// R-D4a: a connection got another way lifts the deny entries of the given addresses and
// of the peer's request in flight, and their failure counts (the model compares both).
#[test]
fn r_d4a_peer_connected_lifts_backoff() {
    let config = ConfigSpec {
        adaptive: AdaptiveSpec::Off,
        ..ConfigSpec::default()
    };
    let ops = [
        dial(0, &[0, 1]),
        Op::Fail { pick: 0 },
        Op::PeerConnected {
            pick: 0,
            addrs: vec![0],
        },
        dial(1, &[0]),
        Op::Fail { pick: 0 },
        Op::PeerConnected {
            pick: 1,
            addrs: vec![],
        },
        dial(2, &[0]),
    ];
    let coverage = run(config.config(), &ops).expect("the model agrees");
    assert_eq!(coverage.backed_off, 0, "lifted entries do not back off");
}
