//! Three `settled serve` processes on loopback, from `settled cluster
//! init`'s files (`dev::local_cluster::LocalCluster`). Terminals pay
//! continuously through a cluster client (every replica's address; it finds
//! the leader and fails over by itself) while the leader is killed with
//! SIGKILL and restarted, then a follower; each fault waits for payments
//! confirmed since the one before, however long the elections take. Afterwards every receipt any
//! terminal received is in every replica's ledger at the same sequence and
//! block, the replicas' tips are the same block, each chain audits clean
//! (nothing spent twice, every hash, signature and sequence in order) and
//! the supply adds up. Also: the `settled cluster init`, `cluster status`
//! and `demo --cluster` commands.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use settled::Keypair;
use settled::client::Replicas;
use settled::dev::demo_cluster::{SETTLE_HANG_GUARD, check_replicas, confirmations, fund_wallets, pay_counting};
use settled::dev::local_cluster::LocalCluster;
use tokio::sync::watch;

const TERMINALS: usize = 6;
const COIN_MINOR: u64 = 1_000_000;
const TILL_TOKEN: &str = "processes-test-till";
/// Payments confirmed between one fault and the next (a few per terminal).
const PAYMENTS_BETWEEN_FAULTS: u64 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_then_a_follower_loses_no_confirmed_payment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = LocalCluster::start(dir.path(), env!("CARGO_BIN_EXE_settled").as_ref(), 3).expect("started");
    cluster.leader(SETTLE_HANG_GUARD).await.expect("a leader");
    let shop = Keypair::generate().address();
    cluster.register_till(shop, TILL_TOKEN).await.expect("the till registered");
    let urls = cluster.urls();
    let issuer = Replicas::lazy_with_token(&urls, &cluster.issuer_token).expect("addresses");
    let wallets = fund_wallets(&issuer, &cluster.issuers, TERMINALS, COIN_MINOR, "processes").await.expect("funded");

    let stop = Arc::new(AtomicBool::new(false));
    let (counter, mut counted) = watch::channel(0u64);
    let payments = {
        let till = Replicas::lazy_with_token(&urls, TILL_TOKEN).expect("addresses");
        let stop = Arc::clone(&stop);
        let counter = Arc::new(counter);
        tokio::spawn(async move { pay_counting(&till, wallets, shop, &stop, &counter).await })
    };
    let mut payments_flow = async |after: &str| {
        let target = *counted.borrow_and_update() + PAYMENTS_BETWEEN_FAULTS;
        confirmations(&mut counted, target).await.unwrap_or_else(|e| panic!("payments {after}: {e}"));
    };
    payments_flow("before the first fault").await;
    let leader = cluster.leader(SETTLE_HANG_GUARD).await.expect("a leader");
    cluster.kill(leader);
    // The two left elect a leader (a restarted leader would otherwise take
    // its leadership back at once: its vote is durable) and payments go on.
    let second = cluster.leader(SETTLE_HANG_GUARD).await.expect("a new leader");
    assert_ne!(second, leader);
    payments_flow("after the leader's kill").await;
    cluster.start_replica(leader).expect("restarted");
    payments_flow("after the old leader's restart").await;
    let follower = (0..cluster.len()).find(|i| *i != second).expect("a follower");
    cluster.kill(follower);
    payments_flow("after a follower's kill").await;
    cluster.start_replica(follower).expect("restarted");
    payments_flow("after the follower's restart").await;
    stop.store(true, Ordering::Relaxed);
    let confirmed = payments.await.expect("terminals").expect("every payment confirmed through the faults");

    // Every receipt on every replica at its sequence and block, the same
    // tip, audits clean, supply adds up.
    check_replicas(&cluster, &confirmed, COIN_MINOR * TERMINALS as u64).await.expect("the replicas agree");

    // The operator's view: one leader, two followers, nothing behind.
    let status = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["cluster", "status", "--token", &cluster.operator_token, "--server", &urls.join(",")])
        .output()
        .expect("settled cluster status runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let table = String::from_utf8_lossy(&status.stdout);
    let rows: Vec<&str> = table.lines().filter(|line| line.starts_with("http")).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert_eq!(rows.iter().filter(|row| row.contains(" leader ")).count(), 1, "{table}");
    assert_eq!(rows.iter().filter(|row| row.contains(" follower ")).count(), 2, "{table}");
    assert!(rows.iter().all(|row| row.trim_end().ends_with(" 0")), "no replica lags: {table}");
}

#[test]
fn cluster_init_writes_a_valid_configuration_per_member_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let init = || {
        Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(["cluster", "init", "--out"])
            .arg(dir.path())
            .args(["--member", "1=127.0.0.1:7101,127.0.0.1:50151"])
            .args(["--member", "2=127.0.0.1:7102,127.0.0.1:50152"])
            .args(["--member", "3=127.0.0.1:7103,127.0.0.1:50153"])
            .output()
            .expect("settled cluster init runs")
    };
    let output = init();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut genesis_times = Vec::new();
    for id in 1..=3u64 {
        let config = settled::Config::from_file(&dir.path().join(format!("node-{id}.toml"))).expect("parses");
        let cluster = config.cluster.clone().expect("a [cluster] table");
        assert_eq!(cluster.node_id, id);
        assert_eq!(cluster.members.len(), 3);
        genesis_times.push(cluster.genesis_time_unix_ms);
        let resolved = config.resolve().expect("a valid configuration");
        assert_eq!(resolved.genesis.issuer_keys.len(), 3, "the development issuer set, the same for all");
    }
    assert!(genesis_times.windows(2).all(|w| w[0] == w[1]), "one genesis time: {genesis_times:?}");
    let again = init();
    assert!(!again.status.success(), "a second init must not overwrite the keys");

    // A fourth replica's configuration, to join the running cluster.
    let joining = dir.path().join("node-4.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["cluster", "join-config", "--from"])
        .arg(dir.path().join("node-1.toml"))
        .args(["--id", "4", "--raft-addr", "127.0.0.1:7104", "--api-addr", "127.0.0.1:50154", "--out"])
        .arg(&joining)
        .output()
        .expect("settled cluster join-config runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config = settled::Config::from_file(&joining).expect("parses");
    let cluster = config.cluster.clone().expect("a [cluster] table");
    assert_eq!((cluster.node_id, cluster.members.len()), (4, 4));
    assert!(!cluster.initialises(), "a joining replica never initialises a cluster");
    assert_eq!(cluster.genesis_time_unix_ms, genesis_times[0], "the same genesis block");
    assert_eq!(config.data_dir, dir.path().join("node-4"));
    config.resolve().expect("a valid configuration");

    // --dev: development mode on every replica, one token of every role
    // in every data directory (and in a joining replica's).
    let dev = dir.path().join("dev");
    let output = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["cluster", "init", "--dev", "--out"])
        .arg(&dev)
        .args(["--member", "1=127.0.0.1:7201,127.0.0.1:50251"])
        .args(["--member", "2=127.0.0.1:7202,127.0.0.1:50252"])
        .output()
        .expect("settled cluster init --dev runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = std::fs::read_to_string(dev.join(settled::config::DEV_TOKEN_FILE)).expect("dev.token written");
    let output = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["cluster", "join-config", "--from"])
        .arg(dev.join("node-1.toml"))
        .args(["--id", "3", "--raft-addr", "127.0.0.1:7203", "--api-addr", "127.0.0.1:50253", "--out"])
        .arg(dev.join("node-3.toml"))
        .output()
        .expect("join-config runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for id in 1..=3u64 {
        let config = settled::Config::from_file(&dev.join(format!("node-{id}.toml"))).expect("parses");
        assert!(config.development, "node {id} runs in development mode");
        let copy = std::fs::read_to_string(config.data_dir.join(settled::config::DEV_TOKEN_FILE)).expect("a copy");
        assert_eq!(copy, token, "node {id} takes the cluster's development token");
    }

    let bad = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["cluster", "init", "--out"])
        .arg(dir.path().join("other"))
        .args(["--member", "1=127.0.0.1:7101"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected id=raft_host:port,api_host:port"));
}

#[test]
fn the_cluster_demo_kills_the_leader_and_checks_every_receipt_on_every_replica() {
    let output = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["demo", "--cluster", "--terminals", "4", "--seconds", "1"])
        .output()
        .expect("settled demo --cluster runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("kill -9 node"), "{printed}");
    assert!(printed.contains("every receipt found on all 3 replicas"), "{printed}");
}
