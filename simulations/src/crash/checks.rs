//! The checks after a restart, in the order that keeps each one honest:
//! receipts first (before anything resubmitted could put a lost payment back),
//! then the audit of the chain as recovered, then the payments the kill left
//! in doubt, the wallets' coins, and last the bank's stream to the new tip.

use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::{self, Client};
use settled::follow::{Cursor, Event, Follower};
use settled::{Address, OutPoint, Output, TxId, TxKind, proto};
use tonic_types::StatusExt;

use super::programme::{self, ClawbackFinished, Clawed, Programme};
use super::redeemer::Redemption;
use super::setup::describe;
use super::{
    CHECKS_IN_FLIGHT_MAX, Check, FOLLOW_TIMEOUT, Given, InDoubt, RECHECK_RECEIPTS_MAX, RESOLVE_ATTEMPTS_MAX, Supply,
    UNSPENT_PAGES_MAX, Violation, Wallet, World,
};
use crate::hex;

/// Receipts named in a violation's message; the rest are counted.
const SHOWN_MAX: usize = 5;
/// Wait before resubmitting a payment refused as overloaded.
const RETRY_DELAY: Duration = Duration::from_millis(settled::limits::OVERLOAD_RETRY_AFTER_MS as u64);

/// What the round left at the kill: the receipts given since the last
/// restart, the minter's and the redeemer's transaction in doubt, the
/// programme to claw back, and the supply the harness has issued and burned
/// so far (the in-doubt transactions not counted). (The wallets hold their
/// own payments in doubt.)
pub struct Left {
    pub given: Vec<Given>,
    pub mint_in_doubt: Option<settled::Transaction>,
    pub redeem_in_doubt: Option<Redemption>,
    pub clawback: Option<(Programme, Clawed)>,
    pub supply: Supply,
}

/// What the checks after one restart found.
pub struct Checked {
    /// The bank's cursor at the new tip.
    pub cursor: Cursor,
    /// Receipts of the resolved transactions and of the clawback, checked
    /// after the next restart.
    pub resolved_receipts: Vec<Given>,
    /// Receipts found in the ledger as given.
    pub receipts: u64,
    /// The wallets' payments in doubt, resolved.
    pub payments: InDoubt,
    pub mints: InDoubt,
    pub redeems: InDoubt,
    /// The programme clawed back, when there was one: whether it was found
    /// complete, and what the clawback moved.
    pub clawback: Option<ClawbackFinished>,
    /// The supply with the in-doubt transactions resolved, as the ledger
    /// holds it.
    pub supply: Supply,
    pub checkpoints: u64,
    pub audit_blocks: u64,
    pub audit_transactions: u64,
}

/// Runs the checks, and keeps a uniform sample of every receipt checked to
/// check again after each later restart.
pub struct Checker {
    older: Vec<Given>,
    seen: u64,
    rng: StdRng,
}

impl Checker {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { older: Vec::new(), seen: 0, rng: StdRng::seed_from_u64(seed ^ 0x5eed_c4ec) }
    }

    /// Checks (a) to (d) on a freshly restarted server.
    ///
    /// # Errors
    /// The first violated check.
    pub async fn after_restart(
        &mut self,
        admin: &mut Client,
        bank: Client,
        world: &World,
        wallets: &mut [Wallet],
        cursor: Cursor,
        left: Left,
    ) -> Result<Checked, Violation> {
        let Left { given, mint_in_doubt, redeem_in_doubt, clawback, mut supply } = left;
        let mut receipts = self.receipts(admin, &given).await?;
        receipts += self.receipts(admin, &self.older).await?;
        self.keep(&given);
        let audit = audit(admin, world).await?;
        let mut resolved = resolve(admin, world, wallets).await?;
        let mut mints = InDoubt::default();
        if let Some(mint) = &mint_in_doubt {
            let (receipt, found) = resolve_one(admin, world, mint, "mint").await?;
            resolved.given.push(receipt);
            mints.count(found);
            supply.minted_minor += mint.outputs.iter().map(|o| o.amount_minor).sum::<u64>();
        }
        let mut redeems = InDoubt::default();
        if let Some(redemption) = &redeem_in_doubt {
            let (receipt, found) = resolve_one(admin, world, &redemption.tx, "redemption").await?;
            resolved.given.push(receipt);
            redeems.count(found);
            supply.burned_minor += redemption.burned_minor;
        }
        let clawback = match &clawback {
            Some((programme, clawed)) => {
                let finished = programme::finish(admin, world, programme, *clawed).await?;
                resolved.given.extend(finished.receipts.iter().copied());
                Some(finished)
            }
            None => None,
        };
        check_supply(admin, supply).await?;
        sync_wallets(admin, wallets).await?;
        let (cursor, checkpoints) = follow_to_tip(admin, bank, cursor).await?;
        Ok(Checked {
            cursor,
            resolved_receipts: resolved.given,
            receipts,
            payments: resolved.payments,
            mints,
            redeems,
            clawback,
            supply,
            checkpoints,
            audit_blocks: audit.blocks,
            audit_transactions: audit.transactions,
        })
    }

    /// (a) Every receipt in `given` is in the ledger: same txid, sequence,
    /// block height and block hash. Returns how many were checked.
    ///
    /// # Errors
    /// The receipts the ledger does not hold as given (the first few named).
    pub async fn receipts(&self, admin: &Client, given: &[Given]) -> Result<u64, Violation> {
        let lookups = given.iter().map(|g| {
            let mut admin = admin.clone();
            let g = *g;
            async move {
                let request = proto::GetPaymentRequest { txid: g.txid.0.to_vec() };
                (g, admin.payments.get_payment(request).await.map(tonic::Response::into_inner))
            }
        });
        let mut answers = futures::stream::iter(lookups).buffer_unordered(CHECKS_IN_FLIGHT_MAX);
        let mut wrong: Vec<String> = Vec::new();
        let mut wrong_n = 0usize;
        let mut checked = 0u64;
        while let Some((g, answer)) = answers.next().await {
            checked += 1;
            let Some(problem) = receipt_problem(&g, answer) else { continue };
            wrong_n += 1;
            if wrong.len() < SHOWN_MAX {
                wrong.push(problem);
            }
        }
        if wrong_n > 0 {
            return Err(Violation::new(
                Check::Receipts,
                format!(
                    "{wrong_n} of {} receipts given are not in the ledger as given after the restart: {}",
                    given.len(),
                    wrong.join("; ")
                ),
            ));
        }
        Ok(checked)
    }

    /// Keeps each receipt with the probability that leaves `older` a uniform
    /// sample of all of them (reservoir sampling).
    fn keep(&mut self, given: &[Given]) {
        for g in given {
            self.seen += 1;
            if self.older.len() < RECHECK_RECEIPTS_MAX {
                self.older.push(*g);
            } else {
                let slot = self.rng.gen_range(0..self.seen);
                if let Some(kept) = usize::try_from(slot).ok().and_then(|s| self.older.get_mut(s)) {
                    *kept = *g;
                }
            }
        }
    }
}

/// What is wrong with a receipt given, as the ledger answers for its txid.
fn receipt_problem(g: &Given, answer: Result<proto::GetPaymentResponse, tonic::Status>) -> Option<String> {
    let given = format!("{} (sequence {}, block {} {})", g.txid, g.sequence, g.height, hex(&g.block_hash));
    let response = match answer {
        Ok(response) => response,
        Err(status) => return Some(format!("{given}: GetPayment failed: {}", describe(&status))),
    };
    if response.status != proto::PaymentStatus::Confirmed as i32 {
        return Some(format!("{given} is unknown to the ledger"));
    }
    let Some(receipt) = response.receipt.as_ref() else {
        return Some(format!("{given}: confirmed without a receipt"));
    };
    let receipt = match client::receipt_from_proto(receipt) {
        Ok(receipt) => receipt,
        Err(e) => return Some(format!("{given}: the ledger's receipt does not decode: {e}")),
    };
    let now = Given::from_receipt(&receipt);
    (now != *g)
        .then(|| format!("{given} is now sequence {}, block {} {}", now.sequence, now.height, hex(&now.block_hash)))
}

/// The audit's totals.
pub struct Audited {
    pub blocks: u64,
    pub transactions: u64,
}

/// (b) The chain audit passes, and the unspent set counted from storage, the
/// tip's totals and the audit agree; the engine key is the one of setup.
///
/// # Errors
/// The audit's failures, or the first disagreement.
pub async fn audit(admin: &mut Client, world: &World) -> Result<Audited, Violation> {
    let failed = |what: String| Violation::new(Check::Audit, what);
    let report = admin
        .ledger
        .audit(proto::AuditRequest {})
        .await
        .map_err(|s| failed(format!("Audit: {}", describe(&s))))?
        .into_inner();
    if !report.failures.is_empty() {
        return Err(failed(format!("{} failures: {}", report.failures.len(), report.failures.join("; "))));
    }
    if report.minted_minor.checked_sub(report.burned_minor) != Some(report.unspent_minor) {
        return Err(failed(format!(
            "minted {} - burned {} != unspent {}",
            report.minted_minor, report.burned_minor, report.unspent_minor
        )));
    }
    let info = admin.info(true).await.map_err(|s| failed(format!("GetInfo: {}", describe(&s))))?;
    if info.engine_public_key.as_slice() != world.engine_key.0 {
        return Err(Violation::new(Check::Server, "the engine key changed across the restart"));
    }
    if info.chain_id.as_slice() != world.chain.0 {
        return Err(Violation::new(Check::Server, "the chain id changed across the restart"));
    }
    let tip = info.tip.as_ref().ok_or_else(|| failed("GetInfo without a tip".into()))?;
    let counted = (info.unspent_total_minor, info.unspent_count, tip.height + 1, tip.minted_total_minor);
    let audited = (report.unspent_minor, report.unspent_count, report.blocks, report.minted_minor);
    if counted != audited {
        return Err(failed(format!(
            "the ledger counts (unspent minor, unspent outputs, blocks, minted minor) {counted:?}, the audit {audited:?}"
        )));
    }
    Ok(Audited { blocks: report.blocks, transactions: report.transactions })
}

/// The wallets' payments in doubt, resolved.
#[derive(Default)]
pub struct Resolved {
    pub given: Vec<Given>,
    /// `at_kill` left for the caller, who counted them at the kill.
    pub payments: InDoubt,
}

enum Resubmitted {
    Confirmed {
        receipt: settled::Receipt,
        duplicate: bool,
    },
    /// Refused as spent by `spent_by` (`None` when the refusal does not
    /// say); for a mint, its reference as used by `spent_by`.
    Spent {
        spent_by: Option<TxId>,
        message: String,
    },
    Refused(String),
}

/// (c) Resolves each payment the kill left in doubt ([`resolve_one`]), and
/// moves its wallet on to the payment's change.
///
/// # Errors
/// The first payment whose resolution is a violation.
pub async fn resolve(admin: &Client, world: &World, wallets: &mut [Wallet]) -> Result<Resolved, Violation> {
    let doubtful: Vec<(usize, settled::Transaction)> =
        wallets.iter().enumerate().filter_map(|(i, w)| w.pending.clone().map(|tx| (i, tx))).collect();
    let resolutions = doubtful.into_iter().map(|(i, tx)| async move {
        let what = format!("wallet {i}'s payment");
        let answer = resolve_one(admin, world, &tx, &what).await;
        (i, tx, answer)
    });
    let mut answers = futures::stream::iter(resolutions).buffer_unordered(CHECKS_IN_FLIGHT_MAX);
    let mut resolved = Resolved::default();
    while let Some((i, tx, answer)) = answers.next().await {
        let (given, found) = answer?;
        resolved.payments.count(found);
        resolved.given.push(given);
        let wallet = &mut wallets[i];
        wallet.coin = Some(client::output_of(&tx, 1));
        wallet.pending = None;
    }
    Ok(resolved)
}

/// (c) Resolves one transaction whose answer the kill cut off: looked up by
/// its txid, it is in the ledger (committed before the kill, the answer
/// lost: `true`), or it is not and its resubmission is confirmed as new
/// (`false`). Its receipt must verify either way. A resubmission refused
/// as spending an input another transaction spent (or, for a mint, reusing
/// another mint's reference) would mean the harness's coin spent twice; a
/// resubmission answered as a duplicate of what the ledger did not hold, a
/// ledger that changes its mind.
///
/// # Errors
/// Any other outcome.
pub async fn resolve_one(
    admin: &Client,
    world: &World,
    tx: &settled::Transaction,
    what: &str,
) -> Result<(Given, bool), Violation> {
    let txid = settled::txid(tx);
    let (receipt, found) = match lookup(admin, txid).await? {
        Some(receipt) => (receipt, true),
        None => match resubmit(&mut admin.clone(), tx).await {
            Resubmitted::Confirmed { receipt, duplicate: false } => (receipt, false),
            Resubmitted::Confirmed { duplicate: true, .. } => {
                return Err(Violation::new(
                    Check::Receipts,
                    format!("{what} {txid}: unknown to the ledger, yet its resubmission was answered as a duplicate"),
                ));
            }
            Resubmitted::Spent { spent_by, message } => {
                let by = spent_by.map_or_else(|| "a transaction it does not name".to_owned(), |t| t.to_string());
                return Err(Violation::new(
                    Check::DoubleSpend,
                    format!(
                        "{what} {txid}, cut off by the kill and unknown to the ledger after the restart, is the \
                         only transaction the harness signed that spends {} (or uses its reference), yet the \
                         ledger says {by} did: {message}",
                        tx.inputs.first().map_or_else(|| "nothing".to_owned(), ToString::to_string)
                    ),
                ));
            }
            Resubmitted::Refused(why) => {
                return Err(Violation::new(
                    Check::Wallets,
                    format!("{what} {txid}, cut off by the kill, was refused on resubmission: {why}"),
                ));
            }
        },
    };
    if receipt.txid != txid || receipt.verify(&world.engine_key, &world.chain).is_err() {
        return Err(Violation::new(Check::Receipts, format!("the receipt for {what} {txid} does not verify")));
    }
    Ok((Given::from_receipt(&receipt), found))
}

/// Submits `tx` again, through the service of its kind, waiting out
/// overload refusals.
async fn resubmit(admin: &mut Client, tx: &settled::Transaction) -> Resubmitted {
    for _ in 0..RESOLVE_ATTEMPTS_MAX {
        let answer = if tx.kind == TxKind::Mint { admin.mint(tx).await } else { admin.submit(tx).await };
        match answer {
            Ok((receipt, duplicate)) => return Resubmitted::Confirmed { receipt, duplicate },
            Err(status) => match client::status_reason(&status) {
                Some(proto::Reason::Overloaded) => tokio::time::sleep(RETRY_DELAY).await,
                Some(proto::Reason::InputSpent | proto::Reason::ReferenceReused) => {
                    return Resubmitted::Spent { spent_by: spent_by(&status), message: status.message().to_owned() };
                }
                _ => return Resubmitted::Refused(describe(&status)),
            },
        }
    }
    Resubmitted::Refused(format!("overloaded {RESOLVE_ATTEMPTS_MAX} times"))
}

/// The transaction a refusal names as having spent the input (or used the
/// mint reference) first.
fn spent_by(status: &tonic::Status) -> Option<TxId> {
    let info = status.get_details_error_info()?;
    info.metadata.get("spent_by_txid").and_then(|t| TxId::from_hex(t).ok())
}

/// The ledger's receipt for `txid`, `None` when the ledger does not hold it.
///
/// # Errors
/// `GetPayment` failing, or a receipt that does not decode.
pub async fn lookup(admin: &Client, txid: TxId) -> Result<Option<settled::Receipt>, Violation> {
    let mut admin = admin.clone();
    let failed = |what: String| Violation::new(Check::Receipts, format!("{txid}: {what}"));
    let response = admin
        .payments
        .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
        .await
        .map_err(|s| failed(format!("GetPayment: {}", describe(&s))))?
        .into_inner();
    if response.status != proto::PaymentStatus::Confirmed as i32 {
        return Ok(None);
    }
    let receipt = response.receipt.ok_or_else(|| failed("confirmed without a receipt".into()))?;
    client::receipt_from_proto(&receipt).map(Some).map_err(failed)
}

/// (b) The supply, once every transaction in doubt is resolved, is what the
/// harness issued and burned: the tip's minted and burned totals are the
/// sums of its own mints and redemptions (counted from what it signed, not
/// from the ledger's accounting), and the unspent outputs counted from
/// storage add up to the difference.
///
/// # Errors
/// The first total that differs.
pub async fn check_supply(admin: &mut Client, expected: Supply) -> Result<(), Violation> {
    let failed = |what: String| Violation::new(Check::Supply, what);
    let info = admin.info(true).await.map_err(|s| failed(format!("GetInfo: {}", describe(&s))))?;
    let tip = info.tip.as_ref().ok_or_else(|| failed("GetInfo without a tip".into()))?;
    let ledger = Supply { minted_minor: tip.minted_total_minor, burned_minor: tip.burned_total_minor };
    if ledger != expected {
        return Err(failed(format!(
            "block {}: the ledger's totals are minted {} and burned {}, the harness's mints and redemptions add \
             up to minted {} and burned {}",
            tip.height, ledger.minted_minor, ledger.burned_minor, expected.minted_minor, expected.burned_minor
        )));
    }
    let supply = expected.minted_minor - expected.burned_minor;
    if info.unspent_total_minor != supply {
        return Err(failed(format!(
            "block {}: the unspent outputs counted from storage add up to {}, not minted - burned = {supply}",
            tip.height, info.unspent_total_minor
        )));
    }
    Ok(())
}

/// (c) Every wallet's coin is unspent (nothing else spent it, no confirmed
/// payment that made it was lost), and the wallet continues from what the
/// ledger says it holds: its largest unspent output.
///
/// # Errors
/// A coin that is not unspent, or `ListUnspent` failing.
pub async fn sync_wallets(admin: &Client, wallets: &mut [Wallet]) -> Result<(), Violation> {
    let addresses: Vec<Address> = wallets.iter().map(|w| w.key.address()).collect();
    let listings = addresses.into_iter().enumerate().map(|(i, address)| {
        let mut admin = admin.clone();
        async move { (i, list_unspent(&mut admin, address).await) }
    });
    let mut listed = futures::stream::iter(listings).buffer_unordered(CHECKS_IN_FLIGHT_MAX);
    while let Some((i, unspent)) = listed.next().await {
        let wallet = &mut wallets[i];
        let unspent = unspent.map_err(|e| Violation::new(Check::Wallets, format!("wallet {}: {e}", wallet.id)))?;
        if let Some((coin, output)) = wallet.coin
            && !unspent.contains(&(coin, output))
        {
            return Err(Violation::new(
                Check::Wallets,
                format!(
                    "wallet {} ({}): its coin {coin} of {} minor, the change of its last confirmed payment or a \
                     funding mint, is not unspent after the restart (the ledger lists {} outputs for it)",
                    wallet.id,
                    wallet.key.address(),
                    output.amount_minor,
                    unspent.len()
                ),
            ));
        }
        wallet.coin = unspent.iter().filter(|(_, o)| o.programme == 0).max_by_key(|(_, o)| o.amount_minor).copied();
    }
    Ok(())
}

/// Every unspent output `address` holds, page after page.
///
/// # Errors
/// `ListUnspent` failing or answering something malformed, or too many pages.
pub async fn list_unspent(admin: &mut Client, address: Address) -> Result<Vec<(OutPoint, Output)>, String> {
    let mut outputs = Vec::new();
    let mut page_token = String::new();
    for _ in 0..UNSPENT_PAGES_MAX {
        let (page, next) = read_page(admin, address, 0, page_token).await?;
        outputs.extend(page);
        if next.is_empty() {
            return Ok(outputs);
        }
        page_token = next;
    }
    Err(format!("more than {UNSPENT_PAGES_MAX} pages of unspent outputs"))
}

/// The first `page_size` unspent outputs `address` holds.
///
/// # Errors
/// As [`list_unspent`].
pub async fn unspent_page(
    admin: &mut Client,
    address: Address,
    page_size: usize,
) -> Result<Vec<(OutPoint, Output)>, String> {
    let page_size = u32::try_from(page_size).map_err(|_| format!("a page of {page_size}"))?;
    read_page(admin, address, page_size, String::new()).await.map(|(page, _)| page)
}

async fn read_page(
    admin: &mut Client,
    address: Address,
    page_size: u32,
    page_token: String,
) -> Result<(Vec<(OutPoint, Output)>, String), String> {
    let request = proto::ListUnspentRequest { address: address.0.to_vec(), page_size, page_token };
    let page =
        admin.wallets.list_unspent(request).await.map_err(|s| format!("ListUnspent: {}", describe(&s)))?.into_inner();
    let mut outputs = Vec::with_capacity(page.outputs.len());
    for unspent in page.outputs {
        let outpoint =
            unspent.outpoint.as_ref().and_then(|o| Some(OutPoint { txid: TxId::from_slice(&o.txid)?, index: o.index }));
        let output = unspent.output.as_ref().and_then(|o| {
            Some(Output {
                owner: Address::from_slice(&o.address)?,
                amount_minor: o.amount_minor,
                programme: o.programme_id,
            })
        });
        match (outpoint, output) {
            (Some(outpoint), Some(output)) => outputs.push((outpoint, output)),
            _ => return Err("ListUnspent returned a malformed output".into()),
        }
    }
    Ok((outputs, page.next_page_token))
}

/// (d) The bank's follower, resumed from the cursor it had at the kill,
/// verifies every checkpoint to the tip: the engine's signature, the hash
/// chain from the last header it saw, and its own running totals against the
/// ledger's. A gap or a duplicate across the restart fails one of them.
///
/// # Errors
/// A checkpoint that does not check out, or a stream that fails or stalls.
pub async fn follow_to_tip(admin: &mut Client, bank: Client, cursor: Cursor) -> Result<(Cursor, u64), Violation> {
    let failed = |what: String| Violation::new(Check::BankStream, what);
    let info = admin.info(false).await.map_err(|s| failed(format!("GetInfo: {}", describe(&s))))?;
    let tip = info.tip.map(|t| t.height).ok_or_else(|| failed("GetInfo without a tip".into()))?;
    let resumed_at = (cursor.after_sequence, cursor.after_height);
    let mut follower = Follower::new(bank, cursor, None).await.map_err(|e| failed(e.to_string()))?;
    let mut checkpoints = 0u64;
    let followed = tokio::time::timeout(
        FOLLOW_TIMEOUT,
        follower.run(Some(tip), |event| {
            if let Event::Checkpoint { .. } = event {
                checkpoints += 1;
            }
        }),
    )
    .await;
    match followed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(failed(format!(
                "resumed after sequence {} and block {:?}, to block {tip}: {e}",
                resumed_at.0, resumed_at.1
            )));
        }
        Err(_) => return Err(failed(format!("did not reach block {tip} within {FOLLOW_TIMEOUT:?}"))),
    }
    if follower.cursor.after_height != Some(tip) {
        return Err(failed(format!("stopped at block {:?}, not the tip {tip}", follower.cursor.after_height)));
    }
    Ok((follower.cursor, checkpoints))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::setup;
    use crate::load::Target;

    /// A server in this process with two funded wallets of a registered bank.
    struct Fixture {
        _dir: tempfile::TempDir,
        server: settled::Server,
        admin: Client,
        world: World,
        wallets: Vec<Wallet>,
        /// What the fixture minted and burned.
        supply: Supply,
    }

    impl Fixture {
        async fn new() -> Self {
            let dir = tempfile::tempdir().expect("temporary dir");
            let data_dir = dir.path().join("ledger");
            let config = settled::Config::for_data_dir(data_dir.clone());
            let server = settled::Server::start(config).await.expect("server starts");
            let token = std::fs::read_to_string(data_dir.join(settled::config::DEV_TOKEN_FILE)).expect("token");
            let keys: Vec<_> = (1..=3).map(|i| data_dir.join(format!("issuer-{i}.key"))).collect();
            let issuers = Target::read_issuer_keys(&keys).expect("issuer keys");
            let target = Target { url: server.url(), replicas: Vec::new(), token, issuers, pid: None };
            let mut admin = Client::connect_with_token(&target.url, &target.token).await.expect("connects");
            let (world, mut wallets) = setup::create(&mut admin, &target, 2).await.expect("setup");
            let (_, funded_minor) = setup::refill(&mut admin, &world, &mut wallets, 1).await.expect("funding");
            let supply = Supply { minted_minor: world.supply.minted_minor + funded_minor, ..world.supply };
            Self { _dir: dir, server, admin, world, wallets, supply }
        }

        /// A payment from wallet `w`'s coin to the first merchant.
        fn payment(&self, w: usize, amount_minor: u64) -> settled::Transaction {
            let wallet = &self.wallets[w];
            let coin = wallet.coin.expect("a funded wallet");
            client::pay(&self.world.chain, &wallet.key, coin, self.world.merchants[0], amount_minor, b"test")
        }

        async fn confirm(&mut self, tx: &settled::Transaction) -> Given {
            let (receipt, _) = self.admin.submit(tx).await.expect("confirmed");
            Given::from_receipt(&receipt)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receipt_the_ledger_does_not_hold_as_given_is_a_receipts_violation() {
        let mut f = Fixture::new().await;
        let tx = f.payment(0, 5);
        let given = f.confirm(&tx).await;
        let checker = Checker::new(1);
        assert_eq!(checker.receipts(&f.admin, &[given]).await.expect("held as given"), 1);

        let moved = Given { sequence: given.sequence + 1, ..given };
        let unknown = Given { txid: TxId([7; 32]), ..given };
        for wrong in [moved, unknown] {
            let violation = checker.receipts(&f.admin, &[given, wrong]).await.expect_err("not as given");
            assert_eq!(violation.check, Check::Receipts);
            assert!(violation.detail.starts_with("1 of 2 receipts"), "{}", violation.detail);
            assert!(violation.detail.contains(&wrong.txid.to_string()), "{}", violation.detail);
        }
        f.server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_in_doubt_resolves_as_committed_when_the_ledger_has_it_and_fresh_when_not() {
        let mut f = Fixture::new().await;
        let committed = f.payment(0, 5);
        f.confirm(&committed).await;
        let never_sent = f.payment(1, 7);
        f.wallets[0].pending = Some(committed.clone());
        f.wallets[1].pending = Some(never_sent.clone());

        let resolved = resolve(&f.admin, &f.world, &mut f.wallets).await.expect("no double spend");
        assert_eq!(
            (resolved.payments.found_committed, resolved.payments.resubmitted_fresh, resolved.given.len()),
            (1, 1, 2)
        );
        assert_eq!(f.wallets[0].coin, Some(client::output_of(&committed, 1)));
        assert_eq!(f.wallets[1].coin, Some(client::output_of(&never_sent, 1)));
        assert!(f.wallets.iter().all(|w| w.pending.is_none()));
        sync_wallets(&f.admin, &mut f.wallets).await.expect("both coins are unspent");
        f.server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_coin_in_doubt_spent_by_another_transaction_is_a_double_spend_naming_it() {
        let mut f = Fixture::new().await;
        let other = f.payment(0, 5);
        f.confirm(&other).await;
        f.wallets[0].pending = Some(f.payment(0, 6));

        let Err(violation) = resolve(&f.admin, &f.world, &mut f.wallets).await else {
            panic!("a second spend of the same coin was not flagged");
        };
        assert_eq!(violation.check, Check::DoubleSpend);
        assert!(violation.detail.contains(&settled::txid(&other).to_string()), "{}", violation.detail);
        f.server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_coin_that_is_no_longer_unspent_fails_the_wallet_check() {
        let mut f = Fixture::new().await;
        let behind_the_back = f.payment(1, 5);
        f.confirm(&behind_the_back).await;

        let violation = sync_wallets(&f.admin, &mut f.wallets).await.expect_err("the coin is spent");
        assert_eq!(violation.check, Check::Wallets);
        assert!(violation.detail.starts_with("wallet 1 "), "{}", violation.detail);
        f.server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_bank_follower_resumes_from_its_cursor_to_the_tip_and_a_tampered_cursor_fails() {
        let mut f = Fixture::new().await;
        let (token, url) = (f.world.bank_token.clone(), f.server.url());
        let bank = || {
            let (token, url) = (token.clone(), url.clone());
            async move { Client::connect(&url).await.expect("connects").with_credential(client::Credential::token(&token)) }
        };
        let (cursor, checkpoints) =
            follow_to_tip(&mut f.admin, bank().await, Cursor::new(&f.world.bank_id)).await.expect("from genesis");
        assert!(checkpoints > 0 && cursor.movements > 0, "{cursor:?}");
        let tx = f.payment(0, 5);
        f.confirm(&tx).await;
        let (resumed, more) = follow_to_tip(&mut f.admin, bank().await, cursor.clone()).await.expect("resumed");
        assert_eq!(resumed.movements, cursor.movements + 1, "one more movement, no duplicate");
        assert!(more >= 1);

        let tampered = Cursor { credits_minor: cursor.credits_minor + 1, ..cursor };
        let violation = follow_to_tip(&mut f.admin, bank().await, tampered).await.expect_err("totals differ");
        assert_eq!(violation.check, Check::BankStream);
        f.server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redemption_in_doubt_is_found_committed_or_resubmitted_and_the_supply_is_checked_against_its_burn() {
        let mut f = Fixture::new().await;
        check_supply(&mut f.admin, f.supply).await.expect("the ledger holds what the fixture minted");
        let payment = f.payment(0, 15);
        f.confirm(&payment).await;
        let shop = f.world.merchant_keys[0].clone();
        let takings = [client::output_of(&payment, 0)];
        let committed = client::redeem(&f.world.chain, &shop, &takings, 5, b"r");
        f.confirm(&committed).await;
        let (_, found) = resolve_one(&f.admin, &f.world, &committed, "redemption").await.expect("committed");
        assert!(found, "looked up, not resubmitted");
        let burned = Supply { burned_minor: f.supply.burned_minor + 10, ..f.supply };
        check_supply(&mut f.admin, burned).await.expect("10 burned");

        // Counted as burned twice (or not at all): a supply violation.
        for wrong in [burned.burned_minor + 10, f.supply.burned_minor] {
            let violation = check_supply(&mut f.admin, Supply { burned_minor: wrong, ..burned })
                .await
                .expect_err("the burned total differs");
            assert_eq!(violation.check, Check::Supply, "{}", violation.detail);
        }

        // Never sent: resubmitted, confirmed as new.
        let change = [client::output_of(&committed, 0)];
        let fresh = client::redeem(&f.world.chain, &shop, &change, 0, b"r2");
        let (_, found) = resolve_one(&f.admin, &f.world, &fresh, "redemption").await.expect("confirmed now");
        assert!(!found, "resubmitted");
        check_supply(&mut f.admin, Supply { burned_minor: burned.burned_minor + 5, ..burned }).await.expect("all 15");
        f.server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clawback_is_finished_once_and_a_confirmed_one_missing_after_the_restart_is_a_violation() {
        let mut f = Fixture::new().await;
        let (programme, _) = programme::create(&mut f.admin, &f.world, &f.wallets, 1).await.expect("disbursed");
        assert_eq!(programme.earmarked_minor, 2 * programme::EARMARK_MINOR, "both wallets");

        let violation = programme::finish(&mut f.admin, &f.world, &programme, Clawed::Confirmed)
            .await
            .expect_err("nothing was clawed back yet");
        assert_eq!(violation.check, Check::Clawback, "{}", violation.detail);

        let finished = programme::finish(&mut f.admin, &f.world, &programme, Clawed::NotStarted)
            .await
            .expect("clawed back after its end");
        assert!(!finished.found_complete);
        assert_eq!((finished.clawed_back_minor, finished.receipts.len()), (programme.earmarked_minor, 1));
        let again =
            programme::finish(&mut f.admin, &f.world, &programme, Clawed::Confirmed).await.expect("complete, once");
        assert!(again.found_complete);
        assert_eq!(again.receipts, finished.receipts, "the same clawback, nothing moved twice");
        f.server.shutdown().await;
    }
}
