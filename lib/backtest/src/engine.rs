//! The event-driven engine: one runner (one strategy instance, one asset, its own capital).
//! The fill rules implemented here are written out in `docs/BACKTEST.md`; keep both in step.

use crate::config::{BacktestConfig, EndFill, FillMode, Sizing};
use crate::input::{BacktestInput, FundingPoint};
use crate::metrics::{Metrics, compute_metrics};
// `Trade` lives in `trade` (which metrics imports), so that engine → metrics is the only edge
// between them: no module cycle.
use crate::regime::{Regime, classify};
pub use crate::trade::Trade;
use scalp_core::{Candle, Timeframe};
use scalp_strategy::{
    Context, ExitReason, FillView, Intent, LevelId, MarketExtras, PositionView, Side, Strategy,
};
use serde::{Deserialize, Serialize};

/// Funding settles every 8 h at 00:00, 08:00 and 16:00 UTC.
pub const FUNDING_INTERVAL_MS: i64 = 8 * 3_600_000;
/// At most this many higher timeframes per strategy.
pub const MAX_HIGHER_TF: usize = 6;

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
    Config(#[from] crate::config::SettingsError),
    #[error("at most {max} higher timeframes")]
    TooManyTimeframes { max: usize },
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
    #[error("live fill at candle {index} (open time {time}) does not fit the position: {msg}")]
    LiveFill {
        index: usize,
        time: i64,
        msg: String,
    },
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

/// A resting limit entry (grid level).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub id: LevelId,
    pub side: Side,
    pub price: f64,
    pub margin_frac: f64,
}

/// A market order queued at a close, filled at the next open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Pending {
    Entry { side: Side, margin_frac: f64 },
    Close { reason: ExitReason },
}

/// A fill the exchange reported (live trading: the exchange is the fill model), applied with
/// the engine's own accounting by [`Engine::step_external`]. Prices are the exchange's average
/// fill prices, fees what it charged (positive = paid).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LiveFill {
    /// An entry: a market entry (`level: None`) or a resting level. `reference` is the price
    /// the order was sized at (the slippage statistic is `qty × |price − reference|`).
    Entry {
        side: Side,
        price: f64,
        qty: f64,
        fee: f64,
        level: Option<LevelId>,
        reference: f64,
    },
    /// The whole position closed: `price` the VWAP of the closing fills, `fee` their sum.
    Exit {
        price: f64,
        fee: f64,
        reason: ExitReason,
        reference: f64,
    },
}

/// The open position of a runner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpenPos {
    pub side: Side,
    pub qty: f64,
    /// Volume-weighted average entry price.
    pub avg: f64,
    pub entries: u32,
    /// Open time of the candle of the first entry.
    pub opened_at: i64,
    pub entry_index: usize,
    pub entry_time: i64,
    /// Isolated margin held now.
    pub margin: f64,
    pub max_margin: f64,
    pub fees: f64,
    pub funding: f64,
    pub slippage: f64,
    /// Liquidation price (±∞ when it cannot be reached).
    pub liq: f64,
    pub regime: Regime,
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
    /// Step number of the current candle (its index in a backtest).
    index: usize,
    time: i64,
    /// Open time of the current candle.
    open: i64,
    /// The last closed candle at this moment is the previous one (fills at the open and inside
    /// the candle), not the current one (fills at its close).
    signal_prev: bool,
}

/// Everything of a runner that must survive a restart, and nothing else: with the strategy's
/// own state ([`Strategy::save_state`]) it resumes bit-identically ([`Engine::resume`]).
/// Serialize it with a bit-exact codec (CBOR): `liq` may be ±∞.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// Candles processed (the step number of the next candle).
    pub step: usize,
    /// Open time of the last candle processed.
    pub last_open_time: Option<i64>,
    pub cash: f64,
    pub pos: Option<OpenPos>,
    pub stop: Option<f64>,
    pub tp: Option<f64>,
    pub levels: Vec<Level>,
    pub pending: Vec<Pending>,
    pub consecutive_losses: u32,
    pub skipped_entries: u32,
    pub skipped_min_order: u32,
    pub funding: FundingStats,
    /// Set by an entry skipped for the minimum while flat (the reason the runner stops).
    pub halt: Option<String>,
    pub stopped: Option<KillEvent>,
    pub killed: Option<KillEvent>,
    /// Highest equity at a close (the kill switch's drawdown reference).
    pub peak: f64,
    /// Next funding settlement time (ms).
    pub next_funding: i64,
    /// New entries refused (market entries dropped, resting levels do not fill): the global
    /// kill switch of the simulator. Exits still happen.
    pub entries_blocked: bool,
    /// Trades closed so far (their sequence numbers are 1..=trades).
    pub trades: u64,
}

/// One closed primary candle as the engine sees it.
pub struct Bar<'a> {
    /// Closed primary candles, oldest first; the last one is the candle being processed. A
    /// bounded window is enough: the strategy's `history_needed()` and the regime window + 1.
    pub candles: &'a [Candle],
    /// The strategy's higher timeframes in its declared order, each cut to the candles closed at
    /// or before this candle's close.
    pub higher: &'a [(Timeframe, &'a [Candle])],
    /// Funding history, ascending, covering at least the settlements inside this candle and the
    /// 8 h before them (a longer slice is fine).
    pub funding: &'a [FundingPoint],
    /// Latest funding rate and open interest at or before this candle's close.
    pub extras: MarketExtras,
}

/// A fill or order change, recorded when [`Engine::record_events`] is on (paper and live
/// outboxes; the backtest leaves it off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EngineEvent {
    /// An entry filled (`level`: the resting level that filled; `None`: a market entry).
    Entry {
        step: usize,
        time: i64,
        side: Side,
        price: f64,
        qty: f64,
        level: Option<LevelId>,
        /// Position after the fill.
        position_qty: f64,
        avg_entry: f64,
    },
    /// The position was closed (the trade is in [`Engine::trades`]).
    Exit { step: usize, time: i64, seq: u64 },
    /// The runner's kill switch tripped.
    KillSwitch {
        step: usize,
        time: i64,
        reason: String,
    },
    /// The runner stopped: its equity cannot place the minimum order.
    Stopped {
        step: usize,
        time: i64,
        reason: String,
    },
}

/// The steppable engine: one runner advanced one closed primary candle at a time, with the
/// simulated fill model of `docs/BACKTEST.md`. [`run_backtest`] is a loop over [`Engine::step`];
/// paper trading steps it on live candles and persists [`Engine::state`] after every step.
pub struct Engine {
    cfg: BacktestConfig,
    tf_ms: i64,
    ks_on: bool,
    s: EngineState,
    trades: Vec<Trade>,
    record_events: bool,
    events: Vec<EngineEvent>,
    out: Vec<Intent>,
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
    let higher = check_timeframes(strategy, input.timeframe, &input.higher)?;

    let mut e = Engine::new(cfg.clone(), input.timeframe, candles[0].open_time)?;
    let tf_ms = e.tf_ms;
    let mut equity: Vec<f64> = Vec::with_capacity(n);
    let mut intents_log: Vec<(usize, Intent)> = Vec::new();
    let mut hidx = [0usize; MAX_HIGHER_TF];
    let mut hs: [(Timeframe, &[Candle]); MAX_HIGHER_TF] = [(input.timeframe, &[]); MAX_HIGHER_TF];
    let nh = higher.len();
    for (k, h) in higher.iter().enumerate() {
        hs[k].0 = h.0;
    }
    let mut f_idx = 0usize; // funding history cursor (for extras)
    let mut oi_idx = 0usize;

    for i in 0..n {
        let close_time = candles[i].open_time + tf_ms;
        // Higher timeframes and extras are only read when the strategy is asked.
        if e.will_ask() {
            for k in 0..nh {
                let h = higher[k].1;
                let mut j = hidx[k];
                while j < h.len() && h[j].open_time + hs[k].0.ms() <= close_time {
                    j += 1;
                }
                hidx[k] = j;
                hs[k].1 = &h[..j];
            }
        }
        let extras = if e.will_ask() {
            MarketExtras {
                funding_rate: latest_at(input.funding, &mut f_idx, close_time, |f| {
                    (f.time, f.rate)
                }),
                open_interest: latest_at(input.open_interest, &mut oi_idx, close_time, |o| {
                    (o.time, o.value)
                }),
            }
        } else {
            MarketExtras::default()
        };
        let bar = Bar {
            candles: &candles[..=i],
            higher: &hs[..nh],
            funding: input.funding,
            extras,
        };
        let log = if cfg.record_intents {
            Some(&mut intents_log)
        } else {
            None
        };
        equity.push(e.step(&bar, &input.asset, strategy, log)?);
    }

    // End of data: pending market orders are dropped; an open position is closed.
    if let Some(eq) = e.finish(&candles[n - 1], strategy) {
        *equity.last_mut().expect("n > 0") = eq;
    }
    let s = e.s;
    let metrics = compute_metrics(&e.trades, &equity, candles, input.timeframe, cfg.capital);
    Ok(BacktestResult {
        trades: e.trades,
        equity,
        metrics,
        killed: s.killed,
        skipped_entries: s.skipped_entries,
        skipped_min_order: s.skipped_min_order,
        stopped: s.stopped,
        intents: intents_log,
        funding: s.funding,
    })
}

/// The strategy's higher timeframes, checked against the primary and found in `available`, in
/// its declared order.
pub fn check_timeframes<'h>(
    strategy: &dyn Strategy,
    primary: Timeframe,
    available: &'h [(Timeframe, Vec<Candle>)],
) -> Result<Vec<(Timeframe, &'h [Candle])>, BacktestError> {
    let tfs = strategy.timeframes();
    if let Some(&p) = tfs.first()
        && p != primary
    {
        return Err(BacktestError::Timeframe {
            strategy: strategy.name().into(),
            declared: p,
            input: primary,
        });
    }
    let mut higher: Vec<(Timeframe, &[Candle])> = Vec::new();
    for &tf in tfs.iter().skip(1) {
        if !(tf.ms() > primary.ms() && tf.ms() % primary.ms() == 0) {
            return Err(BacktestError::NotHigher {
                strategy: strategy.name().into(),
                primary,
                higher: tf,
            });
        }
        let h = available.iter().find(|(t, _)| *t == tf).ok_or_else(|| {
            BacktestError::MissingHigher {
                strategy: strategy.name().into(),
                tf,
            }
        })?;
        higher.push((tf, &h.1));
    }
    if higher.len() > MAX_HIGHER_TF {
        return Err(BacktestError::TooManyTimeframes { max: MAX_HIGHER_TF });
    }
    Ok(higher)
}

impl Engine {
    /// A fresh runner at `cfg.capital` whose first candle opens at `first_open` (it sets the
    /// first funding settlement).
    pub fn new(
        cfg: BacktestConfig,
        timeframe: Timeframe,
        first_open: i64,
    ) -> Result<Engine, BacktestError> {
        cfg.validate().map_err(BacktestError::Config)?;
        let s = EngineState {
            step: 0,
            last_open_time: None,
            cash: cfg.capital,
            pos: None,
            stop: None,
            tp: None,
            levels: Vec::with_capacity(16),
            pending: Vec::with_capacity(4),
            consecutive_losses: 0,
            skipped_entries: 0,
            skipped_min_order: 0,
            funding: FundingStats {
                assumed_rate: cfg.funding_rate,
                ..FundingStats::default()
            },
            halt: None,
            stopped: None,
            killed: None,
            peak: cfg.capital,
            next_funding: first_open.div_euclid(FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS,
            entries_blocked: false,
            trades: 0,
        };
        Engine::resume(cfg, timeframe, s)
    }

    /// A runner continuing from a saved state (its strategy restored separately).
    pub fn resume(
        cfg: BacktestConfig,
        timeframe: Timeframe,
        state: EngineState,
    ) -> Result<Engine, BacktestError> {
        cfg.validate().map_err(BacktestError::Config)?;
        let ks_on = cfg.kill_switch.max_drawdown_pct.is_some()
            || cfg.kill_switch.max_consecutive_losses.is_some();
        Ok(Engine {
            tf_ms: timeframe.ms(),
            ks_on,
            cfg,
            s: state,
            trades: Vec::new(),
            record_events: false,
            events: Vec::new(),
            out: Vec::with_capacity(16),
        })
    }

    /// Record [`EngineEvent`]s (taken with [`Engine::take_events`]).
    pub fn record_events(&mut self, on: bool) {
        self.record_events = on;
    }

    pub fn config(&self) -> &BacktestConfig {
        &self.cfg
    }

    pub fn state(&self) -> &EngineState {
        &self.s
    }

    /// Trades closed since the last [`Engine::take_trades`] (all of them in a backtest).
    pub fn trades(&self) -> &[Trade] {
        &self.trades
    }

    pub fn take_trades(&mut self) -> Vec<Trade> {
        std::mem::take(&mut self.trades)
    }

    pub fn take_events(&mut self) -> Vec<EngineEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether the next step asks the strategy (not killed, not stopped).
    #[inline]
    pub fn will_ask(&self) -> bool {
        self.s.killed.is_none() && self.s.stopped.is_none()
    }

    /// Equity at `price`: balance + unrealised P&L.
    pub fn equity_at(&self, price: f64) -> f64 {
        self.s.cash
            + self
                .s
                .pos
                .map_or(0.0, |p| p.qty * (price - p.avg) * p.side.sign())
    }

    /// Refuses (or allows again) new entries: the simulator's global kill switch.
    pub fn block_entries(&mut self, blocked: bool) {
        self.s.entries_blocked = blocked;
    }

    /// Clears the runner's kill switch: it trades again, its drawdown measured from `equity`.
    pub fn reset_kill_switch(&mut self, equity: f64) {
        self.s.killed = None;
        self.s.peak = equity;
        self.s.consecutive_losses = 0;
    }

    /// The strategy's view of the position (what `Context::position` holds).
    pub fn position(&self) -> PositionView {
        self.view()
    }

    /// Advances by one closed primary candle (`bar.candles.last()`): funding → pending market
    /// orders at the open → resting orders along the candle's path → mark to the close → kill
    /// switch → the strategy's intents. Returns the equity at the close. `intents` records every
    /// intent with its step (for `optimize lookahead`).
    #[inline]
    pub fn step(
        &mut self,
        bar: &Bar<'_>,
        asset: &str,
        strategy: &mut dyn Strategy,
        intents: Option<&mut Vec<(usize, Intent)>>,
    ) -> Result<f64, BacktestError> {
        let candles = bar.candles;
        let (c, i, close_time, at_open) = self.begin(candles)?;

        // 1. Funding settlements inside this candle, on the position held at its open.
        self.settle_funding(bar, c, close_time);

        // 2. Market orders queued at the previous close fill at this open.
        if !self.s.pending.is_empty() {
            let pend = std::mem::take(&mut self.s.pending);
            for p in &pend {
                self.market(*p, c.open, at_open, candles, strategy);
            }
            self.s.pending = pend;
            self.s.pending.clear();
        }

        // 3. Resting orders along the candle's path.
        let active = !self.s.levels.is_empty()
            || self.s.pos.is_some_and(|p| {
                // A liquidation price the candle reaches, or one already passed (a gap through
                // it): the position is liquidated at it and never loses more than its margin.
                self.s.stop.is_some()
                    || self.s.tp.is_some()
                    || match p.side {
                        Side::Long => p.liq >= c.low,
                        Side::Short => p.liq <= c.high,
                    }
            });
        if active {
            self.walk_path(c, at_open, candles, strategy);
        }
        self.close_and_ask(bar, asset, strategy, intents, i, close_time)
    }

    /// Live trading's step: as [`Engine::step`], with the exchange as the fill model. Funding
    /// is settled by the engine's rule; the market orders queued at the previous close and the
    /// resting orders are not simulated: `fills` (what the exchange filled during this candle,
    /// in order) are booked with the same accounting (fees, margin, liquidation price, trades,
    /// consecutive losses, the strategy's `on_fill`). A filled level leaves the book. Then
    /// mark, kill switch and the strategy's intents exactly as in a backtest.
    pub fn step_external(
        &mut self,
        bar: &Bar<'_>,
        asset: &str,
        strategy: &mut dyn Strategy,
        fills: &[LiveFill],
    ) -> Result<f64, BacktestError> {
        let candles = bar.candles;
        let (c, i, close_time, at_open) = self.begin(candles)?;
        self.settle_funding(bar, c, close_time);
        // What was queued at the previous close went to the exchange: its fills are in `fills`.
        self.s.pending.clear();
        for f in fills {
            self.book_live(f, at_open, candles, strategy)
                .map_err(|msg| BacktestError::LiveFill {
                    index: i,
                    time: c.open_time,
                    msg,
                })?;
        }
        self.close_and_ask(bar, asset, strategy, None, i, close_time)
    }

    /// Quantity of an entry order the engine would size now: `reference` is the price it is
    /// expected at (a market order: the last close; a level: its price), `market` selects the
    /// taker fee and the slippage. `None` when the entry would be skipped (zero, below the
    /// exchange minimum, entries blocked).
    pub fn entry_order_qty(
        &self,
        side: Side,
        reference: f64,
        market: bool,
        margin_frac: f64,
    ) -> Option<f64> {
        if self.s.halt.is_some() || self.s.entries_blocked {
            return None;
        }
        let (price, kind) = if market {
            (
                reference * (1.0 + self.cfg.slippage * side.sign()),
                FeeKind::Taker,
            )
        } else {
            (reference, FeeKind::Maker)
        };
        let qty = self.entry_qty(price, self.fee_rate(kind), margin_frac);
        (qty > 0.0 && qty.is_finite() && !self.below_min(qty, price)).then_some(qty)
    }

    fn book_live(
        &mut self,
        f: &LiveFill,
        at: At,
        candles: &[Candle],
        strategy: &mut dyn Strategy,
    ) -> Result<(), String> {
        match *f {
            LiveFill::Entry {
                side,
                price,
                qty,
                fee,
                level,
                reference,
            } => {
                if let Some(p) = &self.s.pos
                    && p.side != side
                {
                    return Err(format!(
                        "a {side:?} entry of {qty} while a {:?} position of {} is open",
                        p.side, p.qty
                    ));
                }
                if !(qty > 0.0 && price > 0.0) {
                    return Err(format!("entry of {qty} at {price}"));
                }
                if let Some(id) = level {
                    self.s.levels.retain(|l| l.id != id);
                }
                let slip_cost = qty * (price - reference).abs();
                self.book_entry(
                    side, price, qty, fee, slip_cost, level, at, candles, strategy,
                );
            }
            LiveFill::Exit {
                price,
                fee,
                reason,
                reference,
            } => {
                let Some(p) = self.s.pos else {
                    return Err(format!("an exit at {price} while flat"));
                };
                let slip_cost = p.qty * (price - reference).abs();
                self.book_close(p, price, fee, slip_cost, reason, at, strategy);
            }
        }
        Ok(())
    }

    /// The candle a step processes (the last of `candles`, after the last one processed), its
    /// step number, close time and the moment of its open.
    #[inline]
    fn begin<'b>(
        &self,
        candles: &'b [Candle],
    ) -> Result<(&'b Candle, usize, i64, At), BacktestError> {
        let c = candles.last().ok_or(BacktestError::Empty)?;
        let i = self.s.step;
        if let Some(t) = self.s.last_open_time
            && c.open_time <= t
        {
            return Err(BacktestError::Unordered {
                index: i,
                time: c.open_time,
            });
        }
        let at_open = At {
            index: i,
            time: c.open_time,
            open: c.open_time,
            signal_prev: i > 0,
        };
        Ok((c, i, c.open_time + self.tf_ms, at_open))
    }

    /// Funding settlements inside candle `c`, on the position held at its open.
    #[inline]
    fn settle_funding(&mut self, bar: &Bar<'_>, c: &Candle, close_time: i64) {
        let cfg = &self.cfg;
        while self.s.next_funding < close_time {
            let next_funding = self.s.next_funding;
            let r = &mut self.s;
            if next_funding >= c.open_time
                && let Some(p) = r.pos.as_mut()
                && let Some(default_rate) = cfg.funding_rate
            {
                let (rate, historical) = funding_rate_at(bar.funding, next_funding, default_rate);
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
            self.s.next_funding += FUNDING_INTERVAL_MS;
        }
    }

    /// Steps 4–6 of a candle: mark to the close, kill switch, the strategy's intents.
    #[inline]
    fn close_and_ask(
        &mut self,
        bar: &Bar<'_>,
        asset: &str,
        strategy: &mut dyn Strategy,
        intents: Option<&mut Vec<(usize, Intent)>>,
        i: usize,
        close_time: i64,
    ) -> Result<f64, BacktestError> {
        let candles = bar.candles;
        let c = candles.last().ok_or(BacktestError::Empty)?;
        if self.s.stopped.is_none() && self.s.halt.is_some() {
            self.s.stopped = Some(self.stop_trading(i, c.open_time));
        }

        // 4. Mark to the close.
        let mut eq = self.equity_at(c.close);
        if eq > self.s.peak {
            self.s.peak = eq;
        }
        self.s.step = i + 1;
        self.s.last_open_time = Some(c.open_time);

        // 5. Kill switch (checked at the close, before the strategy is asked).
        if self.s.killed.is_none() && self.s.stopped.is_none() && (eq <= 0.0 || self.ks_on) {
            let ks = &self.cfg.kill_switch;
            let peak = self.s.peak;
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
                && self.s.consecutive_losses >= m
            {
                Some(format!(
                    "{} consecutive losses >= {m}",
                    self.s.consecutive_losses
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                if self.record_events {
                    self.events.push(EngineEvent::KillSwitch {
                        step: i,
                        time: close_time,
                        reason: reason.clone(),
                    });
                }
                self.s.killed = Some(KillEvent {
                    index: i,
                    time: c.open_time,
                    reason,
                });
                self.s.levels.clear();
                self.s.pending.clear();
                if self.s.pos.is_some() {
                    let close = Pending::Close {
                        reason: ExitReason::KillSwitch,
                    };
                    match self.cfg.fill {
                        FillMode::NextOpen => self.s.pending.push(close),
                        FillMode::Close => {
                            let at = At {
                                index: i,
                                time: close_time,
                                open: c.open_time,
                                signal_prev: false,
                            };
                            self.market(close, c.close, at, candles, strategy);
                            eq = self.s.cash;
                        }
                    }
                }
                self.s.stop = None;
                self.s.tp = None;
            }
        }
        if !self.will_ask() {
            return Ok(eq);
        }

        // 6. Ask the strategy.
        let ctx = Context {
            asset,
            candles,
            higher: bar.higher,
            position: self.view(),
            extras: bar.extras,
        };
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        strategy.on_candle(&ctx, &mut out);
        if !out.is_empty() {
            if let Some(log) = intents {
                log.extend(out.iter().map(|x| (i, x.clone())));
            }
            let at_close = At {
                index: i,
                time: close_time,
                open: c.open_time,
                signal_prev: false,
            };
            let mut res = Ok(());
            for intent in out.drain(..) {
                res = self.apply(intent, c, at_close, candles, strategy);
                if res.is_err() {
                    break;
                }
            }
            self.out = out;
            res?;
            if self.s.stopped.is_none() && self.s.halt.is_some() {
                self.s.stopped = Some(self.stop_trading(i, c.open_time));
            }
            if matches!(self.cfg.fill, FillMode::Close) {
                eq = self.equity_at(c.close);
            }
        } else {
            self.out = out;
        }
        Ok(eq)
    }

    /// End of data (backtest): pending market orders are dropped and an open position is closed
    /// at the last candle's close or open (`end_fill`). Returns the balance after the close, or
    /// `None` when flat.
    pub fn finish(&mut self, last: &Candle, strategy: &mut dyn Strategy) -> Option<f64> {
        self.s.pending.clear();
        self.s.pos?;
        let index = self.s.step.saturating_sub(1);
        let (price, time) = match self.cfg.end_fill {
            EndFill::LastClose => (last.close, last.open_time + self.tf_ms),
            EndFill::LastOpen => (last.open, last.open_time),
        };
        let at = At {
            index,
            time,
            open: last.open_time,
            signal_prev: false,
        };
        self.market(
            Pending::Close {
                reason: ExitReason::EndOfData,
            },
            price,
            at,
            std::slice::from_ref(last),
            strategy,
        );
        Some(self.s.cash)
    }
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
fn funding_rate_at(hist: &[crate::input::FundingPoint], t: i64, default: f64) -> (f64, bool) {
    let k = hist.partition_point(|p| p.time <= t);
    if k > 0 {
        let p = hist[k - 1];
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

impl Engine {
    fn view(&self) -> PositionView {
        match &self.s.pos {
            None => PositionView {
                stop: self.s.stop,
                take_profit: self.s.tp,
                ..PositionView::default()
            },
            Some(p) => PositionView {
                side: Some(p.side),
                qty: p.qty,
                avg_entry: p.avg,
                entries: p.entries,
                opened_at: p.opened_at,
                stop: self.s.stop,
                take_profit: self.s.tp,
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
                match self.s.levels.iter_mut().find(|l| l.id == id) {
                    Some(l) => *l = lv,
                    None => self.s.levels.push(lv),
                }
            }
            Intent::CancelLevel { id } => self.s.levels.retain(|l| l.id != id),
            Intent::CancelAllLevels => self.s.levels.clear(),
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
                self.s.stop = Some(price);
            }
            Intent::SetTakeProfit { price } => {
                if !price_ok(price) {
                    return Err(bad("take-profit price must be > 0", &intent, strategy));
                }
                self.s.tp = Some(price);
            }
            Intent::ClearStop => self.s.stop = None,
            Intent::ClearTakeProfit => self.s.tp = None,
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
            FillMode::NextOpen => self.s.pending.push(p),
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
                if self.s.pos.is_some() {
                    self.close(px, FeeKind::Taker, true, reason, at, strategy);
                }
            }
            Pending::Entry { side, margin_frac } => {
                if let Some(pos) = &self.s.pos
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
        let cfg = &self.cfg;
        let lev = cfg.leverage;
        let used = self.s.pos.map_or(0.0, |p| p.margin);
        let free = (self.s.cash - used).max(0.0);
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
            Sizing::MarginFrac => (margin_frac * self.s.cash.max(0.0) * lev / unit).min(max_units),
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
        let c = &self.cfg;
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
        self.s.levels.clear();
        self.s.pending.clear();
        self.s.stop = None;
        self.s.tp = None;
        let reason = self.s.halt.clone().unwrap_or_default();
        if self.record_events {
            self.events.push(EngineEvent::Stopped {
                step: index,
                time,
                reason: reason.clone(),
            });
        }
        KillEvent {
            index,
            time,
            reason,
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
        if let Some(p) = &self.s.pos
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
        if self.s.halt.is_some() || self.s.entries_blocked {
            return false;
        }
        let qty = self.entry_qty(price, fee_rate, margin_frac);
        let zero = qty <= 0.0 || !qty.is_finite();
        if zero || self.below_min(qty, price) {
            if zero {
                self.s.skipped_entries += 1;
            } else {
                self.s.skipped_min_order += 1;
            }
            // Flat, the balance no longer changes: every later entry of this size would be
            // below the minimum too, so the runner stops trading (docs/BACKTEST.md).
            if self.s.pos.is_none() && self.cfg.has_min_order() {
                self.s.halt = Some(format!(
                    "stopped: equity {:.2} below the minimum order ({}; the order was {:.8} = {:.2} USDT)",
                    self.s.cash,
                    self.min_order_text(price),
                    qty,
                    qty * price
                ));
            }
            return false;
        }
        let fee = qty * price * fee_rate;
        let slip_cost = qty * (price - ref_px).abs();
        self.book_entry(
            side, price, qty, fee, slip_cost, level, at, candles, strategy,
        );
        true
    }

    /// Books an entry fill (simulated or the exchange's): fee, margin, average, liquidation
    /// price, the event and the strategy's `on_fill`.
    #[allow(clippy::too_many_arguments)]
    fn book_entry(
        &mut self,
        side: Side,
        price: f64,
        qty: f64,
        fee: f64,
        slip_cost: f64,
        level: Option<LevelId>,
        at: At,
        candles: &[Candle],
        strategy: &mut dyn Strategy,
    ) {
        let margin = qty * price / self.cfg.leverage;
        self.s.cash -= fee;
        match self.s.pos.as_mut() {
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
                let signal = &candles[..candles.len() - usize::from(at.signal_prev)];
                let regime = classify(signal, &self.cfg.regime);
                self.s.pos = Some(OpenPos {
                    side,
                    qty,
                    avg: price,
                    entries: 1,
                    opened_at: at.open,
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
        let p = self.s.pos.as_mut().expect("set above");
        p.liq = liq_price(p, self.cfg.maintenance_margin);
        if self.record_events {
            let (position_qty, avg_entry) = (p.qty, p.avg);
            self.events.push(EngineEvent::Entry {
                step: at.index,
                time: at.time,
                side,
                price,
                qty,
                level,
                position_qty,
                avg_entry,
            });
        }
        strategy.on_fill(&FillView {
            level,
            side,
            price,
            qty,
            is_exit: false,
            time: at.time,
        });
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
        let Some(p) = self.s.pos.take() else { return };
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
        let slip_cost = if slip && reason != ExitReason::Liquidation {
            p.qty * (price - ref_px).abs()
        } else {
            0.0
        };
        self.book_close(p, price, fee, slip_cost, reason, at, strategy);
    }

    /// Books the close of the whole position `p` (already taken out of the state) at `price`
    /// with `fee`: cash, the trade, consecutive losses, the event and the strategy's `on_fill`.
    #[allow(clippy::too_many_arguments)]
    fn book_close(
        &mut self,
        p: OpenPos,
        price: f64,
        fee: f64,
        slip_cost: f64,
        reason: ExitReason,
        at: At,
        strategy: &mut dyn Strategy,
    ) {
        self.s.pos = None;
        let s = p.side.sign();
        let gross = p.qty * (price - p.avg) * s;
        self.s.cash += gross - fee;
        let fees = p.fees + fee;
        let net = gross - fees - p.funding;
        if net < 0.0 {
            self.s.consecutive_losses += 1;
        } else {
            self.s.consecutive_losses = 0;
        }
        self.s.trades += 1;
        if self.record_events {
            self.events.push(EngineEvent::Exit {
                step: at.index,
                time: at.time,
                seq: self.s.trades,
            });
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
        self.s.stop = None;
        self.s.tp = None;
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
                let lv = self.s.levels.remove(k);
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
        if let Some(p) = &self.s.pos {
            let long = p.side == Side::Long;
            if let Some(s) = self.s.stop {
                f(Trig::Stop, s, long, 0);
            }
            if p.liq.is_finite() {
                f(Trig::Liq, p.liq, long, 1);
            }
            if let Some(t) = self.s.tp {
                f(Trig::Tp, t, !long, 2);
            }
        }
        if self.s.entries_blocked {
            return;
        }
        let pos_side = self.s.pos.map(|p| p.side);
        for (k, l) in self.s.levels.iter().enumerate() {
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
            for _ in 0..(4 * self.s.levels.len() + 8) {
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
