//! Lost wallets: a beneficiary reports a phone or card lost; authorised by
//! the issuer threshold, the wallet is frozen and the person's earmarked
//! money in it moves to a replacement wallet of theirs in one call. The lost
//! key spends nothing afterwards, even if found; nothing can be paid to it;
//! the replacement takes over its designations. Unrestricted money stays
//! frozen in it (out of scope), and every refused recovery changes nothing.

use crate::common;

use common::{TestLedger, assert_refusal};
use settled::client::{self, Credential, output};
use settled::{Keypair, PersonRef, proto};
use tonic::Code;

const MONTHLY: u32 = 51;
const FOOD: u32 = 52;

async fn programmes(ledger: &mut TestLedger) {
    for (id, period) in [(MONTHLY, proto::PaymentPeriod::Month), (FOOD, proto::PaymentPeriod::Unspecified)] {
        ledger
            .programme_with(proto::Programme {
                id,
                name: format!("programme {id}"),
                allowed_mccs: vec![5411],
                valid_from_unix_ms: 0,
                valid_until_unix_ms: u64::MAX,
                transferable: false,
                treasury_address: Keypair::generate().address().0.to_vec(),
                per_payment_max_minor: 0,
                payment_period: period as i32,
                refund_window_ms: 0,
            })
            .await;
    }
}

async fn wallet(ledger: &mut TestLedger) -> Keypair {
    let key = Keypair::generate();
    ledger.wallet(&key, 3).await;
    key
}

/// Mei: a phone (designated for the monthly programme) holding this month's
/// claim (800.00), a food grant (300.00) and unrestricted money (500.00).
async fn mei_with_money(ledger: &mut TestLedger) -> (PersonRef, Keypair) {
    programmes(ledger).await;
    let phone = wallet(ledger).await;
    let mei = client::person_ref(b"administrator key of the recovery test", "A1").expect("a number");
    let beneficiary = proto::Beneficiary {
        person_ref: mei.0.to_vec(),
        wallets: vec![phone.address().0.to_vec()],
        designations: vec![proto::Designation { programme_id: MONTHLY, wallet: phone.address().0.to_vec() }],
    };
    let request = proto::RegisterBeneficiaryRequest { beneficiary: Some(beneficiary) };
    ledger.client.admin.register_beneficiary(request).await.expect("registered");
    let month = settled::month_of(ledger.clock.now_unix_ms(), common::LEDGER_DAY_OFFSET_MINUTES);
    let signers: Vec<&Keypair> = ledger.issuers.iter().take(2).collect();
    let claim = client::claim(&ledger.chain, MONTHLY, month, &mei, phone.address(), 80_000, &signers);
    ledger.client.mint(&claim).await.expect("this month paid");
    ledger.mint_outputs(vec![output(phone.address(), 30_000, FOOD), output(phone.address(), 50_000, 0)], "g").await;
    (mei, phone)
}

async fn recover(
    ledger: &mut TestLedger,
    person: &PersonRef,
    lost: &Keypair,
    replacement: &Keypair,
    signers: &[&Keypair],
) -> Result<proto::RecoverWalletResponse, tonic::Status> {
    let authorization = client::recovery_authorization(&ledger.chain, &lost.address(), &replacement.address(), signers);
    let request = proto::RecoverWalletRequest {
        person_ref: person.0.to_vec(),
        lost_wallet: lost.address().0.to_vec(),
        replacement_wallet: replacement.address().0.to_vec(),
        authorization,
    };
    ledger.client.admin.recover_wallet(request).await.map(tonic::Response::into_inner)
}

async fn held(ledger: &mut TestLedger, owner: &Keypair) -> Vec<(u32, u64)> {
    let balance = ledger.balance(&owner.address()).await;
    balance.balances.iter().map(|b| (b.programme_id, b.amount_minor)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_wallet_is_frozen_and_its_earmarked_money_moves_to_the_replacement() {
    let mut ledger = TestLedger::start().await;
    let (mei, phone) = mei_with_money(&mut ledger).await;
    let card = wallet(&mut ledger).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let coins = ledger.unspent(&phone.address()).await;
    let issuers = ledger.issuers.clone();
    let signers: Vec<&Keypair> = issuers.iter().take(2).collect();

    let moved = recover(&mut ledger, &mei, &phone, &card, &signers).await.expect("recovered");
    assert_eq!((moved.outputs_moved, moved.amount_minor, moved.batches, moved.more), (2, 110_000, 1, false));
    assert_eq!(moved.frozen_unrestricted_minor, 50_000, "unrestricted money stays, frozen");
    assert_eq!(held(&mut ledger, &card).await, vec![(MONTHLY, 80_000), (FOOD, 30_000)]);
    assert_eq!(held(&mut ledger, &phone).await, vec![(0, 50_000)]);
    ledger.assert_supply(160_000).await;

    // The card is linked and designated instead of the phone.
    let request = proto::GetBeneficiaryRequest { person_ref: mei.0.to_vec() };
    let record = ledger.client.admin.get_beneficiary(request).await.expect("found").into_inner().beneficiary;
    let record = record.expect("a record");
    assert!(record.wallets.contains(&card.address().0.to_vec()), "{record:?}");
    assert_eq!(record.designations[0].wallet, card.address().0.to_vec());

    // The lost key, found again, spends nothing; nothing is paid to it.
    let unrestricted = coins
        .iter()
        .find(|c| c.output.as_ref().is_some_and(|o| o.programme_id == 0))
        .map(|c| client::unspent_from_proto(c).expect("an output"))
        .expect("the unrestricted coin");
    let spend = client::pay(&ledger.chain, &phone, unrestricted, grocer.address(), 100, b"found-it");
    let status = ledger.client.submit(&spend).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::WalletFrozen);
    let to_phone = ledger.mint_tx(vec![output(phone.address(), 1, 0)], "to-the-lost-phone");
    let status = ledger.client.mint(&to_phone).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::WalletFrozen);

    // Again with the same wallets: nothing left to move. To another
    // replacement: refused.
    let again = recover(&mut ledger, &mei, &phone, &card, &signers).await.expect("idempotent");
    assert_eq!((again.outputs_moved, again.batches), (0, 0));
    let other = wallet(&mut ledger).await;
    let status = recover(&mut ledger, &mei, &phone, &other, &signers).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::RecoveryNotAllowed);

    // After a restart the phone is still frozen.
    ledger.restart().await;
    let status = ledger.client.submit(&spend).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::WalletFrozen);
    ledger.assert_supply(160_000).await;
    ledger.shutdown().await;
}

/// A refused recovery: what it is, the person, the lost wallet, the
/// replacement, the signers, and the status and reason expected.
type Case<'a> = (&'a str, PersonRef, &'a Keypair, &'a Keypair, Vec<&'a Keypair>, Code, proto::Reason);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_that_break_a_rule_are_refused_and_change_nothing() {
    let mut ledger = TestLedger::start().await;
    let (mei, phone) = mei_with_money(&mut ledger).await;
    let card = wallet(&mut ledger).await;
    let (wang, wang_card) = (
        client::person_ref(b"administrator key of the recovery test", "B2").expect("a number"),
        wallet(&mut ledger).await,
    );
    let beneficiary = proto::Beneficiary {
        person_ref: wang.0.to_vec(),
        wallets: vec![wang_card.address().0.to_vec()],
        designations: Vec::new(),
    };
    let request = proto::RegisterBeneficiaryRequest { beneficiary: Some(beneficiary) };
    ledger.client.admin.register_beneficiary(request).await.expect("wang");
    let issuers = ledger.issuers.clone();
    let outsider = Keypair::generate();
    let height = ledger.tip().await.height;
    let cases: Vec<Case<'_>> = vec![
        (
            "one issuer of a 2-of-3 threshold",
            mei,
            &phone,
            &card,
            vec![&issuers[0]],
            Code::FailedPrecondition,
            proto::Reason::MintThreshold,
        ),
        (
            "an issuer and a key that is none",
            mei,
            &phone,
            &card,
            vec![&issuers[0], &outsider],
            Code::FailedPrecondition,
            proto::Reason::UnexpectedWitness,
        ),
        (
            "to another person's wallet",
            mei,
            &phone,
            &wang_card,
            vec![&issuers[0], &issuers[1]],
            Code::FailedPrecondition,
            proto::Reason::RecoveryNotAllowed,
        ),
        (
            "of a wallet that is not the person's",
            wang,
            &phone,
            &card,
            vec![&issuers[0], &issuers[1]],
            Code::FailedPrecondition,
            proto::Reason::RecoveryNotAllowed,
        ),
        (
            "a wallet as its own replacement",
            mei,
            &phone,
            &phone,
            vec![&issuers[0], &issuers[1]],
            Code::FailedPrecondition,
            proto::Reason::RecoveryNotAllowed,
        ),
    ];
    for (what, person, lost, replacement, signers, code, reason) in cases {
        let status = recover(&mut ledger, &person, lost, replacement, &signers).await.expect_err(what);
        assert_eq!((status.code(), client::status_reason(&status)), (code, Some(reason)), "{what}: {status:?}");
    }
    // Signatures of another recovery authorise nothing here.
    let mut request = proto::RecoverWalletRequest {
        person_ref: mei.0.to_vec(),
        lost_wallet: phone.address().0.to_vec(),
        replacement_wallet: card.address().0.to_vec(),
        authorization: client::recovery_authorization(
            &ledger.chain,
            &phone.address(),
            &wang_card.address(),
            &[&issuers[0], &issuers[1]],
        ),
    };
    let status = ledger.client.admin.recover_wallet(request.clone()).await.unwrap_err();
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::BadSignature);
    request.person_ref.pop();
    let status = ledger.client.admin.recover_wallet(request).await.unwrap_err();
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::InvalidRegistration);
    assert_eq!(ledger.tip().await.height, height, "nothing refused was sequenced");
    assert_eq!(held(&mut ledger, &phone).await, vec![(0, 50_000), (MONTHLY, 80_000), (FOOD, 30_000)]);

    // Only the issuer role may ask, and a recovery transaction is never a payment.
    let token = "a bank token of the recovery test";
    let bank = proto::Bank {
        id: "bank-r".to_owned(),
        name: "Bank R".to_owned(),
        credential_sha256: vec![settled::sha256(token.as_bytes()).to_vec()],
    };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let mut as_bank = ledger.client.with_credential(Credential::token(token));
    let request = proto::RecoverWalletRequest {
        person_ref: mei.0.to_vec(),
        lost_wallet: phone.address().0.to_vec(),
        replacement_wallet: card.address().0.to_vec(),
        authorization: client::recovery_authorization(
            &ledger.chain,
            &phone.address(),
            &card.address(),
            &[&issuers[0], &issuers[1]],
        ),
    };
    assert_eq!(as_bank.admin.recover_wallet(request).await.unwrap_err().code(), Code::PermissionDenied);
    let coins: Vec<_> = ledger
        .unspent(&phone.address())
        .await
        .iter()
        .map(|c| client::unspent_from_proto(c).expect("an output"))
        .filter(|(_, o)| o.programme == FOOD)
        .collect();
    let mut by_hand = settled::Transaction {
        version: settled::TX_VERSION,
        kind: settled::TxKind::Recovery,
        inputs: vec![coins[0].0],
        outputs: vec![output(card.address(), 30_000, FOOD)],
        reference: settled::recovery_reference(&phone.address(), &card.address()),
        witnesses: Vec::new(),
    };
    let message = settled::recovery_authorization(&ledger.chain, &phone.address(), &card.address());
    by_hand.witnesses = [&issuers[0], &issuers[1]]
        .iter()
        .map(|k| settled::Witness { public_key: k.address(), signature: k.sign(&message) })
        .collect();
    let status = ledger.client.submit(&by_hand).await.unwrap_err();
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::WrongService);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_recovers_a_lost_wallet() {
    let mut ledger = TestLedger::start().await;
    let (mei, phone) = mei_with_money(&mut ledger).await;
    let card = wallet(&mut ledger).await;
    let dir = ledger.data_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
        .args(["beneficiary", "recover", "--person", &mei.to_string()])
        .args(["--lost", &phone.address().to_string(), "--replacement", &card.address().to_string()])
        .arg("--issuer-key-file")
        .arg(dir.join("issuer-1.key"))
        .arg("--issuer-key-file")
        .arg(dir.join("issuer-3.key"))
        .args(["--server", &ledger.server().url()])
        .arg("--token-file")
        .arg(dir.join("dev.token"))
        .env_remove("SETTLED_TOKEN")
        .env_remove("SETTLED_SERVER")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text} {}", String::from_utf8_lossy(&output.stderr));
    assert!(
        text.contains("moved 2 earmarked outputs (110000 minor units)") && text.contains("50000 minor units"),
        "{text}"
    );
    assert_eq!(held(&mut ledger, &card).await, vec![(MONTHLY, 80_000), (FOOD, 30_000)]);
    ledger.shutdown().await;
}
