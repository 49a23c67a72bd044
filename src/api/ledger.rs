//! `LedgerService`: the ledger's information, blocks and the audit.

use super::*;

#[tonic::async_trait]
impl proto::ledger_service_server::LedgerService for Api {
    async fn get_info(
        &self,
        request: Request<proto::GetInfoRequest>,
    ) -> Result<Response<proto::GetInfoResponse>, Status> {
        let genesis = self.engine.genesis();
        self.authorize(
            &request,
            &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor, Need::Bank, Need::Terminal],
        )?;
        let (tip, unspent_count, unspent_total_minor) = if request.into_inner().count_unspent {
            let engine = Arc::clone(&self.engine);
            let (count, sum, tip) = blocking(move || engine.store().count_unspent()).await?;
            (tip, count, sum)
        } else {
            let tip = self.engine.tip();
            let h = &tip.block.header;
            (tip.block, tip.unspent_count, h.minted_total_minor - h.burned_total_minor)
        };
        let h = &tip.header;
        Ok(Response::new(proto::GetInfoResponse {
            engine_public_key: self.engine.engine_key().0.to_vec(),
            currency: genesis.currency.clone(),
            currency_exponent: genesis.exponent,
            issuer_public_keys: genesis.issuer_keys.iter().map(|k| k.0.to_vec()).collect(),
            issuer_threshold: genesis.issuer_threshold,
            tip: Some(header_to_proto(&tip)),
            next_sequence: h.next_sequence(),
            unspent_total_minor,
            unspent_count,
            genesis_hash: genesis.hash().to_vec(),
            chain_id: self.engine.chain_id().0.to_vec(),
            protocol_version: u32::from(crate::core::types::PROTOCOL_VERSION),
            day_offset_minutes: self.engine.tiers().day_offset_minutes,
            cluster: cluster_status(&self.engine),
        }))
    }

    async fn audit(&self, request: Request<proto::AuditRequest>) -> Result<Response<proto::AuditResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor])?;
        let engine = Arc::clone(&self.engine);
        let report = blocking(move || {
            let report = crate::store::audit::audit(engine.store())?;
            let record = crate::store::audit::AuditRecord::of(&report, crate::core::clock::now_unix_ms());
            engine.store().record_audit(&record)?;
            Ok(report)
        })
        .await?;
        Ok(Response::new(audit_report_to_proto(report)))
    }

    type WatchLedgerStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::LedgerStatus, Status>> + Send + 'static>>;

    async fn watch_ledger(
        &self,
        request: Request<proto::WatchLedgerRequest>,
    ) -> Result<Response<Self::WatchLedgerStream>, Status> {
        use crate::core::limits::{
            LEDGER_RATE_WINDOW_MS, LEDGER_STATUS_INTERVAL_MS, LEDGER_WATCH_STREAMS_PER_CALLER_MAX,
        };
        let principal = self.authorize(
            &request,
            &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor, Need::Bank, Need::Terminal],
        )?;
        let slot = self.open_stream(format!("ledger watches of {principal:?}"), LEDGER_WATCH_STREAMS_PER_CALLER_MAX)?;
        let (tx, rx) = mpsc::channel(1);
        let (engine, mut stopping) = (Arc::clone(&self.engine), self.stopping.clone());
        let mut durable = engine.durable_heights();
        tokio::spawn(async move {
            let _slot = slot;
            let interval = std::time::Duration::from_millis(LEDGER_STATUS_INTERVAL_MS);
            let samples_max = usize::try_from(LEDGER_RATE_WINDOW_MS / LEDGER_STATUS_INTERVAL_MS + 1).unwrap_or(1);
            // The statuses sent over the rate window, the oldest first.
            let mut samples: std::collections::VecDeque<Sample> = std::collections::VecDeque::new();
            loop {
                let tip = engine.tip().block;
                let h = &tip.header;
                let now = crate::core::clock::now_unix_ms();
                let transactions = h.next_sequence().saturating_sub(1);
                if samples.len() == samples_max {
                    samples.pop_front();
                }
                let latencies = engine.metrics().confirmations.snapshot();
                samples.push_back(Sample { time: now, height: h.height, transactions, latencies });
                while samples.len() > 1 && samples.front().is_some_and(|s| now - s.time > LEDGER_RATE_WINDOW_MS) {
                    samples.pop_front();
                }
                let (first, last) = (&samples[0], &samples[samples.len() - 1]);
                let rate = |of: fn(&Sample) -> u64| {
                    if last.time > first.time {
                        #[allow(clippy::cast_precision_loss)]
                        let per_second = (of(last) - of(first)) as f64 * 1000.0 / (last.time - first.time) as f64;
                        per_second
                    } else {
                        0.0
                    }
                };
                let latency = crate::metrics::latency::percentiles(&first.latencies, &last.latencies);
                let last_audit = engine.store().last_audit().map(|r| proto::AuditResult {
                    time_unix_ms: r.time_unix_ms,
                    height: r.height,
                    blocks: r.blocks,
                    transactions: r.transactions,
                    sound: r.failures == 0,
                    failures: r.failures,
                    first_failure: r.first_failure,
                });
                let status = proto::LedgerStatus {
                    tip: Some(header_to_proto(&tip)),
                    transactions,
                    minted_total_minor: h.minted_total_minor,
                    burned_total_minor: h.burned_total_minor,
                    outstanding_minor: h.minted_total_minor.saturating_sub(h.burned_total_minor),
                    blocks_per_second: rate(|s| s.height),
                    transactions_per_second: rate(|s| s.transactions),
                    time_unix_ms: now,
                    confirmation: Some(proto::LatencyPercentiles {
                        count: latency.count,
                        p50_ms: latency.p50_ms,
                        p90_ms: latency.p90_ms,
                        p99_ms: latency.p99_ms,
                        max_ms: latency.max_ms,
                    }),
                    last_audit,
                    cluster: cluster_status(&engine),
                };
                if tx.send(Ok(status)).await.is_err() {
                    return;
                }
                // At most one status an interval; then the next durable block.
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = tx.closed() => return,
                }
                tokio::select! {
                    changed = durable.changed() => if changed.is_err() {
                        let _ = tx.send(Err(Status::unavailable("the engine stopped"))).await;
                        return;
                    },
                    _ = stopping.changed() => {
                        let _ = tx.send(Err(Status::unavailable("the server is stopping; watch again"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                }
            }
        });
        // A bank's or terminal's watch ends once its credential is revoked.
        Ok(Response::new(Box::pin(self.until_revoked(&request, &principal, ReceiverStream::new(rx)))))
    }

    async fn get_caller(
        &self,
        request: Request<proto::GetCallerRequest>,
    ) -> Result<Response<proto::GetCallerResponse>, Status> {
        use proto::CallerRole;
        let principal = crate::api::auth::authenticate(&request, &self.credentials, &self.engine.registry())?;
        let (role, id) = match principal {
            Principal::Operator => (CallerRole::Operator, String::new()),
            Principal::Issuer => (CallerRole::Issuer, String::new()),
            Principal::ProgrammeAdministrator => (CallerRole::ProgrammeAdministrator, String::new()),
            Principal::Auditor => (CallerRole::Auditor, String::new()),
            Principal::Bank(id) => (CallerRole::Bank, id),
            Principal::Terminal(id) => (CallerRole::Terminal, id),
            Principal::Development => (CallerRole::Development, String::new()),
        };
        Ok(Response::new(proto::GetCallerResponse { role: role.into(), id }))
    }

    type ExportBlocksStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::ExportChunk, Status>> + Send + 'static>>;

    async fn export_blocks(
        &self,
        request: Request<proto::ExportBlocksRequest>,
    ) -> Result<Response<Self::ExportBlocksStream>, Status> {
        use crate::core::limits::{EXPORT_CHUNK_BYTES, EXPORT_STREAMS_MAX};
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor])?;
        let from = request.into_inner().from_height.max(1);
        let slot = self.open_stream("block exports".to_owned(), EXPORT_STREAMS_MAX)?;
        let engine = Arc::clone(&self.engine);
        let until = engine.tip().block.header.height;
        let (out, chunks) = tokio::sync::mpsc::channel(8);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let store = engine.store();
            let chain = store.chain_id();
            for height in from..=until {
                let block = match store.sealed_block(height) {
                    Ok(Some(block)) => block,
                    Ok(None) => return,
                    Err(error) => {
                        let _ = out.blocking_send(Err(storage_status(&error)));
                        return;
                    }
                };
                let bytes =
                    crate::engine::replica::ReplicatedBlock::from(block).encode(engine.engine_keypair(), &chain);
                let parts = bytes.chunks(EXPORT_CHUNK_BYTES).count();
                for (index, data) in bytes.chunks(EXPORT_CHUNK_BYTES).enumerate() {
                    let chunk = proto::ExportChunk { height, data: data.to_vec(), last: index + 1 == parts };
                    if out.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(chunks))))
    }

    async fn get_block(
        &self,
        request: Request<proto::GetBlockRequest>,
    ) -> Result<Response<proto::GetBlockResponse>, Status> {
        self.authorize(
            &request,
            &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor, Need::Bank, Need::Terminal],
        )?;
        let height = request.into_inner().height;
        let store = self.engine.store();
        let block = store.block(height).map_err(|e| storage_status(&e))?;
        let Some((header, txids)) = block else {
            return Err(Status::not_found(format!("no block at height {height}")));
        };
        Ok(Response::new(proto::GetBlockResponse {
            header: Some(header_to_proto(&header)),
            txids: txids.iter().map(|t| t.0.to_vec()).collect(),
        }))
    }
}

/// One status a ledger watch sent: when, the tip, the transactions so far,
/// and the confirmation latencies counted so far.
struct Sample {
    time: u64,
    height: u64,
    transactions: u64,
    latencies: crate::metrics::latency::LatencySnapshot,
}

/// This replica's view of the cluster (cluster mode only).
fn cluster_status(engine: &Engine) -> Option<proto::ClusterStatus> {
    engine.cluster_state().map(|state| proto::ClusterStatus {
        node_id: state.node_id,
        leading: engine.leading(),
        term: state.term,
        leader_id: state.leader_id.unwrap_or_default(),
        leader_address: state.leader_address.unwrap_or_default(),
        committed_height: state.committed_height,
        lag_blocks: state.committed_height.saturating_sub(engine.tip().block.header.height),
        members: state.members,
        replicas: state
            .replicas
            .into_iter()
            .map(|replica| proto::ReplicaStatus {
                id: replica.id,
                role: replica.role.to_owned(),
                matched_log_index: replica.matched_log_index,
                lag_entries: replica.lag_entries,
                api_addr: replica.api_addr,
            })
            .collect(),
    })
}
