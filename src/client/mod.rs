//! What a terminal, wallet or issuer needs to talk to Settled: building and
//! signing transactions, and a gRPC client for the services. Used by the CLI,
//! the demo, the simulations and the tests; an example for clients in other
//! languages (with docs/PROTOCOL.md).

pub mod disburse;
pub mod follow;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt as _;

use crate::api;
use crate::core::crypto::Keypair;
use crate::core::encoding;
use crate::core::limits::{BLOCK_TXS_MAX, GRPC_MESSAGE_BYTES_MAX, PAGE_SIZE_MAX};
use crate::core::receipt::Receipt;
use crate::core::types::{
    Address, AmountMinor, ChainId, OutPoint, Output, PersonRef, ProgrammeId, TX_VERSION, Transaction, TxId, TxKind,
    Witness,
};
use crate::proto;

pub use crate::api::{
    audit_report_to_proto, header_from_proto, receipt_from_proto, refusal_to_status, status_reason,
    transaction_from_proto, transaction_to_proto,
};

/// Adds one witness per key, each signing the transaction's txid for the
/// ledger `chain` (`encoding::witness_message`), and returns the txid.
pub fn sign(tx: &mut Transaction, chain: &ChainId, keys: &[&Keypair]) -> TxId {
    let txid = encoding::txid(tx);
    let message = encoding::witness_message(chain, &txid);
    for key in keys {
        tx.witnesses.push(Witness { public_key: key.address(), signature: key.sign(&message) });
    }
    txid
}

/// A mint of `outputs` on the ledger `chain`, signed by `issuers`. The
/// reference makes the txid unique: re-submitting the same disbursement row
/// never pays twice.
#[must_use]
pub fn mint(chain: &ChainId, outputs: Vec<Output>, reference: &[u8], issuers: &[&Keypair]) -> Transaction {
    let mut tx = Transaction {
        version: TX_VERSION,
        kind: TxKind::Mint,
        inputs: Vec::new(),
        outputs,
        reference: reference.to_vec(),
        witnesses: Vec::new(),
    };
    sign(&mut tx, chain, issuers);
    tx
}

/// A claim on the ledger `chain`: a mint paying `person` the benefit of
/// `period` (`YYYYMM`) of `programme`, to the wallet the person designated
/// for it, signed by `issuers`. The ledger pays a (programme, period,
/// person) once: the claim is the mint's reference.
#[must_use]
pub fn claim(
    chain: &ChainId,
    programme: ProgrammeId,
    period: u32,
    person: &PersonRef,
    wallet: Address,
    amount_minor: AmountMinor,
    issuers: &[&Keypair],
) -> Transaction {
    let reference = crate::core::encoding::claim_reference(programme, period, person);
    mint(chain, vec![output(wallet, amount_minor, programme)], &reference, issuers)
}

/// An unspent output as `WalletService.ListUnspent` lists it.
///
/// # Errors
/// A field missing or of the wrong size.
pub fn unspent_from_proto(unspent: &proto::UnspentOutput) -> Result<(OutPoint, Output), String> {
    let outpoint = unspent.outpoint.as_ref().ok_or("an unspent output without its outpoint")?;
    let output = unspent.output.as_ref().ok_or("an unspent output without its output")?;
    let txid = TxId::from_slice(&outpoint.txid).ok_or("an outpoint txid of another size than 32 bytes")?;
    let outpoint = OutPoint { txid, index: outpoint.index };
    let owner = Address::from_slice(&output.address).ok_or("an output address of another size than 32 bytes")?;
    Ok((outpoint, Output { owner, amount_minor: output.amount_minor, programme: output.programme_id }))
}

/// An identity number as the person reference hashes it: full-width forms
/// (U+FF01-U+FF5E, as East Asian input methods type them) read as their
/// ASCII characters, then only the ASCII letters and digits kept, letters
/// upper-cased. So "110105-19491231 002x", "11010519491231002X" and the same
/// in full-width digits are one person, and a space, a hyphen or an
/// invisible character typed by mistake does not make another.
///
/// # Errors
/// No letter or digit at all, or a letter or digit outside A-Z and 0-9
/// (which no canonical form can be given here).
pub fn normalised_identity_number(identity_number: &str) -> Result<String, String> {
    let mut normalised = String::with_capacity(identity_number.len());
    for character in identity_number.chars() {
        let code = u32::from(character);
        let character = if (0xFF01..=0xFF5E).contains(&code) {
            char::from_u32(code - 0xFEE0).unwrap_or(character)
        } else {
            character
        };
        if character.is_ascii_alphanumeric() {
            normalised.push(character.to_ascii_uppercase());
        } else if character.is_alphanumeric() {
            return Err(format!("identity number holds '{character}': only A-Z and 0-9 (in any width) are read"));
        }
    }
    if normalised.is_empty() {
        return Err("identity number holds no letter or digit".to_owned());
    }
    Ok(normalised)
}

/// The person reference of a national identity number under the programme
/// administrator's secret key: HMAC-SHA-256(key, the number as
/// `normalised_identity_number` writes it). Only whoever holds the key can
/// link a reference to a number; the ledger holds neither.
///
/// # Errors
/// A number `normalised_identity_number` refuses.
pub fn person_ref(administrator_key: &[u8], identity_number: &str) -> Result<PersonRef, String> {
    use hmac::Mac;
    let normalised = normalised_identity_number(identity_number)?;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(administrator_key).expect("HMAC takes a key of any length");
    mac.update(normalised.as_bytes());
    Ok(PersonRef(mac.finalize().into_bytes().into()))
}

/// A payment on the ledger `chain` of `amount_minor` from one unspent
/// output of `payer` to `payee`, with change back to the payer, signed by
/// the payer.
///
/// # Panics
/// When the output holds less than the amount.
#[must_use]
pub fn pay(
    chain: &ChainId,
    payer: &Keypair,
    input: (OutPoint, Output),
    payee: Address,
    amount_minor: AmountMinor,
    reference: &[u8],
) -> Transaction {
    pay_from(chain, payer, &[input], payee, amount_minor, reference)
}

/// A payment on the ledger `chain` of `amount_minor` from unspent outputs
/// of `payer` (all of the first one's programme) to `payee`, with change
/// back to the payer, signed by the payer.
///
/// # Panics
/// With no input, or when the inputs hold less than the amount.
#[must_use]
pub fn pay_from(
    chain: &ChainId,
    payer: &Keypair,
    inputs: &[(OutPoint, Output)],
    payee: Address,
    amount_minor: AmountMinor,
    reference: &[u8],
) -> Transaction {
    let programme = inputs.first().expect("a payment spends an input").1.programme;
    let held: AmountMinor = inputs.iter().map(|(_, output)| output.amount_minor).sum();
    assert!(held >= amount_minor, "payment larger than the inputs");
    let mut outputs = vec![Output { owner: payee, amount_minor, programme }];
    if held > amount_minor {
        outputs.push(Output { owner: payer.address(), amount_minor: held - amount_minor, programme });
    }
    let mut tx = Transaction {
        version: TX_VERSION,
        kind: TxKind::Transfer,
        inputs: inputs.iter().map(|(outpoint, _)| *outpoint).collect(),
        outputs,
        reference: reference.to_vec(),
        witnesses: Vec::new(),
    };
    sign(&mut tx, chain, &[payer]);
    tx
}

/// A refund on the ledger `chain`: `merchant` pays back to `to` (the
/// payment's payer, or a programme's treasury once it has ended) `parts`
/// (programme, amount) of the payment `payment`, spending `inputs` (its
/// takings), the rest back to its first input's address as change of the
/// programmes it spent. A part of a programme the inputs hold too little of
/// is paid from their programme 0 money, then from any other.
///
/// # Panics
/// When the inputs hold less than the parts.
#[must_use]
pub fn refund(
    chain: &ChainId,
    merchant: &Keypair,
    inputs: &[(OutPoint, Output)],
    payment: &TxId,
    to: Address,
    parts: &[(ProgrammeId, AmountMinor)],
) -> Transaction {
    let mut held: std::collections::BTreeMap<ProgrammeId, AmountMinor> = std::collections::BTreeMap::new();
    for (_, output) in inputs {
        *held.entry(output.programme).or_default() += output.amount_minor;
    }
    let mut outputs: Vec<Output> = parts.iter().map(|(programme, amount)| output(to, *amount, *programme)).collect();
    let mut shortfall: AmountMinor = 0;
    for (programme, amount) in parts {
        let have = held.entry(*programme).or_default();
        let from_it = (*have).min(*amount);
        *have -= from_it;
        shortfall += amount - from_it;
    }
    // The rest from unrestricted money first, then from any programme (a
    // refund to an ended programme's treasury is paid as programme 0 money
    // out of that programme's takings).
    let mut sources: Vec<ProgrammeId> = held.keys().copied().collect();
    sources.sort_by_key(|p| (*p != 0, *p));
    for source in sources {
        let have = held.get_mut(&source).expect("a source");
        let take = (*have).min(shortfall);
        *have -= take;
        shortfall -= take;
    }
    assert_eq!(shortfall, 0, "the inputs hold less than the refund");
    let change_to = inputs.first().expect("a refund spends something").1.owner;
    outputs.extend(held.into_iter().filter(|(_, amount)| *amount > 0).map(|(p, amount)| output(change_to, amount, p)));
    let mut tx = Transaction {
        version: TX_VERSION,
        kind: TxKind::Refund,
        inputs: inputs.iter().map(|(outpoint, _)| *outpoint).collect(),
        outputs,
        reference: payment.0.to_vec(),
        witnesses: Vec::new(),
    };
    sign(&mut tx, chain, &[merchant]);
    tx
}

/// A redemption on the ledger `chain`: `merchant` burns `inputs` (its
/// takings) into its bank's deposits, keeping `keep_minor` of the first
/// input's programme as change.
///
/// # Panics
/// When `keep_minor` is not less than what the inputs hold.
#[must_use]
pub fn redeem(
    chain: &ChainId,
    merchant: &Keypair,
    inputs: &[(OutPoint, Output)],
    keep_minor: AmountMinor,
    reference: &[u8],
) -> Transaction {
    let held: AmountMinor = inputs.iter().map(|(_, o)| o.amount_minor).sum();
    assert!(keep_minor < held, "a redemption burns something");
    let outputs = if keep_minor == 0 {
        Vec::new()
    } else {
        vec![Output { owner: merchant.address(), amount_minor: keep_minor, programme: inputs[0].1.programme }]
    };
    let mut tx = Transaction {
        version: TX_VERSION,
        kind: TxKind::Redeem,
        inputs: inputs.iter().map(|(outpoint, _)| *outpoint).collect(),
        outputs,
        reference: reference.to_vec(),
        witnesses: Vec::new(),
    };
    sign(&mut tx, chain, &[merchant]);
    tx
}

/// The outpoint of output `index` of `tx`, with the output.
///
/// # Panics
/// When `tx` has no such output.
#[must_use]
pub fn output_of(tx: &Transaction, index: u32) -> (OutPoint, Output) {
    (OutPoint { txid: encoding::txid(tx), index }, tx.outputs[index as usize])
}

/// An unrestricted output.
#[must_use]
pub fn output(owner: Address, amount_minor: AmountMinor, programme: ProgrammeId) -> Output {
    Output { owner, amount_minor, programme }
}

/// Largest response the wallet and ledger clients accept. Requests are
/// bounded by `GRPC_MESSAGE_BYTES_MAX`, but two responses are larger by
/// design: `GetBlock` of a full block (`BLOCK_TXS_MAX` txids, 34 bytes each on
/// the wire) and a `ListUnspent` page of `PAGE_SIZE_MAX` outputs (at most 97
/// bytes each).
const RESPONSE_BYTES_MAX: usize = GRPC_MESSAGE_BYTES_MAX + BLOCK_TXS_MAX * 34 + PAGE_SIZE_MAX * 97;

/// The channel settings every client uses: no Nagle delay, and HTTP/2
/// keepalive so that a bank's long-lived stream notices a dead peer (and
/// keeps NAT and proxies open) even when no block commits for a while.
fn endpoint(url: &str) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .http2_keep_alive_interval(crate::core::limits::KEEPALIVE_INTERVAL)
        .keep_alive_timeout(crate::core::limits::KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

/// Adds the caller's bearer token to every request.
#[derive(Clone, Default)]
pub struct Credential(Option<MetadataValue<Ascii>>);

impl Credential {
    /// A bearer token.
    ///
    /// # Panics
    /// When the token is not printable ASCII.
    #[must_use]
    pub fn token(token: &str) -> Self {
        Self(Some(format!("Bearer {}", token.trim()).parse().expect("a token is printable ASCII")))
    }
}

impl Interceptor for Credential {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Credential>;

/// gRPC clients for every service on one channel, with one credential.
#[derive(Clone)]
pub struct Client {
    pub payments: proto::payment_service_client::PaymentServiceClient<Authed>,
    pub wallets: proto::wallet_service_client::WalletServiceClient<Authed>,
    pub admin: proto::admin_service_client::AdminServiceClient<Authed>,
    pub ledger: proto::ledger_service_client::LedgerServiceClient<Authed>,
    pub reconciliation: proto::reconciliation_service_client::ReconciliationServiceClient<Authed>,
    pub alerts: proto::alert_service_client::AlertServiceClient<Authed>,
    channel: Channel,
}

impl Client {
    /// Connects to `url` (e.g. `http://127.0.0.1:50051`) without a credential.
    ///
    /// # Errors
    /// When the address is invalid or nothing answers.
    pub async fn connect(url: &str) -> Result<Self, tonic::transport::Error> {
        let channel = endpoint(url)?.connect().await?;
        Ok(Self::from_channel(channel, Credential::default()))
    }

    /// Connects over TLS to `url` (`https://...`), trusting `ca_pem`, for
    /// the server name `domain`, presenting a client certificate if given.
    ///
    /// # Errors
    /// When the address is invalid, TLS fails, or nothing answers.
    pub async fn connect_tls(
        url: &str,
        domain: &str,
        ca_pem: &[u8],
        client_identity: Option<(&[u8], &[u8])>,
    ) -> Result<Self, tonic::transport::Error> {
        let mut tls = tonic::transport::ClientTlsConfig::new()
            .domain_name(domain)
            .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem));
        if let Some((cert, key)) = client_identity {
            tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        let channel = endpoint(url)?.tls_config(tls)?.connect().await?;
        Ok(Self::from_channel(channel, Credential::default()))
    }

    /// A client that connects on first use, with a bearer token.
    ///
    /// # Errors
    /// When the address is invalid.
    pub fn lazy_with_token(url: &str, token: &str) -> Result<Self, tonic::transport::Error> {
        let channel = endpoint(url)?.connect_lazy();
        Ok(Self::from_channel(channel, Credential::token(token)))
    }

    /// Connects with a bearer token.
    ///
    /// # Errors
    /// When the address is invalid or nothing answers.
    pub async fn connect_with_token(url: &str, token: &str) -> Result<Self, tonic::transport::Error> {
        Ok(Self::connect(url).await?.with_credential(Credential::token(token)))
    }

    /// The same connection, calling with another credential.
    #[must_use]
    pub fn with_credential(&self, credential: Credential) -> Self {
        Self::from_channel(self.channel.clone(), credential)
    }

    #[must_use]
    pub fn from_channel(channel: Channel, credential: Credential) -> Self {
        let limit = GRPC_MESSAGE_BYTES_MAX;
        let authed = || InterceptedService::new(channel.clone(), credential.clone());
        Self {
            payments: proto::payment_service_client::PaymentServiceClient::new(authed())
                .max_decoding_message_size(limit),
            wallets: proto::wallet_service_client::WalletServiceClient::new(authed())
                .max_decoding_message_size(RESPONSE_BYTES_MAX),
            admin: proto::admin_service_client::AdminServiceClient::new(authed()).max_decoding_message_size(limit),
            ledger: proto::ledger_service_client::LedgerServiceClient::new(authed())
                .max_decoding_message_size(RESPONSE_BYTES_MAX),
            // A movement of a full block's worth of entries and a statement
            // chunk both fit the request limit.
            reconciliation: proto::reconciliation_service_client::ReconciliationServiceClient::new(authed())
                .max_decoding_message_size(limit),
            alerts: proto::alert_service_client::AlertServiceClient::new(authed()).max_decoding_message_size(limit),
            channel: channel.clone(),
        }
    }

    /// Submits a payment; the decoded receipt and whether it was a duplicate.
    ///
    /// # Errors
    /// The refusal status.
    pub async fn submit(&mut self, tx: &Transaction) -> Result<(Receipt, bool), tonic::Status> {
        let request = proto::SubmitPaymentRequest { transaction: Some(api::transaction_to_proto(tx)) };
        let response = self.payments.submit_payment(request).await?.into_inner();
        confirmed(response.receipt, response.duplicate)
    }

    /// Submits a mint through `AdminService.Mint`.
    ///
    /// # Errors
    /// The refusal status.
    pub async fn mint(&mut self, tx: &Transaction) -> Result<(Receipt, bool), tonic::Status> {
        let request = proto::MintRequest { transaction: Some(api::transaction_to_proto(tx)) };
        let response = self.admin.mint(request).await?.into_inner();
        confirmed(response.receipt, response.duplicate)
    }

    /// The ledger's public facts (`LedgerService.GetInfo`).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn info(&mut self, count_unspent: bool) -> Result<proto::GetInfoResponse, tonic::Status> {
        Ok(self.ledger.get_info(proto::GetInfoRequest { count_unspent }).await?.into_inner())
    }

    /// The ledger's chain id, as the server reports it: what every
    /// signature for this ledger covers. A client that signs or verifies
    /// receipts should pin it out of band, beside the engine key.
    ///
    /// # Errors
    /// Transport failures, or a server that reports none.
    pub async fn chain_id(&mut self) -> Result<ChainId, tonic::Status> {
        let info = self.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await?.into_inner();
        ChainId::from_slice(&info.chain_id).ok_or_else(|| tonic::Status::internal("the server reports no chain id"))
    }

    /// The engine's public key, as the server reports it. A client that
    /// verifies receipts should pin this key out of band.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn engine_key(&mut self) -> Result<Address, tonic::Status> {
        let info = self.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await?.into_inner();
        Address::from_slice(&info.engine_public_key).ok_or_else(|| tonic::Status::internal("bad engine key"))
    }
}

/// The replicas of a cluster, for a client that finds the leader and fails
/// over by itself. Submissions go to the replica last known to lead; a
/// `NOT_LEADER` refusal sends them to the leader it names, and a replica
/// that does not answer, breaks the connection mid-call or has failed stop
/// to the next one, for at most
/// `FAILOVER_WITHIN`. Resubmitting is safe: a transaction is applied at
/// most once, and a resubmission of a confirmed one is answered with its
/// receipt. Reads may go to any replica (`Replicas::current`).
#[derive(Clone)]
pub struct Replicas {
    replicas: Vec<(String, Client)>,
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Replicas {
    /// Clients of each of `urls` (`http://host:port`), connecting on first
    /// use, with a bearer token (none when empty).
    ///
    /// # Errors
    /// An address is invalid, or there is none.
    pub fn lazy_with_token(urls: &[String], token: &str) -> Result<Self, String> {
        if urls.is_empty() {
            return Err("no replica address".to_owned());
        }
        let credential = if token.is_empty() { Credential::default() } else { Credential::token(token) };
        let replicas = urls
            .iter()
            .map(|url| {
                let channel = endpoint(url).map_err(|e| format!("{url}: {e}"))?.connect_lazy();
                Ok((url.clone(), Client::from_channel(channel, credential.clone())))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { replicas, current: std::sync::Arc::default() })
    }

    /// The cluster's chain id (every replica has the same), from the first
    /// replica that answers.
    ///
    /// # Errors
    /// No replica answers.
    pub async fn chain_id(&self) -> Result<ChainId, tonic::Status> {
        let mut last_error = None;
        for (_, client) in &self.replicas {
            match client.clone().chain_id().await {
                Ok(chain) => return Ok(chain),
                Err(status) => last_error = Some(status),
            }
        }
        Err(last_error.unwrap_or_else(|| tonic::Status::unavailable("no replica answered")))
    }

    /// The replica calls go to now.
    #[must_use]
    pub fn current(&self) -> Client {
        self.replicas[self.index()].1.clone()
    }

    #[must_use]
    pub fn current_url(&self) -> &str {
        &self.replicas[self.index()].0
    }

    fn index(&self) -> usize {
        self.current.load(std::sync::atomic::Ordering::Relaxed) % self.replicas.len()
    }

    /// Moves on to the next replica.
    pub fn rotate(&self) {
        self.current.store((self.index() + 1) % self.replicas.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Points at the replica whose address is `leader` (`host:port`, as a
    /// `NOT_LEADER` refusal names it); false if it is not one of ours.
    fn point_at(&self, leader: &str) -> bool {
        let found = self.replicas.iter().position(|(url, _)| {
            url.trim_end_matches('/').rsplit("://").next().is_some_and(|authority| authority == leader)
        });
        if let Some(index) = found {
            self.current.store(index, std::sync::atomic::Ordering::Relaxed);
        }
        found.is_some()
    }

    /// Asks each replica in turn until one says it leads (or names the
    /// leader) and points at it. Without a leader it stays on the first
    /// replica that answered, for reads.
    ///
    /// # Errors
    /// No replica answered.
    pub async fn find_leader(&self) -> Result<Client, tonic::Status> {
        let mut answered = None;
        let mut last_error = None;
        for index in 0..self.replicas.len() {
            match self.replicas[index].1.clone().info(false).await {
                Ok(info) => {
                    answered.get_or_insert(index);
                    match info.cluster {
                        None => return Ok(self.pointed(index)),
                        Some(cluster) if cluster.leading => return Ok(self.pointed(index)),
                        Some(cluster) if self.point_at(&cluster.leader_address) => return Ok(self.current()),
                        Some(_) => {}
                    }
                }
                Err(status) => last_error = Some(status),
            }
        }
        match answered {
            Some(index) => Ok(self.pointed(index)),
            None => Err(last_error.unwrap_or_else(|| tonic::Status::unavailable("no replica answered"))),
        }
    }

    fn pointed(&self, index: usize) -> Client {
        self.current.store(index, std::sync::atomic::Ordering::Relaxed);
        self.current()
    }

    /// Runs `call` on the leader, failing over as the type's documentation
    /// says. `call` must be safe to repeat (a submission is).
    ///
    /// # Errors
    /// Any other refusal at once; the last `NOT_LEADER` or `UNAVAILABLE`
    /// after `FAILOVER_WITHIN`.
    pub async fn on_leader<T, F, Fut>(&self, mut call: F) -> Result<T, tonic::Status>
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let deadline = tokio::time::Instant::now() + crate::core::limits::FAILOVER_WITHIN;
        loop {
            let status = match call(self.current()).await {
                Ok(answer) => return Ok(answer),
                Err(status) => status,
            };
            let reason = status_reason(&status);
            let redirected = match reason {
                Some(proto::Reason::NotLeader) => status
                    .get_details_error_info()
                    .and_then(|info| info.metadata.get("leader").cloned())
                    .is_some_and(|leader| self.point_at(&leader)),
                Some(proto::Reason::Unavailable) if status.code() == tonic::Code::Unavailable => false,
                // No refusal of ours: the connection failed or broke (a
                // replica that died mid-call answers `Unknown`, "transport
                // error"; a call still queued on the connection, `Cancelled`;
                // one cut by a replica shutting down, `Internal`, "h2
                // protocol error"). Resubmitting is safe whatever happened.
                None if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled | tonic::Code::Internal
                ) =>
                {
                    false
                }
                _ => return Err(status),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(status);
            }
            if !redirected {
                self.rotate();
                tokio::time::sleep(crate::core::limits::FAILOVER_RETRY_DELAY).await;
            }
        }
    }

    /// [`Client::submit`] on the leader, failing over.
    ///
    /// # Errors
    /// The refusal status.
    pub async fn submit(&self, tx: &Transaction) -> Result<(Receipt, bool), tonic::Status> {
        self.on_leader(|mut client| async move { client.submit(tx).await }).await
    }

    /// [`Client::mint`] on the leader, failing over.
    ///
    /// # Errors
    /// The refusal status.
    pub async fn mint(&self, tx: &Transaction) -> Result<(Receipt, bool), tonic::Status> {
        self.on_leader(|mut client| async move { client.mint(tx).await }).await
    }
}

/// The receipt of a successful submission, decoded.
fn confirmed(receipt: Option<proto::Receipt>, duplicate: bool) -> Result<(Receipt, bool), tonic::Status> {
    let receipt = receipt.ok_or_else(|| tonic::Status::internal("response without receipt"))?;
    Ok((receipt_from_proto(&receipt).map_err(tonic::Status::internal)?, duplicate))
}

/// What a clawback authorisation names: the programme, as registered on
/// one ledger.
#[derive(Clone, Copy, Debug)]
pub struct ClawbackTerms {
    pub chain: ChainId,
    pub programme: ProgrammeId,
    pub treasury: Address,
    pub valid_until_ms: u64,
}

/// Issuer signatures authorising the clawback of a programme
/// (`AdminService.Clawback`): valid on that ledger, for that treasury and
/// that end of validity only.
#[must_use]
pub fn clawback_authorization(terms: &ClawbackTerms, issuers: &[&Keypair]) -> Vec<proto::Witness> {
    let message =
        encoding::clawback_authorization(&terms.chain, terms.programme, &terms.treasury, terms.valid_until_ms);
    issuers
        .iter()
        .map(|key| proto::Witness { public_key: key.address().0.to_vec(), signature: key.sign(&message).to_vec() })
        .collect()
}

/// Issuer signatures authorising the recovery of the lost wallet `lost` to
/// `replacement` on the ledger `chain` (`AdminService.RecoverWallet`).
#[must_use]
pub fn recovery_authorization(
    chain: &ChainId,
    lost: &Address,
    replacement: &Address,
    issuers: &[&Keypair],
) -> Vec<proto::Witness> {
    let message = encoding::recovery_authorization(chain, lost, replacement);
    issuers
        .iter()
        .map(|key| proto::Witness { public_key: key.address().0.to_vec(), signature: key.sign(&message).to_vec() })
        .collect()
}

/// Reads a receipt JSON file and verifies it against `engine_key` for the
/// chain `pinned` (when given; otherwise the one the file names, which the
/// caller must then compare with what it expects). Returns the receipt and
/// the chain it holds for.
///
/// # Errors
/// A readable explanation of what is wrong.
pub fn verify_receipt_file(
    path: &std::path::Path,
    engine_key: &Address,
    pinned: Option<&ChainId>,
) -> Result<(Receipt, ChainId), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: crate::core::receipt::ReceiptJson =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let chain = match (pinned, json.chain()?) {
        (Some(pinned), Some(named)) if *pinned != named => {
            return Err(format!("the receipt is for chain {named}, not the pinned chain {pinned}"));
        }
        (Some(pinned), _) => *pinned,
        (None, Some(named)) => named,
        (None, None) => return Err("the receipt names no chain_id: give --chain-id".to_owned()),
    };
    let receipt = Receipt::try_from(&json)?;
    receipt.verify(engine_key, &chain).map_err(|e| e.to_string())?;
    Ok((receipt, chain))
}
