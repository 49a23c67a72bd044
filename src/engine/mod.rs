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
//! applies the committed blocks it is given ([`Engine::replay_committed`]) through
//! the same ledger code (`replica::replay`). A leader that loses leadership
//! answers what it holds with `NotLeader` and rebuilds its ledger from its
//! store, which only ever holds committed blocks.

mod admission;
mod block;
pub mod replica;
mod sequencer;
mod verify_pool;
mod writer;

use admission::Admission;
pub(crate) use block::block_header;
pub use block::{recovered_ledger, seal_block};
use sequencer::Sequencer;
// The sequencer's decisions and the writer's answers, for the deterministic
// simulation to drive (`settled::dev`).
#[cfg(feature = "dev")]
pub use sequencer::{OpenBlock, Replayed, Sequencing, SequencingContext};
use verify_pool::verify_loop;
#[cfg(not(feature = "dev"))]
use writer::WriterJob;
use writer::writer_loop;
#[cfg(feature = "dev")]
pub use writer::{WriterJob, answer_durable, answer_unavailable};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::core::clock::Clock;
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
use crate::core::registry::{MerchantFigures, ProgrammeStats, Registry, RegistryChange, Role, TierPolicy};
use crate::core::types::{ChainId, Hash32, OutPoint, ProgrammeId, Transaction, TxId, TxKind};
use crate::core::verify::{self, VerifiedTx};
use crate::metrics::Metrics;
use crate::store::file_backend::{Boxed, FsyncObserver, HookedFileBackend, LedgerStorage};
use crate::store::{BlockRecord, Recovered, Store, StoreError};

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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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
    /// Where the ledger lives: the data file, or a simulated disk.
    pub storage: LedgerStorage,
    pub genesis: Genesis,
    pub engine_key: Keypair,
    /// Threads in the verify pool; 0 means one per core.
    pub verify_threads: usize,
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
    /// On the leader: every member, voters and learners, and how far its
    /// log has reached (empty on a follower, which knows only itself).
    pub replicas: Vec<ReplicaState>,
}

/// One member of the cluster as the leader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    pub id: u64,
    /// "leader", "follower" or "learner".
    pub role: &'static str,
    /// The last Raft log index the leader knows the member holds.
    pub matched_log_index: u64,
    /// Log entries the member is behind the leader's log.
    pub lag_entries: u64,
    pub api_addr: String,
}

/// Facts about the last durable block, for readers.
#[derive(Clone, Copy, Debug)]
pub struct Tip {
    pub block: SignedHeader,
    pub unspent_count: u64,
}

/// What each merchant took of each programme, by programme, then merchant id.
type MerchantsByProgramme = HashMap<ProgrammeId, BTreeMap<String, MerchantFigures>>;

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
    /// Counts durable registry changes of credentials (`SetCredentials`):
    /// open streams look again at theirs when it moves.
    credentials_changed: watch::Sender<u64>,
    /// The registry as of the last durable block, for readers.
    registry: RwLock<Registry>,
    /// Programme statistics as of the last durable block.
    stats: RwLock<HashMap<ProgrammeId, ProgrammeStats>>,
    /// What each merchant took of each programme, as of the last durable
    /// block (its height first: the figures and the height move together).
    merchants: RwLock<(u64, MerchantsByProgramme)>,
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
        change: RegistryChange,
        reply: AdminResponder,
    },
    /// A block the cluster committed, for a follower to apply.
    Replay {
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

impl Engine {
    /// Opens the data file (creating it with the genesis if new), rebuilds the
    /// unspent set and starts the pipeline threads.
    ///
    /// # Errors
    /// Storage failures or a genesis mismatch.
    pub fn start(config: EngineConfig) -> Result<Arc<Self>, StoreError> {
        let metrics = Arc::new(Metrics::default());
        let (store, recovered) = open_store(
            config.storage,
            &config.genesis,
            config.genesis_time_unix_ms,
            &config.engine_key,
            config.index_merge_every,
            &metrics,
        )?;
        let tip = recovered.tip;
        let started = std::time::Instant::now();
        let registry = recovered.registry.clone();
        let stats = recovered.stats.clone();
        let mut merchants = MerchantsByProgramme::new();
        for ((programme, merchant), figures) in &recovered.merchants {
            merchants.entry(*programme).or_default().insert(merchant.clone(), *figures);
        }
        let ledger = recovered_ledger(recovered, config.tiers.clone())?;
        tracing::info!(elapsed_ms = crate::core::clock::millis_since(started), "ledger rebuilt from the unspent set");
        // A wallet whose tier left the table would have no limits at all.
        if let Some(wallet) = registry.wallets.values().find(|w| config.tiers.tier(w.tier).is_none()) {
            return Err(StoreError::Config(format!(
                "wallet {} is registered with tier {}, which the configured tier table no longer has",
                wallet.address, wallet.tier
            )));
        }
        let (health, _) = watch::channel(true);
        let (durable, _) = watch::channel(tip.header.height);
        let shared = Arc::new(Shared {
            chain: store.chain_id(),
            store,
            engine_key: config.engine_key,
            genesis: config.genesis,
            failed: AtomicBool::new(false),
            health,
            durable_height: AtomicU64::new(tip.header.height),
            durable,
            credentials_changed: watch::channel(0).0,
            writer_idle: AtomicBool::new(true),
            tip: Mutex::new(Tip { block: tip, unspent_count: ledger.unspent_count() as u64 }),
            admission: Admission::new(config.verify_queue_max.clamp(1, VERIFY_QUEUE_MAX) as u64),
            registry: RwLock::new(registry),
            stats: RwLock::new(stats),
            merchants: RwLock::new((tip.header.height, merchants)),
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
        let (verify_tx, admin_queue, threads) =
            start_pipeline(&shared, ledger, tip, config.verify_threads, config.verify_queue_max);
        Ok(Arc::new(Self {
            shared,
            verify_queue: Mutex::new(Some(verify_tx)),
            admin_queue: Mutex::new(Some(admin_queue)),
            threads: Mutex::new(threads),
        }))
    }

    /// Applies a registry change in ledger order, durably; answers with the
    /// height of the block that carries it.
    pub async fn admin(&self, change: RegistryChange) -> AdminReply {
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
        match sender.try_send(SequencerJob::Admin { change, reply }) {
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

    /// `read` of what each merchant took of a programme (by merchant id) as
    /// of the last durable block, and of that block's height.
    pub fn read_merchant_figures<R>(
        &self,
        programme: ProgrammeId,
        read: impl FnOnce(u64, &BTreeMap<String, MerchantFigures>) -> R,
    ) -> R {
        let merchants = self.shared.merchants.read().expect("not poisoned");
        let none = BTreeMap::new();
        read(merchants.0, merchants.1.get(&programme).unwrap_or(&none))
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
                self.shared.metrics.verify_queue.inc();
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
    pub async fn replay_committed(&self, block: Vec<u8>) -> bool {
        !self.shared.failed.load(Ordering::Relaxed) && self.queue_waiting(SequencerJob::Replay { block }).await
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

    /// The Prometheus text (format 0.0.4) of the engine's measurements and
    /// the ledger.
    #[must_use]
    pub fn render_metrics(&self) -> String {
        self.render_metrics_as(crate::metrics::Exposition::Prometheus)
    }

    /// [`Engine::render_metrics`] in the text format a scraper asked for.
    #[must_use]
    pub fn render_metrics_as(&self, format: crate::metrics::Exposition) -> String {
        let tip = self.tip();
        let header = tip.block.header;
        let ledger = crate::metrics::LedgerGauges {
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
        };
        self.shared.metrics.render(&ledger, format)
    }

    /// The height of the last durable block, changing as blocks commit.
    #[must_use]
    pub fn durable_heights(&self) -> watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    /// Moves each time a durable block changes some participant's
    /// credentials.
    #[must_use]
    pub fn credential_changes(&self) -> watch::Receiver<u64> {
        self.shared.credentials_changed.subscribe()
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

/// Opens the ledger where `storage` says (the data file's fsyncs timed
/// into `metrics`) and checks that a cluster's replica holds the
/// cluster's genesis block.
/// The engine's signature of block 0: BIP340 with `aux` = SHA-256 of
/// "settled genesis signature" and the message, the same wherever it is
/// made with the same key.
#[must_use]
pub fn genesis_signature(engine_key: &Keypair, message: &Hash32) -> [u8; 64] {
    let mut aux_input = b"settled genesis signature".to_vec();
    aux_input.extend_from_slice(message);
    engine_key.sign_with_aux(message, &crate::core::crypto::sha256(&aux_input))
}

fn open_store(
    storage: LedgerStorage,
    genesis: &Genesis,
    genesis_time_unix_ms: Option<u64>,
    engine_key: &Keypair,
    index_merge_every: Option<(u64, u64, usize)>,
    metrics: &Metrics,
) -> Result<(Arc<Store>, Recovered), StoreError> {
    // Block 0's signature is deterministic (BIP340 with the auxiliary
    // randomness derived from the message): the replicas of a cluster share
    // the engine key and the genesis time, so every one of them writes the
    // same block 0, byte for byte, and a client comparing replicas or
    // pinning block 0 sees one genesis.
    let sign = |message: &Hash32| genesis_signature(engine_key, message);
    let (store, recovered) = match storage {
        LedgerStorage::File { path, faults } => {
            let fsync_seconds = metrics.fsync_seconds.clone();
            let on_fsync: FsyncObserver = Arc::new(move |seconds| fsync_seconds.observe(seconds));
            let file = HookedFileBackend::open(&path, faults, Some(on_fsync))?;
            Store::open(file, genesis, genesis_time_unix_ms, sign)?
        }
        LedgerStorage::Backend(backend) => Store::open(Boxed(backend), genesis, genesis_time_unix_ms, sign)?,
    };
    if let Some((txs, blocks, slice)) = index_merge_every {
        store.set_merge_every(txs, blocks, slice);
    }
    let store = Arc::new(store);
    if let Some(time) = genesis_time_unix_ms {
        let genesis_block = store.header(0)?.ok_or_else(|| StoreError::Corrupt("no genesis block".to_owned()))?;
        if genesis_block.header.time_unix_ms != time {
            return Err(StoreError::Config(format!(
                "the data file's genesis block is from {} ms, the cluster's from {time} ms: this data directory \
                 belongs to another chain (a single node, or another cluster)",
                genesis_block.header.time_unix_ms
            )));
        }
    }
    Ok((store, recovered))
}

/// The pipeline's threads and the queues between them: the verify pool
/// (one thread per core unless `verify_threads` says), the sequencer and
/// the writer. Returns the verify queue, the sequencer's queue for
/// registry changes and committed blocks to replay, and the threads.
fn start_pipeline(
    shared: &Arc<Shared>,
    ledger: Ledger,
    tip: SignedHeader,
    verify_threads: usize,
    verify_queue_max: usize,
) -> (mpsc::Sender<VerifyJob>, std_mpsc::SyncSender<SequencerJob>, Vec<JoinHandle<()>>) {
    let (verify_tx, verify_rx) = mpsc::channel(verify_queue_max.clamp(1, VERIFY_QUEUE_MAX));
    let (sequencer_tx, sequencer_rx) = std_mpsc::sync_channel(SEQUENCER_QUEUE_MAX);
    let (writer_tx, writer_rx) = std_mpsc::sync_channel(0);
    let verify_threads = if verify_threads == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    } else {
        verify_threads
    };
    let verify_rx = Arc::new(Mutex::new(verify_rx));
    let known = Arc::new(verify::KnownKeys::default());
    let suspects = Arc::new(verify_pool::Suspects::default());
    let chain = shared.chain;
    let mut threads = Vec::new();
    for i in 0..verify_threads {
        let rx = Arc::clone(&verify_rx);
        let tx = sequencer_tx.clone();
        let known = Arc::clone(&known);
        let suspects = Arc::clone(&suspects);
        let metrics = Arc::clone(&shared.metrics);
        threads.push(spawn(shared, &format!("settled-verify-{i}"), move || {
            verify_loop(&rx, &tx, &known, &suspects, &metrics, &chain);
        }));
    }
    let admin_queue = sequencer_tx;
    let sequencer = Sequencer {
        led: shared.leading(),
        writer: writer_tx,
        shared: Arc::clone(shared),
        core: sequencer::Sequencing::new(ledger, tip),
    };
    threads.push(spawn(shared, "settled-sequencer", move || sequencer.run(&sequencer_rx)));
    let writer_shared = Arc::clone(shared);
    threads.push(spawn(shared, "settled-writer", move || writer_loop(&writer_shared, &writer_rx)));
    (verify_tx, admin_queue, threads)
}

/// A store read the pipeline needed failed: the caller may retry.
fn storage_refusal(error: &StoreError) -> Refusal {
    tracing::error!(%error, "storage read failed in the pipeline");
    Refusal::new(Reason::Unavailable, "storage read failed; retry")
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
