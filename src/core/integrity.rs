//! Integrity rules: what the abuse of earmarked benefits looks like in
//! confirmed payments, after the indicators welfare programmes use against
//! retailer trafficking (a complicit shop "buying" benefits for cash):
//!
//! - **cash-out cluster**: many beneficiaries each spending (nearly) their
//!   whole balance of a programme at one merchant within minutes;
//! - **repeated amounts**: the same amount paid again and again at one
//!   merchant; **round amounts**: many payments of round sums;
//! - **basket outlier**: a payment far above the usual basket of the
//!   merchant's category in that programme;
//! - **rapid repeat**: one beneficiary paying one merchant again and again
//!   within minutes;
//! - **share jump**: a merchant's share of a programme's spending jumping
//!   from one window to the next.
//!
//! Pure and deterministic: the detector sees confirmed payments in sequence
//! order and answers the alerts they raise; the same payments give the
//! same alerts, so a detector rebuilt by replaying the last windows after a
//! restart raises exactly the alerts it would have raised. Every piece of
//! state is bounded (`DETECTOR_*` limits) and pruned by time.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::core::registry::Mcc;
use crate::core::types::{Address, AmountMinor, ProgrammeId, TxId};

/// Payments one alert names at most (the ones that raised it, newest).
pub const ALERT_TXIDS_MAX: usize = 32;
/// Payments a window keeps per key at most; older ones fall out first.
pub const DETECTOR_WINDOW_ENTRIES_MAX: usize = 1_024;
/// Keys (merchant, or beneficiary and merchant) the detector follows at
/// once per rule; past it, the idlest keys are forgotten.
pub const DETECTOR_KEYS_MAX: usize = 100_000;

/// One confirmed payment of earmarked money to a merchant, as the detector
/// sees it: one programme's part of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub sequence: u64,
    pub txid: TxId,
    pub time_unix_ms: u64,
    pub programme: ProgrammeId,
    pub payer: Address,
    pub merchant: String,
    pub mcc: Mcc,
    pub amount_minor: AmountMinor,
    /// What the payer held of the programme after paying.
    pub payer_left_minor: AmountMinor,
}

/// The rules, and their thresholds, for one programme (the configuration's
/// `[integrity]` table, per programme or as the default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Cash-out cluster: this many distinct beneficiaries...
    pub emptied_payers_min: usize,
    /// ...each left with at most this much of the programme...
    pub emptied_left_max_minor: AmountMinor,
    /// ...after paying one merchant within this window.
    pub emptied_window_ms: u64,
    /// Repeated amounts: this many payments of one amount at one merchant
    /// within `repeated_window_ms`.
    pub repeated_min: usize,
    pub repeated_window_ms: u64,
    /// Round amounts: this many payments that are multiples of
    /// `round_unit_minor` at one merchant within `repeated_window_ms`.
    pub round_min: usize,
    pub round_unit_minor: AmountMinor,
    /// Basket outlier: a payment above this many times the category's
    /// mean payment in the programme...
    pub basket_factor: u64,
    /// ...once the category has seen this many payments.
    pub basket_samples_min: u64,
    /// Rapid repeat: this many payments of one beneficiary at one merchant
    /// within `rapid_window_ms`.
    pub rapid_min: usize,
    pub rapid_window_ms: u64,
    /// Share jump: a merchant's share of the programme's spending in one
    /// window at least `share_jump_factor` times its share in the window
    /// before...
    pub share_window_ms: u64,
    pub share_jump_factor: u64,
    /// ...and at least this share (in percent)...
    pub share_min_percent: u64,
    /// ...of at least this much spent in the window.
    pub share_spent_min_minor: AmountMinor,
}

impl Default for Thresholds {
    fn default() -> Self {
        const MINUTE_MS: u64 = 60_000;
        Self {
            emptied_payers_min: 5,
            emptied_left_max_minor: 0,
            emptied_window_ms: 10 * MINUTE_MS,
            repeated_min: 5,
            repeated_window_ms: 60 * MINUTE_MS,
            round_min: 5,
            round_unit_minor: 10_000,
            basket_factor: 5,
            basket_samples_min: 50,
            rapid_min: 3,
            rapid_window_ms: 5 * MINUTE_MS,
            share_window_ms: 60 * MINUTE_MS,
            share_jump_factor: 3,
            share_min_percent: 20,
            share_spent_min_minor: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rule {
    CashOutCluster,
    RepeatedAmounts,
    RoundAmounts,
    BasketOutlier,
    RapidRepeat,
    ShareJump,
}

impl Rule {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::CashOutCluster => "CASH_OUT_CLUSTER",
            Self::RepeatedAmounts => "REPEATED_AMOUNTS",
            Self::RoundAmounts => "ROUND_AMOUNTS",
            Self::BasketOutlier => "BASKET_OUTLIER",
            Self::RapidRepeat => "RAPID_REPEAT",
            Self::ShareJump => "SHARE_JUMP",
        }
    }
}

/// An integrity alert: the rule, where, and the payments behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: Rule,
    pub programme: ProgrammeId,
    pub merchant: String,
    /// The payment that raised it: alerts are ordered by it.
    pub sequence: u64,
    pub time_unix_ms: u64,
    /// The payments behind it, oldest first, at most `ALERT_TXIDS_MAX`.
    pub txids: Vec<TxId>,
    pub detail: String,
}

/// A payment kept in a window.
#[derive(Clone, Copy, Debug)]
struct Seen {
    time_unix_ms: u64,
    txid: TxId,
    payer: Address,
    amount_minor: AmountMinor,
    emptied: bool,
}

/// A time window of payments, newest last, at most
/// `DETECTOR_WINDOW_ENTRIES_MAX`.
#[derive(Debug, Default)]
struct Window(VecDeque<Seen>);

impl Window {
    fn push(&mut self, seen: Seen, span_ms: u64) {
        self.0.push_back(seen);
        while self.0.len() > DETECTOR_WINDOW_ENTRIES_MAX {
            self.0.pop_front();
        }
        let since = seen.time_unix_ms.saturating_sub(span_ms);
        while self.0.front().is_some_and(|s| s.time_unix_ms < since) {
            self.0.pop_front();
        }
    }

    fn txids(seen: impl DoubleEndedIterator<Item = Seen>) -> Vec<TxId> {
        let mut txids: Vec<TxId> = seen.rev().take(ALERT_TXIDS_MAX).map(|s| s.txid).collect();
        txids.reverse();
        txids
    }
}

/// Windows by key, forgetting the idlest keys past `DETECTOR_KEYS_MAX`.
#[derive(Debug)]
struct Windows<K> {
    by_key: HashMap<K, (u64, Window)>,
}

impl<K: std::hash::Hash + Eq + Clone> Windows<K> {
    fn new() -> Self {
        Self { by_key: HashMap::new() }
    }

    fn push(&mut self, key: K, seen: Seen, span_ms: u64) -> &Window {
        if self.by_key.len() >= DETECTOR_KEYS_MAX && !self.by_key.contains_key(&key) {
            // Forget every key idle for longer than the span; if none is,
            // the idlest one.
            let since = seen.time_unix_ms.saturating_sub(span_ms);
            self.by_key.retain(|_, (last, _)| *last >= since);
            if self.by_key.len() >= DETECTOR_KEYS_MAX
                && let Some(idlest) = self.by_key.iter().min_by_key(|(_, (last, _))| *last).map(|(k, _)| k.clone())
            {
                self.by_key.remove(&idlest);
            }
        }
        let (last, window) = self.by_key.entry(key).or_insert_with(|| (0, Window::default()));
        *last = seen.time_unix_ms;
        window.push(seen, span_ms);
        window
    }
}

/// A category's payments in a programme: count and total, for its mean.
#[derive(Debug, Default, Clone, Copy)]
struct Basket {
    payments: u64,
    total_minor: u128,
}

/// A programme's spending in the current and the previous share window, by
/// merchant.
#[derive(Debug, Default)]
struct Shares {
    window_start_ms: u64,
    current: BTreeMap<String, AmountMinor>,
    previous: BTreeMap<String, AmountMinor>,
}

/// The detector: the rules, the windows, and when each (rule, programme,
/// merchant) last alerted (an alert is raised once per window, not for
/// every payment that keeps the pattern going).
pub struct Detector {
    default: Thresholds,
    per_programme: BTreeMap<ProgrammeId, Thresholds>,
    by_merchant: Windows<(ProgrammeId, String)>,
    by_payer: Windows<(ProgrammeId, Address, String)>,
    baskets: HashMap<(ProgrammeId, Mcc), Basket>,
    shares: HashMap<ProgrammeId, Shares>,
    last_alerted: HashMap<(Rule, ProgrammeId, String), u64>,
}

impl Detector {
    #[must_use]
    pub fn new(default: Thresholds, per_programme: BTreeMap<ProgrammeId, Thresholds>) -> Self {
        Self {
            default,
            per_programme,
            by_merchant: Windows::new(),
            by_payer: Windows::new(),
            baskets: HashMap::new(),
            shares: HashMap::new(),
            last_alerted: HashMap::new(),
        }
    }

    fn thresholds(&self, programme: ProgrammeId) -> Thresholds {
        self.per_programme.get(&programme).unwrap_or(&self.default).clone()
    }

    /// The longest window of any rule: how far back a restarted detector
    /// replays to rebuild its state.
    #[must_use]
    pub fn longest_window_ms(&self) -> u64 {
        std::iter::once(&self.default)
            .chain(self.per_programme.values())
            .flat_map(|t| [t.emptied_window_ms, t.repeated_window_ms, t.rapid_window_ms, 2 * t.share_window_ms])
            .max()
            .unwrap_or(0)
    }

    /// One confirmed payment, in sequence order: the alerts it raises.
    pub fn observe(&mut self, payment: &Observed) -> Vec<Alert> {
        let t = self.thresholds(payment.programme);
        let seen = Seen {
            time_unix_ms: payment.time_unix_ms,
            txid: payment.txid,
            payer: payment.payer,
            amount_minor: payment.amount_minor,
            emptied: payment.payer_left_minor <= t.emptied_left_max_minor,
        };
        let span = t.emptied_window_ms.max(t.repeated_window_ms);
        let mut raised = Vec::new();
        let merchant_key = (payment.programme, payment.merchant.clone());
        let window = self.by_merchant.push(merchant_key, seen, span);
        raised.extend(cash_out(&t, payment, window));
        raised.extend(repeated(&t, payment, window));
        raised.extend(round(&t, payment, window));
        let payer_key = (payment.programme, payment.payer, payment.merchant.clone());
        let window = self.by_payer.push(payer_key, seen, t.rapid_window_ms);
        raised.extend(rapid(&t, payment, window));
        raised.extend(self.basket(&t, payment));
        raised.extend(self.share(&t, payment));
        raised.into_iter().filter(|alert| self.first_in_window(alert, &t)).collect()
    }

    /// Whether this (rule, programme, merchant) has not alerted within the
    /// rule's window: records it when so.
    fn first_in_window(&mut self, alert: &Alert, t: &Thresholds) -> bool {
        let window_ms = match alert.rule {
            Rule::CashOutCluster => t.emptied_window_ms,
            Rule::RepeatedAmounts | Rule::RoundAmounts => t.repeated_window_ms,
            Rule::RapidRepeat => t.rapid_window_ms,
            Rule::BasketOutlier => 0,
            Rule::ShareJump => t.share_window_ms,
        };
        let key = (alert.rule, alert.programme, alert.merchant.clone());
        if let Some(last) = self.last_alerted.get(&key)
            && alert.time_unix_ms < last.saturating_add(window_ms)
        {
            return false;
        }
        if self.last_alerted.len() >= DETECTOR_KEYS_MAX {
            let since = alert.time_unix_ms.saturating_sub(self.longest_window_ms());
            self.last_alerted.retain(|_, last| *last >= since);
        }
        self.last_alerted.insert(key, alert.time_unix_ms);
        true
    }

    fn basket(&mut self, t: &Thresholds, payment: &Observed) -> Option<Alert> {
        let basket = self.baskets.entry((payment.programme, payment.mcc)).or_default();
        let before = *basket;
        basket.payments += 1;
        basket.total_minor += u128::from(payment.amount_minor);
        if before.payments < t.basket_samples_min.max(1) {
            return None;
        }
        let mean = before.total_minor / u128::from(before.payments);
        (u128::from(payment.amount_minor) > mean.saturating_mul(u128::from(t.basket_factor))).then(|| {
            alert(
                Rule::BasketOutlier,
                payment,
                vec![payment.txid],
                format!(
                    "{} minor units, more than {} times the mean {mean} of {} payments at category {:04}",
                    payment.amount_minor, t.basket_factor, before.payments, payment.mcc
                ),
            )
        })
    }

    fn share(&mut self, t: &Thresholds, payment: &Observed) -> Option<Alert> {
        let shares = self.shares.entry(payment.programme).or_default();
        let window_ms = t.share_window_ms.max(1);
        if payment.time_unix_ms >= shares.window_start_ms.saturating_add(window_ms) {
            let elapsed_windows = (payment.time_unix_ms - shares.window_start_ms) / window_ms;
            shares.previous = if elapsed_windows == 1 { std::mem::take(&mut shares.current) } else { BTreeMap::new() };
            shares.current.clear();
            shares.window_start_ms = payment.time_unix_ms - payment.time_unix_ms % window_ms;
        }
        if shares.current.len() >= DETECTOR_KEYS_MAX && !shares.current.contains_key(&payment.merchant) {
            return None;
        }
        let spent = shares.current.entry(payment.merchant.clone()).or_default();
        *spent = spent.saturating_add(payment.amount_minor);
        let (merchant_now, total_now) = (*spent, shares.current.values().sum::<AmountMinor>());
        let total_before: AmountMinor = shares.previous.values().sum();
        if total_now < t.share_spent_min_minor || total_before == 0 {
            return None;
        }
        let merchant_before = shares.previous.get(&payment.merchant).copied().unwrap_or(0);
        // Shares compared in integers: now/total_now >= factor * before/total_before.
        let now = u128::from(merchant_now) * u128::from(total_before);
        let before = u128::from(merchant_before) * u128::from(total_now) * u128::from(t.share_jump_factor);
        let share_percent = u128::from(merchant_now) * 100 / u128::from(total_now);
        (now > before && share_percent >= u128::from(t.share_min_percent)).then(|| {
            alert(
                Rule::ShareJump,
                payment,
                vec![payment.txid],
                format!(
                    "{share_percent}% of the programme's spending this window ({merchant_now} of {total_now} minor \
                     units), {merchant_before} of {total_before} the window before"
                ),
            )
        })
    }
}

fn alert(rule: Rule, payment: &Observed, txids: Vec<TxId>, detail: String) -> Alert {
    Alert {
        rule,
        programme: payment.programme,
        merchant: payment.merchant.clone(),
        sequence: payment.sequence,
        time_unix_ms: payment.time_unix_ms,
        txids,
        detail,
    }
}

fn cash_out(t: &Thresholds, payment: &Observed, window: &Window) -> Option<Alert> {
    let since = payment.time_unix_ms.saturating_sub(t.emptied_window_ms);
    let emptied: Vec<Seen> = window.0.iter().filter(|s| s.emptied && s.time_unix_ms >= since).copied().collect();
    let mut payers: Vec<Address> = emptied.iter().map(|s| s.payer).collect();
    payers.sort_unstable();
    payers.dedup();
    (payers.len() >= t.emptied_payers_min.max(1) && emptied.last().is_some_and(|s| s.txid == payment.txid)).then(|| {
        alert(
            Rule::CashOutCluster,
            payment,
            Window::txids(emptied.into_iter()),
            format!(
                "{} beneficiaries spent their whole balance of programme {} here within {} s",
                payers.len(),
                payment.programme,
                t.emptied_window_ms / 1000
            ),
        )
    })
}

fn repeated(t: &Thresholds, payment: &Observed, window: &Window) -> Option<Alert> {
    let since = payment.time_unix_ms.saturating_sub(t.repeated_window_ms);
    let same: Vec<Seen> = window
        .0
        .iter()
        .filter(|s| s.time_unix_ms >= since && s.amount_minor == payment.amount_minor)
        .copied()
        .collect();
    (same.len() >= t.repeated_min.max(2)).then(|| {
        alert(
            Rule::RepeatedAmounts,
            payment,
            Window::txids(same.iter().copied()),
            format!(
                "{} payments of exactly {} minor units here within {} s",
                same.len(),
                payment.amount_minor,
                t.repeated_window_ms / 1000
            ),
        )
    })
}

fn round(t: &Thresholds, payment: &Observed, window: &Window) -> Option<Alert> {
    let unit = t.round_unit_minor.max(1);
    if !payment.amount_minor.is_multiple_of(unit) {
        return None;
    }
    let since = payment.time_unix_ms.saturating_sub(t.repeated_window_ms);
    let round: Vec<Seen> =
        window.0.iter().filter(|s| s.time_unix_ms >= since && s.amount_minor.is_multiple_of(unit)).copied().collect();
    (round.len() >= t.round_min.max(2)).then(|| {
        alert(
            Rule::RoundAmounts,
            payment,
            Window::txids(round.iter().copied()),
            format!(
                "{} payments of round multiples of {unit} minor units here within {} s",
                round.len(),
                t.repeated_window_ms / 1000
            ),
        )
    })
}

fn rapid(t: &Thresholds, payment: &Observed, window: &Window) -> Option<Alert> {
    let since = payment.time_unix_ms.saturating_sub(t.rapid_window_ms);
    let recent: Vec<Seen> = window.0.iter().filter(|s| s.time_unix_ms >= since).copied().collect();
    (recent.len() >= t.rapid_min.max(2)).then(|| {
        alert(
            Rule::RapidRepeat,
            payment,
            Window::txids(recent.iter().copied()),
            format!(
                "beneficiary {} paid here {} times within {} s",
                payment.payer,
                recent.len(),
                t.rapid_window_ms / 1000
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    struct Feed {
        detector: Detector,
        sequence: u64,
    }

    impl Feed {
        fn new(thresholds: Thresholds) -> Self {
            Self { detector: Detector::new(thresholds, BTreeMap::new()), sequence: 0 }
        }

        fn pay(&mut self, at_ms: u64, payer: u8, merchant: &str, amount_minor: u64, left_minor: u64) -> Vec<Alert> {
            self.sequence += 1;
            let mut txid = [0; 32];
            txid[..8].copy_from_slice(&self.sequence.to_be_bytes());
            self.detector.observe(&Observed {
                sequence: self.sequence,
                txid: TxId(txid),
                time_unix_ms: at_ms,
                programme: 7,
                payer: Address([payer; 32]),
                merchant: merchant.to_owned(),
                mcc: 5411,
                amount_minor,
                payer_left_minor: left_minor,
            })
        }

        fn rules(alerts: &[Alert]) -> Vec<Rule> {
            alerts.iter().map(|a| a.rule).collect()
        }
    }

    /// Thresholds with every rule but the one tested out of reach.
    fn only(rule: Rule) -> Thresholds {
        let mut t = Thresholds {
            emptied_payers_min: usize::MAX,
            repeated_min: usize::MAX,
            round_min: usize::MAX,
            basket_samples_min: u64::MAX,
            rapid_min: usize::MAX,
            share_spent_min_minor: u64::MAX,
            ..Thresholds::default()
        };
        let d = Thresholds::default();
        match rule {
            Rule::CashOutCluster => t.emptied_payers_min = d.emptied_payers_min,
            Rule::RepeatedAmounts => t.repeated_min = d.repeated_min,
            Rule::RoundAmounts => t.round_min = d.round_min,
            Rule::BasketOutlier => t.basket_samples_min = d.basket_samples_min,
            Rule::RapidRepeat => t.rapid_min = d.rapid_min,
            Rule::ShareJump => t.share_spent_min_minor = d.share_spent_min_minor,
        }
        t
    }

    #[test]
    fn five_beneficiaries_emptying_their_balance_at_one_shop_within_minutes_is_a_cash_out_cluster() {
        let mut feed = Feed::new(only(Rule::CashOutCluster));
        for payer in 1..=4 {
            assert!(feed.pay(u64::from(payer) * MINUTE, payer, "corner-shop", 30_000, 0).is_empty());
        }
        let alerts = feed.pay(5 * MINUTE, 5, "corner-shop", 30_000, 0);
        assert_eq!(Feed::rules(&alerts), vec![Rule::CashOutCluster]);
        assert_eq!(alerts[0].txids.len(), 5, "the five payments behind it");
        assert_eq!((alerts[0].merchant.as_str(), alerts[0].sequence), ("corner-shop", 5));
        // Raised once per window, not for every payment that follows.
        assert!(feed.pay(6 * MINUTE, 6, "corner-shop", 30_000, 0).is_empty());
    }

    #[test]
    fn beneficiaries_keeping_money_or_spread_over_time_or_shops_raise_no_cash_out_alert() {
        let mut feed = Feed::new(only(Rule::CashOutCluster));
        for payer in 1..=9 {
            // Each keeps something back.
            assert!(feed.pay(u64::from(payer) * MINUTE, payer, "grocer", 30_000, 500).is_empty());
        }
        for payer in 1..=9 {
            // Emptied, but 3 minutes apart: never five within ten minutes.
            assert!(feed.pay(100 * MINUTE + u64::from(payer) * 3 * MINUTE, payer, "baker", 30_000, 0).is_empty());
        }
        for payer in 1..=9 {
            // Emptied at once, but at nine different shops.
            assert!(feed.pay(500 * MINUTE, payer, &format!("shop-{payer}"), 30_000, 0).is_empty());
        }
    }

    #[test]
    fn the_same_amount_again_and_again_at_one_shop_is_repeated_amounts() {
        let mut feed = Feed::new(only(Rule::RepeatedAmounts));
        for n in 0..4 {
            assert!(feed.pay(n * MINUTE, u8::try_from(n).unwrap() + 1, "shop", 4_321, 100).is_empty());
        }
        assert_eq!(Feed::rules(&feed.pay(4 * MINUTE, 9, "shop", 4_321, 100)), vec![Rule::RepeatedAmounts]);
        // Differing amounts, or the same one spread over more than an hour, do not.
        let mut feed = Feed::new(only(Rule::RepeatedAmounts));
        for n in 0..20 {
            assert!(feed.pay(n * MINUTE, 1, "shop", 4_000 + n, 100).is_empty());
            assert!(feed.pay(n * 20 * MINUTE, 2, "other", 777, 100).is_empty());
        }
    }

    #[test]
    fn many_round_sums_at_one_shop_are_round_amounts() {
        let mut feed = Feed::new(only(Rule::RoundAmounts));
        for (n, amount) in [20_000, 50_000, 10_000, 30_000].into_iter().enumerate() {
            assert!(feed.pay(n as u64 * MINUTE, 1, "shop", amount, 0).is_empty());
        }
        assert_eq!(Feed::rules(&feed.pay(5 * MINUTE, 2, "shop", 40_000, 0)), vec![Rule::RoundAmounts]);
        let mut feed = Feed::new(only(Rule::RoundAmounts));
        for n in 0..20 {
            assert!(feed.pay(n * MINUTE, 1, "shop", 12_345 + n, 0).is_empty(), "not round");
        }
    }

    #[test]
    fn a_payment_far_above_the_categorys_basket_is_a_basket_outlier_once_the_mean_is_known() {
        let mut feed = Feed::new(only(Rule::BasketOutlier));
        // Before 50 payments, no mean to compare with.
        assert!(feed.pay(0, 1, "shop", 1_000_000, 0).is_empty());
        for n in 1..50 {
            assert!(feed.pay(n * MINUTE, 1, "shop", 3_000, 0).is_empty());
        }
        // The mean is now about 23,000: five times is about 115,000.
        assert!(feed.pay(60 * MINUTE, 2, "shop", 100_000, 0).is_empty());
        assert_eq!(Feed::rules(&feed.pay(61 * MINUTE, 3, "shop", 200_000, 0)), vec![Rule::BasketOutlier]);
    }

    #[test]
    fn one_beneficiary_paying_one_shop_three_times_in_minutes_is_a_rapid_repeat() {
        let mut feed = Feed::new(only(Rule::RapidRepeat));
        assert!(feed.pay(0, 1, "shop", 1_000, 0).is_empty());
        assert!(feed.pay(MINUTE, 1, "shop", 2_000, 0).is_empty());
        assert_eq!(Feed::rules(&feed.pay(2 * MINUTE, 1, "shop", 3_000, 0)), vec![Rule::RapidRepeat]);
        // Three payments to three shops, or ten minutes apart, are shopping.
        let mut feed = Feed::new(only(Rule::RapidRepeat));
        for n in 0..3 {
            assert!(feed.pay(n * MINUTE, 1, &format!("shop-{n}"), 1_000, 0).is_empty());
            assert!(feed.pay(100 * MINUTE + n * 10 * MINUTE, 2, "shop", 1_000, 0).is_empty());
        }
    }

    #[test]
    fn a_merchants_share_jumping_between_windows_is_a_share_jump() {
        let mut feed = Feed::new(only(Rule::ShareJump));
        let hour = 60 * MINUTE;
        // First hour: ten shops, 20,000 each; "quiet" has 10% of it.
        for shop in 0..10 {
            assert!(feed.pay(hour + shop * MINUTE, 1, &format!("shop-{shop}"), 20_000, 0).is_empty());
        }
        assert!(feed.pay(hour + 30 * MINUTE, 2, "quiet", 20_000, 0).is_empty());
        // Second hour: the others as before, "quiet" takes 200,000: a jump.
        for shop in 0..10 {
            assert!(feed.pay(2 * hour + shop * MINUTE, 1, &format!("shop-{shop}"), 20_000, 0).is_empty());
        }
        let alerts = feed.pay(2 * hour + 30 * MINUTE, 2, "quiet", 200_000, 0);
        assert_eq!(Feed::rules(&alerts), vec![Rule::ShareJump], "{alerts:?}");
        // A shop keeping its share does not.
        assert!(feed.pay(2 * hour + 31 * MINUTE, 3, "shop-1", 20_000, 0).is_empty());
    }

    #[test]
    fn the_same_payments_give_the_same_alerts() {
        let run = || {
            let mut feed = Feed::new(Thresholds::default());
            let mut alerts = Vec::new();
            for n in 0u64..400 {
                let payer = u8::try_from(n % 23).unwrap();
                let shop = format!("shop-{}", n % 7);
                alerts.extend(feed.pay(n * 20_000, payer, &shop, 1_000 * (n % 5 + 1), n % 3));
            }
            alerts
        };
        let first = run();
        assert!(!first.is_empty(), "the pattern raises alerts");
        assert_eq!(first, run());
    }

    #[test]
    fn windows_and_keys_stay_within_their_bounds() {
        let mut feed = Feed::new(Thresholds::default());
        for n in 0..(DETECTOR_WINDOW_ENTRIES_MAX as u64 + 10) {
            feed.pay(n, 1, "shop", 100 + n, 1);
        }
        let (_, window) = &feed.detector.by_merchant.by_key[&(7, "shop".to_owned())];
        assert_eq!(window.0.len(), DETECTOR_WINDOW_ENTRIES_MAX);
        let mut windows = Windows::new();
        for key in 0..(DETECTOR_KEYS_MAX + 5) {
            let seen = Seen {
                time_unix_ms: key as u64,
                txid: TxId::default(),
                payer: Address([0; 32]),
                amount_minor: 1,
                emptied: false,
            };
            windows.push(key, seen, u64::MAX);
        }
        assert!(windows.by_key.len() <= DETECTOR_KEYS_MAX);
        assert!(windows.by_key.contains_key(&(DETECTOR_KEYS_MAX + 4)), "the newest key is kept");
    }
}
