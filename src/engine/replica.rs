//! Replaying a sealed block on another replica (the cluster's replicated log
//! of blocks): what the leader proposes is the block itself (its signed header,
//! its transactions in order with the terminal each came from, its registry
//! changes at their place among them), and a follower applies it through the
//! same ledger state machine and seal, then checks that it came to the very
//! header the leader signed. No second implementation of any rule: a
//! follower that disagrees with the leader's header has diverged and must
//! stop, not write.

use serde::{Deserialize, Serialize};

use crate::core::crypto::{self, Keypair, sha256};
use crate::core::encoding::{self, BlockHeader};
use crate::core::ledger::{Decline, Ledger, RefundCheck};
use crate::core::receipt::SignedHeader;
use crate::core::registry::RegistryChange;
use crate::core::types::{Address, ChainId};
use crate::core::verify::VerifiedTx;
use crate::engine::block_header;
use crate::store::{BlockRecord, decode_signed_header, signed_header_bytes};

/// Largest encoded block a replica accepts: a full block of transactions at
/// every limit (8,192 x 2,892 bytes of records) with room for its registry
/// changes.
pub const REPLICATED_BLOCK_BYTES_MAX: usize = 32 * 1024 * 1024;

/// A sealed block as a replica receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicatedBlock {
    pub signed: SignedHeader,
    /// Each transaction (with its witnesses) and the terminal that
    /// submitted it, if one did (movements name it).
    pub txs: Vec<(crate::core::types::Transaction, Option<String>)>,
    /// Registry changes, each after that many of the transactions.
    pub ops: Vec<(u32, RegistryChange)>,
}

/// The block's parts. The header's signature covers only the txids (through
/// the Merkle root), sequences, time and supply; the registry changes, their
/// positions, the terminals and the witnesses are covered by the engine's
/// second signature, over these bytes.
#[derive(Serialize, Deserialize)]
struct Body {
    header: Vec<u8>,
    txs: Vec<(Vec<u8>, Option<String>)>,
    ops: Vec<(u32, RegistryChange)>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    body: Vec<u8>,
    /// The engine's BIP340 signature of SHA-256(body) for the chain
    /// (`encoding::replicated_block_message`).
    signature: Vec<u8>,
}

/// Why a replica refused a block. Any of these means the replica must not
/// write the block, and (once applying began) must reopen its ledger from
/// the store before it goes on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("block encoding: {0}")]
    Encoding(String),
    #[error("the block's contents are not signed by the engine key")]
    Unsigned,
    #[error("block {height} does not follow the tip (height {tip_height})")]
    NotNext { height: u64, tip_height: u64 },
    #[error("block {0} is not signed by the engine key")]
    BadSignature(u64),
    #[error("transaction {index} of block {height} was not applied: {reason}")]
    Refused { height: u64, index: usize, reason: String },
    #[error("registry change {index} of block {height} was refused: {reason}")]
    OpRefused { height: u64, index: usize, reason: String },
    #[error("replaying block {height} came to another header: {what}")]
    Diverged { height: u64, what: String },
}

impl From<crate::store::SealedBlock> for ReplicatedBlock {
    fn from(block: crate::store::SealedBlock) -> Self {
        Self { signed: block.signed, txs: block.txs, ops: block.ops }
    }
}

impl ReplicatedBlock {
    /// The block the sequencer sealed, as it is proposed to the replicas.
    #[must_use]
    pub fn of(block: &BlockRecord) -> Self {
        Self {
            signed: block.signed,
            txs: block
                .txs
                .iter()
                .map(|(vtx, applied)| {
                    let terminal = applied.movements.iter().find_map(|(_, m)| m.terminal.clone());
                    (vtx.tx.clone(), terminal)
                })
                .collect(),
            ops: block.ops.clone(),
        }
    }

    /// Bytes for the replicated log, signed by the engine (the leader) for
    /// `chain`.
    ///
    /// # Panics
    /// Never for a block the sequencer sealed (every part serialises).
    #[must_use]
    pub fn encode(&self, engine: &Keypair, chain: &ChainId) -> Vec<u8> {
        let body = Body {
            header: signed_header_bytes(&self.signed),
            txs: self.txs.iter().map(|(tx, terminal)| (encoding::tx_record_bytes(tx), terminal.clone())).collect(),
            ops: self.ops.clone(),
        };
        let body = postcard::to_stdvec(&body).expect("a sealed block serialises");
        let signature = engine.sign(&encoding::replicated_block_message(chain, &sha256(&body))).to_vec();
        postcard::to_stdvec(&Wire { body, signature }).expect("bytes serialise")
    }

    /// The block in `bytes`, once the engine's signature over all of it for
    /// `chain` holds.
    ///
    /// # Errors
    /// Bytes that are not a block, larger than a block can be, or not
    /// signed by `engine_key` for `chain`.
    pub fn decode(bytes: &[u8], engine_key: &Address, chain: &ChainId) -> Result<Self, ReplayError> {
        if bytes.len() > REPLICATED_BLOCK_BYTES_MAX {
            return Err(ReplayError::Encoding(format!("{} bytes, more than a block holds", bytes.len())));
        }
        let wire: Wire = postcard::from_bytes(bytes).map_err(|e| ReplayError::Encoding(e.to_string()))?;
        let signature: [u8; 64] = wire.signature.as_slice().try_into().map_err(|_| ReplayError::Unsigned)?;
        if !crypto::verify(engine_key, &encoding::replicated_block_message(chain, &sha256(&wire.body)), &signature) {
            return Err(ReplayError::Unsigned);
        }
        let body: Body = postcard::from_bytes(&wire.body).map_err(|e| ReplayError::Encoding(e.to_string()))?;
        let signed = decode_signed_header(&body.header).map_err(|e| ReplayError::Encoding(e.to_string()))?;
        let txs = body
            .txs
            .into_iter()
            .map(|(record, terminal)| {
                encoding::decode_tx_record(&record)
                    .map(|tx| (tx, terminal))
                    .map_err(|e| ReplayError::Encoding(format!("transaction: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { signed, txs, ops: body.ops })
    }
}

/// Applies `block` on top of `tip` to `ledger` and returns what the store
/// must write, after checking that the replay sealed exactly the leader's
/// header (height, chain, Merkle root, sequences, time, supply).
///
/// # Errors
/// A block that does not follow `tip`, whose header is not signed by
/// `engine_key` for `chain` (its contents were checked by
/// `ReplicatedBlock::decode`), holds a transaction or registry change the
/// ledger refuses, or seals to another header. Past the first check the
/// ledger may hold part of the block: the caller reopens it from its store.
pub fn replay(
    ledger: &mut Ledger,
    tip: &SignedHeader,
    block: &ReplicatedBlock,
    engine_key: &Address,
    chain: &ChainId,
) -> Result<BlockRecord, ReplayError> {
    let header = block.signed.header;
    if header.height != tip.header.height + 1 || header.previous_hash != tip.header.hash() {
        return Err(ReplayError::NotNext { height: header.height, tip_height: tip.header.height });
    }
    if !block.signed.verify(engine_key, chain) {
        return Err(ReplayError::BadSignature(header.height));
    }
    let mut ops = block.ops.iter().enumerate().peekable();
    let mut applied = Vec::with_capacity(block.txs.len());
    for (index, (tx, terminal)) in block.txs.iter().enumerate() {
        while let Some((op_index, (_, op))) = ops.next_if(|(_, (before, _))| *before as usize <= index) {
            apply_op(ledger, header.height, op_index, op)?;
        }
        // The leader verified the signatures; the txid is recomputed, never
        // taken from the wire. It judged a refund against the payment it
        // names (read from its store); the replica applies what the refund
        // itself says.
        let vtx = VerifiedTx { txid: encoding::txid(tx), tx: tx.clone() };
        let mut done = ledger.apply_checked(&vtx, header.time_unix_ms, RefundCheck::Replayed).map_err(|decline| {
            ReplayError::Refused {
                height: header.height,
                index,
                reason: match decline {
                    Decline::Refused(refusal) => refusal.to_string(),
                    Decline::InputMissing(input) => format!("input {input} is not unspent"),
                },
            }
        })?;
        if let Some(terminal) = terminal {
            for (_, movement) in &mut done.movements {
                movement.terminal = Some(terminal.clone());
            }
        }
        applied.push((vtx, done));
    }
    for (op_index, (_, op)) in ops {
        apply_op(ledger, header.height, op_index, op)?;
    }
    let replayed = block_header(ledger, tip, &applied, header.time_unix_ms);
    if replayed != header {
        return Err(ReplayError::Diverged { height: header.height, what: describe_difference(&replayed, &header) });
    }
    let stats = ledger.take_touched_stats();
    let bank_totals = ledger.take_touched_bank_totals();
    let merchants = ledger.take_touched_merchant_figures();
    let refunded = ledger.take_touched_refunds();
    Ok(BlockRecord {
        signed: block.signed,
        txs: applied,
        ops: block.ops.clone(),
        stats,
        merchants,
        bank_totals,
        refunded,
    })
}

fn apply_op(ledger: &mut Ledger, height: u64, index: usize, change: &RegistryChange) -> Result<(), ReplayError> {
    ledger.admin(change.op.clone()).map_err(|refusal| ReplayError::OpRefused {
        height,
        index,
        reason: refusal.to_string(),
    })
}

fn describe_difference(replayed: &BlockHeader, leader: &BlockHeader) -> String {
    let mut parts = Vec::new();
    if replayed.merkle_root != leader.merkle_root {
        parts.push("Merkle root".to_owned());
    }
    if replayed.first_sequence != leader.first_sequence || replayed.tx_count != leader.tx_count {
        parts.push(format!(
            "sequences {}+{} vs {}+{}",
            replayed.first_sequence, replayed.tx_count, leader.first_sequence, leader.tx_count
        ));
    }
    if (replayed.minted_total_minor, replayed.burned_total_minor)
        != (leader.minted_total_minor, leader.burned_total_minor)
    {
        parts.push(format!(
            "supply {}/{} vs {}/{}",
            replayed.minted_total_minor,
            replayed.burned_total_minor,
            leader.minted_total_minor,
            leader.burned_total_minor
        ));
    }
    if parts.is_empty() { "header fields".to_owned() } else { parts.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;
    use crate::core::crypto::Keypair;
    use crate::core::encoding::Genesis;
    use crate::engine::seal_block;

    struct Chain {
        issuers: Vec<Keypair>,
        engine: Keypair,
        genesis: Genesis,
        genesis_block: SignedHeader,
        id: ChainId,
    }

    fn chain() -> Chain {
        let issuers: Vec<Keypair> = (0..2).map(|_| Keypair::generate()).collect();
        let engine = Keypair::generate();
        let genesis = Genesis {
            currency: "CNY".to_owned(),
            exponent: 2,
            issuer_keys: issuers.iter().map(Keypair::address).collect(),
            issuer_threshold: 2,
            engine_key: engine.address(),
        };
        let header = BlockHeader::genesis(&genesis, 1);
        let id = header.chain_id();
        let genesis_block = SignedHeader::sign(header, &id, &engine);
        Chain { issuers, engine, genesis, genesis_block, id }
    }

    fn ledger(chain: &Chain) -> Ledger {
        Ledger::new(chain.genesis.clone(), Default::default(), 0, 0, 1).expect("empty ledger")
    }

    /// The leader's block 1: a mint and a payment from it.
    fn leader_block(chain: &Chain) -> BlockRecord {
        let mut leader = ledger(chain);
        let alice = Keypair::generate();
        let mint = client::mint(
            &chain.id,
            vec![client::output(alice.address(), 500, 0)],
            b"row",
            &[&chain.issuers[0], &chain.issuers[1]],
        );
        let pay = client::pay(&chain.id, &alice, client::output_of(&mint, 0), Keypair::generate().address(), 200, b"p");
        let mut txs = Vec::new();
        for tx in [mint, pay] {
            let vtx = crate::core::verify::verify(tx, &chain.id).expect("valid");
            let applied = leader.apply(&vtx, 10).expect("applies");
            txs.push((vtx, applied));
        }
        seal_block(&mut leader, &chain.genesis_block, txs, Vec::new(), 10, &chain.engine, &chain.id)
    }

    #[test]
    fn a_follower_replays_the_leaders_block_to_the_same_header_and_state() {
        let chain = chain();
        let block = leader_block(&chain);
        let bytes = ReplicatedBlock::of(&block).encode(&chain.engine, &chain.id);
        let wire = ReplicatedBlock::decode(&bytes, &chain.engine.address(), &chain.id).expect("round trip");
        assert_eq!(wire, ReplicatedBlock::of(&block));
        let mut follower = ledger(&chain);
        let replayed =
            replay(&mut follower, &chain.genesis_block, &wire, &chain.engine.address(), &chain.id).expect("replays");
        assert_eq!(replayed.signed, block.signed);
        assert_eq!(follower.totals().unspent_minor, 500);
        assert_eq!(follower.unspent_count(), 2);
        let sequences: Vec<u64> = replayed.txs.iter().map(|(_, a)| a.sequence).collect();
        assert_eq!(sequences, vec![1, 2]);
    }

    #[test]
    fn a_follower_refuses_a_block_that_is_not_the_leaders() {
        let chain = chain();
        let block = leader_block(&chain);
        let engine = chain.engine.address();
        let honest = ReplicatedBlock::of(&block);

        let mut missing = honest.clone();
        missing.txs.pop();
        let error =
            replay(&mut ledger(&chain), &chain.genesis_block, &missing, &engine, &chain.id).expect_err("diverges");
        assert!(matches!(error, ReplayError::Diverged { height: 1, .. }), "{error}");

        let mut reordered = honest.clone();
        reordered.txs.reverse();
        let error =
            replay(&mut ledger(&chain), &chain.genesis_block, &reordered, &engine, &chain.id).expect_err("refused");
        assert!(matches!(error, ReplayError::Refused { index: 0, .. }), "{error}");

        let mut forged = honest.clone();
        forged.signed.header.time_unix_ms += 1;
        let error =
            replay(&mut ledger(&chain), &chain.genesis_block, &forged, &engine, &chain.id).expect_err("unsigned");
        assert_eq!(error, ReplayError::BadSignature(1));

        let error = replay(&mut ledger(&chain), &block.signed, &honest, &engine, &chain.id).expect_err("not next");
        assert_eq!(error, ReplayError::NotNext { height: 1, tip_height: 1 });

        assert!(matches!(ReplicatedBlock::decode(b"garbage", &engine, &chain.id), Err(ReplayError::Encoding(_))));
        let oversized = vec![0u8; REPLICATED_BLOCK_BYTES_MAX + 1];
        assert!(matches!(ReplicatedBlock::decode(&oversized, &engine, &chain.id), Err(ReplayError::Encoding(_))));
        // What the header does not cover (terminals, registry changes,
        // witnesses) is covered by the engine's signature of the bytes.
        let mut renamed = honest.clone();
        renamed.txs[1].1 = Some("another-terminal".to_owned());
        let forged = renamed.encode(&Keypair::generate(), &chain.id);
        assert_eq!(ReplicatedBlock::decode(&forged, &engine, &chain.id), Err(ReplayError::Unsigned));
        // Signed by the engine key for another chain: not this chain's block.
        let elsewhere = honest.encode(&chain.engine, &ChainId([7; 32]));
        assert_eq!(ReplicatedBlock::decode(&elsewhere, &engine, &chain.id), Err(ReplayError::Unsigned));
        let mut bytes = honest.encode(&chain.engine, &chain.id);
        let last = bytes.len() - 70;
        bytes[last] ^= 1;
        assert!(ReplicatedBlock::decode(&bytes, &engine, &chain.id).is_err(), "a flipped byte is caught");
    }
}
