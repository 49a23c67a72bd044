//! The metrics port: a real server with `metrics_listen`, scraped over
//! plain HTTP after payments and a refusal; every gRPC call counted under a
//! bounded method label; the build and the process; the probes; and the
//! port's own bounds (connections at once, request size, a silent client).

use crate::common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestLedger;
use settled::Keypair;
use settled::client;
use settled::metrics::{GRPC_METHOD_UNKNOWN, METRICS_CONNECTIONS_MAX, METRICS_READ_TIMEOUT, METRICS_REQUEST_BYTES_MAX};
use settled::proto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;

/// Sends `request` as is and reads the answer to the end (the server
/// closes each connection after one answer).
async fn exchange(address: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("metrics port answers");
    stream.write_all(request).await.expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response read");
    response
}

pub(crate) async fn scrape(address: std::net::SocketAddr, path: &str) -> String {
    exchange(address, format!("GET {path} HTTP/1.1\r\nHost: settled\r\n\r\n").as_bytes()).await
}

/// A header of an HTTP response, by case-insensitive name.
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The value of the sample `line_start` (name and labels) in `text`.
pub(crate) fn sample(text: &str, line_start: &str) -> f64 {
    sample_if_any(text, line_start).unwrap_or_else(|| panic!("no sample {line_start} in\n{text}"))
}

fn sample_if_any(text: &str, line_start: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(line_start).and_then(|rest| rest.trim().parse().ok()))
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
async fn metrics_count_confirmations_refusals_blocks_and_the_ledger() {
    let (mut ledger, address) = ledger_with_metrics().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "metrics-fund").await;
    let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 300, b"metrics-1");
    ledger.client.submit(&payment).await.expect("confirmed");
    ledger.client.submit(&payment).await.expect("a resubmission returns the receipt");
    let double_spend = client::pay(&ledger.chain, &alice, coin, shop.address(), 200, b"metrics-2");
    ledger.client.submit(&double_spend).await.expect_err("spent");

    let response = scrape(address, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(header(&response, "content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
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
    assert_eq!(sample(&response, "settled_blocks_committed_total"), tip.height as f64, "every block past genesis");
    assert_eq!(sample(&response, "settled_supply_minor"), 1_000.0);
    assert_eq!(sample(&response, "settled_serving"), 1.0);
    assert_eq!(sample(&response, "settled_verify_queue"), 0.0, "nothing waiting once answered");
    assert_eq!(sample(&response, "settled_admitted_payments"), 0.0, "every place given back once answered");
    assert!(sample(&response, "settled_admitted_limit") >= 1.0);
    assert!(!response.contains("settled_cluster_"), "a single node exposes no cluster figures");

    let other = scrape(address, "/").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraper_that_asks_for_openmetrics_gets_it() {
    let (ledger, address) = ledger_with_metrics().await;
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";
    let request = format!("GET /metrics HTTP/1.1\r\nHost: settled\r\nAccept: {accept}\r\n\r\n");
    let response = exchange(address, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert_eq!(header(&response, "content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    assert!(response.ends_with("# EOF\n"), "{response}");
    assert!(response.contains("# TYPE settled_payments counter\n"), "{response}");
    assert!(response.contains("# TYPE settled_build info\n"), "{response}");
    assert_eq!(sample(&response, "settled_payments_total{outcome=\"confirmed\"}"), 0.0);
    ledger.shutdown().await;
}

/// The name gRPC gives `code` (the `code` label).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Unimplemented => "UNIMPLEMENTED",
        other => panic!("not expected here: {other:?}"),
    }
}

fn grpc_requests(text: &str, method: &str, code: Code) -> f64 {
    let line = format!("settled_grpc_requests_total{{method=\"{method}\",code=\"{}\"}}", code_name(code));
    sample_if_any(text, &line).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grpc_call_is_counted_by_method_and_status_code() {
    let (mut ledger, address) = ledger_with_metrics().await;
    let submit = "/settled.v1.PaymentService/SubmitPayment";
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "grpc-fund").await;
    let before = scrape(address, "/metrics").await;
    assert!(
        sample(&before, "settled_grpc_requests_total{method=\"/settled.v1.AdminService/Mint\",code=\"OK\"}") >= 1.0
    );

    let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 300, b"grpc-1");
    ledger.client.submit(&payment).await.expect("confirmed");
    let double_spend = client::pay(&ledger.chain, &alice, coin, shop.address(), 200, b"grpc-2");
    let refused = ledger.client.submit(&double_spend).await.expect_err("spent");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    let after = scrape(address, "/metrics").await;
    assert_eq!(grpc_requests(&after, submit, Code::Ok) - grpc_requests(&before, submit, Code::Ok), 1.0);
    let refused_before = grpc_requests(&before, submit, Code::FailedPrecondition);
    assert_eq!(grpc_requests(&after, submit, Code::FailedPrecondition) - refused_before, 1.0);
    let timed = sample(&after, &format!("settled_grpc_request_seconds_count{{method=\"{submit}\"}}"));
    assert_eq!(
        timed,
        grpc_requests(&after, submit, Code::Ok) + grpc_requests(&after, submit, Code::FailedPrecondition)
    );

    // A stream read to its end is counted with the status of its trailers.
    let export = "/settled.v1.LedgerService/ExportBlocks";
    let request = proto::ExportBlocksRequest { from_height: 1 };
    let mut chunks = ledger.client.ledger.export_blocks(request).await.expect("exports").into_inner();
    while chunks.message().await.expect("a chunk").is_some() {}
    assert_eq!(grpc_requests(&scrape(address, "/metrics").await, export, Code::Ok), 1.0);

    // A stream its client drops is counted as cancelled, once the server
    // sees it go.
    let channel = tonic::transport::Endpoint::from_shared(ledger.server().url()).expect("url").connect_lazy();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let watch = tonic_health::pb::HealthCheckRequest { service: String::new() };
    let mut statuses = health.watch(watch).await.expect("watching").into_inner();
    statuses.message().await.expect("a status").expect("the current status");
    drop(statuses);
    let engine = std::sync::Arc::clone(ledger.server().engine());
    let cancelled = "settled_grpc_requests_total{method=\"/grpc.health.v1.Health/Watch\",code=\"CANCELLED\"} 1\n";
    common::wait_until("the server seeing the watch dropped", || engine.render_metrics().contains(cancelled)).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_paths_the_server_does_not_serve_share_one_method_label() {
    let (ledger, address) = ledger_with_metrics().await;
    let channel = tonic::transport::Endpoint::from_shared(ledger.server().url()).expect("url").connect_lazy();
    let mut grpc = tonic::client::Grpc::new(channel);
    let paths = 50;
    for n in 0..paths {
        grpc.ready().await.expect("ready");
        let path = http::uri::PathAndQuery::try_from(format!("/attacker.Service{n}/Method{n}")).expect("path");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let status = grpc.unary(tonic::Request::new(()), path, codec).await.expect_err("not served");
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    }
    let text = scrape(address, "/metrics").await;
    assert_eq!(grpc_requests(&text, GRPC_METHOD_UNKNOWN, Code::Unimplemented), f64::from(paths));
    assert_eq!(
        sample(&text, &format!("settled_grpc_request_seconds_count{{method=\"{GRPC_METHOD_UNKNOWN}\"}}")),
        f64::from(paths)
    );
    assert!(!text.contains("attacker"), "no label of a path the caller chose:\n{text}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_and_the_process_are_exported() {
    let (ledger, address) = ledger_with_metrics().await;
    let text = scrape(address, "/metrics").await;
    let build = format!(
        "settled_build_info{{version=\"{}\",protocol=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        settled::PROTOCOL_VERSION
    );
    assert_eq!(sample(&text, &build), 1.0);

    let resident = sample(&text, "process_resident_memory_bytes");
    assert!(resident > 1_000_000.0, "a running server holds more than a megabyte: {resident}");
    assert!(sample(&text, "process_virtual_memory_bytes") >= resident);
    assert!(sample(&text, "process_cpu_seconds_total") > 0.0, "starting the server took some CPU");
    let open = sample(&text, "process_open_fds");
    assert!(open >= 3.0, "the listeners and the data file at least: {open}");
    assert!(sample(&text, "process_max_fds") >= open);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64();
    let started = sample(&text, "process_start_time_seconds");
    // The clock ticks are 10 ms; the boot time is a whole second.
    assert!(started <= now + 1.0 && started > now - 3600.0, "started at {started}, now {now}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probes_answer_while_the_engine_serves() {
    let (ledger, address) = ledger_with_metrics().await;
    let healthz = scrape(address, "/healthz").await;
    assert!(healthz.starts_with("HTTP/1.1 200 OK"), "{healthz}");
    let readyz = scrape(address, "/readyz").await;
    assert!(readyz.starts_with("HTTP/1.1 200 OK"), "{readyz}");
    assert!(readyz.ends_with("ready\n"), "{readyz}");
    let posted = exchange(address, b"POST /metrics HTTP/1.1\r\nHost: settled\r\nContent-Length: 0\r\n\r\n").await;
    assert!(posted.starts_with("HTTP/1.1 405"), "{posted}");
    assert_eq!(header(&posted, "allow"), Some("GET, HEAD"));
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_is_read_up_to_its_limit_and_no_further() {
    let (ledger, address) = ledger_with_metrics().await;
    let head = |bytes: usize| {
        let start = "GET /healthz HTTP/1.1\r\nHost: settled\r\nX-Padding: ";
        let padding = "a".repeat(bytes - start.len() - "\r\n\r\n".len());
        format!("{start}{padding}\r\n\r\n")
    };
    // A whole head just under the limit is answered.
    let under = exchange(address, head(METRICS_REQUEST_BYTES_MAX - 512).as_bytes()).await;
    assert!(under.starts_with("HTTP/1.1 200 OK"), "{under}");
    // The limit reached without the head's end: refused, every byte sent
    // having been read (so the refusal is not lost to a reset).
    let mut unfinished = head(METRICS_REQUEST_BYTES_MAX + 4);
    unfinished.truncate(METRICS_REQUEST_BYTES_MAX);
    let over = exchange(address, unfinished.as_bytes()).await;
    assert!(over.starts_with("HTTP/1.1 431"), "{over}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_dropped_after_the_read_timeout() {
    let (ledger, address) = ledger_with_metrics().await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(address).await.expect("connects");
    let mut answer = String::new();
    let read = tokio::time::timeout(METRICS_READ_TIMEOUT * 3, silent.read_to_string(&mut answer)).await;
    let elapsed = started.elapsed();
    assert!(read.is_ok(), "still open after {elapsed:?}");
    assert!(elapsed >= METRICS_READ_TIMEOUT - Duration::from_millis(50), "closed early, after {elapsed:?}");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_a_scrape_waits_for_a_slot() {
    let (ledger, address) = ledger_with_metrics().await;
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..METRICS_CONNECTIONS_MAX {
        idle.push(TcpStream::connect(address).await.expect("connects"));
    }
    let mut waiting = TcpStream::connect(address).await.expect("the kernel queues it");
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nHost: settled\r\n\r\n").await.expect("sent");
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut first)).await;
    assert!(early.is_err(), "answered while {METRICS_CONNECTIONS_MAX} connections held every slot");

    drop(idle.pop());
    let mut answer = String::new();
    tokio::time::timeout(common::HANG_GUARD, waiting.read_to_string(&mut answer))
        .await
        .expect("answered once a slot is free")
        .expect("read");
    assert!(opened.elapsed() < METRICS_READ_TIMEOUT, "the slot came from the closed connection, not a timeout");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    drop(idle);
    ledger.shutdown().await;
}
