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
        let page_size = match request.page_size as usize {
            0 => PAGE_SIZE_DEFAULT,
            n if n > PAGE_SIZE_MAX => {
                return Err(Status::invalid_argument(format!("page_size {n} is above the maximum {PAGE_SIZE_MAX}")));
            }
            n => n,
        };
        let after = if request.page_token.is_empty() {
            None
        } else {
            let token: [u8; 36] = request
                .page_token
                .as_slice()
                .try_into()
                .map_err(|_| Status::invalid_argument("page_token is not one this server issued"))?;
            Some(OutPoint {
                txid: TxId(token[..32].try_into().expect("32 bytes")),
                index: u32::from_be_bytes(token[32..].try_into().expect("4 bytes")),
            })
        };
        // One more than the page tells whether another page follows.
        let (mut outputs, _) =
            self.engine.store().unspent_of(&address, after.as_ref(), page_size + 1).map_err(|e| storage_status(&e))?;
        let more = outputs.len() > page_size;
        outputs.truncate(page_size);
        let next_page_token = match outputs.last() {
            Some((last, _)) if more => {
                let mut token = last.txid.0.to_vec();
                token.extend_from_slice(&last.index.to_be_bytes());
                token
            }
            _ => Vec::new(),
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
