//! Fast kernel of `sma_cross` (rules: docs/STRATEGIES.md, fills: docs/BACKTEST.md).
//!
//! A *group* of combinations is evaluated in one pass over time, in blocks of [`BLOCK`]
//! candles, so that everything a block needs stays in the core's L1/L2 cache:
//!
//! 1. The SMA of every distinct period of the group is advanced over the block (running sums,
//!    eight periods interleaved so their add chains overlap, then one vectorised division):
//!    the same operations in the same order as the streaming `scalp_indicators::Sma` the
//!    strategy uses, so every value is bit-identical.
//! 2. Each combination's state machine (flat / long, the tie rule "equality keeps the previous
//!    sign") resumes where it stopped and looks for its next cross in the block with a
//!    branch-free 64-candle comparison word (`fast < slow` as a bit mask, SIMD) and a
//!    trailing-zero count. Nothing is allocated in the loop.
//! 3. At each cross only, fills, fees and sizing follow the engine's formulas (same
//!    floating-point operations in the same order). Funding settlements inside a position
//!    ([`super::funding`]: those of candles `(entry, exit]`, marked at their candle's close)
//!    are paid at the exit, in time order, before the exit fill, as the engine pays them.
//!
//! The optimizer splits a grid into one group per core (combinations sorted by slow then fast
//! period, so each group shares most of its periods), and the groups run in parallel.

use super::funding::{FundingSchedule, settle};
use super::{KMetrics, KTrade};
use scalp_core::Candle;

/// The engine settings the kernel models (long-only market entries/exits, no kill switch,
/// liquidation proven impossible for the window by the caller). Funding is the window's
/// [`FundingSchedule`] in [`Market`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelCost {
    pub capital: f64,
    pub leverage: f64,
    pub taker_fee: f64,
    pub slippage: f64,
    pub lot_step: f64,
    /// Exchange minimum order (base quantity, quote notional); 0 = none. An entry below it
    /// stops the combination (it is always flat at an entry), as the engine's runner stops.
    pub min_qty: f64,
    pub min_notional: f64,
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
    /// Drawdown of equity `lo` under the current peak (`lo` infinite: none).
    #[inline]
    fn drawdown_at(&mut self, lo: f64) {
        if lo.is_finite() {
            let dd = 1.0 - lo / self.peak;
            if dd > self.max_dd {
                self.max_dd = dd;
            }
        }
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

/// Candles per block of the time-blocked scan (a multiple of 64).
pub const BLOCK: usize = 256;

/// Periods advanced together by the SMA block loop (independent add chains).
const LANES: usize = 8;

/// The window's candles, shared by every combination (read at crosses only),
/// `day_cum[i]` = number of UTC-day-ending candles in `[0, i)` (length n + 1; only read by the
/// full-metrics variant), and the funding settlements of the window
/// ([`super::funding::NO_FUNDING`] when funding is off).
#[derive(Clone, Copy)]
pub struct Market<'a> {
    pub candles: &'a [Candle],
    pub day_cum: &'a [u32],
    pub funding: &'a FundingSchedule,
}

/// One parameter combination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Combo {
    pub fast: usize,
    pub slow: usize,
    pub margin_frac: f64,
}

/// SMA values of a set of periods over the current block (one row of `block` values per
/// period; NaN in the warm-up and past the end of the data).
struct SmaBlocks {
    /// Periods, padded with copies of the last one to a multiple of [`LANES`].
    periods: Vec<usize>,
    /// Largest period.
    pad: usize,
    /// Closes of candles `[b0 − pad, b0 + block)` of the current block, zeros before the
    /// first candle: `x[i − n]` of the running sum is `win[pad + j − n]`, and the zeros of
    /// the warm-up make `sum -= 0.0`, an exact identity.
    win: Vec<f64>,
    sums: Vec<f64>,
    /// `periods.len()` rows of `block + 64` values (the last 64 always NaN).
    rows: Vec<f64>,
    block: usize,
}

impl SmaBlocks {
    fn new(mut periods: Vec<usize>, block: usize) -> SmaBlocks {
        let last = *periods.last().expect("at least one period");
        while !periods.len().is_multiple_of(LANES) {
            periods.push(last);
        }
        let pad = *periods.iter().max().expect("at least one period");
        SmaBlocks {
            pad,
            win: vec![0.0; pad + block],
            sums: vec![0.0; periods.len()],
            rows: vec![f64::NAN; periods.len() * (block + 64)],
            periods,
            block,
        }
    }

    fn row(&self, k: usize) -> &[f64] {
        let stride = self.block + 64;
        &self.rows[k * stride..(k + 1) * stride]
    }

    /// Advances every period over candles `[b0, b0 + len)`.
    #[inline(always)]
    fn advance(&mut self, candles: &[Candle], b0: usize, len: usize) {
        let block = self.block;
        let stride = block + 64;
        let pad = self.pad;
        debug_assert!(len <= block && b0 + len <= candles.len());
        let lead = pad.saturating_sub(b0);
        self.win[..lead].fill(0.0);
        for (w, c) in self.win[lead..pad + len]
            .iter_mut()
            .zip(&candles[b0 + lead - pad..b0 + len])
        {
            *w = c.close;
        }
        let win = &self.win;
        let xs = &win[pad..pad + len];
        for ((per, sums), rows) in self
            .periods
            .chunks_exact(LANES)
            .zip(self.sums.chunks_exact_mut(LANES))
            .zip(self.rows.chunks_exact_mut(LANES * stride))
        {
            let mut s: [f64; LANES] = sums.try_into().expect("lanes");
            // x[i − n_k] for i in the block, per lane.
            let lag: [&[f64]; LANES] =
                std::array::from_fn(|k| &win[pad - per[k]..pad - per[k] + len]);
            let out: [&mut [f64]; LANES] = {
                let mut it = rows.chunks_exact_mut(stride).map(|r| &mut r[..len]);
                std::array::from_fn(|_| it.next().expect("row"))
            };
            for (j, &xi) in xs.iter().enumerate() {
                for k in 0..LANES {
                    // SAFETY: every `lag[k]` and `out[k]` has exactly `len` = `xs.len()`
                    // elements (sliced above), and `j < xs.len()`.
                    unsafe {
                        s[k] -= *lag[k].get_unchecked(j);
                        s[k] += xi;
                        *out[k].get_unchecked_mut(j) = s[k];
                    }
                }
            }
            sums.copy_from_slice(&s);
            for k in 0..LANES {
                let n = per[k] as f64;
                for v in out[k].iter_mut() {
                    *v /= n;
                }
                // Warm-up: no value before `n` candles (the strategy waits).
                let warm = per[k].saturating_sub(1 + b0).min(len);
                out[k][..warm].fill(f64::NAN);
            }
        }
        if len < block {
            // Past the end: NaN compares false both ways, so no cross is ever seen there.
            for r in self.rows.chunks_exact_mut(stride) {
                r[len..block].fill(f64::NAN);
            }
        }
    }
}

/// The comparison primitives of the scan: `a < b` is Rust's ordered `<` (false when either
/// side is NaN), so every implementation gives the same bits.
trait Lanes {
    /// Bit `k` = `a[o + k] < b[o + k]`, k < 16.
    fn mask16(a: &[f64], b: &[f64], o: usize) -> u32;
    /// Whether `a[o + k] < b[o + k]` for some k < 64.
    fn any64(a: &[f64], b: &[f64], o: usize) -> bool;
}

/// Plain Rust, written so the compiler vectorizes it (with AVX2 inside the AVX2 clone of the
/// kernel; any target).
struct Plain;

impl Lanes for Plain {
    #[inline(always)]
    fn mask16(a: &[f64], b: &[f64], o: usize) -> u32 {
        let (a, b) = (&a[o..o + 16], &b[o..o + 16]);
        let mut m = 0u32;
        for k in 0..16 {
            m |= u32::from(a[k] < b[k]) << k;
        }
        m
    }

    #[inline(always)]
    fn any64(a: &[f64], b: &[f64], o: usize) -> bool {
        let (a, b) = (&a[o..o + 64], &b[o..o + 64]);
        // Counts in u64 lanes: a compare mask is subtracted, no packing of booleans.
        let mut acc = [[0u64; 4]; 2];
        for k in 0..8 {
            for (h, acc) in acc.iter_mut().enumerate() {
                for (l, x) in acc.iter_mut().enumerate() {
                    *x += u64::from(a[8 * k + 4 * h + l] < b[8 * k + 4 * h + l]);
                }
            }
        }
        (0..4).fold(0, |x, l| x | acc[0][l] | acc[1][l]) != 0
    }
}

/// SSE2 intrinsics (the x86_64 baseline), two candles per instruction.
#[cfg(target_arch = "x86_64")]
struct Sse2;

#[cfg(target_arch = "x86_64")]
impl Sse2 {
    /// `a[o..o + 2] < b[o..o + 2]` as two all-ones/zero lanes.
    #[inline(always)]
    fn lt2(a: &[f64], b: &[f64], o: usize) -> std::arch::x86_64::__m128d {
        use std::arch::x86_64::{_mm_cmplt_pd, _mm_loadu_pd};
        let (x, y) = (&a[o..o + 2], &b[o..o + 2]);
        // SAFETY: both slices hold two f64 (checked by the indexing above); SSE2 is part of
        // the x86_64 baseline. `cmplt` is the ordered `<`.
        unsafe { _mm_cmplt_pd(_mm_loadu_pd(x.as_ptr()), _mm_loadu_pd(y.as_ptr())) }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for Sse2 {
    #[inline(always)]
    fn mask16(a: &[f64], b: &[f64], o: usize) -> u32 {
        use std::arch::x86_64::_mm_movemask_pd;
        let (a, b) = (&a[o..o + 16], &b[o..o + 16]);
        // SAFETY: SSE2 is part of the x86_64 baseline.
        let m: [u32; 8] =
            std::array::from_fn(|i| unsafe { _mm_movemask_pd(Self::lt2(a, b, 2 * i)) } as u32);
        (m[0] | m[1] << 2 | m[2] << 4 | m[3] << 6)
            | (m[4] << 8 | m[5] << 10 | m[6] << 12 | m[7] << 14)
    }

    #[inline(always)]
    fn any64(a: &[f64], b: &[f64], o: usize) -> bool {
        use std::arch::x86_64::{_mm_movemask_pd, _mm_or_pd, _mm_setzero_pd};
        let (a, b) = (&a[o..o + 64], &b[o..o + 64]);
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe {
            let mut acc = [_mm_setzero_pd(); 4];
            for k in 0..8 {
                for (l, x) in acc.iter_mut().enumerate() {
                    *x = _mm_or_pd(*x, Self::lt2(a, b, 8 * k + 2 * l));
                }
            }
            let v = _mm_or_pd(_mm_or_pd(acc[0], acc[1]), _mm_or_pd(acc[2], acc[3]));
            _mm_movemask_pd(v) != 0
        }
    }
}

/// First `j >= from` with `a[j] < b[j]` in a pair of block rows (`j < block`; a row is
/// followed by 64 NaN so that a test may start anywhere before `block`): a branch-free
/// "any" test per 64 candles from `from` on (the common case: no cross), pinpointed by
/// 16-candle masks on a hit.
#[inline(always)]
fn first_lt<L: Lanes>(a: &[f64], b: &[f64], from: usize, block: usize) -> Option<usize> {
    let mut o = from;
    while o < block {
        if L::any64(a, b, o) {
            for q in 0..4 {
                let m = L::mask16(a, b, o + 16 * q);
                if m != 0 {
                    return Some(o + 16 * q + m.trailing_zeros() as usize);
                }
            }
        }
        o += 64;
    }
    None
}

/// An open long position.
#[derive(Clone, Copy)]
struct Open {
    ei: usize,
    pin: f64,
    qty: f64,
    fee_in: f64,
    bal_before: f64,
}

/// One combination's state between blocks.
struct Sim {
    /// Rows of the fast and slow SMA in the group's [`SmaBlocks`].
    fr: usize,
    sr: usize,
    margin_frac: f64,
    /// Next candle to examine.
    i: usize,
    /// The last non-zero sign of fast − slow was negative (an up-cross is possible).
    last_neg: bool,
    pos: Option<Open>,
    done: bool,
    bal: f64,
    acc: Acc,
    /// Next candle not yet accounted in `acc`.
    fed: usize,
    m: KMetrics,
    record: bool,
    trades: Vec<KTrade>,
}

impl Sim {
    fn new(fr: usize, sr: usize, margin_frac: f64, c: &KernelCost, record: bool) -> Sim {
        let bal = c.capital;
        Sim {
            fr,
            sr,
            margin_frac,
            i: 0,
            last_neg: false,
            pos: None,
            done: false,
            bal,
            acc: Acc {
                n: 0,
                sum: 0.0,
                sumsq: 0.0,
                prev_day: bal,
                peak: bal,
                max_dd: 0.0,
            },
            fed: 0,
            m: KMetrics {
                final_equity: bal,
                n_trades: 0,
                wins: 0,
                gross_profit: 0.0,
                gross_loss: 0.0,
                fees: 0.0,
                sharpe: f64::NAN,
                max_dd: f64::NAN,
            },
            record,
            trades: Vec::new(),
        }
    }

    /// Runs the state machine over the block `[b0, b0 + len)` whose SMA rows are `f`, `s`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn advance<const FULL: bool, L: Lanes>(
        &mut self,
        mk: &Market<'_>,
        c: &KernelCost,
        f: &[f64],
        s: &[f64],
        b0: usize,
        len: usize,
        block: usize,
    ) {
        let end = b0 + len;
        while !self.done && self.i < end {
            let from = self.i - b0;
            if self.pos.is_some() {
                // LONG: wait for a down-cross.
                match first_lt::<L>(f, s, from, block) {
                    Some(j) => self.exit::<FULL>(mk, c, b0 + j),
                    None => self.i = end,
                }
            } else if !self.last_neg {
                // FLAT: an up-cross needs a negative sign first.
                match first_lt::<L>(f, s, from, block) {
                    Some(j) => {
                        self.last_neg = true;
                        self.i = b0 + j + 1;
                    }
                    None => self.i = end,
                }
            } else {
                match first_lt::<L>(s, f, from, block) {
                    Some(j) => self.entry(mk, c, b0 + j),
                    None => self.i = end,
                }
            }
        }
    }

    /// Up-cross at candle `u`.
    #[inline(always)]
    fn entry(&mut self, mk: &Market<'_>, c: &KernelCost, u: usize) {
        let cs = mk.candles;
        let n = cs.len();
        self.last_neg = false;
        self.i = u + 1;
        // Entry fill (a signal on the last candle is dropped by the engine).
        let (ei, p0) = if c.next_open {
            if u + 1 >= n {
                self.done = true;
                return;
            }
            (u + 1, cs[u + 1].open)
        } else {
            (u, cs[u].close)
        };
        let pin = p0 * (1.0 + c.slippage);
        let qty = entry_qty(c, self.bal, pin, self.margin_frac);
        let zero = qty <= 0.0 || !qty.is_finite();
        if c.min_qty > 0.0 || c.min_notional > 0.0 {
            // The engine's minimum-order rule: skipped while flat, so the runner stops; its
            // equity stays at the balance to the end.
            if zero || qty < c.min_qty || qty * pin < c.min_notional {
                self.done = true;
                return;
            }
        } else if zero {
            return;
        }
        self.pos = Some(Open {
            ei,
            pin,
            qty,
            fee_in: qty * pin * c.taker_fee,
            bal_before: self.bal,
        });
    }

    /// Down-cross at candle `d` (`d >= n`: end of data).
    #[inline(always)]
    fn exit<const FULL: bool>(&mut self, mk: &Market<'_>, c: &KernelCost, d: usize) {
        let Market {
            candles: cs,
            day_cum,
            funding: fs,
        } = *mk;
        let n = cs.len();
        let Open {
            ei,
            pin,
            qty,
            fee_in,
            bal_before,
        } = self.pos.take().expect("in a position");
        let (xi, p1, done) = if d >= n || (c.next_open && d + 1 >= n) {
            // End of data (a pending close is dropped, the position closes at the end fill).
            if c.end_at_close {
                (n - 1, cs[n - 1].close, true)
            } else {
                (n - 1, cs[n - 1].open, true)
            }
        } else if c.next_open {
            (d + 1, cs[d + 1].open, false)
        } else {
            (d, cs[d].close, false)
        };
        self.last_neg = true;
        let day_end = |b: usize| day_cum[b + 1] != day_cum[b];
        let acc = &mut self.acc;
        if FULL {
            acc.flat(day_cum, self.fed, ei, self.bal);
        }
        let mut bal = self.bal - fee_in;
        // Funding: the settlements of candles (ei, xi], each on the position held at its
        // candle's open, marked at that candle's close, before the candle's fills and mark.
        let mut paid = 0.0;
        let mut k = fs.held(ei, xi);
        if FULL {
            // The drawdown of a candle, 1 − eq/peak, only falls as eq falls (division and
            // subtraction round monotonically), so within a run of candles under the same peak
            // the largest one is that of the lowest equity: one division per run instead of
            // one per candle, with the same bits as `Acc::mark` on every candle.
            let mut lo = f64::INFINITY;
            for (b, cb) in cs.iter().enumerate().take(xi).skip(ei) {
                // (`k` starts at candle ei + 1's first settlement.)
                while k.start < k.end && fs.candle[k.start] as usize == b {
                    settle(&mut bal, &mut paid, qty, cb.close, fs.rate[k.start]);
                    k.start += 1;
                }
                let eq = bal + qty * (cb.close - pin);
                if eq > acc.peak {
                    acc.drawdown_at(lo);
                    acc.peak = eq;
                    lo = f64::INFINITY;
                } else if eq < lo {
                    lo = eq;
                }
                if day_end(b) {
                    acc.day(eq);
                }
            }
            acc.drawdown_at(lo);
        }
        // The rest: all of them without the metrics, else those of the exit candle (paid at
        // its open, before an exit at its open or its close).
        for j in k {
            let close = cs[fs.candle[j] as usize].close;
            settle(&mut bal, &mut paid, qty, close, fs.rate[j]);
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
            self.fed = xi + 1;
        }
        self.bal = bal;
        // The engine's `net = gross − fees − funding` (fees = entry + exit fee).
        let pnl = gross - (fee_in + fee_out) - paid;
        let m = &mut self.m;
        m.n_trades += 1;
        m.fees += fee_in + fee_out;
        if pnl > 0.0 {
            m.wins += 1;
            m.gross_profit += pnl;
        } else {
            m.gross_loss -= pnl;
        }
        if self.record {
            self.trades.push(KTrade {
                entry_idx: ei as u32,
                exit_idx: xi as u32,
                entry_price: pin,
                exit_price: pout,
                qty,
                entry_fee: fee_in,
                fees: fee_in + fee_out,
                funding: paid,
                pnl,
                ret: pnl / bal_before,
            });
        }
        self.done = done;
        // Flat again from the candle after the exit signal (next_open: the exit candle).
        self.i = if c.next_open { xi } else { xi + 1 };
    }

    /// After the last block: closes a position still open, computes the final metrics.
    fn finish<const FULL: bool>(&mut self, mk: &Market<'_>, c: &KernelCost) -> KMetrics {
        let n = mk.candles.len();
        if self.pos.is_some() {
            self.exit::<FULL>(mk, c, n);
        }
        let mut m = self.m;
        m.final_equity = self.bal;
        if FULL {
            let acc = &mut self.acc;
            acc.flat(mk.day_cum, self.fed, n, self.bal);
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
}

/// Evaluates a group of combinations in one time-blocked pass (see the module docs).
/// `block` is a multiple of 64.
/// With `FULL`, also computes the daily Sharpe and the drawdown; with `record`, the trades.
///
/// On x86_64 CPUs with AVX2 (detected at run time) an AVX2 build of the same code runs:
/// 4 candles per compare and per division. Both builds give bit-identical results (IEEE
/// division and comparison are exact; the sums stay scalar and in order).
pub fn run_group<const FULL: bool>(
    mk: Market<'_>,
    c: &KernelCost,
    combos: &[Combo],
    block: usize,
    record: bool,
) -> Vec<(KMetrics, Vec<KTrade>)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { run_group_avx2::<FULL>(mk, c, combos, block, record) };
    }
    run_group_portable::<FULL>(mk, c, combos, block, record)
}

/// [`run_group`] without AVX2 (SSE2 on x86_64, plain Rust elsewhere).
pub fn run_group_portable<const FULL: bool>(
    mk: Market<'_>,
    c: &KernelCost,
    combos: &[Combo],
    block: usize,
    record: bool,
) -> Vec<(KMetrics, Vec<KTrade>)> {
    #[cfg(target_arch = "x86_64")]
    return run_group_impl::<FULL, Sse2>(mk, c, combos, block, record);
    #[cfg(not(target_arch = "x86_64"))]
    return run_group_impl::<FULL, Plain>(mk, c, combos, block, record);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_group_avx2<const FULL: bool>(
    mk: Market<'_>,
    c: &KernelCost,
    combos: &[Combo],
    block: usize,
    record: bool,
) -> Vec<(KMetrics, Vec<KTrade>)> {
    run_group_impl::<FULL, Plain>(mk, c, combos, block, record)
}

#[inline(always)]
fn run_group_impl<const FULL: bool, L: Lanes>(
    mk: Market<'_>,
    c: &KernelCost,
    combos: &[Combo],
    block: usize,
    record: bool,
) -> Vec<(KMetrics, Vec<KTrade>)> {
    let n = mk.candles.len();
    assert!(
        !FULL || mk.day_cum.len() == n + 1,
        "day_cum must have n + 1 entries"
    );
    assert!(
        block > 0 && block.is_multiple_of(64),
        "block must be a multiple of 64"
    );
    if combos.is_empty() {
        return Vec::new();
    }
    let mut periods: Vec<usize> = combos.iter().flat_map(|k| [k.fast, k.slow]).collect();
    periods.sort_unstable();
    periods.dedup();
    assert!(periods[0] > 0, "SMA periods must be > 0");
    let row = |p: usize| periods.binary_search(&p).expect("period");
    let mut sims: Vec<Sim> = combos
        .iter()
        .map(|k| Sim::new(row(k.fast), row(k.slow), k.margin_frac, c, record))
        .collect();
    let mut sma = SmaBlocks::new(periods.clone(), block);
    let mut b0 = 0;
    while b0 < n {
        let len = block.min(n - b0);
        sma.advance(mk.candles, b0, len);
        for sim in sims.iter_mut() {
            if !sim.done {
                let (f, s) = (sma.row(sim.fr), sma.row(sim.sr));
                sim.advance::<FULL, L>(&mk, c, f, s, b0, len, block);
            }
        }
        b0 += len;
    }
    sims.iter_mut()
        .map(|s| {
            let m = s.finish::<FULL>(&mk, c);
            (m, std::mem::take(&mut s.trades))
        })
        .collect()
}
