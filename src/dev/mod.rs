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
