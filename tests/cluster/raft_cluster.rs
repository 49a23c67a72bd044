//! A three-node cluster over real gRPC on loopback, each node on its own
//! redb files: it elects a leader, replicates proposals to every state
//! machine, sends client writes on a follower to the leader, survives the
//! leader's shutdown, and a restarted node catches up from its own files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use openraft::error::{ClientWriteError, RaftError};
use settled::cluster::ReplicaNode;
use settled::cluster::{ApplyOutcome, BlockProposal, ClusterCa, Node, NodeId, PeerTls, Peers, raft_config};
use settled::limits::RAFT_PROPOSALS_PAGE_MAX;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// Hang guards on the nodes agreeing on a leader (a few election timeouts,
/// `ELECTION_TIMEOUT_MAX_MS` is 1.6 s, normally) and on a node applying up to
/// a log index: reaching one only turns a hang into a failure.
const LEADER_HANG_GUARD: Duration = Duration::from_secs(60);
const APPLY_HANG_GUARD: Duration = Duration::from_secs(60);
/// Pause between two looks at the nodes' metrics.
const POLL: Duration = Duration::from_millis(20);
/// Proposals written while all three nodes run.
const FIRST_PROPOSALS: u64 = 20;
/// Proposals written after the first leader stopped.
const MORE_PROPOSALS: u64 = 10;

/// A node's data directory outlives the node, so that it can be restarted.
struct Member {
    id: NodeId,
    dir: TempDir,
    addr: SocketAddr,
    node: Option<Node>,
}

impl Member {
    fn node(&self) -> &Node {
        self.node.as_ref().unwrap_or_else(|| panic!("node {} is running", self.id))
    }
}

/// Member `id`'s certificate of `ca`; the founders are nodes 1 to 3.
fn peers(ca: &ClusterCa, id: NodeId) -> Peers {
    let (cert, key) = ca.issue(id).expect("a member certificate");
    Peers { tls: PeerTls::from_pem(ca.cert_pem(), &cert, &key), founders: vec![1, 2, 3], faults: None }
}

async fn start_node(ca: &ClusterCa, id: NodeId, dir: &Path, addr: SocketAddr) -> Node {
    let listener = TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("node {id} binds {addr}: {e}"));
    let config = Arc::new(raft_config("settled-test").expect("config"));
    Node::start(id, dir, listener, config, peers(ca, id)).await.unwrap_or_else(|e| panic!("node {id} starts: {e}"))
}

fn proposal(height: u64) -> BlockProposal {
    BlockProposal { height, bytes: format!("block {height}").into_bytes() }
}

/// Waits until every running node among `members` names the same leader,
/// one of them, other than `not`; returns its id.
async fn wait_for_leader(members: &[Member], not: Option<NodeId>) -> NodeId {
    let running: Vec<&Node> = members.iter().filter_map(|m| m.node.as_ref()).collect();
    let deadline = Instant::now() + LEADER_HANG_GUARD;
    loop {
        let seen: Vec<(NodeId, Option<NodeId>, ServerState)> = running
            .iter()
            .map(|node| {
                let metrics = node.raft().metrics().borrow().clone();
                (node.id(), metrics.current_leader, metrics.state)
            })
            .collect();
        let leader = seen[0].1;
        if let Some(leader) = leader
            && Some(leader) != not
            && seen.iter().all(|(_, seen_leader, _)| *seen_leader == Some(leader))
            && seen.iter().any(|(id, _, state)| *id == leader && *state == ServerState::Leader)
        {
            return leader;
        }
        assert!(
            Instant::now() < deadline,
            "expected the running nodes to agree on a leader among them (not {not:?}) within {LEADER_HANG_GUARD:?}; \
             (node, leader seen, state): {seen:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_applied(node: &Node, index: u64) {
    node.raft()
        .wait(Some(APPLY_HANG_GUARD))
        .applied_index_at_least(Some(index), format!("node {} applies up to log index {index}", node.id()))
        .await
        .unwrap_or_else(|e| {
            panic!("expected node {} to apply up to log index {index} within {APPLY_HANG_GUARD:?}: {e}", node.id())
        });
}

fn assert_holds(node: &Node, last_height: u64) {
    let held = node.proposals().proposals(0, RAFT_PROPOSALS_PAGE_MAX).expect("read proposals");
    let expected: Vec<BlockProposal> = (1..=last_height).map(proposal).collect();
    assert_eq!(held, expected, "node {} holds exactly the proposals 1..={last_height}", node.id());
}

async fn write(leader: &Node, heights: std::ops::RangeInclusive<u64>) -> u64 {
    let mut last_index = 0;
    for height in heights {
        let written = leader
            .raft()
            .client_write(proposal(height))
            .await
            .unwrap_or_else(|e| panic!("leader {} accepts proposal {height}: {e}", leader.id()));
        assert_eq!(written.data, ApplyOutcome::Applied { height }, "proposal {height} fills its height");
        last_index = written.log_id.index;
    }
    last_index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_fail_over_and_a_restarted_node_catches_up() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();

    let ca = ClusterCa::generate("test").expect("a cluster CA");
    let mut members = Vec::new();
    for id in 1..=3 {
        let dir = tempfile::tempdir().expect("tempdir");
        // Below the ephemeral range (`dev::free_port`), not port 0: the node
        // binds the same address again when it restarts, and no outgoing
        // connection of this process can take the port in between.
        let addr = settled::dev::free_port();
        let listener = TcpListener::bind(addr).await.expect("bind");
        let config = Arc::new(raft_config("settled-test").expect("config"));
        let node = Node::start(id, dir.path(), listener, config, peers(&ca, id)).await.expect("start node");
        members.push(Member { id, dir, addr, node: Some(node) });
    }
    let voters: BTreeMap<NodeId, ReplicaNode> =
        members.iter().map(|m| (m.id, ReplicaNode::raft_only(m.addr.to_string()))).collect();
    members[0].node().raft().initialize(voters).await.expect("initialize the cluster with three voters");

    // Every node applies what the leader wrote, in the same order.
    let leader_id = wait_for_leader(&members, None).await;
    let leader_at = members.iter().position(|m| m.id == leader_id).expect("the leader is a member");
    let last_index = write(members[leader_at].node(), 1..=FIRST_PROPOSALS).await;
    for member in &members {
        wait_applied(member.node(), last_index).await;
        assert_holds(member.node(), FIRST_PROPOSALS);
    }

    // A follower does not take writes; it names the leader to send them to.
    let follower = members.iter().find(|m| m.id != leader_id).expect("a follower").node();
    match follower.raft().client_write(proposal(FIRST_PROPOSALS + 1)).await {
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
            assert_eq!(forward.leader_id, Some(leader_id), "the follower names the leader");
            assert_eq!(
                forward.leader_node.map(|node| node.raft_addr),
                Some(members[leader_at].addr.to_string()),
                "the follower gives the leader's Raft address"
            );
        }
        other => {
            panic!("expected ForwardToLeader naming node {leader_id} from follower {}, got {other:?}", follower.id())
        }
    }

    // The leader stops; the other two elect one of themselves and go on.
    members[leader_at].node.take().expect("leader running").shutdown().await.expect("leader shuts down");
    let new_leader_id = wait_for_leader(&members, Some(leader_id)).await;
    let new_leader_at = members.iter().position(|m| m.id == new_leader_id).expect("the new leader is a member");
    let last_height = FIRST_PROPOSALS + MORE_PROPOSALS;
    let last_index = write(members[new_leader_at].node(), FIRST_PROPOSALS + 1..=last_height).await;
    for member in members.iter().filter(|m| m.node.is_some()) {
        wait_applied(member.node(), last_index).await;
        assert_holds(member.node(), last_height);
    }

    // The old leader restarts from its files on its old address (the one
    // in the membership) and catches up as a follower.
    let old = &mut members[leader_at];
    old.node = Some(start_node(&ca, old.id, old.dir.path(), old.addr).await);
    wait_applied(members[leader_at].node(), last_index).await;
    assert_holds(members[leader_at].node(), last_height);
    assert_eq!(wait_for_leader(&members, None).await, new_leader_id, "the restarted node follows the new leader");

    for member in &mut members {
        if let Some(node) = member.node.take() {
            node.shutdown().await.unwrap_or_else(|e| panic!("node {} shuts down: {e}", member.id));
        }
    }
}
