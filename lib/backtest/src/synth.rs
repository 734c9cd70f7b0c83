//! Deterministic synthetic 1-minute candles derived from real hourly candles (for benchmarks and
//! memory measurements of multi-year 1m backtests when no such history is at hand).

use scalp_core::Candle;

/// `n` one-minute candles built from `hours` (repeated as often as needed). Each hour is split
/// into 60 minutes whose closes follow the hour's path O → L → H → C (close ≥ open) or
/// O → H → L → C, piecewise linear, with a small deterministic wiggle; every repetition of the
/// source is rescaled to continue from the previous close. Open times are consecutive minutes
/// from the first hour's open time.
pub fn minutes_from_hours(hours: &[Candle], n: usize) -> Vec<Candle> {
    assert!(!hours.is_empty());
    let mut out = Vec::with_capacity(n);
    let t0 = hours[0].open_time;
    let mut scale = 1.0;
    let mut prev_close = hours[0].open;
    let mut k = 0usize;
    while out.len() < n {
        let h = &hours[k % hours.len()];
        if k > 0 && k.is_multiple_of(hours.len()) {
            scale = prev_close / h.open;
        }
        let (o, hi, lo, c) = (
            h.open * scale,
            h.high * scale,
            h.low * scale,
            h.close * scale,
        );
        let pts = if c >= o {
            [o, lo, hi, c]
        } else {
            [o, hi, lo, c]
        };
        let mut open = prev_close;
        for m in 0..60 {
            if out.len() == n {
                break;
            }
            // Position along the 3 legs (20 minutes each).
            let x = (m + 1) as f64 / 20.0;
            let leg = (m / 20).min(2);
            let f = x - leg as f64;
            let mut close = pts[leg] + (pts[leg + 1] - pts[leg]) * f;
            let wiggle = ((m * 7 + k * 13) % 11) as f64 / 11.0 - 0.5;
            close *= 1.0 + wiggle * 1e-4;
            close = close.clamp(lo, hi);
            let high = open.max(close) * (1.0 + 5e-5);
            let low = open.min(close) * (1.0 - 5e-5);
            out.push(Candle {
                open_time: t0 + out.len() as i64 * 60_000,
                open,
                high,
                low,
                close,
                volume: h.volume / 60.0,
            });
            open = close;
        }
        prev_close = open;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_consistent_and_deterministic() {
        let hours: Vec<Candle> = (0..5)
            .map(|i| Candle {
                open_time: i * 3_600_000,
                open: 100.0 + i as f64,
                high: 103.0 + i as f64,
                low: 98.0 + i as f64,
                close: 101.0 + i as f64,
                volume: 60.0,
            })
            .collect();
        let m = minutes_from_hours(&hours, 1000);
        assert_eq!(m.len(), 1000);
        assert_eq!(m, minutes_from_hours(&hours, 1000));
        for (i, c) in m.iter().enumerate() {
            c.validate().unwrap();
            assert_eq!(c.open_time, i as i64 * 60_000);
            if i > 0 {
                assert_eq!(c.open, m[i - 1].close);
            }
        }
    }
}
