//! Cluster mode: replicas of one ledger agreeing on its blocks through Raft
//! (openraft). docs/CLUSTER.md.
//!
//! Storage: two redb files in a node's data directory, each with one owner:
//! [`RaftLogStore`] (`raft-log.redb`: the log, the vote, the committed and
//! last purged log ids) and [`RaftStateMachineStore`] (`raft-sm.redb`: what
//! the applied entries built, and the last snapshot). They are separate so
//! that the log's fsync per append never waits behind a state machine write,
//! and so that compaction (a snapshot, then a purge of the log) touches each
//! file once. Every write is fsynced (`Durability::Immediate`) before the
//! call returns, except the committed log id (a hint openraft can recover)
//! and an apply (its entries are in the log, applied again after a crash).
//!
//! Entries, votes and snapshot metadata are stored with postcard. redb calls
//! block, so each runs on tokio's blocking pool, never on a runtime worker
//! (except on a simulated disk, in the deterministic simulation: there each
//! runs on the calling task).
//!
//! The transport: openraft's messages between nodes over gRPC with mutual
//! TLS (`RaftService`, `PeerService`, [`GrpcNetworkFactory`] and
//! [`RaftRpcService`]; who may call, `peers.rs`), served by each [`Node`] on
//! its own address.
//!
//! The engine on Raft: [`RaftReplicator`] (the leader's writer
//! proposes each block and waits for its commit) and [`spawn_link`] (hands
//! committed blocks to a follower's engine, promotes and demotes the engine
//! as leadership moves); [`init`] writes a new cluster's files. See
//! docs/CLUSTER.md.

pub mod init;
mod link;
mod log_store;
mod network;
mod node;
mod peers;
mod state_machine;

use std::collections::BTreeMap;
use std::io::Cursor;

use openraft::{StorageIOError, TokioRuntime};
use serde::{Deserialize, Serialize};

pub use link::{
    FeedStep, RaftReplicator, feed_step, fetched_height, missing_through, ready_to_lead, same_chain_as, spawn_link,
};
pub use log_store::RaftLogStore;
pub use network::{
    BlockSource, GrpcNetwork, GrpcNetworkFactory, NetworkFaults, RaftRpcService, fetch_blocks, peer_status,
};
pub use node::{Node, NodeError, Peers, watch_core};
pub use peers::{
    CA_CERT_FILE, CA_KEY_FILE, ClusterCa, Local, PEER_CA_FILE, PEER_CERT_FILE, PEER_KEY_FILE, PeerTls, admit_append,
    admit_snapshot, admit_vote, node_of_certificate, peer_name,
};
pub use state_machine::{ProposalReader, RaftStateMachineStore, SnapshotBuilder};

/// The last log index the state machine holds durably: at open, what its
/// file holds (opening commits with an fsync, so every apply before is on
/// disk); after, its last snapshot built or installed (its only other
/// fsynced writes; every apply before one is made durable with it). The
/// state machine raises it; the log store, given it
/// ([`RaftLogStore::purging_at_most`]), purges no entry before a durable
/// snapshot covers it.
///
/// openraft 0.9 purges the log as soon as it hands a snapshot received from
/// the leader to the state machine, without waiting for the install: a
/// crash between the two left a log purged past a state machine that never
/// got the snapshot, and the node could not start again ("Failed to get log
/// entries"). Found by the cluster simulation (`settled-simulations raft`,
/// seed 12). The purge now waits for the install, at most
/// `RAFT_PURGE_WAIT`, and fails at once if the install failed. openraft's
/// core does nothing else while it waits (no heartbeat or vote answered, no
/// entry appended, so none past a hole either).
#[derive(Debug, Clone)]
pub struct DurableSnapshot(std::sync::Arc<tokio::sync::watch::Sender<Durable>>);

#[derive(Debug, Clone, Default)]
struct Durable {
    index: Option<u64>,
    /// Why an install failed: no snapshot is coming.
    failed: Option<String>,
}

impl Default for DurableSnapshot {
    fn default() -> Self {
        Self(std::sync::Arc::new(tokio::sync::watch::Sender::new(Durable::default())))
    }
}

impl DurableSnapshot {
    /// Records the state through log index `index` as durable.
    fn raise(&self, index: u64) {
        self.0.send_if_modified(|durable| {
            let raised = durable.index.is_none_or(|durable| durable < index);
            if raised {
                durable.index = Some(index);
            }
            raised
        });
    }

    /// Records that installing a snapshot failed (the node stops).
    fn fail(&self, why: String) {
        self.0.send_modify(|durable| durable.failed = Some(why));
    }

    /// The last log index the durable state covers, if any.
    #[must_use]
    pub fn index(&self) -> Option<u64> {
        self.0.borrow().index
    }

    /// Waits until the durable state covers `index`, at most `wait`.
    ///
    /// # Errors
    /// Why it does not: the install failed, or the wait ran out.
    async fn covers(&self, index: u64, wait: std::time::Duration) -> Result<(), String> {
        let mut durable = self.0.subscribe();
        let waited = tokio::time::timeout(
            wait,
            durable.wait_for(|durable| durable.index.is_some_and(|d| d >= index) || durable.failed.is_some()),
        )
        .await;
        match waited {
            Ok(Ok(durable)) => match &durable.failed {
                Some(why) if durable.index.is_none_or(|d| d < index) => {
                    Err(format!("installing a snapshot failed: {why}"))
                }
                _ => Ok(()),
            },
            Ok(Err(_)) => Err("the state machine is gone".to_owned()),
            Err(_) => Err(format!("no snapshot covering it was made durable within {} s", wait.as_secs())),
        }
    }
}

/// File name of the log store in a node's data directory.
pub const LOG_FILE: &str = "raft-log.redb";
/// File name of the state machine store in a node's data directory.
pub const STATE_MACHINE_FILE: &str = "raft-sm.redb";

/// A Raft node's id.
pub type NodeId = u64;

/// Entries applied since the last snapshot that trigger the next one.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 4096;
/// Entries kept in the log behind a snapshot, so that a follower slightly
/// behind catches up from the log rather than by a whole snapshot. The log
/// thus holds at most about `SNAPSHOT_EVERY_ENTRIES + LOG_KEPT_AFTER_SNAPSHOT`
/// applied entries.
pub const LOG_KEPT_AFTER_SNAPSHOT: u64 = 1024;

/// How often a leader sends AppendEntries (heartbeat or not). openraft 0.9
/// also uses it as the hard time limit of each AppendEntries call, which
/// includes the follower's fsync of the entries: openraft's 50 ms default
/// leaves too little for an fsync on a busy disk, and every call that misses
/// it is sent again.
pub const HEARTBEAT_INTERVAL_MS: u64 = 100;
/// A follower that hears no leader for a random time in
/// `ELECTION_TIMEOUT_MIN_MS..ELECTION_TIMEOUT_MAX_MS` stands for election;
/// also the time limit of a Vote call. Several heartbeats long, so that one
/// slow fsync or a lost call does not depose a working leader. openraft 0.9
/// adds its leader lease (`ELECTION_TIMEOUT_MAX_MS`) after a leader was
/// known, so a follower stands 1.2..1.6 s after the last heartbeat: that,
/// plus the vote and the new leader's catch-up, is the fail-over time.
/// (800..1,600 ms gave 2.4..3.2 s.)
pub const ELECTION_TIMEOUT_MIN_MS: u64 = 400;
/// Upper end of the election timeout (see `ELECTION_TIMEOUT_MIN_MS`).
pub const ELECTION_TIMEOUT_MAX_MS: u64 = 800;
/// Time limit of one InstallSnapshot call (one chunk of at most
/// `RAFT_SNAPSHOT_CHUNK_BYTES`); the last chunk includes installing the
/// whole snapshot on the follower in one fsynced write transaction.
pub const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 10_000;

/// openraft's configuration with this cluster's timing and compaction
/// policy.
///
/// # Errors
/// openraft refuses the configuration (it checks its own invariants).
#[allow(clippy::result_large_err, reason = "openraft's own ConfigError, returned as it is")]
pub fn raft_config(cluster_name: &str) -> Result<openraft::Config, openraft::ConfigError> {
    raft_config_compacting(cluster_name, SNAPSHOT_EVERY_ENTRIES, LOG_KEPT_AFTER_SNAPSHOT)
}

/// [`raft_config`] with another compaction policy: a snapshot every
/// `snapshot_every` applied entries, `kept` entries kept behind it.
///
/// # Errors
/// openraft refuses the configuration.
#[allow(clippy::result_large_err, reason = "openraft's own ConfigError, returned as it is")]
pub fn raft_config_compacting(
    cluster_name: &str,
    snapshot_every: u64,
    kept: u64,
) -> Result<openraft::Config, openraft::ConfigError> {
    openraft::Config {
        cluster_name: cluster_name.to_string(),
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every),
        max_in_snapshot_log_to_keep: kept,
        heartbeat_interval: HEARTBEAT_INTERVAL_MS,
        election_timeout_min: ELECTION_TIMEOUT_MIN_MS,
        election_timeout_max: ELECTION_TIMEOUT_MAX_MS,
        install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
        snapshot_max_chunk_size: crate::core::limits::RAFT_SNAPSHOT_CHUNK_BYTES,
        ..openraft::Config::default()
    }
    .validate()
}

openraft::declare_raft_types!(
    /// The openraft type configuration of a Settled cluster.
    pub TypeConfig:
        D = BlockProposal,
        R = ApplyOutcome,
        NodeId = NodeId,
        Node = ReplicaNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = TokioRuntime,
);

/// A member as the cluster's membership records it: where its peers reach
/// its Raft service, and where clients reach its public API (named in
/// `NOT_LEADER` refusals). A member added later brings both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaNode {
    pub raft_addr: String,
    pub api_addr: String,
}

impl ReplicaNode {
    /// A member to add, as `AddReplica` names it: an id other than 0 and
    /// both addresses `host:port`.
    ///
    /// # Errors
    /// What is wrong with it, for the caller.
    pub fn to_add(id: NodeId, raft_addr: String, api_addr: String) -> Result<(NodeId, Self), String> {
        if id == 0 {
            return Err("replica id 0 is not an id".to_owned());
        }
        for (what, address) in [("raft_addr", &raft_addr), ("api_addr", &api_addr)] {
            if address.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!("{what} '{address}' is not host:port"));
            }
        }
        Ok((id, Self { raft_addr, api_addr }))
    }

    /// A member reached at `raft_addr`, with no public API (tests of the
    /// Raft layer alone).
    #[must_use]
    pub fn raft_only(raft_addr: impl Into<String>) -> Self {
        Self { raft_addr: raft_addr.into(), api_addr: String::new() }
    }
}

/// A log entry of the cluster.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id of the cluster.
pub type LogId = openraft::LogId<NodeId>;
/// The storage error openraft expects from a store.
pub type StorageError = openraft::StorageError<NodeId>;

/// What the leader proposes for one height of the chain: `bytes` is the
/// sealed block as a `replica::ReplicatedBlock`, signed by the engine, which
/// every replica's engine replays through its ledger (`cluster::spawn_link`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockProposal {
    pub height: u64,
    pub bytes: Vec<u8>,
}

/// What applying one log entry did. openraft wants one per entry, blank and
/// membership entries included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// The proposal filled its height.
    Applied { height: u64 },
    /// An earlier entry already filled this height: the first committed
    /// proposal for a height wins and this one changed nothing. Every replica
    /// applies the same log in the same order, so all agree on which won.
    HeightTaken { height: u64 },
    /// The proposal skips a height (`expected` is the next one): the chain
    /// has no gaps, so it changed nothing. A leader that sealed on a ledger
    /// the cluster did not commit proposes such a block; it steps down.
    OutOfOrder { height: u64, expected: u64 },
    /// A blank or membership entry: nothing for the chain.
    NoBlock,
}

/// Why a blocking storage step failed; each public call maps it to the
/// `StorageError` subject openraft expects of that call.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    #[error("decode: {0}")]
    Codec(#[from] postcard::Error),
    #[error("storage task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Invariant(String),
}

from_redb_errors!(Fault);

/// Where a store runs its redb steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steps {
    /// On tokio's blocking pool: a commit waits for an fsync, which must not
    /// stall the runtime's workers (openraft's core, the network).
    Blocking,
    /// On the calling task: a store on a simulated disk (nothing to wait
    /// for) in the deterministic simulation, whose history must not depend
    /// on when a thread of the blocking pool finishes.
    Inline,
}

impl Steps {
    async fn run<T: Send + 'static>(
        self,
        step: impl FnOnce() -> Result<T, Fault> + Send + 'static,
    ) -> Result<T, Fault> {
        match self {
            Self::Blocking => tokio::task::spawn_blocking(step).await?,
            Self::Inline => step(),
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Fault> {
    Ok(postcard::to_allocvec(value)?)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Fault> {
    Ok(postcard::from_bytes(bytes)?)
}

/// Opens (or creates) a store's redb file and creates its tables up front
/// (in `tables`), so that a read of a fresh store never meets a missing one.
#[allow(clippy::result_large_err, reason = "openraft's StorageError, as from every other call of the stores")]
fn open_database(
    file: Result<redb::Database, redb::DatabaseError>,
    tables: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::TableError>,
) -> Result<std::sync::Arc<redb::Database>, StorageError> {
    let create = || -> Result<redb::Database, Fault> {
        let db = file?;
        let mut write = db.begin_write()?;
        write.set_durability(redb::Durability::Immediate)?;
        tables(&write)?;
        write.commit()?;
        Ok(db)
    };
    let db = create().map_err(|fault| store_error(openraft::ErrorVerb::Write, &fault))?;
    Ok(std::sync::Arc::new(db))
}

/// A fault of a step with no better subject (opening a file).
fn store_error(verb: openraft::ErrorVerb, fault: &Fault) -> StorageError {
    StorageIOError::new(openraft::ErrorSubject::Store, verb, fault).into()
}

/// The members of a new cluster as openraft's `initialize` takes them.
#[must_use]
pub fn initial_members(cluster: &crate::config::ClusterConfig) -> BTreeMap<NodeId, ReplicaNode> {
    cluster
        .members
        .iter()
        .map(|m| (m.id, ReplicaNode { raft_addr: m.raft_addr.clone(), api_addr: m.api_addr.clone() }))
        .collect()
}
