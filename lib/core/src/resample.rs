//! Higher-timeframe candles from lower-timeframe ones (e.g. 4h from 1h), streaming and batch.

use crate::{Candle, Timeframe};

/// Aggregates candles of a base timeframe into a higher timeframe `tf` (open times aligned to
/// multiples of `tf` since the epoch, UTC). A higher candle is emitted once it is closed:
/// when its last base candle arrives (`open_time + base = bucket start + tf`), or, if base
/// candles are missing at the end of a bucket, when the first candle of a later bucket arrives
/// (the partial bucket is then emitted before that candle is added). open = first open,
/// high = max, low = min, close = last close, volume = sum.
///
/// The series' head: base candles before the first one in a bucket's first base slot are
/// skipped — a
/// series that starts mid-bucket (hourly data from 11:00, 4h buckets from 08:00) has no
/// complete first bucket, and a 1-hour candle passed off as a 4h one would feed the higher
/// timeframe's indicators a bar it is not (the same rule as `series::conform`, which starts a
/// resampled series at its first aligned candle).
#[derive(Debug, Clone)]
pub struct Resampler {
    base_ms: i64,
    tf_ms: i64,
    cur: Option<Candle>,
    /// Whether a candle opening a bucket has been seen (the head is skipped until then).
    started: bool,
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
            started: false,
        }
    }

    /// Feeds one closed base candle; returns the higher candles that closed, oldest first (at
    /// most two: a partial bucket left by a gap, then the bucket this candle completes).
    #[inline]
    pub fn update(&mut self, c: &Candle) -> (Option<Candle>, Option<Candle>) {
        let start = c.open_time.div_euclid(self.tf_ms) * self.tf_ms;
        if !self.started {
            // The head bucket is complete only from its first base slot on.
            if c.open_time - start >= self.base_ms {
                return (None, None);
            }
            self.started = true;
        }
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

/// Batch resampling; a leading incomplete bucket (the series starts mid-bucket) and a trailing
/// one (it has not closed) are not returned.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hourly candles from 11:00: the 08:00 4h bucket would hold one hour of four, so it is not
    /// a 4h candle; the first is 12:00–16:00, and a gap later still closes its partial bucket.
    #[test]
    fn a_series_starting_mid_bucket_skips_its_incomplete_head() {
        let h = 3_600_000;
        let c = |k: i64| Candle {
            open_time: k * h,
            open: k as f64,
            high: k as f64 + 1.0,
            low: k as f64 - 1.0,
            close: k as f64 + 0.5,
            volume: 1.0,
        };
        let cs: Vec<Candle> = (11..24).filter(|k| *k != 18).map(c).collect();
        let out = resample(&cs, Timeframe::H1, Timeframe::H4);
        let opens: Vec<i64> = out.iter().map(|x| x.open_time / h).collect();
        assert_eq!(opens, [12, 16, 20]);
        assert_eq!(
            (out[0].open, out[0].close, out[0].volume),
            (12.0, 15.5, 4.0)
        );
        // 16:00 bucket misses 18:00: emitted partial (3 candles) when 20:00 arrives
        assert_eq!(out[1].volume, 3.0);
        // aligned from the start: nothing skipped
        let aligned: Vec<Candle> = (12..16).map(c).collect();
        assert_eq!(resample(&aligned, Timeframe::H1, Timeframe::H4).len(), 1);
    }
}
