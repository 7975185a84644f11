//! Dials the given multiaddrs as one peer and prints the winner, its latency and every
//! failure reason; exits non-zero when no address connects.
//!
//! ```text
//! cargo run -p dialer-tokio --example dial -- /ip4/127.0.0.1/tcp/4001 /dns4/localhost/tcp/4002
//! ```
//!
//! Options (before the addresses): `--timeout <secs>` (whole request), `--address-timeout
//! <secs>` (one dial, and one name lookup), `--stagger <ms>` (happy-eyeballs delay),
//! `--dns-server <ip:port>` (R-N1: resolve `/dns*` and `/dnsaddr` names by asking only
//! that name server, over UDP and TCP, instead of the system's), `--state <file>` (R-C7:
//! start from what an earlier run learned, saved in `file`, and save what this run knows
//! there on exit; needs the `serde` feature, which the examples get). Set
//! `RUST_LOG=debug` to see the driver's tracing spans and events.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use dialer_tokio::{
    Config, DialFailed, DialRefused, Dialer, Error, Multiaddr, Snapshot, TcpTransport,
    TokioResolver, TokioRuntime, Transport,
};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: dial [--timeout SECS] [--address-timeout SECS] [--stagger MS] \
                     [--dns-server IP:PORT] [--state FILE] <multiaddr>...";

struct Args {
    config: Config,
    addrs: Vec<Multiaddr>,
    state: Option<PathBuf>,
    dns_server: Option<SocketAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut config = Config::default();
    let mut addrs = Vec::new();
    let mut state = None;
    let mut dns_server = None;
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
            "--state" => state = Some(PathBuf::from(args.next().ok_or("--state needs a file")?)),
            "--dns-server" => {
                let raw = args.next().ok_or("--dns-server needs IP:PORT")?;
                dns_server = Some(raw.parse::<SocketAddr>().map_err(|_| {
                    format!("--dns-server: expected IP:PORT (e.g. 127.0.0.1:5353), got {raw:?}")
                })?);
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
    Ok(Args {
        config,
        addrs,
        state,
        dns_server,
    })
}

/// Restores the snapshot in `path`, if there is one (a first run has none).
async fn load_state(dialer: &Dialer<String>, path: &Path) -> Result<(), String> {
    let json = match std::fs::read(path) {
        Ok(json) => json,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "state: {} does not exist yet, starting afresh",
                path.display()
            );
            return Ok(());
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let refused = |e: &dyn std::fmt::Display| {
        format!(
            "{} refused: {e} (nothing was loaded; move the file away to start afresh)",
            path.display()
        )
    };
    let snapshot = Snapshot::<String>::from_json_slice(&json).map_err(|e| refused(&e))?;
    let report = dialer
        .restore(snapshot.clone())
        .await
        .map_err(|e| refused(&e))?;
    println!(
        "state: loaded {} addresses and {} deny entries from {} ({} dropped)",
        report.addresses_restored,
        report.deny_restored,
        path.display(),
        report.dropped()
    );
    for a in &snapshot.addresses {
        let denied = snapshot.deny.iter().find(|d| d.addr == a.addr);
        println!(
            "  {}: confidence {}, {} failure(s) in a row{}{}",
            a.addr,
            a.confidence,
            a.failures,
            a.connect_time
                .map(|t| format!(", connects in {t:?}"))
                .unwrap_or_default(),
            denied
                .map(|d| format!(", backed off for {:.1} s", d.expires_in.as_secs_f64()))
                .unwrap_or_default(),
        );
    }
    Ok(())
}

/// Saves what `dialer` knows to `path` atomically: a temporary file beside it, flushed
/// to disk, then renamed over it, so a crash leaves the old state or the new, never half.
async fn save_state(dialer: &Dialer<String>, path: &Path) -> Result<(), String> {
    let snapshot = dialer.snapshot().await.map_err(|e| e.to_string())?;
    let json = snapshot.to_json().map_err(|e| e.to_string())?;
    let mut name = path
        .file_name()
        .ok_or(format!("{} names no file", path.display()))?
        .to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(json.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot save {}: {e}", path.display())
    })?;
    println!(
        "state: saved {} addresses and {} deny entries to {}",
        snapshot.addresses.len(),
        snapshot.deny.len(),
        path.display()
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let Args {
        config,
        addrs,
        state,
        dns_server,
    } = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Names resolve in the dialer (R-N1): with the system's configuration, or by asking
    // only the given name server.
    let mut builder = Dialer::builder(config, TcpTransport::default(), TokioRuntime);
    if let Some(server) = dns_server {
        println!("names: asking only {server}");
        builder = builder.with_resolver(TokioResolver::with_name_server(server));
    }
    let dialer: Dialer<String> = match builder.build() {
        Ok(dialer) => dialer,
        Err(error) => {
            eprintln!("error: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &state {
        if let Err(message) = load_state(&dialer, path).await {
            eprintln!("error: state: {message}");
            return ExitCode::from(2);
        }
    }
    let code = dial(&dialer, addrs).await;
    if let Some(path) = &state {
        if let Err(message) = save_state(&dialer, path).await {
            eprintln!("error: state: {message}");
            return ExitCode::from(2);
        }
    }
    code
}

/// Dials `addrs` as one peer and prints the outcome.
async fn dial(dialer: &Dialer<String>, addrs: Vec<Multiaddr>) -> ExitCode {
    // Not TCP (e.g. QUIC): the core drops these before spending a token (R-A2), and lists
    // them only when nothing at all was dialable.
    let undialable: Vec<_> = addrs
        .iter()
        .filter(|a| !TcpTransport::default().can_dial(a) && !is_name(a))
        .cloned()
        .collect();
    let started = Instant::now();
    let result = dialer.dial("peer".to_string(), addrs).await;
    let elapsed = started.elapsed();
    match result {
        Ok(dialed) => {
            println!("connected to {}", dialed.addr);
            let s = dialer.stats().await.unwrap_or_default();
            if s.resolves_started > 0 {
                println!(
                    "  names:         {} lookups, {} addresses resolved",
                    s.resolves_started, s.resolved_addresses
                );
            }
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

/// Whether `addr` starts with a name: the dialer resolves those before the transport.
fn is_name(addr: &Multiaddr) -> bool {
    use multiaddr::Protocol;
    matches!(
        addr.iter().next(),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_))
    )
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
