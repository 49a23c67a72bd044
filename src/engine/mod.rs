//! The payment pipeline: verify pool (all cores) -> sequencer (one thread, the
//! single writer of the ledger state) -> writer (one thread, one redb write
//! transaction per block) -> replies. Every queue between them is bounded.
//!
//! Group commit: the sequencer takes everything that arrived while the
//! previous block was being written and makes it the next block, validated
//! against the effects of the block still being written (pipelining). The
//! hand-off to the writer is a rendezvous, so at most one block is being
//! written and one waits; nothing is confirmed before its block is durable.
//!
//! Cluster mode (a [`Replicator`] configured): the engine seals blocks only
//! while its node leads; the writer replicates each block (a majority of the
//! cluster makes it durable) before it commits it locally and answers. A
//! follower's engine refuses submissions with `Reason::NotLeader` and
//! applies the committed blocks it is given ([`Engine::follow`]) through
//! the same ledger code (`replica::replay`). A leader that loses leadership
//! answers what it holds with `NotLeader` and rebuilds its ledger from its
//! store, which only ever holds committed blocks.

pub mod replica;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::core::crypto::Keypair;
use crate::core::encoding::{BlockHeader, Genesis};
use crate::core::ledger::{Decline, Ledger};
use crate::core::limits::{
    ADMISSION_PEAK_DECAY, ADMISSION_WINDOW_MS, ADMITTED_FLOOR, ADMITTED_WAIT_TARGET_MS, BLOCK_TXS_MAX,
    OVERLOAD_RETRY_AFTER_MAX_MS, OVERLOAD_RETRY_AFTER_MS, SEQUENCER_QUEUE_MAX, VERIFY_QUEUE_MAX,
};
use crate::core::merkle;
use crate::core::receipt::{Receipt, SignedHeader};
use crate::core::refusal::{Reason, Refusal};
use crate::core::registry::{AdminOp, ProgrammeStats, Registry, Role, TierPolicy};
use crate::core::types::{ChainId, OutPoint, ProgrammeId, Transaction, TxId, TxKind};
use crate::core::verify::{self, VerifiedTx};
use crate::metrics::Metrics;
use crate::store::faults::{Clock, StorageFaults};
use crate::store::{BlockRecord, FileHooks, Recovered, Store, StoreError};

/// A confirmed transaction: its receipt, and whether it had been confirmed
/// before this submission (an idempotent resubmission).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub receipt: Receipt,
    pub duplicate: bool,
}

pub type Reply = Result<Outcome, Refusal>;
type Responder = oneshot::Sender<Reply>;
/// A transaction for the verify pool: the transaction, the only merchant it
/// may pay (when a terminal submits it), and whom to answer.
type VerifyJob = (Transaction, Submitter, Responder);

/// Who submits a transaction, for the rules that depend on the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Submitter {
    /// The operator, an issuer, development mode, or a library caller.
    #[default]
    Trusted,
    /// A terminal of `merchant`: it takes payments for its own merchant
    /// only, and redeems nothing.
    Terminal { id: String, merchant: String },
    /// A bank: it redeems its own merchants' takings only.
    Bank(String),
}

pub struct EngineConfig {
    pub data_file: PathBuf,
    pub genesis: Genesis,
    pub engine_key: Keypair,
    /// Threads in the verify pool; 0 means one per core.
    pub verify_threads: usize,
    /// Fault injection under the data file (tests and simulations only).
    pub storage_faults: Option<StorageFaults>,
    /// The ledger on a simulated disk (power-loss tests only).
    pub sim_disk: Option<crate::store::faults::SimDisk>,
    /// Wallet tiers and the day boundary for daily limits.
    pub tiers: TierPolicy,
    /// The clock blocks are stamped with (and rules judged by).
    pub clock: Clock,
    /// Transactions waiting for the verify stage (`VERIFY_QUEUE_MAX`).
    pub verify_queue_max: usize,
    /// Tests: merge the random-key tables more often (`Store::set_merge_every`).
    pub index_merge_every: Option<(u64, u64, usize)>,
    /// The time of a new data file's genesis block (now when absent); a
    /// cluster fixes it so that every replica starts from the same block.
    pub genesis_time_unix_ms: Option<u64>,
    /// Cluster mode: replicates each block before it is confirmed. The
    /// engine starts as a follower.
    pub replicator: Option<Arc<dyn Replicator>>,
}

/// Cluster mode: what makes a sealed block committed before the engine
/// confirms it.
pub trait Replicator: Send + Sync + 'static {
    /// Proposes the encoded block (`ReplicatedBlock`, signed by the engine)
    /// at `height` and blocks until a majority of the cluster has made it
    /// durable and it is applied.
    ///
    /// # Errors
    /// The block was not committed as this node's: leadership was lost, or
    /// the cluster did not answer in time. Its outcome is unknown to the
    /// caller: the block may still be committed by the next leader.
    fn replicate(&self, height: u64, block: Vec<u8>) -> Result<(), NotCommitted>;
}

/// Why a block was not committed as this leader's.
#[derive(Debug, Clone)]
pub struct NotCommitted {
    /// The leader's public API address, if known.
    pub leader: Option<String>,
    pub why: String,
    /// The block may still be committed (it reached the log, and a
    /// timeout or a change of leader cut the wait short); `false` when the
    /// cluster certainly did not take it.
    pub in_doubt: bool,
}

/// Cluster mode: this replica's view of its cluster, as its node last saw
/// it (for status, metrics and health).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterState {
    pub node_id: u64,
    pub term: u64,
    pub leader_id: Option<u64>,
    /// The leader's public API address, when another node leads.
    pub leader_address: Option<String>,
    /// The highest block height committed by the cluster and applied to
    /// this node's Raft state machine (the engine's tip follows it).
    pub committed_height: u64,
    /// The voters' ids.
    pub members: Vec<u64>,
}

/// Facts about the last durable block, for readers.
#[derive(Clone, Copy, Debug)]
pub struct Tip {
    pub block: SignedHeader,
    pub unspent_count: u64,
}

struct Shared {
    store: Arc<Store>,
    engine_key: Keypair,
    genesis: Genesis,
    /// The ledger's chain id: every signature is checked and made for it.
    chain: ChainId,
    failed: AtomicBool,
    health: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    durable_height: AtomicU64,
    /// The same height, for readers that wait for the next block (streams).
    durable: watch::Sender<u64>,
    /// The registry as of the last durable block, for readers.
    registry: RwLock<Registry>,
    /// Programme statistics as of the last durable block.
    stats: RwLock<HashMap<ProgrammeId, ProgrammeStats>>,
    tiers: TierPolicy,
    clock: Clock,
    /// The writer is waiting for a block: the sequencer seals now.
    writer_idle: AtomicBool,
    tip: Mutex<Tip>,
    admission: Admission,
    /// Cluster mode only.
    replicator: Option<Arc<dyn Replicator>>,
    /// Whether the engine may seal blocks: always in single-node mode; in a
    /// cluster, while its node leads and has applied every committed block.
    leading: AtomicBool,
    /// The leader's public API address, for `NotLeader` refusals.
    leader_hint: Mutex<Option<String>>,
    /// `leading`, for those who wait for it to change (health).
    leading_changes: watch::Sender<bool>,
    cluster: Mutex<Option<ClusterState>>,
}

/// Admission control: the engine holds no more payments than it confirms in
/// `ADMITTED_WAIT_TARGET_MS` at its recent peak rate (at least
/// `ADMITTED_FLOOR`); past that a submission is refused at once, with a hint
/// of how long the engine needs to clear what it holds.
struct Admission {
    /// Payments submitted and not yet answered (or abandoned).
    held: AtomicU64,
    limit: AtomicU64,
    /// The channel's own bound (the configured verify queue).
    ceiling: u64,
    /// Peak confirmation rate in payments/s, as `f64` bits.
    peak_rate: AtomicU64,
}

impl Admission {
    fn new(ceiling: u64) -> Self {
        Self {
            held: AtomicU64::new(0),
            limit: AtomicU64::new(ADMITTED_FLOOR.min(ceiling)),
            ceiling,
            peak_rate: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn full(&self) -> bool {
        self.held.load(Ordering::Relaxed) >= self.limit.load(Ordering::Relaxed)
    }

    /// Takes a place for one payment, or refuses it.
    fn admit(&self) -> Result<Held<'_>, Refusal> {
        let held = self.held.fetch_add(1, Ordering::AcqRel);
        if held >= self.limit.load(Ordering::Relaxed) {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refusal());
        }
        Ok(Held(&self.held))
    }

    /// An overload refusal whose retry hint is the time the engine needs to
    /// clear what it holds at its peak rate.
    fn refusal(&self) -> Refusal {
        let rate = f64::from_bits(self.peak_rate.load(Ordering::Relaxed));
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let clear_ms = if rate > 0.0 {
            (self.held.load(Ordering::Relaxed) as f64 * 1_000.0 / rate) as u64
        } else {
            u64::from(OVERLOAD_RETRY_AFTER_MS)
        };
        let retry_ms =
            u32::try_from(clear_ms).unwrap_or(u32::MAX).clamp(OVERLOAD_RETRY_AFTER_MS, OVERLOAD_RETRY_AFTER_MAX_MS);
        let mut refusal = overloaded();
        refusal.detail = format!("the engine holds all it can clear in time; retry after {retry_ms} ms");
        refusal.retry_after_ms = retry_ms;
        refusal
    }

    /// A new measurement of the confirmation rate (writer thread).
    fn measured(&self, rate_per_s: f64) {
        let peak = rate_per_s.max(f64::from_bits(self.peak_rate.load(Ordering::Relaxed)) * ADMISSION_PEAK_DECAY);
        self.peak_rate.store(peak.to_bits(), Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let limit = (peak * ADMITTED_WAIT_TARGET_MS as f64 / 1_000.0) as u64;
        self.limit.store(limit.max(ADMITTED_FLOOR).min(self.ceiling), Ordering::Relaxed);
    }
}

/// One payment's place in the engine, given back when it is answered or its
/// caller goes away.
struct Held<'a>(&'a AtomicU64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn fail(&self, error: &StoreError) {
        tracing::error!(%error, "storage failed");
        self.fail_stop("storage failed");
    }

    fn fail_stop(&self, why: &str) {
        tracing::error!("{why}: no further payment will be confirmed; restart to recover the last durable block");
        self.failed.store(true, Ordering::SeqCst);
        self.health.send_replace(false);
        // A failed cluster replica seals nothing more (its node gives up the
        // leadership as well).
        if self.replicator.is_some() {
            self.set_leading(false);
        }
    }
}

impl Shared {
    fn leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Returns whether the engine was leading.
    fn set_leading(&self, leading: bool) -> bool {
        let was = self.leading.swap(leading, Ordering::AcqRel);
        self.leading_changes.send_replace(leading);
        was
    }

    fn not_leader(&self) -> Refusal {
        let leader = self.leader_hint.lock().expect("not poisoned").clone();
        let detail = match &leader {
            Some(address) => format!("this replica does not lead the cluster; submit to the leader at {address}"),
            None => "this replica does not lead the cluster and no leader is known yet; retry shortly".to_owned(),
        };
        let mut refusal = Refusal::new(Reason::NotLeader, detail);
        refusal.leader = leader.map(String::into_boxed_str);
        refusal
    }

    /// The answer to a payment sealed but not committed when leadership was
    /// lost: the next leader may still commit its block.
    fn outcome_unknown(&self) -> Refusal {
        let mut refusal = self.not_leader();
        refusal.detail = format!(
            "leadership was lost before this block was committed; its outcome is unknown: resubmit the same \
             transaction to the leader (it is applied at most once). {}",
            refusal.detail
        );
        refusal.outcome_unknown = true;
        refusal
    }

    /// The same for a registry change, which is not idempotent.
    fn admin_outcome_unknown(&self) -> Refusal {
        let mut refusal = self.not_leader();
        refusal.detail = format!(
            "leadership was lost before this registry change was committed; its outcome is unknown: read the \
             registry on the leader before repeating it. {}",
            refusal.detail
        );
        refusal.outcome_unknown = true;
        refusal
    }
}

fn unavailable() -> Refusal {
    Refusal::new(Reason::Unavailable, "the engine has stopped after a storage failure; retry on a restarted server")
}

/// The running engine. Cheap to share; `shutdown` stops its threads.
pub struct Engine {
    shared: Arc<Shared>,
    verify_queue: Mutex<Option<mpsc::Sender<VerifyJob>>>,
    /// Registry changes skip the verify pool and go straight to the sequencer.
    admin_queue: Mutex<Option<std_mpsc::SyncSender<SequencerJob>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

enum SequencerJob {
    Tx {
        vtx: VerifiedTx,
        submitter: Submitter,
        reply: Responder,
    },
    Admin {
        op: AdminOp,
        reply: AdminResponder,
    },
    /// A block the cluster committed, for a follower to apply.
    Follow {
        block: Vec<u8>,
    },
    /// Undo what was sealed as leader, if leadership was lost; answered
    /// with the sequencer's tip height.
    Settle {
        reply: oneshot::Sender<u64>,
    },
}

/// The answer to a registry change: the height of the durable block that
/// carries it.
pub type AdminReply = Result<u64, Refusal>;
type AdminResponder = oneshot::Sender<AdminReply>;

/// What the writer receives for one block: the block (none when everything
/// in the batch was refused or was a resubmission), whom to answer with which
/// receipt, and resubmissions of already sealed transactions to answer from
/// the store once this block is durable.
struct WriterJob {
    block: Option<BlockRecord>,
    replies: Vec<(usize, bool, Responder)>,
    lookups: Vec<(TxId, Responder)>,
    /// Refusals that name a spender not yet durable: sent only once it is,
    /// so that no answer rests on state a crash could undo.
    deferred: Vec<(Refusal, Responder)>,
    /// Registry changes in the block, answered with its height once durable.
    admin_replies: Vec<AdminResponder>,
    /// The block is a committed one this follower replayed: written, never
    /// replicated again.
    followed: bool,
    /// Told once the writer has dealt with every job before this one.
    barrier: Option<std_mpsc::Sender<()>>,
}

impl WriterJob {
    /// Nothing to write and nobody to answer.
    fn empty() -> Self {
        Self {
            block: None,
            replies: Vec::new(),
            lookups: Vec::new(),
            deferred: Vec::new(),
            admin_replies: Vec::new(),
            followed: false,
            barrier: None,
        }
    }

    fn followed(block: BlockRecord) -> Self {
        Self { block: Some(block), followed: true, ..Self::empty() }
    }
}

impl Engine {
    /// Opens the data file (creating it with the genesis if new), rebuilds the
    /// unspent set and starts the pipeline threads.
    ///
    /// # Errors
    /// Storage failures or a genesis mismatch.
    pub fn start(config: EngineConfig) -> Result<Arc<Self>, StoreError> {
        let engine_key = config.engine_key.clone();
        let metrics = Arc::new(Metrics::default());
        let hooks = FileHooks {
            faults: config.storage_faults.clone(),
            fsync_seconds: Some(Arc::clone(&metrics.fsync_seconds)),
            disk: config.sim_disk.clone(),
            genesis_time_unix_ms: config.genesis_time_unix_ms,
        };
        let (store, recovered) =
            Store::open(&config.data_file, &config.genesis, |message| engine_key.sign(message), &hooks)?;
        if let Some((txs, blocks, slice)) = config.index_merge_every {
            store.set_merge_every(txs, blocks, slice);
        }
        let store = Arc::new(store);
        if let Some(time) = config.genesis_time_unix_ms {
            let genesis_block = store.header(0)?.ok_or_else(|| StoreError::Corrupt("no genesis block".to_owned()))?;
            if genesis_block.header.time_unix_ms != time {
                return Err(StoreError::Config(format!(
                    "the data file's genesis block is from {} ms, the cluster's from {time} ms: this data directory \
                     belongs to another chain (a single node, or another cluster)",
                    genesis_block.header.time_unix_ms
                )));
            }
        }
        let tip = recovered.tip;
        let started = std::time::Instant::now();
        let registry = recovered.registry.clone();
        let stats = recovered.stats.clone();
        let ledger = recovered_ledger(recovered, config.tiers.clone())?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis(), "ledger rebuilt from the unspent set");
        // A wallet whose tier left the table would have no limits at all.
        if let Some(wallet) = registry.wallets.values().find(|w| config.tiers.tier(w.tier).is_none()) {
            return Err(StoreError::Config(format!(
                "wallet {} is registered with tier {}, which the configured tier table no longer has",
                wallet.address, wallet.tier
            )));
        }
        let (health, _) = watch::channel(true);
        let (durable, _) = watch::channel(tip.header.height);
        let chain = store.chain_id();
        let shared = Arc::new(Shared {
            store,
            engine_key: config.engine_key,
            genesis: config.genesis,
            chain,
            failed: AtomicBool::new(false),
            health,
            durable_height: AtomicU64::new(tip.header.height),
            durable,
            writer_idle: AtomicBool::new(true),
            tip: Mutex::new(Tip { block: tip, unspent_count: ledger.unspent_count() as u64 }),
            admission: Admission::new(config.verify_queue_max.clamp(1, VERIFY_QUEUE_MAX) as u64),
            registry: RwLock::new(registry),
            stats: RwLock::new(stats),
            tiers: config.tiers,
            clock: config.clock,
            metrics,
            leading: AtomicBool::new(config.replicator.is_none()),
            leading_changes: watch::channel(config.replicator.is_none()).0,
            cluster: Mutex::new(None),
            replicator: config.replicator,
            leader_hint: Mutex::new(None),
        });
        // A read that finds the file damaged stops the engine: nothing built
        // on a damaged file is confirmed, nothing read from it is served.
        let damaged = Arc::downgrade(&shared);
        shared.store.on_damage(move |what| {
            if let Some(shared) = damaged.upgrade() {
                shared.fail_stop(&format!("the data file is damaged: {what}"));
            }
        });
        let (verify_tx, verify_rx) = mpsc::channel(config.verify_queue_max.clamp(1, VERIFY_QUEUE_MAX));
        let (sequencer_tx, sequencer_rx) = std_mpsc::sync_channel(SEQUENCER_QUEUE_MAX);
        let (writer_tx, writer_rx) = std_mpsc::sync_channel(0);
        let verify_threads = if config.verify_threads == 0 {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        } else {
            config.verify_threads
        };
        let verify_rx = Arc::new(Mutex::new(verify_rx));
        let known = Arc::new(verify::KnownKeys::default());
        let mut threads = Vec::new();
        for i in 0..verify_threads {
            let rx = Arc::clone(&verify_rx);
            let tx = sequencer_tx.clone();
            let known = Arc::clone(&known);
            let metrics = Arc::clone(&shared.metrics);
            threads.push(spawn(&shared, &format!("settled-verify-{i}"), move || {
                verify_loop(&rx, &tx, &known, &metrics, &chain);
            }));
        }
        let admin_queue = sequencer_tx;
        let sequencer = Sequencer {
            led: shared.leading(),
            writer: writer_tx,
            shared: Arc::clone(&shared),
            ledger,
            tip,
            pending: VecDeque::new(),
            pending_spent: HashMap::new(),
            pending_txids: HashMap::new(),
            pending_refs: HashMap::new(),
        };
        threads.push(spawn(&shared, "settled-sequencer", move || sequencer.run(&sequencer_rx)));
        let writer_shared = Arc::clone(&shared);
        threads.push(spawn(&shared, "settled-writer", move || writer_loop(&writer_shared, &writer_rx)));
        Ok(Arc::new(Self {
            shared,
            verify_queue: Mutex::new(Some(verify_tx)),
            admin_queue: Mutex::new(Some(admin_queue)),
            threads: Mutex::new(threads),
        }))
    }

    /// Applies a registry change in ledger order, durably; answers with the
    /// height of the block that carries it.
    pub async fn admin(&self, op: AdminOp) -> AdminReply {
        if self.shared.failed.load(Ordering::Relaxed) {
            return Err(unavailable());
        }
        if !self.shared.leading() {
            return Err(self.shared.not_leader());
        }
        let (reply, outcome) = oneshot::channel();
        let sender = self.admin_queue.lock().expect("not poisoned").clone();
        let Some(sender) = sender else {
            return Err(Refusal::new(Reason::Unavailable, "the engine is shutting down"));
        };
        match sender.try_send(SequencerJob::Admin { op, reply }) {
            Ok(()) => {}
            Err(std_mpsc::TrySendError::Full(_)) => return Err(overloaded()),
            Err(std_mpsc::TrySendError::Disconnected(_)) => {
                return Err(Refusal::new(Reason::Unavailable, "the engine is shutting down"));
            }
        }
        outcome.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// The engine's clock (what the next block will be stamped with, or later).
    #[must_use]
    pub fn now_unix_ms(&self) -> u64 {
        self.shared.clock.now_unix_ms()
    }

    /// A programme's statistics as of the last durable block.
    #[must_use]
    pub fn programme_stats(&self, programme: ProgrammeId) -> ProgrammeStats {
        self.shared.stats.read().expect("not poisoned").get(&programme).cloned().unwrap_or_default()
    }

    /// The registry as of the last durable block.
    pub fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.shared.registry.read().expect("not poisoned")
    }

    #[must_use]
    pub fn tiers(&self) -> &TierPolicy {
        &self.shared.tiers
    }

    /// Submits a transaction and waits for its outcome: a receipt once its
    /// block is durable, or a refusal. Refuses at once with
    /// `Reason::Overloaded` when the verify queue is full.
    pub async fn submit(&self, tx: Transaction) -> Reply {
        self.submit_for(tx, Submitter::Trusted).await
    }

    /// Submits on behalf of `submitter`: a terminal's payment that pays
    /// another registered merchant, a terminal's redemption, or a bank's
    /// redemption of another bank's merchant is refused with
    /// `Reason::PermissionDenied`, judged by the registry the sequencer sees.
    pub async fn submit_for(&self, tx: Transaction, submitter: Submitter) -> Reply {
        let started = std::time::Instant::now();
        let reply = self.submit_inner(tx, submitter).await;
        self.shared.metrics.outcome(reply.as_ref().map(|o| o.duplicate).map_err(|r| r.reason), started.elapsed());
        reply
    }

    async fn submit_inner(&self, tx: Transaction, submitter: Submitter) -> Reply {
        if self.shared.failed.load(Ordering::Relaxed) {
            return Err(unavailable());
        }
        if !self.shared.leading() {
            return Err(self.shared.not_leader());
        }
        let _held = self.shared.admission.admit()?;
        let (reply, outcome) = oneshot::channel();
        let sender = self.verify_queue.lock().expect("not poisoned").clone();
        let Some(sender) = sender else {
            return Err(Refusal::new(Reason::Unavailable, "the engine is shutting down"));
        };
        match sender.try_send((tx, submitter, reply)) {
            Ok(()) => {
                self.shared.metrics.verify_queue.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(self.shared.admission.refusal());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(Refusal::new(Reason::Unavailable, "the engine is shutting down"));
            }
        }
        outcome.await.unwrap_or_else(|_| Err(unavailable()))
    }

    /// Cluster mode: hands a block the cluster committed to a follower's
    /// sequencer, which replays it (blocks at or below its tip are skipped)
    /// and has it written; waits for room in the sequencer's queue, not for
    /// the write. `false` once the engine has stopped or failed.
    pub async fn follow(&self, block: Vec<u8>) -> bool {
        !self.shared.failed.load(Ordering::Relaxed) && self.queue_waiting(SequencerJob::Follow { block }).await
    }

    /// Puts a cluster job on the sequencer's queue, waiting while it is full
    /// (the runtime is not blocked); `false` once the engine has stopped.
    async fn queue_waiting(&self, mut job: SequencerJob) -> bool {
        let sender = self.admin_queue.lock().expect("not poisoned").clone();
        let Some(sender) = sender else { return false };
        loop {
            match sender.try_send(job) {
                Ok(()) => return true,
                Err(std_mpsc::TrySendError::Full(back)) => {
                    job = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(std_mpsc::TrySendError::Disconnected(_)) => return false,
            }
        }
    }

    /// Cluster mode, before [`Engine::lead`]: has the sequencer undo what it
    /// sealed as leader if leadership was lost since (it may not have
    /// noticed yet), and answers with its tip height (blocks replayed
    /// included, durable or not). `None` once the engine has stopped.
    pub async fn settle(&self) -> Option<u64> {
        if self.shared.failed.load(Ordering::SeqCst) {
            return None;
        }
        let (reply, tip) = oneshot::channel();
        if !self.queue_waiting(SequencerJob::Settle { reply }).await {
            return None;
        }
        tip.await.ok()
    }

    /// Cluster mode: the node leads and this engine has applied every
    /// committed block ([`Engine::settle`] first); it seals blocks from now
    /// on.
    pub fn lead(&self) {
        if self.shared.failed.load(Ordering::SeqCst) {
            return;
        }
        *self.shared.leader_hint.lock().expect("not poisoned") = None;
        self.shared.set_leading(true);
        tracing::info!(height = self.tip().block.header.height, "leading: sealing blocks");
    }

    /// Cluster mode: the node no longer leads. Submissions are refused with
    /// `NotLeader` naming `leader`; the sequencer answers what it holds and
    /// rebuilds its ledger from the store.
    pub fn step_down(&self, leader: Option<String>) {
        *self.shared.leader_hint.lock().expect("not poisoned") = leader;
        if self.shared.set_leading(false) {
            tracing::warn!("no longer leading: payments are refused with the leader's address");
        }
    }

    /// Stops confirming for good (health NOT_SERVING), as on a storage
    /// failure: a cluster node whose Raft stopped.
    pub fn fail_stop(&self, why: &str) {
        self.shared.fail_stop(why);
    }

    /// Whether the engine has failed stop.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// Cluster mode: where refusals send callers.
    pub fn set_leader_hint(&self, leader: Option<String>) {
        *self.shared.leader_hint.lock().expect("not poisoned") = leader;
    }

    /// The refusal a follower gives: `NotLeader`, naming the leader if known.
    #[must_use]
    pub fn not_leader(&self) -> Refusal {
        self.shared.not_leader()
    }

    /// Whether this engine seals blocks (always, in single-node mode).
    #[must_use]
    pub fn leading(&self) -> bool {
        self.shared.leading()
    }

    /// [`Engine::leading`], changing as leadership comes and goes.
    #[must_use]
    pub fn leading_changes(&self) -> watch::Receiver<bool> {
        self.shared.leading_changes.subscribe()
    }

    /// Cluster mode: records the node's view of the cluster.
    pub fn set_cluster_state(&self, state: ClusterState) {
        *self.shared.cluster.lock().expect("not poisoned") = Some(state);
    }

    /// Cluster mode: the node's view of the cluster (`None` on a single
    /// node).
    #[must_use]
    pub fn cluster_state(&self) -> Option<ClusterState> {
        self.shared.cluster.lock().expect("not poisoned").clone()
    }

    /// An overload refusal if the engine holds all it may now: the API asks
    /// before decoding a payment, so that shedding the excess costs little.
    #[must_use]
    pub fn overloaded_now(&self) -> Option<Refusal> {
        self.shared.admission.full().then(|| self.shared.admission.refusal())
    }

    /// The engine's measurements, for the metrics endpoint and the API.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// The Prometheus text of the engine's measurements and the ledger.
    #[must_use]
    pub fn render_metrics(&self) -> String {
        let tip = self.tip();
        let header = tip.block.header;
        self.shared.metrics.render(&crate::metrics::LedgerGauges {
            tip_height: header.height,
            unspent_outputs: tip.unspent_count,
            supply_minor: header.minted_total_minor - header.burned_total_minor,
            serving: !self.shared.failed.load(Ordering::Relaxed),
            admitted_held: self.shared.admission.held.load(Ordering::Relaxed),
            admitted_limit: self.shared.admission.limit.load(Ordering::Relaxed),
            cluster: self.cluster_state().map(|state| crate::metrics::ClusterGauges {
                leading: self.leading(),
                term: state.term,
                committed_height: state.committed_height,
            }),
        })
    }

    /// The height of the last durable block, changing as blocks commit.
    #[must_use]
    pub fn durable_heights(&self) -> watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    #[must_use]
    pub fn store_arc(&self) -> &Arc<Store> {
        &self.shared.store
    }

    #[must_use]
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    #[must_use]
    pub fn genesis(&self) -> &Genesis {
        &self.shared.genesis
    }

    /// The ledger's chain id, which every signature on it covers.
    #[must_use]
    pub fn chain_id(&self) -> ChainId {
        self.shared.chain
    }

    /// The engine's signing key (a cluster node signs the blocks it
    /// serves to a replica catching up).
    #[must_use]
    pub fn engine_keypair(&self) -> &Keypair {
        &self.shared.engine_key
    }

    #[must_use]
    pub fn engine_key(&self) -> crate::core::types::Address {
        self.shared.engine_key.address()
    }

    #[must_use]
    pub fn tip(&self) -> Tip {
        *self.shared.tip.lock().expect("not poisoned")
    }

    /// `true` while the engine can confirm payments; becomes `false` for good
    /// after a storage failure.
    #[must_use]
    pub fn health(&self) -> watch::Receiver<bool> {
        self.shared.health.subscribe()
    }

    /// Stops accepting, lets everything already admitted finish, and joins the
    /// pipeline threads.
    pub fn shutdown(&self) {
        self.verify_queue.lock().expect("not poisoned").take();
        self.admin_queue.lock().expect("not poisoned").take();
        let threads = std::mem::take(&mut *self.threads.lock().expect("not poisoned"));
        let joined = !threads.is_empty();
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a pipeline thread panicked");
            }
        }
        // Only a writer that stopped without a failure wrote whole blocks.
        if joined
            && !self.shared.failed.load(Ordering::SeqCst)
            && let Err(error) = self.shared.store.close_cleanly()
        {
            tracing::warn!(%error, "the data file was not marked cleanly closed; the next start checks it");
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn overloaded() -> Refusal {
    let mut refusal = Refusal::new(Reason::Overloaded, "the engine's queue is full; retry shortly");
    refusal.detail = format!("{} (retry after {OVERLOAD_RETRY_AFTER_MS} ms)", refusal.detail);
    refusal
}

/// Spawns a pipeline thread. If it panics (a broken invariant), the engine
/// fails stop as on a storage error: nothing more is confirmed and health
/// turns NOT_SERVING.
fn spawn(shared: &Arc<Shared>, name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    struct FailOnPanic(Arc<Shared>);
    impl Drop for FailOnPanic {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.fail_stop("a pipeline thread panicked");
            }
        }
    }
    let guard = FailOnPanic(Arc::clone(shared));
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _guard = guard;
            f();
        })
        .expect("spawning a pipeline thread")
}

fn verify_loop(
    queue: &Mutex<mpsc::Receiver<VerifyJob>>,
    sequencer: &std_mpsc::SyncSender<SequencerJob>,
    known: &verify::KnownKeys,
    metrics: &Metrics,
    chain: &ChainId,
) {
    loop {
        let job = queue.lock().expect("not poisoned").blocking_recv();
        let Some((tx, submitter, reply)) = job else { return };
        metrics.verify_queue.fetch_sub(1, Ordering::Relaxed);
        if reply.is_closed() {
            continue;
        }
        match verify::verify_with(tx, known, chain) {
            Ok(vtx) => {
                metrics.sequencer_queue.fetch_add(1, Ordering::Relaxed);
                if let Err(std_mpsc::SendError(job)) = sequencer.send(SequencerJob::Tx { vtx, submitter, reply }) {
                    if let SequencerJob::Tx { reply, .. } = job {
                        let _ = reply.send(Err(unavailable()));
                    }
                    return;
                }
            }
            Err(refusal) => {
                let _ = reply.send(Err(refusal));
            }
        }
    }
}

struct Sequencer {
    shared: Arc<Shared>,
    /// Cluster mode: the ledger may hold blocks sealed as leader and not
    /// yet committed (what a step down must undo).
    led: bool,
    writer: std_mpsc::SyncSender<WriterJob>,
    ledger: Ledger,
    tip: SignedHeader,
    /// Sealed blocks not yet known durable: their height, spent outpoints
    /// and txids, so that resubmissions and double spends of transactions
    /// still being written are recognised.
    pending: VecDeque<PendingBlock>,
    pending_spent: HashMap<OutPoint, TxId>,
    pending_txids: HashMap<TxId, ()>,
    pending_refs: HashMap<Vec<u8>, TxId>,
}

/// What a sealed, not yet durable block holds that later arrivals must see.
struct PendingBlock {
    height: u64,
    spent: Vec<OutPoint>,
    txids: Vec<TxId>,
    mint_refs: Vec<Vec<u8>>,
}

/// Where a transaction already sealed lives, when it is resubmitted.
enum Known {
    InThisBlock(usize),
    Sealed,
    None,
}

/// The block being filled: transactions applied to the ledger but not yet
/// sealed, and everyone waiting on it.
#[derive(Default)]
struct OpenBlock {
    txs: Vec<(VerifiedTx, crate::core::ledger::Applied)>,
    in_block: HashMap<TxId, usize>,
    spent_in_block: HashMap<OutPoint, TxId>,
    replies: Vec<(usize, bool, Responder)>,
    lookups: Vec<(TxId, Responder)>,
    deferred: Vec<(Refusal, Responder)>,
    ops: Vec<(u32, AdminOp)>,
    admin_replies: Vec<AdminResponder>,
    /// References of the mints in the block.
    mint_refs: HashMap<Vec<u8>, TxId>,
    /// The block's time, fixed when it opens: every rule that depends on the
    /// clock (programme validity, the day of daily limits) sees this one.
    time_unix_ms: u64,
}

impl OpenBlock {
    fn is_full(&self) -> bool {
        self.txs.len() >= BLOCK_TXS_MAX
    }

    /// Nothing for the writer to do: no transaction and nobody waiting.
    fn is_idle(&self) -> bool {
        self.txs.is_empty() && self.lookups.is_empty() && self.deferred.is_empty() && self.ops.is_empty()
    }
}

/// How long the sequencer waits for more payments, while the writer is busy,
/// before it looks again whether the writer is free.
const WRITER_BUSY_POLL: Duration = Duration::from_micros(200);

impl Sequencer {
    /// Group commit: the open block absorbs arrivals (validated and applied
    /// one by one) for as long as the writer is busy with the previous block,
    /// and is sealed the moment the writer is free, or when it is full. At
    /// low load a payment is sealed as soon as it arrives.
    fn run(mut self, queue: &std_mpsc::Receiver<SequencerJob>) {
        let mut open = OpenBlock::default();
        let mut closed = false;
        while !closed || !open.is_idle() {
            if self.led && !self.shared.leading() {
                self.step_down(&mut open);
            }
            if open.is_idle() && !closed {
                match queue.recv() {
                    Ok(job) => self.admit(&mut open, job),
                    Err(_) => closed = true,
                }
            }
            while !open.is_full() {
                match queue.try_recv() {
                    Ok(job) => self.admit(&mut open, job),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if open.is_idle() {
                continue;
            }
            if self.led && !self.shared.leading() {
                self.step_down(&mut open);
                continue;
            }
            // Claiming the idle writer (true -> false) before sending means
            // the flag is never left false while the writer waits.
            let seal_now = open.is_full()
                || closed
                || self.shared.writer_idle.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_ok();
            if !seal_now {
                match queue.recv_timeout(WRITER_BUSY_POLL) {
                    Ok(job) => self.admit(&mut open, job),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => closed = true,
                }
                continue;
            }
            let job = self.seal(std::mem::take(&mut open));
            if let Err(std_mpsc::SendError(job)) = self.writer.send(job) {
                answer_unavailable(job);
                return;
            }
        }
    }

    /// Cluster mode, after leadership was lost: answers everything in the
    /// open block with `NotLeader`, waits until the writer has dealt with
    /// every block sealed before (it answers them `NotLeader` too unless
    /// they were committed), then rebuilds the ledger from the store, which
    /// holds only committed blocks.
    fn step_down(&mut self, open: &mut OpenBlock) {
        // Nothing in the open block was sealed: certainly not applied.
        let open = std::mem::take(open);
        let unsealed = WriterJob {
            replies: open.replies,
            lookups: open.lookups,
            deferred: open.deferred,
            admin_replies: open.admin_replies,
            ..WriterJob::empty()
        };
        answer_not_leader(&self.shared, unsealed, false);
        let (done, dealt_with) = std_mpsc::channel();
        let barrier = WriterJob { barrier: Some(done), ..WriterJob::empty() };
        if self.writer.send(barrier).is_err() || dealt_with.recv().is_err() {
            return;
        }
        let rebuilt = self.shared.store.recover(self.shared.genesis.clone()).and_then(|recovered| {
            let tip = recovered.tip;
            recovered_ledger(recovered, self.shared.tiers.clone()).map(|ledger| (ledger, tip))
        });
        match rebuilt {
            Ok((ledger, tip)) => {
                tracing::info!(
                    sealed_height = self.tip.header.height,
                    committed_height = tip.header.height,
                    "stepped down: ledger rebuilt from the committed blocks"
                );
                self.ledger = ledger;
                self.tip = tip;
                self.pending.clear();
                self.pending_spent.clear();
                self.pending_txids.clear();
                self.pending_refs.clear();
                self.led = false;
            }
            Err(error) => self.shared.fail(&error),
        }
    }

    /// Cluster mode: replays a block the cluster committed and has the
    /// writer write it. A block at or below the tip was already applied
    /// (the feeder may hand one over twice); one that does not decode or
    /// replay means this replica diverged: the engine fails stop.
    fn follow(&mut self, bytes: &[u8]) {
        if self.led {
            tracing::warn!("a committed block handed to the leading engine; ignored");
            return;
        }
        let (engine_key, chain) = (self.shared.engine_key.address(), self.shared.chain);
        let block = match crate::engine::replica::ReplicatedBlock::decode(bytes, &engine_key, &chain) {
            Ok(block) => block,
            Err(error) => return self.shared.fail_stop(&format!("a committed block does not decode: {error}")),
        };
        let header = block.signed.header;
        if header.height < self.tip.header.height {
            return;
        }
        if header.height == self.tip.header.height {
            if header != self.tip.header {
                self.shared.fail_stop(&format!("committed block {} differs from this replica's", header.height));
            }
            return;
        }
        match crate::engine::replica::replay(&mut self.ledger, &self.tip, &block, &engine_key, &chain) {
            Ok(record) => {
                self.tip = record.signed;
                if let Err(std_mpsc::SendError(_)) = self.writer.send(WriterJob::followed(record)) {
                    tracing::warn!("writer gone: a committed block was not written; a restart replays it");
                }
            }
            Err(error) => {
                self.shared.fail_stop(&format!("committed block {} does not replay: {error}", header.height));
            }
        }
    }

    fn prune_durable(&mut self) {
        let durable = self.shared.durable_height.load(Ordering::Acquire);
        while self.pending.front().is_some_and(|block| block.height <= durable) {
            let block = self.pending.pop_front().expect("front exists");
            for outpoint in block.spent {
                self.pending_spent.remove(&outpoint);
            }
            for txid in block.txids {
                self.pending_txids.remove(&txid);
            }
            for reference in block.mint_refs {
                self.pending_refs.remove(&reference);
            }
        }
    }

    /// Validates one transaction against the ledger (which already holds the
    /// effects of everything sealed or open before it) and, if it passes,
    /// applies it into the open block. Every job ends up answered, waiting
    /// on the open block, or refused.
    fn admit(&mut self, open: &mut OpenBlock, job: SequencerJob) {
        if let SequencerJob::Follow { block } = &job {
            if self.led && !self.shared.leading() {
                self.step_down(open);
            }
            if !self.shared.failed.load(Ordering::SeqCst) {
                self.follow(block);
            }
            return;
        }
        if let SequencerJob::Settle { reply } = job {
            if self.led && !self.shared.leading() {
                self.step_down(open);
            }
            let _ = reply.send(self.tip.header.height);
            return;
        }
        if self.shared.leading() {
            self.led = true;
        } else {
            if self.led {
                self.step_down(open);
            }
            match job {
                SequencerJob::Tx { reply, .. } => {
                    self.shared.metrics.sequencer_queue.fetch_sub(1, Ordering::Relaxed);
                    let _ = reply.send(Err(self.shared.not_leader()));
                }
                SequencerJob::Admin { reply, .. } => {
                    let _ = reply.send(Err(self.shared.not_leader()));
                }
                SequencerJob::Follow { .. } | SequencerJob::Settle { .. } => {}
            }
            return;
        }
        if open.is_idle() {
            open.time_unix_ms = self.shared.clock.now_unix_ms().max(self.tip.header.time_unix_ms);
        }
        let (vtx, submitter, reply) = match job {
            SequencerJob::Tx { vtx, submitter, reply } => {
                self.shared.metrics.sequencer_queue.fetch_sub(1, Ordering::Relaxed);
                (vtx, submitter, reply)
            }
            SequencerJob::Follow { .. } | SequencerJob::Settle { .. } => return,
            SequencerJob::Admin { op, reply } => {
                if self.shared.failed.load(Ordering::SeqCst) {
                    let _ = reply.send(Err(unavailable()));
                    return;
                }
                match self.ledger.admin(op.clone()) {
                    Ok(()) => {
                        open.ops.push((u32::try_from(open.txs.len()).expect("blocks are bounded"), op));
                        open.admin_replies.push(reply);
                    }
                    Err(refusal) => {
                        let _ = reply.send(Err(refusal));
                    }
                }
                return;
            }
        };
        if self.shared.failed.load(Ordering::SeqCst) {
            let _ = reply.send(Err(unavailable()));
            return;
        }
        // The caller is gone (its deadline passed, or it hung up): nothing
        // was promised, so nothing is applied.
        if reply.is_closed() {
            return;
        }
        self.prune_durable();
        if let Err(refusal) = self.permitted(&vtx, &submitter) {
            let _ = reply.send(Err(refusal));
            return;
        }
        if vtx.tx.kind == TxKind::Mint {
            match self.known(&vtx.txid, &open.in_block) {
                Ok(Known::InThisBlock(index)) => return open.replies.push((index, true, reply)),
                Ok(Known::Sealed) => return open.lookups.push((vtx.txid, reply)),
                Ok(Known::None) => {}
                Err(error) => {
                    let _ = reply.send(Err(storage_refusal(&error)));
                    return;
                }
            }
            // A mint's reference (a disbursement row) pays once: another mint
            // with the same reference is a different amount or payee.
            let not_durable =
                open.mint_refs.get(&vtx.tx.reference).or_else(|| self.pending_refs.get(&vtx.tx.reference));
            let durable = not_durable.is_none();
            let used = match not_durable {
                Some(txid) => Ok(Some(*txid)),
                None => self.shared.store.mint_by_reference(&vtx.tx.reference),
            };
            match used {
                Ok(None) => {}
                Ok(Some(other)) => {
                    let mut refusal = Refusal::new(
                        Reason::ReferenceReused,
                        format!("the mint reference was already paid by mint {other}, with other outputs"),
                    );
                    refusal.spent_by = Some(other);
                    // Said only once the other mint is durable.
                    if durable {
                        let _ = reply.send(Err(refusal));
                    } else {
                        open.deferred.push((refusal, reply));
                    }
                    return;
                }
                Err(error) => {
                    let _ = reply.send(Err(storage_refusal(&error)));
                    return;
                }
            }
        }
        match self.ledger.apply(&vtx, open.time_unix_ms) {
            Ok(mut applied) => {
                if let Submitter::Terminal { id, .. } = &submitter {
                    for (_, movement) in &mut applied.movements {
                        movement.terminal = Some(id.clone());
                    }
                }
                if vtx.tx.kind == TxKind::Mint {
                    open.mint_refs.insert(vtx.tx.reference.clone(), vtx.txid);
                }
                open.in_block.insert(vtx.txid, open.txs.len());
                for input in &vtx.tx.inputs {
                    open.spent_in_block.insert(*input, vtx.txid);
                }
                open.replies.push((open.txs.len(), false, reply));
                open.txs.push((vtx, applied));
            }
            Err(Decline::Refused(refusal)) => {
                let _ = reply.send(Err(refusal));
            }
            Err(Decline::InputMissing(input)) => {
                let not_durable = open.spent_in_block.get(&input).or_else(|| self.pending_spent.get(&input));
                let spender_durable = not_durable.is_none();
                let spender = match not_durable {
                    Some(txid) => Ok(Some(*txid)),
                    None => self.shared.store.spent_by(&input),
                };
                match spender {
                    Ok(Some(spender)) if spender == vtx.txid => match open.in_block.get(&vtx.txid) {
                        Some(index) => open.replies.push((*index, true, reply)),
                        None => open.lookups.push((vtx.txid, reply)),
                    },
                    Ok(Some(spender)) => {
                        let mut refusal =
                            Refusal::new(Reason::InputSpent, format!("input {input} was already spent by {spender}"))
                                .with_input(input);
                        refusal.spent_by = Some(spender);
                        if spender_durable {
                            let _ = reply.send(Err(refusal));
                        } else {
                            open.deferred.push((refusal, reply));
                        }
                    }
                    Ok(None) => {
                        let refusal = Refusal::new(Reason::InputUnknown, format!("input {input} does not exist"))
                            .with_input(input);
                        let _ = reply.send(Err(refusal));
                    }
                    Err(error) => {
                        let _ = reply.send(Err(storage_refusal(&error)));
                    }
                }
            }
        }
    }

    /// The caller's rules, judged by the registry as the sequencer sees it.
    fn permitted(&self, vtx: &VerifiedTx, submitter: &Submitter) -> Result<(), Refusal> {
        let registry = self.ledger.registry();
        let merchant_bank = |owner: &crate::core::types::Address| match registry.role(owner) {
            Some(Role::Merchant { id, .. }) => registry.merchants.get(id).map(|m| (id.clone(), m.bank.clone())),
            _ => None,
        };
        match submitter {
            Submitter::Trusted => Ok(()),
            Submitter::Terminal { merchant, .. } => {
                if vtx.tx.kind == TxKind::Redeem {
                    return Err(Refusal::new(
                        Reason::PermissionDenied,
                        "a terminal may not redeem; the merchant's bank submits redemptions",
                    ));
                }
                match vtx.tx.outputs.iter().find_map(|o| merchant_bank(&o.owner).filter(|(id, _)| id != merchant)) {
                    Some((other, _)) => Err(Refusal::new(
                        Reason::PermissionDenied,
                        format!("a terminal of merchant {merchant} may not take a payment for merchant {other}"),
                    )),
                    None => Ok(()),
                }
            }
            Submitter::Bank(bank) if vtx.tx.kind == TxKind::Redeem => {
                // The inputs' owners decide; a missing input is the ledger's
                // to report.
                let other = vtx
                    .tx
                    .inputs
                    .iter()
                    .filter_map(|input| self.ledger.unspent(input))
                    .find_map(|o| merchant_bank(&o.owner).filter(|(_, b)| b != bank));
                match other {
                    Some((merchant, other_bank)) => Err(Refusal::new(
                        Reason::PermissionDenied,
                        format!("merchant {merchant} banks with {other_bank}; bank {bank} may not redeem its takings"),
                    )),
                    None => Ok(()),
                }
            }
            Submitter::Bank(_) => Ok(()),
        }
    }

    /// Seals the open block into a signed, hash-chained block (or, with no
    /// transaction, a job that only answers resubmissions and deferred
    /// refusals once everything before it is durable).
    fn seal(&mut self, open: OpenBlock) -> WriterJob {
        let OpenBlock {
            txs,
            spent_in_block,
            replies,
            lookups,
            deferred,
            ops,
            admin_replies,
            time_unix_ms,
            mint_refs,
            ..
        } = open;
        if txs.is_empty() && ops.is_empty() {
            return WriterJob {
                block: None,
                replies,
                lookups,
                deferred,
                admin_replies,
                followed: false,
                barrier: None,
            };
        }
        let block = seal_block(
            &mut self.ledger,
            &self.tip,
            txs,
            ops,
            time_unix_ms,
            &self.shared.engine_key,
            &self.shared.chain,
        );
        self.tip = block.signed;
        let txids: Vec<TxId> = block.txs.iter().map(|(vtx, _)| vtx.txid).collect();
        let spent: Vec<OutPoint> = spent_in_block.keys().copied().collect();
        self.pending_spent.extend(spent_in_block);
        self.pending_txids.extend(txids.iter().map(|t| (*t, ())));
        let references: Vec<Vec<u8>> = mint_refs.keys().cloned().collect();
        self.pending_refs.extend(mint_refs);
        self.pending.push_back(PendingBlock { height: self.tip.header.height, spent, txids, mint_refs: references });
        WriterJob { block: Some(block), replies, lookups, deferred, admin_replies, followed: false, barrier: None }
    }

    fn known(&self, txid: &TxId, in_block: &HashMap<TxId, usize>) -> Result<Known, StoreError> {
        if let Some(index) = in_block.get(txid) {
            return Ok(Known::InThisBlock(*index));
        }
        if self.pending_txids.contains_key(txid) || self.shared.store.locate(txid)?.is_some() {
            return Ok(Known::Sealed);
        }
        Ok(Known::None)
    }
}

/// The ledger at a recovered data file's last durable block, under the
/// configured tier table. The engine and the deterministic simulation both
/// start from here.
///
/// # Errors
/// When the recovered unspent set does not add up to the tip's supply.
pub fn recovered_ledger(recovered: Recovered, tiers: TierPolicy) -> Result<Ledger, StoreError> {
    let tip = recovered.tip.header;
    Ok(Ledger::new(
        recovered.genesis,
        recovered.unspent,
        tip.minted_total_minor,
        tip.burned_total_minor,
        tip.next_sequence(),
    )
    .map_err(StoreError::Corrupt)?
    .with_rules(recovered.registry, tiers, recovered.daily, recovered.stats)
    .with_bank_totals(recovered.bank_totals))
}

/// Seals the transactions `ledger` has applied since `tip` (and the registry
/// changes among them) into the next signed, hash-chained block, with what
/// the store must persist beside it.
///
/// # Panics
/// When the ledger does not conserve supply or its sequence numbers do not
/// continue the chain: sealing such a block would confirm a broken ledger.
pub fn seal_block(
    ledger: &mut Ledger,
    tip: &SignedHeader,
    txs: Vec<(VerifiedTx, crate::core::ledger::Applied)>,
    ops: Vec<(u32, AdminOp)>,
    time_unix_ms: u64,
    engine_key: &Keypair,
    chain: &ChainId,
) -> BlockRecord {
    let header = block_header(ledger, tip, &txs, time_unix_ms);
    let signed = SignedHeader::sign(header, chain, engine_key);
    let stats = ledger.take_touched_stats();
    let bank_totals = ledger.take_touched_bank_totals();
    BlockRecord { signed, txs, ops, stats, bank_totals }
}

/// The header of the block holding `txs`, the last transactions `ledger`
/// applied since `tip` (the leader's seal and a replica's replay).
///
/// # Panics
/// When the ledger does not conserve supply or its sequence numbers do not
/// continue the chain.
pub(crate) fn block_header(
    ledger: &Ledger,
    tip: &SignedHeader,
    txs: &[(VerifiedTx, crate::core::ledger::Applied)],
    time_unix_ms: u64,
) -> BlockHeader {
    ledger.assert_conserved();
    let txids: Vec<TxId> = txs.iter().map(|(vtx, _)| vtx.txid).collect();
    let totals = ledger.totals();
    let first_sequence = ledger.next_sequence() - txs.len() as u64;
    assert_eq!(first_sequence, tip.header.next_sequence(), "sequence numbers must continue the chain without a gap");
    BlockHeader {
        height: tip.header.height + 1,
        previous_hash: tip.header.hash(),
        merkle_root: merkle::root(&txids),
        first_sequence,
        tx_count: u32::try_from(txs.len()).expect("blocks are bounded"),
        time_unix_ms,
        minted_total_minor: totals.minted_minor,
        burned_total_minor: totals.burned_minor,
    }
}

fn storage_refusal(error: &StoreError) -> Refusal {
    tracing::error!(%error, "storage read failed while sequencing");
    Refusal::new(Reason::Unavailable, "storage read failed; retry")
}

fn writer_loop(shared: &Shared, jobs: &std_mpsc::Receiver<WriterJob>) {
    // Admission control measures what the writer confirms per second of
    // commit time, not of wall time: an idle writer (nothing to commit) says
    // nothing about capacity, and a rate achieved under the admission limit
    // would only ever ratchet the limit down.
    let mut window_start = std::time::Instant::now();
    let mut window_confirmed: u64 = 0;
    let mut window_busy = Duration::ZERO;
    loop {
        shared.writer_idle.store(true, Ordering::Release);
        let Ok(job) = jobs.recv() else { return };
        shared.writer_idle.store(false, Ordering::Release);
        if let Some(done) = &job.barrier {
            let _ = done.send(());
            continue;
        }
        if shared.failed.load(Ordering::SeqCst) {
            answer_unavailable(job);
            continue;
        }
        if shared.replicator.is_some() && !job.followed && !shared.leading() {
            // Never proposed: certainly not applied.
            answer_not_leader(shared, job, false);
            continue;
        }
        // Commit time, for admission control, includes replication.
        let started = std::time::Instant::now();
        if let (Some(replicator), false, Some(block)) = (&shared.replicator, job.followed, &job.block) {
            let bytes = crate::engine::replica::ReplicatedBlock::of(block).encode(&shared.engine_key, &shared.chain);
            if let Err(not_committed) = replicator.replicate(block.signed.header.height, bytes) {
                tracing::warn!(
                    height = block.signed.header.height,
                    why = %not_committed.why,
                    in_doubt = not_committed.in_doubt,
                    "block not committed: stepping down"
                );
                *shared.leader_hint.lock().expect("not poisoned") = not_committed.leader;
                shared.set_leading(false);
                answer_not_leader(shared, job, not_committed.in_doubt);
                continue;
            }
        }
        if let Some(block) = &job.block {
            if let Err(error) = shared.store.commit_block(block) {
                shared.fail(&error);
                answer_unavailable(job);
                continue;
            }
            let commit_time = started.elapsed();
            shared.metrics.commit_seconds.observe(commit_time.as_secs_f64());
            #[allow(clippy::cast_precision_loss)]
            shared.metrics.block_txs.observe(block.txs.len() as f64);
            shared.metrics.blocks.fetch_add(1, Ordering::Relaxed);
            // A follower's writes say nothing of what it confirms as leader.
            if !job.followed {
                window_busy += commit_time;
                window_confirmed += block.txs.len() as u64;
            }
            if window_start.elapsed() >= Duration::from_millis(ADMISSION_WINDOW_MS) && !window_busy.is_zero() {
                #[allow(clippy::cast_precision_loss)]
                shared.admission.measured(window_confirmed as f64 / window_busy.as_secs_f64());
                window_start = std::time::Instant::now();
                window_confirmed = 0;
                window_busy = Duration::ZERO;
            }
            let header = block.signed.header;
            shared.durable_height.store(header.height, Ordering::Release);
            shared.durable.send_replace(header.height);
            let created: u64 = block.txs.iter().map(|(vtx, _)| vtx.tx.outputs.len() as u64).sum();
            let consumed: u64 = block.txs.iter().map(|(vtx, _)| vtx.tx.inputs.len() as u64).sum();
            let mut tip = shared.tip.lock().expect("not poisoned");
            tip.block = block.signed;
            tip.unspent_count = tip.unspent_count + created - consumed;
            drop(tip);
            if !block.stats.is_empty() {
                let mut stats = shared.stats.write().expect("not poisoned");
                for (programme, programme_stats) in &block.stats {
                    stats.insert(*programme, programme_stats.clone());
                }
            }
            if !block.ops.is_empty() {
                let mut registry = shared.registry.write().expect("not poisoned");
                for (_, op) in &block.ops {
                    registry.apply(op.clone());
                }
            }
            for reply in job.admin_replies {
                let _ = reply.send(Ok(header.height));
            }
        }
        if let Some(block) = &job.block {
            let txids: Vec<TxId> = block.txs.iter().map(|(vtx, _)| vtx.txid).collect();
            let levels = merkle::levels(&txids);
            for (index, duplicate, reply) in job.replies {
                let (vtx, applied) = &block.txs[index];
                let receipt = Receipt {
                    txid: vtx.txid,
                    sequence: applied.sequence,
                    block: block.signed,
                    index_in_block: u32::try_from(index).expect("blocks are bounded"),
                    merkle_path: merkle::path(&levels, index),
                };
                let _ = reply.send(Ok(Outcome { receipt, duplicate }));
            }
        }
        for (txid, reply) in job.lookups {
            let answer = match shared.store.receipt(&txid) {
                Ok(Some(receipt)) => Ok(Outcome { receipt, duplicate: true }),
                Ok(None) => Err(Refusal::new(Reason::Unavailable, "resubmitted transaction not found after commit")),
                Err(error) => Err(storage_refusal(&error)),
            };
            let _ = reply.send(answer);
        }
        for (refusal, reply) in job.deferred {
            let _ = reply.send(Err(refusal));
        }
    }
}

/// A deposed leader's answer to a job it sealed. `in_doubt`: the block may
/// still be committed by the next leader, so the payments' outcome is
/// unknown (resubmission is safe); otherwise they were certainly not
/// applied.
fn answer_not_leader(shared: &Shared, job: WriterJob, in_doubt: bool) {
    for (_, _, reply) in job.replies {
        let _ = reply.send(Err(if in_doubt { shared.outcome_unknown() } else { shared.not_leader() }));
    }
    for (_, reply) in job.lookups {
        let _ = reply.send(Err(shared.not_leader()));
    }
    for (_, reply) in job.deferred {
        let _ = reply.send(Err(shared.not_leader()));
    }
    for reply in job.admin_replies {
        let _ = reply.send(Err(if in_doubt { shared.admin_outcome_unknown() } else { shared.not_leader() }));
    }
}

fn answer_unavailable(job: WriterJob) {
    for (_, _, reply) in job.replies {
        let _ = reply.send(Err(unavailable()));
    }
    for (_, reply) in job.lookups {
        let _ = reply.send(Err(unavailable()));
    }
    for (_, reply) in job.deferred {
        let _ = reply.send(Err(unavailable()));
    }
    for reply in job.admin_replies {
        let _ = reply.send(Err(unavailable()));
    }
}

#[cfg(test)]
mod admission_tests {
    use super::*;

    #[test]
    fn admission_holds_what_the_peak_rate_clears_in_the_target_wait() {
        let admission = Admission::new(VERIFY_QUEUE_MAX as u64);
        assert_eq!(admission.limit.load(Ordering::Relaxed), ADMITTED_FLOOR, "unmeasured: the floor");
        admission.measured(50_000.0);
        assert_eq!(admission.limit.load(Ordering::Relaxed), 50_000 * ADMITTED_WAIT_TARGET_MS / 1_000);
        admission.measured(1_000.0);
        let decayed = (50_000.0 * ADMISSION_PEAK_DECAY * ADMITTED_WAIT_TARGET_MS as f64 / 1_000.0) as u64;
        assert_eq!(admission.limit.load(Ordering::Relaxed), decayed.max(ADMITTED_FLOOR), "the peak decays slowly");
        for _ in 0..200 {
            admission.measured(1_000.0);
        }
        assert_eq!(admission.limit.load(Ordering::Relaxed), ADMITTED_FLOOR, "never below the floor");
        let small = Admission::new(4);
        small.measured(1_000_000.0);
        assert_eq!(small.limit.load(Ordering::Relaxed), 4, "never above the queue");
    }

    #[test]
    fn past_the_limit_a_payment_is_refused_with_a_hint_and_places_come_back() {
        let admission = Admission::new(VERIFY_QUEUE_MAX as u64);
        admission.measured(10_000.0);
        let limit = admission.limit.load(Ordering::Relaxed);
        let held: Vec<Held<'_>> = (0..limit).map(|_| admission.admit().expect("within the limit")).collect();
        assert!(admission.full());
        let refusal = admission.admit().err().expect("one past the limit");
        assert_eq!(refusal.reason, Reason::Overloaded);
        // 2,048 held at 10,000/s clear in about 205 ms.
        assert!((200..=210).contains(&refusal.retry_after_ms), "{}", refusal.retry_after_ms);
        drop(held);
        assert_eq!(admission.held.load(Ordering::Relaxed), 0, "every place given back");
        assert!(admission.admit().is_ok());
        let idle = Admission::new(16);
        assert_eq!(idle.refusal().retry_after_ms, OVERLOAD_RETRY_AFTER_MS, "no rate yet: the least hint");
    }
}
