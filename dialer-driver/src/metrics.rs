//! Prometheus metrics of the driver (R-O3), behind the `metrics` feature.
//!
//! The driver sees every input and output of the core, so it records here what it sees:
//! the end of each dial (with its address's IP version and transport), the end of each
//! request (its dials and its time to connect), and after every input the core's
//! [`Stats`], whose counters it turns into increments and whose gauges it copies. Every
//! label value is one of a few fixed strings: no peer id and no address ever becomes a
//! label, so the number of series is bounded. `docs/metrics.md` lists every metric.

use std::time::Duration;

use dialer_core::{AbortReason, AddrClass, BlackHoleState, DialFailed, ErrorClass, Stats};
use multiaddr::{Multiaddr, Protocol};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The prefix of every metric, under whatever prefix the caller's registry has.
const PREFIX: &str = "dialer";

/// Bucket bounds of `dialer_request_dials`: dials are few per request, so each small
/// count has its own bucket.
const DIALS_BUCKETS: [f64; 10] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0, 16.0, 32.0];

/// Bucket bounds of `dialer_time_to_connect_seconds`: from a LAN connect to a request's
/// default 30 s `dial_timeout`.
const CONNECT_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];

/// The length of the core's wait queue for tokens (R-Q1), for the `dialer_queue_length`
/// gauge: always 0 unless `Config::wait_for_tokens` is set.
fn queue_length(stats: &Stats) -> i64 {
    i64::try_from(stats.requests_waiting).unwrap_or(i64::MAX)
}

/// How a request that started dialing ended: the `outcome` label of
/// `dialer_request_dials` (and of `dialer_requests_total`, which also counts refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RequestOutcome {
    Connected,
    Failed,
    TimedOut,
    Cancelled,
    /// It waited for a token (R-Q1) and got none in time.
    NoTokensInTime,
}

impl RequestOutcome {
    /// The outcome of a request whose last caller got `result`.
    pub(crate) fn of(result: Result<(), &DialFailed>) -> Self {
        match result {
            Ok(()) => Self::Connected,
            Err(DialFailed::Timeout { .. }) => Self::TimedOut,
            Err(DialFailed::Cancelled) => Self::Cancelled,
            Err(DialFailed::NoTokensInTime { .. }) => Self::NoTokensInTime,
            Err(_) => Self::Failed,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
            Self::NoTokensInTime => "no_tokens_in_time",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DialLabels {
    outcome: &'static str,
    error: &'static str,
    ip_version: &'static str,
    transport: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// What the labels of a dial say about its address, computed once when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddrLabels {
    ip_version: &'static str,
    transport: &'static str,
}

impl AddrLabels {
    /// The IP version (`ip4`, `ip6`; `dns4`/`dns6` count as their family, other names as
    /// `other`) and transport (`tcp`, `quic`, `relayed` for any `/p2p-circuit`, else
    /// `other`) of `addr`.
    pub(crate) fn of(addr: &Multiaddr) -> Self {
        let mut ip_version = "other";
        let mut transport = "other";
        for (i, protocol) in addr.iter().enumerate() {
            match protocol {
                Protocol::Ip4(_) | Protocol::Dns4(_) if i == 0 => ip_version = "ip4",
                Protocol::Ip6(_) | Protocol::Dns6(_) if i == 0 => ip_version = "ip6",
                Protocol::Tcp(_) if transport == "other" => transport = "tcp",
                Protocol::Quic | Protocol::QuicV1 if transport == "other" => transport = "quic",
                Protocol::P2pCircuit => {
                    transport = "relayed";
                    break;
                }
                _ => {}
            }
        }
        Self {
            ip_version,
            transport,
        }
    }

    /// Labels for a dial whose address is not known any more (never expected).
    pub(crate) const UNKNOWN: Self = Self {
        ip_version: "other",
        transport: "other",
    };
}

/// How one dial ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DialOutcome {
    Connected,
    /// The transport reported a failure of this class.
    Failed(ErrorClass),
    /// The core aborted it.
    Aborted(AbortReason),
}

impl DialOutcome {
    /// The `outcome` and `error` labels.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Connected => ("connected", "none"),
            Self::Failed(class) => (
                "failed",
                match class {
                    ErrorClass::Refused => "refused",
                    ErrorClass::TimedOut => "timed_out",
                    ErrorClass::Unreachable => "unreachable",
                    ErrorClass::Resolve => "resolve",
                    _ => "other",
                },
            ),
            Self::Aborted(AbortReason::Superseded) => ("superseded", "none"),
            Self::Aborted(AbortReason::Cancelled) => ("cancelled", "none"),
            // Address and request timeouts, adaptive cuts included: failures (R-C4).
            Self::Aborted(_) => ("timed_out", "timed_out"),
        }
    }
}

/// The metrics of one dialer, registered in the caller's registry. Cloning shares them.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    requests: Family<OutcomeLabels, Counter>,
    dials: Family<DialLabels, Counter>,
    request_dials: Family<OutcomeLabels, Histogram, fn() -> Histogram>,
    time_to_connect: Histogram,
    tokens_in_use: Gauge,
    queue_length: Gauge,
    black_hole_state: Family<ClassLabels, Gauge>,
    addresses_skipped: Family<ReasonLabels, Counter>,
    /// The black-hole classes the core watches, to read their state.
    classes: Vec<AddrClass>,
    /// The core's counters when last read, to add only what is new.
    last: Stats,
}

fn dials_histogram() -> Histogram {
    Histogram::new(DIALS_BUCKETS)
}

impl Metrics {
    /// Registers every metric of `core` in `registry`, under the `dialer` prefix.
    pub(crate) fn register<P: Clone + Eq + std::hash::Hash + std::fmt::Debug>(
        registry: &mut Registry,
        core: &dialer_core::Dialer<P>,
    ) -> Self {
        let registry = registry.sub_registry_with_prefix(PREFIX);
        let metrics = Self {
            requests: Family::default(),
            dials: Family::default(),
            request_dials: Family::new_with_constructor(dials_histogram as fn() -> Histogram),
            time_to_connect: Histogram::new(CONNECT_BUCKETS),
            tokens_in_use: Gauge::default(),
            queue_length: Gauge::default(),
            black_hole_state: Family::default(),
            addresses_skipped: Family::default(),
            classes: core.config().black_holes.classes.clone(),
            last: Stats::default(),
        };
        registry.register(
            "requests",
            "Dial requests by outcome: connected, failed, timed_out, cancelled, or refused_* \
             with the reason it was refused at once",
            metrics.requests.clone(),
        );
        registry.register(
            "dials",
            "Dials by outcome (connected, failed, timed_out, superseded, cancelled), error \
             class, IP version and transport",
            metrics.dials.clone(),
        );
        registry.register(
            "request_dials",
            "Dials each request started, by the request's outcome",
            metrics.request_dials.clone(),
        );
        registry.register_with_unit(
            "time_to_connect",
            "Time from a request's start to its connection",
            Unit::Seconds,
            metrics.time_to_connect.clone(),
        );
        registry.register(
            "tokens_in_use",
            "Dial tokens held by requests",
            metrics.tokens_in_use.clone(),
        );
        registry.register(
            "queue_length",
            "Requests waiting for a dial token",
            metrics.queue_length.clone(),
        );
        registry.register(
            "black_hole_state",
            "Black-hole state of each watched address class: 0 probing, 1 allowed, 2 blocked",
            metrics.black_hole_state.clone(),
        );
        registry.register(
            "addresses_skipped",
            "Addresses left out of a request because they were deny-listed, black-holed or \
             pruned",
            metrics.addresses_skipped.clone(),
        );
        // Every series that can appear exists from the start (at 0), so a rate over the
        // first increment is right and a dashboard shows the series before it moves.
        for outcome in [
            "connected",
            "failed",
            "timed_out",
            "cancelled",
            "no_tokens_in_time",
            "refused_no_tokens",
            "refused_backed_off",
            "refused_black_holed",
            "refused_no_dialable_addresses",
            "refused_invalid",
        ] {
            drop(metrics.requests.get_or_create(&OutcomeLabels { outcome }));
        }
        for reason in ["deny_listed", "black_holed", "pruned"] {
            drop(
                metrics
                    .addresses_skipped
                    .get_or_create(&ReasonLabels { reason }),
            );
        }
        metrics.set_black_hole_states(|class| core.black_hole_state(class));
        metrics
    }

    /// Sets each watched class's `dialer_black_hole_state` gauge.
    fn set_black_hole_states(&self, state_of: impl Fn(AddrClass) -> Option<BlackHoleState>) {
        for class in &self.classes {
            if let Some(state) = state_of(*class) {
                let value = match state {
                    BlackHoleState::Probing => 0,
                    BlackHoleState::Allowed => 1,
                    _ => 2,
                };
                self.black_hole_state
                    .get_or_create(&ClassLabels {
                        class: class.name(),
                    })
                    .set(value);
            }
        }
    }

    /// Counts the end of a dial to an address with `addr` labels.
    pub(crate) fn dial_ended(&self, addr: AddrLabels, outcome: DialOutcome) {
        let (outcome, error) = outcome.labels();
        self.dials
            .get_or_create(&DialLabels {
                outcome,
                error,
                ip_version: addr.ip_version,
                transport: addr.transport,
            })
            .inc();
    }

    /// Records the end of a request that started `dials` dials and, if it connected,
    /// took `elapsed` from its start.
    pub(crate) fn request_ended(&self, outcome: RequestOutcome, dials: u32, elapsed: Duration) {
        self.request_dials
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .observe(f64::from(dials));
        if outcome == RequestOutcome::Connected {
            self.time_to_connect.observe(elapsed.as_secs_f64());
        }
    }

    /// Brings the counters and gauges taken from the core's [`Stats`] up to `stats`;
    /// `black_hole_state` reads the state of a class.
    pub(crate) fn update(
        &mut self,
        stats: Stats,
        black_hole_state: impl Fn(AddrClass) -> Option<BlackHoleState>,
    ) {
        let last = self.last;
        let add = |family: &Family<OutcomeLabels, Counter>, outcome, now: u64, then: u64| {
            if now > then {
                family
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc_by(now - then);
            }
        };
        let requests = &self.requests;
        add(
            requests,
            "connected",
            stats.requests_succeeded,
            last.requests_succeeded,
        );
        // A wait that ran out is counted in `requests_failed` by the core; it gets its own
        // outcome here.
        add(
            requests,
            "failed",
            stats.requests_failed - stats.requests_wait_timed_out,
            last.requests_failed - last.requests_wait_timed_out,
        );
        add(
            requests,
            "no_tokens_in_time",
            stats.requests_wait_timed_out,
            last.requests_wait_timed_out,
        );
        add(
            requests,
            "timed_out",
            stats.requests_timed_out,
            last.requests_timed_out,
        );
        add(
            requests,
            "cancelled",
            stats.requests_cancelled,
            last.requests_cancelled,
        );
        add(
            requests,
            "refused_no_tokens",
            stats.requests_rejected_no_tokens,
            last.requests_rejected_no_tokens,
        );
        add(
            requests,
            "refused_backed_off",
            stats.requests_rejected_backed_off,
            last.requests_rejected_backed_off,
        );
        add(
            requests,
            "refused_black_holed",
            stats.requests_rejected_black_holed,
            last.requests_rejected_black_holed,
        );
        add(
            requests,
            "refused_no_dialable_addresses",
            stats.requests_rejected_no_addresses,
            last.requests_rejected_no_addresses,
        );
        add(
            requests,
            "refused_invalid",
            stats.requests_rejected_invalid,
            last.requests_rejected_invalid,
        );
        let skips = [
            (
                "deny_listed",
                stats.addresses_deny_listed,
                last.addresses_deny_listed,
            ),
            (
                "black_holed",
                stats.addresses_black_holed,
                last.addresses_black_holed,
            ),
            (
                "pruned",
                stats.addresses_skipped_pruned,
                last.addresses_skipped_pruned,
            ),
        ];
        for (reason, now, then) in skips {
            if now > then {
                self.addresses_skipped
                    .get_or_create(&ReasonLabels { reason })
                    .inc_by(now - then);
            }
        }
        self.tokens_in_use.set(gauge(stats.tokens_in_use));
        self.queue_length.set(queue_length(&stats));
        if stats.black_hole_changes != last.black_hole_changes {
            self.set_black_hole_states(black_hole_state);
        }
        self.last = stats;
    }
}

/// A gauge's value from a count (saturating: a count never comes near `i64::MAX`).
fn gauge(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::AddrLabels;

    // R-O3: the address labels are a few fixed values, never the address itself.
    #[test]
    fn address_labels_name_the_family_and_the_transport_only() {
        let cases = [
            ("/ip4/1.2.3.4/tcp/1", "ip4", "tcp"),
            ("/ip6/::1/tcp/1", "ip6", "tcp"),
            ("/ip4/1.2.3.4/udp/1/quic-v1", "ip4", "quic"),
            ("/ip6/::1/udp/1/quic", "ip6", "quic"),
            ("/dns4/example.com/tcp/1", "ip4", "tcp"),
            ("/dns/example.com/udp/1/quic-v1", "other", "quic"),
            ("/ip4/1.2.3.4/udp/1/webrtc-direct", "ip4", "other"),
            (
                "/ip4/1.2.3.4/tcp/1/p2p/12D3KooWGQmdpzHXCqLno4mMxWXKNFQHASBeF99gTm2JR8Vu5Bdc/p2p-circuit",
                "ip4",
                "relayed",
            ),
            ("/memory/7", "other", "other"),
        ];
        for (addr, ip_version, transport) in cases {
            let labels = AddrLabels::of(&addr.parse().expect("valid"));
            assert_eq!(
                (labels.ip_version, labels.transport),
                (ip_version, transport),
                "{addr}"
            );
        }
    }
}
