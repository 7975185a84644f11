//! Connect times of recent successful dials, for adaptive address timeouts (R-R6b).

use std::time::Duration;

use crate::config::AdaptiveTimeout;

/// Buckets per doubling of the connect time: bucket widths grow by 2^(1/4) ≈ 19 %, so a
/// percentile read off a bucket's upper edge is at most that much above the true one.
const STEPS_PER_OCTAVE: u32 = 4;
/// Buckets cover 4 µs … 2^37 µs (38 h): far beyond any address timeout.
const BUCKETS: usize = 38 * STEPS_PER_OCTAVE as usize;
/// Successes between two recomputations of the percentile: reading it costs a scan of
/// the buckets, recording a success only an increment.
const RECOMPUTE_EVERY: u32 = 16;

/// A log-bucketed histogram of connect times in bounded memory (a few hundred bytes,
/// whatever the traffic), whose counts halve each time they add up to the window, so it
/// follows the network as it changes.
#[derive(Debug, Clone)]
pub(crate) struct ConnectTimes {
    counts: [u32; BUCKETS],
    total: u32,
    /// Samples seen since the last reset (not decayed), against `min_samples`.
    seen: u32,
    since_recompute: u32,
    percentile: Option<Duration>,
    /// `max(p × margin, p + syn_retry)` for the current percentile `p`: the timeout of an
    /// address with nothing of its own to add, computed once per recomputation.
    global: Duration,
    config: Option<AdaptiveTimeout>,
}

/// The bucket of a connect time of `us` microseconds.
fn bucket(us: u64) -> usize {
    let us = us.max(4);
    let octave = 63 - us.leading_zeros(); // floor(log2 us), >= 2
    let frac = (us >> (octave - 2)) & 3; // the two bits after the leading one
    ((octave * STEPS_PER_OCTAVE) as usize + frac as usize - 2 * STEPS_PER_OCTAVE as usize)
        .min(BUCKETS - 1)
}

/// The upper edge of bucket `i`, in microseconds.
fn upper_edge_us(i: usize) -> u64 {
    let i = i + 2 * STEPS_PER_OCTAVE as usize;
    let octave = (i / STEPS_PER_OCTAVE as usize) as u32;
    let frac = (i % STEPS_PER_OCTAVE as usize) as u64;
    (4 + frac + 1) << (octave - 2)
}

impl ConnectTimes {
    pub(crate) fn new(config: Option<AdaptiveTimeout>) -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
            seen: 0,
            since_recompute: 0,
            percentile: None,
            global: Duration::MAX,
            config,
        }
    }

    /// Forgets every sample (R-D4b: they described the old network).
    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.config);
    }

    /// Records the connect time of a successful dial.
    #[inline]
    pub(crate) fn record(&mut self, took: Duration) {
        let Some(config) = self.config else {
            return;
        };
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)] += 1;
        self.total += 1;
        self.seen = self.seen.saturating_add(1);
        if self.total >= config.window.max(2) {
            self.total = 0;
            for c in &mut self.counts {
                *c /= 2;
                self.total += *c;
            }
        }
        self.since_recompute += 1;
        if self.seen >= config.min_samples
            && (self.percentile.is_none() || self.since_recompute >= RECOMPUTE_EVERY)
        {
            self.recompute(config.percentile);
        }
    }

    fn recompute(&mut self, percentile: u8) {
        self.since_recompute = 0;
        // The smallest bucket edge with at least `percentile` % of the samples at or below.
        let need = (u64::from(self.total) * u64::from(percentile)).div_ceil(100);
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            below += u64::from(c);
            if below >= need.max(1) {
                let p = Duration::from_micros(upper_edge_us(i));
                self.percentile = Some(p);
                if let Some(c) = self.config {
                    self.global = p
                        .saturating_add(c.syn_retry)
                        .max(p.saturating_mul(c.margin));
                }
                return;
            }
        }
    }

    /// The histogram as a snapshot carries it (R-C7): each non-empty bucket as its upper
    /// edge in microseconds and its count, shortest first, and the samples seen since the
    /// last reset. Upper edges, not bucket numbers, so a later bucket layout can read it.
    #[cfg(feature = "serde")]
    pub(crate) fn saved(&self) -> (Vec<(u64, u32)>, u32) {
        let buckets = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (upper_edge_us(i), c))
            .collect();
        (buckets, self.seen)
    }

    /// Adds saved samples (R-C7): each `(upper edge in µs, count)` goes to the bucket
    /// below that edge, the window then decays the counts as [`record`](Self::record)
    /// does, and the percentile is recomputed under this dialer's own configuration. Does
    /// nothing when adaptive timeouts are off.
    #[cfg(feature = "serde")]
    pub(crate) fn restore(&mut self, buckets: impl IntoIterator<Item = (u64, u32)>, seen: u32) {
        let Some(config) = self.config else {
            return;
        };
        for (edge_us, count) in buckets {
            let b = bucket(edge_us.saturating_sub(1));
            self.counts[b] = self.counts[b].saturating_add(count);
        }
        let sum = |counts: &[u32; BUCKETS]| counts.iter().map(|&c| u64::from(c)).sum::<u64>();
        let mut total = sum(&self.counts);
        while total >= u64::from(config.window.max(2)) {
            for c in &mut self.counts {
                *c /= 2;
            }
            total = sum(&self.counts);
        }
        // Below the window, a u32.
        self.total = u32::try_from(total).unwrap_or(u32::MAX);
        self.seen = self.seen.saturating_add(seen);
        if self.seen >= config.min_samples && self.total > 0 {
            self.recompute(config.percentile);
        }
    }

    /// The configured percentile of recent connect times, once `min_samples` were seen.
    pub(crate) fn percentile(&self) -> Option<Duration> {
        self.percentile
    }

    /// The timeout of a dial to an address whose own smoothed connect time is `own`
    /// (`None`: never measured), and whether it is shorter than `full` (an adaptive cut).
    #[inline]
    pub(crate) fn timeout(&self, own: Option<Duration>, full: Duration) -> (Duration, bool) {
        let (Some(config), Some(_)) = (self.config, self.percentile) else {
            return (full, false);
        };
        let t = match own {
            Some(own) => self.global.max(own.saturating_mul(config.margin)),
            None => self.global,
        };
        if t < full {
            (t, true)
        } else {
            (full, false)
        }
    }

    #[cfg(feature = "invariants")]
    pub(crate) fn check(&self) -> Result<(), String> {
        let sum: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        if sum != u64::from(self.total) {
            return Err(format!(
                "connect-time histogram counts {sum}, total {}",
                self.total
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_edges_bound_them() {
        let mut last = 0;
        for us in [4u64, 5, 7, 8, 100, 1_000, 40_000, 999_999, 10_000_000] {
            let b = bucket(us);
            assert!(b >= last, "bucket of {us}");
            last = b;
            assert!(upper_edge_us(b) > us, "edge of {us}: {}", upper_edge_us(b));
            assert!(
                upper_edge_us(b) as f64 <= us as f64 * 1.26 + 1.0,
                "edge of {us}"
            );
        }
    }

    #[test]
    fn the_percentile_follows_the_samples() {
        let config = AdaptiveTimeout {
            min_samples: 10,
            ..AdaptiveTimeout::default()
        };
        let mut t = ConnectTimes::new(Some(config));
        for _ in 0..9 {
            t.record(Duration::from_millis(40));
        }
        assert_eq!(t.percentile(), None, "fewer than min_samples");
        t.record(Duration::from_millis(40));
        let p = t.percentile().expect("enough samples");
        assert!(
            p >= Duration::from_millis(40) && p <= Duration::from_millis(50),
            "{p:?}"
        );
        // 1,000 slow samples push the 99th percentile up to them.
        for _ in 0..1_000 {
            t.record(Duration::from_millis(300));
        }
        let p = t.percentile().expect("enough samples");
        assert!(
            p >= Duration::from_millis(300) && p <= Duration::from_millis(380),
            "{p:?}"
        );
        let full = Duration::from_secs(10);
        let (timeout, cut) = t.timeout(None, full);
        assert!(cut);
        assert_eq!(timeout, p + Duration::from_secs(1), "the floor wins");
        let (timeout, cut) = t.timeout(Some(Duration::from_secs(3)), full);
        assert!(cut);
        assert_eq!(timeout, Duration::from_secs(6), "own × margin wins");
        assert_eq!(t.timeout(Some(Duration::from_secs(6)), full), (full, false));
    }
}
