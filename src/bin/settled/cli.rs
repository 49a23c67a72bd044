//! The command line's shape: every command, its arguments and its help.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "settled", version, about = "Settlement engine for programmable digital-currency welfare payments")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Bearer token for client commands. Without it: --token-file, then the
    /// SETTLED_TOKEN environment variable (a flag beats the environment). A
    /// development server writes one to <data-dir>/dev.token.
    #[arg(long, global = true)]
    pub(crate) token: Option<String>,
    /// File holding the bearer token.
    #[arg(long, global = true, conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,
    /// Print each command's result as one JSON document on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the server on a data dir (config file, then SETTLED_* env, then flags).
    Serve(ServeArgs),
    /// Generate a BIP340 key pair. With --out: the secret to the file, the
    /// public key alone on stdout (`KEY=$(settled keygen --out k.key)`);
    /// without: `secret <hex>` and `public <hex>` lines on stdout.
    Keygen {
        /// Write the secret key here (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What a client pins (engine public key, chain id, genesis hash) and
    /// the ledger's currency, issuers and tip.
    Info {
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
    /// An address's money, per programme.
    Balance {
        /// The wallet's address (its public key, 64 hex digits).
        #[arg(long)]
        address: String,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
    /// Pay from a wallet key file: the amount to the payee, the change back.
    Pay(PayArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Start a server on a temporary data dir and show the whole path of a payment.
    Demo(DemoArgs),
    /// Pay a welfare programme from a CSV file: address rows
    /// (address,amount,row_id) or person rows (a person,amount,period
    /// header); re-running it pays nobody twice.
    Disburse(DisburseArgs),
    /// Welfare programmes: create, statistics, clawback after expiry.
    Programme {
        #[command(subcommand)]
        command: ProgrammeCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Beneficiaries of programmes paid per person: a pseudonymous person
    /// reference, their wallets, and per programme the wallet it pays.
    Beneficiary {
        #[command(subcommand)]
        command: BeneficiaryCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Print the person reference of an identity number: HMAC-SHA-256 under
    /// the programme administrator's secret key, so that the ledger never
    /// sees the number. Reads numbers one per line from stdin without --id.
    PersonRef {
        /// The administrator's secret key: 32 random bytes in hex (e.g. made
        /// with `settled keygen --out admin-person.key`). Keep it off the
        /// ledger's machines.
        #[arg(long)]
        key_file: PathBuf,
        /// One identity number (it stays in the shell history and the process
        /// list: prefer stdin).
        #[arg(long)]
        id: Option<String>,
    },
    /// A merchant refunds all or part of a payment it took: to the payer, as
    /// the programme's money (docs/PROTOCOL.md §4.11).
    Refund(RefundArgs),
    /// Register banks, merchants and wallets.
    Register {
        #[command(subcommand)]
        command: RegisterCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Replace a bank's or a terminal's credentials (operator): rotate
    /// (give the new one, and the old one too for an overlap) or revoke
    /// (leave it out; none at all locks the participant out). New calls see
    /// it at once; open streams of a credential left out end.
    Credentials(CredentialsArgs),
    /// A wallet's lifecycle (operator; freezes also issuers): its tier,
    /// freezing and unfreezing it, and the frozen wallets.
    Wallet {
        #[command(subcommand)]
        command: WalletCommand,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051", global = true)]
        server: String,
    },
    /// Deactivate a merchant (its payout addresses receive nothing, its
    /// terminals stop) or a terminal (operator).
    Deactivate(ParticipantArgs),
    /// Reactivate a deactivated merchant or terminal (operator).
    Reactivate(ParticipantArgs),
    /// Every registry change in chain order, with its block and who made it
    /// (operator, auditor).
    RegistryLog {
        /// Start after this change number (the last one seen).
        #[arg(long)]
        after: Option<u64>,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
    /// An online backup of a running server (operator): a consistent copy
    /// of its ledger as of the last committed block, taken while payments
    /// go on, written to --out once complete and audited.
    Backup {
        /// The backup file (a redb file, written as <out>.partial first).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
    },
    /// Put a backup in place as the ledger of an empty data directory, after
    /// auditing it (the server's keys and configuration are not in a
    /// backup: give the restored server the same engine key and genesis).
    Restore {
        /// The backup file `settled backup` wrote.
        #[arg(long)]
        from: PathBuf,
        /// A data directory holding no ledger yet.
        #[arg(long)]
        data_dir: PathBuf,
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
        /// The engine public key (hex) to audit against. With --chain-id and
        /// no --data-dir: the client fetches every block and re-derives the
        /// ledger from genesis itself, trusting no server; with --data-dir:
        /// the key the file must name.
        #[arg(long)]
        engine_key: Option<String>,
        /// The chain id (hex) to audit against (see --engine-key).
        #[arg(long)]
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
pub(crate) enum ClusterCommand {
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
pub(crate) struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "SETTLED_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory (ledger.redb, engine.key).
    #[arg(long, env = "SETTLED_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:50051.
    #[arg(long, env = "SETTLED_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
    /// Verify threads (0 = one per core).
    #[arg(long, env = "SETTLED_VERIFY_THREADS")]
    pub(crate) verify_threads: Option<usize>,
    /// Engine signing key file (default <data-dir>/engine.key).
    #[arg(long, env = "SETTLED_ENGINE_KEY_FILE")]
    pub(crate) engine_key_file: Option<PathBuf>,
    /// Serve Prometheus metrics (GET /metrics, plain HTTP, no credential)
    /// on this address, e.g. 127.0.0.1:9090.
    #[arg(long, env = "SETTLED_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Serve the web console (read-only pages for operators, issuers,
    /// programme administrators, auditors and banks, signed in with their
    /// API token) on this address, e.g. 127.0.0.1:8443; over TLS with
    /// `[tls]`. Off by default.
    #[arg(long, env = "SETTLED_CONSOLE_LISTEN")]
    pub(crate) console_listen: Option<SocketAddr>,
    /// Development mode: with no issuer keys configured, generate a 2-of-3
    /// development issuer set into the data dir. Never in production.
    #[arg(long, env = "SETTLED_DEV")]
    pub(crate) dev: bool,
    /// Run without the integrity detector (`[integrity] enabled = false`).
    #[arg(long, env = "SETTLED_NO_INTEGRITY_DETECTOR")]
    pub(crate) no_integrity_detector: bool,
}

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Wallets to fund and pay from.
    #[arg(long, default_value_t = 2000)]
    pub(crate) wallets: usize,
    /// Concurrent simulated terminals (half unary, half streaming).
    #[arg(long, default_value_t = 8)]
    pub(crate) terminals: usize,
    /// Seconds of payments before and again after the restart.
    #[arg(long, default_value_t = 5)]
    pub(crate) seconds: u64,
    /// Keep the ledger here instead of a temporary directory.
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Payments each streaming terminal keeps in flight.
    #[arg(long, default_value_t = 32)]
    pub(crate) stream_window: usize,
    /// Three replicas as processes instead (docs/CLUSTER.md): terminals pay
    /// through a cluster client, the leader is killed with SIGKILL, a new
    /// one takes over, the old one comes back and catches up; then every
    /// receipt is checked on every replica. Uses --terminals (one wallet
    /// each), --seconds per phase and --data-dir.
    #[arg(long)]
    pub(crate) cluster: bool,
    /// Replicas with --cluster.
    #[arg(long, default_value_t = 3)]
    pub(crate) replicas: usize,
}

#[derive(Subcommand)]
pub(crate) enum ProgrammeCommand {
    /// Create an earmarked programme.
    Create {
        #[arg(long)]
        id: u32,
        #[arg(long)]
        name: String,
        /// Allowed merchant category (repeat for several), e.g. --mcc 5411 --mcc 5499.
        #[arg(long = "mcc", required = true)]
        mccs: Vec<u32>,
        /// Start: an ISO 8601 date-time with its offset, unix milliseconds
        /// or `now`.
        #[arg(long, default_value = "now")]
        valid_from: String,
        /// End (exclusive): an ISO 8601 date-time with its offset
        /// (2027-01-01T00:00:00+08:00), unix milliseconds, or `now+<seconds>`.
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
        /// Pay registered beneficiaries once a calendar month, by claim
        /// (`disburse` with person rows), instead of addresses.
        #[arg(long)]
        monthly: bool,
        /// Days after a payment a merchant may refund the programme's money
        /// to the payer (default 0: no refunds of it).
        #[arg(long, default_value_t = 0)]
        refund_window_days: u64,
    },
    /// Disbursed, spent by merchant category, refunded, clawed back,
    /// outstanding, and the merchants paid the most.
    Stats {
        #[arg(long)]
        id: u32,
    },
    /// What each merchant took of the programme: payments, amount, share,
    /// refunds, by merchant id.
    Merchants {
        #[arg(long)]
        id: u32,
    },
    /// Integrity alerts, oldest first: every programme's, or one's; with
    /// --follow, new ones as they are raised.
    Alerts {
        /// One programme's alerts only.
        #[arg(long)]
        id: Option<u32>,
        /// Start after this alert number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long)]
        follow: bool,
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

#[derive(Args)]
pub(crate) struct RefundArgs {
    /// The txid of the payment to refund.
    #[arg(long)]
    pub(crate) payment: String,
    /// How much to pay back (decimal, currency units).
    #[arg(long)]
    pub(crate) amount: String,
    /// The merchant's payout secret key file (the payment paid its address).
    #[arg(long)]
    pub(crate) merchant_key_file: std::path::PathBuf,
    /// The programme refunded (default: the one the payment paid the merchant in).
    #[arg(long)]
    pub(crate) programme: Option<u32>,
    /// Whom to pay (default: the payment's payer).
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// With --to a programme's treasury, after the programme ended: pay it
    /// as unrestricted money.
    #[arg(long, requires = "to")]
    pub(crate) to_treasury: bool,
    #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
    pub(crate) server: String,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("participant").required(true).args(["bank", "terminal"])))]
pub(crate) struct CredentialsArgs {
    #[arg(long)]
    pub bank: Option<String>,
    #[arg(long)]
    pub terminal: Option<String>,
    /// A bearer token the participant keeps or gains (only its SHA-256 is
    /// sent), repeatable.
    #[arg(long = "credential-token")]
    pub tokens: Vec<String>,
    /// SHA-256 (hex) of a credential it keeps or gains, repeatable.
    #[arg(long = "credential-sha256")]
    pub hashes: Vec<String>,
    /// Revoke every credential: the participant can no longer call.
    #[arg(long, conflicts_with_all = ["tokens", "hashes"])]
    pub none: bool,
    #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
}

#[derive(Args)]
pub(crate) struct PayArgs {
    /// The paying wallet's secret key file (`settled keygen --out`).
    #[arg(long)]
    pub(crate) key_file: PathBuf,
    /// The payee's address (64 hex digits).
    #[arg(long)]
    pub(crate) to: String,
    /// The amount in currency units, e.g. 12.50.
    #[arg(long)]
    pub(crate) amount: String,
    /// The programme whose money to pay with (0: unrestricted money).
    #[arg(long, default_value_t = 0)]
    pub(crate) programme: u32,
    /// The payment's reference (at most 64 bytes); a fresh one by default.
    #[arg(long)]
    pub(crate) reference: Option<String>,
    #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
    pub(crate) server: String,
}

#[derive(Subcommand)]
pub(crate) enum WalletCommand {
    /// Move a registered wallet to another tier (an upgrade after KYC, a
    /// downgrade).
    Tier {
        #[arg(long)]
        address: String,
        #[arg(long)]
        tier: u32,
    },
    /// Freeze a wallet: it pays nothing and can still receive.
    Freeze {
        #[arg(long)]
        address: String,
        /// Why (kept in the chain; payers see it in the refusal).
        #[arg(long)]
        reason: String,
    },
    /// Lift a freeze.
    Unfreeze {
        #[arg(long)]
        address: String,
    },
    /// Every frozen wallet, with why.
    Frozen,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("participant").required(true).args(["merchant", "terminal"])))]
pub(crate) struct ParticipantArgs {
    #[arg(long)]
    pub merchant: Option<String>,
    #[arg(long)]
    pub terminal: Option<String>,
    #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
}

#[derive(Subcommand)]
pub(crate) enum BeneficiaryCommand {
    /// Register a person with their wallets (registered first with
    /// `register wallet`).
    Register {
        /// The person reference (64 hex digits, `settled person-ref`).
        #[arg(long)]
        person: String,
        /// A wallet the person holds (repeat for several, at most 4).
        #[arg(long = "wallet", required = true)]
        wallets: Vec<String>,
        /// PROGRAMME=WALLET: the wallet a programme paid per person pays
        /// (repeatable).
        #[arg(long = "designate")]
        designations: Vec<String>,
    },
    /// Replace a person's wallets and designations.
    Update {
        #[arg(long)]
        person: String,
        #[arg(long = "wallet", required = true)]
        wallets: Vec<String>,
        #[arg(long = "designate")]
        designations: Vec<String>,
    },
    /// One person's wallets and designations.
    Show {
        #[arg(long)]
        person: String,
    },
    /// Every beneficiary.
    List,
    /// A lost wallet: freeze it, link and designate the replacement, and
    /// move the lost wallet's earmarked money to it (issuer threshold).
    Recover {
        #[arg(long)]
        person: String,
        /// The wallet reported lost.
        #[arg(long)]
        lost: String,
        /// A registered wallet of the same person (or of nobody yet).
        #[arg(long)]
        replacement: String,
        /// Issuer secret key files; give at least the issuer threshold.
        #[arg(long = "issuer-key-file", required = true)]
        issuer_key_files: Vec<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum RegisterCommand {
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
pub(crate) struct DisburseArgs {
    /// The earmarked programme to pay.
    #[arg(long)]
    pub(crate) programme: u32,
    /// Issuer secret key files; give at least the issuer threshold.
    #[arg(long = "issuer-key-file", required = true)]
    pub(crate) issuer_key_files: Vec<PathBuf>,
    #[arg(long, env = "SETTLED_SERVER", default_value = "http://127.0.0.1:50051")]
    pub(crate) server: String,
    /// CSV file: address,amount,row_id per line, or after a
    /// `person,amount,period` header a person reference, an amount and a
    /// period (YYYYMM) per line.
    pub(crate) file: PathBuf,
    /// Where to write every row's outcome as CSV
    /// (line,payee,amount,outcome,reason,detail,txid); default
    /// <file>.results.csv beside the file.
    #[arg(long)]
    pub(crate) results: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum BankCommand {
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
pub(crate) enum StatementFormat {
    /// ISO 20022 camt.053.001.08.
    Camt053,
    /// ISO 20022 camt.052.001.08, the intraday report (the day so far).
    Camt052,
    /// Comma-separated, one row per entry, for people.
    Csv,
}

#[derive(Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Verify a receipt JSON file offline against the engine's public key.
    Verify {
        /// Receipt JSON, as written by `settled receipt get`.
        file: PathBuf,
        /// Engine public key (64 hex digits, `settled info`).
        #[arg(long, conflicts_with = "engine_key_file")]
        engine_key: Option<String>,
        /// A file holding the engine public key (64 hex digits). Never the
        /// engine's secret key: an auditor must not need it.
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
