//! Moving averages: SMA and EMA (TA-Lib conventions and operation order).

use serde::{Deserialize, Serialize};

/// Simple moving average over `n` values; first value at index `n-1`.
///
/// Arithmetic in TA-Lib's order: the running sum of the last `n` values is formed by adding
/// the new value, the mean is taken, then the value leaving the window is subtracted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sma {
    n: usize,
    buf: Box<[f64]>,
    pos: usize,
    count: usize,
    /// Sum of the last `n-1` values once warm (the `n`-th is added on update).
    sum: f64,
}

impl Sma {
    pub fn new(n: usize) -> Sma {
        assert!(n > 0, "SMA period must be > 0");
        Sma {
            n,
            buf: vec![0.0; n].into_boxed_slice(),
            pos: 0,
            count: 0,
            sum: 0.0,
        }
    }
    pub fn period(&self) -> usize {
        self.n
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == self.n {
            self.pos = 0;
        }
        self.sum += x;
        if self.count < self.n {
            self.count += 1;
            if self.count < self.n {
                return None;
            }
        }
        let out = self.sum / self.n as f64;
        // buf[pos] is now the oldest value of the window: it leaves on the next update.
        self.sum -= self.buf[self.pos];
        Some(out)
    }
}

/// Batch SMA: `NaN` for the first `n-1` values. The same floating-point operations as
/// [`Sma::update`] in the same order (subtract the value leaving the window, add the new one,
/// divide by `n`), without the ring buffer: bit-identical to the streaming form (property test)
/// and fast enough for the optimizer, which precomputes one array per period.
pub fn sma(xs: &[f64], n: usize) -> Vec<f64> {
    assert!(n > 0, "SMA period must be > 0");
    let mut out = vec![f64::NAN; xs.len()];
    let mut sum = 0.0;
    for i in 0..xs.len() {
        if i >= n {
            sum -= xs[i - n];
        }
        sum += xs[i];
        if i + 1 >= n {
            out[i] = sum / n as f64;
        }
    }
    out
}

/// Exponential moving average, k = 2/(n+1), seeded with the SMA of the first `n` values at
/// index `n-1`; then `e = (x − e)·k + e` (TA-Lib).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ema {
    n: usize,
    k: f64,
    count: usize,
    /// Seed sum during warm-up, then the EMA value.
    e: f64,
}

impl Ema {
    pub fn new(n: usize) -> Ema {
        assert!(n > 0, "EMA period must be > 0");
        Ema {
            n,
            k: 2.0 / (n as f64 + 1.0),
            count: 0,
            e: 0.0,
        }
    }
    pub fn period(&self) -> usize {
        self.n
    }
    /// Current value (after warm-up).
    pub fn value(&self) -> Option<f64> {
        (self.count >= self.n).then_some(self.e)
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.count >= self.n {
            self.e = (x - self.e) * self.k + self.e;
            return Some(self.e);
        }
        self.count += 1;
        self.e += x;
        if self.count == self.n {
            self.e /= self.n as f64;
            Some(self.e)
        } else {
            None
        }
    }
}

/// Batch EMA: `NaN` for the first `n-1` values.
pub fn ema(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = Ema::new(n);
    xs.iter()
        .map(|&x| s.update(x).unwrap_or(f64::NAN))
        .collect()
}
