//! Replays a fuzz corpus through a target's logic, on stable and without libFuzzer, and
//! prints executions per second: the way to profile what one execution costs.
//!
//! ```text
//! cargo run --release -p dialer-tests --example replay -- machine fuzz/corpus/machine [rounds]
//! valgrind --tool=callgrind target/release/examples/replay machine fuzz/corpus/machine 1
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use dialer_tests::ops::{run as run_ops, Coverage};
use dialer_tests::targets::{config_and_addrs, decode_machine, dnsaddr_records, machine, restore};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(target), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: replay <machine|names|config_and_addrs|restore|dnsaddr_records> <corpus dir> [rounds]"
        );
        return ExitCode::from(2);
    };
    let run = match target.as_str() {
        "machine" => machine,
        "config_and_addrs" => config_and_addrs,
        "restore" => restore,
        "names" => dialer_tests::names::names_target,
        "dnsaddr_records" => dnsaddr_records,
        other => {
            eprintln!("unknown target {other:?}");
            return ExitCode::from(2);
        }
    };
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(10);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter_map(|p| std::fs::read(&p).ok().map(|data| (p, data)))
            .collect(),
        Err(e) => {
            eprintln!("{dir}: {e}");
            return ExitCode::from(2);
        }
    };
    inputs.sort();
    let start = Instant::now();
    for _ in 0..rounds {
        for (path, data) in &inputs {
            if let Err(v) = run(data) {
                eprintln!("{} fails: {v}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let execs = rounds * inputs.len();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{target}: {execs} executions of {} inputs in {secs:.2} s: {:.0} exec/s",
        inputs.len(),
        execs as f64 / secs
    );
    if target == "machine" {
        // What the inputs reach, summed, and how long they are: short inputs should still
        // reach joins, timeouts, high priority, head starts and prunes.
        let mut total = Coverage::default();
        let mut ops = 0;
        for (_, data) in &inputs {
            if let Some((spec, decoded)) = decode_machine(data) {
                ops += decoded.len();
                if let Ok(coverage) = run_ops(spec.config(), &decoded) {
                    total.add(&coverage);
                }
            }
        }
        println!(
            "ops per input: {:.1}; summed coverage: {total:?}",
            ops as f64 / inputs.len().max(1) as f64
        );
    }
    ExitCode::SUCCESS
}
