//! `settled-simulations crash`: `kill -9` the real server under load,
//! restart it on the same data dir, and check that nothing it promised was
//! lost.
//!
//! Setup registers a bank (with its own token), merchants and wallets at it,
//! and funds the wallets with mints. Each round, payment clients (unary and
//! streaming, alternately, each on its own connection) spend the wallets'
//! coins with one payment in flight per wallet, each signed when the change
//! of the one before comes back, and keep every receipt they are given; the
//! bank follows its movements live and redeems its merchants' takings
//! (burning money), a minter issues small mints, and a clawer claws back
//! the programme the round before disbursed to the wallets, once it has
//! ended. The clients pay until the kill: the server is SIGKILLed once they
//! have confirmed a seeded number of payments (up to
//! `payments_per_round`), and a seeded jitter of up to `KILL_JITTER_MAX`
//! later, often in the middle of a block commit, so that every kill finds
//! payments in flight; then it is restarted. A share of the restarts is
//! itself killed while the server opens and recovers the data file. Then:
//!
//! - (a) every receipt given (this round's, all of them, and a sample of the
//!   earlier rounds') is in the ledger at the same sequence and block;
//! - (b) the chain audit passes (hashes, engine signatures, Merkle roots,
//!   gapless sequences, supply = minted - burned = sum of unspent), and the
//!   counted unspent set agrees with it;
//! - (c) every payment, mint and redemption whose outcome the kill made
//!   unknown is looked up by its txid: found, it was committed before the
//!   kill; not found, it is resubmitted and must be confirmed as new, never
//!   refused as spent by another transaction. Every wallet's coin is still
//!   unspent, and the wallet continues from what `ListUnspent` says;
//! - (b) with those resolved, the ledger's minted and burned totals are the
//!   sums of the harness's own mints and redemptions, and the unspent
//!   outputs add up to the difference;
//! - (e) the programme's clawback, confirmed, cut off or not yet started at
//!   the kill, is finished: everything disbursed is in the treasury, moved
//!   once;
//! - (d) the bank's stream, resumed from the cursor it had at the kill,
//!   verifies every checkpoint (engine signature, hash chain, running totals)
//!   to the tip: no gap, no duplicate.
//!
//! The first violation ends the run with the round, the check, and the data
//! dir, which is kept with the server logs of before and after the kill.
//!
//! Module map: `setup` registers and funds, `clients` drives one round's
//! payments and mints, `redeemer` its redemptions, `programme` the
//! programmes and their clawback, `checks` runs the checks after a restart.

mod checks;
mod clients;
mod programme;
mod redeemer;
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
/// The kill comes once the round's clients have confirmed a seeded number of
/// payments, uniformly from this to `payments_per_round`, and then a seeded
/// jitter up to `KILL_JITTER_MAX` later (a couple of blocks), so that it
/// lands anywhere in a block's cycle, most often while one is being
/// written; the clients pay all along, so that every kill cuts payments off.
pub const KILL_AFTER_PAYMENTS_MIN: usize = 1;
pub const KILL_JITTER_MAX: Duration = Duration::from_millis(20);
/// Hang guard: how long the clients may take to confirm the payments the
/// kill waits for (normally well under a second). Only a server that has
/// stopped confirming reaches it.
pub const KILL_WAIT_HANG_GUARD: Duration = Duration::from_secs(120);
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
    /// Confirmed payments per round after which the kill comes at most (a
    /// seeded number of them, at least `KILL_AFTER_PAYMENTS_MIN`); the
    /// clients pay until the kill.
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
    /// (b) The ledger's minted or burned total, or its unspent outputs, are
    /// not what the harness's own mints and redemptions add up to.
    Supply,
    /// (e) A programme's clawback lost, moved twice, or incomplete.
    Clawback,
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
            Self::Supply => "(b) supply as minted and burned by the harness",
            Self::Clawback => "(e) programme clawed back once and whole",
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

/// Transactions of one kind that a kill left in doubt, and how the checks
/// after the restart resolved them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InDoubt {
    /// Sent before the kill and not answered (counted at the kill).
    pub at_kill: u64,
    /// Found in the ledger by their txid after the restart: committed before
    /// the kill, the answer lost. (For a clawback: found complete.)
    pub found_committed: u64,
    /// Not in the ledger after the restart, resubmitted and confirmed as
    /// new. (For a clawback: completed by the call after the restart.)
    pub resubmitted_fresh: u64,
}

impl InDoubt {
    fn count(&mut self, found: bool) {
        if found {
            self.found_committed += 1;
        } else {
            self.resubmitted_fresh += 1;
        }
    }

    #[must_use]
    pub fn resolved(&self) -> u64 {
        self.found_committed + self.resubmitted_fresh
    }
}

/// What one kill left in doubt, and how it was resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KillReport {
    pub round: u64,
    /// Confirmed payments the kill waited for.
    pub after_payments: u64,
    pub payments: InDoubt,
    pub mints: InDoubt,
    pub redeems: InDoubt,
    pub clawbacks: InDoubt,
}

/// The supply as the harness made it: what its mints issued and its
/// redemptions burned, on top of the ledger's before the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Supply {
    pub minted_minor: u64,
    pub burned_minor: u64,
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
    /// Every kill, in order.
    pub kills: Vec<KillReport>,
    /// Mints the minter was given a receipt for during the rounds.
    pub mints_confirmed: u64,
    /// Redemptions the bank was given a receipt for during the rounds.
    pub redeems_confirmed: u64,
    /// Programmes clawed back (each checked complete after a restart), and
    /// the money that moved to their treasuries.
    pub clawbacks_finished: u64,
    pub clawed_back_minor: u64,
    /// The supply at the end, as the harness made it and the ledger holds it.
    pub supply: Supply,
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
        let sum = |f: fn(&KillReport) -> InDoubt| {
            self.kills.iter().map(f).fold(InDoubt::default(), |a, b| InDoubt {
                at_kill: a.at_kill + b.at_kill,
                found_committed: a.found_committed + b.found_committed,
                resubmitted_fresh: a.resubmitted_fresh + b.resubmitted_fresh,
            })
        };
        let (payments, mints, redeems) = (sum(|k| k.payments), sum(|k| k.mints), sum(|k| k.redeems));
        format!(
            "crash: {} rounds survived in {:.1} s: {} payments confirmed ({} unary, {} streamed) and found in the \
             ledger; {} receipt checks; {} payments in doubt at the kills, {} found committed, {} resubmitted fresh; \
             {} mints confirmed ({} in doubt, {} found, {} fresh); {} redemptions confirmed ({} in doubt, {} \
             found, {} fresh), {} minor burned in all; {} programmes clawed back ({} minor); {} bank checkpoints \
             verified across the kills; {} restarts killed during recovery; last audit {} blocks, {} transactions; \
             restart {restart_ms_mean} ms mean, {} ms max{}",
            self.rounds,
            self.elapsed.as_secs_f64(),
            self.payments_confirmed,
            self.unary_confirmed,
            self.streamed_confirmed,
            self.receipts_checked,
            payments.at_kill,
            payments.found_committed,
            payments.resubmitted_fresh,
            self.mints_confirmed,
            mints.at_kill,
            mints.found_committed,
            mints.resubmitted_fresh,
            self.redeems_confirmed,
            redeems.at_kill,
            redeems.found_committed,
            redeems.resubmitted_fresh,
            self.supply.burned_minor,
            self.clawbacks_finished,
            self.clawed_back_minor,
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
    /// The merchants' payout keys, in the order of `merchants`.
    pub merchant_keys: Arc<Vec<Keypair>>,
    /// Round `r`'s programmes take ids from `programme_base + r * programme::ATTEMPTS_MAX`.
    pub programme_base: u32,
    pub engine_key: Address,
    /// The ledger's chain id, pinned at setup like the engine key.
    pub chain: settled::ChainId,
    pub signers: Vec<Keypair>,
    /// The ledger's supply before the harness's first mint.
    pub supply: Supply,
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
    /// What the harness has minted and burned, confirmed.
    supply: Supply,
    /// The programme the next round claws back.
    programme: Option<programme::Programme>,
    report: CrashReport,
}

/// The clawer's task: how far it got, and the first violation it saw.
type Clawing = tokio::task::JoinHandle<(programme::Clawed, Option<Violation>)>;

/// One round's load, running.
struct Load {
    /// The kill comes `jitter` after this many confirmed payments.
    after_payments: u64,
    jitter: Duration,
    killing: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    confirmations: watch::Receiver<u64>,
    clients: JoinSet<clients::ClientOutcome>,
    minting: tokio::task::JoinHandle<clients::MinterOutcome>,
    redeeming: tokio::task::JoinHandle<redeemer::RedeemerOutcome>,
    clawing: Option<(programme::Programme, Clawing)>,
    follow: tokio::task::JoinHandle<(Follower, Result<(), settled::follow::FollowError>, u64)>,
}

/// How long a round's parts took, for its line.
struct Timings {
    recovery_kill: Option<Duration>,
    restart_ms: u64,
    checks_ms: u128,
    round_ms: u128,
}

/// What a round had done when the server was killed.
struct Killed {
    after_payments: u64,
    jitter: Duration,
    load_ms: u128,
    unary_confirmed: u64,
    streamed_confirmed: u64,
    payments_in_doubt: u64,
    mints_confirmed: u64,
    /// The mint and the redemption cut off (counted here; the transactions
    /// go to the checks).
    mints_in_doubt: u64,
    mint_in_doubt: Option<Transaction>,
    redeems_confirmed: u64,
    redeems_in_doubt: u64,
    redeem_in_doubt: Option<redeemer::Redemption>,
    clawback: Option<(programme::Programme, programme::Clawed)>,
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
                 unary, {} streaming), a minter, a redeemer and a clawer, kill after up to {} payments per round, \
                 {} rounds, seed {}",
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
            supply: world.supply,
            world,
            wallets,
            kill_rng: StdRng::seed_from_u64(options.seed),
            checker: checks::Checker::new(options.seed),
            unchecked: Vec::new(),
            programme: None,
            report: CrashReport::default(),
        })
    }

    fn violation(&self, round: u64, violation: Violation) -> CrashError {
        CrashError::Violation { round, violation, data_dir: self.data_dir.to_owned() }
    }

    /// Fund, load, kill, restart, check; one line about it.
    async fn round(&mut self, round: u64) -> Result<(), CrashError> {
        let round_started = Instant::now();
        let (mut refill, minted_minor) =
            setup::refill(&mut self.live.admin, &self.world, &mut self.wallets, round).await?;
        self.unchecked.append(&mut refill);
        self.supply.minted_minor += minted_minor;
        // The last round's programme would never be clawed back.
        let next_programme = if round < self.options.rounds {
            let (programme, disbursed) =
                programme::create(&mut self.live.admin, &self.world, &self.wallets, round).await?;
            self.unchecked.push(disbursed);
            self.supply.minted_minor += programme.earmarked_minor;
            Some(programme)
        } else {
            None
        };
        let load = self.start_load(round).await?;
        let mut killed = self.kill_when_due(round, load).await?;
        let (recovery_kill, restart_ms) = self.restart(round).await?;

        let checks_started = Instant::now();
        let bank = self.live.bank_client(&self.world.bank_token).await?;
        let left = checks::Left {
            given: std::mem::take(&mut self.unchecked),
            mint_in_doubt: killed.mint_in_doubt.take(),
            redeem_in_doubt: killed.redeem_in_doubt.take(),
            clawback: killed.clawback.take(),
            supply: self.supply,
        };
        let mut checked = self
            .checker
            .after_restart(&mut self.live.admin, bank, &self.world, &mut self.wallets, self.cursor.clone(), left)
            .await
            .map_err(|v| self.violation(round, v))?;
        self.cursor = checked.cursor.clone();
        self.unchecked = std::mem::take(&mut checked.resolved_receipts);
        self.programme = next_programme;
        let kill = self.record(round, &killed, &checked);
        if self.options.progress {
            let timings = Timings {
                recovery_kill,
                restart_ms,
                checks_ms: checks_started.elapsed().as_millis(),
                round_ms: round_started.elapsed().as_millis(),
            };
            println!("{}", self.round_line(round, &killed, &checked, &kill, &timings));
        }
        Ok(())
    }

    /// One line about a round, for `progress`.
    fn round_line(
        &self,
        round: u64,
        killed: &Killed,
        checked: &checks::Checked,
        kill: &KillReport,
        timings: &Timings,
    ) -> String {
        format!(
            "round {round}/{}: kill -9 after {} payments and {} ms more ({} ms into the load): {} payments confirmed \
             ({} unary, {} streamed), {} mints, {} redemptions; in doubt: {} payments, {} mints, {} redemptions, {} \
             clawbacks; {}restarted in {} ms; {} receipts match the ledger; audit ok ({} blocks); resolved: {} found \
             committed, {} resubmitted fresh; supply minted {} burned {}{}; bank stream verified to block {} ({} \
             checkpoints); checks {} ms, round {} ms",
            self.options.rounds,
            kill.after_payments,
            killed.jitter.as_millis(),
            killed.load_ms,
            killed.unary_confirmed + killed.streamed_confirmed,
            killed.unary_confirmed,
            killed.streamed_confirmed,
            killed.mints_confirmed,
            killed.redeems_confirmed,
            kill.payments.at_kill,
            kill.mints.at_kill,
            kill.redeems.at_kill,
            kill.clawbacks.at_kill,
            timings
                .recovery_kill
                .map_or_else(String::new, |after| format!("killed again {} ms into the restart, ", after.as_millis())),
            timings.restart_ms,
            checked.receipts,
            checked.audit_blocks,
            kill.payments.found_committed + kill.mints.found_committed + kill.redeems.found_committed,
            kill.payments.resubmitted_fresh + kill.mints.resubmitted_fresh + kill.redeems.resubmitted_fresh,
            checked.supply.minted_minor,
            checked.supply.burned_minor,
            checked.clawback.as_ref().map_or_else(String::new, |c| format!(
                "; programme clawed back ({:?} at the kill, {})",
                c.clawed,
                if c.found_complete { "found complete" } else { "completed after the restart" }
            )),
            self.cursor.after_height.unwrap_or(0),
            killed.checkpoints + checked.checkpoints,
            timings.checks_ms,
            timings.round_ms,
        )
    }

    /// Starts the bank's follower, the minter, the redeemer, the clawer (of
    /// the programme the round before disbursed) and the payment clients.
    async fn start_load(&mut self, round: u64) -> Result<Load, CrashError> {
        let options = self.options;
        let world = &self.world;
        let follower = Follower::new(self.live.bank_client(&world.bank_token).await?, self.cursor.clone(), None)
            .await
            .map_err(|e| CrashError::Server(format!("bank follower: {e}")))?;
        let follow = tokio::spawn(follow_live(follower));

        let after_payments =
            self.kill_rng.gen_range(KILL_AFTER_PAYMENTS_MIN..=options.payments_per_round.max(KILL_AFTER_PAYMENTS_MIN))
                as u64;
        let jitter = self.kill_rng.gen_range(Duration::ZERO..=KILL_JITTER_MAX);
        let claw_after_payments =
            self.kill_rng.gen_range(after_payments.saturating_sub(programme::CLAW_LEAD_PAYMENTS_MAX)..=after_payments);
        let killing = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = watch::channel(false);
        let (confirmations_tx, confirmations) = watch::channel(0u64);
        let round_seed = options.seed ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (url, token) = (self.live.target.url.clone(), self.live.target.token.clone());
        let minter = clients::Minter {
            round,
            tag: world.tag.clone(),
            signers: world.signers.clone(),
            merchants: Arc::clone(&world.merchants),
            engine_key: world.engine_key,
            chain: world.chain,
            seed: round_seed ^ 0xfeed,
            killing: Arc::clone(&killing),
            stop: stopped.clone(),
        };
        let minting = {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move { minter.run(&url, &token).await })
        };
        let redeemer = redeemer::Redeemer {
            round,
            merchants: Arc::clone(&world.merchant_keys),
            engine_key: world.engine_key,
            chain: world.chain,
            seed: round_seed ^ 0xb0b0,
            killing: Arc::clone(&killing),
            stop: stopped.clone(),
        };
        let redeeming = {
            let (url, bank_token) = (url.clone(), world.bank_token.clone());
            tokio::spawn(async move { redeemer.run(&url, &bank_token).await })
        };
        let clawing = self.programme.take().map(|programme| {
            let clawer = programme::Clawer {
                programme: programme.clone(),
                chain: world.chain,
                signers: world.signers.clone(),
                start_after_payments: claw_after_payments,
                confirmations: confirmations.clone(),
                killing: Arc::clone(&killing),
                stop: stopped.clone(),
            };
            let (url, token) = (url.clone(), token.clone());
            (programme, tokio::spawn(async move { clawer.run(&url, &token).await }))
        });
        let clients = self.spawn_clients(round, round_seed, &killing, &stopped, &Arc::new(confirmations_tx));
        Ok(Load { after_payments, jitter, killing, stop, confirmations, clients, minting, redeeming, clawing, follow })
    }

    /// Hands the wallets out to the round's payment clients, alternately
    /// unary and streaming, and starts them.
    fn spawn_clients(
        &mut self,
        round: u64,
        round_seed: u64,
        killing: &Arc<AtomicBool>,
        stop: &watch::Receiver<bool>,
        confirmations: &Arc<watch::Sender<u64>>,
    ) -> JoinSet<clients::ClientOutcome> {
        let options = self.options;
        let mut shares: Vec<Vec<Wallet>> = (0..options.clients).map(|_| Vec::new()).collect();
        for wallet in self.wallets.drain(..) {
            shares[wallet.id % options.clients].push(wallet);
        }
        let (url, token) = (&self.live.target.url, &self.live.target.token);
        let mut clients = JoinSet::new();
        for (index, share) in shares.into_iter().enumerate() {
            let client = clients::RoundClient {
                index,
                mode: if index % 2 == 0 { clients::Mode::Unary } else { clients::Mode::Streaming },
                seed: round_seed ^ (index as u64),
                round,
                merchants: Arc::clone(&self.world.merchants),
                engine_key: self.world.engine_key,
                chain: self.world.chain,
                killing: Arc::clone(killing),
                stop: stop.clone(),
                confirmations: Arc::clone(confirmations),
            };
            let (url, token) = (url.clone(), token.clone());
            clients.spawn(async move { client.run(&url, &token, share).await });
        }
        clients
    }

    /// Waits for the round's seeded number of confirmed payments (or a
    /// client that ended before: it failed), waits the seeded jitter, kills
    /// the server, and collects what each task had when it learned of it.
    async fn kill_when_due(&mut self, round: u64, mut load: Load) -> Result<Killed, CrashError> {
        let (after_payments, jitter) = (load.after_payments, load.jitter);
        let started = Instant::now();
        let mut ended_early = Vec::new();
        let due = tokio::time::timeout(KILL_WAIT_HANG_GUARD, async {
            tokio::select! {
                _ = load.confirmations.wait_for(|n| *n >= after_payments) => {}
                Some(ended) = load.clients.join_next() => ended_early.push(ended),
            }
        })
        .await;
        if due.is_ok() && ended_early.is_empty() {
            tokio::time::sleep(jitter).await;
        }
        let load_ms = started.elapsed().as_millis();
        load.killing.store(true, Ordering::SeqCst);
        // SIGKILL, then reap.
        drop(self.live.server.take());
        let _ = load.stop.send(true);
        if due.is_err() {
            let confirmed = *load.confirmations.borrow();
            let what = format!(
                "the clients confirmed {confirmed} of the {after_payments} payments the kill waited for in \
                 {KILL_WAIT_HANG_GUARD:?} (hang guard)"
            );
            return Err(self.violation(round, Violation::new(Check::Server, what)));
        }
        let mut killed = self.collect(round, load, ended_early).await?;
        killed.after_payments = after_payments;
        killed.jitter = jitter;
        killed.load_ms = load_ms;
        Ok(killed)
    }

    /// Joins the round's tasks after the kill; the first violation any of
    /// them saw.
    async fn collect(
        &mut self,
        round: u64,
        mut load: Load,
        mut outcomes: Vec<Result<clients::ClientOutcome, tokio::task::JoinError>>,
    ) -> Result<Killed, CrashError> {
        let task =
            |what: &'static str| move |e: tokio::task::JoinError| CrashError::Server(format!("{what} task: {e}"));
        while let Some(done) = load.clients.join_next().await {
            outcomes.push(done);
        }
        let minted = load.minting.await.map_err(task("minter"))?;
        let redeemed = load.redeeming.await.map_err(task("redeemer"))?;
        let clawback = match load.clawing {
            Some((programme, clawing)) => Some((programme, clawing.await.map_err(task("clawer"))?)),
            None => None,
        };
        let Ok(followed) = tokio::time::timeout(FOLLOW_TIMEOUT, load.follow).await else {
            let what = format!("the bank's stream did not end {FOLLOW_TIMEOUT:?} after the kill (hang guard)");
            return Err(self.violation(round, Violation::new(Check::BankStream, what)));
        };
        let (follower, followed, checkpoints) = followed.map_err(task("bank follower"))?;
        if let Err(settled::follow::FollowError::Mismatch(what)) = &followed {
            return Err(self.violation(round, Violation::new(Check::BankStream, format!("before the kill: {what}"))));
        }
        self.cursor = follower.cursor;

        let mut failure = minted.failure.or(redeemed.failure);
        let clawback = clawback.map(|(programme, (clawed, clawer_failure))| {
            failure = failure.take().or(clawer_failure);
            (programme, clawed)
        });
        self.supply.minted_minor += minted.minted_minor;
        self.supply.burned_minor += redeemed.burned_minor;
        let mut killed = Killed {
            after_payments: 0,
            jitter: Duration::ZERO,
            load_ms: 0,
            unary_confirmed: 0,
            streamed_confirmed: 0,
            payments_in_doubt: 0,
            mints_confirmed: minted.confirmed,
            mints_in_doubt: u64::from(minted.pending.is_some()),
            mint_in_doubt: minted.pending,
            redeems_confirmed: redeemed.confirmed,
            redeems_in_doubt: u64::from(redeemed.pending.is_some()),
            redeem_in_doubt: redeemed.pending,
            clawback,
            checkpoints,
        };
        self.unchecked.extend(minted.given);
        self.unchecked.extend(redeemed.given);
        failure = failure.or(self.take_client_outcomes(&mut killed, outcomes)?);
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

    /// Takes the clients' wallets back, their receipts and counts; the first
    /// violation any of them saw.
    fn take_client_outcomes(
        &mut self,
        killed: &mut Killed,
        outcomes: Vec<Result<clients::ClientOutcome, tokio::task::JoinError>>,
    ) -> Result<Option<Violation>, CrashError> {
        let mut failure = None;
        for outcome in outcomes {
            let outcome = outcome.map_err(|e| CrashError::Server(format!("client task: {e}")))?;
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
        Ok(failure)
    }

    /// Adds the round to the report; what its kill left in doubt and how it
    /// was resolved.
    fn record(&mut self, round: u64, killed: &Killed, checked: &checks::Checked) -> KillReport {
        let in_doubt = |at_kill: u64, resolved: InDoubt| InDoubt { at_kill, ..resolved };
        let mut clawbacks = InDoubt::default();
        if let Some(finished) = checked.clawback.as_ref().filter(|c| c.clawed == programme::Clawed::InDoubt) {
            clawbacks.at_kill = 1;
            clawbacks.count(finished.found_complete);
        }
        let kill = KillReport {
            round,
            after_payments: killed.after_payments,
            payments: in_doubt(killed.payments_in_doubt, checked.payments),
            mints: in_doubt(killed.mints_in_doubt, checked.mints),
            redeems: in_doubt(killed.redeems_in_doubt, checked.redeems),
            clawbacks,
        };
        let report = &mut self.report;
        report.rounds = round;
        report.kills.push(kill);
        report.unary_confirmed += killed.unary_confirmed;
        report.streamed_confirmed += killed.streamed_confirmed;
        report.payments_confirmed += killed.unary_confirmed + killed.streamed_confirmed;
        report.mints_confirmed += killed.mints_confirmed;
        report.redeems_confirmed += killed.redeems_confirmed;
        report.receipts_checked += checked.receipts;
        if let Some(finished) = &checked.clawback {
            report.clawbacks_finished += 1;
            report.clawed_back_minor += finished.clawed_back_minor;
        }
        self.supply = checked.supply;
        report.supply = checked.supply;
        report.checkpoints_verified += killed.checkpoints + checked.checkpoints;
        report.audited_blocks = checked.audit_blocks;
        report.audited_transactions = checked.audit_transactions;
        kill
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
