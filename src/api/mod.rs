//! The gRPC edge: decodes requests into domain types, calls the engine or the
//! store, and encodes answers. Protocol types stop here. The services are
//! one module each (`payments`, `wallets`, `ledger`, `admin`,
//! `reconciliation`, `membership`) on the one `Api` they share; `convert`
//! holds every proto <-> domain conversion, `streams` the plumbing of
//! response streams (limits per owner, unread results, deadlines).

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod checks;
mod convert;
mod ledger;
pub mod membership;
mod payments;
pub mod reconciliation;
pub mod statement;
mod streams;
mod wallets;

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
use crate::core::limits::{OVERLOAD_RETRY_AFTER_MS, PAYMENT_STREAMS_PER_PARTICIPANT_MAX, STREAM_IN_FLIGHT_MAX};
use crate::core::merkle::MerkleStep;
use crate::core::receipt::{Receipt, SignedHeader};
use crate::core::refusal::{Class, Field, Reason, Refusal};
use crate::core::registry::Actor;
use crate::core::types::{Address, OutPoint, Output, Transaction, TxId, TxKind, Witness};
use crate::engine::{Engine, Outcome, Submitter};
use crate::proto;
use crate::store::StoreError;

/// The domain that names our `google.rpc.ErrorInfo` reasons.
pub const ERROR_DOMAIN: &str = "settled.v1";

use checks::{address_arg, txid_arg};
pub use convert::*;
use streams::ReadTracking;
pub(crate) use streams::{ResponseStream, StreamSlot, UntilDeadline, deadline_of};

/// Runs a storage read that may scan many rows off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    match tokio::task::spawn_blocking(read).await {
        Ok(result) => result.map_err(|e| storage_status(&e)),
        Err(_) => Err(Status::internal("storage read task failed")),
    }
}

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
    /// The number of the last integrity alert stored, as the detector
    /// raises them (0: none, or no detector).
    pub alerts: tokio::sync::watch::Receiver<u64>,
    /// Where `Backup` writes the copy it streams (the data directory: the
    /// copy is as large as the ledger).
    pub backup_dir: std::path::PathBuf,
}

impl Api {
    /// The caller, if it holds one of `needs` (see `auth`).
    pub(crate) fn authorize<T>(&self, request: &Request<T>, needs: &[Need]) -> Result<Principal, Status> {
        auth::authorize(request, &self.credentials, &self.engine.registry(), needs)
    }

    /// The caller of a registry change, if it holds one of `needs`: its
    /// role and the SHA-256 of its credential, which the chain records.
    pub(crate) fn actor<T>(&self, request: &Request<T>, needs: &[Need]) -> Result<Actor, Status> {
        let principal = self.authorize(request, needs)?;
        let (credential, _) = auth::presented_credential(request)?;
        Ok(Actor { principal, credential })
    }

    /// `stream`, ended `UNAUTHENTICATED` once the registered credential
    /// `request` authenticated `principal` with is revoked.
    pub(crate) fn until_revoked<T, S>(
        &self,
        request: &Request<T>,
        principal: &Principal,
        stream: S,
    ) -> streams::UntilRevoked<S> {
        let revocable = matches!(principal, Principal::Bank(_) | Principal::Terminal(_));
        match auth::presented_credential(request) {
            Ok((hash, _)) if revocable => {
                let (engine, principal) = (Arc::clone(&self.engine), principal.clone());
                streams::UntilRevoked::new(stream, Some(self.engine.credential_changes()), move || {
                    auth::still_authenticates(&hash, &principal, &engine.registry())
                })
            }
            _ => streams::UntilRevoked::new(stream, None, || true),
        }
    }

    /// Counts a stream against `key`'s limit of `max`.
    pub(crate) fn open_stream(&self, key: String, max: usize) -> Result<StreamSlot, Status> {
        let mut open = self.open_streams.lock().expect("not poisoned");
        let count = open.entry(key.clone()).or_default();
        if *count >= max {
            let refusal = Refusal::new(
                Reason::TooManyStreams,
                format!("{key} already has {max} streams open, the most allowed: end one first"),
            );
            return Err(refusal_to_status(&refusal));
        }
        *count += 1;
        Ok(StreamSlot { open_streams: Arc::clone(&self.open_streams), key })
    }

    /// The caller, who must be allowed to read what concerns `address`.
    fn authorize_read<T>(&self, request: &Request<T>, address: &[u8]) -> Result<Address, Status> {
        let principal = self.authorize(request, &[Need::Operator, Need::Auditor, Need::Bank, Need::Terminal])?;
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
        let (txid, tx) = checks::submission(tx, allowed)?;
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
            Principal::ProgrammeAdministrator | Principal::Auditor => {
                return Err((
                    txid,
                    Refusal::new(Reason::PermissionDenied, format!("{principal:?} submits nothing: it only reads")),
                ));
            }
        };
        let outcome = self.engine.submit_for(tx, submitter).await.map_err(|r| (txid, r))?;
        Ok((outcome.receipt.txid, outcome))
    }
}
