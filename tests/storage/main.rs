//! The data file: fail-stop on storage errors, power loss on a simulated
//! disk, the index merge, integrity checks of what is read back, the audit.
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod fail_stop;
mod index_merge;
mod integrity;
mod power_loss;
