//! `AdminService`: mints, and the registry of banks, merchants, terminals,
//! wallets and programmes. Registry changes go through the sequencer so that
//! they are ordered with the payments they affect; listings read the
//! registry as of the last durable block.

use std::collections::BTreeMap;
use std::ops::Bound;

use tonic::{Request, Response, Status};

use crate::api::auth::Need;
use crate::api::{Api, bytes32, receipt_to_proto, refusal_to_status};
use crate::core::limits::{
    PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAYOUT_ADDRESSES_MAX, PROGRAMME_MCCS_MAX, TX_INPUTS_MAX, TX_WITNESSES_MAX,
};
use crate::core::refusal::{Reason, Refusal};
use crate::core::registry::{AdminOp, Bank, MCC_MAX, Mcc, Merchant, Programme, Role, Terminal, Wallet};
use crate::core::types::{Address, OutPoint, Output, TX_VERSION, Transaction, TxKind, Witness};
use crate::proto;

fn invalid(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::InvalidRegistration, detail)
}

fn mcc(value: u32) -> Result<Mcc, Refusal> {
    Mcc::try_from(value)
        .ok()
        .filter(|m| *m <= MCC_MAX)
        .ok_or_else(|| invalid(format!("MCC {value} is outside 0000-{MCC_MAX}")))
}

fn address(field: &str, bytes: &[u8]) -> Result<Address, Refusal> {
    Ok(Address(bytes32(field, bytes, Reason::BadAddress)?))
}

fn credentials(hashes: &[Vec<u8>]) -> Result<Vec<crate::core::types::Hash32>, Refusal> {
    if hashes.len() > crate::core::limits::CREDENTIALS_MAX {
        return Err(invalid(format!("at most {} credentials", crate::core::limits::CREDENTIALS_MAX)));
    }
    hashes.iter().map(|h| bytes32("credential_sha256", h, Reason::InvalidRegistration)).collect()
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, Refusal> {
    value.ok_or_else(|| invalid(format!("missing {field}")))
}

fn merchant_from_proto(m: proto::Merchant) -> Result<Merchant, Refusal> {
    if m.payout_addresses.len() > PAYOUT_ADDRESSES_MAX {
        return Err(invalid(format!("a merchant has at most {PAYOUT_ADDRESSES_MAX} payout addresses")));
    }
    Ok(Merchant {
        mcc: mcc(m.mcc)?,
        payout_addresses: m.payout_addresses.iter().map(|a| address("payout address", a)).collect::<Result<_, _>>()?,
        id: m.id,
        name: m.name,
        bank: m.bank_id,
    })
}

fn programme_from_proto(p: proto::Programme) -> Result<Programme, Refusal> {
    if p.allowed_mccs.len() > PROGRAMME_MCCS_MAX {
        return Err(invalid(format!("a programme allows at most {PROGRAMME_MCCS_MAX} merchant categories")));
    }
    Ok(Programme {
        id: p.id,
        allowed_mccs: p.allowed_mccs.iter().map(|m| mcc(*m)).collect::<Result<_, _>>()?,
        valid_from_ms: p.valid_from_unix_ms,
        valid_until_ms: p.valid_until_unix_ms,
        transferable: p.transferable,
        treasury: address("treasury address", &p.treasury_address)?,
        per_payment_max_minor: (p.per_payment_max_minor != 0).then_some(p.per_payment_max_minor),
        name: p.name,
    })
}

#[must_use]
pub fn programme_to_proto(p: &Programme) -> proto::Programme {
    proto::Programme {
        id: p.id,
        name: p.name.clone(),
        allowed_mccs: p.allowed_mccs.iter().map(|m| u32::from(*m)).collect(),
        valid_from_unix_ms: p.valid_from_ms,
        valid_until_unix_ms: p.valid_until_ms,
        transferable: p.transferable,
        treasury_address: p.treasury.0.to_vec(),
        per_payment_max_minor: p.per_payment_max_minor.unwrap_or(0),
    }
}

fn merchant_to_proto(m: &Merchant) -> proto::Merchant {
    proto::Merchant {
        id: m.id.clone(),
        name: m.name.clone(),
        mcc: u32::from(m.mcc),
        bank_id: m.bank.clone(),
        payout_addresses: m.payout_addresses.iter().map(|a| a.0.to_vec()).collect(),
    }
}

/// The cursor a clawback resumes from: the last outpoint it scanned.
fn clawback_cursor(outpoint: &OutPoint) -> Vec<u8> {
    let mut bytes = outpoint.txid.0.to_vec();
    bytes.extend_from_slice(&outpoint.index.to_be_bytes());
    bytes
}

fn outpoint_of_cursor(bytes: &[u8]) -> Option<OutPoint> {
    let bytes: &[u8; 36] = bytes.try_into().ok()?;
    let txid = crate::core::types::TxId(bytes[..32].try_into().ok()?);
    Some(OutPoint { txid, index: u32::from_be_bytes(bytes[32..].try_into().ok()?) })
}

fn page_size(requested: u32) -> Result<usize, Status> {
    match requested as usize {
        0 => Ok(PAGE_SIZE_DEFAULT),
        n if n > PAGE_SIZE_MAX => {
            Err(Status::invalid_argument(format!("page_size {n} is above the maximum {PAGE_SIZE_MAX}")))
        }
        n => Ok(n),
    }
}

/// One page of a registry map after `token` (exclusive), and the token of
/// the next page (empty on the last).
fn page<K: Ord + Clone, V, T>(
    map: &BTreeMap<K, V>,
    token: Option<K>,
    size: usize,
    key_text: impl Fn(&K) -> String,
    convert: impl Fn(&V) -> T,
) -> (Vec<T>, String) {
    let start = token.map_or(Bound::Unbounded, Bound::Excluded);
    let mut entries = map.range((start, Bound::Unbounded));
    let items: Vec<(&K, &V)> = entries.by_ref().take(size).collect();
    let next = match (items.last(), entries.next()) {
        (Some((last, _)), Some(_)) => key_text(last),
        _ => String::new(),
    };
    (items.into_iter().map(|(_, v)| convert(v)).collect(), next)
}

impl Api {
    /// One page of a registry listing, for the operator.
    fn list<K: Ord + Clone, V, T>(
        &self,
        request: &Request<proto::ListRequest>,
        parse_token: impl Fn(&str) -> Option<K>,
        select: impl Fn(&crate::core::registry::Registry) -> &BTreeMap<K, V>,
        key_text: impl Fn(&K) -> String,
        convert: impl Fn(&V) -> T,
    ) -> Result<(Vec<T>, String), Status> {
        self.authorize(request, &[Need::Operator])?;
        let list = request.get_ref();
        let size = page_size(list.page_size)?;
        let token = match list.page_token.as_str() {
            "" => None,
            text => Some(parse_token(text).ok_or_else(|| Status::invalid_argument("bad page_token"))?),
        };
        let registry = self.engine.registry();
        Ok(page(select(&registry), token, size, key_text, convert))
    }

    async fn register(&self, op: Result<AdminOp, Refusal>) -> Result<Response<proto::RegisterResponse>, Status> {
        let op = op.map_err(|r| refusal_to_status(&r))?;
        // A participant's credential must not be one the configuration
        // already gives a role: the configured role would win.
        let credentials = match &op {
            AdminOp::RegisterBank(bank) => bank.credentials.as_slice(),
            AdminOp::RegisterTerminal(terminal) => terminal.credentials.as_slice(),
            _ => &[],
        };
        if let Some(taken) = credentials.iter().find(|c| self.credentials.contains_key(*c)) {
            return Err(refusal_to_status(&Refusal::new(
                Reason::AlreadyRegistered,
                format!("credential {} is an operator or issuer credential", hex::encode(taken)),
            )));
        }
        let height = self.engine.admin(op).await.map_err(|r| refusal_to_status(&r))?;
        Ok(Response::new(proto::RegisterResponse { height }))
    }
}

#[tonic::async_trait]
impl proto::admin_service_server::AdminService for Api {
    async fn mint(&self, request: Request<proto::MintRequest>) -> Result<Response<proto::MintResponse>, Status> {
        let principal = self.authorize(&request, &[Need::Issuer])?;
        let request = request.into_inner();
        match self.submit(&principal, request.transaction.as_ref(), &[TxKind::Mint]).await {
            Ok((_, outcome)) => Ok(Response::new(proto::MintResponse {
                receipt: Some(receipt_to_proto(&outcome.receipt)),
                duplicate: outcome.duplicate,
            })),
            Err((_, refusal)) => Err(refusal_to_status(&refusal)),
        }
    }

    async fn clawback(
        &self,
        request: Request<proto::ClawbackRequest>,
    ) -> Result<Response<proto::ClawbackResponse>, Status> {
        self.authorize(&request, &[Need::Issuer])?;
        let request = request.into_inner();
        if request.authorization.len() > TX_WITNESSES_MAX {
            return Err(refusal_to_status(&Refusal::new(
                Reason::TooManyWitnesses,
                format!("at most {TX_WITNESSES_MAX} authorisation signatures"),
            )));
        }
        let authorization = request
            .authorization
            .iter()
            .map(|w| {
                let signature =
                    w.signature.as_slice().try_into().map_err(|_| {
                        Refusal::new(Reason::Malformed, "authorisation signatures are 64 bytes".to_owned())
                    })?;
                Ok(Witness {
                    public_key: Address(bytes32("authorisation key", &w.public_key, Reason::Malformed)?),
                    signature,
                })
            })
            .collect::<Result<Vec<_>, Refusal>>()
            .map_err(|r| refusal_to_status(&r))?;
        let resume_after = match request.resume_after.as_slice() {
            [] => None,
            bytes => Some(outpoint_of_cursor(bytes).ok_or_else(|| Status::invalid_argument("bad resume_after"))?),
        };
        let response = self
            .claw_back(request.programme_id, authorization, resume_after)
            .await
            .map_err(|r| refusal_to_status(&r))?;
        Ok(Response::new(response))
    }

    async fn get_programme_stats(
        &self,
        request: Request<proto::GetProgrammeStatsRequest>,
    ) -> Result<Response<proto::GetProgrammeStatsResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer])?;
        let id = request.into_inner().programme_id;
        let programme = self.engine.registry().programmes.get(&id).cloned();
        let programme = programme
            .ok_or_else(|| refusal_to_status(&Refusal::new(Reason::UnknownProgramme, format!("no programme {id}"))))?;
        let height = self.engine.tip().block.header.height;
        let stats = self.engine.programme_stats(id);
        Ok(Response::new(proto::GetProgrammeStatsResponse {
            programme: Some(programme_to_proto(&programme)),
            disbursed_minor: stats.disbursed_minor,
            spent_by_mcc: stats
                .spent_by_mcc
                .iter()
                .map(|(mcc, amount)| proto::MccAmount { mcc: u32::from(*mcc), amount_minor: *amount })
                .collect(),
            spent_minor: stats.spent_by_mcc.values().sum(),
            clawed_back_minor: stats.clawed_back_minor,
            outstanding_minor: stats.outstanding_minor(),
            height,
        }))
    }

    async fn register_bank(
        &self,
        request: Request<proto::RegisterBankRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let op = required("bank", request.into_inner().bank).and_then(|b| {
            Ok(AdminOp::RegisterBank(Bank { credentials: credentials(&b.credential_sha256)?, id: b.id, name: b.name }))
        });
        self.register(op).await
    }

    async fn register_merchant(
        &self,
        request: Request<proto::RegisterMerchantRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let op = required("merchant", request.into_inner().merchant)
            .and_then(merchant_from_proto)
            .map(AdminOp::RegisterMerchant);
        self.register(op).await
    }

    async fn register_terminal(
        &self,
        request: Request<proto::RegisterTerminalRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let op = required("terminal", request.into_inner().terminal).and_then(|t| {
            let credentials = credentials(&t.credential_sha256)?;
            Ok(AdminOp::RegisterTerminal(Terminal { id: t.id, merchant: t.merchant_id, credentials }))
        });
        self.register(op).await
    }

    async fn register_wallet(
        &self,
        request: Request<proto::RegisterWalletRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let op = required("wallet", request.into_inner().wallet).and_then(|w| {
            let tier = u8::try_from(w.tier).map_err(|_| invalid(format!("no wallet tier {}", w.tier)))?;
            Ok(AdminOp::RegisterWallet(Wallet {
                address: address("wallet address", &w.address)?,
                bank: w.bank_id,
                tier,
            }))
        });
        self.register(op).await
    }

    async fn create_programme(
        &self,
        request: Request<proto::CreateProgrammeRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        self.authorize(&request, &[Need::Operator])?;
        let op = required("programme", request.into_inner().programme)
            .and_then(programme_from_proto)
            .map(AdminOp::CreateProgramme);
        self.register(op).await
    }

    async fn list_banks(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListBanksResponse>, Status> {
        let (banks, next_page_token) = self.list(
            &request,
            |t| Some(t.to_owned()),
            |r| &r.banks,
            Clone::clone,
            |b| proto::Bank {
                credential_sha256: b.credentials.iter().map(|c| c.to_vec()).collect(),
                id: b.id.clone(),
                name: b.name.clone(),
            },
        )?;
        Ok(Response::new(proto::ListBanksResponse { banks, next_page_token }))
    }

    async fn list_merchants(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListMerchantsResponse>, Status> {
        let (merchants, next_page_token) =
            self.list(&request, |t| Some(t.to_owned()), |r| &r.merchants, Clone::clone, merchant_to_proto)?;
        Ok(Response::new(proto::ListMerchantsResponse { merchants, next_page_token }))
    }

    async fn list_terminals(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListTerminalsResponse>, Status> {
        let (terminals, next_page_token) = self.list(
            &request,
            |t| Some(t.to_owned()),
            |r| &r.terminals,
            Clone::clone,
            |t| proto::Terminal {
                credential_sha256: t.credentials.iter().map(|c| c.to_vec()).collect(),
                id: t.id.clone(),
                merchant_id: t.merchant.clone(),
            },
        )?;
        Ok(Response::new(proto::ListTerminalsResponse { terminals, next_page_token }))
    }

    async fn list_wallets(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListWalletsResponse>, Status> {
        let parse = |t: &str| Address::from_hex(t).ok();
        let (wallets, next_page_token) = self.list(
            &request,
            parse,
            |r| &r.wallets,
            ToString::to_string,
            |w| proto::Wallet { address: w.address.0.to_vec(), bank_id: w.bank.clone(), tier: u32::from(w.tier) },
        )?;
        Ok(Response::new(proto::ListWalletsResponse { wallets, next_page_token }))
    }

    async fn list_programmes(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListProgrammesResponse>, Status> {
        let parse = |t: &str| t.parse::<u32>().ok();
        let (programmes, next_page_token) =
            self.list(&request, parse, |r| &r.programmes, ToString::to_string, programme_to_proto)?;
        Ok(Response::new(proto::ListProgrammesResponse { programmes, next_page_token }))
    }

    async fn add_replica(
        &self,
        request: Request<proto::AddReplicaRequest>,
    ) -> Result<Response<proto::MembershipResponse>, Status> {
        self.add_voter(request).await
    }

    async fn remove_replica(
        &self,
        request: Request<proto::RemoveReplicaRequest>,
    ) -> Result<Response<proto::MembershipResponse>, Status> {
        self.remove_voter(request).await
    }
}

impl Api {
    /// Builds and submits clawback batches until the programme holds no
    /// beneficiary outputs or the per-call limit is reached.
    async fn claw_back(
        &self,
        programme_id: u32,
        authorization: Vec<Witness>,
        resume_after: Option<OutPoint>,
    ) -> Result<proto::ClawbackResponse, Refusal> {
        let programme = self
            .engine
            .registry()
            .programmes
            .get(&programme_id)
            .cloned()
            .ok_or_else(|| Refusal::new(Reason::UnknownProgramme, format!("no programme {programme_id}")))?;
        self.check_clawback_call(programme_id, &programme, &authorization)?;
        let mut response = proto::ClawbackResponse::default();
        // No new output of an ended programme can appear, so a cursor over
        // its outputs is stable: merchant-held ones are passed once, not
        // rescanned by every call.
        let mut after = resume_after;
        for step in 0.. {
            if step == self.clawback_steps_per_call {
                response.more = true;
                response.resume_after = after.map(|o| clawback_cursor(&o)).unwrap_or_default();
                break;
            }
            let (batch, last) = self.clawback_batch(&programme, after.as_ref()).await?;
            if batch.is_empty() {
                match last {
                    Some(last) => {
                        after = Some(last);
                        continue;
                    }
                    None => break,
                }
            }
            let total: u64 = batch.iter().map(|(_, o)| o.amount_minor).sum();
            let tx = Transaction {
                version: TX_VERSION,
                kind: TxKind::Clawback,
                inputs: batch.iter().map(|(outpoint, _)| *outpoint).collect(),
                outputs: vec![Output { owner: programme.treasury, amount_minor: total, programme: 0 }],
                reference: crate::core::encoding::clawback_reference(programme_id, programme.valid_until_ms),
                witnesses: authorization.clone(),
            };
            self.engine.submit(tx).await?;
            response.batches += 1;
            response.outputs_moved += batch.len() as u64;
            response.amount_minor += total;
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        response.clawed_back_total_minor = self.engine.programme_stats(programme_id).clawed_back_minor;
        Ok(response)
    }

    /// The clawback authorisation (issuer signatures over the programme,
    /// its treasury and end, on this chain, at least the threshold of
    /// them) and the programme's end, checked here too: a call with
    /// nothing left to move still answers a bad authorisation or an early
    /// call as such; the ledger checks every batch again.
    fn check_clawback_call(
        &self,
        programme_id: u32,
        programme: &crate::core::registry::Programme,
        authorization: &[Witness],
    ) -> Result<(), Refusal> {
        let chain = self.engine.chain_id();
        let message = crate::core::encoding::clawback_authorization(
            &chain,
            programme_id,
            &programme.treasury,
            programme.valid_until_ms,
        );
        let genesis = self.engine.genesis();
        for witness in authorization {
            if !crate::core::crypto::verify(&witness.public_key, &message, &witness.signature) {
                return Err(Refusal::new(
                    Reason::BadSignature,
                    format!(
                        "{} does not sign the clawback authorisation of programme {programme_id} (treasury {}, valid \
                         until {} unix ms) on chain {chain}",
                        witness.public_key, programme.treasury, programme.valid_until_ms
                    ),
                ));
            }
            if !genesis.issuer_keys.contains(&witness.public_key) {
                return Err(Refusal::new(
                    Reason::UnexpectedWitness,
                    format!("{} is not an issuer key", witness.public_key),
                ));
            }
        }
        let mut signers: Vec<Address> = authorization.iter().map(|w| w.public_key).collect();
        signers.sort_unstable();
        signers.dedup();
        if signers.len() != authorization.len() {
            return Err(Refusal::new(Reason::DuplicateWitness, "an issuer signs the authorisation once"));
        }
        if (signers.len() as u64) < u64::from(genesis.issuer_threshold) {
            return Err(Refusal::new(
                Reason::MintThreshold,
                format!("{} issuer signatures, {} required", signers.len(), genesis.issuer_threshold),
            ));
        }
        if self.engine.now_unix_ms() < programme.valid_until_ms {
            return Err(Refusal::new(
                Reason::ProgrammeNotExpired,
                format!("programme {programme_id} runs until {} (unix ms)", programme.valid_until_ms),
            ));
        }
        Ok(())
    }

    /// The next up to `TX_INPUTS_MAX` outputs of the programme held by
    /// beneficiaries (merchants' takings are theirs), and where the scan
    /// stopped (`None` at the end).
    async fn clawback_batch(
        &self,
        programme: &Programme,
        after: Option<&OutPoint>,
    ) -> Result<(Vec<(OutPoint, Output)>, Option<OutPoint>), Refusal> {
        let engine = std::sync::Arc::clone(&self.engine);
        let (id, after) = (programme.id, after.copied());
        let scanned =
            tokio::task::spawn_blocking(move || engine.store().earmarked_outputs(id, after.as_ref(), TX_INPUTS_MAX))
                .await
                .map_err(|_| Refusal::new(Reason::Unavailable, "storage read task failed"))?
                .map_err(|e| Refusal::new(Reason::Unavailable, format!("storage read failed: {e}")))?;
        let last = (scanned.len() == TX_INPUTS_MAX).then(|| scanned.last().map(|(o, _)| *o)).flatten();
        let registry = self.engine.registry();
        let batch = scanned
            .into_iter()
            .filter(|(_, output)| !matches!(registry.role(&output.owner), Some(Role::Merchant { .. })))
            .collect();
        Ok((batch, last))
    }
}
