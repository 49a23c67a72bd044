//! The small ledger the targets check requests against: one issuer (also
//! the one merchant's payout key), one bank, one merchant, one ended
//! programme, a programme paid per person with a registered wallet (key 5)
//! for a beneficiary to link, a coin of a beneficiary's and one of the
//! merchant's; and a three-voter cluster with one learner.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use settled::registry::{AdminOp, Bank, Merchant, PaymentPeriod, Programme, Registry, TierPolicy, Wallet};
use settled::{Address, BlockHeader, ChainId, Genesis, Keypair, Ledger, OutPoint, Output, TxId, sha256};

/// The key of secret `[byte; 32]`: 1 is the coin's owner, 7 the issuer.
#[must_use]
pub fn key(byte: u8) -> Keypair {
    Keypair::from_secret(&[byte; 32]).expect("a valid secret")
}

/// The keys of secrets `[1; 32]` to `[9; 32]`: every key the seeds sign
/// with.
#[must_use]
pub fn key_of(address: &Address) -> Option<&'static Keypair> {
    static KEYS: OnceLock<Vec<Keypair>> = OnceLock::new();
    KEYS.get_or_init(|| (1..=9).map(key).collect()).iter().find(|k| k.address() == *address)
}

/// The issuer, and the merchant's payout key.
#[must_use]
pub fn issuer() -> &'static Keypair {
    static KEY: OnceLock<Keypair> = OnceLock::new();
    KEY.get_or_init(|| key(7))
}

#[must_use]
pub fn genesis() -> Genesis {
    Genesis {
        currency: "CNY".to_owned(),
        exponent: 2,
        issuer_keys: vec![issuer().address()],
        issuer_threshold: 1,
        engine_key: key(9).address(),
    }
}

/// The chain id of the fixture ledger (the hash of its block 0, created at
/// time 0): what the targets verify signatures for.
#[must_use]
pub fn chain() -> ChainId {
    static CHAIN: OnceLock<ChainId> = OnceLock::new();
    *CHAIN.get_or_init(|| BlockHeader::genesis(&genesis(), 0).chain_id())
}

/// The programme every clawback of the fixture ledger is about: id 5,
/// treasury key 4, ended at 2 ms after the epoch.
#[must_use]
pub fn programme() -> Programme {
    Programme {
        id: 5,
        name: "Food".to_owned(),
        allowed_mccs: vec![5411],
        valid_from_ms: 1,
        valid_until_ms: 2,
        transferable: false,
        treasury: key(4).address(),
        per_payment_max_minor: None,
        payment_period: None,
        refund_window_ms: None,
    }
}

/// The programme paid once a month per person: id 8, treasury key 8.
pub const MONTHLY_PROGRAMME: u32 = 8;

/// The registry's operations: bank "bank-1" (credential sha256("bank-1")),
/// merchant "m-1" paid at the issuer's key, programme 5, the monthly
/// programme 8 and key 5's wallet at bank-1.
#[must_use]
pub fn registry_ops() -> Vec<AdminOp> {
    vec![
        AdminOp::RegisterBank(Bank {
            id: "bank-1".to_owned(),
            name: "Bank One".to_owned(),
            credentials: vec![sha256(b"bank-1")],
        }),
        AdminOp::RegisterMerchant(Merchant {
            id: "m-1".to_owned(),
            name: "Merchant One".to_owned(),
            mcc: 5411,
            bank: "bank-1".to_owned(),
            payout_addresses: vec![issuer().address()],
        }),
        AdminOp::CreateProgramme(programme()),
        AdminOp::CreateProgramme(Programme {
            id: MONTHLY_PROGRAMME,
            name: "Monthly support".to_owned(),
            allowed_mccs: vec![5411],
            valid_from_ms: 0,
            valid_until_ms: u64::MAX,
            transferable: false,
            treasury: key(8).address(),
            per_payment_max_minor: None,
            payment_period: Some(PaymentPeriod::Month),
            refund_window_ms: None,
        }),
        AdminOp::RegisterWallet(Wallet { address: key(5).address(), bank: "bank-1".to_owned(), tier: 2 }),
    ]
}

/// The tier policy of the fixture ledger.
#[must_use]
pub fn tiers() -> TierPolicy {
    TierPolicy::e_cny_default(2)
}

#[must_use]
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        for op in registry_ops() {
            registry.check(&op, &tiers(), false).expect("the fixture registers");
            registry.apply(op);
        }
        registry
    })
}

/// A beneficiary's coin: 10,000 minor units of key 1's.
#[must_use]
pub fn coin() -> (OutPoint, Output) {
    (OutPoint { txid: TxId([3; 32]), index: 0 }, Output { owner: key(1).address(), amount_minor: 10_000, programme: 0 })
}

/// The merchant's takings: 5,000 minor units at its payout key, which its
/// bank may redeem.
#[must_use]
pub fn takings() -> (OutPoint, Output) {
    (
        OutPoint { txid: TxId([4; 32]), index: 0 },
        Output { owner: issuer().address(), amount_minor: 5_000, programme: 0 },
    )
}

/// The ledger's clock when a submission reaches it: after the programme's
/// end, within the first day.
pub const NOW_UNIX_MS: u64 = 60_000;

/// A fresh fixture ledger (each submission is applied to its own).
#[must_use]
pub fn ledger() -> Ledger {
    let unspent = HashMap::from([coin(), takings()]);
    let minted_minor = unspent.values().map(|o| o.amount_minor).sum();
    Ledger::new(genesis(), unspent, minted_minor, 0, 1).expect("the fixture conserves its supply").with_rules(
        registry().clone(),
        tiers(),
        HashMap::new(),
        HashMap::new(),
    )
}

/// Voters 1, 2 and 3, learner 4.
#[must_use]
pub fn membership() -> (BTreeSet<u64>, BTreeSet<u64>) {
    (BTreeSet::from([1, 2, 3]), BTreeSet::from([4]))
}
