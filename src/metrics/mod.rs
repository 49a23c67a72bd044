//! What an operator watches: counters, gauges and histograms of
//! `prometheus-client` (Prometheus' official Rust client; its counters and
//! gauges are atomics, cheap on the payment path), the process's own
//! figures read from `/proc` at each scrape (`process`), every gRPC call
//! counted and timed by a tower layer (`grpc`), and an HTTP endpoint on
//! its own port (`metrics_listen`, `http`), separate from the gRPC API so
//! that a scraper needs no credential and cannot reach payments.
//!
//! The names are the Prometheus ones: a counter registered as `x` is
//! exposed as `x_total` (the client adds the suffix), a histogram `x` as
//! `x_bucket`, `x_sum` and `x_count`, the build info as
//! `settled_build_info`.

mod grpc;
mod http;
pub mod latency;
mod process;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::core::refusal::Reason;

pub use grpc::{GRPC_CODE_UNKNOWN, GRPC_METHOD_UNKNOWN, GRPC_METHODS_MAX, GrpcMethods, GrpcMetricsLayer};
pub use http::{
    METRICS_ACCEPT_RETRY, METRICS_CONNECTION_TIME_MAX, METRICS_CONNECTIONS_MAX, METRICS_READ_TIMEOUT,
    METRICS_REQUEST_BYTES_MAX, serve,
};

const LATENCY_SECONDS: [f64; 13] = [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
const BLOCK_TXS: [f64; 8] = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 8192.0];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_SECONDS)
}

/// The two text formats a scrape may ask for (`Accept`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exposition {
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`),
    /// what a scraper gets unless it asks for `OpenMetrics`.
    Prometheus,
    /// `OpenMetrics` 1.0 text (`application/openmetrics-text`), which
    /// Prometheus asks for first.
    OpenMetrics,
}

impl Exposition {
    /// The `Content-Type` of a scrape answered in this format.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    protocol: String,
}

/// The engine's and the API's measurements. One per server.
///
/// The fields are the crate's own handles (clones share the value): the
/// pipeline adds to them directly and a scrape encodes them.
pub struct Metrics {
    registry: Registry,
    confirmed: Counter,
    duplicates: Counter,
    refused: Family<ReasonLabels, Counter>,
    /// Submission to durable receipt (or refusal), seconds.
    pub confirmation_seconds: Histogram,
    /// Submission to durable receipt of confirmed payments, in fine
    /// buckets: the console's percentiles (`LedgerService.WatchLedger`).
    pub confirmations: latency::LatencyBuckets,
    pub block_txs: Histogram,
    /// Each fsync of the data file, seconds.
    pub fsync_seconds: Histogram,
    /// One block's write transaction, fsync included, seconds.
    pub commit_seconds: Histogram,
    pub blocks: Counter,
    /// Cluster mode: committed blocks fetched from a peer's ledger
    /// (exposed in cluster mode only, with the other cluster figures).
    pub blocks_fetched: Counter,
    pub verify_queue: Gauge,
    /// Signature batches the verify stage checked.
    pub verify_batches: Counter,
    /// Signatures checked singly because their source sent a bad one lately.
    pub signatures_singly: Counter,
    pub sequencer_queue: Gauge,
    pub payment_streams: Gauge,
    pub bank_streams: Gauge,
    /// Block time to the checkpoint leaving for the bank, seconds.
    pub bank_stream_lag_seconds: Histogram,
    /// Every gRPC call, by method and status (the layer in `server.rs`).
    grpc: grpc::GrpcMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let payments = Family::<OutcomeLabels, Counter>::default();
        let metrics = Self {
            registry: Registry::default(),
            confirmed: payments.get_or_create_owned(&OutcomeLabels { outcome: "confirmed" }),
            duplicates: payments.get_or_create_owned(&OutcomeLabels { outcome: "duplicate" }),
            refused: Family::default(),
            confirmation_seconds: latency_histogram(),
            confirmations: latency::LatencyBuckets::default(),
            block_txs: Histogram::new(BLOCK_TXS),
            fsync_seconds: latency_histogram(),
            commit_seconds: latency_histogram(),
            blocks: Counter::default(),
            blocks_fetched: Counter::default(),
            verify_queue: Gauge::default(),
            verify_batches: Counter::default(),
            signatures_singly: Counter::default(),
            sequencer_queue: Gauge::default(),
            payment_streams: Gauge::default(),
            bank_streams: Gauge::default(),
            bank_stream_lag_seconds: latency_histogram(),
            grpc: grpc::GrpcMetrics::default(),
        };
        metrics.registered(payments)
    }
}

/// Keeps a gauge up while it lives (an open stream, a queued job).
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    #[must_use]
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
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
    /// Registers every metric kept between scrapes, in the order a scrape
    /// shows them.
    fn registered(mut self, payments: Family<OutcomeLabels, Counter>) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "settled_build",
            "The running build: its version and the protocol version it speaks; always 1",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                protocol: crate::core::types::PROTOCOL_VERSION.to_string(),
            }),
        );
        registry.register("settled_payments", "Transactions answered, by outcome", payments);
        registry.register("settled_refusals", "Transactions refused, by reason", self.refused.clone());
        let histograms = [
            ("settled_confirmation_seconds", "Submission to durable receipt or refusal", &self.confirmation_seconds),
            ("settled_block_transactions", "Transactions per committed block", &self.block_txs),
            ("settled_block_commit_seconds", "One block's write transaction, fsync included", &self.commit_seconds),
            ("settled_fsync_seconds", "Each fsync of the data file", &self.fsync_seconds),
            (
                "settled_bank_stream_lag_seconds",
                "Block time to its checkpoint leaving for a following bank",
                &self.bank_stream_lag_seconds,
            ),
        ];
        for (name, help, histogram) in histograms {
            registry.register(name, help, histogram.clone());
        }
        let counters = [
            ("settled_blocks_committed", "Blocks committed since start", &self.blocks),
            (
                "settled_verify_batches",
                "Batches of transactions whose signatures the verify stage checked together (one at low load)",
                &self.verify_batches,
            ),
            (
                "settled_signatures_verified_singly",
                "Signatures verified one by one, apart from the batches, because their source sent a bad signature \
                 lately",
                &self.signatures_singly,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        let gauges = [
            ("settled_verify_queue", "Transactions waiting for the verify stage", &self.verify_queue),
            ("settled_sequencer_queue", "Verified transactions waiting for the sequencer", &self.sequencer_queue),
            ("settled_payment_streams", "Open SubmitPayments streams", &self.payment_streams),
            ("settled_bank_streams", "Open Subscribe streams", &self.bank_streams),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        self.grpc.register(registry);
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        self
    }

    pub fn outcome(&self, outcome: Result<bool, Reason>, elapsed: Duration) {
        match outcome {
            Ok(false) => {
                self.confirmed.inc();
                self.confirmations.observe(elapsed);
            }
            Ok(true) => {
                self.duplicates.inc();
            }
            Err(reason) => {
                self.refused.get_or_create(&ReasonLabels { reason: reason.name() }).inc();
            }
        }
        self.confirmation_seconds.observe(elapsed.as_secs_f64());
    }

    /// The layer that counts and times every call of the gRPC server whose
    /// paths are `methods`.
    #[must_use]
    pub fn grpc_layer(&self, methods: GrpcMethods) -> GrpcMetricsLayer {
        GrpcMetricsLayer::new(self.grpc.clone(), Arc::new(methods))
    }

    /// Every metric, and the ledger's figures at this scrape, in `format`.
    #[must_use]
    pub fn render(&self, ledger: &LedgerGauges, format: Exposition) -> String {
        let scrape = ledger_registry(ledger, &self.blocks_fetched);
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; an encoder error would be a
        // bug of the crate, and a scrape shows what was written before it.
        let written = match format {
            Exposition::Prometheus => {
                use prometheus_client::encoding::prometheus_text::encode;
                encode(&mut out, &self.registry).and_then(|()| encode(&mut out, &scrape))
            }
            Exposition::OpenMetrics => {
                use prometheus_client::encoding::text::{encode_eof, encode_registry};
                encode_registry(&mut out, &self.registry)
                    .and_then(|()| encode_registry(&mut out, &scrape))
                    .and_then(|()| encode_eof(&mut out))
            }
        };
        if let Err(error) = written {
            tracing::error!(%error, "encoding the metrics");
        }
        out
    }
}

/// The figures read from the engine at a scrape (not kept between
/// scrapes): the ledger's, and in a cluster the replica's.
fn ledger_registry(ledger: &LedgerGauges, blocks_fetched: &Counter) -> Registry {
    let mut registry = Registry::default();
    let gauges = [
        ("settled_tip_height", "Height of the last durable block", ledger.tip_height),
        ("settled_unspent_outputs", "Unspent outputs at the tip", ledger.unspent_outputs),
        ("settled_supply_minor", "Minted minus burned, minor units", ledger.supply_minor),
        ("settled_serving", "1 while the engine confirms payments, 0 after a fail-stop", u64::from(ledger.serving)),
        ("settled_admitted_payments", "Payments the engine holds (submitted, not yet answered)", ledger.admitted_held),
        (
            "settled_admitted_limit",
            "The most payments the engine holds before refusing as overloaded (admission control)",
            ledger.admitted_limit,
        ),
    ];
    for (name, help, value) in gauges {
        registry.register(name, help, ConstGauge::new(value));
    }
    if let Some(cluster) = &ledger.cluster {
        let gauges = [
            (
                "settled_cluster_leader",
                "1 while this replica leads the cluster and seals blocks, 0 while it follows",
                u64::from(cluster.leading),
            ),
            ("settled_cluster_term", "The Raft term this replica is in", cluster.term),
            (
                "settled_cluster_committed_height",
                "Highest block height the cluster committed, as this replica knows it",
                cluster.committed_height,
            ),
            (
                "settled_cluster_lag_blocks",
                "Committed blocks this replica's ledger has not yet written",
                cluster.committed_height.saturating_sub(ledger.tip_height),
            ),
        ];
        for (name, help, value) in gauges {
            registry.register(name, help, ConstGauge::new(value));
        }
        registry.register(
            "settled_cluster_blocks_fetched",
            "Committed blocks fetched from a peer's ledger (this replica was away past the log's compaction)",
            ConstCounter::new(blocks_fetched.get()),
        );
    }
    registry
}
