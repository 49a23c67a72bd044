//! A real server on loopback over a real redb file in a temporary directory,
//! with the development issuer keys it generated.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use settled::client::{self, Client};
use settled::{Config, Keypair, OutPoint, Output, Receipt, Server, Transaction};

pub struct TestLedger {
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
    pub client: Client,
    pub issuers: Vec<Keypair>,
}

pub fn issuer_keys(data_dir: &Path) -> Vec<Keypair> {
    (1..=3)
        .map(|i| {
            let text = std::fs::read_to_string(data_dir.join(format!("issuer-{i}.key"))).expect("issuer key");
            Keypair::from_secret_hex(&text).expect("valid key")
        })
        .collect()
}

impl TestLedger {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(Config::for_data_dir(dir.path().to_owned())).await.expect("server starts");
        let client = Client::connect(&server.url()).await.expect("client connects");
        let issuers = issuer_keys(dir.path());
        Self { dir, server: Some(server), client, issuers }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running")
    }

    /// Stops the server (closing the data file) and starts a new one on the
    /// same data dir.
    pub async fn restart(&mut self) {
        self.server.take().expect("running").shutdown().await;
        let server = Server::start(Config::for_data_dir(self.data_dir())).await.expect("server restarts");
        self.client = Client::connect(&server.url()).await.expect("client reconnects");
        self.server = Some(server);
    }

    /// Mints `amount_minor` of unrestricted money to `owner` with 2 of the 3
    /// issuer keys; returns the new output.
    pub async fn fund(&mut self, owner: &Keypair, amount_minor: u64, reference: &str) -> (OutPoint, Output) {
        let tx = self.mint_tx(vec![client::output(owner.address(), amount_minor, 0)], reference);
        self.client.mint(&tx).await.expect("mint confirmed");
        client::output_of(&tx, 0)
    }

    pub fn mint_tx(&self, outputs: Vec<Output>, reference: &str) -> Transaction {
        client::mint(outputs, reference.as_bytes(), &[&self.issuers[0], &self.issuers[1]])
    }

    pub async fn engine_key(&mut self) -> settled::Address {
        self.client.engine_key().await.expect("info")
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

pub fn assert_receipt_valid(receipt: &Receipt, engine_key: &settled::Address) {
    receipt.verify(engine_key).expect("receipt verifies offline");
}
