//! The adapters on real loopback sockets, each against a baseline measured in the same
//! run: samples of ours and of the baseline alternate (ABAB… for latencies, ABBA for
//! throughput runs), so that machine noise lands on both alike and only ratios are
//! reported.
//!
//! Every socket here is on `127.0.0.1`: the peers come from `dialer_testing`, which
//! refuses to bind anything but loopback.

#![forbid(unsafe_code)]

use std::error::Error;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialer_core::{Config, Multiaddr};
use dialer_testing::{Listener, Tarpit};

use crate::summary::median;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Latency pairs (one dial + one raw connect) per runtime.
    pub(crate) connect_pairs: usize,
    /// Requests per throughput run, and the permits / tokens bounding them.
    pub(crate) throughput_requests: usize,
    pub(crate) throughput_parallel: usize,
    /// Throughput runs of each kind (ours, raw), in ABBA order.
    pub(crate) throughput_runs: usize,
    /// Fresh dialers timed against the black hole.
    pub(crate) blackhole_runs: usize,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Self {
        Self {
            connect_pairs: if quick { 400 } else { 3_000 },
            throughput_requests: 10_000,
            throughput_parallel: 100,
            throughput_runs: if quick { 2 } else { 4 },
            blackhole_runs: if quick { 5 } else { 21 },
        }
    }
}

/// Our median against the baseline's, side by side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) ours_us: f64,
    pub(crate) raw_us: f64,
    pub(crate) samples: usize,
}

impl Latency {
    pub(crate) fn ratio(&self) -> f64 {
        self.ours_us / self.raw_us
    }

    fn of(mut ours: Vec<f64>, mut raw: Vec<f64>) -> Self {
        Self {
            samples: ours.len(),
            ours_us: median(&mut ours),
            raw_us: median(&mut raw),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    /// Connections per second, median over the runs.
    pub(crate) ours_cps: f64,
    pub(crate) raw_cps: f64,
    /// Ours with waiting on (R-Q1): twice `parallel` requests at once through `parallel`
    /// tokens and a queue of `parallel`, so half of them wait for a token.
    pub(crate) waiting_cps: f64,
    pub(crate) requests: usize,
    pub(crate) parallel: usize,
    pub(crate) runs: usize,
}

impl Throughput {
    pub(crate) fn ratio(&self) -> f64 {
        self.ours_cps / self.raw_cps
    }

    /// Waiting on against the semaphore of `parallel` permits.
    pub(crate) fn waiting_ratio(&self) -> f64 {
        self.waiting_cps / self.raw_cps
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Blackhole {
    pub(crate) median_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) runs: usize,
}

/// Listeners shared by every measurement: several, so that 10,000 connections do not all
/// need distinct ephemeral ports towards one listening port (TIME_WAIT).
struct Peers {
    listeners: Vec<Listener>,
}

impl Peers {
    fn new(count: usize) -> Result<Self> {
        // `closing`: accept, greet, close. The peer keeps no descriptor per connection.
        let listeners = (0..count)
            .map(|_| Listener::closing())
            .collect::<std::io::Result<_>>()?;
        Ok(Self { listeners })
    }

    fn socket(&self, i: usize) -> SocketAddr {
        self.listeners[i % self.listeners.len()].addr()
    }

    fn multiaddr(&self, i: usize) -> Multiaddr {
        self.listeners[i % self.listeners.len()].multiaddr()
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn tokio_runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime> {
    // Multi-threaded with one worker per core is what an application built on tokio runs;
    // the current-thread runtime is a diagnostic (no cross-thread wake-ups).
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(builder.enable_all().build()?)
}

/// Connects to nothing, at once: `dial` through it costs the driver's round trip (caller
/// → driver task, which polls the attempt itself → caller) and the core, and no I/O at
/// all.
struct InstantTransport;

impl dialer_driver::Transport for InstantTransport {
    type Output = ();
    type Error = std::io::Error;
    type Dial = std::future::Ready<std::io::Result<()>>;

    fn can_dial(&self, _: &Multiaddr) -> bool {
        true
    }

    fn dial(&self, _: &Multiaddr) -> Self::Dial {
        std::future::ready(Ok(()))
    }
}

/// Median `dial` to one good address ÷ median raw `TcpStream::connect`, on tokio.
fn tokio_connect(plan: &Plan, peers: &Peers, multi_thread: bool) -> Result<Latency> {
    let rt = tokio_runtime(multi_thread)?;
    let socket = peers.socket(0);
    let addr = peers.multiaddr(0);
    let pairs = plan.connect_pairs;
    // Measured from a task (on a worker, like application code), not from `block_on`.
    let task = rt.spawn(async move {
        let dialer = dialer_tokio::Dialer::<u64>::new(
            Config::default(),
            dialer_tokio::TcpTransport::default(),
        )?;
        interleaved(
            pairs,
            |i| {
                let (dialer, addr) = (&dialer, addr.clone());
                async move { dialer.dial(i, [addr]).await.map_err(Into::into) }
            },
            || async move {
                let stream = tokio::net::TcpStream::connect(socket).await;
                stream.map_err(Into::into)
            },
        )
        .await
    });
    rt.block_on(task)?
}

/// `pairs` timed pairs (after a 10 % warm-up) of one `dial` through our dialer and one raw
/// connect, alternating which goes first so that noise lands on both; each connection is
/// dropped as soon as it is timed.
async fn interleaved<O, OF, A, R, RF, B>(pairs: usize, mut ours: O, mut raw: R) -> Result<Latency>
where
    O: FnMut(u64) -> OF,
    OF: Future<Output = Result<A>>,
    R: FnMut() -> RF,
    RF: Future<Output = Result<B>>,
{
    let mut ours_us = Vec::with_capacity(pairs);
    let mut raw_us = Vec::with_capacity(pairs);
    let warmup = pairs / 10 + 10;
    for i in 0..warmup + pairs {
        let ours_first = i % 2 == 0;
        let mut pair = [0.0; 2];
        for step in 0..2 {
            let start = Instant::now();
            // The connection is dropped only after the clock is read.
            if (step == 0) == ours_first {
                let dialed = ours(i as u64).await?;
                pair[0] = us(start.elapsed());
                drop(dialed);
            } else {
                let stream = raw().await?;
                pair[1] = us(start.elapsed());
                drop(stream);
            }
        }
        if i >= warmup {
            ours_us.push(pair[0]);
            raw_us.push(pair[1]);
        }
    }
    Ok(Latency::of(ours_us, raw_us))
}

/// Median `dial` through [`InstantTransport`] on the multi-threaded tokio runtime, µs.
fn tokio_instant(plan: &Plan) -> Result<f64> {
    let rt = tokio_runtime(true)?;
    let pairs = plan.connect_pairs;
    let addr = Multiaddr::empty().with(multiaddr::Protocol::Memory(1));
    let task = rt.spawn(async move {
        let dialer = dialer_driver::Dialer::<u64, _, dialer_tokio::TokioRuntime>::new(
            Config::default(),
            InstantTransport,
        )?;
        let warmup = pairs / 10 + 10;
        let mut times = Vec::with_capacity(pairs);
        for i in 0..warmup + pairs {
            let start = Instant::now();
            let dialed = dialer.dial(i as u64, [addr.clone()]).await?;
            if i >= warmup {
                times.push(us(start.elapsed()));
            }
            drop(dialed);
        }
        Ok::<_, Box<dyn Error + Send + Sync>>(median(&mut times))
    });
    rt.block_on(task)?
}

/// The same on async-std.
fn async_std_connect(plan: &Plan, peers: &Peers) -> Result<Latency> {
    let socket = peers.socket(1);
    let addr = peers.multiaddr(1);
    let pairs = plan.connect_pairs;
    let task = async_std::task::spawn(async move {
        let dialer = dialer_async_std::Dialer::<u64>::new(
            Config::default(),
            dialer_async_std::TcpTransport::default(),
        )?;
        interleaved(
            pairs,
            |i| {
                let (dialer, addr) = (&dialer, addr.clone());
                async move { dialer.dial(i, [addr]).await.map_err(Into::into) }
            },
            || async move {
                let stream = async_std::net::TcpStream::connect(socket).await;
                stream.map_err(Into::into)
            },
        )
        .await
    });
    async_std::task::block_on(task)
}

/// `requests` connections, at most `parallel` at once: through our dialer (whose pool of
/// `parallel` tokens is then never exhausted), or raw under a semaphore of as many
/// permits. Both spawn one task per request once a permit is free, so the only
/// difference is `dial` against `TcpStream::connect`. Returns connections per second.
async fn throughput_run(
    dialer: Option<&dialer_tokio::Dialer<u64>>,
    targets: &Arc<Vec<(SocketAddr, Multiaddr)>>,
    requests: usize,
    permits: usize,
    peer_base: u64,
) -> Result<f64> {
    let permits = Arc::new(tokio::sync::Semaphore::new(permits));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let targets = Arc::clone(targets);
        let dialer = dialer.cloned();
        tasks.push(tokio::spawn(async move {
            let (socket, addr) = &targets[i % targets.len()];
            let result: Result<()> = match dialer {
                Some(dialer) => match dialer.dial(peer_base + i as u64, [addr.clone()]).await {
                    // Dropped at once: the connection closes here.
                    Ok(_dialed) => Ok(()),
                    Err(e) => Err(e.into()),
                },
                None => match tokio::net::TcpStream::connect(socket).await {
                    Ok(_stream) => Ok(()),
                    Err(e) => Err(e.into()),
                },
            };
            drop(permit);
            result
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(requests as f64 / start.elapsed().as_secs_f64())
}

fn tokio_throughput(plan: &Plan, peers: &Peers) -> Result<Throughput> {
    let rt = tokio_runtime(true)?;
    let targets: Arc<Vec<(SocketAddr, Multiaddr)>> = Arc::new(
        (0..peers.listeners.len())
            .map(|i| (peers.socket(i), peers.multiaddr(i)))
            .collect(),
    );
    let plan = *plan;
    let task = rt.spawn(async move {
        let parallel = plan.throughput_parallel;
        let config = Config::default().with_max_tokens(parallel);
        let dialer = dialer_tokio::Dialer::<u64>::new(
            config.clone(),
            dialer_tokio::TcpTransport::default(),
        )?;
        let waiting = dialer_tokio::Dialer::<u64>::new(
            config.with_wait_for_tokens(Some(dialer_core::WaitForTokens {
                queue: parallel,
                max_wait: std::time::Duration::from_secs(30),
            })),
            dialer_tokio::TcpTransport::default(),
        )?;
        let (mut ours, mut raw, mut wait) = (Vec::new(), Vec::new(), Vec::new());
        let mut peer_base = 0u64;
        // ABCCBA: ours, raw, waiting, waiting, raw, ours, …
        for i in 0..3 * plan.throughput_runs {
            let arm = [0, 1, 2, 2, 1, 0][i % 6];
            let (with, permits) = match arm {
                0 => (Some(&dialer), parallel),
                1 => (None, parallel),
                _ => (Some(&waiting), 2 * parallel),
            };
            let cps = throughput_run(with, &targets, plan.throughput_requests, permits, peer_base)
                .await?;
            peer_base += plan.throughput_requests as u64;
            [&mut ours, &mut raw, &mut wait][arm].push(cps);
        }
        Ok::<_, Box<dyn Error + Send + Sync>>(Throughput {
            ours_cps: median(&mut ours),
            raw_cps: median(&mut raw),
            waiting_cps: median(&mut wait),
            requests: plan.throughput_requests,
            parallel: plan.throughput_parallel,
            runs: plan.throughput_runs,
        })
    });
    rt.block_on(task)?
}

/// One request, three tarpit addresses first and the good one last, default config (4
/// tokens): time to connect, on a fresh dialer each run.
fn tokio_blackhole(plan: &Plan, peers: &Peers) -> Result<Blackhole> {
    let rt = tokio_runtime(true)?;
    let tarpits = [Tarpit::new()?, Tarpit::new()?, Tarpit::new()?];
    let mut addrs: Vec<Multiaddr> = tarpits.iter().map(Tarpit::multiaddr).collect();
    addrs.push(peers.multiaddr(2));
    let good = peers.multiaddr(2);
    let runs = plan.blackhole_runs;
    let task = rt.spawn(async move {
        let mut times = Vec::with_capacity(runs);
        for run in 0..runs {
            let dialer = dialer_tokio::Dialer::<u64>::new(
                Config::default(),
                dialer_tokio::TcpTransport::default(),
            )?;
            let start = Instant::now();
            let dialed = dialer.dial(run as u64, addrs.clone()).await?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
            if dialed.addr != good {
                return Err(format!("black hole run won by {}", dialed.addr).into());
            }
        }
        Ok::<_, Box<dyn Error + Send + Sync>>(times)
    });
    let mut times = rt.block_on(task)??;
    drop(tarpits);
    let max_ms = times.iter().copied().fold(0.0, f64::max);
    Ok(Blackhole {
        median_ms: median(&mut times),
        max_ms,
        runs,
    })
}

/// Everything of this section; each figure fails on its own.
pub(crate) struct Figures {
    pub(crate) tokio_connect: Result<Latency>,
    /// Diagnostics, not named figures: the same on a current-thread runtime, and a dial
    /// that does no I/O at all.
    pub(crate) tokio_connect_current_thread: Result<Latency>,
    pub(crate) tokio_instant_us: Result<f64>,
    pub(crate) async_std_connect: Result<Latency>,
    pub(crate) tokio_throughput: Result<Throughput>,
    pub(crate) tokio_blackhole: Result<Blackhole>,
}

pub(crate) fn run(plan: Plan) -> Result<Figures> {
    let peers = Peers::new(8)?;
    Ok(Figures {
        tokio_connect: tokio_connect(&plan, &peers, true),
        tokio_connect_current_thread: tokio_connect(&plan, &peers, false),
        tokio_instant_us: tokio_instant(&plan),
        async_std_connect: async_std_connect(&plan, &peers),
        tokio_throughput: tokio_throughput(&plan, &peers),
        tokio_blackhole: tokio_blackhole(&plan, &peers),
    })
}
