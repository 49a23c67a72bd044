//! Welfare programmes: earmarked money, tiers, expiry and clawback, bulk
//! disbursement.
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod clawback;
mod disburse;
mod merchant_figures;
mod people;
mod recovery;
mod refunds;
mod welfare;
