//! Receipts prove a payment offline against the engine key; any change to one
//! makes it fail. Confirmed payments, balances and the hash chain survive a
//! restart, and the chain continues where it stopped. `GetPayment` and
//! `GetBlock` read what was confirmed.

use crate::common;

use common::{TestLedger, streamed_receipt, to_proto};
use settled::client::{self, output};
use settled::proto;
use settled::{Address, BlockHeader, ChainId, Keypair, Receipt, ReceiptError, ReceiptJson, TxId};
use tonic::Code;

/// A change made to a copy of a receipt.
type Edit<'a> = &'a dyn Fn(&mut Receipt);

fn header_from_proto(h: &proto::BlockHeader) -> BlockHeader {
    BlockHeader {
        height: h.height,
        previous_hash: h.previous_hash.as_slice().try_into().expect("32 bytes"),
        merkle_root: h.merkle_root.as_slice().try_into().expect("32 bytes"),
        first_sequence: h.first_sequence,
        tx_count: h.tx_count,
        time_unix_ms: h.time_unix_ms,
        minted_total_minor: h.minted_total_minor,
        burned_total_minor: h.burned_total_minor,
    }
}

/// The header's `hash` field is the hash of its fields, and the engine
/// signed it for the ledger's chain.
fn assert_header_signed(h: &proto::BlockHeader, engine_key: &Address, chain: &ChainId) {
    let header = header_from_proto(h);
    let hash = header.hash();
    assert_eq!(h.hash, hash.to_vec(), "block {}: hash is the hash of the header fields", h.height);
    let signature: [u8; 64] = h.engine_signature.as_slice().try_into().expect("64 bytes");
    assert!(
        settled::verify_signature(engine_key, &header.signing_message(chain), &signature),
        "block {} is signed by the engine for the chain",
        h.height
    );
}

/// Pays `count` payments at once on a stream, until one lands in a block of
/// at least three transactions; returns its receipt. Group commit makes
/// that all but certain on the first try; the loop keeps the test
/// independent of timing.
async fn receipt_from_a_block_of_several(ledger: &mut TestLedger) -> Receipt {
    let alice = Keypair::generate();
    for round in 0..20 {
        let coins = ledger.fund_coins(&alice, &[100; 32], &format!("round-{round}")).await;
        let requests = (0u64..)
            .zip(&coins)
            .map(|(i, coin)| {
                (i, to_proto(&client::pay(&ledger.chain, &alice, *coin, Keypair::generate().address(), 10, b"")))
            })
            .collect();
        let results = ledger.submit_stream(requests).await;
        if let Some(receipt) = results.values().map(streamed_receipt).find(|r| r.block.header.tx_count >= 3) {
            return receipt;
        }
    }
    panic!("twenty rounds of 32 concurrent payments never shared a block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_verify_offline_with_the_engine_key_from_get_info() {
    let mut ledger = TestLedger::start().await;
    let info = ledger.info(false).await;
    let engine_key = Address::from_slice(&info.engine_public_key).expect("32-byte engine key");
    // The key the server reports is the one in its data dir (what an
    // operator would pin out of band).
    let secret = std::fs::read_to_string(ledger.data_dir().join("engine.key")).expect("engine key file");
    assert_eq!(Keypair::from_secret_hex(&secret).expect("valid key").address(), engine_key);

    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let mint = ledger.mint_tx(vec![output(alice.address(), 1_000, 0)], "row-1");
    let (mint_receipt, _) = ledger.client.mint(&mint).await.expect("confirmed");
    mint_receipt.verify(&engine_key, &ledger.chain).expect("a mint receipt verifies");
    let payment = client::pay(&ledger.chain, &alice, client::output_of(&mint, 0), bob.address(), 10, b"inv");
    let (receipt, _) = ledger.client.submit(&payment).await.expect("confirmed");
    receipt.verify(&engine_key, &ledger.chain).expect("a payment receipt verifies");
    assert_eq!(receipt.txid, settled::txid(&payment));
    assert_eq!(receipt.sequence, mint_receipt.sequence + 1, "sequences follow each other");

    let several = receipt_from_a_block_of_several(&mut ledger).await;
    assert!(!several.merkle_path.is_empty());
    several.verify(&engine_key, &ledger.chain).expect("a receipt from a block of several verifies");

    // The JSON form used by the CLI carries the same proof.
    let json: ReceiptJson = (&several).into();
    let text = serde_json::to_string(&json).expect("serialises");
    let back = Receipt::try_from(&serde_json::from_str::<ReceiptJson>(&text).expect("parses")).expect("valid");
    assert_eq!(back, several);
    back.verify(&engine_key, &ledger.chain).expect("verifies after a JSON round trip");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_receipts_fail_verification() {
    let mut ledger = TestLedger::start().await;
    let engine_key = ledger.engine_key().await;
    let receipt = receipt_from_a_block_of_several(&mut ledger).await;
    receipt.verify(&engine_key, &ledger.chain).expect("the untouched receipt verifies");
    let tampered = |edit: &dyn Fn(&mut Receipt)| {
        let mut copy = receipt.clone();
        edit(&mut copy);
        assert_ne!(copy, receipt, "the edit changes something");
        copy.verify(&engine_key, &ledger.chain)
    };

    assert_eq!(tampered(&|r| r.txid.0[0] ^= 1), Err(ReceiptError::NotInBlock), "changed txid");
    assert!(matches!(tampered(&|r| r.sequence += 1), Err(ReceiptError::WrongSequence { .. })), "changed sequence");
    assert!(matches!(tampered(&|r| r.sequence -= 1), Err(ReceiptError::WrongSequence { .. })), "changed sequence");
    for step in 0..receipt.merkle_path.len() {
        assert_eq!(
            tampered(&|r| r.merkle_path[step].sibling_on_left ^= true),
            Err(ReceiptError::NotInBlock),
            "flipped side of Merkle step {step}"
        );
        assert_eq!(
            tampered(&|r| r.merkle_path[step].sibling[31] ^= 1),
            Err(ReceiptError::NotInBlock),
            "changed sibling of Merkle step {step}"
        );
    }
    assert_eq!(
        tampered(&|r| {
            r.merkle_path.pop();
        }),
        Err(ReceiptError::NotInBlock),
        "dropped Merkle step"
    );
    assert!(
        matches!(
            tampered(&|r| r.index_in_block = (r.index_in_block + 1) % r.block.header.tx_count),
            Err(ReceiptError::WrongPosition(..))
        ),
        "changed position"
    );
    let stranger = Keypair::generate().address();
    assert_eq!(
        receipt.verify(&stranger, &ledger.chain),
        Err(ReceiptError::BadEngineSignature(stranger, ledger.chain)),
        "wrong engine key"
    );
    let elsewhere = ChainId([7; 32]);
    assert_eq!(
        receipt.verify(&engine_key, &elsewhere),
        Err(ReceiptError::BadEngineSignature(engine_key, elsewhere)),
        "another chain"
    );
    assert_eq!(
        tampered(&|r| r.block.signature[0] ^= 1),
        Err(ReceiptError::BadEngineSignature(engine_key, ledger.chain)),
        "changed signature"
    );
    let header_edits: [(&str, Edit); 8] = [
        ("height", &|r| r.block.header.height += 1),
        ("previous_hash", &|r| r.block.header.previous_hash[0] ^= 1),
        ("merkle_root", &|r| r.block.header.merkle_root[0] ^= 1),
        ("first_sequence", &|r| r.block.header.first_sequence += 1),
        ("tx_count", &|r| r.block.header.tx_count += 1),
        ("time_unix_ms", &|r| r.block.header.time_unix_ms += 1),
        ("minted_total_minor", &|r| r.block.header.minted_total_minor += 1),
        ("burned_total_minor", &|r| r.block.header.burned_total_minor += 1),
    ];
    for (field, edit) in header_edits {
        assert_eq!(
            tampered(edit),
            Err(ReceiptError::BadEngineSignature(engine_key, ledger.chain)),
            "altered header field {field}"
        );
    }

    // Tampering the JSON form: a block hash that does not match the fields.
    let mut json: ReceiptJson = (&receipt).into();
    json.block.minted_total_minor += 1;
    assert_eq!(
        Receipt::try_from(&json),
        Err("block.hash is not the hash of the header fields".to_owned()),
        "the JSON block hash no longer matches its fields"
    );
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_payments_and_balances_survive_a_restart_and_the_chain_continues() {
    let mut ledger = TestLedger::start().await;
    let engine_key = ledger.engine_key().await;
    let (alice, bob, shop) = (Keypair::generate(), Keypair::generate(), Keypair::generate());
    let coins = ledger.fund_coins(&alice, &[1_000, 2_000, 3_000], "rows").await;
    let mut receipts = Vec::new();
    for (i, coin) in coins.iter().enumerate() {
        let payee = if i == 0 { bob.address() } else { shop.address() };
        let payment =
            client::pay(&ledger.chain, &alice, *coin, payee, 100 * (i as u64 + 1), format!("inv-{i}").as_bytes());
        receipts.push((payment.clone(), ledger.client.submit(&payment).await.expect("confirmed").0));
    }
    let balances_before = (
        ledger.balance(&alice.address()).await,
        ledger.balance(&bob.address()).await,
        ledger.balance(&shop.address()).await,
    );
    let unspent_before = ledger.unspent(&alice.address()).await;
    let info_before = ledger.info(true).await;
    let tip_before = info_before.tip.clone().expect("tip");

    ledger.restart().await;

    let info_after = ledger.info(true).await;
    assert_eq!(info_after, info_before, "the ledger reopens exactly at its last durable block");
    let balances_after = (
        ledger.balance(&alice.address()).await,
        ledger.balance(&bob.address()).await,
        ledger.balance(&shop.address()).await,
    );
    assert_eq!(balances_after, balances_before, "balances survive");
    assert_eq!(balances_after.1.total_minor, 100);
    assert_eq!(balances_after.2.total_minor, 500);
    assert_eq!(ledger.unspent(&alice.address()).await, unspent_before, "unspent outputs survive");
    for (payment, receipt) in &receipts {
        ledger.assert_payment_found(payment, receipt).await;
    }

    // The chain continues: the next block links to the old tip, heights and
    // sequences follow on without a gap.
    let change = client::output_of(&receipts[2].0, 1);
    let next = client::pay(&ledger.chain, &alice, change, bob.address(), 1, b"after-restart");
    let (next_receipt, _) = ledger.client.submit(&next).await.expect("confirmed after restart");
    next_receipt.verify(&engine_key, &ledger.chain).expect("verifies with the same engine key");
    let header = next_receipt.block.header;
    assert_eq!(header.height, tip_before.height + 1);
    assert_eq!(header.previous_hash.to_vec(), tip_before.hash, "the new block links to the old tip");
    assert_eq!(header.first_sequence, info_before.next_sequence);
    assert_eq!(next_receipt.sequence, info_before.next_sequence, "no sequence number is skipped");
    assert_eq!(header.minted_total_minor, tip_before.minted_total_minor);

    ledger.restart().await;
    let tip = ledger.tip().await;
    assert_eq!(tip.height, header.height, "a second restart keeps the new block");
    assert_chain_is_linked(&mut ledger, &engine_key).await;
    ledger.assert_supply(6_000).await;
    ledger.shutdown().await;
}

/// Walks every block from genesis to the tip: each is signed, links to the
/// previous one, continues its sequence numbers, and every txid in it has a
/// receipt proving it against that very header.
async fn assert_chain_is_linked(ledger: &mut TestLedger, engine_key: &Address) {
    let info = ledger.info(false).await;
    let tip = info.tip.expect("tip");
    let genesis = ledger.block(0).await.header.expect("genesis header");
    assert_eq!(genesis.previous_hash, vec![0; 32]);
    assert_eq!(genesis.merkle_root, info.genesis_hash, "the genesis block commits to the genesis parameters");
    assert_eq!((genesis.first_sequence, genesis.tx_count), (1, 0));
    assert_eq!(genesis.hash, ledger.chain.0.to_vec(), "the chain id is the hash of block 0");
    assert_eq!(info.chain_id, ledger.chain.0.to_vec(), "GetInfo reports the chain id");
    let chain = ledger.chain;
    assert_header_signed(&genesis, engine_key, &chain);
    let mut previous = genesis;
    for height in 1..=tip.height {
        let block = ledger.block(height).await;
        let header = block.header.expect("header");
        assert_header_signed(&header, engine_key, &chain);
        assert_eq!(header.height, height);
        assert_eq!(header.previous_hash, previous.hash, "block {height} links to block {}", height - 1);
        assert_eq!(header.first_sequence, previous.first_sequence + u64::from(previous.tx_count), "block {height}");
        assert_eq!(block.txids.len(), header.tx_count as usize);
        assert!(header.time_unix_ms >= previous.time_unix_ms, "block times never go back");
        for (index, txid) in block.txids.iter().enumerate() {
            let found = ledger
                .client
                .payments
                .get_payment(proto::GetPaymentRequest { txid: txid.clone() })
                .await
                .expect("get payment")
                .into_inner();
            let receipt = client::receipt_from_proto(found.receipt.as_ref().expect("receipt")).expect("valid");
            receipt.verify(engine_key, &chain).expect("verifies");
            assert_eq!(receipt.block.header, header_from_proto(&header), "the receipt proves against block {height}");
            assert_eq!(receipt.index_in_block as usize, index);
            assert_eq!(receipt.sequence, header.first_sequence + index as u64);
        }
        previous = header;
    }
    assert_eq!(previous, tip, "the walk ends at the tip");
    assert_eq!(info.next_sequence, tip.first_sequence + u64::from(tip.tx_count));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_payment_returns_the_receipt_and_transaction_of_a_confirmed_txid() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    ledger.programme(4).await;
    let mint = ledger.mint_tx(vec![output(alice.address(), 1_000, 4)], "row-1");
    let (mint_receipt, _) = ledger.client.mint(&mint).await.expect("confirmed");
    let payment = client::pay(&ledger.chain, &alice, client::output_of(&mint, 0), bob.address(), 10, b"inv");
    let (receipt, _) = ledger.client.submit(&payment).await.expect("confirmed");
    for (tx, expected) in [(&mint, &mint_receipt), (&payment, &receipt)] {
        ledger.assert_payment_found(tx, expected).await;
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_payment_of_an_unknown_or_refused_txid_is_unknown() {
    let mut ledger = TestLedger::start().await;
    let (alice, bob) = (Keypair::generate(), Keypair::generate());
    let coin = ledger.fund(&alice, 1_000, "row-1").await;
    let refused = client::pay(&ledger.chain, &bob, coin, bob.address(), 1_000, b"theft");
    ledger.client.submit(&refused).await.expect_err("refused");
    for txid in [TxId([0x5a; 32]), settled::txid(&refused)] {
        let found = ledger
            .client
            .payments
            .get_payment(proto::GetPaymentRequest { txid: txid.0.to_vec() })
            .await
            .expect("get payment")
            .into_inner();
        assert_eq!(found.status, proto::PaymentStatus::Unknown as i32, "txid {txid}");
        assert_eq!((found.receipt, found.transaction), (None, None));
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_payment_with_a_txid_not_32_bytes_long_is_invalid_argument() {
    let mut ledger = TestLedger::start().await;
    for length in [0, 31, 33] {
        let status = ledger
            .client
            .payments
            .get_payment(proto::GetPaymentRequest { txid: vec![1; length] })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "txid of {length} bytes");
    }
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_info_reports_the_genesis_parameters_and_get_block_past_the_tip_is_not_found() {
    let mut ledger = TestLedger::start().await;
    let info = ledger.info(false).await;
    assert_eq!((info.currency.as_str(), info.currency_exponent), ("CNY", 2));
    let issuers: Vec<Vec<u8>> = ledger.issuers.iter().map(|k| k.address().0.to_vec()).collect();
    assert_eq!(info.issuer_public_keys, issuers);
    assert_eq!(info.issuer_threshold, 2);
    assert_eq!(info.chain_id, ledger.chain.0.to_vec());
    assert_eq!(info.protocol_version, u32::from(settled::PROTOCOL_VERSION));
    let tip = info.tip.expect("tip");
    assert_eq!((tip.height, info.next_sequence, info.unspent_count, info.unspent_total_minor), (0, 1, 0, 0));
    let status = ledger.client.ledger.get_block(proto::GetBlockRequest { height: 1 }).await.expect_err("no block 1");
    assert_eq!(status.code(), Code::NotFound);
    ledger.shutdown().await;
}
