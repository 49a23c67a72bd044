//! Safe defaults: the documented configuration is production-shaped (no
//! development mode; TLS and credential hashes in it) and starts a TLS
//! server once its placeholders are filled in; plaintext on a non-loopback
//! address is refused unless the configuration says so; every start warns
//! of development mode, of plaintext allowed off loopback, and of a ledger
//! nobody can administer. Servers in these tests bind loopback only: the
//! refusals happen before any address is bound.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use settled::client::{Client, Credential};
use settled::{Config, Keypair, Server, proto};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const BIN: &str = env!("CARGO_BIN_EXE_settled");

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("settled.example.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_configuration_is_production_shaped_and_starts_nothing_until_filled_in() {
    let mut config = Config::from_file(&example()).expect("the example parses");
    assert!(!config.development, "no development mode");
    assert!(!config.allow_plaintext);
    assert!(config.tls.is_some(), "TLS shown");
    assert!(
        config.credentials.iter().any(|c| c.role == "operator")
            && config.credentials.iter().any(|c| c.role == "issuer")
            && config.credentials.iter().any(|c| c.role == "programme_admin")
    );
    assert!(config.exposure().expect("TLS on a public address is allowed").is_empty(), "nothing to warn of");
    // As it is, it starts nothing, and writes no development secret.
    let dir = tempfile::tempdir().expect("temp dir");
    config.data_dir = dir.path().to_owned();
    config.listen = "127.0.0.1:0".parse().expect("address");
    let Err(error) = Server::start(config).await else { panic!("the example's placeholders must not start") };
    assert!(error.to_string().contains("<issuer 1 public key"), "{error}");
    assert!(!dir.path().join(settled::config::DEV_TOKEN_FILE).exists());
    assert!(!dir.path().join("issuer-1.key").exists());
    assert!(!dir.path().join("ledger.redb").exists());
}

/// A CA and a certificate it issued for `localhost`, as PEM files in `dir`.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("certificate");
    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, ca_cert.pem()).expect("written");
    std::fs::write(&paths.1, cert.pem()).expect("written");
    std::fs::write(&paths.2, key.serialize_pem()).expect("written");
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_filled_in_starts_a_tls_server_its_operator_can_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = tls_files(dir.path());
    let engine_key = dir.path().join("engine.key");
    settled::write_secret_key(&engine_key, &Keypair::generate()).expect("engine key");
    let issuers: Vec<String> = (0..3).map(|_| Keypair::generate().address().to_string()).collect();
    let token = "operator-token-of-the-example";
    let mut text = std::fs::read_to_string(example()).expect("readable");
    for (placeholder, value) in [
        ("/var/lib/settled", dir.path().join("data").display().to_string()),
        ("/etc/settled/engine.key", engine_key.display().to_string()),
        ("0.0.0.0:50051", "127.0.0.1:0".to_owned()),
        ("127.0.0.1:9090", "127.0.0.1:0".to_owned()),
        ("<issuer 1 public key, 64 hex digits>", issuers[0].clone()),
        ("<issuer 2 public key, 64 hex digits>", issuers[1].clone()),
        ("<issuer 3 public key, 64 hex digits>", issuers[2].clone()),
        ("<SHA-256 of the operator's token, 64 hex digits>", hex::encode(settled::sha256(token.as_bytes()))),
        ("<SHA-256 of the issuer desk's client certificate, DER, 64 hex digits>", "ab".repeat(32)),
        ("<SHA-256 of the programme administrator's token, 64 hex digits>", "cd".repeat(32)),
        ("/etc/settled/tls/server.pem", cert.display().to_string()),
        ("/etc/settled/tls/server.key", key.display().to_string()),
        ("/etc/settled/tls/clients-ca.pem", ca.display().to_string()),
    ] {
        assert!(text.contains(placeholder), "the example names {placeholder}");
        text = text.replace(placeholder, &value);
    }
    let unfilled: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with('#') && l.contains('<')).collect();
    assert!(unfilled.is_empty(), "every placeholder filled in: {unfilled:?}");
    let filled = dir.path().join("settled.toml");
    std::fs::write(&filled, text).expect("written");
    let server = Server::start(Config::from_file(&filled).expect("parses")).await.expect("starts");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&ca).expect("CA")))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{}", server.local_addr()))
        .expect("url")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("a TLS connection");
    let mut operator = Client::from_channel(channel.clone(), Credential::token(token));
    let info = operator.info(false).await.expect("the operator reads the ledger");
    assert_eq!(info.issuer_public_keys.len(), 3);
    let mut anonymous = Client::from_channel(channel, Credential::default());
    let status = anonymous.ledger.get_info(proto::GetInfoRequest::default()).await.expect_err("no credential");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    // Plaintext to the TLS port gets nothing.
    let plaintext = Client::connect(&format!("http://{}", server.local_addr())).await;
    if let Ok(mut plaintext) = plaintext {
        assert!(plaintext.info(false).await.is_err(), "plaintext answered on the TLS port");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_on_a_non_loopback_address_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path().to_owned());
    config.listen = "0.0.0.0:0".parse().expect("address");
    let Err(error) = Server::start(config.clone()).await else { panic!("plaintext on 0.0.0.0 must be refused") };
    assert!(error.to_string().contains("plaintext on a non-loopback address is refused"), "{error}");
    assert!(!dir.path().join("ledger.redb").exists(), "refused before anything was created");
    config.allow_plaintext = true;
    let warnings = config.exposure().expect("allowed when said explicitly");
    assert!(warnings.iter().any(|w| w.contains("allow_plaintext = true")), "{warnings:?}");

    // The metrics port on a public address the same way; on a private one
    // (where the example's comment says to keep it) it is allowed.
    let mut config = Config::for_data_dir(dir.path().to_owned());
    for public in ["0.0.0.0:9090", "203.0.113.9:9090", "[2001:db8::1]:9090"] {
        config.metrics_listen = Some(public.parse().expect("address"));
        let error = config.exposure().expect_err("metrics on a public address");
        assert!(error.to_string().contains("metrics port"), "{public}: {error}");
    }
    for private in ["10.1.2.3:9090", "192.168.0.7:9090", "[fd00::7]:9090", "127.0.0.1:9090"] {
        config.metrics_listen = Some(private.parse().expect("address"));
        config.exposure().unwrap_or_else(|e| panic!("metrics on {private}: {e}"));
    }
    config.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
    config.development = false;
    let warnings = config.exposure().expect("loopback metrics");
    assert!(warnings.iter().any(|w| w.contains("no [[credentials]]")), "{warnings:?}");
}

#[test]
fn serve_warns_of_development_mode_at_every_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(BIN)
        .args(["serve", "--dev", "--data-dir", dir.path().to_str().expect("utf-8"), "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env_remove("SETTLED_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let Ok(line) = line else { break };
        let serving = line.contains(" serving");
        seen.push(line);
        if serving {
            break;
        }
    }
    child.kill().expect("killed");
    let _ = child.wait();
    let warning = seen.iter().find(|l| l.contains("development mode")).unwrap_or_else(|| panic!("{seen:#?}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("dev.token"), "{warning}");
}

/// Logs for machines and files: with `SETTLED_LOG_FORMAT=json` one JSON
/// object per line whose numeric fields are JSON numbers, and no terminal
/// colour codes in either format when stderr is not a terminal.
#[test]
fn logs_written_to_a_pipe_are_plain_and_json_fields_keep_their_numbers() {
    for json in [true, false] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--dev", "--data-dir", dir.path().to_str().expect("utf-8"), "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env_remove("SETTLED_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if json {
            command.env("SETTLED_LOG_FORMAT", "json");
        } else {
            command.env_remove("SETTLED_LOG_FORMAT");
        }
        let mut child = command.spawn().expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut seen = Vec::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            let serving = line.contains("serving");
            seen.push(line);
            if serving {
                break;
            }
        }
        child.kill().expect("killed");
        let _ = child.wait();
        assert!(seen.iter().all(|line| !line.contains('\u{1b}')), "colour codes in a pipe: {seen:#?}");
        if !json {
            continue;
        }
        let mut numbers = 0;
        for line in &seen {
            let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let fields = object["fields"].as_object().expect("fields");
            for (name, value) in fields {
                if name.ends_with("_ms") || name == "outputs" || name == "unmerged_blocks" {
                    assert!(value.is_u64(), "{name} is {value} in {line}");
                    numbers += 1;
                }
            }
        }
        assert!(numbers >= 3, "the start logs its timings as numbers: {seen:#?}");
    }
}
