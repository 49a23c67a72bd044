//! Deterministic simulation of the cluster: three replicas on the
//! real openraft with the real Raft stores (`RaftLogStore`,
//! `RaftStateMachineStore`), the real ledger, block seal and replay
//! (`seal_block`, `replica::replay`) and the real ledger store, every file
//! on a simulated disk ([`SimDisk`]), the network between them simulated,
//! and the clock too.
//!
//! One seed is one history. Everything runs on one thread (a tokio
//! current-thread runtime whose clock is paused: time moves only when every
//! task waits, straight to the next timer), the stores run their steps on the
//! calling task (`open_with_backend`), the network is a table of the live
//! nodes whose calls are lost, delayed, cut or answered by a seeded
//! generator, and election timeouts are drawn from the seed (openraft's own
//! draw is pinned to one value per node). `a_seed_replays_exactly` in
//! `simulations/tests/raft.rs` checks that one seed takes the same path
//! twice.
//!
//! The replicas run the engine's own sequencer ([`Sequencing`]): a leader
//! admits each payment through it (refusals counted by reason, and checked:
//! a double spend must be refused as spent), seals and proposes; a follower
//! replays committed blocks through it. The writer's answers are the
//! engine's ([`answer_durable`]). The driver plays the part of
//! `cluster::spawn_link`'s loop (which is async and tied to a running
//! engine), calling the link's own decisions (`feed_step`,
//! `missing_through`, `fetched_height`, `ready_to_lead`, `same_chain_as`):
//! a replica that leads (and has applied and written everything
//! committed before its term, `ensure_linearizable`) seals a block of
//! payments on its ledger and proposes it (`client_write`); only an applied
//! proposal is a confirmation, written to the leader's ledger store after
//! the commit; anything else leaves the block in doubt and the leader
//! rebuilds its ledger from its store. Followers replay the committed
//! proposals in height order, fetch from a peer's ledger the blocks their
//! state machine forgot (snapshots), and prune it as their ledger writes.
//!
//! The faults: a replica loses power (its three disks rebooted, keeping
//! none, all or some of what was not synced, torn writes included) and
//! comes back later; a replica isolated, a link cut one way; requests and
//! replies lost; delays up to 150 ms. Compaction is aggressive (a snapshot
//! every 12 entries), so snapshots are sent and installed often.
//!
//! Checked: no two blocks at one height on any replicas, ever; at the end
//! (network healed, every replica back) the replicas' chains are equal,
//! every confirmed payment is in every replica's ledger at the sequence and
//! block it was confirmed with, each ledger passes the chain audit, its
//! unspent set equals the one a reference walk of the committed blocks
//! builds (no input spent twice, nothing from nowhere), and the supply adds
//! up. A failing seed prints the command that reproduces it.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{ClientWriteError, InstallSnapshotError, RPCError, RaftError, RemoteError, Timeout, Unreachable};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{Raft, RaftLogReader as _, ServerState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::cluster::{
    ApplyOutcome, BlockProposal, FeedStep, NodeId, ProposalReader, RaftLogStore, RaftStateMachineStore, ReplicaNode,
    TypeConfig,
};
use settled::registry::TierPolicy;

use crate::core_sim::keypair;
use settled::dev::{
    OpenBlock, PowerSupply, Replayed, Sequencing, SequencingContext, SimDisk, WriterJob, answer_durable,
    answer_unavailable,
};
use settled::replica::ReplicatedBlock;
use settled::{
    BlockRecord, ChainId, Genesis, Keypair, OutPoint, Output, Reason, Reply, SignedHeader, Store, Submitter,
    Transaction, TxId, TxKind, client,
};
use tokio::sync::oneshot;

/// Longest simulation one seed runs, in ticks.
/// The ledger's merge interval in the simulation (entries, blocks, least
/// entries per commit): a merge every few payments, spread over commits.
const LEDGER_MERGE_EVERY: (u64, u64, usize) = (40, 3, 8);

pub const RAFT_TICKS_MAX: u64 = 100_000;
/// Replicas in the simulated cluster.
const NODES: NodeId = 3;
/// Simulated time between two steps of the driver.
const TICK: Duration = Duration::from_millis(20);
/// How long the leader waits for its proposal (the engine's
/// `REPLICATE_TIMEOUT` is 5 s; shorter here so that a seed sees more).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Ticks the healed cluster gets at the end to agree, at most (60 s
/// simulated).
const SETTLE_TICKS_MAX: u64 = 3_000;
/// Compaction: a snapshot every this many applied entries, this many kept.
const SNAPSHOT_EVERY: u64 = 12;
const LOG_KEPT: u64 = 3;
/// A replica forgets its state machine's blocks every this many blocks its
/// ledger wrote (the link's `CLUSTER_PRUNE_EVERY_BLOCKS`, smaller).
const PRUNE_EVERY: u64 = 4;
/// Payments a block holds at most.
const BLOCK_TXS_MAX: usize = 6;
const WALLETS: usize = 8;
/// Coins a wallet set remembers at most (the oldest forgotten first).
const COINS_MAX: usize = 512;
/// Ticks after which a remembered coin that no ledger holds is forgotten
/// (it came from a block left in doubt that did not commit).
const COIN_FORGET_TICKS: u64 = 400;
/// The simulated clock starts near this time (2030).
const CLOCK_BASE_MS: u64 = 1_900_000_000_000;

/// What the seeds went through.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RaftReport {
    pub seeds: u64,
    pub ticks: u64,
    /// Blocks the leader was told were committed and applied as its own.
    pub blocks_confirmed: u64,
    pub payments_confirmed: u64,
    /// Proposals whose outcome the leader did not learn (timeout, deposed,
    /// crashed): later found committed, or not.
    pub in_doubt_committed: u64,
    pub in_doubt_lost: u64,
    /// Proposals committed but refused by the state machine (a height
    /// already filled).
    pub proposals_refused: u64,
    /// Leaderships: distinct (term, leader) pairs that sealed a block.
    pub leaderships: u64,
    pub power_losses: u64,
    /// Of those, power lost in the middle of a disk operation (a write, a
    /// resize, an fsync of the Raft log, the state machine or the ledger).
    pub power_losses_mid_write: u64,
    /// Power losses that kept some but not all unsynced sectors.
    pub torn_reboots: u64,
    pub isolations: u64,
    pub links_cut: u64,
    pub messages_delivered: u64,
    pub messages_lost: u64,
    /// Blocks a replica replayed from its state machine, and fetched from
    /// a peer's ledger (its state machine had a snapshot instead).
    pub blocks_replayed: u64,
    pub blocks_fetched: u64,
    pub receipts_checked: u64,
    /// Final chain height, summed over seeds.
    pub final_heights: u64,
    /// A hash of every seed's final chain (heights and txids), to compare
    /// two runs of the same seeds.
    pub digest: u64,
    /// Refusals the leaders' sequencers said, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Double spends drawn, each refused as spent.
    pub double_spends_refused: u64,
    /// Payments whose block was left in doubt: not answered by the writer.
    pub answers_in_doubt: u64,
    /// Payments the writer answered with their receipt.
    pub receipts_answered: u64,
}

impl std::ops::AddAssign for RaftReport {
    fn add_assign(&mut self, o: Self) {
        self.seeds += o.seeds;
        self.ticks += o.ticks;
        self.blocks_confirmed += o.blocks_confirmed;
        self.payments_confirmed += o.payments_confirmed;
        self.in_doubt_committed += o.in_doubt_committed;
        self.in_doubt_lost += o.in_doubt_lost;
        self.proposals_refused += o.proposals_refused;
        self.leaderships += o.leaderships;
        self.power_losses += o.power_losses;
        self.power_losses_mid_write += o.power_losses_mid_write;
        self.torn_reboots += o.torn_reboots;
        self.isolations += o.isolations;
        self.links_cut += o.links_cut;
        self.messages_delivered += o.messages_delivered;
        self.messages_lost += o.messages_lost;
        self.blocks_replayed += o.blocks_replayed;
        self.blocks_fetched += o.blocks_fetched;
        self.receipts_checked += o.receipts_checked;
        self.final_heights += o.final_heights;
        self.digest = self.digest.rotate_left(5) ^ o.digest;
        for (reason, n) in o.refusals {
            *self.refusals.entry(reason).or_default() += n;
        }
        self.double_spends_refused += o.double_spends_refused;
        self.answers_in_doubt += o.answers_in_doubt;
        self.receipts_answered += o.receipts_answered;
    }
}

/// The simulated network: the live nodes and what happens to a call.
struct Net {
    rng: StdRng,
    nodes: BTreeMap<NodeId, Raft<TypeConfig>>,
    /// Directed links that deliver nothing (`from`, `to`).
    cut: BTreeSet<(NodeId, NodeId)>,
    loss_percent: u32,
    delay_max_ms: u64,
    delivered: u64,
    lost: u64,
    /// Honest messages the Raft port's checks refused (each fails the seed:
    /// a panic in openraft's task would only end that task).
    refused: Vec<String>,
}

/// What happens to one call.
enum Fate {
    Unreachable,
    Lost,
    Delivered { delay: Duration, reply_lost: bool },
}

impl Net {
    fn fate(&mut self, from: NodeId, to: NodeId) -> Fate {
        if self.cut.contains(&(from, to)) || !self.nodes.contains_key(&to) {
            return Fate::Unreachable;
        }
        if self.rng.gen_ratio(self.loss_percent, 100) {
            self.lost += 1;
            return Fate::Lost;
        }
        self.delivered += 1;
        let delay = Duration::from_millis(self.rng.gen_range(0..=self.delay_max_ms));
        Fate::Delivered { delay, reply_lost: self.rng.gen_ratio(self.loss_percent, 100) }
    }
}

type SharedNet = Arc<Mutex<Net>>;

fn net_of(net: &SharedNet) -> std::sync::MutexGuard<'_, Net> {
    net.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// openraft's network of one node in the simulation.
struct SimNetworkFactory {
    id: NodeId,
    net: SharedNet,
}

struct SimNetwork {
    from: NodeId,
    to: NodeId,
    net: SharedNet,
}

impl RaftNetworkFactory<TypeConfig> for SimNetworkFactory {
    type Network = SimNetwork;

    async fn new_client(&mut self, target: NodeId, _node: &ReplicaNode) -> SimNetwork {
        SimNetwork { from: self.id, to: target, net: Arc::clone(&self.net) }
    }
}

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, ReplicaNode, RaftError<NodeId, E>>;

fn unreachable_error<E: std::error::Error>(why: &str) -> RPCError<NodeId, ReplicaNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why.to_owned())))
}

impl SimNetwork {
    /// Runs `call` on the target's Raft as the network decides: after a
    /// delay, or never (the caller times out), or not at all (unreachable).
    async fn deliver<R, E, F, Fut>(&self, action: RPCTypes, option: &RPCOption, call: F) -> Result<R, RpcError<E>>
    where
        E: std::error::Error,
        F: FnOnce(Raft<TypeConfig>) -> Fut,
        Fut: Future<Output = Result<R, RaftError<NodeId, E>>>,
    {
        let ttl = option.hard_ttl();
        let timeout = || RPCError::Timeout(Timeout { action, id: self.from, target: self.to, timeout: ttl });
        let fate = net_of(&self.net).fate(self.from, self.to);
        let reply_lost = match fate {
            Fate::Unreachable => return Err(unreachable_error("link cut or node down")),
            Fate::Lost => {
                tokio::time::sleep(ttl).await;
                return Err(timeout());
            }
            Fate::Delivered { delay, reply_lost } => {
                if delay >= ttl {
                    tokio::time::sleep(ttl).await;
                    return Err(timeout());
                }
                tokio::time::sleep(delay).await;
                reply_lost
            }
        };
        // The target may have gone down while the call travelled.
        let Some(target) = net_of(&self.net).nodes.get(&self.to).cloned() else {
            return Err(unreachable_error("node down"));
        };
        let reply = match tokio::time::timeout(ttl, call(target)).await {
            Err(_elapsed) => return Err(timeout()),
            Ok(_) if reply_lost => return Err(timeout()),
            Ok(reply) => reply,
        };
        match reply {
            Ok(reply) => Ok(reply),
            Err(RaftError::Fatal(_)) => Err(unreachable_error("node stopped")),
            Err(error) => Err(RPCError::RemoteError(RemoteError::new(self.to, error))),
        }
    }
}

/// The receiving node's side of the Raft port's checks
/// (`settled::cluster::admit_*`), as the real transport runs them: an
/// honest node's message must never be refused by them, whatever the
/// faults; one that is fails the seed (recorded in the network, which the
/// driver reads every tick: this runs in openraft's tasks, where a panic
/// would end only the task).
fn admitted(net: &SharedNet, what: &str, from: NodeId, to: NodeId, checked: Result<(), tonic::Status>) {
    if let Err(status) = checked {
        net_of(net)
            .refused
            .push(format!("node {from}'s {what} to node {to} refused by the Raft port's checks: {}", status.message()));
    }
}

fn local(raft: &Raft<TypeConfig>) -> settled::cluster::Local {
    settled::cluster::Local { term: raft.metrics().borrow().current_term }
}

impl RaftNetwork<TypeConfig> for SimNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let (from, to, net) = (self.from, self.to, Arc::clone(&self.net));
        self.deliver(RPCTypes::AppendEntries, &option, |raft| async move {
            admitted(&net, "append", from, to, settled::cluster::admit_append(from, local(&raft), &rpc));
            raft.append_entries(rpc).await
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        let (from, to, net) = (self.from, self.to, Arc::clone(&self.net));
        self.deliver(RPCTypes::InstallSnapshot, &option, |raft| async move {
            admitted(&net, "snapshot", from, to, settled::cluster::admit_snapshot(from, local(&raft), &rpc));
            raft.install_snapshot(rpc).await
        })
        .await
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcError> {
        let (from, to, net) = (self.from, self.to, Arc::clone(&self.net));
        self.deliver(RPCTypes::Vote, &option, |raft| async move {
            admitted(&net, "vote", from, to, settled::cluster::admit_vote(from, local(&raft), &rpc));
            raft.vote(rpc).await
        })
        .await
    }

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// One replica: its three disks, and what runs on them while it is up.
struct Replica {
    id: NodeId,
    /// The machine's power: a power loss stops its three disks at once.
    power: PowerSupply,
    log_disk: SimDisk,
    sm_disk: SimDisk,
    ledger_disk: SimDisk,
    /// Its election timeout, drawn from the seed at each start.
    election_ms: u64,
    /// Counts starts, so that an answer from before a power loss is known.
    incarnation: u64,
    /// The disk (0 log, 1 state machine, 2 ledger) whose nth operation
    /// from now cuts this replica's power, if one is scheduled.
    doomed: Option<usize>,
    up: Option<Up>,
}

struct Up {
    raft: Raft<TypeConfig>,
    proposals: ProposalReader,
    store: Store,
    /// The engine's sequencer: it seals as leader, replays as follower.
    sequencer: Sequencing,
    /// The ledger store's tip (the sequencer may hold a sealed block in
    /// flight on top).
    tip: SignedHeader,
    pruned: u64,
    /// The term in which this replica took the lead (applied and wrote
    /// everything committed before it), if it leads.
    leading_term: Option<u64>,
}

/// The leader's block on its way through Raft, and whom the writer
/// answers once it is committed.
struct InFlight {
    node: NodeId,
    incarnation: u64,
    block: BlockRecord,
    job: WriterJob,
    tickets: Vec<Ticket>,
    answer: tokio::task::JoinHandle<Answer>,
}

/// A payment waiting for its answer; `double_spend`: drawn from a coin a
/// confirmed payment spent (the one named), so the ledger must refuse it as
/// spent by that one.
struct Ticket {
    txid: TxId,
    double_spend: Option<TxId>,
    answer: oneshot::Receiver<Reply>,
}

/// A refusal the sequencer said: counted by reason. A double spend must be
/// refused as spent, naming the confirmed payment that spent its coin; the
/// workload's other payments spend coins the leader's ledger holds, one
/// each, and mints are fully signed with fresh references: none may be
/// refused.
fn count_refusal(
    report: &mut RaftReport,
    double_spend: Option<TxId>,
    refusal: &settled::Refusal,
) -> Result<(), String> {
    *report.refusals.entry(format!("{:?}", refusal.reason)).or_default() += 1;
    match double_spend {
        Some(spender) if refusal.reason == Reason::InputSpent && refusal.spent_by == Some(spender) => {
            report.double_spends_refused += 1;
            Ok(())
        }
        Some(spender) => Err(format!("a double spend of a coin {spender} spent refused as {refusal:?}")),
        None => Err(format!("a valid payment refused: {refusal:?}")),
    }
}

/// Everyone waiting on a job with no block (only refusals resting on a
/// block now durable) was answered with a refusal.
fn answered_at_once(report: &mut RaftReport, tickets: Vec<Ticket>) -> Result<(), String> {
    for mut ticket in tickets {
        match ticket.answer.try_recv() {
            Ok(Err(refusal)) => count_refusal(report, ticket.double_spend, &refusal)?,
            other => return Err(format!("{} waited on no block and was answered {other:?}", ticket.txid)),
        }
    }
    Ok(())
}

#[derive(Debug)]
enum Answer {
    Applied,
    /// Committed, but the state machine took another block at its height.
    Refused,
    NotLeader,
    Failed,
    TimedOut,
}

/// A block a client was told about: confirmed, with its payments'
/// sequences.
struct Confirmed {
    height: u64,
    hash: [u8; 32],
    txs: Vec<(TxId, u64)>,
}

struct World {
    seed: u64,
    ticks: u64,
    rng: StdRng,
    net: SharedNet,
    genesis: Genesis,
    engine_key: Keypair,
    /// The cluster's chain id: the hash of the one genesis block every
    /// replica's ledger file starts from.
    chain_id: ChainId,
    issuers: Vec<Keypair>,
    wallets: Vec<Keypair>,
    tiers: TierPolicy,
    replicas: Vec<Replica>,
    clock_ms: u64,
    tick: u64,
    /// Every block any replica held durably at a height, by height.
    chain: BTreeMap<u64, [u8; 32]>,
    confirmed: Vec<Confirmed>,
    in_doubt: Vec<(u64, [u8; 32])>,
    in_flight: Option<InFlight>,
    leaderships: BTreeSet<(u64, NodeId)>,
    /// Wallet coins that may be unspent, with the tick they were made.
    coins: BTreeMap<OutPoint, (Output, u64)>,
    /// Coins spent by a confirmed payment (double spends are drawn here).
    spent: Vec<(OutPoint, Output, TxId)>,
    mints: u64,
    /// The first invariant broken (no power loss excuses it).
    violation: Option<String>,
    /// Print the seed's events on stderr (`SETTLED_SIM_TRACE=1`).
    trace: bool,
    report: RaftReport,
}

fn reproduce(seed: u64, ticks: u64, tick: u64, what: &str) -> String {
    format!(
        "seed {seed} tick {tick}: {what}\nreproduce: cargo run --release -p settled-simulations -- raft --seed {seed} \
         --ticks {ticks}"
    )
}

/// Runs one seed for `ticks` ticks of 20 ms simulated, then heals the
/// cluster and checks it.
///
/// # Errors
/// The first broken invariant, with the command that reproduces it.
pub fn simulate_raft(seed: u64, ticks: u64) -> Result<RaftReport, String> {
    let ticks = ticks.min(RAFT_TICKS_MAX);
    watch_task_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let mut world = World::new(seed, ticks).await.map_err(|e| reproduce(seed, ticks, 0, &e))?;
        let result = world.run().await;
        world.stop_all().await;
        let result = result.and_then(|()| task_panic().map_or(Ok(()), Err));
        result.map_err(|e| reproduce(seed, ticks, world.tick, &e))?;
        world.report.seeds = 1;
        world.report.ticks = ticks;
        world.report.leaderships = world.leaderships.len() as u64;
        let net = net_of(&world.net);
        world.report.messages_delivered = net.delivered;
        world.report.messages_lost = net.lost;
        drop(net);
        Ok(std::mem::take(&mut world.report))
    })
}

thread_local! {
    /// The first panic on this thread since the seed started: a panic in a
    /// task (openraft's, the network's) ends only that task, and the run
    /// would go on as if nothing happened.
    static TASK_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Records every panic on the thread it happens on (after the usual
/// report), once per process; and forgets this thread's last one.
fn watch_task_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            let what = info.to_string();
            TASK_PANIC.with(|first| {
                first.borrow_mut().get_or_insert(what);
            });
        }));
    });
    TASK_PANIC.with(|first| first.borrow_mut().take());
}

/// The first panic on this thread since [`watch_task_panics`], if any.
fn task_panic() -> Option<String> {
    TASK_PANIC.with(|first| first.borrow().clone()).map(|what| format!("a task panicked: {what}"))
}

/// Runs `seeds` seeds from `first` on `threads` threads (each seed on its
/// own single-threaded runtime), stopping at the first failure.
///
/// # Errors
/// The first failing seed's failure.
pub fn simulate_raft_seeds(first: u64, seeds: u64, ticks: u64, threads: usize) -> Result<RaftReport, String> {
    let reports = crate::run_seeds(
        first,
        seeds,
        threads,
        |seed| simulate_raft(seed, ticks),
        |seed| reproduce(seed, ticks, 0, "panicked (message above)"),
    )?;
    // In seed order, so that the digest does not depend on the threads.
    let mut total = RaftReport::default();
    for report in reports {
        total += report;
    }
    Ok(total)
}

impl World {
    async fn new(seed: u64, ticks: u64) -> Result<Self, String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let issuers: Vec<Keypair> = (0..3).map(|_| keypair(&mut rng)).collect();
        let wallets: Vec<Keypair> = (0..WALLETS).map(|_| keypair(&mut rng)).collect();
        let engine_key = keypair(&mut rng);
        let genesis = crate::genesis(&issuers, &engine_key);
        // One genesis file, copied to each replica (as `cluster init` fixes
        // one genesis time for all).
        let first = SimDisk::new();
        let chain_id = {
            let (store, _) =
                Store::open(first.backend(), &genesis, Some(CLOCK_BASE_MS), |message| engine_key.sign(message))
                    .map_err(|e| format!("a new ledger does not open: {e}"))?;
            store.chain_id()
        };
        let net = Arc::new(Mutex::new(Net {
            rng: StdRng::seed_from_u64(rng.r#gen()),
            nodes: BTreeMap::new(),
            cut: BTreeSet::new(),
            loss_percent: 0,
            delay_max_ms: 2,
            delivered: 0,
            lost: 0,
            refused: Vec::new(),
        }));
        let replicas = (1..=NODES)
            .map(|id| {
                let replica = Replica {
                    id,
                    power: PowerSupply::default(),
                    log_disk: SimDisk::new(),
                    sm_disk: SimDisk::new(),
                    ledger_disk: first.duplicate(),
                    election_ms: 0,
                    incarnation: 0,
                    doomed: None,
                    up: None,
                };
                for disk in [&replica.log_disk, &replica.sm_disk, &replica.ledger_disk] {
                    disk.attach(&replica.power);
                }
                replica
            })
            .collect();
        let mut world = Self {
            seed,
            ticks,
            rng,
            net,
            genesis,
            engine_key,
            chain_id,
            issuers,
            wallets,
            tiers: TierPolicy { tiers: Vec::new(), unregistered_tier: None, day_offset_minutes: 0 },
            replicas,
            clock_ms: CLOCK_BASE_MS,
            tick: 0,
            chain: BTreeMap::new(),
            confirmed: Vec::new(),
            in_doubt: Vec::new(),
            in_flight: None,
            leaderships: BTreeSet::new(),
            coins: BTreeMap::new(),
            spent: Vec::new(),
            mints: 0,
            violation: None,
            trace: std::env::var_os("SETTLED_SIM_TRACE").is_some(),
            report: RaftReport::default(),
        };
        for index in 0..world.replicas.len() {
            world.start(index).await?;
        }
        let members: BTreeMap<NodeId, ReplicaNode> =
            (1..=NODES).map(|id| (id, ReplicaNode::raft_only(format!("sim-{id}")))).collect();
        let first = world.replicas[0].up.as_ref().ok_or("node 1 is not up")?;
        first.raft.initialize(members).await.map_err(|e| format!("initialize: {e}"))?;
        Ok(world)
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("tick {}: {}", self.tick, what());
        }
    }

    /// Starts replica `index` from its disks.
    async fn start(&mut self, index: usize) -> Result<(), String> {
        let election_ms = self.rng.gen_range(400..800);
        let replica = &mut self.replicas[index];
        let id = replica.id;
        let mut config =
            settled::cluster::raft_config_compacting("sim", SNAPSHOT_EVERY, LOG_KEPT).map_err(|e| e.to_string())?;
        // openraft draws the timeout from a thread-local generator in
        // `min..max`: one value here, drawn from the seed.
        config.election_timeout_min = election_ms;
        config.election_timeout_max = election_ms + 1;
        let config = Arc::new(config.validate().map_err(|e| e.to_string())?);
        let state_machine = RaftStateMachineStore::open_with_backend(replica.sm_disk.backend())
            .map_err(|e| format!("node {id}: the raft state machine does not open: {e}"))?;
        let log = RaftLogStore::open_with_backend(replica.log_disk.backend())
            .map_err(|e| format!("node {id}: the raft log does not open: {e}"))?
            .purging_at_most(state_machine.durable_snapshot());
        let proposals = state_machine.reader();
        let mut state_machine = state_machine;
        if self.trace {
            // Through the stores just opened (a second open of a disk would
            // write to it, and the traced run would differ).
            let (mut log, sm) = (log.clone(), &mut state_machine);
            let state = log.get_log_state().await.map_err(|e| e.to_string())?;
            let committed = log.read_committed().await.map_err(|e| e.to_string())?.map(|l| l.index);
            let held: Vec<u64> =
                log.try_get_log_entries(..).await.map_err(|e| e.to_string())?.iter().map(|e| e.log_id.index).collect();
            let applied = sm.applied_state().await.map_err(|e| e.to_string())?.0.map(|l| l.index);
            let snapshot = sm.get_current_snapshot().await.map_err(|e| e.to_string())?.and_then(|s| s.meta.last_log_id);
            eprintln!(
                "tick {}: node {id} opens: log purged {:?} last {:?} committed {committed:?} holds {:?}..{:?} ({} entries); \
                 state machine applied {applied:?} snapshot {:?}",
                self.tick,
                state.last_purged_log_id.map(|l| l.index),
                state.last_log_id.map(|l| l.index),
                held.first(),
                held.last(),
                held.len(),
                snapshot.map(|l| l.index)
            );
        }
        let network = SimNetworkFactory { id, net: Arc::clone(&self.net) };
        let raft = match Raft::new(id, config, network, log, state_machine).await {
            Ok(raft) => raft,
            Err(e) => {
                let mut log = RaftLogStore::open_with_backend(replica.log_disk.backend()).map_err(|e| e.to_string())?;
                let mut sm =
                    RaftStateMachineStore::open_with_backend(replica.sm_disk.backend()).map_err(|e| e.to_string())?;
                let state = log.get_log_state().await.map_err(|e| e.to_string())?;
                let committed = log.read_committed().await.map_err(|e| e.to_string())?;
                let applied = sm.applied_state().await.map_err(|e| e.to_string())?.0;
                let snapshot = sm.get_current_snapshot().await.map_err(|e| e.to_string())?.map(|s| s.meta);
                return Err(format!(
                    "node {id}: raft does not start: {e} (log: purged {:?}, last {:?}, committed {committed:?}; \
                     state machine: applied {applied:?}, snapshot {snapshot:?})",
                    state.last_purged_log_id, state.last_log_id
                ));
            }
        };
        let (store, recovered) = Store::open(replica.ledger_disk.backend(), &self.genesis, None, |_| {
            unreachable!("a replica's ledger file already holds the genesis block")
        })
        .map_err(|e| format!("node {id}: the ledger does not open: {e}"))?;
        if store.chain_id() != self.chain_id {
            return Err(format!(
                "node {id}: the ledger is of chain {}, not the cluster's {}",
                store.chain_id(),
                self.chain_id
            ));
        }
        // Merges of the random-key tables every few payments, in slices:
        // power losses and leadership changes fall in the middle of them.
        store.set_merge_every(LEDGER_MERGE_EVERY.0, LEDGER_MERGE_EVERY.1, LEDGER_MERGE_EVERY.2);
        let tip = recovered.tip;
        let ledger = settled::recovered_ledger(recovered, self.tiers.clone()).map_err(|e| e.to_string())?;
        net_of(&self.net).nodes.insert(id, raft.clone());
        replica.election_ms = election_ms;
        replica.incarnation += 1;
        self.trace(|| format!("node {id} starts"));
        let replica = &mut self.replicas[index];
        let sequencer = Sequencing::new(ledger, tip);
        replica.up = Some(Up { raft, proposals, store, sequencer, tip, pruned: 0, leading_term: None });
        Ok(())
    }

    /// Replica `index` loses power: everything it ran stops, its disks keep
    /// what was synced and, of the rest, none, all or some sectors.
    async fn power_loss(&mut self, index: usize) {
        // The power goes at once for all three disks; then whatever still
        // runs of the replica is stopped (it can no longer write).
        if self.replicas[index].up.is_none() {
            return;
        }
        let struck = self.replicas[index].power.is_off();
        self.replicas[index].power.cut();
        let Some(up) = self.replicas[index].up.take() else { return };
        let id = self.replicas[index].id;
        net_of(&self.net).nodes.remove(&id);
        let _ = up.raft.shutdown().await;
        drop(up);
        let keep = match self.rng.gen_range(0..4) {
            0 => 0.0,
            1 => 1.0,
            _ => self.rng.r#gen(),
        };
        self.replicas[index].doomed = None;
        if struck {
            self.report.power_losses_mid_write += 1;
        }
        let replica = &self.replicas[index];
        for disk in [&replica.log_disk, &replica.sm_disk, &replica.ledger_disk] {
            if keep > 0.0 && keep < 1.0 && disk.unsynced_ops() > 0 {
                self.report.torn_reboots += 1;
            }
            disk.reboot(&mut self.rng, keep);
        }
        replica.power.restore();
        self.report.power_losses += 1;
        self.trace(|| format!("node {id} loses power, keeping {keep:.2} of what was not synced"));
    }

    async fn stop_all(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            flight.answer.abort();
        }
        for replica in &mut self.replicas {
            replica.power.cut();
            if let Some(up) = replica.up.take() {
                net_of(&self.net).nodes.remove(&replica.id);
                let _ = up.raft.shutdown().await;
            }
        }
    }

    async fn run(&mut self) -> Result<(), String> {
        while self.tick < self.ticks {
            self.tick += 1;
            self.faults().await?;
            self.step(true).await?;
        }
        // Heal: every link, every replica, no loss.
        {
            let mut net = net_of(&self.net);
            net.cut.clear();
            net.loss_percent = 0;
            net.delay_max_ms = 2;
        }
        for index in 0..self.replicas.len() {
            if self.replicas[index].up.is_none() {
                self.start(index).await?;
            }
        }
        let healed = self.confirmed_height();
        let mut settled_for = 0;
        for _ in 0..SETTLE_TICKS_MAX {
            self.tick += 1;
            // One more block after healing, so that every replica is seen
            // to follow a leader of the healed cluster.
            let propose = self.confirmed_height() <= healed;
            self.step(propose).await?;
            // A power loss scheduled before the healing may still strike.
            for index in 0..self.replicas.len() {
                if self.replicas[index].up.is_none() {
                    self.start(index).await?;
                }
            }
            if self.in_flight.is_none() && self.agreed(healed)? {
                settled_for += 1;
                if settled_for >= 10 {
                    return self.check_end();
                }
            } else {
                settled_for = 0;
            }
        }
        Err(format!("the healed cluster did not agree within {SETTLE_TICKS_MAX} ticks: {}", self.describe()))
    }

    /// Each replica's state, for a failure message.
    fn describe(&self) -> String {
        let replicas: Vec<String> = self
            .replicas
            .iter()
            .map(|r| match &r.up {
                None => format!("node {} down", r.id),
                Some(up) => {
                    let m = up.raft.metrics().borrow().clone();
                    format!(
                        "node {} {:?}{} term {} leader {:?} applied {:?} raft height {} ledger height {}",
                        r.id,
                        m.state,
                        m.running_state.as_ref().err().map(|e| format!(" ({e})")).unwrap_or_default(),
                        m.current_term,
                        m.current_leader,
                        m.last_applied.map(|l| l.index),
                        up.proposals.last_height().unwrap_or(0),
                        up.tip.header.height
                    )
                }
            })
            .collect();
        format!(
            "{}; confirmed to {}, in flight {}",
            replicas.join("; "),
            self.confirmed_height(),
            self.in_flight.is_some()
        )
    }

    /// The highest confirmed height.
    fn confirmed_height(&self) -> u64 {
        self.confirmed.last().map_or(0, |c| c.height)
    }

    /// Draws this tick's faults.
    async fn faults(&mut self) -> Result<(), String> {
        let roll = self.rng.gen_range(0..1_000);
        let down = self.replicas.iter().filter(|r| r.up.is_none()).count();
        match roll {
            // A replica loses power (at most two down at once).
            0..15 if down < 2 => {
                let index = self.rng.gen_range(0..self.replicas.len());
                // The leader more often than not.
                let index = match self.leader_index() {
                    Some(leader) if self.rng.gen_bool(0.5) => leader,
                    _ => index,
                };
                self.power_loss(index).await;
            }
            15..45 if down > 0 => {
                let downs: Vec<usize> = (0..self.replicas.len()).filter(|i| self.replicas[*i].up.is_none()).collect();
                let index = downs[self.rng.gen_range(0..downs.len())];
                self.start(index).await?;
            }
            45..52 => {
                let isolated = self.rng.gen_range(1..=NODES);
                let mut net = net_of(&self.net);
                for other in (1..=NODES).filter(|o| *o != isolated) {
                    net.cut.insert((isolated, other));
                    net.cut.insert((other, isolated));
                }
                self.report.isolations += 1;
            }
            52..58 => {
                let from = self.rng.gen_range(1..=NODES);
                let to = (from % NODES) + 1;
                net_of(&self.net).cut.insert((from, to));
                self.report.links_cut += 1;
            }
            58..75 => net_of(&self.net).cut.clear(),
            // Power to go at a disk operation of a replica, soon.
            90..100 if down < 2 => {
                let index = match self.leader_index() {
                    Some(leader) if self.rng.gen_bool(0.5) => leader,
                    _ => self.rng.gen_range(0..self.replicas.len()),
                };
                let disk = self.rng.gen_range(0..3);
                let after = self.rng.gen_range(1..=40);
                let replica = &mut self.replicas[index];
                let pending = replica.doomed.is_some_and(|disk| {
                    [&replica.log_disk, &replica.sm_disk, &replica.ledger_disk][disk].fault_pending()
                });
                if replica.up.is_some() && !pending {
                    [&replica.log_disk, &replica.sm_disk, &replica.ledger_disk][disk]
                        .schedule(settled::dev::DiskFault::PowerLoss { after });
                    replica.doomed = Some(disk);
                    let id = replica.id;
                    self.trace(|| format!("node {id}: power goes at operation {after} of disk {disk}"));
                }
            }
            75..90 => {
                let loss = [0, 0, 3, 10, 25][self.rng.gen_range(0..5)];
                let delay = [2, 5, 30, 150][self.rng.gen_range(0..4)];
                let mut net = net_of(&self.net);
                net.loss_percent = loss;
                net.delay_max_ms = delay;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether replica `index`'s scheduled power loss has struck.
    fn struck(&self, index: usize) -> bool {
        self.replicas[index].power.is_off()
    }

    /// Replicas whose power went in the middle of a disk operation go down
    /// for good (until restarted).
    async fn strike(&mut self) {
        for index in 0..self.replicas.len() {
            if self.replicas[index].up.is_some() && self.struck(index) {
                self.power_loss(index).await;
            }
        }
    }

    fn leader_index(&self) -> Option<usize> {
        self.replicas.iter().position(|r| {
            r.up.as_ref().is_some_and(|up| {
                let m = up.raft.metrics().borrow().clone();
                m.state == ServerState::Leader && m.current_leader == Some(r.id)
            })
        })
    }

    /// One tick: the answer of the block in flight, followers' replay, a
    /// new block from a leader, then the clock.
    async fn step(&mut self, propose: bool) -> Result<(), String> {
        self.clock_ms += TICK.as_millis() as u64;
        self.strike().await;
        self.check_running()?;
        if self.in_flight.as_ref().is_some_and(|f| f.answer.is_finished()) {
            let node = self.in_flight.as_ref().map(|f| f.node);
            let index = self.replicas.iter().position(|r| Some(r.id) == node).expect("a replica");
            let result = self.answered().await;
            self.survive(index, result).await?;
        }
        for index in 0..self.replicas.len() {
            let busy = self.in_flight.as_ref().is_some_and(|f| f.node == self.replicas[index].id);
            if !busy {
                let result = self.catch_up(index);
                self.survive(index, result).await?;
            }
        }
        if propose
            && self.in_flight.is_none()
            && let Some(index) = self.leader_index()
        {
            let result = match self.take_lead(index).await {
                Ok(true) => self.propose(index),
                other => other.map(|_| ()),
            };
            self.survive(index, result).await?;
        }
        tokio::time::sleep(TICK).await;
        Ok(())
    }

    /// A step of replica `index` that failed because its power went in the
    /// middle of it is that replica going down; any other failure, and any
    /// broken invariant, is the seed's.
    async fn survive(&mut self, index: usize, result: Result<(), String>) -> Result<(), String> {
        if let Some(violation) = &self.violation {
            return Err(violation.clone());
        }
        match result {
            Err(_) if self.struck(index) => {
                self.strike().await;
                Ok(())
            }
            other => other,
        }
    }

    /// A replica whose Raft stopped on its own (a storage error, a failed
    /// purge) fails the seed: only a power loss may stop one.
    fn check_running(&self) -> Result<(), String> {
        if let Some(refused) = net_of(&self.net).refused.first() {
            return Err(refused.clone());
        }
        if let Some(panic) = task_panic() {
            return Err(panic);
        }
        for replica in &self.replicas {
            if let Some(up) = &replica.up
                && let Err(fatal) = &up.raft.metrics().borrow().running_state
            {
                return Err(format!("node {}'s raft stopped: {fatal}", replica.id));
            }
        }
        Ok(())
    }

    /// Hands replica `index` the committed blocks above its ledger's tip,
    /// in height order, fetching from a peer's ledger what its state
    /// machine no longer holds; then prunes the state machine.
    fn catch_up(&mut self, index: usize) -> Result<(), String> {
        if self.replicas[index].up.is_none() {
            return Ok(());
        }
        let id = self.replicas[index].id;
        loop {
            let up = self.replicas[index].up.as_ref().expect("up");
            let next = up.tip.header.height + 1;
            let page = up.proposals.proposals(next, 64).map_err(|e| format!("node {id}: reading proposals: {e}"))?;
            let Some(first) = page.first().map(|p| p.height) else { break };
            if let Some(through) = settled::cluster::missing_through(next - 1, first) {
                // A snapshot replaced the blocks in between: a peer's ledger
                // has them.
                if !self.fetch(index, through)? {
                    break;
                }
                continue;
            }
            for proposal in page {
                // A follower's engine wrote nothing itself: its tip is what
                // was handed over.
                let fed = self.replicas[index].up.as_ref().expect("up").tip.header.height;
                match settled::cluster::feed_step(fed, fed, proposal.height) {
                    FeedStep::Skip => {}
                    FeedStep::Gap => {
                        return Err(format!("node {id}: a gap in the committed blocks at {}", proposal.height));
                    }
                    FeedStep::AlreadyWritten => unreachable!("a follower's tip is what it was handed"),
                    FeedStep::Replay => {
                        self.replay(index, &proposal.bytes)?;
                        self.report.blocks_replayed += 1;
                    }
                }
            }
        }
        let up = self.replicas[index].up.as_mut().expect("up");
        let durable = up.tip.header.height;
        if durable >= up.pruned + PRUNE_EVERY {
            up.proposals.prune_through(durable).map_err(|e| format!("node {id}: pruning: {e}"))?;
            up.pruned = durable;
        }
        let _ = up;
        Ok(())
    }

    /// Replays one committed block on replica `index`'s ledger and writes it.
    fn replay(&mut self, index: usize, bytes: &[u8]) -> Result<(), String> {
        let id = self.replicas[index].id;
        let engine = self.engine_key.address();
        let block =
            ReplicatedBlock::decode(bytes, &engine, &self.chain_id).map_err(|e| format!("node {id}: a block: {e}"))?;
        let up = self.replicas[index].up.as_mut().expect("up");
        if block.signed.header.height != up.tip.header.height + 1 {
            return Err(format!(
                "node {id} was handed block {} on its tip {}",
                block.signed.header.height, up.tip.header.height
            ));
        }
        let record = match up.sequencer.replay_committed(bytes, &engine, &self.chain_id) {
            Replayed::Record(record) => record,
            Replayed::AlreadyApplied => {
                return Err(format!("node {id}: block {} taken as applied before", up.tip.header.height + 1));
            }
            Replayed::Diverged(why) => return Err(format!("node {id}: {why}")),
        };
        up.store.commit_block(&record).map_err(|e| format!("node {id}: writing a block: {e}"))?;
        up.tip = record.signed;
        let (height, hash) = (up.tip.header.height, up.tip.header.hash());
        self.saw(height, hash, id)
    }

    /// Fetches blocks `tip + 1 ..= through` from the first up peer whose
    /// ledger has them; whether any came.
    fn fetch(&mut self, index: usize, through: u64) -> Result<bool, String> {
        let mut got = false;
        for peer in 0..self.replicas.len() {
            if peer == index {
                continue;
            }
            loop {
                let next = self.replicas[index].up.as_ref().expect("up").tip.header.height + 1;
                if next > through {
                    return Ok(true);
                }
                // Through the simulated network: not from a peer that is
                // cut off from this replica.
                let (me, them) = (self.replicas[index].id, self.replicas[peer].id);
                let cut = {
                    let net = net_of(&self.net);
                    net.cut.contains(&(me, them)) || net.cut.contains(&(them, me))
                };
                if self.struck(peer) || cut {
                    break;
                }
                let Some(peer_up) = self.replicas[peer].up.as_ref() else { break };
                let Some(sealed) = peer_up.store.sealed_block(next).map_err(|e| e.to_string())? else { break };
                let bytes = ReplicatedBlock::from(sealed).encode(&self.engine_key, &self.chain_id);
                settled::cluster::fetched_height(&bytes, next - 1, &self.engine_key.address(), &self.chain_id)?;
                self.replay(index, &bytes)?;
                self.report.blocks_fetched += 1;
                got = true;
            }
        }
        Ok(got)
    }

    /// Records that a replica holds `hash` durably at `height`: no other
    /// block may ever be there.
    fn saw(&mut self, height: u64, hash: [u8; 32], node: NodeId) -> Result<(), String> {
        let before = *self.chain.entry(height).or_insert(hash);
        if before == hash {
            return Ok(());
        }
        let violation = format!(
            "two blocks at height {height}: node {node} holds {} where another replica held {}",
            crate::hex(&hash[..8]),
            crate::hex(&before[..8])
        );
        self.violation.get_or_insert_with(|| violation.clone());
        Err(violation)
    }

    /// A replica elected leader may seal once everything committed before
    /// its term is applied and written, and its chain is the cluster's.
    async fn take_lead(&mut self, index: usize) -> Result<bool, String> {
        let up = self.replicas[index].up.as_ref().expect("the leader is up");
        let term = up.raft.metrics().borrow().current_term;
        if up.leading_term == Some(term) {
            return Ok(true);
        }
        let raft = up.raft.clone();
        if !matches!(tokio::time::timeout(PROPOSE_TIMEOUT, raft.ensure_linearizable()).await, Ok(Ok(_))) {
            return Ok(false);
        }
        if self.replicas[index].up.is_none() {
            return Ok(false);
        }
        self.catch_up(index)?;
        let up = self.replicas[index].up.as_mut().expect("up");
        let committed = up.proposals.last_height().map_err(|e| e.to_string())?;
        let sequencer_tip = up.sequencer.tip().header.height;
        if !settled::cluster::ready_to_lead(up.tip.header.height, committed, Some(sequencer_tip)) {
            return Ok(false);
        }
        // The link's `same_chain`: the ledger's block at the committed
        // height is the cluster's.
        let held = up.proposals.proposals(committed, 1).map_err(|e| e.to_string())?;
        if let Some(proposal) = held.into_iter().find(|p| p.height == committed) {
            let engine_key = self.engine_key.address();
            if !settled::cluster::same_chain_as(&proposal, &up.tip, &engine_key, &self.chain_id)? {
                let violation = format!("node {}'s block {committed} is not the cluster's", self.replicas[index].id);
                self.violation.get_or_insert_with(|| violation.clone());
                return Err(violation);
            }
        }
        let up = self.replicas[index].up.as_mut().expect("up");
        up.leading_term = Some(term);
        self.leaderships.insert((term, self.replicas[index].id));
        Ok(true)
    }

    /// The leader's sequencer takes a block of payments (refusing what
    /// the ledger refuses, at once or, resting on a block in flight, once
    /// it is durable), seals it and proposes it.
    fn propose(&mut self, index: usize) -> Result<(), String> {
        let txs = self.transactions(index);
        let id = self.replicas[index].id;
        let incarnation = self.replicas[index].incarnation;
        let up = self.replicas[index].up.as_mut().expect("the leader is up");
        let cx = SequencingContext {
            store: &up.store,
            durable_height: up.tip.header.height,
            now_unix_ms: self.clock_ms,
            engine_key: &self.engine_key,
            chain: &self.chain_id,
        };
        let mut open = OpenBlock::default();
        let mut tickets = Vec::new();
        for (tx, double_spend) in txs {
            let vtx =
                settled::verify(tx, &self.chain_id).map_err(|r| format!("a well-formed transaction refused: {r}"))?;
            let (reply, mut answer) = oneshot::channel();
            let txid = vtx.txid;
            up.sequencer.admit_tx(&cx, &mut open, vtx, &Submitter::Trusted, reply);
            match answer.try_recv() {
                Ok(Err(refusal)) => count_refusal(&mut self.report, double_spend, &refusal)?,
                Ok(Ok(_)) => return Err(format!("{txid} confirmed before its block was written")),
                Err(_) => tickets.push(Ticket { txid, double_spend, answer }),
            }
        }
        if open.is_idle() {
            return Ok(());
        }
        let job = up.sequencer.seal(&cx, open);
        let Some(block) = job.block().cloned() else {
            answer_durable(&up.store, job);
            return answered_at_once(&mut self.report, tickets);
        };
        let height = block.signed.header.height;
        let bytes = ReplicatedBlock::of(&block).encode(&self.engine_key, &self.chain_id);
        let raft = up.raft.clone();
        let answer = tokio::spawn(async move {
            match tokio::time::timeout(PROPOSE_TIMEOUT, raft.client_write(BlockProposal { height, bytes })).await {
                Ok(Ok(response)) => match response.data {
                    ApplyOutcome::Applied { .. } => Answer::Applied,
                    _ => Answer::Refused,
                },
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Answer::NotLeader,
                Ok(Err(_)) => Answer::Failed,
                Err(_) => Answer::TimedOut,
            }
        });
        self.in_flight = Some(InFlight { node: id, incarnation, block, job, tickets, answer });
        Ok(())
    }

    /// The payments of the next block: mints while wallets are poor,
    /// payments between wallets, now and then a double spend.
    fn transactions(&mut self, index: usize) -> Vec<(Transaction, Option<TxId>)> {
        let up = self.replicas[index].up.as_ref().expect("up");
        let owned: Vec<(OutPoint, Output)> = self
            .coins
            .iter()
            .filter(|(p, (o, _))| up.sequencer.ledger().unspent(p) == Some(o))
            .map(|(p, (o, _))| (*p, *o))
            .collect();
        // Forget coins no ledger will hold.
        let tick = self.tick;
        let ledger = up.sequencer.ledger();
        self.coins.retain(|p, (_, made)| ledger.unspent(p).is_some() || tick - *made < COIN_FORGET_TICKS);
        let count = self.rng.gen_range(1..=BLOCK_TXS_MAX);
        let mut txs = Vec::with_capacity(count);
        let mut used = BTreeSet::new();
        for _ in 0..count {
            let available: Vec<&(OutPoint, Output)> = owned.iter().filter(|(p, _)| !used.contains(p)).collect();
            if available.is_empty() || self.rng.gen_ratio(1, 8) {
                self.mints += 1;
                let owner = self.wallets[self.rng.gen_range(0..WALLETS)].address();
                let reference = format!("sim{}-mint{}", self.seed, self.mints).into_bytes();
                let amount = self.rng.gen_range(1_000..=100_000);
                let outputs = vec![client::output(owner, amount, 0)];
                let issuers = [&self.issuers[0], &self.issuers[2]];
                txs.push((client::mint(&self.chain_id, outputs, &reference, &issuers), None));
                continue;
            }
            if !self.spent.is_empty() && self.rng.gen_ratio(1, 10) {
                // A double spend: the ledger refuses it.
                let (outpoint, output, spender) = self.spent[self.rng.gen_range(0..self.spent.len())];
                if let Some(payer) = self.wallets.iter().find(|w| w.address() == output.owner) {
                    let reference = format!("sim{}-double{}", self.seed, self.tick).into_bytes();
                    let payee = self.wallets[0].address();
                    let tx = client::pay(&self.chain_id, payer, (outpoint, output), payee, 1, &reference);
                    txs.push((tx, Some(spender)));
                }
                continue;
            }
            let (outpoint, output) = *available[self.rng.gen_range(0..available.len())];
            used.insert(outpoint);
            let Some(payer) = self.wallets.iter().find(|w| w.address() == output.owner) else { continue };
            let payee = self.wallets[self.rng.gen_range(0..WALLETS)].address();
            let amount = self.rng.gen_range(1..=output.amount_minor);
            let reference = format!("sim{}-t{}-{}", self.seed, self.tick, txs.len()).into_bytes();
            txs.push((client::pay(&self.chain_id, payer, (outpoint, output), payee, amount, &reference), None));
        }
        txs
    }

    /// The answer to the block in flight.
    async fn answered(&mut self) -> Result<(), String> {
        let flight = self.in_flight.take().expect("in flight");
        let answer = flight.answer.await.map_err(|e| format!("the proposal task: {e}"))?;
        let index = self.replicas.iter().position(|r| r.id == flight.node).expect("a replica");
        let same_life = self.replicas[index].incarnation == flight.incarnation && self.replicas[index].up.is_some();
        let block = flight.block;
        let (height, hash) = (block.signed.header.height, block.signed.header.hash());
        // Coins the block made may be spent next, whatever became of it.
        for (vtx, _) in &block.txs {
            for (i, output) in vtx.tx.outputs.iter().enumerate() {
                if self.wallets.iter().any(|w| w.address() == output.owner) {
                    let outpoint = OutPoint { txid: vtx.txid, index: u32::try_from(i).expect("few outputs") };
                    self.coins.insert(outpoint, (*output, self.tick));
                }
            }
        }
        while self.coins.len() > COINS_MAX {
            let oldest = self.coins.iter().min_by_key(|(p, (_, made))| (*made, **p)).map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                self.coins.remove(&oldest);
            }
        }
        match answer {
            Answer::Applied if same_life => {
                let up = self.replicas[index].up.as_mut().expect("up");
                up.store.commit_block(&block).map_err(|e| format!("node {}: writing its block: {e}", flight.node))?;
                up.tip = block.signed;
                answer_durable(&up.store, flight.job);
                for mut ticket in flight.tickets {
                    match ticket.answer.try_recv() {
                        Ok(Ok(outcome))
                            if ticket.double_spend.is_none()
                                && !outcome.duplicate
                                && outcome.receipt.txid == ticket.txid
                                && outcome.receipt.block == block.signed =>
                        {
                            self.report.receipts_answered += 1;
                        }
                        Ok(Err(refusal)) => count_refusal(&mut self.report, ticket.double_spend, &refusal)?,
                        other => {
                            return Err(format!("{} answered {other:?} when its block was committed", ticket.txid));
                        }
                    }
                }
                self.saw(height, hash, flight.node)?;
                self.report.blocks_confirmed += 1;
                self.report.payments_confirmed += block.txs.len() as u64;
                for (vtx, _) in &block.txs {
                    if vtx.tx.kind == TxKind::Transfer {
                        for input in &vtx.tx.inputs {
                            if let Some((output, _)) = self.coins.get(input) {
                                self.spent.push((*input, *output, vtx.txid));
                            }
                        }
                    }
                }
                if self.spent.len() > COINS_MAX {
                    self.spent.drain(..self.spent.len() - COINS_MAX);
                }
                self.confirmed.push(Confirmed {
                    height,
                    hash,
                    txs: block.txs.iter().map(|(vtx, applied)| (vtx.txid, applied.sequence)).collect(),
                });
                Ok(())
            }
            answer => {
                // The engine answers them NOT_LEADER or outcome unknown;
                // the simulation's stand-in says unavailable.
                answer_unavailable(flight.job);
                self.report.answers_in_doubt += flight.tickets.len() as u64;
                if matches!(answer, Answer::Refused) {
                    self.report.proposals_refused += 1;
                } else {
                    self.in_doubt.push((height, hash));
                }
                if same_life {
                    // The engine's step-down: the ledger again from its store.
                    let genesis = self.genesis.clone();
                    let tiers = self.tiers.clone();
                    let up = self.replicas[index].up.as_mut().expect("up");
                    let recovered = up.store.recover(genesis).map_err(|e| e.to_string())?;
                    up.tip = recovered.tip;
                    let ledger = settled::recovered_ledger(recovered, tiers).map_err(|e| e.to_string())?;
                    up.sequencer = Sequencing::new(ledger, up.tip);
                    up.leading_term = None;
                }
                Ok(())
            }
        }
    }

    /// Whether every replica is up, one leads, and all hold the committed
    /// chain to its end.
    fn agreed(&self, healed: u64) -> Result<bool, String> {
        let Some(leader) = self.leader_index() else { return Ok(false) };
        let up = self.replicas[leader].up.as_ref().expect("up");
        let committed = up.proposals.last_height().map_err(|e| e.to_string())?;
        Ok(committed > healed
            && self.replicas.iter().all(|r| r.up.as_ref().is_some_and(|up| up.tip.header.height == committed)))
    }

    /// The end of a seed: the replicas' chains, receipts, audits and
    /// unspent sets.
    fn check_end(&mut self) -> Result<(), String> {
        let ups: Vec<(NodeId, &Up)> =
            self.replicas.iter().map(|r| (r.id, r.up.as_ref().expect("every replica is up"))).collect();
        let tip = ups[0].1.tip;
        for (id, up) in &ups {
            if up.tip != tip {
                return Err(format!(
                    "node {id} ends at block {}, node 1 at {}",
                    up.tip.header.height, tip.header.height
                ));
            }
            for height in 1..=tip.header.height {
                let header = up.store.header(height).map_err(|e| e.to_string())?.ok_or("a missing block")?;
                if self.chain.get(&height) != Some(&header.header.hash()) {
                    return Err(format!("node {id}'s block {height} is not the one seen there before"));
                }
            }
            let audit = settled::audit(&up.store).map_err(|e| e.to_string())?;
            if !audit.failures.is_empty() {
                return Err(format!("node {id}: the chain audit failed: {:?}", audit.failures));
            }
        }
        for confirmed in &self.confirmed {
            for (id, up) in &ups {
                let held = up.store.header(confirmed.height).map_err(|e| e.to_string())?;
                if held.map(|h| h.header.hash()) != Some(confirmed.hash) {
                    return Err(format!("node {id} lost confirmed block {}", confirmed.height));
                }
                for (txid, sequence) in &confirmed.txs {
                    let receipt = up.store.receipt(txid).map_err(|e| e.to_string())?;
                    match receipt {
                        Some(r) if r.sequence == *sequence && r.block.header.height == confirmed.height => {}
                        other => {
                            return Err(format!(
                                "node {id}: confirmed payment {txid} (sequence {sequence}, block {}) found as {:?}",
                                confirmed.height,
                                other.map(|r| (r.sequence, r.block.header.height))
                            ));
                        }
                    }
                    self.report.receipts_checked += 1;
                }
            }
        }
        for (height, hash) in &self.in_doubt {
            if self.chain.get(height) == Some(hash) {
                self.report.in_doubt_committed += 1;
            } else {
                self.report.in_doubt_lost += 1;
            }
        }
        // The reference walk: every input spends an output that exists and
        // is unspent; what is left is every replica's unspent set.
        let (_, first) = ups[0];
        let mut unspent: BTreeMap<OutPoint, Output> = BTreeMap::new();
        let mut minted = 0u64;
        let mut digest = DefaultHasher::new();
        for height in 1..=tip.header.height {
            let block = first.store.sealed_block(height).map_err(|e| e.to_string())?.ok_or("a missing block")?;
            height.hash(&mut digest);
            block.signed.header.hash().hash(&mut digest);
            for (tx, _) in &block.txs {
                let txid = settled::txid(tx);
                txid.0.hash(&mut digest);
                for input in &tx.inputs {
                    if unspent.remove(input).is_none() {
                        return Err(format!("block {height}: {txid} spends {input:?}, which is not unspent"));
                    }
                }
                if tx.kind == TxKind::Mint {
                    minted += tx.outputs.iter().map(|o| o.amount_minor).sum::<u64>();
                }
                for (i, output) in tx.outputs.iter().enumerate() {
                    unspent.insert(OutPoint { txid, index: u32::try_from(i).expect("few outputs") }, *output);
                }
            }
        }
        let sum: u64 = unspent.values().map(|o| o.amount_minor).sum();
        if sum != minted {
            return Err(format!("supply: {sum} unspent, {minted} minted"));
        }
        for (id, up) in &ups {
            let recovered = up.store.recover(self.genesis.clone()).map_err(|e| e.to_string())?;
            let theirs: BTreeMap<OutPoint, Output> = recovered.unspent.into_iter().collect();
            if theirs != unspent || up.sequencer.ledger().unspent_count() != unspent.len() {
                return Err(format!("node {id}'s unspent set is not the committed chain's"));
            }
            let totals = up.sequencer.ledger().totals();
            if totals.minted_minor != minted || totals.unspent_minor != sum {
                return Err(format!("node {id}'s totals {totals:?}; the chain minted {minted}"));
            }
        }
        self.report.final_heights += tip.header.height;
        self.report.digest = digest.finish();
        Ok(())
    }
}
