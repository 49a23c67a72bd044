//! Receipts: the proof, checkable offline with the engine's public key, that a
//! transaction is in a signed block at a given sequence.

use serde::{Deserialize, Serialize};

use crate::core::crypto;
use crate::core::encoding::BlockHeader;
use crate::core::merkle::{self, MerkleStep};
use crate::core::types::{Address, ChainId, SignatureBytes, TxId};

/// A block header and the engine's signature of it for one chain
/// (`BlockHeader::signing_message`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SignedHeader {
    pub header: BlockHeader,
    pub signature: SignatureBytes,
}

impl SignedHeader {
    /// Signs `header` for `chain` with the engine key.
    #[must_use]
    pub fn sign(header: BlockHeader, chain: &ChainId, engine: &crypto::Keypair) -> Self {
        Self { header, signature: engine.sign(&header.signing_message(chain)) }
    }

    /// Whether `engine_key` signed this header for `chain`.
    #[must_use]
    pub fn verify(&self, engine_key: &Address, chain: &ChainId) -> bool {
        crypto::verify(engine_key, &self.header.signing_message(chain), &self.signature)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Receipt {
    pub txid: TxId,
    pub sequence: u64,
    pub block: SignedHeader,
    pub index_in_block: u32,
    pub merkle_path: Vec<MerkleStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the block header is not signed by engine key {0} for chain {1}")]
    BadEngineSignature(Address, ChainId),
    #[error("the Merkle path does not lead from the txid to the block's Merkle root")]
    NotInBlock,
    #[error("the Merkle path does not prove position {0} in a block of {1} transactions")]
    WrongPosition(u32, u32),
    #[error("sequence {sequence} does not match position {index} of a block starting at {first}")]
    WrongSequence { sequence: u64, index: u32, first: u64 },
}

impl Receipt {
    /// Checks the receipt offline: the engine signed the header for `chain`,
    /// the txid is in the header's Merkle root at the stated position, and
    /// the sequence is the one that position holds.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify(&self, engine_key: &Address, chain: &ChainId) -> Result<(), ReceiptError> {
        if !self.block.verify(engine_key, chain) {
            return Err(ReceiptError::BadEngineSignature(*engine_key, *chain));
        }
        let header = &self.block.header;
        if merkle::root_from_path(&self.txid, &self.merkle_path) != header.merkle_root {
            return Err(ReceiptError::NotInBlock);
        }
        let position = merkle::index_from_path(&self.merkle_path, header.tx_count as usize);
        if position != Some(self.index_in_block as usize) {
            return Err(ReceiptError::WrongPosition(self.index_in_block, header.tx_count));
        }
        if header.first_sequence.checked_add(u64::from(self.index_in_block)) != Some(self.sequence) {
            return Err(ReceiptError::WrongSequence {
                sequence: self.sequence,
                index: self.index_in_block,
                first: header.first_sequence,
            });
        }
        Ok(())
    }
}

/// The JSON form of a receipt used by the CLI (`settled receipt verify`):
/// hashes, keys and signatures as lowercase hex.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReceiptJson {
    /// The ledger the receipt is for (hex); the engine signed the block for
    /// it. Absent in a receipt written without it: the verifier names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    pub txid: String,
    pub sequence: u64,
    pub index_in_block: u32,
    pub block: BlockJson,
    pub merkle_path: Vec<StepJson>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BlockJson {
    pub height: u64,
    pub previous_hash: String,
    pub merkle_root: String,
    pub first_sequence: u64,
    pub tx_count: u32,
    pub time_unix_ms: u64,
    pub minted_total_minor: u64,
    pub burned_total_minor: u64,
    pub hash: String,
    pub engine_signature: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StepJson {
    pub sibling: String,
    pub sibling_on_left: bool,
}

fn hex_array<const N: usize>(field: &str, text: &str) -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).map_err(|e| format!("{field}: {e}"))?;
    Ok(bytes)
}

impl ReceiptJson {
    /// The JSON form of `receipt` on `chain`.
    #[must_use]
    pub fn of(receipt: &Receipt, chain: &ChainId) -> Self {
        Self { chain_id: Some(chain.to_string()), ..Self::from(receipt) }
    }

    /// The chain id the JSON names, if any.
    ///
    /// # Errors
    /// A `chain_id` that is not 32 bytes of hex.
    pub fn chain(&self) -> Result<Option<ChainId>, String> {
        self.chain_id.as_deref().map(|text| ChainId::from_hex(text).map_err(|e| format!("chain_id: {e}"))).transpose()
    }
}

impl From<&Receipt> for ReceiptJson {
    fn from(receipt: &Receipt) -> Self {
        let h = &receipt.block.header;
        Self {
            chain_id: None,
            txid: receipt.txid.to_string(),
            sequence: receipt.sequence,
            index_in_block: receipt.index_in_block,
            block: BlockJson {
                height: h.height,
                previous_hash: hex::encode(h.previous_hash),
                merkle_root: hex::encode(h.merkle_root),
                first_sequence: h.first_sequence,
                tx_count: h.tx_count,
                time_unix_ms: h.time_unix_ms,
                minted_total_minor: h.minted_total_minor,
                burned_total_minor: h.burned_total_minor,
                hash: hex::encode(h.hash()),
                engine_signature: hex::encode(receipt.block.signature),
            },
            merkle_path: receipt
                .merkle_path
                .iter()
                .map(|s| StepJson { sibling: hex::encode(s.sibling), sibling_on_left: s.sibling_on_left })
                .collect(),
        }
    }
}

impl TryFrom<&ReceiptJson> for Receipt {
    type Error = String;

    fn try_from(json: &ReceiptJson) -> Result<Self, String> {
        let b = &json.block;
        let header = BlockHeader {
            height: b.height,
            previous_hash: hex_array("previous_hash", &b.previous_hash)?,
            merkle_root: hex_array("merkle_root", &b.merkle_root)?,
            first_sequence: b.first_sequence,
            tx_count: b.tx_count,
            time_unix_ms: b.time_unix_ms,
            minted_total_minor: b.minted_total_minor,
            burned_total_minor: b.burned_total_minor,
        };
        if hex_array::<32>("hash", &b.hash)? != header.hash() {
            return Err("block.hash is not the hash of the header fields".to_owned());
        }
        let merkle_path = json
            .merkle_path
            .iter()
            .map(|s| Ok(MerkleStep { sibling: hex_array("sibling", &s.sibling)?, sibling_on_left: s.sibling_on_left }))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            txid: TxId(hex_array("txid", &json.txid)?),
            sequence: json.sequence,
            block: SignedHeader { header, signature: hex_array("engine_signature", &b.engine_signature)? },
            index_in_block: json.index_in_block,
            merkle_path,
        })
    }
}
