//! The engine's clock. The core reads no clock itself: the ledger's rules
//! take the time as an argument, which the engine reads from this.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The engine's clock: the system time plus a skew that tests move forward
/// (to cross a day boundary or a programme's end) without waiting.
#[derive(Clone, Default, Debug)]
pub struct Clock {
    skew_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Moves the clock forward (or back, with a negative value).
    pub fn skew_by_ms(&self, delta_ms: i64) {
        self.skew_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }

    #[must_use]
    pub fn now_unix_ms(&self) -> u64 {
        let skewed = i128::from(now_unix_ms()) + i128::from(self.skew_ms.load(Ordering::SeqCst));
        u64::try_from(skewed.max(0)).unwrap_or(u64::MAX)
    }
}

/// The system time in milliseconds since the Unix epoch.
#[must_use]
pub fn now_unix_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since `started`, as a whole number a log field records as a
/// JSON number (`Duration::as_millis` is a `u128`, which JSON logs write as
/// a string).
#[must_use]
pub fn millis_since(started: std::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
