//! Stopping a server while a terminal keeps a payment stream open: the
//! stream stops taking payments, answers what it admitted and ends; the
//! server stops and the data file reopens with everything confirmed.

use crate::common;

use std::time::Duration;

use common::TestLedger;
use settled::client;
use settled::{Keypair, proto};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// Far above any real shutdown; only a hang reaches it.
const HANG: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_payment_streams_instead_of_waiting_for_them() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let coin = ledger.fund(&alice, 10_000, "row").await;
    let payment = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 1_000, b"inv");

    let (requests, outbound) = mpsc::channel(4);
    let mut inbound =
        ledger.client.payments.submit_payments(ReceiverStream::new(outbound)).await.expect("stream opens").into_inner();
    requests
        .send(proto::SubmitPaymentsRequest { client_id: 1, transaction: Some(client::transaction_to_proto(&payment)) })
        .await
        .expect("sent");
    let first = inbound.next().await.expect("an answer").expect("not an error");
    assert!(matches!(first.result, Some(proto::submit_payments_response::Result::Receipt(_))));

    // The terminal keeps `requests` open: the stream is idle but alive.
    let server = ledger.server.take().expect("running");
    tokio::time::timeout(HANG, server.shutdown()).await.expect("shutdown does not wait for the idle stream");
    let end = tokio::time::timeout(HANG, inbound.next()).await.expect("the stream ends");
    assert!(!matches!(end, Some(Ok(_))), "no further results after shutdown: {end:?}");
    drop(requests);

    ledger.restart_stopped().await;
    let (receipt, duplicate) = ledger.client.submit(&payment).await.expect("still confirmed");
    assert!(duplicate, "the payment confirmed before the shutdown is in the reopened ledger");
    assert_eq!(receipt.txid, settled::txid(&payment));
    ledger.shutdown().await;
}
