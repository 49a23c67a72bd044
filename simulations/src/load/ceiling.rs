//! The physical wall: how many k256 BIP340 signatures this machine verifies
//! per second on all cores, measured in the same run as the load so that a
//! noisy neighbour shows in both.

use std::num::NonZero;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use settled::Keypair;

/// Threads of one measurement, whatever the machine reports.
pub const CEILING_THREADS_MAX: usize = 256;
/// Verifies between two looks at the clock.
const VERIFIES_PER_CLOCK_CHECK: u64 = 64;

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct VerifyRate {
    pub threads: usize,
    pub verifies: u64,
    pub elapsed_s: f64,
    pub per_s: f64,
}

/// Verifies one fixed valid signature on one thread per core for `length`.
///
/// # Panics
/// When the fixed signature does not verify (k256 itself is broken).
#[must_use]
pub fn verify_rate(length: Duration) -> VerifyRate {
    let threads = std::thread::available_parallelism().map_or(1, NonZero::get).min(CEILING_THREADS_MAX);
    let key = Keypair::generate();
    let message = settled::sha256(b"settled load: verify ceiling");
    let signature = key.sign(&message);
    let address = key.address();
    let start = Barrier::new(threads);
    let results: Vec<(u64, Duration)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let began = Instant::now();
                    let mut verifies = 0u64;
                    loop {
                        for _ in 0..VERIFIES_PER_CLOCK_CHECK {
                            let valid = settled::verify_signature(
                                std::hint::black_box(&address),
                                std::hint::black_box(&message),
                                std::hint::black_box(&signature),
                            );
                            assert!(valid, "a valid BIP340 signature did not verify");
                        }
                        verifies += VERIFIES_PER_CLOCK_CHECK;
                        let elapsed = began.elapsed();
                        if elapsed >= length {
                            return (verifies, elapsed);
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a verify thread panicked")).collect()
    });
    let verifies: u64 = results.iter().map(|(n, _)| n).sum();
    let elapsed_s = results.iter().map(|(_, e)| e.as_secs_f64()).fold(0.0, f64::max);
    #[allow(clippy::cast_precision_loss)]
    let per_s = verifies as f64 / elapsed_s;
    VerifyRate { threads, verifies, elapsed_s, per_s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_every_thread_over_the_longest_elapsed_time() {
        let rate = verify_rate(Duration::from_millis(50));
        assert!(rate.threads >= 1);
        assert!(rate.verifies >= VERIFIES_PER_CLOCK_CHECK * rate.threads as u64);
        assert!(rate.elapsed_s >= 0.05);
        assert!((rate.per_s - rate.verifies as f64 / rate.elapsed_s).abs() < 1e-6);
    }
}
