//! Serves DNS records on loopback until interrupted (Ctrl-C), for trying the dialer's names
//! by hand (R-N1):
//!
//! ```text
//! cargo run -p dialer-testing --features dns-server --bin dns-server -- --demo
//! cargo run -p dialer-testing --features dns-server --bin dns-server -- --port 5353 \
//!     'A node.test 127.0.0.1' 'DNSADDR boot.test /dns4/node.test/tcp/4001'
//! ```
//!
//! Each argument is a record, `TYPE NAME VALUE` (`A`, `AAAA`, `TXT`, `DNSADDR` for a
//! `dnsaddr=` TXT record at `_dnsaddr.NAME`, or `SILENT NAME` for a name never answered).
//! `--demo` adds a peer of its own on loopback and a two-level `dnsaddr` chain to it,
//! `/dnsaddr/bootstrap.test` → `/dnsaddr/peers.bootstrap.test` → two `/dns4` addresses, the
//! first a tarpit (a port that never answers), the second the peer. `--port` picks the
//! port (default: any free one). It binds 127.0.0.1 only.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use dialer_testing::dns::{DnsServer, Zone};
use dialer_testing::{Listener, Tarpit};

const USAGE: &str = "usage: dns-server [--port PORT] [--demo] ['TYPE NAME VALUE'...]";

fn main() -> ExitCode {
    let mut zone = Zone::new();
    let mut port = 0u16;
    let mut demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--demo" => demo = true,
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => {
                    eprintln!("error: --port needs a port number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            line => match zone.with_line(line) {
                Ok(more) => zone = more,
                Err(e) => {
                    eprintln!("error: {e}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
        }
    }
    // Kept alive for as long as the server runs.
    let mut peers = None;
    if demo {
        let (peer, pit) = match (Listener::accepting(), Tarpit::new()) {
            (Ok(peer), Ok(pit)) => (peer, pit),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: starting the demo's loopback peers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let loopback = Ipv4Addr::LOCALHOST.into();
        zone = zone
            .dnsaddr("bootstrap.test", "/dnsaddr/peers.bootstrap.test")
            .dnsaddr(
                "peers.bootstrap.test",
                format!("/dns4/stuck.bootstrap.test/tcp/{}", pit.addr().port()),
            )
            .dnsaddr(
                "peers.bootstrap.test",
                format!("/dns4/node.bootstrap.test/tcp/{}", peer.port()),
            )
            .ip("stuck.bootstrap.test", loopback)
            .ip("node.bootstrap.test", loopback);
        println!(
            "demo: a peer listening on {}, a tarpit on {}",
            peer.addr(),
            pit.addr()
        );
        println!("  _dnsaddr.bootstrap.test       TXT dnsaddr=/dnsaddr/peers.bootstrap.test");
        println!(
            "  _dnsaddr.peers.bootstrap.test TXT dnsaddr=/dns4/stuck.bootstrap.test/tcp/{}",
            pit.addr().port()
        );
        println!(
            "  _dnsaddr.peers.bootstrap.test TXT dnsaddr=/dns4/node.bootstrap.test/tcp/{}",
            peer.port()
        );
        println!("  stuck.bootstrap.test, node.bootstrap.test A 127.0.0.1");
        peers = Some((peer, pit));
    }
    let server = match DnsServer::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), zone) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: binding 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "DNS server on {} (UDP and TCP); Ctrl-C stops it",
        server.addr()
    );
    if demo {
        println!(
            "try: cargo run -p dialer-tokio --example dial -- --dns-server {} /dnsaddr/bootstrap.test",
            server.addr()
        );
    }
    loop {
        // Until the process is interrupted; a spurious wake-up parks again.
        std::thread::park();
        let _ = (&server, &peers);
    }
}
