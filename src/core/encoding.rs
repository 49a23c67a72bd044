//! The canonical byte encodings that hashes and signatures cover, defined
//! byte by byte in docs/PROTOCOL.md. Never the protobuf bytes: a client in any
//! language rebuilds these from the transaction's fields.

use crate::core::crypto::sha256;
use crate::core::types::{
    Address, ChainId, Hash32, OutPoint, Output, PROTOCOL_VERSION, PersonRef, ProgrammeId, Transaction, TxId, TxKind,
    Witness,
};

/// Leading bytes of a canonical transaction.
pub const TX_MAGIC: &[u8; 4] = b"STLD";
/// Leading bytes of a canonical block header.
pub const BLOCK_MAGIC: &[u8; 4] = b"STLB";
/// Leading bytes of a canonical genesis.
pub const GENESIS_MAGIC: &[u8; 4] = b"STLG";
/// Leading bytes of what a wallet's or issuer's witness signs.
pub const WITNESS_MAGIC: &[u8; 4] = b"STLW";
/// Leading bytes of what the engine signs for a block header.
pub const HEADER_SIGNATURE_MAGIC: &[u8; 4] = b"STLH";
/// Leading bytes of what the engine signs for a block handed to a replica.
pub const REPLICATED_BLOCK_MAGIC: &[u8; 4] = b"STLR";

/// Bytes of one encoded input, output and witness.
pub const INPUT_BYTES: usize = 32 + 4;
pub const OUTPUT_BYTES: usize = 32 + 8 + 4;
#[cfg(test)]
const WITNESS_BYTES: usize = 32 + 64;

/// Largest stored record of a transaction within the limits.
#[cfg(test)]
fn record_bytes_max() -> usize {
    use crate::core::limits::{TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX};
    4 + 1
        + 1
        + 2
        + TX_INPUTS_MAX * INPUT_BYTES
        + 2
        + TX_OUTPUTS_MAX * OUTPUT_BYTES
        + 1
        + TX_REFERENCE_BYTES_MAX
        + 1
        + TX_WITNESSES_MAX * WITNESS_BYTES
}

/// The canonical encoding of everything a transaction commits to (all but
/// the witnesses). Callers bound the counts first (`verify`); the encoding
/// itself only requires that they fit their length fields.
///
/// # Panics
/// When a count does not fit its field: that is a caller bug.
#[must_use]
pub fn tx_canonical_bytes(tx: &Transaction) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        4 + 2 + 2 + 2 + 1 + tx.inputs.len() * INPUT_BYTES + tx.outputs.len() * OUTPUT_BYTES + tx.reference.len(),
    );
    write_tx_canonical(tx, &mut out);
    out
}

fn write_tx_canonical(tx: &Transaction, out: &mut Vec<u8>) {
    out.extend_from_slice(TX_MAGIC);
    out.push(tx.version);
    out.push(tx.kind as u8);
    let inputs = u16::try_from(tx.inputs.len()).expect("input count fits u16");
    out.extend_from_slice(&inputs.to_be_bytes());
    for input in &tx.inputs {
        out.extend_from_slice(&input.txid.0);
        out.extend_from_slice(&input.index.to_be_bytes());
    }
    let outputs = u16::try_from(tx.outputs.len()).expect("output count fits u16");
    out.extend_from_slice(&outputs.to_be_bytes());
    for output in &tx.outputs {
        out.extend_from_slice(&output.owner.0);
        out.extend_from_slice(&output.amount_minor.to_be_bytes());
        out.extend_from_slice(&output.programme.to_be_bytes());
    }
    let reference = u8::try_from(tx.reference.len()).expect("reference length fits u8");
    out.push(reference);
    out.extend_from_slice(&tx.reference);
}

#[must_use]
pub fn txid(tx: &Transaction) -> TxId {
    TxId(sha256(&tx_canonical_bytes(tx)))
}

/// What a signature covers: SHA-256 of a 4-byte domain (what is signed),
/// the protocol version, the chain id and the 32-byte message. The domain
/// keeps a signature of one kind from passing for another; the chain id
/// keeps one ledger's signatures from passing on another.
fn signed_message(domain: &[u8; 4], chain: &ChainId, message: &Hash32) -> Hash32 {
    let mut bytes = [0u8; 4 + 1 + 32 + 32];
    bytes[..4].copy_from_slice(domain);
    bytes[4] = PROTOCOL_VERSION;
    bytes[5..37].copy_from_slice(&chain.0);
    bytes[37..].copy_from_slice(message);
    sha256(&bytes)
}

/// What every witness of a transaction signs: "STLW", the version, the
/// chain id and the txid (a clawback's witnesses sign its authorisation
/// instead).
#[must_use]
pub fn witness_message(chain: &ChainId, txid: &TxId) -> Hash32 {
    signed_message(WITNESS_MAGIC, chain, &txid.0)
}

/// What the engine signs to hand a block's bytes to a replica
/// (`replica::ReplicatedBlock`): "STLR", the version, the chain id and the
/// SHA-256 of the bytes.
#[must_use]
pub fn replicated_block_message(chain: &ChainId, body_hash: &Hash32) -> Hash32 {
    signed_message(REPLICATED_BLOCK_MAGIC, chain, body_hash)
}

/// Leading bytes of a clawback authorisation.
pub const CLAWBACK_MAGIC: &[u8; 4] = b"STLC";

/// What a clawback's reference holds: the programme (u32 BE) and the end
/// of its validity the issuers authorised it after (u64 BE, unix ms).
pub const CLAWBACK_REFERENCE_BYTES: usize = 4 + 8;

/// What issuers sign to authorise the clawback of a programme: SHA-256 of
/// "STLC", the version, the chain id, the programme id (u32 BE), its
/// treasury (32 bytes) and its `valid_until` (u64 BE, unix ms). One
/// authorisation covers every batch of that programme's clawback, so the
/// engine can build the batches itself; it can only ever move that
/// programme's expired leftovers to that treasury, on that ledger, and
/// lapses if the programme's validity is changed.
#[must_use]
pub fn clawback_authorization(
    chain: &ChainId,
    programme: ProgrammeId,
    treasury: &Address,
    valid_until_ms: u64,
) -> Hash32 {
    let mut bytes = Vec::with_capacity(4 + 1 + 32 + 4 + 32 + 8);
    bytes.extend_from_slice(CLAWBACK_MAGIC);
    bytes.push(PROTOCOL_VERSION);
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&programme.to_be_bytes());
    bytes.extend_from_slice(&treasury.0);
    bytes.extend_from_slice(&valid_until_ms.to_be_bytes());
    sha256(&bytes)
}

/// A clawback transaction's reference: the programme and the `valid_until`
/// its authorisation names.
#[must_use]
pub fn clawback_reference(programme: ProgrammeId, valid_until_ms: u64) -> Vec<u8> {
    let mut reference = programme.to_be_bytes().to_vec();
    reference.extend_from_slice(&valid_until_ms.to_be_bytes());
    reference
}

/// The programme a clawback transaction claws back and the `valid_until`
/// it was authorised after, from its reference; `None` for a reference of
/// another shape or programme 0.
#[must_use]
pub fn clawback_terms(tx: &Transaction) -> Option<(ProgrammeId, u64)> {
    let bytes: &[u8; CLAWBACK_REFERENCE_BYTES] = tx.reference.as_slice().try_into().ok()?;
    let programme = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    let valid_until_ms = u64::from_be_bytes(bytes[4..].try_into().expect("8 bytes"));
    (programme != 0).then_some((programme, valid_until_ms))
}

/// The message a clawback's witnesses sign, from the transaction alone: its
/// reference names the programme and `valid_until`, its one output the
/// treasury. `None` when the transaction has not that shape.
#[must_use]
pub fn clawback_message(chain: &ChainId, tx: &Transaction) -> Option<Hash32> {
    let (programme, valid_until_ms) = clawback_terms(tx)?;
    let [treasury] = tx.outputs.as_slice() else { return None };
    Some(clawback_authorization(chain, programme, &treasury.owner, valid_until_ms))
}

/// Leading bytes of a claim: a mint paying one person one period's benefit.
pub const CLAIM_MAGIC: &[u8; 4] = b"STLP";

/// The version byte of a claim tag: fixed, not the protocol version, so
/// that a claim's reference (and so "paid once a period") survives a
/// protocol upgrade.
pub const CLAIM_TAG_VERSION: u8 = 2;

/// What a claim mint's reference holds: "STLP", the programme (u32 BE), the
/// period (u32 BE, `YYYYMM`) and the claim tag (32 bytes).
pub const CLAIM_REFERENCE_BYTES: usize = 4 + 4 + 4 + 32;

/// The claim of one person for one period of one programme, as a mint's
/// reference carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimTerms {
    pub programme: ProgrammeId,
    pub period: u32,
    pub tag: Hash32,
}

/// The tag of a person's claim for a period of a programme: SHA-256 of
/// "STLP", `CLAIM_TAG_VERSION`, the programme (u32 BE), the period (u32 BE) and
/// the person reference. The ledger sees the tag, never the person
/// reference: one person's claims of two periods or programmes cannot be
/// linked from the chain, while the ledger, which knows whose wallet is
/// paid, recomputes the tag to check the claim names that wallet's person.
#[must_use]
pub fn claim_tag(programme: ProgrammeId, period: u32, person: &PersonRef) -> Hash32 {
    let mut bytes = Vec::with_capacity(4 + 1 + 4 + 4 + 32);
    bytes.extend_from_slice(CLAIM_MAGIC);
    bytes.push(CLAIM_TAG_VERSION);
    bytes.extend_from_slice(&programme.to_be_bytes());
    bytes.extend_from_slice(&period.to_be_bytes());
    bytes.extend_from_slice(&person.0);
    sha256(&bytes)
}

/// A claim mint's reference. Two claims of the same person, period and
/// programme carry the same reference whatever else differs, and a mint
/// reference pays once: that is what pays a person at most once a period.
#[must_use]
pub fn claim_reference(programme: ProgrammeId, period: u32, person: &PersonRef) -> Vec<u8> {
    let mut reference = Vec::with_capacity(CLAIM_REFERENCE_BYTES);
    reference.extend_from_slice(CLAIM_MAGIC);
    reference.extend_from_slice(&programme.to_be_bytes());
    reference.extend_from_slice(&period.to_be_bytes());
    reference.extend_from_slice(&claim_tag(programme, period, person));
    reference
}

/// The claim a mint reference makes, if it is one: exactly
/// `CLAIM_REFERENCE_BYTES` starting with "STLP".
#[must_use]
pub fn claim_terms(reference: &[u8]) -> Option<ClaimTerms> {
    let bytes: &[u8; CLAIM_REFERENCE_BYTES] = reference.try_into().ok()?;
    if &bytes[..4] != CLAIM_MAGIC {
        return None;
    }
    Some(ClaimTerms {
        programme: u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
        period: u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
        tag: bytes[12..].try_into().expect("32 bytes"),
    })
}

/// Leading bytes of a recovery authorisation.
pub const RECOVERY_MAGIC: &[u8; 4] = b"STLV";

/// What a recovery's reference holds: the lost wallet, then its
/// replacement (32 bytes each).
pub const RECOVERY_REFERENCE_BYTES: usize = 32 + 32;

/// What issuers sign to authorise the recovery of a lost wallet: SHA-256 of
/// "STLV", the version, the chain id, the lost wallet and the replacement.
/// One authorisation covers every batch of that recovery, so the engine can
/// build the batches itself; it can only ever move the lost wallet's
/// earmarked money to that replacement, on that ledger.
#[must_use]
pub fn recovery_authorization(chain: &ChainId, lost: &Address, replacement: &Address) -> Hash32 {
    let mut bytes = Vec::with_capacity(4 + 1 + 32 + 32 + 32);
    bytes.extend_from_slice(RECOVERY_MAGIC);
    bytes.push(PROTOCOL_VERSION);
    bytes.extend_from_slice(&chain.0);
    bytes.extend_from_slice(&lost.0);
    bytes.extend_from_slice(&replacement.0);
    sha256(&bytes)
}

/// A recovery transaction's reference: the lost wallet and its replacement.
#[must_use]
pub fn recovery_reference(lost: &Address, replacement: &Address) -> Vec<u8> {
    [lost.0, replacement.0].concat()
}

/// The lost wallet and the replacement a recovery's reference names.
#[must_use]
pub fn recovery_terms(tx: &Transaction) -> Option<(Address, Address)> {
    let bytes: &[u8; RECOVERY_REFERENCE_BYTES] = tx.reference.as_slice().try_into().ok()?;
    Some((Address::from_slice(&bytes[..32])?, Address::from_slice(&bytes[32..])?))
}

/// The message a recovery's witnesses sign, from its reference alone.
#[must_use]
pub fn recovery_message(chain: &ChainId, tx: &Transaction) -> Option<Hash32> {
    let (lost, replacement) = recovery_terms(tx)?;
    Some(recovery_authorization(chain, &lost, &replacement))
}

/// The stored form: canonical bytes, then a witness count (u8) and the
/// witnesses (public key, signature).
#[must_use]
pub fn tx_record_bytes(tx: &Transaction) -> Vec<u8> {
    let mut out = tx_canonical_bytes(tx);
    let witnesses = u8::try_from(tx.witnesses.len()).expect("witness count fits u8");
    out.push(witnesses);
    for witness in &tx.witnesses {
        out.extend_from_slice(&witness.public_key.0);
        out.extend_from_slice(&witness.signature);
    }
    out
}

/// Why bytes are not a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("bad magic")]
    BadMagic,
    #[error("unknown transaction kind {0}")]
    UnknownKind(u8),
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated(self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

/// Decodes a stored record (`tx_record_bytes`).
///
/// # Errors
/// When the bytes are not exactly one record.
pub fn decode_tx_record(bytes: &[u8]) -> Result<Transaction, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != TX_MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let version = r.u8()?;
    let kind_byte = r.u8()?;
    let kind = TxKind::from_u8(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
    let input_count = usize::from(r.u16()?);
    let mut inputs = Vec::with_capacity(input_count.min(bytes.len() / INPUT_BYTES));
    for _ in 0..input_count {
        inputs.push(OutPoint { txid: TxId(r.array()?), index: r.u32()? });
    }
    let output_count = usize::from(r.u16()?);
    let mut outputs = Vec::with_capacity(output_count.min(bytes.len() / OUTPUT_BYTES));
    for _ in 0..output_count {
        outputs.push(Output { owner: Address(r.array()?), amount_minor: r.u64()?, programme: r.u32()? });
    }
    let reference_len = usize::from(r.u8()?);
    let reference = r.take(reference_len)?.to_vec();
    let witness_count = usize::from(r.u8()?);
    let mut witnesses = Vec::with_capacity(witness_count);
    for _ in 0..witness_count {
        witnesses.push(Witness { public_key: Address(r.array()?), signature: r.array()? });
    }
    if r.at != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - r.at));
    }
    Ok(Transaction { version, kind, inputs, outputs, reference, witnesses })
}

/// A block header: what the engine signs, and what a receipt proves against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockHeader {
    pub height: u64,
    pub previous_hash: Hash32,
    pub merkle_root: Hash32,
    pub first_sequence: u64,
    pub tx_count: u32,
    pub time_unix_ms: u64,
    pub minted_total_minor: u64,
    pub burned_total_minor: u64,
}

pub const BLOCK_VERSION: u8 = PROTOCOL_VERSION;
pub const HEADER_BYTES: usize = 4 + 1 + 8 + 32 + 32 + 8 + 4 + 8 + 8 + 8;

impl BlockHeader {
    /// Block 0 of a ledger: it commits to the genesis (its Merkle root is the
    /// genesis hash) and holds nothing.
    #[must_use]
    pub fn genesis(genesis: &Genesis, time_unix_ms: u64) -> Self {
        Self {
            height: 0,
            previous_hash: [0; 32],
            merkle_root: genesis.hash(),
            first_sequence: 1,
            tx_count: 0,
            time_unix_ms,
            minted_total_minor: 0,
            burned_total_minor: 0,
        }
    }

    #[must_use]
    pub fn canonical_bytes(&self) -> [u8; HEADER_BYTES] {
        let mut out = Vec::with_capacity(HEADER_BYTES);
        out.extend_from_slice(BLOCK_MAGIC);
        out.push(BLOCK_VERSION);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.previous_hash);
        out.extend_from_slice(&self.merkle_root);
        out.extend_from_slice(&self.first_sequence.to_be_bytes());
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out.extend_from_slice(&self.time_unix_ms.to_be_bytes());
        out.extend_from_slice(&self.minted_total_minor.to_be_bytes());
        out.extend_from_slice(&self.burned_total_minor.to_be_bytes());
        out.try_into().expect("header is HEADER_BYTES long")
    }

    /// # Errors
    /// When the bytes are not one canonical header.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != BLOCK_MAGIC || r.u8()? != BLOCK_VERSION {
            return Err(DecodeError::BadMagic);
        }
        let header = Self {
            height: r.u64()?,
            previous_hash: r.array()?,
            merkle_root: r.array()?,
            first_sequence: r.u64()?,
            tx_count: r.u32()?,
            time_unix_ms: r.u64()?,
            minted_total_minor: r.u64()?,
            burned_total_minor: r.u64()?,
        };
        if r.at != bytes.len() {
            return Err(DecodeError::Trailing(bytes.len() - r.at));
        }
        Ok(header)
    }

    #[must_use]
    pub fn hash(&self) -> Hash32 {
        sha256(&self.canonical_bytes())
    }

    /// What the engine signs for this header: "STLH", the version, the
    /// chain id and the header's hash. Block 0's hash is the chain id, so
    /// block 0 signs its own hash as the chain.
    #[must_use]
    pub fn signing_message(&self, chain: &ChainId) -> Hash32 {
        signed_message(HEADER_SIGNATURE_MAGIC, chain, &self.hash())
    }

    /// The chain id of the ledger whose block 0 this is.
    #[must_use]
    pub fn chain_id(&self) -> ChainId {
        ChainId(self.hash())
    }

    /// The sequence number the transaction after this block will get.
    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.first_sequence + u64::from(self.tx_count)
    }
}

/// The genesis parameters, fixed for the life of a ledger.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Genesis {
    pub currency: String,
    pub exponent: u32,
    pub issuer_keys: Vec<Address>,
    pub issuer_threshold: u32,
    pub engine_key: Address,
}

impl Genesis {
    /// # Panics
    /// When the parameters exceed their fields; `Config` validates first.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(GENESIS_MAGIC);
        out.push(PROTOCOL_VERSION);
        out.push(u8::try_from(self.currency.len()).expect("currency code fits"));
        out.extend_from_slice(self.currency.as_bytes());
        out.push(u8::try_from(self.exponent).expect("exponent fits"));
        out.push(u8::try_from(self.issuer_threshold).expect("threshold fits"));
        out.push(u8::try_from(self.issuer_keys.len()).expect("issuer count fits"));
        for key in &self.issuer_keys {
            out.extend_from_slice(&key.0);
        }
        out.extend_from_slice(&self.engine_key.0);
        out
    }

    #[must_use]
    pub fn hash(&self) -> Hash32 {
        sha256(&self.canonical_bytes())
    }

    /// The genesis in its canonical bytes (as a data file stores it).
    ///
    /// # Errors
    /// Bytes that are not exactly one canonical genesis of this version.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != GENESIS_MAGIC || r.u8()? != PROTOCOL_VERSION {
            return Err(DecodeError::BadMagic);
        }
        let currency_len = usize::from(r.u8()?);
        let currency = String::from_utf8(r.take(currency_len)?.to_vec()).map_err(|_| DecodeError::BadMagic)?;
        let exponent = u32::from(r.u8()?);
        let issuer_threshold = u32::from(r.u8()?);
        let issuers = usize::from(r.u8()?);
        let issuer_keys = (0..issuers).map(|_| r.array().map(Address)).collect::<Result<Vec<_>, _>>()?;
        let engine_key = Address(r.array()?);
        if r.at != bytes.len() {
            return Err(DecodeError::Trailing(bytes.len() - r.at));
        }
        Ok(Self { currency, exponent, issuer_keys, issuer_threshold, engine_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transaction {
        Transaction {
            version: crate::core::types::TX_VERSION,
            kind: TxKind::Transfer,
            inputs: vec![OutPoint { txid: TxId([7; 32]), index: 3 }],
            outputs: vec![Output { owner: Address([9; 32]), amount_minor: 1234, programme: 5 }],
            reference: b"inv-1".to_vec(),
            witnesses: vec![Witness { public_key: Address([1; 32]), signature: [2; 64] }],
        }
    }

    #[test]
    fn record_round_trips() {
        let tx = sample();
        assert_eq!(decode_tx_record(&tx_record_bytes(&tx)).unwrap(), tx);
    }

    #[test]
    fn witnesses_do_not_change_the_txid() {
        let tx = sample();
        let mut other = tx.clone();
        other.witnesses.clear();
        assert_eq!(txid(&tx), txid(&other));
        other.reference.push(b'x');
        assert_ne!(txid(&tx), txid(&other));
    }

    #[test]
    fn every_truncation_of_a_record_is_refused() {
        let bytes = tx_record_bytes(&sample());
        for len in 0..bytes.len() {
            assert!(decode_tx_record(&bytes[..len]).is_err(), "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_tx_record(&longer), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn a_transaction_at_every_limit_fits_in_one_grpc_message() {
        // Protobuf framing adds at most a few bytes per field on top of the
        // stored record; double it to be safe.
        assert!(2 * record_bytes_max() < crate::core::limits::GRPC_MESSAGE_BYTES_MAX);
    }

    #[test]
    fn genesis_round_trips() {
        let genesis = Genesis {
            currency: "HKD".to_owned(),
            exponent: 2,
            issuer_keys: vec![Address([3; 32]), Address([4; 32])],
            issuer_threshold: 2,
            engine_key: Address([5; 32]),
        };
        assert_eq!(Genesis::decode(&genesis.canonical_bytes()).unwrap(), genesis);
        let mut version_1 = genesis.canonical_bytes();
        version_1[4] = 1;
        assert_eq!(Genesis::decode(&version_1), Err(DecodeError::BadMagic));
    }

    #[test]
    fn each_signed_message_names_its_domain_and_chain() {
        let txid = TxId([9; 32]);
        let (a, b) = (ChainId([1; 32]), ChainId([2; 32]));
        assert_ne!(witness_message(&a, &txid), witness_message(&b, &txid), "another chain, another message");
        // The same 32 bytes signed as a header or a replicated block are
        // other messages: no signature of one kind passes for another.
        assert_ne!(witness_message(&a, &txid), replicated_block_message(&a, &txid.0));
        let treasury = Address([7; 32]);
        let authorisation = clawback_authorization(&a, 1001, &treasury, 5);
        assert_ne!(authorisation, clawback_authorization(&b, 1001, &treasury, 5));
        assert_ne!(authorisation, clawback_authorization(&a, 1001, &Address([8; 32]), 5));
        assert_ne!(authorisation, clawback_authorization(&a, 1001, &treasury, 6));
        assert_ne!(authorisation, clawback_authorization(&a, 1002, &treasury, 5));
        // A recovery's authorisation names its ledger, both wallets in their
        // order, and is no other kind of message.
        let (lost, replacement) = (Address([3; 32]), Address([4; 32]));
        let recovery = recovery_authorization(&a, &lost, &replacement);
        assert_ne!(recovery, recovery_authorization(&b, &lost, &replacement));
        assert_ne!(recovery, recovery_authorization(&a, &replacement, &lost));
        assert_ne!(recovery, witness_message(&a, &TxId(sha256(&[lost.0, replacement.0].concat()))));
    }

    #[test]
    fn a_claim_reference_names_its_programme_and_period_and_hides_the_person() {
        let person = PersonRef([5; 32]);
        let reference = claim_reference(1001, 202_612, &person);
        assert_eq!(reference.len(), CLAIM_REFERENCE_BYTES);
        let terms = claim_terms(&reference).unwrap();
        assert_eq!((terms.programme, terms.period), (1001, 202_612));
        assert_eq!(terms.tag, claim_tag(1001, 202_612, &person));
        assert!(!reference.windows(32).any(|w| w == person.0), "the person reference is not on the ledger");
        // Another period, programme or person is another claim.
        assert_ne!(reference, claim_reference(1001, 202_701, &person));
        assert_ne!(reference, claim_reference(1002, 202_612, &person));
        assert_ne!(reference, claim_reference(1001, 202_612, &PersonRef([6; 32])));
        // Only exactly that shape is a claim.
        assert_eq!(claim_terms(&reference[..CLAIM_REFERENCE_BYTES - 1]), None);
        assert_eq!(claim_terms(b"disb:1001:row-7"), None);
        let mut other_magic = reference.clone();
        other_magic[0] = b'X';
        assert_eq!(claim_terms(&other_magic), None);
    }

    #[test]
    fn header_round_trips() {
        let header = BlockHeader {
            height: 4,
            previous_hash: [1; 32],
            merkle_root: [2; 32],
            first_sequence: 10,
            tx_count: 3,
            time_unix_ms: 99,
            minted_total_minor: 1000,
            burned_total_minor: 1,
        };
        assert_eq!(BlockHeader::decode(&header.canonical_bytes()).unwrap(), header);
    }
}
