//! Development tools, built with the `dev` feature (off by default, on for
//! the tests, the simulations and `cargo run --features dev`): what runs
//! around a server rather than in it. The demo (`settled demo`, its two
//! banks, the cluster demo), the launcher of a local cluster of processes,
//! the simulated disk of the simulations and power-loss tests, and the
//! generator of the published test vectors.

pub mod demo;
pub mod demo_banks;
pub mod demo_cluster;
pub mod local_cluster;
pub mod sim_disk;
pub mod vectors;

pub use sim_disk::{DiskFault, PowerSupply, SECTOR_BYTES, SIM_DISK_BYTES_MAX, SimBackend, SimDisk};

/// What stops the demo: its setup failed, or one of its checks did.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo setup: {0}")]
    Setup(String),
    #[error("demo check failed: {0}")]
    Check(String),
}

/// The demo's setup failing at `context`.
pub(crate) fn setup<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> DemoError {
    move |e| DemoError::Setup(format!("{context}: {e}"))
}
