//! The published test vectors (docs/test-vectors.json) are exactly what the
//! engine computes today, every signature and receipt in them verifies, and
//! an independent checker written from docs/PROTOCOL.md alone agrees.
//!
//! The tests only compare and check: after an intended change of the
//! encoding, the file is written by a separate command,
//! `cargo run -p settled-simulations -- write-vectors`. The Python checker is
//! required: without `python3` its test fails rather than skip.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use settled::{
    Address, BlockHeader, ChainId, PROTOCOL_VERSION, Receipt, ReceiptError, ReceiptJson, TxId, decode_tx_record,
    sha256, tx_record_bytes, txid, verify_signature, witness_message,
};

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(settled::dev::vectors::PUBLISHED_PATH)
}

fn published() -> Value {
    let text = std::fs::read_to_string(vectors_path()).expect("docs/test-vectors.json is readable");
    serde_json::from_str(&text).expect("docs/test-vectors.json is JSON")
}

fn str_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field].as_str().unwrap_or_else(|| panic!("{field} is a string in {value}"))
}

fn bytes<const N: usize>(value: &Value, field: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(str_field(value, field), &mut out).unwrap_or_else(|e| panic!("{field}: {e}"));
    out
}

fn array<'a>(value: &'a Value, field: &str) -> &'a Vec<Value> {
    value[field].as_array().unwrap_or_else(|| panic!("{field} is an array"))
}

#[test]
fn published_vectors_are_what_the_engine_computes() {
    let generated = settled::dev::vectors::generate();
    // Compared as JSON values, so that the test does not depend on the key
    // order serde_json happens to be built with.
    assert!(
        published() == generated,
        "docs/test-vectors.json differs from what the engine computes; if the encoding changed on purpose, \
         update docs/PROTOCOL.md and run cargo run -p settled-simulations -- write-vectors"
    );
}

#[test]
fn generating_twice_gives_the_same_vectors() {
    assert_eq!(settled::dev::vectors::generate(), settled::dev::vectors::generate());
}

/// The chain id the vectors are signed for: the hash of their block 0.
fn chain(vectors: &Value) -> ChainId {
    let chain = ChainId(bytes(vectors, "chain_id"));
    assert_eq!(chain.0, bytes::<32>(&vectors["genesis_block"], "hash"), "the chain id is the hash of block 0");
    chain
}

/// `message_hex` is `domain || protocol version || chain id || 32 bytes`,
/// and `message_hash` its SHA-256; returns the hash.
fn signed_message(value: &Value, domain: &[u8; 4], chain: &ChainId, signed: &[u8; 32], what: &str) -> [u8; 32] {
    let message = hex::decode(str_field(value, "signed_message_hex")).expect("message hex");
    let expected = [domain.as_slice(), &[PROTOCOL_VERSION], &chain.0, signed].concat();
    assert_eq!(message, expected, "{what}: the signed message is domain, version, chain id and what it signs");
    let hash: [u8; 32] = bytes(value, "signed_message_hash");
    assert_eq!(sha256(&message), hash, "{what}: the signed message's hash");
    hash
}

#[test]
fn every_published_signature_verifies_against_its_txid() {
    let vectors = published();
    assert_eq!(vectors["protocol_version"], PROTOCOL_VERSION, "the vectors are of this protocol version");
    let chain = chain(&vectors);
    let transactions = array(&vectors, "transactions");
    assert!(transactions.len() >= 6, "the vectors cover mints, transfers and the limits");
    for tx in transactions {
        let name = str_field(tx, "name");
        let record = hex::decode(str_field(tx, "record_hex")).expect("record hex");
        let decoded = decode_tx_record(&record).unwrap_or_else(|e| panic!("{name}: record decodes: {e}"));
        assert_eq!(tx_record_bytes(&decoded), record, "{name}: record round-trips");
        let id = TxId(bytes(tx, "txid"));
        assert_eq!(txid(&decoded), id, "{name}: txid of the record");
        let message = signed_message(tx, b"STLW", &chain, &id.0, name);
        assert_eq!(message, witness_message(&chain, &id), "{name}: the witness message of the txid on the chain");
        let witnesses = array(tx, "witnesses");
        assert!(!witnesses.is_empty(), "{name} is signed");
        assert_eq!(witnesses.len(), decoded.witnesses.len(), "{name}: witnesses in the record");
        for (witness, in_record) in witnesses.iter().zip(&decoded.witnesses) {
            let key = Address(bytes(witness, "public_key"));
            let signature = bytes::<64>(witness, "signature");
            assert_eq!((key, signature), (in_record.public_key, in_record.signature), "{name}: witness in record");
            assert!(verify_signature(&key, &message, &signature), "{name}: witness {key} verifies");
            let mut other = id;
            other.0[0] ^= 1;
            assert!(
                !verify_signature(&key, &witness_message(&chain, &other), &signature),
                "{name}: witness {key} signs only its txid"
            );
            assert!(!verify_signature(&key, &id.0, &signature), "{name}: witness {key} signs not the bare txid");
            let elsewhere = ChainId(bytes(&vectors["other_chain"], "chain_id"));
            assert!(
                !verify_signature(&key, &witness_message(&elsewhere, &id), &signature),
                "{name}: witness {key} signs for this chain only"
            );
        }
    }
}

#[test]
fn every_published_receipt_verifies_offline_with_the_engine_key() {
    let vectors = published();
    let engine_key = Address(bytes(&vectors["genesis"], "engine_public_key"));
    let chain = chain(&vectors);
    let receipts = array(&vectors, "receipts");
    assert_eq!(receipts.len(), array(&vectors, "transactions").len(), "one receipt per transaction");
    for json in receipts {
        let json: ReceiptJson = serde_json::from_value(json.clone()).expect("receipt JSON");
        assert_eq!(json.chain(), Ok(Some(chain)), "receipt of {} names the chain", json.txid);
        let receipt = Receipt::try_from(&json).expect("receipt decodes");
        receipt.verify(&engine_key, &chain).unwrap_or_else(|e| panic!("receipt of {}: {e}", json.txid));
        let mut moved = receipt.clone();
        moved.sequence += 1;
        assert!(
            matches!(moved.verify(&engine_key, &chain), Err(ReceiptError::WrongSequence { .. })),
            "receipt of {} proves only its sequence",
            json.txid
        );
        let elsewhere = ChainId(bytes(&vectors["other_chain"], "chain_id"));
        assert_eq!(
            receipt.verify(&engine_key, &elsewhere),
            Err(ReceiptError::BadEngineSignature(engine_key, elsewhere)),
            "receipt of {} is of this chain only",
            json.txid
        );
    }
    for block in [&vectors["genesis_block"], &vectors["block"]["header"]] {
        let hash = bytes::<32>(block, "hash");
        let message = signed_message(block, b"STLH", &chain, &hash, "block");
        let canonical = hex::decode(str_field(block, "canonical_hex")).expect("canonical hex");
        assert_eq!(sha256(&canonical), hash, "the block hash is the hash of its canonical bytes");
        let header = BlockHeader {
            height: block["height"].as_u64().expect("height"),
            previous_hash: bytes(block, "previous_hash"),
            merkle_root: bytes(block, "merkle_root"),
            first_sequence: block["first_sequence"].as_u64().expect("first_sequence"),
            tx_count: u32::try_from(block["tx_count"].as_u64().expect("tx_count")).expect("u32"),
            time_unix_ms: block["time_unix_ms"].as_u64().expect("time_unix_ms"),
            minted_total_minor: block["minted_total_minor"].as_u64().expect("minted"),
            burned_total_minor: block["burned_total_minor"].as_u64().expect("burned"),
        };
        assert_eq!(header.hash(), hash, "the header's fields hash to its hash");
        assert_eq!(header.signing_message(&chain), message, "the engine's signing message of the header");
        let signature = bytes(block, "engine_signature");
        assert!(verify_signature(&engine_key, &message, &signature), "engine signs {block}");
        assert!(!verify_signature(&engine_key, &hash, &signature), "engine signs not the bare hash of {block}");
    }
}

#[test]
fn the_independent_python_checker_accepts_the_published_vectors() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("python3")
        .current_dir(root)
        .args(["docs/check_vectors.py", settled::dev::vectors::PUBLISHED_PATH])
        .output()
        .unwrap_or_else(|error| {
            panic!("running python3 (required: the independent check of the vectors is never skipped): {error}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "docs/check_vectors.py failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" 0 failed"), "docs/check_vectors.py summary:\n{stdout}");
}
