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

/// `settled audit --engine-key K --chain-id C` re-derives the whole ledger
/// from genesis on the client (every block from `ExportBlocks`, replayed
/// as a replica replays), trusting no server's word; the wrong pins fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_audits_a_ledger_trusting_no_server() {
    let mut ledger = TestLedger::start_with(with_auditor).await;
    ledger.programme(5).await;
    let shop = ledger.merchant("shop", 5411).await;
    let mei = Keypair::generate();
    ledger.wallet(&mei, 1).await;
    let coins =
        ledger.mint_outputs(vec![output(mei.address(), 5_000, 5), output(mei.address(), 3_000, 0)], "grants").await;
    for (i, coin) in coins.iter().enumerate() {
        let paid = client::pay(&ledger.chain, &mei, *coin, shop.address(), 1_000, format!("p{i}").as_bytes());
        ledger.client.submit(&paid).await.expect("paid");
    }
    let info = ledger.info(false).await;
    let (engine_key, chain) = (hex::encode(&info.engine_public_key), hex::encode(&info.chain_id));
    let url = ledger.server().url();
    let audit = |key: &str, chain: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(["audit", "--server", &url, "--engine-key", key, "--chain-id", chain, "--token", AUDITOR_TOKEN])
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER")
            .output()
            .expect("runs")
    };
    let clean = audit(&engine_key, &chain);
    let out = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success() && out.contains("re-derived from genesis, trusting no server"), "{clean:?}");
    let tip = info.tip.expect("tip").height;
    assert!(out.contains(&format!("tip block {tip}")), "{out}");
    let other_key = Keypair::generate().address().to_string();
    let wrong_key = audit(&other_key, &chain);
    assert!(!wrong_key.status.success(), "{wrong_key:?}");
    assert!(
        String::from_utf8_lossy(&wrong_key.stderr).contains("not signed by the pinned engine key"),
        "{wrong_key:?}"
    );
    let wrong_chain = audit(&engine_key, &"ab".repeat(32));
    assert!(!wrong_chain.status.success(), "{wrong_chain:?}");
    assert!(String::from_utf8_lossy(&wrong_chain.stderr).contains("not the pinned chain id"), "{wrong_chain:?}");
    ledger.shutdown().await;
}

/// `ExportBlocks` hands out every transaction of the ledger: only the
/// operator, the issuer and the auditor reach it (a bank is denied, no
/// credential is unauthenticated), and each exported block is signed by the
/// engine for this chain alone: it decodes under the pinned engine key and
/// chain id, and under no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_exports_are_for_auditors_and_signed_for_one_chain() {
    let mut ledger = TestLedger::start_with(with_auditor).await;
    ledger.bank("bank-a").await;
    let bank_token = "an exporting bank's token";
    let bank = proto::Bank {
        id: "bank-x".into(),
        name: "Bank".into(),
        credential_sha256: vec![settled::sha256(bank_token.as_bytes()).to_vec()],
    };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let export = proto::ExportBlocksRequest { from_height: 1 };
    let as_bank = ledger.client.with_credential(Credential::token(bank_token));
    let status = as_bank.clone().ledger.export_blocks(export).await.expect_err("a bank");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let nobody = ledger.client.with_credential(Credential::token("nobody's token"));
    let status = nobody.clone().ledger.export_blocks(export).await.expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let info = ledger.info(false).await;
    let engine_key = settled::Address::from_slice(&info.engine_public_key).expect("a key");
    let mut auditor = ledger.client.with_credential(Credential::token(AUDITOR_TOKEN));
    let mut chunks = auditor.ledger.export_blocks(export).await.expect("the auditor exports").into_inner();
    let (mut block, mut blocks) = (Vec::new(), 0);
    while let Some(chunk) = chunks.message().await.expect("a chunk") {
        assert!(chunk.data.len() <= settled::limits::EXPORT_CHUNK_BYTES, "chunks are bounded");
        block.extend_from_slice(&chunk.data);
        if !chunk.last {
            continue;
        }
        let bytes = std::mem::take(&mut block);
        settled::replica::ReplicatedBlock::decode(&bytes, &engine_key, &ledger.chain).expect("signed for this chain");
        let other_chain = settled::ChainId([0xab; 32]);
        assert!(settled::replica::ReplicatedBlock::decode(&bytes, &engine_key, &other_chain).is_err(), "another chain");
        let other_key = Keypair::generate().address();
        assert!(settled::replica::ReplicatedBlock::decode(&bytes, &other_key, &ledger.chain).is_err(), "another key");
        blocks += 1;
    }
    assert_eq!(blocks, info.tip.expect("tip").height, "every block after genesis");
    ledger.shutdown().await;
}
