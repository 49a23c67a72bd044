//! The sequencer: one thread, the single writer of the ledger state. It
//! applies each verified transaction or registry change to the open block
//! as it arrives, explains a missing input (spent, by whom; or unknown),
//! recognises resubmissions, seals the block the moment the writer is free
//! and hands it over; in a cluster it replays committed blocks and steps
//! down.
//!
//! Its decisions live in [`Sequencing`], without threads, channels or
//! clocks: what each arrival comes to (applied into the open block, a
//! resubmission, a refusal said now or once another block is durable) and
//! what a sealed block holds, given the store, the durable height and the
//! time. The engine's thread and the deterministic simulation run the same
//! code.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Duration;

use super::writer::{StatsAlone, answer_not_leader, answer_unavailable};
use super::*;
use crate::core::ledger::{Applied, RefundBasis, RefundCheck};
use crate::core::types::Address;

pub(super) struct Sequencer {
    pub(super) shared: Arc<Shared>,
    /// Cluster mode: the ledger may hold blocks sealed as leader and not
    /// yet committed (what a step down must undo).
    pub(super) led: bool,
    pub(super) writer: std_mpsc::SyncSender<WriterJob>,
    pub(super) core: Sequencing,
}

/// The sequencer's state and decisions: the ledger with every sealed and
/// open transaction applied, the tip it seals on, and what the blocks
/// sealed but not yet durable hold, so that resubmissions, double spends
/// and reused mint references of transactions still being written are
/// recognised (and refusals resting on them wait until they are durable).
pub struct Sequencing {
    pub(super) ledger: Ledger,
    pub(super) tip: SignedHeader,
    pending: VecDeque<PendingBlock>,
    pending_spent: HashMap<OutPoint, TxId>,
    pending_txids: HashMap<TxId, ()>,
    pending_refs: HashMap<Vec<u8>, TxId>,
}

/// What a committed block handed to a follower's sequencer comes to.
pub enum Replayed {
    /// At or below the tip, and the same block there: applied before (the
    /// feeder may hand one over twice).
    AlreadyApplied,
    /// Applied to the ledger: for the writer to write.
    Record(Box<BlockRecord>),
    /// Another block at the tip's height, a block that does not decode, or
    /// one the ledger refuses: this replica diverged.
    Diverged(String),
}

/// What the sequencer reads besides its own state, as of one arrival: the
/// store (who spent an input, where a transaction or a mint reference
/// lives), the height the writer has made durable, the time, and the key
/// and chain it seals with.
pub struct SequencingContext<'a> {
    pub store: &'a Store,
    pub durable_height: u64,
    pub now_unix_ms: u64,
    pub engine_key: &'a Keypair,
    pub chain: &'a ChainId,
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
pub struct OpenBlock {
    pub(super) txs: Vec<(VerifiedTx, Applied)>,
    pub(super) in_block: HashMap<TxId, usize>,
    pub(super) spent_in_block: HashMap<OutPoint, TxId>,
    pub(super) replies: Vec<(usize, bool, Responder)>,
    pub(super) lookups: Vec<(TxId, Responder)>,
    pub(super) deferred: Vec<(Refusal, Responder)>,
    pub(super) ops: Vec<(u32, RegistryChange)>,
    pub(super) admin_replies: Vec<AdminResponder>,
    /// References of the mints in the block.
    pub(super) mint_refs: HashMap<Vec<u8>, TxId>,
    /// The block's time, fixed when it opens: every rule that depends on the
    /// clock (programme validity, the day of daily limits) sees this one.
    pub(super) time_unix_ms: u64,
    /// The ledger counted a refused claim (`Ledger::count_duplicate_claim`):
    /// a programme's statistics changed, for the writer to write with the
    /// block, or alone if the block holds nothing else.
    pub(super) stats_changed: bool,
}

impl OpenBlock {
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.txs.len() >= BLOCK_TXS_MAX
    }

    /// Nothing for the writer to do: no transaction, nobody waiting, no
    /// statistics changed.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.txs.is_empty()
            && self.lookups.is_empty()
            && self.deferred.is_empty()
            && self.ops.is_empty()
            && !self.stats_changed
    }

    /// Takes an applied transaction into the block, its reply waiting on
    /// the block's durability.
    fn push(&mut self, vtx: VerifiedTx, mut applied: Applied, submitter: &Submitter, reply: Responder) {
        if let Submitter::Terminal { id, .. } = submitter {
            for (_, movement) in &mut applied.movements {
                movement.terminal = Some(id.clone());
            }
        }
        if vtx.tx.kind == TxKind::Mint {
            self.mint_refs.insert(vtx.tx.reference.clone(), vtx.txid);
        }
        self.in_block.insert(vtx.txid, self.txs.len());
        for input in &vtx.tx.inputs {
            self.spent_in_block.insert(*input, vtx.txid);
        }
        self.replies.push((self.txs.len(), false, reply));
        self.txs.push((vtx, applied));
    }

    /// A refusal that rests on another transaction: said now if that one is
    /// durable, otherwise once this block is (a crash could undo it).
    fn refuse_once(&mut self, other_durable: bool, refusal: Refusal, reply: Responder) {
        if other_durable {
            let _ = reply.send(Err(refusal));
        } else {
            self.deferred.push((refusal, reply));
        }
    }
}

/// How long the sequencer waits for more payments, while the writer is busy,
/// before it looks again whether the writer is free.
pub(super) const WRITER_BUSY_POLL: Duration = Duration::from_micros(200);

impl Sequencer {
    /// Group commit: the open block absorbs arrivals (validated and applied
    /// one by one) for as long as the writer is busy with the previous block,
    /// and is sealed the moment the writer is free, or when it is full. At
    /// low load a payment is sealed as soon as it arrives.
    pub(super) fn run(mut self, queue: &std_mpsc::Receiver<SequencerJob>) {
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
            let job = self.core.seal(&context(&self.shared), std::mem::take(&mut open));
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
    pub(super) fn step_down(&mut self, open: &mut OpenBlock) {
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
                    sealed_height = self.core.tip.header.height,
                    committed_height = tip.header.height,
                    "stepped down: ledger rebuilt from the committed blocks"
                );
                self.core = Sequencing::new(ledger, tip);
                self.led = false;
            }
            Err(error) => self.shared.fail(&error),
        }
    }

    /// Cluster mode: replays a block the cluster committed and has the
    /// writer write it. A block that does not decode or replay means this
    /// replica diverged: the engine fails stop.
    pub(super) fn replay_committed(&mut self, bytes: &[u8]) {
        if self.led {
            tracing::warn!("a committed block handed to the leading engine; ignored");
            return;
        }
        let (engine_key, chain) = (self.shared.engine_key.address(), self.shared.chain);
        match self.core.replay_committed(bytes, &engine_key, &chain) {
            Replayed::AlreadyApplied => {}
            Replayed::Diverged(why) => self.shared.fail_stop(&why),
            Replayed::Record(record) => {
                if let Err(std_mpsc::SendError(_)) = self.writer.send(WriterJob::replayed(*record)) {
                    tracing::warn!("writer gone: a committed block was not written; a restart replays it");
                }
            }
        }
    }

    /// Takes one job: a committed block to replay, a settle barrier, a
    /// transaction or a registry change. Every job ends up answered,
    /// waiting on the open block, or refused.
    pub(super) fn admit(&mut self, open: &mut OpenBlock, job: SequencerJob) {
        let leading = self.shared.leading();
        // What was sealed as leader and not committed is undone first.
        if self.led && !leading {
            self.step_down(open);
        }
        let failed = self.shared.failed.load(Ordering::SeqCst);
        match job {
            SequencerJob::Replay { block } => {
                if !failed {
                    self.replay_committed(&block);
                }
            }
            SequencerJob::Settle { reply } => {
                let _ = reply.send(self.core.tip.header.height);
            }
            SequencerJob::Tx { vtx, submitter, reply } => {
                self.shared.metrics.sequencer_queue.dec();
                match self.may_sequence(leading, failed) {
                    Ok(()) => {
                        let cx = context(&self.shared);
                        self.core.admit_tx(&cx, open, vtx, &submitter, reply);
                    }
                    Err(refusal) => drop(reply.send(Err(refusal))),
                }
            }
            SequencerJob::Admin { change, reply } => match self.may_sequence(leading, failed) {
                Ok(()) => {
                    let cx = context(&self.shared);
                    self.core.admit_admin(&cx, open, change, reply);
                }
                Err(refusal) => drop(reply.send(Err(refusal))),
            },
        }
    }

    /// Whether this replica sequences now: it leads (or is a single node)
    /// and has not failed stop. Leading, it records that it led (what a
    /// later step down must undo).
    fn may_sequence(&mut self, leading: bool, failed: bool) -> Result<(), Refusal> {
        if !leading {
            return Err(self.shared.not_leader());
        }
        self.led = true;
        if failed {
            return Err(unavailable());
        }
        Ok(())
    }
}

/// What the decisions read, now.
fn context(shared: &Shared) -> SequencingContext<'_> {
    SequencingContext {
        store: &shared.store,
        durable_height: shared.durable_height.load(Ordering::Acquire),
        now_unix_ms: shared.clock.now_unix_ms(),
        engine_key: &shared.engine_key,
        chain: &shared.chain,
    }
}

impl Sequencing {
    /// The sequencer of `ledger` sealing on `tip`, nothing pending.
    #[must_use]
    pub fn new(ledger: Ledger, tip: SignedHeader) -> Self {
        Self {
            ledger,
            tip,
            pending: VecDeque::new(),
            pending_spent: HashMap::new(),
            pending_txids: HashMap::new(),
            pending_refs: HashMap::new(),
        }
    }

    /// The ledger with every sealed and open transaction applied.
    #[cfg(feature = "dev")]
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The last block sealed.
    #[cfg(feature = "dev")]
    #[must_use]
    pub fn tip(&self) -> &SignedHeader {
        &self.tip
    }

    /// A follower's step: replays a block the cluster committed onto the
    /// ledger (through `replica::replay`, the same rules as when it was
    /// sealed) and makes it the tip.
    pub fn replay_committed(&mut self, bytes: &[u8], engine_key: &Address, chain: &ChainId) -> Replayed {
        let block = match crate::engine::replica::ReplicatedBlock::decode(bytes, engine_key, chain) {
            Ok(block) => block,
            Err(error) => return Replayed::Diverged(format!("a committed block does not decode: {error}")),
        };
        let header = block.signed.header;
        if header.height < self.tip.header.height {
            return Replayed::AlreadyApplied;
        }
        if header.height == self.tip.header.height {
            if header != self.tip.header {
                return Replayed::Diverged(format!("committed block {} differs from this replica's", header.height));
            }
            return Replayed::AlreadyApplied;
        }
        match crate::engine::replica::replay(&mut self.ledger, &self.tip, &block, engine_key, chain) {
            Ok(record) => {
                self.tip = record.signed;
                Replayed::Record(Box::new(record))
            }
            Err(error) => Replayed::Diverged(format!("committed block {} does not replay: {error}", header.height)),
        }
    }

    /// Forgets what blocks now durable held: the store answers for them.
    fn prune_durable(&mut self, durable: u64) {
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

    /// Stamps an idle open block with the time its rules are judged at
    /// (never before the previous block's).
    fn open_at(&self, open: &mut OpenBlock, now_unix_ms: u64) {
        if open.is_idle() {
            open.time_unix_ms = now_unix_ms.max(self.tip.header.time_unix_ms);
        }
    }

    /// A registry change: applied into the open block, or refused.
    pub fn admit_admin(
        &mut self,
        cx: &SequencingContext,
        open: &mut OpenBlock,
        change: RegistryChange,
        reply: AdminResponder,
    ) {
        self.open_at(open, cx.now_unix_ms);
        match self.ledger.admin(change.op.clone()) {
            Ok(()) => {
                open.ops.push((u32::try_from(open.txs.len()).expect("blocks are bounded"), change));
                open.admin_replies.push(reply);
            }
            Err(refusal) => {
                let _ = reply.send(Err(refusal));
            }
        }
    }

    /// Validates one transaction against the ledger (which already holds the
    /// effects of everything sealed or open before it) and, if it passes,
    /// applies it into the open block.
    pub fn admit_tx(
        &mut self,
        cx: &SequencingContext,
        open: &mut OpenBlock,
        vtx: VerifiedTx,
        submitter: &Submitter,
        reply: Responder,
    ) {
        self.open_at(open, cx.now_unix_ms);
        // The caller is gone (its deadline passed, or it hung up): nothing
        // was promised, so nothing is applied.
        if reply.is_closed() {
            return;
        }
        self.prune_durable(cx.durable_height);
        if let Err(refusal) = self.permitted(&vtx, submitter) {
            let _ = reply.send(Err(refusal));
            return;
        }
        let reply = if vtx.tx.kind == TxKind::Mint {
            let Some(reply) = self.mint_not_seen(cx.store, open, &vtx, reply) else { return };
            reply
        } else {
            reply
        };
        let basis = if vtx.tx.kind == TxKind::Refund {
            match self.refund_basis(cx.store, open, &vtx) {
                Ok(basis) => Some(basis),
                Err(refusal) => {
                    let _ = reply.send(Err(refusal));
                    return;
                }
            }
        } else {
            None
        };
        let check = basis.as_ref().map_or(RefundCheck::NotLookedUp, RefundCheck::Against);
        match self.ledger.apply_checked(&vtx, open.time_unix_ms, check) {
            Ok(applied) => open.push(vtx, applied, submitter, reply),
            Err(Decline::Refused(refusal)) => {
                let _ = reply.send(Err(refusal));
            }
            Err(Decline::InputMissing(input)) => self.explain_missing(cx.store, open, input, vtx.txid, reply),
        }
    }

    /// A mint seen before is a resubmission (answered with its receipt);
    /// a mint whose reference another mint paid is refused. `reply` comes
    /// back when the mint is new.
    fn mint_not_seen(
        &mut self,
        store: &Store,
        open: &mut OpenBlock,
        vtx: &VerifiedTx,
        reply: Responder,
    ) -> Option<Responder> {
        match self.known(store, &vtx.txid, &open.in_block) {
            Ok(Known::InThisBlock(index)) => {
                open.replies.push((index, true, reply));
                return None;
            }
            Ok(Known::Sealed) => {
                open.lookups.push((vtx.txid, reply));
                return None;
            }
            Ok(Known::None) => {}
            Err(error) => {
                let _ = reply.send(Err(storage_refusal(&error)));
                return None;
            }
        }
        // A mint's reference (a disbursement row, or a person's claim for a
        // period) pays once: another mint with the same reference is a
        // different amount or payee.
        let not_durable = open.mint_refs.get(&vtx.tx.reference).or_else(|| self.pending_refs.get(&vtx.tx.reference));
        let durable = not_durable.is_none();
        let used = match not_durable {
            Some(txid) => Ok(Some(*txid)),
            None => store.mint_by_reference(&vtx.tx.reference),
        };
        match used {
            Ok(None) => Some(reply),
            Ok(Some(other)) => {
                let mut refusal = match crate::core::encoding::claim_terms(&vtx.tx.reference) {
                    Some(claim) => {
                        // A count per period, never who: it rides with the
                        // programme's statistics.
                        self.ledger.count_duplicate_claim(claim.programme, claim.period);
                        open.stats_changed = true;
                        Refusal::new(
                            Reason::ClaimAlreadyPaid,
                            format!(
                                "this person was already paid for period {} of programme {} by mint {other}",
                                claim.period, claim.programme
                            ),
                        )
                    }
                    None => Refusal::new(
                        Reason::ReferenceReused,
                        format!("the mint reference was already paid by mint {other}, with other outputs"),
                    ),
                };
                refusal.spent_by = Some(other);
                // Said only once the other mint is durable.
                open.refuse_once(durable, refusal, reply);
                None
            }
            Err(error) => {
                let _ = reply.send(Err(storage_refusal(&error)));
                None
            }
        }
    }

    /// The payment a refund names, as the store holds it: the transaction,
    /// the outputs its inputs consumed, its block's time. A payment not yet
    /// durable is refused (a crash could undo it): the merchant refunds it
    /// once it is confirmed.
    fn refund_basis(&self, store: &Store, open: &OpenBlock, vtx: &VerifiedTx) -> Result<RefundBasis, Refusal> {
        let payment = TxId::from_slice(&vtx.tx.reference)
            .ok_or_else(|| Refusal::new(Reason::Malformed, "a refund's reference is the payment's txid"))?;
        if open.in_block.contains_key(&payment) || self.pending_txids.contains_key(&payment) {
            return Err(Refusal::new(
                Reason::UnknownPayment,
                format!("payment {payment} is not confirmed yet: refund it once it is"),
            ));
        }
        let unknown = || Refusal::new(Reason::UnknownPayment, format!("no confirmed transaction {payment}"));
        let storage = |error: StoreError| storage_refusal(&error);
        let location = store.locate(&payment).map_err(storage)?.ok_or_else(unknown)?;
        let original = store.transaction(&payment).map_err(storage)?.ok_or_else(unknown)?;
        let header = store.header(location.height).map_err(storage)?.ok_or_else(unknown)?;
        let mut spent = Vec::with_capacity(original.inputs.len());
        for input in &original.inputs {
            let creator = store.transaction(&input.txid).map_err(storage)?;
            let output = creator.and_then(|tx| tx.outputs.get(input.index as usize).copied());
            spent.push(output.ok_or_else(|| {
                Refusal::new(Reason::Unavailable, format!("the store lacks input {input} of payment {payment}"))
            })?);
        }
        Ok(RefundBasis::of(&original, payment, &spent, header.header.time_unix_ms, self.ledger.registry()))
    }

    /// An input the ledger does not hold: spent by this very transaction
    /// (a resubmission, answered with its receipt), spent by another
    /// (`REASON_INPUT_SPENT`, said once the spender is durable), or never
    /// created.
    fn explain_missing(&self, store: &Store, open: &mut OpenBlock, input: OutPoint, txid: TxId, reply: Responder) {
        let not_durable = open.spent_in_block.get(&input).or_else(|| self.pending_spent.get(&input));
        let spender_durable = not_durable.is_none();
        let spender = match not_durable {
            Some(txid) => Ok(Some(*txid)),
            None => store.spent_by(&input),
        };
        match spender {
            Ok(Some(spender)) if spender == txid => match open.in_block.get(&txid) {
                Some(index) => open.replies.push((*index, true, reply)),
                None => open.lookups.push((txid, reply)),
            },
            Ok(Some(spender)) => {
                let mut refusal =
                    Refusal::new(Reason::InputSpent, format!("input {input} was already spent by {spender}"))
                        .with_input(input);
                refusal.spent_by = Some(spender);
                open.refuse_once(spender_durable, refusal, reply);
            }
            Ok(None) => {
                let refusal =
                    Refusal::new(Reason::InputUnknown, format!("input {input} does not exist")).with_input(input);
                let _ = reply.send(Err(refusal));
            }
            Err(error) => {
                let _ = reply.send(Err(storage_refusal(&error)));
            }
        }
    }

    /// The caller's rules, judged by the registry as the sequencer sees it.
    fn permitted(&self, vtx: &VerifiedTx, submitter: &Submitter) -> Result<(), Refusal> {
        let registry = self.ledger.registry();
        let merchant_bank = |owner: &Address| match registry.role(owner) {
            Some(Role::Merchant { id, .. }) => registry.merchants.get(id).map(|m| (id.clone(), m.bank.clone())),
            _ => None,
        };
        match submitter {
            Submitter::Trusted => Ok(()),
            Submitter::Terminal { id, merchant } => {
                if registry.inactive_terminals.contains(id) || registry.inactive_merchants.contains(merchant) {
                    return Err(Refusal::new(
                        Reason::ParticipantInactive,
                        format!("terminal {id} (of merchant {merchant}) is deactivated"),
                    ));
                }
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
    pub fn seal(&mut self, cx: &SequencingContext, open: OpenBlock) -> WriterJob {
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
            stats_changed,
            ..
        } = open;
        if txs.is_empty() && ops.is_empty() {
            // Only refused claims changed the statistics (every applied
            // transaction is in a block, which takes what it changed).
            let stats = stats_changed
                .then(|| StatsAlone { height: self.tip.header.height, stats: self.ledger.take_touched_stats() });
            return WriterJob { replies, lookups, deferred, admin_replies, stats, ..WriterJob::empty() };
        }
        let block = seal_block(&mut self.ledger, &self.tip, txs, ops, time_unix_ms, cx.engine_key, cx.chain);
        self.tip = block.signed;
        let txids: Vec<TxId> = block.txs.iter().map(|(vtx, _)| vtx.txid).collect();
        let spent: Vec<OutPoint> = spent_in_block.keys().copied().collect();
        self.pending_spent.extend(spent_in_block);
        self.pending_txids.extend(txids.iter().map(|t| (*t, ())));
        let references: Vec<Vec<u8>> = mint_refs.keys().cloned().collect();
        self.pending_refs.extend(mint_refs);
        self.pending.push_back(PendingBlock { height: self.tip.header.height, spent, txids, mint_refs: references });
        WriterJob { block: Some(block), replies, lookups, deferred, admin_replies, ..WriterJob::empty() }
    }

    fn known(&self, store: &Store, txid: &TxId, in_block: &HashMap<TxId, usize>) -> Result<Known, StoreError> {
        if let Some(index) = in_block.get(txid) {
            return Ok(Known::InThisBlock(*index));
        }
        if self.pending_txids.contains_key(txid) || store.locate(txid)?.is_some() {
            return Ok(Known::Sealed);
        }
        Ok(Known::None)
    }
}
