//! Saved state (R-C7, feature `serde`): everything the core learned about addresses, as
//! one versioned [`Snapshot`] that a new dialer restores after a restart.
//!
//! What a snapshot holds, and why:
//!
//! - every confidence entry (R-C1 … R-C6), least recently used first: its value, its
//!   smoothed connect time, its failures in a row (R-D4) and whether its last dial was cut
//!   short by an adaptive timeout (R-R6b), with its live prune marks (R-C5);
//! - every live deny-list entry (R-D1);
//! - the connect-time histogram behind adaptive timeouts (R-R6b). It is learned from the
//!   same dials as the per-address connect times, and without it a restarted dialer would
//!   give every address the full `address_timeout` until `min_samples` connects were
//!   measured again, although it knows each address's own time. Its percentile is
//!   recomputed under the restoring dialer's configuration. Like the deny entries and
//!   failure counts it describes the network the node was on: after a restart on another
//!   network, [`Dialer::network_changed`] forgets all three (R-D4b);
//! - **not** the black-hole state (R-B): a verdict that a whole class of addresses is
//!   unreachable is about the network of the moment, and a stale one would skip every IPv6
//!   or UDP address until a probe got through. A restored dialer learns it anew;
//! - not requests in flight, tokens, or counters: they are not knowledge about addresses.
//!
//! Deny and prune expiries are saved as **durations from the moment the snapshot was
//! taken** ([`Dialer::snapshot`]'s `now`) and become instants again from the `now` of
//! [`Dialer::restore`], so they survive a restart on a clock that starts elsewhere (an
//! [`Instant`] means nothing to another process). Time spent while the dialer was down
//! does not count against them.
//!
//! # The JSON form
//!
//! [`Snapshot::to_json`] writes version [`SNAPSHOT_VERSION`]; [`Snapshot::from_json`] reads
//! it back, migrating an older version and refusing, with a typed [`RestoreError`], input
//! that is truncated, is no JSON, has an unknown version, does not follow its version's
//! format, or holds a value out of range. Durations are whole milliseconds (rounded up, so
//! a restored entry never ends earlier than the saved one would have), connect times and
//! histogram edges whole microseconds, addresses multiaddr strings, peers whatever their
//! `Serialize` gives:
//!
//! ```json
//! {"version":1,
//!  "addresses":[{"addr":"/ip4/127.0.0.1/tcp/4001","confidence":3,"connect_us":850},
//!               {"addr":"/ip4/127.0.0.1/tcp/4002","confidence":0,"failures":2,
//!                "pruned_for":[{"peer":7,"expires_in_ms":3600000}]}],
//!  "deny":[{"addr":"/ip4/127.0.0.1/tcp/4002","expires_in_ms":480000}],
//!  "connect_times":{"seen":3,"buckets":[{"up_to_us":896,"count":3}]}}
//! ```

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use multiaddr::Multiaddr;
use serde::de::DeserializeOwned;
use serde::Serialize;
use smallvec::SmallVec;

use crate::confidence::{family_bits, Entry, MAX_CONFIDENCE, MAX_PRUNED_PEERS};
use crate::config::MAX_DURATION;
use crate::Dialer;

/// The snapshot format [`Snapshot::to_json`] writes, and the newest it reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Everything a dialer learned about addresses (R-C7), taken by [`Dialer::snapshot`] and
/// given to [`Dialer::restore`]; [`to_json`](Self::to_json) and
/// [`from_json`](Self::from_json) move it through a file. See the
/// [module documentation](self) for what it holds and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot<P> {
    /// Every confidence entry, least recently used first (the order that restores the same
    /// recency).
    pub addresses: Vec<LearnedAddress<P>>,
    /// Every live deny-list entry, soonest to expire first.
    pub deny: Vec<DenyEntry>,
    /// The connect-time histogram of adaptive timeouts (empty when they are off).
    pub connect_times: ConnectTimeHistogram,
}

/// What a dialer learned about one address (R-C1 … R-C6, R-D4, R-R6b).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LearnedAddress<P> {
    /// The address.
    pub addr: Multiaddr,
    /// Its confidence, 0..=10.
    pub confidence: u8,
    /// Its smoothed connect time, if it ever connected (1 µs to about 71 minutes).
    pub connect_time: Option<Duration>,
    /// Failures in a row since its last success (what its next deny time grows from).
    pub failures: u8,
    /// Its last dial was cut short by an adaptive timeout, so its next one is patient.
    pub cut: bool,
    /// The peers it is pruned for (R-C5), oldest mark first; at most 8 are kept.
    pub pruned_for: Vec<PruneMark<P>>,
}

/// A prune mark (R-C5): `peer` skips the address for `expires_in` more.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneMark<P> {
    /// The peer the address is pruned for.
    pub peer: P,
    /// How long the mark had left when the snapshot was taken.
    pub expires_in: Duration,
}

/// A deny-list entry (R-D1): the address is backed off for `expires_in` more.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DenyEntry {
    /// The address.
    pub addr: Multiaddr,
    /// How long the entry had left when the snapshot was taken.
    pub expires_in: Duration,
}

/// The connect times of recent successful dials, as a histogram (R-R6b).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectTimeHistogram {
    /// Each non-empty bucket: the longest connect time it holds and how many it holds,
    /// shortest first.
    pub buckets: Vec<(Duration, u32)>,
    /// Samples seen since the estimates were last reset (what `min_samples` counts).
    pub seen: u32,
}

/// What [`Dialer::restore`] took in, and what did not fit (R-C7).
///
/// A snapshot larger than the restoring dialer's tables keeps, as
/// [`Dialer::import_confidence`] does, the most recently used confidence entries (the
/// least recent are dropped, with their prune marks) and the deny entries that expire
/// last (the deny list's own eviction order, R-D3); an address with more prune marks than
/// a slot holds keeps its newest. Entries that had already expired are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Confidence entries restored.
    pub addresses_restored: usize,
    /// Confidence entries dropped: the table was too small.
    pub addresses_dropped: usize,
    /// Prune marks restored.
    pub prune_marks_restored: usize,
    /// Prune marks dropped, with their entry or past the 8 an address keeps.
    pub prune_marks_dropped: usize,
    /// Deny-list entries restored.
    pub deny_restored: usize,
    /// Deny-list entries dropped: the list was too small.
    pub deny_dropped: usize,
    /// Connect-time samples added to the histogram (0 when adaptive timeouts are off).
    pub connect_time_samples: u64,
}

impl RestoreReport {
    /// Everything dropped because the tables were smaller than the snapshot.
    pub fn dropped(&self) -> usize {
        self.addresses_dropped + self.prune_marks_dropped + self.deny_dropped
    }
}

/// Why a snapshot was refused (R-C7). A refused snapshot changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The input ends before the snapshot does (a partial write, an empty file).
    #[error("snapshot is truncated: the input ends at line {line}, column {column}")]
    Truncated {
        /// Line of the end of the input (1-based).
        line: usize,
        /// Column of the end of the input.
        column: usize,
    },
    /// The input is not a JSON object.
    #[error("snapshot is corrupt: {reason}")]
    Corrupt {
        /// What the JSON parser found.
        reason: String,
    },
    /// The object has no `version` field holding an unsigned integer.
    #[error("snapshot has no version number")]
    MissingVersion,
    /// The snapshot is of a version this build does not know (a newer one, or none that
    /// ever existed).
    #[error("snapshot version {found} is unknown: this build reads versions 1 to {newest}")]
    UnknownVersion {
        /// The version the snapshot names.
        found: u64,
        /// The newest version this build reads ([`SNAPSHOT_VERSION`]).
        newest: u32,
    },
    /// The snapshot names a known version but does not follow its format: a field is
    /// missing, unknown or of the wrong type, or an address is no multiaddr.
    #[error("snapshot does not follow format version {version}: {reason}")]
    Malformed {
        /// The version the snapshot names.
        version: u32,
        /// What does not fit.
        reason: String,
    },
    /// A value is out of its range: a confidence above 10, more than 255 failures, a
    /// connect time of 0 or above `u32::MAX` µs, an expiry or histogram edge beyond the
    /// longest duration a [`Config`](crate::Config) accepts (2^30 s), a count above
    /// `u32::MAX`.
    #[error("snapshot value out of range: {field} = {value}")]
    OutOfRange {
        /// Which value, e.g. `addresses[3].confidence`.
        field: String,
        /// The value found (durations in the unit of the field's name, saturated).
        value: u64,
    },
    /// One address (or one peer among an address's prune marks) appears twice.
    #[error("snapshot lists {what} twice")]
    Duplicate {
        /// What is listed twice.
        what: String,
    },
}

fn out_of_range(field: String, value: u64) -> RestoreError {
    RestoreError::OutOfRange { field, value }
}

fn saturating_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn saturating_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Whole milliseconds, rounded up: a restored expiry is never earlier than the saved one.
fn ceil_ms(d: Duration) -> u64 {
    saturating_ms(d).saturating_add(u64::from(d.subsec_nanos() % 1_000_000 != 0))
}

impl<P> Snapshot<P> {
    /// Whether the snapshot holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.deny.is_empty() && self.connect_times.buckets.is_empty()
    }

    /// The snapshot as JSON, in format [`SNAPSHOT_VERSION`]. Fails only if a peer's
    /// `Serialize` fails (a peer that is no JSON value).
    pub fn to_json(&self) -> serde_json::Result<String>
    where
        P: Serialize + Clone,
    {
        serde_json::to_string(&v1::File::from_snapshot(self))
    }

    /// Reads a snapshot written by [`to_json`](Self::to_json) of this or an older version
    /// (which is migrated); see [`RestoreError`] for what is refused.
    pub fn from_json(json: &str) -> Result<Self, RestoreError>
    where
        P: DeserializeOwned + Eq + Hash,
    {
        Self::from_json_slice(json.as_bytes())
    }

    /// [`from_json`](Self::from_json) on bytes (input that is not UTF-8 is corrupt).
    pub fn from_json_slice(json: &[u8]) -> Result<Self, RestoreError>
    where
        P: DeserializeOwned + Eq + Hash,
    {
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
            if e.is_eof() {
                RestoreError::Truncated {
                    line: e.line(),
                    column: e.column(),
                }
            } else {
                RestoreError::Corrupt {
                    reason: e.to_string(),
                }
            }
        })?;
        let serde_json::Value::Object(fields) = &value else {
            return Err(RestoreError::Corrupt {
                reason: "the top level is not a JSON object".into(),
            });
        };
        let version = fields
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or(RestoreError::MissingVersion)?;
        let snapshot = migrate(version, value)?;
        snapshot.validate()?;
        Ok(snapshot)
    }

    /// Checks every value against its range and refuses duplicates, as
    /// [`Dialer::restore`] does before it changes anything.
    pub fn validate(&self) -> Result<(), RestoreError>
    where
        P: Eq + Hash,
    {
        let max_us = saturating_us(MAX_DURATION);
        let mut seen = HashSet::with_capacity(self.addresses.len());
        for (i, a) in self.addresses.iter().enumerate() {
            if !seen.insert(&a.addr) {
                return Err(RestoreError::Duplicate {
                    what: format!("address {} in addresses", a.addr),
                });
            }
            if a.confidence > MAX_CONFIDENCE {
                return Err(out_of_range(
                    format!("addresses[{i}].confidence"),
                    u64::from(a.confidence),
                ));
            }
            if let Some(t) = a.connect_time {
                let us = saturating_us(t);
                if us == 0 || us > u64::from(u32::MAX) {
                    return Err(out_of_range(format!("addresses[{i}].connect_us"), us));
                }
            }
            let mut peers = HashSet::with_capacity(a.pruned_for.len());
            for (j, m) in a.pruned_for.iter().enumerate() {
                if !peers.insert(&m.peer) {
                    return Err(RestoreError::Duplicate {
                        what: format!("a peer in addresses[{i}].pruned_for"),
                    });
                }
                if m.expires_in > MAX_DURATION {
                    return Err(out_of_range(
                        format!("addresses[{i}].pruned_for[{j}].expires_in_ms"),
                        saturating_ms(m.expires_in),
                    ));
                }
            }
        }
        let mut seen = HashSet::with_capacity(self.deny.len());
        for (i, d) in self.deny.iter().enumerate() {
            if !seen.insert(&d.addr) {
                return Err(RestoreError::Duplicate {
                    what: format!("address {} in deny", d.addr),
                });
            }
            if d.expires_in > MAX_DURATION {
                return Err(out_of_range(
                    format!("deny[{i}].expires_in_ms"),
                    saturating_ms(d.expires_in),
                ));
            }
        }
        for (i, (edge, _)) in self.connect_times.buckets.iter().enumerate() {
            let us = saturating_us(*edge);
            if us == 0 || us > max_us {
                return Err(out_of_range(
                    format!("connect_times.buckets[{i}].up_to_us"),
                    us,
                ));
            }
        }
        Ok(())
    }
}

/// The migration hook: reads a snapshot of any known `version` into the current form.
///
/// Only version 1 exists. A version 2 adds its arm here, and the arm of version 1 then
/// converts a `v1::File` up to the `v2` form before it becomes a [`Snapshot`], so every
/// older file goes through each migration step in turn.
fn migrate<P: DeserializeOwned>(
    version: u64,
    value: serde_json::Value,
) -> Result<Snapshot<P>, RestoreError> {
    match version {
        1 => serde_json::from_value::<v1::File<P>>(value)
            .map_err(|e| RestoreError::Malformed {
                version: 1,
                reason: e.to_string(),
            })?
            .into_snapshot(),
        found => Err(RestoreError::UnknownVersion {
            found,
            newest: SNAPSHOT_VERSION,
        }),
    }
}

/// Format version 1. Every number is read as a `u64`, so that a value too large for its
/// field is reported as out of range rather than as a type error.
mod v1 {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields, bound(deserialize = "P: Deserialize<'de>"))]
    pub(super) struct File<P> {
        version: u64,
        #[serde(default)]
        addresses: Vec<Address<P>>,
        #[serde(default)]
        deny: Vec<Deny>,
        #[serde(default)]
        connect_times: ConnectTimes,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields, bound(deserialize = "P: Deserialize<'de>"))]
    struct Address<P> {
        addr: String,
        confidence: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect_us: Option<u64>,
        #[serde(default, skip_serializing_if = "is_zero")]
        failures: u64,
        #[serde(default, skip_serializing_if = "is_false")]
        cut: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pruned_for: Vec<Mark<P>>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Mark<P> {
        peer: P,
        expires_in_ms: u64,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Deny {
        addr: String,
        expires_in_ms: u64,
    }

    #[derive(Serialize, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct ConnectTimes {
        #[serde(default)]
        seen: u64,
        #[serde(default)]
        buckets: Vec<Bucket>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Bucket {
        up_to_us: u64,
        count: u64,
    }

    fn is_zero(n: &u64) -> bool {
        *n == 0
    }

    fn is_false(b: &bool) -> bool {
        !*b
    }

    fn parse_addr(raw: &str, field: String) -> Result<Multiaddr, RestoreError> {
        raw.parse().map_err(|e| RestoreError::Malformed {
            version: 1,
            reason: format!("{field}: {raw:?} is not a multiaddr: {e}"),
        })
    }

    fn narrow<T: TryFrom<u64>>(
        value: u64,
        field: impl FnOnce() -> String,
    ) -> Result<T, RestoreError> {
        T::try_from(value).map_err(|_| out_of_range(field(), value))
    }

    impl<P: Clone> File<P> {
        pub(super) fn from_snapshot(s: &Snapshot<P>) -> Self {
            Self {
                version: u64::from(SNAPSHOT_VERSION),
                addresses: s
                    .addresses
                    .iter()
                    .map(|a| Address {
                        addr: a.addr.to_string(),
                        confidence: u64::from(a.confidence),
                        connect_us: a.connect_time.map(saturating_us),
                        failures: u64::from(a.failures),
                        cut: a.cut,
                        pruned_for: a
                            .pruned_for
                            .iter()
                            .map(|m| Mark {
                                peer: m.peer.clone(),
                                expires_in_ms: ceil_ms(m.expires_in),
                            })
                            .collect(),
                    })
                    .collect(),
                deny: s
                    .deny
                    .iter()
                    .map(|d| Deny {
                        addr: d.addr.to_string(),
                        expires_in_ms: ceil_ms(d.expires_in),
                    })
                    .collect(),
                connect_times: ConnectTimes {
                    seen: u64::from(s.connect_times.seen),
                    buckets: s
                        .connect_times
                        .buckets
                        .iter()
                        .map(|&(edge, count)| Bucket {
                            up_to_us: saturating_us(edge),
                            count: u64::from(count),
                        })
                        .collect(),
                },
            }
        }
    }

    impl<P> File<P> {
        pub(super) fn into_snapshot(self) -> Result<Snapshot<P>, RestoreError> {
            let mut addresses = Vec::with_capacity(self.addresses.len());
            for (i, a) in self.addresses.into_iter().enumerate() {
                let field = |name: &str| format!("addresses[{i}].{name}");
                let confidence = match a.confidence {
                    c if c <= u64::from(MAX_CONFIDENCE) => c as u8,
                    c => return Err(out_of_range(field("confidence"), c)),
                };
                let connect_time = match a.connect_us {
                    None => None,
                    Some(us) => Some(Duration::from_micros(u64::from(narrow::<u32>(us, || {
                        field("connect_us")
                    })?))),
                };
                let mut pruned_for = Vec::with_capacity(a.pruned_for.len());
                for m in a.pruned_for {
                    pruned_for.push(PruneMark {
                        peer: m.peer,
                        expires_in: Duration::from_millis(m.expires_in_ms),
                    });
                }
                addresses.push(LearnedAddress {
                    addr: parse_addr(&a.addr, field("addr"))?,
                    confidence,
                    connect_time,
                    failures: narrow(a.failures, || field("failures"))?,
                    cut: a.cut,
                    pruned_for,
                });
            }
            let mut deny = Vec::with_capacity(self.deny.len());
            for (i, d) in self.deny.into_iter().enumerate() {
                deny.push(DenyEntry {
                    addr: parse_addr(&d.addr, format!("deny[{i}].addr"))?,
                    expires_in: Duration::from_millis(d.expires_in_ms),
                });
            }
            let mut buckets = Vec::with_capacity(self.connect_times.buckets.len());
            for (i, b) in self.connect_times.buckets.into_iter().enumerate() {
                let count = narrow(b.count, || format!("connect_times.buckets[{i}].count"))?;
                buckets.push((Duration::from_micros(b.up_to_us), count));
            }
            Ok(Snapshot {
                addresses,
                deny,
                connect_times: ConnectTimeHistogram {
                    buckets,
                    seen: narrow(self.connect_times.seen, || "connect_times.seen".into())?,
                },
            })
        }
    }
}

/// `now + d`, or `now` if that cannot be represented (validated snapshots never get there).
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// [`Dialer::snapshot`]: what `dialer` knows at `now` (its clock, never earlier).
pub(crate) fn take<P: Clone + Eq + Hash + Debug>(dialer: &Dialer<P>, now: Instant) -> Snapshot<P> {
    let left = |until: Instant| (now < until).then(|| until.duration_since(now));
    let addresses = dialer
        .confidence
        .entries()
        .map(|(addr, e)| LearnedAddress {
            addr: addr.clone(),
            confidence: e.value,
            connect_time: (e.connect_us > 0)
                .then(|| Duration::from_micros(u64::from(e.connect_us))),
            failures: e.fails,
            cut: e.cut,
            pruned_for: e
                .pruned_for
                .iter()
                .filter_map(|(peer, until)| {
                    left(*until).map(|expires_in| PruneMark {
                        peer: peer.clone(),
                        expires_in,
                    })
                })
                .collect(),
        })
        .collect();
    let mut deny: Vec<DenyEntry> = dialer
        .deny
        .entries()
        .filter_map(|(addr, until)| {
            left(until).map(|expires_in| DenyEntry {
                addr: addr.clone(),
                expires_in,
            })
        })
        .collect();
    // The deny list is a hash map: sort, so that one state always saves as one file.
    deny.sort_unstable_by(|a, b| {
        (a.expires_in, a.addr.as_ref()).cmp(&(b.expires_in, b.addr.as_ref()))
    });
    let (buckets, seen) = dialer.connect_times.saved();
    Snapshot {
        addresses,
        deny,
        connect_times: ConnectTimeHistogram {
            buckets: buckets
                .into_iter()
                .map(|(us, count)| (Duration::from_micros(us), count))
                .collect(),
            seen,
        },
    }
}

/// [`Dialer::restore`] once `snapshot` is validated: cannot fail.
pub(crate) fn apply<P: Clone + Eq + Hash + Debug>(
    dialer: &mut Dialer<P>,
    now: Instant,
    snapshot: Snapshot<P>,
) -> RestoreReport {
    let mut report = RestoreReport::default();
    // Restored in order, each becomes the most recent: what does not fit is the least
    // recent, so skip it rather than insert and evict it.
    let skip = snapshot
        .addresses
        .len()
        .saturating_sub(dialer.confidence.capacity());
    for (i, a) in snapshot.addresses.into_iter().enumerate() {
        let live = a
            .pruned_for
            .iter()
            .filter(|m| !m.expires_in.is_zero())
            .count();
        if i < skip {
            report.addresses_dropped += 1;
            report.prune_marks_dropped += live;
            continue;
        }
        let excess = live.saturating_sub(MAX_PRUNED_PEERS);
        let pruned_for: SmallVec<[(P, Instant); 1]> = a
            .pruned_for
            .into_iter()
            .filter(|m| !m.expires_in.is_zero())
            .skip(excess)
            .map(|m| (m.peer, after(now, m.expires_in)))
            .collect();
        let marks = pruned_for.len();
        let entry = Entry {
            value: a.confidence,
            connect_us: a.connect_time.map_or(0, |t| {
                u32::try_from(t.as_micros()).unwrap_or(u32::MAX).max(1)
            }),
            fails: a.failures,
            cut: a.cut,
            pruned_for,
            family: family_bits(&a.addr),
        };
        // `skip` leaves only what fits, so this always stores.
        if dialer.confidence.restore(&a.addr, entry) {
            report.addresses_restored += 1;
            report.prune_marks_restored += marks;
            report.prune_marks_dropped += excess;
        } else {
            report.addresses_dropped += 1;
            report.prune_marks_dropped += live;
        }
    }
    let deny: Vec<DenyEntry> = snapshot
        .deny
        .into_iter()
        .filter(|d| !d.expires_in.is_zero())
        .collect();
    for d in &deny {
        dialer.deny.insert(&d.addr, now, d.expires_in);
    }
    // A full list evicts the entry closest to expiry (R-D3), restored or not: count what
    // is left of the snapshot's.
    report.deny_restored = deny
        .iter()
        .filter(|d| dialer.deny.contains(&d.addr, now))
        .count();
    report.deny_dropped = deny.len() - report.deny_restored;
    if dialer.config.adaptive_timeout.is_some() {
        report.connect_time_samples = snapshot
            .connect_times
            .buckets
            .iter()
            .map(|&(_, c)| u64::from(c))
            .sum();
        dialer.connect_times.restore(
            snapshot
                .connect_times
                .buckets
                .into_iter()
                .map(|(edge, count)| (saturating_us(edge), count)),
            snapshot.connect_times.seen,
        );
    }
    report
}
