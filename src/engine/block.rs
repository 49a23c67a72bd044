//! Blocks: sealing what the ledger applied into a signed, hash-chained
//! header, and the ledger of a reopened data file. Shared with the
//! deterministic simulation and the replicas' replay.

use super::*;

/// The ledger at a recovered data file's last durable block, under the
/// configured tier table. The engine and the deterministic simulation both
/// start from here.
///
/// # Errors
/// When the recovered unspent set does not add up to the tip's supply.
pub fn recovered_ledger(recovered: Recovered, tiers: TierPolicy) -> Result<Ledger, StoreError> {
    let tip = recovered.tip.header;
    Ok(Ledger::new(
        recovered.genesis,
        recovered.unspent,
        tip.minted_total_minor,
        tip.burned_total_minor,
        tip.next_sequence(),
    )
    .map_err(StoreError::Corrupt)?
    .with_rules(recovered.registry, tiers, recovered.daily, recovered.stats)
    .with_yearly(recovered.yearly)
    .with_bank_totals(recovered.bank_totals)
    .with_refunds(recovered.refunded)
    .with_merchant_figures(recovered.merchants))
}

/// Seals the transactions `ledger` has applied since `tip` (and the registry
/// changes among them) into the next signed, hash-chained block, with what
/// the store must persist beside it.
///
/// # Panics
/// When the ledger does not conserve supply or its sequence numbers do not
/// continue the chain: sealing such a block would confirm a broken ledger.
pub fn seal_block(
    ledger: &mut Ledger,
    tip: &SignedHeader,
    txs: Vec<(VerifiedTx, crate::core::ledger::Applied)>,
    ops: Vec<(u32, RegistryChange)>,
    time_unix_ms: u64,
    engine_key: &Keypair,
    chain: &ChainId,
) -> BlockRecord {
    let header = block_header(ledger, tip, &txs, time_unix_ms);
    let signed = SignedHeader::sign(header, chain, engine_key);
    let stats = ledger.take_touched_stats();
    let bank_totals = ledger.take_touched_bank_totals();
    let merchants = ledger.take_touched_merchant_figures();
    let refunded = ledger.take_touched_refunds();
    BlockRecord { signed, txs, ops, stats, merchants, bank_totals, refunded }
}

/// The header of the block holding `txs`, the last transactions `ledger`
/// applied since `tip` (the leader's seal and a replica's replay).
///
/// # Panics
/// When the ledger does not conserve supply or its sequence numbers do not
/// continue the chain.
pub(crate) fn block_header(
    ledger: &Ledger,
    tip: &SignedHeader,
    txs: &[(VerifiedTx, crate::core::ledger::Applied)],
    time_unix_ms: u64,
) -> BlockHeader {
    ledger.assert_conserved();
    let txids: Vec<TxId> = txs.iter().map(|(vtx, _)| vtx.txid).collect();
    let totals = ledger.totals();
    let first_sequence = ledger.next_sequence() - txs.len() as u64;
    assert_eq!(first_sequence, tip.header.next_sequence(), "sequence numbers must continue the chain without a gap");
    BlockHeader {
        height: tip.header.height + 1,
        previous_hash: tip.header.hash(),
        merkle_root: merkle::root(&txids),
        first_sequence,
        tx_count: u32::try_from(txs.len()).expect("blocks are bounded"),
        time_unix_ms,
        minted_total_minor: totals.minted_minor,
        burned_total_minor: totals.burned_minor,
    }
}
