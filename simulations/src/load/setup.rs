//! Setup before the measured window: the ledger's parameters, the bank and
//! merchants, mints (funding and preload), none of it measured.

use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::{self, Client};
use settled::{Address, Keypair, Transaction, proto};
use tokio::task::JoinSet;

use super::{LoadError, MERCHANTS};

/// Mints awaiting their receipt at once (each a unary `AdminService.Mint`).
pub const MINTS_IN_FLIGHT_MAX: usize = 64;
/// Signed preload mints waiting to be submitted.
pub const PRELOAD_QUEUE_MAX: usize = 4096;
/// Distinct owners of preloaded outputs: enough to spread them, few enough
/// that generating the keys costs well under a second. An unregistered
/// owner's balance cap (10,000.00 in tier 1) is far above what it receives
/// at one minor unit per output.
pub const PRELOAD_OWNERS_MAX: usize = 16_384;
/// Each preloaded output holds one minor unit.
const PRELOAD_OUTPUT_MINOR: u64 = 1;
/// Threads signing preload mints.
const PRELOAD_SIGNERS_MAX: usize = 16;
const BANK_ID: &str = "load-bank";
/// Grocery: the category the retail workload pays at.
pub const MERCHANT_MCC: u32 = 5411;

/// Of `issuers`, those in the ledger's issuer set, as many as its mints
/// need.
///
/// # Errors
/// Fewer of them than the threshold are the ledger's issuers.
pub fn mint_signers(info: &proto::GetInfoResponse, issuers: &[Keypair]) -> Result<Vec<Keypair>, String> {
    let threshold = info.issuer_threshold as usize;
    let signers: Vec<Keypair> = issuers
        .iter()
        .filter(|k| info.issuer_public_keys.iter().any(|p| p.as_slice() == k.address().0))
        .take(threshold)
        .cloned()
        .collect();
    if signers.len() < threshold {
        return Err(format!(
            "{} of the issuer keys given are the ledger's issuers; its mints need {threshold} signatures",
            signers.len()
        ));
    }
    Ok(signers)
}

/// What the load needs to know about the ledger.
pub struct Ledger {
    pub currency: String,
    pub exponent: u32,
    pub unspent_count: u64,
    /// The ledger's chain id: what the run's signatures are made for.
    pub chain_id: settled::ChainId,
    /// Issuer keys that are in the ledger's issuer set, as many as its threshold.
    signers: Vec<Keypair>,
}

impl Ledger {
    /// # Errors
    /// `GetInfo` fails, or the issuer keys given cannot make a mint.
    pub async fn read(admin: &mut Client, issuers: &[Keypair]) -> Result<Self, LoadError> {
        let info = admin.info(false).await.map_err(|s| LoadError::Server(format!("GetInfo: {}", describe(&s))))?;
        let signers = mint_signers(&info, issuers).map_err(LoadError::Setup)?;
        let chain_id = settled::ChainId::from_slice(&info.chain_id)
            .ok_or_else(|| LoadError::Server("GetInfo: the chain id is not 32 bytes".into()))?;
        Ok(Self {
            currency: info.currency,
            exponent: info.currency_exponent,
            unspent_count: info.unspent_count,
            chain_id,
            signers,
        })
    }

    /// The keys that sign this run's mints.
    #[must_use]
    pub fn signers(&self) -> Vec<&Keypair> {
        self.signers.iter().collect()
    }
}

/// "CODE REASON: message" of a refusal.
pub fn describe(status: &tonic::Status) -> String {
    match client::status_reason(status) {
        Some(reason) => format!("{:?} {}: {}", status.code(), reason.as_str_name(), status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// Registers the load's bank (once per ledger) and `MERCHANTS` grocery
/// merchants for this run; returns their payout addresses. Registered
/// merchants are exempt from wallet tiers, so takings do not hit a balance cap.
///
/// # Errors
/// A refused registration.
pub async fn register_merchants(admin: &mut Client, run_tag: &str) -> Result<Vec<Address>, LoadError> {
    let bank = proto::Bank { id: BANK_ID.into(), name: "Load test bank".into(), credential_sha256: Vec::new() };
    match admin.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await {
        Ok(_) => {}
        Err(status) if client::status_reason(&status) == Some(proto::Reason::AlreadyRegistered) => {}
        Err(status) => return Err(LoadError::Setup(format!("register bank {BANK_ID}: {}", describe(&status)))),
    }
    register_shops(admin, BANK_ID, MERCHANTS, &shop_prefix(run_tag), "Load shop")
        .await
        .map(|keys| keys.iter().map(Keypair::address).collect())
        .map_err(|(i, s)| LoadError::Setup(format!("register merchant {i}: {}", describe(&s))))
}

fn shop_prefix(run_tag: &str) -> String {
    format!("load-{run_tag}-shop")
}

/// The id of the run's shop `index`, as `register_merchants` names it.
#[must_use]
pub fn shop_id(run_tag: &str, index: usize) -> String {
    format!("{}-{index:02}", shop_prefix(run_tag))
}

/// Registers `count` grocery merchants (`MERCHANT_MCC`) at `bank_id`, each
/// paid at a fresh key: ids `<id_prefix>-NN`. The keys (which sign the
/// merchants' redemptions); the index and status of the first one refused.
///
/// # Errors
/// A refused registration.
pub async fn register_shops(
    admin: &mut Client,
    bank_id: &str,
    count: usize,
    id_prefix: &str,
    name_prefix: &str,
) -> Result<Vec<Keypair>, (usize, tonic::Status)> {
    let mut shops = Vec::with_capacity(count);
    for i in 0..count {
        let key = Keypair::generate();
        let address = key.address();
        let merchant = proto::Merchant {
            id: format!("{id_prefix}-{i:02}"),
            name: format!("{name_prefix} {i}"),
            mcc: MERCHANT_MCC,
            bank_id: bank_id.to_owned(),
            payout_addresses: vec![address.0.to_vec()],
            deactivated: false,
        };
        admin
            .admin
            .register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) })
            .await
            .map_err(|status| (i, status))?;
        shops.push(key);
    }
    Ok(shops)
}

/// Mints submitted concurrently, at most `MINTS_IN_FLIGHT_MAX` at once.
struct MintQueue {
    admin: Client,
    tasks: JoinSet<Result<usize, LoadError>>,
    label: &'static str,
    outputs_done: u64,
}

impl MintQueue {
    fn new(admin: &Client, label: &'static str) -> Self {
        Self { admin: admin.clone(), tasks: JoinSet::new(), label, outputs_done: 0 }
    }

    async fn push(&mut self, tx: Transaction) -> Result<(), LoadError> {
        while self.tasks.len() >= MINTS_IN_FLIGHT_MAX {
            self.join_one().await?;
        }
        let mut admin = self.admin.clone();
        let label = self.label;
        self.tasks.spawn(async move {
            let outputs = tx.outputs.len();
            let request = proto::MintRequest { transaction: Some(client::transaction_to_proto(&tx)) };
            match admin.admin.mint(request).await {
                Ok(_) => Ok(outputs),
                Err(status) => Err(LoadError::Setup(format!("{label} mint refused: {}", describe(&status)))),
            }
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), LoadError> {
        if let Some(done) = self.tasks.join_next().await {
            let outputs = done.map_err(|e| LoadError::Setup(format!("{} mint task: {e}", self.label)))??;
            self.outputs_done += outputs as u64;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<u64, LoadError> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(self.outputs_done)
    }
}

/// Submits `mints` concurrently and waits for every receipt.
///
/// # Errors
/// The first refused mint.
pub async fn submit_mints(
    admin: &Client,
    mints: Vec<Transaction>,
    label: &'static str,
    progress: bool,
) -> Result<u64, LoadError> {
    let mut queue = MintQueue::new(admin, label);
    let mut printed = Instant::now();
    let total: usize = mints.iter().map(|m| m.outputs.len()).sum();
    for tx in mints {
        queue.push(tx).await?;
        if progress && printed.elapsed().as_secs() >= 1 {
            printed = Instant::now();
            println!("  {label}: {} of {total} outputs minted", queue.outputs_done);
        }
    }
    queue.finish().await
}

/// Mints outputs of one minor unit to random owners until the ledger holds
/// `target` unspent outputs. Signing runs on its own threads, ahead of the
/// submissions.
///
/// # Errors
/// The first refused mint.
pub async fn preload(
    admin: &Client,
    ledger: &Ledger,
    target: u64,
    run_tag: &str,
    progress: bool,
) -> Result<(), LoadError> {
    if target == 0 {
        return Ok(());
    }
    if ledger.unspent_count >= target {
        println!("preload: the ledger already holds {} unspent outputs (>= {target})", ledger.unspent_count);
        return Ok(());
    }
    let outputs_max = settled::limits::TX_OUTPUTS_MAX as u64;
    let shortfall = target - ledger.unspent_count;
    let mints = shortfall.div_ceil(outputs_max);
    let owners_n = usize::try_from(shortfall).unwrap_or(usize::MAX).min(PRELOAD_OWNERS_MAX);
    let started = Instant::now();
    println!("preload: minting {shortfall} outputs in {mints} mints to {owners_n} owners ...");
    let owners: Arc<Vec<Address>> = Arc::new((0..owners_n).map(|_| Keypair::generate().address()).collect());
    let signers: Arc<Vec<Keypair>> = Arc::new(ledger.signers.clone());
    let chain_id = ledger.chain_id;
    let threads =
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get).clamp(1, PRELOAD_SIGNERS_MAX) as u64;
    let (sender, mut signed) = tokio::sync::mpsc::channel::<Transaction>(PRELOAD_QUEUE_MAX);
    for thread in 0..threads {
        let (owners, signers, sender) = (Arc::clone(&owners), Arc::clone(&signers), sender.clone());
        let reference = format!("load-preload-{run_tag}-");
        // Detached: a thread stops by itself when the receiver is gone.
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(thread);
            let signers: Vec<&Keypair> = signers.iter().collect();
            let mut k = thread;
            while k < mints {
                let n = outputs_max.min(shortfall - k * outputs_max);
                let outputs = (0..n)
                    .map(|_| client::output(owners[rng.gen_range(0..owners.len())], PRELOAD_OUTPUT_MINOR, 0))
                    .collect();
                let tx = client::mint(&chain_id, outputs, format!("{reference}{k}").as_bytes(), &signers);
                if sender.blocking_send(tx).is_err() {
                    return;
                }
                k += threads;
            }
        });
    }
    drop(sender);
    let mut queue = MintQueue::new(admin, "preload");
    let mut printed = Instant::now();
    while let Some(tx) = signed.recv().await {
        queue.push(tx).await?;
        if progress && printed.elapsed().as_secs() >= 1 {
            printed = Instant::now();
            let done = queue.outputs_done;
            #[allow(clippy::cast_precision_loss)]
            let rate = done as f64 / started.elapsed().as_secs_f64();
            println!("  preload: {done} of {shortfall} outputs ({rate:.0}/s)");
        }
    }
    let minted = queue.finish().await?;
    assert_eq!(minted, shortfall, "every preload output is minted exactly once");
    let mut admin = admin.clone();
    let info = admin.info(false).await.map_err(|s| LoadError::Server(format!("GetInfo: {}", describe(&s))))?;
    println!(
        "preload: {minted} outputs in {:.1} s; the ledger holds {} unspent outputs",
        started.elapsed().as_secs_f64(),
        info.unspent_count
    );
    Ok(())
}
