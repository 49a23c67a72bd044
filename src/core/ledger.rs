//! The ledger state machine: the unspent set and supply totals, and the
//! stateful rules a verified transaction must pass to be applied. No I/O: the
//! sequencer drives it, the store persists what it returns, and a replicated
//! log could drive it unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::core::clock::iso8601;
use crate::core::encoding::{self, ClaimTerms, Genesis};
use crate::core::movements::{self, BankTotals, Movement};
use crate::core::period;
use crate::core::refusal::{Reason, Refusal};
use crate::core::registry::{AdminOp, Frozen, MerchantFigures, ProgrammeStats, Registry, Role, TierPolicy};
use crate::core::types::{Address, AmountMinor, OutPoint, Output, ProgrammeId, Transaction, TxId, TxKind};
use crate::core::verify::VerifiedTx;

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

/// Payers' new daily and annual totals: (address, day or year, total).
type PayerTotals = (Vec<(Address, u64, AmountMinor)>, Vec<(Address, u64, AmountMinor)>);

/// What applying one transaction did, for the store to persist.
#[derive(Clone, Debug)]
pub struct Applied {
    pub sequence: u64,
    /// The outputs the transaction consumed, in input order.
    pub spent: Vec<Output>,
    /// Each tier-limited payer's total for the day after this payment:
    /// (address, day, total paid that day).
    pub daily: Vec<(Address, u64, AmountMinor)>,
    /// Each payer of a tier with an annual limit: (address, year, total
    /// paid that year).
    pub yearly: Vec<(Address, u64, AmountMinor)>,
    /// What it did to each bank's customers (the unbanked not included).
    pub movements: Vec<(String, Movement)>,
}

/// What a refund is judged against: the payment it names, as the store
/// holds it (read by the sequencer, which alone may read the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundBasis {
    pub original: TxId,
    pub kind: TxKind,
    /// The time of the payment's block.
    pub paid_at_ms: u64,
    /// The owners who paid in it (net of change), ascending.
    pub payers: Vec<Address>,
    /// What each merchant received in it, per programme (net of change).
    pub received: BTreeMap<String, BTreeMap<ProgrammeId, AmountMinor>>,
}

impl RefundBasis {
    /// The basis of `original`, a transaction of block time `paid_at_ms`
    /// whose inputs consumed `spent`, with merchants as `registry` has them.
    #[must_use]
    pub fn of(original: &Transaction, txid: TxId, spent: &[Output], paid_at_ms: u64, registry: &Registry) -> Self {
        let payers = net_received(&original.outputs, spent, None).into_iter().map(|(payer, _)| payer).collect();
        let mut received: BTreeMap<String, BTreeMap<ProgrammeId, AmountMinor>> = BTreeMap::new();
        let mut programmes: Vec<ProgrammeId> = original.outputs.iter().map(|o| o.programme).collect();
        programmes.sort_unstable();
        programmes.dedup();
        for programme in programmes {
            for (owner, amount) in net_received(spent, &original.outputs, Some(programme)) {
                if let Some(Role::Merchant { id, .. }) = registry.role(&owner) {
                    let at = received.entry(id.clone()).or_default().entry(programme).or_default();
                    *at = at.saturating_add(amount);
                }
            }
        }
        Self { original: txid, kind: original.kind, paid_at_ms, payers, received }
    }
}

/// How a refund is checked: against the payment it names, or (a replica
/// replaying a block the leader sealed) trusting the leader's check and
/// only applying what the refund itself says.
#[derive(Clone, Copy, Debug)]
pub enum RefundCheck<'a> {
    Against(&'a RefundBasis),
    Replayed,
    /// No basis was looked up: a refund is refused.
    NotLookedUp,
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
    registry: Registry,
    tiers: TierPolicy,
    /// Balance of every address holding money, kept as outputs come and go.
    balances: HashMap<Address, AmountMinor>,
    /// What each tier-limited payer has paid on its last day of payments.
    daily: HashMap<Address, (u64, AmountMinor)>,
    /// What each payer of a tier with an annual limit paid in its last
    /// year of payments.
    yearly: HashMap<Address, (u64, AmountMinor)>,
    stats: HashMap<ProgrammeId, ProgrammeStats>,
    /// Programmes whose statistics changed since the last `take_touched_stats`.
    touched: BTreeSet<ProgrammeId>,
    /// The last block time a ledger day (`YYYYMMDD`) was named for, and
    /// that day: one date computation per block, not per payment.
    named_day: Option<(u64, u32)>,
    /// What each merchant took of each programme (by programme, then
    /// merchant id: looked up by `&str`, so a payment allocates nothing).
    merchants: HashMap<ProgrammeId, HashMap<String, MerchantFigures>>,
    touched_merchants: BTreeMap<ProgrammeId, BTreeSet<String>>,
    /// Each bank's running totals (the unbanked under `movements::UNBANKED`).
    bank_totals: BTreeMap<String, BankTotals>,
    touched_banks: BTreeSet<String>,
    /// What was refunded so far of each payment refunded at least once,
    /// per programme.
    refunded: HashMap<TxId, BTreeMap<ProgrammeId, AmountMinor>>,
    touched_refunds: BTreeSet<TxId>,
}

/// `merchant`'s figures in `programme`, marked as changed; allocates the
/// merchant's id only the first time the map or the block sees it.
fn merchant_figures<'a>(
    merchants: &'a mut HashMap<ProgrammeId, HashMap<String, MerchantFigures>>,
    touched: &mut BTreeMap<ProgrammeId, BTreeSet<String>>,
    programme: ProgrammeId,
    merchant: &str,
) -> &'a mut MerchantFigures {
    let changed = touched.entry(programme).or_default();
    if !changed.contains(merchant) {
        changed.insert(merchant.to_owned());
    }
    let of_programme = merchants.entry(programme).or_default();
    if !of_programme.contains_key(merchant) {
        of_programme.insert(merchant.to_owned(), MerchantFigures::default());
    }
    of_programme.get_mut(merchant).expect("inserted above")
}

/// No tier limits at all (the ledger alone, in benchmarks and simulations).
fn unrestricted() -> TierPolicy {
    TierPolicy { tiers: Vec::new(), unregistered_tier: None, day_offset_minutes: 0 }
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
        let mut balances: HashMap<Address, AmountMinor> = HashMap::new();
        for output in unspent.values() {
            *balances.entry(output.owner).or_default() += output.amount_minor;
        }
        Ok(Self {
            genesis,
            unspent,
            totals: Totals { minted_minor, burned_minor, unspent_minor },
            next_sequence,
            registry: Registry::default(),
            tiers: unrestricted(),
            balances,
            daily: HashMap::new(),
            yearly: HashMap::new(),
            stats: HashMap::new(),
            touched: BTreeSet::new(),
            named_day: None,
            merchants: HashMap::new(),
            touched_merchants: BTreeMap::new(),
            bank_totals: BTreeMap::new(),
            touched_banks: BTreeSet::new(),
            refunded: HashMap::new(),
            touched_refunds: BTreeSet::new(),
        })
    }

    /// The same ledger under a registry, a tier policy and the daily totals
    /// recorded so far.
    #[must_use]
    pub fn with_rules(
        mut self,
        registry: Registry,
        tiers: TierPolicy,
        daily: HashMap<Address, (u64, AmountMinor)>,
        stats: HashMap<ProgrammeId, ProgrammeStats>,
    ) -> Self {
        self.registry = registry;
        self.tiers = tiers;
        self.daily = daily;
        self.stats = stats;
        self.named_day = None;
        self
    }

    /// The same ledger with the annual totals recorded so far.
    #[must_use]
    pub fn with_yearly(mut self, yearly: HashMap<Address, (u64, AmountMinor)>) -> Self {
        self.yearly = yearly;
        self
    }

    /// The same ledger with the banks' running totals recorded so far.
    #[must_use]
    pub fn with_bank_totals(mut self, bank_totals: BTreeMap<String, BankTotals>) -> Self {
        self.bank_totals = bank_totals;
        self
    }

    /// The same ledger with the refunds recorded so far.
    #[must_use]
    pub fn with_refunds(mut self, refunded: HashMap<TxId, BTreeMap<ProgrammeId, AmountMinor>>) -> Self {
        self.refunded = refunded;
        self
    }

    /// The same ledger with the merchants' figures recorded so far.
    #[must_use]
    pub fn with_merchant_figures(mut self, merchants: HashMap<(ProgrammeId, String), MerchantFigures>) -> Self {
        for ((programme, merchant), figures) in merchants {
            self.merchants.entry(programme).or_default().insert(merchant, figures);
        }
        self
    }

    /// The figures of the (programme, merchant) pairs that changed since the
    /// last call.
    pub fn take_touched_merchant_figures(&mut self) -> Vec<((ProgrammeId, String), MerchantFigures)> {
        let touched = std::mem::take(&mut self.touched_merchants);
        let mut changed = Vec::new();
        for (programme, merchants) in touched {
            for merchant in merchants {
                let figures =
                    self.merchants.get(&programme).and_then(|m| m.get(&merchant)).copied().unwrap_or_default();
                changed.push(((programme, merchant), figures));
            }
        }
        changed
    }

    /// The refunded totals of the payments refunded since the last call.
    pub fn take_touched_refunds(&mut self) -> Vec<(TxId, BTreeMap<ProgrammeId, AmountMinor>)> {
        let touched = std::mem::take(&mut self.touched_refunds);
        touched.into_iter().map(|t| (t, self.refunded.get(&t).cloned().unwrap_or_default())).collect()
    }

    /// What was refunded so far of a payment, per programme.
    #[must_use]
    pub fn refunded(&self, payment: &TxId) -> BTreeMap<ProgrammeId, AmountMinor> {
        self.refunded.get(payment).cloned().unwrap_or_default()
    }

    /// The totals of the banks that changed since the last call.
    pub fn take_touched_bank_totals(&mut self) -> Vec<(String, BankTotals)> {
        let touched = std::mem::take(&mut self.touched_banks);
        touched.into_iter().map(|b| (b.clone(), self.bank_totals.get(&b).cloned().unwrap_or_default())).collect()
    }

    /// A bank's running totals.
    #[must_use]
    pub fn bank_totals(&self, bank: &str) -> BankTotals {
        self.bank_totals.get(bank).cloned().unwrap_or_default()
    }

    /// The statistics of the programmes that changed since the last call.
    pub fn take_touched_stats(&mut self) -> Vec<(ProgrammeId, ProgrammeStats)> {
        let touched = std::mem::take(&mut self.touched);
        touched.into_iter().map(|p| (p, self.stats.get(&p).cloned().unwrap_or_default())).collect()
    }

    /// A programme's statistics as the ledger has them (every sealed and
    /// open transaction applied).
    #[must_use]
    pub fn programme_stats(&self, programme: ProgrammeId) -> Option<&ProgrammeStats> {
        self.stats.get(&programme)
    }

    /// Counts a claim for `period` of `programme` refused because the
    /// period was paid already (the sequencer refuses it: the ledger never
    /// sees the claim). A refusal is in no block, so its count is written
    /// with the programme's statistics by the next commit that writes
    /// them.
    pub fn count_duplicate_claim(&mut self, programme: ProgrammeId, period: u32) {
        let paid = self.stats.entry(programme).or_default().paid_by_period.entry(period).or_default();
        paid.duplicate_claims_refused = paid.duplicate_claims_refused.saturating_add(1);
        self.touched.insert(programme);
    }

    /// The ledger day (`YYYYMMDD`, in the tier policy's time zone) of a
    /// block time.
    fn day_named(&mut self, time_unix_ms: u64) -> u32 {
        match self.named_day {
            Some((time, day)) if time == time_unix_ms => day,
            _ => {
                let day = period::day_of(time_unix_ms, self.tiers.day_offset_minutes);
                self.named_day = Some((time_unix_ms, day));
                day
            }
        }
    }

    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    #[must_use]
    pub fn tiers(&self) -> &TierPolicy {
        &self.tiers
    }

    /// Balance of an address, all programmes together.
    #[must_use]
    pub fn balance(&self, address: &Address) -> AmountMinor {
        self.balances.get(address).copied().unwrap_or(0)
    }

    /// Checks and applies a registry change.
    ///
    /// # Errors
    /// Why it may not be applied; nothing changes then.
    pub fn admin(&mut self, op: AdminOp) -> Result<(), Refusal> {
        self.registry.check(&op, &self.tiers, false)?;
        self.registry.apply(op);
        Ok(())
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
    /// transaction changes nothing. A refund is refused here: it is judged
    /// against the payment it names (`apply_refund`).
    ///
    /// # Errors
    /// The rule it broke, or the first input not in the unspent set.
    pub fn apply(&mut self, vtx: &VerifiedTx, now_unix_ms: u64) -> Result<Applied, Decline> {
        self.apply_checked(vtx, now_unix_ms, RefundCheck::NotLookedUp)
    }

    /// `apply`, a refund judged as `refund` says.
    ///
    /// # Errors
    /// The rule it broke, or the first input not in the unspent set.
    pub fn apply_checked(
        &mut self,
        vtx: &VerifiedTx,
        now_unix_ms: u64,
        refund: RefundCheck<'_>,
    ) -> Result<Applied, Decline> {
        let tx = &vtx.tx;
        let (spent, (daily, yearly)) = match tx.kind {
            TxKind::Transfer => {
                let spent = self.check_transfer(vtx)?;
                self.check_programmes(&spent, &tx.outputs, now_unix_ms)?;
                let totals = self.check_tiers(&spent, &tx.outputs, now_unix_ms)?;
                (spent, totals)
            }
            TxKind::Mint => {
                self.check_mint(vtx, now_unix_ms)?;
                self.check_tiers(&[], &tx.outputs, now_unix_ms)?;
                (Vec::new(), PayerTotals::default())
            }
            TxKind::Clawback => (self.check_clawback(vtx, now_unix_ms)?, PayerTotals::default()),
            TxKind::Redeem => (self.check_redeem(vtx)?, PayerTotals::default()),
            TxKind::Refund => {
                let spent = self.check_refund(vtx, now_unix_ms, refund)?;
                let totals = self.check_tiers(&spent, &tx.outputs, now_unix_ms)?;
                (spent, totals)
            }
            TxKind::Recovery => (self.check_recovery(vtx)?, PayerTotals::default()),
        };
        if !self.registry.frozen.is_empty() || !self.registry.inactive_merchants.is_empty() {
            self.check_not_frozen(tx.kind, &spent, &tx.outputs)?;
        }
        if tx.kind == TxKind::Refund {
            self.record_refund(vtx);
        }
        let claim = (tx.kind == TxKind::Mint).then(|| encoding::claim_terms(&tx.reference)).flatten();
        self.count_programmes(tx.kind, &spent, &tx.outputs, claim, now_unix_ms);
        let sequence = self.next_sequence;
        let tx_movements =
            movements::movements_of(&self.registry, tx.kind, vtx.txid, sequence, now_unix_ms, &spent, &tx.outputs);
        self.touched_banks.extend(movements::add_to_totals(&mut self.bank_totals, &tx_movements));
        let movements =
            tx_movements.by_bank.into_iter().filter(|(bank, _)| bank != movements::UNBANKED).collect::<Vec<_>>();
        let created: u64 = tx.outputs.iter().map(|o| o.amount_minor).sum();
        let consumed: u64 = spent.iter().map(|o| o.amount_minor).sum();
        for (input, output) in tx.inputs.iter().zip(&spent) {
            self.unspent.remove(input);
            let balance = self.balances.get_mut(&output.owner).expect("an owner of an unspent output has a balance");
            *balance -= output.amount_minor;
            if *balance == 0 {
                self.balances.remove(&output.owner);
            }
        }
        for (index, output) in tx.outputs.iter().enumerate() {
            let index = u32::try_from(index).expect("outputs are bounded");
            self.unspent.insert(OutPoint { txid: vtx.txid, index }, *output);
            *self.balances.entry(output.owner).or_default() += output.amount_minor;
        }
        for (payer, day, total) in &daily {
            self.daily.insert(*payer, (*day, *total));
        }
        for (payer, year, total) in &yearly {
            self.yearly.insert(*payer, (*year, *total));
        }
        match tx.kind {
            TxKind::Mint => {
                self.totals.minted_minor += created;
                self.totals.unspent_minor += created;
            }
            TxKind::Redeem => {
                let burned = consumed - created;
                self.totals.burned_minor += burned;
                self.totals.unspent_minor -= burned;
            }
            TxKind::Transfer | TxKind::Clawback | TxKind::Refund | TxKind::Recovery => {}
        }
        self.next_sequence += 1;
        Ok(Applied { sequence, spent, daily, yearly, movements })
    }

    /// Earmarked money: every programme spent must be live; each earmarked
    /// output goes back to a payer (change keeps the earmark), to a merchant
    /// of an allowed category, or (if the programme allows it) to another
    /// beneficiary; and a payment moves at most the programme's maximum.
    fn check_programmes(&self, spent: &[Output], outputs: &[Output], now_unix_ms: u64) -> Result<(), Refusal> {
        let mut checked: Vec<ProgrammeId> = Vec::new();
        for input in spent.iter().filter(|o| o.programme != 0) {
            if checked.contains(&input.programme) {
                continue;
            }
            checked.push(input.programme);
            let programme = self.live_programme(input.programme, now_unix_ms)?;
            let mut paid: u64 = 0;
            for (owner, received) in net_received(spent, outputs, Some(programme.id)) {
                paid = paid.saturating_add(received);
                match self.registry.role(&owner) {
                    Some(Role::Merchant { id, mcc }) => {
                        if !programme.allowed_mccs.contains(mcc) {
                            return Err(Refusal::new(
                                Reason::MccNotAllowed,
                                format!(
                                    "programme {} ({}) cannot be spent at merchant {id}, category {mcc:04}",
                                    programme.id, programme.name
                                ),
                            ));
                        }
                    }
                    Some(Role::Treasury { .. }) => {
                        return Err(Refusal::new(
                            Reason::PayeeNotAllowed,
                            format!("earmarked money reaches a treasury ({owner}) only by clawback"),
                        ));
                    }
                    Some(Role::Wallet { .. }) | None => {
                        if !programme.transferable {
                            return Err(Refusal::new(
                                Reason::TransferNotAllowed,
                                format!(
                                    "programme {} ({}) may only be spent at merchants, not paid to {owner}",
                                    programme.id, programme.name
                                ),
                            ));
                        }
                    }
                }
            }
            if let Some(max) = programme.per_payment_max_minor
                && paid > max
            {
                return Err(Refusal::new(
                    Reason::ProgrammePaymentLimit,
                    format!(
                        "programme {} allows at most {max} minor units per payment, this pays {paid}",
                        programme.id
                    ),
                ));
            }
        }
        Ok(())
    }

    fn live_programme(&self, id: ProgrammeId, now_unix_ms: u64) -> Result<&crate::core::registry::Programme, Refusal> {
        let programme = self
            .registry
            .programmes
            .get(&id)
            .ok_or_else(|| Refusal::new(Reason::UnknownProgramme, format!("no programme {id}")))?;
        if now_unix_ms < programme.valid_from_ms {
            return Err(Refusal::new(
                Reason::ProgrammeNotStarted,
                format!("programme {id} is valid from {}", iso8601(programme.valid_from_ms)),
            ));
        }
        if now_unix_ms >= programme.valid_until_ms {
            return Err(Refusal::new(
                Reason::ProgrammeExpired,
                format!("programme {id} expired at {}", iso8601(programme.valid_until_ms)),
            ));
        }
        Ok(programme)
    }

    /// Wallet tiers: each payer within its per-payment, per-day and (if
    /// its tier has one) per-year limits, each payee within its balance
    /// cap. Returns the payers' new daily and annual totals. Merchants and
    /// treasuries are exempt.
    fn check_tiers(&self, spent: &[Output], outputs: &[Output], now_unix_ms: u64) -> Result<PayerTotals, Refusal> {
        let day = self.tiers.day_of(now_unix_ms);
        let mut daily = Vec::new();
        let mut yearly = Vec::new();
        for (payer, paid) in net_received(outputs, spent, None) {
            let Some(tier) = self.registry.tier_of(&payer, &self.tiers) else { continue };
            if paid > tier.per_payment_minor {
                return Err(Refusal::new(
                    Reason::TierPaymentLimit,
                    format!(
                        "tier {} pays at most {} minor units at once, this pays {paid}",
                        tier.id, tier.per_payment_minor
                    ),
                ));
            }
            let today = match self.daily.get(&payer) {
                Some((d, total)) if *d == day => *total,
                _ => 0,
            };
            let total = today.saturating_add(paid);
            if total > tier.per_day_minor {
                return Err(Refusal::new(
                    Reason::TierDailyLimit,
                    format!(
                        "tier {} pays at most {} minor units a day; {today} paid today, this pays {paid}",
                        tier.id, tier.per_day_minor
                    ),
                ));
            }
            daily.push((payer, day, total));
            if let Some(per_year) = tier.per_year_minor {
                let year = TierPolicy::year_of_day(day);
                let this_year = match self.yearly.get(&payer) {
                    Some((y, total)) if *y == year => *total,
                    _ => 0,
                };
                let total = this_year.saturating_add(paid);
                if total > per_year {
                    return Err(Refusal::new(
                        Reason::TierAnnualLimit,
                        format!(
                            "tier {} pays at most {per_year} minor units a year; {this_year} paid in {year}, this \
                             pays {paid}",
                            tier.id
                        ),
                    ));
                }
                yearly.push((payer, year, total));
            }
        }
        for (payee, received) in net_received(spent, outputs, None) {
            let Some(tier) = self.registry.tier_of(&payee, &self.tiers) else { continue };
            let after = self.balance(&payee).saturating_add(received);
            if after > tier.balance_cap_minor {
                return Err(Refusal::new(
                    Reason::BalanceCap,
                    format!(
                        "{payee} (tier {}) may hold at most {} minor units; it would hold {after}",
                        tier.id, tier.balance_cap_minor
                    ),
                ));
            }
        }
        Ok((daily, yearly))
    }

    /// The outputs `vtx` spends, each owner having signed and no one else.
    fn spent_by_owners(&self, vtx: &VerifiedTx) -> Result<Vec<Output>, Decline> {
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
        Ok(spent)
    }

    fn check_transfer(&self, vtx: &VerifiedTx) -> Result<Vec<Output>, Decline> {
        let tx = &vtx.tx;
        let spent = self.spent_by_owners(vtx)?;
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

    /// Where earmarked money went: minted in, paid to a merchant of some
    /// category, or clawed back.
    fn count_programmes(
        &mut self,
        kind: TxKind,
        spent: &[Output],
        outputs: &[Output],
        claim: Option<ClaimTerms>,
        now_unix_ms: u64,
    ) {
        match kind {
            TxKind::Mint => {
                for output in outputs.iter().filter(|o| o.programme != 0) {
                    let stats = self.stats.entry(output.programme).or_default();
                    stats.disbursed_minor = stats.disbursed_minor.saturating_add(output.amount_minor);
                    if let Some(claim) = claim {
                        let paid = stats.paid_by_period.entry(claim.period).or_default();
                        paid.beneficiaries += 1;
                        paid.amount_minor = paid.amount_minor.saturating_add(output.amount_minor);
                    }
                    self.touched.insert(output.programme);
                }
            }
            TxKind::Transfer => {
                let mut programmes: Vec<ProgrammeId> =
                    outputs.iter().map(|o| o.programme).filter(|p| *p != 0).collect();
                programmes.sort_unstable();
                programmes.dedup();
                let day = if programmes.is_empty() { 0 } else { self.day_named(now_unix_ms) };
                for programme in programmes {
                    // Per merchant (one payment may pay several of one
                    // merchant's payout addresses).
                    let mut paid: Vec<(&str, AmountMinor)> = Vec::new();
                    for (owner, received) in net_received(spent, outputs, Some(programme)) {
                        if let Some(Role::Merchant { id, mcc }) = self.registry.role(&owner) {
                            let stats = self.stats.entry(programme).or_default();
                            let at_mcc = stats.spent_by_mcc.entry(*mcc).or_default();
                            *at_mcc = at_mcc.saturating_add(received);
                            stats.add_spent_on_day(day, received);
                            self.touched.insert(programme);
                            match paid.iter_mut().find(|(m, _)| *m == id.as_str()) {
                                Some((_, sum)) => *sum = sum.saturating_add(received),
                                None => paid.push((id.as_str(), received)),
                            }
                        }
                    }
                    for (merchant, received) in paid {
                        let figures =
                            merchant_figures(&mut self.merchants, &mut self.touched_merchants, programme, merchant);
                        figures.payments += 1;
                        figures.spent_minor = figures.spent_minor.saturating_add(received);
                        figures.last_payment_unix_ms = now_unix_ms;
                    }
                }
            }
            TxKind::Clawback => {
                for input in spent {
                    let stats = self.stats.entry(input.programme).or_default();
                    stats.clawed_back_minor = stats.clawed_back_minor.saturating_add(input.amount_minor);
                    self.touched.insert(input.programme);
                }
            }
            TxKind::Refund => {
                // One merchant's payout addresses hold every input of a refund.
                let merchant = spent.first().and_then(|input| match self.registry.role(&input.owner) {
                    Some(Role::Merchant { id, .. }) => Some(id.clone()),
                    _ => None,
                });
                let mut refunded: BTreeMap<ProgrammeId, AmountMinor> = BTreeMap::new();
                for part in self.refund_parts(outputs) {
                    let stats = self.stats.entry(part.programme).or_default();
                    if part.to_treasury {
                        stats.refunded_to_treasury_minor = stats.refunded_to_treasury_minor.saturating_add(part.amount);
                    } else {
                        stats.refunded_minor = stats.refunded_minor.saturating_add(part.amount);
                    }
                    self.touched.insert(part.programme);
                    let sum = refunded.entry(part.programme).or_default();
                    *sum = sum.saturating_add(part.amount);
                }
                if let Some(merchant) = merchant {
                    for (programme, amount) in refunded.into_iter().filter(|(p, _)| *p != 0) {
                        let figures =
                            merchant_figures(&mut self.merchants, &mut self.touched_merchants, programme, &merchant);
                        figures.refunds += 1;
                        figures.refunded_minor = figures.refunded_minor.saturating_add(amount);
                    }
                }
            }
            TxKind::Redeem | TxKind::Recovery => {}
        }
    }

    /// A frozen wallet spends nothing (only a clawback or its recovery
    /// moves its money); a wallet recovered after a loss and a deactivated
    /// merchant receive nothing (but the merchant's own change).
    fn check_not_frozen(&self, kind: TxKind, spent: &[Output], outputs: &[Output]) -> Result<(), Refusal> {
        if !matches!(kind, TxKind::Clawback | TxKind::Recovery)
            && let Some((owner, frozen)) =
                spent.iter().find_map(|o| self.registry.frozen.get(&o.owner).map(|f| (o.owner, f)))
        {
            return Err(Refusal::new(
                Reason::WalletFrozen,
                format!("wallet {owner} is {}: it can spend nothing", frozen.describe()),
            ));
        }
        // What each deactivated merchant gets back, per programme, may not
        // exceed what it spends: its own change, never a payment.
        let mut inactive: BTreeMap<(&str, ProgrammeId), (u128, u128)> = BTreeMap::new();
        let merchant = |owner: &Address| match self.registry.role(owner) {
            Some(Role::Merchant { id, .. }) if self.registry.inactive_merchants.contains(id) => Some(id.as_str()),
            _ => None,
        };
        for output in outputs {
            match self.registry.receiving_refused(&output.owner) {
                Some(refusal) if refusal.reason != Reason::ParticipantInactive => return Err(refusal),
                Some(_) => {}
                None => continue,
            }
            if let Some(id) = merchant(&output.owner) {
                inactive.entry((id, output.programme)).or_default().1 += u128::from(output.amount_minor);
            }
        }
        if inactive.is_empty() {
            return Ok(());
        }
        for output in spent {
            if let Some(id) = merchant(&output.owner)
                && let Some(flow) = inactive.get_mut(&(id, output.programme))
            {
                flow.0 += u128::from(output.amount_minor);
            }
        }
        match inactive.iter().find(|(_, (spends, receives))| receives > spends) {
            Some(((id, programme), (spends, receives))) => Err(Refusal::new(
                Reason::ParticipantInactive,
                format!(
                    "merchant '{id}' is deactivated: it may pay out what it holds and get its own change back, not \
                     receive ({receives} minor units of programme {programme} to it, {spends} from it)"
                ),
            )),
            None => Ok(()),
        }
    }

    /// A recovery: issuer-authorised, moving only earmarked outputs of a
    /// wallet frozen for recovery to the replacement its freezing named,
    /// each programme's money as the same programme's.
    fn check_recovery(&self, vtx: &VerifiedTx) -> Result<Vec<Output>, Decline> {
        let tx = &vtx.tx;
        self.check_issuers(vtx)?;
        let (lost, replacement) = encoding::recovery_terms(tx)
            .ok_or_else(|| Refusal::new(Reason::Malformed, "a recovery names the lost wallet and its replacement"))?;
        let not_allowed = |detail: String| Decline::from(Refusal::new(Reason::RecoveryNotAllowed, detail));
        match self.registry.frozen.get(&lost) {
            Some(Frozen::Recovered { replacement: to, .. }) if *to == replacement => {}
            Some(Frozen::Recovered { replacement: to, .. }) => {
                return Err(not_allowed(format!("wallet {lost} was recovered to {to}, not {replacement}")));
            }
            Some(Frozen::Held { .. }) | None => {
                return Err(not_allowed(format!(
                    "wallet {lost} is not frozen for recovery (AdminService.RecoverWallet freezes it first)"
                )));
            }
        }
        let mut spent = Vec::with_capacity(tx.inputs.len());
        for input in &tx.inputs {
            let output = self.unspent.get(input).ok_or(Decline::InputMissing(*input))?;
            if output.owner != lost || output.programme == 0 {
                return Err(Refusal::new(
                    Reason::RecoveryNotAllowed,
                    format!(
                        "input {input} is not earmarked money of {lost}: a recovery moves only the lost wallet's \
                         earmarked money (its unrestricted money and merchants' takings are out of scope)"
                    ),
                )
                .with_input(*input)
                .into());
            }
            spent.push(*output);
        }
        if let Some(output) = tx.outputs.iter().find(|o| o.owner != replacement) {
            return Err(not_allowed(format!(
                "a recovery pays the replacement {replacement} only, not {}",
                output.owner
            )));
        }
        let mut balance: BTreeMap<ProgrammeId, i128> = BTreeMap::new();
        for output in &spent {
            *balance.entry(output.programme).or_default() += i128::from(output.amount_minor);
        }
        for output in &tx.outputs {
            *balance.entry(output.programme).or_default() -= i128::from(output.amount_minor);
        }
        if let Some((programme, difference)) = balance.iter().find(|(_, d)| **d != 0) {
            return Err(Refusal::new(
                Reason::NotConserved,
                format!("programme {programme}: a recovery's inputs and outputs differ by {difference} minor units"),
            )
            .into());
        }
        Ok(spent)
    }

    /// What a refund's outputs pay back, programme by programme: every output
    /// not to a merchant's payout address (the refunding merchant's change)
    /// is a refund, to the payer, or to a programme's treasury (as
    /// programme 0 money) for that programme. Programme 0 parts are
    /// unrestricted money paid back.
    fn refund_parts(&self, outputs: &[Output]) -> Vec<RefundPart> {
        outputs
            .iter()
            .filter_map(|output| match self.registry.role(&output.owner) {
                Some(Role::Merchant { .. }) => None,
                Some(Role::Treasury { programme }) => Some(RefundPart {
                    programme: *programme,
                    amount: output.amount_minor,
                    owner: output.owner,
                    paid_as: output.programme,
                    to_treasury: true,
                }),
                _ => Some(RefundPart {
                    programme: output.programme,
                    amount: output.amount_minor,
                    owner: output.owner,
                    paid_as: output.programme,
                    to_treasury: false,
                }),
            })
            .collect()
    }

    /// The merchant whose payout addresses hold every input (a redemption's
    /// and a refund's rule).
    fn merchant_of_inputs(&self, tx: &Transaction, spent: &[Output]) -> Result<String, Refusal> {
        let merchant_of = |owner: &Address| match self.registry.role(owner) {
            Some(Role::Merchant { id, .. }) => Some(id.clone()),
            _ => None,
        };
        let merchant = merchant_of(&spent[0].owner).ok_or_else(|| {
            Refusal::new(Reason::NotAMerchant, format!("{} is not a merchant's payout address", spent[0].owner))
                .with_input(tx.inputs[0])
        })?;
        for (input, output) in tx.inputs.iter().zip(spent) {
            if merchant_of(&output.owner).as_ref() != Some(&merchant) {
                return Err(Refusal::new(
                    Reason::NotAMerchant,
                    format!("input {input} is not merchant {merchant}'s: one merchant pays a refund or a redemption"),
                )
                .with_input(*input));
            }
        }
        Ok(merchant)
    }

    /// A refund: one merchant (its payout keys signing) pays back some of a
    /// payment it took. Each refunded part goes back to the payment's payer
    /// as the same programme's money (whatever the transferability rule),
    /// or, once the programme has ended, to its treasury as programme 0
    /// money; within the programme's refund window; never more of a
    /// programme than the merchant received of it in that payment, with
    /// earlier refunds. The merchant's change keeps its programmes, and may
    /// be less of a programme than it spends (a refund of earmarked money
    /// may be paid from unrestricted money), never more.
    fn check_refund(&self, vtx: &VerifiedTx, now_unix_ms: u64, check: RefundCheck<'_>) -> Result<Vec<Output>, Decline> {
        let tx = &vtx.tx;
        let basis = match check {
            RefundCheck::NotLookedUp => {
                return Err(Refusal::new(
                    Reason::UnknownPayment,
                    "a refund is judged against the payment it names, which was not looked up",
                )
                .into());
            }
            RefundCheck::Replayed => None,
            RefundCheck::Against(basis) => Some(basis),
        };
        let spent = self.spent_by_owners(vtx)?;
        let merchant = self.merchant_of_inputs(tx, &spent)?;
        if let Some(other) = tx.outputs.iter().find_map(|o| match self.registry.role(&o.owner) {
            Some(Role::Merchant { id, .. }) if *id != merchant => Some(id.clone()),
            _ => None,
        }) {
            return Err(Refusal::new(
                Reason::PayeeNotAllowed,
                format!("a refund of merchant {merchant} pays no other merchant ({other})"),
            )
            .into());
        }
        let payment = TxId::from_slice(&tx.reference)
            .ok_or_else(|| Refusal::new(Reason::Malformed, "a refund's reference is the payment's txid"))?;
        let parts = self.refund_parts(&tx.outputs);
        if parts.is_empty() {
            return Err(Refusal::new(Reason::NotRefundable, "a refund pays something back").into());
        }
        let received = match basis {
            Some(basis) => Some(self.refundable(basis, &payment, &merchant, &parts)?),
            None => None,
        };
        let mut by_programme: BTreeMap<ProgrammeId, AmountMinor> = BTreeMap::new();
        for part in &parts {
            self.check_refund_part(part, basis, now_unix_ms)?;
            let sum = by_programme.entry(part.programme).or_default();
            *sum = sum.saturating_add(part.amount);
        }
        if let Some(received) = received {
            let before = self.refunded(&payment);
            for (programme, amount) in &by_programme {
                let paid = received.get(programme).copied().unwrap_or(0);
                let left = paid.saturating_sub(before.get(programme).copied().unwrap_or(0));
                if *amount > left {
                    return Err(Refusal::new(
                        Reason::RefundExceedsPayment,
                        format!(
                            "payment {payment} paid merchant {merchant} {paid} minor units of programme {programme}; \
                             {left} are left to refund, this refunds {amount}"
                        ),
                    )
                    .into());
                }
            }
        }
        self.check_refund_change(tx, &spent)?;
        Ok(spent)
    }

    /// The payment a refund names, as it must be: a payment, with one
    /// payer, that paid this merchant; the refund's payer-bound parts go
    /// back to that payer. Returns what the merchant received of it.
    fn refundable<'b>(
        &self,
        basis: &'b RefundBasis,
        payment: &TxId,
        merchant: &str,
        parts: &[RefundPart],
    ) -> Result<&'b BTreeMap<ProgrammeId, AmountMinor>, Refusal> {
        if basis.original != *payment {
            return Err(Refusal::new(Reason::UnknownPayment, format!("the payment looked up is not {payment}")));
        }
        if basis.kind != TxKind::Transfer {
            return Err(Refusal::new(
                Reason::NotRefundable,
                format!("{payment} is a {:?} transaction, not a payment: only payments are refunded", basis.kind),
            ));
        }
        let received = basis.received.get(merchant).ok_or_else(|| {
            Refusal::new(Reason::NotRefundable, format!("payment {payment} did not pay merchant {merchant}"))
        })?;
        let [payer] = basis.payers.as_slice() else {
            return Err(Refusal::new(
                Reason::NotRefundable,
                format!("payment {payment} had {} payers; a refund goes back to one", basis.payers.len()),
            ));
        };
        if let Some(part) = parts.iter().find(|p| !p.to_treasury && p.owner != *payer) {
            return Err(Refusal::new(
                Reason::PayeeNotAllowed,
                format!("a refund of payment {payment} goes back to its payer {payer}, not {}", part.owner),
            ));
        }
        Ok(received)
    }

    /// One refunded part: earmarked money back to the payer as that
    /// programme's money while the programme runs, to its treasury as
    /// programme 0 money once it has ended; within its refund window.
    fn check_refund_part(
        &self,
        part: &RefundPart,
        basis: Option<&RefundBasis>,
        now_unix_ms: u64,
    ) -> Result<(), Refusal> {
        if part.programme == 0 {
            return Ok(());
        }
        let id = part.programme;
        let programme = self
            .registry
            .programmes
            .get(&id)
            .ok_or_else(|| Refusal::new(Reason::UnknownProgramme, format!("no programme {id}")))?;
        let ended = now_unix_ms >= programme.valid_until_ms;
        if ended && !part.to_treasury {
            return Err(Refusal::new(
                Reason::PayeeNotAllowed,
                format!("programme {id} has ended: a refund of its money goes to its treasury {}", programme.treasury),
            ));
        }
        if !ended && part.to_treasury {
            return Err(Refusal::new(
                Reason::PayeeNotAllowed,
                format!("programme {id} runs: a refund of its money goes back to the payer as programme {id} money"),
            ));
        }
        if part.paid_as != if ended { 0 } else { id } {
            return Err(Refusal::new(
                Reason::NotConserved,
                format!(
                    "a refund of programme {id} is paid as programme {} money, not {}",
                    if ended { 0 } else { id },
                    part.paid_as
                ),
            ));
        }
        let Some(basis) = basis else { return Ok(()) };
        let window_ms = programme.refund_window_ms.unwrap_or(0);
        if window_ms == 0 {
            return Err(Refusal::new(Reason::RefundWindowClosed, format!("programme {id} allows no refunds")));
        }
        let until_ms = basis.paid_at_ms.saturating_add(window_ms);
        if now_unix_ms > until_ms {
            return Err(Refusal::new(
                Reason::RefundWindowClosed,
                format!(
                    "programme {id} allows refunds until {window_ms} ms after the payment: until {}",
                    iso8601(until_ms)
                ),
            ));
        }
        Ok(())
    }

    /// A refund spends and pays the same total; its change to the merchant
    /// is of programmes the merchant spent, never more of one than it spent.
    fn check_refund_change(&self, tx: &Transaction, spent: &[Output]) -> Result<(), Refusal> {
        let total = |outputs: &[Output]| -> u128 { outputs.iter().map(|o| u128::from(o.amount_minor)).sum() };
        if total(spent) != total(&tx.outputs) {
            return Err(Refusal::new(
                Reason::NotConserved,
                "a refund pays out exactly what it spends: the refund and the merchant's change",
            ));
        }
        // Per programme, what it spends against what it pays out, an output
        // to a treasury counted in the programme it refunds: earmarked money
        // never leaves its programme, and grows only by what goes back to
        // the payer, paid from unrestricted money.
        let mut spent_by: BTreeMap<ProgrammeId, u128> = BTreeMap::new();
        for output in spent {
            *spent_by.entry(output.programme).or_default() += u128::from(output.amount_minor);
        }
        let mut paid_by: BTreeMap<ProgrammeId, u128> = BTreeMap::new();
        for output in &tx.outputs {
            let programme = match self.registry.role(&output.owner) {
                Some(Role::Treasury { programme }) => *programme,
                _ => output.programme,
            };
            *paid_by.entry(programme).or_default() += u128::from(output.amount_minor);
        }
        let mut to_payer: BTreeMap<ProgrammeId, u128> = BTreeMap::new();
        for part in self.refund_parts(&tx.outputs).iter().filter(|p| !p.to_treasury) {
            *to_payer.entry(part.programme).or_default() += u128::from(part.amount);
        }
        let programmes: std::collections::BTreeSet<ProgrammeId> =
            spent_by.keys().chain(paid_by.keys()).copied().collect();
        for programme in programmes {
            let (spends, pays) =
                (spent_by.get(&programme).copied().unwrap_or(0), paid_by.get(&programme).copied().unwrap_or(0));
            let grows_by = if programme == 0 { 0 } else { to_payer.get(&programme).copied().unwrap_or(0) };
            if pays < spends && programme != 0 {
                return Err(Refusal::new(
                    Reason::NotConserved,
                    format!(
                        "programme {programme}: a refund pays out less of it than it spends: earmarked money stays earmarked"
                    ),
                ));
            }
            if pays > spends.saturating_add(grows_by) {
                return Err(Refusal::new(
                    Reason::NotConserved,
                    format!(
                        "programme {programme}: a refund pays out more of it than it spends and refunds to the payer"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds a refund's parts to what was refunded of its payment.
    fn record_refund(&mut self, vtx: &VerifiedTx) {
        let Some(payment) = TxId::from_slice(&vtx.tx.reference) else { return };
        let parts = self.refund_parts(&vtx.tx.outputs);
        let refunded = self.refunded.entry(payment).or_default();
        for part in parts {
            let sum = refunded.entry(part.programme).or_default();
            *sum = sum.saturating_add(part.amount);
        }
        self.touched_refunds.insert(payment);
    }

    /// A clawback: issuer-authorised, after the programme ended, moving only
    /// that programme's outputs, all of it to its treasury as unrestricted
    /// money.
    fn check_clawback(&self, vtx: &VerifiedTx, now_unix_ms: u64) -> Result<Vec<Output>, Decline> {
        let tx = &vtx.tx;
        self.check_issuers(vtx)?;
        let (id, authorised_until_ms) =
            crate::core::encoding::clawback_terms(tx).ok_or_else(|| Refusal::new(Reason::Malformed, "no programme"))?;
        let programme = self
            .registry
            .programmes
            .get(&id)
            .ok_or_else(|| Refusal::new(Reason::UnknownProgramme, format!("no programme {id}")))?;
        // The issuers signed the programme's validity as they knew it: an
        // authorisation of another validity authorises nothing here.
        if authorised_until_ms != programme.valid_until_ms {
            return Err(Refusal::new(
                Reason::BadSignature,
                format!(
                    "the clawback authorisation is for programme {id} valid until {}; it is registered until {}",
                    iso8601(authorised_until_ms),
                    iso8601(programme.valid_until_ms)
                ),
            )
            .into());
        }
        if now_unix_ms < programme.valid_until_ms {
            return Err(Refusal::new(
                Reason::ProgrammeNotExpired,
                format!(
                    "programme {id} runs until {}: it can be clawed back only after",
                    iso8601(programme.valid_until_ms)
                ),
            )
            .into());
        }
        let mut spent = Vec::with_capacity(tx.inputs.len());
        for input in &tx.inputs {
            let output = self.unspent.get(input).ok_or(Decline::InputMissing(*input))?;
            if let Some(Role::Merchant { id: merchant, .. }) = self.registry.role(&output.owner) {
                return Err(Refusal::new(
                    Reason::PayeeNotAllowed,
                    format!("input {input} is merchant {merchant}'s takings, which are not clawed back"),
                )
                .with_input(*input)
                .into());
            }
            if output.programme != id {
                return Err(Refusal::new(
                    Reason::NotConserved,
                    format!("input {input} is programme {} money, not programme {id}", output.programme),
                )
                .with_input(*input)
                .into());
            }
            spent.push(*output);
        }
        let total: u64 = spent.iter().map(|o| o.amount_minor).sum();
        let output = &tx.outputs[0];
        if output.owner != programme.treasury {
            return Err(Refusal::new(
                Reason::PayeeNotAllowed,
                format!("programme {id} is clawed back to its treasury {} only", programme.treasury),
            )
            .into());
        }
        if output.programme != 0 || output.amount_minor != total {
            return Err(Refusal::new(
                Reason::NotConserved,
                format!("a clawback returns all {total} minor units to the treasury as programme 0 money"),
            )
            .into());
        }
        Ok(spent)
    }

    /// A redemption: a merchant (its payout keys signing) burns some of its
    /// takings, of any programme, into its bank's deposits; what it keeps
    /// comes back as change to its own payout addresses, programme by
    /// programme. Which bank may submit it is the caller's rule.
    fn check_redeem(&self, vtx: &VerifiedTx) -> Result<Vec<Output>, Decline> {
        let tx = &vtx.tx;
        let spent = self.spent_by_owners(vtx)?;
        let merchant = self.merchant_of_inputs(tx, &spent)?;
        let merchant_of = |owner: &Address| match self.registry.role(owner) {
            Some(Role::Merchant { id, .. }) => Some(id.clone()),
            _ => None,
        };
        for output in &tx.outputs {
            if merchant_of(&output.owner).as_ref() != Some(&merchant) {
                return Err(Refusal::new(
                    Reason::PayeeNotAllowed,
                    format!("a redemption's change goes back to merchant {merchant}'s payout addresses only"),
                )
                .into());
            }
        }
        let mut programmes: Vec<ProgrammeId> = spent.iter().chain(&tx.outputs).map(|o| o.programme).collect();
        programmes.sort_unstable();
        programmes.dedup();
        for programme in programmes {
            let sum = |outputs: &[Output]| -> u128 {
                outputs.iter().filter(|o| o.programme == programme).map(|o| u128::from(o.amount_minor)).sum()
            };
            if sum(&tx.outputs) > sum(&spent) {
                return Err(Refusal::new(
                    Reason::NotConserved,
                    format!("programme {programme}: a redemption's change exceeds what it spends"),
                )
                .into());
            }
        }
        let burned = spent.iter().map(|o| u128::from(o.amount_minor)).sum::<u128>()
            - tx.outputs.iter().map(|o| u128::from(o.amount_minor)).sum::<u128>();
        if burned == 0 {
            return Err(Refusal::new(Reason::NotConserved, "a redemption burns a positive amount").into());
        }
        Ok(spent)
    }

    fn paid_per_person(&self, programme: ProgrammeId) -> bool {
        self.registry.programmes.get(&programme).is_some_and(|p| p.payment_period.is_some())
    }

    /// A claim: one output, of a programme paid per person, for a month
    /// begun and within the programme's validity, to the wallet the
    /// programme pays of the person the claim names. That the person was
    /// not paid for the period already is the sequencer's check (a mint
    /// reference pays once, and the claim is the reference).
    fn check_claim(&self, outputs: &[Output], claim: &ClaimTerms, now_unix_ms: u64) -> Result<(), Refusal> {
        let id = claim.programme;
        let programme = self
            .registry
            .programmes
            .get(&id)
            .ok_or_else(|| Refusal::new(Reason::UnknownProgramme, format!("no programme {id}")))?;
        if programme.payment_period.is_none() {
            return Err(Refusal::new(
                Reason::ClaimRequired,
                format!("programme {id} pays addresses, not people: its mints are not claims"),
            ));
        }
        let [output] = outputs else {
            return Err(Refusal::new(Reason::ClaimRequired, "a claim pays one person: exactly one output"));
        };
        if output.programme != id {
            return Err(Refusal::new(
                Reason::ClaimRequired,
                format!("a claim on programme {id} pays programme {id} money, not programme {}", output.programme),
            ));
        }
        let period = claim.period;
        let (start_ms, end_ms) = period::month_bounds_ms(period, self.tiers.day_offset_minutes)
            .ok_or_else(|| Refusal::new(Reason::BadPeriod, format!("period {period} is not a month YYYYMM")))?;
        if now_unix_ms < start_ms {
            return Err(Refusal::new(
                Reason::BadPeriod,
                format!("period {period} begins at {}: a month is paid once it has begun", iso8601(start_ms)),
            ));
        }
        if end_ms <= programme.valid_from_ms || start_ms >= programme.valid_until_ms {
            return Err(Refusal::new(
                Reason::BadPeriod,
                format!(
                    "period {period} lies outside programme {id}'s validity ({} to {})",
                    iso8601(programme.valid_from_ms),
                    iso8601(programme.valid_until_ms)
                ),
            ));
        }
        let wallet = output.owner;
        let beneficiary = self.registry.person_of(&wallet).ok_or_else(|| {
            Refusal::new(Reason::NotDesignated, format!("wallet {wallet} is linked to no beneficiary"))
        })?;
        if beneficiary.designated.get(&id) != Some(&wallet) {
            return Err(Refusal::new(
                Reason::NotDesignated,
                format!("wallet {wallet} is not the wallet its beneficiary designated for programme {id}"),
            ));
        }
        if encoding::claim_tag(id, period, &beneficiary.person) != claim.tag {
            return Err(Refusal::new(
                Reason::NotDesignated,
                format!("wallet {wallet} belongs to another person than the claim names"),
            ));
        }
        Ok(())
    }

    /// Every witness is an issuer key, and at least the threshold signed.
    fn check_issuers(&self, vtx: &VerifiedTx) -> Result<(), Decline> {
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
        Ok(())
    }

    fn check_mint(&self, vtx: &VerifiedTx, now_unix_ms: u64) -> Result<(), Decline> {
        self.check_issuers(vtx)?;
        for output in vtx.tx.outputs.iter().filter(|o| o.programme != 0) {
            self.live_programme(output.programme, now_unix_ms)?;
        }
        match encoding::claim_terms(&vtx.tx.reference) {
            Some(claim) => self.check_claim(&vtx.tx.outputs, &claim, now_unix_ms)?,
            None => {
                if let Some(programme) = vtx.tx.outputs.iter().find(|o| self.paid_per_person(o.programme)) {
                    return Err(Refusal::new(
                        Reason::ClaimRequired,
                        format!(
                            "programme {} pays registered beneficiaries once a period, by claim; this mint's \
                             reference is not a claim",
                            programme.programme
                        ),
                    )
                    .into());
                }
            }
        }
        let created: u64 = vtx.tx.outputs.iter().map(|o| o.amount_minor).sum();
        if self.totals.minted_minor.checked_add(created).is_none() {
            return Err(Refusal::new(Reason::SupplyOverflow, "total minted would exceed 2^64-1 minor units").into());
        }
        Ok(())
    }
}

/// One refunded part of a refund transaction.
#[derive(Clone, Copy, Debug)]
struct RefundPart {
    /// The programme whose money is refunded.
    programme: ProgrammeId,
    amount: AmountMinor,
    owner: Address,
    /// The programme of the output that pays it.
    paid_as: ProgrammeId,
    to_treasury: bool,
}

/// Each owner that ends up with more than it put in, and how much more:
/// `to` minus `from` per owner (of one programme, or of all). With the
/// inputs as `from` and the outputs as `to` these are the payees; swapped,
/// the payers and what they paid. Change back to an owner is not a payment,
/// whoever else signed.
fn net_received(from: &[Output], to: &[Output], programme: Option<ProgrammeId>) -> Vec<(Address, AmountMinor)> {
    let in_scope = |o: &&Output| programme.is_none_or(|p| o.programme == p);
    let mut owners: Vec<Address> = to.iter().filter(in_scope).map(|o| o.owner).collect();
    owners.sort_unstable();
    owners.dedup();
    owners
        .into_iter()
        .filter_map(|owner| {
            let sum = |outputs: &[Output]| -> AmountMinor {
                outputs
                    .iter()
                    .filter(in_scope)
                    .filter(|o| o.owner == owner)
                    .fold(0, |s, o| s.saturating_add(o.amount_minor))
            };
            let (had, got) = (sum(from), sum(to));
            (got > had).then(|| (owner, got - had))
        })
        .collect()
}
