//! Candle-series helpers of the optimizer: daily sampling, periods per year, timeframe guess.

use scalp_core::{Candle, Timeframe};

/// `out[i]` = number of candles in `[0, i)` that are the last candle of their UTC day (the
/// engine's daily-return sampling; the last candle counts as a day end). Length n + 1.
pub fn day_end_cum(c: &[Candle], tf: Timeframe) -> Vec<u32> {
    let n = c.len();
    let day = |i: usize| (c[i].open_time + tf.ms() - 1).div_euclid(86_400_000);
    let mut out = Vec::with_capacity(n + 1);
    let mut acc = 0u32;
    out.push(0);
    for i in 0..n {
        if i + 1 == n || day(i) != day(i + 1) {
            acc += 1;
        }
        out.push(acc);
    }
    out
}

/// Candles per year for a timeframe (crypto trades 24/7: 365 days).
pub fn periods_per_year(tf: Timeframe) -> f64 {
    365.0 * 86_400_000.0 / tf.ms() as f64
}

/// Guesses the timeframe of a candle file from the most common spacing of open times.
pub fn infer_timeframe(c: &[Candle]) -> Option<Timeframe> {
    let mut counts: std::collections::BTreeMap<i64, usize> = Default::default();
    for w in c.windows(2).take(1000) {
        *counts.entry(w[1].open_time - w[0].open_time).or_default() += 1;
    }
    let (&ms, _) = counts.iter().max_by_key(|(_, n)| **n)?;
    [
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d",
    ]
    .iter()
    .filter_map(|s| s.parse::<Timeframe>().ok())
    .find(|t| t.ms() == ms)
}
