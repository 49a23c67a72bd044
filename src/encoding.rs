//! The canonical byte encodings that hashes and signatures cover, defined
//! byte by byte in docs/PROTOCOL.md. Never the protobuf bytes: a client in any
//! language rebuilds these from the transaction's fields.

use crate::crypto::sha256;
use crate::types::{Address, Hash32, OutPoint, Output, Transaction, TxId, TxKind, Witness};

/// Leading bytes of a canonical transaction.
pub const TX_MAGIC: &[u8; 4] = b"STLD";
/// Leading bytes of a canonical block header.
pub const BLOCK_MAGIC: &[u8; 4] = b"STLB";
/// Leading bytes of a canonical genesis.
pub const GENESIS_MAGIC: &[u8; 4] = b"STLG";

/// Bytes of one encoded input, output and witness.
pub const INPUT_BYTES: usize = 32 + 4;
pub const OUTPUT_BYTES: usize = 32 + 8 + 4;
#[cfg(test)]
const WITNESS_BYTES: usize = 32 + 64;

/// Largest stored record of a transaction within the limits.
#[cfg(test)]
fn record_bytes_max() -> usize {
    use crate::limits::{TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX};
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

/// Leading bytes of a clawback authorisation.
pub const CLAWBACK_MAGIC: &[u8; 4] = b"STLC";

/// What issuers sign to authorise the clawback of a programme: SHA-256 of
/// "STLC", version 1, the programme id (u32 BE). One authorisation covers
/// every batch of that programme's clawback, so the engine can build the
/// batches itself; it can only ever move that programme's expired leftovers
/// to its treasury.
#[must_use]
pub fn clawback_authorization(programme: crate::types::ProgrammeId) -> Hash32 {
    let mut bytes = CLAWBACK_MAGIC.to_vec();
    bytes.push(1);
    bytes.extend_from_slice(&programme.to_be_bytes());
    sha256(&bytes)
}

/// The programme a clawback transaction claws back: its reference is the
/// programme id, 4 bytes big-endian.
#[must_use]
pub fn clawback_programme(tx: &Transaction) -> Option<crate::types::ProgrammeId> {
    let bytes: [u8; 4] = tx.reference.as_slice().try_into().ok()?;
    Some(u32::from_be_bytes(bytes)).filter(|p| *p != 0)
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

pub const BLOCK_VERSION: u8 = 1;
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
        out.push(1);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transaction {
        Transaction {
            version: 1,
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
        assert!(2 * record_bytes_max() < crate::limits::GRPC_MESSAGE_BYTES_MAX);
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
