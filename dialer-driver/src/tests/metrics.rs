//! The Prometheus metrics (R-O3) after a scripted run on paused time: every count exact.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::{addr, Counters, Gate, Script, Scripted, Tokio, MS};
use crate::{Config, Dialer, Error};
use dialer_core::{DialFailed, DialRefused};
use multiaddr::Multiaddr;

fn addr6(port: u16) -> Multiaddr {
    format!("/ip6/::1/tcp/{port}").parse().expect("multiaddr")
}

/// The registry's text, one line per element, without the `# HELP` / `# TYPE` comments.
fn lines(registry: &Registry) -> BTreeSet<String> {
    let mut text = String::new();
    encode(&mut text, registry).expect("encodes");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Asserts that the metric lines starting with `prefix` are exactly `want`.
fn assert_series(lines: &BTreeSet<String>, prefix: &str, want: &[&str]) {
    let got: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with(prefix))
        .map(String::as_str)
        .collect();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{prefix}");
}

// R-O3
#[tokio::test(start_paused = true)]
async fn metrics_count_every_request_and_dial_exactly() {
    let (p1a, p1b) = (addr(11), addr(12));
    let (p2a, p2b) = (addr(21), addr6(22));
    let (p3a, p3b) = (addr(31), addr(32));
    let (p4a, p4b, p4c) = (addr(41), addr(42), addr(43));
    let p5 = addr(51);
    let (p6a, p6b) = (addr(61), addr(62));
    let p7 = addr(71);
    let (gate_a, gate_b) = (Gate::default(), Gate::default());
    let (transport, counters) = Scripted::new(&[
        (&p1a, Script::Refuse(10 * MS)),
        (&p1b, Script::Connect(20 * MS)),
        (&p2a, Script::Connect(7 * MS)),
        (&p2b, Script::Connect(30 * MS)),
        (&p3a, Script::Refuse(10 * MS)),
        (&p3b, Script::Refuse(15 * MS)),
        (&p4a, Script::Hang),
        (&p4b, Script::Hang),
        (&p4c, Script::Hang),
        (&p5, Script::Hang),
        (&p6a, Script::Gated(gate_a.clone())),
        (&p6b, Script::Gated(gate_b)),
    ]);
    let config = Config::default()
        .with_max_tokens(2)
        .with_max_per_peer_dials(2)
        .with_address_timeout(1000 * MS)
        .with_dial_timeout(1500 * MS);
    let mut registry = Registry::default();
    let dialer: Dialer<u32, Scripted, Tokio> =
        Dialer::with_metrics(config, transport, Tokio, &mut registry).expect("valid config");

    // Connected after a refusal (20 ms), and connected while an IPv6 sibling loses (7 ms).
    let dialed = dialer.dial(1, [p1a, p1b]).await.expect("connected");
    assert_eq!(dialed.failed.len(), 1);
    dialer.dial(2, [p2a, p2b]).await.expect("connected");
    // Both refuse: failed; then both are deny-listed, so the next request is refused.
    let failed = dialer.dial(3, [p3a.clone(), p3b.clone()]).await;
    assert!(matches!(
        failed,
        Err(Error::Failed(DialFailed::AllFailed { .. }))
    ));
    let refused = dialer.dial(3, [p3a, p3b]).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(DialRefused::BackedOff { .. }))
    ));
    // Two dials time out at 1 s, the third is cut at the request's 1.5 s.
    let timed_out = dialer.dial(4, [p4a, p4b, p4c]).await;
    assert!(matches!(
        timed_out,
        Err(Error::Failed(DialFailed::Timeout { .. }))
    ));
    // The caller gives up after 100 ms: the request is cancelled.
    let gave_up = tokio::time::timeout(100 * MS, dialer.dial(5, [p5])).await;
    assert!(gave_up.is_err(), "still dialing when the caller left");
    // Peer 6 holds both tokens while peer 7 is refused; 40 ms later peer 6 connects.
    let started = Counters::get(&counters.attempts_started);
    let held = tokio::spawn(dialer.dial(6, [p6a, p6b]));
    counters
        .until("both of peer 6's dials started", |c| {
            c.attempts_started.load(Ordering::SeqCst) == started + 2
        })
        .await;
    let no_tokens = dialer.dial(7, [p7]).await;
    assert!(matches!(
        no_tokens,
        Err(Error::Refused(DialRefused::NoTokens))
    ));
    let invalid = dialer.dial(8, Vec::<Multiaddr>::new()).await;
    assert!(matches!(
        invalid,
        Err(Error::Refused(DialRefused::NoAddresses))
    ));
    tokio::time::advance(40 * MS).await;
    gate_a.open();
    held.await.expect("joined").expect("connected");
    // Every caller has its answer; the cancel of peer 5 went before this in the queue.
    let stats = dialer.stats().await.expect("running");

    let lines = lines(&registry);
    assert_series(
        &lines,
        "dialer_requests_total",
        &[
            r#"dialer_requests_total{outcome="connected"} 3"#,
            r#"dialer_requests_total{outcome="failed"} 1"#,
            r#"dialer_requests_total{outcome="timed_out"} 1"#,
            r#"dialer_requests_total{outcome="cancelled"} 1"#,
            r#"dialer_requests_total{outcome="no_tokens_in_time"} 0"#,
            r#"dialer_requests_total{outcome="refused_no_tokens"} 1"#,
            r#"dialer_requests_total{outcome="refused_backed_off"} 1"#,
            r#"dialer_requests_total{outcome="refused_black_holed"} 0"#,
            r#"dialer_requests_total{outcome="refused_no_dialable_addresses"} 0"#,
            r#"dialer_requests_total{outcome="refused_invalid"} 1"#,
        ],
    );
    assert_series(
        &lines,
        "dialer_dials_total",
        &[
            r#"dialer_dials_total{outcome="connected",error="none",ip_version="ip4",transport="tcp"} 3"#,
            r#"dialer_dials_total{outcome="failed",error="refused",ip_version="ip4",transport="tcp"} 3"#,
            r#"dialer_dials_total{outcome="superseded",error="none",ip_version="ip6",transport="tcp"} 1"#,
            r#"dialer_dials_total{outcome="superseded",error="none",ip_version="ip4",transport="tcp"} 1"#,
            r#"dialer_dials_total{outcome="timed_out",error="timed_out",ip_version="ip4",transport="tcp"} 3"#,
            r#"dialer_dials_total{outcome="cancelled",error="none",ip_version="ip4",transport="tcp"} 1"#,
        ],
    );
    // Every dial the core started ended in exactly one of those series.
    assert_eq!(stats.dials_started, 12);
    assert_series(
        &lines,
        "dialer_request_dials_count",
        &[
            r#"dialer_request_dials_count{outcome="connected"} 3"#,
            r#"dialer_request_dials_count{outcome="failed"} 1"#,
            r#"dialer_request_dials_count{outcome="timed_out"} 1"#,
            r#"dialer_request_dials_count{outcome="cancelled"} 1"#,
        ],
    );
    assert_series(
        &lines,
        "dialer_request_dials_sum",
        &[
            r#"dialer_request_dials_sum{outcome="connected"} 6.0"#,
            r#"dialer_request_dials_sum{outcome="failed"} 2.0"#,
            r#"dialer_request_dials_sum{outcome="timed_out"} 3.0"#,
            r#"dialer_request_dials_sum{outcome="cancelled"} 1.0"#,
        ],
    );
    for line in [
        r#"dialer_request_dials_bucket{le="1.0",outcome="cancelled"} 1"#,
        r#"dialer_request_dials_bucket{le="1.0",outcome="connected"} 0"#,
        r#"dialer_request_dials_bucket{le="2.0",outcome="connected"} 3"#,
        r#"dialer_request_dials_bucket{le="2.0",outcome="timed_out"} 0"#,
        r#"dialer_request_dials_bucket{le="3.0",outcome="timed_out"} 1"#,
        // 7 ms, 20 ms and 40 ms.
        r#"dialer_time_to_connect_seconds_bucket{le="0.005"} 0"#,
        r#"dialer_time_to_connect_seconds_bucket{le="0.01"} 1"#,
        r#"dialer_time_to_connect_seconds_bucket{le="0.025"} 2"#,
        r#"dialer_time_to_connect_seconds_bucket{le="0.05"} 3"#,
        r#"dialer_time_to_connect_seconds_bucket{le="+Inf"} 3"#,
        r#"dialer_time_to_connect_seconds_count 3"#,
        r#"dialer_tokens_in_use 0"#,
        r#"dialer_queue_length 0"#,
        r#"dialer_black_hole_state{class="ip6"} 0"#,
        r#"dialer_black_hole_state{class="udp"} 0"#,
        r#"dialer_addresses_skipped_total{reason="deny_listed"} 2"#,
        r#"dialer_addresses_skipped_total{reason="black_holed"} 0"#,
        r#"dialer_addresses_skipped_total{reason="pruned"} 0"#,
    ] {
        assert!(
            lines.contains(line),
            "missing {line}\n{}",
            lines.iter().cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

// R-O3, R-Q1: with waiting on, the queue gauge counts the waiting requests, and a wait
// that runs out is its own outcome.
#[tokio::test(start_paused = true)]
async fn the_queue_gauge_and_waits_that_run_out() {
    let (hold, wait, late) = (addr(81), addr(82), addr(83));
    let (transport, counters) = Scripted::new(&[
        (&hold, Script::Hang),
        (&wait, Script::Hang),
        (&late, Script::Hang),
    ]);
    let config = Config::default()
        .with_max_tokens(1)
        .with_address_timeout(1000 * MS)
        .with_dial_timeout(5000 * MS)
        .with_wait_for_tokens(Some(crate::WaitForTokens {
            queue: 1,
            max_wait: 200 * MS,
        }));
    let mut registry = Registry::default();
    let dialer: Dialer<u32, Scripted, Tokio> =
        Dialer::with_metrics(config, transport, Tokio, &mut registry).expect("valid config");
    let started = Counters::get(&counters.attempts_started);
    let holder = tokio::spawn(dialer.dial(1, [hold]));
    counters
        .until("the holder's dial started", |c| {
            c.attempts_started.load(Ordering::SeqCst) == started + 1
        })
        .await;
    let mut waiter = Box::pin(dialer.dial(2, [wait]));
    assert!(futures::poll!(&mut waiter).is_pending());
    // The driver answers in order: once stats come back, the waiter's dial was handled.
    let stats = dialer.stats().await.expect("running");
    assert_eq!(stats.requests_waiting, 1);
    assert_series(
        &lines(&registry),
        "dialer_queue_length",
        &["dialer_queue_length 1"],
    );
    // The queue (of 1) is full.
    let full = dialer.dial(3, [late]).await;
    assert!(matches!(full, Err(Error::Refused(DialRefused::NoTokens))));
    let waited = waiter.await;
    assert!(matches!(
        waited,
        Err(Error::Failed(DialFailed::NoTokensInTime { .. }))
    ));
    let lines = lines(&registry);
    assert_series(&lines, "dialer_queue_length", &["dialer_queue_length 0"]);
    for want in [
        r#"dialer_requests_total{outcome="no_tokens_in_time"} 1"#,
        r#"dialer_requests_total{outcome="failed"} 0"#,
        r#"dialer_requests_total{outcome="refused_no_tokens"} 1"#,
    ] {
        assert!(lines.contains(want), "{want} not in {lines:?}");
    }
    holder.abort();
}
