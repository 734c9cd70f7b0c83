//! The event-driven engine: one runner (one strategy instance, one asset, its own capital).
//! The fill rules implemented here are written out in `docs/BACKTEST.md`; keep both in step.

use crate::config::{BacktestConfig, EndFill, FillMode, Sizing};
use crate::input::BacktestInput;
use crate::metrics::{Metrics, compute_metrics};
use crate::regime::{Regime, classify};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::{
    Context, ExitReason, FillView, Intent, LevelId, MarketExtras, PositionView, Side, Strategy,
};
use serde::{Deserialize, Serialize};

/// Funding settles every 8 h at 00:00, 08:00 and 16:00 UTC.
pub const FUNDING_INTERVAL_MS: i64 = 8 * 3_600_000;
/// At most this many higher timeframes per strategy.
pub const MAX_HIGHER_TF: usize = 6;

/// One closed position (flat → position → flat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub side: Side,
    /// Index of the primary candle during which (or at whose close) the first entry filled.
    pub entry_index: usize,
    /// Index of the primary candle during which (or at whose close) the exit filled.
    pub exit_index: usize,
    /// Time of the first entry fill (ms): the candle's open time for fills at the open or
    /// inside a candle, its close time (`open + tf`) for fills at the close.
    pub entry_time: i64,
    pub exit_time: i64,
    /// Volume-weighted average entry price (fill prices, slippage included).
    pub entry_price: f64,
    /// Exit fill price (slippage included; the liquidation price for liquidations).
    pub exit_price: f64,
    /// Base quantity closed.
    pub qty: f64,
    /// Entry fills that built the position.
    pub entries: u32,
    /// Largest isolated margin held by the position.
    pub margin: f64,
    /// Entry + exit fees (and the liquidation fee, see docs).
    pub fees: f64,
    /// Funding paid (> 0) or received (< 0) while open.
    pub funding: f64,
    /// Cost of slippage: Σ qty × |fill − reference price| over the trade's taker fills.
    pub slippage: f64,
    /// `qty × (exit − entry) × side` (fills include slippage; fees and funding excluded).
    pub gross_pnl: f64,
    /// `gross_pnl − fees − funding`.
    pub net_pnl: f64,
    pub exit_reason: ExitReason,
    pub regime: Regime,
}

/// Why and when a runner's kill switch tripped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillEvent {
    pub index: usize,
    pub time: i64,
    pub reason: String,
}

/// Everything a backtest produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestResult {
    pub trades: Vec<Trade>,
    /// Equity (balance + unrealised P&L at the close) after each primary candle; the last value
    /// is the balance after the end-of-data close.
    pub equity: Vec<f64>,
    pub metrics: Metrics,
    pub killed: Option<KillEvent>,
    /// Entries skipped because the computed quantity was 0 (too little free margin or lot).
    pub skipped_entries: u32,
    /// Entries skipped because the quantity (after rounding down to the lot step) was below the
    /// exchange minimum (`min_qty` or `min_notional`).
    pub skipped_min_order: u32,
    /// When and why the runner stopped trading because its equity could no longer place the
    /// minimum order (docs/BACKTEST.md "Exchange minimums and lot steps").
    pub stopped: Option<KillEvent>,
    /// `(candle index, intent)` of every intent, when `record_intents` is set.
    pub intents: Vec<(usize, Intent)>,
    /// Where the funding rates that were charged came from, and what they cost.
    #[serde(default)]
    pub funding: FundingStats,
}

/// Funding settlements charged on open positions, by the source of their rate: the stored
/// history (a point less than 8 h before the settlement) or the assumed
/// `[backtest].default_funding_rate`. Reported so that an assumption is never silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FundingStats {
    pub settlements_historical: u32,
    pub settlements_assumed: u32,
    /// Net paid (positive) at historical rates, quote currency.
    pub paid_historical: f64,
    /// Net paid (positive) at the assumed rate, quote currency.
    pub paid_assumed: f64,
    /// The assumed rate per 8 h (`None`: funding off).
    pub assumed_rate: Option<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BacktestError {
    #[error("no candles to backtest")]
    Empty,
    #[error("invalid backtest settings: {0}")]
    Config(String),
    #[error(
        "candles out of order at index {index} (open time {time} is not after the previous one)"
    )]
    Unordered { index: usize, time: i64 },
    #[error(
        "strategy `{strategy}` declares timeframe {declared} but the input's primary timeframe is {input}"
    )]
    Timeframe {
        strategy: String,
        declared: Timeframe,
        input: Timeframe,
    },
    #[error(
        "strategy `{strategy}`: its higher timeframe {higher} is not higher than its primary timeframe {primary} (it must be a coarser multiple of it)"
    )]
    NotHigher {
        strategy: String,
        primary: Timeframe,
        higher: Timeframe,
    },
    #[error("strategy `{strategy}` needs higher timeframe {tf} which the input does not provide")]
    MissingHigher { strategy: String, tf: Timeframe },
    #[error(
        "strategy `{strategy}` at candle {index} (open time {time}): invalid intent {intent}: {msg}"
    )]
    Intent {
        strategy: String,
        index: usize,
        time: i64,
        intent: String,
        msg: String,
    },
}

#[derive(Debug, Clone, Copy)]
struct Level {
    id: LevelId,
    side: Side,
    price: f64,
    margin_frac: f64,
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Entry { side: Side, margin_frac: f64 },
    Close { reason: ExitReason },
}

#[derive(Debug, Clone, Copy)]
struct OpenPos {
    side: Side,
    qty: f64,
    avg: f64,
    entries: u32,
    opened_at: i64,
    entry_index: usize,
    entry_time: i64,
    margin: f64,
    max_margin: f64,
    fees: f64,
    funding: f64,
    slippage: f64,
    /// Liquidation price (±∞ when it cannot be reached).
    liq: f64,
    regime: Regime,
}

/// A trigger found on the candle's path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trig {
    Stop,
    Liq,
    Tp,
    Level(usize),
}

#[derive(Clone, Copy)]
enum FeeKind {
    Maker,
    Taker,
}

/// Where the runner is inside the current candle (for fill times and the regime's signal
/// candle).
#[derive(Clone, Copy)]
struct At {
    index: usize,
    time: i64,
    /// Index of the last closed candle at this moment.
    signal: usize,
}

struct Runner<'c> {
    cfg: &'c BacktestConfig,
    cash: f64,
    pos: Option<OpenPos>,
    stop: Option<f64>,
    tp: Option<f64>,
    levels: Vec<Level>,
    pending: Vec<Pending>,
    trades: Vec<Trade>,
    consecutive_losses: u32,
    skipped_entries: u32,
    funding: FundingStats,
    skipped_min_order: u32,
    /// Set by an entry skipped for the minimum while flat when even the whole balance could not
    /// pay for the minimum order: the reason the runner stops.
    halt: Option<String>,
}

/// Runs `strategy` over `input` with `cfg`. Deterministic: the same input, strategy state and
/// settings give bit-identical results.
pub fn run_backtest(
    input: &BacktestInput<'_>,
    strategy: &mut dyn Strategy,
    cfg: &BacktestConfig,
) -> Result<BacktestResult, BacktestError> {
    cfg.validate().map_err(BacktestError::Config)?;
    let candles = input.candles;
    let n = candles.len();
    if n == 0 {
        return Err(BacktestError::Empty);
    }
    for i in 1..n {
        if candles[i].open_time <= candles[i - 1].open_time {
            return Err(BacktestError::Unordered {
                index: i,
                time: candles[i].open_time,
            });
        }
    }
    let tfs = strategy.timeframes();
    if let Some(&p) = tfs.first()
        && p != input.timeframe
    {
        return Err(BacktestError::Timeframe {
            strategy: strategy.name().into(),
            declared: p,
            input: input.timeframe,
        });
    }
    // Higher timeframes in the strategy's declared order.
    let mut higher: Vec<(Timeframe, &[Candle])> = Vec::new();
    for &tf in tfs.iter().skip(1) {
        if !(tf.ms() > input.timeframe.ms() && tf.ms() % input.timeframe.ms() == 0) {
            return Err(BacktestError::NotHigher {
                strategy: strategy.name().into(),
                primary: input.timeframe,
                higher: tf,
            });
        }
        let h = input.higher.iter().find(|(t, _)| *t == tf).ok_or_else(|| {
            BacktestError::MissingHigher {
                strategy: strategy.name().into(),
                tf,
            }
        })?;
        higher.push((tf, &h.1));
    }
    if higher.len() > MAX_HIGHER_TF {
        return Err(BacktestError::Config(format!(
            "at most {MAX_HIGHER_TF} higher timeframes"
        )));
    }
    let tf_ms = input.timeframe.ms();

    let mut r = Runner {
        cfg,
        cash: cfg.capital,
        pos: None,
        stop: None,
        tp: None,
        levels: Vec::with_capacity(16),
        pending: Vec::with_capacity(4),
        trades: Vec::new(),
        consecutive_losses: 0,
        skipped_entries: 0,
        funding: FundingStats {
            assumed_rate: cfg.funding_rate,
            ..FundingStats::default()
        },
        skipped_min_order: 0,
        halt: None,
    };
    let mut stopped: Option<KillEvent> = None;
    let mut equity: Vec<f64> = Vec::with_capacity(n);
    let mut intents_log: Vec<(usize, Intent)> = Vec::new();
    let mut out: Vec<Intent> = Vec::with_capacity(16);
    let mut hidx = [0usize; MAX_HIGHER_TF];
    let mut hs: [(Timeframe, &[Candle]); MAX_HIGHER_TF] = [(input.timeframe, &[]); MAX_HIGHER_TF];
    let nh = higher.len();
    for (k, h) in higher.iter().enumerate() {
        hs[k].0 = h.0;
    }
    let mut f_idx = 0usize; // funding history cursor (for extras)
    let mut oi_idx = 0usize;
    let mut next_funding = {
        let t0 = candles[0].open_time;
        t0.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
    };
    let mut fund_cursor = 0usize; // funding history cursor (for payments)
    let mut peak = cfg.capital;
    let mut killed: Option<KillEvent> = None;
    let ks_on = cfg.kill_switch.max_drawdown_pct.is_some()
        || cfg.kill_switch.max_consecutive_losses.is_some();

    for i in 0..n {
        let c = &candles[i];
        let close_time = c.open_time + tf_ms;
        let at_open = At {
            index: i,
            time: c.open_time,
            signal: i.saturating_sub(1),
        };

        // 1. Funding settlements inside this candle, on the position held at its open.
        while next_funding < close_time {
            if next_funding >= c.open_time
                && let Some(p) = r.pos.as_mut()
                && let Some(default_rate) = cfg.funding_rate
            {
                let (rate, historical) =
                    funding_rate_at(input.funding, &mut fund_cursor, next_funding, default_rate);
                // A payment never takes more than the account holds (its isolated margin is all
                // that is left once the free balance is gone).
                let pay = (p.qty * c.close * rate * p.side.sign()).min(r.cash.max(0.0));
                if historical {
                    r.funding.settlements_historical += 1;
                    r.funding.paid_historical += pay;
                } else {
                    r.funding.settlements_assumed += 1;
                    r.funding.paid_assumed += pay;
                }
                p.funding += pay;
                r.cash -= pay;
                // Isolated margin: what the free balance cannot pay comes out of the position's
                // margin, which moves its liquidation price (docs/BACKTEST.md).
                if r.cash < p.margin {
                    p.margin = r.cash.max(0.0);
                    p.liq = liq_price(p, cfg.maintenance_margin);
                }
            }
            next_funding += FUNDING_INTERVAL_MS;
        }

        // 2. Market orders queued at the previous close fill at this open.
        if !r.pending.is_empty() {
            let pend = std::mem::take(&mut r.pending);
            for p in &pend {
                r.market(*p, c.open, at_open, candles, strategy);
            }
            r.pending = pend;
            r.pending.clear();
        }

        // 3. Resting orders along the candle's path.
        let active = !r.levels.is_empty()
            || r.pos.is_some_and(|p| {
                // A liquidation price the candle reaches, or one already passed (a gap through
                // it): the position is liquidated at it and never loses more than its margin.
                r.stop.is_some()
                    || r.tp.is_some()
                    || match p.side {
                        Side::Long => p.liq >= c.low,
                        Side::Short => p.liq <= c.high,
                    }
            });
        if active {
            r.walk_path(c, at_open, candles, strategy);
        }
        if stopped.is_none() && r.halt.is_some() {
            stopped = Some(r.stop_trading(i, c.open_time));
        }

        // 4. Mark to the close.
        let eq = r.cash
            + r.pos
                .map_or(0.0, |p| p.qty * (c.close - p.avg) * p.side.sign());
        equity.push(eq);
        if eq > peak {
            peak = eq;
        }

        // 5. Kill switch (checked at the close, before the strategy is asked).
        if killed.is_none() && stopped.is_none() && (eq <= 0.0 || ks_on) {
            let ks = &cfg.kill_switch;
            let reason = if eq <= 0.0 {
                Some("equity <= 0".to_string())
            } else if let Some(d) = ks.max_drawdown_pct
                && (1.0 - eq / peak) * 100.0 >= d
            {
                Some(format!(
                    "drawdown {:.2}% >= {d}%",
                    (1.0 - eq / peak) * 100.0
                ))
            } else if let Some(m) = ks.max_consecutive_losses
                && r.consecutive_losses >= m
            {
                Some(format!(
                    "{} consecutive losses >= {m}",
                    r.consecutive_losses
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                killed = Some(KillEvent {
                    index: i,
                    time: c.open_time,
                    reason,
                });
                r.levels.clear();
                r.pending.clear();
                if r.pos.is_some() {
                    let close = Pending::Close {
                        reason: ExitReason::KillSwitch,
                    };
                    match cfg.fill {
                        FillMode::NextOpen => r.pending.push(close),
                        FillMode::Close => {
                            let at = At {
                                index: i,
                                time: close_time,
                                signal: i,
                            };
                            r.market(close, c.close, at, candles, strategy);
                            *equity.last_mut().expect("pushed above") = r.cash;
                        }
                    }
                }
                r.stop = None;
                r.tp = None;
            }
        }
        if killed.is_some() || stopped.is_some() {
            continue;
        }

        // 6. Ask the strategy.
        for k in 0..nh {
            let h = higher[k].1;
            let mut j = hidx[k];
            while j < h.len() && h[j].open_time + hs[k].0.ms() <= close_time {
                j += 1;
            }
            hidx[k] = j;
            hs[k].1 = &h[..j];
        }
        let extras = MarketExtras {
            funding_rate: latest_at(input.funding, &mut f_idx, close_time, |f| (f.time, f.rate)),
            open_interest: latest_at(input.open_interest, &mut oi_idx, close_time, |o| {
                (o.time, o.value)
            }),
        };
        let ctx = Context {
            asset: &input.asset,
            candles: &candles[..=i],
            higher: &hs[..nh],
            position: r.view(),
            extras,
        };
        out.clear();
        strategy.on_candle(&ctx, &mut out);
        if !out.is_empty() {
            if cfg.record_intents {
                intents_log.extend(out.iter().map(|x| (i, x.clone())));
            }
            let at_close = At {
                index: i,
                time: close_time,
                signal: i,
            };
            for intent in out.drain(..) {
                r.apply(intent, c, at_close, candles, strategy)?;
            }
            if stopped.is_none() && r.halt.is_some() {
                stopped = Some(r.stop_trading(i, c.open_time));
            }
            if matches!(cfg.fill, FillMode::Close) {
                *equity.last_mut().expect("pushed above") = r.cash
                    + r.pos
                        .map_or(0.0, |p| p.qty * (c.close - p.avg) * p.side.sign());
            }
        }
    }

    // End of data: pending market orders are dropped; an open position is closed.
    r.pending.clear();
    if r.pos.is_some() {
        let last = n - 1;
        let c = &candles[last];
        let (price, time) = match cfg.end_fill {
            EndFill::LastClose => (c.close, c.open_time + tf_ms),
            EndFill::LastOpen => (c.open, c.open_time),
        };
        let at = At {
            index: last,
            time,
            signal: last,
        };
        r.market(
            Pending::Close {
                reason: ExitReason::EndOfData,
            },
            price,
            at,
            candles,
            strategy,
        );
        *equity.last_mut().expect("n > 0") = r.cash;
    }

    let metrics = compute_metrics(&r.trades, &equity, candles, input.timeframe, cfg.capital);
    Ok(BacktestResult {
        trades: r.trades,
        equity,
        metrics,
        killed,
        skipped_entries: r.skipped_entries,
        skipped_min_order: r.skipped_min_order,
        stopped,
        intents: intents_log,
        funding: r.funding,
    })
}

/// Isolated margin: the price at which the unrealised loss reaches margin − maintenance
/// (`NEG_INFINITY` for a long whose liquidation price would be ≤ 0).
fn liq_price(p: &OpenPos, mmr: f64) -> f64 {
    let room = (p.margin - mmr * p.qty * p.avg) / p.qty;
    match p.side {
        Side::Long => {
            let l = p.avg - room;
            if l > 0.0 { l } else { f64::NEG_INFINITY }
        }
        Side::Short => p.avg + room,
    }
}

/// Rate of the settlement at `t`: the latest history point at or before `t` if it is less than
/// 8 h old (`true`: historical), else `default` (`false`: assumed).
fn funding_rate_at(
    hist: &[crate::input::FundingPoint],
    cursor: &mut usize,
    t: i64,
    default: f64,
) -> (f64, bool) {
    while *cursor < hist.len() && hist[*cursor].time <= t {
        *cursor += 1;
    }
    if *cursor > 0 {
        let p = hist[*cursor - 1];
        if t - p.time < FUNDING_INTERVAL_MS {
            return (p.rate, true);
        }
    }
    (default, false)
}

/// Latest value at or before `t` (cursor advances monotonically).
fn latest_at<T>(xs: &[T], cursor: &mut usize, t: i64, f: impl Fn(&T) -> (i64, f64)) -> Option<f64> {
    while *cursor < xs.len() && f(&xs[*cursor]).0 <= t {
        *cursor += 1;
    }
    (*cursor > 0).then(|| f(&xs[*cursor - 1]).1)
}

impl Runner<'_> {
    fn view(&self) -> PositionView {
        match &self.pos {
            None => PositionView {
                stop: self.stop,
                take_profit: self.tp,
                ..PositionView::default()
            },
            Some(p) => PositionView {
                side: Some(p.side),
                qty: p.qty,
                avg_entry: p.avg,
                entries: p.entries,
                opened_at: p.opened_at,
                stop: self.stop,
                take_profit: self.tp,
            },
        }
    }

    /// Applies one intent emitted at the close of candle `at.index`.
    fn apply(
        &mut self,
        intent: Intent,
        c: &Candle,
        at: At,
        candles: &[Candle],
        strategy: &mut dyn Strategy,
    ) -> Result<(), BacktestError> {
        let price_ok = |p: f64| p.is_finite() && p > 0.0;
        let frac_ok = |f: f64| f.is_finite() && f > 0.0 && f <= 1.0;
        let bad = |msg: &str, intent: &Intent, strategy: &dyn Strategy| BacktestError::Intent {
            strategy: strategy.name().to_string(),
            index: at.index,
            time: c.open_time,
            intent: format!("{intent:?}"),
            msg: msg.to_string(),
        };
        match intent {
            Intent::PlaceLevel {
                id,
                side,
                price,
                margin_frac,
            } => {
                if !price_ok(price) || !frac_ok(margin_frac) {
                    return Err(bad(
                        "price must be > 0 and margin_frac in (0, 1]",
                        &intent,
                        strategy,
                    ));
                }
                let lv = Level {
                    id,
                    side,
                    price,
                    margin_frac,
                };
                match self.levels.iter_mut().find(|l| l.id == id) {
                    Some(l) => *l = lv,
                    None => self.levels.push(lv),
                }
            }
            Intent::CancelLevel { id } => self.levels.retain(|l| l.id != id),
            Intent::CancelAllLevels => self.levels.clear(),
            Intent::MarketEntry { side, margin_frac } => {
                if !frac_ok(margin_frac) {
                    return Err(bad("margin_frac must be in (0, 1]", &intent, strategy));
                }
                self.market_intent(
                    Pending::Entry { side, margin_frac },
                    c,
                    at,
                    candles,
                    strategy,
                );
            }
            Intent::ClosePosition { reason } => {
                self.market_intent(Pending::Close { reason }, c, at, candles, strategy)
            }
            Intent::SetStop { price } => {
                if !price_ok(price) {
                    return Err(bad("stop price must be > 0", &intent, strategy));
                }
                self.stop = Some(price);
            }
            Intent::SetTakeProfit { price } => {
                if !price_ok(price) {
                    return Err(bad("take-profit price must be > 0", &intent, strategy));
                }
                self.tp = Some(price);
            }
            Intent::ClearStop => self.stop = None,
            Intent::ClearTakeProfit => self.tp = None,
        }
        Ok(())
    }

    fn market_intent(
        &mut self,
        p: Pending,
        c: &Candle,
        at: At,
        candles: &[Candle],
        strategy: &mut dyn Strategy,
    ) {
        match self.cfg.fill {
            FillMode::NextOpen => self.pending.push(p),
            FillMode::Close => self.market(p, c.close, at, candles, strategy),
        }
    }

    /// Executes a market order at reference price `px` (open or close) ± slippage, taker fee.
    fn market(
        &mut self,
        p: Pending,
        px: f64,
        at: At,
        candles: &[Candle],
        strategy: &mut dyn Strategy,
    ) {
        match p {
            Pending::Close { reason } => {
                if self.pos.is_some() {
                    self.close(px, FeeKind::Taker, true, reason, at, strategy);
                }
            }
            Pending::Entry { side, margin_frac } => {
                if let Some(pos) = &self.pos
                    && pos.side != side
                {
                    self.close(px, FeeKind::Taker, true, ExitReason::Signal, at, strategy);
                }
                self.enter(
                    side,
                    px,
                    FeeKind::Taker,
                    true,
                    margin_frac,
                    None,
                    at,
                    candles,
                    strategy,
                );
            }
        }
    }

    fn fee_rate(&self, k: FeeKind) -> f64 {
        match k {
            FeeKind::Maker => self.cfg.maker_fee,
            FeeKind::Taker => self.cfg.taker_fee,
        }
    }

    /// Quantity for an entry at `price` (see docs/BACKTEST.md "Position sizing").
    fn entry_qty(&self, price: f64, fee: f64, margin_frac: f64) -> f64 {
        let cfg = self.cfg;
        let lev = cfg.leverage;
        let used = self.pos.map_or(0.0, |p| p.margin);
        let free = (self.cash - used).max(0.0);
        let lot = cfg.lot_step;
        // Largest notional whose margin plus fee fits in the free balance:
        // notional × (1/lev + fee) ≤ free  ⇔  notional ≤ free × lev / (1 + fee × lev).
        let (unit, max_units) = if lot > 0.0 {
            let p_lot = price * lot;
            (p_lot, free * lev / (p_lot + p_lot * fee * lev))
        } else {
            (price, free * lev / (price + price * fee * lev))
        };
        let want_units = match cfg.sizing {
            Sizing::AllCash => max_units,
            Sizing::MarginFrac => (margin_frac * self.cash.max(0.0) * lev / unit).min(max_units),
            Sizing::Fixed(q) => (if lot > 0.0 { q / lot } else { q }).min(max_units),
        };
        if lot > 0.0 {
            // Round down to whole lots; 1e-9 absorbs representation error (0.3 / 0.1).
            let n = (want_units + 1e-9).floor();
            let n = if n > max_units { n - 1.0 } else { n };
            n.max(0.0) * lot
        } else {
            want_units.max(0.0)
        }
    }

    /// An order of `qty` at `price` is below the exchange minimum.
    fn below_min(&self, qty: f64, price: f64) -> bool {
        qty < self.cfg.min_qty || qty * price < self.cfg.min_notional
    }

    fn min_order_text(&self, price: f64) -> String {
        let c = self.cfg;
        let mut parts = Vec::new();
        if c.min_notional > 0.0 {
            parts.push(format!("min notional {} USDT", c.min_notional));
        }
        if c.min_qty > 0.0 {
            parts.push(format!("min qty {} at {price}", c.min_qty));
        }
        if c.lot_step > 0.0 {
            parts.push(format!("lot {}", c.lot_step));
        }
        parts.join(", ")
    }

    /// Stops the runner (its equity cannot place the minimum order): resting orders, stop and
    /// take-profit are cancelled; it is flat, so nothing is closed.
    fn stop_trading(&mut self, index: usize, time: i64) -> KillEvent {
        self.levels.clear();
        self.pending.clear();
        self.stop = None;
        self.tp = None;
        KillEvent {
            index,
            time,
            reason: self.halt.clone().unwrap_or_default(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn enter(
        &mut self,
        side: Side,
        ref_px: f64,
        kind: FeeKind,
        slip: bool,
        margin_frac: f64,
        level: Option<LevelId>,
        at: At,
        candles: &[Candle],
        strategy: &mut dyn Strategy,
    ) -> bool {
        if let Some(p) = &self.pos
            && p.side != side
        {
            return false;
        }
        let price = if slip {
            ref_px * (1.0 + self.cfg.slippage * side.sign())
        } else {
            ref_px
        };
        let fee_rate = self.fee_rate(kind);
        if self.halt.is_some() {
            return false;
        }
        let qty = self.entry_qty(price, fee_rate, margin_frac);
        let zero = qty <= 0.0 || !qty.is_finite();
        if zero || self.below_min(qty, price) {
            if zero {
                self.skipped_entries += 1;
            } else {
                self.skipped_min_order += 1;
            }
            // Flat, the balance no longer changes: every later entry of this size would be
            // below the minimum too, so the runner stops trading (docs/BACKTEST.md).
            if self.pos.is_none() && self.cfg.has_min_order() {
                self.halt = Some(format!(
                    "stopped: equity {:.2} below the minimum order ({}; the order was {:.8} = {:.2} USDT)",
                    self.cash,
                    self.min_order_text(price),
                    qty,
                    qty * price
                ));
            }
            return false;
        }
        let fee = qty * price * fee_rate;
        let slip_cost = qty * (price - ref_px).abs();
        let margin = qty * price / self.cfg.leverage;
        self.cash -= fee;
        match self.pos.as_mut() {
            Some(p) => {
                p.avg = (p.avg * p.qty + price * qty) / (p.qty + qty);
                p.qty += qty;
                p.entries += 1;
                p.margin += margin;
                p.max_margin = p.max_margin.max(p.margin);
                p.fees += fee;
                p.slippage += slip_cost;
            }
            None => {
                let regime = classify(&candles[..=at.signal], &self.cfg.regime);
                self.pos = Some(OpenPos {
                    side,
                    qty,
                    avg: price,
                    entries: 1,
                    opened_at: candles[at.index].open_time,
                    entry_index: at.index,
                    entry_time: at.time,
                    margin,
                    max_margin: margin,
                    fees: fee,
                    funding: 0.0,
                    slippage: slip_cost,
                    liq: 0.0,
                    regime,
                });
            }
        }
        let p = self.pos.as_mut().expect("set above");
        p.liq = liq_price(p, self.cfg.maintenance_margin);
        strategy.on_fill(&FillView {
            level,
            side,
            price,
            qty,
            is_exit: false,
            time: at.time,
        });
        true
    }

    /// Closes the whole position at reference price `ref_px`.
    fn close(
        &mut self,
        ref_px: f64,
        kind: FeeKind,
        slip: bool,
        reason: ExitReason,
        at: At,
        strategy: &mut dyn Strategy,
    ) {
        let Some(p) = self.pos.take() else { return };
        let s = p.side.sign();
        let (price, fee) = if reason == ExitReason::Liquidation {
            let price = p.liq;
            let gross = p.qty * (price - p.avg) * s;
            // The whole isolated margin is lost: the rest of it is the liquidation fee.
            (price, (p.margin + gross).max(0.0))
        } else {
            let price = if slip {
                ref_px * (1.0 - self.cfg.slippage * s)
            } else {
                ref_px
            };
            (price, p.qty * price * self.fee_rate(kind))
        };
        let gross = p.qty * (price - p.avg) * s;
        let slip_cost = if slip && reason != ExitReason::Liquidation {
            p.qty * (price - ref_px).abs()
        } else {
            0.0
        };
        self.cash += gross - fee;
        let fees = p.fees + fee;
        let net = gross - fees - p.funding;
        if net < 0.0 {
            self.consecutive_losses += 1;
        } else {
            self.consecutive_losses = 0;
        }
        self.trades.push(Trade {
            side: p.side,
            entry_index: p.entry_index,
            exit_index: at.index,
            entry_time: p.entry_time,
            exit_time: at.time,
            entry_price: p.avg,
            exit_price: price,
            qty: p.qty,
            entries: p.entries,
            margin: p.max_margin,
            fees,
            funding: p.funding,
            slippage: p.slippage + slip_cost,
            gross_pnl: gross,
            net_pnl: net,
            exit_reason: reason,
            regime: p.regime,
        });
        self.stop = None;
        self.tp = None;
        strategy.on_fill(&FillView {
            level: None,
            side: p.side.opposite(),
            price,
            qty: p.qty,
            is_exit: true,
            time: at.time,
        });
    }

    /// Fires one trigger at `px`. `through`: the trigger was already beyond the current price
    /// (gap): it fills at `px` instead of its own price.
    fn fire(&mut self, t: Trig, px: f64, at: At, candles: &[Candle], strategy: &mut dyn Strategy) {
        match t {
            Trig::Stop => self.close(px, FeeKind::Taker, true, ExitReason::StopLoss, at, strategy),
            Trig::Liq => self.close(
                px,
                FeeKind::Taker,
                false,
                ExitReason::Liquidation,
                at,
                strategy,
            ),
            Trig::Tp => self.close(
                px,
                FeeKind::Maker,
                false,
                ExitReason::TakeProfit,
                at,
                strategy,
            ),
            Trig::Level(k) => {
                let lv = self.levels.remove(k);
                self.enter(
                    lv.side,
                    px,
                    FeeKind::Maker,
                    false,
                    lv.margin_frac,
                    Some(lv.id),
                    at,
                    candles,
                    strategy,
                );
            }
        }
    }

    /// Triggers and their prices, with the direction in which the price must move to hit them
    /// (`down = true`: hit when the price falls to it).
    /// Each trigger comes with its priority key for ties at the same price: stop, then
    /// liquidation, then take-profit, then levels by ascending level id.
    fn for_each_trigger(&self, mut f: impl FnMut(Trig, f64, bool, u64)) {
        if let Some(p) = &self.pos {
            let long = p.side == Side::Long;
            if let Some(s) = self.stop {
                f(Trig::Stop, s, long, 0);
            }
            if p.liq.is_finite() {
                f(Trig::Liq, p.liq, long, 1);
            }
            if let Some(t) = self.tp {
                f(Trig::Tp, t, !long, 2);
            }
        }
        let pos_side = self.pos.map(|p| p.side);
        for (k, l) in self.levels.iter().enumerate() {
            if pos_side.is_none_or(|s| s == l.side) {
                f(
                    Trig::Level(k),
                    l.price,
                    l.side == Side::Long,
                    (3u64 << 32) | u64::from(l.id),
                );
            }
        }
    }

    /// The next trigger to fire when the price is at `p` and moves towards `b`: first any
    /// trigger already through `p` (fires at `p`), then the nearest one within `[p, b]`.
    /// Returns the trigger and its fill price.
    fn next_trigger(&self, p: f64, b: f64) -> Option<(Trig, f64)> {
        // Through: a down-trigger above p or an up-trigger below p; fires at p, exits first.
        let mut best: Option<(Trig, f64, u64)> = None;
        self.for_each_trigger(|t, price, down, key| {
            let through = if down { price > p } else { price < p };
            if through && best.is_none_or(|(_, _, k)| key < k) {
                best = Some((t, p, key));
            }
        });
        if let Some((t, px, _)) = best {
            return Some((t, px));
        }
        // Reached: the nearest trigger between p (inclusive) and b in the direction of travel.
        let mut best_d = f64::INFINITY;
        self.for_each_trigger(|t, price, down, key| {
            let hit = price == p
                || if down {
                    b < p && price < p && price >= b
                } else {
                    b > p && price > p && price <= b
                };
            if !hit {
                return;
            }
            let d = (price - p).abs();
            if d < best_d || (d == best_d && best.is_none_or(|(_, _, k)| key < k)) {
                best = Some((t, price, key));
                best_d = d;
            }
        });
        best.map(|(t, px, _)| (t, px))
    }

    /// Walks the candle's path O → X1 → X2 → C (X1 = low, X2 = high when close ≥ open; else
    /// X1 = high, X2 = low), firing triggers in the order the price reaches them.
    fn walk_path(&mut self, c: &Candle, at: At, candles: &[Candle], strategy: &mut dyn Strategy) {
        // Quick exit: a down-trigger can only fire if it is at or above the low, an up-trigger
        // only if it is at or below the high (this includes triggers already through the open).
        let mut relevant = false;
        self.for_each_trigger(|_, price, down, _| {
            relevant |= if down {
                price >= c.low
            } else {
                price <= c.high
            }
        });
        if !relevant {
            return;
        }
        let (x1, x2) = if c.close >= c.open {
            (c.low, c.high)
        } else {
            (c.high, c.low)
        };
        let mut p = c.open;
        for b in [c.open, x1, x2, c.close] {
            // Bounded: each firing removes a level or closes the position; an entry can make
            // at most the stop, liquidation and take-profit reachable once more.
            for _ in 0..(4 * self.levels.len() + 8) {
                match self.next_trigger(p, b) {
                    Some((t, px)) => {
                        self.fire(t, px, at, candles, strategy);
                        p = px;
                    }
                    None => break,
                }
            }
            p = b;
        }
    }
}
