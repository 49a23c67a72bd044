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

/// `unix_ms` as an ISO 8601 (RFC 3339) UTC date-time with milliseconds, for
/// people reading errors and CLI output, e.g. `2026-12-07T04:48:25.123Z`
/// (whole seconds without a fraction);
/// `u64::MAX` (a programme without end) is `never`, and a time no calendar
/// date can carry stays in unix milliseconds.
#[must_use]
pub fn iso8601(unix_ms: u64) -> String {
    if unix_ms == u64::MAX {
        return "never".to_owned();
    }
    let date = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok());
    date.unwrap_or_else(|| format!("{unix_ms} (unix ms)"))
}

/// An ISO 8601 (RFC 3339) date-time with its UTC offset, e.g.
/// `2027-01-01T00:00:00+08:00`, as unix milliseconds.
///
/// # Errors
/// Text that is not such a date-time, or one before 1970.
pub fn parse_iso8601(text: &str) -> Result<u64, String> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{text}: {e}"))?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("{text} is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::{iso8601, parse_iso8601};

    #[test]
    fn times_read_as_iso_8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_796_620_658_004), "2026-12-07T05:17:38.004Z");
        assert_eq!(iso8601(u64::MAX), "never");
        assert_eq!(iso8601(u64::MAX - 1), format!("{} (unix ms)", u64::MAX - 1), "past any calendar date");
    }

    #[test]
    fn iso_8601_date_times_read_back_with_their_offset() {
        assert_eq!(parse_iso8601("2026-12-07T05:17:38.004Z"), Ok(1_796_620_658_004));
        assert_eq!(parse_iso8601("2026-12-07T13:17:38.004+08:00"), Ok(1_796_620_658_004));
        assert_eq!(parse_iso8601(&iso8601(1_796_620_658_004)), Ok(1_796_620_658_004));
        for bad in ["2026-12-07", "2026-12-07T05:17:38", "1969-12-31T23:59:59Z", "yesterday"] {
            assert!(parse_iso8601(bad).is_err(), "{bad}");
        }
    }
}
