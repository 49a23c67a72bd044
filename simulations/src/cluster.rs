//! `settled-simulations cluster`: the cluster's figures on this machine.
//! Repeats the cluster demo (three `settled serve` processes, terminals
//! paying through a cluster client, the leader killed with SIGKILL) and
//! reports the fail-over time of each run and their median; then runs the
//! same terminals against one single-node `settled serve` for the same
//! time, so that the cluster's rate is compared with a single node's in
//! the same invocation.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use settled::Keypair;
use settled::client::Replicas;
use settled::dev::demo_cluster::{self, ClusterDemoOptions, ClusterDemoReport};

/// Runs of one invocation.
pub const CLUSTER_RUNS_MAX: usize = 100;

#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub settled_bin: PathBuf,
    pub runs: usize,
    pub terminals: usize,
    pub phase: Duration,
}

#[derive(Debug)]
pub struct ClusterFigures {
    pub runs: Vec<ClusterDemoReport>,
    pub failover_p50: Duration,
    pub cluster_rate: f64,
    pub single_rate: f64,
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// A single-node server process on a temporary data dir (development keys
/// and token), killed when dropped.
struct SingleNode {
    child: std::process::Child,
    url: String,
    dir: PathBuf,
}

impl Drop for SingleNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_single(bin: &Path, dir: &Path) -> Result<SingleNode, String> {
    // Below the ephemeral range, handed out once per process: no listener
    // bound to port 0 meanwhile can take it before the child binds it.
    let address = settled::dev::free_port();
    let child = Command::new(bin)
        .args(["serve", "--dev", "--listen", &address.to_string(), "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    Ok(SingleNode { child, url: format!("http://{address}"), dir: dir.to_owned() })
}

async fn single_node_rate(options: &ClusterOptions) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let node = start_single(&options.settled_bin, dir.path())?;
    let token_file = node.dir.join("dev.token");
    let deadline = Instant::now() + Duration::from_secs(30);
    let token = loop {
        if let Ok(token) = std::fs::read_to_string(&token_file) {
            break token.trim().to_owned();
        }
        if Instant::now() > deadline {
            return Err("the single node did not start".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let issuers: Vec<Keypair> = (1..=3)
        .map(|i| {
            let path = node.dir.join(format!("issuer-{i}.key"));
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Keypair::from_secret_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect::<Result<_, String>>()?;
    let client = Replicas::lazy_with_token(std::slice::from_ref(&node.url), &token)?;
    let wallets = demo_cluster::fund_wallets(&client, &issuers, options.terminals, 1_000_000, "single").await?;
    let stop = Arc::new(AtomicBool::new(false));
    let payments = {
        let stop = Arc::clone(&stop);
        let shop = Keypair::generate().address();
        tokio::spawn(async move { demo_cluster::pay_until(&client, wallets, shop, &stop).await })
    };
    let started = Instant::now();
    tokio::time::sleep(options.phase).await;
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let confirmed = payments.await.map_err(|e| e.to_string())??;
    #[allow(clippy::cast_precision_loss)]
    let count = confirmed.iter().filter(|c| c.at >= started && c.at < ended).count() as f64;
    Ok(count / ended.duration_since(started).as_secs_f64())
}

/// Runs the cluster demo `runs` times, then the single node.
///
/// # Errors
/// A run failed its checks, or a process could not be started.
pub async fn run(options: &ClusterOptions) -> Result<ClusterFigures, String> {
    let mut runs = Vec::new();
    for run in 0..options.runs.clamp(1, CLUSTER_RUNS_MAX) {
        let demo = ClusterDemoOptions {
            bin: options.settled_bin.clone(),
            replicas: 3,
            terminals: options.terminals,
            phase: options.phase,
            data_dir: None,
        };
        let report = demo_cluster::run(&demo, |_| {}).await?;
        println!(
            "run {}: fail-over {} ms (kill to first confirmation {} ms), {} confirmed, {:.0}/s before the kill, \
             {:.0}/s after the restart",
            run + 1,
            report.failover.as_millis(),
            report.kill_to_first_confirmation.as_millis(),
            report.confirmed,
            report.rate_before_kill,
            report.rate_after_restart
        );
        runs.push(report);
    }
    let failover_p50 = median(runs.iter().map(|r| r.failover).collect());
    #[allow(clippy::cast_precision_loss)]
    let cluster_rate = runs.iter().map(|r| r.rate_before_kill).sum::<f64>() / runs.len() as f64;
    let single_rate = single_node_rate(options).await?;
    println!(
        "fail-over p50 {} ms over {} runs; cluster {cluster_rate:.0}/s vs single node {single_rate:.0}/s \
         (ratio {:.2}), {} terminals, unary, same machine",
        failover_p50.as_millis(),
        runs.len(),
        cluster_rate / single_rate.max(1e-9),
        options.terminals
    );
    Ok(ClusterFigures { runs, failover_p50, cluster_rate, single_rate })
}
