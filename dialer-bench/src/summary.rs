//! Order statistics over samples.

#![forbid(unsafe_code)]

/// The median of `samples` (sorted in place); `NaN` when empty.
pub(crate) fn median(samples: &mut [f64]) -> f64 {
    percentile(samples, 50.0)
}

/// Nearest-rank percentile `p` (0..=100) of `samples` (sorted in place); `NaN` when empty.
pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// The arithmetic mean; `NaN` when empty.
pub(crate) fn mean(samples: &[f64]) -> f64 {
    samples.iter().sum::<f64>() / samples.len() as f64
}
