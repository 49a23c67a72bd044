"""Statements: checking what ``GetStatement`` sends (PROTOCOL.md §9.4).

A bank's statement of one ledger day comes as ISO 20022 camt.053.001.08
(``BankToCustomerStatementV08``), as a camt.052.001.08 intraday report
(``BankToCustomerAccountReportV08``) or as CSV. :func:`verify_statement`
reads one back and checks that it holds together, with the rules of the
engine's own checker (``check_camt053`` / ``check_camt052`` of
``src/api/statement.rs``) and, for CSV, those of its writer: one statement
of one bank and one day, in the namespace of its format, one currency
throughout, amounts with the currency's exponent, opening and closing
balances, every entry's amount, direction and txid, the entries adding up to
the transaction summary, and opening + credits - debits = closing.

The XML is read with the standard library's expat parser, and a document
with a DOCTYPE is refused before its declarations are read: a statement
declares no entities (no "billion laughs", no external entity).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from xml.parsers import expat

from .amounts import CURRENCY_EXPONENT_MAX, parse_amount
from .errors import AmountError, StatementInvalid
from .follow import Direction

CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
"""The XML namespace of a statement (camt.053.001.08)."""

CAMT052_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"
"""The XML namespace of an intraday report (camt.052.001.08)."""

CSV_HEADER = (
    "booking_date,sequence,height,time_utc,txid,kind,direction,amount,currency,programme,address,"
    "merchant,counterparty,terminal"
)
"""The header line of a CSV statement: its columns, in order."""

STATEMENT_ENTRIES_MAX = 2_000_000
"""The most entries a statement holds (``STATEMENT_ENTRIES_MAX``)."""

XML_DEPTH_MAX = 32
"""Statements nest 13 deep; anything far deeper is not a statement."""

_DAY_MS = 86_400_000
_OFFSET_MINUTES_MAX = 14 * 60
_U64_MAX = 2**64 - 1
# Keys of the CSV's '# key,value' lines, in the order the engine writes them.
_CSV_KEYS = (
    "statement",
    "bank",
    "bank_name",
    "booking_date",
    "day_offset",
    "currency",
    "from_height",
    "until_height",
    "created_utc",
    "opening_balance",
    "closing_balance",
    "credit_entries",
    "credits",
    "debit_entries",
    "debits",
)
_CSV_KINDS = frozenset({"payment", "mint", "redeem", "clawback", "refund", "recovery"})
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_UTC_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z")
_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})")
_DIGITS = re.compile(r"[0-9]+")


class StatementFormat(IntEnum):
    """The formats ``GetStatement`` writes (``settled.v1.StatementFormat``)."""

    CAMT053 = 1
    CSV = 2
    CAMT052 = 3


@dataclass(frozen=True)
class StatementEntry:
    """One entry of a statement: the transaction, the direction for the bank's customer, the amount."""

    txid: bytes
    direction: Direction
    amount_minor: int


@dataclass(frozen=True)
class CheckedStatement:
    """What a statement says, once it holds together.

    Balances are signed minor units (negative: ``DBIT``); counts and sums are
    those of the transaction summary (CSV: of its ``#`` lines), which the
    entries add up to. ``closed`` is True for a closed day's statement
    (``CLBD``), False for an interim one (``ITBD``), and None for CSV, which
    does not say.
    """

    bank_id: str
    date: str
    currency: str
    opening_minor: int
    closing_minor: int
    credit_entries: int
    credits_minor: int
    debit_entries: int
    debits_minor: int
    entries: tuple[StatementEntry, ...]
    closed: bool | None


def statement_format(format: StatementFormat | str) -> StatementFormat:
    """``"camt053"``, ``"camt052"`` or ``"csv"`` (any case) or a :class:`StatementFormat`."""
    if isinstance(format, StatementFormat):
        return format
    try:
        return StatementFormat[format.upper()]
    except KeyError:
        raise ValueError(f"{format!r} is not a statement format (camt053, camt052 or csv)") from None


def verify_statement(document: bytes | str, format: StatementFormat | str, exponent: int) -> CheckedStatement:
    """Reads a statement back and checks that it holds together (PROTOCOL.md §9.4).

    Args:
        document: the statement as ``GetStatement`` sent it (bytes; text is taken as UTF-8).
        format: ``"camt053"``, ``"camt052"`` or ``"csv"`` (or a :class:`StatementFormat`).
        exponent: the currency's exponent (``GetInfo.currency_exponent``): every
            amount has at most that many decimals.

    Returns:
        The bank, date, currency, balances, counts, sums and entries it holds.

    Raises:
        StatementInvalid: naming the first thing that does not hold.
    """
    kind = statement_format(format)
    data = document.encode() if isinstance(document, str) else bytes(document)
    if not isinstance(exponent, int) or not 0 <= exponent <= CURRENCY_EXPONENT_MAX:
        raise StatementInvalid(f"currency exponent {exponent} is above {CURRENCY_EXPONENT_MAX}")
    if kind is StatementFormat.CSV:
        return _check_csv(data, exponent)
    return _check_camt(_CAMT053 if kind is StatementFormat.CAMT053 else _CAMT052, data, exponent)


def fitted_id(identifier: str, maximum: int) -> str:
    """``identifier`` where it has at most ``maximum`` characters; a longer one becomes
    its first ``maximum - 9`` characters, ``~`` and the first 8 hex digits of its SHA-256."""
    if len(identifier) <= maximum:
        return identifier
    digest = hashlib.sha256(identifier.encode()).hexdigest()
    return f"{identifier[: max(maximum - 9, 0)]}~{digest[:8]}"


def statement_id(bank_id: str, date: str) -> str:
    """``Stmt/Id`` (and the CSV's ``statement``): ``STLD-``, the date as YYYYMMDD, ``-``,
    the first 20 hex digits of SHA-256 of the bank id."""
    return f"STLD-{date.replace('-', '')}-{hashlib.sha256(bank_id.encode()).hexdigest()[:20]}"


# -- dates -------------------------------------------------------------------


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year = year - 1 if month <= 2 else year
    era = year // 400
    year_of_era = year % 400
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def parse_date(text: str) -> int | None:
    """Days since 1970-01-01 of a ``YYYY-MM-DD`` calendar date; None when it is not one."""
    found = _DATE.fullmatch(text)
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month in (1, 3, 5, 7, 8, 10, 12):
        month_days = 31
    elif month in (4, 6, 9, 11):
        month_days = 30
    elif month == 2:
        month_days = 29 if leap else 28
    else:
        return None
    return _days_from_civil(year, month, day) if 1 <= day <= month_days else None


def _date_of_date_time(text: str, what: str) -> str:
    """The calendar date an ISO date-time starts with."""
    if parse_date(text[:10]) is None or not text[10:].startswith("T"):
        raise StatementInvalid(f"{what} '{text}' is not an ISO date-time")
    return text[:10]


# -- camt.053 / camt.052 -----------------------------------------------------


@dataclass(frozen=True)
class _Camt:
    """One of the two ISO 20022 documents: its namespace and element names."""

    name: str
    namespace: str
    root: str
    record: str
    additional: str


_CAMT053 = _Camt("camt.053", CAMT053_NAMESPACE, "BkToCstmrStmt", "Stmt", "AddtlStmtInf")
_CAMT052 = _Camt("camt.052", CAMT052_NAMESPACE, "BkToCstmrAcctRpt", "Rpt", "AddtlRptInf")


def _direction(text: str) -> Direction:
    if text == "CRDT":
        return Direction.CREDIT
    if text == "DBIT":
        return Direction.DEBIT
    raise StatementInvalid(f"CdtDbtInd '{text}' is neither CRDT nor DBIT")


def _count(text: str) -> int:
    if _DIGITS.fullmatch(text) is None or int(text) > _U64_MAX:
        raise StatementInvalid(f"NbOfNtries '{text}' is not a count")
    return int(text)


def _signed(amount_minor: int, direction: Direction) -> int:
    return amount_minor if direction is Direction.CREDIT else -amount_minor


def _is_currency_code(text: str) -> bool:
    return len(text) == 3 and all("A" <= character <= "Z" for character in text)


def _txid(text: str) -> bytes | None:
    """The txid of 64 hex digits (either case, surrounding white space ignored), or None."""
    stripped = text.strip()
    return bytes.fromhex(stripped) if _HEX64.fullmatch(stripped) else None


@dataclass
class _Balance:
    code: str | None = None
    amount_minor: int | None = None
    direction: Direction | None = None
    date: str | None = None


@dataclass
class _EntryDraft:
    amount_minor: int | None = None
    direction: Direction | None = None
    booking_date: str | None = None
    end_to_end_id: str | None = None
    additional: str | None = None
    transactions: int = 0
    detail_amount_minor: int | None = None
    detail_direction: Direction | None = None


@dataclass
class _Summary:
    entries: int | None = None
    turnover_minor: int | None = None
    net_minor: int | None = None
    net_direction: Direction | None = None
    credit_entries: int | None = None
    credits_minor: int | None = None
    debit_entries: int | None = None
    debits_minor: int | None = None


@dataclass
class _Checker:
    """What has been read so far of the one statement (or report) in a document."""

    camt: _Camt
    exponent: int
    statements: int = 0
    bank_id: str | None = None
    account_id: str | None = None
    currency: str | None = None
    date: str | None = None
    to_date: str | None = None
    opening_minor: int | None = None
    closing_minor: int | None = None
    closed: bool | None = None
    balance: _Balance = field(default_factory=_Balance)
    summary: _Summary = field(default_factory=_Summary)
    entry: _EntryDraft = field(default_factory=_EntryDraft)
    entries: list[StatementEntry] = field(default_factory=list)
    credit_entries: int = 0
    credits_minor: int = 0
    debit_entries: int = 0
    debits_minor: int = 0

    def statement_path(self, path: list[str]) -> list[str] | None:
        """The elements below ``Document/<root>/<record>``, or None outside a statement."""
        if len(path) >= 3 and path[0] == "Document" and path[1] == self.camt.root and path[2] == self.camt.record:
            return path[3:]
        return None

    def entry_number(self) -> int:
        return len(self.entries) + 1

    def in_entry(self, inner: list[str]) -> str:
        return f" (entry {self.entry_number()})" if inner[:1] == ["Ntry"] else ""

    def start(self, path: list[str], currency: str | None) -> None:
        """An element opens; ``currency`` is its ``Ccy`` attribute, if any."""
        root, record = self.camt.root, self.camt.record
        inner = self.statement_path(path)
        if inner is None:
            if len(path) == 3 and path[2] == record:
                raise StatementInvalid(f"<{record}> outside Document/{root}")
            return
        if inner == []:
            self.statements += 1
            if self.statements > 1:
                raise StatementInvalid(f"more than one <{record}> in the document")
        elif inner == ["Bal"]:
            self.balance = _Balance()
        elif inner == ["Ntry"]:
            self.entry = _EntryDraft()
        elif inner == ["Ntry", "NtryDtls", "TxDtls"]:
            self.entry.transactions += 1
            if self.entry.transactions > 1:
                raise StatementInvalid(f"entry {self.entry_number()} holds more than one transaction")
        currency_required = inner in (["Bal", "Amt"], ["Ntry", "Amt"], ["Ntry", "NtryDtls", "TxDtls", "Amt"])
        where = "/".join(inner)
        if currency is not None:
            if self.currency is None:
                raise StatementInvalid(f"<{where}> comes before the account's currency")
            if currency != self.currency:
                raise StatementInvalid(
                    f"<{where}> is in {currency}, the account in {self.currency}{self.in_entry(inner)}"
                )
        elif currency_required:
            raise StatementInvalid(f"<{where}> has no Ccy{self.in_entry(inner)}")

    def amount(self, text: str, what: str) -> int:
        try:
            return parse_amount(text, self.exponent)
        except AmountError as error:
            raise StatementInvalid(f"{what}: {error}") from None

    def end(self, path: list[str], text: str) -> None:
        """An element closes; ``text`` is its text, trimmed."""
        inner = self.statement_path(path)
        if inner is None:
            return
        key = tuple(inner)
        if key == ("Acct", "Id", "Othr", "Id"):
            self.account_id = text
        elif key == (self.camt.additional,):
            # 'bank <id>; ...': the whole bank id, which the account's
            # identification may carry only fitted.
            self.bank_id = text[len("bank ") :].split(";")[0] if text.startswith("bank ") else None
        elif key == ("Ntry", "NtryDtls", "TxDtls", "AddtlTxInf"):
            self.entry.additional = text
        elif key == ("Acct", "Ccy"):
            if not _is_currency_code(text):
                raise StatementInvalid(f"account currency '{text}' is not three capital letters")
            self.currency = text
        elif key == ("FrToDt", "FrDtTm"):
            self.date = _date_of_date_time(text, "FrToDt/FrDtTm")
        elif key == ("FrToDt", "ToDtTm"):
            self.to_date = _date_of_date_time(text, "FrToDt/ToDtTm")
        elif key == ("Bal", "Tp", "CdOrPrtry", "Cd"):
            self.balance.code = text
        elif key == ("Bal", "Amt"):
            self.balance.amount_minor = self.amount(text, "balance amount")
        elif key == ("Bal", "CdtDbtInd"):
            self.balance.direction = _direction(text)
        elif key == ("Bal", "Dt", "Dt"):
            self.balance.date = text
        elif key == ("Bal",):
            self.finish_balance()
        elif key == ("TxsSummry", "TtlNtries", "NbOfNtries"):
            self.summary.entries = _count(text)
        elif key == ("TxsSummry", "TtlNtries", "Sum"):
            self.summary.turnover_minor = self.amount(text, "TtlNtries/Sum")
        elif key == ("TxsSummry", "TtlNtries", "TtlNetNtry", "Amt"):
            self.summary.net_minor = self.amount(text, "TtlNetNtry")
        elif key == ("TxsSummry", "TtlNtries", "TtlNetNtry", "CdtDbtInd"):
            self.summary.net_direction = _direction(text)
        elif key == ("TxsSummry", "TtlCdtNtries", "NbOfNtries"):
            self.summary.credit_entries = _count(text)
        elif key == ("TxsSummry", "TtlCdtNtries", "Sum"):
            self.summary.credits_minor = self.amount(text, "TtlCdtNtries/Sum")
        elif key == ("TxsSummry", "TtlDbtNtries", "NbOfNtries"):
            self.summary.debit_entries = _count(text)
        elif key == ("TxsSummry", "TtlDbtNtries", "Sum"):
            self.summary.debits_minor = self.amount(text, "TtlDbtNtries/Sum")
        elif key == ("Ntry", "Amt"):
            self.entry.amount_minor = self.amount(text, f"entry {self.entry_number()} amount")
        elif key == ("Ntry", "CdtDbtInd"):
            self.entry.direction = _direction(text)
        elif key == ("Ntry", "BookgDt", "Dt"):
            self.entry.booking_date = text
        elif key == ("Ntry", "NtryDtls", "TxDtls", "Refs", "EndToEndId"):
            self.entry.end_to_end_id = text
        elif key == ("Ntry", "NtryDtls", "TxDtls", "Amt"):
            self.entry.detail_amount_minor = self.amount(text, f"entry {self.entry_number()} transaction amount")
        elif key == ("Ntry", "NtryDtls", "TxDtls", "CdtDbtInd"):
            self.entry.detail_direction = _direction(text)
        elif key == ("Ntry",):
            self.finish_entry()

    def finish_balance(self) -> None:
        balance, self.balance = self.balance, _Balance()
        code = balance.code
        if code is None:
            raise StatementInvalid("a <Bal> without Tp/CdOrPrtry/Cd")
        if code not in ("OPBD", "CLBD", "ITBD"):
            return
        if code != "OPBD":
            if self.closed is not None:
                raise StatementInvalid("more than one closing (CLBD or ITBD) balance")
            self.closed = code == "CLBD"
        if balance.amount_minor is None:
            raise StatementInvalid(f"the {code} balance has no Amt")
        if balance.direction is None:
            raise StatementInvalid(f"the {code} balance has no CdtDbtInd")
        if balance.date is None:
            raise StatementInvalid(f"the {code} balance has no Dt/Dt")
        if self.date is None:
            self.date = balance.date
        if balance.date != self.date:
            raise StatementInvalid(f"the {code} balance is dated {balance.date}, the statement {self.date}")
        signed_minor = _signed(balance.amount_minor, balance.direction)
        if code == "OPBD":
            if self.opening_minor is not None:
                raise StatementInvalid(f"more than one {code} balance")
            self.opening_minor = signed_minor
        else:
            if self.closing_minor is not None:
                raise StatementInvalid(f"more than one {code} balance")
            self.closing_minor = signed_minor

    def finish_entry(self) -> None:
        number = self.entry_number()
        entry, self.entry = self.entry, _EntryDraft()
        if len(self.entries) >= STATEMENT_ENTRIES_MAX:
            raise StatementInvalid(f"a statement holds at most {STATEMENT_ENTRIES_MAX} entries, this one {number}")
        if self.date is None:
            raise StatementInvalid(f"entry {number} comes before any date")
        if entry.booking_date is None:
            raise StatementInvalid(f"entry {number} has no BookgDt/Dt")
        if entry.booking_date != self.date:
            raise StatementInvalid(f"entry {number} is booked on {entry.booking_date}, the statement is of {self.date}")
        if entry.amount_minor is None:
            raise StatementInvalid(f"entry {number} has no Amt")
        if entry.direction is None:
            raise StatementInvalid(f"entry {number} has no CdtDbtInd")
        if (entry.detail_amount_minor is not None and entry.detail_amount_minor != entry.amount_minor) or (
            entry.detail_direction is not None and entry.detail_direction != entry.direction
        ):
            raise StatementInvalid(f"entry {number}'s transaction details differ from its amount")
        # 'txid <hex>; ...' opens the transaction's additional information;
        # the end-to-end id is the txid's first digits.
        additional = entry.additional
        if additional is None or not additional.startswith("txid "):
            raise StatementInvalid(f"entry {number} has no AddtlTxInf opening with its txid")
        reference = additional[len("txid ") :].split(";")[0]
        txid = _txid(reference)
        if txid is None:
            raise StatementInvalid(f"entry {number}'s reference {reference} is not a txid")
        if entry.end_to_end_id is not None and not reference.startswith(entry.end_to_end_id):
            raise StatementInvalid(f"entry {number}'s EndToEndId {entry.end_to_end_id} is not its txid {reference}'s")
        if entry.direction is Direction.CREDIT:
            self.credit_entries += 1
            self.credits_minor += entry.amount_minor
        else:
            self.debit_entries += 1
            self.debits_minor += entry.amount_minor
        self.entries.append(StatementEntry(txid, entry.direction, entry.amount_minor))

    def finish(self) -> CheckedStatement:
        camt = self.camt
        if self.statements == 0:
            raise StatementInvalid(f"no Document/{camt.root}/{camt.record}")
        if self.account_id is None:
            raise StatementInvalid("no Acct/Id/Othr/Id")
        if self.bank_id is None:
            raise StatementInvalid(f"no {camt.additional} naming the bank")
        if fitted_id(self.bank_id, 34) != self.account_id:
            raise StatementInvalid(f"the account {self.account_id} is not bank {self.bank_id}'s")
        if self.currency is None:
            raise StatementInvalid("no Acct/Ccy")
        if self.date is None:
            raise StatementInvalid("no FrToDt and no dated balance")
        if self.to_date is not None and self.to_date != self.date:
            raise StatementInvalid(f"the statement runs from {self.date} to {self.to_date}, not one day")
        if self.opening_minor is None:
            raise StatementInvalid("no OPBD balance")
        if self.closing_minor is None:
            raise StatementInvalid("no CLBD (or ITBD) balance")
        summary = self.summary
        if summary.credit_entries is None:
            raise StatementInvalid("no TtlCdtNtries/NbOfNtries")
        if summary.credits_minor is None:
            raise StatementInvalid("no TtlCdtNtries/Sum")
        if summary.debit_entries is None:
            raise StatementInvalid("no TtlDbtNtries/NbOfNtries")
        if summary.debits_minor is None:
            raise StatementInvalid("no TtlDbtNtries/Sum")
        if self.credit_entries != summary.credit_entries or self.credits_minor != summary.credits_minor:
            raise StatementInvalid(
                f"the entries hold {self.credit_entries} credits of {self.credits_minor} minor units, "
                f"TtlCdtNtries says {summary.credit_entries} of {summary.credits_minor}"
            )
        if self.debit_entries != summary.debit_entries or self.debits_minor != summary.debits_minor:
            raise StatementInvalid(
                f"the entries hold {self.debit_entries} debits of {self.debits_minor} minor units, "
                f"TtlDbtNtries says {summary.debit_entries} of {summary.debits_minor}"
            )
        if summary.entries is not None and summary.entries != summary.credit_entries + summary.debit_entries:
            raise StatementInvalid("TtlNtries/NbOfNtries is not credits plus debits")
        if (
            summary.turnover_minor is not None
            and summary.turnover_minor != summary.credits_minor + summary.debits_minor
        ):
            raise StatementInvalid("TtlNtries/Sum is not credits plus debits")
        net_minor = summary.credits_minor - summary.debits_minor
        if (summary.net_minor is None) != (summary.net_direction is None):
            raise StatementInvalid("TtlNetNtry needs both Amt and CdtDbtInd")
        if (
            summary.net_minor is not None
            and summary.net_direction is not None
            and _signed(summary.net_minor, summary.net_direction) != net_minor
        ):
            raise StatementInvalid("TtlNetNtry is not credits minus debits")
        if self.opening_minor + net_minor != self.closing_minor:
            raise StatementInvalid(
                f"opening {self.opening_minor} + credits {summary.credits_minor} - debits {summary.debits_minor} "
                f"(minor units) is not the closing balance {self.closing_minor}"
            )
        return CheckedStatement(
            bank_id=self.bank_id,
            date=self.date,
            currency=self.currency,
            opening_minor=self.opening_minor,
            closing_minor=self.closing_minor,
            credit_entries=summary.credit_entries,
            credits_minor=summary.credits_minor,
            debit_entries=summary.debit_entries,
            debits_minor=summary.debits_minor,
            entries=tuple(self.entries),
            closed=True if self.closed is None else self.closed,
        )


def _refuse(what: str) -> Callable[..., Any]:
    def handler(*_: object) -> None:
        raise StatementInvalid(what)

    return handler


def _check_camt(camt: _Camt, data: bytes, exponent: int) -> CheckedStatement:
    checker = _Checker(camt, exponent)
    # Local names from the root down; text gathered since the last start tag.
    path: list[str] = []
    text: list[str] = []
    # Names come as 'namespace local' (no namespace: 'local').
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    # No DTD: refused where it starts, before any declaration in it is read.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse("a statement has no DOCTYPE")
    parser.EntityDeclHandler = _refuse("a statement declares no entities")
    parser.ExternalEntityRefHandler = _refuse("a statement refers to no external entity")

    def start(name: str, attributes: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(" ")
        if namespace != camt.namespace:
            where = f"the namespace {namespace}" if namespace else "no namespace"
            raise StatementInvalid(f"<{local}> is not in the namespace {camt.namespace} but in {where}")
        if not path and local != "Document":
            raise StatementInvalid(f"the root element is <{local}>, not <Document>")
        if len(path) >= XML_DEPTH_MAX:
            raise StatementInvalid(f"elements nest deeper than {XML_DEPTH_MAX}")
        path.append(local)
        text.clear()
        checker.start(path, attributes.get("Ccy"))

    def end(_name: str) -> None:
        checker.end(path, "".join(text).strip())
        text.clear()
        path.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise StatementInvalid(
            f"not well-formed XML at byte {parser.ErrorByteIndex}: {expat.ErrorString(error.code)}"
        ) from None
    if path:
        raise StatementInvalid(f"the document ends inside <{'/'.join(path)}>")
    return checker.finish()


# -- CSV ---------------------------------------------------------------------


def _csv_records(text: str) -> list[list[str]]:
    """The records of RFC 4180 text whose every record ends with a line break (LF or CRLF)."""
    records: list[list[str]] = []
    record: list[str] = []
    at, length = 0, len(text)
    while at < length:
        if text[at] == '"':
            # A quoted field: '""' is a quote; it ends at a lone quote.
            value: list[str] = []
            at += 1
            while True:
                close = text.find('"', at)
                if close < 0:
                    raise StatementInvalid(f"record {len(records) + 1} of the CSV: a quoted field is not closed")
                value.append(text[at:close])
                if text.startswith('"', close + 1):
                    value.append('"')
                    at = close + 2
                    continue
                at = close + 1
                break
            field_text = "".join(value)
        else:
            stop = at
            while stop < length and text[stop] not in ',\n"':
                stop += 1
            if stop < length and text[stop] == '"':
                raise StatementInvalid(f"record {len(records) + 1} of the CSV: a quote inside an unquoted field")
            field_text = text[at:stop]
            at = stop
            if field_text.endswith("\r") and text.startswith("\n", at):
                field_text = field_text[:-1]
        record.append(field_text)
        if text.startswith(",", at):
            at += 1
            if at == length:
                raise StatementInvalid("the CSV does not end with a line break: it was cut")
        elif text.startswith("\r\n", at) or text.startswith("\n", at):
            at += 2 if text[at] == "\r" else 1
            records.append(record)
            record = []
        elif at == length:
            raise StatementInvalid("the CSV does not end with a line break: it was cut")
        else:
            raise StatementInvalid(f"record {len(records) + 1} of the CSV: text after a quoted field")
    return records


def _csv_count(text: str, what: str, maximum: int = _U64_MAX) -> int:
    if _DIGITS.fullmatch(text) is None or int(text) > maximum:
        raise StatementInvalid(f"{what} '{text}' is not a count")
    return int(text)


def _csv_signed_amount(text: str, what: str, exponent: int) -> int:
    negative = text.startswith("-")
    try:
        magnitude = parse_amount(text[1:] if negative else text, exponent)
    except AmountError as error:
        raise StatementInvalid(f"{what}: {error}") from None
    return -magnitude if negative else magnitude


def _csv_amount(text: str, what: str, exponent: int) -> int:
    try:
        return parse_amount(text, exponent)
    except AmountError as error:
        raise StatementInvalid(f"{what}: {error}") from None


def _offset_minutes(text: str) -> int:
    """Minutes of a UTC offset written ``+08:00`` / ``-05:30``, at most 14 hours."""
    found = _OFFSET.fullmatch(text)
    if found is None or int(found[3]) >= 60:
        raise StatementInvalid(f"day_offset '{text}' is not a UTC offset")
    minutes = int(found[2]) * 60 + int(found[3])
    if minutes > _OFFSET_MINUTES_MAX:
        raise StatementInvalid(f"day_offset '{text}' is beyond {_OFFSET_MINUTES_MAX // 60} hours")
    return -minutes if found[1] == "-" else minutes


def _check_csv(data: bytes, exponent: int) -> CheckedStatement:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StatementInvalid(f"the CSV is not UTF-8 at byte {error.start}") from None
    records = _csv_records(text)
    head: dict[str, str] = {}
    for number, key in enumerate(_CSV_KEYS):
        record = records[number] if number < len(records) else None
        if record is None or len(record) != 2 or record[0] != f"# {key}":
            found = ",".join(record) if record is not None else "nothing"
            raise StatementInvalid(f"line {number + 1} of the CSV is not '# {key},<value>' but {found!r}")
        head[key] = record[1]
    if len(records) <= len(_CSV_KEYS) or ",".join(records[len(_CSV_KEYS)]) != CSV_HEADER:
        raise StatementInvalid(f"the CSV's header is not {CSV_HEADER}")
    rows = records[len(_CSV_KEYS) + 1 :]

    bank_id, date, currency = head["bank"], head["booking_date"], head["currency"]
    if not bank_id:
        raise StatementInvalid("the bank id is empty")
    day = parse_date(date)
    if day is None:
        raise StatementInvalid(f"booking_date '{date}' is not YYYY-MM-DD")
    if head["statement"] != statement_id(bank_id, date):
        raise StatementInvalid(
            f"statement {head['statement']} is not the id of bank {bank_id}'s statement of {date}, "
            f"{statement_id(bank_id, date)}"
        )
    offset_minutes = _offset_minutes(head["day_offset"])
    if not _is_currency_code(currency):
        raise StatementInvalid(f"currency '{currency}' is not three capital letters")
    from_height = _csv_count(head["from_height"], "from_height")
    until_height = _csv_count(head["until_height"], "until_height")
    # A day without blocks runs from the block after the last one before it to that block.
    if from_height > until_height + 1:
        raise StatementInvalid(f"blocks {from_height}..={until_height} are reversed")
    if _UTC_TIME.fullmatch(head["created_utc"]) is None:
        raise StatementInvalid(f"created_utc '{head['created_utc']}' is not a UTC date-time")
    opening_minor = _csv_signed_amount(head["opening_balance"], "opening_balance", exponent)
    closing_minor = _csv_signed_amount(head["closing_balance"], "closing_balance", exponent)
    credit_entries = _csv_count(head["credit_entries"], "credit_entries")
    credits_minor = _csv_amount(head["credits"], "credits", exponent)
    debit_entries = _csv_count(head["debit_entries"], "debit_entries")
    debits_minor = _csv_amount(head["debits"], "debits", exponent)

    entries: list[StatementEntry] = []
    tally = {Direction.CREDIT: [0, 0], Direction.DEBIT: [0, 0]}
    last: tuple[int, int, bytes] | None = None
    columns = len(CSV_HEADER.split(","))
    for number, row in enumerate(rows, start=1):
        if number > STATEMENT_ENTRIES_MAX:
            raise StatementInvalid(f"a statement holds at most {STATEMENT_ENTRIES_MAX} entries, this one {number}")
        if len(row) != columns:
            raise StatementInvalid(f"entry {number} has {len(row)} fields, not {columns}")
        (row_date, sequence_text, height_text, time_text, txid_text, kind, direction_text, amount_text) = row[:8]
        (row_currency, programme, address, _merchant, counterparty, _terminal) = row[8:]
        if row_date != date:
            raise StatementInvalid(f"entry {number} is booked on {row_date}, the statement is of {date}")
        if _HEX64.fullmatch(txid_text) is None:
            raise StatementInvalid(f"entry {number}'s txid {txid_text} is not a txid")
        txid = bytes.fromhex(txid_text)
        sequence = _csv_count(sequence_text, f"entry {number}'s sequence")
        height = _csv_count(height_text, f"entry {number}'s height")
        if not from_height <= height <= until_height:
            raise StatementInvalid(
                f"entry {number} (txid {txid_text}) is in block {height}, "
                f"outside the day's blocks {from_height}..={until_height}"
            )
        booked = _UTC_TIME.fullmatch(time_text)
        booked_day = parse_date(booked[1]) if booked else None
        if booked is None or booked_day is None or int(booked[2]) > 23 or int(booked[3]) > 59 or int(booked[4]) > 59:
            raise StatementInvalid(f"entry {number}'s time_utc '{time_text}' is not a UTC date-time")
        time_ms = booked_day * _DAY_MS + ((int(booked[2]) * 60 + int(booked[3])) * 60 + int(booked[4])) * 1000
        time_ms += int(booked[5])
        if (time_ms + offset_minutes * 60_000) // _DAY_MS != day:
            raise StatementInvalid(
                f"entry {number} (txid {txid_text}) was booked at {time_text}, outside the statement's day"
            )
        if last is not None and (sequence < last[0] or height < last[1] or (sequence == last[0] and txid != last[2])):
            raise StatementInvalid(
                f"entry {number} (sequence {sequence}, txid {txid_text}) is out of ledger order "
                f"after sequence {last[0]}"
            )
        last = (sequence, height, txid)
        if kind not in _CSV_KINDS:
            raise StatementInvalid(f"entry {number}'s kind '{kind}' is not one of {', '.join(sorted(_CSV_KINDS))}")
        if direction_text not in ("credit", "debit"):
            raise StatementInvalid(f"entry {number}'s direction '{direction_text}' is neither credit nor debit")
        direction = Direction.CREDIT if direction_text == "credit" else Direction.DEBIT
        amount_minor = _csv_amount(amount_text, f"entry {number} amount", exponent)
        if row_currency != currency:
            raise StatementInvalid(f"entry {number} is in {row_currency}, the statement in {currency}")
        _csv_count(programme, f"entry {number}'s programme", 2**32 - 1)
        if _HEX64.fullmatch(address) is None:
            raise StatementInvalid(f"entry {number}'s address '{address}' is not an address")
        if counterparty and _HEX64.fullmatch(counterparty) is None:
            raise StatementInvalid(f"entry {number}'s counterparty '{counterparty}' is not an address")
        tally[direction][0] += 1
        tally[direction][1] += amount_minor
        entries.append(StatementEntry(txid, direction, amount_minor))
    for direction, (count, sum_minor), (stated_count, stated_minor) in (
        (Direction.CREDIT, tally[Direction.CREDIT], (credit_entries, credits_minor)),
        (Direction.DEBIT, tally[Direction.DEBIT], (debit_entries, debits_minor)),
    ):
        if (count, sum_minor) != (stated_count, stated_minor):
            word = "credits" if direction is Direction.CREDIT else "debits"
            raise StatementInvalid(
                f"the entries hold {count} {word} of {sum_minor} minor units, "
                f"the statement says {stated_count} of {stated_minor}"
            )
    if opening_minor + credits_minor - debits_minor != closing_minor:
        raise StatementInvalid(
            f"opening {opening_minor} + credits {credits_minor} - debits {debits_minor} (minor units) "
            f"is not the closing balance {closing_minor}"
        )
    return CheckedStatement(
        bank_id=bank_id,
        date=date,
        currency=currency,
        opening_minor=opening_minor,
        closing_minor=closing_minor,
        credit_entries=credit_entries,
        credits_minor=credits_minor,
        debit_entries=debit_entries,
        debits_minor=debits_minor,
        entries=tuple(entries),
        closed=None,
    )
