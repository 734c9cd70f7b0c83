//! Read-only database access: a small pool of `scalp_store::open_readonly` connections (never a
//! write, never a checkpoint), used from blocking tasks, and the queries of the routes. Rows are
//! turned into JSON objects column by column; the JSON text columns named by the caller are
//! parsed (never JSON in JSON).

use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};
use scalp_core::{Candle, Exchange, Timeframe};
use scalp_store::SeriesKey;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Connections kept open at most (SQLite readers do not block each other in WAL mode).
pub const POOL_SIZE: usize = 4;

pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    /// The connection whose `PRAGMA data_version` tells whether anything was committed since a
    /// cached answer was made (the counter is per connection, so always this one).
    version: Mutex<Option<Connection>>,
    cache: Mutex<Cache>,
}

/// Serialized answers of the database routes, valid for one `data_version` of the database:
/// any commit by any process (the API itself never writes) empties it.
#[derive(Default)]
struct Cache {
    version: Option<i64>,
    bodies: HashMap<String, Bytes>,
}

/// Distinct answers kept at most (then the cache starts over).
pub const CACHE_ENTRIES: usize = 256;

impl Db {
    /// No connection is opened yet: a database that appears later is picked up.
    pub fn new(path: &Path) -> Arc<Db> {
        Arc::new(Db {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(POOL_SIZE),
            version: Mutex::new(None),
            cache: Mutex::new(Cache::default()),
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

impl Db {
    /// The answer of `f` serialized, from the cache when nothing was committed to the database
    /// since it was made (`PRAGMA data_version`), else made on a pooled connection and kept.
    /// `key` names the route and every parameter that shapes the answer. Errors are never
    /// cached. When the version cannot be read, the answer is made and not kept.
    pub async fn cached<F>(self: &Arc<Self>, key: String, f: F) -> ApiResult<Bytes>
    where
        F: FnOnce(&Connection) -> ApiResult<Value> + Send + 'static,
    {
        let me = self.clone();
        self.run(move |c| {
            let version = me.data_version();
            if let Some(v) = version {
                let cache = me.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.version == Some(v)
                    && let Some(b) = cache.bodies.get(&key)
                {
                    return Ok(b.clone());
                }
            }
            let body = Bytes::from(
                serde_json::to_vec(&f(c)?)
                    .map_err(|e| ApiError::internal(format!("serialize: {e}")))?,
            );
            if let Some(v) = version {
                let mut cache = me.cache.lock().unwrap_or_else(|e| e.into_inner());
                // A commit between reading the version and the query only makes this answer
                // newer than its version: still never older than what a later hit may serve.
                if cache.version != Some(v) || cache.bodies.len() >= CACHE_ENTRIES {
                    cache.bodies.clear();
                    cache.version = Some(v);
                }
                cache.bodies.insert(key, body.clone());
            }
            Ok(body)
        })
        .await
    }

    /// `PRAGMA data_version` of the version connection (opened on first use, reopened after an
    /// error); `None` when the database cannot be read.
    fn data_version(&self) -> Option<i64> {
        let mut g = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = scalp_store::open_readonly(&self.path).ok();
        }
        let r = g
            .as_ref()?
            .query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        match r {
            Ok(v) => Some(v),
            Err(_) => {
                *g = None;
                None
            }
        }
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
        &format!(
            "SELECT {} FROM backtest_runs WHERE {filter} ORDER BY id DESC LIMIT ?3 OFFSET ?4",
            scalar_columns(conn, "backtest_runs", BACKTEST_BLOBS)?
        ),
        &[&strategy, &symbol, &limit, &offset],
        &[],
        &[],
        BACKTEST_BLOBS,
    )?;
    Ok((total, rows))
}

/// The columns of `table` but `skip`, as a select list: a list route never reads the large JSON
/// columns it leaves out (an equity curve is thousands of points).
fn scalar_columns(conn: &Connection, table: &str, skip: &[&str]) -> ApiResult<String> {
    let mut st = conn
        .prepare_cached(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .map_err(sql(table))?;
    let names = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sql(table))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql(table))?;
    Ok(names
        .into_iter()
        .filter(|n| !skip.contains(&n.as_str()))
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", "))
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
        &["settings", "summary"],
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
        &["settings", "summary"],
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn count_body(b: &Bytes) -> i64 {
        serde_json::from_slice::<Value>(b).unwrap()["n"]
            .as_i64()
            .unwrap()
    }

    /// A cached answer is served until another connection commits; then it is made again.
    #[tokio::test]
    async fn cached_answers_follow_every_commit_of_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scalp.db");
        let w = scalp_store::open(&path).unwrap();
        let db = Db::new(&path);
        let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let get = |db: &Arc<Db>| {
            let made = made.clone();
            let db = db.clone();
            async move {
                db.cached("n".into(), move |c| {
                    made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let n: i64 = c
                        .query_row("SELECT count(*) FROM backtest_runs", [], |r| r.get(0))
                        .map_err(sql("count"))?;
                    Ok(json!({ "n": n }))
                })
                .await
                .unwrap()
            }
        };
        assert_eq!(count_body(&get(&db).await), 0);
        assert_eq!(count_body(&get(&db).await), 0);
        assert_eq!(
            made.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "second answer from the cache"
        );
        w.execute_batch(
            "INSERT INTO backtest_runs (created_at, strategy_name, asset, exchange, timeframe, params, period_start, period_end, n_candles, capital, leverage, maker_fee, taker_fee, slippage, fill_mode, sizing, lot_step, final_equity, net_pnl, return_pct, gross_pnl, fees, slippage_cost, funding, fee_drag_pct, n_trades, wins, losses, win_rate, avg_win, avg_loss, expectancy, max_drawdown_pct, max_drawdown_duration_ms, exposure_pct, liquidations, regime_stats, equity_curve, trades_summary) \
             VALUES ('2026-11-21T10:00:00Z', 'grid_atr', 'BTC', 'replay', '1h', '{}', 0, 1, 1000, 10000, 3, 0.0002, 0.0006, 0.0005, 'next_open', 'margin_frac', 0.001, 10100, 100, 1, 120, 15, 5, 0, 12.5, 10, 6, 4, 60, 30, -20, 10, 4.5, 3600000, 30, 0, '{}', '[]', '[]')",
        )
        .unwrap();
        assert_eq!(
            count_body(&get(&db).await),
            1,
            "stale answer after a commit"
        );
        assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(count_body(&get(&db).await), 1);
        assert_eq!(made.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
