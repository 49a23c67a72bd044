//! What a committed transaction did to each bank's customers: one movement
//! per bank per transaction, with one entry per customer address and
//! programme (net of change), and each bank's running totals. Pure: the
//! ledger computes them with the registry as it stands when the transaction
//! is sequenced (so a movement belongs to the bank the customer had then),
//! the store persists them with the block, and the bank streams,
//! statements and net positions read them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::registry::{Registry, Role};
use crate::core::types::{Address, AmountMinor, Output, ProgrammeId, TxId, TxKind};

/// The bank id under which money outside any bank is counted: unregistered
/// wallets and programme treasuries. Never a registered bank (ids are not
/// empty) and never streamed; it keeps net positions summing to zero.
pub const UNBANKED: &str = "";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Credit,
    Debit,
}

/// One customer's net movement in one programme within one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub address: Address,
    pub merchant: Option<String>,
    pub programme: ProgrammeId,
    pub direction: Direction,
    pub amount_minor: AmountMinor,
    pub counterparty: Option<Address>,
    pub counterparty_bank: Option<String>,
}

/// One bank's part of one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub sequence: u64,
    pub txid: TxId,
    pub kind: TxKind,
    pub time_unix_ms: u64,
    pub merchant: Option<String>,
    pub terminal: Option<String>,
    pub entries: Vec<Entry>,
}

/// A bank's running totals since genesis. `paid_to` / `received_from` are
/// what its customers paid to / received from other banks' customers
/// (transfers and clawbacks), the basis of net positions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTotals {
    pub movements: u64,
    pub credit_entries: u64,
    pub debit_entries: u64,
    pub credits_minor: u64,
    pub debits_minor: u64,
    /// Programme -> (credits, debits).
    pub programmes: BTreeMap<ProgrammeId, (u64, u64)>,
    pub paid_to: BTreeMap<String, u64>,
    pub received_from: BTreeMap<String, u64>,
    pub issued_minor: u64,
    pub redeemed_minor: u64,
}

impl BankTotals {
    /// The customers' balance these totals imply: credits - debits.
    #[must_use]
    pub fn balance_minor(&self) -> i128 {
        i128::from(self.credits_minor) - i128::from(self.debits_minor)
    }

    fn add(&mut self, movement: &Movement) {
        self.movements += 1;
        for entry in &movement.entries {
            let programme = self.programmes.entry(entry.programme).or_default();
            match entry.direction {
                Direction::Credit => {
                    self.credit_entries += 1;
                    self.credits_minor = self.credits_minor.saturating_add(entry.amount_minor);
                    programme.0 = programme.0.saturating_add(entry.amount_minor);
                }
                Direction::Debit => {
                    self.debit_entries += 1;
                    self.debits_minor = self.debits_minor.saturating_add(entry.amount_minor);
                    programme.1 = programme.1.saturating_add(entry.amount_minor);
                }
            }
        }
    }
}

/// The bank whose customer `address` is, as the registry stands.
#[must_use]
pub fn bank_of<'a>(registry: &'a Registry, address: &Address) -> &'a str {
    match registry.role(address) {
        Some(Role::Wallet { .. }) => registry.wallets.get(address).map_or(UNBANKED, |w| w.bank.as_str()),
        Some(Role::Merchant { id, .. }) => registry.merchants.get(id).map_or(UNBANKED, |m| m.bank.as_str()),
        Some(Role::Treasury { .. }) | None => UNBANKED,
    }
}

fn merchant_of(registry: &Registry, address: &Address) -> Option<String> {
    match registry.role(address) {
        Some(Role::Merchant { id, .. }) => Some(id.clone()),
        _ => None,
    }
}

/// The movements of one applied transaction, by bank (ascending; the
/// unbanked included), and the flows between banks it makes.
#[derive(Debug, Default)]
pub struct TxMovements {
    pub by_bank: Vec<(String, Movement)>,
    /// (payer bank, payee bank, amount) between distinct banks.
    pub flows: Vec<(String, String, AmountMinor)>,
}

/// Splits a transaction into per-bank movements. `spent` are the outputs
/// its inputs consumed, in input order.
#[must_use]
pub fn movements_of(
    registry: &Registry,
    kind: TxKind,
    txid: TxId,
    sequence: u64,
    time_unix_ms: u64,
    spent: &[Output],
    outputs: &[Output],
) -> TxMovements {
    // Net change per (address, programme): change back to a payer is not a
    // movement, whoever else signed.
    let mut net: BTreeMap<(Address, ProgrammeId), i128> = BTreeMap::new();
    for output in spent {
        *net.entry((output.owner, output.programme)).or_default() -= i128::from(output.amount_minor);
    }
    for output in outputs {
        *net.entry((output.owner, output.programme)).or_default() += i128::from(output.amount_minor);
    }
    net.retain(|_, delta| *delta != 0);
    let largest = |direction_positive: bool| -> Option<Address> {
        net.iter()
            .filter(|(_, d)| (**d > 0) == direction_positive)
            .max_by_key(|(_, d)| d.unsigned_abs())
            .map(|((address, _), _)| *address)
    };
    let (main_payee, main_payer) = (largest(true), largest(false));
    let merchant = match kind {
        // The merchant a payment paid; the one a redemption or a refund debits.
        TxKind::Transfer | TxKind::Redeem | TxKind::Refund => net
            .iter()
            .filter(|(_, d)| (kind == TxKind::Transfer) == (**d > 0))
            .find_map(|((address, _), _)| merchant_of(registry, address)),
        TxKind::Mint | TxKind::Clawback | TxKind::Recovery => None,
    };
    let mut by_bank: BTreeMap<String, Movement> = BTreeMap::new();
    let mut bank_net: BTreeMap<String, i128> = BTreeMap::new();
    for ((address, programme), delta) in &net {
        let direction = if *delta > 0 { Direction::Credit } else { Direction::Debit };
        let counterparty = match direction {
            Direction::Credit => main_payer,
            Direction::Debit => main_payee,
        }
        .filter(|c| c != address);
        let bank = bank_of(registry, address).to_owned();
        *bank_net.entry(bank.clone()).or_default() += delta;
        let entry = Entry {
            address: *address,
            merchant: merchant_of(registry, address),
            programme: *programme,
            direction,
            amount_minor: u64::try_from(delta.unsigned_abs()).expect("bounded by the transaction's outputs"),
            counterparty,
            counterparty_bank: counterparty.map(|c| bank_of(registry, &c).to_owned()).filter(|b| !b.is_empty()),
        };
        by_bank
            .entry(bank)
            .or_insert_with(|| Movement {
                sequence,
                txid,
                kind,
                time_unix_ms,
                merchant: merchant.clone(),
                terminal: None,
                entries: Vec::new(),
            })
            .entries
            .push(entry);
    }
    let flows = match kind {
        TxKind::Transfer | TxKind::Clawback | TxKind::Refund | TxKind::Recovery => match_flows(&bank_net),
        TxKind::Mint | TxKind::Redeem => Vec::new(),
    };
    TxMovements { by_bank: by_bank.into_iter().collect(), flows }
}

/// Pairs paying banks with receiving banks, largest first, so that each
/// bank's flows add up to its net: deterministic and exact in integers.
fn match_flows(bank_net: &BTreeMap<String, i128>) -> Vec<(String, String, AmountMinor)> {
    let mut payers: Vec<(&String, u128)> =
        bank_net.iter().filter(|(_, n)| **n < 0).map(|(b, n)| (b, n.unsigned_abs())).collect();
    let mut payees: Vec<(&String, u128)> =
        bank_net.iter().filter(|(_, n)| **n > 0).map(|(b, n)| (b, n.unsigned_abs())).collect();
    payers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    payees.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut flows = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < payers.len() && j < payees.len() {
        let amount = payers[i].1.min(payees[j].1);
        flows.push((payers[i].0.clone(), payees[j].0.clone(), u64::try_from(amount).expect("bounded")));
        payers[i].1 -= amount;
        payees[j].1 -= amount;
        if payers[i].1 == 0 {
            i += 1;
        }
        if payees[j].1 == 0 {
            j += 1;
        }
    }
    flows
}

/// Folds a transaction's movements into the banks' running totals; returns
/// the banks whose totals changed.
pub fn add_to_totals(totals: &mut BTreeMap<String, BankTotals>, tx: &TxMovements) -> Vec<String> {
    let mut touched = Vec::with_capacity(tx.by_bank.len());
    for (bank, movement) in &tx.by_bank {
        let bank_totals = totals.entry(bank.clone()).or_default();
        bank_totals.add(movement);
        let sum = |direction: Direction| -> u64 {
            movement.entries.iter().filter(|e| e.direction == direction).map(|e| e.amount_minor).sum()
        };
        match movement.kind {
            TxKind::Mint => bank_totals.issued_minor = bank_totals.issued_minor.saturating_add(sum(Direction::Credit)),
            TxKind::Redeem => {
                let burned = sum(Direction::Debit).saturating_sub(sum(Direction::Credit));
                bank_totals.redeemed_minor = bank_totals.redeemed_minor.saturating_add(burned);
            }
            TxKind::Transfer | TxKind::Clawback | TxKind::Refund | TxKind::Recovery => {}
        }
        touched.push(bank.clone());
    }
    for (payer, payee, amount) in &tx.flows {
        let paid = totals.entry(payer.clone()).or_default().paid_to.entry(payee.clone()).or_default();
        *paid = paid.saturating_add(*amount);
        let received = totals.entry(payee.clone()).or_default().received_from.entry(payer.clone()).or_default();
        *received = received.saturating_add(*amount);
    }
    touched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::{AdminOp, Bank, Merchant, TierPolicy, Wallet};

    fn address(n: u8) -> Address {
        Address([n; 32])
    }

    fn registry() -> Registry {
        let mut registry = Registry::default();
        let policy = TierPolicy::e_cny_default(2);
        for bank in ["bank-a", "bank-b"] {
            let op = AdminOp::RegisterBank(Bank { id: bank.into(), name: bank.into(), credentials: Vec::new() });
            registry.check(&op, &policy, false).expect("valid");
            registry.apply(op);
        }
        let ops = [
            AdminOp::RegisterWallet(Wallet { address: address(1), bank: "bank-a".into(), tier: 1 }),
            AdminOp::RegisterMerchant(Merchant {
                id: "shop".into(),
                name: "Shop".into(),
                mcc: 5411,
                bank: "bank-b".into(),
                payout_addresses: vec![address(2)],
            }),
        ];
        for op in ops {
            registry.check(&op, &policy, false).expect("valid");
            registry.apply(op);
        }
        registry
    }

    fn output(owner: u8, amount_minor: u64, programme: ProgrammeId) -> Output {
        Output { owner: address(owner), amount_minor, programme }
    }

    #[test]
    fn a_payment_debits_the_payers_bank_net_of_change_and_credits_the_merchants_bank() {
        let registry = registry();
        let spent = [output(1, 100, 0)];
        let outputs = [output(2, 30, 0), output(1, 70, 0)];
        let tx = movements_of(&registry, TxKind::Transfer, TxId([9; 32]), 5, 1, &spent, &outputs);
        assert_eq!(tx.by_bank.len(), 2);
        let (bank_a, debit) = &tx.by_bank[0];
        assert_eq!(bank_a, "bank-a");
        assert_eq!(debit.entries.len(), 1);
        assert_eq!(debit.entries[0].direction, Direction::Debit);
        assert_eq!(debit.entries[0].amount_minor, 30);
        assert_eq!(debit.entries[0].counterparty, Some(address(2)));
        assert_eq!(debit.entries[0].counterparty_bank.as_deref(), Some("bank-b"));
        assert_eq!(debit.merchant.as_deref(), Some("shop"));
        let (bank_b, credit) = &tx.by_bank[1];
        assert_eq!(bank_b, "bank-b");
        assert_eq!(credit.entries[0].merchant.as_deref(), Some("shop"));
        assert_eq!(tx.flows, vec![("bank-a".to_owned(), "bank-b".to_owned(), 30)]);
        let mut totals = BTreeMap::new();
        add_to_totals(&mut totals, &tx);
        assert_eq!(totals["bank-a"].balance_minor(), -30);
        assert_eq!(totals["bank-b"].received_from["bank-a"], 30);
    }

    #[test]
    fn flows_between_several_banks_add_up_to_each_banks_net() {
        let net: BTreeMap<String, i128> =
            [("a".to_owned(), -70), ("b".to_owned(), -30), ("c".to_owned(), 60), ("d".to_owned(), 40)].into();
        let flows = match_flows(&net);
        for (bank, expected) in &net {
            let paid: i128 = flows.iter().filter(|f| &f.0 == bank).map(|f| i128::from(f.2)).sum();
            let received: i128 = flows.iter().filter(|f| &f.1 == bank).map(|f| i128::from(f.2)).sum();
            assert_eq!(received - paid, *expected, "bank {bank}");
        }
    }

    #[test]
    fn a_mint_to_an_unregistered_wallet_is_unbanked_issuance() {
        let registry = registry();
        let tx = movements_of(&registry, TxKind::Mint, TxId([1; 32]), 1, 1, &[], &[output(7, 50, 0), output(1, 5, 0)]);
        let mut totals = BTreeMap::new();
        add_to_totals(&mut totals, &tx);
        assert_eq!(totals[UNBANKED].issued_minor, 50);
        assert_eq!(totals["bank-a"].issued_minor, 5);
        assert!(tx.flows.is_empty());
    }
}
