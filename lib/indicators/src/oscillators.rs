//! RSI (Wilder) and ROC.

use serde::{Deserialize, Serialize};

/// RSI with Wilder's smoothing (TA-Lib): d = diff(close); first value at index `n` from the
/// means of gains and losses of d[1..=n]; then `avg = (avg·(n−1) + x)/n`;
/// RSI = 100·AG/(AG+AL). When AG+AL is exactly 0 (flat prices) the value is 50 (TA-Lib
/// returns 0 when |AG+AL| < 1e-8, which is wrong for low-priced assets; see docs/INDICATORS.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rsi {
    n: usize,
    count: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub fn new(n: usize) -> Rsi {
        assert!(n > 0, "RSI period must be > 0");
        Rsi {
            n,
            count: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        }
    }
    pub fn period(&self) -> usize {
        self.n
    }
    #[inline]
    fn value(&self) -> f64 {
        let t = self.gain + self.loss;
        if t != 0.0 {
            100.0 * (self.gain / t)
        } else {
            50.0
        }
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let n = self.n as f64;
        if self.count > self.n {
            let d = x - self.prev;
            self.prev = x;
            self.loss *= n - 1.0;
            self.gain *= n - 1.0;
            if d < 0.0 {
                self.loss -= d;
            } else {
                self.gain += d;
            }
            self.loss /= n;
            self.gain /= n;
            return Some(self.value());
        }
        if self.count == 0 {
            self.count = 1;
            self.prev = x;
            return None;
        }
        let d = x - self.prev;
        self.prev = x;
        if d < 0.0 {
            self.loss -= d;
        } else {
            self.gain += d;
        }
        self.count += 1;
        if self.count == self.n + 1 {
            self.loss /= n;
            self.gain /= n;
            Some(self.value())
        } else {
            None
        }
    }
}

/// Batch RSI: `NaN` for the first `n` values.
pub fn rsi(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = Rsi::new(n);
    xs.iter()
        .map(|&x| s.update(x).unwrap_or(f64::NAN))
        .collect()
}

/// Rate of change in percent (TA-Lib ROC): `(x / x[i−n] − 1)·100`, first value at index `n`;
/// 0 when `x[i−n]` is 0.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Roc {
    n: usize,
    buf: Box<[f64]>,
    pos: usize,
    count: usize,
}

impl Roc {
    pub fn new(n: usize) -> Roc {
        assert!(n > 0, "ROC period must be > 0");
        Roc {
            n,
            buf: vec![0.0; n].into_boxed_slice(),
            pos: 0,
            count: 0,
        }
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        // buf holds the last n values; buf[pos] is the value n steps back.
        let old = self.buf[self.pos];
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == self.n {
            self.pos = 0;
        }
        if self.count < self.n {
            self.count += 1;
            return None;
        }
        Some(if old != 0.0 {
            ((x / old) - 1.0) * 100.0
        } else {
            0.0
        })
    }
}

/// Batch ROC: `NaN` for the first `n` values.
pub fn roc(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = Roc::new(n);
    xs.iter()
        .map(|&x| s.update(x).unwrap_or(f64::NAN))
        .collect()
}
