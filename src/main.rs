//! The `settled` command: serve, keygen, demo, receipt verify/get.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use settled::client::{self, Client};
use settled::demo::{self, DemoOptions};
use settled::{Address, Config, Keypair, ReceiptJson, Server, proto};

#[derive(Parser)]
#[command(name = "settled", version, about = "Settlement engine for programmable digital-currency welfare payments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on a data dir (config file, then SETTLED_* env, then flags).
    Serve(ServeArgs),
    /// Generate a BIP340 key pair (secret to a file or stdout, public key to stdout).
    Keygen {
        /// Write the secret key here (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Start a server on a temporary data dir and show the whole path of a payment.
    Demo(DemoArgs),
    /// Pay a welfare programme to beneficiaries from a CSV file
    /// (address,amount,row_id); re-running it pays nobody twice.
    Disburse(DisburseArgs),
    /// Receipts: fetch one, or verify one offline.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SETTLED_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (ledger.redb, engine.key).
    #[arg(long, env = "SETTLED_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:50051.
    #[arg(long, env = "SETTLED_LISTEN")]
    listen: Option<SocketAddr>,
    /// Verify threads (0 = one per core).
    #[arg(long, env = "SETTLED_VERIFY_THREADS")]
    verify_threads: Option<usize>,
    /// Engine signing key file (default <data-dir>/engine.key).
    #[arg(long, env = "SETTLED_ENGINE_KEY_FILE")]
    engine_key_file: Option<PathBuf>,
    /// Development mode: with no issuer keys configured, generate a 2-of-3
    /// development issuer set into the data dir. Never in production.
    #[arg(long, env = "SETTLED_DEV")]
    dev: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Wallets to fund and pay from.
    #[arg(long, default_value_t = 2000)]
    wallets: usize,
    /// Concurrent simulated terminals (half unary, half streaming).
    #[arg(long, default_value_t = 8)]
    terminals: usize,
    /// Seconds of payments before and again after the restart.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Keep the ledger here instead of a temporary directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Payments each streaming terminal keeps in flight.
    #[arg(long, default_value_t = 32)]
    stream_window: usize,
}

#[derive(Args)]
struct DisburseArgs {
    /// The earmarked programme to pay.
    #[arg(long)]
    programme: u32,
    /// Issuer secret key files; give at least the issuer threshold.
    #[arg(long = "issuer-key-file", required = true)]
    issuer_key_files: Vec<PathBuf>,
    #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// CSV file: address,amount,row_id per line.
    file: PathBuf,
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Verify a receipt JSON file offline against the engine's public key.
    Verify {
        /// Receipt JSON, as written by `settled receipt get`.
        file: PathBuf,
        /// Engine public key (64 hex digits).
        #[arg(long, conflicts_with = "engine_key_file")]
        engine_key: Option<String>,
        /// Engine secret key file (the public key is derived from it).
        #[arg(long)]
        engine_key_file: Option<PathBuf>,
    },
    /// Fetch the receipt of a txid from a server and print it as JSON.
    Get {
        txid: String,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Keygen { out } => {
            let key = Keypair::generate();
            match out {
                Some(path) => {
                    settled::write_secret_key(&path, &key).map_err(|e| format!("{}: {e}", path.display()))?;
                    println!("{}", key.address());
                }
                None => println!("secret {}\npublic {}", key.secret_hex(), key.address()),
            }
            Ok(())
        }
        Command::Demo(args) => {
            let options = DemoOptions {
                wallets: args.wallets,
                terminals: args.terminals,
                phase: Duration::from_secs(args.seconds),
                data_dir: args.data_dir,
                stream_window: args.stream_window,
            };
            demo::run(options).await.map(|_| ()).map_err(|e| e.to_string())
        }
        Command::Receipt { command } => receipt(command).await,
        Command::Disburse(args) => disburse(args).await,
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
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
    if args.dev {
        config.development = true;
    }
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    println!("settled serving on {} (engine key {})", server.local_addr(), server.engine().engine_key());
    shutdown_signal().await;
    tracing::info!("shutting down: finishing admitted payments");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn disburse(args: DisburseArgs) -> Result<(), String> {
    let issuers = args
        .issuer_key_files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Keypair::from_secret_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut client = Client::connect(&args.server).await.map_err(|e| format!("{}: {e}", args.server))?;
    let info = client
        .ledger
        .get_info(proto::GetInfoRequest { count_unspent: false })
        .await
        .map_err(|s| format!("{}: {}", s.code(), s.message()))?
        .into_inner();
    client
        .admin
        .get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: args.programme })
        .await
        .map_err(|s| format!("programme {}: {}", args.programme, s.message()))?;
    let file = std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let (rows, bad) =
        settled::disburse::parse_rows(std::io::BufReader::new(file), args.programme, info.currency_exponent)?;
    let started = std::time::Instant::now();
    let mut summary =
        settled::disburse::disburse(&args.server, args.programme, rows, &issuers, std::io::stderr()).await?;
    summary.bad_lines = bad.len() as u64;
    print!("{}", settled::disburse::render_summary(&summary, &bad, info.currency_exponent, started.elapsed()));
    Ok(())
}

async fn receipt(command: ReceiptCommand) -> Result<(), String> {
    match command {
        ReceiptCommand::Verify { file, engine_key, engine_key_file } => {
            let key = match (engine_key, engine_key_file) {
                (Some(hex), _) => Address::from_hex(&hex).map_err(|e| format!("--engine-key: {e}"))?,
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    Keypair::from_secret_hex(&text)?.address()
                }
                (None, None) => return Err("give --engine-key or --engine-key-file".to_owned()),
            };
            let receipt = demo::verify_receipt_file(&file, &key).map_err(|e| format!("receipt INVALID: {e}"))?;
            println!(
                "receipt OK: txid {} sequence {} in block {} signed by {key}",
                receipt.txid, receipt.sequence, receipt.block.header.height
            );
            Ok(())
        }
        ReceiptCommand::Get { txid, server } => {
            let txid = settled::TxId::from_hex(&txid).map_err(|e| format!("txid: {e}"))?;
            let mut client = Client::connect(&server).await.map_err(|e| format!("{server}: {e}"))?;
            let response = client
                .payments
                .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
                .await
                .map_err(|s| format!("{}: {}", s.code(), s.message()))?
                .into_inner();
            let receipt = response.receipt.ok_or_else(|| format!("payment {txid} is not confirmed"))?;
            let receipt = client::receipt_from_proto(&receipt)?;
            let json = serde_json::to_string_pretty(&ReceiptJson::from(&receipt)).map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
    }
}
