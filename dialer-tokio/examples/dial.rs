//! Dials the given multiaddrs as one peer and prints the winner, its latency and every
//! failure reason; exits non-zero when no address connects.
//!
//! ```text
//! cargo run -p dialer-tokio --example dial -- /ip4/127.0.0.1/tcp/4001 /dns4/localhost/tcp/4002
//! ```
//!
//! Options (before the addresses): `--timeout <secs>` (whole request), `--address-timeout
//! <secs>` (one dial), `--stagger <ms>` (happy-eyeballs delay). Set `RUST_LOG=debug` to
//! see the driver's tracing spans and events.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dialer_tokio::{
    Config, DialFailed, DialRefused, Dialer, Error, Multiaddr, TcpTransport, Transport,
};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: dial [--timeout SECS] [--address-timeout SECS] [--stagger MS] \
                     <multiaddr>...";

fn parse_args() -> Result<(Config, Vec<Multiaddr>), String> {
    let mut config = Config::default();
    let mut addrs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            let raw = args.next().ok_or(format!("{name} needs a value"))?;
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or(format!("{name}: expected a positive number, got {raw:?}"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--timeout" => config.dial_timeout = Duration::from_secs_f64(value("--timeout")?),
            "--address-timeout" => {
                config.address_timeout = Duration::from_secs_f64(value("--address-timeout")?);
            }
            "--stagger" => {
                config.stagger = Some(Duration::from_secs_f64(value("--stagger")? / 1000.0));
            }
            addr => addrs.push(
                addr.parse()
                    .map_err(|e| format!("{addr:?} is not a multiaddr: {e}"))?,
            ),
        }
    }
    if addrs.is_empty() {
        return Err("no address given".into());
    }
    Ok((config, addrs))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let (config, addrs) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dialer: Dialer<&str> = match Dialer::new(config, TcpTransport::default()) {
        Ok(dialer) => dialer,
        Err(error) => {
            eprintln!("error: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };

    // Not TCP (e.g. QUIC): the core drops these before spending a token (R-A2), and lists
    // them only when nothing at all was dialable.
    let undialable: Vec<_> = addrs
        .iter()
        .filter(|a| !TcpTransport::default().can_dial(a))
        .cloned()
        .collect();
    let started = Instant::now();
    let result = dialer.dial("peer", addrs).await;
    let elapsed = started.elapsed();
    match result {
        Ok(dialed) => {
            println!("connected to {}", dialed.addr);
            println!("  connect time:  {:?}", dialed.connect_time);
            println!("  total elapsed: {elapsed:?}");
            for failure in &dialed.failed {
                println!(
                    "  failed first: {}: {} ({:?})",
                    failure.addr,
                    failure.reason,
                    failure.reason.class()
                );
            }
            for addr in &undialable {
                println!("  skipped: {addr}: not dialable by the TCP transport");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("failed after {elapsed:?}: {}", headline(&error));
            for (addr, reason) in reasons(&error) {
                eprintln!("  {addr}: {reason}");
            }
            if !matches!(
                error,
                Error::Refused(DialRefused::NoDialableAddresses { .. })
            ) {
                for addr in &undialable {
                    eprintln!("  {addr}: skipped, not dialable by the TCP transport");
                }
            }
            ExitCode::FAILURE
        }
    }
}

fn headline(error: &Error) -> &'static str {
    match error {
        Error::Failed(DialFailed::AllFailed { .. }) => "every address failed",
        Error::Failed(DialFailed::Timeout { .. }) => "the request timed out",
        Error::Failed(_) => "dial failed",
        Error::Refused(DialRefused::NoDialableAddresses { .. }) => "no dialable address",
        Error::Refused(DialRefused::BackedOff { .. }) => "every address is backed off",
        Error::Refused(DialRefused::TooManyAddresses { .. }) => "too many addresses",
        Error::Refused(DialRefused::NoTokens) => "no dial tokens available",
        Error::Refused(_) => "dial refused",
        _ => "the dialer stopped",
    }
}

/// Every address and why it was not the winner.
fn reasons(error: &Error) -> Vec<(String, String)> {
    match error {
        Error::Failed(DialFailed::AllFailed { attempts } | DialFailed::Timeout { attempts }) => {
            attempts
                .iter()
                .map(|a| (a.addr.to_string(), a.reason.to_string()))
                .collect()
        }
        Error::Refused(
            DialRefused::NoDialableAddresses { skipped } | DialRefused::BackedOff { skipped, .. },
        ) => skipped
            .iter()
            .map(|s| (s.addr.to_string(), s.reason.to_string()))
            .collect(),
        other => vec![("-".into(), other.to_string())],
    }
}
