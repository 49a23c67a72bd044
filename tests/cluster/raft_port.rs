//! The Raft port under attack (docs/SECURITY.md, "The Raft port"): every
//! attack an outside tester made with nothing but the proto files, and
//! those a member holding a valid certificate can still try, against three
//! replicas confirming payments. None moves the leader, the term, the chain
//! or a receipt:
//!
//! - no certificate, or plaintext: Vote, AppendEntries, InstallSnapshot,
//!   FetchBlocks and PeerStatus fail at the TLS layer;
//! - a certificate of another CA: the handshake fails;
//! - the CA's certificate of a node that is no member: `PERMISSION_DENIED`;
//! - a member claiming another member's id: `PERMISSION_DENIED`;
//! - a term near `u64::MAX`, or past `RAFT_TERM_MAX`: `INVALID_ARGUMENT`;
//! - a vote over `RAFT_SMALL_MESSAGE_BYTES_MAX`: refused before it is read;
//! - connections past `RAFT_CONNECTIONS_MAX` closed at once, a silent one
//!   closed at its handshake deadline;
//! - a node whose stored vote was forged says so at start, and how to
//!   recover; a Raft core that stops on its own is reported fatal.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::*;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta, StoredMembership, Vote};
use settled::client;
use settled::cluster::{ClusterCa, NodeId, ReplicaNode, TypeConfig, peer_name};
use settled::limits::{
    RAFT_CONNECTIONS_MAX, RAFT_SMALL_MESSAGE_BYTES_MAX, RAFT_TERM_MAX, RAFT_TERM_STEP_MAX, RAFT_TLS_HANDSHAKE_TIMEOUT,
};
use settled::proto::peer_service_client::PeerServiceClient;
use settled::proto::raft_service_client::RaftServiceClient;
use settled::proto::{FetchBlocksRequest, PeerStatusRequest, RaftRequest};
use tokio::io::AsyncReadExt as _;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Hang guards: far past the handshake deadline, or the moment a stopped
/// Raft core is noticed; reaching one only turns a hang into a failure.
const CLOSE_HANG_GUARD: Duration = Duration::from_secs(120);
const FATAL_HANG_GUARD: Duration = Duration::from_secs(60);

/// What a caller of the Raft port holds.
enum Caller<'a> {
    /// No TLS at all.
    Plaintext,
    /// TLS that trusts the cluster CA, but no certificate of its own.
    NoCertificate,
    /// A certificate (and key) issued by `ca` for node `as_node`.
    Certificate { ca: &'a ClusterCa, as_node: NodeId },
}

struct Rogue {
    raft: RaftServiceClient<Channel>,
    peer: PeerServiceClient<Channel>,
}

fn rogue(addr: SocketAddr, target: NodeId, cluster_ca: &ClusterCa, caller: &Caller<'_>) -> Rogue {
    let endpoint = match caller {
        Caller::Plaintext => Endpoint::from_shared(format!("http://{addr}")).expect("url"),
        Caller::NoCertificate | Caller::Certificate { .. } => {
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(cluster_ca.cert_pem()))
                .domain_name(peer_name(target));
            if let Caller::Certificate { ca, as_node } = caller {
                let (cert, key) = ca.issue(*as_node).expect("a certificate");
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            Endpoint::from_shared(format!("https://{addr}")).expect("url").tls_config(tls).expect("tls")
        }
    };
    let channel = endpoint.connect_timeout(Duration::from_secs(2)).timeout(Duration::from_secs(5)).connect_lazy();
    Rogue {
        raft: RaftServiceClient::new(channel.clone()).max_encoding_message_size(usize::MAX),
        peer: PeerServiceClient::new(channel).max_encoding_message_size(usize::MAX),
    }
}

fn payload<T: serde::Serialize>(message: &T) -> RaftRequest {
    RaftRequest { payload: postcard::to_allocvec(message).expect("encodes") }
}

/// A vote openraft would grant if it saw it: the candidate's log is as long
/// as any honest one (the last entry at index 1,000,000 of the vote's term).
fn vote(term: u64, candidate: NodeId) -> RaftRequest {
    let last = LogId::new(CommittedLeaderId::new(term, candidate), 1_000_000);
    payload(&VoteRequest::new(Vote::new(term, candidate), Some(last)))
}

/// An append from an invented leader whose one entry makes `sole` the only
/// voter (the fork an outside tester achieved).
fn append_from(leader: NodeId, term: u64, sole: NodeId, sole_addr: SocketAddr) -> RaftRequest {
    let membership = Membership::new(
        vec![BTreeSet::from([sole])],
        BTreeMap::from([(sole, ReplicaNode::raft_only(sole_addr.to_string()))]),
    );
    let entry: Entry<TypeConfig> = Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, leader), 1_000_000),
        payload: EntryPayload::Membership(membership),
    };
    payload(&AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(term, leader),
        prev_log_id: None,
        entries: vec![entry],
        leader_commit: None,
    })
}

fn snapshot_from(leader: NodeId, term: u64) -> RaftRequest {
    payload(&InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new_committed(term, leader),
        meta: SnapshotMeta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(term, leader), 1_000_000)),
            last_membership: StoredMembership::default(),
            snapshot_id: "forged".to_owned(),
        },
        offset: 0,
        data: vec![0; 64],
        done: true,
    })
}

/// Every call of both services, as `caller` to node `target` at `addr`;
/// the status of each (`Ok` for an answer).
async fn every_call(
    addr: SocketAddr,
    target: NodeId,
    ca: &ClusterCa,
    caller: &Caller<'_>,
    claimed: NodeId,
) -> Vec<(&'static str, Code)> {
    let mut rogue = rogue(addr, target, ca, caller);
    let code = |answered: Result<(), tonic::Status>| answered.map_or_else(|s| s.code(), |()| Code::Ok);
    vec![
        ("Vote", code(rogue.peer.vote(vote(u64::MAX, claimed)).await.map(drop))),
        ("AppendEntries", code(rogue.raft.append_entries(append_from(claimed, 1_000_000, 3, addr)).await.map(drop))),
        ("InstallSnapshot", code(rogue.raft.install_snapshot(snapshot_from(claimed, 1_000_000)).await.map(drop))),
        (
            "FetchBlocks",
            code(rogue.peer.fetch_blocks(FetchBlocksRequest { from_height: 0, max_blocks: 256 }).await.map(drop)),
        ),
        ("PeerStatus", code(rogue.peer.peer_status(PeerStatusRequest { caller: claimed }).await.map(drop))),
    ]
}

fn raft_addr(replica: &Replica) -> SocketAddr {
    replica.config.cluster.as_ref().expect("cluster").raft_listen
}

fn cluster_ca(started: &Started) -> ClusterCa {
    let dir = started.replicas[0].config.data_dir.with_file_name("cluster-ca");
    ClusterCa::load(&dir).expect("the cluster CA")
}

/// The leader's id and term, as every replica sees it.
fn leadership(replicas: &[Replica]) -> Vec<(Option<NodeId>, u64)> {
    replicas
        .iter()
        .filter_map(|r| r.server.as_ref())
        .map(|s| {
            let metrics = s.raft().expect("a replica").metrics().borrow().clone();
            (metrics.current_leader, metrics.current_term)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_attacks_on_the_raft_port_fail_and_the_cluster_keeps_its_leader_chain_and_receipts() {
    let mut started = Started::new(|_| {}).await;
    let ca = cluster_ca(&started);
    let other_ca = ClusterCa::generate("another cluster").expect("another CA");
    let before = leadership(&started.replicas);

    // Payments go on through the whole attack.
    let urls: Vec<String> = started.replicas.iter().map(Replica::api_url).collect();
    let till = client::Replicas::lazy_with_token(&urls, TERMINAL_TOKEN).expect("addresses");
    let (chain, shop) = (started.chain, started.shop);
    let payers = std::mem::take(&mut started.payers);
    let paying = tokio::spawn(async move {
        let mut confirmed = Vec::new();
        let mut payers = payers;
        for round in 0..12 {
            for (p, (key, coin)) in payers.iter_mut().enumerate() {
                let tx = client::pay(&chain, key, *coin, shop, 1, format!("attack-{round}-{p}").as_bytes());
                let (receipt, _) = till.submit(&tx).await.expect("confirmed through the attack");
                confirmed.push(receipt);
                *coin = client::output_of(&tx, 1);
            }
        }
        confirmed
    });

    for (index, replica) in started.replicas.iter().enumerate() {
        let (addr, target) = (raft_addr(replica), index as NodeId + 1);
        let other = target % 3 + 1;
        // Nothing but the proto files: no TLS, or TLS without a certificate.
        for caller in [Caller::Plaintext, Caller::NoCertificate] {
            for (call, code) in every_call(addr, target, &ca, &caller, 9).await {
                assert_ne!(code, Code::Ok, "{call} without a member certificate answered");
            }
        }
        // A certificate of another CA for a member's name.
        for (call, code) in
            every_call(addr, target, &ca, &Caller::Certificate { ca: &other_ca, as_node: other }, other).await
        {
            assert_ne!(code, Code::Ok, "{call} with another CA's certificate answered");
            assert_ne!(code, Code::PermissionDenied, "{call}: refused at the handshake, not by the service");
        }
        // The CA's certificate of a node that is no member.
        for (call, code) in every_call(addr, target, &ca, &Caller::Certificate { ca: &ca, as_node: 9 }, 9).await {
            assert_eq!(code, Code::PermissionDenied, "{call} from a node that is no member");
        }
        // A member claiming to be another.
        let member = Caller::Certificate { ca: &ca, as_node: other };
        for (call, code) in every_call(addr, target, &ca, &member, 9).await {
            if call == "FetchBlocks" {
                // Names nobody: a member may fetch committed blocks.
                assert_eq!(code, Code::Ok, "{call} from a member");
            } else {
                assert_eq!(code, Code::PermissionDenied, "{call} from node {other} claiming node 9");
            }
        }
        // A member's terms beyond reach: past the ceiling, or further ahead
        // of the node's own term than a cluster gets.
        let mut own = rogue(addr, target, &ca, &member);
        let local_term = replica.server().raft().expect("a replica").metrics().borrow().current_term;
        for term in [u64::MAX, RAFT_TERM_MAX + 1, local_term + RAFT_TERM_STEP_MAX + 1] {
            let status = own.peer.vote(vote(term, other)).await.expect_err("an unreachable term");
            assert_eq!(status.code(), Code::InvalidArgument, "vote of term {term}: {status:?}");
            let status =
                own.raft.append_entries(append_from(other, term, other, addr)).await.expect_err("an unreachable term");
            assert_eq!(status.code(), Code::InvalidArgument, "append of term {term}: {status:?}");
        }
        // A vote larger than a vote is: refused before it is read whole.
        let oversized = RaftRequest { payload: vec![0; RAFT_SMALL_MESSAGE_BYTES_MAX + 1] };
        let status = own.peer.vote(oversized).await.expect_err("an oversized vote");
        assert!(matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted), "{status:?}");
    }

    let confirmed = paying.await.expect("the payments task");
    let mut receipts = started.receipts.clone();
    for receipt in &confirmed {
        receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height));
    }
    assert_eq!(leadership(&started.replicas), before, "the leader and the term did not move");
    let height = started.replicas[started.leader].server().engine().tip().block.header.height;
    caught_up(&started.replicas, height).await;
    assert_replicas_agree(&started.replicas, &receipts, COIN_MINOR * PAYERS as u64);
    shutdown_all(&mut started.replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_raft_port_holds_a_bounded_number_of_connections_and_closes_silent_ones() {
    let mut started = Started::new(|_| {}).await;
    let addr = raft_addr(&started.replicas[0]);
    // More raw sockets than the port holds, none of which ever sends a byte.
    let mut sockets = Vec::new();
    for _ in 0..RAFT_CONNECTIONS_MAX + 8 {
        // Taken before connecting: the port may accept (and start the
        // socket's handshake deadline) before `connect` returns here.
        let connecting = Instant::now();
        sockets.push((tokio::net::TcpStream::connect(addr).await.expect("connects"), connecting));
    }
    // The port closes each: when, after it began to connect.
    let closes = futures::future::join_all(sockets.into_iter().map(|(mut socket, connected)| async move {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(CLOSE_HANG_GUARD, socket.read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "a silent connection outlived its deadline: {read:?}");
        (connected, Instant::now())
    }))
    .await;
    // Those it holds are closed at their handshake deadline, not before;
    // the ones past its bound at once: before the first of those.
    let at_deadline: Vec<Instant> = closes
        .iter()
        .filter(|(connected, closed)| closed.duration_since(*connected) >= RAFT_TLS_HANDSHAKE_TIMEOUT)
        .map(|(_, closed)| *closed)
        .collect();
    let first_at_deadline = at_deadline.iter().min().copied().expect("the port held some connections");
    let at_once = closes.iter().filter(|(_, closed)| *closed < first_at_deadline).count();
    assert!(at_once >= 8, "{at_once} of the connections past the bound closed at once");
    assert_eq!(at_once + at_deadline.len(), closes.len(), "a held connection closed before its deadline");
    // And the cluster still confirms.
    let mut till = client_of(&started.replicas[started.leader]);
    let (key, coin) = &started.payers[0];
    let tx = client::pay(&started.chain, key, *coin, started.shop, 1, b"after the flood");
    till.submit(&tx).await.expect("confirmed");
    shutdown_all(&mut started.replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_stored_vote_was_forged_refuses_to_start_and_says_how_to_recover() {
    use openraft::storage::RaftLogStorage as _;
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut log = settled::cluster::RaftLogStore::open(&dir.path().join(settled::cluster::LOG_FILE)).expect("log");
        log.save_vote(&Vote::new(u64::MAX, 9)).await.expect("the forged vote, as the unauthenticated port took it");
    }
    let ca = ClusterCa::generate("test").expect("CA");
    let (cert, key) = ca.issue(1).expect("certificate");
    let peers = settled::cluster::Peers {
        tls: settled::cluster::PeerTls::from_pem(ca.cert_pem(), &cert, &key),
        founders: vec![1],
        faults: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let config = std::sync::Arc::new(settled::cluster::raft_config("test").expect("config"));
    let Err(error) = settled::cluster::Node::start(1, dir.path(), listener, config, peers).await else {
        panic!("a node with a forged vote must not start");
    };
    let text = error.to_string();
    assert!(text.contains("forged"), "{text}");
    assert!(text.contains("settled cluster remove --id 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_raft_core_that_stops_on_its_own_is_fatal_for_the_replica() {
    let mut started = Started::new(|_| {}).await;
    let follower = (started.leader + 1) % started.replicas.len();
    let server = started.replicas[follower].server();
    let mut fatal = server.fatal().expect("a replica");
    assert!(fatal.borrow().is_none());
    // Stopped from under the node, as a panic or a storage error stops it.
    server.raft().expect("a replica").shutdown().await.expect("stops");
    let why = tokio::time::timeout(FATAL_HANG_GUARD, fatal.wait_for(Option::is_some))
        .await
        .expect("reported (hang guard)")
        .expect("reported")
        .clone();
    assert!(why.expect("a reason").contains("Raft core stopped"));
    // The engine stops with it: nothing more is confirmed through it.
    tokio::time::timeout(FATAL_HANG_GUARD, async {
        while !server.engine().failed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the engine failed stop");
    shutdown_all(&mut started.replicas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_configuration_without_peer_tls_is_refused_at_start() {
    let root = tempfile::tempdir().expect("temp dir");
    let issuers: Vec<settled::Keypair> = (0..3).map(|_| settled::Keypair::generate()).collect();
    let mut config = configs(root.path(), &issuers).remove(0);
    config.cluster.as_mut().expect("cluster").tls = None;
    let Err(error) = settled::Server::start(config.clone()).await else {
        panic!("a replica without peer TLS must not start");
    };
    assert!(error.to_string().contains("[cluster.tls] is missing"), "{error}");
    assert!(!config.data_dir.join(settled::cluster::LOG_FILE).exists(), "refused before any Raft file was made");
}

/// A member that pushes the term as far as it may (a step ahead) leaves no
/// cliff: the next honest candidate, one term later, is within reach of
/// every replica, a leader is elected and payments go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_pushing_the_term_a_step_ahead_leaves_the_cluster_able_to_elect() {
    let mut started = Started::new(|_| {}).await;
    let ca = cluster_ca(&started);
    let pusher = (started.leader + 1) % 3;
    let pusher_id = pusher as NodeId + 1;
    let before = started.replicas[started.leader].server().raft().expect("replica").metrics().borrow().current_term;
    let pushed = before + RAFT_TERM_STEP_MAX;
    for (index, replica) in started.replicas.iter().enumerate().filter(|(i, _)| *i != pusher) {
        let target = index as NodeId + 1;
        let mut own = rogue(raft_addr(replica), target, &ca, &Caller::Certificate { ca: &ca, as_node: pusher_id });
        let heartbeat = payload(&AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(pushed, pusher_id),
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: None,
        });
        // Admitted (a step ahead is within reach): openraft takes the term.
        let _ = own.raft.append_entries(heartbeat).await;
    }
    let urls: Vec<String> = started.replicas.iter().map(Replica::api_url).collect();
    let replicas = client::Replicas::lazy_with_token(&urls, TERMINAL_TOKEN).expect("addresses");
    let (key, coin) = started.payers[0].clone();
    let tx = client::pay(&started.chain, &key, coin, started.shop, 1, b"after the push");
    let (receipt, _) = replicas.submit(&tx).await.expect("a leader elected after the push confirms");
    assert!(receipt.sequence > 0);
    let term = leadership(&started.replicas).iter().map(|(_, term)| *term).max().expect("replicas");
    assert!(term > pushed, "an honest term past the pushed one ({term} <= {pushed})");
    shutdown_all(&mut started.replicas).await;
}
