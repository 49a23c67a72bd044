from settled_client._proto.settled.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATUS_UNSPECIFIED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_CONFIRMED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_UNKNOWN: _ClassVar[PaymentStatus]
PAYMENT_STATUS_UNSPECIFIED: PaymentStatus
PAYMENT_STATUS_CONFIRMED: PaymentStatus
PAYMENT_STATUS_UNKNOWN: PaymentStatus

class SubmitPaymentRequest(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.Transaction
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.Transaction, _Mapping]] = ...) -> None: ...

class SubmitPaymentResponse(_message.Message):
    __slots__ = ("receipt", "duplicate")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    receipt: _ledger_pb2.Receipt
    duplicate: bool
    def __init__(self, receipt: _Optional[_Union[_ledger_pb2.Receipt, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class SubmitPaymentsRequest(_message.Message):
    __slots__ = ("client_id", "transaction")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    transaction: _ledger_pb2.Transaction
    def __init__(self, client_id: _Optional[int] = ..., transaction: _Optional[_Union[_ledger_pb2.Transaction, _Mapping]] = ...) -> None: ...

class SubmitPaymentsResponse(_message.Message):
    __slots__ = ("client_id", "txid", "receipt", "refusal", "duplicate")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    txid: bytes
    receipt: _ledger_pb2.Receipt
    refusal: _ledger_pb2.Refusal
    duplicate: bool
    def __init__(self, client_id: _Optional[int] = ..., txid: _Optional[bytes] = ..., receipt: _Optional[_Union[_ledger_pb2.Receipt, _Mapping]] = ..., refusal: _Optional[_Union[_ledger_pb2.Refusal, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("txid",)
    TXID_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    def __init__(self, txid: _Optional[bytes] = ...) -> None: ...

class GetPaymentResponse(_message.Message):
    __slots__ = ("status", "receipt", "transaction")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    status: PaymentStatus
    receipt: _ledger_pb2.Receipt
    transaction: _ledger_pb2.Transaction
    def __init__(self, status: _Optional[_Union[PaymentStatus, str]] = ..., receipt: _Optional[_Union[_ledger_pb2.Receipt, _Mapping]] = ..., transaction: _Optional[_Union[_ledger_pb2.Transaction, _Mapping]] = ...) -> None: ...
