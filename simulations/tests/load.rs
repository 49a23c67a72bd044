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
    assert!(figures.refused_by_reason.is_empty(), "{:?}", figures.refused_by_reason);
    // About 200 arrivals in 2 s; each confirmed one spent two coins and
    // carried two signatures.
    assert!((100..=400).contains(&figures.confirmed), "{figures:?}");
    assert_eq!(report.config.signatures_per_payment, 2);
    assert_eq!(figures.tally.lanes_failed + figures.tally.chains_exhausted, 0, "{:?}", figures.tally);
}

/// Against a cluster (three `settled serve` processes from `cluster init
/// --dev`), the load starts on the leader; when the leader is killed with
/// SIGKILL mid-run, every terminal moves to the new leader by itself and
/// resubmits what it had in flight, and no payment is refused or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_cluster_the_terminals_follow_a_new_leader_when_the_leader_is_killed() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let bin = settled_simulations::settled_bin_of_this_build();
    let mut cluster = settled::cluster::local::LocalCluster::start_development(&dir.path().join("cluster"), &bin, 3)
        .expect("three replicas start");
    let leader = cluster.leader(Duration::from_secs(60)).await.expect("a leader");
    let urls = cluster.urls();
    let target = Target {
        url: urls[(leader + 1) % urls.len()].clone(),
        replicas: urls.clone(),
        token: cluster.dev_token.clone().expect("a development cluster's token"),
        issuers: cluster.issuers.clone(),
        pid: None,
    };
    let options = LoadOptions {
        mode: Mode::Streaming,
        window: Some(8),
        duration: Duration::from_secs(8),
        chain: Some(4_000),
        ..short_run(dir.path())
    };
    let run = tokio::spawn(async move { load::run(&options, ServerSpec::External(target)).await });

    // Kill the leader once payments flow (setup commits only a few mints).
    let mut leader_client = cluster.operator_client(leader).expect("a client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let info = leader_client.info(false).await.expect("the leader answers");
        if info.next_sequence > 300 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no payments flowed: {info:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.kill(leader);

    let report = run.await.expect("the load task").expect("the load survives the fail-over");
    let figures = &report.figures;
    assert!(figures.tally.failovers >= 2, "each terminal moved to the new leader: {:?}", figures.tally);
    assert!(figures.confirmed > 0, "{figures:?}");
    assert!(figures.refused_by_reason.is_empty(), "{:?}", figures.refused_by_reason);
    assert_eq!(figures.tally.lanes_failed, 0, "{:?}", figures.tally);
    // The two replicas left hold the same chain.
    cluster.converged(Duration::from_secs(30)).await.expect("the replicas left agree");
}
