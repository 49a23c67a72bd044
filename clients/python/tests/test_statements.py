"""Statements: verified as the engine's checker verifies them, and tampered copies refused.

Offline, on statements saved from a run of ``settled serve --dev``
(``tests/statements/``): a bank ``bank.with-a:long_id-x...`` (longer than
the account id's 34 characters, so fitted) named ``Bank & Co <"Tests">, Ltd``
with two wallets; 100.00 and 5.00 minted to the first, which paid 12.34 to
the second and 0.05 to a stranger, and received 7.77 from one. Then end to
end: the same kind of day against the shared development server, downloaded
with ``SettledClient.statement`` in the three formats, and tampered on the
way.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DevServer, fund

from settled_client import (
    CAMT052_NAMESPACE,
    CAMT053_NAMESPACE,
    CSV_HEADER,
    CheckedStatement,
    Confirmation,
    Direction,
    SecretKey,
    SettledClient,
    StatementEntry,
    StatementFormat,
    StatementInvalid,
    VerificationError,
    verify_statement,
)
from settled_client._proto.settled.v1 import reconciliation_pb2
from settled_client.statements import fitted_id, parse_date, statement_id

SAVED = Path(__file__).resolve().parent / "statements"
SAVED_BANK = "bank.with-a:long_id-" + "x" * 30
SAVED_DATE = "2026-12-07"
CREDIT, DEBIT = Direction.CREDIT, Direction.DEBIT


def saved(name: str) -> str:
    return (SAVED / name).read_text()


def reason(document: str | bytes, fmt: str = "camt053", exponent: int = 2) -> str:
    """The message of the StatementInvalid that verifying ``document`` raises."""
    with pytest.raises(StatementInvalid) as refused:
        verify_statement(document, fmt, exponent)
    return str(refused.value)


def tampered(document: str, after: str, old: str, new: str, count: int = 1) -> str:
    """``document`` with the first ``count`` ``old`` after the first ``after`` replaced by ``new``."""
    start = document.index(after)
    assert old in document[start:], f"{old!r} after {after!r}"
    return document[:start] + document[start:].replace(old, new, count)


def entry_block(document: str, number: int) -> str:
    """The ``number``-th ``<Ntry>`` element of a camt document, from 1."""
    blocks = re.findall(r"\s*<Ntry>.*?</Ntry>", document, flags=re.DOTALL)
    return str(blocks[number - 1])


def closing_code(document: str) -> str:
    return "<Cd>CLBD</Cd>" if "<Cd>CLBD</Cd>" in document else "<Cd>ITBD</Cd>"


# -- offline, on saved statements -------------------------------------------


SAVED_ENTRIES = [(CREDIT, 10500), (CREDIT, 1234), (DEBIT, 1234), (DEBIT, 5), (CREDIT, 777)]


@pytest.mark.parametrize("fmt", ["camt053", "camt052", "csv"])
def test_a_saved_statement_verifies(fmt: str) -> None:
    name = {"camt053": "day.camt053.xml", "camt052": "day.camt052.xml", "csv": "day.csv"}[fmt]
    checked = verify_statement((SAVED / name).read_bytes(), fmt, 2)
    assert (checked.bank_id, checked.date, checked.currency) == (SAVED_BANK, SAVED_DATE, "CNY")
    assert (checked.opening_minor, checked.closing_minor) == (0, 11272)
    assert (checked.credit_entries, checked.credits_minor) == (3, 10500 + 1234 + 777)
    assert (checked.debit_entries, checked.debits_minor) == (2, 1234 + 5)
    assert [(e.direction, e.amount_minor) for e in checked.entries] == SAVED_ENTRIES
    assert checked.closed is (None if fmt == "csv" else False), "today's statement is interim (ITBD)"
    # The one payment within the bank gives a credit and a debit of one transaction.
    assert checked.entries[1].txid == checked.entries[2].txid
    assert len({e.txid for e in checked.entries}) == 4


def test_the_three_formats_say_the_same() -> None:
    camt053 = verify_statement(saved("day.camt053.xml"), StatementFormat.CAMT053, 2)
    camt052 = verify_statement(saved("day.camt052.xml"), "CAMT052", 2)
    csv = verify_statement(saved("day.csv"), StatementFormat.CSV, 2)
    assert camt053 == camt052
    assert csv == CheckedStatement(**{**camt053.__dict__, "closed": None})
    assert camt053.entries[0] == StatementEntry(
        bytes.fromhex("05b1a33659d8dba7dd4703e844c31597531b988683aa3565cd61f0a0ee3391ff"), CREDIT, 10500
    )


def test_a_closed_day_reads_as_closed() -> None:
    checked = verify_statement(saved("closed-day.camt053.xml"), "camt053", 2)
    assert checked.closed is True and checked.entries == ()
    assert (checked.date, checked.opening_minor, checked.closing_minor) == ("2026-12-06", 0, 0)


def test_ids_are_fitted_as_the_engine_fits_them() -> None:
    assert fitted_id(SAVED_BANK, 34) == "bank.with-a:long_id-xxxxx~d63c7498"
    assert fitted_id(SAVED_BANK, 35) == "bank.with-a:long_id-xxxxxx~d63c7498"
    assert fitted_id("bank-a", 34) == "bank-a"
    assert statement_id(SAVED_BANK, SAVED_DATE) == "STLD-20261207-d63c7498bb62957f97fe"
    assert parse_date("2024-02-29") == 19782 and parse_date("2023-02-29") is None
    assert parse_date("1970-01-01") == 0 and parse_date("2024-5-01") is None


def _flip_first_entry_to_debit(document: str) -> str:
    entry = entry_block(document, 1)
    return document.replace(entry, entry.replace("<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd>"), 1)


def _drop_first_entry(document: str) -> str:
    return document.replace(entry_block(document, 1), "", 1)


def _bomb(document: str) -> str:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">' for n in range(1, 10)
    )
    declared = document.replace("?>\n", f"?>\n<!DOCTYPE Document [{entities}]>\n", 1)
    return declared.replace("<Nm>Bank &amp; Co", "<Nm>&lol9; Bank &amp; Co", 1)


# (tampering, what the error must say): each a way a statement may be forged.
CAMT_TAMPERINGS: list[tuple[str, Callable[[str], str], str]] = [
    (
        "entry-amount",
        lambda d: tampered(d, "<Ntry>", ">105.00<", ">106.00<", count=2),
        "the entries hold 3 credits of 12611 minor units, TtlCdtNtries says 3 of 12511",
    ),
    (
        "entry-amount-alone",
        lambda d: tampered(d, "<Ntry>", ">105.00<", ">106.00<"),
        "entry 1's transaction details differ from its amount",
    ),
    (
        "entry-removed",
        _drop_first_entry,
        "the entries hold 2 credits of 2011 minor units, TtlCdtNtries says 3 of 12511",
    ),
    (
        "closing-balance",
        lambda d: tampered(d, closing_code(d), ">112.72<", ">112.73<"),
        "opening 0 + credits 12511 - debits 1239 (minor units) is not the closing balance 11273",
    ),
    ("credit-to-debit", _flip_first_entry_to_debit, "the entries hold 2 credits of 2011 minor units"),
    (
        "txid-not-hex",
        lambda d: tampered(d, "<AddtlTxInf>", "txid 05b1a336", "txid g5b1a336"),
        "entry 1's reference g5b1a33659d8dba7dd4703e844c31597531b988683aa3565cd61f0a0ee3391ff is not a txid",
    ),
    (
        "txid-other-than-end-to-end-id",
        lambda d: tampered(d, "<AddtlTxInf>", "txid 05b1a336", "txid 15b1a336"),
        "entry 1's EndToEndId 05b1a33659d8dba7dd4703e844c31597 is not its txid",
    ),
    (
        "another-bank",
        lambda d: re.sub(r"<(AddtlStmtInf|AddtlRptInf)>bank [^;]*;", r"<\1>bank another-bank;", d),
        "the account bank.with-a:long_id-xxxxx~d63c7498 is not bank another-bank's",
    ),
    (
        "another-namespace",
        lambda d: d.replace(".001.08", ".001.02"),
        "<Document> is not in the namespace urn:iso:std:iso:20022:tech:xsd:camt.05",
    ),
    ("dtd-entity-bomb", _bomb, "a statement has no DOCTYPE"),
    (
        "summary-count",
        lambda d: tampered(d, "<TtlDbtNtries>", "<NbOfNtries>2<", "<NbOfNtries>3<"),
        "the entries hold 2 debits of 1239 minor units, TtlDbtNtries says 3 of 1239",
    ),
    (
        "net-entry",
        lambda d: tampered(d, "<TtlNetNtry>", ">112.72<", ">112.71<"),
        "TtlNetNtry is not credits minus debits",
    ),
    (
        "opening-balance",
        lambda d: tampered(d, "<Cd>OPBD</Cd>", ">0.00<", ">1.00<"),
        "opening 100 + credits 12511 - debits 1239 (minor units) is not the closing balance 11272",
    ),
    (
        "more-decimals",
        lambda d: d.replace(">7.77<", ">7.770<"),
        "entry 5 amount: too_precise: '7.770' has more than 2 decimals",
    ),
    (
        "another-currency",
        lambda d: tampered(d, "<Ntry>", 'Ccy="CNY"', 'Ccy="USD"'),
        "<Ntry/Amt> is in USD, the account in CNY (entry 1)",
    ),
    (
        "booked-another-day",
        lambda d: tampered(d, "<BookgDt>", "2026-12-07", "2026-12-08"),
        "entry 1 is booked on 2026-12-08, the statement is of 2026-12-07",
    ),
    (
        "balance-another-day",
        lambda d: tampered(d, "<Cd>OPBD</Cd>", "<Dt>2026-12-07</Dt>", "<Dt>2026-12-06</Dt>"),
        "the OPBD balance is dated 2026-12-06, the statement 2026-12-07",
    ),
    (
        "two-statements",
        lambda d: re.sub(r"(</(Stmt|Rpt)>)", r"\1<\2/>", d, count=1),
        "in the document",
    ),
    ("truncated", lambda d: d[: d.index("</TxsSummry>")], "not well-formed XML at byte"),
    ("control-character", lambda d: d.replace("Bank &amp; Co", "Bank &#1; Co", 1), "not well-formed XML"),
    (
        "no-closing-balance",
        lambda d: re.sub(r"<Cd>(CLBD|ITBD)</Cd>", "<Cd>PRCD</Cd>", d),
        "no CLBD (or ITBD) balance",
    ),
    (
        "two-transactions",
        lambda d: tampered(d, "<NtryDtls>", "<TxDtls>", "<TxDtls/><TxDtls>"),
        "entry 1 holds more than one transaction",
    ),
]


@pytest.mark.parametrize("name", ["day.camt053.xml", "day.camt052.xml"])
@pytest.mark.parametrize(("what", "tamper", "expected"), CAMT_TAMPERINGS, ids=[t[0] for t in CAMT_TAMPERINGS])
def test_a_tampered_camt_document_is_refused(name: str, what: str, tamper: Callable[[str], str], expected: str) -> None:
    fmt = "camt053" if "053" in name else "camt052"
    document = saved(name)
    forged = tamper(document)
    assert forged != document
    message = reason(forged.encode(), fmt)
    if what == "two-statements":
        expected = f"more than one <{'Stmt' if fmt == 'camt053' else 'Rpt'}> {expected}"
    assert expected in message, message


def test_a_dtd_is_refused_before_its_entities_are_expanded() -> None:
    # A billion laughs: expanded, &lol9; would be 10^9 times "lol".
    forged = _bomb(saved("day.camt053.xml"))
    assert "&lol9;" in forged and "<!ENTITY lol9" in forged
    assert "DOCTYPE" in reason(forged)
    external = saved("day.camt053.xml").replace("?>\n", '?>\n<!DOCTYPE Document SYSTEM "file:///etc/passwd">\n', 1)
    assert "DOCTYPE" in reason(external)


def test_a_report_is_not_a_statement_nor_the_other_way_round() -> None:
    assert f"is not in the namespace {CAMT053_NAMESPACE}" in reason(saved("day.camt052.xml"), "camt053")
    assert f"is not in the namespace {CAMT052_NAMESPACE}" in reason(saved("day.camt053.xml"), "camt052")
    assert "record 1 of the CSV: a quote inside an unquoted field" in reason(saved("day.camt053.xml"), "csv")


def test_elements_in_no_namespace_or_nested_too_deep_are_refused() -> None:
    document = saved("day.camt053.xml")
    assert "<Extra> is not in the namespace" in reason(document.replace("<Sts>", '<Extra xmlns=""/><Sts>', 1))
    deep = "<X>" * 40 + "</X>" * 40
    assert "elements nest deeper than 32" in reason(document.replace("<Sts>", deep + "<Sts>", 1))
    assert "the root element is <Statement>" in reason(document.replace("Document", "Statement"))


def test_an_exponent_beyond_8_is_refused() -> None:
    assert "currency exponent 9 is above 8" in reason(saved("day.camt053.xml"), exponent=9)
    assert "decimals" in reason(saved("day.camt053.xml"), exponent=1)


CSV_TAMPERINGS: list[tuple[str, Callable[[str], str], str]] = [
    (
        "entry-amount",
        lambda d: d.replace(",mint,credit,105.00,", ",mint,credit,106.00,"),
        "the entries hold 3 credits of 12611 minor units, the statement says 3 of 12511",
    ),
    (
        "entry-removed",
        lambda d: re.sub(r"\n2026-12-07,1,[^\n]*", "", d),
        "the entries hold 2 credits of 2011 minor units, the statement says 3 of 12511",
    ),
    (
        "closing-balance",
        lambda d: d.replace("# closing_balance,112.72", "# closing_balance,112.73"),
        "opening 0 + credits 12511 - debits 1239 (minor units) is not the closing balance 11273",
    ),
    (
        "credit-to-debit",
        lambda d: d.replace(",mint,credit,", ",mint,debit,"),
        "the entries hold 2 credits of 2011 minor units",
    ),
    (
        "txid-not-hex",
        lambda d: d.replace(",05b1a336", ",g5b1a336"),
        "entry 1's txid g5b1a33659d8dba7dd4703e844c31597531b988683aa3565cd61f0a0ee3391ff is not a txid",
    ),
    (
        "another-bank",
        lambda d: d.replace(f"# bank,{SAVED_BANK}", "# bank,another-bank"),
        "statement STLD-20261207-d63c7498bb62957f97fe is not the id of bank another-bank's statement of 2026-12-07",
    ),
    (
        "header",
        lambda d: d.replace("merchant,counterparty", "counterparty,merchant"),
        "the CSV's header is not",
    ),
    (
        "metadata-line",
        lambda d: d.replace("# currency,CNY\n", ""),
        "line 6 of the CSV is not '# currency,<value>'",
    ),
    ("cut", lambda d: d[:-30], "the CSV does not end with a line break"),
    (
        "booked-another-day",
        lambda d: d.replace("\n2026-12-07,1,", "\n2026-12-08,1,"),
        "entry 1 is booked on 2026-12-08, the statement is of 2026-12-07",
    ),
    (
        "time-outside-the-day",
        lambda d: d.replace("2026-12-07T07:38:59.770Z", "2026-12-07T16:38:59.770Z"),
        "was booked at 2026-12-07T16:38:59.770Z, outside the statement's day",
    ),
    (
        "out-of-order",
        lambda d: d.replace("\n2026-12-07,5,8,", "\n2026-12-07,2,8,"),
        "entry 5 (sequence 2, txid 2525feb1",
    ),
    (
        "block-outside-the-day",
        lambda d: d.replace("\n2026-12-07,5,8,", "\n2026-12-07,5,9,"),
        "is in block 9, outside the day's blocks 1..=8",
    ),
    (
        "another-currency",
        lambda d: d.replace(",105.00,CNY,", ",105.00,USD,"),
        "entry 1 is in USD, the statement in CNY",
    ),
    ("more-decimals", lambda d: d.replace(",7.77,", ",7.770,"), "entry 5 amount: too_precise"),
    ("fields", lambda d: d.replace(",mint,credit,", ",mint,,credit,"), "entry 1 has 15 fields, not 14"),
    ("not-utf-8", lambda d: d.replace("Ltd", "Ltd\udcff"), "the CSV is not UTF-8"),
]


@pytest.mark.parametrize(("what", "tamper", "expected"), CSV_TAMPERINGS, ids=[t[0] for t in CSV_TAMPERINGS])
def test_a_tampered_csv_statement_is_refused(what: str, tamper: Callable[[str], str], expected: str) -> None:
    document = saved("day.csv")
    forged = tamper(document)
    assert forged != document
    message = reason(forged.encode(errors="surrogateescape"), "csv")
    assert expected in message, message


def test_csv_fields_are_read_as_rfc_4180() -> None:
    document = saved("day.csv")
    assert '# bank_name,"Bank & Co <""Tests"">, Ltd"\n' in document
    assert verify_statement(document.replace("\n", "\r\n"), "csv", 2) == verify_statement(document, "csv", 2)
    assert "a quoted field is not closed" in reason(document.replace('Ltd"\n', "Ltd\n"), "csv")
    assert "a quote inside an unquoted field" in reason(document.replace(",mint,", ',mi"nt,'), "csv")
    assert document.splitlines()[15] == CSV_HEADER


# -- end to end ---------------------------------------------------------------


@dataclass
class Day:
    """A bank with two wallets and a day of payments both ways."""

    bank_id: str
    token: str
    date: str
    payments: list[tuple[Confirmation, list[tuple[Direction, int]]]]


@pytest.fixture(scope="module")
def day(server: DevServer) -> Day:
    """Registers a bank and two wallets at it; mints, and pays in, out and within the bank."""
    bank_id, token = f"stmt-{os.urandom(4).hex()}", os.urandom(32).hex()
    wallet, other, outsider = SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    with SettledClient(server.target, token=server.token) as operator:
        operator.register_bank(bank_id, "Statement Bank", tokens=[token])
        operator.register_wallet(wallet.address, bank_id, tier=2)
        operator.register_wallet(other.address, bank_id, tier=2)
        fund(operator, server.issuer_keys, outsider.address, 5000)
        payments = [
            (fund(operator, server.issuer_keys, wallet.address, 20000, 300), [(CREDIT, 20300)]),
            # Within the bank: the one transaction is a debit and a credit of it.
            (operator.pay(wallet, other.address, "45.60"), [(CREDIT, 4560), (DEBIT, 4560)]),
            (operator.pay(wallet, SecretKey.generate().address, "1.23"), [(DEBIT, 123)]),
            (operator.pay(outsider, wallet.address, "9.99"), [(CREDIT, 999)]),
            (operator.pay(other, outsider.address, "0.01"), [(DEBIT, 1)]),
        ]
        info = operator.info()
    dates = {info.ledger_date(paid.receipt.block.time_unix_ms) for paid, _ in payments}
    if len(dates) > 1:
        pytest.skip("the payments crossed the ledger's midnight")
    return Day(bank_id, token, dates.pop().isoformat(), payments)


@pytest.fixture
def bank_client(server: DevServer, day: Day) -> Iterator[SettledClient]:
    with SettledClient(server.target, token=day.token) as client:
        yield client


@pytest.mark.parametrize("fmt", ["camt053", "camt052", "csv"])
def test_a_downloaded_statement_verifies_and_adds_up_to_the_payments(
    day: Day, bank_client: SettledClient, fmt: str
) -> None:
    document = bank_client.statement("", day.date, fmt)  # verified already, as the calling bank
    checked = verify_statement(document, fmt, bank_client.genesis.exponent)
    assert (checked.bank_id, checked.date, checked.currency) == (day.bank_id, day.date, "CNY")
    expected = [
        StatementEntry(paid.txid, direction, amount) for paid, entries in day.payments for direction, amount in entries
    ]
    # Entries of one transaction come in (address, programme) order: compare as sets per txid.
    assert sorted(checked.entries, key=_entry_key) == sorted(expected, key=_entry_key)
    assert [e.txid for e in checked.entries] == [e.txid for e in expected]
    credits = [e.amount_minor for e in expected if e.direction is CREDIT]
    debits = [e.amount_minor for e in expected if e.direction is DEBIT]
    assert (checked.credit_entries, checked.credits_minor) == (len(credits), sum(credits)) == (3, 25859)
    assert (checked.debit_entries, checked.debits_minor) == (len(debits), sum(debits)) == (3, 4684)
    assert (checked.opening_minor, checked.closing_minor) == (0, 25859 - 4684)
    assert checked.closed is (None if fmt == "csv" else False)
    # The bank's verified follower counts the same money.
    follower = bank_client.follow(until_height=bank_client.info().tip.height)
    for _ in follower:
        pass
    totals = follower.cursor.totals
    assert (totals.credits_minor - totals.debits_minor) == checked.closing_minor


def _entry_key(entry: StatementEntry) -> tuple[bytes, int, int]:
    return (entry.txid, entry.direction, entry.amount_minor)


def test_a_past_day_is_closed_and_empty(day: Day, bank_client: SettledClient) -> None:
    yesterday = (datetime.date.fromisoformat(day.date) - datetime.timedelta(days=1)).isoformat()
    document = bank_client.statement(day.bank_id, yesterday)
    checked = verify_statement(document, "camt053", 2)
    assert (checked.closed, checked.entries, checked.date) == (True, (), yesterday)


class _StatementStub:
    """A ReconciliationService whose GetStatement document passes through ``tamper`` (or is another request's)."""

    def __init__(self, real: Any, tamper: Callable[[bytes], bytes], request: Any = None) -> None:
        self._real, self._tamper, self._request = real, tamper, request

    def GetStatement(self, request: Any, timeout: float | None = None) -> Iterator[Any]:
        document = b"".join(c.data for c in self._real.GetStatement(self._request or request, timeout=timeout))
        forged = self._tamper(document)
        for at in range(0, len(forged), 1000):
            yield reconciliation_pb2.StatementChunk(data=forged[at : at + 1000])


def _text(change: Callable[[str], str]) -> Callable[[bytes], bytes]:
    return lambda document: change(document.decode()).encode()


E2E_CAMT_TAMPERINGS: list[tuple[str, Callable[[str], str], str]] = [
    ("entry-amount", lambda d: tampered(d, "<Ntry>", ">203.00<", ">203.01<", count=2), "the entries hold 3 credits"),
    ("entry-removed", _drop_first_entry, "the entries hold 2 credits of 5559 minor units"),
    ("closing-balance", lambda d: tampered(d, closing_code(d), ">211.75<", ">211.76<"), "is not the closing balance"),
    ("credit-to-debit", _flip_first_entry_to_debit, "the entries hold 2 credits of 5559 minor units"),
    ("txid-not-hex", lambda d: re.sub(r"<AddtlTxInf>txid [0-9a-f]", "<AddtlTxInf>txid x", d, count=1), "not a txid"),
    (
        "another-bank",
        lambda d: re.sub(r"<(AddtlStmtInf|AddtlRptInf)>bank [^;]*;", r"<\1>bank stmt-other;", d),
        "is not bank stmt-other's",
    ),
    ("another-namespace", lambda d: d.replace("tech:xsd:camt.05", "tech:xsd:camt.15"), "is not in the namespace"),
    ("dtd-entity-bomb", _bomb, "a statement has no DOCTYPE"),
]


@pytest.mark.parametrize("fmt", ["camt053", "camt052"])
@pytest.mark.parametrize(("what", "tamper", "expected"), E2E_CAMT_TAMPERINGS, ids=[t[0] for t in E2E_CAMT_TAMPERINGS])
def test_a_statement_tampered_on_the_way_is_refused(
    day: Day, bank_client: SettledClient, fmt: str, what: str, tamper: Callable[[str], str], expected: str
) -> None:
    genuine = bank_client.statement(day.bank_id, day.date, fmt).decode()
    assert expected not in genuine
    bank_client.reconciliation = _StatementStub(bank_client.reconciliation, _text(tamper))
    with pytest.raises(StatementInvalid) as refused:
        bank_client.statement(day.bank_id, day.date, fmt)
    assert expected in str(refused.value)
    assert isinstance(refused.value, VerificationError)


E2E_CSV_TAMPERINGS: list[tuple[str, Callable[[str], str], str]] = [
    ("entry-amount", lambda d: d.replace(",credit,203.00,", ",credit,203.01,"), "the entries hold 3 credits"),
    ("entry-removed", lambda d: re.sub(r"\n[^#\n][^\n]*,credit,203\.00,[^\n]*", "", d), "the entries hold 2 credits"),
    ("closing-balance", lambda d: d.replace("# closing_balance,211.75", "# closing_balance,211.76"), "closing"),
    ("credit-to-debit", lambda d: d.replace(",credit,203.00,", ",debit,203.00,"), "the entries hold 2 credits"),
    ("txid-not-hex", lambda d: re.sub(r"(\n[0-9-]+,[0-9]+,[0-9]+,[^,]+,)[0-9a-f]", r"\1z", d, count=1), "not a txid"),
    ("another-bank", lambda d: re.sub(r"# bank,[^\n]*", "# bank,stmt-other", d), "is not the id of bank stmt-other's"),
]


@pytest.mark.parametrize(("what", "tamper", "expected"), E2E_CSV_TAMPERINGS, ids=[t[0] for t in E2E_CSV_TAMPERINGS])
def test_a_csv_statement_tampered_on_the_way_is_refused(
    day: Day, bank_client: SettledClient, what: str, tamper: Callable[[str], str], expected: str
) -> None:
    bank_client.reconciliation = _StatementStub(bank_client.reconciliation, _text(tamper))
    with pytest.raises(StatementInvalid) as refused:
        bank_client.statement("", day.date, "csv")
    assert expected in str(refused.value)


def test_a_statement_of_another_bank_or_day_is_refused(server: DevServer, day: Day) -> None:
    other_bank = f"stmt-other-{os.urandom(4).hex()}"
    with SettledClient(server.target, token=server.token) as operator:
        real = operator.reconciliation
        operator.register_bank(other_bank, "Another Bank")
        # The other bank's statement, well-formed and adding up, answers for this bank's.
        asked_other = reconciliation_pb2.GetStatementRequest(
            bank=other_bank, date=day.date, format="STATEMENT_FORMAT_CAMT053"
        )
        operator.reconciliation = _StatementStub(real, lambda d: d, asked_other)
        with pytest.raises(StatementInvalid, match=f"bank {other_bank}'s, not bank {day.bank_id}'s as asked"):
            operator.statement(day.bank_id, day.date)
        yesterday = (datetime.date.fromisoformat(day.date) - datetime.timedelta(days=1)).isoformat()
        for fmt in ("STATEMENT_FORMAT_CAMT052", "STATEMENT_FORMAT_CSV"):
            asked_yesterday = reconciliation_pb2.GetStatementRequest(bank=day.bank_id, date=yesterday, format=fmt)
            operator.reconciliation = _StatementStub(real, lambda d: d, asked_yesterday)
            with pytest.raises(StatementInvalid, match=f"is of {yesterday}, not of {day.date} as asked"):
                operator.statement(day.bank_id, day.date, fmt.removeprefix("STATEMENT_FORMAT_").lower())
