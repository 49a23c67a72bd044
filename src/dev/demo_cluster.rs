//! `settled demo --cluster`: three replicas as `settled serve` processes on
//! loopback (from `settled cluster init`'s files), terminals paying through
//! a cluster client, the leader killed with SIGKILL mid-way, service
//! resuming under a new leader, the old leader restarted and caught up, and
//! then the checks: every confirmed payment in every replica at the same
//! sequence and block, the same tip everywhere, every chain audited, the
//! supply adding up. Reports the fail-over time (the last confirmation
//! before the kill to the first after it) and the rates. Each phase lasts
//! its time and until a payment was confirmed in it, however long the
//! machine takes to elect a leader: only hang guards end a wait.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::{self, Replicas};
use crate::core::crypto::Keypair;
use crate::core::limits::TX_OUTPUTS_MAX;
use crate::core::types::{Address, OutPoint, Output, TxId};
use crate::dev::local_cluster::LocalCluster;
use crate::proto;
use tokio::sync::watch;

/// Bounds of the cluster demo's own sizes.
pub const CLUSTER_DEMO_TERMINALS_MAX: usize = 1024;
pub const CLUSTER_DEMO_SECONDS_MAX: u64 = 600;
/// Each terminal's wallet starts with this much (at most a tier-1 wallet's
/// balance cap), and pays 1 minor unit at a time.
const WALLET_FUNDS_MINOR: u64 = 1_000_000;
/// Hang guard on an election, the replicas converging, or the first
/// confirmation of a phase: seconds normally; reaching it only turns a hang
/// into a failure.
pub const SETTLE_HANG_GUARD: Duration = Duration::from_secs(120);
/// Hang guard on one payment, resubmitted through fail-overs (each of at
/// most `limits::FAILOVER_WITHIN`) until confirmed.
pub const PAYMENT_HANG_GUARD: Duration = Duration::from_secs(120);
/// The till the terminals pay with.
const TILL_TOKEN: &str = "demo-cluster-till";

#[derive(Clone, Debug)]
pub struct ClusterDemoOptions {
    /// The `settled` program to run the replicas with.
    pub bin: PathBuf,
    pub replicas: usize,
    /// Terminals paying at once, each from its own wallet.
    pub terminals: usize,
    /// Payments flow this long before the kill, and again after the new
    /// leader is elected and after the old one is back.
    pub phase: Duration,
    /// Where the cluster's files and data live; a temporary directory when
    /// `None`.
    pub data_dir: Option<PathBuf>,
}

/// What the cluster demo measured and checked.
#[derive(Clone, Debug, Default)]
pub struct ClusterDemoReport {
    pub confirmed: usize,
    /// Confirmed payments/s before the kill.
    pub rate_before_kill: f64,
    /// Confirmed payments/s once the old leader was back (three replicas).
    pub rate_after_restart: f64,
    /// Node ids.
    pub killed: u64,
    pub new_leader: u64,
    /// The last confirmation before the kill to the first one after it.
    pub failover: Duration,
    /// The kill to the first confirmation after it.
    pub kill_to_first_confirmation: Duration,
    /// Receipts found on each replica at their sequence and block.
    pub receipts_checked: usize,
    pub tip_height: u64,
}

/// One confirmed payment, as a terminal saw it.
#[derive(Clone, Copy, Debug)]
pub struct Confirmation {
    pub at: Instant,
    pub txid: TxId,
    pub sequence: u64,
    pub height: u64,
}

/// Mints `count` wallets of `amount_minor` each through `issuer` (the
/// leader, failing over), `TX_OUTPUTS_MAX` wallets per mint.
///
/// # Errors
/// A refused mint.
pub async fn fund_wallets(
    issuer: &Replicas,
    issuers: &[Keypair],
    count: usize,
    amount_minor: u64,
    reference: &str,
) -> Result<Vec<(Keypair, (OutPoint, Output))>, String> {
    let keys: Vec<Keypair> = (0..count).map(|_| Keypair::generate()).collect();
    let signers: Vec<&Keypair> = issuers.iter().take(2).collect();
    let chain = issuer.chain_id().await.map_err(|s| format!("chain id: {}", s.message()))?;
    let mut wallets = Vec::with_capacity(count);
    for (batch, chunk) in keys.chunks(TX_OUTPUTS_MAX).enumerate() {
        let outputs = chunk.iter().map(|key| client::output(key.address(), amount_minor, 0)).collect();
        let mint = client::mint(&chain, outputs, format!("{reference}-{batch}").as_bytes(), &signers);
        issuer.mint(&mint).await.map_err(|s| format!("funding: {}", s.message()))?;
        for (index, key) in chunk.iter().enumerate() {
            wallets.push((key.clone(), client::output_of(&mint, u32::try_from(index).expect("bounded"))));
        }
    }
    Ok(wallets)
}

/// Each wallet pays `payee` 1 minor unit at a time, spending its change,
/// through `till` until `stop`; every confirmation, in no order.
///
/// # Errors
/// As [`pay_counting`].
pub async fn pay_until(
    till: &Replicas,
    wallets: Vec<(Keypair, (OutPoint, Output))>,
    payee: Address,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<Confirmation>, String> {
    pay_counting(till, wallets, payee, stop, &Arc::new(watch::channel(0).0)).await
}

/// [`pay_until`], counting the confirmations in `confirmed` as they come,
/// for a caller that waits on them ([`confirmations`]).
///
/// # Errors
/// A payment refused other than by fail-over, or still not confirmed after
/// `PAYMENT_HANG_GUARD`.
pub async fn pay_counting(
    till: &Replicas,
    wallets: Vec<(Keypair, (OutPoint, Output))>,
    payee: Address,
    stop: &Arc<AtomicBool>,
    confirmed: &Arc<watch::Sender<u64>>,
) -> Result<Vec<Confirmation>, String> {
    let chain = till.chain_id().await.map_err(|s| format!("chain id: {}", s.message()))?;
    let mut tasks = Vec::new();
    for (terminal, (key, mut coin)) in wallets.into_iter().enumerate() {
        let till = till.clone();
        let stop = Arc::clone(stop);
        let counter = Arc::clone(confirmed);
        tasks.push(tokio::spawn(async move {
            let mut confirmations = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let tx = client::pay(&chain, &key, coin, payee, 1, format!("t{terminal}-{n}").as_bytes());
                let receipt = submit_through_fail_overs(&till, &tx)
                    .await
                    .map_err(|s| format!("terminal {terminal}: {:?} {}", s.code(), s.message()))?;
                confirmations.push(Confirmation {
                    at: Instant::now(),
                    txid: receipt.txid,
                    sequence: receipt.sequence,
                    height: receipt.block.header.height,
                });
                counter.send_modify(|count| *count += 1);
                coin = client::output_of(&tx, 1);
                n += 1;
            }
            Ok::<_, String>(confirmations)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| format!("terminal task: {e}"))??);
    }
    Ok(all)
}

/// Submits `tx` through the cluster client, and again (it is applied at
/// most once) each time the client gives up on finding a leader, until
/// `PAYMENT_HANG_GUARD`: a slow election delays the payment, it does not fail
/// it.
async fn submit_through_fail_overs(till: &Replicas, tx: &crate::Transaction) -> Result<crate::Receipt, tonic::Status> {
    let started = Instant::now();
    loop {
        match till.submit(tx).await {
            Ok((receipt, _)) => return Ok(receipt),
            Err(status) if leader_missing(&status) && started.elapsed() < PAYMENT_HANG_GUARD => {
                tokio::time::sleep(crate::core::limits::FAILOVER_RETRY_DELAY).await;
            }
            Err(status) => return Err(status),
        }
    }
}

/// What a cluster client gives up with when it found no leader in time.
fn leader_missing(status: &tonic::Status) -> bool {
    match client::status_reason(status) {
        Some(proto::Reason::NotLeader | proto::Reason::Unavailable) => true,
        Some(_) => false,
        None => matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::Internal
        ),
    }
}

/// Waits until `confirmed` counts at least `target` confirmations.
///
/// # Errors
/// Fewer after `SETTLE_HANG_GUARD`, or the payers gone.
pub async fn confirmations(confirmed: &mut watch::Receiver<u64>, target: u64) -> Result<(), String> {
    let waited = tokio::time::timeout(SETTLE_HANG_GUARD, confirmed.wait_for(|count| *count >= target))
        .await
        .map(|reached| reached.map(|_| ()));
    match waited {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("the payers stopped".to_owned()),
        Err(_) => Err(format!(
            "{} of {target} confirmations after {} s (hang guard)",
            *confirmed.borrow(),
            SETTLE_HANG_GUARD.as_secs()
        )),
    }
}

/// Once every running replica has reached the same tip: each confirmation
/// is in each replica at its sequence and block, each chain audits clean,
/// `minted_minor` was minted and the unspent outputs (counted from storage)
/// add up to the supply. Returns the common tip.
///
/// # Errors
/// A replica that did not converge, or a check that does not hold.
pub async fn check_replicas(
    cluster: &LocalCluster,
    confirmed: &[Confirmation],
    minted_minor: u64,
) -> Result<proto::BlockHeader, String> {
    let tip = cluster.converged(SETTLE_HANG_GUARD).await?;
    for index in (0..cluster.len()).filter(|i| cluster.running(*i)) {
        let node = index + 1;
        let mut reader = cluster.operator_client(index)?;
        for c in confirmed {
            let found = reader
                .payments
                .get_payment(proto::GetPaymentRequest { txid: c.txid.0.to_vec() })
                .await
                .map_err(|s| format!("node {node}: {}", s.message()))?
                .into_inner();
            let receipt = found.receipt.ok_or_else(|| format!("node {node} lost payment {}", c.txid))?;
            let height = receipt.block.map_or(0, |b| b.height);
            if (receipt.sequence, height) != (c.sequence, c.height) {
                return Err(format!("node {node}: payment {} at another place", c.txid));
            }
        }
        let audit = reader.ledger.audit(proto::AuditRequest {}).await.map_err(|s| s.message().to_owned())?.into_inner();
        if !audit.failures.is_empty() {
            return Err(format!("node {node} audit: {:?}", audit.failures));
        }
        if audit.minted_minor != minted_minor || audit.unspent_minor != audit.minted_minor - audit.burned_minor {
            return Err(format!("node {node}: the supply does not add up"));
        }
        let info = reader.info(true).await.map_err(|s| s.message().to_owned())?;
        if info.tip.as_ref() != Some(&tip) || info.unspent_total_minor != minted_minor {
            return Err(format!("node {node}: its tip or its unspent outputs differ"));
        }
    }
    Ok(tip)
}

#[allow(clippy::cast_precision_loss)]
fn rate(confirmed: &[Confirmation], from: Instant, to: Instant) -> f64 {
    let count = confirmed.iter().filter(|c| c.at >= from && c.at < to).count();
    count as f64 / to.duration_since(from).as_secs_f64().max(1e-9)
}

/// Runs the cluster demo; `say` gets each step as it happens.
///
/// # Errors
/// A step failed or a check did not hold.
pub async fn run(options: &ClusterDemoOptions, say: impl Fn(&str)) -> Result<ClusterDemoReport, String> {
    let terminals = options.terminals.clamp(1, CLUSTER_DEMO_TERMINALS_MAX);
    let phase = options.phase.min(Duration::from_secs(CLUSTER_DEMO_SECONDS_MAX));
    let temporary;
    let dir = match &options.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temporary = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            temporary.path().to_owned()
        }
    };
    let mut cluster = LocalCluster::start(&dir, &options.bin, options.replicas)?;
    say(&format!("{} replicas starting from `settled cluster init` files in {}", cluster.len(), dir.display()));
    let first = cluster.leader(SETTLE_HANG_GUARD).await?;
    say(&format!("node {} leads", first + 1));
    let shop = Keypair::generate().address();
    cluster.register_till(shop, TILL_TOKEN).await?;
    let urls = cluster.urls();
    let issuer = Replicas::lazy_with_token(&urls, &cluster.issuer_token)?;
    let wallets = fund_wallets(&issuer, &cluster.issuers, terminals, WALLET_FUNDS_MINOR, "demo-cluster").await?;
    say(&format!("{terminals} wallets funded; {terminals} terminals paying through every replica's address"));

    let till = Replicas::lazy_with_token(&urls, TILL_TOKEN)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (counter, mut counted) = watch::channel(0u64);
    let payments = {
        let till = till.clone();
        let stop = Arc::clone(&stop);
        let counter = Arc::new(counter);
        tokio::spawn(async move { pay_counting(&till, wallets, shop, &stop, &counter).await })
    };
    // Each phase lasts `phase` and until a payment was confirmed in it.
    let mut phase_with_a_payment = async || {
        let before = *counted.borrow_and_update();
        tokio::time::sleep(phase).await;
        confirmations(&mut counted, before + 1).await
    };
    let phases = async {
        let started = Instant::now();
        phase_with_a_payment().await?;
        // Answers already on their way when the signal lands count as before
        // the kill: the clock starts once the process is gone.
        let sent_kill_at = Instant::now();
        cluster.kill(first);
        let killed_at = Instant::now();
        say(&format!("kill -9 node {} (the leader)", first + 1));
        let second = cluster.leader(SETTLE_HANG_GUARD).await?;
        say(&format!("node {} elected after {} ms; payments go on", second + 1, killed_at.elapsed().as_millis()));
        phase_with_a_payment().await?;
        cluster.start_replica(first)?;
        say(&format!("node {} restarted; it catches up as a follower", first + 1));
        phase_with_a_payment().await?;
        let back_at = Instant::now();
        phase_with_a_payment().await?;
        Ok::<_, String>((started, sent_kill_at, killed_at, second, back_at, Instant::now()))
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    // A payer's failure explains a phase that failed.
    let confirmed = payments.await.map_err(|e| format!("payments: {e}"))??;
    let (started, sent_kill_at, killed_at, second, back_at, stopped_at) = phases?;

    let last_before = confirmed.iter().filter(|c| c.at < killed_at).map(|c| c.at).max();
    let started_killing = sent_kill_at;
    let first_after = confirmed.iter().filter(|c| c.at >= killed_at).map(|c| c.at).min();
    let (Some(last_before), Some(first_after)) = (last_before, first_after) else {
        return Err("no payment confirmed before or after the kill".to_owned());
    };

    let tip = check_replicas(&cluster, &confirmed, WALLET_FUNDS_MINOR * terminals as u64).await?;
    let report = ClusterDemoReport {
        confirmed: confirmed.len(),
        rate_before_kill: rate(&confirmed, started, started_killing),
        rate_after_restart: rate(&confirmed, back_at, stopped_at),
        killed: first as u64 + 1,
        new_leader: second as u64 + 1,
        failover: first_after.duration_since(last_before),
        kill_to_first_confirmation: first_after.duration_since(killed_at),
        receipts_checked: confirmed.len() * cluster.len(),
        tip_height: tip.height,
    };
    say(&format!(
        "{} payments confirmed; fail-over {} ms (last confirmation before the kill to the first after); every \
         receipt found on all {} replicas at its sequence and block ({} checks), tips equal at height {}, audits \
         clean, supply adds up",
        report.confirmed,
        report.failover.as_millis(),
        cluster.len(),
        report.receipts_checked,
        report.tip_height
    ));
    say(&format!(
        "rate: {:.0}/s before the kill, {:.0}/s with all three back",
        report.rate_before_kill, report.rate_after_restart
    ));
    Ok(report)
}
