//! A welfare programme per round, and its clawback under the kills. Every
//! round but the last creates a programme that ends `VALIDITY` after its
//! creation, and disburses `EARMARK_MINOR` of it to each of up to
//! `TX_OUTPUTS_MAX` wallets, which never spend it. In the next round a clawer
//! waits for its end and claws it back through `AdminService.Clawback`
//! while the payments go on. It calls when the payments reach a seeded count
//! at most `CLAW_LEAD_PAYMENTS_MAX` short of the one the kill waits for, so
//! that the kill lands before, during or after the clawback's commit. After every restart the checks
//! finish the clawback (the call is idempotent) and require the whole of
//! what was disbursed in the treasury, moved once, by clawbacks whose
//! receipts are in the ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use settled::client::{self, ClawbackTerms, Client};
use settled::limits::TX_OUTPUTS_MAX;
use settled::{Address, Keypair, proto};
use tokio::sync::watch;

use super::checks::{list_unspent, lookup};
use super::setup::describe;
use super::{Check, CrashError, Given, RESOLVE_ATTEMPTS_MAX, Violation, Wallet, World};

/// How long a round's programme runs: long enough for its disbursement to be
/// confirmed before it ends, short enough to have ended when the next round
/// claws it back. A disbursement refused because the programme ended first
/// (a slow machine) is tried again on a new programme running twice as long.
pub const VALIDITY: Duration = Duration::from_millis(300);
/// Programmes a round creates at most to get its disbursement confirmed.
pub const ATTEMPTS_MAX: u32 = 8;
/// The clawer calls at most this many confirmed payments before the kill's
/// count (a few blocks; a clawback of one batch takes one or two).
pub const CLAW_LEAD_PAYMENTS_MAX: u64 = 24;
/// What each beneficiary is disbursed: 100.00.
pub const EARMARK_MINOR: u64 = 10_000;
/// `AdminService.Clawback` calls for one programme at most (each goes on
/// where the one before stopped).
const CALLS_MAX: usize = 16;
/// Wait before calling again when the engine's clock has not reached the
/// programme's end yet, or the call was refused as overloaded.
const RETRY_DELAY: Duration = Duration::from_millis(settled::limits::OVERLOAD_RETRY_AFTER_MS as u64);

/// A round's programme, as disbursed.
#[derive(Clone, Debug)]
pub struct Programme {
    pub id: u32,
    pub treasury: Address,
    pub valid_until_ms: u64,
    /// Disbursed into it, all of it still held by the beneficiaries until
    /// the clawback.
    pub earmarked_minor: u64,
}

/// How far the round's clawer got before the kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clawed {
    /// It had not called yet (the programme had not ended).
    NotStarted,
    /// It had called, and the kill cut the call off.
    InDoubt,
    /// The call answered: everything clawed back.
    Confirmed,
}

/// A clawback finished after a restart.
#[derive(Clone, Debug)]
pub struct ClawbackFinished {
    pub clawed: Clawed,
    /// Found complete in the ledger after the restart, before any call.
    pub found_complete: bool,
    pub clawed_back_minor: u64,
    /// Receipts of the clawback transactions, to be checked again.
    pub receipts: Vec<Given>,
}

/// Creates round `round`'s programme and disburses it to the first
/// `TX_OUTPUTS_MAX` wallets in one mint; the programme and the mint's
/// receipt.
///
/// # Errors
/// A refused registration or mint, or a disbursement that never beat the
/// programme's end.
pub async fn create(
    admin: &mut Client,
    world: &World,
    wallets: &[Wallet],
    round: u64,
) -> Result<(Programme, Given), CrashError> {
    let beneficiaries: Vec<Address> = wallets.iter().take(TX_OUTPUTS_MAX).map(Wallet::address).collect();
    let signers: Vec<&Keypair> = world.signers.iter().collect();
    let round_base = u32::try_from(round)
        .ok()
        .and_then(|r| r.checked_mul(ATTEMPTS_MAX))
        .and_then(|r| r.checked_add(world.programme_base))
        .ok_or_else(|| CrashError::Setup(format!("no programme id left for round {round}")))?;
    let mut validity = VALIDITY;
    for attempt in 0..ATTEMPTS_MAX {
        let id = round_base + attempt;
        let treasury = Keypair::generate().address();
        let now_ms = settled::now_unix_ms();
        let valid_until_ms = now_ms + u64::try_from(validity.as_millis()).unwrap_or(u64::MAX / 2);
        let registration = proto::Programme {
            id,
            name: format!("Crash round {round}"),
            allowed_mccs: vec![crate::load::MERCHANT_MCC],
            valid_from_unix_ms: now_ms,
            valid_until_unix_ms: valid_until_ms,
            transferable: false,
            treasury_address: treasury.0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 0,
        };
        admin
            .admin
            .create_programme(proto::CreateProgrammeRequest { programme: Some(registration) })
            .await
            .map_err(|s| CrashError::Setup(format!("create programme {id}: {}", describe(&s))))?;
        let outputs = beneficiaries.iter().map(|&a| client::output(a, EARMARK_MINOR, id)).collect();
        let reference = format!("crash-{}-r{round}-programme-{attempt}", world.tag);
        let mint = client::mint(&world.chain, outputs, reference.as_bytes(), &signers);
        match admin.mint(&mint).await {
            Ok((receipt, _)) => {
                let earmarked_minor = EARMARK_MINOR * beneficiaries.len() as u64;
                return Ok((
                    Programme { id, treasury, valid_until_ms, earmarked_minor },
                    Given::from_receipt(&receipt),
                ));
            }
            Err(status) if client::status_reason(&status) == Some(proto::Reason::ProgrammeExpired) => {
                validity *= 2;
            }
            Err(status) => {
                return Err(CrashError::Setup(format!("disbursing programme {id}: {}", describe(&status))));
            }
        }
    }
    Err(CrashError::Setup(format!("round {round}: {ATTEMPTS_MAX} programmes ended before their disbursement")))
}

/// Claws `programme` back: waits for its end, then calls
/// `AdminService.Clawback` until nothing is left; what this moved and the
/// total clawed back.
///
/// # Errors
/// A refusal, or a call that fails.
pub async fn claw_back(
    admin: &mut Client,
    chain: settled::ChainId,
    signers: &[Keypair],
    programme: &Programme,
) -> Result<(u64, u64), tonic::Status> {
    let terms = ClawbackTerms {
        chain,
        programme: programme.id,
        treasury: programme.treasury,
        valid_until_ms: programme.valid_until_ms,
    };
    let authorization = client::clawback_authorization(&terms, &signers.iter().collect::<Vec<_>>());
    let ends_in_ms = programme.valid_until_ms.saturating_sub(settled::now_unix_ms());
    tokio::time::sleep(Duration::from_millis(ends_in_ms)).await;
    let mut moved_minor = 0u64;
    let mut resume_after = Vec::new();
    let mut refusals = 0u32;
    let mut calls = 0usize;
    while calls < CALLS_MAX {
        let request = proto::ClawbackRequest {
            programme_id: programme.id,
            authorization: authorization.clone(),
            resume_after: resume_after.clone(),
        };
        match admin.admin.clawback(request).await {
            Ok(response) => {
                let response = response.into_inner();
                calls += 1;
                moved_minor += response.amount_minor;
                if !response.more {
                    return Ok((moved_minor, response.clawed_back_total_minor));
                }
                resume_after = response.resume_after;
            }
            // The engine's clock a hair behind the harness's, or busy.
            Err(status)
                if matches!(
                    client::status_reason(&status),
                    Some(proto::Reason::ProgrammeNotExpired | proto::Reason::Overloaded)
                ) && refusals < RESOLVE_ATTEMPTS_MAX =>
            {
                refusals += 1;
                tokio::time::sleep(RETRY_DELAY).await;
            }
            Err(status) => return Err(status),
        }
    }
    Err(tonic::Status::internal(format!("programme {}: still more to claw back after {CALLS_MAX} calls", programme.id)))
}

/// Claws the previous round's programme back during a round.
pub struct Clawer {
    pub programme: Programme,
    pub chain: settled::ChainId,
    pub signers: Vec<Keypair>,
    /// Calls once the clients have confirmed this many payments.
    pub start_after_payments: u64,
    pub confirmations: watch::Receiver<u64>,
    /// Set just before the kill: a failure seen after it is the kill's doing.
    pub killing: Arc<AtomicBool>,
    /// Set just after the kill: do not start.
    pub stop: watch::Receiver<bool>,
}

impl Clawer {
    /// How far it got, and the first violation it saw.
    pub async fn run(mut self, url: &str, token: &str) -> (Clawed, Option<Violation>) {
        let killed = || self.killing.load(Ordering::SeqCst);
        let fail = |detail: String| Some(Violation::new(Check::Server, format!("clawer: {detail}")));
        let ends_in_ms = self.programme.valid_until_ms.saturating_sub(settled::now_unix_ms());
        let due = self.start_after_payments;
        let start = async {
            tokio::time::sleep(Duration::from_millis(ends_in_ms)).await;
            let _ = self.confirmations.wait_for(|n| *n >= due).await;
        };
        tokio::select! {
            () = start => {}
            _ = self.stop.changed() => return (Clawed::NotStarted, None),
        }
        let mut admin = match Client::connect_with_token(url, token).await {
            Ok(admin) => admin,
            Err(_) if killed() => return (Clawed::NotStarted, None),
            Err(e) => return (Clawed::NotStarted, fail(format!("the server failed before the kill: {e}"))),
        };
        match claw_back(&mut admin, self.chain, &self.signers, &self.programme).await {
            Ok(_) => (Clawed::Confirmed, None),
            Err(status) => {
                let lost = matches!(client::status_reason(&status), None | Some(proto::Reason::Unavailable));
                if lost && killed() {
                    (Clawed::InDoubt, None)
                } else {
                    (Clawed::InDoubt, fail(format!("programme {}: {}", self.programme.id, describe(&status))))
                }
            }
        }
    }
}

/// (e) After a restart: a clawback confirmed before the kill is complete in
/// the ledger; the clawback is finished (moving what is left, nothing
/// twice); the programme's statistics show everything disbursed clawed back
/// and nothing outstanding; the treasury holds exactly that, as
/// unrestricted money, in outputs of clawbacks whose receipts verify.
///
/// # Errors
/// The first of those that does not hold.
pub async fn finish(
    admin: &mut Client,
    world: &World,
    programme: &Programme,
    clawed: Clawed,
) -> Result<ClawbackFinished, Violation> {
    let failed = |what: String| Violation::new(Check::Clawback, format!("programme {}: {what}", programme.id));
    let before = stats(admin, programme.id).await.map_err(&failed)?;
    let found_complete = before.clawed_back_minor == programme.earmarked_minor;
    if clawed == Clawed::Confirmed && !found_complete {
        return Err(failed(format!(
            "its clawback was confirmed before the kill, yet after the restart the ledger has clawed back {} of {}",
            before.clawed_back_minor, programme.earmarked_minor
        )));
    }
    let (moved_minor, total_minor) = claw_back(admin, world.chain, &world.signers, programme)
        .await
        .map_err(|s| failed(format!("Clawback after the restart: {}", describe(&s))))?;
    if found_complete && moved_minor != 0 {
        return Err(failed(format!("complete, yet a clawback after the restart moved {moved_minor} more")));
    }
    let after = stats(admin, programme.id).await.map_err(&failed)?;
    let whole = programme.earmarked_minor;
    if (total_minor, after.clawed_back_minor, after.disbursed_minor, after.outstanding_minor)
        != (whole, whole, whole, 0)
    {
        return Err(failed(format!(
            "disbursed {whole}; the clawback's total is {total_minor}, the statistics say disbursed {}, clawed back \
             {}, outstanding {}",
            after.disbursed_minor, after.clawed_back_minor, after.outstanding_minor
        )));
    }
    let held = list_unspent(admin, programme.treasury).await.map_err(|e| failed(format!("treasury: {e}")))?;
    let held_minor: u64 = held.iter().map(|(_, o)| o.amount_minor).sum();
    if held_minor != whole || held.iter().any(|(_, o)| o.programme != 0) {
        return Err(failed(format!(
            "the treasury holds {held_minor} in {} outputs, not the {whole} clawed back as unrestricted money",
            held.len()
        )));
    }
    let mut receipts = Vec::with_capacity(held.len());
    for (outpoint, _) in &held {
        let receipt = lookup(admin, outpoint.txid).await?.ok_or_else(|| {
            failed(format!("the treasury's output {outpoint} comes from a transaction not in the ledger"))
        })?;
        if receipt.verify(&world.engine_key, &world.chain).is_err() {
            return Err(failed(format!("the receipt of clawback {} does not verify", outpoint.txid)));
        }
        receipts.push(Given::from_receipt(&receipt));
    }
    Ok(ClawbackFinished { clawed, found_complete, clawed_back_minor: whole, receipts })
}

async fn stats(admin: &mut Client, id: u32) -> Result<proto::GetProgrammeStatsResponse, String> {
    admin
        .admin
        .get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: id })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("GetProgrammeStats: {}", describe(&s)))
}
