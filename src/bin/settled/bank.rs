//! What an operating bank runs: following its customers (reconnecting to
//! another replica when a stream breaks), a day's statement, net positions.

use std::io::Write;
use std::path::{Path, PathBuf};

use settled::client::Client;
use settled::follow::{self, Cursor, Event, FollowError, Follower};
use settled::{Address, proto};

use crate::cli::*;
use crate::serve::shutdown_signal;
use crate::{connect, replicas, status_text};

pub(crate) async fn bank(command: BankCommand, server: &str, token: &str) -> Result<(), String> {
    let mut client = connect(server, token).await?;
    let exponent = currency_exponent(&mut client).await?;
    match command {
        BankCommand::Follow { bank, cursor_file, until_height, engine_key } => {
            let pinned = engine_key
                .map(|hex| Address::from_hex(&hex).map_err(|e| crate::hex32_error("--engine-key", &hex, &e)))
                .transpose()?;
            // Any replica serves the stream; a broken one moves to the next.
            let others = if server.contains(',') { Some(replicas(server, token)?) } else { None };
            bank_follow(client, others, exponent, &bank, cursor_file, until_height, pinned).await
        }
        BankCommand::Statement { bank, date, format, out } => {
            let info = client.info(false).await.map_err(|s| status_text(&s))?;
            let date = date
                .unwrap_or_else(|| settled::statement::ledger_date(settled::now_unix_ms(), info.day_offset_minutes));
            // A day before the ledger began, or not yet begun, has no
            // entries: say so rather than hand over an empty statement
            // silently.
            let genesis = client.ledger.get_block(proto::GetBlockRequest { height: 0 }).await;
            if let Some(header) = genesis.ok().and_then(|b| b.into_inner().header) {
                let first = settled::statement::ledger_date(header.time_unix_ms, info.day_offset_minutes);
                let today = settled::statement::ledger_date(settled::now_unix_ms(), info.day_offset_minutes);
                if date.as_str() < first.as_str() {
                    eprintln!("warning: {date} is before the ledger began ({first}): the statement is empty");
                } else if date.as_str() > today.as_str() {
                    eprintln!("warning: {date} has not begun on the ledger (today is {today}): the statement is empty");
                }
            }
            bank_statement(client, exponent, &bank, &date, format, out.as_deref()).await
        }
        BankCommand::Positions { after_height, until_height } => {
            bank_positions(client, exponent, after_height, until_height).await
        }
    }
}

/// The ledger's currency exponent, refused past what an amount can carry
/// (formatting would otherwise fail on the first amount).
pub(crate) async fn currency_exponent(client: &mut Client) -> Result<u32, String> {
    let exponent = client.info(false).await.map_err(|s| status_text(&s))?.currency_exponent;
    let exponent_max = settled::limits::CURRENCY_EXPONENT_MAX;
    if exponent > exponent_max {
        return Err(format!("the server's currency exponent {exponent} is above {exponent_max}"));
    }
    Ok(exponent)
}

/// A signed amount in currency units (a bank's balance may be negative).
pub(crate) fn signed_amount(minor: i128, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    match u64::try_from(minor.unsigned_abs()) {
        Ok(magnitude) => format!("{sign}{}", settled::format_amount(magnitude, exponent)),
        Err(_) => format!("{minor} minor units"),
    }
}

/// The first four bytes of an address, in hex: enough to tell customers apart
/// on a line.
pub(crate) fn short_hex(bytes: &[u8]) -> String {
    hex::encode(&bytes[..bytes.len().min(4)])
}

fn movement_kind(movement: &proto::Movement) -> &'static str {
    match proto::MovementKind::try_from(movement.kind) {
        Ok(proto::MovementKind::Payment) => "payment",
        Ok(proto::MovementKind::Mint) => "mint",
        Ok(proto::MovementKind::Redeem) => "redeem",
        Ok(proto::MovementKind::Clawback) => "clawback",
        Ok(proto::MovementKind::Refund) => "refund",
        Ok(proto::MovementKind::Recovery) => "recovery",
        Ok(proto::MovementKind::Unspecified) | Err(_) => "unknown",
    }
}

/// A movement as `bank follow --json` prints it: one JSON object a line.
fn movement_json(movement: &proto::Movement, exponent: u32) -> serde_json::Value {
    serde_json::json!({
        "movement": {
            "txid": hex::encode(&movement.txid),
            "sequence": movement.sequence,
            "height": movement.height,
            "kind": movement_kind(movement),
            "merchant": movement.merchant,
            "terminal": movement.terminal,
            "entries": movement.entries.iter().map(|entry| serde_json::json!({
                "address": hex::encode(&entry.address),
                "direction": if entry.direction == i32::from(proto::Direction::Credit) { "credit" } else { "debit" },
                "amount": settled::format_amount(entry.amount_minor, exponent),
                "programme": entry.programme_id,
            })).collect::<Vec<_>>(),
        }
    })
}

/// A verified checkpoint (or, at the end, the totals) as `--json` prints it.
fn cursor_json(what: &str, cursor: &Cursor, lag_ms: Option<u64>) -> serde_json::Value {
    serde_json::json!({
        what: {
            "bank": cursor.bank,
            "height": cursor.after_height,
            "after_sequence": cursor.after_sequence,
            "movements": cursor.movements,
            "credits_minor": cursor.credits_minor,
            "debits_minor": cursor.debits_minor,
            "lag_ms": lag_ms,
        }
    })
}

pub(crate) fn movement_line(movement: &proto::Movement, exponent: u32) -> String {
    use std::fmt::Write as _;
    let kind = movement_kind(movement);
    let mut line = format!("movement seq={} height={} {kind}", movement.sequence, movement.height);
    for entry in &movement.entries {
        let sign = match proto::Direction::try_from(entry.direction) {
            Ok(proto::Direction::Credit) => '+',
            Ok(proto::Direction::Debit) => '-',
            Ok(proto::Direction::Unspecified) | Err(_) => '?',
        };
        let amount = settled::format_amount(entry.amount_minor, exponent);
        let _ = write!(line, " {sign}{amount} {}", short_hex(&entry.address));
        if entry.programme_id != 0 {
            let _ = write!(line, " programme={}", entry.programme_id);
        }
    }
    if !movement.merchant.is_empty() {
        let _ = write!(line, " merchant={}", movement.merchant);
    }
    if !movement.terminal.is_empty() {
        let _ = write!(line, " terminal={}", movement.terminal);
    }
    line
}

pub(crate) fn checkpoint_line(height: u64, cursor: &Cursor, lag_ms: u64, exponent: u32) -> String {
    let balance = i128::from(cursor.credits_minor) - i128::from(cursor.debits_minor);
    format!(
        "checkpoint height={height} movements={} credits={} debits={} balance={} lag_ms={lag_ms}",
        cursor.movements,
        settled::format_amount(cursor.credits_minor, exponent),
        settled::format_amount(cursor.debits_minor, exponent),
        signed_amount(balance, exponent),
    )
}

/// The machine-readable last line of `bank follow`: the totals at the last
/// verified checkpoint.
pub(crate) fn totals_line(cursor: &Cursor) -> String {
    let height = cursor.after_height.map_or_else(|| "none".to_owned(), |h| h.to_string());
    format!(
        "totals bank={} height={height} movements={} credits_minor={} debits_minor={}",
        cursor.bank, cursor.movements, cursor.credits_minor, cursor.debits_minor
    )
}

/// Prints what a follower reports. Movements are buffered and flushed at
/// their block's checkpoint: one write per block, not one per movement.
pub(crate) struct FollowPrinter<'a> {
    out: std::io::BufWriter<std::io::Stdout>,
    exponent: u32,
    /// The cursor at the last verified checkpoint, which the totals line reports.
    verified: Cursor,
    /// Woken when stdout fails, so that the command stops instead of
    /// following for ever with nowhere to write.
    broken: &'a tokio::sync::Notify,
    error: Option<std::io::Error>,
}

impl FollowPrinter<'_> {
    fn on_event(&mut self, event: Event<'_>) {
        if self.error.is_some() {
            return;
        }
        let written = match event {
            Event::Movement(movement) if crate::output::json() => {
                writeln!(self.out, "{}", movement_json(movement, self.exponent))
            }
            Event::Movement(movement) => writeln!(self.out, "{}", movement_line(movement, self.exponent)),
            Event::Checkpoint { height, cursor, lag_ms, .. } => {
                self.verified = cursor.clone();
                let line = if crate::output::json() {
                    cursor_json("checkpoint", cursor, Some(lag_ms)).to_string()
                } else {
                    checkpoint_line(height, cursor, lag_ms, self.exponent)
                };
                writeln!(self.out, "{line}").and_then(|()| self.out.flush())
            }
        };
        if let Err(error) = written {
            self.error = Some(error);
            self.broken.notify_one();
        }
    }
}

pub(crate) fn follow_error_text(error: FollowError) -> String {
    match error {
        FollowError::Rpc(status) => format!("stream: {}", status_text(&status)),
        other => other.to_string(),
    }
}

/// Runs the follower to `until_height` (or for ever), reconnecting after
/// `follow::RECONNECT_DELAY` whenever the stream breaks (`Follower::
/// run_reconnecting`); each kind of break is said once, not every
/// reconnect of an outage.
pub(crate) async fn follow_with_reconnects(
    follower: &mut Follower,
    replicas: Option<&settled::client::Replicas>,
    until_height: Option<u64>,
    printer: &mut FollowPrinter<'_>,
) -> Result<(), String> {
    let mut reported: Option<(String, u64)> = None;
    let on_break = |why: follow::Break<'_>, cursor: &Cursor| {
        let reason = match why {
            follow::Break::Ended => "the server ended the stream".to_owned(),
            follow::Break::Failed(status) => status_text(status),
        };
        let now = (reason, cursor.after_sequence);
        if reported.as_ref() != Some(&now) {
            eprintln!(
                "stream broke ({}); reconnecting every {} ms to resume after sequence {}",
                now.0,
                follow::RECONNECT_DELAY.as_millis(),
                now.1
            );
            reported = Some(now);
        }
    };
    follower
        .run_reconnecting(replicas, until_height, follow::RECONNECT_DELAY, |event| printer.on_event(event), on_break)
        .await
        .map_err(follow_error_text)
}

#[allow(clippy::too_many_arguments, reason = "the command's options, passed through once")]
pub(crate) async fn bank_follow(
    client: Client,
    replicas: Option<settled::client::Replicas>,
    exponent: u32,
    bank: &str,
    cursor_file: Option<PathBuf>,
    until_height: Option<u64>,
    pinned_engine_key: Option<Address>,
) -> Result<(), String> {
    let cursor = match &cursor_file {
        Some(path) => Cursor::load(path, bank).map_err(|e| e.to_string())?,
        None => Cursor::new(bank),
    };
    let broken = tokio::sync::Notify::new();
    let mut printer = FollowPrinter {
        out: std::io::BufWriter::new(std::io::stdout()),
        exponent,
        verified: cursor.clone(),
        broken: &broken,
        error: None,
    };
    let mut follower = Follower::new(client, cursor, cursor_file).await.map_err(follow_error_text)?;
    if let Some(pinned) = pinned_engine_key {
        follower.pin_engine_key(pinned).map_err(follow_error_text)?;
    }
    let outcome = tokio::select! {
        outcome = follow_with_reconnects(&mut follower, replicas.as_ref(), until_height, &mut printer) => outcome,
        () = broken.notified() => Ok(()),
        () = shutdown_signal() => match until_height {
            None => Ok(()),
            Some(until) => Err(format!("interrupted before the checkpoint of block {until}")),
        },
    };
    let outcome = match printer.error.take() {
        Some(error) => Err(format!("stdout: {error}")),
        None => outcome,
    };
    let totals = if crate::output::json() {
        cursor_json("totals", &printer.verified, None).to_string()
    } else {
        totals_line(&printer.verified)
    };
    let printed = writeln!(printer.out, "{totals}").and_then(|()| printer.out.flush());
    outcome?;
    printed.map_err(|e| format!("stdout: {e}"))
}

/// `<file>.partial`: where a statement is written until it is complete.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

pub(crate) async fn bank_statement(
    mut client: Client,
    exponent: u32,
    bank: &str,
    date: &str,
    format: StatementFormat,
    out: Option<&Path>,
) -> Result<(), String> {
    let request = proto::GetStatementRequest {
        bank: bank.to_owned(),
        date: date.to_owned(),
        format: match format {
            StatementFormat::Camt053 => proto::StatementFormat::Camt053,
            StatementFormat::Camt052 => proto::StatementFormat::Camt052,
            StatementFormat::Csv => proto::StatementFormat::Csv,
        }
        .into(),
    };
    let mut chunks = client.reconciliation.get_statement(request).await.map_err(|s| status_text(&s))?.into_inner();
    let partial = out.map(partial_path);
    let mut file = match &partial {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    // The checker reads a whole document; kept only for camt.053 and .052.
    let mut document = Vec::new();
    let streamed: Result<(), String> = async {
        while let Some(chunk) = chunks.message().await.map_err(|s| status_text(&s))? {
            match &mut file {
                Some(file) => file.write_all(&chunk.data),
                None => std::io::stdout().write_all(&chunk.data),
            }
            .map_err(|e| format!("writing the statement: {e}"))?;
            if format != StatementFormat::Csv {
                document.extend_from_slice(&chunk.data);
            }
        }
        match &mut file {
            Some(file) => file.sync_all(),
            None => std::io::stdout().flush(),
        }
        .map_err(|e| format!("writing the statement: {e}"))
    }
    .await;
    if let Err(error) = streamed {
        if let Some(path) = &partial {
            let _ = std::fs::remove_file(path);
        }
        return Err(format!("the statement is incomplete: {error}"));
    }
    if format != StatementFormat::Csv {
        let kept = partial.as_ref().map_or(String::new(), |p| format!(" (kept in {})", p.display()));
        let (checked, name) = match format {
            StatementFormat::Camt052 => (settled::statement::check_camt052(&document, exponent), "camt.052 report"),
            _ => (settled::statement::check_camt053(&document, exponent), "camt.053 statement"),
        };
        let checked = checked.map_err(|e| format!("the {name} does not check{kept}: {e}"))?;
        if (checked.bank_id.as_str(), checked.date.as_str()) != (bank, date) {
            return Err(format!(
                "asked for bank {bank} on {date}, got a statement of bank {} on {}{kept}",
                checked.bank_id, checked.date
            ));
        }
        let amount = |minor| settled::format_amount(minor, exponent);
        eprintln!(
            "statement of {} for {} ({}) checks: opening {}, closing {}\n  credits: {} entries, {}\n  \
             debits: {} entries, {}",
            checked.bank_id,
            checked.date,
            checked.currency,
            signed_amount(checked.opening_minor, exponent),
            signed_amount(checked.closing_minor, exponent),
            checked.credit_entries,
            amount(checked.credits_minor),
            checked.debit_entries,
            amount(checked.debits_minor),
        );
    }
    if let (Some(partial), Some(out)) = (&partial, out) {
        std::fs::rename(partial, out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// Columns padded to their widest cell; the first `left` columns are
/// aligned left (names), the rest right (amounts).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut text = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(n, (cell, width))| if n < left { format!("{cell:<width$}") } else { format!("{cell:>width$}") })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

pub(crate) async fn bank_positions(
    mut client: Client,
    exponent: u32,
    after_height: u64,
    until_height: u64,
) -> Result<(), String> {
    let request = proto::GetNetPositionsRequest { after_height, until_height, bank: String::new() };
    let response = client.reconciliation.get_net_positions(request).await.map_err(|s| status_text(&s))?.into_inner();
    let from = response.from_block.as_ref().map_or(after_height, |b| b.height);
    let until = response.until_block.as_ref().map_or(until_height, |b| b.height);
    let bank_name = |bank: &str| if bank.is_empty() { "(unbanked)".to_owned() } else { bank.to_owned() };
    let amount = |minor| settled::format_amount(minor, exponent);
    let net_sum: i128 = response.positions.iter().map(|p| i128::from(p.net_minor)).sum();
    if net_sum != 0 {
        return Err(format!("the net positions sum to {net_sum} minor units, not 0"));
    }
    if crate::output::json() {
        let value = serde_json::json!({
            "after_height": from,
            "until_height": until,
            "flows": response.flows.iter().map(|f| serde_json::json!({
                "payer_bank": f.payer_bank, "payee_bank": f.payee_bank, "amount": amount(f.amount_minor)
            })).collect::<Vec<_>>(),
            "positions": response.positions.iter().map(|p| serde_json::json!({
                "bank": p.bank,
                "paid": amount(p.paid_minor),
                "received": amount(p.received_minor),
                "issued": amount(p.issued_minor),
                "redeemed": amount(p.redeemed_minor),
                "net": signed_amount(i128::from(p.net_minor), exponent),
            })).collect::<Vec<_>>(),
        });
        crate::output::emit(&value, "");
        return Ok(());
    }
    println!("net positions over blocks {}..={until}", from + 1);
    if response.flows.is_empty() {
        println!("no payments between banks");
    } else {
        let rows: Vec<Vec<String>> = response
            .flows
            .iter()
            .map(|f| vec![bank_name(&f.payer_bank), bank_name(&f.payee_bank), amount(f.amount_minor)])
            .collect();
        print!("{}", table(&["payer bank", "payee bank", "amount"], &rows, 2));
    }
    let rows: Vec<Vec<String>> = response
        .positions
        .iter()
        .map(|p| {
            vec![
                bank_name(&p.bank),
                amount(p.paid_minor),
                amount(p.received_minor),
                amount(p.issued_minor),
                amount(p.redeemed_minor),
                signed_amount(i128::from(p.net_minor), exponent),
            ]
        })
        .collect();
    print!("{}", table(&["bank", "paid", "received", "issued", "redeemed", "net"], &rows, 1));
    Ok(())
}
