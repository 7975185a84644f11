//! Driver tests on tokio with paused time and a scripted transport: every outcome and delay
//! is chosen by the test, and the clock jumps straight to the next timer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialer_core::{DialFailed, DialOpts, DialRefused, FailReason, Priority, SkipReason};
use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::StreamExt;
use multiaddr::Multiaddr;
use tokio::sync::Notify;

use crate::command::Command;
#[cfg(feature = "metrics")]
mod metrics;
mod names;
use crate::driver::Driver;
use crate::{Config, Dialer, Error, Runtime, Transport};

#[derive(Debug, Clone, Default)]
struct Tokio;

impl Runtime for Tokio {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(future);
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(deadline.into())
    }
}

/// A runtime whose timers never fire: only the driver's own clock check can notice a
/// deadline (the tokio pitfall of a timer that stays pending past its deadline).
#[derive(Debug, Clone, Default)]
struct DeafTimers;

impl Runtime for DeafTimers {
    fn now(&self) -> Instant {
        Tokio.now()
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        Tokio.spawn(future);
    }

    fn sleep_until(&self, _: Instant) -> impl Future<Output = ()> + Send + 'static {
        futures::future::pending()
    }
}

#[derive(Debug, Clone)]
enum Script {
    Connect(Duration),
    Fail(Duration, &'static str),
    /// Fails after a while as a refused connection (`ConnectionRefused`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    Refuse(Duration),
    /// Fails in its first poll, without waiting for anything.
    FailAtOnce(&'static str),
    /// Connects once the test opens the gate.
    Gated(Gate),
    Hang,
    /// `Transport::dial` itself panics, before any future exists.
    PanicInDial,
}

/// A door the test opens by hand: what stays shut until [`Gate::open`] (which wakes the
/// attempt waiting on it, as a socket becoming ready would).
#[derive(Debug, Clone, Default)]
struct Gate(Arc<std::sync::Mutex<(bool, Option<std::task::Waker>)>>);

impl Gate {
    fn open(&self) {
        let waker = {
            let mut state = self.0.lock().expect("gate");
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn passed(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.0.lock().expect("gate");
            if state.0 {
                std::task::Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await;
    }
}

/// What happened to the scripted transport's attempts and connections.
#[derive(Debug, Default)]
struct Counters {
    attempts_started: AtomicUsize,
    attempts_ended: AtomicUsize,
    connections: AtomicUsize,
    connections_dropped: AtomicUsize,
    transport_dropped: AtomicUsize,
    /// Attempt futures alive now (from `Transport::dial` to their drop), and at most.
    live: AtomicUsize,
    max_live: AtomicUsize,
    /// Every dial's address and the name it was resolved from (`Transport::dial_named`).
    named: std::sync::Mutex<Vec<(Multiaddr, Option<String>)>>,
    changed: Notify,
}

impl Counters {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Waits until `done` holds; a bounded (virtual) wait, so a bug fails instead of hanging.
    async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if done(self) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(3600), wait)
            .await
            .is_err()
        {
            panic!("never happened: {what} ({self:?})");
        }
    }
}

/// A connection that counts its drop: a dropped connection is a closed one.
#[derive(Debug)]
struct Conn {
    addr: Multiaddr,
    counters: Arc<Counters>,
}

impl Conn {
    fn new(addr: Multiaddr, counters: Arc<Counters>) -> Self {
        counters.bump(&counters.connections);
        Self { addr, counters }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counters.bump(&self.counters.connections_dropped);
    }
}

/// Lives as long as an attempt future, however it ends (completed, aborted, dropped): it
/// stands for the attempt's socket.
struct AttemptGuard(Arc<Counters>);

impl AttemptGuard {
    fn new(counters: Arc<Counters>) -> Self {
        let live = counters.live.fetch_add(1, Ordering::SeqCst) + 1;
        counters.max_live.fetch_max(live, Ordering::SeqCst);
        Self(counters)
    }
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.bump(&self.0.attempts_ended);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("scripted failure")]
struct ScriptedError(#[source] std::io::Error);

/// Dials `/memory/N` style addresses by script; `/udp/` addresses are undialable.
struct Scripted {
    scripts: HashMap<Multiaddr, Script>,
    counters: Arc<Counters>,
}

impl Scripted {
    fn new(scripts: &[(&Multiaddr, Script)]) -> (Self, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let scripts = scripts
            .iter()
            .map(|(a, s)| ((*a).clone(), s.clone()))
            .collect();
        (
            Self {
                scripts,
                counters: Arc::clone(&counters),
            },
            counters,
        )
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.counters.bump(&self.counters.transport_dropped);
    }
}

impl Transport for Scripted {
    type Output = Conn;
    type Error = ScriptedError;
    type Dial = BoxFuture<'static, Result<Conn, ScriptedError>>;

    fn can_dial(&self, addr: &Multiaddr) -> bool {
        !addr.to_string().contains("/udp/")
    }

    fn dial_named(&self, addr: &Multiaddr, name: Option<&str>) -> Self::Dial {
        self.counters
            .named
            .lock()
            .expect("named")
            .push((addr.clone(), name.map(str::to_owned)));
        self.dial(addr)
    }

    fn dial(&self, addr: &Multiaddr) -> Self::Dial {
        let script = self.scripts.get(addr).cloned().unwrap_or(Script::Hang);
        if matches!(script, Script::PanicInDial) {
            panic!("no dial for {addr}");
        }
        let counters = Arc::clone(&self.counters);
        let addr = addr.clone();
        let guard = AttemptGuard::new(Arc::clone(&counters));
        Box::pin(async move {
            let _guard = guard;
            counters.bump(&counters.attempts_started);
            match script {
                Script::Connect(after) => {
                    tokio::time::sleep(after).await;
                    Ok(Conn::new(addr, counters))
                }
                Script::Fail(after, why) => {
                    tokio::time::sleep(after).await;
                    Err(ScriptedError(std::io::Error::other(why)))
                }
                Script::Refuse(after) => {
                    tokio::time::sleep(after).await;
                    Err(ScriptedError(std::io::ErrorKind::ConnectionRefused.into()))
                }
                Script::FailAtOnce(why) => Err(ScriptedError(std::io::Error::other(why))),
                Script::Gated(gate) => {
                    gate.passed().await;
                    Ok(Conn::new(addr, counters))
                }
                Script::Hang | Script::PanicInDial => futures::future::pending().await,
            }
        })
    }
}

fn addr(port: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}")
        .parse()
        .expect("multiaddr")
}

const MS: Duration = Duration::from_millis(1);

thread_local! {
    /// Set by the tests of [`spawned`]: the dialers they build run every attempt on a task
    /// of its own, the driver's way under load, instead of polling it in the driver task.
    static SPAWN_EVERY_ATTEMPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn dialer(config: Config, transport: Scripted) -> Dialer<u32, Scripted, Tokio> {
    let spawn = SPAWN_EVERY_ATTEMPT.with(std::cell::Cell::get);
    Dialer::build(config, transport, Tokio, |driver| {
        if spawn {
            driver.spawn_every_attempt();
        }
    })
    .expect("valid config")
}

/// The tests that involve attempts, again with every attempt on a task of its own.
mod spawned {
    macro_rules! spawned {
        ($($test:ident),* $(,)?) => {$(
            #[test]
            fn $test() {
                super::SPAWN_EVERY_ATTEMPT.with(|spawn| spawn.set(true));
                super::$test();
            }
        )*};
    }

    spawned!(
        first_success_wins_and_carries_its_latency,
        all_failures_list_every_reason,
        a_transport_that_panics_in_dial_fails_that_dial_only,
        address_timeouts_re_arm_the_timer_and_move_the_token,
        request_timeout_aborts_every_dial,
        losing_connections_are_closed,
        dropping_the_dial_future_cancels_the_request,
        joined_callers_share_one_connection,
        a_joined_caller_leaving_does_not_cancel_the_request,
        the_driver_ends_once_every_handle_and_every_dial_is_gone,
        high_priority_proceeds_without_tokens,
        pruned_addresses_reach_subscribers,
        an_aborted_attempt_is_gone_before_its_token_dials_again,
        an_attempt_woken_while_a_request_starts_is_not_forgotten,
    );
}

#[tokio::test(start_paused = true)]
async fn first_success_wins_and_carries_its_latency() {
    // R-R3, R-R4
    let (a, b) = (addr(1), addr(2));
    let (transport, counters) = Scripted::new(&[
        (&a, Script::Fail(10 * MS, "refused")),
        (&b, Script::Connect(20 * MS)),
    ]);
    let dialer = dialer(Config::default(), transport);
    let start = tokio::time::Instant::now();
    let dialed = dialer
        .dial(7, [a.clone(), b.clone()])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, b);
    assert_eq!(dialed.connect_time, 20 * MS);
    assert_eq!(dialed.failed.len(), 1);
    assert_eq!(dialed.failed[0].addr, a);
    assert_eq!(
        dialed.failed[0].reason,
        FailReason::Transport("scripted failure: refused".into())
    );
    assert_eq!(start.elapsed(), 20 * MS);
    let conn = dialed.into_connection().expect("a lone caller owns it");
    assert_eq!(conn.addr, b);
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.dials_started, 2);
    assert_eq!(stats.dials_failed, 1);
    assert_eq!(stats.tokens_in_use, 0);
    assert_eq!(Counters::get(&counters.connections), 1);
}

#[tokio::test(start_paused = true)]
async fn all_failures_list_every_reason() {
    // R-R5: the transport's message and its source chain reach the caller.
    let (a, b) = (addr(1), addr(2));
    let (transport, _) = Scripted::new(&[
        (&a, Script::Fail(MS, "refused by a")),
        (&b, Script::Fail(2 * MS, "refused by b")),
    ]);
    let dialer = dialer(Config::default(), transport);
    let error = dialer
        .dial(7, [a.clone(), b.clone()])
        .await
        .expect_err("must fail");
    let Error::Failed(DialFailed::AllFailed { attempts }) = error else {
        panic!("expected AllFailed, got {error:?}");
    };
    let reasons: Vec<_> = attempts
        .iter()
        .map(|t| (t.addr.clone(), t.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                a,
                FailReason::Transport("scripted failure: refused by a".into())
            ),
            (
                b,
                FailReason::Transport("scripted failure: refused by b".into())
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_transport_that_panics_in_dial_fails_that_dial_only() {
    // R-R5, bad input from a transport: the panic becomes that address's failure, the
    // request goes on with its other addresses, and the driver keeps serving.
    let (bad, good) = (addr(1), addr(2));
    let (transport, _) = Scripted::new(&[
        (&bad, Script::PanicInDial),
        (&good, Script::Connect(5 * MS)),
    ]);
    // No deny list, so the second request dials the bad address again.
    let config = Config::default().with_deny_list_capacity(0);
    let dialer = dialer(config, transport);
    let dialed = dialer
        .dial(7, [bad.clone(), good.clone()])
        .await
        .expect("the good address connects");
    assert_eq!(dialed.addr, good);
    let error = dialer.dial(8, [bad.clone()]).await.expect_err("must fail");
    let Error::Failed(DialFailed::AllFailed { attempts }) = error else {
        panic!("expected AllFailed, got {error:?}");
    };
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].reason,
        FailReason::Transport(format!("dial attempt panicked: no dial for {bad}").into())
    );
    let stats = dialer.stats().await.expect("driver running");
    assert_eq!((stats.dials_failed, stats.tokens_in_use), (2, 0));
    // Still serving.
    dialer.dial(9, [good]).await.expect("driver alive");
}

#[tokio::test(start_paused = true)]
async fn address_timeouts_re_arm_the_timer_and_move_the_token() {
    // R-R6a, R-T7, R-A4: one token, two hanging addresses, then a good one. Each timeout
    // must re-arm the timer for the next dial's deadline.
    let (a, b, c) = (addr(1), addr(2), addr(3));
    let (transport, counters) = Scripted::new(&[
        (&a, Script::Hang),
        (&b, Script::Hang),
        (&c, Script::Connect(5 * MS)),
    ]);
    let config = Config::default()
        .with_max_per_peer_dials(1)
        .with_address_timeout(Duration::from_secs(1));
    let dialer = dialer(config, transport);
    let start = tokio::time::Instant::now();
    let dialed = dialer
        .dial(7, [a.clone(), b.clone(), c.clone()])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, c);
    let failed: Vec<_> = dialed
        .failed
        .iter()
        .map(|t| (t.addr.clone(), t.reason.clone()))
        .collect();
    assert_eq!(
        failed,
        [
            (a, FailReason::AddressTimeout),
            (b, FailReason::AddressTimeout)
        ]
    );
    assert_eq!(start.elapsed(), Duration::from_secs(2) + 5 * MS);
    // The two timed-out attempts were dropped (their sockets closed), not leaked.
    counters
        .until("every attempt ended", |c| {
            Counters::get(&c.attempts_ended) == 3
        })
        .await;
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.dials_timed_out, 2);
    assert_eq!(stats.tokens_in_use, 0);
}

#[tokio::test(start_paused = true)]
async fn request_timeout_aborts_every_dial() {
    // R-R6
    let (a, b) = (addr(1), addr(2));
    let (transport, counters) = Scripted::new(&[(&a, Script::Hang), (&b, Script::Hang)]);
    let config = Config::default().with_dial_timeout(Duration::from_secs(3));
    let dialer = dialer(config, transport);
    let start = tokio::time::Instant::now();
    let error = dialer.dial(7, [a, b]).await.expect_err("must fail");
    assert!(
        matches!(&error, Error::Failed(DialFailed::Timeout { attempts }) if attempts.len() == 2),
        "{error:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    counters
        .until("both attempts dropped", |c| {
            Counters::get(&c.attempts_ended) == 2
        })
        .await;
    assert_eq!(dialer.stats().await.expect("stats").tokens_in_use, 0);
}

#[tokio::test(start_paused = true)]
async fn deadlines_are_checked_against_the_clock_not_only_the_timer() {
    // R-A4 / STYLE pitfall: with timers that never fire, the next input after the deadline
    // still makes the driver run the timeout.
    let (a, b) = (addr(1), addr(2));
    let (transport, counters) = Scripted::new(&[(&a, Script::Hang), (&b, Script::Connect(MS))]);
    let config = Config::default()
        .with_max_per_peer_dials(1)
        .with_address_timeout(Duration::from_secs(1));
    let dialer = Dialer::<u32, _, _>::with_runtime(config, transport, DeafTimers).expect("ok");
    let mut dial = Box::pin(dialer.dial(7, [a, b.clone()]));
    assert!(futures::poll!(dial.as_mut()).is_pending());
    counters
        .until("`a` is being dialed", |c| {
            Counters::get(&c.attempts_started) == 1
        })
        .await;
    tokio::time::advance(Duration::from_secs(2)).await;
    // Any input wakes the driver; it sees the passed deadline and times `a` out.
    dialer.stats().await.expect("stats");
    let dialed = dial.await.expect("connected");
    assert_eq!(dialed.addr, b);
    assert_eq!(dialer.stats().await.expect("stats").dials_timed_out, 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_completing_after_its_abort_is_closed() {
    // R-A1: drive the driver by hand so the late report is certain to arrive after the abort.
    let a = addr(1);
    let (transport, counters) = Scripted::new(&[(&a, Script::Hang)]);
    let core = dialer_core::Dialer::new(Config::default()).expect("config");
    let (_tx, rx) = mpsc::unbounded();
    let mut driver = Driver::new(core, Arc::new(transport), None, Tokio, rx);
    let (reply, _answer) = oneshot::channel();
    driver.on_command(Command::Dial {
        ticket: 1,
        peer: 7u32,
        addrs: vec![a.clone()],
        opts: DialOpts::default(),
        reply,
    });
    let dial = driver.dial_ids()[0];
    driver.on_command(Command::Cancel { ticket: 1 });
    assert!(driver.dial_ids().is_empty(), "the attempt was aborted");

    let late = Conn::new(a, Arc::clone(&counters));
    driver.on_dial_result(dial, crate::driver::DialTask::detached(), Ok(late));
    assert_eq!(Counters::get(&counters.connections_dropped), 1);
    let stats = driver.core_stats();
    assert_eq!(stats.reports_ignored, 1);
    assert_eq!(stats.dials_aborted, 1);
    assert_eq!(stats.tokens_in_use, 0);
}

#[tokio::test(start_paused = true)]
async fn losing_connections_are_closed() {
    // R-R4, R-A1: both addresses connect in the same instant; one wins and the other's
    // connection (late report or aborted attempt) is dropped, never leaked.
    let (a, b) = (addr(1), addr(2));
    let (transport, counters) =
        Scripted::new(&[(&a, Script::Connect(MS)), (&b, Script::Connect(MS))]);
    let dialer = dialer(Config::default(), transport);
    let dialed = dialer.dial(7, [a, b]).await.expect("connected");
    counters
        .until("both attempts ended", |c| {
            Counters::get(&c.attempts_ended) == 2
        })
        .await;
    dialer.stats().await.expect("stats");
    let open = Counters::get(&counters.connections) - Counters::get(&counters.connections_dropped);
    assert_eq!(open, 1, "only the winner's connection is open");
    drop(dialed);
    assert_eq!(
        Counters::get(&counters.connections),
        Counters::get(&counters.connections_dropped)
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_dial_future_cancels_the_request() {
    // R-R7
    let a = addr(1);
    let (transport, counters) = Scripted::new(&[(&a, Script::Hang)]);
    let dialer = dialer(Config::default(), transport);
    let gave_up = tokio::time::timeout(Duration::from_secs(1), dialer.dial(7, [a])).await;
    assert!(gave_up.is_err(), "still dialing when dropped");
    counters
        .until("the attempt is aborted", |c| {
            Counters::get(&c.attempts_ended) == 1
        })
        .await;
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.requests_cancelled, 1);
    assert_eq!(stats.dials_aborted, 1);
    assert_eq!(stats.tokens_in_use, 0);
    assert_eq!(stats.requests_in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn joined_callers_share_one_connection() {
    // R-R8
    let (a, b) = (addr(1), addr(2));
    let (transport, counters) = Scripted::new(&[(&a, Script::Connect(10 * MS))]);
    let dialer = dialer(Config::default(), transport);
    let (first, second) = tokio::join!(dialer.dial(7, [a.clone()]), dialer.dial(7, [a, b]));
    let (first, second) = (first.expect("first"), second.expect("second"));
    assert!(Arc::ptr_eq(&first.connection, &second.connection));
    assert_eq!(
        Arc::strong_count(&first.connection),
        2,
        "the driver kept none"
    );
    assert_eq!(Counters::get(&counters.connections), 1);
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.requests_started, 1);
    assert_eq!(stats.requests_joined, 1);
    // Once the other caller lets go, the remaining one can own the connection.
    drop(first);
    assert!(second.into_connection().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_joined_caller_leaving_does_not_cancel_the_request() {
    // R-R8: only the last caller's departure cancels the shared request.
    let a = addr(1);
    let (transport, _) = Scripted::new(&[(&a, Script::Connect(10 * MS))]);
    let dialer = dialer(Config::default(), transport);
    let stays = dialer.dial(7, [a.clone()]);
    let leaves = tokio::time::timeout(5 * MS, dialer.dial(7, [a.clone()]));
    let (stays, left) = tokio::join!(stays, leaves);
    assert!(left.is_err(), "the second caller gave up");
    let dialed = stays.expect("the remaining caller connects");
    assert_eq!(dialed.addr, a);
    assert!(dialed.into_connection().is_ok(), "sole remaining caller");
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.callers_cancelled, 1);
    assert_eq!(stats.requests_cancelled, 0);
    assert_eq!(stats.requests_succeeded, 1);
}

#[tokio::test(start_paused = true)]
async fn the_driver_ends_once_every_handle_and_every_dial_is_gone() {
    let a = addr(1);
    let (transport, counters) = Scripted::new(&[(&a, Script::Hang)]);
    let dialer = dialer(Config::default(), transport);
    let mut dial = Box::pin(dialer.dial(7, [a.clone()]));
    assert!(futures::poll!(dial.as_mut()).is_pending());
    counters
        .until("the attempt started", |c| {
            Counters::get(&c.attempts_started) == 1
        })
        .await;
    // The dial future owns what it needs ('static): with every handle gone, the driver
    // still runs for it, and it gets its answer (the hanging address times out).
    drop(dialer);
    let result = dial.await;
    assert!(
        matches!(&result, Err(Error::Failed(DialFailed::AllFailed { attempts })) if attempts[0].addr == a),
        "{result:?}"
    );
    counters
        .until("driver gone and attempt ended", |c| {
            Counters::get(&c.transport_dropped) == 1 && Counters::get(&c.attempts_ended) == 1
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_dial_future_can_be_spawned() {
    let a = addr(1);
    let (transport, _counters) = Scripted::new(&[(&a, Script::Connect(5 * MS))]);
    let dialer = dialer(Config::default(), transport);
    let task = tokio::spawn(dialer.dial(7, [a.clone()]));
    drop(dialer);
    let dialed = task.await.expect("task").expect("connected");
    assert_eq!(dialed.addr, a);
}

#[test]
fn calls_fail_with_shutdown_once_the_runtime_is_gone() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let (transport, _) = Scripted::new(&[]);
    let dialer = runtime.block_on(async { dialer(Config::default(), transport) });
    drop(runtime);
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert_eq!(other.block_on(dialer.stats()), Err(Error::Shutdown));
    assert_eq!(
        other
            .block_on(dialer.dial(1, [addr(1)]))
            .expect_err("must fail"),
        Error::Shutdown
    );
}

#[tokio::test(start_paused = true)]
async fn undialable_addresses_cost_no_token() {
    // R-A2, R-R2
    let quic: Multiaddr = "/ip4/127.0.0.1/udp/1/quic-v1".parse().expect("multiaddr");
    let (transport, counters) = Scripted::new(&[]);
    let dialer = dialer(Config::default(), transport);
    let error = dialer.dial(7, [quic.clone()]).await.expect_err("must fail");
    let Error::Refused(DialRefused::NoDialableAddresses { skipped }) = error else {
        panic!("expected NoDialableAddresses, got {error:?}");
    };
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].addr, quic);
    assert_eq!(skipped[0].reason, SkipReason::Undialable);
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.dials_started, 0);
    assert_eq!(stats.requests_rejected_no_addresses, 1);
    assert_eq!(Counters::get(&counters.attempts_started), 0);
}

#[tokio::test(start_paused = true)]
async fn high_priority_proceeds_without_tokens() {
    // R-T4, R-P1
    let (a, b) = (addr(1), addr(2));
    let (transport, _) = Scripted::new(&[(&a, Script::Hang), (&b, Script::Connect(MS))]);
    let config = Config::default().with_max_tokens(1);
    let dialer = dialer(config, transport);
    let mut holder = Box::pin(dialer.dial(1, [a]));
    assert!(futures::poll!(holder.as_mut()).is_pending());
    let error = dialer.dial(2, [b.clone()]).await.expect_err("must fail");
    assert_eq!(error, Error::Refused(DialRefused::NoTokens));
    let dialed = dialer
        .dial_with(
            2,
            [b.clone()],
            DialOpts::default().with_priority(Priority::High),
        )
        .await
        .expect("overdraft");
    assert_eq!(dialed.addr, b);
    let stats = dialer.stats().await.expect("stats");
    assert_eq!(stats.overdraft_requests, 1);
    assert_eq!(stats.requests_rejected_no_tokens, 1);
    assert_eq!(stats.tokens_in_use, 1);
}

#[tokio::test(start_paused = true)]
async fn confidence_survives_export_and_import() {
    // R-C6
    let (a, b) = (addr(1), addr(2));
    let (transport, _) = Scripted::new(&[(&a, Script::Connect(MS))]);
    let dialer = dialer(Config::default(), transport);
    dialer.dial(7, [a.clone()]).await.expect("connected");
    let exported = dialer.export_confidence().await.expect("export");
    assert_eq!(exported, [(a.clone(), 2)]);

    // After a "restart", `a` ranks first although listed last: with one token it wins.
    let config = Config::default().with_max_per_peer_dials(1);
    let (transport, _) = Scripted::new(&[(&a, Script::Connect(MS)), (&b, Script::Connect(MS))]);
    let restarted = self::dialer(config, transport);
    restarted.import_confidence(exported).await.expect("import");
    let dialed = restarted.dial(7, [b, a.clone()]).await.expect("connected");
    assert_eq!(dialed.addr, a);
}

#[tokio::test(start_paused = true)]
async fn what_was_learned_survives_snapshot_and_restore() {
    // R-C7
    let (a, b) = (addr(1), addr(2));
    let (transport, _) = Scripted::new(&[
        (&a, Script::Fail(MS, "refused")),
        (&b, Script::Connect(2 * MS)),
    ]);
    let dialer = dialer(Config::default(), transport);
    dialer
        .dial(7, [a.clone(), b.clone()])
        .await
        .expect("connected");
    let json = dialer
        .snapshot()
        .await
        .expect("snapshot")
        .to_json()
        .expect("u32 peers serialize");
    let snapshot = crate::Snapshot::<u32>::from_json(&json).expect("reads back");

    // The restart comes an hour later: `a`'s deny entry counts from the restore.
    tokio::time::advance(Duration::from_secs(3600)).await;
    let (transport, _) = Scripted::new(&[(&a, Script::Connect(MS)), (&b, Script::Connect(MS))]);
    let restarted = self::dialer(Config::default(), transport);
    let report = restarted.restore(snapshot.clone()).await.expect("restored");
    assert_eq!((report.addresses_restored, report.deny_restored), (2, 1));
    assert_eq!(
        restarted.export_confidence().await.expect("export"),
        dialer.export_confidence().await.expect("export")
    );
    let refused = restarted
        .dial(7, [a.clone()])
        .await
        .expect_err("backed off");
    assert!(
        matches!(refused, Error::Refused(DialRefused::BackedOff { .. })),
        "{refused:?}"
    );

    // A snapshot that fails validation is refused and changes nothing.
    let mut bad = snapshot;
    bad.addresses[0].confidence = 11;
    let error = restarted.restore(bad).await.expect_err("refused");
    assert!(
        matches!(
            error,
            Error::Restore(crate::RestoreError::OutOfRange { .. })
        ),
        "{error:?}"
    );
    assert_eq!(
        restarted.export_confidence().await.expect("export"),
        dialer.export_confidence().await.expect("export")
    );
}

#[tokio::test(start_paused = true)]
async fn pruned_addresses_reach_subscribers() {
    // R-C5: `a` falls to 0 beside `b`, which has proven itself (confidence 3), so the
    // core prunes it for the peer (after one failure: the threshold is set to 1 here).
    let (a, b) = (addr(1), addr(2));
    let (transport, _) = Scripted::new(&[
        (&a, Script::Fail(MS, "refused")),
        (&b, Script::Connect(2 * MS)),
    ]);
    let config = Config::default()
        .with_prune_after_failures(1)
        .with_head_start(None);
    let dialer = dialer(config, transport);
    dialer
        .import_confidence(vec![(b.clone(), 3)])
        .await
        .expect("driver running");
    let mut pruned = dialer.pruned().expect("driver running");
    dialer.dial(7, [a.clone(), b]).await.expect("connected");
    assert_eq!(pruned.next().await, Some((7, a)));
    drop(dialer);
    assert_eq!(pruned.next().await, None, "ends with the driver");
}

#[tokio::test(start_paused = true)]
async fn an_aborted_attempt_is_gone_before_its_token_dials_again() {
    // R-T6: tokens cap the sockets in flight, so the attempt (socket) an AbortDial names is
    // dropped before the freed token starts the next one.
    let addrs: Vec<_> = (1..=4).map(addr).collect();
    let (transport, counters) = Scripted::new(&[(&addrs[3], Script::Connect(MS))]);
    let config = Config::default()
        .with_max_tokens(1)
        .with_address_timeout(Duration::from_secs(1));
    let dialer = dialer(config, transport);
    let dialed = dialer.dial(7, addrs.clone()).await.expect("connected");
    assert_eq!(dialed.addr, addrs[3]);
    assert_eq!(Counters::get(&counters.attempts_ended), 4);
    assert_eq!(
        Counters::get(&counters.max_live),
        1,
        "one token, one attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_woken_while_a_request_starts_is_not_forgotten() {
    // No lost wake-up: `a` becomes ready (its wake-up reaches the driver) just as a new
    // request arrives whose first dial fails in its first poll. The driver's next poll
    // handles the request first; it must still poll `a`, and not leave it until some later
    // input (here the address timeout, 10 s on) happens to wake the driver.
    let (a, b, c) = (addr(1), addr(2), addr(3));
    let gate = Gate::default();
    let (transport, counters) = Scripted::new(&[
        (&a, Script::Gated(gate.clone())),
        (&b, Script::FailAtOnce("refused")),
        (&c, Script::Hang),
    ]);
    let dialer = dialer(Config::default(), transport);
    let start = tokio::time::Instant::now();
    let mut first = Box::pin(dialer.dial(1, [a.clone()]));
    assert!(futures::poll!(first.as_mut()).is_pending());
    counters
        .until("`a` is being dialed", |c| {
            Counters::get(&c.attempts_started) == 1
        })
        .await;
    // Both before the driver runs again: `a` is woken, and the second request is sent.
    gate.open();
    let mut second = Box::pin(dialer.dial(2, [b, c]));
    assert!(futures::poll!(second.as_mut()).is_pending());
    let dialed = first.await.expect("connected");
    assert_eq!(dialed.addr, a);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "`a` waited for an unrelated input"
    );
}
