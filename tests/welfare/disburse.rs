//! Bulk disbursement: the CSV rules, and the `settled disburse` binary
//! against a real server, killed mid-file and run again: nobody is paid twice
//! and the totals are exact.

use crate::common;

use std::io::{BufRead, BufReader, Cursor};
use std::process::{Command, Stdio};

use common::TestLedger;
use settled::disburse::{parse_rows, row_reference};
use settled::{Keypair, client, proto};

const BIN: &str = env!("CARGO_BIN_EXE_settled");
const PROGRAMME: u32 = 5;

fn keys(n: usize) -> Vec<Keypair> {
    (0..n).map(|_| Keypair::generate()).collect()
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_the_rest_goes_on() {
    let a = Keypair::generate().address();
    let b = Keypair::generate().address();
    let csv = format!(
        "address,amount,row_id\n\
         {a},10.00,r1\n\
         {b},1.234,r2\n\
         {b},-5,r3\n\
         {b},184467440737095516.16,r4\n\
         nothex,1.00,r5\n\
         {a},1.00\n\
         \n\
         # a comment\n\
         {b},0,r6\n\
         {b},2.50,r7\n\
         {}{},1.00,r8\n",
        "ff".repeat(31),
        "ff"
    );
    let (rows, bad) = parse_rows(Cursor::new(csv), PROGRAMME, 2).expect("readable");
    let paid: Vec<(&str, u64, usize)> = rows.iter().map(|r| (r.row_id.as_str(), r.amount_minor, r.line)).collect();
    assert_eq!(paid, vec![("r1", 1_000, 2), ("r7", 250, 11)]);
    let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 10, 12]);
    assert!(bad[0].reason.contains("decimal places"), "{:?}", bad[0]);
    assert!(bad[1].reason.contains("amount"), "{:?}", bad[1]);
    assert!(bad[2].reason.contains("larger than the largest"), "{:?}", bad[2]);
    assert!(bad[3].reason.contains("address"), "{:?}", bad[3]);
    assert!(bad[4].reason.contains("3 fields"), "{:?}", bad[4]);
    assert!(bad[5].reason.contains("zero"), "{:?}", bad[5]);
    assert!(bad[6].reason.contains("address"), "{:?}", bad[6]);
}

#[test]
fn a_row_id_repeated_with_other_contents_pays_none_of_them_and_an_exact_repeat_pays_once() {
    let a = Keypair::generate().address();
    let b = Keypair::generate().address();
    let csv = format!("{a},1.00,r1\n{a},1.00,r1\n{b},3.00,r2\n{b},4.00,r2\n{a},5.00,r3\n");
    let (rows, bad) = parse_rows(Cursor::new(csv), PROGRAMME, 2).expect("readable");
    let ids: Vec<&str> = rows.iter().map(|r| r.row_id.as_str()).collect();
    assert_eq!(ids, vec!["r1", "r3"]);
    assert_eq!(bad.len(), 3);
    assert!(bad[0].line == 2 && bad[0].reason.contains("paid once"), "{:?}", bad[0]);
    assert!(bad[1].line == 3 && bad[1].reason.contains("different contents"), "{:?}", bad[1]);
    assert!(bad[2].line == 4 && bad[2].reason.contains("different contents"), "{:?}", bad[2]);
}

fn summary_field(stdout: &str, field: &str) -> u64 {
    let start =
        stdout.find(&format!("{field}: ")).unwrap_or_else(|| panic!("no {field} in {stdout}")) + field.len() + 2;
    stdout[start..].split(|c: char| !c.is_ascii_digit()).next().expect("number").parse().expect("a number")
}

fn disburse_command(ledger: &TestLedger, file: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["disburse", "--programme", &PROGRAMME.to_string(), "--server", &ledger.server().url()])
        .arg("--issuer-key-file")
        .arg(ledger.data_dir().join("issuer-1.key"))
        .arg("--issuer-key-file")
        .arg(ledger.data_dir().join("issuer-3.key"))
        .arg(file)
        .arg("--token-file")
        .arg(ledger.data_dir().join("dev.token"))
        .env_remove("SETTLED_SERVER")
        .env_remove("SETTLED_TOKEN");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disbursement_killed_mid_file_and_run_again_pays_everyone_exactly_once() {
    const ROWS: usize = 600;
    let mut ledger = TestLedger::start().await;
    ledger.programme(PROGRAMME).await;
    let beneficiaries = keys(40);
    let mut csv = String::from("address,amount,row_id\n");
    let mut expected = vec![0u64; beneficiaries.len()];
    for i in 0..ROWS {
        let who = i % beneficiaries.len();
        let amount_minor = 100 + (i as u64 % 7) * 25;
        expected[who] += amount_minor;
        csv.push_str(&format!(
            "{},{}.{:02},row-{i}\n",
            beneficiaries[who].address(),
            amount_minor / 100,
            amount_minor % 100
        ));
    }
    let total: u64 = expected.iter().sum();
    let file = ledger.data_dir().join("rows.csv");
    std::fs::write(&file, &csv).expect("written");

    // First run: killed as soon as it reports progress.
    let mut child =
        disburse_command(&ledger, &file).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("runs");
    let stderr = child.stderr.take().expect("piped");
    let first_progress =
        tokio::task::spawn_blocking(move || BufReader::new(stderr).lines().next()).await.expect("joins");
    child.kill().expect("killed");
    let _ = child.wait();
    let progress = first_progress.expect("a progress line").expect("readable");
    assert!(progress.contains("rows/s") && progress.contains("ETA"), "{progress}");

    // Second run: completes; whatever the first paid comes back as already paid.
    let second = tokio::task::spawn_blocking({
        let mut command = disburse_command(&ledger, &file);
        move || command.output()
    })
    .await
    .expect("joins")
    .expect("runs");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let stdout = String::from_utf8_lossy(&second.stdout).to_string();
    let (paid, already) = (summary_field(&stdout, "paid"), summary_field(&stdout, "already paid"));
    assert_eq!(paid + already, ROWS as u64, "{stdout}");
    assert_eq!(summary_field(&stdout, "refused"), 0, "{stdout}");

    // Third run: everything already paid.
    let third = disburse_command(&ledger, &file).output().expect("runs");
    let stdout = String::from_utf8_lossy(&third.stdout).to_string();
    assert_eq!(summary_field(&stdout, "paid"), 0, "{stdout}");
    assert_eq!(summary_field(&stdout, "already paid"), ROWS as u64, "{stdout}");

    for (who, amount) in beneficiaries.iter().zip(&expected) {
        let balance = ledger.balance(&who.address()).await;
        assert_eq!(balance.total_minor, *amount, "each beneficiary holds exactly its rows");
        assert_eq!(balance.balances[0].programme_id, PROGRAMME);
    }
    let stats = ledger
        .client
        .admin
        .get_programme_stats(proto::GetProgrammeStatsRequest { programme_id: PROGRAMME })
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(stats.disbursed_minor, total);
    ledger.assert_supply(total).await;

    // A row paid before, now with another amount, is refused, not paid again.
    let changed = client::mint(
        &ledger.chain,
        vec![client::output(beneficiaries[0].address(), 999, PROGRAMME)],
        &row_reference(PROGRAMME, "row-0"),
        &[&ledger.issuers[0], &ledger.issuers[1]],
    );
    let status = ledger.client.mint(&changed).await.expect_err("the row was paid already");
    common::assert_refusal(&status, tonic::Code::FailedPrecondition, proto::Reason::ReferenceReused);
    assert!(common::error_metadata(&status).contains_key("spent_by_txid"), "names the first mint");
    ledger.assert_supply(total).await;
    ledger.shutdown().await;
}

/// A file saved from a spreadsheet: a UTF-8 byte order mark, every field
/// quoted, CRLF line ends, a comma inside a quoted row id.
#[test]
fn a_spreadsheets_csv_with_a_byte_order_mark_quotes_and_crlf_is_read_as_written() {
    let a = Keypair::generate().address();
    let b = Keypair::generate().address();
    let csv = format!(
        "\u{feff}\"address\",\"amount\",\"row_id\"\r\n\"{a}\",\"10.00\",\"r1\"\r\n\"{b}\",\" 2.50 \",\"north, 7\"\r\n\r\n\"{b}\",\"1.00\"\r\n"
    );
    let (rows, bad) = parse_rows(Cursor::new(csv), PROGRAMME, 2).expect("readable");
    let paid: Vec<(&str, u64, usize)> = rows.iter().map(|r| (r.row_id.as_str(), r.amount_minor, r.line)).collect();
    assert_eq!(paid, vec![("r1", 1_000, 2), ("north, 7", 250, 3)]);
    assert_eq!(rows[0].address, a);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].line, 5, "{bad:?}");
}

/// `settled disburse` with refused and malformed rows pays the rest, exits
/// non-zero, and writes every row's outcome to the results file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disbursement_with_refused_and_malformed_rows_exits_non_zero_and_says_which_row() {
    let mut ledger = TestLedger::start().await;
    ledger.programme(PROGRAMME).await;
    let [a, b] = [Keypair::generate().address(), Keypair::generate().address()];
    // Row r9 was paid with other contents by another file: the ledger refuses it.
    let other = ledger.dir.path().join("earlier.csv");
    std::fs::write(&other, format!("{b},9.00,r9\n")).expect("written");
    let earlier = disburse_command(&ledger, &other).output().expect("runs");
    assert!(earlier.status.success(), "{earlier:?}");
    let file = ledger.data_dir().join("rows.csv");
    std::fs::write(&file, format!("address,amount,row_id\n{a},1.00,r1\n{b},oops,r2\n{b},3.00,r9\n{a},2.00,r3\n"))
        .expect("written");
    let run = tokio::task::spawn_blocking({
        let mut command = disburse_command(&ledger, &file);
        move || command.output()
    })
    .await
    .expect("joins")
    .expect("runs");
    assert!(!run.status.success(), "refused and malformed rows fail the run: {run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("1 rows refused and 1 malformed lines"), "{stderr}");
    let results = std::fs::read_to_string(ledger.data_dir().join("rows.csv.results.csv")).expect("the results file");
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines[0], "line,payee,amount,outcome,reason,detail,txid");
    assert!(lines[1].starts_with(&format!("2,{a},1.00,paid,,,")), "{results}");
    assert!(lines[2].starts_with("3,,,malformed,\"amount:"), "{results}");
    assert!(lines[3].starts_with(&format!("4,{b},3.00,refused,REASON_REFERENCE_REUSED,")), "{results}");
    assert!(lines[4].starts_with(&format!("5,{a},2.00,paid,,,")), "{results}");
    assert_eq!(lines.len(), 5);
    ledger.assert_supply(900 + 100 + 200).await;
    ledger.shutdown().await;
}
