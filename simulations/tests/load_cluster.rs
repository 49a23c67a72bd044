//! The load generator against a cluster: three `settled serve` processes
//! (the `settled` binary of this build), the leader killed mid-run. A test
//! binary of its own, so that no other test's server takes one of the
//! loopback ports chosen for the replicas while they start.

use std::time::Duration;

use settled_simulations::load::{self, LoadOptions, Mode, ServerSpec, Target};

const TERMINALS: usize = 2;
/// Hang guards: far above the seconds an election, a replica's start or the
/// first payments take; reaching one only turns a hang into a failure.
const ELECTION_HANG_GUARD: Duration = Duration::from_secs(60);
const PAYMENTS_HANG_GUARD: Duration = Duration::from_secs(120);

/// Against a cluster (three `settled serve` processes from `cluster init
/// --dev`), the load starts on the leader; when the leader is killed with
/// SIGKILL mid-run, every terminal moves to the new leader by itself and
/// resubmits what it had in flight, and no payment is refused or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_cluster_the_terminals_follow_a_new_leader_when_the_leader_is_killed() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let bin = settled_simulations::settled_bin_of_this_build();
    let mut cluster =
        settled::dev::local_cluster::LocalCluster::start_development(&dir.path().join("cluster"), &bin, 3)
            .expect("three replicas start");
    let leader = cluster.leader(ELECTION_HANG_GUARD).await.expect("a leader");
    // All three answer before the load starts (a replica that could not
    // take its port would leave two, and the kill below one).
    for index in 0..3 {
        let mut client = cluster.operator_client(index).expect("a client");
        let deadline = tokio::time::Instant::now() + ELECTION_HANG_GUARD;
        while client.info(false).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "replica {index} does not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
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
        terminals: TERMINALS,
        wallets: 32,
        warmup: Duration::ZERO,
        ceiling: Duration::from_millis(100),
        out: Some(dir.path().join("load.json")),
        svg: Some(dir.path().join("load.svg")),
        progress: false,
        ..LoadOptions::default()
    };
    let run = tokio::spawn(async move { load::run(&options, ServerSpec::External(target)).await });

    // Kill the leader once payments flow (setup commits only a few mints).
    let mut leader_client = cluster.operator_client(leader).expect("a client");
    let deadline = tokio::time::Instant::now() + PAYMENTS_HANG_GUARD;
    loop {
        let info = leader_client.info(false).await.expect("the leader answers");
        if info.next_sequence > 300 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no payments flowed: {info:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The leader now (it may have changed since the load started).
    let leader = cluster.leader(ELECTION_HANG_GUARD).await.expect("a leader");
    cluster.kill(leader);

    let report = run.await.expect("the load task").expect("the load survives the fail-over");
    let figures = &report.figures;
    // Each terminal was on the killed leader and moved to the new one (how
    // many tries that took depends on the election's pace: no upper band).
    let tally = &figures.tally;
    assert!(tally.failovers >= TERMINALS as u64, "every terminal moved: {tally:?}");
    assert_eq!(tally.lanes_failed, 0, "{tally:?}");
    assert!(figures.confirmed > 0, "{figures:?}");
    assert!(figures.refused_by_reason.is_empty(), "{:?}", figures.refused_by_reason);
    // The two replicas left hold the same chain.
    if let Err(why) = cluster.converged(ELECTION_HANG_GUARD).await {
        let logs: Vec<String> = (1..=3)
            .map(|id| {
                let log = dir.path().join("cluster").join(format!("node-{id}.log"));
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                format!("--- node {id} ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
            })
            .collect();
        panic!("the replicas left do not agree: {why}\n{}", logs.join("\n"));
    }
}
