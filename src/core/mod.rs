//! The core: the ledger's domain types, amounts, canonical encodings,
//! signatures, Merkle trees, refusals, limits, the stateless verify stage,
//! the ledger state machine, bank movements, the registry and receipts. No
//! I/O: the engine drives it, the store persists what it returns, a
//! replicated log (or a shard) could drive it unchanged. It imports nothing
//! from the store, the engine, the cluster or the api.

pub mod amount;
pub mod batch;
pub mod clock;
pub mod crypto;
pub mod encoding;
pub mod integrity;
pub mod ledger;
pub mod limits;
pub mod merkle;
pub mod movements;
pub mod period;
pub mod receipt;
pub mod refusal;
pub mod registry;
pub mod types;
pub mod verify;
