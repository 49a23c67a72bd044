//! One bank's statement of one booking day: ISO 20022 camt.053.001.08
//! (`BankToCustomerStatementV08`) for the bank's systems, CSV for people,
//! and a checker that reads a camt.053 back and checks that it adds up.
//!
//! A day may hold up to [`STATEMENT_ENTRIES_MAX`] entries, so the writers
//! never hold them: each entry goes from the iterator straight to the
//! output and only running totals stay behind. The totals are compared
//! with the [`StatementInfo`] once the last entry is out; by then the bytes
//! have left, so a mismatch fails the call, and a caller that streamed the
//! output must tell the reader that what it got is not a statement.

use std::borrow::Cow;
use std::fmt::Display;
use std::io::{self, BufWriter, Write};

use quick_xml::encoding::Decoder;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesDecl, BytesEnd, BytesRef, BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, Writer};

use crate::core::amount::{format_amount, parse_amount};
use crate::core::limits::{CURRENCY_EXPONENT_MAX, STATEMENT_ENTRIES_MAX};
use crate::core::types::{Address, AmountMinor, ProgrammeId, TxId, TxKind};

/// The XML namespace of the statements written and accepted here.
pub const CAMT053_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08";
/// The XML namespace of the intraday reports written and accepted here.
pub const CAMT052_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08";

/// The two ISO 20022 documents of a bank's day, one writer for both: the
/// statement (camt.053.001.08, `BankToCustomerStatementV08`) and the
/// intraday account report (camt.052.001.08,
/// `BankToCustomerAccountReportV08`), the same account, balances, summary
/// and entries under other element names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Camt {
    #[default]
    Statement053,
    Report052,
}

impl Camt {
    #[must_use]
    pub fn namespace(self) -> &'static str {
        match self {
            Self::Statement053 => CAMT053_NAMESPACE,
            Self::Report052 => CAMT052_NAMESPACE,
        }
    }

    fn root(self) -> &'static str {
        match self {
            Self::Statement053 => "BkToCstmrStmt",
            Self::Report052 => "BkToCstmrAcctRpt",
        }
    }

    fn record(self) -> &'static str {
        match self {
            Self::Statement053 => "Stmt",
            Self::Report052 => "Rpt",
        }
    }

    fn additional(self) -> &'static str {
        match self {
            Self::Statement053 => "AddtlStmtInf",
            Self::Report052 => "AddtlRptInf",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Statement053 => "camt.053",
            Self::Report052 => "camt.052",
        }
    }
}

/// The CSV column names, in order.
pub const CSV_HEADER: &str = "booking_date,sequence,height,time_utc,txid,kind,direction,amount,currency,programme,address,merchant,counterparty,terminal";

const DAY_MS: i128 = 86_400_000;
const MINUTE_MS: i128 = 60_000;
/// The widest UTC offsets an XML Schema date-time can carry (and the
/// config accepts for the ledger day).
const OFFSET_MINUTES_MAX: i32 = 14 * 60;
/// Our documents nest 13 deep; anything far deeper is not a statement and
/// must not grow the checker's path without bound.
const XML_DEPTH_MAX: usize = 32;

/// Credit or debit of the bank's customer: the ledger's own, so that
/// movements read from the store need no conversion.
pub use crate::core::movements::Direction;

fn direction_code(direction: Direction) -> &'static str {
    match direction {
        Direction::Credit => "CRDT",
        Direction::Debit => "DBIT",
    }
}

fn direction_word(direction: Direction) -> &'static str {
    match direction {
        Direction::Credit => "credit",
        Direction::Debit => "debit",
    }
}

/// What a statement is about, known before its entries are read.
#[derive(Clone, Debug)]
pub struct StatementInfo {
    pub bank_id: String,
    pub bank_name: String,
    /// ISO 4217 code, e.g. "CNY".
    pub currency: String,
    /// Decimals of the currency, e.g. 2.
    pub exponent: u32,
    /// Booking date, YYYY-MM-DD, in the ledger's day.
    pub date: String,
    /// The ledger day's UTC offset (480 for UTC+8), used for every date-time.
    pub day_offset_minutes: i32,
    pub created_unix_ms: u64,
    /// The bank's customers' balance at the start of the day (may be negative).
    pub opening_minor: i128,
    pub closing_minor: i128,
    pub credit_entries: u64,
    pub credits_minor: u64,
    pub debit_entries: u64,
    pub debits_minor: u64,
    /// First block of the day (informative).
    pub from_height: u64,
    /// Last block of the day.
    pub until_height: u64,
    /// Whether the day is over: its closing balance is then booked
    /// (`CLBD`); during the day it is interim (`ITBD`), as of `until_height`.
    pub closed: bool,
}

/// One customer's net movement in one programme within one transaction.
#[derive(Clone, Debug)]
pub struct StatementEntry {
    pub txid: TxId,
    pub sequence: u64,
    pub height: u64,
    pub time_unix_ms: u64,
    pub kind: TxKind,
    pub address: Address,
    pub merchant: Option<String>,
    pub programme: ProgrammeId,
    pub direction: Direction,
    pub amount_minor: AmountMinor,
    pub counterparty: Option<Address>,
    pub terminal: Option<String>,
}

/// What a camt.053 document says, after checking it adds up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedStatement {
    pub bank_id: String,
    pub date: String,
    pub currency: String,
    pub opening_minor: i128,
    pub closing_minor: i128,
    pub credit_entries: u64,
    pub credits_minor: u64,
    pub debit_entries: u64,
    pub debits_minor: u64,
    pub entries: Vec<(TxId, Direction, AmountMinor)>,
    /// A closed day's statement (`CLBD`), or an interim one (`ITBD`).
    pub closed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("writing the statement: {0}")]
    Io(#[from] io::Error),
    /// The entry iterator failed; its message.
    #[error("reading the statement's entries: {0}")]
    Entries(String),
    /// The info, the entries or the document do not hold together: the first
    /// thing found that does not.
    #[error("statement does not hold: {0}")]
    Invalid(String),
    #[error("a statement holds at most {STATEMENT_ENTRIES_MAX} entries, this one {0}")]
    TooManyEntries(u64),
}

fn invalid(reason: impl Into<String>) -> StatementError {
    StatementError::Invalid(reason.into())
}

/// Writes one day's statement as camt.053.001.08, streaming the entries.
///
/// # Errors
/// [`StatementError::Invalid`] or [`StatementError::TooManyEntries`] before
/// anything is written when the info is inconsistent; while or after
/// writing when an entry is out of the day or out of ledger order, or the
/// entries do not add up to the info's counts and sums. I/O and iterator
/// failures as they happen.
pub fn write_camt053<W: Write, E: Display>(
    info: &StatementInfo,
    entries: impl Iterator<Item = Result<StatementEntry, E>>,
    out: W,
) -> Result<(), StatementError> {
    write_camt(Camt::Statement053, info, entries, out)
}

/// Writes the day so far as a camt.052.001.08 intraday report, streaming
/// the entries: what [`write_camt053`] writes, as a report.
///
/// # Errors
/// As [`write_camt053`].
pub fn write_camt052<W: Write, E: Display>(
    info: &StatementInfo,
    entries: impl Iterator<Item = Result<StatementEntry, E>>,
    out: W,
) -> Result<(), StatementError> {
    write_camt(Camt::Report052, info, entries, out)
}

fn write_camt<W: Write, E: Display>(
    camt: Camt,
    info: &StatementInfo,
    entries: impl Iterator<Item = Result<StatementEntry, E>>,
    out: W,
) -> Result<(), StatementError> {
    let figures = check_info(info)?;
    let mut xml = Xml::new(out);
    write_camt_head(camt, &mut xml, info, &figures)?;
    let mut tally = Tally::new(info, &figures);
    // The entries of one transaction are numbered from 1 in ledger order.
    let mut numbered: Option<(u64, u32)> = None;
    for entry in entries {
        let entry = entry.map_err(|error| StatementError::Entries(error.to_string()))?;
        tally.admit(&entry)?;
        let number = match numbered {
            Some((sequence, number)) if sequence == entry.sequence => number + 1,
            _ => 1,
        };
        numbered = Some((entry.sequence, number));
        write_camt053_entry(&mut xml, info, &entry, number)?;
    }
    xml.leaf(
        camt.additional(),
        &format!("bank {}; blocks {}..={}", info.bank_id, info.from_height, info.until_height),
    )?;
    xml.close(camt.record())?;
    xml.close(camt.root())?;
    xml.close("Document")?;
    xml.finish()?;
    tally.finish(info)
}

/// Writes one day's statement as CSV: `#` comment lines with the statement's
/// figures, the header, then one row per entry, streaming the entries.
///
/// # Errors
/// As [`write_camt053`].
pub fn write_csv<W: Write, E: Display>(
    info: &StatementInfo,
    entries: impl Iterator<Item = Result<StatementEntry, E>>,
    out: W,
) -> Result<(), StatementError> {
    let figures = check_info(info)?;
    let mut out = BufWriter::new(out);
    write_csv_head(&mut out, info, &figures)?;
    let mut tally = Tally::new(info, &figures);
    for entry in entries {
        let entry = entry.map_err(|error| StatementError::Entries(error.to_string()))?;
        tally.admit(&entry)?;
        write_csv_row(&mut out, info, &entry)?;
    }
    out.flush()?;
    tally.finish(info)
}

/// The info's figures in the shapes the documents carry, once checked.
struct Figures {
    day: i128,
    opening: (AmountMinor, Direction),
    closing: (AmountMinor, Direction),
    net: (AmountMinor, Direction),
    entries: u64,
    turnover_minor: AmountMinor,
}

/// Refuses info the writers could only render wrongly, before a byte is out.
fn check_info(info: &StatementInfo) -> Result<Figures, StatementError> {
    let entries = info
        .credit_entries
        .checked_add(info.debit_entries)
        .filter(|entries| *entries <= STATEMENT_ENTRIES_MAX)
        .ok_or(StatementError::TooManyEntries(info.credit_entries.saturating_add(info.debit_entries)))?;
    if info.exponent > CURRENCY_EXPONENT_MAX {
        return Err(invalid(format!("currency exponent {} is above {CURRENCY_EXPONENT_MAX}", info.exponent)));
    }
    if !is_currency_code(&info.currency) {
        return Err(invalid(format!("currency '{}' is not three capital letters", info.currency)));
    }
    let day = parse_date(&info.date).ok_or_else(|| invalid(format!("date '{}' is not YYYY-MM-DD", info.date)))?;
    if !(-OFFSET_MINUTES_MAX..=OFFSET_MINUTES_MAX).contains(&info.day_offset_minutes) {
        return Err(invalid(format!("day offset {} minutes is not a UTC offset", info.day_offset_minutes)));
    }
    if info.bank_id.is_empty() {
        return Err(invalid("the bank id is empty"));
    }
    // A day without blocks runs from the block after the last one before it
    // to that same last block: from = until + 1.
    if info.from_height > info.until_height.saturating_add(1) {
        return Err(invalid(format!("blocks {}..={} are reversed", info.from_height, info.until_height)));
    }
    let net_minor = i128::from(info.credits_minor) - i128::from(info.debits_minor);
    if info.opening_minor.checked_add(net_minor) != Some(info.closing_minor) {
        return Err(invalid(format!(
            "opening_minor {} + credits_minor {} - debits_minor {} is not closing_minor {}",
            info.opening_minor, info.credits_minor, info.debits_minor, info.closing_minor
        )));
    }
    let opening = split_signed(info.opening_minor)
        .ok_or_else(|| invalid(format!("opening_minor {} is beyond any amount", info.opening_minor)))?;
    let closing = split_signed(info.closing_minor)
        .ok_or_else(|| invalid(format!("closing_minor {} is beyond any amount", info.closing_minor)))?;
    let net = split_signed(net_minor).ok_or_else(|| invalid("the day's net is beyond any amount"))?;
    let turnover_minor = info
        .credits_minor
        .checked_add(info.debits_minor)
        .ok_or_else(|| invalid("credits and debits together are beyond any amount"))?;
    Ok(Figures { day, opening, closing, net, entries, turnover_minor })
}

/// What a writer has written so far, and the order the entries must keep.
struct Tally {
    day: i128,
    offset_ms: i128,
    from_height: u64,
    until_height: u64,
    entries: u64,
    credit_entries: u64,
    credits_minor: u128,
    debit_entries: u64,
    debits_minor: u128,
    last: Option<(u64, u64, TxId)>,
}

impl Tally {
    fn new(info: &StatementInfo, figures: &Figures) -> Self {
        Self {
            day: figures.day,
            offset_ms: i128::from(info.day_offset_minutes) * MINUTE_MS,
            from_height: info.from_height,
            until_height: info.until_height,
            entries: 0,
            credit_entries: 0,
            credits_minor: 0,
            debit_entries: 0,
            debits_minor: 0,
            last: None,
        }
    }

    fn admit(&mut self, entry: &StatementEntry) -> Result<(), StatementError> {
        if self.entries >= STATEMENT_ENTRIES_MAX {
            return Err(StatementError::TooManyEntries(self.entries + 1));
        }
        let number = self.entries + 1;
        if !(self.from_height..=self.until_height).contains(&entry.height) {
            return Err(invalid(format!(
                "entry {number} (txid {}) is in block {}, outside the day's blocks {}..={}",
                entry.txid, entry.height, self.from_height, self.until_height
            )));
        }
        let local_ms = i128::from(entry.time_unix_ms) + self.offset_ms;
        if local_ms.div_euclid(DAY_MS) != self.day {
            return Err(invalid(format!(
                "entry {number} (txid {}) was booked at {} UTC, outside the statement's day",
                entry.txid,
                local_date_time(entry.time_unix_ms, 0)
            )));
        }
        // A transaction's entries share its sequence; the store yields them in
        // ledger order, so anything else means entries were lost or mixed up.
        if let Some((sequence, height, txid)) = self.last
            && (entry.sequence < sequence
                || entry.height < height
                || (entry.sequence == sequence && entry.txid != txid))
        {
            return Err(invalid(format!(
                "entry {number} (sequence {}, txid {}) is out of ledger order after sequence {sequence}",
                entry.sequence, entry.txid
            )));
        }
        self.last = Some((entry.sequence, entry.height, entry.txid));
        self.entries = number;
        match entry.direction {
            Direction::Credit => {
                self.credit_entries += 1;
                self.credits_minor += u128::from(entry.amount_minor);
            }
            Direction::Debit => {
                self.debit_entries += 1;
                self.debits_minor += u128::from(entry.amount_minor);
            }
        }
        Ok(())
    }

    fn finish(&self, info: &StatementInfo) -> Result<(), StatementError> {
        if self.credit_entries != info.credit_entries || self.credits_minor != u128::from(info.credits_minor) {
            return Err(invalid(format!(
                "the entries hold {} credits of {} minor units, the statement says {} of {}",
                self.credit_entries, self.credits_minor, info.credit_entries, info.credits_minor
            )));
        }
        if self.debit_entries != info.debit_entries || self.debits_minor != u128::from(info.debits_minor) {
            return Err(invalid(format!(
                "the entries hold {} debits of {} minor units, the statement says {} of {}",
                self.debit_entries, self.debits_minor, info.debit_entries, info.debits_minor
            )));
        }
        Ok(())
    }
}

/// quick-xml's writer with the few shapes camt.053 is made of.
struct Xml<W: Write> {
    writer: Writer<BufWriter<W>>,
}

impl<W: Write> Xml<W> {
    fn new(out: W) -> Self {
        // quick-xml writes every tag and text separately; the sink may be a
        // socket or a chunker.
        Self { writer: Writer::new_with_indent(BufWriter::new(out), b' ', 2) }
    }

    fn open(&mut self, name: &str) -> io::Result<()> {
        self.writer.write_event(Event::Start(BytesStart::new(name)))
    }

    fn close(&mut self, name: &str) -> io::Result<()> {
        self.writer.write_event(Event::End(BytesEnd::new(name)))
    }

    /// `<name>text</name>`; text XML 1.0 cannot carry is refused rather
    /// than written into a statement nobody can parse.
    fn leaf(&mut self, name: &str, text: &str) -> io::Result<()> {
        if let Some(character) = text.chars().find(|c| !is_xml_char(*c)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("<{name}> would hold U+{:04X}, which XML 1.0 cannot carry", u32::from(character)),
            ));
        }
        self.writer.create_element(name).write_text_content(BytesText::new(text))?;
        Ok(())
    }

    fn amount(&mut self, name: &str, currency: &str, amount_minor: AmountMinor, exponent: u32) -> io::Result<()> {
        let text = format_amount(amount_minor, exponent);
        self.writer.create_element(name).with_attribute(("Ccy", currency)).write_text_content(BytesText::new(&text))?;
        Ok(())
    }

    /// `<name><Othr><Id>id</Id></Othr></name>`: an identification by a
    /// scheme of our own (ours are neither IBANs nor BICs).
    fn other_id(&mut self, name: &str, id: &str) -> io::Result<()> {
        self.open(name)?;
        self.open("Othr")?;
        self.leaf("Id", id)?;
        self.close("Othr")?;
        self.close(name)
    }

    /// An address as an account: its first 32 hex digits as the
    /// identification (`Max34Text`), the whole address as a proxy of ours.
    fn account(&mut self, name: &str, address: &Address) -> io::Result<()> {
        let hex = address.to_string();
        self.open(name)?;
        self.other_id("Id", &hex[..ADDRESS_ID_HEX])?;
        self.open("Prxy")?;
        self.open("Tp")?;
        self.leaf("Prtry", PROXY_TYPE)?;
        self.close("Tp")?;
        self.leaf("Id", &hex)?;
        self.close("Prxy")?;
        self.close(name)
    }

    /// A merchant as a party: its whole id as the name (`Max140Text`), the
    /// id fitted to `Max35Text` as its organisation identification.
    fn merchant(&mut self, name: &str, merchant: &str) -> io::Result<()> {
        self.open(name)?;
        self.open("Pty")?;
        self.leaf("Nm", merchant)?;
        self.open("Id")?;
        self.other_id("OrgId", &fitted_id(merchant, 35))?;
        self.close("Id")?;
        self.close("Pty")?;
        self.close(name)
    }

    fn finish(self) -> io::Result<()> {
        self.writer.into_inner().flush()
    }
}

/// Hex digits of an address that identify it as an account (`Othr/Id` is
/// `Max34Text`; 128 bits tell addresses apart); the whole address goes in
/// the account's proxy, of type [`PROXY_TYPE`].
pub const ADDRESS_ID_HEX: usize = 32;
/// Hex digits of the txid in `Refs/EndToEndId` (`Max35Text`); the whole
/// txid opens `AddtlTxInf`.
pub const END_TO_END_HEX: usize = 32;
/// The proprietary proxy type of an account that is a ledger address.
pub const PROXY_TYPE: &str = "SETTLED-ADDRESS";
/// Characters of `Acct/Nm` (`Max70Text`): a longer bank name is cut there
/// and given whole in `Acct/Ownr/Nm` (`Max140Text`).
const ACCOUNT_NAME_CHARS_MAX: usize = 70;

/// `id` where it has at most `max` characters; a longer one becomes its
/// first `max - 9` characters, `~` and the first 8 hex digits of its
/// SHA-256 (registry ids are ASCII, so characters are bytes).
#[must_use]
pub fn fitted_id(id: &str, max: usize) -> Cow<'_, str> {
    if id.chars().count() <= max {
        return Cow::Borrowed(id);
    }
    let kept: String = id.chars().take(max.saturating_sub(9)).collect();
    let digest = crate::core::crypto::sha256(id.as_bytes());
    Cow::Owned(format!("{kept}~{}", hex::encode(&digest[..4])))
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Borrowed(&text[..end]),
        None => Cow::Borrowed(text),
    }
}

/// `Stmt/Id`: the same for every statement of one bank's day, 34
/// characters: `STLD-`, the date as YYYYMMDD, `-`, the first 20 hex digits
/// of SHA-256 of the bank id.
#[must_use]
pub fn statement_id(bank_id: &str, date: &str) -> String {
    let digest = crate::core::crypto::sha256(bank_id.as_bytes());
    format!("STLD-{}-{}", date.replace('-', ""), &hex::encode(digest)[..20])
}

/// `GrpHdr/MsgId`: one per document, 35 characters: `STLM-` and the first
/// 30 hex digits of SHA-256 of the document (`camt.053` or `camt.052`),
/// the bank id, the date, the last block and whether the day was closed,
/// each on its own line; the same request at
/// the same tip gives the same document and the same id.
#[must_use]
pub fn message_id(camt: Camt, bank_id: &str, date: &str, until_height: u64, closed: bool) -> String {
    let digest =
        crate::core::crypto::sha256(format!("{}\n{bank_id}\n{date}\n{until_height}\n{closed}", camt.name()).as_bytes());
    format!("STLM-{}", &hex::encode(digest)[..30])
}

fn write_camt_head<W: Write>(camt: Camt, xml: &mut Xml<W>, info: &StatementInfo, figures: &Figures) -> io::Result<()> {
    let id = statement_id(&info.bank_id, &info.date);
    let created = format!(
        "{}{}",
        local_date_time(info.created_unix_ms, info.day_offset_minutes),
        iso_offset(info.day_offset_minutes)
    );
    xml.writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    xml.writer.write_event(Event::Start(BytesStart::new("Document").with_attributes([("xmlns", camt.namespace())])))?;
    xml.open(camt.root())?;
    xml.open("GrpHdr")?;
    xml.leaf("MsgId", &message_id(camt, &info.bank_id, &info.date, info.until_height, info.closed))?;
    xml.leaf("CreDtTm", &created)?;
    xml.close("GrpHdr")?;

    xml.open(camt.record())?;
    xml.leaf("Id", &id)?;
    xml.leaf("ElctrncSeqNb", &info.until_height.to_string())?;
    xml.leaf("CreDtTm", &created)?;
    let offset = iso_offset(info.day_offset_minutes);
    xml.open("FrToDt")?;
    xml.leaf("FrDtTm", &format!("{}T00:00:00{offset}", info.date))?;
    xml.leaf("ToDtTm", &format!("{}T23:59:59.999{offset}", info.date))?;
    xml.close("FrToDt")?;

    xml.open("Acct")?;
    xml.other_id("Id", &fitted_id(&info.bank_id, 34))?;
    xml.leaf("Ccy", &info.currency)?;
    // Schema text is at least one character: no name, no element.
    if !info.bank_name.is_empty() {
        xml.leaf("Nm", &cut(&info.bank_name, ACCOUNT_NAME_CHARS_MAX))?;
        xml.open("Ownr")?;
        xml.leaf("Nm", &cut(&info.bank_name, 140))?;
        xml.close("Ownr")?;
    }
    xml.open("Svcr")?;
    xml.other_id("FinInstnId", &fitted_id(&info.bank_id, 35))?;
    xml.close("Svcr")?;
    xml.close("Acct")?;

    write_balance(xml, info, "OPBD", figures.opening)?;
    write_balance(xml, info, if info.closed { "CLBD" } else { "ITBD" }, figures.closing)?;

    xml.open("TxsSummry")?;
    xml.open("TtlNtries")?;
    xml.leaf("NbOfNtries", &figures.entries.to_string())?;
    xml.leaf("Sum", &format_amount(figures.turnover_minor, info.exponent))?;
    xml.open("TtlNetNtry")?;
    xml.leaf("Amt", &format_amount(figures.net.0, info.exponent))?;
    xml.leaf("CdtDbtInd", direction_code(figures.net.1))?;
    xml.close("TtlNetNtry")?;
    xml.close("TtlNtries")?;
    for (name, entries, sum_minor) in [
        ("TtlCdtNtries", info.credit_entries, info.credits_minor),
        ("TtlDbtNtries", info.debit_entries, info.debits_minor),
    ] {
        xml.open(name)?;
        xml.leaf("NbOfNtries", &entries.to_string())?;
        xml.leaf("Sum", &format_amount(sum_minor, info.exponent))?;
        xml.close(name)?;
    }
    xml.close("TxsSummry")
}

fn write_balance<W: Write>(
    xml: &mut Xml<W>,
    info: &StatementInfo,
    code: &str,
    (amount_minor, direction): (AmountMinor, Direction),
) -> io::Result<()> {
    xml.open("Bal")?;
    xml.open("Tp")?;
    xml.open("CdOrPrtry")?;
    xml.leaf("Cd", code)?;
    xml.close("CdOrPrtry")?;
    xml.close("Tp")?;
    xml.amount("Amt", &info.currency, amount_minor, info.exponent)?;
    xml.leaf("CdtDbtInd", direction_code(direction))?;
    xml.open("Dt")?;
    xml.leaf("Dt", &info.date)?;
    xml.close("Dt")?;
    xml.close("Bal")
}

fn kind_code(kind: TxKind) -> &'static str {
    match kind {
        TxKind::Transfer => "PAYMENT",
        TxKind::Mint => "MINT",
        TxKind::Redeem => "REDEEM",
        TxKind::Clawback => "CLAWBACK",
        TxKind::Refund => "REFUND",
        TxKind::Recovery => "RECOVERY",
    }
}

fn write_camt053_entry<W: Write>(
    xml: &mut Xml<W>,
    info: &StatementInfo,
    entry: &StatementEntry,
    number: u32,
) -> io::Result<()> {
    let txid = entry.txid.to_string();
    let reference = format!("{}-{number}", entry.sequence);
    let merchant = entry.merchant.as_deref().filter(|merchant| !merchant.is_empty());
    xml.open("Ntry")?;
    xml.leaf("NtryRef", &reference)?;
    xml.amount("Amt", &info.currency, entry.amount_minor, info.exponent)?;
    xml.leaf("CdtDbtInd", direction_code(entry.direction))?;
    xml.open("Sts")?;
    xml.leaf("Cd", "BOOK")?;
    xml.close("Sts")?;
    // Settlement is final at commit: booked and valued the same day.
    for name in ["BookgDt", "ValDt"] {
        xml.open(name)?;
        xml.leaf("Dt", &info.date)?;
        xml.close(name)?;
    }
    xml.leaf("AcctSvcrRef", &reference)?;
    xml.open("BkTxCd")?;
    if entry.kind == TxKind::Refund {
        // ISO 20022 external bank transaction code of a returned payment:
        // payments, a received (credit) or issued (debit) credit transfer,
        // reversal due to payment return.
        xml.open("Domn")?;
        xml.leaf("Cd", "PMNT")?;
        xml.open("Fmly")?;
        xml.leaf(
            "Cd",
            match entry.direction {
                Direction::Credit => "RCDT",
                Direction::Debit => "ICDT",
            },
        )?;
        xml.leaf("SubFmlyCd", "RRTN")?;
        xml.close("Fmly")?;
        xml.close("Domn")?;
    }
    xml.open("Prtry")?;
    xml.leaf("Cd", kind_code(entry.kind))?;
    xml.leaf("Issr", "SETTLED")?;
    xml.close("Prtry")?;
    xml.close("BkTxCd")?;

    xml.open("NtryDtls")?;
    xml.open("TxDtls")?;
    xml.open("Refs")?;
    xml.leaf("EndToEndId", &txid[..END_TO_END_HEX])?;
    xml.leaf("TxId", &entry.sequence.to_string())?;
    xml.close("Refs")?;
    xml.amount("Amt", &info.currency, entry.amount_minor, info.exponent)?;
    xml.leaf("CdtDbtInd", direction_code(entry.direction))?;
    // The bank's customer is the creditor of a credit and the debtor of a
    // debit; the counterparty, where the ledger knows one, is the other side.
    xml.open("RltdPties")?;
    match entry.direction {
        Direction::Credit => {
            if let Some(counterparty) = &entry.counterparty {
                xml.account("DbtrAcct", counterparty)?;
            }
            if let Some(merchant) = merchant {
                xml.merchant("Cdtr", merchant)?;
            }
            xml.account("CdtrAcct", &entry.address)?;
        }
        Direction::Debit => {
            if let Some(merchant) = merchant {
                xml.merchant("Dbtr", merchant)?;
            }
            xml.account("DbtrAcct", &entry.address)?;
            if let Some(counterparty) = &entry.counterparty {
                xml.account("CdtrAcct", counterparty)?;
            }
        }
    }
    xml.close("RltdPties")?;
    let booked = local_date_time(entry.time_unix_ms, info.day_offset_minutes);
    let mut additional = format!(
        "txid {txid}; programme {}; block {}; booked {booked}{}",
        entry.programme,
        entry.height,
        iso_offset(info.day_offset_minutes)
    );
    if let Some(terminal) = entry.terminal.as_deref().filter(|terminal| !terminal.is_empty()) {
        additional.push_str("; terminal ");
        additional.push_str(terminal);
    }
    xml.leaf("AddtlTxInf", &additional)?;
    xml.close("TxDtls")?;
    xml.close("NtryDtls")?;
    xml.close("Ntry")
}

fn write_csv_head<W: Write>(out: &mut W, info: &StatementInfo, figures: &Figures) -> io::Result<()> {
    let signed = |(amount_minor, direction): (AmountMinor, Direction)| {
        let sign = if direction == Direction::Debit && amount_minor != 0 { "-" } else { "" };
        format!("{sign}{}", format_amount(amount_minor, info.exponent))
    };
    let created = format!("{}Z", local_date_time(info.created_unix_ms, 0));
    let lines: [(&str, Cow<'_, str>); 15] = [
        ("statement", statement_id(&info.bank_id, &info.date).into()),
        ("bank", info.bank_id.as_str().into()),
        ("bank_name", info.bank_name.as_str().into()),
        ("booking_date", info.date.as_str().into()),
        ("day_offset", iso_offset(info.day_offset_minutes).into()),
        ("currency", info.currency.as_str().into()),
        ("from_height", info.from_height.to_string().into()),
        ("until_height", info.until_height.to_string().into()),
        ("created_utc", created.into()),
        ("opening_balance", signed(figures.opening).into()),
        ("closing_balance", signed(figures.closing).into()),
        ("credit_entries", info.credit_entries.to_string().into()),
        ("credits", format_amount(info.credits_minor, info.exponent).into()),
        ("debit_entries", info.debit_entries.to_string().into()),
        ("debits", format_amount(info.debits_minor, info.exponent).into()),
    ];
    for (key, value) in lines {
        writeln!(out, "# {key},{}", csv_field(&value))?;
    }
    writeln!(out, "{CSV_HEADER}")
}

fn write_csv_row<W: Write>(out: &mut W, info: &StatementInfo, entry: &StatementEntry) -> io::Result<()> {
    let counterparty = entry.counterparty.map(|address| address.to_string()).unwrap_or_default();
    writeln!(
        out,
        "{},{},{},{}Z,{},{},{},{},{},{},{},{},{},{}",
        csv_field(&info.date),
        entry.sequence,
        entry.height,
        local_date_time(entry.time_unix_ms, 0),
        entry.txid,
        kind_code(entry.kind).to_ascii_lowercase(),
        direction_word(entry.direction),
        format_amount(entry.amount_minor, info.exponent),
        csv_field(&info.currency),
        entry.programme,
        entry.address,
        csv_field(entry.merchant.as_deref().unwrap_or_default()),
        counterparty,
        csv_field(entry.terminal.as_deref().unwrap_or_default()),
    )
}

/// RFC 4180 quoting, only where a field needs it.
fn csv_field(text: &str) -> Cow<'_, str> {
    let needs_quotes =
        text.contains([',', '"', '\r', '\n']) || text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']);
    if needs_quotes { format!("\"{}\"", text.replace('"', "\"\"")).into() } else { text.into() }
}

/// Reads a camt.053.001.08 document and checks that it adds up: every
/// entry booked on the statement's date, one currency throughout, the
/// entries matching the transaction summary, and opening + credits -
/// debits = closing.
///
/// # Errors
/// [`StatementError::Invalid`] naming the first thing that does not hold;
/// [`StatementError::TooManyEntries`] past [`STATEMENT_ENTRIES_MAX`].
pub fn check_camt053(xml: &[u8], exponent: u32) -> Result<CheckedStatement, StatementError> {
    check_camt(Camt::Statement053, xml, exponent)
}

/// Reads a camt.052.001.08 intraday report back and checks it as
/// [`check_camt053`] checks a statement.
///
/// # Errors
/// As [`check_camt053`].
pub fn check_camt052(xml: &[u8], exponent: u32) -> Result<CheckedStatement, StatementError> {
    check_camt(Camt::Report052, xml, exponent)
}

fn check_camt(camt: Camt, xml: &[u8], exponent: u32) -> Result<CheckedStatement, StatementError> {
    if exponent > CURRENCY_EXPONENT_MAX {
        return Err(invalid(format!("currency exponent {exponent} is above {CURRENCY_EXPONENT_MAX}")));
    }
    let mut reader = NsReader::from_reader(xml);
    let mut checker = Checker::new(camt, exponent);
    // Local names from the root down; text gathered since the last tag.
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        let (in_namespace, event) = match reader.read_resolved_event() {
            Ok((namespace, event)) => (is_in(&namespace, camt), event),
            Err(error) => {
                return Err(invalid(format!("not well-formed XML at byte {}: {error}", reader.error_position())));
            }
        };
        match event {
            Event::Start(start) | Event::Empty(start) if !in_namespace => {
                return Err(invalid(format!(
                    "<{}> is not in the namespace {}",
                    String::from_utf8_lossy(start.name().as_ref()),
                    camt.namespace()
                )));
            }
            Event::Start(start) => {
                open_element(&mut path, &start)?;
                text.clear();
                checker.start(&start, &path, reader.decoder())?;
            }
            Event::Empty(start) => {
                open_element(&mut path, &start)?;
                checker.start(&start, &path, reader.decoder())?;
                checker.end(&path, String::new())?;
                path.pop();
            }
            Event::End(_) => {
                checker.end(&path, std::mem::take(&mut text).trim().to_owned())?;
                path.pop();
            }
            Event::Text(content) => text.push_str(&xml_text(content.xml10_content().map_err(not_utf8)?)?),
            Event::CData(content) => text.push_str(&xml_text(content.decode().map_err(not_utf8)?)?),
            Event::GeneralRef(reference) => text.push_str(&xml_text(resolve_reference(&reference)?.into())?),
            Event::DocType(_) => return Err(invalid("a statement has no DOCTYPE")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !path.is_empty() {
        return Err(invalid(format!("the document ends inside <{}>", path.join("/"))));
    }
    checker.finish()
}

/// A character XML 1.0 may carry (its production `Char`).
fn is_xml_char(character: char) -> bool {
    matches!(u32::from(character), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
}

/// `text`, once every character of it is one XML 1.0 may carry.
fn xml_text(text: Cow<'_, str>) -> Result<Cow<'_, str>, StatementError> {
    match text.chars().find(|c| !is_xml_char(*c)) {
        Some(character) => {
            Err(invalid(format!("text holds U+{:04X}, which XML 1.0 cannot carry", u32::from(character))))
        }
        None => Ok(text),
    }
}

fn is_in(namespace: &ResolveResult<'_>, camt: Camt) -> bool {
    matches!(namespace, ResolveResult::Bound(Namespace(name)) if *name == camt.namespace().as_bytes())
}

fn not_utf8(error: impl Display) -> StatementError {
    invalid(format!("text is not UTF-8: {error}"))
}

fn open_element(path: &mut Vec<String>, start: &BytesStart<'_>) -> Result<(), StatementError> {
    let name = std::str::from_utf8(start.local_name().into_inner()).map_err(not_utf8)?;
    if path.is_empty() && name != "Document" {
        return Err(invalid(format!("the root element is <{name}>, not <Document>")));
    }
    if path.len() >= XML_DEPTH_MAX {
        return Err(invalid(format!("elements nest deeper than {XML_DEPTH_MAX}")));
    }
    path.push(name.to_owned());
    Ok(())
}

/// quick-xml hands `&name;` and `&#n;` over apart from the text around them.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, StatementError> {
    let unresolved = || invalid(format!("unknown reference &{};", String::from_utf8_lossy(reference)));
    if reference.is_char_ref() {
        let character = reference.resolve_char_ref().map_err(|_| unresolved())?.ok_or_else(unresolved)?;
        return Ok(character.to_string());
    }
    let name = reference.decode().map_err(not_utf8)?;
    resolve_xml_entity(&name).map(str::to_owned).ok_or_else(unresolved)
}

/// The elements below `Document/BkToCstmrStmt/Stmt` (or the report's
/// `Document/BkToCstmrAcctRpt/Rpt`), or `None` outside a statement.
fn statement_path(camt: Camt, path: &[String]) -> Option<Vec<&str>> {
    match path {
        [document, report, statement, rest @ ..]
            if document == "Document" && report == camt.root() && statement == camt.record() =>
        {
            Some(rest.iter().map(String::as_str).collect())
        }
        _ => None,
    }
}

#[derive(Default)]
struct BalanceDraft {
    code: Option<String>,
    amount_minor: Option<AmountMinor>,
    direction: Option<Direction>,
    date: Option<String>,
}

#[derive(Default)]
struct EntryDraft {
    amount_minor: Option<AmountMinor>,
    direction: Option<Direction>,
    booking_date: Option<String>,
    end_to_end_id: Option<String>,
    additional: Option<String>,
    transactions: u32,
    detail_amount_minor: Option<AmountMinor>,
    detail_direction: Option<Direction>,
}

#[derive(Default)]
struct SummaryDraft {
    entries: Option<u64>,
    turnover_minor: Option<AmountMinor>,
    net_minor: Option<AmountMinor>,
    net_direction: Option<Direction>,
    credit_entries: Option<u64>,
    credits_minor: Option<AmountMinor>,
    debit_entries: Option<u64>,
    debits_minor: Option<AmountMinor>,
}

/// What the checker has read so far of the one statement in a document.
#[derive(Default)]
struct Checker {
    camt: Camt,
    exponent: u32,
    statements: u32,
    bank_id: Option<String>,
    account_id: Option<String>,
    currency: Option<String>,
    date: Option<String>,
    to_date: Option<String>,
    opening_minor: Option<i128>,
    closing_minor: Option<i128>,
    closed: Option<bool>,
    balance: BalanceDraft,
    summary: SummaryDraft,
    entry: EntryDraft,
    entries: Vec<(TxId, Direction, AmountMinor)>,
    credit_entries: u64,
    credits_minor: u128,
    debit_entries: u64,
    debits_minor: u128,
}

impl Checker {
    fn new(camt: Camt, exponent: u32) -> Self {
        Self { camt, exponent, ..Self::default() }
    }

    fn start(&mut self, start: &BytesStart<'_>, path: &[String], decoder: Decoder) -> Result<(), StatementError> {
        let (root, record) = (self.camt.root(), self.camt.record());
        let Some(inner) = statement_path(self.camt, path) else {
            if path.len() == 3 && path[2] == record {
                return Err(invalid(format!("<{record}> outside Document/{root}")));
            }
            return Ok(());
        };
        match inner.as_slice() {
            [] => {
                self.statements += 1;
                if self.statements > 1 {
                    return Err(invalid(format!("more than one <{record}> in the document")));
                }
            }
            ["Bal"] => self.balance = BalanceDraft::default(),
            ["Ntry"] => self.entry = EntryDraft::default(),
            ["Ntry", "NtryDtls", "TxDtls"] => {
                self.entry.transactions += 1;
                if self.entry.transactions > 1 {
                    return Err(invalid(format!("entry {} holds more than one transaction", self.entry_number())));
                }
            }
            _ => {}
        }
        let currency_required =
            matches!(inner.as_slice(), ["Bal" | "Ntry", "Amt"] | ["Ntry", "NtryDtls", "TxDtls", "Amt"]);
        let attribute =
            start.try_get_attribute("Ccy").map_err(|error| invalid(format!("<{}>: {error}", inner.join("/"))))?;
        match attribute {
            Some(attribute) => {
                let currency = attribute
                    .decode_and_unescape_value(decoder)
                    .map_err(|error| invalid(format!("<{}> Ccy: {error}", inner.join("/"))))?;
                let expected = self
                    .currency
                    .as_deref()
                    .ok_or_else(|| invalid(format!("<{}> comes before the account's currency", inner.join("/"))))?;
                if currency != expected {
                    return Err(invalid(format!(
                        "<{}> is in {currency}, the account in {expected}{}",
                        inner.join("/"),
                        self.in_entry(&inner)
                    )));
                }
            }
            None if currency_required => {
                return Err(invalid(format!("<{}> has no Ccy{}", inner.join("/"), self.in_entry(&inner))));
            }
            None => {}
        }
        Ok(())
    }

    fn entry_number(&self) -> usize {
        self.entries.len() + 1
    }

    fn in_entry(&self, inner: &[&str]) -> String {
        if inner.first() == Some(&"Ntry") { format!(" (entry {})", self.entry_number()) } else { String::new() }
    }

    fn end(&mut self, path: &[String], text: String) -> Result<(), StatementError> {
        let Some(inner) = statement_path(self.camt, path) else { return Ok(()) };
        let amount = |what: &str| self.amount(&text, what);
        match inner.as_slice() {
            ["Acct", "Id", "Othr", "Id"] => self.account_id = Some(text),
            [additional] if *additional == self.camt.additional() => {
                // `bank <id>; ...`: the whole bank id, which the account's
                // identification may carry only fitted.
                let bank = text.strip_prefix("bank ").and_then(|rest| rest.split(';').next());
                self.bank_id = bank.map(str::to_owned);
            }
            ["Ntry", "NtryDtls", "TxDtls", "AddtlTxInf"] => self.entry.additional = Some(text),
            ["Acct", "Ccy"] => {
                if !is_currency_code(&text) {
                    return Err(invalid(format!("account currency '{text}' is not three capital letters")));
                }
                self.currency = Some(text);
            }
            ["FrToDt", "FrDtTm"] => self.date = Some(date_of_date_time(&text, "FrToDt/FrDtTm")?),
            ["FrToDt", "ToDtTm"] => self.to_date = Some(date_of_date_time(&text, "FrToDt/ToDtTm")?),
            ["Bal", "Tp", "CdOrPrtry", "Cd"] => self.balance.code = Some(text),
            ["Bal", "Amt"] => self.balance.amount_minor = Some(amount("balance amount")?),
            ["Bal", "CdtDbtInd"] => self.balance.direction = Some(direction(&text)?),
            ["Bal", "Dt", "Dt"] => self.balance.date = Some(text),
            ["Bal"] => self.finish_balance()?,
            ["TxsSummry", "TtlNtries", "NbOfNtries"] => self.summary.entries = Some(count(&text)?),
            ["TxsSummry", "TtlNtries", "Sum"] => self.summary.turnover_minor = Some(amount("TtlNtries/Sum")?),
            ["TxsSummry", "TtlNtries", "TtlNetNtry", "Amt"] => self.summary.net_minor = Some(amount("TtlNetNtry")?),
            ["TxsSummry", "TtlNtries", "TtlNetNtry", "CdtDbtInd"] => {
                self.summary.net_direction = Some(direction(&text)?);
            }
            ["TxsSummry", "TtlCdtNtries", "NbOfNtries"] => self.summary.credit_entries = Some(count(&text)?),
            ["TxsSummry", "TtlCdtNtries", "Sum"] => self.summary.credits_minor = Some(amount("TtlCdtNtries/Sum")?),
            ["TxsSummry", "TtlDbtNtries", "NbOfNtries"] => self.summary.debit_entries = Some(count(&text)?),
            ["TxsSummry", "TtlDbtNtries", "Sum"] => self.summary.debits_minor = Some(amount("TtlDbtNtries/Sum")?),
            ["Ntry", "Amt"] => {
                self.entry.amount_minor = Some(amount(&format!("entry {} amount", self.entry_number()))?);
            }
            ["Ntry", "CdtDbtInd"] => self.entry.direction = Some(direction(&text)?),
            ["Ntry", "BookgDt", "Dt"] => self.entry.booking_date = Some(text),
            ["Ntry", "NtryDtls", "TxDtls", "Refs", "EndToEndId"] => self.entry.end_to_end_id = Some(text),
            ["Ntry", "NtryDtls", "TxDtls", "Amt"] => {
                self.entry.detail_amount_minor =
                    Some(amount(&format!("entry {} transaction amount", self.entry_number()))?);
            }
            ["Ntry", "NtryDtls", "TxDtls", "CdtDbtInd"] => self.entry.detail_direction = Some(direction(&text)?),
            ["Ntry"] => self.finish_entry()?,
            _ => {}
        }
        Ok(())
    }

    fn amount(&self, text: &str, what: &str) -> Result<AmountMinor, StatementError> {
        parse_amount(text, self.exponent).map_err(|error| invalid(format!("{what}: {error}")))
    }

    fn finish_balance(&mut self) -> Result<(), StatementError> {
        let balance = std::mem::take(&mut self.balance);
        let code = balance.code.ok_or_else(|| invalid("a <Bal> without Tp/CdOrPrtry/Cd"))?;
        if !matches!(code.as_str(), "OPBD" | "CLBD" | "ITBD") {
            return Ok(());
        }
        if code != "OPBD" {
            let closed = code == "CLBD";
            if self.closed.replace(closed).is_some() {
                return Err(invalid("more than one closing (CLBD or ITBD) balance"));
            }
        }
        let amount_minor = balance.amount_minor.ok_or_else(|| invalid(format!("the {code} balance has no Amt")))?;
        let direction = balance.direction.ok_or_else(|| invalid(format!("the {code} balance has no CdtDbtInd")))?;
        let date = balance.date.ok_or_else(|| invalid(format!("the {code} balance has no Dt/Dt")))?;
        let statement_date = self.date.get_or_insert_with(|| date.clone());
        if date != *statement_date {
            return Err(invalid(format!("the {code} balance is dated {date}, the statement {statement_date}")));
        }
        let signed_minor = signed(amount_minor, direction);
        let slot = if code == "OPBD" { &mut self.opening_minor } else { &mut self.closing_minor };
        if slot.replace(signed_minor).is_some() {
            return Err(invalid(format!("more than one {code} balance")));
        }
        Ok(())
    }

    fn finish_entry(&mut self) -> Result<(), StatementError> {
        let number = self.entry_number();
        let entry = std::mem::take(&mut self.entry);
        if self.entries.len() as u64 >= STATEMENT_ENTRIES_MAX {
            return Err(StatementError::TooManyEntries(number as u64));
        }
        let date = self.date.as_deref().ok_or_else(|| invalid(format!("entry {number} comes before any date")))?;
        let booking_date = entry.booking_date.ok_or_else(|| invalid(format!("entry {number} has no BookgDt/Dt")))?;
        if booking_date != date {
            return Err(invalid(format!("entry {number} is booked on {booking_date}, the statement is of {date}")));
        }
        let amount_minor = entry.amount_minor.ok_or_else(|| invalid(format!("entry {number} has no Amt")))?;
        let direction = entry.direction.ok_or_else(|| invalid(format!("entry {number} has no CdtDbtInd")))?;
        if entry.detail_amount_minor.is_some_and(|detail| detail != amount_minor)
            || entry.detail_direction.is_some_and(|detail| detail != direction)
        {
            return Err(invalid(format!("entry {number}'s transaction details differ from its amount")));
        }
        // `txid <hex>; ...` opens the transaction's additional information;
        // the end-to-end id is the txid's first digits.
        let reference = entry
            .additional
            .as_deref()
            .and_then(|text| text.strip_prefix("txid "))
            .and_then(|rest| rest.split(';').next())
            .ok_or_else(|| invalid(format!("entry {number} has no AddtlTxInf opening with its txid")))?;
        let txid = TxId::from_hex(reference)
            .map_err(|_| invalid(format!("entry {number}'s reference {reference} is not a txid")))?;
        if let Some(end_to_end) = &entry.end_to_end_id
            && !reference.starts_with(end_to_end.as_str())
        {
            return Err(invalid(format!("entry {number}'s EndToEndId {end_to_end} is not its txid {reference}'s")));
        }
        match direction {
            Direction::Credit => {
                self.credit_entries += 1;
                self.credits_minor += u128::from(amount_minor);
            }
            Direction::Debit => {
                self.debit_entries += 1;
                self.debits_minor += u128::from(amount_minor);
            }
        }
        self.entries.push((txid, direction, amount_minor));
        Ok(())
    }

    fn finish(self) -> Result<CheckedStatement, StatementError> {
        if self.statements == 0 {
            return Err(invalid("no Document/BkToCstmrStmt/Stmt"));
        }
        let account_id = self.account_id.ok_or_else(|| invalid("no Acct/Id/Othr/Id"))?;
        let bank_id = self.bank_id.ok_or_else(|| invalid("no AddtlStmtInf naming the bank"))?;
        if fitted_id(&bank_id, 34) != account_id {
            return Err(invalid(format!("the account {account_id} is not bank {bank_id}'s")));
        }
        let currency = self.currency.ok_or_else(|| invalid("no Acct/Ccy"))?;
        let date = self.date.ok_or_else(|| invalid("no FrToDt and no dated balance"))?;
        if let Some(to_date) = &self.to_date
            && *to_date != date
        {
            return Err(invalid(format!("the statement runs from {date} to {to_date}, not one day")));
        }
        let opening_minor = self.opening_minor.ok_or_else(|| invalid("no OPBD balance"))?;
        let closing_minor = self.closing_minor.ok_or_else(|| invalid("no CLBD (or ITBD) balance"))?;
        let summary = self.summary;
        let credit_entries = summary.credit_entries.ok_or_else(|| invalid("no TtlCdtNtries/NbOfNtries"))?;
        let credits_minor = summary.credits_minor.ok_or_else(|| invalid("no TtlCdtNtries/Sum"))?;
        let debit_entries = summary.debit_entries.ok_or_else(|| invalid("no TtlDbtNtries/NbOfNtries"))?;
        let debits_minor = summary.debits_minor.ok_or_else(|| invalid("no TtlDbtNtries/Sum"))?;
        if self.credit_entries != credit_entries || self.credits_minor != u128::from(credits_minor) {
            return Err(invalid(format!(
                "the entries hold {} credits of {} minor units, TtlCdtNtries says {credit_entries} of {credits_minor}",
                self.credit_entries, self.credits_minor
            )));
        }
        if self.debit_entries != debit_entries || self.debits_minor != u128::from(debits_minor) {
            return Err(invalid(format!(
                "the entries hold {} debits of {} minor units, TtlDbtNtries says {debit_entries} of {debits_minor}",
                self.debit_entries, self.debits_minor
            )));
        }
        let entries = u128::from(credit_entries) + u128::from(debit_entries);
        if summary.entries.is_some_and(|total| u128::from(total) != entries) {
            return Err(invalid("TtlNtries/NbOfNtries is not credits plus debits"));
        }
        let turnover_minor = u128::from(credits_minor) + u128::from(debits_minor);
        if summary.turnover_minor.is_some_and(|total| u128::from(total) != turnover_minor) {
            return Err(invalid("TtlNtries/Sum is not credits plus debits"));
        }
        let net_minor = i128::from(credits_minor) - i128::from(debits_minor);
        match (summary.net_minor, summary.net_direction) {
            (Some(amount_minor), Some(direction)) if signed(amount_minor, direction) != net_minor => {
                return Err(invalid("TtlNetNtry is not credits minus debits"));
            }
            (Some(_), None) | (None, Some(_)) => return Err(invalid("TtlNetNtry needs both Amt and CdtDbtInd")),
            _ => {}
        }
        if opening_minor.checked_add(net_minor) != Some(closing_minor) {
            return Err(invalid(format!(
                "opening {opening_minor} + credits {credits_minor} - debits {debits_minor} (minor units) \
                 is not the closing balance {closing_minor}"
            )));
        }
        Ok(CheckedStatement {
            bank_id,
            date,
            currency,
            opening_minor,
            closing_minor,
            credit_entries,
            credits_minor,
            debit_entries,
            debits_minor,
            entries: self.entries,
            closed: self.closed.unwrap_or(true),
        })
    }
}

fn direction(text: &str) -> Result<Direction, StatementError> {
    match text {
        "CRDT" => Ok(Direction::Credit),
        "DBIT" => Ok(Direction::Debit),
        _ => Err(invalid(format!("CdtDbtInd '{text}' is neither CRDT nor DBIT"))),
    }
}

fn count(text: &str) -> Result<u64, StatementError> {
    let digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten().ok_or_else(|| invalid(format!("NbOfNtries '{text}' is not a count")))
}

fn signed(amount_minor: AmountMinor, direction: Direction) -> i128 {
    match direction {
        Direction::Credit => i128::from(amount_minor),
        Direction::Debit => -i128::from(amount_minor),
    }
}

/// A signed amount as camt.053 carries it, or `None` beyond any `u64` amount.
fn split_signed(amount_minor: i128) -> Option<(AmountMinor, Direction)> {
    let direction = if amount_minor < 0 { Direction::Debit } else { Direction::Credit };
    AmountMinor::try_from(amount_minor.unsigned_abs()).ok().map(|magnitude| (magnitude, direction))
}

fn is_currency_code(text: &str) -> bool {
    text.len() == 3 && text.bytes().all(|byte| byte.is_ascii_uppercase())
}

/// The calendar date an ISO date-time starts with.
fn date_of_date_time(text: &str, what: &str) -> Result<String, StatementError> {
    text.get(..10)
        .filter(|date| parse_date(date).is_some() && text[10..].starts_with('T'))
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("{what} '{text}' is not an ISO date-time")))
}

/// The ledger date (`YYYY-MM-DD`) of a time, seen from the ledger day's UTC
/// offset: what a statement for that time is asked for with.
#[must_use]
pub fn ledger_date(time_unix_ms: u64, offset_minutes: i32) -> String {
    local_date_time(time_unix_ms, offset_minutes)[..10].to_owned()
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` calendar date; `None` when it is
/// not one.
#[must_use]
pub fn parse_date(text: &str) -> Option<i128> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes
            .iter()
            .enumerate()
            .all(|(at, byte)| if at == 4 || at == 7 { *byte == b'-' } else { byte.is_ascii_digit() });
    if !shaped {
        return None;
    }
    let year: i128 = text[0..4].parse().ok()?;
    let month: i128 = text[5..7].parse().ok()?;
    let day: i128 = text[8..10].parse().ok()?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=month_days).contains(&day).then(|| days_from_civil(year, month, day))
}

// Howard Hinnant's proleptic Gregorian conversions
// (https://howardhinnant.github.io/date_algorithms.html): no chrono for two
// functions.
fn days_from_civil(year: i128, month: i128, day: i128) -> i128 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS.mmm` of a time seen from a UTC offset, without the offset.
fn local_date_time(time_unix_ms: u64, offset_minutes: i32) -> String {
    let local_ms = i128::from(time_unix_ms) + i128::from(offset_minutes) * MINUTE_MS;
    let (year, month, day) = civil_from_days(local_ms.div_euclid(DAY_MS));
    let ms_of_day = local_ms.rem_euclid(DAY_MS);
    let (hours, minutes) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60);
    let (seconds, ms) = (ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{ms:03}")
}

/// `+08:00`, `-05:30`, `+00:00`.
fn iso_offset(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let magnitude = offset_minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", magnitude / 60, magnitude % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T00:00:00Z.
    const MAY_FIRST_UTC_MS: u64 = 1_714_521_600_000;
    const HOUR_MS: u64 = 3_600_000;
    /// 2024-05-01T00:00:00+08:00, the start of the test's ledger day.
    const DAY_START_MS: u64 = MAY_FIRST_UTC_MS - 8 * HOUR_MS;

    fn info() -> StatementInfo {
        StatementInfo {
            closed: true,
            bank_id: "ICBC-SZ".into(),
            bank_name: "Shenzhen branch".into(),
            currency: "CNY".into(),
            exponent: 2,
            date: "2024-05-01".into(),
            day_offset_minutes: 480,
            created_unix_ms: MAY_FIRST_UTC_MS + 20 * HOUR_MS,
            opening_minor: -500,
            closing_minor: -500 + 1230 + 777 - 300,
            credit_entries: 2,
            credits_minor: 1230 + 777,
            debit_entries: 1,
            debits_minor: 300,
            from_height: 3,
            until_height: 9,
        }
    }

    fn entries() -> Vec<StatementEntry> {
        let entry = |byte: u8, sequence, direction, amount_minor| StatementEntry {
            txid: TxId([byte; 32]),
            sequence,
            height: sequence / 2,
            time_unix_ms: DAY_START_MS + sequence * HOUR_MS,
            kind: TxKind::Transfer,
            address: Address([0xa0; 32]),
            merchant: None,
            programme: 7,
            direction,
            amount_minor,
            counterparty: None,
            terminal: None,
        };
        vec![
            StatementEntry { kind: TxKind::Mint, ..entry(1, 6, Direction::Credit, 1230) },
            StatementEntry {
                counterparty: Some(Address([0xb0; 32])),
                terminal: Some("T-1".into()),
                ..entry(2, 8, Direction::Debit, 300)
            },
            StatementEntry {
                merchant: Some("shop-1".into()),
                counterparty: Some(Address([0xc0; 32])),
                terminal: Some("T-2".into()),
                ..entry(3, 12, Direction::Credit, 777)
            },
        ]
    }

    fn ok(entries: Vec<StatementEntry>) -> impl Iterator<Item = Result<StatementEntry, String>> {
        entries.into_iter().map(Ok)
    }

    fn camt053(info: &StatementInfo, entries: Vec<StatementEntry>) -> String {
        let mut out = Vec::new();
        write_camt053(info, ok(entries), &mut out).expect("the statement is written");
        String::from_utf8(out).expect("UTF-8")
    }

    fn tampered(document: &str, after: &str, from: &str, to: &str) -> Vec<u8> {
        let start = document.find(after).expect("marker present");
        let at = start + document[start..].find(from).expect("text to tamper present");
        let mut bytes = document.as_bytes().to_vec();
        bytes.splice(at..at + from.len(), to.bytes());
        bytes
    }

    fn reason(result: Result<CheckedStatement, StatementError>) -> String {
        match result {
            Err(StatementError::Invalid(reason)) => reason,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn statement_reads_back_as_written() {
        let info = info();
        let document = camt053(&info, entries());
        let checked = check_camt053(document.as_bytes(), info.exponent).expect("the statement checks");
        let expected_entries =
            entries().iter().map(|entry| (entry.txid, entry.direction, entry.amount_minor)).collect();
        assert_eq!(
            checked,
            CheckedStatement {
                bank_id: info.bank_id.clone(),
                date: info.date.clone(),
                currency: info.currency.clone(),
                opening_minor: -500,
                closing_minor: 1207,
                credit_entries: 2,
                credits_minor: 2007,
                debit_entries: 1,
                debits_minor: 300,
                entries: expected_entries,
                closed: true,
            }
        );
        let statement = statement_id("ICBC-SZ", "2024-05-01");
        assert!(statement.starts_with("STLD-20240501-") && statement.len() == 34, "{statement}");
        assert!(document.contains(&format!("<Id>{statement}</Id>")));
        let message = message_id(Camt::Statement053, "ICBC-SZ", "2024-05-01", info.until_height, true);
        assert!(document.contains(&format!("<MsgId>{message}</MsgId>")) && message.len() == 35);
        let interim = camt053(&StatementInfo { closed: false, ..info.clone() }, entries());
        assert!(!interim.contains(&message), "an interim document has its own message id");
        assert!(interim.contains("<Cd>ITBD</Cd>") && !interim.contains("<Cd>CLBD</Cd>"));
        let checked = check_camt053(interim.as_bytes(), info.exponent).expect("an interim statement checks");
        assert!(!checked.closed, "an open day's closing balance is interim");
        assert!(document.contains("<FrDtTm>2024-05-01T00:00:00+08:00</FrDtTm>"));
        assert!(document.contains("<ToDtTm>2024-05-01T23:59:59.999+08:00</ToDtTm>"));
        assert!(document.contains("<CreDtTm>2024-05-02T04:00:00.000+08:00</CreDtTm>"));
        assert!(document.contains("<Amt Ccy=\"CNY\">5.00</Amt>\n        <CdtDbtInd>DBIT</CdtDbtInd>"));
        assert!(document.contains("<Cd>MINT</Cd>"));
        let address = Address([0xc0; 32]).to_string();
        assert!(document.contains(&format!("<Id>{}</Id>", &address[..ADDRESS_ID_HEX])));
        assert!(document.contains(&format!("<Prtry>{PROXY_TYPE}</Prtry>")) && document.contains(&address));
        assert!(document.contains("<Id>shop-1</Id>"));
        assert!(document.contains("programme 7; block 6; booked 2024-05-01T12:00:00.000+08:00; terminal T-2"));
        assert!(document.contains("<NtryRef>12-1</NtryRef>") && document.contains("<TxId>12</TxId>"));
    }

    #[test]
    fn entries_of_one_transaction_are_told_apart_by_their_number() {
        let shop = entries().pop().expect("three");
        let cash = StatementEntry { programme: 0, amount_minor: 100, ..shop.clone() };
        let info = StatementInfo {
            closing_minor: -500 + 877,
            credit_entries: 2,
            credits_minor: 877,
            debit_entries: 0,
            debits_minor: 0,
            ..info()
        };
        let document = camt053(&info, vec![shop, cash]);
        for reference in ["12-1", "12-2"] {
            assert!(document.contains(&format!("<NtryRef>{reference}</NtryRef>")), "{document}");
            assert!(document.contains(&format!("<AcctSvcrRef>{reference}</AcctSvcrRef>")), "{document}");
        }
        assert_eq!(check_camt053(document.as_bytes(), 2).expect("checks").entries.len(), 2);
    }

    #[test]
    fn an_intraday_report_holds_what_the_statement_holds_under_its_own_names() {
        let info = StatementInfo { closed: false, ..info() };
        let mut report = Vec::new();
        write_camt052(&info, ok(entries()), &mut report).expect("written");
        let text = String::from_utf8(report.clone()).expect("utf-8");
        assert!(text.contains(CAMT052_NAMESPACE) && text.contains("<BkToCstmrAcctRpt>") && text.contains("<Rpt>"));
        assert!(!text.contains("<Stmt>") && text.contains("<AddtlRptInf>bank ICBC-SZ; blocks "));
        let checked = check_camt052(&report, 2).expect("the report checks");
        let statement = check_camt053(camt053(&info, entries()).as_bytes(), 2).expect("the statement checks");
        assert_eq!(checked, statement, "the same figures and entries");
        assert!(check_camt053(&report, 2).is_err(), "a report is not a statement");
        let message = message_id(Camt::Report052, "ICBC-SZ", &info.date, info.until_height, false);
        assert!(text.contains(&message), "its own message id");
    }

    #[test]
    fn ids_longer_than_the_schema_allows_are_fitted_and_names_cut() {
        let long = "b".repeat(64);
        let fitted = fitted_id(&long, 34);
        assert_eq!(fitted.len(), 34);
        assert!(fitted.starts_with(&"b".repeat(25)) && fitted.as_bytes()[25] == b'~');
        assert_ne!(fitted, fitted_id(&format!("{}c", "b".repeat(63)), 34), "the digest tells long ids apart");
        assert_eq!(fitted_id("bank-a", 34), "bank-a", "an id that fits stays as it is");
        let name = "\u{9280}\u{884c}".repeat(40);
        let info = StatementInfo { bank_id: long.clone(), bank_name: name.clone(), ..info() };
        let document = camt053(&info, entries());
        assert!(document.contains(&format!("<Id>{fitted}</Id>")));
        assert!(document.contains(&format!("<Nm>{}</Nm>", name.chars().take(70).collect::<String>())));
        assert!(document.contains(&format!("<Nm>{name}</Nm>")), "the whole name as the owner's");
        assert_eq!(check_camt053(document.as_bytes(), 2).expect("checks").bank_id, long);
    }

    #[test]
    fn day_without_blocks_reads_back_with_no_entries() {
        let info = StatementInfo {
            from_height: 10,
            until_height: 9,
            closing_minor: -500,
            credit_entries: 0,
            credits_minor: 0,
            debit_entries: 0,
            debits_minor: 0,
            ..info()
        };
        let checked = check_camt053(camt053(&info, Vec::new()).as_bytes(), 2).expect("the statement checks");
        assert_eq!((checked.opening_minor, checked.closing_minor), (-500, -500));
        assert!(checked.entries.is_empty());
    }

    #[test]
    fn escaped_identifiers_read_back_unescaped() {
        let info = StatementInfo { bank_id: "B&<1> \"x\"".into(), bank_name: "Bank & Co <Ltd>".into(), ..info() };
        let document = camt053(&info, entries());
        assert!(document.contains("B&amp;&lt;1&gt;"));
        let checked = check_camt053(document.as_bytes(), 2).expect("the statement checks");
        assert_eq!(checked.bank_id, info.bank_id);
    }

    #[test]
    fn text_xml_cannot_carry_is_neither_written_nor_accepted() {
        // A bank name holding 0x01 (the registry refuses it; this is the
        // writer's and the checker's own line).
        let info = StatementInfo { bank_name: "Bank\u{1}".into(), ..info() };
        let mut out = Vec::new();
        let error = write_camt053(&info, ok(entries()), &mut out).expect_err("not written");
        assert!(error.to_string().contains("U+0001"), "{error}");
        let document = camt053(&StatementInfo { bank_name: "Bank A".into(), ..info.clone() }, entries());
        for forged in ["Bank &#1;", "Bank \u{1}", "Bank \u{FFFE}"] {
            let bytes = document.replace("Bank A", forged);
            assert!(reason(check_camt053(bytes.as_bytes(), 2)).contains("XML"), "{forged:?} accepted");
        }
    }

    #[test]
    fn tampered_entry_amount_is_rejected() {
        let document = camt053(&info(), entries());
        assert_eq!(document.matches(">7.77<").count(), 2, "the entry's amount and its transaction's");
        let forged = document.replace(">7.77<", ">7.78<");
        assert!(reason(check_camt053(forged.as_bytes(), 2)).contains("credits"));
    }

    #[test]
    fn entry_amount_differing_from_its_transaction_is_rejected() {
        let document = camt053(&info(), entries());
        let forged = tampered(&document, "<Ntry>", ">12.30<", ">12.31<");
        assert!(reason(check_camt053(&forged, 2)).contains("entry 1"));
    }

    #[test]
    fn tampered_summary_is_rejected() {
        let document = camt053(&info(), entries());
        let forged = tampered(&document, "<TtlDbtNtries>", "<NbOfNtries>1<", "<NbOfNtries>2<");
        assert!(reason(check_camt053(&forged, 2)).contains("debits"));
    }

    #[test]
    fn tampered_closing_balance_is_rejected() {
        let document = camt053(&info(), entries());
        let forged = tampered(&document, "<Cd>CLBD</Cd>", ">12.07<", ">12.08<");
        assert!(reason(check_camt053(&forged, 2)).contains("closing"));
    }

    #[test]
    fn amount_with_more_decimals_than_the_currency_is_rejected() {
        let document = camt053(&info(), entries());
        let forged = document.replace(">7.77<", ">7.770<");
        assert!(reason(check_camt053(forged.as_bytes(), 2)).contains("decimal"));
    }

    #[test]
    fn entry_booked_on_another_date_is_rejected() {
        let document = camt053(&info(), entries());
        let forged = tampered(&document, "<BookgDt>", "2024-05-01", "2024-05-02");
        assert!(reason(check_camt053(&forged, 2)).contains("booked on 2024-05-02"));
    }

    #[test]
    fn amount_in_another_currency_is_rejected() {
        let document = camt053(&info(), entries());
        let forged = tampered(&document, "<Ntry>", "Ccy=\"CNY\"", "Ccy=\"USD\"");
        assert!(reason(check_camt053(&forged, 2)).contains("USD"));
    }

    #[test]
    fn document_of_another_version_is_rejected() {
        let document = camt053(&info(), entries()).replace("camt.053.001.08", "camt.053.001.02");
        assert!(reason(check_camt053(document.as_bytes(), 2)).contains("namespace"));
    }

    #[test]
    fn truncated_document_is_rejected() {
        let document = camt053(&info(), entries());
        let cut = document.find("</Stmt>").expect("statement end");
        assert!(check_camt053(&document.as_bytes()[..cut], 2).is_err());
    }

    #[test]
    fn writer_refuses_info_whose_sums_do_not_match_its_entries() {
        let info = StatementInfo { credits_minor: 2008, closing_minor: 1208, ..info() };
        let mut out = Vec::new();
        let result = write_camt053(&info, ok(entries()), &mut out);
        assert!(matches!(result, Err(StatementError::Invalid(reason)) if reason.contains("credits")));
        let mut out = Vec::new();
        let result = write_csv(&info, ok(entries()), &mut out);
        assert!(matches!(result, Err(StatementError::Invalid(reason)) if reason.contains("credits")));
    }

    #[test]
    fn writer_refuses_info_that_does_not_balance_before_writing() {
        let info = StatementInfo { closing_minor: 1208, ..info() };
        let mut out = Vec::new();
        let result = write_camt053(&info, ok(entries()), &mut out);
        assert!(matches!(result, Err(StatementError::Invalid(reason)) if reason.contains("closing_minor")));
        assert!(out.is_empty());
    }

    #[test]
    fn writer_refuses_more_entries_than_the_limit_before_writing() {
        let info = StatementInfo { credit_entries: STATEMENT_ENTRIES_MAX, debit_entries: 1, ..info() };
        let mut out = Vec::new();
        let result = write_camt053(&info, ok(entries()), &mut out);
        assert!(matches!(result, Err(StatementError::TooManyEntries(count)) if count == STATEMENT_ENTRIES_MAX + 1));
        assert!(out.is_empty());
    }

    #[test]
    fn writer_refuses_an_entry_outside_the_day() {
        let mut late = entries();
        late[2].time_unix_ms = DAY_START_MS + 24 * HOUR_MS;
        let result = write_camt053(&info(), ok(late), Vec::new());
        assert!(matches!(result, Err(StatementError::Invalid(reason)) if reason.contains("entry 3")));
    }

    #[test]
    fn writer_refuses_entries_out_of_ledger_order() {
        let mut shuffled = entries();
        shuffled.swap(0, 1);
        let result = write_camt053(&info(), ok(shuffled), Vec::new());
        assert!(matches!(result, Err(StatementError::Invalid(reason)) if reason.contains("ledger order")));
    }

    #[test]
    fn entry_iterator_failure_is_reported_with_its_message() {
        let failing = vec![Ok(entries()[0].clone()), Err("store read failed".to_owned())];
        let result = write_camt053(&info(), failing.into_iter(), Vec::new());
        assert!(matches!(result, Err(StatementError::Entries(message)) if message == "store read failed"));
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_entry_that_add_up_to_the_totals() {
        let info = StatementInfo { bank_name: "Bank, \"Shenzhen\"".into(), ..info() };
        let mut out = Vec::new();
        write_csv(&info, ok(entries()), &mut out).expect("the CSV is written");
        let csv = String::from_utf8(out).expect("UTF-8");
        assert!(csv.contains("\n# opening_balance,-5.00\n"));
        assert!(csv.contains("\n# closing_balance,12.07\n"));
        assert!(csv.contains("\n# bank_name,\"Bank, \"\"Shenzhen\"\"\"\n"));
        let mut lines = csv.lines().filter(|line| !line.starts_with('#'));
        assert_eq!(lines.next(), Some(CSV_HEADER));
        let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
        assert_eq!(rows.len(), entries().len());
        let (mut credits_minor, mut debits_minor) = (0, 0);
        for row in &rows {
            assert_eq!(row.len(), CSV_HEADER.split(',').count());
            let amount_minor = parse_amount(row[7], 2).expect("amount");
            match row[6] {
                "credit" => credits_minor += amount_minor,
                "debit" => debits_minor += amount_minor,
                other => panic!("direction {other}"),
            }
        }
        assert_eq!((credits_minor, debits_minor), (info.credits_minor, info.debits_minor));
        assert_eq!(rows[0][3], "2024-04-30T22:00:00.000Z");
        assert_eq!(rows[0][5], "mint");
        assert_eq!(rows[2][11], "shop-1");
        assert_eq!(rows[2][13], "T-2");
    }

    #[test]
    fn csv_quotes_only_fields_that_need_it() {
        assert_eq!(csv_field("shop-1"), "shop-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
    }

    #[test]
    fn date_times_carry_the_day_offset() {
        assert_eq!(local_date_time(0, 0), "1970-01-01T00:00:00.000");
        assert_eq!(local_date_time(MAY_FIRST_UTC_MS + 1, 480), "2024-05-01T08:00:00.001");
        assert_eq!(local_date_time(MAY_FIRST_UTC_MS, -330), "2024-04-30T18:30:00.000");
        assert_eq!(iso_offset(480), "+08:00");
        assert_eq!(iso_offset(-330), "-05:30");
        assert_eq!(iso_offset(0), "+00:00");
    }

    #[test]
    fn dates_are_checked_against_the_calendar() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-05-01"), Some(i128::from(MAY_FIRST_UTC_MS / 86_400_000)));
        assert!(parse_date("2024-02-29").is_some());
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2000-02-29").map(civil_from_days), Some((2000, 2, 29)));
        assert_eq!(parse_date("2024-5-01"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-05-01T00"), None);
    }
}
