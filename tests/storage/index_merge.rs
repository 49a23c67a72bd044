//! The random-key tables (unspent outputs by owner, spenders, the txid
//! index, daily totals) are merged every few payments, a slice per
//! block commit: what the API answers is the same before, during and after
//! merges, and after restarts in the middle of them.

use crate::common;

use common::{TestLedger, assert_refusal, error_metadata, to_proto};
use settled::proto::{self, Reason};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use settled::{Keypair, OutPoint, TxId, client};
use tokio::sync::Mutex;
use tonic::Code;

/// Merges every 20 entries (about 3 payments) or 2 blocks, at least 2
/// entries per commit: most commits write a slice of a merge.
const MERGE_OFTEN: (u64, u64, usize) = (20, 2, 2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_listings_receipts_and_spenders_read_the_same_across_merges_and_restarts() {
    let mut ledger = TestLedger::start_rigged(|rigs| rigs.index_merge_every = Some(MERGE_OFTEN)).await;
    let (alice, bob, shop) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    let amounts: Vec<u64> = (1..=12).map(|i| i * 1_000).collect();
    let coins = ledger.fund_coins(&alice, &amounts, "merge-often").await;
    let mut confirmed = Vec::new();
    let mut spent: Vec<((OutPoint, settled::Output), settled::TxId)> = Vec::new();
    let mut alice_outputs: Vec<OutPoint> = coins.iter().map(|(outpoint, _)| *outpoint).collect();
    let (mut to_bob, mut to_shop) = (0u64, 0u64);
    for (i, coin) in coins.iter().enumerate() {
        let (payee, amount) = if i % 3 == 0 { (bob.address(), 100) } else { (shop.address(), 250) };
        let payment = client::pay(&ledger.chain, &alice, *coin, payee, amount, format!("inv-{i}").as_bytes());
        let (receipt, duplicate) = ledger.client.submit(&payment).await.expect("confirmed");
        assert!(!duplicate);
        if payee == bob.address() {
            to_bob += amount;
        } else {
            to_shop += amount;
        }
        spent.push((*coin, receipt.txid));
        alice_outputs.retain(|outpoint| *outpoint != coin.0);
        alice_outputs.push(client::output_of(&payment, 1).0);
        confirmed.push((payment, receipt));
        if i == 4 || i == 8 {
            ledger.restart_rigged(|rigs| rigs.index_merge_every = Some(MERGE_OFTEN)).await;
        }
        assert_reads(&mut ledger, &confirmed, &spent, &alice, &alice_outputs).await;
        assert_eq!(ledger.balance(&bob.address()).await.total_minor, to_bob);
        assert_eq!(ledger.balance(&shop.address()).await.total_minor, to_shop);
    }
    let total: u64 = amounts.iter().sum();
    assert_eq!(ledger.balance(&alice.address()).await.total_minor, total - to_bob - to_shop);
    ledger.assert_supply(total).await;

    // A restart with the merges as a production server runs them: the same.
    ledger.restart().await;
    assert_reads(&mut ledger, &confirmed, &spent, &alice, &alice_outputs).await;
    ledger.assert_supply(total).await;
    let audit = ledger.client.ledger.audit(proto::AuditRequest {}).await.expect("audit").into_inner();
    assert!(audit.failures.is_empty(), "audit failures: {:?}", audit.failures);
    ledger.shutdown().await;
}

/// Every confirmed payment comes back by txid (receipt and transaction), a
/// resubmission is a duplicate with the original receipt, a double spend
/// names the spender, and the payer's listing is exactly its outputs.
async fn assert_reads(
    ledger: &mut TestLedger,
    confirmed: &[(settled::Transaction, settled::Receipt)],
    spent: &[((OutPoint, settled::Output), settled::TxId)],
    payer: &Keypair,
    payer_outputs: &[OutPoint],
) {
    for (payment, receipt) in confirmed {
        ledger.assert_payment_found(payment, receipt).await;
    }
    let (payment, receipt) = confirmed.first().expect("one payment");
    let (again, duplicate) = ledger.client.submit(payment).await.expect("a resubmission is answered");
    assert!(duplicate, "a resubmission is recognised");
    assert_eq!(again, *receipt, "with the original receipt");
    for (coin, spender) in spent {
        let double = client::pay(&ledger.chain, payer, *coin, payer.address(), 1, b"double");
        let status = ledger.submit_proto(to_proto(&double)).await.expect_err("refused");
        assert_refusal(&status, Code::FailedPrecondition, Reason::InputSpent);
        assert_eq!(error_metadata(&status)["spent_by_txid"], spender.to_string(), "the spender is named");
    }
    let mut listed: Vec<OutPoint> = ledger
        .unspent(&payer.address())
        .await
        .iter()
        .map(|unspent| {
            let outpoint = unspent.outpoint.as_ref().expect("outpoint");
            OutPoint { txid: settled::TxId(outpoint.txid.clone().try_into().expect("32 bytes")), index: outpoint.index }
        })
        .collect();
    let mut expected = payer_outputs.to_vec();
    listed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(listed, expected, "the payer's unspent outputs, listed");
}

/// Payments per payer in the race below, and payers.
const RACE_PAYMENTS: usize = 40;
const RACE_PAYERS: usize = 6;

/// Readers run while every commit writes a slice of a merge (and mints
/// change the supply): a count of the unspent set always adds up to the
/// supply of the block it names, a payee's balance never goes back, and a
/// confirmed payment is never not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_racing_merges_see_the_supply_whole_and_no_confirmed_payment_go_missing() {
    let mut ledger = TestLedger::start_rigged(|rigs| rigs.index_merge_every = Some((8, 1, 1))).await;
    let shop = Keypair::generate();
    let payers: Vec<Keypair> = (0..RACE_PAYERS).map(|_| Keypair::generate()).collect();
    let mut coins = Vec::new();
    for (i, payer) in payers.iter().enumerate() {
        coins.push(ledger.fund(payer, 1_000_000, &format!("race-{i}")).await);
    }
    let client = ledger.client.clone();
    let confirmed: Arc<Mutex<Vec<TxId>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let counts = tokio::spawn({
        let (mut client, stop) = (client.clone(), Arc::clone(&stop));
        async move {
            // The tips it counted at: more than one, or it never read
            // while blocks were being committed.
            let mut heights = std::collections::BTreeSet::new();
            while !stop.load(Ordering::Relaxed) || heights.is_empty() {
                let info = client
                    .ledger
                    .get_info(proto::GetInfoRequest { count_unspent: true })
                    .await
                    .expect("info")
                    .into_inner();
                let tip = info.tip.expect("tip");
                assert_eq!(
                    info.unspent_total_minor,
                    tip.minted_total_minor - tip.burned_total_minor,
                    "the unspent set counted at block {} adds up to its supply",
                    tip.height
                );
                heights.insert(tip.height);
            }
            heights.len()
        }
    });
    let lookups = tokio::spawn({
        let (mut client, stop, confirmed) = (client.clone(), Arc::clone(&stop), Arc::clone(&confirmed));
        let shop = shop.address();
        async move {
            // The balances it saw, likewise: more than one, or it never
            // read while the shop was being paid.
            let (mut last_balance, mut balances) = (0u64, std::collections::BTreeSet::new());
            while !stop.load(Ordering::Relaxed) || balances.is_empty() {
                let balance = client
                    .wallets
                    .get_balance(proto::GetBalanceRequest { address: shop.0.to_vec() })
                    .await
                    .expect("balance")
                    .into_inner()
                    .total_minor;
                assert!(balance >= last_balance, "the shop's balance went back from {last_balance} to {balance}");
                last_balance = balance;
                let known: Vec<TxId> = confirmed.lock().await.clone();
                for txid in known.iter().rev().take(4) {
                    let found = client
                        .payments
                        .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
                        .await
                        .expect("get payment")
                        .into_inner();
                    assert_eq!(found.status, proto::PaymentStatus::Confirmed as i32, "{txid} went missing");
                }
                balances.insert(balance);
            }
            balances.len()
        }
    });
    let mut paying = Vec::new();
    for (payer, coin) in payers.into_iter().zip(coins) {
        let (mut client, confirmed) = (client.clone(), Arc::clone(&confirmed));
        let shop = shop.address();
        paying.push(tokio::spawn(async move {
            let mut coin = coin;
            for i in 0..RACE_PAYMENTS {
                let payment = client::pay(&ledger.chain, &payer, coin, shop, 1, format!("race-{i}").as_bytes());
                let (receipt, _) = client.submit(&payment).await.expect("confirmed");
                confirmed.lock().await.push(receipt.txid);
                coin = client::output_of(&payment, 1);
            }
        }));
    }
    for (i, task) in paying.into_iter().enumerate() {
        task.await.expect("payer");
        ledger.fund(&shop, 5, &format!("race-mint-{i}")).await;
    }
    stop.store(true, Ordering::Relaxed);
    let heights = counts.await.expect("counts");
    assert!(heights > 1, "the unspent set was counted at {heights} tip(s), not while blocks were committed");
    let balances = lookups.await.expect("lookups");
    assert!(balances > 1, "the shop's balance was read at {balances} value(s), not while it was paid");
    let paid = (RACE_PAYERS * RACE_PAYMENTS) as u64;
    assert_eq!(ledger.balance(&shop.address()).await.total_minor, paid + 5 * RACE_PAYERS as u64);
    ledger.assert_supply(1_000_000 * RACE_PAYERS as u64 + 5 * RACE_PAYERS as u64).await;
    ledger.shutdown().await;
}
