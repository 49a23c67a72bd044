//! The payments of a run, decided and signed before it starts. Each lane (a
//! wallet, or a pair of wallets) gets a chain in which every payment spends
//! what the previous one left it: the txid is known before submission, so
//! the whole chain can be signed ahead and the load spends no CPU on it.

use std::num::NonZero;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client;
use settled::{Address, ChainId, Keypair, OutPoint, Output, TX_VERSION, Transaction, TxId, TxKind};

use super::Workload;
use super::drive::Lane;

/// What one payer may pay in a day, in currency units: under the default
/// tier-1 (unregistered wallet) limit of 5,000.00, so that no chain meets a
/// TIER_DAILY_LIMIT refusal.
pub const DAY_BUDGET_UNITS: u64 = 4_900;
/// Payment amounts, in currency units: small retail purchases.
pub const AMOUNT_UNITS_MIN: u64 = 1;
pub const AMOUNT_UNITS_MAX: u64 = 20;
/// Threads that generate keys and sign chains.
pub const SIGNING_THREADS_MAX: usize = 64;
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// One lane before signing: its keys, amounts, payees, and the coins the
/// funding mints give it.
pub struct LanePlan {
    pub keys: Vec<Keypair>,
    amounts: Vec<u64>,
    /// Retail: the merchant each payment pays.
    payees: Vec<usize>,
    /// What each key is minted: what it pays in the chain, plus one unit so
    /// that there is always change.
    funding: Vec<u64>,
    coins: Vec<Option<(OutPoint, Output)>>,
}

fn signing_threads() -> usize {
    std::thread::available_parallelism().map_or(1, NonZero::get).clamp(1, SIGNING_THREADS_MAX)
}

/// Decides `lanes` chains of up to `chain` payments. Amounts and payees come
/// from `seed`; wallet keys are fresh, so that a reused ledger never holds
/// them already (nor their daily totals).
#[must_use]
pub fn plan(
    workload: Workload,
    lanes: usize,
    chain: usize,
    unit_minor: u64,
    merchants: usize,
    seed: u64,
) -> Vec<LanePlan> {
    let wallets = workload.wallets_per_lane();
    let keys = generate_keys(lanes * wallets);
    let mut rng = StdRng::seed_from_u64(seed);
    let budget = DAY_BUDGET_UNITS * unit_minor;
    let mut plans = Vec::with_capacity(lanes);
    let mut keys = keys.into_iter();
    for _ in 0..lanes {
        let lane_keys: Vec<Keypair> = keys.by_ref().take(wallets).collect();
        let mut paid = vec![0u64; wallets];
        let mut amounts = Vec::with_capacity(chain);
        let mut payees = Vec::with_capacity(if workload == Workload::Retail { chain } else { 0 });
        for k in 0..chain {
            let payer = k % wallets;
            let amount = rng.gen_range(AMOUNT_UNITS_MIN * unit_minor..=AMOUNT_UNITS_MAX * unit_minor);
            if paid[payer] + amount > budget {
                break;
            }
            paid[payer] += amount;
            amounts.push(amount);
            if workload == Workload::Retail {
                payees.push(rng.gen_range(0..merchants));
            }
        }
        let funding = paid.iter().map(|p| p + unit_minor).collect();
        plans.push(LanePlan { keys: lane_keys, amounts, payees, funding, coins: vec![None; wallets] });
    }
    plans
}

fn generate_keys(n: usize) -> Vec<Keypair> {
    let threads = signing_threads();
    let per_thread = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..n)
            .step_by(per_thread)
            .map(|start| {
                scope.spawn(move || (start..n.min(start + per_thread)).map(|_| Keypair::generate()).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("key generation does not panic")).collect::<Vec<Keypair>>()
    })
}

/// The mints that fund every wallet of `plans` (16 outputs each, signed by
/// `issuers` for the ledger `chain_id`), recording in each plan the coins
/// they create.
#[must_use]
pub fn funding_mints(
    plans: &mut [LanePlan],
    chain_id: &ChainId,
    run_tag: &str,
    issuers: &[&Keypair],
) -> Vec<Transaction> {
    let slots: Vec<(usize, usize)> =
        plans.iter().enumerate().flat_map(|(lane, p)| (0..p.keys.len()).map(move |key| (lane, key))).collect();
    let mut mints = Vec::with_capacity(slots.len().div_ceil(settled::limits::TX_OUTPUTS_MAX));
    for (m, chunk) in slots.chunks(settled::limits::TX_OUTPUTS_MAX).enumerate() {
        let outputs = chunk
            .iter()
            .map(|&(lane, key)| client::output(plans[lane].keys[key].address(), plans[lane].funding[key], 0));
        let tx = client::mint(chain_id, outputs.collect(), format!("load-fund-{run_tag}-{m}").as_bytes(), issuers);
        for (index, &(lane, key)) in chunk.iter().enumerate() {
            plans[lane].coins[key] = Some(client::output_of(&tx, u32::try_from(index).expect("16 outputs at most")));
        }
        mints.push(tx);
    }
    mints
}

/// Signs every chain for the ledger `chain_id`, on all cores; prints
/// progress every second.
///
/// # Panics
/// When a plan has not been funded by `funding_mints`.
#[must_use]
pub fn presign(
    workload: Workload,
    chain_id: &ChainId,
    plans: Vec<LanePlan>,
    merchants: &[Address],
    progress: bool,
) -> Vec<Lane> {
    let total: usize = plans.iter().map(|p| p.amounts.len()).sum();
    let signed = AtomicUsize::new(0);
    let threads = signing_threads();
    let per_thread = plans.len().div_ceil(threads).max(1);
    let mut plans = plans;
    let mut chunks = Vec::new();
    while !plans.is_empty() {
        let rest = plans.split_off(per_thread.min(plans.len()));
        chunks.push(std::mem::replace(&mut plans, rest));
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let signed = &signed;
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|plan| {
                            let lane = match workload {
                                Workload::Retail => retail_chain(chain_id, &plan, merchants),
                                Workload::Opencbdc => pair_chain(chain_id, &plan),
                            };
                            signed.fetch_add(lane.len(), Ordering::Relaxed);
                            lane
                        })
                        .collect::<Vec<Lane>>()
                })
            })
            .collect();
        let started = Instant::now();
        let mut printed = Instant::now();
        while workers.iter().any(|w| !w.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            if progress && printed.elapsed() >= PROGRESS_INTERVAL {
                printed = Instant::now();
                let done = signed.load(Ordering::Relaxed);
                #[allow(clippy::cast_precision_loss)]
                let rate = done as f64 / started.elapsed().as_secs_f64();
                println!("  pre-signed {done} of {total} payments ({rate:.0}/s)");
            }
        }
        workers.into_iter().flat_map(|w| w.join().expect("signing does not panic")).collect()
    })
}

/// 1 input, 2 outputs (merchant, change), 1 signature; the next payment
/// spends the change.
fn retail_chain(chain_id: &ChainId, plan: &LanePlan, merchants: &[Address]) -> Lane {
    let key = &plan.keys[0];
    let mut coin = plan.coins[0].expect("funded");
    let mut txs = Vec::with_capacity(plan.amounts.len());
    let mut txids = Vec::with_capacity(plan.amounts.len());
    for (k, (&amount, &payee)) in plan.amounts.iter().zip(&plan.payees).enumerate() {
        let tx = client::pay(chain_id, key, coin, merchants[payee], amount, format!("inv{k:06}").as_bytes());
        assert_eq!(tx.outputs.len(), 2, "funding leaves change after every payment");
        let txid = settled::txid(&tx);
        coin = (OutPoint { txid, index: 1 }, tx.outputs[1]);
        txs.push(tx);
        txids.push(txid);
    }
    Lane::new(txs, txids)
}

/// OpenCBDC's workload: 2 inputs (one coin of each wallet of the pair), 2
/// outputs (back to each), 2 signatures; the amount moves one way, then the
/// other, so that neither wallet drifts towards a tier limit.
fn pair_chain(chain_id: &ChainId, plan: &LanePlan) -> Lane {
    let (a, b) = (&plan.keys[0], &plan.keys[1]);
    let (mut coin_a, mut coin_b) = (plan.coins[0].expect("funded"), plan.coins[1].expect("funded"));
    let mut txs = Vec::with_capacity(plan.amounts.len());
    let mut txids: Vec<TxId> = Vec::with_capacity(plan.amounts.len());
    for (k, &amount) in plan.amounts.iter().enumerate() {
        let (held_a, held_b) = (coin_a.1.amount_minor, coin_b.1.amount_minor);
        let (to_a, to_b) =
            if k % 2 == 0 { (held_a - amount, held_b + amount) } else { (held_a + amount, held_b - amount) };
        assert!(to_a > 0 && to_b > 0, "funding keeps both coins of a pair above zero");
        let mut tx = Transaction {
            version: TX_VERSION,
            kind: TxKind::Transfer,
            inputs: vec![coin_a.0, coin_b.0],
            outputs: vec![client::output(a.address(), to_a, 0), client::output(b.address(), to_b, 0)],
            reference: Vec::new(),
            witnesses: Vec::new(),
        };
        let txid = client::sign(&mut tx, chain_id, &[a, b]);
        coin_a = (OutPoint { txid, index: 0 }, tx.outputs[0]);
        coin_b = (OutPoint { txid, index: 1 }, tx.outputs[1]);
        txs.push(tx);
        txids.push(txid);
    }
    Lane::new(txs, txids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuers() -> Vec<Keypair> {
        (0..2).map(|_| Keypair::generate()).collect()
    }

    const CHAIN: ChainId = ChainId([0x1d; 32]);

    #[test]
    fn a_retail_chain_spends_each_change_and_stays_under_the_day_budget() {
        let issuers = issuers();
        let mut plans = plan(Workload::Retail, 3, 1_000, 100, 4, 7);
        let mints = funding_mints(&mut plans, &CHAIN, "t", &issuers.iter().collect::<Vec<_>>());
        assert_eq!(mints.len(), 1);
        let merchants: Vec<Address> = (0..4).map(|_| Keypair::generate().address()).collect();
        let lanes = presign(Workload::Retail, &CHAIN, plans, &merchants, false);
        assert_eq!(lanes.len(), 3);
        for lane in &lanes {
            let (txs, txids) = lane.parts();
            assert!(txs.len() < 1_000, "the budget cuts a chain of 1,000 payments of up to 20.00");
            let paid: u64 = txs.iter().map(|tx| tx.outputs[0].amount_minor).sum();
            assert!(paid <= DAY_BUDGET_UNITS * 100);
            for (k, tx) in txs.iter().enumerate() {
                assert_eq!(settled::txid(tx), txids[k]);
                assert!(settled::verify(tx.clone(), &CHAIN).is_ok());
                if k > 0 {
                    assert_eq!(tx.inputs, vec![OutPoint { txid: txids[k - 1], index: 1 }]);
                }
            }
        }
    }

    #[test]
    fn a_pair_chain_spends_both_previous_outputs_with_two_signatures() {
        let issuers = issuers();
        let mut plans = plan(Workload::Opencbdc, 2, 50, 100, 1, 7);
        assert_eq!(funding_mints(&mut plans, &CHAIN, "t", &issuers.iter().collect::<Vec<_>>()).len(), 1);
        let lanes = presign(Workload::Opencbdc, &CHAIN, plans, &[], false);
        for lane in &lanes {
            let (txs, txids) = lane.parts();
            assert_eq!(txs.len(), 50);
            let total: u64 = txs[0].outputs.iter().map(|o| o.amount_minor).sum();
            for (k, tx) in txs.iter().enumerate() {
                assert_eq!(tx.witnesses.len(), 2);
                assert_eq!(tx.outputs.iter().map(|o| o.amount_minor).sum::<u64>(), total, "conserved");
                assert!(settled::verify(tx.clone(), &CHAIN).is_ok());
                if k > 0 {
                    let previous = txids[k - 1];
                    assert_eq!(
                        tx.inputs,
                        vec![OutPoint { txid: previous, index: 0 }, OutPoint { txid: previous, index: 1 }]
                    );
                }
            }
        }
    }
}
