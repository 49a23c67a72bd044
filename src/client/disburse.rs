//! Bulk disbursement: `settled disburse --programme P rows.csv`. Each CSV row
//! (beneficiary address, amount as a decimal string, row id) becomes one mint
//! of programme P whose reference is `disb:P:<row id>`, signed by the issuer
//! keys given. The ledger pays a reference once, so re-running a file after
//! a crash or a partial run pays nobody twice: rows already paid come back
//! as duplicates, rows changed since come back refused.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::client::{self, Client};
use crate::core::amount::{format_amount, parse_amount};
use crate::core::crypto::Keypair;
use crate::core::limits::TX_REFERENCE_BYTES_MAX;
use crate::core::types::{Address, AmountMinor, ProgrammeId};

/// Mints a disbursement keeps in flight.
pub const DISBURSE_IN_FLIGHT_MAX: usize = 512;
/// Rows of one file (the duplicate check holds them all in memory).
pub const DISBURSE_ROWS_MAX: usize = 10_000_000;
/// Bytes of one CSV line.
pub const DISBURSE_LINE_BYTES_MAX: usize = 1024;
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
    for (index, line) in reader.split(b'\n').enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("line {number}: {e}"))?;
        if line.len() > DISBURSE_LINE_BYTES_MAX {
            bad.push(BadLine { line: number, reason: format!("longer than {DISBURSE_LINE_BYTES_MAX} bytes") });
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            bad.push(BadLine { line: number, reason: "not UTF-8".to_owned() });
            continue;
        };
        let text = text.trim_end_matches('\r').trim();
        if text.is_empty() || text.starts_with('#') || (number == 1 && text.to_ascii_lowercase().starts_with("address"))
        {
            continue;
        }
        let row = match parse_line(text, number, programme, exponent) {
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

fn parse_line(text: &str, line: usize, programme: ProgrammeId, exponent: u32) -> Result<Row, String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [address, amount, row_id] = fields.as_slice() else {
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
}

enum RowOutcome {
    Paid,
    AlreadyPaid,
    Refused(String),
    Unconfirmed,
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
            Err(status) => {
                let reason = client::status_reason(&status)
                    .map_or_else(|| format!("{:?}", status.code()), |r| r.as_str_name().to_owned());
                return RowOutcome::Refused(reason);
            }
        }
    }
    RowOutcome::Refused("REASON_OVERLOADED".to_owned())
}

/// Mints every row, `DISBURSE_IN_FLIGHT_MAX` at a time, printing progress
/// to `progress` about once a second.
///
/// # Errors
/// A setup failure (no issuer key, a server that does not answer).
pub async fn disburse(
    url: &str,
    token: &str,
    programme: ProgrammeId,
    rows: Vec<Row>,
    issuers: &[Keypair],
    mut progress: impl Write,
) -> Result<Summary, String> {
    let client = Client::connect_with_token(url, token).await.map_err(|e| format!("{url}: {e}"))?;
    let chain = client.clone().chain_id().await.map_err(|s| format!("{url}: {}", s.message()))?;
    let total = rows.len();
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(DISBURSE_IN_FLIGHT_MAX));
    let issuers: Arc<Vec<Keypair>> = Arc::new(issuers.to_vec());
    let mut tasks = tokio::task::JoinSet::new();
    let mut summary = Summary { rows: total as u64, ..Summary::default() };
    let mut done = 0usize;
    let mut last_report = Instant::now();
    let mut finish = |summary: &mut Summary, finished: Result<(RowOutcome, AmountMinor), tokio::task::JoinError>| {
        let (outcome, amount) = finished.map_err(|e| e.to_string())?;
        match outcome {
            RowOutcome::Paid => {
                summary.paid += 1;
                summary.paid_minor += amount;
            }
            RowOutcome::AlreadyPaid => {
                summary.already_paid += 1;
                summary.already_paid_minor += amount;
            }
            RowOutcome::Refused(reason) => *summary.refused.entry(reason).or_default() += 1,
            RowOutcome::Unconfirmed => summary.unconfirmed += 1,
        }
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
            // Signing costs two signatures a row: off the async workers.
            let tx = tokio::task::spawn_blocking(move || {
                let signers: Vec<&Keypair> = issuers.iter().collect();
                client::mint(
                    &chain,
                    vec![client::output(row.address, row.amount_minor, programme)],
                    &row_reference(programme, &row.row_id),
                    &signers,
                )
            })
            .await
            .expect("signing does not panic");
            let outcome = submit_row(&mut client, &tx).await;
            drop(permit);
            (outcome, row.amount_minor)
        });
        while let Some(finished) = tasks.try_join_next() {
            finish(&mut summary, finished)?;
        }
    }
    while let Some(finished) = tasks.join_next().await {
        finish(&mut summary, finished)?;
    }
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
    out
}
