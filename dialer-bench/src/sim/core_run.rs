//! Drives the real `dialer-core` machine on simulated time: the drive loop of the crate
//! docs, with the network replaced by the population's answers.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use dialer_core::{
    AbortReason, Action, Config, DialId, DialOpts, DialRefused, Dialer, Event, RequestId,
};

use super::population::{Attempts, Outcome, Population};
use super::{Tally, Won};

struct Rec {
    round: u8,
    reachable: bool,
    arrival_ns: u64,
    first: Option<DialId>,
    first_connects: bool,
    dials: u64,
}

/// Which input comes next.
enum Next {
    Timer(u64),
    Report(u64),
    Arrival(u64),
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
    let mut recs: HashMap<RequestId, Rec> = HashMap::new();
    // Address of each dial in flight, and which addresses the core got a verdict on (a
    // success, a failure or a timeout): each of those takes a confidence-table entry.
    let mut dial_addr: HashMap<DialId, u32> = HashMap::new();
    let mut judged = vec![false; pop.addrs.len()];
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
            arrivals.peek().map(|a| Next::Arrival(a.at_ns)),
        ];
        let Some(next) = candidates.into_iter().flatten().min_by_key(|n| match n {
            Next::Timer(t) | Next::Report(t) | Next::Arrival(t) => *t,
        }) else {
            break;
        };
        match next {
            Next::Timer(t) => dialer.handle_timeout(at(t)),
            Next::Report(t) => {
                let Some(Reverse((_, dial, ok))) = reports.pop() else {
                    break;
                };
                let dial = DialId::from_raw(dial);
                if let Some(addr) = dial_addr.remove(&dial) {
                    judged[addr as usize] = true;
                }
                // A report for a dial the core aborted meanwhile is refused; that is
                // the runtime contract, and it changes nothing.
                let _ = if ok {
                    dialer.handle_dial_succeeded(at(t), dial)
                } else {
                    dialer.handle_dial_failed(at(t), dial, "connection refused")
                };
            }
            Next::Arrival(t) => {
                let Some(a) = arrivals.next() else { break };
                let reachable = pop.reachable(a.peer, a.round);
                let list = &pop.peers[a.peer as usize];
                let addrs = list
                    .iter()
                    .map(|&i| pop.addrs[i as usize].multiaddr.clone());
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
                    Err(DialRefused::NoTokens) => tally.rejected(a.round, reachable),
                    // Everything deny-listed, pruned or black-holed: a failed request
                    // that cost nothing.
                    Err(_) => tally.failed(a.round, reachable, 0),
                }
            }
        }
        let now = match next {
            Next::Timer(t) | Next::Report(t) | Next::Arrival(t) => t,
        };
        while let Some(action) = dialer.poll_action() {
            let start = match action {
                Action::StartDial(start) => start,
                Action::AbortDial(abort) => {
                    if let Some(addr) = dial_addr.remove(&abort.dial) {
                        let timed_out = matches!(
                            abort.reason,
                            AbortReason::AddressTimeout | AbortReason::RequestTimeout
                        );
                        judged[addr as usize] |= timed_out;
                    }
                    continue;
                }
                // Opt-in commands: the simulator turns none on.
                _ => continue,
            };
            let Some(rec) = recs.get_mut(&start.request) else {
                continue;
            };
            rec.dials += 1;
            let addr = pop
                .find(start.peer, &start.addr)
                .expect("the core dials only the peer's addresses");
            dial_addr.insert(start.dial, addr);
            tally.in_flight(dial_addr.len());
            let outcome = pop.outcome(addr, rec.round, attempts.next(addr, rec.round));
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
                Err(_) => tally.failed(rec.round, rec.reachable, rec.dials),
            }
        }
    }
    assert!(recs.is_empty(), "every request ends");
    if learns {
        tally.judged_addrs = Some(judged.iter().filter(|j| **j).count());
    }
    assert_eq!(dialer.tokens_in_use(), 0, "every token comes back");
    assert!(dial_addr.is_empty(), "every dial ends");
    assert_eq!(
        tally.round1.requests + tally.later.requests,
        pop.arrivals.len() as u64,
        "every request is counted once"
    );
    tally
}
