//! The driver's side of names (R-N1, R-R10), on paused time: it runs the core's lookups on
//! its resolver, answers `localhost` itself, drops a lookup the core aborts, hands the name
//! to the transport, and installs the address filter.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dialer_core::{Answer, DialFailed, ErrorClass, FailReason, RecordKind};
use futures::future::BoxFuture;

use super::{addr, Counters, Script, Scripted, Tokio, MS};
use crate::{Config, Dialer, Error, Resolver};

/// What the scripted resolver does for one name and kind.
#[derive(Debug, Clone)]
enum Lookup {
    /// Answers after a while.
    Answer(Duration, Answer),
    /// Fails after a while with an I/O error of this kind.
    Fail(Duration, io::ErrorKind),
    /// Never answers.
    Hang,
    /// `Resolver::resolve` itself panics.
    Panic,
}

/// Counts what happened to the scripted resolver's lookups.
#[derive(Debug, Default)]
struct Lookups {
    /// `Resolver::resolve` calls.
    asked: AtomicUsize,
    /// Lookup futures alive now.
    live: AtomicUsize,
}

/// Lives as long as a lookup future.
struct LiveGuard(Arc<Lookups>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A resolver by script; a name it has no script for hangs.
struct ScriptedResolver {
    scripts: HashMap<(String, RecordKind), Lookup>,
    lookups: Arc<Lookups>,
}

impl ScriptedResolver {
    fn new(scripts: &[(&str, RecordKind, Lookup)]) -> (Self, Arc<Lookups>) {
        let lookups = Arc::new(Lookups::default());
        let scripts = scripts
            .iter()
            .map(|(name, kind, lookup)| (((*name).to_owned(), *kind), lookup.clone()))
            .collect();
        (
            Self {
                scripts,
                lookups: Arc::clone(&lookups),
            },
            lookups,
        )
    }
}

impl Resolver for ScriptedResolver {
    type Error = io::Error;
    type Lookup = BoxFuture<'static, Result<Answer, io::Error>>;

    fn resolve(&self, name: &str, kind: RecordKind) -> Self::Lookup {
        self.lookups.asked.fetch_add(1, Ordering::SeqCst);
        let script = self
            .scripts
            .get(&(name.to_owned(), kind))
            .cloned()
            .unwrap_or(Lookup::Hang);
        if matches!(script, Lookup::Panic) {
            panic!("no lookup for {name}");
        }
        self.lookups.live.fetch_add(1, Ordering::SeqCst);
        let guard = LiveGuard(Arc::clone(&self.lookups));
        Box::pin(async move {
            let _guard = guard;
            match script {
                Lookup::Answer(after, answer) => {
                    tokio::time::sleep(after).await;
                    Ok(answer)
                }
                Lookup::Fail(after, kind) => {
                    tokio::time::sleep(after).await;
                    Err(io::Error::new(kind, "scripted lookup failure"))
                }
                Lookup::Hang | Lookup::Panic => futures::future::pending().await,
            }
        })
    }
}

fn ips(ips: &[&str]) -> Answer {
    Answer::Ips(
        ips.iter()
            .map(|ip| ip.parse::<IpAddr>().expect("ip"))
            .collect(),
    )
}

fn ma(s: &str) -> multiaddr::Multiaddr {
    s.parse().expect("multiaddr")
}

fn named(counters: &Counters) -> Vec<(multiaddr::Multiaddr, Option<String>)> {
    counters.named.lock().expect("named").clone()
}

fn failed<C>(result: Result<crate::Dialed<C>, Error>) -> DialFailed {
    match result {
        Err(Error::Failed(failed)) => failed,
        Err(other) => panic!("expected a failed request, got {other}"),
        Ok(dialed) => panic!("expected a failed request, connected to {}", dialed.addr),
    }
}

#[tokio::test(start_paused = true)]
async fn a_name_is_resolved_by_the_core_and_its_address_dials_with_the_name() {
    // R-N1: the lookup runs on the resolver; the resolved address is dialed, and the
    // transport hears the host it came from.
    let (resolver, lookups) = ScriptedResolver::new(&[(
        "node.test",
        RecordKind::A,
        Lookup::Answer(5 * MS, ips(&["127.0.0.1"])),
    )]);
    let (transport, counters) = Scripted::new(&[(&addr(1), Script::Connect(10 * MS))]);
    let dialer: Dialer<u32, _, _> = Dialer::builder(Config::default(), transport, Tokio)
        .with_resolver(resolver)
        .build()
        .expect("valid config");
    let start = tokio::time::Instant::now();
    let dialed = dialer
        .dial(1, [ma("/dns4/node.test/tcp/1")])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, addr(1));
    assert_eq!(start.elapsed(), 15 * MS, "lookup, then connect");
    assert_eq!(named(&counters), [(addr(1), Some("node.test".to_owned()))]);
    let s = dialer.stats().await.expect("running");
    assert_eq!((s.resolves_started, s.resolves_succeeded), (1, 1));
    assert_eq!(lookups.live.load(Ordering::SeqCst), 0);

    // An address passed as it is carries no name.
    dialer.dial(2, [addr(1)]).await.expect("connected");
    assert_eq!(named(&counters)[1], (addr(1), None));
}

#[tokio::test(start_paused = true)]
async fn localhost_never_reaches_the_resolver() {
    // RFC 6761: localhost and names under it are loopback, answered by the driver.
    let (resolver, lookups) = ScriptedResolver::new(&[]);
    let (transport, counters) = Scripted::new(&[
        (&addr(1), Script::Connect(MS)),
        (&ma("/ip6/::1/tcp/2"), Script::Connect(MS)),
    ]);
    let dialer: Dialer<u32, _, _> = Dialer::builder(Config::default(), transport, Tokio)
        .with_resolver(resolver)
        .build()
        .expect("valid config");
    let dialed = dialer
        .dial(1, [ma("/dns4/localhost/tcp/1")])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, addr(1));
    let dialed = dialer
        .dial(2, [ma("/dns6/node.LOCALHOST/tcp/2")])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, ma("/ip6/::1/tcp/2"));
    assert_eq!(named(&counters)[1].1.as_deref(), Some("node.localhost"));
    // A dnsaddr under localhost has no TXT records: nothing resolved, nothing asked.
    let failed = failed(dialer.dial(3, [ma("/dnsaddr/localhost")]).await);
    assert!(
        matches!(
            failed.attempts()[0].reason,
            FailReason::NothingResolved { .. }
        ),
        "{failed}"
    );
    assert_eq!(lookups.asked.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn without_a_resolver_only_localhost_resolves() {
    // `Runtime::default_resolver` is `None` for this test runtime.
    let (transport, _) = Scripted::new(&[(&addr(1), Script::Connect(MS))]);
    let dialer = super::dialer(Config::default(), transport);
    let dialed = dialer
        .dial(1, [ma("/dns/localhost/tcp/1")])
        .await
        .expect("connected");
    assert!(dialed.addr == addr(1) || dialed.addr == ma("/ip6/::1/tcp/1"));
    let failed = failed(dialer.dial(2, [ma("/dns4/node.test/tcp/1")]).await);
    let reason = &failed.attempts()[0].reason;
    assert!(matches!(reason, FailReason::Resolve(_)), "{reason}");
    assert_eq!(reason.class(), ErrorClass::Resolve);
    assert!(reason.to_string().contains("no resolver"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn a_lookup_that_never_answers_is_dropped_at_the_address_timeout() {
    // R-N1: the core bounds a lookup by address_timeout; the driver drops it then.
    let (resolver, lookups) = ScriptedResolver::new(&[]);
    let (transport, _) = Scripted::new(&[]);
    let timeout = Duration::from_secs(2);
    let dialer: Dialer<u32, _, _> = Dialer::builder(
        Config::default().with_address_timeout(timeout),
        transport,
        Tokio,
    )
    .with_resolver(resolver)
    .build()
    .expect("valid config");
    let start = tokio::time::Instant::now();
    let failed = failed(dialer.dial(1, [ma("/dns4/silent.test/tcp/1")]).await);
    assert_eq!(start.elapsed(), timeout);
    assert_eq!(failed.attempts()[0].reason, FailReason::ResolveTimeout);
    assert_eq!(
        lookups.live.load(Ordering::SeqCst),
        0,
        "the lookup was dropped"
    );
    let s = dialer.stats().await.expect("running");
    assert_eq!((s.resolves_timed_out, s.resolves_in_flight), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_request_drops_its_lookups() {
    let (resolver, lookups) = ScriptedResolver::new(&[]);
    let (transport, _) = Scripted::new(&[]);
    let dialer: Dialer<u32, _, _> = Dialer::builder(Config::default(), transport, Tokio)
        .with_resolver(resolver)
        .build()
        .expect("valid config");
    let dial = dialer.dial(1, [ma("/dns/silent.test/tcp/1")]);
    let raced = tokio::time::timeout(Duration::from_secs(1), dial).await;
    assert!(raced.is_err(), "the lookups hang");
    // The dial future is gone: its cancel goes to the driver, which drops both lookups
    // (A and AAAA) when it aborts them.
    let s = dialer.stats().await.expect("running");
    assert_eq!((s.resolves_started, s.resolves_aborted), (2, 2));
    assert_eq!(lookups.live.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn resolver_errors_are_classed_and_a_panic_fails_one_lookup() {
    let (resolver, _) = ScriptedResolver::new(&[
        (
            "gone.test",
            RecordKind::A,
            Lookup::Fail(MS, io::ErrorKind::NotFound),
        ),
        (
            "slow.test",
            RecordKind::A,
            Lookup::Fail(MS, io::ErrorKind::TimedOut),
        ),
        ("boom.test", RecordKind::A, Lookup::Panic),
        (
            "good.test",
            RecordKind::A,
            Lookup::Answer(MS, ips(&["127.0.0.1"])),
        ),
    ]);
    let (transport, _) = Scripted::new(&[(&addr(1), Script::Connect(MS))]);
    let dialer: Dialer<u32, _, _> = Dialer::builder(Config::default(), transport, Tokio)
        .with_resolver(resolver)
        .build()
        .expect("valid config");
    let reason = |failed: DialFailed| failed.attempts()[0].reason.clone();
    let gone = reason(failed(dialer.dial(1, [ma("/dns4/gone.test/tcp/1")]).await));
    assert_eq!(gone.class(), ErrorClass::Resolve, "{gone}");
    assert!(
        gone.to_string().contains("scripted lookup failure"),
        "{gone}"
    );
    let slow = reason(failed(dialer.dial(2, [ma("/dns4/slow.test/tcp/1")]).await));
    assert_eq!(slow.class(), ErrorClass::TimedOut, "{slow}");
    let boom = reason(failed(dialer.dial(3, [ma("/dns4/boom.test/tcp/1")]).await));
    assert!(boom.to_string().contains("name lookup panicked"), "{boom}");
    // The driver lives on.
    dialer
        .dial(4, [ma("/dns4/good.test/tcp/1")])
        .await
        .expect("connected");
}

#[tokio::test(start_paused = true)]
async fn the_builder_installs_the_address_filter() {
    // R-R10: a name resolving to an address the filter refuses never dials it.
    let (resolver, _) = ScriptedResolver::new(&[(
        "rebind.test",
        RecordKind::A,
        Lookup::Answer(MS, ips(&["127.0.0.2", "127.0.0.1"])),
    )]);
    let refused = ma("/ip4/127.0.0.2/tcp/1");
    let (transport, counters) = Scripted::new(&[
        (&addr(1), Script::Connect(MS)),
        (&refused, Script::Connect(MS)),
    ]);
    let no_127_0_0_2 = refused.clone();
    let dialer: Dialer<u32, _, _> = Dialer::builder(Config::default(), transport, Tokio)
        .with_resolver(resolver)
        .with_address_filter(move |_, addr| *addr != no_127_0_0_2)
        .build()
        .expect("valid config");
    let dialed = dialer
        .dial(1, [ma("/dns4/rebind.test/tcp/1")])
        .await
        .expect("connected");
    assert_eq!(dialed.addr, addr(1));
    assert!(named(&counters).iter().all(|(a, _)| *a != refused));
    let s = dialer.stats().await.expect("running");
    assert_eq!(s.addresses_filtered, 1);
}
