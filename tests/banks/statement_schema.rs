//! camt.053 statements from a real run, for a bank's ingest: ids at their
//! longest (64 characters: bank, merchant, terminal), a 128-byte bank name
//! of XML-special and non-ASCII characters, payments through a terminal,
//! a refund, a quiet day, a closed day of thousands of entries and an
//! interim one. Each document must add up (`check_camt053`) and keep the
//! schema's lengths; each is saved under `CARGO_TARGET_TMPDIR/statements`,
//! where CI validates every one against the official camt.053.001.08 (and
//! the intraday report against camt.052.001.08) XSD
//! (`.ci/validate_statements.py`).

use std::path::PathBuf;

use quick_xml::events::Event;

use crate::common;

use common::TestLedger;
use settled::client::{self, Credential, output};
use settled::{Keypair, proto};

const DAY_MS: u64 = 86_400_000;
const PROGRAMME: u32 = 9;
/// Coins of 1.00 each paid one by one through the terminal: two entries
/// each (the wallet's debit, the shop's credit).
const PAYMENTS: usize = 1_280;

/// Where CI's schema validation reads the samples.
fn samples_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("statements");
    std::fs::create_dir_all(&dir).expect("samples directory");
    dir
}

/// The schema's length of a text element, by the end of its path.
fn length_max(path: &[String]) -> Option<usize> {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match names.as_slice() {
        [.., "Acct", "Nm"] => 70,
        [.., "Acct", "Id", "Othr", "Id"] => 34,
        [.., "Prxy", "Id"] => 2048,
        [.., "AddtlTxInf"] | [.., "AddtlStmtInf"] => 500,
        [.., "Nm"] => 140,
        [.., "MsgId"] | [.., "Stmt", "Id"] | [.., "Othr", "Id"] | [.., "NtryRef"] | [.., "AcctSvcrRef"] => 35,
        [.., "Refs", _] | [.., "Prtry", _] | [.., "Prtry"] => 35,
        _ => return None,
    })
}

/// Every text element within its schema length (characters, unescaped)
/// and not empty.
fn assert_schema_lengths(name: &str, xml: &[u8]) {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<String> = Vec::new();
    let mut buffer = Vec::new();
    let mut checked = 0;
    loop {
        match reader.read_event_into(&mut buffer).expect("well-formed") {
            Event::Start(start) => path.push(String::from_utf8(start.name().as_ref().to_vec()).expect("utf-8")),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(text) => {
                let text = text.decode().expect("utf-8");
                let text = quick_xml::escape::unescape(&text).expect("escapes resolve");
                if text.trim().is_empty() {
                    continue;
                }
                if let Some(max) = length_max(&path) {
                    let length = text.chars().count();
                    assert!(length <= max, "{name}: <{}> holds {length} characters, at most {max}", path.join("/"));
                    checked += 1;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    assert!(checked > 0, "{name}: no element checked");
}

async fn statement(client: &client::Client, bank: &str, date: &str) -> Vec<u8> {
    document(client, bank, date, proto::StatementFormat::Camt053).await
}

async fn document(client: &client::Client, bank: &str, date: &str, format: proto::StatementFormat) -> Vec<u8> {
    let request = proto::GetStatementRequest { bank: bank.into(), date: date.into(), format: format.into() };
    let mut stream = client.clone().reconciliation.get_statement(request).await.expect("statement").into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        bytes.extend_from_slice(&chunk.data);
    }
    bytes
}

/// Checks a statement, saves it for the XSD and returns what it says.
fn keep(label: &str, xml: &[u8]) -> settled::statement::CheckedStatement {
    assert_schema_lengths(label, xml);
    std::fs::write(samples_dir().join(format!("{label}.xml")), xml).expect("sample written");
    settled::statement::check_camt053(xml, 2).unwrap_or_else(|e| panic!("{label}: {e}"))
}

/// A 128-byte name of every XML-special character and some non-ASCII.
fn hostile_name() -> String {
    let mut name = String::new();
    for character in "<&>\"' 銀行 Ünïcødé € ＆ 🏦 \\ ; , ".chars().cycle() {
        if name.len() + character.len_utf8() > 128 {
            break;
        }
        name.push(character);
    }
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_of_long_ids_hostile_names_refunds_and_thousands_of_entries_keep_the_schema() {
    let mut ledger = TestLedger::start().await;
    ledger.keep_within_one_day();
    let (bank_id, merchant_id, terminal_id) = ("b".repeat(64), format!("m{}", "-".repeat(63)), "t.".repeat(32));
    let bank_token = "the long bank's token";
    let terminal_token = "the long terminal's token";
    let bank = proto::Bank {
        id: bank_id.clone(),
        name: hostile_name(),
        credential_sha256: vec![settled::sha256(bank_token.as_bytes()).to_vec()],
    };
    ledger.client.admin.register_bank(proto::RegisterBankRequest { bank: Some(bank) }).await.expect("bank");
    let shop = Keypair::generate();
    let merchant = proto::Merchant {
        id: merchant_id.clone(),
        name: hostile_name(),
        mcc: 5411,
        bank_id: bank_id.clone(),
        payout_addresses: vec![shop.address().0.to_vec()],
        deactivated: false,
    };
    ledger
        .client
        .admin
        .register_merchant(proto::RegisterMerchantRequest { merchant: Some(merchant) })
        .await
        .expect("m");
    let terminal = proto::Terminal {
        id: terminal_id.clone(),
        merchant_id: merchant_id.clone(),
        credential_sha256: vec![settled::sha256(terminal_token.as_bytes()).to_vec()],
        deactivated: false,
    };
    ledger
        .client
        .admin
        .register_terminal(proto::RegisterTerminalRequest { terminal: Some(terminal) })
        .await
        .expect("t");
    let wallet = Keypair::generate();
    let registration = proto::Wallet {
        address: wallet.address().0.to_vec(),
        bank_id: bank_id.clone(),
        tier: 1,
        frozen: String::new(),
    };
    ledger.client.admin.register_wallet(proto::RegisterWalletRequest { wallet: Some(registration) }).await.expect("w");
    ledger
        .programme_with(proto::Programme {
            id: PROGRAMME,
            name: "food".to_owned(),
            allowed_mccs: vec![5411],
            valid_from_unix_ms: 0,
            valid_until_unix_ms: ledger.clock.now_unix_ms() + 90 * DAY_MS,
            transferable: false,
            treasury_address: Keypair::generate().address().0.to_vec(),
            per_payment_max_minor: 0,
            payment_period: 0,
            refund_window_ms: 30 * DAY_MS,
        })
        .await;
    let as_bank = ledger.client.with_credential(Credential::token(bank_token));
    let as_terminal = ledger.client.with_credential(Credential::token(terminal_token));
    let first_day = ledger.today();

    // A quiet day, before the ledger.
    let quiet = keep("quiet-day", &statement(&as_bank, "", "2020-01-01").await);
    assert_eq!((quiet.entries.len(), quiet.bank_id.as_str()), (0, bank_id.as_str()));

    // Food money paid at the shop through its terminal, and refunded in part.
    let food = ledger.mint_outputs(vec![output(wallet.address(), 5_000, PROGRAMME)], "food").await;
    let paid = client::pay(&ledger.chain, &wallet, food[0], shop.address(), 1_500, b"food-1");
    as_terminal.clone().submit(&paid).await.expect("paid through the terminal");
    let refund = client::refund(
        &ledger.chain,
        &shop,
        &[client::output_of(&paid, 0)],
        &settled::txid(&paid),
        wallet.address(),
        &[(PROGRAMME, 500)],
    );
    ledger.client.submit(&refund).await.expect("refunded");

    // Thousands of entries: coins of 1.00, paid one each on streams.
    let mut coins = Vec::new();
    for batch in 0..PAYMENTS / 16 {
        let outputs = (0..16).map(|_| output(wallet.address(), 100, 0)).collect();
        coins.extend(ledger.mint_outputs(outputs, &format!("coins-{batch}")).await);
    }
    for (round, chunk) in coins.chunks(settled::limits::STREAM_IN_FLIGHT_MAX / 2).enumerate() {
        let requests: Vec<proto::SubmitPaymentsRequest> = chunk
            .iter()
            .zip(0u64..)
            .map(|(coin, client_id)| {
                let reference = format!("{round}-{client_id}");
                let tx = client::pay(&ledger.chain, &wallet, *coin, shop.address(), 100, reference.as_bytes());
                proto::SubmitPaymentsRequest { client_id, transaction: Some(common::to_proto(&tx)) }
            })
            .collect();
        let mut terminal = as_terminal.clone();
        let mut answers =
            terminal.payments.submit_payments(tokio_stream::iter(requests)).await.expect("stream opens").into_inner();
        let mut confirmed = 0;
        while let Some(answer) = answers.message().await.expect("stream item") {
            common::streamed_receipt(&answer);
            confirmed += 1;
        }
        assert_eq!(confirmed, chunk.len(), "every payment confirmed");
    }
    // Food: a mint, a payment and a refund (two entries each but the
    // mint); the coins: a mint each 16, a payment each (two entries).
    let entries_first_day = 1 + 2 + 2 + PAYMENTS / 16 + 2 * PAYMENTS;

    // The day so far: interim.
    let interim = keep("interim-day", &statement(&as_bank, "", &first_day).await);
    assert!(!interim.closed && interim.bank_id == bank_id);
    assert_eq!(interim.entries.len(), entries_first_day);

    // The same, as the intraday report a bank pulls during the day.
    let report = document(&as_bank, "", &first_day, proto::StatementFormat::Camt052).await;
    assert_schema_lengths("interim-day-camt052", &report);
    std::fs::write(samples_dir().join("interim-day-camt052.xml"), &report).expect("sample written");
    let reported = settled::statement::check_camt052(&report, 2).expect("the report checks");
    assert_eq!(reported, interim, "the report holds what the statement holds");

    // The next day: once a block of it is durable, the first day is closed.
    ledger.clock.skew_by_ms(i64::try_from(DAY_MS).expect("fits"));
    ledger.mint_outputs(vec![output(wallet.address(), 100, 0)], "next-day").await;
    let xml = statement(&as_bank, "", &first_day).await;
    let closed = keep("closed-day-thousands", &xml);
    assert!(closed.closed, "a past day is closed (CLBD)");
    assert_eq!(closed.entries.len(), entries_first_day);
    assert_eq!(closed.opening_minor, 0, "nothing before the first day");
    let text = String::from_utf8(xml).expect("utf-8");
    assert!(text.contains("<SubFmlyCd>RRTN</SubFmlyCd>"), "the refund is a return");
    assert!(text.contains(&format!("<Nm>{merchant_id}</Nm>")), "the whole merchant id, as the party's name");
    assert!(text.contains(&format!("; terminal {terminal_id}")), "the whole terminal id");
    assert!(text.contains(&format!("bank {bank_id}; blocks ")), "the whole bank id");
    let next_day = keep("next-day", &statement(&as_bank, "", &ledger.today()).await);
    assert_eq!((next_day.entries.len(), next_day.opening_minor), (1, closed.closing_minor));
    assert!(std::fs::read_dir(samples_dir()).expect("samples").count() >= 5);
    ledger.shutdown().await;
}
