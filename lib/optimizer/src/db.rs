//! The optimize local database (`[optimize].db`): runs with live progress, windows, combos
//! (migration 04) and results (`optimization_results`, migration 03, safe is_latest insert of
//! scalp-sync).

use crate::Error;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

pub fn open(path: &Path) -> Result<Connection, Error> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDbDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    scalp_store::open(path).map_err(|e| Error::OpenDb {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Opens an existing local database for a read-only command (`grades`): never creates or
/// migrates it, so a mistyped `--db-path` is an error naming the file, not a new empty database.
pub fn open_readonly(path: &Path) -> Result<Connection, Error> {
    if !path.is_file() {
        return Err(Error::NoDb(path.to_path_buf()));
    }
    scalp_store::open_readonly(path).map_err(|e| Error::OpenDb {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// ISO-8601 UTC with milliseconds (`2026-11-21T20:06:15.123Z`).
pub fn iso_now() -> String {
    iso_ms(scalp_core::types::now_ms())
}

/// The `created_at` of a result made now, in the one stored spelling
/// (`scalp_sync::payload::canonical_created_at`: UTC, nanoseconds, `Z`; whole milliseconds).
pub fn created_at_now() -> String {
    created_at_ms(scalp_core::types::now_ms())
}

fn created_at_ms(ms: i64) -> String {
    scalp_sync::payload::format_created_at(i128::from(ms) * 1_000_000)
}

/// [`created_at_now`], or one millisecond after `prev` when the clock has not moved past it: a
/// row that supersedes `prev` (a regrade) must sort after it, since `created_at` is part of the
/// unique key and decides `is_latest` (both read through `scalp_sync::payload::parse_created_at`).
pub fn created_at_after(prev: &str) -> String {
    let now = scalp_core::types::now_ms();
    match scalp_sync::payload::parse_created_at(prev) {
        Some(ns) => created_at_ms(now.max(ns.div_euclid(1_000_000) as i64 + 1)),
        None => created_at_ms(now),
    }
}

pub fn iso_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// Phases and their progress ranges (percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Wfo,
    Overfitting,
    Null,
    Validation,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Wfo => "wfo",
            Phase::Overfitting => "overfitting",
            Phase::Null => "null test",
            Phase::Validation => "validation",
            Phase::Done => "done",
        }
    }
    /// `[start, end)` percent of the phase.
    pub fn range(self) -> (f64, f64) {
        match self {
            // The null test re-runs the walk-forward once per permuted history (99 by
            // default): it is most of the time.
            Phase::Wfo => (0.0, 15.0),
            Phase::Overfitting => (15.0, 20.0),
            Phase::Null => (20.0, 95.0),
            Phase::Validation => (95.0, 99.0),
            Phase::Done => (100.0, 100.0),
        }
    }
    /// Overall percent at `frac` (0–1) of the phase.
    pub fn pct(self, frac: f64) -> f64 {
        let (a, b) = self.range();
        a + (b - a) * frac.clamp(0.0, 1.0)
    }
}

pub fn start_run(
    conn: &Connection,
    strategy: &str,
    asset: &str,
    tf: &str,
    exchange: &str,
    settings: &serde_json::Value,
) -> rusqlite::Result<i64> {
    let now = iso_now();
    conn.execute(
        "INSERT INTO optimization_runs (strategy_name, asset, timeframe, exchange, started_at, updated_at, status, phase, progress_pct, settings) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'running', 'wfo', 0, ?6)",
        params![strategy, asset, tf, exchange, now, settings.to_string()],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn progress(conn: &Connection, run_id: i64, phase: Phase, pct: f64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE optimization_runs SET phase = ?2, progress_pct = ?3, updated_at = ?4 WHERE id = ?1",
        params![run_id, phase.as_str(), pct.clamp(0.0, 100.0), iso_now()],
    )?;
    Ok(())
}

/// Marks the run completed. `summary`: the report's `wfo`, `grade_detail` and `live_eligible`
/// (migration 06), what the dashboard's overfitting panel shows.
pub fn finish_run(
    conn: &Connection,
    run_id: i64,
    result_created_at: &str,
    report: &str,
    secs: f64,
    summary: &serde_json::Value,
) -> rusqlite::Result<()> {
    let now = iso_now();
    conn.execute(
        "UPDATE optimization_runs SET status = 'completed', phase = 'done', progress_pct = 100, updated_at = ?2, finished_at = ?2, \
         result_created_at = ?3, report_path = ?4, duration_seconds = ?5, summary = ?6 WHERE id = ?1",
        params![run_id, now, result_created_at, report, secs, summary.to_string()],
    )?;
    Ok(())
}

pub fn fail_run(conn: &Connection, run_id: i64, error: &str, secs: f64) -> rusqlite::Result<()> {
    let now = iso_now();
    conn.execute(
        "UPDATE optimization_runs SET status = 'failed', updated_at = ?2, finished_at = ?2, error = ?3, duration_seconds = ?4 WHERE id = ?1",
        params![run_id, now, error, secs],
    )?;
    Ok(())
}

/// Marks failed every `running` row whose progress (`updated_at`) is older than `stale_secs`
/// before `now_ms`: its process is gone (killed without a chance to say so). Returns their ids.
pub fn fail_stale_runs(
    conn: &Connection,
    now_ms: i64,
    stale_secs: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut st =
        conn.prepare("SELECT id, updated_at FROM optimization_runs WHERE status = 'running'")?;
    let rows: Vec<(i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut failed = Vec::new();
    for (id, updated) in rows {
        let Some(ns) = scalp_sync::payload::parse_created_at(&updated) else {
            continue;
        };
        let age_ms = now_ms - ns.div_euclid(1_000_000) as i64;
        if age_ms > stale_secs * 1000 {
            conn.execute(
                "UPDATE optimization_runs SET status = 'failed', finished_at = ?2, \
                 error = ?3 WHERE id = ?1 AND status = 'running'",
                params![
                    id,
                    iso_now(),
                    format!("stale: no progress since {updated} (the process was killed)")
                ],
            )?;
            failed.push(id);
        }
    }
    Ok(failed)
}

/// Writes the windows and every combination tested (one transaction).
pub fn save_windows(
    conn: &mut Connection,
    run_id: i64,
    w: &crate::wfo::WfoResult,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut sw = tx.prepare_cached(
            "INSERT INTO optimization_windows (run_id, window_index, is_start, is_end, oos_start, oos_end, best_params, is_sharpe, is_trades, \
             oos_sharpe, oos_return_pct, oos_trades, oos_max_dd, regime, combos_tested) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
        )?;
        let mut sc = tx.prepare_cached(
            "INSERT INTO wfo_combo_results (run_id, window_index, pass, params, is_sharpe, is_return_pct, n_trades, max_dd) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        )?;
        for win in &w.windows {
            sw.execute(params![
                run_id,
                win.index as i64,
                win.is_start,
                win.is_end,
                win.oos_start,
                win.oos_end,
                serde_json::to_string(&win.best_params).unwrap_or_default(),
                finite(win.is_sharpe),
                win.is_trades,
                finite(win.oos_sharpe),
                finite(win.oos_return_pct),
                win.oos_trades,
                finite(win.oos_max_dd),
                win.regime.as_str(),
                win.combos_tested as i64
            ])?;
            for (pass, kv, m, cap) in &win.combos {
                let obj: serde_json::Map<String, serde_json::Value> = kv
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                    .collect();
                sc.execute(params![
                    run_id,
                    win.index as i64,
                    pass,
                    serde_json::Value::Object(obj).to_string(),
                    finite(m.sharpe),
                    finite((m.final_equity / cap - 1.0) * 100.0),
                    m.n_trades,
                    finite(m.max_dd)
                ])?;
            }
        }
    }
    tx.commit()
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A latest row of optimization_results: its id and the row itself, in the one definition of
/// a result row (`scalp_sync::OptimizationResult`: what `optimize run` builds, inserts and
/// pushes, and what scalp-syncd validates). Its fields are reached through `Deref`; the JSON
/// text columns parsed by [`LatestRow::json`] and friends.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRow {
    pub id: i64,
    pub row: scalp_sync::OptimizationResult,
}

impl std::ops::Deref for LatestRow {
    type Target = scalp_sync::OptimizationResult;
    fn deref(&self) -> &Self::Target {
        &self.row
    }
}

/// `grades --json`: the row as pushed (JSON columns embedded as JSON) with its id.
impl serde::Serialize for LatestRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = self.row.to_payload();
        v["id"] = serde_json::json!(self.id);
        v.serialize(s)
    }
}

impl LatestRow {
    /// A JSON text column parsed (`None` when absent or not JSON).
    pub fn json(text: Option<&str>) -> Option<serde_json::Value> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }
    /// `best_params` as a JSON object (`Null` if the stored text is not JSON).
    pub fn best_params_json(&self) -> serde_json::Value {
        Self::json(Some(&self.row.best_params)).unwrap_or(serde_json::Value::Null)
    }
    pub fn monte_carlo_json(&self) -> Option<serde_json::Value> {
        Self::json(self.row.monte_carlo_summary.as_deref())
    }
    pub fn validation_json(&self) -> Option<serde_json::Value> {
        Self::json(self.row.validation_summary.as_deref())
    }
    pub fn windows_json(&self) -> Option<serde_json::Value> {
        Self::json(self.row.wfo_windows.as_deref())
    }
    pub fn warnings_json(&self) -> Option<serde_json::Value> {
        Self::json(self.row.warnings.as_deref())
    }

    /// The grade inputs as stored (what `--regrade` and the `--apply` gate recompute from).
    pub fn grade_inputs(&self) -> crate::grade::GradeInputs {
        use serde_json::Value;
        let validation_summary = self.validation_json();
        let monte_carlo_summary = self.monte_carlo_json();
        let wfo_windows = self.windows_json();
        let transfer = validation_summary
            .as_ref()
            .and_then(|v| v.get("transfer_ratio"))
            .and_then(Value::as_f64);
        let oos_trades = monte_carlo_summary
            .as_ref()
            .and_then(|v| v.get("n_trades"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let mc = |k: &str| monte_carlo_summary.as_ref().and_then(|v| v.get(k));
        // The windows' OOS returns and regimes as stored (`wfo_windows`).
        let ws: Vec<(f64, String)> = wfo_windows
            .as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|w| {
                        Some((
                            w.get("oos_return_pct")?.as_f64()?,
                            w.get("regime")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let lo =
            crate::grade::leave_out(&ws.iter().map(|(r, g)| (*r, g.as_str())).collect::<Vec<_>>());
        crate::grade::GradeInputs {
            oos_sharpe: self.oos_sharpe.unwrap_or(0.0),
            consistency: self.consistency.unwrap_or(0.0),
            oos_is_ratio: self.oos_is_ratio.unwrap_or(0.0),
            dsr: self.dsr.unwrap_or(0.0),
            param_stability: self.param_stability.unwrap_or(0.0),
            mc_pvalue: self.monte_carlo_pvalue.unwrap_or(1.0),
            mc_underpowered: self.mc_underpowered,
            transfer_ratio: transfer,
            oos_trades,
            stitched_return_pct: mc("stitched_return_pct").and_then(Value::as_f64),
            stress_return_pct: mc("stress_return_pct").and_then(Value::as_f64),
            stitched_sharpe_lo: mc("stitched_sharpe_lo").and_then(Value::as_f64),
            null_p: mc("null_p").and_then(Value::as_f64),
            null_permutations: mc("null_permutations").and_then(Value::as_u64).unwrap_or(0)
                as usize,
            pbo: mc("pbo").and_then(Value::as_f64),
            lowo_return_pct: lo.0,
            loro_return_pct: lo.1,
        }
    }
}

/// The latest rows of optimization_results (optionally one strategy).
pub fn latest(conn: &Connection, strategy: Option<&str>) -> rusqlite::Result<Vec<LatestRow>> {
    Ok(scalp_sync::db::latest_results(conn, strategy)?
        .into_iter()
        .map(|(id, row)| LatestRow { id, row })
        .collect())
}

pub fn has_latest(
    conn: &Connection,
    strategy: &str,
    asset: &str,
    tf: &str,
) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM optimization_results WHERE strategy_name = ?1 AND asset = ?2 AND timeframe = ?3 AND is_latest = 1",
        params![strategy, asset, tf],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
}

/// Duplicates: rows of the same strategy/asset/timeframe with the same best_params, grade,
/// total_score and n_windows as a NEWER row (re-runs that changed nothing). The newest copy
/// (and every is_latest row) is kept.
/// `(id, strategy, asset, timeframe, created_at)` of a duplicate row.
pub type DuplicateRow = (i64, String, String, String, String);

pub fn find_duplicates(conn: &Connection) -> rusqlite::Result<Vec<DuplicateRow>> {
    let mut st = conn.prepare(
        "SELECT a.id, a.strategy_name, a.asset, a.timeframe, a.created_at FROM optimization_results a \
         WHERE a.is_latest = 0 AND EXISTS (SELECT 1 FROM optimization_results b WHERE b.id <> a.id \
           AND b.strategy_name = a.strategy_name AND b.asset = a.asset AND b.timeframe = a.timeframe \
           AND b.best_params = a.best_params AND b.grade = a.grade AND b.total_score = a.total_score \
           AND b.n_windows = a.n_windows AND (b.created_at > a.created_at OR (b.created_at = a.created_at AND b.id > a.id))) \
         ORDER BY a.strategy_name, a.asset, a.timeframe, a.created_at",
    )?;
    let rows = st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    rows.collect()
}

pub fn delete_results(conn: &mut Connection, ids: &[i64]) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut n = 0;
    {
        let mut st =
            tx.prepare("DELETE FROM optimization_results WHERE id = ?1 AND is_latest = 0")?;
        for id in ids {
            n += st.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_after_is_strictly_later_in_the_stored_spelling() {
        // A row stamped in this very millisecond or later: one millisecond after it.
        let future = created_at_ms(scalp_core::types::now_ms() + 60_000);
        let next = created_at_after(&future);
        assert!(next > future, "{next} !> {future}");
        let ms = |s: &str| scalp_sync::payload::parse_created_at(s).unwrap() / 1_000_000;
        assert_eq!(ms(&next), ms(&future) + 1);
        // Other accepted spellings (naive, microseconds) are compared as instants too.
        assert_eq!(
            created_at_after("2099-01-01 00:00:00.123456"),
            "2099-01-01T00:00:00.124000000Z"
        );
        // An old row: simply now.
        let old = created_at_ms(1_600_000_000_000);
        let now = created_at_after(&old);
        assert!(now > old && ms(&now) >= i128::from(scalp_core::types::now_ms()) - 1_000);
    }

    #[test]
    fn stale_running_rows_are_marked_failed() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("o.db")).unwrap();
        let s = serde_json::json!({});
        let old = start_run(&conn, "sma_cross", "BTC", "1h", "binance", &s).unwrap();
        let live = start_run(&conn, "sma_cross", "ETH", "1h", "binance", &s).unwrap();
        let done = start_run(&conn, "sma_cross", "SOL", "1h", "binance", &s).unwrap();
        finish_run(&conn, done, "x", "r.json", 1.0, &serde_json::json!({})).unwrap();
        let now = scalp_core::types::now_ms();
        conn.execute(
            "UPDATE optimization_runs SET updated_at = ?2 WHERE id IN (?1, ?3)",
            params![old, iso_ms(now - 7_200_000), done],
        )
        .unwrap();
        assert_eq!(fail_stale_runs(&conn, now, 3600).unwrap(), vec![old]);
        let status = |id: i64| -> (String, Option<String>) {
            conn.query_row(
                "SELECT status, error FROM optimization_runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let (st, err) = status(old);
        assert_eq!(st, "failed");
        assert!(err.unwrap().starts_with("stale: no progress since"));
        assert_eq!(status(live).0, "running");
        assert_eq!(status(done).0, "completed");
    }
}
