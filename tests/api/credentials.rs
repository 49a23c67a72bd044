//! Credential rotation and revocation (`AdminService.SetCredentials`,
//! `settled credentials`): a stolen terminal's token stops working for new
//! calls as soon as the change is answered, open streams authenticated by
//! it end `UNAUTHENTICATED`, a bank can be locked out, and the change
//! survives a restart. Changes that break a rule are refused and change
//! nothing.

use crate::common;

use common::{HANG_GUARD, TestLedger, assert_refusal, end_of};
use settled::client::{self, Client, Credential};
use settled::{Keypair, proto};
use tonic::Code;

const OLD_TOKEN: &str = "the till's first token";
const NEW_TOKEN: &str = "the till's rotated token";
const BANK_TOKEN: &str = "the revoked bank's token";

fn hash(token: &str) -> Vec<u8> {
    settled::sha256(token.as_bytes()).to_vec()
}

fn set_terminal(id: &str, tokens: &[&str]) -> proto::SetCredentialsRequest {
    proto::SetCredentialsRequest {
        participant: Some(proto::set_credentials_request::Participant::TerminalId(id.to_owned())),
        credential_sha256: tokens.iter().map(|t| hash(t)).collect(),
    }
}

fn set_bank(id: &str, tokens: &[&str]) -> proto::SetCredentialsRequest {
    proto::SetCredentialsRequest {
        participant: Some(proto::set_credentials_request::Participant::BankId(id.to_owned())),
        credential_sha256: tokens.iter().map(|t| hash(t)).collect(),
    }
}

/// A shop with a till whose credential is `OLD_TOKEN`.
async fn shop_with_till(ledger: &mut TestLedger) -> Keypair {
    let shop = ledger.merchant("shop", 5411).await;
    let till = proto::Terminal {
        id: "till".into(),
        merchant_id: "shop".into(),
        credential_sha256: vec![hash(OLD_TOKEN)],
        deactivated: false,
    };
    ledger.client.admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(till) }).await.expect("till");
    shop
}

async fn info(client: &Client) -> Result<proto::GetInfoResponse, tonic::Status> {
    client
        .clone()
        .ledger
        .get_info(proto::GetInfoRequest { count_unspent: false })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_terminal_token_stops_working_at_once_and_its_open_stream_ends() {
    let mut ledger = TestLedger::start().await;
    let shop = shop_with_till(&mut ledger).await;
    let (old, new) = (
        ledger.client.with_credential(Credential::token(OLD_TOKEN)),
        ledger.client.with_credential(Credential::token(NEW_TOKEN)),
    );
    let alice = Keypair::generate();
    let coins = ledger.fund_coins(&alice, &[1_000, 1_000, 1_000], "coins").await;
    old.clone().submit(&client::pay(&ledger.chain, &alice, coins[0], shop.address(), 100, b"p1")).await.expect("paid");
    assert_eq!(info(&new).await.unwrap_err().code(), Code::Unauthenticated, "not yet the till's");
    // A payment stream opened with the old token, idle.
    let (sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(1);
    let mut stream = old
        .clone()
        .payments
        .submit_payments(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("the stream opens")
        .into_inner();

    ledger.client.admin.set_credentials(set_terminal("till", &[NEW_TOKEN])).await.expect("rotated");
    let second = client::pay(&ledger.chain, &alice, coins[1], shop.address(), 100, b"p2");
    let status = old.clone().submit(&second).await.expect_err("the old token is revoked");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    new.clone().submit(&second).await.expect("paid with the new token");
    let ended = end_of(&mut stream).await;
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert!(ended.message().contains("revoked"), "{ended:?}");
    drop(sender);

    // The rotation is in the registry the chain replays.
    ledger.restart().await;
    let (old, new) = (
        ledger.client.with_credential(Credential::token(OLD_TOKEN)),
        ledger.client.with_credential(Credential::token(NEW_TOKEN)),
    );
    assert_eq!(info(&old).await.unwrap_err().code(), Code::Unauthenticated);
    let third = client::pay(&ledger.chain, &alice, coins[2], shop.address(), 100, b"p3");
    new.clone().submit(&third).await.expect("the new token after a restart");
    ledger.assert_supply(3_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_whose_credentials_are_all_revoked_is_locked_out_and_its_live_stream_ends() {
    let mut ledger = TestLedger::start().await;
    let bank =
        proto::Bank { id: "bank-r".into(), name: "Revoked bank".into(), credential_sha256: vec![hash(BANK_TOKEN)] };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let as_bank = ledger.client.with_credential(Credential::token(BANK_TOKEN));
    info(&as_bank).await.expect("the bank calls");
    let mut live = as_bank
        .clone()
        .reconciliation
        .subscribe(proto::SubscribeRequest { bank: String::new(), ..Default::default() })
        .await
        .expect("subscribed")
        .into_inner();
    // An operator's stream is not the bank's credential's: it stays.
    let mut operators = ledger
        .client
        .clone()
        .reconciliation
        .subscribe(proto::SubscribeRequest { bank: "bank-r".into(), ..Default::default() })
        .await
        .expect("subscribed")
        .into_inner();

    ledger.client.admin.set_credentials(set_bank("bank-r", &[])).await.expect("revoked");
    assert_eq!(info(&as_bank).await.unwrap_err().code(), Code::Unauthenticated);
    let ended = end_of(&mut live).await;
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    // The operator's stream still delivers: a mint to a wallet of the bank
    // reaches it.
    let wallet = Keypair::generate();
    let registration = proto::Wallet {
        address: wallet.address().0.to_vec(),
        bank_id: "bank-r".into(),
        tier: 1,
        frozen: String::new(),
    };
    ledger.client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(registration) }).await.expect("w");
    ledger.fund(&wallet, 500, "after-revocation").await;
    let item = tokio::time::timeout(HANG_GUARD, operators.message()).await.expect("in time").expect("an item");
    assert!(item.is_some(), "the operator's stream goes on");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_changes_that_break_a_rule_are_refused_and_change_nothing() {
    let mut ledger = TestLedger::start().await;
    shop_with_till(&mut ledger).await;
    let other =
        proto::Bank { id: "bank-o".into(), name: "Other bank".into(), credential_sha256: vec![hash(BANK_TOKEN)] };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(other) }).await.expect("bank");
    let admin = &mut ledger.client.admin;
    let status = admin.set_credentials(set_terminal("no-such-till", &[NEW_TOKEN])).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::UnknownParticipant);
    let status = admin.set_credentials(set_bank("no-such-bank", &[NEW_TOKEN])).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::UnknownParticipant);
    // Another participant's credential, or the configuration's.
    let status = admin.set_credentials(set_terminal("till", &[BANK_TOKEN])).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
    let dev = common::dev_token(&ledger.data_dir());
    let status = ledger.client.admin.set_credentials(set_terminal("till", &[&dev])).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
    let admin = &mut ledger.client.admin;
    // No participant, too many credentials, one twice, a hash not 32 bytes.
    let nobody = proto::SetCredentialsRequest { participant: None, credential_sha256: vec![hash(NEW_TOKEN)] };
    let status = admin.set_credentials(nobody).await.unwrap_err();
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::InvalidRegistration);
    let many: Vec<String> = (0..=settled::limits::CREDENTIALS_MAX).map(|i| format!("token {i}")).collect();
    let status =
        admin.set_credentials(set_terminal("till", &many.iter().map(String::as_str).collect::<Vec<_>>())).await;
    assert_refusal(&status.unwrap_err(), Code::InvalidArgument, proto::Reason::InvalidRegistration);
    let status = admin.set_credentials(set_terminal("till", &[NEW_TOKEN, NEW_TOKEN])).await.unwrap_err();
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::InvalidRegistration);
    let short = proto::SetCredentialsRequest {
        participant: Some(proto::set_credentials_request::Participant::TerminalId("till".into())),
        credential_sha256: vec![vec![1; 31]],
    };
    assert_refusal(
        &admin.set_credentials(short).await.unwrap_err(),
        Code::InvalidArgument,
        proto::Reason::InvalidRegistration,
    );
    // Only an operator changes credentials.
    let as_bank = ledger.client.with_credential(Credential::token(BANK_TOKEN));
    let status = as_bank.clone().admin.set_credentials(set_bank("bank-o", &[NEW_TOKEN])).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Nothing changed: the till's token and the bank's still work.
    info(&ledger.client.with_credential(Credential::token(OLD_TOKEN))).await.expect("the till's token");
    info(&as_bank).await.expect("the bank's token");
    // Keeping a credential while adding one is a rotation with overlap.
    ledger.client.admin.set_credentials(set_terminal("till", &[OLD_TOKEN, NEW_TOKEN])).await.expect("overlap");
    info(&ledger.client.with_credential(Credential::token(OLD_TOKEN))).await.expect("the old one, kept");
    info(&ledger.client.with_credential(Credential::token(NEW_TOKEN))).await.expect("the new one");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_rotates_and_revokes_a_terminals_credentials() {
    let mut ledger = TestLedger::start().await;
    shop_with_till(&mut ledger).await;
    let (url, token_file) = (ledger.server().url(), ledger.data_dir().join("dev.token"));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .arg("credentials")
            .args(args)
            .args(["--server", &url])
            .arg("--token-file")
            .arg(&token_file)
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER")
            .output()
            .expect("runs")
    };
    let rotated = run(&["--terminal", "till", "--credential-token", NEW_TOKEN]);
    let out = String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success() && out.contains("terminal till now has 1 credential(s)"), "{rotated:?}");
    assert_eq!(
        info(&ledger.client.with_credential(Credential::token(OLD_TOKEN))).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    info(&ledger.client.with_credential(Credential::token(NEW_TOKEN))).await.expect("rotated");
    let revoked = run(&["--terminal", "till", "--none"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(
        info(&ledger.client.with_credential(Credential::token(NEW_TOKEN))).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let refused = run(&["--terminal", "till"]);
    assert!(!refused.status.success(), "nothing to keep and no --none: {refused:?}");
    ledger.shutdown().await;
}
