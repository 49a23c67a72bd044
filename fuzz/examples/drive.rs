//! Runs the fuzz targets without libFuzzer: mutates the seeds (and whatever
//! is in `corpus/<target>/`) at random and calls the target on each input.
//! No coverage feedback, so it is weaker than `cargo fuzz run`; it needs
//! only a stable toolchain. A panic writes the input to
//! `artifacts/<target>/crash-<n>` and exits non-zero.
//!
//! ```text
//! cargo run --example drive -- <target|all> [--runs N | --seconds N] [--seed S]
//! cargo run --example drive -- seeds   # writes corpus/<target>/seed-<i>
//! ```
//!
//! The dev profile of this workspace optimises settled and the targets
//! (`Cargo.toml`), so no `--release` is needed. With `--runs`, a seed and a
//! corpus give the same inputs on every machine: a finding is replayed with
//! the command it prints. Without a `--seed`, one is drawn and printed.
//! Without a budget, 60 s per target. A target whose every input costs
//! signature verifications runs a fraction of `--runs`
//! (`settled_fuzz::runs_divisor`).

use std::panic;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use settled_fuzz::{TARGETS, seeds};

/// Largest input tried: the server's request limit.
const INPUT_BYTES_MAX: usize = 64 * 1024;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut inputs = seeds::for_target(target);
    if let Ok(entries) = std::fs::read_dir(Path::new("corpus").join(target)) {
        inputs.extend(entries.flatten().filter_map(|e| std::fs::read(e.path()).ok()));
    }
    inputs.push(Vec::new());
    inputs
}

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..rng.gen_range(1..=8) {
        let len = input.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let at = rng.gen_range(0..len);
                input[at] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let at = rng.gen_range(0..len);
                input[at] = *[0u8, 1, 0x7f, 0x80, 0xff, rng.r#gen()].get(rng.gen_range(0..6)).expect("in range");
            }
            2 => {
                let at = rng.gen_range(0..=len);
                let bytes: Vec<u8> = (0..rng.gen_range(1..=16)).map(|_| rng.r#gen()).collect();
                input.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let from = rng.gen_range(0..len);
                let to = rng.gen_range(from..=len.min(from + 64));
                input.drain(from..to);
            }
            4 if len > 0 => {
                let from = rng.gen_range(0..len);
                let to = rng.gen_range(from..=len.min(from + 64));
                let copy = input[from..to].to_vec();
                let at = rng.gen_range(0..=len);
                input.splice(at..at, copy);
            }
            5 => {
                let other = &corpus[rng.gen_range(0..corpus.len())];
                if !other.is_empty() {
                    let from = rng.gen_range(0..other.len());
                    let to = rng.gen_range(from..=other.len());
                    let at = rng.gen_range(0..=len);
                    input.splice(at..at, other[from..to].iter().copied());
                }
            }
            6 if len > 0 => input.truncate(rng.gen_range(0..len)),
            _ => {
                // A varint that reads as a large length or value.
                let at = rng.gen_range(0..=len);
                let varint: Vec<u8> = (0..rng.gen_range(1..=10)).map(|_| rng.r#gen::<u8>() | 0x80).chain([1]).collect();
                input.splice(at..at, varint);
            }
        }
    }
    input.truncate(INPUT_BYTES_MAX);
}

/// How long each target runs: a number of executions (the same inputs on
/// every machine, for a seed and a corpus), or a time.
#[derive(Clone, Copy)]
enum Budget {
    Runs(u64),
    Time(Duration),
}

/// Runs one target within `budget`; the number of executions, or the path
/// of the crashing input and its execution number.
fn run(name: &str, target: fn(&[u8]), budget: Budget, seed: u64) -> Result<u64, (String, u64)> {
    let corpus = corpus(name);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut executions = 0u64;
    let more = |executions: u64| match budget {
        Budget::Runs(runs) => executions < runs,
        Budget::Time(duration) => started.elapsed() < duration,
    };
    while more(executions) {
        let batch = match budget {
            Budget::Runs(runs) => (runs - executions).min(256),
            Budget::Time(_) => 256,
        };
        for _ in 0..batch {
            let mut input = corpus[rng.gen_range(0..corpus.len())].clone();
            if executions >= corpus.len() as u64 {
                mutate(&mut rng, &mut input, &corpus);
            }
            if panic::catch_unwind(|| target(&input)).is_err() {
                let dir = Path::new("artifacts").join(name);
                let path = dir.join(format!("crash-{executions}"));
                let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &input));
                let path = match written {
                    Ok(()) => path.display().to_string(),
                    Err(error) => format!("nowhere ({error})"),
                };
                return Err((path, executions + 1));
            }
            executions += 1;
        }
    }
    Ok(executions)
}

const USAGE: &str = "usage: drive <target|all|seeds> [--runs N | --seconds N] [--seed S]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    let Some(which) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    if which == "seeds" {
        for (name, _) in TARGETS {
            let dir = Path::new("corpus").join(name);
            std::fs::create_dir_all(&dir).expect("corpus directory");
            for (i, seed) in seeds::for_target(name).iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed written");
            }
        }
        return ExitCode::SUCCESS;
    }
    let budget = match (option("--runs"), option("--seconds")) {
        (Some(runs), None) => Budget::Runs(runs),
        (None, seconds) => Budget::Time(Duration::from_secs(seconds.unwrap_or(60))),
        (Some(_), Some(_)) => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let seed = option("--seed").unwrap_or_else(rand::random);
    let selected: Vec<_> = TARGETS.iter().filter(|(name, _)| which == "all" || name == which).collect();
    if selected.is_empty() {
        eprintln!("no target {which}");
        return ExitCode::FAILURE;
    }
    let (started, mut total) = (Instant::now(), 0u64);
    for (name, target) in selected {
        let target_started = Instant::now();
        let budget = match budget {
            Budget::Runs(runs) => Budget::Runs(runs.div_ceil(settled_fuzz::runs_divisor(name))),
            time => time,
        };
        match run(name, *target, budget, seed) {
            Ok(executions) => {
                let seconds = target_started.elapsed().as_secs_f64();
                #[allow(clippy::cast_precision_loss)]
                let rate = executions as f64 / seconds.max(1e-9);
                println!("{name}: {executions} executions clean in {seconds:.2} s ({rate:.0}/s, seed {seed})");
                total += executions;
            }
            Err((path, runs)) => {
                println!("{name}: PANIC at execution {runs}, input written to {path}");
                println!("replay: cargo run --example drive -- {name} --runs {runs} --seed {seed}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("all clean: {total} executions in {:.1} s (seed {seed})", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
