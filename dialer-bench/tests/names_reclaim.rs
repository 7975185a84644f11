//! Regression tests for a core gap the simulator's `names` world found (issue 12 item 4):
//! a request of names alone did not take back lent tokens (R-R6b's reclaim of spared
//! dials), where a request of addresses does. It was refused with `NoTokens` at the call,
//! or failed with `DialFailed::NoTokens` when its answer came while the pool was full of
//! spared dials: 2.5 % of the `names` world's requests without any burst of load.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use dialer_core::{
    Action, Answer, Config, DialFailed, DialId, DialOpts, Dialer, Event, Multiaddr, NameAction,
    Names,
};

fn ma(s: &str) -> Multiaddr {
    s.parse().expect("multiaddr")
}

fn start(d: &mut Dialer<u32>) -> Vec<DialId> {
    let mut dials = Vec::new();
    while let Some(a) = d.poll_action() {
        if let Action::StartDial(s) = a {
            dials.push(s.dial);
        }
    }
    dials
}

/// A dialer with a pool of 2 whose adaptive timeout is warmed up: 40 connects of 50 ms,
/// so a dial is cut after max(2 × p90, p90 + 1 s) ≈ 1.06 s.
fn warmed() -> (Dialer<u32>, Instant) {
    let config = Config::default()
        .with_max_tokens(2)
        .with_max_per_peer_dials(1)
        .with_names(Some(Names::default()));
    let mut d = Dialer::<u32>::new(config).expect("config");
    let mut now = Instant::now();
    for i in 0..40u32 {
        let addr = ma(&format!("/ip4/16.0.1.{}/tcp/4001", i + 1));
        d.dial(now, 1000 + i, [addr], DialOpts::default())
            .expect("a token");
        let dial = start(&mut d)[0];
        now += Duration::from_millis(50);
        d.handle_dial_succeeded(now, dial).expect("known dial");
        while d.poll_event().is_some() {}
        while d.poll_action().is_some() {}
    }
    (d, now)
}

/// Fills the pool: peer 1's only address hangs and is spared at its adaptive deadline (its
/// request has nothing else to dial and a token is free then), so it runs on, on a lent
/// token; peer 2's only address hangs too, on the last token. Returns the time.
fn fill_with_spared(d: &mut Dialer<u32>, mut now: Instant) -> Instant {
    d.dial(now, 1, [ma("/ip4/16.0.2.1/tcp/4001")], DialOpts::default())
        .expect("a token");
    assert_eq!(start(d).len(), 1);
    now = d.poll_timeout().expect("the dial's deadline");
    d.handle_timeout(now);
    assert!(start(d).is_empty());
    assert_eq!(d.stats().dials_spared, 1, "peer 1's dial is spared");
    d.dial(now, 2, [ma("/ip4/16.0.2.2/tcp/4001")], DialOpts::default())
        .expect("a token");
    assert_eq!(start(d).len(), 1);
    assert_eq!(d.tokens_available(), 0);
    now
}

#[test]
fn a_request_of_addresses_reclaims_a_spared_token() {
    // The behaviour the names-only path matches.
    let (mut d, now) = warmed();
    let now = fill_with_spared(&mut d, now);
    d.dial(now, 3, [ma("/ip4/16.0.2.3/tcp/4001")], DialOpts::default())
        .expect("the spared dial's token is taken back");
    assert_eq!(d.stats().dials_reclaimed, 1);
}

#[test]
fn a_request_of_names_alone_reclaims_a_spared_token_at_the_call() {
    let (mut d, now) = warmed();
    let now = fill_with_spared(&mut d, now);
    d.dial(
        now,
        3,
        [ma("/dns4/n3.dns.test/tcp/4001")],
        DialOpts::default(),
    )
    .expect("the spared dial's token is taken back, as for an address");
}

#[test]
fn a_request_of_names_alone_reclaims_a_spared_token_when_its_answer_comes() {
    let (mut d, now) = warmed();
    // The request of names first, while both tokens are free: it resolves.
    d.dial(
        now,
        3,
        [ma("/dns4/n3.dns.test/tcp/4001")],
        DialOpts::default(),
    )
    .expect("tokens are free");
    let mut resolve = None;
    while let Some(a) = d.poll_name_action() {
        if let NameAction::Resolve(r) = a {
            resolve = Some(r.resolve);
        }
    }
    let resolve = resolve.expect("an A lookup");
    // Meanwhile the pool fills with a spared dial and a hanging one.
    let now = fill_with_spared(&mut d, now);
    // The answer comes: a spared dial gives its lent token back.
    d.handle_resolved(
        now,
        resolve,
        Ok::<_, &str>(Answer::Ips(vec!["16.0.3.1".parse().expect("ip")])),
    )
    .expect("a live lookup");
    while let Some(e) = d.poll_event() {
        if let Event::Finished {
            result: Err(DialFailed::NoTokens { .. }),
            ..
        } = e
        {
            panic!("refused for lack of tokens while a spared dial held a lent one");
        }
    }
    assert_eq!(start(&mut d).len(), 1, "the resolved address is dialed");
}
