//! Operating banks: reconciliation streams, statements, net positions,
//! redemption and its refusals, the bank commands of the CLI.
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

#[path = "../common/mod.rs"]
mod common;

mod bank_cli;
mod reconciliation;
mod redemption;
mod statement_schema;
