//! The stateless verify stage: everything that can be checked without reading
//! the ledger (shape, limits, amounts, duplicates, overflow, signatures). It is
//! pure, so it runs on every core in parallel before the single-writer
//! sequencer sees the transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use k256::schnorr::VerifyingKey;

use crate::core::batch::{self, SignatureCheck};
use crate::core::crypto;
use crate::core::encoding;
use crate::core::limits::{
    BATCH_SIGNATURES_MAX, TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX,
};
use crate::core::refusal::{Reason, Refusal};
use crate::core::types::{Address, ChainId, TX_VERSION, Transaction, TxId, TxKind};

/// A transaction whose shape and signatures have been checked, with its txid.
#[derive(Clone, Debug)]
pub struct VerifiedTx {
    pub tx: Transaction,
    pub txid: TxId,
}

/// Addresses already lifted to their curve point, so that a merchant paid
/// or a wallet paying a thousand times is lifted once (a field square root,
/// about 5 us, a tenth of the verify stage): an output's address is then
/// known valid, a witness's signature is verified against the point.
/// Sharded to keep the verify threads off each other's locks; a shard that
/// reaches its bound is emptied, which costs only lifts again.
pub struct KnownKeys {
    shards: Vec<Mutex<HashMap<Address, VerifyingKey>>>,
}

const KNOWN_KEYS_SHARDS: usize = 16;
/// Addresses one shard remembers (the 32-byte address, its point and the
/// map's overhead: about 150 bytes each, 40 MB for all shards at most).
pub const KNOWN_KEYS_PER_SHARD_MAX: usize = 16 * 1024;

impl Default for KnownKeys {
    fn default() -> Self {
        Self { shards: (0..KNOWN_KEYS_SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl KnownKeys {
    fn shard(&self, address: &Address) -> &Mutex<HashMap<Address, VerifyingKey>> {
        &self.shards[usize::from(address.0[0]) % KNOWN_KEYS_SHARDS]
    }

    /// The curve point of `address`, lifting it only if not known; `None`
    /// when it is not on the curve.
    fn lifted(&self, address: &Address) -> Option<VerifyingKey> {
        let shard = self.shard(address);
        if let Some(key) = shard.lock().expect("not poisoned").get(address) {
            return Some(*key);
        }
        let key = crypto::lift(address)?;
        let mut known = shard.lock().expect("not poisoned");
        if known.len() >= KNOWN_KEYS_PER_SHARD_MAX {
            known.clear();
        }
        known.insert(*address, key);
        Some(key)
    }

    /// Whether `address` is on the curve.
    fn is_valid(&self, address: &Address) -> bool {
        self.lifted(address).is_some()
    }
}

/// Checks everything about `tx` that does not depend on ledger state, for
/// the ledger `chain`.
///
/// # Errors
/// The first problem found, as a refusal the submitter can act on.
pub fn verify(tx: Transaction, chain: &ChainId) -> Result<VerifiedTx, Refusal> {
    verify_with(tx, &KnownKeys::default(), chain)
}

/// `verify`, remembering valid addresses in `known` across calls.
///
/// # Errors
/// The first problem found, as a refusal the submitter can act on.
pub fn verify_with(tx: Transaction, known: &KnownKeys, chain: &ChainId) -> Result<VerifiedTx, Refusal> {
    let signed = Signed::of(tx, chain)?;
    signed.verify_singly(signed.tx.witnesses.iter().map(|w| known.lifted(&w.public_key)), chain)?;
    signed.pays_valid_keys(known)
}

/// `verify_with` for many transactions, their signatures checked in BIP340
/// batches (`core::batch`): the answer for each
/// transaction, in order, is the one `verify_with` gives it. The
/// transactions of a batch that fails are verified again signature by
/// signature, with the keys already lifted, to name the bad ones.
pub fn verify_batched(txs: Vec<Transaction>, known: &KnownKeys, chain: &ChainId) -> Vec<Result<VerifiedTx, Refusal>> {
    let mut answers: Vec<Option<Result<VerifiedTx, Refusal>>> = Vec::with_capacity(txs.len());
    // Transactions whose structure passed and whose witness keys all lift,
    // with their keys: the ones batched.
    let mut pending: Vec<(usize, Signed, Vec<VerifyingKey>)> = Vec::with_capacity(txs.len());
    for tx in txs {
        let signed = match Signed::of(tx, chain) {
            Ok(signed) => signed,
            Err(refusal) => {
                answers.push(Some(Err(refusal)));
                continue;
            }
        };
        let keys: Option<Vec<VerifyingKey>> = signed.tx.witnesses.iter().map(|w| known.lifted(&w.public_key)).collect();
        match keys {
            Some(keys) => {
                pending.push((answers.len(), signed, keys));
                answers.push(None);
            }
            None => {
                let keys = signed.tx.witnesses.iter().map(|w| known.lifted(&w.public_key));
                let answer = signed.verify_singly(keys, chain);
                answers.push(Some(answer.and_then(|()| signed.pays_valid_keys(known))));
            }
        }
    }
    // Each batched transaction's verdict: whether its batch held.
    let mut verdicts: Vec<Option<bool>> = vec![None; answers.len()];
    for group in batches(&pending) {
        let checks: Vec<SignatureCheck<'_>> = group
            .iter()
            .flat_map(|(_, signed, keys)| {
                keys.iter().zip(&signed.tx.witnesses).map(|(key, witness)| SignatureCheck {
                    key,
                    message: &signed.message,
                    signature: &witness.signature,
                })
            })
            .collect();
        let all_valid = batch::verify_batch(&checks);
        for (index, _, _) in group {
            verdicts[*index] = Some(all_valid);
        }
    }
    for (index, signed, keys) in pending {
        let signatures_hold = match verdicts[index] {
            Some(true) => Ok(()),
            _ => signed.verify_singly(keys.into_iter().map(Some), chain),
        };
        answers[index] = Some(signatures_hold.and_then(|()| signed.pays_valid_keys(known)));
    }
    answers.into_iter().map(|answer| answer.expect("every transaction answered")).collect()
}

/// `pending` cut into runs of at most `BATCH_SIGNATURES_MAX` signatures,
/// a transaction never split.
fn batches<T>(pending: &[(usize, Signed, T)]) -> Vec<&[(usize, Signed, T)]> {
    let mut groups = Vec::new();
    let (mut start, mut signatures) = (0, 0);
    for (at, (_, signed, _)) in pending.iter().enumerate() {
        let count = signed.tx.witnesses.len();
        if signatures + count > BATCH_SIGNATURES_MAX {
            groups.push(&pending[start..at]);
            (start, signatures) = (at, 0);
        }
        signatures += count;
    }
    if start < pending.len() {
        groups.push(&pending[start..]);
    }
    groups
}

/// A transaction whose structure passed, with its txid and the message its
/// witnesses sign.
struct Signed {
    tx: Transaction,
    txid: TxId,
    message: [u8; 32],
    /// What the witnesses sign, for the refusal.
    what: &'static str,
}

impl Signed {
    fn of(tx: Transaction, chain: &ChainId) -> Result<Self, Refusal> {
        check_structure(&tx)?;
        let txid = encoding::txid(&tx);
        // A clawback's issuers sign the programme's clawback authorisation;
        // every other witness signs the txid. Both name the chain: a
        // signature made for another ledger does not verify here.
        let (message, what) = match tx.kind {
            TxKind::Clawback => match encoding::clawback_message(chain, &tx) {
                Some(message) => (message, "the clawback authorisation"),
                None => (encoding::witness_message(chain, &txid), "the witness message"),
            },
            TxKind::Recovery => match encoding::recovery_message(chain, &tx) {
                Some(message) => (message, "the recovery authorisation"),
                None => (encoding::witness_message(chain, &txid), "the witness message"),
            },
            _ => (encoding::witness_message(chain, &txid), "the witness message"),
        };
        Ok(Self { tx, txid, message, what })
    }

    /// Each witness's signature checked on its own, in order, against its
    /// key (`None`: not on the curve); the first that fails is refused.
    fn verify_singly(&self, keys: impl Iterator<Item = Option<VerifyingKey>>, chain: &ChainId) -> Result<(), Refusal> {
        for (witness, key) in self.tx.witnesses.iter().zip(keys) {
            if !key.is_some_and(|key| crypto::verify_lifted(&key, &self.message, &witness.signature)) {
                return Err(Refusal::new(
                    Reason::BadSignature,
                    format!(
                        "witness for {} does not sign {} of {} for chain {chain}",
                        witness.public_key, self.what, self.txid
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The last check, once every witness signed: each output pays a key
    /// on the curve. A witness key that verified is on the curve: change
    /// back to a payer needs no second look.
    fn pays_valid_keys(self, known: &KnownKeys) -> Result<VerifiedTx, Refusal> {
        let Self { tx, txid, .. } = self;
        for (index, output) in tx.outputs.iter().enumerate() {
            if !tx.witnesses.iter().any(|w| w.public_key == output.owner) && !known.is_valid(&output.owner) {
                return Err(bad_address(index, &output.owner));
            }
        }
        Ok(VerifiedTx { tx, txid })
    }
}

fn bad_address(index: usize, owner: &Address) -> Refusal {
    Refusal::new(Reason::BadAddress, format!("output {index} pays {owner} which is not a secp256k1 x-only key"))
}

/// Limits and structure, cheapest checks first, and that every output pays
/// a key on the curve.
///
/// # Errors
/// The first violation found.
pub fn check_shape(tx: &Transaction) -> Result<(), Refusal> {
    check_structure(tx)?;
    match tx.outputs.iter().position(|o| !crypto::is_valid_key(&o.owner)) {
        Some(index) => Err(bad_address(index, &tx.outputs[index].owner)),
        None => Ok(()),
    }
}

/// Limits and structure, without the (costly) curve check of addresses.
fn check_structure(tx: &Transaction) -> Result<(), Refusal> {
    if tx.version != TX_VERSION {
        return Err(Refusal::new(
            Reason::UnsupportedVersion,
            format!("version {} (this engine speaks {TX_VERSION})", tx.version),
        ));
    }
    check_counts(tx.inputs.len(), tx.outputs.len(), tx.witnesses.len())?;
    if tx.reference.len() > TX_REFERENCE_BYTES_MAX {
        return Err(Refusal::new(
            Reason::ReferenceTooLong,
            format!("reference of {} bytes, at most {TX_REFERENCE_BYTES_MAX}", tx.reference.len()),
        ));
    }
    match tx.kind {
        TxKind::Mint => {
            if !tx.inputs.is_empty() {
                return Err(Refusal::new(Reason::MintHasInputs, "a mint creates money and spends nothing"));
            }
            if tx.reference.is_empty() {
                return Err(Refusal::new(
                    Reason::MintNeedsReference,
                    "a mint needs a reference (e.g. disbursement row id) that makes its txid unique",
                ));
            }
        }
        TxKind::Clawback => {
            if tx.inputs.is_empty() {
                return Err(Refusal::new(Reason::NoInputs, "a clawback moves at least one output"));
            }
            if tx.outputs.len() != 1 {
                return Err(Refusal::new(Reason::Malformed, "a clawback has exactly one output, to the treasury"));
            }
            if encoding::clawback_terms(tx).is_none() {
                return Err(Refusal::new(
                    Reason::Malformed,
                    "a clawback's reference is the programme id (4 bytes, big-endian, not 0) and the programme's \
                     valid_until (8 bytes, big-endian, unix ms)",
                ));
            }
        }
        TxKind::Refund => {
            if tx.inputs.is_empty() {
                return Err(Refusal::new(Reason::NoInputs, "a refund spends at least one of the merchant's outputs"));
            }
            if tx.reference.len() != 32 {
                return Err(Refusal::new(
                    Reason::Malformed,
                    format!(
                        "a refund's reference is the refunded payment's txid (32 bytes), not {} bytes",
                        tx.reference.len()
                    ),
                ));
            }
        }
        TxKind::Recovery => {
            if tx.inputs.is_empty() {
                return Err(Refusal::new(Reason::NoInputs, "a recovery moves at least one output"));
            }
            if encoding::recovery_terms(tx).is_none() {
                return Err(Refusal::new(
                    Reason::Malformed,
                    "a recovery's reference is the lost wallet then its replacement (32 bytes each)",
                ));
            }
        }
        TxKind::Transfer | TxKind::Redeem => {
            if tx.inputs.is_empty() {
                return Err(Refusal::new(Reason::NoInputs, "a transfer spends at least one input"));
            }
        }
    }
    // A redemption may burn everything it spends.
    if tx.outputs.is_empty() && tx.kind != TxKind::Redeem {
        return Err(Refusal::new(Reason::NoOutputs, "a transaction needs at least one output"));
    }
    if tx.witnesses.is_empty() {
        return Err(Refusal::new(Reason::NoWitnesses, "a transaction needs at least one witness"));
    }
    let mut seen_inputs = HashSet::with_capacity(tx.inputs.len());
    for input in &tx.inputs {
        if !seen_inputs.insert(*input) {
            return Err(Refusal::new(Reason::DuplicateInput, format!("input {input} appears twice")).with_input(*input));
        }
    }
    let mut total: u64 = 0;
    for (index, output) in tx.outputs.iter().enumerate() {
        if output.amount_minor == 0 {
            return Err(Refusal::new(Reason::ZeroAmount, format!("output {index} has amount 0")));
        }
        total = total
            .checked_add(output.amount_minor)
            .ok_or_else(|| Refusal::new(Reason::AmountOverflow, "outputs add up to more than 2^64-1 minor units"))?;
    }
    let mut seen_keys = HashSet::with_capacity(tx.witnesses.len());
    for witness in &tx.witnesses {
        if !seen_keys.insert(witness.public_key) {
            return Err(Refusal::new(
                Reason::DuplicateWitness,
                format!("two witnesses for key {}", witness.public_key),
            ));
        }
    }
    Ok(())
}

/// The count limits, checkable before a transaction is even decoded.
///
/// # Errors
/// The first count over its limit.
pub fn check_counts(inputs: usize, outputs: usize, witnesses: usize) -> Result<(), Refusal> {
    if inputs > TX_INPUTS_MAX {
        return Err(Refusal::new(Reason::TooManyInputs, format!("{} inputs, at most {TX_INPUTS_MAX}", inputs)));
    }
    if outputs > TX_OUTPUTS_MAX {
        return Err(Refusal::new(Reason::TooManyOutputs, format!("{} outputs, at most {TX_OUTPUTS_MAX}", outputs)));
    }
    if witnesses > TX_WITNESSES_MAX {
        return Err(Refusal::new(
            Reason::TooManyWitnesses,
            format!("{} witnesses, at most {TX_WITNESSES_MAX}", witnesses),
        ));
    }
    Ok(())
}
