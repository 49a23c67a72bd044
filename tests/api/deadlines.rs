//! Deadlines over real gRPC: a call's `grpc-timeout` ends it. A response
//! stream (bank stream, payment stream) ends at its deadline with
//! `DEADLINE_EXCEEDED` and gives its slot back; a unary payment whose
//! deadline passes is either confirmed or not applied at all, never half,
//! and resubmitting it settles which.

use crate::common;

use std::time::{Duration, Instant};

use common::{HANG_GUARD, TestLedger, to_proto, wait_until};
use settled::client;
use settled::limits::BANK_STREAMS_PER_BANK_MAX;
use settled::{Keypair, proto};
use tonic::Code;

/// The deadline the streams here are given.
const STREAM_DEADLINE: Duration = Duration::from_millis(400);

/// Reads `stream` to its end: the error status that ended it, if any. How
/// soon after its deadline it ends is not measured (a loaded machine may be
/// slow); only a stream that never ends fails, after [`HANG_GUARD`].
async fn final_status<T>(stream: &mut tonic::Streaming<T>) -> Option<tonic::Status> {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(status) => return Some(status),
            }
        }
    })
    .await
    .expect("hung: the stream never ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_streams_end_at_their_deadline_and_give_their_slots_back() {
    let mut ledger = TestLedger::start().await;
    ledger.bank("bank-d").await;
    let started = Instant::now();
    let mut streams = Vec::new();
    for _ in 0..BANK_STREAMS_PER_BANK_MAX {
        let mut request = tonic::Request::new(proto::SubscribeRequest { bank: "bank-d".into(), ..Default::default() });
        request.set_timeout(STREAM_DEADLINE);
        streams.push(ledger.client.reconciliation.subscribe(request).await.expect("within the limit").into_inner());
    }
    for stream in &mut streams {
        let status = final_status(stream).await.expect("ended by an error status");
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    assert!(started.elapsed() >= STREAM_DEADLINE, "not before the deadline");
    // The ended streams' slots come back (the client still holds them),
    // once the server has seen them end: retried until then.
    let came_back = tokio::time::timeout(HANG_GUARD, async {
        loop {
            let request = proto::SubscribeRequest { bank: "bank-d".into(), ..Default::default() };
            match ledger.client.reconciliation.subscribe(request).await {
                Ok(_) => return,
                Err(status) if status.code() == Code::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(status) => panic!("a subscription within the limit refused: {status:?}"),
            }
        }
    })
    .await;
    assert!(came_back.is_ok(), "hung: the slots of streams past their deadline never came back");
    drop(streams);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_stream_answers_what_it_took_and_ends_at_its_deadline() {
    let mut ledger = TestLedger::start().await;
    let payer = Keypair::generate();
    let coin = ledger.fund(&payer, 1_000, "deadline-stream").await;
    let shop = Keypair::generate().address();
    let (sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(4);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(receiver));
    request.set_timeout(STREAM_DEADLINE);
    let mut stream = ledger.client.payments.submit_payments(request).await.expect("opens").into_inner();
    let tx = client::pay(&ledger.chain, &payer, coin, shop, 100, b"before the deadline");
    sender.send(proto::SubmitPaymentsRequest { client_id: 1, transaction: Some(to_proto(&tx)) }).await.expect("sent");
    let answer = stream.message().await.expect("an item").expect("not the end");
    assert!(matches!(answer.result, Some(proto::submit_payments_response::Result::Receipt(_))), "{answer:?}");
    // The terminal keeps its request side open; the deadline ends the call.
    let status = final_status(&mut stream).await.expect("ended by an error status");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let engine = std::sync::Arc::clone(ledger.server().engine());
    wait_until("the server closing the stream past its deadline", || engine.metrics().payment_streams.get() == 0).await;
    drop(sender);
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_past_its_deadline_is_applied_once_or_not_at_all() {
    let mut ledger = TestLedger::start().await;
    let payer = Keypair::generate();
    let coins = ledger.fund_coins(&payer, &[1_000; 30], "deadline-unary").await;
    let shop = Keypair::generate().address();
    let payments: Vec<_> = coins
        .iter()
        .enumerate()
        .map(|(n, coin)| client::pay(&ledger.chain, &payer, *coin, shop, 10 + n as u64, format!("d-{n}").as_bytes()))
        .collect();
    let mut cancelled = 0;
    for tx in &payments {
        let mut request = tonic::Request::new(proto::SubmitPaymentRequest { transaction: Some(to_proto(tx)) });
        // Far shorter than a durable commit.
        request.set_timeout(Duration::from_micros(1));
        match ledger.client.payments.submit_payment(request).await {
            Ok(_) => {}
            Err(status) => {
                assert!(matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded), "{status:?}");
                cancelled += 1;
            }
        }
    }
    assert!(cancelled > 0, "a 1 us deadline ends some calls before their commit");
    // Without a deadline, each is confirmed exactly once: the ones that
    // made it before come back as duplicates of their receipts.
    let mut sequences = std::collections::BTreeSet::new();
    for tx in &payments {
        let (receipt, _) = ledger.client.submit(tx).await.expect("confirmed");
        assert!(sequences.insert(receipt.sequence), "one sequence per payment");
    }
    let paid: u64 = (0..30).map(|n| 10 + n).sum();
    assert_eq!(ledger.balance(&shop).await.total_minor, paid, "every payment applied exactly once");
    assert_eq!(ledger.balance(&payer.address()).await.total_minor, 30_000 - paid);
    ledger.assert_supply(30_000).await;
    ledger.shutdown().await;
}
