//! One cluster node: its two stores in a data directory, the openraft `Raft`
//! over them, and the Raft service on the node's own listener.
//!
//! The Raft service has a tonic server of its own, on an address apart from
//! the public API's: peers reach it and clients never do, so it can be
//! firewalled to the cluster, given its own message bounds
//! (`RAFT_MESSAGE_BYTES_MAX`, far above the public `GRPC_MESSAGE_BYTES_MAX`,
//! for appends and snapshots; `RAFT_SMALL_MESSAGE_BYTES_MAX` for the rest),
//! and started before any engine exists. It speaks only mutual TLS with the
//! cluster's CA (`peers.rs`), holds at most `RAFT_CONNECTIONS_MAX`
//! connections, each with a handshake deadline, keepalive, a bound on its
//! calls and an age.
//!
//! A Raft core that stops on its own (a panic, a storage error) is fatal
//! for the node: [`Node::fatal`] says so, and `settled serve` exits non-zero
//! so that its supervisor restarts it, rather than living on with a dead
//! core.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use openraft::Raft;
use openraft::error::Fatal;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{
    GrpcNetworkFactory, LOG_FILE, NodeId, ProposalReader, RaftLogStore, RaftRpcService, RaftStateMachineStore,
    STATE_MACHINE_FILE, StorageError, TypeConfig,
};
use crate::core::limits::{
    RAFT_CALLS_PER_CONNECTION_MAX, RAFT_CONNECTION_AGE_MAX, RAFT_CONNECTIONS_MAX, RAFT_CONNECTIONS_PER_ADDRESS_MAX,
    RAFT_KEEPALIVE_INTERVAL, RAFT_KEEPALIVE_TIMEOUT, RAFT_SERVER_STOP_GRACE, RAFT_TLS_HANDSHAKE_TIMEOUT,
};

/// How a node meets its peers.
#[derive(Clone, Debug)]
pub struct Peers {
    /// This member's certificate and key, and the cluster CA.
    pub tls: super::PeerTls,
    /// The members the node's configuration names: admitted as callers
    /// while the node holds no Raft membership yet.
    pub founders: Vec<NodeId>,
    /// Faults injected into the messages the node sends (tests only).
    pub faults: Option<super::NetworkFaults>,
}

/// Why a node could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A store in the data directory could not be opened.
    #[error("opening the Raft stores: {0}")]
    Storage(Box<StorageError>),
    /// openraft could not start, or stopped, on a fatal error.
    #[error("raft: {0}")]
    Raft(Box<Fatal<NodeId>>),
    /// The listener given has no local address.
    #[error("the Raft listener: {0}")]
    Listener(std::io::Error),
    /// The stored vote has a term no cluster reaches: it was forged (by a
    /// caller of a Raft port open to anyone), and openraft's core would
    /// stop at this node's first election.
    #[error(
        "the stored vote of node {id} has term {term}, beyond any term a cluster reaches ({max}): it was forged. This \
         node's vote of record is lost, so it must not vote again under this id: remove it from the cluster \
         (`settled cluster remove --id {id}`), then rejoin it with empty Raft files under a new id (`settled cluster \
         join-config`, `settled cluster add`)",
        max = crate::core::limits::RAFT_TERM_MAX
    )]
    ForgedVote { id: NodeId, term: u64 },
    /// The TLS configuration of the Raft port was refused.
    #[error("the Raft port's TLS: {0}")]
    Tls(tonic::transport::Error),
    /// openraft's core task panicked while stopping.
    #[error("stopping raft: {0}")]
    Stop(tokio::task::JoinError),
}

/// A running node. Dropping it without [`Node::shutdown`] leaves openraft
/// and the server running until the runtime ends.
pub struct Node {
    id: NodeId,
    addr: SocketAddr,
    raft: Raft<TypeConfig>,
    proposals: ProposalReader,
    blocks: super::BlockSource,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    /// The two stores' files.
    files: [std::path::PathBuf; 2],
    /// Set (with why) when the Raft core stopped without being asked to.
    fatal: tokio::sync::watch::Receiver<Option<String>>,
    watchdog: JoinHandle<()>,
}

impl Node {
    /// Opens (or creates) the node's stores in `data_dir`, starts openraft
    /// with `config` and serves the Raft service on `listener` to the peers
    /// `peers` admits. A new node is uninitialised: one node of a new
    /// cluster calls `raft().initialize` with the members; a restarted one
    /// carries on from its files.
    ///
    /// # Errors
    /// A store cannot be opened (or holds a forged vote), the listener has
    /// no address, the TLS material is refused, or openraft refuses to
    /// start.
    pub async fn start(
        id: NodeId,
        data_dir: &Path,
        listener: TcpListener,
        config: Arc<openraft::Config>,
        peers: Peers,
    ) -> Result<Self, NodeError> {
        let addr = listener.local_addr().map_err(NodeError::Listener)?;
        let state_machine = RaftStateMachineStore::open(&data_dir.join(STATE_MACHINE_FILE))
            .map_err(|e| NodeError::Storage(Box::new(e)))?;
        let log = RaftLogStore::open(&data_dir.join(LOG_FILE))
            .map_err(|e| NodeError::Storage(Box::new(e)))?
            .purging_at_most(state_machine.durable_snapshot());
        if let Some(vote) = log.stored_vote().map_err(|e| NodeError::Storage(Box::new(e)))?
            && vote.leader_id.term > crate::core::limits::RAFT_TERM_MAX
        {
            return Err(NodeError::ForgedVote { id, term: vote.leader_id.term });
        }
        let proposals = state_machine.reader();
        let files = [data_dir.join(LOG_FILE), data_dir.join(STATE_MACHINE_FILE)];
        let network = GrpcNetworkFactory::new(id, peers.tls.clone(), peers.faults.clone());
        let raft =
            Raft::new(id, config, network, log, state_machine).await.map_err(|e| NodeError::Raft(Box::new(e)))?;

        let bounds = crate::connections::Bounds {
            max: RAFT_CONNECTIONS_MAX,
            per_address_max: Some(RAFT_CONNECTIONS_PER_ADDRESS_MAX),
            first_bytes_within: RAFT_TLS_HANDSHAKE_TIMEOUT,
        };
        let incoming = crate::connections::limited(listener, bounds, "raft");
        let (stop, stopped) = oneshot::channel::<()>();
        let blocks = super::BlockSource::default();
        let (raft_service, peer_service) = RaftRpcService::servers(raft.clone(), blocks.clone(), peers.founders);
        let router = tonic::transport::Server::builder()
            .tls_config(peers.tls.server())
            .map_err(NodeError::Tls)?
            .http2_keepalive_interval(Some(RAFT_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(RAFT_KEEPALIVE_TIMEOUT))
            .max_concurrent_streams(Some(RAFT_CALLS_PER_CONNECTION_MAX))
            .max_connection_age(RAFT_CONNECTION_AGE_MAX)
            .add_service(raft_service)
            .add_service(peer_service);
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        let (fatal_tx, fatal) = tokio::sync::watch::channel(None);
        let watchdog = tokio::spawn(watch_core(id, raft.metrics(), fatal_tx));
        tracing::info!(id, %addr, "raft node serving (mutual TLS)");
        Ok(Self { id, addr, raft, proposals, blocks, stop, server, files, fatal, watchdog })
    }

    /// Why the Raft core stopped on its own (a panic or a storage error),
    /// once it has: the node can no longer take part in the cluster.
    #[must_use]
    pub fn fatal(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.fatal.clone()
    }

    #[must_use]
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Where the node's Raft service listens: the `addr` of its
    /// `ReplicaNode` in the membership.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    #[must_use]
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// Where the node's `FetchBlocks` reads: set it once the engine runs.
    #[must_use]
    pub fn block_source(&self) -> &super::BlockSource {
        &self.blocks
    }

    /// The applied proposals of this node's state machine.
    #[must_use]
    pub fn proposals(&self) -> &ProposalReader {
        &self.proposals
    }

    /// Stops serving peers (calls under way get `RAFT_SERVER_STOP_GRACE` to
    /// finish), then stops openraft, which closes the stores: the data
    /// directory can be opened again once this returns.
    ///
    /// # Errors
    /// openraft's core task panicked.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let Self { id, raft, proposals, stop, mut server, files, watchdog, .. } = self;
        // Asked to stop: not fatal.
        watchdog.abort();
        let _ = stop.send(());
        match tokio::time::timeout(RAFT_SERVER_STOP_GRACE, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(id, %error, "raft server stopped with an error"),
            Ok(Err(error)) => tracing::error!(id, %error, "raft server task failed"),
            Err(_) => {
                tracing::warn!(id, grace = ?RAFT_SERVER_STOP_GRACE, "raft calls still open; closing them");
                server.abort();
                let _ = server.await;
            }
        }
        drop(proposals);
        let stopped = raft.shutdown().await.map_err(NodeError::Stop);
        // openraft's state machine worker and storage calls on the blocking
        // pool may outlive its core task for a moment, and redb releases a
        // file's lock at the end of closing it: wait until both files can
        // be locked again.
        let deadline = tokio::time::Instant::now() + RAFT_SERVER_STOP_GRACE;
        while !files.iter().all(|path| std::fs::File::open(path).is_ok_and(|file| file.try_lock().is_ok())) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(id, "the raft stores are still open after stopping");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        stopped
    }
}

/// Watches the Raft core of node `id` through its metrics: a fatal error it
/// reports, or its end without one (a panic drops the metrics' sender), is
/// written to `fatal`. Stopped (aborted) by a shutdown that was asked for.
pub async fn watch_core(
    id: NodeId,
    mut metrics: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, super::ReplicaNode>>,
    fatal: tokio::sync::watch::Sender<Option<String>>,
) {
    let why = loop {
        if let Err(error) = &metrics.borrow_and_update().running_state {
            break format!("the Raft core stopped: {error}");
        }
        if metrics.changed().await.is_err() {
            break "the Raft core ended without a word (it panicked)".to_owned();
        }
    };
    tracing::error!(id, why, "fatal: this node can no longer take part in the cluster; restart it");
    fatal.send_replace(Some(why));
}
