//! What a run reports: the printed summary and the JSON result file (the
//! configuration, the figures, the ceiling, the per-second series and the
//! latency distribution).

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

use super::ceiling::VerifyRate;
use super::drive::{Driven, Tally};
use super::second::{Second, ms};
use super::{LoadError, Mode, Workload};

/// Points of the latency percentile curve: up to 99.999th, in steps of a
/// twentieth of a decade of 1/(1 - p).
const DISTRIBUTION_DECADES: f64 = 5.0;
const DISTRIBUTION_STEPS_PER_DECADE: u32 = 20;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub workload: Workload,
    pub mode: Mode,
    /// "open" (Poisson arrivals at `rate_per_s`) or "closed" (at the maximum).
    pub loop_kind: String,
    pub rate_per_s: f64,
    pub terminals: usize,
    pub window: usize,
    pub wallets: usize,
    pub lanes: usize,
    pub chain: usize,
    pub warmup_s: u64,
    pub duration_s: u64,
    pub preload: u64,
    /// Unspent outputs in the ledger when the load started (preload and
    /// funding included).
    pub unspent_at_start: u64,
    pub signatures_per_payment: u32,
    pub seed: u64,
    pub server: String,
    pub cores: usize,
    pub run_tag: String,
    pub started_unix_ms: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencySummary {
    fn of(histogram: &Histogram<u64>) -> Self {
        let quantile = |q| if histogram.is_empty() { 0 } else { histogram.value_at_quantile(q) };
        Self {
            count: histogram.len(),
            mean_us: histogram.mean(),
            p50_us: quantile(0.5),
            p90_us: quantile(0.9),
            p99_us: quantile(0.99),
            p999_us: quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// One point of the latency percentile curve.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LatencyPoint {
    /// 0-100.
    pub percentile: f64,
    pub latency_us: u64,
}

fn distribution(histogram: &Histogram<u64>) -> Vec<LatencyPoint> {
    if histogram.is_empty() {
        return Vec::new();
    }
    #[allow(clippy::cast_precision_loss)]
    let count = histogram.len() as f64;
    let steps = (DISTRIBUTION_DECADES * f64::from(DISTRIBUTION_STEPS_PER_DECADE)) as u32;
    let mut points = Vec::with_capacity(steps as usize + 1);
    for step in 0..=steps {
        let tail = 10f64.powf(-f64::from(step) / f64::from(DISTRIBUTION_STEPS_PER_DECADE));
        // Beyond one sample in the tail the histogram only knows the maximum.
        if tail * count < 1.0 {
            break;
        }
        let quantile = 1.0 - tail;
        points.push(LatencyPoint { percentile: quantile * 100.0, latency_us: histogram.value_at_quantile(quantile) });
    }
    points.push(LatencyPoint { percentile: 100.0, latency_us: histogram.max() });
    points
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Figures {
    /// Confirmed inside the measured window.
    pub confirmed: u64,
    pub measured_s: f64,
    pub confirmed_per_s: f64,
    /// Refused inside the measured window.
    pub refused: u64,
    /// Refusals over the whole run (warmup and drain included), by reason.
    pub refused_by_reason: BTreeMap<String, u64>,
    pub confirmed_whole_run: u64,
    pub duplicates: u64,
    /// Scheduled submission to durable receipt, measured window.
    pub latency: LatencySummary,
    /// The confirmed attempt alone, sent to durable receipt: what an
    /// admitted payment waits in the server.
    pub admitted_latency: LatencySummary,
    /// Sent to a `REASON_OVERLOADED` refusal.
    pub overload_refusal_latency: LatencySummary,
    /// Cores busy over the measured window (user + system time / wall
    /// time), from /proc; `None` for a server whose process is not known.
    pub server_cpu_cores: Option<f64>,
    /// The server's peak resident memory (`VmHWM`), when its process is known.
    pub server_peak_rss_bytes: Option<u64>,
    /// This process (with a server started in-process, that server too).
    pub generator_cpu_cores: Option<f64>,
    pub tally: Tally,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Ceiling {
    pub before: VerifyRate,
    pub after: VerifyRate,
    pub signatures_per_payment: u32,
    /// Verify rate / signatures per payment.
    pub payments_per_s_before: f64,
    pub payments_per_s_after: f64,
    /// confirmed/s / payments_per_s.
    pub ratio_before: f64,
    pub ratio_after: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LoadReport {
    pub config: Config,
    pub figures: Figures,
    pub ceiling: Ceiling,
    pub series: Vec<Second>,
    pub latency_distribution: Vec<LatencyPoint>,
    /// Forged payments the flooding terminal had refused (`--flood-window`),
    /// all `BAD_SIGNATURE`; 0 without a flood.
    pub flood_refused: u64,
}

impl LoadReport {
    pub(super) fn new(config: Config, driven: Driven, before: VerifyRate, after: VerifyRate) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let confirmed_per_s = driven.confirmed as f64 / driven.measured_s.max(f64::EPSILON);
        let signatures = config.signatures_per_payment;
        let payments = |rate: &VerifyRate| rate.per_s / f64::from(signatures);
        let ceiling = Ceiling {
            before,
            after,
            signatures_per_payment: signatures,
            payments_per_s_before: payments(&before),
            payments_per_s_after: payments(&after),
            ratio_before: confirmed_per_s / payments(&before),
            ratio_after: confirmed_per_s / payments(&after),
        };
        let figures = Figures {
            confirmed: driven.confirmed,
            measured_s: driven.measured_s,
            confirmed_per_s,
            refused: driven.refused,
            refused_by_reason: driven.refused_by_reason,
            confirmed_whole_run: driven.confirmed_total,
            duplicates: driven.duplicates,
            latency: LatencySummary::of(&driven.latency_us),
            admitted_latency: LatencySummary::of(&driven.admitted_us),
            overload_refusal_latency: LatencySummary::of(&driven.overload_refusal_us),
            server_cpu_cores: driven.server_cpu_cores,
            server_peak_rss_bytes: driven.server_peak_rss_bytes,
            generator_cpu_cores: driven.generator_cpu_cores,
            tally: driven.tally,
        };
        Self {
            config,
            figures,
            ceiling,
            series: driven.series,
            latency_distribution: distribution(&driven.latency_us),
            flood_refused: 0,
        }
    }

    /// The summary, as printed at the end of a run.
    #[must_use]
    pub fn summary(&self) -> String {
        let (c, f, k) = (&self.config, &self.figures, &self.ceiling);
        let l = &f.latency;
        let loop_kind = if c.loop_kind == "open" {
            format!("open loop at {} payments/s", c.rate_per_s)
        } else {
            "closed loop".into()
        };
        let cpu = |cores: Option<f64>| cores.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2} cores"));
        let mut lines = vec![
            format!("== settled load: {} {} {loop_kind} ==", c.workload.name(), c.mode.name()),
            format!(
                "{} terminals x {} in flight, {} wallets, chains of up to {}, {} unspent outputs at start",
                c.terminals, c.window, c.wallets, c.chain, c.unspent_at_start
            ),
            format!(
                "confirmed: {} in {:.2} s = {:.0}/s; refused {} (whole run: {} confirmed)",
                f.confirmed, f.measured_s, f.confirmed_per_s, f.refused, f.confirmed_whole_run
            ),
            format!(
                "latency, scheduled submission -> durable receipt: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, \
                 p99.9 {:.2} ms, max {:.2} ms",
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us)
            ),
            format!(
                "admitted (the confirmed attempt, sent -> receipt): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, \
                 max {:.2} ms",
                ms(f.admitted_latency.p50_us),
                ms(f.admitted_latency.p99_us),
                ms(f.admitted_latency.p999_us),
                ms(f.admitted_latency.max_us)
            ),
            format!(
                "CPU over the measured window: server {}, generator {} busy (of {} cores); server peak RSS {}",
                cpu(f.server_cpu_cores),
                cpu(f.generator_cpu_cores),
                c.cores,
                f.server_peak_rss_bytes.map_or_else(|| "n/a".to_owned(), |b| format!("{} MiB", b >> 20))
            ),
            format!(
                "ceiling: {:.0} k256 verifies/s before, {:.0} after ({} threads) = {:.0} / {:.0} payments/s at {} \
                 signature(s) each",
                k.before.per_s,
                k.after.per_s,
                k.before.threads,
                k.payments_per_s_before,
                k.payments_per_s_after,
                k.signatures_per_payment
            ),
            format!(
                "ratio = confirmed/s ÷ (verify rate ÷ signatures per payment) = {:.3} (ceiling before), {:.3} (after)",
                k.ratio_before, k.ratio_after
            ),
        ];
        if f.overload_refusal_latency.count > 0 {
            let r = &f.overload_refusal_latency;
            lines.push(format!(
                "overload refusals (sent -> RESOURCE_EXHAUSTED), measured window: {} in all, p50 {:.2} ms, \
                 p99 {:.2} ms, max {:.2} ms",
                r.count,
                ms(r.p50_us),
                ms(r.p99_us),
                ms(r.max_us)
            ));
        }
        if f.refused_by_reason.is_empty() {
            lines.push("refusals by reason: none".into());
        } else {
            lines.push("refusals by reason (whole run):".into());
            for (reason, count) in &f.refused_by_reason {
                lines.push(format!("  {reason}: {count}"));
            }
        }
        let t = &f.tally;
        if t.chains_exhausted > 0 {
            lines.push(format!("note: {} chains ran out of payments; raise --chain or --wallets", t.chains_exhausted));
        }
        if t.failovers > 0 {
            lines.push(format!(
                "failovers: {} (terminals moved to a new leader and resubmitted what they had in flight)",
                t.failovers
            ));
        }
        if t.unresolved_at_end > 0 {
            lines.push(format!(
                "note: {} payments in flight when the run ended without a leader (neither confirmed nor refused)",
                t.unresolved_at_end
            ));
        }
        if t.lanes_failed > 0 {
            lines.push(format!("note: {} wallets stopped after a refusal", t.lanes_failed));
        }
        if t.arrivals_dropped + t.arrivals_unsent > 0 {
            lines.push(format!(
                "note: {} arrivals dropped (backlog full) and {} unsent at the end: the rate was above what the \
                 terminals could submit",
                t.arrivals_dropped, t.arrivals_unsent
            ));
        }
        if t.terminals_not_drained > 0 {
            lines.push(format!("note: {} terminals still had results in flight at the end", t.terminals_not_drained));
        }
        lines.join("\n")
    }

    pub fn print_summary(&self) {
        println!("\n{}", self.summary());
    }

    /// # Errors
    /// When the file cannot be written.
    pub fn write_json(&self, path: &Path) -> Result<(), LoadError> {
        let json = serde_json::to_string_pretty(self).map_err(|e| LoadError::Output(format!("JSON: {e}")))?;
        std::fs::write(path, json + "\n").map_err(|e| LoadError::Output(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distribution_stops_where_the_samples_do_and_ends_at_the_maximum() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in 1..=1_000u64 {
            histogram.record(v * 10).unwrap();
        }
        let points = distribution(&histogram);
        let last = points.last().unwrap();
        assert_eq!((last.percentile, last.latency_us), (100.0, histogram.max()));
        // 1,000 samples resolve up to the 99.9th percentile, not beyond.
        assert!(points.iter().rev().nth(1).unwrap().percentile <= 99.9 + 1e-9);
        assert!(points.windows(2).all(|w| w[0].latency_us <= w[1].latency_us));
    }
}
