//! Cluster mode: the Raft stores, the Raft port, three replicas in one
//! process and as processes.
//!
//! One test binary per area (ARCHITECTURE.md, `tests/`): each module is one
//! concern; `tests/common` is the shared support (a real server on
//! loopback, a cluster of replicas).

#[path = "../common/mod.rs"]
mod common;

mod cluster_engine;
mod cluster_processes;
mod raft_cluster;
mod raft_port;
mod raft_storage;
