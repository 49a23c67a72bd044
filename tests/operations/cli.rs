//! The `settled` binary: keygen, serve (config file < environment < flags,
//! graceful stop on SIGTERM), receipt get and verify, and the demo.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{TestLedger, spawn_serving};
use settled::client::{self, Client};
use settled::dev::demo::{self, DemoOptions};
use settled::{Keypair, proto};

const BIN: &str = env!("CARGO_BIN_EXE_settled");

fn settled(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("SETTLED_SERVER").output().expect("runs settled")
}

fn free_port() -> u16 {
    settled::dev::free_port().port()
}

fn terminate(child: &mut Child) {
    common::wait_until_catching_sigterm(child.id());
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("server exits");
    assert!(exit.success(), "graceful stop exits 0, got {exit}");
}

#[test]
fn keygen_prints_a_secret_and_its_public_key() {
    let output = settled(&["keygen"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let secret = text.lines().find_map(|l| l.strip_prefix("secret ")).expect("secret line");
    let public = text.lines().find_map(|l| l.strip_prefix("public ")).expect("public line");
    let key = Keypair::from_secret_hex(secret).expect("valid secret");
    assert_eq!(key.address().to_string(), public);
}

#[test]
fn keygen_out_writes_an_owner_only_secret_file_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("wallet.key");
    let path = file.to_str().expect("utf-8 path");
    let output = settled(&["keygen", "--out", path]);
    assert!(output.status.success());
    let public = String::from_utf8(output.stdout).expect("utf-8");
    let key = Keypair::from_secret_hex(&std::fs::read_to_string(&file).expect("written")).expect("valid");
    assert_eq!(key.address().to_string(), public.trim());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = settled(&["keygen", "--out", path]);
    assert!(!again.status.success(), "an existing key file is never overwritten");
}

fn write_config(dir: &Path, listen_port: u16) -> std::path::PathBuf {
    let config = dir.join("settled.toml");
    let text = format!(
        "data_dir = {:?}\nlisten = \"127.0.0.1:{listen_port}\"\ndevelopment = true\n\n[genesis]\ncurrency = \"EUR\"\nexponent = 2\n",
        dir.join("data")
    );
    std::fs::write(&config, text).expect("config written");
    config
}

/// The currency of the ledger served at `address` (the server says it
/// serves once its development token is written).
async fn currency_at(address: SocketAddr, data_dir: &Path) -> String {
    let token = common::dev_token(&data_dir.join("data"));
    let mut client = Client::connect_with_token(&format!("http://{address}"), &token).await.expect("connects");
    let info = client.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.expect("info").into_inner();
    info.currency
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_the_config_file_then_the_environment_then_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let ports: std::collections::BTreeSet<u16> = [file_port, env_port, flag_port].into();
    assert_eq!(ports.len(), 3, "three different ports, or an override could not be told from what it overrides");
    let config = write_config(dir.path(), file_port);

    // The file alone.
    let (mut child, bound) = spawn_serving(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().expect("utf-8")])
            .env_remove("SETTLED_CONFIG")
            .env_remove("SETTLED_LISTEN"),
    );
    assert_eq!(bound.port(), file_port, "the file's listen address");
    assert_eq!(currency_at(bound, dir.path()).await, "EUR", "the genesis comes from the config file");
    terminate(&mut child);

    // The environment overrides the file.
    let (mut child, bound) = spawn_serving(
        Command::new(BIN)
            .args(["serve"])
            .env("SETTLED_CONFIG", &config)
            .env("SETTLED_LISTEN", format!("127.0.0.1:{env_port}")),
    );
    assert_eq!(bound.port(), env_port, "the environment's listen address, not the file's");
    assert_eq!(currency_at(bound, dir.path()).await, "EUR", "the rest still comes from the file");
    terminate(&mut child);

    // A flag overrides the environment.
    let (mut child, bound) = spawn_serving(
        Command::new(BIN)
            .args(["serve", "--config", config.to_str().expect("utf-8"), "--listen", &format!("127.0.0.1:{flag_port}")])
            .env("SETTLED_LISTEN", format!("127.0.0.1:{env_port}")),
    );
    assert_eq!(bound.port(), flag_port, "the flag's listen address, not the environment's");
    assert_eq!(currency_at(bound, dir.path()).await, "EUR");
    terminate(&mut child);
}

#[test]
fn serve_refuses_a_data_dir_created_with_another_genesis() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), free_port());
    // Create the ledger with EUR through a short-lived server...
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let config = settled::Config::from_file(&config).expect("config");
        let mut config = config;
        config.listen = "127.0.0.1:0".parse().expect("addr");
        settled::Server::start(config).await.expect("starts").shutdown().await;
    });
    // ...then ask for CNY on the same data dir.
    let output = Command::new(BIN)
        .args([
            "serve",
            "--dev",
            "--data-dir",
            dir.path().join("data").to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("SETTLED_CONFIG")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("different genesis"), "stderr: {stderr}");
}

#[test]
fn serve_refuses_to_start_without_issuer_keys_unless_in_development_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(BIN)
        .args(["serve", "--data-dir", dir.path().to_str().expect("utf-8"), "--listen", "127.0.0.1:0"])
        .env_remove("SETTLED_CONFIG")
        .env_remove("SETTLED_DEV")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("issuer_keys is empty"), "stderr: {stderr}");
    assert!(!dir.path().join("ledger.redb").exists(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_get_then_verify_accepts_a_real_receipt_and_rejects_a_tampered_one() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let coin = ledger.fund(&alice, 5_000, "cli-row").await;
    let payment = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 1_000, b"cli-inv");
    let (receipt, _) = ledger.client.submit(&payment).await.expect("confirmed");
    let url = ledger.server().url();
    let txid = receipt.txid.to_string();
    let token = common::dev_token(&ledger.data_dir());
    let fetched =
        tokio::task::spawn_blocking(move || settled(&["receipt", "get", &txid, "--server", &url, "--token", &token]))
            .await
            .expect("joins");
    assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));
    let file = ledger.data_dir().join("receipt.json");
    std::fs::write(&file, &fetched.stdout).expect("written");
    // The engine's secret key file is refused: a verifier needs only the
    // public key, which `settled info --json` gives.
    let secret_file = ledger.data_dir().join("engine.key");
    let secret = settled(&[
        "receipt",
        "verify",
        file.to_str().expect("utf-8"),
        "--engine-key-file",
        secret_file.to_str().expect("utf-8"),
    ]);
    assert!(!secret.status.success());
    assert!(String::from_utf8_lossy(&secret.stderr).contains("SECRET key"), "{secret:?}");
    let (url, token) = (ledger.server().url(), common::dev_token(&ledger.data_dir()));
    let info = tokio::task::spawn_blocking(move || settled(&["info", "--json", "--server", &url, "--token", &token]))
        .await
        .expect("joins");
    assert!(info.status.success(), "{info:?}");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert_eq!(info["chain_id"], ledger.chain.to_string());
    assert_eq!(info["protocol_version"], 2);
    let key_file = ledger.data_dir().join("engine.pub");
    std::fs::write(&key_file, info["engine_public_key"].as_str().expect("the key")).expect("written");

    let ok = settled(&[
        "receipt",
        "verify",
        file.to_str().expect("utf-8"),
        "--engine-key-file",
        key_file.to_str().expect("utf-8"),
    ]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("receipt OK"));
    assert!(String::from_utf8_lossy(&ok.stdout).contains(&format!("for chain {}", ledger.chain)));

    // Pinned to the ledger's chain id it verifies; pinned to another, it
    // does not, whatever the file says.
    let chain_hex = ledger.chain.to_string();
    let pinned = |chain: &str| {
        settled(&[
            "receipt",
            "verify",
            file.to_str().expect("utf-8"),
            "--engine-key-file",
            key_file.to_str().expect("utf-8"),
            "--chain-id",
            chain,
        ])
    };
    let same = pinned(&chain_hex);
    assert!(same.status.success(), "{}", String::from_utf8_lossy(&same.stderr));
    let elsewhere = pinned(&settled::ChainId([7; 32]).to_string());
    assert!(!elsewhere.status.success(), "a receipt of this chain does not verify pinned to another");
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("receipt INVALID"));

    let engine_hex = ledger.engine_key().await.to_string();
    let mut json: serde_json::Value = serde_json::from_slice(&fetched.stdout).expect("json");
    json["sequence"] = serde_json::json!(receipt.sequence + 1);
    std::fs::write(&file, serde_json::to_vec(&json).expect("json")).expect("written");
    let tampered = settled(&["receipt", "verify", file.to_str().expect("utf-8"), "--engine-key", &engine_hex]);
    assert!(!tampered.status.success());
    assert!(String::from_utf8_lossy(&tampered.stderr).contains("receipt INVALID"));

    let wrong_key = Keypair::generate().address().to_string();
    json["sequence"] = serde_json::json!(receipt.sequence);
    std::fs::write(&file, serde_json::to_vec(&json).expect("json")).expect("written");
    let other = settled(&["receipt", "verify", file.to_str().expect("utf-8"), "--engine-key", &wrong_key]);
    assert!(!other.status.success(), "a receipt does not verify against another engine's key");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_end_to_end_and_its_checks_hold() {
    let report = demo::run(DemoOptions {
        wallets: 48,
        terminals: 4,
        phase: Duration::from_millis(700),
        data_dir: None,
        stream_window: 8,
    })
    .await
    .expect("demo checks hold");
    assert!(report.confirmed > 0);
    assert!(report.receipts_checked_after_restart > 0);
    assert_eq!(
        report.minted_minor,
        48 * 100_000 + 10 * 50_000 + 300_000 + 80_000 + 1_000 + 5 * 30_000,
        "wallets, food grants, savings, a monthly benefit, pocket money, five cashed-out benefits"
    );
    assert!(report.burned_minor > 0, "a shop's bank redeemed its takings");
    assert_eq!(report.unspent_minor, report.minted_minor - report.burned_minor);
    assert!(report.bank_lag_p99_ms > 0, "the banks followed blocks live");
    assert_eq!(report.refusals.get("REASON_INPUT_SPENT"), Some(&1));
    assert_eq!(report.refusals.get("REASON_BAD_SIGNATURE"), Some(&1));
    for welfare in [
        "REASON_MCC_NOT_ALLOWED",
        "REASON_TIER_PAYMENT_LIMIT",
        "REASON_PROGRAMME_EXPIRED",
        "REASON_CLAIM_ALREADY_PAID",
        "REASON_WALLET_FROZEN",
        "REASON_CLAIM_REQUIRED",
    ] {
        assert_eq!(report.refusals.get(welfare), Some(&1), "{welfare}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_commands_give_banks_and_terminals_working_credentials() {
    let ledger = TestLedger::start().await;
    let url = ledger.server().url();
    let dev = common::dev_token(&ledger.data_dir());
    let shop = Keypair::generate().address().to_string();
    let commands: Vec<Vec<String>> = vec![
        vec!["register", "bank", "--id", "bank-x", "--name", "Bank X", "--credential-token", "bank-x-secret"],
        vec![
            "register", "merchant", "--id", "shop-x", "--name", "Shop X", "--mcc", "5411", "--bank", "bank-x",
            "--payout", &shop,
        ],
        vec!["register", "terminal", "--id", "till-x", "--merchant", "shop-x", "--credential-token", "till-x-secret"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(str::to_owned).collect())
    .collect();
    for command in commands {
        let (url, dev) = (url.clone(), dev.clone());
        let output = tokio::task::spawn_blocking(move || {
            let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
            args.extend(["--server", &url, "--token", &dev]);
            settled(&args)
        })
        .await
        .expect("joins");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(String::from_utf8_lossy(&output.stdout).contains("registered in block"));
    }
    let shop = settled::Address::from_hex(&shop).expect("hex");
    for token in ["bank-x-secret", "till-x-secret"] {
        let mut caller = Client::connect_with_token(&url, token).await.expect("connects");
        let request = proto::GetBalanceRequest { address: shop.0.to_vec() };
        caller.wallets.get_balance(request).await.expect("the registered credential reads its merchant");
    }
    ledger.shutdown().await;
}

#[test]
fn serve_logs_one_json_object_per_line_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8");
    let mut child = Command::new(BIN)
        .args(["serve", "--dev", "--data-dir", data_dir, "--listen", "127.0.0.1:0"])
        .env("SETTLED_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let serving = line.contains("\"serving\"");
        seen.push(line);
        if serving {
            break;
        }
    }
    child.kill().expect("killed");
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.contains("\"serving\"")), "{seen:?}");
    for line in &seen {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(value.get("level").is_some() && value.get("fields").is_some(), "{line}");
    }
}

/// `settled` as a client, run from another thread (the test's runtime keeps
/// serving).
async fn settled_async(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command.args(&args).env_remove("SETTLED_SERVER").env_remove("SETTLED_TOKEN");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().expect("runs settled")
    })
    .await
    .expect("joins")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// A newcomer's path: a wallet key from `keygen`, money on it, `settled
/// pay` from the key file, `settled balance`, each with `--json` for a
/// program; a flag beats the environment; refusals and mistakes say what
/// to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_and_balance_from_a_key_file_as_text_and_json() {
    let mut ledger = TestLedger::start().await;
    let dir = ledger.data_dir();
    let key_file = dir.join("wallet.key");
    let made = settled(&["keygen", "--out", key_file.to_str().expect("utf-8")]);
    let wallet = String::from_utf8(made.stdout).expect("utf-8").trim().to_owned();
    let key = Keypair::from_secret_hex(&std::fs::read_to_string(&key_file).expect("key")).expect("secret");
    assert_eq!(key.address().to_string(), wallet);
    ledger.fund_coins(&key, &[500, 300], "newcomer").await;
    let shop = Keypair::generate().address().to_string();
    let url = ledger.server().url();
    let token_file = dir.join("dev.token");
    let token_file = token_file.to_str().expect("utf-8").to_owned();
    let base = |args: &[&str]| {
        let mut all = strings(args);
        all.extend(strings(&["--server", &url, "--token-file", &token_file]));
        all
    };

    // 6.00 takes both outputs: 8.00 held, 2.00 back as change. A wrong
    // SETTLED_TOKEN in the environment does not beat --token-file.
    let paid = settled_async(
        base(&["pay", "--key-file", key_file.to_str().expect("utf-8"), "--to", &shop, "--amount", "6.00", "--json"]),
        vec![("SETTLED_TOKEN", "a stale token".to_owned())],
    )
    .await;
    assert!(paid.status.success(), "{paid:?}");
    let paid: serde_json::Value = serde_json::from_slice(&paid.stdout).expect("JSON");
    assert_eq!((paid["amount"].as_str(), paid["amount_minor"].as_u64()), (Some("6.00"), Some(600)));
    let txid = settled::TxId::from_hex(paid["txid"].as_str().expect("txid")).expect("hex");
    let found = ledger.client.payments.get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() }).await;
    assert_eq!(found.expect("found").into_inner().status, proto::PaymentStatus::Confirmed as i32);

    let balance = settled_async(base(&["balance", "--address", &wallet, "--json"]), Vec::new()).await;
    let balance: serde_json::Value = serde_json::from_slice(&balance.stdout).expect("JSON");
    assert_eq!((balance["total"].as_str(), balance["total_minor"].as_u64()), (Some("2.00"), Some(200)));
    let text = settled_async(base(&["balance", "--address", &shop]), Vec::new()).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains("holds 6.00"), "{text:?}");

    // Too much: a clear refusal, nothing paid.
    let key_path = key_file.to_str().expect("utf-8");
    let over =
        settled_async(base(&["pay", "--key-file", key_path, "--to", &shop, "--amount", "2.01"]), Vec::new()).await;
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("less than 201"), "{over:?}");
    // A public key given as the key file: the wallet it names holds nothing.
    let public_file = dir.join("wallet.pub");
    std::fs::write(&public_file, &wallet).expect("written");
    let public_path = public_file.to_str().expect("utf-8");
    let wrong =
        settled_async(base(&["pay", "--key-file", public_path, "--to", &shop, "--amount", "1"]), Vec::new()).await;
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("holds 0 minor units"), "{wrong:?}");
    ledger.assert_supply(800).await;
    ledger.shutdown().await;
}

#[test]
fn no_server_is_a_refused_connection_that_says_what_to_run() {
    let address = format!("http://127.0.0.1:{}", free_port());
    let output = settled(&["info", "--server", &address]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("connection refused at {address}")), "{stderr}");
    assert!(stderr.contains("settled serve"), "{stderr}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [("bash", "_settled()"), ("zsh", "#compdef settled"), ("fish", "complete -c settled")] {
        let output = settled(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker) && script.contains("disburse"), "{shell}: {script}");
    }
}

/// A key or id copied with its placeholder, or cut short, is named with
/// what it should have been, before any server is asked.
#[test]
fn a_malformed_key_says_what_it_should_be() {
    let output = settled(&["receipt", "verify", "receipt.json", "--engine-key", "<hex>"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--engine-key: expected 64 hex digits"), "{stderr}");
    assert!(stderr.contains("replace the <placeholder>"), "{stderr}");
    let output = settled(&["balance", "--address", "abc", "--server", "http://127.0.0.1:9"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--address: expected 64 hex digits (32 bytes), got 'abc', 3 characters"), "{stderr}");
}

/// A date that is none of the forms the CLI takes is refused before any
/// server is asked, naming the forms; an ISO 8601 date-time without its
/// offset is one of them.
#[test]
fn a_bad_date_names_the_forms_a_date_may_take() {
    let treasury = Keypair::generate().address().to_string();
    for bad in ["tomorrow", "2026-12-31", "2026-12-31T23:59:59", "now+", "now-5"] {
        let output = settled(&[
            "programme",
            "create",
            "--id",
            "9",
            "--name",
            "x",
            "--mcc",
            "5411",
            "--valid-until",
            bad,
            "--treasury",
            &treasury,
            "--server",
            "http://127.0.0.1:9",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{bad}");
        assert!(stderr.contains(&format!("--valid-until: bad time {bad}")), "{bad}: {stderr}");
        assert!(stderr.contains("ISO 8601") && !stderr.contains("connection refused"), "{bad}: {stderr}");
    }
}
