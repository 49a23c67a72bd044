//! The ledger core's rate: the engine's own sequencer ([`Sequencing`]) and
//! a writer thread committing each block durably to a redb file, on
//! payments verified beforehand, in this process: no gRPC, no signature
//! checks, no clients. The single-node wall of the pipeline as a number, to
//! set beside TigerBeetle's `benchmark` (a durable replica, no signatures)
//! run in the same session.
//!
//! Each wallet holds one coin and pays one unit to a merchant address per
//! round, its change paying the next round, so every payment spends an
//! output of the one before it (often in the block being filled or the one
//! being written). Blocks are sealed at a fixed size and handed to the
//! writer through a rendezvous, as the engine hands them over; the
//! sequencer fills the next block while the writer commits.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::StdRng;
use settled::dev::{OpenBlock, Sequencing, SequencingContext, WriterJob, answer_durable};
use settled::registry::TierPolicy;
use settled::{
    HookedFileBackend, Keypair, OutPoint, Output, Reply, StorageFaults, Store, Submitter, VerifiedTx, client,
};
use tokio::sync::oneshot;

use crate::core_sim::keypair;

/// Payments one run verifies beforehand and sequences at most.
pub const CORE_RATE_PAYMENTS_MAX: usize = 2_000_000;
/// Transactions in one block at most (the engine's `BLOCK_TXS_MAX`).
pub const CORE_RATE_BLOCK_TXS_MAX: usize = settled::limits::BLOCK_TXS_MAX;
/// Wallets paying at most.
pub const CORE_RATE_WALLETS_MAX: usize = 100_000;

/// What to run.
#[derive(Clone, Debug)]
pub struct CoreRateOptions {
    /// Payments per block.
    pub block_txs: usize,
    pub payments: usize,
    pub wallets: usize,
    /// Where the ledger file goes (a temporary directory otherwise).
    pub dir: Option<PathBuf>,
    pub seed: u64,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct CoreRateReport {
    pub block_txs: usize,
    pub payments: u64,
    pub blocks: u64,
    /// From the first payment taken to the last block durable.
    pub seconds: f64,
    pub per_s: f64,
    /// A block's commit (one redb write transaction, fsynced).
    pub commit_p50_us: u64,
    pub commit_p99_us: u64,
    /// The share of the run the writer spent committing: near 1, the
    /// writer is the wall; well below, the sequencer is.
    pub writer_busy: f64,
    /// A payment's wait: from its block's first payment taken to the block
    /// durable (what the first payment of each block waited, the longest).
    pub payment_p50_us: u64,
    pub payment_p99_us: u64,
    /// Seconds spent signing and verifying the payments beforehand (not in
    /// the rate).
    pub prepare_seconds: f64,
}

/// Runs the core on `options.payments` pre-verified payments.
///
/// # Errors
/// A bad option, a ledger that does not open or commit, or a payment not
/// confirmed.
pub fn run(options: &CoreRateOptions) -> Result<CoreRateReport, String> {
    if options.block_txs == 0 || options.block_txs > CORE_RATE_BLOCK_TXS_MAX {
        return Err(format!("--block-txs is 1..={CORE_RATE_BLOCK_TXS_MAX}"));
    }
    if options.payments == 0 || options.payments > CORE_RATE_PAYMENTS_MAX {
        return Err(format!("--payments is 1..={CORE_RATE_PAYMENTS_MAX}"));
    }
    if options.wallets == 0 || options.wallets > CORE_RATE_WALLETS_MAX {
        return Err(format!("--wallets is 1..={CORE_RATE_WALLETS_MAX}"));
    }
    let temporary = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = options.dir.clone().unwrap_or_else(|| temporary.path().to_owned());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let issuers: Vec<Keypair> = (0..2).map(|_| keypair(&mut rng)).collect();
    let engine_key = keypair(&mut rng);
    let genesis = crate::genesis(&issuers, &engine_key);
    let path = dir.join("core-rate.redb");
    // A ledger left by another run would be reopened (and locked while
    // that run lives): its blocks are not this run's.
    if path.exists() {
        return Err(format!("{} exists: give an empty --dir", path.display()));
    }
    let backend = HookedFileBackend::open(&path, StorageFaults::default(), None).map_err(|e| e.to_string())?;
    let (store, recovered) =
        Store::open(backend, &genesis, None, |message| engine_key.sign(message)).map_err(|e| e.to_string())?;
    let tiers = TierPolicy { tiers: Vec::new(), unregistered_tier: None, day_offset_minutes: 480 };
    let tip = recovered.tip;
    let ledger = settled::recovered_ledger(recovered, tiers).map_err(|e| e.to_string())?;
    let chain = store.chain_id();
    let mut core =
        Core { base: Base { store: Arc::new(store), engine_key, chain }, sequencing: Sequencing::new(ledger, tip) };
    let started = Instant::now();
    let wallets: Vec<Keypair> = (0..options.wallets).map(|_| keypair(&mut rng)).collect();
    let coins = core.mint(&wallets, &issuers, options.block_txs)?;
    let payments = prepare(&core, &wallets, coins, options.payments)?;
    let prepare_seconds = started.elapsed().as_secs_f64();
    let mut report = core.sequence(payments, options.block_txs)?;
    report.prepare_seconds = prepare_seconds;
    Ok(report)
}

struct Core {
    base: Base,
    sequencing: Sequencing,
}

/// What the sequencer reads besides its state.
struct Base {
    store: Arc<Store>,
    engine_key: Keypair,
    chain: settled::ChainId,
}

impl Base {
    fn context(&self, durable_height: u64) -> SequencingContext<'_> {
        SequencingContext {
            store: &self.store,
            durable_height,
            now_unix_ms: settled::now_unix_ms(),
            engine_key: &self.engine_key,
            chain: &self.chain,
        }
    }
}

/// A block handed to the writer, with when its first payment was taken.
type Handed = (WriterJob, Instant);

impl Core {
    /// One coin for each wallet, minted in blocks written one at a time.
    fn mint(
        &mut self,
        wallets: &[Keypair],
        issuers: &[Keypair],
        block_txs: usize,
    ) -> Result<Vec<(OutPoint, Output)>, String> {
        let signers: Vec<&Keypair> = issuers.iter().collect();
        let mut coins = Vec::with_capacity(wallets.len());
        let mut answers = Vec::new();
        for chunk in wallets.chunks(block_txs) {
            let mut open = OpenBlock::default();
            for wallet in chunk {
                let output = client::output(wallet.address(), 1_000_000_000, 0);
                let reference = wallet.address().0.to_vec();
                let tx = client::mint(&self.base.chain, vec![output], &reference, &signers);
                coins.push(client::output_of(&tx, 0));
                let vtx = settled::verify(tx, &self.base.chain).map_err(|r| r.to_string())?;
                let (reply, answer) = oneshot::channel();
                let durable = self.sequencing.tip().header.height;
                self.sequencing.admit_tx(&self.base.context(durable), &mut open, vtx, &Submitter::Trusted, reply);
                answers.push(answer);
            }
            let durable = self.sequencing.tip().header.height;
            let job = self.sequencing.seal(&self.base.context(durable), open);
            if let Some(block) = job.block() {
                self.base.store.commit_block(block).map_err(|e| e.to_string())?;
            }
            answer_durable(&self.base.store, job);
        }
        confirmed(answers, "mint")?;
        Ok(coins)
    }

    /// The payments, sequenced into blocks of `block_txs` while a writer
    /// thread commits the previous block.
    fn sequence(&mut self, payments: Vec<VerifiedTx>, block_txs: usize) -> Result<CoreRateReport, String> {
        let count = payments.len() as u64;
        let durable = Arc::new(AtomicU64::new(self.sequencing.tip().header.height));
        let (to_writer, jobs) = mpsc::sync_channel::<Handed>(0);
        let writer = {
            let (store, durable) = (Arc::clone(&self.base.store), Arc::clone(&durable));
            std::thread::Builder::new()
                .name("core-rate-writer".to_owned())
                .spawn(move || write_blocks(&store, &durable, &jobs))
                .map_err(|e| e.to_string())?
        };
        let mut answers = Vec::with_capacity(payments.len());
        let mut open = OpenBlock::default();
        let mut in_block = 0;
        let mut opened = Instant::now();
        let started = Instant::now();
        for vtx in payments {
            if in_block == 0 {
                opened = Instant::now();
            }
            let (reply, answer) = oneshot::channel();
            let cx = self.base.context(durable.load(Ordering::Acquire));
            self.sequencing.admit_tx(&cx, &mut open, vtx, &Submitter::Trusted, reply);
            answers.push(answer);
            in_block += 1;
            if in_block == block_txs {
                let job = self
                    .sequencing
                    .seal(&self.base.context(durable.load(Ordering::Acquire)), std::mem::take(&mut open));
                to_writer.send((job, opened)).map_err(|_| "the writer stopped".to_owned())?;
                in_block = 0;
            }
        }
        if in_block > 0 {
            let job = self.sequencing.seal(&self.base.context(durable.load(Ordering::Acquire)), open);
            to_writer.send((job, opened)).map_err(|_| "the writer stopped".to_owned())?;
        }
        drop(to_writer);
        let (commits, waits) = writer.join().map_err(|_| "the writer panicked".to_owned())??;
        let seconds = started.elapsed().as_secs_f64();
        confirmed(answers, "payment")?;
        let quantile = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
        #[allow(clippy::cast_precision_loss)]
        Ok(CoreRateReport {
            block_txs,
            payments: count,
            blocks: commits.len(),
            seconds,
            per_s: count as f64 / seconds,
            commit_p50_us: quantile(&commits, 0.5),
            writer_busy: commits.mean() * commits.len() as f64 / 1e6 / seconds,
            commit_p99_us: quantile(&commits, 0.99),
            payment_p50_us: quantile(&waits, 0.5),
            payment_p99_us: quantile(&waits, 0.99),
            prepare_seconds: 0.0,
        })
    }
}

/// The writer: commits each block, publishes its height, answers; the
/// commit times and the blocks' waits, in microseconds.
fn write_blocks(
    store: &Store,
    durable: &AtomicU64,
    jobs: &mpsc::Receiver<Handed>,
) -> Result<(Histogram<u64>, Histogram<u64>), String> {
    let histogram = || Histogram::<u64>::new_with_max(Duration::from_secs(600).as_micros() as u64, 3);
    let (mut commits, mut waits) = (histogram().map_err(|e| e.to_string())?, histogram().map_err(|e| e.to_string())?);
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    while let Ok((job, opened)) = jobs.recv() {
        if let Some(block) = job.block() {
            let started = Instant::now();
            store.commit_block(block).map_err(|e| e.to_string())?;
            commits.saturating_record(micros(started.elapsed()));
            durable.store(block.signed.header.height, Ordering::Release);
        }
        answer_durable(store, job);
        waits.saturating_record(micros(opened.elapsed()));
    }
    Ok((commits, waits))
}

/// Every answer a receipt.
fn confirmed(answers: Vec<oneshot::Receiver<Reply>>, what: &str) -> Result<(), String> {
    for mut answer in answers {
        match answer.try_recv() {
            Ok(Ok(_)) => {}
            other => return Err(format!("a {what} was not confirmed: {other:?}")),
        }
    }
    Ok(())
}

/// `payments` payments, round after round over the wallets, each paying one
/// unit to a merchant address and its change paying the next round; signed
/// and verified here (on every core), so that the rate counts none of it.
fn prepare(
    core: &Core,
    wallets: &[Keypair],
    coins: Vec<(OutPoint, Output)>,
    payments: usize,
) -> Result<Vec<VerifiedTx>, String> {
    let merchant = Keypair::from_secret(&[7; 32]).ok_or("a merchant key")?.address();
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let per_thread = wallets.len().div_ceil(threads);
    let rounds = payments.div_ceil(wallets.len());
    let chain = core.base.chain;
    // Each thread signs its wallets' chains of payments: payment r of a
    // wallet spends the change of payment r - 1.
    let chains: Vec<Vec<Vec<VerifiedTx>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = wallets
            .chunks(per_thread)
            .zip(coins.chunks(per_thread))
            .map(|(wallets, coins)| {
                scope.spawn(move || -> Result<Vec<Vec<VerifiedTx>>, String> {
                    let mut chains = Vec::with_capacity(wallets.len());
                    for (wallet, coin) in wallets.iter().zip(coins) {
                        let mut coin = *coin;
                        let mut chain_of = Vec::with_capacity(rounds);
                        for round in 0..rounds {
                            let reference = format!("r{round}").into_bytes();
                            let tx = client::pay(&chain, wallet, coin, merchant, 1, &reference);
                            coin = client::output_of(&tx, 1);
                            if coin.1.owner != wallet.address() {
                                return Err("the change is not the second output".to_owned());
                            }
                            chain_of.push(settled::verify(tx, &chain).map_err(|r| r.to_string())?);
                        }
                        chains.push(chain_of);
                    }
                    Ok(chains)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| "a signer panicked".to_owned())?)
            .collect::<Result<Vec<_>, String>>()
    })?;
    let mut chains: Vec<std::vec::IntoIter<VerifiedTx>> = chains.into_iter().flatten().map(Vec::into_iter).collect();
    let mut ordered = Vec::with_capacity(payments);
    'rounds: for _ in 0..rounds {
        for chain in &mut chains {
            match chain.next() {
                Some(vtx) if ordered.len() < payments => ordered.push(vtx),
                _ => break 'rounds,
            }
        }
    }
    Ok(ordered)
}
