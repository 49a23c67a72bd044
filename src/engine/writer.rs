//! The writer: one thread, one redb write transaction per block (in a
//! cluster, after the block is committed by a majority), then the replies,
//! the tip and the durable height for the streams.

use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use super::*;

/// What the writer receives for one block: the block (none when everything
/// in the batch was refused or was a resubmission), whom to answer with which
/// receipt, and resubmissions of already sealed transactions to answer from
/// the store once this block is durable.
pub struct WriterJob {
    pub(super) block: Option<BlockRecord>,
    pub(super) replies: Vec<(usize, bool, Responder)>,
    pub(super) lookups: Vec<(TxId, Responder)>,
    /// Refusals that name a spender not yet durable: sent only once it is,
    /// so that no answer rests on state a crash could undo.
    pub(super) deferred: Vec<(Refusal, Responder)>,
    /// Registry changes in the block, answered with its height once durable.
    pub(super) admin_replies: Vec<AdminResponder>,
    /// The block is a committed one this follower replayed: written, never
    /// replicated again.
    pub(super) replayed: bool,
    /// Told once the writer has dealt with every job before this one.
    pub(super) barrier: Option<std_mpsc::Sender<()>>,
    /// Programme statistics that changed with no block to carry them.
    pub(super) stats: Option<StatsAlone>,
}

/// Programme statistics changed while no block was open (claims refused as
/// paid already, counted by the ledger): written in a commit of their own,
/// as of the block `height`, once every block before is written. If one
/// was not (a deposed leader's), they are not written: the ledger is
/// rebuilt from the store, without them.
pub struct StatsAlone {
    pub(super) height: u64,
    pub(super) stats: Vec<(ProgrammeId, ProgrammeStats)>,
}

impl WriterJob {
    /// The block to write, if the job has one.
    #[cfg(feature = "dev")]
    #[must_use]
    pub fn block(&self) -> Option<&BlockRecord> {
        self.block.as_ref()
    }

    /// The programme statistics the job writes without a block, if any.
    #[cfg(feature = "dev")]
    #[must_use]
    pub fn stats_alone(&self) -> Option<&[(ProgrammeId, ProgrammeStats)]> {
        self.stats.as_ref().map(|alone| alone.stats.as_slice())
    }

    /// Writes the programme statistics the job carries without a block,
    /// if the store's last block is the one they are as of: `Ok(true)`
    /// when written (durable), `Ok(false)` when there were none or a block
    /// before them was not written.
    ///
    /// # Errors
    /// A storage failure (the engine fails stop, as on a block's).
    pub fn write_stats_alone(&self, store: &Store) -> Result<bool, StoreError> {
        match &self.stats {
            Some(alone) if !alone.stats.is_empty() => store.commit_programme_stats(alone.height, &alone.stats),
            _ => Ok(false),
        }
    }

    /// Nothing to write and nobody to answer.
    pub fn empty() -> Self {
        Self {
            block: None,
            replies: Vec::new(),
            lookups: Vec::new(),
            deferred: Vec::new(),
            admin_replies: Vec::new(),
            replayed: false,
            barrier: None,
            stats: None,
        }
    }

    pub(super) fn replayed(block: BlockRecord) -> Self {
        Self { block: Some(block), replayed: true, ..Self::empty() }
    }
}

pub(super) fn writer_loop(shared: &Shared, jobs: &std_mpsc::Receiver<WriterJob>) {
    let mut window = CommitWindow::new();
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
        if shared.replicator.is_some() && !job.replayed && !shared.leading() {
            // Never proposed: certainly not applied.
            answer_not_leader(shared, job, false);
            continue;
        }
        // Commit time, for admission control, includes replication.
        let started = std::time::Instant::now();
        if let Err(not_committed) = replicate(shared, &job) {
            shared.set_leading(false);
            answer_not_leader(shared, job, not_committed.in_doubt);
            continue;
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
            shared.metrics.blocks.inc();
            // A follower's writes say nothing of what it confirms as leader.
            let confirmed = if job.replayed { (0, Duration::ZERO) } else { (block.txs.len() as u64, commit_time) };
            window.record(shared, confirmed.0, confirmed.1);
            publish_durable(shared, block);
        } else {
            match job.write_stats_alone(&shared.store) {
                Ok(true) => publish_stats(shared, job.stats.as_ref().map_or(&[], |alone| alone.stats.as_slice())),
                Ok(false) => {}
                Err(error) => {
                    shared.fail(&error);
                    answer_unavailable(job);
                    continue;
                }
            }
        }
        answer_durable(&shared.store, job);
    }
}

/// Admission control measures what the writer confirms per second of
/// commit time, not of wall time: an idle writer (nothing to commit) says
/// nothing about capacity, and a rate achieved under the admission limit
/// would only ever ratchet the limit down.
struct CommitWindow {
    start: std::time::Instant,
    confirmed: u64,
    busy: Duration,
}

impl CommitWindow {
    fn new() -> Self {
        Self { start: std::time::Instant::now(), confirmed: 0, busy: Duration::ZERO }
    }

    /// Adds a commit; every `ADMISSION_WINDOW_MS` tells admission control
    /// the rate the window measured.
    fn record(&mut self, shared: &Shared, confirmed: u64, busy: Duration) {
        self.busy += busy;
        self.confirmed += confirmed;
        if self.start.elapsed() >= Duration::from_millis(ADMISSION_WINDOW_MS) && !self.busy.is_zero() {
            #[allow(clippy::cast_precision_loss)]
            shared.admission.measured(self.confirmed as f64 / self.busy.as_secs_f64());
            *self = Self::new();
        }
    }
}

/// Cluster mode, as leader: the job's block committed by a majority before
/// it is written (a follower's replayed block, or a single node's, is
/// written as it is).
fn replicate(shared: &Shared, job: &WriterJob) -> Result<(), NotCommitted> {
    let (Some(replicator), false, Some(block)) = (&shared.replicator, job.replayed, &job.block) else {
        return Ok(());
    };
    let bytes = crate::engine::replica::ReplicatedBlock::of(block).encode(&shared.engine_key, &shared.chain);
    let replicated = replicator.replicate(block.signed.header.height, bytes);
    if let Err(not_committed) = &replicated {
        tracing::warn!(
            height = block.signed.header.height,
            why = %not_committed.why,
            in_doubt = not_committed.in_doubt,
            "block not committed: stepping down"
        );
        shared.leader_hint.lock().expect("not poisoned").clone_from(&not_committed.leader);
    }
    replicated
}

/// A block is durable: its height goes to the streams, and the tip, the
/// programme statistics and the registry the readers see move to it.
fn publish_durable(shared: &Shared, block: &BlockRecord) {
    let header = block.signed.header;
    shared.durable_height.store(header.height, Ordering::Release);
    shared.durable.send_replace(header.height);
    let created: u64 = block.txs.iter().map(|(vtx, _)| vtx.tx.outputs.len() as u64).sum();
    let consumed: u64 = block.txs.iter().map(|(vtx, _)| vtx.tx.inputs.len() as u64).sum();
    let mut tip = shared.tip.lock().expect("not poisoned");
    tip.block = block.signed;
    tip.unspent_count = tip.unspent_count + created - consumed;
    drop(tip);
    publish_stats(shared, &block.stats);
    {
        let mut merchants = shared.merchants.write().expect("not poisoned");
        merchants.0 = header.height;
        for ((programme, merchant), figures) in &block.merchants {
            merchants.1.entry(*programme).or_default().insert(merchant.clone(), *figures);
        }
    }
    if !block.ops.is_empty() {
        let mut registry = shared.registry.write().expect("not poisoned");
        for (_, change) in &block.ops {
            registry.apply(change.op.clone());
        }
        drop(registry);
        // Who may authenticate changed: open streams look again.
        if block.ops.iter().any(|(_, change)| {
            matches!(
                change.op,
                crate::core::registry::AdminOp::SetCredentials { .. }
                    | crate::core::registry::AdminOp::SetActive { .. }
            )
        }) {
            shared.credentials_changed.send_modify(|changes| *changes += 1);
        }
    }
}

/// Durable programme statistics: the readers' copy moves to them.
fn publish_stats(shared: &Shared, changed: &[(ProgrammeId, ProgrammeStats)]) {
    if !changed.is_empty() {
        let mut stats = shared.stats.write().expect("not poisoned");
        for (programme, programme_stats) in changed {
            stats.insert(*programme, programme_stats.clone());
        }
    }
}

/// Everyone waiting on a durable job: registry changes with the block's
/// height, payments with their receipts, resubmissions of earlier blocks'
/// transactions with theirs (from the store), and the refusals deferred
/// until their spender was durable.
pub fn answer_durable(store: &Store, job: WriterJob) {
    if let Some(block) = &job.block {
        for reply in job.admin_replies {
            let _ = reply.send(Ok(block.signed.header.height));
        }
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
        let answer = match store.receipt(&txid) {
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

/// A deposed leader's answer to a job it sealed. `in_doubt`: the block may
/// still be committed by the next leader, so the payments' outcome is
/// unknown (resubmission is safe); otherwise they were certainly not
/// applied.
pub(super) fn answer_not_leader(shared: &Shared, job: WriterJob, in_doubt: bool) {
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

/// Everyone waiting on a job after the engine failed stop: nothing of it is
/// confirmed (a block whose write failed may yet be found on restart).
pub fn answer_unavailable(job: WriterJob) {
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
