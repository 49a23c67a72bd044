//! The published test vectors (docs/test-vectors.json): a small but valid
//! ledger history built from fixed secret keys and fixed BIP340 auxiliary
//! randomness with the engine's own encoding, hashing, signing, ledger and
//! Merkle code, so that a client written in another language can check
//! itself byte by byte against what this engine computes.
//!
//! Every transaction is run through the real verify stage and ledger before
//! it is published, so the vectors are not only well encoded but accepted.
//! `tests/protocol/protocol_vectors.rs` regenerates them and compares with
//! the file, and only compares; `settled-simulations write-vectors` writes the
//! file after an intended change; `docs/check_vectors.py` checks the file
//! independently of this code.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::core::amount::{AmountError, parse_amount};
use crate::core::crypto::{self, Keypair, sha256};
use crate::core::encoding::{
    BlockHeader, CLAWBACK_MAGIC, Genesis, HEADER_SIGNATURE_MAGIC, WITNESS_MAGIC, clawback_authorization,
    clawback_reference, clawback_terms, tx_canonical_bytes, tx_record_bytes, txid, witness_message,
};
use crate::core::ledger::{Decline, Ledger};
use crate::core::limits::{TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX};
use crate::core::merkle::{self, MerkleStep};
use crate::core::receipt::{Receipt, ReceiptJson, SignedHeader};
use crate::core::refusal::Reason;
use crate::core::registry::{AdminOp, Bank, Merchant, Programme};
use crate::core::types::{
    Address, ChainId, Hash32, OutPoint, Output, PROTOCOL_VERSION, TX_VERSION, Transaction, TxId, TxKind, Witness,
};

/// Version of the layout of docs/test-vectors.json (not of the protocol,
/// which the file names in `protocol_version`).
pub const VECTORS_FORMAT_VERSION: u32 = 2;

/// Fixed block times: the engine uses the wall clock, the vectors cannot.
const GENESIS_TIME_UNIX_MS: u64 = 1_750_000_000_000;
const BLOCK_1_TIME_UNIX_MS: u64 = 1_750_000_000_250;

/// Earmarked programme used by the vectors (any non-zero id is an earmark).
const PROGRAMME_FOOD: u32 = 1001;
/// Programme 1001 runs until 2025-07-01T00:00:00Z (exclusive): block 1 is
/// inside it, and the clawback vector is judged at exactly this instant, the
/// first at which the programme can be clawed back.
const PROGRAMME_FOOD_UNTIL_MS: u64 = 1_751_328_000_000;
/// Merchant category of the vectors' merchant (5411, grocery), the one
/// category the vector programmes allow.
const MERCHANT_MCC: u16 = 5411;

/// Programmes whose clawback authorisation the vectors publish: small,
/// the earmark of the history, and ids whose bytes show the byte order
/// (each with its treasury and its `valid_until` as the vectors register
/// them).
const CLAWBACK_AUTHORIZATION_PROGRAMMES: [u32; 4] = [1, PROGRAMME_FOOD, 0x0A0B_0C0D, u32::MAX];
/// The issuers that sign the clawback vector (2 of 3, the threshold).
const CLAWBACK_SIGNERS: [&str; 2] = ["issuer-1", "issuer-2"];

/// The programme of the claim vector: paid once a month per person.
const PROGRAMME_MONTHLY: u32 = 31;
/// The programme administrator's key of the claim vector and the identity
/// number its person reference is derived from (as typed on a form: a
/// hyphen, a space, two full-width digits and a lower-case check letter).
const ADMINISTRATOR_KEY: [u8; 32] = [0x5a; 32];
const IDENTITY_NUMBER: &str = "110105-1949\u{ff11}\u{ff12}31 002x";
/// The ledger's day offset the claim's month is counted in (UTC+8).
const CLAIM_DAY_OFFSET_MINUTES: i32 = 480;

/// Widths of the stand-alone Merkle trees: empty, single, even, odd, and
/// shapes where a node is promoted at more than one level.
const MERKLE_WIDTHS: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

struct NamedKey {
    name: String,
    secret: [u8; 32],
    keypair: Keypair,
}

struct Keys(Vec<NamedKey>);

impl Keys {
    fn new() -> Self {
        let mut keys = Vec::new();
        let mut add = |name: String, byte: u8| {
            // Repeated bytes 0x01..0x1f are all below the curve order.
            let secret = [byte; 32];
            let keypair = Keypair::from_secret(&secret).expect("fixed vector secrets are valid scalars");
            keys.push(NamedKey { name, secret, keypair });
        };
        add("issuer-1".to_owned(), 0x01);
        add("issuer-2".to_owned(), 0x02);
        add("issuer-3".to_owned(), 0x03);
        add("engine".to_owned(), 0x04);
        add("alice".to_owned(), 0x05);
        add("bob".to_owned(), 0x06);
        add("merchant".to_owned(), 0x07);
        add("carol".to_owned(), 0x08);
        add("dave".to_owned(), 0x09);
        for i in 0..u8::try_from(TX_OUTPUTS_MAX).expect("small") {
            add(format!("holder-{i:02}"), 0x10 + i);
        }
        Self(keys)
    }

    fn get(&self, name: &str) -> &Keypair {
        &self.0.iter().find(|k| k.name == name).expect("a key the vectors define").keypair
    }

    fn address(&self, name: &str) -> Address {
        self.get(name).address()
    }

    fn to_json(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|k| {
                    json!({
                        "name": k.name,
                        "secret_hex": hex::encode(k.secret),
                        "public_key": hex::encode(k.keypair.address().0),
                    })
                })
                .collect(),
        )
    }
}

/// Auxiliary randomness for one signature: fixed, and different for every
/// signature so that no two vectors share a nonce input by accident.
fn aux_for(label: &str) -> [u8; 32] {
    sha256(format!("settled test vector aux/{label}").as_bytes())
}

/// A transaction of the vectors before and after signing.
struct VectorTx {
    name: &'static str,
    description: &'static str,
    tx: Transaction,
    txid: TxId,
    signers: Vec<(String, [u8; 32])>,
}

/// What a vector transaction commits to, before it is signed.
struct Unsigned {
    name: &'static str,
    description: &'static str,
    kind: TxKind,
    inputs: Vec<OutPoint>,
    outputs: Vec<Output>,
    reference: Vec<u8>,
}

fn build(keys: &Keys, chain: &ChainId, unsigned: Unsigned, signers: &[&str]) -> VectorTx {
    let Unsigned { name, description, kind, inputs, outputs, reference } = unsigned;
    let mut tx = Transaction { version: TX_VERSION, kind, inputs, outputs, reference, witnesses: Vec::new() };
    let id = txid(&tx);
    let message = witness_message(chain, &id);
    let mut signed_by = Vec::with_capacity(signers.len());
    for signer in signers {
        let aux = aux_for(&format!("{name}/{signer}"));
        let key = keys.get(signer);
        tx.witnesses.push(Witness { public_key: key.address(), signature: key.sign_with_aux(&message, &aux) });
        signed_by.push(((*signer).to_owned(), aux));
    }
    VectorTx { name, description, tx, txid: id, signers: signed_by }
}

fn output(owner: Address, amount_minor: u64, programme: u32) -> Output {
    Output { owner, amount_minor, programme }
}

fn outpoint(tx: &VectorTx, index: u32) -> OutPoint {
    OutPoint { txid: tx.txid, index }
}

/// The history: two mints and four transfers, in the order they are
/// sequenced into block 1. Each spends only what an earlier one created.
fn transactions(keys: &Keys, chain: &ChainId) -> Vec<VectorTx> {
    let alice = keys.address("alice");
    let bob = keys.address("bob");
    let merchant = keys.address("merchant");

    let mint = build(
        keys,
        chain,
        Unsigned {
            name: "mint-2-of-3",
            description: "Mint signed by 2 of the 3 issuer keys (issuer-1 and issuer-3), with a disbursement reference: 100.00 unrestricted and 50.00 earmarked (programme 1001) to alice, 30.00 earmarked to bob.",
            kind: TxKind::Mint,
            inputs: Vec::new(),
            outputs: vec![
                output(alice, 10_000, 0),
                output(alice, 5_000, PROGRAMME_FOOD),
                output(bob, 3_000, PROGRAMME_FOOD),
            ],
            reference: b"disbursement-2025-06/row-000001".to_vec(),
        },
        &["issuer-1", "issuer-3"],
    );
    let pay = build(
        keys,
        chain,
        Unsigned {
            name: "transfer-1-in-2-out",
            description: "Alice pays the merchant 23.50 from her unrestricted 100.00 and takes 76.50 change; terminal invoice reference.",
            kind: TxKind::Transfer,
            inputs: vec![outpoint(&mint, 0)],
            outputs: vec![output(merchant, 2_350, 0), output(alice, 7_650, 0)],
            reference: b"pos-0042/inv-000123".to_vec(),
        },
        &["alice"],
    );
    let earmarked = build(
        keys,
        chain,
        Unsigned {
            name: "transfer-2-in-2-out-earmarked",
            description: "Alice and bob pool earmarked programme-1001 money (50.00 + 30.00): 60.00 to the merchant, 20.00 back to bob. Two input owners, so two witnesses; programme 1001 is conserved.",
            kind: TxKind::Transfer,
            inputs: vec![outpoint(&mint, 1), outpoint(&mint, 2)],
            outputs: vec![output(merchant, 6_000, PROGRAMME_FOOD), output(bob, 2_000, PROGRAMME_FOOD)],
            reference: b"pos-0042/inv-000124".to_vec(),
        },
        &["alice", "bob"],
    );
    let unreferenced = build(
        keys,
        chain,
        Unsigned {
            name: "transfer-empty-reference",
            description: "Alice sends her 76.50 change to bob with an empty reference (allowed for transfers, refused for mints).",
            kind: TxKind::Transfer,
            inputs: vec![outpoint(&pay, 1)],
            outputs: vec![output(bob, 7_650, 0)],
            reference: Vec::new(),
        },
        &["alice"],
    );

    // Amounts and programme ids whose bytes all differ show the byte order.
    let holder_names: Vec<String> = (0..TX_OUTPUTS_MAX).map(|i| format!("holder-{i:02}")).collect();
    let holders: Vec<Address> = holder_names.iter().map(|name| keys.address(name)).collect();
    let limit_outputs: Vec<Output> = holders
        .iter()
        .enumerate()
        .map(|(i, holder)| {
            let i = u64::try_from(i).expect("16 holders");
            match i {
                0 => output(*holder, 0x0102_0304_0506_0708, 0x0A0B_0C0D),
                1 => output(*holder, 1, u32::MAX),
                _ => output(*holder, 100 * i, u32::try_from(i % 3).expect("small")),
            }
        })
        .collect();
    let mint_at_limits = build(
        keys,
        chain,
        Unsigned {
            name: "mint-16-outputs-3-of-3",
            description: "Mint with the maximum 16 outputs, one per holder, signed by all 3 issuers (more than the threshold is allowed), with a 64-byte reference. Output 0 has amount 0x0102030405060708 and programme 0x0a0b0c0d to show the byte order; output 1 has programme 0xffffffff.",
            kind: TxKind::Mint,
            inputs: Vec::new(),
            outputs: limit_outputs.clone(),
            reference: b"disbursement-2025-06/row-000002/batch-of-sixteen-holders-0000064".to_vec(),
        },
        &["issuer-1", "issuer-2", "issuer-3"],
    );
    let holder_refs: Vec<&str> = holder_names.iter().map(String::as_str).collect();
    let at_limits = build(
        keys,
        chain,
        Unsigned {
            name: "transfer-at-limits",
            description: "Transfer at every limit: 16 inputs owned by 16 holders, so 16 witnesses; 16 outputs (each holder passes its output on to the next holder, same amount and programme); a 64-byte binary reference 0x00..0x3f.",
            kind: TxKind::Transfer,
            inputs: (0..16).map(|i| outpoint(&mint_at_limits, i)).collect(),
            outputs: limit_outputs
                .iter()
                .enumerate()
                .map(|(i, o)| output(holders[(i + 1) % holders.len()], o.amount_minor, o.programme))
                .collect(),
            reference: (0..64u8).collect(),
        },
        &holder_refs,
    );
    for vector in [&mint_at_limits, &at_limits] {
        assert_eq!(vector.tx.outputs.len(), TX_OUTPUTS_MAX, "{} is at the output limit", vector.name);
        assert_eq!(vector.tx.reference.len(), TX_REFERENCE_BYTES_MAX, "{} is at the reference limit", vector.name);
    }
    assert_eq!(at_limits.tx.inputs.len(), TX_INPUTS_MAX);
    assert_eq!(at_limits.tx.witnesses.len(), TX_WITNESSES_MAX);
    vec![mint, pay, earmarked, unreferenced, mint_at_limits, at_limits]
}

fn kind_name(kind: TxKind) -> &'static str {
    match kind {
        TxKind::Transfer => "transfer",
        TxKind::Mint => "mint",
        TxKind::Redeem => "redeem",
        TxKind::Clawback => "clawback",
        TxKind::Refund => "refund",
        TxKind::Recovery => "recovery",
    }
}

/// The bytes a witness of transaction `txid` signs (hashed): "STLW", the
/// protocol version, the chain id, the txid. Checked against the engine's
/// own `witness_message`.
fn witness_message_bytes(chain: &ChainId, txid: &TxId) -> Vec<u8> {
    let mut bytes = WITNESS_MAGIC.to_vec();
    bytes.push(PROTOCOL_VERSION);
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&txid.0);
    assert_eq!(sha256(&bytes), witness_message(chain, txid), "the vectors encode the witness message as the engine");
    bytes
}

/// The bytes the engine signs (hashed) for a block header: "STLH", the
/// protocol version, the chain id, the header's hash.
fn header_message_bytes(chain: &ChainId, header: &BlockHeader) -> Vec<u8> {
    let mut bytes = HEADER_SIGNATURE_MAGIC.to_vec();
    bytes.push(PROTOCOL_VERSION);
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&header.hash());
    assert_eq!(sha256(&bytes), header.signing_message(chain), "the vectors encode the header message as the engine");
    bytes
}

fn tx_json(vector: &VectorTx, sequence: u64, signed_message: &[u8]) -> Value {
    let tx = &vector.tx;
    json!({
        "name": vector.name,
        "description": vector.description,
        "version": tx.version,
        "kind": kind_name(tx.kind),
        "kind_code": tx.kind as u8,
        "inputs": tx.inputs.iter().map(|i| json!({ "txid": i.txid.to_string(), "index": i.index })).collect::<Vec<_>>(),
        "outputs": tx.outputs.iter().map(|o| json!({
            "address": o.owner.to_string(),
            "amount_minor": o.amount_minor,
            "programme_id": o.programme,
        })).collect::<Vec<_>>(),
        "reference_hex": hex::encode(&tx.reference),
        "canonical_hex": hex::encode(tx_canonical_bytes(tx)),
        "txid": vector.txid.to_string(),
        "signed_message_hex": hex::encode(signed_message),
        "signed_message_hash": hex::encode(sha256(signed_message)),
        "witnesses": tx.witnesses.iter().zip(&vector.signers).map(|(w, (signer, aux))| json!({
            "signer": signer,
            "public_key": w.public_key.to_string(),
            "aux_hex": hex::encode(aux),
            "signature": hex::encode(w.signature),
        })).collect::<Vec<_>>(),
        "record_hex": hex::encode(tx_record_bytes(tx)),
        "sequence": sequence,
    })
}

/// What a clawback authorisation names besides the chain.
#[derive(Clone, Copy)]
struct ClawbackTerms {
    programme: u32,
    treasury: Address,
    valid_until_ms: u64,
}

impl ClawbackTerms {
    fn hash(&self, chain: &ChainId) -> Hash32 {
        clawback_authorization(chain, self.programme, &self.treasury, self.valid_until_ms)
    }
}

/// The bytes issuers sign (hashed) to authorise the clawback of a
/// programme: "STLC", the protocol version, the chain id, the programme id
/// (u32 BE), its treasury, its valid_until (u64 BE). Checked against the
/// engine's own `clawback_authorization`.
fn clawback_authorization_bytes(chain: &ChainId, terms: &ClawbackTerms) -> Vec<u8> {
    let mut bytes = CLAWBACK_MAGIC.to_vec();
    bytes.push(PROTOCOL_VERSION);
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&terms.programme.to_be_bytes());
    bytes.extend_from_slice(&terms.treasury.0);
    bytes.extend_from_slice(&terms.valid_until_ms.to_be_bytes());
    assert_eq!(sha256(&bytes), terms.hash(chain), "the vectors encode the authorisation as the engine");
    bytes
}

/// Auxiliary randomness of an issuer's signature of a clawback
/// authorisation: the same in the authorisation vectors and in the
/// clawback transaction, whose witnesses are those signatures.
fn clawback_aux(programme: u32, signer: &str) -> [u8; 32] {
    aux_for(&format!("clawback-authorization/{programme}/{signer}"))
}

/// One issuer's witness of a programme's clawback authorisation.
fn clawback_witness(keys: &Keys, chain: &ChainId, terms: &ClawbackTerms, signer: &str) -> (Witness, [u8; 32]) {
    let key = keys.get(signer);
    let aux = clawback_aux(terms.programme, signer);
    let signature = key.sign_with_aux(&terms.hash(chain), &aux);
    (Witness { public_key: key.address(), signature }, aux)
}

fn clawback_authorizations_json(keys: &Keys, chain: &ChainId, programmes: &[ClawbackTerms]) -> Value {
    Value::Array(
        programmes
            .iter()
            .map(|terms| {
                let message = clawback_authorization_bytes(chain, terms);
                let hash = terms.hash(chain);
                let witnesses: Vec<Value> = ["issuer-1", "issuer-2", "issuer-3"]
                    .iter()
                    .map(|signer| {
                        let (witness, aux) = clawback_witness(keys, chain, terms, signer);
                        assert!(crypto::verify(&witness.public_key, &hash, &witness.signature));
                        json!({
                            "signer": signer,
                            "public_key": witness.public_key.to_string(),
                            "aux_hex": hex::encode(aux),
                            "signature": hex::encode(witness.signature),
                        })
                    })
                    .collect();
                json!({
                    "programme_id": terms.programme,
                    "treasury": terms.treasury.to_string(),
                    "valid_until_unix_ms": terms.valid_until_ms,
                    "message_hex": hex::encode(&message),
                    "hash": hex::encode(hash),
                    "witnesses": witnesses,
                })
            })
            .collect(),
    )
}

/// A clawback of a programme: the given outputs, all of it to the treasury
/// as programme 0 money, reference the programme id and its valid_until,
/// witnessed by issuers signing the programme's clawback authorisation for
/// the chain (not the txid).
fn build_clawback(
    keys: &Keys,
    chain: &ChainId,
    (name, description): (&'static str, &'static str),
    terms: &ClawbackTerms,
    inputs: &[(OutPoint, u64)],
) -> VectorTx {
    let mut tx = Transaction {
        version: TX_VERSION,
        kind: TxKind::Clawback,
        inputs: inputs.iter().map(|(outpoint, _)| *outpoint).collect(),
        outputs: vec![output(terms.treasury, inputs.iter().map(|(_, amount)| amount).sum(), 0)],
        reference: clawback_reference(terms.programme, terms.valid_until_ms),
        witnesses: Vec::new(),
    };
    assert_eq!(clawback_terms(&tx), Some((terms.programme, terms.valid_until_ms)));
    let id = txid(&tx);
    let mut signers = Vec::with_capacity(CLAWBACK_SIGNERS.len());
    for signer in CLAWBACK_SIGNERS {
        let (witness, aux) = clawback_witness(keys, chain, terms, signer);
        tx.witnesses.push(witness);
        signers.push((signer.to_owned(), aux));
    }
    VectorTx { name, description, tx, txid: id, signers }
}

/// Applies a transaction that the ledger must decline for `reason`.
fn assert_declined(ledger: &mut Ledger, chain: &ChainId, tx: &Transaction, now_unix_ms: u64, reason: Reason) {
    let verified = crate::core::verify::verify(tx.clone(), chain).expect("passes the verify stage");
    match ledger.apply(&verified, now_unix_ms) {
        Err(Decline::Refused(refusal)) if refusal.reason == reason => {}
        other => panic!("expected {}, got {other:?}", reason.name()),
    }
}

fn signed_header(header: BlockHeader, chain: &ChainId, engine: &Keypair, label: &str) -> (SignedHeader, [u8; 32]) {
    let aux = aux_for(label);
    (SignedHeader { header, signature: engine.sign_with_aux(&header.signing_message(chain), &aux) }, aux)
}

fn header_json(signed: &SignedHeader, chain: &ChainId, aux: &[u8; 32]) -> Value {
    let h = &signed.header;
    let message = header_message_bytes(chain, h);
    json!({
        "height": h.height,
        "previous_hash": hex::encode(h.previous_hash),
        "merkle_root": hex::encode(h.merkle_root),
        "first_sequence": h.first_sequence,
        "tx_count": h.tx_count,
        "time_unix_ms": h.time_unix_ms,
        "minted_total_minor": h.minted_total_minor,
        "burned_total_minor": h.burned_total_minor,
        "canonical_hex": hex::encode(h.canonical_bytes()),
        "hash": hex::encode(h.hash()),
        "signed_message_hex": hex::encode(&message),
        "signed_message_hash": hex::encode(sha256(&message)),
        "engine_aux_hex": hex::encode(aux),
        "engine_signature": hex::encode(signed.signature),
    })
}

fn hashes_json(hashes: &[Hash32]) -> Value {
    Value::Array(hashes.iter().map(|h| Value::String(hex::encode(h))).collect())
}

fn path_json(steps: &[MerkleStep]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|s| json!({ "sibling": hex::encode(s.sibling), "sibling_on_left": s.sibling_on_left }))
            .collect(),
    )
}

fn merkle_tree_json(txids: &[TxId]) -> Value {
    let levels = merkle::levels(txids);
    json!({
        "txids": txids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "levels": levels.iter().map(|level| hashes_json(level)).collect::<Vec<_>>(),
        "root": hex::encode(merkle::root_of_levels(&levels)),
        "paths": (0..txids.len()).map(|i| path_json(&merkle::path(&levels, i))).collect::<Vec<_>>(),
    })
}

fn amount_error_name(error: &AmountError) -> &'static str {
    match error {
        AmountError::Empty => "empty",
        AmountError::NotDecimal(_) => "not_decimal",
        AmountError::TooPrecise { .. } => "too_precise",
        AmountError::Overflow(_) => "overflow",
        AmountError::BadExponent(_) => "bad_exponent",
    }
}

fn amounts_json() -> Value {
    let cases: &[(&str, u32)] = &[
        ("12.34", 2),
        ("12.3", 2),
        ("12", 2),
        ("0.01", 2),
        ("0.10", 2),
        ("0", 2),
        ("007", 0),
        ("000000000000000000000000000001.5", 1),
        ("0.00000001", 8),
        ("184467440737095516.15", 2),
        ("18446744073709551615", 0),
        ("1.234", 2),
        ("1.5", 0),
        ("1.50", 1),
        ("184467440737095516.16", 2),
        ("18446744073709551616", 0),
        ("99999999999999999999999999999999", 2),
        ("", 2),
        ("-1", 2),
        ("+1", 2),
        ("1e3", 2),
        (" 1", 2),
        ("1 ", 2),
        ("1,000", 2),
        (".5", 2),
        ("5.", 2),
        ("1.2.3", 2),
        ("0x10", 2),
        ("\u{0661}", 0),
        ("1", 9),
    ];
    Value::Array(
        cases
            .iter()
            .map(|(text, exponent)| match parse_amount(text, *exponent) {
                Ok(minor) => json!({ "text": text, "exponent": exponent, "amount_minor": minor }),
                Err(error) => json!({ "text": text, "exponent": exponent, "error": amount_error_name(&error) }),
            })
            .collect(),
    )
}

/// Where the vectors are published, from the root of the repository.
pub const PUBLISHED_PATH: &str = "docs/test-vectors.json";

/// The published file's text: [`generate`] as pretty JSON, with a final
/// newline.
///
/// # Panics
/// As [`generate`].
#[must_use]
pub fn file_text() -> String {
    serde_json::to_string_pretty(&generate()).expect("JSON values serialise") + "\n"
}

/// Builds every vector. Deterministic: the same engine code always gives
/// the same value.
///
/// # Panics
/// When the engine refuses one of its own vectors: the vectors or the
/// engine are wrong, and nothing must be published.
#[must_use]
pub fn generate() -> Value {
    let keys = Keys::new();
    let engine = keys.get("engine");
    let genesis = Genesis {
        currency: "CNY".to_owned(),
        exponent: 2,
        issuer_keys: vec![keys.address("issuer-1"), keys.address("issuer-2"), keys.address("issuer-3")],
        issuer_threshold: 2,
        engine_key: engine.address(),
    };
    // The genesis block is what `Store::open` writes for a new ledger; its
    // hash is the chain id every signature below covers.
    let genesis_header = BlockHeader::genesis(&genesis, GENESIS_TIME_UNIX_MS);
    let chain = genesis_header.chain_id();
    let (genesis_block, genesis_aux) = signed_header(genesis_header, &chain, engine, "block-0");

    let txs = transactions(&keys, &chain);
    let mut ledger = Ledger::new(genesis.clone(), HashMap::new(), 0, 0, genesis_header.next_sequence())
        .expect("an empty ledger is consistent");
    // The earmarked programmes the vectors pay in: transferable, valid from
    // the start (programme 1001 until its end, for the clawback vector, the
    // others for ever), so that only the encodings are on show here.
    let mut programmes = HashMap::new();
    for (i, id) in [1, 2, PROGRAMME_FOOD, 0x0a0b_0c0d, 0xffff_ffff].into_iter().enumerate() {
        let treasury = Keypair::from_secret(&[0x30 + u8::try_from(i).expect("five"); 32]).expect("valid secret");
        let valid_until_ms = if id == PROGRAMME_FOOD { PROGRAMME_FOOD_UNTIL_MS } else { u64::MAX };
        ledger
            .admin(AdminOp::CreateProgramme(Programme {
                id,
                name: format!("vector programme {id}"),
                allowed_mccs: vec![MERCHANT_MCC],
                valid_from_ms: 0,
                valid_until_ms,
                transferable: true,
                treasury: treasury.address(),
                per_payment_max_minor: None,
                payment_period: None,
                refund_window_ms: None,
            }))
            .expect("vector programmes are valid");
        programmes.insert(id, ClawbackTerms { programme: id, treasury: treasury.address(), valid_until_ms });
    }
    // The merchant is a registered grocer: its earmarked takings are spent
    // at an allowed category, and are not clawed back.
    let bank = Bank { id: "vector-bank".to_owned(), name: "Vector bank".to_owned(), credentials: Vec::new() };
    ledger.admin(AdminOp::RegisterBank(bank.clone())).expect("vector bank is valid");
    ledger
        .admin(AdminOp::RegisterMerchant(Merchant {
            id: "vector-grocer".to_owned(),
            name: "Vector grocer".to_owned(),
            mcc: MERCHANT_MCC,
            bank: bank.id,
            payout_addresses: vec![keys.address("merchant")],
        }))
        .expect("vector merchant is valid");
    let mut sequences = Vec::with_capacity(txs.len());
    for vector in &txs {
        let verified = crate::core::verify::verify(vector.tx.clone(), &chain)
            .unwrap_or_else(|refusal| panic!("vector {} refused by the verify stage: {refusal}", vector.name));
        let applied = ledger
            .apply(&verified, BLOCK_1_TIME_UNIX_MS)
            .unwrap_or_else(|decline| panic!("vector {} declined by the ledger: {decline:?}", vector.name));
        sequences.push(applied.sequence);
    }
    ledger.assert_conserved();

    let txids: Vec<TxId> = txs.iter().map(|v| v.txid).collect();
    let levels = merkle::levels(&txids);
    let totals = ledger.totals();
    let header = BlockHeader {
        height: 1,
        previous_hash: genesis_block.header.hash(),
        merkle_root: merkle::root_of_levels(&levels),
        first_sequence: sequences[0],
        tx_count: u32::try_from(txs.len()).expect("a handful"),
        time_unix_ms: BLOCK_1_TIME_UNIX_MS,
        minted_total_minor: totals.minted_minor,
        burned_total_minor: totals.burned_minor,
    };
    let (block, block_aux) = signed_header(header, &chain, engine, "block-1");

    let receipts: Vec<Value> = sequences
        .iter()
        .enumerate()
        .map(|(index, sequence)| {
            let receipt = Receipt {
                txid: txids[index],
                sequence: *sequence,
                block,
                index_in_block: u32::try_from(index).expect("a handful"),
                merkle_path: merkle::path(&levels, index),
            };
            receipt.verify(&engine.address(), &chain).expect("a vector receipt verifies");
            serde_json::to_value(ReceiptJson::of(&receipt, &chain)).expect("receipts serialise")
        })
        .collect();

    let refund = refund_after_block_1(&keys, &chain, &txs, &mut ledger);
    let (claim, recovery) = claim_and_recovery_json(&keys, &genesis, &chain);
    let clawback = clawback_after_block_1(&keys, &chain, &txs, &mut ledger, &programmes[&PROGRAMME_FOOD]);
    let redeem = redeem_after_block_1(&keys, &chain, &txs, &mut ledger);
    let authorised: Vec<ClawbackTerms> = CLAWBACK_AUTHORIZATION_PROGRAMMES.iter().map(|id| programmes[id]).collect();
    let other_chain = other_chain_json(&genesis, &txs[0], &chain);

    let merkle_trees: Vec<Value> = MERKLE_WIDTHS
        .iter()
        .map(|width| {
            let ids: Vec<TxId> = (1..=*width).map(|i| TxId([u8::try_from(i).expect("small widths"); 32])).collect();
            merkle_tree_json(&ids)
        })
        .collect();

    json!({
        "format_version": VECTORS_FORMAT_VERSION,
        "about": "Settled protocol test vectors, generated by src/dev/vectors.rs and specified in docs/PROTOCOL.md. Byte strings are lowercase hex; integers are JSON numbers (amounts go up to 2^64-1, so parse them as 64-bit unsigned integers). Secret keys are public test keys: never use them for real money.",
        "protocol_version": PROTOCOL_VERSION,
        "keys": keys.to_json(),
        "chain_id": chain.to_string(),
        "genesis": {
            "currency": genesis.currency,
            "exponent": genesis.exponent,
            "issuer_threshold": genesis.issuer_threshold,
            "issuer_public_keys": genesis.issuer_keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "engine_public_key": genesis.engine_key.to_string(),
            "canonical_hex": hex::encode(genesis.canonical_bytes()),
            "hash": hex::encode(genesis.hash()),
        },
        "genesis_block": header_json(&genesis_block, &chain, &genesis_aux),
        "transactions": txs
            .iter()
            .zip(&sequences)
            .map(|(v, s)| tx_json(v, *s, &witness_message_bytes(&chain, &v.txid)))
            .collect::<Vec<_>>(),
        "block": {
            "header": header_json(&block, &chain, &block_aux),
            "txids": txids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "merkle_levels": levels.iter().map(|level| hashes_json(level)).collect::<Vec<_>>(),
        },
        "receipts": receipts,
        "merkle_trees": merkle_trees,
        "amounts": amounts_json(),
        "clawback_authorizations": clawback_authorizations_json(&keys, &chain, &authorised),
        "clawback_transactions": [clawback],
        "refund_transactions": [refund],
        "redeem_transactions": [redeem],
        "claims": [claim],
        "recovery_transactions": [recovery],
        "other_chain": other_chain,
    })
}

/// A redemption (docs/PROTOCOL.md §4.9): the merchant's bank submits it,
/// signed by the merchant's payout key, spending the 60.00 earmarked
/// takings of `transfer-2-in-2-out-earmarked`, keeping 10.00 as change (the
/// same programme's money) and burning 50.00. Judged against the ledger
/// after block 1 and the clawback vector (which leaves the takings alone),
/// a second after the clawback; change to another address is declined.
fn redeem_after_block_1(keys: &Keys, chain: &ChainId, txs: &[VectorTx], ledger: &mut Ledger) -> Value {
    let earmarked = txs.iter().find(|v| v.name == "transfer-2-in-2-out-earmarked").expect("in the history");
    let merchant = keys.address("merchant");
    let unsigned = |name, to| Unsigned {
        name,
        description: "A redemption: the merchant's bank turns 50.00 of the merchant's takings back into bank money. It spends the 60.00 earmarked (programme 1001) takings of transfer-2-in-2-out-earmarked (output 0), keeps 10.00 as change of the same programme and burns 50.00 (the supply drops by it). Reference: the bank's payout reference. Witness: the merchant's payout key over the witness message of the txid. Not in any block: accepted by the ledger as it stands after block 1 and the clawback vector (merchants' takings are not clawed back, and may be redeemed after the programme's end), one second after the clawback.",
        kind: TxKind::Redeem,
        inputs: vec![outpoint(earmarked, 0)],
        outputs: vec![output(to, 1_000, PROGRAMME_FOOD)],
        reference: b"payout-2025-06-15/0001".to_vec(),
    };
    let judged_at = PROGRAMME_FOOD_UNTIL_MS + 1_000;
    let to_bob = build(keys, chain, unsigned("redeem-change-to-bob", keys.address("bob")), &["merchant"]);
    assert_declined(ledger, chain, &to_bob.tx, judged_at, Reason::PayeeNotAllowed);
    let vector = build(keys, chain, unsigned("redeem-earmarked-takings", merchant), &["merchant"]);
    let verified = crate::core::verify::verify(vector.tx.clone(), chain).expect("the redeem vector verifies");
    let burned_before = ledger.totals().burned_minor;
    let applied = ledger
        .apply(&verified, judged_at)
        .unwrap_or_else(|decline| panic!("the redeem vector is declined: {decline:?}"));
    assert_eq!(ledger.totals().burned_minor - burned_before, 5_000, "the redemption burns 50.00");
    ledger.assert_conserved();
    let mut json = tx_json(&vector, applied.sequence, &witness_message_bytes(chain, &vector.txid));
    let object = json.as_object_mut().expect("a transaction is an object");
    object.remove("sequence");
    object.insert("burned_minor".to_owned(), json!(5_000));
    object.insert("block_time_unix_ms".to_owned(), json!(judged_at));
    json
}

/// A refund (docs/PROTOCOL.md §4.11): the merchant pays alice back 5.00 of
/// the 23.50 she paid in `transfer-1-in-2-out`, from that payment's
/// takings, keeping 18.50 as change. Judged against the ledger after block
/// 1, with the payment as the store would hand it to the sequencer; the
/// same refund to bob is declined.
fn refund_after_block_1(keys: &Keys, chain: &ChainId, txs: &[VectorTx], ledger: &mut Ledger) -> Value {
    use crate::core::ledger::{RefundBasis, RefundCheck};
    let payment = txs.iter().find(|v| v.name == "transfer-1-in-2-out").expect("the vectors pay the merchant");
    let mint = txs.iter().find(|v| v.name == "mint-2-of-3").expect("the first mint");
    let spent: Vec<Output> = payment
        .tx
        .inputs
        .iter()
        .map(|input| {
            assert_eq!(input.txid, mint.txid, "transfer-1-in-2-out spends the first mint");
            mint.tx.outputs[input.index as usize]
        })
        .collect();
    let basis = RefundBasis::of(&payment.tx, payment.txid, &spent, BLOCK_1_TIME_UNIX_MS, ledger.registry());
    let takings = outpoint(payment, 0);
    let (alice, merchant) = (keys.address("alice"), keys.address("merchant"));
    let unsigned = |name, to, amount_minor| Unsigned {
        name,
        description: "A refund: the merchant pays alice back 5.00 of the 23.50 she paid it in transfer-1-in-2-out, spending that payment's takings (output 0) and keeping 18.50 as change. Reference: the refunded payment's txid (32 bytes). Witness: the merchant's payout key over the witness message of the txid. Not in any block: accepted by the ledger as it stands after block 1, one second after block 1's time.",
        kind: TxKind::Refund,
        inputs: vec![takings],
        outputs: vec![output(to, amount_minor, 0), output(merchant, 2_350 - amount_minor, 0)],
        reference: payment.txid.0.to_vec(),
    };
    let judged_at = BLOCK_1_TIME_UNIX_MS + 1_000;
    let declined = |ledger: &mut Ledger, tx: &Transaction, reason: Reason| {
        let verified = crate::core::verify::verify(tx.clone(), chain).expect("passes the verify stage");
        match ledger.apply_checked(&verified, judged_at, RefundCheck::Against(&basis)) {
            Err(Decline::Refused(refusal)) if refusal.reason == reason => {}
            other => panic!("expected {}, got {other:?}", reason.name()),
        }
    };
    let vector = build(keys, chain, unsigned("refund-transfer-1-in-2-out", alice, 500), &["merchant"]);
    declined(
        ledger,
        &build(keys, chain, unsigned("refund-to-bob", keys.address("bob"), 500), &["merchant"]).tx,
        Reason::PayeeNotAllowed,
    );
    let verified = crate::core::verify::verify(vector.tx.clone(), chain).expect("the refund vector verifies");
    let applied = ledger
        .apply_checked(&verified, judged_at, RefundCheck::Against(&basis))
        .unwrap_or_else(|decline| panic!("the refund vector is declined: {decline:?}"));
    ledger.assert_conserved();
    let mut json = tx_json(&vector, applied.sequence, &witness_message_bytes(chain, &vector.txid));
    let object = json.as_object_mut().expect("a transaction is an object");
    object.remove("sequence");
    object.insert("refunded_payment".to_owned(), json!(payment.txid.to_string()));
    object.insert("payer".to_owned(), json!(alice.to_string()));
    object.insert("merchant_received_minor".to_owned(), json!(2_350));
    object.insert("block_time_unix_ms".to_owned(), json!(judged_at));
    json
}

/// A claim (docs/PROTOCOL.md §4.10): carol, registered as a beneficiary
/// under the person reference of `IDENTITY_NUMBER`, is paid the month of
/// block 1 of programme 31 at her designated wallet. Judged by a ledger of
/// its own (the e-CNY tier table, which registering a wallet needs), at
/// block 1's time; a claim paying her through another person's claim tag,
/// or a month not yet begun, is declined.
fn claim_and_recovery_json(keys: &Keys, genesis: &Genesis, chain: &ChainId) -> (Value, Value) {
    use crate::core::registry::{Beneficiary, PaymentPeriod, TierPolicy, Wallet};
    let carol = keys.address("carol");
    let person = crate::client::person_ref(&ADMINISTRATOR_KEY, IDENTITY_NUMBER).expect("a valid identity number");
    let period = crate::core::period::month_of(BLOCK_1_TIME_UNIX_MS, CLAIM_DAY_OFFSET_MINUTES);
    let (start_ms, end_ms) =
        crate::core::period::month_bounds_ms(period, CLAIM_DAY_OFFSET_MINUTES).expect("block 1's month");
    let tiers = TierPolicy { day_offset_minutes: CLAIM_DAY_OFFSET_MINUTES, ..TierPolicy::e_cny_default(2) };
    let mut ledger = Ledger::new(genesis.clone(), HashMap::new(), 0, 0, 1)
        .expect("an empty ledger is consistent")
        .with_rules(crate::core::registry::Registry::default(), tiers, HashMap::new(), HashMap::new());
    let treasury = Keypair::from_secret(&[0x3f; 32]).expect("valid secret");
    let bank = Bank { id: "vector-bank".to_owned(), name: "Vector bank".to_owned(), credentials: Vec::new() };
    for op in [
        AdminOp::RegisterBank(bank.clone()),
        AdminOp::RegisterWallet(Wallet { address: carol, bank: bank.id, tier: 3 }),
        AdminOp::CreateProgramme(Programme {
            id: PROGRAMME_MONTHLY,
            name: "vector monthly programme".to_owned(),
            allowed_mccs: vec![MERCHANT_MCC],
            valid_from_ms: 0,
            valid_until_ms: u64::MAX,
            transferable: false,
            treasury: treasury.address(),
            per_payment_max_minor: None,
            payment_period: Some(PaymentPeriod::Month),
            refund_window_ms: None,
        }),
        AdminOp::RegisterBeneficiary(Beneficiary {
            person,
            wallets: vec![carol],
            designated: [(PROGRAMME_MONTHLY, carol)].into_iter().collect(),
        }),
    ] {
        ledger.admin(op).expect("the claim vector's registry is valid");
    }
    let reference = crate::core::encoding::claim_reference(PROGRAMME_MONTHLY, period, &person);
    let vector = build(
        keys,
        chain,
        Unsigned {
            name: "claim-programme-31",
            description: "A claim: programme 31 (paid once a month per person) pays carol, the designated wallet of the person whose reference is HMAC-SHA-256(administrator key, normalised identity number), 500.00 for the month holding block 1's time in UTC+8. Reference: STLP, the programme id and the period (4 bytes big-endian each), then the claim tag SHA-256(STLP || 02 || programme || period || person reference). Witnesses: issuer-1 and issuer-3 over the witness message of the txid, as every mint. Not in any block: accepted at block 1's time by a ledger with that registry; any other mint with the same reference would be refused REASON_CLAIM_ALREADY_PAID.",
            kind: TxKind::Mint,
            inputs: Vec::new(),
            outputs: vec![output(carol, 50_000, PROGRAMME_MONTHLY)],
            reference: reference.clone(),
        },
        &["issuer-1", "issuer-3"],
    );
    let verified = crate::core::verify::verify(vector.tx.clone(), chain).expect("the claim vector verifies");
    let someone_else = build(
        keys,
        chain,
        Unsigned {
            name: "claim-of-another-person",
            description: "",
            kind: TxKind::Mint,
            inputs: Vec::new(),
            outputs: vector.tx.outputs.clone(),
            reference: crate::core::encoding::claim_reference(
                PROGRAMME_MONTHLY,
                period,
                &crate::core::types::PersonRef([0xee; 32]),
            ),
        },
        &["issuer-1", "issuer-3"],
    );
    assert_declined(&mut ledger, chain, &someone_else.tx, BLOCK_1_TIME_UNIX_MS, Reason::NotDesignated);
    assert_declined(&mut ledger, chain, &vector.tx, start_ms - 1, Reason::BadPeriod);
    let applied = ledger.apply(&verified, BLOCK_1_TIME_UNIX_MS).expect("the claim vector is accepted");
    let mut preimage = crate::core::encoding::CLAIM_MAGIC.to_vec();
    preimage.push(crate::core::encoding::CLAIM_TAG_VERSION);
    preimage.extend_from_slice(&PROGRAMME_MONTHLY.to_be_bytes());
    preimage.extend_from_slice(&period.to_be_bytes());
    preimage.extend_from_slice(&person.0);
    let tag = crate::core::encoding::claim_tag(PROGRAMME_MONTHLY, period, &person);
    assert_eq!(sha256(&preimage), tag, "the tag is the hash of the preimage the vectors publish");
    let mut transaction = tx_json(&vector, applied.sequence, &witness_message_bytes(chain, &vector.txid));
    transaction["claim"] = json!({
        "administrator_key_hex": hex::encode(ADMINISTRATOR_KEY),
        "identity_number": IDENTITY_NUMBER,
        "normalised_identity_number": crate::client::normalised_identity_number(IDENTITY_NUMBER).expect("valid"),
        "person_ref": person.to_string(),
        "programme_id": PROGRAMME_MONTHLY,
        "period": period,
        "day_offset_minutes": CLAIM_DAY_OFFSET_MINUTES,
        "period_start_unix_ms": start_ms,
        "period_end_unix_ms": end_ms,
        "judged_at_unix_ms": BLOCK_1_TIME_UNIX_MS,
        "tag_preimage_hex": hex::encode(&preimage),
        "tag": hex::encode(tag),
        "designated_wallet": carol.to_string(),
    });
    let recovery = recovery_after_claim(keys, chain, &mut ledger, person, &vector);
    (transaction, recovery)
}

/// A recovery (docs/PROTOCOL.md §4.12): carol reports her wallet lost; dave,
/// a registered wallet of nobody yet, replaces it. Once the registry froze
/// carol's wallet, the claim's 500.00 moves to dave, authorised by issuer-1
/// and issuer-2 signing the recovery authorisation; carol's key then spends
/// nothing.
fn recovery_after_claim(
    keys: &Keys,
    chain: &ChainId,
    ledger: &mut Ledger,
    person: crate::core::types::PersonRef,
    claim: &VectorTx,
) -> Value {
    use crate::core::registry::Wallet;
    let (carol, dave) = (keys.address("carol"), keys.address("dave"));
    ledger
        .admin(AdminOp::RegisterWallet(Wallet { address: dave, bank: "vector-bank".to_owned(), tier: 3 }))
        .expect("dave's wallet");
    let at = BLOCK_1_TIME_UNIX_MS + 2_000;
    let reference = crate::core::encoding::recovery_reference(&carol, &dave);
    let message = crate::core::encoding::recovery_authorization(chain, &carol, &dave);
    let mut tx = Transaction {
        version: TX_VERSION,
        kind: TxKind::Recovery,
        inputs: vec![outpoint(claim, 0)],
        outputs: vec![output(dave, 50_000, PROGRAMME_MONTHLY)],
        reference,
        witnesses: Vec::new(),
    };
    let mut signers = Vec::new();
    for signer in ["issuer-1", "issuer-2"] {
        let aux = aux_for(&format!("recovery-authorization/{signer}"));
        tx.witnesses.push(Witness {
            public_key: keys.address(signer),
            signature: keys.get(signer).sign_with_aux(&message, &aux),
        });
        signers.push((signer.to_owned(), aux));
    }
    let vector = VectorTx {
        name: "recovery-carol-to-dave",
        description: "A recovery: carol's wallet, reported lost and frozen by the registry (RecoverWallet), hands its earmarked money (the 500.00 of claim-programme-31) to dave, her replacement wallet. Reference: the lost wallet then the replacement (32 bytes each). Witnesses: issuer-1 and issuer-2 signing the recovery authorisation SHA-256(STLV || 02 || chain id || lost || replacement), not the txid. Not in any block: accepted two seconds after block 1's time by the claim's ledger once the wallet is frozen; declined before.",
        txid: crate::core::encoding::txid(&tx),
        tx,
        signers,
    };
    assert_declined(ledger, chain, &vector.tx, at, Reason::RecoveryNotAllowed);
    ledger.admin(AdminOp::RecoverWallet { person, lost: carol, replacement: dave }).expect("carol's wallet recovered");
    let verified = crate::core::verify::verify(vector.tx.clone(), chain).expect("the recovery vector verifies");
    let applied = ledger.apply(&verified, at).expect("the recovery vector is accepted");
    ledger.assert_conserved();
    let mut json = tx_json(&vector, applied.sequence, &recovery_authorization_bytes(chain, &carol, &dave));
    let object = json.as_object_mut().expect("a transaction is an object");
    object.remove("sequence");
    object.insert("lost_wallet".to_owned(), json!(carol.to_string()));
    object.insert("replacement_wallet".to_owned(), json!(dave.to_string()));
    object.insert("block_time_unix_ms".to_owned(), json!(at));
    json
}

/// The 101 bytes issuers sign (hashed) to authorise a recovery, written out
/// field by field as PROTOCOL.md §4.12 gives them.
fn recovery_authorization_bytes(chain: &ChainId, lost: &Address, replacement: &Address) -> Vec<u8> {
    let mut bytes = b"STLV".to_vec();
    bytes.push(PROTOCOL_VERSION);
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&lost.0);
    bytes.extend_from_slice(&replacement.0);
    assert_eq!(sha256(&bytes), crate::core::encoding::recovery_authorization(chain, lost, replacement));
    bytes
}

/// Another ledger with the same keys (an HKD genesis): its chain id, and
/// the witness message the first mint's issuers would have to sign there.
/// The mint signed for this ledger is refused by the verify stage of the
/// other, as every transaction is.
fn other_chain_json(genesis: &Genesis, mint: &VectorTx, chain: &ChainId) -> Value {
    let other = Genesis { currency: "HKD".to_owned(), ..genesis.clone() };
    let header = BlockHeader::genesis(&other, GENESIS_TIME_UNIX_MS);
    let other_chain = header.chain_id();
    assert_ne!(other_chain, *chain);
    let refused = crate::core::verify::verify(mint.tx.clone(), &other_chain).expect_err("a mint of another chain");
    assert_eq!(refused.reason, Reason::BadSignature);
    json!({
        "about": "A second ledger with the same issuer and engine keys, currency HKD, the same genesis time. Its chain id differs, so the witnesses of mint-2-of-3 (signed for the first ledger) do not verify on it: the verify stage refuses the mint with REASON_BAD_SIGNATURE.",
        "genesis_canonical_hex": hex::encode(other.canonical_bytes()),
        "genesis_block_canonical_hex": hex::encode(header.canonical_bytes()),
        "chain_id": other_chain.to_string(),
        "refused_transaction": mint.name,
        "witness_message_hash_there": hex::encode(witness_message(&other_chain, &mint.txid)),
        "refused_with": Reason::BadSignature.name(),
    })
}

/// The clawback of programme 1001 once it has ended: bob's 20.00 earmarked
/// change from `transfer-2-in-2-out-earmarked` goes back to the programme's
/// treasury; the merchant's 60.00 takings stay. Checked against the ledger as
/// it stands after block 1 (refused before the programme's end, refused with
/// the merchant's output, accepted at the end), and published on its own: it
/// is in no block.
fn clawback_after_block_1(
    keys: &Keys,
    chain: &ChainId,
    txs: &[VectorTx],
    ledger: &mut Ledger,
    terms: &ClawbackTerms,
) -> Value {
    let earmarked = txs.iter().find(|v| v.name == "transfer-2-in-2-out-earmarked").expect("in the history");
    let (takings, change) = (outpoint(earmarked, 0), outpoint(earmarked, 1));
    let amount = |outpoint: OutPoint| ledger.unspent(&outpoint).expect("unspent after block 1").amount_minor;
    let (takings, change) = ((takings, amount(takings)), (change, amount(change)));
    let vector = build_clawback(
        keys,
        chain,
        (
            "clawback-programme-1001",
            "Clawback of programme 1001 after its end (valid_until 2025-07-01T00:00:00Z, exclusive): bob's 20.00 earmarked change of transfer-2-in-2-out-earmarked goes to the programme's treasury as programme 0 money; the merchant's 60.00 takings are not clawed back. Reference: the programme id (4 bytes big-endian) then its valid_until (8 bytes big-endian, unix ms). Witnesses: issuer-1 and issuer-2 (the threshold) signing this ledger's clawback authorisation of programme 1001 (its treasury and valid_until), not the txid. Not in any block: accepted by the ledger as it stands after block 1, at block time valid_until.",
        ),
        terms,
        &[change],
    );
    let tx = &vector.tx;
    // Witnesses over the txid's witness message are not an authorisation.
    let mut over_txid = tx.clone();
    for (witness, signer) in over_txid.witnesses.iter_mut().zip(CLAWBACK_SIGNERS) {
        witness.signature =
            keys.get(signer).sign_with_aux(&witness_message(chain, &vector.txid), &aux_for("clawback-over-txid"));
    }
    let refused =
        crate::core::verify::verify(over_txid, chain).expect_err("a clawback signed over its txid is refused");
    assert_eq!(refused.reason, Reason::BadSignature);
    // An authorisation of another validity authorises nothing.
    let stale = ClawbackTerms { valid_until_ms: terms.valid_until_ms - 1, ..*terms };
    let with_stale = build_clawback(keys, chain, ("", ""), &stale, &[change]);
    assert_declined(ledger, chain, &with_stale.tx, PROGRAMME_FOOD_UNTIL_MS, Reason::BadSignature);
    assert_declined(ledger, chain, tx, PROGRAMME_FOOD_UNTIL_MS - 1, Reason::ProgrammeNotExpired);
    let with_takings = build_clawback(keys, chain, ("", ""), terms, &[change, takings]);
    assert_declined(ledger, chain, &with_takings.tx, PROGRAMME_FOOD_UNTIL_MS, Reason::PayeeNotAllowed);
    let verified = crate::core::verify::verify(tx.clone(), chain)
        .unwrap_or_else(|refusal| panic!("vector {} refused by the verify stage: {refusal}", vector.name));
    let applied = ledger
        .apply(&verified, PROGRAMME_FOOD_UNTIL_MS)
        .unwrap_or_else(|decline| panic!("vector {} declined by the ledger: {decline:?}", vector.name));
    ledger.assert_conserved();

    let authorization = clawback_authorization_bytes(chain, terms);
    let mut json = tx_json(&vector, applied.sequence, &authorization);
    let object = json.as_object_mut().expect("a transaction is an object");
    object.remove("sequence");
    object.insert("programme_id".to_owned(), json!(PROGRAMME_FOOD));
    object.insert("programme_valid_until_unix_ms".to_owned(), json!(PROGRAMME_FOOD_UNTIL_MS));
    object.insert("treasury".to_owned(), json!(terms.treasury.to_string()));
    object.insert("merchant_addresses".to_owned(), json!([keys.address("merchant").to_string()]));
    object.insert("block_time_unix_ms".to_owned(), json!(PROGRAMME_FOOD_UNTIL_MS));
    object.insert("authorization_hash".to_owned(), json!(hex::encode(terms.hash(chain))));
    json
}
