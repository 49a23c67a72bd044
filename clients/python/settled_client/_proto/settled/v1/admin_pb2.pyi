from settled_client._proto.settled.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_PERIOD_UNSPECIFIED: _ClassVar[PaymentPeriod]
    PAYMENT_PERIOD_MONTH: _ClassVar[PaymentPeriod]
PAYMENT_PERIOD_UNSPECIFIED: PaymentPeriod
PAYMENT_PERIOD_MONTH: PaymentPeriod

class BackupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackupChunk(_message.Message):
    __slots__ = ("data", "height")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    height: int
    def __init__(self, data: _Optional[bytes] = ..., height: _Optional[int] = ...) -> None: ...

class AddReplicaRequest(_message.Message):
    __slots__ = ("id", "raft_addr", "api_addr")
    ID_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDR_FIELD_NUMBER: _ClassVar[int]
    API_ADDR_FIELD_NUMBER: _ClassVar[int]
    id: int
    raft_addr: str
    api_addr: str
    def __init__(self, id: _Optional[int] = ..., raft_addr: _Optional[str] = ..., api_addr: _Optional[str] = ...) -> None: ...

class RemoveReplicaRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class MembershipResponse(_message.Message):
    __slots__ = ("voters",)
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    voters: _containers.RepeatedCompositeFieldContainer[ReplicaMember]
    def __init__(self, voters: _Optional[_Iterable[_Union[ReplicaMember, _Mapping]]] = ...) -> None: ...

class ReplicaMember(_message.Message):
    __slots__ = ("id", "raft_addr", "api_addr")
    ID_FIELD_NUMBER: _ClassVar[int]
    RAFT_ADDR_FIELD_NUMBER: _ClassVar[int]
    API_ADDR_FIELD_NUMBER: _ClassVar[int]
    id: int
    raft_addr: str
    api_addr: str
    def __init__(self, id: _Optional[int] = ..., raft_addr: _Optional[str] = ..., api_addr: _Optional[str] = ...) -> None: ...

class MintRequest(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.Transaction
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.Transaction, _Mapping]] = ...) -> None: ...

class MintResponse(_message.Message):
    __slots__ = ("receipt", "duplicate")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    receipt: _ledger_pb2.Receipt
    duplicate: bool
    def __init__(self, receipt: _Optional[_Union[_ledger_pb2.Receipt, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class Bank(_message.Message):
    __slots__ = ("id", "name", "credential_sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    credential_sha256: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., credential_sha256: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Merchant(_message.Message):
    __slots__ = ("id", "name", "mcc", "bank_id", "payout_addresses", "deactivated")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MCC_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    PAYOUT_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    mcc: int
    bank_id: str
    payout_addresses: _containers.RepeatedScalarFieldContainer[bytes]
    deactivated: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., mcc: _Optional[int] = ..., bank_id: _Optional[str] = ..., payout_addresses: _Optional[_Iterable[bytes]] = ..., deactivated: _Optional[bool] = ...) -> None: ...

class Terminal(_message.Message):
    __slots__ = ("id", "merchant_id", "credential_sha256", "deactivated")
    ID_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_SHA256_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATED_FIELD_NUMBER: _ClassVar[int]
    id: str
    merchant_id: str
    credential_sha256: _containers.RepeatedScalarFieldContainer[bytes]
    deactivated: bool
    def __init__(self, id: _Optional[str] = ..., merchant_id: _Optional[str] = ..., credential_sha256: _Optional[_Iterable[bytes]] = ..., deactivated: _Optional[bool] = ...) -> None: ...

class Wallet(_message.Message):
    __slots__ = ("address", "bank_id", "tier", "frozen")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    bank_id: str
    tier: int
    frozen: str
    def __init__(self, address: _Optional[bytes] = ..., bank_id: _Optional[str] = ..., tier: _Optional[int] = ..., frozen: _Optional[str] = ...) -> None: ...

class Programme(_message.Message):
    __slots__ = ("id", "name", "allowed_mccs", "valid_from_unix_ms", "valid_until_unix_ms", "transferable", "treasury_address", "per_payment_max_minor", "payment_period", "refund_window_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MCCS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TRANSFERABLE_FIELD_NUMBER: _ClassVar[int]
    TREASURY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PER_PAYMENT_MAX_MINOR_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    REFUND_WINDOW_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    allowed_mccs: _containers.RepeatedScalarFieldContainer[int]
    valid_from_unix_ms: int
    valid_until_unix_ms: int
    transferable: bool
    treasury_address: bytes
    per_payment_max_minor: int
    payment_period: PaymentPeriod
    refund_window_ms: int
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., allowed_mccs: _Optional[_Iterable[int]] = ..., valid_from_unix_ms: _Optional[int] = ..., valid_until_unix_ms: _Optional[int] = ..., transferable: _Optional[bool] = ..., treasury_address: _Optional[bytes] = ..., per_payment_max_minor: _Optional[int] = ..., payment_period: _Optional[_Union[PaymentPeriod, str]] = ..., refund_window_ms: _Optional[int] = ...) -> None: ...

class Designation(_message.Message):
    __slots__ = ("programme_id", "wallet")
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    wallet: bytes
    def __init__(self, programme_id: _Optional[int] = ..., wallet: _Optional[bytes] = ...) -> None: ...

class Beneficiary(_message.Message):
    __slots__ = ("person_ref", "wallets", "designations")
    PERSON_REF_FIELD_NUMBER: _ClassVar[int]
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    DESIGNATIONS_FIELD_NUMBER: _ClassVar[int]
    person_ref: bytes
    wallets: _containers.RepeatedScalarFieldContainer[bytes]
    designations: _containers.RepeatedCompositeFieldContainer[Designation]
    def __init__(self, person_ref: _Optional[bytes] = ..., wallets: _Optional[_Iterable[bytes]] = ..., designations: _Optional[_Iterable[_Union[Designation, _Mapping]]] = ...) -> None: ...

class RegisterBeneficiaryRequest(_message.Message):
    __slots__ = ("beneficiary",)
    BENEFICIARY_FIELD_NUMBER: _ClassVar[int]
    beneficiary: Beneficiary
    def __init__(self, beneficiary: _Optional[_Union[Beneficiary, _Mapping]] = ...) -> None: ...

class UpdateBeneficiaryRequest(_message.Message):
    __slots__ = ("beneficiary",)
    BENEFICIARY_FIELD_NUMBER: _ClassVar[int]
    beneficiary: Beneficiary
    def __init__(self, beneficiary: _Optional[_Union[Beneficiary, _Mapping]] = ...) -> None: ...

class GetBeneficiaryRequest(_message.Message):
    __slots__ = ("person_ref",)
    PERSON_REF_FIELD_NUMBER: _ClassVar[int]
    person_ref: bytes
    def __init__(self, person_ref: _Optional[bytes] = ...) -> None: ...

class GetBeneficiaryResponse(_message.Message):
    __slots__ = ("beneficiary", "height")
    BENEFICIARY_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    beneficiary: Beneficiary
    height: int
    def __init__(self, beneficiary: _Optional[_Union[Beneficiary, _Mapping]] = ..., height: _Optional[int] = ...) -> None: ...

class RecoverWalletRequest(_message.Message):
    __slots__ = ("person_ref", "lost_wallet", "replacement_wallet", "authorization")
    PERSON_REF_FIELD_NUMBER: _ClassVar[int]
    LOST_WALLET_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_WALLET_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    person_ref: bytes
    lost_wallet: bytes
    replacement_wallet: bytes
    authorization: _containers.RepeatedCompositeFieldContainer[_ledger_pb2.Witness]
    def __init__(self, person_ref: _Optional[bytes] = ..., lost_wallet: _Optional[bytes] = ..., replacement_wallet: _Optional[bytes] = ..., authorization: _Optional[_Iterable[_Union[_ledger_pb2.Witness, _Mapping]]] = ...) -> None: ...

class RecoverWalletResponse(_message.Message):
    __slots__ = ("height", "outputs_moved", "amount_minor", "batches", "more", "frozen_unrestricted_minor")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_MOVED_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    FROZEN_UNRESTRICTED_MINOR_FIELD_NUMBER: _ClassVar[int]
    height: int
    outputs_moved: int
    amount_minor: int
    batches: int
    more: bool
    frozen_unrestricted_minor: int
    def __init__(self, height: _Optional[int] = ..., outputs_moved: _Optional[int] = ..., amount_minor: _Optional[int] = ..., batches: _Optional[int] = ..., more: _Optional[bool] = ..., frozen_unrestricted_minor: _Optional[int] = ...) -> None: ...

class ListBeneficiariesResponse(_message.Message):
    __slots__ = ("beneficiaries", "next_page_token")
    BENEFICIARIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    beneficiaries: _containers.RepeatedCompositeFieldContainer[Beneficiary]
    next_page_token: str
    def __init__(self, beneficiaries: _Optional[_Iterable[_Union[Beneficiary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RegisterBankRequest(_message.Message):
    __slots__ = ("bank",)
    BANK_FIELD_NUMBER: _ClassVar[int]
    bank: Bank
    def __init__(self, bank: _Optional[_Union[Bank, _Mapping]] = ...) -> None: ...

class RegisterMerchantRequest(_message.Message):
    __slots__ = ("merchant",)
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    merchant: Merchant
    def __init__(self, merchant: _Optional[_Union[Merchant, _Mapping]] = ...) -> None: ...

class RegisterTerminalRequest(_message.Message):
    __slots__ = ("terminal",)
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    terminal: Terminal
    def __init__(self, terminal: _Optional[_Union[Terminal, _Mapping]] = ...) -> None: ...

class SetCredentialsRequest(_message.Message):
    __slots__ = ("bank_id", "terminal_id", "credential_sha256")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_SHA256_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    terminal_id: str
    credential_sha256: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, bank_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., credential_sha256: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SetWalletTierRequest(_message.Message):
    __slots__ = ("address", "tier")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    tier: int
    def __init__(self, address: _Optional[bytes] = ..., tier: _Optional[int] = ...) -> None: ...

class FreezeWalletRequest(_message.Message):
    __slots__ = ("address", "reason")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    reason: str
    def __init__(self, address: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class UnfreezeWalletRequest(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    def __init__(self, address: _Optional[bytes] = ...) -> None: ...

class SetActiveRequest(_message.Message):
    __slots__ = ("merchant_id", "terminal_id", "active")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    terminal_id: str
    active: bool
    def __init__(self, merchant_id: _Optional[str] = ..., terminal_id: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class RegistryChange(_message.Message):
    __slots__ = ("index", "height", "kind", "change_json", "by_role", "by_credential_sha256")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANGE_JSON_FIELD_NUMBER: _ClassVar[int]
    BY_ROLE_FIELD_NUMBER: _ClassVar[int]
    BY_CREDENTIAL_SHA256_FIELD_NUMBER: _ClassVar[int]
    index: int
    height: int
    kind: str
    change_json: str
    by_role: str
    by_credential_sha256: bytes
    def __init__(self, index: _Optional[int] = ..., height: _Optional[int] = ..., kind: _Optional[str] = ..., change_json: _Optional[str] = ..., by_role: _Optional[str] = ..., by_credential_sha256: _Optional[bytes] = ...) -> None: ...

class ListRegistryChangesResponse(_message.Message):
    __slots__ = ("changes", "next_page_token")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[RegistryChange]
    next_page_token: str
    def __init__(self, changes: _Optional[_Iterable[_Union[RegistryChange, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FrozenWallet(_message.Message):
    __slots__ = ("address", "reason", "recovered_to")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_TO_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    reason: str
    recovered_to: bytes
    def __init__(self, address: _Optional[bytes] = ..., reason: _Optional[str] = ..., recovered_to: _Optional[bytes] = ...) -> None: ...

class ListFrozenWalletsResponse(_message.Message):
    __slots__ = ("wallets", "next_page_token")
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallets: _containers.RepeatedCompositeFieldContainer[FrozenWallet]
    next_page_token: str
    def __init__(self, wallets: _Optional[_Iterable[_Union[FrozenWallet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RegisterWalletRequest(_message.Message):
    __slots__ = ("wallet",)
    WALLET_FIELD_NUMBER: _ClassVar[int]
    wallet: Wallet
    def __init__(self, wallet: _Optional[_Union[Wallet, _Mapping]] = ...) -> None: ...

class CreateProgrammeRequest(_message.Message):
    __slots__ = ("programme",)
    PROGRAMME_FIELD_NUMBER: _ClassVar[int]
    programme: Programme
    def __init__(self, programme: _Optional[_Union[Programme, _Mapping]] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("height",)
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    height: int
    def __init__(self, height: _Optional[int] = ...) -> None: ...

class ClawbackRequest(_message.Message):
    __slots__ = ("programme_id", "authorization", "resume_after")
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    authorization: _containers.RepeatedCompositeFieldContainer[_ledger_pb2.Witness]
    resume_after: bytes
    def __init__(self, programme_id: _Optional[int] = ..., authorization: _Optional[_Iterable[_Union[_ledger_pb2.Witness, _Mapping]]] = ..., resume_after: _Optional[bytes] = ...) -> None: ...

class ClawbackResponse(_message.Message):
    __slots__ = ("outputs_moved", "amount_minor", "batches", "more", "resume_after", "clawed_back_total_minor")
    OUTPUTS_MOVED_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    CLAWED_BACK_TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    outputs_moved: int
    amount_minor: int
    batches: int
    more: bool
    resume_after: bytes
    clawed_back_total_minor: int
    def __init__(self, outputs_moved: _Optional[int] = ..., amount_minor: _Optional[int] = ..., batches: _Optional[int] = ..., more: _Optional[bool] = ..., resume_after: _Optional[bytes] = ..., clawed_back_total_minor: _Optional[int] = ...) -> None: ...

class GetProgrammeStatsRequest(_message.Message):
    __slots__ = ("programme_id",)
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    def __init__(self, programme_id: _Optional[int] = ...) -> None: ...

class MccAmount(_message.Message):
    __slots__ = ("mcc", "amount_minor")
    MCC_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    mcc: int
    amount_minor: int
    def __init__(self, mcc: _Optional[int] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class GetProgrammeStatsResponse(_message.Message):
    __slots__ = ("programme", "disbursed_minor", "spent_by_mcc", "spent_minor", "clawed_back_minor", "outstanding_minor", "height", "paid_by_period", "refunded_minor", "refunded_to_treasury_minor", "top_merchants", "merchants_paid", "spent_by_day")
    PROGRAMME_FIELD_NUMBER: _ClassVar[int]
    DISBURSED_MINOR_FIELD_NUMBER: _ClassVar[int]
    SPENT_BY_MCC_FIELD_NUMBER: _ClassVar[int]
    SPENT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CLAWED_BACK_MINOR_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_MINOR_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PAID_BY_PERIOD_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_TO_TREASURY_MINOR_FIELD_NUMBER: _ClassVar[int]
    TOP_MERCHANTS_FIELD_NUMBER: _ClassVar[int]
    MERCHANTS_PAID_FIELD_NUMBER: _ClassVar[int]
    SPENT_BY_DAY_FIELD_NUMBER: _ClassVar[int]
    programme: Programme
    disbursed_minor: int
    spent_by_mcc: _containers.RepeatedCompositeFieldContainer[MccAmount]
    spent_minor: int
    clawed_back_minor: int
    outstanding_minor: int
    height: int
    paid_by_period: _containers.RepeatedCompositeFieldContainer[PeriodPaid]
    refunded_minor: int
    refunded_to_treasury_minor: int
    top_merchants: _containers.RepeatedCompositeFieldContainer[MerchantFigures]
    merchants_paid: int
    spent_by_day: _containers.RepeatedCompositeFieldContainer[DayAmount]
    def __init__(self, programme: _Optional[_Union[Programme, _Mapping]] = ..., disbursed_minor: _Optional[int] = ..., spent_by_mcc: _Optional[_Iterable[_Union[MccAmount, _Mapping]]] = ..., spent_minor: _Optional[int] = ..., clawed_back_minor: _Optional[int] = ..., outstanding_minor: _Optional[int] = ..., height: _Optional[int] = ..., paid_by_period: _Optional[_Iterable[_Union[PeriodPaid, _Mapping]]] = ..., refunded_minor: _Optional[int] = ..., refunded_to_treasury_minor: _Optional[int] = ..., top_merchants: _Optional[_Iterable[_Union[MerchantFigures, _Mapping]]] = ..., merchants_paid: _Optional[int] = ..., spent_by_day: _Optional[_Iterable[_Union[DayAmount, _Mapping]]] = ...) -> None: ...

class DayAmount(_message.Message):
    __slots__ = ("day", "amount_minor")
    DAY_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    day: int
    amount_minor: int
    def __init__(self, day: _Optional[int] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class MerchantFigures(_message.Message):
    __slots__ = ("merchant_id", "mcc", "payments", "spent_minor", "refunds", "refunded_minor", "last_payment_unix_ms", "share_ppm")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    MCC_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    SPENT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    LAST_PAYMENT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SHARE_PPM_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    mcc: int
    payments: int
    spent_minor: int
    refunds: int
    refunded_minor: int
    last_payment_unix_ms: int
    share_ppm: int
    def __init__(self, merchant_id: _Optional[str] = ..., mcc: _Optional[int] = ..., payments: _Optional[int] = ..., spent_minor: _Optional[int] = ..., refunds: _Optional[int] = ..., refunded_minor: _Optional[int] = ..., last_payment_unix_ms: _Optional[int] = ..., share_ppm: _Optional[int] = ...) -> None: ...

class ListProgrammeMerchantsRequest(_message.Message):
    __slots__ = ("programme_id", "page_size", "page_token")
    PROGRAMME_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    programme_id: int
    page_size: int
    page_token: str
    def __init__(self, programme_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProgrammeMerchantsResponse(_message.Message):
    __slots__ = ("merchants", "next_page_token", "height")
    MERCHANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    merchants: _containers.RepeatedCompositeFieldContainer[MerchantFigures]
    next_page_token: str
    height: int
    def __init__(self, merchants: _Optional[_Iterable[_Union[MerchantFigures, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., height: _Optional[int] = ...) -> None: ...

class PeriodPaid(_message.Message):
    __slots__ = ("period", "beneficiaries", "amount_minor", "duplicate_claims_refused")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARIES_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_CLAIMS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    period: int
    beneficiaries: int
    amount_minor: int
    duplicate_claims_refused: int
    def __init__(self, period: _Optional[int] = ..., beneficiaries: _Optional[int] = ..., amount_minor: _Optional[int] = ..., duplicate_claims_refused: _Optional[int] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBanksResponse(_message.Message):
    __slots__ = ("banks", "next_page_token")
    BANKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    banks: _containers.RepeatedCompositeFieldContainer[Bank]
    next_page_token: str
    def __init__(self, banks: _Optional[_Iterable[_Union[Bank, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMerchantsResponse(_message.Message):
    __slots__ = ("merchants", "next_page_token")
    MERCHANTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    merchants: _containers.RepeatedCompositeFieldContainer[Merchant]
    next_page_token: str
    def __init__(self, merchants: _Optional[_Iterable[_Union[Merchant, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListTerminalsResponse(_message.Message):
    __slots__ = ("terminals", "next_page_token")
    TERMINALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    terminals: _containers.RepeatedCompositeFieldContainer[Terminal]
    next_page_token: str
    def __init__(self, terminals: _Optional[_Iterable[_Union[Terminal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListWalletsResponse(_message.Message):
    __slots__ = ("wallets", "next_page_token")
    WALLETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    wallets: _containers.RepeatedCompositeFieldContainer[Wallet]
    next_page_token: str
    def __init__(self, wallets: _Optional[_Iterable[_Union[Wallet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListProgrammesResponse(_message.Message):
    __slots__ = ("programmes", "next_page_token")
    PROGRAMMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    programmes: _containers.RepeatedCompositeFieldContainer[Programme]
    next_page_token: str
    def __init__(self, programmes: _Optional[_Iterable[_Union[Programme, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
