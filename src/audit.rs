//! The chain audit: everything a durable ledger claims, checked again from
//! genesis. Every header's hash chain and engine signature, every block's
//! Merkle root over its stored transactions (each of which must hash to its
//! txid), gapless sequences, the minted total against the mints themselves,
//! and supply = minted - burned = sum of unspent outputs.

use crate::encoding::{self, Genesis};
use crate::merkle;
use crate::store::{Store, StoreError};
use crate::types::{TxId, TxKind};

/// What an audit went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub blocks: u64,
    pub transactions: u64,
    pub minted_minor: u64,
    pub burned_minor: u64,
    pub unspent_minor: u64,
    pub unspent_count: u64,
    /// Everything that did not hold, in chain order; empty when the ledger
    /// is sound.
    pub failures: Vec<String>,
}

/// Failures kept in a report; past this the audit stops looking.
pub const AUDIT_FAILURES_MAX: usize = 100;

/// Audits the whole chain of `store` against `genesis`.
///
/// # Errors
/// Storage failures that stop the audit itself (a broken chain is reported
/// in `failures`, not as an error).
pub fn audit(store: &Store, genesis: &Genesis) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let fail = |report: &mut AuditReport, what: String| {
        if report.failures.len() < AUDIT_FAILURES_MAX {
            report.failures.push(what);
        }
    };
    let (unspent_count, unspent_minor, tip) = store.count_unspent()?;
    let mut previous: Option<crate::encoding::BlockHeader> = None;
    let mut minted: u64 = 0;
    for height in 0..=tip.header.height {
        if report.failures.len() >= AUDIT_FAILURES_MAX {
            break;
        }
        let Some(signed) = store.header(height)? else {
            fail(&mut report, format!("block {height}: missing"));
            continue;
        };
        let header = signed.header;
        report.blocks += 1;
        if header.height != height {
            fail(&mut report, format!("block {height}: header says height {}", header.height));
        }
        if !signed.verify(&genesis.engine_key) {
            fail(&mut report, format!("block {height}: not signed by the engine key {}", genesis.engine_key));
        }
        match &previous {
            None => {
                if header.previous_hash != [0; 32] || header.merkle_root != genesis.hash() {
                    fail(&mut report, "block 0: not the genesis block of this genesis".to_owned());
                }
            }
            Some(prev) => {
                if header.previous_hash != prev.hash() {
                    fail(&mut report, format!("block {height}: previous_hash does not match block {}", height - 1));
                }
                if header.first_sequence != prev.next_sequence() {
                    fail(&mut report, format!("block {height}: sequences do not continue block {}", height - 1));
                }
            }
        }
        let txids = store.block_txids(height)?.unwrap_or_default();
        if txids.len() != header.tx_count as usize {
            fail(&mut report, format!("block {height}: {} txids for tx_count {}", txids.len(), header.tx_count));
        }
        if height > 0 && merkle::root(&txids) != header.merkle_root {
            fail(&mut report, format!("block {height}: Merkle root does not match its txids"));
        }
        for (i, txid) in txids.iter().enumerate() {
            let sequence = header.first_sequence + i as u64;
            match store.transaction(sequence)? {
                Some(tx) if TxId(encoding::txid(&tx).0) == *txid => {
                    if tx.kind == TxKind::Mint {
                        let created = tx.outputs.iter().fold(0u64, |s, o| s.saturating_add(o.amount_minor));
                        minted = minted.saturating_add(created);
                    }
                }
                Some(_) => fail(&mut report, format!("block {height}: transaction {sequence} does not hash to {txid}")),
                None => fail(&mut report, format!("block {height}: transaction {sequence} missing")),
            }
            report.transactions += 1;
        }
        if minted != header.minted_total_minor {
            fail(
                &mut report,
                format!("block {height}: minted total {} but its mints add up to {minted}", header.minted_total_minor),
            );
        }
        previous = Some(header);
    }
    report.minted_minor = tip.header.minted_total_minor;
    report.burned_minor = tip.header.burned_total_minor;
    report.unspent_minor = unspent_minor;
    report.unspent_count = unspent_count;
    if tip.header.minted_total_minor.checked_sub(tip.header.burned_total_minor) != Some(unspent_minor) {
        fail(
            &mut report,
            format!(
                "supply: minted {} - burned {} != sum of unspent outputs {unspent_minor}",
                tip.header.minted_total_minor, tip.header.burned_total_minor
            ),
        );
    }
    Ok(report)
}
