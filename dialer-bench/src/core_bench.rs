//! The core on its own: CPU time and allocations of one request lifecycle, and how that
//! cost changes with the number of requests in flight.
//!
//! One lifecycle is what a runtime does for a request that connects: `dial` with 4
//! addresses (4 tokens, 4 `StartDial`), drain, `poll_timeout`; one success report (3
//! `AbortDial`, tokens released, `Finished`), drain, `poll_timeout`. Time is simulated:
//! `now` moves 1 µs per lifecycle, so no background deadline ever passes.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use dialer_core::{Action, Config, DialId, DialOpts, Dialer, Event, Multiaddr};

use crate::addrs;
use crate::alloc_count;
use crate::summary::{mean, median};

/// Address sets the lifecycles cycle through (prebuilt: building a multiaddr allocates,
/// and that is the caller's cost, not the core's).
const ADDR_SETS: usize = 1024;
/// Background peers' ids start here, far above the lifecycles' ids.
const BACKGROUND_PEERS: u64 = 1 << 40;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) batches: usize,
    pub(crate) batch: usize,
    pub(crate) warmup: usize,
    pub(crate) alloc_lifecycles: usize,
    pub(crate) large_population: usize,
    pub(crate) small_population: usize,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Self {
        Self {
            batches: if quick { 60 } else { 400 },
            batch: 1_000,
            // Steady state: the core's timer queues keep stale entries until they outnumber
            // live ones, then sweep them (amortised O(1)). Until the first sweep a queue
            // still grows, and its reallocations would be charged to the lifecycles. With
            // 100,000 requests (400,000 dials) in flight that takes ~100,000 lifecycles.
            warmup: 150_000,
            alloc_lifecycles: if quick { 20_000 } else { 100_000 },
            large_population: 100_000,
            small_population: 100,
        }
    }
}

/// The figures of this section.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    /// Median ns per lifecycle with the small population in flight.
    pub(crate) ns_per_request: f64,
    /// Mean (all batches, amortised sweeps included) with the small population.
    pub(crate) ns_per_request_mean: f64,
    /// Median ns per lifecycle with the large population in flight.
    pub(crate) ns_per_request_large: f64,
    pub(crate) ns_per_request_large_mean: f64,
    pub(crate) allocs_per_request: f64,
    pub(crate) allocs_per_request_large: f64,
    pub(crate) scaling_ratio: f64,
    pub(crate) scaling_ratio_mean: f64,
    pub(crate) small_population: usize,
    pub(crate) large_population: usize,
    pub(crate) lifecycles_timed: usize,
}

/// A dialer with `population` requests in flight, each with 4 dials that never answer.
struct Bench {
    dialer: Dialer<u64>,
    sets: Vec<[Multiaddr; 4]>,
    now: Instant,
    next_peer: u64,
    tokens_in_background: usize,
}

impl Bench {
    fn new(population: usize, base: Instant) -> Self {
        // Room for the background and the lifecycle on top; everything else is default.
        // The lifecycle the figure is defined on starts all 4 dials at once, so the
        // head start (which would let an address that connected before dial alone
        // first) is off; everything else is the default.
        let config = Config::default()
            .with_max_tokens(population * 4 + 4)
            .with_head_start(None);
        let mut dialer = Dialer::new(config).expect("valid config");
        // Background addresses never answer and never report, so they never reach the
        // confidence table or the deny list; a modest set of them is shared.
        let background: Vec<Multiaddr> = (0..4096).map(|i| addrs::nth(100_000 + i)).collect();
        for i in 0..population {
            let peer = BACKGROUND_PEERS + i as u64;
            let set = (0..4).map(|k| background[(i * 4 + k) % background.len()].clone());
            dialer
                .dial(base, peer, set, DialOpts::default())
                .expect("background request starts");
            while dialer.poll_action().is_some() {}
            while dialer.poll_event().is_some() {}
        }
        let _ = dialer.poll_timeout();
        assert_eq!(dialer.requests_in_flight(), population);
        assert_eq!(dialer.dials_in_flight(), population * 4);
        let tokens_in_background = dialer.tokens_in_use();
        let sets = (0..ADDR_SETS)
            .map(|s| std::array::from_fn(|k| addrs::nth(s * 4 + k)))
            .collect();
        Self {
            dialer,
            sets,
            now: base,
            next_peer: 0,
            tokens_in_background,
        }
    }

    /// One request lifecycle; returns whether it went exactly as planned.
    fn lifecycle(&mut self) -> bool {
        self.now += Duration::from_micros(1);
        let now = self.now;
        let peer = self.next_peer;
        self.next_peer += 1;
        let set = &self.sets[(peer as usize) % ADDR_SETS];
        let dialer = &mut self.dialer;
        let Ok(dialing) = dialer.dial(now, peer, set.iter().cloned(), DialOpts::default()) else {
            return false;
        };
        let mut starts = 0;
        let mut last: Option<DialId> = None;
        while let Some(action) = dialer.poll_action() {
            if let Action::StartDial(start) = action {
                starts += 1;
                last = Some(start.dial);
            }
        }
        while let Some(event) = dialer.poll_event() {
            let _ = black_box(event);
        }
        black_box(dialer.poll_timeout());
        let Some(winner) = last else {
            return false;
        };
        if dialer.handle_dial_succeeded(now, winner).is_err() {
            return false;
        }
        let mut aborts = 0;
        while let Some(action) = dialer.poll_action() {
            if matches!(action, Action::AbortDial(_)) {
                aborts += 1;
            }
        }
        let mut finished = false;
        while let Some(event) = dialer.poll_event() {
            if let Event::Finished {
                caller: c,
                result: Ok(_),
                ..
            } = &event
            {
                finished = *c == dialing.caller;
            }
            let _ = black_box(event);
        }
        black_box(dialer.poll_timeout());
        starts == 4 && aborts == 3 && finished
    }

    /// Times `n` lifecycles; returns ns per lifecycle.
    fn batch(&mut self, n: usize) -> f64 {
        let start = Instant::now();
        let mut ok = true;
        for _ in 0..n {
            ok &= self.lifecycle();
        }
        let elapsed = start.elapsed();
        assert!(ok, "a lifecycle did not go as planned");
        assert_eq!(
            self.dialer.tokens_in_use(),
            self.tokens_in_background,
            "a lifecycle leaked tokens"
        );
        elapsed.as_nanos() as f64 / n as f64
    }

    /// Allocations per lifecycle over `n` lifecycles (after warm-up).
    fn allocs(&mut self, n: usize) -> f64 {
        let before = alloc_count::allocations();
        let mut ok = true;
        for _ in 0..n {
            ok &= self.lifecycle();
        }
        let after = alloc_count::allocations();
        assert!(ok, "a lifecycle did not go as planned");
        (after - before) as f64 / n as f64
    }
}

pub(crate) fn run(plan: Plan) -> Figures {
    let base = Instant::now();
    let mut small = Bench::new(plan.small_population, base);
    let mut large = Bench::new(plan.large_population, base);
    for _ in 0..plan.warmup {
        small.lifecycle();
        large.lifecycle();
    }
    // Interleave the two so that machine noise lands on both alike.
    let mut small_ns = Vec::with_capacity(plan.batches);
    let mut large_ns = Vec::with_capacity(plan.batches);
    for i in 0..plan.batches {
        if i % 2 == 0 {
            small_ns.push(small.batch(plan.batch));
            large_ns.push(large.batch(plan.batch));
        } else {
            large_ns.push(large.batch(plan.batch));
            small_ns.push(small.batch(plan.batch));
        }
    }
    let allocs_per_request = small.allocs(plan.alloc_lifecycles);
    let allocs_per_request_large = large.allocs(plan.alloc_lifecycles);
    // Sanity: the population is still there, untouched.
    assert_eq!(large.dialer.requests_in_flight(), plan.large_population);

    let small_mean = mean(&small_ns);
    let large_mean = mean(&large_ns);
    let small_median = median(&mut small_ns);
    let large_median = median(&mut large_ns);
    Figures {
        ns_per_request: small_median,
        ns_per_request_mean: small_mean,
        ns_per_request_large: large_median,
        ns_per_request_large_mean: large_mean,
        allocs_per_request,
        allocs_per_request_large,
        scaling_ratio: large_median / small_median,
        scaling_ratio_mean: large_mean / small_mean,
        small_population: plan.small_population,
        large_population: plan.large_population,
        lifecycles_timed: plan.batches * plan.batch * 2,
    }
}
