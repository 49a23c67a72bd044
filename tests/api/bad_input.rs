//! The bad-input matrix: hostile and malformed requests against a real server
//! on loopback, each with the gRPC status code and `Reason` that
//! docs/PROTOCOL.md (§4.6, §9, §10, §12) gives it, and none of them changing
//! the ledger. Requests are built as raw protobuf messages, or raw bytes, so
//! that they can carry what the domain types never would: keys of 31 bytes,
//! unknown enum values, 5000 outputs, truncated frames.
//!
//! Every answer is the documented one; the matrix found one server bug (a
//! handler's OUT_OF_RANGE rewritten to RESOURCE_EXHAUSTED), since fixed.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::{TestLedger, to_proto, transfer};
use prost::Message;
use prost::bytes::{Buf, BufMut};
use settled::client::ClawbackTerms;
use settled::client::{self, Credential, output};
use settled::limits::{
    GRPC_MESSAGE_BYTES_MAX, PAGE_SIZE_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX,
};
use settled::proto::{self, Reason};
use settled::{Address, ChainId, Keypair, OutPoint, Output, Transaction, TxId, TxKind, sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// A bank registered with a credential of its own and no terminal.
const BANK: &str = "matrix-bank";
const BANK_TOKEN: &str = "matrix-bank-token";
const OTHER_BANK: &str = "other-bank";
/// A programme alice holds money of, one nobody holds any of, and one never
/// created. The first two run for ever.
const LIVE_PROGRAMME: u32 = 7;
const IDLE_PROGRAMME: u32 = 8;
const UNKNOWN_PROGRAMME: u32 = 99;

const COIN_MINOR: u64 = 10_000;
const SPENT_MINOR: u64 = 5_000;
const GRANT_MINOR: u64 = 3_000;
const MINTED_MINOR: u64 = COIN_MINOR + SPENT_MINOR + GRANT_MINOR;

const INVALID: Code = Code::InvalidArgument;
const DECLINED: Code = Code::FailedPrecondition;
/// How long a server stream may take to yield its first item or status
/// before the test counts it as hung (not a measure of speed).
const FIRST_ITEM_WAIT: Duration = common::HANG_GUARD;

// ---- the requests --------------------------------------------------------------

/// Who calls: the development token (every role), the registered bank's
/// token, no credential at all, or an `authorization` header as given.
#[derive(Clone, Debug)]
enum Caller {
    Dev,
    Bank,
    Nobody,
    Header(String),
}

/// One request to one RPC, as the wire carries it.
#[derive(Clone, Debug)]
enum Call {
    SubmitPayment(Option<proto::Transaction>),
    Mint(Option<proto::Transaction>),
    Clawback(proto::ClawbackRequest),
    RegisterBank(proto::RegisterBankRequest),
    RegisterMerchant(proto::RegisterMerchantRequest),
    RegisterWallet(proto::RegisterWalletRequest),
    CreateProgramme(proto::CreateProgrammeRequest),
    ListWallets(proto::ListRequest),
    GetPayment(proto::GetPaymentRequest),
    GetBalance(proto::GetBalanceRequest),
    ListUnspent(proto::ListUnspentRequest),
    GetBlock(proto::GetBlockRequest),
    Audit,
    Subscribe(proto::SubscribeRequest),
    GetStatement(proto::GetStatementRequest),
    GetNetPositions(proto::GetNetPositionsRequest),
    /// Bytes sent as the message of `path`, whatever they decode to.
    Raw {
        path: &'static str,
        bytes: Vec<u8>,
    },
}

/// A row of the matrix: the request and the answer the protocol gives it
/// (`Code::Ok` for a request that is answered, harmlessly).
struct Row {
    name: &'static str,
    caller: Caller,
    call: Call,
    code: Code,
    reason: Option<Reason>,
}

fn refused(name: &'static str, call: Call, code: Code, reason: Reason) -> Row {
    Row { name, caller: Caller::Dev, call, code, reason: Some(reason) }
}

/// Refused with a plain status, without `ErrorInfo`.
fn plain(name: &'static str, call: Call, code: Code) -> Row {
    Row { name, caller: Caller::Dev, call, code, reason: None }
}

fn answered(name: &'static str, call: Call) -> Row {
    plain(name, call, Code::Ok)
}

impl Row {
    fn by(mut self, caller: Caller) -> Self {
        self.caller = caller;
        self
    }
}

fn pay(tx: proto::Transaction) -> Call {
    Call::SubmitPayment(Some(tx))
}

fn mint(tx: proto::Transaction) -> Call {
    Call::Mint(Some(tx))
}

fn edited(tx: &Transaction, edit: impl FnOnce(&mut proto::Transaction)) -> proto::Transaction {
    let mut tx = to_proto(tx);
    edit(&mut tx);
    tx
}

/// Clears the witnesses and signs again with `signers`, for `chain`.
fn resigned(mut tx: Transaction, chain: &ChainId, signers: &[&Keypair]) -> Transaction {
    tx.witnesses.clear();
    client::sign(&mut tx, chain, signers);
    tx
}

/// 32 bytes that are not the x coordinate of any point on secp256k1.
fn x_not_on_the_curve() -> [u8; 32] {
    (1u8..=255)
        .map(|x| {
            let mut bytes = [0u8; 32];
            bytes[31] = x;
            bytes
        })
        .find(|bytes| k256::schnorr::VerifyingKey::from_slice(bytes).is_err())
        .expect("about half of all x coordinates are not on the curve")
}

/// `tx` with its reference grown so that the `SubmitPaymentRequest` carrying
/// it encodes to exactly `len` bytes.
fn request_of_exactly(tx: &proto::Transaction, len: usize) -> proto::Transaction {
    let size = |reference_len: usize| {
        let mut tx = tx.clone();
        tx.reference = vec![b'r'; reference_len];
        (proto::SubmitPaymentRequest { transaction: Some(tx.clone()) }.encoded_len(), tx)
    };
    let mut reference_len = len.saturating_sub(size(0).0);
    while size(reference_len).0 > len {
        reference_len -= 1;
    }
    while size(reference_len).0 < len {
        reference_len += 1;
    }
    let (encoded, tx) = size(reference_len);
    assert_eq!(encoded, len, "a request of exactly {len} bytes");
    tx
}

fn bank_request(id: &str, name: &str, credential_sha256: Vec<Vec<u8>>) -> Call {
    Call::RegisterBank(proto::RegisterBankRequest {
        bank: Some(proto::Bank { id: id.to_owned(), name: name.to_owned(), credential_sha256 }),
    })
}

fn wallet_request(address: Vec<u8>, bank_id: &str, tier: u32) -> Call {
    Call::RegisterWallet(proto::RegisterWalletRequest {
        wallet: Some(proto::Wallet { address, bank_id: bank_id.to_owned(), tier, frozen: String::new() }),
    })
}

fn merchant_request(mcc: u32, payout_addresses: Vec<Vec<u8>>) -> Call {
    Call::RegisterMerchant(proto::RegisterMerchantRequest {
        merchant: Some(proto::Merchant {
            id: "matrix-merchant".to_owned(),
            name: "Matrix merchant".to_owned(),
            mcc,
            bank_id: BANK.to_owned(),
            payout_addresses,
            deactivated: false,
        }),
    })
}

fn programme_request(edit: impl FnOnce(&mut proto::Programme)) -> Call {
    let mut programme = proto::Programme {
        id: 500,
        name: "matrix programme".to_owned(),
        allowed_mccs: vec![5411],
        valid_from_unix_ms: 0,
        valid_until_unix_ms: u64::MAX,
        transferable: true,
        treasury_address: Keypair::generate().address().0.to_vec(),
        per_payment_max_minor: 0,
        payment_period: 0,
        refund_window_ms: 0,
    };
    edit(&mut programme);
    Call::CreateProgramme(proto::CreateProgrammeRequest { programme: Some(programme) })
}

fn clawback_request(programme_id: u32, authorization: Vec<proto::Witness>) -> Call {
    Call::Clawback(proto::ClawbackRequest { programme_id, authorization, resume_after: Vec::new() })
}

fn statement_request(bank: &str, date: &str, format: i32) -> Call {
    Call::GetStatement(proto::GetStatementRequest { bank: bank.to_owned(), date: date.to_owned(), format })
}

fn subscribe_request(bank: &str, after_sequence: u64) -> Call {
    Call::Subscribe(proto::SubscribeRequest {
        bank: bank.to_owned(),
        after_sequence,
        until_height: None,
        after_height: None,
    })
}

fn list_unspent_request(address: &Address, page_size: u32, page_token: String) -> Call {
    Call::ListUnspent(proto::ListUnspentRequest { address: address.0.to_vec(), page_size, page_token })
}

// ---- raw bytes on the wire --------------------------------------------------------

/// Sends and receives message bodies as they are, so that a test can put
/// bytes on the wire that no protobuf encoder would produce.
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

fn raw_channel(ledger: &TestLedger) -> Channel {
    Endpoint::from_shared(ledger.server().url()).expect("server URL").connect_lazy()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `message` with `authorization: <value>` when a value is given.
fn request<T>(authorization: Option<&str>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = authorization {
        request.metadata_mut().insert("authorization", value.parse().expect("an ASCII header value"));
    }
    request
}

// ---- the ledger under attack ----------------------------------------------------

/// A ledger with a bank (with a token, without terminals), two live
/// programmes, and alice and bob holding money: alice an unspent coin and an
/// earmarked grant, bob what alice paid him from a coin now spent.
struct World {
    ledger: TestLedger,
    channel: Channel,
    dev_token: String,
    alice: Keypair,
    bob: Keypair,
    stranger: Keypair,
    coin: (OutPoint, Output),
    funding: Transaction,
    spent: (OutPoint, Output),
    spender: Transaction,
    /// What clawback authorisations of the two programmes name.
    live_terms: ClawbackTerms,
    idle_terms: ClawbackTerms,
    tip_height: u64,
    next_sequence: u64,
}

/// What a hostile request must not change.
#[derive(Debug, PartialEq)]
struct Snapshot {
    tip: Option<proto::BlockHeader>,
    next_sequence: u64,
    unspent_total_minor: u64,
    unspent_count: u64,
    balances: Vec<proto::GetBalanceResponse>,
    unspent: Vec<Vec<proto::UnspentOutput>>,
    banks: proto::ListBanksResponse,
    merchants: proto::ListMerchantsResponse,
    wallets: proto::ListWalletsResponse,
    programmes: proto::ListProgrammesResponse,
}

impl World {
    async fn new() -> Self {
        let mut ledger = TestLedger::start().await;
        ledger.bank(OTHER_BANK).await;
        let bank = proto::Bank {
            id: BANK.to_owned(),
            name: "Matrix bank".to_owned(),
            credential_sha256: vec![sha256(BANK_TOKEN.as_bytes()).to_vec()],
        };
        ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
        let live_terms = ledger.programme(LIVE_PROGRAMME).await;
        let idle_terms = ledger.programme(IDLE_PROGRAMME).await;
        let (alice, bob, stranger) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
        let funding = ledger.mint_tx(vec![output(alice.address(), COIN_MINOR, 0)], "row-1");
        ledger.client.mint(&funding).await.expect("alice funded");
        let coin = client::output_of(&funding, 0);
        let spent = ledger.fund(&alice, SPENT_MINOR, "row-2").await;
        let spender = client::pay(&ledger.chain, &alice, spent, bob.address(), SPENT_MINOR, b"spend");
        ledger.client.submit(&spender).await.expect("alice pays bob");
        let grant = ledger.mint_tx(vec![output(alice.address(), GRANT_MINOR, LIVE_PROGRAMME)], "grant-1");
        ledger.client.mint(&grant).await.expect("alice granted earmarked money");
        let info = ledger.info(false).await;
        let channel = raw_channel(&ledger);
        let dev_token = common::dev_token(&ledger.data_dir());
        World {
            ledger,
            channel,
            dev_token,
            alice,
            bob,
            stranger,
            coin,
            funding,
            spent,
            spender,
            live_terms,
            idle_terms,
            tip_height: info.tip.expect("tip").height,
            next_sequence: info.next_sequence,
        }
    }

    async fn snapshot(&mut self) -> Snapshot {
        let info = self.ledger.info(true).await;
        let owners = [self.alice.address(), self.bob.address()];
        let mut balances = Vec::new();
        let mut unspent = Vec::new();
        for owner in &owners {
            balances.push(self.ledger.balance(owner).await);
            unspent.push(self.ledger.unspent(owner).await);
        }
        let admin = &mut self.ledger.client.admin;
        let all = || proto::ListRequest { page_size: PAGE_SIZE_MAX as u32, page_token: String::new() };
        Snapshot {
            tip: info.tip,
            next_sequence: info.next_sequence,
            unspent_total_minor: info.unspent_total_minor,
            unspent_count: info.unspent_count,
            balances,
            unspent,
            banks: admin.list_banks(all()).await.expect("banks").into_inner(),
            merchants: admin.list_merchants(all()).await.expect("merchants").into_inner(),
            wallets: admin.list_wallets(all()).await.expect("wallets").into_inner(),
            programmes: admin.list_programmes(all()).await.expect("programmes").into_inner(),
        }
    }

    /// A valid payment of 2 500 from alice's coin to bob.
    fn payment(&self) -> Transaction {
        client::pay(&self.ledger.chain, &self.alice, self.coin, self.bob.address(), 2_500, b"inv-1")
    }

    /// Alice's coin paid to `outputs`, signed by alice.
    fn paying(&self, outputs: Vec<Output>) -> Transaction {
        transfer(&self.ledger.chain, &[self.coin.0], outputs, b"inv-1", &[&self.alice])
    }

    fn issuers(&self) -> [&Keypair; 3] {
        [&self.ledger.issuers[0], &self.ledger.issuers[1], &self.ledger.issuers[2]]
    }

    /// A mint of `outputs` with a fresh reference, signed by `signers`.
    fn minting(&self, outputs: Vec<Output>, signers: &[&Keypair]) -> Transaction {
        client::mint(&self.ledger.chain, outputs, b"row-matrix", signers)
    }

    fn authorization(&self, caller: &Caller) -> Option<String> {
        match caller {
            Caller::Dev => Some(bearer(&self.dev_token)),
            Caller::Bank => Some(bearer(BANK_TOKEN)),
            Caller::Nobody => None,
            Caller::Header(value) => Some(value.clone()),
        }
    }

    /// Sends `call` as `caller`; `Ok` when it is answered. A server stream
    /// counts as answered once it yields its first item.
    async fn send(&self, caller: &Caller, call: Call) -> Result<(), Status> {
        let authorization = self.authorization(caller);
        let auth = authorization.as_deref();
        let mut c = self.ledger.client.with_credential(Credential::default());
        match call {
            Call::SubmitPayment(transaction) => {
                c.payments.submit_payment(request(auth, proto::SubmitPaymentRequest { transaction })).await.map(drop)
            }
            Call::Mint(transaction) => c.admin.mint(request(auth, proto::MintRequest { transaction })).await.map(drop),
            Call::Clawback(r) => c.admin.clawback(request(auth, r)).await.map(drop),
            Call::RegisterBank(r) => c.admin.register_bank(request(auth, r)).await.map(drop),
            Call::RegisterMerchant(r) => c.admin.register_merchant(request(auth, r)).await.map(drop),
            Call::RegisterWallet(r) => c.admin.register_wallet(request(auth, r)).await.map(drop),
            Call::CreateProgramme(r) => c.admin.create_programme(request(auth, r)).await.map(drop),
            Call::ListWallets(r) => c.admin.list_wallets(request(auth, r)).await.map(drop),
            Call::GetPayment(r) => c.payments.get_payment(request(auth, r)).await.map(drop),
            Call::GetBalance(r) => c.wallets.get_balance(request(auth, r)).await.map(drop),
            Call::ListUnspent(r) => c.wallets.list_unspent(request(auth, r)).await.map(drop),
            Call::GetBlock(r) => c.ledger.get_block(request(auth, r)).await.map(drop),
            Call::Audit => c.ledger.audit(request(auth, proto::AuditRequest {})).await.map(drop),
            Call::Subscribe(r) => first_item(c.reconciliation.subscribe(request(auth, r)).await?.into_inner()).await,
            Call::GetStatement(r) => {
                first_item(c.reconciliation.get_statement(request(auth, r)).await?.into_inner()).await
            }
            Call::GetNetPositions(r) => c.reconciliation.get_net_positions(request(auth, r)).await.map(drop),
            Call::Raw { path, bytes } => {
                let mut grpc = tonic::client::Grpc::new(self.channel.clone());
                grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
                let path = http::uri::PathAndQuery::from_static(path);
                grpc.unary::<_, Vec<u8>, _>(request(auth, bytes), path, RawCodec).await.map(drop)
            }
        }
    }
}

async fn first_item<T>(mut stream: tonic::Streaming<T>) -> Result<(), Status> {
    match tokio::time::timeout(FIRST_ITEM_WAIT, stream.message()).await {
        Ok(item) => item.map(drop),
        Err(_) => Err(Status::deadline_exceeded("the stream yielded nothing")),
    }
}

// ---- the matrix -------------------------------------------------------------------

fn matrix(w: &World) -> Vec<Row> {
    let payment = w.payment();
    let txid = settled::txid(&payment);
    let [issuer_1, issuer_2, _] = w.issuers();
    let issued = |outputs: Vec<Output>| w.minting(outputs, &[issuer_1, issuer_2]);
    let bob = w.bob.address();
    let not_a_point = x_not_on_the_curve();
    let never_seen = OutPoint { txid: TxId([0x42; 32]), index: 0 };
    let chain = &w.ledger.chain;
    let live_authorization = client::clawback_authorization(&w.live_terms, &[issuer_1, issuer_2]);
    let unknown_terms = ClawbackTerms { programme: UNKNOWN_PROGRAMME, ..w.live_terms };
    let fresh_key = || Keypair::generate().address().0.to_vec();
    let encoded = proto::SubmitPaymentRequest { transaction: Some(to_proto(&payment)) }.encode_to_vec();
    let mut truncated = encoded.clone();
    truncated.pop();
    let mut bad_utf8_date =
        proto::GetStatementRequest { bank: BANK.into(), date: "DATE".into(), format: 0 }.encode_to_vec();
    let at = bad_utf8_date.windows(4).position(|w| w == b"DATE").expect("the date is in the encoding");
    bad_utf8_date[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xc0, 0x80]);
    let tip = w.tip_height;

    vec![
        // -- decoding the transaction (§4.6 step 1) --
        refused("absent transaction is MALFORMED", Call::SubmitPayment(None), INVALID, Reason::Malformed),
        refused("absent mint is MALFORMED", Call::Mint(None), INVALID, Reason::Malformed),
        refused(
            "empty transaction (every field default, so kind unspecified) is UNSUPPORTED_KIND",
            pay(proto::Transaction::default()),
            INVALID,
            Reason::UnsupportedKind,
        ),
        refused(
            "version 0 is UNSUPPORTED_VERSION",
            pay(edited(&payment, |t| t.version = 0)),
            INVALID,
            Reason::UnsupportedVersion,
        ),
        refused(
            "version 1 (signatures bound to no chain) is UNSUPPORTED_VERSION",
            pay(edited(&payment, |t| t.version = 1)),
            INVALID,
            Reason::UnsupportedVersion,
        ),
        refused(
            "version 3 is UNSUPPORTED_VERSION",
            pay(edited(&payment, |t| t.version = 3)),
            INVALID,
            Reason::UnsupportedVersion,
        ),
        refused(
            "version 256, past a byte, is UNSUPPORTED_VERSION",
            pay(edited(&payment, |t| t.version = 256)),
            INVALID,
            Reason::UnsupportedVersion,
        ),
        refused(
            "kind unspecified is UNSUPPORTED_KIND",
            pay(edited(&payment, |t| t.kind = 0)),
            INVALID,
            Reason::UnsupportedKind,
        ),
        refused(
            "kind 99 is UNSUPPORTED_KIND",
            pay(edited(&payment, |t| t.kind = 99)),
            INVALID,
            Reason::UnsupportedKind,
        ),
        refused(
            "kind -1 is UNSUPPORTED_KIND",
            pay(edited(&payment, |t| t.kind = -1)),
            INVALID,
            Reason::UnsupportedKind,
        ),
        refused(
            "output address of 31 bytes is BAD_ADDRESS",
            pay(edited(&payment, |t| t.outputs[0].address.truncate(31))),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "output address of 33 bytes is BAD_ADDRESS",
            pay(edited(&payment, |t| t.outputs[0].address.push(0))),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "output address of 0 bytes is BAD_ADDRESS",
            pay(edited(&payment, |t| t.outputs[0].address.clear())),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "witness public key of 31 bytes is MALFORMED",
            pay(edited(&payment, |t| t.witnesses[0].public_key.truncate(31))),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "witness public key of 33 bytes is MALFORMED",
            pay(edited(&payment, |t| t.witnesses[0].public_key.push(0))),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "signature of 63 bytes is MALFORMED",
            pay(edited(&payment, |t| t.witnesses[0].signature.truncate(63))),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "signature of 65 bytes is MALFORMED",
            pay(edited(&payment, |t| t.witnesses[0].signature.push(0))),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "empty signature is MALFORMED",
            pay(edited(&payment, |t| t.witnesses[0].signature.clear())),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "input txid of 31 bytes is MALFORMED",
            pay(edited(&payment, |t| t.inputs[0].txid.truncate(31))),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "input txid of 0 bytes is MALFORMED",
            pay(edited(&payment, |t| t.inputs[0].txid.clear())),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "17 inputs are TOO_MANY_INPUTS",
            pay(edited(&payment, |t| t.inputs = vec![t.inputs[0].clone(); TX_INPUTS_MAX + 1])),
            INVALID,
            Reason::TooManyInputs,
        ),
        refused(
            "1000 inputs, within the message limit, are TOO_MANY_INPUTS",
            pay(edited(&payment, |t| t.inputs = vec![t.inputs[0].clone(); 1000])),
            INVALID,
            Reason::TooManyInputs,
        ),
        refused(
            "17 outputs are TOO_MANY_OUTPUTS",
            pay(edited(&payment, |t| t.outputs = vec![t.outputs[0].clone(); TX_OUTPUTS_MAX + 1])),
            INVALID,
            Reason::TooManyOutputs,
        ),
        refused(
            "17 witnesses are TOO_MANY_WITNESSES",
            pay(edited(&payment, |t| t.witnesses = vec![t.witnesses[0].clone(); TX_WITNESSES_MAX + 1])),
            INVALID,
            Reason::TooManyWitnesses,
        ),
        // -- the service (§4.6 step 2) --
        refused(
            "a mint sent to PaymentService is WRONG_SERVICE",
            pay(to_proto(&issued(vec![output(bob, 1, 0)]))),
            INVALID,
            Reason::WrongService,
        ),
        refused(
            "a clawback sent to PaymentService is WRONG_SERVICE",
            pay(to_proto(&resigned(Transaction { kind: TxKind::Clawback, ..payment.clone() }, chain, &[&w.alice]))),
            INVALID,
            Reason::WrongService,
        ),
        refused(
            "a transfer sent to AdminService.Mint is WRONG_SERVICE",
            mint(to_proto(&payment)),
            INVALID,
            Reason::WrongService,
        ),
        refused(
            "a redeem sent to AdminService.Mint is WRONG_SERVICE",
            mint(to_proto(&client::redeem(chain, &w.alice, &[w.coin], 1_000, b"cash"))),
            INVALID,
            Reason::WrongService,
        ),
        // -- shape and limits (§4.6 steps 3-7) --
        refused(
            "reference of 65 bytes is REFERENCE_TOO_LONG",
            pay(edited(&payment, |t| t.reference = vec![b'x'; TX_REFERENCE_BYTES_MAX + 1])),
            INVALID,
            Reason::ReferenceTooLong,
        ),
        refused(
            "reference of 300 bytes, past its length byte, is REFERENCE_TOO_LONG",
            pay(edited(&payment, |t| t.reference = vec![b'x'; 300])),
            INVALID,
            Reason::ReferenceTooLong,
        ),
        refused(
            "a request of exactly 64 KiB is decoded, and its reference is REFERENCE_TOO_LONG",
            pay(request_of_exactly(&to_proto(&payment), GRPC_MESSAGE_BYTES_MAX)),
            INVALID,
            Reason::ReferenceTooLong,
        ),
        refused(
            "a transfer without inputs is NO_INPUTS",
            pay(to_proto(&transfer(chain, &[], vec![output(bob, 1, 0)], b"", &[&w.alice]))),
            INVALID,
            Reason::NoInputs,
        ),
        refused(
            "a transfer without outputs is NO_OUTPUTS",
            pay(to_proto(&w.paying(Vec::new()))),
            INVALID,
            Reason::NoOutputs,
        ),
        refused(
            "a transfer without witnesses is NO_WITNESSES",
            pay(edited(&payment, |t| t.witnesses.clear())),
            INVALID,
            Reason::NoWitnesses,
        ),
        refused(
            "a mint with inputs is MINT_HAS_INPUTS",
            mint(to_proto(&resigned(
                Transaction { kind: TxKind::Mint, reference: b"row-with-inputs".to_vec(), ..payment.clone() },
                chain,
                &[issuer_1, issuer_2],
            ))),
            INVALID,
            Reason::MintHasInputs,
        ),
        refused(
            "a mint without reference is MINT_NEEDS_REFERENCE",
            mint(to_proto(&client::mint(chain, vec![output(bob, 1, 0)], b"", &[issuer_1, issuer_2]))),
            INVALID,
            Reason::MintNeedsReference,
        ),
        refused(
            "the same input twice is DUPLICATE_INPUT",
            pay(to_proto(&transfer(
                chain,
                &[w.coin.0, w.coin.0],
                vec![output(bob, 2 * COIN_MINOR, 0)],
                b"",
                &[&w.alice],
            ))),
            INVALID,
            Reason::DuplicateInput,
        ),
        refused(
            "an output of amount 0 is ZERO_AMOUNT",
            pay(to_proto(&w.paying(vec![output(bob, 0, 0), output(w.alice.address(), COIN_MINOR, 0)]))),
            INVALID,
            Reason::ZeroAmount,
        ),
        refused(
            "two outputs summing past 2^64 - 1 are AMOUNT_OVERFLOW",
            pay(to_proto(&w.paying(vec![output(bob, u64::MAX, 0), output(bob, 1, 0)]))),
            INVALID,
            Reason::AmountOverflow,
        ),
        refused(
            "an output to 32 bytes that are not a curve point is BAD_ADDRESS",
            pay(to_proto(&w.paying(vec![output(Address(not_a_point), COIN_MINOR, 0)]))),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "the same witness twice is DUPLICATE_WITNESS",
            pay(to_proto(&resigned(payment.clone(), chain, &[&w.alice, &w.alice]))),
            INVALID,
            Reason::DuplicateWitness,
        ),
        // -- signatures (§4.6 step 8) --
        refused(
            "an all-zero signature is BAD_SIGNATURE",
            pay(edited(&payment, |t| t.witnesses[0].signature = vec![0; 64])),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "the owner's key with another key's valid signature of the txid is BAD_SIGNATURE",
            pay(edited(&payment, |t| {
                t.witnesses[0].signature = w.stranger.sign(&settled::witness_message(chain, &txid)).to_vec();
            })),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "the owner's signature of the bare txid (protocol version 1) is BAD_SIGNATURE",
            pay(edited(&payment, |t| t.witnesses[0].signature = w.alice.sign(&txid.0).to_vec())),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "a payment signed by its owner for another chain is BAD_SIGNATURE",
            pay(to_proto(&resigned(payment.clone(), &ChainId([7; 32]), &[&w.alice]))),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "a witness key that is not a curve point is BAD_SIGNATURE",
            pay(edited(&payment, |t| t.witnesses[0].public_key = not_a_point.to_vec())),
            INVALID,
            Reason::BadSignature,
        ),
        // -- against the ledger (§4.6 stateful) --
        refused(
            "a transfer validly signed by a stranger instead of the owner is MISSING_WITNESS",
            pay(to_proto(&resigned(payment.clone(), chain, &[&w.stranger]))),
            DECLINED,
            Reason::MissingWitness,
        ),
        refused(
            "a stranger's valid signature next to the owner's is UNEXPECTED_WITNESS",
            pay(to_proto(&resigned(payment.clone(), chain, &[&w.alice, &w.stranger]))),
            DECLINED,
            Reason::UnexpectedWitness,
        ),
        refused(
            "an input from the future (a txid never seen) is INPUT_UNKNOWN",
            pay(to_proto(&transfer(chain, &[never_seen], vec![output(bob, 1, 0)], b"", &[&w.alice]))),
            DECLINED,
            Reason::InputUnknown,
        ),
        refused(
            "an input past the outputs of a confirmed transaction is INPUT_UNKNOWN",
            pay(to_proto(&transfer(
                chain,
                &[OutPoint { txid: w.coin.0.txid, index: 7 }],
                vec![output(bob, 1, 0)],
                b"",
                &[&w.alice],
            ))),
            DECLINED,
            Reason::InputUnknown,
        ),
        refused(
            "an input already spent is INPUT_SPENT",
            pay(to_proto(&client::pay(chain, &w.alice, w.spent, bob, 1, b"again"))),
            DECLINED,
            Reason::InputSpent,
        ),
        refused(
            "an output of u64::MAX from a coin of 10 000 is NOT_CONSERVED",
            pay(to_proto(&w.paying(vec![output(bob, u64::MAX, 0)]))),
            DECLINED,
            Reason::NotConserved,
        ),
        refused(
            "unrestricted money paid into an unknown programme is NOT_CONSERVED",
            pay(to_proto(&w.paying(vec![output(bob, COIN_MINOR, UNKNOWN_PROGRAMME)]))),
            DECLINED,
            Reason::NotConserved,
        ),
        refused(
            "a redeem of a wallet's money is NOT_A_MERCHANT",
            pay(to_proto(&client::redeem(chain, &w.alice, &[w.coin], 1_000, b"cash"))),
            DECLINED,
            Reason::NotAMerchant,
        ),
        refused(
            "a redeem of a wallet's money by a bank is NOT_A_MERCHANT",
            pay(to_proto(&client::redeem(chain, &w.alice, &[w.coin], 1_000, b"cash"))),
            DECLINED,
            Reason::NotAMerchant,
        )
        .by(Caller::Bank),
        refused(
            "a mint with 1 of 3 issuer signatures is MINT_THRESHOLD",
            mint(to_proto(&w.minting(vec![output(bob, 1, 0)], &[issuer_1]))),
            DECLINED,
            Reason::MintThreshold,
        ),
        refused(
            "a mint co-signed by a non-issuer key is UNEXPECTED_WITNESS",
            mint(to_proto(&w.minting(vec![output(bob, 1, 0)], &[issuer_1, &w.stranger]))),
            DECLINED,
            Reason::UnexpectedWitness,
        ),
        refused(
            "a mint reusing a confirmed mint's reference for other outputs is REFERENCE_REUSED",
            mint(to_proto(&client::mint(chain, vec![output(bob, 1, 0)], b"row-1", &[issuer_1, issuer_2]))),
            DECLINED,
            Reason::ReferenceReused,
        ),
        refused(
            "a mint into an unknown programme is UNKNOWN_PROGRAMME",
            mint(to_proto(&issued(vec![output(bob, 1, UNKNOWN_PROGRAMME)]))),
            DECLINED,
            Reason::UnknownProgramme,
        ),
        refused(
            "a mint of u64::MAX on top of the supply is SUPPLY_OVERFLOW",
            mint(to_proto(&issued(vec![output(bob, u64::MAX, 0)]))),
            DECLINED,
            Reason::SupplyOverflow,
        ),
        // -- replays: answered with the original receipt, nothing new --
        answered("an exact replay of a confirmed payment is answered as a duplicate", pay(to_proto(&w.spender))),
        answered("an exact replay of a confirmed mint is answered as a duplicate", mint(to_proto(&w.funding))),
        // -- clawback (§4.8, §9.1) --
        refused(
            "a clawback of a programme not expired is PROGRAMME_NOT_EXPIRED",
            clawback_request(LIVE_PROGRAMME, live_authorization.clone()),
            DECLINED,
            Reason::ProgrammeNotExpired,
        ),
        refused(
            "a clawback of a programme not expired with nothing to move is PROGRAMME_NOT_EXPIRED (as §9.1, not §4.8)",
            clawback_request(IDLE_PROGRAMME, client::clawback_authorization(&w.idle_terms, &[issuer_1, issuer_2])),
            DECLINED,
            Reason::ProgrammeNotExpired,
        ),
        refused(
            "a clawback of an unknown programme is NOT_FOUND, UNKNOWN_PROGRAMME",
            clawback_request(UNKNOWN_PROGRAMME, client::clawback_authorization(&unknown_terms, &[issuer_1, issuer_2])),
            Code::NotFound,
            Reason::UnknownProgramme,
        ),
        refused(
            "a clawback with no authorisation signature is NO_WITNESSES (§10.1)",
            clawback_request(LIVE_PROGRAMME, Vec::new()),
            Code::InvalidArgument,
            Reason::NoWitnesses,
        ),
        refused(
            "a clawback authorised by one issuer is MINT_THRESHOLD",
            clawback_request(LIVE_PROGRAMME, client::clawback_authorization(&w.live_terms, &[issuer_1])),
            DECLINED,
            Reason::MintThreshold,
        ),
        refused(
            "a clawback authorised by a non-issuer key is UNEXPECTED_WITNESS",
            clawback_request(LIVE_PROGRAMME, client::clawback_authorization(&w.live_terms, &[issuer_1, &w.stranger])),
            DECLINED,
            Reason::UnexpectedWitness,
        ),
        refused(
            "a clawback with another programme's authorisation is BAD_SIGNATURE",
            clawback_request(LIVE_PROGRAMME, client::clawback_authorization(&w.idle_terms, &[issuer_1, issuer_2])),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "a clawback with the programme's authorisation for another chain is BAD_SIGNATURE",
            clawback_request(
                LIVE_PROGRAMME,
                client::clawback_authorization(
                    &ClawbackTerms { chain: ChainId([7; 32]), ..w.live_terms },
                    &[issuer_1, issuer_2],
                ),
            ),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "a clawback with an authorisation naming another treasury is BAD_SIGNATURE",
            clawback_request(
                LIVE_PROGRAMME,
                client::clawback_authorization(
                    &ClawbackTerms { treasury: w.stranger.address(), ..w.live_terms },
                    &[issuer_1, issuer_2],
                ),
            ),
            INVALID,
            Reason::BadSignature,
        ),
        refused(
            "a clawback with the same issuer's authorisation twice is DUPLICATE_WITNESS",
            clawback_request(LIVE_PROGRAMME, vec![live_authorization[0].clone(), live_authorization[0].clone()]),
            INVALID,
            Reason::DuplicateWitness,
        ),
        refused(
            "a clawback authorisation signature of 63 bytes is MALFORMED",
            clawback_request(LIVE_PROGRAMME, {
                let mut a = live_authorization.clone();
                a[0].signature.truncate(63);
                a
            }),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "a clawback authorisation key of 31 bytes is MALFORMED",
            clawback_request(LIVE_PROGRAMME, {
                let mut a = live_authorization.clone();
                a[0].public_key.truncate(31);
                a
            }),
            INVALID,
            Reason::Malformed,
        ),
        refused(
            "a clawback with 17 authorisation signatures is TOO_MANY_WITNESSES",
            clawback_request(LIVE_PROGRAMME, vec![live_authorization[0].clone(); TX_WITNESSES_MAX + 1]),
            INVALID,
            Reason::TooManyWitnesses,
        ),
        plain(
            "a clawback resuming after a cursor the server never issued is INVALID_ARGUMENT",
            Call::Clawback(proto::ClawbackRequest {
                programme_id: LIVE_PROGRAMME,
                authorization: live_authorization.clone(),
                resume_after: vec![1, 2, 3],
            }),
            INVALID,
        ),
        // -- registrations (§9.1) --
        refused(
            "a registration without its message is INVALID_REGISTRATION",
            Call::RegisterBank(proto::RegisterBankRequest { bank: None }),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank id already registered is ALREADY_REGISTERED",
            bank_request(BANK, "again", Vec::new()),
            DECLINED,
            Reason::AlreadyRegistered,
        ),
        refused(
            "a bank id of 65 characters is INVALID_REGISTRATION",
            bank_request(&"b".repeat(65), "long", Vec::new()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank id with a slash is INVALID_REGISTRATION",
            bank_request("bank/../root", "slash", Vec::new()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank without a name is INVALID_REGISTRATION",
            bank_request("nameless", "", Vec::new()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank name holding a control character (0x01) is INVALID_REGISTRATION",
            bank_request("control", "Bank\u{1}", Vec::new()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank name holding a newline is INVALID_REGISTRATION",
            bank_request("newline", "Bank\nof lines", Vec::new()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a programme name holding U+FFFE (not XML) is INVALID_REGISTRATION",
            programme_request(|p| p.name = "food \u{FFFE}".to_owned()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank credential hash of 31 bytes is INVALID_REGISTRATION",
            bank_request("short-credential", "short", vec![vec![7; 31]]),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank with 9 credentials is INVALID_REGISTRATION",
            bank_request("many-credentials", "many", (0u8..9).map(|i| vec![i; 32]).collect()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a bank credential that is the development credential is ALREADY_REGISTERED",
            bank_request("shadow", "shadow", vec![sha256(w.dev_token.as_bytes()).to_vec()]),
            DECLINED,
            Reason::AlreadyRegistered,
        ),
        refused(
            "a bank credential another bank holds is ALREADY_REGISTERED",
            bank_request("copycat", "copycat", vec![sha256(BANK_TOKEN.as_bytes()).to_vec()]),
            DECLINED,
            Reason::AlreadyRegistered,
        ),
        refused(
            "a wallet address of 31 bytes is BAD_ADDRESS",
            wallet_request(vec![1; 31], BANK, 1),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "a wallet address that is not a curve point is BAD_ADDRESS",
            wallet_request(not_a_point.to_vec(), BANK, 1),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "a wallet tier of 300 is INVALID_REGISTRATION",
            wallet_request(fresh_key(), BANK, 300),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a wallet tier outside the tier table is INVALID_REGISTRATION",
            wallet_request(fresh_key(), BANK, 9),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a wallet at an unknown bank is UNKNOWN_PARTICIPANT",
            wallet_request(fresh_key(), "no-such-bank", 1),
            DECLINED,
            Reason::UnknownParticipant,
        ),
        refused(
            "a merchant category of 10000 is INVALID_REGISTRATION",
            merchant_request(10_000, vec![fresh_key()]),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a merchant without payout addresses is INVALID_REGISTRATION",
            merchant_request(5411, Vec::new()),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a merchant payout address that is not a curve point is BAD_ADDRESS",
            merchant_request(5411, vec![not_a_point.to_vec()]),
            INVALID,
            Reason::BadAddress,
        ),
        refused(
            "programme 0 is INVALID_REGISTRATION",
            programme_request(|p| p.id = 0),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a programme id already created is ALREADY_REGISTERED",
            programme_request(|p| p.id = LIVE_PROGRAMME),
            DECLINED,
            Reason::AlreadyRegistered,
        ),
        refused(
            "a programme ending before it starts is INVALID_REGISTRATION",
            programme_request(|p| (p.valid_from_unix_ms, p.valid_until_unix_ms) = (10, 10)),
            INVALID,
            Reason::InvalidRegistration,
        ),
        refused(
            "a programme treasury of 33 bytes is BAD_ADDRESS",
            programme_request(|p| p.treasury_address.push(0)),
            INVALID,
            Reason::BadAddress,
        ),
        // -- oversized messages (§9, §12) --
        plain(
            "a payment of 5000 outputs, over 64 KiB, is RESOURCE_EXHAUSTED",
            pay(edited(&payment, |t| t.outputs = vec![t.outputs[0].clone(); 5000])),
            Code::ResourceExhausted,
        ),
        plain(
            "a request of 64 KiB + 1 byte is RESOURCE_EXHAUSTED",
            pay(request_of_exactly(&to_proto(&payment), GRPC_MESSAGE_BYTES_MAX + 1)),
            Code::ResourceExhausted,
        ),
        plain(
            "a mint with a reference of 100 KB is RESOURCE_EXHAUSTED",
            mint(edited(&issued(vec![output(bob, 1, 0)]), |t| t.reference = vec![b'x'; 100_000])),
            Code::ResourceExhausted,
        ),
        plain(
            "a balance query of a 100 KB address is RESOURCE_EXHAUSTED",
            Call::GetBalance(proto::GetBalanceRequest { address: vec![1; 100_000] }),
            Code::ResourceExhausted,
        ),
        // -- credentials (§9.3) --
        plain("a payment without a credential is UNAUTHENTICATED", pay(to_proto(&payment)), Code::Unauthenticated)
            .by(Caller::Nobody),
        plain("a payment with an unknown token is UNAUTHENTICATED", pay(to_proto(&payment)), Code::Unauthenticated)
            .by(Caller::Header(bearer("not-a-token"))),
        plain("a payment with a token of 300 bytes is UNAUTHENTICATED", pay(to_proto(&payment)), Code::Unauthenticated)
            .by(Caller::Header(bearer(&"t".repeat(300)))),
        plain(
            "a payment with a Basic authorization header is UNAUTHENTICATED",
            pay(to_proto(&payment)),
            Code::Unauthenticated,
        )
        .by(Caller::Header(format!("Basic {}", w.dev_token))),
        plain(
            "a bank calling AdminService.Mint is PERMISSION_DENIED",
            mint(to_proto(&issued(vec![output(bob, 1, 0)]))),
            Code::PermissionDenied,
        )
        .by(Caller::Bank),
        plain(
            "a bank calling AdminService.RegisterBank is PERMISSION_DENIED",
            bank_request("bank-by-a-bank", "sneaky", Vec::new()),
            Code::PermissionDenied,
        )
        .by(Caller::Bank),
        plain(
            "a bank calling AdminService.Clawback is PERMISSION_DENIED",
            clawback_request(LIVE_PROGRAMME, live_authorization.clone()),
            Code::PermissionDenied,
        )
        .by(Caller::Bank),
        plain("a bank calling LedgerService.Audit is PERMISSION_DENIED", Call::Audit, Code::PermissionDenied)
            .by(Caller::Bank),
        plain(
            "a bank reading the balance of an address not its customer's is PERMISSION_DENIED",
            Call::GetBalance(proto::GetBalanceRequest { address: w.alice.address().0.to_vec() }),
            Code::PermissionDenied,
        )
        .by(Caller::Bank),
        plain(
            "a bank subscribing to another bank is PERMISSION_DENIED",
            subscribe_request(OTHER_BANK, 0),
            Code::PermissionDenied,
        )
        .by(Caller::Bank),
        plain(
            "a bank asking for another bank's net position is PERMISSION_DENIED",
            Call::GetNetPositions(proto::GetNetPositionsRequest {
                after_height: 0,
                until_height: 0,
                bank: OTHER_BANK.into(),
            }),
            Code::PermissionDenied,
        )
        .by(Caller::Bank),
        // -- reads (§9) --
        plain(
            "GetPayment of a txid of 31 bytes is INVALID_ARGUMENT",
            Call::GetPayment(proto::GetPaymentRequest { txid: vec![1; 31] }),
            INVALID,
        ),
        plain(
            "GetPayment of a txid of 33 bytes is INVALID_ARGUMENT",
            Call::GetPayment(proto::GetPaymentRequest { txid: vec![1; 33] }),
            INVALID,
        ),
        plain(
            "GetPayment of an empty txid is INVALID_ARGUMENT",
            Call::GetPayment(proto::GetPaymentRequest { txid: Vec::new() }),
            INVALID,
        ),
        answered(
            "GetPayment of a txid never seen is answered UNKNOWN",
            Call::GetPayment(proto::GetPaymentRequest { txid: never_seen.txid.0.to_vec() }),
        ),
        plain(
            "GetBalance of a 31-byte address is INVALID_ARGUMENT",
            Call::GetBalance(proto::GetBalanceRequest { address: vec![1; 31] }),
            INVALID,
        ),
        plain(
            "GetBalance of an empty address is INVALID_ARGUMENT",
            Call::GetBalance(proto::GetBalanceRequest { address: Vec::new() }),
            INVALID,
        ),
        answered(
            "ListUnspent with page_size 1001 is answered, the page coerced to the maximum (AIP-158)",
            list_unspent_request(&w.alice.address(), PAGE_SIZE_MAX as u32 + 1, String::new()),
        ),
        answered(
            "ListUnspent with page_size u32::MAX is answered, the page coerced to the maximum",
            list_unspent_request(&w.alice.address(), u32::MAX, String::new()),
        ),
        plain(
            "ListUnspent with a garbage page_token is INVALID_ARGUMENT",
            list_unspent_request(&w.alice.address(), 0, "garbage".to_owned()),
            INVALID,
        ),
        answered(
            "ListUnspent with a page_token of 36 bytes (72 hex digits) it never issued is answered (any outpoint is a position)",
            list_unspent_request(&w.alice.address(), 0, hex::encode([0xee; 36])),
        ),
        plain(
            "ListWallets with a page_token that is not an address is INVALID_ARGUMENT",
            Call::ListWallets(proto::ListRequest { page_size: 0, page_token: "zz".to_owned() }),
            INVALID,
        ),
        plain(
            "GetBlock past the tip is NOT_FOUND",
            Call::GetBlock(proto::GetBlockRequest { height: tip + 1 }),
            Code::NotFound,
        ),
        plain(
            "GetBlock of height u64::MAX is NOT_FOUND",
            Call::GetBlock(proto::GetBlockRequest { height: u64::MAX }),
            Code::NotFound,
        ),
        // -- reconciliation (§9.4) --
        plain(
            "Subscribe after a sequence past the ledger is OUT_OF_RANGE",
            subscribe_request(BANK, w.next_sequence),
            Code::OutOfRange,
        ),
        plain("Subscribe after sequence u64::MAX is OUT_OF_RANGE", subscribe_request(BANK, u64::MAX), Code::OutOfRange),
        plain("Subscribe naming an unknown bank is NOT_FOUND", subscribe_request("no-such-bank", 0), Code::NotFound),
        plain("Subscribe by the operator naming no bank is INVALID_ARGUMENT", subscribe_request("", 0), INVALID),
        plain("GetStatement of 2026-02-30 is INVALID_ARGUMENT", statement_request(BANK, "2026-02-30", 0), INVALID),
        plain("GetStatement of an empty date is INVALID_ARGUMENT", statement_request(BANK, "", 0), INVALID),
        plain("GetStatement of 'yesterday' is INVALID_ARGUMENT", statement_request(BANK, "yesterday", 0), INVALID),
        plain(
            "GetStatement of 1969-12-31, before 1970, is INVALID_ARGUMENT",
            statement_request(BANK, "1969-12-31", 0),
            INVALID,
        ),
        plain("GetStatement in format 99 is INVALID_ARGUMENT", statement_request(BANK, "2026-01-01", 99), INVALID),
        plain(
            "GetStatement of an unknown bank is NOT_FOUND",
            statement_request("no-such-bank", "2026-01-01", 0),
            Code::NotFound,
        ),
        plain(
            "GetNetPositions with after_height equal to until_height is INVALID_ARGUMENT",
            Call::GetNetPositions(proto::GetNetPositionsRequest {
                after_height: tip,
                until_height: tip,
                bank: String::new(),
            }),
            INVALID,
        ),
        plain(
            "GetNetPositions with after_height above until_height is INVALID_ARGUMENT",
            Call::GetNetPositions(proto::GetNetPositionsRequest {
                after_height: tip,
                until_height: 1,
                bank: String::new(),
            }),
            INVALID,
        ),
        plain(
            "GetNetPositions until a height past the tip is OUT_OF_RANGE",
            Call::GetNetPositions(proto::GetNetPositionsRequest {
                after_height: 0,
                until_height: tip + 1,
                bank: String::new(),
            }),
            Code::OutOfRange,
        ),
        // -- bytes that are not the message (§9: undecodable requests) --
        plain(
            "a truncated SubmitPaymentRequest is INTERNAL (tonic's decode error; not documented)",
            Call::Raw { path: "/settled.v1.PaymentService/SubmitPayment", bytes: truncated },
            Code::Internal,
        ),
        plain(
            "a transaction field sent as a varint (tag 0x08) is INTERNAL (tonic's decode error; not documented)",
            Call::Raw { path: "/settled.v1.PaymentService/SubmitPayment", bytes: vec![0x08, 0x01] },
            Code::Internal,
        ),
        plain(
            "0xff bytes as a GetBalanceRequest are INTERNAL (tonic's decode error; not documented)",
            Call::Raw { path: "/settled.v1.WalletService/GetBalance", bytes: vec![0xff; 16] },
            Code::Internal,
        ),
        plain(
            "a statement date that is not UTF-8 is INTERNAL (tonic's decode error; not documented)",
            Call::Raw { path: "/settled.v1.ReconciliationService/GetStatement", bytes: bad_utf8_date },
            Code::Internal,
        ),
        plain(
            "a method that does not exist is UNIMPLEMENTED",
            Call::Raw { path: "/settled.v1.PaymentService/StealPayment", bytes: encoded.clone() },
            Code::Unimplemented,
        ),
        plain(
            "a service that does not exist is UNIMPLEMENTED",
            Call::Raw { path: "/settled.v1.BackdoorService/Mint", bytes: encoded },
            Code::Unimplemented,
        ),
    ]
}

/// Whether a transaction, with a stream item's framing, fits a message.
fn fits_a_stream_item(tx: Option<&proto::Transaction>) -> bool {
    tx.is_none_or(|tx| tx.encoded_len() + 32 <= GRPC_MESSAGE_BYTES_MAX)
}

/// The answer to one row, as `(code, reason)`.
fn outcome(result: &Result<(), Status>) -> (Code, Option<Reason>) {
    match result {
        Ok(()) => (Code::Ok, None),
        Err(status) => (status.code(), client::status_reason(status)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_documented_status_and_reason_and_changes_nothing() {
    let mut w = World::new().await;
    let before = w.snapshot().await;
    let rows = matrix(&w);
    assert!(rows.len() >= 40, "the matrix has {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let result = w.send(&row.caller, row.call.clone()).await;
        let got = outcome(&result);
        let expected = (row.code, row.reason);
        let detail = || result.as_ref().err().map(|s| s.message().to_owned()).unwrap_or_default();
        if got != expected {
            failures.push(format!("{}: expected {expected:?}, got {got:?} ({})", row.name, detail()));
        }
    }

    // The payments again, all on one SubmitPayments stream from the same
    // caller: each is answered in its own result with the same reason, and
    // the stream carries every one of them.
    let streamed: Vec<(u64, &Row, Option<proto::Transaction>)> = (0u64..)
        .zip(&rows)
        .filter_map(|(id, row)| match (&row.call, &row.caller) {
            (Call::SubmitPayment(tx), Caller::Dev) if row.reason.is_some() && fits_a_stream_item(tx.as_ref()) => {
                Some((id, row, tx.clone()))
            }
            _ => None,
        })
        .collect();
    let outbound: Vec<proto::SubmitPaymentsRequest> = streamed
        .iter()
        .map(|(client_id, _, transaction)| proto::SubmitPaymentsRequest {
            client_id: *client_id,
            transaction: transaction.clone(),
        })
        .collect();
    let mut inbound = w
        .ledger
        .client
        .payments
        .submit_payments(tokio_stream::iter(outbound))
        .await
        .expect("the stream opens")
        .into_inner();
    let mut results = HashMap::new();
    while let Some(response) = inbound.message().await.expect("no refusal ends the stream") {
        assert!(results.insert(response.client_id, response).is_none(), "one result per item");
    }
    for (client_id, row, _) in &streamed {
        let Some(response) = results.get(client_id) else {
            failures.push(format!("{} (streamed): no result", row.name));
            continue;
        };
        let reason = match &response.result {
            Some(proto::submit_payments_response::Result::Refusal(refusal)) => Reason::try_from(refusal.reason).ok(),
            _ => None,
        };
        if reason != row.reason {
            failures.push(format!("{} (streamed): expected {:?}, got {:?}", row.name, row.reason, response.result));
        }
        if row.code == DECLINED && response.txid.is_empty() {
            failures.push(format!("{} (streamed): a refusal by the ledger carries the txid", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows disagree with the protocol:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );

    let after = w.snapshot().await;
    assert_eq!(after, before, "no hostile request applied or half-applied anything");
    let audit = w.ledger.client.ledger.audit(proto::AuditRequest {}).await.expect("audit").into_inner();
    assert!(audit.failures.is_empty(), "the chain audits clean: {:?}", audit.failures);
    w.ledger.assert_supply(MINTED_MINOR).await;
    w.ledger.shutdown().await;
}

// ---- streams ------------------------------------------------------------------------

/// A ledger where alice holds `count` coins of 1 000, and her payments of
/// 100 to a shop, one per coin.
async fn payments_of_alice(count: usize) -> (TestLedger, Keypair, Vec<Transaction>) {
    let mut ledger = TestLedger::start().await;
    let (alice, shop) = (Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &vec![1_000; count], "float").await;
    let payments =
        coins.iter().map(|coin| client::pay(&ledger.chain, &alice, *coin, shop.address(), 100, b"")).collect();
    (ledger, shop, payments)
}

fn item(client_id: u64, transaction: proto::Transaction) -> proto::SubmitPaymentsRequest {
    proto::SubmitPaymentsRequest { client_id, transaction: Some(transaction) }
}

async fn payment_status(ledger: &mut TestLedger, tx: &Transaction) -> proto::PaymentStatus {
    let request = proto::GetPaymentRequest { txid: settled::txid(tx).0.to_vec() };
    let response = ledger.client.payments.get_payment(request).await.expect("payment status").into_inner();
    proto::PaymentStatus::try_from(response.status).expect("a known status")
}

async fn next_result(inbound: &mut tonic::Streaming<proto::SubmitPaymentsResponse>) -> proto::SubmitPaymentsResponse {
    tokio::time::timeout(FIRST_ITEM_WAIT, inbound.message())
        .await
        .expect("a result in time")
        .expect("the stream is still open")
        .expect("a result, not the end")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_stream_answers_a_malformed_item_in_its_own_result_and_ends_on_an_oversized_frame_after_answering_what_it_admitted()
 {
    let (mut ledger, shop, payments) = payments_of_alice(4).await;
    let (outbound, requests) = mpsc::channel(8);
    outbound.send(item(1, to_proto(&payments[0]))).await.expect("queued");
    let malformed = edited(&payments[1], |t| t.witnesses[0].signature.truncate(63));
    outbound.send(item(2, malformed)).await.expect("queued");
    let mut inbound = ledger
        .client
        .payments
        .submit_payments(ReceiverStream::new(requests))
        .await
        .expect("the stream opens")
        .into_inner();
    let mut first = HashMap::new();
    for _ in 0..2 {
        let response = next_result(&mut inbound).await;
        first.insert(response.client_id, response);
    }
    assert_eq!(common::streamed_receipt(&first[&1]).txid, settled::txid(&payments[0]), "the valid item is confirmed");
    assert_eq!(common::streamed_reason(&first[&2]), Reason::Malformed, "the malformed item is refused on its own");
    assert!(first[&2].txid.is_empty(), "an item that could not be decoded far enough to hash has no txid");

    // The stream is still open after the refusal: the next item is confirmed.
    outbound.send(item(3, to_proto(&payments[1]))).await.expect("queued");
    let third = next_result(&mut inbound).await;
    assert_eq!(third.client_id, 3);
    assert_eq!(common::streamed_receipt(&third).txid, settled::txid(&payments[1]));

    // An admitted item, an oversized frame, and an item behind it.
    outbound.send(item(4, to_proto(&payments[2]))).await.expect("queued");
    let oversized = edited(&payments[3], |t| t.outputs = vec![t.outputs[0].clone(); 5000]);
    assert!(oversized.encoded_len() > GRPC_MESSAGE_BYTES_MAX);
    outbound.send(item(5, oversized)).await.expect("queued");
    // The server may already have ended the call on the oversized frame,
    // which drops the request side: then this item is never sent at all,
    // and it must not be applied either way (checked below).
    let _ = outbound.send(item(6, to_proto(&payments[3]))).await;
    let mut answered = Vec::new();
    let ended = loop {
        match tokio::time::timeout(FIRST_ITEM_WAIT, inbound.message()).await.expect("the stream ends in time") {
            Ok(Some(response)) => answered.push(response),
            Ok(None) => panic!("an oversized frame ends the stream with an error, not cleanly"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::ResourceExhausted, "an oversized frame ends the stream: {ended:?}");
    assert_eq!(
        answered.iter().map(|r| r.client_id).collect::<Vec<_>>(),
        vec![4],
        "the admitted item is answered first"
    );
    assert_eq!(common::streamed_receipt(&answered[0]).txid, settled::txid(&payments[2]));
    drop(outbound);

    assert_eq!(
        payment_status(&mut ledger, &payments[3]).await,
        proto::PaymentStatus::Unknown,
        "nothing after the frame"
    );
    assert_eq!(ledger.balance(&shop.address()).await.total_minor, 300, "exactly the three confirmed payments");
    ledger.assert_supply(4_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_frame_ends_the_payment_stream_after_answering_what_it_admitted() {
    let (mut ledger, shop, payments) = payments_of_alice(2).await;
    let mut truncated = item(2, to_proto(&payments[1])).encode_to_vec();
    truncated.truncate(truncated.len() - 10);
    let frames = vec![
        item(1, to_proto(&payments[0])).encode_to_vec(),
        truncated,
        item(3, to_proto(&payments[1])).encode_to_vec(),
    ];
    let mut grpc = tonic::client::Grpc::new(raw_channel(&ledger));
    grpc.ready().await.expect("connected");
    let dev = bearer(&common::dev_token(&ledger.data_dir()));
    let path = http::uri::PathAndQuery::from_static("/settled.v1.PaymentService/SubmitPayments");
    let mut inbound = grpc
        .streaming::<_, _, Vec<u8>, _>(request(Some(&dev), tokio_stream::iter(frames)), path, RawCodec)
        .await
        .expect("the stream opens")
        .into_inner();
    let mut answered = Vec::new();
    let ended = loop {
        match tokio::time::timeout(FIRST_ITEM_WAIT, inbound.message()).await.expect("the stream ends in time") {
            Ok(Some(bytes)) => {
                answered.push(proto::SubmitPaymentsResponse::decode(bytes.as_slice()).expect("a response"))
            }
            Ok(None) => panic!("an undecodable frame ends the stream with an error, not cleanly"),
            Err(status) => break status,
        }
    };
    // §9 says only "an error status"; tonic reports a decode failure as INTERNAL.
    assert_eq!(ended.code(), Code::Internal, "an undecodable frame ends the stream: {ended:?}");
    assert_eq!(
        answered.iter().map(|r| r.client_id).collect::<Vec<_>>(),
        vec![1],
        "the admitted item is answered first"
    );
    assert_eq!(common::streamed_receipt(&answered[0]).txid, settled::txid(&payments[0]));
    assert_eq!(
        payment_status(&mut ledger, &payments[1]).await,
        proto::PaymentStatus::Unknown,
        "nothing after the frame"
    );
    assert_eq!(ledger.balance(&shop.address()).await.total_minor, 100);
    ledger.assert_supply(2_000).await;
    ledger.shutdown().await;
}

/// The field a validation error names (`google.rpc.BadRequest`), and that
/// it says what the message says.
fn violated_field(status: &Status) -> String {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status.get_details_bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    assert_eq!(bad_request.field_violations.len(), 1, "{bad_request:?}");
    let violation = &bad_request.field_violations[0];
    assert!(status.message().contains(&violation.description), "{status:?}");
    violation.field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_error_names_its_field_in_a_bad_request() {
    let mut ledger = TestLedger::start().await;
    ledger.bank("bank-f").await;
    let alice = Keypair::generate();
    let coin = ledger.fund(&alice, 1_000, "f").await;
    let mut admin = ledger.client.admin.clone();

    // A transaction's own shape.
    let mut zero = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 500, b"zero");
    zero.outputs[0].amount_minor = 0;
    client::sign(&mut zero, &ledger.chain, &[&alice]);
    assert_eq!(violated_field(&ledger.client.submit(&zero).await.unwrap_err()), "transaction.outputs");
    let mut long = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 500, b"long");
    long.reference = vec![b'r'; TX_REFERENCE_BYTES_MAX + 1];
    client::sign(&mut long, &ledger.chain, &[&alice]);
    assert_eq!(violated_field(&ledger.client.submit(&long).await.unwrap_err()), "transaction.reference");

    // Registrations, field by field.
    let bank = proto::Bank { id: "no spaces".into(), name: "B".into(), credential_sha256: Vec::new() };
    let status = admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.unwrap_err();
    assert_eq!(violated_field(&status), "bank.id");
    let status = admin.register_bank(proto::RegisterBankRequest { bank: None }).await.unwrap_err();
    assert_eq!(violated_field(&status), "bank");
    let merchant = proto::Merchant {
        id: "m".into(),
        name: "M".into(),
        mcc: 10_000,
        bank_id: "bank-f".into(),
        payout_addresses: vec![Keypair::generate().address().0.to_vec()],
        deactivated: false,
    };
    let status =
        admin.register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant.clone()) }).await.unwrap_err();
    assert_eq!(violated_field(&status), "merchant.mcc");
    let not_a_key = proto::Merchant { mcc: 5411, payout_addresses: vec![vec![0; 32]], ..merchant };
    let request = proto::RegisterMerchantRequest { merchant: Some(not_a_key) };
    assert_eq!(violated_field(&admin.register_merchant(request).await.unwrap_err()), "merchant.payout_addresses");
    let programme = proto::Programme {
        id: 3,
        name: "p".into(),
        allowed_mccs: vec![5411],
        valid_from_unix_ms: 10,
        valid_until_unix_ms: 5,
        treasury_address: Keypair::generate().address().0.to_vec(),
        ..Default::default()
    };
    let request = proto::CreateProgrammeRequest { programme: Some(programme) };
    assert_eq!(violated_field(&admin.create_programme(request).await.unwrap_err()), "programme.valid_until_unix_ms");
    let request = proto::FreezeWalletRequest { address: alice.address().0.to_vec(), reason: String::new() };
    assert_eq!(violated_field(&admin.freeze_wallet(request).await.unwrap_err()), "reason");
    let request = proto::SetWalletTierRequest { address: vec![1; 31], tier: 2 };
    assert_eq!(violated_field(&admin.set_wallet_tier(request).await.unwrap_err()), "address");

    // A clawback's authorisation, and plain arguments.
    let short = proto::Witness { public_key: vec![2; 32], signature: vec![3; 63] };
    let request = proto::ClawbackRequest { programme_id: 3, authorization: vec![short], resume_after: Vec::new() };
    assert_eq!(violated_field(&admin.clawback(request).await.unwrap_err()), "authorization");
    let request = proto::GetPaymentRequest { txid: vec![0; 31] };
    assert_eq!(violated_field(&ledger.client.payments.get_payment(request).await.unwrap_err()), "txid");
    let request = proto::ListRequest { page_size: 1, page_token: "not a token".into() };
    assert_eq!(violated_field(&admin.list_wallets(request).await.unwrap_err()), "page_token");

    // A refusal of the ledger's state names no field: it is no validation error.
    let spent = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 100, b"s1");
    ledger.client.submit(&spent).await.expect("paid");
    let again = client::pay(&ledger.chain, &alice, coin, Keypair::generate().address(), 200, b"s2");
    let status = ledger.client.submit(&again).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    use tonic_types::StatusExt;
    assert!(status.get_details_bad_request().is_none(), "{status:?}");
    ledger.assert_supply(1_000).await;
    ledger.shutdown().await;
}
