//! Overload and slow clients over real gRPC: a full verify queue refuses
//! quickly with a retry hint, streams per participant are bounded, and a
//! client that stops reading its stream is cut off after the stall timeout
//! so that it holds nothing for ever.

use crate::common;

use std::time::Duration;

use common::{TestLedger, assert_refusal, to_proto, wait_until};
use settled::client::{self, Client, Credential};
use settled::limits::{BANK_STREAMS_PER_BANK_MAX, PAYMENT_STREAMS_PER_PARTICIPANT_MAX};
use settled::{Keypair, proto};
use tonic::Code;
use tonic_types::StatusExt;

const STALL: Duration = Duration::from_millis(300);

/// A client whose HTTP/2 receive window is tiny, so that a server sending
/// to it while it does not read blocks after a kilobyte.
async fn slow_reader(ledger: &TestLedger) -> Client {
    let channel = tonic::transport::Endpoint::from_shared(ledger.server().url())
        .expect("url")
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .expect("connects");
    Client::from_channel(channel, Credential::token(&common::dev_token(&ledger.data_dir())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_verify_queue_refuses_at_once_with_resource_exhausted_and_a_retry_hint() {
    let mut ledger =
        TestLedger::start_adjusted(|config| config.verify_threads = 1, |rigs| rigs.verify_queue_max = Some(1)).await;
    let payer = Keypair::generate();
    let coins = ledger.fund_coins(&payer, &[100; 64], "overload").await;
    let shop = Keypair::generate().address();
    let calls = coins.iter().enumerate().map(|(n, coin)| {
        let mut client = ledger.client.clone();
        let tx = client::pay(&ledger.chain, &payer, *coin, shop, 10, format!("o-{n}").as_bytes());
        async move { client.submit(&tx).await }
    });
    let outcomes = futures::future::join_all(calls).await;
    let refused: Vec<&tonic::Status> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let confirmed = outcomes.iter().filter(|o| o.is_ok()).count();
    assert!(!refused.is_empty(), "64 payments at once through a queue of 1 overflow it");
    assert!(confirmed > 0, "what was admitted is confirmed");
    for status in &refused {
        assert_refusal(status, Code::ResourceExhausted, proto::Reason::Overloaded);
        let retry = status.get_details_retry_info().expect("a retry hint");
        assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
    }
    // Refused means not applied: retrying the refused ones confirms them.
    for (n, coin) in coins.iter().enumerate() {
        let tx = client::pay(&ledger.chain, &payer, *coin, shop, 10, format!("o-{n}").as_bytes());
        loop {
            match ledger.client.submit(&tx).await {
                Ok(_) => break,
                Err(status) if status.code() == Code::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(status) => panic!("{status:?}"),
            }
        }
    }
    ledger.assert_supply(6_400).await;
    ledger.shutdown().await;
}

/// A stream over its limit: RESOURCE_EXHAUSTED with `REASON_TOO_MANY_STREAMS`
/// in `ErrorInfo` and a retry hint in `RetryInfo` (RELIABILITY.md, promise 6).
fn assert_stream_limit(status: &tonic::Status) {
    assert_refusal(status, Code::ResourceExhausted, proto::Reason::TooManyStreams);
    let hint = status.get_details_retry_info().and_then(|info| info.retry_delay).expect("a retry hint");
    assert_eq!(hint, std::time::Duration::from_millis(u64::from(settled::limits::STREAM_LIMIT_RETRY_AFTER_MS)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_holds_at_most_its_limit_of_streams_and_gets_a_slot_back_when_one_closes() {
    let mut ledger = TestLedger::start().await;
    ledger.bank("bank-s").await;
    let mut open = Vec::new();
    for _ in 0..PAYMENT_STREAMS_PER_PARTICIPANT_MAX {
        let (sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(1);
        let stream = ledger
            .client
            .payments
            .submit_payments(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .expect("within the limit");
        open.push((sender, stream));
    }
    let (_sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(1);
    let over = ledger.client.payments.submit_payments(tokio_stream::wrappers::ReceiverStream::new(receiver)).await;
    assert_stream_limit(&over.expect_err("one stream too many"));
    // Closing one (the client ends its requests) frees a slot.
    let (sender, mut stream) = open.pop().expect("one");
    drop(sender);
    while stream.get_mut().message().await.ok().flatten().is_some() {}
    let engine = std::sync::Arc::clone(ledger.server().engine());
    let limit = i64::try_from(PAYMENT_STREAMS_PER_PARTICIPANT_MAX).unwrap();
    wait_until("the closed stream's slot coming back", || engine.metrics().payment_streams.get() < limit).await;
    let (_sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(1);
    ledger
        .client
        .payments
        .submit_payments(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("a slot came back");

    let mut banks = Vec::new();
    for _ in 0..BANK_STREAMS_PER_BANK_MAX {
        let request = proto::SubscribeRequest { bank: "bank-s".into(), ..Default::default() };
        banks.push(ledger.client.reconciliation.subscribe(request).await.expect("within the limit"));
    }
    let request = proto::SubscribeRequest { bank: "bank-s".into(), ..Default::default() };
    let over = ledger.client.reconciliation.subscribe(request).await;
    assert_stream_limit(&over.expect_err("one bank stream too many"));
    drop(open);
    drop(banks);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_that_stops_reading_its_stream_is_cut_off_after_the_stall_timeout() {
    let mut ledger = TestLedger::start_rigged(|rigs| rigs.stream_stall_timeout = Some(STALL)).await;
    ledger.bank("bank-slow").await;
    let issuer_payee = Keypair::generate();
    let wallet = proto::Wallet {
        address: issuer_payee.address().0.to_vec(),
        bank_id: "bank-slow".into(),
        tier: 3,
        frozen: String::new(),
    };
    ledger.client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await.unwrap();
    let slow = slow_reader(&ledger).await;
    let request = proto::SubscribeRequest { bank: "bank-slow".into(), ..Default::default() };
    let stream = slow.clone().reconciliation.subscribe(request).await.expect("subscribed");
    let engine = std::sync::Arc::clone(ledger.server().engine());
    assert_eq!(engine.metrics().bank_streams.get(), 1);
    // Far more than the stream's buffer and the client's window: one block
    // (a movement and a checkpoint) per mint.
    for n in 0..400 {
        let tx = ledger.mint_tx(vec![client::output(issuer_payee.address(), 1, 0)], &format!("slow-{n}"));
        ledger.client.mint(&tx).await.expect("minted");
    }
    wait_until("the server ending the stream it could not deliver", || engine.metrics().bank_streams.get() == 0).await;
    drop(stream);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_that_stops_reading_its_results_is_cut_off_after_the_stall_timeout() {
    let mut ledger = TestLedger::start_rigged(|rigs| rigs.stream_stall_timeout = Some(STALL)).await;
    let payer = Keypair::generate();
    let coins = ledger.fund_coins(&payer, &[100; 256], "stall").await;
    let shop = Keypair::generate().address();
    let slow = slow_reader(&ledger).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(coins.len());
    for (n, coin) in coins.iter().enumerate() {
        let tx = client::pay(&ledger.chain, &payer, *coin, shop, 10, format!("s-{n}").as_bytes());
        let item = proto::SubmitPaymentsRequest { client_id: n as u64, transaction: Some(to_proto(&tx)) };
        sender.send(item).await.expect("queued");
    }
    let stream = slow
        .clone()
        .payments
        .submit_payments(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("stream open");
    let engine = std::sync::Arc::clone(ledger.server().engine());
    wait_until("the server ending the stream whose results nobody read", || {
        engine.metrics().payment_streams.get() == 0
    })
    .await;
    drop(stream);
    drop(sender);
    // Whatever it admitted was applied once; nothing is half-done.
    let info = ledger.info(true).await;
    assert_eq!(info.unspent_total_minor, 25_600, "supply unchanged by payments");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_the_limit_is_closed_and_its_slot_comes_back_when_one_closes() {
    let ledger = TestLedger::start_with(|config| config.connections_max = 2).await;
    let url = ledger.server().url();
    let token = common::dev_token(&ledger.data_dir());
    let mut first = Client::connect_with_token(&url, &token).await.expect("first connection");
    let mut second = Client::connect_with_token(&url, &token).await.expect("second connection");
    first.info(false).await.expect("the first is served");
    second.info(false).await.expect("the second is served");
    // The server closes the third connection as soon as it accepts it: the
    // client sees a transport error, on connecting or on its first call.
    let third_served = match Client::connect_with_token(&url, &token).await {
        Ok(mut third) => third.info(false).await.is_ok(),
        Err(_) => false,
    };
    assert!(!third_served, "a connection past the limit is not served");
    drop(first);
    // The slot comes back once the server has seen the connection close:
    // retried until then.
    let back = tokio::time::timeout(common::HANG_GUARD, async {
        loop {
            if let Ok(mut client) = Client::connect_with_token(&url, &token).await
                && client.info(false).await.is_ok()
            {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("hung: a closed connection never gave its slot back");
    second.info(false).await.expect("the second is still served");
    drop(back);
    drop(second);
    ledger.shutdown().await;
}
