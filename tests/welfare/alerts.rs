//! Integrity alerts over gRPC: the detector follows confirmed blocks off the
//! payment path and raises an alert when beneficiaries cash out their
//! benefit at a complicit shop; a programme administrator watches them,
//! live, and resumes after any alert across a restart with none lost or
//! repeated; banks and terminals are denied.

use crate::common;

use std::time::Duration;

use common::TestLedger;
use settled::client::{self, Client, Credential, output};
use settled::integrity::Thresholds;
use settled::{Config, Keypair, TxId, proto};
use tonic::Code;

const PROGRAMME: u32 = 61;
const ADMIN_TOKEN: &str = "the programme administrator's token";

/// A programme administrator's credential, and programme 61's cash-out rule
/// at three beneficiaries (every other rule out of reach).
fn configure(config: &mut Config) {
    config.credentials.push(settled::config::CredentialConfig {
        role: "programme_admin".to_owned(),
        token_sha256: Some(hex::encode(settled::sha256(ADMIN_TOKEN.as_bytes()))),
        cert_sha256: None,
    });
    let thresholds = Thresholds {
        emptied_payers_min: 3,
        repeated_min: usize::MAX,
        round_min: usize::MAX,
        basket_samples_min: u64::MAX,
        rapid_min: usize::MAX,
        share_spent_min_minor: u64::MAX,
        ..Thresholds::default()
    };
    config.integrity.programmes.insert(PROGRAMME.to_string(), thresholds);
}

async fn programme(ledger: &mut TestLedger) {
    ledger
        .programme_with(proto::Programme {
            id: PROGRAMME,
            name: "Food support".to_owned(),
            allowed_mccs: vec![5411],
            valid_from_unix_ms: 0,
            valid_until_unix_ms: u64::MAX,
            transferable: false,
            treasury_address: Keypair::generate().address().0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 0,
        })
        .await;
}

/// Three beneficiaries each spend their whole 300.00 at `shop`: the
/// payments' txids.
async fn cash_out(ledger: &mut TestLedger, shop: &Keypair, tag: &str) -> Vec<TxId> {
    let mut txids = Vec::new();
    for n in 0..3 {
        let beneficiary = Keypair::generate();
        let grant =
            ledger.mint_outputs(vec![output(beneficiary.address(), 30_000, PROGRAMME)], &format!("{tag}-{n}")).await;
        let payment = client::pay(&ledger.chain, &beneficiary, grant[0], shop.address(), 30_000, tag.as_bytes());
        let (receipt, _) = ledger.client.submit(&payment).await.expect("paid");
        txids.push(receipt.txid);
    }
    txids
}

fn admin(ledger: &TestLedger) -> Client {
    ledger.client.with_credential(Credential::token(ADMIN_TOKEN))
}

async fn alerts(client: &Client, after: u64) -> Result<Vec<proto::IntegrityAlert>, tonic::Status> {
    let request = proto::WatchAlertsRequest { programme_id: PROGRAMME, after_alert: after, follow: false };
    let mut stream = client.clone().alerts.watch_alerts(request).await?.into_inner();
    let mut alerts = Vec::new();
    while let Some(response) = stream.message().await? {
        alerts.push(response.alert.expect("an alert"));
    }
    Ok(alerts)
}

/// Waits until the detector stored `count` alerts in all.
async fn until_alerts(client: &Client, count: usize) -> Vec<proto::IntegrityAlert> {
    let deadline = tokio::time::Instant::now() + common::HANG_GUARD;
    loop {
        let found = alerts(client, 0).await.expect("watched");
        if found.len() >= count {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "hung waiting for {count} alerts: {found:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn txids(alert: &proto::IntegrityAlert) -> Vec<TxId> {
    alert.txids.iter().map(|t| TxId::from_slice(t).expect("32 bytes")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cash_out_at_a_shop_raises_one_alert_naming_its_payments_live_and_across_a_restart() {
    let mut ledger = TestLedger::start_with(configure).await;
    programme(&mut ledger).await;
    let shop = ledger.merchant("corner-shop", 5411).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let watcher = admin(&ledger);

    // Ordinary shopping: people keep money back. No alert.
    for n in 0..4 {
        let beneficiary = Keypair::generate();
        let grant =
            ledger.mint_outputs(vec![output(beneficiary.address(), 30_000, PROGRAMME)], &format!("ok-{n}")).await;
        let payment = client::pay(&ledger.chain, &beneficiary, grant[0], grocer.address(), 4_500, b"groceries");
        ledger.client.submit(&payment).await.expect("paid");
    }

    let first = cash_out(&mut ledger, &shop, "first").await;
    let found = until_alerts(&watcher, 1).await;
    assert_eq!(found.len(), 1, "one alert for one pattern: {found:?}");
    assert_eq!(
        (found[0].number, found[0].rule.as_str(), found[0].merchant_id.as_str()),
        (1, "CASH_OUT_CLUSTER", "corner-shop")
    );
    assert_eq!(txids(&found[0]), first, "the three payments behind it");

    // A live watch sees the next one as it is raised.
    let request = proto::WatchAlertsRequest { programme_id: PROGRAMME, after_alert: 1, follow: true };
    let mut live = watcher.clone().alerts.watch_alerts(request).await.expect("watching").into_inner();
    let other_shop = ledger.merchant("other-shop", 5411).await;
    let second = cash_out(&mut ledger, &other_shop, "second").await;
    let next = tokio::time::timeout(common::HANG_GUARD, live.message()).await.expect("not hung");
    let next = next.expect("streams").expect("an alert").alert.expect("an alert");
    assert_eq!((next.number, next.merchant_id.as_str()), (2, "other-shop"));
    assert_eq!(txids(&next), second);
    drop(live);

    // After a restart: the same two alerts, none repeated; the detector
    // goes on from where it stopped.
    ledger.restart_with(configure).await;
    let watcher = admin(&ledger);
    let after_restart = alerts(&watcher, 0).await.expect("watched");
    assert_eq!(after_restart.iter().map(|a| a.number).collect::<Vec<_>>(), vec![1, 2]);
    let third_shop = ledger.merchant("third-shop", 5411).await;
    let third = cash_out(&mut ledger, &third_shop, "third").await;
    let found = until_alerts(&watcher, 3).await;
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!((found[2].number, txids(&found[2])), (3, third));
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banks_and_terminals_may_not_watch_alerts() {
    let mut ledger = TestLedger::start_with(configure).await;
    let token = "a bank token of the alerts test";
    let bank = proto::Bank {
        id: "bank-alerts".to_owned(),
        name: "Bank".to_owned(),
        credential_sha256: vec![settled::sha256(token.as_bytes()).to_vec()],
    };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let as_bank = ledger.client.with_credential(Credential::token(token));
    assert_eq!(alerts(&as_bank, 0).await.unwrap_err().code(), Code::PermissionDenied);
    let nobody = ledger.client.with_credential(Credential::token("nobody's token"));
    assert_eq!(alerts(&nobody, 0).await.unwrap_err().code(), Code::Unauthenticated);
    assert!(alerts(&admin(&ledger), 0).await.expect("the administrator may").is_empty());
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_holds_at_most_alert_streams_per_caller_max_watches_open() {
    let ledger = TestLedger::start_with(configure).await;
    let watcher = admin(&ledger);
    let follow = proto::WatchAlertsRequest { programme_id: 0, after_alert: 0, follow: true };
    let mut open = Vec::new();
    for _ in 0..settled::limits::ALERT_STREAMS_PER_CALLER_MAX {
        open.push(watcher.clone().alerts.watch_alerts(follow).await.expect("within the limit").into_inner());
    }
    let status = watcher.clone().alerts.watch_alerts(follow).await.unwrap_err();
    common::assert_refusal(&status, Code::ResourceExhausted, proto::Reason::TooManyStreams);
    // Another caller is not held to this one's streams.
    let request = proto::WatchAlertsRequest { follow: false, ..follow };
    ledger.client.clone().alerts.watch_alerts(request).await.expect("the operator's own");
    // One closed, one more fits.
    drop(open.pop());
    let reopened = tokio::time::timeout(common::HANG_GUARD, async {
        loop {
            match watcher.clone().alerts.watch_alerts(follow).await {
                Ok(stream) => return stream,
                Err(status) if status.code() == Code::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(status) => panic!("{status:?}"),
            }
        }
    })
    .await;
    assert!(reopened.is_ok(), "a closed watch frees its place");
    ledger.shutdown().await;
}
