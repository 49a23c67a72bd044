//! The crash harness end to end: the real `settled` binary, killed with
//! SIGKILL under load three times and restarted on the same data dir, with
//! payments, mints, redemptions and a clawback going on at each kill.

use settled_simulations::crash::{self, CrashOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_kills_cut_payments_off_and_each_is_resolved_once_no_receipt_lost_supply_as_minted_and_burned() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let options = CrashOptions {
        rounds: 3,
        // Two of its three restarts are killed again while the server recovers.
        seed: 12,
        data_dir: Some(dir.path().join("ledger")),
        payments_per_round: 600,
        clients: 4,
        wallets_per_client: 4,
        progress: false,
        ..CrashOptions::new(settled_simulations::settled_bin_of_this_build())
    };
    let report = crash::run(&options).await.unwrap_or_else(|e| panic!("{e}"));
    println!("{}", report.summary());

    assert_eq!(report.rounds, 3, "{report:?}");
    assert_eq!(report.kills.len(), 3, "{report:?}");
    for kill in &report.kills {
        // The clients pay until the kill: it always cuts some off, and the
        // checks after the restart find each committed or confirm it anew.
        assert!(kill.payments.at_kill > 0, "no payment in doubt at the kill: {kill:?}");
        assert_eq!(kill.payments.resolved(), kill.payments.at_kill, "{kill:?}");
        assert_eq!(kill.mints.resolved(), kill.mints.at_kill, "{kill:?}");
        assert_eq!(kill.redeems.resolved(), kill.redeems.at_kill, "{kill:?}");
        assert_eq!(kill.clawbacks.resolved(), kill.clawbacks.at_kill, "{kill:?}");
    }
    assert!(report.unary_confirmed > 0 && report.streamed_confirmed > 0, "both kinds of client paid: {report:?}");
    // Every receipt was looked up after the restart that followed it.
    assert!(report.receipts_checked >= report.payments_confirmed, "{report:?}");
    // Money left the ledger under the kills, and the ledger's burned total
    // is what the harness's redemptions burned (checked after each restart).
    assert!(report.redeems_confirmed > 0 && report.supply.burned_minor > 0, "{report:?}");
    // Every round but the last disbursed a programme the next clawed back.
    assert_eq!(report.clawbacks_finished, 2, "{report:?}");
    assert!(report.clawed_back_minor > 0, "{report:?}");
    assert!(report.recovery_kills > 0, "the seed kills a restart during recovery: {report:?}");
    assert!(report.checkpoints_verified > 0, "{report:?}");
    assert!(report.audited_blocks > 0 && report.audited_transactions >= report.payments_confirmed, "{report:?}");
}
