//! The public API over a real server on loopback: payments, refusals, bad
//! input, wallets and limits, authentication, deadlines, overload, shutdown,
//! metrics, receipts across restarts.
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

#[path = "../common/mod.rs"]
mod common;

mod auditor;
mod auth;
mod bad_input;
mod console;
mod credentials;
mod deadlines;
mod lifecycle;
mod metrics;
mod overload;
mod payments;
mod receipts_and_restart;
mod refusals;
mod shutdown;
mod signatures;
mod smoke;
mod wallet_and_limits;
mod watch_ledger;
