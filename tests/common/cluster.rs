//! Three replicas, each a real server (public gRPC API, engine, redb
//! ledger) with its Raft node on its own loopback port, in one process:
//! their configurations (one cluster CA, a certificate per member), a
//! leader elected and wallets funded through it, payments, and the checks
//! that every replica agrees.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use settled::client::{self, Client};
use settled::config::{ClusterConfig, ClusterMember, CredentialConfig};
use settled::{ChainId, Config, Keypair, OutPoint, Output, Rigs, Server, Transaction, TxId};

pub const REPLICAS: u64 = 3;
pub const PAYERS: usize = 6;
pub const PAYMENTS_PER_ROUND: usize = 4;
pub const COIN_MINOR: u64 = 1_000_000;
pub const TOKEN: &str = "cluster-test-operator-token";
pub const ISSUER_TOKEN: &str = "cluster-test-issuer-token";
/// A till of the shop, registered through the leader (a registry change
/// every replica applies): payments are submitted with it.
pub const TERMINAL_TOKEN: &str = "cluster-test-terminal-token";
/// How long the cluster may take to elect a leader or catch a replica up
/// before the test counts it as hung (not a measure of speed).
pub const SETTLE_WITHIN: Duration = super::HANG_GUARD;

pub struct Replica {
    pub config: Config,
    /// What the test injects into it (faults, smaller bounds).
    pub rigs: Rigs,
    pub server: Option<Server>,
}

impl Replica {
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// A server of this replica's configuration and rigs.
    pub async fn start(&self) -> Result<Server, settled::ServerError> {
        Server::start_with(self.config.clone(), self.rigs.clone()).await
    }

    pub fn api_url(&self) -> String {
        format!("http://{}", self.config.listen)
    }
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> std::net::SocketAddr {
    settled::dev::free_port()
}

pub fn configs(root: &std::path::Path, issuers: &[Keypair]) -> Vec<Config> {
    let engine_key = root.join("engine.key");
    settled::write_secret_key(&engine_key, &Keypair::generate()).expect("engine key written");
    let api: Vec<_> = (0..REPLICAS).map(|_| free_port()).collect();
    let raft: Vec<_> = (0..REPLICAS).map(|_| free_port()).collect();
    let members: Vec<ClusterMember> = (0..REPLICAS)
        .map(|i| ClusterMember {
            id: i + 1,
            raft_addr: raft[i as usize].to_string(),
            api_addr: api[i as usize].to_string(),
        })
        .collect();
    let genesis_time_unix_ms = settled::now_unix_ms();
    let ca = settled::cluster::ClusterCa::generate("cluster-test").expect("a cluster CA");
    ca.write(&root.join("cluster-ca")).expect("the CA written");
    (0..REPLICAS)
        .map(|i| {
            let mut config = Config::for_data_dir(root.join(format!("node-{}", i + 1)));
            config.development = false;
            config.listen = api[i as usize];
            config.engine_key_file = Some(engine_key.clone());
            config.genesis.issuer_keys = issuers.iter().map(|k| k.address().to_string()).collect();
            config.genesis.issuer_threshold = 2;
            config.credentials = [("operator", TOKEN), ("issuer", ISSUER_TOKEN)]
                .into_iter()
                .map(|(role, token)| CredentialConfig {
                    role: role.to_owned(),
                    token_sha256: Some(hex::encode(settled::sha256(token.as_bytes()))),
                    cert_sha256: None,
                })
                .collect();
            config.cluster = Some(ClusterConfig {
                node_id: i + 1,
                raft_listen: raft[i as usize],
                genesis_time_unix_ms,
                members: members.clone(),
                name: "cluster-test".to_owned(),
                tls: Some(ca.issue_into(i + 1, &root.join(format!("peer-{}", i + 1))).expect("member certificate")),
            });
            config
        })
        .collect()
}

/// Waits until exactly one running replica's engine leads; its index.
pub async fn leader(replicas: &[Replica]) -> usize {
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        let leading: Vec<usize> = (0..replicas.len())
            .filter(|i| replicas[*i].server.as_ref().is_some_and(|s| s.engine().leading()))
            .collect();
        if let [one] = leading.as_slice() {
            return *one;
        }
        assert!(Instant::now() < deadline, "no single leader within {SETTLE_WITHIN:?}: {leading:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every running replica's durable tip is `height`.
pub async fn caught_up(replicas: &[Replica], height: u64) {
    let deadline = Instant::now() + SETTLE_WITHIN;
    for (i, replica) in replicas.iter().enumerate() {
        let Some(server) = &replica.server else { continue };
        while server.engine().tip().block.header.height < height {
            assert!(Instant::now() < deadline, "replica {} did not reach height {height}", i + 1);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.engine().tip().block.header.height, height, "replica {} went past the leader", i + 1);
    }
}

pub fn client_of(replica: &Replica) -> Client {
    Client::lazy_with_token(&replica.api_url(), TERMINAL_TOKEN).expect("client")
}

/// Three replicas started, a leader elected, the shop's till registered
/// through it and `PAYERS` wallets funded, every replica caught up.
pub struct Started {
    pub _root: tempfile::TempDir,
    pub replicas: Vec<Replica>,
    pub leader: usize,
    pub shop: settled::Address,
    pub payers: Vec<(Keypair, (OutPoint, Output))>,
    /// The funding mints' receipts: txid -> (sequence, height).
    pub receipts: HashMap<TxId, (u64, u64)>,
    /// The cluster's chain id (the same on every replica).
    pub chain: ChainId,
}

impl Started {
    /// With each replica's rigs adjusted by `rig`.
    pub async fn new(rig: impl Fn(&mut Rigs)) -> Self {
        Self::new_configured(|_| {}, rig).await
    }

    /// With each replica's configuration adjusted by `adjust` and its rigs
    /// by `rig`.
    pub async fn new_configured(adjust: impl Fn(&mut Config), rig: impl Fn(&mut Rigs)) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let issuers: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
        let mut replicas = Vec::new();
        for mut config in configs(root.path(), &issuers) {
            adjust(&mut config);
            let mut rigs = Rigs::default();
            rig(&mut rigs);
            let mut replica = Replica { config, rigs, server: None };
            replica.server = Some(replica.start().await.expect("replica starts"));
            replicas.push(replica);
        }
        let leader = leader(&replicas).await;
        let chain = replicas[leader].server().engine().chain_id();
        for replica in &replicas {
            assert_eq!(replica.server().engine().chain_id(), chain, "every replica is on one chain");
        }
        let urls: Vec<String> = replicas.iter().map(Replica::api_url).collect();
        let shop = Keypair::generate().address();
        let operator = client::Replicas::lazy_with_token(&urls, TOKEN).expect("addresses");
        settled::dev::local_cluster::register_till(&operator, shop, TERMINAL_TOKEN).await.expect("the till registered");
        let mut issuer = Client::lazy_with_token(&replicas[leader].api_url(), ISSUER_TOKEN).expect("client");
        let mut payers = Vec::new();
        let mut receipts = HashMap::new();
        for i in 0..PAYERS {
            let key = Keypair::generate();
            let mint: Transaction = client::mint(
                &chain,
                vec![client::output(key.address(), COIN_MINOR, 0)],
                format!("cluster-{i}").as_bytes(),
                &[&issuers[0], &issuers[1]],
            );
            let (receipt, _) = issuer.mint(&mint).await.expect("the leader mints");
            receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height));
            payers.push((key, client::output_of(&mint, 0)));
        }
        // Every replica holds the setup (the till's credential among it): a
        // follower that has not applied it yet answers the till
        // UNAUTHENTICATED, which a client does not retry elsewhere.
        let height = replicas[leader].server().engine().tip().block.header.height;
        caught_up(&replicas, height).await;
        Self { _root: root, replicas, leader, shop, payers, receipts, chain }
    }
}

pub async fn shutdown_all(replicas: &mut [Replica]) {
    for replica in replicas {
        if let Some(server) = replica.server.take() {
            server.shutdown().await;
        }
    }
}

/// Every receipt is in every running replica's ledger at the same sequence
/// and block, the replicas' chains are the same block for block, and each
/// one's unspent set adds up to its supply.
pub fn assert_replicas_agree(replicas: &[Replica], receipts: &HashMap<TxId, (u64, u64)>, minted_minor: u64) {
    let running: Vec<&Server> = replicas.iter().filter_map(|r| r.server.as_ref()).collect();
    let tip = running[0].engine().tip().block.header.height;
    for server in &running {
        assert_eq!(server.engine().chain_id(), running[0].engine().chain_id(), "one chain id on every replica");
        let store = server.engine().store();
        for (txid, (sequence, height)) in receipts {
            let receipt = store.receipt(txid).expect("readable").expect("every confirmed payment on every replica");
            assert_eq!((receipt.sequence, receipt.block.header.height), (*sequence, *height), "{txid}");
        }
        for height in 0..=tip {
            assert_eq!(
                store.header(height).expect("readable").map(|h| h.header.hash()),
                running[0].engine().store().header(height).expect("readable").map(|h| h.header.hash()),
                "block {height} is the same on every replica"
            );
        }
        let (_, unspent_minor, counted_at) = store.count_unspent().expect("counted");
        let header = counted_at.header;
        assert_eq!(header.height, tip);
        assert_eq!(unspent_minor, header.minted_total_minor - header.burned_total_minor, "supply adds up");
        assert_eq!(header.minted_total_minor, minted_minor, "nothing minted twice or lost");
    }
}

/// Pays `PAYMENTS_PER_ROUND` payments per payer through `client`, spending
/// each payer's change; records the receipts.
pub async fn pay_round(
    client: &mut Client,
    chain: &ChainId,
    payers: &mut [(Keypair, (OutPoint, Output))],
    shop: settled::Address,
    round: usize,
    receipts: &mut HashMap<TxId, (u64, u64)>,
) {
    for n in 0..PAYMENTS_PER_ROUND {
        for (p, (key, coin)) in payers.iter_mut().enumerate() {
            let tx = client::pay(chain, key, *coin, shop, 1, format!("r{round}-p{p}-{n}").as_bytes());
            let (receipt, duplicate) = client.submit(&tx).await.expect("the leader confirms");
            assert!(!duplicate);
            receipts.insert(receipt.txid, (receipt.sequence, receipt.block.header.height));
            *coin = client::output_of(&tx, 1);
        }
    }
}

/// The configuration of a replica `id` joining the cluster `base` belongs
/// to, on its own files and ports, and the member it is.
pub fn joining_config(base: &Config, id: u64) -> (Config, ClusterMember) {
    let mut config = base.clone();
    config.data_dir = config.data_dir.with_file_name(format!("node-{id}"));
    config.listen = free_port();
    let cluster = config.cluster.as_mut().expect("cluster");
    cluster.node_id = id;
    cluster.raft_listen = free_port();
    let member = ClusterMember { id, raft_addr: cluster.raft_listen.to_string(), api_addr: config.listen.to_string() };
    cluster.members.push(member.clone());
    // Its certificate, from the cluster's CA.
    let ca = settled::cluster::ClusterCa::load(&base.data_dir.with_file_name("cluster-ca")).expect("the cluster CA");
    cluster.tls =
        Some(ca.issue_into(id, &base.data_dir.with_file_name(format!("peer-{id}"))).expect("member certificate"));
    (config, member)
}
