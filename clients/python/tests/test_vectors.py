"""The SDK against every published test vector it covers (docs/test-vectors.json).

Each encoding is rebuilt from the vector's fields with the SDK's own code and
compared byte for byte; every signature is verified, and re-created from the
secret key and the published auxiliary randomness; every receipt verifies, and
tampered ones are refused.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from settled_client import (
    PROTOCOL_VERSION,
    AmountError,
    BlockHeader,
    Genesis,
    MerkleStep,
    OutPoint,
    Output,
    Receipt,
    ReceiptInvalid,
    SecretKey,
    Transaction,
    TxKind,
    clawback_authorization,
    expected_sides,
    format_amount,
    genesis_block,
    header_message,
    is_valid_address,
    merkle_levels,
    merkle_path,
    merkle_root,
    parse_amount,
    recovery_authorization,
    root_from_path,
    verify_receipt,
    verify_signature,
    witness_message,
)

VECTORS_PATH = Path(
    os.environ.get("SETTLED_VECTORS", Path(__file__).resolve().parents[3] / "docs" / "test-vectors.json")
)
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text())
CHAIN = bytes.fromhex(VECTORS["chain_id"])
ENGINE_KEY = bytes.fromhex(VECTORS["genesis"]["engine_public_key"])
SECRETS = {key["name"]: SecretKey.from_hex(key["secret_hex"]) for key in VECTORS["keys"]}

# Every transaction vector, whatever its section: (section, vector).
ALL_TRANSACTIONS = [
    (section, tx)
    for section in (
        "transactions",
        "claims",
        "clawback_transactions",
        "refund_transactions",
        "redeem_transactions",
        "recovery_transactions",
    )
    for tx in VECTORS[section]
]


def header_of(fields: dict[str, Any]) -> BlockHeader:
    """A header from a vector's fields (hex byte strings)."""
    return BlockHeader(
        height=fields["height"],
        previous_hash=bytes.fromhex(fields["previous_hash"]),
        merkle_root=bytes.fromhex(fields["merkle_root"]),
        first_sequence=fields["first_sequence"],
        tx_count=fields["tx_count"],
        time_unix_ms=fields["time_unix_ms"],
        minted_total_minor=fields["minted_total_minor"],
        burned_total_minor=fields["burned_total_minor"],
        engine_signature=bytes.fromhex(fields["engine_signature"]),
    )


def transaction_of(vector: dict[str, Any], with_witnesses: bool = True) -> Transaction:
    """A transaction from a vector's fields."""
    tx = Transaction(
        kind=TxKind(vector["kind_code"]),
        inputs=tuple(OutPoint(bytes.fromhex(i["txid"]), i["index"]) for i in vector["inputs"]),
        outputs=tuple(
            Output(bytes.fromhex(o["address"]), o["amount_minor"], o["programme_id"]) for o in vector["outputs"]
        ),
        reference=bytes.fromhex(vector["reference_hex"]),
        version=vector["version"],
    )
    if not with_witnesses:
        return tx
    return Transaction.from_proto(
        _with_witnesses(tx.to_proto(), [(w["public_key"], w["signature"]) for w in vector["witnesses"]])
    )


def _with_witnesses(message: Any, witnesses: list[tuple[str, str]]) -> Any:
    for key, signature in witnesses:
        message.witnesses.add(public_key=bytes.fromhex(key), signature=bytes.fromhex(signature))
    return message


def test_versions() -> None:
    assert VECTORS["protocol_version"] == PROTOCOL_VERSION == 2
    assert VECTORS["format_version"] == 2


# -- amounts -------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["amounts"], ids=lambda v: f"{v['text']!r}@{v['exponent']}")
def test_amount(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(AmountError) as refused:
            parse_amount(vector["text"], vector["exponent"])
        assert refused.value.code == vector["error"]
    else:
        minor = parse_amount(vector["text"], vector["exponent"])
        assert minor == vector["amount_minor"]
        assert parse_amount(format_amount(minor, vector["exponent"]), vector["exponent"]) == minor


@pytest.mark.parametrize(
    ("minor", "exponent", "text"), [(1234, 2, "12.34"), (1200, 2, "12.00"), (5, 2, "0.05"), (7, 0, "7")]
)
def test_format_amount(minor: int, exponent: int, text: str) -> None:
    assert format_amount(minor, exponent) == text


# -- keys ----------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["keys"], ids=lambda v: v["name"])
def test_key(vector: dict[str, Any]) -> None:
    assert SecretKey.from_hex(vector["secret_hex"]).address.hex() == vector["public_key"]


def test_addresses_are_curve_points() -> None:
    assert all(is_valid_address(bytes.fromhex(key["public_key"])) for key in VECTORS["keys"])
    # BIP340 test vector 5: a public key not on the curve; and a key of another size.
    assert not is_valid_address(bytes.fromhex("eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34"))
    assert not is_valid_address(bytes(31))


def test_key_file(tmp_path: Path) -> None:
    path = tmp_path / "wallet.key"
    path.write_text(VECTORS["keys"][0]["secret_hex"] + "\n")
    assert SecretKey.load(path).address.hex() == VECTORS["keys"][0]["public_key"]


# -- genesis and chain id ------------------------------------------------


def test_genesis() -> None:
    g = VECTORS["genesis"]
    genesis = Genesis(
        g["currency"],
        g["exponent"],
        tuple(bytes.fromhex(k) for k in g["issuer_public_keys"]),
        g["issuer_threshold"],
        bytes.fromhex(g["engine_public_key"]),
    )
    assert genesis.canonical_bytes().hex() == g["canonical_hex"]
    assert genesis.hash().hex() == g["hash"]


def test_genesis_block_is_the_chain_id() -> None:
    b = VECTORS["genesis_block"]
    block0 = genesis_block(
        bytes.fromhex(VECTORS["genesis"]["hash"]), b["time_unix_ms"], bytes.fromhex(b["engine_signature"])
    )
    assert block0 == header_of(b)
    assert block0.canonical_bytes().hex() == b["canonical_hex"]
    assert block0.hash().hex() == b["hash"] == VECTORS["chain_id"]
    # Block 0 is signed with its own hash as chain id.
    assert bytes.fromhex(b["signed_message_hex"]) == b"STLH\x02" + CHAIN + block0.hash()
    assert header_message(CHAIN, block0.hash()).hex() == b["signed_message_hash"]
    assert block0.signature_valid(ENGINE_KEY, CHAIN)
    resigned = SECRETS["engine"].sign(header_message(CHAIN, block0.hash()), bytes.fromhex(b["engine_aux_hex"]))
    assert resigned.hex() == b["engine_signature"]


# -- transactions --------------------------------------------------------


@pytest.mark.parametrize(("section", "vector"), ALL_TRANSACTIONS, ids=lambda v: v if isinstance(v, str) else v["name"])
def test_transaction_bytes(section: str, vector: dict[str, Any]) -> None:
    tx = transaction_of(vector)
    assert tx.canonical_bytes().hex() == vector["canonical_hex"]
    assert tx.txid.hex() == vector["txid"]
    assert tx.record_bytes().hex() == vector["record_hex"]
    assert Transaction.from_proto(tx.to_proto()) == tx


def _signed_message(vector: dict[str, Any]) -> bytes:
    """What the vector's witnesses sign, rebuilt by the SDK from the transaction."""
    tx = transaction_of(vector, with_witnesses=False)
    if tx.kind is TxKind.CLAWBACK:
        programme, valid_until = int.from_bytes(tx.reference[:4], "big"), int.from_bytes(tx.reference[4:], "big")
        return clawback_authorization(CHAIN, programme, tx.outputs[0].address, valid_until)
    if tx.kind is TxKind.RECOVERY:
        return recovery_authorization(CHAIN, tx.reference[:32], tx.reference[32:])
    assert bytes.fromhex(vector["signed_message_hex"]) == b"STLW\x02" + CHAIN + tx.txid
    return tx.witness_message(CHAIN)


@pytest.mark.parametrize(("section", "vector"), ALL_TRANSACTIONS, ids=lambda v: v if isinstance(v, str) else v["name"])
def test_transaction_signatures(section: str, vector: dict[str, Any]) -> None:
    message = _signed_message(vector)
    assert message.hex() == vector["signed_message_hash"]
    for witness in vector["witnesses"]:
        key = SECRETS[witness["signer"]]
        assert key.public_key.hex() == witness["public_key"]
        signature = bytes.fromhex(witness["signature"])
        assert verify_signature(key.public_key, message, signature)
        assert not verify_signature(key.public_key, bytes(32), signature)
        assert key.sign(message, bytes.fromhex(witness["aux_hex"])) == signature


@pytest.mark.parametrize("vector", VECTORS["transactions"], ids=lambda v: v["name"])
def test_signing_reproduces_the_witnesses(vector: dict[str, Any]) -> None:
    unsigned = transaction_of(vector, with_witnesses=False)
    signed = unsigned
    for witness in vector["witnesses"]:
        signed = signed.signed(CHAIN, [SECRETS[witness["signer"]]], bytes.fromhex(witness["aux_hex"]))
    assert signed == transaction_of(vector)
    assert signed.txid == unsigned.txid
    assert signed.verify_witnesses(CHAIN)


@pytest.mark.parametrize("vector", VECTORS["clawback_authorizations"], ids=lambda v: str(v["programme_id"]))
def test_clawback_authorization(vector: dict[str, Any]) -> None:
    message = clawback_authorization(
        CHAIN, vector["programme_id"], bytes.fromhex(vector["treasury"]), vector["valid_until_unix_ms"]
    )
    assert message.hex() == vector["hash"]
    for witness in vector["witnesses"]:
        signature = bytes.fromhex(witness["signature"])
        assert verify_signature(bytes.fromhex(witness["public_key"]), message, signature)
        assert SECRETS[witness["signer"]].sign(message, bytes.fromhex(witness["aux_hex"])) == signature


# -- block and Merkle trees ----------------------------------------------


def test_block() -> None:
    block = VECTORS["block"]
    header = header_of(block["header"])
    assert header.canonical_bytes().hex() == block["header"]["canonical_hex"]
    assert header.hash().hex() == block["header"]["hash"]
    assert bytes.fromhex(block["header"]["signed_message_hex"]) == b"STLH\x02" + CHAIN + header.hash()
    assert header_message(CHAIN, header.hash()).hex() == block["header"]["signed_message_hash"]
    assert header.signature_valid(ENGINE_KEY, CHAIN)
    aux = bytes.fromhex(block["header"]["engine_aux_hex"])
    assert SECRETS["engine"].sign(header_message(CHAIN, header.hash()), aux) == header.engine_signature
    assert header.previous_hash == CHAIN  # block 1 follows block 0
    txids = [bytes.fromhex(t) for t in block["txids"]]
    assert txids == [bytes.fromhex(t["txid"]) for t in VECTORS["transactions"]]
    assert [[n.hex() for n in level] for level in merkle_levels(txids)] == block["merkle_levels"]
    assert merkle_root(txids) == header.merkle_root
    assert BlockHeader.from_proto(header.to_proto()) == header


@pytest.mark.parametrize("tree", VECTORS["merkle_trees"], ids=lambda t: f"{len(t['txids'])}-txids")
def test_merkle_tree(tree: dict[str, Any]) -> None:
    txids = [bytes.fromhex(t) for t in tree["txids"]]
    assert [[n.hex() for n in level] for level in merkle_levels(txids)] == tree["levels"]
    assert merkle_root(txids).hex() == tree["root"]
    for index, (txid, path) in enumerate(zip(txids, tree["paths"], strict=True)):
        steps = [MerkleStep(bytes.fromhex(s["sibling"]), s["sibling_on_left"]) for s in path]
        assert merkle_path(txids, index) == steps
        assert root_from_path(txid, steps).hex() == tree["root"]
        assert [s.sibling_on_left for s in steps] == expected_sides(index, len(txids))


# -- receipts ------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["receipts"], ids=lambda r: f"sequence-{r['sequence']}")
def test_receipt_verifies(vector: dict[str, Any]) -> None:
    receipt = verify_receipt(vector, ENGINE_KEY, CHAIN)
    assert receipt.to_json() == vector
    assert verify_receipt(receipt.to_proto(), ENGINE_KEY.hex(), CHAIN.hex()) == Receipt.from_proto(receipt.to_proto())


def _flip(hex_text: str, at: int = 0) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[at] ^= 0x01
    return raw.hex()


def _tampered(vector: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Copies of a receipt with one thing changed, each of which must be refused."""
    cases = []

    def case(name: str, change: Any) -> None:
        copied = copy.deepcopy(vector)
        change(copied)
        cases.append((name, copied))

    case("txid", lambda r: r.update(txid=_flip(r["txid"])))
    case("sequence", lambda r: r.update(sequence=r["sequence"] + 1))
    case("index", lambda r: r.update(index_in_block=(r["index_in_block"] + 1) % r["block"]["tx_count"]))
    case("signature", lambda r: r["block"].update(engine_signature=_flip(r["block"]["engine_signature"], 40)))
    case("header time", lambda r: r["block"].update(time_unix_ms=r["block"]["time_unix_ms"] + 1))
    case("header root", lambda r: r["block"].update(merkle_root=_flip(r["block"]["merkle_root"])))
    case("header minted", lambda r: r["block"].update(minted_total_minor=r["block"]["minted_total_minor"] + 1))
    case("stated hash", lambda r: r["block"].update(hash=_flip(r["block"]["hash"])))
    case("path sibling", lambda r: r["merkle_path"][0].update(sibling=_flip(r["merkle_path"][0]["sibling"])))
    case("path side", lambda r: r["merkle_path"][0].update(sibling_on_left=not r["merkle_path"][0]["sibling_on_left"]))
    case("path cut", lambda r: r["merkle_path"].pop())
    case("chain named", lambda r: r.update(chain_id=VECTORS["other_chain"]["chain_id"]))
    return cases


@pytest.mark.parametrize("vector", VECTORS["receipts"], ids=lambda r: f"sequence-{r['sequence']}")
def test_tampered_receipts_are_refused(vector: dict[str, Any]) -> None:
    for name, tampered in _tampered(vector):
        with pytest.raises(ReceiptInvalid):
            verify_receipt(tampered, ENGINE_KEY, CHAIN)
            pytest.fail(f"a receipt with its {name} changed verified")


@pytest.mark.parametrize("vector", VECTORS["receipts"], ids=lambda r: f"sequence-{r['sequence']}")
def test_receipt_refused_for_another_chain_or_key(vector: dict[str, Any]) -> None:
    other_chain = bytes.fromhex(VECTORS["other_chain"]["chain_id"])
    unnamed = {k: v for k, v in vector.items() if k != "chain_id"}
    with pytest.raises(ReceiptInvalid):
        verify_receipt(unnamed, ENGINE_KEY, other_chain)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(vector, SECRETS["alice"].address, CHAIN)


# -- another ledger with the same keys -----------------------------------


def test_other_chain() -> None:
    other = VECTORS["other_chain"]
    g = VECTORS["genesis"]
    genesis = Genesis(
        "HKD",
        g["exponent"],
        tuple(bytes.fromhex(k) for k in g["issuer_public_keys"]),
        g["issuer_threshold"],
        bytes.fromhex(g["engine_public_key"]),
    )
    assert genesis.canonical_bytes().hex() == other["genesis_canonical_hex"]
    block0 = genesis_block(genesis.hash(), VECTORS["genesis_block"]["time_unix_ms"])
    assert block0.canonical_bytes().hex() == other["genesis_block_canonical_hex"]
    other_chain = block0.hash()
    assert other_chain.hex() == other["chain_id"]
    refused = next(t for t in VECTORS["transactions"] if t["name"] == other["refused_transaction"])
    tx = transaction_of(refused)
    assert witness_message(other_chain, tx.txid).hex() == other["witness_message_hash_there"]
    assert tx.verify_witnesses(CHAIN)
    assert not tx.verify_witnesses(other_chain)
    header = header_of(VECTORS["block"]["header"])
    assert header.signature_valid(ENGINE_KEY, CHAIN)
    assert not header.signature_valid(ENGINE_KEY, other_chain)
