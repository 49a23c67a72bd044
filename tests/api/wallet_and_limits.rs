//! Wallet views (balances per programme, paged unspent listings), the bounds
//! on messages and streams, and the standard gRPC health and reflection
//! services.

use crate::common;

use std::collections::HashSet;

use common::{TestLedger, streamed_receipt, to_proto};
use settled::client::{self, output};
use settled::limits::{GRPC_MESSAGE_BYTES_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, STREAM_IN_FLIGHT_MAX};
use settled::proto;
use settled::{Keypair, OutPoint, Output, TxId};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

async fn channel(ledger: &TestLedger) -> Channel {
    Endpoint::from_shared(ledger.server().url()).expect("url").connect().await.expect("connects")
}

fn outpoint_of(unspent: &proto::UnspentOutput) -> OutPoint {
    let outpoint = unspent.outpoint.as_ref().expect("outpoint");
    OutPoint { txid: TxId::from_slice(&outpoint.txid).expect("32 bytes"), index: outpoint.index }
}

fn list_request(owner: &Keypair, page_size: u32, page_token: String) -> proto::ListUnspentRequest {
    proto::ListUnspentRequest { address: owner.address().0.to_vec(), page_size, page_token }
}

/// The page token `ListUnspent` issues after `unspent`: its outpoint, txid
/// then index big-endian, as hex.
fn page_token_of(unspent: &proto::UnspentOutput) -> String {
    let outpoint = unspent.outpoint.as_ref().expect("outpoint");
    let mut bytes = outpoint.txid.clone();
    bytes.extend_from_slice(&outpoint.index.to_be_bytes());
    hex::encode(bytes)
}

// ---- WalletService -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_is_reported_per_programme_in_ascending_order() {
    let mut ledger = TestLedger::start().await;
    let (alice, grocer) = (Keypair::generate(), Keypair::generate());
    ledger.programme(3).await;
    ledger.programme(7).await;
    let outputs = vec![
        output(alice.address(), 1_000, 0),
        output(alice.address(), 700, 7),
        output(alice.address(), 300, 3),
        output(alice.address(), 50, 7),
    ];
    let coins = ledger.mint_outputs(outputs, "welfare").await;
    let balance = ledger.balance(&alice.address()).await;
    let by_programme: Vec<(u32, u64)> = balance.balances.iter().map(|b| (b.programme_id, b.amount_minor)).collect();
    assert_eq!(by_programme, vec![(0, 1_000), (3, 300), (7, 750)]);
    assert_eq!(balance.total_minor, 2_050);
    assert_eq!(balance.unspent_count, 4);
    assert_eq!(balance.height, ledger.tip().await.height, "read at the last durable block");

    // Spending earmarked money keeps it in its programme, for both sides.
    let payment = client::pay(&ledger.chain, &alice, coins[1], grocer.address(), 200, b"groceries");
    ledger.client.submit(&payment).await.expect("confirmed");
    let balance = ledger.balance(&alice.address()).await;
    let by_programme: Vec<(u32, u64)> = balance.balances.iter().map(|b| (b.programme_id, b.amount_minor)).collect();
    assert_eq!(by_programme, vec![(0, 1_000), (3, 300), (7, 550)]);
    let grocer_balance = ledger.balance(&grocer.address()).await;
    assert_eq!(grocer_balance.balances, vec![proto::Balance { programme_id: 7, amount_minor: 200 }]);
    assert_eq!(grocer_balance.total_minor, 200);
    ledger.assert_supply(2_050).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_of_an_address_that_holds_nothing_is_zero_and_a_bad_address_is_invalid() {
    let mut ledger = TestLedger::start().await;
    let nobody = Keypair::generate();
    let balance = ledger.balance(&nobody.address()).await;
    assert_eq!((balance.total_minor, balance.unspent_count), (0, 0));
    assert!(balance.balances.is_empty());
    for length in [0, 31, 33] {
        let status = ledger
            .client
            .wallets
            .get_balance(proto::GetBalanceRequest { address: vec![2; length] })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "address of {length} bytes");
        let status = ledger
            .client
            .wallets
            .list_unspent(proto::ListUnspentRequest {
                address: vec![2; length],
                page_size: 0,
                page_token: String::new(),
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "address of {length} bytes");
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_unspent_pages_walk_every_output_exactly_once() {
    const OUTPUTS: usize = 256;
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let amounts: Vec<u64> = (1..=OUTPUTS as u64).collect();
    let coins = ledger.fund_coins(&alice, &amounts, "many").await;
    // Bob's outputs sit in the same table; they must never leak into
    // alice's listing.
    ledger.fund_coins(&bob, &[5; 20], "bob").await;
    let minted: HashSet<(OutPoint, u64)> = coins.iter().map(|(o, out)| (*o, out.amount_minor)).collect();

    // page_size 0 is the default page.
    let page =
        ledger.client.wallets.list_unspent(list_request(&alice, 0, String::new())).await.expect("page").into_inner();
    assert_eq!(page.outputs.len(), PAGE_SIZE_DEFAULT);
    assert!(!page.next_page_token.is_empty());

    for page_size in [7u32, 128, 255, 256] {
        let mut walked: Vec<(OutPoint, u64)> = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = ledger
                .client
                .wallets
                .list_unspent(list_request(&alice, page_size, token))
                .await
                .expect("page")
                .into_inner();
            pages += 1;
            assert!(page.outputs.len() <= page_size as usize);
            for unspent in &page.outputs {
                let output = unspent.output.as_ref().expect("output");
                assert_eq!(output.address, alice.address().0.to_vec(), "only alice's outputs");
                walked.push((outpoint_of(unspent), output.amount_minor));
            }
            if page.next_page_token.is_empty() {
                break;
            }
            assert_eq!(page.outputs.len(), page_size as usize, "only the last page is short");
            token = page.next_page_token;
        }
        assert_eq!(pages, OUTPUTS.div_ceil(page_size as usize), "page size {page_size}: no empty last page");
        assert_eq!(walked.len(), OUTPUTS, "page size {page_size}: every output once");
        assert!(walked.windows(2).all(|w| w[0].0 < w[1].0), "page size {page_size}: ascending, no repeats");
        assert_eq!(
            walked.into_iter().collect::<HashSet<_>>(),
            minted,
            "page size {page_size}: exactly the minted ones"
        );
    }

    // The largest page holds everything here.
    let all = ledger
        .client
        .wallets
        .list_unspent(list_request(&alice, PAGE_SIZE_MAX as u32, String::new()))
        .await
        .expect("max page")
        .into_inner();
    assert_eq!(all.outputs.len(), OUTPUTS);
    assert!(all.next_page_token.is_empty());

    // Spent outputs leave the listing.
    let payment = client::pay(&ledger.chain, &alice, coins[0], bob.address(), 1, b"");
    ledger.client.submit(&payment).await.expect("confirmed");
    let listed: HashSet<OutPoint> = ledger.unspent(&alice.address()).await.iter().map(outpoint_of).collect();
    assert_eq!(listed.len(), OUTPUTS - 1, "the one spent in full, with no change, is gone");
    assert!(!listed.contains(&coins[0].0));
    ledger.shutdown().await;
}

/// A page at the largest size the server allows must fit the message size
/// the project's own client accepts, with amounts and programme ids at their
/// widest on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_page_of_the_largest_size_is_readable_by_the_client() {
    let mut ledger = TestLedger::start().await;
    // A merchant may hold any amount; the largest programme id and amounts
    // make every varint as long as it gets.
    let alice = ledger.merchant("wide-shop", 5411).await;
    ledger.programme(u32::MAX).await;
    let widest = u64::MAX / (PAGE_SIZE_MAX as u64 + 1);
    let outputs: Vec<Output> =
        (0..=PAGE_SIZE_MAX as u32).map(|i| output(alice.address(), widest - u64::from(i), u32::MAX)).collect();
    let minted: u64 = outputs.iter().map(|o| o.amount_minor).sum();
    ledger.mint_outputs(outputs, "wide").await;
    let page = ledger
        .client
        .wallets
        .list_unspent(list_request(&alice, PAGE_SIZE_MAX as u32, String::new()))
        .await
        .expect("a page of PAGE_SIZE_MAX outputs is readable")
        .into_inner();
    assert_eq!(page.outputs.len(), PAGE_SIZE_MAX);
    assert!(!page.next_page_token.is_empty(), "one output is left for the next page");
    let rest = ledger
        .client
        .wallets
        .list_unspent(list_request(&alice, PAGE_SIZE_MAX as u32, page.next_page_token))
        .await
        .expect("last page")
        .into_inner();
    assert_eq!(rest.outputs.len(), 1);
    assert!(rest.next_page_token.is_empty());
    ledger.assert_supply(minted).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_unspent_coerces_a_page_above_the_maximum_and_refuses_a_token_it_did_not_issue() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    // More outputs than one page can hold.
    for batch in 0..PAGE_SIZE_MAX.div_ceil(16) + 1 {
        let coins = (0..16).map(|_| client::output(alice.address(), 1, 0)).collect();
        ledger.mint_outputs(coins, &format!("coins-{batch}")).await;
    }
    // AIP-158: a page size above the maximum is coerced to it, not refused.
    for page_size in [PAGE_SIZE_MAX as u32 + 1, u32::MAX] {
        let page = ledger
            .client
            .wallets
            .list_unspent(list_request(&alice, page_size, String::new()))
            .await
            .expect("coerced")
            .into_inner();
        assert_eq!(page.outputs.len(), PAGE_SIZE_MAX, "page size {page_size}");
        assert!(!page.next_page_token.is_empty(), "more to come");
    }
    // Tokens are text: 72 lowercase hex digits of an outpoint; anything
    // else, bytes of another length or raw bytes, is not one.
    let issued = page_token_of(&ledger.unspent(&alice.address()).await[0]);
    assert_eq!(issued.len(), 72);
    for token in
        [hex::encode([1u8; 5]), hex::encode([1u8; 35]), hex::encode([1u8; 37]), issued.to_uppercase(), "zz".repeat(36)]
    {
        let shown = token.clone();
        let status = ledger.client.wallets.list_unspent(list_request(&alice, 10, token)).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "token {shown}");
    }
    ledger.client.wallets.list_unspent(list_request(&alice, 10, issued)).await.expect("a token it issues");
    ledger.shutdown().await;
}

// ---- limits --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_over_the_grpc_limit_is_refused_and_the_server_carries_on() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let payment = client::pay(&ledger.chain, &alice, coin, bob.address(), 10, b"inv");
    let mut huge = to_proto(&payment);
    huge.reference = vec![b'x'; 100 * 1024];
    assert!(huge.reference.len() > GRPC_MESSAGE_BYTES_MAX);

    let status = ledger.submit_proto(huge.clone()).await.expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "an oversized message is refused as too large: {status:?}");
    let status = ledger.mint_proto(huge.clone()).await.expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // On a stream, an oversized item ends the stream with an error.
    let outbound = tokio_stream::iter(vec![proto::SubmitPaymentsRequest { client_id: 1, transaction: Some(huge) }]);
    let mut inbound = ledger.client.payments.submit_payments(outbound).await.expect("stream opens").into_inner();
    let ended = match inbound.message().await {
        Ok(Some(_)) => panic!("an oversized item gets no result"),
        Ok(None) => panic!("the stream must end with an error, not cleanly"),
        Err(status) => status,
    };
    assert_eq!(ended.code(), Code::ResourceExhausted, "{ended:?}");

    // The same client and server go on confirming payments.
    let (receipt, duplicate) = ledger.client.submit(&payment).await.expect("confirmed after the refusals");
    assert!(!duplicate);
    assert_eq!(receipt.txid, settled::txid(&payment));
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_with_more_than_the_in_flight_limit_submitted_at_once_completes_every_payment() {
    let count = STREAM_IN_FLIGHT_MAX + 100;
    let mut ledger = TestLedger::start().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &vec![10; count], "float").await;
    let payments: Vec<_> =
        coins.iter().map(|coin| client::pay(&ledger.chain, &alice, *coin, shop.address(), 10, b"")).collect();
    let requests = (0u64..).zip(payments.iter().map(to_proto)).collect();
    let results = ledger.submit_stream(requests).await;
    for (id, payment) in (0u64..).zip(&payments) {
        assert_eq!(streamed_receipt(&results[&id]).txid, settled::txid(payment), "item {id} confirmed");
    }
    let balance = ledger.balance(&shop.address()).await;
    assert_eq!(balance.total_minor, 10 * count as u64);
    assert_eq!(balance.unspent_count, count as u64);
    ledger.assert_supply(10 * count as u64).await;
    ledger.shutdown().await;
}

// ---- health and reflection -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_reports_serving_for_the_server_and_every_service() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let ledger = TestLedger::start().await;
    let mut health = HealthClient::new(channel(&ledger).await);
    for service in [
        "",
        "settled.v1.PaymentService",
        "settled.v1.WalletService",
        "settled.v1.AdminService",
        "settled.v1.LedgerService",
        "settled.v1.ReconciliationService",
        "settled.v1.AlertService",
    ] {
        let response =
            health.check(HealthCheckRequest { service: service.to_owned() }).await.expect("health check").into_inner();
        assert_eq!(response.status, ServingStatus::Serving as i32, "service '{service}'");
    }
    let status = health
        .check(HealthCheckRequest { service: "settled.v1.NoSuchService".to_owned() })
        .await
        .expect_err("unknown service");
    assert_eq!(status.code(), Code::NotFound);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_reflection_lists_every_settled_service() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
    let ledger = TestLedger::start().await;
    let mut reflection = ServerReflectionClient::new(channel(&ledger).await);
    let request = |message| ServerReflectionRequest { host: String::new(), message_request: Some(message) };
    let requests = tokio_stream::iter(vec![
        request(MessageRequest::ListServices(String::new())),
        request(MessageRequest::FileContainingSymbol("settled.v1.PaymentService".to_owned())),
    ]);
    let mut responses = reflection.server_reflection_info(requests).await.expect("reflection").into_inner();
    let next = |r: Option<ServerReflectionResponse>| r.and_then(|r| r.message_response).expect("a response");

    let Some(MessageResponse::ListServicesResponse(list)) = Some(next(responses.message().await.expect("list"))) else {
        panic!("expected a service list");
    };
    let names: HashSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "settled.v1.PaymentService",
        "settled.v1.WalletService",
        "settled.v1.AdminService",
        "settled.v1.LedgerService",
        "settled.v1.ReconciliationService",
        "settled.v1.AlertService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(names.contains(service), "{service} is listed in {names:?}");
    }
    assert!(
        !names.contains("settled.v1.RaftService"),
        "the Raft service is served on a node's own port, not listed here: {names:?}"
    );
    let Some(MessageResponse::FileDescriptorResponse(files)) = Some(next(responses.message().await.expect("file")))
    else {
        panic!("expected the file declaring PaymentService");
    };
    assert!(!files.file_descriptor_proto.is_empty(), "the file declaring PaymentService is served");

    // The same through v1alpha, which Postman and Evans speak.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
    let mut alpha = AlphaClient::new(channel(&ledger).await);
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::ListServices(String::new())),
    };
    let mut responses =
        alpha.server_reflection_info(tokio_stream::iter(vec![request])).await.expect("v1alpha").into_inner();
    let response = responses.message().await.expect("list").and_then(|r| r.message_response);
    let Some(AlphaResponse::ListServicesResponse(list)) = response else { panic!("expected a service list") };
    let alpha_names: HashSet<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(alpha_names.contains("settled.v1.AlertService") && alpha_names == names, "{alpha_names:?}");
    ledger.shutdown().await;
}

/// Outputs and balances agree: the listing sums to the balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unspent_listing_adds_up_to_the_balance() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    for programme in 1..=3 {
        ledger.programme(programme).await;
    }
    let outputs: Vec<Output> =
        (1..=40u64).map(|i| output(alice.address(), i * 3, u32::try_from(i % 4).unwrap())).collect();
    ledger.mint_outputs(outputs, "rows").await;
    let listed = ledger.unspent(&alice.address()).await;
    let balance = ledger.balance(&alice.address()).await;
    let listed_total: u64 = listed.iter().map(|u| u.output.as_ref().expect("output").amount_minor).sum();
    assert_eq!(listed.len() as u64, balance.unspent_count);
    assert_eq!(listed_total, balance.total_minor);
    for entry in &balance.balances {
        let in_programme: u64 = listed
            .iter()
            .filter_map(|u| u.output.as_ref())
            .filter(|o| o.programme_id == entry.programme_id)
            .map(|o| o.amount_minor)
            .sum();
        assert_eq!(in_programme, entry.amount_minor, "programme {}", entry.programme_id);
    }
    ledger.shutdown().await;
}
