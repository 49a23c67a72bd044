//! An audit that trusts nobody: the client pins the engine key and the
//! chain id (from the genesis it trusts, out of band), fetches every block
//! with its transactions and registry changes (`LedgerService.ExportBlocks`)
//! and re-derives the ledger itself from genesis with the code the replicas
//! of a cluster replay with (`replica::replay`): every header's signature,
//! hash chain and Merkle root, every transaction against the rules (owners'
//! signatures, unspent inputs, conservation, issuer thresholds, programmes),
//! every registry change, and the supply each header states. The server's
//! own `Audit` is not asked.

use std::collections::HashMap;

use settled::client::{Client, header_from_proto};
use settled::registry::{Registry, Tier, TierPolicy};
use settled::replica::{self, ReplicatedBlock};
use settled::{Address, ChainId, Genesis, Ledger, proto};

/// What a client-side audit re-derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteAudit {
    /// Blocks replayed (genesis not counted) and their transactions.
    pub(crate) blocks: u64,
    pub(crate) transactions: u64,
    /// The last block replayed, its supply (minted - burned) and the
    /// registry changes replayed.
    pub(crate) tip_height: u64,
    pub(crate) supply_minor: u64,
    pub(crate) registry_changes: u64,
}

/// Audits the ledger `client` serves against the pinned `engine_key` and
/// `chain`, re-deriving it from genesis.
///
/// # Errors
/// The first thing that does not hold: a genesis that does not hash to the
/// pinned chain id, another engine key, a block whose signature, chain,
/// Merkle root or supply does not replay, a transaction the rules refuse,
/// a transport failure.
pub(crate) async fn audit_trusting_nobody(
    client: &mut Client,
    engine_key: Address,
    chain: ChainId,
) -> Result<RemoteAudit, String> {
    let status = |s: tonic::Status| format!("{}: {}", s.code(), s.message());
    let info = client.ledger.get_info(proto::GetInfoRequest { count_unspent: false }).await.map_err(status)?;
    let info = info.into_inner();
    let key =
        |bytes: &[u8]| Address::from_slice(bytes).ok_or_else(|| "a key of the genesis is not 32 bytes".to_owned());
    let genesis = Genesis {
        currency: info.currency.clone(),
        exponent: info.currency_exponent,
        issuer_keys: info.issuer_public_keys.iter().map(|k| key(k)).collect::<Result<_, _>>()?,
        issuer_threshold: info.issuer_threshold,
        engine_key,
    };
    let block0 = client.ledger.get_block(proto::GetBlockRequest { height: 0 }).await.map_err(status)?.into_inner();
    let genesis_block = header_from_proto(&block0.header.ok_or("block 0 has no header")?)?;
    // Block 0 commits to the genesis (its Merkle root) and is the chain id
    // (its hash): the pinned chain id vouches for the genesis facts the
    // server gave, the pinned engine key for every signature.
    if genesis_block.header.hash() != chain.0 {
        return Err(format!(
            "block 0 hashes to {}, not the pinned chain id {chain}",
            hex::encode(genesis_block.header.hash())
        ));
    }
    if !genesis_block.verify(&engine_key, &chain) {
        return Err(format!("block 0 is not signed by the pinned engine key {engine_key}"));
    }
    if genesis_block.header.merkle_root != genesis.hash() {
        return Err("the genesis the server describes is not the one block 0 commits to".to_owned());
    }
    // Every tier, without limits: limits only ever refuse, and the server's
    // table is its configuration, not the chain's (a wallet registered at a
    // tier must find it); the day offset decides claim months.
    let unlimited = |id| Tier {
        id,
        balance_cap_minor: u64::MAX,
        per_payment_minor: u64::MAX,
        per_day_minor: u64::MAX,
        per_year_minor: None,
    };
    let tiers = TierPolicy {
        tiers: (1..=u8::MAX).map(unlimited).collect(),
        unregistered_tier: None,
        day_offset_minutes: info.day_offset_minutes,
    };
    let mut ledger = Ledger::new(genesis, HashMap::new(), 0, 0, genesis_block.header.next_sequence())?.with_rules(
        Registry::default(),
        tiers,
        HashMap::new(),
        HashMap::new(),
    );
    let mut tip = genesis_block;
    let mut audit = RemoteAudit { blocks: 0, transactions: 0, tip_height: 0, supply_minor: 0, registry_changes: 0 };
    let mut chunks =
        client.ledger.export_blocks(proto::ExportBlocksRequest { from_height: 1 }).await.map_err(status)?.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.message().await.map_err(status)? {
        if chunk.height != tip.header.height + 1 {
            return Err(format!("the export sent block {} after block {}", chunk.height, tip.header.height));
        }
        if bytes.len() + chunk.data.len() > replica::REPLICATED_BLOCK_BYTES_MAX {
            return Err(format!("block {} is larger than a block can be", chunk.height));
        }
        bytes.extend_from_slice(&chunk.data);
        if !chunk.last {
            continue;
        }
        let block = ReplicatedBlock::decode(&std::mem::take(&mut bytes), &engine_key, &chain)
            .map_err(|e| format!("block {}: {e}", chunk.height))?;
        // Every transaction goes through the ledger's rules (which keep the
        // supply conserved and the sequences gapless) and the header must be
        // the one replayed: a server's broken block is a `ReplayError`.
        let record = replica::replay(&mut ledger, &tip, &block, &engine_key, &chain)
            .map_err(|e| format!("block {} does not replay: {e}", chunk.height))?;
        audit.blocks += 1;
        audit.transactions += record.txs.len() as u64;
        audit.registry_changes += record.ops.len() as u64;
        tip = record.signed;
    }
    if !bytes.is_empty() {
        return Err(format!("the export ended inside block {}", tip.header.height + 1));
    }
    audit.tip_height = tip.header.height;
    audit.supply_minor = tip.header.minted_total_minor - tip.header.burned_total_minor;
    let totals = ledger.totals();
    if totals.unspent_minor != audit.supply_minor {
        return Err(format!(
            "the replayed unspent outputs hold {}, the tip says the supply is {}",
            totals.unspent_minor, audit.supply_minor
        ));
    }
    Ok(audit)
}
