//! Load test of the runtime adapters (R-T6, R-T4, R-A1): 2,000 concurrent requests for
//! distinct peers through a pool of 64 tokens, against loopback peers that accept, refuse
//! and hang, on tokio, async-std and smol in turn; then, with waiting on (R-Q1), 10,000
//! at once through 100 tokens and a queue of 1,000 on tokio.
//!
//! It checks that the sockets in flight never exceed the pool, that every request ends
//! with a connection or a typed error of the expected kind, and that the process's open
//! descriptors come back to their baseline. Its own test binary, one test, runtimes one
//! after the other: nothing else opens descriptors while it counts them.
//!
//! Run with `--nocapture` to see the figures.

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, Instant};

use dialer_driver::{Config, DialFailed, DialRefused, Error, Multiaddr, Runtime, WaitForTokens};
use dialer_testing::{open_fds, Listener, Refusing, Tarpit};
use dialer_tests::doubles::{DialLog, Recording};
use dialer_tests::harness::{ms, within, AsyncStd, Harness, Smol, Tokio};
use futures::future;

const REQUESTS: u32 = 2_000;
const MAX_TOKENS: usize = 64;
/// A caller that gets `NoTokens` backs off and tries again, as an application would, until
/// this long after the start; then its last `NoTokens` is its answer.
const RETRY_FOR: Duration = Duration::from_secs(60);
/// Upper bound for the whole run on one runtime.
const LIMIT: Duration = Duration::from_secs(120);

/// What a request is expected to end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Expect {
    /// It has a good address: a connection (or `NoTokens` if it gave up).
    Connect,
    /// Only refusing and hanging addresses: `AllFailed` (or `NoTokens` if it gave up).
    Fail,
}

/// The loopback peers every request picks its addresses from.
struct Peers {
    good: Vec<Listener>,
    refusing: Vec<Refusing>,
    pits: Vec<Tarpit>,
}

impl Peers {
    fn new() -> Self {
        Self {
            // Closing listeners: each accepted connection is closed at once, so the peers
            // hold no descriptor per connection.
            good: (0..4)
                .map(|_| Listener::closing().expect("listener"))
                .collect(),
            refusing: (0..4).map(|_| Refusing::new().expect("refusing")).collect(),
            pits: (0..4).map(|_| Tarpit::new().expect("tarpit")).collect(),
        }
    }

    /// Whether `winner` is one of `addrs`, or what one of them resolved to: a name wins
    /// as the address it resolved to (R-N1).
    fn won(&self, addrs: &[Multiaddr], winner: &Multiaddr) -> bool {
        addrs.iter().any(|a| {
            a == winner
                || self
                    .good
                    .iter()
                    .any(|g| g.dns_multiaddr() == *a && g.multiaddr() == *winner)
        })
    }

    /// The addresses of request `i`: a fixed mix of good, refusing and hanging peers.
    fn addrs(&self, i: u32) -> (Vec<Multiaddr>, Expect) {
        let k = i as usize;
        let good = &self.good[k % 4];
        let refusing = self.refusing[k % 4].multiaddr();
        let pit = self.pits[k % 4].multiaddr();
        match i % 20 {
            0 => (vec![pit, refusing], Expect::Fail),
            1 => (vec![pit], Expect::Fail),
            2 => (vec![refusing], Expect::Fail),
            3..=5 => (vec![refusing, good.multiaddr()], Expect::Connect),
            6..=8 => (vec![pit, good.multiaddr()], Expect::Connect),
            9 => (vec![good.dns_multiaddr()], Expect::Connect),
            _ => (vec![good.multiaddr()], Expect::Connect),
        }
    }
}

/// Warm-up: the runtime's reactor, timer and resolver threads (and their descriptors)
/// start on first use. Returns the descriptor baseline, taken after.
async fn warm_up<H: Harness>(peers: &Peers) -> usize {
    let warm = H::dialer(Config::default(), H::tcp());
    let dialed = within::<H, _>(
        LIMIT,
        "warm-up dial",
        warm.dial(u32::MAX, [peers.good[0].dns_multiaddr()]),
    )
    .await
    .expect("warm-up connects");
    drop(dialed);
    assert_eq!(peers.good[0].wait_for_accepts(1, LIMIT), 1);
    open_fds().expect("/proc/self/fd")
}

/// Waits until every dial future and every connection the recording transport saw is gone.
async fn all_dropped<H: Harness>(log: &DialLog) {
    within::<H, _>(
        LIMIT,
        "dials dropped",
        log.attempts.wait_until(|v, _| v == 0),
    )
    .await;
    within::<H, _>(
        LIMIT,
        "connections dropped",
        log.connections.wait_until(|v, _| v == 0),
    )
    .await;
}

/// The figures of one run, for the team's notes.
#[derive(Debug, Default)]
struct Figures {
    runtime: &'static str,
    max_connecting: usize,
    max_attempts: usize,
    connected: usize,
    failed: usize,
    timed_out: usize,
    no_tokens_retries: usize,
    no_tokens_final: usize,
    elapsed: Duration,
    fds_before: usize,
    fds_after: usize,
}

/// One caller: dials, backs off and retries on `NoTokens`.
async fn caller<H: Harness, T: dialer_driver::Transport>(
    dialer: dialer_driver::Dialer<u32, T, H::Runtime>,
    peer: u32,
    addrs: Vec<Multiaddr>,
    give_up: Instant,
) -> (Result<Multiaddr, Error>, usize) {
    let runtime = H::Runtime::default();
    let mut retries = 0;
    loop {
        match dialer.dial(peer, addrs.clone()).await {
            // The connection is dropped (closed) at once.
            Ok(dialed) => return (Ok(dialed.addr), retries),
            // A request of names alone finds the pool empty only once resolved (R-N1).
            Err(
                Error::Refused(DialRefused::NoTokens) | Error::Failed(DialFailed::NoTokens { .. }),
            ) if runtime.now() < give_up => {
                retries += 1;
                // The caller's own back-off, spread so that retries do not come in waves.
                let jitter = u64::from(peer.wrapping_mul(7_919).wrapping_add(retries as u32) % 20);
                runtime.sleep_until(runtime.now() + ms(5 + jitter)).await;
            }
            Err(e) => return (Err(e), retries),
        }
    }
}

fn run<H: Harness>() -> Figures {
    H::block_on(async {
        let peers = Peers::new();

        let fds_before = warm_up::<H>(&peers).await;

        let (transport, log) = Recording::new(H::tcp());
        // Every request dials its bad addresses: no deny list, no learned order.
        let config = Config::default()
            .with_max_tokens(MAX_TOKENS)
            .with_address_timeout(ms(300))
            .with_dial_timeout(Duration::from_secs(5))
            .with_deny_list_capacity(0)
            .with_confidence_capacity(0);
        let dialer = H::dialer(config, transport);

        let start = Instant::now();
        let give_up = H::Runtime::default().now() + RETRY_FOR;
        let mut expected = Vec::new();
        let callers = (0..REQUESTS).map(|i| {
            let (addrs, expect) = peers.addrs(i);
            expected.push((addrs.clone(), expect));
            caller::<H, _>(dialer.clone(), i, addrs, give_up)
        });
        let outcomes = within::<H, _>(LIMIT, "every request", future::join_all(callers)).await;
        let elapsed = start.elapsed();

        let mut figures = Figures {
            runtime: H::NAME,
            elapsed,
            fds_before,
            ..Figures::default()
        };
        let mut per_listener: HashMap<u16, usize> = HashMap::new();
        for ((outcome, retries), (addrs, expect)) in outcomes.into_iter().zip(&expected) {
            figures.no_tokens_retries += retries;
            match (outcome, expect) {
                (Ok(addr), Expect::Connect) => {
                    assert!(peers.won(addrs, &addr), "{addr} not among {addrs:?}");
                    let port = peers
                        .good
                        .iter()
                        .find(|g| g.multiaddr() == addr || g.dns_multiaddr() == addr)
                        .map(Listener::port)
                        .expect("a good peer won");
                    *per_listener.entry(port).or_default() += 1;
                    figures.connected += 1;
                }
                // A request of names alone asks the pool once its names resolved (R-N1):
                // an empty pool then ends it with `DialFailed::NoTokens`, not a refusal.
                (
                    Err(
                        Error::Refused(DialRefused::NoTokens)
                        | Error::Failed(DialFailed::NoTokens { .. }),
                    ),
                    _,
                ) => figures.no_tokens_final += 1,
                (Err(Error::Failed(DialFailed::AllFailed { attempts })), Expect::Fail) => {
                    assert_eq!(attempts.len(), addrs.len(), "{attempts:?}");
                    figures.failed += 1;
                }
                (Err(Error::Failed(DialFailed::Timeout { .. })), Expect::Fail) => {
                    figures.timed_out += 1;
                }
                (outcome, expect) => {
                    panic!(
                        "{}: {addrs:?} expected {expect:?}, got {:?}",
                        H::NAME,
                        outcome.map_err(|e| e.to_string())
                    )
                }
            }
        }

        // R-T6: the most sockets in flight (no high-priority request here).
        figures.max_connecting = log.connecting.max();
        figures.max_attempts = log.attempts.max();
        let stats = dialer.stats().await.expect("driver running");
        assert_eq!(stats.tokens_in_use, 0);
        assert_eq!(stats.dials_in_flight, 0);
        drop(dialer);

        // Every dial future and connection gone, every connection the good peers accepted
        // closed on their side too: then the descriptors are back to the baseline.
        all_dropped::<H>(&log).await;
        for good in &peers.good {
            let expected = per_listener.get(&good.port()).copied().unwrap_or(0);
            // The warm-up connection of the first listener counts too.
            let warm = usize::from(good.port() == peers.good[0].port());
            assert_eq!(
                good.wait_for_accepts(expected + warm, LIMIT),
                expected + warm,
                "{}: accepts of {}",
                H::NAME,
                good.addr()
            );
        }
        for pit in &peers.pits {
            assert_eq!(pit.pending_connects().expect("/proc/net/tcp"), 0);
        }
        figures.fds_after = open_fds().expect("/proc/self/fd");
        figures
    })
}

/// The soft limit on open descriptors, from `/proc/self/limits`.
fn fd_limit() -> Option<usize> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn run_everywhere() -> [Figures; 3] {
    // The pool caps the sockets this test opens at 64 in flight, plus a connection per
    // winning request until its caller drops it and one per peer: far below the usual
    // soft limit of 1,024.
    let limit = fd_limit();
    if let Some(limit) = limit {
        assert!(
            limit >= 512,
            "RLIMIT_NOFILE soft limit {limit} is too low: raise it (ulimit -n)"
        );
    }
    let runs = [run::<Tokio>(), run::<AsyncStd>(), run::<Smol>()];
    for f in &runs {
        println!(
            "load [{}]: {REQUESTS} requests, max_tokens {MAX_TOKENS}: max connecting {}, \
             max dial futures alive {}, connected {}, all failed {}, timed out {}, \
             NoTokens retries {}, gave up on NoTokens {}, elapsed {:?}, fds before {} after {} \
             (limit {limit:?})",
            f.runtime,
            f.max_connecting,
            f.max_attempts,
            f.connected,
            f.failed,
            f.timed_out,
            f.no_tokens_retries,
            f.no_tokens_final,
            f.elapsed,
            f.fds_before,
            f.fds_after,
        );
    }
    runs
}

// R-T4, R-R5, R-A1: under load every request ends with a connection or the typed error
// its addresses call for, and no descriptor is left behind.
// R-T6: tokens cap the sockets in flight: the driver drops an aborted attempt (and its
// socket) before the freed token dials again.
#[test]
fn two_thousand_requests_through_64_tokens() {
    for f in run_everywhere() {
        assert!(
            f.max_connecting <= MAX_TOKENS,
            "{}: {} sockets connecting at once",
            f.runtime,
            f.max_connecting
        );
        assert!(
            f.max_attempts <= MAX_TOKENS,
            "{}: {} dial futures (sockets) alive at once",
            f.runtime,
            f.max_attempts
        );
        let ended = f.connected + f.failed + f.timed_out + f.no_tokens_final;
        assert_eq!(ended, REQUESTS as usize, "{}", f.runtime);
        assert!(f.connected > 0 && f.failed > 0, "{f:?}");
        assert_eq!(
            f.fds_after, f.fds_before,
            "{}: descriptors leaked",
            f.runtime
        );
    }
    ten_thousand_requests_wait_for_100_tokens();
}

/// The figures of the run with waiting on.
#[derive(Debug, Default)]
struct WaitFigures {
    max_connecting: usize,
    connected: usize,
    failed: usize,
    no_tokens_in_time: usize,
    no_tokens: usize,
    /// Requests of names alone that found the queue full once resolved (R-N1): they
    /// started, so they fail (`DialFailed::NoTokens`) rather than being refused.
    no_tokens_after_names: usize,
    queued: u64,
    refused_no_tokens: u64,
    elapsed: Duration,
    fds_before: usize,
    fds_after: usize,
}

const WAIT_REQUESTS: u32 = 10_000;
const WAIT_TOKENS: usize = 100;
const WAIT_QUEUE: usize = 1_000;

/// 10,000 requests at once through 100 tokens with a queue of 1,000 (R-Q1), on tokio:
/// each request is made once (no retry), so what is refused is what the full queue
/// refused.
fn run_waiting() -> WaitFigures {
    Tokio::block_on(async {
        let peers = Peers::new();
        let fds_before = warm_up::<Tokio>(&peers).await;
        let (transport, log) = Recording::new(Tokio::tcp());
        let config = Config::default()
            .with_max_tokens(WAIT_TOKENS)
            .with_address_timeout(ms(300))
            .with_dial_timeout(Duration::from_secs(60))
            .with_deny_list_capacity(0)
            .with_confidence_capacity(0)
            .with_wait_for_tokens(Some(WaitForTokens {
                queue: WAIT_QUEUE,
                max_wait: Duration::from_secs(60),
            }));
        let dialer = Tokio::dialer(config, transport);
        let start = Instant::now();
        let mut expected = Vec::new();
        let calls = (0..WAIT_REQUESTS).map(|i| {
            let (addrs, expect) = peers.addrs(i);
            expected.push((addrs.clone(), expect));
            let dialer = dialer.clone();
            async move { dialer.dial(i, addrs).await.map(|d| d.addr) }
        });
        let outcomes = within::<Tokio, _>(LIMIT, "every request", future::join_all(calls)).await;
        let mut f = WaitFigures {
            elapsed: start.elapsed(),
            fds_before,
            ..WaitFigures::default()
        };
        for (outcome, (addrs, expect)) in outcomes.into_iter().zip(&expected) {
            match (outcome, expect) {
                (Ok(addr), Expect::Connect) => {
                    assert!(peers.won(addrs, &addr), "{addr} not among {addrs:?}");
                    f.connected += 1;
                }
                (Err(Error::Refused(DialRefused::NoTokens)), _) => f.no_tokens += 1,
                (Err(Error::Failed(DialFailed::NoTokens { .. })), _) => {
                    f.no_tokens_after_names += 1;
                }
                (Err(Error::Failed(DialFailed::NoTokensInTime { .. })), _) => {
                    f.no_tokens_in_time += 1
                }
                (
                    Err(Error::Failed(DialFailed::AllFailed { .. } | DialFailed::Timeout { .. })),
                    Expect::Fail,
                ) => f.failed += 1,
                (outcome, expect) => panic!(
                    "{addrs:?} expected {expect:?}, got {:?}",
                    outcome.map_err(|e| e.to_string())
                ),
            }
        }
        f.max_connecting = log.connecting.max();
        let stats = dialer.stats().await.expect("driver running");
        f.queued = stats.requests_queued;
        f.refused_no_tokens = stats.requests_rejected_no_tokens;
        assert_eq!(stats.tokens_in_use, 0);
        assert_eq!(stats.requests_waiting, 0);
        drop(dialer);
        all_dropped::<Tokio>(&log).await;
        for pit in &peers.pits {
            assert_eq!(pit.pending_connects().expect("/proc/net/tcp"), 0);
        }
        f.fds_after = open_fds().expect("/proc/self/fd");
        f
    })
}

// R-Q1, R-T6, R-A1: with waiting on, the pool still caps the sockets, a request is
// refused only once the queue is full, every waiting request is served or times out,
// and no descriptor is left behind. Run after the fail-fast runs, in the same test: the
// descriptor counts need the process to themselves.
fn ten_thousand_requests_wait_for_100_tokens() {
    let f = run_waiting();
    println!(
        "load with waiting [tokio]: {WAIT_REQUESTS} requests, max_tokens {WAIT_TOKENS}, \
         queue {WAIT_QUEUE}: max connecting {}, connected {}, failed {}, waited too long {}, \
         NoTokens {} (and {} after resolving), queued {}, elapsed {:?}, fds before {} after {}",
        f.max_connecting,
        f.connected,
        f.failed,
        f.no_tokens_in_time,
        f.no_tokens,
        f.no_tokens_after_names,
        f.queued,
        f.elapsed,
        f.fds_before,
        f.fds_after
    );
    assert!(f.max_connecting <= WAIT_TOKENS, "{f:?}");
    assert_eq!(
        f.connected + f.failed + f.no_tokens_in_time + f.no_tokens + f.no_tokens_after_names,
        WAIT_REQUESTS as usize
    );
    // All requests arrive at once and none retries: the queue took its 1,000 before a
    // single one was refused, and every refusal is one the core counted as a full queue.
    assert!(f.queued >= WAIT_QUEUE as u64, "{f:?}");
    assert_eq!(f.no_tokens as u64, f.refused_no_tokens);
    assert!(
        f.no_tokens <= WAIT_REQUESTS as usize - WAIT_QUEUE,
        "refused before the queue was full: {f:?}"
    );
    assert_eq!(f.no_tokens_in_time, 0, "a 60 s wait is long enough: {f:?}");
    assert_eq!(f.fds_after, f.fds_before, "descriptors leaked");
}
