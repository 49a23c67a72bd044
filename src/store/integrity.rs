//! What the store checks of what it reads back, so that nothing damaged on
//! disk is ever served or built on (docs/SECURITY.md, "Integrity at rest").
//!
//! - A header is served only once its engine signature for this chain has
//!   held: the writer remembers the hash of every header it commits, and a
//!   header read back with that hash needs no second verification; any
//!   other is verified (and then remembered). A bounded memory
//!   (`VERIFIED_HEADERS_MAX`) costs only verifications again.
//! - A transaction record is served only when it hashes to the txid its
//!   block (or the caller's lookup) names, and a block's txids only when
//!   they hash to its header's Merkle root.
//! - At open, every block written since the last clean shutdown (and at
//!   least the last `OPEN_CHECK_RECENT_BLOCKS`) is checked whole
//!   (`Store::check_block`): hash links, signature, Merkle root, every
//!   transaction.
//!
//! A failed check is `StoreError::Damaged`: the hook the engine sets stops
//! it (fail-stop), and the caller answers `DATA_LOSS`, never the data.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::core::encoding::BlockHeader;
use crate::core::limits::VERIFIED_HEADERS_MAX;
use crate::core::receipt::SignedHeader;
use crate::core::types::{Address, ChainId, Hash32};

/// The hash a header is remembered by: of its canonical bytes and its
/// signature.
pub(super) fn signed_hash(signed: &SignedHeader) -> Hash32 {
    crate::core::crypto::sha256(&super::signed_header_bytes(signed))
}

/// What a damage report calls.
type DamageHook = Box<dyn Fn(&str) + Send + Sync>;

pub(super) struct Integrity {
    pub(super) chain: ChainId,
    pub(super) engine_key: Address,
    pub(super) genesis_hash: Hash32,
    verified: Mutex<HashMap<u64, Hash32>>,
    hook: OnceLock<DamageHook>,
}

impl Integrity {
    pub(super) fn new(chain: ChainId, engine_key: Address, genesis_hash: Hash32) -> Self {
        Self { chain, engine_key, genesis_hash, verified: Mutex::new(HashMap::new()), hook: OnceLock::new() }
    }

    /// Remembers a header this process wrote or verified, by the hash of
    /// its bytes and signature (a flip in either is then seen).
    pub(super) fn remember(&self, height: u64, hash: Hash32) {
        let mut verified = self.verified.lock().expect("not poisoned");
        if verified.len() >= VERIFIED_HEADERS_MAX {
            verified.clear();
        }
        verified.insert(height, hash);
    }

    /// Whether `signed`, read back at `height`, is a header the engine
    /// signed for this chain.
    pub(super) fn header_holds(&self, height: u64, signed: &SignedHeader) -> bool {
        let hash = signed_hash(signed);
        if self.verified.lock().expect("not poisoned").get(&height) == Some(&hash) {
            return true;
        }
        if signed.header.height != height || !signed.verify(&self.engine_key, &self.chain) {
            return false;
        }
        self.remember(height, hash);
        true
    }

    pub(super) fn set_hook(&self, hook: DamageHook) {
        let _ = self.hook.set(hook);
    }

    /// Reports damage: logs it, calls the hook, and returns the error.
    pub(super) fn damaged(&self, what: String) -> super::StoreError {
        tracing::error!(damage = %what, "the data file is damaged; nothing read from it is served");
        if let Some(hook) = self.hook.get() {
            hook(&what);
        }
        super::StoreError::Damaged(what)
    }
}

/// Bytes as they are stored where nothing else vouches for all of them (a
/// transaction's witnesses are outside its txid; a movement and a block's
/// registry changes are in no hash at all): followed by their SHA-256, so
/// that a flip anywhere in them is found when they are read back.
pub(super) fn sealed(bytes: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(bytes.len() + 32);
    stored.extend_from_slice(bytes);
    stored.extend_from_slice(&crate::core::crypto::sha256(bytes));
    stored
}

/// The bytes `sealed` stored, if they still match their SHA-256.
pub(super) fn unsealed(stored: &[u8]) -> Option<&[u8]> {
    let (bytes, hash) = stored.split_at_checked(stored.len().checked_sub(32)?)?;
    (crate::core::crypto::sha256(bytes).as_slice() == hash).then_some(bytes)
}

/// What checking one stored block found.
#[derive(Debug, Default)]
pub struct BlockCheck {
    /// The block's header, if it decoded.
    pub header: Option<BlockHeader>,
    pub transactions: u64,
    /// What its mints created.
    pub minted_minor: u64,
    /// Everything that did not hold.
    pub failures: Vec<String>,
}
