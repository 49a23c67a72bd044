//! `settled-simulations`: seeded simulations of Settled.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "settled-simulations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The ledger state machine against a reference model, from seeds.
    Ledger {
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of consecutive seeds to run.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Steps per seed.
        #[arg(long, default_value_t = 10_000)]
        steps: u64,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Ledger { seed, seeds, steps } => {
            let (mut applied, mut declined) = (0, 0);
            for s in seed..seed.saturating_add(seeds) {
                match settled_simulations::simulate_ledger(s, steps) {
                    Ok(report) => {
                        applied += report.applied;
                        declined += report.declined;
                    }
                    Err(message) => {
                        eprintln!("{message}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            println!(
                "{seeds} seeds x {steps} steps: ledger matched the model ({applied} applied, {declined} declined)"
            );
            ExitCode::SUCCESS
        }
    }
}
