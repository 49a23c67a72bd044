//! Welfare programmes, wallet tiers and the participant registry, through
//! gRPC on a real server over a real redb file.
//!
//! Earmarked money (a programme id on an output) may be spent only at
//! merchants of the programme's categories, only while the programme runs,
//! never at a treasury by a payment, between beneficiaries only when the
//! programme is transferable, and at most the programme's maximum per
//! payment; change back to the payer keeps the earmark. Wallets are held to
//! the tier table (the e-CNY-like default for CNY, exponent 2): a balance cap
//! on what they receive, and a per-payment and a per-day limit on what they
//! pay; unregistered addresses are tier 1, merchants and treasuries are
//! exempt. Every refusal is checked for its gRPC code and its reason, and for
//! leaving the ledger exactly as it was.

use crate::common;

use std::collections::BTreeMap;
use std::fmt::Debug;

use common::{TestLedger, assert_refusal, transfer};
use settled::client::{self, output};
use settled::proto::{self, Reason};
use settled::{Address, Keypair, OutPoint, Output, Transaction, TxKind};
use tonic::{Code, Status};

type Coin = (OutPoint, Output);

// The default tier table for CNY (exponent 2), in minor units.
const TIER_1_BALANCE_CAP_MINOR: u64 = 1_000_000;
const TIER_1_PER_PAYMENT_MINOR: u64 = 200_000;
const TIER_1_PER_DAY_MINOR: u64 = 500_000;
const TIER_3_BALANCE_CAP_MINOR: u64 = 50_000_000;
const TIER_3_PER_PAYMENT_MINOR: u64 = 5_000_000;
const TIER_3_PER_DAY_MINOR: u64 = 10_000_000;

// ISO 18245 merchant categories.
const GROCERY_MCC: u32 = 5411;
const FOOD_STORE_MCC: u32 = 5499;
const ELECTRONICS_MCC: u32 = 5732;
const RESTAURANT_MCC: u32 = 5812;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;
/// The default tier table counts days in UTC+8.
const DAY_OFFSET_MS: u64 = 8 * HOUR_MS;

fn ms(value: u64) -> i64 {
    i64::try_from(value).expect("a skew fits in i64")
}

// ---- payments ------------------------------------------------------------------

/// The observable state a refusal must leave alone: the tip, the sequence,
/// the unspent set counted from storage, and the balance per programme of
/// every watched address.
async fn state(
    ledger: &mut TestLedger,
    watched: &[Address],
) -> (proto::GetInfoResponse, Vec<proto::GetBalanceResponse>) {
    let info = ledger.info(true).await;
    let mut balances = Vec::with_capacity(watched.len());
    for address in watched {
        balances.push(ledger.balance(address).await);
    }
    (info, balances)
}

async fn send(ledger: &mut TestLedger, tx: &Transaction) -> Result<(settled::Receipt, bool), Status> {
    if tx.kind == TxKind::Mint { ledger.client.mint(tx).await } else { ledger.client.submit(tx).await }
}

/// Submits `tx` (a mint through `AdminService.Mint`, anything else as a
/// payment) and expects it confirmed, for the first time.
async fn confirmed(ledger: &mut TestLedger, tx: &Transaction) {
    let (_, duplicate) = send(ledger, tx).await.unwrap_or_else(|status| panic!("expected a receipt, got {status:?}"));
    assert!(!duplicate, "a fresh transaction is not a duplicate");
}

/// Submits `tx`, expects FAILED_PRECONDITION with `reason`, and checks that
/// nothing changed: no block, no sequence number, the same unspent set, and
/// the same balances of `watched`.
async fn refused(ledger: &mut TestLedger, tx: &Transaction, reason: Reason, watched: &[Address]) {
    let before = state(ledger, watched).await;
    let status = send(ledger, tx).await.expect_err("the transaction is refused");
    assert_refusal(&status, Code::FailedPrecondition, reason);
    let after = state(ledger, watched).await;
    assert_eq!(after.0, before.0, "a refusal adds no block, takes no sequence number and moves no output");
    assert_eq!(after.1, before.1, "a refusal changes no balance");
}

/// Pays `amount_minor` of `coin` to `payee`, the rest back to `payer`, and
/// returns the change.
async fn pay(ledger: &mut TestLedger, payer: &Keypair, coin: Coin, payee: Address, amount_minor: u64) -> Coin {
    assert!(coin.1.amount_minor > amount_minor, "the test expects change");
    let tx = client::pay(&ledger.chain, payer, coin, payee, amount_minor, b"pay");
    confirmed(ledger, &tx).await;
    client::output_of(&tx, 1)
}

/// A ledger kept clear of its midnight where tier-1 alice, funded up to her
/// balance cap, has paid the grocer exactly her daily limit in three
/// payments: the ledger, the grocer, alice and her change.
async fn a_tier_one_day_paid_in_full() -> (TestLedger, Keypair, Keypair, Coin) {
    let mut ledger = TestLedger::start().await;
    clear_of_midnight(&ledger);
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let alice = Keypair::generate();
    let mut change = minted(&mut ledger, &alice, TIER_1_BALANCE_CAP_MINOR, 0, "alice").await;
    for amount_minor in [200_000, 200_000, 100_000] {
        change = pay(&mut ledger, &alice, change, grocer.address(), amount_minor).await;
    }
    (ledger, grocer, alice, change)
}

/// Mints one output and returns it.
async fn minted(ledger: &mut TestLedger, owner: &Keypair, amount_minor: u64, programme: u32, reference: &str) -> Coin {
    ledger.mint_outputs(vec![output(owner.address(), amount_minor, programme)], reference).await[0]
}

/// (programme, amount) of an address, as `GetBalance` reports it.
async fn holdings(ledger: &mut TestLedger, owner: &Address) -> Vec<(u32, u64)> {
    let balance = ledger.balance(owner).await;
    let by_programme: Vec<(u32, u64)> = balance.balances.iter().map(|b| (b.programme_id, b.amount_minor)).collect();
    assert_eq!(balance.total_minor, by_programme.iter().map(|(_, a)| a).sum::<u64>(), "total is the sum of its parts");
    by_programme
}

/// (programme, amount) of every unspent output of an address, sorted.
async fn unspent_outputs(ledger: &mut TestLedger, owner: &Address) -> Vec<(u32, u64)> {
    let mut outputs: Vec<(u32, u64)> = ledger
        .unspent(owner)
        .await
        .iter()
        .map(|u| {
            let output = u.output.as_ref().expect("output");
            assert_eq!(output.address, owner.0.to_vec(), "listed under its owner");
            (output.programme_id, output.amount_minor)
        })
        .collect();
    outputs.sort_unstable();
    outputs
}

/// A programme valid from the epoch for ever, with no per-payment maximum.
fn programme(id: u32, allowed_mccs: &[u32], transferable: bool, treasury: &Keypair) -> proto::Programme {
    proto::Programme {
        id,
        name: format!("programme {id}"),
        allowed_mccs: allowed_mccs.to_vec(),
        valid_from_unix_ms: 0,
        valid_until_unix_ms: u64::MAX,
        transferable,
        treasury_address: treasury.address().0.to_vec(),
        per_payment_max_minor: 0,
        payment_period: 0,
        refund_window_ms: 0,
    }
}

/// Food vouchers: groceries (5411) and food stores (5499), not transferable.
const FOOD: u32 = 10;

fn food_programme() -> proto::Programme {
    programme(FOOD, &[GROCERY_MCC, FOOD_STORE_MCC], false, &Keypair::generate())
}

/// Moves the engine clock past the next day boundary of the tier table when
/// one is less than a few minutes away, so that a test of daily totals
/// cannot straddle a real midnight.
fn clear_of_midnight(ledger: &TestLedger) {
    let into_day_ms = (ledger.clock.now_unix_ms() + DAY_OFFSET_MS) % DAY_MS;
    let left_ms = DAY_MS - into_day_ms;
    if left_ms < 5 * MINUTE_MS {
        ledger.clock.skew_by_ms(ms(left_ms + MINUTE_MS));
    }
}

// ---- earmarked money -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earmarked_money_at_an_allowed_category_is_accepted_and_keeps_its_programme_on_both_sides() {
    let mut ledger = TestLedger::start().await;
    ledger.programme_with(food_programme()).await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let food_store = ledger.merchant("food-store", FOOD_STORE_MCC).await;
    let alice = Keypair::generate();
    let coin = minted(&mut ledger, &alice, 300_000, FOOD, "food-alice").await;

    let change = pay(&mut ledger, &alice, coin, grocer.address(), 50_000).await;
    assert_eq!(change.1.programme, FOOD, "change back to the payer keeps the earmark");
    pay(&mut ledger, &alice, change, food_store.address(), 20_000).await;

    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(FOOD, 50_000)]);
    assert_eq!(holdings(&mut ledger, &food_store.address()).await, vec![(FOOD, 20_000)]);
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(FOOD, 230_000)]);
    assert_eq!(unspent_outputs(&mut ledger, &grocer.address()).await, vec![(FOOD, 50_000)]);
    assert_eq!(unspent_outputs(&mut ledger, &food_store.address()).await, vec![(FOOD, 20_000)]);
    assert_eq!(unspent_outputs(&mut ledger, &alice.address()).await, vec![(FOOD, 230_000)], "one change output");
    ledger.assert_supply(300_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earmarked_money_at_a_merchant_of_another_category_is_refused_as_mcc_not_allowed() {
    let mut ledger = TestLedger::start().await;
    ledger.programme_with(food_programme()).await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let electronics = ledger.merchant("electronics", ELECTRONICS_MCC).await;
    let alice = Keypair::generate();
    let food = minted(&mut ledger, &alice, 100_000, FOOD, "food-alice").await;
    let cash = minted(&mut ledger, &alice, 100_000, 0, "cash-alice").await;
    let watched = [alice.address(), grocer.address(), electronics.address()];

    let at_electronics = client::pay(&ledger.chain, &alice, food, electronics.address(), 30_000, b"tv");
    refused(&mut ledger, &at_electronics, Reason::MccNotAllowed, &watched).await;
    // One output at a wrong category spoils the whole payment.
    let split = transfer(
        &ledger.chain,
        &[food.0],
        vec![
            output(grocer.address(), 30_000, FOOD),
            output(electronics.address(), 30_000, FOOD),
            output(alice.address(), 40_000, FOOD),
        ],
        b"split",
        &[&alice],
    );
    refused(&mut ledger, &split, Reason::MccNotAllowed, &watched).await;

    // The same coin is good at a grocery, and unrestricted money at the
    // electronics shop: the refusal was about the earmark and the category.
    pay(&mut ledger, &alice, food, grocer.address(), 30_000).await;
    pay(&mut ledger, &alice, cash, electronics.address(), 30_000).await;
    assert_eq!(holdings(&mut ledger, &electronics.address()).await, vec![(0, 30_000)]);
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(FOOD, 30_000)]);
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(0, 70_000), (FOOD, 70_000)]);
    ledger.assert_supply(200_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_transferable_earmarked_money_paid_to_another_beneficiary_is_refused_as_transfer_not_allowed() {
    let mut ledger = TestLedger::start().await;
    ledger.programme_with(food_programme()).await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let (alice, registered, unregistered) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    ledger.wallet(&registered, 1).await;
    let food = minted(&mut ledger, &alice, 100_000, FOOD, "food-alice").await;
    let watched = [alice.address(), registered.address(), unregistered.address()];

    for payee in [registered.address(), unregistered.address()] {
        let gift = client::pay(&ledger.chain, &alice, food, payee, 10_000, b"gift");
        refused(&mut ledger, &gift, Reason::TransferNotAllowed, &watched).await;
    }
    pay(&mut ledger, &alice, food, grocer.address(), 10_000).await;
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(FOOD, 90_000)]);
    assert!(holdings(&mut ledger, &registered.address()).await.is_empty());
    assert!(holdings(&mut ledger, &unregistered.address()).await.is_empty());
    ledger.assert_supply(100_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transferable_earmarked_money_may_be_paid_to_another_beneficiary_and_stays_earmarked() {
    const SHARED: u32 = 11;
    let mut ledger = TestLedger::start().await;
    ledger.programme_with(programme(SHARED, &[GROCERY_MCC], true, &Keypair::generate())).await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let electronics = ledger.merchant("electronics", ELECTRONICS_MCC).await;
    let (alice, bob, carol) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    ledger.wallet(&bob, 1).await;
    let coin = minted(&mut ledger, &alice, 100_000, SHARED, "shared-alice").await;

    let to_bob = client::pay(&ledger.chain, &alice, coin, bob.address(), 40_000, b"to-bob");
    confirmed(&mut ledger, &to_bob).await;
    pay(&mut ledger, &alice, client::output_of(&to_bob, 1), carol.address(), 10_000).await;
    assert_eq!(holdings(&mut ledger, &bob.address()).await, vec![(SHARED, 40_000)], "a registered wallet");
    assert_eq!(holdings(&mut ledger, &carol.address()).await, vec![(SHARED, 10_000)], "an unregistered address");
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(SHARED, 50_000)]);
    assert_eq!(unspent_outputs(&mut ledger, &bob.address()).await, vec![(SHARED, 40_000)]);

    // What bob received is still bound by the programme's categories.
    let bobs_coin = client::output_of(&to_bob, 0);
    let at_electronics = client::pay(&ledger.chain, &bob, bobs_coin, electronics.address(), 1_000, b"tv");
    refused(&mut ledger, &at_electronics, Reason::MccNotAllowed, &[bob.address()]).await;
    pay(&mut ledger, &bob, bobs_coin, grocer.address(), 1_000).await;
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(SHARED, 1_000)]);
    ledger.assert_supply(100_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earmarked_money_paid_to_a_treasury_is_refused_as_payee_not_allowed() {
    const OTHER: u32 = 12;
    let mut ledger = TestLedger::start().await;
    let (treasury, other_treasury) = (Keypair::generate(), Keypair::generate());
    ledger.programme_with(programme(FOOD, &[GROCERY_MCC], true, &treasury)).await;
    ledger.programme_with(programme(OTHER, &[GROCERY_MCC], true, &other_treasury)).await;
    let alice = Keypair::generate();
    let food = minted(&mut ledger, &alice, 50_000, FOOD, "food-alice").await;
    let cash = minted(&mut ledger, &alice, 50_000, 0, "cash-alice").await;
    let watched = [alice.address(), treasury.address(), other_treasury.address()];

    for to in [treasury.address(), other_treasury.address()] {
        let back = client::pay(&ledger.chain, &alice, food, to, 10_000, b"back");
        refused(&mut ledger, &back, Reason::PayeeNotAllowed, &watched).await;
    }
    // A treasury is an ordinary payee for unrestricted money.
    pay(&mut ledger, &alice, cash, treasury.address(), 10_000).await;
    assert_eq!(holdings(&mut ledger, &treasury.address()).await, vec![(0, 10_000)]);
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(0, 40_000), (FOOD, 50_000)]);
    ledger.assert_supply(100_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programme_money_moves_only_between_valid_from_and_valid_until() {
    const WINTER: u32 = 13;
    let mut ledger = TestLedger::start().await;
    let now_ms = ledger.clock.now_unix_ms();
    ledger
        .programme_with(proto::Programme {
            valid_from_unix_ms: now_ms + HOUR_MS,
            valid_until_unix_ms: now_ms + 2 * HOUR_MS,
            ..programme(WINTER, &[GROCERY_MCC], true, &Keypair::generate())
        })
        .await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let watched = [alice.address(), bob.address(), grocer.address()];

    let disbursement = ledger.mint_tx(vec![output(alice.address(), 100_000, WINTER)], "winter-alice");
    refused(&mut ledger, &disbursement, Reason::ProgrammeNotStarted, &watched).await;

    ledger.clock.skew_by_ms(ms(HOUR_MS + MINUTE_MS));
    confirmed(&mut ledger, &disbursement).await;
    let coin = client::output_of(&disbursement, 0);
    let change = pay(&mut ledger, &alice, coin, grocer.address(), 10_000).await;
    let change = pay(&mut ledger, &alice, change, bob.address(), 10_000).await;

    ledger.clock.skew_by_ms(ms(HOUR_MS));
    let late_purchase = client::pay(&ledger.chain, &alice, change, grocer.address(), 10_000, b"late");
    refused(&mut ledger, &late_purchase, Reason::ProgrammeExpired, &watched).await;
    let late_gift = client::pay(&ledger.chain, &alice, change, bob.address(), 10_000, b"late");
    refused(&mut ledger, &late_gift, Reason::ProgrammeExpired, &watched).await;
    let late_disbursement = ledger.mint_tx(vec![output(bob.address(), 5_000, WINTER)], "winter-bob");
    refused(&mut ledger, &late_disbursement, Reason::ProgrammeExpired, &watched).await;

    // Only the programme's money is frozen: unrestricted money still moves.
    let cash = minted(&mut ledger, &alice, 5_000, 0, "cash-alice").await;
    pay(&mut ledger, &alice, cash, grocer.address(), 1_000).await;
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(0, 4_000), (WINTER, 80_000)]);
    assert_eq!(holdings(&mut ledger, &bob.address()).await, vec![(WINTER, 10_000)]);
    ledger.assert_supply(105_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_of_exactly_the_programme_maximum_is_accepted_and_one_unit_more_is_refused() {
    const CAPPED: u32 = 14;
    const MAX_MINOR: u64 = 30_000;
    let mut ledger = TestLedger::start().await;
    ledger
        .programme_with(proto::Programme {
            per_payment_max_minor: MAX_MINOR,
            payment_period: 0,
            refund_window_ms: 0,
            ..programme(CAPPED, &[GROCERY_MCC], false, &Keypair::generate())
        })
        .await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let other_grocer = ledger.merchant("other-grocer", GROCERY_MCC).await;
    let alice = Keypair::generate();
    let coin = minted(&mut ledger, &alice, 100_000, CAPPED, "capped-alice").await;
    let watched = [alice.address(), grocer.address(), other_grocer.address()];

    let over = client::pay(&ledger.chain, &alice, coin, grocer.address(), MAX_MINOR + 1, b"over");
    refused(&mut ledger, &over, Reason::ProgrammePaymentLimit, &watched).await;
    // The maximum bounds the payment, not each output.
    let split = transfer(
        &ledger.chain,
        &[coin.0],
        vec![
            output(grocer.address(), 15_000, CAPPED),
            output(other_grocer.address(), 15_001, CAPPED),
            output(alice.address(), 100_000 - 30_001, CAPPED),
        ],
        b"split",
        &[&alice],
    );
    refused(&mut ledger, &split, Reason::ProgrammePaymentLimit, &watched).await;

    // Exactly the maximum, with 70 000 of change that is not counted as paid;
    // and the maximum is per payment, not per day.
    let change = pay(&mut ledger, &alice, coin, grocer.address(), MAX_MINOR).await;
    pay(&mut ledger, &alice, change, other_grocer.address(), MAX_MINOR).await;
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(CAPPED, 40_000)]);
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(CAPPED, MAX_MINOR)]);
    assert_eq!(holdings(&mut ledger, &other_grocer.address()).await, vec![(CAPPED, MAX_MINOR)]);
    ledger.assert_supply(100_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_into_an_unknown_programme_is_refused_and_accepted_once_the_programme_exists() {
    const LATER: u32 = 77;
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let disbursement = ledger.mint_tx(vec![output(alice.address(), 5_000, LATER)], "later-alice");
    refused(&mut ledger, &disbursement, Reason::UnknownProgramme, &[alice.address()]).await;
    // One unknown programme spoils the whole mint, unrestricted outputs too.
    let mixed =
        ledger.mint_tx(vec![output(alice.address(), 1_000, 0), output(alice.address(), 5_000, LATER)], "mixed-alice");
    refused(&mut ledger, &mixed, Reason::UnknownProgramme, &[alice.address()]).await;

    ledger.programme_with(programme(LATER, &[GROCERY_MCC], false, &Keypair::generate())).await;
    confirmed(&mut ledger, &disbursement).await;
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(LATER, 5_000)]);
    ledger.assert_supply(5_000).await;
    ledger.shutdown().await;
}

// ---- wallet tiers ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_one_payment_of_exactly_the_per_payment_limit_is_accepted_and_one_unit_more_is_refused() {
    let mut ledger = TestLedger::start().await;
    assert_eq!(ledger.info(false).await.currency_exponent, 2, "the limits below are for 2 decimals");
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let (unregistered, registered) = (Keypair::generate(), Keypair::generate());
    ledger.wallet(&registered, 1).await;
    for (n, payer) in [&unregistered, &registered].into_iter().enumerate() {
        let coin = minted(&mut ledger, payer, TIER_1_BALANCE_CAP_MINOR, 0, &format!("payer-{n}")).await;
        let over = client::pay(&ledger.chain, payer, coin, grocer.address(), TIER_1_PER_PAYMENT_MINOR + 1, b"over");
        refused(&mut ledger, &over, Reason::TierPaymentLimit, &[payer.address(), grocer.address()]).await;
        // The payer puts in the whole coin and gets 800 000 back: only what
        // leaves the payer counts.
        pay(&mut ledger, payer, coin, grocer.address(), TIER_1_PER_PAYMENT_MINOR).await;
        assert_eq!(
            holdings(&mut ledger, &payer.address()).await,
            vec![(0, TIER_1_BALANCE_CAP_MINOR - TIER_1_PER_PAYMENT_MINOR)]
        );
    }
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(0, 2 * TIER_1_PER_PAYMENT_MINOR)]);
    ledger.assert_supply(2 * TIER_1_BALANCE_CAP_MINOR).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_one_payments_adding_up_to_exactly_the_daily_limit_are_accepted_and_one_unit_more_is_refused() {
    let (mut ledger, grocer, alice, change) = a_tier_one_day_paid_in_full().await;
    let one_more = client::pay(&ledger.chain, &alice, change, grocer.address(), 1, b"one-more");
    refused(&mut ledger, &one_more, Reason::TierDailyLimit, &[alice.address(), grocer.address()]).await;
    // Moving money between one's own outputs pays nobody.
    let to_self = transfer(
        &ledger.chain,
        &[change.0],
        vec![output(alice.address(), 250_000, 0), output(alice.address(), 250_000, 0)],
        b"split",
        &[&alice],
    );
    confirmed(&mut ledger, &to_self).await;
    assert_eq!(
        holdings(&mut ledger, &alice.address()).await,
        vec![(0, TIER_1_BALANCE_CAP_MINOR - TIER_1_PER_DAY_MINOR)]
    );
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(0, TIER_1_PER_DAY_MINOR)]);
    ledger.assert_supply(TIER_1_BALANCE_CAP_MINOR).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_total_starts_again_on_the_next_day() {
    let (mut ledger, grocer, alice, mut change) = a_tier_one_day_paid_in_full().await;
    let one_more = client::pay(&ledger.chain, &alice, change, grocer.address(), 1, b"one-more");
    refused(&mut ledger, &one_more, Reason::TierDailyLimit, &[alice.address()]).await;

    ledger.clock.skew_by_ms(ms(DAY_MS));
    // A whole day's allowance again: the first payment alone would be over
    // the limit had yesterday's total carried over.
    for amount_minor in [200_000, 200_000, 99_999] {
        change = pay(&mut ledger, &alice, change, grocer.address(), amount_minor).await;
    }
    let last_unit = client::pay(&ledger.chain, &alice, change, grocer.address(), 1, b"last-unit");
    confirmed(&mut ledger, &last_unit).await;
    assert!(holdings(&mut ledger, &alice.address()).await.is_empty(), "alice spent everything over two days");
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(0, TIER_1_BALANCE_CAP_MINOR)]);
    ledger.assert_supply(TIER_1_BALANCE_CAP_MINOR).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_total_survives_a_restart() {
    let mut ledger = TestLedger::start().await;
    clear_of_midnight(&ledger);
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let alice = Keypair::generate();
    let coin = minted(&mut ledger, &alice, TIER_1_BALANCE_CAP_MINOR, 0, "alice").await;
    let change = pay(&mut ledger, &alice, coin, grocer.address(), 200_000).await;
    let change = pay(&mut ledger, &alice, change, grocer.address(), 200_000).await;

    ledger.restart().await;
    let over = client::pay(&ledger.chain, &alice, change, grocer.address(), 100_001, b"over");
    refused(&mut ledger, &over, Reason::TierDailyLimit, &[alice.address(), grocer.address()]).await;
    let change = pay(&mut ledger, &alice, change, grocer.address(), 100_000).await;
    ledger.restart().await;
    let one_more = client::pay(&ledger.chain, &alice, change, grocer.address(), 1, b"one-more");
    refused(&mut ledger, &one_more, Reason::TierDailyLimit, &[alice.address(), grocer.address()]).await;
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(0, TIER_1_PER_DAY_MINOR)]);
    ledger.assert_supply(TIER_1_BALANCE_CAP_MINOR).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_one_wallet_may_be_filled_exactly_to_its_balance_cap_and_not_one_unit_more() {
    let mut ledger = TestLedger::start().await;
    let (alice, carol, dave) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    ledger.wallet(&dave, 1).await;
    let watched = [alice.address(), carol.address(), dave.address()];

    // By mint, to an unregistered address (tier 1).
    let too_much = ledger.mint_tx(vec![output(carol.address(), TIER_1_BALANCE_CAP_MINOR + 1, 0)], "carol-0");
    refused(&mut ledger, &too_much, Reason::BalanceCap, &watched).await;
    minted(&mut ledger, &carol, 600_000, 0, "carol-1").await;
    let past_cap = ledger.mint_tx(vec![output(carol.address(), 400_001, 0)], "carol-2");
    refused(&mut ledger, &past_cap, Reason::BalanceCap, &watched).await;
    minted(&mut ledger, &carol, 400_000, 0, "carol-3").await;
    assert_eq!(holdings(&mut ledger, &carol.address()).await, vec![(0, TIER_1_BALANCE_CAP_MINOR)]);

    // By payment, to a registered tier-1 wallet.
    minted(&mut ledger, &dave, 900_000, 0, "dave").await;
    let coin = minted(&mut ledger, &alice, 200_000, 0, "alice").await;
    let over = client::pay(&ledger.chain, &alice, coin, dave.address(), 100_001, b"over");
    refused(&mut ledger, &over, Reason::BalanceCap, &watched).await;
    let change = pay(&mut ledger, &alice, coin, dave.address(), 100_000).await;
    assert_eq!(holdings(&mut ledger, &dave.address()).await, vec![(0, TIER_1_BALANCE_CAP_MINOR)]);
    for full in [carol.address(), dave.address()] {
        let one_more = client::pay(&ledger.chain, &alice, change, full, 1, b"one-more");
        refused(&mut ledger, &one_more, Reason::BalanceCap, &watched).await;
    }
    ledger.assert_supply(2 * TIER_1_BALANCE_CAP_MINOR + 100_000).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_three_wallet_holds_and_pays_more_than_tier_one_up_to_its_own_limits() {
    let mut ledger = TestLedger::start().await;
    clear_of_midnight(&ledger);
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let rich = Keypair::generate();
    ledger.wallet(&rich, 3).await;
    let watched = [rich.address(), grocer.address()];

    let held_minor = 12_000_000;
    let coin = minted(&mut ledger, &rich, held_minor, 0, "rich-0").await;
    let past_cap = ledger.mint_tx(vec![output(rich.address(), TIER_3_BALANCE_CAP_MINOR - held_minor + 1, 0)], "rich-1");
    refused(&mut ledger, &past_cap, Reason::BalanceCap, &watched).await;

    let over = client::pay(&ledger.chain, &rich, coin, grocer.address(), TIER_3_PER_PAYMENT_MINOR + 1, b"over");
    refused(&mut ledger, &over, Reason::TierPaymentLimit, &watched).await;
    let change = pay(&mut ledger, &rich, coin, grocer.address(), TIER_3_PER_PAYMENT_MINOR).await;
    let change = pay(&mut ledger, &rich, change, grocer.address(), TIER_3_PER_PAYMENT_MINOR).await;
    let one_more = client::pay(&ledger.chain, &rich, change, grocer.address(), 1, b"one-more");
    refused(&mut ledger, &one_more, Reason::TierDailyLimit, &watched).await;
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(0, TIER_3_PER_DAY_MINOR)]);
    assert_eq!(holdings(&mut ledger, &rich.address()).await, vec![(0, held_minor - TIER_3_PER_DAY_MINOR)]);
    ledger.assert_supply(held_minor).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_and_treasuries_are_exempt_from_every_tier_limit_and_their_payees_are_not() {
    let mut ledger = TestLedger::start().await;
    clear_of_midnight(&ledger);
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let wholesaler = ledger.merchant("wholesaler", FOOD_STORE_MCC).await;
    let treasury = Keypair::generate();
    ledger.programme_with(programme(FOOD, &[GROCERY_MCC], false, &treasury)).await;
    let alice = Keypair::generate();

    // Above tier 3's balance cap, then above its per-payment and daily limits twice over.
    let takings = minted(&mut ledger, &grocer, 60_000_000, 0, "grocer").await;
    let change = pay(&mut ledger, &grocer, takings, wholesaler.address(), 20_000_000).await;
    let change = pay(&mut ledger, &grocer, change, wholesaler.address(), 20_000_000).await;
    let reserve = minted(&mut ledger, &treasury, 2_000_000, 0, "treasury").await;
    pay(&mut ledger, &treasury, reserve, grocer.address(), 1_500_000).await;

    // A merchant's payee is still held to its own cap.
    let refund = client::pay(&ledger.chain, &grocer, change, alice.address(), TIER_1_BALANCE_CAP_MINOR + 1, b"refund");
    refused(&mut ledger, &refund, Reason::BalanceCap, &[grocer.address(), alice.address()]).await;
    pay(&mut ledger, &grocer, change, alice.address(), TIER_1_BALANCE_CAP_MINOR).await;

    assert_eq!(holdings(&mut ledger, &wholesaler.address()).await, vec![(0, 40_000_000)]);
    assert_eq!(holdings(&mut ledger, &treasury.address()).await, vec![(0, 500_000)]);
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(0, 20_000_000 + 1_500_000 - 1_000_000)]);
    ledger.assert_supply(62_000_000).await;
    ledger.shutdown().await;
}

// ---- conservation per programme ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_programme_holds_exactly_what_was_minted_into_it_after_payments_refusals_and_a_restart() {
    const SHARED: u32 = 2;
    const CAPPED: u32 = 3;
    let mut ledger = TestLedger::start().await;
    ledger.programme_with(programme(FOOD, &[GROCERY_MCC], false, &Keypair::generate())).await;
    ledger.programme_with(programme(SHARED, &[GROCERY_MCC, RESTAURANT_MCC], true, &Keypair::generate())).await;
    ledger
        .programme_with(proto::Programme {
            per_payment_max_minor: 20_000,
            payment_period: 0,
            refund_window_ms: 0,
            ..programme(CAPPED, &[RESTAURANT_MCC], true, &Keypair::generate())
        })
        .await;
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let restaurant = ledger.merchant("restaurant", RESTAURANT_MCC).await;
    let (a, b, c) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    ledger.wallet(&b, 2).await;
    let coins = ledger
        .mint_outputs(
            vec![
                output(a.address(), 300_000, FOOD),
                output(a.address(), 100_000, SHARED),
                output(b.address(), 200_000, SHARED),
                output(b.address(), 50_000, CAPPED),
                output(c.address(), 100_000, FOOD),
                output(c.address(), 100_000, 0),
            ],
            "disbursement",
        )
        .await;
    let minted_minor: BTreeMap<u32, u64> = [(0, 100_000), (FOOD, 400_000), (SHARED, 300_000), (CAPPED, 50_000)].into();
    let everyone = [a.address(), b.address(), c.address(), grocer.address(), restaurant.address()];

    let a_food = pay(&mut ledger, &a, coins[0], grocer.address(), 120_000).await;
    pay(&mut ledger, &a, coins[1], b.address(), 30_000).await;
    pay(&mut ledger, &b, coins[2], restaurant.address(), 150_000).await;
    let to_c = client::pay(&ledger.chain, &b, coins[3], c.address(), 20_000, b"to-c");
    confirmed(&mut ledger, &to_c).await;
    let whole = client::pay(&ledger.chain, &c, coins[4], grocer.address(), 100_000, b"whole");
    confirmed(&mut ledger, &whole).await;
    pay(&mut ledger, &c, coins[5], restaurant.address(), 1_000).await;
    let refusals = [
        (client::pay(&ledger.chain, &a, a_food, b.address(), 1_000, b"x"), Reason::TransferNotAllowed),
        (client::pay(&ledger.chain, &a, a_food, restaurant.address(), 1_000, b"x"), Reason::MccNotAllowed),
        (
            client::pay(&ledger.chain, &c, client::output_of(&to_c, 0), grocer.address(), 1_000, b"x"),
            Reason::MccNotAllowed,
        ),
        (client::pay(&ledger.chain, &b, coins[3], restaurant.address(), 1_000, b"x"), Reason::InputSpent),
    ];
    for (tx, reason) in &refusals {
        refused(&mut ledger, tx, *reason, &everyone).await;
    }

    for restarted in [false, true] {
        if restarted {
            ledger.restart().await;
        }
        let mut held_minor: BTreeMap<u32, u64> = BTreeMap::new();
        for address in &everyone {
            for (programme, amount_minor) in holdings(&mut ledger, address).await {
                *held_minor.entry(programme).or_default() += amount_minor;
            }
        }
        assert_eq!(held_minor, minted_minor, "every programme holds what was minted into it (restarted: {restarted})");
        ledger.assert_supply(minted_minor.values().sum()).await;
    }
    assert_eq!(holdings(&mut ledger, &grocer.address()).await, vec![(FOOD, 220_000)]);
    assert_eq!(holdings(&mut ledger, &restaurant.address()).await, vec![(0, 1_000), (SHARED, 150_000)]);
    ledger.shutdown().await;
}

// ---- registry: registrations -----------------------------------------------------------

#[derive(Clone, Debug)]
enum Registration {
    Bank(proto::Bank),
    Merchant(proto::Merchant),
    Terminal(proto::Terminal),
    Wallet(proto::Wallet),
    Programme(proto::Programme),
}

fn bank(id: &str) -> Registration {
    Registration::Bank(proto::Bank { id: id.to_owned(), name: format!("Bank {id}"), credential_sha256: Vec::new() })
}

fn merchant(id: &str, mcc: u32, bank_id: &str, payout_addresses: Vec<Vec<u8>>) -> Registration {
    Registration::Merchant(proto::Merchant {
        id: id.to_owned(),
        name: format!("Merchant {id}"),
        mcc,
        bank_id: bank_id.to_owned(),
        payout_addresses,
        deactivated: false,
    })
}

fn terminal(id: &str, merchant_id: &str) -> Registration {
    Registration::Terminal(proto::Terminal {
        id: id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        credential_sha256: Vec::new(),
        deactivated: false,
    })
}

fn wallet(address: Vec<u8>, bank_id: &str, tier: u32) -> Registration {
    Registration::Wallet(proto::Wallet { address, bank_id: bank_id.to_owned(), tier, frozen: String::new() })
}

fn key_bytes(key: &Keypair) -> Vec<u8> {
    key.address().0.to_vec()
}

async fn register(ledger: &mut TestLedger, registration: Registration) -> Result<u64, Status> {
    let admin = &mut ledger.client.admin;
    let response = match registration {
        Registration::Bank(bank) => admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await,
        Registration::Merchant(merchant) => {
            admin.register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) }).await
        }
        Registration::Terminal(terminal) => {
            admin.register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) }).await
        }
        Registration::Wallet(wallet) => {
            admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await
        }
        Registration::Programme(programme) => {
            admin.create_programme(proto::CreateProgrammeRequest { programme: Some(programme) }).await
        }
    }?;
    Ok(response.into_inner().height)
}

/// Registers and expects it accepted, in a new durable block.
async fn registered(ledger: &mut TestLedger, registration: Registration) {
    let before = ledger.tip().await.height;
    let height = register(ledger, registration.clone())
        .await
        .unwrap_or_else(|status| panic!("{registration:?} is accepted, got {status:?}"));
    assert!(height > before, "a registration is carried by a new block");
    assert_eq!(ledger.tip().await.height, height, "and answered once that block is the durable tip");
}

/// Registers, expects `code` and `reason`, and checks that no listing and
/// no block changed.
async fn refused_registration(ledger: &mut TestLedger, registration: Registration, code: Code, reason: Reason) {
    let before = (registry_listings(ledger).await, ledger.tip().await);
    let status = register(ledger, registration.clone())
        .await
        .expect_err(&format!("{registration:?} is refused with {reason:?}"));
    assert_refusal(&status, code, reason);
    let after = (registry_listings(ledger).await, ledger.tip().await);
    assert_eq!(after, before, "a refused registration changes no listing and adds no block");
}

// ---- registry: listings ----------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Listing {
    Banks,
    Merchants,
    Terminals,
    Wallets,
    Programmes,
}

const LISTINGS: [Listing; 5] =
    [Listing::Banks, Listing::Merchants, Listing::Terminals, Listing::Wallets, Listing::Programmes];

fn debug_all<T: Debug>(items: &[T]) -> Vec<String> {
    items.iter().map(|item| format!("{item:?}")).collect()
}

/// One page of a listing: its entries (as their debug text, to compare
/// whole entries across types) and the next page token.
async fn list_page(
    ledger: &mut TestLedger,
    listing: Listing,
    page_size: u32,
    page_token: String,
) -> Result<(Vec<String>, String), Status> {
    let request = proto::ListRequest { page_size, page_token };
    let admin = &mut ledger.client.admin;
    Ok(match listing {
        Listing::Banks => {
            let page = admin.list_banks(request).await?.into_inner();
            (debug_all(&page.banks), page.next_page_token)
        }
        Listing::Merchants => {
            let page = admin.list_merchants(request).await?.into_inner();
            (debug_all(&page.merchants), page.next_page_token)
        }
        Listing::Terminals => {
            let page = admin.list_terminals(request).await?.into_inner();
            (debug_all(&page.terminals), page.next_page_token)
        }
        Listing::Wallets => {
            let page = admin.list_wallets(request).await?.into_inner();
            (debug_all(&page.wallets), page.next_page_token)
        }
        Listing::Programmes => {
            let page = admin.list_programmes(request).await?.into_inner();
            (debug_all(&page.programmes), page.next_page_token)
        }
    })
}

/// Every entry of a listing, walking pages of `page_size`; checks that every
/// page but the last is full and returns the entries and the page count.
async fn walk(ledger: &mut TestLedger, listing: Listing, page_size: u32) -> (Vec<String>, usize) {
    let full = if page_size == 0 { settled::limits::PAGE_SIZE_DEFAULT } else { page_size as usize };
    let mut entries = Vec::new();
    let mut token = String::new();
    for pages in 1..=1_000 {
        let (page, next) = list_page(ledger, listing, page_size, token).await.expect("listing");
        assert!(page.len() <= full, "{listing:?}: a page holds at most page_size entries");
        entries.extend(page.iter().cloned());
        if next.is_empty() {
            return (entries, pages);
        }
        assert_eq!(page.len(), full, "{listing:?}: a page followed by another is full");
        token = next;
    }
    panic!("{listing:?}: paging does not end");
}

async fn registry_listings(ledger: &mut TestLedger) -> Vec<Vec<String>> {
    let mut all = Vec::with_capacity(LISTINGS.len());
    for listing in LISTINGS {
        all.push(walk(ledger, listing, 1_000).await.0);
    }
    all
}

/// What `register_population` registered, in listing order.
struct Population {
    by_listing: Vec<Vec<String>>,
}

impl Population {
    fn expected(&self, listing: Listing) -> &[String] {
        &self.by_listing[listing as usize]
    }
}

/// Registers 4 banks, 7 merchants, 9 terminals, 7 wallets and 7 programmes
/// (registered out of key order), and returns them sorted as listed.
async fn register_population(ledger: &mut TestLedger) -> Population {
    let bank_ids = ["bank-c", "bank-a", "bank-d", "bank-b"];
    let mut banks = Vec::new();
    for id in bank_ids {
        let b = proto::Bank { id: id.to_owned(), name: format!("Bank {id}"), credential_sha256: Vec::new() };
        registered(ledger, Registration::Bank(b.clone())).await;
        banks.push(b);
    }
    let mut merchants = Vec::new();
    for n in [6, 2, 0, 5, 1, 4, 3] {
        let payouts = (0..=n % 2).map(|_| key_bytes(&Keypair::generate())).collect();
        let m = proto::Merchant {
            id: format!("m-{n}"),
            name: format!("Merchant {n}"),
            mcc: 5400 + n,
            bank_id: bank_ids[n as usize % 4].to_owned(),
            payout_addresses: payouts,
            deactivated: false,
        };
        registered(ledger, Registration::Merchant(m.clone())).await;
        merchants.push(m);
    }
    let mut terminals = Vec::new();
    for n in [8, 3, 0, 7, 1, 6, 2, 5, 4] {
        let t = proto::Terminal {
            id: format!("t-{n}"),
            merchant_id: format!("m-{}", n % 7),
            credential_sha256: Vec::new(),
            deactivated: false,
        };
        registered(ledger, Registration::Terminal(t.clone())).await;
        terminals.push(t);
    }
    let mut wallets = Vec::new();
    for n in 0..7u32 {
        let w = proto::Wallet {
            address: key_bytes(&Keypair::generate()),
            bank_id: bank_ids[n as usize % 4].to_owned(),
            tier: n % 3 + 1,
            frozen: String::new(),
        };
        registered(ledger, Registration::Wallet(w.clone())).await;
        wallets.push(w);
    }
    let mut programmes = Vec::new();
    for id in [200, 3, 42, 1, 9_999, 65_536, 7] {
        let p = proto::Programme {
            valid_from_unix_ms: u64::from(id),
            valid_until_unix_ms: u64::from(id) + DAY_MS,
            per_payment_max_minor: u64::from(id % 5),
            payment_period: 0,
            refund_window_ms: 0,
            ..programme(id, &[GROCERY_MCC, id % 10_000], id % 2 == 0, &Keypair::generate())
        };
        registered(ledger, Registration::Programme(p.clone())).await;
        programmes.push(p);
    }
    banks.sort_by(|x, y| x.id.cmp(&y.id));
    merchants.sort_by(|x, y| x.id.cmp(&y.id));
    terminals.sort_by(|x, y| x.id.cmp(&y.id));
    wallets.sort_by(|x, y| x.address.cmp(&y.address));
    programmes.sort_by_key(|p| p.id);
    Population {
        by_listing: vec![
            debug_all(&banks),
            debug_all(&merchants),
            debug_all(&terminals),
            debug_all(&wallets),
            debug_all(&programmes),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_return_every_registration_and_pages_of_any_size_walk_each_exactly_once() {
    let mut ledger = TestLedger::start().await;
    let population = register_population(&mut ledger).await;
    for listing in LISTINGS {
        let expected = population.expected(listing);
        for page_size in [1u32, 2, 3, 0, 1_000] {
            let (entries, pages) = walk(&mut ledger, listing, page_size).await;
            assert_eq!(entries, expected, "{listing:?} in pages of {page_size}: every entry once, in key order");
            let full = if page_size == 0 { settled::limits::PAGE_SIZE_DEFAULT } else { page_size as usize };
            assert_eq!(pages, expected.len().div_ceil(full), "{listing:?} in pages of {page_size}: no empty last page");
        }
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_survive_a_restart_and_still_refuse_duplicates() {
    let mut ledger = TestLedger::start().await;
    let population = register_population(&mut ledger).await;
    ledger.restart().await;
    for listing in LISTINGS {
        assert_eq!(walk(&mut ledger, listing, 2).await.0, population.expected(listing), "{listing:?} after a restart");
    }
    // The replayed registry is the one the rules use.
    refused_registration(&mut ledger, bank("bank-a"), Code::FailedPrecondition, Reason::AlreadyRegistered).await;
    refused_registration(&mut ledger, terminal("t-0", "m-0"), Code::FailedPrecondition, Reason::AlreadyRegistered)
        .await;
    let grocer = ledger.merchant("grocer-after-restart", GROCERY_MCC).await;
    refused_registration(
        &mut ledger,
        wallet(key_bytes(&grocer), "bank-a", 1),
        Code::FailedPrecondition,
        Reason::AlreadyRegistered,
    )
    .await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_with_a_page_size_above_the_maximum_is_coerced_and_a_token_it_did_not_issue_is_invalid_argument() {
    let mut ledger = TestLedger::start().await;
    register_population(&mut ledger).await;
    let page_size_max = u32::try_from(settled::limits::PAGE_SIZE_MAX).expect("small");
    for listing in LISTINGS {
        // AIP-158: above the maximum is the maximum, not an error.
        let whole = list_page(&mut ledger, listing, page_size_max, String::new()).await.expect("the maximum");
        for page_size in [page_size_max + 1, u32::MAX] {
            let coerced = list_page(&mut ledger, listing, page_size, String::new()).await.expect("coerced");
            assert_eq!(coerced, whole, "{listing:?}: page size {page_size} gives the maximum's page");
        }
    }
    for (listing, token) in [(Listing::Wallets, "zz"), (Listing::Wallets, "00"), (Listing::Programmes, "seven")] {
        let status = list_page(&mut ledger, listing, 2, token.to_owned()).await.expect_err("foreign token");
        assert_eq!(status.code(), Code::InvalidArgument, "{listing:?} token {token:?}: {status:?}");
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_an_id_or_address_twice_is_refused_as_already_registered_and_keeps_the_first() {
    let mut ledger = TestLedger::start().await;
    let (payout, holder, treasury) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    let first = [
        bank("b1"),
        merchant("m1", GROCERY_MCC, "b1", vec![key_bytes(&payout)]),
        terminal("t1", "m1"),
        wallet(key_bytes(&holder), "b1", 1),
        Registration::Programme(programme(5, &[GROCERY_MCC], false, &treasury)),
    ];
    for registration in first {
        registered(&mut ledger, registration).await;
    }
    registered(&mut ledger, bank("b2")).await;
    registered(&mut ledger, merchant("m2", ELECTRONICS_MCC, "b2", vec![key_bytes(&Keypair::generate())])).await;
    let again = [
        Registration::Bank(proto::Bank {
            id: "b1".to_owned(),
            name: "Another name".to_owned(),
            credential_sha256: Vec::new(),
        }),
        merchant("m1", ELECTRONICS_MCC, "b2", vec![key_bytes(&Keypair::generate())]),
        terminal("t1", "m2"),
        wallet(key_bytes(&holder), "b2", 2),
        Registration::Programme(programme(5, &[ELECTRONICS_MCC], true, &Keypair::generate())),
    ];
    for registration in again {
        refused_registration(&mut ledger, registration, Code::FailedPrecondition, Reason::AlreadyRegistered).await;
    }
    let wallets = walk(&mut ledger, Listing::Wallets, 0).await.0;
    assert_eq!(
        wallets,
        debug_all(&[proto::Wallet {
            address: key_bytes(&holder),
            bank_id: "b1".to_owned(),
            tier: 1,
            frozen: String::new()
        }])
    );
    let banks = walk(&mut ledger, Listing::Banks, 0).await.0;
    assert!(banks[0].contains("Bank b1"), "the first registration stands: {banks:?}");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_naming_an_unknown_bank_or_merchant_is_refused_as_unknown_participant() {
    let mut ledger = TestLedger::start().await;
    let (payout, holder) = (Keypair::generate(), Keypair::generate());
    let refused_now = [
        merchant("m1", GROCERY_MCC, "no-such-bank", vec![key_bytes(&payout)]),
        wallet(key_bytes(&holder), "no-such-bank", 1),
        terminal("t1", "m1"),
    ];
    for registration in refused_now.clone() {
        refused_registration(&mut ledger, registration, Code::FailedPrecondition, Reason::UnknownParticipant).await;
    }
    // The same registrations, once what they name exists.
    registered(&mut ledger, bank("no-such-bank")).await;
    for registration in refused_now {
        registered(&mut ledger, registration).await;
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_registrations_are_refused_as_invalid_registration() {
    let mut ledger = TestLedger::start().await;
    registered(&mut ledger, bank("b1")).await;
    let now_ms = ledger.clock.now_unix_ms();
    let new_key = || key_bytes(&Keypair::generate());
    let food = |id: u32| programme(id, &[GROCERY_MCC], false, &Keypair::generate());
    let invalid = [
        merchant("m-10000", 10_000, "b1", vec![new_key()]),
        merchant("m-70000", 70_000, "b1", vec![new_key()]),
        merchant("m-none", GROCERY_MCC, "b1", Vec::new()),
        Registration::Programme(programme(1, &[GROCERY_MCC, 10_000], false, &Keypair::generate())),
        Registration::Programme(programme(1, &[], false, &Keypair::generate())),
        Registration::Programme(proto::Programme {
            valid_from_unix_ms: now_ms,
            valid_until_unix_ms: now_ms - 1,
            ..food(1)
        }),
        Registration::Programme(proto::Programme {
            valid_from_unix_ms: now_ms,
            valid_until_unix_ms: now_ms,
            ..food(1)
        }),
        Registration::Programme(food(0)),
        wallet(new_key(), "b1", 0),
        wallet(new_key(), "b1", 4),
        wallet(new_key(), "b1", 9),
        wallet(new_key(), "b1", 256),
        bank(""),
        bank("has space"),
        Registration::Bank(proto::Bank { id: "b2".to_owned(), name: String::new(), credential_sha256: Vec::new() }),
    ];
    for registration in invalid {
        refused_registration(&mut ledger, registration, Code::InvalidArgument, Reason::InvalidRegistration).await;
    }
    // The edges that are in range.
    let valid = [
        merchant("m-9999", 9_999, "b1", vec![new_key()]),
        merchant("m-0000", 0, "b1", vec![new_key()]),
        Registration::Programme(programme(1, &[0, 9_999], false, &Keypair::generate())),
        Registration::Programme(proto::Programme {
            valid_from_unix_ms: now_ms,
            valid_until_unix_ms: now_ms + 1,
            ..food(2)
        }),
        wallet(new_key(), "b1", 1),
        wallet(new_key(), "b1", 2),
        wallet(new_key(), "b1", 3),
    ];
    for registration in valid {
        registered(&mut ledger, registration).await;
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_addresses_of_the_wrong_length_or_off_the_curve_are_refused_as_bad_address() {
    let mut ledger = TestLedger::start().await;
    registered(&mut ledger, bank("b1")).await;
    let key = key_bytes(&Keypair::generate());
    let treasury =
        |bytes: Vec<u8>| Registration::Programme(proto::Programme { treasury_address: bytes, ..food_programme() });
    let bad = [
        wallet(key[..31].to_vec(), "b1", 1),
        wallet([key.clone(), vec![0]].concat(), "b1", 1),
        wallet(vec![0xff; 32], "b1", 1),
        merchant("m1", GROCERY_MCC, "b1", vec![Vec::new()]),
        merchant("m1", GROCERY_MCC, "b1", vec![key_bytes(&Keypair::generate()), vec![7; 33]]),
        merchant("m1", GROCERY_MCC, "b1", vec![vec![0xff; 32]]),
        treasury(key[..31].to_vec()),
        treasury(vec![0xff; 32]),
    ];
    for registration in bad {
        refused_registration(&mut ledger, registration, Code::InvalidArgument, Reason::BadAddress).await;
    }
    registered(&mut ledger, wallet(key, "b1", 1)).await;
    registered(&mut ledger, merchant("m1", GROCERY_MCC, "b1", vec![key_bytes(&Keypair::generate())])).await;
    registered(&mut ledger, treasury(key_bytes(&Keypair::generate()))).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_belongs_to_one_participant_only() {
    let mut ledger = TestLedger::start().await;
    registered(&mut ledger, bank("b1")).await;
    let (held, paid_at, treasury) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    registered(&mut ledger, wallet(key_bytes(&held), "b1", 1)).await;
    registered(&mut ledger, merchant("m1", GROCERY_MCC, "b1", vec![key_bytes(&paid_at)])).await;
    registered(&mut ledger, Registration::Programme(programme(1, &[GROCERY_MCC], false, &treasury))).await;

    for taken in [&held, &paid_at, &treasury] {
        let fresh = key_bytes(&Keypair::generate());
        let claims = [
            wallet(key_bytes(taken), "b1", 2),
            // Also when the taken address is the second payout address.
            merchant("m2", GROCERY_MCC, "b1", vec![fresh, key_bytes(taken)]),
            Registration::Programme(programme(2, &[GROCERY_MCC], false, taken)),
        ];
        for claim in claims {
            refused_registration(&mut ledger, claim, Code::FailedPrecondition, Reason::AlreadyRegistered).await;
        }
    }
    let twice = key_bytes(&Keypair::generate());
    let listed_twice = merchant("m2", GROCERY_MCC, "b1", vec![twice.clone(), twice]);
    refused_registration(&mut ledger, listed_twice, Code::InvalidArgument, Reason::InvalidRegistration).await;
    registered(&mut ledger, merchant("m2", GROCERY_MCC, "b1", vec![key_bytes(&Keypair::generate())])).await;
    ledger.shutdown().await;
}

// ---- found while writing these: earmarks and caps with two payers ------------------------

/// A co-signed transfer makes the receiving beneficiary a "payer", and the
/// earmark rules let any payer receive earmarked money as if it were change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_transferable_money_cannot_reach_another_beneficiary_by_making_them_a_co_payer() {
    let mut ledger = TestLedger::start().await;
    ledger.programme_with(food_programme()).await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let food = minted(&mut ledger, &alice, 100_000, FOOD, "food-alice").await;
    let cash = minted(&mut ledger, &bob, 1, 0, "cash-bob").await;
    let gift = transfer(
        &ledger.chain,
        &[food.0, cash.0],
        vec![output(bob.address(), 100_000, FOOD), output(bob.address(), 1, 0)],
        b"gift",
        &[&alice, &bob],
    );
    refused(&mut ledger, &gift, Reason::TransferNotAllowed, &[alice.address(), bob.address()]).await;
    ledger.shutdown().await;
}

/// The balance cap is checked only for payees that put in no input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_payer_is_still_held_to_its_balance_cap() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let alices = minted(&mut ledger, &alice, TIER_1_PER_PAYMENT_MINOR, 0, "alice").await;
    let bobs = minted(&mut ledger, &bob, TIER_1_BALANCE_CAP_MINOR, 0, "bob").await;
    let top_up = transfer(
        &ledger.chain,
        &[alices.0, bobs.0],
        vec![output(bob.address(), TIER_1_BALANCE_CAP_MINOR + TIER_1_PER_PAYMENT_MINOR, 0)],
        b"top-up",
        &[&alice, &bob],
    );
    refused(&mut ledger, &top_up, Reason::BalanceCap, &[alice.address(), bob.address()]).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_tier_table_missing_a_registered_wallets_tier_is_refused() {
    let mut ledger = TestLedger::start().await;
    let rich = Keypair::generate();
    ledger.wallet(&rich, 3).await;
    let dir = ledger.data_dir();
    ledger.server.take().expect("running").shutdown().await;
    let mut config = settled::Config::for_data_dir(dir.clone());
    config.tiers = Some(settled::config::TiersConfig {
        day_offset_minutes: 480,
        unregistered_tier: 1,
        tiers: Some(vec![settled::config::TierConfig {
            id: 1,
            balance_cap: "10000".into(),
            per_payment: "2000".into(),
            per_day: "5000".into(),
            per_year: None,
        }]),
    });
    let refused = settled::Server::start(config).await.err().expect("a wallet's tier is gone");
    assert!(refused.to_string().contains("tier 3"), "{refused}");
    // With the table restored, the ledger serves again.
    let server = settled::Server::start(settled::Config::for_data_dir(dir)).await.expect("starts");
    server.shutdown().await;
}

// ---- a wallet's tier changes, and annual limits ------------------------------------

async fn set_tier(ledger: &mut TestLedger, wallet: &Keypair, tier: u32) -> Result<u64, Status> {
    let request = proto::SetWalletTierRequest { address: wallet.address().0.to_vec(), tier };
    ledger.client.admin.set_wallet_tier(request).await.map(|r| r.into_inner().height)
}

async fn listed_tier(ledger: &mut TestLedger, wallet: &Keypair) -> u32 {
    let request = proto::ListRequest { page_size: 0, page_token: String::new() };
    let wallets = ledger.client.admin.list_wallets(request).await.expect("listed").into_inner().wallets;
    wallets.iter().find(|w| w.address == wallet.address().0.to_vec()).expect("registered").tier
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_wallet_pays_under_its_new_tier_and_a_downgraded_one_keeps_a_balance_over_the_new_cap() {
    let mut ledger = TestLedger::start().await;
    clear_of_midnight(&ledger);
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let alice = Keypair::generate();
    ledger.wallet(&alice, 1).await;
    let coin = minted(&mut ledger, &alice, TIER_1_BALANCE_CAP_MINOR, 0, "alice-1").await;
    let large = client::pay(&ledger.chain, &alice, coin, grocer.address(), TIER_1_PER_PAYMENT_MINOR + 1, b"large");
    refused(&mut ledger, &large, Reason::TierPaymentLimit, &[alice.address(), grocer.address()]).await;

    // Upgraded after KYC: the same payment passes, and more may be held.
    set_tier(&mut ledger, &alice, 3).await.expect("upgraded");
    assert_eq!(listed_tier(&mut ledger, &alice).await, 3);
    confirmed(&mut ledger, &large).await;
    let change = client::output_of(&large, 1);
    let more = minted(&mut ledger, &alice, 2 * TIER_1_BALANCE_CAP_MINOR, 0, "alice-2").await;
    let held = TIER_1_BALANCE_CAP_MINOR - TIER_1_PER_PAYMENT_MINOR - 1 + 2 * TIER_1_BALANCE_CAP_MINOR;
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(0, held)]);

    // Downgraded: the balance over tier 1's cap stays, nothing more comes
    // in, and payments are held to tier 1 again (today's total counted).
    set_tier(&mut ledger, &alice, 1).await.expect("downgraded");
    let top_up = ledger.mint_tx(vec![output(alice.address(), 1, 0)], "alice-3");
    refused(&mut ledger, &top_up, Reason::BalanceCap, &[alice.address()]).await;
    let over_tier_1 = client::pay(&ledger.chain, &alice, more, grocer.address(), TIER_1_PER_PAYMENT_MINOR + 1, b"x");
    refused(&mut ledger, &over_tier_1, Reason::TierPaymentLimit, &[alice.address()]).await;
    let change = pay(&mut ledger, &alice, change, grocer.address(), TIER_1_PER_PAYMENT_MINOR).await;
    let today_left = TIER_1_PER_DAY_MINOR - 2 * TIER_1_PER_PAYMENT_MINOR - 1;
    pay(&mut ledger, &alice, change, grocer.address(), today_left).await;
    let past_day = client::pay(&ledger.chain, &alice, more, grocer.address(), 1, b"past-the-day");
    refused(&mut ledger, &past_day, Reason::TierDailyLimit, &[alice.address()]).await;

    // Refused changes change nothing.
    let status = set_tier(&mut ledger, &alice, 1).await.expect_err("at tier 1 already");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    let status = set_tier(&mut ledger, &alice, 9).await.expect_err("no tier 9");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    let status = set_tier(&mut ledger, &alice, 300).await.expect_err("not a tier number");
    assert_refusal(&status, Code::InvalidArgument, Reason::InvalidRegistration);
    let status = set_tier(&mut ledger, &Keypair::generate(), 2).await.expect_err("not registered");
    assert_refusal(&status, Code::FailedPrecondition, Reason::UnknownParticipant);
    ledger.restart().await;
    assert_eq!(listed_tier(&mut ledger, &alice).await, 1, "the change is in the chain the registry replays");
    refused(&mut ledger, &past_day, Reason::TierDailyLimit, &[alice.address()]).await;
    ledger.assert_supply(3 * TIER_1_BALANCE_CAP_MINOR).await;
    ledger.shutdown().await;
}

/// Tier 4 of this table limits a year: 8,000.00 a year at 5,000.00 a day.
const TIER_4: u32 = 4;
const TIER_4_PER_YEAR_MINOR: u64 = 800_000;

fn with_an_annual_limit(config: &mut settled::Config) {
    let tier = |id: u8, cap: &str, payment: &str, day: &str, year: Option<&str>| settled::config::TierConfig {
        id,
        balance_cap: cap.to_owned(),
        per_payment: payment.to_owned(),
        per_day: day.to_owned(),
        per_year: year.map(str::to_owned),
    };
    config.tiers = Some(settled::config::TiersConfig {
        day_offset_minutes: 8 * 60,
        unregistered_tier: 1,
        tiers: Some(vec![
            tier(1, "10000", "2000", "5000", None),
            tier(2, "50000", "10000", "20000", None),
            tier(3, "500000", "50000", "100000", None),
            tier(4, "10000", "2000", "5000", Some("8000")),
        ]),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annual_limit_counts_every_day_of_the_year_across_restarts_and_starts_again_in_the_next_year() {
    let mut ledger = TestLedger::start_with(with_an_annual_limit).await;
    clear_of_midnight(&ledger);
    let grocer = ledger.merchant("grocer", GROCERY_MCC).await;
    let alice = Keypair::generate();
    ledger.wallet(&alice, TIER_4).await;
    let mut change = minted(&mut ledger, &alice, TIER_1_BALANCE_CAP_MINOR, 0, "alice").await;
    // A full day, then the next day up to the year's limit: two days of
    // 5,000.00 would be 10,000.00.
    for amount_minor in [200_000, 200_000, 99_999] {
        change = pay(&mut ledger, &alice, change, grocer.address(), amount_minor).await;
    }
    ledger.clock.skew_by_ms(ms(DAY_MS));
    ledger.restart_with(with_an_annual_limit).await;
    for amount_minor in [200_000, 100_000] {
        change = pay(&mut ledger, &alice, change, grocer.address(), amount_minor).await;
    }
    let paid = 200_000 + 200_000 + 99_999 + 200_000 + 100_000;
    assert_eq!(TIER_4_PER_YEAR_MINOR - paid, 1, "one unit left this year");
    let two_units = client::pay(&ledger.chain, &alice, change, grocer.address(), 2, b"two-units");
    refused(&mut ledger, &two_units, Reason::TierAnnualLimit, &[alice.address(), grocer.address()]).await;
    let status = ledger.client.submit(&two_units).await.expect_err("refused");
    assert!(status.message().contains("a year"), "the refusal says which limit: {status:?}");
    let last_unit = client::pay(&ledger.chain, &alice, change, grocer.address(), 1, b"last-unit");
    confirmed(&mut ledger, &last_unit).await;
    change = client::output_of(&last_unit, 1);
    // A year later the count starts again.
    ledger.clock.skew_by_ms(ms(366 * DAY_MS));
    ledger.restart_with(with_an_annual_limit).await;
    change = pay(&mut ledger, &alice, change, grocer.address(), 100_000).await;
    assert_eq!(holdings(&mut ledger, &alice.address()).await, vec![(0, change.1.amount_minor)]);
    ledger.assert_supply(TIER_1_BALANCE_CAP_MINOR).await;
    ledger.shutdown().await;
}
