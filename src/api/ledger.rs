//! `LedgerService`: the ledger's information, blocks and the audit.

use super::*;

#[tonic::async_trait]
impl proto::ledger_service_server::LedgerService for Api {
    async fn get_info(
        &self,
        request: Request<proto::GetInfoRequest>,
    ) -> Result<Response<proto::GetInfoResponse>, Status> {
        let genesis = self.engine.genesis();
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor, Need::Bank, Need::Terminal])?;
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
            cluster: self.engine.cluster_state().map(|state| proto::ClusterStatus {
                node_id: state.node_id,
                leading: self.engine.leading(),
                term: state.term,
                leader_id: state.leader_id.unwrap_or_default(),
                leader_address: state.leader_address.unwrap_or_default(),
                committed_height: state.committed_height,
                lag_blocks: state.committed_height.saturating_sub(self.engine.tip().block.header.height),
                members: state.members,
            }),
        }))
    }

    async fn audit(&self, request: Request<proto::AuditRequest>) -> Result<Response<proto::AuditResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor])?;
        let engine = Arc::clone(&self.engine);
        let report = blocking(move || crate::store::audit::audit(engine.store())).await?;
        Ok(Response::new(audit_report_to_proto(report)))
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
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor, Need::Bank, Need::Terminal])?;
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
