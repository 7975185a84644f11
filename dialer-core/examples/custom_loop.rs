//! The core embedded in a hand-written event loop: no async runtime, just std threads,
//! blocking sockets and one channel.
//!
//! It starts two loopback peers of its own (one listener that accepts, one port that
//! refuses), asks the core to dial a peer whose addresses include both, and prints which
//! address won, the tokens the request took and gave back, and the stats.
//!
//! ```text
//! cargo run -p dialer-core --example custom_loop
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dialer_core::{Action, Config, DialId, DialOpts, Dialer, Event, Multiaddr, TransportError};
use multiaddr::Protocol;

/// What a dial thread sends back to the loop.
enum Report {
    Connected(DialId, TcpStream),
    Failed(DialId, TransportError),
}

/// `/ip4|ip6/…/tcp/…` to a socket address; every other multiaddr is undialable here.
fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut iter = addr.iter();
    let ip: IpAddr = match iter.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    let Protocol::Tcp(port) = iter.next()? else {
        return None;
    };
    iter.next().is_none().then_some(SocketAddr::new(ip, port))
}

fn tcp_multiaddr(addr: SocketAddr) -> Multiaddr {
    Multiaddr::from(addr.ip()).with(Protocol::Tcp(addr.port()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Peer 1: a listener that accepts (and holds) every connection.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let good = tcp_multiaddr(listener.local_addr()?);
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    // Peer 2: a port nobody listens on any more, so connecting is refused.
    let refused = tcp_multiaddr(TcpListener::bind("127.0.0.1:0")?.local_addr()?);
    // An address this loop cannot dial at all: the core drops it before spending a token.
    let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse()?;

    let config = Config::default()
        .with_address_timeout(Duration::from_secs(2))
        .with_dial_timeout(Duration::from_secs(5));
    let mut dialer =
        Dialer::<&'static str>::new(config)?.with_dialable(|a| socket_addr(a).is_some());
    let (reports, inbox) = mpsc::channel::<Report>();

    // Refused first and good last: in caller order with equal confidence.
    let caller = dialer
        .dial(
            Instant::now(),
            "peer-a",
            [refused.clone(), quic, good.clone()],
            DialOpts::default(),
        )?
        .caller;
    println!("dialing peer-a: {refused} (refuses), {good} (accepts), and a QUIC address");

    let mut connections: HashMap<DialId, TcpStream> = HashMap::new();
    let mut winner = None;
    let mut steps = 0;
    while winner.is_none() {
        steps += 1;
        assert!(
            steps < 1_000,
            "the loop should finish in a handful of steps"
        );
        // 1. Carry out every command.
        while let Some(action) = dialer.poll_action() {
            match action {
                Action::StartDial(start) => {
                    println!("  StartDial {} -> {}", start.dial, start.addr);
                    let reports = reports.clone();
                    let timeout = dialer.config().address_timeout;
                    let target = socket_addr(&start.addr);
                    thread::spawn(move || {
                        let report = match target.map(|t| TcpStream::connect_timeout(&t, timeout)) {
                            Some(Ok(stream)) => Report::Connected(start.dial, stream),
                            Some(Err(e)) => Report::Failed(start.dial, e.into()),
                            None => Report::Failed(start.dial, "not a TCP address".into()),
                        };
                        // The loop may be gone already; then there is nobody to tell.
                        let _ = reports.send(report);
                    });
                }
                Action::AbortDial(abort) => {
                    // A blocking connect cannot be interrupted: forget the dial, and the
                    // core will refuse its late report, at which point we close it.
                    println!("  AbortDial {} ({:?})", abort.dial, abort.reason);
                }
                // Every other command is opt-in (turned on in the Config): none comes here.
                _ => {}
            }
        }
        // 2. Hand events to the application.
        while let Some(event) = dialer.poll_event() {
            match event {
                Event::RequestTokens {
                    requested, granted, ..
                } => {
                    println!("  RequestTokens: asked for {requested}, granted {granted}");
                }
                Event::Release { count, .. } => println!("  Release: {count} token(s) back"),
                Event::Finished {
                    caller: c, result, ..
                } if c == caller => winner = Some(result),
                other => println!("  {other:?}"),
            }
        }
        if winner.is_some() {
            break;
        }
        // 3. Wait for a report, or until the core's next deadline.
        let deadline = dialer.poll_timeout();
        let wait = deadline.map_or(Duration::from_secs(60), |d| {
            d.saturating_duration_since(Instant::now())
        });
        match inbox.recv_timeout(wait) {
            Ok(Report::Connected(dial, stream)) => {
                if dialer.handle_dial_succeeded(Instant::now(), dial).is_ok() {
                    connections.insert(dial, stream);
                } // else: a late connection after its abort; dropping `stream` closes it.
            }
            Ok(Report::Failed(dial, reason)) => {
                println!(
                    "  dial {dial} failed: {reason} (class {:?})",
                    reason.class()
                );
                let _ = dialer.handle_dial_failed(Instant::now(), dial, reason);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => dialer.handle_timeout(Instant::now()),
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the loop holds a sender"),
        }
    }

    let connected = winner.expect("loop ends with an outcome")?;
    let stream = connections
        .remove(&connected.dial)
        .expect("the winner's connection");
    println!();
    println!(
        "winner: {} (local {})",
        connected.addr,
        stream.local_addr()?
    );
    println!(
        "confidence: {} -> {}, {} -> {}",
        good,
        dialer.confidence(&good),
        refused,
        dialer.confidence(&refused)
    );
    let stats = dialer.stats();
    println!(
        "tokens in use after the request: {} of {}",
        stats.tokens_in_use,
        dialer.config().max_tokens
    );
    println!("stats: {stats:#?}");
    assert_eq!(connected.addr, good);
    assert_eq!(stats.tokens_in_use, 0);
    Ok(())
}
