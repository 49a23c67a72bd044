from settled_client._proto.settled.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MovementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MOVEMENT_KIND_UNSPECIFIED: _ClassVar[MovementKind]
    MOVEMENT_KIND_PAYMENT: _ClassVar[MovementKind]
    MOVEMENT_KIND_MINT: _ClassVar[MovementKind]
    MOVEMENT_KIND_REDEEM: _ClassVar[MovementKind]
    MOVEMENT_KIND_CLAWBACK: _ClassVar[MovementKind]
    MOVEMENT_KIND_REFUND: _ClassVar[MovementKind]
    MOVEMENT_KIND_RECOVERY: _ClassVar[MovementKind]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_CREDIT: _ClassVar[Direction]
    DIRECTION_DEBIT: _ClassVar[Direction]

class StatementFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATEMENT_FORMAT_UNSPECIFIED: _ClassVar[StatementFormat]
    STATEMENT_FORMAT_CAMT053: _ClassVar[StatementFormat]
    STATEMENT_FORMAT_CSV: _ClassVar[StatementFormat]
    STATEMENT_FORMAT_CAMT052: _ClassVar[StatementFormat]
MOVEMENT_KIND_UNSPECIFIED: MovementKind
MOVEMENT_KIND_PAYMENT: MovementKind
MOVEMENT_KIND_MINT: MovementKind
MOVEMENT_KIND_REDEEM: MovementKind
MOVEMENT_KIND_CLAWBACK: MovementKind
MOVEMENT_KIND_REFUND: MovementKind
MOVEMENT_KIND_RECOVERY: MovementKind
DIRECTION_UNSPECIFIED: Direction
DIRECTION_CREDIT: Direction
DIRECTION_DEBIT: Direction
STATEMENT_FORMAT_UNSPECIFIED: StatementFormat
STATEMENT_FORMAT_CAMT053: StatementFormat
STATEMENT_FORMAT_CSV: StatementFormat
STATEMENT_FORMAT_CAMT052: StatementFormat

class SubscribeRequest(_message.Message):
    __slots__ = ("bank", "after_sequence", "until_height", "after_height")
    BANK_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    AFTER_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    bank: str
    after_sequence: int
    until_height: int
    after_height: int
    def __init__(self, bank: _Optional[str] = ..., after_sequence: _Optional[int] = ..., until_height: _Optional[int] = ..., after_height: _Optional[int] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("address", "merchant", "programme_id", "direction", "amount_minor", "counterparty", "counterparty_bank")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_BANK_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    merchant: str
    programme_id: int
    direction: Direction
    amount_minor: int
    counterparty: bytes
    counterparty_bank: str
    def __init__(self, address: _Optional[bytes] = ..., merchant: _Optional[str] = ..., programme_id: _Optional[int] = ..., direction: _Optional[_Union[Direction, str]] = ..., amount_minor: _Optional[int] = ..., counterparty: _Optional[bytes] = ..., counterparty_bank: _Optional[str] = ...) -> None: ...

class Movement(_message.Message):
    __slots__ = ("sequence", "height", "txid", "kind", "time_unix_ms", "merchant", "terminal", "entries")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    height: int
    txid: bytes
    kind: MovementKind
    time_unix_ms: int
    merchant: str
    terminal: str
    entries: _containers.RepeatedCompositeFieldContainer[Entry]
    def __init__(self, sequence: _Optional[int] = ..., height: _Optional[int] = ..., txid: _Optional[bytes] = ..., kind: _Optional[_Union[MovementKind, str]] = ..., time_unix_ms: _Optional[int] = ..., merchant: _Optional[str] = ..., terminal: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[Entry, _Mapping]]] = ...) -> None: ...

class ProgrammeTotals(_message.Message):
    __slots__ = ("programme_id", "credits_minor", "debits_minor")
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    CREDITS_MINOR_FIELD_NUMBER: _ClassVar[int]
    DEBITS_MINOR_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    credits_minor: int
    debits_minor: int
    def __init__(self, programme_id: _Optional[int] = ..., credits_minor: _Optional[int] = ..., debits_minor: _Optional[int] = ...) -> None: ...

class BankTotals(_message.Message):
    __slots__ = ("movements", "credit_entries", "debit_entries", "credits_minor", "debits_minor", "programmes")
    MOVEMENTS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    DEBIT_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CREDITS_MINOR_FIELD_NUMBER: _ClassVar[int]
    DEBITS_MINOR_FIELD_NUMBER: _ClassVar[int]
    PROGRAMMES_FIELD_NUMBER: _ClassVar[int]
    movements: int
    credit_entries: int
    debit_entries: int
    credits_minor: int
    debits_minor: int
    programmes: _containers.RepeatedCompositeFieldContainer[ProgrammeTotals]
    def __init__(self, movements: _Optional[int] = ..., credit_entries: _Optional[int] = ..., debit_entries: _Optional[int] = ..., credits_minor: _Optional[int] = ..., debits_minor: _Optional[int] = ..., programmes: _Optional[_Iterable[_Union[ProgrammeTotals, _Mapping]]] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("block", "totals")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    block: _ledger_pb2.BlockHeader
    totals: BankTotals
    def __init__(self, block: _Optional[_Union[_ledger_pb2.BlockHeader, _Mapping]] = ..., totals: _Optional[_Union[BankTotals, _Mapping]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("movement", "checkpoint")
    MOVEMENT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    movement: Movement
    checkpoint: Checkpoint
    def __init__(self, movement: _Optional[_Union[Movement, _Mapping]] = ..., checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ...) -> None: ...

class GetStatementRequest(_message.Message):
    __slots__ = ("bank", "date", "format")
    BANK_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    bank: str
    date: str
    format: StatementFormat
    def __init__(self, bank: _Optional[str] = ..., date: _Optional[str] = ..., format: _Optional[_Union[StatementFormat, str]] = ...) -> None: ...

class StatementChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class GetNetPositionsRequest(_message.Message):
    __slots__ = ("after_height", "until_height", "bank")
    AFTER_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    UNTIL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    after_height: int
    until_height: int
    bank: str
    def __init__(self, after_height: _Optional[int] = ..., until_height: _Optional[int] = ..., bank: _Optional[str] = ...) -> None: ...

class BankFlow(_message.Message):
    __slots__ = ("payer_bank", "payee_bank", "amount_minor")
    PAYER_BANK_FIELD_NUMBER: _ClassVar[int]
    PAYEE_BANK_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    payer_bank: str
    payee_bank: str
    amount_minor: int
    def __init__(self, payer_bank: _Optional[str] = ..., payee_bank: _Optional[str] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class NetPosition(_message.Message):
    __slots__ = ("bank", "paid_minor", "received_minor", "issued_minor", "redeemed_minor", "net_minor")
    BANK_FIELD_NUMBER: _ClassVar[int]
    PAID_MINOR_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_MINOR_FIELD_NUMBER: _ClassVar[int]
    ISSUED_MINOR_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_MINOR_FIELD_NUMBER: _ClassVar[int]
    NET_MINOR_FIELD_NUMBER: _ClassVar[int]
    bank: str
    paid_minor: int
    received_minor: int
    issued_minor: int
    redeemed_minor: int
    net_minor: int
    def __init__(self, bank: _Optional[str] = ..., paid_minor: _Optional[int] = ..., received_minor: _Optional[int] = ..., issued_minor: _Optional[int] = ..., redeemed_minor: _Optional[int] = ..., net_minor: _Optional[int] = ...) -> None: ...

class GetNetPositionsResponse(_message.Message):
    __slots__ = ("from_block", "until_block", "flows", "positions")
    FROM_BLOCK_FIELD_NUMBER: _ClassVar[int]
    UNTIL_BLOCK_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    from_block: _ledger_pb2.BlockHeader
    until_block: _ledger_pb2.BlockHeader
    flows: _containers.RepeatedCompositeFieldContainer[BankFlow]
    positions: _containers.RepeatedCompositeFieldContainer[NetPosition]
    def __init__(self, from_block: _Optional[_Union[_ledger_pb2.BlockHeader, _Mapping]] = ..., until_block: _Optional[_Union[_ledger_pb2.BlockHeader, _Mapping]] = ..., flows: _Optional[_Iterable[_Union[BankFlow, _Mapping]]] = ..., positions: _Optional[_Iterable[_Union[NetPosition, _Mapping]]] = ...) -> None: ...
