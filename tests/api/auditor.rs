//! The auditor role (`role = "auditor"` in `[[credentials]]`): reads every
//! block, payment, balance, statement, listing and statistic, and changes
//! nothing: every write is `PERMISSION_DENIED` and the ledger stays as it
//! was.

use crate::common;

use common::TestLedger;
use settled::client::{self, Client, Credential, output};
use settled::{Keypair, proto};
use tonic::Code;

const AUDITOR_TOKEN: &str = "the auditor's token";

fn with_auditor(config: &mut settled::Config) {
    config.credentials.push(settled::config::CredentialConfig {
        role: "auditor".to_owned(),
        token_sha256: Some(hex::encode(settled::sha256(AUDITOR_TOKEN.as_bytes()))),
        cert_sha256: None,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_everything_and_can_change_nothing() {
    let mut ledger = TestLedger::start_with(with_auditor).await;
    ledger.programme(5).await;
    ledger.bank("bank-a").await;
    let alice = Keypair::generate();
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let paid = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 300, b"p");
    ledger.client.submit(&paid).await.expect("paid");
    let mut auditor: Client = ledger.client.with_credential(Credential::token(AUDITOR_TOKEN));

    // Reads.
    let info = auditor.ledger.get_info(proto::GetInfoRequest { count_unspent: true }).await.expect("info").into_inner();
    let tip = info.tip.expect("tip").height;
    auditor.ledger.get_block(proto::GetBlockRequest { height: tip }).await.expect("a block");
    let audit = auditor.ledger.audit(proto::AuditRequest {}).await.expect("audit").into_inner();
    assert!(audit.failures.is_empty());
    let found = auditor
        .payments
        .get_payment(proto::GetPaymentRequest { txid: settled::txid(&paid).0.to_vec() })
        .await
        .expect("any payment")
        .into_inner();
    assert_eq!(found.status, proto::PaymentStatus::Confirmed as i32);
    auditor.wallets.get_balance(proto::GetBalanceRequest { address: alice.address().0.to_vec() }).await.expect("any");
    auditor.admin.list_banks(proto::ListRequest::default()).await.expect("the registry");
    auditor.admin.get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: 5 }).await.expect("stats");
    let request = proto::GetNetPositionsRequest::default();
    auditor.reconciliation.get_net_positions(request).await.expect("positions");
    let statement = proto::GetStatementRequest {
        bank: "bank-a".into(),
        date: ledger.today(),
        format: proto::StatementFormat::Csv.into(),
    };
    auditor.reconciliation.get_statement(statement).await.expect("a bank's statement");

    // Writes: every one refused, nothing changed.
    let before = ledger.info(true).await;
    let denied = |status: tonic::Status| assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let mint = ledger.mint_tx(vec![output(alice.address(), 1, 0)], "auditor-mint");
    denied(auditor.mint(&mint).await.unwrap_err());
    let second = client::pay(&ledger.chain, &alice, client::output_of(&paid, 1), alice.address(), 1, b"x");
    denied(auditor.submit(&second).await.unwrap_err());
    let bank = proto::Bank { id: "bank-z".into(), name: "Z".into(), credential_sha256: Vec::new() };
    denied(auditor.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.unwrap_err());
    let credentials = proto::SetCredentialsRequest {
        participant: Some(proto::set_credentials_request::Participant::BankId("bank-a".into())),
        credential_sha256: Vec::new(),
    };
    denied(auditor.admin.set_credentials(credentials).await.unwrap_err());
    denied(auditor.admin.backup(proto::BackupRequest {}).await.unwrap_err());
    let clawback = proto::ClawbackRequest { programme_id: 5, authorization: Vec::new(), resume_after: Vec::new() };
    denied(auditor.admin.clawback(clawback).await.unwrap_err());
    assert_eq!(ledger.info(true).await, before, "an auditor changes nothing");
    ledger.shutdown().await;
}
