//! R-N1 … R-N4: names resolved by the core, and R-R10: the address filter.
//!
//! The harness plays the name server too: `zone` scripts the answer to each lookup
//! (unscripted ones answer NXDOMAIN at once), and every `Resolve` the core emits is
//! answered, hung or aborted under the invariant monitor (each resolution ends exactly
//! once).

use std::net::IpAddr;

use dialer_core::{
    Answer, Config, DialFailed, DialOpts, DialRefused, Event, FailReason, Multiaddr, Names,
    Priority, RecordKind, ReportError, SkipReason, WaitForTokens,
};

use crate::harness::{
    aborted_lookups, addr, events, lookup_ids, lookups, ms, secs, started, started_at, Lookup,
    Outcome, Sim,
};

const PEER_A: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
const PEER_B: &str = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";

fn ma(s: &str) -> Multiaddr {
    s.parse().expect("multiaddr")
}

fn ips(list: &[&str]) -> Answer {
    Answer::Ips(
        list.iter()
            .map(|s| s.parse::<IpAddr>().expect("ip"))
            .collect(),
    )
}

fn txt(records: &[String]) -> Answer {
    Answer::Txt(records.to_vec())
}

fn names_on() -> Config {
    Config::default().with_names(Some(Names::default()))
}

fn sim() -> Sim {
    Sim::new(names_on())
}

fn attempts(result: &Result<dialer_core::Connected, DialFailed>) -> Vec<(String, String)> {
    let list = match result {
        Ok(c) => c.failed.clone(),
        Err(e) => e.attempts().to_vec(),
    };
    list.into_iter()
        .map(|a| (a.addr.to_string(), a.reason.to_string()))
        .collect()
}

// R-N1: off in the core by default, a name is a plain address for the transport.
#[test]
fn without_names_a_name_is_a_plain_address() {
    let mut sim = Sim::new(Config::default());
    assert_eq!(sim.dialer.config().names, None);
    let name = ma("/dns4/a.test/tcp/1");
    sim.dial(1, std::slice::from_ref(&name)).expect("dial");
    let out = sim.take();
    assert_eq!(started(&out), vec![name]);
    assert!(lookups(&out).is_empty());
    sim.finish();
}

// R-N1, R-N2: the name resolves first, takes no token while it does, and its IPs dial in
// parallel, each carrying the name it came from.
#[test]
fn a_name_resolves_first_and_its_addresses_dial_in_parallel() {
    let mut sim = sim();
    sim.zone(
        "a.test",
        RecordKind::A,
        Lookup::Answer(ms(20), ips(&["127.0.0.1", "127.0.0.2"])),
    );
    sim.script(&ma("/ip4/127.0.0.2/tcp/1"), Outcome::Succeed(ms(5)));
    let caller = sim.dial(1, &[ma("/dns4/a.test/tcp/1")]).expect("dial");
    let out = sim.take();
    assert_eq!(lookups(&out), vec!["A a.test"]);
    assert!(started(&out).is_empty());
    assert_eq!(sim.dialer.tokens_in_use(), 0, "a resolution takes no token");
    assert_eq!(sim.dialer.resolves_in_flight(), 1);
    sim.run_until(ms(20));
    let out = sim.take();
    assert_eq!(
        started_at(&out),
        vec![
            (ms(20), ma("/ip4/127.0.0.1/tcp/1")),
            (ms(20), ma("/ip4/127.0.0.2/tcp/1")),
        ]
    );
    assert!(events(&out).contains(&Event::RequestTokens {
        request: sim.dialer.request_of(caller).expect("live"),
        requested: 2,
        granted: 2,
        overdraft: false,
    }));
    assert!(sim.names.values().all(|n| n.as_deref() == Some("a.test")));
    sim.run();
    let connected = sim.outcome(caller).expect("finished").expect("connected");
    assert_eq!(connected.addr, ma("/ip4/127.0.0.2/tcp/1"));
    assert_eq!(sim.stats().resolved_addresses, 2);
    sim.finish();
}

// R-N2: the case. A name whose first IP hangs connects in one connect time of
// its second, not after the address timeout.
#[test]
fn a_first_ip_that_hangs_costs_nothing() {
    let mut sim = sim();
    sim.zone(
        "a.test",
        RecordKind::A,
        Lookup::Answer(ms(1), ips(&["127.0.0.9", "127.0.0.2"])),
    );
    sim.script(&ma("/ip4/127.0.0.2/tcp/1"), Outcome::Succeed(ms(1)));
    let caller = sim.dial(1, &[ma("/dns4/a.test/tcp/1")]).expect("dial");
    sim.run();
    let connected = sim.outcome(caller).expect("finished").expect("connected");
    assert_eq!(connected.addr, ma("/ip4/127.0.0.2/tcp/1"));
    assert_eq!(connected.connect_time, ms(1));
    assert_eq!(sim.elapsed(), ms(2));
    sim.finish();
}

// R-N2: what resolved is learned per IP: the failed one is deny-listed and not dialed
// again, the good one gains confidence; the name itself is not blamed.
#[test]
fn resolved_addresses_are_learned_per_ip() {
    let mut sim = sim();
    let (bad, good) = (ma("/ip4/127.0.0.1/tcp/1"), ma("/ip4/127.0.0.2/tcp/1"));
    sim.zone(
        "a.test",
        RecordKind::A,
        Lookup::Answer(ms(1), ips(&["127.0.0.1", "127.0.0.2"])),
    );
    sim.script(&bad, Outcome::Fail(ms(1), "refused"));
    sim.script(&good, Outcome::Succeed(ms(3)));
    let name = ma("/dns4/a.test/tcp/1");
    sim.dial(1, std::slice::from_ref(&name)).expect("dial");
    sim.run();
    assert_eq!(sim.dialer.confidence(&good), 2);
    assert_eq!(sim.dialer.confidence(&bad), 0);
    assert!(sim.dialer.is_deny_listed(sim.now(), &bad));
    assert!(!sim.dialer.is_deny_listed(sim.now(), &name));
    sim.take();
    let caller = sim.dial(1, std::slice::from_ref(&name)).expect("again");
    sim.run();
    assert_eq!(started(&sim.take()), vec![good.clone()]);
    assert!(sim.outcome(caller).expect("finished").is_ok());
    sim.finish();
}

// R-N2: the caller's literal addresses dial at once, without waiting for its names.
#[test]
fn literal_addresses_do_not_wait_for_names() {
    let mut sim = sim();
    sim.zone(
        "slow.test",
        RecordKind::A,
        Lookup::Answer(ms(500), ips(&["127.0.0.5"])),
    );
    sim.script(&addr(1), Outcome::Fail(ms(100), "refused"));
    sim.script(&ma("/ip4/127.0.0.5/tcp/2"), Outcome::Succeed(ms(1)));
    let caller = sim
        .dial(1, &[ma("/dns4/slow.test/tcp/2"), addr(1)])
        .expect("dial");
    let out = sim.take();
    assert_eq!(started_at(&out), vec![(ms(0), addr(1))]);
    // The literal dial failed at 100 ms; its token went back while the name resolved.
    sim.run_until(ms(200));
    assert_eq!(sim.dialer.tokens_in_use(), 0);
    assert!(sim
        .dialer
        .is_in_flight(sim.dialer.request_of(caller).expect("live")));
    sim.run();
    let connected = sim.outcome(caller).expect("finished").expect("connected");
    assert_eq!(connected.addr, ma("/ip4/127.0.0.5/tcp/2"));
    assert_eq!(sim.elapsed(), ms(501));
    assert_eq!(connected.failed.len(), 1);
    sim.finish();
}

// R-R1a, R-N2 (RFC 8305 section 3): `/dns` asks for AAAA and A; an IPv4 answer that
// comes first waits up to the resolution delay for the IPv6 one, and IPv6 dials first.
#[test]
fn an_ipv4_answer_waits_briefly_for_its_ipv6_sibling() {
    let mut sim = Sim::new(names_on().with_max_per_peer_dials(1));
    sim.zone(
        "a.test",
        RecordKind::A,
        Lookup::Answer(ms(10), ips(&["127.0.0.1"])),
    );
    sim.zone(
        "a.test",
        RecordKind::Aaaa,
        Lookup::Answer(ms(30), ips(&["::1"])),
    );
    sim.dial(1, &[ma("/dns/a.test/tcp/1")]).expect("dial");
    assert_eq!(lookups(&sim.take()), vec!["AAAA a.test", "A a.test"]);
    sim.run_until(ms(29));
    assert!(started(&sim.take()).is_empty(), "A waits for AAAA");
    sim.run_until(ms(30));
    assert_eq!(
        started_at(&sim.take()),
        vec![(ms(30), ma("/ip6/::1/tcp/1"))],
        "both answers in, IPv6 first"
    );
    sim.finish();

    // An AAAA answer that does not come in time: A dials at the end of the delay.
    let mut sim = Sim::new(names_on());
    sim.zone(
        "b.test",
        RecordKind::A,
        Lookup::Answer(ms(10), ips(&["127.0.0.1"])),
    );
    sim.zone("b.test", RecordKind::Aaaa, Lookup::Hang);
    sim.dial(1, &[ma("/dns/b.test/tcp/1")]).expect("dial");
    sim.run_until(ms(100));
    assert_eq!(
        started_at(&sim.take()),
        vec![(ms(60), ma("/ip4/127.0.0.1/tcp/1"))]
    );
    sim.finish();
}

// R-N1, R-N4: a lookup that never answers is cut at address_timeout (and aborted), and
// the name fails with its own reason; the name is deny-listed like a failed address.
#[test]
fn a_lookup_that_hangs_ends_at_the_address_timeout() {
    let mut sim = Sim::new(names_on().with_address_timeout(secs(2)));
    sim.zone("dark.test", RecordKind::A, Lookup::Hang);
    let name = ma("/dns4/dark.test/tcp/1");
    let caller = sim.dial(1, std::slice::from_ref(&name)).expect("dial");
    let resolve = lookup_ids(&sim.take())[0];
    sim.run();
    assert_eq!(sim.elapsed(), secs(2));
    assert_eq!(aborted_lookups(&sim.take()), vec![resolve]);
    let result = sim.outcome(caller).expect("finished");
    assert!(matches!(result, Err(DialFailed::AllFailed { .. })));
    assert_eq!(
        result.expect_err("failed").attempts()[0].reason,
        FailReason::ResolveTimeout
    );
    assert_eq!(sim.stats().resolves_timed_out, 1);
    assert!(sim.dialer.is_deny_listed(sim.now(), &name));
    assert!(matches!(
        sim.dial(1, std::slice::from_ref(&name)),
        Err(DialRefused::BackedOff { .. })
    ));
    sim.finish();
}

// R-N4: NXDOMAIN ends the name with the resolver's reason, classed `Resolve`.
#[test]
fn nxdomain_ends_the_name_with_the_resolvers_reason() {
    let mut sim = sim();
    let caller = sim
        .dial(1, &[ma("/dns4/nowhere.test/tcp/1")])
        .expect("dial");
    sim.run();
    let err = sim.outcome(caller).expect("finished").expect_err("failed");
    let attempt = &err.attempts()[0];
    assert_eq!(attempt.addr, ma("/dns4/nowhere.test/tcp/1"));
    assert!(matches!(attempt.reason, FailReason::Resolve(_)));
    assert_eq!(attempt.reason.class(), dialer_core::ErrorClass::Resolve);
    assert!(err.to_string().contains("NXDOMAIN"), "{err}");
    assert_eq!(sim.stats().resolves_failed, 1);
    sim.finish();
}

// R-N4: an answer with nothing usable, and TXT records that are all malformed, end the
// name with reasons of their own.
#[test]
fn empty_answers_and_malformed_records_have_reasons() {
    let mut sim = sim();
    sim.zone(
        "empty.test",
        RecordKind::A,
        Lookup::Answer(ms(1), ips(&["::1"])),
    );
    sim.zone(
        "_dnsaddr.bad.test",
        RecordKind::Txt,
        Lookup::Answer(
            ms(1),
            txt(&["dnsaddr=/ip4/999.1.1.1/tcp/1".into(), "v=spf1".into()]),
        ),
    );
    let caller = sim
        .dial(1, &[ma("/dns4/empty.test/tcp/1"), ma("/dnsaddr/bad.test")])
        .expect("dial");
    sim.run();
    let reasons = attempts(&sim.outcome(caller).expect("finished"));
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].1.starts_with("resolved to nothing dialable"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].1.starts_with("malformed dnsaddr record"),
        "{reasons:?}"
    );
    sim.finish();
}

// R-N3: /dnsaddr follows TXT records, names again included, and the chain ends in /dns4.
#[test]
fn dnsaddr_follows_a_chain_to_a_dns4_name() {
    let mut sim = sim();
    sim.zone(
        "_dnsaddr.boot.test",
        RecordKind::Txt,
        Lookup::Answer(
            ms(5),
            txt(&[format!("dnsaddr=/dnsaddr/eu.boot.test/p2p/{PEER_A}")]),
        ),
    );
    sim.zone(
        "_dnsaddr.eu.boot.test",
        RecordKind::Txt,
        Lookup::Answer(
            ms(5),
            txt(&[format!("dnsaddr=/dns4/node.test/tcp/4001/p2p/{PEER_A}")]),
        ),
    );
    sim.zone(
        "node.test",
        RecordKind::A,
        Lookup::Answer(ms(5), ips(&["127.0.0.7"])),
    );
    let target = ma(&format!("/ip4/127.0.0.7/tcp/4001/p2p/{PEER_A}"));
    sim.script(&target, Outcome::Succeed(ms(1)));
    let caller = sim
        .dial(1, &[ma(&format!("/dnsaddr/boot.test/p2p/{PEER_A}"))])
        .expect("dial");
    sim.run();
    assert_eq!(
        lookups(sim.log()),
        vec![
            "TXT _dnsaddr.boot.test",
            "TXT _dnsaddr.eu.boot.test",
            "A node.test"
        ]
    );
    let connected = sim.outcome(caller).expect("finished").expect("connected");
    assert_eq!(connected.addr, target);
    assert_eq!(sim.elapsed(), ms(16));
    let dial = *sim.names.keys().next().expect("one dial");
    assert_eq!(sim.names[&dial].as_deref(), Some("node.test"));
    sim.finish();
}

// R-N3, R-N4: a dnsaddr loop ends at the depth limit with its own reason, no hang.
#[test]
fn a_dnsaddr_loop_ends_at_the_depth_limit() {
    let mut sim = sim();
    sim.zone(
        "_dnsaddr.loop.test",
        RecordKind::Txt,
        Lookup::Answer(ms(1), txt(&["dnsaddr=/dnsaddr/loop.test".into()])),
    );
    let caller = sim.dial(1, &[ma("/dnsaddr/loop.test")]).expect("dial");
    sim.run();
    // Depth 0 to 4 resolve; the result at depth 5 is one too deep.
    assert_eq!(lookups(sim.log()).len(), 5);
    let err = sim.outcome(caller).expect("finished").expect_err("failed");
    assert_eq!(
        err.attempts()
            .iter()
            .map(|a| a.reason.clone())
            .collect::<Vec<_>>(),
        vec![FailReason::TooDeep { max_depth: 4 }]
    );
    assert_eq!(sim.elapsed(), ms(5));
    sim.finish();
}

// R-N3: with /p2p/<id>, only records for that peer are kept.
#[test]
fn dnsaddr_keeps_only_its_peers_records() {
    let mut sim = sim();
    sim.zone(
        "_dnsaddr.boot.test",
        RecordKind::Txt,
        Lookup::Answer(
            ms(1),
            txt(&[
                format!("dnsaddr=/ip4/127.0.0.1/tcp/1/p2p/{PEER_B}"),
                format!("dnsaddr=/ip4/127.0.0.2/tcp/1/p2p/{PEER_A}"),
                "dnsaddr=/ip4/127.0.0.3/tcp/1".into(),
            ]),
        ),
    );
    sim.dial(1, &[ma(&format!("/dnsaddr/boot.test/p2p/{PEER_A}"))])
        .expect("dial");
    sim.run_until(ms(1));
    assert_eq!(
        started(&sim.take()),
        vec![ma(&format!("/ip4/127.0.0.2/tcp/1/p2p/{PEER_A}"))]
    );
    assert_eq!(sim.stats().addresses_skipped, 2);
    sim.finish();
}

// R-N3: a request keeps at most `max_resolved` (100) results; the rest are counted.
#[test]
fn a_request_keeps_at_most_100_resolved_addresses() {
    let mut sim = sim();
    let records: Vec<String> = (0..150)
        .map(|i| format!("dnsaddr=/ip4/127.0.1.{}/tcp/{}", i % 250, 1000 + i))
        .collect();
    sim.zone(
        "_dnsaddr.many.test",
        RecordKind::Txt,
        Lookup::Answer(ms(1), txt(&records)),
    );
    let caller = sim.dial(1, &[ma("/dnsaddr/many.test")]).expect("dial");
    sim.run();
    assert_eq!(sim.stats().resolved_addresses, 100);
    assert_eq!(sim.stats().resolved_dropped, 50);
    let err = sim
        .outcome(caller)
        .expect("finished")
        .expect_err("all hang");
    assert!(matches!(
        err,
        DialFailed::Timeout { .. } | DialFailed::AllFailed { .. }
    ));
    sim.finish();
}

// R-N1: each resolution ends exactly once: a second answer, one after the request ended
// (aborted), or one for an id never issued is refused and changes nothing.
#[test]
fn late_twice_and_unknown_answers_are_refused() {
    let mut sim = sim();
    sim.zone("hang.test", RecordKind::A, Lookup::Hang);
    sim.zone("b.test", RecordKind::A, Lookup::Hang);
    sim.script(&addr(1), Outcome::Succeed(ms(5)));
    let caller = sim
        .dial(1, &[ma("/dns4/hang.test/tcp/1"), addr(1)])
        .expect("dial");
    let first = lookup_ids(&sim.take())[0];
    sim.run();
    assert!(sim.outcome(caller).expect("finished").is_ok());
    assert_eq!(
        aborted_lookups(&sim.take()),
        vec![first],
        "the winner aborts it"
    );
    assert_eq!(
        sim.answer(first, Ok(ips(&["127.0.0.1"]))),
        Err(ReportError::UnknownResolve(first))
    );
    sim.dial(2, &[ma("/dns4/b.test/tcp/1")]).expect("dial");
    let second = lookup_ids(&sim.take())[0];
    assert!(sim.answer(second, Ok(ips(&["127.0.0.3"]))).is_ok());
    assert_eq!(
        sim.answer(second, Ok(ips(&["127.0.0.3"]))),
        Err(ReportError::UnknownResolve(second))
    );
    let never = dialer_core::ResolveId::from_raw(1 << 32);
    assert_eq!(
        sim.answer(never, Err("nope")),
        Err(ReportError::UnknownResolve(never))
    );
    assert_eq!(sim.stats().reports_ignored, 3);
    sim.finish();
}

// R-R7, R-R6: cancelling or timing out a request aborts its lookups; a name still
// resolving at dial_timeout is an attempt of its own.
#[test]
fn cancel_and_request_timeout_abort_lookups() {
    let mut sim = sim();
    sim.zone("hang.test", RecordKind::A, Lookup::Hang);
    let caller = sim.dial(1, &[ma("/dns4/hang.test/tcp/1")]).expect("dial");
    let resolve = lookup_ids(&sim.take())[0];
    sim.cancel(caller).expect("cancel");
    assert_eq!(aborted_lookups(&sim.take()), vec![resolve]);
    assert_eq!(sim.dialer.resolves_in_flight(), 0);
    sim.finish();

    let mut sim = Sim::new(
        names_on()
            .with_dial_timeout(secs(1))
            .with_address_timeout(secs(5)),
    );
    sim.zone("hang.test", RecordKind::A, Lookup::Hang);
    let caller = sim.dial(1, &[ma("/dns4/hang.test/tcp/1")]).expect("dial");
    sim.run();
    let err = sim.outcome(caller).expect("finished").expect_err("timeout");
    assert!(matches!(err, DialFailed::Timeout { .. }));
    assert_eq!(err.attempts()[0].reason, FailReason::RequestTimeout);
    assert_eq!(sim.elapsed(), secs(1));
    sim.finish();
}

// R-R8: a joining caller's names are resolved and merged into the request.
#[test]
fn a_joining_callers_names_are_resolved_too() {
    let mut sim = sim();
    sim.zone(
        "b.test",
        RecordKind::A,
        Lookup::Answer(ms(1), ips(&["127.0.0.2"])),
    );
    sim.script(&ma("/ip4/127.0.0.2/tcp/1"), Outcome::Succeed(ms(1)));
    let first = sim.dial(1, &[addr(9)]).expect("first");
    let second = sim.dial(1, &[ma("/dns4/b.test/tcp/1")]).expect("joins");
    sim.run();
    for caller in [first, second] {
        let connected = sim.outcome(caller).expect("finished").expect("connected");
        assert_eq!(connected.addr, ma("/ip4/127.0.0.2/tcp/1"));
    }
    sim.finish();
}

// R-T4, R-P1, R-Q1 for names: a request of names alone takes its tokens when its names
// bring addresses. Refused at once if the pool is empty when it is made (fail fast);
// if the pool is empty when the answer comes, it fails with NoTokens, a high-priority
// one proceeds as an overdraft, and with a wait queue it waits.
#[test]
fn a_request_of_names_takes_tokens_when_its_addresses_come() {
    let one_token = || names_on().with_max_tokens(1).with_max_per_peer_dials(1);
    let mut sim = Sim::new(one_token());
    sim.dial(9, &[addr(9)]).expect("takes the only token");
    assert_eq!(
        sim.dial(1, &[ma("/dns4/a.test/tcp/1")]),
        Err(DialRefused::NoTokens)
    );
    assert!(lookups(&sim.take()).is_empty(), "no lookup wasted");
    sim.finish();

    for (priority, wait) in [
        (Priority::Normal, None),
        (Priority::High, None),
        (Priority::Normal, Some(WaitForTokens::default())),
    ] {
        let mut sim = Sim::new(one_token().with_wait_for_tokens(wait));
        sim.zone(
            "a.test",
            RecordKind::A,
            Lookup::Answer(ms(10), ips(&["127.0.0.2"])),
        );
        sim.script(&addr(9), Outcome::Fail(ms(50), "refused"));
        sim.script(&ma("/ip4/127.0.0.2/tcp/1"), Outcome::Succeed(ms(1)));
        let caller = sim
            .dial_with(
                1,
                &[ma("/dns4/a.test/tcp/1")],
                DialOpts::default().with_priority(priority),
            )
            .expect("starts resolving");
        sim.dial(9, &[addr(9)]).expect("takes the only token");
        sim.run();
        let result = sim.outcome(caller).expect("finished");
        match (priority, wait) {
            (Priority::Normal, None) => {
                assert!(
                    matches!(result, Err(DialFailed::NoTokens { .. })),
                    "{result:?}"
                );
                assert_eq!(sim.elapsed(), ms(50));
            }
            (Priority::High, _) => {
                assert_eq!(result.expect("overdraft").connect_time, ms(1));
                assert_eq!(sim.stats().overdraft_requests, 1);
            }
            _ => {
                // It waited from 10 ms until the token came back at 50 ms.
                assert!(result.is_ok(), "{result:?}");
                assert_eq!(sim.stats().requests_queued, 1);
                assert_eq!(sim.elapsed(), ms(51));
            }
        }
        sim.finish();
    }
}

// R-N1, R-R8, R-T4, R-P1, R-Q1: a caller that joins a request of names alone, which holds
// no token yet, brings addresses that take tokens as the names' answers would: at once
// if the pool has one, else NoTokens, an overdraft (high priority) or a wait. They are
// never left idle until dial_timeout.
#[test]
fn a_caller_joining_a_request_of_names_brings_addresses_that_take_tokens() {
    let one_token = || names_on().with_max_tokens(1).with_max_per_peer_dials(1);
    // A free token: the joiner's address dials at once, while the name still resolves.
    let mut sim = Sim::new(one_token());
    sim.zone("a.test", RecordKind::A, Lookup::Hang);
    sim.script(&addr(2), Outcome::Succeed(ms(3)));
    let first = sim.dial(1, &[ma("/dns4/a.test/tcp/1")]).expect("resolves");
    sim.run_until(ms(10));
    let joiner = sim.dial(1, &[addr(2)]).expect("joins");
    assert_eq!(started(&sim.take()), vec![addr(2)], "dials at once");
    sim.run();
    for caller in [first, joiner] {
        assert_eq!(
            sim.outcome(caller).expect("finished").expect("ok").addr,
            addr(2)
        );
    }
    assert_eq!(sim.elapsed(), ms(13));
    assert_eq!(sim.dialer.resolves_in_flight(), 0, "the lookup was aborted");
    sim.finish();

    // An empty pool: the seed's fail-fast, an overdraft, or a wait for the token.
    for (priority, wait) in [
        (Priority::Normal, None),
        (Priority::High, None),
        (Priority::Normal, Some(WaitForTokens::default())),
    ] {
        let mut sim = Sim::new(one_token().with_wait_for_tokens(wait));
        sim.zone("a.test", RecordKind::A, Lookup::Hang);
        sim.script(&addr(9), Outcome::Fail(ms(50), "refused"));
        sim.script(&addr(2), Outcome::Succeed(ms(1)));
        let first = sim.dial(1, &[ma("/dns4/a.test/tcp/1")]).expect("resolves");
        sim.dial(9, &[addr(9)]).expect("takes the only token");
        sim.run_until(ms(10));
        let joiner = sim
            .dial_with(1, &[addr(2)], DialOpts::default().with_priority(priority))
            .expect("joins");
        sim.run();
        for caller in [first, joiner] {
            let result = sim.outcome(caller).expect("finished");
            match (priority, wait) {
                (Priority::Normal, None) => {
                    assert!(
                        matches!(result, Err(DialFailed::NoTokens { .. })),
                        "{result:?}"
                    );
                }
                (Priority::High, _) => {
                    assert_eq!(result.expect("overdraft").addr, addr(2));
                }
                _ => {
                    assert_eq!(result.expect("served").addr, addr(2));
                }
            }
        }
        match (priority, wait) {
            // Failed at the join, not at dial_timeout (30 s); the other peer's dial ran on.
            (Priority::Normal, None) => assert_eq!(sim.elapsed(), ms(50)),
            (Priority::High, _) => {
                assert_eq!(sim.stats().overdraft_requests, 1);
                assert_eq!(sim.elapsed(), ms(50));
            }
            // Served when the other peer's token came back at 50 ms.
            _ => {
                assert_eq!(sim.stats().requests_queued, 1);
                assert_eq!(sim.elapsed(), ms(51));
            }
        }
        sim.finish();
    }
}

// R-R10: unspecified, multicast and broadcast addresses are never dialed, whether the
// caller passes them or a name resolves to them.
#[test]
fn unspecified_multicast_and_broadcast_are_never_dialed() {
    let mut sim = sim();
    let bad = [
        "/ip4/0.0.0.0/tcp/1",
        "/ip6/::/tcp/1",
        "/ip4/224.0.0.1/tcp/1",
        "/ip4/255.255.255.255/tcp/1",
    ];
    let refused = sim.dial(1, &bad.map(ma)).expect_err("nothing dialable");
    let DialRefused::NoDialableAddresses { skipped } = refused else {
        panic!("{refused:?}");
    };
    assert!(skipped.iter().all(|s| s.reason == SkipReason::Unroutable));
    sim.zone(
        "zero.test",
        RecordKind::A,
        Lookup::Answer(ms(1), ips(&["0.0.0.0", "239.0.0.1"])),
    );
    let caller = sim.dial(1, &[ma("/dns4/zero.test/tcp/1")]).expect("dial");
    sim.run();
    assert!(started(sim.log()).is_empty());
    let err = sim.outcome(caller).expect("finished").expect_err("nothing");
    let FailReason::NothingResolved { skipped } = &err.attempts()[0].reason else {
        panic!("{err:?}");
    };
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().all(|s| s.reason == SkipReason::Unroutable));
    assert_eq!(sim.stats().addresses_filtered, 6);
    sim.finish();
}

// R-R10: the filter sees every candidate, names' results included: a name that resolves
// to an address the filter refuses (DNS rebinding into a private range) is never
// dialed, and an address whose /p2p/<id> names another peer can be refused.
#[test]
fn the_address_filter_refuses_resolved_addresses_and_other_peers() {
    let mut dialer = dialer_core::Dialer::<u32>::new(names_on()).expect("config");
    dialer.set_address_filter(|peer, addr| {
        let s = addr.to_string();
        // A "public" peer 1 may not be dialed in 10.0.0.0/8; peer 2 is PEER_A.
        let private_for_public = *peer == 1 && s.starts_with("/ip4/10.");
        let another_peer = *peer == 2 && s.contains("/p2p/") && !s.ends_with(PEER_A);
        !(private_for_public || another_peer)
    });
    let mut sim = Sim::with_dialer(dialer);
    sim.zone(
        "rebind.test",
        RecordKind::A,
        Lookup::Answer(ms(1), ips(&["10.0.0.1"])),
    );
    let caller = sim.dial(1, &[ma("/dns4/rebind.test/tcp/1")]).expect("dial");
    sim.run();
    assert!(started(sim.log()).is_empty(), "never dialed");
    let err = sim.outcome(caller).expect("finished").expect_err("refused");
    let FailReason::NothingResolved { skipped } = &err.attempts()[0].reason else {
        panic!("{err:?}");
    };
    assert_eq!(skipped[0].reason, SkipReason::Filtered);

    let other = ma(&format!("/ip4/127.0.0.1/tcp/1/p2p/{PEER_B}"));
    let own = ma(&format!("/ip4/127.0.0.1/tcp/2/p2p/{PEER_A}"));
    sim.take();
    sim.dial(2, &[other, own.clone()]).expect("dial");
    assert_eq!(started(&sim.take()), vec![own]);
    assert!(sim.stats().addresses_filtered >= 2);
    sim.finish();
}
