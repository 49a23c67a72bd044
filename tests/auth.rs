//! Authentication and authorisation over real gRPC: each role against each
//! service, banks and terminals confined to their own customers, and a
//! terminal taking payments only for its own merchant.

mod common;

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
            CredentialConfig { role: "operator".into(), token_sha256: hex::encode(hash(OPERATOR)) },
            CredentialConfig { role: "issuer".into(), token_sha256: hex::encode(hash(ISSUER)) },
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
    };
    ledger
        .client
        .admin
        .register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) })
        .await
        .expect("terminal");
    let (wallet_a, wallet_b) = (Keypair::generate(), Keypair::generate());
    for (key, bank) in [(&wallet_a, "bank-a"), (&wallet_b, "bank-b")] {
        let wallet = proto::Wallet { address: key.address().0.to_vec(), bank_id: bank.into(), tier: 2 };
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
    let payment = client::pay(&w.wallet_a, w.coin, w.grocer_a.address(), 1_000, b"till");
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
        let clawback = c.admin.clawback(proto::ClawbackRequest { programme_id: 99, authorization: Vec::new() }).await;
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
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_takes_payments_for_its_own_merchant_only() {
    let mut w = world().await;
    let mut till = as_caller(&w, Some(TERMINAL_A));
    let elsewhere = client::pay(&w.wallet_a, w.coin, w.shop_b.address(), 1_000, b"wrong-till");
    let status = till.submit(&elsewhere).await.expect_err("pays another merchant");
    common::assert_refusal(&status, Code::PermissionDenied, proto::Reason::PermissionDenied);
    let own = client::pay(&w.wallet_a, w.coin, w.grocer_a.address(), 1_000, b"right-till");
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
fn a_credential_cannot_be_registered_twice() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut w = world().await;
        let bank = proto::Bank { id: "bank-c".into(), name: "c".into(), credential_sha256: vec![hash(BANK_A)] };
        let status = w
            .ledger
            .client
            .admin
            .register_bank(proto::RegisterBankRequest { bank: Some(bank) })
            .await
            .expect_err("taken");
        common::assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
        w.ledger.shutdown().await;
    });
}
