//! The `settled` command: serve, keygen, demo, disburse, programmes,
//! registry, audit, receipts, and what operating banks run (follow,
//! statement, positions). Each family of commands is a module; this file
//! parses, dispatches, and holds the helpers they share.

mod admin;
mod audit;
mod bank;
mod cli;
mod cluster;
mod demo;
mod merchant;
mod output;
mod serve;
mod wallet;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use settled::client::{self, Client};
use settled::{Address, Keypair, proto};

use crate::admin::{disburse, programme, receipt, register};
use crate::cli::*;
use crate::serve::audit_offline;

fn main() -> ExitCode {
    // One JSON object per line for log shippers (SETTLED_LOG_FORMAT=json);
    // plain text for people otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colour codes only on a terminal: logs redirected to a file or a
    // journal stay plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("SETTLED_LOG_FORMAT").is_ok_and(|format| format == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let cli = Cli::parse();
    output::set_json(cli.json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    // A flag beats the environment: --token, then --token-file, then
    // SETTLED_TOKEN.
    let token = match (cli.token, cli.token_file) {
        (Some(token), _) => token,
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().to_owned(),
            Err(e) => {
                eprintln!("error: --token-file {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        (None, None) => std::env::var("SETTLED_TOKEN").unwrap_or_default(),
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
    client.map_err(|e| transport_text(server, &e))
}

/// A connection failure in words that say what to do.
fn transport_text(server: &str, error: &tonic::transport::Error) -> String {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let all = causes.join(": ").to_lowercase();
    if all.contains("connection refused") {
        format!("connection refused at {server}: is `settled serve` running there? (--server or SETTLED_SERVER)")
    } else if all.contains("invalid uri") || all.contains("invalid format") {
        format!("{server} is not a server address: give one like http://127.0.0.1:50051")
    } else if all.contains("dns") || all.contains("failed to lookup") {
        format!("{server}: the host name does not resolve")
    } else {
        format!("cannot reach {server}: {}", causes.join(": "))
    }
}

/// The replicas of a comma-separated `--server` list.
fn replicas(server: &str, token: &str) -> Result<settled::client::Replicas, String> {
    let urls: Vec<String> = server.split(',').map(str::trim).filter(|url| !url.is_empty()).map(str::to_owned).collect();
    settled::client::Replicas::lazy_with_token(&urls, token)
}

async fn run(command: Command, token: &str) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Keygen { out } => {
            let key = Keypair::generate();
            match out {
                Some(path) => {
                    settled::write_secret_key(&path, &key).map_err(|e| format!("{}: {e}", path.display()))?;
                    // The public key alone on stdout, for scripts:
                    // `KEY=$(settled keygen --out wallet.key)`.
                    let value = serde_json::json!({"public": key.address().to_string(), "secret_file": path});
                    output::emit(&value, &key.address().to_string());
                    if !output::json() {
                        eprintln!("secret key written to {} (mode 0600); public key on stdout", path.display());
                    }
                }
                None => {
                    let value = serde_json::json!({"public": key.address().to_string(), "secret": key.secret_hex()});
                    output::emit(&value, &format!("secret {}\npublic {}", key.secret_hex(), key.address()));
                }
            }
            Ok(())
        }
        Command::Info { server } => wallet::info(&server, token).await,
        Command::Balance { address, server } => wallet::balance(&address, &server, token).await,
        Command::Pay(args) => wallet::pay(args, token).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "settled", &mut std::io::stdout());
            Ok(())
        }
        Command::Demo(args) => demo::demo(args).await,
        Command::Receipt { command } => receipt(command, token).await,
        Command::Disburse(args) => disburse(args, token).await,
        Command::Audit { server, data_dir, engine_key, chain_id } => {
            let report = match (data_dir, engine_key.as_deref(), chain_id.as_deref()) {
                (Some(data_dir), engine_key, chain_id) => audit_offline(&data_dir, engine_key, chain_id)?,
                (None, Some(engine_key), Some(chain_id)) => {
                    // Trusting nobody: the client replays the chain itself.
                    let key = Address::from_hex(engine_key)
                        .map_err(|e| crate::hex32_error("--engine-key", engine_key, &e))?;
                    let chain = settled::ChainId::from_hex(chain_id)
                        .map_err(|e| crate::hex32_error("--chain-id", chain_id, &e))?;
                    let mut client = connect(&server, token).await?;
                    let audit = crate::audit::audit_trusting_nobody(&mut client, key, chain)
                        .await
                        .map_err(|e| format!("the ledger does not audit: {e}"))?;
                    let value = serde_json::json!({
                        "trusting_no_server": true,
                        "blocks": audit.blocks,
                        "transactions": audit.transactions,
                        "registry_changes": audit.registry_changes,
                        "tip_height": audit.tip_height,
                        "supply_minor": audit.supply_minor,
                        "engine_public_key": key.to_string(),
                        "chain_id": chain.to_string(),
                        "failures": Vec::<String>::new(),
                    });
                    output::emit(
                        &value,
                        &format!(
                            "re-derived from genesis, trusting no server: {} blocks, {} transactions, {} registry \
                             changes, all signed by {key} on chain {chain}; tip block {}, supply {} (minor units)",
                            audit.blocks,
                            audit.transactions,
                            audit.registry_changes,
                            audit.tip_height,
                            audit.supply_minor
                        ),
                    );
                    return Ok(());
                }
                (None, None, None) => {
                    eprintln!(
                        "NOTE: the server audits itself; pin --engine-key and --chain-id to re-derive the chain here, \
                         trusting no server"
                    );
                    let mut client = connect(&server, token).await?;
                    client.ledger.audit(proto::AuditRequest {}).await.map_err(|s| status_text(&s))?.into_inner()
                }
                (None, _, _) => return Err("pin both --engine-key and --chain-id, or neither".to_owned()),
            };
            let mut text = format!(
                "audited {} blocks, {} transactions; minted {} - burned {} = unspent {} in {} outputs",
                report.blocks,
                report.transactions,
                report.minted_minor,
                report.burned_minor,
                report.unspent_minor,
                report.unspent_count
            );
            for failure in &report.failures {
                text.push_str(&format!("\nFAILED: {failure}"));
            }
            let value = serde_json::json!({
                "trusting_no_server": false,
                "blocks": report.blocks,
                "transactions": report.transactions,
                "minted_minor": report.minted_minor,
                "burned_minor": report.burned_minor,
                "unspent_minor": report.unspent_minor,
                "unspent_count": report.unspent_count,
                "failures": report.failures,
            });
            output::emit(&value, &text);
            if report.failures.is_empty() { Ok(()) } else { Err(format!("{} audit failures", report.failures.len())) }
        }
        Command::Programme { command, server } => programme(command, &server, token).await,
        Command::Register { command, server } => register(command, &server, token).await,
        Command::Credentials(args) => crate::admin::credentials(args, token).await,
        Command::Wallet { command, server } => crate::admin::wallet(command, &server, token).await,
        Command::Deactivate(args) => crate::admin::set_active(args, false, token).await,
        Command::Reactivate(args) => crate::admin::set_active(args, true, token).await,
        Command::RegistryLog { after, server } => crate::admin::registry_log(after, &server, token).await,
        Command::Backup { out, server } => crate::serve::backup(&out, &server, token).await,
        Command::Restore { from, data_dir } => crate::serve::restore(&from, &data_dir),
        Command::Beneficiary { command, server } => admin::beneficiary(command, &server, token).await,
        Command::Refund(args) => merchant::refund(args, token).await,
        Command::PersonRef { key_file, id } => admin::person_ref(&key_file, id.as_deref()),
        Command::Bank { command, server } => bank::bank(command, &server, token).await,
        Command::Cluster { command } => cluster::cluster(command, token).await,
    }
}

fn status_text(status: &tonic::Status) -> String {
    if status.code() == tonic::Code::Unavailable && status.message().to_lowercase().contains("connection refused") {
        return "connection refused: is `settled serve` running at --server (or SETTLED_SERVER)?".to_owned();
    }
    match client::status_reason(status) {
        // The message opens with the reason's name already.
        Some(reason) if status.message().starts_with(reason.as_str_name()) => {
            format!("{:?} {}", status.code(), status.message())
        }
        Some(reason) => format!("{:?} {}: {}", status.code(), reason.as_str_name(), status.message()),
        None => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// A wallet's secret key file (`settled keygen --out`).
fn read_key(path: &std::path::Path) -> Result<Keypair, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Keypair::from_secret_hex(&text).map_err(|e| format!("{}: not a secret key file ({e})", path.display()))
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
    let parsed = match text.strip_prefix("now") {
        Some("") => Some(now),
        Some(rest) => rest
            .strip_prefix('+')
            .and_then(|s| s.parse::<u64>().ok())
            .map(|seconds| now.saturating_add(seconds.saturating_mul(1000))),
        None => text.parse().ok().or_else(|| settled::parse_iso8601(text).ok()),
    };
    parsed.ok_or_else(|| {
        format!(
            "bad time {text}: an ISO 8601 date-time with its offset (2027-01-01T00:00:00+08:00), unix \
             milliseconds, now, or now+<seconds>"
        )
    })
}

/// What a malformed 32-byte hex value given as `what` should have been.
fn hex32_error(what: &str, text: &str, error: &hex::FromHexError) -> String {
    let shown: String = text.chars().take(20).collect();
    let more = if text.chars().count() > 20 { "..." } else { "" };
    let hint = if text.contains('<') || text.contains('>') {
        " (replace the <placeholder> with the value itself)"
    } else {
        ""
    };
    format!(
        "{what}: expected 64 hex digits (32 bytes), got '{shown}{more}', {} characters: {error}{hint}",
        text.trim().chars().count()
    )
}

fn hex_address(text: &str) -> Result<Vec<u8>, String> {
    Ok(Address::from_hex(text).map_err(|e| hex32_error("address", text, &e))?.0.to_vec())
}
