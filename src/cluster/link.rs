//! The engine on Raft: what ties a node's engine to its
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
//!
//! Its decisions are pure functions ([`feed_step`], [`missing_through`],
//! [`fetched_height`], [`ready_to_lead`], [`same_chain_as`]) that the
//! deterministic cluster simulation calls too.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{Raft, ServerState};
use tokio::task::JoinHandle;

use super::{ApplyOutcome, BlockProposal, NodeId, ProposalReader, TypeConfig};
use crate::core::limits::{
    CLUSTER_FEED_PAGE, CLUSTER_POLL, CLUSTER_PRUNE_EVERY_BLOCKS, RAFT_FETCH_BLOCKS_MAX, RAFT_FETCH_RETRY_DELAY,
    REPLICATE_TIMEOUT,
};
use crate::core::receipt::SignedHeader;
use crate::core::types::{Address, ChainId};
use crate::engine::{ClusterState, Engine, NotCommitted, Replicator};

/// What the link does with a committed proposal at `height`, given the
/// highest height handed to the engine (`fed`) and the engine's durable tip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedStep {
    /// At or below what was handed over (the page may start lower).
    Skip,
    /// Not the next height: a gap in the committed blocks; stop for now.
    Gap,
    /// The engine wrote it itself, leading when it was committed: it counts
    /// as handed over.
    AlreadyWritten,
    /// The next block: hand it to the engine to replay.
    Replay,
}

/// See [`FeedStep`].
#[must_use]
pub fn feed_step(fed: u64, engine_tip: u64, height: u64) -> FeedStep {
    if height <= fed {
        FeedStep::Skip
    } else if height != fed + 1 {
        FeedStep::Gap
    } else if height <= engine_tip {
        FeedStep::AlreadyWritten
    } else {
        FeedStep::Replay
    }
}

/// Where the state machine's first held proposal (`first`) is past the next
/// height to hand over, a snapshot replaced the blocks in between: the
/// last of them, to fetch from a peer's ledger.
#[must_use]
pub fn missing_through(fed: u64, first: u64) -> Option<u64> {
    (first > fed + 1).then(|| first - 1)
}

/// The height of a block fetched from a peer, which must decode for this
/// chain and be the next one to hand over.
///
/// # Errors
/// Why the block is not the one wanted.
pub fn fetched_height(bytes: &[u8], fed: u64, engine_key: &Address, chain: &ChainId) -> Result<u64, String> {
    let block = crate::engine::replica::ReplicatedBlock::decode(bytes, engine_key, chain)
        .map_err(|error| format!("a fetched block does not decode: {error}"))?;
    let height = block.signed.header.height;
    if height != fed + 1 {
        return Err(format!("a fetched block out of order: {height}, expected {}", fed + 1));
    }
    Ok(height)
}

/// A newly elected node may seal once it has handed over (`fed`) and its
/// sequencer stands at (`sequencer_tip`, after undoing what it sealed in an
/// earlier leadership) every block committed before its term.
#[must_use]
pub fn ready_to_lead(fed: u64, committed: u64, sequencer_tip: Option<u64>) -> bool {
    fed >= committed && sequencer_tip == Some(committed)
}

/// Whether this replica's block at the committed height (`ours`) is the
/// cluster's (`proposal`): a replica holding another chain must never
/// lead.
///
/// # Errors
/// When the proposal does not decode for this chain.
pub fn same_chain_as(
    proposal: &BlockProposal,
    ours: &SignedHeader,
    engine_key: &Address,
    chain: &ChainId,
) -> Result<bool, String> {
    let block = crate::engine::replica::ReplicatedBlock::decode(&proposal.bytes, engine_key, chain)
        .map_err(|e| e.to_string())?;
    Ok(block.signed.header.height == ours.header.height && block.signed.header.hash() == ours.header.hash())
}

/// The public API address of member `id`, as the membership records it.
fn api_address(raft: &Raft<TypeConfig>, id: Option<NodeId>) -> Option<String> {
    let id = id?;
    let metrics = raft.metrics();
    let state = metrics.borrow();
    let node = state.membership_config.membership().get_node(&id)?;
    (!node.api_addr.is_empty()).then(|| node.api_addr.clone())
}

/// Every member as the leader `state` sees it: its role and how far its log
/// has reached.
fn replicas(state: &openraft::RaftMetrics<NodeId, crate::cluster::ReplicaNode>) -> Vec<crate::engine::ReplicaState> {
    let membership = state.membership_config.membership();
    let last = state.last_log_index.unwrap_or_default();
    let voters: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
    membership
        .nodes()
        .map(|(id, node)| {
            let matched = match state.replication.as_ref().and_then(|replication| replication.get(id)) {
                Some(log_id) => log_id.as_ref().map_or(0, |log_id| log_id.index),
                // The leader itself.
                None if *id == state.id => last,
                None => 0,
            };
            crate::engine::ReplicaState {
                id: *id,
                role: match (*id == state.id, voters.contains(id)) {
                    (true, _) => "leader",
                    (false, true) => "follower",
                    (false, false) => "learner",
                },
                matched_log_index: matched,
                lag_entries: last.saturating_sub(matched),
                api_addr: node.api_addr.clone(),
            }
        })
        .collect()
}

/// Replicates the leader's blocks through openraft.
pub struct RaftReplicator {
    raft: Raft<TypeConfig>,
    runtime: tokio::runtime::Handle,
}

impl RaftReplicator {
    /// `runtime` runs openraft; the engine's writer thread blocks on it.
    #[must_use]
    pub fn new(raft: Raft<TypeConfig>, runtime: tokio::runtime::Handle) -> Self {
        Self { raft, runtime }
    }

    fn api_of(&self, id: Option<NodeId>) -> Option<String> {
        api_address(&self.raft, id)
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
                // Committed, and refused by every replica alike.
                other => Err(NotCommitted {
                    leader: self.api_of(self.raft.metrics().borrow().current_leader),
                    why: format!("the cluster did not take block {height} as this node's: {other:?}"),
                    in_doubt: false,
                }),
            },
            // openraft also answers writes it had appended this way when
            // leadership moves on: the next leader may commit them.
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => Err(NotCommitted {
                leader: self.api_of(forward.leader_id),
                why: format!("node {:?} leads", forward.leader_id),
                in_doubt: true,
            }),
            Ok(Err(error)) => Err(NotCommitted { leader: None, why: error.to_string(), in_doubt: true }),
            Err(_) => Err(NotCommitted {
                leader: None,
                why: format!("block {height} not committed within {} ms", REPLICATE_TIMEOUT.as_millis()),
                in_doubt: true,
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
    tls: super::PeerTls,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut metrics = raft.metrics();
        // The highest height handed to the engine.
        let mut fed = engine.tip().block.header.height;
        // The state machine holds no block at or below this one.
        let mut pruned = 0;
        loop {
            let state = metrics.borrow_and_update().clone();
            if let Err(fatal) = &state.running_state {
                engine.step_down(None);
                engine.fail_stop(&format!("raft stopped ({fatal}): this replica no longer leads or follows"));
                return;
            }
            if engine.failed() {
                // A replica that cannot confirm must not hold the
                // leadership: it stops standing for election and stops
                // sending heartbeats, so that the others elect a leader. It
                // still stores the log for them until it is restarted.
                raft.runtime_config().elect(false);
                raft.runtime_config().heartbeat(false);
                engine.step_down(None);
                tracing::error!("engine failed: this replica gave up leading; restart it to recover");
                return;
            }
            // Blocks the engine wrote itself (as leader) are not handed over.
            let durable = engine.tip().block.header.height;
            fed = fed.max(durable);
            if durable >= pruned + CLUSTER_PRUNE_EVERY_BLOCKS {
                let reader = proposals.clone();
                match tokio::task::spawn_blocking(move || reader.prune_through(durable).map_err(|e| e.to_string()))
                    .await
                {
                    Ok(Ok(_)) => pruned = durable,
                    Ok(Err(error)) => tracing::warn!(%error, "forgetting written blocks in the raft state machine"),
                    Err(error) => tracing::warn!(%error, "forgetting written blocks in the raft state machine"),
                }
            }
            let leads = state.state == ServerState::Leader && state.current_leader == Some(id);
            let hint = api_address(&raft, state.current_leader.filter(|leader| *leader != id));
            let reader = proposals.clone();
            if let Ok(Ok(committed_height)) =
                tokio::task::spawn_blocking(move || reader.last_height().map_err(|e| e.to_string())).await
            {
                engine.set_cluster_state(ClusterState {
                    node_id: id,
                    term: state.current_term,
                    leader_id: state.current_leader,
                    leader_address: hint.clone(),
                    committed_height,
                    members: state.membership_config.membership().voter_ids().collect(),
                    replicas: if leads { replicas(&state) } else { Vec::new() },
                });
            }
            if engine.leading() {
                if !leads {
                    engine.step_down(hint);
                    fed = engine.tip().block.header.height;
                }
            } else {
                engine.set_leader_hint(hint);
                fed = feed(&engine, &raft, &proposals, &tls, fed).await;
                if leads && take_lead(&engine, &raft, &proposals, &tls, &mut fed).await {
                    engine.lead();
                }
            }
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() {
                    engine.step_down(None);
                    engine.fail_stop("raft stopped: this replica no longer leads or follows");
                    return;
                },
                () = tokio::time::sleep(CLUSTER_POLL) => {}
            }
        }
    })
}

/// Hands the engine every applied proposal above `fed`, in height order;
/// returns the highest handed over. Blocks the state machine no longer
/// holds (a snapshot replaced it: this replica was away past the log's
/// compaction, or its files were wiped) are fetched from a peer's ledger.
async fn feed(
    engine: &Engine,
    raft: &Raft<TypeConfig>,
    proposals: &ProposalReader,
    tls: &super::PeerTls,
    mut fed: u64,
) -> u64 {
    loop {
        let reader = proposals.clone();
        let start = fed + 1;
        let read = move || reader.proposals(start, CLUSTER_FEED_PAGE).map_err(|e| e.to_string());
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
        let Some(first) = page.first().map(|p| p.height) else { return fed };
        if let Some(through) = missing_through(fed, first) {
            fed = fetch_missing(engine, raft, tls, fed, through).await;
            if fed < through {
                return fed;
            }
        }
        for proposal in page {
            match feed_step(fed, engine.tip().block.header.height, proposal.height) {
                FeedStep::Skip => {}
                FeedStep::Gap => {
                    tracing::error!(height = proposal.height, expected = fed + 1, "a gap in the committed blocks");
                    return fed;
                }
                FeedStep::AlreadyWritten => fed = proposal.height,
                FeedStep::Replay => {
                    let height = proposal.height;
                    if !engine.replay_committed(proposal.bytes).await {
                        return fed;
                    }
                    fed = height;
                }
            }
        }
    }
}

/// Fetches the committed blocks `fed + 1 ..= through` from a peer's ledger
/// (the leader first) and hands them to the engine; returns the highest
/// handed over.
async fn fetch_missing(
    engine: &Engine,
    raft: &Raft<TypeConfig>,
    tls: &super::PeerTls,
    mut fed: u64,
    through: u64,
) -> u64 {
    let state = raft.metrics().borrow().clone();
    let me = state.id;
    let mut peers: Vec<(NodeId, String)> = state
        .membership_config
        .nodes()
        .filter(|(id, _)| **id != me)
        .map(|(id, node)| (*id, node.raft_addr.clone()))
        .collect();
    peers.sort_by_key(|(id, _)| Some(*id) != state.current_leader);
    let engine_key = engine.engine_key();
    let from = fed;
    tracing::info!(from = fed + 1, through, "fetching committed blocks this replica's raft state no longer holds");
    for (peer, addr) in peers {
        'peer: while fed < through {
            let wanted = u32::try_from(through - fed).unwrap_or(u32::MAX).min(RAFT_FETCH_BLOCKS_MAX);
            let blocks = match super::fetch_blocks(&addr, peer, tls, fed + 1, wanted).await {
                Ok((blocks, _)) if !blocks.is_empty() => blocks,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(peer, %error, "fetching blocks");
                    break;
                }
            };
            for bytes in blocks {
                let height = match fetched_height(&bytes, fed, &engine_key, &engine.chain_id()) {
                    Ok(height) => height,
                    Err(error) => {
                        tracing::warn!(peer, %error, "fetching blocks");
                        break 'peer;
                    }
                };
                if !engine.replay_committed(bytes).await {
                    return fed;
                }
                fed = height;
                engine.metrics().blocks_fetched.inc();
            }
        }
        if fed >= through {
            break;
        }
    }
    if fed == from {
        // No peer could help (all behind or unreachable): not again at once.
        tracing::warn!(from = fed + 1, through, "no peer served the missing blocks; retrying shortly");
        tokio::time::sleep(RAFT_FETCH_RETRY_DELAY).await;
    }
    fed
}

/// A newly elected node may seal only once every block committed before its
/// term is applied to its engine and written: otherwise it would seal a
/// height the cluster already filled.
async fn take_lead(
    engine: &Engine,
    raft: &Raft<TypeConfig>,
    proposals: &ProposalReader,
    tls: &super::PeerTls,
    fed: &mut u64,
) -> bool {
    match tokio::time::timeout(REPLICATE_TIMEOUT, raft.ensure_linearizable()).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::info!(%error, "elected, but not confirmed as leader yet");
            return false;
        }
        Err(_) => return false,
    }
    *fed = feed(engine, raft, proposals, tls, *fed).await;
    let reader = proposals.clone();
    let committed = match tokio::task::spawn_blocking(move || reader.last_height().map_err(|e| e.to_string())).await {
        Ok(Ok(height)) => height,
        _ => return false,
    };
    // The sequencer may still hold blocks it sealed in an earlier
    // leadership and never got committed: they are undone first.
    if *fed < committed || !ready_to_lead(*fed, committed, engine.settle().await) {
        return false;
    }
    let mut durable = engine.durable_heights();
    if !matches!(
        tokio::time::timeout(REPLICATE_TIMEOUT, durable.wait_for(|height| *height >= committed)).await,
        Ok(Ok(_))
    ) {
        return false;
    }
    same_chain(engine, proposals, committed).await
}

/// Whether this replica's ledger holds the cluster's block at `height`
/// (not merely a block of that height): a replica on a data directory of
/// another chain (another genesis, a restored backup) must never lead. One
/// that does not fails stop.
async fn same_chain(engine: &Engine, proposals: &ProposalReader, height: u64) -> bool {
    if height == 0 {
        return true;
    }
    let reader = proposals.clone();
    let store = std::sync::Arc::clone(engine.store_arc());
    let (engine_key, chain) = (engine.engine_key(), engine.chain_id());
    // Both reads on the blocking pool: the store's is file I/O too.
    let compared = tokio::task::spawn_blocking(move || -> Result<Option<bool>, String> {
        let page = reader.proposals(height, 1).map_err(|e| e.to_string())?;
        let Some(proposal) = page.into_iter().find(|p| p.height == height) else { return Ok(None) };
        let ours = store.header(height).map_err(|e| e.to_string())?;
        ours.map(|ours| same_chain_as(&proposal, &ours, &engine_key, &chain)).transpose()
    })
    .await;
    match compared {
        Ok(Ok(Some(true))) => true,
        Ok(Ok(Some(false))) => {
            engine.fail_stop(&format!(
                "this replica's block {height} is not the cluster's: its data directory holds another chain"
            ));
            false
        }
        other => {
            tracing::warn!(height, ?other, "could not compare this replica's chain with the cluster's");
            false
        }
    }
}
