from settled_client._proto.settled.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetBalanceRequest(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    def __init__(self, address: _Optional[bytes] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("total_minor", "balances", "unspent_count", "height")
    TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BALANCES_FIELD_NUMBER: _ClassVar[int]
    UNSPENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    total_minor: int
    balances: _containers.RepeatedCompositeFieldContainer[_ledger_pb2.Balance]
    unspent_count: int
    height: int
    def __init__(self, total_minor: _Optional[int] = ..., balances: _Optional[_Iterable[_Union[_ledger_pb2.Balance, _Mapping]]] = ..., unspent_count: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ListUnspentRequest(_message.Message):
    __slots__ = ("address", "page_size", "page_token")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    page_size: int
    page_token: str
    def __init__(self, address: _Optional[bytes] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUnspentResponse(_message.Message):
    __slots__ = ("outputs", "next_page_token")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_ledger_pb2.UnspentOutput]
    next_page_token: str
    def __init__(self, outputs: _Optional[_Iterable[_Union[_ledger_pb2.UnspentOutput, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
