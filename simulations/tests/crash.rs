//! The crash harness end to end: the real `settled` binary, killed with
//! SIGKILL under load three times and restarted on the same data dir.

use settled_simulations::crash::{self, CrashOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_kills_lose_no_receipt_spend_nothing_twice_audit_clean_and_leave_no_gap_in_the_bank_stream() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let options = CrashOptions {
        rounds: 3,
        seed: 3,
        data_dir: Some(dir.path().join("ledger")),
        payments_per_round: 600,
        clients: 4,
        wallets_per_client: 4,
        progress: false,
        ..CrashOptions::new(settled_simulations::settled_bin_of_this_build())
    };
    let report = crash::run(&options).await.unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(report.rounds, 3, "{report:?}");
    assert!(report.payments_confirmed > 0, "no payment confirmed before the kills: {report:?}");
    assert_eq!(report.payments_confirmed, report.unary_confirmed + report.streamed_confirmed);
    assert!(report.unary_confirmed > 0 && report.streamed_confirmed > 0, "both kinds of client paid: {report:?}");
    // Every receipt was looked up after the restart that followed it.
    assert!(report.receipts_checked >= report.payments_confirmed, "{report:?}");
    assert_eq!(report.unknown_resolved, report.resolved_committed + report.resolved_fresh);
    assert!(report.checkpoints_verified > 0, "{report:?}");
    assert!(report.audited_blocks > 0 && report.audited_transactions >= report.payments_confirmed, "{report:?}");
}
