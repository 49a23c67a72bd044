//! Fail-stop on storage errors, on a real redb file with faults injected
//! under it: a block whose write or fsync fails confirms nothing, the engine
//! stops (health NOT_SERVING, every later submission UNAVAILABLE), and a
//! restart recovers a consistent ledger in which the unconfirmed payment was
//! applied at most once.

use crate::common;

use common::issuer_keys;
use settled::client::{self, Client};
use settled::{Config, Keypair, Server, StorageFaults, proto};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

async fn health(url: &str, service: &str) -> ServingStatus {
    let channel =
        tonic::transport::Endpoint::from_shared(url.to_owned()).expect("url").connect().await.expect("connects");
    let mut client = HealthClient::new(channel);
    let response = client.check(HealthCheckRequest { service: service.to_owned() }).await.expect("health answers");
    ServingStatus::try_from(response.into_inner().status).expect("known status")
}

async fn supply(client: &mut Client) -> (u64, u64) {
    let info = client.ledger.get_info(proto::GetInfoRequest { count_unspent: true }).await.expect("info").into_inner();
    (info.tip.expect("tip").minted_total_minor, info.unspent_total_minor)
}

/// The status line of `GET path` on the metrics listener.
async fn probe(address: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("metrics port answers");
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: settled\r\n\r\n").as_bytes()).await.expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response.lines().next().unwrap_or_default().to_owned()
}

async fn storage_failure_stops_the_engine_and_a_restart_recovers(inject: impl Fn(&StorageFaults)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let faults = StorageFaults::default();
    let mut config = Config::for_data_dir(dir.path().to_owned());
    config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let rigs = settled::Rigs { storage_faults: Some(faults.clone()), ..settled::Rigs::default() };
    let server = Server::start_with(config, rigs).await.expect("starts");
    let url = server.url();
    let mut client = Client::connect_with_token(&url, &common::dev_token(dir.path())).await.expect("connects");
    let issuers = issuer_keys(dir.path());
    let chain = server.engine().chain_id();
    let alice = Keypair::generate();
    let shop = Keypair::generate().address();

    let mint = client::mint(
        &chain,
        vec![client::output(alice.address(), 10_000, 0), client::output(alice.address(), 10_000, 0)],
        b"row-1",
        &[&issuers[0], &issuers[1]],
    );
    client.mint(&mint).await.expect("mint confirmed");
    let first = client::pay(&chain, &alice, client::output_of(&mint, 0), shop, 1_000, b"before");
    client.submit(&first).await.expect("confirmed while the disk works");
    let tip_before = client.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.expect("info");
    let tip_before = tip_before.into_inner().tip.expect("tip");
    let probes = server.metrics_addr().expect("metrics configured");
    assert_eq!(probe(probes, "/healthz").await, "HTTP/1.1 200 OK");
    assert_eq!(probe(probes, "/readyz").await, "HTTP/1.1 200 OK");

    inject(&faults);
    let doomed = client::pay(&chain, &alice, client::output_of(&first, 1), shop, 2_000, b"during");
    let status = client.submit(&doomed).await.expect_err("nothing is confirmed on a failed commit");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(client::status_reason(&status), Some(proto::Reason::Unavailable));

    // The health service learns of the failure from the engine a moment
    // after the refusal is sent.
    // Polled until it does; only a change that never comes fails, after
    // the hang guard.
    for service in ["", "settled.v1.PaymentService"] {
        let learned = tokio::time::timeout(common::HANG_GUARD, async {
            while health(&url, service).await != ServingStatus::NotServing {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(learned.is_ok(), "hung: health of '{service}' never turned NOT_SERVING after a storage failure");
    }
    // The probes: alive, not ready (a load balancer takes it out).
    assert_eq!(probe(probes, "/healthz").await, "HTTP/1.1 200 OK");
    assert_eq!(probe(probes, "/readyz").await, "HTTP/1.1 503 Service Unavailable");
    let other = client::pay(&chain, &alice, client::output_of(&mint, 1), shop, 500, b"after");
    let status = client.submit(&other).await.expect_err("a stopped engine confirms nothing");
    assert_eq!(status.code(), Code::Unavailable);
    let info = client.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.expect("reads still work");
    assert_eq!(info.into_inner().tip.expect("tip").height, tip_before.height, "the failed block is not the tip");
    server.shutdown().await;

    // Restart on the same file, with a working disk.
    let server = Server::start(Config::for_data_dir(dir.path().to_owned())).await.expect("restarts");
    assert_eq!(server.engine().chain_id(), chain, "the same ledger after the restart");
    let mut client = Client::connect_with_token(&server.url(), &common::dev_token(dir.path())).await.expect("connects");
    assert_eq!(health(&server.url(), "").await, ServingStatus::Serving);
    let (minted, unspent) = supply(&mut client).await;
    assert_eq!((minted, unspent), (20_000, 20_000), "supply adds up after recovery");

    // The unconfirmed payment either reached the disk or not; resubmitting
    // it applies it exactly once either way.
    let (receipt, _) = client.submit(&doomed).await.expect("resubmission is confirmed");
    let (again, duplicate) = client.submit(&doomed).await.expect("and is idempotent");
    assert!(duplicate);
    assert_eq!(again.sequence, receipt.sequence);
    let balance = client
        .wallets
        .get_balance(proto::GetBalanceRequest { address: alice.address().0.to_vec() })
        .await
        .expect("balance")
        .into_inner();
    assert_eq!(balance.total_minor, 20_000 - 1_000 - 2_000, "each payment applied once");
    let (minted, unspent) = supply(&mut client).await;
    assert_eq!((minted, unspent), (20_000, 20_000));

    // The chain continues from the last durable block.
    let tip = client.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.expect("info");
    let tip = tip.into_inner().tip.expect("tip");
    assert!(tip.height > tip_before.height);
    let mut height = tip.height;
    let mut expected_previous = None::<Vec<u8>>;
    while height > 0 {
        let block = client.ledger.get_block(proto::GetBlockRequest { height }).await.expect("block").into_inner();
        let header = block.header.expect("header");
        if let Some(hash) = &expected_previous {
            assert_eq!(&header.hash, hash);
        }
        expected_previous = Some(header.previous_hash.clone());
        height -= 1;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_confirms_nothing_stops_the_engine_and_a_restart_recovers() {
    storage_failure_stops_the_engine_and_a_restart_recovers(|faults| faults.fail_syncs(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_confirms_nothing_stops_the_engine_and_a_restart_recovers() {
    storage_failure_stops_the_engine_and_a_restart_recovers(|faults| faults.fail_writes(true)).await;
}
