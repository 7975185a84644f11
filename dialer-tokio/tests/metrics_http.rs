//! The metrics (R-O3) scraped over HTTP, as Prometheus would: a real loopback socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialer_testing::{Listener, MetricsServer, CONTENT_TYPE};
use dialer_tokio::{Config, Dialer, TcpTransport, TokioRuntime};
use prometheus_client::registry::Registry;

/// `GET path` over HTTP/1.0 (the server closes after answering): the whole response.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

// R-O3
#[tokio::test]
async fn metrics_are_served_at_slash_metrics_over_loopback(
) -> Result<(), Box<dyn std::error::Error>> {
    let peer = Listener::accepting()?;
    let registry = Arc::new(Mutex::new(Registry::default()));
    let dialer: Dialer<u32> = {
        let mut registry = registry.lock().expect("not poisoned");
        Dialer::with_metrics(
            Config::default(),
            TcpTransport::default(),
            TokioRuntime,
            &mut registry,
        )?
    };
    dialer.dial(1, [peer.multiaddr()]).await?;
    let server = MetricsServer::serve("127.0.0.1:0".parse()?, Arc::clone(&registry))?;
    assert!(server.addr().ip().is_loopback());

    let response = tokio::task::spawn_blocking({
        let addr = server.addr();
        move || get(addr, "/metrics")
    })
    .await??;
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("content-type: {CONTENT_TYPE}"))),
        "{head}"
    );
    let lines: Vec<&str> = body.lines().collect();
    for line in [
        r#"dialer_requests_total{outcome="connected"} 1"#,
        r#"dialer_dials_total{outcome="connected",error="none",ip_version="ip4",transport="tcp"} 1"#,
        "dialer_tokens_in_use 0",
        "# EOF",
    ] {
        assert!(lines.contains(&line), "missing {line} in\n{body}");
    }

    let not_found = tokio::task::spawn_blocking({
        let addr = server.addr();
        move || get(addr, "/")
    })
    .await??;
    assert!(not_found.contains(" 404 "), "{not_found}");
    Ok(())
}

// R-O3: the endpoint never listens beyond loopback.
#[test]
fn the_metrics_server_refuses_a_non_loopback_address() {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let refused = MetricsServer::serve("0.0.0.0:0".parse().expect("valid"), registry);
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );
}
