//! The engine on Raft (increment 4): what ties a node's engine to its
//! openraft.
//!
//! - [`RaftReplicator`]: the leader's writer proposes each sealed block and
//!   waits until a majority has made it durable and it is applied
//!   (`client_write`), within `REPLICATE_TIMEOUT`.
//! - [`spawn_link`]: a task that follows openraft's state. While the node
//!   does not lead, it hands every committed block to the engine
//!   ([`Engine::follow`]) in height order and keeps the leader's address for
//!   refusals. When the node is elected, it first waits until everything
//!   committed before its term is applied (`ensure_linearizable`) and
//!   written by the engine, then lets the engine seal ([`Engine::lead`]).
//!   When the node stops leading, the engine steps down.

use std::collections::HashMap;
use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Raft, ServerState};
use tokio::task::JoinHandle;

use super::{ApplyOutcome, BlockProposal, NodeId, ProposalReader, TypeConfig};
use crate::engine::{Engine, FollowError, NotCommitted, Replicator};
use crate::limits::{CLUSTER_POLL, RAFT_PROPOSALS_PAGE_MAX, REPLICATE_TIMEOUT};

/// Node id -> its public API address, for `NotLeader` refusals.
pub type ApiAddresses = Arc<HashMap<NodeId, String>>;

/// Replicates the leader's blocks through openraft.
pub struct RaftReplicator {
    raft: Raft<TypeConfig>,
    runtime: tokio::runtime::Handle,
    api: ApiAddresses,
}

impl RaftReplicator {
    /// `runtime` runs openraft; the engine's writer thread blocks on it.
    #[must_use]
    pub fn new(raft: Raft<TypeConfig>, runtime: tokio::runtime::Handle, api: ApiAddresses) -> Self {
        Self { raft, runtime, api }
    }

    fn api_of(&self, id: Option<NodeId>) -> Option<String> {
        id.and_then(|id| self.api.get(&id).cloned())
    }
}

impl Replicator for RaftReplicator {
    fn replicate(&self, height: u64, block: Vec<u8>) -> Result<(), NotCommitted> {
        let raft = self.raft.clone();
        let written = self.runtime.block_on(async move {
            tokio::time::timeout(REPLICATE_TIMEOUT, raft.client_write(BlockProposal { height, bytes: block })).await
        });
        match written {
            Ok(Ok(response)) => match response.data {
                ApplyOutcome::Applied { .. } => Ok(()),
                other => Err(NotCommitted {
                    leader: self.api_of(self.raft.metrics().borrow().current_leader),
                    why: format!("the cluster did not take block {height} as this node's: {other:?}"),
                }),
            },
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => Err(NotCommitted {
                leader: self.api_of(forward.leader_id),
                why: format!("node {:?} leads", forward.leader_id),
            }),
            Ok(Err(error)) => Err(NotCommitted { leader: None, why: error.to_string() }),
            Err(_) => Err(NotCommitted {
                leader: None,
                why: format!("block {height} not committed within {} ms", REPLICATE_TIMEOUT.as_millis()),
            }),
        }
    }
}

/// Starts the task that keeps `engine` in step with `raft` (see the module
/// documentation). It ends when openraft stops.
#[must_use]
pub fn spawn_link(
    engine: Arc<Engine>,
    raft: Raft<TypeConfig>,
    proposals: ProposalReader,
    id: NodeId,
    api: ApiAddresses,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut metrics = raft.metrics();
        // The highest height handed to the engine.
        let mut fed = engine.tip().block.header.height;
        loop {
            let state = metrics.borrow_and_update().clone();
            if let Err(fatal) = &state.running_state {
                tracing::error!(%fatal, "raft stopped: this replica no longer leads or follows");
                engine.step_down(None);
                return;
            }
            let leads = state.state == ServerState::Leader && state.current_leader == Some(id);
            let hint = state.current_leader.filter(|leader| *leader != id).and_then(|leader| api.get(&leader).cloned());
            if engine.leading() {
                if !leads {
                    engine.step_down(hint);
                    fed = engine.tip().block.header.height;
                }
            } else {
                engine.set_leader_hint(hint);
                fed = feed(&engine, &proposals, fed).await;
                if leads && take_lead(&engine, &raft, &proposals, &mut fed).await {
                    engine.lead();
                }
            }
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(CLUSTER_POLL) => {}
            }
        }
    })
}

/// Hands the engine every applied proposal above `fed`, in height order;
/// returns the highest handed over.
async fn feed(engine: &Engine, proposals: &ProposalReader, mut fed: u64) -> u64 {
    loop {
        let reader = proposals.clone();
        let start = fed + 1;
        let read = move || reader.proposals(start, RAFT_PROPOSALS_PAGE_MAX).map_err(|e| e.to_string());
        let page = match tokio::task::spawn_blocking(read).await {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => {
                tracing::error!(%error, "reading committed blocks");
                return fed;
            }
            Err(error) => {
                tracing::error!(%error, "reading committed blocks");
                return fed;
            }
        };
        if page.is_empty() {
            return fed;
        }
        for proposal in page {
            if proposal.height != fed + 1 {
                tracing::error!(height = proposal.height, expected = fed + 1, "a gap in the committed blocks");
                return fed;
            }
            loop {
                match engine.follow(proposal.bytes.clone()) {
                    Ok(()) => break,
                    Err(FollowError::Full) => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
                    Err(FollowError::Stopped) => return fed,
                }
            }
            fed = proposal.height;
        }
    }
}

/// A newly elected node may seal only once every block committed before its
/// term is applied to its engine and written: otherwise it would seal a
/// height the cluster already filled.
async fn take_lead(engine: &Engine, raft: &Raft<TypeConfig>, proposals: &ProposalReader, fed: &mut u64) -> bool {
    match tokio::time::timeout(REPLICATE_TIMEOUT, raft.ensure_linearizable()).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::info!(%error, "elected, but not confirmed as leader yet");
            return false;
        }
        Err(_) => return false,
    }
    *fed = feed(engine, proposals, *fed).await;
    let reader = proposals.clone();
    let committed = match tokio::task::spawn_blocking(move || reader.last_height().map_err(|e| e.to_string())).await {
        Ok(Ok(height)) => height,
        _ => return false,
    };
    // The sequencer may still hold blocks it sealed in an earlier
    // leadership and never got committed: they are undone first.
    if *fed < committed || engine.settle().await != Some(committed) {
        return false;
    }
    let mut durable = engine.durable_heights();
    matches!(tokio::time::timeout(REPLICATE_TIMEOUT, durable.wait_for(|height| *height >= committed)).await, Ok(Ok(_)))
}
