//! Deterministic simulation of the core with storage faults.
//!
//! One seed drives the real ledger state machine, the real block seal
//! ([`settled::seal_block`]) and the real redb store, on a simulated disk
//! ([`SimDisk`]) that fails writes, fails fsyncs, loses power mid-commit and
//! tears unsynced writes, and checks every step against a small reference
//! model that knows only the rules: which outputs exist, who spent what, what
//! was minted, the welfare programme's merchant categories and expiry, the
//! wallet tier's limits.
//!
//! The submission protocol above the ledger is the sequencer's (a mint seen
//! before is a resubmission, a mint reference pays once, a missing input is
//! told apart from its own resubmission by asking the store who spent it),
//! without its threads: one block is open at a time and its commit is waited
//! for. A failed commit is the engine's fail-stop: the store is dropped, the
//! disk rebooted (with everything not synced dropped or torn), the ledger
//! reopened, and the block whose commit failed must be either wholly there
//! or wholly absent, with everything confirmed before it intact.
//!
//! A failing seed prints one command that reproduces it.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::dev::{DiskFault, SimDisk};
use settled::registry::{AdminOp, Bank, Merchant, Programme, Tier, TierPolicy, Wallet};
use settled::replica::{self, ReplicatedBlock};
use settled::{
    Address, Applied, ChainId, Decline, Genesis, Keypair, Ledger, OutPoint, Output, Reason, SignedHeader, Store,
    Transaction, TxId, TxKind, VerifiedTx, client,
};

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
const SIM_BANK: &str = "bank-sim";
const MCC_GROCERY: u16 = 5411;
const MCC_BAR: u16 = 5813;
const TIER: Tier = Tier { id: 1, balance_cap_minor: 400_000, per_payment_minor: 30_000, per_day_minor: 60_000 };
const PROGRAMME_PAYMENT_MAX: u64 = 50_000;
/// The simulated clock starts near this time (2030) and moves one second a
/// step; each seed starts some steps before a day boundary.
const CLOCK_BASE_MS: u64 = 1_900_000_000_000;
const DAY_MS: u64 = 86_400_000;
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
    }
}

/// The reference model: what the ledger holds, from the rules alone.
#[derive(Clone, Debug)]
struct Model {
    tiers: TierPolicy,
    programme_until: u64,
    unspent: BTreeMap<OutPoint, Output>,
    minted: u64,
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
    next_sequence: u64,
}

/// What the model says a submission must come to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Applied,
    Duplicate(u64),
    Refused(Reason),
    /// Refused as spent, naming the spender.
    Spent(TxId),
}

/// What the simulated sequencer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Applied(u64),
    Duplicate(u64),
    Refused(Reason, Option<TxId>),
}

struct Roles {
    grocer: Address,
    bar: Address,
    treasury: Address,
    tiered: BTreeSet<Address>,
}

impl Model {
    fn balance(&self, owner: &Address) -> u64 {
        self.unspent.values().filter(|o| o.owner == *owner).map(|o| o.amount_minor).sum()
    }

    fn tiered(&self, roles: &Roles, owner: &Address) -> bool {
        self.registered && roles.tiered.contains(owner)
    }

    /// The outcome the rules give `tx` at `now`.
    fn expect(&self, tx: &Transaction, txid: &TxId, now: u64, roles: &Roles, issuers: &[Address]) -> Expect {
        let programme_live = |programme: u32, until: u64| -> Result<(), Reason> {
            if programme != PROGRAMME || !self.registered {
                return Err(Reason::UnknownProgramme);
            }
            if now >= until { Err(Reason::ProgrammeExpired) } else { Ok(()) }
        };
        let until = self.programme_until;
        if tx.kind == TxKind::Mint {
            if let Some(sequence) = self.sequences.get(txid) {
                return Expect::Duplicate(*sequence);
            }
            if self.references.contains_key(&tx.reference) {
                return Expect::Refused(Reason::ReferenceReused);
            }
            if tx.witnesses.iter().any(|w| !issuers.contains(&w.public_key)) {
                return Expect::Refused(Reason::UnexpectedWitness);
            }
            if tx.witnesses.len() < 2 {
                return Expect::Refused(Reason::MintThreshold);
            }
            for output in tx.outputs.iter().filter(|o| o.programme != 0) {
                if let Err(reason) = programme_live(output.programme, until) {
                    return Expect::Refused(reason);
                }
            }
            for (payee, received) in net_received(&[], &tx.outputs, None) {
                if self.tiered(roles, &payee) && self.balance(&payee) + received > TIER.balance_cap_minor {
                    return Expect::Refused(Reason::BalanceCap);
                }
            }
            return Expect::Applied;
        }
        let mut spent = Vec::new();
        for input in &tx.inputs {
            match self.unspent.get(input) {
                Some(output) => spent.push(*output),
                None => {
                    return match self.spent_by.get(input) {
                        Some(spender) if spender == txid => Expect::Duplicate(self.sequences[txid]),
                        Some(spender) => Expect::Spent(*spender),
                        None => Expect::Refused(Reason::InputUnknown),
                    };
                }
            }
        }
        let signers: Vec<Address> = tx.witnesses.iter().map(|w| w.public_key).collect();
        if spent.iter().any(|o| !signers.contains(&o.owner)) {
            return Expect::Refused(Reason::MissingWitness);
        }
        if signers.iter().any(|s| !spent.iter().any(|o| o.owner == *s)) {
            return Expect::Refused(Reason::UnexpectedWitness);
        }
        let mut programmes: BTreeSet<u32> = spent.iter().map(|o| o.programme).collect();
        programmes.extend(tx.outputs.iter().map(|o| o.programme));
        for programme in &programmes {
            let sum = |outputs: &[Output]| -> u64 {
                outputs.iter().filter(|o| o.programme == *programme).map(|o| o.amount_minor).sum()
            };
            if sum(&spent) != sum(&tx.outputs) {
                return Expect::Refused(Reason::NotConserved);
            }
        }
        for programme in spent.iter().map(|o| o.programme).filter(|p| *p != 0).collect::<BTreeSet<_>>() {
            if let Err(reason) = programme_live(programme, until) {
                return Expect::Refused(reason);
            }
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
                    return Expect::Refused(reason);
                }
            }
            if paid > PROGRAMME_PAYMENT_MAX {
                return Expect::Refused(Reason::ProgrammePaymentLimit);
            }
        }
        let day = self.tiers.day_of(now);
        for (payer, paid) in net_received(&tx.outputs, &spent, None) {
            if !self.tiered(roles, &payer) {
                continue;
            }
            if paid > TIER.per_payment_minor {
                return Expect::Refused(Reason::TierPaymentLimit);
            }
            let today = match self.daily.get(&payer) {
                Some((d, total)) if *d == day => *total,
                _ => 0,
            };
            if today + paid > TIER.per_day_minor {
                return Expect::Refused(Reason::TierDailyLimit);
            }
        }
        for (payee, received) in net_received(&spent, &tx.outputs, None) {
            if self.tiered(roles, &payee) && self.balance(&payee) + received > TIER.balance_cap_minor {
                return Expect::Refused(Reason::BalanceCap);
            }
        }
        Expect::Applied
    }

    fn apply(&mut self, tx: &Transaction, txid: TxId, now: u64, roles: &Roles) {
        let spent: Vec<Output> = tx.inputs.iter().map(|i| self.unspent[i]).collect();
        let day = self.tiers.day_of(now);
        for (payer, paid) in net_received(&tx.outputs, &spent, None) {
            if self.tiered(roles, &payer) {
                let today = match self.daily.get(&payer) {
                    Some((d, total)) if *d == day => *total,
                    _ => 0,
                };
                self.daily.insert(payer, (day, today + paid));
            }
        }
        for input in &tx.inputs {
            self.unspent.remove(input);
            self.spent_by.insert(*input, txid);
        }
        for (i, output) in tx.outputs.iter().enumerate() {
            self.unspent.insert(OutPoint { txid, index: u32::try_from(i).expect("bounded") }, *output);
        }
        if tx.kind == TxKind::Mint {
            self.minted += tx.outputs.iter().map(|o| o.amount_minor).sum::<u64>();
            self.references.insert(tx.reference.clone(), txid);
        }
        self.sequences.insert(txid, self.next_sequence);
        self.next_sequence += 1;
    }
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
    wallets: Vec<Keypair>,
    grocer: Keypair,
    bar: Keypair,
    treasury: Keypair,
    roles: Roles,
    tiers: TierPolicy,
    programme_until: u64,
    disk: SimDisk,
    store: Option<Store>,
    ledger: Ledger,
    tip: SignedHeader,
    /// The model at the last durable block, and with the open block applied.
    durable: Model,
    working: Model,
    open: Vec<(VerifiedTx, Applied)>,
    open_ops: Vec<(u32, AdminOp)>,
    open_time: u64,
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
    world.seal_and_commit().map_err(|e| reproduce(seed, steps, steps, &e))?;
    world.restart(1.0).map_err(|e| reproduce(seed, steps, steps, &e))?;
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
        let genesis = Genesis {
            currency: "CNY".to_owned(),
            exponent: 2,
            issuer_keys: issuers.iter().map(Keypair::address).collect(),
            issuer_threshold: 2,
            engine_key: engine_key.address(),
        };
        let tiers = TierPolicy { tiers: vec![TIER], unregistered_tier: None, day_offset_minutes: 0 };
        // A day boundary falls somewhere in the run; the programme expires
        // somewhere in it.
        let day_start = CLOCK_BASE_MS / DAY_MS * DAY_MS + DAY_MS;
        let clock_ms = day_start - rng.gen_range(0..=steps.max(1)) * 1_000;
        let programme_until = clock_ms + rng.gen_range(steps / 3..=steps.max(1) * 2) * 1_000;
        let roles = Roles {
            grocer: grocer.address(),
            bar: bar.address(),
            treasury: treasury.address(),
            tiered: wallets[..TIERED_WALLETS].iter().map(Keypair::address).collect(),
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
            tiers: tiers.clone(),
            programme_until,
            unspent: BTreeMap::new(),
            minted: 0,
            registered: false,
            spent_by: BTreeMap::new(),
            sequences: BTreeMap::new(),
            heights: BTreeMap::new(),
            references: BTreeMap::new(),
            daily: BTreeMap::new(),
            next_sequence: tip.header.next_sequence(),
        };
        Ok(Self {
            seed,
            rng,
            genesis,
            engine_key,
            chain,
            issuers,
            wallets,
            grocer,
            bar,
            treasury,
            roles,
            tiers,
            programme_until,
            disk,
            store: Some(store),
            ledger,
            tip,
            durable: model.clone(),
            working: model,
            open: Vec::new(),
            open_ops: Vec::new(),
            open_time: 0,
            clock_ms,
            retry: Vec::new(),
            history: Vec::new(),
            scheduled: None,
            follower,
            report: CoreReport::default(),
            merge_every,
        })
    }
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
                valid_from_ms: 0,
                valid_until_ms: self.programme_until,
                transferable: false,
                treasury: self.treasury.address(),
                per_payment_max_minor: Some(PROGRAMME_PAYMENT_MAX),
            }),
        ];
        for wallet in &self.wallets[..TIERED_WALLETS] {
            ops.push(AdminOp::RegisterWallet(Wallet { address: wallet.address(), bank: bank.clone(), tier: TIER.id }));
        }
        ops
    }

    /// The time of the open block (fixed when it opens, never before the tip).
    fn block_time(&mut self) -> u64 {
        if self.open.is_empty() && self.open_ops.is_empty() {
            self.open_time = self.clock_ms.max(self.tip.header.time_unix_ms);
        }
        self.open_time
    }

    fn step(&mut self, step: u64) -> Result<(), String> {
        self.clock_ms += 1_000;
        if !self.working.registered && self.rng.gen_bool(0.5) {
            self.block_time();
            for op in self.registry_ops() {
                if let Err(refusal) = self.ledger.admin(op.clone()) {
                    return self.fail(format!("registry op refused: {refusal}"));
                }
                self.open_ops.push((u32::try_from(self.open.len()).expect("bounded"), op));
            }
            self.working.registered = true;
        } else {
            let tx = self.next_transaction(step);
            self.submit(tx)?;
        }
        if self.open.len() >= SIM_BLOCK_TXS_MAX || self.rng.gen_ratio(1, 3) {
            self.seal_and_commit()?;
        }
        Ok(())
    }

    fn wallet_of(&self, owner: &Address) -> Option<&Keypair> {
        self.wallets.iter().find(|w| w.address() == *owner)
    }

    /// The next submission: mostly valid payments and mints, with double
    /// spends, replays, unknown inputs, bad signatures, non-conserving
    /// payments, under-signed mints, reused mint references, and payments
    /// the programme or the tier forbids (the payee decides which).
    fn next_transaction(&mut self, step: u64) -> Transaction {
        let owned: Vec<(OutPoint, Output)> = self
            .working
            .unspent
            .iter()
            .filter(|(_, o)| self.wallet_of(&o.owner).is_some())
            .map(|(p, o)| (*p, *o))
            .collect();
        let reference = format!("s{}-{step}", self.seed).into_bytes();
        let action = if owned.is_empty() { self.rng.gen_range(0..2) } else { self.rng.gen_range(0..14) };
        match action {
            0 | 1 => {
                let owner = self.wallets[self.rng.gen_range(0..WALLETS)].address();
                let amount = self.rng.gen_range(1..=120_000);
                let programme = if self.rng.gen_ratio(2, 5) { PROGRAMME } else { 0 };
                let signers: Vec<&Keypair> = if self.rng.gen_ratio(1, 8) {
                    vec![&self.issuers[1]]
                } else {
                    vec![&self.issuers[0], &self.issuers[2]]
                };
                let reference = match self.working.references.keys().next() {
                    Some(used) if self.rng.gen_ratio(1, 10) => used.clone(),
                    _ => reference,
                };
                client::mint(&self.chain, vec![client::output(owner, amount, programme)], &reference, &signers)
            }
            2 if !self.retry.is_empty() => {
                let i = self.rng.gen_range(0..self.retry.len());
                self.retry.swap_remove(i)
            }
            3 if !self.history.is_empty() => {
                // A replay of an applied transaction (a payment or a mint).
                self.history[self.rng.gen_range(0..self.history.len())].clone()
            }
            4 if !self.working.spent_by.is_empty() => {
                // A new transaction spending an output already spent.
                let i = self.rng.gen_range(0..self.working.spent_by.len());
                let (outpoint, spender) = self.working.spent_by.iter().nth(i).map(|(o, s)| (*o, *s)).expect("in range");
                let payer = &self.wallets[usize::from(spender.0[0]) % WALLETS];
                let fake = (outpoint, client::output(payer.address(), 1, 0));
                client::pay(&self.chain, payer, fake, self.wallets[0].address(), 1, &reference)
            }
            5 => {
                let outpoint = OutPoint { txid: TxId(self.rng.r#gen()), index: 0 };
                let payer = &self.wallets[0];
                client::pay(
                    &self.chain,
                    payer,
                    (outpoint, client::output(payer.address(), 5, 0)),
                    self.grocer.address(),
                    5,
                    &reference,
                )
            }
            6 => {
                let (outpoint, output) = owned[self.rng.gen_range(0..owned.len())];
                let payer = self.wallet_of(&output.owner).expect("a wallet's");
                let mut tx = client::pay(
                    &self.chain,
                    payer,
                    (outpoint, output),
                    self.grocer.address(),
                    output.amount_minor,
                    &reference,
                );
                tx.outputs[0].amount_minor += 1;
                tx.witnesses.clear();
                client::sign(&mut tx, &self.chain, &[payer]);
                tx
            }
            7 => {
                let (outpoint, output) = owned[self.rng.gen_range(0..owned.len())];
                let thief = self.wallets.iter().find(|w| w.address() != output.owner).expect("another wallet");
                client::pay(&self.chain, thief, (outpoint, output), thief.address(), output.amount_minor, &reference)
            }
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
                client::pay(&self.chain, payer, (outpoint, output), payee, amount, &reference)
            }
        }
    }

    /// One submission through the sequencer's protocol, checked against the
    /// model.
    fn submit(&mut self, tx: Transaction) -> Result<(), String> {
        let vtx = settled::verify(tx.clone(), &self.chain)
            .map_err(|r| format!("verify refused a well-formed transaction: {r}"))?;
        let now = self.block_time();
        let issuers = self.genesis.issuer_keys.clone();
        let expect = self.working.expect(&tx, &vtx.txid, now, &self.roles, &issuers);
        let answer = self.answer(&vtx, now)?;
        let agrees = match (&expect, &answer) {
            (Expect::Applied, Answer::Applied(sequence)) => *sequence == self.working.next_sequence,
            (Expect::Duplicate(a), Answer::Duplicate(b)) => a == b,
            (Expect::Refused(a), Answer::Refused(b, _)) => a == b,
            (Expect::Spent(a), Answer::Refused(Reason::InputSpent, Some(b))) => a == b,
            _ => false,
        };
        if !agrees {
            return self
                .fail(format!("{:?} {}: model expects {expect:?}, the core answered {answer:?}", tx.kind, vtx.txid));
        }
        match answer {
            Answer::Applied(_) => {
                self.report.applied += 1;
                self.working.apply(&tx, vtx.txid, now, &self.roles);
                self.history.push(tx);
            }
            Answer::Duplicate(_) => self.report.duplicates += 1,
            Answer::Refused(reason, _) => {
                self.report.refused += 1;
                *self.report.outcomes.entry(format!("{reason:?}")).or_default() += 1;
            }
        }
        self.check_totals()
    }

    /// What the sequencer answers: the engine's steps around `Ledger::apply`.
    fn answer(&mut self, vtx: &VerifiedTx, now: u64) -> Result<Answer, String> {
        let in_open = |txid: &TxId, open: &[(VerifiedTx, Applied)]| {
            open.iter().find(|(v, _)| v.txid == *txid).map(|(_, a)| a.sequence)
        };
        if vtx.tx.kind == TxKind::Mint {
            if let Some(sequence) = in_open(&vtx.txid, &self.open) {
                return Ok(Answer::Duplicate(sequence));
            }
            if let Some(location) = self.store().locate(&vtx.txid).map_err(|e| e.to_string())? {
                return Ok(Answer::Duplicate(location.sequence));
            }
            let in_block =
                self.open.iter().any(|(v, _)| v.tx.kind == TxKind::Mint && v.tx.reference == vtx.tx.reference);
            if in_block || self.store().mint_by_reference(&vtx.tx.reference).map_err(|e| e.to_string())?.is_some() {
                return Ok(Answer::Refused(Reason::ReferenceReused, None));
            }
        }
        match self.ledger.apply(vtx, now) {
            Ok(applied) => {
                let sequence = applied.sequence;
                self.open.push((vtx.clone(), applied));
                Ok(Answer::Applied(sequence))
            }
            Err(Decline::Refused(refusal)) => Ok(Answer::Refused(refusal.reason, None)),
            Err(Decline::InputMissing(input)) => {
                let in_block = self.open.iter().find(|(v, _)| v.tx.inputs.contains(&input)).map(|(v, _)| v.txid);
                let spender = match in_block {
                    Some(txid) => Some(txid),
                    None => self.store().spent_by(&input).map_err(|e| e.to_string())?,
                };
                match spender {
                    Some(spender) if spender == vtx.txid => match in_open(&vtx.txid, &self.open) {
                        Some(sequence) => Ok(Answer::Duplicate(sequence)),
                        None => {
                            let receipt = self.store().receipt(&vtx.txid).map_err(|e| e.to_string())?;
                            let receipt = receipt.ok_or("the store names a spender it has no receipt for")?;
                            Ok(Answer::Duplicate(receipt.sequence))
                        }
                    },
                    Some(spender) => Ok(Answer::Refused(Reason::InputSpent, Some(spender))),
                    None => Ok(Answer::Refused(Reason::InputUnknown, None)),
                }
            }
        }
    }

    /// The ledger's totals against the model's after every submission.
    fn check_totals(&self) -> Result<(), String> {
        let totals = self.ledger.totals();
        let model_sum: u64 = self.working.unspent.values().map(|o| o.amount_minor).sum();
        if totals.unspent_minor != model_sum
            || totals.minted_minor != self.working.minted
            || self.ledger.unspent_count() != self.working.unspent.len()
        {
            return self.fail(format!(
                "state diverged: ledger {totals:?} with {} outputs, model {model_sum} minted {} with {} outputs",
                self.ledger.unspent_count(),
                self.working.minted,
                self.working.unspent.len()
            ));
        }
        Ok(())
    }

    /// Seals the open block and commits it, maybe with a fault scheduled
    /// first; a failed commit is a fail-stop and a reboot.
    fn seal_and_commit(&mut self) -> Result<(), String> {
        if self.open.is_empty() && self.open_ops.is_empty() {
            return Ok(());
        }
        if self.scheduled.is_none() && self.rng.gen_ratio(FAULT_PERCENT, 100) {
            let fault = match self.rng.gen_range(0..4) {
                0 => DiskFault::FailWrite { after: self.rng.gen_range(1..=30) },
                1 => DiskFault::FailSync { after: 1 },
                _ => DiskFault::PowerLoss { after: self.rng.gen_range(1..=40) },
            };
            self.disk.schedule(fault);
            self.scheduled = Some(fault);
        }
        let txs = std::mem::take(&mut self.open);
        let ops = std::mem::take(&mut self.open_ops);
        let block =
            settled::seal_block(&mut self.ledger, &self.tip, txs, ops, self.open_time, &self.engine_key, &self.chain);
        let height = block.signed.header.height;
        for (vtx, _) in &block.txs {
            self.working.heights.insert(vtx.txid, height);
        }
        match self.store().commit_block(&block) {
            Ok(()) => {
                self.report.blocks += 1;
                self.tip = block.signed;
                self.durable = self.working.clone();
                check_readers(self.store(), &self.durable, height)?;
                self.follower.follow(&block, &self.engine_key, &self.chain)?;
                self.report.replayed += 1;
                if self.rng.gen_ratio(RESTART_PERCENT, 100) {
                    self.follower.restart(&mut self.rng, &self.genesis, &self.tiers)?;
                }
                if !self.disk.fault_pending() {
                    self.scheduled = None;
                }
                if self.rng.gen_ratio(RESTART_PERCENT, 100) {
                    self.restart(1.0)?;
                }
                Ok(())
            }
            Err(_) => {
                let fault = self.scheduled.take().ok_or("a commit failed with no fault scheduled")?;
                self.store = None;
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
                self.reopen(keep, Some(block))
            }
        }
    }

    /// A clean restart: nothing unsynced, the same ledger.
    fn restart(&mut self, keep: f64) -> Result<(), String> {
        self.store = None;
        self.reopen(keep, None)
    }

    /// Reboots the disk (keeping each unsynced sector with probability
    /// `keep`), reopens the store and checks what it recovered: everything
    /// durable before, and the block whose commit failed wholly or not at all.
    fn reopen(&mut self, keep: f64, unconfirmed: Option<settled::BlockRecord>) -> Result<(), String> {
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
        match &unconfirmed {
            Some(block) if found == block.signed => {
                self.report.unconfirmed_found += 1;
                self.tip = found;
                self.durable = self.working.clone();
                self.follower.follow(block, &self.engine_key, &self.chain)?;
                self.report.replayed += 1;
            }
            _ if found == self.tip => {
                if let Some(block) = &unconfirmed {
                    self.report.unconfirmed_gone += 1;
                    self.retry.extend(block.txs.iter().map(|(vtx, _)| vtx.tx.clone()));
                    let lost: BTreeSet<TxId> = block.txs.iter().map(|(vtx, _)| vtx.txid).collect();
                    self.history.retain(|tx| !lost.contains(&settled::txid(tx)));
                }
                self.working = self.durable.clone();
            }
            _ => {
                return self.fail(format!(
                    "recovered tip is block {} ({}); expected the last durable block {}{}",
                    found.header.height,
                    crate::hex(&found.header.hash()),
                    self.tip.header.height,
                    unconfirmed
                        .as_ref()
                        .map(|b| format!(" or the unconfirmed block {}", b.signed.header.height))
                        .unwrap_or_default()
                ));
            }
        }
        self.check_recovered(&recovered)?;
        self.report.movements_compared += self.follower.check(&self.durable, &self.tip, self.store())?;
        self.ledger = settled::recovered_ledger(recovered, self.tiers.clone()).map_err(|e| e.to_string())?;
        self.check_totals()
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
        if recovered.tip.header.minted_total_minor != model.minted {
            return self.fail(format!(
                "recovered minted {} != model {}",
                recovered.tip.header.minted_total_minor, model.minted
            ));
        }
        if recovered.registry.programmes.contains_key(&PROGRAMME) != model.registered {
            return self.fail(format!(
                "recovered registry has the programme: {}, model: {}",
                !model.registered, model.registered
            ));
        }
        let daily: BTreeMap<Address, (u64, u64)> = recovered.daily.iter().map(|(a, d)| (*a, *d)).collect();
        if daily != model.daily {
            return self.fail(format!("recovered daily totals {daily:?} != model {:?}", model.daily));
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
