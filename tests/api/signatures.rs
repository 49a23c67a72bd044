//! Signatures verified in batches, over real gRPC: a stream mixing good,
//! bad and malformed signatures gets, for every payment, the answer single
//! verification gives it, and the good ones confirm; a terminal that sent
//! bad signatures is verified apart while other callers' payments are not,
//! and honest payments beside its flood confirm.

use crate::common;
use crate::metrics::{sample, scrape};

use common::{TestLedger, streamed_receipt, streamed_refusal, to_proto};
use settled::client::{self, Credential};
use settled::{Address, Keypair, KnownKeys, OutPoint, Output, Transaction, proto, verify_with};

/// 32 bytes that are not the x coordinate of a curve point (x = 5).
const OFF_CURVE: Address = {
    let mut x = [0u8; 32];
    x[31] = 5;
    Address(x)
};

/// How payment `n` of the mixed stream is signed.
fn spoiled(n: usize, mut tx: Transaction) -> Transaction {
    let signature = &mut tx.witnesses[0].signature;
    match n {
        // Alternating good and bad, then a run of bad ones.
        0..20 if n % 2 == 1 => signature[n] ^= 1,
        20..30 => signature[40] ^= 0x10,
        30 => tx.witnesses[0].public_key = OFF_CURVE,
        31 => signature[32..].fill(0xff),
        32 => signature[..32].fill(0xff),
        33 => signature[32..].fill(0),
        _ => {}
    }
    tx
}

async fn ledger_with_metrics() -> (TestLedger, std::net::SocketAddr) {
    let ledger = TestLedger::start_with(|config| {
        config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let address = ledger.server().metrics_addr().expect("metrics configured");
    (ledger, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_good_and_bad_signatures_gets_single_verifications_answers_and_its_caller_is_then_verified_apart() {
    const PAYMENTS: usize = 60;
    let (mut ledger, metrics) = ledger_with_metrics().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[1_000; PAYMENTS + 1], "batch-mixed").await;
    let txs: Vec<Transaction> = coins[..PAYMENTS]
        .iter()
        .enumerate()
        .map(|(n, coin)| {
            let reference = format!("mixed-{n}");
            spoiled(n, client::pay(&ledger.chain, &alice, *coin, shop.address(), 100, reference.as_bytes()))
        })
        .collect();
    let alone: Vec<_> = txs.iter().map(|tx| verify_with(tx.clone(), &KnownKeys::default(), &ledger.chain)).collect();
    assert_eq!(alone.iter().filter(|a| a.is_err()).count(), 10 + 10 + 4, "the stream's bad payments");

    let answers = ledger.submit_stream(txs.iter().enumerate().map(|(n, tx)| (n as u64, to_proto(tx))).collect()).await;
    for (n, expected) in alone.iter().enumerate() {
        let answer = &answers[&(n as u64)];
        match expected {
            Ok(vtx) => assert_eq!(streamed_receipt(answer).txid, vtx.txid, "payment {n} confirmed"),
            Err(refusal) => {
                let got = streamed_refusal(answer);
                assert_eq!(got.reason, proto::Reason::BadSignature as i32, "payment {n}");
                assert_eq!(got.message, refusal.detail, "payment {n}: the witness named as alone");
            }
        }
    }
    // Money: the good ones moved, nothing else did.
    let paid = alone.iter().filter(|a| a.is_ok()).count() as u64 * 100;
    assert_eq!(ledger.balance(&shop.address()).await.total_minor, paid);
    ledger.assert_supply(1_000 * (PAYMENTS as u64 + 1)).await;

    // This caller sent bad signatures: its next payment is verified singly,
    // and confirms.
    let singly_before = sample(&scrape(metrics, "/metrics").await, "settled_signatures_verified_singly_total");
    let last = client::pay(&ledger.chain, &alice, coins[PAYMENTS], shop.address(), 100, b"mixed-last");
    ledger.client.submit(&last).await.expect("a good payment of a suspect caller confirms");
    let singly_after = sample(&scrape(metrics, "/metrics").await, "settled_signatures_verified_singly_total");
    assert_eq!(singly_after - singly_before, 1.0, "verified apart from the batches");
}

const FLOODING_TERMINAL: &str = "flooding-terminal-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_flooding_bad_signatures_is_verified_apart_and_honest_payments_confirm() {
    const FLOOD: usize = 300;
    const HONEST: usize = 100;
    let (mut ledger, metrics) = ledger_with_metrics().await;
    let shop = ledger.merchant("flooded-shop", 5411).await;
    let terminal = proto::Terminal {
        id: "till-flood".into(),
        merchant_id: "flooded-shop".into(),
        credential_sha256: vec![settled::sha256(FLOODING_TERMINAL.as_bytes()).to_vec()],
        deactivated: false,
    };
    ledger
        .client
        .admin
        .register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) })
        .await
        .expect("terminal registered");
    let (mallory, alice) = (Keypair::generate(), Keypair::generate());
    let forged_coins = ledger.fund_coins(&mallory, &[10; FLOOD], "flood-coins").await;
    let honest_coins = ledger.fund_coins(&alice, &[10; HONEST], "honest-coins").await;
    let pay_all = |coins: &[(OutPoint, Output)], key: &Keypair, tag: &str| -> Vec<(u64, proto::Transaction)> {
        coins
            .iter()
            .enumerate()
            .map(|(n, coin)| {
                let mut tx =
                    client::pay(&ledger.chain, key, *coin, shop.address(), 10, format!("{tag}-{n}").as_bytes());
                if tag == "flood" {
                    tx.witnesses[0].signature[10] ^= 0x04;
                }
                (n as u64, to_proto(&tx))
            })
            .collect()
    };
    let flood = pay_all(&forged_coins, &mallory, "flood");
    let honest = pay_all(&honest_coins, &alice, "honest");
    let singly = async || sample(&scrape(metrics, "/metrics").await, "settled_signatures_verified_singly_total");
    let attacker = ledger.client.with_credential(Credential::token(FLOODING_TERMINAL));
    let flooding = |requests: Vec<(u64, proto::Transaction)>| {
        let mut attacker = attacker.clone();
        tokio::spawn(async move {
            let requests = requests
                .into_iter()
                .map(|(client_id, tx)| proto::SubmitPaymentsRequest { client_id, transaction: Some(tx) });
            let mut inbound = attacker
                .payments
                .submit_payments(tokio_stream::iter(requests))
                .await
                .expect("stream opens")
                .into_inner();
            let mut refused = 0;
            while let Some(response) = inbound.message().await.expect("stream item") {
                assert_eq!(streamed_refusal(&response).reason, proto::Reason::BadSignature as i32);
                refused += 1;
            }
            refused
        })
    };

    // The flood alone: once its first batches failed, the terminal's
    // signatures are verified singly.
    let before_flood = singly().await;
    assert_eq!(flooding(flood.clone()).await.expect("the flood's stream"), FLOOD, "every forged payment refused");
    let flood_singly = singly().await - before_flood;
    assert!(flood_singly > 0.0, "the flooding terminal was verified singly");
    assert!(flood_singly <= FLOOD as f64, "{flood_singly}");

    // Another caller meanwhile is not: its payments go into batches and
    // confirm.
    let (first_half, second_half) = honest.split_at(HONEST / 2);
    let before_honest = singly().await;
    let answers = ledger.submit_stream(first_half.to_vec()).await;
    assert!(answers.values().all(|a| streamed_receipt(a).sequence > 0), "every honest payment confirms");
    assert_eq!(singly().await, before_honest, "no honest signature verified singly");

    // Both at once: the honest payments confirm beside the flood, and
    // whatever is verified singly is the flood's.
    let before_both = singly().await;
    let flooding_again = flooding(flood);
    let answers = ledger.submit_stream(second_half.to_vec()).await;
    assert_eq!(answers.len(), HONEST - HONEST / 2);
    assert!(answers.values().all(|a| streamed_receipt(a).sequence > 0), "every honest payment confirms");
    assert_eq!(flooding_again.await.expect("the flood's stream"), FLOOD, "every forged payment refused again");
    assert!(singly().await - before_both <= FLOOD as f64, "only the flood's signatures singly");
    assert_eq!(ledger.balance(&shop.address()).await.total_minor, 10 * HONEST as u64);
    assert_eq!(ledger.balance(&mallory.address()).await.total_minor, 10 * FLOOD as u64, "nothing of the flood moved");
}
