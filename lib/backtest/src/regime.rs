//! Market regime of a trade at entry, from ADX/±DI and ATR (see `docs/BACKTEST.md`).

use crate::config::RegimeConfig;
use scalp_core::Candle;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Regime {
    Ranging,
    TrendingUp,
    TrendingDown,
    Volatile,
    /// Not enough history before the entry (fewer than `2 × period + 1` candles), or regime
    /// labelling disabled.
    Unknown,
}

impl Regime {
    pub const ALL: [Regime; 5] = [
        Regime::Ranging,
        Regime::TrendingUp,
        Regime::TrendingDown,
        Regime::Volatile,
        Regime::Unknown,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Ranging => "RANGING",
            Regime::TrendingUp => "TRENDING_UP",
            Regime::TrendingDown => "TRENDING_DOWN",
            Regime::Volatile => "VOLATILE",
            Regime::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies the regime from `candles` (oldest first; the last one is the signal candle —
/// the last candle closed before the entry). Only the last `cfg.window` candles are used, so
/// the answer never depends on data before that window nor after the signal candle:
///
/// 1. ATR(p) and ADX(p)/±DI(p) (Wilder, TA-Lib seeding) run over the window;
/// 2. `vol_ratio = ATR(p) at the last candle / mean true range of the window's candles 1..`;
/// 3. `vol_ratio ≥ cfg.vol_ratio` → VOLATILE; else `ADX ≥ cfg.adx_trend` → TRENDING_UP if
///    +DI > −DI, else TRENDING_DOWN; else RANGING.
pub fn classify(candles: &[Candle], cfg: &RegimeConfig) -> Regime {
    if !cfg.enabled {
        return Regime::Unknown;
    }
    let w = &candles[candles.len().saturating_sub(cfg.window)..];
    if w.len() < 2 * cfg.period + 1 {
        return Regime::Unknown;
    }
    let Some(v) = adx_atr(w, cfg.period) else {
        return Regime::Unknown;
    };
    let (adx_v, plus_gt_minus, a, tr_sum) = (v.adx, v.plus_di > v.minus_di, v.atr, v.tr_sum);
    let mean_tr = tr_sum / (w.len() - 1) as f64;
    if mean_tr > 0.0 && a / mean_tr >= cfg.vol_ratio {
        Regime::Volatile
    } else if adx_v >= cfg.adx_trend {
        if plus_gt_minus {
            Regime::TrendingUp
        } else {
            Regime::TrendingDown
        }
    } else {
        Regime::Ranging
    }
}

/// ADX/±DI and ATR at the last candle of `w` plus Σ true range of `w[1..]`.
#[derive(Debug, Clone, Copy)]
pub struct WindowDmi {
    pub adx: f64,
    pub plus_di: f64,
    pub minus_di: f64,
    pub atr: f64,
    pub tr_sum: f64,
}

/// One tight pass over `w` with TA-Lib's ADX/ATR recurrences (same as `scalp_indicators::Adx`
/// and `Atr` up to rounding: divisions by `n` are multiplications by `1/n` here; they agree to
/// 1e-9 relative — see the test): ±DM sums of bars `1..n−1`, then
/// `S ← S − S/n + x`; DX = 100·|S+ − S−|/(S+ + S−); first ADX at index `2n−1` = mean DX of bars
/// `n..=2n−1`, then `ADX ← (ADX·(n−1) + DX)/n`; first ATR at index `n` = mean TR of bars
/// `1..=n`, then Wilder. `None` before index `2n−1`.
pub fn adx_atr(w: &[Candle], n: usize) -> Option<WindowDmi> {
    if w.len() < 2 * n {
        return None;
    }
    let inv = 1.0 / n as f64;
    let (mut sp, mut sm, mut st) = (0.0f64, 0.0f64, 0.0f64);
    let (mut atr, mut tr_sum, mut dx_sum, mut adx) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 1..w.len() {
        let (c, p) = (&w[i], &w[i - 1]);
        let tr = (c.high - c.low)
            .max((c.high - p.close).abs())
            .max((c.low - p.close).abs());
        tr_sum += tr;
        let up = c.high - p.high;
        let down = p.low - c.low;
        let (pdm, mdm) = if down > 0.0 && up < down {
            (0.0, down)
        } else if up > 0.0 && up > down {
            (up, 0.0)
        } else {
            (0.0, 0.0)
        };
        if i < n {
            sp += pdm;
            sm += mdm;
            st += tr;
            atr += tr;
            continue;
        }
        sp = sp - sp * inv + pdm;
        sm = sm - sm * inv + mdm;
        st = st - st * inv + tr;
        atr = if i == n {
            (atr + tr) * inv
        } else {
            atr + (tr - atr) * inv
        };
        let s = sp + sm;
        let dx = if s > 0.0 && st > 0.0 {
            100.0 * (sp - sm).abs() / s
        } else {
            0.0
        };
        if i < 2 * n - 1 {
            dx_sum += dx;
        } else if i == 2 * n - 1 {
            adx = (dx_sum + dx) * inv;
        } else {
            adx += (dx - adx) * inv;
        }
    }
    let di = |x: f64| if st > 0.0 { 100.0 * x / st } else { 0.0 };
    Some(WindowDmi {
        adx,
        plus_di: di(sp),
        minus_di: di(sm),
        atr,
        tr_sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_dmi_agrees_with_scalp_indicators() {
        let mut x = 12345u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut p = 100.0;
        let w: Vec<Candle> = (0..300)
            .map(|i| {
                let o = p;
                let c = o * (1.0 + (rnd() - 0.5) * 0.03);
                p = c;
                Candle {
                    open_time: i,
                    open: o,
                    high: o.max(c) * (1.0 + rnd() * 0.01),
                    low: o.min(c) * (1.0 - rnd() * 0.01),
                    close: c,
                    volume: 1.0,
                }
            })
            .collect();
        for len in [28usize, 29, 60, 100, 300] {
            let mut adx = scalp_indicators::Adx::new(14);
            let mut atr = scalp_indicators::Atr::new(14);
            let (mut d, mut a) = (None, None);
            for c in &w[..len] {
                d = adx.update(c);
                a = atr.update(c);
            }
            let (d, a) = (d.unwrap(), a.unwrap());
            let v = adx_atr(&w[..len], 14).unwrap();
            let rel = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs());
            assert!(
                rel(v.adx, d.adx.unwrap()),
                "adx {len}: {} vs {:?}",
                v.adx,
                d.adx
            );
            assert!(
                rel(v.plus_di, d.plus_di) && rel(v.minus_di, d.minus_di),
                "di {len}"
            );
            assert!(rel(v.atr, a), "atr {len}: {} vs {a}", v.atr);
        }
        assert!(adx_atr(&w[..27], 14).is_none());
    }

    fn candle(t: i64, c: f64, range: f64) -> Candle {
        Candle {
            open_time: t,
            open: c,
            high: c + range,
            low: c - range,
            close: c,
            volume: 1.0,
        }
    }

    #[test]
    fn classifies_trend_range_volatile() {
        let cfg = RegimeConfig::default();
        let up: Vec<Candle> = (0..100).map(|i| candle(i, 100.0 + i as f64, 0.6)).collect();
        assert_eq!(classify(&up, &cfg), Regime::TrendingUp);
        let down: Vec<Candle> = (0..100).map(|i| candle(i, 300.0 - i as f64, 0.6)).collect();
        assert_eq!(classify(&down, &cfg), Regime::TrendingDown);
        let flat: Vec<Candle> = (0..100)
            .map(|i| candle(i, 100.0 + (i % 2) as f64 * 0.1, 0.5))
            .collect();
        assert_eq!(classify(&flat, &cfg), Regime::Ranging);
        let mut vol = flat.clone();
        for (k, c) in vol.iter_mut().rev().take(10).enumerate() {
            *c = candle(c.open_time, 100.0 + k as f64 % 2.0, 8.0);
        }
        assert_eq!(classify(&vol, &cfg), Regime::Volatile);
        assert_eq!(classify(&up[..20], &cfg), Regime::Unknown);
    }
}
