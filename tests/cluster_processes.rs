//! Three `settled serve` processes on loopback, configured by `settled
//! cluster init`'s files. Terminals pay continuously through a cluster
//! client (every replica's address; it finds the leader and fails over by
//! itself) while the leader is killed with SIGKILL and restarted, then a
//! follower. Afterwards every receipt any terminal received is in every
//! replica's ledger at the same sequence and block, the replicas' tips are
//! the same block, each chain audits clean (nothing spent twice, every
//! hash, signature and sequence in order) and the supply adds up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use settled::client::{self, Client, Replicas};
use settled::config::ClusterMember;
use settled::{Keypair, Transaction, TxId, proto};

const REPLICAS: u64 = 3;
const TERMINALS: usize = 6;
const COIN_MINOR: u64 = 1_000_000;
const TERMINAL_TOKEN: &str = "processes-test-terminal-token";
/// Payments flow for this long around each kill and restart.
const LOAD_BETWEEN_FAULTS: Duration = Duration::from_millis(1500);
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// A replica's process; killed (SIGKILL) when dropped.
struct Replica {
    config: PathBuf,
    log: PathBuf,
    api_url: String,
    child: Option<Child>,
}

impl Replica {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_settled"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("settled serve starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").to_string()
}

fn read_token(path: &Path) -> String {
    std::fs::read_to_string(path).expect("token").trim().to_owned()
}

/// The index of the replica that says it leads, once one does.
async fn leader_of(replicas: &[Replica], token: &str) -> usize {
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        for (i, replica) in replicas.iter().enumerate() {
            if replica.child.is_none() {
                continue;
            }
            let Ok(mut client) = Client::lazy_with_token(&replica.api_url, token) else { continue };
            if let Ok(info) = client.info(false).await
                && info.cluster.is_some_and(|c| c.leading)
            {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no leader within {SETTLE_WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hash(token: &str) -> Vec<u8> {
    settled::sha256(token.as_bytes()).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_then_a_follower_loses_no_confirmed_payment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let members: Vec<ClusterMember> =
        (1..=REPLICAS).map(|id| ClusterMember { id, raft_addr: free_port(), api_addr: free_port() }).collect();
    // The operator's command writes every replica's files.
    let mut init = Command::new(env!("CARGO_BIN_EXE_settled"));
    init.args(["cluster", "init", "--out"]).arg(dir.path());
    for member in &members {
        init.arg("--member").arg(format!("{}={},{}", member.id, member.raft_addr, member.api_addr));
    }
    let output = init.output().expect("settled cluster init runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.matches("settled serve --config").count(), members.len(), "{printed}");
    let operator_token = read_token(&dir.path().join("operator.token"));
    let issuer_token = read_token(&dir.path().join("issuer.token"));
    let issuers: Vec<Keypair> = (1..=3)
        .map(|i| dir.path().join(format!("issuer-{i}.key")))
        .map(|path| Keypair::from_secret_hex(&std::fs::read_to_string(path).expect("key")).expect("valid key"))
        .collect();
    let mut replicas: Vec<Replica> = members
        .iter()
        .map(|member| Replica {
            config: dir.path().join(format!("node-{}.toml", member.id)),
            log: dir.path().join(format!("node-{}.log", member.id)),
            api_url: format!("http://{}", member.api_addr),
            child: None,
        })
        .collect();
    for replica in &mut replicas {
        replica.start();
    }
    let urls: Vec<String> = replicas.iter().map(|r| r.api_url.clone()).collect();
    leader_of(&replicas, &operator_token).await;

    // The shop and its till, then one funded wallet per terminal.
    let operator = Replicas::lazy_with_token(&urls, &operator_token).expect("addresses");
    let shop = Keypair::generate().address();
    let bank = proto::Bank { id: "bank-1".into(), name: "Bank One".into(), credential_sha256: vec![hash("bank")] };
    operator
        .on_leader(|mut c| {
            let bank = bank.clone();
            async move { c.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await }
        })
        .await
        .expect("bank");
    let merchant = proto::Merchant {
        id: "grocer".into(),
        name: "Grocer".into(),
        mcc: 5411,
        bank_id: "bank-1".into(),
        payout_addresses: vec![shop.0.to_vec()],
    };
    operator
        .on_leader(|mut c| {
            let merchant = merchant.clone();
            async move { c.admin.register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) }).await }
        })
        .await
        .expect("merchant");
    let terminal = proto::Terminal {
        id: "till-1".into(),
        merchant_id: "grocer".into(),
        credential_sha256: vec![hash(TERMINAL_TOKEN)],
    };
    operator
        .on_leader(|mut c| {
            let terminal = terminal.clone();
            async move { c.admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) }).await }
        })
        .await
        .expect("terminal");
    let issuer = Replicas::lazy_with_token(&urls, &issuer_token).expect("addresses");
    let mut wallets = Vec::new();
    for i in 0..TERMINALS {
        let key = Keypair::generate();
        let mint: Transaction = client::mint(
            vec![client::output(key.address(), COIN_MINOR, 0)],
            format!("processes-{i}").as_bytes(),
            &[&issuers[0], &issuers[1]],
        );
        issuer.mint(&mint).await.expect("funded");
        wallets.push((key, client::output_of(&mint, 0)));
    }

    // Terminals pay until told to stop, each from its wallet's change.
    let stop = Arc::new(AtomicBool::new(false));
    let mut terminals = Vec::new();
    for (t, (key, mut coin)) in wallets.into_iter().enumerate() {
        let till = Replicas::lazy_with_token(&urls, TERMINAL_TOKEN).expect("addresses");
        let stop = Arc::clone(&stop);
        terminals.push(tokio::spawn(async move {
            let mut receipts: HashMap<TxId, (u64, u64)> = HashMap::new();
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let tx = client::pay(&key, coin, shop, 1, format!("t{t}-{n}").as_bytes());
                let (receipt, _) = till.submit(&tx).await.unwrap_or_else(|s| panic!("terminal {t} payment {n}: {s:?}"));
                receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height));
                coin = client::output_of(&tx, 1);
            }
            receipts
        }));
    }

    tokio::time::sleep(LOAD_BETWEEN_FAULTS).await;
    let leader = leader_of(&replicas, &operator_token).await;
    replicas[leader].kill();
    // The two left elect a leader (a restarted leader would otherwise take
    // its leadership back at once: its vote is durable) and payments go on.
    let second = leader_of(&replicas, &operator_token).await;
    assert_ne!(second, leader);
    tokio::time::sleep(LOAD_BETWEEN_FAULTS).await;
    replicas[leader].start();
    tokio::time::sleep(LOAD_BETWEEN_FAULTS).await;
    let follower = (0..replicas.len()).find(|i| *i != second).expect("a follower");
    replicas[follower].kill();
    tokio::time::sleep(LOAD_BETWEEN_FAULTS).await;
    replicas[follower].start();
    tokio::time::sleep(LOAD_BETWEEN_FAULTS).await;
    stop.store(true, Ordering::Relaxed);
    let mut receipts = HashMap::new();
    for terminal in terminals {
        receipts.extend(terminal.await.expect("terminal task"));
    }
    assert!(receipts.len() > 100, "payments flowed through the faults: {}", receipts.len());

    // Every replica reaches the same tip.
    let readers: Vec<Client> =
        replicas.iter().map(|r| Client::lazy_with_token(&r.api_url, &operator_token).expect("client")).collect();
    let deadline = Instant::now() + SETTLE_WITHIN;
    let tip = loop {
        let mut tips = Vec::new();
        for reader in &readers {
            if let Ok(info) = reader.clone().info(false).await {
                tips.push(info.tip.expect("a tip"));
            }
        }
        if tips.len() == replicas.len() && tips.iter().all(|tip| tip == &tips[0]) {
            break tips.remove(0);
        }
        assert!(Instant::now() < deadline, "replicas did not converge: {tips:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let minted_minor = COIN_MINOR * TERMINALS as u64;
    for (i, reader) in readers.iter().enumerate() {
        let mut reader = reader.clone();
        for (txid, (sequence, height)) in &receipts {
            let found = reader
                .payments
                .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
                .await
                .expect("readable")
                .into_inner();
            let receipt = found.receipt.unwrap_or_else(|| panic!("replica {} lost payment {txid}", i + 1));
            let header = receipt.block.expect("block");
            assert_eq!((receipt.sequence, header.height), (*sequence, *height), "replica {}: {txid}", i + 1);
        }
        let audit = reader.ledger.audit(proto::AuditRequest {}).await.expect("audit").into_inner();
        assert!(audit.failures.is_empty(), "replica {} audit: {:?}", i + 1, audit.failures);
        assert_eq!(audit.minted_minor, minted_minor, "replica {}", i + 1);
        assert_eq!(audit.unspent_minor, audit.minted_minor - audit.burned_minor, "replica {}: supply", i + 1);
        let info = reader.info(true).await.expect("info");
        assert_eq!(info.tip.as_ref(), Some(&tip), "replica {}", i + 1);
        assert_eq!(info.unspent_total_minor, minted_minor, "replica {}: unspent", i + 1);
    }

    // The operator's view: one leader, two followers, nothing behind.
    let status = Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["cluster", "status", "--token", &operator_token, "--server", &urls.join(",")])
        .output()
        .expect("settled cluster status runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let table = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        table.lines().filter(|line| line.contains(" leader ") && line.starts_with("http")).count(),
        1,
        "{table}"
    );
    assert_eq!(table.matches(" follower ").count(), 2, "{table}");
    for replica in &mut replicas {
        replica.kill();
    }
}
