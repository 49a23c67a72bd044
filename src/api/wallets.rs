//! `WalletService`: balances and unspent outputs, for the wallet's owner and
//! those allowed to read it.

use super::*;

#[tonic::async_trait]
impl proto::wallet_service_server::WalletService for Api {
    async fn get_balance(
        &self,
        request: Request<proto::GetBalanceRequest>,
    ) -> Result<Response<proto::GetBalanceResponse>, Status> {
        let address = self.authorize_read(&request, &request.get_ref().address)?;
        let engine = Arc::clone(&self.engine);
        let balance = blocking(move || engine.store().balance_of(&address)).await?;
        let (balances, unspent_count, height) = (balance.per_programme, balance.unspent_count, balance.height);
        Ok(Response::new(proto::GetBalanceResponse {
            total_minor: balances.iter().map(|(_, a)| *a).fold(0u64, u64::saturating_add),
            balances: balances
                .iter()
                .map(|(programme_id, amount_minor)| proto::Balance {
                    programme_id: *programme_id,
                    amount_minor: *amount_minor,
                })
                .collect(),
            unspent_count,
            height,
        }))
    }

    async fn list_unspent(
        &self,
        request: Request<proto::ListUnspentRequest>,
    ) -> Result<Response<proto::ListUnspentResponse>, Status> {
        let address = self.authorize_read(&request, &request.get_ref().address)?;
        let request = request.into_inner();
        let page_size = checks::page_size(request.page_size);
        let after = checks::unspent_page_start(&request.page_token)?;
        // One more than the page tells whether another page follows.
        let (mut outputs, _) =
            self.engine.store().unspent_of(&address, after.as_ref(), page_size + 1).map_err(|e| storage_status(&e))?;
        let more = outputs.len() > page_size;
        outputs.truncate(page_size);
        let next_page_token = match outputs.last() {
            Some((last, _)) if more => checks::unspent_page_token(last),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListUnspentResponse {
            outputs: outputs
                .iter()
                .map(|(outpoint, output)| proto::UnspentOutput {
                    outpoint: Some(outpoint_to_proto(outpoint)),
                    output: Some(output_to_proto(output)),
                })
                .collect(),
            next_page_token,
        }))
    }
}
