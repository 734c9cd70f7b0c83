//! Exact fixed-point encoding of candle prices and volumes.
//!
//! A value `x` is stored as the INTEGER `n = round(x · 10^s)` when that is exact, i.e. when
//! `n as f64 / 10^s == x` (bit-for-bit the same f64 comes back) and `|n| < 2^53`; otherwise as
//! the REAL `x` itself. Decoding computes exactly that division, so every value round-trips
//! exactly, whatever its decimals. Exchange prices and quantities are decimal numbers with a few
//! digits: `f64::from_str("65000.12")` at scale 2 is `6500012` and `6500012.0 / 100.0` is again
//! the f64 nearest to 65000.12 (IEEE division is correctly rounded), so they take the compact
//! integer path; SQLite stores small integers in 1–8 bytes instead of 8 for a REAL.

use rusqlite::types::{Value, ValueRef};

/// Largest scale (decimal digits) a series may use.
pub const MAX_SCALE: u32 = 12;
/// Integers below 2^53 are exact in an f64.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];

pub fn pow10(scale: u32) -> f64 {
    POW10[scale as usize]
}

/// Integer `n` with `n / 10^scale == x` exactly, if any.
pub fn to_fixed(x: f64, scale: u32) -> Option<i64> {
    let m = (x * pow10(scale)).round();
    if m.is_finite() && m.abs() < EXACT_LIMIT && m / pow10(scale) == x {
        Some(m as i64)
    } else {
        None
    }
}

/// Smallest scale at which `x` is exact, if one ≤ MAX_SCALE exists.
pub fn decimals(x: f64) -> Option<u32> {
    (0..=MAX_SCALE).find(|&s| to_fixed(x, s).is_some())
}

pub fn encode(x: f64, scale: u32) -> Value {
    match to_fixed(x, scale) {
        Some(n) => Value::Integer(n),
        None => Value::Real(x),
    }
}

pub fn decode(v: ValueRef<'_>, scale: u32) -> Result<f64, String> {
    match v {
        ValueRef::Integer(n) => Ok(n as f64 / pow10(scale)),
        ValueRef::Real(x) => Ok(x),
        other => Err(format!("unexpected stored type {:?}", other.data_type())),
    }
}

/// Largest scale increase `d` such that `max_abs_int · 10^d` stays exact.
pub fn max_safe_increase(max_abs_int: i64, wanted: u32) -> u32 {
    (0..=wanted)
        .rev()
        .find(|&d| (max_abs_int as f64) * pow10(d) < EXACT_LIMIT)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_round_trip_exactly_and_compactly() {
        for (s, dec) in [
            ("65000.12", 2),
            ("0.00001234", 8),
            ("2505.56", 2),
            ("114.6", 1),
            ("0.05656", 5),
            ("3", 0),
            ("123456789.123", 3),
            ("0.1", 1),
        ] {
            let x: f64 = s.parse().unwrap();
            assert_eq!(decimals(x), Some(dec), "{s}");
            for scale in dec..=MAX_SCALE {
                match encode(x, scale) {
                    Value::Integer(n) => {
                        assert_eq!(
                            decode(ValueRef::Integer(n), scale).unwrap().to_bits(),
                            x.to_bits(),
                            "{s} @ {scale}"
                        )
                    }
                    Value::Real(r) => assert_eq!(r.to_bits(), x.to_bits()),
                    _ => unreachable!(),
                }
            }
            // Below its decimals the value falls back to REAL, still exact.
            if dec > 0 {
                assert_eq!(encode(x, dec - 1), Value::Real(x));
            }
        }
    }

    #[test]
    fn non_decimal_floats_fall_back_to_real() {
        let x = 0.1 + 0.2; // 0.30000000000000004
        assert_eq!(decimals(x), None);
        assert_eq!(encode(x, 8), Value::Real(x));
        let big = 1e300;
        assert_eq!(encode(big, 0), Value::Real(big));
        assert_eq!(decode(ValueRef::Real(x), 3).unwrap(), x);
    }

    #[test]
    fn exhaustive_two_decimal_prices() {
        // Every price with 2 decimals from 0.01 to 20 000.00 at scale 2..=4.
        for cents in 1..=2_000_000i64 {
            let x: f64 = format!("{}.{:02}", cents / 100, cents % 100)
                .parse()
                .unwrap();
            assert_eq!(to_fixed(x, 2), Some(cents), "{x}");
            assert_eq!((cents as f64 / 100.0).to_bits(), x.to_bits());
        }
    }
}
