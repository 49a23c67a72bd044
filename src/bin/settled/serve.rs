//! `settled serve` (until a signal, or until the Raft core stops) and the
//! offline audit of a stopped server's file.

use std::net::SocketAddr;
use std::path::Path;

use settled::client::{self};
use settled::{Address, Config, Server, proto};

use crate::cli::*;

pub(crate) async fn serve(args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None => {
            let data_dir = args.data_dir.clone().ok_or("serve needs --data-dir, SETTLED_DATA_DIR or --config")?;
            let mut config = Config::for_data_dir(data_dir);
            config.listen = SocketAddr::from(([127, 0, 0, 1], 50051));
            config.development = false;
            config
        }
    };
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(threads) = args.verify_threads {
        config.verify_threads = threads;
    }
    if let Some(file) = args.engine_key_file {
        config.engine_key_file = Some(file);
    }
    if let Some(address) = args.metrics_listen {
        config.metrics_listen = Some(address);
    }
    if args.no_integrity_detector {
        config.integrity.enabled = false;
    }
    if args.dev {
        config.development = true;
    }
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    // Before saying where it serves: whoever reads that may signal at once.
    let stop = shutdown_signal();
    println!("settled serving on {} (engine key {})", server.local_addr(), server.engine().engine_key());
    if let Some(metrics) = server.metrics_addr() {
        println!("metrics on http://{metrics}/metrics");
    }
    // A replica whose Raft core died can take no further part in the
    // cluster: it exits non-zero, for its supervisor to restart it.
    let fatal = async {
        match server.fatal() {
            Some(mut fatal) => match fatal.wait_for(Option::is_some).await {
                Ok(why) => why.clone().unwrap_or_default(),
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    };
    let fatal = tokio::select! {
        () = stop => None,
        why = fatal => Some(why),
    };
    tracing::info!("shutting down: finishing admitted payments");
    server.shutdown().await;
    match fatal {
        None => Ok(()),
        Some(why) => Err(format!("{why}: exiting for a restart")),
    }
}

/// The audit of a stopped server's data file, against the engine key and
/// chain id pinned (if given).
pub(crate) fn audit_offline(
    data_dir: &Path,
    engine_key: Option<&str>,
    chain_id: Option<&str>,
) -> Result<proto::AuditResponse, String> {
    let file = data_dir.join("ledger.redb");
    let store = settled::Store::open_for_audit(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    println!("ledger {}: chain {}, engine key {}", file.display(), store.chain_id(), store.engine_key());
    if engine_key.is_none() || chain_id.is_none() {
        println!(
            "NOTE: without --engine-key and --chain-id the file vouches for itself: a file rewritten whole and signed \
             with another key passes; pin both (from the genesis you trust) to audit against them"
        );
    }
    if let Some(pinned) = engine_key {
        let pinned = Address::from_hex(pinned).map_err(|e| format!("--engine-key: {e}"))?;
        if pinned != store.engine_key() {
            return Err(format!("the file's engine key {} is not the pinned {pinned}", store.engine_key()));
        }
    }
    if let Some(pinned) = chain_id {
        let pinned = settled::ChainId::from_hex(pinned).map_err(|e| format!("--chain-id: {e}"))?;
        if pinned != store.chain_id() {
            return Err(format!("the file's chain {} is not the pinned {pinned}", store.chain_id()));
        }
    }
    settled::audit(&store).map(client::audit_report_to_proto).map_err(|e| e.to_string())
}

/// Installs the SIGTERM and Ctrl-C handlers now (a signal that arrives
/// from here on stops the server gracefully, not by the signal's default)
/// and returns what resolves when either comes.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
