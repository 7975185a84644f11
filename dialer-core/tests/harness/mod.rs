//! A deterministic simulation of the runtime around a [`Dialer`].
//!
//! - a fake clock (`base` + offset) that jumps straight to the next thing that happens:
//!   a scripted dial report or the core's `poll_timeout`;
//! - a fake network: every address has a scripted [`Outcome`] (unscripted ones hang);
//! - a bounded drive loop: more than [`MAX_STEPS`] steps fails the test instead of
//!   hanging it, so a livelock in the core shows up as a panic;
//! - after every input the outputs are drained through [`Monitor`] (the SPEC's
//!   invariants), plus the counters' bookkeeping and, after each `handle_timeout(t)`,
//!   the drive-loop rule (docs/design.md) that the next deadline is later than `t`.
//!
//! Everything the core emits (and every report the fake network makes) is recorded,
//! stamped with its simulated time, so tests assert on exact sequences.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dialer_core::check::Monitor;

use dialer_core::{
    AbortReason, Action, Answer, CallerId, CancelError, Config, Connected, DialFailed, DialId,
    DialOpts, DialRefused, Dialer, Dialing, Event, Host, Multiaddr, NameAction, RecordKind,
    ReportError, RequestId, ResolveId, Stats, TransportError,
};

/// Peers are plain numbers in these tests.
pub(crate) type Peer = u32;

/// The drive loop gives up (and fails the test) after this many steps.
pub(crate) const MAX_STEPS: usize = 10_000;

/// A loopback TCP address; nothing is ever dialed for real.
pub(crate) fn addr(port: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}")
        .parse()
        .expect("valid multiaddr")
}

/// `ports` as loopback addresses, in order.
pub(crate) fn addrs(ports: &[u16]) -> Vec<Multiaddr> {
    ports.iter().copied().map(addr).collect()
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// What the fake network does with a dial to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Connects this long after the dial started.
    Succeed(Duration),
    /// Fails with this reason this long after the dial started.
    Fail(Duration, &'static str),
    /// Never answers: only a timeout, an abort or a manual report ends it.
    Hang,
}

/// What the fake name server does with a lookup (R-N1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Answers this long after the lookup started.
    Answer(Duration, Answer),
    /// Fails with this reason this long after the lookup started.
    Fail(Duration, &'static str),
    /// Never answers: only the core's timeout or an abort ends it.
    Hang,
}

/// One thing that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// The core asked for a dial (`Action::StartDial`).
    Start {
        dial: DialId,
        request: RequestId,
        peer: Peer,
        addr: Multiaddr,
    },
    /// The core abandoned a dial (`Action::AbortDial`).
    Abort {
        dial: DialId,
        request: RequestId,
        addr: Multiaddr,
        reason: AbortReason,
    },
    /// The fake network reported a dial's end, and the core accepted it.
    Report {
        dial: DialId,
        addr: Multiaddr,
        success: bool,
    },
    /// An event of the core.
    Event(Event<Peer>),
    /// The core asked for a lookup (`Action::Resolve`).
    Resolve {
        resolve: ResolveId,
        request: RequestId,
        name: String,
        kind: RecordKind,
    },
    /// The core abandoned a lookup (`Action::AbortResolve`).
    AbortResolve { resolve: ResolveId },
    /// The fake name server answered, and the core accepted it.
    Resolved { resolve: ResolveId, name: String },
}

/// An output stamped with the simulated time (offset from the start) it came out at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) at: Duration,
    pub(crate) out: Out,
}

/// What to do next in the drive loop.
enum Next {
    Report(usize),
    Lookup(usize),
    Timeout,
}

/// A scripted report the fake network owes.
struct Due {
    at: Instant,
    dial: DialId,
    outcome: Outcome,
}

/// A scripted answer the fake name server owes.
struct DueLookup {
    at: Instant,
    resolve: ResolveId,
    name: String,
    result: Result<Answer, &'static str>,
}

/// The simulated runtime around one dialer.
pub(crate) struct Sim {
    pub(crate) dialer: Dialer<Peer>,
    monitor: Monitor<Peer>,
    base: Instant,
    now: Instant,
    script: HashMap<Multiaddr, Outcome>,
    zone: HashMap<(String, RecordKind), Lookup>,
    due: Vec<Due>,
    due_lookups: Vec<DueLookup>,
    /// The host name each dial carried (`StartDial::name`).
    pub(crate) names: HashMap<DialId, Option<Host>>,
    addr_of: HashMap<DialId, Multiaddr>,
    log: Vec<Record>,
    cursor: usize,
    steps: usize,
    peak_tokens: usize,
}

impl Sim {
    /// A simulation around `Dialer::new(config)`.
    pub(crate) fn new(config: Config) -> Self {
        Self::with_dialer(Dialer::new(config).expect("valid config"))
    }

    /// A simulation around a dialer built by the test (e.g. `with_dialable`).
    pub(crate) fn with_dialer(dialer: Dialer<Peer>) -> Self {
        // The only clock read of the suite: an arbitrary origin for simulated time.
        let base = Instant::now();
        Self {
            dialer,
            monitor: Monitor::new(),
            base,
            now: base,
            script: HashMap::new(),
            zone: HashMap::new(),
            due: Vec::new(),
            due_lookups: Vec::new(),
            names: HashMap::new(),
            addr_of: HashMap::new(),
            log: Vec::new(),
            cursor: 0,
            steps: 0,
            peak_tokens: 0,
        }
    }

    // ----- time ----------------------------------------------------------------------

    /// Simulated time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// The instant `offset` after the start.
    pub(crate) fn at(&self, offset: Duration) -> Instant {
        self.base + offset
    }

    /// The current simulated instant.
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    // ----- the fake network ----------------------------------------------------------

    /// Every later dial to `addr` ends with `outcome`.
    pub(crate) fn script(&mut self, addr: &Multiaddr, outcome: Outcome) {
        self.script.insert(addr.clone(), outcome);
    }

    /// Every later lookup of `name` for `kind` ends with `lookup` (unscripted ones
    /// answer NXDOMAIN at once).
    pub(crate) fn zone(&mut self, name: &str, kind: RecordKind, lookup: Lookup) {
        self.zone.insert((name.to_owned(), kind), lookup);
    }

    /// Answers `resolve` now by hand, whatever the zone says.
    pub(crate) fn answer(
        &mut self,
        resolve: ResolveId,
        result: Result<Answer, &'static str>,
    ) -> Result<(), ReportError> {
        self.due_lookups.retain(|d| d.resolve != resolve);
        let accepted = self.dialer.handle_resolved(self.now, resolve, result);
        self.monitor
            .resolved(resolve, accepted.is_ok())
            .unwrap_or_else(|v| panic!("at {:?}: {v}", self.elapsed()));
        if accepted.is_ok() {
            let at = self.elapsed();
            self.log.push(Record {
                at,
                out: Out::Resolved {
                    resolve,
                    name: String::new(),
                },
            });
        }
        self.drain();
        accepted
    }

    /// The address a dial was started for.
    pub(crate) fn addr_of(&self, dial: DialId) -> Multiaddr {
        self.addr_of.get(&dial).cloned().expect("dial was started")
    }

    // ----- inputs --------------------------------------------------------------------

    pub(crate) fn dial(
        &mut self,
        peer: Peer,
        addrs: &[Multiaddr],
    ) -> Result<CallerId, DialRefused> {
        self.dial_with(peer, addrs, DialOpts::default())
    }

    /// `dial` with options (a [`Priority`](dialer_core::Priority) converts into them).
    pub(crate) fn dial_with(
        &mut self,
        peer: Peer,
        addrs: &[Multiaddr],
        opts: impl Into<DialOpts>,
    ) -> Result<CallerId, DialRefused> {
        self.dial_full(peer, addrs, opts.into()).map(|d| d.caller)
    }

    /// `dial` with options, returning all of what the core answered.
    pub(crate) fn dial_full(
        &mut self,
        peer: Peer,
        addrs: &[Multiaddr],
        opts: DialOpts,
    ) -> Result<Dialing, DialRefused> {
        let result = self
            .dialer
            .dial(self.now, peer, addrs.iter().cloned(), opts);
        if let Ok(dialing) = result {
            self.monitor
                .issued(dialing.caller)
                .expect("fresh caller id");
        }
        self.drain();
        result
    }

    /// `dial` at an explicit instant (which may lie in the simulated past).
    pub(crate) fn dial_at(
        &mut self,
        at: Instant,
        peer: Peer,
        addrs: &[Multiaddr],
    ) -> Result<CallerId, DialRefused> {
        let result = self
            .dialer
            .dial(at, peer, addrs.iter().cloned(), DialOpts::default())
            .map(|d| d.caller);
        if let Ok(caller) = result {
            self.monitor.issued(caller).expect("fresh caller id");
        }
        self.drain();
        result
    }

    /// Gives the dialer another input (`network_changed`, `handle_peer_connected`, …) at
    /// the current time, then drains and checks its outputs.
    pub(crate) fn input<R>(&mut self, f: impl FnOnce(&mut Dialer<Peer>, Instant) -> R) -> R {
        let out = f(&mut self.dialer, self.now);
        self.drain();
        out
    }

    pub(crate) fn cancel(&mut self, caller: CallerId) -> Result<(), CancelError> {
        let result = self.dialer.cancel(self.now, caller);
        self.drain();
        result
    }

    /// Reports `dial` as connected now (a manual report, whatever the script says).
    pub(crate) fn succeed(&mut self, dial: DialId) -> Result<(), ReportError> {
        self.report(self.now, dial, None::<TransportError>)
    }

    /// Reports `dial` as failed now (a manual report, whatever the script says).
    pub(crate) fn fail(&mut self, dial: DialId, reason: &'static str) -> Result<(), ReportError> {
        self.report(self.now, dial, Some(reason))
    }

    /// Reports `dial` as failed, dated `at` (which may lie in the simulated past).
    pub(crate) fn fail_at(
        &mut self,
        at: Instant,
        dial: DialId,
        reason: &'static str,
    ) -> Result<(), ReportError> {
        self.report(at, dial, Some(reason))
    }

    /// Calls `handle_timeout` at `at` (spurious, early or late as the test likes).
    pub(crate) fn handle_timeout_at(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.dialer.handle_timeout(at);
        self.drain();
        self.monitor
            .after_timeout(&mut self.dialer, at)
            .unwrap_or_else(|v| panic!("at {:?}: {v}", self.elapsed()));
    }

    /// Reports `dial` as failed now, with a runtime's error value.
    pub(crate) fn fail_with(
        &mut self,
        dial: DialId,
        error: TransportError,
    ) -> Result<(), ReportError> {
        self.report(self.now, dial, Some(error))
    }

    fn report(
        &mut self,
        at: Instant,
        dial: DialId,
        failure: Option<impl Into<TransportError>>,
    ) -> Result<(), ReportError> {
        self.due.retain(|d| d.dial != dial);
        let success = failure.is_none();
        let result = match failure {
            None => self.dialer.handle_dial_succeeded(at, dial),
            Some(reason) => self.dialer.handle_dial_failed(at, dial, reason),
        };
        self.monitor
            .reported(dial, result.is_ok())
            .unwrap_or_else(|v| panic!("at {:?}: {v}", self.elapsed()));
        if result.is_ok() {
            let at = self.elapsed();
            self.log.push(Record {
                at,
                out: Out::Report {
                    dial,
                    addr: self.addr_of(dial),
                    success,
                },
            });
        }
        self.drain();
        result
    }

    // ----- the drive loop ------------------------------------------------------------

    /// When the next thing happens: a scripted report or the core's deadline.
    fn next(&mut self) -> Option<(Instant, Next)> {
        let report = self
            .due
            .iter()
            .enumerate()
            .min_by_key(|(_, d)| d.at)
            .map(|(i, d)| (d.at, Next::Report(i)));
        let lookup = self
            .due_lookups
            .iter()
            .enumerate()
            .min_by_key(|(_, d)| d.at)
            .map(|(i, d)| (d.at, Next::Lookup(i)));
        let report = match (report, lookup) {
            (Some(r), Some(l)) => Some(if r.0 <= l.0 { r } else { l }),
            (r, l) => r.or(l),
        };
        let timeout = self.dialer.poll_timeout().map(|t| (t, Next::Timeout));
        match (report, timeout) {
            // Reports due at the same instant as a deadline come first.
            (Some(r), Some(t)) => Some(if r.0 <= t.0 { r } else { t }),
            (r, t) => r.or(t),
        }
    }

    /// Performs the next thing that happens; `false` when nothing is left to happen.
    pub(crate) fn step(&mut self) -> bool {
        self.step_until(None)
    }

    fn step_until(&mut self, limit: Option<Instant>) -> bool {
        let Some((at, next)) = self.next() else {
            return false;
        };
        if limit.is_some_and(|limit| at > limit) {
            return false;
        }
        self.steps += 1;
        assert!(
            self.steps <= MAX_STEPS,
            "livelock: more than {MAX_STEPS} steps at {:?}",
            self.elapsed()
        );
        // A deadline that already passed (time moved on without the core) fires now.
        self.now = self.now.max(at);
        match next {
            Next::Report(i) => {
                let due = self.due.remove(i);
                let accepted = match due.outcome {
                    Outcome::Succeed(_) => self.succeed(due.dial),
                    Outcome::Fail(_, reason) => self.fail(due.dial, reason),
                    Outcome::Hang => unreachable!("hanging dials are never due"),
                };
                accepted.expect("the core knows every dial it did not abort");
            }
            Next::Lookup(i) => {
                let due = self.due_lookups.remove(i);
                let accepted = self
                    .dialer
                    .handle_resolved(self.now, due.resolve, due.result);
                self.monitor
                    .resolved(due.resolve, accepted.is_ok())
                    .unwrap_or_else(|v| panic!("at {:?}: {v}", self.elapsed()));
                accepted.expect("the core knows every lookup it did not abort");
                let at = self.elapsed();
                self.log.push(Record {
                    at,
                    out: Out::Resolved {
                        resolve: due.resolve,
                        name: due.name,
                    },
                });
                self.drain();
            }
            Next::Timeout => self.handle_timeout_at(self.now),
        }
        true
    }

    /// Runs until nothing is left to happen.
    pub(crate) fn run(&mut self) {
        while self.step() {}
    }

    /// Runs everything due up to `offset` after the start, then moves the clock there.
    pub(crate) fn run_until(&mut self, offset: Duration) {
        let limit = self.at(offset);
        while self.step_until(Some(limit)) {}
        self.now = self.now.max(limit);
    }

    /// Runs everything due in the next `d`, then moves the clock past it.
    pub(crate) fn run_for(&mut self, d: Duration) {
        self.run_until(self.elapsed() + d);
    }

    /// Runs to the end and checks that every request ended and every caller finished.
    pub(crate) fn finish(&mut self) {
        self.run();
        self.monitor
            .finish(&self.dialer)
            .unwrap_or_else(|v| panic!("at the end: {v}"));
        assert_eq!(self.dialer.tokens_in_use(), 0, "tokens leaked");
        assert_eq!(
            self.dialer.tokens_available(),
            self.dialer.config().max_tokens
        );
    }

    /// Drains every output through the monitor, schedules the fake network's reports and
    /// checks the counters' bookkeeping.
    fn drain(&mut self) {
        let at = self.elapsed();
        let drained = self
            .monitor
            .drain(&mut self.dialer, self.now)
            .unwrap_or_else(|v| panic!("invariant broken at {at:?}: {v}"));
        for action in drained.actions {
            let out = match action {
                Action::StartDial(start) => {
                    let outcome = self
                        .script
                        .get(&start.addr)
                        .cloned()
                        .unwrap_or(Outcome::Hang);
                    let delay = match outcome {
                        Outcome::Succeed(d) | Outcome::Fail(d, _) => Some(d),
                        Outcome::Hang => None,
                    };
                    if let Some(d) = delay {
                        self.due.push(Due {
                            at: self.now + d,
                            dial: start.dial,
                            outcome,
                        });
                    }
                    self.addr_of.insert(start.dial, start.addr.clone());
                    self.names
                        .insert(start.dial, self.dialer.dial_name(start.dial));
                    Out::Start {
                        dial: start.dial,
                        request: start.request,
                        peer: start.peer,
                        addr: start.addr,
                    }
                }
                Action::AbortDial(abort) => {
                    // An aborted attempt is dropped: the fake network never reports it.
                    self.due.retain(|d| d.dial != abort.dial);
                    Out::Abort {
                        dial: abort.dial,
                        request: abort.request,
                        addr: self.addr_of(abort.dial),
                        reason: abort.reason,
                    }
                }
                other => panic!("an action this harness does not know: {other:?}"),
            };
            self.log.push(Record { at, out });
        }
        for action in drained.name_actions {
            let out = match action {
                NameAction::Resolve(r) => {
                    let name = r.name.to_string();
                    let lookup = self
                        .zone
                        .get(&(name.clone(), r.kind))
                        .cloned()
                        .unwrap_or(Lookup::Fail(Duration::ZERO, "NXDOMAIN"));
                    let due = match lookup {
                        Lookup::Answer(d, answer) => Some((d, Ok(answer))),
                        Lookup::Fail(d, reason) => Some((d, Err(reason))),
                        Lookup::Hang => None,
                    };
                    if let Some((d, result)) = due {
                        self.due_lookups.push(DueLookup {
                            at: self.now + d,
                            resolve: r.resolve,
                            name: name.clone(),
                            result,
                        });
                    }
                    Out::Resolve {
                        resolve: r.resolve,
                        request: r.request,
                        name,
                        kind: r.kind,
                    }
                }
                NameAction::AbortResolve(abort) => {
                    self.due_lookups.retain(|d| d.resolve != abort.resolve);
                    Out::AbortResolve {
                        resolve: abort.resolve,
                    }
                }
                other => panic!("a name action this harness does not know: {other:?}"),
            };
            self.log.push(Record { at, out });
        }
        for event in drained.events {
            self.log.push(Record {
                at,
                out: Out::Event(event),
            });
        }
        check_counters(&self.dialer);
        self.peak_tokens = self.peak_tokens.max(self.dialer.tokens_in_use());
    }

    // ----- what happened -------------------------------------------------------------

    /// Everything recorded since the last `take`.
    pub(crate) fn take(&mut self) -> Vec<Record> {
        let new = self.log[self.cursor..].to_vec();
        self.cursor = self.log.len();
        new
    }

    /// Everything recorded since the start.
    pub(crate) fn log(&self) -> &[Record] {
        &self.log
    }

    /// The outcome delivered to `caller`, if it finished.
    pub(crate) fn outcome(&self, caller: CallerId) -> Option<Result<Connected, DialFailed>> {
        let mut found = self.log.iter().filter_map(|r| match &r.out {
            Out::Event(Event::Finished {
                caller: c, result, ..
            }) if *c == caller => Some(result.clone()),
            _ => None,
        });
        let first = found.next();
        assert!(found.next().is_none(), "{caller} finished twice");
        first
    }

    /// The most tokens in use at once since the start.
    pub(crate) fn peak_tokens(&self) -> usize {
        self.peak_tokens
    }

    pub(crate) fn stats(&self) -> Stats {
        self.dialer.stats()
    }
}

/// The counters add up: every request started ends exactly one way, and the gauges agree
/// with the getters.
fn check_counters(dialer: &Dialer<Peer>) {
    let s = dialer.stats();
    assert_eq!(
        s.requests_started,
        s.requests_succeeded
            + s.requests_failed
            + s.requests_timed_out
            + s.requests_cancelled
            + s.requests_in_flight as u64,
        "request counters do not add up: {s:?}"
    );
    assert_eq!(
        s.dials_started,
        s.dials_succeeded
            + s.dials_failed
            + s.dials_timed_out
            + s.dials_aborted
            + s.dials_in_flight as u64,
        "dial counters do not add up: {s:?}"
    );
    assert_eq!(s.tokens_in_use, dialer.tokens_in_use());
    assert_eq!(
        s.tokens_in_use + s.tokens_available,
        dialer.config().max_tokens
    );
    assert_eq!(s.requests_in_flight, dialer.requests_in_flight());
    assert_eq!(s.dials_in_flight, dialer.dials_in_flight());
}

// ----- views on records --------------------------------------------------------------

/// Addresses dialed, in order.
pub(crate) fn started(records: &[Record]) -> Vec<Multiaddr> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Start { addr, .. } => Some(addr.clone()),
            _ => None,
        })
        .collect()
}

/// Addresses dialed with the time each dial started.
pub(crate) fn started_at(records: &[Record]) -> Vec<(Duration, Multiaddr)> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Start { addr, .. } => Some((r.at, addr.clone())),
            _ => None,
        })
        .collect()
}

/// The lookups asked for, in order, as `<kind> <name>`.
pub(crate) fn lookups(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Resolve { name, kind, .. } => Some(format!("{} {name}", kind.name())),
            _ => None,
        })
        .collect()
}

/// The lookups the core aborted, in order.
pub(crate) fn aborted_lookups(records: &[Record]) -> Vec<ResolveId> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::AbortResolve { resolve } => Some(*resolve),
            _ => None,
        })
        .collect()
}

/// The lookup ids asked for, in order.
pub(crate) fn lookup_ids(records: &[Record]) -> Vec<ResolveId> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Resolve { resolve, .. } => Some(*resolve),
            _ => None,
        })
        .collect()
}

/// The dial ids started, in order.
pub(crate) fn dial_ids(records: &[Record]) -> Vec<DialId> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Start { dial, .. } => Some(*dial),
            _ => None,
        })
        .collect()
}

/// Addresses aborted, with why, in order.
pub(crate) fn aborted(records: &[Record]) -> Vec<(Multiaddr, AbortReason)> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Abort { addr, reason, .. } => Some((addr.clone(), *reason)),
            _ => None,
        })
        .collect()
}

/// Every action, in order, as `start <addr>` or `abort <addr> <reason>`.
pub(crate) fn action_summary(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Start { addr, .. } => Some(format!("start {addr}")),
            Out::Abort { addr, reason, .. } => Some(format!("abort {addr} {reason:?}")),
            _ => None,
        })
        .collect()
}

/// Every event recorded.
pub(crate) fn events(records: &[Record]) -> Vec<Event<Peer>> {
    records
        .iter()
        .filter_map(|r| match &r.out {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The token events (RequestTokens / Release) recorded, in order.
pub(crate) fn token_events(records: &[Record]) -> Vec<Event<Peer>> {
    events(records)
        .into_iter()
        .filter(|e| matches!(e, Event::RequestTokens { .. } | Event::Release { .. }))
        .collect()
}

/// The most dials of `request` in flight at once over `records`.
pub(crate) fn peak_in_flight(records: &[Record], request: RequestId) -> usize {
    let mut open: Vec<DialId> = Vec::new();
    let mut peak = 0;
    for r in records {
        match &r.out {
            Out::Start {
                dial, request: req, ..
            } if *req == request => {
                open.push(*dial);
                peak = peak.max(open.len());
            }
            Out::Abort { dial, .. } | Out::Report { dial, .. } => open.retain(|d| d != dial),
            _ => {}
        }
    }
    peak
}

/// A simulation where `addr(7)` is undialable and `addr(3)` failed at t = 1 ms for peer 9
/// (deny-listed until 60 s + 1 ms); its log so far is taken.
pub(crate) fn with_addr3_denied() -> Sim {
    with_addr3_denied_and(Config::default())
}

/// [`with_addr3_denied`] on `config`.
pub(crate) fn with_addr3_denied_and(config: Config) -> Sim {
    let undialable = addr(7);
    let dialer = Dialer::new(config)
        .expect("config")
        .with_dialable(move |a| *a != undialable);
    let mut sim = Sim::with_dialer(dialer);
    sim.script(&addr(3), Outcome::Fail(ms(1), "refused"));
    sim.dial(9, &[addr(3)]).expect("dial");
    sim.run();
    sim.take();
    sim
}
