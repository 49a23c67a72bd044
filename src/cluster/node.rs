//! One cluster node: its two stores in a data directory, the openraft `Raft`
//! over them, and the Raft service on the node's own listener.
//!
//! The Raft service has a tonic server of its own, on an address apart from
//! the public API's: peers reach it and clients never do, so it can be
//! firewalled to the cluster, given its own message bound
//! (`RAFT_MESSAGE_BYTES_MAX`, far above the public `GRPC_MESSAGE_BYTES_MAX`),
//! and started before any engine exists.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use openraft::Raft;
use openraft::error::Fatal;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;

use super::{
    GrpcNetworkFactory, LOG_FILE, NodeId, ProposalReader, RaftLogStore, RaftRpcService, RaftStateMachineStore,
    STATE_MACHINE_FILE, StorageError, TypeConfig,
};
use crate::limits::RAFT_SERVER_STOP_GRACE;

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
}

impl Node {
    /// Opens (or creates) the node's stores in `data_dir`, starts openraft
    /// with `config` and serves the Raft service on `listener`. A new node
    /// is uninitialised: one node of a new cluster calls
    /// `raft().initialize` with the members; a restarted one carries on from
    /// its files.
    ///
    /// # Errors
    /// A store cannot be opened, the listener has no address, or openraft
    /// refuses to start.
    pub async fn start(
        id: NodeId,
        data_dir: &Path,
        listener: TcpListener,
        config: Arc<openraft::Config>,
    ) -> Result<Self, NodeError> {
        Self::start_with_faults(id, data_dir, listener, config, None).await
    }

    /// [`Node::start`] with faults injected into the messages it sends
    /// (tests and simulations).
    ///
    /// # Errors
    /// As [`Node::start`].
    pub async fn start_with_faults(
        id: NodeId,
        data_dir: &Path,
        listener: TcpListener,
        config: Arc<openraft::Config>,
        faults: Option<super::NetworkFaults>,
    ) -> Result<Self, NodeError> {
        let addr = listener.local_addr().map_err(NodeError::Listener)?;
        let state_machine = RaftStateMachineStore::open(&data_dir.join(STATE_MACHINE_FILE))
            .map_err(|e| NodeError::Storage(Box::new(e)))?;
        let log = RaftLogStore::open(&data_dir.join(LOG_FILE))
            .map_err(|e| NodeError::Storage(Box::new(e)))?
            .purging_at_most(state_machine.durable_snapshot());
        let proposals = state_machine.reader();
        let files = [data_dir.join(LOG_FILE), data_dir.join(STATE_MACHINE_FILE)];
        let raft = Raft::new(id, config, GrpcNetworkFactory::with_faults(id, faults), log, state_machine)
            .await
            .map_err(|e| NodeError::Raft(Box::new(e)))?;

        // Small messages (votes, heartbeats) must not wait for delayed ACKs.
        let incoming = TcpListenerStream::new(listener)
            .map(|stream| stream.and_then(|stream| stream.set_nodelay(true).map(|()| stream)));
        let (stop, stopped) = oneshot::channel::<()>();
        let blocks = super::BlockSource::default();
        let router =
            tonic::transport::Server::builder().add_service(RaftRpcService::server(raft.clone(), blocks.clone()));
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        tracing::info!(id, %addr, "raft node serving");
        Ok(Self { id, addr, raft, proposals, blocks, stop, server, files })
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
        let Self { id, raft, proposals, stop, mut server, files, .. } = self;
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
