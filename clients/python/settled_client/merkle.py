"""The Merkle tree a block header commits to its txids with (PROTOCOL.md §7).

Leaves and inner nodes are hashed with distinct prefixes, and the last node of
an odd level is promoted unchanged (not paired with itself). A path lists the
steps from a leaf up to the root, leaf first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._proto.settled.v1 import ledger_pb2
from .encoding import check_bytes, sha256


@dataclass(frozen=True)
class MerkleStep:
    """One step of a Merkle path: the sibling hash, and whether it is on the left."""

    sibling: bytes
    sibling_on_left: bool

    def __post_init__(self) -> None:
        check_bytes(self.sibling, 32, "a Merkle sibling")

    def to_proto(self) -> ledger_pb2.MerkleStep:
        """As ``settled.v1.MerkleStep``."""
        return ledger_pb2.MerkleStep(sibling=self.sibling, sibling_on_left=self.sibling_on_left)

    @classmethod
    def from_proto(cls, message: ledger_pb2.MerkleStep) -> MerkleStep:
        """From ``settled.v1.MerkleStep``."""
        return cls(bytes(message.sibling), message.sibling_on_left)


def leaf_hash(txid: bytes) -> bytes:
    """SHA-256(0x00 || txid)."""
    return sha256(b"\x00" + txid)


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right)


def merkle_levels(txids: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, the leaf hashes first and the root last; [] for no txids."""
    if not txids:
        return []
    levels = [[leaf_hash(txid) for txid in txids]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2 == 1:
            above.append(below[-1])
        levels.append(above)
    return levels


def merkle_root(txids: Sequence[bytes]) -> bytes:
    """The root of ``txids`` in order; 32 zero bytes for none."""
    levels = merkle_levels(txids)
    return levels[-1][0] if levels else bytes(32)


def merkle_path(txids: Sequence[bytes], index: int) -> list[MerkleStep]:
    """The path proving the txid at ``index``; a promoted node contributes no step."""
    if not 0 <= index < len(txids):
        raise IndexError(f"no leaf {index} among {len(txids)}")
    steps = []
    for level in merkle_levels(txids)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            steps.append(MerkleStep(level[sibling], sibling < index))
        index //= 2
    return steps


def root_from_path(txid: bytes, path: Sequence[MerkleStep]) -> bytes:
    """The root a txid and its path lead to."""
    running = leaf_hash(txid)
    for step in path:
        running = node_hash(step.sibling, running) if step.sibling_on_left else node_hash(running, step.sibling)
    return running


def expected_sides(index: int, leaf_count: int) -> list[bool]:
    """The ``sibling_on_left`` flags, leaf first, that the path of leaf ``index`` has.

    Comparing a path's sides with these binds it to one position (§8.1, step 4).
    """
    if not 0 <= index < leaf_count:
        raise IndexError(f"no leaf {index} among {leaf_count}")
    sides = []
    width = leaf_count
    while width > 1:
        if index % 2 == 1:
            sides.append(True)
        elif index + 1 < width:
            sides.append(False)
        index //= 2
        width = (width + 1) // 2
    return sides
