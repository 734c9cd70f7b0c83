//! Exact decimals for prices and sizes: `mantissa × 10^-scale` in an `i128`. Parsed from and
//! printed to the exchange's plain decimal strings; never through `f64`.

use std::cmp::Ordering;
use std::fmt;

/// An exact decimal number (`mantissa / 10^scale`, scale ≤ 18).
#[derive(Clone, Copy)]
pub struct Dec {
    m: i128,
    s: u32,
}

const MAX_SCALE: u32 = 18;

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

impl Dec {
    pub const ZERO: Dec = Dec { m: 0, s: 0 };

    pub fn new(mantissa: i128, scale: u32) -> Dec {
        Dec {
            m: mantissa,
            s: scale,
        }
        .normalized()
    }

    pub fn from_int(i: i64) -> Dec {
        Dec { m: i as i128, s: 0 }
    }

    /// Parses `123`, `-0.001`, `+5.50`. No exponents, no thousands separators, ≤ 18 decimals.
    pub fn parse(text: &str) -> Result<Dec, String> {
        let t = text.trim();
        let (neg, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("`{text}` is not a plain decimal number"));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() as u32 > MAX_SCALE {
            return Err(format!("`{text}` has more than {MAX_SCALE} decimals"));
        }
        let int = int.trim_start_matches('0');
        if int.len() > 20 {
            return Err(format!("`{text}` is too large"));
        }
        let all = format!("{int}{frac}");
        let m: i128 = if all.is_empty() {
            0
        } else {
            all.parse().map_err(|e| format!("`{text}`: {e}"))?
        };
        Ok(Dec::new(if neg { -m } else { m }, frac.len() as u32))
    }

    /// Drops trailing zero decimals.
    fn normalized(mut self) -> Dec {
        while self.s > 0 && self.m % 10 == 0 {
            self.m /= 10;
            self.s -= 1;
        }
        self
    }

    /// Decimals after normalisation (`0.010` → 2).
    pub fn scale(&self) -> u32 {
        self.s
    }

    /// The mantissa at `scale` (which must be ≥ this number's scale).
    fn at(&self, scale: u32) -> i128 {
        self.m * pow10(scale - self.s)
    }

    pub fn is_zero(&self) -> bool {
        self.m == 0
    }
    pub fn is_positive(&self) -> bool {
        self.m > 0
    }
    pub fn is_negative(&self) -> bool {
        self.m < 0
    }
    pub fn neg(&self) -> Dec {
        Dec {
            m: -self.m,
            s: self.s,
        }
    }
    pub fn abs(&self) -> Dec {
        Dec {
            m: self.m.abs(),
            s: self.s,
        }
    }

    pub fn add(&self, o: &Dec) -> Dec {
        let s = self.s.max(o.s);
        Dec::new(self.at(s) + o.at(s), s)
    }
    pub fn sub(&self, o: &Dec) -> Dec {
        let s = self.s.max(o.s);
        Dec::new(self.at(s) - o.at(s), s)
    }
    /// Exact product (scales add; fails past 36 decimals only in theory: inputs have ≤ 18).
    pub fn mul(&self, o: &Dec) -> Dec {
        Dec::new(self.m * o.m, self.s + o.s)
    }

    /// `self / step` rounded toward −∞ (floor), as an integer count of steps. `step` > 0.
    pub fn floor_steps(&self, step: &Dec) -> i128 {
        let s = self.s.max(step.s);
        self.at(s).div_euclid(step.at(s))
    }
    /// `self / step` rounded toward +∞ (ceiling). `step` > 0.
    pub fn ceil_steps(&self, step: &Dec) -> i128 {
        let s = self.s.max(step.s);
        let (a, b) = (self.at(s), step.at(s));
        let q = a.div_euclid(b);
        if a.rem_euclid(b) == 0 { q } else { q + 1 }
    }
    /// `n × step`.
    pub fn times(step: &Dec, n: i128) -> Dec {
        Dec::new(step.m * n, step.s)
    }
    /// Whether `self` is a whole multiple of `step`.
    pub fn is_multiple_of(&self, step: &Dec) -> bool {
        let s = self.s.max(step.s);
        self.at(s).rem_euclid(step.at(s)) == 0
    }

    /// `10^-places` (`3` → `0.001`).
    pub fn unit(places: u32) -> Dec {
        Dec::new(1, places)
    }

    /// Lossy, for logs and reports only (never for order values).
    pub fn to_f64(&self) -> f64 {
        self.m as f64 / 10f64.powi(self.s as i32)
    }
}

impl PartialEq for Dec {
    fn eq(&self, o: &Dec) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Dec {}
impl PartialOrd for Dec {
    fn partial_cmp(&self, o: &Dec) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Dec {
    fn cmp(&self, o: &Dec) -> Ordering {
        let s = self.s.max(o.s);
        self.at(s).cmp(&o.at(s))
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.m < 0;
        let a = self.m.unsigned_abs();
        let p = 10u128.pow(self.s);
        let (int, frac) = (a / p, a % p);
        if neg {
            f.write_str("-")?;
        }
        if self.s == 0 {
            write!(f, "{int}")
        } else {
            write!(f, "{int}.{frac:0width$}", width = self.s as usize)
        }
    }
}

impl fmt::Debug for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl std::str::FromStr for Dec {
    type Err = String;
    fn from_str(s: &str) -> Result<Dec, String> {
        Dec::parse(s)
    }
}

impl serde::Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn parse_print_roundtrip() {
        for (i, o) in [
            ("0.001", "0.001"),
            ("60000", "60000"),
            ("60000.10", "60000.1"),
            ("-0.0225", "-0.0225"),
            (".5", "0.5"),
            ("007", "7"),
            ("0", "0"),
            ("0.000", "0"),
        ] {
            assert_eq!(d(i).to_string(), o, "{i}");
        }
        for bad in [
            "",
            "-",
            "1e-4",
            "1,000",
            "abc",
            "1.2.3",
            "0.1234567890123456789",
        ] {
            assert!(Dec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_arithmetic() {
        assert_eq!(d("0.1").add(&d("0.2")), d("0.3"));
        assert_eq!(d("0.3").sub(&d("0.1")), d("0.2"));
        assert_eq!(d("0.001").mul(&d("60000.5")), d("60.0005"));
        assert_eq!(d("0.0029").floor_steps(&d("0.001")), 2);
        assert_eq!(d("0.0021").ceil_steps(&d("0.001")), 3);
        assert_eq!(d("0.002").ceil_steps(&d("0.001")), 2);
        assert_eq!(d("-0.0015").floor_steps(&d("0.001")), -2);
        assert!(d("60000.5").is_multiple_of(&d("0.5")));
        assert!(!d("60000.3").is_multiple_of(&d("0.5")));
        assert_eq!(Dec::times(&d("0.01"), 37).to_string(), "0.37");
        assert!(d("1.10") == d("1.1") && d("2") > d("1.99"));
    }
}
