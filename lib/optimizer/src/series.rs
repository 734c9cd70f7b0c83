//! Candle-series helpers of the optimizer: daily sampling, periods per year (the timeframe of
//! a candle file is inferred by `scalp_core::series`, the one rule of every command).

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
