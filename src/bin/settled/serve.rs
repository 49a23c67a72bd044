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
    if let Some(address) = args.console_listen {
        config.console_listen = Some(address);
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
        let pinned = Address::from_hex(pinned).map_err(|e| crate::hex32_error("--engine-key", pinned, &e))?;
        if pinned != store.engine_key() {
            return Err(format!("the file's engine key {} is not the pinned {pinned}", store.engine_key()));
        }
    }
    if let Some(pinned) = chain_id {
        let pinned = settled::ChainId::from_hex(pinned).map_err(|e| crate::hex32_error("--chain-id", pinned, &e))?;
        if pinned != store.chain_id() {
            return Err(format!("the file's chain {} is not the pinned {pinned}", store.chain_id()));
        }
    }
    settled::audit(&store).map(client::audit_report_to_proto).map_err(|e| e.to_string())
}

/// Audits a ledger file on its own (no server): every block from genesis;
/// its tip height and chain.
fn audit_file(file: &Path) -> Result<(u64, settled::ChainId), String> {
    let store = settled::Store::open_for_audit(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let report = settled::audit(&store).map_err(|e| format!("{}: {e}", file.display()))?;
    if !report.failures.is_empty() {
        return Err(format!("{}: the audit failed: {:?}", file.display(), report.failures));
    }
    Ok((report.blocks.saturating_sub(1), store.chain_id()))
}

/// `settled backup`: streams the server's backup to `<out>.partial`,
/// syncs it, audits it, then names it `out`.
pub(crate) async fn backup(out: &Path, server: &str, token: &str) -> Result<(), String> {
    use std::io::Write as _;
    if out.exists() {
        return Err(format!("{} exists: give a new file", out.display()));
    }
    let mut client = crate::connect(server, token).await?;
    let mut chunks =
        client.admin.backup(proto::BackupRequest {}).await.map_err(|s| crate::status_text(&s))?.into_inner();
    let partial = std::path::PathBuf::from(format!("{}.partial", out.display()));
    let mut file = std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let (mut height, mut bytes) = (0, 0u64);
    let streamed: Result<(), String> = async {
        while let Some(chunk) = chunks.message().await.map_err(|s| crate::status_text(&s))? {
            file.write_all(&chunk.data).map_err(|e| format!("{}: {e}", partial.display()))?;
            height = chunk.height;
            bytes += chunk.data.len() as u64;
        }
        file.sync_all().map_err(|e| format!("{}: {e}", partial.display()))
    }
    .await;
    drop(file);
    if let Err(error) = streamed {
        let _ = std::fs::remove_file(&partial);
        return Err(format!("the backup is incomplete: {error}"));
    }
    let (tip, chain) = audit_file(&partial)?;
    if tip != height {
        return Err(format!("the backup holds block {tip}, the server said {height}"));
    }
    std::fs::rename(&partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
    crate::output::emit(
        &serde_json::json!({"chain_id": chain.to_string(), "height": height, "bytes": bytes, "file": out}),
        &format!("backup of chain {chain} at block {height}: {bytes} bytes in {}, audited clean", out.display()),
    );
    Ok(())
}

/// `settled restore`: audits the backup, then copies it into place as the
/// ledger of an empty data directory (through a partial file, synced,
/// renamed, the directory synced).
pub(crate) fn restore(from: &Path, data_dir: &Path) -> Result<(), String> {
    let ledger = data_dir.join("ledger.redb");
    if ledger.exists() {
        return Err(format!(
            "{} already holds a ledger: restore into an empty data directory (nothing was changed)",
            data_dir.display()
        ));
    }
    let (tip, chain) = audit_file(from)?;
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let partial = data_dir.join("ledger.redb.partial");
    std::fs::copy(from, &partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, &ledger).map_err(|e| format!("{}: {e}", ledger.display()))?;
    std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    crate::output::emit(
        &serde_json::json!({"chain_id": chain.to_string(), "height": tip, "data_dir": data_dir}),
        &format!(
            "restored chain {chain} at block {tip} into {}; start the server there with the same engine key and \
             genesis",
            data_dir.display()
        ),
    );
    Ok(())
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
