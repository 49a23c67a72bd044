//! What an operator watches: counters, gauges and histograms kept with
//! atomics on the payment path, and a Prometheus text endpoint on its own
//! port (`metrics_listen`), separate from the gRPC API so that a scraper
//! needs no credential and cannot reach payments.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::core::refusal::Reason;

/// Bytes of a scrape request read before answering.
pub const METRICS_REQUEST_BYTES_MAX: usize = 8 * 1024;
/// Scrapes served at once; more wait for a slot.
pub const METRICS_CONNECTIONS_MAX: usize = 8;
/// How long a scraper may take to send its request.
pub const METRICS_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A histogram with fixed upper bounds, Prometheus style (cumulative on
/// output).
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths of the unit, to stay in integers.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|bound| value <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        // Saturating float-to-int cast: a negative or absurd value counts 0.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

const LATENCY_SECONDS: &[f64] = &[0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
const BLOCK_TXS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 8192.0];

/// The engine's and the API's measurements. One per server.
pub struct Metrics {
    confirmed: AtomicU64,
    duplicates: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// Submission to durable receipt (or refusal), seconds.
    pub confirmation_seconds: Histogram,
    pub block_txs: Histogram,
    /// Each fsync of the data file, seconds.
    pub fsync_seconds: std::sync::Arc<Histogram>,
    /// One block's write transaction, fsync included, seconds.
    pub commit_seconds: Histogram,
    pub blocks: AtomicU64,
    /// Cluster mode: committed blocks fetched from a peer's ledger.
    pub blocks_fetched: AtomicU64,
    pub verify_queue: AtomicI64,
    /// Signature batches the verify stage checked.
    pub verify_batches: AtomicU64,
    /// Signatures checked singly because their source sent a bad one lately.
    pub signatures_singly: AtomicU64,
    pub sequencer_queue: AtomicI64,
    pub payment_streams: AtomicI64,
    pub bank_streams: AtomicI64,
    /// Block time to the checkpoint leaving for the bank, seconds.
    pub bank_stream_lag_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            confirmed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            refused: Mutex::new(BTreeMap::new()),
            confirmation_seconds: Histogram::new(LATENCY_SECONDS),
            block_txs: Histogram::new(BLOCK_TXS),
            commit_seconds: Histogram::new(LATENCY_SECONDS),
            blocks: AtomicU64::new(0),
            blocks_fetched: AtomicU64::new(0),
            verify_queue: AtomicI64::new(0),
            verify_batches: AtomicU64::new(0),
            signatures_singly: AtomicU64::new(0),
            sequencer_queue: AtomicI64::new(0),
            payment_streams: AtomicI64::new(0),
            bank_streams: AtomicI64::new(0),
            bank_stream_lag_seconds: Histogram::new(LATENCY_SECONDS),
            fsync_seconds: std::sync::Arc::new(Histogram::new(LATENCY_SECONDS)),
        }
    }
}

/// Keeps a gauge up while it lives (an open stream, a queued job).
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl<'a> GaugeGuard<'a> {
    pub fn new(gauge: &'a AtomicI64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the ledger looks like at a scrape.
pub struct LedgerGauges {
    pub tip_height: u64,
    pub unspent_outputs: u64,
    pub supply_minor: u64,
    pub serving: bool,
    /// Admission control: payments the engine holds, and the most it may.
    pub admitted_held: u64,
    pub admitted_limit: u64,
    /// Cluster mode only.
    pub cluster: Option<ClusterGauges>,
}

/// A replica's role and lag (cluster mode).
pub struct ClusterGauges {
    pub leading: bool,
    pub term: u64,
    /// Highest height the cluster committed that this node has applied to
    /// its Raft state machine; the lag is how far the ledger's tip is
    /// behind it.
    pub committed_height: u64,
}

impl Metrics {
    pub fn outcome(&self, outcome: Result<bool, Reason>, elapsed: Duration) {
        match outcome {
            Ok(false) => self.confirmed.fetch_add(1, Ordering::Relaxed),
            Ok(true) => self.duplicates.fetch_add(1, Ordering::Relaxed),
            Err(reason) => {
                *self.refused.lock().expect("not poisoned").entry(reason.name()).or_default() += 1;
                0
            }
        };
        self.confirmation_seconds.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition (format 0.0.4).
    #[must_use]
    pub fn render(&self, ledger: &LedgerGauges) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(
            out,
            "# HELP settled_payments_total Transactions answered, by outcome.\n# TYPE settled_payments_total counter"
        );
        let _ =
            writeln!(out, "settled_payments_total{{outcome=\"confirmed\"}} {}", self.confirmed.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "settled_payments_total{{outcome=\"duplicate\"}} {}",
            self.duplicates.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP settled_refusals_total Transactions refused, by reason.\n# TYPE settled_refusals_total counter"
        );
        for (reason, count) in self.refused.lock().expect("not poisoned").iter() {
            let _ = writeln!(out, "settled_refusals_total{{reason=\"{reason}\"}} {count}");
        }
        self.confirmation_seconds.render(
            &mut out,
            "settled_confirmation_seconds",
            "Submission to durable receipt or refusal.",
        );
        self.block_txs.render(&mut out, "settled_block_transactions", "Transactions per committed block.");
        self.commit_seconds.render(
            &mut out,
            "settled_block_commit_seconds",
            "One block's write transaction, fsync included.",
        );
        self.fsync_seconds.render(&mut out, "settled_fsync_seconds", "Each fsync of the data file.");
        self.bank_stream_lag_seconds.render(
            &mut out,
            "settled_bank_stream_lag_seconds",
            "Block time to its checkpoint leaving for a following bank.",
        );
        let gauges: [(&str, &str, i128); 13] = [
            (
                "settled_blocks_committed_total",
                "Blocks committed since start.",
                i128::from(self.blocks.load(Ordering::Relaxed)),
            ),
            (
                "settled_verify_queue",
                "Transactions waiting for the verify stage.",
                i128::from(self.verify_queue.load(Ordering::Relaxed)),
            ),
            (
                "settled_verify_batches_total",
                "Batches of transactions whose signatures the verify stage checked together (one at low load).",
                i128::from(self.verify_batches.load(Ordering::Relaxed)),
            ),
            (
                "settled_signatures_verified_singly_total",
                "Signatures verified one by one, apart from the batches, because their source sent a bad signature lately.",
                i128::from(self.signatures_singly.load(Ordering::Relaxed)),
            ),
            (
                "settled_sequencer_queue",
                "Verified transactions waiting for the sequencer.",
                i128::from(self.sequencer_queue.load(Ordering::Relaxed)),
            ),
            (
                "settled_payment_streams",
                "Open SubmitPayments streams.",
                i128::from(self.payment_streams.load(Ordering::Relaxed)),
            ),
            ("settled_bank_streams", "Open Subscribe streams.", i128::from(self.bank_streams.load(Ordering::Relaxed))),
            ("settled_tip_height", "Height of the last durable block.", i128::from(ledger.tip_height)),
            ("settled_unspent_outputs", "Unspent outputs at the tip.", i128::from(ledger.unspent_outputs)),
            ("settled_supply_minor", "Minted minus burned, minor units.", i128::from(ledger.supply_minor)),
            (
                "settled_serving",
                "1 while the engine confirms payments, 0 after a fail-stop.",
                i128::from(ledger.serving),
            ),
            (
                "settled_admitted_payments",
                "Payments the engine holds (submitted, not yet answered).",
                i128::from(ledger.admitted_held),
            ),
            (
                "settled_admitted_limit",
                "The most payments the engine holds before refusing as overloaded (admission control).",
                i128::from(ledger.admitted_limit),
            ),
        ];
        let mut gauges = gauges.to_vec();
        if let Some(cluster) = &ledger.cluster {
            gauges.extend([
                (
                    "settled_cluster_leader",
                    "1 while this replica leads the cluster and seals blocks, 0 while it follows.",
                    i128::from(cluster.leading),
                ),
                ("settled_cluster_term", "The Raft term this replica is in.", i128::from(cluster.term)),
                (
                    "settled_cluster_committed_height",
                    "Highest block height the cluster committed, as this replica knows it.",
                    i128::from(cluster.committed_height),
                ),
                (
                    "settled_cluster_blocks_fetched_total",
                    "Committed blocks fetched from a peer's ledger (this replica was away past the log's compaction).",
                    i128::from(self.blocks_fetched.load(Ordering::Relaxed)),
                ),
                (
                    "settled_cluster_lag_blocks",
                    "Committed blocks this replica's ledger has not yet written.",
                    i128::from(cluster.committed_height.saturating_sub(ledger.tip_height)),
                ),
            ]);
        }
        for (name, help, value) in gauges {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// Serves on `listener`, until the task is dropped: `GET /metrics` (the
/// Prometheus text), `GET /healthz` (200 while the process answers: a
/// liveness probe) and `GET /readyz` (200 while `ready`, the engine
/// confirming payments; 503 after a fail-stop: a readiness probe takes it
/// out of a load balancer).
pub async fn serve(
    listener: TcpListener,
    scrape: impl Fn() -> String + Send + Sync + 'static,
    ready: impl Fn() -> bool + Send + Sync + 'static,
) {
    let scrape = std::sync::Arc::new(scrape);
    let ready = std::sync::Arc::new(ready);
    let slots = std::sync::Arc::new(Semaphore::new(METRICS_CONNECTIONS_MAX));
    loop {
        let Ok(slot) = std::sync::Arc::clone(&slots).acquire_owned().await else { return };
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let scrape = std::sync::Arc::clone(&scrape);
        let ready = std::sync::Arc::clone(&ready);
        tokio::spawn(async move {
            let _slot = slot;
            let mut request = Vec::with_capacity(1024);
            let mut buffer = [0u8; 1024];
            let read = tokio::time::timeout(METRICS_READ_TIMEOUT, async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < METRICS_REQUEST_BYTES_MAX {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                true
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let asked = |path: &str| {
                let line = format!("GET {path}");
                request.starts_with(format!("{line} ").as_bytes()) || request.starts_with(format!("{line}?").as_bytes())
            };
            let (status, body) = if asked("/metrics") {
                ("200 OK", scrape())
            } else if asked("/healthz") {
                ("200 OK", "ok\n".to_owned())
            } else if asked("/readyz") {
                if ready() {
                    ("200 OK", "ready\n".to_owned())
                } else {
                    ("503 Service Unavailable", "not ready: the engine stopped after a storage failure\n".to_owned())
                }
            } else {
                ("404 Not Found", "GET /metrics, /healthz or /readyz here\n".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
