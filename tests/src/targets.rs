//! The logic of the fuzz targets, shared by `fuzz/fuzz_targets/*` (under libFuzzer) and
//! by `tests/tests/fuzz_replay.rs` (under `cargo test`, on stable).
//!
//! Each target takes raw bytes and returns `Err` on a broken invariant or rule; the fuzz
//! targets turn that into a panic. Input that does not decode is simply not interesting.

use crate::idmap::IdMap;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use dialer_core::check::{check_state, Monitor, Violation};
use dialer_core::{
    AbortReason, Action, AdaptiveTimeout, AddrClass, BlackHoles, Config, ConfigError, DialId,
    DialRefused, Dialer, Event, HeadStart, Multiaddr, Priority, Snapshot,
};

use crate::ops::{address_pool, apply, dialable, ensure, ConfigSpec, Op};

/// The most ops one `machine` input runs: long enough for every path, short enough to
/// keep executions fast. At 256, libFuzzer grew inputs to its 4 KiB limit and a 31-minute
/// campaign averaged 1,792 exec/s; at 128 the same corpus replays 37 % faster and still
/// reaches every coverage counter (joins, timeouts, prunes, head starts, …: see the
/// `replay` example).
pub const MAX_OPS: usize = 128;

/// Fuzz target `machine`: bytes → a valid [`Config`] and a sequence of [`Op`]s, applied
/// with every invariant checked after every step (see [`apply`]).
pub fn machine(data: &[u8]) -> Result<(), Violation> {
    match decode_machine(data) {
        Some((spec, ops)) => apply(spec.config(), &ops),
        None => Ok(()),
    }
}

/// What [`machine`] makes of `data`: the config and the ops it applies (`None` when the
/// bytes do not even make a config). Handy to print a crashing input.
pub fn decode_machine(data: &[u8]) -> Option<(ConfigSpec, Vec<Op>)> {
    let mut u = Unstructured::new(data);
    let spec = ConfigSpec::arbitrary(&mut u).ok()?;
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    Some((spec, ops))
}

/// A count as a user might write it: small, or anything at all.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum RawCount {
    Small(u8),
    Any(usize),
}

impl RawCount {
    fn get(self) -> usize {
        match self {
            Self::Small(n) => usize::from(n % 8),
            Self::Any(n) => n,
        }
    }
}

/// A duration as a user might write it: zero, small, huge, or anything at all.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum RawSpan {
    Zero,
    Nanos(u32),
    Secs(u32),
    Any(Duration),
}

impl RawSpan {
    fn get(self) -> Duration {
        match self {
            Self::Zero => Duration::ZERO,
            Self::Nanos(n) => Duration::from_nanos(u64::from(n)),
            Self::Secs(n) => Duration::from_secs(u64::from(n)),
            Self::Any(d) => d,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct RawConfig {
    max_tokens: RawCount,
    max_per_peer_dials: RawCount,
    max_addrs_per_request: RawCount,
    dial_timeout: RawSpan,
    address_timeout: RawSpan,
    deny_duration: RawSpan,
    prune_duration: RawSpan,
    stagger: Option<RawSpan>,
    head_start: Option<(u32, RawSpan, RawSpan)>,
    confidence_capacity: RawCount,
    deny_list_capacity: RawCount,
    deny_growth: u32,
    deny_max: RawSpan,
    prune_after_failures: u8,
    /// percentile, margin, syn_retry, min_samples, window.
    adaptive: Option<(u8, u32, RawSpan, u32, u32)>,
    /// class bits (IPv6, UDP, quic-v1), window, min_successes.
    black_holes: (u8, u16, u16),
    interleave: bool,
}

impl RawConfig {
    fn config(&self) -> Config {
        Config::default()
            .with_max_tokens(self.max_tokens.get())
            .with_max_per_peer_dials(self.max_per_peer_dials.get())
            .with_max_addrs_per_request(self.max_addrs_per_request.get())
            .with_dial_timeout(self.dial_timeout.get())
            .with_address_timeout(self.address_timeout.get())
            .with_deny_duration(self.deny_duration.get())
            .with_prune_duration(self.prune_duration.get())
            .with_stagger(self.stagger.map(RawSpan::get))
            .with_head_start(self.head_start.map(|(rtt_factor, min, max)| HeadStart {
                rtt_factor,
                min: min.get(),
                max: max.get(),
            }))
            .with_confidence_capacity(self.confidence_capacity.get())
            .with_deny_list_capacity(self.deny_list_capacity.get())
            .with_deny_growth(self.deny_growth)
            .with_deny_max(self.deny_max.get())
            .with_prune_after_failures(self.prune_after_failures)
            .with_adaptive_timeout(self.adaptive.map(
                |(percentile, margin, syn_retry, min_samples, window)| AdaptiveTimeout {
                    percentile,
                    margin,
                    syn_retry: syn_retry.get(),
                    min_samples,
                    window,
                },
            ))
            .with_black_holes({
                let (bits, window, min_successes) = self.black_holes;
                let all = [
                    AddrClass::Ip6,
                    AddrClass::Udp,
                    AddrClass::Protocol("quic-v1"),
                ];
                BlackHoles {
                    classes: all
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| bits & (1 << i) != 0)
                        .map(|(_, c)| *c)
                        .collect(),
                    window,
                    min_successes,
                }
            })
            .with_interleave(self.interleave)
    }
}

/// The verdict the SPEC gives on a config, worked out independently of
/// [`Config::validate`] ("Bad input": zero pools are rejected at construction).
fn expected_verdict(config: &Config) -> Result<(), ConfigError> {
    const LIMIT: Duration = crate::ops::MAX_SPAN;
    if config.max_tokens == 0 {
        return Err(ConfigError::ZeroTokens);
    }
    if config.max_per_peer_dials == 0 {
        return Err(ConfigError::ZeroPerPeerDials);
    }
    if config.max_addrs_per_request == 0 {
        return Err(ConfigError::ZeroAddrsPerRequest);
    }
    for (name, d) in [
        ("dial_timeout", Some(config.dial_timeout)),
        ("address_timeout", Some(config.address_timeout)),
        ("deny_duration", Some(config.deny_duration)),
        ("prune_duration", Some(config.prune_duration)),
        ("deny_max", Some(config.deny_max)),
        (
            "adaptive_timeout.syn_retry",
            config.adaptive_timeout.map(|a| a.syn_retry),
        ),
        ("stagger", config.stagger),
        ("head_start.min", config.head_start.map(|h| h.min)),
        ("head_start.max", config.head_start.map(|h| h.max)),
    ] {
        match d {
            Some(d) if d.is_zero() => return Err(ConfigError::ZeroDuration(name)),
            Some(d) if d > LIMIT => return Err(ConfigError::DurationTooLarge(name)),
            _ => {}
        }
    }
    if let Some(h) = config.head_start {
        if h.min > h.max || h.rtt_factor == 0 {
            return Err(ConfigError::HeadStartRange);
        }
    }
    // R-D4: growth 1 is "none"; 0 would make every repeated deny instant.
    if config.deny_growth < 1 {
        return Err(ConfigError::DenyGrowth);
    }
    // R-R6b: a percentile is 1..=100; margin and window at least 1.
    if let Some(a) = config.adaptive_timeout {
        if a.percentile < 1 || a.percentile > 100 || a.margin < 1 || a.window < 1 {
            return Err(ConfigError::AdaptiveRange);
        }
    }
    // R-B: N in 1..=1024, M at most N.
    let b = &config.black_holes;
    if b.window < 1 || b.window > 1024 || b.min_successes > b.window {
        return Err(ConfigError::BlackHoleRange);
    }
    Ok(())
}

/// One address as bytes could carry it.
#[derive(Arbitrary, Debug)]
enum RawAddr {
    /// From the interpreter's pool (valid, some undialable).
    Pool(u8),
    /// Parsed from the multiaddr binary format.
    Bytes(Vec<u8>),
    /// Parsed from the multiaddr text format.
    Text(String),
}

/// What one round of the config target does.
#[derive(Arbitrary, Debug)]
struct Round {
    peer: u8,
    high: bool,
    addrs: Vec<RawAddr>,
    /// Advance the clock this many milliseconds first.
    wait: u16,
    /// Then report on an open dial: `None` leaves them all running.
    report: Option<(u8, bool)>,
}

/// Fuzz target `config_and_addrs`: bytes → config values and multiaddrs (binary and text)
/// fed through [`Config::validate`], [`Dialer::new`] and [`Dialer::dial`]. Never a panic:
/// a config is accepted exactly when the SPEC says so, with the typed error it names; a
/// dial gives a typed error that matches its input and changes nothing, or a valid
/// request; and once time has run out nothing is leaked.
pub fn config_and_addrs(data: &[u8]) -> Result<(), Violation> {
    let mut u = Unstructured::new(data);
    let Ok(raw) = RawConfig::arbitrary(&mut u) else {
        return Ok(());
    };
    let config = raw.config();
    let verdict = config.validate();
    ensure!(
        verdict == expected_verdict(&config),
        "Config::validate({config:?}) = {verdict:?}, the SPEC says {:?}",
        expected_verdict(&config)
    );
    let mut dialer = match Dialer::<u8>::new(config.clone()) {
        Ok(dialer) => {
            ensure!(verdict.is_ok(), "Dialer::new accepted {config:?}");
            dialer.with_dialable(dialable)
        }
        Err(e) => {
            ensure!(
                verdict == Err(e.clone()),
                "Dialer::new refused {config:?} with {e:?}, validate said {verdict:?}"
            );
            return Ok(());
        }
    };
    let mut monitor = Monitor::new();
    let base = Instant::now();
    let mut now = base;
    let mut open: IdMap<DialId, Multiaddr> = IdMap::new();
    for _ in 0..8 {
        let Ok(round) = Round::arbitrary(&mut u) else {
            break;
        };
        now += Duration::from_millis(u64::from(round.wait));
        let addrs: Vec<Multiaddr> = round
            .addrs
            .into_iter()
            .filter_map(|raw| match raw {
                RawAddr::Pool(i) => {
                    let pool = address_pool();
                    Some(pool[usize::from(i) % pool.len()].clone())
                }
                RawAddr::Bytes(bytes) => Multiaddr::try_from(bytes).ok(),
                RawAddr::Text(text) => text.parse().ok(),
            })
            .collect();
        let priority = if round.high {
            Priority::High
        } else {
            Priority::Normal
        };
        let before = dialer.stats();
        // The requests in flight before the call (their ids, from the peers that own them).
        let before_requests: Vec<_> = (0..3u8).filter_map(|p| dialer.request_for(&p)).collect();
        let result = dialer
            .dial(now, round.peer % 3, addrs.clone(), priority.into())
            .map(|dialing| dialing.caller);
        if let Ok(caller) = result {
            monitor.issued(caller)?;
        }
        let drained = monitor.drain(&mut dialer, now)?;
        match &result {
            Ok(caller) => {
                let request = dialer.request_of(*caller);
                // A caller that joins a request already past its dial_timeout finishes at
                // once (R-R6); every other caller waits on a live request.
                let finished = drained
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Finished { caller: c, .. } if c == caller));
                ensure!(
                    request.is_some_and(|r| dialer.is_in_flight(r)) || finished,
                    "dial returned {caller}, which waits on no live request and did not finish"
                );
                let fresh = drained.events.iter().any(
                    |e| matches!(e, Event::RequestTokens { request: r, .. } if Some(*r) == request),
                );
                let new_request = dialer.stats().requests_started > before.requests_started;
                ensure!(
                    !new_request || fresh,
                    "a new request started without RequestTokens (R-T1)"
                );
                for action in &drained.actions {
                    if let Action::StartDial(start) = action {
                        ensure!(
                            dialable(&start.addr) && (!new_request || addrs.contains(&start.addr)),
                            "StartDial for {} which the caller did not give or cannot be dialed",
                            start.addr
                        );
                    }
                }
            }
            Err(error) => {
                // A refusal spends nothing: no request, no token, no dial of its own. It may
                // still end what was already due: the peer's own request past its
                // dial_timeout (R-R6), or spared dials whose lent tokens it reclaimed (R-R6b),
                // whose requests then move on to their next addresses.
                let due_only = drained.actions.iter().all(|a| match a {
                    Action::AbortDial(abort) => matches!(
                        abort.reason,
                        AbortReason::RequestTimeout | AbortReason::AddressTimeout
                    ),
                    Action::StartDial(start) => before_requests.contains(&start.request),
                    _ => false,
                }) && drained.events.iter().all(|e| {
                    matches!(
                        e,
                        Event::Release { .. }
                            | Event::Finished { result: Err(_), .. }
                            | Event::Pruned { .. }
                            | Event::BlackHole { .. }
                    )
                });
                ensure!(
                    due_only
                        && dialer.tokens_in_use() <= before.tokens_in_use
                        && dialer.requests_in_flight() <= before.requests_in_flight
                        && dialer.stats().requests_started == before.requests_started,
                    "a refused dial ({error}) changed the dialer: {drained:?}"
                );
                match error {
                    DialRefused::NoAddresses => {
                        ensure!(addrs.is_empty(), "NoAddresses for {addrs:?}");
                    }
                    DialRefused::TooManyAddresses { given, max } => ensure!(
                        *given == addrs.len()
                            && *max == config.max_addrs_per_request
                            && given > max,
                        "TooManyAddresses {{ {given}, {max} }} for {} addresses",
                        addrs.len()
                    ),
                    DialRefused::NoDialableAddresses { skipped }
                    | DialRefused::BlackHoled { skipped }
                    | DialRefused::BackedOff { skipped, .. } => ensure!(
                        skipped.len() == addrs.len()
                            && skipped.iter().zip(&addrs).all(|(s, a)| &s.addr == a),
                        "R-R2, R-D6: skipped {skipped:?} for {addrs:?}"
                    ),
                    DialRefused::NoTokens => ensure!(
                        before.tokens_available == 0 && priority == Priority::Normal,
                        "R-T4: NoTokens with {} available",
                        before.tokens_available
                    ),
                    other => return Err(Violation(format!("dial refused with {other:?}"))),
                }
            }
        }
        track(&mut open, &drained.actions);
        if let Some((pick, ok)) = round.report {
            let picked = open
                .keys()
                .nth(usize::from(pick) % open.len().max(1))
                .copied();
            if let Some(dial) = picked {
                let accepted = if ok {
                    dialer.handle_dial_succeeded(now, dial)
                } else {
                    dialer.handle_dial_failed(now, dial, "refused")
                };
                monitor.reported(dial, accepted.is_ok())?;
                open.remove(&dial);
                let drained = monitor.drain(&mut dialer, now)?;
                track(&mut open, &drained.actions);
            }
        }
    }
    let mut steps = 0;
    while let Some(deadline) = dialer.poll_timeout() {
        steps += 1;
        ensure!(steps < 10_000, "invariant 5: no end in sight (livelock)");
        now = now.max(deadline);
        dialer.handle_timeout(now);
        let drained = monitor.drain(&mut dialer, now)?;
        monitor.after_timeout(&mut dialer, now)?;
        track(&mut open, &drained.actions);
    }
    monitor.finish(&dialer)
}

fn track(open: &mut IdMap<DialId, Multiaddr>, actions: &[Action<u8>]) {
    for action in actions {
        match action {
            Action::StartDial(start) => {
                open.insert(start.dial, start.addr.clone());
            }
            Action::AbortDial(abort) => {
                open.remove(&abort.dial);
            }
            other => panic!("a default config emits no opt-in command: {other:?}"),
        }
    }
}

/// Fuzz target `restore` (R-C7): the first byte picks the tables' sizes and whether
/// adaptive timeouts are on, the rest is fed to [`Snapshot::from_json_slice`] as a saved
/// state. Never a panic: a refusal is a typed error and leaves the dialer as it was; an
/// accepted snapshot restores with a report that accounts for every entry, the
/// invariants hold, what the dialer saves next reads back the same and restores the same
/// into a fresh dialer, and the restored dialer still dials and ends cleanly.
pub fn restore(data: &[u8]) -> Result<(), Violation> {
    let Some((&knobs, json)) = data.split_first() else {
        return Ok(());
    };
    let config = Config::default()
        .with_confidence_capacity([0, 2, 16, 65_536][usize::from(knobs & 3)])
        .with_deny_list_capacity([0, 1, 4, 65_536][usize::from((knobs >> 2) & 3)])
        .with_adaptive_timeout((knobs & 0x10 != 0).then(|| AdaptiveTimeout {
            min_samples: 4,
            ..AdaptiveTimeout::default()
        }));
    let build = || Dialer::<u8>::new(config.clone()).map_err(|e| Violation(e.to_string()));
    let mut dialer = build()?;
    let now = Instant::now();
    // Something learned already, which a refused snapshot must leave alone.
    let pool = address_pool();
    dialer.import_confidence([(pool[0].clone(), 4), (pool[1].clone(), 0)]);
    let before = dialer.snapshot(now);

    let snapshot = match Snapshot::<u8>::from_json_slice(json) {
        Ok(snapshot) => snapshot,
        Err(error) => {
            ensure!(!error.to_string().is_empty(), "an error without a message");
            ensure!(
                dialer.snapshot(now) == before,
                "a refused snapshot ({error}) changed the dialer"
            );
            return Ok(());
        }
    };
    let report = dialer
        .restore(now, snapshot.clone())
        .map_err(|e| Violation(format!("from_json accepted what restore refused: {e}")))?;
    check_state(&dialer)?;
    ensure!(
        report.addresses_restored + report.addresses_dropped == snapshot.addresses.len(),
        "R-C7: {report:?} does not account for {} addresses",
        snapshot.addresses.len()
    );
    let live_deny = snapshot
        .deny
        .iter()
        .filter(|d| !d.expires_in.is_zero())
        .count();
    ensure!(
        report.deny_restored + report.deny_dropped == live_deny,
        "R-C7: {report:?} does not account for {live_deny} deny entries"
    );
    ensure!(
        report.addresses_restored <= config.confidence_capacity
            && report.deny_restored <= config.deny_list_capacity,
        "R-C7: restored more than the tables hold: {report:?}"
    );
    // What it saves now reads back the same, and restores the same into a new dialer.
    let saved = dialer.snapshot(now);
    let json = saved
        .to_json()
        .map_err(|e| Violation(format!("to_json: {e}")))?;
    let read = Snapshot::<u8>::from_json(&json)
        .map_err(|e| Violation(format!("R-C7: its own snapshot is refused: {e}: {json}")))?;
    ensure!(read == saved, "R-C7: JSON changed the snapshot: {json}");
    let mut fresh = build()?;
    let again = fresh
        .restore(now, read)
        .map_err(|e| Violation(format!("R-C7: a fresh dialer refused: {e}")))?;
    ensure!(
        again.dropped() == 0,
        "R-C7: a fresh dialer of the same size dropped {again:?}"
    );
    ensure!(
        fresh.snapshot(now) == saved,
        "R-C7: a fresh dialer restored something else"
    );
    check_state(&fresh)?;

    // The restored dialer still works: a request over its addresses runs to its end.
    let mut monitor = Monitor::new();
    let addrs: Vec<Multiaddr> = saved
        .addresses
        .iter()
        .map(|a| a.addr.clone())
        .chain(pool.iter().cloned())
        .take(config.max_addrs_per_request)
        .collect();
    let mut now = now;
    if let Ok(dialing) = dialer.dial(now, 7, addrs, Default::default()) {
        monitor.issued(dialing.caller)?;
    }
    let mut open: IdMap<DialId, Multiaddr> = IdMap::new();
    let mut steps = 0;
    loop {
        let drained = monitor.drain(&mut dialer, now)?;
        track(&mut open, &drained.actions);
        let next = open.keys().next().copied();
        if let Some(dial) = next {
            now += Duration::from_millis(3);
            let accepted = dialer.handle_dial_failed(now, dial, "refused");
            monitor.reported(dial, accepted.is_ok())?;
            open.remove(&dial);
            continue;
        }
        let Some(deadline) = dialer.poll_timeout() else {
            break;
        };
        steps += 1;
        ensure!(steps < 10_000, "invariant 5: no end in sight (livelock)");
        now = now.max(deadline);
        dialer.handle_timeout(now);
        monitor.after_timeout(&mut dialer, now)?;
    }
    monitor.finish(&dialer)
}
