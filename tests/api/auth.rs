//! Authentication and authorisation over real gRPC: each role against each
//! service, banks and terminals confined to their own customers, and a
//! terminal taking payments only for its own merchant.

use crate::common;

use common::TestLedger;
use settled::client::{self, Client, Credential, output};
use settled::config::CredentialConfig;
use settled::{Keypair, proto, sha256};
use tonic::Code;

const OPERATOR: &str = "operator-token-for-tests";
const ISSUER: &str = "issuer-token-for-tests";
const BANK_A: &str = "bank-a-token";
const BANK_B: &str = "bank-b-token";
const TERMINAL_A: &str = "terminal-a-token";

fn hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes()).to_vec()
}

struct World {
    ledger: TestLedger,
    grocer_a: Keypair,
    shop_b: Keypair,
    wallet_a: Keypair,
    wallet_b: Keypair,
    coin: (settled::OutPoint, settled::Output),
}

async fn world() -> World {
    let mut ledger = TestLedger::start_with(|config| {
        config.credentials = vec![
            CredentialConfig {
                role: "operator".into(),
                token_sha256: Some(hex::encode(hash(OPERATOR))),
                cert_sha256: None,
            },
            CredentialConfig {
                role: "issuer".into(),
                token_sha256: Some(hex::encode(hash(ISSUER))),
                cert_sha256: None,
            },
        ];
    })
    .await;
    for (id, token) in [("bank-a", BANK_A), ("bank-b", BANK_B)] {
        let bank = proto::Bank { id: id.into(), name: id.into(), credential_sha256: vec![hash(token)] };
        ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    }
    let (grocer_a, shop_b) = (Keypair::generate(), Keypair::generate());
    for (id, bank, key) in [("grocer-a", "bank-a", &grocer_a), ("shop-b", "bank-b", &shop_b)] {
        let merchant = proto::Merchant {
            id: id.into(),
            name: id.into(),
            mcc: 5411,
            bank_id: bank.into(),
            payout_addresses: vec![key.address().0.to_vec()],
            deactivated: false,
        };
        ledger
            .client
            .admin
            .register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) })
            .await
            .expect("merchant");
    }
    let terminal = proto::Terminal {
        id: "till-1".into(),
        merchant_id: "grocer-a".into(),
        credential_sha256: vec![hash(TERMINAL_A)],
        deactivated: false,
    };
    ledger
        .client
        .admin
        .register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) })
        .await
        .expect("terminal");
    let (wallet_a, wallet_b) = (Keypair::generate(), Keypair::generate());
    for (key, bank) in [(&wallet_a, "bank-a"), (&wallet_b, "bank-b")] {
        let wallet =
            proto::Wallet { address: key.address().0.to_vec(), bank_id: bank.into(), tier: 2, frozen: String::new() };
        ledger
            .client
            .admin
            .register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) })
            .await
            .expect("wallet");
    }
    let coin = ledger.fund(&wallet_a, 100_000, "row-a").await;
    World { ledger, grocer_a, shop_b, wallet_a, wallet_b, coin }
}

fn as_caller(world: &World, token: Option<&str>) -> Client {
    world.ledger.client.with_credential(token.map_or_else(Credential::default, Credential::token))
}

/// Whether a call got past authentication and authorisation (whatever the
/// ledger then said).
fn admitted<T>(result: &Result<T, tonic::Status>) -> Result<(), Code> {
    match result {
        Err(status) if matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied) => Err(status.code()),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_reaches_exactly_the_services_of_its_role() {
    let w = world().await;
    let payment = client::pay(&w.ledger.chain, &w.wallet_a, w.coin, w.grocer_a.address(), 1_000, b"till");
    let mint = w.ledger.mint_tx(vec![output(w.wallet_b.address(), 10, 0)], "row-matrix");
    let callers: [(&str, Option<&str>); 6] = [
        ("nobody", None),
        ("unknown", Some("no-such-token")),
        ("operator", Some(OPERATOR)),
        ("issuer", Some(ISSUER)),
        ("bank", Some(BANK_A)),
        ("terminal", Some(TERMINAL_A)),
    ];
    let denied =
        |who: &str| if who == "nobody" || who == "unknown" { Code::Unauthenticated } else { Code::PermissionDenied };
    for (who, token) in callers {
        let mut c = as_caller(&w, token);
        let may = |roles: &[&str]| if roles.contains(&who) { Ok(()) } else { Err(denied(who)) };
        let info = c.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await;
        assert_eq!(admitted(&info), may(&["operator", "issuer", "bank", "terminal"]), "{who} GetInfo");
        let get = c.payments.get_payment(proto::GetPaymentRequest { txid: vec![0; 32] }).await;
        assert_eq!(admitted(&get), may(&["operator", "issuer", "bank", "terminal"]), "{who} GetPayment");
        let submit = c
            .payments
            .submit_payment(proto::SubmitPaymentRequest { transaction: Some(client::transaction_to_proto(&payment)) })
            .await;
        assert_eq!(admitted(&submit), may(&["bank", "terminal"]), "{who} SubmitPayment");
        let minted = c.admin.mint(proto::MintRequest { transaction: Some(client::transaction_to_proto(&mint)) }).await;
        assert_eq!(admitted(&minted), may(&["issuer"]), "{who} Mint");
        let bank = proto::Bank { id: format!("new-{who}"), name: "x".into(), credential_sha256: Vec::new() };
        let registered = c.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await;
        assert_eq!(admitted(&registered), may(&["operator"]), "{who} RegisterBank");
        let listed = c.admin.list_banks(proto::ListRequest::default()).await;
        assert_eq!(admitted(&listed), may(&["operator"]), "{who} ListBanks");
        let clawback = c
            .admin
            .clawback(proto::ClawbackRequest { programme_id: 99, authorization: Vec::new(), resume_after: Vec::new() })
            .await;
        assert_eq!(admitted(&clawback), may(&["issuer"]), "{who} Clawback");
        let stats = c.admin.get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: 99 }).await;
        assert_eq!(admitted(&stats), may(&["operator", "issuer"]), "{who} GetProgrammeStats");
        let balance =
            c.wallets.get_balance(proto::GetBalanceRequest { address: w.wallet_a.address().0.to_vec() }).await;
        assert_eq!(admitted(&balance), may(&["operator", "bank"]), "{who} GetBalance of a bank-a wallet");
    }
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banks_and_terminals_read_only_their_own_customers() {
    let w = world().await;
    let balance = |c: &mut Client, key: &Keypair| {
        let request = proto::GetBalanceRequest { address: key.address().0.to_vec() };
        let mut c = c.clone();
        async move { c.wallets.get_balance(request).await.map(|_| ()).map_err(|s| s.code()) }
    };
    let mut bank_a = as_caller(&w, Some(BANK_A));
    assert_eq!(balance(&mut bank_a, &w.wallet_a).await, Ok(()), "its wallet");
    assert_eq!(balance(&mut bank_a, &w.grocer_a).await, Ok(()), "its merchant");
    assert_eq!(balance(&mut bank_a, &w.wallet_b).await, Err(Code::PermissionDenied), "another bank's wallet");
    assert_eq!(balance(&mut bank_a, &w.shop_b).await, Err(Code::PermissionDenied), "another bank's merchant");
    assert_eq!(
        balance(&mut bank_a, &Keypair::generate()).await,
        Err(Code::PermissionDenied),
        "an unregistered address"
    );
    let listing = bank_a
        .wallets
        .list_unspent(proto::ListUnspentRequest { address: w.wallet_b.address().0.to_vec(), ..Default::default() })
        .await;
    assert_eq!(listing.map(|_| ()).map_err(|s| s.code()), Err(Code::PermissionDenied));
    let mut till = as_caller(&w, Some(TERMINAL_A));
    assert_eq!(balance(&mut till, &w.grocer_a).await, Ok(()), "its own merchant");
    assert_eq!(balance(&mut till, &w.shop_b).await, Err(Code::PermissionDenied), "another merchant");
    assert_eq!(balance(&mut till, &w.wallet_a).await, Err(Code::PermissionDenied), "a customer's wallet");
    let mut operator = as_caller(&w, Some(OPERATOR));
    assert_eq!(balance(&mut operator, &w.wallet_b).await, Ok(()), "the operator reads any address");
    // Payments: a bank sees those that concern its customers only.
    let payment = client::pay(&w.ledger.chain, &w.wallet_a, w.coin, w.grocer_a.address(), 1_000, b"seen-by-a");
    let (receipt, _) = till.submit(&payment).await.expect("paid");
    let lookup = |c: &Client| {
        let mut c = c.clone();
        let request = proto::GetPaymentRequest { txid: receipt.txid.0.to_vec() };
        async move { c.payments.get_payment(request).await.map(|_| ()).map_err(|s| s.code()) }
    };
    assert_eq!(lookup(&bank_a).await, Ok(()), "its customers' payment");
    assert_eq!(lookup(&till).await, Ok(()), "its merchant's payment");
    assert_eq!(lookup(&as_caller(&w, Some(BANK_B))).await, Err(Code::PermissionDenied), "another bank's payment");
    assert_eq!(lookup(&operator).await, Ok(()));
    // A payment that only debits a bank's customer (no change back) is
    // still the payer's bank's to see.
    let mut ledger_client = w.ledger.client.clone();
    let mint = w.ledger.mint_tx(vec![output(w.wallet_a.address(), 2_000, 0)], "row-no-change");
    ledger_client.mint(&mint).await.expect("funded");
    let all_out =
        client::pay(&w.ledger.chain, &w.wallet_a, client::output_of(&mint, 0), w.shop_b.address(), 2_000, b"all-out");
    let (receipt, _) = as_caller(&w, Some(BANK_A)).submit(&all_out).await.expect("paid by bank a for its wallet");
    for (caller, expected) in [(BANK_A, Ok(())), (BANK_B, Ok(())), (TERMINAL_A, Err(Code::PermissionDenied))] {
        let mut c = as_caller(&w, Some(caller));
        let request = proto::GetPaymentRequest { txid: receipt.txid.0.to_vec() };
        let got = c.payments.get_payment(request).await.map(|_| ()).map_err(|s| s.code());
        assert_eq!(got, expected, "{caller}: payer's bank, payee's bank, an unrelated terminal");
    }
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_takes_payments_for_its_own_merchant_only() {
    let mut w = world().await;
    let mut till = as_caller(&w, Some(TERMINAL_A));
    let elsewhere = client::pay(&w.ledger.chain, &w.wallet_a, w.coin, w.shop_b.address(), 1_000, b"wrong-till");
    let status = till.submit(&elsewhere).await.expect_err("pays another merchant");
    common::assert_refusal(&status, Code::PermissionDenied, proto::Reason::PermissionDenied);
    let own = client::pay(&w.ledger.chain, &w.wallet_a, w.coin, w.grocer_a.address(), 1_000, b"right-till");
    let (receipt, _) = till.submit(&own).await.expect("pays its own merchant");
    assert_eq!(receipt.txid, settled::txid(&own));
    assert_eq!(w.ledger.balance(&w.grocer_a.address()).await.total_minor, 1_000);
    assert_eq!(w.ledger.balance(&w.shop_b.address()).await.total_minor, 0, "the refused payment changed nothing");
    w.ledger.assert_supply(100_000).await;
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_oversized_authorization_header_is_unauthenticated() {
    let w = world().await;
    for header in ["Basic abc", "Bearer ", &format!("Bearer {}", "x".repeat(300))] {
        let mut request = tonic::Request::new(proto::GetInfoRequest { count_unspent: false });
        request.metadata_mut().insert("authorization", header.parse().expect("ascii"));
        let mut c = as_caller(&w, None);
        let status = c.ledger.get_info(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{header}");
    }
    w.ledger.shutdown().await;
}

#[test]
fn a_credential_cannot_be_registered_twice_or_shadow_a_configured_one() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut w = world().await;
        for taken in [BANK_A, OPERATOR] {
            let bank = proto::Bank { id: "bank-c".into(), name: "c".into(), credential_sha256: vec![hash(taken)] };
            let request = proto::RegisterBankRequest { bank: Some(bank) };
            let status = w.ledger.client.admin.register_bank(request).await.expect_err("taken");
            common::assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
        }
        w.ledger.shutdown().await;
    });
}

/// A CA, a server certificate for `localhost` and two client certificates.
struct Pki {
    ca_pem: String,
    server: (String, String),
    bank_client: (String, String, Vec<u8>),
    stranger: (String, String),
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let cert =
            CertificateParams::new(vec![name.to_owned()]).expect("params").signed_by(&key, &issuer).expect("signed");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    };
    let (server_cert, server_key, _) = leaf("localhost");
    let bank_client = leaf("bank-a-client");
    let (stranger_cert, stranger_key, _) = leaf("stranger");
    Pki {
        ca_pem: ca_cert.pem(),
        server: (server_cert, server_key),
        bank_client,
        stranger: (stranger_cert, stranger_key),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_client_certificate_authenticates_its_bank_over_mutual_tls() {
    let pki = pki();
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("written");
        path
    };
    let tls = settled::config::TlsConfig {
        cert_file: write("server.pem", &pki.server.0),
        key_file: write("server.key", &pki.server.1),
        client_ca_file: Some(write("ca.pem", &pki.ca_pem)),
    };
    let mut ledger = TestLedger::start_with(move |config| config.tls = Some(tls.clone())).await;
    let url = format!("https://localhost:{}", ledger.server().local_addr().port());
    // The harness's plaintext client cannot talk to a TLS server: use TLS
    // with the development token to set up.
    let token = common::dev_token(&ledger.data_dir());
    let admin = Client::connect_tls(&url, "localhost", pki.ca_pem.as_bytes(), None).await.expect("TLS connects");
    let mut admin = admin.with_credential(Credential::token(&token));
    let (cert_pem, key_pem, cert_der) = &pki.bank_client;
    let bank =
        proto::Bank { id: "bank-a".into(), name: "A".into(), credential_sha256: vec![sha256(cert_der).to_vec()] };
    admin.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank registered");
    let customer = Keypair::generate();
    let wallet = proto::Wallet {
        address: customer.address().0.to_vec(),
        bank_id: "bank-a".into(),
        tier: 1,
        frozen: String::new(),
    };
    admin.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await.expect("wallet");

    let balance = |key: &Keypair| proto::GetBalanceRequest { address: key.address().0.to_vec() };
    let mut bank =
        Client::connect_tls(&url, "localhost", pki.ca_pem.as_bytes(), Some((cert_pem.as_bytes(), key_pem.as_bytes())))
            .await
            .expect("mTLS connects");
    bank.wallets.get_balance(balance(&customer)).await.expect("the certificate is bank-a's credential");
    let other = bank.wallets.get_balance(balance(&Keypair::generate())).await.expect_err("not its customer");
    assert_eq!(other.code(), Code::PermissionDenied);
    let listing = bank.admin.list_banks(proto::ListRequest::default()).await.expect_err("not the operator");
    assert_eq!(listing.code(), Code::PermissionDenied);

    let mut stranger = Client::connect_tls(
        &url,
        "localhost",
        pki.ca_pem.as_bytes(),
        Some((pki.stranger.0.as_bytes(), pki.stranger.1.as_bytes())),
    )
    .await
    .expect("a CA-signed certificate connects");
    let status = stranger.wallets.get_balance(balance(&customer)).await.expect_err("unregistered certificate");
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut anonymous = Client::connect_tls(&url, "localhost", pki.ca_pem.as_bytes(), None).await.expect("connects");
    let status = anonymous.wallets.get_balance(balance(&customer)).await.expect_err("no credential at all");
    assert_eq!(status.code(), Code::Unauthenticated);
    drop((admin, bank, stranger, anonymous));
    if let Some(server) = ledger.server.take() {
        server.shutdown().await;
    }
}
