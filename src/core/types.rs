//! Domain types of the ledger. No I/O, no protobuf.

use std::fmt;

/// A 32-byte x-only secp256k1 public key (BIP340): who may spend an output.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 32]);

/// SHA-256 of a transaction's canonical encoding (docs/PROTOCOL.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TxId(pub [u8; 32]);

/// A 32-byte SHA-256 digest that is not a txid (block hashes, Merkle nodes).
pub type Hash32 = [u8; 32];

/// Which ledger something was signed for: the hash of the ledger's block 0,
/// which commits to its genesis parameters and the time it was created. Every
/// signature the protocol defines covers it (docs/PROTOCOL.md, "Chain id"),
/// so nothing signed for one ledger verifies on another that shares keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ChainId(pub [u8; 32]);

/// A person, as a welfare programme knows them without naming them: 32
/// bytes the programme administrator derives from a national identity
/// number with its own secret key (HMAC-SHA-256, `settled person-ref`).
/// The ledger never sees the number; docs/PRIVACY.md says who sees what.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonRef(pub [u8; 32]);

/// 0 is unrestricted money; any other id is an earmarked programme.
pub type ProgrammeId = u32;

/// Minor units of the ledger's one currency (e.g. fen for CNY).
pub type AmountMinor = u64;

/// A BIP340 signature.
pub type SignatureBytes = [u8; 64];

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OutPoint {
    pub txid: TxId,
    pub index: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Output {
    pub owner: Address,
    pub amount_minor: AmountMinor,
    pub programme: ProgrammeId,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum TxKind {
    Transfer = 1,
    Mint = 2,
    Redeem = 3,
    Clawback = 4,
    /// A merchant paying back all or part of a payment it took; its
    /// reference is the payment's txid.
    Refund = 5,
    /// A lost wallet's earmarked money moved to its owner's replacement
    /// wallet, authorised by the issuers; its reference names both.
    Recovery = 6,
}

impl TxKind {
    #[must_use]
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Transfer),
            2 => Some(Self::Mint),
            3 => Some(Self::Redeem),
            4 => Some(Self::Clawback),
            5 => Some(Self::Refund),
            6 => Some(Self::Recovery),
            _ => None,
        }
    }
}

/// A signature over the txid and the key it verifies against. The key travels
/// with the transaction so that every signature is checked before any state
/// is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Witness {
    pub public_key: Address,
    pub signature: SignatureBytes,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    pub version: u8,
    pub kind: TxKind,
    pub inputs: Vec<OutPoint>,
    pub outputs: Vec<Output>,
    pub reference: Vec<u8>,
    pub witnesses: Vec<Witness>,
}

/// The protocol version this engine speaks: of transactions, block headers,
/// the genesis and every signed message. Version 2 binds signatures to one
/// ledger (its chain id); version 1 did not and is refused.
pub const PROTOCOL_VERSION: u8 = 2;

/// The transaction encoding version this engine defines.
pub const TX_VERSION: u8 = PROTOCOL_VERSION;

macro_rules! hex_display {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        // Hex for people (JSON, TOML); the 32 raw bytes for the store's
        // binary records, where hex would double the size.
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&hex::encode(self.0))
                } else {
                    self.0.serialize(serializer)
                }
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                    Self::from_hex(&text).map_err(serde::de::Error::custom)
                } else {
                    <[u8; 32]>::deserialize(deserializer).map(Self)
                }
            }
        }
        impl $t {
            /// Parses 64 hex digits.
            ///
            /// # Errors
            /// When the text is not exactly 32 bytes of hex.
            pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut bytes)?;
                Ok(Self(bytes))
            }

            /// Takes exactly 32 bytes, or nothing.
            #[must_use]
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }
        }
    };
}

hex_display!(Address);
hex_display!(TxId);
hex_display!(ChainId);
hex_display!(PersonRef);

impl fmt::Display for OutPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.txid, self.index)
    }
}
