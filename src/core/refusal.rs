//! Why a transaction was refused. Each reason is something the submitter can
//! act on; the api layer maps it to a gRPC status and a proto `Reason`.

use std::fmt;

use crate::core::types::{OutPoint, TxId};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Reason {
    // Wrong whatever the ledger state: INVALID_ARGUMENT.
    Malformed,
    UnsupportedVersion,
    UnsupportedKind,
    NoInputs,
    NoOutputs,
    TooManyInputs,
    TooManyOutputs,
    TooManyWitnesses,
    ReferenceTooLong,
    ZeroAmount,
    AmountOverflow,
    DuplicateInput,
    DuplicateWitness,
    BadSignature,
    BadAddress,
    MintHasInputs,
    MintNeedsReference,
    WrongService,
    NoWitnesses,
    // Declined by the ledger state: FAILED_PRECONDITION.
    InputSpent,
    InputUnknown,
    MissingWitness,
    UnexpectedWitness,
    NotConserved,
    MintThreshold,
    SupplyOverflow,
    ReferenceReused,
    NotAMerchant,
    UnknownProgramme,
    ProgrammeNotStarted,
    ProgrammeExpired,
    ProgrammeNotExpired,
    MccNotAllowed,
    TransferNotAllowed,
    PayeeNotAllowed,
    ProgrammePaymentLimit,
    TierPaymentLimit,
    TierDailyLimit,
    BalanceCap,
    /// A mint into a programme paid per person that is not a claim, or a
    /// claim of another shape (one output, of the claim's programme, paid
    /// per person).
    ClaimRequired,
    /// A claim's period names no month, one not begun, or one outside the
    /// programme's validity.
    BadPeriod,
    /// A claim pays a wallet that is not the designated wallet, for its
    /// programme, of the person it names.
    NotDesignated,
    /// The person was already paid for this period of this programme
    /// (`Refusal::spent_by` names the mint that paid).
    ClaimAlreadyPaid,
    /// A refund naming a transaction that is no durable payment.
    UnknownPayment,
    /// A refund of a payment that did not pay the refunding merchant, of a
    /// refund, or of a payment with several payers.
    NotRefundable,
    /// A refund above what is left to refund of the payment, per programme.
    RefundExceedsPayment,
    /// A refund of a programme's money after the programme's refund window
    /// (or of a programme that allows none).
    RefundWindowClosed,
    /// Money of a frozen wallet spent, or paid to one recovered after a loss.
    WalletFrozen,
    /// A payment to a deactivated merchant, or by a deactivated terminal.
    ParticipantInactive,
    /// A payer past its tier's limit per calendar year.
    TierAnnualLimit,
    /// A recovery of a wallet that is not (or not to that replacement) the
    /// one frozen for recovery, or of money recovery does not move.
    RecoveryNotAllowed,
    // Registry changes.
    InvalidRegistration,
    AlreadyRegistered,
    UnknownParticipant,
    // Identity.
    PermissionDenied,
    // Backpressure and availability.
    Overloaded,
    Unavailable,
    /// Cluster mode: this replica does not lead (`Refusal::leader` names the
    /// one that does, if known).
    NotLeader,
    /// A stream beyond the caller's limit of open streams of its kind.
    TooManyStreams,
    /// A request past a fixed limit where waiting does not help
    /// (`Refusal::limit` names it).
    LimitExceeded,
}

/// How a refusal is to be reported: the gRPC status family it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    InvalidArgument,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    PermissionDenied,
}

impl Reason {
    #[must_use]
    pub fn class(self) -> Class {
        match self {
            Self::InputSpent
            | Self::InputUnknown
            | Self::MissingWitness
            | Self::UnexpectedWitness
            | Self::NotConserved
            | Self::MintThreshold
            | Self::SupplyOverflow
            | Self::ReferenceReused
            | Self::NotAMerchant
            | Self::UnknownProgramme
            | Self::ProgrammeNotStarted
            | Self::ProgrammeExpired
            | Self::ProgrammeNotExpired
            | Self::MccNotAllowed
            | Self::TransferNotAllowed
            | Self::PayeeNotAllowed
            | Self::ProgrammePaymentLimit
            | Self::TierPaymentLimit
            | Self::TierDailyLimit
            | Self::BalanceCap
            | Self::ClaimRequired
            | Self::BadPeriod
            | Self::NotDesignated
            | Self::ClaimAlreadyPaid
            | Self::UnknownPayment
            | Self::NotRefundable
            | Self::RefundExceedsPayment
            | Self::RefundWindowClosed
            | Self::WalletFrozen
            | Self::ParticipantInactive
            | Self::TierAnnualLimit
            | Self::RecoveryNotAllowed
            | Self::AlreadyRegistered
            | Self::UnknownParticipant => Class::FailedPrecondition,
            Self::Overloaded | Self::TooManyStreams | Self::LimitExceeded => Class::ResourceExhausted,
            Self::PermissionDenied => Class::PermissionDenied,
            Self::Unavailable | Self::NotLeader => Class::Unavailable,
            _ => Class::InvalidArgument,
        }
    }

    /// The name used in `google.rpc.ErrorInfo.reason` and the proto enum.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "REASON_MALFORMED",
            Self::UnsupportedVersion => "REASON_UNSUPPORTED_VERSION",
            Self::UnsupportedKind => "REASON_UNSUPPORTED_KIND",
            Self::NoInputs => "REASON_NO_INPUTS",
            Self::NoOutputs => "REASON_NO_OUTPUTS",
            Self::TooManyInputs => "REASON_TOO_MANY_INPUTS",
            Self::TooManyOutputs => "REASON_TOO_MANY_OUTPUTS",
            Self::TooManyWitnesses => "REASON_TOO_MANY_WITNESSES",
            Self::ReferenceTooLong => "REASON_REFERENCE_TOO_LONG",
            Self::ZeroAmount => "REASON_ZERO_AMOUNT",
            Self::AmountOverflow => "REASON_AMOUNT_OVERFLOW",
            Self::DuplicateInput => "REASON_DUPLICATE_INPUT",
            Self::DuplicateWitness => "REASON_DUPLICATE_WITNESS",
            Self::BadSignature => "REASON_BAD_SIGNATURE",
            Self::BadAddress => "REASON_BAD_ADDRESS",
            Self::MintHasInputs => "REASON_MINT_HAS_INPUTS",
            Self::MintNeedsReference => "REASON_MINT_NEEDS_REFERENCE",
            Self::WrongService => "REASON_WRONG_SERVICE",
            Self::NoWitnesses => "REASON_NO_WITNESSES",
            Self::InputSpent => "REASON_INPUT_SPENT",
            Self::InputUnknown => "REASON_INPUT_UNKNOWN",
            Self::MissingWitness => "REASON_MISSING_WITNESS",
            Self::UnexpectedWitness => "REASON_UNEXPECTED_WITNESS",
            Self::NotConserved => "REASON_NOT_CONSERVED",
            Self::MintThreshold => "REASON_MINT_THRESHOLD",
            Self::SupplyOverflow => "REASON_SUPPLY_OVERFLOW",
            Self::ReferenceReused => "REASON_REFERENCE_REUSED",
            Self::NotAMerchant => "REASON_NOT_A_MERCHANT",
            Self::UnknownProgramme => "REASON_UNKNOWN_PROGRAMME",
            Self::ProgrammeNotStarted => "REASON_PROGRAMME_NOT_STARTED",
            Self::ProgrammeExpired => "REASON_PROGRAMME_EXPIRED",
            Self::ProgrammeNotExpired => "REASON_PROGRAMME_NOT_EXPIRED",
            Self::MccNotAllowed => "REASON_MCC_NOT_ALLOWED",
            Self::TransferNotAllowed => "REASON_TRANSFER_NOT_ALLOWED",
            Self::PayeeNotAllowed => "REASON_PAYEE_NOT_ALLOWED",
            Self::ProgrammePaymentLimit => "REASON_PROGRAMME_PAYMENT_LIMIT",
            Self::TierPaymentLimit => "REASON_TIER_PAYMENT_LIMIT",
            Self::TierDailyLimit => "REASON_TIER_DAILY_LIMIT",
            Self::BalanceCap => "REASON_BALANCE_CAP",
            Self::ClaimRequired => "REASON_CLAIM_REQUIRED",
            Self::BadPeriod => "REASON_BAD_PERIOD",
            Self::NotDesignated => "REASON_NOT_DESIGNATED",
            Self::ClaimAlreadyPaid => "REASON_CLAIM_ALREADY_PAID",
            Self::UnknownPayment => "REASON_UNKNOWN_PAYMENT",
            Self::NotRefundable => "REASON_NOT_REFUNDABLE",
            Self::RefundExceedsPayment => "REASON_REFUND_EXCEEDS_PAYMENT",
            Self::RefundWindowClosed => "REASON_REFUND_WINDOW_CLOSED",
            Self::WalletFrozen => "REASON_WALLET_FROZEN",
            Self::ParticipantInactive => "REASON_PARTICIPANT_INACTIVE",
            Self::TierAnnualLimit => "REASON_TIER_ANNUAL_LIMIT",
            Self::RecoveryNotAllowed => "REASON_RECOVERY_NOT_ALLOWED",
            Self::InvalidRegistration => "REASON_INVALID_REGISTRATION",
            Self::AlreadyRegistered => "REASON_ALREADY_REGISTERED",
            Self::UnknownParticipant => "REASON_UNKNOWN_PARTICIPANT",
            Self::Overloaded => "REASON_OVERLOADED",
            Self::TooManyStreams => "REASON_TOO_MANY_STREAMS",
            Self::LimitExceeded => "REASON_LIMIT_EXCEEDED",
            Self::PermissionDenied => "REASON_PERMISSION_DENIED",
            Self::Unavailable => "REASON_UNAVAILABLE",
            Self::NotLeader => "REASON_NOT_LEADER",
        }
    }
}

/// A refusal: the reason, the input concerned if any, the transaction that
/// already spent it if known, and a human-readable detail.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Refusal {
    pub reason: Reason,
    pub input: Option<OutPoint>,
    pub spent_by: Option<TxId>,
    pub detail: String,
    /// With `Reason::Overloaded`: how long to wait before retrying, in ms
    /// (0: the default hint, `OVERLOAD_RETRY_AFTER_MS`).
    /// (At most `OVERLOAD_RETRY_AFTER_MAX_MS`: a `u16` keeps refusals
    /// small, for they travel in `Result`s.)
    pub retry_after_ms: u16,
    /// With `Reason::NotLeader`: the leader's public API address, if known
    /// (boxed: refusals travel in `Result`s and stay small).
    pub leader: Option<Box<str>>,
    /// With `Reason::NotLeader`: the transaction's block reached the
    /// cluster's log but leadership was lost before it was known committed;
    /// it may yet be. Otherwise a refusal means nothing was applied.
    pub outcome_unknown: bool,
    /// The call named something that does not exist (a programme to read or
    /// claw back): `NOT_FOUND` rather than the reason's class.
    pub not_found: bool,
    /// With `Reason::LimitExceeded`: the limit.
    pub limit: Option<Limit>,
    /// With a refusal of the `InvalidArgument` class: the request field it
    /// concerns, when the reason alone does not say (`google.rpc.BadRequest`).
    pub field: Option<Field>,
}

/// A request field a validation refusal concerns: its path in the request
/// message, as `google.rpc.BadRequest.FieldViolation.field` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Transaction,
    TransactionVersion,
    TransactionKind,
    TransactionInputs,
    TransactionOutputs,
    TransactionWitnesses,
    TransactionReference,
    Authorization,
    Bank,
    Merchant,
    Terminal,
    Wallet,
    Programme,
    Beneficiary,
    BankId,
    BankName,
    BankCredentials,
    MerchantId,
    MerchantName,
    MerchantMcc,
    MerchantPayoutAddresses,
    TerminalId,
    TerminalCredentials,
    WalletAddress,
    WalletTier,
    ProgrammeId,
    ProgrammeName,
    ProgrammeAllowedMccs,
    ProgrammeValidUntil,
    ProgrammePerPaymentMax,
    ProgrammeTreasury,
    ProgrammePaymentPeriod,
    BeneficiaryPersonRef,
    BeneficiaryWallets,
    BeneficiaryDesignations,
    Participant,
    CredentialSha256,
    Address,
    Tier,
    FreezeReason,
    PersonRef,
}

impl Field {
    /// The field's path in its request message.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::TransactionVersion => "transaction.version",
            Self::TransactionKind => "transaction.kind",
            Self::TransactionInputs => "transaction.inputs",
            Self::TransactionOutputs => "transaction.outputs",
            Self::TransactionWitnesses => "transaction.witnesses",
            Self::TransactionReference => "transaction.reference",
            Self::Authorization => "authorization",
            Self::Bank => "bank",
            Self::Merchant => "merchant",
            Self::Terminal => "terminal",
            Self::Wallet => "wallet",
            Self::Programme => "programme",
            Self::Beneficiary => "beneficiary",
            Self::BankId => "bank.id",
            Self::BankName => "bank.name",
            Self::BankCredentials => "bank.credential_sha256",
            Self::MerchantId => "merchant.id",
            Self::MerchantName => "merchant.name",
            Self::MerchantMcc => "merchant.mcc",
            Self::MerchantPayoutAddresses => "merchant.payout_addresses",
            Self::TerminalId => "terminal.id",
            Self::TerminalCredentials => "terminal.credential_sha256",
            Self::WalletAddress => "wallet.address",
            Self::WalletTier => "wallet.tier",
            Self::ProgrammeId => "programme.id",
            Self::ProgrammeName => "programme.name",
            Self::ProgrammeAllowedMccs => "programme.allowed_mccs",
            Self::ProgrammeValidUntil => "programme.valid_until_unix_ms",
            Self::ProgrammePerPaymentMax => "programme.per_payment_max_minor",
            Self::ProgrammeTreasury => "programme.treasury_address",
            Self::ProgrammePaymentPeriod => "programme.payment_period",
            Self::BeneficiaryPersonRef => "beneficiary.person_ref",
            Self::BeneficiaryWallets => "beneficiary.wallets",
            Self::BeneficiaryDesignations => "beneficiary.designations",
            Self::Participant => "participant",
            Self::CredentialSha256 => "credential_sha256",
            Self::Address => "address",
            Self::Tier => "tier",
            Self::FreezeReason => "reason",
            Self::PersonRef => "person_ref",
        }
    }

    /// The transaction field a transaction's validation reason concerns.
    #[must_use]
    pub fn of_transaction(reason: Reason) -> Option<Self> {
        Some(match reason {
            Reason::Malformed => Self::Transaction,
            Reason::UnsupportedVersion => Self::TransactionVersion,
            Reason::UnsupportedKind | Reason::WrongService => Self::TransactionKind,
            Reason::NoInputs | Reason::TooManyInputs | Reason::DuplicateInput | Reason::MintHasInputs => {
                Self::TransactionInputs
            }
            Reason::NoOutputs
            | Reason::TooManyOutputs
            | Reason::ZeroAmount
            | Reason::AmountOverflow
            | Reason::BadAddress => Self::TransactionOutputs,
            Reason::TooManyWitnesses | Reason::DuplicateWitness | Reason::BadSignature | Reason::NoWitnesses => {
                Self::TransactionWitnesses
            }
            Reason::ReferenceTooLong | Reason::MintNeedsReference => Self::TransactionReference,
            _ => return None,
        })
    }
}

/// A fixed limit a request can exceed where waiting does not help: its
/// name in `limits.rs` is what `REASON_LIMIT_EXCEEDED` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    StatementEntries,
    ClusterMembers,
}

impl Limit {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::StatementEntries => "STATEMENT_ENTRIES_MAX",
            Self::ClusterMembers => "CLUSTER_MEMBERS_MAX",
        }
    }
}

impl Refusal {
    #[must_use]
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            input: None,
            spent_by: None,
            detail: detail.into(),
            retry_after_ms: 0,
            leader: None,
            outcome_unknown: false,
            not_found: false,
            limit: None,
            field: None,
        }
    }

    /// The same refusal, concerning request field `field`.
    #[must_use]
    pub fn at(mut self, field: Field) -> Self {
        self.field = Some(field);
        self
    }

    /// A request past `limit`, where waiting does not help.
    #[must_use]
    pub fn limit_exceeded(limit: Limit, detail: impl Into<String>) -> Self {
        Self { limit: Some(limit), ..Self::new(Reason::LimitExceeded, detail) }
    }

    /// The same refusal, for a call that named what does not exist.
    #[must_use]
    pub fn not_found(mut self) -> Self {
        self.not_found = true;
        self
    }

    #[must_use]
    pub fn with_input(mut self, input: OutPoint) -> Self {
        self.input = Some(input);
        self
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.name(), self.detail)
    }
}

impl std::error::Error for Refusal {}
