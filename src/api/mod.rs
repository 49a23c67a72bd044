//! The gRPC edge: decodes requests into domain types, calls the engine or the
//! store, and encodes answers. Protocol types stop here.

pub mod admin;
pub mod auth;
pub mod membership;
pub mod reconciliation;
pub mod statement;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

use crate::api::auth::{ConfiguredCredentials, Need, Principal};
use crate::core::encoding::BlockHeader;
use crate::core::limits::{
    OVERLOAD_RETRY_AFTER_MS, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAYMENT_STREAMS_PER_PARTICIPANT_MAX,
    STREAM_IN_FLIGHT_MAX, TX_REFERENCE_BYTES_MAX,
};
use crate::core::merkle::MerkleStep;
use crate::core::receipt::{Receipt, SignedHeader};
use crate::core::refusal::{Class, Reason, Refusal};
use crate::core::types::{Address, OutPoint, Output, Transaction, TxId, TxKind, Witness};
use crate::engine::{Engine, Outcome, Submitter};
use crate::proto;
use crate::store::StoreError;

/// The domain that names our `google.rpc.ErrorInfo` reasons.
pub const ERROR_DOMAIN: &str = "settled.v1";

// ---- proto -> domain -------------------------------------------------------

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

fn outpoint_from_proto(o: &proto::OutPoint) -> Result<OutPoint, Refusal> {
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

fn outpoint_to_proto(o: &OutPoint) -> proto::OutPoint {
    proto::OutPoint { txid: o.txid.0.to_vec(), index: o.index }
}

fn output_to_proto(o: &Output) -> proto::Output {
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
fn retry_after_ms(refusal: &Refusal) -> u32 {
    match refusal.reason {
        Reason::Overloaded if refusal.retry_after_ms == 0 => OVERLOAD_RETRY_AFTER_MS,
        Reason::Overloaded => refusal.retry_after_ms,
        _ => 0,
    }
}

/// A refusal as a gRPC status: the code of its class, and a
/// `google.rpc.ErrorInfo` whose reason is the proto `Reason` name, with the
/// input and the spending txid in its metadata; `RetryInfo` when overloaded.
#[must_use]
pub fn refusal_to_status(refusal: &Refusal) -> Status {
    let code = match refusal.reason.class() {
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
    let mut details = ErrorDetails::with_error_info(refusal.reason.name(), ERROR_DOMAIN, metadata);
    if refusal.reason == Reason::Overloaded {
        details.set_retry_info(Some(std::time::Duration::from_millis(u64::from(retry_after_ms(refusal)))));
    }
    Status::with_error_details(code, refusal.to_string(), details)
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

/// Runs a storage read that may scan many rows off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    match tokio::task::spawn_blocking(read).await {
        Ok(result) => result.map_err(|e| storage_status(&e)),
        Err(_) => Err(Status::internal("storage read task failed")),
    }
}

fn txid_arg(bytes: &[u8]) -> Result<TxId, Status> {
    TxId::from_slice(bytes)
        .ok_or_else(|| Status::invalid_argument(format!("txid must be 32 bytes, got {}", bytes.len())))
}

fn address_arg(bytes: &[u8]) -> Result<Address, Status> {
    Address::from_slice(bytes)
        .ok_or_else(|| Status::invalid_argument(format!("address must be 32 bytes, got {}", bytes.len())))
}

// ---- services ---------------------------------------------------------------

#[derive(Clone)]
pub struct Api {
    pub engine: Arc<Engine>,
    /// Turns `true` when the server stops: open payment streams stop
    /// reading, answer what they admitted, and end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Operator, issuer and development credentials from the configuration.
    pub credentials: Arc<ConfiguredCredentials>,
    /// Steps of one `AdminService.Clawback` call.
    pub clawback_steps_per_call: usize,
    /// How long a stream may wait on a client that stopped reading.
    pub stream_stall: std::time::Duration,
    /// Open streams per participant (payment streams) and per bank (bank
    /// streams), for their limits.
    pub open_streams: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    /// Cluster mode: this node's Raft, for membership changes.
    pub raft: Option<openraft::Raft<crate::cluster::TypeConfig>>,
}

/// One open stream counted against its owner's limit while it lives.
pub(crate) struct StreamSlot {
    open_streams: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open_streams.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl Api {
    /// The caller, if it holds one of `needs` (see `auth`).
    pub(crate) fn authorize<T>(&self, request: &Request<T>, needs: &[Need]) -> Result<Principal, Status> {
        auth::authorize(request, &self.credentials, &self.engine.registry(), needs)
    }

    /// Counts a stream against `key`'s limit of `max`.
    pub(crate) fn open_stream(&self, key: String, max: usize) -> Result<StreamSlot, Status> {
        let mut open = self.open_streams.lock().expect("not poisoned");
        let count = open.entry(key.clone()).or_default();
        if *count >= max {
            return Err(Status::resource_exhausted(format!("{key} already has {max} streams open, the most allowed")));
        }
        *count += 1;
        Ok(StreamSlot { open_streams: Arc::clone(&self.open_streams), key })
    }

    /// The caller, who must be allowed to read what concerns `address`.
    fn authorize_read<T>(&self, request: &Request<T>, address: &[u8]) -> Result<Address, Status> {
        let principal = self.authorize(request, &[Need::Operator, Need::Bank, Need::Terminal])?;
        let address = address_arg(address)?;
        if auth::may_read(&principal, &address, &self.engine.registry()) {
            Ok(address)
        } else {
            Err(Status::permission_denied(format!("{principal:?} may not read address {address}")))
        }
    }

    /// Decodes, checks the kind belongs to this service and the caller may
    /// submit it, submits.
    pub(crate) async fn submit(
        &self,
        principal: &Principal,
        tx: Option<&proto::Transaction>,
        allowed: &[TxKind],
    ) -> Result<(TxId, Outcome), (Option<TxId>, Refusal)> {
        // Shedding the excess first costs a load and a compare, not a
        // conversion and a hash per refused payment.
        if let Some(refusal) = self.engine.overloaded_now() {
            self.engine.metrics().outcome(Err(Reason::Overloaded), std::time::Duration::ZERO);
            return Err((None, refusal));
        }
        let tx = tx.ok_or_else(|| (None, Refusal::new(Reason::Malformed, "missing transaction")))?;
        let tx = transaction_from_proto(tx).map_err(|r| (None, r))?;
        // Decoding bounded the counts; the reference is bounded only by the
        // verify stage, and the canonical encoding (so hashing) needs it to
        // fit its length byte.
        let txid = (tx.reference.len() <= TX_REFERENCE_BYTES_MAX).then(|| crate::core::encoding::txid(&tx));
        if !allowed.contains(&tx.kind) {
            let service = match tx.kind {
                TxKind::Mint => "AdminService.Mint",
                TxKind::Clawback => "AdminService.Clawback",
                _ => "PaymentService",
            };
            return Err((
                txid,
                Refusal::new(Reason::WrongService, format!("{:?} is not accepted by {service}", tx.kind)),
            ));
        }
        // A terminal takes payments for its own merchant only, a bank redeems
        // its own merchants' takings only: the sequencer judges that against
        // the registry as it stands for this transaction.
        let submitter = match principal {
            Principal::Terminal(terminal) => {
                let merchant = self.engine.registry().terminals.get(terminal).map(|t| t.merchant.clone());
                let merchant = merchant
                    .ok_or_else(|| (txid, Refusal::new(Reason::PermissionDenied, format!("no terminal {terminal}"))))?;
                Submitter::Terminal { id: terminal.clone(), merchant }
            }
            Principal::Bank(bank) => Submitter::Bank(bank.clone()),
            Principal::Operator | Principal::Issuer | Principal::Development => Submitter::Trusted,
        };
        let outcome = self.engine.submit_for(tx, submitter).await.map_err(|r| (txid, r))?;
        Ok((outcome.receipt.txid, outcome))
    }
}

/// A response stream that notes when the client last took an item, so that
/// a stream whose results sit unread can be told from a quiet one.
struct ReadTracking<T> {
    inner: ReceiverStream<T>,
    opened: std::time::Instant,
    last_read_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl<T> Stream for ReadTracking<T> {
    type Item = T;

    fn poll_next(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(context);
        if matches!(polled, std::task::Poll::Ready(Some(_))) {
            let read_ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last_read_ms.store(read_ms, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

/// The caller's deadline, from its `grpc-timeout` header (gRPC's wire form:
/// at most 8 digits and a unit, `H` `M` `S` `m` `u` `n`). tonic itself ends a
/// unary call (and the wait for a stream's first response) at the deadline
/// with `CANCELLED`; a response stream is ended here.
pub(crate) fn deadline_of<T>(request: &Request<T>) -> Option<tokio::time::Instant> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => std::time::Duration::from_secs(amount.checked_mul(3_600)?),
        "M" => std::time::Duration::from_secs(amount.checked_mul(60)?),
        "S" => std::time::Duration::from_secs(amount),
        "m" => std::time::Duration::from_millis(amount),
        "u" => std::time::Duration::from_micros(amount),
        "n" => std::time::Duration::from_nanos(amount),
        _ => return None,
    };
    tokio::time::Instant::now().checked_add(timeout)
}

/// A response stream that ends at the caller's deadline with
/// `DEADLINE_EXCEEDED`, after the items already waiting (at most
/// `STREAM_IN_FLIGHT_MAX` of them): results the server has are sent, not
/// dropped. Dropping the inner stream then lets its producer stop and give
/// its stream slot back.
pub(crate) struct UntilDeadline<S> {
    inner: S,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Items sent since the deadline passed.
    drained: Option<usize>,
    ended: bool,
}

impl<S> UntilDeadline<S> {
    pub(crate) fn new(inner: S, deadline: Option<tokio::time::Instant>) -> Self {
        Self { inner, deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))), drained: None, ended: false }
    }
}

impl<T, S: Stream<Item = Result<T, Status>> + Unpin> Stream for UntilDeadline<S> {
    type Item = Result<T, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        if self.drained.is_none()
            && let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(context).is_ready()
        {
            self.drained = Some(0);
        }
        if let Some(drained) = self.drained {
            if drained < STREAM_IN_FLIGHT_MAX
                && let std::task::Poll::Ready(Some(item)) = Pin::new(&mut self.inner).poll_next(context)
            {
                self.drained = Some(drained + 1);
                return std::task::Poll::Ready(Some(item));
            }
            self.ended = true;
            return std::task::Poll::Ready(Some(Err(Status::deadline_exceeded(
                "the call's deadline (grpc-timeout) passed; resubmit what was not answered, or call again to continue",
            ))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(context);
        if matches!(polled, std::task::Poll::Ready(None)) {
            self.ended = true;
        }
        polled
    }
}

/// What `PaymentService` accepts: payments, and redemptions by a merchant's
/// bank.
const PAYMENT_KINDS: &[TxKind] = &[TxKind::Transfer, TxKind::Redeem];

pub(crate) type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl proto::payment_service_server::PaymentService for Api {
    async fn submit_payment(
        &self,
        request: Request<proto::SubmitPaymentRequest>,
    ) -> Result<Response<proto::SubmitPaymentResponse>, Status> {
        let principal = self.authorize(&request, &[Need::Terminal, Need::Bank])?;
        let request = request.into_inner();
        match self.submit(&principal, request.transaction.as_ref(), PAYMENT_KINDS).await {
            Ok((_, outcome)) => Ok(Response::new(proto::SubmitPaymentResponse {
                receipt: Some(receipt_to_proto(&outcome.receipt)),
                duplicate: outcome.duplicate,
            })),
            Err((_, refusal)) => Err(refusal_to_status(&refusal)),
        }
    }

    type SubmitPaymentsStream = ResponseStream<proto::SubmitPaymentsResponse>;

    async fn submit_payments(
        &self,
        request: Request<Streaming<proto::SubmitPaymentsRequest>>,
    ) -> Result<Response<Self::SubmitPaymentsStream>, Status> {
        let principal = self.authorize(&request, &[Need::Terminal, Need::Bank])?;
        let slot =
            self.open_stream(format!("payment streams of {principal:?}"), PAYMENT_STREAMS_PER_PARTICIPANT_MAX)?;
        let deadline = deadline_of(&request);
        let mut inbound = request.into_inner();
        let stall = self.stream_stall;
        let stalled = Arc::new(tokio::sync::Notify::new());
        // Each in-flight item holds a permit; at the limit the stream stops
        // reading, which pushes back through HTTP/2 flow control.
        let permits = Arc::new(Semaphore::new(STREAM_IN_FLIGHT_MAX));
        let (out, results) = mpsc::channel(STREAM_IN_FLIGHT_MAX);
        let opened = std::time::Instant::now();
        let last_read_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let results =
            ReadTracking { inner: ReceiverStream::new(results), opened, last_read_ms: Arc::clone(&last_read_ms) };
        let api = self.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let metrics = Arc::clone(api.engine.metrics());
            let _open = crate::metrics::GaugeGuard::new(&metrics.payment_streams);
            // One timer per stream, not one per payment: it looks every
            // `stall` whether results sit unread.
            let mut stall_check = tokio::time::interval_at(tokio::time::Instant::now() + stall, stall);
            stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                if *stopping.borrow() {
                    break;
                }
                let item = tokio::select! {
                    item = inbound.next() => item,
                    () = out.closed() => break,
                    _ = stopping.changed() => break,
                    // A client that stopped reading: end the stream, free it.
                    () = stalled.notified() => break,
                    _ = stall_check.tick() => {
                        let unread = out.capacity() < out.max_capacity();
                        let read_ms = last_read_ms.load(std::sync::atomic::Ordering::Relaxed);
                        let idle = opened.elapsed().saturating_sub(std::time::Duration::from_millis(read_ms));
                        if unread && idle >= stall {
                            break;
                        }
                        continue;
                    }
                };
                match item {
                    None => break,
                    Some(Err(status)) => {
                        // An undecodable or oversized item ends the stream
                        // (the framing is lost). The error is the stream's
                        // last message, so every payment already admitted
                        // is answered first.
                        drop(permit);
                        let in_flight_max = u32::try_from(STREAM_IN_FLIGHT_MAX).expect("limit fits u32");
                        let _ = permits.acquire_many(in_flight_max).await;
                        let status = if status.code() == Code::OutOfRange {
                            Status::resource_exhausted(status.message())
                        } else {
                            status
                        };
                        let _ = out.send(Err(status)).await;
                        break;
                    }
                    Some(Ok(item)) => {
                        let api = api.clone();
                        let out = out.clone();
                        let principal = principal.clone();
                        let stalled = Arc::clone(&stalled);
                        tokio::spawn(async move {
                            let response = match api.submit(&principal, item.transaction.as_ref(), PAYMENT_KINDS).await
                            {
                                Ok((txid, outcome)) => proto::SubmitPaymentsResponse {
                                    client_id: item.client_id,
                                    txid: txid.0.to_vec(),
                                    result: Some(proto::submit_payments_response::Result::Receipt(receipt_to_proto(
                                        &outcome.receipt,
                                    ))),
                                    duplicate: outcome.duplicate,
                                },
                                Err((txid, refusal)) => proto::SubmitPaymentsResponse {
                                    client_id: item.client_id,
                                    txid: txid.map(|t| t.0.to_vec()).unwrap_or_default(),
                                    result: Some(proto::submit_payments_response::Result::Refusal(refusal_to_proto(
                                        &refusal,
                                    ))),
                                    duplicate: false,
                                },
                            };
                            if out.send_timeout(Ok(response), stall).await.is_err() {
                                stalled.notify_one();
                            }
                            drop(permit);
                        });
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(UntilDeadline::new(results, deadline))))
    }

    async fn get_payment(
        &self,
        request: Request<proto::GetPaymentRequest>,
    ) -> Result<Response<proto::GetPaymentResponse>, Status> {
        let principal = self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Bank, Need::Terminal])?;
        let txid = txid_arg(&request.into_inner().txid)?;
        let store = self.engine.store();
        let Some(receipt) = store.receipt(&txid).map_err(|e| storage_status(&e))? else {
            return Ok(Response::new(proto::GetPaymentResponse {
                status: proto::PaymentStatus::Unknown as i32,
                receipt: None,
                transaction: None,
            }));
        };
        let tx = store.transaction(&txid).map_err(|e| storage_status(&e))?;
        // A bank or terminal sees only payments that pay or debit one of its
        // customers.
        if matches!(principal, Principal::Bank(_) | Principal::Terminal(_)) {
            let mut parties: Vec<Address> = tx.iter().flat_map(|tx| tx.outputs.iter().map(|o| o.owner)).collect();
            for input in tx.iter().flat_map(|tx| tx.inputs.iter()) {
                let parent = store.transaction(&input.txid).map_err(|e| storage_status(&e))?;
                if let Some(spent) = parent.as_ref().and_then(|p| p.outputs.get(input.index as usize)) {
                    parties.push(spent.owner);
                }
            }
            let registry = self.engine.registry();
            let concerns = parties.iter().any(|owner| auth::may_read(&principal, owner, &registry));
            if !concerns {
                return Err(Status::permission_denied(format!(
                    "payment {txid} does not concern {principal:?}'s customers"
                )));
            }
        }
        Ok(Response::new(proto::GetPaymentResponse {
            status: proto::PaymentStatus::Confirmed as i32,
            receipt: Some(receipt_to_proto(&receipt)),
            transaction: tx.as_ref().map(transaction_to_proto),
        }))
    }
}

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

#[tonic::async_trait]
impl proto::ledger_service_server::LedgerService for Api {
    async fn get_info(
        &self,
        request: Request<proto::GetInfoRequest>,
    ) -> Result<Response<proto::GetInfoResponse>, Status> {
        let genesis = self.engine.genesis();
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Bank, Need::Terminal])?;
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
        self.authorize(&request, &[Need::Operator, Need::Issuer])?;
        let engine = Arc::clone(&self.engine);
        let report = blocking(move || crate::store::audit::audit(engine.store())).await?;
        Ok(Response::new(audit_report_to_proto(report)))
    }

    async fn get_block(
        &self,
        request: Request<proto::GetBlockRequest>,
    ) -> Result<Response<proto::GetBlockResponse>, Status> {
        self.authorize(&request, &[Need::Operator, Need::Issuer, Need::Bank, Need::Terminal])?;
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

#[cfg(test)]
mod deadline_tests {
    use super::*;

    fn timeout<T>(value: &str) -> Request<T>
    where
        T: Default,
    {
        let mut request = Request::new(T::default());
        request.metadata_mut().insert("grpc-timeout", value.parse().expect("ascii"));
        request
    }

    #[tokio::test]
    async fn grpc_timeout_follows_the_wire_format() {
        // The deadline is taken from "now" inside the call: it lies between
        // the instants before and after it.
        let within = |value: &str, expected: std::time::Duration| {
            let before = tokio::time::Instant::now();
            let at = deadline_of(&timeout::<()>(value)).expect("a deadline");
            assert!(at >= before + expected && at <= tokio::time::Instant::now() + expected, "{value}");
        };
        within("3S", std::time::Duration::from_secs(3));
        within("250m", std::time::Duration::from_millis(250));
        within("2M", std::time::Duration::from_secs(120));
        within("1H", std::time::Duration::from_secs(3_600));
        within("7u", std::time::Duration::from_micros(7));
        within("9n", std::time::Duration::from_nanos(9));
        let after = |value: &str| deadline_of(&timeout::<()>(value));
        for bad in ["", "S", "12", "1x", "123456789S", "-1S"] {
            assert_eq!(after(bad), None, "{bad:?} is not a grpc-timeout");
        }
        assert!(deadline_of(&Request::new(())).is_none(), "no header, no deadline");
    }

    #[tokio::test]
    async fn a_stream_past_its_deadline_sends_what_is_waiting_then_deadline_exceeded() {
        let (out, items) = mpsc::channel::<Result<u32, Status>>(8);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(100);
        let mut stream = UntilDeadline::new(ReceiverStream::new(items), Some(deadline));
        out.send(Ok(1)).await.expect("open");
        assert_eq!(stream.next().await.expect("an item").expect("ok"), 1, "before the deadline");
        tokio::time::sleep_until(deadline + std::time::Duration::from_millis(10)).await;
        out.send(Ok(2)).await.expect("open");
        out.send(Ok(3)).await.expect("open");
        assert_eq!(stream.next().await.expect("an item").expect("ok"), 2, "waiting at the deadline: sent");
        assert_eq!(stream.next().await.expect("an item").expect("ok"), 3);
        let status = stream.next().await.expect("the end").expect_err("deadline exceeded");
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(stream.next().await.is_none(), "nothing after the end");
        out.send(Ok(4)).await.expect("the producer is not told yet; the stream is dropped next");
    }
}
