"""The canonical byte encodings that ids, hashes and signatures cover.

Everything here follows PROTOCOL.md §1-§6: unsigned big-endian integers, raw
fixed-size byte strings, a magic and the protocol version at the start of
every encoding, and every signed message domain-separated and bound to one
ledger by its chain id. Protobuf is only the transport: the bytes hashed and
signed are built here from the fields, never taken from the wire.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from ._proto.settled.v1 import ledger_pb2
from .keys import SecretKey, verify_signature

PROTOCOL_VERSION = 2
"""The protocol version this SDK speaks, and the version byte of every encoding."""

TX_MAGIC = b"STLD"
BLOCK_MAGIC = b"STLB"
GENESIS_MAGIC = b"STLG"
WITNESS_DOMAIN = b"STLW"
HEADER_DOMAIN = b"STLH"
CLAWBACK_DOMAIN = b"STLC"
RECOVERY_DOMAIN = b"STLV"

TX_INPUTS_MAX = 16
"""The most inputs a transaction may spend (PROTOCOL.md §12)."""


def sha256(data: bytes) -> bytes:
    """Plain SHA-256 (no double hashing, no tagged hash)."""
    return hashlib.sha256(data).digest()


def uint(value: int, size: int) -> bytes:
    """``value`` as an unsigned big-endian integer of ``size`` bytes.

    Raises:
        ValueError: when it does not fit.
    """
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{value} does not fit an unsigned {8 * size}-bit integer")
    return value.to_bytes(size, "big")


def check_bytes(value: bytes, size: int, what: str) -> bytes:
    """``value`` if it is exactly ``size`` bytes, else a ``ValueError`` naming ``what``."""
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"{what} must be {size} bytes")
    return value


def signed_message(domain: bytes, chain_id: bytes, message: bytes) -> bytes:
    """The 32 bytes a signer signs: SHA-256(domain || 0x02 || chain id || message).

    ``domain`` is ``STLW`` (a witness, ``message`` the txid) or ``STLH`` (the
    engine, ``message`` the block hash); PROTOCOL.md §3.1.
    """
    check_bytes(domain, 4, "a domain")
    check_bytes(chain_id, 32, "a chain id")
    check_bytes(message, 32, "a signed message")
    return sha256(domain + uint(PROTOCOL_VERSION, 1) + chain_id + message)


def witness_message(chain_id: bytes, txid: bytes) -> bytes:
    """What each witness of a transfer, mint, redeem or refund signs (§4.4)."""
    return signed_message(WITNESS_DOMAIN, chain_id, txid)


def header_message(chain_id: bytes, block_hash: bytes) -> bytes:
    """What the engine signs for a block header (§6.1)."""
    return signed_message(HEADER_DOMAIN, chain_id, block_hash)


def clawback_authorization(chain_id: bytes, programme_id: int, treasury: bytes, valid_until_unix_ms: int) -> bytes:
    """The 32 bytes issuers sign to authorise a programme's clawback (§4.8).

    SHA-256 of ``STLC || 0x02 || chain id || programme u32 || treasury ||
    valid_until u64``, with the programme's registered treasury and end.
    """
    check_bytes(chain_id, 32, "a chain id")
    check_bytes(treasury, 32, "a treasury address")
    return sha256(
        CLAWBACK_DOMAIN
        + uint(PROTOCOL_VERSION, 1)
        + chain_id
        + uint(programme_id, 4)
        + treasury
        + uint(valid_until_unix_ms, 8)
    )


def recovery_authorization(chain_id: bytes, lost_wallet: bytes, replacement_wallet: bytes) -> bytes:
    """The 32 bytes issuers sign to recover a lost wallet (§4.12).

    SHA-256 of ``STLV || 0x02 || chain id || lost wallet || replacement``.
    """
    check_bytes(chain_id, 32, "a chain id")
    check_bytes(lost_wallet, 32, "the lost wallet")
    check_bytes(replacement_wallet, 32, "the replacement wallet")
    return sha256(RECOVERY_DOMAIN + uint(PROTOCOL_VERSION, 1) + chain_id + lost_wallet + replacement_wallet)


class TxKind(IntEnum):
    """A transaction's kind: its byte in the canonical encoding (§4.1)."""

    TRANSFER = 1
    MINT = 2
    REDEEM = 3
    CLAWBACK = 4
    REFUND = 5
    RECOVERY = 6


@dataclass(frozen=True)
class OutPoint:
    """One output of an earlier transaction: its txid and 0-based index."""

    txid: bytes
    index: int

    def __post_init__(self) -> None:
        check_bytes(self.txid, 32, "an outpoint's txid")
        uint(self.index, 4)

    def encode(self) -> bytes:
        """txid (32 bytes) then index (u32 BE)."""
        return self.txid + uint(self.index, 4)

    def __str__(self) -> str:
        """``<txid hex>:<index>``, as ``ErrorInfo`` metadata names an input."""
        return f"{self.txid.hex()}:{self.index}"

    @classmethod
    def parse(cls, text: str) -> OutPoint:
        """The inverse of ``str()``: ``<64 hex digits>:<decimal index>``."""
        txid, _, index = text.partition(":")
        return cls(bytes.fromhex(txid), int(index))

    def to_proto(self) -> ledger_pb2.OutPoint:
        """As ``settled.v1.OutPoint``."""
        return ledger_pb2.OutPoint(txid=self.txid, index=self.index)

    @classmethod
    def from_proto(cls, message: ledger_pb2.OutPoint) -> OutPoint:
        """From ``settled.v1.OutPoint``."""
        return cls(bytes(message.txid), message.index)


@dataclass(frozen=True)
class Output:
    """What a transaction creates: an amount for an address, in a programme.

    ``programme_id`` 0 is unrestricted money; any other is money earmarked
    for that welfare programme.
    """

    address: bytes
    amount_minor: int
    programme_id: int = 0

    def __post_init__(self) -> None:
        check_bytes(self.address, 32, "an output address")
        uint(self.amount_minor, 8)
        uint(self.programme_id, 4)

    def encode(self) -> bytes:
        """address (32 bytes), amount (u64 BE), programme (u32 BE)."""
        return self.address + uint(self.amount_minor, 8) + uint(self.programme_id, 4)

    def to_proto(self) -> ledger_pb2.Output:
        """As ``settled.v1.Output``."""
        return ledger_pb2.Output(address=self.address, amount_minor=self.amount_minor, programme_id=self.programme_id)

    @classmethod
    def from_proto(cls, message: ledger_pb2.Output) -> Output:
        """From ``settled.v1.Output``."""
        return cls(bytes(message.address), message.amount_minor, message.programme_id)


@dataclass(frozen=True)
class Witness:
    """A 32-byte x-only public key and its 64-byte BIP340 signature."""

    public_key: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_bytes(self.public_key, 32, "a witness key")
        check_bytes(self.signature, 64, "a witness signature")

    def to_proto(self) -> ledger_pb2.Witness:
        """As ``settled.v1.Witness``."""
        return ledger_pb2.Witness(public_key=self.public_key, signature=self.signature)

    @classmethod
    def from_proto(cls, message: ledger_pb2.Witness) -> Witness:
        """From ``settled.v1.Witness``."""
        return cls(bytes(message.public_key), bytes(message.signature))


@dataclass(frozen=True)
class Transaction:
    """A transaction: the fields its txid commits to, and its witnesses.

    Immutable: :meth:`signed` returns a copy with witnesses added. The txid
    covers every field but the witnesses, so signing does not change it.
    """

    kind: TxKind
    inputs: tuple[OutPoint, ...] = ()
    outputs: tuple[Output, ...] = ()
    reference: bytes = b""
    witnesses: tuple[Witness, ...] = ()
    version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TxKind(self.kind))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "witnesses", tuple(self.witnesses))
        if not isinstance(self.reference, bytes):
            raise ValueError("a reference is bytes")

    def canonical_bytes(self) -> bytes:
        """The canonical encoding (§4.2): ``11 + 36·n_in + 44·n_out + r`` bytes."""
        return b"".join(
            [
                TX_MAGIC,
                uint(self.version, 1),
                uint(self.kind, 1),
                uint(len(self.inputs), 2),
                *(outpoint.encode() for outpoint in self.inputs),
                uint(len(self.outputs), 2),
                *(output.encode() for output in self.outputs),
                uint(len(self.reference), 1),
                self.reference,
            ]
        )

    @property
    def txid(self) -> bytes:
        """SHA-256 of the canonical bytes (§4.3): the same on every ledger."""
        return sha256(self.canonical_bytes())

    def record_bytes(self) -> bytes:
        """The stored record (§4.5): the canonical bytes, then the witnesses."""
        parts = [self.canonical_bytes(), uint(len(self.witnesses), 1)]
        parts += [witness.public_key + witness.signature for witness in self.witnesses]
        return b"".join(parts)

    def witness_message(self, chain_id: bytes) -> bytes:
        """What this transaction's witnesses sign on the ledger ``chain_id``."""
        return witness_message(chain_id, self.txid)

    def outpoint(self, index: int) -> OutPoint:
        """The outpoint that spends output ``index`` once this is confirmed."""
        if not 0 <= index < len(self.outputs):
            raise IndexError(f"the transaction has no output {index}")
        return OutPoint(self.txid, index)

    def signed(self, chain_id: bytes, keys: Iterable[SecretKey], aux_randomness: bytes | None = None) -> Transaction:
        """A copy with one witness per key added, each signing the witness message.

        ``aux_randomness`` is for reproducing published signatures only.
        """
        message = self.witness_message(chain_id)
        added = tuple(Witness(key.public_key, key.sign(message, aux_randomness)) for key in keys)
        return replace(self, witnesses=self.witnesses + added)

    def verify_witnesses(self, chain_id: bytes) -> bool:
        """Whether every witness signs the witness message for ``chain_id``.

        Not for clawbacks and recoveries, whose witnesses sign an
        authorisation instead (§4.8, §4.12).
        """
        message = self.witness_message(chain_id)
        return all(verify_signature(w.public_key, message, w.signature) for w in self.witnesses)

    def to_proto(self) -> ledger_pb2.Transaction:
        """As ``settled.v1.Transaction``."""
        return ledger_pb2.Transaction(
            version=self.version,
            kind=f"TRANSACTION_KIND_{self.kind.name}",
            inputs=[outpoint.to_proto() for outpoint in self.inputs],
            outputs=[output.to_proto() for output in self.outputs],
            reference=self.reference,
            witnesses=[witness.to_proto() for witness in self.witnesses],
        )

    @classmethod
    def from_proto(cls, message: ledger_pb2.Transaction) -> Transaction:
        """From ``settled.v1.Transaction`` (as ``GetPayment`` returns it)."""
        return cls(
            kind=TxKind(message.kind),
            inputs=tuple(OutPoint.from_proto(i) for i in message.inputs),
            outputs=tuple(Output.from_proto(o) for o in message.outputs),
            reference=bytes(message.reference),
            witnesses=tuple(Witness.from_proto(w) for w in message.witnesses),
            version=message.version,
        )


@dataclass(frozen=True)
class BlockHeader:
    """A block header's fields (§6.1), with the engine's signature.

    ``stated_hash`` is the hash the server sent beside the fields, if any: it
    is only compared with :meth:`hash`, which is always recomputed.
    """

    height: int
    previous_hash: bytes
    merkle_root: bytes
    first_sequence: int
    tx_count: int
    time_unix_ms: int
    minted_total_minor: int
    burned_total_minor: int
    engine_signature: bytes = b""
    stated_hash: bytes | None = field(default=None, compare=False)

    def canonical_bytes(self) -> bytes:
        """The 113-byte header encoding."""
        return b"".join(
            [
                BLOCK_MAGIC,
                uint(PROTOCOL_VERSION, 1),
                uint(self.height, 8),
                check_bytes(self.previous_hash, 32, "previous_hash"),
                check_bytes(self.merkle_root, 32, "merkle_root"),
                uint(self.first_sequence, 8),
                uint(self.tx_count, 4),
                uint(self.time_unix_ms, 8),
                uint(self.minted_total_minor, 8),
                uint(self.burned_total_minor, 8),
            ]
        )

    def hash(self) -> bytes:
        """The block hash: SHA-256 of the 113 header bytes."""
        return sha256(self.canonical_bytes())

    @property
    def last_sequence(self) -> int:
        """The sequence of the block's last transaction (``first_sequence - 1`` if empty)."""
        return self.first_sequence + self.tx_count - 1

    def signature_valid(self, engine_key: bytes, chain_id: bytes) -> bool:
        """Whether ``engine_signature`` signs this header for ``chain_id``."""
        return verify_signature(engine_key, header_message(chain_id, self.hash()), self.engine_signature)

    def to_proto(self) -> ledger_pb2.BlockHeader:
        """As ``settled.v1.BlockHeader`` (with the recomputed hash)."""
        return ledger_pb2.BlockHeader(
            height=self.height,
            previous_hash=self.previous_hash,
            merkle_root=self.merkle_root,
            first_sequence=self.first_sequence,
            tx_count=self.tx_count,
            time_unix_ms=self.time_unix_ms,
            minted_total_minor=self.minted_total_minor,
            burned_total_minor=self.burned_total_minor,
            hash=self.hash(),
            engine_signature=self.engine_signature,
        )

    @classmethod
    def from_proto(cls, message: ledger_pb2.BlockHeader) -> BlockHeader:
        """From ``settled.v1.BlockHeader``; an empty ``hash`` field is none stated."""
        return cls(
            height=message.height,
            previous_hash=bytes(message.previous_hash),
            merkle_root=bytes(message.merkle_root),
            first_sequence=message.first_sequence,
            tx_count=message.tx_count,
            time_unix_ms=message.time_unix_ms,
            minted_total_minor=message.minted_total_minor,
            burned_total_minor=message.burned_total_minor,
            engine_signature=bytes(message.engine_signature),
            stated_hash=bytes(message.hash) or None,
        )


@dataclass(frozen=True)
class Genesis:
    """A ledger's genesis parameters (§5), which its chain id commits to."""

    currency: str
    exponent: int
    issuer_public_keys: tuple[bytes, ...]
    issuer_threshold: int
    engine_public_key: bytes

    def canonical_bytes(self) -> bytes:
        """The ``41 + c + 32·k``-byte genesis encoding (threshold before count)."""
        currency = self.currency.encode("ascii")
        return b"".join(
            [
                GENESIS_MAGIC,
                uint(PROTOCOL_VERSION, 1),
                uint(len(currency), 1),
                currency,
                uint(self.exponent, 1),
                uint(self.issuer_threshold, 1),
                uint(len(self.issuer_public_keys), 1),
                *(check_bytes(key, 32, "an issuer key") for key in self.issuer_public_keys),
                check_bytes(self.engine_public_key, 32, "the engine key"),
            ]
        )

    def hash(self) -> bytes:
        """The genesis hash: block 0's Merkle root."""
        return sha256(self.canonical_bytes())


def genesis_block(genesis_hash: bytes, time_unix_ms: int, engine_signature: bytes = b"") -> BlockHeader:
    """Block 0 of a ledger: its hash is the ledger's chain id (§3.1, §5)."""
    return BlockHeader(
        height=0,
        previous_hash=bytes(32),
        merkle_root=check_bytes(genesis_hash, 32, "a genesis hash"),
        first_sequence=1,
        tx_count=0,
        time_unix_ms=time_unix_ms,
        minted_total_minor=0,
        burned_total_minor=0,
        engine_signature=engine_signature,
    )


def transfer(inputs: Sequence[OutPoint], outputs: Sequence[Output], reference: bytes = b"") -> Transaction:
    """An unsigned transfer (kind 1) of protocol version 2."""
    return Transaction(TxKind.TRANSFER, tuple(inputs), tuple(outputs), reference)


def mint(outputs: Sequence[Output], reference: bytes) -> Transaction:
    """An unsigned mint (kind 2): no inputs, a non-empty reference unique to the payment."""
    if not reference:
        raise ValueError("a mint needs a reference (REASON_MINT_NEEDS_REFERENCE)")
    return Transaction(TxKind.MINT, (), tuple(outputs), reference)
