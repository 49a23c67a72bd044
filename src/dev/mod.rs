//! Development tools, built with the `dev` feature (off by default, on for
//! the tests, the simulations and `cargo run --features dev`): what runs
//! around a server rather than in it. The demo (`settled demo`, its two
//! banks, the cluster demo), the launcher of a local cluster of processes,
//! the simulated disk of the simulations and power-loss tests, and the
//! generator of the published test vectors.

pub mod demo;
pub mod demo_banks;
pub mod demo_cluster;
pub(crate) mod demo_people;
pub mod local_cluster;
pub mod sim_disk;
pub mod vectors;

pub use crate::engine::{
    AdminReply, OpenBlock, Replayed, Sequencing, SequencingContext, WriterJob, answer_durable, answer_unavailable,
};
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

/// Where [`free_port`] hands out ports: below Linux's ephemeral range
/// (32768-60999), where no `bind(0)` listener and no outgoing connection
/// lands, so a port chosen for a server started a moment later cannot be
/// taken in between by another test of the same process.
pub const FREE_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback address free now for a server to bind a moment later (a
/// replica, a spawned `settled serve`): from [`FREE_PORTS`], each port
/// handed out once per process (processes started together begin at
/// different places, by pid), and bindable when handed out.
///
/// # Panics
/// When no port of the range can be bound.
#[must_use]
pub fn free_port() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let count = u32::from(FREE_PORTS.end - FREE_PORTS.start);
    let _ = NEXT.compare_exchange(u32::MAX, std::process::id() % count, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..count {
        let offset = u16::try_from(NEXT.fetch_add(1, Ordering::SeqCst) % count).expect("within the range");
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], FREE_PORTS.start + offset));
        if std::net::TcpListener::bind(address).is_ok() {
            return address;
        }
    }
    panic!("no free loopback port in {FREE_PORTS:?}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_handed_out_once_below_the_ephemeral_range() {
        let ports: Vec<_> = (0..64).map(|_| super::free_port()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "no port twice");
        for port in &ports {
            assert!(super::FREE_PORTS.contains(&port.port()), "{port}");
            std::net::TcpListener::bind(port).expect("free when handed out");
        }
    }
}
