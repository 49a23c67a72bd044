//! The deterministic simulation of the core with storage faults, in CI:
//! thousands of seeds, each checked step by step against the model (see
//! `settled-simulations core` for the long run).

use settled::{Class, Reason};
use settled_simulations::core_sim::{CoreReport, simulate_core, simulate_core_seeds};

/// Seeds CI runs, and steps per seed.
const CI_SEEDS: u64 = 2_000;
const CI_STEPS: u64 = 120;

/// Every reason there is. The match in `decided_by_the_sequencer` has no
/// wildcard: a reason added to the protocol does not compile until it is
/// placed, and a reason the sequencer decides must then be reached here.
const REASONS: [Reason; 60] = [
    Reason::Malformed,
    Reason::UnsupportedVersion,
    Reason::UnsupportedKind,
    Reason::NoInputs,
    Reason::NoOutputs,
    Reason::TooManyInputs,
    Reason::TooManyOutputs,
    Reason::TooManyWitnesses,
    Reason::ReferenceTooLong,
    Reason::ZeroAmount,
    Reason::AmountOverflow,
    Reason::DuplicateInput,
    Reason::DuplicateWitness,
    Reason::BadSignature,
    Reason::BadAddress,
    Reason::MintHasInputs,
    Reason::MintNeedsReference,
    Reason::WrongService,
    Reason::NoWitnesses,
    Reason::InputSpent,
    Reason::InputUnknown,
    Reason::MissingWitness,
    Reason::UnexpectedWitness,
    Reason::NotConserved,
    Reason::MintThreshold,
    Reason::SupplyOverflow,
    Reason::ReferenceReused,
    Reason::NotAMerchant,
    Reason::UnknownProgramme,
    Reason::ProgrammeNotStarted,
    Reason::ProgrammeExpired,
    Reason::ProgrammeNotExpired,
    Reason::MccNotAllowed,
    Reason::TransferNotAllowed,
    Reason::PayeeNotAllowed,
    Reason::ProgrammePaymentLimit,
    Reason::TierPaymentLimit,
    Reason::TierDailyLimit,
    Reason::BalanceCap,
    Reason::ClaimRequired,
    Reason::BadPeriod,
    Reason::NotDesignated,
    Reason::ClaimAlreadyPaid,
    Reason::UnknownPayment,
    Reason::NotRefundable,
    Reason::RefundExceedsPayment,
    Reason::RefundWindowClosed,
    Reason::WalletFrozen,
    Reason::ParticipantInactive,
    Reason::TierAnnualLimit,
    Reason::RecoveryNotAllowed,
    Reason::InvalidRegistration,
    Reason::AlreadyRegistered,
    Reason::UnknownParticipant,
    Reason::PermissionDenied,
    Reason::Overloaded,
    Reason::Unavailable,
    Reason::NotLeader,
    Reason::TooManyStreams,
    Reason::LimitExceeded,
];

/// Whether the sequencer (the ledger's state, the caller's rules) decides
/// a transaction with `reason`; the others are decided before it (the
/// verify stage, the API), by registry changes, or by the server's state,
/// and other tests reach them.
fn decided_by_the_sequencer(reason: Reason) -> bool {
    match reason {
        Reason::Malformed
        | Reason::UnsupportedVersion
        | Reason::UnsupportedKind
        | Reason::NoInputs
        | Reason::NoOutputs
        | Reason::TooManyInputs
        | Reason::TooManyOutputs
        | Reason::TooManyWitnesses
        | Reason::ReferenceTooLong
        | Reason::ZeroAmount
        | Reason::AmountOverflow
        | Reason::DuplicateInput
        | Reason::DuplicateWitness
        | Reason::BadAddress
        | Reason::MintHasInputs
        | Reason::MintNeedsReference
        | Reason::WrongService
        | Reason::NoWitnesses
        | Reason::InvalidRegistration
        | Reason::AlreadyRegistered
        | Reason::UnknownParticipant
        | Reason::Overloaded
        | Reason::Unavailable
        | Reason::NotLeader
        | Reason::TooManyStreams
        | Reason::LimitExceeded => false,
        // A clawback authorised for another end of validity.
        Reason::BadSignature
        | Reason::InputSpent
        | Reason::InputUnknown
        | Reason::MissingWitness
        | Reason::UnexpectedWitness
        | Reason::NotConserved
        | Reason::MintThreshold
        | Reason::SupplyOverflow
        | Reason::ReferenceReused
        | Reason::NotAMerchant
        | Reason::UnknownProgramme
        | Reason::ProgrammeNotStarted
        | Reason::ProgrammeExpired
        | Reason::ProgrammeNotExpired
        | Reason::MccNotAllowed
        | Reason::TransferNotAllowed
        | Reason::PayeeNotAllowed
        | Reason::ProgrammePaymentLimit
        | Reason::TierPaymentLimit
        | Reason::TierDailyLimit
        | Reason::BalanceCap
        | Reason::ClaimRequired
        | Reason::BadPeriod
        | Reason::NotDesignated
        | Reason::ClaimAlreadyPaid
        | Reason::UnknownPayment
        | Reason::NotRefundable
        | Reason::RefundExceedsPayment
        | Reason::RefundWindowClosed
        | Reason::WalletFrozen
        | Reason::ParticipantInactive
        | Reason::TierAnnualLimit
        | Reason::RecoveryNotAllowed
        | Reason::PermissionDenied => true,
    }
}

/// Reasons of registry changes (`AdminService` registrations), decided by
/// the registry, not by a transaction; `tests/api` reaches them.
const REGISTRY_REASONS: [Reason; 3] =
    [Reason::InvalidRegistration, Reason::AlreadyRegistered, Reason::UnknownParticipant];

#[test]
fn every_reason_the_ledger_state_decides_of_a_transaction_is_one_the_sequencer_decides() {
    for reason in REASONS {
        if reason.class() == Class::FailedPrecondition && !REGISTRY_REASONS.contains(&reason) {
            assert!(decided_by_the_sequencer(reason), "{reason:?} is decided by the ledger state");
        }
    }
}

#[test]
fn thousands_of_seeds_of_faults_lose_nothing_confirmed() {
    let report = simulate_core_seeds(0, CI_SEEDS, CI_STEPS, 2).unwrap_or_else(|failure| panic!("{failure}"));
    println!("{report:?}");
    assert_eq!(report.seeds, CI_SEEDS);
    // Every kind of fault happened, and both ends of an unconfirmed commit.
    for (what, count) in [
        ("failed writes", report.write_failures),
        ("failed fsyncs", report.sync_failures),
        ("power losses", report.power_losses),
        ("torn reboots", report.torn_reboots),
        ("unconfirmed blocks found after the reboot", report.unconfirmed_found),
        ("unconfirmed blocks gone after the reboot", report.unconfirmed_gone),
        ("submissions taken while a sealed block was not yet durable", report.admitted_while_writing),
        ("refusals said only once the block they rested on was durable", report.deferred_refusals),
        ("callers gone before the sequencer took their payment", report.callers_gone),
        ("resubmissions answered with their receipt", report.duplicates),
        ("programme statistics written with no block (claims refused alone)", report.stats_alone),
        ("programmes' spending by day compared after a reopen", report.days_compared),
    ] {
        assert!(count > 0, "no {what} in {CI_SEEDS} seeds: {report:?}");
    }
    // Every rule the sequencer decides was reached, by an answer the model
    // predicted.
    for reason in REASONS.into_iter().filter(|r| decided_by_the_sequencer(*r)) {
        let name = format!("{reason:?}");
        assert!(report.outcomes.get(&name).copied().unwrap_or(0) > 0, "{name} never refused: {report:?}");
    }
    // Both refusals that rest on another transaction waited, at least once,
    // for that one to be durable: a spend and a mint reference of a block
    // still being written.
    for reason in ["InputSpent", "ReferenceReused", "ClaimAlreadyPaid"] {
        let deferred = report.deferred_outcomes.get(reason).copied().unwrap_or(0);
        assert!(deferred > 0, "{reason} never deferred until durable: {report:?}");
    }
    // The follower replica replayed every block the leader made durable.
    assert_eq!(report.replayed, report.blocks + report.unconfirmed_found);
    assert!(report.movements_compared > 0, "the follower's bank stream was compared with the leader's");
}

#[test]
fn a_seed_replays_exactly() {
    let first: CoreReport = simulate_core(4_242, 300).expect("passes");
    let again = simulate_core(4_242, 300).expect("passes");
    assert_eq!(first, again, "the same seed takes the same path");
    assert!(first.power_losses + first.write_failures + first.sync_failures > 0, "{first:?}");
}
