//! Bulk disbursement: `settled disburse --programme P rows.csv`, in one of
//! two forms, told apart by the file's header line:
//!
//! - `address,amount,row_id` (the header optional): each row becomes one
//!   mint of programme P to the address, whose reference is
//!   `disb:P:<row id>`. The ledger pays a reference once.
//! - `person,amount,period` (the header required), for a programme paid per
//!   person: each row becomes a claim (`client::claim`) paying the person's
//!   designated wallet, read from the registry. The ledger pays a
//!   (programme, period, person) once, whatever file, row or wallet names it
//!   again: a second claim is refused `REASON_CLAIM_ALREADY_PAID` naming the
//!   mint that paid.
//!
//! Either way the mints are signed by the issuer keys given, and re-running
//! a file after a crash or a partial run pays nobody twice: rows already
//! paid come back as duplicates, rows changed since come back refused.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::client::{self, Client};
use crate::core::amount::{format_amount, parse_amount};
use crate::core::crypto::Keypair;
use crate::core::limits::TX_REFERENCE_BYTES_MAX;
use crate::core::types::{Address, AmountMinor, PersonRef, ProgrammeId};
use crate::proto;

/// Mints a disbursement keeps in flight.
pub const DISBURSE_IN_FLIGHT_MAX: usize = 512;
/// Rows of one file (the duplicate check holds them all in memory).
pub const DISBURSE_ROWS_MAX: usize = 10_000_000;
/// Bytes of one CSV line.
pub const DISBURSE_LINE_BYTES_MAX: usize = 1024;
/// Refused rows a summary lists line by line (all are counted).
pub const DISBURSE_REFUSALS_LISTED_MAX: usize = 100;
/// Attempts of one row refused as overloaded before it counts as refused.
const OVERLOAD_RETRIES_MAX: u32 = 100;

/// One valid row of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub address: Address,
    pub amount_minor: AmountMinor,
    pub row_id: String,
}

/// One valid row of a file paying people: the person, the amount, the
/// period (`YYYYMM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRow {
    pub line: usize,
    pub person: PersonRef,
    pub amount_minor: AmountMinor,
    pub period: u32,
}

/// The rows of a file, in the form its header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rows {
    Addresses(Vec<Row>),
    People(Vec<PersonRow>),
}

/// A line that is not a row, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// The mint reference that identifies a row of a programme.
#[must_use]
pub fn row_reference(programme: ProgrammeId, row_id: &str) -> Vec<u8> {
    format!("disb:{programme}:{row_id}").into_bytes()
}

/// Parses a CSV file of either form: one whose first line (a UTF-8 byte
/// order mark and blank lines aside) is a `person,...` header holds person
/// rows (`parse_person_rows`), any other address rows (`parse_rows`).
///
/// # Errors
/// An I/O error reading the file, or more than `DISBURSE_ROWS_MAX` rows.
pub fn parse_file(
    mut reader: impl BufRead,
    programme: ProgrammeId,
    exponent: u32,
) -> Result<(Rows, Vec<BadLine>), String> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.trim().trim_start_matches('"'))
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.to_ascii_lowercase().starts_with("person") {
        let (rows, bad) = parse_person_rows(bytes.as_slice(), exponent)?;
        Ok((Rows::People(rows), bad))
    } else {
        let (rows, bad) = parse_rows(bytes.as_slice(), programme, exponent)?;
        Ok((Rows::Addresses(rows), bad))
    }
}

/// Parses person rows: a `person,amount,period` header, then per line the
/// person reference (64 hex digits), the amount (a decimal string) and the
/// period (`YYYYMM`); blank lines and `#` comments skipped. The same
/// (person, period) twice with the same amount is paid once; with another
/// amount, none of its lines is paid (which is right is the authority's
/// call).
///
/// # Errors
/// An I/O error reading the file, or more than `DISBURSE_ROWS_MAX` rows.
pub fn parse_person_rows(reader: impl BufRead, exponent: u32) -> Result<(Vec<PersonRow>, Vec<BadLine>), String> {
    let mut rows: Vec<PersonRow> = Vec::new();
    let mut bad = Vec::new();
    let mut by_claim: HashMap<(PersonRef, u32), usize> = HashMap::new();
    let mut conflicting: HashMap<(PersonRef, u32), Vec<usize>> = HashMap::new();
    let mut header_seen = false;
    for (number, fields) in records(reader, &mut bad) {
        if !header_seen && fields[0].to_ascii_lowercase().starts_with("person") {
            header_seen = true;
            continue;
        }
        let row = match parse_person_line(&fields, number, exponent) {
            Ok(row) => row,
            Err(reason) => {
                bad.push(BadLine { line: number, reason });
                continue;
            }
        };
        let claim = (row.person, row.period);
        match by_claim.get(&claim) {
            Some(&first) if rows[first].amount_minor == row.amount_minor => bad.push(BadLine {
                line: number,
                reason: format!(
                    "person {} period {} repeats line {} (paid once)",
                    row.person, row.period, rows[first].line
                ),
            }),
            Some(&first) => conflicting.entry(claim).or_insert_with(|| vec![rows[first].line]).push(number),
            None => {
                if rows.len() == DISBURSE_ROWS_MAX {
                    return Err(format!("more than {DISBURSE_ROWS_MAX} rows; split the file"));
                }
                by_claim.insert(claim, rows.len());
                rows.push(row);
            }
        }
    }
    if !conflicting.is_empty() {
        rows.retain(|row| !conflicting.contains_key(&(row.person, row.period)));
        for ((person, period), lines) in conflicting {
            for line in &lines {
                bad.push(BadLine {
                    line: *line,
                    reason: format!(
                        "person {person} period {period} appears on lines {lines:?} with different amounts: none paid"
                    ),
                });
            }
        }
    }
    bad.sort_by_key(|b| b.line);
    Ok((rows, bad))
}

/// The records of a CSV file (RFC 4180 through the `csv` crate: quoted
/// fields, commas and quotes inside them, CRLF line ends, a spreadsheet's
/// UTF-8 byte order mark), each with its line number and its fields
/// trimmed; blank lines and `#` comments skipped. A record that cannot be
/// one (too long, not UTF-8, a broken quote) is reported in `bad`.
fn records(mut reader: impl std::io::Read, bad: &mut Vec<BadLine>) -> Vec<(usize, Vec<String>)> {
    let mut bytes = Vec::new();
    if let Err(e) = reader.read_to_end(&mut bytes) {
        bad.push(BadLine { line: 1, reason: format!("unreadable: {e}") });
        return Vec::new();
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    // The line a byte offset is on, 1-based: the csv crate's own count
    // skips blank lines and comments.
    let newlines: Vec<usize> = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
    let line_of = |offset: u64| {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        newlines.partition_point(|newline| *newline < offset) + 1
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(bytes);
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let at = csv.position().byte();
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = line_of(e.position().map_or(at, csv::Position::byte));
                bad.push(BadLine { line, reason: format!("not CSV: {e}") });
                continue;
            }
        }
        // The record starts at the first line after `at` that is neither
        // blank nor a comment.
        let mut start = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
        while start < bytes.len() {
            let end = bytes[start..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| start + i);
            let text = bytes[start..end].trim_ascii();
            if !text.is_empty() && !text.starts_with(b"#") {
                break;
            }
            start = end + 1;
        }
        let line = line_of(start as u64);
        if record.as_slice().len() > DISBURSE_LINE_BYTES_MAX {
            bad.push(BadLine { line, reason: format!("longer than {DISBURSE_LINE_BYTES_MAX} bytes") });
            continue;
        }
        let fields: Result<Vec<String>, _> =
            record.iter().map(|field| std::str::from_utf8(field).map(|f| f.trim().to_owned())).collect();
        match fields {
            Ok(fields) if fields.iter().all(String::is_empty) => {}
            Ok(fields) => records.push((line, fields)),
            Err(_) => bad.push(BadLine { line, reason: "not UTF-8".to_owned() }),
        }
    }
    records
}

fn parse_person_line(fields: &[String], line: usize, exponent: u32) -> Result<PersonRow, String> {
    let [person, amount, period] = fields else {
        return Err(format!("expected 3 fields (person,amount,period), found {}", fields.len()));
    };
    let person = PersonRef::from_hex(person)
        .map_err(|e| format!("person: {e} (64 hex digits from `settled person-ref`, never an identity number)"))?;
    let amount_minor = parse_amount(amount, exponent).map_err(|e| format!("amount: {e}"))?;
    if amount_minor == 0 {
        return Err("amount: zero".to_owned());
    }
    let period: u32 = period.parse().map_err(|_| format!("period '{period}': expected YYYYMM, e.g. 202612"))?;
    if crate::core::period::month_bounds_ms(period, 0).is_none() {
        return Err(format!("period {period}: expected YYYYMM with a month 01-12"));
    }
    Ok(PersonRow { line, person, amount_minor, period })
}

/// Parses a CSV file: `address,amount,row_id` per line; an optional header
/// line starting with `address`; blank lines and `#` comments skipped.
/// Malformed lines are reported with their number and the rest goes on; a
/// row id repeated with different contents refuses every line carrying it
/// (which one is right is the authority's call), an exact repetition is paid
/// once.
///
/// # Errors
/// An I/O error reading the file, or more than `DISBURSE_ROWS_MAX` rows.
pub fn parse_rows(
    reader: impl BufRead,
    programme: ProgrammeId,
    exponent: u32,
) -> Result<(Vec<Row>, Vec<BadLine>), String> {
    let mut rows: Vec<Row> = Vec::new();
    let mut bad = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut conflicting: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, (number, fields)) in records(reader, &mut bad).into_iter().enumerate() {
        if index == 0 && fields[0].to_ascii_lowercase().starts_with("address") {
            continue;
        }
        let row = match parse_line(&fields, number, programme, exponent) {
            Ok(row) => row,
            Err(reason) => {
                bad.push(BadLine { line: number, reason });
                continue;
            }
        };
        match by_id.get(&row.row_id) {
            Some(&first) if rows[first].address == row.address && rows[first].amount_minor == row.amount_minor => {
                bad.push(BadLine {
                    line: number,
                    reason: format!("row id {} repeats line {} (paid once)", row.row_id, rows[first].line),
                });
            }
            Some(&first) => {
                conflicting.entry(row.row_id.clone()).or_insert_with(|| vec![rows[first].line]).push(number);
            }
            None => {
                if rows.len() == DISBURSE_ROWS_MAX {
                    return Err(format!("more than {DISBURSE_ROWS_MAX} rows; split the file"));
                }
                by_id.insert(row.row_id.clone(), rows.len());
                rows.push(row);
            }
        }
    }
    if !conflicting.is_empty() {
        rows.retain(|row| !conflicting.contains_key(&row.row_id));
        for (row_id, lines) in conflicting {
            for line in &lines {
                bad.push(BadLine {
                    line: *line,
                    reason: format!("row id {row_id} appears on lines {lines:?} with different contents: none paid"),
                });
            }
        }
    }
    bad.sort_by_key(|b| b.line);
    Ok((rows, bad))
}

fn parse_line(fields: &[String], line: usize, programme: ProgrammeId, exponent: u32) -> Result<Row, String> {
    let [address, amount, row_id] = fields else {
        return Err(format!("expected 3 fields (address,amount,row_id), found {}", fields.len()));
    };
    let address = Address::from_hex(address).map_err(|e| format!("address: {e}"))?;
    if !crate::core::crypto::is_valid_key(&address) {
        return Err("address: not a secp256k1 x-only public key".to_owned());
    }
    let amount_minor = parse_amount(amount, exponent).map_err(|e| format!("amount: {e}"))?;
    if amount_minor == 0 {
        return Err("amount: zero".to_owned());
    }
    if row_id.is_empty() || row_reference(programme, row_id).len() > TX_REFERENCE_BYTES_MAX {
        return Err(format!("row id must be 1 character and at most {TX_REFERENCE_BYTES_MAX} bytes of reference"));
    }
    Ok(Row { line, address, amount_minor, row_id: (*row_id).to_owned() })
}

/// How a disbursement ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub paid: u64,
    pub already_paid: u64,
    pub paid_minor: AmountMinor,
    pub already_paid_minor: AmountMinor,
    /// Rows refused by the ledger, by reason name, and malformed lines.
    pub refused: BTreeMap<String, u64>,
    pub bad_lines: u64,
    /// Rows whose outcome is not known (server unavailable, connection
    /// lost): re-running the file settles them, safely.
    pub unconfirmed: u64,
    /// The first `DISBURSE_REFUSALS_LISTED_MAX` refused rows, by line: the
    /// reason and the server's explanation.
    pub refusals: Vec<Refused>,
    /// Every row's outcome, by line (`write_results` writes them).
    pub results: Vec<RowResult>,
}

/// What became of one row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowResult {
    pub line: usize,
    /// The address, or the person reference, the row pays.
    pub payee: String,
    pub amount_minor: AmountMinor,
    /// `paid`, `already_paid`, `refused`, `unconfirmed` or `malformed`.
    pub outcome: &'static str,
    /// For a refused row, the reason's name; for a malformed line, why.
    pub reason: String,
    pub detail: String,
    /// The mint that pays the row (paid, already paid, unconfirmed).
    pub txid: Option<String>,
}

/// Writes every row's outcome, and every malformed line, as CSV
/// (`line,payee,amount,outcome,reason,detail,txid`), by line.
///
/// # Errors
/// A write failure.
pub fn write_results(out: impl Write, summary: &Summary, bad: &[BadLine], exponent: u32) -> Result<(), csv::Error> {
    let mut rows: Vec<RowResult> = summary.results.clone();
    rows.extend(bad.iter().map(|b| RowResult {
        line: b.line,
        payee: String::new(),
        amount_minor: 0,
        outcome: "malformed",
        reason: b.reason.clone(),
        detail: String::new(),
        txid: None,
    }));
    rows.sort_by_key(|r| r.line);
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(["line", "payee", "amount", "outcome", "reason", "detail", "txid"])?;
    for row in rows {
        let amount = if row.outcome == "malformed" { String::new() } else { format_amount(row.amount_minor, exponent) };
        csv.write_record([
            row.line.to_string(),
            row.payee,
            amount,
            row.outcome.to_owned(),
            row.reason,
            row.detail,
            row.txid.unwrap_or_default(),
        ])?;
    }
    csv.flush()?;
    Ok(())
}

/// A row the ledger refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: usize,
    pub reason: String,
    pub detail: String,
}

enum RowOutcome {
    Paid,
    AlreadyPaid,
    Refused { reason: String, detail: String },
    Unconfirmed,
}

/// What one row pays: an address by a row's reference, or a person's
/// claim to their designated wallet.
enum Payee {
    Address { address: Address, row_id: String },
    Person { person: PersonRef, period: u32 },
}

struct Planned {
    line: usize,
    amount_minor: AmountMinor,
    payee: Payee,
}

fn refused(status: &tonic::Status) -> RowOutcome {
    let reason =
        client::status_reason(status).map_or_else(|| format!("{:?}", status.code()), |r| r.as_str_name().to_owned());
    RowOutcome::Refused { reason, detail: status.message().to_owned() }
}

async fn submit_row(client: &mut Client, tx: &crate::core::types::Transaction) -> RowOutcome {
    for _ in 0..OVERLOAD_RETRIES_MAX {
        match client.mint(tx).await {
            Ok((_, false)) => return RowOutcome::Paid,
            Ok((_, true)) => return RowOutcome::AlreadyPaid,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(u64::from(crate::core::limits::OVERLOAD_RETRY_AFTER_MS)))
                    .await;
            }
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::Unknown
                        | tonic::Code::Cancelled
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Internal
                ) =>
            {
                return RowOutcome::Unconfirmed;
            }
            Err(status) => return refused(&status),
        }
    }
    RowOutcome::Refused {
        reason: "REASON_OVERLOADED".to_owned(),
        detail: format!("still overloaded after {OVERLOAD_RETRIES_MAX} attempts"),
    }
}

/// The wallet `person` designated for `programme`, from the registry.
async fn designated_wallet(
    client: &mut Client,
    person: &PersonRef,
    programme: ProgrammeId,
) -> Result<Address, RowOutcome> {
    let request = proto::GetBeneficiaryRequest { person_ref: person.0.to_vec() };
    let beneficiary = match client.admin.get_beneficiary(request).await {
        Ok(response) => response.into_inner().beneficiary.unwrap_or_default(),
        Err(status) if status.code() == tonic::Code::NotFound => {
            return Err(RowOutcome::Refused {
                reason: "NOT_FOUND".to_owned(),
                detail: format!("no beneficiary {person}: register the person first"),
            });
        }
        Err(status) if status.code() == tonic::Code::Unavailable => return Err(RowOutcome::Unconfirmed),
        Err(status) => return Err(refused(&status)),
    };
    beneficiary
        .designations
        .iter()
        .find(|d| d.programme_id == programme)
        .and_then(|d| Address::from_slice(&d.wallet))
        .ok_or_else(|| RowOutcome::Refused {
            reason: "REASON_NOT_DESIGNATED".to_owned(),
            detail: format!("beneficiary {person} designated no wallet for programme {programme}"),
        })
}

/// Mints every row through `client` (one server, or a cluster's leader),
/// `DISBURSE_IN_FLIGHT_MAX` at a time, printing progress
/// to `progress` about once a second.
///
/// # Errors
/// A setup failure (no issuer key, a server that does not answer).
pub async fn disburse(
    client: Client,
    programme: ProgrammeId,
    rows: Rows,
    issuers: &[Keypair],
    progress: impl Write,
) -> Result<Summary, String> {
    let planned: Vec<Planned> = match rows {
        Rows::Addresses(rows) => rows
            .into_iter()
            .map(|r| Planned {
                line: r.line,
                amount_minor: r.amount_minor,
                payee: Payee::Address { address: r.address, row_id: r.row_id },
            })
            .collect(),
        Rows::People(rows) => rows
            .into_iter()
            .map(|r| Planned {
                line: r.line,
                amount_minor: r.amount_minor,
                payee: Payee::Person { person: r.person, period: r.period },
            })
            .collect(),
    };
    disburse_planned(client, programme, planned, issuers, progress).await
}

async fn disburse_planned(
    client: Client,
    programme: ProgrammeId,
    rows: Vec<Planned>,
    issuers: &[Keypair],
    mut progress: impl Write,
) -> Result<Summary, String> {
    let chain = client.clone().chain_id().await.map_err(|s| s.message().to_owned())?;
    let total = rows.len();
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(DISBURSE_IN_FLIGHT_MAX));
    let issuers: Arc<Vec<Keypair>> = Arc::new(issuers.to_vec());
    let mut tasks = tokio::task::JoinSet::new();
    let mut summary = Summary { rows: total as u64, ..Summary::default() };
    let mut done = 0usize;
    let mut last_report = Instant::now();
    type Finished = Result<(RowOutcome, AmountMinor, usize, String, Option<String>), tokio::task::JoinError>;
    let mut finish = |summary: &mut Summary, finished: Finished| {
        let (outcome, amount, line, payee, txid) = finished.map_err(|e| e.to_string())?;
        let mut result = RowResult {
            line,
            payee,
            amount_minor: amount,
            outcome: "paid",
            reason: String::new(),
            detail: String::new(),
            txid,
        };
        match outcome {
            RowOutcome::Paid => {
                summary.paid += 1;
                summary.paid_minor += amount;
            }
            RowOutcome::AlreadyPaid => {
                summary.already_paid += 1;
                summary.already_paid_minor += amount;
                result.outcome = "already_paid";
            }
            RowOutcome::Refused { reason, detail } => {
                if summary.refusals.len() < DISBURSE_REFUSALS_LISTED_MAX {
                    summary.refusals.push(Refused { line, reason: reason.clone(), detail: detail.clone() });
                }
                *summary.refused.entry(reason.clone()).or_default() += 1;
                (result.outcome, result.reason, result.detail, result.txid) = ("refused", reason, detail, None);
            }
            RowOutcome::Unconfirmed => {
                summary.unconfirmed += 1;
                result.outcome = "unconfirmed";
            }
        }
        summary.results.push(result);
        done += 1;
        if last_report.elapsed() >= Duration::from_secs(1) || done == total {
            report_progress(&mut progress, done, total, started);
            last_report = Instant::now();
        }
        Ok::<(), String>(())
    };
    for row in rows {
        let permit = Arc::clone(&permits).acquire_owned().await.map_err(|e| e.to_string())?;
        let mut client = client.clone();
        let issuers = Arc::clone(&issuers);
        tasks.spawn(async move {
            let (line, amount_minor) = (row.line, row.amount_minor);
            let payee = match &row.payee {
                Payee::Address { address, .. } => address.to_string(),
                Payee::Person { person, .. } => person.to_string(),
            };
            let (output, reference) = match row.payee {
                Payee::Address { address, row_id } => {
                    (client::output(address, amount_minor, programme), row_reference(programme, &row_id))
                }
                Payee::Person { person, period } => match designated_wallet(&mut client, &person, programme).await {
                    Ok(wallet) => (
                        client::output(wallet, amount_minor, programme),
                        crate::core::encoding::claim_reference(programme, period, &person),
                    ),
                    Err(outcome) => return (outcome, amount_minor, line, payee, None),
                },
            };
            // Signing costs two signatures a row: off the async workers.
            let tx = tokio::task::spawn_blocking(move || {
                let signers: Vec<&Keypair> = issuers.iter().collect();
                client::mint(&chain, vec![output], &reference, &signers)
            })
            .await
            .expect("signing does not panic");
            let outcome = submit_row(&mut client, &tx).await;
            drop(permit);
            (outcome, amount_minor, line, payee, Some(crate::core::encoding::txid(&tx).to_string()))
        });
        while let Some(finished) = tasks.try_join_next() {
            finish(&mut summary, finished)?;
        }
    }
    while let Some(finished) = tasks.join_next().await {
        finish(&mut summary, finished)?;
    }
    summary.results.sort_by_key(|r| r.line);
    Ok(summary)
}

fn report_progress(progress: &mut impl Write, done: usize, total: usize, started: Instant) {
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let rate = done as f64 / seconds;
    let eta = if rate > 0.0 { (total - done) as f64 / rate } else { 0.0 };
    let _ = writeln!(progress, "disburse: {done}/{total} rows, {rate:.0} rows/s, ETA {eta:.0} s");
}

/// The summary as the CLI prints it.
#[must_use]
pub fn render_summary(summary: &Summary, bad: &[BadLine], exponent: u32, elapsed: Duration) -> String {
    let mut out = String::new();
    for line in bad {
        out.push_str(&format!("line {}: {}\n", line.line, line.reason));
    }
    out.push_str(&format!(
        "rows: {}, paid: {} ({}), already paid: {} ({}), refused: {}, unconfirmed: {}, malformed lines: {}, in {:.1} s\n",
        summary.rows,
        summary.paid,
        format_amount(summary.paid_minor, exponent),
        summary.already_paid,
        format_amount(summary.already_paid_minor, exponent),
        summary.refused.values().sum::<u64>(),
        summary.unconfirmed,
        summary.bad_lines,
        elapsed.as_secs_f64()
    ));
    for (reason, count) in &summary.refused {
        out.push_str(&format!("  refused {reason}: {count}\n"));
    }
    for refused in &summary.refusals {
        // The server's message names its reason first already.
        if refused.detail.starts_with(&refused.reason) {
            out.push_str(&format!("line {}: refused {}\n", refused.line, refused.detail));
        } else {
            out.push_str(&format!("line {}: refused {}: {}\n", refused.line, refused.reason, refused.detail));
        }
    }
    let listed = summary.refusals.len() as u64;
    let total = summary.refused.values().sum::<u64>();
    if total > listed {
        out.push_str(&format!("({} more refused rows not listed)\n", total - listed));
    }
    out
}
