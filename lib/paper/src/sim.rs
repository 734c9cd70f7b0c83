//! The simulator proper (portable, synchronous): every runner of the config, restored from its
//! snapshot before the first new candle, stepped over the closed candles the collector stored,
//! each batch committed with its snapshots; the global kill switch; control requests; the
//! readable summary `state/simulator.json`. The daemon (`daemon.rs`) only adds the wake-ups,
//! systemd and signals.

use crate::control::{Action, CONTROL_FILES, CONTROL_VERSION, ControlRequest};
use crate::db::{self, Batch, EventRow, SnapshotRow, TradeRow};
use crate::runner::{self, Runner, RunnerPlan, RunnerStats};
use crate::state::{
    ControlAck, GlobalKillSwitch, KillState, LevelState, PositionState, RankEntry, RunnerState,
    SimulatorState,
};
use rusqlite::Connection;
use scalp_backtest::{EngineEvent, EngineState, FundingPoint, OiPoint};
use scalp_core::config::{Config, StartMode};
use scalp_core::types::{fmt_ms, now_ms};
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::SeriesKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;

/// Candles loaded and committed per batch while catching up.
pub const CHUNK: usize = 5000;

/// What goes into `sim_runners.engine_state`: the engine's state and the runner's own counters
/// that are not derivable from `sim_trades`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snap {
    engine: EngineState,
    equity: f64,
    peak: f64,
    max_drawdown_pct: f64,
}

/// The global kill switch and the summed-equity highs of its window (persisted in `sim_meta`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Global {
    active: bool,
    since: Option<i64>,
    reason: Option<String>,
    /// Monotonic deque of (minute, highest summed equity), oldest first.
    highs: VecDeque<(i64, f64)>,
    last_t: i64,
}

struct Slot {
    plan: RunnerPlan,
    epoch: i64,
    runner: Option<Runner>,
    /// Stepped since the last commit (its snapshot is due).
    dirty: bool,
    /// Equity counted in the global sum.
    equity: f64,
}

/// Counters of the last poll (for the daemon's logs and the bench).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PollStats {
    pub runner_candles: u64,
    pub commits: u64,
    pub trades: u64,
    pub events: u64,
    /// Time spent reading candles / funding / open interest, stepping the runners (events
    /// included), and committing (snapshots encoded, rows inserted).
    pub read_ns: u64,
    pub step_ns: u64,
    pub commit_ns: u64,
}

pub struct Simulator {
    cfg: Config,
    conn: Connection,
    slots: Vec<Slot>,
    global: Global,
    acks: BTreeMap<String, ControlAck>,
    /// Strategies stopped by a control request (persisted in `sim_meta` `halted`).
    halted: BTreeSet<String>,
    control_dir: PathBuf,
    started_at: String,
    pub db_error: Option<String>,
    /// Σ over the life of the process.
    pub totals: PollStats,
    /// Emit log lines (`PAPER ENTRY`, …); off for benches.
    pub log_trades: bool,
    /// Called after every commit (the daemon beats its watchdog: a long catch-up is progress).
    pub on_commit: Option<Box<dyn FnMut() + Send>>,
}

impl Simulator {
    /// Opens the database (migrations applied), plans the runners and restores each one from
    /// its snapshot (or rebuilds it by replay), then applies pending control requests. No new
    /// candle is processed before this returns.
    pub fn open(cfg: Config) -> anyhow::Result<Simulator> {
        let db_path = cfg.db_path();
        let conn = scalp_store::open(&db_path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", db_path.display()))?;
        // A checkpoint must never delay a paper step: this connection does not checkpoint
        // (the collector's commits and `scalpctl checkpoint` do; docs/SIMULATOR.md).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| anyhow::anyhow!("{}: wal_autocheckpoint: {e}", db_path.display()))?;
        let plans = runner::plan(&cfg)?;
        let control_dir = cfg.control_dir();
        let mut sim = Simulator {
            cfg,
            conn,
            slots: Vec::new(),
            global: Global::default(),
            acks: BTreeMap::new(),
            halted: BTreeSet::new(),
            control_dir,
            started_at: fmt_ms(now_ms()),
            db_error: None,
            totals: PollStats::default(),
            log_trades: true,
            on_commit: None,
        };
        sim.load_meta();
        for plan in plans {
            let slot = sim.restore(plan)?;
            sim.slots.push(slot);
        }
        for s in &mut sim.slots {
            if let Some(r) = s.runner.as_mut() {
                r.global_block = sim.global.active;
                r.halted = sim.halted.contains(&s.plan.strategy);
            }
        }
        tracing::info!(
            "SIMULATOR RESTORED runners={} active={} global_kill_switch={}",
            sim.slots.len(),
            sim.slots.iter().filter(|s| s.runner.is_some()).count(),
            sim.global.active
        );
        // The restored (or rebuilt) snapshots are written back at once: a rebuilt one replaces
        // the unusable row before anything else happens.
        let mut st = PollStats::default();
        sim.commit(Vec::new(), Vec::new(), &mut st)?;
        sim.apply_controls()?;
        Ok(sim)
    }

    fn load_meta(&mut self) {
        match db::load_meta(&self.conn, "global_kill") {
            Ok(Some(v)) => match serde_json::from_str(&v) {
                Ok(g) => self.global = g,
                Err(e) => tracing::warn!(
                    "sim_meta global_kill is unreadable ({e}): starting with the global kill switch off"
                ),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!("sim_meta: {e}"),
        }
        if let Ok(Some(v)) = db::load_meta(&self.conn, "halted") {
            match serde_json::from_str(&v) {
                Ok(h) => self.halted = h,
                Err(e) => tracing::warn!("sim_meta halted is unreadable ({e})"),
            }
        }
        if let Ok(Some(v)) = db::load_meta(&self.conn, "control_acks") {
            match serde_json::from_str(&v) {
                Ok(a) => self.acks = a,
                Err(e) => tracing::warn!("sim_meta control_acks is unreadable ({e})"),
            }
        }
    }

    fn key<'a>(p: &'a RunnerPlan) -> SeriesKey<'a> {
        SeriesKey {
            exchange: p.exchange,
            symbol: &p.symbol,
            timeframe: p.timeframe,
        }
    }

    /// A runner from its row: resumed from the snapshot, else rebuilt by a deterministic
    /// replay of the stored candles; a new epoch when its parameters changed.
    fn restore(&mut self, mut plan: RunnerPlan) -> anyhow::Result<Slot> {
        let row = match db::load_runner(&self.conn, &plan.id) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "{}: its sim_runners row is unreadable ({e}): starting it afresh",
                    plan.id
                );
                None
            }
        };
        let capital = plan.settings.capital;
        let Some(row) = row else {
            return Ok(Slot {
                plan,
                epoch: 0,
                runner: None,
                dirty: false,
                equity: capital,
            });
        };
        if row.params_hash != plan.hash {
            tracing::info!(
                "{}: parameters or settings changed since epoch {}: a new epoch starts",
                plan.id,
                row.epoch
            );
            return Ok(Slot {
                plan,
                epoch: row.epoch + 1,
                runner: None,
                dirty: false,
                equity: capital,
            });
        }
        // The epoch keeps the capital it started with.
        plan.settings.capital = row.capital;
        let Some(last) = row.last_open_time else {
            return Ok(Slot {
                plan,
                epoch: row.epoch,
                runner: None,
                dirty: false,
                equity: row.capital,
            });
        };
        let (trades, wins, losses, net, gp, gl) =
            db::trade_stats(&self.conn, &row.runner_id, row.epoch)?;
        let stats = RunnerStats {
            trades,
            wins,
            losses,
            net_pnl: net,
            gross_profit: gp,
            gross_loss: gl,
            ..RunnerStats::default()
        };
        let snap = match (&row.engine_state, &row.strategy_state) {
            _ if row.snapshot_version != db::SNAPSHOT_VERSION => Err(format!(
                "snapshot version {} (this binary writes {})",
                row.snapshot_version,
                db::SNAPSHOT_VERSION
            )),
            (Some(e), Some(s)) => ciborium::from_reader::<Snap, _>(e.as_slice())
                .map_err(|e| format!("engine state: {e}"))
                .map(|snap| (snap, s.clone())),
            _ => Err("no snapshot".to_string()),
        };
        let resumed = snap.and_then(|(snap, strat)| {
            if snap.engine.last_open_time != Some(last) {
                return Err("the snapshot is not of its row's last candle".into());
            }
            let mut r = Runner::resume(
                plan.clone(),
                row.epoch,
                row.warmup_from,
                row.origin_open_time,
                snap.engine.clone(),
                &strat,
            )
            .map_err(|e| format!("{e:#}"))?;
            let from = r.refill_from(last);
            let candles = scalp_store::candles::load(&self.conn, &Self::key(&plan), from, last + 1)
                .map_err(|e| e.to_string())?;
            r.refill(&candles);
            r.set_stats(RunnerStats {
                peak: snap.peak,
                max_drawdown_pct: snap.max_drawdown_pct,
                ..stats
            });
            r.equity = snap.equity;
            Ok(r)
        });
        let runner = match resumed {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(
                    "{}: cannot resume from its snapshot ({why}): rebuilding it by replaying its stored candles",
                    plan.id
                );
                self.replay(&plan, &row, stats)?
            }
        };
        let equity = runner.equity;
        Ok(Slot {
            plan,
            epoch: row.epoch,
            runner: Some(runner),
            dirty: true,
            equity,
        })
    }

    /// Full deterministic replay of an epoch from `warmup_from` to its last processed candle
    /// (nothing is written: its trades and events are in the database already).
    fn replay(
        &mut self,
        plan: &RunnerPlan,
        row: &db::RunnerRow,
        stats: RunnerStats,
    ) -> anyhow::Result<Runner> {
        let last = row.last_open_time.unwrap_or(row.warmup_from);
        let mut r = Runner::new(
            plan.clone(),
            row.epoch,
            row.warmup_from,
            row.origin_open_time,
        )?;
        r.log_events(false);
        let tf = plan.timeframe.ms();
        let mut from = row.warmup_from;
        let mut steps = 0i64;
        while from <= last {
            let to = (from + CHUNK as i64 * tf).min(last + 1);
            let candles = scalp_store::candles::load(&self.conn, &Self::key(plan), from, to)?;
            let (funding, oi) = self.market(plan, from, to)?;
            for c in &candles {
                if r.step(c, &funding, &oi, false)?.is_some() {
                    steps += 1;
                }
            }
            r.take_closed();
            from = to;
        }
        if steps != row.steps {
            tracing::warn!(
                "{}: the replay took {steps} steps, its row says {}: candles changed since (gap repair or correction)",
                plan.id,
                row.steps
            );
        }
        let mut s = r.stats;
        s.trades = stats.trades;
        s.wins = stats.wins;
        s.losses = stats.losses;
        s.net_pnl = stats.net_pnl;
        r.set_stats(s);
        r.log_events(true);
        Ok(r)
    }

    /// Funding and open interest of the plan's asset around `[from, to)`.
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

    /// Starts a waiting slot's epoch once its series has candles (`[simulator].start`).
    fn start_epoch(&mut self, k: usize, force_now: bool) -> anyhow::Result<Option<EventRow>> {
        let plan = &self.slots[k].plan;
        let key = Self::key(plan);
        let Some(first) = scalp_store::candles::first_open_time(&self.conn, &key)? else {
            return Ok(None);
        };
        let last = scalp_store::candles::last_open_time(&self.conn, &key)?.unwrap_or(first);
        let tf = plan.timeframe.ms();
        let mode = if force_now {
            StartMode::Now
        } else {
            self.cfg.main.simulator.start
        };
        let (warmup_from, origin) = match mode {
            StartMode::FirstCandle => (first, first),
            StartMode::Now => {
                let probe = plan.build_strategy();
                let keep = plan.history(probe.as_ref()) as i64;
                let hk = plan.higher_history(probe.as_ref()) as i64;
                let mut span = keep * tf;
                for h in probe.timeframes().iter().skip(1) {
                    span = span.max((hk + 1) * h.ms());
                }
                ((last + tf - span).max(first), last + tf)
            }
        };
        let epoch = self.slots[k].epoch;
        let plan = self.slots[k].plan.clone();
        let mut r = Runner::new(plan.clone(), epoch, warmup_from, origin)?;
        r.global_block = self.global.active;
        r.halted = self.halted.contains(&plan.strategy);
        tracing::info!(
            "PAPER RUNNER {} epoch {epoch}: {} {} {} capital {:.2} leverage {}, warm-up from {}, trading from {}",
            plan.id,
            plan.exchange,
            plan.symbol,
            plan.timeframe,
            plan.settings.capital,
            plan.settings.leverage,
            fmt_ms(warmup_from),
            fmt_ms(origin)
        );
        let ev = EventRow {
            time: origin,
            runner_id: Some(plan.id.clone()),
            strategy: Some(plan.strategy.clone()),
            asset: Some(plan.asset.clone()),
            kind: "runner_started",
            detail: serde_json::json!({
                "epoch": epoch, "capital": plan.settings.capital, "timeframe": plan.timeframe.as_str(),
                "params": plan.params_json(), "warmup_from": warmup_from, "origin": origin,
            }),
        };
        let slot = &mut self.slots[k];
        slot.equity = r.equity;
        slot.runner = Some(r);
        slot.dirty = true;
        Ok(Some(ev))
    }

    /// One pass: control requests, then every stream caught up to its newest stored candle, in
    /// batches of [`CHUNK`] candles, each committed with the snapshots of the runners it moved.
    pub fn poll(&mut self) -> anyhow::Result<PollStats> {
        let mut st = PollStats::default();
        if self.apply_controls()? {
            // the acknowledgement must reach state/simulator.json now, not at the next candle
            st.commits += 1;
        }
        let mut started = Vec::new();
        for k in 0..self.slots.len() {
            if self.slots[k].runner.is_none()
                && let Some(ev) = self.start_epoch(k, false)?
            {
                started.push(ev);
            }
        }
        if !started.is_empty() {
            self.commit(started, Vec::new(), &mut st)?;
        }
        // Streams: slots grouped by series.
        let mut groups: BTreeMap<(Exchange, String, Timeframe), Vec<usize>> = BTreeMap::new();
        for (k, s) in self.slots.iter().enumerate() {
            if s.runner.is_some() {
                groups
                    .entry((s.plan.exchange, s.plan.symbol.clone(), s.plan.timeframe))
                    .or_default()
                    .push(k);
            }
        }
        for ((_, _, tf), ks) in groups {
            // Raised over a stretch with no stored candle longer than a chunk.
            let mut floor = i64::MIN;
            loop {
                let cursor = ks
                    .iter()
                    .map(|&k| {
                        let r = self.slots[k].runner.as_ref().expect("grouped active");
                        r.last_open_time().map_or(r.warmup_from, |t| t + 1)
                    })
                    .min()
                    .expect("non-empty group")
                    .max(floor);
                let plan = self.slots[ks[0]].plan.clone();
                let to = cursor.saturating_add(CHUNK as i64 * tf.ms());
                let t_read = std::time::Instant::now();
                let candles =
                    scalp_store::candles::load(&self.conn, &Self::key(&plan), cursor, to)?;
                if candles.is_empty() {
                    // Nothing stored in this span: skip over a hole, or stop at the newest.
                    match scalp_store::candles::last_open_time(&self.conn, &Self::key(&plan))? {
                        Some(l) if l >= to => {
                            floor = to;
                            continue;
                        }
                        _ => break,
                    }
                }
                let (funding, oi) = self.market(&plan, cursor, to)?;
                let t_step = std::time::Instant::now();
                st.read_ns += (t_step - t_read).as_nanos() as u64;
                let (events, logs) = self.step_group(&ks, &candles, &funding, &oi, &mut st)?;
                let t_commit = std::time::Instant::now();
                st.step_ns += (t_commit - t_step).as_nanos() as u64;
                self.commit(events, logs, &mut st)?;
                st.commit_ns += t_commit.elapsed().as_nanos() as u64;
                if candles.len() < CHUNK {
                    break;
                }
            }
        }
        self.totals.runner_candles += st.runner_candles;
        self.totals.commits += st.commits;
        self.totals.trades += st.trades;
        self.totals.events += st.events;
        Ok(st)
    }

    #[allow(clippy::type_complexity)]
    fn step_group(
        &mut self,
        ks: &[usize],
        candles: &[Candle],
        funding: &[FundingPoint],
        oi: &[OiPoint],
        st: &mut PollStats,
    ) -> anyhow::Result<(Vec<EventRow>, Vec<String>)> {
        let mut events = Vec::new();
        let mut logs = Vec::new();
        let threshold = self.cfg.main.risk.global_kill_switch_pct;
        let window_ms = (self.cfg.main.risk.window_hours * 3_600_000.0) as i64;
        let mut total: f64 = self.slots.iter().map(|s| s.equity).sum();
        for c in candles {
            for &k in ks {
                let slot = &mut self.slots[k];
                let r = slot.runner.as_mut().expect("grouped active");
                let live = c.open_time >= r.origin;
                let Some(out) = r.step(c, funding, oi, live && self.log_trades)? else {
                    continue;
                };
                st.runner_candles += 1;
                slot.dirty = true;
                total += out.equity - slot.equity;
                slot.equity = out.equity;
                if live {
                    describe(&slot.plan, r, &out, &mut events, &mut logs, self.log_trades);
                }
                if !live {
                    continue;
                }
                // Global kill switch over the summed equity.
                let g = &mut self.global;
                let minute = out.close_time.max(g.last_t).div_euclid(60_000) * 60_000;
                g.last_t = minute;
                let high = crate::window::window_high(&mut g.highs, minute, window_ms, total);
                let dd = crate::window::drawdown_pct(high, total);
                if threshold > 0.0 && !g.active && dd >= threshold {
                    g.active = true;
                    g.since = Some(out.close_time);
                    let reason = format!(
                        "summed paper equity {total:.2} is {dd:.2}% below its {}h high {high:.2} (>= {threshold}%)",
                        self.cfg.main.risk.window_hours
                    );
                    g.reason = Some(reason.clone());
                    logs.push(format!(
                        "KILL SWITCH global: {reason}: new entries stopped on every runner"
                    ));
                    events.push(EventRow {
                        time: out.close_time,
                        runner_id: None,
                        strategy: None,
                        asset: None,
                        kind: "global_kill_switch",
                        detail: serde_json::json!({ "reason": reason, "equity": total, "high": high, "drawdown_pct": dd }),
                    });
                    for s in &mut self.slots {
                        if let Some(r) = s.runner.as_mut() {
                            r.global_block = true;
                        }
                    }
                }
            }
        }
        Ok((events, logs))
    }

    /// Commits the events and the snapshots of every runner moved since the last commit, then
    /// writes the log lines (after the commit: a logged trade is a stored trade).
    fn commit(
        &mut self,
        events: Vec<EventRow>,
        logs: Vec<String>,
        st: &mut PollStats,
    ) -> anyhow::Result<()> {
        let mut trades_owned: Vec<(usize, u64, scalp_backtest::Trade)> = Vec::new();
        for (k, s) in self.slots.iter_mut().enumerate() {
            if let Some(r) = s.runner.as_mut() {
                for (seq, t) in r.take_closed() {
                    trades_owned.push((k, seq, t));
                }
            }
        }
        let mut b = Batch::default();
        for (k, seq, t) in &trades_owned {
            let s = &self.slots[*k];
            b.trades.push(TradeRow {
                runner_id: &s.plan.id,
                epoch: s.epoch,
                seq: *seq,
                strategy: &s.plan.strategy,
                asset: &s.plan.asset,
                trade: t,
            });
        }
        for s in self.slots.iter().filter(|s| s.dirty) {
            let Some(r) = s.runner.as_ref() else { continue };
            let snap = Snap {
                engine: r.engine.state().clone(),
                equity: r.equity,
                peak: r.stats.peak,
                max_drawdown_pct: r.stats.max_drawdown_pct,
            };
            let mut eb = Vec::with_capacity(512);
            ciborium::into_writer(&snap, &mut eb).expect("in-memory CBOR");
            let strategy_state = r
                .strategy_state()
                .map_err(|e| anyhow::anyhow!("{}: strategy state: {e}", s.plan.id))?;
            b.snapshots.push(SnapshotRow {
                runner_id: &s.plan.id,
                strategy: &s.plan.strategy,
                asset: &s.plan.asset,
                exchange: s.plan.exchange.as_str(),
                timeframe: s.plan.timeframe.as_str(),
                epoch: s.epoch,
                params: s.plan.params_json().to_string(),
                params_hash: &s.plan.hash,
                capital: s.plan.settings.capital,
                warmup_from: r.warmup_from,
                origin_open_time: r.origin,
                last_open_time: r.last_open_time(),
                steps: r.engine.state().step as i64,
                engine_state: eb,
                strategy_state,
            });
        }
        b.meta
            .push(("global_kill", serde_json::to_string(&self.global)?));
        b.meta
            .push(("control_acks", serde_json::to_string(&self.acks)?));
        b.meta
            .push(("halted", serde_json::to_string(&self.halted)?));
        b.events = events;
        let n_trades = b.trades.len() as u64;
        let n_events = b.events.len() as u64;
        match db::commit(&mut self.conn, &b, now_ms()) {
            Ok(_) => {
                self.db_error = None;
            }
            Err(e) => {
                let msg = format!("commit of {} trades / {} events: {e}", n_trades, n_events);
                self.db_error = Some(msg.clone());
                anyhow::bail!(msg);
            }
        }
        drop(b);
        for s in &mut self.slots {
            s.dirty = false;
        }
        st.commits += 1;
        if let Some(f) = self.on_commit.as_mut() {
            f();
        }
        st.trades += n_trades;
        st.events += n_events;
        for l in logs {
            tracing::info!("{l}");
        }
        for (k, seq, t) in &trades_owned {
            if self.log_trades {
                let p = &self.slots[*k].plan;
                tracing::info!(
                    "PAPER EXIT {} #{seq} {} {} qty {:.6} entry {:.6} exit {:.6} net {:+.4} fees {:.4} funding {:+.4} reason {}",
                    p.id,
                    db::side_str(t.side),
                    fmt_ms(t.exit_time),
                    t.qty,
                    t.entry_price,
                    t.exit_price,
                    t.net_pnl,
                    t.fees,
                    t.funding,
                    db::enum_str(&t.exit_reason)
                );
            }
        }
        Ok(())
    }

    /// Applies the control requests not applied yet (one file per requester). True when one
    /// was applied (or refused): the acknowledgement is committed and due in the state file.
    pub fn apply_controls(&mut self) -> anyhow::Result<bool> {
        let mut changed = false;
        let mut events = Vec::new();
        for file in CONTROL_FILES {
            let path = self.control_dir.join(file);
            let env = match scalp_statefile::try_read::<ControlRequest>(&path, CONTROL_VERSION) {
                scalp_statefile::ReadOutcome::Ok(e) => e,
                scalp_statefile::ReadOutcome::Missing => continue,
                scalp_statefile::ReadOutcome::Invalid(why) => {
                    let id = format!("invalid:{}", runner::fnv(why.as_bytes()));
                    if self.acks.get(*file).is_none_or(|a| a.request_id != id) {
                        tracing::warn!("control request {} is unusable: {why}", path.display());
                        self.acks.insert(
                            file.to_string(),
                            ControlAck {
                                file: file.to_string(),
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
                .get(*file)
                .is_some_and(|a| a.request_id == req.request_id)
            {
                continue;
            }
            let mut results = Vec::new();
            for a in &req.actions {
                results.push(self.apply_action(a, &mut events)?);
            }
            let result = if results.iter().all(|r| r == "ok") {
                "ok".to_string()
            } else {
                results.join("; ")
            };
            tracing::info!(
                "CONTROL {file} request {}: {:?} → {result}",
                req.request_id,
                req.actions
            );
            self.acks.insert(
                file.to_string(),
                ControlAck {
                    file: file.to_string(),
                    request_id: req.request_id.clone(),
                    applied_at: fmt_ms(now_ms()),
                    result,
                },
            );
            changed = true;
        }
        if changed {
            let mut st = PollStats::default();
            self.commit(events, Vec::new(), &mut st)?;
        }
        Ok(changed)
    }

    fn concerned(&self, strategy: &Option<String>) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&k| {
                strategy
                    .as_ref()
                    .is_none_or(|s| *s == self.slots[k].plan.strategy)
            })
            .collect()
    }

    fn apply_action(&mut self, a: &Action, events: &mut Vec<EventRow>) -> anyhow::Result<String> {
        match a {
            Action::ResetExecutor { .. } => Ok(
                "refused: reset_executor is an executor request (control/executor-<strategy>-scalpctl.json)"
                    .into(),
            ),
            Action::Reset { strategy, force } => {
                if let Some(s) = strategy
                    && !self.slots.iter().any(|x| &x.plan.strategy == s)
                {
                    return Ok(format!("refused: no paper runner of strategy `{s}`"));
                }
                let ks = self.concerned(strategy);
                let open: Vec<String> = ks
                    .iter()
                    .filter_map(|&k| {
                        let r = self.slots[k].runner.as_ref()?;
                        let p = r.engine.state().pos?;
                        Some(format!(
                            "{} ({} {:.6})",
                            r.plan.id,
                            db::side_str(p.side),
                            p.qty
                        ))
                    })
                    .collect();
                if !open.is_empty() && !force {
                    return Ok(format!(
                        "refused: positions open on {} (use --force)",
                        open.join(", ")
                    ));
                }
                for &k in &ks {
                    let slot = &mut self.slots[k];
                    if slot.runner.is_some() {
                        slot.epoch += 1;
                    }
                    slot.runner = None;
                    slot.equity = slot.plan.settings.capital;
                    events.push(EventRow {
                        time: now_ms(),
                        runner_id: Some(slot.plan.id.clone()),
                        strategy: Some(slot.plan.strategy.clone()),
                        asset: Some(slot.plan.asset.clone()),
                        kind: "reset",
                        detail: serde_json::json!({ "epoch": slot.epoch, "forced": force, "dropped_positions": open }),
                    });
                    if let Some(ev) = self.start_epoch(k, true)? {
                        events.push(ev);
                    }
                }
                Ok("ok".into())
            }
            Action::ResetKillSwitch { strategy: None } => {
                let total: f64 = self.slots.iter().map(|s| s.equity).sum();
                let was = self.global.active;
                self.global = Global {
                    highs: VecDeque::from([(self.global.last_t, total)]),
                    last_t: self.global.last_t,
                    ..Global::default()
                };
                for s in &mut self.slots {
                    if let Some(r) = s.runner.as_mut() {
                        r.global_block = false;
                    }
                }
                events.push(EventRow {
                    time: now_ms(),
                    runner_id: None,
                    strategy: None,
                    asset: None,
                    kind: "kill_switch_reset",
                    detail: serde_json::json!({ "scope": "global", "was_active": was }),
                });
                tracing::info!("KILL SWITCH global reset (was active: {was})");
                Ok("ok".into())
            }
            Action::ResetKillSwitch {
                strategy: Some(name),
            } => {
                let ks = self.concerned(&Some(name.clone()));
                if ks.is_empty() {
                    return Ok(format!("refused: no paper runner of strategy `{name}`"));
                }
                for k in ks {
                    let slot = &mut self.slots[k];
                    if let Some(r) = slot.runner.as_mut()
                        && r.engine.state().killed.is_some()
                    {
                        let eq = r.equity;
                        r.engine.reset_kill_switch(eq);
                        slot.dirty = true;
                        tracing::info!("KILL SWITCH {} reset", slot.plan.id);
                        events.push(EventRow {
                            time: now_ms(),
                            runner_id: Some(slot.plan.id.clone()),
                            strategy: Some(slot.plan.strategy.clone()),
                            asset: Some(slot.plan.asset.clone()),
                            kind: "kill_switch_reset",
                            detail: serde_json::json!({ "scope": "runner" }),
                        });
                    }
                }
                Ok("ok".into())
            }
            Action::Stop { strategy } | Action::Start { strategy } => {
                let stop = matches!(a, Action::Stop { .. });
                let ks = self.concerned(&Some(strategy.clone()));
                if ks.is_empty() {
                    return Ok(format!("refused: no paper runner of strategy `{strategy}`"));
                }
                let changed = if stop {
                    self.halted.insert(strategy.clone())
                } else {
                    self.halted.remove(strategy)
                };
                for k in ks {
                    let slot = &mut self.slots[k];
                    if let Some(r) = slot.runner.as_mut() {
                        r.halted = stop;
                    }
                    if changed {
                        events.push(EventRow {
                            time: now_ms(),
                            runner_id: Some(slot.plan.id.clone()),
                            strategy: Some(slot.plan.strategy.clone()),
                            asset: Some(slot.plan.asset.clone()),
                            kind: if stop {
                                "strategy_stopped"
                            } else {
                                "strategy_started"
                            },
                            detail: serde_json::json!({ "by": "control" }),
                        });
                    }
                }
                tracing::info!(
                    "STRATEGY {strategy} {} (paper entries {})",
                    if stop { "STOPPED" } else { "STARTED" },
                    if stop {
                        "blocked, exits go on"
                    } else {
                        "allowed"
                    }
                );
                Ok("ok".into())
            }
        }
    }

    /// The readable summary for `state/simulator.json`.
    pub fn summary(&self, healthy: bool) -> SimulatorState {
        let mut runners = Vec::with_capacity(self.slots.len());
        for s in &self.slots {
            runners.push(runner_state(s));
        }
        let ranking = rank(&runners, &self.slots);
        let equity: f64 = self.slots.iter().map(|s| s.equity).sum();
        let high = self.global.highs.front().map_or(equity, |&(_, v)| v);
        SimulatorState {
            pid: std::process::id(),
            started_at: self.started_at.clone(),
            healthy,
            capital: self.cfg.main.simulator.capital,
            equity,
            global_kill_switch: GlobalKillSwitch {
                active: self.global.active,
                since: self.global.since,
                reason: self.global.reason.clone(),
                threshold_pct: self.cfg.main.risk.global_kill_switch_pct,
                window_hours: self.cfg.main.risk.window_hours,
                drawdown_pct: if high > 0.0 {
                    ((1.0 - equity / high) * 100.0).max(0.0)
                } else {
                    0.0
                },
            },
            runners,
            ranking,
            control_acks: self.acks.values().cloned().collect(),
            halted_strategies: self.halted.iter().cloned().collect(),
            db_error: self.db_error.clone(),
            rss_kb: scalp_core::types::rss_kb(),
        }
    }

    pub fn runner_count(&self) -> usize {
        self.slots.len()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

/// Turns a step's engine events into outbox rows and log lines.
fn describe(
    plan: &RunnerPlan,
    r: &Runner,
    out: &runner::StepOut,
    events: &mut Vec<EventRow>,
    logs: &mut Vec<String>,
    log: bool,
) {
    let ev = |kind: &'static str, time: i64, detail: serde_json::Value| EventRow {
        time,
        runner_id: Some(plan.id.clone()),
        strategy: Some(plan.strategy.clone()),
        asset: Some(plan.asset.clone()),
        kind,
        detail,
    };
    for e in &out.events {
        match e {
            EngineEvent::Entry {
                time,
                side,
                price,
                qty,
                level,
                position_qty,
                avg_entry,
                ..
            } => {
                let kind = if level.is_some() {
                    "level_filled"
                } else {
                    "entry"
                };
                if log {
                    logs.push(format!(
                        "{} {} {} {} qty {qty:.6} at {price:.6} (position {position_qty:.6} avg {avg_entry:.6}){}",
                        if level.is_some() { "GRID LEVEL filled" } else { "PAPER ENTRY" },
                        plan.id,
                        db::side_str(*side),
                        fmt_ms(*time),
                        level.map_or(String::new(), |l| format!(" level {l}"))
                    ));
                }
                events.push(ev(
                    kind,
                    *time,
                    serde_json::json!({ "side": db::side_str(*side), "price": price, "qty": qty,
                        "level": level, "position_qty": position_qty, "avg_entry": avg_entry }),
                ));
            }
            EngineEvent::Exit { time, seq, .. } => {
                if let Some((_, t)) = r.closed().iter().rev().find(|(s, _)| s == seq) {
                    events.push(ev(
                        "exit",
                        *time,
                        serde_json::json!({ "seq": seq, "side": db::side_str(t.side),
                            "entry_price": t.entry_price, "exit_price": t.exit_price, "qty": t.qty,
                            "net_pnl": t.net_pnl, "fees": t.fees, "funding": t.funding,
                            "reason": db::enum_str(&t.exit_reason) }),
                    ));
                }
            }
            EngineEvent::KillSwitch { time, reason, .. } => {
                logs.push(format!("KILL SWITCH {}: {reason}", plan.id));
                events.push(ev(
                    "kill_switch",
                    *time,
                    serde_json::json!({ "reason": reason }),
                ));
            }
            EngineEvent::Stopped { time, reason, .. } => {
                logs.push(format!("PAPER STOPPED {}: {reason}", plan.id));
                events.push(ev(
                    "stopped",
                    *time,
                    serde_json::json!({ "reason": reason }),
                ));
            }
        }
    }
    if let Some((before, after)) = &out.levels_changed {
        let placed: Vec<_> = after
            .iter()
            .filter(|l| !before.iter().any(|b| b.id == l.id))
            .map(|l| serde_json::json!({ "id": l.id, "side": db::side_str(l.side), "price": l.price }))
            .collect();
        let removed: Vec<_> = before
            .iter()
            .filter(|l| !after.iter().any(|a| a.id == l.id))
            .map(|l| serde_json::json!({ "id": l.id, "side": db::side_str(l.side), "price": l.price }))
            .collect();
        if log {
            logs.push(format!(
                "GRID LEVEL {} {}: {} placed, {} removed, {} resting",
                plan.id,
                fmt_ms(out.close_time),
                placed.len(),
                removed.len(),
                after.len()
            ));
        }
        events.push(ev(
            "levels",
            out.close_time,
            serde_json::json!({ "placed": placed, "removed": removed, "resting": after.len() }),
        ));
    }
}

fn runner_state(s: &Slot) -> RunnerState {
    let p = &s.plan;
    let (position, levels, kill, last, origin, stats) = match &s.runner {
        None => (None, Vec::new(), None, None, 0, RunnerStats::default()),
        Some(r) => {
            let st = r.engine.state();
            let position = st.pos.map(|pos| PositionState {
                side: db::side_str(pos.side).into(),
                qty: pos.qty,
                avg_entry: pos.avg,
                entries: pos.entries,
                opened_at: pos.opened_at,
                stop: st.stop,
                take_profit: st.tp,
                liquidation: pos.liq.is_finite().then_some(pos.liq),
                unrealized_pnl: r.equity - st.cash,
                margin: pos.margin,
            });
            let levels = st
                .levels
                .iter()
                .map(|l| LevelState {
                    id: l.id,
                    side: db::side_str(l.side).into(),
                    price: l.price,
                    margin_frac: l.margin_frac,
                })
                .collect();
            let kill = st
                .killed
                .as_ref()
                .map(|k| ("kill_switch", k))
                .or(st.stopped.as_ref().map(|k| ("stopped", k)))
                .map(|(kind, k)| KillState {
                    kind: kind.into(),
                    time: k.time,
                    reason: k.reason.clone(),
                });
            (position, levels, kill, st.last_open_time, r.origin, r.stats)
        }
    };
    RunnerState {
        id: p.id.clone(),
        strategy: p.strategy.clone(),
        asset: p.asset.clone(),
        exchange: p.exchange.as_str().into(),
        timeframe: p.timeframe.as_str().into(),
        epoch: s.epoch,
        params: p.params_json(),
        leverage: p.settings.leverage,
        capital: p.settings.capital,
        equity: s.equity,
        net_pnl: stats.net_pnl,
        trades: stats.trades,
        wins: stats.wins,
        losses: stats.losses,
        position,
        levels,
        kill_switch: kill,
        last_open_time: last,
        origin_open_time: origin,
        halted: s.runner.as_ref().is_some_and(|r| r.halted),
    }
}

/// The Arena (docs/SIMULATOR.md): score = return % / max(max drawdown %, 1) × min(1, trades /
/// 20) — return per unit of pain, shrunk until a runner has 20 trades. Ties: more trades first,
/// then the id.
fn rank(runners: &[RunnerState], slots: &[Slot]) -> Vec<RankEntry> {
    let mut v: Vec<RankEntry> = runners
        .iter()
        .zip(slots)
        .map(|(r, s)| {
            let ret = if r.capital > 0.0 {
                (r.equity / r.capital - 1.0) * 100.0
            } else {
                0.0
            };
            let dd = s.runner.as_ref().map_or(0.0, |x| x.stats.max_drawdown_pct);
            let score = ret / dd.max(1.0) * (r.trades as f64 / 20.0).min(1.0);
            RankEntry {
                rank: 0,
                id: r.id.clone(),
                strategy: r.strategy.clone(),
                asset: r.asset.clone(),
                score,
                return_pct: ret,
                max_drawdown_pct: dd,
                trades: r.trades,
                // Percent, as in backtest_runs (docs/METRICS.md `win_rate`).
                win_rate: if r.trades > 0 {
                    100.0 * r.wins as f64 / r.trades as f64
                } else {
                    0.0
                },
            }
        })
        .collect();
    v.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.trades.cmp(&a.trades))
            .then(a.id.cmp(&b.id))
    });
    for (i, e) in v.iter_mut().enumerate() {
        e.rank = i as u32 + 1;
    }
    v
}
