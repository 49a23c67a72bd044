//! The console port (`console_listen`) against a real server: off unless
//! configured; its page served with a strict content security policy;
//! gRPC-Web (tonic-web's client layer over HTTP/1.1, as a browser speaks
//! it) reaching the same services with the same credentials; nothing but
//! the console's reads served there; over TLS with the API's certificate.
//! And what the console's pages read: `GetCaller`, one bank's net
//! position, the last audit and confirmation percentiles in `WatchLedger`.

use std::net::SocketAddr;

use crate::common;

use common::TestLedger;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::{Client as HttpClient, connect::HttpConnector};
use settled::client::{self, Client, Credential};
use settled::config::CredentialConfig;
use settled::{Keypair, proto, sha256};
use tonic::Code;

const OPERATOR: &str = "console-operator-token";
const AUDITOR: &str = "console-auditor-token";
const ADMINISTRATOR: &str = "console-programme-administrator-token";
const BANK_A: &str = "console-bank-a-token";
const BANK_B: &str = "console-bank-b-token";
const ISSUER: &str = "console-issuer-token";

type Web = tonic_web::GrpcWebClientService<HttpClient<HttpConnector, tonic_web::GrpcWebCall<tonic::body::Body>>>;

/// A gRPC-Web channel to the console at `address`, over HTTP/1.1.
fn web(address: SocketAddr) -> (Web, http::Uri) {
    let http = HttpClient::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let service = tower::ServiceBuilder::new().layer(tonic_web::GrpcWebClientLayer::new()).service(http);
    (service, format!("http://{address}").parse().expect("a URI"))
}

fn ledger_client(address: SocketAddr) -> proto::ledger_service_client::LedgerServiceClient<Web> {
    let (service, origin) = web(address);
    proto::ledger_service_client::LedgerServiceClient::with_origin(service, origin)
}

fn signed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ASCII"));
    request
}

fn credential(role: &str, token: &str) -> CredentialConfig {
    CredentialConfig { role: role.into(), token_sha256: Some(hex::encode(sha256(token.as_bytes()))), cert_sha256: None }
}

async fn with_console() -> TestLedger {
    let mut ledger = TestLedger::start_with(|config| {
        config.console_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.credentials = vec![
            credential("operator", OPERATOR),
            credential("auditor", AUDITOR),
            credential("programme_admin", ADMINISTRATOR),
            credential("issuer", ISSUER),
        ];
    })
    .await;
    for (id, token) in [("bank-a", BANK_A), ("bank-b", BANK_B)] {
        let bank =
            proto::Bank { id: id.into(), name: id.into(), credential_sha256: vec![sha256(token.as_bytes()).to_vec()] };
        ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    }
    ledger
}

async fn get(address: SocketAddr, method: http::Method, path: &str) -> http::Response<Vec<u8>> {
    send(address, method, path, None).await
}

/// One HTTP/1.1 request with an empty body (and `content_type`).
async fn send(
    address: SocketAddr,
    method: http::Method,
    path: &str,
    content_type: Option<&str>,
) -> http::Response<Vec<u8>> {
    let client: HttpClient<HttpConnector, http_body_util::Empty<bytes::Bytes>> =
        HttpClient::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let mut request = http::Request::builder().method(method).uri(format!("http://{address}{path}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request.body(http_body_util::Empty::new()).expect("a request");
    let response = client.request(request).await.expect("answered");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("a body").to_bytes().to_vec();
    http::Response::from_parts(parts, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_off_unless_configured() {
    let ledger = TestLedger::start().await;
    assert_eq!(ledger.server().console_addr(), None);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_a_strict_policy_and_nothing_else_is() {
    let ledger = with_console().await;
    let console = ledger.server().console_addr().expect("the console listens");
    let page = get(console, http::Method::GET, "/").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().expect("ASCII");
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = String::from_utf8(page.body().clone()).expect("UTF-8");
    assert!(html.contains("console.js"), "the page loads its script: {html}");
    assert_eq!(page.body(), &get(console, http::Method::GET, "/index.html").await.into_body());
    let script = get(console, http::Method::GET, "/console.js").await;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(!script.body().is_empty());
    let head = get(console, http::Method::HEAD, "/console.js").await;
    assert_eq!((head.status().as_u16(), head.body().len()), (200, 0));
    for path in ["/nothing-here", "/../Cargo.toml", "/ledger.redb", "/dev.token"] {
        assert_eq!(get(console, http::Method::GET, path).await.status(), 404, "{path}");
    }
    let put = get(console, http::Method::PUT, "/").await;
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD, POST");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_reaches_the_same_services_with_the_same_credentials() {
    let mut ledger = with_console().await;
    let console = ledger.server().console_addr().expect("the console listens");
    let mut ledger_web = ledger_client(console);
    let dev = common::dev_token(&ledger.data_dir());
    for (token, role, id) in [
        (OPERATOR, proto::CallerRole::Operator, ""),
        (AUDITOR, proto::CallerRole::Auditor, ""),
        (ADMINISTRATOR, proto::CallerRole::ProgrammeAdministrator, ""),
        (BANK_A, proto::CallerRole::Bank, "bank-a"),
        (dev.as_str(), proto::CallerRole::Development, ""),
    ] {
        let caller =
            ledger_web.get_caller(signed(proto::GetCallerRequest {}, token)).await.expect("known").into_inner();
        assert_eq!((caller.role(), caller.id.as_str()), (role, id), "{token}");
    }
    let unknown = ledger_web.get_caller(signed(proto::GetCallerRequest {}, "not-a-token")).await.expect_err("unknown");
    assert_eq!(unknown.code(), Code::Unauthenticated);
    let none = ledger_web.get_caller(tonic::Request::new(proto::GetCallerRequest {})).await.expect_err("none");
    assert_eq!(none.code(), Code::Unauthenticated);

    // The same answers as the API port.
    ledger.fund(&Keypair::generate(), 1_234, "console").await;
    let info = ledger_web.get_info(signed(proto::GetInfoRequest::default(), BANK_A)).await.expect("info").into_inner();
    assert_eq!(info, ledger.info(false).await);
    // A live stream over HTTP/1.1.
    let mut watch =
        ledger_web.watch_ledger(signed(proto::WatchLedgerRequest {}, AUDITOR)).await.expect("opens").into_inner();
    let status = watch.message().await.expect("no error").expect("a status");
    assert_eq!(status.outstanding_minor, 1_234);
    assert_eq!(status.tip.map(|t| t.height), info.tip.map(|t| t.height));
    // A bank reads its own position only, as over gRPC.
    let (service, origin) = web(console);
    let mut reconciliation =
        proto::reconciliation_service_client::ReconciliationServiceClient::with_origin(service, origin);
    let positions = |bank: &str| proto::GetNetPositionsRequest { after_height: 0, until_height: 0, bank: bank.into() };
    let denied = reconciliation.get_net_positions(signed(positions("bank-b"), BANK_A)).await.expect_err("not its own");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("bank-b"), "{}", denied.message());
    let own = reconciliation.get_net_positions(signed(positions(""), BANK_A)).await.expect("its own").into_inner();
    assert_eq!(own.positions.iter().map(|p| p.bank.as_str()).collect::<Vec<_>>(), ["bank-a"]);
    // A bank may not read integrity alerts, here as anywhere.
    let (service, origin) = web(console);
    let mut alerts = proto::alert_service_client::AlertServiceClient::with_origin(service, origin);
    let request = proto::WatchAlertsRequest { programme_id: 0, after_alert: 0, follow: false };
    let denied = match alerts.watch_alerts(signed(request, BANK_A)).await {
        Ok(response) => response.into_inner().message().await.expect_err("denied"),
        Err(status) => status,
    };
    assert_eq!(denied.code(), Code::PermissionDenied);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_port_serves_no_write_and_no_native_grpc() {
    let mut ledger = with_console().await;
    let console = ledger.server().console_addr().expect("the console listens");
    let dev = common::dev_token(&ledger.data_dir());
    let before = ledger.info(false).await;
    // A mint the development token could make on the API port.
    let mint = ledger.mint_tx(vec![client::output(Keypair::generate().address(), 50, 0)], "console-mint");
    let (service, origin) = web(console);
    let mut admin = proto::admin_service_client::AdminServiceClient::with_origin(service, origin);
    let refused = admin
        .mint(signed(proto::MintRequest { transaction: Some(common::to_proto(&mint)) }, &dev))
        .await
        .expect_err("not served here");
    assert_eq!(refused.code(), Code::Unimplemented);
    assert!(refused.message().contains("not served on the console port"), "{}", refused.message());
    let (service, origin) = web(console);
    let mut wallets = proto::wallet_service_client::WalletServiceClient::with_origin(service, origin);
    let balance = proto::GetBalanceRequest { address: Keypair::generate().address().0.to_vec() };
    assert_eq!(wallets.get_balance(signed(balance, &dev)).await.expect_err("not here").code(), Code::Unimplemented);
    // Native gRPC (HTTP/2) is the API port's.
    let native = Client::connect(&format!("http://{console}")).await.expect("connects");
    let mut native = native.with_credential(Credential::token(&dev));
    let refused = native.ledger.get_info(proto::GetInfoRequest::default()).await.expect_err("gRPC-Web only");
    assert_eq!(refused.code(), Code::Unimplemented);
    assert!(refused.message().contains("gRPC-Web only"), "{}", refused.message());
    // A content type tonic-web would not translate (it would pass the call
    // on as native gRPC) is refused before any service; other POSTs are
    // not calls at all.
    for content_type in
        ["application/grpc-webx", "application/grpc-web; x=1", "Application/gRPC-Web", "application/grpc+proto"]
    {
        let answer = send(console, http::Method::POST, "/settled.v1.LedgerService/GetInfo", Some(content_type)).await;
        assert_eq!(answer.headers().get("grpc-status").map(|v| v.as_bytes()), Some(b"12".as_slice()), "{content_type}");
    }
    let answer = send(console, http::Method::POST, "/settled.v1.LedgerService/GetInfo", Some("text/plain")).await;
    assert_eq!(answer.status(), 405);
    // The answers to calls are kept by no cache.
    let info =
        send(console, http::Method::POST, "/settled.v1.LedgerService/GetInfo", Some("application/grpc-web")).await;
    assert_eq!(info.headers()["cache-control"], "no-store");
    // Nothing was written.
    assert_eq!(ledger.info(false).await, before);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_console_off_loopback_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = settled::config::Config::for_data_dir(dir.path().to_path_buf());
    config.console_listen = Some(SocketAddr::from(([0, 0, 0, 0], 0)));
    let refused = config.exposure().expect_err("plaintext on every interface");
    assert!(refused.to_string().contains("the console on 0.0.0.0:0 without [tls]"), "{refused}");
    config.allow_plaintext = true;
    assert!(config.exposure().expect("allowed").iter().any(|w| w.contains("console")));
    config.console_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.allow_plaintext = false;
    config.exposure().expect("loopback is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_over_tls_with_the_apis_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params.self_signed(&ca_key).expect("CA").pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("key");
    let cert =
        CertificateParams::new(vec!["localhost".to_owned()]).expect("params").signed_by(&key, &issuer).expect("signed");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_file, key_file) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert_file, cert.pem()).expect("written");
    std::fs::write(&key_file, key.serialize_pem()).expect("written");
    // The API takes client certificates of this CA; the console asks for none.
    let client_ca_file = dir.path().join("ca.pem");
    std::fs::write(&client_ca_file, &ca_pem).expect("written");
    let tls = settled::config::TlsConfig { cert_file, key_file, client_ca_file: Some(client_ca_file) };
    let ledger = TestLedger::start_with(move |config| {
        config.tls = Some(tls.clone());
        config.console_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let console = ledger.server().console_addr().expect("the console listens");
    // Plain HTTP gets no page.
    let client: HttpClient<HttpConnector, http_body_util::Empty<bytes::Bytes>> =
        HttpClient::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let plain = client.get(format!("http://{console}/").parse().expect("URI")).await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200), "plaintext is not served");
    // A TLS client that trusts the CA reaches the console's own answer.
    let url = format!("https://localhost:{}", console.port());
    let native = Client::connect_tls(&url, "localhost", ca_pem.as_bytes(), None).await.expect("TLS connects");
    let refused = native.with_credential(Credential::default()).ledger.get_info(proto::GetInfoRequest::default()).await;
    let refused = refused.expect_err("gRPC-Web only");
    assert_eq!(refused.code(), Code::Unimplemented);
    assert!(refused.message().contains("gRPC-Web only"), "{}", refused.message());
    // The API port asks for a client certificate (mutual TLS is offered);
    // the console port does not: a browser's certificate must not become a
    // credential it sends by itself.
    assert!(asks_for_a_client_certificate(ledger.server().local_addr(), &ca_pem).await, "the API port");
    assert!(!asks_for_a_client_certificate(console, &ca_pem).await, "the console port");
    ledger.shutdown().await;
}

/// Whether a TLS handshake with `address` (a certificate for "localhost"
/// under `ca_pem`) brings a request for the client's certificate.
async fn asks_for_a_client_certificate(address: SocketAddr, ca_pem: &str) -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;

    #[derive(Debug)]
    struct Asked(AtomicBool);
    impl rustls::client::ResolvesClientCert for Asked {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[rustls::SignatureScheme],
        ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
            self.0.store(true, Ordering::SeqCst);
            None
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("a PEM certificate");
    roots.add(der).expect("a CA");
    let asked = std::sync::Arc::new(Asked(AtomicBool::new(false)));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_cert_resolver(asked.clone());
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address).await.expect("connects");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    connector.connect(name, tcp).await.expect("the handshake completes");
    asked.0.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_watch_carries_confirmation_percentiles_and_the_last_audit() {
    let mut ledger = with_console().await;
    let mut watch = ledger.client.ledger.clone();
    let mut stream = watch.watch_ledger(proto::WatchLedgerRequest {}).await.expect("opens").into_inner();
    let first = stream.message().await.expect("no error").expect("a status");
    assert_eq!(first.last_audit, None, "no audit yet");
    assert_eq!(first.confirmation.map(|c| c.count), Some(0));
    assert_eq!(first.cluster, None, "not a cluster");

    let alice = Keypair::generate();
    let coins = ledger.fund_coins(&alice, &[300, 400, 500], "percentiles").await;
    for (i, coin) in coins.iter().enumerate() {
        let payment = client::pay(&ledger.chain, &alice, *coin, Keypair::generate().address(), 100, &[b'p', i as u8]);
        ledger.client.submit(&payment).await.expect("paid");
    }
    let audit = ledger.client.ledger.audit(proto::AuditRequest {}).await.expect("audits").into_inner();
    assert!(audit.failures.is_empty());
    let tip = ledger.tip().await.height;
    let status = loop {
        let status = stream.message().await.expect("no error").expect("a status");
        if status.last_audit.is_some() && status.tip.as_ref().is_some_and(|t| t.height == tip) {
            break status;
        }
    };
    let latency = status.confirmation.expect("percentiles");
    assert!(latency.count >= 3, "three payments and a mint in the last minute: {latency:?}");
    assert!(
        0.0 < latency.p50_ms
            && latency.p50_ms <= latency.p90_ms
            && latency.p90_ms <= latency.p99_ms
            && latency.p99_ms <= latency.max_ms,
        "{latency:?}"
    );
    let last = status.last_audit.expect("the audit");
    assert!(last.sound && last.failures == 0 && last.first_failure.is_empty(), "{last:?}");
    assert_eq!((last.height, last.blocks, last.transactions), (tip, audit.blocks, audit.transactions));
    // Kept in the data file: after a restart, still there.
    ledger.restart().await;
    let mut watch = ledger.client.ledger.clone();
    let mut stream = watch.watch_ledger(proto::WatchLedgerRequest {}).await.expect("opens").into_inner();
    let after = stream.message().await.expect("no error").expect("a status");
    assert_eq!(after.last_audit, Some(last));
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_programme_roles_read_what_their_console_pages_show() {
    let mut ledger = with_console().await;
    let alice = Keypair::generate();
    let coin = ledger.fund(&alice, 900, "roles").await;
    let payment = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 100, b"roles");
    ledger.client.submit(&payment).await.expect("paid");
    let txid = settled::txid(&payment).0.to_vec();
    for token in [ADMINISTRATOR, ISSUER] {
        let mut caller = ledger.client.with_credential(Credential::token(token));
        // The ledger's public facts (the console's sign-in), the programmes'
        // list, and the payments an alert names.
        caller.ledger.get_info(proto::GetInfoRequest::default()).await.expect("info");
        caller.ledger.get_block(proto::GetBlockRequest { height: 1 }).await.expect("a block");
        caller.admin.list_programmes(proto::ListRequest::default()).await.expect("programmes");
        let found = caller.payments.get_payment(proto::GetPaymentRequest { txid: txid.clone() }).await.expect("found");
        assert_eq!(found.into_inner().status(), proto::PaymentStatus::Confirmed);
        // Still not the registry of banks and merchants.
        let denied = caller.admin.list_banks(proto::ListRequest::default()).await.expect_err("the operator's");
        assert_eq!(denied.code(), Code::PermissionDenied, "{token}");
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banks_ledger_watch_ends_when_its_credential_is_revoked() {
    let mut ledger = with_console().await;
    let mut bank = ledger.client.with_credential(Credential::token(BANK_A));
    let mut watch = bank.ledger.watch_ledger(proto::WatchLedgerRequest {}).await.expect("opens").into_inner();
    watch.message().await.expect("no error").expect("a status");
    let revoke = proto::SetCredentialsRequest {
        participant: Some(proto::set_credentials_request::Participant::BankId("bank-a".into())),
        credential_sha256: vec![sha256(b"console-bank-a-next-token").to_vec()],
    };
    ledger.client.admin.set_credentials(revoke).await.expect("rotated");
    let ended = tokio::time::timeout(common::HANG_GUARD, async {
        loop {
            match watch.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the watch ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("ends in time");
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_port_holds_a_bounded_number_of_connections_from_one_address() {
    use settled::limits::CONSOLE_CONNECTIONS_PER_ADDRESS_MAX;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let ledger = with_console().await;
    let console = ledger.server().console_addr().expect("the console listens");
    // One page request on a raw connection: whether it was answered 200.
    async fn page(socket: &mut tokio::net::TcpStream) -> bool {
        if socket.write_all(b"GET / HTTP/1.1\r\nHost: console\r\n\r\n").await.is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        let read = tokio::time::timeout(common::HANG_GUARD, socket.read_exact(&mut head)).await.expect("in time");
        read.is_ok() && &head == b"HTTP/1.1 200"
    }
    // As many kept-alive connections as one address may hold, each served.
    let mut held = Vec::new();
    for _ in 0..CONSOLE_CONNECTIONS_PER_ADDRESS_MAX {
        let mut socket = tokio::net::TcpStream::connect(console).await.expect("connects");
        assert!(page(&mut socket).await, "a connection within the bound is served");
        held.push(socket);
    }
    // One more from the same address is closed unanswered.
    let mut past = tokio::net::TcpStream::connect(console).await.expect("connects");
    assert!(!page(&mut past).await, "a connection past the bound is closed");
    // One closed gives its place back.
    drop(held.pop());
    let reopened = async {
        loop {
            let mut socket = tokio::net::TcpStream::connect(console).await.expect("connects");
            if page(&mut socket).await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(common::HANG_GUARD, reopened).await.expect("a place freed");
    ledger.shutdown().await;
}
