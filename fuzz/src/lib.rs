//! The checks behind the fuzz targets. Each target decodes what the server
//! decodes and runs on it the functions the server runs before it reads its
//! state (`settled::checks`, which the gRPC services call, and the
//! conversions, verify stage, registry and ledger checks behind them), then
//! asserts what must hold for every input: no panic, refusals that map to a
//! gRPC status, the encoding and txid invariants, and for what is accepted,
//! the effect docs/PROTOCOL.md gives it.
//!
//! `fuzz_targets/<name>.rs` is one line calling `<name>` below; the `drive`
//! example calls the same functions on mutated seeds where libFuzzer is not
//! available. What each target covers, and what it cannot reach without a
//! server, is in docs/FUZZING.md.

pub mod fixture;
pub mod seeds;

use std::collections::BTreeSet;

use prost::Message;
use settled::batch;
use settled::checks::{self, Removal};
use settled::client::{refusal_to_status, status_reason, transaction_from_proto, transaction_to_proto};
use settled::limits::{
    BENEFICIARY_WALLETS_MAX, CLUSTER_MEMBERS_MAX, CREDENTIALS_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX,
    PAYOUT_ADDRESSES_MAX, PROGRAMME_MCCS_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX,
};
use settled::registry::{AdminOp, MCC_MAX, Principal, Registry};
use settled::{
    Address, Class, Decline, OutPoint, Reason, Refusal, Transaction, TxKind, VerifiedTx, Witness, check_shape, proto,
    sha256, tx_record_bytes, txid, verify, verify_signature,
};
use tonic::{Code, Status};

/// A fuzz target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name, for the driver.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_tx_record", decode_tx_record),
    ("verify_proto_transaction", verify_proto_transaction),
    ("batch_verify", batch_verify),
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
    ("register_beneficiary_request", register_beneficiary_request),
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
    assert_status_keeps_reason(refusal);
}

/// A refusal's reason survives the trip through a gRPC status.
fn assert_status_keeps_reason(refusal: &Refusal) {
    let named = proto::Reason::from_str_name(refusal.reason.name());
    assert!(named.is_some(), "{} has no proto Reason", refusal.reason.name());
    assert_eq!(status_reason(&refusal_to_status(refusal)), named, "{refusal}");
}

fn assert_code<T: std::fmt::Debug>(result: &Result<T, Status>, code: Code) {
    match result {
        Err(status) => assert_eq!(status.code(), code, "{status:?}"),
        Ok(value) => panic!("accepted {value:?}, expected {code:?}"),
    }
}

/// What must hold for any transaction the decoders produce: the record and
/// protobuf encodings round-trip, and verify either accepts it with its txid
/// or refuses it statelessly, consistently with `check_shape`. What verify
/// accepted.
fn check_transaction(tx: &Transaction) -> Option<VerifiedTx> {
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
    match verify(tx.clone(), &fixture::chain()) {
        Ok(verified) => {
            assert_eq!(verified.txid, txid(tx));
            assert_eq!(&verified.tx, tx);
            assert_eq!(shape, Ok(()), "verify accepted what check_shape refuses");
            Some(verified)
        }
        Err(refusal) => {
            assert_stateless_refusal(&refusal);
            match shape {
                Ok(()) => assert_eq!(refusal.reason, Reason::BadSignature, "{refusal}"),
                Err(shape) if shape.reason != Reason::BadAddress => assert_eq!(shape.reason, refusal.reason),
                // verify checks signatures before addresses.
                Err(_) => assert!(matches!(refusal.reason, Reason::BadSignature | Reason::BadAddress), "{refusal}"),
            }
            None
        }
    }
}

/// The submit path: `Api::submit`'s checks before the engine
/// (`checks::submission`), the verify stage, then the ledger's rules on the
/// fixture ledger, as the sequencer applies them.
fn check_submission(tx: Option<&proto::Transaction>, allowed: &[TxKind]) {
    let (named_txid, tx) = match checks::submission(tx, allowed) {
        Ok(admitted) => admitted,
        Err((named_txid, refusal)) => {
            assert_stateless_refusal(&refusal);
            let decoded = tx.map(transaction_from_proto);
            match (decoded, refusal.reason) {
                (None, reason) => assert_eq!(reason, Reason::Malformed),
                (Some(Err(decoding)), reason) => assert_eq!(decoding.reason, reason),
                (Some(Ok(tx)), Reason::WrongService) => {
                    assert!(!allowed.contains(&tx.kind), "{:?} refused by its own service", tx.kind);
                    if tx.reference.len() <= TX_REFERENCE_BYTES_MAX {
                        assert_eq!(named_txid, Some(txid(&tx)), "a refused stream item names its txid");
                    }
                }
                (Some(Ok(_)), reason) => panic!("a transaction that decodes refused as {reason:?}"),
            }
            return;
        }
    };
    assert!(allowed.contains(&tx.kind), "{:?} admitted by a service that does not take it", tx.kind);
    match named_txid {
        Some(named) => assert_eq!(named, txid(&tx)),
        None => assert!(tx.reference.len() > TX_REFERENCE_BYTES_MAX, "a hashable transaction without its txid"),
    }
    let verified = check_transaction(&tx).or_else(|| resigned(&tx).and_then(|signed| check_transaction(&signed)));
    if let Some(verified) = verified {
        check_applied(&verified);
    }
}

/// The transaction signed anew by the fixture keys its witnesses name
/// (with fixed auxiliary randomness), so that a mutation of a signed field
/// still reaches the ledger's rules. `None` when nothing changes, when a
/// witness is not a fixture key, for a clawback (its witnesses sign its
/// authorisation, not its txid), or when it cannot be hashed.
fn resigned(tx: &Transaction) -> Option<Transaction> {
    if tx.kind == TxKind::Clawback || tx.reference.len() > TX_REFERENCE_BYTES_MAX {
        return None;
    }
    let keys = tx.witnesses.iter().map(|w| fixture::key_of(&w.public_key)).collect::<Option<Vec<_>>>()?;
    let mut signed = Transaction { witnesses: Vec::new(), ..tx.clone() };
    let message = settled::witness_message(&fixture::chain(), &txid(&signed));
    signed.witnesses = keys
        .iter()
        .map(|key| Witness { public_key: key.address(), signature: key.sign_with_aux(&message, &[0; 32]) })
        .collect();
    (signed != *tx).then_some(signed)
}

/// A verified transaction on the fixture ledger: accepted, it consumed its
/// inputs and created its outputs, moved every balance by what it paid and
/// received, and changed the supply by what a mint creates or a redeem
/// burns; refused, it changed nothing.
fn check_applied(vtx: &VerifiedTx) {
    let mut ledger = fixture::ledger();
    let tx = &vtx.tx;
    let before = ledger.totals();
    let next_sequence = ledger.next_sequence();
    let spent: Vec<Option<settled::Output>> = tx.inputs.iter().map(|i| ledger.unspent(i).copied()).collect();
    let mut owners: Vec<Address> =
        tx.outputs.iter().map(|o| o.owner).chain(spent.iter().flatten().map(|o| o.owner)).collect();
    owners.sort_unstable();
    owners.dedup();
    let balances: Vec<u64> = owners.iter().map(|owner| ledger.balance(owner)).collect();
    match ledger.apply(vtx, fixture::NOW_UNIX_MS) {
        Ok(applied) => {
            assert_eq!(applied.sequence, next_sequence);
            assert_eq!(ledger.next_sequence(), next_sequence + 1);
            let spent: Vec<settled::Output> =
                spent.into_iter().map(|o| o.expect("an accepted input was unspent")).collect();
            assert_eq!(applied.spent, spent, "the outputs consumed are the inputs'");
            for input in &tx.inputs {
                assert!(ledger.unspent(input).is_none(), "{input} still unspent");
            }
            for (index, output) in tx.outputs.iter().enumerate() {
                let at = OutPoint { txid: vtx.txid, index: u32::try_from(index).expect("bounded") };
                assert_eq!(ledger.unspent(&at), Some(output), "output {index} not created");
            }
            for (owner, balance) in owners.iter().zip(balances) {
                let received: u64 = tx.outputs.iter().filter(|o| o.owner == *owner).map(|o| o.amount_minor).sum();
                let paid: u64 = spent.iter().filter(|o| o.owner == *owner).map(|o| o.amount_minor).sum();
                assert_eq!(
                    u128::from(ledger.balance(owner)) + u128::from(paid),
                    u128::from(balance) + u128::from(received),
                    "balance of {owner}"
                );
            }
            let consumed: u64 = spent.iter().map(|o| o.amount_minor).sum();
            let created: u64 = tx.outputs.iter().map(|o| o.amount_minor).sum();
            let after = ledger.totals();
            match tx.kind {
                TxKind::Mint => {
                    assert_eq!(
                        (after.minted_minor - before.minted_minor, after.burned_minor),
                        (created, before.burned_minor),
                        "(minted, burned) by a mint: it mints its outputs"
                    );
                }
                TxKind::Redeem => {
                    assert!(created <= consumed, "a redeem created money");
                    assert_eq!(
                        (after.minted_minor, after.burned_minor - before.burned_minor),
                        (before.minted_minor, consumed - created),
                        "(minted, burned) by a redeem: it burns what it spends less its change"
                    );
                }
                TxKind::Transfer | TxKind::Clawback | TxKind::Refund | TxKind::Recovery => {
                    assert_eq!(created, consumed, "a {:?} not conserved", tx.kind);
                    assert_eq!(after, before);
                }
            }
            assert_eq!(after.minted_minor - after.burned_minor, after.unspent_minor, "supply not conserved");
        }
        Err(decline) => {
            match decline {
                Decline::Refused(refusal) => assert_status_keeps_reason(&refusal),
                Decline::InputMissing(input) => {
                    assert!(tx.inputs.contains(&input) && ledger.unspent(&input).is_none(), "{input}");
                }
            }
            assert_eq!(
                (ledger.totals(), ledger.next_sequence()),
                (before, next_sequence),
                "a refusal changed the ledger"
            );
            for (owner, balance) in owners.iter().zip(balances) {
                assert_eq!(ledger.balance(owner), balance, "a refusal moved {owner}'s balance");
            }
        }
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
        Ok(tx) => {
            check_transaction(&tx);
        }
        Err(refusal) => assert_stateless_refusal(&refusal),
    }
}

/// What the driver divides `--runs` by for `target`: `batch_verify`
/// verifies every input's signatures three ways (about 400 µs an input,
/// against a few µs for a decoder), so it runs a twentieth of the count,
/// about as long as the others.
#[must_use]
pub fn runs_divisor(target: &str) -> u64 {
    if target == "batch_verify" { 20 } else { 1 }
}

/// Signatures in one `batch_verify` input: enough for a batch to mix good
/// and bad ones, few enough that a run stays fast.
pub const BATCH_VERIFY_SIGNATURES_MAX: usize = 4;

/// BIP340 batch verification on signature triples (a key, a message and a
/// signature, 128 bytes each): the batch says "all valid" exactly when each
/// verifies singly, and `verify_each` names each as single verification
/// does. A key off the curve never reaches a batch (the verify stage
/// refuses it as it lifts it), but must not verify singly either.
pub fn batch_verify(data: &[u8]) {
    let mut lifted = Vec::new();
    for chunk in data.chunks_exact(128).take(BATCH_VERIFY_SIGNATURES_MAX) {
        let key = Address(chunk[..32].try_into().expect("32 bytes"));
        let message: [u8; 32] = chunk[32..64].try_into().expect("32 bytes");
        let signature: [u8; 64] = chunk[64..].try_into().expect("64 bytes");
        match batch::lift(&key) {
            Some(point) => lifted.push((point, message, signature, verify_signature(&key, &message, &signature))),
            None => assert!(!verify_signature(&key, &message, &signature), "a key off the curve verified"),
        }
    }
    let checks: Vec<batch::SignatureCheck<'_>> =
        lifted.iter().map(|(key, message, signature, _)| batch::SignatureCheck { key, message, signature }).collect();
    let single: Vec<bool> = checks.iter().map(batch::SignatureCheck::verify_single).collect();
    let expected: Vec<bool> = lifted.iter().map(|(.., valid)| *valid).collect();
    assert_eq!(single, expected, "the two single verifications disagree");
    assert_eq!(batch::verify_batch(&checks), single.iter().all(|valid| *valid), "{single:?}");
    assert_eq!(batch::verify_each(&checks), single);
}

const PAYMENT_KINDS: &[TxKind] = &[TxKind::Transfer, TxKind::Redeem, TxKind::Refund];

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

// ---- lookups ----------------------------------------------------------------

/// A 32-byte argument is taken as it is, any other length is
/// INVALID_ARGUMENT.
fn check_bytes32_arg<T: std::fmt::Debug>(bytes: &[u8], parsed: &Result<T, Status>, as_bytes: impl Fn(&T) -> [u8; 32]) {
    match parsed {
        Ok(value) => assert_eq!(as_bytes(value).as_slice(), bytes),
        Err(_) => {
            assert_ne!(bytes.len(), 32);
            assert_code(parsed, Code::InvalidArgument);
        }
    }
}

pub fn get_payment_request(data: &[u8]) {
    if let Ok(request) = proto::GetPaymentRequest::decode(data) {
        check_bytes32_arg(&request.txid, &checks::txid_arg(&request.txid), |t| t.0);
    }
}

pub fn get_balance_request(data: &[u8]) {
    if let Ok(request) = proto::GetBalanceRequest::decode(data) {
        check_bytes32_arg(&request.address, &checks::address_arg(&request.address), |a| a.0);
    }
}

/// Every listing's page size: 0 is the default, 1 to the maximum as asked,
/// above it the maximum (AIP-158: coerced, never refused).
fn check_page_size(requested: u32, size: usize) {
    assert!((1..=PAGE_SIZE_MAX).contains(&size), "page size {size}");
    let asked = if requested == 0 { PAGE_SIZE_DEFAULT as u64 } else { u64::from(requested).min(PAGE_SIZE_MAX as u64) };
    assert_eq!(size as u64, asked);
}

/// The address, the page size, and the page token: a token the server
/// accepts is the one it issues for the outpoint it reads.
pub fn list_unspent_request(data: &[u8]) {
    let Ok(request) = proto::ListUnspentRequest::decode(data) else {
        return;
    };
    check_bytes32_arg(&request.address, &checks::address_arg(&request.address), |a| a.0);
    check_page_size(request.page_size, checks::page_size(request.page_size));
    let start = checks::unspent_page_start(&request.page_token);
    match &start {
        Ok(None) => assert!(request.page_token.is_empty()),
        Ok(Some(after)) => assert_eq!(checks::unspent_page_token(after), request.page_token, "token round trip"),
        Err(_) => assert_code(&start, Code::InvalidArgument),
    }
}

/// Decoding only: the server answers from its state (`count_unspent` picks
/// a scan or the tip's figures).
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

/// The new member's validation (`ReplicaNode::to_add`), then the voters it
/// would join: the fixture's three, and a cluster already at its maximum.
pub fn add_replica_request(data: &[u8]) {
    let Ok(request) = proto::AddReplicaRequest::decode(data) else {
        return;
    };
    let Ok((id, _)) = settled::cluster::ReplicaNode::to_add(request.id, request.raft_addr, request.api_addr) else {
        return;
    };
    let (voters, _) = fixture::membership();
    let full: BTreeSet<u64> = (1..=CLUSTER_MEMBERS_MAX as u64).collect();
    for voters in [voters, full] {
        let next = checks::voters_after_adding(&voters, id);
        match &next {
            Ok(next) => {
                assert!(!voters.contains(&id) && voters.len() < CLUSTER_MEMBERS_MAX);
                assert!(next.contains(&id) && next.is_superset(&voters) && next.len() == voters.len() + 1);
            }
            Err(_) if voters.contains(&id) => assert_code(&next, Code::AlreadyExists),
            Err(status) => {
                assert_eq!(voters.len(), CLUSTER_MEMBERS_MAX);
                assert_code(&next, Code::ResourceExhausted);
                // Machine-readable: the reason (its metadata names the limit).
                assert_eq!(status_reason(status), Some(proto::Reason::LimitExceeded));
            }
        }
    }
}

/// What removing the member changes, in the fixture's cluster (voters 1-3,
/// learner 4) and in a cluster of one voter.
pub fn remove_replica_request(data: &[u8]) {
    let Ok(request) = proto::RemoveReplicaRequest::decode(data) else {
        return;
    };
    let id = request.id;
    for (voters, learners) in [fixture::membership(), (BTreeSet::from([1]), BTreeSet::new())] {
        let change = checks::removal(&voters, &learners, id);
        match &change {
            Ok(Removal::Learner(learner)) => assert!(*learner == id && learners.contains(&id)),
            Ok(Removal::Voters(next)) => {
                assert!(voters.contains(&id) && !next.is_empty(), "the last voter removed");
                assert_eq!(next.len() + 1, voters.len());
                assert!(!next.contains(&id) && next.is_subset(&voters));
            }
            Err(_) if voters.contains(&id) => {
                assert_eq!(voters.len(), 1);
                assert_code(&change, Code::FailedPrecondition);
            }
            Err(_) => {
                assert!(!learners.contains(&id));
                assert_code(&change, Code::NotFound);
            }
        }
    }
}

/// Decoding only (the Raft port's `FetchBlocks`): the heights are read
/// from the store and the count clamped in `cluster::network`, on a store.
pub fn fetch_blocks_request(data: &[u8]) {
    let _ = proto::FetchBlocksRequest::decode(data);
}

/// The Raft port's messages (`RaftService`, `PeerService`): the first byte
/// picks the message (vote, append, snapshot) and the member its caller's
/// certificate names, the next 8 the receiving node's current term; the
/// rest is the postcard payload the service decodes.
/// What decodes goes through the same checks the service runs before
/// openraft sees it (`admit_vote`, `admit_append`, `admit_snapshot`), and
/// what they admit claims the caller's identity, carries no term beyond
/// reach and no snapshot chunk past its bound, and, unless it is stale (a
/// leader's term below the receiver's, which openraft refuses by its vote
/// before reading anything else), no index beyond reach, no entries out of
/// order and no membership openraft would panic on.
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
                if term < local.term {
                    return;
                }
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
                let end = usize::try_from(rpc.offset).ok().and_then(|o| o.checked_add(rpc.data.len()));
                assert!(end.is_some_and(|end| end <= RAFT_SNAPSHOT_BYTES_MAX));
                let stale = rpc.vote.leader_id.term < local.term;
                assert!(stale || within(rpc.meta.last_log_id.as_ref(), rpc.vote.leader_id.term));
            }
        }
    }
}

/// The programme lookup (`checks::programme_of`) against the fixture's
/// registry: the programme asked for, or UNKNOWN_PROGRAMME as NOT_FOUND.
pub fn get_programme_stats_request(data: &[u8]) {
    let Ok(request) = proto::GetProgrammeStatsRequest::decode(data) else {
        return;
    };
    let registry = fixture::registry();
    match checks::programme_of(registry, request.programme_id) {
        Ok(programme) => assert_eq!(programme.id, request.programme_id),
        Err(refusal) => {
            assert!(!registry.programmes.contains_key(&request.programme_id));
            assert_eq!(refusal.reason, Reason::UnknownProgramme);
            assert_status_keeps_reason(&refusal);
            assert_eq!(refusal_to_status(&refusal).code(), Code::NotFound);
        }
    }
}

// ---- registry ---------------------------------------------------------------

/// What the server does with a converted registration: the registry's
/// check (the sequencer's); an operation that passes, once applied, is
/// refused the second time as already registered, and replays from the
/// stored operations.
fn check_registration(op: Result<AdminOp, Refusal>) {
    let op = match op {
        Ok(op) => op,
        Err(refusal) => return assert_stateless_refusal(&refusal),
    };
    let tiers = fixture::tiers();
    let registry = fixture::registry();
    match registry.check(&op, &tiers, false) {
        Ok(()) => {
            let mut after = registry.clone();
            after.apply(op.clone());
            let again = after.check(&op, &tiers, false).expect_err("registered twice");
            assert_eq!(again.reason, Reason::AlreadyRegistered, "{again}");
            let mut ops = fixture::registry_ops();
            ops.push(op);
            Registry::replay(ops).expect("an accepted operation replays");
        }
        Err(refusal) => {
            assert!(matches!(refusal.reason.class(), Class::InvalidArgument | Class::FailedPrecondition), "{refusal}");
            assert_status_keeps_reason(&refusal);
        }
    }
}

fn bytes_of(hashes: &[[u8; 32]]) -> Vec<Vec<u8>> {
    hashes.iter().map(|h| h.to_vec()).collect()
}

/// A converted registration holds what was asked, within the protocol's
/// limits (docs/PROTOCOL.md §12): the registry's check may rely on it.
pub fn register_bank_request(data: &[u8]) {
    let Ok(request) = proto::RegisterBankRequest::decode(data) else { return };
    let op = checks::register_bank_op(request.clone());
    if let Ok(op) = &op {
        let (AdminOp::RegisterBank(bank), Some(asked)) = (op, &request.bank) else { panic!("{op:?}") };
        assert_eq!((&bank.id, &bank.name), (&asked.id, &asked.name));
        assert_eq!(bytes_of(&bank.credentials), asked.credential_sha256);
        assert!(bank.credentials.len() <= CREDENTIALS_MAX);
    }
    check_registration(op);
}

pub fn register_merchant_request(data: &[u8]) {
    let Ok(request) = proto::RegisterMerchantRequest::decode(data) else { return };
    let op = checks::register_merchant_op(request.clone());
    if let Ok(op) = &op {
        let (AdminOp::RegisterMerchant(merchant), Some(asked)) = (op, &request.merchant) else { panic!("{op:?}") };
        assert_eq!((&merchant.id, &merchant.name, &merchant.bank), (&asked.id, &asked.name, &asked.bank_id));
        assert!(merchant.mcc <= MCC_MAX && u32::from(merchant.mcc) == asked.mcc, "MCC {}", asked.mcc);
        let payout: Vec<Vec<u8>> = merchant.payout_addresses.iter().map(|a| a.0.to_vec()).collect();
        assert_eq!(payout, asked.payout_addresses);
        assert!(payout.len() <= PAYOUT_ADDRESSES_MAX);
    }
    check_registration(op);
}

pub fn register_terminal_request(data: &[u8]) {
    let Ok(request) = proto::RegisterTerminalRequest::decode(data) else { return };
    let op = checks::register_terminal_op(request.clone());
    if let Ok(op) = &op {
        let (AdminOp::RegisterTerminal(terminal), Some(asked)) = (op, &request.terminal) else { panic!("{op:?}") };
        assert_eq!((&terminal.id, &terminal.merchant), (&asked.id, &asked.merchant_id));
        assert_eq!(bytes_of(&terminal.credentials), asked.credential_sha256);
        assert!(terminal.credentials.len() <= CREDENTIALS_MAX);
    }
    check_registration(op);
}

pub fn register_wallet_request(data: &[u8]) {
    let Ok(request) = proto::RegisterWalletRequest::decode(data) else { return };
    let op = checks::register_wallet_op(request.clone());
    if let Ok(op) = &op {
        let (AdminOp::RegisterWallet(wallet), Some(asked)) = (op, &request.wallet) else { panic!("{op:?}") };
        assert_eq!((wallet.address.0.as_slice(), &wallet.bank), (asked.address.as_slice(), &asked.bank_id));
        assert_eq!(u32::from(wallet.tier), asked.tier);
    }
    check_registration(op);
}

pub fn create_programme_request(data: &[u8]) {
    let Ok(request) = proto::CreateProgrammeRequest::decode(data) else { return };
    let op = checks::create_programme_op(request.clone());
    if let Ok(op) = &op {
        let (AdminOp::CreateProgramme(programme), Some(asked)) = (op, &request.programme) else { panic!("{op:?}") };
        assert_eq!((programme.id, &programme.name), (asked.id, &asked.name));
        let mccs: Vec<u32> = programme.allowed_mccs.iter().map(|m| u32::from(*m)).collect();
        assert_eq!(mccs, asked.allowed_mccs);
        assert!(mccs.len() <= PROGRAMME_MCCS_MAX && programme.allowed_mccs.iter().all(|m| *m <= MCC_MAX));
        assert_eq!(
            (programme.valid_from_ms, programme.valid_until_ms, programme.transferable),
            (asked.valid_from_unix_ms, asked.valid_until_unix_ms, asked.transferable)
        );
        assert_eq!(programme.treasury.0.as_slice(), asked.treasury_address.as_slice());
        // 0 is "no maximum" on the wire.
        assert_eq!(programme.per_payment_max_minor.unwrap_or(0), asked.per_payment_max_minor);
        assert_ne!(programme.per_payment_max_minor, Some(0));
        // Unspecified on the wire is a programme that pays addresses.
        assert_eq!(programme.payment_period.is_some(), asked.payment_period != 0);
        assert_eq!(programme.refund_window_ms.unwrap_or(0), asked.refund_window_ms);
    }
    check_registration(op);
}

/// A beneficiary record holds the person reference, wallets and
/// designations asked for, within the limits; the registry then checks
/// the wallets are registered and nobody else's and that each designation
/// names a programme paid per person and a linked wallet.
pub fn register_beneficiary_request(data: &[u8]) {
    let Ok(request) = proto::RegisterBeneficiaryRequest::decode(data) else { return };
    let converted = checks::beneficiary(request.beneficiary.clone());
    if let (Ok(beneficiary), Some(asked)) = (&converted, &request.beneficiary) {
        assert_eq!(beneficiary.person.0.as_slice(), asked.person_ref.as_slice());
        let wallets: Vec<Vec<u8>> = beneficiary.wallets.iter().map(|w| w.0.to_vec()).collect();
        assert_eq!(wallets, asked.wallets);
        assert!(wallets.len() <= BENEFICIARY_WALLETS_MAX);
        assert_eq!(beneficiary.designated.len(), asked.designations.len(), "no programme designated twice");
        for d in &asked.designations {
            assert_eq!(beneficiary.designated[&d.programme_id].0.as_slice(), d.wallet.as_slice());
        }
    }
    check_registration(converted.map(AdminOp::RegisterBeneficiary));
}

/// The message a clawback authorisation signs, as docs/PROTOCOL.md §4.4
/// spells it: sha256("STLC" || 2 || chain id || programme || treasury ||
/// valid_until), integers big-endian.
fn clawback_message(programme: u32, treasury: &Address, valid_until_ms: u64) -> [u8; 32] {
    let mut message = b"STLC".to_vec();
    message.push(2);
    message.extend_from_slice(&fixture::chain().0);
    message.extend_from_slice(&programme.to_be_bytes());
    message.extend_from_slice(&treasury.0);
    message.extend_from_slice(&valid_until_ms.to_be_bytes());
    sha256(&message)
}

/// `AdminService.Clawback` before its first batch: the authorisation's
/// count and field sizes, the cursor, the programme lookup (the fixture's
/// registry), then the authorisation and the programme's end
/// (`checks::check_clawback_authorization`) on the fixture ledger, once
/// after the programme's end and once before it.
pub fn clawback_request(data: &[u8]) {
    let Ok(request) = proto::ClawbackRequest::decode(data) else {
        return;
    };
    let authorization = match checks::clawback_authorization_of(&request.authorization) {
        Ok(authorization) => authorization,
        Err(refusal) => {
            let too_many = request.authorization.len() > TX_WITNESSES_MAX;
            assert_eq!(refusal.reason == Reason::TooManyWitnesses, too_many, "{refusal}");
            return assert_stateless_refusal(&refusal);
        }
    };
    assert_eq!(authorization.len(), request.authorization.len());
    let resume_after = checks::clawback_resume_after(&request.resume_after);
    match &resume_after {
        Ok(None) => assert!(request.resume_after.is_empty()),
        Ok(Some(after)) => assert_eq!(checks::outpoint_token(after), request.resume_after, "cursor round trip"),
        Err(_) => return assert_code(&resume_after, Code::InvalidArgument),
    }
    let programme = match checks::programme_of(fixture::registry(), request.programme_id) {
        Ok(programme) => programme,
        Err(refusal) => return assert_eq!(refusal.reason, Reason::UnknownProgramme),
    };
    assert_eq!(
        clawback_message(programme.id, &programme.treasury, programme.valid_until_ms),
        settled::clawback_authorization(&fixture::chain(), programme.id, &programme.treasury, programme.valid_until_ms),
        "the authorisation as docs/PROTOCOL.md spells it is the engine's"
    );
    let message = clawback_message(programme.id, &programme.treasury, programme.valid_until_ms);
    let genesis = fixture::genesis();
    let check = |now_unix_ms| {
        checks::check_clawback_authorization(&fixture::chain(), &genesis, &programme, &authorization, now_unix_ms)
    };
    match check(programme.valid_until_ms) {
        Ok(()) => {
            let mut signers: Vec<Address> = authorization.iter().map(|w| w.public_key).collect();
            signers.sort_unstable();
            signers.dedup();
            assert_eq!(signers.len(), authorization.len(), "an issuer signed twice");
            assert!(signers.len() >= genesis.issuer_threshold as usize, "fewer issuers than the threshold");
            for witness in &authorization {
                assert!(genesis.issuer_keys.contains(&witness.public_key), "{} is no issuer", witness.public_key);
                assert!(
                    verify_signature(&witness.public_key, &message, &witness.signature),
                    "a signature that does not sign"
                );
            }
            let early = check(programme.valid_until_ms - 1).expect_err("a clawback before the programme's end");
            assert_eq!(early.reason, Reason::ProgrammeNotExpired);
        }
        Err(refusal) => {
            let expected =
                [Reason::BadSignature, Reason::UnexpectedWitness, Reason::DuplicateWitness, Reason::MintThreshold];
            assert!(expected.contains(&refusal.reason) || refusal.reason == Reason::NoWitnesses, "{refusal}");
            // No signature at all is NO_WITNESSES (§10.1), and only that.
            assert_eq!(authorization.is_empty(), refusal.reason == Reason::NoWitnesses, "{refusal}");
            if refusal.reason == Reason::BadSignature {
                let forged = authorization.iter().any(|w| !verify_signature(&w.public_key, &message, &w.signature));
                assert!(forged, "every signature signs, refused as {refusal}");
            }
            assert_status_keeps_reason(&refusal);
        }
    }
}

/// `AdminService.List*`: the page size, and each listing's page token: one
/// the server accepts reads back as the same key from the token the server
/// issues for that key.
pub fn list_request(data: &[u8]) {
    let Ok(request) = proto::ListRequest::decode(data) else {
        return;
    };
    check_page_size(request.page_size, checks::page_size(request.page_size));
    fn check_listing<K: PartialEq + std::fmt::Debug + ToString>(
        request: &proto::ListRequest,
        parse: impl Fn(&str) -> Option<K>,
    ) {
        let page = checks::list_page(request, &parse);
        match &page {
            Ok((size, token)) => {
                assert!((1..=PAGE_SIZE_MAX).contains(size));
                assert_eq!(token.is_none(), request.page_token.is_empty());
                if let Some(key) = token {
                    assert_eq!(parse(&key.to_string()).as_ref(), Some(key), "the next page's token reads back");
                }
            }
            Err(_) => assert_code(&page, Code::InvalidArgument),
        }
    }
    check_listing(&request, |t| Some(t.to_owned()));
    check_listing(&request, checks::wallet_token);
    check_listing(&request, checks::programme_token);
}

// ---- reconciliation ---------------------------------------------------------

/// Who may ask about `named`: a bank itself only, the operator any
/// registered bank it names (the fixture's registry holds "bank-1").
fn check_bank_of_call(named: &str) {
    let registry = fixture::registry();
    for principal in [Principal::Operator, Principal::Bank("bank-1".to_owned()), Principal::Bank("bank-2".to_owned())] {
        let bank = checks::bank_of_call(&principal, named, registry);
        match (&principal, &bank) {
            (_, Ok(bank)) => {
                assert!(registry.banks.contains_key(bank), "unregistered bank {bank}");
                if let Principal::Bank(own) = &principal {
                    assert_eq!(bank, own, "a bank reads another's");
                } else {
                    assert_eq!(bank, named);
                }
            }
            (Principal::Bank(own), Err(status)) if !named.is_empty() && named != own => {
                assert_eq!(status.code(), Code::PermissionDenied);
            }
            (Principal::Operator, Err(_)) if named.is_empty() => assert_code(&bank, Code::InvalidArgument),
            (_, Err(_)) => assert_code(&bank, Code::NotFound),
        }
    }
}

/// The bank asked about, and the first block the stream sends for a few
/// block heights of the sequence it resumes after.
pub fn subscribe_request(data: &[u8]) {
    let Ok(request) = proto::SubscribeRequest::decode(data) else {
        return;
    };
    check_bank_of_call(&request.bank);
    for height in [0, 1, 1_000, u64::MAX] {
        let first = checks::first_subscribed_height(height, request.after_height);
        assert!(first >= height, "a subscription starts before the sequence it resumes after");
        if let Some(seen) = request.after_height {
            assert!(first > seen || seen == u64::MAX, "a subscription resends checkpoint {seen}");
        }
    }
}

/// The bank, the format, the date, and the day's window in unix ms for
/// every day offset the configuration allows (-840 to +840 minutes): the
/// window starts at the local midnight of the date asked for.
pub fn get_statement_request(data: &[u8]) {
    let Ok(request) = proto::GetStatementRequest::decode(data) else {
        return;
    };
    check_bank_of_call(&request.bank);
    let format = checks::statement_format(request.format);
    match &format {
        Ok(format) => assert_eq!(
            *format,
            match proto::StatementFormat::try_from(request.format) {
                Ok(proto::StatementFormat::Csv) => proto::StatementFormat::Csv,
                Ok(proto::StatementFormat::Camt052) => proto::StatementFormat::Camt052,
                _ => proto::StatementFormat::Camt053,
            }
        ),
        Err(_) => {
            assert!(proto::StatementFormat::try_from(request.format).is_err());
            assert_code(&format, Code::InvalidArgument);
        }
    }
    let day = match checks::statement_day(&request.date) {
        Ok(day) => day,
        Err(status) => return assert_eq!(status.code(), Code::InvalidArgument),
    };
    for offset_minutes in [-840i32, 0, 480, 840] {
        let (start_ms, end_ms) = checks::day_window_ms(day, offset_minutes);
        // Unless the local midnight is before the epoch (the server starts
        // at 0), the window starts on the date asked for, the millisecond
        // before it is the day before, and it ends on the next date.
        if day * 86_400_000 >= i64::from(offset_minutes) * 60_000 {
            assert_eq!(settled::statement::ledger_date(start_ms, offset_minutes), request.date);
            if start_ms > 0 {
                assert_ne!(settled::statement::ledger_date(start_ms - 1, offset_minutes), request.date);
            }
            assert_eq!(settled::statement::ledger_date(end_ms - 1, offset_minutes), request.date);
            assert_ne!(settled::statement::ledger_date(end_ms, offset_minutes), request.date);
        }
    }
}

/// The window rule against a few tips: 0 asks for the tip, past the tip is
/// OUT_OF_RANGE, a window without a block INVALID_ARGUMENT.
pub fn get_net_positions_request(data: &[u8]) {
    let Ok(request) = proto::GetNetPositionsRequest::decode(data) else {
        return;
    };
    for tip in [0u64, 1, 1_000, u64::MAX] {
        let asked = if request.until_height == 0 { tip } else { request.until_height };
        let window = checks::net_positions_window(request.after_height, request.until_height, tip);
        match &window {
            Ok((after, until)) => {
                assert_eq!((*after, *until), (request.after_height, asked));
                assert!(after < until && *until <= tip, "window {after}..={until} at tip {tip}");
            }
            Err(_) if asked > tip => assert_code(&window, Code::OutOfRange),
            Err(_) => {
                assert!(request.after_height >= asked, "a window holding a block refused");
                assert_code(&window, Code::InvalidArgument);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_seeds_and_they_run_clean() {
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
    fn the_payment_redeem_and_mint_seeds_pass_every_check_to_the_ledger() {
        let seed = |name: &str, kind: TxKind| -> proto::Transaction {
            let requests = seeds::for_target(name);
            let transactions = requests.iter().filter_map(|bytes| match name {
                "mint_request" => proto::MintRequest::decode(bytes.as_slice()).ok()?.transaction,
                _ => proto::SubmitPaymentRequest::decode(bytes.as_slice()).ok()?.transaction,
            });
            transactions
                .into_iter()
                .find(|tx| transaction_from_proto(tx).is_ok_and(|tx| tx.kind == kind))
                .expect("a seed")
        };
        for (tx, kinds) in [
            (seed("submit_payment_request", TxKind::Transfer), PAYMENT_KINDS),
            (seed("submit_payment_request", TxKind::Redeem), PAYMENT_KINDS),
            (seed("mint_request", TxKind::Mint), &[TxKind::Mint][..]),
        ] {
            let (_, tx) = checks::submission(Some(&tx), kinds).expect("admitted");
            let vtx = verify(tx, &fixture::chain()).expect("verified");
            let applied = fixture::ledger().apply(&vtx, fixture::NOW_UNIX_MS);
            assert!(applied.is_ok(), "{:?}: {applied:?}", vtx.tx.kind);
        }
    }

    #[test]
    fn the_seed_registrations_and_clawback_are_accepted() {
        let decode = |name: &str| seeds::for_target(name).remove(0);
        let ops = [
            checks::register_bank_op(Message::decode(decode("register_bank_request").as_slice()).expect("decodes")),
            checks::register_merchant_op(
                Message::decode(decode("register_merchant_request").as_slice()).expect("decodes"),
            ),
            checks::register_terminal_op(
                Message::decode(decode("register_terminal_request").as_slice()).expect("decodes"),
            ),
            checks::register_wallet_op(Message::decode(decode("register_wallet_request").as_slice()).expect("decodes")),
            checks::create_programme_op(
                Message::decode(decode("create_programme_request").as_slice()).expect("decodes"),
            ),
        ];
        for op in ops {
            let op = op.expect("converts");
            assert_eq!(fixture::registry().check(&op, &fixture::tiers(), false), Ok(()), "{op:?}");
        }
        let clawback = proto::ClawbackRequest::decode(decode("clawback_request").as_slice()).expect("decodes");
        let authorization = checks::clawback_authorization_of(&clawback.authorization).expect("well formed");
        let programme = checks::programme_of(fixture::registry(), clawback.programme_id).expect("registered");
        let checked = checks::check_clawback_authorization(
            &fixture::chain(),
            &fixture::genesis(),
            &programme,
            &authorization,
            fixture::NOW_UNIX_MS,
        );
        assert_eq!(checked, Ok(()));
    }
}
