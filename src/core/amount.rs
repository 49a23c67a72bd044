//! Decimal amounts at the human edges (CLI, config, reports). Inside the
//! engine an amount is a `u64` of minor units; this is the only place that
//! converts, and it refuses anything that is not exactly representable.

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::core::limits::CURRENCY_EXPONENT_MAX;
use crate::core::types::AmountMinor;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("empty amount")]
    Empty,
    #[error("'{0}' is not a plain decimal number (digits, optionally one '.' and more digits)")]
    NotDecimal(String),
    #[error("'{text}' has more than {exponent} decimal places")]
    TooPrecise { text: String, exponent: u32 },
    #[error("'{0}' is larger than the largest amount")]
    Overflow(String),
    #[error("currency exponent {0} is above the maximum {CURRENCY_EXPONENT_MAX}")]
    BadExponent(u32),
}

/// Parses "1234.56" into minor units for a currency with `exponent` decimals.
/// Refuses signs, exponents, whitespace, separators, more decimals than the
/// currency has, and values above `u64::MAX` minor units.
///
/// # Errors
/// See [`AmountError`].
pub fn parse_amount(text: &str, exponent: u32) -> Result<AmountMinor, AmountError> {
    if exponent > CURRENCY_EXPONENT_MAX {
        return Err(AmountError::BadExponent(exponent));
    }
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(AmountError::NotDecimal(text.to_owned()));
    }
    let fraction_len = fraction.map_or(0, str::len);
    if fraction_len > exponent as usize {
        return Err(AmountError::TooPrecise { text: text.to_owned(), exponent });
    }
    // Decimal holds 28 digits; anything longer cannot fit u64 minor units.
    let overflow = || AmountError::Overflow(text.to_owned());
    if whole.trim_start_matches('0').len() + exponent as usize > 20 {
        return Err(overflow());
    }
    let value = Decimal::from_str(text).map_err(|_| overflow())?;
    let minor = value.checked_mul(Decimal::from(10u64.pow(exponent))).ok_or_else(overflow)?;
    let minor = minor.normalize();
    if minor.scale() != 0 {
        return Err(AmountError::TooPrecise { text: text.to_owned(), exponent });
    }
    u64::try_from(minor.mantissa()).map_err(|_| overflow())
}

/// Formats minor units with exactly `exponent` decimals: 1234 -> "12.34".
///
/// # Panics
/// When `exponent` exceeds [`CURRENCY_EXPONENT_MAX`].
#[must_use]
pub fn format_amount(minor: AmountMinor, exponent: u32) -> String {
    assert!(exponent <= CURRENCY_EXPONENT_MAX, "currency exponent out of range");
    Decimal::from_i128_with_scale(i128::from(minor), exponent).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_and_fractional_amounts() {
        assert_eq!(parse_amount("12.34", 2), Ok(1234));
        assert_eq!(parse_amount("12.3", 2), Ok(1230));
        assert_eq!(parse_amount("12", 2), Ok(1200));
        assert_eq!(parse_amount("0.01", 2), Ok(1));
        assert_eq!(parse_amount("0", 2), Ok(0));
        assert_eq!(parse_amount("007", 0), Ok(7));
    }

    #[test]
    fn refuses_more_decimals_than_the_currency_has() {
        assert!(matches!(parse_amount("1.234", 2), Err(AmountError::TooPrecise { .. })));
        assert!(matches!(parse_amount("1.5", 0), Err(AmountError::TooPrecise { .. })));
    }

    #[test]
    fn refuses_signs_exponents_and_junk() {
        for text in ["-1", "+1", "1e3", " 1", "1 ", "1,000", ".5", "5.", "", "1.2.3", "0x10", "NaN"] {
            assert!(parse_amount(text, 2).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn the_largest_amount_parses_and_one_more_overflows() {
        assert_eq!(parse_amount("184467440737095516.15", 2), Ok(u64::MAX));
        assert!(matches!(parse_amount("184467440737095516.16", 2), Err(AmountError::Overflow(_))));
        assert!(matches!(parse_amount("99999999999999999999999999999999", 2), Err(AmountError::Overflow(_))));
        assert_eq!(parse_amount("18446744073709551615", 0), Ok(u64::MAX));
        assert!(matches!(parse_amount("18446744073709551616", 0), Err(AmountError::Overflow(_))));
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(format_amount(1234, 2), "12.34");
        assert_eq!(format_amount(1200, 2), "12.00");
        assert_eq!(format_amount(5, 2), "0.05");
        assert_eq!(format_amount(u64::MAX, 2), "184467440737095516.15");
        assert_eq!(format_amount(7, 0), "7");
    }

    #[test]
    fn format_then_parse_is_the_identity() {
        for minor in [0, 1, 99, 100, 12345, u64::MAX / 3, u64::MAX] {
            for exponent in 0..=CURRENCY_EXPONENT_MAX {
                assert_eq!(parse_amount(&format_amount(minor, exponent), exponent), Ok(minor));
            }
        }
    }

    #[test]
    fn refuses_an_exponent_above_the_maximum() {
        assert_eq!(parse_amount("1", 9), Err(AmountError::BadExponent(9)));
    }
}
