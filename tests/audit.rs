//! The chain audit: a sound ledger passes; a tampered block file is caught.

mod common;

use common::TestLedger;
use redb::ReadableTable;
use settled::{Keypair, client, proto};

async fn audit(ledger: &mut TestLedger) -> proto::AuditResponse {
    ledger.client.ledger.audit(proto::AuditRequest {}).await.expect("audit runs").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_ledger_passes_and_a_tampered_block_file_is_caught() {
    let mut ledger = TestLedger::start().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[5_000, 7_000, 9_000], "rows").await;
    for (i, coin) in coins.iter().enumerate() {
        let payment = client::pay(&alice, *coin, shop.address(), 1_000, format!("inv-{i}").as_bytes());
        ledger.client.submit(&payment).await.expect("paid");
    }
    let sound = audit(&mut ledger).await;
    assert!(sound.failures.is_empty(), "{:?}", sound.failures);
    assert_eq!(sound.minted_minor, 21_000);
    assert_eq!(sound.unspent_minor, 21_000);
    assert_eq!(sound.transactions, 4, "one mint, three payments");
    let tip = ledger.tip().await;
    assert_eq!(sound.blocks, tip.height + 1);

    // Tamper with block 2 in the file while the server is down: one byte of
    // its minted total, so its hash, signature and the next link all break.
    let file = ledger.data_dir().join("ledger.redb");
    ledger.server.take().expect("running").shutdown().await;
    {
        let headers: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("headers");
        let db = redb::Database::open(&file).expect("opens");
        let write = db.begin_write().expect("write");
        {
            let mut table = write.open_table(headers).expect("table");
            let mut record = table.get(2).expect("read").expect("block 2").value().to_vec();
            record[100] ^= 0x01;
            table.insert(2, record.as_slice()).expect("tampered");
        }
        write.commit().expect("committed");
    }
    ledger.restart_stopped().await;
    let tampered = audit(&mut ledger).await;
    let text = tampered.failures.join("\n");
    assert!(text.contains("block 2: not signed by the engine key"), "{text}");
    assert!(text.contains("block 3: previous_hash does not match block 2"), "{text}");
    assert!(text.contains("block 2: minted total"), "{text}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_and_issuers_may_audit() {
    let ledger = TestLedger::start().await;
    let mut anonymous = ledger.client.with_credential(client::Credential::default());
    let status = anonymous.ledger.audit(proto::AuditRequest {}).await.expect_err("no credential");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    ledger.shutdown().await;
}
