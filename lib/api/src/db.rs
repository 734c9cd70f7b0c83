//! Read-only database access: a small pool of `scalp_store::open_readonly` connections (never a
//! write, never a checkpoint), used from blocking tasks, and the queries of the routes. Rows are
//! turned into JSON objects column by column; the JSON text columns named by the caller are
//! parsed (never JSON in JSON).

use crate::error::{ApiError, ApiResult};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::SeriesKey;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Connections kept open at most (SQLite readers do not block each other in WAL mode).
pub const POOL_SIZE: usize = 4;

pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Db {
    /// No connection is opened yet: a database that appears later is picked up.
    pub fn new(path: &Path) -> Arc<Db> {
        Arc::new(Db {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(POOL_SIZE),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read-only connection in a blocking task. A connection whose query
    /// failed with something other than a missing row is dropped (the next call reopens).
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("database: pool closed"))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match me.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
                Some(c) => c,
                None => scalp_store::open_readonly(&me.path)
                    .map_err(|e| ApiError::unavailable(format!("database: {e}")))?,
            };
            let r = f(&conn);
            let keep =
                !matches!(&r, Err(e) if e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE);
            if keep {
                me.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            }
            r
        })
        .await
        .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }
}

/// A database error as a 503 naming what was being read.
pub fn sql(what: &str) -> impl Fn(rusqlite::Error) -> ApiError + '_ {
    move |e| ApiError::unavailable(format!("database: {what}: {e}"))
}

fn store(what: &str) -> impl Fn(scalp_store::StoreError) -> ApiError + '_ {
    move |e| ApiError::unavailable(format!("database: {what}: {e}"))
}

/// How a column is rendered.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Json,
    Bool,
}

/// A row as a JSON object: `json` columns parsed, `bools` as booleans, `skip` left out.
fn row_object(
    row: &Row,
    json: &[&str],
    bools: &[&str],
    skip: &[&str],
) -> rusqlite::Result<Map<String, Value>> {
    let st = row.as_ref();
    let mut m = Map::new();
    for i in 0..st.column_count() {
        let name = st.column_name(i)?;
        if skip.contains(&name) {
            continue;
        }
        let kind = if json.contains(&name) {
            Kind::Json
        } else if bools.contains(&name) {
            Kind::Bool
        } else {
            Kind::Plain
        };
        let v = match (row.get_ref(i)?, kind) {
            (ValueRef::Null, _) => Value::Null,
            (ValueRef::Integer(n), Kind::Bool) => Value::Bool(n != 0),
            (ValueRef::Integer(n), _) => Value::from(n),
            (ValueRef::Real(x), _) => {
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
            (ValueRef::Text(t), Kind::Json) => {
                let t = String::from_utf8_lossy(t);
                // A stored text that is not JSON stays a string (never silently dropped).
                serde_json::from_str(&t).unwrap_or(Value::String(t.into_owned()))
            }
            (ValueRef::Text(t), _) => Value::String(String::from_utf8_lossy(t).into_owned()),
            (ValueRef::Blob(b), _) => Value::String(format!("<{} bytes>", b.len())),
        };
        m.insert(name.to_string(), v);
    }
    Ok(m)
}

fn query_objects(
    conn: &Connection,
    what: &str,
    sql_text: &str,
    args: &[&dyn rusqlite::ToSql],
    json: &[&str],
    bools: &[&str],
    skip: &[&str],
) -> ApiResult<Vec<Value>> {
    let mut st = conn.prepare_cached(sql_text).map_err(sql(what))?;
    let rows = st
        .query_map(args, |r| {
            row_object(r, json, bools, skip).map(Value::Object)
        })
        .map_err(sql(what))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(what))
}

fn count(
    conn: &Connection,
    what: &str,
    sql_text: &str,
    args: &[&dyn rusqlite::ToSql],
) -> ApiResult<i64> {
    conn.prepare_cached(sql_text)
        .and_then(|mut st| st.query_row(args, |r| r.get(0)))
        .map_err(sql(what))
}

pub fn ping(conn: &Connection) -> ApiResult<()> {
    conn.query_row("SELECT 1", [], |_| Ok(()))
        .map_err(sql("ping"))
}

// ---------------------------------------------------------------- simulator

pub fn sim_trades(
    conn: &Connection,
    limit: i64,
    strategy: Option<&str>,
    asset: Option<&str>,
) -> ApiResult<Vec<Value>> {
    query_objects(
        conn,
        "sim_trades",
        "SELECT runner_id, epoch, seq, strategy, asset, side, entry_time, exit_time, entry_price, \
         exit_price, qty, entries, margin, fees, funding, slippage, gross_pnl, net_pnl, exit_reason, \
         regime, created_at FROM sim_trades \
         WHERE (?1 IS NULL OR strategy = ?1) AND (?2 IS NULL OR asset = ?2) \
         ORDER BY exit_time DESC, runner_id, seq DESC LIMIT ?3",
        &[&strategy, &asset, &limit],
        &[],
        &[],
        &[],
    )
}

// ---------------------------------------------------------------- candles

pub fn series_key<'a>(exchange: &str, symbol: &'a str, tf: &str) -> Option<SeriesKey<'a>> {
    Some(SeriesKey {
        exchange: exchange.parse::<Exchange>().ok()?,
        symbol,
        timeframe: tf.parse::<Timeframe>().ok()?,
    })
}

pub fn candles_range(
    conn: &Connection,
    key: &SeriesKey,
    from: i64,
    to: i64,
    limit: usize,
) -> ApiResult<Vec<Candle>> {
    scalp_store::candles::load_limit(conn, key, from, to, limit).map_err(store("candles"))
}

/// The newest `n` candles with `open_time < before` (ascending).
pub fn candles_tail(
    conn: &Connection,
    key: &SeriesKey,
    before: i64,
    n: usize,
) -> ApiResult<Vec<Candle>> {
    scalp_store::candles::load_tail(conn, key, before, n).map_err(store("candles"))
}

/// `[open_time, open, high, low, close, volume]`.
pub fn candle_row(c: &Candle) -> Value {
    serde_json::json!([c.open_time, c.open, c.high, c.low, c.close, c.volume])
}

// ---------------------------------------------------------------- backtests

const BACKTEST_BLOBS: &[&str] = &["params", "regime_stats", "equity_curve", "trades_summary"];

pub fn backtest_runs(
    conn: &Connection,
    strategy: Option<&str>,
    symbol: Option<&str>,
    limit: i64,
    offset: i64,
) -> ApiResult<(i64, Vec<Value>)> {
    let filter = "(?1 IS NULL OR strategy_name = ?1) AND (?2 IS NULL OR asset = ?2)";
    let total = count(
        conn,
        "backtest_runs",
        &format!("SELECT count(*) FROM backtest_runs WHERE {filter}"),
        &[&strategy, &symbol],
    )?;
    let rows = query_objects(
        conn,
        "backtest_runs",
        &format!("SELECT * FROM backtest_runs WHERE {filter} ORDER BY id DESC LIMIT ?3 OFFSET ?4"),
        &[&strategy, &symbol, &limit, &offset],
        &[],
        &[],
        BACKTEST_BLOBS,
    )?;
    Ok((total, rows))
}

pub fn backtest_run(conn: &Connection, id: i64) -> ApiResult<Option<Value>> {
    Ok(query_objects(
        conn,
        "backtest_runs",
        "SELECT * FROM backtest_runs WHERE id = ?1",
        &[&id],
        BACKTEST_BLOBS,
        &[],
        &[],
    )?
    .into_iter()
    .next())
}

// ---------------------------------------------------------------- optimization

const RESULT_BLOBS: &[&str] = &[
    "best_params",
    "wfo_windows",
    "monte_carlo_summary",
    "validation_summary",
    "warnings",
    "regime_analysis",
];
const RESULT_BOOLS: &[&str] = &["mc_underpowered", "is_latest"];

pub fn optimization_runs(
    conn: &Connection,
    strategy: Option<&str>,
    symbol: Option<&str>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> ApiResult<(i64, Vec<Value>)> {
    let filter = "(?1 IS NULL OR strategy_name = ?1) AND (?2 IS NULL OR asset = ?2) AND (?3 IS NULL OR status = ?3)";
    let total = count(
        conn,
        "optimization_runs",
        &format!("SELECT count(*) FROM optimization_runs WHERE {filter}"),
        &[&strategy, &symbol, &status],
    )?;
    let rows = query_objects(
        conn,
        "optimization_runs",
        &format!(
            "SELECT r.*, (SELECT count(*) FROM optimization_windows w WHERE w.run_id = r.id) AS n_windows \
             FROM optimization_runs r WHERE {filter} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
        ),
        &[&strategy, &symbol, &status, &limit, &offset],
        &[],
        &[],
        &["settings"],
    )?;
    Ok((total, rows))
}

pub fn optimization_run(conn: &Connection, id: i64) -> ApiResult<Option<Value>> {
    let Some(mut run) = query_objects(
        conn,
        "optimization_runs",
        "SELECT r.*, (SELECT count(*) FROM optimization_windows w WHERE w.run_id = r.id) AS n_windows \
         FROM optimization_runs r WHERE id = ?1",
        &[&id],
        &["settings"],
        &[],
        &[],
    )?
    .into_iter()
    .next() else {
        return Ok(None);
    };
    let result = match run.get("result_created_at").and_then(Value::as_str) {
        None => Value::Null,
        Some(created) => {
            let s = |k: &str| run.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (strategy, asset, tf) = (s("strategy_name"), s("asset"), s("timeframe"));
            query_objects(
                conn,
                "optimization_results",
                "SELECT * FROM optimization_results \
                 WHERE strategy_name = ?1 AND asset = ?2 AND timeframe = ?3 AND created_at = ?4",
                &[&strategy, &asset, &tf, &created.to_string()],
                RESULT_BLOBS,
                RESULT_BOOLS,
                &[],
            )?
            .into_iter()
            .next()
            .unwrap_or(Value::Null)
        }
    };
    if let Value::Object(m) = &mut run {
        m.insert("result".into(), result);
    }
    Ok(Some(run))
}

pub fn run_exists(conn: &Connection, id: i64) -> ApiResult<bool> {
    Ok(count(
        conn,
        "optimization_runs",
        "SELECT count(*) FROM optimization_runs WHERE id = ?1",
        &[&id],
    )? > 0)
}

pub fn optimization_windows(conn: &Connection, run_id: i64) -> ApiResult<Vec<Value>> {
    query_objects(
        conn,
        "optimization_windows",
        "SELECT window_index, is_start, is_end, oos_start, oos_end, best_params, is_sharpe, is_trades, \
         oos_sharpe, oos_return_pct, oos_trades, oos_max_dd, regime, combos_tested \
         FROM optimization_windows WHERE run_id = ?1 ORDER BY window_index",
        &[&run_id],
        &["best_params"],
        &[],
        &[],
    )
}

pub fn optimization_results(
    conn: &Connection,
    latest: bool,
    strategy: Option<&str>,
    symbol: Option<&str>,
    limit: i64,
) -> ApiResult<Vec<Value>> {
    query_objects(
        conn,
        "optimization_results",
        "SELECT id, strategy_name, asset, timeframe, created_at, duration_seconds, grade, total_score, \
         oos_sharpe, consistency, oos_is_ratio, dsr, param_stability, monte_carlo_pvalue, \
         mc_underpowered, n_windows, n_distinct_combos, best_params, source, is_latest \
         FROM optimization_results \
         WHERE (?1 = 0 OR is_latest = 1) AND (?2 IS NULL OR strategy_name = ?2) AND (?3 IS NULL OR asset = ?3) \
         ORDER BY strategy_name, asset, timeframe, created_at DESC LIMIT ?4",
        &[&(latest as i64), &strategy, &symbol, &limit],
        &["best_params"],
        RESULT_BOOLS,
        &[],
    )
}

/// The newest `optimization_runs` row with status `running`, with its stored window count.
pub fn running_optimization(conn: &Connection) -> ApiResult<Option<Value>> {
    Ok(query_objects(
        conn,
        "optimization_runs",
        "SELECT r.id, r.strategy_name, r.asset, r.progress_pct, r.phase, r.status, r.settings, \
         (SELECT count(*) FROM optimization_windows w WHERE w.run_id = r.id) AS n_windows \
         FROM optimization_runs r WHERE status = 'running' ORDER BY id DESC LIMIT 1",
        &[],
        &["settings"],
        &[],
        &[],
    )?
    .into_iter()
    .next())
}
