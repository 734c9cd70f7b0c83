//! Market regime of a trade at entry, from ADX/±DI and ATR (see `docs/BACKTEST.md`).

use crate::config::RegimeConfig;
use scalp_core::Candle;
use scalp_indicators::{Adx, Atr};
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
    let mut adx = Adx::new(cfg.period);
    let mut atr = Atr::new(cfg.period);
    let mut dmi = None;
    let mut atr_v = None;
    let mut tr_sum = 0.0;
    for (i, c) in w.iter().enumerate() {
        dmi = adx.update(c);
        atr_v = atr.update(c);
        if i > 0 {
            let pc = w[i - 1].close;
            tr_sum += (c.high - c.low)
                .max((c.high - pc).abs())
                .max((c.low - pc).abs());
        }
    }
    let (Some(d), Some(a)) = (dmi, atr_v) else {
        return Regime::Unknown;
    };
    let Some(adx_v) = d.adx else {
        return Regime::Unknown;
    };
    let mean_tr = tr_sum / (w.len() - 1) as f64;
    if mean_tr > 0.0 && a / mean_tr >= cfg.vol_ratio {
        Regime::Volatile
    } else if adx_v >= cfg.adx_trend {
        if d.plus_di > d.minus_di {
            Regime::TrendingUp
        } else {
            Regime::TrendingDown
        }
    } else {
        Regime::Ranging
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
