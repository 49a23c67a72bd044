//! What the services do with a decoded request before the engine or the
//! store: its arguments converted to domain types and checked, as pure
//! functions of the request (and of the registry, the genesis or the
//! membership they are handed where a rule needs one). The services call
//! these, and so do the fuzz targets (`fuzz/`, through `settled::checks`):
//! what is fuzzed is what the server runs.

use std::collections::BTreeSet;

use tonic::Status;

use crate::api::bytes32;
use crate::api::convert::{invalid_field, transaction_from_proto};
use crate::cluster::NodeId;
use crate::core::crypto;
use crate::core::encoding::{Genesis, clawback_authorization, txid};
use crate::core::limits::{
    BENEFICIARY_PROGRAMMES_MAX, BENEFICIARY_WALLETS_MAX, CLUSTER_MEMBERS_MAX, CREDENTIALS_MAX, PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX, PAYOUT_ADDRESSES_MAX, PROGRAMME_MCCS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX,
};
use crate::core::refusal::{Field, Reason, Refusal};
use crate::core::registry::{
    AdminOp, Bank, Beneficiary, MCC_MAX, Mcc, Merchant, PaymentPeriod, Principal, Programme, Registry, Terminal, Wallet,
};
use crate::core::types::{
    Address, ChainId, Hash32, OutPoint, PersonRef, ProgrammeId, Transaction, TxId, TxKind, Witness,
};
use crate::proto;

// ---- arguments ------------------------------------------------------------

/// A 32-byte txid argument.
///
/// # Errors
/// `INVALID_ARGUMENT` for any other length.
pub fn txid_arg(bytes: &[u8]) -> Result<TxId, Status> {
    TxId::from_slice(bytes).ok_or_else(|| invalid_field("txid", format!("txid must be 32 bytes, got {}", bytes.len())))
}

/// A 32-byte address argument.
///
/// # Errors
/// `INVALID_ARGUMENT` for any other length.
pub fn address_arg(bytes: &[u8]) -> Result<Address, Status> {
    Address::from_slice(bytes)
        .ok_or_else(|| invalid_field("address", format!("address must be 32 bytes, got {}", bytes.len())))
}

/// The page size of every listing: 0 asks for the default, and more than
/// `PAGE_SIZE_MAX` gets the maximum (AIP-158: coerced, not refused).
#[must_use]
pub fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => PAGE_SIZE_DEFAULT,
        n => n.min(PAGE_SIZE_MAX),
    }
}

/// The token of an outpoint (txid, then index big-endian: 36 bytes): the
/// page token of `ListUnspent` and the cursor of `Clawback`.
#[must_use]
pub fn outpoint_token(outpoint: &OutPoint) -> Vec<u8> {
    let mut bytes = outpoint.txid.0.to_vec();
    bytes.extend_from_slice(&outpoint.index.to_be_bytes());
    bytes
}

/// The outpoint an `outpoint_token` names; `None` unless 36 bytes.
#[must_use]
pub fn outpoint_of_token(bytes: &[u8]) -> Option<OutPoint> {
    let bytes: &[u8; 36] = bytes.try_into().ok()?;
    let txid = TxId(bytes[..32].try_into().ok()?);
    Some(OutPoint { txid, index: u32::from_be_bytes(bytes[32..].try_into().ok()?) })
}

/// The page token of `ListUnspent` after `outpoint`: its `outpoint_token`
/// as 72 lowercase hex digits (text, as every page token of the API).
#[must_use]
pub fn unspent_page_token(outpoint: &OutPoint) -> String {
    hex::encode(outpoint_token(outpoint))
}

/// Where a `ListUnspent` page starts: after the token's outpoint, or at the
/// first when there is no token.
///
/// # Errors
/// `INVALID_ARGUMENT` for a token this server cannot have issued.
pub fn unspent_page_start(token: &str) -> Result<Option<OutPoint>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    hex::decode(token)
        .ok()
        .filter(|_| token.bytes().all(|b| !b.is_ascii_uppercase()))
        .and_then(|bytes| outpoint_of_token(&bytes))
        .map(Some)
        .ok_or_else(|| invalid_field("page_token", "page_token is not one this server issued"))
}

/// The page size and the key after which a registry listing starts
/// (`AdminService.List*`), the token parsed by the listing's `parse_token`.
///
/// # Errors
/// `INVALID_ARGUMENT` for a page size over the maximum or a token that does
/// not parse.
pub fn list_page<K>(
    request: &proto::ListRequest,
    parse_token: impl Fn(&str) -> Option<K>,
) -> Result<(usize, Option<K>), Status> {
    let size = page_size(request.page_size);
    let token = match request.page_token.as_str() {
        "" => None,
        text => Some(
            parse_token(text).ok_or_else(|| invalid_field("page_token", "page_token is not one this server issued"))?,
        ),
    };
    Ok((size, token))
}

/// The page token of `ListWallets`: a wallet's address in hex.
#[must_use]
pub fn wallet_token(text: &str) -> Option<Address> {
    Address::from_hex(text).ok()
}

/// The page token of `ListBeneficiaries`: a person reference in hex.
#[must_use]
pub fn person_token(text: &str) -> Option<PersonRef> {
    PersonRef::from_hex(text).ok()
}

/// The page token of `ListProgrammes`: a programme id in decimal.
#[must_use]
pub fn programme_token(text: &str) -> Option<ProgrammeId> {
    text.parse().ok()
}

// ---- submissions ------------------------------------------------------------

/// A transaction refused before the engine, with its txid when it has one.
pub type Rejected = (Option<TxId>, Refusal);

/// What `Api::submit` does before the engine: the transaction must be
/// there, decode, and be of a kind this service accepts (`allowed`). The
/// txid, for the stream's reply, when its reference lets it hash.
///
/// # Errors
/// `MALFORMED` when missing, the decoding's refusal, `WRONG_SERVICE`.
#[allow(clippy::result_large_err, reason = "the refusal and the txid its stream reply names, once per submission")]
pub fn submission(
    tx: Option<&proto::Transaction>,
    allowed: &[TxKind],
) -> Result<(Option<TxId>, Transaction), Rejected> {
    let tx = tx.ok_or_else(|| (None, Refusal::new(Reason::Malformed, "missing transaction")))?;
    let tx = transaction_from_proto(tx).map_err(|r| (None, r))?;
    // Decoding bounded the counts; the reference is bounded only by the
    // verify stage, and the canonical encoding (so hashing) needs it to
    // fit its length byte.
    let txid = (tx.reference.len() <= TX_REFERENCE_BYTES_MAX).then(|| txid(&tx));
    if !allowed.contains(&tx.kind) {
        let service = match tx.kind {
            TxKind::Mint => "AdminService.Mint",
            TxKind::Clawback => "AdminService.Clawback",
            _ => "PaymentService",
        };
        return Err((txid, Refusal::new(Reason::WrongService, format!("{:?} is not accepted by {service}", tx.kind))));
    }
    Ok((txid, tx))
}

// ---- registrations ----------------------------------------------------------

fn invalid(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::InvalidRegistration, detail)
}

/// Tags a refusal with the request field it concerns.
fn at(field: Field) -> impl Fn(Refusal) -> Refusal {
    move |refusal| refusal.at(field)
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

fn credentials(hashes: &[Vec<u8>]) -> Result<Vec<Hash32>, Refusal> {
    if hashes.len() > CREDENTIALS_MAX {
        return Err(invalid(format!("at most {CREDENTIALS_MAX} credentials")));
    }
    hashes.iter().map(|h| bytes32("credential_sha256", h, Reason::InvalidRegistration)).collect()
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, Refusal> {
    value.ok_or_else(|| invalid(format!("missing {field}")))
}

/// `RegisterBank`'s operation; the registry checks it in the sequencer.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn register_bank_op(request: proto::RegisterBankRequest) -> Result<AdminOp, Refusal> {
    let b = required("bank", request.bank).map_err(at(Field::Bank))?;
    let credentials = credentials(&b.credential_sha256).map_err(at(Field::BankCredentials))?;
    Ok(AdminOp::RegisterBank(Bank { credentials, id: b.id, name: b.name }))
}

/// `SetCredentials`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn set_credentials_op(request: proto::SetCredentialsRequest) -> Result<AdminOp, Refusal> {
    use crate::core::registry::CredentialOwner;
    use proto::set_credentials_request::Participant;
    let owner = match request.participant {
        Some(Participant::BankId(id)) => CredentialOwner::Bank(id),
        Some(Participant::TerminalId(id)) => CredentialOwner::Terminal(id),
        None => return Err(invalid("name the participant: bank_id or terminal_id").at(Field::Participant)),
    };
    let credentials = credentials(&request.credential_sha256).map_err(at(Field::CredentialSha256))?;
    Ok(AdminOp::SetCredentials { owner, credentials })
}

/// `SetWalletTier`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn set_wallet_tier_op(request: &proto::SetWalletTierRequest) -> Result<AdminOp, Refusal> {
    let tier =
        u8::try_from(request.tier).map_err(|_| invalid(format!("no wallet tier {}", request.tier)).at(Field::Tier))?;
    let address = address("wallet address", &request.address).map_err(at(Field::Address))?;
    Ok(AdminOp::SetWalletTier { address, tier })
}

/// `FreezeWallet`'s operation (the reason's text is the registry's to judge).
///
/// # Errors
/// A refusal naming the malformed field.
pub fn freeze_wallet_op(request: proto::FreezeWalletRequest) -> Result<AdminOp, Refusal> {
    let address = address("wallet address", &request.address).map_err(at(Field::Address))?;
    Ok(AdminOp::FreezeWallet { address, reason: request.reason })
}

/// `UnfreezeWallet`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn unfreeze_wallet_op(request: &proto::UnfreezeWalletRequest) -> Result<AdminOp, Refusal> {
    Ok(AdminOp::UnfreezeWallet { address: address("wallet address", &request.address).map_err(at(Field::Address))? })
}

/// `SetActive`'s operation.
///
/// # Errors
/// No participant named.
pub fn set_active_op(request: proto::SetActiveRequest) -> Result<AdminOp, Refusal> {
    use crate::core::registry::Participant;
    use proto::set_active_request::Participant as Named;
    let participant = match request.participant {
        Some(Named::MerchantId(id)) => Participant::Merchant(id),
        Some(Named::TerminalId(id)) => Participant::Terminal(id),
        None => return Err(invalid("name the participant: merchant_id or terminal_id").at(Field::Participant)),
    };
    Ok(AdminOp::SetActive { participant, active: request.active })
}

/// `RegisterMerchant`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn register_merchant_op(request: proto::RegisterMerchantRequest) -> Result<AdminOp, Refusal> {
    let m = required("merchant", request.merchant).map_err(at(Field::Merchant))?;
    if m.payout_addresses.len() > PAYOUT_ADDRESSES_MAX {
        return Err(invalid(format!("a merchant has at most {PAYOUT_ADDRESSES_MAX} payout addresses"))
            .at(Field::MerchantPayoutAddresses));
    }
    Ok(AdminOp::RegisterMerchant(Merchant {
        mcc: mcc(m.mcc).map_err(at(Field::MerchantMcc))?,
        payout_addresses: m
            .payout_addresses
            .iter()
            .map(|a| address("payout address", a))
            .collect::<Result<_, _>>()
            .map_err(at(Field::MerchantPayoutAddresses))?,
        id: m.id,
        name: m.name,
        bank: m.bank_id,
    }))
}

/// `RegisterTerminal`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn register_terminal_op(request: proto::RegisterTerminalRequest) -> Result<AdminOp, Refusal> {
    let t = required("terminal", request.terminal).map_err(at(Field::Terminal))?;
    let credentials = credentials(&t.credential_sha256).map_err(at(Field::TerminalCredentials))?;
    Ok(AdminOp::RegisterTerminal(Terminal { id: t.id, merchant: t.merchant_id, credentials }))
}

/// `RegisterWallet`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn register_wallet_op(request: proto::RegisterWalletRequest) -> Result<AdminOp, Refusal> {
    let w = required("wallet", request.wallet).map_err(at(Field::Wallet))?;
    let tier = u8::try_from(w.tier).map_err(|_| invalid(format!("no wallet tier {}", w.tier)).at(Field::WalletTier))?;
    let address = address("wallet address", &w.address).map_err(at(Field::WalletAddress))?;
    Ok(AdminOp::RegisterWallet(Wallet { address, bank: w.bank_id, tier }))
}

/// `CreateProgramme`'s operation.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn create_programme_op(request: proto::CreateProgrammeRequest) -> Result<AdminOp, Refusal> {
    let p = required("programme", request.programme).map_err(at(Field::Programme))?;
    if p.allowed_mccs.len() > PROGRAMME_MCCS_MAX {
        return Err(invalid(format!("a programme allows at most {PROGRAMME_MCCS_MAX} merchant categories"))
            .at(Field::ProgrammeAllowedMccs));
    }
    Ok(AdminOp::CreateProgramme(Programme {
        id: p.id,
        allowed_mccs: p
            .allowed_mccs
            .iter()
            .map(|m| mcc(*m))
            .collect::<Result<_, _>>()
            .map_err(at(Field::ProgrammeAllowedMccs))?,
        valid_from_ms: p.valid_from_unix_ms,
        valid_until_ms: p.valid_until_unix_ms,
        transferable: p.transferable,
        treasury: address("treasury address", &p.treasury_address).map_err(at(Field::ProgrammeTreasury))?,
        per_payment_max_minor: (p.per_payment_max_minor != 0).then_some(p.per_payment_max_minor),
        payment_period: payment_period(p.payment_period).map_err(at(Field::ProgrammePaymentPeriod))?,
        refund_window_ms: (p.refund_window_ms != 0).then_some(p.refund_window_ms),
        name: p.name,
    }))
}

fn payment_period(value: i32) -> Result<Option<PaymentPeriod>, Refusal> {
    match proto::PaymentPeriod::try_from(value) {
        Ok(proto::PaymentPeriod::Unspecified) => Ok(None),
        Ok(proto::PaymentPeriod::Month) => Ok(Some(PaymentPeriod::Month)),
        Err(_) => Err(invalid(format!("payment_period {value} is none of PaymentPeriod's values"))),
    }
}

/// A person reference: exactly 32 bytes.
///
/// # Errors
/// `INVALID_REGISTRATION` naming the length.
pub fn person_ref(bytes: &[u8]) -> Result<PersonRef, Refusal> {
    PersonRef::from_slice(bytes).ok_or_else(|| {
        invalid(format!(
            "person_ref is {} bytes; it is 32 (an HMAC-SHA-256 output, never an identity number)",
            bytes.len()
        ))
        .at(Field::PersonRef)
    })
}

/// A beneficiary record of `RegisterBeneficiary` and `UpdateBeneficiary`;
/// the registry checks it against what is registered in the sequencer.
///
/// # Errors
/// A refusal naming the malformed field.
pub fn beneficiary(b: Option<proto::Beneficiary>) -> Result<Beneficiary, Refusal> {
    let b = required("beneficiary", b).map_err(at(Field::Beneficiary))?;
    if b.wallets.len() > BENEFICIARY_WALLETS_MAX {
        return Err(invalid(format!("a beneficiary links at most {BENEFICIARY_WALLETS_MAX} wallets"))
            .at(Field::BeneficiaryWallets));
    }
    if b.designations.len() > BENEFICIARY_PROGRAMMES_MAX {
        return Err(
            invalid(format!("at most {BENEFICIARY_PROGRAMMES_MAX} designations")).at(Field::BeneficiaryDesignations)
        );
    }
    let mut designated = std::collections::BTreeMap::new();
    for d in &b.designations {
        let wallet = address("designated wallet", &d.wallet).map_err(at(Field::BeneficiaryDesignations))?;
        if designated.insert(d.programme_id, wallet).is_some() {
            return Err(
                invalid(format!("programme {} designated twice", d.programme_id)).at(Field::BeneficiaryDesignations)
            );
        }
    }
    Ok(Beneficiary {
        person: person_ref(&b.person_ref).map_err(at(Field::BeneficiaryPersonRef))?,
        wallets: b
            .wallets
            .iter()
            .map(|w| address("wallet", w))
            .collect::<Result<_, _>>()
            .map_err(at(Field::BeneficiaryWallets))?,
        designated,
    })
}

// ---- programmes and clawbacks -----------------------------------------------

/// The registered programme `id` (`GetProgrammeStats`, `Clawback`).
///
/// # Errors
/// `UNKNOWN_PROGRAMME`, as `NOT_FOUND`: the call names it.
pub fn programme_of(registry: &Registry, id: ProgrammeId) -> Result<Programme, Refusal> {
    registry
        .programmes
        .get(&id)
        .cloned()
        .ok_or_else(|| Refusal::new(Reason::UnknownProgramme, format!("no programme {id}")).not_found())
}

/// A `Clawback`'s authorisation: at most `TX_WITNESSES_MAX` keys of 32
/// bytes with signatures of 64.
///
/// # Errors
/// `TOO_MANY_WITNESSES`, or `MALFORMED` for a field of the wrong size.
pub fn clawback_authorization_of(authorization: &[proto::Witness]) -> Result<Vec<Witness>, Refusal> {
    authorization_of(authorization).map_err(at(Field::Authorization))
}

fn authorization_of(authorization: &[proto::Witness]) -> Result<Vec<Witness>, Refusal> {
    if authorization.len() > TX_WITNESSES_MAX {
        return Err(Refusal::new(
            Reason::TooManyWitnesses,
            format!("at most {TX_WITNESSES_MAX} authorisation signatures"),
        ));
    }
    authorization
        .iter()
        .map(|w| {
            let signature = w
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| Refusal::new(Reason::Malformed, "authorisation signatures are 64 bytes".to_owned()))?;
            Ok(Witness {
                public_key: Address(bytes32("authorisation key", &w.public_key, Reason::Malformed)?),
                signature,
            })
        })
        .collect()
}

/// Where a `Clawback` resumes: after its `resume_after` cursor, or at the
/// programme's first output when there is none.
///
/// # Errors
/// `INVALID_ARGUMENT` for a cursor that is not an outpoint token.
pub fn clawback_resume_after(cursor: &[u8]) -> Result<Option<OutPoint>, Status> {
    match cursor {
        [] => Ok(None),
        bytes => Ok(Some(
            outpoint_of_token(bytes)
                .ok_or_else(|| invalid_field("resume_after", "resume_after is not a cursor Clawback returned"))?,
        )),
    }
}

/// The clawback authorisation (issuer signatures over the programme, its
/// treasury and end, on `chain`, at least the threshold of them) and the
/// programme's end, checked before the first batch: a call with nothing
/// left to move still answers a bad authorisation or an early call as
/// such; the ledger checks every batch again.
///
/// # Errors
/// `BAD_SIGNATURE`, `UNEXPECTED_WITNESS` (not an issuer), `DUPLICATE_WITNESS`,
/// `MINT_THRESHOLD`, `PROGRAMME_NOT_EXPIRED`.
pub fn check_clawback_authorization(
    chain: &ChainId,
    genesis: &Genesis,
    programme: &Programme,
    authorization: &[Witness],
    now_unix_ms: u64,
) -> Result<(), Refusal> {
    let programme_id = programme.id;
    let message = clawback_authorization(chain, programme_id, &programme.treasury, programme.valid_until_ms);
    let what = format!(
        "the clawback authorisation of programme {programme_id} (treasury {}, valid until {}) on chain {chain}",
        programme.treasury,
        crate::core::clock::iso8601(programme.valid_until_ms)
    );
    check_issuer_authorization(genesis, &message, authorization, &what).map_err(at(Field::Authorization))?;
    if now_unix_ms < programme.valid_until_ms {
        return Err(Refusal::new(
            Reason::ProgrammeNotExpired,
            format!(
                "programme {programme_id} runs until {}: it can be clawed back only after",
                crate::core::clock::iso8601(programme.valid_until_ms)
            ),
        ));
    }
    Ok(())
}

/// A recovery's authorisation (`RecoverWallet`): the issuer threshold
/// signing the recovery authorisation of `lost` to `replacement` on this
/// chain.
///
/// # Errors
/// As `check_clawback_authorization`, for this message.
pub fn check_recovery_authorization(
    chain: &ChainId,
    genesis: &Genesis,
    lost: &Address,
    replacement: &Address,
    authorization: &[Witness],
) -> Result<(), Refusal> {
    let message = crate::core::encoding::recovery_authorization(chain, lost, replacement);
    let what = format!("the recovery authorisation of {lost} to {replacement} on chain {chain}");
    check_issuer_authorization(genesis, &message, authorization, &what).map_err(at(Field::Authorization))
}

/// Every signature of `authorization` over `message` by a distinct issuer
/// key, at least the threshold of them.
fn check_issuer_authorization(
    genesis: &Genesis,
    message: &Hash32,
    authorization: &[Witness],
    what: &str,
) -> Result<(), Refusal> {
    if authorization.is_empty() {
        return Err(Refusal::new(Reason::NoWitnesses, format!("no issuer signs {what}")));
    }
    for witness in authorization {
        if !crypto::verify(&witness.public_key, message, &witness.signature) {
            return Err(Refusal::new(Reason::BadSignature, format!("{} does not sign {what}", witness.public_key)));
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
    Ok(())
}

// ---- reconciliation ---------------------------------------------------------

/// The bank a reconciliation call is about: a bank asks about itself; the
/// operator (or development mode) names one. It must be registered.
///
/// # Errors
/// `PERMISSION_DENIED` for a bank naming another, `INVALID_ARGUMENT` when
/// no bank is named, `NOT_FOUND` for a bank not registered.
pub fn bank_of_call(principal: &Principal, named: &str, registry: &Registry) -> Result<String, Status> {
    let bank = match principal {
        Principal::Bank(own) if named.is_empty() || named == own => own.clone(),
        Principal::Bank(own) => {
            return Err(Status::permission_denied(format!("bank {own} may not read bank {named}'s customers")));
        }
        _ if named.is_empty() => return Err(invalid_field("bank", "name the bank")),
        _ => named.to_owned(),
    };
    if !registry.banks.contains_key(&bank) {
        return Err(Status::not_found(format!("no bank {bank}")));
    }
    Ok(bank)
}

/// A statement's format: camt.053 unless CSV or camt.052 is asked for.
///
/// # Errors
/// `INVALID_ARGUMENT` for a format number the protocol does not have.
pub fn statement_format(format: i32) -> Result<proto::StatementFormat, Status> {
    match proto::StatementFormat::try_from(format) {
        Ok(proto::StatementFormat::Camt053 | proto::StatementFormat::Unspecified) => {
            Ok(proto::StatementFormat::Camt053)
        }
        Ok(proto::StatementFormat::Csv) => Ok(proto::StatementFormat::Csv),
        Ok(proto::StatementFormat::Camt052) => Ok(proto::StatementFormat::Camt052),
        Err(_) => Err(invalid_field("format", format!("unknown statement format {format}"))),
    }
}

/// A statement's `YYYY-MM-DD` date as its day number since the epoch
/// (1970 or later).
///
/// # Errors
/// `INVALID_ARGUMENT` for anything else.
pub fn statement_day(date: &str) -> Result<i64, Status> {
    crate::api::statement::parse_date(date)
        .and_then(|days| i64::try_from(days).ok())
        .filter(|days| *days >= 0)
        .ok_or_else(|| invalid_field("date", format!("date '{date}' is not a YYYY-MM-DD date")))
}

/// The ledger day `day` in unix ms, `[start, end)`, for a ledger whose day
/// starts `offset_minutes` after UTC midnight's (a day before the epoch's
/// local midnight starts at 0).
#[must_use]
pub fn day_window_ms(day: i64, offset_minutes: i32) -> (u64, u64) {
    let start_ms = u64::try_from(day * 86_400_000 - i64::from(offset_minutes) * 60_000).unwrap_or(0);
    (start_ms, start_ms + 86_400_000)
}

/// The window of `GetNetPositions`: after `after_height` up to
/// `until_height` (0: the tip), as (after, until).
///
/// # Errors
/// `OUT_OF_RANGE` past the tip, `INVALID_ARGUMENT` for a window without a
/// block.
pub fn net_positions_window(after_height: u64, until_height: u64, tip: u64) -> Result<(u64, u64), Status> {
    let until = if until_height == 0 { tip } else { until_height };
    if until > tip {
        return Err(Status::out_of_range(format!("until_height {until} is past the tip {tip}")));
    }
    if after_height >= until {
        return Err(invalid_field(
            "after_height",
            format!("the window is after_height {after_height} up to until_height {until}: it must hold a block"),
        ));
    }
    Ok((after_height, until))
}

/// A statement of `entries` entries, within what one statement holds.
///
/// # Errors
/// `RESOURCE_EXHAUSTED`, `REASON_LIMIT_EXCEEDED` naming
/// `STATEMENT_ENTRIES_MAX`, above it.
pub fn statement_entries(bank: &str, date: &str, entries: u64) -> Result<(), Status> {
    if entries > crate::core::limits::STATEMENT_ENTRIES_MAX {
        return Err(crate::api::refusal_to_status(&Refusal::limit_exceeded(
            crate::core::refusal::Limit::StatementEntries,
            format!(
                "bank {bank} has {entries} entries on {date}, more than one statement holds ({})",
                crate::core::limits::STATEMENT_ENTRIES_MAX
            ),
        )));
    }
    Ok(())
}

/// The first block a subscription sends, given the block holding the
/// sequence it resumes after (`height`) and the block whose checkpoint the
/// bank already saw (`after_height`).
#[must_use]
pub fn first_subscribed_height(height: u64, after_height: Option<u64>) -> u64 {
    after_height.map_or(height, |seen| height.max(seen.saturating_add(1)))
}

// ---- membership -------------------------------------------------------------

/// The voters after adding `id` to `voters`.
///
/// # Errors
/// `ALREADY_EXISTS` for a voter, `RESOURCE_EXHAUSTED` at
/// `CLUSTER_MEMBERS_MAX` voters.
pub fn voters_after_adding(voters: &BTreeSet<NodeId>, id: NodeId) -> Result<BTreeSet<NodeId>, Status> {
    if voters.contains(&id) {
        return Err(Status::already_exists(format!("replica {id} is already a voter")));
    }
    if voters.len() >= CLUSTER_MEMBERS_MAX {
        return Err(crate::api::refusal_to_status(&Refusal::limit_exceeded(
            crate::core::refusal::Limit::ClusterMembers,
            format!("the cluster has {} voters, the most it may have", voters.len()),
        )));
    }
    let mut next = voters.clone();
    next.insert(id);
    Ok(next)
}

/// What `RemoveReplica` changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// A learner left behind by an `AddReplica` that timed out: removed
    /// alone.
    Learner(NodeId),
    /// The voters that remain.
    Voters(BTreeSet<NodeId>),
}

/// What removing `id` changes, given the voters and the learners.
///
/// # Errors
/// `NOT_FOUND` for a node that is neither, `FAILED_PRECONDITION` for the
/// last voter.
pub fn removal(voters: &BTreeSet<NodeId>, learners: &BTreeSet<NodeId>, id: NodeId) -> Result<Removal, Status> {
    if learners.contains(&id) {
        return Ok(Removal::Learner(id));
    }
    if !voters.contains(&id) {
        return Err(Status::not_found(format!("replica {id} is neither a voter nor a learner")));
    }
    if voters.len() == 1 {
        return Err(Status::failed_precondition("the last voter cannot leave"));
    }
    Ok(Removal::Voters(voters.iter().copied().filter(|voter| *voter != id).collect()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_fixed_limit_is_refused_with_its_reason_and_its_name_and_no_retry_hint() {
        use tonic_types::StatusExt;
        let full: BTreeSet<NodeId> = (1..=CLUSTER_MEMBERS_MAX as u64).collect();
        let too_many_entries = crate::core::limits::STATEMENT_ENTRIES_MAX + 1;
        for (status, limit) in [
            (voters_after_adding(&full, 99).expect_err("full"), "CLUSTER_MEMBERS_MAX"),
            (
                statement_entries("bank-a", "2026-12-07", too_many_entries).expect_err("too many"),
                "STATEMENT_ENTRIES_MAX",
            ),
        ] {
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
            let info = status.get_details_error_info().expect("ErrorInfo");
            assert_eq!(info.reason, "REASON_LIMIT_EXCEEDED");
            assert_eq!(info.metadata.get("limit").map(String::as_str), Some(limit));
            assert!(status.get_details_retry_info().is_none(), "waiting does not help");
        }
        statement_entries("bank-a", "2026-12-07", crate::core::limits::STATEMENT_ENTRIES_MAX).expect("at the limit");
    }
    use super::*;

    #[test]
    fn statement_dates_map_to_day_numbers_from_the_epoch() {
        let day = |date: &str| statement_day(date).ok();
        assert_eq!(day("1970-01-01"), Some(0));
        assert_eq!(day("2026-11-26"), Some(20_783));
        assert_eq!(day("2024-02-29"), Some(19_782));
        assert_eq!(day("1969-12-31"), None);
        assert_eq!(day("2026-02-29"), None);
        assert_eq!(day("2026-13-01"), None);
        assert_eq!(day("26-11-2026"), None);
    }
}
