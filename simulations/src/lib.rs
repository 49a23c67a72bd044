//! Seeded simulation of the ledger state machine against a reference model.
//!
//! Each step draws an action (a valid payment, a double spend, a replay, an
//! unknown input, a non-conserving payment, a payment signed by the wrong
//! key, an under-signed or valid mint), runs it through the real verify stage
//! and `Ledger::apply`, and checks the outcome and the whole unspent set
//! against a model that knows only what each action should do. A failing seed
//! prints the command that reproduces it.
//!
//! The load generator for a real server over gRPC is in [`load`], the crash
//! harness that kills it under load and checks what survived in [`crash`].
//! The deterministic simulation of the core with storage faults is in
//! [`core_sim`], of the cluster (openraft, simulated network, disks and
//! clock) in [`raft_sim`].

pub mod cluster;
pub mod core_rate;
pub mod core_sim;
pub mod crash;
pub mod load;
pub mod raft_sim;

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled::client;
use settled::{BlockHeader, Decline, Genesis, Keypair, Ledger, OutPoint, Output, Reason, Transaction, TxKind};

/// The genesis of a simulated ledger: yuan with two decimals, `issuers`
/// with a threshold of two, `engine_key` sealing.
pub(crate) fn genesis(issuers: &[Keypair], engine_key: &Keypair) -> Genesis {
    Genesis {
        currency: "CNY".to_owned(),
        exponent: 2,
        issuer_keys: issuers.iter().map(Keypair::address).collect(),
        issuer_threshold: 2,
        engine_key: engine_key.address(),
    }
}

/// Runs `run` for the seeds `first..first + seeds` on `threads` threads,
/// stopping at the first failure (a seed that panics fails with
/// `panicked(seed)`); the reports in seed order.
///
/// # Errors
/// The first failure found.
pub(crate) fn run_seeds<R: Send>(
    first: u64,
    seeds: u64,
    threads: usize,
    run: impl Fn(u64) -> Result<R, String> + Sync,
    panicked: impl Fn(u64) -> String + Sync,
) -> Result<Vec<R>, String> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let next = AtomicU64::new(first);
    let failed = AtomicBool::new(false);
    let end = first.saturating_add(seeds);
    let results: Vec<Result<Vec<(u64, R)>, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut reports = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= end || failed.load(Ordering::Relaxed) {
                            return Ok(reports);
                        }
                        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed)));
                        match outcome.unwrap_or_else(|_| Err(panicked(seed))) {
                            Ok(report) => reports.push((seed, report)),
                            Err(failure) => {
                                failed.store(true, Ordering::Relaxed);
                                return Err(failure);
                            }
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err("a simulation thread panicked".into()))).collect()
    });
    let mut all = Vec::new();
    for result in results {
        all.extend(result?);
    }
    all.sort_by_key(|(seed, _)| *seed);
    Ok(all.into_iter().map(|(_, report)| report).collect())
}

/// The `settled` binary of the build a test runs from: tests run from
/// `target/<profile>/deps/`, the binary is in `target/<profile>/`.
/// `cargo test --workspace` builds it; `cargo test -p settled-simulations`
/// alone does not.
///
/// # Panics
/// There is no such binary (with how to build it).
#[must_use]
pub fn settled_bin_of_this_build() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe.parent().and_then(std::path::Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(format!("settled{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no settled binary at {}: run `cargo build -p settled` (or `cargo test --workspace`, which builds it) first",
        bin.display()
    );
    bin
}

/// Lowercase hex of a short byte string, for messages and tags.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bounds of one simulation.
pub const STEPS_MAX: u64 = 1_000_000;
pub const WALLETS: usize = 12;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SimReport {
    pub steps: u64,
    pub applied: u64,
    pub declined: u64,
}

/// Runs `steps` steps from `seed`.
///
/// # Errors
/// The first divergence between the ledger and the model, with the
/// reproducing command.
pub fn simulate_ledger(seed: u64, steps: u64) -> Result<SimReport, String> {
    let steps = steps.min(STEPS_MAX);
    let mut rng = StdRng::seed_from_u64(seed);
    let key = |rng: &mut StdRng| loop {
        if let Some(k) = Keypair::from_secret(&rng.r#gen()) {
            break k;
        }
    };
    let issuers: Vec<Keypair> = (0..3).map(|_| key(&mut rng)).collect();
    let wallets: Vec<Keypair> = (0..WALLETS).map(|_| key(&mut rng)).collect();
    let genesis = Genesis {
        currency: "CNY".to_owned(),
        exponent: 2,
        issuer_keys: issuers.iter().map(Keypair::address).collect(),
        issuer_threshold: 2,
        engine_key: key(&mut rng).address(),
    };
    // What every signature covers: the chain id of this ledger's block 0.
    let chain = BlockHeader::genesis(&genesis, 0).chain_id();
    let mut ledger = Ledger::new(genesis, Default::default(), 0, 0, 1).expect("an empty ledger is consistent");
    let mut model: BTreeMap<OutPoint, Output> = BTreeMap::new();
    let mut spent: Vec<(OutPoint, Transaction)> = Vec::new();
    let mut minted = 0u64;
    let mut report = SimReport::default();
    let fail = |step: u64, what: String| {
        format!(
            "seed {seed} step {step}: {what}\nreproduce: cargo run --release -p settled-simulations -- ledger --seed {seed} --steps {steps}"
        )
    };

    for step in 0..steps {
        report.steps += 1;
        let owned: Vec<(OutPoint, Output)> = model.iter().map(|(o, v)| (*o, *v)).collect();
        let action = if owned.is_empty() { 0 } else { rng.gen_range(0..10) };
        let (tx, expect): (Transaction, Expect) = match action {
            0 | 1 => {
                let amount = rng.gen_range(1..=100_000);
                let owner = &wallets[rng.gen_range(0..WALLETS)];
                let signers: Vec<&Keypair> =
                    if action == 0 { vec![&issuers[0], &issuers[2]] } else { vec![&issuers[1]] };
                let tx = client::mint(
                    &chain,
                    vec![client::output(owner.address(), amount, 0)],
                    format!("row-{seed}-{step}").as_bytes(),
                    &signers,
                );
                (tx, if action == 0 { Expect::Applied } else { Expect::Refused(Reason::MintThreshold) })
            }
            2..=5 => {
                let (outpoint, output) = owned[rng.gen_range(0..owned.len())];
                let payer =
                    wallets.iter().find(|w| w.address() == output.owner).expect("model outputs belong to wallets");
                let payee = wallets[rng.gen_range(0..WALLETS)].address();
                let amount = rng.gen_range(1..=output.amount_minor);
                (
                    client::pay(&chain, payer, (outpoint, output), payee, amount, format!("p{step}").as_bytes()),
                    Expect::Applied,
                )
            }
            6 if !spent.is_empty() => {
                // Replay of an applied transaction, or a new spend of its input.
                let (outpoint, original) = spent[rng.gen_range(0..spent.len())].clone();
                if rng.gen_bool(0.5) {
                    (original, Expect::Missing(outpoint))
                } else {
                    let owner =
                        wallets.iter().find(|w| original.witnesses[0].public_key == w.address()).expect("wallet");
                    let fake = (outpoint, client::output(owner.address(), 1, 0));
                    (client::pay(&chain, owner, fake, wallets[0].address(), 1, b"double"), Expect::Missing(outpoint))
                }
            }
            7 => {
                let outpoint = OutPoint { txid: settled::TxId(rng.r#gen()), index: 0 };
                let owner = &wallets[0];
                (
                    client::pay(
                        &chain,
                        owner,
                        (outpoint, client::output(owner.address(), 5, 0)),
                        wallets[1].address(),
                        5,
                        b"ghost",
                    ),
                    Expect::Missing(outpoint),
                )
            }
            8 => {
                let (outpoint, output) = owned[rng.gen_range(0..owned.len())];
                let payer = wallets.iter().find(|w| w.address() == output.owner).expect("wallet");
                let mut tx = client::pay(
                    &chain,
                    payer,
                    (outpoint, output),
                    wallets[1].address(),
                    output.amount_minor,
                    b"inflate",
                );
                tx.outputs[0].amount_minor += 1;
                tx.witnesses.clear();
                client::sign(&mut tx, &chain, &[payer]);
                (tx, Expect::Refused(Reason::NotConserved))
            }
            _ => {
                let (outpoint, output) = owned[rng.gen_range(0..owned.len())];
                let thief = wallets.iter().find(|w| w.address() != output.owner).expect("another wallet");
                let tx = client::pay(
                    &chain,
                    thief,
                    (outpoint, client::output(thief.address(), output.amount_minor, output.programme)),
                    thief.address(),
                    output.amount_minor,
                    b"theft",
                );
                (tx, Expect::Refused(Reason::MissingWitness))
            }
        };
        let vtx = settled::verify(tx.clone(), &chain)
            .map_err(|r| fail(step, format!("verify refused a well-formed transaction: {r}")))?;
        let outcome = ledger.apply(&vtx, step);
        match (&expect, outcome) {
            (Expect::Applied, Ok(_)) => {
                report.applied += 1;
                for input in &tx.inputs {
                    model.remove(input);
                    spent.push((*input, tx.clone()));
                }
                for (i, output) in tx.outputs.iter().enumerate() {
                    model.insert(OutPoint { txid: vtx.txid, index: u32::try_from(i).expect("bounded") }, *output);
                }
                if tx.kind == TxKind::Mint {
                    minted += tx.outputs.iter().map(|o| o.amount_minor).sum::<u64>();
                }
            }
            (Expect::Refused(reason), Err(Decline::Refused(refusal))) if refusal.reason == *reason => {
                report.declined += 1
            }
            (Expect::Missing(outpoint), Err(Decline::InputMissing(missing))) if missing == *outpoint => {
                report.declined += 1
            }
            (expect, outcome) => return Err(fail(step, format!("expected {expect:?}, got {outcome:?}"))),
        }
        let totals = ledger.totals();
        let model_sum: u64 = model.values().map(|o| o.amount_minor).sum();
        if totals.unspent_minor != model_sum || totals.minted_minor != minted || ledger.unspent_count() != model.len() {
            return Err(fail(
                step,
                format!(
                    "state diverged: ledger {totals:?} / {} outputs, model {model_sum} / {} outputs, minted {minted}",
                    ledger.unspent_count(),
                    model.len()
                ),
            ));
        }
        ledger.assert_conserved();
    }
    for (outpoint, output) in &model {
        if ledger.unspent(outpoint) != Some(output) {
            return Err(fail(steps, format!("{outpoint} differs between ledger and model")));
        }
    }
    Ok(report)
}

#[derive(Debug)]
enum Expect {
    Applied,
    Refused(Reason),
    Missing(OutPoint),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_matches_the_model_on_many_seeds() {
        for seed in 0..8 {
            let report = simulate_ledger(seed, 150).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(report.steps, 150);
            assert!(report.applied > 0 && report.declined > 0, "seed {seed}: {report:?}");
        }
    }
}
