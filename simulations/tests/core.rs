//! The deterministic simulation of the core with storage faults, in CI:
//! thousands of seeds, each checked step by step against the model (see
//! `settled-simulations core` for the long run).

use settled_simulations::core_sim::{CoreReport, simulate_core, simulate_core_seeds};

/// Seeds CI runs, and steps per seed.
const CI_SEEDS: u64 = 2_000;
const CI_STEPS: u64 = 120;

#[test]
fn thousands_of_seeds_of_faults_lose_nothing_confirmed() {
    let report = simulate_core_seeds(0, CI_SEEDS, CI_STEPS, 2).unwrap_or_else(|failure| panic!("{failure}"));
    println!("{report:?}");
    assert_eq!(report.seeds, CI_SEEDS);
    assert_eq!(report.steps, CI_SEEDS * CI_STEPS);
    // Every kind of fault happened, and both ends of an unconfirmed commit.
    for (what, count) in [
        ("failed writes", report.write_failures),
        ("failed fsyncs", report.sync_failures),
        ("power losses", report.power_losses),
        ("torn reboots", report.torn_reboots),
        ("unconfirmed blocks found after the reboot", report.unconfirmed_found),
        ("unconfirmed blocks gone after the reboot", report.unconfirmed_gone),
    ] {
        assert!(count > 0, "no {what} in {CI_SEEDS} seeds: {report:?}");
    }
    // Every rule the model knows was reached.
    for reason in [
        "InputSpent",
        "InputUnknown",
        "MintThreshold",
        "MissingWitness",
        "NotConserved",
        "ReferenceReused",
        "MccNotAllowed",
        "PayeeNotAllowed",
        "TransferNotAllowed",
        "ProgrammeExpired",
        "ProgrammePaymentLimit",
        "TierPaymentLimit",
        "TierDailyLimit",
    ] {
        assert!(report.outcomes.get(reason).copied().unwrap_or(0) > 0, "{reason} never refused: {report:?}");
    }
    assert!(report.duplicates > 0 && report.applied > report.refused / 2);
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
