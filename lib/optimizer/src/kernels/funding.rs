//! Funding settlements as the event engine charges them (docs/BACKTEST.md "Funding",
//! `scalp_backtest::engine`, step 1 of a candle), precomputed once per window so that a kernel
//! applies exactly the engine's payments in the engine's order.
//!
//! The engine's rule, reproduced here: settlement times are the multiples of 8 h (00:00, 08:00,
//! 16:00 UTC) from the first candle's open on; a settlement at `T` is charged in the candle `b`
//! with `open_b ≤ T < open_b + tf` (one in a gap of the data is not charged), on the position
//! held at that candle's **open** (before any fill of the candle), marked at **`close_b`**:
//! `pay = (qty × close_b × rate × side).min(cash.max(0))` — positive is paid (longs pay positive
//! rates) — subtracted from the cash and added to the trade's `funding` (so its net P&L is
//! `gross − fees − funding`). `rate` = the stored point with the latest time ≤ `T` if it is less
//! than 8 h older than `T`, else the configured `funding_rate`; `funding_rate = None` charges
//! nothing at all, whatever the history. A long's `side` is `+1.0` (`x × 1.0 = x` exactly, so
//! the kernels omit it).

use super::KTrade;
use scalp_backtest::FundingPoint;
use scalp_backtest::engine::FUNDING_INTERVAL_MS;
use scalp_core::{Candle, Timeframe};

/// The settlements of one window that carry a non-zero rate, in time order (a zero rate pays
/// ±0, which leaves the cash and a trade's funding unchanged: it is left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FundingSchedule {
    /// Index of the candle each settlement is charged in (ascending).
    pub candle: Vec<u32>,
    /// Its rate per 8 h (the history's or the configured one).
    pub rate: Vec<f64>,
    /// `first[b]` = settlements charged in candles `[0, b)` (length n + 1; empty when there
    /// is no settlement at all).
    pub first: Vec<u32>,
}

/// No funding (funding off, or the bench settings).
pub static NO_FUNDING: FundingSchedule = FundingSchedule {
    candle: Vec::new(),
    rate: Vec::new(),
    first: Vec::new(),
};

/// Rate of the settlement at `t` (the engine's `funding_rate_at`): the latest point of `hist`
/// (ascending) at or before `t` if it is less than 8 h old, else `default`.
pub fn rate_at(hist: &[FundingPoint], t: i64, default: f64) -> f64 {
    let k = hist.partition_point(|p| p.time <= t);
    if k > 0 {
        let p = hist[k - 1];
        if t - p.time < FUNDING_INTERVAL_MS {
            return p.rate;
        }
    }
    default
}

impl FundingSchedule {
    /// The settlements the engine charges over `candles` (timeframe `tf`) with the configured
    /// `funding_rate` and the stored `hist` (what the engine's `BacktestInput::funding` holds).
    pub fn new(
        candles: &[Candle],
        tf: Timeframe,
        funding_rate: Option<f64>,
        hist: &[FundingPoint],
    ) -> FundingSchedule {
        let mut s = FundingSchedule::default();
        let (Some(default), Some(c0)) = (funding_rate, candles.first()) else {
            return s;
        };
        let tf_ms = tf.ms();
        // The engine's cursor: the first settlement at or before the first open, then every
        // 8 h, each considered in the one candle whose close is after it.
        let mut next = c0.open_time.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS;
        s.first.reserve(candles.len() + 1);
        s.first.push(0);
        for (b, c) in candles.iter().enumerate() {
            let close_time = c.open_time + tf_ms;
            while next < close_time {
                if next >= c.open_time {
                    let rate = rate_at(hist, next, default);
                    if rate != 0.0 {
                        s.candle.push(b as u32);
                        s.rate.push(rate);
                    }
                }
                next += FUNDING_INTERVAL_MS;
            }
            s.first.push(s.candle.len() as u32);
        }
        if s.candle.is_empty() {
            s.first.clear();
        }
        s
    }

    /// No settlement is ever charged.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.candle.is_empty()
    }

    /// Settlements charged on a long position entered in candle `ei` and closed in candle `xi`:
    /// those of candles `(ei, xi]` (the entry candle's came before the fill — at its open, or
    /// it filled at its close —; the exit candle's came before the exit fill, at its open or
    /// its close).
    #[inline]
    pub fn held(&self, ei: usize, xi: usize) -> std::ops::Range<usize> {
        if self.candle.is_empty() || xi <= ei {
            0..0
        } else {
            self.first[ei + 1] as usize..self.first[xi + 1] as usize
        }
    }
}

/// One settlement on a long of `qty` with `cash` in the account: the engine's
/// `(qty × close × rate × side).min(cash.max(0))` (side = 1), paid from `cash` and added to
/// the trade's `funding`, in the engine's operations.
#[inline(always)]
pub fn settle(cash: &mut f64, funding: &mut f64, qty: f64, close: f64, rate: f64) {
    let pay = (qty * close * rate).min(cash.max(0.0));
    *funding += pay;
    *cash -= pay;
}

/// Per-candle equity of a kernel run with funding, reconstructed from its trades (the
/// engine's `equity`: flat, the balance; in a position, the cash after the entry fee and the
/// settlements so far plus the unrealised P&L at the close; the exit candle, the balance
/// after the exit). With [`NO_FUNDING`]: the balance after the entry fee plus the unrealised P&L.
pub fn equity_curve(
    candles: &[Candle],
    trades: &[KTrade],
    capital: f64,
    funding: &FundingSchedule,
) -> Vec<f64> {
    let n = candles.len();
    let mut eq = vec![capital; n];
    let mut bal = capital;
    let mut next = 0usize;
    for t in trades {
        let (a, b) = (t.entry_idx as usize, t.exit_idx as usize);
        for e in eq.iter_mut().take(a).skip(next) {
            *e = bal;
        }
        let mut cash = bal - t.entry_fee;
        let mut paid = 0.0;
        let mut k = funding.held(a, b);
        for (i, c) in candles.iter().enumerate().take(b.min(n)).skip(a) {
            while k.start < k.end && funding.candle[k.start] as usize == i {
                settle(&mut cash, &mut paid, t.qty, c.close, funding.rate[k.start]);
                k.start += 1;
            }
            eq[i] = cash + t.qty * (c.close - t.entry_price);
        }
        for j in k {
            let c = &candles[funding.candle[j] as usize];
            settle(&mut cash, &mut paid, t.qty, c.close, funding.rate[j]);
        }
        bal = cash + (t.qty * (t.exit_price - t.entry_price) - (t.fees - t.entry_fee));
        if b < n {
            eq[b] = bal;
        }
        next = b + 1;
    }
    for e in eq.iter_mut().skip(next) {
        *e = bal;
    }
    eq
}
