//! Higher-timeframe candles from lower-timeframe ones (e.g. 4h from 1h), streaming and batch.

use crate::{Candle, Timeframe};

/// Aggregates candles of a base timeframe into a higher timeframe `tf` (open times aligned to
/// multiples of `tf` since the epoch, UTC). A higher candle is emitted once it is closed:
/// when its last base candle arrives (`open_time + base = bucket start + tf`), or, if base
/// candles are missing at the end of a bucket, when the first candle of a later bucket arrives
/// (the partial bucket is then emitted before that candle is added). open = first open,
/// high = max, low = min, close = last close, volume = sum.
#[derive(Debug, Clone)]
pub struct Resampler {
    base_ms: i64,
    tf_ms: i64,
    cur: Option<Candle>,
}

impl Resampler {
    pub fn new(base: Timeframe, tf: Timeframe) -> Resampler {
        assert!(
            tf.ms() >= base.ms() && tf.ms() % base.ms() == 0,
            "{tf} is not a multiple of {base}"
        );
        Resampler {
            base_ms: base.ms(),
            tf_ms: tf.ms(),
            cur: None,
        }
    }

    /// Feeds one closed base candle; returns the higher candles that closed, oldest first (at
    /// most two: a partial bucket left by a gap, then the bucket this candle completes).
    #[inline]
    pub fn update(&mut self, c: &Candle) -> (Option<Candle>, Option<Candle>) {
        let start = c.open_time.div_euclid(self.tf_ms) * self.tf_ms;
        let mut gap = None;
        match &mut self.cur {
            Some(h) if h.open_time == start => {
                h.high = h.high.max(c.high);
                h.low = h.low.min(c.low);
                h.close = c.close;
                h.volume += c.volume;
            }
            cur => {
                gap = cur.take();
                *cur = Some(Candle {
                    open_time: start,
                    ..*c
                });
            }
        }
        let done = if c.open_time + self.base_ms >= start + self.tf_ms {
            self.cur.take()
        } else {
            None
        };
        (gap, done)
    }
}

/// Batch resampling; a trailing incomplete bucket is not returned (it has not closed).
pub fn resample(candles: &[Candle], base: Timeframe, tf: Timeframe) -> Vec<Candle> {
    let mut r = Resampler::new(base, tf);
    let mut out = Vec::with_capacity(candles.len() / ((tf.ms() / base.ms()) as usize).max(1) + 1);
    for c in candles {
        let (a, b) = r.update(c);
        out.extend(a);
        out.extend(b);
    }
    out
}
