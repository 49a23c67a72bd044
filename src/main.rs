//! The `settled` command: serve, keygen, demo, disburse, programmes,
//! registry, audit, receipts, and what operating banks run (follow,
//! statement, positions).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use settled::client::{self, Client};
use settled::demo::{self, DemoOptions};
use settled::follow::{self, Cursor, Event, FollowError, Follower};
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
    /// sequences, supply); exits non-zero on any failure. Asks a running
    /// server, or with --data-dir reads a stopped server's file itself.
    Audit {
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Audit the ledger file in this data directory offline (the server
        /// stopped: the file is locked while it runs), trusting no server.
        #[arg(long, conflicts_with = "server")]
        data_dir: Option<PathBuf>,
        /// With --data-dir: the engine public key (hex) the file must name.
        #[arg(long, requires = "data_dir")]
        engine_key: Option<String>,
        /// With --data-dir: the chain id (hex) the file must hold.
        #[arg(long, requires = "data_dir")]
        chain_id: Option<String>,
    },
    /// Receipts: fetch one, or verify one offline.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// What an operating bank runs: follow its customers' movements, fetch
    /// a day's statement, and the net positions between banks.
    Bank {
        #[command(subcommand)]
        command: BankCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Cluster mode (docs/CLUSTER.md): write a new cluster's files, or show
    /// each replica's role and lag. Every client command's --server also
    /// takes a comma-separated list of replicas and finds the leader.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Write the files a new cluster starts from into --out: the shared
    /// engine key, operator and issuer tokens, and node-<id>.toml per member
    /// (run each with `settled serve --config`). The member with the lowest
    /// id initialises the cluster on its first start.
    Init {
        #[arg(long)]
        out: PathBuf,
        /// A voter: id=raft_host:port,api_host:port (repeat; 1 to 7).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// x-only issuer public keys (hex); none: a development 2-of-3 set
        /// is generated into --out.
        #[arg(long = "issuer-key")]
        issuer_keys: Vec<String>,
        #[arg(long, default_value_t = 2)]
        issuer_threshold: u32,
        /// Development mode on every replica, with one shared token of
        /// every role (--out/dev.token, copied into each data directory):
        /// for load tests and demos, never in production.
        #[arg(long)]
        dev: bool,
        /// Where to create the cluster CA (ca.pem, and ca.key: keep it
        /// offline, on no node) [default: --out/cluster-ca].
        #[arg(long)]
        ca_dir: Option<PathBuf>,
    },
    /// Write the configuration of a replica that will join a running
    /// cluster, from an existing replica's (same keys, genesis, members).
    /// Start it with `settled serve --config`, then `settled cluster add`.
    JoinConfig {
        /// An existing replica's configuration.
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        id: u64,
        #[arg(long)]
        raft_addr: SocketAddr,
        #[arg(long)]
        api_addr: SocketAddr,
        /// Its data directory [default: node-<id> beside --from's].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The cluster CA's directory (ca.pem, ca.key), to issue the new
        /// member's certificate [default: cluster-ca beside --from].
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a running replica a voter: it joins as a learner, catches up,
    /// then votes (on the leader; --server lists the replicas).
    Add {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        raft_addr: String,
        #[arg(long)]
        api_addr: String,
        #[arg(long, env = "SETTLED_SERVER")]
        server: String,
    },
    /// Make a voter leave the cluster.
    Remove {
        #[arg(long)]
        id: u64,
        #[arg(long, env = "SETTLED_SERVER")]
        server: String,
    },
    /// Each replica's role, term, leader, tip and lag.
    Status {
        /// The replicas, comma-separated.
        #[arg(long, env = "SETTLED_SERVER")]
        server: String,
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
    /// Serve Prometheus metrics (GET /metrics, plain HTTP, no credential)
    /// on this address, e.g. 127.0.0.1:9090.
    #[arg(long, env = "SETTLED_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
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
    /// Three replicas as processes instead (docs/CLUSTER.md): terminals pay
    /// through a cluster client, the leader is killed with SIGKILL, a new
    /// one takes over, the old one comes back and catches up; then every
    /// receipt is checked on every replica. Uses --terminals (one wallet
    /// each), --seconds per phase and --data-dir.
    #[arg(long)]
    cluster: bool,
    /// Replicas with --cluster.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
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
enum BankCommand {
    /// Follow a bank's movements, checking each block's checkpoint (engine
    /// signature, hash chain, running totals). Live, reconnecting when the
    /// stream breaks, unless --until-height is given.
    Follow {
        /// The bank (with its own token, its own id; the operator names any).
        #[arg(long)]
        bank: String,
        /// Resume from this file and save to it at every checkpoint (default:
        /// none, start from genesis).
        #[arg(long)]
        cursor_file: Option<PathBuf>,
        /// Stop, exit 0, once the checkpoint of this block (1 or above) is
        /// verified.
        #[arg(long)]
        until_height: Option<u64>,
        /// Refuse a server whose engine key is not this one (hex), the key
        /// the bank was given out of band.
        #[arg(long)]
        engine_key: Option<String>,
    },
    /// One booking day's statement of a bank; a camt.053 is checked (to
    /// stderr) and a failed check exits non-zero.
    Statement {
        #[arg(long)]
        bank: String,
        /// Booking date, YYYY-MM-DD, in the ledger's day (its UTC offset);
        /// default today. Today's statement is interim (ITBD closing).
        #[arg(long)]
        date: Option<String>,
        #[arg(long, value_enum, default_value_t = StatementFormat::Camt053)]
        format: StatementFormat,
        /// Write the statement here (default stdout); it appears under this
        /// name only once complete (and checked).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What each bank's customers paid each other bank's customers, and
    /// each bank's net position, over the blocks after --after-height up
    /// to --until-height (operator or issuer token).
    Positions {
        #[arg(long, default_value_t = 0)]
        after_height: u64,
        /// 0 = the tip.
        #[arg(long, default_value_t = 0)]
        until_height: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatementFormat {
    /// ISO 20022 camt.053.001.08.
    Camt053,
    /// Comma-separated, one row per entry, for people.
    Csv,
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
        /// The ledger's chain id (64 hex digits, `GetInfo.chain_id`): the
        /// receipt must be for it. Without it, the chain the file names is
        /// used and printed, to be compared with what you expect.
        #[arg(long)]
        chain_id: Option<String>,
    },
    /// Fetch the receipt of a txid from a server and print it as JSON.
    Get {
        txid: String,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
}

fn main() -> ExitCode {
    // One JSON object per line for log shippers (SETTLED_LOG_FORMAT=json);
    // plain text for people otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("SETTLED_LOG_FORMAT").is_ok_and(|format| format == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
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

/// Connects to `server`: one address, or a comma-separated list of a
/// cluster's replicas, of which the leader is chosen (the first replica
/// that answers when none leads).
async fn connect(server: &str, token: &str) -> Result<Client, String> {
    if server.contains(',') {
        return replicas(server, token)?.find_leader().await.map_err(|s| format!("{server}: {}", status_text(&s)));
    }
    let client =
        if token.is_empty() { Client::connect(server).await } else { Client::connect_with_token(server, token).await };
    client.map_err(|e| format!("{server}: {e}"))
}

/// The replicas of a comma-separated `--server` list.
fn replicas(server: &str, token: &str) -> Result<settled::client::Replicas, String> {
    let urls: Vec<String> = server.split(',').map(str::trim).filter(|url| !url.is_empty()).map(str::to_owned).collect();
    settled::client::Replicas::lazy_with_token(&urls, token)
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
        Command::Demo(args) if args.cluster => {
            let options = settled::demo_cluster::ClusterDemoOptions {
                bin: std::env::current_exe().map_err(|e| format!("locating this program: {e}"))?,
                replicas: args.replicas,
                terminals: args.terminals,
                phase: Duration::from_secs(args.seconds),
                data_dir: args.data_dir,
            };
            settled::demo_cluster::run(&options, |step| println!("{step}")).await.map(|_| ())
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
        Command::Audit { server, data_dir, engine_key, chain_id } => {
            let report = match data_dir {
                Some(data_dir) => audit_offline(&data_dir, engine_key.as_deref(), chain_id.as_deref())?,
                None => {
                    let mut client = connect(&server, token).await?;
                    client.ledger.audit(proto::AuditRequest {}).await.map_err(|s| status_text(&s))?.into_inner()
                }
            };
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
        Command::Bank { command, server } => bank(command, &server, token).await,
        Command::Cluster { command } => cluster(command, token).await,
    }
}

/// Prints the voters a membership change left, or says why it failed.
fn print_voters(reply: Result<tonic::Response<proto::MembershipResponse>, tonic::Status>) -> Result<(), String> {
    let voters = reply.map_err(|s| status_text(&s))?.into_inner().voters;
    println!("voters:");
    for voter in voters {
        println!("  {} raft {} api {}", voter.id, voter.raft_addr, voter.api_addr);
    }
    Ok(())
}

async fn cluster(command: ClusterCommand, token: &str) -> Result<(), String> {
    match command {
        ClusterCommand::Init { out, members, issuer_keys, issuer_threshold, dev, ca_dir } => {
            let members =
                members.iter().map(|text| settled::cluster::init::parse_member(text)).collect::<Result<Vec<_>, _>>()?;
            let options =
                settled::cluster::init::InitOptions { issuer_keys, issuer_threshold, development: dev, ca_dir };
            let written = settled::cluster::init::init_with(&out, &members, &options).map_err(|e| e.to_string())?;
            for config in &written.configs {
                println!("settled serve --config {}", config.display());
            }
            println!("engine key: {}", written.engine_key.display());
            println!("operator token: {}", written.operator_token.display());
            println!("issuer token: {}", written.issuer_token.display());
            for key in &written.issuer_keys {
                println!("development issuer key: {}", key.display());
            }
            if let Some(token) = &written.dev_token {
                println!("development token (every role, every replica): {}", token.display());
            }
            println!(
                "cluster CA: {} (each member's certificate and key are in peer-<id>/ beside its configuration; the \
                 CA key is needed only to issue a joining member's: move it offline, on no node)",
                written.ca_dir.display()
            );
            Ok(())
        }
        ClusterCommand::JoinConfig { from, id, raft_addr, api_addr, data_dir, ca_dir, out } => {
            let mut config = Config::from_file(&from).map_err(|e| e.to_string())?;
            let cluster =
                config.cluster.as_mut().ok_or_else(|| format!("{} has no [cluster] table", from.display()))?;
            if cluster.members.iter().any(|m| m.id == id) {
                return Err(format!("{} already names a member {id}", from.display()));
            }
            cluster.node_id = id;
            cluster.raft_listen = raft_addr;
            cluster.members.push(settled::config::ClusterMember {
                id,
                raft_addr: raft_addr.to_string(),
                api_addr: api_addr.to_string(),
            });
            config.listen = api_addr;
            if out.exists() {
                return Err(format!("{} exists", out.display()));
            }
            let existing_data_dir = config.data_dir.clone();
            config.data_dir = data_dir.unwrap_or_else(|| config.data_dir.with_file_name(format!("node-{id}")));
            // The new member's certificate, issued by the cluster's CA: the
            // others accept it once it is added to the membership.
            let ca_dir = ca_dir.unwrap_or_else(|| from.with_file_name(settled::cluster::init::CA_DIR));
            let ca = settled::cluster::ClusterCa::load(&ca_dir)?;
            let peer_dir = out.with_file_name(settled::cluster::init::peer_dir(id));
            let tls = ca.issue_into(id, &peer_dir)?;
            config.cluster.as_mut().expect("checked above").tls = Some(tls);
            if config.development {
                // The new replica takes the cluster's development token.
                let token = existing_data_dir.join(settled::config::DEV_TOKEN_FILE);
                let copy = config.data_dir.join(settled::config::DEV_TOKEN_FILE);
                std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
                std::fs::copy(&token, &copy).map_err(|e| format!("copying {}: {e}", token.display()))?;
            }
            let text = toml::to_string(&config).map_err(|e| e.to_string())?;
            if out.exists() {
                return Err(format!("{} exists", out.display()));
            }
            std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
            println!("settled serve --config {}", out.display());
            Ok(())
        }
        ClusterCommand::Add { id, raft_addr, api_addr, server } => {
            let request = proto::AddReplicaRequest { id, raft_addr, api_addr };
            print_voters(
                replicas(&server, token)?
                    .on_leader(|mut c| {
                        let request = request.clone();
                        async move { c.admin.add_replica(request).await }
                    })
                    .await,
            )
        }
        ClusterCommand::Remove { id, server } => print_voters(
            replicas(&server, token)?
                .on_leader(|mut c| async move { c.admin.remove_replica(proto::RemoveReplicaRequest { id }).await })
                .await,
        ),
        ClusterCommand::Status { server } => {
            println!(
                "{:<28} {:>4} {:<9} {:>6} {:>7} {:>10} {:>10} {:>5}",
                "replica", "id", "role", "term", "leader", "tip", "committed", "lag"
            );
            let mut answered = 0;
            for url in server.split(',').map(str::trim).filter(|url| !url.is_empty()) {
                let info = match connect(url, token).await {
                    Ok(mut client) => client.info(false).await.map_err(|s| status_text(&s)),
                    Err(error) => Err(error),
                };
                match info {
                    Ok(info) => {
                        answered += 1;
                        let tip = info.tip.map_or(0, |tip| tip.height);
                        match info.cluster {
                            Some(c) => println!(
                                "{url:<28} {:>4} {:<9} {:>6} {:>7} {tip:>10} {:>10} {:>5}",
                                c.node_id,
                                if c.leading { "leader" } else { "follower" },
                                c.term,
                                c.leader_id,
                                c.committed_height,
                                c.lag_blocks
                            ),
                            None => println!("{url:<28} {:>4} {:<9} {:>6} {:>7} {tip:>10}", "-", "single", "-", "-"),
                        }
                    }
                    Err(error) => println!("{url:<28} unreachable: {error}"),
                }
            }
            if answered == 0 { Err("no replica answered".to_owned()) } else { Ok(()) }
        }
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
    if let Some(address) = args.metrics_listen {
        config.metrics_listen = Some(address);
    }
    if args.dev {
        config.development = true;
    }
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
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
        () = shutdown_signal() => None,
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
fn audit_offline(
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
            let stats = programme_stats(&mut client, id).await?;
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
            // The issuers authorise the programme as the ledger registered
            // it: this chain, this treasury, this end of validity.
            let chain = client.chain_id().await.map_err(|s| status_text(&s))?;
            let stats = programme_stats(&mut client, id).await?;
            let programme = stats.programme.ok_or_else(|| format!("no programme {id}"))?;
            let treasury = Address::from_slice(&programme.treasury_address)
                .ok_or_else(|| format!("programme {id} has no treasury address"))?;
            let terms =
                client::ClawbackTerms { chain, programme: id, treasury, valid_until_ms: programme.valid_until_unix_ms };
            println!(
                "authorising the clawback of programme {id} on chain {chain}: leftovers to treasury {treasury}, valid \
                 until {} (unix ms)",
                programme.valid_until_unix_ms
            );
            let authorization = client::clawback_authorization(&terms, &signers);
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

async fn programme_stats(client: &mut Client, id: u32) -> Result<proto::GetProgrammeStatsResponse, String> {
    let request = proto::GetProgrammeStatsRequest { programme_id: id };
    Ok(client.admin.get_programme_stats(request).await.map_err(|s| status_text(&s))?.into_inner())
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
        ReceiptCommand::Verify { file, engine_key, engine_key_file, chain_id } => {
            let key = match (engine_key, engine_key_file) {
                (Some(hex), _) => Address::from_hex(&hex).map_err(|e| format!("--engine-key: {e}"))?,
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    Keypair::from_secret_hex(&text)?.address()
                }
                (None, None) => return Err("give --engine-key or --engine-key-file".to_owned()),
            };
            let pinned = chain_id
                .map(|hex| settled::ChainId::from_hex(&hex).map_err(|e| format!("--chain-id: {e}")))
                .transpose()?;
            let (receipt, chain) =
                demo::verify_receipt_file(&file, &key, pinned.as_ref()).map_err(|e| format!("receipt INVALID: {e}"))?;
            println!(
                "receipt OK: txid {} sequence {} in block {} signed by {key} for chain {chain}",
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
            let chain = client.chain_id().await.map_err(|s| status_text(&s))?;
            let json = serde_json::to_string_pretty(&ReceiptJson::of(&receipt, &chain)).map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
    }
}

async fn bank(command: BankCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let exponent = currency_exponent(&mut client).await?;
    match command {
        BankCommand::Follow { bank, cursor_file, until_height, engine_key } => {
            let pinned =
                engine_key.map(|hex| Address::from_hex(&hex).map_err(|e| format!("--engine-key: {e}"))).transpose()?;
            // Any replica serves the stream; a broken one moves to the next.
            let others = if server.contains(',') { Some(replicas(server, token)?) } else { None };
            bank_follow(client, others, exponent, &bank, cursor_file, until_height, pinned).await
        }
        BankCommand::Statement { bank, date, format, out } => {
            let date = match date {
                Some(date) => date,
                None => {
                    let info = client.info(false).await.map_err(|e| e.message().to_owned())?;
                    settled::statement::ledger_date(settled::now_unix_ms(), info.day_offset_minutes)
                }
            };
            bank_statement(client, exponent, &bank, &date, format, out.as_deref()).await
        }
        BankCommand::Positions { after_height, until_height } => {
            bank_positions(client, exponent, after_height, until_height).await
        }
    }
}

/// The ledger's currency exponent, refused past what an amount can carry
/// (formatting would otherwise fail on the first amount).
async fn currency_exponent(client: &mut Client) -> Result<u32, String> {
    let exponent = client.info(false).await.map_err(|s| status_text(&s))?.currency_exponent;
    let exponent_max = settled::limits::CURRENCY_EXPONENT_MAX;
    if exponent > exponent_max {
        return Err(format!("the server's currency exponent {exponent} is above {exponent_max}"));
    }
    Ok(exponent)
}

/// A signed amount in currency units (a bank's balance may be negative).
fn signed_amount(minor: i128, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    match u64::try_from(minor.unsigned_abs()) {
        Ok(magnitude) => format!("{sign}{}", settled::format_amount(magnitude, exponent)),
        Err(_) => format!("{minor} minor units"),
    }
}

/// The first four bytes of an address, in hex: enough to tell customers apart
/// on a line.
fn short_hex(bytes: &[u8]) -> String {
    hex::encode(&bytes[..bytes.len().min(4)])
}

fn movement_line(movement: &proto::Movement, exponent: u32) -> String {
    use std::fmt::Write as _;
    let kind = match proto::MovementKind::try_from(movement.kind) {
        Ok(proto::MovementKind::Payment) => "payment",
        Ok(proto::MovementKind::Mint) => "mint",
        Ok(proto::MovementKind::Redeem) => "redeem",
        Ok(proto::MovementKind::Clawback) => "clawback",
        Ok(proto::MovementKind::Unspecified) | Err(_) => "unknown",
    };
    let mut line = format!("movement seq={} height={} {kind}", movement.sequence, movement.height);
    for entry in &movement.entries {
        let sign = match proto::Direction::try_from(entry.direction) {
            Ok(proto::Direction::Credit) => '+',
            Ok(proto::Direction::Debit) => '-',
            Ok(proto::Direction::Unspecified) | Err(_) => '?',
        };
        let amount = settled::format_amount(entry.amount_minor, exponent);
        let _ = write!(line, " {sign}{amount} {}", short_hex(&entry.address));
        if entry.programme_id != 0 {
            let _ = write!(line, " programme={}", entry.programme_id);
        }
    }
    if !movement.merchant.is_empty() {
        let _ = write!(line, " merchant={}", movement.merchant);
    }
    if !movement.terminal.is_empty() {
        let _ = write!(line, " terminal={}", movement.terminal);
    }
    line
}

fn checkpoint_line(height: u64, cursor: &Cursor, lag_ms: u64, exponent: u32) -> String {
    let balance = i128::from(cursor.credits_minor) - i128::from(cursor.debits_minor);
    format!(
        "checkpoint height={height} movements={} credits={} debits={} balance={} lag_ms={lag_ms}",
        cursor.movements,
        settled::format_amount(cursor.credits_minor, exponent),
        settled::format_amount(cursor.debits_minor, exponent),
        signed_amount(balance, exponent),
    )
}

/// The machine-readable last line of `bank follow`: the totals at the last
/// verified checkpoint.
fn totals_line(cursor: &Cursor) -> String {
    let height = cursor.after_height.map_or_else(|| "none".to_owned(), |h| h.to_string());
    format!(
        "totals bank={} height={height} movements={} credits_minor={} debits_minor={}",
        cursor.bank, cursor.movements, cursor.credits_minor, cursor.debits_minor
    )
}

/// Prints what a follower reports. Movements are buffered and flushed at
/// their block's checkpoint: one write per block, not one per movement.
struct FollowPrinter<'a> {
    out: std::io::BufWriter<std::io::Stdout>,
    exponent: u32,
    /// The cursor at the last verified checkpoint, which the totals line reports.
    verified: Cursor,
    /// Woken when stdout fails, so that the command stops instead of
    /// following for ever with nowhere to write.
    broken: &'a tokio::sync::Notify,
    error: Option<std::io::Error>,
}

impl FollowPrinter<'_> {
    fn on_event(&mut self, event: Event<'_>) {
        if self.error.is_some() {
            return;
        }
        let written = match event {
            Event::Movement(movement) => writeln!(self.out, "{}", movement_line(movement, self.exponent)),
            Event::Checkpoint { height, cursor, lag_ms, .. } => {
                self.verified = cursor.clone();
                writeln!(self.out, "{}", checkpoint_line(height, cursor, lag_ms, self.exponent))
                    .and_then(|()| self.out.flush())
            }
        };
        if let Err(error) = written {
            self.error = Some(error);
            self.broken.notify_one();
        }
    }
}

fn follow_error_text(error: FollowError) -> String {
    match error {
        FollowError::Rpc(status) => format!("stream: {}", status_text(&status)),
        other => other.to_string(),
    }
}

/// A refusal of the request itself: retrying it cannot succeed.
fn is_refusal(status: &tonic::Status) -> bool {
    use tonic::Code;
    matches!(
        status.code(),
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
    )
}

/// Runs the follower to `until_height` (or for ever), reconnecting after
/// `follow::RECONNECT_DELAY` whenever the stream breaks or ends early. The
/// follower resumes from its own cursor, so nothing is missed or counted
/// twice. A checkpoint that does not check out, a cursor file that cannot
/// be written and a request the server refuses are fatal.
async fn follow_with_reconnects(
    follower: &mut Follower,
    replicas: Option<&settled::client::Replicas>,
    until_height: Option<u64>,
    printer: &mut FollowPrinter<'_>,
) -> Result<(), String> {
    // Said once per kind of break, not every RECONNECT_DELAY of an outage.
    let mut reported: Option<String> = None;
    loop {
        let before = (follower.cursor.after_sequence, follower.cursor.after_height);
        let result = follower.run(until_height, |event| printer.on_event(event)).await;
        let reached =
            matches!((until_height, follower.cursor.after_height), (Some(until), Some(seen)) if seen >= until);
        let reason = match result {
            Ok(()) if reached => return Ok(()),
            // The server ends streams when it stops; a restart is coming.
            Ok(()) => "the server ended the stream".to_owned(),
            Err(FollowError::Rpc(status)) if !is_refusal(&status) => status_text(&status),
            Err(error) => return Err(follow_error_text(error)),
        };
        if (follower.cursor.after_sequence, follower.cursor.after_height) != before {
            reported = None;
        }
        if reported.as_ref() != Some(&reason) {
            eprintln!(
                "stream broke ({reason}); reconnecting every {} ms to resume after sequence {}",
                follow::RECONNECT_DELAY.as_millis(),
                follower.cursor.after_sequence
            );
            reported = Some(reason);
        }
        tokio::time::sleep(follow::RECONNECT_DELAY).await;
        // Cursors (sequence numbers) mean the same on every replica.
        if let Some(replicas) = replicas {
            replicas.rotate();
            follower.set_client(replicas.current());
        }
    }
}

#[allow(clippy::too_many_arguments, reason = "the command's options, passed through once")]
async fn bank_follow(
    client: Client,
    replicas: Option<settled::client::Replicas>,
    exponent: u32,
    bank: &str,
    cursor_file: Option<PathBuf>,
    until_height: Option<u64>,
    pinned_engine_key: Option<Address>,
) -> Result<(), String> {
    let cursor = match &cursor_file {
        Some(path) => Cursor::load(path, bank).map_err(|e| e.to_string())?,
        None => Cursor::new(bank),
    };
    let broken = tokio::sync::Notify::new();
    let mut printer = FollowPrinter {
        out: std::io::BufWriter::new(std::io::stdout()),
        exponent,
        verified: cursor.clone(),
        broken: &broken,
        error: None,
    };
    let mut follower = Follower::new(client, cursor, cursor_file).await.map_err(follow_error_text)?;
    if let Some(pinned) = pinned_engine_key {
        follower.pin_engine_key(pinned).map_err(follow_error_text)?;
    }
    let outcome = tokio::select! {
        outcome = follow_with_reconnects(&mut follower, replicas.as_ref(), until_height, &mut printer) => outcome,
        () = broken.notified() => Ok(()),
        () = shutdown_signal() => match until_height {
            None => Ok(()),
            Some(until) => Err(format!("interrupted before the checkpoint of block {until}")),
        },
    };
    let outcome = match printer.error.take() {
        Some(error) => Err(format!("stdout: {error}")),
        None => outcome,
    };
    let printed = writeln!(printer.out, "{}", totals_line(&printer.verified)).and_then(|()| printer.out.flush());
    outcome?;
    printed.map_err(|e| format!("stdout: {e}"))
}

/// `<file>.partial`: where a statement is written until it is complete.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

async fn bank_statement(
    mut client: Client,
    exponent: u32,
    bank: &str,
    date: &str,
    format: StatementFormat,
    out: Option<&Path>,
) -> Result<(), String> {
    let request = proto::GetStatementRequest {
        bank: bank.to_owned(),
        date: date.to_owned(),
        format: match format {
            StatementFormat::Camt053 => proto::StatementFormat::Camt053,
            StatementFormat::Csv => proto::StatementFormat::Csv,
        }
        .into(),
    };
    let mut chunks = client.reconciliation.get_statement(request).await.map_err(|s| status_text(&s))?.into_inner();
    let partial = out.map(partial_path);
    let mut file = match &partial {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    // The checker reads a whole document; kept only for camt.053.
    let mut document = Vec::new();
    let streamed: Result<(), String> = async {
        while let Some(chunk) = chunks.message().await.map_err(|s| status_text(&s))? {
            match &mut file {
                Some(file) => file.write_all(&chunk.data),
                None => std::io::stdout().write_all(&chunk.data),
            }
            .map_err(|e| format!("writing the statement: {e}"))?;
            if format == StatementFormat::Camt053 {
                document.extend_from_slice(&chunk.data);
            }
        }
        match &mut file {
            Some(file) => file.sync_all(),
            None => std::io::stdout().flush(),
        }
        .map_err(|e| format!("writing the statement: {e}"))
    }
    .await;
    if let Err(error) = streamed {
        if let Some(path) = &partial {
            let _ = std::fs::remove_file(path);
        }
        return Err(format!("the statement is incomplete: {error}"));
    }
    if format == StatementFormat::Camt053 {
        let kept = partial.as_ref().map_or(String::new(), |p| format!(" (kept in {})", p.display()));
        let checked = settled::statement::check_camt053(&document, exponent)
            .map_err(|e| format!("the camt.053 statement does not check{kept}: {e}"))?;
        if (checked.bank_id.as_str(), checked.date.as_str()) != (bank, date) {
            return Err(format!(
                "asked for bank {bank} on {date}, got a statement of bank {} on {}{kept}",
                checked.bank_id, checked.date
            ));
        }
        let amount = |minor| settled::format_amount(minor, exponent);
        eprintln!(
            "statement of {} for {} ({}) checks: opening {}, closing {}\n  credits: {} entries, {}\n  \
             debits: {} entries, {}",
            checked.bank_id,
            checked.date,
            checked.currency,
            signed_amount(checked.opening_minor, exponent),
            signed_amount(checked.closing_minor, exponent),
            checked.credit_entries,
            amount(checked.credits_minor),
            checked.debit_entries,
            amount(checked.debits_minor),
        );
    }
    if let (Some(partial), Some(out)) = (&partial, out) {
        std::fs::rename(partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// Columns padded to their widest cell; the first `left` columns are
/// aligned left (names), the rest right (amounts).
fn table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut text = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(n, (cell, width))| if n < left { format!("{cell:<width$}") } else { format!("{cell:>width$}") })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

async fn bank_positions(mut client: Client, exponent: u32, after_height: u64, until_height: u64) -> Result<(), String> {
    let request = proto::GetNetPositionsRequest { after_height, until_height };
    let response = client.reconciliation.get_net_positions(request).await.map_err(|s| status_text(&s))?.into_inner();
    let from = response.from_block.as_ref().map_or(after_height, |b| b.height);
    let until = response.until_block.as_ref().map_or(until_height, |b| b.height);
    let bank_name = |bank: &str| if bank.is_empty() { "(unbanked)".to_owned() } else { bank.to_owned() };
    let amount = |minor| settled::format_amount(minor, exponent);
    println!("net positions over blocks {}..={until}", from + 1);
    if response.flows.is_empty() {
        println!("no payments between banks");
    } else {
        let rows: Vec<Vec<String>> = response
            .flows
            .iter()
            .map(|f| vec![bank_name(&f.payer_bank), bank_name(&f.payee_bank), amount(f.amount_minor)])
            .collect();
        print!("{}", table(&["payer bank", "payee bank", "amount"], &rows, 2));
    }
    let rows: Vec<Vec<String>> = response
        .positions
        .iter()
        .map(|p| {
            vec![
                bank_name(&p.bank),
                amount(p.paid_minor),
                amount(p.received_minor),
                amount(p.issued_minor),
                amount(p.redeemed_minor),
                signed_amount(i128::from(p.net_minor), exponent),
            ]
        })
        .collect();
    print!("{}", table(&["bank", "paid", "received", "issued", "redeemed", "net"], &rows, 1));
    // What one bank's customers paid, another's received.
    let net_sum: i128 = response.positions.iter().map(|p| i128::from(p.net_minor)).sum();
    if net_sum != 0 {
        return Err(format!("the net positions sum to {net_sum} minor units, not 0"));
    }
    Ok(())
}
