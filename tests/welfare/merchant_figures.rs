//! Per-merchant programme statistics: what each merchant took of a
//! programme (payments, amount, share, refunds), kept by the ledger as
//! payments are sequenced, durable with their block, the same after a
//! restart, adding up to the programme's own figures; listed a page at a
//! time and summed up as the programme's top merchants; for the issuer,
//! operators and programme administrators only. And what merchants took by
//! ledger day, adding up to the programme's spending.

use crate::common;

use common::{TestLedger, assert_refusal};
use settled::client::{self, Credential, output};
use settled::config::Config;
use settled::{Keypair, proto};
use tonic::Code;

const FOOD: u32 = 71;
const DAY_MS: u64 = 86_400_000;
const ADMIN_TOKEN: &str = "the programme administrator's token of the merchant figures test";

fn configure(config: &mut Config) {
    config.credentials.push(settled::config::CredentialConfig {
        role: "programme_admin".to_owned(),
        token_sha256: Some(hex::encode(settled::sha256(ADMIN_TOKEN.as_bytes()))),
        cert_sha256: None,
    });
}

/// Food money, spendable at groceries and bakeries, refundable for 30 days.
async fn food_programme(ledger: &mut TestLedger) {
    ledger
        .programme_with(proto::Programme {
            id: FOOD,
            name: "food".to_owned(),
            allowed_mccs: vec![5411, 5462],
            valid_from_unix_ms: 0,
            valid_until_unix_ms: ledger.clock.now_unix_ms() + 90 * DAY_MS,
            transferable: false,
            treasury_address: Keypair::generate().address().0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 30 * DAY_MS,
        })
        .await;
}

async fn merchants_page(
    client: &mut client::Client,
    programme: u32,
    page_size: u32,
    page_token: &str,
) -> Result<proto::ListProgrammeMerchantsResponse, tonic::Status> {
    let request =
        proto::ListProgrammeMerchantsRequest { programme_id: programme, page_size, page_token: page_token.to_owned() };
    client.admin.list_programme_merchants(request).await.map(tonic::Response::into_inner)
}

/// A merchant's figures as a tuple, to compare.
fn figures(m: &proto::MerchantFigures) -> (&str, u32, u64, u64, u64, u64, u32) {
    (m.merchant_id.as_str(), m.mcc, m.payments, m.spent_minor, m.refunds, m.refunded_minor, m.share_ppm)
}

async fn stats(client: &mut client::Client, programme: u32) -> proto::GetProgrammeStatsResponse {
    let request = proto::GetProgrammeStatsRequest { programme_id: programme };
    client.admin.get_programme_stats(request).await.expect("stats").into_inner()
}

/// Every merchant's figures, without the height they were read at.
async fn all_merchants(client: &mut client::Client, programme: u32) -> Vec<proto::MerchantFigures> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = merchants_page(client, programme, 0, &token).await.expect("listed");
        all.extend(page.merchants);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programme_statistics_show_what_each_merchant_took_refunded_and_its_share() {
    let mut ledger = TestLedger::start_with(configure).await;
    food_programme(&mut ledger).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let bakery = ledger.merchant("bakery", 5462).await;
    let (mei, li) = (Keypair::generate(), Keypair::generate());
    let started = ledger.clock.now_unix_ms();

    // Mei pays the grocer twice and the bakery once; Li the bakery once.
    let coins = ledger
        .mint_outputs(vec![output(mei.address(), 50_000, FOOD), output(li.address(), 10_000, FOOD)], "grants")
        .await;
    let first = client::pay(&ledger.chain, &mei, coins[0], grocer.address(), 3_000, b"mei-1");
    ledger.client.submit(&first).await.expect("paid");
    let second = client::pay(&ledger.chain, &mei, client::output_of(&first, 1), grocer.address(), 2_000, b"mei-2");
    ledger.client.submit(&second).await.expect("paid");
    let third = client::pay(&ledger.chain, &mei, client::output_of(&second, 1), bakery.address(), 1_500, b"mei-3");
    ledger.client.submit(&third).await.expect("paid");
    let fourth = client::pay(&ledger.chain, &li, coins[1], bakery.address(), 500, b"li-1");
    ledger.client.submit(&fourth).await.expect("paid");
    // Unrestricted money at the grocer is not the programme's.
    let cash = ledger.mint_outputs(vec![output(mei.address(), 5_000, 0)], "cash").await;
    let unrestricted = client::pay(&ledger.chain, &mei, cash[0], grocer.address(), 1_000, b"mei-cash");
    ledger.client.submit(&unrestricted).await.expect("paid");
    // The grocer refunds 10.00 of Mei's first payment.
    let refund = client::refund(
        &ledger.chain,
        &grocer,
        &[client::output_of(&first, 0)],
        &settled::txid(&first),
        mei.address(),
        &[(FOOD, 1_000)],
    );
    ledger.client.submit(&refund).await.expect("refunded");

    let merchants = all_merchants(&mut ledger.client, FOOD).await;
    assert_eq!(
        merchants.iter().map(figures).collect::<Vec<_>>(),
        vec![("bakery", 5462, 2, 2_000, 0, 0, 285_714), ("grocer", 5411, 2, 5_000, 1, 1_000, 714_285)],
        "by merchant id: two payments each, the grocer's refund, shares of 70.00"
    );
    for merchant in &merchants {
        assert!(
            (started..=ledger.clock.now_unix_ms()).contains(&merchant.last_payment_unix_ms),
            "{merchant:?} paid during the test"
        );
    }
    // The merchants' figures add up to the programme's.
    let food = stats(&mut ledger.client, FOOD).await;
    assert_eq!(merchants.iter().map(|m| m.spent_minor).sum::<u64>(), food.spent_minor);
    assert_eq!(
        merchants.iter().map(|m| m.refunded_minor).sum::<u64>(),
        food.refunded_minor + food.refunded_to_treasury_minor
    );
    assert_eq!((food.spent_minor, food.refunded_minor, food.merchants_paid), (7_000, 1_000, 2));
    assert_eq!(
        food.top_merchants.iter().map(figures).collect::<Vec<_>>(),
        vec![("grocer", 5411, 2, 5_000, 1, 1_000, 714_285), ("bakery", 5462, 2, 2_000, 0, 0, 285_714)],
        "most paid first"
    );

    // A page at a time.
    let page = merchants_page(&mut ledger.client, FOOD, 1, "").await.expect("page 1");
    assert_eq!((page.merchants.len(), page.next_page_token.as_str()), (1, "bakery"));
    assert_eq!(page.merchants[0].merchant_id, "bakery");
    assert!(page.height >= food.height, "read at the durable tip");
    let page = merchants_page(&mut ledger.client, FOOD, 1, "bakery").await.expect("page 2");
    assert_eq!(page.merchants.iter().map(|m| m.merchant_id.as_str()).collect::<Vec<_>>(), vec!["grocer"]);
    assert!(page.next_page_token.is_empty(), "the last page");

    // Durable with their blocks: the same after a restart, and counted on.
    ledger.restart_with(configure).await;
    assert_eq!(all_merchants(&mut ledger.client, FOOD).await, merchants);
    let fifth = client::pay(&ledger.chain, &mei, client::output_of(&third, 1), grocer.address(), 250, b"mei-4");
    ledger.client.submit(&fifth).await.expect("paid");
    let after = all_merchants(&mut ledger.client, FOOD).await;
    assert_eq!((after[1].payments, after[1].spent_minor), (3, 5_250));
    ledger.assert_supply(65_000).await;
    ledger.shutdown().await;
}

/// Today in the ledger's time zone, by its clock, as `YYYYMMDD` (from the
/// statements' calendar, not the statistics').
fn ledger_day(ledger: &TestLedger) -> u32 {
    ledger.today().replace('-', "").parse().expect("a date")
}

fn by_day(stats: &proto::GetProgrammeStatsResponse) -> Vec<(u32, u64)> {
    stats.spent_by_day.iter().map(|d| (d.day, d.amount_minor)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_is_counted_by_ledger_day_adds_up_to_the_spending_and_survives_a_restart() {
    let mut ledger = TestLedger::start().await;
    ledger.keep_within_one_day();
    food_programme(&mut ledger).await;
    let (grocer, bakery) = (ledger.merchant("grocer", 5411).await, ledger.merchant("bakery", 5462).await);
    let mei = Keypair::generate();
    let coins = ledger.mint_outputs(vec![output(mei.address(), 50_000, FOOD)], "grant").await;
    assert!(by_day(&stats(&mut ledger.client, FOOD).await).is_empty(), "nothing spent, no day");

    // Day one: the grocer and the bakery, one payment each.
    let first_day = ledger_day(&ledger);
    let first = client::pay(&ledger.chain, &mei, coins[0], grocer.address(), 3_000, b"day-1-grocer");
    ledger.client.submit(&first).await.expect("paid");
    let second =
        client::pay(&ledger.chain, &mei, client::output_of(&first, 1), bakery.address(), 2_000, b"day-1-bakery");
    ledger.client.submit(&second).await.expect("paid");
    // Day two: the grocer again; then it refunds some of day one's payment,
    // which takes nothing from either day (as from no category).
    ledger.clock.skew_by_ms(i64::try_from(DAY_MS).expect("fits"));
    let second_day = ledger_day(&ledger);
    assert!(second_day > first_day);
    let third = client::pay(&ledger.chain, &mei, client::output_of(&second, 1), grocer.address(), 1_500, b"day-2");
    ledger.client.submit(&third).await.expect("paid");
    let refund = client::refund(
        &ledger.chain,
        &grocer,
        &[client::output_of(&first, 0)],
        &settled::txid(&first),
        mei.address(),
        &[(FOOD, 500)],
    );
    ledger.client.submit(&refund).await.expect("refunded");

    let food = stats(&mut ledger.client, FOOD).await;
    assert_eq!(by_day(&food), vec![(first_day, 5_000), (second_day, 1_500)], "ascending, by the day of the block");
    assert_eq!(food.spent_by_day.iter().map(|d| d.amount_minor).sum::<u64>(), food.spent_minor);
    assert_eq!((food.spent_minor, food.refunded_minor), (6_500, 500));

    // Durable with the blocks: the same after a restart, and counted on.
    ledger.restart().await;
    assert_eq!(by_day(&stats(&mut ledger.client, FOOD).await), by_day(&food));
    let fourth = client::pay(&ledger.chain, &mei, client::output_of(&third, 1), bakery.address(), 250, b"day-2-later");
    ledger.client.submit(&fourth).await.expect("paid");
    let after = stats(&mut ledger.client, FOOD).await;
    assert_eq!(by_day(&after), vec![(first_day, 5_000), (second_day, 1_750)]);
    assert_eq!(after.spent_by_day.iter().map(|d| d.amount_minor).sum::<u64>(), after.spent_minor);
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_figures_are_for_programme_readers_and_bad_requests_are_refused() {
    let mut ledger = TestLedger::start_with(configure).await;
    food_programme(&mut ledger).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    let coins = ledger.mint_outputs(vec![output(mei.address(), 5_000, FOOD)], "grant").await;
    let paid = client::pay(&ledger.chain, &mei, coins[0], grocer.address(), 1_200, b"p");
    ledger.client.submit(&paid).await.expect("paid");

    // A programme administrator reads them; a bank and a stranger do not.
    let mut admin = ledger.client.with_credential(Credential::token(ADMIN_TOKEN));
    assert_eq!(all_merchants(&mut admin, FOOD).await.len(), 1);
    assert_eq!(stats(&mut admin, FOOD).await.top_merchants.len(), 1);
    let token = "a bank token of the merchant figures test";
    let bank = proto::Bank {
        id: "bank-figures".to_owned(),
        name: "Bank".to_owned(),
        credential_sha256: vec![settled::sha256(token.as_bytes()).to_vec()],
    };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let mut as_bank = ledger.client.with_credential(Credential::token(token));
    assert_eq!(merchants_page(&mut as_bank, FOOD, 0, "").await.unwrap_err().code(), Code::PermissionDenied);
    let mut nobody = ledger.client.with_credential(Credential::token("nobody's token"));
    assert_eq!(merchants_page(&mut nobody, FOOD, 0, "").await.unwrap_err().code(), Code::Unauthenticated);

    // An unknown programme is not found; a page too large is coerced to the
    // maximum (AIP-158).
    let status = merchants_page(&mut ledger.client, 999, 0, "").await.unwrap_err();
    assert_refusal(&status, Code::NotFound, proto::Reason::UnknownProgramme);
    let page = merchants_page(&mut ledger.client, FOOD, u32::MAX, "").await.expect("coerced");
    assert_eq!(page.merchants.len(), 1);
    // A programme nobody paid yet lists nobody; a token past the end, nothing.
    ledger.programme(72).await;
    let empty = merchants_page(&mut ledger.client, 72, 0, "").await.expect("listed");
    assert!(empty.merchants.is_empty() && empty.next_page_token.is_empty());
    let past = merchants_page(&mut ledger.client, FOOD, 0, "zzz").await.expect("listed");
    assert!(past.merchants.is_empty() && past.next_page_token.is_empty());
    ledger.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_a_programmes_merchants_and_its_top_merchants() {
    let mut ledger = TestLedger::start().await;
    food_programme(&mut ledger).await;
    let grocer = ledger.merchant("grocer", 5411).await;
    let mei = Keypair::generate();
    let coins = ledger.mint_outputs(vec![output(mei.address(), 5_000, FOOD)], "grant").await;
    let paid = client::pay(&ledger.chain, &mei, coins[0], grocer.address(), 1_250, b"p");
    ledger.client.submit(&paid).await.expect("paid");
    let (url, token_file) = (ledger.server().url(), ledger.data_dir().join("dev.token"));
    let run = |command: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_settled"))
            .args(["programme", command, "--id", &FOOD.to_string(), "--server", &url])
            .arg("--token-file")
            .arg(&token_file)
            .env_remove("SETTLED_TOKEN")
            .env_remove("SETTLED_SERVER")
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed = run("merchants");
    assert!(listed.contains("grocer (MCC 5411): 1 payments, 12.50 (100.00% of the programme's spending)"), "{listed}");
    let summary = run("stats");
    assert!(summary.contains("merchants paid 1; the most paid:") && summary.contains("grocer (MCC 5411)"), "{summary}");
    ledger.shutdown().await;
}
