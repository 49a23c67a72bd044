//! Runs the fuzz targets without libFuzzer: mutates the seeds (and whatever
//! is in `corpus/<target>/`) at random and calls the target on each input.
//! No coverage feedback, so it is weaker than `cargo fuzz run`; it needs
//! only a stable toolchain. A panic writes the input to
//! `artifacts/<target>/crash-<n>` and exits non-zero.
//!
//! ```text
//! cargo run --release --example drive -- <target|all> [--seconds N] [--seed S]
//! cargo run --release --example drive -- seeds   # writes corpus/<target>/seed-<i>
//! ```

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

/// Runs one target for `duration`; the number of executions, or the path of
/// the crashing input.
fn run(name: &str, target: fn(&[u8]), duration: Duration, seed: u64) -> Result<u64, String> {
    let corpus = corpus(name);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut executions = 0u64;
    while started.elapsed() < duration {
        for _ in 0..256 {
            let mut input = corpus[rng.gen_range(0..corpus.len())].clone();
            if executions >= corpus.len() as u64 {
                mutate(&mut rng, &mut input, &corpus);
            }
            if panic::catch_unwind(|| target(&input)).is_err() {
                let dir = Path::new("artifacts").join(name);
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                let path = dir.join(format!("crash-{executions}"));
                std::fs::write(&path, &input).map_err(|e| e.to_string())?;
                return Err(path.display().to_string());
            }
            executions += 1;
        }
    }
    Ok(executions)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    let Some(which) = args.first() else {
        eprintln!("usage: drive <target|all|seeds> [--seconds N] [--seed S]");
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
    let duration = Duration::from_secs(option("--seconds").unwrap_or(60));
    let seed = option("--seed").unwrap_or_else(rand::random);
    let selected: Vec<_> = TARGETS.iter().filter(|(name, _)| which == "all" || name == which).collect();
    if selected.is_empty() {
        eprintln!("no target {which}");
        return ExitCode::FAILURE;
    }
    for (name, target) in selected {
        match run(name, *target, duration, seed) {
            Ok(executions) => {
                println!("{name}: {executions} executions clean in {}s (seed {seed})", duration.as_secs())
            }
            Err(path) => {
                println!("{name}: PANIC, input written to {path} (seed {seed})");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
