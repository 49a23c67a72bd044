//! Power loss under the real server: the engine's pipeline (verify threads,
//! sequencer, writer) and gRPC, with the ledger on a simulated disk whose
//! power is cut at a random write or fsync while payments stream in. After
//! each cut the disk reboots keeping none, all or a random part of what was
//! not synced (torn writes), the server restarts on it, and: every receipt
//! given before the cut is in the ledger at the same sequence and block, the
//! chain audit passes, the payments cut off are settled by resubmission
//! (confirmed once, never twice), and the supply adds up.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::{dev_token, issuer_keys};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::{self, Client};
use settled::dev::{DiskFault, SimDisk};
use settled::{Config, Keypair, OutPoint, Output, Server, TxId, proto};
use tonic::Code;

const ROUNDS: usize = 6;
const PAYERS: usize = 12;
const COIN_MINOR: u64 = 1_000_000;
/// How long a round may take to see its power cut before the test counts
/// it as hung (not a measure of speed).
const CUT_WITHIN: Duration = common::HANG_GUARD;

struct Payer {
    key: Keypair,
    coin: (OutPoint, Output),
    /// A payment sent when the power went, outcome unknown.
    in_doubt: Option<settled::Transaction>,
}

async fn start(dir: &std::path::Path, disk: &SimDisk) -> (Server, Client) {
    let config = Config::for_data_dir(dir.to_owned());
    let disk = disk.clone();
    let backend: settled::BackendFactory = std::sync::Arc::new(move || Box::new(disk.backend()));
    let rigs = settled::Rigs { backend: Some(backend), ..settled::Rigs::default() };
    let server = Server::start_with(config, rigs).await.expect("the server starts on the rebooted disk");
    let client = Client::connect_with_token(&server.url(), &dev_token(dir)).await.expect("connects");
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipts_survive_power_loss_mid_commit_with_torn_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = SimDisk::new();
    let mut rng = StdRng::seed_from_u64(0x5e7_71ed);
    let (mut server, mut client) = start(dir.path(), &disk).await;
    let issuers = issuer_keys(dir.path());
    let chain = server.engine().chain_id();
    let shop = Keypair::generate().address();
    let mut payers = Vec::new();
    for i in 0..PAYERS {
        let key = Keypair::generate();
        let mint = client::mint(
            &chain,
            vec![client::output(key.address(), COIN_MINOR, 0)],
            format!("power-{i}").as_bytes(),
            &[&issuers[0], &issuers[1]],
        );
        client.mint(&mint).await.expect("funded");
        payers.push(Payer { coin: client::output_of(&mint, 0), key, in_doubt: None });
    }
    let mut receipts: HashMap<TxId, (u64, u64)> = HashMap::new();
    let mut paid_minor = 0u64;
    let mut cut_with_unsynced = 0;

    for round in 0..ROUNDS {
        // Payers pay one after another until the power goes.
        let cut_after_ms = rng.gen_range(20..200);
        let fault = DiskFault::PowerLoss { after: rng.gen_range(1..40) };
        let mut tasks = Vec::new();
        for (p, payer) in payers.drain(..).enumerate() {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut payer = payer;
                let mut confirmed = Vec::new();
                for n in 0.. {
                    let tx =
                        client::pay(&chain, &payer.key, payer.coin, shop, 1, format!("r{round}-p{p}-{n}").as_bytes());
                    match client.submit(&tx).await {
                        Ok((receipt, _)) => {
                            confirmed.push((receipt.txid, receipt.sequence, receipt.block.header.height));
                            payer.coin = client::output_of(&tx, 1);
                        }
                        Err(status) => {
                            assert_eq!(
                                status.code(),
                                Code::Unavailable,
                                "only the power cut stops a payer: {status:?}"
                            );
                            payer.in_doubt = Some(tx);
                            break;
                        }
                    }
                }
                (payer, confirmed)
            }));
        }
        tokio::time::sleep(Duration::from_millis(cut_after_ms)).await;
        disk.schedule(fault);
        for task in tasks {
            let (payer, confirmed) =
                tokio::time::timeout(CUT_WITHIN, task).await.expect("the power cut stops the payers").expect("task");
            paid_minor += confirmed.len() as u64;
            for (txid, sequence, height) in confirmed {
                assert!(receipts.insert(txid, (sequence, height)).is_none(), "one receipt per payment");
            }
            payers.push(payer);
        }
        server.shutdown().await;
        if disk.unsynced_ops() > 0 {
            cut_with_unsynced += 1;
        }
        let keep = match round % 3 {
            0 => 0.0,
            1 => 1.0,
            _ => rng.r#gen(),
        };
        disk.reboot(&mut rng, keep);

        (server, client) = start(dir.path(), &disk).await;
        assert_eq!(server.engine().chain_id(), chain, "round {round}: the same ledger after the reboot");
        for (txid, (sequence, height)) in &receipts {
            let found = client
                .payments
                .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
                .await
                .unwrap_or_else(|s| panic!("round {round}: receipt {txid} lost: {s:?}"))
                .into_inner();
            let receipt = found.receipt.expect("a confirmed payment has its receipt");
            assert_eq!((receipt.sequence, receipt.block.expect("block").height), (*sequence, *height), "{txid}");
        }
        let audit = client.ledger.audit(proto::AuditRequest::default()).await.expect("audit").into_inner();
        assert!(audit.failures.is_empty(), "round {round}: {:?}", audit.failures);
        // The payments cut off: confirmed before the cut (a duplicate now) or
        // not applied (confirmed now), once either way.
        for payer in &mut payers {
            let tx = payer.in_doubt.take().expect("each payer was cut off");
            let (receipt, _) = client.submit(&tx).await.expect("settled by resubmission");
            paid_minor += 1;
            assert!(receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height)).is_none());
            payer.coin = client::output_of(&tx, 1);
        }
        let shop_balance = client
            .wallets
            .get_balance(proto::GetBalanceRequest { address: shop.0.to_vec() })
            .await
            .expect("balance")
            .into_inner();
        assert_eq!(shop_balance.total_minor, paid_minor, "round {round}: every payment applied exactly once");
        let info = client.ledger.get_info(proto::GetInfoRequest { count_unspent: true }).await.expect("info");
        let info = info.into_inner();
        let minted = info.tip.expect("tip").minted_total_minor;
        assert_eq!((minted, info.unspent_total_minor), (COIN_MINOR * PAYERS as u64, COIN_MINOR * PAYERS as u64));
    }
    assert!(cut_with_unsynced > 0, "some cuts landed mid-commit, with writes not yet synced");
    assert!(receipts.len() > ROUNDS * PAYERS, "payments were confirmed between the cuts");
    server.shutdown().await;
}
