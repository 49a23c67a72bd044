use crate::common;

use common::TestLedger;
use settled::Keypair;
use settled::client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minted_output_can_be_paid_and_the_receipt_verifies() {
    let mut ledger = TestLedger::start().await;
    let alice = Keypair::generate();
    let shop = Keypair::generate();
    let coin = ledger.fund(&alice, 10_000, "row-1").await;
    let payment = client::pay(&ledger.chain, &alice, coin, shop.address(), 2_500, b"inv-1");
    let (receipt, duplicate) = ledger.client.submit(&payment).await.expect("confirmed");
    assert!(!duplicate);
    let engine_key = ledger.engine_key().await;
    common::assert_receipt_valid(&receipt, &engine_key, &ledger.chain);
    assert_eq!(receipt.txid, settled::txid(&payment));
    ledger.shutdown().await;
}
