//! The protocol without a server: properties of the core, the published test
//! vectors, signatures bound to one ledger.
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

mod batch_verification;
mod chain_binding;
mod layering;
mod properties;
mod protocol_vectors;
