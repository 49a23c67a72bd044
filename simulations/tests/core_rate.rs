//! The ledger-core rate tool end to end, small: every payment confirmed in
//! blocks of the size asked for, on a real redb file (the rate itself is
//! measured by `settled-simulations core-rate`, never asserted).

use settled_simulations::core_rate::{CORE_RATE_BLOCK_TXS_MAX, CoreRateOptions, run};

fn options(block_txs: usize, payments: usize) -> CoreRateOptions {
    CoreRateOptions { block_txs, payments, wallets: 50, dir: None, seed: 1 }
}

#[test]
fn every_pre_verified_payment_is_confirmed_in_blocks_of_the_size_asked() {
    let report = run(&options(64, 1_000)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.payments, 1_000);
    assert_eq!(report.blocks, 1_000_u64.div_ceil(64), "{report:?}");
    assert!(report.commit_p50_us <= report.commit_p99_us && report.payment_p50_us <= report.payment_p99_us);
}

#[test]
fn sizes_out_of_bounds_are_refused() {
    for (block_txs, payments) in [(0, 10), (CORE_RATE_BLOCK_TXS_MAX + 1, 10), (10, 0)] {
        let error = run(&options(block_txs, payments)).expect_err("refused");
        assert!(error.contains("is 1..="), "{error}");
    }
}

#[test]
fn a_dir_holding_an_earlier_runs_ledger_is_refused() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let options = CoreRateOptions { dir: Some(dir.path().to_owned()), ..options(10, 20) };
    let first = run(&options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.blocks, 2);
    let error = run(&options).expect_err("the same dir again");
    assert!(error.contains("give an empty --dir"), "{error}");
}
