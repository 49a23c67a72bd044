//! Bank reconciliation over real gRPC: the resumable movement stream with
//! checkpoints, redemption, net positions between banks and statements.

use crate::common;

use std::collections::BTreeMap;

use common::{TestLedger, assert_refusal, to_proto};
use settled::client::{self, Client, Credential};
use settled::proto::subscribe_response::Item;
use settled::{Keypair, OutPoint, Output, proto, sha256};
use tonic::Code;

const BANK_A_TOKEN: &str = "reconciliation-bank-a";
const BANK_B_TOKEN: &str = "reconciliation-bank-b";

type Coin = (OutPoint, Output);

/// Two banks, each with a wallet and a merchant, an unregistered wallet,
/// and money moving between all of them.
struct World {
    ledger: TestLedger,
    wallet_a: Keypair,
    wallet_b: Keypair,
    shop_a: Keypair,
    shop_b: Keypair,
    outsider: Keypair,
    /// Unspent coins by owner, as the test moves them.
    coins: BTreeMap<settled::Address, Vec<Coin>>,
    minted_minor: u64,
}

impl World {
    async fn new() -> Self {
        let mut ledger = TestLedger::start().await;
        // Statements here say what one day holds: all of it in one day.
        ledger.keep_within_one_day();
        for (id, token) in [("bank-a", BANK_A_TOKEN), ("bank-b", BANK_B_TOKEN)] {
            let bank = proto::Bank {
                id: id.into(),
                name: format!("Bank {id}"),
                credential_sha256: vec![sha256(token.as_bytes()).to_vec()],
            };
            ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
        }
        let [wallet_a, wallet_b, shop_a, shop_b, outsider] = std::array::from_fn(|_| Keypair::generate());
        for (key, bank) in [(&wallet_a, "bank-a"), (&wallet_b, "bank-b")] {
            let wallet = proto::Wallet {
                address: key.address().0.to_vec(),
                bank_id: bank.into(),
                tier: 3,
                frozen: String::new(),
            };
            ledger.client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(wallet) }).await.unwrap();
        }
        for (id, key, bank) in [("shop-a", &shop_a, "bank-a"), ("shop-b", &shop_b, "bank-b")] {
            let merchant = proto::Merchant {
                id: id.into(),
                name: id.into(),
                mcc: 5411,
                bank_id: bank.into(),
                payout_addresses: vec![key.address().0.to_vec()],
                deactivated: false,
            };
            let request = proto::RegisterMerchantRequest { merchant: Some(merchant) };
            ledger.client.admin.register_merchant(request).await.expect("merchant");
        }
        let mut world =
            Self { ledger, wallet_a, wallet_b, shop_a, shop_b, outsider, coins: BTreeMap::new(), minted_minor: 0 };
        for (n, key) in [world.wallet_a.clone(), world.wallet_b.clone(), world.outsider.clone()].iter().enumerate() {
            let coins = world.ledger.fund_coins(key, &[1_000; 8], &format!("fund-{n}")).await;
            world.minted_minor += 8_000;
            world.coins.insert(key.address(), coins);
        }
        world
    }

    fn take_coin(&mut self, owner: &Keypair) -> Coin {
        self.coins.get_mut(&owner.address()).and_then(Vec::pop).expect("a coin left")
    }

    fn payment(
        &mut self,
        payer: &Keypair,
        payee: &Keypair,
        amount_minor: u64,
        reference: &str,
    ) -> settled::Transaction {
        let coin = self.take_coin(payer);
        let tx = client::pay(&self.ledger.chain, payer, coin, payee.address(), amount_minor, reference.as_bytes());
        for index in 0..u32::try_from(tx.outputs.len()).expect("few") {
            let (outpoint, output) = client::output_of(&tx, index);
            self.coins.entry(output.owner).or_default().insert(0, (outpoint, output));
        }
        tx
    }

    async fn pay(&mut self, payer: &Keypair, payee: &Keypair, amount_minor: u64, reference: &str) {
        let tx = self.payment(payer, payee, amount_minor, reference);
        self.ledger.client.submit(&tx).await.expect("payment confirmed");
    }

    /// Several payments at once, so that blocks hold more than one.
    async fn pay_concurrently(&mut self, payments: &[(&Keypair, &Keypair, u64)], tag: &str) {
        let txs: Vec<_> = payments
            .iter()
            .enumerate()
            .map(|(n, (payer, payee, amount))| self.payment(payer, payee, *amount, &format!("{tag}-{n}")))
            .collect();
        let calls = txs.iter().map(|tx| {
            let mut client = self.ledger.client.clone();
            async move { client.submit(tx).await.expect("payment confirmed") }
        });
        futures::future::join_all(calls).await;
    }

    fn bank_client(&self, token: &str) -> Client {
        self.ledger.client.with_credential(Credential::token(token))
    }

    async fn tip_height(&mut self) -> u64 {
        self.ledger.tip().await.height
    }
}

/// Everything a subscription sends up to and including `until_height`.
async fn subscribe(client: &Client, request: proto::SubscribeRequest) -> Result<Vec<Item>, tonic::Status> {
    let mut stream = client.clone().reconciliation.subscribe(request).await?.into_inner();
    let mut items = Vec::new();
    while let Some(response) = stream.message().await? {
        items.push(response.item.expect("an item"));
    }
    Ok(items)
}

/// A subscription after `after_sequence` up to `until_height` (0: live).
fn until(bank: &str, after_sequence: u64, until_height: u64) -> proto::SubscribeRequest {
    let until_height = (until_height > 0).then_some(until_height);
    proto::SubscribeRequest { bank: bank.into(), after_sequence, until_height, after_height: None }
}

fn movements(items: &[Item]) -> Vec<&proto::Movement> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Movement(movement) => Some(movement),
            Item::Checkpoint(_) => None,
        })
        .collect()
}

fn last_totals(items: &[Item]) -> proto::BankTotals {
    items
        .iter()
        .rev()
        .find_map(|item| match item {
            Item::Checkpoint(checkpoint) => checkpoint.totals.clone(),
            Item::Movement(_) => None,
        })
        .expect("a checkpoint")
}

/// What the movements add up to, as a bank following them would count.
fn totals_of(movements: &[&proto::Movement]) -> (u64, u64, u64) {
    let (mut credits, mut debits) = (0, 0);
    for entry in movements.iter().flat_map(|m| &m.entries) {
        match proto::Direction::try_from(entry.direction).expect("direction") {
            proto::Direction::Credit => credits += entry.amount_minor,
            proto::Direction::Debit => debits += entry.amount_minor,
            proto::Direction::Unspecified => panic!("unspecified direction"),
        }
    }
    (movements.len() as u64, credits, debits)
}

/// Every checkpoint's header is signed by the engine for the ledger's chain
/// and chains to the one before, and its totals equal the movements
/// received so far.
fn assert_stream_consistent(items: &[Item], engine_key: &settled::Address, chain: &settled::ChainId) {
    let mut previous: Option<Vec<u8>> = None;
    let mut received: Vec<&proto::Movement> = Vec::new();
    for item in items {
        match item {
            Item::Movement(movement) => received.push(movement),
            Item::Checkpoint(checkpoint) => {
                let block = checkpoint.block.as_ref().expect("header");
                let signed = client::header_from_proto(block).expect("a header");
                assert_eq!(block.hash, signed.header.hash().to_vec(), "block {}: the hash of its fields", block.height);
                assert!(signed.verify(engine_key, chain), "block {} is signed", block.height);
                if let Some(previous) = &previous {
                    assert_eq!(&block.previous_hash, previous, "block {} chains to the one before", block.height);
                }
                previous = Some(block.hash.clone());
                let totals = checkpoint.totals.as_ref().expect("totals");
                let (count, credits, debits) = totals_of(&received);
                assert_eq!(
                    (totals.movements, totals.credits_minor, totals.debits_minor),
                    (count, credits, debits),
                    "checkpoint {} totals",
                    block.height
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bank_sees_exactly_its_own_customers_movements_with_checkpoints_that_add_up() {
    let mut w = World::new().await;
    let (wallet_a, wallet_b, shop_a, shop_b, outsider) =
        (w.wallet_a.clone(), w.wallet_b.clone(), w.shop_a.clone(), w.shop_b.clone(), w.outsider.clone());
    w.pay(&wallet_a, &shop_b, 300, "a-pays-b").await;
    w.pay(&wallet_b, &shop_a, 200, "b-pays-a").await;
    w.pay(&wallet_b, &shop_b, 50, "b-pays-b").await;
    w.pay(&outsider, &shop_a, 70, "outsider-pays-a").await;
    let tip = w.tip_height().await;
    let engine_key = w.ledger.engine_key().await;

    let customers_a = [wallet_a.address(), shop_a.address()];
    let customers_b = [wallet_b.address(), shop_b.address()];
    for (token, customers, others) in
        [(BANK_A_TOKEN, customers_a, customers_b), (BANK_B_TOKEN, customers_b, customers_a)]
    {
        let items = subscribe(&w.bank_client(token), until("", 0, tip)).await.expect("subscribed");
        assert_stream_consistent(&items, &engine_key, &w.ledger.chain);
        let checkpoints = items.iter().filter(|i| matches!(i, Item::Checkpoint(_))).count() as u64;
        assert_eq!(checkpoints, tip + 1, "one checkpoint per block, genesis included");
        let received = movements(&items);
        // The funding mint and three of the four payments concern each bank.
        assert_eq!(received.len(), 4, "{token}");
        for entry in received.iter().flat_map(|m| &m.entries) {
            let address = settled::Address(entry.address.clone().try_into().expect("32 bytes"));
            assert!(customers.contains(&address), "{token} sees only its customers");
            assert!(!others.contains(&address));
        }
        let balance: i128 = {
            let mut sum = 0i128;
            for customer in customers {
                sum +=
                    i128::from(w.ledger.balance(&customer).await.balances.iter().map(|b| b.amount_minor).sum::<u64>());
            }
            sum
        };
        let totals = last_totals(&items);
        assert_eq!(i128::from(totals.credits_minor) - i128::from(totals.debits_minor), balance, "{token}");
    }

    let items = subscribe(&w.bank_client(BANK_A_TOKEN), until("", 0, tip)).await.unwrap();
    let from_outsider =
        movements(&items).into_iter().find(|m| m.entries[0].counterparty == outsider.address().0.to_vec());
    let from_outsider = from_outsider.expect("the outsider's payment reaches shop-a's bank");
    assert_eq!(from_outsider.merchant, "shop-a");
    assert_eq!(from_outsider.entries[0].counterparty_bank, "", "the outsider has no bank");
    assert_eq!(from_outsider.kind, proto::MovementKind::Payment as i32);

    let denied = subscribe(&w.bank_client(BANK_A_TOKEN), until("bank-b", 0, tip)).await.expect_err("not its own");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unknown = subscribe(&w.ledger.client, until("bank-z", 0, tip)).await.expect_err("no such bank");
    assert_eq!(unknown.code(), Code::NotFound);
    let operator = subscribe(&w.ledger.client, until("bank-b", 0, tip)).await.expect("the operator names a bank");
    assert_eq!(movements(&operator).len(), 4);
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_after_any_movement_or_checkpoint_gives_the_rest_without_gap_or_duplicate() {
    let mut w = World::new().await;
    let (wallet_a, wallet_b, shop_a, shop_b) =
        (w.wallet_a.clone(), w.wallet_b.clone(), w.shop_a.clone(), w.shop_b.clone());
    for round in 0..3 {
        w.pay_concurrently(
            &[(&wallet_a, &shop_b, 10), (&wallet_b, &shop_a, 20), (&wallet_a, &shop_a, 30), (&wallet_b, &shop_b, 40)],
            &format!("round-{round}"),
        )
        .await;
    }
    let tip = w.tip_height().await;
    let bank = w.bank_client(BANK_A_TOKEN);
    let all = subscribe(&bank, until("", 0, tip)).await.unwrap();
    assert!(
        movements(&all).windows(2).any(|pair| pair[0].height == pair[1].height),
        "some block holds two of the bank's movements, so resuming mid-block is exercised"
    );
    for (position, item) in all.iter().enumerate() {
        let request = match item {
            Item::Movement(movement) => until("", movement.sequence, tip),
            Item::Checkpoint(checkpoint) => {
                let block = checkpoint.block.as_ref().unwrap();
                let last_sequence = block.first_sequence + u64::from(block.tx_count) - 1;
                proto::SubscribeRequest {
                    bank: String::new(),
                    after_sequence: last_sequence,
                    until_height: Some(tip),
                    after_height: Some(block.height),
                }
            }
        };
        let rest = subscribe(&bank, request.clone()).await.unwrap();
        if rest != all[position + 1..].to_vec() {
            let h = |items: &[Item]| {
                items
                    .iter()
                    .map(|i| match i {
                        Item::Movement(m) => format!("m{}@{}", m.sequence, m.height),
                        Item::Checkpoint(c) => format!("c{}", c.block.as_ref().unwrap().height),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            panic!("request {request:?}\nall {}\ngot {}", h(&all), h(&rest));
        }
        assert_eq!(rest, all[position + 1..].to_vec(), "resumed after item {position}");
    }
    let past = subscribe(&bank, until("", 1_000_000, 0)).await.expect_err("a sequence the ledger has not reached");
    assert_eq!(past.code(), Code::OutOfRange);
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_delivers_new_blocks_and_resumes_after_a_server_restart() {
    let mut w = World::new().await;
    let (wallet_a, shop_b) = (w.wallet_a.clone(), w.shop_b.clone());
    let bank = w.bank_client(BANK_A_TOKEN);
    let mut stream = bank.clone().reconciliation.subscribe(until("", 0, 0)).await.unwrap().into_inner();
    let mut seen: Vec<Item> = Vec::new();
    let tip = w.tip_height().await;
    // Catch up with history: up to the tip's checkpoint.
    loop {
        let item = stream.message().await.unwrap().expect("live").item.unwrap();
        let done = matches!(&item, Item::Checkpoint(c) if c.block.as_ref().unwrap().height == tip);
        seen.push(item);
        if done {
            break;
        }
    }
    w.pay(&wallet_a, &shop_b, 111, "live").await;
    let item = tokio::time::timeout(common::HANG_GUARD, stream.message())
        .await
        .expect("hung: the new movement never arrived")
        .unwrap()
        .unwrap()
        .item
        .unwrap();
    let Item::Movement(movement) = &item else { panic!("a movement first, got {item:?}") };
    assert_eq!(movement.entries[0].amount_minor, 111);
    let last_sequence = movement.sequence;
    seen.push(item);
    let checkpoint = stream.message().await.unwrap().unwrap().item.unwrap();
    let Item::Checkpoint(last_checkpoint) = &checkpoint else { panic!("then its checkpoint") };
    let last_height = last_checkpoint.block.as_ref().unwrap().height;
    seen.push(checkpoint);

    w.ledger.restart().await;
    let ended = stream.message().await.expect_err("a stopping server ends the stream with a status");
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    w.pay(&wallet_a, &shop_b, 222, "after-restart").await;
    let tip = w.tip_height().await;
    let bank = w.bank_client(BANK_A_TOKEN);
    let resume = proto::SubscribeRequest {
        bank: String::new(),
        after_sequence: last_sequence,
        until_height: Some(tip),
        after_height: Some(last_height),
    };
    let rest = subscribe(&bank, resume).await.unwrap();
    let rest_movements = movements(&rest);
    assert_eq!(rest_movements.len(), 1, "only the payment after the restart");
    assert_eq!(rest_movements[0].entries[0].amount_minor, 222);
    // Resumed after the last movement seen: the chain of checkpoints and the
    // running totals carry on across the restart.
    seen.extend(rest);
    let engine_key = w.ledger.engine_key().await;
    assert_stream_consistent(&seen, &engine_key, &w.ledger.chain);
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchants_bank_redeems_its_takings_which_leave_the_supply() {
    let mut w = World::new().await;
    let (wallet_a, wallet_b, shop_a) = (w.wallet_a.clone(), w.wallet_b.clone(), w.shop_a.clone());
    w.pay(&wallet_b, &shop_a, 400, "takings").await;
    let takings = w.take_coin(&shop_a);
    assert_eq!(takings.1.amount_minor, 400);

    // Only the merchant's own bank redeems, and not through a terminal.
    let redeem = client::redeem(&w.ledger.chain, &shop_a, &[takings], 100, b"redeem-1");
    let mut bank_b = w.bank_client(BANK_B_TOKEN);
    let status = bank_b.submit(&redeem).await.expect_err("another bank's merchant");
    assert_refusal(&status, Code::PermissionDenied, proto::Reason::PermissionDenied);
    // A wallet's money is not a merchant's takings.
    let coin = w.take_coin(&wallet_a);
    let not_takings = client::redeem(&w.ledger.chain, &wallet_a, &[coin], 0, b"redeem-wallet");
    let status = w.bank_client(BANK_A_TOKEN).submit(&not_takings).await.expect_err("not a merchant");
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::NotAMerchant);
    // At the mint service a redemption is the wrong service.
    let status = w.ledger.mint_proto(to_proto(&redeem)).await.expect_err("wrong service");
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::WrongService);

    let before = w.ledger.tip().await;
    let (receipt, _) = w.bank_client(BANK_A_TOKEN).submit(&redeem).await.expect("redeemed");
    assert_eq!(receipt.block.header.burned_total_minor, before.burned_total_minor + 300);
    assert_eq!(receipt.block.header.minted_total_minor, before.minted_total_minor);
    let balance = w.ledger.balance(&shop_a.address()).await;
    assert_eq!(balance.balances.iter().map(|b| b.amount_minor).sum::<u64>(), 100, "the change stays");
    let info = w.ledger.info(true).await;
    let tip = info.tip.as_ref().unwrap();
    assert_eq!((tip.minted_total_minor, tip.burned_total_minor), (w.minted_minor, 300));
    assert_eq!(info.unspent_total_minor, w.minted_minor - 300, "supply = minted - burned = sum of unspent");

    let tip = w.tip_height().await;
    let items = subscribe(&w.bank_client(BANK_A_TOKEN), until("", receipt.sequence - 1, tip)).await.unwrap();
    let redeemed = movements(&items);
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0].kind, proto::MovementKind::Redeem as i32);
    assert_eq!(redeemed[0].merchant, "shop-a");
    assert_eq!(redeemed[0].entries.len(), 1, "net of change: one debit");
    assert_eq!(redeemed[0].entries[0].amount_minor, 300);
    assert_eq!(redeemed[0].entries[0].direction, proto::Direction::Debit as i32);

    let audit = w.ledger.client.ledger.audit(proto::AuditRequest {}).await.unwrap().into_inner();
    assert!(audit.failures.is_empty(), "{:?}", audit.failures);
    assert_eq!(audit.burned_minor, 300);
    w.ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_positions_between_banks_sum_to_zero_and_issuance_minus_redemption_is_the_supply_change() {
    let mut w = World::new().await;
    let (wallet_a, wallet_b, shop_a, shop_b, outsider) =
        (w.wallet_a.clone(), w.wallet_b.clone(), w.shop_a.clone(), w.shop_b.clone(), w.outsider.clone());
    let start = w.tip_height().await;
    w.pay(&wallet_a, &shop_b, 300, "a-b").await;
    w.pay(&wallet_b, &shop_a, 120, "b-a").await;
    w.pay(&outsider, &shop_a, 70, "u-a").await;
    w.pay(&wallet_a, &shop_a, 5, "a-a").await;
    let takings = w.take_coin(&shop_b);
    let redeem = client::redeem(&w.ledger.chain, &shop_b, &[takings], 0, b"redeem-b");
    w.bank_client(BANK_B_TOKEN).submit(&redeem).await.expect("redeemed");
    w.ledger.fund(&wallet_b, 55, "late-issue").await;

    let response = w
        .ledger
        .client
        .reconciliation
        .get_net_positions(proto::GetNetPositionsRequest { after_height: start, until_height: 0, bank: String::new() })
        .await
        .unwrap()
        .into_inner();
    let flow = |payer: &str, payee: &str| {
        response.flows.iter().find(|f| f.payer_bank == payer && f.payee_bank == payee).map_or(0, |f| f.amount_minor)
    };
    assert_eq!(flow("bank-a", "bank-b"), 300);
    assert_eq!(flow("bank-b", "bank-a"), 120);
    assert_eq!(flow("", "bank-a"), 70);
    assert!(response.flows.iter().all(|f| f.payer_bank != f.payee_bank), "within a bank is not a flow");
    let position = |bank: &str| response.positions.iter().find(|p| p.bank == bank).cloned().expect("position");
    assert_eq!(position("bank-a").net_minor, 120 + 70 - 300);
    assert_eq!(position("bank-b").net_minor, 300 - 120);
    assert_eq!(position("").net_minor, -70);
    assert_eq!(response.positions.iter().map(|p| p.net_minor).sum::<i64>(), 0);
    assert_eq!(position("bank-b").redeemed_minor, 300);
    assert_eq!(position("bank-b").issued_minor, 55);
    let supply = |h: &proto::BlockHeader| i128::from(h.minted_total_minor) - i128::from(h.burned_total_minor);
    let issued: i128 =
        response.positions.iter().map(|p| i128::from(p.issued_minor) - i128::from(p.redeemed_minor)).sum();
    assert_eq!(issued, supply(response.until_block.as_ref().unwrap()) - supply(response.from_block.as_ref().unwrap()));

    let empty = proto::GetNetPositionsRequest { after_height: 5, until_height: 5, bank: String::new() };
    let status = w.ledger.client.reconciliation.get_net_positions(empty).await.expect_err("an empty window");
    assert_eq!(status.code(), Code::InvalidArgument);
    // A bank reads its own position and the flows it is part of, the
    // same figures the operator reads; not another bank's.
    let window = |bank: &str| proto::GetNetPositionsRequest { after_height: start, until_height: 0, bank: bank.into() };
    let own = w.bank_client(BANK_A_TOKEN).reconciliation.get_net_positions(window("")).await.unwrap().into_inner();
    assert_eq!(own.positions, vec![position("bank-a")]);
    let expected: Vec<_> =
        response.flows.iter().filter(|f| f.payer_bank == "bank-a" || f.payee_bank == "bank-a").cloned().collect();
    assert_eq!(own.flows, expected);
    assert_eq!(own.until_block, response.until_block);
    let named = w.bank_client(BANK_A_TOKEN).reconciliation.get_net_positions(window("bank-a")).await.unwrap();
    assert_eq!(named.into_inner(), own);
    let status = w
        .bank_client(BANK_A_TOKEN)
        .reconciliation
        .get_net_positions(window("bank-b"))
        .await
        .expect_err("a bank does not see the others' positions");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("bank-b"), "{}", status.message());
    // The operator may ask for one bank, and is told of one that is not.
    let b = w.ledger.client.reconciliation.get_net_positions(window("bank-b")).await.unwrap().into_inner();
    assert_eq!(b.positions, vec![position("bank-b")]);
    let status = w.ledger.client.reconciliation.get_net_positions(window("bank-z")).await.expect_err("no such bank");
    assert_eq!(status.code(), Code::NotFound);
    w.ledger.shutdown().await;
}

async fn statement(
    client: &Client,
    bank: &str,
    date: &str,
    format: proto::StatementFormat,
) -> Result<Vec<u8>, tonic::Status> {
    let request = proto::GetStatementRequest { bank: bank.into(), date: date.into(), format: format.into() };
    let mut stream = client.clone().reconciliation.get_statement(request).await?.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend_from_slice(&chunk.data);
    }
    Ok(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_days_camt053_statement_balances_and_matches_the_ledger_to_the_unit() {
    let mut w = World::new().await;
    let (wallet_a, wallet_b, shop_a, shop_b, outsider) =
        (w.wallet_a.clone(), w.wallet_b.clone(), w.shop_a.clone(), w.shop_b.clone(), w.outsider.clone());
    w.pay(&wallet_a, &shop_b, 300, "a-b").await;
    w.pay(&wallet_b, &shop_a, 120, "b-a").await;
    w.pay(&outsider, &shop_a, 70, "u-a").await;
    let takings = w.take_coin(&shop_a);
    w.bank_client(BANK_A_TOKEN)
        .submit(&client::redeem(&w.ledger.chain, &shop_a, &[takings], 20, b"r"))
        .await
        .expect("redeemed");
    let today = w.ledger.today();
    let bank = w.bank_client(BANK_A_TOKEN);

    let xml = statement(&bank, "", &today, proto::StatementFormat::Camt053).await.expect("statement");
    let checked = settled::statement::check_camt053(&xml, 2).expect("a statement that adds up");
    assert_eq!(checked.bank_id, "bank-a");
    assert_eq!(checked.date, today);
    assert_eq!(checked.currency, "CNY");
    assert_eq!(checked.opening_minor, 0, "nothing before today on a new ledger");
    assert!(!checked.closed, "today is not over: its closing balance is interim (ITBD)");
    let mut held = 0i128;
    for customer in [wallet_a.address(), shop_a.address()] {
        held += i128::from(w.ledger.balance(&customer).await.balances.iter().map(|b| b.amount_minor).sum::<u64>());
    }
    assert_eq!(checked.closing_minor, held, "closing balance = what the bank's customers hold");
    let tip = w.tip_height().await;
    let items = subscribe(&bank, until("", 0, tip)).await.unwrap();
    let streamed: Vec<(Vec<u8>, u64)> =
        movements(&items).iter().flat_map(|m| m.entries.iter().map(|e| (m.txid.clone(), e.amount_minor))).collect();
    assert_eq!(checked.entries.len(), streamed.len(), "one entry per streamed entry");
    for ((txid, _, amount), (streamed_txid, streamed_amount)) in checked.entries.iter().zip(&streamed) {
        assert_eq!((&txid.0.to_vec(), amount), (streamed_txid, streamed_amount));
    }

    let csv = statement(&bank, "", &today, proto::StatementFormat::Csv).await.expect("csv");
    let rows = String::from_utf8(csv).unwrap().lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(rows, streamed.len() + 1, "a header and one row per entry");

    let empty = statement(&bank, "", "2020-01-01", proto::StatementFormat::Camt053).await.expect("a quiet day");
    let quiet = settled::statement::check_camt053(&empty, 2).expect("adds up");
    assert_eq!((quiet.opening_minor, quiet.closing_minor, quiet.entries.len()), (0, 0, 0));
    assert!(quiet.closed, "a past day closes (CLBD)");
    let status = statement(&bank, "", "2026-02-30", proto::StatementFormat::Camt053).await.expect_err("no such day");
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = statement(&bank, "bank-b", &today, proto::StatementFormat::Csv).await.expect_err("another bank");
    assert_eq!(status.code(), Code::PermissionDenied);
    w.ledger.shutdown().await;
}

/// The reference bank feed's reconnect policy, in process: a server
/// restart (on the same address) breaks the stream, the follower says so,
/// reconnects from its own cursor and reaches the block after the restart
/// with every movement once and every checkpoint checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_feed_reconnects_through_a_restart_and_counts_every_movement_once() {
    use settled::follow::{Break, Cursor, Event, Follower};
    let mut w = World::new().await;
    let (wallet_a, shop_b, wallet_b) = (w.wallet_a.clone(), w.shop_b.clone(), w.wallet_b.clone());
    // On an address outside the ephemeral range (`dev::free_port`): no
    // other test can take it while the server restarts.
    let address = settled::dev::free_port();
    w.ledger.restart_with(|config| config.listen = address).await;
    w.pay(&wallet_a, &shop_b, 101, "before").await;
    let before = w.tip_height().await;
    let mut follower =
        Follower::new(w.bank_client(BANK_A_TOKEN), Cursor::new("bank-a"), None).await.expect("the feed starts");
    let (events, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let (breaks, mut broke) = tokio::sync::mpsc::unbounded_channel();
    let feed = tokio::spawn(async move {
        let run = follower
            .run_reconnecting(
                None,
                Some(before + 1),
                std::time::Duration::from_millis(50),
                |event| {
                    if let Event::Movement(movement) = event {
                        events.send((movement.sequence, movement.entries[0].amount_minor)).expect("test listens");
                    }
                },
                |why, cursor: &Cursor| {
                    let status = match why {
                        Break::Ended => None,
                        Break::Failed(status) => Some(status.code()),
                    };
                    breaks.send((status, cursor.after_sequence)).expect("test listens");
                },
            )
            .await;
        (run, follower.cursor)
    });
    // The feed is live at the tip before the server goes.
    let mut movements = Vec::new();
    while movements.last().map(|(_, amount)| *amount) != Some(101) {
        movements.push(seen.recv().await.expect("the history"));
    }
    w.ledger.restart_with(|config| config.listen = address).await;
    let (status, at) = broke.recv().await.expect("the break is told");
    assert_eq!(status, Some(Code::Unavailable), "a stopping server ends the stream");
    assert_eq!(at, movements.last().expect("seen").0, "the cursor holds the last movement seen");
    w.pay(&wallet_a, &shop_b, 202, "after").await;
    w.pay(&wallet_b, &shop_b, 303, "not-bank-a").await;
    let (run, cursor) = tokio::time::timeout(common::HANG_GUARD, feed)
        .await
        .expect("hung: the feed never reached the block after the restart")
        .expect("no panic");
    run.expect("every checkpoint checked out");
    while let Ok(movement) = seen.try_recv() {
        movements.push(movement);
    }
    let sequences: Vec<u64> = movements.iter().map(|(sequence, _)| *sequence).collect();
    assert!(sequences.windows(2).all(|pair| pair[0] < pair[1]), "no movement twice: {sequences:?}");
    assert_eq!(movements.last().map(|(_, amount)| *amount), Some(202), "the payment after the restart arrived");
    assert_eq!(cursor.after_height, Some(before + 1));
    w.ledger.shutdown().await;
}

/// A request the server refuses (a bank it does not know) ends the feed at
/// once: retrying it cannot succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_feed_does_not_retry_a_refused_request() {
    use settled::follow::{Cursor, FollowError, Follower};
    let w = World::new().await;
    let mut follower =
        Follower::new(w.bank_client(BANK_A_TOKEN), Cursor::new("bank-b"), None).await.expect("the feed starts");
    let mut breaks = 0;
    let run = tokio::time::timeout(
        common::HANG_GUARD,
        follower.run_reconnecting(None, None, std::time::Duration::from_millis(10), |_| {}, |_, _| breaks += 1),
    )
    .await
    .expect("hung: the refusal did not end the feed");
    let Err(FollowError::Rpc(status)) = run else { panic!("a refusal: {run:?}") };
    assert!(settled::follow::is_refusal(&status), "{status:?}");
    assert_eq!(breaks, 0, "nothing retried");
    w.ledger.shutdown().await;
}
