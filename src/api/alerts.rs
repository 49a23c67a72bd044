//! Integrity alerts: the detector that follows confirmed blocks off the
//! payment path (from the store, woken by the durable height, like the bank
//! streams) and feeds `core::integrity`, and `AlertService.WatchAlerts`,
//! which serves what it stored.
//!
//! Durable and resumable: the detector writes its alerts and its cursor
//! (the next block to read) in one write transaction. On start it rebuilds
//! its windows by reading the blocks of the longest window before the
//! cursor without raising anything, then goes on from the cursor: an alert
//! is neither lost nor raised twice across a restart.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::Api;
use crate::api::auth::Need;
use crate::core::integrity::{Alert, Detector, Observed};
use crate::core::limits::ALERT_STREAMS_PER_CALLER_MAX;
use crate::core::registry::{Registry, Role};
use crate::core::types::{Address, AmountMinor, ProgrammeId, Transaction, TxKind};
use crate::engine::Engine;
use crate::proto;
use crate::store::{Store, StoreError};

/// Blocks the detector reads before it writes its cursor, when they raise
/// no alert.
pub const DETECTOR_CURSOR_EVERY_BLOCKS: u64 = 256;
/// Alerts one read of a watch takes from the store.
pub const ALERTS_PER_READ: usize = 256;
/// Alerts a watch buffers ahead of a slow reader.
pub const WATCH_BUFFER_ALERTS: usize = 64;

/// The detector's payments in one block: each transfer's earmarked part
/// paid to a merchant, with one payer (its one witness).
fn observed_in(
    store: &Store,
    registry: &Registry,
    block_time_ms: u64,
    first_sequence: u64,
    txs: &[Transaction],
) -> Result<Vec<Observed>, StoreError> {
    let mut observed = Vec::new();
    for (sequence, tx) in (first_sequence..).zip(txs) {
        let [witness] = tx.witnesses.as_slice() else { continue };
        if tx.kind != TxKind::Transfer {
            continue;
        }
        let payer = witness.public_key;
        let mut parts: Vec<(ProgrammeId, String, u16, AmountMinor)> = Vec::new();
        for output in tx.outputs.iter().filter(|o| o.programme != 0) {
            if let Some(Role::Merchant { id, mcc }) = registry.role(&output.owner) {
                match parts.iter_mut().find(|(p, m, _, _)| *p == output.programme && m == id) {
                    Some(part) => part.3 = part.3.saturating_add(output.amount_minor),
                    None => parts.push((output.programme, id.clone(), *mcc, output.amount_minor)),
                }
            }
        }
        for (programme, merchant, mcc, amount_minor) in parts {
            let change: AmountMinor = tx
                .outputs
                .iter()
                .filter(|o| o.owner == payer && o.programme == programme)
                .map(|o| o.amount_minor)
                .sum();
            // Change back means money left; without it, what the payer holds
            // of the programme now (read once: emptied payments are few).
            let payer_left_minor = if change > 0 { change } else { held(store, &payer, programme)? };
            observed.push(Observed {
                sequence,
                txid: crate::core::encoding::txid(tx),
                time_unix_ms: block_time_ms,
                programme,
                payer,
                merchant,
                mcc,
                amount_minor,
                payer_left_minor,
            });
        }
    }
    Ok(observed)
}

fn held(store: &Store, owner: &Address, programme: ProgrammeId) -> Result<AmountMinor, StoreError> {
    let balance = store.balance_of(owner)?;
    Ok(balance.per_programme.iter().filter(|(p, _)| *p == programme).map(|(_, a)| *a).sum())
}

/// What reading one block gave: its payments' alerts.
fn detect_block(
    store: &Store,
    engine: &Engine,
    detector: &mut Detector,
    height: u64,
) -> Result<Vec<Alert>, StoreError> {
    let Some(block) = store.sealed_block(height)? else { return Ok(Vec::new()) };
    let header = block.signed.header;
    let txs: Vec<Transaction> = block.txs.into_iter().map(|(tx, _)| tx).collect();
    let observed = observed_in(store, &engine.registry(), header.time_unix_ms, header.first_sequence, &txs)?;
    Ok(observed.iter().flat_map(|payment| detector.observe(payment)).collect())
}

/// The detector's loop, on a blocking thread of `runtime`: rebuild, then
/// follow the durable height until the server stops (`stopping`) or the
/// engine ends.
pub fn run_detector(
    engine: &Arc<Engine>,
    mut detector: Detector,
    notify: &watch::Sender<u64>,
    mut stopping: watch::Receiver<bool>,
    runtime: &tokio::runtime::Handle,
) {
    let store = engine.store();
    let result = (|| -> Result<(), StoreError> {
        let mut next = store.detector_cursor()?;
        // Rebuild the windows from the blocks of the longest window before
        // the cursor, raising nothing.
        if next > 1 {
            let until = store.header(next - 1)?.map_or(0, |h| h.header.time_unix_ms);
            let start = store.last_block_before(until.saturating_sub(detector.longest_window_ms()))?.header.height;
            for height in start.max(1)..next {
                if *stopping.borrow() {
                    return Ok(());
                }
                detect_block(store, engine, &mut detector, height)?;
            }
        }
        notify.send_replace(store.last_alert_number()?);
        let mut durable = engine.durable_heights();
        let mut unwritten = 0;
        loop {
            let tip = *durable.borrow_and_update();
            let mut alerts = Vec::new();
            while next <= tip && !*stopping.borrow() {
                alerts.extend(detect_block(store, engine, &mut detector, next)?);
                next += 1;
                unwritten += 1;
                if !alerts.is_empty() || unwritten >= DETECTOR_CURSOR_EVERY_BLOCKS {
                    let last = store.append_alerts(&std::mem::take(&mut alerts), next)?;
                    notify.send_replace(last);
                    unwritten = 0;
                }
            }
            let ended = *stopping.borrow() || engine.failed() || {
                let woke = runtime.block_on(async {
                    tokio::select! {
                        changed = durable.changed() => changed.is_ok(),
                        changed = stopping.changed() => changed.is_ok() && !*stopping.borrow(),
                    }
                });
                !woke
            };
            if ended {
                if unwritten > 0 && !engine.failed() {
                    store.append_alerts(&[], next)?;
                }
                return Ok(());
            }
        }
    })();
    if let Err(error) = result {
        tracing::error!(%error, "the integrity detector stopped: its alerts resume from its cursor on restart");
    }
}

fn alert_to_proto(number: u64, alert: &Alert) -> proto::IntegrityAlert {
    proto::IntegrityAlert {
        number,
        rule: alert.rule.name().to_owned(),
        programme_id: alert.programme,
        merchant_id: alert.merchant.clone(),
        sequence: alert.sequence,
        time_unix_ms: alert.time_unix_ms,
        txids: alert.txids.iter().map(|t| t.0.to_vec()).collect(),
        detail: alert.detail.clone(),
    }
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<proto::WatchAlertsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl proto::alert_service_server::AlertService for Api {
    type WatchAlertsStream = AlertStream;

    async fn watch_alerts(
        &self,
        request: Request<proto::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let principal =
            self.authorize(&request, &[Need::ProgrammeAdministrator, Need::Issuer, Need::Operator, Need::Auditor])?;
        let slot = self.open_stream(format!("alert streams of {principal:?}"), ALERT_STREAMS_PER_CALLER_MAX)?;
        let request = request.into_inner();
        let (tx, rx) = mpsc::channel(WATCH_BUFFER_ALERTS);
        let (engine, mut raised, mut stopping) = (Arc::clone(&self.engine), self.alerts.clone(), self.stopping.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let mut after = request.after_alert;
            loop {
                let engine_for_read = Arc::clone(&engine);
                let read =
                    tokio::task::spawn_blocking(move || engine_for_read.store().alerts_after(after, ALERTS_PER_READ))
                        .await;
                let alerts = match read {
                    Ok(Ok(alerts)) => alerts,
                    Ok(Err(error)) => {
                        let _ = tx.send(Err(crate::api::storage_status(&error))).await;
                        return;
                    }
                    Err(_) => return,
                };
                let read_all = alerts.len() < ALERTS_PER_READ;
                for (number, alert) in alerts {
                    after = number;
                    if request.programme_id != 0 && alert.programme != request.programme_id {
                        continue;
                    }
                    let item = proto::WatchAlertsResponse { alert: Some(alert_to_proto(number, &alert)) };
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
                if !read_all {
                    continue;
                }
                if !request.follow {
                    return;
                }
                tokio::select! {
                    changed = raised.changed() => if changed.is_err() {
                        // The detector stopped (a storage error, or the
                        // server is stopping): say so, not a quiet end.
                        let _ = tx.send(Err(Status::unavailable("the integrity detector stopped; resume after the last alert"))).await;
                        return;
                    },
                    _ = stopping.changed() => {
                        let _ = tx.send(Err(Status::unavailable("the server is stopping; resume after the last alert"))).await;
                        return;
                    }
                    // The caller hung up: free its place at once.
                    () = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
