//! Exchange clocks: the offset between each exchange's clock and ours, measured with its
//! server-time endpoint. Every "is this candle closed / is this missing yet / is this stream
//! late" decision about an exchange's data uses that exchange's clock, so a skewed local clock
//! (or an exchange stand-in running in the past) cannot make the collector store a forming
//! candle or chase candles that cannot exist yet.

use scalp_core::Exchange;
use scalp_core::types::now_ms;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Clone, Default)]
pub struct ExchangeClocks(Arc<[AtomicI64; 3]>);

fn idx(ex: Exchange) -> usize {
    match ex {
        Exchange::Binance => 0,
        Exchange::Bitget => 1,
        Exchange::Replay => 2,
    }
}

impl ExchangeClocks {
    pub fn new() -> Self {
        Self::default()
    }
    /// `exchange time - local time` in ms (0 until measured; always 0 for replay).
    pub fn offset(&self, ex: Exchange) -> i64 {
        self.0[idx(ex)].load(Ordering::Relaxed)
    }
    pub fn set_offset(&self, ex: Exchange, offset_ms: i64) {
        self.0[idx(ex)].store(offset_ms, Ordering::Relaxed);
    }
    /// The exchange's current time as estimated locally.
    pub fn now(&self, ex: Exchange) -> i64 {
        now_ms() + self.offset(ex)
    }
    /// Records a server-time reading taken between local times `t0` and `t1`.
    pub fn observe(&self, ex: Exchange, server_ms: i64, t0: i64, t1: i64) -> i64 {
        let off = server_ms - (t0 + t1) / 2;
        self.set_offset(ex, off);
        off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_per_exchange() {
        let c = ExchangeClocks::new();
        assert_eq!(c.offset(Exchange::Binance), 0);
        assert_eq!(c.observe(Exchange::Binance, 1_000, 10_000, 10_010), -9_005);
        assert_eq!(c.offset(Exchange::Bitget), 0);
        let n = c.now(Exchange::Binance);
        assert!((n - (now_ms() - 9_005)).abs() < 1_000);
    }
}
