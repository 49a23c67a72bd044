//! `AdminService`: mints, and the registry of banks, merchants, terminals,
//! wallets and programmes. Registry changes go through the sequencer so that
//! they are ordered with the payments they affect; listings read the
//! registry as of the last durable block.

use std::collections::BTreeMap;
use std::ops::Bound;

use tonic::{Request, Response, Status};

use crate::api::auth::Need;
use crate::api::{Api, checks, receipt_to_proto, refusal_to_status};
use crate::core::limits::TX_INPUTS_MAX;
use crate::core::limits::{PAGE_SIZE_MAX, PROGRAMME_TOP_MERCHANTS};
use crate::core::refusal::{Reason, Refusal};
use crate::core::registry::{
    Actor, AdminOp, Beneficiary, Frozen, Merchant, MerchantFigures, PaymentPeriod, Programme, Registry, RegistryChange,
    Role,
};
use crate::core::types::{
    Address, AmountMinor, OutPoint, Output, PersonRef, ProgrammeId, TX_VERSION, Transaction, TxKind, Witness,
};
use crate::proto;

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
        payment_period: match p.payment_period {
            None => proto::PaymentPeriod::Unspecified,
            Some(PaymentPeriod::Month) => proto::PaymentPeriod::Month,
        } as i32,
        refund_window_ms: p.refund_window_ms.unwrap_or(0),
    }
}

#[must_use]
pub fn beneficiary_to_proto(b: &Beneficiary) -> proto::Beneficiary {
    proto::Beneficiary {
        person_ref: b.person.0.to_vec(),
        wallets: b.wallets.iter().map(|w| w.0.to_vec()).collect(),
        designations: b
            .designated
            .iter()
            .map(|(programme, wallet)| proto::Designation { programme_id: *programme, wallet: wallet.0.to_vec() })
            .collect(),
    }
}

fn merchant_to_proto(registry: &Registry, m: &Merchant) -> proto::Merchant {
    proto::Merchant {
        id: m.id.clone(),
        name: m.name.clone(),
        mcc: u32::from(m.mcc),
        bank_id: m.bank.clone(),
        payout_addresses: m.payout_addresses.iter().map(|a| a.0.to_vec()).collect(),
        deactivated: registry.inactive_merchants.contains(&m.id),
    }
}

/// Why a wallet is frozen, as listings give it: the freeze's reason, or
/// "recovered".
fn frozen_text(frozen: &Frozen) -> String {
    match frozen {
        Frozen::Held { reason } => reason.clone(),
        Frozen::Recovered { .. } => "recovered".to_owned(),
    }
}

/// The kind of a registry change, as `ListRegistryChanges` names it.
fn change_kind(op: &AdminOp) -> &'static str {
    match op {
        AdminOp::RegisterBank(_) => "RegisterBank",
        AdminOp::RegisterMerchant(_) => "RegisterMerchant",
        AdminOp::RegisterTerminal(_) => "RegisterTerminal",
        AdminOp::RegisterWallet(_) => "RegisterWallet",
        AdminOp::CreateProgramme(_) => "CreateProgramme",
        AdminOp::RegisterBeneficiary(_) => "RegisterBeneficiary",
        AdminOp::UpdateBeneficiary(_) => "UpdateBeneficiary",
        AdminOp::RecoverWallet { .. } => "RecoverWallet",
        AdminOp::SetCredentials { .. } => "SetCredentials",
        AdminOp::SetWalletTier { .. } => "SetWalletTier",
        AdminOp::FreezeWallet { .. } => "FreezeWallet",
        AdminOp::UnfreezeWallet { .. } => "UnfreezeWallet",
        AdminOp::SetActive { .. } => "SetActive",
    }
}

/// A caller's role, as `ListRegistryChanges` names it.
#[must_use]
pub fn role_name(principal: &crate::core::registry::Principal) -> String {
    use crate::core::registry::Principal;
    match principal {
        Principal::Operator => "operator".to_owned(),
        Principal::Issuer => "issuer".to_owned(),
        Principal::ProgrammeAdministrator => "programme_admin".to_owned(),
        Principal::Auditor => "auditor".to_owned(),
        Principal::Development => "development".to_owned(),
        Principal::Bank(id) => format!("bank:{id}"),
        Principal::Terminal(id) => format!("terminal:{id}"),
    }
}

fn registry_change_to_proto(index: u64, height: u64, change: &RegistryChange) -> proto::RegistryChange {
    proto::RegistryChange {
        index,
        height,
        kind: change_kind(&change.op).to_owned(),
        change_json: serde_json::to_string(&change.op).unwrap_or_default(),
        by_role: role_name(&change.by.principal),
        by_credential_sha256: change.by.credential.to_vec(),
    }
}

/// A merchant's figures in a programme whose merchants took `spent` in all.
fn merchant_figures_to_proto(
    registry: &crate::core::registry::Registry,
    merchant: &str,
    figures: &MerchantFigures,
    spent: AmountMinor,
) -> proto::MerchantFigures {
    let share_ppm = if spent == 0 {
        0
    } else {
        u32::try_from(u128::from(figures.spent_minor) * 1_000_000 / u128::from(spent)).unwrap_or(1_000_000)
    };
    proto::MerchantFigures {
        merchant_id: merchant.to_owned(),
        mcc: registry.merchants.get(merchant).map_or(0, |m| u32::from(m.mcc)),
        payments: figures.payments,
        spent_minor: figures.spent_minor,
        refunds: figures.refunds,
        refunded_minor: figures.refunded_minor,
        last_payment_unix_ms: figures.last_payment_unix_ms,
        share_ppm,
    }
}

/// One page of a registry map after `token` (exclusive), and the token of
/// the next page (empty on the last).
fn page<K: Ord + Clone, V, T>(
    map: &BTreeMap<K, V>,
    token: Option<K>,
    size: usize,
    key_text: impl Fn(&K) -> String,
    convert: impl Fn(&K, &V) -> T,
) -> (Vec<T>, String) {
    let start = token.map_or(Bound::Unbounded, Bound::Excluded);
    let mut entries = map.range((start, Bound::Unbounded));
    let items: Vec<(&K, &V)> = entries.by_ref().take(size).collect();
    let next = match (items.last(), entries.next()) {
        (Some((last, _)), Some(_)) => key_text(last),
        _ => String::new(),
    };
    (items.into_iter().map(|(k, v)| convert(k, v)).collect(), next)
}

impl Api {
    /// One page of a registry listing, for the operator.
    fn list<K: Ord + Clone, V, T>(
        &self,
        request: &Request<proto::ListRequest>,
        parse_token: impl Fn(&str) -> Option<K>,
        select: impl Fn(&Registry) -> &BTreeMap<K, V>,
        key_text: impl Fn(&K) -> String,
        convert: impl Fn(&Registry, &V) -> T,
    ) -> Result<(Vec<T>, String), Status> {
        self.list_for(request, &[Need::Operator, Need::Auditor], parse_token, select, key_text, convert)
    }

    /// One page of a registry listing, for the roles `needs` names.
    fn list_for<K: Ord + Clone, V, T>(
        &self,
        request: &Request<proto::ListRequest>,
        needs: &[Need],
        parse_token: impl Fn(&str) -> Option<K>,
        select: impl Fn(&Registry) -> &BTreeMap<K, V>,
        key_text: impl Fn(&K) -> String,
        convert: impl Fn(&Registry, &V) -> T,
    ) -> Result<(Vec<T>, String), Status> {
        self.authorize(request, needs)?;
        let (size, token) = checks::list_page(request.get_ref(), parse_token)?;
        let registry = self.engine.registry();
        Ok(page(select(&registry), token, size, key_text, |_, v| convert(&registry, v)))
    }

    async fn register(
        &self,
        by: Actor,
        op: Result<AdminOp, Refusal>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let op = op.map_err(|r| refusal_to_status(&r))?;
        // A participant's credential must not be one the configuration
        // already gives a role: the configured role would win.
        let credentials = match &op {
            AdminOp::RegisterBank(bank) => bank.credentials.as_slice(),
            AdminOp::RegisterTerminal(terminal) => terminal.credentials.as_slice(),
            AdminOp::SetCredentials { credentials, .. } => credentials.as_slice(),
            _ => &[],
        };
        if let Some(taken) = credentials.iter().find(|c| self.credentials.contains_key(*c)) {
            return Err(refusal_to_status(&Refusal::new(
                Reason::AlreadyRegistered,
                format!("credential {} is an operator or issuer credential", hex::encode(taken)),
            )));
        }
        let height = self.engine.admin(RegistryChange { op, by }).await.map_err(|r| refusal_to_status(&r))?;
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
        let authorization =
            checks::clawback_authorization_of(&request.authorization).map_err(|r| refusal_to_status(&r))?;
        let resume_after = checks::clawback_resume_after(&request.resume_after)?;
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
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor])?;
        let id = request.into_inner().programme_id;
        let programme = checks::programme_of(&self.engine.registry(), id).map_err(|r| refusal_to_status(&r))?;
        let height = self.engine.tip().block.header.height;
        let stats = self.engine.programme_stats(id);
        let (top_merchants, merchants_paid) = {
            let registry = self.engine.registry();
            self.engine.read_merchant_figures(id, |_, figures| {
                let spent = figures.values().map(|f| f.spent_minor).sum();
                let mut paid: Vec<(&String, &MerchantFigures)> =
                    figures.iter().filter(|(_, f)| f.spent_minor > 0).collect();
                let merchants_paid = paid.len() as u64;
                paid.sort_by(|a, b| b.1.spent_minor.cmp(&a.1.spent_minor).then_with(|| a.0.cmp(b.0)));
                let top = paid
                    .into_iter()
                    .take(PROGRAMME_TOP_MERCHANTS)
                    .map(|(merchant, f)| merchant_figures_to_proto(&registry, merchant, f, spent))
                    .collect::<Vec<_>>();
                (top, merchants_paid)
            })
        };
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
            refunded_minor: stats.refunded_minor,
            refunded_to_treasury_minor: stats.refunded_to_treasury_minor,
            outstanding_minor: stats.outstanding_minor(),
            height,
            paid_by_period: stats
                .paid_by_period
                .iter()
                .map(|(period, paid)| proto::PeriodPaid {
                    period: *period,
                    beneficiaries: paid.beneficiaries,
                    amount_minor: paid.amount_minor,
                    duplicate_claims_refused: paid.duplicate_claims_refused,
                })
                .collect(),
            top_merchants,
            merchants_paid,
            spent_by_day: stats
                .spent_by_day
                .iter()
                .map(|(day, amount)| proto::DayAmount { day: *day, amount_minor: *amount })
                .collect(),
        }))
    }

    async fn list_programme_merchants(
        &self,
        request: Request<proto::ListProgrammeMerchantsRequest>,
    ) -> Result<Response<proto::ListProgrammeMerchantsResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor])?;
        let request = request.into_inner();
        let id = request.programme_id;
        let registry = self.engine.registry();
        checks::programme_of(&registry, id).map_err(|r| refusal_to_status(&r))?;
        let (size, token) = checks::list_page(
            &proto::ListRequest { page_size: request.page_size, page_token: request.page_token },
            |text| Some(text.to_owned()),
        )?;
        let response = self.engine.read_merchant_figures(id, |height, figures| {
            let spent = figures.values().map(|f| f.spent_minor).sum();
            let (merchants, next_page_token) = page(figures, token, size, Clone::clone, |merchant, f| {
                merchant_figures_to_proto(&registry, merchant, f, spent)
            });
            proto::ListProgrammeMerchantsResponse { merchants, next_page_token, height }
        });
        Ok(Response::new(response))
    }

    type BackupStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::BackupChunk, Status>> + Send + 'static>>;

    async fn backup(&self, request: Request<proto::BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        use crate::core::limits::{BACKUP_CHUNK_BYTES, BACKUPS_AT_ONCE_MAX};
        self.authorize(&request, &[Need::Operator])?;
        let slot = self.open_stream("backups".to_owned(), BACKUPS_AT_ONCE_MAX)?;
        let store = std::sync::Arc::clone(self.engine.store_arc());
        let file = tempfile::Builder::new()
            .prefix("backup-")
            .suffix(".redb.partial")
            .tempfile_in(&self.backup_dir)
            .map_err(|e| Status::unavailable(format!("no room for a backup in the data directory: {e}")))?;
        let (out, chunks) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let height = match store.backup_to(file.path()) {
                Ok(height) => height,
                Err(error) => {
                    let _ = out.blocking_send(Err(crate::api::storage_status(&error)));
                    return;
                }
            };
            let mut reader = match std::fs::File::open(file.path()) {
                Ok(reader) => reader,
                Err(error) => {
                    let _ = out.blocking_send(Err(Status::unavailable(format!("reading the backup: {error}"))));
                    return;
                }
            };
            loop {
                let mut data = vec![0u8; BACKUP_CHUNK_BYTES];
                match std::io::Read::read(&mut reader, &mut data) {
                    Ok(0) => return,
                    Ok(n) => {
                        data.truncate(n);
                        if out.blocking_send(Ok(proto::BackupChunk { data, height })).is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = out.blocking_send(Err(Status::unavailable(format!("reading the backup: {error}"))));
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(chunks))))
    }

    async fn set_credentials(
        &self,
        request: Request<proto::SetCredentialsRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::set_credentials_op(request.into_inner())).await
    }

    async fn set_wallet_tier(
        &self,
        request: Request<proto::SetWalletTierRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::set_wallet_tier_op(request.get_ref())).await
    }

    async fn freeze_wallet(
        &self,
        request: Request<proto::FreezeWalletRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator, Need::Issuer])?;
        self.register(by, checks::freeze_wallet_op(request.into_inner())).await
    }

    async fn unfreeze_wallet(
        &self,
        request: Request<proto::UnfreezeWalletRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator, Need::Issuer])?;
        self.register(by, checks::unfreeze_wallet_op(request.get_ref())).await
    }

    async fn set_active(
        &self,
        request: Request<proto::SetActiveRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::set_active_op(request.into_inner())).await
    }

    async fn list_registry_changes(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListRegistryChangesResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Auditor])?;
        let (size, after) = checks::list_page(request.get_ref(), |t| t.parse::<u64>().ok())?;
        let store = std::sync::Arc::clone(self.engine.store_arc());
        let (changes, more) = tokio::task::spawn_blocking(move || store.registry_changes(after, size))
            .await
            .map_err(|e| Status::internal(format!("the registry reader failed: {e}")))?
            .map_err(|e| Status::unavailable(format!("the ledger file could not be read: {e}")))?;
        let next_page_token = match (more, changes.last()) {
            (true, Some((index, _, _))) => index.to_string(),
            _ => String::new(),
        };
        let changes = changes.iter().map(|(index, height, change)| registry_change_to_proto(*index, *height, change));
        Ok(Response::new(proto::ListRegistryChangesResponse { changes: changes.collect(), next_page_token }))
    }

    async fn list_frozen_wallets(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListFrozenWalletsResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Auditor])?;
        let (size, token) = checks::list_page(request.get_ref(), checks::wallet_token)?;
        let registry = self.engine.registry();
        let (wallets, next_page_token) =
            page(&registry.frozen, token, size, ToString::to_string, |address, frozen| proto::FrozenWallet {
                address: address.0.to_vec(),
                reason: frozen_text(frozen),
                recovered_to: match frozen {
                    Frozen::Recovered { replacement, .. } => replacement.0.to_vec(),
                    Frozen::Held { .. } => Vec::new(),
                },
            });
        Ok(Response::new(proto::ListFrozenWalletsResponse { wallets, next_page_token }))
    }

    async fn register_bank(
        &self,
        request: Request<proto::RegisterBankRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::register_bank_op(request.into_inner())).await
    }

    async fn register_merchant(
        &self,
        request: Request<proto::RegisterMerchantRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::register_merchant_op(request.into_inner())).await
    }

    async fn register_terminal(
        &self,
        request: Request<proto::RegisterTerminalRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::register_terminal_op(request.into_inner())).await
    }

    async fn register_wallet(
        &self,
        request: Request<proto::RegisterWalletRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::register_wallet_op(request.into_inner())).await
    }

    async fn create_programme(
        &self,
        request: Request<proto::CreateProgrammeRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator])?;
        self.register(by, checks::create_programme_op(request.into_inner())).await
    }

    async fn register_beneficiary(
        &self,
        request: Request<proto::RegisterBeneficiaryRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator, Need::Issuer])?;
        self.register(by, checks::beneficiary(request.into_inner().beneficiary).map(AdminOp::RegisterBeneficiary)).await
    }

    async fn update_beneficiary(
        &self,
        request: Request<proto::UpdateBeneficiaryRequest>,
    ) -> Result<Response<proto::RegisterResponse>, Status> {
        let by = self.actor(&request, &[Need::Operator, Need::Issuer])?;
        self.register(by, checks::beneficiary(request.into_inner().beneficiary).map(AdminOp::UpdateBeneficiary)).await
    }

    async fn get_beneficiary(
        &self,
        request: Request<proto::GetBeneficiaryRequest>,
    ) -> Result<Response<proto::GetBeneficiaryResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer])?;
        let person = checks::person_ref(&request.get_ref().person_ref).map_err(|r| refusal_to_status(&r))?;
        let height = self.engine.tip().block.header.height;
        let registry = self.engine.registry();
        let beneficiary =
            registry.beneficiaries.get(&person).ok_or_else(|| Status::not_found(format!("no beneficiary {person}")))?;
        Ok(Response::new(proto::GetBeneficiaryResponse {
            beneficiary: Some(beneficiary_to_proto(beneficiary)),
            height,
        }))
    }

    async fn recover_wallet(
        &self,
        request: Request<proto::RecoverWalletRequest>,
    ) -> Result<Response<proto::RecoverWalletResponse>, Status> {
        let by = self.actor(&request, &[Need::Issuer])?;
        let request = request.into_inner();
        let person = checks::person_ref(&request.person_ref).map_err(|r| refusal_to_status(&r))?;
        let lost = checks::address_arg(&request.lost_wallet)
            .map_err(|_| crate::api::invalid_field("lost_wallet", "lost_wallet must be 32 bytes"))?;
        let replacement = checks::address_arg(&request.replacement_wallet)
            .map_err(|_| crate::api::invalid_field("replacement_wallet", "replacement_wallet must be 32 bytes"))?;
        let authorization =
            checks::clawback_authorization_of(&request.authorization).map_err(|r| refusal_to_status(&r))?;
        checks::check_recovery_authorization(
            &self.engine.chain_id(),
            self.engine.genesis(),
            &lost,
            &replacement,
            &authorization,
        )
        .map_err(|r| refusal_to_status(&r))?;
        let response =
            self.recover(by, person, lost, replacement, authorization).await.map_err(|r| refusal_to_status(&r))?;
        Ok(Response::new(response))
    }

    async fn list_beneficiaries(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListBeneficiariesResponse>, Status> {
        let (beneficiaries, next_page_token) = self.list_for(
            &request,
            &[Need::Operator, Need::Issuer],
            checks::person_token,
            |r| &r.beneficiaries,
            ToString::to_string,
            |_, b| beneficiary_to_proto(b),
        )?;
        Ok(Response::new(proto::ListBeneficiariesResponse { beneficiaries, next_page_token }))
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
            |_, b| proto::Bank {
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
            |r, t| proto::Terminal {
                credential_sha256: t.credentials.iter().map(|c| c.to_vec()).collect(),
                id: t.id.clone(),
                merchant_id: t.merchant.clone(),
                deactivated: r.inactive_terminals.contains(&t.id),
            },
        )?;
        Ok(Response::new(proto::ListTerminalsResponse { terminals, next_page_token }))
    }

    async fn list_wallets(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListWalletsResponse>, Status> {
        let (wallets, next_page_token) = self.list(
            &request,
            checks::wallet_token,
            |r| &r.wallets,
            ToString::to_string,
            |r, w| proto::Wallet {
                address: w.address.0.to_vec(),
                bank_id: w.bank.clone(),
                tier: u32::from(w.tier),
                frozen: r.frozen.get(&w.address).map(frozen_text).unwrap_or_default(),
            },
        )?;
        Ok(Response::new(proto::ListWalletsResponse { wallets, next_page_token }))
    }

    async fn list_programmes(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListProgrammesResponse>, Status> {
        // Programmes are the issuer's and the programme administrators'
        // business too: they read their figures.
        let (programmes, next_page_token) = self.list_for(
            &request,
            &[Need::Operator, Need::Issuer, Need::ProgrammeAdministrator, Need::Auditor],
            checks::programme_token,
            |r| &r.programmes,
            ToString::to_string,
            |_, p| programme_to_proto(p),
        )?;
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
    /// Freezes `lost` (once) and moves its earmarked money to `replacement`
    /// in batches, until none is left or the per-call limit is reached.
    async fn recover(
        &self,
        by: Actor,
        person: PersonRef,
        lost: Address,
        replacement: Address,
        authorization: Vec<Witness>,
    ) -> Result<proto::RecoverWalletResponse, Refusal> {
        let frozen = self.engine.registry().frozen.get(&lost).cloned();
        let height = match frozen {
            Some(Frozen::Recovered { person: p, replacement: r }) if p == person && r == replacement => {
                self.engine.tip().block.header.height
            }
            _ => {
                self.engine
                    .admin(RegistryChange { op: AdminOp::RecoverWallet { person, lost, replacement }, by })
                    .await?
            }
        };
        let mut response = proto::RecoverWalletResponse { height, ..proto::RecoverWalletResponse::default() };
        for step in 0.. {
            if step == self.clawback_steps_per_call {
                response.more = true;
                break;
            }
            let batch = self.earmarked_of(&lost).await?;
            if batch.is_empty() {
                break;
            }
            let mut by_programme: BTreeMap<ProgrammeId, u64> = BTreeMap::new();
            for (_, output) in &batch {
                *by_programme.entry(output.programme).or_default() += output.amount_minor;
            }
            let tx = Transaction {
                version: TX_VERSION,
                kind: TxKind::Recovery,
                inputs: batch.iter().map(|(outpoint, _)| *outpoint).collect(),
                outputs: by_programme
                    .iter()
                    .map(|(programme, amount)| Output {
                        owner: replacement,
                        amount_minor: *amount,
                        programme: *programme,
                    })
                    .collect(),
                reference: crate::core::encoding::recovery_reference(&lost, &replacement),
                witnesses: authorization.clone(),
            };
            self.engine.submit(tx).await?;
            response.batches += 1;
            response.outputs_moved += batch.len() as u64;
            response.amount_minor += by_programme.values().sum::<u64>();
        }
        response.frozen_unrestricted_minor = self.unrestricted_of(&lost).await?;
        Ok(response)
    }

    /// Up to `TX_INPUTS_MAX` earmarked outputs `owner` holds, as of the
    /// last durable block, passing over its unrestricted ones page by page.
    async fn earmarked_of(&self, owner: &Address) -> Result<Vec<(OutPoint, Output)>, Refusal> {
        let engine = std::sync::Arc::clone(&self.engine);
        let owner = *owner;
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            let mut after = None;
            loop {
                let (page, _) = engine.store().unspent_of(&owner, after.as_ref(), PAGE_SIZE_MAX)?;
                let last = page.last().map(|(outpoint, _)| *outpoint);
                found.extend(page.into_iter().filter(|(_, o)| o.programme != 0).take(TX_INPUTS_MAX - found.len()));
                match last {
                    Some(last) if found.len() < TX_INPUTS_MAX => after = Some(last),
                    _ => return Ok(found),
                }
            }
        })
        .await
        .map_err(|_| Refusal::new(Reason::Unavailable, "storage read task failed"))?
        .map_err(|e: crate::store::StoreError| Refusal::new(Reason::Unavailable, format!("storage read failed: {e}")))
    }

    /// The unrestricted money `owner` holds, as of the last durable block.
    async fn unrestricted_of(&self, owner: &Address) -> Result<u64, Refusal> {
        let engine = std::sync::Arc::clone(&self.engine);
        let owner = *owner;
        let balance = tokio::task::spawn_blocking(move || engine.store().balance_of(&owner))
            .await
            .map_err(|_| Refusal::new(Reason::Unavailable, "storage read task failed"))?
            .map_err(|e| Refusal::new(Reason::Unavailable, format!("storage read failed: {e}")))?;
        Ok(balance.per_programme.iter().filter(|(p, _)| *p == 0).map(|(_, a)| *a).sum())
    }

    /// Builds and submits clawback batches until the programme holds no
    /// beneficiary outputs or the per-call limit is reached.
    async fn claw_back(
        &self,
        programme_id: u32,
        authorization: Vec<Witness>,
        resume_after: Option<OutPoint>,
    ) -> Result<proto::ClawbackResponse, Refusal> {
        let programme = checks::programme_of(&self.engine.registry(), programme_id)?;
        checks::check_clawback_authorization(
            &self.engine.chain_id(),
            self.engine.genesis(),
            &programme,
            &authorization,
            self.engine.now_unix_ms(),
        )?;
        let mut response = proto::ClawbackResponse::default();
        // No new output of an ended programme can appear, so a cursor over
        // its outputs is stable: merchant-held ones are passed once, not
        // rescanned by every call.
        let mut after = resume_after;
        for step in 0.. {
            if step == self.clawback_steps_per_call {
                response.more = true;
                response.resume_after = after.map(|o| checks::outpoint_token(&o)).unwrap_or_default();
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
