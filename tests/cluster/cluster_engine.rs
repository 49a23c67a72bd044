//! The engine on Raft: three replicas, each a real server (public gRPC API,
//! engine, redb ledger) with its Raft node on its own loopback port, in one
//! process. Payments go to the leader; a follower refuses them with
//! `NOT_LEADER` naming the leader; every replica holds every confirmed
//! payment at the same sequence in the same block. The leader is stopped: a
//! new one is elected and payments resume; the old leader restarts and
//! catches up. Money is conserved on every replica.

use crate::common;

use common::cluster::*;

use std::time::Duration;

use settled::client::{self, Client};
use settled::{Keypair, Rigs, Server, Transaction, proto};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_confirm_through_the_leader_fail_over_and_catch_up() {
    let Started { _root, mut replicas, leader: first, shop, mut payers, mut receipts, chain } =
        Started::new(|_| {}).await;
    let mut client = client_of(&replicas[first]);
    let minted_minor = COIN_MINOR * PAYERS as u64;

    // A follower refuses, naming the leader.
    let follower = (first + 1) % replicas.len();
    let (key, coin) = &payers[0];
    let status = client_of(&replicas[follower])
        .submit(&client::pay(&chain, key, *coin, shop, 1, b"to a follower"))
        .await
        .expect_err("a follower does not confirm");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(client::status_reason(&status), Some(proto::Reason::NotLeader));
    let info = tonic_types::StatusExt::get_details_error_info(&status).expect("error info");
    assert_eq!(info.metadata.get("leader"), Some(&replicas[first].config.listen.to_string()), "names the leader");

    pay_round(&mut client, &chain, &mut payers, shop, 0, &mut receipts).await;
    let height = replicas[first].server().engine().tip().block.header.height;
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, minted_minor);
    assert_roles(&replicas, first).await;
    // One genesis: block 0 is the same, signature included, on every
    // replica, as every later block is.
    let mut genesis_blocks = Vec::new();
    for replica in &replicas {
        let block = client_of(replica).ledger.get_block(proto::GetBlockRequest { height: 0 }).await.expect("block 0");
        genesis_blocks.push(prost::Message::encode_to_vec(&block.into_inner()));
    }
    assert!(genesis_blocks.windows(2).all(|pair| pair[0] == pair[1]), "block 0 differs between replicas");

    // The leader stops; another is elected and payments resume through it.
    replicas[first].server.take().expect("running").shutdown().await;
    let second = leader(&replicas).await;
    assert_ne!(second, first);
    let mut client = client_of(&replicas[second]);
    pay_round(&mut client, &chain, &mut payers, shop, 1, &mut receipts).await;
    let height = replicas[second].server().engine().tip().block.header.height;
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, minted_minor);

    // The old leader comes back as a follower and catches up.
    let server = replicas[first].start().await.expect("the old leader restarts");
    replicas[first].server = Some(server);
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, minted_minor);
    pay_round(&mut client_of(&replicas[leader(&replicas).await]), &chain, &mut payers, shop, 2, &mut receipts).await;
    let height = replicas[leader(&replicas).await].server().engine().tip().block.header.height;
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, minted_minor);
    assert_eq!(receipts.len(), PAYERS + 3 * PAYERS * PAYMENTS_PER_ROUND);

    shutdown_all(&mut replicas).await;
}

/// Each replica's GetInfo, health and metrics say who leads.
async fn assert_roles(replicas: &[Replica], leader_at: usize) {
    for (i, replica) in replicas.iter().enumerate() {
        let Some(server) = &replica.server else { continue };
        let mut operator = Client::lazy_with_token(&replica.api_url(), TOKEN).expect("client");
        let info = operator.info(false).await.expect("info");
        let cluster = info.cluster.expect("cluster status in cluster mode");
        assert_eq!(cluster.node_id, i as u64 + 1);
        assert_eq!(cluster.leading, i == leader_at, "replica {} leading", i + 1);
        assert_eq!(cluster.leader_id, leader_at as u64 + 1);
        assert_eq!(cluster.members, vec![1, 2, 3]);
        if i == leader_at {
            assert_eq!(cluster.leader_address, "");
            // The leader lists every member with its role and log lag
            // (the console's cluster table); caught up, none lags far.
            let roles: Vec<(u64, &str)> = cluster.replicas.iter().map(|r| (r.id, r.role.as_str())).collect();
            let expected: Vec<(u64, &str)> =
                (1..=3).map(|id| (id, if id == leader_at as u64 + 1 { "leader" } else { "follower" })).collect();
            assert_eq!(roles, expected, "{cluster:?}");
            for replica in &cluster.replicas {
                assert!(replica.matched_log_index > 0 && replica.lag_entries <= 2, "{replica:?}");
                assert_eq!(replica.api_addr, replicas[replica.id as usize - 1].config.listen.to_string());
            }
        } else {
            assert_eq!(cluster.leader_address, replicas[leader_at].config.listen.to_string());
            assert!(cluster.replicas.is_empty(), "a follower knows only itself: {cluster:?}");
        }
        let channel = tonic::transport::Endpoint::from_shared(replica.api_url()).expect("url").connect_lazy();
        let status = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest { service: "settled.v1.PaymentService".to_owned() })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        let expected = if i == leader_at { ServingStatus::Serving } else { ServingStatus::NotServing };
        assert_eq!(status, expected as i32, "payment service health of replica {}", i + 1);
        let metrics = server.engine().render_metrics();
        let leader_line = format!("settled_cluster_leader {}", i32::from(i == leader_at));
        assert!(metrics.contains(&leader_line), "{leader_line} in\n{metrics}");
        assert!(metrics.contains("settled_cluster_lag_blocks 0"), "caught up:\n{metrics}");
    }
}

/// Submits `tx` through a cluster client given every replica's address:
/// it finds the leader and fails over by itself.
async fn submit_to_leader(replicas: &[Replica], tx: &Transaction) -> (settled::Receipt, bool) {
    let urls: Vec<String> = replicas.iter().map(Replica::api_url).collect();
    let cluster = client::Replicas::lazy_with_token(&urls, TERMINAL_TOKEN).expect("addresses");
    cluster.submit(tx).await.expect("some replica confirms")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_its_followers_steps_down_and_the_payment_settles_once_on_resubmission() {
    let Started { _root, mut replicas, leader: first, shop, payers, mut receipts, chain } = Started::new(|_| {}).await;
    let (payer, coin) = payers[0].clone();
    let height = receipts.values().map(|(_, height)| *height).max().expect("funded");
    caught_up(&replicas, height).await;

    // Both followers stop: the leader seals the payment but cannot commit it.
    for (i, replica) in replicas.iter_mut().enumerate() {
        if i != first {
            replica.server.take().expect("running").shutdown().await;
        }
    }
    let payment = client::pay(&chain, &payer, coin, shop, 250, b"in doubt");
    let status = client_of(&replicas[first]).submit(&payment).await.expect_err("no majority, no confirmation");
    assert_eq!(client::status_reason(&status), Some(proto::Reason::NotLeader), "{status:?}");
    assert!(status.message().contains("outcome is unknown"), "{}", status.message());
    let info = tonic_types::StatusExt::get_details_error_info(&status).expect("error info");
    assert_eq!(info.metadata.get("outcome_unknown").map(String::as_str), Some("true"));
    assert!(!replicas[first].server().engine().leading(), "the cut-off leader stepped down");
    assert_eq!(
        replicas[first].server().engine().store().receipt(&settled::txid(&payment)).expect("readable"),
        None,
        "nothing uncommitted was written"
    );

    // The followers return; whoever leads settles the payment exactly once.
    for replica in &mut replicas {
        if replica.server.is_none() {
            replica.server = Some(replica.start().await.expect("restarts"));
        }
    }
    let (receipt, _) = submit_to_leader(&replicas, &payment).await;
    let (again, duplicate) = submit_to_leader(&replicas, &payment).await;
    assert!(duplicate, "a second resubmission is answered from the ledger");
    assert_eq!((again.sequence, again.block.header.height), (receipt.sequence, receipt.block.header.height));
    let change = client::output_of(&payment, 1);
    let (next, _) = submit_to_leader(&replicas, &client::pay(&chain, &payer, change, shop, 1, b"after")).await;
    caught_up(&replicas, next.block.header.height).await;
    receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height));
    receipts.insert(next.txid, (next.sequence, next.block.header.height));
    assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);

    shutdown_all(&mut replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_disk_fails_after_the_commit_gives_up_leading_and_the_payment_is_found_committed() {
    let injected = std::sync::Mutex::new(Vec::new());
    let Started { _root, mut replicas, leader: first, shop, payers, mut receipts, chain } = Started::new(|rigs| {
        let faults = settled::StorageFaults::default();
        rigs.storage_faults = Some(faults.clone());
        injected.lock().expect("not poisoned").push(faults);
    })
    .await;
    let faults = injected.into_inner().expect("not poisoned");
    let (payer, coin) = payers[0].clone();

    // The cluster commits the block; the leader's own write of it fails.
    faults[first].fail_writes(true);
    let payment = client::pay(&chain, &payer, coin, shop, 300, b"disk fails");
    let status = client_of(&replicas[first]).submit(&payment).await.expect_err("the leader cannot confirm");
    assert_eq!(client::status_reason(&status), Some(proto::Reason::Unavailable), "{status:?}");
    // It stops standing: another replica is elected and finds the payment
    // already committed.
    let second = leader(&replicas).await;
    assert_ne!(second, first, "a failed replica does not keep the leadership");
    let (receipt, duplicate) = submit_to_leader(&replicas, &payment).await;
    assert!(duplicate, "the payment was committed before the leader's disk failed");

    // Restarted on a working disk, the old leader writes the block it missed.
    faults[first].fail_writes(false);
    replicas[first].server.take().expect("running").shutdown().await;
    replicas[first].rigs.storage_faults = None;
    replicas[first].server = Some(replicas[first].start().await.expect("restarts"));
    caught_up(&replicas, receipt.block.header.height).await;
    receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height));
    assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);
    shutdown_all(&mut replicas).await;
}

#[tokio::test]
async fn a_data_directory_of_another_chain_does_not_join_a_cluster() {
    let root = tempfile::tempdir().expect("temp dir");
    let issuers: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
    let config = configs(root.path(), &issuers).remove(0);
    let mut single = config.clone();
    single.cluster = None;
    Server::start(single).await.expect("a single node on the data dir").shutdown().await;
    let Err(error) = Server::start(config).await else { panic!("a single node's ledger must not join a cluster") };
    assert!(error.to_string().contains("belongs to another chain"), "{error}");
}

/// Snapshots every 16 entries, 4 kept behind: a replica away for longer
/// meets a purged log.
const QUICK_COMPACTION: (u64, u64) = (16, 4);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_away_past_compaction_or_wiped_catch_up_from_a_snapshot_and_a_peers_blocks() {
    let Started { _root, mut replicas, leader: first, shop, mut payers, mut receipts, chain } =
        Started::new(|rigs| rigs.raft_compaction = Some(QUICK_COMPACTION)).await;

    // One follower is stopped; the leader and the other follower go on
    // past several compactions of the log.
    let away = (first + 1) % replicas.len();
    let wiped = (first + 2) % replicas.len();
    replicas[away].server.take().expect("running").shutdown().await;
    let mut client = client_of(&replicas[first]);
    for round in 0..4 {
        pay_round(&mut client, &chain, &mut payers, shop, round, &mut receipts).await;
    }
    let height = replicas[first].server().engine().tip().block.header.height;
    assert!(height > 3 * QUICK_COMPACTION.0, "the log was compacted past the replica away: height {height}");
    replicas[away].server = Some(replicas[away].start().await.expect("restarts"));
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);

    // The other follower loses its files: under its old id it is refused
    // (its lost log and vote would break Raft's majorities); it rejoins
    // under a new id and catches up the same way.
    replicas[wiped].server.take().expect("running").shutdown().await;
    std::fs::remove_dir_all(&replicas[wiped].config.data_dir).expect("wiped");
    let Err(refused) = replicas[wiped].start().await else {
        panic!("a voter whose files were lost must not rejoin under its id")
    };
    assert!(refused.to_string().contains("its files were lost"), "{refused}");
    let urls: Vec<String> = replicas.iter().map(Replica::api_url).collect();
    let operator = client::Replicas::lazy_with_token(&urls, TOKEN).expect("addresses");
    let old_id = wiped as u64 + 1;
    operator
        .on_leader(|mut c| async move { c.admin.remove_replica(proto::RemoveReplicaRequest { id: old_id }).await })
        .await
        .expect("the lost voter removed");
    let (config, member) = joining_config(&replicas[0].config, 4);
    replicas[wiped] =
        Replica { server: Some(Server::start(config.clone()).await.expect("starts")), config, rigs: Rigs::default() };
    let request = proto::AddReplicaRequest { id: 4, raft_addr: member.raft_addr, api_addr: member.api_addr };
    operator
        .on_leader(|mut c| {
            let request = request.clone();
            async move { c.admin.add_replica(request).await }
        })
        .await
        .expect("rejoins as 4");
    for round in 4..6 {
        pay_round(&mut client, &chain, &mut payers, shop, round, &mut receipts).await;
    }
    let height = replicas[first].server().engine().tip().block.header.height;
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);
    for index in [away, wiped] {
        let fetched = replicas[index].server().engine().metrics().blocks_fetched.get();
        assert!(fetched > 0, "replica {} caught up from a snapshot and a peer's blocks", index + 1);
    }
    shutdown_all(&mut replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_joins_and_another_leaves_while_payments_go_on() {
    let Started { _root, mut replicas, leader: first, shop, mut payers, mut receipts, chain } =
        Started::new(|_| {}).await;
    let mut client = client_of(&replicas[first]);
    pay_round(&mut client, &chain, &mut payers, shop, 0, &mut receipts).await;

    // A fourth replica starts on its own files, then joins.
    let (config, joining) = joining_config(&replicas[0].config, 4);
    replicas.push(Replica {
        server: Some(Server::start(config.clone()).await.expect("starts")),
        config,
        rigs: Rigs::default(),
    });
    let urls: Vec<String> = replicas.iter().map(Replica::api_url).collect();
    let operator = client::Replicas::lazy_with_token(&urls, TOKEN).expect("addresses");
    let request = proto::AddReplicaRequest { id: 4, raft_addr: joining.raft_addr, api_addr: joining.api_addr };
    let joined = operator
        .on_leader(|mut c| {
            let request = request.clone();
            async move { c.admin.add_replica(request).await }
        })
        .await
        .expect("replica 4 joins")
        .into_inner();
    assert_eq!(joined.voters.iter().map(|v| v.id).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    pay_round(&mut client, &chain, &mut payers, shop, 1, &mut receipts).await;
    let height = replicas[first].server().engine().tip().block.header.height;
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);
    let info = Client::lazy_with_token(&replicas[3].api_url(), TOKEN).expect("client").info(false).await.expect("info");
    assert_eq!(info.cluster.expect("cluster").members, vec![1, 2, 3, 4]);

    // A follower leaves; the other three go on.
    let leaving = (first + 1) % 3;
    let left = operator
        .on_leader(|mut c| async move {
            c.admin.remove_replica(proto::RemoveReplicaRequest { id: leaving as u64 + 1 }).await
        })
        .await
        .expect("the follower leaves")
        .into_inner();
    assert_eq!(left.voters.len(), 3);
    assert!(left.voters.iter().all(|v| v.id != leaving as u64 + 1));
    replicas[leaving].server.take().expect("running").shutdown().await;
    pay_round(&mut client, &chain, &mut payers, shop, 2, &mut receipts).await;
    let height = replicas[first].server().engine().tip().block.header.height;
    caught_up(&replicas, height).await;
    assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);

    // Refusals: a voter twice, a stranger to remove, a bad address.
    let twice = operator
        .on_leader(|mut c| async move {
            let request =
                proto::AddReplicaRequest { id: 4, raft_addr: "127.0.0.1:1".into(), api_addr: "127.0.0.1:2".into() };
            c.admin.add_replica(request).await
        })
        .await
        .expect_err("already a voter");
    assert_eq!(twice.code(), Code::AlreadyExists);
    let stranger = operator
        .on_leader(|mut c| async move { c.admin.remove_replica(proto::RemoveReplicaRequest { id: 9 }).await })
        .await
        .expect_err("not a voter");
    assert_eq!(stranger.code(), Code::NotFound);
    let garbled = operator
        .on_leader(|mut c| async move {
            let request =
                proto::AddReplicaRequest { id: 5, raft_addr: "nowhere".into(), api_addr: "127.0.0.1:2".into() };
            c.admin.add_replica(request).await
        })
        .await
        .expect_err("not an address");
    assert_eq!(garbled.code(), Code::InvalidArgument);
    shutdown_all(&mut replicas).await;
}

/// Steps of one chaos schedule, and how long each lasts.
const CHAOS_STEPS: usize = 8;
const CHAOS_STEP: Duration = Duration::from_millis(700);

/// Seeded fault schedules on the Raft network under continuous payments:
/// a node isolated (the leader included), a link cut, requests and replies
/// lost, messages delayed, a replica restarted. After the network heals,
/// every payment a terminal saw confirmed is in every replica at its
/// sequence and block, the chains are the same, each audits clean and the
/// supply adds up. The schedule is drawn from the seed; the threads and the
/// clock are real, so a run is not replayed step for step. More seeds:
/// `CLUSTER_CHAOS_SEEDS=50 cargo test --test cluster_engine chaos`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_the_raft_network_loses_no_confirmed_payment() {
    use rand::{Rng, SeedableRng};
    let first_seed: u64 = std::env::var("CLUSTER_CHAOS_FIRST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let seeds: u64 = std::env::var("CLUSTER_CHAOS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    for seed in first_seed..first_seed + seeds {
        let faults = settled::cluster::NetworkFaults::new(seed);
        let injected = faults.clone();
        let Started { _root, mut replicas, shop, payers, mut receipts, .. } =
            Started::new(move |rigs| rigs.network_faults = Some(injected.clone())).await;
        let urls: Vec<String> = replicas.iter().map(Replica::api_url).collect();
        let till = client::Replicas::lazy_with_token(&urls, TERMINAL_TOKEN).expect("addresses");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let payments = {
            let stop = std::sync::Arc::clone(&stop);
            tokio::spawn(async move { settled::dev::demo_cluster::pay_until(&till, payers, shop, &stop).await })
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let ids = [1, 2, 3];
        let mut schedule = Vec::new();
        for _ in 0..CHAOS_STEPS {
            faults.heal();
            let step = rng.gen_range(0..6);
            match step {
                0 => faults.isolate(rng.gen_range(1..=3), &ids),
                1 => faults.cut(1, rng.gen_range(2..=3)),
                2 => faults.lose(rng.gen_range(50..300), rng.gen_range(50..300)),
                3 => faults.delay(Duration::from_millis(rng.gen_range(5..60))),
                4 => {
                    // The leader, cut off: its in-flight block is in doubt.
                    let leading = replicas.iter().position(|r| r.server.as_ref().is_some_and(|s| s.engine().leading()));
                    if let Some(index) = leading {
                        faults.isolate(index as u64 + 1, &ids);
                    }
                }
                _ => {
                    let index = rng.gen_range(0..replicas.len());
                    replicas[index].server.take().expect("running").shutdown().await;
                    replicas[index].server = Some(replicas[index].start().await.expect("restarts"));
                }
            }
            schedule.push(step);
            tokio::time::sleep(CHAOS_STEP).await;
        }
        faults.heal();
        tokio::time::sleep(CHAOS_STEP).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let confirmed = payments
            .await
            .expect("terminals")
            .unwrap_or_else(|e| panic!("seed {seed} (schedule {schedule:?}): a payment was not confirmed: {e}"));
        for c in &confirmed {
            receipts.insert(c.txid, (c.sequence, c.height));
        }
        let height = leader_tip(&replicas).await;
        caught_up(&replicas, height).await;
        assert_replicas_agree(&replicas, &receipts, COIN_MINOR * PAYERS as u64);
        for (index, replica) in replicas.iter().enumerate() {
            let engine = replica.server().engine();
            let report = settled::audit(engine.store()).expect("audit runs");
            assert!(report.failures.is_empty(), "seed {seed}, replica {}: {:?}", index + 1, report.failures);
        }
        println!("seed {seed}: schedule {schedule:?}, {} payments confirmed, all replicas agree", confirmed.len());
        shutdown_all(&mut replicas).await;
    }
}

/// The leader's tip, once a leader is elected.
async fn leader_tip(replicas: &[Replica]) -> u64 {
    let index = leader(replicas).await;
    replicas[index].server().engine().tip().block.header.height
}
