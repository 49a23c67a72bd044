//! `settled-simulations load`: a load generator for a real Settled server
//! over gRPC.
//!
//! Setup is not measured: it registers a bank and merchants, funds wallets
//! with mints, optionally preloads the unspent set, and pre-signs for every
//! wallet (or pair of wallets) a chain of payments in which each spends the
//! change of the one before, so that signing costs nothing while the load
//! runs. Then simulated terminals, each on its own connection, submit those
//! chains (unary calls or one bidirectional stream each), open loop at a
//! Poisson rate or closed loop at the maximum, and the run reports confirmed
//! payments per second, refusals by reason, latency from the scheduled
//! submission to the durable receipt, CPU use, and the k256 verify ceiling
//! measured on all cores right before and after the load.
//!
//! Module map: `server` starts or reaches the server, `setup` registers,
//! funds and preloads, `plan` builds and signs the chains, `drive` runs the
//! terminals and the per-second collector, `ceiling` measures the verify
//! rate, `report` and `plot` write the results.

mod ceiling;
mod drive;
pub mod flood;
mod plan;
mod plot;
mod report;
mod second;
mod server;
mod setup;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use settled::client::{Client, Replicas};

pub use ceiling::{VerifyRate, verify_rate};
pub use drive::open_payment_stream;
pub use report::{Ceiling, Config, Figures, LatencyPoint, LatencySummary, LoadReport};
pub use second::Second;
pub use server::{LOG_FILE, SERVER_START_TIMEOUT, SERVER_STOP_TIMEOUT, SpawnedServer, Target};
pub use setup::{MERCHANT_MCC, describe, mint_signers, register_shops};

/// Bounds of a run's options; each is checked before anything starts.
pub const TERMINALS_MAX: usize = 1024;
pub const WALLETS_MAX: usize = 1_000_000;
pub const DURATION_S_MAX: u64 = 3600;
pub const WARMUP_S_MAX: u64 = 600;
pub const RATE_PER_S_MAX: f64 = 1_000_000.0;
/// Payments pre-signed for one wallet (or pair).
pub const CHAIN_MAX: usize = 100_000;
/// Payments pre-signed in all: about 350 bytes each in memory.
pub const PRESIGNED_TXS_MAX: usize = 4_000_000;
pub const PRELOAD_MAX: u64 = 100_000_000;
/// Seconds of each verify-ceiling measurement.
pub const CEILING_S_MAX: f64 = 60.0;
/// Merchants registered for the retail workload (MCC 5411, grocery).
pub const MERCHANTS: usize = 20;
/// Payments in flight per terminal by default.
pub const WINDOW_STREAMING_DEFAULT: usize = 64;
pub const WINDOW_UNARY_DEFAULT: usize = 1;
/// Extra payments pre-signed over the expected count, so that chains last
/// the run even when the server beats the estimate.
const CHAIN_HEADROOM: f64 = 1.3;
/// How much faster than the single-verification ceiling the server may
/// confirm in closed loop: its verify stage checks signatures in batches,
/// about 1.6x cheaper per signature at 64 (benches/signatures.rs), more for
/// payments of two signatures. Chains sized on the ceiling alone ran out.
const BATCH_SPEEDUP_MAX: f64 = 2.0;
/// Length of the quick verify measurement that sizes the chains in closed loop.
const CALIBRATION: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// 1 input, 2 outputs (merchant and change), 1 signature.
    Retail,
    /// 2 inputs, 2 outputs, 2 signatures: pairs of wallets paying each other.
    Opencbdc,
}

impl Workload {
    #[must_use]
    pub fn signatures_per_payment(self) -> u32 {
        match self {
            Self::Retail => 1,
            Self::Opencbdc => 2,
        }
    }

    /// Wallets that pay together in one chain.
    #[must_use]
    pub fn wallets_per_lane(self) -> usize {
        match self {
            Self::Retail => 1,
            Self::Opencbdc => 2,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Retail => "retail",
            Self::Opencbdc => "opencbdc",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `PaymentService.SubmitPayment`, one call per payment.
    Unary,
    /// `PaymentService.SubmitPayments`, one bidirectional stream per terminal.
    Streaming,
}

impl Mode {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Unary => "unary",
            Self::Streaming => "streaming",
        }
    }
}

/// What to run. `LoadOptions::default()` is the command's defaults.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub workload: Workload,
    pub mode: Mode,
    pub terminals: usize,
    /// Payments in flight per terminal; by mode when `None`.
    pub window: Option<usize>,
    /// Payments per second, Poisson arrivals; 0 = closed loop at the maximum.
    pub rate_per_s: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub wallets: usize,
    /// Payments pre-signed per wallet (or pair); enough to last the run when `None`.
    pub chain: Option<usize>,
    /// Unspent outputs the ledger should hold before the run (minted as needed).
    pub preload: u64,
    /// Length of each verify-ceiling measurement.
    pub ceiling: Duration,
    /// Seed of amounts, payees, wallet keys and arrivals.
    pub seed: u64,
    /// JSON result file; `load-<workload>-<mode>.json` when `None`.
    pub out: Option<PathBuf>,
    /// SVG plot; the JSON path with `.svg` when `None`.
    pub svg: Option<PathBuf>,
    /// Print progress every second.
    pub progress: bool,
    /// Forged payments a flooding terminal keeps in flight beside the
    /// load (`load/flood.rs`); 0: no flood.
    pub flood_window: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            workload: Workload::Retail,
            mode: Mode::Streaming,
            terminals: 16,
            window: None,
            rate_per_s: 0.0,
            warmup: Duration::from_secs(3),
            duration: Duration::from_secs(20),
            wallets: 4096,
            chain: None,
            preload: 0,
            ceiling: Duration::from_secs(2),
            seed: 1,
            out: None,
            svg: None,
            progress: true,
            flood_window: 0,
        }
    }
}

impl LoadOptions {
    /// The JSON result path.
    #[must_use]
    pub fn out_path(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| format!("load-{}-{}.json", self.workload.name(), self.mode.name()).into())
    }

    /// The SVG plot path.
    #[must_use]
    pub fn svg_path(&self) -> PathBuf {
        self.svg.clone().unwrap_or_else(|| self.out_path().with_extension("svg"))
    }

    fn lanes(&self) -> usize {
        self.wallets / self.workload.wallets_per_lane()
    }

    /// The window in force: by mode, at most the lanes of one terminal (a
    /// lane never has two payments in flight) and the server's stream limit.
    fn window(&self) -> usize {
        let default = match self.mode {
            Mode::Unary => WINDOW_UNARY_DEFAULT,
            Mode::Streaming => WINDOW_STREAMING_DEFAULT,
        };
        let lanes_per_terminal = self.lanes() / self.terminals;
        self.window.unwrap_or(default).clamp(1, settled::limits::STREAM_IN_FLIGHT_MAX).min(lanes_per_terminal)
    }

    fn check(&self) -> Result<(), LoadError> {
        let fail = |what: String| Err(LoadError::Options(what));
        if self.terminals == 0 || self.terminals > TERMINALS_MAX {
            return fail(format!("--terminals {} is not in 1..={TERMINALS_MAX}", self.terminals));
        }
        if self.wallets > WALLETS_MAX {
            return fail(format!("--wallets {} is above {WALLETS_MAX}", self.wallets));
        }
        if self.workload == Workload::Opencbdc && !self.wallets.is_multiple_of(2) {
            return fail(format!(
                "--wallets {}: the opencbdc workload pairs wallets, give an even number",
                self.wallets
            ));
        }
        if self.lanes() < self.terminals {
            return fail(format!(
                "{} wallets make {} {} for {} terminals: each terminal needs at least one",
                self.wallets,
                self.lanes(),
                if self.workload == Workload::Opencbdc { "pairs" } else { "payers" },
                self.terminals
            ));
        }
        if !(0.0..=RATE_PER_S_MAX).contains(&self.rate_per_s) {
            return fail(format!("--rate {} is not in 0..={RATE_PER_S_MAX}", self.rate_per_s));
        }
        if self.duration.is_zero() || self.duration.as_secs() > DURATION_S_MAX || self.duration.subsec_nanos() != 0 {
            return fail(format!("--duration-s must be whole seconds in 1..={DURATION_S_MAX}"));
        }
        if self.warmup.as_secs() > WARMUP_S_MAX || self.warmup.subsec_nanos() != 0 {
            return fail(format!("--warmup-s must be whole seconds in 0..={WARMUP_S_MAX}"));
        }
        if self.flood_window > flood::FLOOD_WINDOW_MAX {
            return fail(format!("--flood-window is in 0..={}", flood::FLOOD_WINDOW_MAX));
        }
        if self.chain.is_some_and(|c| c == 0 || c > CHAIN_MAX) {
            return fail(format!("--chain is in 1..={CHAIN_MAX}"));
        }
        if self.preload > PRELOAD_MAX {
            return fail(format!("--preload {} is above {PRELOAD_MAX}", self.preload));
        }
        if self.ceiling.is_zero() || self.ceiling.as_secs_f64() > CEILING_S_MAX {
            return fail(format!("--ceiling-s is in (0, {CEILING_S_MAX}]"));
        }
        if self.window.is_some_and(|w| w == 0 || w > settled::limits::STREAM_IN_FLIGHT_MAX) {
            return fail(format!("--window is in 1..={}", settled::limits::STREAM_IN_FLIGHT_MAX));
        }
        Ok(())
    }
}

/// Where the server comes from.
pub enum ServerSpec {
    /// Spawn `bin serve --dev` on a free loopback port over `data_dir` (a
    /// temporary directory when `None`), and stop it at the end.
    Spawn { bin: PathBuf, data_dir: Option<PathBuf> },
    /// A server already running (another process, or one started in this
    /// process by a test).
    External(Target),
}

#[derive(Debug)]
pub enum LoadError {
    /// The options do not make a run.
    Options(String),
    /// The server could not be started, reached or stopped.
    Server(String),
    /// A setup step (registration, mint) was refused or failed.
    Setup(String),
    /// The load itself failed (a stream broke, a result made no sense).
    Drive(String),
    /// The result files could not be written.
    Output(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Options(m) => write!(f, "options: {m}"),
            Self::Server(m) => write!(f, "server: {m}"),
            Self::Setup(m) => write!(f, "setup: {m}"),
            Self::Drive(m) => write!(f, "load: {m}"),
            Self::Output(m) => write!(f, "output: {m}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Runs the load, prints the summary, writes the JSON and SVG files.
///
/// # Errors
/// Invalid options, a server that cannot be started or reached, a refused
/// setup step, a broken stream, or unwritable result files.
pub async fn run(options: &LoadOptions, server: ServerSpec) -> Result<LoadReport, LoadError> {
    options.check()?;
    let (spawned, target) = match server {
        ServerSpec::Spawn { bin, data_dir } => {
            let (spawned, target) = SpawnedServer::start(&bin, data_dir).await?;
            (Some(spawned), target)
        }
        ServerSpec::External(target) => (None, target),
    };
    let outcome = run_against(options, &target, spawned.as_ref()).await;
    if let Some(spawned) = spawned {
        let stopped = spawned.stop().await;
        if outcome.is_ok() {
            stopped?;
        }
    }
    let report = outcome?;
    report.print_summary();
    let (out, svg) = (options.out_path(), options.svg_path());
    report.write_json(&out)?;
    plot::write_svg(&svg, &report)?;
    println!("wrote {} and {}", out.display(), svg.display());
    Ok(report)
}

async fn run_against(
    options: &LoadOptions,
    target: &Target,
    spawned: Option<&SpawnedServer>,
) -> Result<LoadReport, LoadError> {
    let started_unix_ms = settled::now_unix_ms();
    // A cluster: setup and terminals start on the leader.
    let leader_target;
    let target = if target.replicas.len() > 1 {
        let replicas = Replicas::lazy_with_token(&target.replicas, &target.token).map_err(LoadError::Options)?;
        replicas
            .find_leader()
            .await
            .map_err(|s| LoadError::Server(format!("finding the leader: {}", setup::describe(&s))))?;
        leader_target = Target { url: replicas.current_url().to_owned(), ..target.clone() };
        println!("cluster of {} replicas; leader at {}", target.replicas.len(), leader_target.url);
        &leader_target
    } else {
        target
    };
    let mut admin = Client::connect_with_token(&target.url, &target.token)
        .await
        .map_err(|e| LoadError::Server(format!("connecting to {}: {e}", target.url)))?;
    let ledger = setup::Ledger::read(&mut admin, &target.issuers).await?;
    let run_tag = hex_tag();
    println!(
        "server {} (currency {}, exponent {}, {} unspent outputs); run tag {run_tag}",
        target.url, ledger.currency, ledger.exponent, ledger.unspent_count
    );

    let started = Instant::now();
    setup::preload(&admin, &ledger, options.preload, &run_tag, options.progress).await?;
    let merchants = setup::register_merchants(&mut admin, &run_tag).await?;
    let first_shop = (setup::shop_id(&run_tag, 0), merchants[0]);

    let lanes_n = options.lanes();
    let signatures = options.workload.signatures_per_payment();
    let chain = match options.chain {
        Some(chain) => chain,
        None => {
            let expected_per_s = if options.rate_per_s > 0.0 {
                options.rate_per_s
            } else {
                let calibration = tokio::task::spawn_blocking(|| verify_rate(CALIBRATION))
                    .await
                    .map_err(|e| LoadError::Setup(format!("verify calibration: {e}")))?;
                calibration.per_s / f64::from(signatures) * BATCH_SPEEDUP_MAX
            };
            chain_for(expected_per_s, options.warmup + options.duration, lanes_n)
        }
    };
    if chain.saturating_mul(lanes_n) > PRESIGNED_TXS_MAX {
        return Err(LoadError::Options(format!(
            "{lanes_n} chains of {chain} payments are more than {PRESIGNED_TXS_MAX} pre-signed payments: \
             give fewer --wallets or a shorter --chain"
        )));
    }
    let unit_minor = 10u64.pow(ledger.exponent);
    let mut plans = plan::plan(options.workload, lanes_n, chain, unit_minor, merchants.len(), options.seed);
    let mints = plan::funding_mints(&mut plans, &ledger.chain_id, &run_tag, &ledger.signers());
    let mints_n = mints.len();
    setup::submit_mints(&admin, mints, "funding", options.progress).await?;
    let wallets_funded: usize = plans.iter().map(|p| p.keys.len()).sum();
    println!(
        "funded {wallets_funded} wallets in {mints_n} mints; pre-signing up to {chain} payments per {} ...",
        if options.workload == Workload::Opencbdc { "pair" } else { "wallet" }
    );
    let presign_started = Instant::now();
    let progress = options.progress;
    let workload = options.workload;
    let chain_id = ledger.chain_id;
    let lanes = tokio::task::spawn_blocking(move || plan::presign(workload, &chain_id, plans, &merchants, progress))
        .await
        .map_err(|e| LoadError::Setup(format!("pre-signing: {e}")))?;
    let presigned: usize = lanes.iter().map(drive::Lane::len).sum();
    println!(
        "pre-signed {presigned} payments ({} signatures) in {:.1} s; setup took {:.1} s",
        presigned * signatures as usize,
        presign_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    let unspent_at_start = admin
        .info(false)
        .await
        .map_err(|s| LoadError::Server(format!("GetInfo: {}", setup::describe(&s))))?
        .unspent_count;
    let before = measure_ceiling(options.ceiling, "before").await?;
    let window = options.window();
    let drive_config = drive::DriveConfig {
        mode: options.mode,
        terminals: options.terminals,
        window,
        rate_per_s: options.rate_per_s,
        warmup: options.warmup,
        duration: options.duration,
        seed: options.seed,
        server_pid: target.pid,
        progress: options.progress,
    };
    println!(
        "load: {} {} {}, {} terminals x {window} in flight, {lanes_n} {} for {} s after {} s of warmup",
        options.workload.name(),
        options.mode.name(),
        if options.rate_per_s > 0.0 {
            format!("open loop at {} payments/s", options.rate_per_s)
        } else {
            "closed loop".into()
        },
        options.terminals,
        if options.workload == Workload::Opencbdc { "pairs" } else { "wallets" },
        options.duration.as_secs(),
        options.warmup.as_secs()
    );
    let flood = if options.flood_window > 0 {
        let shop = (first_shop.0.as_str(), first_shop.1);
        Some(flood::start(&mut admin, &target.url, &ledger.chain_id, shop, options.flood_window, &run_tag).await?)
    } else {
        None
    };
    let driven = drive::drive(target, lanes, &drive_config).await?;
    let flood_refused = match flood {
        Some(flood) => {
            let flooded = flood.stop().await?;
            println!(
                "flood: {} forged payments refused BAD_SIGNATURE ({:.0}/s) beside the load, {} in flight",
                flooded.refused, flooded.per_s, options.flood_window
            );
            flooded.refused
        }
        None => 0,
    };
    let after = measure_ceiling(options.ceiling, "after").await?;

    let config = Config {
        workload: options.workload,
        mode: options.mode,
        loop_kind: if options.rate_per_s > 0.0 { "open".into() } else { "closed".into() },
        rate_per_s: options.rate_per_s,
        terminals: options.terminals,
        window,
        wallets: options.wallets,
        lanes: lanes_n,
        chain,
        warmup_s: options.warmup.as_secs(),
        duration_s: options.duration.as_secs(),
        preload: options.preload,
        unspent_at_start,
        signatures_per_payment: signatures,
        seed: options.seed,
        server: match spawned {
            Some(s) => format!("spawned {} on {} over {}", s.bin().display(), target.url, s.data_dir().display()),
            None => format!("external {}", target.url),
        },
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        run_tag,
        started_unix_ms,
    };
    let mut report = LoadReport::new(config, driven, before, after);
    report.flood_refused = flood_refused;
    Ok(report)
}

async fn measure_ceiling(length: Duration, when: &str) -> Result<VerifyRate, LoadError> {
    let rate = tokio::task::spawn_blocking(move || verify_rate(length))
        .await
        .map_err(|e| LoadError::Drive(format!("verify ceiling: {e}")))?;
    println!("ceiling {when} the load: {:.0} k256 BIP340 verifies/s on {} threads", rate.per_s, rate.threads);
    Ok(rate)
}

/// Payments per chain for `expected_per_s` over `run`, spread over `lanes`.
fn chain_for(expected_per_s: f64, run: Duration, lanes: usize) -> usize {
    let expected = expected_per_s * run.as_secs_f64() * CHAIN_HEADROOM;
    // A float estimate, rounded up and bounded.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_lane = (expected / lanes.max(1) as f64).ceil() as usize;
    per_lane.saturating_add(2).clamp(2, CHAIN_MAX)
}

fn hex_tag() -> String {
    crate::hex(&rand::random::<[u8; 5]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_cover_the_expected_payments_with_headroom() {
        let chain = chain_for(10_000.0, Duration::from_secs(23), 4096);
        assert!(chain * 4096 >= 230_000, "{chain}");
        assert!(chain * 4096 <= 400_000, "{chain}");
        assert_eq!(chain_for(1e12, Duration::from_secs(3600), 1), CHAIN_MAX);
    }

    #[test]
    fn the_window_never_exceeds_the_lanes_of_a_terminal() {
        let options = LoadOptions { wallets: 64, terminals: 16, window: Some(64), ..LoadOptions::default() };
        assert_eq!(options.window(), 4);
        let pairs = LoadOptions { workload: Workload::Opencbdc, ..options };
        assert_eq!(pairs.window(), 2);
    }

    #[test]
    fn a_flood_window_past_the_servers_stream_limit_is_refused() {
        let at_limit = LoadOptions { flood_window: flood::FLOOD_WINDOW_MAX, ..LoadOptions::default() };
        assert!(at_limit.check().is_ok());
        let past = LoadOptions { flood_window: flood::FLOOD_WINDOW_MAX + 1, ..LoadOptions::default() };
        assert!(matches!(past.check(), Err(LoadError::Options(_))));
    }

    #[test]
    fn odd_wallets_are_refused_for_pairs() {
        let options = LoadOptions { workload: Workload::Opencbdc, wallets: 33, ..LoadOptions::default() };
        assert!(matches!(options.check(), Err(LoadError::Options(_))));
    }
}
