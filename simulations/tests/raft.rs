//! The deterministic simulation of the cluster in CI: hundreds of seeds of
//! power losses, partitions and lost messages on three replicas, each healed
//! and checked at the end (see `settled-simulations raft` for the long run).

use settled_simulations::raft_sim::{simulate_raft, simulate_raft_seeds};

/// Seeds CI runs, and ticks (20 ms simulated) per seed.
const CI_SEEDS: u64 = 200;
const CI_TICKS: u64 = 400;

#[test]
fn hundreds_of_seeds_of_faults_lose_no_confirmed_payment() {
    let report = simulate_raft_seeds(0, CI_SEEDS, CI_TICKS, 2).unwrap_or_else(|failure| panic!("{failure}"));
    println!("{report:?}");
    assert_eq!(report.seeds, CI_SEEDS);
    // Every kind of fault happened, and both fates of a block in doubt.
    for (what, count) in [
        ("power losses in the middle of a disk operation", report.power_losses_mid_write),
        ("reboots with torn writes", report.torn_reboots),
        ("isolated replicas", report.isolations),
        ("links cut one way", report.links_cut),
        ("lost messages", report.messages_lost),
        ("blocks in doubt that committed", report.in_doubt_committed),
        ("blocks in doubt that did not", report.in_doubt_lost),
        ("blocks fetched from a peer's ledger past a snapshot", report.blocks_fetched),
        ("double spends refused as spent", report.double_spends_refused),
        ("payments whose block was left in doubt", report.answers_in_doubt),
    ] {
        assert!(count > 0, "no {what} in {CI_SEEDS} seeds: {report:?}");
    }
    // Leadership moved (more leaderships than seeds), payments were
    // confirmed throughout, and every receipt was checked on all three.
    assert!(report.leaderships > CI_SEEDS, "{report:?}");
    assert!(report.blocks_confirmed > CI_SEEDS * 50, "{report:?}");
    // Every payment of a confirmed block was answered with its receipt by
    // the writer, and every refusal was a double spend refused as spent by
    // the payment that spent its coin (checked as each is answered).
    assert_eq!(report.receipts_answered, report.payments_confirmed, "{report:?}");
    let refused: u64 = report.refusals.values().sum();
    assert_eq!(refused, report.double_spends_refused, "only double spends are refused: {report:?}");
    assert!(report.final_heights >= report.blocks_confirmed);
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [4_242, 2_119] {
        let first = simulate_raft(seed, 600).expect("passes");
        let again = simulate_raft(seed, 600).expect("passes");
        assert_eq!(first, again, "seed {seed} takes the same path (its digest covers every block hash)");
        assert!(first.power_losses > 0 && first.blocks_confirmed > 0, "{first:?}");
    }
}
