//! A loopback HTTP endpoint that serves a Prometheus registry at `/metrics` (feature
//! `metrics-server`), for the demo and the tests of the dialer's metrics (R-O3).

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tiny_http::{Header, Response, Server};

/// The `Content-Type` of the OpenMetrics text format the endpoint answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` from its own thread until dropped; any other path gets a 404.
/// Binds loopback addresses only.
pub struct MetricsServer {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` (a loopback address; port 0 picks a free port) and serves
    /// `registry`, encoded afresh for every request. The registry stays shared: a dialer
    /// registered in it later is served too.
    pub fn serve(addr: SocketAddr, registry: Arc<Mutex<Registry>>) -> io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address"),
            ));
        }
        let server = Arc::new(Server::http(addr).map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let serving = Arc::clone(&server);
        let thread = thread::Builder::new()
            .name("metrics-server".into())
            .spawn(move || {
                // Ends when `unblock` is called on drop.
                for request in serving.incoming_requests() {
                    let response = if request.url() == "/metrics" {
                        let mut text = String::new();
                        let registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
                        match encode(&mut text, &registry) {
                            Ok(()) => {
                                let mut response = Response::from_string(text);
                                if let Ok(header) = Header::from_bytes("Content-Type", CONTENT_TYPE)
                                {
                                    response.add_header(header);
                                }
                                response
                            }
                            Err(_) => {
                                Response::from_string("encoding failed").with_status_code(500)
                            }
                        }
                    } else {
                        Response::from_string("not found: try /metrics").with_status_code(404)
                    };
                    // A client that went away gets nothing; the next one is served.
                    let _ = request.respond(response);
                }
            })?;
        Ok(Self {
            server,
            addr,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port the system picked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
