//! `/ws/live`: one builder task makes the `update` message every 3 s and on each new
//! `state/simulator.json`, and publishes it on a watch channel; each WebSocket sends the current
//! message at connection and every new one (so 100 clients cost one build, not 100).

use crate::db::{self, Db};
use crate::files;
use scalp_paper::state::{RunnerState, SimulatorState};
use scalp_statefile::Envelope;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const PERIOD: Duration = Duration::from_secs(3);
/// How often the builder looks for a change of the running optimization (start, progress,
/// end), which is sent at once rather than at the next `PERIOD`: a short `optimize run` would
/// otherwise start and finish between two updates.
pub const PROGRESS_PROBE: Duration = Duration::from_millis(500);

pub type SimRx = watch::Receiver<Option<Envelope<SimulatorState>>>;

/// Per asset of the runners: `(exchange, symbol, timeframe)` of its smallest-timeframe runner;
/// the symbol is `<asset><quote>` (assets.toml `quote`), as the simulator reads it.
pub fn asset_series(
    runners: &[RunnerState],
    quote: &str,
) -> BTreeMap<String, (String, String, String)> {
    let mut out: BTreeMap<String, (String, String, i64)> = BTreeMap::new();
    for r in runners {
        let ms = r
            .timeframe
            .parse::<scalp_core::Timeframe>()
            .map(|t| t.ms())
            .unwrap_or(i64::MAX);
        match out.get(&r.asset) {
            Some((_, _, m)) if *m <= ms => {}
            _ => {
                out.insert(
                    r.asset.clone(),
                    (r.exchange.clone(), r.timeframe.clone(), ms),
                );
            }
        }
    }
    out.into_iter()
        .map(|(a, (e, t, _))| {
            let sym = format!("{a}{quote}");
            (a, (e, sym, t))
        })
        .collect()
}

/// The `prices` object: the newest stored candle per asset.
pub async fn prices(db: &Arc<Db>, runners: &[RunnerState], quote: &str) -> Map<String, Value> {
    let series = asset_series(runners, quote);
    let r = db
        .run(move |c| {
            let mut m = Map::new();
            for (asset, (ex, sym, tf)) in series {
                let Some(key) = db::series_key(&ex, &sym, &tf) else {
                    continue;
                };
                if let Some(last) = db::candles_tail(c, &key, i64::MAX, 1)?.pop() {
                    m.insert(
                        asset.clone(),
                        json!({"exchange": ex, "symbol": sym, "timeframe": tf, "open_time": last.open_time, "close": last.close}),
                    );
                }
            }
            Ok(m)
        })
        .await;
    r.unwrap_or_default()
}

/// `optimization_progress`, or `None` (then the key is absent).
pub fn progress(row: &Value) -> Value {
    let n = row.get("n_windows").and_then(Value::as_i64).unwrap_or(0);
    let planned = row
        .get("settings")
        .and_then(|s| s.get("planned_windows"))
        .and_then(Value::as_i64);
    let phase = row.get("phase").and_then(Value::as_str).unwrap_or("");
    // Window rows are written as each window completes: the one running is n + 1.
    let detail = match (phase, planned) {
        ("wfo", Some(p)) => format!("window {}/{p}", (n + 1).min(p)),
        ("wfo", None) => format!("window {}", n + 1),
        (_, Some(p)) => format!("{phase} ({n}/{p} windows)"),
        (_, None) => format!("{phase} ({n} windows)"),
    };
    json!({
        "run_id": row.get("id"),
        "strategy": row.get("strategy_name"),
        "symbol": row.get("asset"),
        "progress_pct": row.get("progress_pct"),
        "phase": phase,
        "detail": detail,
        "status": row.get("status"),
        "windows_done": n,
        "windows_planned": planned,
    })
}

/// The running optimization as `optimization_progress`, or `None` (none runs, or the database
/// cannot be read).
async fn current_progress(db: &Arc<Db>) -> Option<Value> {
    db.run(db::running_optimization)
        .await
        .ok()
        .flatten()
        .map(|r| progress(&r))
}

/// Builds one `update` message; `progress` is `current_progress` (the key is absent when None).
pub async fn build(
    db: &Arc<Db>,
    sim: Option<Envelope<SimulatorState>>,
    state_dir: &std::path::Path,
    quote: &str,
    progress: Option<Value>,
) -> String {
    let now = scalp_core::types::now_ms();
    let mut m = Map::new();
    m.insert("type".into(), json!("update"));
    m.insert("time".into(), json!(now));
    match &sim {
        Some(env) => {
            let s = &env.payload;
            m.insert(
                "simulator".into(),
                json!({"written_at": env.written_at, "healthy": s.healthy, "equity": s.equity,
                       "capital": s.capital, "global_kill_switch": s.global_kill_switch,
                       "halted_strategies": s.halted_strategies}),
            );
            m.insert(
                "prices".into(),
                Value::Object(prices(db, &s.runners, quote).await),
            );
            let strategies: Vec<Value> = s
                .runners
                .iter()
                .map(|r| {
                    json!({"id": r.id, "strategy": r.strategy, "asset": r.asset, "equity": r.equity,
                           "net_pnl": r.net_pnl, "trades": r.trades, "position": r.position,
                           "levels": r.levels.len(), "kill_switch": r.kill_switch, "halted": r.halted})
                })
                .collect();
            m.insert("strategies".into(), Value::Array(strategies));
            m.insert(
                "ranking".into(),
                serde_json::to_value(&s.ranking).unwrap_or(Value::Null),
            );
        }
        None => {
            m.insert("simulator".into(), Value::Null);
            m.insert("prices".into(), json!({}));
            m.insert("strategies".into(), json!([]));
            m.insert("ranking".into(), json!([]));
        }
    }
    m.insert(
        "executor".into(),
        Value::Array(files::executors(state_dir, None, now)),
    );
    if let Some(p) = progress {
        m.insert("optimization_progress".into(), p);
    }
    Value::Object(m).to_string()
}

/// Starts the builder task; the receiver always holds the latest message.
pub fn spawn(
    db: Arc<Db>,
    mut sim: SimRx,
    state_dir: PathBuf,
    quote: String,
) -> watch::Receiver<Arc<String>> {
    let first = Arc::new(String::new());
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut probe = tokio::time::interval(PROGRESS_PROBE);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sim_alive = true;
        let mut last_progress: Option<Value> = None;
        loop {
            // The probe's read is reused for the message it triggers (one query per update).
            let probed = tokio::select! {
                _ = tick.tick() => None,
                r = sim.changed(), if sim_alive => {
                    // An error: the watcher is gone, keep the timer only.
                    sim_alive = r.is_ok();
                    tick.reset();
                    None
                }
                _ = probe.tick() => {
                    let now = current_progress(&db).await;
                    if now == last_progress {
                        continue;
                    }
                    tick.reset();
                    Some(now)
                }
                _ = tx.closed() => return,
            };
            let prog = match probed {
                Some(p) => p,
                None => current_progress(&db).await,
            };
            last_progress = prog.clone();
            let snap = sim.borrow_and_update().clone();
            let msg = build(&db, snap, &state_dir, &quote, prog).await;
            if tx.send(Arc::new(msg)).is_err() {
                return;
            }
        }
    });
    rx
}
