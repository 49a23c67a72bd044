"""A bank's side of ``ReconciliationService.Subscribe`` (PROTOCOL.md §9.4).

The follower yields the bank's movements in ledger order and, after each
block, a checkpoint it has verified: the engine's signature on the header for
the pinned chain id, the hash chain from the last checkpoint (block 0 against
the genesis), and the bank's running totals since genesis against its own
count of what it received. Its :class:`Cursor` says where it stands after
every item: persist it (``Cursor.save`` writes atomically) and resume from it
with no gap and no duplicate, across disconnections and server restarts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import Any

import grpc

from ._proto.settled.v1 import reconciliation_pb2, reconciliation_pb2_grpc
from .encoding import BlockHeader
from .errors import CheckpointInvalid, Refused, Unavailable, refused_from_rpc_error
from .receipts import verify_header


class MovementKind(IntEnum):
    """What kind of transaction a movement comes from (``settled.v1.MovementKind``)."""

    PAYMENT = 1
    MINT = 2
    REDEEM = 3
    CLAWBACK = 4
    REFUND = 5
    RECOVERY = 6


class Direction(IntEnum):
    """An entry's direction for the bank's customer (``settled.v1.Direction``)."""

    CREDIT = 1
    DEBIT = 2


@dataclass(frozen=True)
class Entry:
    """One customer's net movement in one programme within one transaction."""

    address: bytes
    merchant: str
    programme_id: int
    direction: Direction
    amount_minor: int
    counterparty: bytes | None
    counterparty_bank: str


@dataclass(frozen=True)
class Movement:
    """The bank's part of one confirmed transaction."""

    sequence: int
    height: int
    txid: bytes
    kind: MovementKind
    time_unix_ms: int
    merchant: str
    terminal: str
    entries: tuple[Entry, ...]

    @classmethod
    def from_proto(cls, message: reconciliation_pb2.Movement) -> Movement:
        """From ``settled.v1.Movement``.

        Raises:
            CheckpointInvalid: an entry without a direction, or an unknown kind.
        """
        try:
            entries = tuple(
                Entry(
                    address=bytes(e.address),
                    merchant=e.merchant,
                    programme_id=e.programme_id,
                    direction=Direction(e.direction),
                    amount_minor=e.amount_minor,
                    counterparty=bytes(e.counterparty) or None,
                    counterparty_bank=e.counterparty_bank,
                )
                for e in message.entries
            )
            kind = MovementKind(message.kind)
        except ValueError as error:
            raise CheckpointInvalid(f"movement {message.sequence}: {error}") from error
        return cls(
            sequence=message.sequence,
            height=message.height,
            txid=bytes(message.txid),
            kind=kind,
            time_unix_ms=message.time_unix_ms,
            merchant=message.merchant,
            terminal=message.terminal,
            entries=entries,
        )


@dataclass(frozen=True)
class ProgrammeTotals:
    """A bank's credits and debits in one programme."""

    programme_id: int
    credits_minor: int
    debits_minor: int


@dataclass(frozen=True)
class BankTotals:
    """A bank's running totals since genesis (``settled.v1.BankTotals``)."""

    movements: int = 0
    credit_entries: int = 0
    debit_entries: int = 0
    credits_minor: int = 0
    debits_minor: int = 0
    programmes: tuple[ProgrammeTotals, ...] = ()

    @classmethod
    def from_proto(cls, message: reconciliation_pb2.BankTotals) -> BankTotals:
        """From ``settled.v1.BankTotals``."""
        return cls(
            movements=message.movements,
            credit_entries=message.credit_entries,
            debit_entries=message.debit_entries,
            credits_minor=message.credits_minor,
            debits_minor=message.debits_minor,
            programmes=tuple(
                ProgrammeTotals(p.programme_id, p.credits_minor, p.debits_minor) for p in message.programmes
            ),
        )

    def counting(self, movement: Movement) -> BankTotals:
        """These totals with one more movement counted."""
        by_programme = {p.programme_id: (p.credits_minor, p.debits_minor) for p in self.programmes}
        credit_entries, debit_entries, credits, debits = (
            self.credit_entries,
            self.debit_entries,
            self.credits_minor,
            self.debits_minor,
        )
        for entry in movement.entries:
            programme_credits, programme_debits = by_programme.get(entry.programme_id, (0, 0))
            if entry.direction is Direction.CREDIT:
                credit_entries += 1
                credits += entry.amount_minor
                programme_credits += entry.amount_minor
            else:
                debit_entries += 1
                debits += entry.amount_minor
                programme_debits += entry.amount_minor
            by_programme[entry.programme_id] = (programme_credits, programme_debits)
        return BankTotals(
            movements=self.movements + 1,
            credit_entries=credit_entries,
            debit_entries=debit_entries,
            credits_minor=credits,
            debits_minor=debits,
            programmes=tuple(ProgrammeTotals(p, c, d) for p, (c, d) in sorted(by_programme.items())),
        )

    @property
    def balance_minor(self) -> int:
        """Credits minus debits: what the bank's customers hold by its count (may be negative)."""
        return self.credits_minor - self.debits_minor


@dataclass(frozen=True)
class Cursor:
    """Where a follower stands: what it has seen, and what that adds up to.

    ``after_sequence`` and ``after_height`` are the ``SubscribeRequest`` fields
    that resume right after the last item seen; ``last_hash`` is the hash of
    the last checkpoint's header (the next one must chain to it) and
    ``totals`` the follower's own count since genesis. A new cursor
    (``Cursor(bank)``) follows from genesis.
    """

    bank: str
    after_sequence: int = 0
    after_height: int | None = None
    last_hash: bytes | None = None
    totals: BankTotals = field(default_factory=BankTotals)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (hashes as hex)."""
        totals = self.totals
        return {
            "bank": self.bank,
            "after_sequence": self.after_sequence,
            "after_height": self.after_height,
            "last_hash": self.last_hash.hex() if self.last_hash is not None else None,
            "totals": {
                "movements": totals.movements,
                "credit_entries": totals.credit_entries,
                "debit_entries": totals.debit_entries,
                "credits_minor": totals.credits_minor,
                "debits_minor": totals.debits_minor,
                "programmes": [[p.programme_id, p.credits_minor, p.debits_minor] for p in totals.programmes],
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        """The inverse of :meth:`to_json`."""
        totals = data["totals"]
        return cls(
            bank=data["bank"],
            after_sequence=data["after_sequence"],
            after_height=data["after_height"],
            last_hash=bytes.fromhex(data["last_hash"]) if data["last_hash"] is not None else None,
            totals=BankTotals(
                movements=totals["movements"],
                credit_entries=totals["credit_entries"],
                debit_entries=totals["debit_entries"],
                credits_minor=totals["credits_minor"],
                debits_minor=totals["debits_minor"],
                programmes=tuple(ProgrammeTotals(p, c, d) for p, c, d in totals["programmes"]),
            ),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Replaces the file at ``path`` atomically: write, fsync, rename, fsync the directory.

        A crash leaves the old cursor or the new one, never half of one.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(self.to_json(), file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @classmethod
    def load(cls, path: str | os.PathLike[str], bank: str) -> Cursor:
        """The cursor saved at ``path``, or a new one for ``bank`` when there is no file.

        Raises:
            ValueError: the file holds another bank's cursor.
        """
        try:
            with open(path, encoding="utf-8") as file:
                cursor = cls.from_json(json.load(file))
        except FileNotFoundError:
            return cls(bank)
        if cursor.bank != bank:
            raise ValueError(f"{path} follows bank {cursor.bank!r}, not {bank!r}")
        return cursor


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the block's signed header, the bank's totals, and the cursor after it."""

    header: BlockHeader
    totals: BankTotals
    cursor: Cursor

    @property
    def height(self) -> int:
        """The block's height."""
        return self.header.height


class BankFollower:
    """Iterates over one bank's :class:`Movement` and :class:`Checkpoint` items.

    Made by :meth:`SettledClient.follow`. ``cursor`` is where it stands after
    the last item yielded; every checkpoint is verified before it is yielded,
    and a failure raises :class:`~settled_client.errors.CheckpointInvalid`.
    Leaving the iteration early (``break``) closes the stream; iterating
    again resumes from the cursor.
    """

    def __init__(
        self,
        stub: reconciliation_pb2_grpc.ReconciliationServiceStub,
        *,
        engine_key: bytes,
        chain_id: bytes,
        genesis_hash: bytes,
        cursor: Cursor,
        until_height: int | None = None,
        reconnect_delay: float | None = None,
    ) -> None:
        self._stub = stub
        self._engine_key = engine_key
        self._chain_id = chain_id
        self._genesis_hash = genesis_hash
        self._cursor = cursor
        self.until_height = until_height
        self.reconnect_delay = reconnect_delay
        self.reconnections = 0
        """How many times the follower reconnected after a break."""

    @property
    def cursor(self) -> Cursor:
        """Where the follower stands: persist it to resume later."""
        return self._cursor

    @property
    def done(self) -> bool:
        """Whether the checkpoint of ``until_height`` has been seen."""
        seen = self._cursor.after_height
        return self.until_height is not None and seen is not None and seen >= self.until_height

    def __iter__(self) -> Iterator[Movement | Checkpoint]:
        while not self.done:
            try:
                yield from self._subscribe()
                if self.done:
                    return
                raise Unavailable(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the stream ended at block {self._cursor.after_height} before block {self.until_height}"
                    if self.until_height is not None
                    else "the live stream ended",
                )
            except Refused as broken:
                delay = self.reconnect_delay
                if delay is None or not broken.retryable:
                    raise
            time.sleep(delay)
            self.reconnections += 1

    def _subscribe(self) -> Iterator[Movement | Checkpoint]:
        """One ``Subscribe`` call from the cursor, until it ends."""
        cursor = self._cursor
        request = reconciliation_pb2.SubscribeRequest(bank=cursor.bank, after_sequence=cursor.after_sequence)
        if cursor.after_height is not None:
            request.after_height = cursor.after_height
        if self.until_height is not None:
            request.until_height = self.until_height
        call = self._stub.Subscribe(request)
        try:
            for response in call:
                item = response.WhichOneof("item")
                if item == "movement":
                    yield self._count(Movement.from_proto(response.movement))
                elif item == "checkpoint":
                    yield self._check(response.checkpoint)
                else:
                    raise CheckpointInvalid("an empty stream item")
        except grpc.RpcError as error:
            raise refused_from_rpc_error(error) from error
        finally:
            call.cancel()

    def _count(self, movement: Movement) -> Movement:
        cursor = self._cursor
        if movement.sequence <= cursor.after_sequence:
            raise CheckpointInvalid(
                f"movement {movement.sequence} is not after sequence {cursor.after_sequence} already seen"
            )
        if cursor.after_height is not None and movement.height <= cursor.after_height:
            raise CheckpointInvalid(f"movement {movement.sequence} is in block {movement.height}, checkpointed already")
        self._cursor = replace(cursor, after_sequence=movement.sequence, totals=cursor.totals.counting(movement))
        return movement

    def _check(self, message: reconciliation_pb2.Checkpoint) -> Checkpoint:
        """Verifies a checkpoint (§9.4 steps 1-4) and moves the cursor past it."""
        if not message.HasField("block") or not message.HasField("totals"):
            raise CheckpointInvalid("a checkpoint without its header or totals")
        header = BlockHeader.from_proto(message.block)
        block_hash = verify_header(header, self._engine_key, self._chain_id, CheckpointInvalid)
        cursor = self._cursor
        if cursor.after_height is None:
            if header.height != 0:
                raise CheckpointInvalid(f"a follower from genesis got block {header.height} first, not block 0")
            if (
                header.previous_hash != bytes(32)
                or header.merkle_root != self._genesis_hash
                or block_hash != self._chain_id
            ):
                raise CheckpointInvalid("block 0 is not this ledger's genesis block")
        else:
            if header.height != cursor.after_height + 1:
                raise CheckpointInvalid(f"block {header.height} does not follow block {cursor.after_height}")
            if header.previous_hash != cursor.last_hash:
                raise CheckpointInvalid(f"block {header.height} does not chain to block {cursor.after_height}")
        stated = BankTotals.from_proto(message.totals)
        if stated != cursor.totals:
            raise CheckpointInvalid(
                f"at block {header.height} the ledger states {stated}, the bank counted {cursor.totals}"
            )
        self._cursor = replace(
            cursor,
            after_sequence=max(cursor.after_sequence, header.last_sequence),
            after_height=header.height,
            last_hash=block_hash,
        )
        return Checkpoint(header, stated, self._cursor)
