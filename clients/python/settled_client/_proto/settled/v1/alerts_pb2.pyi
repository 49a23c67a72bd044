from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchAlertsRequest(_message.Message):
    __slots__ = ("programme_id", "after_alert", "follow")
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_ALERT_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    after_alert: int
    follow: bool
    def __init__(self, programme_id: _Optional[int] = ..., after_alert: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class WatchAlertsResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: IntegrityAlert
    def __init__(self, alert: _Optional[_Union[IntegrityAlert, _Mapping]] = ...) -> None: ...

class IntegrityAlert(_message.Message):
    __slots__ = ("number", "rule", "programme_id", "merchant_id", "sequence", "time_unix_ms", "txids", "detail")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TXIDS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    number: int
    rule: str
    programme_id: int
    merchant_id: str
    sequence: int
    time_unix_ms: int
    txids: _containers.RepeatedScalarFieldContainer[bytes]
    detail: str
    def __init__(self, number: _Optional[int] = ..., rule: _Optional[str] = ..., programme_id: _Optional[int] = ..., merchant_id: _Optional[str] = ..., sequence: _Optional[int] = ..., time_unix_ms: _Optional[int] = ..., txids: _Optional[_Iterable[bytes]] = ..., detail: _Optional[str] = ...) -> None: ...
