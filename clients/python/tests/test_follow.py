"""End to end: a bank follows its customers over Subscribe, resumes, and fetches statements."""

from __future__ import annotations

import csv
import io
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DevServer, fund

from settled_client import (
    BankFollower,
    Checkpoint,
    CheckpointInvalid,
    Cursor,
    Direction,
    InvalidRequest,
    Movement,
    MovementKind,
    NotFound,
    PermissionDenied,
    SecretKey,
    SettledClient,
)
from settled_client._proto.settled.v1 import reconciliation_pb2


@dataclass
class Bank:
    """A registered bank with its own token, one wallet at it, and some history."""

    bank_id: str
    token: str
    wallet: SecretKey
    merchant: SecretKey
    payment_txid: bytes


@pytest.fixture(scope="module")
def bank(server: DevServer) -> Bank:
    """Registers a bank with a token and a wallet at it, mints to the wallet and pays from it."""
    bank_id = f"bank-{os.urandom(4).hex()}"
    token = os.urandom(32).hex()
    wallet, merchant = SecretKey.generate(), SecretKey.generate()
    with SettledClient(server.target, token=server.token) as operator:
        operator.register_bank(bank_id, "Bank of Tests", tokens=[token])
        operator.register_wallet(wallet.address, bank_id, tier=2)
        fund(operator, server.issuer_keys, wallet.address, 10000, 500)
        paid = operator.pay(wallet, merchant.address, "12.34")
        operator.pay(wallet, SecretKey.generate().address, 5)  # another movement of the bank
    return Bank(bank_id, token, wallet, merchant, paid.txid)


@pytest.fixture
def bank_client(server: DevServer, bank: Bank) -> Iterator[SettledClient]:
    """A client authenticated as the bank."""
    with SettledClient(server.target, token=bank.token) as client:
        yield client


def follow_all(follower: BankFollower) -> list[Movement | Checkpoint]:
    return list(follower)


def test_follow_a_bank_from_genesis(bank: Bank, bank_client: SettledClient) -> None:
    tip = bank_client.info().tip.height
    follower = bank_client.follow(until_height=tip)
    items = follow_all(follower)
    checkpoints = [i for i in items if isinstance(i, Checkpoint)]
    movements = [i for i in items if isinstance(i, Movement)]
    assert [c.height for c in checkpoints] == list(range(tip + 1))  # every block, from genesis
    assert [m.kind for m in movements] == [MovementKind.MINT, MovementKind.PAYMENT, MovementKind.PAYMENT]
    mint, payment, _ = movements
    assert [(e.direction, e.amount_minor) for e in mint.entries] == [(Direction.CREDIT, 10500)]
    assert payment.txid == bank.payment_txid
    assert [(e.address, e.direction, e.amount_minor) for e in payment.entries] == [
        (bank.wallet.address, Direction.DEBIT, 1234)
    ]
    assert payment.entries[0].counterparty == bank.merchant.address
    final = follower.cursor
    assert final.after_height == tip and final.last_hash == checkpoints[-1].header.hash()
    assert final.totals == checkpoints[-1].totals
    assert (final.totals.movements, final.totals.credits_minor, final.totals.debits_minor) == (3, 10500, 1239)
    assert final.totals.balance_minor == bank_client.balance(bank.wallet.address).total_minor


@pytest.mark.parametrize("stop_after", [1, 2, 3, 5, 8])
def test_resume_from_a_cursor_without_gap_or_duplicate(
    bank: Bank, bank_client: SettledClient, tmp_path: Path, stop_after: int
) -> None:
    tip = bank_client.info().tip.height
    whole = follow_all(bank_client.follow(until_height=tip))
    # Close the stream after some items (mid-block too), persist, then resume.
    first = bank_client.follow(until_height=tip)
    seen: list[Movement | Checkpoint] = []
    for item in first:
        seen.append(item)
        if len(seen) == stop_after:
            break
    cursor_file = tmp_path / "cursor.json"
    first.cursor.save(cursor_file)
    resumed = Cursor.load(cursor_file, bank="")
    assert resumed == first.cursor
    rest = follow_all(bank_client.follow(cursor=resumed, until_height=tip))
    assert _keys(seen + rest) == _keys(whole)


def _keys(items: list[Movement | Checkpoint]) -> list[tuple[str, int]]:
    return [("m", i.sequence) if isinstance(i, Movement) else ("c", i.height) for i in items]


def test_follow_live_across_a_server_restart(own_server: DevServer) -> None:
    bank_id, token = "restart-bank", os.urandom(32).hex()
    wallet = SecretKey.generate()
    with SettledClient(own_server.target, token=own_server.token) as operator:
        operator.register_bank(bank_id, "Restarted", tokens=[token])
        operator.register_wallet(wallet.address, bank_id)
        fund(operator, own_server.issuer_keys, wallet.address, 700)
    with SettledClient(own_server.target, token=token) as bank_client:
        follower = bank_client.follow(reconnect_delay=0.2)  # live: no until_height
        credits: list[int] = []
        restarted = False
        for item in follower:
            if isinstance(item, Movement):
                credits += [e.amount_minor for e in item.entries]
                if len(credits) == 2:
                    break
            elif not restarted and item.height == 3:  # past the registrations and the first mint
                own_server.restart()
                restarted = True
                with SettledClient(own_server.target, token=own_server.token) as operator:
                    fund(operator, own_server.issuer_keys, wallet.address, 300)
    assert restarted and follower.reconnections >= 1
    assert credits == [700, 300]
    assert follower.cursor.totals.credits_minor == 1000


class _TamperingStub:
    """A ReconciliationService stub whose Subscribe items pass through ``tamper`` (None drops one)."""

    def __init__(self, real: Any, tamper: Any) -> None:
        self._real = real
        self._tamper = tamper

    def Subscribe(self, request: reconciliation_pb2.SubscribeRequest) -> Any:  # noqa: N802 - the gRPC name
        call = self._real.Subscribe(request)

        class Call:
            def __iter__(self) -> Iterator[reconciliation_pb2.SubscribeResponse]:
                for response in call:
                    tampered = tamper(response)
                    if tampered is not None:
                        yield tampered

            def cancel(self) -> None:
                call.cancel()

        tamper = self._tamper
        return Call()


def _tampered_follower(client: SettledClient, tamper: Any, engine_key: bytes | None = None) -> BankFollower:
    return BankFollower(
        _TamperingStub(client.reconciliation, tamper),
        engine_key=engine_key or client.engine_key,
        chain_id=client.chain_id,
        genesis_hash=client.genesis.hash(),
        cursor=Cursor(""),
        until_height=client.info().tip.height,
    )


def _at_height(height: int, change: Any) -> Any:
    def tamper(response: reconciliation_pb2.SubscribeResponse) -> reconciliation_pb2.SubscribeResponse:
        if response.WhichOneof("item") == "checkpoint" and response.checkpoint.block.height == height:
            change(response.checkpoint)
        return response

    return tamper


def _flip_byte(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: setattr(c.totals, "credits_minor", c.totals.credits_minor + 1),
        lambda c: setattr(c.totals, "movements", c.totals.movements + 1),
        lambda c: setattr(c.block, "time_unix_ms", c.block.time_unix_ms + 1),
        lambda c: setattr(c.block, "engine_signature", _flip_byte(c.block.engine_signature, 5)),
        lambda c: setattr(c.block, "previous_hash", _flip_byte(c.block.previous_hash)),
        lambda c: setattr(c.block, "hash", _flip_byte(c.block.hash)),
    ],
    ids=["credits", "movements", "header-time", "signature", "previous-hash", "stated-hash"],
)
def test_a_tampered_checkpoint_is_refused(bank: Bank, bank_client: SettledClient, change: Any) -> None:
    height = bank_client.info().tip.height
    with pytest.raises(CheckpointInvalid):
        follow_all(_tampered_follower(bank_client, _at_height(height, change)))


def test_a_dropped_movement_is_noticed(bank: Bank, bank_client: SettledClient) -> None:
    def drop_payment(response: reconciliation_pb2.SubscribeResponse) -> reconciliation_pb2.SubscribeResponse | None:
        if response.WhichOneof("item") == "movement" and response.movement.txid == bank.payment_txid:
            return None
        return response

    with pytest.raises(CheckpointInvalid, match="the bank counted"):
        follow_all(_tampered_follower(bank_client, drop_payment))


def test_another_engine_key_is_refused_from_block_0(bank_client: SettledClient) -> None:
    with pytest.raises(CheckpointInvalid, match="block 0"):
        follow_all(_tampered_follower(bank_client, lambda r: r, engine_key=SecretKey.generate().address))


def test_follow_refusals(server: DevServer, bank: Bank, bank_client: SettledClient) -> None:
    with pytest.raises(PermissionDenied):
        follow_all(bank_client.follow("another-bank", until_height=0))
    with SettledClient(server.target, token=server.token) as operator:
        with pytest.raises(NotFound):
            follow_all(operator.follow("no-such-bank", until_height=0))


def test_statements(bank: Bank, bank_client: SettledClient) -> None:
    info = bank_client.info()
    today = info.ledger_date(info.tip.time_unix_ms)
    for fmt, namespace in [
        ("camt053", "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"),
        ("camt052", "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"),
    ]:
        document = bank_client.statement("", today, fmt)
        root = ElementTree.fromstring(document)
        assert root.tag == f"{{{namespace}}}Document"
        assert bank.payment_txid.hex().encode() in document
    text = bank_client.statement(bank.bank_id, today.isoformat(), "csv").decode()
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert rows[0] == (
        "booking_date,sequence,height,time_utc,txid,kind,direction,amount,currency,programme,address,"
        "merchant,counterparty,terminal"
    )
    records = list(csv.DictReader(io.StringIO("\n".join(rows))))
    payment = next(r for r in records if r["txid"] == bank.payment_txid.hex())
    assert (payment["kind"], payment["direction"], payment["amount"]) == ("payment", "debit", "12.34")
    with pytest.raises(InvalidRequest) as refused:
        bank_client.statement("", "2026-13-45")
    assert refused.value.field_violations
