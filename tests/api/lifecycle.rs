//! The registry's lifecycle against a real server: a wallet frozen and
//! unfrozen (`FreezeWallet`, `UnfreezeWallet`: it pays nothing, by unary
//! call or stream, and still receives), a merchant or a terminal
//! deactivated and reactivated (`SetActive`: the merchant receives
//! nothing, its terminals' calls and open streams end), and every change
//! listed in chain order with who made it (`ListRegistryChanges`). Every
//! refusal is checked for its code and reason and for changing nothing.

use crate::common;

use common::{TestLedger, assert_refusal, end_of};
use settled::client::{self, Credential};
use settled::proto::{self, Reason};
use settled::{Keypair, OutPoint, Output};
use tonic::Code;

const OPERATOR_TOKEN: &str = "the lifecycle test's operator token";
const ISSUER_TOKEN: &str = "the lifecycle test's issuer token";
const AUDITOR_TOKEN: &str = "the lifecycle test's auditor token";
const TILL_TOKEN: &str = "the lifecycle test's till token";

fn with_roles(config: &mut settled::Config) {
    for (role, token) in [("operator", OPERATOR_TOKEN), ("issuer", ISSUER_TOKEN), ("auditor", AUDITOR_TOKEN)] {
        config.credentials.push(settled::config::CredentialConfig {
            role: role.to_owned(),
            token_sha256: Some(hex::encode(settled::sha256(token.as_bytes()))),
            cert_sha256: None,
        });
    }
}

fn freeze(wallet: &Keypair, reason: &str) -> proto::FreezeWalletRequest {
    proto::FreezeWalletRequest { address: wallet.address().0.to_vec(), reason: reason.to_owned() }
}

fn unfreeze(wallet: &Keypair) -> proto::UnfreezeWalletRequest {
    proto::UnfreezeWalletRequest { address: wallet.address().0.to_vec() }
}

fn set_merchant(id: &str, active: bool) -> proto::SetActiveRequest {
    proto::SetActiveRequest { participant: Some(proto::set_active_request::Participant::MerchantId(id.into())), active }
}

fn set_terminal(id: &str, active: bool) -> proto::SetActiveRequest {
    proto::SetActiveRequest { participant: Some(proto::set_active_request::Participant::TerminalId(id.into())), active }
}

async fn frozen_wallets(ledger: &mut TestLedger) -> Vec<proto::FrozenWallet> {
    let request = proto::ListRequest::default();
    ledger.client.admin.list_frozen_wallets(request).await.expect("listed").into_inner().wallets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_wallet_pays_nothing_by_any_path_still_receives_and_pays_again_once_unfrozen() {
    let mut ledger = TestLedger::start_with(with_roles).await;
    let shop = ledger.merchant("shop", 5411).await;
    let alice = Keypair::generate();
    ledger.wallet(&alice, 3).await;
    let coins = ledger.fund_coins(&alice, &[1_000, 1_000, 1_000], "alice").await;
    let before_freeze = client::pay(&ledger.chain, &alice, coins[0], shop.address(), 100, b"before");
    ledger.client.submit(&before_freeze).await.expect("paid before the freeze");

    let issuer = ledger.client.with_credential(Credential::token(ISSUER_TOKEN));
    issuer.clone().admin.freeze_wallet(freeze(&alice, "court order 2026/117")).await.expect("an issuer freezes");
    let listed = frozen_wallets(&mut ledger).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].address.as_slice(), listed[0].reason.as_str()),
        (&alice.address().0[..], "court order 2026/117")
    );
    let info_before = ledger.info(true).await;

    // Unary: refused, saying why.
    let unary = client::pay(&ledger.chain, &alice, coins[1], shop.address(), 100, b"unary");
    let status = ledger.client.submit(&unary).await.expect_err("frozen");
    assert_refusal(&status, Code::FailedPrecondition, Reason::WalletFrozen);
    assert!(status.message().contains("court order 2026/117"), "{status:?}");
    // Streamed: refused.
    let streamed = client::pay(&ledger.chain, &alice, coins[2], shop.address(), 100, b"streamed");
    let answers = ledger.submit_stream(vec![(7, common::to_proto(&streamed))]).await;
    assert_eq!(common::streamed_reason(&answers[&7]), Reason::WalletFrozen);
    // A payment confirmed before the freeze, resubmitted: its receipt, as
    // before; the freeze undoes nothing.
    let (receipt, duplicate) = ledger.client.submit(&before_freeze).await.expect("its receipt");
    assert!(duplicate, "a resubmission");
    assert_eq!(receipt.txid, settled::txid(&before_freeze));
    assert_eq!(ledger.info(true).await, info_before, "nothing frozen moved");

    // It still receives.
    let bob = Keypair::generate();
    let bob_coin = ledger.fund(&bob, 500, "bob").await;
    let to_alice = client::pay(&ledger.chain, &bob, bob_coin, alice.address(), 200, b"to-alice");
    ledger.client.submit(&to_alice).await.expect("a frozen wallet receives");

    // Refused changes change nothing.
    let status = issuer.clone().admin.freeze_wallet(freeze(&alice, "again")).await.expect_err("frozen already");
    assert_refusal(&status, Code::FailedPrecondition, Reason::WalletFrozen);
    let status = issuer.clone().admin.freeze_wallet(freeze(&shop, "a shop")).await.expect_err("a payout address");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    for reason in ["", "line\nbreak", &"x".repeat(257)] {
        let status = issuer.clone().admin.freeze_wallet(freeze(&bob, reason)).await.expect_err("a bad reason");
        assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    }
    let status = issuer.clone().admin.unfreeze_wallet(unfreeze(&bob)).await.expect_err("bob is not frozen");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    let auditor = ledger.client.with_credential(Credential::token(AUDITOR_TOKEN));
    let status = auditor.clone().admin.freeze_wallet(freeze(&bob, "an auditor")).await.expect_err("read-only");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(frozen_wallets(&mut ledger).await.len(), 1, "only alice");

    // The freeze is in the chain: it survives a restart.
    ledger.restart_with(with_roles).await;
    let status = ledger.client.submit(&unary).await.expect_err("still frozen");
    assert_refusal(&status, Code::FailedPrecondition, Reason::WalletFrozen);
    let operator = ledger.client.with_credential(Credential::token(OPERATOR_TOKEN));
    operator.clone().admin.unfreeze_wallet(unfreeze(&alice)).await.expect("an operator unfreezes");
    ledger.client.submit(&unary).await.expect("pays again");
    assert!(frozen_wallets(&mut ledger).await.is_empty());
    ledger.assert_supply(3_500).await;
    ledger.shutdown().await;
}

/// A shop with a till authenticated by `TILL_TOKEN`.
async fn shop_with_till(ledger: &mut TestLedger) -> Keypair {
    let shop = ledger.merchant("shop", 5411).await;
    let till = proto::Terminal {
        id: "till".into(),
        merchant_id: "shop".into(),
        credential_sha256: vec![settled::sha256(TILL_TOKEN.as_bytes()).to_vec()],
        deactivated: false,
    };
    ledger.client.admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(till) }).await.expect("till");
    shop
}

async fn listed_merchant(ledger: &mut TestLedger) -> proto::Merchant {
    let request = proto::ListRequest::default();
    let merchants = ledger.client.admin.list_merchants(request).await.expect("listed").into_inner().merchants;
    merchants.into_iter().find(|m| m.id == "shop").expect("the shop")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_merchant_receives_nothing_its_tills_stop_and_it_still_pays_out() {
    let mut ledger = TestLedger::start_with(with_roles).await;
    let shop = shop_with_till(&mut ledger).await;
    let till = ledger.client.with_credential(Credential::token(TILL_TOKEN));
    let alice = Keypair::generate();
    let coins: Vec<(OutPoint, Output)> = ledger.fund_coins(&alice, &[1_000, 1_000, 1_000], "alice").await;
    let first = client::pay(&ledger.chain, &alice, coins[0], shop.address(), 100, b"first");
    till.clone().submit(&first).await.expect("the till takes a payment");
    // A payment stream of the till, open and idle.
    let (sender, receiver) = tokio::sync::mpsc::channel::<proto::SubmitPaymentsRequest>(1);
    let mut stream = till
        .clone()
        .payments
        .submit_payments(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("opens")
        .into_inner();

    ledger.client.admin.set_active(set_merchant("shop", false)).await.expect("deactivated");
    assert!(listed_merchant(&mut ledger).await.deactivated);
    let ended = end_of(&mut stream).await;
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    drop(sender);
    let second = client::pay(&ledger.chain, &alice, coins[1], shop.address(), 100, b"second");
    let status = till.clone().submit(&second).await.expect_err("the till is stopped");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("deactivated"), "{status:?}");
    let info_before = ledger.info(true).await;
    let status = ledger.client.submit(&second).await.expect_err("the shop receives nothing");
    assert_refusal(&status, Code::FailedPrecondition, Reason::ParticipantInactive);
    assert_eq!(ledger.info(true).await, info_before, "nothing moved");
    // With its own output among the inputs, it still receives nothing more
    // than its change: alice's 1,000 and the shop's 100 in, 1,100 to the shop.
    let mixed = common::transfer(
        &ledger.chain,
        &[coins[1].0, client::output_of(&first, 0).0],
        vec![settled::client::output(shop.address(), 1_100, 0)],
        b"mixed",
        &[&alice, &shop],
    );
    let status = ledger.client.submit(&mixed).await.expect_err("a payment in disguise");
    assert_refusal(&status, Code::FailedPrecondition, Reason::ParticipantInactive);
    // What it holds, it can still pay out.
    let payout = client::pay(&ledger.chain, &shop, client::output_of(&first, 0), alice.address(), 40, b"payout");
    ledger.client.submit(&payout).await.expect("a deactivated merchant pays out");
    // No new till for it; refused changes change nothing.
    let till_2 = proto::Terminal { id: "till-2".into(), merchant_id: "shop".into(), ..Default::default() };
    let request = proto::RegisterTerminalRequest { terminal: Some(till_2) };
    let status = ledger.client.admin.register_terminal(request).await.expect_err("a deactivated merchant");
    assert_refusal(&status, Code::FailedPrecondition, Reason::ParticipantInactive);
    let status = ledger.client.admin.set_active(set_merchant("shop", false)).await.expect_err("twice");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    let status = ledger.client.admin.set_active(set_merchant("nobody", false)).await.expect_err("unknown");
    assert_refusal(&status, Code::FailedPrecondition, Reason::UnknownParticipant);
    let none = proto::SetActiveRequest { participant: None, active: false };
    let status = ledger.client.admin.set_active(none).await.expect_err("nobody named");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    let issuer = ledger.client.with_credential(Credential::token(ISSUER_TOKEN));
    let status = issuer.clone().admin.set_active(set_merchant("shop", true)).await.expect_err("operators only");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Survives a restart; reactivated, it takes payments again.
    ledger.restart_with(with_roles).await;
    let status = ledger.client.submit(&second).await.expect_err("still deactivated");
    assert_refusal(&status, Code::FailedPrecondition, Reason::ParticipantInactive);
    ledger.client.admin.set_active(set_merchant("shop", true)).await.expect("reactivated");
    let till = ledger.client.with_credential(Credential::token(TILL_TOKEN));
    till.clone().submit(&second).await.expect("the till works again");

    // A terminal alone: stopped, while its merchant still receives.
    ledger.client.admin.set_active(set_terminal("till", false)).await.expect("the till deactivated");
    let third = client::pay(&ledger.chain, &alice, coins[2], shop.address(), 100, b"third");
    let status = till.clone().submit(&third).await.expect_err("the till is stopped");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    ledger.client.submit(&third).await.expect("the shop still receives");
    let request = proto::ListRequest::default();
    let terminals = ledger.client.admin.list_terminals(request).await.expect("listed").into_inner().terminals;
    assert!(terminals.iter().any(|t| t.id == "till" && t.deactivated));
    ledger.assert_supply(3_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registry_change_is_listed_in_chain_order_with_who_made_it() {
    let mut ledger = TestLedger::start_with(with_roles).await;
    let operator = ledger.client.with_credential(Credential::token(OPERATOR_TOKEN));
    let issuer = ledger.client.with_credential(Credential::token(ISSUER_TOKEN));
    let auditor = ledger.client.with_credential(Credential::token(AUDITOR_TOKEN));
    let bank = proto::Bank { id: "bank-l".into(), name: "Bank L".into(), credential_sha256: Vec::new() };
    let bank_height =
        operator.clone().admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.unwrap();
    let alice = Keypair::generate();
    let freeze_height = issuer.clone().admin.freeze_wallet(freeze(&alice, "fraud report 88")).await.unwrap();
    let status = issuer.clone().admin.unfreeze_wallet(unfreeze(&Keypair::generate())).await.expect_err("refused");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    operator.clone().admin.unfreeze_wallet(unfreeze(&alice)).await.unwrap();

    let list = |client: &settled::client::Client, page_token: String| {
        let mut client = client.clone();
        async move {
            let request = proto::ListRequest { page_size: 2, page_token };
            client.admin.list_registry_changes(request).await.map(tonic::Response::into_inner)
        }
    };
    let mut changes = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(&auditor, token).await.expect("an auditor reads the changes");
        assert!(page.changes.len() <= 2, "pages are as long as asked");
        changes.extend(page.changes);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["RegisterBank", "FreezeWallet", "UnfreezeWallet"], "the refused change is not one");
    assert_eq!(changes.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1, 2]);
    let by = |token: &str| settled::sha256(token.as_bytes()).to_vec();
    let made = |c: &proto::RegistryChange| (c.by_role.clone(), c.by_credential_sha256.clone());
    assert_eq!(made(&changes[0]), ("operator".to_owned(), by(OPERATOR_TOKEN)));
    assert_eq!(made(&changes[1]), ("issuer".to_owned(), by(ISSUER_TOKEN)));
    assert_eq!(made(&changes[2]), ("operator".to_owned(), by(OPERATOR_TOKEN)));
    assert_eq!(changes[0].height, bank_height.into_inner().height);
    assert_eq!(changes[1].height, freeze_height.into_inner().height);
    assert!(changes[1].change_json.contains("fraud report 88"), "{:?}", changes[1]);
    assert!(changes[1].change_json.contains(&alice.address().to_string()), "{:?}", changes[1]);

    // The same after a restart, from the chain; a page token past the end
    // is an empty page; a bad token is refused; so is a caller without a
    // known credential.
    ledger.restart_with(with_roles).await;
    let auditor = ledger.client.with_credential(Credential::token(AUDITOR_TOKEN));
    let again = list(&auditor, "0".into()).await.expect("after change 0");
    assert_eq!(again.changes.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(), ["FreezeWallet", "UnfreezeWallet"]);
    assert_eq!(made(&again.changes[0]), ("issuer".to_owned(), by(ISSUER_TOKEN)));
    assert!(list(&auditor, "2".into()).await.expect("past the end").changes.is_empty());
    // Operators and auditors only: an issuer may not read the log, nor move
    // a wallet's tier; an auditor reads the frozen wallets.
    let issuer = ledger.client.with_credential(Credential::token(ISSUER_TOKEN));
    assert_eq!(list(&issuer, String::new()).await.unwrap_err().code(), Code::PermissionDenied);
    let tier = proto::SetWalletTierRequest { address: alice.address().0.to_vec(), tier: 2 };
    assert_eq!(issuer.clone().admin.set_wallet_tier(tier).await.unwrap_err().code(), Code::PermissionDenied);
    let frozen = auditor.clone().admin.list_frozen_wallets(proto::ListRequest::default()).await.expect("an auditor");
    assert!(frozen.into_inner().wallets.is_empty(), "alice was unfrozen");
    assert_eq!(list(&auditor, "x".into()).await.unwrap_err().code(), Code::InvalidArgument);
    let stranger = ledger.client.with_credential(Credential::token(TILL_TOKEN));
    assert_eq!(list(&stranger, String::new()).await.unwrap_err().code(), Code::Unauthenticated);
    ledger.shutdown().await;
}

/// The CLI's lifecycle commands against a real server: `settled wallet
/// tier|freeze|frozen|unfreeze`, `settled deactivate|reactivate` and
/// `settled registry-log`, with an error for a refused change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_changes_a_wallets_and_a_merchants_lifecycle_and_lists_who_did() {
    let mut ledger = TestLedger::start_with(with_roles).await;
    ledger.merchant("shop", 5411).await;
    let alice = Keypair::generate();
    ledger.wallet(&alice, 1).await;
    let url = ledger.server().url();
    let address = alice.address().to_string();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(args)
            .args(["--server", &url, "--token", OPERATOR_TOKEN])
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER")
            .output()
            .expect("runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let (ok, out) = run(&["wallet", "tier", "--address", &address, "--tier", "3"]);
    assert!(ok && out.contains("tier 3"), "{out}");
    let (ok, out) = run(&["wallet", "freeze", "--address", &address, "--reason", "fraud report 91"]);
    assert!(ok && out.contains("frozen"), "{out}");
    let (ok, out) = run(&["wallet", "frozen"]);
    assert!(ok && out.contains(&format!("{address}  frozen: fraud report 91")), "{out}");
    let (ok, out) = run(&["wallet", "freeze", "--address", &address, "--reason", "again"]);
    assert!(!ok && out.contains("REASON_WALLET_FROZEN"), "{out}");
    let (ok, out) = run(&["wallet", "unfreeze", "--address", &address]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["deactivate", "--merchant", "shop"]);
    assert!(ok && out.contains("merchant shop deactivated"), "{out}");
    let (ok, out) = run(&["reactivate", "--merchant", "shop"]);
    assert!(ok && out.contains("merchant shop reactivated"), "{out}");
    let (ok, out) = run(&["registry-log"]);
    assert!(ok, "{out}");
    let operator = hex::encode(&settled::sha256(OPERATOR_TOKEN.as_bytes())[..8]);
    for kind in ["SetWalletTier", "FreezeWallet", "UnfreezeWallet", "SetActive"] {
        let line = out.lines().find(|l| l.contains(kind)).unwrap_or_else(|| panic!("no {kind} in {out}"));
        assert!(line.contains(&format!("by operator (credential {operator})")), "{line}");
    }
    assert!(out.lines().any(|l| l.contains("RegisterWallet") && l.contains("by development")), "{out}");
    // --json: one object a change, for a program.
    let (ok, out) = run(&["registry-log", "--json"]);
    assert!(ok, "{out}");
    let changes: Vec<serde_json::Value> =
        out.lines().map(|line| serde_json::from_str(line).expect("a JSON object a line")).collect();
    let freeze = changes.iter().find(|c| c["kind"] == "FreezeWallet").expect("the freeze");
    assert_eq!(freeze["by_role"], "operator");
    assert_eq!(freeze["by_credential_sha256"], hex::encode(settled::sha256(OPERATOR_TOKEN.as_bytes())));
    assert_eq!(freeze["change"]["FreezeWallet"]["reason"], "fraud report 91", "{freeze}");
    let (ok, out) = run(&["wallet", "unfreeze", "--address", &address, "--json"]);
    assert!(!ok, "not frozen any more: {out}");
    let (ok, out) = run(&["deactivate", "--merchant", "shop", "--json"]);
    let done: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(ok && done["height"].as_u64().is_some_and(|h| h > 0), "{out}");
    let wallets = ledger.client.admin.list_wallets(proto::ListRequest::default()).await.unwrap().into_inner();
    assert_eq!(wallets.wallets[0].tier, 3);
    assert!(wallets.wallets[0].frozen.is_empty());
    ledger.shutdown().await;
}
