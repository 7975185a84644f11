//! R-C7: what the dialer learned about addresses saved as one versioned snapshot and
//! restored into a new dialer, on simulated clocks that start at different instants.

use std::time::Duration;

use dialer_core::{
    AdaptiveTimeout, AddrClass, BlackHoleState, BlackHoles, Config, Multiaddr, RestoreError,
    RestoreReport, Snapshot, SNAPSHOT_VERSION,
};

use crate::harness::{addr, ms, secs, Outcome, Sim};

fn v6(n: u16) -> Multiaddr {
    format!("/ip6/2600::{n:x}/tcp/4001")
        .parse()
        .expect("valid multiaddr")
}

/// Everything on, and quick to learn: adaptive timeouts after 4 connects, a 60 s deny
/// that does not grow, a prune after one failure, a black-hole window of 2.
fn learning() -> Config {
    Config::default()
        .with_adaptive_timeout(Some(AdaptiveTimeout {
            min_samples: 4,
            ..AdaptiveTimeout::default()
        }))
        .with_deny_duration(secs(60))
        .with_deny_growth(1)
        .with_prune_after_failures(1)
        .with_head_start(None)
        .with_black_holes(BlackHoles {
            window: 2,
            min_successes: 1,
            ..BlackHoles::default()
        })
}

/// A dialer that has learned a bit of everything, 10 s after its last lesson: connect
/// times of four peers (40 ms), `addr(1)` good for peer 7 (5 ms), `addr(2)` failed beside
/// it (pruned for 7, deny-listed), and IPv6 black-holed (both addresses deny-listed).
fn learned() -> Sim {
    let mut sim = Sim::new(learning());
    for port in 100..104 {
        sim.script(&addr(port), Outcome::Succeed(ms(40)));
        sim.dial(u32::from(port), &[addr(port)]).expect("dial");
        sim.run();
    }
    sim.script(&addr(1), Outcome::Succeed(ms(5)));
    sim.script(&addr(2), Outcome::Fail(ms(1), "refused"));
    sim.dial(7, &[addr(1)]).expect("dial");
    sim.run();
    sim.dial(7, &[addr(1), addr(2)]).expect("dial");
    sim.run();
    sim.script(&v6(1), Outcome::Fail(ms(1), "unreachable"));
    sim.script(&v6(2), Outcome::Fail(ms(1), "unreachable"));
    sim.dial(8, &[v6(1)]).expect("dial");
    sim.dial(9, &[v6(2)]).expect("dial");
    sim.run();
    sim.run_for(secs(10));
    assert_eq!(sim.dialer.confidence(&addr(1)), 3);
    assert_eq!(sim.dialer.confidence(&addr(2)), 0);
    assert_eq!(sim.dialer.failures(&addr(2)), 1);
    assert!(sim.dialer.is_pruned(sim.now(), &7, &addr(2)));
    assert!(sim.dialer.is_deny_listed(sim.now(), &addr(2)));
    assert_eq!(
        sim.dialer.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Blocked)
    );
    assert!(
        sim.dialer.address_timeout_for(&addr(1)) < secs(10),
        "adaptive"
    );
    sim.take();
    sim
}

fn restore(sim: &mut Sim, snapshot: Snapshot<u32>) -> Result<RestoreReport, RestoreError> {
    sim.input(|d, now| d.restore(now, snapshot))
}

// R-C7
#[test]
fn a_restored_dialer_knows_what_the_saved_one_knew() {
    let mut saved = learned();
    let snapshot = saved.dialer.snapshot(saved.now());
    assert_eq!(snapshot.addresses.len(), 8);
    assert_eq!(snapshot.deny.len(), 3);

    // Through a file and into a new dialer whose clock started elsewhere.
    let json = snapshot.to_json().expect("u32 peers serialize");
    assert!(
        json.starts_with(&format!("{{\"version\":{SNAPSHOT_VERSION},")),
        "{json}"
    );
    let read = Snapshot::<u32>::from_json(&json).expect("reads back");
    assert_eq!(read, snapshot, "whole milliseconds survive JSON exactly");
    let mut restored = Sim::new(learning());
    restored.run_for(secs(123));
    let report = restore(&mut restored, read).expect("restores");
    assert_eq!(report.addresses_restored, 8);
    assert_eq!(report.deny_restored, 3);
    assert_eq!(report.prune_marks_restored, 1);
    assert_eq!(report.connect_time_samples, 6, "40 ms ×4, 5 ms ×2");
    assert_eq!(report.dropped(), 0);

    let (a, b) = (&saved.dialer, &restored.dialer);
    assert_eq!(
        b.export_confidence(),
        a.export_confidence(),
        "same values, same recency"
    );
    for entry in &snapshot.addresses {
        let addr = &entry.addr;
        assert_eq!(b.failures(addr), a.failures(addr), "{addr}");
        assert_eq!(
            b.address_timeout_for(addr),
            a.address_timeout_for(addr),
            "{addr}"
        );
        assert_eq!(
            b.is_deny_listed(restored.now(), addr),
            a.is_deny_listed(saved.now(), addr),
            "{addr}"
        );
    }
    assert!(b.is_pruned(restored.now(), &7, &addr(2)));
    assert!(
        !b.is_pruned(restored.now(), &8, &addr(2)),
        "only for its peer"
    );
    // The network may have changed: black holes are learned anew.
    assert_eq!(
        b.black_hole_state(AddrClass::Ip6),
        Some(BlackHoleState::Probing)
    );
    // And what it would save now is what was restored.
    assert_eq!(b.snapshot(restored.now()), snapshot);
    // It dials by it: `addr(2)` is pruned for 7, so only `addr(1)` is dialed.
    restored.script(&addr(1), Outcome::Succeed(ms(5)));
    restored.dial(7, &[addr(2), addr(1)]).expect("dial");
    restored.run();
    assert_eq!(restored.stats().dials_started, 1);
    saved.finish();
    restored.finish();
}

// R-C7
#[test]
fn expiries_count_from_the_restore_not_from_the_old_clock() {
    let saved = learned();
    let snapshot = saved.dialer.snapshot(saved.now());
    let deny = snapshot
        .deny
        .iter()
        .find(|d| d.addr == addr(2))
        .expect("addr(2) denied")
        .expires_in;
    // Denied 60 s at its failure, 10 s (and the rest of that request) ago.
    assert!(deny > secs(49) && deny <= secs(50), "{deny:?}");
    let prune = snapshot
        .addresses
        .iter()
        .find(|a| a.addr == addr(2))
        .expect("addr(2) known")
        .pruned_for[0]
        .expires_in;
    assert!(prune > secs(3589) && prune <= secs(3590), "{prune:?}");

    // The new process is up an hour later, on its own clock: the entries still have what
    // they had left, from the moment they are restored.
    let mut restored = Sim::new(learning());
    restored.run_for(secs(3600));
    restore(&mut restored, snapshot).expect("restores");
    let now = restored.now();
    let d = &restored.dialer;
    assert!(d.is_deny_listed(now + deny - ms(1), &addr(2)));
    assert!(!d.is_deny_listed(now + deny, &addr(2)));
    assert!(d.is_pruned(now + prune - ms(1), &7, &addr(2)));
    assert!(!d.is_pruned(now + prune, &7, &addr(2)));

    // Later, it has less left: 20 s on, the next snapshot says 20 s less.
    restored.run_for(secs(20));
    let later = restored.dialer.snapshot(restored.now());
    let left = later
        .deny
        .iter()
        .find(|d| d.addr == addr(2))
        .map(|d| d.expires_in);
    assert_eq!(left, Some(deny - secs(20)));
    // And past its expiry an entry is no longer saved at all.
    restored.run_for(secs(40));
    let gone = restored.dialer.snapshot(restored.now());
    assert!(gone.deny.iter().all(|d| d.addr != addr(2)), "{gone:?}");
    restored.finish();
}

/// A valid file to break in the tests below.
fn some_json() -> String {
    let saved = learned();
    saved
        .dialer
        .snapshot(saved.now())
        .to_json()
        .expect("serializes")
}

fn read(json: &str) -> Result<Snapshot<u32>, RestoreError> {
    Snapshot::from_json(json)
}

// R-C7
#[test]
fn every_truncation_of_a_snapshot_is_refused() {
    let json = some_json();
    for end in 0..json.len() {
        match read(&json[..end]) {
            Err(RestoreError::Truncated { line, .. }) => assert_eq!(line, 1),
            other => panic!("prefix of {end} bytes: {other:?}"),
        }
    }
    assert!(read(&json).is_ok());
    let err = read(&json[..json.len() / 2]).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
}

// R-C7
#[test]
fn corrupt_unknown_or_out_of_range_snapshots_are_refused_with_a_typed_error() {
    let corrupt =
        |r: Result<Snapshot<u32>, RestoreError>| matches!(r, Err(RestoreError::Corrupt { .. }));
    assert!(corrupt(read("not json")));
    assert!(corrupt(read("{\"version\":1}}")), "trailing bytes");
    assert!(corrupt(read("[1, 2]")), "not an object");
    assert!(corrupt(Snapshot::from_json_slice(
        b"{\"version\":1,\"deny\":[\xff]}"
    )));
    assert_eq!(read("{}"), Err(RestoreError::MissingVersion));
    assert_eq!(
        read("{\"version\":\"1\"}"),
        Err(RestoreError::MissingVersion)
    );

    // A version from the future (or none that ever was): refused, and it says so.
    for found in [0, 2, 999] {
        let err = read(&format!("{{\"version\":{found},\"addresses\":[]}}")).expect_err("unknown");
        assert_eq!(
            err,
            RestoreError::UnknownVersion {
                found,
                newest: SNAPSHOT_VERSION
            }
        );
        assert!(err.to_string().contains(&found.to_string()), "{err}");
    }

    let malformed = |json: &str| match read(json) {
        Err(RestoreError::Malformed { version: 1, reason }) => reason,
        other => panic!("{json}: {other:?}"),
    };
    let reason = malformed(r#"{"version":1,"addresses":[{"addr":"/nope/1","confidence":1}]}"#);
    assert!(reason.contains("addresses[0].addr"), "{reason}");
    malformed(r#"{"version":1,"addresses":[{"addr":"/ip4/127.0.0.1/tcp/1"}]}"#);
    malformed(r#"{"version":1,"surprise":true}"#);
    malformed(r#"{"version":1,"deny":[{"addr":"/ip4/127.0.0.1/tcp/1","expires_in_ms":-5}]}"#);
    malformed(
        r#"{"version":1,"addresses":[{"addr":"/ip4/127.0.0.1/tcp/1","confidence":1,"pruned_for":[{"peer":"seven","expires_in_ms":1}]}]}"#,
    );

    let out_of_range = |json: &str| match read(json) {
        Err(RestoreError::OutOfRange { field, value }) => (field, value),
        other => panic!("{json}: {other:?}"),
    };
    let a = r#""addr":"/ip4/127.0.0.1/tcp/1""#;
    assert_eq!(
        out_of_range(&format!(
            r#"{{"version":1,"addresses":[{{{a},"confidence":11}}]}}"#
        )),
        ("addresses[0].confidence".to_string(), 11)
    );
    assert_eq!(
        out_of_range(&format!(
            r#"{{"version":1,"addresses":[{{{a},"confidence":1,"failures":256}}]}}"#
        )),
        ("addresses[0].failures".to_string(), 256)
    );
    assert_eq!(
        out_of_range(&format!(
            r#"{{"version":1,"addresses":[{{{a},"confidence":1,"connect_us":0}}]}}"#
        ))
        .0,
        "addresses[0].connect_us"
    );
    assert_eq!(
        out_of_range(&format!(
            r#"{{"version":1,"deny":[{{{a},"expires_in_ms":18446744073709551615}}]}}"#
        )),
        ("deny[0].expires_in_ms".to_string(), u64::MAX)
    );
    assert_eq!(
        out_of_range(&format!(
            r#"{{"version":1,"addresses":[{{{a},"confidence":1,"pruned_for":[{{"peer":7,"expires_in_ms":1099511627776000}}]}}]}}"#
        ))
        .0,
        "addresses[0].pruned_for[0].expires_in_ms"
    );
    assert_eq!(
        out_of_range(
            r#"{"version":1,"connect_times":{"seen":1,"buckets":[{"up_to_us":0,"count":1}]}}"#
        )
        .0,
        "connect_times.buckets[0].up_to_us"
    );
    assert!(matches!(
        read(&format!(
            r#"{{"version":1,"deny":[{{{a},"expires_in_ms":5}},{{{a},"expires_in_ms":6}}]}}"#
        )),
        Err(RestoreError::Duplicate { .. })
    ));
    assert!(matches!(
        read(&format!(
            r#"{{"version":1,"addresses":[{{{a},"confidence":1,"pruned_for":[{{"peer":7,"expires_in_ms":1}},{{"peer":7,"expires_in_ms":2}}]}}]}}"#
        )),
        Err(RestoreError::Duplicate { .. })
    ));
}

// R-C7
#[test]
fn a_refused_restore_changes_nothing() {
    let mut sim = learned();
    let before = sim.dialer.snapshot(sim.now());
    let stats = sim.stats();
    let mut bad = before.clone();
    bad.addresses[7].confidence = 11;
    assert_eq!(
        restore(&mut sim, bad),
        Err(RestoreError::OutOfRange {
            field: "addresses[7].confidence".into(),
            value: 11
        })
    );
    let mut bad = before.clone();
    let first = bad.deny[0].clone();
    bad.deny.push(first);
    assert!(matches!(
        restore(&mut sim, bad),
        Err(RestoreError::Duplicate { .. })
    ));
    let mut bad = before.clone();
    bad.deny[2].expires_in = Duration::MAX;
    assert!(matches!(
        restore(&mut sim, bad),
        Err(RestoreError::OutOfRange { .. })
    ));
    assert_eq!(sim.dialer.snapshot(sim.now()), before);
    assert_eq!(sim.stats(), stats);
    sim.finish();
}

// R-C7
#[test]
fn a_snapshot_larger_than_the_tables_keeps_the_most_recent_and_counts_the_rest() {
    // Five addresses, least recent first (the first has a prune mark), and three deny
    // entries; the new dialer holds three and two.
    let json = r#"{"version":1,
        "addresses":[
            {"addr":"/ip4/127.0.0.1/tcp/1","confidence":1,
             "pruned_for":[{"peer":7,"expires_in_ms":60000}]},
            {"addr":"/ip4/127.0.0.1/tcp/2","confidence":2,"failures":3},
            {"addr":"/ip4/127.0.0.1/tcp/3","confidence":3},
            {"addr":"/ip4/127.0.0.1/tcp/4","confidence":4,"connect_us":1500},
            {"addr":"/ip4/127.0.0.1/tcp/5","confidence":5,"cut":true}],
        "deny":[
            {"addr":"/ip4/127.0.0.1/tcp/11","expires_in_ms":10000},
            {"addr":"/ip4/127.0.0.1/tcp/12","expires_in_ms":30000},
            {"addr":"/ip4/127.0.0.1/tcp/13","expires_in_ms":20000}]}"#;
    let snapshot = read(json).expect("valid");
    let config = Config::default()
        .with_confidence_capacity(3)
        .with_deny_list_capacity(2);
    let mut sim = Sim::new(config);
    let report = restore(&mut sim, snapshot).expect("restores");
    assert_eq!(report.addresses_restored, 3);
    assert_eq!(report.addresses_dropped, 2);
    assert_eq!(
        report.prune_marks_dropped, 1,
        "with the entry it belonged to"
    );
    assert_eq!(report.deny_restored, 2);
    assert_eq!(report.deny_dropped, 1);
    assert_eq!(report.dropped(), 4);
    assert_eq!(
        sim.dialer.export_confidence(),
        vec![(addr(3), 3), (addr(4), 4), (addr(5), 5)]
    );
    assert_eq!(sim.dialer.failures(&addr(2)), 0, "dropped");
    let now = sim.now();
    // The deny list keeps the entries that expire last, as when it fills up (R-D3).
    assert!(!sim.dialer.is_deny_listed(now, &addr(11)));
    assert!(sim.dialer.is_deny_listed(now, &addr(12)));
    assert!(sim.dialer.is_deny_listed(now, &addr(13)));
    assert!(!sim.dialer.is_pruned(now, &7, &addr(1)));

    // A table of 0 takes nothing, and says so.
    let mut off = Sim::new(Config::default().with_confidence_capacity(0));
    let report = restore(&mut off, read(json).expect("valid")).expect("restores");
    assert_eq!(
        (report.addresses_restored, report.addresses_dropped),
        (0, 5)
    );
    sim.finish();
    off.finish();
}

// R-C7
#[test]
fn connect_times_are_ignored_by_a_dialer_without_adaptive_timeouts() {
    let saved = learned();
    let snapshot = saved.dialer.snapshot(saved.now());
    assert!(!snapshot.connect_times.buckets.is_empty());
    let mut fixed = Sim::new(learning().with_adaptive_timeout(None));
    let report = restore(&mut fixed, snapshot).expect("restores");
    assert_eq!(report.connect_time_samples, 0);
    assert_eq!(fixed.dialer.address_timeout_for(&addr(1)), secs(10));
    assert_eq!(fixed.dialer.confidence(&addr(1)), 3, "the rest is restored");
    let again = fixed.dialer.snapshot(fixed.now());
    assert!(again.connect_times.buckets.is_empty());
    fixed.finish();
}
