//! ADX / +DI / −DI (TA-Lib) and Supertrend.

use crate::volatility::{Atr, true_range};
use scalp_core::Candle;
use serde::{Deserialize, Serialize};

/// Directional movement index (TA-Lib ADX, PLUS_DI, MINUS_DI arithmetic).
///
/// +DM/−DM of a bar: `up = h − h₋₁`, `down = l₋₁ − l`; −DM = down if `down > 0 && up < down`,
/// else +DM = up if `up > 0 && up > down`. Bars 1..n−1 are summed; from bar `n` on, each sum
/// `S` is smoothed `S = S − S/n + x` (Wilder). ±DI = 100·S(±DM)/S(TR), first at index `n`.
/// DX = 100·|+DI − −DI|/(+DI + −DI); the first ADX (index `2n−1`, 27 for n = 14) is the mean
/// of the DX of bars n..2n−1, then `ADX = (ADX·(n−1) + DX)/n`. A bar whose S(TR) or DI sum is
/// exactly 0 contributes no DX (TA-Lib uses |x| < 1e-8; see docs/INDICATORS.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Adx {
    n: usize,
    /// Bars seen.
    count: usize,
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    pdm: f64,
    mdm: f64,
    tr: f64,
    sum_dx: f64,
    adx: f64,
}

/// One DMI value. `adx` is `None` until index `2n−1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dmi {
    pub plus_di: f64,
    pub minus_di: f64,
    pub adx: Option<f64>,
}

impl Adx {
    pub fn new(n: usize) -> Adx {
        assert!(n >= 2, "ADX period must be >= 2");
        Adx {
            n,
            count: 0,
            prev_high: 0.0,
            prev_low: 0.0,
            prev_close: 0.0,
            pdm: 0.0,
            mdm: 0.0,
            tr: 0.0,
            sum_dx: 0.0,
            adx: 0.0,
        }
    }
    pub fn period(&self) -> usize {
        self.n
    }
    #[inline]
    pub fn update(&mut self, c: &Candle) -> Option<Dmi> {
        let i = self.count;
        self.count += 1;
        if i == 0 {
            self.prev_high = c.high;
            self.prev_low = c.low;
            self.prev_close = c.close;
            return None;
        }
        let diff_p = c.high - self.prev_high;
        let diff_m = self.prev_low - c.low;
        self.prev_high = c.high;
        self.prev_low = c.low;
        let tr = true_range(c.high, c.low, self.prev_close);
        self.prev_close = c.close;
        let n = self.n as f64;
        if i < self.n {
            if diff_m > 0.0 && diff_p < diff_m {
                self.mdm += diff_m;
            } else if diff_p > 0.0 && diff_p > diff_m {
                self.pdm += diff_p;
            }
            self.tr += tr;
            return None;
        }
        self.mdm -= self.mdm / n;
        self.pdm -= self.pdm / n;
        if diff_m > 0.0 && diff_p < diff_m {
            self.mdm += diff_m;
        } else if diff_p > 0.0 && diff_p > diff_m {
            self.pdm += diff_p;
        }
        self.tr = self.tr - (self.tr / n) + tr;
        let (plus_di, minus_di, dx) = if self.tr != 0.0 {
            let m = 100.0 * (self.mdm / self.tr);
            let p = 100.0 * (self.pdm / self.tr);
            let s = m + p;
            (p, m, (s != 0.0).then(|| 100.0 * ((m - p).abs() / s)))
        } else {
            (0.0, 0.0, None)
        };
        let last_seed = 2 * self.n - 1;
        let adx = if i < last_seed {
            if let Some(dx) = dx {
                self.sum_dx += dx;
            }
            None
        } else if i == last_seed {
            if let Some(dx) = dx {
                self.sum_dx += dx;
            }
            self.adx = self.sum_dx / n;
            Some(self.adx)
        } else {
            if let Some(dx) = dx {
                self.adx = ((self.adx * (n - 1.0)) + dx) / n;
            }
            Some(self.adx)
        };
        Some(Dmi {
            plus_di,
            minus_di,
            adx,
        })
    }
}

/// Batch DMI columns (`NaN` in warm-up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DmiSeries {
    pub adx: Vec<f64>,
    pub plus_di: Vec<f64>,
    pub minus_di: Vec<f64>,
}

/// Batch ADX/+DI/−DI.
pub fn adx(candles: &[Candle], n: usize) -> DmiSeries {
    let mut s = Adx::new(n);
    let mut out = DmiSeries::default();
    for c in candles {
        let v = s.update(c);
        out.plus_di.push(v.map_or(f64::NAN, |v| v.plus_di));
        out.minus_di.push(v.map_or(f64::NAN, |v| v.minus_di));
        out.adx.push(v.and_then(|v| v.adx).unwrap_or(f64::NAN));
    }
    out
}

/// Supertrend, TradingView `ta.supertrend` definition (Pine v5) on our Wilder ATR:
///
/// * `hl2 = (h+l)/2`, `basic_up = hl2 + m·ATR`, `basic_low = hl2 − m·ATR`.
/// * Final bands: `up = basic_up` if `basic_up < up₋₁` or `close₋₁ > up₋₁`, else `up₋₁`;
///   `low = basic_low` if `basic_low > low₋₁` or `close₋₁ < low₋₁`, else `low₋₁`.
/// * Direction: on the first ATR bar it is down (−1). Then, if the previous direction was
///   down it turns up when `close > up` (the *current* final upper band), else stays down; if
///   it was up it turns down when `close < low`, else stays up. Ties (close equal to the
///   band) never flip.
/// * Value: `low` in an uptrend, `up` in a downtrend. First value at index `n` (ATR warm-up).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Supertrend {
    atr: Atr,
    mult: f64,
    started: bool,
    up: f64,
    low: f64,
    dir: i8,
    prev_close: f64,
}

/// One Supertrend value: `dir` is +1 (uptrend, value = lower band) or −1 (downtrend, value
/// = upper band); `flipped` is true on the bar where the direction changed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SupertrendValue {
    pub value: f64,
    pub dir: i8,
    pub up: f64,
    pub low: f64,
    pub flipped: bool,
}

impl Supertrend {
    pub fn new(n: usize, mult: f64) -> Supertrend {
        Supertrend {
            atr: Atr::new(n),
            mult,
            started: false,
            up: 0.0,
            low: 0.0,
            dir: -1,
            prev_close: 0.0,
        }
    }
    #[inline]
    pub fn update(&mut self, c: &Candle) -> Option<SupertrendValue> {
        let a = self.atr.update(c);
        let prev_close = std::mem::replace(&mut self.prev_close, c.close);
        let a = a?;
        let hl2 = (c.high + c.low) / 2.0;
        let basic_up = hl2 + self.mult * a;
        let basic_low = hl2 - self.mult * a;
        let mut flipped = false;
        if !self.started {
            self.started = true;
            self.up = basic_up;
            self.low = basic_low;
            self.dir = -1;
        } else {
            if basic_up < self.up || prev_close > self.up {
                self.up = basic_up;
            }
            if basic_low > self.low || prev_close < self.low {
                self.low = basic_low;
            }
            let new_dir = if self.dir < 0 {
                if c.close > self.up { 1 } else { -1 }
            } else if c.close < self.low {
                -1
            } else {
                1
            };
            flipped = new_dir != self.dir;
            self.dir = new_dir;
        }
        let value = if self.dir > 0 { self.low } else { self.up };
        Some(SupertrendValue {
            value,
            dir: self.dir,
            up: self.up,
            low: self.low,
            flipped,
        })
    }
}

/// Batch Supertrend columns (`NaN` in warm-up; `dir` as ±1.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupertrendSeries {
    pub value: Vec<f64>,
    pub dir: Vec<f64>,
}

/// Batch Supertrend.
pub fn supertrend(candles: &[Candle], n: usize, mult: f64) -> SupertrendSeries {
    let mut s = Supertrend::new(n, mult);
    let mut out = SupertrendSeries::default();
    for c in candles {
        let v = s.update(c);
        out.value.push(v.map_or(f64::NAN, |v| v.value));
        out.dir.push(v.map_or(f64::NAN, |v| f64::from(v.dir)));
    }
    out
}
