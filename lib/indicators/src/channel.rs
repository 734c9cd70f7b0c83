//! Rolling maximum/minimum (TA-Lib MAX/MIN) and Donchian channels.

use scalp_core::Candle;
use serde::{Deserialize, Serialize};

/// Rolling extreme over the last `n` values (including the current one), amortised O(1)
/// with a monotonic deque in a fixed ring (no allocation after `new`). First value at `n-1`.
/// `MAX = true` gives the maximum, `false` the minimum.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RollingExtreme<const MAX: bool> {
    n: usize,
    idx: Box<[u64]>,
    val: Box<[f64]>,
    head: usize,
    len: usize,
    i: u64,
}

/// Rolling maximum (TA-Lib MAX).
pub type RollingMax = RollingExtreme<true>;
/// Rolling minimum (TA-Lib MIN).
pub type RollingMin = RollingExtreme<false>;

impl<const MAX: bool> RollingExtreme<MAX> {
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "window must be > 0");
        RollingExtreme {
            n,
            idx: vec![0; n].into_boxed_slice(),
            val: vec![0.0; n].into_boxed_slice(),
            head: 0,
            len: 0,
            i: 0,
        }
    }
    #[inline]
    fn slot(&self, k: usize) -> usize {
        let s = self.head + k;
        if s >= self.n { s - self.n } else { s }
    }
    #[inline]
    fn dominated(old: f64, new: f64) -> bool {
        if MAX { old <= new } else { old >= new }
    }
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let i = self.i;
        self.i += 1;
        // drop the front if it left the window
        if self.len > 0 && self.idx[self.head] + self.n as u64 <= i {
            self.head = self.slot(1);
            self.len -= 1;
        }
        // drop dominated values from the back
        while self.len > 0 {
            let b = self.slot(self.len - 1);
            if Self::dominated(self.val[b], x) {
                self.len -= 1;
            } else {
                break;
            }
        }
        let b = self.slot(self.len);
        self.idx[b] = i;
        self.val[b] = x;
        self.len += 1;
        (self.i >= self.n as u64).then(|| self.val[self.head])
    }
}

/// Batch rolling maximum.
pub fn rolling_max(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = RollingMax::new(n);
    xs.iter()
        .map(|&x| s.update(x).unwrap_or(f64::NAN))
        .collect()
}

/// Batch rolling minimum.
pub fn rolling_min(xs: &[f64], n: usize) -> Vec<f64> {
    let mut s = RollingMin::new(n);
    xs.iter()
        .map(|&x| s.update(x).unwrap_or(f64::NAN))
        .collect()
}

/// Donchian channel over the last `n` bars *including* the current one: up = max(high),
/// low = min(low), mid = (up+low)/2. First value at index `n-1`. A breakout rule compares the
/// current close with the channel of the *previous* bar (see `docs/STRATEGIES.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Donchian {
    hi: RollingMax,
    lo: RollingMin,
}

/// One Donchian value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub up: f64,
    pub low: f64,
    pub mid: f64,
}

impl Donchian {
    pub fn new(n: usize) -> Donchian {
        Donchian {
            hi: RollingMax::new(n),
            lo: RollingMin::new(n),
        }
    }
    #[inline]
    pub fn update(&mut self, c: &Candle) -> Option<Channel> {
        let u = self.hi.update(c.high);
        let l = self.lo.update(c.low);
        let (up, low) = (u?, l?);
        Some(Channel {
            up,
            low,
            mid: (up + low) / 2.0,
        })
    }
}

/// Batch Donchian columns (`NaN` in warm-up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelSeries {
    pub up: Vec<f64>,
    pub low: Vec<f64>,
    pub mid: Vec<f64>,
}

/// Batch Donchian channel.
pub fn donchian(candles: &[Candle], n: usize) -> ChannelSeries {
    let mut s = Donchian::new(n);
    let mut out = ChannelSeries::default();
    for c in candles {
        let v = s.update(c);
        out.up.push(v.map_or(f64::NAN, |v| v.up));
        out.low.push(v.map_or(f64::NAN, |v| v.low));
        out.mid.push(v.map_or(f64::NAN, |v| v.mid));
    }
    out
}
