//! Refunds: a merchant pays back all or part of a payment it took, signed by
//! its payout key and naming the payment. Earmarked money goes back to the
//! payer as the same programme's money (even when the programme is not
//! transferable), within the programme's refund window; once the programme
//! has ended, to its treasury. The refunds of one payment never exceed it,
//! across restarts and concurrent refunds; every refund that breaks a rule
//! is refused with its reason and changes nothing; banks' streams,
//! statements and programme statistics show refunds as refunds.

use crate::common;

use common::{TestLedger, assert_refusal};
use settled::client::{self, output};
use settled::{Keypair, OutPoint, Output, Transaction, TxId, proto};
use tonic::Code;

const FOOD: u32 = 41;
const NO_REFUNDS: u32 = 42;
const DAY_MS: u64 = 86_400_000;
const WINDOW_DAYS: u64 = 30;

/// A food programme (grocery, not transferable, refunds within 30 days,
/// ending in `days` days) and one allowing no refunds.
async fn programmes(ledger: &mut TestLedger, treasury: &Keypair, days: u64) {
    let now = ledger.clock.now_unix_ms();
    for (id, window_days) in [(FOOD, WINDOW_DAYS), (NO_REFUNDS, 0)] {
        ledger
            .programme_with(proto::Programme {
                id,
                name: format!("programme {id}"),
                allowed_mccs: vec![5411],
                valid_from_unix_ms: 0,
                valid_until_unix_ms: now + days * DAY_MS,
                transferable: false,
                treasury_address: if id == FOOD { treasury.address() } else { Keypair::generate().address() }
                    .0
                    .to_vec(),
                per_payment_max_minor: 0,
                payment_period: 0,
                refund_window_ms: window_days * DAY_MS,
            })
            .await;
    }
}

/// A beneficiary holding `amount_minor` of `programme`, who pays `amount_paid`
/// of it at `merchant`: the payment and the merchant's takings.
async fn purchase(
    ledger: &mut TestLedger,
    payer: &Keypair,
    merchant: &Keypair,
    programme: u32,
    amount_paid: u64,
    tag: &str,
) -> (Transaction, (OutPoint, Output)) {
    let coin = ledger.mint_outputs(vec![output(payer.address(), 50_000, programme)], &format!("grant-{tag}")).await;
    let payment = client::pay(&ledger.chain, payer, coin[0], merchant.address(), amount_paid, tag.as_bytes());
    ledger.client.submit(&payment).await.expect("the purchase is confirmed");
    let takings = client::output_of(&payment, 0);
    (payment, takings)
}

fn txid(tx: &Transaction) -> TxId {
    settled::txid(tx)
}

async fn stats(ledger: &mut TestLedger, programme: u32) -> proto::GetProgrammeStatsResponse {
    let request = proto::GetProgrammeStatsRequest { programme_id: programme };
    ledger.client.admin.get_programme_stats(request).await.expect("stats").into_inner()
}

async fn held(ledger: &mut TestLedger, owner: &Keypair, programme: u32) -> u64 {
    let balance = ledger.balance(&owner.address()).await;
    balance.balances.iter().filter(|b| b.programme_id == programme).map(|b| b.amount_minor).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grocery_refunds_food_money_to_the_payer_as_food_money_never_more_than_was_paid() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programmes(&mut ledger, &treasury, 90).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    let (payment, takings) = purchase(&mut ledger, &mei, &grocer, FOOD, 3_000, "p1").await;
    let paid = txid(&payment);
    assert_eq!(held(&mut ledger, &mei, FOOD).await, 47_000);

    // 10.00 back: as food money, though the programme is not transferable.
    let first = client::refund(&ledger.chain, &grocer, &[takings], &paid, mei.address(), &[(FOOD, 1_000)]);
    ledger.client.submit(&first).await.expect("refunded");
    assert_eq!(held(&mut ledger, &mei, FOOD).await, 48_000);
    // The rest, from the change of the first refund.
    let change = client::output_of(&first, 1);
    let second = client::refund(&ledger.chain, &grocer, &[change], &paid, mei.address(), &[(FOOD, 2_000)]);
    ledger.client.submit(&second).await.expect("refunded in full");
    assert_eq!(held(&mut ledger, &mei, FOOD).await, 50_000);
    // Not a unit more, even from the grocer's own money.
    let cash = ledger.mint_outputs(vec![output(grocer.address(), 10_000, 0)], "grocer-cash").await;
    let third = client::refund(&ledger.chain, &grocer, &[cash[0]], &paid, mei.address(), &[(FOOD, 1)]);
    let status = ledger.client.submit(&third).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::RefundExceedsPayment);

    let food = stats(&mut ledger, FOOD).await;
    assert_eq!((food.refunded_minor, food.spent_minor, food.disbursed_minor), (3_000, 3_000, 50_000));
    assert_eq!(food.outstanding_minor, 50_000, "what was refunded is the beneficiary's again");
    ledger.assert_supply(60_000).await;

    // The refund survives a restart: still nothing left to refund.
    ledger.restart().await;
    let status = ledger.client.submit(&third).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::RefundExceedsPayment);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_that_break_a_rule_are_refused_with_their_reason_and_change_nothing() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programmes(&mut ledger, &treasury, 90).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let baker = ledger.merchant("baker", 5411).await;
    let (mei, li) = (Keypair::generate(), Keypair::generate());
    let (payment, takings) = purchase(&mut ledger, &mei, &grocer, FOOD, 3_000, "p1").await;
    let paid = txid(&payment);
    let (other_payment, _) = purchase(&mut ledger, &li, &baker, FOOD, 500, "p2").await;
    let (no_refunds, no_refunds_takings) = purchase(&mut ledger, &li, &grocer, NO_REFUNDS, 700, "p3").await;
    let refund_one = client::refund(&ledger.chain, &grocer, &[takings], &paid, mei.address(), &[(FOOD, 100)]);
    ledger.client.submit(&refund_one).await.expect("a valid refund");
    let change = client::output_of(&refund_one, 1);
    let cash = ledger.mint_outputs(vec![output(grocer.address(), 1_000, 0)], "grocer-cash").await;
    let chain = ledger.chain;
    let refund = |to: settled::Address, payment: &TxId, parts: &[(u32, u64)]| {
        client::refund(&chain, &grocer, &[change], payment, to, parts)
    };
    // A refund of the change (2,900 food) with the outputs given.
    let with_outputs = |outputs: Vec<Output>| {
        let mut tx = client::refund(&chain, &grocer, &[change], &paid, mei.address(), &[(FOOD, 1)]);
        tx.outputs = outputs;
        tx.witnesses.clear();
        client::sign(&mut tx, &chain, &[&grocer]);
        tx
    };
    let mut tampered = refund(mei.address(), &paid, &[(FOOD, 100)]);
    tampered.reference.pop();
    client::sign(&mut tampered, &chain, &[&grocer]);
    let by_a_wallet =
        client::refund(&chain, &mei, &[client::output_of(&refund_one, 0)], &paid, mei.address(), &[(FOOD, 100)]);
    let cases: Vec<(&str, Transaction, Code, proto::Reason)> = vec![
        ("a reference of 31 bytes", tampered, Code::InvalidArgument, proto::Reason::Malformed),
        (
            "a transaction that never was",
            refund(mei.address(), &TxId([7; 32]), &[(FOOD, 100)]),
            Code::FailedPrecondition,
            proto::Reason::UnknownPayment,
        ),
        (
            "a payment to another merchant",
            refund(li.address(), &txid(&other_payment), &[(FOOD, 100)]),
            Code::FailedPrecondition,
            proto::Reason::NotRefundable,
        ),
        (
            "a refund",
            refund(mei.address(), &txid(&refund_one), &[(FOOD, 100)]),
            Code::FailedPrecondition,
            proto::Reason::NotRefundable,
        ),
        (
            "to someone other than the payer",
            refund(li.address(), &paid, &[(FOOD, 100)]),
            Code::FailedPrecondition,
            proto::Reason::PayeeNotAllowed,
        ),
        (
            "more than is left",
            client::refund(&chain, &grocer, &[change, cash[0]], &paid, mei.address(), &[(FOOD, 2_901)]),
            Code::FailedPrecondition,
            proto::Reason::RefundExceedsPayment,
        ),
        (
            "a programme the payment did not pay",
            with_outputs(vec![output(mei.address(), 100, 0), output(grocer.address(), 2_800, FOOD)]),
            Code::FailedPrecondition,
            proto::Reason::RefundExceedsPayment,
        ),
        (
            "to the treasury while the programme runs",
            with_outputs(vec![output(treasury.address(), 100, 0), output(grocer.address(), 2_800, FOOD)]),
            Code::FailedPrecondition,
            proto::Reason::PayeeNotAllowed,
        ),
        (
            "part of it to another merchant",
            with_outputs(vec![output(mei.address(), 100, FOOD), output(baker.address(), 2_800, FOOD)]),
            Code::FailedPrecondition,
            proto::Reason::PayeeNotAllowed,
        ),
        (
            "food money paid back as unrestricted money",
            with_outputs(vec![output(mei.address(), 100, 0), output(grocer.address(), 2_800, FOOD)]),
            Code::FailedPrecondition,
            proto::Reason::RefundExceedsPayment,
        ),
        (
            "change of a programme the merchant did not spend",
            with_outputs(vec![output(mei.address(), 100, FOOD), output(grocer.address(), 2_800, 0)]),
            Code::FailedPrecondition,
            proto::Reason::NotConserved,
        ),
        (
            "more paid out than spent",
            with_outputs(vec![output(mei.address(), 100, FOOD), output(grocer.address(), 2_801, FOOD)]),
            Code::FailedPrecondition,
            proto::Reason::NotConserved,
        ),
        (
            "of a programme allowing no refunds",
            client::refund(
                &chain,
                &grocer,
                &[no_refunds_takings],
                &txid(&no_refunds),
                li.address(),
                &[(NO_REFUNDS, 1)],
            ),
            Code::FailedPrecondition,
            proto::Reason::RefundWindowClosed,
        ),
        ("by a wallet", by_a_wallet, Code::FailedPrecondition, proto::Reason::NotAMerchant),
    ];
    let height = ledger.tip().await.height;
    for (what, tx, code, reason) in cases {
        let status = ledger.client.submit(&tx).await.expect_err(what);
        assert_eq!((status.code(), client::status_reason(&status)), (code, Some(reason)), "{what}: {status:?}");
    }
    assert_eq!(ledger.tip().await.height, height, "nothing refused was sequenced");

    // After the window: refused; the same refund inside it was valid.
    let late = refund(mei.address(), &paid, &[(FOOD, 100)]);
    ledger.clock.skew_by_ms(i64::try_from((WINDOW_DAYS + 1) * DAY_MS).expect("fits"));
    let status = ledger.client.submit(&late).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::RefundWindowClosed);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_programme_ends_a_refund_goes_to_its_treasury_as_unrestricted_money() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programmes(&mut ledger, &treasury, 10).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    let (payment, takings) = purchase(&mut ledger, &mei, &grocer, FOOD, 3_000, "p1").await;
    let paid = txid(&payment);
    ledger.clock.skew_by_ms(i64::try_from(11 * DAY_MS).expect("fits"));
    let to_payer = client::refund(&ledger.chain, &grocer, &[takings], &paid, mei.address(), &[(FOOD, 500)]);
    let status = ledger.client.submit(&to_payer).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::PayeeNotAllowed);
    let mut to_treasury = to_payer.clone();
    to_treasury.outputs = vec![output(treasury.address(), 500, 0), output(grocer.address(), 2_500, FOOD)];
    to_treasury.witnesses.clear();
    client::sign(&mut to_treasury, &ledger.chain, &[&grocer]);
    ledger.client.submit(&to_treasury).await.expect("refunded to the treasury");
    assert_eq!(held(&mut ledger, &treasury, 0).await, 500);
    let food = stats(&mut ledger, FOOD).await;
    assert_eq!((food.refunded_minor, food.refunded_to_treasury_minor), (0, 500));
    ledger.assert_supply(50_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_of_one_payment_never_add_up_to_more_than_it() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programmes(&mut ledger, &treasury, 90).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    let (payment, _) = purchase(&mut ledger, &mei, &grocer, FOOD, 3_000, "p1").await;
    let paid = txid(&payment);
    // Eight refunds of 1,000 each, from eight coins of the grocer's own
    // unrestricted money, at once: three fit.
    let coins = ledger.mint_outputs((0..8).map(|_| output(grocer.address(), 1_000, 0)).collect(), "cash").await;
    let mut calls = tokio::task::JoinSet::new();
    for coin in coins {
        let tx = client::refund(&ledger.chain, &grocer, &[coin], &paid, mei.address(), &[(FOOD, 1_000)]);
        let mut client = ledger.client.clone();
        calls.spawn(async move { client.submit(&tx).await });
    }
    let (mut refunded, mut refused) = (0, 0);
    while let Some(joined) = calls.join_next().await {
        match joined.expect("joins") {
            Ok(_) => refunded += 1,
            Err(status) => {
                assert_refusal(&status, Code::FailedPrecondition, proto::Reason::RefundExceedsPayment);
                refused += 1;
            }
        }
    }
    assert_eq!((refunded, refused), (3, 5));
    assert_eq!(held(&mut ledger, &mei, FOOD).await, 50_000);
    assert_eq!(stats(&mut ledger, FOOD).await.refunded_minor, 3_000);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banks_see_a_refund_as_a_refund_in_their_stream_and_statement() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programmes(&mut ledger, &treasury, 90).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    ledger.wallet(&mei, 3).await;
    let (payment, takings) = purchase(&mut ledger, &mei, &grocer, FOOD, 3_000, "p1").await;
    let refund = client::refund(&ledger.chain, &grocer, &[takings], &txid(&payment), mei.address(), &[(FOOD, 1_200)]);
    let (receipt, _) = ledger.client.submit(&refund).await.expect("refunded");
    let tip = ledger.tip().await.height;
    let request = proto::SubscribeRequest {
        bank: common::TEST_BANK.into(),
        after_sequence: 0,
        until_height: Some(tip),
        after_height: None,
    };
    let mut stream = ledger.client.reconciliation.subscribe(request).await.expect("subscribed").into_inner();
    let mut refunds = Vec::new();
    while let Some(response) = stream.message().await.expect("streams") {
        if let Some(proto::subscribe_response::Item::Movement(movement)) = response.item
            && movement.kind == proto::MovementKind::Refund as i32
        {
            refunds.push(movement);
        }
    }
    // One movement at the test bank, the grocer debited and the wallet credited.
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let movement = &refunds[0];
    assert_eq!(movement.sequence, receipt.sequence);
    assert_eq!(movement.merchant, "grocer");
    let mut entries: Vec<(i32, u64)> = movement.entries.iter().map(|e| (e.direction, e.amount_minor)).collect();
    entries.sort_unstable();
    assert_eq!(entries, vec![(proto::Direction::Credit as i32, 1_200), (proto::Direction::Debit as i32, 1_200)]);

    let request = proto::GetStatementRequest {
        bank: common::TEST_BANK.into(),
        date: ledger.today(),
        format: proto::StatementFormat::Camt053.into(),
    };
    let mut chunks = ledger.client.reconciliation.get_statement(request).await.expect("statement").into_inner();
    let mut xml = Vec::new();
    while let Some(chunk) = chunks.message().await.expect("chunks") {
        xml.extend_from_slice(&chunk.data);
    }
    let xml = String::from_utf8(xml).expect("UTF-8");
    // Both sides of the refund carry the ISO code of a returned payment.
    assert_eq!(xml.matches("<SubFmlyCd>RRTN</SubFmlyCd>").count(), 2, "{xml}");
    assert!(xml.contains("<Cd>RCDT</Cd>") && xml.contains("<Cd>ICDT</Cd>"), "{xml}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refunds_a_payment_to_its_payer_and_refuses_more_than_was_paid() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programmes(&mut ledger, &treasury, 90).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    let (payment, _) = purchase(&mut ledger, &mei, &grocer, FOOD, 3_000, "p1").await;
    ledger.mint_outputs(vec![output(grocer.address(), 10_000, 0)], "grocer-cash").await;
    let key_file = ledger.data_dir().join("grocer.key");
    settled::write_secret_key(&key_file, &grocer).expect("key written");
    let (url, token_file) = (ledger.server().url(), ledger.data_dir().join("dev.token"));
    let refund = |amount: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(["refund", "--payment", &txid(&payment).to_string(), "--amount", amount])
            .arg("--merchant-key-file")
            .arg(&key_file)
            .args(["--server", &url])
            .arg("--token-file")
            .arg(&token_file)
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER")
            .output()
            .expect("runs")
    };
    let done = refund("12.50");
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success() && out.contains("refunded 12.50 of programme 41"), "{out} {done:?}");
    assert_eq!(held(&mut ledger, &mei, FOOD).await, 48_250);
    let refused = refund("17.51");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("REASON_REFUND_EXCEEDS_PAYMENT"), "{err}");
    assert!(refund("17.50").status.success(), "the rest of the payment");
    assert_eq!(held(&mut ledger, &mei, FOOD).await, 50_000);
    ledger.shutdown().await;
}
