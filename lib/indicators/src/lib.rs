//! Indicators. Every indicator has a streaming form (`update` one value at a time, `None`
//! during warm-up) and a batch form over a slice (`NaN` during warm-up); the two agree exactly.
//! Conventions (TA-Lib's) are in `docs/INDICATORS.md`.

/// Simple moving average over `n` values; first value at index `n-1`.
#[derive(Debug, Clone)]
pub struct Sma {
    n: usize,
    buf: Vec<f64>,
    pos: usize,
    count: usize,
    sum: f64,
}

impl Sma {
    pub fn new(n: usize) -> Sma {
        assert!(n > 0, "SMA period must be > 0");
        Sma { n, buf: vec![0.0; n], pos: 0, count: 0, sum: 0.0 }
    }
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.count == self.n {
            self.sum -= self.buf[self.pos];
        } else {
            self.count += 1;
        }
        self.buf[self.pos] = x;
        self.sum += x;
        self.pos = (self.pos + 1) % self.n;
        (self.count == self.n).then(|| self.sum / self.n as f64)
    }
}

/// Batch SMA: `NaN` for the first `n-1` values.
pub fn sma(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = Sma::new(n);
    xs.iter().map(|&x| s.update(x).unwrap_or(f64::NAN)).collect()
}
