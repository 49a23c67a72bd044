//! A cluster of `settled serve` processes on this machine, for the cluster
//! demo, its measurements and tests: `cluster init` files in a directory,
//! one child process per replica on loopback ports, SIGKILL and restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Client, Replicas};
use crate::config::ClusterMember;
use crate::core::crypto::Keypair;
use crate::core::types::Address;
use crate::proto;

/// Replicas a local cluster may run (as a cluster's membership).
pub const LOCAL_REPLICAS_MAX: usize = crate::core::limits::CLUSTER_MEMBERS_MAX;

/// One replica's process; killed when the cluster is dropped.
struct LocalReplica {
    config: PathBuf,
    log: PathBuf,
    api_url: String,
    child: Option<Child>,
}

/// Replica processes started from `cluster init`'s files.
pub struct LocalCluster {
    bin: PathBuf,
    replicas: Vec<LocalReplica>,
    pub operator_token: String,
    pub issuer_token: String,
    /// The development issuer set `init` generated.
    pub issuers: Vec<Keypair>,
    /// The token of every role on every replica, for a development cluster
    /// ([`LocalCluster::start_development`]).
    pub dev_token: Option<String>,
}

/// `n` loopback addresses free now, all different. From `dev::free_port`,
/// below the ephemeral range, not by binding port 0: every replica's
/// addresses are written into every configuration before any process starts
/// (and a restarted replica binds the same ones again), so no bound listener
/// can be handed over, and a port 0 released for a child to bind could be
/// taken meanwhile by any outgoing connection.
fn free_addresses(n: usize) -> Vec<String> {
    (0..n).map(|_| super::free_port().to_string()).collect()
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map(|text| text.trim().to_owned()).map_err(|e| format!("{}: {e}", path.display()))
}

impl LocalCluster {
    /// Writes a new cluster of `count` replicas into `dir` (with a
    /// development issuer set) and starts each as a `bin serve` process,
    /// its log in `dir/node-<id>.log`.
    ///
    /// # Errors
    /// Too many replicas, files that cannot be written, or a process that
    /// cannot be started.
    pub fn start(dir: &Path, bin: &Path, count: usize) -> Result<Self, String> {
        Self::start_with(dir, bin, count, false)
    }

    /// [`LocalCluster::start`] in development mode: every replica takes one
    /// shared token of every role (`dev_token`), as the load generator needs.
    ///
    /// # Errors
    /// As [`LocalCluster::start`].
    pub fn start_development(dir: &Path, bin: &Path, count: usize) -> Result<Self, String> {
        Self::start_with(dir, bin, count, true)
    }

    fn start_with(dir: &Path, bin: &Path, count: usize, development: bool) -> Result<Self, String> {
        if count == 0 || count > LOCAL_REPLICAS_MAX {
            return Err(format!("{count} replicas; between 1 and {LOCAL_REPLICAS_MAX}"));
        }
        let members = (1..=count as u64)
            .zip(free_addresses(2 * count).chunks_exact(2).map(<[String]>::to_vec))
            .map(|(id, pair)| Ok(ClusterMember { id, raft_addr: pair[0].clone(), api_addr: pair[1].clone() }))
            .collect::<Result<Vec<_>, String>>()?;
        let options = crate::cluster::init::InitOptions {
            issuer_keys: Vec::new(),
            issuer_threshold: 2,
            development,
            ca_dir: None,
        };
        let written = crate::cluster::init::init_with(dir, &members, &options).map_err(|e| e.to_string())?;
        let issuers = written
            .issuer_keys
            .iter()
            .map(|path| Keypair::from_secret_hex(&read_text(path)?).map_err(|e| format!("{}: {e}", path.display())))
            .collect::<Result<Vec<_>, String>>()?;
        let replicas = written
            .configs
            .iter()
            .zip(&members)
            .map(|(config, member)| LocalReplica {
                config: config.clone(),
                log: dir.join(format!("node-{}.log", member.id)),
                api_url: format!("http://{}", member.api_addr),
                child: None,
            })
            .collect();
        let mut cluster = Self {
            bin: bin.to_owned(),
            replicas,
            operator_token: read_text(&written.operator_token)?,
            issuer_token: read_text(&written.issuer_token)?,
            issuers,
            dev_token: written.dev_token.as_deref().map(read_text).transpose()?,
        };
        for index in 0..count {
            cluster.start_replica(index)?;
        }
        Ok(cluster)
    }

    /// Starts replica `index` (again) on its files.
    ///
    /// # Errors
    /// The process cannot be started.
    pub fn start_replica(&mut self, index: usize) -> Result<(), String> {
        let replica = &mut self.replicas[index];
        if replica.child.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&replica.log)
            .map_err(|e| format!("{}: {e}", replica.log.display()))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--config")
            .arg(&replica.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        replica.child = Some(child);
        Ok(())
    }

    /// Kills replica `index` with SIGKILL (no shutdown of any kind) and
    /// reaps it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.replicas[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    #[must_use]
    pub fn running(&self, index: usize) -> bool {
        self.replicas[index].child.is_some()
    }

    /// Every replica's public API URL, in member order.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.api_url.clone()).collect()
    }

    /// A client of replica `index` with the operator's token.
    ///
    /// # Errors
    /// An invalid address.
    pub fn operator_client(&self, index: usize) -> Result<Client, String> {
        Client::lazy_with_token(&self.replicas[index].api_url, &self.operator_token).map_err(|e| e.to_string())
    }

    /// The index of the running replica that says it leads, once one does
    /// (within `within`).
    ///
    /// # Errors
    /// No leader in time.
    pub async fn leader(&self, within: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + within;
        loop {
            for index in (0..self.len()).filter(|i| self.running(*i)) {
                if let Ok(info) = self.operator_client(index)?.info(false).await
                    && info.cluster.is_some_and(|c| c.leading)
                {
                    return Ok(index);
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("no replica leads after {} ms", within.as_millis()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running replica reports the same tip; returns it.
    ///
    /// # Errors
    /// The replicas did not converge in time.
    pub async fn converged(&self, within: Duration) -> Result<proto::BlockHeader, String> {
        let deadline = Instant::now() + within;
        loop {
            let mut tips = Vec::new();
            for index in (0..self.len()).filter(|i| self.running(*i)) {
                if let Ok(info) = self.operator_client(index)?.info(false).await {
                    tips.extend(info.tip);
                }
            }
            let running = (0..self.len()).filter(|i| self.running(*i)).count();
            if tips.len() == running && tips.iter().all(|tip| tip == &tips[0]) && !tips.is_empty() {
                return Ok(tips.remove(0));
            }
            if Instant::now() >= deadline {
                return Err(format!("replicas did not reach the same tip in {} ms", within.as_millis()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`register_till`] through this cluster's leader.
    ///
    /// # Errors
    /// A refusal.
    pub async fn register_till(&self, payout: Address, till_token: &str) -> Result<(), String> {
        register_till(&Replicas::lazy_with_token(&self.urls(), &self.operator_token)?, payout, till_token).await
    }
}

/// Registers, through `operator` (the operator's credential, on the
/// leader), a bank, a merchant paid at `payout` and a till of it whose
/// bearer token is `till_token`.
///
/// # Errors
/// A refusal.
pub async fn register_till(operator: &Replicas, payout: Address, till_token: &str) -> Result<(), String> {
    let hash = |token: &str| crate::core::crypto::sha256(token.as_bytes()).to_vec();
    let bank = proto::Bank { id: "bank-1".into(), name: "Bank One".into(), credential_sha256: vec![hash("bank-1")] };
    let merchant = proto::Merchant {
        id: "grocer".into(),
        name: "Grocer".into(),
        mcc: 5411,
        bank_id: "bank-1".into(),
        payout_addresses: vec![payout.0.to_vec()],
        deactivated: false,
    };
    let terminal = proto::Terminal {
        id: "till-1".into(),
        merchant_id: "grocer".into(),
        credential_sha256: vec![hash(till_token)],
        deactivated: false,
    };
    let text = |status: tonic::Status| status.message().to_owned();
    operator
        .on_leader(|mut c| {
            let bank = bank.clone();
            async move { c.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await }
        })
        .await
        .map_err(text)?;
    operator
        .on_leader(|mut c| {
            let merchant = merchant.clone();
            async move { c.admin.register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) }).await }
        })
        .await
        .map_err(text)?;
    operator
        .on_leader(|mut c| {
            let terminal = terminal.clone();
            async move { c.admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) }).await }
        })
        .await
        .map_err(text)?;
    Ok(())
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for index in 0..self.len() {
            self.kill(index);
        }
    }
}
