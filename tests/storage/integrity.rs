//! Integrity at rest: one bit flipped in a stored transaction, in the raw
//! bytes of `ledger.redb` as a failing disk or a stray write would leave it,
//! is never served. The check at open finds it in every block written since
//! the last clean shutdown (and the last `OPEN_CHECK_RECENT_BLOCKS`); in an
//! older block, any read that serves the transaction finds it, answers
//! `DATA_LOSS` and stops the engine; `settled audit --data-dir` finds it in
//! a stopped server's file and exits non-zero.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::TestLedger;
use settled::limits::OPEN_CHECK_RECENT_BLOCKS;
use settled::{Config, Keypair, Server, Transaction, client, proto};

/// Where in a one-input record a bit is flipped: the last byte of the first
/// output's amount (inside the txid), or a byte of the witness's signature
/// (outside it).
const IN_THE_AMOUNT: usize = 4 + 1 + 1 + 2 + 36 + 2 + 32 + 7;
fn in_the_signature(tx: &Transaction) -> usize {
    settled::tx_canonical_bytes(tx).len() + 1 + 32 + 10
}

/// Flips one bit of `tx`'s stored record at `offset`, in the raw file: the
/// record is written once, verbatim, in a leaf page of the `txs` table.
fn flip_a_bit_of(file: &Path, tx: &Transaction, offset: usize) {
    let record = settled::tx_record_bytes(tx);
    let mut bytes = std::fs::read(file).expect("readable");
    let found: Vec<usize> =
        bytes.windows(record.len()).enumerate().filter(|(_, w)| *w == record.as_slice()).map(|(at, _)| at).collect();
    assert_eq!(found.len(), 1, "the record is in the file once");
    bytes[found[0] + offset] ^= 0x04;
    std::fs::write(file, bytes).expect("writable");
}

/// `tx` as its record reads with the bit at `offset` flipped.
fn flipped(tx: &Transaction, offset: usize) -> Transaction {
    let mut record = settled::tx_record_bytes(tx);
    record[offset] ^= 0x04;
    settled::decode_tx_record(&record).expect("still a record")
}

fn offline_audit(data_dir: &Path, extra: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["audit", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .expect("settled runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_in_a_stored_transaction_is_never_served() {
    let mut ledger = TestLedger::start().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 50_000, "row-1").await;
    let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 1_234, b"inv-1");
    let (receipt, _) = ledger.client.submit(&payment).await.expect("paid");
    let file = ledger.data_dir().join("ledger.redb");
    let chain = ledger.chain.to_string();
    ledger.server.take().expect("running").shutdown().await;

    // A sound file passes the offline audit, pinned to its own chain; pinned
    // to another it is refused.
    let (passed, text) = offline_audit(&ledger.data_dir(), &["--chain-id", &chain]);
    assert!(passed, "{text}");
    assert!(text.contains("audited"), "{text}");
    let (passed, text) = offline_audit(&ledger.data_dir(), &["--chain-id", &"00".repeat(32)]);
    assert!(!passed && text.contains("is not the pinned"), "{text}");

    // The payment's block is within the check at open: the server refuses
    // the file, naming the transaction; the offline audit fails on it. A
    // bit of its amount (inside the txid) or of its witness's signature
    // (outside it) alike.
    let damage =
        format!("transaction {} ({}): its stored bytes do not match their checksum", receipt.sequence, receipt.txid);
    for offset in [IN_THE_AMOUNT, in_the_signature(&payment)] {
        flip_a_bit_of(&file, &payment, offset);
        let Err(error) = Server::start(Config::for_data_dir(ledger.data_dir())).await else {
            panic!("a server must not start on a damaged file");
        };
        assert!(error.to_string().contains(&damage), "{error}");
        let (passed, text) = offline_audit(&ledger.data_dir(), &[]);
        assert!(!passed, "{text}");
        assert!(text.contains(&damage), "{text}");
        // Repaired.
        flip_a_bit_of(&file, &flipped(&payment, offset), offset);
    }

    // Buried deeper than the check at open reaches, a bit of the witness
    // flipped: the server starts, and the first read that would serve the
    // transaction finds it, answers DATA_LOSS and stops.
    ledger.restart_stopped().await;
    let mut change = client::output_of(&payment, 1);
    for i in 0..OPEN_CHECK_RECENT_BLOCKS {
        let more = client::pay(&ledger.chain, &alice, change, shop.address(), 1, format!("more-{i}").as_bytes());
        ledger.client.submit(&more).await.expect("paid");
        change = client::output_of(&more, 1);
    }
    ledger.server.take().expect("running").shutdown().await;
    flip_a_bit_of(&file, &payment, in_the_signature(&payment));
    ledger.restart_stopped().await;
    let status = ledger
        .client
        .payments
        .get_payment(proto::GetPaymentRequest { txid: receipt.txid.0.to_vec() })
        .await
        .expect_err("a damaged transaction is not served");
    assert_eq!(status.code(), tonic::Code::DataLoss, "{status:?}");
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Endpoint::from_shared(ledger.server().url()).expect("url").connect().await.expect("connects"),
    );
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers")
        .into_inner()
        .status;
    assert_eq!(serving, tonic_health::pb::health_check_response::ServingStatus::NotServing as i32);
    let later = client::pay(&ledger.chain, &alice, change, shop.address(), 1, b"after the damage");
    let status = ledger.client.submit(&later).await.expect_err("a stopped engine confirms nothing");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    ledger.shutdown().await;
}
