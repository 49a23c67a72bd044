//! What an operator runs: the CLI and the demo, safe defaults of a production
//! configuration, and what `deploy/` ships (the systemd unit, the Grafana
//! dashboard).
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod cli;
mod deploy;
mod readme;
mod safe_defaults;
