//! Confirmation latencies for the console's percentiles: a fixed set of
//! log-spaced buckets of atomic counts (one relaxed add per confirmed
//! payment, no lock), of which a reader takes snapshots and subtracts an
//! older one to get the latencies of a window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets kept: each `LATENCY_BUCKET_FACTOR` wider than the one before,
/// from `LATENCY_FIRST_BUCKET_MICROS`; the last takes everything above
/// (about 63 s).
pub const LATENCY_BUCKETS: usize = 64;
const LATENCY_FIRST_BUCKET_MICROS: f64 = 50.0;
const LATENCY_BUCKET_FACTOR: f64 = 1.25;

/// How many payments confirmed within each bucket's bound, since start.
pub struct LatencyBuckets {
    counts: [AtomicU64; LATENCY_BUCKETS],
}

/// The counts at one moment.
pub type LatencySnapshot = [u64; LATENCY_BUCKETS];

impl Default for LatencyBuckets {
    fn default() -> Self {
        Self { counts: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

/// The upper bound of bucket `index`, in milliseconds.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
fn upper_ms(index: usize) -> f64 {
    LATENCY_FIRST_BUCKET_MICROS * LATENCY_BUCKET_FACTOR.powi(index as i32) / 1000.0
}

impl LatencyBuckets {
    pub fn observe(&self, elapsed: Duration) {
        #[allow(clippy::cast_precision_loss)]
        let micros = elapsed.as_micros() as f64;
        let index = if micros <= LATENCY_FIRST_BUCKET_MICROS {
            0
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let index = ((micros / LATENCY_FIRST_BUCKET_MICROS).ln() / LATENCY_BUCKET_FACTOR.ln()).ceil() as usize;
            index.min(LATENCY_BUCKETS - 1)
        };
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }

    #[must_use]
    pub fn snapshot(&self) -> LatencySnapshot {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// Percentiles of the latencies counted between `older` and `newer`
/// (each the upper bound of the bucket it falls in, so at most 25% high),
/// and how many there were.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[must_use]
pub fn percentiles(older: &LatencySnapshot, newer: &LatencySnapshot) -> Percentiles {
    let window: Vec<u64> = newer.iter().zip(older).map(|(n, o)| n.saturating_sub(*o)).collect();
    let count: u64 = window.iter().sum();
    if count == 0 {
        return Percentiles::default();
    }
    let at = |fraction: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((count as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, n) in window.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper_ms(index);
            }
        }
        upper_ms(LATENCY_BUCKETS - 1)
    };
    let max = window.iter().rposition(|n| *n > 0).map_or(0.0, upper_ms);
    Percentiles { count, p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_bounds_of_the_buckets_the_ranks_fall_in() {
        let buckets = LatencyBuckets::default();
        let before = buckets.snapshot();
        // 98 payments at 1 ms, one at 10 ms, one at 100 ms.
        for _ in 0..98 {
            buckets.observe(Duration::from_millis(1));
        }
        buckets.observe(Duration::from_millis(10));
        buckets.observe(Duration::from_millis(100));
        let p = percentiles(&before, &buckets.snapshot());
        assert_eq!(p.count, 100);
        for (value, exact) in [(p.p50_ms, 1.0), (p.p90_ms, 1.0), (p.p99_ms, 10.0), (p.max_ms, 100.0)] {
            assert!(value >= exact && value <= exact * LATENCY_BUCKET_FACTOR, "{value} for {exact}");
        }
    }

    #[test]
    fn only_the_window_counts_and_extremes_land_in_the_end_buckets() {
        let buckets = LatencyBuckets::default();
        buckets.observe(Duration::from_secs(3600));
        let before = buckets.snapshot();
        buckets.observe(Duration::from_micros(1));
        let p = percentiles(&before, &buckets.snapshot());
        assert_eq!(p.count, 1);
        assert!((p.max_ms - upper_ms(0)).abs() < f64::EPSILON);
        assert_eq!(buckets.snapshot()[LATENCY_BUCKETS - 1], 1);
        assert_eq!(percentiles(&before, &before), Percentiles::default());
    }
}
