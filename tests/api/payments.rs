//! Payments end to end: conservation, double spends in one block and across
//! blocks, idempotent resubmission (unary, streamed, across a restart), many
//! payments on one stream, and refusals that change nothing. After every
//! scenario the supply is checked: the unspent set counted from storage adds
//! up to `minted - burned` at the tip, and to what the test minted.

use crate::common;

use std::collections::HashSet;

use common::{
    TestLedger, assert_refusal, error_metadata, streamed_reason, streamed_receipt, streamed_refusal, to_proto,
};
use settled::Keypair;
use settled::client::{self, output};
use settled::proto::{self, Reason};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_moves_money_between_wallets_and_conserves_supply() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob, shop) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 10_000, "row-1").await;
    let to_bob = client::pay(&ledger.chain, &alice, coin, bob.address(), 4_000, b"inv-1");
    ledger.client.submit(&to_bob).await.expect("confirmed");
    // Bob spends what he received in the previous block.
    let bobs_coin = client::output_of(&to_bob, 0);
    let to_shop = client::pay(&ledger.chain, &bob, bobs_coin, shop.address(), 1_500, b"inv-2");
    ledger.client.submit(&to_shop).await.expect("confirmed");
    assert_eq!(ledger.balance(&alice.address()).await.total_minor, 6_000);
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 2_500);
    assert_eq!(ledger.balance(&shop.address()).await.total_minor, 1_500);
    ledger.assert_supply(10_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_payments_on_one_stream_confirm_exactly_one_and_refuse_the_rest_naming_it() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let amounts = [1_000u64; 5];
    let coins = ledger.fund_coins(&alice, &amounts, "rows").await;
    for (round, coin) in coins.into_iter().enumerate() {
        // Eight different payments, all spending the same coin, sent at once.
        let attempts: Vec<_> = (0..8u64)
            .map(|i| {
                client::pay(
                    &ledger.chain,
                    &alice,
                    coin,
                    Keypair::generate().address(),
                    100 + i,
                    format!("r{round}-{i}").as_bytes(),
                )
            })
            .collect();
        let requests = (0u64..).zip(attempts.iter().map(to_proto)).collect();
        let results = ledger.submit_stream(requests).await;
        let winners: Vec<u64> = (0..8u64)
            .filter(|id| matches!(results[id].result, Some(proto::submit_payments_response::Result::Receipt(_))))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one of the conflicting payments is confirmed");
        let winner = settled::txid(&attempts[usize::try_from(winners[0]).unwrap()]);
        assert_eq!(streamed_receipt(&results[&winners[0]]).txid, winner);
        for id in (0..8u64).filter(|id| *id != winners[0]) {
            assert_eq!(streamed_reason(&results[&id]), Reason::InputSpent, "round {round} item {id}");
            let refusal = streamed_refusal(&results[&id]);
            assert_eq!(refusal.spent_by_txid, winner.0.to_vec(), "the refusal names the winner");
            assert_eq!(results[&id].txid, settled::txid(&attempts[usize::try_from(id).unwrap()]).0.to_vec());
        }
    }
    ledger.assert_supply(5_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_unary_payments_submitted_together_confirm_exactly_one() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let a = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 300, b"a");
    let b = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 400, b"b");
    let (mut client_a, mut client_b) = (ledger.client.clone(), ledger.client.clone());
    let (result_a, result_b) = tokio::join!(client_a.submit(&a), client_b.submit(&b));
    let (winner, loser_status) = match (result_a, result_b) {
        (Ok(_), Err(status)) => (&a, status),
        (Err(status), Ok(_)) => (&b, status),
        other => panic!("exactly one must be confirmed: {other:?}"),
    };
    assert_refusal(&loser_status, Code::FailedPrecondition, Reason::InputSpent);
    assert_eq!(error_metadata(&loser_status)["spent_by_txid"], settled::txid(winner).to_string());
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_spend_in_a_later_block_is_refused_naming_the_first_spender() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob, mallory_shop) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let first = client::pay(&ledger.chain, &alice, coin, bob.address(), 1_000, b"first");
    let (first_receipt, _) = ledger.client.submit(&first).await.expect("first spend confirmed");
    let later = client::pay(&ledger.chain, &alice, coin, mallory_shop.address(), 1_000, b"later");
    let status = ledger.client.submit(&later).await.expect_err("second spend refused");
    assert_refusal(&status, Code::FailedPrecondition, Reason::InputSpent);
    assert_eq!(error_metadata(&status)["spent_by_txid"], first_receipt.txid.to_string());
    assert_eq!(ledger.balance(&mallory_shop.address()).await.total_minor, 0);
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 1_000);
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmitted_payment_returns_the_original_receipt_marked_duplicate() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let payment = client::pay(&ledger.chain, &alice, coin, bob.address(), 250, b"inv-1");
    let (original, duplicate) = ledger.client.submit(&payment).await.expect("confirmed");
    assert!(!duplicate, "the first submission is not a duplicate");
    let tip = ledger.tip().await;
    let (again, duplicate) = ledger.client.submit(&payment).await.expect("resubmission answered");
    assert!(duplicate, "the resubmission is marked duplicate");
    assert_eq!(again, original, "the resubmission gets the original receipt");
    // Signed again (fresh signature randomness): still the same transaction.
    let mut resigned = payment.clone();
    resigned.witnesses.clear();
    client::sign(&mut resigned, &ledger.chain, &[&alice]);
    assert_ne!(resigned.witnesses, payment.witnesses);
    let (third, duplicate) = ledger.client.submit(&resigned).await.expect("resubmission answered");
    assert!(duplicate);
    assert_eq!(third, original);
    assert_eq!(ledger.tip().await, tip, "a resubmission adds no block");
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 250, "bob is paid once");
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_payment_twice_on_one_stream_is_confirmed_once_and_answered_twice() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let payment = client::pay(&ledger.chain, &alice, coin, bob.address(), 250, b"inv-1");
    let results = ledger.submit_stream(vec![(1, to_proto(&payment)), (2, to_proto(&payment))]).await;
    let (first, second) = (streamed_receipt(&results[&1]), streamed_receipt(&results[&2]));
    assert_eq!(first, second, "both get the one receipt");
    assert_eq!(
        [results[&1].duplicate, results[&2].duplicate].iter().filter(|d| **d).count(),
        1,
        "exactly one of the two is the duplicate"
    );
    for id in [1, 2] {
        assert_eq!(results[&id].txid, settled::txid(&payment).0.to_vec());
    }
    // On a later stream, it is a duplicate too.
    let results = ledger.submit_stream(vec![(3, to_proto(&payment))]).await;
    assert!(results[&3].duplicate);
    assert_eq!(streamed_receipt(&results[&3]), first);
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 250, "bob is paid once");
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmission_after_a_restart_returns_the_original_receipt() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[1_000, 2_000], "rows").await;
    let unary = client::pay(&ledger.chain, &alice, coins[0], bob.address(), 100, b"unary");
    let streamed = client::pay(&ledger.chain, &alice, coins[1], bob.address(), 200, b"streamed");
    let (unary_receipt, _) = ledger.client.submit(&unary).await.expect("confirmed");
    let results = ledger.submit_stream(vec![(7, to_proto(&streamed))]).await;
    let streamed_original = streamed_receipt(&results[&7]);

    ledger.restart().await;

    let (again, duplicate) = ledger.client.submit(&unary).await.expect("answered after restart");
    assert!(duplicate);
    assert_eq!(again, unary_receipt, "the receipt survives the restart unchanged");
    let results = ledger.submit_stream(vec![(8, to_proto(&streamed)), (9, to_proto(&unary))]).await;
    assert!(results[&8].duplicate && results[&9].duplicate);
    assert_eq!(streamed_receipt(&results[&8]), streamed_original);
    assert_eq!(streamed_receipt(&results[&9]), unary_receipt);
    // A different payment of the same coin is refused, naming the original.
    let conflicting = client::pay(&ledger.chain, &alice, coins[0], Keypair::generate().address(), 1_000, b"other");
    let status = ledger.client.submit(&conflicting).await.expect_err("refused");
    assert_refusal(&status, Code::FailedPrecondition, Reason::InputSpent);
    assert_eq!(error_metadata(&status)["spent_by_txid"], unary_receipt.txid.to_string());
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 300, "bob is paid once for each");
    ledger.assert_supply(3_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_resubmitted_before_and_after_a_restart_pays_nobody_twice() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let mint = ledger.mint_tx(vec![output(alice.address(), 5_000, 0)], "disbursement-2024-07-row-17");
    let (original, duplicate) = ledger.client.mint(&mint).await.expect("confirmed");
    assert!(!duplicate);
    let (again, duplicate) = ledger.client.mint(&mint).await.expect("answered");
    assert!(duplicate);
    assert_eq!(again, original);
    // The same row signed by another pair of issuers is the same mint.
    let other_pair =
        client::mint(&ledger.chain, mint.outputs.clone(), &mint.reference, &[&ledger.issuers[1], &ledger.issuers[2]]);
    let (third, duplicate) = ledger.client.mint(&other_pair).await.expect("answered");
    assert!(duplicate);
    assert_eq!(third, original);

    ledger.restart().await;

    let (after_restart, duplicate) = ledger.client.mint(&mint).await.expect("answered after restart");
    assert!(duplicate, "a mint re-run after a restart is recognised");
    assert_eq!(after_restart, original);
    assert_eq!(ledger.balance(&alice.address()).await.total_minor, 5_000, "alice is paid once");
    ledger.assert_supply(5_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_payment_changes_no_balance_unspent_list_or_tip() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[1_000, 2_000], "rows").await;
    ledger
        .client
        .submit(&client::pay(&ledger.chain, &alice, coins[0], bob.address(), 1_000, b"spent"))
        .await
        .expect("confirmed");
    let before = (
        ledger.balance(&alice.address()).await,
        ledger.balance(&bob.address()).await,
        ledger.unspent(&alice.address()).await,
        ledger.unspent(&bob.address()).await,
        ledger.info(true).await,
    );
    let overpaying =
        common::transfer(&ledger.chain, &[coins[1].0], vec![output(bob.address(), 2_001, 0)], b"over", &[&alice]);
    let refused = [
        (client::pay(&ledger.chain, &alice, coins[0], bob.address(), 10, b"spent-again"), Reason::InputSpent),
        (overpaying, Reason::NotConserved),
        (client::pay(&ledger.chain, &bob, coins[1], bob.address(), 2_000, b"theft"), Reason::MissingWitness),
    ];
    for (tx, reason) in &refused {
        let status = ledger.client.submit(tx).await.expect_err("refused");
        assert_eq!(client::status_reason(&status), Some(*reason));
    }
    let results =
        ledger.submit_stream(refused.iter().zip(0u64..).map(|((tx, _), id)| (id, to_proto(tx))).collect()).await;
    for ((_, reason), id) in refused.iter().zip(0u64..) {
        assert_eq!(streamed_reason(&results[&id]), *reason);
    }
    let after = (
        ledger.balance(&alice.address()).await,
        ledger.balance(&bob.address()).await,
        ledger.unspent(&alice.address()).await,
        ledger.unspent(&bob.address()).await,
        ledger.info(true).await,
    );
    assert_eq!(after.0, before.0, "alice's balance is unchanged");
    assert_eq!(after.1, before.1, "bob's balance is unchanged");
    assert_eq!(after.2, before.2, "alice's unspent outputs are unchanged");
    assert_eq!(after.3, before.3, "bob's unspent outputs are unchanged");
    assert_eq!(after.4, before.4, "the tip, sequence and unspent set are unchanged");
    ledger.assert_supply(3_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_payments_from_fifty_wallets_on_one_stream_each_get_one_result() {
    const WALLETS: usize = 50;
    const COINS_EACH: usize = 10;
    let mut ledger = TestLedger::start().await;
    let wallets: Vec<Keypair> = (0..WALLETS).map(|_| Keypair::generate()).collect();
    let shops: Vec<Keypair> = (0..5).map(|_| Keypair::generate()).collect();
    let outputs =
        wallets.iter().flat_map(|w| (0..COINS_EACH as u64).map(move |i| output(w.address(), 1_000 + i, 0))).collect();
    let coins = ledger.mint_outputs(outputs, "benefits").await;
    let minted: u64 = coins.iter().map(|(_, o)| o.amount_minor).sum();
    let payments: Vec<_> = coins
        .iter()
        .enumerate()
        .map(|(i, coin)| {
            let payer = &wallets[i / COINS_EACH];
            client::pay(
                &ledger.chain,
                payer,
                *coin,
                shops[i % shops.len()].address(),
                100,
                format!("till-{i}").as_bytes(),
            )
        })
        .collect();
    let requests = payments.iter().enumerate().map(|(i, tx)| (1_000 + i as u64, to_proto(tx))).collect();
    let results = ledger.submit_stream(requests).await;

    let engine_key = ledger.engine_key().await;
    let mut sequences = HashSet::new();
    for (i, payment) in payments.iter().enumerate() {
        let result = &results[&(1_000 + i as u64)];
        let txid = settled::txid(payment);
        assert_eq!(result.txid, txid.0.to_vec(), "result {i} carries its payment's txid");
        assert!(!result.duplicate);
        let receipt = streamed_receipt(result);
        assert_eq!(receipt.txid, txid);
        receipt.verify(&engine_key, &ledger.chain).expect("every streamed receipt verifies offline");
        assert!(sequences.insert(receipt.sequence), "sequence numbers are unique");
    }
    for shop in &shops {
        assert_eq!(ledger.balance(&shop.address()).await.total_minor, 100 * 100, "each shop got 100 payments of 100");
    }
    for wallet in wallets.iter().take(3) {
        let balance = ledger.balance(&wallet.address()).await;
        assert_eq!(balance.unspent_count, COINS_EACH as u64, "one change output per coin");
    }
    ledger.assert_supply(minted).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_payment_in_the_middle_does_not_end_the_stream() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[1_000, 1_000], "rows").await;
    let (requests, outbound) = tokio::sync::mpsc::channel(4);
    let mut results =
        ledger.client.payments.submit_payments(ReceiverStream::new(outbound)).await.expect("stream opens").into_inner();
    let send = |client_id: u64, tx: proto::Transaction| {
        let requests = requests.clone();
        async move {
            requests
                .send(proto::SubmitPaymentsRequest { client_id, transaction: Some(tx) })
                .await
                .expect("stream open");
        }
    };

    send(1, to_proto(&client::pay(&ledger.chain, &alice, coins[0], bob.address(), 10, b"one"))).await;
    let first = results.message().await.expect("result").expect("stream still open");
    assert_eq!(first.client_id, 1);
    streamed_receipt(&first);

    let mut bad = to_proto(&client::pay(&ledger.chain, &alice, coins[1], bob.address(), 10, b"bad"));
    bad.witnesses[0].signature[5] ^= 0xff;
    send(2, bad).await;
    let second = results.message().await.expect("result").expect("stream still open");
    assert_eq!(second.client_id, 2);
    assert_eq!(streamed_reason(&second), Reason::BadSignature);

    send(3, proto::Transaction::default()).await;
    let third = results.message().await.expect("result").expect("stream still open");
    assert_eq!(third.client_id, 3);
    assert_eq!(streamed_reason(&third), Reason::UnsupportedKind);
    assert!(third.txid.is_empty(), "an undecodable transaction has no txid");

    send(4, to_proto(&client::pay(&ledger.chain, &alice, coins[1], bob.address(), 10, b"four"))).await;
    let fourth = results.message().await.expect("result").expect("stream still open");
    assert_eq!(fourth.client_id, 4);
    streamed_receipt(&fourth);

    drop(requests);
    assert!(results.message().await.expect("clean end").is_none(), "the stream ends when the client closes it");
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 20);
    ledger.assert_supply(2_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txids_of_confirmed_payments_are_distinct_even_for_equal_payments_with_distinct_coins() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[500, 500], "rows").await;
    let first = client::pay(&ledger.chain, &alice, coins[0], bob.address(), 500, b"same-invoice");
    let second = client::pay(&ledger.chain, &alice, coins[1], bob.address(), 500, b"same-invoice");
    let (a, _) = ledger.client.submit(&first).await.expect("confirmed");
    let (b, duplicate) = ledger.client.submit(&second).await.expect("confirmed");
    assert!(!duplicate, "a payment of another coin is a new payment, whatever its reference");
    assert_ne!(a.txid, b.txid);
    assert_ne!(a.sequence, b.sequence);
    assert_eq!(ledger.balance(&bob.address()).await.total_minor, 1_000);
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}
