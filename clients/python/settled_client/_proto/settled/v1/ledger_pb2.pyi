from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransactionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_KIND_UNSPECIFIED: _ClassVar[TransactionKind]
    TRANSACTION_KIND_TRANSFER: _ClassVar[TransactionKind]
    TRANSACTION_KIND_MINT: _ClassVar[TransactionKind]
    TRANSACTION_KIND_REDEEM: _ClassVar[TransactionKind]
    TRANSACTION_KIND_CLAWBACK: _ClassVar[TransactionKind]
    TRANSACTION_KIND_REFUND: _ClassVar[TransactionKind]
    TRANSACTION_KIND_RECOVERY: _ClassVar[TransactionKind]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_MALFORMED: _ClassVar[Reason]
    REASON_UNSUPPORTED_VERSION: _ClassVar[Reason]
    REASON_UNSUPPORTED_KIND: _ClassVar[Reason]
    REASON_NO_INPUTS: _ClassVar[Reason]
    REASON_NO_OUTPUTS: _ClassVar[Reason]
    REASON_TOO_MANY_INPUTS: _ClassVar[Reason]
    REASON_TOO_MANY_OUTPUTS: _ClassVar[Reason]
    REASON_TOO_MANY_WITNESSES: _ClassVar[Reason]
    REASON_REFERENCE_TOO_LONG: _ClassVar[Reason]
    REASON_ZERO_AMOUNT: _ClassVar[Reason]
    REASON_AMOUNT_OVERFLOW: _ClassVar[Reason]
    REASON_DUPLICATE_INPUT: _ClassVar[Reason]
    REASON_DUPLICATE_WITNESS: _ClassVar[Reason]
    REASON_BAD_SIGNATURE: _ClassVar[Reason]
    REASON_BAD_ADDRESS: _ClassVar[Reason]
    REASON_MINT_HAS_INPUTS: _ClassVar[Reason]
    REASON_MINT_NEEDS_REFERENCE: _ClassVar[Reason]
    REASON_WRONG_SERVICE: _ClassVar[Reason]
    REASON_NO_WITNESSES: _ClassVar[Reason]
    REASON_INPUT_SPENT: _ClassVar[Reason]
    REASON_INPUT_UNKNOWN: _ClassVar[Reason]
    REASON_MISSING_WITNESS: _ClassVar[Reason]
    REASON_UNEXPECTED_WITNESS: _ClassVar[Reason]
    REASON_NOT_CONSERVED: _ClassVar[Reason]
    REASON_MINT_THRESHOLD: _ClassVar[Reason]
    REASON_SUPPLY_OVERFLOW: _ClassVar[Reason]
    REASON_UNKNOWN_PROGRAMME: _ClassVar[Reason]
    REASON_PROGRAMME_NOT_STARTED: _ClassVar[Reason]
    REASON_PROGRAMME_EXPIRED: _ClassVar[Reason]
    REASON_MCC_NOT_ALLOWED: _ClassVar[Reason]
    REASON_TRANSFER_NOT_ALLOWED: _ClassVar[Reason]
    REASON_PAYEE_NOT_ALLOWED: _ClassVar[Reason]
    REASON_PROGRAMME_PAYMENT_LIMIT: _ClassVar[Reason]
    REASON_TIER_PAYMENT_LIMIT: _ClassVar[Reason]
    REASON_TIER_DAILY_LIMIT: _ClassVar[Reason]
    REASON_BALANCE_CAP: _ClassVar[Reason]
    REASON_REFERENCE_REUSED: _ClassVar[Reason]
    REASON_NOT_A_MERCHANT: _ClassVar[Reason]
    REASON_CLAIM_REQUIRED: _ClassVar[Reason]
    REASON_BAD_PERIOD: _ClassVar[Reason]
    REASON_NOT_DESIGNATED: _ClassVar[Reason]
    REASON_CLAIM_ALREADY_PAID: _ClassVar[Reason]
    REASON_UNKNOWN_PAYMENT: _ClassVar[Reason]
    REASON_NOT_REFUNDABLE: _ClassVar[Reason]
    REASON_REFUND_EXCEEDS_PAYMENT: _ClassVar[Reason]
    REASON_REFUND_WINDOW_CLOSED: _ClassVar[Reason]
    REASON_WALLET_FROZEN: _ClassVar[Reason]
    REASON_RECOVERY_NOT_ALLOWED: _ClassVar[Reason]
    REASON_PROGRAMME_NOT_EXPIRED: _ClassVar[Reason]
    REASON_INVALID_REGISTRATION: _ClassVar[Reason]
    REASON_ALREADY_REGISTERED: _ClassVar[Reason]
    REASON_UNKNOWN_PARTICIPANT: _ClassVar[Reason]
    REASON_PERMISSION_DENIED: _ClassVar[Reason]
    REASON_OVERLOADED: _ClassVar[Reason]
    REASON_UNAVAILABLE: _ClassVar[Reason]
    REASON_NOT_LEADER: _ClassVar[Reason]
    REASON_TOO_MANY_STREAMS: _ClassVar[Reason]
    REASON_LIMIT_EXCEEDED: _ClassVar[Reason]
    REASON_PARTICIPANT_INACTIVE: _ClassVar[Reason]
    REASON_TIER_ANNUAL_LIMIT: _ClassVar[Reason]

class CallerRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALLER_ROLE_UNSPECIFIED: _ClassVar[CallerRole]
    CALLER_ROLE_OPERATOR: _ClassVar[CallerRole]
    CALLER_ROLE_ISSUER: _ClassVar[CallerRole]
    CALLER_ROLE_PROGRAMME_ADMINISTRATOR: _ClassVar[CallerRole]
    CALLER_ROLE_AUDITOR: _ClassVar[CallerRole]
    CALLER_ROLE_BANK: _ClassVar[CallerRole]
    CALLER_ROLE_TERMINAL: _ClassVar[CallerRole]
    CALLER_ROLE_DEVELOPMENT: _ClassVar[CallerRole]
TRANSACTION_KIND_UNSPECIFIED: TransactionKind
TRANSACTION_KIND_TRANSFER: TransactionKind
TRANSACTION_KIND_MINT: TransactionKind
TRANSACTION_KIND_REDEEM: TransactionKind
TRANSACTION_KIND_CLAWBACK: TransactionKind
TRANSACTION_KIND_REFUND: TransactionKind
TRANSACTION_KIND_RECOVERY: TransactionKind
REASON_UNSPECIFIED: Reason
REASON_MALFORMED: Reason
REASON_UNSUPPORTED_VERSION: Reason
REASON_UNSUPPORTED_KIND: Reason
REASON_NO_INPUTS: Reason
REASON_NO_OUTPUTS: Reason
REASON_TOO_MANY_INPUTS: Reason
REASON_TOO_MANY_OUTPUTS: Reason
REASON_TOO_MANY_WITNESSES: Reason
REASON_REFERENCE_TOO_LONG: Reason
REASON_ZERO_AMOUNT: Reason
REASON_AMOUNT_OVERFLOW: Reason
REASON_DUPLICATE_INPUT: Reason
REASON_DUPLICATE_WITNESS: Reason
REASON_BAD_SIGNATURE: Reason
REASON_BAD_ADDRESS: Reason
REASON_MINT_HAS_INPUTS: Reason
REASON_MINT_NEEDS_REFERENCE: Reason
REASON_WRONG_SERVICE: Reason
REASON_NO_WITNESSES: Reason
REASON_INPUT_SPENT: Reason
REASON_INPUT_UNKNOWN: Reason
REASON_MISSING_WITNESS: Reason
REASON_UNEXPECTED_WITNESS: Reason
REASON_NOT_CONSERVED: Reason
REASON_MINT_THRESHOLD: Reason
REASON_SUPPLY_OVERFLOW: Reason
REASON_UNKNOWN_PROGRAMME: Reason
REASON_PROGRAMME_NOT_STARTED: Reason
REASON_PROGRAMME_EXPIRED: Reason
REASON_MCC_NOT_ALLOWED: Reason
REASON_TRANSFER_NOT_ALLOWED: Reason
REASON_PAYEE_NOT_ALLOWED: Reason
REASON_PROGRAMME_PAYMENT_LIMIT: Reason
REASON_TIER_PAYMENT_LIMIT: Reason
REASON_TIER_DAILY_LIMIT: Reason
REASON_BALANCE_CAP: Reason
REASON_REFERENCE_REUSED: Reason
REASON_NOT_A_MERCHANT: Reason
REASON_CLAIM_REQUIRED: Reason
REASON_BAD_PERIOD: Reason
REASON_NOT_DESIGNATED: Reason
REASON_CLAIM_ALREADY_PAID: Reason
REASON_UNKNOWN_PAYMENT: Reason
REASON_NOT_REFUNDABLE: Reason
REASON_REFUND_EXCEEDS_PAYMENT: Reason
REASON_REFUND_WINDOW_CLOSED: Reason
REASON_WALLET_FROZEN: Reason
REASON_RECOVERY_NOT_ALLOWED: Reason
REASON_PROGRAMME_NOT_EXPIRED: Reason
REASON_INVALID_REGISTRATION: Reason
REASON_ALREADY_REGISTERED: Reason
REASON_UNKNOWN_PARTICIPANT: Reason
REASON_PERMISSION_DENIED: Reason
REASON_OVERLOADED: Reason
REASON_UNAVAILABLE: Reason
REASON_NOT_LEADER: Reason
REASON_TOO_MANY_STREAMS: Reason
REASON_LIMIT_EXCEEDED: Reason
REASON_PARTICIPANT_INACTIVE: Reason
REASON_TIER_ANNUAL_LIMIT: Reason
CALLER_ROLE_UNSPECIFIED: CallerRole
CALLER_ROLE_OPERATOR: CallerRole
CALLER_ROLE_ISSUER: CallerRole
CALLER_ROLE_PROGRAMME_ADMINISTRATOR: CallerRole
CALLER_ROLE_AUDITOR: CallerRole
CALLER_ROLE_BANK: CallerRole
CALLER_ROLE_TERMINAL: CallerRole
CALLER_ROLE_DEVELOPMENT: CallerRole

class OutPoint(_message.Message):
    __slots__ = ("txid", "index")
    TXID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    index: int
    def __init__(self, txid: _Optional[bytes] = ..., index: _Optional[int] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("address", "amount_minor", "programme_id")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    amount_minor: int
    programme_id: int
    def __init__(self, address: _Optional[bytes] = ..., amount_minor: _Optional[int] = ..., programme_id: _Optional[int] = ...) -> None: ...

class Witness(_message.Message):
    __slots__ = ("public_key", "signature")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    signature: bytes
    def __init__(self, public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("version", "kind", "inputs", "outputs", "reference", "witnesses")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    WITNESSES_FIELD_NUMBER: _ClassVar[int]
    version: int
    kind: TransactionKind
    inputs: _containers.RepeatedCompositeFieldContainer[OutPoint]
    outputs: _containers.RepeatedCompositeFieldContainer[Output]
    reference: bytes
    witnesses: _containers.RepeatedCompositeFieldContainer[Witness]
    def __init__(self, version: _Optional[int] = ..., kind: _Optional[_Union[TransactionKind, str]] = ..., inputs: _Optional[_Iterable[_Union[OutPoint, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[Output, _Mapping]]] = ..., reference: _Optional[bytes] = ..., witnesses: _Optional[_Iterable[_Union[Witness, _Mapping]]] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("reason", "message", "spent_by_txid", "input", "retry_after_ms", "leader", "outcome_unknown")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SPENT_BY_TXID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    reason: Reason
    message: str
    spent_by_txid: bytes
    input: OutPoint
    retry_after_ms: int
    leader: str
    outcome_unknown: bool
    def __init__(self, reason: _Optional[_Union[Reason, str]] = ..., message: _Optional[str] = ..., spent_by_txid: _Optional[bytes] = ..., input: _Optional[_Union[OutPoint, _Mapping]] = ..., retry_after_ms: _Optional[int] = ..., leader: _Optional[str] = ..., outcome_unknown: _Optional[bool] = ...) -> None: ...

class BlockHeader(_message.Message):
    __slots__ = ("height", "previous_hash", "merkle_root", "first_sequence", "tx_count", "time_unix_ms", "minted_total_minor", "burned_total_minor", "hash", "engine_signature")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HASH_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TX_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MINTED_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BURNED_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    ENGINE_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    height: int
    previous_hash: bytes
    merkle_root: bytes
    first_sequence: int
    tx_count: int
    time_unix_ms: int
    minted_total_minor: int
    burned_total_minor: int
    hash: bytes
    engine_signature: bytes
    def __init__(self, height: _Optional[int] = ..., previous_hash: _Optional[bytes] = ..., merkle_root: _Optional[bytes] = ..., first_sequence: _Optional[int] = ..., tx_count: _Optional[int] = ..., time_unix_ms: _Optional[int] = ..., minted_total_minor: _Optional[int] = ..., burned_total_minor: _Optional[int] = ..., hash: _Optional[bytes] = ..., engine_signature: _Optional[bytes] = ...) -> None: ...

class MerkleStep(_message.Message):
    __slots__ = ("sibling", "sibling_on_left")
    SIBLING_FIELD_NUMBER: _ClassVar[int]
    SIBLING_ON_LEFT_FIELD_NUMBER: _ClassVar[int]
    sibling: bytes
    sibling_on_left: bool
    def __init__(self, sibling: _Optional[bytes] = ..., sibling_on_left: _Optional[bool] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("txid", "sequence", "block", "index_in_block", "merkle_path")
    TXID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    INDEX_IN_BLOCK_FIELD_NUMBER: _ClassVar[int]
    MERKLE_PATH_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    sequence: int
    block: BlockHeader
    index_in_block: int
    merkle_path: _containers.RepeatedCompositeFieldContainer[MerkleStep]
    def __init__(self, txid: _Optional[bytes] = ..., sequence: _Optional[int] = ..., block: _Optional[_Union[BlockHeader, _Mapping]] = ..., index_in_block: _Optional[int] = ..., merkle_path: _Optional[_Iterable[_Union[MerkleStep, _Mapping]]] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("programme_id", "amount_minor")
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    amount_minor: int
    def __init__(self, programme_id: _Optional[int] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class UnspentOutput(_message.Message):
    __slots__ = ("outpoint", "output")
    OUTPOINT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    outpoint: OutPoint
    output: Output
    def __init__(self, outpoint: _Optional[_Union[OutPoint, _Mapping]] = ..., output: _Optional[_Union[Output, _Mapping]] = ...) -> None: ...

class GetCallerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCallerResponse(_message.Message):
    __slots__ = ("role", "id")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    role: CallerRole
    id: str
    def __init__(self, role: _Optional[_Union[CallerRole, str]] = ..., id: _Optional[str] = ...) -> None: ...

class WatchLedgerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LedgerStatus(_message.Message):
    __slots__ = ("tip", "transactions", "minted_total_minor", "burned_total_minor", "outstanding_minor", "blocks_per_second", "transactions_per_second", "time_unix_ms", "confirmation", "last_audit", "cluster")
    TIP_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    MINTED_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BURNED_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_MINOR_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATION_FIELD_NUMBER: _ClassVar[int]
    LAST_AUDIT_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    tip: BlockHeader
    transactions: int
    minted_total_minor: int
    burned_total_minor: int
    outstanding_minor: int
    blocks_per_second: float
    transactions_per_second: float
    time_unix_ms: int
    confirmation: LatencyPercentiles
    last_audit: AuditResult
    cluster: ClusterStatus
    def __init__(self, tip: _Optional[_Union[BlockHeader, _Mapping]] = ..., transactions: _Optional[int] = ..., minted_total_minor: _Optional[int] = ..., burned_total_minor: _Optional[int] = ..., outstanding_minor: _Optional[int] = ..., blocks_per_second: _Optional[float] = ..., transactions_per_second: _Optional[float] = ..., time_unix_ms: _Optional[int] = ..., confirmation: _Optional[_Union[LatencyPercentiles, _Mapping]] = ..., last_audit: _Optional[_Union[AuditResult, _Mapping]] = ..., cluster: _Optional[_Union[ClusterStatus, _Mapping]] = ...) -> None: ...

class LatencyPercentiles(_message.Message):
    __slots__ = ("count", "p50_ms", "p90_ms", "p99_ms", "max_ms")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P90_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    def __init__(self, count: _Optional[int] = ..., p50_ms: _Optional[float] = ..., p90_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., max_ms: _Optional[float] = ...) -> None: ...

class AuditResult(_message.Message):
    __slots__ = ("time_unix_ms", "height", "blocks", "transactions", "sound", "failures", "first_failure")
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    SOUND_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    FIRST_FAILURE_FIELD_NUMBER: _ClassVar[int]
    time_unix_ms: int
    height: int
    blocks: int
    transactions: int
    sound: bool
    failures: int
    first_failure: str
    def __init__(self, time_unix_ms: _Optional[int] = ..., height: _Optional[int] = ..., blocks: _Optional[int] = ..., transactions: _Optional[int] = ..., sound: _Optional[bool] = ..., failures: _Optional[int] = ..., first_failure: _Optional[str] = ...) -> None: ...

class ExportBlocksRequest(_message.Message):
    __slots__ = ("from_height",)
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    def __init__(self, from_height: _Optional[int] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("height", "data", "last")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    height: int
    data: bytes
    last: bool
    def __init__(self, height: _Optional[int] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuditResponse(_message.Message):
    __slots__ = ("blocks", "transactions", "minted_minor", "burned_minor", "unspent_minor", "unspent_count", "failures")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    MINTED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BURNED_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNSPENT_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNSPENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    blocks: int
    transactions: int
    minted_minor: int
    burned_minor: int
    unspent_minor: int
    unspent_count: int
    failures: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, blocks: _Optional[int] = ..., transactions: _Optional[int] = ..., minted_minor: _Optional[int] = ..., burned_minor: _Optional[int] = ..., unspent_minor: _Optional[int] = ..., unspent_count: _Optional[int] = ..., failures: _Optional[_Iterable[str]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ("count_unspent",)
    COUNT_UNSPENT_FIELD_NUMBER: _ClassVar[int]
    count_unspent: bool
    def __init__(self, count_unspent: _Optional[bool] = ...) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("engine_public_key", "currency", "currency_exponent", "issuer_public_keys", "issuer_threshold", "tip", "next_sequence", "unspent_total_minor", "unspent_count", "genesis_hash", "day_offset_minutes", "cluster", "chain_id", "protocol_version")
    ENGINE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_EXPONENT_FIELD_NUMBER: _ClassVar[int]
    ISSUER_PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TIP_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UNSPENT_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNSPENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    GENESIS_HASH_FIELD_NUMBER: _ClassVar[int]
    DAY_OFFSET_MINUTES_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    engine_public_key: bytes
    currency: str
    currency_exponent: int
    issuer_public_keys: _containers.RepeatedScalarFieldContainer[bytes]
    issuer_threshold: int
    tip: BlockHeader
    next_sequence: int
    unspent_total_minor: int
    unspent_count: int
    genesis_hash: bytes
    day_offset_minutes: int
    cluster: ClusterStatus
    chain_id: bytes
    protocol_version: int
    def __init__(self, engine_public_key: _Optional[bytes] = ..., currency: _Optional[str] = ..., currency_exponent: _Optional[int] = ..., issuer_public_keys: _Optional[_Iterable[bytes]] = ..., issuer_threshold: _Optional[int] = ..., tip: _Optional[_Union[BlockHeader, _Mapping]] = ..., next_sequence: _Optional[int] = ..., unspent_total_minor: _Optional[int] = ..., unspent_count: _Optional[int] = ..., genesis_hash: _Optional[bytes] = ..., day_offset_minutes: _Optional[int] = ..., cluster: _Optional[_Union[ClusterStatus, _Mapping]] = ..., chain_id: _Optional[bytes] = ..., protocol_version: _Optional[int] = ...) -> None: ...

class ClusterStatus(_message.Message):
    __slots__ = ("node_id", "leading", "term", "leader_id", "leader_address", "committed_height", "lag_blocks", "members", "replicas")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    LEADING_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAG_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    node_id: int
    leading: bool
    term: int
    leader_id: int
    leader_address: str
    committed_height: int
    lag_blocks: int
    members: _containers.RepeatedScalarFieldContainer[int]
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaStatus]
    def __init__(self, node_id: _Optional[int] = ..., leading: _Optional[bool] = ..., term: _Optional[int] = ..., leader_id: _Optional[int] = ..., leader_address: _Optional[str] = ..., committed_height: _Optional[int] = ..., lag_blocks: _Optional[int] = ..., members: _Optional[_Iterable[int]] = ..., replicas: _Optional[_Iterable[_Union[ReplicaStatus, _Mapping]]] = ...) -> None: ...

class ReplicaStatus(_message.Message):
    __slots__ = ("id", "role", "matched_log_index", "lag_entries", "api_addr")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    API_ADDR_FIELD_NUMBER: _ClassVar[int]
    id: int
    role: str
    matched_log_index: int
    lag_entries: int
    api_addr: str
    def __init__(self, id: _Optional[int] = ..., role: _Optional[str] = ..., matched_log_index: _Optional[int] = ..., lag_entries: _Optional[int] = ..., api_addr: _Optional[str] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("height",)
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    height: int
    def __init__(self, height: _Optional[int] = ...) -> None: ...

class GetBlockResponse(_message.Message):
    __slots__ = ("header", "txids")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TXIDS_FIELD_NUMBER: _ClassVar[int]
    header: BlockHeader
    txids: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, header: _Optional[_Union[BlockHeader, _Mapping]] = ..., txids: _Optional[_Iterable[bytes]] = ...) -> None: ...
