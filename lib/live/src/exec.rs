//! The executor proper (portable, async over any [`Broker`]): the runners of one strategy on
//! the closed candles the collector stores, the exchange as their fill model, the desired book
//! sent as exchange requests, protection between candles, the session kill switch, the
//! start-up reconciliation, control requests. The daemon (`daemon.rs`) adds systemd, the
//! WebSocket wake-ups and signals. docs/EXECUTOR.md.

use crate::book::{self, Action, Ctx, Desired, Held, Purpose};
use crate::db::{self, EventRow, OrderLog, SnapshotRow, TradeRow};
use crate::fills::{self, Cursor};
use crate::state::{
    ExecutorState, KillView, PositionView, ReconcileItem, ReconcileReport, RunnerView,
};
use rusqlite::Connection;
use scalp_backtest::{EngineState, FundingPoint, OiPoint};
use scalp_broker::oid::OrderRole;
use scalp_broker::{
    Broker, BrokerConfig, BrokerError, ContractSpec, Dec, MarginMode, Order, OrderRequest,
    PlanRequest, Position, PositionMode, PositionSide,
};
use scalp_core::config::{Config, MarginModeSetting, ReconcilePolicy};
use scalp_core::types::{fmt_ms, now_ms};
use scalp_core::{Candle, Exchange};
use scalp_paper::control::{Action as CtlAction, CONTROL_VERSION, ControlRequest};
use scalp_paper::runner::{self, Runner, RunnerPlan};
use scalp_paper::state::ControlAck;
use scalp_paper::window::{drawdown_pct, window_high};
use scalp_store::SeriesKey;
use scalp_strategy::Side;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

/// Why an executor refuses to start (exit 2: restarting cannot fix it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Checks that `strategy` may trade live: known, `enabled = true`, `live_eligible = true`.
pub fn check_strategy(cfg: &Config, strategy: &str) -> Result<(), Refused> {
    let file = cfg.strategies_path().display().to_string();
    let Some(e) = cfg.strategies.strategies.get(strategy) else {
        return Err(Refused(format!(
            "strategy `{strategy}` is not in {file} (known: {})",
            cfg.strategies
                .strategies
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if scalp_strategy::spec(strategy).is_none() {
        return Err(Refused(format!(
            "strategy `{strategy}` of {file} is not a strategy this build knows"
        )));
    }
    if !e.enabled {
        return Err(Refused(format!(
            "strategy `{strategy}` has enabled = false in {file}: only enabled strategies trade live"
        )));
    }
    if !e.live_eligible {
        return Err(Refused(format!(
            "strategy `{strategy}` has live_eligible = false in {file}: it has not been cleared for live trading (set live_eligible = true once its grade allows it)"
        )));
    }
    Ok(())
}

/// The runners of `strategy`: the simulator's plans of it, each with an equal share of
/// `[executor].capital`.
pub fn plans(cfg: &Config, strategy: &str) -> anyhow::Result<Vec<RunnerPlan>> {
    let mut ps: Vec<RunnerPlan> = runner::plan(cfg)?
        .into_iter()
        .filter(|p| p.strategy == strategy)
        .collect();
    if ps.is_empty() {
        // a zero simulator weight drops it from paper trading, not from live trading
        let mut c = cfg.clone();
        c.main.simulator.weights.clear();
        ps = runner::plan(&c)?
            .into_iter()
            .filter(|p| p.strategy == strategy)
            .collect();
    }
    let n = ps.len().max(1) as f64;
    for p in &mut ps {
        p.settings.capital = cfg.main.executor.capital / n;
    }
    Ok(ps)
}

fn dec(x: f64) -> Dec {
    Dec::parse(&format!("{x:.12}")).unwrap_or_else(|_| Dec::parse("0").expect("zero"))
}

/// The session kill switch and the equity highs of its window (`live_meta` `kill`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Kill {
    active: bool,
    since: Option<i64>,
    reason: Option<String>,
    /// Monotonic deque of (minute, highest equity), oldest first.
    highs: VecDeque<(i64, f64)>,
    /// The same for the summed equity of every live strategy (the global rule).
    #[serde(default)]
    global_highs: VecDeque<(i64, f64)>,
}

/// The summed runner equity of the other executors' state files in `dir`
/// (`executor-<s>.json`, each written by its own instance; `own` is skipped). A file that
/// cannot be read as a version-1 executor state counts as nothing (and is named at debug level).
pub fn others_equity(dir: &std::path::Path, own: &str) -> f64 {
    let own_file = crate::state::state_file(own);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0.0;
    };
    let mut sum = 0.0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name == own_file || !name.starts_with("executor-") || !name.ends_with(".json") {
            continue;
        }
        let v: Option<serde_json::Value> = std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        // a reset's copy (`executor-<s>.reset-<ms>.json`) is not a running strategy's state
        let Some(v) = v.filter(|v| {
            v["version"] == crate::state::STATE_VERSION
                && v["strategy"]
                    .as_str()
                    .is_some_and(|s| crate::state::state_file(s) == name)
        }) else {
            tracing::debug!(
                "{name}: not an executor state file of version {}",
                crate::state::STATE_VERSION
            );
            continue;
        };
        sum += v["runners"]
            .as_array()
            .map_or(0.0, |r| r.iter().filter_map(|r| r["equity"].as_f64()).sum());
    }
    sum
}

/// A runner's snapshot: engine state, strategy state (CBOR), fills cursor (JSON).
type Blobs = (Vec<u8>, Vec<u8>, String);

struct Slot {
    plan: RunnerPlan,
    runner: Option<Runner>,
    spec: ContractSpec,
    cursor: Cursor,
    warmup_from: i64,
    origin: i64,
    dirty: bool,
    /// The exchange's position of the symbol at the last look.
    held: Option<Held>,
}

/// Counters for the state file and the benches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub candles: u64,
    pub fills: u64,
    pub trades: u64,
    pub requests: u64,
    pub rejected: u64,
    /// Wall clock (ms) when the last pass began that looked at every runner's candles and
    /// exchange book and found nothing to send (the executor is quiescent since).
    pub quiet_since_ms: i64,
    /// Wall clock of the last completed pass.
    pub last_pass_ms: i64,
}

pub struct Executor<B: Broker> {
    pub strategy: String,
    cfg: Config,
    broker: B,
    conn: Connection,
    slots: Vec<Slot>,
    kill: Kill,
    /// The other executors' summed equity and when it was read (the global rule).
    others: Option<(std::time::Instant, f64)>,
    /// The global rule's summed equity and its window high at the last look.
    global: Option<(f64, f64)>,
    /// Trading halted (reconciliation policy `halt`, a `stop` control request): nothing is
    /// placed but protection and closes.
    halted: Option<String>,
    acks: BTreeMap<String, ControlAck>,
    control_dir: PathBuf,
    pub report: ReconcileReport,
    pub counters: Counters,
    pub last_error: Option<String>,
    started_at: String,
    /// Entries refused for lack of margin at this candle: not retried before the next one.
    starved_at: Option<i64>,
    pub credential_source: String,
}

/// The broker settings of the config.
pub fn broker_config(cfg: &Config) -> BrokerConfig {
    let b = &cfg.main.exchanges.bitget;
    let e = &cfg.main.executor;
    BrokerConfig {
        rest_url: b.rest_url.clone(),
        ws_private_url: b.ws_private_url.clone(),
        ca_file: b.ca_file.clone(),
        request_timeout: Duration::from_millis(e.request_timeout_ms),
        max_attempts: e.max_attempts,
        product_type: b.product_type.clone(),
        margin_mode: match e.margin_mode {
            MarginModeSetting::Isolated => MarginMode::Isolated,
            MarginModeSetting::Crossed => MarginMode::Crossed,
        },
        demo: b.product_type.starts_with('S'),
        ..BrokerConfig::default()
    }
}

fn mm(cfg: &Config) -> MarginMode {
    match cfg.main.executor.margin_mode {
        MarginModeSetting::Isolated => MarginMode::Isolated,
        MarginModeSetting::Crossed => MarginMode::Crossed,
    }
}

/// Control files of an executor, one per writer.
pub fn control_files(strategy: &str) -> [String; 2] {
    [
        format!("executor-{strategy}-scalpctl.json"),
        format!("executor-{strategy}-api.json"),
    ]
}

fn held_of(positions: &[Position], symbol: &str) -> Option<Held> {
    positions
        .iter()
        .find(|p| p.symbol == symbol && !p.size.is_zero())
        .map(|p| Held {
            side: p.side,
            size: p.size,
            entry: p.entry_price,
        })
}

fn purpose_str(p: Purpose) -> String {
    match p {
        Purpose::Level(n) => format!("level:{n}"),
        Purpose::Entry => "entry".into(),
        Purpose::Close(r) => format!("close:{}", scalp_paper::db::enum_str(&r)),
        Purpose::TakeProfit => "take_profit".into(),
    }
}

impl<B: Broker> Executor<B> {
    /// Opens the database, sets the account up (one-way mode, margin mode and leverage of
    /// every symbol), restores the runners and reconciles them with the exchange. Nothing is
    /// traded before this returns.
    pub async fn open(
        cfg: Config,
        strategy: &str,
        broker: B,
        credential_source: String,
    ) -> anyhow::Result<Executor<B>> {
        check_strategy(&cfg, strategy)?;
        let db_path = cfg.db_path();
        let conn = scalp_store::open(&db_path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", db_path.display()))?;
        let mut ex = Self::build(cfg, strategy, broker, credential_source, conn, true).await?;
        ex.setup_account().await?;
        ex.reconcile(true).await?;
        ex.apply_controls().await?;
        Ok(ex)
    }

    /// `scalpctl reconcile`: the reconciliation diff of the stored state against the exchange,
    /// read-only (the database opened read-only, no request that changes anything).
    pub async fn inspect(
        cfg: Config,
        strategy: &str,
        broker: B,
    ) -> anyhow::Result<ReconcileReport> {
        check_strategy(&cfg, strategy)?;
        let db_path = cfg.db_path();
        let conn = scalp_store::open_readonly(&db_path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", db_path.display()))?;
        let mut ex = Self::build(cfg, strategy, broker, String::new(), conn, false).await?;
        ex.reconcile(false).await
    }

    /// The executor with its runners restored (contracts checked); `writable`: a queued
    /// `reset_executor` control request is applied first.
    async fn build(
        cfg: Config,
        strategy: &str,
        broker: B,
        credential_source: String,
        conn: Connection,
        writable: bool,
    ) -> anyhow::Result<Executor<B>> {
        let plans = plans(&cfg, strategy)?;
        let control_dir = cfg.control_dir();
        let mut ex = Executor {
            strategy: strategy.to_string(),
            cfg,
            broker,
            conn,
            slots: Vec::new(),
            kill: Kill::default(),
            others: None,
            global: None,
            halted: None,
            acks: BTreeMap::new(),
            control_dir,
            report: ReconcileReport::default(),
            counters: Counters::default(),
            last_error: None,
            started_at: fmt_ms(now_ms()),
            starved_at: None,
            credential_source,
        };
        ex.load_meta();
        if writable {
            ex.apply_reset(&plans).await?;
        }
        let contracts = ex.broker.contracts(None).await?;
        for plan in plans {
            let spec = contracts
                .iter()
                .find(|c| c.symbol == plan.symbol)
                .cloned()
                .ok_or_else(|| {
                    Refused(format!(
                        "{}: the exchange lists no contract {} (assets.toml names {})",
                        plan.id, plan.symbol, plan.asset
                    ))
                })?;
            if !spec.tradable {
                return Err(Refused(format!(
                    "{}: contract {} is not tradable (status {})",
                    plan.id, spec.symbol, spec.status
                ))
                .into());
            }
            let lev = plan.settings.leverage;
            if lev > spec.max_leverage as f64 {
                return Err(Refused(format!(
                    "{}: leverage {lev} exceeds the contract's maximum {}x",
                    plan.id, spec.max_leverage
                ))
                .into());
            }
            let slot = ex.restore(plan, spec)?;
            ex.slots.push(slot);
        }
        Ok(ex)
    }

    /// A `reset_executor` request of scalpctl's control file, applied at start before anything
    /// is restored (`scalpctl reset executor`, docs/EXECUTOR.md): the strategy's live_runners
    /// rows and live_meta records are copied to `state/executor-<s>.reset-<ms>.json` with the
    /// last state file, then deleted (live_orders, live_trades and live_events stay). Refused
    /// while the exchange shows positions or orders on the strategy's symbols, unless forced.
    async fn apply_reset(&mut self, plans: &[RunnerPlan]) -> anyhow::Result<()> {
        let file = control_files(&self.strategy)[0].clone();
        let path = self.control_dir.join(&file);
        let scalp_statefile::ReadOutcome::Ok(env) =
            scalp_statefile::try_read::<ControlRequest>(&path, CONTROL_VERSION)
        else {
            return Ok(());
        };
        let req = env.payload;
        if self
            .acks
            .get(&file)
            .is_some_and(|a| a.request_id == req.request_id)
        {
            return Ok(());
        }
        let Some(force) = req.actions.iter().find_map(|a| match a {
            CtlAction::ResetExecutor { strategy, force } if *strategy == self.strategy => {
                Some(*force)
            }
            _ => None,
        }) else {
            return Ok(());
        };
        let mut open = Vec::new();
        let mut symbols: Vec<&str> = plans.iter().map(|p| p.symbol.as_str()).collect();
        symbols.sort_unstable();
        symbols.dedup();
        for sym in symbols {
            for p in self.broker.positions(Some(sym)).await? {
                if !p.size.is_zero() {
                    open.push(format!("position {} {} {sym}", p.side.wire(), p.size));
                }
            }
            let n = self.broker.open_orders(Some(sym)).await?.len();
            if n > 0 {
                open.push(format!("{n} open order(s) on {sym}"));
            }
            let n = self
                .broker
                .plan_orders(sym)
                .await?
                .iter()
                .filter(|p| !p.state().is_final())
                .count();
            if n > 0 {
                open.push(format!("{n} plan order(s) on {sym}"));
            }
        }
        let result = if !open.is_empty() && !force {
            format!(
                "refused: the exchange still shows {} (close them, or --force)",
                open.join(", ")
            )
        } else {
            let now = now_ms();
            let state_path = self
                .cfg
                .state_dir()
                .join(crate::state::state_file(&self.strategy));
            let old_state: Option<serde_json::Value> = std::fs::read(&state_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let ev = EventRow {
                time: now,
                asset: None,
                kind: "executor_reset",
                detail: serde_json::json!({"file": file, "force": force, "exchange": open}),
            };
            let rows = db::reset_strategy(&mut self.conn, &self.strategy, &ev, now)?;
            let backup = self
                .cfg
                .state_dir()
                .join(format!("executor-{}.reset-{now}.json", self.strategy));
            scalp_statefile::write_atomic(
                &backup,
                crate::state::STATE_VERSION,
                &serde_json::json!({"db": rows, "state_file": old_state}),
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", backup.display()))?;
            self.kill = Kill::default();
            self.halted = None;
            tracing::warn!(
                "EXECUTOR RESET {}: local state cleared (kill switch, session, book, positions); the old state is in {}{}",
                self.strategy,
                backup.display(),
                if open.is_empty() {
                    String::new()
                } else {
                    format!(" (forced while the exchange shows {})", open.join(", "))
                }
            );
            format!("ok (old state kept in {})", backup.display())
        };
        if result.starts_with("refused") {
            tracing::warn!("EXECUTOR RESET {}: {result}", self.strategy);
        }
        self.acks.insert(
            file.clone(),
            ControlAck {
                file,
                request_id: req.request_id.clone(),
                applied_at: fmt_ms(now_ms()),
                result,
            },
        );
        self.commit(&[], &[])?;
        Ok(())
    }

    async fn setup_account(&mut self) -> anyhow::Result<()> {
        let bal = self.broker.balance().await?;
        let capital = self.cfg.main.executor.capital;
        tracing::info!(
            "ACCOUNT {:?}: equity {} available {} USDT; capital of {} {capital} USDT",
            self.broker.account_mode(),
            bal.equity,
            bal.available,
            self.strategy
        );
        if bal.equity.to_f64() < capital {
            tracing::warn!(
                "the account's equity {} is below [executor].capital {capital}: orders will be refused for margin",
                bal.equity
            );
        }
        match self.broker.set_position_mode(PositionMode::OneWay).await {
            Ok(()) => {}
            Err(e) => {
                // refused under open positions: then the mode must already be one-way, which
                // the positions' answers would show; say it and go on
                tracing::warn!("set one-way position mode: {e}");
            }
        }
        let mode = mm(&self.cfg);
        for s in &self.slots {
            if let Err(e) = self.broker.set_margin_mode(&s.plan.symbol, mode).await {
                // refused while a position or an order is open (45117): the mode is then the
                // position's; it must be ours
                let pos = self.broker.positions(Some(&s.plan.symbol)).await?;
                match pos.iter().find(|p| !p.size.is_zero()) {
                    Some(p) if p.margin_mode != mode => {
                        return Err(Refused(format!(
                            "{}: the open {} position of {} is in {} margin, [executor].margin_mode is {}: close it or change the setting ({e})",
                            s.plan.id,
                            p.side.wire(),
                            p.size,
                            p.margin_mode.wire(),
                            mode.wire()
                        ))
                        .into());
                    }
                    Some(_) => {}
                    None if self
                        .broker
                        .open_orders(Some(&s.plan.symbol))
                        .await?
                        .is_empty() =>
                    {
                        return Err(e.into());
                    }
                    None => tracing::warn!(
                        "{}: margin mode not set while orders are open ({e}); they are reconciled next",
                        s.plan.id
                    ),
                }
            }
            let lev = s.plan.settings.leverage.round().max(1.0) as u32;
            self.broker.set_leverage(&s.plan.symbol, lev).await?;
            tracing::info!(
                "{}: {} {} margin, leverage {lev}x",
                s.plan.id,
                s.plan.symbol,
                mode.wire()
            );
        }
        Ok(())
    }

    fn load_meta(&mut self) {
        if let Ok(Some(v)) = db::load_meta(&self.conn, &self.strategy, "kill") {
            match serde_json::from_str(&v) {
                Ok(k) => self.kill = k,
                Err(e) => {
                    tracing::warn!("live_meta kill is unreadable ({e}): kill switch armed off")
                }
            }
        }
        if let Ok(Some(v)) = db::load_meta(&self.conn, &self.strategy, "halted") {
            self.halted = serde_json::from_str(&v).unwrap_or(None);
        }
        if let Ok(Some(v)) = db::load_meta(&self.conn, &self.strategy, "control_acks") {
            self.acks = serde_json::from_str(&v).unwrap_or_default();
        }
    }

    fn key(p: &RunnerPlan) -> SeriesKey<'_> {
        SeriesKey {
            exchange: p.exchange,
            symbol: &p.symbol,
            timeframe: p.timeframe,
        }
    }

    fn restore(&mut self, plan: RunnerPlan, spec: ContractSpec) -> anyhow::Result<Slot> {
        let mut slot = Slot {
            plan,
            runner: None,
            spec,
            cursor: Cursor::default(),
            warmup_from: 0,
            origin: 0,
            dirty: false,
            held: None,
        };
        let row = db::load_runner(&self.conn, &slot.plan.id)?;
        let Some(row) = row else {
            return Ok(slot);
        };
        if row.params_hash != slot.plan.hash {
            tracing::warn!(
                "{}: parameters or settings changed since its last run: it starts afresh (its trades stay in live_trades)",
                slot.plan.id
            );
            return Ok(slot);
        }
        slot.plan.settings.capital = row.capital;
        slot.warmup_from = row.warmup_from;
        slot.origin = row.origin_open_time;
        slot.cursor = serde_json::from_str(&row.fills_cursor).map_err(|e| {
            anyhow::anyhow!(
                "{}: live_runners.fills_cursor is unreadable: {e}",
                slot.plan.id
            )
        })?;
        let Some(last) = row.last_open_time else {
            return Ok(slot);
        };
        let (Some(e), Some(s)) = (&row.engine_state, &row.strategy_state) else {
            anyhow::bail!("{}: live_runners row without a snapshot", slot.plan.id);
        };
        if row.snapshot_version != db::SNAPSHOT_VERSION {
            anyhow::bail!(
                "{}: snapshot version {} (this binary reads {}): `scalpctl reset executor --strategy {}`",
                slot.plan.id,
                row.snapshot_version,
                db::SNAPSHOT_VERSION,
                self.strategy
            );
        }
        let st: EngineState = ciborium::from_reader(e.as_slice())
            .map_err(|e| anyhow::anyhow!("{}: engine snapshot: {e}", slot.plan.id))?;
        let mut r = Runner::resume(
            slot.plan.clone(),
            0,
            row.warmup_from,
            row.origin_open_time,
            st,
            s,
        )?;
        let from = r.refill_from(last);
        let candles =
            scalp_store::candles::load(&self.conn, &Self::key(&slot.plan), from, last + 1)?;
        r.refill(&candles);
        r.log_events(true);
        r.equity = r.engine.equity_at(candles.last().map_or(0.0, |c| c.close));
        slot.runner = Some(r);
        Ok(slot)
    }

    fn market(
        &self,
        plan: &RunnerPlan,
        from: i64,
        to: i64,
    ) -> anyhow::Result<(Vec<FundingPoint>, Vec<OiPoint>)> {
        if plan.exchange == Exchange::Replay {
            return Ok((Vec::new(), Vec::new()));
        }
        let tf = plan.timeframe.ms();
        let f = scalp_store::funding::load(
            &self.conn,
            plan.exchange,
            &plan.symbol,
            from - 2 * scalp_backtest::engine::FUNDING_INTERVAL_MS,
            to + tf,
        )?
        .into_iter()
        .map(|r| FundingPoint {
            time: r.time,
            rate: r.rate,
        })
        .collect();
        let o = scalp_store::open_interest::load(
            &self.conn,
            plan.exchange,
            &plan.symbol,
            from - 86_400_000,
            to + tf,
        )?
        .into_iter()
        .map(|r| OiPoint {
            time: r.time,
            value: r.oi,
        })
        .collect();
        Ok((f, o))
    }

    /// Starts a runner once its series has candles: it warms up on the stored history with
    /// entries blocked and trades from the next candle (live never trades the past).
    fn start_runner(&mut self, k: usize) -> anyhow::Result<bool> {
        let plan = self.slots[k].plan.clone();
        let key = Self::key(&plan);
        let Some(first) = scalp_store::candles::first_open_time(&self.conn, &key)? else {
            return Ok(false);
        };
        let last = scalp_store::candles::last_open_time(&self.conn, &key)?.unwrap_or(first);
        let tf = plan.timeframe.ms();
        let probe = plan.build_strategy();
        let keep = plan.history(probe.as_ref()) as i64;
        let hk = plan.higher_history(probe.as_ref()) as i64;
        let mut span = keep * tf;
        for h in probe.timeframes().iter().skip(1) {
            span = span.max((hk + 1) * h.ms());
        }
        let warmup_from = (last + tf - span).max(first);
        let origin = last + tf;
        let mut r = Runner::new(plan.clone(), 0, warmup_from, origin)?;
        r.log_events(false);
        let candles = scalp_store::candles::load(&self.conn, &key, warmup_from, last + 1)?;
        let (f, o) = self.market(&plan, warmup_from, last + 1)?;
        for c in &candles {
            r.step(c, &f, &o, false)?;
        }
        r.take_closed();
        r.log_events(true);
        r.equity = plan.settings.capital;
        tracing::info!(
            "LIVE RUNNER {} {} {} capital {:.2} leverage {}: warmed up on {} candles, trading from {}",
            plan.id,
            plan.symbol,
            plan.timeframe,
            plan.settings.capital,
            plan.settings.leverage,
            candles.len(),
            fmt_ms(origin)
        );
        let s = &mut self.slots[k];
        s.warmup_from = warmup_from;
        s.origin = origin;
        // fills before now are not this runner's
        s.cursor = Cursor {
            since_ms: now_ms() + self.broker.clock_offset_ms() - 1000,
            ..Cursor::default()
        };
        s.runner = Some(r);
        s.dirty = true;
        Ok(true)
    }

    fn snapshot(&self, s: &Slot) -> anyhow::Result<Option<Blobs>> {
        let Some(r) = &s.runner else {
            return Ok(None);
        };
        let mut e = Vec::new();
        ciborium::into_writer(r.engine.state(), &mut e)?;
        let st = r.strategy_state().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Some((e, st, serde_json::to_string(&s.cursor)?)))
    }

    /// Commits every dirty runner's snapshot with `trades` and `events` and the meta records.
    fn commit(&mut self, trades: &[TradeRow<'_>], events: &[EventRow]) -> anyhow::Result<()> {
        let mut blobs = Vec::new();
        for s in &self.slots {
            if s.dirty
                && let Some(b) = self.snapshot(s)?
            {
                blobs.push((s, b));
            }
        }
        let snaps: Vec<SnapshotRow<'_>> = blobs
            .iter()
            .map(|(s, (e, st, cur))| SnapshotRow {
                runner_id: &s.plan.id,
                strategy: &s.plan.strategy,
                asset: &s.plan.asset,
                symbol: &s.plan.symbol,
                timeframe: s.plan.timeframe.as_str(),
                params_hash: &s.plan.hash,
                capital: s.plan.settings.capital,
                warmup_from: s.warmup_from,
                origin_open_time: s.origin,
                last_open_time: s.runner.as_ref().and_then(|r| r.last_open_time()),
                engine_state: e.clone(),
                strategy_state: st.clone(),
                fills_cursor: cur.clone(),
            })
            .collect();
        let meta = vec![
            ("kill", serde_json::to_string(&self.kill)?),
            ("halted", serde_json::to_string(&self.halted)?),
            ("control_acks", serde_json::to_string(&self.acks)?),
        ];
        let strategy = self.strategy.clone();
        // the borrow of the slots ends with `snaps`
        let mut conn = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        let r = db::commit(
            &mut conn,
            &strategy,
            &snaps,
            trades,
            events,
            &meta,
            now_ms(),
        );
        drop(snaps);
        self.conn = conn;
        r?;
        for s in &mut self.slots {
            s.dirty = false;
        }
        Ok(())
    }

    /// One pass: control requests, new candles (fills booked, engine stepped, book sent), the
    /// protection of every position when `check` (a WebSocket push arrived, or the check
    /// interval elapsed), the kill switch. `true` when requests were sent (the caller checks
    /// again at once: what was sent is verified).
    pub async fn poll(&mut self, check: bool) -> anyhow::Result<bool> {
        let t0 = now_ms();
        self.apply_controls().await?;
        let mut acted = false;
        let mut looked = true;
        for k in 0..self.slots.len() {
            if self.slots[k].runner.is_none() && !self.start_runner(k)? {
                continue;
            }
            if self.step_new(k).await? {
                acted |= self.sync_book(k, false).await?;
            } else if check {
                acted |= self.sync_book(k, true).await?;
            } else {
                looked = false;
            }
        }
        if looked && !acted {
            // a whole pass that began at t0 saw the candles and the exchange and had nothing
            // to send: the executor is quiescent since t0
            self.counters.quiet_since_ms = t0;
        }
        self.check_kill().await?;
        self.counters.last_pass_ms = now_ms();
        Ok(acted)
    }

    /// Steps runner `k` over its new stored candles; the exchange's fills since the last step go
    /// to the first of them.
    async fn step_new(&mut self, k: usize) -> anyhow::Result<bool> {
        let (key_plan, last) = {
            let s = &self.slots[k];
            let r = s.runner.as_ref().expect("started");
            (
                s.plan.clone(),
                r.last_open_time()
                    .unwrap_or(s.origin - s.plan.timeframe.ms()),
            )
        };
        let key = Self::key(&key_plan);
        let candles: Vec<Candle> =
            scalp_store::candles::load_limit(&self.conn, &key, last + 1, i64::MAX, 1000)?;
        if candles.is_empty() {
            return Ok(false);
        }
        let (f, o) = self.market(
            &key_plan,
            candles[0].open_time,
            candles.last().unwrap().open_time + 1,
        )?;
        let ex_fills = self.broker.fills(&key_plan.symbol, None).await?;
        let mut trades_out = Vec::new();
        let mut events = Vec::new();
        {
            let strategy = self.strategy.clone();
            let s = &mut self.slots[k];
            let r = s.runner.as_mut().expect("started");
            for (i, c) in candles.iter().enumerate() {
                let lf = if i == 0 {
                    let before = r.engine.state().clone();
                    let last_close = r.last_close();
                    let (lf, closed) = fills::book(
                        &mut s.cursor,
                        &strategy,
                        &key_plan.asset,
                        &ex_fills,
                        &before,
                        last_close,
                    );
                    self.counters.fills += lf.len() as u64;
                    trades_out.extend(closed);
                    lf
                } else {
                    Vec::new()
                };
                for x in &lf {
                    log_fill(&key_plan, x);
                    if let Some(ev) = fill_event(x, c.open_time, &key_plan.asset) {
                        events.push(ev);
                    }
                }
                r.step_live(c, &f, &o, &lf)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", key_plan.id))?;
                self.counters.candles += 1;
            }
            r.equity = r.engine.equity_at(candles.last().unwrap().close);
            s.dirty = true;
        }
        let closed_trades = self.slots[k].runner.as_mut().unwrap().take_closed();
        let mut rows_src = Vec::new();
        for (n, (seq, t)) in closed_trades.into_iter().enumerate() {
            let ex = trades_out.get(n).cloned().unwrap_or_default();
            let funding = self
                .broker
                .funding_payments(&key_plan.symbol, t.entry_time)
                .await
                .ok()
                .map(|v| {
                    v.iter()
                        .filter(|p| p.time_ms >= t.entry_time && p.time_ms <= t.exit_time + 60_000)
                        .map(|p| p.amount.to_f64())
                        .sum::<f64>()
                });
            tracing::info!(
                "GRID CLOSE {} #{seq} {:?} {:?} entry {:.6} exit {:.6} qty {} net {:.4} fees {:.4} (exchange {:.4})",
                key_plan.id,
                t.side,
                t.exit_reason,
                t.entry_price,
                t.exit_price,
                t.qty,
                t.net_pnl,
                t.fees,
                ex.fees
            );
            events.push(EventRow {
                time: t.exit_time,
                asset: Some(key_plan.asset.clone()),
                kind: "exit",
                detail: serde_json::json!({
                    "seq": seq, "side": scalp_paper::db::side_str(t.side),
                    "exit_reason": scalp_paper::db::enum_str(&t.exit_reason),
                    "entry_price": t.entry_price, "exit_price": t.exit_price, "qty": t.qty,
                    "net_pnl": t.net_pnl, "order_ids": ex.order_ids,
                }),
            });
            rows_src.push((seq, t, funding, ex.order_ids));
            self.counters.trades += 1;
        }
        let rows: Vec<TradeRow<'_>> = rows_src
            .iter()
            .map(|(seq, t, funding, ids)| TradeRow {
                runner_id: &key_plan.id,
                seq: *seq,
                strategy: &key_plan.strategy,
                asset: &key_plan.asset,
                symbol: &key_plan.symbol,
                trade: t,
                exchange_funding: *funding,
                order_ids: ids.clone(),
            })
            .collect();
        self.commit(&rows, &events)?;
        Ok(true)
    }

    /// Makes the exchange hold runner `k`'s desired book. `protect_only`: between candles only
    /// the take-profit and the stop follow the position (nothing else changes without a
    /// candle).
    async fn sync_book(&mut self, k: usize, protect_only: bool) -> anyhow::Result<bool> {
        let symbol = self.slots[k].plan.symbol.clone();
        let positions = self.broker.positions(Some(&symbol)).await?;
        let held = held_of(&positions, &symbol);
        self.slots[k].held = held.clone();
        let open = self.broker.open_orders(Some(&symbol)).await?;
        let plans = self.broker.plan_orders(&symbol).await?;
        let Some(want) = self.desired(k, held.as_ref())? else {
            return Ok(false);
        };
        let (strategy, asset) = (self.strategy.clone(), self.slots[k].plan.asset.clone());
        let mut d = book::diff(&strategy, &asset, &want, &open, &plans);
        if protect_only {
            d.actions.retain(|a| match a {
                Action::Cancel { client_oid }
                | Action::Place(book::Wanted {
                    request: OrderRequest { client_oid, .. },
                    ..
                }) => {
                    matches!(
                        book::role_of(&strategy, &asset, client_oid),
                        Some(OrderRole::TakeProfit(_))
                    )
                }
                Action::CancelPlan(_) | Action::PlacePlan(_) => true,
            });
            // a stop is re-armed only when a position lacks one, never removed between candles
            // (the position may be closing right now)
            if held.is_none() {
                d.actions.clear();
            }
        }
        if d.actions.is_empty() {
            return Ok(false);
        }
        let candle = self.slots[k]
            .runner
            .as_ref()
            .and_then(|r| r.last_open_time())
            .unwrap_or(0);
        self.execute(k, d.actions, candle).await?;
        Ok(true)
    }

    fn desired(&mut self, k: usize, held: Option<&Held>) -> anyhow::Result<Option<Desired>> {
        let s = &self.slots[k];
        let Some(r) = &s.runner else {
            return Ok(None);
        };
        let Some(candle_ms) = r.last_open_time() else {
            return Ok(None);
        };
        let cx = Ctx {
            strategy: &self.strategy,
            asset: &s.plan.asset,
            candle_ms,
            last_close: r.last_close(),
            protective_frac: self.cfg.main.executor.protective_frac,
        };
        let mut d = book::desired(&cx, &r.engine, &s.spec, held)?;
        if self.kill.active || self.halted.is_some() || self.starved_at == Some(candle_ms) {
            // no new exposure: keep closes, the take-profit and the stop
            d.orders.retain(|w| w.request.reduce_only);
        }
        for sk in &d.skipped {
            tracing::warn!("{}: {:?} not sent: {}", s.plan.id, sk.purpose, sk.why);
        }
        Ok(Some(d))
    }

    /// A fresh clientOid for a re-armed take-profit or stop (the old one's id is spent).
    fn rearm_oid(&mut self, k: usize, role: fn(u32) -> OrderRole, candle: i64) -> String {
        let s = &mut self.slots[k];
        if s.cursor.rearm_candle != candle {
            s.cursor.rearm_candle = candle;
            s.cursor.rearm = 0;
        }
        let n = s.cursor.rearm;
        s.cursor.rearm += 1;
        s.dirty = true;
        scalp_broker::client_oid(&self.strategy, &s.plan.asset, role(n), candle)
    }

    fn log_sent(&self, k: usize, o: OrderLog) -> anyhow::Result<i64> {
        let mut o = o;
        o.asset = Some(self.slots[k].plan.asset.clone());
        Ok(db::order_sent(&self.conn, &self.strategy, &o, now_ms())?)
    }

    fn log_answer(&self, id: i64, r: Result<Option<&str>, &BrokerError>, what: &str) {
        let (ok, oid, ans) = match r {
            Ok(o) => (true, o, what.to_string()),
            Err(e) => (false, None, e.to_string()),
        };
        if let Err(e) = db::order_answered(&self.conn, id, ok, oid, &ans, now_ms()) {
            tracing::error!("live_orders: cannot record the answer of request {id}: {e}");
        }
    }

    fn already_sent(&self, client_oid: &str) -> bool {
        self.conn
            .query_row(
                "SELECT 1 FROM live_orders WHERE strategy = ?1 AND client_oid = ?2 \
                 AND action = 'place' AND status = 'ok' LIMIT 1",
                [&self.strategy, client_oid],
                |_| Ok(()),
            )
            .is_ok()
    }

    async fn execute(&mut self, k: usize, actions: Vec<Action>, candle: i64) -> anyhow::Result<()> {
        let symbol = self.slots[k].plan.symbol.clone();
        let id = self.slots[k].plan.id.clone();
        let mut need_commit = false;
        for a in actions {
            self.counters.requests += 1;
            match a {
                Action::Cancel { client_oid } => {
                    let row = self.log_sent(
                        k,
                        OrderLog {
                            symbol: symbol.clone(),
                            action: "cancel",
                            client_oid: Some(client_oid.clone()),
                            candle_time: Some(candle),
                            ..OrderLog::default()
                        },
                    )?;
                    let r = self.broker.cancel_order(&symbol, &client_oid).await;
                    self.log_answer(
                        row,
                        r.as_ref().map(|_| None),
                        if matches!(r, Ok(true)) {
                            "cancelled"
                        } else {
                            "already final"
                        },
                    );
                    if let Err(e) = r {
                        tracing::warn!("{id}: cancel {client_oid}: {e}");
                    }
                }
                Action::Place(mut w) => {
                    let market = w.request.order_type == scalp_broker::OrderType::Market;
                    if market && self.already_sent(&w.request.client_oid) {
                        continue;
                    }
                    if w.purpose == Purpose::TakeProfit {
                        w.request.client_oid = self.rearm_oid(k, OrderRole::TakeProfit, candle);
                        need_commit = true;
                    }
                    self.place(k, &w, candle).await?;
                }
                Action::CancelPlan(p) => {
                    let row = self.log_sent(
                        k,
                        OrderLog {
                            symbol: symbol.clone(),
                            action: "cancel_plan",
                            client_oid: Some(p.client_oid.clone()),
                            purpose: Some("stop_loss".into()),
                            price: Some(p.trigger_price.to_string()),
                            candle_time: Some(candle),
                            ..OrderLog::default()
                        },
                    )?;
                    let r = self.broker.cancel_plan(&symbol, &p).await;
                    self.log_answer(row, r.as_ref().map(|_| None), "cancelled");
                    if let Err(e) = r {
                        tracing::warn!("{id}: cancel stop {}: {e}", p.client_oid);
                    }
                }
                Action::PlacePlan(mut p) => {
                    p.client_oid = self.rearm_oid(k, OrderRole::StopLoss, candle);
                    need_commit = true;
                    self.place_stop(k, &p, candle).await?;
                }
            }
        }
        if need_commit {
            self.commit(&[], &[])?;
        }
        Ok(())
    }

    async fn place(&mut self, k: usize, w: &book::Wanted, candle: i64) -> anyhow::Result<()> {
        let rq = &w.request;
        let id = self.slots[k].plan.id.clone();
        let row = self.log_sent(
            k,
            OrderLog {
                symbol: rq.symbol.clone(),
                action: "place",
                client_oid: Some(rq.client_oid.clone()),
                purpose: Some(purpose_str(w.purpose)),
                side: Some(rq.side.wire().into()),
                order_type: Some(format!("{:?}", rq.order_type).to_lowercase()),
                qty: Some(rq.qty.to_string()),
                price: rq.price.map(|p| p.to_string()),
                reduce_only: Some(rq.reduce_only),
                candle_time: Some(candle),
                ..OrderLog::default()
            },
        )?;
        let r = self.broker.place_order(rq).await;
        match &r {
            Ok(ack) => {
                self.log_answer(
                    row,
                    Ok(ack.order_id.as_deref()),
                    if ack.already_placed {
                        "already placed"
                    } else {
                        "placed"
                    },
                );
                tracing::info!(
                    "LIVE ORDER {id} {} {} {} {} @ {} reduce_only={} oid={} order_id={}{}",
                    purpose_str(w.purpose),
                    rq.side.wire(),
                    format!("{:?}", rq.order_type).to_lowercase(),
                    rq.qty,
                    rq.price.map_or("market".to_string(), |p| p.to_string()),
                    rq.reduce_only,
                    rq.client_oid,
                    ack.order_id.as_deref().unwrap_or("?"),
                    if ack.already_placed {
                        " (already placed)"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => {
                self.log_answer(row, Err(e), "");
                self.counters.rejected += 1;
                self.last_error = Some(format!("{id}: {e}"));
                let insufficient = matches!(e, BrokerError::InsufficientBalance { .. });
                if insufficient {
                    // no retry storm: no new exposure before the next candle
                    self.starved_at = Some(candle);
                }
                tracing::error!("LIVE ORDER {id} {} refused: {e}", rq.client_oid);
                let ev = EventRow {
                    time: now_ms(),
                    asset: Some(self.slots[k].plan.asset.clone()),
                    kind: if insufficient {
                        "insufficient_balance"
                    } else {
                        "order_rejected"
                    },
                    detail: serde_json::json!({"client_oid": rq.client_oid, "purpose": purpose_str(w.purpose), "error": e.to_string()}),
                };
                self.commit(&[], &[ev])?;
            }
        }
        Ok(())
    }

    async fn place_stop(&mut self, k: usize, p: &PlanRequest, candle: i64) -> anyhow::Result<()> {
        let id = self.slots[k].plan.id.clone();
        let row = self.log_sent(
            k,
            OrderLog {
                symbol: p.symbol.clone(),
                action: "place_plan",
                client_oid: Some(p.client_oid.clone()),
                purpose: Some("stop_loss".into()),
                side: Some(p.position_side.wire().into()),
                price: Some(p.trigger_price.to_string()),
                candle_time: Some(candle),
                ..OrderLog::default()
            },
        )?;
        let r = self.broker.place_plan(p).await;
        match &r {
            Ok(ack) => {
                self.log_answer(row, Ok(ack.order_id.as_deref()), "armed");
                tracing::info!(
                    "SL ARMED {id} {} {} trigger {} oid={}",
                    p.symbol,
                    p.position_side.wire(),
                    p.trigger_price,
                    p.client_oid
                );
            }
            Err(e) => {
                self.log_answer(row, Err(e), "");
                self.last_error = Some(format!("{id}: stop: {e}"));
                tracing::error!("{id}: the stop {} was refused: {e}", p.client_oid);
                let ev = EventRow {
                    time: now_ms(),
                    asset: Some(self.slots[k].plan.asset.clone()),
                    kind: "order_rejected",
                    detail: serde_json::json!({"client_oid": p.client_oid, "purpose": "stop_loss", "error": e.to_string()}),
                };
                self.commit(&[], &[ev])?;
            }
        }
        Ok(())
    }

    /// The kill switches: this strategy's equity below its window high by `kill_loss_pct`, or
    /// (the global rule, `[risk] global_kill_switch_pct` over `window_hours`) the summed equity
    /// of every live strategy (this one's and the others' state files, read at most once a
    /// second) below its window high by that → flatten this strategy. Every instance applies
    /// the global rule to the same sum, so each flattens its own account.
    async fn check_kill(&mut self) -> anyhow::Result<()> {
        if self.kill.active {
            return Ok(());
        }
        let eq: f64 = self
            .slots
            .iter()
            .map(|s| {
                s.runner
                    .as_ref()
                    .map_or(s.plan.settings.capital, |r| r.equity)
            })
            .sum();
        let minute = now_ms() / 60_000;
        let (pct, hours) = (
            self.cfg.main.executor.kill_loss_pct,
            self.cfg.main.executor.kill_window_hours,
        );
        if pct > 0.0 {
            let high = window_high(&mut self.kill.highs, minute, (hours * 60.0) as i64, eq);
            let dd = drawdown_pct(high, eq);
            if dd >= pct {
                let why = format!(
                    "equity {eq:.2} is {dd:.2} % below its high {high:.2} of the last {hours} h (limit {pct} %)"
                );
                return self.trip_kill(why).await;
            }
        }
        let (gpct, ghours) = (
            self.cfg.main.risk.global_kill_switch_pct,
            self.cfg.main.risk.window_hours,
        );
        if gpct > 0.0 {
            if self
                .others
                .is_none_or(|(t, _)| t.elapsed() >= Duration::from_secs(1))
            {
                let others = others_equity(&self.cfg.state_dir(), &self.strategy);
                self.others = Some((std::time::Instant::now(), others));
            }
            let total = eq + self.others.map_or(0.0, |(_, v)| v);
            let window = (ghours * 60.0) as i64;
            let high = window_high(&mut self.kill.global_highs, minute, window, total);
            self.global = Some((total, high));
            let dd = drawdown_pct(high, total);
            if dd >= gpct {
                let why = format!(
                    "global rule: the summed equity of the live strategies {total:.2} is {dd:.2} % below its high {high:.2} of the last {ghours} h (limit {gpct} %, [risk] global_kill_switch_pct)"
                );
                return self.trip_kill(why).await;
            }
        }
        Ok(())
    }

    /// Flattens on the exchange (cancel orders and plans, close positions), halts new entries.
    pub async fn trip_kill(&mut self, why: String) -> anyhow::Result<()> {
        tracing::error!("KILL SWITCH {}: {why}: flattening", self.strategy);
        self.kill.active = true;
        self.kill.since = Some(now_ms());
        self.kill.reason = Some(why.clone());
        let ev = EventRow {
            time: now_ms(),
            asset: None,
            kind: "kill_switch",
            detail: serde_json::json!({"reason": why}),
        };
        self.commit(&[], &[ev])?;
        for k in 0..self.slots.len() {
            self.flatten(k, "kill_switch").await?;
        }
        Ok(())
    }

    async fn flatten(&mut self, k: usize, purpose: &str) -> anyhow::Result<()> {
        let symbol = self.slots[k].plan.symbol.clone();
        let (strategy, asset) = (self.strategy.clone(), self.slots[k].plan.asset.clone());
        for o in self.broker.open_orders(Some(&symbol)).await? {
            if book::role_of(&strategy, &asset, &o.client_oid).is_some() || purpose != "reconcile" {
                let row = self.log_sent(
                    k,
                    OrderLog {
                        symbol: symbol.clone(),
                        action: "cancel",
                        client_oid: Some(o.client_oid.clone()),
                        purpose: Some(purpose.into()),
                        ..OrderLog::default()
                    },
                )?;
                let r = self.broker.cancel_order(&symbol, &o.client_oid).await;
                self.log_answer(row, r.as_ref().map(|_| None), "cancelled");
            }
        }
        let row = self.log_sent(
            k,
            OrderLog {
                symbol: symbol.clone(),
                action: "close_positions",
                purpose: Some(purpose.into()),
                ..OrderLog::default()
            },
        )?;
        let r = self.broker.close_positions(&symbol).await;
        self.log_answer(row, r.as_ref().map(|_| None), "closed");
        r?;
        for p in self.broker.plan_orders(&symbol).await? {
            let r = self.broker.cancel_plan(&symbol, &p).await;
            if let Err(e) = r {
                tracing::warn!("{symbol}: cancel plan {}: {e}", p.client_oid);
            }
        }
        Ok(())
    }

    /// The start-up (and `scalpctl reconcile`) diff of the local state against the exchange,
    /// and — when `apply` — the configured policy.
    pub async fn reconcile(&mut self, apply: bool) -> anyhow::Result<ReconcileReport> {
        let policy = self.cfg.main.executor.reconcile;
        let mut items = Vec::new();
        // requests whose answer was never recorded
        for (row, symbol, action, oid) in db::unanswered(&self.conn, &self.strategy)? {
            let found = if action == "place" && !oid.is_empty() {
                self.broker
                    .order(&symbol, &oid)
                    .await?
                    .map(|o| format!("{:?}", o.status).to_lowercase())
            } else {
                None
            };
            let what = match &found {
                Some(st) => format!("answer lost; the exchange has it ({st})"),
                None => "answer lost; the exchange does not have it".to_string(),
            };
            items.push(ReconcileItem {
                runner: None,
                kind: "unanswered_request".into(),
                detail: format!("{action} {oid}: {what}"),
            });
            if apply {
                db::order_answered(
                    &self.conn,
                    row,
                    found.is_some(),
                    None,
                    &format!("reconcile: {what}"),
                    now_ms(),
                )?;
            }
        }
        let mut discrepancy = false;
        for k in 0..self.slots.len() {
            let symbol = self.slots[k].plan.symbol.clone();
            let id = self.slots[k].plan.id.clone();
            let asset = self.slots[k].plan.asset.clone();
            let positions = self.broker.positions(Some(&symbol)).await?;
            let held = held_of(&positions, &symbol);
            let open = self.broker.open_orders(Some(&symbol)).await?;
            let plans = self.broker.plan_orders(&symbol).await?;
            // what the engine will know once the fills not booked yet are
            let mut cur = self.slots[k].cursor.clone();
            let ex_fills = self.broker.fills(&symbol, None).await?;
            let st = self.slots[k]
                .runner
                .as_ref()
                .map(|r| r.engine.state().clone());
            if let Some(st) = &st {
                fills::book(&mut cur, &self.strategy, &asset, &ex_fills, st, 0.0);
            }
            let local = cur.net;
            let exch = held.as_ref().map_or(0.0, |h| match h.side {
                PositionSide::Long => h.size.to_f64(),
                PositionSide::Short => -h.size.to_f64(),
            });
            let ok = (local - exch).abs() < 1e-9;
            items.push(ReconcileItem {
                runner: Some(id.clone()),
                kind: if ok {
                    "position_ok"
                } else {
                    "position_mismatch"
                }
                .into(),
                detail: format!("local {local} / exchange {exch} {symbol}"),
            });
            if !ok {
                discrepancy = true;
            }
            let foreign: Vec<&Order> = open
                .iter()
                .filter(|o| book::role_of(&self.strategy, &asset, &o.client_oid).is_none())
                .collect();
            for o in &foreign {
                discrepancy = true;
                items.push(ReconcileItem {
                    runner: Some(id.clone()),
                    kind: "foreign_order".into(),
                    detail: format!(
                        "{} {} {} @ {:?} ({})",
                        o.client_oid,
                        o.side.wire(),
                        o.qty,
                        o.price.map(|p| p.to_string()),
                        o.order_id
                    ),
                });
            }
            let ours = open.len() - foreign.len();
            items.push(ReconcileItem {
                runner: Some(id.clone()),
                kind: "orders".into(),
                detail: format!(
                    "{ours} open order(s) of this runner (kept when wanted, else cancelled)"
                ),
            });
            let live_stop = plans
                .iter()
                .any(|p| p.kind == scalp_broker::PlanKind::StopLoss && !p.state().is_final());
            if held.is_some() && !live_stop {
                // not proof that it fired: what does the history say?
                let hist = self.broker.plan_history(&symbol).await.unwrap_or_default();
                let last = hist
                    .iter()
                    .find(|p| p.kind == scalp_broker::PlanKind::StopLoss);
                items.push(ReconcileItem {
                    runner: Some(id.clone()),
                    kind: "missing_stop".into(),
                    detail: format!(
                        "position {exch} {symbol} without an exchange-side stop (last stop in history: {})",
                        last.map_or("none".to_string(), |p| format!("{} {:?}", p.client_oid, p.state()))
                    ),
                });
            }
            if held.is_some() && self.slots[k].runner.is_none() {
                discrepancy = true;
            }
        }
        let action = if !discrepancy {
            "none".to_string()
        } else {
            policy.as_str().to_string()
        };
        let report = ReconcileReport {
            at: fmt_ms(now_ms()),
            policy: policy.as_str().into(),
            consistent: !discrepancy,
            action: action.clone(),
            items,
        };
        if apply {
            tracing::info!(
                "RECONCILE {}: {} (policy {}, action {}): {}",
                self.strategy,
                if discrepancy {
                    "discrepancies"
                } else {
                    "consistent"
                },
                policy.as_str(),
                action,
                report
                    .items
                    .iter()
                    .map(|i| format!(
                        "[{}{}] {}",
                        i.runner
                            .as_deref()
                            .map(|r| format!("{r} "))
                            .unwrap_or_default(),
                        i.kind,
                        i.detail
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            if discrepancy {
                match policy {
                    ReconcilePolicy::Adopt => {}
                    ReconcilePolicy::Flatten => {
                        for k in 0..self.slots.len() {
                            self.flatten(k, "reconcile").await?;
                        }
                    }
                    ReconcilePolicy::Halt => {
                        self.halted =
                            Some("reconciliation found discrepancies (policy halt)".into());
                    }
                }
            }
            let ev = EventRow {
                time: now_ms(),
                asset: None,
                kind: "reconcile",
                detail: serde_json::to_value(&report)?,
            };
            self.report = report.clone();
            for s in &mut self.slots {
                s.dirty = s.runner.is_some();
            }
            self.commit(&[], &[ev])?;
            // protection first: every position gets its stop now (adopt and halt alike)
            for k in 0..self.slots.len() {
                if self.slots[k].runner.is_some() {
                    self.sync_book(k, self.halted.is_some()).await?;
                } else {
                    self.protect_unknown(k).await?;
                }
            }
        }
        Ok(report)
    }

    /// A position on a symbol whose runner has not started (no candles yet): a protective stop
    /// from its own entry.
    async fn protect_unknown(&mut self, k: usize) -> anyhow::Result<()> {
        let symbol = self.slots[k].plan.symbol.clone();
        let positions = self.broker.positions(Some(&symbol)).await?;
        let Some(h) = held_of(&positions, &symbol) else {
            return Ok(());
        };
        let plans = self.broker.plan_orders(&symbol).await?;
        if plans
            .iter()
            .any(|p| p.kind == scalp_broker::PlanKind::StopLoss && !p.state().is_final())
        {
            return Ok(());
        }
        let lev = self.slots[k].plan.settings.leverage.max(1.0);
        let f = self.cfg.main.executor.protective_frac;
        let e = h.entry.to_f64();
        let raw = match h.side {
            PositionSide::Long => e * (1.0 - f / lev),
            PositionSide::Short => e * (1.0 + f / lev),
        };
        let trigger = self.slots[k].spec.round_price(
            &dec(raw),
            scalp_broker::PriceRounding::for_stop_loss(h.side),
        )?;
        let p = PlanRequest {
            symbol: symbol.clone(),
            client_oid: self.rearm_oid(k, OrderRole::StopLoss, 0),
            kind: scalp_broker::PlanKind::StopLoss,
            position_side: h.side,
            trigger_price: trigger,
        };
        self.place_stop(k, &p, 0).await
    }

    /// Applies new control requests (`reset_kill_switch`, `stop`, `start`).
    pub async fn apply_controls(&mut self) -> anyhow::Result<bool> {
        let mut changed = false;
        let mut events = Vec::new();
        for file in control_files(&self.strategy) {
            let path = self.control_dir.join(&file);
            let env = match scalp_statefile::try_read::<ControlRequest>(&path, CONTROL_VERSION) {
                scalp_statefile::ReadOutcome::Ok(e) => e,
                scalp_statefile::ReadOutcome::Missing => continue,
                scalp_statefile::ReadOutcome::Invalid(why) => {
                    let id = format!("invalid:{}", runner::fnv(why.as_bytes()));
                    if self.acks.get(&file).is_none_or(|a| a.request_id != id) {
                        tracing::warn!("control request {} is unusable: {why}", path.display());
                        self.acks.insert(
                            file.clone(),
                            ControlAck {
                                file: file.clone(),
                                request_id: id,
                                applied_at: fmt_ms(now_ms()),
                                result: format!("refused: {why}"),
                            },
                        );
                        changed = true;
                    }
                    continue;
                }
            };
            let req = env.payload;
            if self
                .acks
                .get(&file)
                .is_some_and(|a| a.request_id == req.request_id)
            {
                continue;
            }
            let mut results = Vec::new();
            for a in &req.actions {
                let r = match a {
                    CtlAction::ResetKillSwitch { strategy }
                        if strategy.as_deref().is_none_or(|s| s == self.strategy) =>
                    {
                        // a halt of the reconciliation policy is lifted the same way
                        let lifted = self
                            .halted
                            .take_if(|h| h.starts_with("reconciliation"))
                            .is_some();
                        if lifted {
                            tracing::info!("{}: reconciliation halt lifted by {file}", self.strategy);
                        }
                        if self.kill.active {
                            self.kill = Kill::default();
                            tracing::info!("KILL SWITCH {} reset by {file}", self.strategy);
                            events.push(EventRow {
                                time: now_ms(),
                                asset: None,
                                kind: "kill_switch_reset",
                                detail: serde_json::json!({"file": file}),
                            });
                            "ok".to_string()
                        } else if lifted {
                            "ok (reconciliation halt lifted; the kill switch was not active)"
                                .to_string()
                        } else {
                            "ok (the kill switch was not active)".to_string()
                        }
                    }
                    CtlAction::Stop { strategy } if *strategy == self.strategy => {
                        self.halted = Some(format!("stopped by {file}"));
                        "ok".into()
                    }
                    CtlAction::Start { strategy } if *strategy == self.strategy => {
                        self.halted = None;
                        "ok".into()
                    }
                    CtlAction::ResetExecutor { .. } => {
                        "refused: an executor reset is applied only at start (scalpctl reset executor with the unit stopped)".into()
                    }
                    other => format!(
                        "refused: {other:?} is not an executor action for {}",
                        self.strategy
                    ),
                };
                results.push(r);
            }
            let result = results.join("; ");
            tracing::info!(
                "CONTROL {file} request {}: {:?} → {result}",
                req.request_id,
                req.actions
            );
            self.acks.insert(
                file.clone(),
                ControlAck {
                    file: file.clone(),
                    request_id: req.request_id.clone(),
                    applied_at: fmt_ms(now_ms()),
                    result,
                },
            );
            changed = true;
        }
        if changed {
            self.commit(&[], &events)?;
        }
        Ok(changed)
    }

    /// The readable summary (`state/executor-<strategy>.json`).
    pub fn summary(&self, healthy: bool, ws_live: bool) -> ExecutorState {
        ExecutorState {
            strategy: self.strategy.clone(),
            account_mode: format!("{:?}", self.broker.account_mode()).to_lowercase(),
            credentials: self.credential_source.clone(),
            started_at: self.started_at.clone(),
            updated_at: fmt_ms(now_ms()),
            healthy,
            ws_live,
            halted: self.halted.clone(),
            kill_switch: KillView {
                active: self.kill.active,
                since: self.kill.since.map(fmt_ms),
                reason: self.kill.reason.clone(),
                global_equity: self.global.map(|g| g.0),
                global_high: self.global.map(|g| g.1),
            },
            reconcile: self.report.clone(),
            runners: self
                .slots
                .iter()
                .map(|s| {
                    let r = s.runner.as_ref();
                    let st = r.map(|r| r.engine.state());
                    RunnerView {
                        id: s.plan.id.clone(),
                        symbol: s.plan.symbol.clone(),
                        timeframe: s.plan.timeframe.as_str().into(),
                        last_open_time: r.and_then(|r| r.last_open_time()),
                        equity: r.map_or(s.plan.settings.capital, |r| r.equity),
                        position: st.and_then(|st| st.pos).map(|p| PositionView {
                            side: match p.side {
                                Side::Long => "long".into(),
                                Side::Short => "short".into(),
                            },
                            qty: p.qty,
                            avg: p.avg,
                        }),
                        exchange_position: s.held.as_ref().map(|h| PositionView {
                            side: h.side.wire().into(),
                            qty: h.size.to_f64(),
                            avg: h.entry.to_f64(),
                        }),
                        stop: st.and_then(|st| st.stop),
                        take_profit: st.and_then(|st| st.tp),
                        levels: st.map_or(0, |st| st.levels.len()),
                        trades: r.map_or(0, |r| r.engine.state().trades),
                    }
                })
                .collect(),
            counters: self.counters.clone(),
            last_error: self.last_error.clone(),
            control_acks: self.acks.values().cloned().collect(),
        }
    }

    pub fn broker(&self) -> &B {
        &self.broker
    }
}

/// The `entry` event of an exchange fill that opened or added to a position (an exit is
/// reported with its closed trade), booked at the candle `candle`.
fn fill_event(f: &scalp_backtest::LiveFill, candle: i64, asset: &str) -> Option<EventRow> {
    match f {
        scalp_backtest::LiveFill::Entry {
            side,
            price,
            qty,
            fee,
            level,
            ..
        } => Some(EventRow {
            time: candle,
            asset: Some(asset.to_string()),
            kind: "entry",
            detail: serde_json::json!({
                "side": scalp_paper::db::side_str(*side), "price": price, "qty": qty,
                "fee": fee, "level": level,
            }),
        }),
        scalp_backtest::LiveFill::Exit { .. } => None,
    }
}

fn log_fill(plan: &RunnerPlan, f: &scalp_backtest::LiveFill) {
    match f {
        scalp_backtest::LiveFill::Entry {
            side,
            price,
            qty,
            fee,
            level,
            ..
        } => {
            tracing::info!(
                "LIVE FILL {} entry {side:?} {qty} @ {price} fee {fee:.6}{}",
                plan.id,
                level.map_or(String::new(), |l| format!(" (level {l})"))
            );
            if level.is_some() {
                tracing::info!(
                    "GRID ENTRY {} level {} {side:?} {qty} @ {price}",
                    plan.id,
                    level.unwrap_or(0)
                );
            }
        }
        scalp_backtest::LiveFill::Exit {
            price, fee, reason, ..
        } => {
            tracing::info!(
                "LIVE FILL {} exit {reason:?} @ {price} fee {fee:.6}",
                plan.id
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_equity_sums_the_other_executors_runners_and_skips_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let file = |name: &str, body: &str| std::fs::write(d.path().join(name), body).unwrap();
        file(
            "executor-a.json",
            r#"{"version":1,"seq":3,"strategy":"a","runners":[{"equity":600.5},{"equity":399.5}]}"#,
        );
        file(
            "executor-b.json",
            r#"{"version":1,"seq":1,"strategy":"b","runners":[{"equity":250.0}]}"#,
        );
        // its own file, a reset's copy, another version, a torn file, a file named for another
        // strategy, another daemon's file: not counted
        let big = |s: &str, v: u32| {
            format!(r#"{{"version":{v},"strategy":"{s}","runners":[{{"equity":1e9}}]}}"#)
        };
        file("executor-me.json", &big("me", 1));
        file("executor-a.reset-1700000000000.json", &big("a", 1));
        file("executor-old.json", &big("old", 0));
        file(
            "executor-torn.json",
            r#"{"version":1,"strategy":"torn","runners":[{"equ"#,
        );
        file("executor-c.json", &big("d", 1));
        file("simulator.json", &big("simulator", 1));
        assert_eq!(others_equity(d.path(), "me"), 1250.0);
        assert_eq!(others_equity(&d.path().join("missing"), "me"), 0.0);
    }
}
