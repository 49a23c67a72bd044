//! Redemption refusals over real gRPC: a merchant's bank burns some of the
//! merchant's takings and gives the rest back as change, and §10.1 names
//! what it may not do. The change goes to the merchant's own payout
//! addresses only (PAYEE_NOT_ALLOWED); a redemption burns something and
//! never gives back more of a programme than it spent of it
//! (NOT_CONSERVED); it spends one merchant's takings only (NOT_A_MERCHANT,
//! naming the input). Every refusal is checked for its code and its
//! `ErrorInfo` reason, and for leaving the ledger as it was: no block, no
//! output spent or created, nothing burned, every balance the same. Each
//! test ends with the redemption done right, so that the refusal was about
//! the one thing the test changed.

use crate::common;

use common::{TestLedger, assert_refusal, error_metadata};
use settled::client::{self, Client, Credential, output};
use settled::proto::{self, Reason};
use settled::{Address, ChainId, Keypair, OutPoint, Output, Transaction, TxKind, sha256};
use tonic::{Code, Status};

const BANK: &str = "redeeming-bank";
const BANK_TOKEN: &str = "redeeming-bank-token";
/// Earmarked money the shops may take (groceries).
const FOOD: u32 = 21;
const GROCERY_MCC: u32 = 5411;
const TAKINGS_MINOR: u64 = 400;
const WALLET_MINOR: u64 = 10_000;

type Coin = (OutPoint, Output);

/// Two grocers at one bank (so that the bank may redeem for either), the
/// first paid at two payout addresses; a wallet that paid each of them
/// unrestricted money and the first also food money.
struct Shops {
    ledger: TestLedger,
    bank: Client,
    alice: Keypair,
    /// The first grocer's payout addresses.
    shop: Keypair,
    shop_till: Keypair,
    other_shop: Keypair,
    takings: Coin,
    food_takings: Coin,
    other_takings: Coin,
    /// Alice's unrestricted change: a wallet's money.
    alice_cash: Coin,
    minted_minor: u64,
}

impl Shops {
    async fn new() -> Self {
        let mut ledger = TestLedger::start().await;
        let bank = proto::Bank {
            id: BANK.to_owned(),
            name: "Redeeming bank".to_owned(),
            credential_sha256: vec![sha256(BANK_TOKEN.as_bytes()).to_vec()],
        };
        ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
        let [alice, shop, shop_till, other_shop] = std::array::from_fn(|_| Keypair::generate());
        for (id, payouts) in [("shop", vec![&shop, &shop_till]), ("other-shop", vec![&other_shop])] {
            let merchant = proto::Merchant {
                id: id.to_owned(),
                name: id.to_owned(),
                mcc: GROCERY_MCC,
                bank_id: BANK.to_owned(),
                payout_addresses: payouts.iter().map(|key| key.address().0.to_vec()).collect(),
                deactivated: false,
            };
            let request = proto::RegisterMerchantRequest { merchant: Some(merchant) };
            ledger.client.admin.register_merchant(request).await.expect("merchant");
        }
        ledger.programme(FOOD).await;
        let coins = ledger
            .mint_outputs(
                vec![output(alice.address(), WALLET_MINOR, 0), output(alice.address(), WALLET_MINOR, FOOD)],
                "alice",
            )
            .await;
        let (cash, food) = (coins[0], coins[1]);
        let chain = ledger.chain;
        let paid = |coin: Coin, payee: &Keypair, reference: &[u8]| {
            let tx = client::pay(&chain, &alice, coin, payee.address(), TAKINGS_MINOR, reference);
            (tx.clone(), client::output_of(&tx, 0), client::output_of(&tx, 1))
        };
        let (to_shop, takings, cash) = paid(cash, &shop, b"to-shop");
        let (to_other, other_takings, alice_cash) = paid(cash, &other_shop, b"to-other-shop");
        let (food_to_shop, food_takings, _) = paid(food, &shop, b"food-to-shop");
        for tx in [to_shop, to_other, food_to_shop] {
            ledger.client.submit(&tx).await.expect("a grocer paid");
        }
        let bank = ledger.client.with_credential(Credential::token(BANK_TOKEN));
        Self {
            ledger,
            bank,
            alice,
            shop,
            shop_till,
            other_shop,
            takings,
            food_takings,
            other_takings,
            alice_cash,
            minted_minor: 2 * WALLET_MINOR,
        }
    }

    fn chain(&self) -> ChainId {
        self.ledger.chain
    }

    fn watched(&self) -> [Address; 4] {
        [self.alice.address(), self.shop.address(), self.shop_till.address(), self.other_shop.address()]
    }

    /// What a refusal must leave alone: the tip (with the burned total),
    /// the sequence, the unspent set counted from storage, and the
    /// balances of everyone in the test.
    async fn state(&mut self) -> (proto::GetInfoResponse, Vec<proto::GetBalanceResponse>) {
        let info = self.ledger.info(true).await;
        let mut balances = Vec::new();
        for address in self.watched() {
            balances.push(self.ledger.balance(&address).await);
        }
        (info, balances)
    }

    /// The bank submits `tx`; it is refused with FAILED_PRECONDITION and
    /// `reason`, and nothing changes. Returns the status.
    async fn refused(&mut self, tx: &Transaction, reason: Reason) -> Status {
        let before = self.state().await;
        let status = self.bank.submit(tx).await.expect_err("the redemption is refused");
        assert_refusal(&status, Code::FailedPrecondition, reason);
        let after = self.state().await;
        assert_eq!(after.0, before.0, "a refusal adds no block, burns nothing and moves no output");
        assert_eq!(after.1, before.1, "a refusal changes no balance");
        status
    }

    /// The bank submits `tx`, which burns `burned_minor`.
    async fn redeemed(&mut self, tx: &Transaction, burned_minor: u64) {
        let before = self.ledger.tip().await;
        let (receipt, duplicate) = self.bank.submit(tx).await.expect("redeemed");
        assert!(!duplicate);
        assert_eq!(receipt.block.header.burned_total_minor, before.burned_total_minor + burned_minor);
        let info = self.ledger.info(true).await;
        assert_eq!(info.unspent_total_minor, self.minted_minor - receipt.block.header.burned_total_minor);
    }

    async fn finish(mut self) {
        let audit = self.ledger.client.ledger.audit(proto::AuditRequest {}).await.expect("audit").into_inner();
        assert!(audit.failures.is_empty(), "{:?}", audit.failures);
        self.ledger.shutdown().await;
    }
}

/// A redemption of `inputs` with `outputs` as its change, signed by
/// `signers`.
fn redeem(chain: &ChainId, inputs: &[Coin], outputs: Vec<Output>, signers: &[&Keypair]) -> Transaction {
    let mut tx = Transaction {
        version: settled::TX_VERSION,
        kind: TxKind::Redeem,
        inputs: inputs.iter().map(|(outpoint, _)| *outpoint).collect(),
        outputs,
        reference: b"redeem".to_vec(),
        witnesses: Vec::new(),
    };
    client::sign(&mut tx, chain, signers);
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemptions_change_to_anyone_but_the_merchants_payout_addresses_is_refused_as_payee_not_allowed() {
    let mut s = Shops::new().await;
    let chain = s.chain();
    let stranger = Keypair::generate();
    // A wallet that paid the shop, another merchant, an unregistered address.
    for payee in [s.alice.address(), s.other_shop.address(), stranger.address()] {
        let tx = redeem(&chain, &[s.takings], vec![output(payee, 100, 0)], &[&s.shop]);
        s.refused(&tx, Reason::PayeeNotAllowed).await;
    }
    // One output outside the payout addresses spoils the whole change.
    let split = vec![output(s.shop.address(), 100, 0), output(s.alice.address(), 100, 0)];
    s.refused(&redeem(&chain, &[s.takings], split, &[&s.shop]), Reason::PayeeNotAllowed).await;

    // Change to the merchant's other payout address is its own.
    let tx = redeem(&chain, &[s.takings], vec![output(s.shop_till.address(), 100, 0)], &[&s.shop]);
    s.redeemed(&tx, TAKINGS_MINOR - 100).await;
    assert_eq!(s.ledger.balance(&s.shop_till.address()).await.total_minor, 100);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_that_burns_nothing_or_gives_back_more_than_it_spent_is_refused_as_not_conserved() {
    let mut s = Shops::new().await;
    let chain = s.chain();
    let shop = s.shop.address();
    let everything_back = redeem(&chain, &[s.takings], vec![output(shop, TAKINGS_MINOR, 0)], &[&s.shop]);
    s.refused(&everything_back, Reason::NotConserved).await;
    let more_back = redeem(&chain, &[s.takings], vec![output(shop, TAKINGS_MINOR + 1, 0)], &[&s.shop]);
    s.refused(&more_back, Reason::NotConserved).await;
    // Conserved per programme: burning all the food money cannot pay for
    // more unrestricted change than the unrestricted takings, though the
    // change is less than the two together.
    let coins = [s.takings, s.food_takings];
    let into_cash = redeem(&chain, &coins, vec![output(shop, TAKINGS_MINOR + 100, 0)], &[&s.shop]);
    s.refused(&into_cash, Reason::NotConserved).await;
    let into_food = redeem(&chain, &coins, vec![output(shop, TAKINGS_MINOR + 100, FOOD)], &[&s.shop]);
    s.refused(&into_food, Reason::NotConserved).await;

    // Each programme's change within what was spent of it.
    let change = vec![output(shop, TAKINGS_MINOR - 1, 0), output(shop, TAKINGS_MINOR, FOOD)];
    s.redeemed(&redeem(&chain, &coins, change, &[&s.shop]), 1).await;
    let balance = s.ledger.balance(&shop).await;
    let held: Vec<(u32, u64)> = balance.balances.iter().map(|b| (b.programme_id, b.amount_minor)).collect();
    assert_eq!(held, vec![(0, TAKINGS_MINOR - 1), (FOOD, TAKINGS_MINOR)]);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_holding_another_merchants_takings_is_refused_as_not_a_merchant_naming_that_input() {
    let mut s = Shops::new().await;
    let chain = s.chain();
    let (shop, other) = (s.shop.clone(), s.other_shop.clone());
    // Both owners sign and both merchants bank here: only the mix is wrong.
    let mixed = redeem(&chain, &[s.takings, s.other_takings], Vec::new(), &[&shop, &other]);
    let status = s.refused(&mixed, Reason::NotAMerchant).await;
    assert_eq!(error_metadata(&status)["input"], s.other_takings.0.to_string(), "the other merchant's input");
    // The first input decides whose redemption it is.
    let mixed = redeem(&chain, &[s.other_takings, s.takings], Vec::new(), &[&shop, &other]);
    let status = s.refused(&mixed, Reason::NotAMerchant).await;
    assert_eq!(error_metadata(&status)["input"], s.takings.0.to_string(), "the first merchant's input");
    // A wallet's coin next to a merchant's takings.
    let with_a_wallet = redeem(&chain, &[s.takings, s.alice_cash], Vec::new(), &[&shop, &s.alice]);
    let status = s.refused(&with_a_wallet, Reason::NotAMerchant).await;
    assert_eq!(error_metadata(&status)["input"], s.alice_cash.0.to_string(), "the wallet's input");

    // Each merchant's takings on their own.
    s.redeemed(&redeem(&chain, &[s.takings], Vec::new(), &[&shop]), TAKINGS_MINOR).await;
    s.redeemed(&redeem(&chain, &[s.other_takings], Vec::new(), &[&other]), TAKINGS_MINOR).await;
    s.finish().await;
}
