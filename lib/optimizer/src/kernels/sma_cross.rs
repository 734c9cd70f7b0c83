//! Fast kernel of `sma_cross` (rules: docs/STRATEGIES.md, fills: docs/BACKTEST.md).
//!
//! Precomputation (once per window, shared by all combinations): one SMA array per distinct
//! period (`scalp_indicators::sma`, the batch form of the streaming SMA the strategy uses)
//! and the cumulative count of UTC-day ends (for the daily Sharpe).
//!
//! Per combination the kernel is a scan for sign changes of `fast − slow` (equality keeps the
//! previous sign: the strategy's tie rule). Between crosses the scan is a branch-free block
//! comparison; fills, fees and sizing follow the engine's formulas (same floating-point
//! operations in the same order) at each cross only.

use super::{KMetrics, KTrade};

/// The engine settings the kernel models (long-only market entries/exits, no funding, no kill
/// switch, liquidation proven impossible for the window by the caller).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelCost {
    pub capital: f64,
    pub leverage: f64,
    pub taker_fee: f64,
    pub slippage: f64,
    pub lot_step: f64,
    /// Market fills at the next open (true) or at the signal candle's close (false).
    pub next_open: bool,
    pub sizing: KSizing,
    /// Position still open after the last candle: closed at the last close (true) or open.
    pub end_at_close: bool,
    /// Periods per year of the Sharpe's returns (daily returns: 365).
    pub periods_per_year: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KSizing {
    MarginFrac,
    AllCash,
    Fixed(f64),
}

/// Inputs of one window: candle prices, the two SMA arrays of the combination, and
/// `day_cum[i]` = number of UTC-day-ending candles in `[0, i)` (length n + 1).
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub open: &'a [f64],
    pub close: &'a [f64],
    pub fast: &'a [f64],
    pub slow: &'a [f64],
    pub day_cum: &'a [u32],
}

/// First `j >= i` with `a[j] < b[j]` (or `n`). Eight lanes at a time: the branch-free block
/// test lets the compiler vectorize the common case (no cross in the block).
#[inline(always)]
fn scan_lt(a: &[f64], b: &[f64], mut i: usize, n: usize) -> usize {
    const W: usize = 8;
    while i + W <= n {
        let x: &[f64; W] = a[i..i + W].try_into().expect("block");
        let y: &[f64; W] = b[i..i + W].try_into().expect("block");
        let mut any = false;
        for k in 0..W {
            any |= x[k] < y[k];
        }
        if any {
            break;
        }
        i += W;
    }
    while i < n && !(a[i] < b[i]) {
        i += 1;
    }
    i
}

/// Entry quantity, flat, balance `cash` (the engine's `entry_qty`, docs/BACKTEST.md
/// "Position sizing", operation for operation).
#[inline]
pub fn entry_qty(c: &KernelCost, cash: f64, price: f64, margin_frac: f64) -> f64 {
    let lev = c.leverage;
    let fee = c.taker_fee;
    let free = cash.max(0.0);
    let lot = c.lot_step;
    let (unit, max_units) = if lot > 0.0 {
        let p_lot = price * lot;
        (p_lot, free * lev / (p_lot + p_lot * fee * lev))
    } else {
        (price, free * lev / (price + price * fee * lev))
    };
    let want_units = match c.sizing {
        KSizing::AllCash => max_units,
        KSizing::MarginFrac => (margin_frac * cash.max(0.0) * lev / unit).min(max_units),
        KSizing::Fixed(q) => (if lot > 0.0 { q / lot } else { q }).min(max_units),
    };
    if lot > 0.0 {
        let n = (want_units + 1e-9).floor();
        let n = if n > max_units { n - 1.0 } else { n };
        n.max(0.0) * lot
    } else {
        want_units.max(0.0)
    }
}

/// Daily-return Sharpe and per-candle drawdown accumulator (allocation-free).
struct Acc {
    n: u64,
    sum: f64,
    sumsq: f64,
    prev_day: f64,
    peak: f64,
    max_dd: f64,
}

impl Acc {
    #[inline]
    fn day(&mut self, eq: f64) {
        let r = eq / self.prev_day - 1.0;
        self.n += 1;
        self.sum += r;
        self.sumsq += r * r;
        self.prev_day = eq;
    }
    #[inline]
    fn mark(&mut self, eq: f64) {
        if eq > self.peak {
            self.peak = eq;
        }
        let dd = 1.0 - eq / self.peak;
        if dd > self.max_dd {
            self.max_dd = dd;
        }
    }
    /// Flat stretch of candles `[a, b)` at equity `eq`: its day ends give one return (the first,
    /// which may carry the previous exit) then zeros.
    #[inline]
    fn flat(&mut self, day_cum: &[u32], a: usize, b: usize, eq: f64) {
        if b > a {
            let k = day_cum[b] - day_cum[a];
            if k > 0 {
                self.day(eq);
                self.n += u64::from(k - 1);
            }
        }
    }
}

/// Runs one combination. With `FULL`, also computes the daily Sharpe and the drawdown.
/// Trades are appended to `trades` when given (the caller reuses the buffer).
pub fn run<const FULL: bool>(
    inp: Inputs<'_>,
    c: &KernelCost,
    margin_frac: f64,
    mut trades: Option<&mut Vec<KTrade>>,
) -> KMetrics {
    let Inputs {
        open,
        close,
        fast: f,
        slow: s,
        day_cum,
    } = inp;
    let n = close.len();
    assert!(
        open.len() == n && f.len() == n && s.len() == n,
        "kernel inputs of different lengths"
    );
    assert!(
        !FULL || day_cum.len() == n + 1,
        "day_cum must have n + 1 entries"
    );
    let mut bal = c.capital;
    let mut acc = Acc {
        n: 0,
        sum: 0.0,
        sumsq: 0.0,
        prev_day: bal,
        peak: bal,
        max_dd: 0.0,
    };
    let mut fed = 0usize; // next candle not yet accounted in `acc`
    let mut m = KMetrics {
        final_equity: bal,
        n_trades: 0,
        wins: 0,
        gross_profit: 0.0,
        gross_loss: 0.0,
        fees: 0.0,
        sharpe: f64::NAN,
        max_dd: f64::NAN,
    };
    let day_end = |b: usize| day_cum[b + 1] != day_cum[b];
    let mut i = 0usize;
    let mut last_neg = false; // last non-zero sign of fast − slow was negative
    loop {
        // FLAT. An up-cross needs a negative sign first.
        if !last_neg {
            i = scan_lt(f, s, i, n);
            if i >= n {
                break;
            }
            i += 1;
        }
        i = scan_lt(s, f, i, n);
        if i >= n {
            break;
        }
        let u = i;
        last_neg = false;
        // Entry fill (a signal on the last candle is dropped by the engine).
        let (ei, p0) = if c.next_open {
            if u + 1 >= n {
                break;
            }
            (u + 1, open[u + 1])
        } else {
            (u, close[u])
        };
        let pin = p0 * (1.0 + c.slippage);
        let qty = entry_qty(c, bal, pin, margin_frac);
        if qty <= 0.0 || !qty.is_finite() {
            i = u + 1;
            continue;
        }
        let fee_in = qty * pin * c.taker_fee;
        let bal_before = bal;
        // LONG: wait for a down-cross.
        let d = scan_lt(f, s, u + 1, n);
        let (xi, p1, done) = if d >= n || (c.next_open && d + 1 >= n) {
            // End of data (a pending close is dropped, the position closes at the end fill).
            if c.end_at_close {
                (n - 1, close[n - 1], true)
            } else {
                (n - 1, open[n - 1], true)
            }
        } else if c.next_open {
            (d + 1, open[d + 1], false)
        } else {
            (d, close[d], false)
        };
        last_neg = true;
        if FULL {
            acc.flat(day_cum, fed, ei, bal);
        }
        bal -= fee_in;
        if FULL {
            for b in ei..xi {
                let eq = bal + qty * (close[b] - pin);
                acc.mark(eq);
                if day_end(b) {
                    acc.day(eq);
                }
            }
        }
        let pout = p1 * (1.0 - c.slippage);
        let fee_out = qty * pout * c.taker_fee;
        let gross = qty * (pout - pin);
        bal += gross - fee_out;
        if FULL {
            acc.mark(bal);
            if day_end(xi) {
                acc.day(bal);
            }
            fed = xi + 1;
        }
        let pnl = gross - (fee_in + fee_out);
        m.n_trades += 1;
        m.fees += fee_in + fee_out;
        if pnl > 0.0 {
            m.wins += 1;
            m.gross_profit += pnl;
        } else {
            m.gross_loss -= pnl;
        }
        if let Some(t) = trades.as_deref_mut() {
            t.push(KTrade {
                entry_idx: ei as u32,
                exit_idx: xi as u32,
                entry_price: pin,
                exit_price: pout,
                qty,
                entry_fee: fee_in,
                fees: fee_in + fee_out,
                pnl,
                ret: pnl / bal_before,
            });
        }
        if done {
            break;
        }
        // Flat again from the candle after the exit signal (next_open: the exit candle).
        i = if c.next_open { xi } else { xi + 1 };
    }
    m.final_equity = bal;
    if FULL {
        acc.flat(day_cum, fed, n, bal);
        let nn = acc.n as f64;
        m.sharpe = if acc.n < 2 {
            0.0
        } else {
            let mean = acc.sum / nn;
            let var = (acc.sumsq - nn * mean * mean) / (nn - 1.0);
            if var > 1e-300 {
                mean / var.sqrt() * c.periods_per_year.sqrt()
            } else {
                0.0
            }
        };
        m.max_dd = acc.max_dd;
    }
    m
}
