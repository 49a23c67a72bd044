//! The ledger state machine: the unspent set and supply totals, and the
//! stateful rules a verified transaction must pass to be applied. No I/O: the
//! sequencer drives it, the store persists what it returns, and a replicated
//! log could drive it unchanged.

use std::collections::HashMap;

use crate::encoding::Genesis;
use crate::refusal::{Reason, Refusal};
use crate::types::{OutPoint, Output, ProgrammeId, TxKind};
use crate::verify::VerifiedTx;

/// What the ledger could not decide alone: an input that is not in the
/// unspent set. The caller (which can read the store) tells apart "spent, by
/// whom" and "never existed", and recognises a resubmission of the spender.
#[derive(Debug)]
pub enum Decline {
    Refused(Refusal),
    InputMissing(OutPoint),
}

impl From<Refusal> for Decline {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// What applying one transaction did, for the store to persist.
#[derive(Clone, Debug)]
pub struct Applied {
    pub sequence: u64,
    /// The outputs the transaction consumed, in input order.
    pub spent: Vec<Output>,
}

/// Supply totals, in minor units. `minted - burned` must equal the sum of
/// unspent outputs at every block boundary.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Totals {
    pub minted_minor: u64,
    pub burned_minor: u64,
    pub unspent_minor: u64,
}

pub struct Ledger {
    genesis: Genesis,
    unspent: HashMap<OutPoint, Output>,
    totals: Totals,
    next_sequence: u64,
}

impl Ledger {
    /// A ledger at a block boundary, from its persisted unspent set.
    ///
    /// # Errors
    /// When the unspent set does not add up to `minted - burned` (or
    /// overflows): the store is corrupt and nothing may be confirmed on top
    /// of it.
    pub fn new(
        genesis: Genesis,
        unspent: HashMap<OutPoint, Output>,
        minted_minor: u64,
        burned_minor: u64,
        next_sequence: u64,
    ) -> Result<Self, String> {
        let unspent_minor = unspent
            .values()
            .try_fold(0u64, |sum, o| sum.checked_add(o.amount_minor))
            .ok_or("the unspent outputs add up past 2^64 - 1")?;
        let supply = minted_minor.checked_sub(burned_minor).ok_or("more burned than minted")?;
        if supply != unspent_minor {
            return Err(format!(
                "supply is not conserved: minted {minted_minor} - burned {burned_minor} != unspent {unspent_minor}"
            ));
        }
        Ok(Self { genesis, unspent, totals: Totals { minted_minor, burned_minor, unspent_minor }, next_sequence })
    }

    #[must_use]
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    #[must_use]
    pub fn totals(&self) -> Totals {
        self.totals
    }

    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    #[must_use]
    pub fn unspent_count(&self) -> usize {
        self.unspent.len()
    }

    #[must_use]
    pub fn unspent(&self, outpoint: &OutPoint) -> Option<&Output> {
        self.unspent.get(outpoint)
    }

    /// Supply is conserved: every unit minted and not burned is in exactly one
    /// unspent output. Checked at every block boundary, in release builds.
    ///
    /// # Panics
    /// When it does not hold.
    pub fn assert_conserved(&self) {
        assert_eq!(
            self.totals.minted_minor - self.totals.burned_minor,
            self.totals.unspent_minor,
            "supply is not conserved: minted {} - burned {} != unspent {}",
            self.totals.minted_minor,
            self.totals.burned_minor,
            self.totals.unspent_minor
        );
    }

    /// Checks `vtx` against the current state and, only if every rule passes,
    /// applies it and assigns the next sequence number. A declined
    /// transaction changes nothing.
    ///
    /// # Errors
    /// The rule it broke, or the first input not in the unspent set.
    pub fn apply(&mut self, vtx: &VerifiedTx) -> Result<Applied, Decline> {
        let tx = &vtx.tx;
        let spent = match tx.kind {
            TxKind::Transfer => self.check_transfer(vtx)?,
            TxKind::Mint => {
                self.check_mint(vtx)?;
                Vec::new()
            }
            TxKind::Redeem | TxKind::Clawback => {
                return Err(Refusal::new(Reason::UnsupportedKind, "not enabled on this ledger").into());
            }
        };
        let created: u64 = tx.outputs.iter().map(|o| o.amount_minor).sum();
        for input in &tx.inputs {
            self.unspent.remove(input);
        }
        for (index, output) in tx.outputs.iter().enumerate() {
            let index = u32::try_from(index).expect("outputs are bounded");
            self.unspent.insert(OutPoint { txid: vtx.txid, index }, *output);
        }
        if tx.kind == TxKind::Mint {
            self.totals.minted_minor += created;
            self.totals.unspent_minor += created;
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Ok(Applied { sequence, spent })
    }

    fn check_transfer(&self, vtx: &VerifiedTx) -> Result<Vec<Output>, Decline> {
        let tx = &vtx.tx;
        let mut spent = Vec::with_capacity(tx.inputs.len());
        for input in &tx.inputs {
            let output = self.unspent.get(input).ok_or(Decline::InputMissing(*input))?;
            spent.push(*output);
        }
        for output in &spent {
            if !tx.witnesses.iter().any(|w| w.public_key == output.owner) {
                return Err(Refusal::new(
                    Reason::MissingWitness,
                    format!("no witness for input owner {}", output.owner),
                )
                .into());
            }
        }
        for witness in &tx.witnesses {
            if !spent.iter().any(|o| o.owner == witness.public_key) {
                return Err(Refusal::new(
                    Reason::UnexpectedWitness,
                    format!("witness {} owns none of the inputs", witness.public_key),
                )
                .into());
            }
        }
        let mut balance: Vec<(ProgrammeId, i128)> = Vec::with_capacity(2);
        let mut add = |programme: ProgrammeId, amount: i128| match balance.iter_mut().find(|(p, _)| *p == programme) {
            Some((_, sum)) => *sum += amount,
            None => balance.push((programme, amount)),
        };
        for output in &spent {
            add(output.programme, i128::from(output.amount_minor));
        }
        for output in &tx.outputs {
            add(output.programme, -i128::from(output.amount_minor));
        }
        if let Some((programme, difference)) = balance.iter().find(|(_, sum)| *sum != 0) {
            return Err(Refusal::new(
                Reason::NotConserved,
                format!("programme {programme}: inputs and outputs differ by {difference} minor units"),
            )
            .into());
        }
        Ok(spent)
    }

    fn check_mint(&self, vtx: &VerifiedTx) -> Result<(), Decline> {
        let issuers = &self.genesis.issuer_keys;
        for witness in &vtx.tx.witnesses {
            if !issuers.contains(&witness.public_key) {
                return Err(Refusal::new(
                    Reason::UnexpectedWitness,
                    format!("{} is not an issuer key", witness.public_key),
                )
                .into());
            }
        }
        // Witness keys are distinct (verify stage), so this counts issuers.
        let signed = u32::try_from(vtx.tx.witnesses.len()).expect("witnesses are bounded");
        if signed < self.genesis.issuer_threshold {
            return Err(Refusal::new(
                Reason::MintThreshold,
                format!("{signed} issuer signatures, {} of {} required", self.genesis.issuer_threshold, issuers.len()),
            )
            .into());
        }
        let created: u64 = vtx.tx.outputs.iter().map(|o| o.amount_minor).sum();
        if self.totals.minted_minor.checked_add(created).is_none() {
            return Err(Refusal::new(Reason::SupplyOverflow, "total minted would exceed 2^64-1 minor units").into());
        }
        Ok(())
    }
}
