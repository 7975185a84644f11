//! Loopback test peers: real TCP endpoints with the behaviours a dialer must cope with.
//!
//! This crate is not published: it serves the workspace's tests, examples and benchmarks.
//! Everything here is plain `std` + `socket2`, so it works
//! under any async runtime (or none): each peer runs on its own OS threads and is torn
//! down when dropped. Every peer binds a **loopback** address only (`127.0.0.1` by
//! default, `::1` on request); a non-loopback address is refused.
//!
//! | peer | what a `connect` to it does |
//! |---|---|
//! | [`Listener::accepting`] | completes; the peer accepts, greets and holds the connection |
//! | [`Listener::closing`] | completes; the peer accepts, greets and closes at once |
//! | [`Listener::resetting`] | completes at the TCP level, then the peer resets it (RST) before greeting |
//! | [`Listener::slow`] | completes; the peer greets only after a delay, then holds |
//! | [`Refusing`] | fails at once with "connection refused" (RST to the SYN) |
//! | [`Tarpit`] | hangs: the SYN is dropped and retransmitted until the dialer gives up |
//!
//! A TCP `connect` completes in the kernel before the peer calls `accept`, so "accepted"
//! and "slow" are only visible to a transport that waits for the peer to speak first. The
//! listeners therefore write [`GREETING`] on every connection they keep, the way a libp2p
//! listener answers the multistream-select header: a test transport can read it to tell a
//! usable connection from a reset one.
//!
//! [`open_fds`] and [`Tarpit::pending_connects`] count sockets of this process, to show
//! that aborted dials release theirs.
//!
//! With the feature `metrics-server`, [`MetricsServer`] serves a Prometheus registry at
//! `/metrics` over loopback HTTP. With the feature `dns-server`, [`dns::DnsServer`] is a
//! real DNS server (UDP and TCP) on loopback serving a fixed [`dns::Zone`], and the
//! `dns-server` binary serves one from the command line.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use multiaddr::{Multiaddr, Protocol};
use socket2::{Domain, SockRef, Socket, Type};

#[cfg(feature = "dns-server")]
pub mod dns;
#[cfg(feature = "metrics-server")]
mod metrics;
#[cfg(feature = "metrics-server")]
pub use metrics::{MetricsServer, CONTENT_TYPE};

/// The byte a [`Listener`] writes on every connection it keeps: a transport that reads it
/// knows the peer accepted the connection and is alive.
pub const GREETING: u8 = b'!';

/// `127.0.0.1`, the address every peer binds unless told otherwise.
pub const LOCALHOST_V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// `/ip4/127.0.0.1/tcp/PORT` or `/ip6/::1/tcp/PORT` for a socket address.
pub fn ip_multiaddr(addr: SocketAddr) -> Multiaddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => Protocol::Ip4(ip),
        IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(addr.port()))
}

/// `/dns4/localhost/tcp/PORT`: the same IPv4 loopback peer, reached through name
/// resolution.
pub fn dns_multiaddr(port: u16) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Dns4("localhost".into()))
        .with(Protocol::Tcp(port))
}

/// Number of file descriptors this process has open (entries of `/proc/self/fd`, minus
/// the one the listing itself uses). Linux only; elsewhere an error.
///
/// Count before and after a piece of work in a process that does nothing else (its own
/// test binary): other threads opening files in the meantime change the figure.
pub fn open_fds() -> io::Result<usize> {
    let entries = fs::read_dir("/proc/self/fd")?.count();
    Ok(entries.saturating_sub(1))
}

fn check_loopback(ip: IpAddr) -> io::Result<()> {
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("test peers bind loopback addresses only, not {ip}"),
        ))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking peer thread must not hide the test's own failure behind a poison error.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a [`Listener`] does with each connection it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAccept {
    /// Write [`GREETING`] and keep the connection open until the listener is dropped or
    /// [`Listener::close_held`] is called.
    Hold,
    /// Write [`GREETING`] and close the connection.
    Close,
    /// Close the connection with `SO_LINGER` 0, which sends an RST instead of a FIN.
    Reset,
    /// Wait this long (a timer of the peer's own, on its own thread), then behave as
    /// [`OnAccept::Hold`].
    DelayThenHold(Duration),
}

/// A stop flag that sleeping peer threads can wait on.
#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl StopSignal {
    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.cv.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps until `deadline` or until stopped; returns whether it was stopped.
    fn wait_until(&self, deadline: Instant) -> bool {
        let mut stopped = lock(&self.stopped);
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self
                .cv
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    stop: StopSignal,
    accepts: Mutex<usize>,
    accepted: Condvar,
    held: Mutex<Vec<TcpStream>>,
    greeted: AtomicUsize,
}

/// A TCP listener on a loopback port whose background thread accepts every connection,
/// counts it and treats it as its [`OnAccept`] says.
///
/// Dropping it stops the thread, closes the listening socket and every held connection.
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Listener {
    /// Accepts, greets and holds every connection, on `127.0.0.1`.
    pub fn accepting() -> io::Result<Self> {
        Self::bind(LOCALHOST_V4, OnAccept::Hold)
    }

    /// Accepts, greets and closes every connection at once, on `127.0.0.1`: holds no
    /// descriptor beyond the listening socket, which suits load tests.
    pub fn closing() -> io::Result<Self> {
        Self::bind(LOCALHOST_V4, OnAccept::Close)
    }

    /// Accepts and resets every connection (`SO_LINGER` 0, then close), on `127.0.0.1`.
    pub fn resetting() -> io::Result<Self> {
        Self::bind(LOCALHOST_V4, OnAccept::Reset)
    }

    /// Accepts every connection but greets it only `delay` later, then holds it, on
    /// `127.0.0.1`.
    pub fn slow(delay: Duration) -> io::Result<Self> {
        Self::bind(LOCALHOST_V4, OnAccept::DelayThenHold(delay))
    }

    /// A listener on `ip` (which must be a loopback address) and an ephemeral port.
    pub fn bind(ip: IpAddr, on_accept: OnAccept) -> io::Result<Self> {
        Self::bind_to(SocketAddr::new(ip, 0), on_accept)
    }

    /// A listener on `addr`, which must be a loopback address (port 0: an ephemeral one):
    /// say, the port of another peer on another loopback address, so that one name with
    /// two `A` records reaches both.
    pub fn bind_to(addr: SocketAddr, on_accept: OnAccept) -> io::Result<Self> {
        check_loopback(addr.ip())?;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let mut threads = Vec::new();
        let delayed = match on_accept {
            OnAccept::DelayThenHold(delay) => {
                let (tx, rx) = std::sync::mpsc::channel::<(Instant, TcpStream)>();
                let timer_shared = Arc::clone(&shared);
                threads.push(
                    thread::Builder::new()
                        .name(format!("slow-peer-timer-{}", addr.port()))
                        .spawn(move || {
                            // FIFO: every connection waits the same delay, so deadlines
                            // arrive in order.
                            while let Ok((due, stream)) = rx.recv() {
                                if timer_shared.stop.wait_until(due) {
                                    return;
                                }
                                greet_and_hold(&timer_shared, stream);
                            }
                        })?,
                );
                Some((tx, delay))
            }
            _ => None,
        };
        let accept_shared = Arc::clone(&shared);
        threads.push(
            thread::Builder::new()
                .name(format!("test-peer-{}", addr.port()))
                .spawn(move || {
                    for stream in listener.incoming() {
                        if accept_shared.stop.is_stopped() {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        match on_accept {
                            OnAccept::Hold => greet_and_hold(&accept_shared, stream),
                            // Dropped (closed) here, before the count below: a test that
                            // counts descriptors once it sees the count must not find it.
                            OnAccept::Close => {
                                if greet(&stream) {
                                    accept_shared.greeted.fetch_add(1, Ordering::Relaxed);
                                }
                                let _ = stream.shutdown(Shutdown::Both);
                                drop(stream);
                            }
                            OnAccept::Reset => {
                                let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                                drop(stream);
                            }
                            OnAccept::DelayThenHold(_) => {
                                if let Some((tx, delay)) = &delayed {
                                    let _ = tx.send((Instant::now() + *delay, stream));
                                }
                            }
                        }
                        // Counted once handled: a closing or resetting peer has closed the
                        // connection (and its descriptor) by the time a test sees the count.
                        *lock(&accept_shared.accepts) += 1;
                        accept_shared.accepted.notify_all();
                    }
                })?,
        );
        Ok(Self {
            addr,
            shared,
            threads,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `/ip4/127.0.0.1/tcp/PORT` (or `/ip6/::1/…`).
    pub fn multiaddr(&self) -> Multiaddr {
        ip_multiaddr(self.addr)
    }

    /// `/dns4/localhost/tcp/PORT` (meaningful for an IPv4 listener).
    pub fn dns_multiaddr(&self) -> Multiaddr {
        dns_multiaddr(self.addr.port())
    }

    /// Connections accepted and handled so far: with [`OnAccept::Close`] and
    /// [`OnAccept::Reset`], each counted connection is already closed on the peer's side.
    pub fn accepts(&self) -> usize {
        *lock(&self.shared.accepts)
    }

    /// Connections greeted so far ([`OnAccept::Reset`] greets none).
    pub fn greeted(&self) -> usize {
        self.shared.greeted.load(Ordering::Relaxed)
    }

    /// Connections currently held open by the peer.
    pub fn held(&self) -> usize {
        lock(&self.shared.held).len()
    }

    /// Closes every held connection (the dialer side sees EOF).
    pub fn close_held(&self) {
        lock(&self.shared.held).clear();
    }

    /// Blocks until at least `n` connections were accepted or `timeout` passed; returns
    /// the count reached. Woken by each accept, so it returns as soon as the event happens.
    pub fn wait_for_accepts(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut accepts = lock(&self.shared.accepts);
        loop {
            let now = Instant::now();
            if *accepts >= n || now >= deadline {
                return *accepts;
            }
            accepts = self
                .shared
                .accepted
                .wait_timeout(accepts, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn greet(stream: &TcpStream) -> bool {
    let mut s = stream;
    s.write_all(&[GREETING]).is_ok()
}

fn greet_and_hold(shared: &Shared, stream: TcpStream) {
    if greet(&stream) {
        shared.greeted.fetch_add(1, Ordering::Relaxed);
    }
    lock(&shared.held).push(stream);
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop.stop();
        // The accept thread blocks in accept(): one connection of our own wakes it up, and
        // it sees the stop flag before counting it.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5));
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.close_held();
    }
}

/// A loopback port where connects are refused: a bound TCP socket that never listens, so
/// the kernel answers every SYN with an RST (`ECONNREFUSED`). Holding the bound socket
/// keeps the port from being reused by anyone else while the test runs.
#[derive(Debug)]
pub struct Refusing {
    addr: SocketAddr,
    _socket: Socket,
}

impl Refusing {
    /// A refusing port on `127.0.0.1`.
    pub fn new() -> io::Result<Self> {
        Self::bind(LOCALHOST_V4)
    }

    /// A refusing port on `ip`, which must be a loopback address.
    pub fn bind(ip: IpAddr) -> io::Result<Self> {
        check_loopback(ip)?;
        let addr = SocketAddr::new(ip, 0);
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.bind(&addr.into())?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        Ok(Self {
            addr,
            _socket: socket,
        })
    }

    /// The refusing address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `/ip4/127.0.0.1/tcp/PORT` (or `/ip6/::1/…`).
    pub fn multiaddr(&self) -> Multiaddr {
        ip_multiaddr(self.addr)
    }

    /// `/dns4/localhost/tcp/PORT`.
    pub fn dns_multiaddr(&self) -> Multiaddr {
        dns_multiaddr(self.addr.port())
    }
}

/// A loopback port where connects hang: it listens with a backlog of 0, fills its own
/// accept queue with connections it makes itself and never accepts, so the kernel drops
/// every further SYN (a full accept queue drops SYNs whatever the SYN-cookie setting) and
/// the dialer waits in `SYN_SENT`, retransmitting, until it gives up.
///
/// Construction checks the effect: it probes with non-blocking connects until one does
/// not complete within a short wait. Linux semantics; dropping it closes the listener and
/// the fillers, after which pending connects are refused on their next retransmission.
#[derive(Debug)]
pub struct Tarpit {
    addr: SocketAddr,
    _listener: Socket,
    _fillers: Vec<TcpStream>,
}

/// How long a probe connect must stay pending for the tarpit to count as hanging. A
/// loopback connect to a port with room in its queue completes within microseconds.
const TARPIT_PROBE: Duration = Duration::from_millis(100);
/// Most fillers before giving up: backlog 0 takes one or two, depending on the kernel.
const TARPIT_MAX_FILLERS: usize = 16;

impl Tarpit {
    /// A tarpit on `127.0.0.1`.
    pub fn new() -> io::Result<Self> {
        Self::bind(LOCALHOST_V4)
    }

    /// A tarpit on `ip`, which must be a loopback address.
    pub fn bind(ip: IpAddr) -> io::Result<Self> {
        Self::bind_to(SocketAddr::new(ip, 0))
    }

    /// A tarpit on `addr`, which must be a loopback address (port 0: an ephemeral one).
    pub fn bind_to(addr: SocketAddr) -> io::Result<Self> {
        check_loopback(addr.ip())?;
        let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        listener.bind(&addr.into())?;
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        let mut fillers = Vec::new();
        let mut slow_first = 0;
        while fillers.len() < TARPIT_MAX_FILLERS {
            // A probe that completes is one more filler; the first that stays pending shows
            // the queue is full.
            match TcpStream::connect_timeout(&addr, TARPIT_PROBE) {
                Ok(stream) => fillers.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if fillers.is_empty() && slow_first < TARPIT_MAX_FILLERS {
                        // The empty queue must take the first connection; a timeout here is
                        // a loaded machine, not a tarpit. Try again.
                        slow_first += 1;
                        continue;
                    }
                    return Ok(Self {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "tarpit {addr}: {TARPIT_MAX_FILLERS} connects completed without an accept; \
             the accept queue never filled"
        )))
    }

    /// The hanging address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `/ip4/127.0.0.1/tcp/PORT` (or `/ip6/::1/…`).
    pub fn multiaddr(&self) -> Multiaddr {
        ip_multiaddr(self.addr)
    }

    /// `/dns4/localhost/tcp/PORT`.
    pub fn dns_multiaddr(&self) -> Multiaddr {
        dns_multiaddr(self.addr.port())
    }

    /// Sockets of this process that are connecting to the tarpit right now (state
    /// `SYN_SENT` in `/proc/net/tcp{,6}`, owned by a descriptor in `/proc/self/fd`): the
    /// dials in flight to it. The tarpit's own fillers are connected, so not counted. Linux
    /// only.
    pub fn pending_connects(&self) -> io::Result<usize> {
        let own = socket_inodes()?;
        let table = if self.addr.is_ipv4() {
            "/proc/net/tcp"
        } else {
            "/proc/net/tcp6"
        };
        let text = fs::read_to_string(table)?;
        let port = format!(":{:04X}", self.addr.port());
        let mut count = 0;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(rem), Some(st), Some(inode)) = (fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            const SYN_SENT: &str = "02";
            if *st == SYN_SENT && rem.ends_with(&port) && own.contains(*inode) {
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Inode numbers of the sockets this process holds, as `/proc/net/tcp` prints them.
fn socket_inodes() -> io::Result<std::collections::HashSet<String>> {
    let mut inodes = std::collections::HashSet::new();
    for entry in fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        // Descriptors can close between listing and reading: skip those.
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    Ok(inodes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Read;

    use super::*;

    fn read_one(stream: &mut TcpStream) -> io::Result<u8> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0u8; 1];
        match stream.read(&mut buf)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(buf[0]),
        }
    }

    #[test]
    fn accepting_greets_counts_and_holds() {
        let peer = Listener::accepting().unwrap();
        let mut a = TcpStream::connect(peer.addr()).unwrap();
        let mut b = TcpStream::connect(peer.addr()).unwrap();
        assert_eq!(read_one(&mut a).unwrap(), GREETING);
        assert_eq!(read_one(&mut b).unwrap(), GREETING);
        assert_eq!(peer.wait_for_accepts(2, Duration::from_secs(10)), 2);
        assert_eq!(peer.held(), 2);
        peer.close_held();
        assert_eq!(peer.held(), 0);
        assert!(matches!(read_one(&mut a), Err(e) if e.kind() == io::ErrorKind::UnexpectedEof));
    }

    #[test]
    fn closing_greets_then_closes() {
        let peer = Listener::closing().unwrap();
        let mut a = TcpStream::connect(peer.addr()).unwrap();
        assert_eq!(read_one(&mut a).unwrap(), GREETING);
        assert!(read_one(&mut a).is_err());
        assert_eq!(peer.held(), 0);
    }

    #[test]
    fn resetting_resets() {
        let peer = Listener::resetting().unwrap();
        let mut a = TcpStream::connect(peer.addr()).unwrap();
        let err = read_one(&mut a).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert_eq!(peer.greeted(), 0);
    }

    #[test]
    fn slow_greets_after_its_delay() {
        let delay = Duration::from_millis(200);
        let peer = Listener::slow(delay).unwrap();
        let started = Instant::now();
        let mut a = TcpStream::connect(peer.addr()).unwrap();
        assert_eq!(read_one(&mut a).unwrap(), GREETING);
        assert!(started.elapsed() >= delay);
    }

    #[test]
    fn refusing_refuses() {
        let peer = Refusing::new().unwrap();
        let err = TcpStream::connect(peer.addr()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    }

    #[test]
    fn tarpit_hangs_and_pending_connects_are_counted() {
        let pit = Tarpit::new().unwrap();
        assert_eq!(pit.pending_connects().unwrap(), 0);
        let addr = pit.addr();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = thread::spawn(move || {
            let r = TcpStream::connect_timeout(&addr, Duration::from_millis(1500));
            tx.send(()).unwrap();
            r
        });
        // While the connect is pending, it shows up as SYN_SENT.
        let mut seen = 0;
        while rx.try_recv().is_err() && seen == 0 {
            seen = pit.pending_connects().unwrap();
            thread::yield_now();
        }
        assert_eq!(seen, 1);
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(pit.pending_connects().unwrap(), 0);
    }

    #[test]
    fn non_loopback_is_refused() {
        let err = Listener::bind("192.0.2.1".parse().unwrap(), OnAccept::Hold).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn multiaddrs() {
        let addr: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        assert_eq!(ip_multiaddr(addr).to_string(), "/ip4/127.0.0.1/tcp/4001");
        let addr: SocketAddr = "[::1]:4001".parse().unwrap();
        assert_eq!(ip_multiaddr(addr).to_string(), "/ip6/::1/tcp/4001");
        assert_eq!(dns_multiaddr(4001).to_string(), "/dns4/localhost/tcp/4001");
    }

    #[test]
    fn fd_count_reads_proc() {
        // The test harness itself holds stdin, stdout and stderr.
        assert!(open_fds().unwrap() >= 3);
    }
}
