"""Typed refusals: the Reason enum, its gRPC codes, and decoding status details."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from settled_client import (
    Declined,
    InvalidRequest,
    NotLeader,
    OutPoint,
    Overloaded,
    ProtocolVersionError,
    Reason,
    Refused,
    SettledClient,
    refused_from_refusal,
)
from settled_client._proto.settled.v1 import ledger_pb2, ledger_pb2_grpc


def test_reason_mirrors_the_proto_enum() -> None:
    assert {r.name: r.value for r in Reason} == dict(ledger_pb2.Reason.items())


@pytest.mark.parametrize("reason", list(Reason)[1:], ids=lambda r: r.name)
def test_reason_codes_follow_protocol_section_10(reason: Reason) -> None:
    value = reason.value
    expected = (
        grpc.StatusCode.INVALID_ARGUMENT
        if value <= 19 or value == 50
        else grpc.StatusCode.PERMISSION_DENIED
        if value == 60
        else grpc.StatusCode.RESOURCE_EXHAUSTED
        if value in (64, 69, 70)
        else grpc.StatusCode.UNAVAILABLE
        if value in (65, 66)
        else grpc.StatusCode.FAILED_PRECONDITION
    )
    assert reason.status_code == expected


def test_stream_refusals_are_typed() -> None:
    spent_by = bytes(range(32))
    spent = refused_from_refusal(
        ledger_pb2.Refusal(
            reason=ledger_pb2.REASON_INPUT_SPENT,
            message="REASON_INPUT_SPENT: spent",
            spent_by_txid=spent_by,
            input=ledger_pb2.OutPoint(txid=bytes(32), index=3),
        )
    )
    assert isinstance(spent, Declined)
    assert (spent.reason, spent.spent_by, spent.input) == (Reason.REASON_INPUT_SPENT, spent_by, OutPoint(bytes(32), 3))
    overloaded = refused_from_refusal(ledger_pb2.Refusal(reason=ledger_pb2.REASON_OVERLOADED, retry_after_ms=250))
    assert isinstance(overloaded, Overloaded) and overloaded.retry_after == 0.25 and overloaded.retryable
    leader = refused_from_refusal(ledger_pb2.Refusal(reason=ledger_pb2.REASON_NOT_LEADER, leader="10.0.0.2:50051"))
    assert isinstance(leader, NotLeader) and leader.leader == "10.0.0.2:50051" and leader.retryable
    assert not refused_from_refusal(ledger_pb2.Refusal(reason=ledger_pb2.REASON_ZERO_AMOUNT)).retryable


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class _FakeLedger(ledger_pb2_grpc.LedgerServiceServicer):
    """A server that speaks another protocol version, or refuses with rich details."""

    def __init__(self, protocol_version: int) -> None:
        self.protocol_version = protocol_version

    def GetInfo(self, request: Any, context: grpc.ServicerContext) -> ledger_pb2.GetInfoResponse:
        if self.protocol_version:
            return ledger_pb2.GetInfoResponse(protocol_version=self.protocol_version)
        info = error_details_pb2.ErrorInfo(
            reason="REASON_NOT_LEADER",
            domain="settled.v1",
            metadata={"leader": "127.0.0.2:50051", "outcome_unknown": "true", "input": "00" * 32 + ":7"},
        )
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=500_000_000))
        bad = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="txid", description="short")]
        )
        status = status_pb2.Status(
            code=code_pb2.UNAVAILABLE,
            message="REASON_NOT_LEADER: follower",
            details=[_packed(info), _packed(retry), _packed(bad)],
        )
        context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("abort_with_status returns never")


def _serve(protocol_version: int) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(_FakeLedger(protocol_version), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def test_another_protocol_version_is_refused() -> None:
    server, target = _serve(protocol_version=3)
    try:
        with pytest.raises(ProtocolVersionError, match="protocol version 3"):
            SettledClient(target)
    finally:
        server.stop(None)


def test_status_details_are_decoded() -> None:
    server, target = _serve(protocol_version=0)
    try:
        with pytest.raises(Refused) as refused:
            SettledClient(target)
    finally:
        server.stop(None)
    error = refused.value
    assert isinstance(error, NotLeader) and error.code is grpc.StatusCode.UNAVAILABLE
    assert error.reason is Reason.REASON_NOT_LEADER and error.reason_name == "REASON_NOT_LEADER"
    assert error.leader == "127.0.0.2:50051" and error.outcome_unknown
    assert error.input == OutPoint(bytes(32), 7)
    assert error.retry_after == 0.5
    assert [(v.field, v.description) for v in error.field_violations] == [("txid", "short")]
    assert error.message == "REASON_NOT_LEADER: follower"
    assert not isinstance(error, InvalidRequest)
