"""End to end against a real development server: pins, mints, payments, refusals, receipts."""

from __future__ import annotations

import os
from dataclasses import replace

import grpc
import pytest
from conftest import DevServer, fund

from settled_client import (
    Declined,
    InsufficientFunds,
    InvalidRequest,
    MerkleStep,
    Output,
    PinMismatch,
    Reason,
    Receipt,
    ReceiptInvalid,
    SecretKey,
    SettledClient,
    Unauthenticated,
    Witness,
    transfer,
    verify_receipt,
)
from settled_client._proto.settled.v1 import ledger_pb2


def test_connect_pins_the_ledger(server: DevServer, client: SettledClient) -> None:
    assert client.engine_key == server.engine_key
    info = client.info()
    assert info.protocol_version == 2
    assert info.chain_id == client.chain_id == client.block(0).header.hash()
    assert info.genesis.hash() == info.genesis_hash
    assert {key.address for key in server.issuer_keys} == set(info.issuer_public_keys)
    assert info.issuer_threshold == 2
    pinned = SettledClient(
        server.target, token=server.token, pin_engine_key=server.engine_key.hex(), pin_chain_id=client.chain_id
    )
    pinned.close()


def test_a_client_pinned_to_another_ledger_is_refused(server: DevServer, client: SettledClient) -> None:
    with pytest.raises(PinMismatch, match="chain id"):
        SettledClient(server.target, token=server.token, pin_chain_id=os.urandom(32))
    with pytest.raises(PinMismatch, match="engine key"):
        SettledClient(server.target, token=server.token, pin_engine_key=SecretKey.generate().address)


def test_an_unknown_token_is_unauthenticated(server: DevServer) -> None:
    with pytest.raises(Unauthenticated) as refused:
        SettledClient(server.target, token="not-a-token")
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_mint_then_pay(server: DevServer, client: SettledClient) -> None:
    wallet, merchant = SecretKey.generate(), SecretKey.generate()
    minted = fund(client, server.issuer_keys, wallet.address, client.parse_amount("100.00"))
    assert not minted.duplicate
    assert client.balance(wallet.address).total_minor == 10000
    # The same mint signed by another pair of issuers has the same txid: a duplicate.
    again = client.mint(list(minted.transaction.outputs), server.issuer_keys[1:], minted.transaction.reference)
    assert again.duplicate and again.receipt == minted.receipt

    paid = client.pay(wallet, merchant.address, "23.50", reference="pos-0042/inv-000123")
    assert [o.amount_minor for o in paid.transaction.outputs] == [2350, 7650]
    verify_receipt(paid.receipt, client.engine_key, client.chain_id)
    assert client.balance(merchant.address).total_minor == 2350
    assert client.balance(wallet.address).by_programme == {0: 7650}
    assert client.unspent(wallet.address)[0].outpoint == paid.transaction.outpoint(1)

    again = client.submit(paid.transaction)
    assert again.duplicate and again.receipt == paid.receipt
    looked_up = client.payment(paid.txid)
    assert looked_up is not None and looked_up.transaction == paid.transaction
    assert looked_up.receipt == paid.receipt
    assert client.payment(os.urandom(32)) is None


def test_pay_from_chosen_outpoints_and_several_inputs(server: DevServer, client: SettledClient) -> None:
    wallet, payee = SecretKey.generate(), SecretKey.generate()
    minted = fund(client, server.issuer_keys, wallet.address, 500, 300, 200)
    paid = client.pay(wallet, payee.address, 700)
    assert len(paid.transaction.inputs) == 2  # the two largest
    assert client.balance(wallet.address).total_minor == 300
    third = minted.transaction.outpoint(2)
    chosen = client.pay(wallet, payee.address, 150, inputs=[third])
    assert chosen.transaction.inputs == (third,)
    with pytest.raises(InsufficientFunds):
        client.build_payment(wallet, payee.address, 10_000)


def test_pay_on_a_stream(server: DevServer, client: SettledClient) -> None:
    wallets = [SecretKey.generate() for _ in range(8)]
    merchant = SecretKey.generate()
    minted = client.mint([Output(w.address, 1000) for w in wallets], server.issuer_keys, os.urandom(8))
    spent = client.pay(wallets[0], merchant.address, 1000)  # wallet 0's only output, spent already
    payments = [
        client.build_payment(w, merchant.address, 100 + i, inputs=[client.unspent(w.address)[0]])
        for i, w in enumerate(wallets[1:])
    ]
    thief = SecretKey.generate()
    double_spend = transfer([minted.transaction.outpoint(0)], [Output(thief.address, 1000)]).signed(
        client.chain_id, [wallets[0]]
    )
    results = list(client.submit_stream([*payments, double_spend]))
    assert sorted(r.index for r in results) == list(range(len(payments) + 1))
    by_index = {r.index: r for r in results}
    for index, tx in enumerate(payments):
        result = by_index[index]
        assert result.ok and result.confirmation is not None and result.transaction is tx
        assert result.confirmation.receipt.txid == tx.txid
    refused = by_index[len(payments)]
    assert not refused.ok and isinstance(refused.refusal, Declined)
    assert refused.refusal.reason is Reason.REASON_INPUT_SPENT
    assert refused.refusal.spent_by == spent.txid
    assert client.balance(merchant.address).total_minor == 1000 + sum(100 + i for i in range(7))


def test_a_double_spend_is_declined(server: DevServer, client: SettledClient) -> None:
    wallet, merchant, other = SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    fund(client, server.issuer_keys, wallet.address, 5000)
    [coin] = client.unspent(wallet.address)
    first = client.pay(wallet, merchant.address, 1000, inputs=[coin])
    with pytest.raises(Declined) as refused:
        client.pay(wallet, other.address, 2000, inputs=[coin])
    error = refused.value
    assert error.code is grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason is Reason.REASON_INPUT_SPENT
    assert error.spent_by == first.txid
    assert error.input == coin.outpoint
    assert not error.retryable


def test_a_bad_signature_is_an_invalid_request(server: DevServer, client: SettledClient) -> None:
    wallet, merchant = SecretKey.generate(), SecretKey.generate()
    fund(client, server.issuer_keys, wallet.address, 5000)
    [coin] = client.unspent(wallet.address)
    unsigned = transfer([coin.outpoint], [Output(merchant.address, 5000)])
    for signed in (
        unsigned.signed(os.urandom(32), [wallet]),  # signed for another ledger
        replace(unsigned, witnesses=(Witness(wallet.public_key, bytes(64)),)),  # not a signature
    ):
        with pytest.raises(InvalidRequest) as refused:
            client.submit(signed)
        error = refused.value
        assert error.code is grpc.StatusCode.INVALID_ARGUMENT
        assert error.reason is Reason.REASON_BAD_SIGNATURE
        assert [v.field for v in error.field_violations] == ["transaction.witnesses"]


def test_a_zero_amount_is_an_invalid_request(server: DevServer, client: SettledClient) -> None:
    wallet, merchant = SecretKey.generate(), SecretKey.generate()
    fund(client, server.issuer_keys, wallet.address, 5000)
    [coin] = client.unspent(wallet.address)
    tx = transfer([coin.outpoint], [Output(merchant.address, 0), Output(wallet.address, 5000)]).signed(
        client.chain_id, [wallet]
    )
    with pytest.raises(InvalidRequest) as refused:
        client.submit(tx)
    assert refused.value.reason is Reason.REASON_ZERO_AMOUNT
    assert [v.field for v in refused.value.field_violations] == ["transaction.outputs"]
    assert refused.value.message.startswith("REASON_ZERO_AMOUNT")
    with pytest.raises(ValueError):
        client.build_payment(wallet, merchant.address, 0)


def _flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _receipt_with_a_merkle_path(server: DevServer, client: SettledClient) -> Receipt:
    """A receipt of a block of several transactions: payments sent together on a stream."""
    for _ in range(10):
        wallets = [SecretKey.generate() for _ in range(12)]
        merchant = SecretKey.generate()
        client.mint([Output(w.address, 100) for w in wallets], server.issuer_keys, os.urandom(8))
        results = list(client.submit_stream(client.build_payment(w, merchant.address, 100) for w in wallets))
        receipts = [r.confirmation.receipt for r in results if r.confirmation is not None]
        assert len(receipts) == len(wallets)
        receipt = max(receipts, key=lambda r: len(r.merkle_path))
        if receipt.merkle_path:
            return receipt
    pytest.fail("every payment of 10 streams got a block of its own")


def test_receipts_verify_offline_and_tampering_is_refused(server: DevServer, client: SettledClient) -> None:
    receipt = _receipt_with_a_merkle_path(server, client)
    engine_key, chain_id = client.engine_key, client.chain_id

    # Offline: only the receipt, the engine key and the chain id.
    as_json = receipt.to_json(chain_id)
    assert verify_receipt(as_json, engine_key.hex(), chain_id.hex()) == Receipt.from_json(as_json)
    from_wire = ledger_pb2.Receipt.FromString(receipt.to_proto().SerializeToString())
    assert verify_receipt(from_wire, engine_key, chain_id) == receipt

    def refused(message: ledger_pb2.Receipt) -> None:
        with pytest.raises(ReceiptInvalid):
            verify_receipt(message, engine_key, chain_id)

    def tampered() -> ledger_pb2.Receipt:
        copy = ledger_pb2.Receipt()
        copy.CopyFrom(receipt.to_proto())
        return copy

    header = tampered()  # a byte of the header
    header.block.previous_hash = _flip(header.block.previous_hash, 7)
    refused(header)
    header = tampered()
    header.block.time_unix_ms += 1
    refused(header)
    signature = tampered()  # a byte of the signature
    signature.block.engine_signature = _flip(signature.block.engine_signature, 33)
    refused(signature)
    txid = tampered()  # a byte of the txid
    txid.txid = _flip(txid.txid, 31)
    refused(txid)
    longer = tampered()  # the Merkle path: a step more
    longer.merkle_path.append(MerkleStep(os.urandom(32), False).to_proto())
    refused(longer)
    sibling = tampered()  # a byte of a sibling, a side, a step less
    sibling.merkle_path[0].sibling = _flip(sibling.merkle_path[0].sibling)
    refused(sibling)
    side = tampered()
    side.merkle_path[-1].sibling_on_left = not side.merkle_path[-1].sibling_on_left
    refused(side)
    shorter = tampered()
    del shorter.merkle_path[-1]
    refused(shorter)
    sequence = tampered()
    sequence.sequence += 1
    refused(sequence)
    # The right receipt, for another ledger or engine key.
    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt, engine_key, os.urandom(32))
    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt, SecretKey.generate().address, chain_id)
    with pytest.raises(ReceiptInvalid):
        verify_receipt(receipt.to_json(os.urandom(32)), engine_key, chain_id)
