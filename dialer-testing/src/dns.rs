//! A real DNS server on loopback (feature `dns-server`): UDP and TCP on one port of
//! `127.0.0.1`, answering from a fixed [`Zone`] with messages encoded by `hickory-proto`.
//!
//! What it answers, per query:
//!
//! - records of the type asked for (`A`, `AAAA`, `TXT`), authoritative, with the zone's TTL;
//! - `NOERROR` with no records for a name the zone has, but not of that type;
//! - `NXDOMAIN` for a name the zone does not have;
//! - nothing at all for a [`silent`](Zone::silent) name (a server that never answers);
//! - over UDP, an answer larger than the query's payload size (512 bytes, or its EDNS size)
//!   is sent truncated (the `TC` bit, no records), and the client asks again over TCP, as
//!   with any real server.
//!
//! Like the other peers of this crate it runs on OS threads of its own (one for UDP, one
//! accepting TCP, one per TCP connection) and stops when dropped. It counts every query
//! it receives, so a test can show that a name was (or was never) asked.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{RData, Record, RecordType};

use crate::{check_loopback, lock, LOCALHOST_V4};

/// The payload size the server offers in its EDNS answers (RFC 9715's advice).
const EDNS_PAYLOAD: u16 = 1232;
/// How many times [`DnsServer::start`] looks for a port free for both UDP and TCP.
const PORT_TRIES: usize = 32;

/// The records a [`DnsServer`] serves. Names are case-insensitive, with or without a
/// trailing dot.
#[derive(Debug, Clone)]
pub struct Zone {
    records: HashMap<String, Vec<RData>>,
    silent: HashSet<String>,
    ttl: u32,
}

impl Default for Zone {
    fn default() -> Self {
        Self::new()
    }
}

/// `name` as the zone keys it: lower case, no trailing dot.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// An empty zone (every name is `NXDOMAIN`), with a TTL of 60 s.
    pub fn new() -> Self {
        Self {
            records: HashMap::new(),
            silent: HashSet::new(),
            ttl: 60,
        }
    }

    /// The TTL of every answer, in seconds (0: the client caches nothing).
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = seconds;
        self
    }

    /// An `A` record (an IPv4 `ip`) or an `AAAA` record (an IPv6 one) at `name`.
    pub fn ip(mut self, name: &str, ip: IpAddr) -> Self {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.records.entry(key(name)).or_default().push(data);
        self
    }

    /// A `TXT` record at `name` holding `text` (split into character-strings of 255
    /// bytes, as a long record must be).
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        let chunks: Vec<&[u8]> = if text.is_empty() {
            vec![&[][..]]
        } else {
            text.as_bytes().chunks(255).collect()
        };
        self.records
            .entry(key(name))
            .or_default()
            .push(RData::TXT(TXT::from_bytes(chunks)));
        self
    }

    /// A `dnsaddr` record for `/dnsaddr/<host>`: `TXT` `dnsaddr=<addr>` at
    /// `_dnsaddr.<host>`.
    pub fn dnsaddr(self, host: &str, addr: impl fmt::Display) -> Self {
        let name = format!("_dnsaddr.{}", key(host));
        self.txt(&name, &format!("dnsaddr={addr}"))
    }

    /// Makes `name` a name the server never answers, for any type (its queries are still
    /// counted): a name server that is down or a packet that is lost, for the client.
    pub fn silent(mut self, name: &str) -> Self {
        self.silent.insert(key(name));
        self
    }

    /// Reads one record from a line `TYPE NAME VALUE`: `A name 127.0.0.1`,
    /// `AAAA name ::1`, `TXT name text with spaces`, `DNSADDR host /ip4/…` (a `dnsaddr`
    /// record), or `SILENT name`. The type is case-insensitive.
    pub fn with_line(self, line: &str) -> Result<Self, ZoneError> {
        let bad = |reason: &str| ZoneError {
            line: line.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = line.trim().splitn(3, char::is_whitespace);
        let (Some(kind), Some(name)) = (parts.next(), parts.next()) else {
            return Err(bad("expected TYPE NAME [VALUE]"));
        };
        let value = parts.next().map(str::trim).unwrap_or_default();
        match kind.to_ascii_uppercase().as_str() {
            "SILENT" if value.is_empty() => Ok(self.silent(name)),
            "A" | "AAAA" => {
                let ip: IpAddr = value.parse().map_err(|_| bad("not an IP address"))?;
                if ip.is_ipv4() != (kind.eq_ignore_ascii_case("A")) {
                    return Err(bad("A takes an IPv4 address, AAAA an IPv6 one"));
                }
                Ok(self.ip(name, ip))
            }
            "TXT" => Ok(self.txt(name, value)),
            "DNSADDR" if !value.is_empty() => Ok(self.dnsaddr(name, value)),
            _ => Err(bad(
                "unknown type or missing value (A, AAAA, TXT, DNSADDR, SILENT)",
            )),
        }
    }

    /// The answer to `request`, or `None` for a name the zone keeps silent about.
    fn answer(&self, request: &Message) -> Option<Message> {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            response.set_edns(edns);
        }
        let query = match request.queries.as_slice() {
            [query] if request.metadata.op_code == OpCode::Query => query,
            _ => {
                response.metadata.response_code = ResponseCode::FormErr;
                return Some(response);
            }
        };
        response.add_query(query.clone());
        let name = key(&query.name().to_ascii());
        if self.silent.contains(&name) {
            return None;
        }
        response.metadata.authoritative = true;
        let Some(records) = self.records.get(&name) else {
            response.metadata.response_code = ResponseCode::NXDomain;
            return Some(response);
        };
        let wanted = query.query_type();
        for data in records {
            if data.record_type() == wanted || wanted == RecordType::ANY {
                response.add_answer(Record::from_rdata(
                    query.name().clone(),
                    self.ttl,
                    data.clone(),
                ));
            }
        }
        Some(response)
    }
}

/// A line [`Zone::with_line`] could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    /// The line.
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad record {:?}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ZoneError {}

/// One query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The name asked for, lower case, without a trailing dot.
    pub name: String,
    /// Its type: `A`, `AAAA`, `TXT`, …
    pub kind: String,
    /// Whether it came over TCP.
    pub tcp: bool,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    queries: Mutex<Vec<Query>>,
    received: Condvar,
    /// Open TCP connections, shut down when the server stops.
    connections: Mutex<Vec<TcpStream>>,
    /// TCP connections whose client has not closed them yet.
    tcp_open: Mutex<usize>,
    tcp_changed: Condvar,
}

impl Shared {
    fn record(&self, query: Option<&Message>, tcp: bool) {
        let (name, kind) = match query.and_then(|m| m.queries.first()) {
            Some(q) => (key(&q.name().to_ascii()), q.query_type().to_string()),
            None => (String::new(), String::new()),
        };
        lock(&self.queries).push(Query { name, kind, tcp });
        self.received.notify_all();
    }
}

/// A DNS server on `127.0.0.1` and a random port, UDP and TCP, serving a [`Zone`] (see
/// the [module](self) for what it answers). Dropping it stops it.
///
/// ```
/// use dialer_testing::dns::{DnsServer, Zone};
///
/// let zone = Zone::new()
///     .ip("node.test", "127.0.0.1".parse().unwrap())
///     .dnsaddr("bootstrap.test", "/dns4/node.test/tcp/4001")
///     .silent("down.test");
/// let server = DnsServer::start(zone).unwrap();
/// assert!(server.addr().ip().is_loopback());
/// ```
pub struct DnsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// Serves `zone` on `127.0.0.1` and a port free for both UDP and TCP.
    pub fn start(zone: Zone) -> io::Result<Self> {
        Self::bind(SocketAddr::new(LOCALHOST_V4, 0), zone)
    }

    /// Serves `zone` on `addr`, which must be a loopback address (port 0: any free one).
    pub fn bind(addr: SocketAddr, zone: Zone) -> io::Result<Self> {
        check_loopback(addr.ip())?;
        let mut last = None;
        for _ in 0..PORT_TRIES {
            let udp = UdpSocket::bind(addr)?;
            let local = udp.local_addr()?;
            match TcpListener::bind(local) {
                Ok(tcp) => return Self::run(local, udp, tcp, zone),
                // The random UDP port is taken for TCP: try another (a fixed port fails).
                Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no port free for UDP and TCP")))
    }

    fn run(addr: SocketAddr, udp: UdpSocket, tcp: TcpListener, zone: Zone) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let zone = Arc::new(zone);
        let mut threads = Vec::new();
        let (udp_shared, udp_zone) = (Arc::clone(&shared), Arc::clone(&zone));
        threads.push(
            thread::Builder::new()
                .name(format!("dns-udp-{}", addr.port()))
                .spawn(move || serve_udp(&udp, &udp_zone, &udp_shared))?,
        );
        let tcp_shared = Arc::clone(&shared);
        threads.push(
            thread::Builder::new()
                .name(format!("dns-tcp-{}", addr.port()))
                .spawn(move || {
                    for stream in tcp.incoming() {
                        if tcp_shared.stop.load(Ordering::Acquire) {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        if let Ok(clone) = stream.try_clone() {
                            lock(&tcp_shared.connections).push(clone);
                        }
                        let (shared, zone) = (Arc::clone(&tcp_shared), Arc::clone(&zone));
                        // Detached: the server's drop shuts the stream down, which ends it.
                        let _ = thread::Builder::new()
                            .name("dns-tcp-conn".into())
                            .spawn(move || serve_tcp(stream, &zone, &shared));
                    }
                })?,
        );
        Ok(Self {
            addr,
            shared,
            threads,
        })
    }

    /// The address it listens on (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every query received so far, in order.
    pub fn queries(&self) -> Vec<Query> {
        lock(&self.shared.queries).clone()
    }

    /// How many queries for `name` were received (over UDP and TCP, any type).
    pub fn queries_for(&self, name: &str) -> usize {
        let name = key(name);
        lock(&self.shared.queries)
            .iter()
            .filter(|q| q.name == name)
            .count()
    }

    /// TCP connections open now: accepted, and not yet closed by the client (or the
    /// server's stop).
    pub fn tcp_connections(&self) -> usize {
        *lock(&self.shared.tcp_open)
    }

    /// Blocks until no TCP connection is open or `timeout` passed; returns how many are
    /// open. Woken by each close: a client that drops its resolver closes its connection.
    pub fn wait_for_tcp_closed(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut open = lock(&self.shared.tcp_open);
        loop {
            let now = Instant::now();
            if *open == 0 || now >= deadline {
                return *open;
            }
            open = self
                .shared
                .tcp_changed
                .wait_timeout(open, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Blocks until at least `n` queries were received or `timeout` passed; returns the
    /// count reached. Woken by each query.
    pub fn wait_for_queries(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut queries = lock(&self.shared.queries);
        loop {
            let now = Instant::now();
            if queries.len() >= n || now >= deadline {
                return queries.len();
            }
            queries = self
                .shared
                .received
                .wait_timeout(queries, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Each thread blocks in a receive or an accept: one datagram and one connection of
        // our own wake them, and they see the stop flag before handling either.
        if let Ok(waker) = UdpSocket::bind(SocketAddr::new(self.addr.ip(), 0)) {
            let _ = waker.send_to(&[0], self.addr);
        }
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5));
        for stream in lock(&self.shared.connections).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve_udp(socket: &UdpSocket, zone: &Zone, shared: &Shared) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let received = socket.recv_from(&mut buf);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let Ok((len, from)) = received else { continue };
        let request = Message::from_vec(&buf[..len]).ok();
        shared.record(request.as_ref(), false);
        let Some(request) = request.filter(|m| m.metadata.message_type == MessageType::Query)
        else {
            continue;
        };
        let Some(response) = zone.answer(&request) else {
            continue;
        };
        let Ok(mut bytes) = response.to_vec() else {
            continue;
        };
        if bytes.len() > usize::from(request.max_payload()) {
            match response.truncate().to_vec() {
                Ok(truncated) => bytes = truncated,
                Err(_) => continue,
            }
        }
        let _ = socket.send_to(&bytes, from);
    }
}

/// Counts a TCP connection open until dropped.
struct OpenConnection<'a>(&'a Shared);

impl<'a> OpenConnection<'a> {
    fn new(shared: &'a Shared) -> Self {
        *lock(&shared.tcp_open) += 1;
        shared.tcp_changed.notify_all();
        Self(shared)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        *lock(&self.0.tcp_open) -= 1;
        self.0.tcp_changed.notify_all();
    }
}

fn serve_tcp(mut stream: TcpStream, zone: &Zone, shared: &Shared) {
    let _open = OpenConnection::new(shared);
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() || shared.stop.load(Ordering::Acquire) {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut buf).is_err() {
            return;
        }
        let request = Message::from_vec(&buf).ok();
        shared.record(request.as_ref(), true);
        let Some(request) = request.filter(|m| m.metadata.message_type == MessageType::Query)
        else {
            return;
        };
        let Some(response) = zone.answer(&request) else {
            continue;
        };
        let Ok(bytes) = response.to_vec() else {
            return;
        };
        let Ok(len) = u16::try_from(bytes.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hickory_proto::op::Query as DnsQuery;
    use hickory_proto::rr::Name;

    use super::*;

    fn ask(server: &DnsServer, name: &str, kind: RecordType) -> Option<Message> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut query = Message::query();
        query.add_query(DnsQuery::query(Name::from_ascii(name).unwrap(), kind));
        socket
            .send_to(&query.to_vec().unwrap(), server.addr())
            .unwrap();
        let mut buf = [0u8; 4096];
        let (len, _) = socket.recv_from(&mut buf).ok()?;
        let answer = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(answer.metadata.id, query.metadata.id);
        Some(answer)
    }

    fn ask_tcp(server: &DnsServer, name: &str, kind: RecordType) -> Message {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        let mut query = Message::query();
        query.add_query(DnsQuery::query(Name::from_ascii(name).unwrap(), kind));
        let bytes = query.to_vec().unwrap();
        let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).unwrap();
        Message::from_vec(&buf).unwrap()
    }

    #[test]
    fn answers_records_nodata_nxdomain_and_keeps_silent() {
        let zone = Zone::new()
            .ip("Node.Test.", "127.0.0.1".parse().unwrap())
            .ip("node.test", "::1".parse().unwrap())
            .dnsaddr("boot.test", "/ip4/127.0.0.1/tcp/1")
            .silent("down.test");
        let server = DnsServer::start(zone).unwrap();
        let a = ask(&server, "node.test.", RecordType::A).unwrap();
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a.answers.len(), 1);
        assert!(matches!(a.answers[0].data, RData::A(A(ip)) if ip.is_loopback()));
        let txt = ask(&server, "_dnsaddr.boot.test.", RecordType::TXT).unwrap();
        assert!(
            matches!(&txt.answers[0].data, RData::TXT(t) if t.txt_data[0][..] == b"dnsaddr=/ip4/127.0.0.1/tcp/1"[..])
        );
        let nodata = ask(&server, "node.test.", RecordType::TXT).unwrap();
        assert_eq!(
            (nodata.metadata.response_code, nodata.answers.len()),
            (ResponseCode::NoError, 0)
        );
        let nx = ask(&server, "nowhere.test.", RecordType::A).unwrap();
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert!(ask(&server, "down.test.", RecordType::A).is_none());
        assert_eq!(server.queries_for("down.test"), 1);
        assert_eq!(server.queries().len(), 5);
    }

    #[test]
    fn a_large_answer_is_truncated_over_udp_and_whole_over_tcp() {
        let zone = (0..150).fold(Zone::new(), |zone, i| {
            zone.dnsaddr("many.test", format!("/ip4/127.0.0.1/tcp/{}", 1000 + i))
        });
        let server = DnsServer::start(zone).unwrap();
        let udp = ask(&server, "_dnsaddr.many.test.", RecordType::TXT).unwrap();
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());
        let tcp = ask_tcp(&server, "_dnsaddr.many.test.", RecordType::TXT);
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), 150);
        assert!(server.queries()[1].tcp);
    }

    #[test]
    fn a_long_txt_record_is_split_into_strings() {
        let long = "x".repeat(600);
        let server = DnsServer::start(Zone::new().txt("long.test", &long)).unwrap();
        // 600 bytes and more: over 512, so UDP without EDNS would truncate it.
        let answer = ask_tcp(&server, "long.test.", RecordType::TXT);
        let RData::TXT(txt) = &answer.answers[0].data else {
            panic!("a TXT record");
        };
        let lens: Vec<usize> = txt.txt_data.iter().map(|s| s.len()).collect();
        assert_eq!(lens, [255, 255, 90]);
    }

    #[test]
    fn zone_lines_parse_or_say_why_not() {
        let zone = Zone::new()
            .with_line("A a.test 127.0.0.1")
            .and_then(|z| z.with_line("aaaa a.test ::1"))
            .and_then(|z| z.with_line("TXT t.test hello world"))
            .and_then(|z| z.with_line("DNSADDR boot.test /dns4/a.test/tcp/1"))
            .and_then(|z| z.with_line("SILENT s.test"))
            .unwrap();
        assert_eq!(zone.records["a.test"].len(), 2);
        assert_eq!(zone.records["_dnsaddr.boot.test"].len(), 1);
        assert!(zone.silent.contains("s.test"));
        for bad in [
            "A a.test ::1",
            "A a.test nope",
            "MX a.test x",
            "A",
            "DNSADDR boot.test",
        ] {
            assert!(Zone::new().with_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_loopback_is_refused() {
        let err = DnsServer::bind("192.0.2.1:53".parse().unwrap(), Zone::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
