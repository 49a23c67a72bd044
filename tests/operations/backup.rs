//! Online backup and restore (`settled backup`, `settled restore`): a
//! backup taken from a real server while payments flow is a consistent
//! ledger that audits clean, holds every payment confirmed before it began,
//! and serves again once restored; a restore never overwrites a ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common;

use common::TestLedger;
use settled::client::{self, Client};
use settled::{Config, Keypair, Server, proto};

const BIN: &str = env!("CARGO_BIN_EXE_settled");

/// `settled` without a credential: restore works on files only.
fn offline(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .env_remove("SETTLED_TOKEN")
        .env_remove("SETTLED_SERVER")
        .output()
        .expect("runs")
}

fn settled(args: &[&str], token_file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .arg("--token-file")
        .arg(token_file)
        .env_remove("SETTLED_TOKEN")
        .env_remove("SETTLED_SERVER")
        .output()
        .expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_audits_clean_and_serves_what_was_confirmed_before_it() {
    let mut ledger = TestLedger::start().await;
    let (url, data_dir) = (ledger.server().url(), ledger.data_dir());
    let token_file = data_dir.join("dev.token");
    let shop = Keypair::generate().address();
    let payers: Vec<Keypair> = (0..4).map(|_| Keypair::generate()).collect();
    let mut confirmed = Vec::new();
    for (i, payer) in payers.iter().enumerate() {
        let coin = ledger.fund(payer, 1_000_000, &format!("fund-{i}")).await;
        let paid = client::pay(&ledger.chain, payer, coin, shop, 1, format!("before-{i}").as_bytes());
        ledger.client.submit(&paid).await.expect("confirmed before the backup");
        confirmed.push(paid);
    }
    // Payments go on while the backup is taken: each payer spends its change.
    let running = Arc::new(AtomicBool::new(true));
    let mut load = tokio::task::JoinSet::new();
    for (payer, last) in payers.into_iter().zip(confirmed.clone()) {
        let (mut client, chain, running) = (ledger.client.clone(), ledger.chain, Arc::clone(&running));
        load.spawn(async move {
            let (mut coin, mut paid) = (client::output_of(&last, 1), 0u64);
            while running.load(Ordering::Relaxed) {
                let tx = client::pay(&chain, &payer, coin, shop, 1, format!("load-{paid}").as_bytes());
                client.submit(&tx).await.expect("payments go on during the backup");
                coin = client::output_of(&tx, 1);
                paid += 1;
            }
            paid
        });
    }
    let backup_dir = tempfile::tempdir().expect("temp dir");
    let backup_file = backup_dir.path().join("ledger-backup.redb");
    let backup = {
        let (file, token_file, url) = (backup_file.clone(), token_file.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            settled(&["backup", "--out", file.to_str().expect("utf-8"), "--server", &url], &token_file)
        })
        .await
        .expect("joins")
    };
    running.store(false, Ordering::Relaxed);
    let mut paid_during = 0;
    while let Some(paid) = load.join_next().await {
        paid_during += paid.expect("joins");
    }
    let said = String::from_utf8_lossy(&backup.stdout);
    assert!(backup.status.success() && said.contains("audited clean"), "{backup:?}");
    assert!(paid_during > 0, "payments flowed during the backup");
    let height: u64 = said
        .split("at block ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("the backup names its block: {said}"));
    let tip_after = ledger.tip().await.height;
    assert!(height <= tip_after, "a backup of a block the server has");
    // The server's keys, which a backup does not hold, kept for the restore.
    let keys = tempfile::tempdir().expect("temp dir");
    for key in ["engine.key", "issuer-1.key", "issuer-2.key", "issuer-3.key", "dev.token"] {
        std::fs::copy(data_dir.join(key), keys.path().join(key)).expect("key kept");
    }
    ledger.shutdown().await;

    // Restored into an empty directory, with the server's keys beside it.
    let restored = tempfile::tempdir().expect("temp dir");
    let target = restored.path().join("node");
    let restore =
        ["restore", "--from", backup_file.to_str().expect("utf-8"), "--data-dir", target.to_str().expect("utf-8")];
    let done = offline(&restore);
    assert!(done.status.success(), "{done:?}");
    for key in ["engine.key", "issuer-1.key", "issuer-2.key", "issuer-3.key", "dev.token"] {
        std::fs::copy(keys.path().join(key), target.join(key)).expect("keys copied");
    }
    // A second restore onto it is refused and changes nothing.
    let before = std::fs::read(target.join("ledger.redb")).expect("restored ledger");
    let again = offline(&restore);
    assert!(!again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a ledger"), "{again:?}");
    assert_eq!(std::fs::read(target.join("ledger.redb")).expect("still there"), before, "nothing changed");

    let server = Server::start(Config::for_data_dir(target.clone())).await.expect("the restored ledger serves");
    let mut client = Client::connect_with_token(&server.url(), &common::dev_token(&target)).await.expect("connects");
    let info = client.ledger.get_info(proto::GetInfoRequest { count_unspent: true }).await.expect("info").into_inner();
    let tip = info.tip.expect("tip");
    assert_eq!(tip.height, height, "the restored ledger is the backup's block");
    assert_eq!(info.unspent_total_minor, tip.minted_total_minor - tip.burned_total_minor, "supply adds up");
    for paid in &confirmed {
        let found = client
            .payments
            .get_payment(proto::GetPaymentRequest { txid: settled::txid(paid).0.to_vec() })
            .await
            .expect("looked up")
            .into_inner();
        assert_eq!(found.status, proto::PaymentStatus::Confirmed as i32, "confirmed before the backup began");
    }
    let audit = client.ledger.audit(proto::AuditRequest {}).await.expect("audit").into_inner();
    assert!(audit.failures.is_empty(), "{:?}", audit.failures);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_needs_an_operator_and_a_restore_refuses_what_is_not_a_ledger() {
    let ledger = TestLedger::start().await;
    let bank_token = "a bank's token of the backup test";
    let bank = proto::Bank {
        id: "bank-b".into(),
        name: "Bank".into(),
        credential_sha256: vec![settled::sha256(bank_token.as_bytes()).to_vec()],
    };
    ledger.client.clone().admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let as_bank = ledger.client.with_credential(settled::client::Credential::token(bank_token));
    let status = as_bank.clone().admin.backup(proto::BackupRequest {}).await.expect_err("not an operator");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, b"not a ledger").expect("written");
    let target = dir.path().join("node");
    let refused =
        offline(&["restore", "--from", junk.to_str().expect("utf-8"), "--data-dir", target.to_str().expect("utf-8")]);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(!target.join("ledger.redb").exists(), "nothing put in place");
    ledger.shutdown().await;
}
