//! `settled bank follow | statement | positions`: the real binary against a
//! real server, checked against what the test paid and what the ledger says.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TestLedger;
use futures::StreamExt;
use settled::client::{self, Client};
use settled::{Address, Keypair, OutPoint, Output as TxOutput, proto, sha256};

const BIN: &str = env!("CARGO_BIN_EXE_settled");
const BANK_A: &str = "bank-a";
const BANK_B: &str = "bank-b";
const BANK_A_TOKEN: &str = "bank-cli-bank-a";
const BANK_B_TOKEN: &str = "bank-cli-bank-b";
/// Money outside any bank, as net positions name it.
const UNBANKED: &str = "";
/// Payments the test keeps in flight at once.
const PAYMENTS_IN_FLIGHT_MAX: usize = 64;
/// Every coin a payer is funded with; payments take less, with change.
const COIN_MINOR: u64 = 1_000;
/// How long a live follower may take to print what the test waits for
/// before the test counts it as hung (not a measure of speed).
const FOLLOW_WAIT_MAX: Duration = common::HANG_GUARD;

type Coin = (OutPoint, TxOutput);

/// What one bank's follower must end with, as the test counts it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Expected {
    movements: u64,
    credit_entries: u64,
    debit_entries: u64,
    credits_minor: u64,
    debits_minor: u64,
}

/// Two banks with two wallets and a merchant each, an unregistered wallet,
/// and the test's own count of every movement it causes.
struct World {
    ledger: TestLedger,
    url: String,
    /// Payers, in the order payments rotate through them.
    payers: Vec<Keypair>,
    /// Payees, likewise.
    payees: Vec<Keypair>,
    bank_of: BTreeMap<Address, &'static str>,
    coins: BTreeMap<Address, Vec<Coin>>,
    expected: BTreeMap<&'static str, Expected>,
    /// What each bank (and the unbanked) received from minus paid to the others.
    net_minor: BTreeMap<&'static str, i128>,
    payments: usize,
}

impl World {
    /// Registers the banks (with token credentials) and their customers,
    /// then funds every payer with `coins_each` coins.
    async fn new(coins_each: usize) -> Self {
        let ledger = TestLedger::start().await;
        // A statement says what one day holds: all of it in one day.
        ledger.keep_within_one_day();
        let url = ledger.server().url();
        Self::on(ledger, url, coins_each).await
    }

    async fn on(ledger: TestLedger, url: String, coins_each: usize) -> Self {
        let mut world = Self {
            ledger,
            url,
            payers: Vec::new(),
            payees: Vec::new(),
            bank_of: BTreeMap::new(),
            coins: BTreeMap::new(),
            expected: BTreeMap::new(),
            net_minor: BTreeMap::new(),
            payments: 0,
        };
        world.register_and_fund(coins_each).await;
        world
    }

    async fn register_and_fund(&mut self, coins_each: usize) {
        let client = &mut self.ledger.client;
        for (id, token) in [(BANK_A, BANK_A_TOKEN), (BANK_B, BANK_B_TOKEN)] {
            let bank = proto::Bank {
                id: id.into(),
                name: format!("Bank {id}"),
                credential_sha256: vec![sha256(token.as_bytes()).to_vec()],
            };
            client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
        }
        let [wallet_a1, wallet_a2, wallet_b1, wallet_b2, shop_a, shop_b, outsider] =
            std::array::from_fn(|_| Keypair::generate());
        for (key, bank) in [(&wallet_a1, BANK_A), (&wallet_a2, BANK_A), (&wallet_b1, BANK_B), (&wallet_b2, BANK_B)] {
            let wallet = proto::Wallet {
                address: key.address().0.to_vec(),
                bank_id: bank.into(),
                tier: 3,
                frozen: String::new(),
            };
            client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await.expect("wallet");
            self.bank_of.insert(key.address(), bank);
        }
        for (id, key, bank) in [("shop-a", &shop_a, BANK_A), ("shop-b", &shop_b, BANK_B)] {
            let merchant = proto::Merchant {
                id: id.into(),
                name: id.into(),
                mcc: 5411,
                bank_id: bank.into(),
                payout_addresses: vec![key.address().0.to_vec()],
                deactivated: false,
            };
            let request = proto::RegisterMerchantRequest { merchant: Some(merchant) };
            client.admin.register_merchant(request).await.expect("merchant");
            self.bank_of.insert(key.address(), bank);
        }
        self.bank_of.insert(outsider.address(), UNBANKED);
        self.payers = vec![wallet_a1.clone(), wallet_b1.clone(), outsider, wallet_a2.clone(), wallet_b2.clone()];
        self.payees = vec![shop_a, shop_b, wallet_b2, wallet_a2, wallet_a1, wallet_b1];
        for (n, payer) in self.payers.clone().iter().enumerate() {
            let coins = self.ledger.fund_coins(payer, &vec![COIN_MINOR; coins_each], &format!("fund-{n}")).await;
            let bank = self.bank_of[&payer.address()];
            if bank != UNBANKED {
                let expected = self.expected.entry(bank).or_default();
                // One mint per TX_OUTPUTS_MAX coins, one entry each (one owner, one programme).
                let mints = coins_each.div_ceil(settled::limits::TX_OUTPUTS_MAX) as u64;
                expected.movements += mints;
                expected.credit_entries += mints;
                expected.credits_minor += COIN_MINOR * coins_each as u64;
            }
            self.coins.insert(payer.address(), coins);
        }
    }

    /// The next `count` payments of the rotation, counted into the
    /// expectations, paid `PAYMENTS_IN_FLIGHT_MAX` at a time (so that
    /// blocks hold many).
    async fn pay(&mut self, count: usize) {
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            let n = self.payments;
            self.payments += 1;
            let payer = self.payers[n % self.payers.len()].clone();
            // Skip the payee that is the payer itself.
            let mut payee = self.payees[n % self.payees.len()].clone();
            if payee.address() == payer.address() {
                payee = self.payees[(n + 1) % self.payees.len()].clone();
            }
            let amount_minor = 100 + (n as u64 % 9) * 10;
            let coin = self.coins.get_mut(&payer.address()).and_then(Vec::pop).expect("the payer has a coin left");
            txs.push(client::pay(
                &self.ledger.chain,
                &payer,
                coin,
                payee.address(),
                amount_minor,
                format!("pay-{n}").as_bytes(),
            ));
            self.count_payment(&payer.address(), &payee.address(), amount_minor);
        }
        let client = self.ledger.client.clone();
        futures::stream::iter(txs)
            .map(|tx| {
                let mut client = client.clone();
                async move { client.submit(&tx).await.expect("payment confirmed") }
            })
            .buffer_unordered(PAYMENTS_IN_FLIGHT_MAX)
            .collect::<Vec<_>>()
            .await;
    }

    fn count_payment(&mut self, payer: &Address, payee: &Address, amount_minor: u64) {
        let (payer_bank, payee_bank) = (self.bank_of[payer], self.bank_of[payee]);
        if payer_bank != UNBANKED {
            let expected = self.expected.entry(payer_bank).or_default();
            expected.movements += 1;
            expected.debit_entries += 1;
            expected.debits_minor += amount_minor;
        }
        if payee_bank != UNBANKED {
            let expected = self.expected.entry(payee_bank).or_default();
            if payee_bank != payer_bank {
                expected.movements += 1;
            }
            expected.credit_entries += 1;
            expected.credits_minor += amount_minor;
        }
        if payer_bank != payee_bank {
            *self.net_minor.entry(payee_bank).or_default() += i128::from(amount_minor);
            *self.net_minor.entry(payer_bank).or_default() -= i128::from(amount_minor);
        }
    }

    /// The sum of the balances of `bank`'s customers, as `GetBalance` says.
    async fn customers_balance_minor(&mut self, bank: &str) -> i128 {
        let customers: Vec<Address> = self.bank_of.iter().filter(|(_, b)| **b == bank).map(|(a, _)| *a).collect();
        let mut sum = 0i128;
        for customer in customers {
            let balance = self.ledger.balance(&customer).await;
            sum += balance.balances.iter().map(|b| i128::from(b.amount_minor)).sum::<i128>();
        }
        sum
    }

    async fn tip_height(&mut self) -> u64 {
        self.ledger.tip().await.height
    }

    async fn exponent(&mut self) -> u32 {
        self.ledger.info(false).await.currency_exponent
    }
}

/// `settled <args> --server <url> --token <token>`, started now and run to
/// completion off the runtime.
fn settled(args: &[&str], url: &str, token: &str) -> impl Future<Output = Output> + use<> {
    let mut command = Command::new(BIN);
    command.args(args).args(["--server", url, "--token", token]);
    command.env_remove("SETTLED_SERVER").env_remove("SETTLED_TOKEN");
    let run = tokio::task::spawn_blocking(move || command.output().expect("runs settled"));
    async move { run.await.expect("joins") }
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The `key=value` fields of the last `totals` line.
fn totals(stdout: &str) -> BTreeMap<String, String> {
    let line = stdout.lines().last().expect("a last line");
    let fields = line.strip_prefix("totals ").unwrap_or_else(|| panic!("the last line is the totals: {line}"));
    fields
        .split(' ')
        .map(|field| {
            let (key, value) = field.split_once('=').expect("key=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

fn assert_totals(stdout: &str, bank: &str, height: u64, expected: &Expected) {
    let totals = totals(stdout);
    let number = |key: &str| totals[key].parse::<u64>().unwrap_or_else(|_| panic!("{key} is a number"));
    assert_eq!(totals["bank"], bank);
    assert_eq!(number("height"), height, "the follower ends at the checkpoint asked for");
    assert_eq!(
        (number("movements"), number("credits_minor"), number("debits_minor")),
        (expected.movements, expected.credits_minor, expected.debits_minor),
        "(movements, credits, debits) of {bank}"
    );
}

/// The `seq=` of every movement line.
fn movement_sequences(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("movement seq="))
        .map(|rest| rest.split(' ').next().and_then(|s| s.parse().ok()).expect("a sequence"))
        .collect()
}

/// A live `settled bank follow`, its stdout read line by line, its stderr
/// kept in a file.
struct LiveFollower {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    stderr: std::path::PathBuf,
}

impl LiveFollower {
    fn spawn(args: &[&str], url: &str, token: &str, stderr: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .args(["--server", url, "--token", token])
            .env_remove("SETTLED_SERVER")
            .env_remove("SETTLED_TOKEN")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).expect("stderr file"))
            .spawn()
            .expect("follow starts");
        let stdout = child.stdout.take().expect("piped");
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines, seen: Vec::new(), stderr: stderr.to_owned() }
    }

    /// Reads lines until one satisfies `done`, and returns it.
    async fn wait_for(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + FOLLOW_WAIT_MAX;
        loop {
            let line = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), self.lines.recv())
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                    panic!("no {what} from the follower; it printed {:?}, and on stderr: {stderr}", self.seen)
                });
            self.seen.push(line.clone());
            if done(&line) {
                return line;
            }
        }
    }

    /// The rest of its output once it has exited.
    async fn rest(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(line) = self.lines.recv().await {
            rest.push(line);
        }
        rest
    }
}

/// `field=<value>` of a line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ').find_map(|f| f.strip_prefix(name)?.strip_prefix('=')).unwrap_or_else(|| panic!("{name} in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_follow_killed_mid_stream_resumes_from_its_cursor_file_and_ends_with_the_ledgers_totals() {
    let mut w = World::new(100).await;
    w.pay(400).await;
    let cursor_file = w.ledger.data_dir().join("bank-a.cursor");
    let cursor_arg = cursor_file.to_str().expect("utf-8").to_owned();

    let follow = ["bank", "follow", "--bank", BANK_A, "--cursor-file", &cursor_arg];
    let mut live = LiveFollower::spawn(&follow, &w.url, BANK_A_TOKEN, &w.ledger.data_dir().join("follow.stderr"));
    live.wait_for("movement", |line| line.starts_with("movement seq=")).await;
    live.wait_for("checkpoint after movements", |line| {
        line.starts_with("checkpoint ") && field(line, "movements") != "0"
    })
    .await;
    assert!(cursor_file.exists(), "the cursor is saved at every checkpoint");
    live.child.kill().expect("SIGKILL");
    live.child.wait().expect("reaped");
    let cursor: settled::follow::Cursor =
        serde_json::from_slice(&std::fs::read(&cursor_file).expect("cursor file")).expect("a whole cursor");
    assert_eq!(cursor.bank, BANK_A);

    w.pay(100).await;
    let tip = w.tip_height().await;
    let until = tip.to_string();
    let follow_until: Vec<&str> = follow.iter().copied().chain(["--until-height", &until]).collect();
    let output = settled(&follow_until, &w.url, BANK_A_TOKEN).await;
    let stdout = stdout_of(&output);

    let resumed = movement_sequences(&stdout);
    assert!(!resumed.is_empty(), "the payments after the kill are followed");
    assert!(
        resumed.iter().all(|sequence| *sequence > cursor.after_sequence),
        "nothing at or before the saved cursor (sequence {}) is sent again",
        cursor.after_sequence
    );
    assert!(resumed.windows(2).all(|pair| pair[0] < pair[1]), "movements in ledger order");
    let expected = w.expected[BANK_A].clone();
    assert_totals(&stdout, BANK_A, tip, &expected);
    let balance = w.customers_balance_minor(BANK_A).await;
    assert_eq!(
        i128::from(expected.credits_minor) - i128::from(expected.debits_minor),
        balance,
        "credits - debits is what bank-a's customers hold"
    );
    let saved: settled::follow::Cursor =
        serde_json::from_slice(&std::fs::read(&cursor_file).expect("cursor file")).expect("a whole cursor");
    assert_eq!(saved.after_height, Some(tip), "the cursor file is at the last checkpoint");

    // Run again at the same height: nothing more to follow, the same totals.
    let again = settled(&follow_until, &w.url, BANK_A_TOKEN).await;
    let again = stdout_of(&again);
    assert!(movement_sequences(&again).is_empty());
    assert_totals(&again, BANK_A, tip, &expected);

    // Without a cursor file, from genesis: the same totals, every movement once.
    let from_genesis = settled(&["bank", "follow", "--bank", BANK_A, "--until-height", &until], &w.url, BANK_A_TOKEN);
    let from_genesis = stdout_of(&from_genesis.await);
    assert_eq!(movement_sequences(&from_genesis).len() as u64, expected.movements);
    assert_totals(&from_genesis, BANK_A, tip, &expected);
    // --json: one object a line; the last is the totals.
    let args = ["bank", "follow", "--bank", BANK_A, "--until-height", &until, "--json"];
    let json = stdout_of(&settled(&args, &w.url, BANK_A_TOKEN).await);
    let objects: Vec<serde_json::Value> =
        json.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let movements = objects.iter().filter(|o| o.get("movement").is_some()).count() as u64;
    assert_eq!(movements, expected.movements);
    let totals = &objects.last().expect("the totals")["totals"];
    assert_eq!((totals["height"].as_u64(), totals["movements"].as_u64()), (Some(tip), Some(expected.movements)));
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_follow_refuses_another_banks_customers_a_cursor_file_of_another_bank_and_an_unpinned_engine_key() {
    let mut w = World::new(16).await;
    let tip = w.tip_height().await.to_string();
    let other = settled(&["bank", "follow", "--bank", BANK_B, "--until-height", &tip], &w.url, BANK_A_TOKEN).await;
    assert!(!other.status.success(), "bank-a's token does not follow bank-b");
    assert!(String::from_utf8_lossy(&other.stderr).contains("PermissionDenied"), "{other:?}");

    let cursor_file = w.ledger.data_dir().join("bank-a.cursor");
    let cursor_arg = cursor_file.to_str().expect("utf-8");
    let args = ["bank", "follow", "--bank", BANK_A, "--cursor-file", cursor_arg, "--until-height", &tip];
    stdout_of(&settled(&args, &w.url, BANK_A_TOKEN).await);
    let dev = common::dev_token(&w.ledger.data_dir());
    let args = ["bank", "follow", "--bank", BANK_B, "--cursor-file", cursor_arg, "--until-height", &tip];
    let wrong = settled(&args, &w.url, &dev).await;
    assert!(!wrong.status.success(), "a cursor file of bank-a is not resumed as bank-b");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("follows bank bank-a"), "{wrong:?}");

    let engine_key = w.ledger.engine_key().await.to_string();
    let pinned = ["bank", "follow", "--bank", BANK_A, "--until-height", &tip, "--engine-key", &engine_key];
    stdout_of(&settled(&pinned, &w.url, BANK_A_TOKEN).await);
    let impostor = settled::Keypair::generate().address().to_string();
    let pinned = ["bank", "follow", "--bank", BANK_A, "--until-height", &tip, "--engine-key", &impostor];
    let refused = settled(&pinned, &w.url, BANK_A_TOKEN).await;
    assert!(!refused.status.success(), "a server with another engine key is not followed");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not the pinned key"), "{refused:?}");
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_statement_writes_a_camt053_that_checks_and_matches_the_ledger() {
    let mut w = World::new(32).await;
    w.pay(150).await;
    let exponent = w.exponent().await;
    let today = w.ledger.today();
    let file = w.ledger.data_dir().join("bank-a.camt053.xml");
    let out = file.to_str().expect("utf-8");
    let output =
        settled(&["bank", "statement", "--bank", BANK_A, "--date", &today, "--out", out], &w.url, BANK_A_TOKEN);
    let output = output.await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("checks"), "a summary on stderr: {summary}");
    assert!(!Path::new(&format!("{out}.partial")).exists(), "the partial file became the statement");

    let checked = settled::statement::check_camt053(&std::fs::read(&file).expect("written"), exponent)
        .expect("the statement checks");
    let expected = w.expected[BANK_A].clone();
    assert_eq!((checked.bank_id.as_str(), checked.date.as_str()), (BANK_A, today.as_str()));
    assert_eq!(checked.opening_minor, 0, "nothing before today on a new ledger");
    assert_eq!(checked.closing_minor, w.customers_balance_minor(BANK_A).await, "closing = what the customers hold");
    assert_eq!(
        (checked.credit_entries, checked.debit_entries),
        (expected.credit_entries, expected.debit_entries),
        "one entry per customer per transaction"
    );
    assert_eq!((checked.credits_minor, checked.debits_minor), (expected.credits_minor, expected.debits_minor));
    assert_eq!(checked.entries.len() as u64, expected.credit_entries + expected.debit_entries);
    let amount = settled::format_amount(expected.credits_minor, exponent);
    assert!(summary.contains(&amount), "the summary gives the credits in currency units: {summary}");

    let csv =
        settled(&["bank", "statement", "--bank", BANK_A, "--date", &today, "--format", "csv"], &w.url, BANK_A_TOKEN);
    let csv = stdout_of(&csv.await);
    let mut lines = csv.lines().filter(|line| !line.starts_with('#'));
    assert_eq!(lines.next(), Some(settled::statement::CSV_HEADER));
    assert_eq!(lines.count() as u64, expected.credit_entries + expected.debit_entries, "one row per entry");

    let refused = settled(&["bank", "statement", "--bank", BANK_A, "--date", "2026-02-30"], &w.url, BANK_A_TOKEN);
    let refused = refused.await;
    assert!(!refused.status.success(), "not a date");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("InvalidArgument"), "{refused:?}");
    w.ledger.shutdown().await;
}

/// A decimal amount in currency units, with an optional minus sign, in minor units.
fn parse_signed(text: &str, exponent: u32) -> i128 {
    let (sign, magnitude) = match text.strip_prefix('-') {
        Some(magnitude) => (-1, magnitude),
        None => (1, text),
    };
    sign * i128::from(settled::parse_amount(magnitude, exponent).unwrap_or_else(|e| panic!("{text}: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_positions_prints_flows_that_sum_to_zero() {
    let mut w = World::new(16).await;
    let after = w.tip_height().await.to_string();
    w.pay(60).await;
    let exponent = w.exponent().await;
    let dev = common::dev_token(&w.ledger.data_dir());
    let stdout = stdout_of(&settled(&["bank", "positions", "--after-height", &after], &w.url, &dev).await);

    let mut lines = stdout.lines().skip_while(|line| !line.starts_with("bank "));
    let header: Vec<&str> = lines.next().expect("the positions table").split_whitespace().collect();
    assert_eq!(header, ["bank", "paid", "received", "issued", "redeemed", "net"]);
    let nets: BTreeMap<&str, i128> = lines
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells.len(), 6, "{line}");
            (cells[0], parse_signed(cells[5], exponent))
        })
        .collect();
    assert_eq!(nets.values().sum::<i128>(), 0, "what one bank paid another received:\n{stdout}");
    for (bank, name) in [(BANK_A, BANK_A), (BANK_B, BANK_B), (UNBANKED, "(unbanked)")] {
        assert_eq!(nets[name], w.net_minor.get(bank).copied().unwrap_or(0), "net position of {name}:\n{stdout}");
    }
    let flows: Vec<&str> = stdout.lines().skip_while(|line| !line.starts_with("payer bank")).skip(1).collect();
    let flows: Vec<&str> = flows.into_iter().take_while(|line| !line.starts_with("bank ")).collect();
    assert!(flows.iter().any(|line| line.starts_with("(unbanked)")), "the outsider's payments are a flow:\n{stdout}");

    let bank = settled(&["bank", "positions"], &w.url, BANK_A_TOKEN).await;
    assert!(!bank.status.success(), "a bank does not see the others' positions");
    w.ledger.shutdown().await;
}

// ---- a live follower across a server restart ----------------------------------

fn free_port() -> u16 {
    settled::dev::free_port().port()
}

/// A `settled serve` on the port of `config`, so that a restarted server
/// is found where the follower left it; returns it with a client of it once
/// it says it serves there.
async fn serve(config: &Path, port: u16, data_dir: &Path) -> (Child, Client) {
    let (child, bound) = common::spawn_serving(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().expect("utf-8")])
            .env_remove("SETTLED_LISTEN")
            .env_remove("SETTLED_DATA_DIR")
            .env("RUST_LOG", "warn"),
    );
    assert_eq!(bound.port(), port, "the server is where the follower looks for it");
    let client = Client::connect_with_token(&format!("http://{bound}"), &common::dev_token(data_dir))
        .await
        .expect("connects to a serving server");
    (child, client)
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    common::wait_until_catching_sigterm(child.id());
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    child.wait().expect("exits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_follow_live_rides_out_a_server_restart_and_prints_its_totals_on_sigterm() {
    // The world is built through an in-process ledger's helpers, then served
    // by the real binary on a fixed port from the same data dir.
    let ledger = TestLedger::start().await;
    let data_dir = ledger.data_dir();
    let url = ledger.server().url();
    let mut w = World::on(ledger, url, 32).await;
    w.pay(40).await;
    let server = w.ledger.server.take().expect("running");
    server.shutdown().await;

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = data_dir.join("settled.toml");
    std::fs::write(&config, format!("data_dir = {data_dir:?}\nlisten = \"127.0.0.1:{port}\"\ndevelopment = true\n"))
        .expect("config written");
    let (mut served, client) = serve(&config, port, &data_dir).await;
    w.ledger.client = client;
    w.url = url;

    let stderr = data_dir.join("follow.stderr");
    let mut live = LiveFollower::spawn(&["bank", "follow", "--bank", BANK_B], &w.url, BANK_B_TOKEN, &stderr);
    let tip = w.tip_height().await.to_string();
    live.wait_for("the tip's checkpoint", |line| line.starts_with("checkpoint ") && field(line, "height") == tip).await;

    assert!(sigterm(&mut served).success(), "the server stops gracefully");
    let (mut served, client) = serve(&config, port, &data_dir).await;
    w.ledger.client = client;
    w.pay(40).await;
    let tip = w.tip_height().await;
    let expected = w.expected[BANK_B].clone();
    let tip_text = tip.to_string();
    let last = live.wait_for("the new tip's checkpoint", |line| {
        line.starts_with("checkpoint ") && field(line, "height") == tip_text
    });
    let last = last.await;
    assert_eq!(field(&last, "movements"), expected.movements.to_string(), "{last}");

    assert!(sigterm(&mut live.child).success(), "a live follower stops on SIGTERM with exit 0");
    let rest = live.rest().await;
    assert_totals(&rest.join("\n"), BANK_B, tip, &expected);
    let stderr = std::fs::read_to_string(&stderr).expect("stderr file");
    assert!(stderr.contains("stream broke"), "the follower saw the stream end and reconnected: {stderr}");
    assert!(sigterm(&mut served).success());
}
