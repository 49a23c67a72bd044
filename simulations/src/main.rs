//! `settled-simulations`: seeded simulations of Settled, and its load generator.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use settled_simulations::crash::{self, CrashOptions};
use settled_simulations::load::{self, LoadOptions, Mode, ServerSpec, Target, Workload};

#[derive(Parser)]
#[command(name = "settled-simulations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes docs/test-vectors.json from what the engine computes, after an
    /// intended change of an encoding (update docs/PROTOCOL.md first). Never
    /// a test: the suite only compares the file with the engine.
    WriteVectors,
    /// The ledger core's rate: the engine's sequencer and a writer thread
    /// committing durably to a redb file, on payments signed and verified
    /// beforehand, in this process (no gRPC, no signature checks); to set
    /// beside TigerBeetle's benchmark run in the same session.
    CoreRate {
        /// Payments per block (the run also reports the commit and wait
        /// times per block).
        #[arg(long, default_value_t = 8_192)]
        block_txs: usize,
        /// Payments sequenced.
        #[arg(long, default_value_t = 200_000)]
        payments: usize,
        /// Wallets paying, one coin each; each payment spends the change of
        /// the wallet's last.
        #[arg(long, default_value_t = 10_000)]
        wallets: usize,
        /// Where the ledger file goes [default: a temporary directory].
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// The ledger state machine against a reference model, from seeds.
    Ledger {
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of consecutive seeds to run.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Steps per seed.
        #[arg(long, default_value_t = 10_000)]
        steps: u64,
    },
    /// The ledger, the block seal and the redb store on a simulated disk
    /// that fails writes and fsyncs, loses power mid-commit and tears
    /// unsynced writes, against a reference model, from seeds.
    Core {
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of consecutive seeds to run.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Steps per seed.
        #[arg(long, default_value_t = 200)]
        steps: u64,
        /// Threads running seeds [default: all cores].
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The cluster (three replicas on openraft, the real Raft and ledger
    /// stores) on simulated disks, network and clock, from seeds: power
    /// losses, partitions, lost and delayed messages; then healed and
    /// checked (chains equal, every confirmed payment on every replica at
    /// its sequence and block, audits, unspent sets, supply).
    Raft {
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of consecutive seeds to run.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Ticks of 20 ms (simulated) per seed before the cluster is healed.
        #[arg(long, default_value_t = 400)]
        ticks: u64,
        /// Threads running seeds [default: all cores].
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Load a real server over gRPC: confirmed payments/s, latency
    /// percentiles, CPU, and the k256 verify ceiling; JSON and SVG results.
    Load(Box<LoadArgs>),
    /// Kill -9 the real server under load, restart it, and check that every
    /// receipt given is in the ledger, nothing was spent twice, the chain
    /// audits, and a bank stream resumes with no gap.
    Crash(CrashArgs),
    /// Three `settled serve` replicas: fail-over time when the leader is
    /// killed (repeated runs, median) and the cluster's rate against a
    /// single node's, in the same invocation.
    Cluster {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Terminals paying at once (unary), one wallet each.
        #[arg(long, default_value_t = 64)]
        terminals: usize,
        /// Seconds of each phase of a run.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// The `settled` program [default: next to this one].
        #[arg(long)]
        settled_bin: Option<PathBuf>,
    },
}

#[derive(Args)]
struct CrashArgs {
    /// Kills (and restarts) of the server.
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Seed of the kill moments, amounts and payees.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Data dir of the server, kept (and reused) [default: a temporary dir, kept if a check fails].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server binary to spawn [default: `settled` next to this program].
    #[arg(long)]
    settled_bin: Option<PathBuf>,
    /// Confirmed payments after which the kill comes, at most (a seeded
    /// number of them); the clients pay until the kill.
    #[arg(long, default_value_t = 20_000)]
    payments_per_round: usize,
    /// Concurrent clients, alternately unary and streaming.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Wallets per client, each with one payment in flight.
    #[arg(long, default_value_t = 8)]
    wallets_per_client: usize,
}

#[derive(Args)]
struct LoadArgs {
    /// retail: 1 input, 2 outputs, 1 signature; opencbdc: 2 inputs, 2 outputs, 2 signatures.
    #[arg(long, value_enum, default_value_t = Workload::Retail)]
    workload: Workload,
    /// unary: SubmitPayment; streaming: one SubmitPayments stream per terminal.
    #[arg(long, value_enum, default_value_t = Mode::Streaming)]
    mode: Mode,
    /// Simulated terminals, each on its own connection.
    #[arg(long, default_value_t = 16)]
    terminals: usize,
    /// Payments in flight per terminal [default: 64 streaming, 1 unary].
    #[arg(long)]
    window: Option<usize>,
    /// Payments per second with Poisson arrivals; 0 = closed loop at the maximum.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds measured, after the warmup.
    #[arg(long, default_value_t = 20)]
    duration_s: u64,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 3)]
    warmup_s: u64,
    /// Wallets paying (pairs of them in opencbdc).
    #[arg(long, default_value_t = 4096)]
    wallets: usize,
    /// Payments pre-signed per wallet (or pair) [default: enough to last the run].
    #[arg(long)]
    chain: Option<usize>,
    /// Unspent outputs the ledger holds before the run (minted if short).
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Seconds of each verify-ceiling measurement (before and after the load).
    #[arg(long, default_value_t = 2.0)]
    ceiling_s: f64,
    /// Seed of amounts, payees and arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Payments with bad signatures a terminal of its own keeps in flight
    /// beside the load (at most 1024, the server's limit per stream); 0: none.
    #[arg(long, default_value_t = 0)]
    flood_window: usize,
    /// JSON result file [default: load-<workload>-<mode>.json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// SVG plot [default: the JSON file's path with .svg].
    #[arg(long)]
    svg: Option<PathBuf>,
    /// The server binary to spawn [default: `settled` next to this program].
    #[arg(long, conflicts_with = "server")]
    settled_bin: Option<PathBuf>,
    /// Data dir of the spawned server, kept (and reused) [default: a temporary dir].
    #[arg(long, conflicts_with = "server")]
    data_dir: Option<PathBuf>,
    /// URL of a running server instead of spawning one, e.g. http://127.0.0.1:50051;
    /// or a cluster's replicas, comma-separated (the load follows the leader;
    /// a cluster from `settled cluster init --dev` has a token of every role).
    #[arg(long, requires_all = ["token", "issuer_key_files"])]
    server: Option<String>,
    /// Bearer token for --server, with the operator, issuer and terminal roles.
    #[arg(long, requires = "server")]
    token: Option<String>,
    /// Issuer secret key files (hex) for --server's mints, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "server")]
    issuer_key_files: Vec<PathBuf>,
    /// Process id of --server, for its CPU use.
    #[arg(long, requires = "server")]
    server_pid: Option<u32>,
}

fn main() -> ExitCode {
    // Logs only when asked for (`RUST_LOG`), on stderr: a failing seed's
    // history with openraft's own account of it.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    match Cli::parse().command {
        Command::WriteVectors => write_vectors(),
        Command::CoreRate { block_txs, payments, wallets, dir, seed } => {
            core_rate(&settled_simulations::core_rate::CoreRateOptions { block_txs, payments, wallets, dir, seed })
        }
        Command::Ledger { seed, seeds, steps } => ledger(seed, seeds, steps),
        Command::Core { seed, seeds, steps, threads } => core(seed, seeds, steps, threads),
        Command::Raft { seed, seeds, ticks, threads } => raft(seed, seeds, ticks, threads),
        Command::Load(args) => match load_command(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("settled-simulations load: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Cluster { runs, terminals, seconds, settled_bin } => {
            match cluster_command(runs, terminals, seconds, settled_bin) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("settled-simulations cluster: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Crash(args) => match crash_command(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("settled-simulations crash: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn crash_command(args: CrashArgs) -> Result<(), String> {
    let settled_bin = match args.settled_bin {
        Some(bin) => bin,
        None => settled_next_to_this_program()?,
    };
    let options = CrashOptions {
        rounds: args.rounds,
        seed: args.seed,
        data_dir: args.data_dir,
        settled_bin,
        payments_per_round: args.payments_per_round,
        clients: args.clients,
        wallets_per_client: args.wallets_per_client,
        progress: true,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(crash::run(&options)).map(|_| ()).map_err(|e| e.to_string())
}

fn cluster_command(runs: usize, terminals: usize, seconds: u64, settled_bin: Option<PathBuf>) -> Result<(), String> {
    let options = settled_simulations::cluster::ClusterOptions {
        settled_bin: match settled_bin {
            Some(bin) => bin,
            None => settled_next_to_this_program()?,
        },
        runs,
        terminals,
        phase: std::time::Duration::from_secs(seconds),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(settled_simulations::cluster::run(&options)).map(|_| ())
}

fn settled_next_to_this_program() -> Result<PathBuf, String> {
    Ok(std::env::current_exe()
        .map_err(|e| format!("locating this program: {e}"))?
        .with_file_name(format!("settled{}", std::env::consts::EXE_SUFFIX)))
}

fn ledger(seed: u64, seeds: u64, steps: u64) -> ExitCode {
    let (mut applied, mut declined) = (0, 0);
    for s in seed..seed.saturating_add(seeds) {
        match settled_simulations::simulate_ledger(s, steps) {
            Ok(report) => {
                applied += report.applied;
                declined += report.declined;
            }
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{seeds} seeds x {steps} steps: ledger matched the model ({applied} applied, {declined} declined)");
    ExitCode::SUCCESS
}

fn core(seed: u64, seeds: u64, steps: u64, threads: Option<usize>) -> ExitCode {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get));
    let started = std::time::Instant::now();
    match settled_simulations::core_sim::simulate_core_seeds(seed, seeds, steps, threads) {
        Ok(r) => {
            println!(
                "{} seeds x {steps} steps in {:.1} s: the core matched the model. {} applied, {} refused, {} resubmissions; \
                 {} blocks committed; faults: {} failed writes, {} failed fsyncs, {} power losses ({} reboots with torn writes); \
                 unconfirmed blocks found {} / gone {}; {} reopens, {} receipts re-checked; \
                 the follower replica replayed {} blocks to the leader's headers ({} bank movements equal)",
                r.seeds,
                started.elapsed().as_secs_f64(),
                r.applied,
                r.refused,
                r.duplicates,
                r.blocks,
                r.write_failures,
                r.sync_failures,
                r.power_losses,
                r.torn_reboots,
                r.unconfirmed_found,
                r.unconfirmed_gone,
                r.reopens,
                r.receipts_checked,
                r.replayed,
                r.movements_compared
            );
            let deferred: Vec<String> = r.deferred_outcomes.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
            println!(
                "pipelining: {} submissions taken while a sealed block was not yet durable, {} refusals said once \
                 the block they rested on was durable ({}); {} callers gone before the sequencer took their payment",
                r.admitted_while_writing,
                r.deferred_refusals,
                deferred.join(", "),
                r.callers_gone
            );
            println!(
                "programme statistics: {} written with no block (claims refused as paid already), spending by day \
                 compared with the model's {} times after a reopen",
                r.stats_alone, r.days_compared
            );
            let refusals: Vec<String> = r.outcomes.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
            println!("refusals by reason: {}", refusals.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn core_rate(options: &settled_simulations::core_rate::CoreRateOptions) -> ExitCode {
    match settled_simulations::core_rate::run(options) {
        Ok(r) => {
            println!(
                "ledger core, blocks of {}: {} payments in {} blocks in {:.2} s: {:.0} payments/s; block commit \
                 p50 {} us, p99 {} us, the writer committing {:.0}% of the run; a block's first payment waited \
                 p50 {} us, p99 {} us (payments signed and verified beforehand in {:.1} s, not counted)",
                r.block_txs,
                r.payments,
                r.blocks,
                r.seconds,
                r.per_s,
                r.commit_p50_us,
                r.commit_p99_us,
                r.writer_busy * 100.0,
                r.payment_p50_us,
                r.payment_p99_us,
                r.prepare_seconds
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("settled-simulations core-rate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_vectors() -> ExitCode {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(settled::dev::vectors::PUBLISHED_PATH);
    match std::fs::write(&path, settled::dev::vectors::file_text()) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writing {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn raft(seed: u64, seeds: u64, ticks: u64, threads: Option<usize>) -> ExitCode {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get));
    let started = std::time::Instant::now();
    match settled_simulations::raft_sim::simulate_raft_seeds(seed, seeds, ticks, threads) {
        Ok(r) => {
            println!(
                "{} seeds x {ticks} ticks in {:.1} s: the cluster lost nothing. {} blocks confirmed ({} payments, {} \
                 receipts checked on every replica); {} proposals in doubt ({} committed after all, {} not); {} \
                 refused by the state machine; {} leaderships; {} power losses ({} in the middle of a disk operation, {} disks rebooted with torn \
                 writes), {} isolations, {} links cut, {} messages lost of {}; followers replayed {} blocks and \
                 fetched {} from a peer's ledger; final heights {}; digest {:016x}",
                r.seeds,
                started.elapsed().as_secs_f64(),
                r.blocks_confirmed,
                r.payments_confirmed,
                r.receipts_checked,
                r.in_doubt_committed + r.in_doubt_lost,
                r.in_doubt_committed,
                r.in_doubt_lost,
                r.proposals_refused,
                r.leaderships,
                r.power_losses,
                r.power_losses_mid_write,
                r.torn_reboots,
                r.isolations,
                r.links_cut,
                r.messages_lost,
                r.messages_lost + r.messages_delivered,
                r.blocks_replayed,
                r.blocks_fetched,
                r.final_heights,
                r.digest
            );
            let refusals: Vec<String> = r.refusals.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
            println!(
                "the leaders' sequencers refused {} ({} double spends, each as spent); {} payments left in doubt \
                 with their block; {} receipts answered by the writer",
                refusals.join(", "),
                r.double_spends_refused,
                r.answers_in_doubt,
                r.receipts_answered
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn load_command(args: LoadArgs) -> Result<(), String> {
    if !(args.ceiling_s > 0.0 && args.ceiling_s <= load::CEILING_S_MAX) {
        return Err(format!("--ceiling-s is in (0, {}]", load::CEILING_S_MAX));
    }
    let options = LoadOptions {
        workload: args.workload,
        mode: args.mode,
        terminals: args.terminals,
        window: args.window,
        rate_per_s: args.rate,
        warmup: Duration::from_secs(args.warmup_s),
        duration: Duration::from_secs(args.duration_s),
        wallets: args.wallets,
        chain: args.chain,
        preload: args.preload,
        ceiling: Duration::from_secs_f64(args.ceiling_s),
        seed: args.seed,
        out: args.out,
        svg: args.svg,
        progress: true,
        flood_window: args.flood_window,
    };
    let server = match args.server {
        Some(urls) => ServerSpec::External(Target {
            url: urls.split(',').next().unwrap_or_default().to_owned(),
            replicas: if urls.contains(',') { urls.split(',').map(str::to_owned).collect() } else { Vec::new() },
            token: args.token.unwrap_or_default(),
            issuers: Target::read_issuer_keys(&args.issuer_key_files).map_err(|e| e.to_string())?,
            pid: args.server_pid,
        }),
        None => {
            let bin = match args.settled_bin {
                Some(bin) => bin,
                None => std::env::current_exe()
                    .map_err(|e| format!("locating this program: {e}"))?
                    .with_file_name(format!("settled{}", std::env::consts::EXE_SUFFIX)),
            };
            ServerSpec::Spawn { bin, data_dir: args.data_dir }
        }
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(load::run(&options, server)).map(|_| ()).map_err(|e| e.to_string())
}
