//! The logic of the fuzz targets, shared by `fuzz/fuzz_targets/*` (under libFuzzer) and
//! by `tests/tests/fuzz_replay.rs` (under `cargo test`, on stable).
//!
//! Each target takes raw bytes and returns `Err` on a broken invariant or rule; the fuzz
//! targets turn that into a panic. Input that does not decode is simply not interesting.

use crate::idmap::IdMap;
use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use dialer_core::check::{check_state, Monitor, Violation};
use dialer_core::{
    AbortReason, Action, AdaptiveTimeout, AddrClass, Answer, BlackHoles, CallerId, Config,
    ConfigError, DialId, DialRefused, Dialer, Event, HeadStart, Multiaddr, NameAction, Names,
    Priority, RecordKind, RequestId, ResolveId, Snapshot,
};
use multiaddr::Protocol;

use crate::ops::{address_pool, apply, decode_ops, dialable, ensure, ConfigSpec, Op};

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
    Some((spec, decode_ops(&mut u, MAX_OPS)))
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
            .with_head_start(self.head_start.map(|(rtt_percent, min, max)| HeadStart {
                rtt_percent,
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
        if h.min > h.max || h.rtt_percent < 100 {
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

/// The most TXT records one `dnsaddr_records` input holds (lines past it are ignored):
/// 150 fills `max_resolved`'s range, and a few more leave room for malformed ones.
pub const MAX_RECORDS: usize = 160;

/// The most records the `dnsaddr_records` name server hands out over one input: answers
/// cycle through the input's groups of records (a loop or a fan-out asks again and
/// again), and once this many were served every further TXT answer is empty.
pub const MAX_SERVED: usize = 200;

/// The peer id of the `/dnsaddr/boot.test/p2p/<id>` name `dnsaddr_records` dials.
pub const BOOT_PEER: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

/// The literal address a joining caller of `dnsaddr_records` may bring.
const LITERAL: &str = "/ip4/127.0.0.1/tcp/9";

/// The bytes before the records in a `dnsaddr_records` input.
const HEADER: usize = 7;

/// Fuzz target `dnsaddr_records` (R-N3, R-N4): bytes → TXT records, each checked against
/// [`parse_dnsaddr_record`](dialer_core::names::parse_dnsaddr_record), then served as the
/// answers to a real dialer resolving `/dnsaddr/boot.test`.
///
/// Layout: 7 header bytes, then records, one a line; an empty line ends one answer's
/// group of records, and the TXT lookups take the groups in turn, cycling (a group that
/// is the single record `!` answers with a resolver error instead).
///
/// | byte | meaning |
/// |---|---|
/// | 0 | `max_depth` = bits 0-2 mod 5; `0x08` dial `/dnsaddr/boot.test/p2p/<BOOT_PEER>`; `0x10` force `dnsaddr=` onto every record; `0x20` no resolution delay; `0x40` TCP/QUIC-only dialable predicate; `0x80` every third dial hangs |
/// | 1 | `max_resolved`: 0 the default (100), else 1 + (n - 1) mod 150 |
/// | 2 | `max_tokens` = 1 + bits 0-1; `0x04` a second caller joins after (bits 4-7) steps, `0x08` with `/ip4/127.0.0.1/tcp/9` (else the same name) |
/// | 3-6 | one bit per dial, cycling: succeeded (1) or failed (0) |
///
/// Never a panic. Each record parses to `None` exactly when it lacks the `dnsaddr=`
/// prefix; an address is non-empty and reads back the same from its text, with and without
/// the prefix; a refusal quotes at most 100 characters of the record's start. The dialer
/// keeps every invariant (the [`Monitor`] drains after every input), issues no lookup
/// deeper than `max_depth` (counted here: a name in a TXT answer at depth `d` is looked up
/// at `d + 1`) and no lookup but for a dial or a `dnsaddr` answer, dials at most
/// `max_resolved` resolved addresses per request, none but `<BOOT_PEER>`'s for a `/p2p/`
/// name, finishes every caller exactly once, and ends with nothing in flight.
pub fn dnsaddr_records(data: &[u8]) -> Result<(), Violation> {
    let header = |i: usize| data.get(i).copied().unwrap_or(0);
    let body = data.get(HEADER..).unwrap_or_default();
    let records: Vec<String> = body
        .split(|&b| b == b'\n')
        .take(MAX_RECORDS)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect();
    // Forced on, the prefix sends every record to the parser proper; off, the records are
    // as the fuzzer wrote them (and it learns the prefix from the comparisons it sees).
    let force = header(0) & 0x10 != 0;
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    for record in records {
        if record.is_empty() {
            if groups.last().is_some_and(|g| !g.is_empty()) {
                groups.push(Vec::new());
            }
            continue;
        }
        let record = if force && !record.starts_with("dnsaddr=") {
            format!("dnsaddr={record}")
        } else {
            record
        };
        check_record(&record)?;
        if let Some(group) = groups.last_mut() {
            group.push(record);
        }
    }
    if groups.len() > 1 && groups.last().is_some_and(Vec::is_empty) {
        groups.pop();
    }
    NameServer::new(header, groups)?.run()
}

/// The properties of one record under
/// [`parse_dnsaddr_record`](dialer_core::names::parse_dnsaddr_record).
fn check_record(record: &str) -> Result<(), Violation> {
    use dialer_core::names::parse_dnsaddr_record;
    let parsed = parse_dnsaddr_record(record);
    let prefixed = record.starts_with("dnsaddr=");
    ensure!(
        parsed.is_some() == prefixed,
        "R-N3: parse_dnsaddr_record({record:?}) = {parsed:?}"
    );
    match parsed {
        None => {}
        Some(Ok(addr)) => {
            ensure!(
                !addr.is_empty(),
                "R-N4: {record:?} parsed to the empty multiaddr"
            );
            let text = addr.to_string();
            let back = text.parse::<Multiaddr>().ok();
            ensure!(
                back.as_ref() == Some(&addr),
                "{record:?} parsed to {text:?}, which reads back as {back:?}"
            );
            let again = parse_dnsaddr_record(&format!("dnsaddr={text}"));
            ensure!(
                again.as_ref().is_some_and(|r| r.as_ref() == Ok(&addr)),
                "{record:?} parsed to {text:?}, whose record parses to {again:?}"
            );
        }
        Some(Err(bad)) => {
            ensure!(
                bad.record.chars().count() <= 100 && record.starts_with(&bad.record),
                "R-N4: the refusal of {record:?} quotes {:?}",
                bad.record
            );
            ensure!(
                !bad.reason.is_empty(),
                "R-N4: the refusal of {record:?} gives no reason"
            );
        }
    }
    Ok(())
}

/// The runtime half of `dnsaddr_records`: answers the dialer's lookups from the input's
/// records, reports its dials by the input's bits, and checks what comes out.
struct NameServer {
    dialer: Dialer<u8>,
    monitor: Monitor<u8>,
    now: Instant,
    names: Names,
    /// The `/p2p/<BOOT_PEER>` component, when the dialed name ends with it.
    own: Option<Protocol<'static>>,
    literal: Multiaddr,
    groups: Vec<Vec<String>>,
    /// TXT answers given, to pick the next group.
    answered: usize,
    served: usize,
    /// Open lookups to answer, in the order they came, with their depth.
    resolves: VecDeque<(ResolveId, RecordKind, u8)>,
    /// Open dials to report, in the order they came.
    dials: VecDeque<DialId>,
    reported: usize,
    outcomes: u32,
    hang: bool,
    /// Per request, the resolved addresses it dialed.
    dialed: IdMap<RequestId, HashSet<Multiaddr>>,
    finished: IdMap<CallerId, usize>,
    /// The second caller: after this many steps, with the literal address or the name.
    join: Option<(usize, bool)>,
    name: Multiaddr,
}

impl NameServer {
    fn new(header: impl Fn(usize) -> u8, groups: Vec<Vec<String>>) -> Result<Self, Violation> {
        let (h0, h1, h2) = (header(0), header(1), header(2));
        let mut names = Names::default();
        names.max_depth = (h0 & 7) % 5;
        if h1 != 0 {
            names.max_resolved = 1 + usize::from(h1 - 1) % 150;
        }
        if h0 & 0x20 != 0 {
            names.resolution_delay = None;
        }
        let config = Config::default()
            .with_names(Some(names))
            .with_max_tokens(1 + usize::from(h2 & 3));
        let mut dialer = Dialer::<u8>::new(config).map_err(|e| Violation(e.to_string()))?;
        if h0 & 0x40 != 0 {
            dialer = dialer.with_dialable(dialable);
        }
        let parse = |s: &str| {
            s.parse::<Multiaddr>()
                .map_err(|e| Violation(format!("{s}: {e}")))
        };
        let (name, own) = if h0 & 0x08 != 0 {
            let peer = parse(&format!("/p2p/{BOOT_PEER}"))?;
            (
                parse(&format!("/dnsaddr/boot.test/p2p/{BOOT_PEER}"))?,
                peer.iter().next().map(|p| p.acquire()),
            )
        } else {
            (parse("/dnsaddr/boot.test")?, None)
        };
        Ok(Self {
            dialer,
            monitor: Monitor::new(),
            now: Instant::now(),
            names,
            own,
            literal: parse(LITERAL)?,
            groups,
            answered: 0,
            served: 0,
            resolves: VecDeque::new(),
            dials: VecDeque::new(),
            reported: 0,
            outcomes: u32::from_le_bytes([header(3), header(4), header(5), header(6)]),
            hang: h0 & 0x80 != 0,
            dialed: IdMap::new(),
            finished: IdMap::new(),
            join: (h2 & 0x04 != 0).then_some((usize::from(h2 >> 4), h2 & 0x08 != 0)),
            name,
        })
    }

    /// A caller for peer 0; `Err` for a violation, `Ok(false)` if the dial was refused.
    fn dial(&mut self, addrs: Vec<Multiaddr>) -> Result<bool, Violation> {
        match self.dialer.dial(self.now, 0, addrs, Default::default()) {
            Ok(dialing) => {
                self.monitor.issued(dialing.caller)?;
                self.finished.insert(dialing.caller, 0);
                self.settle(Some(0))?;
                Ok(true)
            }
            Err(_) => {
                self.settle(None)?;
                Ok(false)
            }
        }
    }

    /// Drains the dialer and checks what came out; `depth` is that of the lookups this
    /// input may start (`None`: it may start none).
    fn settle(&mut self, depth: Option<u8>) -> Result<(), Violation> {
        let drained = self.monitor.drain(&mut self.dialer, self.now)?;
        for action in &drained.actions {
            match action {
                Action::StartDial(start) => {
                    ensure!(start.peer == 0, "StartDial for peer {}", start.peer);
                    if let Some(own) = &self.own {
                        ensure!(
                            start.addr == self.literal
                                || start.addr.iter().last().as_ref() == Some(own),
                            "R-N3: {} dialed for {}, which names another peer",
                            start.addr,
                            self.name
                        );
                    }
                    if start.addr != self.literal {
                        let dialed = self
                            .dialed
                            .entry_or_insert_with(start.request, HashSet::new);
                        dialed.insert(start.addr.clone());
                        ensure!(
                            dialed.len() <= self.names.max_resolved,
                            "R-N3: {} dialed {} resolved addresses, max_resolved is {}",
                            start.request,
                            dialed.len(),
                            self.names.max_resolved
                        );
                    }
                    self.dials.push_back(start.dial);
                }
                Action::AbortDial(abort) => self.dials.retain(|d| *d != abort.dial),
                other => {
                    return Err(Violation(format!(
                        "a config without opt-ins emitted {other:?}"
                    )))
                }
            }
        }
        for action in &drained.name_actions {
            match action {
                NameAction::Resolve(resolve) => {
                    let Some(depth) = depth else {
                        return Err(Violation(format!(
                            "R-N1: {resolve:?} came from neither a dial nor a dnsaddr answer"
                        )));
                    };
                    ensure!(
                        depth <= self.names.max_depth,
                        "R-N3: {resolve:?} at depth {depth}, max_depth is {}",
                        self.names.max_depth
                    );
                    self.resolves
                        .push_back((resolve.resolve, resolve.kind, depth));
                }
                NameAction::AbortResolve(abort) => {
                    self.resolves.retain(|(r, _, _)| *r != abort.resolve);
                }
                other => return Err(Violation(format!("an unknown name action {other:?}"))),
            }
        }
        for event in &drained.events {
            if let Event::Finished { caller, .. } = event {
                let count = self.finished.entry_or_insert_with(*caller, || 0);
                *count += 1;
                ensure!(*count == 1, "{caller} finished {count} times");
            }
        }
        Ok(())
    }

    /// The answer to the next lookup.
    fn answer(&mut self, resolve: ResolveId, kind: RecordKind, depth: u8) -> Result<(), Violation> {
        let ip = |s: &str| s.parse::<IpAddr>().map_err(|e| Violation(e.to_string()));
        let result: Result<Answer, &str> = match kind {
            RecordKind::A => Ok(Answer::Ips(vec![ip("127.0.0.1")?, ip("127.0.0.2")?])),
            RecordKind::Aaaa => Ok(Answer::Ips(vec![ip("::1")?])),
            RecordKind::Txt => {
                let group = &self.groups[self.answered % self.groups.len()];
                self.answered += 1;
                if group.len() == 1 && group[0] == "!" {
                    Err("server failure")
                } else if self.served >= MAX_SERVED {
                    Ok(Answer::Txt(Vec::new()))
                } else {
                    self.served += group.len();
                    Ok(Answer::Txt(group.clone()))
                }
            }
        };
        let accepted = self.dialer.handle_resolved(self.now, resolve, result);
        self.monitor.resolved(resolve, accepted.is_ok())?;
        ensure!(
            accepted.is_ok(),
            "the answer to open {resolve} was refused: {accepted:?}"
        );
        self.settle((kind == RecordKind::Txt).then_some(depth + 1))
    }

    fn run(mut self) -> Result<(), Violation> {
        ensure!(
            self.dial(vec![self.name.clone()])?,
            "R-N1: the dial of {} was refused",
            self.name
        );
        let mut steps = 0;
        loop {
            steps += 1;
            ensure!(steps < 10_000, "invariant 5: no end in sight (livelock)");
            if self.join.is_some_and(|(after, _)| steps > after) {
                let literal = self.join.take().is_some_and(|(_, literal)| literal);
                let addr = if literal {
                    self.literal.clone()
                } else {
                    self.name.clone()
                };
                self.dial(vec![addr])?;
            }
            self.now += Duration::from_millis(1);
            if let Some((resolve, kind, depth)) = self.resolves.pop_front() {
                self.answer(resolve, kind, depth)?;
            } else if let Some(dial) = self.dials.pop_front() {
                let n = self.reported;
                self.reported += 1;
                if self.hang && n % 3 == 2 {
                    continue;
                }
                let accepted = if self.outcomes & (1 << (n % 32)) != 0 {
                    self.dialer.handle_dial_succeeded(self.now, dial)
                } else {
                    self.dialer.handle_dial_failed(self.now, dial, "refused")
                };
                self.monitor.reported(dial, accepted.is_ok())?;
                ensure!(
                    accepted.is_ok(),
                    "the report of open {dial} was refused: {accepted:?}"
                );
                self.settle(None)?;
            } else if let Some(deadline) = self.dialer.poll_timeout() {
                self.now = self.now.max(deadline);
                self.dialer.handle_timeout(self.now);
                self.settle(None)?;
                self.monitor.after_timeout(&mut self.dialer, self.now)?;
            } else {
                break;
            }
        }
        for (caller, count) in self.finished.iter() {
            ensure!(*count == 1, "{caller} finished {count} times");
        }
        ensure!(
            self.dialer.requests_in_flight() == 0
                && self.dialer.resolves_in_flight() == 0
                && self.dialer.tokens_in_use() == 0,
            "left in flight: {} requests, {} lookups, {} tokens",
            self.dialer.requests_in_flight(),
            self.dialer.resolves_in_flight(),
            self.dialer.tokens_in_use()
        );
        self.monitor.finish(&self.dialer)
    }
}
