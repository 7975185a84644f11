//! Drives the real `dialer-core` machine on simulated time: the drive loop of the crate
//! docs, with the network replaced by the population's answers, and the resolver by the
//! population's simulated DNS ([`Population::lookup`]).
//!
//! With [`Config::names`] set the core resolves names itself: every
//! [`NameAction::Resolve`] is answered after the lookup's latency. Without it a name reaches
//! the runtime as a dial, and the runtime dials it as this repository's TCP transport
//! does (`dialer-driver/src/tcp.rs`): resolve, then try the answers in turn, the whole
//! within the core's deadline for that dial.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use dialer_core::{
    AbortReason, Action, Answer, Config, DialFailed, DialId, DialOpts, DialRefused, Dialer, Event,
    NameAction, RecordKind, RequestId, ResolveId,
};

use super::population::{Attempts, Outcome, Population, SequentialDial, Target};
use super::{Tally, Won};

struct Rec {
    round: u8,
    reachable: bool,
    arrival_ns: u64,
    first: Option<DialId>,
    first_connects: bool,
    dials: u64,
}

/// A dial in flight: what it dials, and for a name dialed by the runtime, its walk.
struct InFlight {
    request: RequestId,
    target: Target,
    started_ns: u64,
    walk: Option<SequentialDial>,
}

/// Which input comes next.
enum Next {
    Timer(u64),
    Report(u64),
    Resolved(u64),
    Arrival(u64),
}

impl Next {
    fn at(&self) -> u64 {
        match self {
            Next::Timer(t) | Next::Report(t) | Next::Resolved(t) | Next::Arrival(t) => *t,
        }
    }
}

/// A dial ends (reported, or aborted by the core) at `now`: the sockets a runtime walk of
/// a name opened by then count as its request's dials (an address dial was counted when
/// it started).
fn dial_ended(recs: &mut HashMap<RequestId, Rec>, d: &InFlight, now: u64) {
    if let (Some(walk), Some(rec)) = (&d.walk, recs.get_mut(&d.request)) {
        rec.dials += walk.attempts_by(now - d.started_ns);
    }
}

pub(super) fn run(pop: &Population, config: Config) -> Tally {
    let base = Instant::now();
    let at = |ns: u64| base + Duration::from_nanos(ns);
    let since = |t: Instant| t.saturating_duration_since(base).as_nanos() as u64;
    let learns = config.confidence_capacity > 0;
    let mut dialer = Dialer::<u32>::new(config).expect("valid config");
    let mut tally = Tally::default();
    // Dial reports due: (time, dial id, connected?).
    let mut reports: BinaryHeap<Reverse<(u64, u64, bool)>> = BinaryHeap::new();
    // Lookup answers due: (time, resolve id); the answers themselves, until reported or
    // aborted.
    let mut answers_due: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut answers: HashMap<ResolveId, Answer> = HashMap::new();
    let mut recs: HashMap<RequestId, Rec> = HashMap::new();
    // Each dial in flight, and which addresses the core got a verdict on (a success, a
    // failure or a timeout): each of those takes a confidence-table entry.
    let mut in_flight: HashMap<DialId, InFlight> = HashMap::new();
    let mut judged = vec![false; pop.addrs.len()];
    let judge = |judged: &mut [bool], d: &InFlight| {
        if let Target::Addr(a) = d.target {
            judged[a as usize] = true;
        }
    };
    let mut attempts = Attempts::new(pop);
    let mut arrivals = pop.arrivals.iter().peekable();

    // Each arrival and each dial causes a bounded number of steps; this bound turns a
    // livelock into a failure instead of a hang.
    let max_steps = 100 * pop.arrivals.len() + 1_000;
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(steps <= max_steps, "simulation did not settle");
        let candidates = [
            dialer.poll_timeout().map(|t| Next::Timer(since(t))),
            reports.peek().map(|Reverse((t, _, _))| Next::Report(*t)),
            answers_due.peek().map(|Reverse((t, _))| Next::Resolved(*t)),
            arrivals.peek().map(|a| Next::Arrival(a.at_ns)),
        ];
        let Some(next) = candidates.into_iter().flatten().min_by_key(Next::at) else {
            break;
        };
        let now = next.at();
        match next {
            Next::Timer(t) => dialer.handle_timeout(at(t)),
            Next::Report(t) => {
                let Some(Reverse((_, dial, ok))) = reports.pop() else {
                    break;
                };
                let dial = DialId::from_raw(dial);
                if let Some(d) = in_flight.remove(&dial) {
                    judge(&mut judged, &d);
                    dial_ended(&mut recs, &d, t);
                }
                // A report for a dial the core aborted meanwhile is refused; that is
                // the runtime contract, and it changes nothing.
                let _ = if ok {
                    dialer.handle_dial_succeeded(at(t), dial)
                } else {
                    dialer.handle_dial_failed(at(t), dial, "connection refused")
                };
            }
            Next::Resolved(t) => {
                let Some(Reverse((_, resolve))) = answers_due.pop() else {
                    break;
                };
                let resolve = ResolveId::from_raw(resolve);
                // An aborted lookup's answer is dropped here, as a runtime drops it.
                if let Some(answer) = answers.remove(&resolve) {
                    dialer
                        .handle_resolved(at(t), resolve, Ok::<_, &str>(answer))
                        .expect("a live lookup's answer is taken");
                }
            }
            Next::Arrival(t) => {
                let Some(a) = arrivals.next() else { break };
                let reachable = pop.reachable(a.peer, a.round);
                let addrs = pop.targets(a.peer).map(|x| pop.multiaddr(x).clone());
                match dialer.dial(at(t), a.peer, addrs, DialOpts::default()) {
                    Ok(dialing) => {
                        recs.insert(
                            dialing.request,
                            Rec {
                                round: a.round,
                                reachable,
                                arrival_ns: t,
                                first: None,
                                first_connects: false,
                                dials: 0,
                            },
                        );
                    }
                    Err(DialRefused::NoTokens) => tally.rejected(a.round, reachable, 0),
                    // Everything deny-listed, pruned or black-holed: a failed request
                    // that cost nothing.
                    Err(_) => tally.failed(a.round, reachable, 0),
                }
            }
        }
        while let Some(action) = dialer.poll_name_action() {
            match action {
                NameAction::Resolve(r) => {
                    let round = recs
                        .get(&r.request)
                        .map(|rec| rec.round)
                        .expect("a lookup belongs to a live request");
                    let name = pop
                        .name_by_host(&r.name)
                        .expect("the core looks up only the peers' names");
                    let answer = match r.kind {
                        RecordKind::A | RecordKind::Aaaa => {
                            let l = pop.lookup(name, round, r.kind == RecordKind::Aaaa);
                            answers_due.push(Reverse((now + l.after_ns, r.resolve.into_raw())));
                            Answer::Ips(l.ips.iter().filter_map(|&ip| pop.ip(ip)).collect())
                        }
                        // No name here is a dnsaddr.
                        RecordKind::Txt => {
                            answers_due.push(Reverse((now, r.resolve.into_raw())));
                            Answer::Txt(Vec::new())
                        }
                    };
                    answers.insert(r.resolve, answer);
                }
                NameAction::AbortResolve(abort) => {
                    answers.remove(&abort.resolve);
                }
                _ => {}
            }
        }
        while let Some(action) = dialer.poll_action() {
            let start = match action {
                Action::StartDial(start) => start,
                Action::AbortDial(abort) => {
                    if let Some(d) = in_flight.remove(&abort.dial) {
                        let timed_out = matches!(
                            abort.reason,
                            AbortReason::AddressTimeout | AbortReason::RequestTimeout
                        );
                        if timed_out {
                            judge(&mut judged, &d);
                        }
                        dial_ended(&mut recs, &d, now);
                    }
                    continue;
                }
                // Opt-in commands: the simulator turns none other on.
                _ => continue,
            };
            let Some(rec) = recs.get_mut(&start.request) else {
                continue;
            };
            let target = pop
                .find_target(start.peer, &start.addr)
                .expect("the core dials only the peer's addresses and names");
            let (outcome, walk) = match target {
                Target::Addr(addr) => {
                    rec.dials += 1;
                    let attempt = attempts.next(addr, rec.round);
                    (pop.outcome(addr, rec.round, attempt), None)
                }
                Target::Name(name) => {
                    // The runtime resolves (getaddrinfo: A and AAAA) and tries each
                    // answer in turn, in answer order, with no timeout of its own.
                    let walk =
                        pop.sequential_name_dial(name, rec.round, &mut attempts, false, true, None);
                    (walk.outcome, Some(walk))
                }
            };
            in_flight.insert(
                start.dial,
                InFlight {
                    request: start.request,
                    target,
                    started_ns: now,
                    walk,
                },
            );
            tally.in_flight(in_flight.len());
            if rec.first.is_none() {
                rec.first = Some(start.dial);
                rec.first_connects = matches!(outcome, Outcome::Connect(_));
            }
            match outcome {
                Outcome::Connect(ns) => {
                    reports.push(Reverse((now + ns, start.dial.into_raw(), true)))
                }
                Outcome::Refuse(ns) => {
                    reports.push(Reverse((now + ns, start.dial.into_raw(), false)))
                }
                Outcome::Hang => {}
            }
        }
        while let Some(event) = dialer.poll_event() {
            let Event::Finished {
                request, result, ..
            } = event
            else {
                continue;
            };
            let Some(rec) = recs.remove(&request) else {
                continue;
            };
            match result {
                Ok(connected) => tally.succeeded(
                    rec.round,
                    now - rec.arrival_ns,
                    Won::of(connected.dial, rec.first, rec.first_connects),
                    rec.dials,
                ),
                // A request of names that found the pool empty when its answers came:
                // refused for lack of tokens, as at the call.
                Err(DialFailed::NoTokens { .. }) => {
                    tally.rejected(rec.round, rec.reachable, rec.dials)
                }
                Err(_) => tally.failed(rec.round, rec.reachable, rec.dials),
            }
        }
    }
    assert!(recs.is_empty(), "every request ends");
    if learns {
        tally.judged_addrs = Some(judged.iter().filter(|j| **j).count());
    }
    assert_eq!(dialer.tokens_in_use(), 0, "every token comes back");
    assert!(in_flight.is_empty(), "every dial ends");
    assert!(answers.is_empty(), "every lookup is answered or aborted");
    assert_eq!(dialer.resolves_in_flight(), 0, "every lookup ends");
    assert_eq!(
        tally.round1.requests + tally.later.requests,
        pop.arrivals.len() as u64,
        "every request is counted once"
    );
    tally
}
