//! The dialer's benchmarks, in one command:
//!
//! ```text
//! cargo run --release -p dialer-bench              # full run, a few minutes
//! cargo run --release -p dialer-bench -- --quick   # CI: well under a minute
//! cargo run --release -p dialer-bench -- --only sim   # one section: core, adapters, sim
//! cargo run --release -p dialer-bench -- --only sim --svg chart.svg   # the chart elsewhere
//! ```
//!
//! A full run that includes the simulator also writes its chart, `BENCHMARKS-sim.svg` at
//! the repository root.
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
//! - [`sim`]: dialing quality on seeded simulated worlds, against models of other
//!   dialers; [`sim_svg`] draws its chart.

// `alloc_count` (the counting global allocator) needs `unsafe`, so this can only be a
// `deny`; every other module forbids it on its own.
#![deny(unsafe_code)]

mod adapters;
mod addrs;
mod alloc_count;
mod core_bench;
mod rng;
mod sim;
mod sim_goals;
mod sim_svg;
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
    }
}

fn verdict(goal: Goal, value: Option<f64>) -> &'static str {
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
    };
    if met {
        "met"
    } else {
        "MISSED"
    }
}

struct Args {
    quick: bool,
    /// Where to write the simulator's chart (full runs write it to
    /// [`sim_svg::DEFAULT_PATH`] at the repository root unless told otherwise).
    svg: Option<std::path::PathBuf>,
    core: bool,
    adapters: bool,
    sim: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        svg: None,
        core: true,
        adapters: true,
        sim: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--svg" => match it.next() {
                Some(path) => a.svg = Some(path.into()),
                None => return Err("--svg takes a path".to_owned()),
            },
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
                 {} runs each, ABCCBA with the next line)",
                "tokio: throughput vs semaphore",
                t.ours_cps,
                t.raw_cps,
                t.ratio(),
                t.requests,
                t.parallel,
                t.runs
            );
            let _ = writeln!(
                out,
                "  {:<37}  {:>8.0} c/s  {:>8.0} c/s  {:>7.3}   ({} at once through {} tokens \
                 and a queue of {}: half wait, R-Q1)",
                "tokio: throughput, waiting on",
                t.waiting_cps,
                t.raw_cps,
                t.waiting_ratio(),
                2 * t.parallel,
                t.parallel,
                t.parallel
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
    // Beside it, the same with waiting on (R-Q1): a diagnostic, no goal.
    let waiting = a
        .and_then(|a| a.tokio_throughput.as_ref().ok())
        .map(|t| t.waiting_ratio());
    figures.push(Figure::new(
        "tokio_throughput_waiting_ratio",
        waiting,
        3,
        Goal::None,
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
    let report = args.sim.then(|| sim::run(args.quick));
    if let Some(r) = &report {
        for w in &r.worlds {
            sim_table(&mut out, w);
        }
        let svg = args.svg.clone().or_else(|| {
            (!args.quick).then(|| {
                let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
                crate_dir
                    .parent()
                    .unwrap_or(crate_dir)
                    .join(sim_svg::DEFAULT_PATH)
            })
        });
        if let Some(path) = svg {
            match sim_svg::write(&path, r) {
                Ok(()) => {
                    let _ = writeln!(out, "\n  chart written to {}", path.display());
                }
                Err(e) => {
                    ok = false;
                    let _ = writeln!(out, "\n  chart {}: {e}", path.display());
                }
            }
        }
    }
    for world in sim::World::ALL {
        let w = report
            .as_ref()
            .and_then(|r| r.worlds.iter().find(|w| w.params.world.name == world.name));
        for &key in sim::keys(&world) {
            let f = w.and_then(|w| w.figures.iter().find(|f| f.key == key));
            // The goals compare strategies: `sim_goals` checks them, below.
            let name = |fig: &str| format!("sim_{}_{key}_{fig}", world.name);
            let later = |get: fn(&sim::Stats) -> f64| f.map(|f| get(&f.later));
            figures.push(Figure::new(
                name("p50_ms"),
                later(|s| s.p50_ms),
                1,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("p99_ms"),
                later(|s| s.p99_ms),
                1,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("success_pct"),
                later(|s| s.success_pct),
                1,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("dials_per_conn"),
                later(|s| s.dials_per_conn),
                4,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("wasted_dials_per_unreachable"),
                later(|s| s.wasted_dials_per_unreachable),
                4,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("first_try_pct"),
                later(|s| s.first_try_pct),
                1,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("peak_dials"),
                f.map(|f| f.peak_dials as f64),
                0,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("rejected_pct"),
                later(|s| s.rejected_pct),
                2,
                Goal::None,
            ));
            figures.push(Figure::new(
                name("round1_rejected_pct"),
                f.map(|f| f.round1.rejected_pct),
                2,
                Goal::None,
            ));
        }
        if let Some(w) = w {
            if w.cross_check_agrees == Some(false) {
                ok = false;
                let _ = writeln!(
                    out,
                    "\n  {}: js_token_engine DISAGREES with js_token: the engine and the core \
                     model different things",
                    world.name
                );
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
            verdict(f.goal, f.value)
        );
    }
    if let Some(r) = &report {
        let checks = sim_goals::checks(r);
        let _ = writeln!(
            out,
            "\n  the hard worlds' goals (`ours`, rounds 2.., unrounded; see BENCHMARKS.md):"
        );
        for c in &checks {
            let _ = writeln!(
                out,
                "  {:<12} {:<40} {:>11.4}  goal {:<13} {}",
                c.world,
                c.goal,
                c.value,
                c.target_text(),
                if c.met() { "met" } else { "MISSED" }
            );
        }
        let met = checks.iter().filter(|c| c.met()).count();
        let _ = writeln!(out, "  {met} of {} met", checks.len());
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

fn sim_table(out: &mut String, w: &sim::WorldReport) {
    let p = &w.params;
    let pop = &w.population;
    let [good, refuse, hang] = pop.kind_counts;
    let classes: Vec<String> = sim::Class::ALL
        .iter()
        .zip(pop.class_counts)
        .map(|(c, n)| format!("{c:?} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "\n== Dialing quality, world `{}`: {} ==\n\
         seed {:#x}; {} peers, {} addresses ({}; round 1: {} good, {} refusing, {} hanging), \
         {} peers unreachable in round 1, {} slow; reachable peers' addresses hang {:.0}% / \
         refuse {:.0}%, unreachable peers' refuse {:.0}% / hang the rest; {} rounds, each \
         peer once per round, Poisson arrivals at {}/s, {} s between rounds; {}% of \
         addresses change kind between rounds. Rows: rounds 2..{} (the figures), then \
         round 1 alone.\n",
        p.world.name,
        p.world.describe(),
        p.seed,
        p.peers,
        pop.addrs.len(),
        classes.join(", "),
        good,
        refuse,
        hang,
        pop.unreachable_peers,
        pop.slow_peers,
        p.reachable_hang * 100.0,
        p.reachable_refuse * 100.0,
        p.unreachable_refuse * 100.0,
        p.rounds,
        p.rate_per_s,
        p.round_gap_s,
        p.churn * 100.0,
        p.rounds
    );
    let names = pop.names_summary();
    if !names.is_empty() {
        let _ = writeln!(out, "{names}\n");
    }
    let _ = writeln!(
        out,
        "  {:<19} {:>7} {:>8} {:>9} {:>10} {:>8} {:>7} {:>8} {:>6} | {:>9} {:>9} {:>7}",
        "strategy",
        "p50 ms",
        "p99 ms",
        "success%",
        "dials/conn",
        "wasted/u",
        "first%",
        "reject%",
        "peak",
        "lostrace%",
        "1stfail%",
        "learned"
    );
    let row = |out: &mut String, key: &str, s: &sim::Stats, tail: String| {
        let _ = writeln!(
            out,
            "  {:<19} {:>7.1} {:>8.1} {:>9.1} {:>10.2} {:>8.2} {:>7.1} {:>8.2} {tail}",
            key,
            s.p50_ms,
            s.p99_ms,
            s.success_pct,
            s.dials_per_conn,
            s.wasted_dials_per_unreachable,
            s.first_try_pct,
            s.rejected_pct,
        );
    };
    for f in &w.figures {
        let s = &f.later;
        let tail = format!(
            "{:>6} | {:>9.1} {:>9.1} {:>7}",
            f.peak_dials,
            s.lost_race_pct,
            s.first_failed_pct,
            f.tally
                .judged_addrs
                .map_or("-".to_owned(), |n| n.to_string())
        );
        row(out, f.key, s, tail);
    }
    let _ = writeln!(out, "  round 1 alone:");
    for f in &w.figures {
        row(out, f.key, &f.round1, String::new());
    }
    let _ = writeln!(
        out,
        "  success%: connected / requests to peers with a good address that round (rejected \
         ones included). dials/conn: dials of the requests that connected / those requests. \
         wasted/u: dials / requests to peers with no good address. peak: most dials in \
         flight at once, whole run. lostrace% / 1stfail%: successes won by a later address \
         although the first dialed would have connected too / after it failed. learned: \
         addresses the core got a verdict on.\n  js_token_engine (js_token on the baseline \
         engine, a cross-check, not a figure): {}.",
        match w.cross_check_agrees {
            Some(true) => "agrees with js_token",
            Some(false) => "DISAGREES with js_token",
            None => "not run in this world",
        }
    );
}
