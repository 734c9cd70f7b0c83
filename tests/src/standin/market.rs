//! The stand-ins' market: real bundled 1h candles, other timeframes derived from them, and
//! deterministic funding rates and open interest.
//!
//! * `1h`: the bundled candles as they are.
//! * `2h 4h 6h 12h 1d`: aggregated from the 1h candles (open of the first, close of the last,
//!   max high, min low, summed volume); only complete buckets exist.
//! * `1m 3m 5m 15m 30m`: **synthesised deterministically** from the 1h candle that contains
//!   them. Price path per hour: open at minute 0, the first extreme at minute 20 and the second at
//!   minute 40 (low then high for a rising hour, high then low for a falling one), close at minute
//!   60, linear in between and rounded to 0.01 except at those four points. A sub-hour candle over
//!   minutes `[a, b]` (forming candles: up to the current second) has open `p(a)`, close `p(b)` and high/low over `p(a)`, `p(b)` and the
//!   vertices inside — so aggregating the synthetic 1m candles gives exactly the prices of the
//!   5m/15m/1h ones. Volume is split in units of 1e-8 (exact in integers; as f64 sums agree to
//!   ~1e-12 relative).

use scalp_core::{Candle, Timeframe};

const HOUR: i64 = 3_600_000;
const SEC: i64 = 1_000;

/// A contiguous series of 1h candles.
#[derive(Debug, Clone)]
pub struct Series {
    first: i64,
    hours: Vec<Candle>,
}

impl Series {
    /// `hours` must be contiguous, ascending, aligned 1h candles.
    pub fn new(hours: Vec<Candle>) -> Series {
        assert!(!hours.is_empty(), "empty series");
        for w in hours.windows(2) {
            assert_eq!(
                w[1].open_time - w[0].open_time,
                HOUR,
                "series must be contiguous 1h candles"
            );
        }
        assert_eq!(hours[0].open_time % HOUR, 0, "1h candles must be aligned");
        Series {
            first: hours[0].open_time,
            hours,
        }
    }

    /// The bundled `data/coinbase_btcusd_1h.csv`.
    pub fn bundled() -> Series {
        let p = crate::repo_root().join("data/coinbase_btcusd_1h.csv");
        let c = scalp_core::csvdata::read_candles_csv(&p).unwrap_or_else(|e| panic!("{e}"));
        Series::new(c)
    }

    /// The raw 1h candles.
    pub fn hours(&self) -> &[Candle] {
        &self.hours
    }

    /// Open time of the first 1h candle.
    pub fn first_open(&self) -> i64 {
        self.first
    }

    /// Close time (exclusive end) of the last 1h candle.
    pub fn end(&self) -> i64 {
        self.first + self.hours.len() as i64 * HOUR
    }

    fn hour(&self, open: i64) -> Option<&Candle> {
        if open < self.first || open % HOUR != 0 {
            return None;
        }
        self.hours.get(((open - self.first) / HOUR) as usize)
    }

    /// The complete candle of `tf` opening at `open`, if the data covers it entirely.
    pub fn candle(&self, tf: Timeframe, open: i64) -> Option<Candle> {
        if open % tf.ms() != 0 || open < self.first || open + tf.ms() > self.end() {
            return None;
        }
        self.partial(tf, open, open + tf.ms())
    }

    /// Every complete candle of `tf` with `from <= open_time < to`.
    pub fn candles(&self, tf: Timeframe, from: i64, to: i64) -> Vec<Candle> {
        let mut out = Vec::new();
        let mut o = tf.align(from.max(self.first));
        if o < from {
            o += tf.ms();
        }
        while o < to && o + tf.ms() <= self.end() {
            if let Some(c) = self.candle(tf, o) {
                out.push(c);
            }
            o += tf.ms();
        }
        out
    }

    /// The candle of `tf` opening at `open` as it looks at time `upto` (forming when
    /// `upto < open + tf`; second resolution). `None` outside the data.
    pub fn partial(&self, tf: Timeframe, open: i64, upto: i64) -> Option<Candle> {
        let upto = upto.min(open + tf.ms());
        if tf.ms() < HOUR {
            let hour = open.div_euclid(HOUR) * HOUR;
            let h = self.hour(hour)?;
            let a = (open - hour) / SEC;
            let b = a + ((upto - open).max(0) / SEC).min(tf.ms() / SEC);
            return Some(sub_hour(h, open, a, b));
        }
        let mut acc: Option<Candle> = None;
        let mut t = open;
        while t < upto {
            let h = match self.hour(t) {
                Some(h) => *h,
                None if acc.is_none() => return None,
                None => break,
            };
            let part = if t + HOUR <= upto {
                h
            } else {
                sub_hour(&h, t, 0, (upto - t) / SEC)
            };
            acc = Some(match acc {
                None => Candle {
                    open_time: open,
                    ..part
                },
                Some(a) => Candle {
                    open_time: open,
                    open: a.open,
                    high: a.high.max(part.high),
                    low: a.low.min(part.low),
                    close: part.close,
                    volume: a.volume + part.volume,
                },
            });
            t += HOUR;
        }
        acc.or_else(|| self.hour(open).map(|h| sub_hour(h, open, 0, 0)))
    }
}

/// The price path of hour candle `h` at second `m` (0..=3600).
fn path(h: &Candle, m: i64) -> f64 {
    let (e1, e2) = if h.close >= h.open {
        (h.low, h.high)
    } else {
        (h.high, h.low)
    };
    let pts = [(0, h.open), (1200, e1), (2400, e2), (3600, h.close)];
    for w in pts.windows(2) {
        let ((m0, p0), (m1, p1)) = (w[0], w[1]);
        if m == m0 {
            return p0;
        }
        if m == m1 {
            return p1;
        }
        if m > m0 && m < m1 {
            let p = p0 + (p1 - p0) * (m - m0) as f64 / (m1 - m0) as f64;
            return (p * 100.0).round() / 100.0;
        }
    }
    h.close
}

/// Seconds `[a, b]` of hour candle `h` as one candle opening at `open`.
fn sub_hour(h: &Candle, open: i64, a: i64, b: i64) -> Candle {
    let (pa, pb) = (path(h, a), path(h, b));
    let mut hi = pa.max(pb);
    let mut lo = pa.min(pb);
    for v in [1200, 2400] {
        if v > a && v < b {
            let p = path(h, v);
            hi = hi.max(p);
            lo = lo.min(p);
        }
    }
    let units = (h.volume * 1e8).round() as i128;
    let vol_units = units * b as i128 / 3600 - units * a as i128 / 3600;
    Candle {
        open_time: open,
        open: pa,
        high: hi,
        low: lo,
        close: pb,
        volume: vol_units as f64 / 1e8,
    }
}

/// Funding settles every 8 h at 00:00, 08:00 and 16:00 UTC.
pub const FUNDING_INTERVAL_MS: i64 = 8 * HOUR;

/// The stand-ins' funding rate at settlement `t`, as the decimal string they send.
pub fn funding_rate_str(t: i64) -> String {
    let k = (t / FUNDING_INTERVAL_MS) as f64;
    format!("{:.8}", 0.0001 + 0.00025 * (k * 0.7).sin())
}

/// The stand-ins' open interest (base coin) at time `t`, as the decimal string they send.
pub fn open_interest_str(t: i64) -> String {
    let x = (t / 300_000) as f64; // changes every 5 minutes
    format!("{:.3}", 50_000.0 + 7_500.0 * (x / 37.0).sin())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn h() -> Series {
        Series::new(vec![
            Candle {
                open_time: 0,
                open: 100.0,
                high: 110.0,
                low: 95.0,
                close: 105.0,
                volume: 6.0,
            },
            Candle {
                open_time: HOUR,
                open: 105.0,
                high: 106.0,
                low: 90.0,
                close: 91.0,
                volume: 3.3,
            },
        ])
    }

    #[test]
    fn synthetic_minutes_aggregate_to_the_hour() {
        let s = h();
        for hour in [0, HOUR] {
            let mins: Vec<Candle> = (0..60)
                .map(|m| s.candle(Timeframe::M1, hour + m * MIN).unwrap())
                .collect();
            let hc = s.candle(Timeframe::H1, hour).unwrap();
            assert_eq!(mins[0].open, hc.open);
            assert_eq!(mins[59].close, hc.close);
            assert_eq!(
                mins.iter().map(|c| c.high).fold(f64::MIN, f64::max),
                hc.high
            );
            assert_eq!(mins.iter().map(|c| c.low).fold(f64::MAX, f64::min), hc.low);
            let v: f64 = mins.iter().map(|c| c.volume).sum();
            assert!((v - hc.volume).abs() < 1e-9);
            for c in &mins {
                c.validate().unwrap();
            }
            for tf in [Timeframe::M3, Timeframe::M5, Timeframe::M15, Timeframe::M30] {
                let n = tf.ms() / MIN;
                for k in 0..(60 / n) {
                    let big = s.candle(tf, hour + k * tf.ms()).unwrap();
                    let part = &mins[(k * n) as usize..((k + 1) * n) as usize];
                    assert_eq!(big.open, part[0].open);
                    assert_eq!(big.close, part[part.len() - 1].close);
                    assert_eq!(
                        big.high,
                        part.iter().map(|c| c.high).fold(f64::MIN, f64::max)
                    );
                    assert_eq!(big.low, part.iter().map(|c| c.low).fold(f64::MAX, f64::min));
                }
            }
        }
        let two = s.candle(Timeframe::H2, 0).unwrap();
        assert_eq!(
            (two.open, two.high, two.low, two.close),
            (100.0, 110.0, 90.0, 91.0)
        );
        assert!(s.candle(Timeframe::H2, 2 * HOUR).is_none());
        // forming differs from final
        let f = s.partial(Timeframe::H1, 0, 30 * MIN).unwrap();
        assert!(f.volume < 6.0 && f.close != 105.0);
    }
}
