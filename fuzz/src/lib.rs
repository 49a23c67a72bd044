//! The checks behind the fuzz targets. Each target decodes what the server
//! decodes, runs what the api layer runs on it before any state is read
//! (through settled's public functions only), and asserts what must hold
//! for every input: no panic, refusals that are stateless and map to a gRPC
//! status, and the encoding and txid invariants on everything that decodes.
//!
//! `fuzz_targets/<name>.rs` is one line calling `<name>` below; the `drive`
//! example calls the same functions on random bytes where libFuzzer is not
//! available. What each target covers, and what it cannot reach without a
//! server, is in docs/FUZZING.md.

use std::sync::OnceLock;

pub mod seeds;

use prost::Message;
use settled::client::{refusal_to_status, status_reason, transaction_from_proto, transaction_to_proto};
use settled::limits::{
    CREDENTIALS_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAYOUT_ADDRESSES_MAX, PROGRAMME_MCCS_MAX, TX_INPUTS_MAX,
    TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX,
};
use settled::registry::{AdminOp, Bank, MCC_MAX, Merchant, Programme, Registry, Terminal, TierPolicy, Wallet};
use settled::{
    Address, BlockHeader, ChainId, Class, Genesis, Keypair, OutPoint, Reason, Refusal, Transaction, TxId, TxKind,
    check_shape, proto, sha256, tx_record_bytes, txid, verify, verify_signature,
};

/// A fuzz target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name, for the driver.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_tx_record", decode_tx_record),
    ("verify_proto_transaction", verify_proto_transaction),
    ("submit_payment_request", submit_payment_request),
    ("submit_payments_request", submit_payments_request),
    ("get_payment_request", get_payment_request),
    ("get_balance_request", get_balance_request),
    ("list_unspent_request", list_unspent_request),
    ("get_info_request", get_info_request),
    ("get_block_request", get_block_request),
    ("audit_request", audit_request),
    ("mint_request", mint_request),
    ("register_bank_request", register_bank_request),
    ("register_merchant_request", register_merchant_request),
    ("register_terminal_request", register_terminal_request),
    ("register_wallet_request", register_wallet_request),
    ("create_programme_request", create_programme_request),
    ("clawback_request", clawback_request),
    ("get_programme_stats_request", get_programme_stats_request),
    ("add_replica_request", add_replica_request),
    ("remove_replica_request", remove_replica_request),
    ("fetch_blocks_request", fetch_blocks_request),
    ("list_request", list_request),
    ("subscribe_request", subscribe_request),
    ("get_statement_request", get_statement_request),
    ("get_net_positions_request", get_net_positions_request),
    ("raft_messages", raft_messages),
];

// ---- invariants -------------------------------------------------------------

/// A refusal given before the ledger is read is INVALID_ARGUMENT, and its
/// reason survives the trip through a gRPC status.
fn assert_stateless_refusal(refusal: &Refusal) {
    assert_eq!(refusal.reason.class(), Class::InvalidArgument, "{refusal}");
    let named = proto::Reason::from_str_name(refusal.reason.name());
    assert!(named.is_some(), "{} has no proto Reason", refusal.reason.name());
    let status = refusal_to_status(refusal);
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{refusal}");
    assert_eq!(status_reason(&status), named, "{refusal}");
}

/// What must hold for any transaction the decoders produce: the record and
/// protobuf encodings round-trip, and verify either accepts it with its txid
/// or refuses it statelessly, consistently with `check_shape`.
fn check_transaction(tx: &Transaction) {
    if tx.reference.len() <= usize::from(u8::MAX) && tx.witnesses.len() <= usize::from(u8::MAX) {
        let record = tx_record_bytes(tx);
        assert_eq!(settled::decode_tx_record(&record).as_ref(), Ok(tx), "record round trip");
    }
    let counts_fit = tx.inputs.len() <= TX_INPUTS_MAX
        && tx.outputs.len() <= TX_OUTPUTS_MAX
        && tx.witnesses.len() <= TX_WITNESSES_MAX;
    match transaction_from_proto(&transaction_to_proto(tx)) {
        Ok(back) => {
            assert!(counts_fit, "over-limit counts decoded");
            assert_eq!(&back, tx, "protobuf round trip");
        }
        Err(refusal) => {
            assert!(!counts_fit, "protobuf round trip refused: {refusal}");
            let expected = [Reason::TooManyInputs, Reason::TooManyOutputs, Reason::TooManyWitnesses];
            assert!(expected.contains(&refusal.reason), "{refusal}");
        }
    }
    let shape = check_shape(tx);
    match verify(tx.clone(), &fixture_chain()) {
        Ok(verified) => {
            assert_eq!(verified.txid, txid(tx));
            assert_eq!(&verified.tx, tx);
            assert_eq!(shape, Ok(()), "verify accepted what check_shape refuses");
        }
        Err(refusal) => {
            assert_stateless_refusal(&refusal);
            match shape {
                Ok(()) => assert_eq!(refusal.reason, Reason::BadSignature, "{refusal}"),
                Err(shape) if shape.reason != Reason::BadAddress => assert_eq!(shape.reason, refusal.reason),
                // verify checks signatures before addresses.
                Err(_) => assert!(matches!(refusal.reason, Reason::BadSignature | Reason::BadAddress), "{refusal}"),
            }
        }
    }
}

/// `Api::submit` up to the engine: a missing transaction, the protobuf
/// decoding, the txid it names in stream replies, the service's kinds, then
/// the verify stage.
fn check_submission(tx: Option<&proto::Transaction>, allowed: &[TxKind]) {
    let Some(tx) = tx else {
        return assert_stateless_refusal(&Refusal::new(Reason::Malformed, "missing transaction"));
    };
    let tx = match transaction_from_proto(tx) {
        Ok(tx) => tx,
        Err(refusal) => return assert_stateless_refusal(&refusal),
    };
    if tx.reference.len() <= TX_REFERENCE_BYTES_MAX {
        let _ = txid(&tx);
    }
    if allowed.contains(&tx.kind) {
        check_transaction(&tx);
    } else {
        assert_stateless_refusal(&Refusal::new(Reason::WrongService, "not accepted by this service"));
    }
}

// ---- transactions -----------------------------------------------------------

/// Stored records: anything that decodes re-encodes to exactly the same
/// bytes (the encoding is canonical), and then holds every transaction
/// invariant.
pub fn decode_tx_record(data: &[u8]) {
    if let Ok(tx) = settled::decode_tx_record(data) {
        assert_eq!(tx_record_bytes(&tx), data, "a decoded record re-encodes to other bytes");
        check_transaction(&tx);
    }
}

/// Protobuf transactions through the decoder and the verify stage.
pub fn verify_proto_transaction(data: &[u8]) {
    let Ok(message) = proto::Transaction::decode(data) else {
        return;
    };
    match transaction_from_proto(&message) {
        Ok(tx) => check_transaction(&tx),
        Err(refusal) => assert_stateless_refusal(&refusal),
    }
}

const PAYMENT_KINDS: &[TxKind] = &[TxKind::Transfer, TxKind::Redeem];

pub fn submit_payment_request(data: &[u8]) {
    if let Ok(request) = proto::SubmitPaymentRequest::decode(data) {
        check_submission(request.transaction.as_ref(), PAYMENT_KINDS);
    }
}

pub fn submit_payments_request(data: &[u8]) {
    if let Ok(request) = proto::SubmitPaymentsRequest::decode(data) {
        check_submission(request.transaction.as_ref(), PAYMENT_KINDS);
    }
}

pub fn mint_request(data: &[u8]) {
    if let Ok(request) = proto::MintRequest::decode(data) {
        check_submission(request.transaction.as_ref(), &[TxKind::Mint]);
    }
}

// ---- lookups ------------------------------------------------------------------

pub fn get_payment_request(data: &[u8]) {
    if let Ok(request) = proto::GetPaymentRequest::decode(data) {
        let parsed = TxId::from_slice(&request.txid);
        assert_eq!(parsed.is_some(), request.txid.len() == 32);
    }
}

pub fn get_balance_request(data: &[u8]) {
    if let Ok(request) = proto::GetBalanceRequest::decode(data) {
        assert_eq!(Address::from_slice(&request.address).is_some(), request.address.len() == 32);
    }
}

/// The page size rule of every listing: 0 is the default, above the
/// maximum is refused.
fn page_size(requested: u32) -> Option<usize> {
    match requested as usize {
        0 => Some(PAGE_SIZE_DEFAULT),
        n if n > PAGE_SIZE_MAX => None,
        n => Some(n),
    }
}

pub fn list_unspent_request(data: &[u8]) {
    let Ok(request) = proto::ListUnspentRequest::decode(data) else {
        return;
    };
    let _ = Address::from_slice(&request.address);
    if let Some(size) = page_size(request.page_size) {
        // The server reads one more than the page to tell whether another follows.
        assert!(size.checked_add(1).is_some());
    }
    // The page token is a txid and an index, 36 bytes, or nothing.
    if let Ok(token) = <[u8; 36]>::try_from(request.page_token.as_slice()) {
        let after = OutPoint {
            txid: TxId(token[..32].try_into().expect("32 bytes")),
            index: u32::from_be_bytes(token[32..].try_into().expect("4 bytes")),
        };
        let mut again = after.txid.0.to_vec();
        again.extend_from_slice(&after.index.to_be_bytes());
        assert_eq!(again, request.page_token);
    }
}

/// Decoding only: the server answers it from its state.
pub fn get_info_request(data: &[u8]) {
    let _ = proto::GetInfoRequest::decode(data);
}

/// Decoding only: the server looks the height up in its store.
pub fn get_block_request(data: &[u8]) {
    let _ = proto::GetBlockRequest::decode(data);
}

/// Decoding only: an empty message.
pub fn audit_request(data: &[u8]) {
    let _ = proto::AuditRequest::decode(data);
}

/// Decoding and the member's validation (`AddReplica`).
pub fn add_replica_request(data: &[u8]) {
    if let Ok(request) = proto::AddReplicaRequest::decode(data) {
        let _ = settled::cluster::ReplicaNode::to_add(request.id, request.raft_addr, request.api_addr);
    }
}

/// Decoding only: the leader checks the id against its membership.
pub fn remove_replica_request(data: &[u8]) {
    let _ = proto::RemoveReplicaRequest::decode(data);
}

/// Decoding only (the Raft port's `FetchBlocks`): heights are read from
/// the store, the count is clamped.
pub fn fetch_blocks_request(data: &[u8]) {
    let _ = proto::FetchBlocksRequest::decode(data);
}

/// The Raft port's messages (`RaftService`, `PeerService`): the first byte
/// picks the message (vote, append, snapshot) and the member its caller's
/// certificate names, the next 8 the receiving node's current term; the
/// rest is the postcard payload the service decodes.
/// What decodes goes through the same checks the service runs before
/// openraft sees it (`admit_vote`, `admit_append`, `admit_snapshot`), and
/// what they admit claims the caller's identity, carries no term or index
/// beyond reach, no entries out of order and no membership openraft would
/// panic on, and no snapshot chunk past its bound.
pub fn raft_messages(data: &[u8]) {
    use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
    use settled::cluster::{Local, NodeId, TypeConfig, admit_append, admit_snapshot, admit_vote};
    use settled::limits::{RAFT_LOG_INDEX_MAX, RAFT_SNAPSHOT_BYTES_MAX, RAFT_TERM_MAX, RAFT_TERM_STEP_MAX};
    let Some((selector, rest)) = data.split_first() else { return };
    let Some((term, payload)) = rest.split_first_chunk::<8>() else { return };
    let peer = NodeId::from(selector >> 2);
    let local = Local { term: u64::from_be_bytes(*term) };
    let term_ok = |term: u64| term <= RAFT_TERM_MAX && term <= local.term.saturating_add(RAFT_TERM_STEP_MAX);
    let within = |log_id: Option<&openraft::LogId<NodeId>>, term: u64| {
        log_id.is_none_or(|id| id.leader_id.term <= term && id.index <= RAFT_LOG_INDEX_MAX)
    };
    match selector & 3 {
        0 => {
            let Ok(rpc) = postcard::from_bytes::<VoteRequest<NodeId>>(payload) else { return };
            if admit_vote(peer, local, &rpc).is_ok() {
                assert_eq!(rpc.vote.leader_id.node_id, peer);
                assert!(term_ok(rpc.vote.leader_id.term) && !rpc.vote.committed);
                assert!(within(rpc.last_log_id.as_ref(), rpc.vote.leader_id.term));
            }
        }
        1 => {
            let Ok(rpc) = postcard::from_bytes::<AppendEntriesRequest<TypeConfig>>(payload) else { return };
            if admit_append(peer, local, &rpc).is_ok() {
                let term = rpc.vote.leader_id.term;
                assert_eq!(rpc.vote.leader_id.node_id, peer);
                assert!(term_ok(term) && rpc.vote.committed);
                let mut previous = rpc.prev_log_id;
                for log_id in [rpc.prev_log_id.as_ref(), rpc.leader_commit.as_ref()]
                    .into_iter()
                    .chain(rpc.entries.iter().map(|entry| Some(&entry.log_id)))
                {
                    assert!(within(log_id, term));
                }
                for entry in &rpc.entries {
                    assert_eq!(entry.log_id.index, previous.map_or(0, |p| p.index + 1), "consecutive entries");
                    assert!(previous.is_none_or(|p| p.leader_id.term <= entry.log_id.leader_id.term));
                    if let openraft::EntryPayload::Membership(membership) = &entry.payload {
                        for voter in membership.voter_ids() {
                            assert!(membership.get_node(&voter).is_some(), "a voter without a node admitted");
                        }
                    }
                    previous = Some(entry.log_id);
                }
            }
        }
        _ => {
            let Ok(rpc) = postcard::from_bytes::<InstallSnapshotRequest<TypeConfig>>(payload) else { return };
            if admit_snapshot(peer, local, &rpc).is_ok() {
                assert_eq!(rpc.vote.leader_id.node_id, peer);
                assert!(term_ok(rpc.vote.leader_id.term) && rpc.vote.committed);
                assert!(within(rpc.meta.last_log_id.as_ref(), rpc.vote.leader_id.term));
                let end = usize::try_from(rpc.offset).ok().and_then(|o| o.checked_add(rpc.data.len()));
                assert!(end.is_some_and(|end| end <= RAFT_SNAPSHOT_BYTES_MAX));
            }
        }
    }
}

/// Decoding only: the server looks the programme up in its registry.
pub fn get_programme_stats_request(data: &[u8]) {
    let _ = proto::GetProgrammeStatsRequest::decode(data);
}

// ---- registry ---------------------------------------------------------------

/// One bank ("bank-1", credential sha256("bank-1")) and one merchant
/// ("m-1", paid at the fixture key): registrations can get past "no such
/// bank" and collide with what exists.
fn fixture_ops() -> Vec<AdminOp> {
    vec![
        AdminOp::RegisterBank(Bank {
            id: "bank-1".to_owned(),
            name: "Bank One".to_owned(),
            credentials: vec![sha256(b"bank-1")],
        }),
        AdminOp::RegisterMerchant(Merchant {
            id: "m-1".to_owned(),
            name: "Merchant One".to_owned(),
            mcc: 5411,
            bank: "bank-1".to_owned(),
            payout_addresses: vec![fixture_key().address()],
        }),
    ]
}

fn fixture() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        for op in fixture_ops() {
            registry.check(&op, &TierPolicy::e_cny_default(2), false).expect("fixture registers");
            registry.apply(op);
        }
        registry
    })
}

/// The fixture's merchant key and its one issuer.
fn fixture_key() -> &'static Keypair {
    static KEY: OnceLock<Keypair> = OnceLock::new();
    KEY.get_or_init(|| Keypair::from_secret(&[7; 32]).expect("a valid secret"))
}

/// The chain id of the fixture ledger (the hash of its block 0: one issuer,
/// the fixture key, created at time 0): what the targets verify signatures
/// for.
#[must_use]
pub fn fixture_chain() -> ChainId {
    static CHAIN: OnceLock<ChainId> = OnceLock::new();
    *CHAIN.get_or_init(|| {
        let genesis = Genesis {
            currency: "CNY".to_owned(),
            exponent: 2,
            issuer_keys: vec![fixture_key().address()],
            issuer_threshold: 1,
            engine_key: Keypair::from_secret(&[9; 32]).expect("a valid secret").address(),
        };
        BlockHeader::genesis(&genesis, 0).chain_id()
    })
}

/// The treasury and `valid_until` (unix ms) of every programme of the
/// fixture ledger, as `AdminService.Clawback` finds it registered: what a
/// clawback authorisation names besides the chain and the programme.
#[must_use]
pub fn fixture_programme_terms() -> (Address, u64) {
    (Keypair::from_secret(&[4; 32]).expect("a valid secret").address(), 2)
}

fn invalid(detail: &str) -> Refusal {
    Refusal::new(Reason::InvalidRegistration, detail)
}

fn bytes32(bytes: &[u8], reason: Reason) -> Result<[u8; 32], Refusal> {
    bytes.try_into().map_err(|_| Refusal::new(reason, format!("{} bytes, not 32", bytes.len())))
}

fn mcc(value: u32) -> Result<u16, Refusal> {
    u16::try_from(value).ok().filter(|m| *m <= MCC_MAX).ok_or_else(|| invalid("MCC out of range"))
}

fn credentials(hashes: &[Vec<u8>]) -> Result<Vec<[u8; 32]>, Refusal> {
    if hashes.len() > CREDENTIALS_MAX {
        return Err(invalid("too many credentials"));
    }
    hashes.iter().map(|h| bytes32(h, Reason::InvalidRegistration)).collect()
}

fn required<T>(value: Option<T>) -> Result<T, Refusal> {
    value.ok_or_else(|| invalid("missing"))
}

/// What the api does with a registration once converted: the registry's
/// check; and an operation that passes, once applied, is refused the second
/// time as already registered.
fn check_registration(op: Result<AdminOp, Refusal>) {
    let op = match op {
        Ok(op) => op,
        Err(refusal) => return assert_stateless_refusal(&refusal),
    };
    let tiers = TierPolicy::e_cny_default(2);
    let registry = fixture();
    match registry.check(&op, &tiers, false) {
        Ok(()) => {
            let mut after = registry.clone();
            after.apply(op.clone());
            let again = after.check(&op, &tiers, false).expect_err("registered twice");
            assert_eq!(again.reason, Reason::AlreadyRegistered, "{again}");
            // What was accepted replays from the store.
            let mut ops = fixture_ops();
            ops.push(op);
            Registry::replay(ops).expect("an accepted operation replays");
        }
        Err(refusal) => {
            assert!(matches!(refusal.reason.class(), Class::InvalidArgument | Class::FailedPrecondition), "{refusal}");
            let _ = refusal_to_status(&refusal);
        }
    }
}

pub fn register_bank_request(data: &[u8]) {
    if let Some(op) = bank_op(data) {
        check_registration(op);
    }
}

pub fn register_merchant_request(data: &[u8]) {
    if let Some(op) = merchant_op(data) {
        check_registration(op);
    }
}

pub fn register_terminal_request(data: &[u8]) {
    if let Some(op) = terminal_op(data) {
        check_registration(op);
    }
}

pub fn register_wallet_request(data: &[u8]) {
    if let Some(op) = wallet_op(data) {
        check_registration(op);
    }
}

pub fn create_programme_request(data: &[u8]) {
    if let Some(op) = programme_op(data) {
        check_registration(op);
    }
}

/// The api's conversion of each registration request (admin_api.rs), or
/// `None` when the bytes are not one.
fn bank_op(data: &[u8]) -> Option<Result<AdminOp, Refusal>> {
    let request = proto::RegisterBankRequest::decode(data).ok()?;
    Some(required(request.bank).and_then(|b| {
        Ok(AdminOp::RegisterBank(Bank { credentials: credentials(&b.credential_sha256)?, id: b.id, name: b.name }))
    }))
}

fn merchant_op(data: &[u8]) -> Option<Result<AdminOp, Refusal>> {
    let request = proto::RegisterMerchantRequest::decode(data).ok()?;
    Some(required(request.merchant).and_then(|m| {
        if m.payout_addresses.len() > PAYOUT_ADDRESSES_MAX {
            return Err(invalid("too many payout addresses"));
        }
        let payout_addresses =
            m.payout_addresses.iter().map(|a| bytes32(a, Reason::BadAddress).map(Address)).collect::<Result<_, _>>()?;
        Ok(AdminOp::RegisterMerchant(Merchant {
            mcc: mcc(m.mcc)?,
            payout_addresses,
            id: m.id,
            name: m.name,
            bank: m.bank_id,
        }))
    }))
}

fn terminal_op(data: &[u8]) -> Option<Result<AdminOp, Refusal>> {
    let request = proto::RegisterTerminalRequest::decode(data).ok()?;
    Some(required(request.terminal).and_then(|t| {
        let credentials = credentials(&t.credential_sha256)?;
        Ok(AdminOp::RegisterTerminal(Terminal { id: t.id, merchant: t.merchant_id, credentials }))
    }))
}

fn wallet_op(data: &[u8]) -> Option<Result<AdminOp, Refusal>> {
    let request = proto::RegisterWalletRequest::decode(data).ok()?;
    Some(required(request.wallet).and_then(|w| {
        let tier = u8::try_from(w.tier).map_err(|_| invalid("no such tier"))?;
        Ok(AdminOp::RegisterWallet(Wallet {
            address: Address(bytes32(&w.address, Reason::BadAddress)?),
            bank: w.bank_id,
            tier,
        }))
    }))
}

fn programme_op(data: &[u8]) -> Option<Result<AdminOp, Refusal>> {
    let request = proto::CreateProgrammeRequest::decode(data).ok()?;
    Some(required(request.programme).and_then(|p| {
        if p.allowed_mccs.len() > PROGRAMME_MCCS_MAX {
            return Err(invalid("too many merchant categories"));
        }
        Ok(AdminOp::CreateProgramme(Programme {
            id: p.id,
            allowed_mccs: p.allowed_mccs.iter().map(|m| mcc(*m)).collect::<Result<_, _>>()?,
            valid_from_ms: p.valid_from_unix_ms,
            valid_until_ms: p.valid_until_unix_ms,
            transferable: p.transferable,
            treasury: Address(bytes32(&p.treasury_address, Reason::BadAddress)?),
            per_payment_max_minor: (p.per_payment_max_minor != 0).then_some(p.per_payment_max_minor),
            name: p.name,
        }))
    }))
}

/// The authorisation checks `AdminService.Clawback` makes before reading
/// the ledger, in its order: the count, the field sizes, the cursor; then
/// (after the programme lookup, which needs the server: here the fixture's
/// terms) each signature over sha256("STLC" || 2 || chain || programme ||
/// treasury || valid_until) and distinct signers.
pub fn clawback_request(data: &[u8]) {
    let Ok(request) = proto::ClawbackRequest::decode(data) else {
        return;
    };
    if request.authorization.len() > TX_WITNESSES_MAX {
        return assert_stateless_refusal(&Refusal::new(Reason::TooManyWitnesses, "too many"));
    }
    let mut authorization = Vec::with_capacity(request.authorization.len());
    for witness in &request.authorization {
        let (Ok(key), Ok(signature)) =
            (<[u8; 32]>::try_from(witness.public_key.as_slice()), <[u8; 64]>::try_from(witness.signature.as_slice()))
        else {
            return assert_stateless_refusal(&Refusal::new(Reason::Malformed, "wrong size"));
        };
        authorization.push((Address(key), signature));
    }
    if !matches!(request.resume_after.len(), 0 | 36) {
        return;
    }
    let (treasury, valid_until_ms) = fixture_programme_terms();
    let mut message = b"STLC".to_vec();
    message.push(2);
    message.extend_from_slice(&fixture_chain().0);
    message.extend_from_slice(&request.programme_id.to_be_bytes());
    message.extend_from_slice(&treasury.0);
    message.extend_from_slice(&valid_until_ms.to_be_bytes());
    let message = sha256(&message);
    assert_eq!(
        message,
        settled::clawback_authorization(&fixture_chain(), request.programme_id, &treasury, valid_until_ms),
        "the authorisation as docs/PROTOCOL.md spells it is the engine's"
    );
    for (key, signature) in &authorization {
        if !verify_signature(key, &message, signature) {
            return assert_stateless_refusal(&Refusal::new(Reason::BadSignature, "does not sign"));
        }
        // Only the fixture issuer's signature (from a seed) can verify: a
        // fuzzer forging one under another key would be a BIP340 break.
        assert_eq!(*key, fixture_key().address(), "an authorisation verified under a key nobody holds");
    }
    let mut signers: Vec<Address> = authorization.iter().map(|(key, _)| *key).collect();
    signers.sort_unstable();
    signers.dedup();
    assert!(signers.len() <= 1);
}

/// `AdminService.List*`: the page size and each listing's page token.
pub fn list_request(data: &[u8]) {
    let Ok(request) = proto::ListRequest::decode(data) else {
        return;
    };
    let _ = page_size(request.page_size);
    if !request.page_token.is_empty() {
        let _ = Address::from_hex(&request.page_token);
        let _ = request.page_token.parse::<u32>();
    }
}

// ---- reconciliation -----------------------------------------------------------

/// Decoding, and the arithmetic the stream does on the request's heights;
/// which bank and where to start need the server.
pub fn subscribe_request(data: &[u8]) {
    let Ok(request) = proto::SubscribeRequest::decode(data) else {
        return;
    };
    if let Some(seen) = request.after_height {
        let _ = seen.saturating_add(1);
    }
    let _ = request.until_height;
}

/// The format, the date, and the day's window in unix ms for every day
/// offset the configuration allows (-840 to +840 minutes), as the server
/// computes them before reading the store.
pub fn get_statement_request(data: &[u8]) {
    let Ok(request) = proto::GetStatementRequest::decode(data) else {
        return;
    };
    let _ = proto::StatementFormat::try_from(request.format);
    let Some(day) = settled::statement::parse_date(&request.date) else {
        return;
    };
    let Some(day) = i64::try_from(day).ok().filter(|d| *d >= 0) else {
        return;
    };
    for offset_minutes in [-840i32, 0, 480, 840] {
        let start_ms = u64::try_from(day * 86_400_000 - i64::from(offset_minutes) * 60_000).unwrap_or(0);
        let end_ms = start_ms + 86_400_000;
        assert!(end_ms > start_ms);
        // The window starts at the local midnight of the date asked for
        // (unless that is before the epoch, where the server starts at 0).
        if day * 86_400_000 >= i64::from(offset_minutes) * 60_000 {
            assert_eq!(settled::statement::ledger_date(start_ms, offset_minutes), request.date);
        }
    }
}

/// The window rule against a few tips: 0 is the tip, past the tip is out of
/// range, an empty window is invalid. The totals need the server.
pub fn get_net_positions_request(data: &[u8]) {
    let Ok(request) = proto::GetNetPositionsRequest::decode(data) else {
        return;
    };
    for tip in [0u64, 1, 1_000, u64::MAX] {
        let until = if request.until_height == 0 { tip } else { request.until_height };
        if until > tip || request.after_height >= until {
            continue;
        }
        assert!(until - request.after_height >= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_clean_through_its_target() {
        for (name, target) in TARGETS {
            let seeds = seeds::for_target(name);
            assert!(!seeds.is_empty(), "{name} has no seed");
            for seed in seeds {
                target(&seed);
            }
        }
    }

    /// The seeds start the fuzzer past the checks, not at the first refusal.
    #[test]
    fn the_seed_transactions_verify_and_the_seed_registrations_are_accepted() {
        for tx in seeds::transactions() {
            assert!(verify(tx.clone(), &fixture_chain()).is_ok(), "{tx:?}");
        }
        type Convert = fn(&[u8]) -> Option<Result<AdminOp, Refusal>>;
        let conversions: [(&str, Convert); 5] = [
            ("register_bank_request", bank_op),
            ("register_merchant_request", merchant_op),
            ("register_terminal_request", terminal_op),
            ("register_wallet_request", wallet_op),
            ("create_programme_request", programme_op),
        ];
        for (name, convert) in conversions {
            let seed = seeds::for_target(name).remove(0);
            let op = convert(&seed).expect("decodes").expect("converts");
            assert_eq!(fixture().check(&op, &TierPolicy::e_cny_default(2), false), Ok(()), "{name}");
        }
    }
}
