//! One second of a run's series: what the collector closes every second
//! and the report prints and stores.

use std::time::Duration;

use hdrhistogram::Histogram;

/// One second of the run, as the collector closed it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Second {
    /// Since the load started, at the end of this second.
    pub t_s: f64,
    /// Inside the measured window (after the warmup).
    pub measured: bool,
    pub confirmed: u64,
    pub confirmed_per_s: f64,
    pub refused: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Second {
    pub(super) fn new(
        since_start: Duration,
        length: Duration,
        measured: bool,
        (confirmed, refused): (u64, u64),
        latency_us: &Histogram<u64>,
    ) -> Self {
        let quantile = |q| if latency_us.is_empty() { 0 } else { latency_us.value_at_quantile(q) };
        #[allow(clippy::cast_precision_loss)]
        let confirmed_per_s = confirmed as f64 / length.as_secs_f64().max(f64::EPSILON);
        Self {
            t_s: since_start.as_secs_f64(),
            measured,
            confirmed,
            confirmed_per_s,
            refused,
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
            max_us: latency_us.max(),
        }
    }

    #[must_use]
    pub fn progress_line(&self) -> String {
        format!(
            "{:>6.1} s  {}  {:>8.0} confirmed/s  p99 {:>8.2} ms  refused {}",
            self.t_s,
            if self.measured { "measured" } else { "warmup  " },
            self.confirmed_per_s,
            ms(self.p99_us),
            self.refused
        )
    }
}

#[allow(clippy::cast_precision_loss)]
pub(super) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}
