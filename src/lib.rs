//! Settled: a settlement engine for programmable digital-currency welfare
//! payments. Terminals submit payments signed by the payer's wallet over
//! gRPC; the engine verifies them on every core, orders them in a single
//! sequencer, commits them in hash-chained, engine-signed blocks to a redb
//! file (one fsync per block) and answers each with a receipt that can be
//! checked offline.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use settled::{Config, Server};
//! let config = Config::for_data_dir("/tmp/settled-example".into());
//! let server = Server::start(config).await?;
//! println!("serving on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The module map and invariants are in ARCHITECTURE.md; the wire and hash
//! formats in docs/PROTOCOL.md.

#![deny(clippy::all)]

/// `From` every redb error type into an error enum's `Redb(redb::Error)`
/// variant: the store and the cluster stores both need the whole set.
macro_rules! from_redb_errors {
    ($target:ident) => {
        from_redb_errors!(
            $target: redb::DatabaseError,
            redb::TransactionError,
            redb::TableError,
            redb::StorageError,
            redb::CommitError,
            redb::SetDurabilityError
        );
    };
    ($target:ident: $($t:ty),*) => {$(
        impl From<$t> for $target {
            fn from(e: $t) -> Self {
                Self::Redb(e.into())
            }
        }
    )*};
}

mod api;
pub mod client;
pub mod cluster;
pub mod config;
mod connections;
mod console;
mod core;
#[cfg(feature = "dev")]
pub mod dev;
mod engine;
pub mod metrics;
mod server;
mod store;

pub use crate::api::{checks, statement};
pub use crate::client::{disburse, follow};
pub use crate::core::{batch, integrity, limits, registry};
pub use crate::engine::replica;

/// Generated protobuf and gRPC code (package `settled.v1`).
pub mod proto {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("settled.v1");

    /// The encoded file descriptor set, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("settled_descriptor");
}

pub use crate::config::{Config, GenesisConfig, write_secret_key};
pub use crate::core::amount::{AmountError, format_amount, parse_amount};
pub use crate::core::clock::{Clock, iso8601, now_unix_ms, parse_iso8601};
pub use crate::core::crypto::{Keypair, is_valid_key, sha256, verify as verify_signature};
pub use crate::core::encoding::{
    BlockHeader, CLAIM_REFERENCE_BYTES, CLAWBACK_REFERENCE_BYTES, ClaimTerms, DecodeError, Genesis, claim_reference,
    claim_tag, claim_terms, clawback_authorization, clawback_reference, clawback_terms, decode_tx_record,
    recovery_authorization, recovery_reference, recovery_terms, tx_canonical_bytes, tx_record_bytes, txid,
    witness_message,
};
pub use crate::core::ledger::{Applied, Decline, Ledger, Totals};
pub use crate::core::merkle::{
    MerkleStep, index_from_path, levels as merkle_levels, path as merkle_path, root as merkle_root, root_from_path,
};
pub use crate::core::movements::{BankTotals, Movement};
pub use crate::core::period::{PaymentPeriod, month_bounds_ms, month_of};
pub use crate::core::receipt::{Receipt, ReceiptError, ReceiptJson, SignedHeader};
pub use crate::core::refusal::{Class, Reason, Refusal};
pub use crate::core::types::{
    Address, AmountMinor, ChainId, OutPoint, Output, PROTOCOL_VERSION, PersonRef, ProgrammeId, TX_VERSION, Transaction,
    TxId, TxKind, Witness,
};
pub use crate::core::verify::{KnownKeys, VerifiedTx, check_shape, verify, verify_batched, verify_with};
pub use crate::engine::{Engine, EngineConfig, Outcome, Reply, Submitter, Tip, recovered_ledger, seal_block};
/// Test rigs: what a test or a simulation injects into a server.
#[cfg(feature = "dev")]
pub use crate::server::{BackendFactory, Rigs};
pub use crate::server::{Server, ServerError};
pub use crate::store::audit::{AUDIT_FAILURES_MAX, AuditReport, audit};
#[cfg(feature = "dev")]
pub use crate::store::file_backend::StorageFaults;
pub use crate::store::file_backend::{HookedFileBackend, LedgerStorage};
pub use crate::store::{BlockRecord, Recovered, Store, StoreError};
