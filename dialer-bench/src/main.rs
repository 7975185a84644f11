//! The dialer's benchmarks, in one command:
//!
//! ```text
//! cargo run --release -p dialer-bench              # full run, a few minutes
//! cargo run --release -p dialer-bench -- --quick   # CI: well under a minute
//! cargo run --release -p dialer-bench -- --only sim   # one section: core, adapters, sim
//! ```
//!
//! It prints a readable table, then, last, one `name: value` line per figure. The machines
//! this runs on are shared and noisy, so every timed figure is a ratio of two things
//! measured side by side in the same run, or a count; nothing asserts on speed. What each
//! figure means, and how it is measured, is in `BENCHMARKS.md`.
//!
//! Sections:
//! - [`core_bench`]: the sans-IO core alone, on simulated time;
//! - [`adapters`]: the tokio and async-std adapters on loopback sockets, against raw
//!   connects of the same runtime;
//! - [`sim`]: dialing quality on a seeded simulated population, against other strategies.

// `alloc_count` (the counting global allocator) needs `unsafe`, so this can only be a
// `deny`; every other module forbids it on its own.
#![deny(unsafe_code)]

mod adapters;
mod addrs;
mod alloc_count;
mod core_bench;
mod rng;
mod sim;
mod summary;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

/// One named figure: its value (`None` when it could not be measured) and its goal.
struct Figure {
    name: String,
    value: Option<f64>,
    decimals: usize,
    goal: Goal,
}

#[derive(Clone, Copy)]
enum Goal {
    None,
    AtMost(f64),
    AtLeast(f64),
    Exactly(f64),
    /// The lowest of the given values.
    Lowest,
}

impl Figure {
    fn new(name: impl Into<String>, value: Option<f64>, decimals: usize, goal: Goal) -> Self {
        Self {
            name: name.into(),
            value,
            decimals,
            goal,
        }
    }

    fn shown(&self) -> String {
        match self.value {
            Some(v) if v.is_finite() => format!("{v:.*}", self.decimals),
            _ => "n/a".to_owned(),
        }
    }
}

fn goal_text(goal: Goal) -> String {
    match goal {
        Goal::None => "-".to_owned(),
        Goal::AtMost(g) => format!("<= {g}"),
        Goal::AtLeast(g) => format!(">= {g}"),
        Goal::Exactly(g) => format!("= {g}"),
        Goal::Lowest => "lowest p99".to_owned(),
    }
}

fn verdict(goal: Goal, value: Option<f64>, lowest_p99: Option<f64>) -> &'static str {
    let Some(v) = value.filter(|v| v.is_finite()) else {
        return if matches!(goal, Goal::None) {
            ""
        } else {
            "n/a"
        };
    };
    let met = match goal {
        Goal::None => return "",
        Goal::AtMost(g) => v <= g,
        Goal::AtLeast(g) => v >= g,
        Goal::Exactly(g) => v == g,
        Goal::Lowest => lowest_p99.is_some_and(|l| v <= l),
    };
    if met {
        "met"
    } else {
        "MISSED"
    }
}

struct Args {
    quick: bool,
    core: bool,
    adapters: bool,
    sim: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        core: true,
        adapters: true,
        sim: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--only" => {
                let section = it.next().unwrap_or_default();
                a.core = section == "core";
                a.adapters = section == "adapters";
                a.sim = section == "sim";
                if !(a.core || a.adapters || a.sim) {
                    return Err(format!(
                        "--only takes core, adapters or sim, not {section:?}"
                    ));
                }
            }
            other => return Err(format!("unknown argument {other:?} (try --quick)")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dialer-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut ok = true;
    let mut out = String::new();
    let mode = if args.quick { "quick" } else { "full" };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "dialer-bench ({mode} run, {cpus} CPUs)");

    let mut figures = Vec::new();

    // ----- core -----------------------------------------------------------------------
    let core = args
        .core
        .then(|| core_bench::run(core_bench::Plan::new(args.quick)));
    if let Some(c) = &core {
        let _ = writeln!(
            out,
            "\n== Core: dialer-core alone, simulated time, no I/O ==\n\
             one lifecycle: dial with 4 addresses -> 4 StartDial; 1 success -> 3 AbortDial, \
             tokens released; {} lifecycles timed in batches of 1000, the two populations \
             interleaved\n",
            c.lifecycles_timed
        );
        let _ = writeln!(
            out,
            "  {:>18}  {:>12}  {:>12}  {:>14}",
            "requests in flight", "median ns", "mean ns", "allocs/request"
        );
        for (pop, med, mean, allocs) in [
            (
                c.small_population,
                c.ns_per_request,
                c.ns_per_request_mean,
                c.allocs_per_request,
            ),
            (
                c.large_population,
                c.ns_per_request_large,
                c.ns_per_request_large_mean,
                c.allocs_per_request_large,
            ),
        ] {
            let _ = writeln!(
                out,
                "  {pop:>18}  {med:>12.0}  {mean:>12.0}  {allocs:>14.3}"
            );
        }
        let _ = writeln!(
            out,
            "  scaling {} / {}: {:.3} on medians, {:.3} on means (means include the \
             amortised timer-queue sweeps)",
            c.large_population, c.small_population, c.scaling_ratio, c.scaling_ratio_mean
        );
    }
    figures.push(Figure::new(
        "core_ns_per_request",
        core.as_ref().map(|c| c.ns_per_request),
        0,
        Goal::AtMost(1000.0),
    ));
    figures.push(Figure::new(
        "core_allocs_per_request",
        core.as_ref().map(|c| c.allocs_per_request),
        2,
        Goal::Exactly(0.0),
    ));
    figures.push(Figure::new(
        "core_scaling_ratio",
        core.as_ref().map(|c| c.scaling_ratio),
        3,
        Goal::AtMost(1.5),
    ));

    // ----- adapters -------------------------------------------------------------------
    let adapters = if args.adapters {
        match adapters::run(adapters::Plan::new(args.quick)) {
            Ok(a) => Some(a),
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "\nadapters: could not start: {e}");
                None
            }
        }
    } else {
        None
    };
    if let Some(a) = &adapters {
        let _ = writeln!(
            out,
            "\n== Adapters: loopback sockets, ours against a raw connect of the same runtime, \
             samples interleaved ==\n"
        );
        let _ = writeln!(
            out,
            "  {:<37}  {:>12}  {:>12}  {:>7}",
            "measurement", "ours", "baseline", "ratio"
        );
        for (label, l) in [
            ("tokio: dial vs TcpStream::connect", &a.tokio_connect),
            (
                "async-std: dial vs TcpStream::connect",
                &a.async_std_connect,
            ),
            (
                "(tokio current_thread: the same)",
                &a.tokio_connect_current_thread,
            ),
        ] {
            if let Ok(l) = l {
                let _ = writeln!(
                    out,
                    "  {label:<37}  {:>9.1} us  {:>9.1} us  {:>7.3}   (medians of {} pairs)",
                    l.ours_us,
                    l.raw_us,
                    l.ratio(),
                    l.samples
                );
            }
        }
        if let Ok(t) = &a.tokio_instant_us {
            let _ = writeln!(
                out,
                "  {:<37}  {:>9.1} us  {:>12}  {:>7}   (driver + core round trip, no I/O)",
                "(tokio: dial, instant transport)", t, "-", "-"
            );
        }
        if let Ok(t) = &a.tokio_throughput {
            let _ = writeln!(
                out,
                "  {:<37}  {:>8.0} c/s  {:>8.0} c/s  {:>7.3}   ({} connections, {} at once, \
                 {} runs each, ABBA)",
                "tokio: throughput vs semaphore",
                t.ours_cps,
                t.raw_cps,
                t.ratio(),
                t.requests,
                t.parallel,
                t.runs
            );
        }
        if let Ok(b) = &a.tokio_blackhole {
            let _ = writeln!(
                out,
                "  {:<37}  {:>9.2} ms  {:>12}  {:>7}   (3 tarpits then 1 good; median of {} \
                 fresh dialers, max {:.2} ms)",
                "tokio: black hole, time to connect", b.median_ms, "-", "-", b.runs, b.max_ms
            );
        }
    }
    let a = adapters.as_ref();
    let tokio_connect = measured(
        &mut out,
        &mut ok,
        "tokio_connect_ratio",
        a.map(|a| &a.tokio_connect),
        |l| l.ratio(),
    );
    figures.push(Figure::new(
        "tokio_connect_ratio",
        tokio_connect,
        3,
        Goal::AtMost(1.15),
    ));
    let async_std_connect = measured(
        &mut out,
        &mut ok,
        "async_std_connect_ratio",
        a.map(|a| &a.async_std_connect),
        |l| l.ratio(),
    );
    figures.push(Figure::new(
        "async_std_connect_ratio",
        async_std_connect,
        3,
        Goal::AtMost(1.15),
    ));
    let throughput = measured(
        &mut out,
        &mut ok,
        "tokio_throughput_ratio",
        a.map(|a| &a.tokio_throughput),
        |t| t.ratio(),
    );
    figures.push(Figure::new(
        "tokio_throughput_ratio",
        throughput,
        3,
        Goal::AtLeast(0.85),
    ));
    let blackhole = measured(
        &mut out,
        &mut ok,
        "tokio_blackhole_ms",
        a.map(|a| &a.tokio_blackhole),
        |b| b.median_ms,
    );
    figures.push(Figure::new("tokio_blackhole_ms", blackhole, 2, Goal::None));

    // ----- simulator ------------------------------------------------------------------
    let report = args.sim.then(|| sim::run(sim::Params::standard()));
    if let Some(r) = &report {
        sim_table(&mut out, r);
    }
    let mut lowest_p99 = None;
    for key in sim::KEYS {
        let f = report
            .as_ref()
            .and_then(|r| r.figures.iter().find(|f| f.key == key));
        let ours = key == "ours";
        let goal = |g: Goal| if ours { g } else { Goal::None };
        figures.push(Figure::new(
            format!("sim_{key}_p50_ms"),
            f.map(|f| f.p50_ms),
            1,
            Goal::None,
        ));
        figures.push(Figure::new(
            format!("sim_{key}_p99_ms"),
            f.map(|f| f.p99_ms),
            1,
            goal(Goal::Lowest),
        ));
        figures.push(Figure::new(
            format!("sim_{key}_dials_per_conn"),
            f.map(|f| f.dials_per_conn),
            2,
            goal(Goal::AtMost(1.1)),
        ));
        figures.push(Figure::new(
            format!("sim_{key}_first_try_pct"),
            f.map(|f| f.first_try_pct),
            1,
            goal(Goal::AtLeast(97.0)),
        ));
        figures.push(Figure::new(
            format!("sim_{key}_rejected_pct"),
            f.map(|f| f.rejected_pct),
            2,
            Goal::None,
        ));
        if !ours {
            if let Some(p99) = f.map(|f| f.p99_ms) {
                lowest_p99 = Some(lowest_p99.map_or(p99, |l: f64| l.min(p99)));
            }
        }
    }

    // ----- goals and figures ----------------------------------------------------------
    let _ = writeln!(out, "\n== Goals ==\n");
    for f in figures.iter().filter(|f| !matches!(f.goal, Goal::None)) {
        let _ = writeln!(
            out,
            "  {:<28} {:>10}  goal {:<11} {}",
            f.name,
            f.shown(),
            goal_text(f.goal),
            verdict(f.goal, f.value, lowest_p99)
        );
    }
    let _ = writeln!(
        out,
        "\n(run took {:.1} s)\n",
        started.elapsed().as_secs_f64()
    );
    for f in &figures {
        let _ = writeln!(out, "{}: {}", f.name, f.shown());
    }
    print!("{out}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The value of an adapter figure; a failure is printed and fails the run.
fn measured<T, E: std::fmt::Display>(
    out: &mut String,
    ok: &mut bool,
    name: &str,
    result: Option<&Result<T, E>>,
    value: impl Fn(&T) -> f64,
) -> Option<f64> {
    match result? {
        Ok(t) => Some(value(t)),
        Err(e) => {
            *ok = false;
            let _ = writeln!(out, "  {name}: failed: {e}");
            None
        }
    }
}

fn sim_table(out: &mut String, r: &sim::Report) {
    let p = &r.params;
    let pop = &r.population;
    let [good, refuse, hang] = pop.kind_counts;
    let _ = writeln!(
        out,
        "\n== Dialing quality: simulated population (seed {:#x}), same world for every \
         strategy ==\n\
         {} peers, {} addresses (round 1: {} good, {} refusing, {} hanging), {} peers \
         unreachable; {} rounds, each peer once per round, Poisson arrivals at {}/s; {}% \
         of addresses change kind between rounds.\n\
         Pool {} tokens, {} per peer, address timeout 10 s, request timeout 30 s. Figures \
         count rounds 2..{} only.\n",
        p.seed,
        p.peers,
        pop.addrs.len(),
        good,
        refuse,
        hang,
        pop.unreachable_peers,
        p.rounds,
        p.rate_per_s,
        p.churn * 100.0,
        sim::MAX_TOKENS,
        sim::PER_PEER,
        p.rounds
    );
    let _ = writeln!(
        out,
        "  {:<16} {:>8} {:>9} {:>10} {:>9} {:>9} {:>10} | {:>12} {:>10} {:>10} {:>7}",
        "strategy",
        "p50 ms",
        "p99 ms",
        "dials/conn",
        "first %",
        "reject %",
        "connect %",
        "dials/conn*",
        "lost race%",
        "1st fail%",
        "learned"
    );
    for f in &r.figures {
        let t = &f.tally;
        let per_success = |n: u64| n as f64 / t.succeeded.max(1) as f64;
        let _ = writeln!(
            out,
            "  {:<16} {:>8.1} {:>9.1} {:>10.2} {:>9.1} {:>9.2} {:>10.1} | {:>12.2} {:>10.1} {:>10.1} {:>7}",
            f.key,
            f.p50_ms,
            f.p99_ms,
            f.dials_per_conn,
            f.first_try_pct,
            f.rejected_pct,
            f.success_pct,
            per_success(t.dials_of_successes),
            100.0 * per_success(t.first_lost_race),
            100.0 * per_success(t.first_failed),
            t.judged_addrs.map_or("-".to_owned(), |n| n.to_string())
        );
    }
    let _ = writeln!(
        out,
        "  dials/conn* counts only the dials of requests that connected (dials/conn also \
         charges those of failed requests).\n  lost race% / 1st fail%: successes won by a \
         later address although the first dialed would have connected too / after it \
         failed.\n  learned: distinct addresses the core got a verdict on, each of which takes \
         a confidence-table entry (default capacity {}).\n  js_token_engine is js_token \
         written by hand on the baseline engine and must equal it: a cross-check, not a \
         figure.",
        dialer_core::Config::default().confidence_capacity
    );
}
