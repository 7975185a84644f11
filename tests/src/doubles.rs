//! Transports for the conformance suite (R-A3: the transport is pluggable): wrappers that
//! record and count what the driver does with the real TCP transports, and a test double
//! that makes a connection complete after its abort.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use dialer_driver::{Multiaddr, Transport};
use dialer_testing::GREETING;

use crate::gauge::Gauge;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a [`Recording`] transport saw, shared with the test.
#[derive(Debug, Default)]
pub struct DialLog {
    dialed: Mutex<Vec<Multiaddr>>,
    /// The host each dial's address was resolved from (`Transport::dial_named`), in the
    /// order of `dialed`.
    names: Mutex<Vec<Option<String>>>,
    /// Dial futures alive: created by [`Transport::dial`] and not yet dropped. An aborted
    /// dial counts until the driver has actually dropped its future (and so its socket).
    pub attempts: Gauge,
    /// Dials whose connect is under way: the inner future returned `Pending` at least once
    /// (for TCP: the socket exists and its SYN is out) and has neither finished nor been
    /// dropped. Its maximum is the most sockets connecting at once.
    pub connecting: Gauge,
    /// Connections handed to the driver and not yet dropped (by the caller, or by the
    /// driver when nobody wants them).
    pub connections: Gauge,
}

impl DialLog {
    /// Every address dialed, in the order the driver started the dials.
    pub fn dialed(&self) -> Vec<Multiaddr> {
        lock(&self.dialed).clone()
    }

    /// The host each dial's address was resolved from (R-N1), in dial order: `None` for
    /// an address dialed as the caller passed it.
    pub fn names(&self) -> Vec<Option<String>> {
        lock(&self.names).clone()
    }

    /// How many dials were started for `addr`.
    pub fn dials_to(&self, addr: &Multiaddr) -> usize {
        lock(&self.dialed).iter().filter(|a| *a == addr).count()
    }

    fn record(&self, addr: &Multiaddr, name: Option<&str>) {
        lock(&self.dialed).push(addr.clone());
        lock(&self.names).push(name.map(str::to_owned));
        self.attempts.inc();
    }
}

/// A connection that tells its [`DialLog`] when it is dropped (closed).
pub struct Tracked<C> {
    /// Always `Some` until dropped: taken in `drop` so that the connection is closed
    /// before the log hears of it.
    connection: Option<C>,
    log: Arc<DialLog>,
}

impl<C> Tracked<C> {
    fn new(connection: C, log: &Arc<DialLog>) -> Self {
        log.connections.inc();
        Self {
            connection: Some(connection),
            log: Arc::clone(log),
        }
    }
}

impl<C> Deref for Tracked<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.connection.as_ref().expect("taken only when dropped")
    }
}

impl<C> Drop for Tracked<C> {
    fn drop(&mut self) {
        drop(self.connection.take());
        self.log.connections.dec();
    }
}

impl<C> fmt::Debug for Tracked<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked").finish_non_exhaustive()
    }
}

/// Wraps a transport: records every dial's address in order, and counts dial futures,
/// connects under way and connections alive in a shared [`DialLog`].
#[derive(Debug)]
pub struct Recording<T> {
    inner: T,
    log: Arc<DialLog>,
}

impl<T> Recording<T> {
    /// Wraps `inner`; returns the transport and its log.
    pub fn new(inner: T) -> (Self, Arc<DialLog>) {
        let log = Arc::new(DialLog::default());
        (
            Self {
                inner,
                log: Arc::clone(&log),
            },
            log,
        )
    }
}

impl<T: Transport> Transport for Recording<T> {
    type Output = Tracked<T::Output>;
    type Error = T::Error;
    type Dial = RecordedDial<T::Dial>;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        self.inner.can_dial(addr)
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        self.dial_named(addr, None)
    }

    fn dial_named(&self, addr: &Multiaddr, name: Option<&str>) -> Self::Dial {
        self.log.record(addr, name);
        RecordedDial {
            inner: Some(Box::pin(self.inner.dial_named(addr, name))),
            log: Arc::clone(&self.log),
            connecting: false,
        }
    }
}

/// The dial future of a [`Recording`] transport.
pub struct RecordedDial<F> {
    /// `None` once dropped: the inner future (and its socket) goes before the log hears of
    /// it, so a test that sees the count fall finds the socket closed.
    inner: Option<Pin<Box<F>>>,
    log: Arc<DialLog>,
    connecting: bool,
}

impl<F> RecordedDial<F> {
    fn stop_connecting(&mut self) {
        if std::mem::take(&mut self.connecting) {
            self.log.connecting.dec();
        }
    }
}

impl<F, C, E> Future for RecordedDial<F>
where
    F: Future<Output = Result<C, E>>,
{
    type Output = Result<Tracked<C>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Pending;
        };
        match inner.as_mut().poll(cx) {
            Poll::Pending => {
                if !self.connecting {
                    self.connecting = true;
                    self.log.connecting.inc();
                }
                Poll::Pending
            }
            Poll::Ready(result) => {
                self.stop_connecting();
                Poll::Ready(result.map(|c| Tracked::new(c, &self.log)))
            }
        }
    }
}

impl<F> Drop for RecordedDial<F> {
    fn drop(&mut self) {
        drop(self.inner.take());
        self.stop_connecting();
        self.log.attempts.dec();
    }
}

/// A connection that can wait for the first byte its peer sends.
pub trait ReadByte: Send + Sync + 'static {
    /// Reads one byte; end of stream is an `UnexpectedEof` error.
    fn read_byte(&self) -> Pin<Box<dyn Future<Output = io::Result<u8>> + Send + '_>>;
}

impl<C: ReadByte> ReadByte for Tracked<C> {
    fn read_byte(&self) -> Pin<Box<dyn Future<Output = io::Result<u8>> + Send + '_>> {
        (**self).read_byte()
    }
}

/// Wraps a transport so that a dial succeeds only once the peer has sent
/// [`GREETING`], the way a libp2p dial ends with a protocol handshake: a peer that accepts
/// and then resets the connection is a failed dial, not a connection.
#[derive(Debug)]
pub struct Greeted<T>(pub T);

/// Why a [`Greeted`] dial failed.
#[derive(Debug)]
pub enum GreetError<E> {
    /// The inner transport failed.
    Dial(E),
    /// The connection was made, but no greeting came.
    Greeting(io::Error),
}

impl<E: fmt::Display> fmt::Display for GreetError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dial(e) => e.fmt(f),
            Self::Greeting(_) => f.write_str("waiting for the peer's greeting"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GreetError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Dial(e) => e.source(),
            Self::Greeting(e) => Some(e),
        }
    }
}

/// The dial future of a [`Greeted`] transport.
pub type GreetedDial<C, E> = Pin<Box<dyn Future<Output = Result<C, GreetError<E>>> + Send>>;

impl<T> Transport for Greeted<T>
where
    T: Transport,
    T::Output: ReadByte,
{
    type Output = T::Output;
    type Error = GreetError<T::Error>;
    type Dial = GreetedDial<T::Output, T::Error>;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        self.0.can_dial(addr)
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        self.dial_named(addr, None)
    }

    fn dial_named(&self, addr: &Multiaddr, name: Option<&str>) -> Self::Dial {
        let dial = self.0.dial_named(addr, name);
        Box::pin(async move {
            let connection = dial.await.map_err(GreetError::Dial)?;
            match connection.read_byte().await {
                Ok(GREETING) => Ok(connection),
                Ok(other) => Err(GreetError::Greeting(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("expected greeting {GREETING}, got {other}"),
                ))),
                Err(e) => Err(GreetError::Greeting(e)),
            }
        })
    }
}

#[derive(Debug, Default)]
struct GateState {
    entered: bool,
    waiting: Vec<Waker>,
}

/// Orders the two dials of [`LateTransport`]: the winner dials only once the late dial
/// holds its connection.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
}

impl Gate {
    /// Whether the late dial has connected and is holding its connection.
    pub fn entered(&self) -> bool {
        lock(&self.state).entered
    }

    fn enter(&self) {
        let waiting = {
            let mut state = lock(&self.state);
            state.entered = true;
            std::mem::take(&mut state.waiting)
        };
        // Woken from a thread outside the runtime: a wake from inside the blocked worker
        // could park the woken task in that worker's own (unstealable) slot.
        std::thread::spawn(move || waiting.into_iter().for_each(Waker::wake));
    }

    /// Registers `waker` unless the late dial has entered; returns whether it has.
    fn entered_or_wait(&self, waker: &Waker) -> bool {
        let mut state = lock(&self.state);
        if !state.entered {
            state.waiting.push(waker.clone());
        }
        state.entered
    }
}

/// A test double (R-A3) whose aborted dial already holds a connection, which the driver
/// must close (R-A1), deterministically:
///
/// 1. the dial to the `late` address connects (blocking `std` connect on loopback), signals
///    the [`Gate`] and then stays pending with its connection open, as a dial whose
///    handshake has not finished yet;
/// 2. every other dial waits until that has happened, then connects and wins, so the
///    driver aborts the late dial (R-R4), which must close the connection it holds.
#[derive(Debug)]
pub struct LateTransport {
    late: Multiaddr,
    gate: Arc<Gate>,
    log: Arc<DialLog>,
}

impl LateTransport {
    /// A transport whose dial to `late` completes late; returns it, its gate and its log.
    pub fn new(late: Multiaddr) -> (Self, Arc<Gate>, Arc<DialLog>) {
        let gate = Arc::new(Gate::default());
        let log = Arc::new(DialLog::default());
        (
            Self {
                late,
                gate: Arc::clone(&gate),
                log: Arc::clone(&log),
            },
            gate,
            log,
        )
    }
}

fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    dialer_driver::tcp::socket_addr(addr)
}

impl Transport for LateTransport {
    type Output = Tracked<TcpStream>;
    type Error = io::Error;
    type Dial = LateDial;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        socket_addr(addr).is_some_and(|s| s.ip().is_loopback())
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        self.log.record(addr, None);
        LateDial {
            target: socket_addr(addr),
            late: *addr == self.late,
            held: None,
            gate: Arc::clone(&self.gate),
            log: Arc::clone(&self.log),
        }
    }
}

/// The dial future of a [`LateTransport`].
#[derive(Debug)]
pub struct LateDial {
    target: Option<SocketAddr>,
    late: bool,
    /// The late dial's connection, held open until the dial is aborted.
    held: Option<Tracked<TcpStream>>,
    gate: Arc<Gate>,
    log: Arc<DialLog>,
}

impl LateDial {
    fn connect(&self) -> io::Result<Tracked<TcpStream>> {
        let target = self
            .target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP multiaddr"))?;
        let stream = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
        Ok(Tracked::new(stream, &self.log))
    }
}

impl Future for LateDial {
    type Output = io::Result<Tracked<TcpStream>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.late {
            if this.held.is_none() {
                match this.connect() {
                    Ok(connection) => this.held = Some(connection),
                    Err(e) => return Poll::Ready(Err(e)),
                }
                this.gate.enter();
            }
            // Connected, never done: only an abort (dropping this future) ends it.
            return Poll::Pending;
        }
        if !this.gate.entered_or_wait(cx.waker()) {
            return Poll::Pending;
        }
        Poll::Ready(this.connect())
    }
}

impl Drop for LateDial {
    fn drop(&mut self) {
        self.log.attempts.dec();
    }
}
