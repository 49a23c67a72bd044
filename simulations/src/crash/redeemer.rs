//! The round's redeemer: the run's bank burning its merchants' takings, as a
//! bank does when it credits a merchant's deposit account, one redemption at
//! a time and merchant after merchant. Each redeems up to `TX_INPUTS_MAX` of
//! a merchant's unspent takings (read with `ListUnspent`) and keeps a seeded
//! part of them as change, so that every redemption burns a different
//! amount. The kill cuts one off now and then: it stays pending until the
//! checks look it up or resubmit it, and what it burns counts only then.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::{self, Client};
use settled::limits::TX_INPUTS_MAX;
use settled::{Address, Keypair, Transaction, proto};
use tokio::sync::watch;

use super::checks::unspent_page;
use super::setup::describe;
use super::{Check, Given, RESOLVE_ATTEMPTS_MAX, Violation};

/// Redemptions the redeemer submits in a round at most (one at a time, so a
/// block's worth at most per block).
pub const REDEEMS_PER_ROUND_MAX: usize = 100_000;
/// How long the redeemer waits when no merchant has takings yet (at the
/// start of a round, before the first payments).
const IDLE: Duration = Duration::from_millis(10);
/// Wait before resubmitting a redemption refused as overloaded.
const RETRY_DELAY: Duration = Duration::from_millis(settled::limits::OVERLOAD_RETRY_AFTER_MS as u64);

/// A redemption the harness signed, and what it burns.
#[derive(Clone, Debug)]
pub struct Redemption {
    pub tx: Transaction,
    pub burned_minor: u64,
}

pub struct Redeemer {
    pub round: u64,
    pub merchants: Arc<Vec<Keypair>>,
    pub engine_key: Address,
    pub chain: settled::ChainId,
    pub seed: u64,
    /// Set just before the kill: a failure seen after it is the kill's doing.
    pub killing: Arc<AtomicBool>,
    /// Set just after the kill: redeem nothing more.
    pub stop: watch::Receiver<bool>,
}

pub struct RedeemerOutcome {
    pub given: Vec<Given>,
    pub confirmed: u64,
    /// What the confirmed redemptions burned.
    pub burned_minor: u64,
    /// The redemption the kill cut off, if any.
    pub pending: Option<Redemption>,
    pub failure: Option<Violation>,
}

impl Redeemer {
    /// Redeems with the bank's own credential (`token`) until the kill.
    pub async fn run(mut self, url: &str, token: &str) -> RedeemerOutcome {
        let mut outcome =
            RedeemerOutcome { given: Vec::new(), confirmed: 0, burned_minor: 0, pending: None, failure: None };
        let killing = Arc::clone(&self.killing);
        let killed = move || killing.load(Ordering::SeqCst);
        let fail = |detail: String| Some(Violation::new(Check::Server, format!("redeemer: {detail}")));
        let mut bank = match Client::connect_with_token(url, token).await {
            Ok(bank) => bank,
            Err(e) => {
                if !killed() {
                    outcome.failure = fail(format!("the server failed before the kill: connecting: {e}"));
                }
                return outcome;
            }
        };
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut idle_merchants = 0usize;
        for n in 0..REDEEMS_PER_ROUND_MAX {
            if *self.stop.borrow() || killed() {
                break;
            }
            let key = &self.merchants[n % self.merchants.len()];
            let takings = match unspent_page(&mut bank, key.address(), TX_INPUTS_MAX).await {
                Ok(page) => page.into_iter().filter(|(_, o)| o.programme == 0).collect::<Vec<_>>(),
                Err(why) => {
                    if !killed() {
                        outcome.failure = fail(format!("the server failed before the kill: {why}"));
                    }
                    return outcome;
                }
            };
            if takings.is_empty() {
                idle_merchants += 1;
                if idle_merchants >= self.merchants.len() {
                    idle_merchants = 0;
                    tokio::select! {
                        () = tokio::time::sleep(IDLE) => {}
                        _ = self.stop.changed() => {}
                    }
                }
                continue;
            }
            idle_merchants = 0;
            let held: u64 = takings.iter().map(|(_, o)| o.amount_minor).sum();
            let keep_minor = rng.gen_range(0..held);
            let reference = format!("crash r{} redeem {n}", self.round);
            let tx = client::redeem(&self.chain, key, &takings, keep_minor, reference.as_bytes());
            let txid = settled::txid(&tx);
            outcome.pending = Some(Redemption { tx: tx.clone(), burned_minor: held - keep_minor });
            match submit(&mut bank, &tx).await {
                Ok((receipt, duplicate)) => {
                    if receipt.txid != txid || receipt.verify(&self.engine_key, &self.chain).is_err() || duplicate {
                        outcome.failure = Some(Violation::new(
                            Check::Receipts,
                            format!("redeemer: the receipt for {txid} does not verify, or calls it a duplicate"),
                        ));
                        return outcome;
                    }
                    outcome.given.push(Given::from_receipt(&receipt));
                    outcome.confirmed += 1;
                    outcome.burned_minor += held - keep_minor;
                    outcome.pending = None;
                }
                Err(status) => {
                    let reason = client::status_reason(&status);
                    // No answer, or the engine stopped: the kill's doing, or a failure.
                    let lost = matches!(reason, None | Some(proto::Reason::Unavailable));
                    if !lost || !killed() {
                        outcome.failure = fail(format!("redemption {txid}: {}", describe(&status)));
                    }
                    return outcome;
                }
            }
        }
        outcome
    }
}

/// Submits `tx`, waiting out overload refusals.
async fn submit(bank: &mut Client, tx: &Transaction) -> Result<(settled::Receipt, bool), tonic::Status> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match bank.submit(tx).await {
            Err(status)
                if client::status_reason(&status) == Some(proto::Reason::Overloaded)
                    && attempts < RESOLVE_ATTEMPTS_MAX =>
            {
                tokio::time::sleep(RETRY_DELAY).await;
            }
            answer => return answer,
        }
    }
}
