//! What `deploy/` ships: the systemd unit runs `settled serve` hardened and
//! systemd accepts it; every metric the Grafana dashboard queries is one a
//! real server exports (a leader of three replicas with `metrics_listen`,
//! after payments and a refusal, scraped over HTTP).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::cluster::{Started, client_of, shutdown_all};
use settled::client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)
}

/// A unit file's `[section]` -> key -> values (a key may repeat).
fn unit_sections(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with(['#', ';'])) {
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not a key=value line: {line}"));
        sections
            .entry(section.clone())
            .or_default()
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    sections
}

#[test]
fn the_systemd_unit_runs_the_server_hardened() {
    let text = std::fs::read_to_string(deploy("settled.service")).expect("deploy/settled.service");
    let sections = unit_sections(&text);
    let service = &sections["Service"];
    let one = |key: &str| -> &str {
        match service.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("{key}: {other:?}"),
        }
    };
    assert_eq!(one("ExecStart"), "/usr/local/bin/settled serve --config /etc/settled/settled.toml");
    let expected = [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("PrivateDevices", "true"),
        ("NoNewPrivileges", "true"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "true"),
        ("LockPersonality", "true"),
        ("RestrictNamespaces", "true"),
        ("Restart", "on-failure"),
        ("StateDirectory", "settled"),
        ("KillSignal", "SIGTERM"),
    ];
    for (key, value) in expected {
        assert_eq!(one(key), value, "{key}");
    }
    assert!(service["SystemCallFilter"].iter().any(|filter| filter == "@system-service"));
    assert!(service.contains_key("User") || one("DynamicUser") == "true", "never root");
    assert!(one("LimitNOFILE").parse::<u64>().expect("a number") >= 4096);
    // SIGTERM drains: open calls get the server's 10 s grace, then the
    // engine answers what it admitted and closes the ledger.
    let stop_seconds: u64 = one("TimeoutStopSec").parse().expect("seconds");
    assert!(stop_seconds >= 30, "TimeoutStopSec={stop_seconds} leaves no time to drain");
    // The state directory is where the example configuration keeps the
    // ledger, and the only place the unit lets it write.
    let example: toml::Value =
        toml::from_str(&std::fs::read_to_string(deploy("../settled.example.toml")).expect("example")).expect("toml");
    let data_dir = example["data_dir"].as_str().expect("data_dir");
    assert_eq!(data_dir, format!("/var/lib/{}", one("StateDirectory")));
    assert_eq!(one("ReadWritePaths"), data_dir);
    assert_eq!(sections["Install"]["WantedBy"], ["multi-user.target"]);
}

/// `systemd-analyze verify` (warnings included) and its offline security
/// score, where systemd is installed; the binary named is the one this
/// build made.
#[test]
fn systemd_accepts_the_unit() {
    let Ok(version) = std::process::Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit is checked by parsing only");
        return;
    };
    assert!(version.status.success(), "{version:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(deploy("settled.service")).expect("deploy/settled.service");
    let unit = dir.path().join("settled.service");
    std::fs::write(&unit, text.replace("/usr/local/bin/settled", env!("CARGO_BIN_EXE_settled"))).expect("written");

    let verify = std::process::Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("runs");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{stderr}");
    let about_the_unit: Vec<&str> = stderr.lines().filter(|line| line.contains("settled.service")).collect();
    assert!(about_the_unit.is_empty(), "systemd warns about the unit:\n{}", about_the_unit.join("\n"));

    // Exposure on systemd's 0-100 scale (printed as 0.0-10.0): the unit
    // scores about 12; a change that weakens it past 30 fails here.
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=30"])
        .arg(&unit)
        .output()
        .expect("runs");
    assert!(
        security.status.success(),
        "{}{}",
        String::from_utf8_lossy(&security.stdout),
        String::from_utf8_lossy(&security.stderr)
    );
}

/// PromQL's functions, aggregations and keywords: never metric names.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "rate",
    "irate",
    "increase",
    "delta",
    "histogram_quantile",
    "time",
    "label_values",
    "topk",
    "bottomk",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "abs",
    "clamp_min",
    "clamp_max",
    "vector",
    "scalar",
];

/// Keywords followed by a parenthesised list of label names.
const PROMQL_LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// `expr` without its strings, label matchers (`{...}`) and ranges
/// (`[...]`).
fn without_matchers(expr: &str) -> String {
    let mut bare = String::new();
    let (mut depth, mut quote) = (0usize, None::<char>);
    for c in expr.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth = depth.saturating_sub(1),
            (None, c) if depth == 0 => bare.push(c),
            (None, _) => {}
        }
    }
    bare
}

/// The metric names an expression names: its identifiers once strings,
/// label matchers, ranges and the label lists of `by (...)` and the like
/// are taken out, minus PromQL's own words, among the names Settled's
/// metrics may have (`settled_`, `process_`, `grpc_`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let bare = without_matchers(expr);
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut rest = bare.as_str();
    while let Some(at) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':') {
        // A word starting inside a number (`1e3`) is no name.
        let inside_number = rest[..at].ends_with(|c: char| c.is_ascii_digit() || c == '.');
        rest = &rest[at..];
        let end = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if PROMQL_LABEL_LISTS.contains(&word) && rest.trim_start().starts_with('(') {
            let close = rest.find(')').expect("a closed label list");
            rest = &rest[close + 1..];
            continue;
        }
        if inside_number || PROMQL_WORDS.contains(&word) {
            continue;
        }
        if ["settled_", "process_", "grpc_"].iter().any(|prefix| word.starts_with(prefix)) {
            names.insert(word.to_owned());
        }
    }
    names
}

/// Every expression of the dashboard: its panels' targets and its
/// template variables' queries.
fn dashboard_expressions(dashboard: &serde_json::Value) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("every target has an expr").to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if let Some(query) = variable["query"]["query"].as_str().or_else(|| variable["query"].as_str()) {
            exprs.push(query.to_owned());
        }
    }
    exprs
}

/// The names of the samples in a Prometheus text scrape.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Dashboard names missing from `exported`, by expression.
fn missing_names(exprs: &[String], exported: &BTreeSet<String>) -> Vec<(String, String)> {
    exprs
        .iter()
        .flat_map(|expr| metric_names(expr).into_iter().map(move |name| (name, expr.clone())))
        .filter(|(name, _)| !exported.contains(name))
        .collect()
}

#[test]
fn the_dashboard_check_finds_the_names_a_query_uses_and_no_others() {
    let expr = r#"histogram_quantile(0.99, sum by (le, method) (rate(settled_grpc_request_seconds_bucket{instance=~"$instance",code!="settled_not_a_metric"}[$__rate_interval]))) / on (instance) group_left max without (job) (process_open_fds) + time() - process_start_time_seconds"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["process_open_fds", "process_start_time_seconds", "settled_grpc_request_seconds_bucket"]);
    let exported: BTreeSet<String> = ["process_open_fds", "process_start_time_seconds"].map(str::to_owned).into();
    let missing = missing_names(&[expr.to_owned()], &exported);
    assert_eq!(missing.len(), 1, "a name the scrape lacks is reported: {missing:?}");
    assert_eq!(missing[0].0, "settled_grpc_request_seconds_bucket");
}

#[test]
fn the_dashboard_is_an_importable_grafana_dashboard() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/settled.json")).expect("the dashboard"))
            .expect("JSON");
    assert!(dashboard["schemaVersion"].as_u64().expect("schemaVersion") >= 36);
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(ids.insert(panel["id"].as_u64().expect("an id")), "panel ids are unique: {panel}");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", panel["title"]);
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", panel["title"]);
        }
    }
}

async fn scrape(address: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("metrics port answers");
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: settled\r\n\r\n").await.expect("sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).expect("a body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_exported() {
    let mut started = Started::new_configured(
        |config| config.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        |_| {},
    )
    .await;
    let leader = &started.replicas[started.leader];
    let mut till = client_of(leader);
    let (payer, coin) = &started.payers[0];
    let payment = client::pay(&started.chain, payer, *coin, started.shop, 1, b"dashboard-1");
    till.submit(&payment).await.expect("confirmed");
    let double_spend = client::pay(&started.chain, payer, *coin, started.shop, 2, b"dashboard-2");
    till.submit(&double_spend).await.expect_err("spent");
    let text = scrape(leader.server().metrics_addr().expect("metrics configured")).await;
    let exported = exported_names(&text);

    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/settled.json")).expect("the dashboard"))
            .expect("JSON");
    let exprs = dashboard_expressions(&dashboard);
    let queried: BTreeSet<String> = exprs.iter().flat_map(|expr| metric_names(expr)).collect();
    assert!(queried.len() >= 30, "the dashboard queries the metrics: {queried:?}");
    let missing = missing_names(&exprs, &exported);
    assert!(missing.is_empty(), "the dashboard queries metrics the server does not export: {missing:#?}\n{text}");
    shutdown_all(&mut started.replicas).await;
}
