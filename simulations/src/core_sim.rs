//! Deterministic simulation of the core with storage faults.
//!
//! One seed drives the engine's own sequencer ([`Sequencing`]: the decisions
//! of the sequencer thread, without the thread), the writer's answers
//! ([`answer_durable`], [`answer_unavailable`]), the real ledger, block seal
//! and redb store, on a simulated disk ([`SimDisk`]) that fails writes,
//! fails fsyncs, loses power mid-commit and tears unsynced writes. The
//! sequencer keeps admitting while up to two sealed blocks wait for the
//! writer, as the engine pipelines: double spends, resubmissions and reused
//! mint references of transactions sealed but not yet durable go through
//! the engine's pending-block bookkeeping, and refusals resting on them must
//! wait until they are durable.
//!
//! Every answer is checked against a small reference model that knows only
//! the rules (PROTOCOL §4.6-§4.9, §9.3, §10.1, §11): which outputs exist, who spent what, what was
//! minted and burned, the welfare programme's merchant categories, start and
//! expiry, the wallet tier's limits with days in the ledger's time zone
//! (UTC+8, computed from the calendar), who may submit what; and when the
//! answer may come: a confirmation or a resubmission's receipt only once its
//! block is durable, a refusal at once unless it names a transaction not yet
//! durable, and `UNAVAILABLE` for everything in flight when a commit fails.
//!
//! A failed commit is the engine's fail-stop: the store is dropped, the disk
//! rebooted (with everything not synced dropped or torn), the ledger
//! reopened, and the block whose commit failed must be either wholly there
//! or wholly absent, with everything confirmed before it intact. The
//! workload pays, mints, redeems (burning), claws back, refunds (merchants
//! paying back payments, within the programme's window, never more than was
//! paid, once the programme has ended to its treasury), recovers a lost
//! wallet (frozen, its earmarked money moved to the person's other wallet,
//! which takes over its designation; the frozen wallet spends and receives
//! nothing), and pays people by
//! claim (a programme paid once a month per person: claims of a month not
//! begun or outside the programme, to a wallet the person did not
//! designate or of another person, a second claim of a paid month). The
//! programme statistics kept beside the ledger are checked too: what
//! merchants took (by merchant, and by ledger day, summing to the
//! spending by category), and the claims refused as paid already (durable
//! with the next job the writer writes, with a block or alone; never on
//! the follower).
//!
//! A failing seed prints one command that reproduces it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::dev::{
    AdminReply, DiskFault, OpenBlock, Sequencing, SequencingContext, SimDisk, WriterJob, answer_durable,
    answer_unavailable,
};
use settled::limits::PROGRAMME_DAYS_KEPT;
use settled::registry::{
    Actor, AdminOp, Bank, Beneficiary, Merchant, MerchantFigures, Participant, PaymentPeriod, Principal, Programme,
    ProgrammeStats, RegistryChange, Tier, TierPolicy, Wallet,
};
use settled::replica::{self, ReplicatedBlock};
use settled::{
    Address, ChainId, Genesis, Keypair, Ledger, OutPoint, Output, PersonRef, Reason, Reply, SignedHeader, Store,
    Submitter, TX_VERSION, Transaction, TxId, TxKind, Witness, client,
};
use tokio::sync::oneshot;

/// Longest simulation one seed runs.
pub const CORE_STEPS_MAX: u64 = 100_000;
/// Transactions in one simulated block at most (the engine's limit is far
/// larger; small blocks give more commits, hence more fault points).
pub const SIM_BLOCK_TXS_MAX: usize = 8;
const WALLETS: usize = 10;
/// Wallets registered with the limited tier (the rest are unregistered and
/// unlimited).
const TIERED_WALLETS: usize = 4;
const PROGRAMME: u32 = 7;
/// A programme paid once a month per person, by claim, spent under the
/// same rules as `PROGRAMME`. It began 45 days before the run (so last
/// month is within it) and ends with `PROGRAMME`.
const PEOPLE_PROGRAMME: u32 = 8;
const PEOPLE_FROM_BEFORE_MS: u64 = 45 * DAY_MS;
/// Two beneficiaries: the first links wallets 0 and 1 and designates 0,
/// the second links and designates wallet 2 (all tiered wallets). A third
/// person is registered nowhere.
const PERSONS: [PersonRef; 3] = [PersonRef([0xa1; 32]), PersonRef([0xb2; 32]), PersonRef([0xc3; 32])];
const SIM_BANK: &str = "bank-sim";
const MCC_GROCERY: u16 = 5411;
const MCC_BAR: u16 = 5813;
const TIER: Tier = Tier {
    id: 1,
    balance_cap_minor: 150_000,
    per_payment_minor: 30_000,
    per_day_minor: 60_000,
    per_year_minor: Some(80_000),
};
const PROGRAMME_PAYMENT_MAX: u64 = 50_000;
/// How long after a payment `PROGRAMME`'s money may be refunded: a minute
/// of simulated time (a step is a second), so windows close within a run.
/// `PEOPLE_PROGRAMME` allows no refunds.
const REFUND_WINDOW_MS: u64 = 60_000;
/// The simulated clock starts near this time (2030) and moves one second a
/// step; each seed starts some steps before a day boundary.
const CLOCK_BASE_MS: u64 = 1_900_000_000_000;
const DAY_MS: u64 = 86_400_000;
/// The ledger's time zone, as production configures it (UTC+8).
const DAY_OFFSET_MINUTES: i32 = 480;
const DAY_OFFSET_MS: u64 = 480 * 60_000;
/// Blocks sealed and waiting for the writer at most. The engine has one
/// being written and one waiting to be handed over; the simulation lets two
/// wait while the sequencer admits, a harsher schedule.
const IN_FLIGHT_MAX: usize = 2;
/// Chance that a commit is preceded by a scheduled fault, in percent.
const FAULT_PERCENT: u32 = 12;
/// Chance of a clean restart after a commit, in percent.
const RESTART_PERCENT: u32 = 3;

/// What the seeds went through.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoreReport {
    /// Refusals by reason (and duplicates), to show every rule was reached.
    pub outcomes: BTreeMap<String, u64>,
    pub seeds: u64,
    pub steps: u64,
    pub applied: u64,
    pub refused: u64,
    pub duplicates: u64,
    pub blocks: u64,
    pub write_failures: u64,
    pub sync_failures: u64,
    pub power_losses: u64,
    /// Reboots that kept some but not all unsynced sectors.
    pub torn_reboots: u64,
    /// Blocks whose commit failed and that were found after the reboot.
    pub unconfirmed_found: u64,
    /// Blocks whose commit failed and that were gone after the reboot.
    pub unconfirmed_gone: u64,
    pub reopens: u64,
    pub receipts_checked: u64,
    /// Blocks the follower replica replayed to the leader's header.
    pub replayed: u64,
    /// Bank movements found equal on the leader and the follower.
    pub movements_compared: u64,
    /// Submissions the sequencer took while a sealed block was not yet
    /// durable.
    pub admitted_while_writing: u64,
    /// Refusals said only once the block they waited on was durable.
    pub deferred_refusals: u64,
    /// Those by reason.
    pub deferred_outcomes: BTreeMap<String, u64>,
    /// Submissions whose caller was gone before the sequencer took them.
    pub callers_gone: u64,
    /// Programme statistics written with no block (claims refused as paid
    /// already while no block was open).
    pub stats_alone: u64,
    /// Programmes whose spending by day was compared with the model's,
    /// after a reopen.
    pub days_compared: u64,
}

impl std::ops::AddAssign for CoreReport {
    fn add_assign(&mut self, o: Self) {
        for (outcome, n) in o.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        self.seeds += o.seeds;
        self.steps += o.steps;
        self.applied += o.applied;
        self.refused += o.refused;
        self.duplicates += o.duplicates;
        self.blocks += o.blocks;
        self.write_failures += o.write_failures;
        self.sync_failures += o.sync_failures;
        self.power_losses += o.power_losses;
        self.torn_reboots += o.torn_reboots;
        self.unconfirmed_found += o.unconfirmed_found;
        self.unconfirmed_gone += o.unconfirmed_gone;
        self.reopens += o.reopens;
        self.receipts_checked += o.receipts_checked;
        self.replayed += o.replayed;
        self.movements_compared += o.movements_compared;
        self.admitted_while_writing += o.admitted_while_writing;
        self.deferred_refusals += o.deferred_refusals;
        for (outcome, n) in o.deferred_outcomes {
            *self.deferred_outcomes.entry(outcome).or_default() += n;
        }
        self.callers_gone += o.callers_gone;
        self.stats_alone += o.stats_alone;
        self.days_compared += o.days_compared;
    }
}

/// The reference model: what the ledger holds, from the rules alone.
#[derive(Clone, Debug)]
struct Model {
    programme_from: u64,
    programme_until: u64,
    unspent: BTreeMap<OutPoint, Output>,
    minted: u64,
    burned: u64,
    /// The registry (bank, merchants, programme, tiered wallets) is in.
    registered: bool,
    spent_by: BTreeMap<OutPoint, TxId>,
    /// Every applied transaction: its sequence.
    sequences: BTreeMap<TxId, u64>,
    /// Height of the block of every sealed transaction.
    heights: BTreeMap<TxId, u64>,
    references: BTreeMap<Vec<u8>, TxId>,
    /// Tiered payers' (day, total paid that day).
    daily: BTreeMap<Address, (u64, u64)>,
    /// Tiered payers' (year, total paid that year): the tier has an annual
    /// limit.
    yearly: BTreeMap<Address, (u64, u64)>,
    /// Merchants deactivated (`SetActive`).
    inactive: BTreeSet<&'static str>,
    next_sequence: u64,
    /// What a refund may name: every applied transaction's kind, payers,
    /// what each merchant received of each programme, and its block time.
    payments: BTreeMap<TxId, Paid>,
    /// What was refunded of each payment, per programme.
    refunded: BTreeMap<TxId, BTreeMap<u32, u64>>,
    /// Each person's designated wallet for `PEOPLE_PROGRAMME`.
    designated: BTreeMap<PersonRef, Address>,
    /// Frozen wallets, and the replacement each was recovered to.
    frozen: BTreeMap<Address, Address>,
    /// What each merchant took of each programme: the per-merchant
    /// programme statistics.
    merchants: BTreeMap<(u32, String), MerchantFigures>,
    /// What merchants took of each programme by ledger day, the latest
    /// `PROGRAMME_DAYS_KEPT` days.
    spent_by_day: SpentByDay,
    /// Claims refused as paid already: counted when the sequencer refuses
    /// them, durable with the next job the writer writes.
    duplicate_claims: RefusedClaims,
}

/// Programme -> ledger day (`YYYYMMDD`) -> what merchants took.
type SpentByDay = BTreeMap<u32, BTreeMap<u32, u64>>;
/// (programme, period) -> claims refused as paid already (none: absent).
type RefusedClaims = BTreeMap<(u32, u32), u64>;

/// An applied transaction as a refund sees it.
#[derive(Clone, Debug)]
struct Paid {
    kind: TxKind,
    payers: Vec<Address>,
    spent: Vec<Output>,
    outputs: Vec<Output>,
    at: u64,
}

impl Paid {
    /// What each merchant received, per programme, as the registry is now
    /// (the ledger reads the payment when the refund comes).
    fn received(&self, model: &Model, roles: &Roles) -> BTreeMap<&'static str, BTreeMap<u32, u64>> {
        let mut received: BTreeMap<&'static str, BTreeMap<u32, u64>> = BTreeMap::new();
        for programme in self.outputs.iter().map(|o| o.programme).collect::<BTreeSet<_>>() {
            for (owner, amount) in net_received(&self.spent, &self.outputs, Some(programme)) {
                if let Some(merchant) = roles.merchant(model, &owner) {
                    *received.entry(merchant).or_default().entry(programme).or_default() += amount;
                }
            }
        }
        received
    }
}

/// What the model says a submission must come to, and when: an applied
/// transaction or a resubmission is answered once its block is durable; a
/// refusal at once, except one that rests on another transaction not yet
/// durable (a spend, a mint reference), which waits for this block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Applied(u64),
    Duplicate(u64),
    Refused(Reason),
    /// Refused as spent, naming the spender.
    Spent(TxId),
    /// Refused as a reused mint reference, naming the mint that paid it.
    Reused(TxId),
    /// A claim refused as paid already, naming the mint that paid it.
    ClaimPaid(TxId),
}

/// The day number of a time in the ledger's time zone, from the calendar
/// alone: China Standard Time, UTC+8, as production configures it.
fn ledger_day(time_unix_ms: u64) -> u64 {
    (time_unix_ms + DAY_OFFSET_MS) / DAY_MS
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's algorithm), for the
/// model's months, apart from the ledger's calendar library.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number since 1970-01-01 (H. Hinnant's
/// algorithm), as `YYYYMMDD`.
fn civil_from_days(days: i64) -> u32 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    u32::try_from(year * 10_000 + month * 100 + day).expect("a date after the epoch")
}

/// The ledger day `YYYYMMDD` of a time, in the ledger's time zone.
fn day_name(time_unix_ms: u64) -> u32 {
    civil_from_days(i64::try_from(ledger_day(time_unix_ms)).expect("a day number"))
}

/// A month `YYYYMM`'s start and end in the ledger's time zone, or `None`.
fn month_bounds(period: u32) -> Option<(u64, u64)> {
    let (year, month) = (i64::from(period / 100), i64::from(period % 100));
    if !(2000..=9998).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let at = |y, m| u64::try_from(days_from_civil(y, m, 1)).ok().map(|d| d * DAY_MS - DAY_OFFSET_MS);
    Some((at(year, month)?, at(next_year, next_month)?))
}

/// The month `YYYYMM` holding a time in the ledger's time zone.
fn month_of(time_unix_ms: u64) -> u32 {
    let mut period = 200_001;
    while let Some((_, end)) = month_bounds(period) {
        if time_unix_ms < end {
            return period;
        }
        period = if period % 100 == 12 { period + 89 } else { period + 1 };
    }
    period
}

struct Roles {
    grocer: Address,
    bar: Address,
    treasury: Address,
    tiered: BTreeSet<Address>,
    issuers: Vec<Address>,
    people_treasury: Address,
    /// Each linked wallet's person, and each person's designated wallet.
    person_of: BTreeMap<Address, PersonRef>,
    designated: BTreeMap<PersonRef, Address>,
}

impl Roles {
    /// The programme whose treasury an address is.
    fn treasury_of(&self, owner: &Address) -> Option<u32> {
        if *owner == self.treasury {
            Some(PROGRAMME)
        } else if *owner == self.people_treasury {
            Some(PEOPLE_PROGRAMME)
        } else {
            None
        }
    }

    /// The merchant id of a payout address, once the registry is in.
    fn merchant(&self, model: &Model, owner: &Address) -> Option<&'static str> {
        if !model.registered {
            return None;
        }
        if *owner == self.grocer {
            Some("grocer")
        } else if *owner == self.bar {
            Some("bar")
        } else {
            None
        }
    }
}

/// A registry change as the simulation's operator makes it.
fn by_operator(op: AdminOp) -> RegistryChange {
    RegistryChange { op, by: Actor { principal: Principal::Operator, credential: [7; 32] } }
}

/// Who may submit what (PROTOCOL §9.3, §4.9): a terminal pays its own merchant only
/// and never redeems; a bank redeems its own merchants' takings only.
fn permitted(model: &Model, roles: &Roles, tx: &Transaction, submitter: &Submitter) -> bool {
    match submitter {
        Submitter::Trusted => true,
        Submitter::Terminal { merchant, .. } => {
            tx.kind != TxKind::Redeem
                && tx.outputs.iter().all(|o| roles.merchant(model, &o.owner).is_none_or(|m| m == merchant))
        }
        Submitter::Bank(bank) if tx.kind == TxKind::Redeem => tx
            .inputs
            .iter()
            .filter_map(|input| model.unspent.get(input))
            .all(|o| roles.merchant(model, &o.owner).is_none() || bank == SIM_BANK),
        Submitter::Bank(_) => true,
    }
}

impl Model {
    fn balance(&self, owner: &Address) -> u64 {
        self.unspent.values().filter(|o| o.owner == *owner).map(|o| o.amount_minor).sum()
    }

    fn tiered(&self, roles: &Roles, owner: &Address) -> bool {
        self.registered && roles.tiered.contains(owner)
    }

    fn validity(&self, programme: u32) -> (u64, u64) {
        if programme == PEOPLE_PROGRAMME {
            (self.programme_from - PEOPLE_FROM_BEFORE_MS, self.programme_until)
        } else {
            (self.programme_from, self.programme_until)
        }
    }

    fn programme_live(&self, programme: u32, now: u64) -> Result<(), Reason> {
        if ![PROGRAMME, PEOPLE_PROGRAMME].contains(&programme) || !self.registered {
            return Err(Reason::UnknownProgramme);
        }
        let (from, until) = self.validity(programme);
        if now < from {
            return Err(Reason::ProgrammeNotStarted);
        }
        if now >= until { Err(Reason::ProgrammeExpired) } else { Ok(()) }
    }

    /// A programme paid per person pays only by claim; a claim pays one
    /// output of its programme, for a month begun and within the
    /// programme, to the wallet the claim's person designated.
    fn expect_claim(&self, tx: &Transaction, now: u64, roles: &Roles) -> Result<(), Reason> {
        let Some(claim) = settled::claim_terms(&tx.reference) else {
            if tx.outputs.iter().any(|o| o.programme == PEOPLE_PROGRAMME) {
                return Err(Reason::ClaimRequired);
            }
            return Ok(());
        };
        if ![PROGRAMME, PEOPLE_PROGRAMME].contains(&claim.programme) || !self.registered {
            return Err(Reason::UnknownProgramme);
        }
        if claim.programme != PEOPLE_PROGRAMME {
            return Err(Reason::ClaimRequired);
        }
        let [output] = tx.outputs.as_slice() else { return Err(Reason::ClaimRequired) };
        if output.programme != claim.programme {
            return Err(Reason::ClaimRequired);
        }
        let (start, end) = month_bounds(claim.period).ok_or(Reason::BadPeriod)?;
        let (from, until) = self.validity(claim.programme);
        if now < start || end <= from || start >= until {
            return Err(Reason::BadPeriod);
        }
        let person = roles.person_of.get(&output.owner).ok_or(Reason::NotDesignated)?;
        if self.designated.get(person) != Some(&output.owner)
            || settled::claim_tag(claim.programme, claim.period, person) != claim.tag
        {
            return Err(Reason::NotDesignated);
        }
        Ok(())
    }

    /// The outcome the rules give `tx`, submitted by `submitter`, at `now`.
    /// `durable` holds the transactions of blocks made durable: a refund
    /// names one of them, or is refused.
    fn expect(
        &self,
        tx: &Transaction,
        txid: &TxId,
        now: u64,
        submitter: &Submitter,
        roles: &Roles,
        durable: &BTreeMap<TxId, u64>,
    ) -> Expect {
        if let Submitter::Terminal { merchant, .. } = submitter
            && self.inactive.contains(merchant.as_str())
        {
            return Expect::Refused(Reason::ParticipantInactive);
        }
        if !permitted(self, roles, tx, submitter) {
            return Expect::Refused(Reason::PermissionDenied);
        }
        let outcome = match tx.kind {
            TxKind::Mint => self.expect_mint(tx, txid, now, roles),
            TxKind::Transfer => self.expect_transfer(tx, txid, now, roles),
            TxKind::Redeem => self.expect_redeem(tx, txid, roles),
            TxKind::Clawback => self.expect_clawback(tx, txid, now, roles),
            TxKind::Refund => self.expect_refund(tx, txid, now, roles, durable),
            TxKind::Recovery => self.expect_recovery(tx, txid, roles),
        };
        let outcome = outcome.and_then(|()| self.not_frozen(tx, roles));
        outcome.err().unwrap_or(Expect::Applied(self.next_sequence))
    }

    /// Issuers sign mints and clawbacks: every witness one, at least two.
    fn issuers_signed(tx: &Transaction, issuers: &[Address]) -> Result<(), Expect> {
        if tx.witnesses.iter().any(|w| !issuers.contains(&w.public_key)) {
            return Err(Expect::Refused(Reason::UnexpectedWitness));
        }
        if tx.witnesses.len() < 2 {
            return Err(Expect::Refused(Reason::MintThreshold));
        }
        Ok(())
    }

    fn expect_mint(&self, tx: &Transaction, txid: &TxId, now: u64, roles: &Roles) -> Result<(), Expect> {
        if let Some(sequence) = self.sequences.get(txid) {
            return Err(Expect::Duplicate(*sequence));
        }
        if let Some(other) = self.references.get(&tx.reference) {
            if settled::claim_terms(&tx.reference).is_some() {
                return Err(Expect::ClaimPaid(*other));
            }
            return Err(Expect::Reused(*other));
        }
        Self::issuers_signed(tx, &roles.issuers)?;
        for output in tx.outputs.iter().filter(|o| o.programme != 0) {
            self.programme_live(output.programme, now).map_err(Expect::Refused)?;
        }
        self.expect_claim(tx, now, roles).map_err(Expect::Refused)?;
        let created = tx.outputs.iter().try_fold(0u64, |sum, o| sum.checked_add(o.amount_minor));
        if created.and_then(|c| c.checked_add(self.minted)).is_none() {
            return Err(Expect::Refused(Reason::SupplyOverflow));
        }
        self.within_balance_caps(&[], &tx.outputs, roles)
    }

    /// Each input unspent (or else: spent by this very transaction, a
    /// resubmission; by another; or never created), and signed by its owner
    /// and nobody else.
    fn owned_inputs(&self, tx: &Transaction, txid: &TxId) -> Result<Vec<Output>, Expect> {
        let mut spent = Vec::new();
        for input in &tx.inputs {
            spent.push(self.unspent_input(input, txid)?);
        }
        let signers: Vec<Address> = tx.witnesses.iter().map(|w| w.public_key).collect();
        if spent.iter().any(|o| !signers.contains(&o.owner)) {
            return Err(Expect::Refused(Reason::MissingWitness));
        }
        if signers.iter().any(|s| !spent.iter().any(|o| o.owner == *s)) {
            return Err(Expect::Refused(Reason::UnexpectedWitness));
        }
        Ok(spent)
    }

    fn unspent_input(&self, input: &OutPoint, txid: &TxId) -> Result<Output, Expect> {
        match (self.unspent.get(input), self.spent_by.get(input)) {
            (Some(output), _) => Ok(*output),
            (None, Some(spender)) if spender == txid => Err(Expect::Duplicate(self.sequences[txid])),
            (None, Some(spender)) => Err(Expect::Spent(*spender)),
            (None, None) => Err(Expect::Refused(Reason::InputUnknown)),
        }
    }

    fn expect_transfer(&self, tx: &Transaction, txid: &TxId, now: u64, roles: &Roles) -> Result<(), Expect> {
        let spent = self.owned_inputs(tx, txid)?;
        let mut programmes: BTreeSet<u32> = spent.iter().map(|o| o.programme).collect();
        programmes.extend(tx.outputs.iter().map(|o| o.programme));
        for programme in &programmes {
            let sum = |outputs: &[Output]| -> u64 {
                outputs.iter().filter(|o| o.programme == *programme).map(|o| o.amount_minor).sum()
            };
            if sum(&spent) != sum(&tx.outputs) {
                return Err(Expect::Refused(Reason::NotConserved));
            }
        }
        for programme in spent.iter().map(|o| o.programme).filter(|p| *p != 0).collect::<BTreeSet<_>>() {
            self.programme_live(programme, now).map_err(Expect::Refused)?;
            let mut paid = 0;
            for (payee, received) in net_received(&spent, &tx.outputs, Some(programme)) {
                paid += received;
                let reason = if payee == roles.grocer {
                    None
                } else if payee == roles.bar {
                    Some(Reason::MccNotAllowed)
                } else if payee == roles.treasury {
                    Some(Reason::PayeeNotAllowed)
                } else {
                    Some(Reason::TransferNotAllowed)
                };
                if let Some(reason) = reason {
                    return Err(Expect::Refused(reason));
                }
            }
            if paid > PROGRAMME_PAYMENT_MAX {
                return Err(Expect::Refused(Reason::ProgrammePaymentLimit));
            }
        }
        let day = ledger_day(now);
        for (payer, paid) in net_received(&tx.outputs, &spent, None) {
            if !self.tiered(roles, &payer) {
                continue;
            }
            if paid > TIER.per_payment_minor {
                return Err(Expect::Refused(Reason::TierPaymentLimit));
            }
            let today = match self.daily.get(&payer) {
                Some((d, total)) if *d == day => *total,
                _ => 0,
            };
            if today + paid > TIER.per_day_minor {
                return Err(Expect::Refused(Reason::TierDailyLimit));
            }
            let year = TierPolicy::year_of_day(day);
            let this_year = match self.yearly.get(&payer) {
                Some((y, total)) if *y == year => *total,
                _ => 0,
            };
            if TIER.per_year_minor.is_some_and(|limit| this_year + paid > limit) {
                return Err(Expect::Refused(Reason::TierAnnualLimit));
            }
        }
        self.within_balance_caps(&spent, &tx.outputs, roles)
    }

    fn within_balance_caps(&self, spent: &[Output], outputs: &[Output], roles: &Roles) -> Result<(), Expect> {
        for (payee, received) in net_received(spent, outputs, None) {
            if self.tiered(roles, &payee) && self.balance(&payee) + received > TIER.balance_cap_minor {
                return Err(Expect::Refused(Reason::BalanceCap));
            }
        }
        Ok(())
    }

    /// A redemption (PROTOCOL §4.9): one merchant's takings, signed by its
    /// payout keys, change back to that merchant only and never more than
    /// spent in any programme, something burned.
    fn expect_redeem(&self, tx: &Transaction, txid: &TxId, roles: &Roles) -> Result<(), Expect> {
        let spent = self.owned_inputs(tx, txid)?;
        let merchant = roles.merchant(self, &spent[0].owner).ok_or(Expect::Refused(Reason::NotAMerchant))?;
        if spent.iter().any(|o| roles.merchant(self, &o.owner) != Some(merchant)) {
            return Err(Expect::Refused(Reason::NotAMerchant));
        }
        if tx.outputs.iter().any(|o| roles.merchant(self, &o.owner) != Some(merchant)) {
            return Err(Expect::Refused(Reason::PayeeNotAllowed));
        }
        let mut programmes: BTreeSet<u32> = spent.iter().map(|o| o.programme).collect();
        programmes.extend(tx.outputs.iter().map(|o| o.programme));
        for programme in programmes {
            let sum = |outputs: &[Output]| -> u64 {
                outputs.iter().filter(|o| o.programme == programme).map(|o| o.amount_minor).sum()
            };
            if sum(&tx.outputs) > sum(&spent) {
                return Err(Expect::Refused(Reason::NotConserved));
            }
        }
        if burned(&spent, &tx.outputs) == 0 {
            return Err(Expect::Refused(Reason::NotConserved));
        }
        Ok(())
    }

    /// A clawback (PROTOCOL §4.8): issuer-authorised for the programme as
    /// registered, after its end, moving beneficiaries' money of that
    /// programme (never merchants' takings), all of it, to the treasury.
    fn expect_clawback(&self, tx: &Transaction, txid: &TxId, now: u64, roles: &Roles) -> Result<(), Expect> {
        Self::issuers_signed(tx, &roles.issuers)?;
        let (programme, until) = settled::clawback_terms(tx).ok_or(Expect::Refused(Reason::Malformed))?;
        if programme != PROGRAMME || !self.registered {
            return Err(Expect::Refused(Reason::UnknownProgramme));
        }
        if until != self.programme_until {
            return Err(Expect::Refused(Reason::BadSignature));
        }
        if now < self.programme_until {
            return Err(Expect::Refused(Reason::ProgrammeNotExpired));
        }
        let mut total = 0;
        for input in &tx.inputs {
            let output = self.unspent_input(input, txid)?;
            if roles.merchant(self, &output.owner).is_some() {
                return Err(Expect::Refused(Reason::PayeeNotAllowed));
            }
            if output.programme != PROGRAMME {
                return Err(Expect::Refused(Reason::NotConserved));
            }
            total += output.amount_minor;
        }
        let output = &tx.outputs[0];
        if output.owner != roles.treasury {
            return Err(Expect::Refused(Reason::PayeeNotAllowed));
        }
        if output.programme != 0 || output.amount_minor != total {
            return Err(Expect::Refused(Reason::NotConserved));
        }
        Ok(())
    }

    /// After every other rule: a frozen wallet spends nothing (but by
    /// clawback or its recovery) and receives nothing; a deactivated
    /// merchant receives nothing but its own change.
    fn not_frozen(&self, tx: &Transaction, roles: &Roles) -> Result<(), Expect> {
        let spends_frozen = !matches!(tx.kind, TxKind::Clawback | TxKind::Recovery)
            && tx.inputs.iter().any(|i| self.unspent.get(i).is_some_and(|o| self.frozen.contains_key(&o.owner)));
        if spends_frozen {
            return Err(Expect::Refused(Reason::WalletFrozen));
        }
        if tx.outputs.iter().any(|o| self.frozen.contains_key(&o.owner)) {
            return Err(Expect::Refused(Reason::WalletFrozen));
        }
        // A deactivated merchant gets back, per programme, at most what it
        // spends (its change).
        let flow = |outputs: &mut dyn Iterator<Item = &Output>, merchant: &str, programme: u32| -> u64 {
            outputs
                .filter(|o| o.programme == programme && roles.merchant(self, &o.owner) == Some(merchant))
                .map(|o| o.amount_minor)
                .sum()
        };
        for output in &tx.outputs {
            let Some(merchant) = roles.merchant(self, &output.owner).filter(|m| self.inactive.contains(m)) else {
                continue;
            };
            let receives = flow(&mut tx.outputs.iter(), merchant, output.programme);
            let spends = flow(&mut tx.inputs.iter().filter_map(|i| self.unspent.get(i)), merchant, output.programme);
            if receives > spends {
                return Err(Expect::Refused(Reason::ParticipantInactive));
            }
        }
        Ok(())
    }

    /// A recovery (PROTOCOL §4.12): issuers; the wallet frozen to this
    /// replacement; its earmarked outputs only, to the replacement, each
    /// programme conserved.
    fn expect_recovery(&self, tx: &Transaction, txid: &TxId, roles: &Roles) -> Result<(), Expect> {
        Self::issuers_signed(tx, &roles.issuers)?;
        let (lost, replacement) = settled::recovery_terms(tx).ok_or(Expect::Refused(Reason::Malformed))?;
        if self.frozen.get(&lost) != Some(&replacement) {
            return Err(Expect::Refused(Reason::RecoveryNotAllowed));
        }
        let mut spent = Vec::new();
        for input in &tx.inputs {
            let output = self.unspent_input(input, txid)?;
            if output.owner != lost || output.programme == 0 {
                return Err(Expect::Refused(Reason::RecoveryNotAllowed));
            }
            spent.push(output);
        }
        if tx.outputs.iter().any(|o| o.owner != replacement) {
            return Err(Expect::Refused(Reason::RecoveryNotAllowed));
        }
        for programme in spent.iter().chain(&tx.outputs).map(|o| o.programme).collect::<BTreeSet<_>>() {
            let sum = |outputs: &[Output]| -> u64 {
                outputs.iter().filter(|o| o.programme == programme).map(|o| o.amount_minor).sum()
            };
            if sum(&spent) != sum(&tx.outputs) {
                return Err(Expect::Refused(Reason::NotConserved));
            }
        }
        Ok(())
    }

    /// A refund (PROTOCOL §4.11), in the sequencer's and the ledger's order.
    fn expect_refund(
        &self,
        tx: &Transaction,
        txid: &TxId,
        now: u64,
        roles: &Roles,
        durable: &BTreeMap<TxId, u64>,
    ) -> Result<(), Expect> {
        let payment = TxId(tx.reference.as_slice().try_into().expect("the verify stage checked 32 bytes"));
        let paid = match self.payments.get(&payment) {
            Some(paid) if durable.contains_key(&payment) => paid,
            _ => return Err(Expect::Refused(Reason::UnknownPayment)),
        };
        let spent = self.owned_inputs(tx, txid)?;
        let merchant = roles.merchant(self, &spent[0].owner).ok_or(Expect::Refused(Reason::NotAMerchant))?;
        if spent.iter().any(|o| roles.merchant(self, &o.owner) != Some(merchant)) {
            return Err(Expect::Refused(Reason::NotAMerchant));
        }
        if tx.outputs.iter().any(|o| roles.merchant(self, &o.owner).is_some_and(|m| m != merchant)) {
            return Err(Expect::Refused(Reason::PayeeNotAllowed));
        }
        // The parts: every output not to a merchant; to the treasury, of
        // the programme it is the treasury of.
        let parts: Vec<(u32, u64, Address, u32, bool)> = tx
            .outputs
            .iter()
            .filter(|o| roles.merchant(self, &o.owner).is_none())
            .map(|o| {
                let treasury = self.registered.then(|| roles.treasury_of(&o.owner)).flatten();
                match treasury {
                    Some(programme) => (programme, o.amount_minor, o.owner, o.programme, true),
                    None => (o.programme, o.amount_minor, o.owner, o.programme, false),
                }
            })
            .collect();
        let refused = |reason| Err(Expect::Refused(reason));
        if parts.is_empty() || paid.kind != TxKind::Transfer {
            return refused(Reason::NotRefundable);
        }
        let received = paid.received(self, roles);
        let Some(received) = received.get(merchant) else { return refused(Reason::NotRefundable) };
        let [payer] = paid.payers.as_slice() else { return refused(Reason::NotRefundable) };
        if parts.iter().any(|(_, _, owner, _, to_treasury)| !to_treasury && owner != payer) {
            return refused(Reason::PayeeNotAllowed);
        }
        let mut by_programme: BTreeMap<u32, u64> = BTreeMap::new();
        for (programme, amount, _, paid_as, to_treasury) in &parts {
            *by_programme.entry(*programme).or_default() += amount;
            if *programme == 0 {
                continue;
            }
            if ![PROGRAMME, PEOPLE_PROGRAMME].contains(programme) || !self.registered {
                return refused(Reason::UnknownProgramme);
            }
            let (_, until) = self.validity(*programme);
            let ended = now >= until;
            if ended != *to_treasury {
                return refused(Reason::PayeeNotAllowed);
            }
            if *paid_as != if ended { 0 } else { *programme } {
                return refused(Reason::NotConserved);
            }
            if *programme != PROGRAMME || now > paid.at + REFUND_WINDOW_MS {
                return refused(Reason::RefundWindowClosed);
            }
        }
        let before = self.refunded.get(&payment).cloned().unwrap_or_default();
        for (programme, amount) in &by_programme {
            let left = received.get(programme).copied().unwrap_or(0) - before.get(programme).copied().unwrap_or(0);
            if *amount > left {
                return refused(Reason::RefundExceedsPayment);
            }
        }
        let sum = |outputs: &[Output]| -> u64 { outputs.iter().map(|o| o.amount_minor).sum() };
        if sum(&spent) != sum(&tx.outputs) {
            return refused(Reason::NotConserved);
        }
        // Earmarked money stays in its programme (a treasury output counts
        // in the programme it refunds) and grows only by what goes back to
        // the payer; unrestricted money only shrinks.
        let mut balance: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for output in &spent {
            balance.entry(output.programme).or_default().0 += output.amount_minor;
        }
        for output in &tx.outputs {
            let programme = if self.registered { roles.treasury_of(&output.owner) } else { None };
            balance.entry(programme.unwrap_or(output.programme)).or_default().1 += output.amount_minor;
        }
        for (programme, (spends, pays)) in balance {
            let grows_by: u64 = if programme == 0 {
                0
            } else {
                parts.iter().filter(|(p, _, _, _, t)| *p == programme && !t).map(|(_, a, _, _, _)| a).sum()
            };
            if (programme != 0 && pays < spends) || pays > spends + grows_by {
                return refused(Reason::NotConserved);
            }
        }
        self.within_balance_caps(&spent, &tx.outputs, roles)
    }

    fn apply(&mut self, tx: &Transaction, txid: TxId, now: u64, roles: &Roles) {
        let spent: Vec<Output> = tx.inputs.iter().map(|i| self.unspent[i]).collect();
        let payers = net_received(&tx.outputs, &spent, None).into_iter().map(|(payer, _)| payer).collect();
        let paid = Paid { kind: tx.kind, payers, spent: spent.clone(), outputs: tx.outputs.clone(), at: now };
        self.payments.insert(txid, paid);
        if tx.kind == TxKind::Refund {
            let payment = TxId(tx.reference.as_slice().try_into().expect("32 bytes"));
            let parts: Vec<(u32, u64)> = tx
                .outputs
                .iter()
                .filter(|o| roles.merchant(self, &o.owner).is_none())
                .map(|o| (roles.treasury_of(&o.owner).unwrap_or(o.programme), o.amount_minor))
                .collect();
            let refunded = self.refunded.entry(payment).or_default();
            let mut by_programme: BTreeMap<u32, u64> = BTreeMap::new();
            for (programme, amount) in parts {
                *refunded.entry(programme).or_default() += amount;
                *by_programme.entry(programme).or_default() += amount;
            }
            if let Some(merchant) = spent.first().and_then(|o| roles.merchant(self, &o.owner)) {
                for (programme, amount) in by_programme.into_iter().filter(|(p, _)| *p != 0) {
                    let figures = self.merchants.entry((programme, merchant.to_owned())).or_default();
                    figures.refunds += 1;
                    figures.refunded_minor += amount;
                }
            }
        }
        if tx.kind == TxKind::Transfer {
            for programme in tx.outputs.iter().map(|o| o.programme).filter(|p| *p != 0).collect::<BTreeSet<_>>() {
                let mut paid: BTreeMap<&'static str, u64> = BTreeMap::new();
                for (owner, amount) in net_received(&spent, &tx.outputs, Some(programme)) {
                    if let Some(merchant) = roles.merchant(self, &owner) {
                        *paid.entry(merchant).or_default() += amount;
                    }
                }
                for (merchant, amount) in paid {
                    let figures = self.merchants.entry((programme, merchant.to_owned())).or_default();
                    figures.payments += 1;
                    figures.spent_minor += amount;
                    figures.last_payment_unix_ms = now;
                    let days = self.spent_by_day.entry(programme).or_default();
                    *days.entry(day_name(now)).or_default() += amount;
                    while days.len() > PROGRAMME_DAYS_KEPT {
                        days.pop_first();
                    }
                }
            }
            let day = ledger_day(now);
            for (payer, paid) in net_received(&tx.outputs, &spent, None) {
                if self.tiered(roles, &payer) {
                    let today = match self.daily.get(&payer) {
                        Some((d, total)) if *d == day => *total,
                        _ => 0,
                    };
                    self.daily.insert(payer, (day, today + paid));
                    let year = TierPolicy::year_of_day(day);
                    let this_year = match self.yearly.get(&payer) {
                        Some((y, total)) if *y == year => *total,
                        _ => 0,
                    };
                    self.yearly.insert(payer, (year, this_year + paid));
                }
            }
        }
        for input in &tx.inputs {
            self.unspent.remove(input);
            self.spent_by.insert(*input, txid);
        }
        for (i, output) in tx.outputs.iter().enumerate() {
            self.unspent.insert(OutPoint { txid, index: u32::try_from(i).expect("bounded") }, *output);
        }
        match tx.kind {
            TxKind::Mint => {
                self.minted += tx.outputs.iter().map(|o| o.amount_minor).sum::<u64>();
                self.references.insert(tx.reference.clone(), txid);
            }
            TxKind::Redeem => self.burned += burned(&spent, &tx.outputs),
            TxKind::Transfer | TxKind::Clawback | TxKind::Refund | TxKind::Recovery => {}
        }
        self.sequences.insert(txid, self.next_sequence);
        self.next_sequence += 1;
    }
}

/// Who submits `tx` again: its bank for a redemption, the issuer's service
/// for mints and clawbacks (a terminal's PaymentService refuses those
/// before the sequencer, `WRONG_SERVICE`), `transfer_by` for a payment.
fn submitter_of(tx: &Transaction, transfer_by: Submitter) -> Submitter {
    match tx.kind {
        TxKind::Redeem => Submitter::Bank(SIM_BANK.to_owned()),
        TxKind::Mint | TxKind::Clawback | TxKind::Recovery => Submitter::Trusted,
        TxKind::Transfer | TxKind::Refund => transfer_by,
    }
}

/// What a redemption burns: what it spends less what it keeps.
fn burned(spent: &[Output], outputs: &[Output]) -> u64 {
    let sum = |outputs: &[Output]| outputs.iter().map(|o| o.amount_minor).sum::<u64>();
    sum(spent).saturating_sub(sum(outputs))
}

/// Per owner, how much more of `programme` (or of everything) it holds in
/// `to` than in `from`.
fn net_received(from: &[Output], to: &[Output], programme: Option<u32>) -> Vec<(Address, u64)> {
    let mut net: BTreeMap<Address, i128> = BTreeMap::new();
    let in_scope = |o: &&Output| programme.is_none_or(|p| o.programme == p);
    for o in to.iter().filter(in_scope) {
        *net.entry(o.owner).or_default() += i128::from(o.amount_minor);
    }
    for o in from.iter().filter(in_scope) {
        if let Some(sum) = net.get_mut(&o.owner) {
            *sum -= i128::from(o.amount_minor);
        }
    }
    net.into_iter().filter(|(_, n)| *n > 0).map(|(a, n)| (a, u64::try_from(n).expect("positive"))).collect()
}

struct World {
    seed: u64,
    rng: StdRng,
    genesis: Genesis,
    engine_key: Keypair,
    /// The ledger's chain id (its block 0's hash): what every signature
    /// covers.
    chain: ChainId,
    issuers: Vec<Keypair>,
    /// A key that is no issuer's.
    outsider: Keypair,
    wallets: Vec<Keypair>,
    grocer: Keypair,
    bar: Keypair,
    treasury: Keypair,
    roles: Roles,
    tiers: TierPolicy,
    programme_from: u64,
    programme_until: u64,
    disk: SimDisk,
    store: Option<Store>,
    /// The engine's sequencer: its state and decisions.
    sequencer: Sequencing,
    /// The block being filled, and who waits on it.
    open: OpenBlock,
    open_waiting: Waiting,
    open_time: u64,
    /// The time of the last block sealed.
    sealed_time: u64,
    /// Blocks sealed and handed to the writer, oldest first.
    sealed: VecDeque<Sealed>,
    /// The last durable block.
    tip: SignedHeader,
    /// The model at the last durable block, and with every sealed and open
    /// transaction applied.
    durable: Model,
    working: Model,
    clock_ms: u64,
    /// Transactions of blocks lost to a fault, to be submitted again (as a
    /// terminal retries a payment it got no receipt for).
    retry: Vec<Transaction>,
    /// Every transaction applied so far, to replay.
    history: Vec<Transaction>,
    scheduled: Option<DiskFault>,
    follower: Follower,
    report: CoreReport,
    /// The seed's merge interval of the random-key tables (entries, blocks,
    /// least entries per commit): small, so that merges, merges
    /// spread over several commits, and power losses in the middle of one
    /// are frequent.
    merge_every: (u64, u64, usize),
    /// The claims refused as paid already by the model of a job whose
    /// statistics, written alone, failed to commit: the reopened file may
    /// hold them.
    stats_in_doubt: Option<RefusedClaims>,
}

/// A submission waiting for its answer, and what the model says it must be.
struct Ticket {
    what: String,
    txid: TxId,
    answer: oneshot::Receiver<Reply>,
    expect: Expect,
}

/// Everyone waiting on one block, and the transactions it applied.
#[derive(Default)]
struct Waiting {
    tickets: Vec<Ticket>,
    registry: Vec<oneshot::Receiver<AdminReply>>,
    applied: Vec<Transaction>,
    /// A claim was refused as paid already: the programme's statistics
    /// changed, for the writer to write even with no block.
    stats_changed: bool,
}

impl Waiting {
    /// Nobody waits and nothing is to be written: the open block is not
    /// open yet (the model's view; the sequencer's `OpenBlock::is_idle`
    /// must agree).
    fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.registry.is_empty() && !self.stats_changed
    }

    /// Whether anyone waiting here was answered: nobody may be before the
    /// block is durable.
    fn answered_early(&mut self) -> Option<String> {
        for ticket in &mut self.tickets {
            if let Ok(reply) = ticket.answer.try_recv() {
                return Some(format!("{}: answered {reply:?} before its block is durable", ticket.what));
            }
        }
        for registry in &mut self.registry {
            if let Ok(reply) = registry.try_recv() {
                return Some(format!("a registry change answered {reply:?} before its block is durable"));
            }
        }
        None
    }
}

/// A block sealed and handed to the writer (or, with no transaction, a job
/// that only answers), with the model as of its seal.
struct Sealed {
    job: WriterJob,
    waiting: Waiting,
    model: Model,
}

/// A second replica: its own ledger and store on its own disk (provisioned
/// from a copy of the leader's new file), fed every block the leader made
/// durable, encoded and decoded as the replicated log carries it, through
/// `replica::replay`: the same ledger code must come to the same headers
/// and the same state.
struct Follower {
    disk: SimDisk,
    merge_every: (u64, u64, usize),
    store: Option<Store>,
    ledger: Ledger,
    tip: SignedHeader,
    /// The chain id of its own file (a copy of the leader's block 0).
    chain: ChainId,
}

impl Follower {
    fn open(
        disk: SimDisk,
        merge_every: (u64, u64, usize),
        genesis: &Genesis,
        tiers: &TierPolicy,
    ) -> Result<Self, String> {
        let (store, recovered) = Store::open(disk.backend(), genesis, None, |_| {
            unreachable!("a provisioned replica's file already holds the genesis block")
        })
        .map_err(|e| format!("the follower does not open: {e}"))?;
        store.set_merge_every(merge_every.0, merge_every.1, merge_every.2);
        let chain = store.chain_id();
        let tip = recovered.tip;
        let ledger = settled::recovered_ledger(recovered, tiers.clone()).map_err(|e| e.to_string())?;
        Ok(Self { disk, merge_every, store: Some(store), ledger, tip, chain })
    }

    /// Takes the leader's block as the replicated log carries it: signed by
    /// the leader for its chain, decoded and replayed for the follower's own.
    fn follow(&mut self, block: &settled::BlockRecord, engine: &Keypair, chain: &ChainId) -> Result<(), String> {
        let engine_key = &engine.address();
        let bytes = ReplicatedBlock::of(block).encode(engine, chain);
        let received =
            ReplicatedBlock::decode(&bytes, engine_key, &self.chain).map_err(|e| format!("follower: {e}"))?;
        let record = replica::replay(&mut self.ledger, &self.tip, &received, engine_key, &self.chain)
            .map_err(|e| format!("follower refused the leader's block: {e}"))?;
        self.store.as_ref().expect("open").commit_block(&record).map_err(|e| format!("follower commit: {e}"))?;
        self.tip = record.signed;
        Ok(())
    }

    /// The follower's ledger against the model at the leader's durable tip,
    /// and its bank stream against the leader's: the same movements at the
    /// same sequence numbers, so a bank's cursor means the same on both.
    fn check(&self, model: &Model, tip: &SignedHeader, leader: &Store) -> Result<u64, String> {
        if self.tip != *tip {
            return Err(format!("follower at block {}, leader at {}", self.tip.header.height, tip.header.height));
        }
        if self.ledger.unspent_count() != model.unspent.len()
            || model.unspent.iter().any(|(p, o)| self.ledger.unspent(p) != Some(o))
        {
            return Err("the follower's unspent set differs from the model's".to_owned());
        }
        // The same spending by day from the same ledger code; refused
        // claims are in no block: a follower never sees them.
        let programmes = [PROGRAMME, PEOPLE_PROGRAMME];
        let (days, claims) =
            day_and_claim_figures(programmes.iter().filter_map(|p| self.ledger.programme_stats(*p).map(|s| (*p, s))));
        if days != model.spent_by_day || !claims.is_empty() {
            return Err(format!(
                "the follower's spending by day {days:?} (model {:?}), refused claims {claims:?} (none)",
                model.spent_by_day
            ));
        }
        let movements = |store: &Store| -> Result<Vec<settled::Movement>, String> {
            let mut all = Vec::new();
            store
                .movements_between(SIM_BANK, 0, u64::MAX, |m| {
                    all.push(m);
                    Ok(true)
                })
                .map_err(|e| e.to_string())?;
            Ok(all)
        };
        let (mine, theirs) = (movements(self.store.as_ref().expect("open"))?, movements(leader)?);
        if mine != theirs {
            return Err(format!("bank stream differs: follower {} movements, leader {}", mine.len(), theirs.len()));
        }
        Ok(mine.len() as u64)
    }

    /// Restarts the follower from its own disk.
    fn restart(&mut self, rng: &mut StdRng, genesis: &Genesis, tiers: &TierPolicy) -> Result<(), String> {
        self.store = None;
        self.disk.reboot(rng, 1.0);
        let reopened = Self::open(self.disk.clone(), self.merge_every, genesis, tiers)?;
        if reopened.tip != self.tip {
            return Err("the follower's restart lost blocks".to_owned());
        }
        *self = reopened;
        Ok(())
    }
}

/// A key from the seed's generator.
pub(crate) fn keypair(rng: &mut StdRng) -> Keypair {
    loop {
        if let Some(k) = Keypair::from_secret(&rng.r#gen()) {
            return k;
        }
    }
}

/// Runs one seed for `steps` steps.
///
/// # Errors
/// The first divergence between the core and the model (or a ledger that
/// does not recover), with the command that reproduces it.
pub fn simulate_core(seed: u64, steps: u64) -> Result<CoreReport, String> {
    let steps = steps.min(CORE_STEPS_MAX);
    let mut world = World::new(seed, steps).map_err(|e| reproduce(seed, steps, 0, &e))?;
    for step in 0..steps {
        world.step(step).map_err(|e| reproduce(seed, steps, step, &e))?;
    }
    world.drain().map_err(|e| reproduce(seed, steps, steps, &e))?;
    world.restart().map_err(|e| reproduce(seed, steps, steps, &e))?;
    world.report.seeds = 1;
    world.report.steps = steps;
    Ok(std::mem::take(&mut world.report))
}

fn reproduce(seed: u64, steps: u64, step: u64, what: &str) -> String {
    format!(
        "seed {seed} step {step}: {what}\nreproduce: cargo run --release -p settled-simulations -- core --seed {seed} --steps {steps}"
    )
}

impl World {
    fn new(seed: u64, steps: u64) -> Result<Self, String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let issuers: Vec<Keypair> = (0..3).map(|_| keypair(&mut rng)).collect();
        let wallets: Vec<Keypair> = (0..WALLETS).map(|_| keypair(&mut rng)).collect();
        let engine_key = keypair(&mut rng);
        let (grocer, bar, treasury) = (keypair(&mut rng), keypair(&mut rng), keypair(&mut rng));
        let outsider = keypair(&mut rng);
        let genesis = crate::genesis(&issuers, &engine_key);
        let tiers = TierPolicy { tiers: vec![TIER], unregistered_tier: None, day_offset_minutes: DAY_OFFSET_MINUTES };
        // The ledger's midnight (16:00 UTC) falls somewhere in the run; the
        // programme starts early in it and expires somewhere in it.
        let midnight = (CLOCK_BASE_MS + DAY_OFFSET_MS) / DAY_MS * DAY_MS + DAY_MS - DAY_OFFSET_MS;
        let clock_ms = midnight - rng.gen_range(0..=steps.max(1)) * 1_000;
        let programme_from = clock_ms + rng.gen_range(0..=steps / 8) * 1_000;
        let programme_until = clock_ms + rng.gen_range(steps / 3..=steps.max(1) * 2) * 1_000;
        let roles = Roles {
            grocer: grocer.address(),
            bar: bar.address(),
            treasury: treasury.address(),
            tiered: wallets[..TIERED_WALLETS].iter().map(Keypair::address).collect(),
            issuers: genesis.issuer_keys.clone(),
            people_treasury: outsider.address(),
            person_of: [(0, PERSONS[0]), (1, PERSONS[0]), (2, PERSONS[1])]
                .into_iter()
                .map(|(w, p)| (wallets[w].address(), p))
                .collect(),
            designated: [(PERSONS[0], wallets[0].address()), (PERSONS[1], wallets[2].address())].into_iter().collect(),
        };
        let merge_every = (rng.gen_range(1..=96), rng.gen_range(1..=6), rng.gen_range(1..=12));
        let disk = SimDisk::new();
        let (store, recovered) = Store::open(disk.backend(), &genesis, None, |message| engine_key.sign(message))
            .map_err(|e| format!("a new ledger does not open: {e}"))?;
        store.set_merge_every(merge_every.0, merge_every.1, merge_every.2);
        let chain = store.chain_id();
        let tip = recovered.tip;
        let ledger = settled::recovered_ledger(recovered, tiers.clone()).map_err(|e| e.to_string())?;
        let follower = Follower::open(disk.duplicate(), merge_every, &genesis, &tiers)?;
        if follower.chain != chain {
            return Err(format!("the follower's file is of chain {}, the leader's of {chain}", follower.chain));
        }
        let model = Model {
            programme_from,
            programme_until,
            unspent: BTreeMap::new(),
            minted: 0,
            burned: 0,
            registered: false,
            spent_by: BTreeMap::new(),
            sequences: BTreeMap::new(),
            heights: BTreeMap::new(),
            references: BTreeMap::new(),
            daily: BTreeMap::new(),
            yearly: BTreeMap::new(),
            inactive: BTreeSet::new(),
            next_sequence: tip.header.next_sequence(),
            payments: BTreeMap::new(),
            refunded: BTreeMap::new(),
            merchants: BTreeMap::new(),
            spent_by_day: BTreeMap::new(),
            duplicate_claims: BTreeMap::new(),
            designated: roles.designated.clone(),
            frozen: BTreeMap::new(),
        };
        Ok(Self {
            seed,
            rng,
            genesis,
            engine_key,
            chain,
            issuers,
            outsider,
            wallets,
            grocer,
            bar,
            treasury,
            roles,
            tiers,
            programme_from,
            programme_until,
            disk,
            store: Some(store),
            sequencer: Sequencing::new(ledger, tip),
            open: OpenBlock::default(),
            open_waiting: Waiting::default(),
            open_time: 0,
            sealed_time: tip.header.time_unix_ms,
            sealed: VecDeque::new(),
            tip,
            durable: model.clone(),
            working: model,
            clock_ms,
            retry: Vec::new(),
            history: Vec::new(),
            scheduled: None,
            follower,
            report: CoreReport::default(),
            merge_every,
            stats_in_doubt: None,
        })
    }
}

/// What the sequencer reads, as the engine hands it over: the store, the
/// height the writer made durable, the time, the key and chain it seals
/// with.
macro_rules! context {
    ($world:expr) => {
        SequencingContext {
            store: $world.store.as_ref().expect("open between restarts"),
            durable_height: $world.tip.header.height,
            now_unix_ms: $world.clock_ms,
            engine_key: &$world.engine_key,
            chain: &$world.chain,
        }
    };
}

impl World {
    fn fail<T>(&self, what: impl Into<String>) -> Result<T, String> {
        Err(what.into())
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("open between restarts")
    }

    fn registry_ops(&self) -> Vec<AdminOp> {
        let bank = SIM_BANK.to_owned();
        let merchant = |id: &str, mcc, payout: &Keypair| {
            AdminOp::RegisterMerchant(Merchant {
                id: id.to_owned(),
                name: id.to_owned(),
                mcc,
                bank: bank.clone(),
                payout_addresses: vec![payout.address()],
            })
        };
        let mut ops = vec![
            AdminOp::RegisterBank(Bank { id: bank.clone(), name: "Sim Bank".to_owned(), credentials: Vec::new() }),
            merchant("grocer", MCC_GROCERY, &self.grocer),
            merchant("bar", MCC_BAR, &self.bar),
            AdminOp::CreateProgramme(Programme {
                id: PROGRAMME,
                name: "food".to_owned(),
                allowed_mccs: vec![MCC_GROCERY],
                valid_from_ms: self.programme_from,
                valid_until_ms: self.programme_until,
                transferable: false,
                treasury: self.treasury.address(),
                per_payment_max_minor: Some(PROGRAMME_PAYMENT_MAX),
                payment_period: None,
                refund_window_ms: Some(REFUND_WINDOW_MS),
            }),
        ];
        ops.push(AdminOp::CreateProgramme(Programme {
            id: PEOPLE_PROGRAMME,
            name: "monthly support".to_owned(),
            allowed_mccs: vec![MCC_GROCERY],
            valid_from_ms: self.programme_from - PEOPLE_FROM_BEFORE_MS,
            valid_until_ms: self.programme_until,
            transferable: false,
            treasury: self.outsider.address(),
            per_payment_max_minor: Some(PROGRAMME_PAYMENT_MAX),
            payment_period: Some(PaymentPeriod::Month),
            refund_window_ms: None,
        }));
        for wallet in &self.wallets[..TIERED_WALLETS] {
            ops.push(AdminOp::RegisterWallet(Wallet { address: wallet.address(), bank: bank.clone(), tier: TIER.id }));
        }
        for person in &PERSONS[..2] {
            let wallets: Vec<Address> =
                self.roles.person_of.iter().filter(|(_, p)| *p == person).map(|(w, _)| *w).collect();
            let designated = [(PEOPLE_PROGRAMME, self.roles.designated[person])].into_iter().collect();
            ops.push(AdminOp::RegisterBeneficiary(Beneficiary { person: *person, wallets, designated }));
        }
        ops
    }

    /// The time the open block's rules are judged at: fixed when it opens,
    /// never before the last sealed block's.
    fn block_time(&mut self) -> u64 {
        if self.open_waiting.is_empty() {
            self.open_time = self.clock_ms.max(self.sealed_time);
        }
        self.open_time
    }

    /// One step: an arrival (the registry, or a transaction), then maybe
    /// the writer finishing the oldest sealed block, then maybe a seal. The
    /// sequencer keeps admitting while blocks are sealed but not durable.
    fn step(&mut self, step: u64) -> Result<(), String> {
        self.clock_ms += 1_000;
        if !self.working.registered && self.rng.gen_bool(0.5) {
            self.register()?;
        } else if self.working.registered && self.working.frozen.is_empty() && self.rng.gen_ratio(1, 30) {
            self.recover_wallet();
        } else if self.working.registered
            && self.rng.gen_ratio(1, if self.working.inactive.is_empty() { 80 } else { 10 })
        {
            self.toggle_merchant();
        } else {
            let (tx, submitter) = self.next_transaction(step);
            self.submit(tx, &submitter)?;
        }
        if !self.sealed.is_empty() && (self.sealed.len() == IN_FLIGHT_MAX || self.rng.gen_ratio(1, 2)) {
            self.write_oldest()?;
        }
        if !self.open.is_idle() && (self.open_waiting.applied.len() >= SIM_BLOCK_TXS_MAX || self.rng.gen_ratio(1, 3)) {
            if self.sealed.len() == IN_FLIGHT_MAX {
                self.write_oldest()?;
            }
            self.seal()?;
        }
        Ok(())
    }

    /// Seals what is open and writes everything sealed.
    fn drain(&mut self) -> Result<(), String> {
        self.seal()?;
        while !self.sealed.is_empty() {
            self.write_oldest()?;
        }
        if !self.open_waiting.is_empty() || !self.open.is_idle() {
            return self.fail("submissions still wait after the last block was written");
        }
        Ok(())
    }

    /// The registry changes, into the open block, answered once it is
    /// durable.
    fn register(&mut self) -> Result<(), String> {
        self.block_time();
        for op in self.registry_ops() {
            let (reply, answer) = oneshot::channel();
            self.sequencer.admit_admin(&context!(self), &mut self.open, by_operator(op), reply);
            self.open_waiting.registry.push(answer);
        }
        self.working.registered = true;
        Ok(())
    }

    /// The first person reports the designated wallet (0) lost: it is
    /// frozen, recovered to the person's other wallet (1), which takes over
    /// the designation. Answered once durable.
    fn recover_wallet(&mut self) {
        self.block_time();
        let (lost, replacement) = (self.wallets[0].address(), self.wallets[1].address());
        let op = AdminOp::RecoverWallet { person: PERSONS[0], lost, replacement };
        let (reply, answer) = oneshot::channel();
        self.sequencer.admit_admin(&context!(self), &mut self.open, by_operator(op), reply);
        self.open_waiting.registry.push(answer);
        self.working.frozen.insert(lost, replacement);
        self.working.designated.insert(PERSONS[0], replacement);
    }

    /// The grocer or the bar deactivated, or reactivated if it was:
    /// payments to it and its terminal's submissions are refused while it
    /// is. Answered once durable.
    fn toggle_merchant(&mut self) {
        self.block_time();
        let merchant = match self.working.inactive.first() {
            Some(inactive) => *inactive,
            None if self.rng.gen_bool(0.5) => "grocer",
            None => "bar",
        };
        let active = self.working.inactive.contains(merchant);
        let op = AdminOp::SetActive { participant: Participant::Merchant(merchant.to_owned()), active };
        let (reply, answer) = oneshot::channel();
        self.sequencer.admit_admin(&context!(self), &mut self.open, by_operator(op), reply);
        self.open_waiting.registry.push(answer);
        if active {
            self.working.inactive.remove(merchant);
        } else {
            self.working.inactive.insert(merchant);
        }
    }

    /// A recovery transaction of wallet 0 to wallet 1, built as the engine
    /// builds them: mostly its earmarked outputs, all to the replacement;
    /// now and then with its unrestricted money, to another wallet, for
    /// another replacement, signed by one issuer, or before the freeze.
    fn recovery(&mut self) -> Option<Transaction> {
        let (lost, mut replacement) = (self.wallets[0].address(), self.wallets[1].address());
        let held: Vec<(OutPoint, Output)> =
            self.working.unspent.iter().filter(|(_, o)| o.owner == lost).map(|(p, o)| (*p, *o)).collect();
        let mut inputs: Vec<(OutPoint, Output)> =
            held.iter().filter(|(_, o)| o.programme != 0).take(3).copied().collect();
        let mut signers = vec![&self.issuers[0], &self.issuers[2]];
        let mut elsewhere = None;
        match self.rng.gen_range(0..10) {
            0 => inputs.extend(held.iter().find(|(_, o)| o.programme == 0).copied()),
            1 => elsewhere = Some(self.wallets[2].address()),
            2 => replacement = self.wallets[2].address(),
            3 => signers = vec![&self.issuers[1]],
            _ => {}
        }
        if inputs.is_empty() {
            return None;
        }
        let mut by_programme: BTreeMap<u32, u64> = BTreeMap::new();
        for (_, output) in &inputs {
            *by_programme.entry(output.programme).or_default() += output.amount_minor;
        }
        let payee = elsewhere.unwrap_or(replacement);
        let mut tx = Transaction {
            version: TX_VERSION,
            kind: TxKind::Recovery,
            inputs: inputs.iter().map(|(p, _)| *p).collect(),
            outputs: by_programme.iter().map(|(p, a)| client::output(payee, *a, *p)).collect(),
            reference: settled::recovery_reference(&lost, &replacement),
            witnesses: Vec::new(),
        };
        let message = settled::recovery_authorization(&self.chain, &lost, &replacement);
        tx.witnesses =
            signers.iter().map(|k| Witness { public_key: k.address(), signature: k.sign(&message) }).collect();
        Some(tx)
    }

    fn wallet_of(&self, owner: &Address) -> Option<&Keypair> {
        self.wallets.iter().find(|w| w.address() == *owner)
    }

    fn merchant_key(&self, owner: &Address) -> Option<&Keypair> {
        [&self.grocer, &self.bar].into_iter().find(|k| k.address() == *owner)
    }

    /// The next submission and who submits it: mostly valid payments,
    /// mints and redemptions, with double spends, replays, unknown inputs,
    /// bad signatures, non-conserving payments, under- or wrongly signed
    /// mints, reused mint references, payments the programme or the tier
    /// forbids (the payee decides which), redemptions and clawbacks that
    /// break a rule, and callers a rule of PROTOCOL §9.3 refuses.
    fn next_transaction(&mut self, step: u64) -> (Transaction, Submitter) {
        let owned: Vec<(OutPoint, Output)> = self
            .working
            .unspent
            .iter()
            .filter(|(_, o)| self.wallet_of(&o.owner).is_some())
            .map(|(p, o)| (*p, *o))
            .collect();
        let reference = format!("s{}-{step}", self.seed).into_bytes();
        let action = if owned.is_empty() { self.rng.gen_range(0..3) } else { self.rng.gen_range(0..20) };
        let transfer_by = if self.rng.gen_ratio(1, 4) {
            Submitter::Terminal { id: "till-1".to_owned(), merchant: "grocer".to_owned() }
        } else {
            Submitter::Trusted
        };
        match action {
            0 | 1 => (self.mint(reference), Submitter::Trusted),
            2 | 17 if owned.is_empty() || self.rng.gen_bool(0.7) => (self.claim(reference), Submitter::Trusted),
            2 if !self.retry.is_empty() => {
                let i = self.rng.gen_range(0..self.retry.len());
                let tx = self.retry.swap_remove(i);
                let by = submitter_of(&tx, transfer_by);
                (tx, by)
            }
            3 if !self.history.is_empty() => {
                // A replay of an applied transaction.
                let tx = self.history[self.rng.gen_range(0..self.history.len())].clone();
                let by = submitter_of(&tx, transfer_by);
                (tx, by)
            }
            4 if !self.working.spent_by.is_empty() => {
                // A new transaction spending an output already spent.
                let i = self.rng.gen_range(0..self.working.spent_by.len());
                let (outpoint, spender) = self.working.spent_by.iter().nth(i).map(|(o, s)| (*o, *s)).expect("in range");
                let payer = &self.wallets[usize::from(spender.0[0]) % WALLETS];
                let fake = (outpoint, client::output(payer.address(), 1, 0));
                (client::pay(&self.chain, payer, fake, self.wallets[0].address(), 1, &reference), transfer_by)
            }
            5 => {
                let outpoint = OutPoint { txid: TxId(self.rng.r#gen()), index: 0 };
                let payer = &self.wallets[0];
                let fake = (outpoint, client::output(payer.address(), 5, 0));
                (client::pay(&self.chain, payer, fake, self.grocer.address(), 5, &reference), transfer_by)
            }
            6 => {
                let (outpoint, output) = owned[self.rng.gen_range(0..owned.len())];
                let payer = self.wallet_of(&output.owner).expect("a wallet's");
                let payee = self.grocer.address();
                let mut tx =
                    client::pay(&self.chain, payer, (outpoint, output), payee, output.amount_minor, &reference);
                tx.outputs[0].amount_minor += 1;
                tx.witnesses.clear();
                client::sign(&mut tx, &self.chain, &[payer]);
                (tx, transfer_by)
            }
            7 => {
                let (outpoint, output) = owned[self.rng.gen_range(0..owned.len())];
                let thief = self.wallets.iter().find(|w| w.address() != output.owner).expect("another wallet");
                let tx = client::pay(
                    &self.chain,
                    thief,
                    (outpoint, output),
                    thief.address(),
                    output.amount_minor,
                    &reference,
                );
                (tx, transfer_by)
            }
            14 | 15 if self.working.unspent.values().any(|o| self.merchant_key(&o.owner).is_some()) => {
                self.redemption(reference, action == 14)
            }
            16 if owned.iter().any(|(_, o)| o.programme == PROGRAMME) => (self.clawback(&owned), Submitter::Trusted),
            18 if !self.working.payments.is_empty() => match self.refund() {
                Some(tx) => (tx, transfer_by),
                None => (self.mint(reference), Submitter::Trusted),
            },
            19 => match self.recovery() {
                Some(tx) => (tx, Submitter::Trusted),
                None => (self.mint(reference), Submitter::Trusted),
            },
            _ => {
                let (outpoint, output) = owned[self.rng.gen_range(0..owned.len())];
                let payee = match self.rng.gen_range(0..10) {
                    0..=3 => self.grocer.address(),
                    4 => self.bar.address(),
                    5 => self.treasury.address(),
                    _ => self.wallets[self.rng.gen_range(0..WALLETS)].address(),
                };
                let amount = if self.rng.gen_bool(0.5) {
                    self.rng.gen_range(1..=output.amount_minor.min(25_000))
                } else {
                    self.rng.gen_range(1..=output.amount_minor)
                };
                let payer = self.wallet_of(&output.owner).expect("a wallet's");
                (client::pay(&self.chain, payer, (outpoint, output), payee, amount, &reference), transfer_by)
            }
        }
    }

    /// A mint: mostly valid; now and then signed by one issuer only, by an
    /// issuer and a key that is none, with a reference already paid, or
    /// for more than the supply can hold.
    fn mint(&mut self, reference: Vec<u8>) -> Transaction {
        let owner = self.wallets[self.rng.gen_range(0..WALLETS)].address();
        let programme = if self.rng.gen_ratio(2, 5) { PROGRAMME } else { 0 };
        let amount = if self.durable.minted > 0 && self.rng.gen_ratio(1, 60) {
            u64::MAX - self.rng.gen_range(0..1_000)
        } else {
            self.rng.gen_range(1..=120_000)
        };
        let signers: Vec<&Keypair> = match self.rng.gen_range(0..16) {
            0 | 1 => vec![&self.issuers[1]],
            2 => vec![&self.issuers[0], &self.outsider],
            _ => vec![&self.issuers[0], &self.issuers[2]],
        };
        // A reference already paid: mostly the latest (often in a block not
        // yet durable), now and then any.
        let paid: Vec<&Vec<u8>> = self.working.references.keys().collect();
        let reference = if !paid.is_empty() && self.rng.gen_ratio(1, 10) {
            let latest = self.working.references.iter().max_by_key(|(_, txid)| self.working.sequences[*txid]);
            match latest {
                Some((latest, _)) if self.rng.gen_bool(0.5) => latest.clone(),
                _ => paid[self.rng.gen_range(0..paid.len())].clone(),
            }
        } else {
            reference
        };
        client::mint(&self.chain, vec![client::output(owner, amount, programme)], &reference, &signers)
    }

    /// A claim of a person for a month: mostly a beneficiary's, for this
    /// month or the last, to their designated wallet; now and then a month
    /// not begun, no month, one before the programme, a wallet not
    /// designated or of nobody or of another person, a person registered
    /// nowhere, a second claim of a month already paid (another amount), a
    /// mint into the programme that is no claim, or a claim on the
    /// programme that pays addresses.
    fn claim(&mut self, reference: Vec<u8>) -> Transaction {
        let now = self.block_time();
        let this_month = month_of(now);
        let last_month = month_of(month_bounds(this_month).map_or(now, |(start, _)| start - 1));
        let person = match self.rng.gen_range(0..10) {
            0 => PERSONS[2],
            n => PERSONS[n % 2],
        };
        let period = match self.rng.gen_range(0..16) {
            0 => month_bounds(this_month).map_or(this_month, |(_, end)| month_of(end)),
            1 => this_month / 100 * 100 + 13,
            2 => 200_001,
            3..=6 => last_month,
            _ => this_month,
        };
        let designated = self.working.designated.get(&person).copied().unwrap_or(self.wallets[3].address());
        let wallet = match self.rng.gen_range(0..12) {
            0 => self.wallets[1].address(),
            1 => self.wallets[3].address(),
            2 => self.wallets[2 - 2 * usize::from(person == PERSONS[1])].address(),
            _ => designated,
        };
        let amount = self.rng.gen_range(1..=60_000);
        let signers = [&self.issuers[0], &self.issuers[1]];
        let (programme, reference) = match self.rng.gen_range(0..20) {
            0 => (PEOPLE_PROGRAMME, reference),
            1 => (PROGRAMME, settled::claim_reference(PROGRAMME, period, &person)),
            _ => (PEOPLE_PROGRAMME, settled::claim_reference(PEOPLE_PROGRAMME, period, &person)),
        };
        client::mint(&self.chain, vec![client::output(wallet, amount, programme)], &reference, &signers)
    }

    /// A merchant refunds an earlier transaction: mostly one of its recent
    /// payments, within what is left, to the payer as the programme's money
    /// (to the programme's treasury as programme 0 money once it has
    /// ended); now and then more than is left, to another wallet, of
    /// another merchant's payment, of a mint or a refund, of a transaction
    /// not yet durable or that never was, after the window. `None` when no
    /// merchant holds anything to refund with.
    fn refund(&mut self) -> Option<Transaction> {
        let now = self.block_time();
        let payments: Vec<(TxId, Paid)> = self.working.payments.iter().map(|(t, p)| (*t, p.clone())).collect();
        let recent: Vec<&(TxId, Paid)> = payments
            .iter()
            .filter(|(_, p)| !p.received(&self.working, &self.roles).is_empty() && p.at + 2 * REFUND_WINDOW_MS > now)
            .collect();
        let (payment, paid) = if !recent.is_empty() && self.rng.gen_ratio(4, 5) {
            recent[self.rng.gen_range(0..recent.len())].clone()
        } else {
            payments[self.rng.gen_range(0..payments.len())].clone()
        };
        let received = paid.received(&self.working, &self.roles);
        let merchant = match received.keys().next() {
            Some(&"bar") => self.bar.clone(),
            Some(_) => self.grocer.clone(),
            None if self.rng.gen_bool(0.5) => self.bar.clone(),
            None => self.grocer.clone(),
        };
        let inputs: Vec<(OutPoint, Output)> = self
            .working
            .unspent
            .iter()
            .filter(|(_, o)| o.owner == merchant.address())
            .take(4)
            .map(|(p, o)| (*p, *o))
            .collect();
        if inputs.is_empty() {
            return None;
        }
        let held: u64 = inputs.iter().map(|(_, o)| o.amount_minor).sum();
        let (programme, received) =
            received.values().next().and_then(|r| r.iter().next()).map_or((0, 0), |(p, a)| (*p, *a));
        let left = received
            .saturating_sub(self.working.refunded.get(&payment).and_then(|r| r.get(&programme)).copied().unwrap_or(0));
        let amount = match self.rng.gen_range(0..10) {
            0 => left + 1,
            _ if left > 0 => self.rng.gen_range(1..=left),
            _ => 1,
        }
        .min(held);
        let payer = paid.payers.first().copied().unwrap_or(self.wallets[0].address());
        let (_, until) = self.working.validity(programme);
        let other_merchant = if merchant.address() == self.grocer.address() { &self.bar } else { &self.grocer };
        let (to, paid_as) = match self.rng.gen_range(0..12) {
            0 => (self.wallets[self.rng.gen_range(0..WALLETS)].address(), programme),
            1 => (other_merchant.address(), programme),
            _ if programme == PROGRAMME && now >= until => (self.treasury.address(), 0),
            _ => (payer, programme),
        };
        let payment = match self.rng.gen_range(0..24) {
            0 => TxId(self.rng.r#gen()),
            1 => self.working.sequences.iter().max_by_key(|(_, s)| **s).map_or(payment, |(t, _)| *t),
            _ => payment,
        };
        // The refund, then the change: what is left of each programme the
        // inputs hold, the refunded amount taken from its own programme
        // first, then from the rest.
        let mut change: BTreeMap<u32, u64> = BTreeMap::new();
        for (_, output) in &inputs {
            *change.entry(output.programme).or_default() += output.amount_minor;
        }
        let mut due = amount;
        let mut sources: Vec<u32> = change.keys().copied().collect();
        sources.sort_by_key(|p| (*p != programme, *p));
        for source in sources {
            let take = due.min(change[&source]);
            *change.get_mut(&source).expect("a source") -= take;
            due -= take;
        }
        let mut outputs = vec![client::output(to, amount, paid_as)];
        outputs
            .extend(change.into_iter().filter(|(_, a)| *a > 0).map(|(p, a)| client::output(merchant.address(), a, p)));
        let mut tx = Transaction {
            version: TX_VERSION,
            kind: TxKind::Refund,
            inputs: inputs.iter().map(|(p, _)| *p).collect(),
            outputs,
            reference: payment.0.to_vec(),
            witnesses: Vec::new(),
        };
        client::sign(&mut tx, &self.chain, &[&merchant]);
        Some(tx)
    }

    /// A merchant's bank redeems its takings (keeping some as change), or,
    /// when not `valid`, a redemption that breaks a rule: change to someone
    /// else, nothing burned, change above what it spends, two merchants'
    /// takings, a wallet's money. Now and then submitted by a bank the
    /// merchant does not bank with, or by a terminal.
    fn redemption(&mut self, reference: Vec<u8>, valid: bool) -> (Transaction, Submitter) {
        let takings: Vec<(OutPoint, Output)> = self
            .working
            .unspent
            .iter()
            .filter(|(_, o)| self.merchant_key(&o.owner).is_some())
            .map(|(p, o)| (*p, *o))
            .collect();
        let (first, output) = takings[self.rng.gen_range(0..takings.len())];
        let mut inputs = vec![(first, output)];
        if let Some(more) = takings.iter().find(|(p, o)| *p != first && o.owner == output.owner)
            && self.rng.gen_bool(0.4)
        {
            inputs.push(*more);
        }
        let merchant = self.merchant_key(&output.owner).expect("a merchant's").clone();
        let mut signers = vec![merchant.clone()];
        let held: u64 = inputs.iter().map(|(_, o)| o.amount_minor).sum();
        let change = |owner: Address, amount| vec![client::output(owner, amount, output.programme)];
        let outputs = if valid {
            let keep = if self.rng.gen_ratio(1, 3) { 0 } else { self.rng.gen_range(0..output.amount_minor) };
            if keep == 0 { Vec::new() } else { change(merchant.address(), keep) }
        } else {
            match self.rng.gen_range(0..5) {
                0 => change(self.wallets[0].address(), 1),
                1 => change(merchant.address(), held),
                2 => change(merchant.address(), held + 1),
                3 => {
                    let other = takings.iter().find(|(_, o)| o.owner != output.owner);
                    if let Some((point, o)) = other {
                        inputs.push((*point, *o));
                        signers.push(self.merchant_key(&o.owner).expect("a merchant's").clone());
                    }
                    Vec::new()
                }
                _ => {
                    let wallet_money = self.working.unspent.iter().find(|(_, o)| self.wallet_of(&o.owner).is_some());
                    if let Some((point, o)) = wallet_money {
                        inputs = vec![(*point, *o)];
                        signers = vec![self.wallet_of(&o.owner).expect("a wallet's").clone()];
                    }
                    Vec::new()
                }
            }
        };
        let mut tx = Transaction {
            version: TX_VERSION,
            kind: TxKind::Redeem,
            inputs: inputs.iter().map(|(p, _)| *p).collect(),
            outputs,
            reference,
            witnesses: Vec::new(),
        };
        let keys: Vec<&Keypair> = signers.iter().collect();
        client::sign(&mut tx, &self.chain, &keys);
        let by = match self.rng.gen_range(0..20) {
            0 | 1 => Submitter::Bank("bank-elsewhere".to_owned()),
            2 => Submitter::Terminal { id: "till-1".to_owned(), merchant: "grocer".to_owned() },
            _ => Submitter::Bank(SIM_BANK.to_owned()),
        };
        (tx, by)
    }

    /// A clawback of beneficiaries' programme money to the treasury,
    /// authorised by two issuers; now and then authorised for another end of
    /// validity, another programme or treasury, by one issuer or a key that
    /// is none, or holding a merchant's takings, unearmarked money or the
    /// wrong amount.
    fn clawback(&mut self, owned: &[(OutPoint, Output)]) -> Transaction {
        let earmarked: Vec<(OutPoint, Output)> =
            owned.iter().filter(|(_, o)| o.programme == PROGRAMME).copied().collect();
        let take = self.rng.gen_range(1..=earmarked.len().min(3));
        let start = self.rng.gen_range(0..=earmarked.len() - take);
        let mut inputs: Vec<(OutPoint, Output)> = earmarked[start..start + take].to_vec();
        let (mut programme, mut until, mut treasury) = (PROGRAMME, self.programme_until, self.treasury.address());
        let mut signers = vec![&self.issuers[0], &self.issuers[2]];
        let mut short = 0;
        match self.rng.gen_range(0..14) {
            0 => until += 1_000,
            1 => {
                let takings = self.working.unspent.iter().find(|(_, o)| self.merchant_key(&o.owner).is_some());
                if let Some((point, o)) = takings {
                    inputs.push((*point, *o));
                }
            }
            2 => {
                if let Some(plain) = owned.iter().find(|(_, o)| o.programme == 0) {
                    inputs.push(*plain);
                }
            }
            3 => short = 1,
            4 => signers = vec![&self.issuers[1]],
            5 => signers = vec![&self.issuers[0], &self.outsider],
            6 => programme = PROGRAMME + 100,
            7 => treasury = self.wallets[0].address(),
            _ => {}
        }
        let total: u64 = inputs.iter().map(|(_, o)| o.amount_minor).sum();
        let mut tx = Transaction {
            version: TX_VERSION,
            kind: TxKind::Clawback,
            inputs: inputs.iter().map(|(p, _)| *p).collect(),
            outputs: vec![client::output(treasury, total - short.min(total - 1), 0)],
            reference: settled::clawback_reference(programme, until),
            witnesses: Vec::new(),
        };
        let message = settled::clawback_authorization(&self.chain, programme, &treasury, until);
        tx.witnesses =
            signers.iter().map(|k| Witness { public_key: k.address(), signature: k.sign(&message) }).collect();
        tx
    }

    /// One submission through the engine's sequencer, its answer checked
    /// against the model: at once, or (applied, a resubmission, a refusal
    /// resting on a transaction not yet durable) when its block is durable.
    /// Now and then the caller is gone before the sequencer takes it:
    /// nothing may be applied.
    fn submit(&mut self, tx: Transaction, submitter: &Submitter) -> Result<(), String> {
        let vtx = settled::verify(tx.clone(), &self.chain)
            .map_err(|r| format!("verify refused a well-formed transaction: {r}"))?;
        let now = self.block_time();
        let txid = vtx.txid;
        let expect = self.working.expect(&tx, &txid, now, submitter, &self.roles, &self.durable.sequences);
        let what = format!("{:?} {txid} by {submitter:?}", tx.kind);
        let (reply, mut answer) = oneshot::channel();
        let gone = self.rng.gen_ratio(1, 50);
        if gone {
            drop(answer);
            self.report.callers_gone += 1;
            self.sequencer.admit_tx(&context!(self), &mut self.open, vtx, submitter, reply);
            return self.check_totals();
        }
        if !self.sealed.is_empty() {
            self.report.admitted_while_writing += 1;
        }
        if let (Expect::ClaimPaid(_), Some(claim)) = (&expect, settled::claim_terms(&tx.reference)) {
            *self.working.duplicate_claims.entry((claim.programme, claim.period)).or_default() += 1;
            self.open_waiting.stats_changed = true;
        }
        self.sequencer.admit_tx(&context!(self), &mut self.open, vtx, submitter, reply);
        match answer.try_recv() {
            Ok(reply) if self.answered_at_once(&expect) => {
                self.check_answer(&what, txid, &expect, reply, None, false)?
            }
            Ok(reply) => return self.fail(format!("{what}: answered {reply:?} before its block is durable")),
            Err(oneshot::error::TryRecvError::Empty) if self.answered_at_once(&expect) => {
                return self.fail(format!("{what}: not answered at once; the model expects {expect:?}"));
            }
            Err(oneshot::error::TryRecvError::Empty) => {
                if let Expect::Applied(_) = expect {
                    self.report.applied += 1;
                    self.working.apply(&tx, txid, now, &self.roles);
                    self.history.push(tx.clone());
                    self.open_waiting.applied.push(tx);
                }
                self.open_waiting.tickets.push(Ticket { what, txid, answer, expect });
            }
            Err(oneshot::error::TryRecvError::Closed) => return self.fail(format!("{what}: dropped unanswered")),
        }
        self.check_totals()
    }

    /// A refusal is said at once unless it rests on a transaction that is
    /// not yet durable: a crash could still undo that one.
    fn answered_at_once(&self, expect: &Expect) -> bool {
        match expect {
            Expect::Refused(_) => true,
            Expect::Spent(other) | Expect::Reused(other) | Expect::ClaimPaid(other) => {
                self.durable.sequences.contains_key(other)
            }
            Expect::Applied(_) | Expect::Duplicate(_) => false,
        }
    }

    /// One answer against the model's expectation; `block` is the durable
    /// block it waited on, if any.
    fn check_answer(
        &mut self,
        what: &str,
        txid: TxId,
        expect: &Expect,
        reply: Reply,
        block: Option<&SignedHeader>,
        deferred: bool,
    ) -> Result<(), String> {
        let agrees = match (expect, &reply) {
            (Expect::Applied(sequence), Ok(outcome)) => {
                // The block it names is the one just made durable (whose
                // signature the follower checks); its Merkle path leads there.
                !outcome.duplicate
                    && outcome.receipt.txid == txid
                    && outcome.receipt.sequence == *sequence
                    && Some(&outcome.receipt.block) == block
                    && settled::root_from_path(&outcome.receipt.txid, &outcome.receipt.merkle_path)
                        == outcome.receipt.block.header.merkle_root
            }
            (Expect::Duplicate(sequence), Ok(outcome)) => {
                outcome.duplicate
                    && outcome.receipt.txid == txid
                    && outcome.receipt.sequence == *sequence
                    && self.working.heights.get(&txid) == Some(&outcome.receipt.block.header.height)
                    && outcome.receipt.verify(&self.engine_key.address(), &self.chain).is_ok()
            }
            (Expect::Refused(reason), Err(refusal)) => refusal.reason == *reason,
            (Expect::Spent(spender), Err(refusal)) => {
                refusal.reason == Reason::InputSpent && refusal.spent_by == Some(*spender)
            }
            (Expect::Reused(other), Err(refusal)) => {
                refusal.reason == Reason::ReferenceReused && refusal.spent_by == Some(*other)
            }
            (Expect::ClaimPaid(other), Err(refusal)) => {
                refusal.reason == Reason::ClaimAlreadyPaid && refusal.spent_by == Some(*other)
            }
            _ => false,
        };
        if !agrees {
            return self.fail(format!("{what}: the model expects {expect:?}, the sequencer answered {reply:?}"));
        }
        match (expect, reply) {
            (Expect::Duplicate(_), _) => self.report.duplicates += 1,
            (Expect::Refused(_) | Expect::Spent(_) | Expect::Reused(_) | Expect::ClaimPaid(_), Err(refusal)) => {
                self.report.refused += 1;
                if deferred {
                    self.report.deferred_refusals += 1;
                    *self.report.deferred_outcomes.entry(format!("{:?}", refusal.reason)).or_default() += 1;
                }
                *self.report.outcomes.entry(format!("{:?}", refusal.reason)).or_default() += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// The ledger's totals against the model's after every submission.
    fn check_totals(&self) -> Result<(), String> {
        let ledger = self.sequencer.ledger();
        let totals = ledger.totals();
        let model_sum: u64 = self.working.unspent.values().map(|o| o.amount_minor).sum();
        if totals.unspent_minor != model_sum
            || totals.minted_minor != self.working.minted
            || totals.burned_minor != self.working.burned
            || ledger.unspent_count() != self.working.unspent.len()
        {
            return self.fail(format!(
                "state diverged: ledger {totals:?} with {} outputs, model {model_sum} minted {} burned {} with {} outputs",
                ledger.unspent_count(),
                self.working.minted,
                self.working.burned,
                self.working.unspent.len()
            ));
        }
        let programmes = [PROGRAMME, PEOPLE_PROGRAMME];
        let (days, claims) =
            day_and_claim_figures(programmes.iter().filter_map(|p| ledger.programme_stats(*p).map(|s| (*p, s))));
        if days != self.working.spent_by_day || claims != self.working.duplicate_claims {
            return self.fail(format!(
                "programme statistics diverged: ledger by day {days:?}, refused claims {claims:?}; model {:?}, {:?}",
                self.working.spent_by_day, self.working.duplicate_claims
            ));
        }
        Ok(())
    }

    /// The sequencer seals the open block and hands it to the writer.
    fn seal(&mut self) -> Result<(), String> {
        if self.open.is_idle() != self.open_waiting.is_empty() {
            return self.fail(format!(
                "the open block is idle: {}; {} submissions and {} registry changes wait on it",
                self.open.is_idle(),
                self.open_waiting.tickets.len(),
                self.open_waiting.registry.len()
            ));
        }
        if self.open_waiting.is_empty() {
            return Ok(());
        }
        let job = self.sequencer.seal(&context!(self), std::mem::take(&mut self.open));
        if let Some(block) = job.block() {
            if block.signed.header.time_unix_ms != self.open_time {
                return self.fail(format!(
                    "block {} sealed at {} (unix ms); it opened at {}",
                    block.signed.header.height, block.signed.header.time_unix_ms, self.open_time
                ));
            }
            self.sealed_time = self.open_time;
            for (vtx, _) in &block.txs {
                self.working.heights.insert(vtx.txid, block.signed.header.height);
            }
        } else if job.stats_alone().is_some() != self.open_waiting.stats_changed {
            return self.fail(format!(
                "a job with no block carries statistics: {}; a claim was refused since the last: {}",
                job.stats_alone().is_some(),
                self.open_waiting.stats_changed
            ));
        }
        let mut waiting = std::mem::take(&mut self.open_waiting);
        if let Some(early) = waiting.answered_early() {
            return self.fail(early);
        }
        self.sealed.push_back(Sealed { job, waiting, model: self.working.clone() });
        Ok(())
    }

    /// The writer takes the oldest sealed job: commits its block (maybe
    /// with a fault scheduled first) and answers everyone waiting on it, who
    /// must all be answered now, and nobody waiting on a later one. A failed
    /// commit is the engine's fail-stop and a reboot.
    fn write_oldest(&mut self) -> Result<(), String> {
        let Some(mut sealed) = self.sealed.pop_front() else { return Ok(()) };
        if let Some(early) = sealed.waiting.answered_early() {
            return self.fail(early);
        }
        let Some(block) = sealed.job.block().cloned() else {
            return self.write_stats_alone(sealed);
        };
        if self.scheduled.is_none() && self.rng.gen_ratio(FAULT_PERCENT, 100) {
            let fault = match self.rng.gen_range(0..4) {
                0 => DiskFault::FailWrite { after: self.rng.gen_range(1..=30) },
                1 => DiskFault::FailSync { after: 1 },
                _ => DiskFault::PowerLoss { after: self.rng.gen_range(1..=40) },
            };
            self.disk.schedule(fault);
            self.scheduled = Some(fault);
        }
        if self.store().commit_block(&block).is_err() {
            return self.fail_stop(sealed, Some(block));
        }
        self.report.blocks += 1;
        self.tip = block.signed;
        self.durable = sealed.model;
        answer_durable(self.store(), sealed.job);
        self.answered(sealed.waiting, Some(&block.signed))?;
        check_readers(self.store(), &self.durable, self.tip.header.height)?;
        self.follower.follow(&block, &self.engine_key, &self.chain)?;
        self.report.replayed += 1;
        if self.rng.gen_ratio(RESTART_PERCENT, 100) {
            self.follower.restart(&mut self.rng, &self.genesis, &self.tiers)?;
        }
        if !self.disk.fault_pending() {
            self.scheduled = None;
        }
        if self.sealed.is_empty() && self.open.is_idle() && self.rng.gen_ratio(RESTART_PERCENT, 100) {
            self.restart()?;
        }
        Ok(())
    }

    /// A job with no block: the programme statistics it carries (claims
    /// refused as paid already) written in a commit of their own, then its
    /// answers. A failed commit is a fail-stop, as a block's.
    fn write_stats_alone(&mut self, sealed: Sealed) -> Result<(), String> {
        match sealed.job.write_stats_alone(self.store()) {
            Ok(written) if written == sealed.job.stats_alone().is_some() => {}
            Ok(written) => {
                return self.fail(format!(
                    "statistics with no block written: {written}, with every block before them written"
                ));
            }
            Err(_) => return self.fail_stop(sealed, None),
        }
        if sealed.job.stats_alone().is_some() {
            self.report.stats_alone += 1;
            self.durable.duplicate_claims.clone_from(&sealed.model.duplicate_claims);
        }
        if !self.disk.fault_pending() {
            self.scheduled = None;
        }
        answer_durable(self.store(), sealed.job);
        self.answered(sealed.waiting, None)
    }

    /// Everyone waiting on a job the writer finished is answered as the
    /// model says; nobody waiting on a later job or the open block is.
    fn answered(&mut self, waiting: Waiting, block: Option<&SignedHeader>) -> Result<(), String> {
        for mut ticket in waiting.tickets {
            match ticket.answer.try_recv() {
                Ok(reply) => self.check_answer(&ticket.what, ticket.txid, &ticket.expect, reply, block, true)?,
                Err(e) => return self.fail(format!("{}: not answered when its block was durable: {e}", ticket.what)),
            }
        }
        for mut registry in waiting.registry {
            let height = block.map(|b| b.header.height);
            match registry.try_recv() {
                Ok(Ok(answered)) if Some(answered) == height => {}
                other => return self.fail(format!("a registry change answered {other:?} at block {height:?}")),
            }
        }
        let later = self.sealed.iter_mut().map(|s| &mut s.waiting).chain(std::iter::once(&mut self.open_waiting));
        for waiting in later {
            if let Some(early) = waiting.answered_early() {
                return Err(early);
            }
        }
        Ok(())
    }

    /// The engine failed stop on a commit: everyone waiting on that block,
    /// the later sealed ones and the open one is answered `UNAVAILABLE`
    /// (nothing of theirs is confirmed); the disk reboots and the ledger is
    /// reopened.
    fn fail_stop(&mut self, failed: Sealed, block: Option<settled::BlockRecord>) -> Result<(), String> {
        let fault = self.scheduled.take().ok_or("a commit failed with no fault scheduled")?;
        // The open block is sealed and handed to the failed writer too.
        let open = std::mem::take(&mut self.open);
        let mut jobs = vec![failed.job];
        jobs.extend(self.sealed.iter_mut().map(|s| std::mem::replace(&mut s.job, WriterJob::empty())));
        jobs.push(self.sequencer.seal(&context!(self), open));
        self.store = None;
        for job in jobs {
            answer_unavailable(job);
        }
        let mut lost = vec![failed.waiting];
        lost.extend(self.sealed.drain(..).map(|s| s.waiting));
        lost.push(std::mem::take(&mut self.open_waiting));
        let mut retry = Vec::new();
        for waiting in &mut lost {
            for ticket in &mut waiting.tickets {
                match ticket.answer.try_recv() {
                    Ok(Err(refusal)) if refusal.reason == Reason::Unavailable => {}
                    other => return self.fail(format!("{}: after a fail-stop answered {other:?}", ticket.what)),
                }
            }
            for registry in &mut waiting.registry {
                match registry.try_recv() {
                    Ok(Err(refusal)) if refusal.reason == Reason::Unavailable => {}
                    other => return self.fail(format!("a registry change after a fail-stop answered {other:?}")),
                }
            }
        }
        let keep = match fault {
            DiskFault::FailWrite { .. } => {
                self.report.write_failures += 1;
                if self.rng.gen_bool(0.5) { 1.0 } else { self.rng.r#gen() }
            }
            DiskFault::FailSync { .. } => {
                self.report.sync_failures += 1;
                if self.rng.gen_bool(0.5) { 1.0 } else { self.rng.r#gen() }
            }
            DiskFault::PowerLoss { .. } => {
                self.report.power_losses += 1;
                match self.rng.gen_range(0..4) {
                    0 => 0.0,
                    1 => 1.0,
                    _ => self.rng.r#gen(),
                }
            }
        };
        for waiting in lost.iter().skip(1) {
            retry.extend(waiting.applied.iter().cloned());
        }
        let unconfirmed = match block {
            Some(block) => Some((block, failed.model, std::mem::take(&mut lost[0].applied))),
            // Statistics written alone: the reopened file holds them or not.
            None => {
                self.stats_in_doubt = Some(failed.model.duplicate_claims);
                None
            }
        };
        self.reopen(keep, unconfirmed, retry)
    }

    /// A clean restart: nothing unsynced, nothing in flight, the same
    /// ledger.
    fn restart(&mut self) -> Result<(), String> {
        if !self.sealed.is_empty() || !self.open_waiting.is_empty() {
            return self.fail("a clean restart with submissions in flight");
        }
        self.store = None;
        self.reopen(1.0, None, Vec::new())
    }

    /// Reboots the disk (keeping each unsynced sector with probability
    /// `keep`), reopens the store and checks what it recovered: everything
    /// durable before, and the block whose commit failed wholly or not at
    /// all. The transactions of blocks lost go back to their submitters.
    fn reopen(
        &mut self,
        keep: f64,
        unconfirmed: Option<(settled::BlockRecord, Model, Vec<Transaction>)>,
        mut lost: Vec<Transaction>,
    ) -> Result<(), String> {
        if keep > 0.0 && keep < 1.0 && self.disk.unsynced_ops() > 0 {
            self.report.torn_reboots += 1;
        }
        self.disk.reboot(&mut self.rng, keep);
        self.scheduled = None;
        self.report.reopens += 1;
        let engine_key = &self.engine_key;
        let (store, recovered) =
            Store::open(self.disk.backend(), &self.genesis, None, |message| engine_key.sign(message))
                .map_err(|e| format!("the ledger does not reopen after the reboot (keep {keep:.2}): {e}"))?;
        store.set_merge_every(self.merge_every.0, self.merge_every.1, self.merge_every.2);
        if store.chain_id() != self.chain {
            return self.fail(format!("the ledger reopens as chain {}, not {}", store.chain_id(), self.chain));
        }
        self.store = Some(store);
        let found = recovered.tip;
        match unconfirmed {
            Some((block, model, _)) if found == block.signed => {
                self.report.unconfirmed_found += 1;
                self.tip = found;
                self.durable = model;
                self.follower.follow(&block, &self.engine_key, &self.chain)?;
                self.report.replayed += 1;
            }
            unconfirmed if found == self.tip => {
                if let Some((_, _, applied)) = unconfirmed {
                    self.report.unconfirmed_gone += 1;
                    lost.extend(applied);
                }
            }
            unconfirmed => {
                return self.fail(format!(
                    "recovered tip is block {} ({}); expected the last durable block {}{}",
                    found.header.height,
                    crate::hex(&found.header.hash()),
                    self.tip.header.height,
                    unconfirmed
                        .as_ref()
                        .map(|(b, _, _)| format!(" or the unconfirmed block {}", b.signed.header.height))
                        .unwrap_or_default()
                ));
            }
        }
        let lost_ids: BTreeSet<TxId> = lost.iter().map(settled::txid).collect();
        self.history.retain(|tx| !lost_ids.contains(&settled::txid(tx)));
        self.retry.extend(lost);
        self.working = self.durable.clone();
        self.check_recovered(&recovered)?;
        self.report.movements_compared += self.follower.check(&self.durable, &self.tip, self.store())?;
        let ledger = settled::recovered_ledger(recovered, self.tiers.clone()).map_err(|e| e.to_string())?;
        self.sequencer = Sequencing::new(ledger, self.tip);
        self.open = OpenBlock::default();
        self.sealed_time = self.tip.header.time_unix_ms;
        self.check_totals()
    }

    /// The programme statistics recovered: spending by day as the model's
    /// (summing, day by day, to what the merchants took and to the spending
    /// by category), and the claims refused as paid already as the last
    /// durable job left them (or, when statistics written alone failed to
    /// commit, as that job's model: the file may hold them).
    fn check_recovered_stats(&mut self, recovered: &settled::Recovered) -> Result<(), String> {
        let (days, claims) = day_and_claim_figures(recovered.stats.iter().map(|(p, s)| (*p, s)));
        if days != self.durable.spent_by_day {
            return self.fail(format!("recovered spending by day {days:?} != model {:?}", self.durable.spent_by_day));
        }
        for (programme, stats) in &recovered.stats {
            let by_day: u64 = stats.spent_by_day.values().sum();
            let by_mcc: u64 = stats.spent_by_mcc.values().sum();
            let by_merchant: u64 = self
                .durable
                .merchants
                .iter()
                .filter(|((p, _), _)| p == programme)
                .map(|(_, figures)| figures.spent_minor)
                .sum();
            if stats.spent_by_day.len() < PROGRAMME_DAYS_KEPT && (by_day != by_mcc || by_day != by_merchant) {
                return self.fail(format!(
                    "programme {programme}: spent {by_day} by day, {by_mcc} by category, {by_merchant} by merchant"
                ));
            }
            self.report.days_compared += 1;
        }
        let in_doubt = self.stats_in_doubt.take();
        if claims != self.durable.duplicate_claims {
            if in_doubt.as_ref() != Some(&claims) {
                return self.fail(format!(
                    "recovered refused claims {claims:?} != model {:?} (or, written alone and failed, {in_doubt:?})",
                    self.durable.duplicate_claims
                ));
            }
            self.durable.duplicate_claims.clone_from(&claims);
            self.working.duplicate_claims = claims;
        }
        Ok(())
    }

    /// Everything the store recovered against the model at its durable block.
    fn check_recovered(&mut self, recovered: &settled::Recovered) -> Result<(), String> {
        let model = &self.durable;
        let unspent: BTreeMap<OutPoint, Output> = recovered.unspent.iter().map(|(p, o)| (*p, *o)).collect();
        if unspent != model.unspent {
            let missing = model.unspent.keys().filter(|p| !unspent.contains_key(p)).count();
            let extra = unspent.keys().filter(|p| !model.unspent.contains_key(p)).count();
            return self.fail(format!("recovered unspent set differs: {missing} outputs missing, {extra} extra"));
        }
        let header = &recovered.tip.header;
        if (header.minted_total_minor, header.burned_total_minor) != (model.minted, model.burned) {
            return self.fail(format!(
                "recovered minted {} burned {}; the model {} and {}",
                header.minted_total_minor, header.burned_total_minor, model.minted, model.burned
            ));
        }
        if recovered.registry.programmes.contains_key(&PROGRAMME) != model.registered {
            return self.fail(format!(
                "recovered registry has the programme: {}, model: {}",
                !model.registered, model.registered
            ));
        }
        let frozen: BTreeMap<Address, Address> = recovered
            .registry
            .frozen
            .iter()
            .filter_map(|(lost, frozen)| match frozen {
                settled::registry::Frozen::Recovered { replacement, .. } => Some((*lost, *replacement)),
                settled::registry::Frozen::Held { .. } => None,
            })
            .collect();
        let inactive: BTreeSet<&str> = recovered.registry.inactive_merchants.iter().map(String::as_str).collect();
        if inactive != model.inactive {
            return self.fail(format!("recovered deactivated merchants {inactive:?} != model {:?}", model.inactive));
        }
        if frozen != model.frozen {
            return self.fail(format!("recovered frozen wallets {frozen:?} != model {:?}", model.frozen));
        }
        let refunded: BTreeMap<TxId, BTreeMap<u32, u64>> =
            recovered.refunded.iter().map(|(t, r)| (*t, r.clone())).collect();
        if refunded != model.refunded {
            return self.fail(format!("recovered refunds {refunded:?} != model {:?}", model.refunded));
        }
        let merchants: BTreeMap<(u32, String), MerchantFigures> =
            recovered.merchants.iter().map(|(k, f)| (k.clone(), *f)).collect();
        if merchants != model.merchants {
            return self.fail(format!("recovered merchant figures {merchants:?} != model {:?}", model.merchants));
        }
        self.check_recovered_stats(recovered)?;
        let model = &self.durable;
        let daily: BTreeMap<Address, (u64, u64)> = recovered.daily.iter().map(|(a, d)| (*a, *d)).collect();
        if daily != model.daily {
            return self.fail(format!("recovered daily totals {daily:?} != model {:?}", model.daily));
        }
        let yearly: BTreeMap<Address, (u64, u64)> = recovered.yearly.iter().map(|(a, y)| (*a, *y)).collect();
        if yearly != model.yearly {
            return self.fail(format!("recovered annual totals {yearly:?} != model {:?}", model.yearly));
        }
        let store = self.store();
        check_readers(store, model, self.tip.header.height)?;
        let audit = settled::audit(store).map_err(|e| format!("audit: {e}"))?;
        if !audit.failures.is_empty() || audit.blocks != self.tip.header.height + 1 {
            return self.fail(format!("audit after the reboot: {} blocks, {:?}", audit.blocks, audit.failures));
        }
        for (txid, sequence) in &model.sequences {
            let receipt = store.receipt(txid).map_err(|e| e.to_string())?;
            match receipt {
                Some(r) if r.sequence == *sequence && Some(&r.block.header.height) == model.heights.get(txid) => {}
                other => {
                    return self.fail(format!(
                        "confirmed {txid} (sequence {sequence}) comes back as {:?}",
                        other.map(|r| (r.sequence, r.block.header.height))
                    ));
                }
            }
        }
        for (outpoint, spender) in &model.spent_by {
            if store.spent_by(outpoint).map_err(|e| e.to_string())? != Some(*spender) {
                return self.fail(format!("the store does not name {spender} as the spender of {outpoint}"));
            }
        }
        self.report.receipts_checked += model.sequences.len() as u64;
        Ok(())
    }
}

/// A programme's spending by ledger day and the claims refused as paid
/// already per period, as the model keeps them (none left out).
fn day_and_claim_figures<'a>(stats: impl Iterator<Item = (u32, &'a ProgrammeStats)>) -> (SpentByDay, RefusedClaims) {
    let mut days = BTreeMap::new();
    let mut claims = BTreeMap::new();
    for (programme, stats) in stats {
        if !stats.spent_by_day.is_empty() {
            days.insert(programme, stats.spent_by_day.clone());
        }
        for (period, paid) in stats.paid_by_period.iter().filter(|(_, p)| p.duplicate_claims_refused > 0) {
            claims.insert((programme, *period), paid.duplicate_claims_refused);
        }
    }
    (days, claims)
}

/// What the store's readers answer against the model at the durable block
/// `height`: every owner's balance and unspent outputs (read a page of two
/// at a time), the programme's earmarked outputs, the unspent count and sum.
fn check_readers(store: &Store, model: &Model, height: u64) -> Result<(), String> {
    let err = |e: settled::StoreError| e.to_string();
    let mut owners: BTreeMap<Address, Vec<(OutPoint, Output)>> = BTreeMap::new();
    for (outpoint, output) in &model.unspent {
        owners.entry(output.owner).or_default().push((*outpoint, *output));
    }
    for (owner, expected) in &owners {
        let balance = store.balance_of(owner).map_err(err)?;
        let mut per_programme: BTreeMap<u32, u64> = BTreeMap::new();
        for (_, output) in expected {
            *per_programme.entry(output.programme).or_default() += output.amount_minor;
        }
        let per_programme: Vec<(u32, u64)> = per_programme.into_iter().collect();
        if balance.per_programme != per_programme
            || balance.unspent_count != expected.len() as u64
            || balance.height != height
        {
            return Err(format!(
                "balance of {owner} at block {}: {:?} in {} outputs; the model at block {height}: {per_programme:?} in {}",
                balance.height,
                balance.per_programme,
                balance.unspent_count,
                expected.len()
            ));
        }
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let (page, at) = store.unspent_of(owner, after.as_ref(), 2).map_err(err)?;
            if at != height {
                return Err(format!("unspent outputs of {owner} read at block {at}, the model at {height}"));
            }
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            listed.extend(page);
        }
        if listed != *expected {
            return Err(format!(
                "unspent outputs of {owner}: {} listed, the model has {}",
                listed.len(),
                expected.len()
            ));
        }
    }
    let earmarked: Vec<(OutPoint, Output)> =
        model.unspent.iter().filter(|(_, o)| o.programme == PROGRAMME).map(|(p, o)| (*p, *o)).collect();
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.earmarked_outputs(PROGRAMME, after.as_ref(), 3).map_err(err)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        listed.extend(page);
    }
    if listed != earmarked {
        return Err(format!("earmarked outputs: {} listed, the model has {}", listed.len(), earmarked.len()));
    }
    let (count, sum, tip) = store.count_unspent().map_err(err)?;
    let model_sum: u64 = model.unspent.values().map(|o| o.amount_minor).sum();
    if (count, sum, tip.header.height) != (model.unspent.len() as u64, model_sum, height) {
        return Err(format!(
            "unspent count {count} sum {sum} at block {}; the model {} outputs, {model_sum} at {height}",
            tip.header.height,
            model.unspent.len()
        ));
    }
    Ok(())
}

/// Runs `seeds` seeds from `first` on `threads` threads; the first failure
/// stops the run.
///
/// # Errors
/// The first failing seed's report.
pub fn simulate_core_seeds(first: u64, seeds: u64, steps: u64, threads: usize) -> Result<CoreReport, String> {
    let reports = crate::run_seeds(
        first,
        seeds,
        threads,
        |seed| simulate_core(seed, steps),
        |seed| reproduce(seed, steps, 0, "panicked (message above)"),
    )?;
    let mut total = CoreReport::default();
    for report in reports {
        total += report;
    }
    Ok(total)
}
