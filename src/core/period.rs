//! Benefit periods: a programme that pays people pays each person at most
//! once a period. A period is a calendar month named `YYYYMM` (202612 is
//! December 2026), in the ledger's time zone (the tier policy's day
//! offset), so that a month begins at the same instant as the days that
//! bound the daily limits. A day is named `YYYYMMDD` in the same time zone
//! (a programme's spending by day).

use serde::{Deserialize, Serialize};

/// How often a programme pays each of its beneficiaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentPeriod {
    /// Once a calendar month: claims name the month as `YYYYMM`.
    Month,
}

/// Years a period may name: outside them no ledger of ours pays anything
/// (9998: December's end is in the year after, which the calendar library
/// holds up to 9999).
const YEAR_MIN: i32 = 2000;
const YEAR_MAX: i32 = 9998;

/// The instants a month `YYYYMM` starts (inclusive) and ends (exclusive),
/// in unix milliseconds, in the time zone `offset_minutes` east of UTC.
/// `None` when `period` names no month (month 0 or 13, a year out of
/// range).
#[must_use]
pub fn month_bounds_ms(period: u32, offset_minutes: i32) -> Option<(u64, u64)> {
    let year = i32::try_from(period / 100).ok()?;
    let month = u8::try_from(period % 100).ok()?;
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        return None;
    }
    let month = time::Month::try_from(month).ok()?;
    let start = time::Date::from_calendar_date(year, month, 1).ok()?;
    let end = match month {
        time::Month::December => time::Date::from_calendar_date(year + 1, time::Month::January, 1).ok()?,
        _ => time::Date::from_calendar_date(year, month.next(), 1).ok()?,
    };
    let instant = |date: time::Date| -> Option<u64> {
        let utc_midnight_ms = i128::from(date.midnight().assume_utc().unix_timestamp()) * 1000;
        u64::try_from(utc_midnight_ms - i128::from(offset_minutes) * 60_000).ok()
    };
    Some((instant(start)?, instant(end)?))
}

/// The month `YYYYMM` holding an instant, in the time zone `offset_minutes`
/// east of UTC.
#[must_use]
pub fn month_of(time_unix_ms: u64, offset_minutes: i32) -> u32 {
    let local_ms = i128::from(time_unix_ms) + i128::from(offset_minutes) * 60_000;
    let seconds = i64::try_from(local_ms.div_euclid(1000)).unwrap_or(0);
    let date = time::OffsetDateTime::from_unix_timestamp(seconds).map_or(time::Date::MIN, |t| t.date());
    u32::try_from(date.year()).unwrap_or(0) * 100 + u32::from(u8::from(date.month()))
}

/// The day `YYYYMMDD` holding an instant, in the time zone `offset_minutes`
/// east of UTC: the ledger's day, as the daily limits count it
/// (`TierPolicy::day_of`), named by its date.
#[must_use]
pub fn day_of(time_unix_ms: u64, offset_minutes: i32) -> u32 {
    let local_ms = i128::from(time_unix_ms) + i128::from(offset_minutes) * 60_000;
    let seconds = i64::try_from(local_ms.div_euclid(1000)).unwrap_or(0);
    let date = time::OffsetDateTime::from_unix_timestamp(seconds).map_or(time::Date::MIN, |t| t.date());
    u32::try_from(date.year()).unwrap_or(0) * 10_000 + u32::from(u8::from(date.month())) * 100 + u32::from(date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHINA: i32 = 480;

    #[test]
    fn a_month_runs_from_local_midnight_on_its_first_to_the_next_months_first() {
        // 2026-12-01T00:00+08:00 is 2026-11-30T16:00Z.
        let (start, end) = month_bounds_ms(202_612, CHINA).unwrap();
        assert_eq!(start, 1_796_054_400_000);
        // 2027-01-01T00:00+08:00, 31 days later.
        assert_eq!(end - start, 31 * 86_400_000);
        assert_eq!(month_of(start, CHINA), 202_612);
        assert_eq!(month_of(start - 1, CHINA), 202_611);
        assert_eq!(month_of(end - 1, CHINA), 202_612);
        assert_eq!(month_of(end, CHINA), 202_701);
        let (february, march) = month_bounds_ms(202_802, 0).unwrap();
        assert_eq!(march - february, 29 * 86_400_000, "2028 is a leap year");
    }

    #[test]
    fn a_day_is_named_by_its_local_date_and_agrees_with_the_daily_limits_day() {
        let (start, end) = month_bounds_ms(202_612, CHINA).unwrap();
        assert_eq!(day_of(start, CHINA), 20_261_201);
        assert_eq!(day_of(start - 1, CHINA), 20_261_130);
        assert_eq!(day_of(end - 1, CHINA), 20_261_231);
        assert_eq!(day_of(end, CHINA), 20_270_101);
        assert_eq!(day_of(0, 0), 19_700_101);
        // One name per day of the tier policy, and the next day the next name.
        let policy =
            crate::core::registry::TierPolicy { tiers: Vec::new(), unregistered_tier: None, day_offset_minutes: CHINA };
        for time in [start - 1, start, start + 86_399_999, start + 86_400_000, end + 12_345] {
            let same_day = |other: u64| policy.day_of(other) == policy.day_of(time);
            assert_eq!(same_day(time + 1), day_of(time + 1, CHINA) == day_of(time, CHINA), "{time}");
            assert!(day_of(time + 86_400_000, CHINA) > day_of(time, CHINA), "{time}");
        }
    }

    #[test]
    fn what_names_no_month_is_none() {
        for period in [202_600, 202_613, 202_699, 0, 12, 199_912, 999_901, 1_000_001, u32::MAX] {
            assert_eq!(month_bounds_ms(period, CHINA), None, "{period}");
        }
        assert!(month_bounds_ms(200_001, CHINA).is_some());
        assert!(month_bounds_ms(999_812, CHINA).is_some(), "the last month has an end");
    }
}
