//! The chain audit: a sound ledger passes; a tampered block file is caught
//! (at open, by the audit, and by any read of it); a file of protocol
//! version 1 is refused.

use crate::common;

use common::TestLedger;
use redb::ReadableTable;
use settled::limits::OPEN_CHECK_RECENT_BLOCKS;
use settled::{Config, Keypair, Server, client, proto};

async fn audit(ledger: &mut TestLedger) -> proto::AuditResponse {
    ledger.client.ledger.audit(proto::AuditRequest {}).await.expect("audit runs").into_inner()
}

/// Flips one byte of block `height`'s stored header (in its minted total),
/// so that its hash, its signature and the next block's link all break.
fn tamper_with_block(file: &std::path::Path, height: u64) {
    let headers: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("headers");
    let db = redb::Database::open(file).expect("opens");
    let write = db.begin_write().expect("write");
    {
        let mut table = write.open_table(headers).expect("table");
        let mut record = table.get(height).expect("read").expect("the block").value().to_vec();
        record[100] ^= 0x01;
        table.insert(height, record.as_slice()).expect("tampered");
    }
    write.commit().expect("committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_ledger_passes_and_a_tampered_block_file_is_caught() {
    let mut ledger = TestLedger::start().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[5_000, 7_000, 9_000], "rows").await;
    let mut change = None;
    for (i, coin) in coins.iter().enumerate() {
        let payment = client::pay(&ledger.chain, &alice, *coin, shop.address(), 1_000, format!("inv-{i}").as_bytes());
        ledger.client.submit(&payment).await.expect("paid");
        change = Some(client::output_of(&payment, 1));
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
    // The check at open (every block since the last clean shutdown, and at
    // least the last OPEN_CHECK_RECENT_BLOCKS) finds it: the file is not
    // served.
    let file = ledger.data_dir().join("ledger.redb");
    ledger.server.take().expect("running").shutdown().await;
    tamper_with_block(&file, 2);
    let Err(error) = Server::start(Config::for_data_dir(ledger.data_dir())).await else {
        panic!("a server must not start on a damaged file");
    };
    let text = error.to_string();
    assert!(text.contains("the data file is damaged"), "{text}");
    assert!(text.contains("block 2: not signed by the engine key"), "{text}");

    // Undone, the file is served again. Once block 2 is older than the check
    // at open covers, tampered with again, the server starts: the audit
    // finds what does not hold.
    tamper_with_block(&file, 2);
    ledger.restart_stopped().await;
    let mut coin = change.expect("three payments");
    for i in 0..OPEN_CHECK_RECENT_BLOCKS {
        let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 1, format!("more-{i}").as_bytes());
        ledger.client.submit(&payment).await.expect("paid");
        coin = client::output_of(&payment, 1);
    }
    ledger.server.take().expect("running").shutdown().await;
    tamper_with_block(&file, 2);
    ledger.restart_stopped().await;
    let tampered = audit(&mut ledger).await;
    let text = tampered.failures.join("\n");
    assert!(text.contains("block 2: not signed by the engine key"), "{text}");
    assert!(text.contains("block 3: previous_hash does not match block 2"), "{text}");
    assert!(text.contains("block 2: minted total"), "{text}");

    // Read through the API, the damaged block is not served: DATA_LOSS, and
    // the engine stops confirming.
    let status = ledger.client.ledger.get_block(proto::GetBlockRequest { height: 2 }).await.expect_err("damaged");
    assert_eq!(status.code(), tonic::Code::DataLoss, "{status:?}");
    let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 1, b"after the damage");
    let status = ledger.client.submit(&payment).await.expect_err("a stopped engine confirms nothing");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_of_protocol_version_1_is_refused_at_open() {
    let mut ledger = TestLedger::start().await;
    let file = ledger.data_dir().join("ledger.redb");
    ledger.server.take().expect("running").shutdown().await;
    {
        // The genesis record's version byte, after its 4-byte magic.
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        let db = redb::Database::open(&file).expect("opens");
        let write = db.begin_write().expect("write");
        {
            let mut table = write.open_table(meta).expect("table");
            let mut genesis = table.get("genesis").expect("read").expect("the genesis").value().to_vec();
            assert_eq!(genesis[4], settled::PROTOCOL_VERSION);
            genesis[4] = 1;
            table.insert("genesis", genesis.as_slice()).expect("written");
        }
        write.commit().expect("committed");
    }
    let Err(error) = Server::start(Config::for_data_dir(ledger.data_dir())).await else {
        panic!("a server must not start on a file of protocol version 1");
    };
    assert!(error.to_string().contains("written by protocol version 1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_and_issuers_may_audit() {
    let ledger = TestLedger::start().await;
    let mut anonymous = ledger.client.with_credential(client::Credential::default());
    let status = anonymous.ledger.audit(proto::AuditRequest {}).await.expect_err("no credential");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    ledger.shutdown().await;
}
