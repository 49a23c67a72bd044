//! `LedgerService.WatchLedger`: a live view of the ledger for dashboards
//! and the console, against a real server: a status at once, then one as
//! durable blocks come, with the tip, the supply and the rates; the limit
//! of open watches per credential; no credential, no watch.

use crate::common;

use common::{HANG_GUARD, TestLedger, assert_refusal};
use settled::Keypair;
use settled::client::{self, Credential};
use settled::limits::LEDGER_WATCH_STREAMS_PER_CALLER_MAX;
use settled::proto::{self, Reason};
use tonic::Code;

async fn next(stream: &mut tonic::Streaming<proto::LedgerStatus>) -> proto::LedgerStatus {
    tokio::time::timeout(HANG_GUARD, stream.message())
        .await
        .expect("a status in time")
        .expect("no error")
        .expect("the stream goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_shows_the_tip_supply_and_rates_as_blocks_come() {
    let mut ledger = TestLedger::start().await;
    let mut watch = ledger.client.ledger.clone();
    let mut stream = watch.watch_ledger(proto::WatchLedgerRequest {}).await.expect("opens").into_inner();
    let first = next(&mut stream).await;
    let info = ledger.info(false).await;
    assert_eq!(first.tip.as_ref().map(|t| t.height), info.tip.as_ref().map(|t| t.height), "the tip at once");
    assert_eq!(first.transactions, info.next_sequence - 1);
    assert_eq!(first.outstanding_minor, 0);

    let alice = Keypair::generate();
    let coins = ledger.fund_coins(&alice, &[500, 700], "watch").await;
    for (i, coin) in coins.iter().enumerate() {
        let payment = client::pay(&ledger.chain, &alice, *coin, Keypair::generate().address(), 100, &[b'w', i as u8]);
        ledger.client.submit(&payment).await.expect("paid");
    }
    let tip = ledger.tip().await.height;
    let mut last = first.clone();
    while last.tip.as_ref().map_or(0, |t| t.height) < tip {
        last = next(&mut stream).await;
        assert!(last.time_unix_ms >= first.time_unix_ms);
    }
    assert_eq!(last.transactions, first.transactions + 3, "a mint and two payments");
    assert_eq!((last.minted_total_minor, last.burned_total_minor, last.outstanding_minor), (1_200, 0, 1_200));
    assert!(last.transactions_per_second > 0.0 && last.blocks_per_second > 0.0, "{last:?}");
    // The next status waits for the next block, and comes at least the
    // interval after the last.
    let later = tokio::spawn(async move { next(&mut stream).await });
    ledger.fund(&alice, 5, "watch-2").await;
    let status = later.await.expect("joins");
    assert!(status.time_unix_ms - last.time_unix_ms >= settled::limits::LEDGER_STATUS_INTERVAL_MS, "{status:?}");
    assert_eq!(status.transactions, last.transactions + 1, "{status:?}");
    assert_eq!(status.outstanding_minor, 1_205);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_limited_per_credential_and_need_one() {
    let ledger = TestLedger::start().await;
    let mut open = Vec::new();
    for _ in 0..LEDGER_WATCH_STREAMS_PER_CALLER_MAX {
        let mut client = ledger.client.ledger.clone();
        let mut stream = client.watch_ledger(proto::WatchLedgerRequest {}).await.expect("opens").into_inner();
        next(&mut stream).await;
        open.push(stream);
    }
    let mut client = ledger.client.ledger.clone();
    let status = match client.watch_ledger(proto::WatchLedgerRequest {}).await {
        Ok(response) => response.into_inner().message().await.expect_err("past the limit"),
        Err(status) => status,
    };
    assert_refusal(&status, Code::ResourceExhausted, Reason::TooManyStreams);
    // Ending one frees its place (once the server sees the stream end).
    drop(open.pop());
    let reopened = async {
        loop {
            let mut client = ledger.client.ledger.clone();
            if let Ok(response) = client.watch_ledger(proto::WatchLedgerRequest {}).await {
                let mut stream = response.into_inner();
                if stream.message().await.is_ok() {
                    return stream;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, reopened).await.expect("a place comes free");
    let mut stranger = ledger.client.with_credential(Credential::token("nobody's token")).ledger;
    let status = match stranger.watch_ledger(proto::WatchLedgerRequest {}).await {
        Ok(response) => response.into_inner().message().await.expect_err("no credential"),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::Unauthenticated);
    drop(open);
    ledger.shutdown().await;
}
