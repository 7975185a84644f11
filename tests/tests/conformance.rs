//! Conformance suite of the runtime adapters: every scenario is written once, generic over
//! [`Harness`], and run on tokio, async-std and smol (R-A1) against real loopback peers
//! (`dialer_testing`) that the tests start themselves.
//!
//! Waits are on real events (a dial's answer, a gauge of the recording transport, an
//! accept); timers appear only as the dialer's own timeouts under test, as a peer's
//! behaviour (the slow listener), and as upper bounds that turn a hang into a failure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialer_driver::tcp::TcpError;
use dialer_driver::{
    Config, DialFailed, DialOpts, DialRefused, Dialed, Dialer, Error, ErrorClass, FailReason,
    HeadStart, Multiaddr, Priority, SkipReason, Skipped, Stats, Transport, WaitForTokens,
};
use dialer_testing::{Listener, OnAccept, Refusing, Tarpit, GREETING};
use dialer_tests::doubles::{Greeted, LateTransport, ReadByte, Recording};
use dialer_tests::harness::{ms, within, Harness};
use futures::future::{self, Either};

/// Upper bound on any single wait: far above what a loaded machine needs, far below a
/// hung test.
const LIMIT: Duration = Duration::from_secs(20);

/// Long timeouts, so that only the timeout a scenario sets on purpose can fire.
fn config() -> Config {
    Config::default()
        .with_address_timeout(Duration::from_secs(5))
        .with_dial_timeout(Duration::from_secs(10))
}

fn tarpits<const N: usize>() -> [Tarpit; N] {
    std::array::from_fn(|_| Tarpit::new().expect("tarpit"))
}

fn refused<C>(result: Result<Dialed<C>, Error>) -> DialRefused {
    match result {
        Err(Error::Refused(e)) => e,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(dialed) => panic!("expected a refusal, connected to {}", dialed.addr),
    }
}

fn failed<C>(result: Result<Dialed<C>, Error>) -> DialFailed {
    match result {
        Err(Error::Failed(e)) => e,
        Err(e) => panic!("expected a failed request, got {e}"),
        Ok(dialed) => panic!("expected a failed request, connected to {}", dialed.addr),
    }
}

async fn stats<H: Harness, T: Transport>(dialer: &Dialer<u32, T, H::Runtime>) -> Stats {
    dialer.stats().await.expect("driver running")
}

/// Checks that no socket of this process is still connecting to any of `pits`.
fn assert_no_pending_connects(pits: &[Tarpit]) {
    for pit in pits {
        assert_eq!(
            pit.pending_connects().expect("/proc/net/tcp"),
            0,
            "a socket to tarpit {} is still open",
            pit.addr()
        );
    }
}

/// Blocks (briefly: the kernel already completed the connection) until `peer` accepted
/// `n` connections; returns the count.
fn accepts(peer: &Listener, n: usize) -> usize {
    peer.wait_for_accepts(n, LIMIT)
}

// R-R3, R-R4, R-A4: three hanging addresses and a good one, four tokens: the dials start
// in parallel and the good one wins at once, without waiting for any timeout.
async fn tarpits_do_not_delay_the_good_address<H: Harness>() {
    let pits = tarpits::<3>();
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), transport);
    let addrs: Vec<Multiaddr> = pits
        .iter()
        .map(Tarpit::multiaddr)
        .chain([good.multiaddr()])
        .collect();

    let start = Instant::now();
    let dialed = within::<H, _>(LIMIT, "the dial", dialer.dial(1, addrs.clone()))
        .await
        .expect("connected");
    let elapsed = start.elapsed();
    assert_eq!(dialed.addr, good.multiaddr());
    assert!(
        elapsed < config().address_timeout / 2,
        "{}: took {elapsed:?}: waited for a tarpit",
        H::NAME
    );
    assert_eq!(log.dialed(), addrs, "all four dials start at once (R-R3)");
    assert_eq!(
        dialed.connection.read_byte().await.expect("greeting"),
        GREETING
    );
    assert_eq!(accepts(&good, 1), 1);

    // R-R4: the three tarpit dials are aborted and their sockets closed.
    within::<H, _>(
        LIMIT,
        "aborted dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_no_pending_connects(&pits);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(
        (s.dials_started, s.dials_succeeded, s.dials_aborted),
        (4, 1, 3)
    );
    assert_eq!((s.requests_succeeded, s.tokens_in_use), (1, 0));
}

// R-R5: every address fails (refused, and accepted then reset): one typed error lists
// every address with its reason; every token is back.
async fn all_bad_addresses_fail_with_every_reason<H: Harness>() {
    let refusing = Refusing::new().expect("refusing port");
    let resetting = Listener::resetting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    // A TCP connect to the resetting peer completes in the kernel before the reset: the
    // greeting, like a libp2p handshake, is what fails.
    let dialer = H::dialer(config(), Greeted(transport));

    let result = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [refusing.multiaddr(), resetting.multiaddr()]),
    )
    .await;
    let DialFailed::AllFailed { attempts } = failed(result) else {
        panic!("{}: expected AllFailed", H::NAME)
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let reason = |addr: &Multiaddr| match attempts.iter().find(|a| a.addr == *addr) {
        Some(attempt) => match &attempt.reason {
            FailReason::Transport(error) => error.message().to_lowercase(),
            other => panic!("{}: {addr} failed with {other:?}", H::NAME),
        },
        None => panic!("{}: {addr} missing from {attempts:?}", H::NAME),
    };
    let refused = reason(&refusing.multiaddr());
    assert!(
        refused.contains("refused") && refused.contains(&refusing.addr().to_string()),
        "{refused}"
    );
    // tokio reports the reset while reading the greeting; async-io can see it already when
    // it checks the connected socket for errors. Either way it is a reset.
    let reset = reason(&resetting.multiaddr());
    assert!(reset.contains("reset"), "{reset}");
    assert_eq!(accepts(&resetting, 1), 1);

    assert_eq!(log.dialed().len(), 2);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.dials_failed, s.requests_failed), (2, 1));
    assert_eq!((s.tokens_in_use, s.dials_in_flight), (0, 0));
}

// R-R6a, R-T7, R-C4: with one token, a hanging first address times out and the token moves
// on to the next address, which wins; the timed-out address counts as failed.
async fn address_timeout_moves_the_token_on<H: Harness>() {
    let [pit] = tarpits::<1>();
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let address_timeout = ms(300);
    let dialer = H::dialer(
        config()
            .with_max_per_peer_dials(1)
            .with_address_timeout(address_timeout),
        transport,
    );

    let start = Instant::now();
    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [pit.multiaddr(), good.multiaddr()]),
    )
    .await
    .expect("connected");
    let elapsed = start.elapsed();
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(log.dialed(), [pit.multiaddr(), good.multiaddr()]);
    assert!(
        elapsed >= address_timeout && elapsed < config().dial_timeout / 2,
        "{}: {elapsed:?}",
        H::NAME
    );

    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_no_pending_connects(std::slice::from_ref(&pit));
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.dials_timed_out, s.dials_succeeded), (1, 1));
    assert_eq!(s.tokens_in_use, 0);
    let learned = dialer.export_confidence().await.expect("driver running");
    assert!(learned.contains(&(pit.multiaddr(), 0)), "{learned:?}");
    assert!(learned.contains(&(good.multiaddr(), 2)), "{learned:?}");
}

// R-R6, R-A4: nothing answers: the whole request times out at dial_timeout with a Timeout
// error naming every address in flight, and every socket is closed.
async fn request_timeout_fails_with_timeout<H: Harness>() {
    let pits = tarpits::<2>();
    let (transport, log) = Recording::new(H::tcp());
    let dial_timeout = ms(400);
    let dialer = H::dialer(config().with_dial_timeout(dial_timeout), transport);

    let start = Instant::now();
    let result = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, pits.iter().map(Tarpit::multiaddr)),
    )
    .await;
    let elapsed = start.elapsed();
    let DialFailed::Timeout { attempts } = failed(result) else {
        panic!("{}: expected Timeout", H::NAME)
    };
    assert!(
        elapsed >= dial_timeout && elapsed < config().address_timeout / 2,
        "{}: {elapsed:?}",
        H::NAME
    );
    let mut tried: Vec<_> = attempts.iter().map(|a| a.addr.clone()).collect();
    tried.sort();
    let mut expected: Vec<_> = pits.iter().map(Tarpit::multiaddr).collect();
    expected.sort();
    assert_eq!(tried, expected);
    assert!(attempts
        .iter()
        .all(|a| a.reason == FailReason::RequestTimeout));

    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_no_pending_connects(&pits);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.requests_timed_out, s.dials_timed_out), (1, 2));
    assert_eq!(s.tokens_in_use, 0);
}

// R-R7, R-C4, R-A1: dropping the dial future cancels the request: its dials are aborted,
// their sockets closed, its tokens released, and confidence is left alone.
async fn dropping_the_dial_future_cancels<H: Harness>() {
    let pits = tarpits::<2>();
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), transport);

    let dial = dialer.dial(1, pits.iter().map(Tarpit::multiaddr));
    let connecting = log.connecting.wait_until(|v, _| v == 2);
    let raced = within::<H, _>(
        LIMIT,
        "both connects under way",
        future::select(Box::pin(dial), Box::pin(connecting)),
    )
    .await;
    match raced {
        Either::Left((result, _)) => panic!("{}: the dial ended: {:?}", H::NAME, result.err()),
        Either::Right(((), dial)) => {
            // Both sockets exist and wait for an answer that never comes.
            for pit in &pits {
                assert_eq!(pit.pending_connects().expect("/proc/net/tcp"), 1);
            }
            drop(dial);
        }
    }

    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_no_pending_connects(&pits);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.requests_cancelled, s.callers_cancelled), (1, 1));
    assert_eq!(
        (s.dials_aborted, s.dials_timed_out, s.dials_failed),
        (2, 0, 0)
    );
    assert_eq!(s.tokens_in_use, 0);
    let learned = dialer.export_confidence().await.expect("driver running");
    assert!(
        learned.iter().all(|(_, c)| *c == 1),
        "aborts changed confidence: {learned:?}"
    );
}

// R-R8: two concurrent dials to one peer share one request: one socket, one accept, the
// same connection for both callers.
async fn concurrent_dials_share_one_request<H: Harness>() {
    // Greets 300 ms after accepting: the request is surely still in flight when the
    // second caller arrives.
    let slow = Listener::slow(ms(300)).expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), Greeted(transport));

    let (a, b) = within::<H, _>(
        LIMIT,
        "both dials",
        future::join(
            dialer.dial(7, [slow.multiaddr()]),
            dialer.dial(7, [slow.multiaddr()]),
        ),
    )
    .await;
    let (a, b) = (a.expect("first caller"), b.expect("second caller"));
    assert_eq!((&a.addr, &b.addr), (&slow.multiaddr(), &slow.multiaddr()));
    assert!(Arc::ptr_eq(&a.connection, &b.connection));
    assert_eq!(log.dials_to(&slow.multiaddr()), 1);
    assert_eq!(accepts(&slow, 1), 1);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(
        (s.requests_started, s.requests_joined, s.requests_succeeded),
        (1, 1, 1)
    );
    assert_eq!(s.dials_started, 1);
    drop((a, b));
    within::<H, _>(
        LIMIT,
        "connection closed",
        log.connections.wait_until(|v, _| v == 0),
    )
    .await;
    assert_eq!(accepts(&slow, 1), 1, "a second connection was made");
}

// R-R8, R-R7: each caller of a joined request can cancel its own wait: the request goes on
// for the others, and is cancelled (its socket closed) only when its last caller has gone.
async fn a_joined_caller_can_leave_alone<H: Harness>() {
    let slow = Listener::slow(ms(500)).expect("listener");
    let [pit] = tarpits::<1>();
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), Greeted(transport));

    // Both callers are polled once, which sends their requests in this order; then the
    // check runs while they wait for the greeting.
    let mut leaving = Box::pin(dialer.dial(7, [slow.multiaddr()]));
    let mut staying = Box::pin(dialer.dial(7, [slow.multiaddr()]));
    let check = async {
        within::<H, _>(LIMIT, "the dial", log.attempts.wait_until(|_, t| t == 1)).await;
        let s = stats::<H, _>(&dialer).await;
        assert_eq!((s.requests_started, s.requests_joined), (1, 1));
    };
    let callers = future::select(leaving.as_mut(), staying.as_mut());
    if let Either::Left(_) = future::select(callers, Box::pin(check)).await {
        panic!("{}: a caller finished before the greeting", H::NAME);
    }
    drop(leaving);
    let dialed = within::<H, _>(LIMIT, "the staying caller", staying)
        .await
        .expect("connected");
    assert_eq!(dialed.addr, slow.multiaddr());
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.callers_cancelled, s.requests_cancelled), (1, 0));
    assert_eq!(s.requests_succeeded, 1);

    // Two callers on a hanging address, both gone: now the request is cancelled.
    let first = Box::pin(dialer.dial(8, [pit.multiaddr()]));
    let second = Box::pin(dialer.dial(8, [pit.multiaddr()]));
    let connecting = log.connecting.wait_until(|v, _| v == 1);
    let raced = within::<H, _>(
        LIMIT,
        "the connect under way",
        future::select(future::join(first, second), Box::pin(connecting)),
    )
    .await;
    assert!(matches!(raced, Either::Right(_)), "a tarpit dial ended");
    drop(raced);
    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_no_pending_connects(std::slice::from_ref(&pit));
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.callers_cancelled, s.requests_cancelled), (3, 1));
    assert_eq!((s.requests_joined, s.tokens_in_use), (2, 0));
}

// R-A2: `/ip6/::1/tcp/…` addresses are dialed like IPv4 ones; a hanging IPv6 address does
// not hold up a good one.
async fn ipv6_loopback_connects<H: Harness>() {
    let ip6 = "::1".parse().expect("ip");
    let pit = Tarpit::bind(ip6).expect("IPv6 loopback tarpit");
    let good = Listener::bind(ip6, OnAccept::Hold).expect("IPv6 loopback listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), transport);

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [pit.multiaddr(), good.multiaddr()]),
    )
    .await
    .expect("connected");
    assert!(dialed.addr.to_string().starts_with("/ip6/::1/tcp/"));
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(
        dialed.connection.read_byte().await.expect("greeting"),
        GREETING
    );
    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_no_pending_connects(std::slice::from_ref(&pit));
    assert_eq!(accepts(&good, 1), 1);
}

/// Holds every token of a two-token pool with two dials to tarpits, runs `body`, then
/// cancels the holders. Fails if a holder ends first.
async fn with_pool_exhausted<H, T, F>(
    dialer: &Dialer<u32, T, H::Runtime>,
    log: &dialer_tests::doubles::DialLog,
    pits: &[Tarpit; 2],
    body: F,
) where
    H: Harness,
    T: Transport,
    F: std::future::Future<Output = ()>,
{
    let holders = future::join(
        dialer.dial(101, [pits[0].multiaddr()]),
        dialer.dial(102, [pits[1].multiaddr()]),
    );
    let body = async {
        within::<H, _>(
            LIMIT,
            "holders connecting",
            log.connecting.wait_until(|v, _| v == 2),
        )
        .await;
        let s = stats::<H, _>(dialer).await;
        assert_eq!((s.tokens_in_use, s.tokens_available), (2, 0));
        body.await;
    };
    match future::select(Box::pin(holders), Box::pin(body)).await {
        Either::Left(_) => panic!("{}: a tarpit dial ended", H::NAME),
        Either::Right(((), _holders)) => {}
    }
}

fn two_tokens() -> Config {
    config().with_max_tokens(2).with_max_per_peer_dials(1)
}

// R-T4, R-T6: with every token held, a normal request fails at once with NoTokens; it
// neither waits nor dials.
async fn empty_pool_fails_at_once_with_no_tokens<H: Harness>() {
    let pits = tarpits::<2>();
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(two_tokens(), transport);

    with_pool_exhausted::<H, _, _>(&dialer, &log, &pits, async {
        let start = Instant::now();
        let result = dialer.dial(3, [good.multiaddr()]).await;
        let elapsed = start.elapsed();
        assert_eq!(refused(result), DialRefused::NoTokens);
        assert!(elapsed < Duration::from_secs(1), "{}: {elapsed:?}", H::NAME);
        assert_eq!(log.dials_to(&good.multiaddr()), 0);
        let s = stats::<H, _>(&dialer).await;
        assert_eq!(s.requests_rejected_no_tokens, 1);
        assert_eq!(s.tokens_in_use, 2);
    })
    .await;
    assert_eq!(good.accepts(), 0);
}

// R-Q1, R-T8, R-R7: with waiting on, a request that finds every token held waits instead
// of failing, and the token a cancelled holder frees goes to it at once.
async fn a_waiting_request_gets_the_first_free_token<H: Harness>() {
    let pits = tarpits::<2>();
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let config = two_tokens().with_wait_for_tokens(Some(WaitForTokens {
        queue: 1,
        max_wait: Duration::from_secs(10),
    }));
    let dialer = H::dialer(config, transport);
    let mut first = Box::pin(dialer.dial(101, [pits[0].multiaddr()]));
    let mut second = Box::pin(dialer.dial(102, [pits[1].multiaddr()]));
    let holders = async {
        let _ = future::join(&mut first, &mut second).await;
    };
    let connecting = log.connecting.wait_until(|v, _| v == 2);
    match future::select(
        Box::pin(holders),
        Box::pin(within::<H, _>(LIMIT, "holders connecting", connecting)),
    )
    .await
    {
        Either::Left(_) => panic!("{}: a tarpit dial ended", H::NAME),
        Either::Right(_) => {}
    }
    let mut waiter = Box::pin(dialer.dial(3, [good.multiaddr()]));
    assert!(futures::poll!(&mut waiter).is_pending());
    // The driver takes commands in order: this answer comes after the dial was handled.
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(
        (s.requests_waiting, s.requests_queued),
        (1, 1),
        "{}",
        H::NAME
    );
    assert_eq!(
        log.dials_to(&good.multiaddr()),
        0,
        "a waiting request dials nothing"
    );
    // A second waiter finds the queue (of 1) full.
    assert_eq!(
        refused(dialer.dial(4, [good.multiaddr()]).await),
        DialRefused::NoTokens
    );
    drop(first);
    let dialed = within::<H, _>(LIMIT, "the waiting dial", waiter)
        .await
        .expect("connected with the freed token");
    assert_eq!(dialed.addr, good.multiaddr());
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(s.requests_waiting, 0);
    assert_eq!(s.requests_rejected_no_tokens, 1);
    drop(second);
    assert_eq!(accepts(&good, 1), 1);
}

// R-P1: a high-priority request that finds the pool empty proceeds outside it, one address
// at a time, and is counted as an overdraft.
async fn high_priority_proceeds_without_tokens<H: Harness>() {
    let pits = tarpits::<2>();
    let refusing = Refusing::new().expect("refusing port");
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(two_tokens(), transport);

    with_pool_exhausted::<H, _, _>(&dialer, &log, &pits, async {
        let dialed = within::<H, _>(
            LIMIT,
            "the high-priority dial",
            dialer.dial_with(
                3,
                [refusing.multiaddr(), good.multiaddr()],
                DialOpts::default().with_priority(Priority::High),
            ),
        )
        .await
        .expect("connected outside the pool");
        assert_eq!(dialed.addr, good.multiaddr());
        assert_eq!(
            log.dialed()[2..],
            [refusing.multiaddr(), good.multiaddr()],
            "one address after the other"
        );
        let s = stats::<H, _>(&dialer).await;
        assert_eq!(s.overdraft_requests, 1);
        assert_eq!((s.dials_failed, s.dials_succeeded), (1, 1));
        assert_eq!(s.tokens_in_use, 2, "the pool was not touched");
    })
    .await;
    assert_eq!(accepts(&good, 1), 1);
}

// R-C2, R-C3, R-R1, R-C6: confidence learned by one request puts the good address first in
// the next, even when the caller lists it last; exported and imported, it survives a
// restart.
async fn confidence_puts_the_good_address_first<H: Harness>() {
    let refusing = Refusing::new().expect("refusing port");
    let fresh = Refusing::new().expect("refusing port");
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    // One token, so the order of dials is the order of addresses; no deny list, so only
    // confidence decides.
    let learning = config()
        .with_max_per_peer_dials(1)
        .with_deny_list_capacity(0);
    let dialer = H::dialer(learning.clone(), transport);

    let first = within::<H, _>(
        LIMIT,
        "first dial",
        dialer.dial(1, [refusing.multiaddr(), good.multiaddr()]),
    )
    .await
    .expect("connected");
    assert_eq!(first.addr, good.multiaddr());
    assert_eq!(log.dialed(), [refusing.multiaddr(), good.multiaddr()]);

    // Another peer, listing a fresh address (confidence 1) before the good one (now 2).
    let second = within::<H, _>(
        LIMIT,
        "second dial",
        dialer.dial(2, [fresh.multiaddr(), good.multiaddr()]),
    )
    .await
    .expect("connected");
    assert_eq!(second.addr, good.multiaddr());
    assert_eq!(log.dialed()[2..], [good.multiaddr()], "good first");

    let learned = dialer.export_confidence().await.expect("driver running");
    assert!(learned.contains(&(refusing.multiaddr(), 0)), "{learned:?}");
    assert!(learned.contains(&(good.multiaddr(), 3)), "{learned:?}");

    // R-C6: a new dialer that imports the table dials the good address first too.
    let (transport, log) = Recording::new(H::tcp());
    let restarted = H::dialer(learning, transport);
    restarted
        .import_confidence(learned)
        .await
        .expect("driver running");
    let third = within::<H, _>(
        LIMIT,
        "dial after restart",
        restarted.dial(3, [fresh.multiaddr(), good.multiaddr()]),
    )
    .await
    .expect("connected");
    assert_eq!(third.addr, good.multiaddr());
    assert_eq!(log.dialed(), [good.multiaddr()]);
}

// R-D1, R-D2, R-D4, R-D4a, R-D4b: a failed address is deny-listed (longer after each failure
// in a row): later requests skip it, a request with nothing else fails before dialing, and a
// connection got another way or a network change lifts the entry.
async fn deny_listed_addresses_are_skipped<H: Harness>() {
    let refusing = Refusing::new().expect("refusing port");
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), transport);

    let result = within::<H, _>(LIMIT, "first dial", dialer.dial(1, [refusing.multiaddr()])).await;
    assert!(matches!(failed(result), DialFailed::AllFailed { .. }));

    let dialed = within::<H, _>(
        LIMIT,
        "second dial",
        dialer.dial(2, [refusing.multiaddr(), good.multiaddr()]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(log.dialed(), [refusing.multiaddr(), good.multiaddr()]);

    // R-D6: nothing but a deny-listed address: refused at once, saying when to retry.
    let result = dialer.dial(3, [refusing.multiaddr()]).await;
    let DialRefused::BackedOff {
        skipped, retry_in, ..
    } = refused(result)
    else {
        panic!("expected BackedOff");
    };
    assert_eq!(
        skipped,
        vec![Skipped {
            addr: refusing.multiaddr(),
            reason: SkipReason::DenyListed
        }]
    );
    assert!(retry_in > Duration::ZERO && retry_in <= config().deny_duration);
    assert_eq!(log.dials_to(&refusing.multiaddr()), 1);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.dials_started, s.requests_rejected_backed_off), (2, 1));

    // R-D7: a dial the user asks for explicitly goes past the deny list.
    let result = dialer
        .dial_with(
            4,
            [refusing.multiaddr()],
            DialOpts::default().with_ignore_backoff(true),
        )
        .await;
    assert!(matches!(failed(result), DialFailed::AllFailed { .. }));
    assert_eq!(log.dials_to(&refusing.multiaddr()), 2);

    // R-D4: that was its second failure in a row: backed off for twice as long now.
    let result = dialer.dial(5, [refusing.multiaddr()]).await;
    let DialRefused::BackedOff { retry_in, .. } = refused(result) else {
        panic!("expected BackedOff");
    };
    assert!(retry_in > config().deny_duration, "{retry_in:?}");

    // R-D4a: the peer reached us another way: its address is worth a dial again.
    dialer
        .peer_connected(5, vec![refusing.multiaddr()])
        .await
        .expect("driver alive");
    let result = within::<H, _>(
        LIMIT,
        "after peer_connected",
        dialer.dial(5, [refusing.multiaddr()]),
    )
    .await;
    assert!(matches!(failed(result), DialFailed::AllFailed { .. }));
    assert_eq!(log.dials_to(&refusing.multiaddr()), 3);

    // R-D4b: a new network forgets every deny entry.
    dialer.network_changed().await.expect("driver alive");
    let result = within::<H, _>(
        LIMIT,
        "after network_changed",
        dialer.dial(6, [refusing.multiaddr()]),
    )
    .await;
    assert!(matches!(failed(result), DialFailed::AllFailed { .. }));
    assert_eq!(log.dials_to(&refusing.multiaddr()), 4);
}

// R-A2, R-A1, R-N1: the TCP transport sets TCP_NODELAY, and a `/p2p/…` suffix after a DNS
// name stays on the address the name resolves to.
async fn tcp_sets_nodelay_and_takes_a_p2p_suffix<H: Harness>() {
    let good = Listener::accepting().expect("listener");
    let dialer = H::dialer(config(), H::tcp());
    let with_p2p: Multiaddr = format!(
        "{}/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
        good.dns_multiaddr()
    )
    .parse()
    .expect("multiaddr");
    let dialed = within::<H, _>(LIMIT, "the dial", dialer.dial(1, [with_p2p.clone()]))
        .await
        .expect("connected");
    let resolved: Multiaddr = format!(
        "{}/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
        good.multiaddr()
    )
    .parse()
    .expect("multiaddr");
    assert_eq!(dialed.addr, resolved);
    let stream = dialed
        .into_connection()
        .unwrap_or_else(|_| panic!("a lone caller"));
    assert!(H::nodelay(&stream), "{}: TCP_NODELAY is not set", H::NAME);
}

// R-R5: a refused port fails with the socket's error, kept as a value: its class, its
// `io::ErrorKind`, the transport's own error type, and a message naming the socket.
async fn a_refused_port_keeps_the_socket_error<H: Harness>() {
    let refusing = Refusing::new().expect("refusing port");
    let dialer = H::dialer(config(), H::tcp());
    let result = within::<H, _>(LIMIT, "the dial", dialer.dial(1, [refusing.multiaddr()])).await;
    let DialFailed::AllFailed { attempts } = failed(result) else {
        panic!("expected AllFailed");
    };
    let reason = &attempts[0].reason;
    assert_eq!(reason.class(), ErrorClass::Refused, "{reason}");
    let error = reason.transport_error().expect("a transport error");
    assert_eq!(error.io_kind(), Some(std::io::ErrorKind::ConnectionRefused));
    assert!(matches!(
        error.downcast_ref::<TcpError>(),
        Some(TcpError::Connect { addr, .. }) if *addr == refusing.addr()
    ));
    assert!(
        error
            .message()
            .starts_with(&format!("connecting to {}: ", refusing.addr())),
        "{error}"
    );
}

// Head start (Config::head_start), R-R3: once the good address has connected, the next
// request dials it alone first and never opens sockets to the tarpits listed before it;
// with the head start off, the same request dials all four at once.
async fn a_proven_address_dials_alone_first<H: Harness>() {
    let pits = tarpits::<3>();
    let good = Listener::closing().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    // A 10 s floor: a loopback connect ends long before it under any load, so the head
    // start never runs out in this test.
    let patient = HeadStart {
        min: Duration::from_secs(10),
        max: Duration::from_secs(20),
        ..HeadStart::default()
    };
    let addrs = || pits.iter().map(Tarpit::multiaddr).chain([good.multiaddr()]);
    let dialer = H::dialer(
        config()
            .with_deny_list_capacity(0)
            .with_head_start(Some(patient)),
        transport,
    );
    // Nothing learned yet: all four at once (R-R3).
    let first = within::<H, _>(LIMIT, "first dial", dialer.dial(1, addrs()))
        .await
        .expect("connected");
    assert_eq!(first.addr, good.multiaddr());
    assert_eq!(log.dialed().len(), 4);
    // Proven now (confidence 2, connect time measured): it dials alone, and wins.
    for peer in 2..5 {
        let dialed = within::<H, _>(LIMIT, "a proven dial", dialer.dial(peer, addrs()))
            .await
            .expect("connected");
        assert_eq!(dialed.addr, good.multiaddr());
    }
    assert_eq!(
        log.dialed()[4..],
        [good.multiaddr(), good.multiaddr(), good.multiaddr()]
    );
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.dials_started, s.dials_aborted), (7, 3));
    assert_eq!((s.tokens_in_use, s.dials_in_flight), (0, 0));
    assert_no_pending_connects(&pits);

    // The same with the head start off: four dials per request, learned or not.
    let (transport, log) = Recording::new(H::tcp());
    let parallel = H::dialer(
        config().with_deny_list_capacity(0).with_head_start(None),
        transport,
    );
    for peer in 1..3 {
        within::<H, _>(LIMIT, "a parallel dial", parallel.dial(peer, addrs()))
            .await
            .expect("connected");
    }
    assert_eq!(log.dialed().len(), 8);
}

// R-A1, R-R4: round after round of aborted dials leaves no socket behind: every dial
// future is dropped, no connect to a tarpit is pending, no connection is left open.
async fn aborted_dials_leave_no_socket_open<H: Harness>() {
    let pits = tarpits::<3>();
    let good = Listener::closing().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    // No deny list, so every round dials the tarpits again; no head start, so the good
    // address, proven after the first round, does not dial alone.
    let dialer = H::dialer(
        config().with_deny_list_capacity(0).with_head_start(None),
        transport,
    );
    let rounds = 10;
    for peer in 0..rounds {
        let addrs = pits.iter().map(Tarpit::multiaddr).chain([good.multiaddr()]);
        let dialed = within::<H, _>(LIMIT, "a dial", dialer.dial(peer, addrs))
            .await
            .expect("connected");
        assert_eq!(dialed.addr, good.multiaddr());
    }
    within::<H, _>(
        LIMIT,
        "every dial future dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    assert_eq!(log.connections.value(), 0, "a connection is still open");
    assert_eq!(log.connecting.value(), 0);
    assert_no_pending_connects(&pits);
    let s = stats::<H, _>(&dialer).await;
    let rounds = u64::from(rounds);
    assert_eq!(s.dials_started, 4 * rounds);
    assert_eq!((s.dials_succeeded, s.dials_aborted), (rounds, 3 * rounds));
    assert_eq!((s.tokens_in_use, s.dials_in_flight), (0, 0));
}

// R-N1: `/dns4/localhost/tcp/…` is resolved by the dialer (to 127.0.0.1, RFC 6761, with no
// query leaving the machine) and the transport dials the address, told the name.
async fn dns_multiaddr_connects<H: Harness>() {
    let good = Listener::accepting().expect("listener");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), transport);

    let dialed = within::<H, _>(LIMIT, "the dial", dialer.dial(1, [good.dns_multiaddr()]))
        .await
        .expect("connected through localhost");
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(
        dialed.connection.read_byte().await.expect("greeting"),
        GREETING
    );
    assert_eq!(accepts(&good, 1), 1);
    assert_eq!(log.dialed(), [good.multiaddr()]);
    assert_eq!(log.names(), [Some("localhost".to_owned())]);
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.resolves_succeeded, s.resolved_addresses), (1, 1));
}

// R-A2, R-R2: a multiaddr the TCP transport cannot dial is rejected before any token is
// spent, with its reason; next to a dialable one, it is skipped.
async fn unsupported_multiaddr_is_rejected_before_any_token<H: Harness>() {
    let good = Listener::accepting().expect("listener");
    let quic: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().expect("multiaddr");
    let (transport, log) = Recording::new(H::tcp());
    let dialer = H::dialer(config(), transport);

    let result = dialer.dial(1, [quic.clone()]).await;
    assert_eq!(
        refused(result),
        DialRefused::NoDialableAddresses {
            skipped: vec![Skipped {
                addr: quic.clone(),
                reason: SkipReason::Undialable
            }]
        }
    );
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.requests_started, s.dials_started), (0, 0));
    assert_eq!((s.requests_rejected_no_addresses, s.tokens_in_use), (1, 0));

    let dialed = within::<H, _>(
        LIMIT,
        "mixed dial",
        dialer.dial(2, [quic, good.multiaddr()]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, good.multiaddr());
    assert_eq!(log.dialed(), [good.multiaddr()]);
}

// R-A1: a dial that already holds a connection when it is aborted (its handshake still
// running) has its connection closed, never leaked. (A connection whose report arrives
// after its abort is refused by the core and dropped by the driver: the driver's unit test
// `a_connection_completing_after_its_abort_is_closed` drives that path by hand.)
async fn late_connection_is_closed<H: Harness>() {
    let late = Listener::accepting().expect("listener");
    let winner = Listener::accepting().expect("listener");
    let (transport, gate, log) = LateTransport::new(late.multiaddr());
    let dialer = H::dialer(config(), transport);

    let dialed = within::<H, _>(
        LIMIT,
        "the dial",
        dialer.dial(1, [late.multiaddr(), winner.multiaddr()]),
    )
    .await
    .expect("connected");
    assert_eq!(dialed.addr, winner.multiaddr());
    assert!(
        gate.entered(),
        "the late dial had connected before the winner"
    );
    let s = stats::<H, _>(&dialer).await;
    assert_eq!((s.dials_succeeded, s.dials_aborted), (1, 1));
    drop(dialed);

    within::<H, _>(
        LIMIT,
        "both connections made and closed",
        log.connections.wait_until(|v, total| total == 2 && v == 0),
    )
    .await;
    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    let s = stats::<H, _>(&dialer).await;
    assert_eq!(
        s.reports_ignored, 0,
        "the aborted attempt was dropped, not reported"
    );
    assert_eq!((accepts(&late, 1), accepts(&winner, 1)), (1, 1));
}

/// Checks that the loopback peers really bind loopback addresses (the suite must never
/// touch any other address).
fn assert_loopback(addr: SocketAddr) {
    assert!(addr.ip().is_loopback(), "{addr}");
}

#[test]
fn peers_bind_loopback_only() {
    assert_loopback(Listener::accepting().expect("listener").addr());
    assert_loopback(Refusing::new().expect("refusing").addr());
    assert_loopback(Tarpit::new().expect("tarpit").addr());
}

dialer_tests::on_every_runtime!(
    tarpits_do_not_delay_the_good_address,
    all_bad_addresses_fail_with_every_reason,
    address_timeout_moves_the_token_on,
    request_timeout_fails_with_timeout,
    dropping_the_dial_future_cancels,
    concurrent_dials_share_one_request,
    a_joined_caller_can_leave_alone,
    empty_pool_fails_at_once_with_no_tokens,
    a_waiting_request_gets_the_first_free_token,
    high_priority_proceeds_without_tokens,
    confidence_puts_the_good_address_first,
    deny_listed_addresses_are_skipped,
    aborted_dials_leave_no_socket_open,
    a_proven_address_dials_alone_first,
    dns_multiaddr_connects,
    ipv6_loopback_connects,
    unsupported_multiaddr_is_rejected_before_any_token,
    late_connection_is_closed,
    tcp_sets_nodelay_and_takes_a_p2p_suffix,
    a_refused_port_keeps_the_socket_error,
);
