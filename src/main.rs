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
    /// Bearer token for client commands (or SETTLED_TOKEN; or
    /// --token-file). A development server writes one to <data-dir>/dev.token.
    #[arg(long, env = "SETTLED_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token.
    #[arg(long, global = true, conflicts_with = "token")]
    token_file: Option<PathBuf>,
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
    /// Welfare programmes: create, statistics, clawback after expiry.
    Programme {
        #[command(subcommand)]
        command: ProgrammeCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Register banks, merchants and wallets.
    Register {
        #[command(subcommand)]
        command: RegisterCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Check the whole chain from genesis (hashes, signatures, Merkle roots,
    /// sequences, supply); exits non-zero on any failure.
    Audit {
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
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

#[derive(Subcommand)]
enum ProgrammeCommand {
    /// Create an earmarked programme.
    Create {
        #[arg(long)]
        id: u32,
        #[arg(long)]
        name: String,
        /// Allowed merchant category (repeat for several), e.g. --mcc 5411 --mcc 5499.
        #[arg(long = "mcc", required = true)]
        mccs: Vec<u32>,
        /// Start, unix milliseconds or `now`.
        #[arg(long, default_value = "now")]
        valid_from: String,
        /// End (exclusive), unix milliseconds, or `now+<seconds>`.
        #[arg(long)]
        valid_until: String,
        /// Treasury address (x-only public key, hex) for clawback.
        #[arg(long)]
        treasury: String,
        /// Beneficiaries may pay each other.
        #[arg(long)]
        transferable: bool,
        /// Largest amount one payment may move (decimal, currency units).
        #[arg(long)]
        per_payment_max: Option<String>,
    },
    /// Disbursed, spent by merchant category, clawed back, outstanding.
    Stats {
        #[arg(long)]
        id: u32,
    },
    /// After the programme's end: move the leftovers to its treasury.
    Clawback {
        #[arg(long)]
        id: u32,
        /// Issuer secret key files; give at least the issuer threshold.
        #[arg(long = "issuer-key-file", required = true)]
        issuer_key_files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RegisterCommand {
    Bank {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// The bank's bearer token (only its SHA-256 is sent), repeatable.
        #[arg(long = "credential-token")]
        tokens: Vec<String>,
        /// SHA-256 (hex) of a credential: a token or a client certificate's DER.
        #[arg(long = "credential-sha256")]
        hashes: Vec<String>,
    },
    Terminal {
        #[arg(long)]
        id: String,
        #[arg(long)]
        merchant: String,
        /// The terminal's bearer token (only its SHA-256 is sent), repeatable.
        #[arg(long = "credential-token")]
        tokens: Vec<String>,
        /// SHA-256 (hex) of a credential: a token or a client certificate's DER.
        #[arg(long = "credential-sha256")]
        hashes: Vec<String>,
    },
    Merchant {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// ISO 18245 merchant category code.
        #[arg(long)]
        mcc: u32,
        #[arg(long)]
        bank: String,
        /// Payout address (repeat for several).
        #[arg(long = "payout", required = true)]
        payouts: Vec<String>,
    },
    Wallet {
        #[arg(long)]
        address: String,
        #[arg(long)]
        bank: String,
        #[arg(long)]
        tier: u32,
    },
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
    let token = match (cli.token, cli.token_file) {
        (Some(token), _) => token,
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().to_owned(),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        (None, None) => String::new(),
    };
    match runtime.block_on(run(cli.command, &token)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(server: &str, token: &str) -> Result<Client, String> {
    let client =
        if token.is_empty() { Client::connect(server).await } else { Client::connect_with_token(server, token).await };
    client.map_err(|e| format!("{server}: {e}"))
}

async fn run(command: Command, token: &str) -> Result<(), String> {
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
        Command::Receipt { command } => receipt(command, token).await,
        Command::Disburse(args) => disburse(args, token).await,
        Command::Audit { server } => {
            let mut client = connect(&server, token).await?;
            let report = client.ledger.audit(proto::AuditRequest {}).await.map_err(|s| status_text(&s))?.into_inner();
            println!(
                "audited {} blocks, {} transactions; minted {} - burned {} = unspent {} in {} outputs",
                report.blocks,
                report.transactions,
                report.minted_minor,
                report.burned_minor,
                report.unspent_minor,
                report.unspent_count
            );
            for failure in &report.failures {
                println!("FAILED: {failure}");
            }
            if report.failures.is_empty() { Ok(()) } else { Err(format!("{} audit failures", report.failures.len())) }
        }
        Command::Programme { command, server } => programme(command, &server, token).await,
        Command::Register { command, server } => register(command, &server, token).await,
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

fn status_text(status: &tonic::Status) -> String {
    match client::status_reason(status) {
        Some(reason) => format!("{:?} {}: {}", status.code(), reason.as_str_name(), status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

fn read_keys(files: &[PathBuf]) -> Result<Vec<Keypair>, String> {
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Keypair::from_secret_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

fn unix_ms(text: &str) -> Result<u64, String> {
    let now = settled::Clock::default().now_unix_ms();
    match text.strip_prefix("now") {
        Some("") => Ok(now),
        Some(rest) => {
            let seconds: u64 = rest.strip_prefix('+').and_then(|s| s.parse().ok()).ok_or(format!("bad time {text}"))?;
            Ok(now.saturating_add(seconds.saturating_mul(1000)))
        }
        None => text.parse().map_err(|_| format!("bad time {text}: unix milliseconds, now, or now+<seconds>")),
    }
}

fn hex_address(text: &str) -> Result<Vec<u8>, String> {
    Ok(Address::from_hex(text).map_err(|e| format!("address {text}: {e}"))?.0.to_vec())
}

async fn programme(command: ProgrammeCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    match command {
        ProgrammeCommand::Create {
            id,
            name,
            mccs,
            valid_from,
            valid_until,
            treasury,
            transferable,
            per_payment_max,
        } => {
            let info = client.info(false).await.map_err(|s| status_text(&s))?;
            let per_payment_max_minor = match per_payment_max {
                Some(text) => settled::parse_amount(&text, info.currency_exponent).map_err(|e| e.to_string())?,
                None => 0,
            };
            let programme = proto::Programme {
                id,
                name,
                allowed_mccs: mccs,
                valid_from_unix_ms: unix_ms(&valid_from)?,
                valid_until_unix_ms: unix_ms(&valid_until)?,
                transferable,
                treasury_address: hex_address(&treasury)?,
                per_payment_max_minor,
            };
            let response = client
                .admin
                .create_programme(proto::CreateProgrammeRequest { programme: Some(programme) })
                .await
                .map_err(|s| status_text(&s))?;
            println!("programme {id} created in block {}", response.into_inner().height);
        }
        ProgrammeCommand::Stats { id } => {
            let info = client.info(false).await.map_err(|s| status_text(&s))?;
            let stats = client
                .admin
                .get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: id })
                .await
                .map_err(|s| status_text(&s))?
                .into_inner();
            let amount = |minor| settled::format_amount(minor, info.currency_exponent);
            let name = stats.programme.map(|p| p.name).unwrap_or_default();
            println!("programme {id} ({name}) at block {}", stats.height);
            println!("  disbursed   {}", amount(stats.disbursed_minor));
            for spent in &stats.spent_by_mcc {
                println!("  spent at MCC {:04}  {}", spent.mcc, amount(spent.amount_minor));
            }
            println!("  clawed back {}", amount(stats.clawed_back_minor));
            println!("  outstanding {}", amount(stats.outstanding_minor));
        }
        ProgrammeCommand::Clawback { id, issuer_key_files } => {
            let issuers = read_keys(&issuer_key_files)?;
            let signers: Vec<&Keypair> = issuers.iter().collect();
            let authorization = client::clawback_authorization(id, &signers);
            let mut resume_after = Vec::new();
            loop {
                let request = proto::ClawbackRequest {
                    programme_id: id,
                    authorization: authorization.clone(),
                    resume_after: std::mem::take(&mut resume_after),
                };
                let response = client.admin.clawback(request).await.map_err(|s| status_text(&s))?.into_inner();
                println!(
                    "clawed back {} outputs ({} minor units) in {} batches; programme total {}",
                    response.outputs_moved, response.amount_minor, response.batches, response.clawed_back_total_minor
                );
                if !response.more {
                    break;
                }
                resume_after = response.resume_after;
            }
        }
    }
    Ok(())
}

/// Credential hashes from tokens (hashed here) and from given hashes.
fn credential_hashes(tokens: &[String], hashes: &[String]) -> Result<Vec<Vec<u8>>, String> {
    let mut all: Vec<Vec<u8>> = tokens.iter().map(|t| settled::sha256(t.as_bytes()).to_vec()).collect();
    for text in hashes {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut hash).map_err(|e| format!("credential hash {text}: {e}"))?;
        all.push(hash.to_vec());
    }
    Ok(all)
}

async fn register(command: RegisterCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let response = match command {
        RegisterCommand::Bank { id, name, tokens, hashes } => {
            let credential_sha256 = credential_hashes(&tokens, &hashes)?;
            let bank = proto::Bank { id, name, credential_sha256 };
            client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await
        }
        RegisterCommand::Terminal { id, merchant, tokens, hashes } => {
            let credential_sha256 = credential_hashes(&tokens, &hashes)?;
            let terminal = proto::Terminal { id, merchant_id: merchant, credential_sha256 };
            client.admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) }).await
        }
        RegisterCommand::Merchant { id, name, mcc, bank, payouts } => {
            let payout_addresses = payouts.iter().map(|p| hex_address(p)).collect::<Result<Vec<_>, _>>()?;
            let merchant = proto::Merchant { id, name, mcc, bank_id: bank, payout_addresses };
            client.admin.register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) }).await
        }
        RegisterCommand::Wallet { address, bank, tier } => {
            let wallet = proto::Wallet { address: hex_address(&address)?, bank_id: bank, tier };
            client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await
        }
    };
    let height = response.map_err(|s| status_text(&s))?.into_inner().height;
    println!("registered in block {height}");
    Ok(())
}

async fn disburse(args: DisburseArgs, token: &str) -> Result<(), String> {
    let issuers = read_keys(&args.issuer_key_files)?;
    let mut client = connect(&args.server, token).await?;
    let info = client.info(false).await.map_err(|s| status_text(&s))?;
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
        settled::disburse::disburse(&args.server, token, args.programme, rows, &issuers, std::io::stderr()).await?;
    summary.bad_lines = bad.len() as u64;
    print!("{}", settled::disburse::render_summary(&summary, &bad, info.currency_exponent, started.elapsed()));
    if summary.unconfirmed > 0 {
        return Err(format!(
            "{} rows have no confirmed outcome (server unavailable or connection lost); run the same file again: \
             rows already paid are not paid twice",
            summary.unconfirmed
        ));
    }
    Ok(())
}

async fn receipt(command: ReceiptCommand, token: &str) -> Result<(), String> {
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
            let mut client = connect(&server, token).await?;
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
