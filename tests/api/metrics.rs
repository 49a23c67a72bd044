//! The Prometheus endpoint: a real server with `metrics_listen`, scraped over
//! plain HTTP after payments and a refusal.

use crate::common;

use common::TestLedger;
use settled::Keypair;
use settled::client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) async fn scrape(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("metrics port answers");
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: settled\r\n\r\n").as_bytes()).await.expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response read");
    response
}

/// The value of the sample `line_start` (name and labels) in `text`.
pub(crate) fn sample(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no sample {line_start} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_confirmations_refusals_blocks_and_the_ledger() {
    let mut ledger = TestLedger::start_with(|config| {
        config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let address = ledger.server().metrics_addr().expect("metrics configured");
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "metrics-fund").await;
    let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 300, b"metrics-1");
    ledger.client.submit(&payment).await.expect("confirmed");
    ledger.client.submit(&payment).await.expect("a resubmission returns the receipt");
    let double_spend = client::pay(&ledger.chain, &alice, coin, shop.address(), 200, b"metrics-2");
    ledger.client.submit(&double_spend).await.expect_err("spent");

    let response = scrape(address, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("Content-Type: text/plain; version=0.0.4"));
    // The mint and the payment confirmed; the resubmission is a duplicate.
    assert_eq!(sample(&response, "settled_payments_total{outcome=\"confirmed\"}"), 2.0);
    assert_eq!(sample(&response, "settled_payments_total{outcome=\"duplicate\"}"), 1.0);
    assert_eq!(sample(&response, "settled_refusals_total{reason=\"REASON_INPUT_SPENT\"}"), 1.0);
    assert_eq!(sample(&response, "settled_confirmation_seconds_count"), 4.0);
    assert_eq!(sample(&response, "settled_confirmation_seconds_bucket{le=\"+Inf\"}"), 4.0);
    assert!(sample(&response, "settled_block_commit_seconds_count") >= 2.0);
    assert!(sample(&response, "settled_fsync_seconds_count") >= 2.0, "one fsync per block at least");
    let tip = ledger.tip().await;
    assert_eq!(sample(&response, "settled_tip_height"), tip.height as f64);
    assert_eq!(sample(&response, "settled_supply_minor"), 1_000.0);
    assert_eq!(sample(&response, "settled_serving"), 1.0);
    assert_eq!(sample(&response, "settled_verify_queue"), 0.0, "nothing waiting once answered");
    assert_eq!(sample(&response, "settled_admitted_payments"), 0.0, "every place given back once answered");
    assert!(sample(&response, "settled_admitted_limit") >= 1.0);

    let other = scrape(address, "/").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    ledger.shutdown().await;
}
