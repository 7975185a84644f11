//! The demo: dial a population of loopback peers for several rounds and watch the dialer
//! learn.
//!
//! ```text
//! cargo run --release -p dialer-tokio --example demo
//! cargo run --release -p dialer-tokio --example demo -- --metrics 127.0.0.1:9898
//! ```
//!
//! With `--metrics ADDR` (a loopback address) it serves the dialers' Prometheus metrics
//! (R-O3) at `http://ADDR/metrics` while it runs, each dialer's series labelled with its
//! `run`; `docs/metrics.md` says what each metric means.
//!
//! It starts four loopback peers of its own (one that accepts, one that refuses, a tarpit
//! whose connects hang, and one that answers slowly) and gives each of 64 simulated peers
//! its own addresses on them (distinct through their `/p2p/…` suffix, as libp2p addresses
//! are), in a deliberately unhelpful order. About one peer in seven cannot be reached at all.
//! Then it dials every peer, 16 at a time, for several rounds, three times: with the
//! default configuration (every address of a request in parallel, except that an address
//! the dialer has seen connect gets a head start), with the head start off (the seed's
//! parallel start everywhere), and with a 250 ms stagger; and prints per round: time to connect, dials per connection, first-try wins, dials in
//! flight, and how many peers have their good address ranked first. Last, backoff at work:
//! unreachable peers dialed every 250 ms, whose dials thin out as their deny time grows.
//!
//! The transport is TCP plus a one-byte "handshake" (the peer's greeting), the way a
//! libp2p dial is TCP plus a security handshake: it makes a slow peer slow, and it shows
//! the transport is pluggable (R-A3).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialer_testing::{Listener, MetricsServer, Refusing, Tarpit};
use dialer_tokio::{
    Config, ConfigError, DialRefused, Dialer, Error, Multiaddr, TcpTransport, TokioRuntime,
    Transport,
};
use futures::future::BoxFuture;
use futures::StreamExt;
use multiaddr::{multihash::Multihash, PeerId, Protocol};
use prometheus_client::registry::Registry;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const PEERS: usize = 64;
const ROUNDS: usize = 4;
const CONCURRENCY: usize = 16;
const SLOW_GREETING: Duration = Duration::from_millis(150);

/// What each loopback peer does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Good,
    Slow,
    Refusing,
    Tarpit,
}

/// TCP plus waiting for the peer's one-byte greeting; records what it dials.
#[derive(Clone, Default)]
struct HandshakeTcp {
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    /// First address dialed per peer in the current round.
    first: Arc<Mutex<HashMap<PeerId, Multiaddr>>>,
}

/// Decrements the in-flight gauge when a dial ends or is aborted (its future dropped).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Transport for HandshakeTcp {
    type Output = TcpStream;
    type Error = io::Error;
    type Dial = BoxFuture<'static, io::Result<TcpStream>>;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        TcpTransport::default().can_dial(addr)
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        if let Some(peer) = peer_of(addr) {
            let mut first = self.first.lock().expect("not poisoned");
            first.entry(peer).or_insert_with(|| addr.clone());
        }
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        let guard = InFlight(Arc::clone(&self.in_flight));
        let connect = TcpTransport::default().dial(addr);
        Box::pin(async move {
            let _guard = guard;
            let mut stream = connect.await.map_err(|e| {
                // Keep the socket error's kind, so that its class (refused, timed out)
                // reaches the core and the metrics' `error` label.
                let kind = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<io::Error>())
                    .map_or(io::ErrorKind::Other, io::Error::kind);
                io::Error::new(kind, e)
            })?;
            let mut greeting = [0u8; 1];
            stream.read_exact(&mut greeting).await?;
            Ok(stream)
        })
    }
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// A deterministic peer id for peer `i` (a sha2-256 multihash of made-up bytes).
fn peer_id(i: usize) -> PeerId {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    let hash = Multihash::wrap(0x12, &digest).expect("32 bytes fit");
    PeerId::from_multihash(hash).expect("sha2-256 multihash is a valid peer id")
}

/// xorshift64*: a tiny seeded generator, so every run builds the same population.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Peer {
    id: PeerId,
    addrs: Vec<(Kind, Multiaddr)>,
}

impl Peer {
    fn good(&self) -> Option<&Multiaddr> {
        self.addrs
            .iter()
            .find(|(k, _)| *k == Kind::Good)
            .map(|(_, a)| a)
    }
}

fn population(sockets: &HashMap<Kind, Multiaddr>) -> Vec<Peer> {
    let mut rng = Rng(0x5EED_D1A1);
    let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse().expect("valid");
    (0..PEERS)
        .map(|i| {
            let id = peer_id(i);
            let reachable = rng.below(7) != 0;
            let mut kinds = vec![];
            if reachable {
                kinds.push(Kind::Good);
            }
            for bad in [Kind::Tarpit, Kind::Refusing, Kind::Slow] {
                if rng.below(3) != 0 && (reachable || bad != Kind::Slow) {
                    kinds.push(bad);
                }
            }
            if kinds.is_empty() {
                kinds.push(Kind::Tarpit);
            }
            // Shuffle, then make sure a good address is rarely first in the caller's order.
            for j in (1..kinds.len()).rev() {
                kinds.swap(j, rng.below(j + 1));
            }
            if kinds.len() > 1 && kinds[0] == Kind::Good {
                kinds.rotate_left(1);
            }
            let mut addrs: Vec<(Kind, Multiaddr)> = kinds
                .into_iter()
                .map(|k| (k, sockets[&k].clone().with(Protocol::P2p(id))))
                .collect();
            if rng.below(4) == 0 {
                // Not TCP: the core drops it before spending a token (R-A2).
                addrs.push((Kind::Refusing, quic.clone().with(Protocol::P2p(id))));
            }
            Peer { id, addrs }
        })
        .collect()
}

#[derive(Default)]
struct Round {
    ok: usize,
    failed: usize,
    no_address: usize,
    first_try: usize,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// The registry `--metrics` serves, if it was given.
type Metrics = Option<Arc<Mutex<Registry>>>;

/// A dialer, with its metrics registered under the label `run="{run}"` when `--metrics`
/// was given.
fn dialer<T: Transport>(
    config: Config,
    transport: T,
    metrics: &Metrics,
    run: &'static str,
) -> Result<Dialer<PeerId, T>, ConfigError> {
    let Some(registry) = metrics else {
        return Dialer::new(config, transport);
    };
    let mut registry = registry.lock().expect("not poisoned");
    let registry = registry.sub_registry_with_label((Cow::Borrowed("run"), Cow::Borrowed(run)));
    Dialer::with_metrics(config, transport, TokioRuntime, registry)
}

/// `--metrics ADDR`, if given: where to serve the metrics.
fn metrics_flag() -> Result<Option<SocketAddr>, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--metrics" => {
                let value = args
                    .next()
                    .ok_or("--metrics needs an address, e.g. 127.0.0.1:9898")?;
                let parsed: SocketAddr = value.parse()?;
                if !parsed.ip().is_loopback() {
                    return Err(
                        format!("--metrics {parsed}: the demo serves on loopback only").into(),
                    );
                }
                addr = Some(parsed);
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: demo [--metrics 127.0.0.1:PORT]"
                )
                .into())
            }
        }
    }
    Ok(addr)
}

async fn run(
    label: &str,
    run: &'static str,
    config: Config,
    peers: &[Peer],
    metrics: &Metrics,
) -> Result<(), Box<dyn std::error::Error>> {
    let transport = HandshakeTcp::default();
    let dialer = dialer(config, transport.clone(), metrics, run)?;
    println!("\n## {label}");
    println!(
        "round | connected | failed | skipped | p50 ms | p99 ms | dials/conn | first try | peak in flight | fast addr first"
    );
    let reachable = peers.iter().filter(|p| p.good().is_some()).count();
    for round in 1..=ROUNDS {
        transport.first.lock().expect("not poisoned").clear();
        transport.peak.store(0, Ordering::Relaxed);
        let before = dialer.stats().await?;
        let results: Vec<_> = futures::stream::iter(peers)
            .map(|peer| {
                let dialer = dialer.clone();
                async move {
                    let started = Instant::now();
                    let addrs = peer.addrs.iter().map(|(_, a)| a.clone());
                    let result = dialer.dial(peer.id, addrs).await;
                    (peer.id, result.map(|d| (d.addr, started.elapsed())))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let after = dialer.stats().await?;
        let first = transport.first.lock().expect("not poisoned").clone();
        let mut r = Round::default();
        for (peer, result) in results {
            match result {
                Ok((addr, elapsed)) => {
                    r.ok += 1;
                    r.latencies.push(elapsed);
                    if first.get(&peer) == Some(&addr) {
                        r.first_try += 1;
                    }
                }
                Err(Error::Refused(
                    DialRefused::NoDialableAddresses { .. } | DialRefused::BackedOff { .. },
                )) => r.no_address += 1,
                Err(_) => r.failed += 1,
            }
        }
        r.latencies.sort();
        let dials = after.dials_started - before.dials_started;
        let confidence: HashMap<Multiaddr, u8> =
            dialer.export_confidence().await?.into_iter().collect();
        let conf = |a: &Multiaddr| confidence.get(a).copied().unwrap_or(1);
        let ranked_first = peers
            .iter()
            .filter_map(|p| p.good().map(|g| (p, g)))
            .filter(|(p, g)| p.addrs.iter().all(|(_, a)| a == *g || conf(a) < conf(g)))
            .count();
        println!(
            "{round:>5} | {:>9} | {:>6} | {:>7} | {:>6.1} | {:>6.1} | {:>10.2} | {:>8.0}% | {:>14} | {:>10}/{reachable}",
            r.ok,
            r.failed,
            r.no_address,
            percentile(&r.latencies, 0.5),
            percentile(&r.latencies, 0.99),
            dials as f64 / r.ok.max(1) as f64,
            100.0 * r.first_try as f64 / r.ok.max(1) as f64,
            transport.peak.load(Ordering::Relaxed),
            ranked_first,
        );
        assert_eq!(after.tokens_in_use, 0, "every token is back after a round");
    }
    let stats = dialer.stats().await?;
    println!(
        "totals: {} requests, {} succeeded, {} failed, {} timed out, {} rejected (nothing dialable); \
         dials: {} started, {} failed, {} timed out ({} cut short by the adaptive timeout), {} aborted; \
         {} addresses pruned; tokens in use now: {}",
        stats.requests_started + stats.requests_rejected_no_addresses,
        stats.requests_succeeded,
        stats.requests_failed,
        stats.requests_timed_out,
        stats.requests_rejected_no_addresses,
        stats.dials_started,
        stats.dials_failed,
        stats.dials_timed_out,
        stats.dials_cut,
        stats.dials_aborted,
        stats.addresses_pruned,
        stats.tokens_in_use,
    );
    Ok(())
}

/// Backoff at work (R-D4): peers whose only address refuses, dialed every 250 ms. With a
/// fixed deny time every round dials them again; with a growing one the dials thin out.
async fn backoff(
    refusing: &Multiaddr,
    metrics: &Metrics,
) -> Result<(), Box<dyn std::error::Error>> {
    const UNREACHABLE: usize = 8;
    const BACKOFF_ROUNDS: usize = 10;
    let gap = Duration::from_millis(250);
    let peers: Vec<(PeerId, Multiaddr)> = (0..UNREACHABLE)
        .map(|i| {
            let id = peer_id(1_000 + i);
            (id, refusing.clone().with(Protocol::P2p(id)))
        })
        .collect();
    println!(
        "\n## backoff: {UNREACHABLE} unreachable peers (their one address refuses), dialed every {gap:?}"
    );
    println!("deny 200 ms that grows 8-fold with each failure in a row (the default growth) against a fixed 200 ms (the seed)");
    println!("round | dials (growing) | backed off (growing) | dials (fixed) | backed off (fixed)");
    let config = |growth| {
        Config::default()
            .with_deny_duration(Duration::from_millis(200))
            .with_deny_growth(growth)
            .with_deny_max(Duration::from_secs(2))
    };
    let growing = dialer(
        config(8),
        TcpTransport::default(),
        metrics,
        "backoff_growing",
    )?;
    let fixed = dialer(config(1), TcpTransport::default(), metrics, "backoff_fixed")?;
    for round in 1..=BACKOFF_ROUNDS {
        let mut row = Vec::new();
        for dialer in [&growing, &fixed] {
            let before = dialer.stats().await?.dials_started;
            let results = futures::future::join_all(
                peers
                    .iter()
                    .map(|(id, addr)| dialer.dial(*id, [addr.clone()])),
            )
            .await;
            let backed_off = results
                .iter()
                .filter(|r| matches!(r, Err(Error::Refused(DialRefused::BackedOff { .. }))))
                .count();
            row.push((dialer.stats().await?.dials_started - before, backed_off));
        }
        println!(
            "{round:>5} | {:>15} | {:>20} | {:>13} | {:>18}",
            row[0].0, row[0].1, row[1].0, row[1].1
        );
        tokio::time::sleep(gap).await;
    }
    let (g, f) = (growing.stats().await?, fixed.stats().await?);
    println!(
        "dials to unreachable peers over {BACKOFF_ROUNDS} rounds: {} growing, {} fixed",
        g.dials_started, f.dials_started
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    // The server lives until `main` returns: the metrics are served while the demo runs.
    let served = match metrics_flag()? {
        Some(addr) => {
            let registry = Arc::new(Mutex::new(Registry::default()));
            let server = MetricsServer::serve(addr, Arc::clone(&registry))?;
            println!(
                "metrics: http://{}/metrics (while the demo runs)",
                server.addr()
            );
            Some((server, registry))
        }
        None => None,
    };
    let metrics: Metrics = served.as_ref().map(|(_, registry)| Arc::clone(registry));
    let good = Listener::closing()?;
    let slow = Listener::slow(SLOW_GREETING)?;
    let refusing = Refusing::new()?;
    let tarpit = Tarpit::new()?;
    let sockets = HashMap::from([
        (Kind::Good, good.multiaddr()),
        (Kind::Slow, slow.multiaddr()),
        (Kind::Refusing, refusing.multiaddr()),
        (Kind::Tarpit, tarpit.multiaddr()),
    ]);
    println!(
        "loopback peers: good {}, slow {} (greets after {SLOW_GREETING:?}), refusing {}, tarpit {}",
        sockets[&Kind::Good],
        sockets[&Kind::Slow],
        sockets[&Kind::Refusing],
        sockets[&Kind::Tarpit]
    );
    let peers = population(&sockets);
    let reachable = peers.iter().filter(|p| p.good().is_some()).count();
    let good_first = peers.iter().filter(|p| p.addrs[0].0 == Kind::Good).count();
    println!(
        "{PEERS} peers ({reachable} reachable, {} unreachable), {} addresses; caller order puts the good address first for {good_first}",
        PEERS - reachable,
        peers.iter().map(|p| p.addrs.len()).sum::<usize>(),
    );
    let base = Config::default()
        .with_address_timeout(Duration::from_secs(1))
        .with_dial_timeout(Duration::from_secs(3));
    run(
        "default: parallel start, and a head start for an address seen to connect",
        "default",
        base.clone(),
        &peers,
        &metrics,
    )
    .await?;
    let parallel = base.clone().with_head_start(None);
    run(
        "head start off: every address of a request at once, always (the seed design)",
        "head_start_off",
        parallel,
        &peers,
        &metrics,
    )
    .await?;
    let staggered = base.with_stagger(Some(Duration::from_millis(250)));
    run(
        "stagger 250 ms (happy eyeballs: next address after 250 ms, or at once on failure)",
        "stagger",
        staggered,
        &peers,
        &metrics,
    )
    .await?;
    println!(
        "\nHow to read it: in round 1 nothing is known, so every request dials all its addresses at \
         once and connects as fast as its best address allows. From round 2 on, by default, the \
         address that connected before dials alone for 150 % of its learned connect time (at \
         least 100 ms) and wins: one dial per connection, same latency. With the head start off, every \
         request keeps dialing all its addresses; the dials that lose are aborted and aborted \
         dials teach nothing (R-C4), so dials/conn stays above 1. Addresses that really fail are \
         pruned or deny-listed, so unreachable peers cost no dial after round 1 ('skipped'). With \
         a stagger, round 1 pays in latency, and a slower working address that won first can stay \
         ranked first, because confidence counts successes, not speed."
    );
    backoff(&sockets[&Kind::Refusing], &metrics).await?;
    println!("\ndone in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
