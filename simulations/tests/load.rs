//! The load generator end to end, against a server started in this process.

use std::path::Path;
use std::time::Duration;

use settled_simulations::load::{self, LoadOptions, LoadReport, Mode, ServerSpec, Target, Workload};

/// Runs `options` against a fresh in-process server, writing into `dir`.
async fn run_against_a_fresh_server(dir: &Path, options: LoadOptions) -> LoadReport {
    let data_dir = dir.join("ledger");
    let server = settled::Server::start(settled::Config::for_data_dir(data_dir.clone())).await.expect("server starts");
    let token = std::fs::read_to_string(data_dir.join(settled::config::DEV_TOKEN_FILE)).expect("development token");
    let key_files: Vec<_> = (1..=3).map(|i| data_dir.join(format!("issuer-{i}.key"))).collect();
    let issuers = Target::read_issuer_keys(&key_files).expect("development issuer keys");
    let target = Target { url: server.url(), replicas: Vec::new(), token, issuers, pid: None };
    let report = load::run(&options, ServerSpec::External(target)).await.expect("the load runs");
    server.shutdown().await;
    report
}

fn short_run(dir: &Path) -> LoadOptions {
    LoadOptions {
        terminals: 2,
        wallets: 32,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(2),
        ceiling: Duration::from_millis(100),
        out: Some(dir.join("load.json")),
        svg: Some(dir.join("load.svg")),
        progress: false,
        ..LoadOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_streaming_run_confirms_payments_without_refusals_and_writes_its_results() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let options =
        LoadOptions { workload: Workload::Retail, mode: Mode::Streaming, window: Some(8), ..short_run(dir.path()) };
    let report = run_against_a_fresh_server(dir.path(), options).await;

    let figures = &report.figures;
    assert!(figures.confirmed > 0, "nothing confirmed: {figures:?}");
    assert_eq!(figures.refused, 0, "{figures:?}");
    assert!(figures.refused_by_reason.is_empty(), "{:?}", figures.refused_by_reason);
    assert!(figures.latency.p50_us > 0 && figures.latency.p50_us <= figures.latency.max_us);
    assert_eq!(report.series.len(), 2, "one point per second");
    assert!(report.ceiling.before.per_s > 0.0 && report.ceiling.ratio_before > 0.0);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("load.json")).expect("JSON written"))
            .expect("valid JSON");
    assert_eq!(json["figures"]["confirmed"], figures.confirmed);
    assert_eq!(json["config"]["workload"], "retail");
    assert_eq!(json["series"].as_array().map(Vec::len), Some(2));
    let plot = std::fs::read_to_string(dir.path().join("load.svg")).expect("SVG written");
    assert!(plot.starts_with("<svg") && plot.contains("Confirmed payments per second"), "not the chart");
}

/// A terminal of its own floods payments with bad signatures beside the
/// load: every forged one is refused `BAD_SIGNATURE` (the run fails
/// otherwise), the honest ones confirm, none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_terminals_are_confirmed_beside_a_terminal_flooding_bad_signatures() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let options = LoadOptions { window: Some(8), flood_window: 32, ..short_run(dir.path()) };
    let report = run_against_a_fresh_server(dir.path(), options).await;
    assert!(report.flood_refused >= 32, "the flood ran: {}", report.flood_refused);
    assert!(report.figures.confirmed > 0, "{:?}", report.figures);
    assert_eq!(report.figures.refused, 0, "{:?}", report.figures.refused_by_reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_paying_each_other_over_unary_calls_at_a_poisson_rate_are_all_confirmed() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let options = LoadOptions {
        workload: Workload::Opencbdc,
        mode: Mode::Unary,
        window: Some(4),
        rate_per_s: 100.0,
        ..short_run(dir.path())
    };
    let report = run_against_a_fresh_server(dir.path(), options).await;

    let figures = &report.figures;
    let tally = &figures.tally;
    assert!(figures.refused_by_reason.is_empty(), "{:?}", figures.refused_by_reason);
    // Every arrival of the Poisson schedule (its rate is checked in the
    // generator's unit tests) was sent and confirmed, or is counted as
    // dropped or left unsent at the end: none lost, none confirmed twice.
    assert!(tally.arrivals > 0, "{tally:?}");
    assert_eq!(
        figures.confirmed_whole_run + tally.arrivals_dropped + tally.arrivals_unsent,
        tally.arrivals,
        "{figures:?}"
    );
    assert!(figures.confirmed_whole_run > 0, "{figures:?}");
    // Each confirmed payment spent two coins and carried two signatures.
    assert_eq!(report.config.signatures_per_payment, 2);
    assert_eq!(tally.lanes_failed + tally.chains_exhausted, 0, "{tally:?}");
}
