//! True range, ATR (Wilder), rolling mean/std, Bollinger bands, z-score, Keltner channels.

use crate::ma::Ema;
use scalp_core::Candle;
use serde::{Deserialize, Serialize};

/// True range: `max(h−l, |h−c₋₁|, |l−c₋₁|)`; the first bar has no previous close and yields
/// `None` (TA-Lib TRANGE).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrueRange {
    prev_close: Option<f64>,
}

impl TrueRange {
    pub fn new() -> TrueRange {
        TrueRange::default()
    }
    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let pc = self.prev_close.replace(close)?;
        Some(true_range(high, low, pc))
    }
}

/// TA-Lib's TRANGE arithmetic for one bar given the previous close.
#[inline]
pub fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut g = high - low;
    let v2 = (prev_close - high).abs();
    if v2 > g {
        g = v2;
    }
    let v3 = (prev_close - low).abs();
    if v3 > g {
        g = v3;
    }
    g
}

/// ATR with Wilder's smoothing (TA-Lib): first value at index `n` = mean(TR[1..=n]); then
/// `ATR = (ATR·(n−1) + TR)/n`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Atr {
    n: usize,
    tr: TrueRange,
    count: usize,
    atr: f64,
}

impl Atr {
    pub fn new(n: usize) -> Atr {
        assert!(n > 0, "ATR period must be > 0");
        Atr {
            n,
            tr: TrueRange::new(),
            count: 0,
            atr: 0.0,
        }
    }
    pub fn period(&self) -> usize {
        self.n
    }
    /// Current value (after warm-up).
    pub fn value(&self) -> Option<f64> {
        (self.count >= self.n).then_some(self.atr)
    }
    #[inline]
    pub fn update(&mut self, c: &Candle) -> Option<f64> {
        self.update_hlc(c.high, c.low, c.close)
    }
    #[inline]
    pub fn update_hlc(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tr = self.tr.update(high, low, close)?;
        let n = self.n as f64;
        if self.count >= self.n {
            self.atr *= n - 1.0;
            self.atr += tr;
            self.atr /= n;
            return Some(self.atr);
        }
        self.count += 1;
        self.atr += tr;
        if self.count == self.n {
            self.atr /= n;
            Some(self.atr)
        } else {
            None
        }
    }
}

/// Batch ATR: `NaN` for the first `n` bars.
pub fn atr(candles: &[Candle], n: usize) -> Vec<f64> {
    let mut s = Atr::new(n);
    candles
        .iter()
        .map(|c| s.update(c).unwrap_or(f64::NAN))
        .collect()
}

/// Rolling mean and population variance over `n` values, TA-Lib arithmetic (running sums of
/// x and x², variance = E[x²] − mean²; a non-positive variance is 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollingStats {
    n: usize,
    buf: Box<[f64]>,
    pos: usize,
    count: usize,
    sum: f64,
    sum2: f64,
}

/// Mean and population standard deviation of a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl RollingStats {
    pub fn new(n: usize) -> RollingStats {
        assert!(n > 0, "window must be > 0");
        RollingStats {
            n,
            buf: vec![0.0; n].into_boxed_slice(),
            pos: 0,
            count: 0,
            sum: 0.0,
            sum2: 0.0,
        }
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<MeanStd> {
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == self.n {
            self.pos = 0;
        }
        self.sum += x;
        self.sum2 += x * x;
        if self.count < self.n {
            self.count += 1;
            if self.count < self.n {
                return None;
            }
        }
        let n = self.n as f64;
        let mean = self.sum / n;
        let mut var = self.sum2 / n;
        let old = self.buf[self.pos];
        self.sum -= old;
        self.sum2 -= old * old;
        var -= mean * mean;
        let std = if var > 0.0 { var.sqrt() } else { 0.0 };
        Some(MeanStd { mean, std })
    }
}

/// Bollinger bands: mid = SMA(n), bands = mid ± k·σ with the population σ (ddof = 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bollinger {
    stats: RollingStats,
    k: f64,
}

/// One Bollinger value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    pub mid: f64,
    pub up: f64,
    pub low: f64,
}

impl Bands {
    /// %B: position of `x` in the band, 0 at the lower band, 1 at the upper band.
    pub fn percent_b(&self, x: f64) -> f64 {
        let w = self.up - self.low;
        if w > 0.0 { (x - self.low) / w } else { 0.5 }
    }
}

impl Bollinger {
    pub fn new(n: usize, k: f64) -> Bollinger {
        Bollinger {
            stats: RollingStats::new(n),
            k,
        }
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<Bands> {
        let s = self.stats.update(x)?;
        let d = s.std * self.k;
        Some(Bands {
            mid: s.mean,
            up: s.mean + d,
            low: s.mean - d,
        })
    }
}

/// Columns of a batch band indicator (`NaN` in warm-up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BandSeries {
    pub mid: Vec<f64>,
    pub up: Vec<f64>,
    pub low: Vec<f64>,
}

impl BandSeries {
    fn with_capacity(n: usize) -> BandSeries {
        BandSeries {
            mid: Vec::with_capacity(n),
            up: Vec::with_capacity(n),
            low: Vec::with_capacity(n),
        }
    }
    fn push(&mut self, b: Option<Bands>) {
        let b = b.unwrap_or(Bands {
            mid: f64::NAN,
            up: f64::NAN,
            low: f64::NAN,
        });
        self.mid.push(b.mid);
        self.up.push(b.up);
        self.low.push(b.low);
    }
}

/// Batch Bollinger: `NaN` for the first `n-1` values.
pub fn bollinger(xs: &[f64], n: usize, k: f64) -> BandSeries {
    let mut s = Bollinger::new(n, k);
    let mut out = BandSeries::with_capacity(xs.len());
    for &x in xs {
        out.push(s.update(x));
    }
    out
}

/// Rolling z-score `(x − mean)/σ` over the last `n` values including `x` (population σ);
/// 0 when σ is 0. First value at index `n-1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZScore {
    stats: RollingStats,
}

impl ZScore {
    pub fn new(n: usize) -> ZScore {
        ZScore {
            stats: RollingStats::new(n),
        }
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let s = self.stats.update(x)?;
        Some(if s.std > 0.0 {
            (x - s.mean) / s.std
        } else {
            0.0
        })
    }
}

/// Batch z-score: `NaN` for the first `n-1` values.
pub fn zscore(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = ZScore::new(n);
    xs.iter()
        .map(|&x| s.update(x).unwrap_or(f64::NAN))
        .collect()
}

/// Keltner channels: mid = EMA(close, `ema_n`), bands = mid ± `mult`·ATR(`atr_n`) (Wilder ATR
/// as above). First value when both the EMA and the ATR exist (index `max(ema_n−1, atr_n)`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keltner {
    ema: Ema,
    atr: Atr,
    mult: f64,
}

impl Keltner {
    pub fn new(ema_n: usize, atr_n: usize, mult: f64) -> Keltner {
        Keltner {
            ema: Ema::new(ema_n),
            atr: Atr::new(atr_n),
            mult,
        }
    }
    #[inline]
    pub fn update(&mut self, c: &Candle) -> Option<Bands> {
        let m = self.ema.update(c.close);
        let a = self.atr.update(c);
        let (m, a) = (m?, a?);
        let d = self.mult * a;
        Some(Bands {
            mid: m,
            up: m + d,
            low: m - d,
        })
    }
}

/// Batch Keltner channels.
pub fn keltner(candles: &[Candle], ema_n: usize, atr_n: usize, mult: f64) -> BandSeries {
    let mut s = Keltner::new(ema_n, atr_n, mult);
    let mut out = BandSeries::with_capacity(candles.len());
    for c in candles {
        out.push(s.update(c));
    }
    out
}
