"""Errors: the engine's typed refusals (PROTOCOL.md §10) and the SDK's own.

A refused call is a gRPC status whose details carry a ``google.rpc.ErrorInfo``
(``reason`` = the ``settled.v1.Reason`` name), a ``RetryInfo`` for
backpressure and a ``BadRequest`` naming the field at fault. The SDK raises it
as a :class:`Refused` subclass chosen by the gRPC code, with those details as
attributes; a refusal inside a ``SubmitPayments`` stream (a
``settled.v1.Refusal`` message) becomes the same classes. Programs act on
:attr:`Refused.reason`, never on the message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ._proto.settled.v1 import ledger_pb2
from .encoding import OutPoint

class Reason(IntEnum):
    """Why the engine refused: the ``settled.v1.Reason`` values, by the same names."""

    REASON_UNSPECIFIED = 0
    REASON_MALFORMED = 1
    REASON_UNSUPPORTED_VERSION = 2
    REASON_UNSUPPORTED_KIND = 3
    REASON_NO_INPUTS = 4
    REASON_NO_OUTPUTS = 5
    REASON_TOO_MANY_INPUTS = 6
    REASON_TOO_MANY_OUTPUTS = 7
    REASON_TOO_MANY_WITNESSES = 8
    REASON_REFERENCE_TOO_LONG = 9
    REASON_ZERO_AMOUNT = 10
    REASON_AMOUNT_OVERFLOW = 11
    REASON_DUPLICATE_INPUT = 12
    REASON_DUPLICATE_WITNESS = 13
    REASON_BAD_SIGNATURE = 14
    REASON_BAD_ADDRESS = 15
    REASON_MINT_HAS_INPUTS = 16
    REASON_MINT_NEEDS_REFERENCE = 17
    REASON_WRONG_SERVICE = 18
    REASON_NO_WITNESSES = 19
    REASON_INPUT_SPENT = 32
    REASON_INPUT_UNKNOWN = 33
    REASON_MISSING_WITNESS = 34
    REASON_UNEXPECTED_WITNESS = 35
    REASON_NOT_CONSERVED = 36
    REASON_MINT_THRESHOLD = 37
    REASON_SUPPLY_OVERFLOW = 38
    REASON_UNKNOWN_PROGRAMME = 39
    REASON_PROGRAMME_NOT_STARTED = 40
    REASON_PROGRAMME_EXPIRED = 41
    REASON_MCC_NOT_ALLOWED = 42
    REASON_TRANSFER_NOT_ALLOWED = 43
    REASON_PAYEE_NOT_ALLOWED = 44
    REASON_PROGRAMME_PAYMENT_LIMIT = 45
    REASON_TIER_PAYMENT_LIMIT = 46
    REASON_TIER_DAILY_LIMIT = 47
    REASON_BALANCE_CAP = 48
    REASON_PROGRAMME_NOT_EXPIRED = 49
    REASON_INVALID_REGISTRATION = 50
    REASON_ALREADY_REGISTERED = 51
    REASON_UNKNOWN_PARTICIPANT = 52
    REASON_REFERENCE_REUSED = 53
    REASON_NOT_A_MERCHANT = 54
    REASON_CLAIM_REQUIRED = 55
    REASON_BAD_PERIOD = 56
    REASON_NOT_DESIGNATED = 57
    REASON_CLAIM_ALREADY_PAID = 58
    REASON_UNKNOWN_PAYMENT = 59
    REASON_PERMISSION_DENIED = 60
    REASON_NOT_REFUNDABLE = 61
    REASON_REFUND_EXCEEDS_PAYMENT = 62
    REASON_REFUND_WINDOW_CLOSED = 63
    REASON_OVERLOADED = 64
    REASON_UNAVAILABLE = 65
    REASON_NOT_LEADER = 66
    REASON_WALLET_FROZEN = 67
    REASON_RECOVERY_NOT_ALLOWED = 68
    REASON_TOO_MANY_STREAMS = 69
    REASON_LIMIT_EXCEEDED = 70
    REASON_PARTICIPANT_INACTIVE = 71
    REASON_TIER_ANNUAL_LIMIT = 72

    @property
    def status_code(self) -> grpc.StatusCode:
        """The gRPC code a status refusing with this reason has (§10)."""
        if self.value in _RESOURCE_EXHAUSTED:
            return grpc.StatusCode.RESOURCE_EXHAUSTED
        if self.value in _UNAVAILABLE:
            return grpc.StatusCode.UNAVAILABLE
        if self is Reason.REASON_PERMISSION_DENIED:
            return grpc.StatusCode.PERMISSION_DENIED
        if 1 <= self.value <= 19 or self is Reason.REASON_INVALID_REGISTRATION:
            return grpc.StatusCode.INVALID_ARGUMENT
        return grpc.StatusCode.FAILED_PRECONDITION


_RESOURCE_EXHAUSTED = frozenset({64, 69, 70})
_UNAVAILABLE = frozenset({65, 66})


class SettledError(Exception):
    """Base class of every error this SDK raises."""


class AmountError(SettledError, ValueError):
    """Decimal text that is not an amount (PROTOCOL.md §2).

    ``code`` is ``empty``, ``not_decimal``, ``too_precise``, ``overflow`` or
    ``bad_exponent``, as the ``amounts`` test vectors name them.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class InsufficientFunds(SettledError, ValueError):
    """The payer's unspent outputs cannot cover a payment (within 16 inputs)."""


class ProtocolVersionError(SettledError):
    """The server speaks another protocol version than this SDK (2)."""


class VerificationError(SettledError):
    """Something the server sent does not check out against the pinned keys."""


class PinMismatch(VerificationError):
    """The server presents another engine key or chain id than the pinned one."""


class ReceiptInvalid(VerificationError):
    """A receipt fails offline verification (PROTOCOL.md §8.1)."""


class CheckpointInvalid(VerificationError):
    """A bank stream's checkpoint fails verification (PROTOCOL.md §9.4): stop and investigate."""


class StatementInvalid(VerificationError):
    """A statement does not hold together, or is not the one asked for (PROTOCOL.md §9.4).

    The message names the first thing found that does not hold.
    """


@dataclass(frozen=True)
class FieldViolation:
    """One ``google.rpc.BadRequest.FieldViolation``: the request field at fault."""

    field: str
    description: str


class Refused(SettledError):
    """The server refused a call: a gRPC error status, or a refusal in a stream.

    Attributes:
        code: the gRPC status code (for a stream refusal, the code its reason has).
        message: the human-readable detail (for logs; act on ``reason``).
        reason: the ``settled.v1.Reason``, or None when the status carries none
            (a plain ``INVALID_ARGUMENT`` about an argument, a transport error).
        reason_name: ``ErrorInfo.reason`` as sent, also for a reason newer than this SDK.
        input: the input concerned (``REASON_INPUT_SPENT``, ``_INPUT_UNKNOWN``, ...).
        spent_by: the txid that spent ``input`` (``REASON_INPUT_SPENT``), or of the
            mint that used the reference already (``REASON_REFERENCE_REUSED``).
        retry_after: seconds to wait before retrying (``RetryInfo``, ``retry_after_ms``).
        field_violations: the ``BadRequest`` violations (every ``INVALID_ARGUMENT``).
        leader: with ``REASON_NOT_LEADER``, the leader's address when known.
        outcome_unknown: with ``REASON_NOT_LEADER``, the payment may have been applied:
            resubmit the same transaction to the leader.
        metadata: the whole ``ErrorInfo.metadata``.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: Reason | None = None,
        reason_name: str = "",
        input: OutPoint | None = None,  # noqa: A002 - the protocol's name
        spent_by: bytes | None = None,
        retry_after: float | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        leader: str | None = None,
        outcome_unknown: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.reason_name = reason_name or (reason.name if reason is not None else "")
        self.input = input
        self.spent_by = spent_by
        self.retry_after = retry_after
        self.field_violations = field_violations
        self.leader = leader
        self.outcome_unknown = outcome_unknown
        self.metadata = dict(metadata or {})

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again later may succeed (§10).

        True for ``UNAVAILABLE`` (including ``REASON_NOT_LEADER``: to the leader),
        a refusal with a retry hint (``REASON_OVERLOADED``, ``_TOO_MANY_STREAMS``)
        and a passed deadline. A resubmitted transaction is applied at most once.
        """
        return (
            self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            or self.retry_after is not None
        )


class InvalidRequest(Refused):
    """``INVALID_ARGUMENT``: wrong whatever the ledger holds; fix it, do not retry as is."""


class Declined(Refused):
    """``FAILED_PRECONDITION``: declined by the ledger state or the registry."""


class NotFound(Refused):
    """``NOT_FOUND``: no such block, bank or programme."""


class PermissionDenied(Refused):
    """``PERMISSION_DENIED``: the caller's role does not reach what it asked for."""


class Unauthenticated(Refused):
    """``UNAUTHENTICATED``: no credential, an unknown one, or a revoked one."""


class OutOfRange(Refused):
    """``OUT_OF_RANGE``: a position past the ledger's tip (a stream cursor, a height)."""


class ResourceExhausted(Refused):
    """``RESOURCE_EXHAUSTED``: backpressure or a fixed limit (``retry_after`` says which)."""


class Overloaded(ResourceExhausted):
    """``REASON_OVERLOADED``: resubmit the same transaction after ``retry_after``."""


class Unavailable(Refused):
    """``UNAVAILABLE``: the engine cannot answer now (or the connection failed): retry."""


class NotLeader(Unavailable):
    """``REASON_NOT_LEADER``: a cluster follower; send to :attr:`Refused.leader`."""


_BY_CODE: dict[grpc.StatusCode, type[Refused]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.FAILED_PRECONDITION: Declined,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def _refused_class(code: grpc.StatusCode, reason: Reason | None) -> type[Refused]:
    if reason is Reason.REASON_OVERLOADED:
        return Overloaded
    if reason is Reason.REASON_NOT_LEADER:
        return NotLeader
    return _BY_CODE.get(code, Refused)


def _reason_named(name: str) -> Reason | None:
    try:
        return Reason[name]
    except KeyError:
        return None


def refused_from_rpc_error(error: grpc.RpcError) -> Refused:
    """The typed refusal of a failed gRPC call, with its status details decoded."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or ""
    info: error_details_pb2.ErrorInfo | None = None
    retry_after: float | None = None
    violations: list[FieldViolation] = []
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # details that do not match the status: ignore them
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToTimedelta().total_seconds()
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
    metadata = dict(info.metadata) if info is not None else {}
    reason_name = info.reason if info is not None else ""
    reason = _reason_named(reason_name)
    input_text = metadata.get("input")
    spent_by_text = metadata.get("spent_by_txid")
    return _refused_class(code, reason)(
        code,
        message,
        reason=reason,
        reason_name=reason_name,
        input=OutPoint.parse(input_text) if input_text else None,
        spent_by=bytes.fromhex(spent_by_text) if spent_by_text else None,
        retry_after=retry_after,
        field_violations=tuple(violations),
        leader=metadata.get("leader") or None,
        outcome_unknown=metadata.get("outcome_unknown") == "true",
        metadata=metadata,
    )


def refused_from_refusal(refusal: ledger_pb2.Refusal) -> Refused:
    """The typed refusal of a ``settled.v1.Refusal`` (an item of a payment stream)."""
    reason = Reason(refusal.reason) if refusal.reason in Reason._value2member_map_ else None
    code = reason.status_code if reason is not None else grpc.StatusCode.UNKNOWN
    return _refused_class(code, reason)(
        code,
        refusal.message,
        reason=reason,
        reason_name=ledger_pb2.Reason.Name(refusal.reason) if reason is not None else str(refusal.reason),
        input=OutPoint.from_proto(refusal.input) if refusal.HasField("input") else None,
        spent_by=bytes(refusal.spent_by_txid) or None,
        retry_after=refusal.retry_after_ms / 1000 if refusal.retry_after_ms else None,
        leader=refusal.leader or None,
        outcome_unknown=refusal.outcome_unknown,
    )
