from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PeerStatusRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: int
    def __init__(self, caller: _Optional[int] = ...) -> None: ...

class PeerStatusReply(_message.Message):
    __slots__ = ("voters", "caller_matched", "caller_matched_index")
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    CALLER_MATCHED_FIELD_NUMBER: _ClassVar[int]
    CALLER_MATCHED_INDEX_FIELD_NUMBER: _ClassVar[int]
    voters: _containers.RepeatedScalarFieldContainer[int]
    caller_matched: bool
    caller_matched_index: int
    def __init__(self, voters: _Optional[_Iterable[int]] = ..., caller_matched: _Optional[bool] = ..., caller_matched_index: _Optional[int] = ...) -> None: ...

class FetchBlocksRequest(_message.Message):
    __slots__ = ("from_height", "max_blocks")
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    max_blocks: int
    def __init__(self, from_height: _Optional[int] = ..., max_blocks: _Optional[int] = ...) -> None: ...

class FetchBlocksReply(_message.Message):
    __slots__ = ("blocks", "tip_height")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    TIP_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedScalarFieldContainer[bytes]
    tip_height: int
    def __init__(self, blocks: _Optional[_Iterable[bytes]] = ..., tip_height: _Optional[int] = ...) -> None: ...

class RaftRequest(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class RaftReply(_message.Message):
    __slots__ = ("payload", "error")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    error: bytes
    def __init__(self, payload: _Optional[bytes] = ..., error: _Optional[bytes] = ...) -> None: ...
