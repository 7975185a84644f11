//! The names suite (R-N1 … R-N4, R-R10): the adapters resolve `/dns*` and `/dnsaddr`
//! addresses through the core, with their default resolver (hickory-resolver) pointed at a
//! real DNS server on loopback (`dialer_testing::dns`). Every scenario is written once,
//! generic over [`Harness`], and runs on tokio, async-std and smol, as the conformance
//! suite does.
//!
//! Loopback only: every record points at 127.0.0.0/8 or ::1, and the resolver asks only
//! the test's own server (`localhost` is answered by the driver and asks nobody). Waits are
//! on real events (a dial's answer, the recording transport's gauges); timers appear only
//! as the dialer's own timeouts under test and as upper bounds.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dialer_driver::{
    Config, DialFailed, Dialed, Dialer, Error, ErrorClass, FailReason, Multiaddr, Names,
    SkipReason, Stats, Transport,
};
use dialer_testing::dns::{DnsServer, Zone};
use dialer_testing::{Listener, OnAccept, Refusing, Tarpit, GREETING};
use dialer_tests::doubles::{ReadByte, Recording};
use dialer_tests::harness::{within, Harness};

/// Upper bound on any single wait.
const LIMIT: Duration = Duration::from_secs(20);

/// Two peer ids, for `/p2p/` suffixes.
const PEER_A: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
const PEER_B: &str = "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC";

fn config() -> Config {
    Config::default()
        .with_address_timeout(Duration::from_secs(5))
        .with_dial_timeout(Duration::from_secs(10))
}

fn ma(s: &str) -> Multiaddr {
    s.parse().expect("multiaddr")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn server(zone: Zone) -> DnsServer {
    let server = DnsServer::start(zone).expect("DNS server on loopback");
    assert!(server.addr().ip().is_loopback());
    server
}

/// A dialer on `H` whose resolver asks only `server`.
fn dialer<H: Harness, T: Transport>(
    config: Config,
    transport: T,
    server: &DnsServer,
) -> Dialer<u32, T, H::Runtime> {
    Dialer::builder(config, transport, H::Runtime::default())
        .with_resolver(H::name_server(server.addr()))
        .build()
        .unwrap_or_else(|e| panic!("{}: config refused: {e}", H::NAME))
}

async fn stats<H: Harness, T: Transport>(dialer: &Dialer<u32, T, H::Runtime>) -> Stats {
    dialer.stats().await.expect("driver running")
}

fn failed<C>(result: Result<Dialed<C>, Error>) -> DialFailed {
    match result {
        Err(Error::Failed(e)) => e,
        Err(e) => panic!("expected a failed request, got {e}"),
        Ok(dialed) => panic!("expected a failed request, connected to {}", dialed.addr),
    }
}

/// `make(port)` on a port `first` listens on: two peers on two loopback addresses and one
/// port, so that one name (`/dns4/<name>/tcp/<port>`) with two `A` records reaches both.
/// Tries again with another port if the second address has it taken.
fn same_port<A, B>(
    first: impl Fn() -> io::Result<(A, u16)>,
    second: impl Fn(u16) -> io::Result<B>,
) -> (A, B, u16) {
    let mut last = None;
    for _ in 0..16 {
        let (a, port) = first().expect("first peer");
        match second(port) {
            Ok(b) => return (a, b, port),
            Err(e) => last = Some(e),
        }
    }
    panic!("no port free on both loopback addresses: {last:?}");
}

// R-N1, R-N2: a name whose first A record is a tarpit and second a good listener connects
// in about one loopback connect: each resolved IP is a dial of its own, in parallel, not a
// connect that tries the IPs in turn inside one dial (which hung for address_timeout).
async fn a_tarpit_first_answer_costs_no_address_timeout<H: Harness>() {
    let (good, pit, port) = same_port(
        || {
            let good = Listener::bind(ip("127.0.0.1"), OnAccept::Hold)?;
            let port = good.port();
            Ok((good, port))
        },
        |port| Tarpit::bind_to(SocketAddr::new(ip("127.0.0.2"), port)),
    );
    let dns = server(
        Zone::new()
            .ip("pit-first.test", pit.addr().ip())
            .ip("pit-first.test", good.addr().ip()),
    );
    let (transport, log) = Recording::new(H::tcp());
    let dialer = dialer::<H, _>(config(), transport, &dns);

    let start = Instant::now();
    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [ma(&format!("/dns4/pit-first.test/tcp/{port}"))]),
    )
    .await
    .expect("connected");
    let elapsed = start.elapsed();
    println!("{}: tarpit-first name connected in {elapsed:?}", H::NAME);
    assert_eq!(dialed.addr, good.multiaddr());
    assert!(
        elapsed < Duration::from_secs(1),
        "{}: took {elapsed:?}: waited for the tarpit",
        H::NAME
    );
    assert_eq!(
        dialed.connection.read_byte().await.expect("greeting"),
        GREETING
    );
    let mut dialed_addrs = log.dialed();
    dialed_addrs.sort();
    assert_eq!(dialed_addrs, [good.multiaddr(), pit.multiaddr()]);
    assert!(log
        .names()
        .iter()
        .all(|n| n.as_deref() == Some("pit-first.test")));
    // The tarpit's dial was aborted and its socket closed.
    within::<H, _>(
        LIMIT,
        "the tarpit dial dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_eq!(pit.pending_connects().expect("/proc/net/tcp"), 0);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.resolves_succeeded, s.resolved_addresses), (1, 2));
    assert_eq!((s.dials_started, s.dials_aborted), (2, 1));
    assert_eq!(dns.queries_for("pit-first.test"), 1);
}

// R-N1, R-N2, R-R1a: `/dns` asks for AAAA and A; both answers are dialed, IPv6 first. The
// IPv6 port refuses, so the request goes on to the IPv4 answer (which may come after the
// refusal: the request then waits for its name, holding no token).
async fn a_name_with_ipv6_and_ipv4_answers_dials_both_families<H: Harness>() {
    let Ok(v6) = Refusing::bind(ip("::1")) else {
        println!("{}: skipped: ::1 is unavailable on this machine", H::NAME);
        return;
    };
    let port = v6.addr().port();
    let Ok(v4) = Listener::bind_to(SocketAddr::new(ip("127.0.0.1"), port), OnAccept::Hold) else {
        println!("{}: skipped: port {port} is taken on 127.0.0.1", H::NAME);
        return;
    };
    let dns = server(
        Zone::new()
            .ip("dual.test", ip("127.0.0.1"))
            .ip("dual.test", ip("::1")),
    );
    let (transport, log) = Recording::new(H::tcp());
    // RFC 8305's resolution delay holds the A answer for the AAAA one; long here, so that
    // the order does not depend on how fast a loaded machine answers (the AAAA answer ends
    // the hold anyway).
    let mut names = Names::default();
    names.resolution_delay = Some(Duration::from_secs(5));
    let mut config = config();
    config.names = Some(names);
    let dialer = dialer::<H, _>(config, transport, &dns);

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [ma(&format!("/dns/dual.test/tcp/{port}"))]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, v4.multiaddr());
    assert_eq!(log.dialed(), [v6.multiaddr(), v4.multiaddr()], "IPv6 first");
    // With both answers in, both dial at once and the IPv4 one may win before the IPv6
    // refusal comes back (the IPv6 dial is then aborted, not failed).
    assert!(dialed.failed.len() <= 1, "{:?}", dialed.failed);
    assert!(dialed
        .failed
        .iter()
        .all(|a| a.addr == v6.multiaddr() && a.reason.class() == ErrorClass::Refused));
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.resolves_started, s.resolves_succeeded), (2, 2));
    assert_eq!(s.resolved_addresses, 2);
    let mut kinds: Vec<String> = dns.queries().into_iter().map(|q| q.kind).collect();
    kinds.sort();
    assert_eq!(kinds, ["A", "AAAA"]);
}

// R-N3: `/dnsaddr` follows a two-level chain of TXT records that ends in `/dns4`.
async fn dnsaddr_follows_a_two_level_chain_to_dns4<H: Harness>() {
    let good = Listener::accepting().expect("listener");
    let dns = server(
        Zone::new()
            .dnsaddr("boot.test", "/dnsaddr/peers.boot.test")
            .dnsaddr(
                "peers.boot.test",
                format!("/dns4/node.boot.test/tcp/{}", good.port()),
            )
            .ip("node.boot.test", ip("127.0.0.1")),
    );
    let (transport, log) = Recording::new(H::tcp());
    let dialer = dialer::<H, _>(config(), transport, &dns);

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [ma("/dnsaddr/boot.test")]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(log.dialed(), [good.multiaddr()]);
    assert_eq!(log.names(), [Some("node.boot.test".to_owned())]);
    for name in [
        "_dnsaddr.boot.test",
        "_dnsaddr.peers.boot.test",
        "node.boot.test",
    ] {
        assert_eq!(dns.queries_for(name), 1, "{name}");
    }
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.resolves_started, s.resolves_succeeded), (3, 3));
}

// R-N3, R-N4: a dnsaddr loop ends with a depth error, quickly, and nothing is dialed.
async fn a_dnsaddr_loop_fails_with_a_depth_error<H: Harness>() {
    let dns = server(
        Zone::new()
            .dnsaddr("loop.test", "/dnsaddr/loop2.test")
            .dnsaddr("loop2.test", "/dnsaddr/loop.test"),
    );
    let (transport, log) = Recording::new(H::tcp());
    let dialer = dialer::<H, _>(config(), transport, &dns);

    let start = Instant::now();
    let failed = failed(
        within::<H, _>(
            LIMIT,
            "the dial",
            dialer.dial(1, [ma("/dnsaddr/loop.test")]),
        )
        .await,
    );
    let elapsed = start.elapsed();
    assert!(
        failed
            .attempts()
            .iter()
            .any(|a| matches!(a.reason, FailReason::TooDeep { max_depth: 4 })),
        "{}: {failed}",
        H::NAME
    );
    assert!(elapsed < config().address_timeout, "{elapsed:?}");
    assert!(log.dialed().is_empty());
    let s = stats::<H, _>(&dialer).await;
    // The caller's name and four levels of the loop: five lookups, then the depth limit.
    assert_eq!(s.resolves_started, 5);
    assert_eq!((s.resolves_in_flight, s.tokens_in_use), (0, 0));
}

// R-N3: 150 dnsaddr records: the first 100 are kept, the other 50 dropped and counted.
async fn dnsaddr_results_are_capped_at_100<H: Harness>() {
    let ports: Vec<Refusing> = (0..150)
        .map(|_| Refusing::new().expect("refusing port"))
        .collect();
    let zone = ports.iter().fold(Zone::new(), |zone, p| {
        zone.dnsaddr("many.test", p.multiaddr())
    });
    let dns = server(zone);
    let (transport, log) = Recording::new(H::tcp());
    let dialer = dialer::<H, _>(config(), transport, &dns);

    let failed = failed(
        within::<H, _>(
            LIMIT,
            "the dial",
            dialer.dial(1, [ma("/dnsaddr/many.test")]),
        )
        .await,
    );
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(
        (s.resolved_addresses, s.resolved_dropped),
        (100, 50),
        "{}",
        H::NAME
    );
    assert_eq!(s.dials_started, 100);
    assert_eq!(log.dialed().len(), 100);
    assert_eq!(failed.attempts().len(), 100, "{failed}");
    assert!(failed
        .attempts()
        .iter()
        .all(|a| a.reason.class() == ErrorClass::Refused));
    // 150 records of some 40 bytes do not fit a UDP answer: the resolver asked again over
    // TCP, as with any real server.
    assert!(dns.queries().iter().any(|q| q.tcp));
    assert_eq!(s.tokens_in_use, 0);
    // Nothing leaks: once the dialer is gone, so is its resolver's connection.
    drop(dialer);
    let open = blocking::<H, _>(move || dns.wait_for_tcp_closed(LIMIT)).await;
    assert_eq!(
        open,
        0,
        "{}: the resolver's TCP connection stayed open",
        H::NAME
    );
}

/// Runs a blocking wait on a thread of its own, so that the runtime under test keeps
/// running meanwhile (a current-thread executor would otherwise stall).
async fn blocking<H: Harness, T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    within::<H, _>(LIMIT * 2, "a blocking wait", rx)
        .await
        .expect("the waiting thread answers")
}

// R-N3: for `/dnsaddr/<name>/p2p/<id>`, records of another peer are dropped.
async fn records_of_another_peer_are_dropped<H: Harness>() {
    let ours = Listener::accepting().expect("listener");
    let theirs = Listener::accepting().expect("listener");
    let dns = server(
        Zone::new()
            .dnsaddr("peers.test", format!("{}/p2p/{PEER_B}", theirs.multiaddr()))
            .dnsaddr("peers.test", format!("{}/p2p/{PEER_A}", ours.multiaddr())),
    );
    let (transport, log) = Recording::new(H::tcp());
    let dialer = dialer::<H, _>(config(), transport, &dns);

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [ma(&format!("/dnsaddr/peers.test/p2p/{PEER_A}"))]),
    )
    .await
    .expect("connected");
    let want = ma(&format!("{}/p2p/{PEER_A}", ours.multiaddr()));
    assert_eq!(dialed.addr, want);
    assert_eq!(log.dialed(), [want]);
    assert_eq!(ours.wait_for_accepts(1, LIMIT), 1);
    assert_eq!(theirs.accepts(), 0, "another peer's address was dialed");
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(s.resolved_addresses, 1);
}

// R-N4: NXDOMAIN and a server that never answers each end with a clear reason, in bounded
// time, and nothing is dialed.
async fn nxdomain_and_a_silent_server_have_clear_reasons<H: Harness>() {
    let dns = server(Zone::new().silent("down.test"));
    let (transport, log) = Recording::new(H::tcp());
    let address_timeout = Duration::from_millis(500);
    let dialer = dialer::<H, _>(
        config().with_address_timeout(address_timeout),
        transport,
        &dns,
    );

    let start = Instant::now();
    let nx = failed(
        within::<H, _>(
            LIMIT,
            "the NXDOMAIN dial",
            dialer.dial(1, [ma("/dns4/nowhere.test/tcp/1")]),
        )
        .await,
    );
    let elapsed = start.elapsed();
    let reason = &nx.attempts()[0].reason;
    assert!(matches!(reason, FailReason::Resolve(_)), "{reason}");
    assert_eq!(reason.class(), ErrorClass::Resolve);
    assert!(reason.to_string().contains("NXDOMAIN"), "{reason}");
    assert!(elapsed < address_timeout, "{}: {elapsed:?}", H::NAME);

    let start = Instant::now();
    let silent = failed(
        within::<H, _>(
            LIMIT,
            "the silent dial",
            dialer.dial(2, [ma("/dns4/down.test/tcp/1")]),
        )
        .await,
    );
    let elapsed = start.elapsed();
    assert_eq!(silent.attempts()[0].reason, FailReason::ResolveTimeout);
    assert_eq!(silent.attempts()[0].reason.class(), ErrorClass::TimedOut);
    assert!(
        elapsed >= address_timeout && elapsed < address_timeout * 4,
        "{}: {elapsed:?}",
        H::NAME
    );
    assert!(dns.queries_for("down.test") >= 1, "the server was asked");
    assert!(log.dialed().is_empty());
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.resolves_failed, s.resolves_timed_out), (1, 1));
    assert_eq!((s.resolves_in_flight, s.tokens_in_use), (0, 0));
}

// R-R10: a name resolving to an address the filter refuses never dials it (DNS
// rebinding); a name with nothing else fails, saying why.
async fn a_filtered_answer_is_never_dialed<H: Harness>() {
    let (good, inside, port) = same_port(
        || {
            let good = Listener::bind(ip("127.0.0.1"), OnAccept::Hold)?;
            let port = good.port();
            Ok((good, port))
        },
        |port| Listener::bind_to(SocketAddr::new(ip("127.0.0.2"), port), OnAccept::Hold),
    );
    let dns = server(
        Zone::new()
            .ip("rebind.test", ip("127.0.0.2"))
            .ip("rebind.test", ip("127.0.0.1"))
            .ip("inside.test", ip("127.0.0.2")),
    );
    let (transport, log) = Recording::new(H::tcp());
    let refused = inside.multiaddr();
    let dialer = Dialer::builder(config(), transport, H::Runtime::default())
        .with_resolver(H::name_server(dns.addr()))
        .with_address_filter(move |_peer: &u32, addr| *addr != refused)
        .build()
        .expect("valid config");

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [ma(&format!("/dns4/rebind.test/tcp/{port}"))]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, good.multiaddr());
    let nothing = failed(
        within::<H, _>(
            LIMIT,
            "the inside dial",
            dialer.dial(2, [ma(&format!("/dns4/inside.test/tcp/{port}"))]),
        )
        .await,
    );
    match &nothing.attempts()[0].reason {
        FailReason::NothingResolved { skipped } => {
            assert_eq!(skipped.len(), 1);
            assert_eq!(skipped[0].reason, SkipReason::Filtered);
            assert_eq!(skipped[0].addr, inside.multiaddr());
        }
        other => panic!("{}: expected NothingResolved, got {other}", H::NAME),
    }
    assert_eq!(log.dialed(), [good.multiaddr()]);
    assert_eq!(inside.accepts(), 0, "the refused address was dialed");
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(s.addresses_filtered, 2);
}

// R-N1 (RFC 6761): `localhost` resolves without asking the server.
async fn localhost_resolves_without_the_server<H: Harness>() {
    let good = Listener::accepting().expect("listener");
    let dns = server(Zone::new());
    let (transport, log) = Recording::new(H::tcp());
    let dialer = dialer::<H, _>(config(), transport, &dns);

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [ma(&format!("/dns4/localhost/tcp/{}", good.port()))]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(log.names(), [Some("localhost".to_owned())]);
    assert_eq!(dns.queries(), [], "localhost reached the name server");
}

dialer_tests::on_every_runtime!(
    a_tarpit_first_answer_costs_no_address_timeout,
    a_name_with_ipv6_and_ipv4_answers_dials_both_families,
    dnsaddr_follows_a_two_level_chain_to_dns4,
    a_dnsaddr_loop_fails_with_a_depth_error,
    dnsaddr_results_are_capped_at_100,
    records_of_another_peer_are_dropped,
    nxdomain_and_a_silent_server_have_clear_reasons,
    a_filtered_answer_is_never_dialed,
    localhost_resolves_without_the_server,
);
