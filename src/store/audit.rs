//! The chain audit: everything a durable ledger claims, checked again from
//! genesis. Every header's hash chain and engine signature for this chain,
//! every block's Merkle root over its stored transactions (each of which
//! must hash to its txid), gapless sequences, the minted total against the
//! mints themselves, and supply = minted - burned = sum of unspent outputs.

use crate::store::{Store, StoreError};

/// What an audit went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// The tip the audit checked up to.
    pub height: u64,
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

/// The outcome of the last audit run on a store (`Store::record_audit`),
/// kept in its `meta` table: what the console shows as the last audit.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub time_unix_ms: u64,
    pub height: u64,
    pub blocks: u64,
    pub transactions: u64,
    pub failures: u32,
    /// The first failure, if any.
    pub first_failure: String,
}

impl AuditRecord {
    #[must_use]
    pub fn of(report: &AuditReport, time_unix_ms: u64) -> Self {
        Self {
            time_unix_ms,
            height: report.height,
            blocks: report.blocks,
            transactions: report.transactions,
            failures: u32::try_from(report.failures.len()).unwrap_or(u32::MAX),
            first_failure: report.failures.first().cloned().unwrap_or_default(),
        }
    }
}

/// Failures kept in a report; past this the audit stops looking.
pub const AUDIT_FAILURES_MAX: usize = 100;

/// Audits the whole chain of `store` (against the genesis and engine key it
/// was opened with, and its own chain id).
///
/// # Errors
/// Storage failures that stop the audit itself (a broken chain is reported
/// in `failures`, not as an error).
pub fn audit(store: &Store) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let tip_height = store.tip_height()?;
    report.height = tip_height;
    let mut previous: Option<crate::core::encoding::BlockHeader> = None;
    let mut minted: u64 = 0;
    for height in 0..=tip_height {
        if report.failures.len() >= AUDIT_FAILURES_MAX {
            break;
        }
        let check = store.check_block(height, previous.as_ref())?;
        report.failures.extend(check.failures);
        report.failures.truncate(AUDIT_FAILURES_MAX);
        let Some(header) = check.header else { continue };
        report.blocks += 1;
        report.transactions += check.transactions;
        minted = minted.saturating_add(check.minted_minor);
        if minted != header.minted_total_minor && report.failures.len() < AUDIT_FAILURES_MAX {
            report.failures.push(format!(
                "block {height}: minted total {} but its mints add up to {minted}",
                header.minted_total_minor
            ));
        }
        previous = Some(header);
    }
    let Some(tip) = previous else { return Ok(report) };
    report.minted_minor = tip.minted_total_minor;
    report.burned_minor = tip.burned_total_minor;
    match store.count_unspent() {
        Ok((count, sum, _)) => {
            report.unspent_count = count;
            report.unspent_minor = sum;
        }
        // The tip's header is damaged: already a failure above.
        Err(StoreError::Damaged(_)) => return Ok(report),
        Err(error) => return Err(error),
    }
    if tip.minted_total_minor.checked_sub(tip.burned_total_minor) != Some(report.unspent_minor)
        && report.failures.len() < AUDIT_FAILURES_MAX
    {
        report.failures.push(format!(
            "supply: minted {} - burned {} != sum of unspent outputs {}",
            tip.minted_total_minor, tip.burned_total_minor, report.unspent_minor
        ));
    }
    Ok(report)
}
