//! Admission control: payments held bounded by the engine's recent peak
//! rate, refusals with the time the engine needs to clear what it holds.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// Admission control: the engine holds no more payments than it confirms in
/// `ADMITTED_WAIT_TARGET_MS` at its recent peak rate (at least
/// `ADMITTED_FLOOR`); past that a submission is refused at once, with a hint
/// of how long the engine needs to clear what it holds.
pub(super) struct Admission {
    /// Payments submitted and not yet answered (or abandoned).
    pub(super) held: AtomicU64,
    pub(super) limit: AtomicU64,
    /// The channel's own bound (the configured verify queue).
    ceiling: u64,
    /// Peak confirmation rate in payments/s, as `f64` bits.
    peak_rate: AtomicU64,
}

impl Admission {
    pub(super) fn new(ceiling: u64) -> Self {
        Self {
            held: AtomicU64::new(0),
            limit: AtomicU64::new(ADMITTED_FLOOR.min(ceiling)),
            ceiling,
            peak_rate: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub(super) fn full(&self) -> bool {
        self.held.load(Ordering::Relaxed) >= self.limit.load(Ordering::Relaxed)
    }

    /// Takes a place for one payment, or refuses it.
    pub(super) fn admit(&self) -> Result<Held<'_>, Refusal> {
        let held = self.held.fetch_add(1, Ordering::AcqRel);
        if held >= self.limit.load(Ordering::Relaxed) {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refusal());
        }
        Ok(Held(&self.held))
    }

    /// An overload refusal whose retry hint is the time the engine needs to
    /// clear what it holds at its peak rate.
    pub(super) fn refusal(&self) -> Refusal {
        let rate = f64::from_bits(self.peak_rate.load(Ordering::Relaxed));
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let clear_ms = if rate > 0.0 {
            (self.held.load(Ordering::Relaxed) as f64 * 1_000.0 / rate) as u64
        } else {
            u64::from(OVERLOAD_RETRY_AFTER_MS)
        };
        let retry_ms =
            u32::try_from(clear_ms).unwrap_or(u32::MAX).clamp(OVERLOAD_RETRY_AFTER_MS, OVERLOAD_RETRY_AFTER_MAX_MS);
        let mut refusal = overloaded();
        refusal.detail = format!("the engine holds all it can clear in time; retry after {retry_ms} ms");
        refusal.retry_after_ms = u16::try_from(retry_ms).unwrap_or(u16::MAX);
        refusal
    }

    /// A new measurement of the confirmation rate (writer thread).
    pub(super) fn measured(&self, rate_per_s: f64) {
        let peak = rate_per_s.max(f64::from_bits(self.peak_rate.load(Ordering::Relaxed)) * ADMISSION_PEAK_DECAY);
        self.peak_rate.store(peak.to_bits(), Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let limit = (peak * ADMITTED_WAIT_TARGET_MS as f64 / 1_000.0) as u64;
        self.limit.store(limit.max(ADMITTED_FLOOR).min(self.ceiling), Ordering::Relaxed);
    }
}

/// One payment's place in the engine, given back when it is answered or its
/// caller goes away.
pub(super) struct Held<'a>(&'a AtomicU64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_holds_what_the_peak_rate_clears_in_the_target_wait() {
        let admission = Admission::new(VERIFY_QUEUE_MAX as u64);
        assert_eq!(admission.limit.load(Ordering::Relaxed), ADMITTED_FLOOR, "unmeasured: the floor");
        admission.measured(50_000.0);
        assert_eq!(admission.limit.load(Ordering::Relaxed), 50_000 * ADMITTED_WAIT_TARGET_MS / 1_000);
        admission.measured(1_000.0);
        let decayed = (50_000.0 * ADMISSION_PEAK_DECAY * ADMITTED_WAIT_TARGET_MS as f64 / 1_000.0) as u64;
        assert_eq!(admission.limit.load(Ordering::Relaxed), decayed.max(ADMITTED_FLOOR), "the peak decays slowly");
        for _ in 0..200 {
            admission.measured(1_000.0);
        }
        assert_eq!(admission.limit.load(Ordering::Relaxed), ADMITTED_FLOOR, "never below the floor");
        let small = Admission::new(4);
        small.measured(1_000_000.0);
        assert_eq!(small.limit.load(Ordering::Relaxed), 4, "never above the queue");
    }

    #[test]
    fn past_the_limit_a_payment_is_refused_with_a_hint_and_places_come_back() {
        let admission = Admission::new(VERIFY_QUEUE_MAX as u64);
        admission.measured(10_000.0);
        let limit = admission.limit.load(Ordering::Relaxed);
        let held: Vec<Held<'_>> = (0..limit).map(|_| admission.admit().expect("within the limit")).collect();
        assert!(admission.full());
        let refusal = admission.admit().err().expect("one past the limit");
        assert_eq!(refusal.reason, Reason::Overloaded);
        // 2,048 held at 10,000/s clear in about 205 ms.
        assert!((200..=210).contains(&refusal.retry_after_ms), "{}", refusal.retry_after_ms);
        drop(held);
        assert_eq!(admission.held.load(Ordering::Relaxed), 0, "every place given back");
        assert!(admission.admit().is_ok());
        let idle = Admission::new(16);
        assert_eq!(u32::from(idle.refusal().retry_after_ms), OVERLOAD_RETRY_AFTER_MS, "no rate yet: the least hint");
    }
}
