//! Expiry and clawback: after a programme ends, its leftovers held by
//! beneficiaries go back to its treasury in issuer-authorised batches;
//! merchants keep their takings; running it again moves nothing twice.

use crate::common;

use common::{TestLedger, assert_refusal};
use settled::client::ClawbackTerms;
use settled::client::{self, output};
use settled::{ChainId, Keypair, proto};
use tonic::Code;

const PROGRAMME: u32 = 77;
const BENEFICIARIES: usize = 20;
const GRANT_MINOR: u64 = 30_000;
const HOUR_MS: u64 = 3_600_000;

async fn clawback(
    ledger: &mut TestLedger,
    terms: &ClawbackTerms,
    signers: &[&Keypair],
) -> Result<proto::ClawbackResponse, tonic::Status> {
    let authorization = client::clawback_authorization(terms, signers);
    let request = proto::ClawbackRequest { programme_id: PROGRAMME, authorization, resume_after: Vec::new() };
    ledger.client.admin.clawback(request).await.map(tonic::Response::into_inner)
}

/// A non-transferable grocery programme (MCC 5411/5499) ending in an hour;
/// returns what its clawback authorisation names.
async fn programme_for_an_hour(ledger: &mut TestLedger, treasury: &Keypair, name: &str) -> ClawbackTerms {
    let valid_until_ms = ledger.clock.now_unix_ms() + HOUR_MS;
    ledger
        .programme_with(proto::Programme {
            id: PROGRAMME,
            name: name.to_owned(),
            allowed_mccs: vec![5411, 5499],
            valid_from_unix_ms: 0,
            valid_until_unix_ms: valid_until_ms,
            transferable: false,
            treasury_address: treasury.address().0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 0,
        })
        .await;
    ClawbackTerms { chain: ledger.chain, programme: PROGRAMME, treasury: treasury.address(), valid_until_ms }
}

async fn stats(ledger: &mut TestLedger) -> proto::GetProgrammeStatsResponse {
    let request = proto::GetProgrammeStatsRequest { programme_id: PROGRAMME };
    ledger.client.admin.get_programme_stats(request).await.expect("stats").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_leftovers_go_back_to_the_treasury_once_and_merchants_keep_their_takings() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    let grocer = ledger.merchant("grocer", 5411).await;
    let terms = programme_for_an_hour(&mut ledger, &treasury, "Winter food support").await;
    let beneficiaries: Vec<Keypair> = (0..BENEFICIARIES).map(|_| Keypair::generate()).collect();
    let mut grants = Vec::new();
    for (row, chunk) in beneficiaries.chunks(16).enumerate() {
        let outputs = chunk.iter().map(|b| output(b.address(), GRANT_MINOR, PROGRAMME)).collect();
        grants.extend(ledger.mint_outputs(outputs, &format!("grant-{row}")).await);
    }
    let disbursed = GRANT_MINOR * BENEFICIARIES as u64;
    // One beneficiary shops: 120.00 at the grocer, the change keeps the earmark.
    let groceries = client::pay(&ledger.chain, &beneficiaries[0], grants[0], grocer.address(), 12_000, b"basket");
    ledger.client.submit(&groceries).await.expect("groceries paid");
    let issuers = ledger.issuers.clone();

    let early = clawback(&mut ledger, &terms, &[&issuers[0], &issuers[1]]).await.expect_err("too early");
    assert_refusal(&early, Code::FailedPrecondition, proto::Reason::ProgrammeNotExpired);

    ledger.clock.skew_by_ms(i64::try_from(2 * HOUR_MS).expect("fits"));
    let late = client::pay(&ledger.chain, &beneficiaries[1], grants[1], grocer.address(), 1_000, b"late");
    let status = ledger.client.submit(&late).await.expect_err("expired money cannot be spent");
    assert_refusal(&status, Code::FailedPrecondition, proto::Reason::ProgrammeExpired);

    let lone = clawback(&mut ledger, &terms, &[&issuers[0]]).await.expect_err("one issuer is not enough");
    assert_refusal(&lone, Code::FailedPrecondition, proto::Reason::MintThreshold);
    let outsider = Keypair::generate();
    let forged = clawback(&mut ledger, &terms, &[&issuers[0], &outsider]).await.expect_err("not an issuer");
    assert_refusal(&forged, Code::FailedPrecondition, proto::Reason::UnexpectedWitness);
    // An authorisation names the chain, the programme, its treasury and its
    // end of validity: one that names anything else authorises nothing.
    let others = [
        ("another programme", ClawbackTerms { programme: PROGRAMME + 1, ..terms }),
        ("another chain", ClawbackTerms { chain: ChainId([7; 32]), ..terms }),
        ("another treasury", ClawbackTerms { treasury: Keypair::generate().address(), ..terms }),
        ("another valid_until", ClawbackTerms { valid_until_ms: terms.valid_until_ms - 1, ..terms }),
    ];
    for (what, other) in others {
        let request = proto::ClawbackRequest {
            programme_id: PROGRAMME,
            authorization: client::clawback_authorization(&other, &[&issuers[0], &issuers[1]]),
            resume_after: Vec::new(),
        };
        let status = ledger.client.admin.clawback(request).await.expect_err(what);
        assert_refusal(&status, Code::InvalidArgument, proto::Reason::BadSignature);
    }

    let moved = clawback(&mut ledger, &terms, &[&issuers[0], &issuers[2]]).await.expect("clawed back");
    let leftovers = disbursed - 12_000;
    assert_eq!(moved.amount_minor, leftovers);
    assert_eq!(moved.outputs_moved, BENEFICIARIES as u64, "19 untouched grants and one change output");
    assert_eq!(moved.batches, 2, "16 inputs per batch");
    assert!(!moved.more);
    assert_eq!(moved.clawed_back_total_minor, leftovers);

    let treasury_balance = ledger.balance(&treasury.address()).await;
    assert_eq!(treasury_balance.total_minor, leftovers);
    assert_eq!(treasury_balance.balances.len(), 1);
    assert_eq!(treasury_balance.balances[0].programme_id, 0, "clawed-back money is the treasury's to reuse");
    let grocer_balance = ledger.balance(&grocer.address()).await;
    assert_eq!(grocer_balance.total_minor, 12_000, "the grocer keeps its takings, still tagged");
    assert_eq!(grocer_balance.balances[0].programme_id, PROGRAMME);
    for beneficiary in &beneficiaries {
        assert_eq!(ledger.balance(&beneficiary.address()).await.total_minor, 0);
    }

    let again = clawback(&mut ledger, &terms, &[&issuers[0], &issuers[1]]).await.expect("a second run is fine");
    assert_eq!((again.outputs_moved, again.amount_minor, again.batches), (0, 0, 0), "nothing moves twice");
    assert_eq!(again.clawed_back_total_minor, leftovers);
    let lone_again =
        clawback(&mut ledger, &terms, &[&issuers[2]]).await.expect_err("nothing to move, still authorised");
    assert_refusal(&lone_again, Code::FailedPrecondition, proto::Reason::MintThreshold);

    let figures = stats(&mut ledger).await;
    assert_eq!(figures.disbursed_minor, disbursed);
    assert_eq!(figures.spent_by_mcc, vec![proto::MccAmount { mcc: 5411, amount_minor: 12_000 }]);
    assert_eq!(figures.spent_minor, 12_000);
    assert_eq!(figures.clawed_back_minor, leftovers);
    assert_eq!(figures.outstanding_minor, 0);
    ledger.assert_supply(disbursed).await;

    // Statistics and the clawback survive a restart.
    ledger.restart().await;
    assert_eq!(stats(&mut ledger).await.clawed_back_minor, leftovers);
    let after_restart = clawback(&mut ledger, &terms, &[&issuers[1], &issuers[2]]).await.expect("still idempotent");
    assert_eq!(after_restart.outputs_moved, 0);
    ledger.assert_supply(disbursed).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clawback_of_an_unknown_programme_is_refused() {
    let mut ledger = TestLedger::start().await;
    let issuers = ledger.issuers.clone();
    let terms = ClawbackTerms {
        chain: ledger.chain,
        programme: PROGRAMME,
        treasury: Keypair::generate().address(),
        valid_until_ms: 0,
    };
    let status = clawback(&mut ledger, &terms, &[&issuers[0], &issuers[1]]).await.expect_err("no such programme");
    assert_refusal(&status, Code::NotFound, proto::Reason::UnknownProgramme);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_stops_at_its_step_limit_and_resumes_where_it_stopped() {
    // One step (one batch of up to 16 outputs) per call.
    let mut ledger = TestLedger::start_rigged(|rigs| rigs.clawback_steps_per_call = Some(1)).await;
    let treasury = Keypair::generate();
    let grocer = ledger.merchant("grocer", 5411).await;
    let terms = programme_for_an_hour(&mut ledger, &treasury, "Short programme").await;
    // 40 beneficiaries, and the grocer holding 16 payments of the programme
    // scattered among them in outpoint order.
    let beneficiaries: Vec<Keypair> = (0..40).map(|_| Keypair::generate()).collect();
    let mut grants = Vec::new();
    for (row, chunk) in beneficiaries.chunks(16).enumerate() {
        let outputs = chunk.iter().map(|b| output(b.address(), GRANT_MINOR, PROGRAMME)).collect();
        grants.extend(ledger.mint_outputs(outputs, &format!("grant-{row}")).await);
    }
    for (i, grant) in grants.iter().take(16).enumerate() {
        let basket =
            client::pay(&ledger.chain, &beneficiaries[i], *grant, grocer.address(), 1_000, format!("b{i}").as_bytes());
        ledger.client.submit(&basket).await.expect("groceries");
    }
    ledger.clock.skew_by_ms(i64::try_from(2 * HOUR_MS).expect("fits"));
    let issuers = ledger.issuers.clone();
    let authorization = client::clawback_authorization(&terms, &[&issuers[0], &issuers[1]]);
    let (mut moved, mut amount, mut calls) = (0, 0, 0);
    let mut resume_after = Vec::new();
    loop {
        calls += 1;
        assert!(calls <= 20, "the clawback must end");
        let request = proto::ClawbackRequest {
            programme_id: PROGRAMME,
            authorization: authorization.clone(),
            resume_after: std::mem::take(&mut resume_after),
        };
        let response = ledger.client.admin.clawback(request).await.expect("clawback").into_inner();
        assert!(response.batches <= 1, "one step per call");
        moved += response.outputs_moved;
        amount += response.amount_minor;
        if !response.more {
            break;
        }
        assert!(!response.resume_after.is_empty(), "a call that stops says where to resume");
        resume_after = response.resume_after;
    }
    assert!(calls > 3, "40 outputs and the grocer's 16 take several one-step calls ({calls})");
    let leftovers = 40 * GRANT_MINOR - 16 * 1_000;
    assert_eq!(moved, 40, "24 untouched grants and 16 change outputs");
    assert_eq!(amount, leftovers);
    assert_eq!(ledger.balance(&treasury.address()).await.total_minor, leftovers);
    assert_eq!(ledger.balance(&grocer.address()).await.total_minor, 16_000, "the grocer keeps its takings");
    let bad = proto::ClawbackRequest { programme_id: PROGRAMME, authorization, resume_after: vec![1, 2, 3] };
    let status = ledger.client.admin.clawback(bad).await.expect_err("not a cursor");
    assert_eq!(status.code(), Code::InvalidArgument);
    ledger.assert_supply(40 * GRANT_MINOR).await;
    ledger.shutdown().await;
}

/// What a refused clawback must leave alone: the tip, the unspent set
/// counted from storage, the programme's figures, and the balances of the
/// treasury and the beneficiaries.
async fn clawback_state(
    ledger: &mut TestLedger,
    watched: &[&Keypair],
) -> (proto::GetInfoResponse, proto::GetProgrammeStatsResponse, Vec<proto::GetBalanceResponse>) {
    let info = ledger.info(true).await;
    let figures = stats(ledger).await;
    let mut balances = Vec::with_capacity(watched.len());
    for key in watched {
        balances.push(ledger.balance(&key.address()).await);
    }
    (info, figures, balances)
}

/// A clawback no issuer signed is `REASON_NO_WITNESSES` (PROTOCOL §10.1,
/// INVALID_ARGUMENT), checked before anything is built or moved, whether or
/// not there is something to move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clawback_with_an_empty_authorisation_is_refused_as_no_witnesses_and_moves_nothing() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    let terms = programme_for_an_hour(&mut ledger, &treasury, "Empty authorisation").await;
    let beneficiaries: Vec<Keypair> = (0..3).map(|_| Keypair::generate()).collect();
    let outputs = beneficiaries.iter().map(|b| output(b.address(), GRANT_MINOR, PROGRAMME)).collect();
    ledger.mint_outputs(outputs, "grants").await;
    ledger.clock.skew_by_ms(i64::try_from(2 * HOUR_MS).expect("fits"));
    let mut watched: Vec<&Keypair> = beneficiaries.iter().collect();
    watched.push(&treasury);

    let before = clawback_state(&mut ledger, &watched).await;
    assert_eq!(before.1.outstanding_minor, 3 * GRANT_MINOR, "there is something to move");
    let empty = proto::ClawbackRequest { programme_id: PROGRAMME, authorization: Vec::new(), resume_after: Vec::new() };
    let status = ledger.client.admin.clawback(empty).await.expect_err("nobody authorised it");
    assert_refusal(&status, Code::InvalidArgument, proto::Reason::NoWitnesses);
    let after = clawback_state(&mut ledger, &watched).await;
    assert_eq!(after.0, before.0, "no block, nothing spent or created");
    assert_eq!(after.1, before.1, "nothing clawed back");
    assert_eq!(after.2, before.2, "every balance as it was");

    let issuers = ledger.issuers.clone();
    let moved = clawback(&mut ledger, &terms, &[&issuers[0], &issuers[1]]).await.expect("authorised");
    assert_eq!(moved.amount_minor, 3 * GRANT_MINOR, "what the empty one left is all there");
    ledger.assert_supply(3 * GRANT_MINOR).await;
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programme_figures_of_an_unknown_programme_are_refused_as_unknown_programme() {
    let mut ledger = TestLedger::start().await;
    let treasury = Keypair::generate();
    programme_for_an_hour(&mut ledger, &treasury, "Known").await;
    ledger.mint_outputs(vec![output(Keypair::generate().address(), GRANT_MINOR, PROGRAMME)], "grant").await;
    let before = ledger.info(true).await;
    for unknown in [PROGRAMME + 1, u32::MAX] {
        let request = proto::GetProgrammeStatsRequest { programme_id: unknown };
        let status = ledger.client.admin.get_programme_stats(request).await.expect_err("no such programme");
        assert_refusal(&status, Code::NotFound, proto::Reason::UnknownProgramme);
    }
    assert_eq!(ledger.info(true).await, before, "a refused read changes nothing");
    assert_eq!(stats(&mut ledger).await.disbursed_minor, GRANT_MINOR, "the known programme is answered");
    ledger.assert_supply(GRANT_MINOR).await;
    ledger.shutdown().await;
}

/// People give and read dates: `programme create` takes ISO 8601
/// date-times with their offset (a bare date is refused: whose midnight?),
/// and a clawback before the end says when the end is, in ISO 8601.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_and_says_dates_in_iso_8601() {
    let mut ledger = TestLedger::start().await;
    let (url, dir) = (ledger.server().url(), ledger.data_dir());
    let treasury = Keypair::generate();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(args)
            .args(["--server", &url])
            .arg("--token-file")
            .arg(dir.join("dev.token"))
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER")
            .output()
            .expect("runs")
    };
    let treasury_hex = treasury.address().to_string();
    let create = |until: &str| {
        run(&[
            "programme",
            "create",
            "--id",
            "88",
            "--name",
            "Winter heating",
            "--mcc",
            "5983",
            "--valid-from",
            "2026-01-01T00:00:00+08:00",
            "--valid-until",
            until,
            "--treasury",
            &treasury_hex,
        ])
    };
    let bare = create("2099-01-01");
    assert!(!bare.status.success(), "a bare date is refused");
    assert!(String::from_utf8_lossy(&bare.stderr).contains("ISO 8601"), "{bare:?}");
    let created = create("2099-01-01T00:00:00+08:00");
    assert!(created.status.success(), "{created:?}");
    let request = proto::GetProgrammeStatsRequest { programme_id: 88 };
    let programme = ledger.client.admin.get_programme_stats(request).await.expect("stats").into_inner().programme;
    let programme = programme.expect("the programme");
    assert_eq!(programme.valid_from_unix_ms, settled::parse_iso8601("2025-12-31T16:00:00Z").expect("a date"));
    assert_eq!(programme.valid_until_unix_ms, settled::parse_iso8601("2098-12-31T16:00:00Z").expect("a date"));

    let issuers = dir.join("issuer-1.key");
    let issuers_2 = dir.join("issuer-2.key");
    let early = run(&[
        "programme",
        "clawback",
        "--id",
        "88",
        "--issuer-key-file",
        issuers.to_str().expect("utf-8"),
        "--issuer-key-file",
        issuers_2.to_str().expect("utf-8"),
    ]);
    let (out, err) = (String::from_utf8_lossy(&early.stdout), String::from_utf8_lossy(&early.stderr));
    assert!(!early.status.success(), "{early:?}");
    assert!(out.contains("valid until 2098-12-31T16:00:00Z"), "{out}");
    assert!(err.contains("REASON_PROGRAMME_NOT_EXPIRED") && err.contains("runs until 2098-12-31T16:00:00Z"), "{err}");
    ledger.shutdown().await;
}
