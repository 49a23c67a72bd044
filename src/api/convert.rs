//! Every conversion between protobuf and domain types: requests decoded
//! (with the refusal a caller can act on), answers and refusals encoded.

use super::*;
use crate::core::limits::STREAM_LIMIT_RETRY_AFTER_MS;

pub(crate) fn bytes32(field: &str, bytes: &[u8], reason: Reason) -> Result<[u8; 32], Refusal> {
    bytes.try_into().map_err(|_| Refusal::new(reason, format!("{field} must be 32 bytes, got {}", bytes.len())))
}

/// Decodes a transaction. Counts are checked before anything is copied, so
/// an oversized list is refused without being converted.
///
/// # Errors
/// A refusal naming the first malformed field.
pub fn transaction_from_proto(tx: &proto::Transaction) -> Result<Transaction, Refusal> {
    let version = u8::try_from(tx.version)
        .map_err(|_| Refusal::new(Reason::UnsupportedVersion, format!("version {}", tx.version)))?;
    let kind = match proto::TransactionKind::try_from(tx.kind) {
        Ok(proto::TransactionKind::Transfer) => TxKind::Transfer,
        Ok(proto::TransactionKind::Mint) => TxKind::Mint,
        Ok(proto::TransactionKind::Redeem) => TxKind::Redeem,
        Ok(proto::TransactionKind::Clawback) => TxKind::Clawback,
        Ok(proto::TransactionKind::Refund) => TxKind::Refund,
        Ok(proto::TransactionKind::Recovery) => TxKind::Recovery,
        Ok(proto::TransactionKind::Unspecified) | Err(_) => {
            return Err(Refusal::new(Reason::UnsupportedKind, format!("transaction kind {}", tx.kind)));
        }
    };
    crate::core::verify::check_counts(tx.inputs.len(), tx.outputs.len(), tx.witnesses.len())?;
    let inputs = tx.inputs.iter().map(outpoint_from_proto).collect::<Result<Vec<_>, _>>()?;
    let outputs = tx
        .outputs
        .iter()
        .map(|o| {
            Ok(Output {
                owner: Address(bytes32("output address", &o.address, Reason::BadAddress)?),
                amount_minor: o.amount_minor,
                programme: o.programme_id,
            })
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    let witnesses = tx
        .witnesses
        .iter()
        .map(|w| {
            let signature = w.signature.as_slice().try_into().map_err(|_| {
                Refusal::new(
                    Reason::Malformed,
                    format!("witness signature must be 64 bytes, got {}", w.signature.len()),
                )
            })?;
            Ok(Witness {
                public_key: Address(bytes32("witness public key", &w.public_key, Reason::Malformed)?),
                signature,
            })
        })
        .collect::<Result<Vec<_>, Refusal>>()?;
    Ok(Transaction { version, kind, inputs, outputs, reference: tx.reference.clone(), witnesses })
}

pub(crate) fn outpoint_from_proto(o: &proto::OutPoint) -> Result<OutPoint, Refusal> {
    Ok(OutPoint { txid: TxId(bytes32("input txid", &o.txid, Reason::Malformed)?), index: o.index })
}

// ---- domain -> proto -------------------------------------------------------

#[must_use]
pub fn transaction_to_proto(tx: &Transaction) -> proto::Transaction {
    proto::Transaction {
        version: u32::from(tx.version),
        kind: match tx.kind {
            TxKind::Transfer => proto::TransactionKind::Transfer,
            TxKind::Mint => proto::TransactionKind::Mint,
            TxKind::Redeem => proto::TransactionKind::Redeem,
            TxKind::Clawback => proto::TransactionKind::Clawback,
            TxKind::Refund => proto::TransactionKind::Refund,
            TxKind::Recovery => proto::TransactionKind::Recovery,
        } as i32,
        inputs: tx.inputs.iter().map(outpoint_to_proto).collect(),
        outputs: tx.outputs.iter().map(output_to_proto).collect(),
        reference: tx.reference.clone(),
        witnesses: tx
            .witnesses
            .iter()
            .map(|w| proto::Witness { public_key: w.public_key.0.to_vec(), signature: w.signature.to_vec() })
            .collect(),
    }
}

pub(crate) fn outpoint_to_proto(o: &OutPoint) -> proto::OutPoint {
    proto::OutPoint { txid: o.txid.0.to_vec(), index: o.index }
}

pub(crate) fn output_to_proto(o: &Output) -> proto::Output {
    proto::Output { address: o.owner.0.to_vec(), amount_minor: o.amount_minor, programme_id: o.programme }
}

/// An audit's report as `LedgerService.Audit` answers it (and the offline
/// audit prints it).
#[must_use]
pub fn audit_report_to_proto(report: crate::store::audit::AuditReport) -> proto::AuditResponse {
    proto::AuditResponse {
        blocks: report.blocks,
        transactions: report.transactions,
        minted_minor: report.minted_minor,
        burned_minor: report.burned_minor,
        unspent_minor: report.unspent_minor,
        unspent_count: report.unspent_count,
        failures: report.failures,
    }
}

#[must_use]
pub fn header_to_proto(signed: &SignedHeader) -> proto::BlockHeader {
    let h = &signed.header;
    proto::BlockHeader {
        height: h.height,
        previous_hash: h.previous_hash.to_vec(),
        merkle_root: h.merkle_root.to_vec(),
        first_sequence: h.first_sequence,
        tx_count: h.tx_count,
        time_unix_ms: h.time_unix_ms,
        minted_total_minor: h.minted_total_minor,
        burned_total_minor: h.burned_total_minor,
        hash: h.hash().to_vec(),
        engine_signature: signed.signature.to_vec(),
    }
}

#[must_use]
pub fn receipt_to_proto(receipt: &Receipt) -> proto::Receipt {
    proto::Receipt {
        txid: receipt.txid.0.to_vec(),
        sequence: receipt.sequence,
        block: Some(header_to_proto(&receipt.block)),
        index_in_block: receipt.index_in_block,
        merkle_path: receipt
            .merkle_path
            .iter()
            .map(|s| proto::MerkleStep { sibling: s.sibling.to_vec(), sibling_on_left: s.sibling_on_left })
            .collect(),
    }
}

/// Decodes a receipt received from a server, for offline verification.
///
/// # Errors
/// When a field has the wrong length or the header is missing.
pub fn receipt_from_proto(receipt: &proto::Receipt) -> Result<Receipt, String> {
    let block = header_from_proto(receipt.block.as_ref().ok_or("receipt without block header")?)?;
    let arr32 = |name: &str, b: &[u8]| -> Result<[u8; 32], String> {
        b.try_into().map_err(|_| format!("{name} must be 32 bytes"))
    };
    let merkle_path = receipt
        .merkle_path
        .iter()
        .map(|s| Ok(MerkleStep { sibling: arr32("sibling", &s.sibling)?, sibling_on_left: s.sibling_on_left }))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Receipt {
        txid: TxId(arr32("txid", &receipt.txid)?),
        sequence: receipt.sequence,
        block,
        index_in_block: receipt.index_in_block,
        merkle_path,
    })
}

/// The signed header in a protobuf block header; its hash is recomputed
/// from the fields, never taken from the message.
///
/// # Errors
/// When a field has the wrong length.
pub fn header_from_proto(block: &proto::BlockHeader) -> Result<SignedHeader, String> {
    let arr32 = |name: &str, b: &[u8]| -> Result<[u8; 32], String> {
        b.try_into().map_err(|_| format!("{name} must be 32 bytes"))
    };
    let header = BlockHeader {
        height: block.height,
        previous_hash: arr32("previous_hash", &block.previous_hash)?,
        merkle_root: arr32("merkle_root", &block.merkle_root)?,
        first_sequence: block.first_sequence,
        tx_count: block.tx_count,
        time_unix_ms: block.time_unix_ms,
        minted_total_minor: block.minted_total_minor,
        burned_total_minor: block.burned_total_minor,
    };
    let signature = block.engine_signature.as_slice().try_into().map_err(|_| "engine_signature must be 64 bytes")?;
    Ok(SignedHeader { header, signature })
}

#[must_use]
pub fn reason_to_proto(reason: Reason) -> proto::Reason {
    proto::Reason::from_str_name(reason.name()).unwrap_or(proto::Reason::Unspecified)
}

#[must_use]
pub fn refusal_to_proto(refusal: &Refusal) -> proto::Refusal {
    proto::Refusal {
        reason: reason_to_proto(refusal.reason) as i32,
        message: refusal.detail.clone(),
        spent_by_txid: refusal.spent_by.map(|t| t.0.to_vec()).unwrap_or_default(),
        input: refusal.input.as_ref().map(outpoint_to_proto),
        retry_after_ms: retry_after_ms(refusal),
        leader: refusal.leader.as_deref().unwrap_or_default().to_owned(),
        outcome_unknown: refusal.outcome_unknown,
    }
}

/// The retry hint of an overload refusal (0 for any other refusal).
pub(crate) fn retry_after_ms(refusal: &Refusal) -> u32 {
    match refusal.reason {
        Reason::Overloaded if refusal.retry_after_ms == 0 => OVERLOAD_RETRY_AFTER_MS,
        Reason::Overloaded => u32::from(refusal.retry_after_ms),
        Reason::TooManyStreams => STREAM_LIMIT_RETRY_AFTER_MS,
        _ => 0,
    }
}

/// A refusal as a gRPC status: the code of its class, and a
/// `google.rpc.ErrorInfo` whose reason is the proto `Reason` name, with the
/// input and the spending txid in its metadata; `RetryInfo` when overloaded
/// or at a stream limit.
#[must_use]
pub fn refusal_to_status(refusal: &Refusal) -> Status {
    let code = match refusal.reason.class() {
        _ if refusal.not_found => Code::NotFound,
        Class::InvalidArgument => Code::InvalidArgument,
        Class::FailedPrecondition => Code::FailedPrecondition,
        Class::ResourceExhausted => Code::ResourceExhausted,
        Class::Unavailable => Code::Unavailable,
        Class::PermissionDenied => Code::PermissionDenied,
    };
    let mut metadata = HashMap::new();
    if let Some(input) = &refusal.input {
        metadata.insert("input".to_owned(), input.to_string());
    }
    if let Some(spent_by) = &refusal.spent_by {
        metadata.insert("spent_by_txid".to_owned(), spent_by.to_string());
    }
    if let Some(leader) = &refusal.leader {
        metadata.insert("leader".to_owned(), leader.to_string());
    }
    if refusal.outcome_unknown {
        metadata.insert("outcome_unknown".to_owned(), "true".to_owned());
    }
    if let Some(limit) = refusal.limit {
        metadata.insert("limit".to_owned(), limit.name().to_owned());
    }
    let mut details = ErrorDetails::with_error_info(refusal.reason.name(), ERROR_DOMAIN, metadata);
    if refusal.reason.class() == Class::InvalidArgument
        && let Some(field) = refusal.field.or_else(|| Field::of_transaction(refusal.reason))
    {
        details.add_bad_request_violation(field.path(), refusal.detail.clone());
    }
    if matches!(refusal.reason, Reason::Overloaded | Reason::TooManyStreams) {
        details.set_retry_info(Some(std::time::Duration::from_millis(u64::from(retry_after_ms(refusal)))));
    }
    Status::with_error_details(code, refusal.to_string(), details)
}

/// `INVALID_ARGUMENT` for a malformed request field that no ledger reason
/// names (a txid's length, a page token, a date): `message`, and a
/// `google.rpc.BadRequest` violation naming `field`.
#[must_use]
pub fn invalid_field(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let details = ErrorDetails::with_bad_request_violation(field, message.clone());
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// Reads the refusal reason back out of a status (for clients and tests).
#[must_use]
pub fn status_reason(status: &Status) -> Option<proto::Reason> {
    let info = status.get_details_error_info()?;
    proto::Reason::from_str_name(&info.reason)
}

/// A failed storage read as the caller sees it: `DATA_LOSS` when what was
/// read back is damaged (the engine has stopped: nothing of it is served),
/// `UNAVAILABLE` otherwise.
pub(crate) fn storage_status(error: &StoreError) -> Status {
    tracing::error!(%error, "storage read failed");
    match error {
        StoreError::Damaged(_) => Status::data_loss(
            "the ledger file of this replica is damaged; it has stopped serving (ask another replica, or restore)",
        ),
        _ => Status::unavailable("storage read failed"),
    }
}
