//! `optimize bench-wfo`: the headline walk-forward benchmark — N assets × W windows × the full
//! grid of a grid strategy (default grid_atr, 700 combinations), on assets derived from the
//! bundled BTC 1h candles (docs/OPTIMIZER.md, "Benchmarks"): how the assets are derived. The
//! command is `scalp_cli::optimize::bench`.

use scalp_core::Candle;

/// Derived asset `k` (0–4): the original series, its price inverse (1e8/p, high and low
/// swapped), its time reversal, its square root ×100, and the reversed inverse. Open times are
/// rebuilt ascending so each is a valid candle series with its own dynamics.
pub fn derive(c: &[Candle], k: usize) -> Vec<Candle> {
    let t0 = c[0].open_time;
    let step = c.get(1).map_or(3_600_000, |x| x.open_time - t0);
    let inv = |x: &Candle| Candle {
        open_time: x.open_time,
        open: 1e8 / x.open,
        high: 1e8 / x.low,
        low: 1e8 / x.high,
        close: 1e8 / x.close,
        volume: x.volume,
    };
    let rev = |v: Vec<Candle>| -> Vec<Candle> {
        v.iter()
            .rev()
            .enumerate()
            .map(|(i, x)| Candle {
                open_time: t0 + i as i64 * step,
                open: x.close,
                high: x.high,
                low: x.low,
                close: x.open,
                volume: x.volume,
            })
            .collect()
    };
    match k % 5 {
        0 => c.to_vec(),
        1 => c.iter().map(inv).collect(),
        2 => rev(c.to_vec()),
        3 => c
            .iter()
            .map(|x| Candle {
                open_time: x.open_time,
                open: 100.0 * x.open.sqrt(),
                high: 100.0 * x.high.sqrt(),
                low: 100.0 * x.low.sqrt(),
                close: 100.0 * x.close.sqrt(),
                volume: x.volume,
            })
            .collect(),
        _ => rev(c.iter().map(inv).collect()),
    }
}
