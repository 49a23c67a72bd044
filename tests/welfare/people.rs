//! Programmes that pay people, not addresses: beneficiaries known by a
//! pseudonymous person reference, with wallets they designate per
//! programme, each paid at most once a month whatever file, row or wallet
//! claims again, concurrently or after a restart; every claim that breaks
//! a rule refused with its own reason and nothing changed; the claims
//! refused as paid already counted per period, never who.

use crate::common;

use std::process::Command;

use common::{TestLedger, assert_refusal, error_metadata};
use settled::client::{self, Credential};
use settled::{Address, Keypair, PersonRef, TxId, proto};
use tonic::Code;

const MONTHLY: u32 = 31;
const BY_ADDRESS: u32 = 32;
const DAY_OFFSET_MINUTES: i32 = common::LEDGER_DAY_OFFSET_MINUTES;
const BIN: &str = env!("CARGO_BIN_EXE_settled");

/// A person reference as the administrator derives it.
fn person(identity_number: &str) -> PersonRef {
    client::person_ref(b"the administrator's secret key, 32 bytes or more", identity_number).expect("a number")
}

fn designation(programme_id: u32, wallet: &Keypair) -> proto::Designation {
    proto::Designation { programme_id, wallet: wallet.address().0.to_vec() }
}

fn record(person: &PersonRef, wallets: &[&Keypair], designations: Vec<proto::Designation>) -> proto::Beneficiary {
    proto::Beneficiary {
        person_ref: person.0.to_vec(),
        wallets: wallets.iter().map(|w| w.address().0.to_vec()).collect(),
        designations,
    }
}

async fn register(ledger: &mut TestLedger, beneficiary: proto::Beneficiary) -> Result<u64, tonic::Status> {
    let request = proto::RegisterBeneficiaryRequest { beneficiary: Some(beneficiary) };
    ledger.client.admin.register_beneficiary(request).await.map(|r| r.into_inner().height)
}

async fn update(ledger: &mut TestLedger, beneficiary: proto::Beneficiary) -> Result<u64, tonic::Status> {
    let request = proto::UpdateBeneficiaryRequest { beneficiary: Some(beneficiary) };
    ledger.client.admin.update_beneficiary(request).await.map(|r| r.into_inner().height)
}

/// A grocery programme paid once a month per person, valid from the epoch
/// for ever, and one that pays addresses.
async fn programmes(ledger: &mut TestLedger) {
    for (id, period) in [(MONTHLY, proto::PaymentPeriod::Month), (BY_ADDRESS, proto::PaymentPeriod::Unspecified)] {
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

/// A wallet registered at the test bank, tier 3.
async fn wallet(ledger: &mut TestLedger) -> Keypair {
    let key = Keypair::generate();
    ledger.wallet(&key, 3).await;
    key
}

/// This month and the last, in the ledger's time zone, by its clock.
fn months(ledger: &TestLedger) -> (u32, u32) {
    let now = ledger.clock.now_unix_ms();
    let this = settled::month_of(now, DAY_OFFSET_MINUTES);
    let (start, _) = settled::month_bounds_ms(this, DAY_OFFSET_MINUTES).expect("a month");
    (this, settled::month_of(start - 1, DAY_OFFSET_MINUTES))
}

fn claim(ledger: &TestLedger, period: u32, who: &PersonRef, to: Address, amount_minor: u64) -> settled::Transaction {
    let signers: Vec<&Keypair> = ledger.issuers.iter().take(2).collect();
    client::claim(&ledger.chain, MONTHLY, period, who, to, amount_minor, &signers)
}

async fn paid_by_period(ledger: &mut TestLedger) -> Vec<(u32, u64, u64)> {
    let request = proto::GetProgrammeStatsRequest { programme_id: MONTHLY };
    let stats = ledger.client.admin.get_programme_stats(request).await.expect("stats").into_inner();
    stats.paid_by_period.iter().map(|p| (p.period, p.beneficiaries, p.amount_minor)).collect()
}

/// Per period: the claims refused as paid already.
async fn duplicates_by_period(ledger: &mut TestLedger) -> Vec<(u32, u64)> {
    let request = proto::GetProgrammeStatsRequest { programme_id: MONTHLY };
    let stats = ledger.client.admin.get_programme_stats(request).await.expect("stats").into_inner();
    stats.paid_by_period.iter().map(|p| (p.period, p.duplicate_claims_refused)).collect()
}

/// [`duplicates_by_period`] once it is `expected`: a refusal is answered
/// at once, its count written by the writer's next commit.
async fn duplicates_become(ledger: &mut TestLedger, expected: &[(u32, u64)]) {
    let deadline = std::time::Instant::now() + common::HANG_GUARD;
    loop {
        let counted = duplicates_by_period(ledger).await;
        if counted == expected {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "refused claims {counted:?}, expected {expected:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn paid_by(status: &tonic::Status) -> TxId {
    TxId::from_hex(&error_metadata(status)["spent_by_txid"]).expect("a txid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_paid_once_a_month_whatever_wallet_or_amount_a_later_claim_names() {
    let mut ledger = TestLedger::start().await;
    programmes(&mut ledger).await;
    let (phone, card) = (wallet(&mut ledger).await, wallet(&mut ledger).await);
    let mei = person("110105194912310021");
    register(&mut ledger, record(&mei, &[&phone, &card], vec![designation(MONTHLY, &phone)]))
        .await
        .expect("registered");
    let (this_month, last_month) = months(&ledger);

    let first = claim(&ledger, this_month, &mei, phone.address(), 80_000);
    let (receipt, duplicate) = ledger.client.mint(&first).await.expect("this month's benefit paid");
    assert!(!duplicate);
    // The very same claim again (a re-run file) is the same transaction:
    // its receipt, marked duplicate, and nothing paid twice.
    let (again, duplicate) = ledger.client.mint(&first).await.expect("answered with its receipt");
    assert!(duplicate && again.txid == receipt.txid);
    // Another amount for the same month: refused, naming the mint that paid.
    let status = ledger.client.mint(&claim(&ledger, this_month, &mei, phone.address(), 90_000)).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ClaimAlreadyPaid);
    assert_eq!(paid_by(&status), receipt.txid);
    assert!(status.message().contains(&this_month.to_string()), "{}", status.message());

    // The person moves the programme to the card: the month stays paid.
    update(&mut ledger, record(&mei, &[&phone, &card], vec![designation(MONTHLY, &card)])).await.expect("updated");
    let status = ledger.client.mint(&claim(&ledger, this_month, &mei, card.address(), 80_000)).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ClaimAlreadyPaid);
    assert_eq!(paid_by(&status), receipt.txid);
    // Last month was not paid: it is, to the card.
    ledger.client.mint(&claim(&ledger, last_month, &mei, card.address(), 70_000)).await.expect("last month paid");

    assert_eq!(ledger.balance(&phone.address()).await.total_minor, 80_000);
    assert_eq!(ledger.balance(&card.address()).await.total_minor, 70_000);
    ledger.assert_supply(150_000).await;
    let mut expected = vec![(last_month, 1, 70_000), (this_month, 1, 80_000)];
    expected.sort_unstable();
    assert_eq!(paid_by_period(&mut ledger).await, expected);

    // A restart keeps the month paid and the record as it was changed.
    ledger.restart().await;
    let status = ledger.client.mint(&claim(&ledger, this_month, &mei, card.address(), 1)).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ClaimAlreadyPaid);
    let request = proto::GetBeneficiaryRequest { person_ref: mei.0.to_vec() };
    let stored = ledger.client.admin.get_beneficiary(request).await.expect("found").into_inner();
    assert_eq!(stored.beneficiary, Some(record(&mei, &[&phone, &card], vec![designation(MONTHLY, &card)])));
    // The registry rebuilt from its operations judges new claims: the month
    // before last is unpaid, payable to the card, not to the phone.
    let (start, _) = settled::month_bounds_ms(last_month, DAY_OFFSET_MINUTES).expect("a month");
    let before_last = settled::month_of(start - 1, DAY_OFFSET_MINUTES);
    let status = ledger.client.mint(&claim(&ledger, before_last, &mei, phone.address(), 1)).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::NotDesignated);
    ledger.client.mint(&claim(&ledger, before_last, &mei, card.address(), 1)).await.expect("paid to the card");
    ledger.assert_supply(150_001).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_refused_as_paid_already_are_counted_per_period_and_the_count_survives_a_restart() {
    let mut ledger = TestLedger::start().await;
    programmes(&mut ledger).await;
    let (phone, card) = (wallet(&mut ledger).await, wallet(&mut ledger).await);
    let mei = person("110105194912310021");
    register(&mut ledger, record(&mei, &[&phone, &card], vec![designation(MONTHLY, &phone)]))
        .await
        .expect("registered");
    let (this_month, last_month) = months(&ledger);
    let first = claim(&ledger, this_month, &mei, phone.address(), 80_000);
    ledger.client.mint(&first).await.expect("this month's benefit paid");
    ledger.client.mint(&claim(&ledger, last_month, &mei, phone.address(), 70_000)).await.expect("last month's");
    let mut periods = [last_month, this_month];
    periods.sort_unstable();
    let counts = |this: u64| periods.map(|p| (p, if p == this_month { this } else { 0 }));

    // Two other claims of this month (another amount, another file): both
    // refused, both counted for this month and for no other.
    for amount in [90_000, 80_001] {
        let status = ledger.client.mint(&claim(&ledger, this_month, &mei, phone.address(), amount)).await.unwrap_err();
        assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ClaimAlreadyPaid);
    }
    duplicates_become(&mut ledger, &counts(2)).await;
    // The very same claim again is a resubmission, not a refused claim.
    let (_, duplicate) = ledger.client.mint(&first).await.expect("answered with its receipt");
    assert!(duplicate);
    assert_eq!(paid_by_period(&mut ledger).await, vec![(last_month, 1, 70_000), (this_month, 1, 80_000)]);
    assert_eq!(duplicates_by_period(&mut ledger).await, counts(2));

    // No block was written since the refusals: the count is durable on its
    // own, and counted on after a restart.
    ledger.restart().await;
    assert_eq!(duplicates_by_period(&mut ledger).await, counts(2));
    let status = ledger.client.mint(&claim(&ledger, this_month, &mei, card.address(), 1)).await.unwrap_err();
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ClaimAlreadyPaid);
    // A clean shutdown right after a refusal writes its count first.
    ledger.restart().await;
    assert_eq!(duplicates_by_period(&mut ledger).await, counts(3));
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_for_one_month_pay_exactly_one_of_them() {
    const CLAIMS: u64 = 12;
    let mut ledger = TestLedger::start().await;
    programmes(&mut ledger).await;
    let phone = wallet(&mut ledger).await;
    let li = person("31010419800101123X");
    register(&mut ledger, record(&li, &[&phone], vec![designation(MONTHLY, &phone)])).await.expect("registered");
    let (this_month, _) = months(&ledger);
    // Twelve files each claiming the month with another amount, at once.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CLAIMS {
        let tx = claim(&ledger, this_month, &li, phone.address(), 10_000 + i);
        let mut client = ledger.client.clone();
        calls.spawn(async move { (tx.outputs[0].amount_minor, client.mint(&tx).await) });
    }
    let mut paid = Vec::new();
    let mut refused = Vec::new();
    while let Some(joined) = calls.join_next().await {
        match joined.expect("joins") {
            (amount, Ok((receipt, false))) => paid.push((amount, receipt.txid)),
            (_, Ok((_, true))) => panic!("no two claims are the same transaction"),
            (_, Err(status)) => {
                assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ClaimAlreadyPaid);
                refused.push(paid_by(&status));
            }
        }
    }
    assert_eq!(paid.len(), 1, "exactly one claim of the month is paid: {paid:?}");
    let (amount, txid) = paid[0];
    assert_eq!(refused.len() as u64, CLAIMS - 1);
    assert!(refused.iter().all(|t| *t == txid), "every refusal names the mint that paid");
    ledger.assert_supply(amount).await;
    assert_eq!(paid_by_period(&mut ledger).await, vec![(this_month, 1, amount)]);
    duplicates_become(&mut ledger, &[(this_month, CLAIMS - 1)]).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_that_break_a_rule_are_refused_with_their_reason_and_pay_nothing() {
    let mut ledger = TestLedger::start().await;
    programmes(&mut ledger).await;
    let (phone, card, other) = (wallet(&mut ledger).await, wallet(&mut ledger).await, wallet(&mut ledger).await);
    let (mei, wang, nobody) = (person("A1"), person("B2"), person("C3"));
    register(&mut ledger, record(&mei, &[&phone, &card], vec![designation(MONTHLY, &phone)])).await.expect("mei");
    register(&mut ledger, record(&wang, &[&other], vec![designation(MONTHLY, &other)])).await.expect("wang");
    let (this_month, _) = months(&ledger);
    let (_, this_month_end) = settled::month_bounds_ms(this_month, DAY_OFFSET_MINUTES).expect("a month");
    let next_month = settled::month_of(this_month_end, DAY_OFFSET_MINUTES);
    let signers: Vec<&Keypair> = ledger.issuers.iter().take(2).collect();
    let cases: Vec<(&str, settled::Transaction, proto::Reason)> = vec![
        (
            "a mint into a programme that pays people, by row reference",
            client::mint(&ledger.chain, vec![client::output(phone.address(), 5, MONTHLY)], b"disb:31:row-1", &signers),
            proto::Reason::ClaimRequired,
        ),
        (
            "a claim on a programme that pays addresses",
            client::mint(
                &ledger.chain,
                vec![client::output(phone.address(), 5, BY_ADDRESS)],
                &settled::claim_reference(BY_ADDRESS, this_month, &mei),
                &signers,
            ),
            proto::Reason::ClaimRequired,
        ),
        (
            "a claim paying two outputs",
            client::mint(
                &ledger.chain,
                vec![client::output(phone.address(), 5, MONTHLY), client::output(card.address(), 5, MONTHLY)],
                &settled::claim_reference(MONTHLY, this_month, &mei),
                &signers,
            ),
            proto::Reason::ClaimRequired,
        ),
        ("next month", claim(&ledger, next_month, &mei, phone.address(), 5), proto::Reason::BadPeriod),
        ("month 13", claim(&ledger, this_month / 100 * 100 + 13, &mei, phone.address(), 5), proto::Reason::BadPeriod),
        (
            "a linked wallet not designated",
            claim(&ledger, this_month, &mei, card.address(), 5),
            proto::Reason::NotDesignated,
        ),
        ("another person's wallet", claim(&ledger, this_month, &mei, other.address(), 5), proto::Reason::NotDesignated),
        (
            "a person registered nowhere",
            claim(&ledger, this_month, &nobody, phone.address(), 5),
            proto::Reason::NotDesignated,
        ),
        (
            "a claim reference one byte short (no claim)",
            client::mint(
                &ledger.chain,
                vec![client::output(phone.address(), 5, MONTHLY)],
                &settled::claim_reference(MONTHLY, this_month, &mei)[..settled::CLAIM_REFERENCE_BYTES - 1],
                &signers,
            ),
            proto::Reason::ClaimRequired,
        ),
        (
            "a claim reference one byte long (no claim)",
            client::mint(
                &ledger.chain,
                vec![client::output(phone.address(), 5, MONTHLY)],
                &[settled::claim_reference(MONTHLY, this_month, &mei), vec![0]].concat(),
                &signers,
            ),
            proto::Reason::ClaimRequired,
        ),
        (
            "another month's tag",
            client::mint(
                &ledger.chain,
                vec![client::output(phone.address(), 5, MONTHLY)],
                &[
                    &settled::claim_reference(MONTHLY, this_month, &mei)[..12],
                    &settled::claim_tag(MONTHLY, this_month - 1, &mei),
                ]
                .concat(),
                &signers,
            ),
            proto::Reason::NotDesignated,
        ),
        ("period 0", claim(&ledger, 0, &mei, phone.address(), 5), proto::Reason::BadPeriod),
        (
            "a wallet of nobody",
            claim(&ledger, this_month, &mei, Keypair::generate().address(), 5),
            proto::Reason::NotDesignated,
        ),
    ];
    for (what, tx, reason) in cases {
        let status = ledger.client.mint(&tx).await.expect_err(what);
        assert_refusal(&status, Code::FailedPrecondition, reason);
    }
    ledger.assert_supply(0).await;
    assert_eq!(paid_by_period(&mut ledger).await, Vec::new());
    // The rules refused those claims, not the person: the right one pays.
    ledger.client.mint(&claim(&ledger, this_month, &mei, phone.address(), 5)).await.expect("paid");
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beneficiary_records_that_break_a_rule_are_refused_and_only_the_authority_sees_them() {
    let mut ledger = TestLedger::start().await;
    programmes(&mut ledger).await;
    let (phone, card) = (wallet(&mut ledger).await, wallet(&mut ledger).await);
    let mei = person("A1");
    let unregistered = Keypair::generate();
    let mut short = record(&mei, &[&phone], Vec::new());
    short.person_ref.pop();
    let zeros = record(&PersonRef([0; 32]), &[&phone], Vec::new());
    let refused: Vec<(&str, proto::Beneficiary, Code, proto::Reason)> = vec![
        ("a 31-byte person reference", short, Code::InvalidArgument, proto::Reason::InvalidRegistration),
        ("a person reference of zeros", zeros, Code::InvalidArgument, proto::Reason::InvalidRegistration),
        ("no wallet", record(&mei, &[], Vec::new()), Code::InvalidArgument, proto::Reason::InvalidRegistration),
        (
            "a wallet nobody registered",
            record(&mei, &[&unregistered], Vec::new()),
            Code::FailedPrecondition,
            proto::Reason::UnknownParticipant,
        ),
        (
            "a designated wallet not linked",
            record(&mei, &[&phone], vec![designation(MONTHLY, &card)]),
            Code::InvalidArgument,
            proto::Reason::InvalidRegistration,
        ),
        (
            "a designation for a programme that pays addresses",
            record(&mei, &[&phone], vec![designation(BY_ADDRESS, &phone)]),
            Code::InvalidArgument,
            proto::Reason::InvalidRegistration,
        ),
        (
            "a designation for no programme",
            record(&mei, &[&phone], vec![designation(999, &phone)]),
            Code::FailedPrecondition,
            proto::Reason::UnknownProgramme,
        ),
    ];
    let height = ledger.tip().await.height;
    for (what, beneficiary, code, reason) in refused {
        let status = register(&mut ledger, beneficiary).await.expect_err(what);
        assert_refusal(&status, code, reason);
    }
    assert_eq!(ledger.tip().await.height, height, "nothing refused was sequenced");
    let status = update(&mut ledger, record(&mei, &[&phone], Vec::new())).await.expect_err("not registered");
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::UnknownParticipant);

    register(&mut ledger, record(&mei, &[&phone], vec![designation(MONTHLY, &phone)])).await.expect("registered");
    let status = register(&mut ledger, record(&mei, &[&card], Vec::new())).await.expect_err("twice");
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
    let status = register(&mut ledger, record(&person("B2"), &[&phone], Vec::new())).await.expect_err("taken");
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
    // An update that drops a wallet frees it for another person; taking
    // another person's wallet is refused.
    update(&mut ledger, record(&mei, &[&card], vec![designation(MONTHLY, &card)])).await.expect("phone dropped");
    register(&mut ledger, record(&person("B2"), &[&phone], Vec::new())).await.expect("the phone is free");
    let status = update(&mut ledger, record(&mei, &[&card, &phone], Vec::new())).await.expect_err("B2's phone");
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::AlreadyRegistered);
    update(&mut ledger, record(&mei, &[&phone], vec![designation(MONTHLY, &phone)])).await.expect_err("not hers");

    // Listing and lookups: the registered records, NOT_FOUND for anyone else.
    let list = ledger.client.admin.list_beneficiaries(proto::ListRequest::default()).await.expect("list").into_inner();
    let mut expected =
        vec![record(&mei, &[&card], vec![designation(MONTHLY, &card)]), record(&person("B2"), &[&phone], Vec::new())];
    expected.sort_by(|a, b| a.person_ref.cmp(&b.person_ref));
    assert_eq!(list.beneficiaries, expected);
    let request = proto::GetBeneficiaryRequest { person_ref: person("C3").0.to_vec() };
    assert_eq!(ledger.client.admin.get_beneficiary(request).await.unwrap_err().code(), Code::NotFound);

    // A bank or a terminal sees no beneficiary and changes none.
    ledger.bank("bank-north").await;
    let token = "a bank's token for the people test";
    let bank = proto::Bank {
        id: "bank-people".to_owned(),
        name: "People's bank".to_owned(),
        credential_sha256: vec![settled::sha256(token.as_bytes()).to_vec()],
    };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let mut as_bank = ledger.client.with_credential(Credential::token(token));
    let status = as_bank.admin.list_beneficiaries(proto::ListRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let request = proto::GetBeneficiaryRequest { person_ref: mei.0.to_vec() };
    assert_eq!(as_bank.admin.get_beneficiary(request).await.unwrap_err().code(), Code::PermissionDenied);
    let request = proto::UpdateBeneficiaryRequest { beneficiary: Some(record(&mei, &[&card], Vec::new())) };
    assert_eq!(as_bank.admin.update_beneficiary(request).await.unwrap_err().code(), Code::PermissionDenied);
    ledger.shutdown().await;
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_derives_person_references_and_disburses_person_rows_once_a_month() {
    let mut ledger = TestLedger::start().await;
    programmes(&mut ledger).await;
    let dir = ledger.data_dir();
    let key_file = dir.join("admin-person.key");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).expect("key written");
    let person_ref = |id: &str| {
        let (ok, out) = run(Command::new(BIN).args(["person-ref", "--id", id]).arg("--key-file").arg(&key_file));
        assert!(ok, "{out}");
        PersonRef::from_hex(out.trim()).expect("64 hex digits")
    };
    let (mei, wang) = (person_ref("110105 19491231 002x"), person_ref("220102195001010011"));
    assert_eq!(mei, person_ref("11010519491231002X"), "spaces and case do not make another person");
    assert_eq!(mei, person_ref("110105-19491231-002x\u{200b}"), "nor hyphens or an invisible space");
    assert_eq!(
        mei,
        person_ref("\u{ff11}\u{ff11}\u{ff10}\u{ff11}\u{ff10}\u{ff15}19491231002X"),
        "nor full-width digits"
    );
    assert_eq!(mei, client::person_ref(&[0x5a; 32], "11010519491231002X").expect("a number"));
    for refused in ["", " - ", "\u{661}\u{661}\u{660}"] {
        let (ok, out) = run(Command::new(BIN).args(["person-ref", "--id", refused]).arg("--key-file").arg(&key_file));
        assert!(!ok && out.contains("identity number"), "{refused:?}: {out}");
    }

    let (mei_phone, wang_card) = (wallet(&mut ledger).await, wallet(&mut ledger).await);
    for (who, wallet) in [(&mei, &mei_phone), (&wang, &wang_card)] {
        let (ok, out) = run(Command::new(BIN)
            .args(["beneficiary", "register", "--person", &who.to_string(), "--wallet", &wallet.address().to_string()])
            .args(["--designate", &format!("{MONTHLY}={}", wallet.address())])
            .args(["--server", &ledger.server().url()])
            .arg("--token-file")
            .arg(dir.join("dev.token"))
            .env_remove("SETTLED_TOKEN"));
        assert!(ok && out.contains("registered in block"), "{out}");
    }
    let (this_month, _) = months(&ledger);
    let disburse = |file: &std::path::Path| {
        run(Command::new(BIN)
            .args(["disburse", "--programme", &MONTHLY.to_string(), "--server", &ledger.server().url()])
            .arg("--issuer-key-file")
            .arg(dir.join("issuer-1.key"))
            .arg("--issuer-key-file")
            .arg(dir.join("issuer-2.key"))
            .arg("--token-file")
            .arg(dir.join("dev.token"))
            .arg(file)
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER"))
    };
    // As a spreadsheet saves it: a byte order mark, quoted fields, CRLF.
    let nobody = person_ref("000000000000000000");
    let january = dir.join("month.csv");
    std::fs::write(
        &january,
        format!(
            "\u{feff}person,amount,period\r\n\"{mei}\",\"800.00\",{this_month}\r\n{wang},650.00,{this_month}\r\n\
             {nobody},100.00,{this_month}\r\n"
        ),
    )
    .expect("written");
    let (ok, out) = disburse(&january);
    assert!(!ok, "a refused row fails the run: {out}");
    assert!(out.contains("paid: 2 (1450.00)") && out.contains("refused: 1"), "{out}");
    assert!(out.contains("line 4: refused NOT_FOUND"), "the row refused is named: {out}");
    // Another file for the same month, with another amount for Mei: her
    // month is paid once; the refusal names the line and the mint.
    let again = dir.join("again.csv");
    std::fs::write(&again, format!("person,amount,period\n{mei},900.00,{this_month}\n")).expect("written");
    let (ok, out) = disburse(&again);
    assert!(!ok, "{out}");
    assert!(out.contains("paid: 0") && out.contains("line 2: refused REASON_CLAIM_ALREADY_PAID"), "{out}");
    assert!(out.contains("by mint "), "{out}");
    ledger.assert_supply(145_000).await;
    ledger.shutdown().await;
}
