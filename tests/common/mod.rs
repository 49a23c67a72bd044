//! A real server on loopback over a real redb file in a temporary directory,
//! with the development issuer keys it generated.
// Shared by every test binary; each uses its part (the operations binary
// little of it), so the rest is unused there.
#![allow(dead_code)]

pub mod cluster;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use settled::client::{self, Client};
use settled::limits::TX_OUTPUTS_MAX;
use settled::proto;
use settled::{ChainId, Config, Keypair, OutPoint, Output, Receipt, Rigs, Server, Transaction};
use tonic::Code;

pub struct TestLedger {
    /// The engine's clock, shared across restarts; tests skew it.
    pub clock: settled::Clock,
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
    pub client: Client,
    pub issuers: Vec<Keypair>,
    /// The ledger's chain id (the hash of its block 0): what every
    /// signature on it covers.
    pub chain: ChainId,
}

fn config_of(data_dir: &Path) -> Config {
    Config::for_data_dir(data_dir.to_owned())
}

/// The rigs of every start of a test ledger: its shared clock.
fn rigs_with(clock: &settled::Clock) -> Rigs {
    Rigs { clock: clock.clone(), ..Rigs::default() }
}

/// The development token the server generated in its data dir: every role.
pub fn dev_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("dev.token")).expect("development token").trim().to_owned()
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
        Self::start_with(|_| {}).await
    }

    /// Starts with a configuration adjusted by `adjust` (restarts use the plain one).
    pub async fn start_with(adjust: impl Fn(&mut Config) + Send + Sync + 'static) -> Self {
        Self::start_adjusted(adjust, |_| {}).await
    }

    /// Starts with what the test injects adjusted by `rig` (restarts use
    /// the plain rigs, with the same clock).
    pub async fn start_rigged(rig: impl Fn(&mut Rigs)) -> Self {
        Self::start_adjusted(|_| {}, rig).await
    }

    /// Starts with both the configuration and what the test injects
    /// adjusted.
    pub async fn start_adjusted(adjust: impl Fn(&mut Config), rig: impl Fn(&mut Rigs)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = settled::Clock::default();
        let mut config = config_of(dir.path());
        adjust(&mut config);
        let mut rigs = rigs_with(&clock);
        rig(&mut rigs);
        let server = Server::start_with(config, rigs).await.expect("server starts");
        let client = Client::lazy_with_token(&server.url(), &dev_token(dir.path())).expect("client");
        let issuers = issuer_keys(dir.path());
        let chain = server.engine().chain_id();
        Self { clock, dir, server: Some(server), client, issuers, chain }
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
        self.restart_stopped().await;
    }

    /// [`TestLedger::restart`] with the configuration adjusted by `adjust`.
    pub async fn restart_with(&mut self, adjust: impl Fn(&mut Config)) {
        self.server.take().expect("running").shutdown().await;
        let mut config = config_of(&self.data_dir());
        adjust(&mut config);
        self.start_stopped(config, rigs_with(&self.clock)).await;
    }

    /// [`TestLedger::restart`] with what the test injects adjusted by `rig`.
    pub async fn restart_rigged(&mut self, rig: impl Fn(&mut Rigs)) {
        self.server.take().expect("running").shutdown().await;
        let mut rigs = rigs_with(&self.clock);
        rig(&mut rigs);
        self.start_stopped(config_of(&self.data_dir()), rigs).await;
    }

    /// Starts a server on the data dir of one that was stopped.
    pub async fn restart_stopped(&mut self) {
        self.start_stopped(config_of(&self.data_dir()), rigs_with(&self.clock)).await;
    }

    async fn start_stopped(&mut self, config: Config, rigs: Rigs) {
        let server = Server::start_with(config, rigs).await.expect("server restarts");
        self.client =
            Client::connect_with_token(&server.url(), &dev_token(&self.data_dir())).await.expect("client reconnects");
        self.chain = server.engine().chain_id();
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
        client::mint(&self.chain, outputs, reference.as_bytes(), &[&self.issuers[0], &self.issuers[1]])
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

pub fn assert_receipt_valid(receipt: &Receipt, engine_key: &settled::Address, chain: &ChainId) {
    receipt.verify(engine_key, chain).expect("receipt verifies offline");
}

// ---- shared helpers for the specification tests ------------------------------

impl TestLedger {
    /// Mints one output of `amount_minor` per entry of `amounts` to `owner`
    /// (in mints of at most `TX_OUTPUTS_MAX` outputs) and returns the outputs.
    pub async fn fund_coins(&mut self, owner: &Keypair, amounts: &[u64], reference: &str) -> Vec<(OutPoint, Output)> {
        let outputs: Vec<Output> = amounts.iter().map(|a| client::output(owner.address(), *a, 0)).collect();
        self.mint_outputs(outputs, reference).await
    }

    /// Mints `outputs` (any number, in mints of at most `TX_OUTPUTS_MAX`
    /// outputs, references `<reference>-<n>`) and returns them as coins.
    pub async fn mint_outputs(&mut self, outputs: Vec<Output>, reference: &str) -> Vec<(OutPoint, Output)> {
        let mut coins = Vec::with_capacity(outputs.len());
        for (n, chunk) in outputs.chunks(TX_OUTPUTS_MAX).enumerate() {
            let tx = self.mint_tx(chunk.to_vec(), &format!("{reference}-{n}"));
            let (_, duplicate) = self.client.mint(&tx).await.expect("mint confirmed");
            assert!(!duplicate, "a fresh mint is not a duplicate");
            for index in 0..chunk.len() {
                coins.push(client::output_of(&tx, u32::try_from(index).expect("bounded")));
            }
        }
        coins
    }

    pub async fn info(&mut self, count_unspent: bool) -> proto::GetInfoResponse {
        self.client.ledger.get_info(proto::GetInfoRequest { count_unspent }).await.expect("info").into_inner()
    }

    pub async fn tip(&mut self) -> proto::BlockHeader {
        self.info(false).await.tip.expect("tip")
    }

    pub async fn block(&mut self, height: u64) -> proto::GetBlockResponse {
        self.client.ledger.get_block(proto::GetBlockRequest { height }).await.expect("block").into_inner()
    }

    /// Supply is conserved and is exactly what the test minted: the unspent
    /// set counted from storage adds up to `minted - burned` at the tip, and
    /// to `minted_minor`.
    pub async fn assert_supply(&mut self, minted_minor: u64) {
        let info = self.info(true).await;
        let tip = info.tip.as_ref().expect("tip");
        assert_eq!(
            info.unspent_total_minor,
            tip.minted_total_minor - tip.burned_total_minor,
            "unspent outputs add up to minted - burned"
        );
        assert_eq!(tip.minted_total_minor, minted_minor, "the tip has minted exactly what the test minted");
        assert_eq!(tip.burned_total_minor, 0, "nothing is burned on this ledger");
        assert_eq!(info.unspent_total_minor, minted_minor, "the unspent set holds everything minted");
        let derived = self.info(false).await;
        assert_eq!(derived.unspent_total_minor, info.unspent_total_minor, "derived and counted supply agree");
        assert_eq!(derived.unspent_count, info.unspent_count, "running and counted unspent counts agree");
    }

    pub async fn balance(&mut self, owner: &settled::Address) -> proto::GetBalanceResponse {
        self.client
            .wallets
            .get_balance(proto::GetBalanceRequest { address: owner.0.to_vec() })
            .await
            .expect("balance")
            .into_inner()
    }

    /// `GetPayment` answers the confirmed `payment` with its receipt and
    /// the transaction as submitted.
    pub async fn assert_payment_found(&mut self, payment: &Transaction, receipt: &Receipt) {
        let found = self
            .client
            .payments
            .get_payment(proto::GetPaymentRequest { txid: receipt.txid.0.to_vec() })
            .await
            .expect("get payment")
            .into_inner();
        assert_eq!(found.status, proto::PaymentStatus::Confirmed as i32);
        let found_receipt = client::receipt_from_proto(found.receipt.as_ref().expect("receipt")).expect("valid");
        assert_eq!(found_receipt, *receipt, "the stored receipt is the one given at confirmation");
        assert_eq!(found.transaction, Some(to_proto(payment)), "the transaction comes back with its witnesses");
    }

    /// Every unspent output of `owner`, walking all pages.
    pub async fn unspent(&mut self, owner: &settled::Address) -> Vec<proto::UnspentOutput> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .wallets
                .list_unspent(proto::ListUnspentRequest { address: owner.0.to_vec(), page_size: 0, page_token })
                .await
                .expect("list unspent")
                .into_inner();
            all.extend(page.outputs);
            if page.next_page_token.is_empty() {
                return all;
            }
            page_token = page.next_page_token;
        }
    }

    pub async fn submit_proto(
        &mut self,
        tx: proto::Transaction,
    ) -> Result<proto::SubmitPaymentResponse, tonic::Status> {
        self.client
            .payments
            .submit_payment(proto::SubmitPaymentRequest { transaction: Some(tx) })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn mint_proto(&mut self, tx: proto::Transaction) -> Result<proto::MintResponse, tonic::Status> {
        self.client.admin.mint(proto::MintRequest { transaction: Some(tx) }).await.map(tonic::Response::into_inner)
    }

    /// Sends every request on one `SubmitPayments` stream at once, closes
    /// it, and returns the results by client id. Fails the test when a
    /// client id is answered twice or not at all.
    pub async fn submit_stream(
        &mut self,
        requests: Vec<(u64, proto::Transaction)>,
    ) -> HashMap<u64, proto::SubmitPaymentsResponse> {
        let expected = requests.len();
        let outbound = tokio_stream::iter(
            requests
                .into_iter()
                .map(|(client_id, tx)| proto::SubmitPaymentsRequest { client_id, transaction: Some(tx) }),
        );
        let mut inbound = self.client.payments.submit_payments(outbound).await.expect("stream opens").into_inner();
        let mut results = HashMap::with_capacity(expected);
        while let Some(response) = inbound.message().await.expect("stream item") {
            let client_id = response.client_id;
            assert!(results.insert(client_id, response).is_none(), "client id {client_id} answered twice");
        }
        assert_eq!(results.len(), expected, "every request gets exactly one result");
        results
    }
}

pub fn to_proto(tx: &Transaction) -> proto::Transaction {
    client::transaction_to_proto(tx)
}

/// The receipt of a streamed result, decoded; fails the test on a refusal.
pub fn streamed_receipt(response: &proto::SubmitPaymentsResponse) -> Receipt {
    match &response.result {
        Some(proto::submit_payments_response::Result::Receipt(receipt)) => {
            client::receipt_from_proto(receipt).expect("well-formed receipt")
        }
        other => panic!("client id {}: expected a receipt, got {other:?}", response.client_id),
    }
}

/// The refusal of a streamed result; fails the test on a receipt.
pub fn streamed_refusal(response: &proto::SubmitPaymentsResponse) -> &proto::Refusal {
    match &response.result {
        Some(proto::submit_payments_response::Result::Refusal(refusal)) => refusal,
        other => panic!("client id {}: expected a refusal, got {other:?}", response.client_id),
    }
}

pub fn streamed_reason(response: &proto::SubmitPaymentsResponse) -> proto::Reason {
    proto::Reason::try_from(streamed_refusal(response).reason).expect("a known reason")
}

/// Checks that `status` is a refusal with `code` and `reason`.
pub fn assert_refusal(status: &tonic::Status, code: Code, reason: proto::Reason) {
    assert_eq!(status.code(), code, "gRPC code of {status:?}");
    assert_eq!(client::status_reason(status), Some(reason), "refusal reason of {status:?}");
}

/// The metadata of the `google.rpc.ErrorInfo` in a refusal status.
pub fn error_metadata(status: &tonic::Status) -> HashMap<String, String> {
    use tonic_types::StatusExt;
    status.get_details_error_info().expect("ErrorInfo in the status details").metadata
}

/// A transfer of `inputs` to `outputs` on the ledger `chain`, signed by
/// `signers`.
pub fn transfer(
    chain: &ChainId,
    inputs: &[OutPoint],
    outputs: Vec<Output>,
    reference: &[u8],
    signers: &[&Keypair],
) -> Transaction {
    let mut tx = Transaction {
        version: settled::TX_VERSION,
        kind: settled::TxKind::Transfer,
        inputs: inputs.to_vec(),
        outputs,
        reference: reference.to_vec(),
        witnesses: Vec::new(),
    };
    client::sign(&mut tx, chain, signers);
    tx
}

// ---- registry -------------------------------------------------------------------

/// The bank every test participant is attached to.
pub const TEST_BANK: &str = "test-bank";

impl TestLedger {
    /// Registers a bank (once).
    pub async fn bank(&mut self, id: &str) {
        let request = proto::RegisterBankRequest {
            bank: Some(proto::Bank { id: id.to_owned(), name: format!("Bank {id}"), credential_sha256: Vec::new() }),
        };
        match self.client.admin.register_bank(request).await {
            Ok(_) => {}
            Err(status) if status_reason(&status) == Some(proto::Reason::AlreadyRegistered) => {}
            Err(status) => panic!("bank {id}: {status:?}"),
        }
    }

    /// Creates an earmarked programme valid from the epoch for ever,
    /// transferable between beneficiaries, spendable at groceries (5411);
    /// returns what a clawback authorisation of it names.
    pub async fn programme(&mut self, id: u32) -> client::ClawbackTerms {
        let treasury = Keypair::generate().address();
        self.programme_with(proto::Programme {
            id,
            name: format!("programme {id}"),
            allowed_mccs: vec![5411],
            valid_from_unix_ms: 0,
            valid_until_unix_ms: u64::MAX,
            transferable: true,
            treasury_address: treasury.0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 0,
        })
        .await;
        client::ClawbackTerms { chain: self.chain, programme: id, treasury, valid_until_ms: u64::MAX }
    }

    pub async fn programme_with(&mut self, programme: proto::Programme) {
        let id = programme.id;
        self.client
            .admin
            .create_programme(proto::CreateProgrammeRequest { programme: Some(programme) })
            .await
            .unwrap_or_else(|status| panic!("programme {id}: {status:?}"));
    }

    /// Registers a merchant of category `mcc` at the test bank, paid at a
    /// fresh key; merchants are exempt from wallet tiers.
    pub async fn merchant(&mut self, id: &str, mcc: u32) -> Keypair {
        self.bank(TEST_BANK).await;
        let key = Keypair::generate();
        let merchant = proto::Merchant {
            id: id.to_owned(),
            name: format!("Merchant {id}"),
            mcc,
            bank_id: TEST_BANK.to_owned(),
            payout_addresses: vec![key.address().0.to_vec()],
            deactivated: false,
        };
        self.client
            .admin
            .register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) })
            .await
            .unwrap_or_else(|status| panic!("merchant {id}: {status:?}"));
        key
    }

    /// Registers `key` as a wallet of `tier` at the test bank.
    pub async fn wallet(&mut self, key: &Keypair, tier: u32) {
        self.bank(TEST_BANK).await;
        let wallet = proto::Wallet {
            address: key.address().0.to_vec(),
            bank_id: TEST_BANK.to_owned(),
            tier,
            frozen: String::new(),
        };
        self.client
            .admin
            .register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) })
            .await
            .unwrap_or_else(|status| panic!("wallet: {status:?}"));
    }
}

fn status_reason(status: &tonic::Status) -> Option<proto::Reason> {
    client::status_reason(status)
}

/// The default configuration's day: UTC+8, so a ledger's midnight is 16:00
/// UTC.
pub const LEDGER_DAY_OFFSET_MINUTES: i32 = 8 * 60;
const DAY_MS: u64 = 24 * 60 * 60 * 1_000;
/// What a test that stays within one ledger day needs left of it: far more
/// than any test takes.
const DAY_LEFT_MIN_MS: u64 = 3 * 60 * 60 * 1_000;

impl TestLedger {
    /// Keeps the rest of the test within one ledger day, whenever it runs:
    /// when less than three hours of the ledger's day are left, moves the
    /// ledger's clock to a minute past its next midnight. Call it before
    /// any money moves, in a test that asserts what a day holds.
    pub fn keep_within_one_day(&self) {
        let offset_ms = u64::try_from(LEDGER_DAY_OFFSET_MINUTES).expect("east of UTC") * 60 * 1_000;
        let into_day_ms = (self.clock.now_unix_ms() + offset_ms) % DAY_MS;
        let left_ms = DAY_MS - into_day_ms;
        if left_ms < DAY_LEFT_MIN_MS {
            self.clock.skew_by_ms(i64::try_from(left_ms + 60_000).expect("less than a day"));
        }
        let left_ms = DAY_MS - (self.clock.now_unix_ms() + offset_ms) % DAY_MS;
        assert!(left_ms >= DAY_LEFT_MIN_MS, "{left_ms} ms left of the ledger's day");
    }

    /// Today in the ledger's day, by the ledger's clock (not the wall
    /// clock), as a statement is asked for.
    pub fn today(&self) -> String {
        settled::statement::ledger_date(self.clock.now_unix_ms(), LEDGER_DAY_OFFSET_MINUTES)
    }
}

/// How long a test waits for something that must happen before it calls
/// the test hung: a guard against a test that never ends, not a measure
/// of how fast anything is (a loaded machine may take a long time).
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(300);

/// The status a stream ends with, reading past whatever it sends first.
pub async fn end_of<T>(stream: &mut tonic::Streaming<T>) -> tonic::Status {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the stream ends")
}

/// Waits until `done` holds, looking every 20 ms; fails the test only
/// after [`HANG_GUARD`], as hung waiting for `what`.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(HANG_GUARD, async {
        while !done() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "hung: {what} did not happen within {HANG_GUARD:?}");
}

/// Spawns `command`, a `settled serve`, with its stdout piped, and waits
/// for the line where it says the address it bound (`settled serving on
/// <address>`), which it prints once it serves: read back, not guessed, so
/// that a test knows which server it reaches. The rest of its stdout is
/// drained in the background.
pub fn spawn_serving(command: &mut std::process::Command) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = command.stdout(std::process::Stdio::piped()).spawn().expect("settled serve starts");
    let stdout = child.stdout.take().expect("piped");
    let (bound, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.strip_prefix("settled serving on ") {
                let address = rest.split(' ').next().and_then(|a| a.parse().ok());
                let _ = bound.send(address);
                break;
            }
        }
        for _ in lines {}
    });
    match said.recv_timeout(HANG_GUARD) {
        Ok(Some(address)) => (child, address),
        Ok(None) => panic!("settled serve printed an unreadable address"),
        Err(_) => {
            let _ = child.kill();
            let exit = child.wait();
            panic!("settled serve never said where it serves (exit {exit:?})")
        }
    }
}

/// Waits until process `pid` catches SIGTERM (on Linux, bit 15 of `SigCgt`
/// in `/proc/<pid>/status`), so that a SIGTERM sent next tests its graceful
/// stop instead of racing its start: `settled serve` says where it serves a
/// moment before it installs its handler, and a SIGTERM in between ends it
/// by the signal.
pub fn wait_until_catching_sigterm(pid: u32) {
    #[cfg(target_os = "linux")]
    {
        const SIGTERM_BIT: u64 = 1 << (15 - 1);
        let file = format!("/proc/{pid}/status");
        let started = std::time::Instant::now();
        loop {
            let status = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
            let caught = status
                .lines()
                .find_map(|line| line.strip_prefix("SigCgt:"))
                .map(|mask| u64::from_str_radix(mask.trim(), 16).expect("a hexadecimal signal mask"));
            if caught.is_some_and(|mask| mask & SIGTERM_BIT != 0) {
                return;
            }
            assert!(started.elapsed() < HANG_GUARD, "hung: process {pid} never caught SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
}
