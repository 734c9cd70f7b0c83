//! One paper runner: a strategy instance on one asset, driven by the shared steppable engine
//! ([`scalp_backtest::Engine`]) one closed candle at a time, with the bounded candle windows the
//! strategy and the regime read, and its higher timeframes resampled by the one aggregator
//! ([`scalp_core::resample::Resampler`], as `optimize backtest` does).

use scalp_backtest::resolve;
use scalp_backtest::{
    BacktestConfig, BacktestError, Bar, Engine, EngineEvent, EngineState, FundingPoint, LiveFill,
    OiPoint, Trade,
};
use scalp_core::config::Config;
use scalp_core::resample::Resampler;
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_strategy::{MarketExtras, Params, Strategy};

/// At most this many higher timeframes (the engine's limit).
const MAX_HIGHER: usize = scalp_backtest::engine::MAX_HIGHER_TF;

/// What a runner is, resolved from the config (`plan`).
#[derive(Debug, Clone)]
pub struct RunnerPlan {
    /// `<strategy>:<asset>`.
    pub id: String,
    pub strategy: String,
    /// Base coin (`BTC`).
    pub asset: String,
    /// Exchange symbol of the stored series (`BTCUSDT`).
    pub symbol: String,
    pub exchange: Exchange,
    pub timeframe: Timeframe,
    pub params: Params,
    /// Engine settings; `capital` is this runner's share of `[simulator].capital`.
    pub settings: BacktestConfig,
    /// Hash of everything but the capital: a change starts a new epoch.
    pub hash: String,
}

impl RunnerPlan {
    pub fn build_strategy(&self) -> Box<dyn Strategy> {
        let spec = scalp_strategy::spec(&self.strategy).expect("planned strategies exist");
        (spec.build)(&self.params, self.timeframe)
    }

    pub fn params_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.params.0).unwrap_or_default()
    }

    /// Primary candles the runner keeps: what the strategy reads and the regime window + 1.
    pub fn history(&self, s: &dyn Strategy) -> usize {
        s.history_needed()
            .max(self.settings.regime.window + 1)
            .max(2)
    }

    /// Higher candles kept per higher timeframe.
    pub fn higher_history(&self, s: &dyn Strategy) -> usize {
        s.higher_history_needed().max(2)
    }
}

/// The runners of a config: every `enabled = true` strategy of strategies.toml × each asset it
/// trades (its `assets`, else the assets of its `per_asset` tables, else all of assets.toml),
/// on its timeframe (per-asset override included), with its leverage, the `[backtest]` cost
/// model, the asset's contract, and a share of `[simulator].capital` by `[simulator].weights`.
/// The data source is the first of `[collector].sources`.
pub fn plan(cfg: &Config) -> anyhow::Result<Vec<RunnerPlan>> {
    let exchange = *cfg
        .main
        .collector
        .sources
        .first()
        .ok_or_else(|| anyhow::anyhow!("[collector].sources is empty"))?;
    let mut out = Vec::new();
    let mut weights = Vec::new();
    for (name, e) in &cfg.strategies.strategies {
        if !e.enabled {
            continue;
        }
        let spec = scalp_strategy::spec(name)
            .ok_or_else(|| anyhow::anyhow!("strategies.toml: unknown strategy `{name}`"))?;
        let assets: Vec<String> = if !e.assets.is_empty() {
            e.assets.clone()
        } else if !e.per_asset.is_empty() {
            e.per_asset.keys().cloned().collect()
        } else {
            cfg.assets.assets.clone()
        };
        for asset in assets {
            // The one resolver of `optimize backtest` (scalp_backtest::resolve), so that paper
            // trades are the backtest's trades: base params with the asset's overrides, and
            // the settings of a trading runner ([backtest], [risk], leverage, contract).
            let tf = e.params_for(&asset).1;
            let params = resolve::base_params(cfg, spec, &asset)?;
            let (mut settings, _) = resolve::settings(
                cfg,
                Some(name),
                Some(&asset),
                resolve::Runner::Trading,
                &Default::default(),
            )
            .map_err(|err| anyhow::anyhow!("{name} on {asset}: {err}"))?;
            // Paper trades carry their market regime, like `optimize backtest`.
            settings.regime.enabled = true;
            let symbol = cfg.assets.symbol(&asset);
            let id = format!("{name}:{asset}");
            let mut st = settings_json(&settings);
            st.remove("capital");
            let hash_src = serde_json::json!({
                "strategy": name, "asset": asset, "exchange": exchange.as_str(),
                "timeframe": tf.as_str(), "params": params.0, "settings": st,
            });
            let hash = format!("{:016x}", fnv(hash_src.to_string().as_bytes()));
            weights.push(cfg.main.simulator.weights.get(name).copied().unwrap_or(1.0));
            out.push(RunnerPlan {
                id,
                strategy: name.clone(),
                asset,
                symbol,
                exchange,
                timeframe: tf,
                params,
                settings,
                hash,
            });
        }
    }
    let total: f64 = weights.iter().sum();
    for (p, w) in out.iter_mut().zip(&weights) {
        p.settings.capital = if total > 0.0 {
            cfg.main.simulator.capital * w / total
        } else {
            0.0
        };
    }
    // A weight of 0 takes a strategy out of paper trading.
    out.retain(|p| p.settings.capital > 0.0);
    Ok(out)
}

fn settings_json(s: &BacktestConfig) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// FNV-1a 64 (a stable hash for identities, not for security).
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Bounded window of candles: appended at the back, trimmed from the front in batches so that
/// a contiguous slice of at least `keep` candles is always available.
#[derive(Debug, Clone)]
struct Window {
    buf: Vec<Candle>,
    keep: usize,
}

impl Window {
    fn new(keep: usize) -> Self {
        Window {
            buf: Vec::with_capacity(2 * keep + 1),
            keep,
        }
    }
    #[inline]
    fn push(&mut self, c: Candle) {
        if self.buf.len() >= 2 * self.keep {
            let cut = self.buf.len() - self.keep;
            self.buf.drain(..cut);
        }
        self.buf.push(c);
    }
}

#[derive(Debug, Clone)]
struct Higher {
    tf: Timeframe,
    rs: Resampler,
    win: Window,
}

/// Counters of the closed trades of this epoch (for the state file and the Arena).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunnerStats {
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub net_pnl: f64,
    pub gross_profit: f64,
    pub gross_loss: f64,
    /// Peak equity at a close and the largest drawdown from it, percent.
    pub peak: f64,
    pub max_drawdown_pct: f64,
}

/// What one step produced.
#[derive(Debug, Default)]
pub struct StepOut {
    /// Trades closed by this step (they are in [`Runner::closed`]).
    pub n_trades: usize,
    pub events: Vec<EngineEvent>,
    /// Resting levels before and after the step, when they changed.
    pub levels_changed: Option<(
        Vec<scalp_backtest::engine::Level>,
        Vec<scalp_backtest::engine::Level>,
    )>,
    pub equity: f64,
    pub close_time: i64,
}

pub struct Runner {
    pub plan: RunnerPlan,
    pub epoch: i64,
    /// Open time of the first candle fed to this epoch (entries blocked before `origin`).
    pub warmup_from: i64,
    /// Open time of the first candle this epoch trades.
    pub origin: i64,
    pub engine: Engine,
    pub strategy: Box<dyn Strategy>,
    window: Window,
    higher: Vec<Higher>,
    pub stats: RunnerStats,
    /// Equity at the last close processed.
    pub equity: f64,
    /// Global kill switch (entries blocked everywhere).
    pub global_block: bool,
    /// The strategy is stopped by a control request (entries blocked, exits go on).
    pub halted: bool,
    /// Trades closed and not yet taken for the database, with their sequence numbers.
    closed: Vec<(u64, Trade)>,
}

impl Runner {
    /// A fresh epoch: the engine at the plan's capital, its first funding settlement set by
    /// `warmup_from`.
    pub fn new(
        plan: RunnerPlan,
        epoch: i64,
        warmup_from: i64,
        origin: i64,
    ) -> Result<Runner, BacktestError> {
        let strategy = plan.build_strategy();
        let engine = Engine::new(plan.settings.clone(), plan.timeframe, warmup_from)?;
        Runner::assemble(plan, epoch, warmup_from, origin, engine, strategy)
    }

    /// A runner continuing from a snapshot: engine state and strategy state restored; the
    /// windows are refilled by [`Runner::refill`] from the stored candles.
    pub fn resume(
        plan: RunnerPlan,
        epoch: i64,
        warmup_from: i64,
        origin: i64,
        state: EngineState,
        strategy_state: &[u8],
    ) -> anyhow::Result<Runner> {
        let mut strategy = plan.build_strategy();
        strategy
            .load_state(strategy_state)
            .map_err(|e| anyhow::anyhow!("strategy state: {e}"))?;
        let engine = Engine::resume(plan.settings.clone(), plan.timeframe, state)?;
        Ok(Runner::assemble(
            plan,
            epoch,
            warmup_from,
            origin,
            engine,
            strategy,
        )?)
    }

    fn assemble(
        plan: RunnerPlan,
        epoch: i64,
        warmup_from: i64,
        origin: i64,
        mut engine: Engine,
        strategy: Box<dyn Strategy>,
    ) -> Result<Runner, BacktestError> {
        // The runner makes its higher candles itself (resampled): only the rule is checked.
        let higher_tfs: Vec<Timeframe> = strategy.timeframes().into_iter().skip(1).collect();
        if let Some(&h) = higher_tfs
            .iter()
            .find(|h| !(h.ms() > plan.timeframe.ms() && h.ms() % plan.timeframe.ms() == 0))
        {
            return Err(BacktestError::NotHigher {
                strategy: strategy.name().into(),
                primary: plan.timeframe,
                higher: h,
            });
        }
        if higher_tfs.len() > MAX_HIGHER {
            return Err(BacktestError::TooManyTimeframes { max: MAX_HIGHER });
        }
        let keep = plan.history(strategy.as_ref());
        let hkeep = plan.higher_history(strategy.as_ref());
        let higher = higher_tfs
            .iter()
            .map(|&tf| Higher {
                tf,
                rs: Resampler::new(plan.timeframe, tf),
                win: Window::new(hkeep),
            })
            .collect();
        engine.record_events(true);
        let capital = plan.settings.capital;
        let equity = engine.state().cash;
        Ok(Runner {
            window: Window::new(keep),
            higher,
            plan,
            epoch,
            warmup_from,
            origin,
            engine,
            strategy,
            stats: RunnerStats {
                peak: capital,
                ..RunnerStats::default()
            },
            equity,
            global_block: false,
            halted: false,
            closed: Vec::new(),
        })
    }

    /// Primary candles to reload before `last_open_time` after a restart: enough for the window
    /// and for every higher timeframe's kept candles and its current bucket.
    pub fn refill_span_ms(&self) -> i64 {
        let tf = self.plan.timeframe.ms();
        let mut span = self.window.keep as i64 * tf;
        for h in &self.higher {
            span = span.max((h.win.keep as i64 + 1) * h.tf.ms());
        }
        span
    }

    /// Refills the windows from stored candles (ascending, all at or before the last processed
    /// one) without stepping: the state the uninterrupted runner had after them. The first
    /// candle given must start a higher-timeframe bucket for the resamplers to agree; the
    /// caller loads from an aligned time ([`Runner::refill_from`]).
    pub fn refill(&mut self, candles: &[Candle]) {
        for c in candles {
            self.window.push(*c);
            for h in &mut self.higher {
                let (a, b) = h.rs.update(c);
                if let Some(x) = a {
                    h.win.push(x);
                }
                if let Some(x) = b {
                    h.win.push(x);
                }
            }
        }
    }

    /// Open time from which [`Runner::refill`] must load, aligned to every higher timeframe,
    /// not before `warmup_from`.
    pub fn refill_from(&self, last_open_time: i64) -> i64 {
        let mut from = last_open_time - self.refill_span_ms();
        for h in &self.higher {
            from = from.div_euclid(h.tf.ms()) * h.tf.ms();
        }
        from.max(self.warmup_from)
    }

    /// Restores the counters from the epoch's stored trades.
    pub fn set_stats(&mut self, stats: RunnerStats) {
        self.stats = stats;
    }

    pub fn last_open_time(&self) -> Option<i64> {
        self.engine.state().last_open_time
    }

    /// Close of the last candle fed (0 before the first): the reference price of the market
    /// orders it queued.
    pub fn last_close(&self) -> f64 {
        self.window.buf.last().map_or(0.0, |c| c.close)
    }

    /// Feeds one closed candle. Candles at or before the last processed one are ignored
    /// (`None`). `funding` / `oi`: the asset's stored history (ascending).
    pub fn step(
        &mut self,
        c: &Candle,
        funding: &[FundingPoint],
        oi: &[OiPoint],
        want_levels: bool,
    ) -> Result<Option<StepOut>, BacktestError> {
        self.step_with(c, funding, oi, want_levels, None)
    }

    /// As [`Runner::step`] with the exchange as the fill model (the live executor): `fills`
    /// are what the exchange filled during this candle ([`Engine::step_external`]).
    pub fn step_live(
        &mut self,
        c: &Candle,
        funding: &[FundingPoint],
        oi: &[OiPoint],
        fills: &[LiveFill],
    ) -> Result<Option<StepOut>, BacktestError> {
        self.step_with(c, funding, oi, true, Some(fills))
    }

    fn step_with(
        &mut self,
        c: &Candle,
        funding: &[FundingPoint],
        oi: &[OiPoint],
        want_levels: bool,
        fills: Option<&[LiveFill]>,
    ) -> Result<Option<StepOut>, BacktestError> {
        if self.last_open_time().is_some_and(|t| c.open_time <= t) {
            return Ok(None);
        }
        let close_time = c.open_time + self.plan.timeframe.ms();
        self.window.push(*c);
        for h in &mut self.higher {
            let (a, b) = h.rs.update(c);
            if let Some(x) = a {
                h.win.push(x);
            }
            if let Some(x) = b {
                h.win.push(x);
            }
        }
        let mut hs: [(Timeframe, &[Candle]); MAX_HIGHER] = [(self.plan.timeframe, &[]); MAX_HIGHER];
        for (k, h) in self.higher.iter().enumerate() {
            hs[k] = (h.tf, &h.win.buf);
        }
        let extras = MarketExtras {
            funding_rate: latest(funding, close_time, |f| (f.time, f.rate)),
            open_interest: latest(oi, close_time, |o| (o.time, o.value)),
        };
        let bar = Bar {
            candles: &self.window.buf,
            higher: &hs[..self.higher.len()],
            funding,
            extras,
        };
        self.engine
            .block_entries(c.open_time < self.origin || self.global_block || self.halted);
        let before = want_levels.then(|| self.engine.state().levels.clone());
        let eq = match fills {
            None => self
                .engine
                .step(&bar, &self.plan.asset, self.strategy.as_mut(), None)?,
            Some(f) => {
                self.engine
                    .step_external(&bar, &self.plan.asset, self.strategy.as_mut(), f)?
            }
        };
        let trades = self.engine.take_trades();
        let first_seq = self.engine.state().trades - trades.len() as u64 + 1;
        let mut out = StepOut {
            n_trades: trades.len(),
            events: self.engine.take_events(),
            levels_changed: None,
            equity: eq,
            close_time,
        };
        for (k, t) in trades.into_iter().enumerate() {
            let s = &mut self.stats;
            s.trades += 1;
            s.net_pnl += t.net_pnl;
            if t.net_pnl > 0.0 {
                s.wins += 1;
                s.gross_profit += t.net_pnl;
            } else {
                s.losses += 1;
                s.gross_loss -= t.net_pnl;
            }
            self.closed.push((first_seq + k as u64, t));
        }
        // A change of the set of resting levels (placed or removed; a level moved to a new
        // price is not a change: the state file shows the current prices).
        if let Some(b) = before
            && (b.len() != self.engine.state().levels.len()
                || b.iter()
                    .any(|l| !self.engine.state().levels.iter().any(|a| a.id == l.id)))
        {
            out.levels_changed = Some((b, self.engine.state().levels.clone()));
        }
        self.equity = eq;
        let s = &mut self.stats;
        if eq > s.peak {
            s.peak = eq;
        } else if s.peak > 0.0 {
            s.max_drawdown_pct = s.max_drawdown_pct.max((1.0 - eq / s.peak) * 100.0);
        }
        Ok(Some(out))
    }

    /// Trades closed and not taken yet.
    pub fn closed(&self) -> &[(u64, Trade)] {
        &self.closed
    }

    pub fn take_closed(&mut self) -> Vec<(u64, Trade)> {
        std::mem::take(&mut self.closed)
    }

    /// Records the engine's fill events (off during a replay whose events are stored).
    pub fn log_events(&mut self, on: bool) {
        self.engine.record_events(on);
    }

    /// The strategy's serialized state (for the snapshot).
    pub fn strategy_state(&self) -> Result<Vec<u8>, String> {
        self.strategy.save_state().map_err(|e| e.to_string())
    }
}

fn latest<T>(xs: &[T], t: i64, f: impl Fn(&T) -> (i64, f64)) -> Option<f64> {
    let k = xs.partition_point(|x| f(x).0 <= t);
    (k > 0).then(|| f(&xs[k - 1]).1)
}
