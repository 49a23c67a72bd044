//! `settled-simulations crash`: `kill -9` the real server under load,
//! restart it on the same data dir, and check that nothing it promised was
//! lost.
//!
//! Setup registers a bank (with its own token), merchants and wallets at it,
//! and funds the wallets with mints. Each round, payment clients (unary and
//! streaming, alternately, each on its own connection) spend the wallets'
//! coins with one payment in flight per wallet, each signed when the change
//! of the one before comes back, and keep every receipt they are given; the
//! bank follows its movements live, and a minter issues small mints. At a seeded random moment between
//! `KILL_AFTER_MIN` and `KILL_AFTER_MAX` into the round the server is
//! SIGKILLed, often in the middle of a block commit, and restarted; a share
//! of the restarts is itself killed while the server opens and recovers the
//! data file. Then:
//!
//! - (a) every receipt given (this round's, all of them, and a sample of the
//!   earlier rounds') is in the ledger at the same sequence and block;
//! - (b) the chain audit passes (hashes, engine signatures, Merkle roots,
//!   gapless sequences, supply = minted - burned = sum of unspent), and the
//!   counted unspent set agrees with it;
//! - (c) every payment whose outcome the kill made unknown is resubmitted and
//!   comes back as the original (a duplicate) or is confirmed now, never
//!   refused as spent by another transaction; every wallet's coin is still
//!   unspent, and the wallet continues from what `ListUnspent` says;
//! - (d) the bank's stream, resumed from the cursor it had at the kill,
//!   verifies every checkpoint (engine signature, hash chain, running totals)
//!   to the tip: no gap, no duplicate.
//!
//! The first violation ends the run with the round, the check, and the data
//! dir, which is kept with the server logs of before and after the kill.
//!
//! Module map: `setup` registers and funds, `clients` drives one round's
//! payments, `checks` runs the checks after a restart.

mod checks;
mod clients;
mod setup;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client::Client;
use settled::follow::{Cursor, Follower};
use settled::{Address, Keypair, OutPoint, Output, Transaction, TxId};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::load::{LOG_FILE, LoadError, SpawnedServer, Target};

/// Bounds of a run's options; each is checked before anything starts.
pub const ROUNDS_MAX: u64 = 100_000;
pub const CLIENTS_MAX: usize = 64;
/// Wallets per client: also the payments a client has in flight at most.
pub const WALLETS_PER_CLIENT_MAX: usize = 256;
pub const PAYMENTS_PER_ROUND_MAX: usize = 1_000_000;
/// The kill comes this long after the round's clients start, uniformly at
/// random in between: early kills land while connections open, late ones
/// after hundreds of blocks, and most of them while a block is being written.
pub const KILL_AFTER_MIN: Duration = Duration::from_millis(5);
pub const KILL_AFTER_MAX: Duration = Duration::from_millis(1000);
/// The share of restarts that are themselves killed, this long after the
/// process starts: while it opens the data file, which redb repairs after an
/// unclean shutdown, and recovers the ledger (15-30 ms for a small ledger).
pub const RECOVERY_KILL_PROBABILITY: f64 = 0.25;
pub const RECOVERY_KILL_AFTER_MIN: Duration = Duration::from_millis(1);
pub const RECOVERY_KILL_AFTER_MAX: Duration = Duration::from_millis(60);
/// How long the clients may take after the kill to read what the dead server
/// had already sent (every call fails within milliseconds of the kill).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the bank's stream may take to end after the kill, or to catch up
/// to the tip after the restart.
pub const FOLLOW_TIMEOUT: Duration = Duration::from_secs(60);
/// Receipts of earlier rounds kept, and checked again after every restart (a
/// uniform sample of all of them).
pub const RECHECK_RECEIPTS_MAX: usize = 4096;
/// Requests the checks have in flight at once.
pub const CHECKS_IN_FLIGHT_MAX: usize = 64;
/// Resubmissions of one unknown-outcome payment refused as overloaded before
/// the run gives up.
pub const RESOLVE_ATTEMPTS_MAX: u32 = 100;
/// Pages of `ListUnspent` read for one wallet (a wallet holds its coin and
/// the small leftovers of the coins it was refilled over).
pub const UNSPENT_PAGES_MAX: usize = 16;
/// Mints the round's minter issues at most (one at a time, so a few hundred
/// before the kill).
pub const MINTS_PER_ROUND_MAX: usize = 100_000;
/// Merchants the wallets pay (MCC 5411, grocery), all at the run's bank.
pub const MERCHANTS: usize = 4;
/// What a wallet is funded with, and the coin below which it is topped up
/// before a round: 10,000.00 and 100.00 at exponent 2, within tier 3's
/// balance cap (500,000.00).
pub const FUND_MINOR: u64 = 1_000_000;
pub const REFILL_BELOW_MINOR: u64 = 10_000;
/// Payments are 0.01 to 0.20: tier 3's daily limit (100,000.00) allows a
/// million of them per wallet and day.
pub const PAYMENT_MINOR_MAX: u64 = 20;
/// The tier the run's wallets are registered in.
pub const WALLET_TIER: u32 = 3;
/// The spawned server's log of the round before the last kill, beside its
/// current log in the data dir.
pub const LOG_BEFORE_KILL_FILE: &str = "crash-server-before-kill.log";

/// What to run. `CrashOptions::new(bin)` is the command's defaults.
#[derive(Clone, Debug)]
pub struct CrashOptions {
    pub rounds: u64,
    /// Seed of the kill moments, amounts, payees and client modes.
    pub seed: u64,
    /// Data dir of the server, kept (and reused); a temporary one when
    /// `None`, kept only when a check fails.
    pub data_dir: Option<PathBuf>,
    /// The `settled` binary to spawn.
    pub settled_bin: PathBuf,
    /// Payments submitted per round at most (the kill usually comes first).
    pub payments_per_round: usize,
    /// Concurrent clients, alternately unary and streaming.
    pub clients: usize,
    pub wallets_per_client: usize,
    /// Print a line per round.
    pub progress: bool,
}

impl CrashOptions {
    #[must_use]
    pub fn new(settled_bin: PathBuf) -> Self {
        Self {
            rounds: 10,
            seed: 1,
            data_dir: None,
            settled_bin,
            payments_per_round: 20_000,
            clients: 8,
            wallets_per_client: 8,
            progress: true,
        }
    }

    fn check(&self) -> Result<(), CrashError> {
        let fail = |what: String| Err(CrashError::Options(what));
        if self.rounds == 0 || self.rounds > ROUNDS_MAX {
            return fail(format!("--rounds {} is not in 1..={ROUNDS_MAX}", self.rounds));
        }
        if self.clients == 0 || self.clients > CLIENTS_MAX {
            return fail(format!("--clients {} is not in 1..={CLIENTS_MAX}", self.clients));
        }
        if self.wallets_per_client == 0 || self.wallets_per_client > WALLETS_PER_CLIENT_MAX {
            return fail(format!(
                "--wallets-per-client {} is not in 1..={WALLETS_PER_CLIENT_MAX}",
                self.wallets_per_client
            ));
        }
        if self.payments_per_round == 0 || self.payments_per_round > PAYMENTS_PER_ROUND_MAX {
            return fail(format!(
                "--payments-per-round {} is not in 1..={PAYMENTS_PER_ROUND_MAX}",
                self.payments_per_round
            ));
        }
        Ok(())
    }
}

/// Which promise a violation broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// (a) A receipt given is not in the ledger as given, or is not valid.
    Receipts,
    /// (b) The chain audit failed or disagrees with the counted unspent set.
    Audit,
    /// (c) An output spent twice, or a refusal that only a double spend explains.
    DoubleSpend,
    /// (c) A wallet's coin is not unspent after the restart.
    Wallets,
    /// (d) The bank's stream did not resume with no gap and no duplicate.
    BankStream,
    /// The server failed, refused or answered something unexpected outside a kill.
    Server,
}

impl Check {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Receipts => "(a) receipts in the ledger",
            Self::Audit => "(b) chain audit",
            Self::DoubleSpend => "(c) no double spend",
            Self::Wallets => "(c) wallet coins unspent",
            Self::BankStream => "(d) bank stream resumed without gap",
            Self::Server => "server behaviour",
        }
    }
}

/// A broken promise, as the harness saw it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub check: Check,
    pub detail: String,
}

impl Violation {
    fn new(check: Check, detail: impl Into<String>) -> Self {
        Self { check, detail: detail.into() }
    }
}

#[derive(Debug)]
pub enum CrashError {
    /// The options do not make a run.
    Options(String),
    /// The server could not be started, reached or stopped.
    Server(String),
    /// A setup step (registration, mint) was refused or failed.
    Setup(String),
    /// A check failed: the point of the harness.
    Violation { round: u64, violation: Violation, data_dir: PathBuf },
}

impl fmt::Display for CrashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Options(m) => write!(f, "options: {m}"),
            Self::Server(m) => write!(f, "server: {m}"),
            Self::Setup(m) => write!(f, "setup: {m}"),
            Self::Violation { round, violation, data_dir } => write!(
                f,
                "VIOLATION in round {round}, check {}: {}\ndata dir kept at {} (server logs: {LOG_BEFORE_KILL_FILE} \
                 before the kill, {LOG_FILE} after the restart)",
                violation.check.name(),
                violation.detail,
                data_dir.display()
            ),
        }
    }
}

impl std::error::Error for CrashError {}

impl From<LoadError> for CrashError {
    fn from(error: LoadError) -> Self {
        Self::Server(error.to_string())
    }
}

/// What a run survived.
#[derive(Clone, Debug, Default)]
pub struct CrashReport {
    pub rounds: u64,
    /// Payments the clients were given a receipt for during the rounds.
    pub payments_confirmed: u64,
    pub unary_confirmed: u64,
    pub streamed_confirmed: u64,
    /// Receipts found in the ledger as given (`GetPayment`), rechecks included.
    pub receipts_checked: u64,
    /// Payments in flight at a kill, resubmitted after the restart.
    pub unknown_resolved: u64,
    /// ... of which the ledger had committed before the kill (the answer was lost).
    pub resolved_committed: u64,
    /// ... of which had not been durable, and were confirmed on resubmission.
    pub resolved_fresh: u64,
    /// Mints the minter was given a receipt for during the rounds.
    pub mints_confirmed: u64,
    /// Mints in flight at a kill, resubmitted after the restart.
    pub mints_resolved: u64,
    /// Rounds whose kill left committed payments unanswered: it came between
    /// a block's commit and its replies.
    pub kills_after_commit: u64,
    /// Bank checkpoints verified, across the kills.
    pub checkpoints_verified: u64,
    /// Restarts killed while the server opened and recovered the ledger.
    pub recovery_kills: u64,
    /// Wallets that stopped paying because of their tier's daily limit.
    pub wallets_retired: u64,
    pub audited_blocks: u64,
    pub audited_transactions: u64,
    pub restart_ms_total: u64,
    pub restart_ms_max: u64,
    pub elapsed: Duration,
}

impl CrashReport {
    #[must_use]
    pub fn summary(&self) -> String {
        let restart_ms_mean = self.restart_ms_total / self.rounds.max(1);
        format!(
            "crash: {} rounds survived in {:.1} s: {} payments confirmed ({} unary, {} streamed) and found in the \
             ledger; {} receipt checks; {} unknown-outcome payments resolved ({} committed before the kill, {} \
             confirmed on resubmission; {} kills landed between a commit and its replies); {} mints confirmed, {} \
             in doubt resolved; {} bank checkpoints \
             verified across the kills; {} restarts killed during recovery; last audit {} blocks, {} transactions; restart {restart_ms_mean} ms mean, \
             {} ms max{}",
            self.rounds,
            self.elapsed.as_secs_f64(),
            self.payments_confirmed,
            self.unary_confirmed,
            self.streamed_confirmed,
            self.receipts_checked,
            self.unknown_resolved,
            self.resolved_committed,
            self.resolved_fresh,
            self.kills_after_commit,
            self.mints_confirmed,
            self.mints_resolved,
            self.checkpoints_verified,
            self.recovery_kills,
            self.audited_blocks,
            self.audited_transactions,
            self.restart_ms_max,
            if self.wallets_retired > 0 {
                format!("; {} wallets retired at their daily limit", self.wallets_retired)
            } else {
                String::new()
            }
        )
    }
}

/// A receipt a client was given, reduced to what the ledger must still say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Given {
    pub txid: TxId,
    pub sequence: u64,
    pub height: u64,
    pub block_hash: [u8; 32],
}

impl Given {
    fn from_receipt(receipt: &settled::Receipt) -> Self {
        Self {
            txid: receipt.txid,
            sequence: receipt.sequence,
            height: receipt.block.header.height,
            block_hash: receipt.block.header.hash(),
        }
    }
}

/// A wallet of the run and where its chain of payments stands.
pub(crate) struct Wallet {
    pub id: usize,
    pub key: Keypair,
    /// What its next payment spends.
    pub coin: Option<(OutPoint, Output)>,
    /// A payment sent whose outcome is not known yet (in flight, parked
    /// after an overload, or cut off by the kill).
    pub pending: Option<Transaction>,
    /// Refused by its tier's daily limit: pays no more in this run.
    pub retired: bool,
}

impl Wallet {
    fn address(&self) -> Address {
        self.key.address()
    }
}

/// The run's fixed cast, from setup.
pub(crate) struct World {
    pub tag: String,
    pub bank_id: String,
    pub bank_token: String,
    pub merchants: Arc<Vec<Address>>,
    pub engine_key: Address,
    /// The ledger's chain id, pinned at setup like the engine key.
    pub chain: settled::ChainId,
    pub signers: Vec<Keypair>,
}

/// Runs the rounds, printing a line per round and the summary.
///
/// # Errors
/// Invalid options, a server that cannot be started, a refused setup step,
/// or the first violated check.
pub async fn run(options: &CrashOptions) -> Result<CrashReport, CrashError> {
    options.check()?;
    let (temp, data_dir) = match &options.data_dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("settled-crash-")
                .tempdir()
                .map_err(|e| CrashError::Server(format!("temporary data dir: {e}")))?;
            let dir = temp.path().to_owned();
            (Some(temp), dir)
        }
    };
    let outcome = run_in(options, &data_dir).await;
    if let (Err(CrashError::Violation { .. }), Some(temp)) = (&outcome, temp) {
        // The evidence outlives the run.
        let _ = temp.keep();
    }
    let report = outcome?;
    if options.progress {
        println!("{}", report.summary());
    }
    Ok(report)
}

/// The server of the current round and how to reach it.
struct Live {
    /// `None` once killed.
    server: Option<SpawnedServer>,
    target: Target,
    admin: Client,
}

impl Live {
    async fn start(bin: &Path, data_dir: &Path) -> Result<Self, CrashError> {
        let (server, target) = SpawnedServer::start(bin, Some(data_dir.to_owned())).await?;
        let admin = Client::connect_with_token(&target.url, &target.token)
            .await
            .map_err(|e| CrashError::Server(format!("connecting to {}: {e}", target.url)))?;
        Ok(Self { server: Some(server), target, admin })
    }

    async fn bank_client(&self, token: &str) -> Result<Client, CrashError> {
        let client = Client::connect(&self.target.url)
            .await
            .map_err(|e| CrashError::Server(format!("connecting to {}: {e}", self.target.url)))?;
        Ok(client.with_credential(settled::client::Credential::token(token)))
    }
}

async fn run_in(options: &CrashOptions, data_dir: &Path) -> Result<CrashReport, CrashError> {
    let started = Instant::now();
    let mut run = Run::set_up(options, data_dir).await?;
    for round in 1..=options.rounds {
        run.round(round).await?;
    }
    // What the last resolutions confirmed is checked once more.
    let last =
        run.checker.receipts(&run.live.admin, &run.unchecked).await.map_err(|v| run.violation(options.rounds, v))?;
    run.report.receipts_checked += last;
    if let Some(server) = run.live.server.take() {
        server.stop().await?;
    }
    run.report.elapsed = started.elapsed();
    Ok(run.report)
}

/// A run between rounds: the server, the cast, what the checks carry over.
struct Run<'a> {
    options: &'a CrashOptions,
    data_dir: &'a Path,
    live: Live,
    world: World,
    wallets: Vec<Wallet>,
    kill_rng: StdRng,
    checker: checks::Checker,
    /// The bank's follower's cursor, kept across the kills.
    cursor: Cursor,
    /// Receipts given since the last restart's checks.
    unchecked: Vec<Given>,
    report: CrashReport,
}

/// What a round had done when the server was killed.
struct Killed {
    kill_after: Duration,
    unary_confirmed: u64,
    streamed_confirmed: u64,
    payments_in_doubt: u64,
    mints_confirmed: u64,
    mint_in_doubt: Option<Transaction>,
    checkpoints: u64,
}

impl<'a> Run<'a> {
    async fn set_up(options: &'a CrashOptions, data_dir: &'a Path) -> Result<Self, CrashError> {
        let mut live = Live::start(&options.settled_bin, data_dir).await?;
        let wallets_n = options.clients * options.wallets_per_client;
        let (world, wallets) = setup::create(&mut live.admin, &live.target, wallets_n).await?;
        if options.progress {
            println!(
                "crash: run tag {}, bank {} with {MERCHANTS} merchants and {wallets_n} wallets, {} clients ({} \
                 unary, {} streaming) and a minter, up to {} payments per round, {} rounds, seed {}",
                world.tag,
                world.bank_id,
                options.clients,
                options.clients.div_ceil(2),
                options.clients / 2,
                options.payments_per_round,
                options.rounds,
                options.seed
            );
        }
        Ok(Self {
            options,
            data_dir,
            live,
            cursor: Cursor::new(&world.bank_id),
            world,
            wallets,
            kill_rng: StdRng::seed_from_u64(options.seed),
            checker: checks::Checker::new(options.seed),
            unchecked: Vec::new(),
            report: CrashReport::default(),
        })
    }

    fn violation(&self, round: u64, violation: Violation) -> CrashError {
        CrashError::Violation { round, violation, data_dir: self.data_dir.to_owned() }
    }

    /// Load, kill, restart, check; one line about it.
    async fn round(&mut self, round: u64) -> Result<(), CrashError> {
        let round_started = Instant::now();
        let mut refill = setup::refill(&mut self.live.admin, &self.world, &mut self.wallets, round).await?;
        self.unchecked.append(&mut refill);
        let mut killed = self.load_and_kill(round).await?;
        let (recovery_kill, restart_ms) = self.restart(round).await?;

        let checks_started = Instant::now();
        let bank = self.live.bank_client(&self.world.bank_token).await?;
        let left =
            checks::Left { given: std::mem::take(&mut self.unchecked), mint_in_doubt: killed.mint_in_doubt.take() };
        let mut checked = self
            .checker
            .after_restart(&mut self.live.admin, bank, &self.world, &mut self.wallets, self.cursor.clone(), left)
            .await
            .map_err(|v| self.violation(round, v))?;
        self.cursor = checked.cursor.clone();
        self.unchecked = std::mem::take(&mut checked.resolved_receipts);
        self.record(round, &killed, &checked);
        if self.options.progress {
            println!(
                "round {round}/{}: kill -9 {} ms into the load: {} payments confirmed ({} unary, {} streamed), {} in \
                 doubt, {} mints ({} in doubt); {}restarted in {restart_ms} ms; {} receipts match the ledger; audit \
                 ok ({} blocks); {} resolved ({} committed before the kill, {} confirmed now); bank stream verified \
                 to block {} ({} checkpoints); checks {} ms, round {} ms",
                self.options.rounds,
                killed.kill_after.as_millis(),
                killed.unary_confirmed + killed.streamed_confirmed,
                killed.unary_confirmed,
                killed.streamed_confirmed,
                killed.payments_in_doubt,
                killed.mints_confirmed,
                checked.mints_resolved,
                recovery_kill.map_or_else(String::new, |after| format!(
                    "killed again {} ms into the restart, ",
                    after.as_millis()
                )),
                checked.receipts,
                checked.audit_blocks,
                checked.resolved_committed + checked.resolved_fresh,
                checked.resolved_committed,
                checked.resolved_fresh,
                self.cursor.after_height.unwrap_or(0),
                killed.checkpoints + checked.checkpoints,
                checks_started.elapsed().as_millis(),
                round_started.elapsed().as_millis(),
            );
        }
        Ok(())
    }

    /// Starts the bank's follower, the minter and the payment clients, kills
    /// the server at the round's moment, and collects what each had when it
    /// learned of the kill.
    async fn load_and_kill(&mut self, round: u64) -> Result<Killed, CrashError> {
        let options = self.options;
        let follower = Follower::new(self.live.bank_client(&self.world.bank_token).await?, self.cursor.clone(), None)
            .await
            .map_err(|e| CrashError::Server(format!("bank follower: {e}")))?;
        let follow = tokio::spawn(follow_live(follower));

        let killing = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = watch::channel(false);
        let round_seed = options.seed ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let minter = clients::Minter {
            round,
            tag: self.world.tag.clone(),
            signers: self.world.signers.clone(),
            merchants: Arc::clone(&self.world.merchants),
            engine_key: self.world.engine_key,
            chain: self.world.chain,
            seed: round_seed ^ 0xfeed,
            killing: Arc::clone(&killing),
            stop: stopped.clone(),
        };
        let (url, token) = (self.live.target.url.clone(), self.live.target.token.clone());
        let minting = {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move { minter.run(&url, &token).await })
        };
        let mut shares: Vec<Vec<Wallet>> = (0..options.clients).map(|_| Vec::new()).collect();
        for wallet in self.wallets.drain(..) {
            shares[wallet.id % options.clients].push(wallet);
        }
        let mut tasks: JoinSet<clients::ClientOutcome> = JoinSet::new();
        for (index, share) in shares.into_iter().enumerate() {
            let client = clients::RoundClient {
                index,
                mode: if index % 2 == 0 { clients::Mode::Unary } else { clients::Mode::Streaming },
                budget: options.payments_per_round / options.clients
                    + usize::from(index < options.payments_per_round % options.clients),
                seed: round_seed ^ (index as u64),
                round,
                merchants: Arc::clone(&self.world.merchants),
                engine_key: self.world.engine_key,
                chain: self.world.chain,
                killing: Arc::clone(&killing),
                stop: stopped.clone(),
            };
            let (url, token) = (url.clone(), token.clone());
            tasks.spawn(async move { client.run(&url, &token, share).await });
        }

        let kill_after = self.kill_rng.gen_range(KILL_AFTER_MIN..=KILL_AFTER_MAX);
        tokio::time::sleep(kill_after).await;
        killing.store(true, Ordering::SeqCst);
        // SIGKILL, then reap.
        drop(self.live.server.take());
        let _ = stop.send(true);

        let mut outcomes = Vec::with_capacity(options.clients);
        while let Some(done) = tasks.join_next().await {
            outcomes.push(done.map_err(|e| CrashError::Server(format!("client task: {e}")))?);
        }
        let minted = minting.await.map_err(|e| CrashError::Server(format!("minter task: {e}")))?;
        let Ok(followed) = tokio::time::timeout(FOLLOW_TIMEOUT, follow).await else {
            let what = format!("the bank's stream did not end {FOLLOW_TIMEOUT:?} after the kill");
            return Err(self.violation(round, Violation::new(Check::BankStream, what)));
        };
        let (follower, followed, checkpoints) =
            followed.map_err(|e| CrashError::Server(format!("bank follower task: {e}")))?;
        if let Err(settled::follow::FollowError::Mismatch(what)) = &followed {
            return Err(self.violation(round, Violation::new(Check::BankStream, format!("before the kill: {what}"))));
        }
        self.cursor = follower.cursor;

        let mut killed = Killed {
            kill_after,
            unary_confirmed: 0,
            streamed_confirmed: 0,
            payments_in_doubt: 0,
            mints_confirmed: minted.confirmed,
            mint_in_doubt: minted.pending,
            checkpoints,
        };
        let mut failure = minted.failure;
        self.unchecked.extend(minted.given);
        for outcome in outcomes {
            match outcome.mode {
                clients::Mode::Unary => killed.unary_confirmed += outcome.confirmed,
                clients::Mode::Streaming => killed.streamed_confirmed += outcome.confirmed,
            }
            self.unchecked.extend(outcome.given);
            self.report.wallets_retired += outcome.retired;
            failure = failure.or(outcome.failure);
            killed.payments_in_doubt += outcome.wallets.iter().filter(|w| w.pending.is_some()).count() as u64;
            self.wallets.extend(outcome.wallets);
        }
        self.wallets.sort_by_key(|w| w.id);
        if let Some(failure) = failure {
            return Err(self.violation(round, failure));
        }
        if self.wallets.iter().all(|w| w.retired) {
            return Err(CrashError::Setup("every wallet reached its daily limit: start a fresh run".into()));
        }
        Ok(killed)
    }

    /// Restarts the server on the same data dir, after killing one restart
    /// during recovery in a share of the rounds; that kill's moment, if any,
    /// and how long the restart took.
    async fn restart(&mut self, round: u64) -> Result<(Option<Duration>, u64), CrashError> {
        let (bin, data_dir) = (&self.options.settled_bin, self.data_dir);
        let _ = std::fs::rename(data_dir.join(LOG_FILE), data_dir.join(LOG_BEFORE_KILL_FILE));
        let not_back = |e: CrashError| {
            let what = format!("the server did not come back after the kill: {e}");
            CrashError::Violation {
                round,
                violation: Violation::new(Check::Server, what),
                data_dir: data_dir.to_owned(),
            }
        };
        let recovery_kill = if self.kill_rng.gen_bool(RECOVERY_KILL_PROBABILITY) {
            let after = self.kill_rng.gen_range(RECOVERY_KILL_AFTER_MIN..=RECOVERY_KILL_AFTER_MAX);
            // Dropping the start kills the half-started server (SIGKILL on drop).
            match tokio::time::timeout(after, Live::start(bin, data_dir)).await {
                Err(_) | Ok(Ok(_)) => Some(after),
                Ok(Err(e)) => return Err(not_back(e)),
            }
        } else {
            None
        };
        let restarting = Instant::now();
        self.live = Live::start(bin, data_dir).await.map_err(not_back)?;
        let restart_ms = u64::try_from(restarting.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.report.recovery_kills += u64::from(recovery_kill.is_some());
        self.report.restart_ms_total += restart_ms;
        self.report.restart_ms_max = self.report.restart_ms_max.max(restart_ms);
        Ok((recovery_kill, restart_ms))
    }

    fn record(&mut self, round: u64, killed: &Killed, checked: &checks::Checked) {
        let report = &mut self.report;
        report.rounds = round;
        report.unary_confirmed += killed.unary_confirmed;
        report.streamed_confirmed += killed.streamed_confirmed;
        report.payments_confirmed += killed.unary_confirmed + killed.streamed_confirmed;
        report.mints_confirmed += killed.mints_confirmed;
        report.receipts_checked += checked.receipts;
        report.unknown_resolved += checked.resolved_committed + checked.resolved_fresh;
        report.resolved_committed += checked.resolved_committed;
        report.resolved_fresh += checked.resolved_fresh;
        report.mints_resolved += checked.mints_resolved;
        report.kills_after_commit += u64::from(checked.resolved_committed > 0);
        report.checkpoints_verified += killed.checkpoints + checked.checkpoints;
        report.audited_blocks = checked.audit_blocks;
        report.audited_transactions = checked.audit_transactions;
    }
}

/// Follows the bank live until the stream breaks (the kill); the follower,
/// how it ended, and the checkpoints it verified.
async fn follow_live(mut follower: Follower) -> (Follower, Result<(), settled::follow::FollowError>, u64) {
    let mut checkpoints = 0u64;
    let result = follower
        .run(None, |event| {
            if let settled::follow::Event::Checkpoint { .. } = event {
                checkpoints += 1;
            }
        })
        .await;
    (follower, result, checkpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_out_of_bounds_are_refused_before_anything_starts() {
        let ok = CrashOptions::new(PathBuf::from("/nonexistent/settled"));
        assert!(ok.check().is_ok());
        for bad in [
            CrashOptions { rounds: 0, ..ok.clone() },
            CrashOptions { rounds: ROUNDS_MAX + 1, ..ok.clone() },
            CrashOptions { clients: CLIENTS_MAX + 1, ..ok.clone() },
            CrashOptions { wallets_per_client: WALLETS_PER_CLIENT_MAX + 1, ..ok.clone() },
            CrashOptions { payments_per_round: 0, ..ok.clone() },
        ] {
            assert!(matches!(bad.check(), Err(CrashError::Options(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_violation_names_the_round_the_check_and_the_kept_data_dir() {
        let error = CrashError::Violation {
            round: 4,
            violation: Violation::new(Check::Receipts, "txid ab is not in the ledger"),
            data_dir: PathBuf::from("/tmp/settled-crash-x"),
        };
        let text = error.to_string();
        assert!(
            text.contains("round 4") && text.contains("(a) receipts") && text.contains("/tmp/settled-crash-x"),
            "{text}"
        );
    }
}
