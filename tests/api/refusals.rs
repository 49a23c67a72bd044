//! Every refusal reason, through gRPC: the status code (INVALID_ARGUMENT for
//! what is wrong whatever the state, FAILED_PRECONDITION for declines by the
//! ledger state), the reason in the status details, and, on a stream, the
//! `Refusal.reason` of the item's result. Every refusal here also leaves the
//! ledger exactly as it was.
//!
//! Elsewhere: REASON_OVERLOADED in tests/api/overload.rs (a verify queue
//! shrunk to one); REASON_UNAVAILABLE in tests/storage/fail_stop.rs (a
//! storage failure); a redemption's refusals in tests/banks/redemption.rs;
//! the welfare reasons, clawback's and programme figures' in tests/welfare.

use crate::common;

use common::{TestLedger, assert_refusal, error_metadata, streamed_reason, streamed_refusal, to_proto, transfer};
use settled::client::{self, output};
use settled::limits::{TX_INPUTS_MAX, TX_OUTPUTS_MAX, TX_REFERENCE_BYTES_MAX, TX_WITNESSES_MAX};
use settled::proto::{self, Reason};
use settled::{Address, ChainId, Keypair, OutPoint, Output, Transaction, TxId, TxKind};
use tonic::Code;

/// A fresh ledger with `alice` holding one coin of 10 000.
struct Fixture {
    ledger: TestLedger,
    alice: Keypair,
    bob: Keypair,
    coin: (OutPoint, Output),
    minted_minor: u64,
}

const COIN_MINOR: u64 = 10_000;

impl Fixture {
    async fn new() -> Self {
        let mut ledger = TestLedger::start().await;
        let alice = Keypair::generate();
        let bob = Keypair::generate();
        let coin = ledger.fund(&alice, COIN_MINOR, "row-1").await;
        Self { ledger, alice, bob, coin, minted_minor: COIN_MINOR }
    }

    /// A valid payment of 2 500 from alice's coin to bob.
    fn payment(&self) -> Transaction {
        client::pay(&self.ledger.chain, &self.alice, self.coin, self.bob.address(), 2_500, b"inv-1")
    }

    /// Alice's coin paid to `outputs`, signed by alice.
    fn paying(&self, outputs: Vec<Output>) -> Transaction {
        transfer(&self.ledger.chain, &[self.coin.0], outputs, b"inv-1", &[&self.alice])
    }

    /// Submits to `PaymentService.SubmitPayment`, checks the refusal and that
    /// nothing changed; returns the status for further checks.
    async fn refused(&mut self, tx: proto::Transaction, code: Code, reason: Reason) -> tonic::Status {
        let before = self.ledger.info(true).await;
        let status = self.ledger.submit_proto(tx).await.expect_err("the payment is refused");
        assert_refusal(&status, code, reason);
        self.assert_unchanged(&before).await;
        status
    }

    /// Submits to `AdminService.Mint`, checks the refusal and that nothing
    /// changed.
    async fn refused_mint(&mut self, tx: proto::Transaction, code: Code, reason: Reason) -> tonic::Status {
        let before = self.ledger.info(true).await;
        let status = self.ledger.mint_proto(tx).await.expect_err("the mint is refused");
        assert_refusal(&status, code, reason);
        self.assert_unchanged(&before).await;
        status
    }

    async fn assert_unchanged(&mut self, before: &proto::GetInfoResponse) {
        let after = self.ledger.info(true).await;
        assert_eq!(after.tip, before.tip, "a refusal adds no block");
        assert_eq!(after.next_sequence, before.next_sequence, "a refusal takes no sequence number");
        assert_eq!(after.unspent_count, before.unspent_count, "a refusal creates or spends no output");
        assert_eq!(after.unspent_total_minor, before.unspent_total_minor, "a refusal moves no money");
    }

    async fn finish(mut self) {
        let minted_minor = self.minted_minor;
        self.ledger.assert_supply(minted_minor).await;
        self.ledger.shutdown().await;
    }
}

fn edited(tx: &Transaction, edit: impl FnOnce(&mut proto::Transaction)) -> proto::Transaction {
    let mut tx = to_proto(tx);
    edit(&mut tx);
    tx
}

/// Clears the witnesses and signs again with `signers`, for `chain`.
fn resigned(chain: &ChainId, mut tx: Transaction, signers: &[&Keypair]) -> Transaction {
    tx.witnesses.clear();
    client::sign(&mut tx, chain, signers);
    tx
}

/// 32 bytes below the field prime that are not the x coordinate of any
/// point on secp256k1.
fn x_not_on_the_curve() -> [u8; 32] {
    (1u8..=255)
        .map(|x| {
            let mut bytes = [0u8; 32];
            bytes[31] = x;
            bytes
        })
        .find(|bytes| k256::schnorr::VerifyingKey::from_slice(bytes).is_err())
        .expect("about half of all x coordinates are not on the curve")
}

// ---- stateless: INVALID_ARGUMENT ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_transaction_is_refused_as_malformed() {
    let mut f = Fixture::new().await;
    let status = f
        .ledger
        .client
        .payments
        .submit_payment(proto::SubmitPaymentRequest { transaction: None })
        .await
        .expect_err("refused");
    assert_refusal(&status, Code::InvalidArgument, Reason::Malformed);
    let status = f.ledger.client.admin.mint(proto::MintRequest { transaction: None }).await.expect_err("refused");
    assert_refusal(&status, Code::InvalidArgument, Reason::Malformed);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_txid_of_31_bytes_is_refused_as_malformed() {
    let mut f = Fixture::new().await;
    let tx = edited(&f.payment(), |tx| {
        tx.inputs[0].txid.pop();
    });
    f.refused(tx, Code::InvalidArgument, Reason::Malformed).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_signature_of_63_bytes_is_refused_as_malformed() {
    let mut f = Fixture::new().await;
    let tx = edited(&f.payment(), |tx| {
        tx.witnesses[0].signature.pop();
    });
    f.refused(tx, Code::InvalidArgument, Reason::Malformed).await;
    let tx = edited(&f.payment(), |tx| tx.witnesses[0].signature.push(0));
    f.refused(tx, Code::InvalidArgument, Reason::Malformed).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_public_key_of_33_bytes_is_refused_as_malformed() {
    let mut f = Fixture::new().await;
    let tx = edited(&f.payment(), |tx| tx.witnesses[0].public_key.insert(0, 0x02));
    f.refused(tx, Code::InvalidArgument, Reason::Malformed).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_other_than_2_is_refused_as_unsupported() {
    let mut f = Fixture::new().await;
    // Version 1 (signatures bound to no chain) is refused like any other.
    for version in [0u8, 1, 3, 255] {
        let mut tx = f.payment();
        tx.version = version;
        let tx = resigned(&f.ledger.chain, tx, &[&f.alice]);
        f.refused(to_proto(&tx), Code::InvalidArgument, Reason::UnsupportedVersion).await;
    }
    let tx = edited(&f.payment(), |tx| tx.version = 257);
    f.refused(tx, Code::InvalidArgument, Reason::UnsupportedVersion).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unspecified_or_undefined_kind_is_refused_as_unsupported() {
    let mut f = Fixture::new().await;
    for kind in [proto::TransactionKind::Unspecified as i32, 99] {
        let tx = edited(&f.payment(), |tx| tx.kind = kind);
        f.refused(tx.clone(), Code::InvalidArgument, Reason::UnsupportedKind).await;
        f.refused_mint(tx, Code::InvalidArgument, Reason::UnsupportedKind).await;
    }
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeem_of_a_wallets_money_is_refused_and_clawback_belongs_to_admin_clawback() {
    let mut f = Fixture::new().await;
    let mut tx = f.payment();
    tx.kind = TxKind::Redeem;
    let tx = to_proto(&resigned(&f.ledger.chain, tx, &[&f.alice]));
    f.refused(tx.clone(), Code::FailedPrecondition, Reason::NotAMerchant).await;
    f.refused_mint(tx, Code::InvalidArgument, Reason::WrongService).await;
    let mut tx = f.payment();
    tx.kind = TxKind::Clawback;
    let tx = to_proto(&resigned(&f.ledger.chain, tx, &[&f.alice]));
    f.refused(tx.clone(), Code::InvalidArgument, Reason::WrongService).await;
    f.refused_mint(tx, Code::InvalidArgument, Reason::WrongService).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_without_inputs_is_refused() {
    let mut f = Fixture::new().await;
    let tx = transfer(&f.ledger.chain, &[], vec![output(f.bob.address(), 1, 0)], b"", &[&f.alice]);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::NoInputs).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_without_outputs_is_refused() {
    let mut f = Fixture::new().await;
    let tx = f.paying(Vec::new());
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::NoOutputs).await;
    let mint = f.ledger.mint_tx(Vec::new(), "row-empty");
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::NoOutputs).await;
    f.finish().await;
}

/// Seventeen owners with one coin of 1 000 each (two mints: sixteen outputs,
/// the limit, then one).
async fn seventeen_funded_owners(f: &mut Fixture) -> Vec<(Keypair, (OutPoint, Output))> {
    let owners: Vec<Keypair> = (0..=TX_INPUTS_MAX).map(|_| Keypair::generate()).collect();
    let outputs = owners.iter().map(|o| output(o.address(), 1_000, 0)).collect();
    let coins = f.ledger.mint_outputs(outputs, "owners").await;
    f.minted_minor += 1_000 * owners.len() as u64;
    owners.into_iter().zip(coins).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_at_every_count_limit_is_confirmed() {
    let mut f = Fixture::new().await;
    let funded = seventeen_funded_owners(&mut f).await;
    let funded = &funded[..TX_INPUTS_MAX];
    let inputs: Vec<OutPoint> = funded.iter().map(|(_, (outpoint, _))| *outpoint).collect();
    let signers: Vec<&Keypair> = funded.iter().map(|(owner, _)| owner).collect();
    let payees: Vec<Output> = (0..TX_OUTPUTS_MAX).map(|_| output(Keypair::generate().address(), 1_000, 0)).collect();
    let reference = [b'r'; TX_REFERENCE_BYTES_MAX];
    let tx = transfer(&f.ledger.chain, &inputs, payees, &reference, &signers);
    assert_eq!((tx.inputs.len(), tx.outputs.len(), tx.witnesses.len()), (16, 16, TX_WITNESSES_MAX));
    let (receipt, duplicate) = f.ledger.client.submit(&tx).await.expect("a transfer at every limit is confirmed");
    assert!(!duplicate);
    assert_eq!(receipt.txid, settled::txid(&tx));
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_input_over_the_limit_is_refused() {
    let mut f = Fixture::new().await;
    let amounts = vec![1_000; TX_INPUTS_MAX + 1];
    let coins = f.ledger.fund_coins(&f.alice.clone(), &amounts, "many").await;
    f.minted_minor += amounts.iter().sum::<u64>();
    let inputs: Vec<OutPoint> = coins.iter().map(|(outpoint, _)| *outpoint).collect();
    let tx = transfer(&f.ledger.chain, &inputs, vec![output(f.bob.address(), 17_000, 0)], b"", &[&f.alice]);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::TooManyInputs).await;
    let at_limit =
        transfer(&f.ledger.chain, &inputs[..TX_INPUTS_MAX], vec![output(f.bob.address(), 16_000, 0)], b"", &[&f.alice]);
    f.ledger.client.submit(&at_limit).await.expect("sixteen inputs are confirmed");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_output_over_the_limit_is_refused() {
    let mut f = Fixture::new().await;
    let seventeen: Vec<Output> = (0..=TX_OUTPUTS_MAX as u64).map(|i| output(f.bob.address(), 100 + i, 0)).collect();
    let mut change = seventeen.clone();
    let paid: u64 = seventeen.iter().map(|o| o.amount_minor).sum();
    change.push(output(f.alice.address(), COIN_MINOR - paid, 0));
    let tx = f.paying(change);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::TooManyOutputs).await;
    let mint = f.ledger.mint_tx(seventeen, "row-17");
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::TooManyOutputs).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_witness_over_the_limit_is_refused() {
    let mut f = Fixture::new().await;
    let funded = seventeen_funded_owners(&mut f).await;
    // Sixteen inputs (the most there can be) signed by their sixteen owners,
    // plus the seventeenth owner's signature.
    let inputs: Vec<OutPoint> = funded[..TX_INPUTS_MAX].iter().map(|(_, (outpoint, _))| *outpoint).collect();
    let signers: Vec<&Keypair> = funded.iter().map(|(owner, _)| owner).collect();
    let tx = transfer(&f.ledger.chain, &inputs, vec![output(f.bob.address(), 16_000, 0)], b"", &signers);
    assert_eq!(tx.witnesses.len(), TX_WITNESSES_MAX + 1);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::TooManyWitnesses).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_of_64_bytes_is_accepted_and_65_is_refused() {
    let mut f = Fixture::new().await;
    let over = client::pay(&f.ledger.chain, &f.alice, f.coin, f.bob.address(), 1, &[b'x'; TX_REFERENCE_BYTES_MAX + 1]);
    f.refused(to_proto(&over), Code::InvalidArgument, Reason::ReferenceTooLong).await;
    let over_mint = f.ledger.mint_tx(vec![output(f.bob.address(), 1, 0)], &"m".repeat(TX_REFERENCE_BYTES_MAX + 1));
    f.refused_mint(to_proto(&over_mint), Code::InvalidArgument, Reason::ReferenceTooLong).await;
    let at_limit = client::pay(&f.ledger.chain, &f.alice, f.coin, f.bob.address(), 1, &[b'x'; TX_REFERENCE_BYTES_MAX]);
    f.ledger.client.submit(&at_limit).await.expect("a 64-byte reference is confirmed");
    let mint = f.ledger.mint_tx(vec![output(f.bob.address(), 1, 0)], &"m".repeat(TX_REFERENCE_BYTES_MAX));
    f.ledger.client.mint(&mint).await.expect("a mint with a 64-byte reference is confirmed");
    f.minted_minor += 1;
    f.finish().await;
}

/// The canonical encoding has one byte for the reference length; a longer
/// reference must be refused, not crash the handler while hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_longer_than_its_length_byte_is_refused_not_a_crash() {
    let mut f = Fixture::new().await;
    let long = vec![b'x'; 300];
    let tx = edited(&f.payment(), |tx| tx.reference = long.clone());
    f.refused(tx.clone(), Code::InvalidArgument, Reason::ReferenceTooLong).await;
    let mint = edited(&f.ledger.mint_tx(vec![output(f.bob.address(), 1, 0)], "row-2"), |tx| tx.reference = long);
    f.refused_mint(mint, Code::InvalidArgument, Reason::ReferenceTooLong).await;
    let results = f.ledger.submit_stream(vec![(1, tx)]).await;
    assert_eq!(streamed_reason(&results[&1]), Reason::ReferenceTooLong);
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_amount_output_is_refused() {
    let mut f = Fixture::new().await;
    let tx = f.paying(vec![output(f.bob.address(), 0, 0), output(f.alice.address(), COIN_MINOR, 0)]);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::ZeroAmount).await;
    let mint = f.ledger.mint_tx(vec![output(f.bob.address(), 0, 0)], "row-zero");
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::ZeroAmount).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_summing_past_u64_are_refused_as_amount_overflow() {
    let mut f = Fixture::new().await;
    let tx = f.paying(vec![output(f.bob.address(), u64::MAX, 0), output(f.alice.address(), 1, 0)]);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::AmountOverflow).await;
    let mint = f.ledger.mint_tx(vec![output(f.bob.address(), u64::MAX, 0), output(f.bob.address(), 1, 0)], "row-big");
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::AmountOverflow).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_input_twice_is_refused_as_duplicate_input() {
    let mut f = Fixture::new().await;
    let tx = transfer(
        &f.ledger.chain,
        &[f.coin.0, f.coin.0],
        vec![output(f.bob.address(), 2 * COIN_MINOR, 0)],
        b"",
        &[&f.alice],
    );
    let status = f.refused(to_proto(&tx), Code::InvalidArgument, Reason::DuplicateInput).await;
    assert_eq!(error_metadata(&status)["input"], f.coin.0.to_string(), "the refusal names the repeated input");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_witness_twice_is_refused_as_duplicate_witness() {
    let mut f = Fixture::new().await;
    let tx = resigned(&f.ledger.chain, f.payment(), &[&f.alice, &f.alice]);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::DuplicateWitness).await;
    let issuer = f.ledger.issuers[0].clone();
    let mint = client::mint(&f.ledger.chain, vec![output(f.bob.address(), 5, 0)], b"row-dup", &[&issuer, &issuer]);
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::DuplicateWitness).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_that_does_not_sign_the_txid_with_its_key_is_refused() {
    let mut f = Fixture::new().await;
    let flipped = edited(&f.payment(), |tx| tx.witnesses[0].signature[10] ^= 0x01);
    f.refused(flipped, Code::InvalidArgument, Reason::BadSignature).await;

    let payment = f.payment();
    let by_another_key = edited(&payment, |tx| {
        tx.witnesses[0].signature =
            f.bob.sign(&settled::witness_message(&f.ledger.chain, &settled::txid(&payment))).to_vec();
    });
    f.refused(by_another_key, Code::InvalidArgument, Reason::BadSignature).await;

    // The owner's signature of the bare txid (protocol version 1), or of
    // the txid for another chain, signs nothing on this ledger.
    let bare = edited(&payment, |tx| tx.witnesses[0].signature = f.alice.sign(&settled::txid(&payment).0).to_vec());
    f.refused(bare, Code::InvalidArgument, Reason::BadSignature).await;
    let elsewhere = resigned(&ChainId([7; 32]), payment.clone(), &[&f.alice]);
    f.refused(to_proto(&elsewhere), Code::InvalidArgument, Reason::BadSignature).await;

    // Signed, then the amount raised: the signature covers the old txid.
    let mut changed_after_signing = f.payment();
    changed_after_signing.outputs[0].amount_minor += 1;
    changed_after_signing.outputs[1].amount_minor -= 1;
    f.refused(to_proto(&changed_after_signing), Code::InvalidArgument, Reason::BadSignature).await;

    // A witness key that is not a curve point verifies nothing.
    let off_curve = edited(&f.payment(), |tx| tx.witnesses[0].public_key = x_not_on_the_curve().to_vec());
    f.refused(off_curve, Code::InvalidArgument, Reason::BadSignature).await;

    let mint = f.ledger.mint_tx(vec![output(f.bob.address(), 5, 0)], "row-sig");
    let forged = edited(&mint, |tx| tx.witnesses[1].signature[0] ^= 0x80);
    f.refused_mint(forged, Code::InvalidArgument, Reason::BadSignature).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_to_32_bytes_that_are_not_a_curve_point_is_refused_as_bad_address() {
    let mut f = Fixture::new().await;
    for not_a_key in [x_not_on_the_curve(), [0xff; 32]] {
        let tx = f.paying(vec![output(Address(not_a_key), COIN_MINOR, 0)]);
        f.refused(to_proto(&tx), Code::InvalidArgument, Reason::BadAddress).await;
        let mint = f.ledger.mint_tx(vec![output(Address(not_a_key), 5, 0)], "row-addr");
        f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::BadAddress).await;
    }
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_address_of_the_wrong_length_is_refused_as_bad_address() {
    let mut f = Fixture::new().await;
    let short = edited(&f.payment(), |tx| {
        tx.outputs[0].address.pop();
    });
    f.refused(short, Code::InvalidArgument, Reason::BadAddress).await;
    let long = edited(&f.payment(), |tx| tx.outputs[0].address.push(0));
    f.refused(long, Code::InvalidArgument, Reason::BadAddress).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_with_inputs_is_refused() {
    let mut f = Fixture::new().await;
    let issuers = [&f.ledger.issuers[0], &f.ledger.issuers[1]];
    let mut mint = client::mint(&f.ledger.chain, vec![output(f.bob.address(), 5, 0)], b"row-in", &issuers);
    mint.inputs.push(f.coin.0);
    let mint = resigned(&f.ledger.chain, mint, &issuers);
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::MintHasInputs).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_without_reference_is_refused() {
    let mut f = Fixture::new().await;
    let mint = f.ledger.mint_tx(vec![output(f.bob.address(), 5, 0)], "");
    f.refused_mint(to_proto(&mint), Code::InvalidArgument, Reason::MintNeedsReference).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_sent_to_the_payment_service_is_refused_as_wrong_service() {
    let mut f = Fixture::new().await;
    let mint = f.ledger.mint_tx(vec![output(f.bob.address(), 5, 0)], "row-ws");
    f.refused(to_proto(&mint), Code::InvalidArgument, Reason::WrongService).await;
    // The same mint is still new to the engine.
    let (_, duplicate) = f.ledger.client.mint(&mint).await.expect("confirmed through AdminService.Mint");
    assert!(!duplicate);
    f.minted_minor += 5;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_sent_to_admin_mint_is_refused_as_wrong_service() {
    let mut f = Fixture::new().await;
    let payment = f.payment();
    f.refused_mint(to_proto(&payment), Code::InvalidArgument, Reason::WrongService).await;
    let (_, duplicate) = f.ledger.client.submit(&payment).await.expect("confirmed through PaymentService");
    assert!(!duplicate);
    f.finish().await;
}

// ---- stateful: FAILED_PRECONDITION -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_input_is_refused_with_the_spending_txid() {
    let mut f = Fixture::new().await;
    let first = f.payment();
    f.ledger.client.submit(&first).await.expect("first spend confirmed");
    let second = client::pay(&f.ledger.chain, &f.alice, f.coin, f.bob.address(), 1_000, b"inv-2");
    let status = f.refused(to_proto(&second), Code::FailedPrecondition, Reason::InputSpent).await;
    let metadata = error_metadata(&status);
    assert_eq!(metadata["spent_by_txid"], settled::txid(&first).to_string());
    assert_eq!(metadata["input"], f.coin.0.to_string());
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_input_is_refused_naming_the_input() {
    let mut f = Fixture::new().await;
    let unknown = OutPoint { txid: TxId([0x42; 32]), index: 0 };
    let tx = transfer(&f.ledger.chain, &[unknown], vec![output(f.bob.address(), 5, 0)], b"", &[&f.alice]);
    let status = f.refused(to_proto(&tx), Code::FailedPrecondition, Reason::InputUnknown).await;
    let metadata = error_metadata(&status);
    assert_eq!(metadata["input"], unknown.to_string());
    assert!(!metadata.contains_key("spent_by_txid"), "an unknown input was spent by nobody");
    // An existing txid with an output index it does not have.
    let past_the_end = OutPoint { txid: f.coin.0.txid, index: 1 };
    let tx = transfer(&f.ledger.chain, &[past_the_end], vec![output(f.bob.address(), 5, 0)], b"", &[&f.alice]);
    f.refused(to_proto(&tx), Code::FailedPrecondition, Reason::InputUnknown).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_without_its_owners_witness_is_refused_as_missing_witness() {
    let mut f = Fixture::new().await;
    // Bob signs a spend of alice's coin: his signature is valid, but he is
    // not the owner.
    let tx = resigned(&f.ledger.chain, f.payment(), &[&f.bob]);
    f.refused(to_proto(&tx), Code::FailedPrecondition, Reason::MissingWitness).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_without_any_witness_is_refused_as_no_witnesses() {
    let mut f = Fixture::new().await;
    let tx = resigned(&f.ledger.chain, f.payment(), &[]);
    f.refused(to_proto(&tx), Code::InvalidArgument, Reason::NoWitnesses).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_that_owns_no_input_is_refused_as_unexpected() {
    let mut f = Fixture::new().await;
    let tx = resigned(&f.ledger.chain, f.payment(), &[&f.alice, &f.bob]);
    f.refused(to_proto(&tx), Code::FailedPrecondition, Reason::UnexpectedWitness).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_above_or_below_the_inputs_are_refused_as_not_conserved() {
    let mut f = Fixture::new().await;
    let more = f.paying(vec![output(f.bob.address(), COIN_MINOR + 1, 0)]);
    f.refused(to_proto(&more), Code::FailedPrecondition, Reason::NotConserved).await;
    let less = f.paying(vec![output(f.bob.address(), COIN_MINOR - 1, 0)]);
    f.refused(to_proto(&less), Code::FailedPrecondition, Reason::NotConserved).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_money_into_another_programme_is_refused_as_not_conserved() {
    let mut f = Fixture::new().await;
    f.ledger.programme(7).await;
    // Same total, but unrestricted money turned into programme 7 money.
    let tx = f.paying(vec![output(f.bob.address(), 4_000, 7), output(f.alice.address(), 6_000, 0)]);
    f.refused(to_proto(&tx), Code::FailedPrecondition, Reason::NotConserved).await;
    // And earmarked money released into unrestricted money.
    let earmarked = f.ledger.mint_tx(vec![output(f.alice.address(), 500, 7)], "row-p7");
    f.ledger.client.mint(&earmarked).await.expect("earmarked mint confirmed");
    f.minted_minor += 500;
    let release = client::pay(
        &f.ledger.chain,
        &f.alice,
        (client::output_of(&earmarked, 0).0, output(f.alice.address(), 500, 0)),
        f.bob.address(),
        500,
        b"",
    );
    f.refused(to_proto(&release), Code::FailedPrecondition, Reason::NotConserved).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_with_one_issuer_signature_is_refused_and_two_are_accepted() {
    let mut f = Fixture::new().await;
    let issuers = f.ledger.issuers.clone();
    let outputs = vec![output(f.bob.address(), 700, 0)];
    let one = client::mint(&f.ledger.chain, outputs.clone(), b"row-th", &[&issuers[2]]);
    f.refused_mint(to_proto(&one), Code::FailedPrecondition, Reason::MintThreshold).await;
    let two = client::mint(&f.ledger.chain, outputs.clone(), b"row-th", &[&issuers[2], &issuers[0]]);
    let (receipt, duplicate) = f.ledger.client.mint(&two).await.expect("two of three issuers suffice");
    assert!(!duplicate);
    assert_eq!(receipt.txid, settled::txid(&one), "the witnesses are not part of the txid");
    let three = client::mint(&f.ledger.chain, outputs, b"row-th-3", &[&issuers[0], &issuers[1], &issuers[2]]);
    f.ledger.client.mint(&three).await.expect("three of three issuers suffice");
    f.minted_minor += 1_400;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_signed_by_a_non_issuer_key_is_refused() {
    let mut f = Fixture::new().await;
    let issuers = f.ledger.issuers.clone();
    let outsider = Keypair::generate();
    let outputs = vec![output(outsider.address(), 700, 0)];
    let with_outsider = client::mint(&f.ledger.chain, outputs.clone(), b"row-x", &[&issuers[0], &outsider]);
    f.refused_mint(to_proto(&with_outsider), Code::FailedPrecondition, Reason::UnexpectedWitness).await;
    // Even on top of a full threshold of issuers.
    let plus_outsider = client::mint(&f.ledger.chain, outputs, b"row-x", &[&issuers[0], &issuers[1], &outsider]);
    f.refused_mint(to_proto(&plus_outsider), Code::FailedPrecondition, Reason::UnexpectedWitness).await;
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_pushing_total_supply_past_u64_max_is_refused() {
    let mut f = Fixture::new().await;
    // Only a merchant (exempt from wallet tiers) may hold that much.
    let shop = f.ledger.merchant("big-shop", 5411).await.address();
    let headroom = u64::MAX - COIN_MINOR;
    let big = f.ledger.mint_tx(vec![output(shop, headroom - 5, 0)], "row-big");
    f.ledger.client.mint(&big).await.expect("a mint up to 5 below the maximum is confirmed");
    let over = f.ledger.mint_tx(vec![output(shop, 6, 0)], "row-over");
    f.refused_mint(to_proto(&over), Code::FailedPrecondition, Reason::SupplyOverflow).await;
    let exact = f.ledger.mint_tx(vec![output(shop, 5, 0)], "row-exact");
    f.ledger.client.mint(&exact).await.expect("a mint reaching exactly u64::MAX is confirmed");
    let one_more = f.ledger.mint_tx(vec![output(shop, 1, 0)], "row-one");
    f.refused_mint(to_proto(&one_more), Code::FailedPrecondition, Reason::SupplyOverflow).await;
    f.minted_minor = u64::MAX;
    // Payments still work at the maximum supply.
    f.ledger.client.submit(&f.payment()).await.expect("payment at maximum supply confirmed");
    f.finish().await;
}

// ---- streamed refusals ---------------------------------------------------------

/// One stream carrying one payment for every refusal the payment service can
/// give, around a valid payment: each item gets its own result with the
/// reason in `Refusal.reason`, and the valid payment is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_payment_refusal_arrives_in_the_refusal_field_of_its_stream_result() {
    let mut f = Fixture::new().await;
    let spender = client::pay(&f.ledger.chain, &f.alice, f.coin, f.bob.address(), 100, b"spender");
    f.ledger.client.submit(&spender).await.expect("spender confirmed");
    let (change_outpoint, change) = client::output_of(&spender, 1);
    let carol = Keypair::generate();
    let carol_coin = f.ledger.fund(&carol, 1_000, "row-carol").await;
    f.minted_minor += 1_000;
    let valid_coin = f.ledger.fund(&f.alice, 1_000, "row-valid").await;
    f.minted_minor += 1_000;
    // The valid payment has a coin of its own, so that no refusal below
    // depends on whether it was sequenced before or after it.
    let valid = client::pay(&f.ledger.chain, &f.alice, valid_coin, f.bob.address(), 1, b"valid");
    let fresh = |outputs: Vec<Output>| transfer(&f.ledger.chain, &[change_outpoint], outputs, b"", &[&f.alice]);
    let unsubmitted = fresh(vec![change]);
    let unknown = OutPoint { txid: TxId([9; 32]), index: 3 };

    let cases: Vec<(proto::Transaction, Reason)> = vec![
        (edited(&valid, |tx| tx.inputs[0].txid.truncate(31)), Reason::Malformed),
        (edited(&valid, |tx| tx.version = 1), Reason::UnsupportedVersion),
        (edited(&valid, |tx| tx.kind = 0), Reason::UnsupportedKind),
        (
            to_proto(&transfer(&f.ledger.chain, &[], vec![output(f.bob.address(), 1, 0)], b"", &[&f.alice])),
            Reason::NoInputs,
        ),
        (to_proto(&fresh(Vec::new())), Reason::NoOutputs),
        (edited(&valid, |tx| tx.inputs = vec![tx.inputs[0].clone(); 17]), Reason::TooManyInputs),
        (edited(&valid, |tx| tx.outputs = vec![tx.outputs[0].clone(); 17]), Reason::TooManyOutputs),
        (edited(&valid, |tx| tx.witnesses = vec![tx.witnesses[0].clone(); 17]), Reason::TooManyWitnesses),
        (edited(&valid, |tx| tx.reference = vec![0; 65]), Reason::ReferenceTooLong),
        (to_proto(&fresh(vec![output(f.bob.address(), 0, 0)])), Reason::ZeroAmount),
        (
            to_proto(&fresh(vec![output(f.bob.address(), u64::MAX, 0), output(f.bob.address(), 1, 0)])),
            Reason::AmountOverflow,
        ),
        (
            to_proto(&transfer(&f.ledger.chain, &[change_outpoint, change_outpoint], vec![change], b"", &[&f.alice])),
            Reason::DuplicateInput,
        ),
        (to_proto(&resigned(&f.ledger.chain, valid.clone(), &[&f.alice, &f.alice])), Reason::DuplicateWitness),
        (edited(&valid, |tx| tx.witnesses[0].signature[0] ^= 1), Reason::BadSignature),
        (to_proto(&fresh(vec![output(Address([0xff; 32]), change.amount_minor, 0)])), Reason::BadAddress),
        (to_proto(&f.ledger.mint_tx(vec![output(f.bob.address(), 1, 0)], "row-s")), Reason::WrongService),
        (to_proto(&client::pay(&f.ledger.chain, &f.alice, f.coin, f.bob.address(), 1, b"again")), Reason::InputSpent),
        (
            to_proto(&transfer(&f.ledger.chain, &[unknown], vec![output(f.bob.address(), 1, 0)], b"", &[&f.alice])),
            Reason::InputUnknown,
        ),
        (to_proto(&resigned(&f.ledger.chain, unsubmitted.clone(), &[&f.bob])), Reason::MissingWitness),
        (to_proto(&resigned(&f.ledger.chain, unsubmitted.clone(), &[&f.alice, &carol])), Reason::UnexpectedWitness),
        (to_proto(&fresh(vec![output(f.bob.address(), change.amount_minor + 1, 0)])), Reason::NotConserved),
        (
            to_proto(&transfer(
                &f.ledger.chain,
                &[carol_coin.0],
                vec![output(f.bob.address(), 1_000, 3)],
                b"",
                &[&carol],
            )),
            Reason::NotConserved,
        ),
    ];
    let before = f.ledger.info(true).await;
    let valid_id = 1_000;
    let mut requests: Vec<(u64, proto::Transaction)> = Vec::new();
    for (id, (tx, _)) in (0u64..).zip(&cases) {
        requests.push((id, tx.clone()));
        if id == cases.len() as u64 / 2 {
            requests.push((valid_id, to_proto(&valid)));
        }
    }
    let results = f.ledger.submit_stream(requests).await;
    for (id, (_, reason)) in (0u64..).zip(&cases) {
        assert_eq!(streamed_reason(&results[&id]), *reason, "stream item {id}");
    }
    let spent = streamed_refusal(&results[&16]);
    assert_eq!(spent.spent_by_txid, settled::txid(&spender).0.to_vec(), "the refusal names the spender");
    assert_eq!(spent.input.as_ref().map(|i| i.txid.clone()), Some(f.coin.0.txid.0.to_vec()));
    let unknown_refusal = streamed_refusal(&results[&17]);
    assert!(unknown_refusal.spent_by_txid.is_empty());
    assert_eq!(unknown_refusal.input.as_ref().map(|i| i.index), Some(3));
    assert!(!results[&16].txid.is_empty(), "a stateful refusal carries the txid of the refused payment");
    let receipt = common::streamed_receipt(&results[&valid_id]);
    assert_eq!(receipt.txid, settled::txid(&valid));
    let after = f.ledger.info(true).await;
    assert_eq!(after.tip.as_ref().map(|t| t.height), before.tip.as_ref().map(|t| t.height + 1));
    assert_eq!(after.next_sequence, before.next_sequence + 1, "only the valid payment took a sequence number");
    f.finish().await;
}
