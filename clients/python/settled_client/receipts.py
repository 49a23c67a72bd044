"""Receipts, and their offline verification (PROTOCOL.md §8).

A receipt proves, with only the engine's public key and the ledger's chain id
(both pinned by the client, never taken from the receipt), that a transaction
is in a block the engine signed for that ledger, at one sequence number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._proto.settled.v1 import ledger_pb2
from .encoding import BlockHeader, check_bytes, header_message
from .errors import ReceiptInvalid, VerificationError
from .keys import verify_signature
from .merkle import MerkleStep, expected_sides, root_from_path


@dataclass(frozen=True)
class Receipt:
    """A transaction's receipt: txid, sequence, the signed header and the Merkle path.

    ``chain_id`` is set only when the receipt came from the JSON form that
    names one (``settled receipt get``); protobuf receipts carry none.
    """

    txid: bytes
    sequence: int
    block: BlockHeader
    index_in_block: int
    merkle_path: tuple[MerkleStep, ...]
    chain_id: bytes | None = None

    @classmethod
    def from_proto(cls, message: ledger_pb2.Receipt) -> Receipt:
        """From ``settled.v1.Receipt``."""
        return cls(
            txid=bytes(message.txid),
            sequence=message.sequence,
            block=BlockHeader.from_proto(message.block),
            index_in_block=message.index_in_block,
            merkle_path=tuple(MerkleStep.from_proto(step) for step in message.merkle_path),
        )

    def to_proto(self) -> ledger_pb2.Receipt:
        """As ``settled.v1.Receipt`` (the JSON form's ``chain_id`` has no place there)."""
        return ledger_pb2.Receipt(
            txid=self.txid,
            sequence=self.sequence,
            block=self.block.to_proto(),
            index_in_block=self.index_in_block,
            merkle_path=[step.to_proto() for step in self.merkle_path],
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        """From the JSON form of §8 (byte strings as hex), as ``json.load`` reads it."""
        block = data["block"]
        header = BlockHeader(
            height=block["height"],
            previous_hash=bytes.fromhex(block["previous_hash"]),
            merkle_root=bytes.fromhex(block["merkle_root"]),
            first_sequence=block["first_sequence"],
            tx_count=block["tx_count"],
            time_unix_ms=block["time_unix_ms"],
            minted_total_minor=block["minted_total_minor"],
            burned_total_minor=block["burned_total_minor"],
            engine_signature=bytes.fromhex(block["engine_signature"]),
            stated_hash=bytes.fromhex(block["hash"]) if "hash" in block else None,
        )
        return cls(
            txid=bytes.fromhex(data["txid"]),
            sequence=data["sequence"],
            block=header,
            index_in_block=data["index_in_block"],
            merkle_path=tuple(
                MerkleStep(bytes.fromhex(step["sibling"]), step["sibling_on_left"]) for step in data["merkle_path"]
            ),
            chain_id=bytes.fromhex(data["chain_id"]) if "chain_id" in data else None,
        )

    def to_json(self, chain_id: bytes | None = None) -> dict[str, Any]:
        """The JSON form of §8, naming ``chain_id`` (or the receipt's own) when given."""
        named = chain_id if chain_id is not None else self.chain_id
        block = self.block
        data: dict[str, Any] = {} if named is None else {"chain_id": named.hex()}
        data.update(
            txid=self.txid.hex(),
            sequence=self.sequence,
            index_in_block=self.index_in_block,
            block={
                "height": block.height,
                "previous_hash": block.previous_hash.hex(),
                "merkle_root": block.merkle_root.hex(),
                "first_sequence": block.first_sequence,
                "tx_count": block.tx_count,
                "time_unix_ms": block.time_unix_ms,
                "minted_total_minor": block.minted_total_minor,
                "burned_total_minor": block.burned_total_minor,
                "hash": block.hash().hex(),
                "engine_signature": block.engine_signature.hex(),
            },
            merkle_path=[
                {"sibling": step.sibling.hex(), "sibling_on_left": step.sibling_on_left} for step in self.merkle_path
            ],
        )
        return data


ReceiptLike = Receipt | ledger_pb2.Receipt | Mapping[str, Any]
"""A receipt as this SDK, protobuf or the JSON form (a dict) holds it."""


def as_receipt(receipt: ReceiptLike) -> Receipt:
    """Any form of a receipt as a :class:`Receipt`."""
    if isinstance(receipt, Receipt):
        return receipt
    if isinstance(receipt, ledger_pb2.Receipt):
        return Receipt.from_proto(receipt)
    return Receipt.from_json(receipt)


def _key(value: bytes | str, what: str) -> bytes:
    """32 bytes given raw or as hex."""
    raw = bytes.fromhex(value) if isinstance(value, str) else value
    return check_bytes(raw, 32, what)


def verify_header(
    header: BlockHeader,
    engine_key: bytes | str,
    chain_id: bytes | str,
    error: type[VerificationError] = VerificationError,
) -> bytes:
    """Checks a signed header and returns its hash, recomputed from the fields.

    The hash the server stated (if any) must equal the recomputed one, and
    ``engine_signature`` must be the engine key's BIP340 signature of
    ``SHA-256("STLH" || 0x02 || chain id || hash)`` (§6.1).

    Raises:
        VerificationError: (or ``error``) naming the failed check.
    """
    engine_key = _key(engine_key, "an engine key")
    chain_id = _key(chain_id, "a chain id")
    block_hash = header.hash()
    if header.stated_hash is not None and header.stated_hash != block_hash:
        raise error(f"block {header.height}: the stated hash is not the hash of the header fields")
    if not verify_signature(engine_key, header_message(chain_id, block_hash), header.engine_signature):
        raise error(f"block {header.height} is not signed by engine key {engine_key.hex()} for chain {chain_id.hex()}")
    return block_hash


def verify_receipt(receipt: ReceiptLike, engine_key: bytes | str, chain_id: bytes | str) -> Receipt:
    """Verifies a receipt offline against the pinned engine key and chain id (§8.1).

    Every step must pass: the header hashes to its stated hash, the engine
    signed it for ``chain_id``, the Merkle path leads from the txid to the
    header's root, the path's sides prove position ``index_in_block`` of
    ``tx_count``, and ``sequence = first_sequence + index_in_block``. A JSON
    receipt naming a ``chain_id`` must name the pinned one. Keys may be given
    as bytes or hex.

    Returns:
        The receipt, as a :class:`Receipt`.

    Raises:
        ReceiptInvalid: naming the first check that failed.
    """
    try:
        parsed = as_receipt(receipt)
    except (KeyError, TypeError, ValueError) as malformed:
        raise ReceiptInvalid(f"malformed receipt: {malformed}") from malformed
    chain = _key(chain_id, "a chain id")
    if parsed.chain_id is not None and parsed.chain_id != chain:
        raise ReceiptInvalid(f"the receipt is for chain {parsed.chain_id.hex()}, not the pinned chain {chain.hex()}")
    if len(parsed.txid) != 32:
        raise ReceiptInvalid("the receipt's txid is not 32 bytes")
    try:
        block = parsed.block
        verify_header(block, engine_key, chain, ReceiptInvalid)
    except ValueError as malformed:
        raise ReceiptInvalid(f"malformed receipt header: {malformed}") from malformed
    if root_from_path(parsed.txid, parsed.merkle_path) != block.merkle_root:
        raise ReceiptInvalid("the Merkle path does not lead from the txid to the header's Merkle root")
    index = parsed.index_in_block
    if index >= block.tx_count or [s.sibling_on_left for s in parsed.merkle_path] != expected_sides(
        index, block.tx_count
    ):
        raise ReceiptInvalid(f"the Merkle path does not prove position {index} of {block.tx_count}")
    if parsed.sequence != block.first_sequence + index:
        raise ReceiptInvalid("sequence is not first_sequence + index_in_block")
    return parsed
