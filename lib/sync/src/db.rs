//! Insert-only store logic for `optimization_results` and `portfolio_backtests` (schema:
//! `lib/store/migrations/03-optimization-results/up.sql`), shared by scalp-syncd (source
//! `server`) and `optimize` (source `local`), plus the reads `optimize sync` needs.
//!
//! The safe insert ([`apply_result`], inside a `BEGIN IMMEDIATE` transaction):
//! 1. `INSERT ... ON CONFLICT(strategy_name, asset, timeframe, created_at) DO NOTHING` — the
//!    precise form of INSERT OR IGNORE: it ignores only the duplicate, never another constraint.
//! 2. Duplicate: done, `is_latest` untouched.
//! 3. New row: it becomes `is_latest` only if its `created_at` is strictly later (as an instant,
//!    see [`parse_created_at`]) than every other row of the same strategy/asset/timeframe; then
//!    the flag is cleared on the others first and set on the new row. A late-arriving older run is
//!    stored with `is_latest = 0` and steals nothing.

use crate::payload::{OptimizationResult, PortfolioBacktest, parse_created_at};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

/// Value of the `source` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Written by `optimize` into its local database.
    Local,
    /// Received by scalp-syncd.
    Server,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Server => "server",
        }
    }
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// A new row; `latest` tells whether it took `is_latest`.
    Created { id: i64, latest: bool },
    /// The UNIQUE key already existed; nothing was written.
    AlreadyExists,
}

/// Which optional columns a database has (a database created before `source` existed lacks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    pub results_source: bool,
    pub portfolio_source: bool,
}

impl Schema {
    pub fn detect(conn: &Connection) -> rusqlite::Result<Schema> {
        Ok(Schema {
            results_source: has_column(conn, "optimization_results", "source")?,
            portfolio_source: has_column(conn, "portfolio_backtests", "source")?,
        })
    }
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut st = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = st.query_map([], |r| r.get::<_, String>(1))?;
    for n in names {
        if n? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

const RESULT_COLS: &str = "strategy_name, asset, timeframe, created_at, duration_seconds, grade, \
    total_score, oos_sharpe, consistency, oos_is_ratio, dsr, param_stability, monte_carlo_pvalue, \
    mc_underpowered, n_windows, n_distinct_combos, best_params, wfo_windows, monte_carlo_summary, \
    validation_summary, warnings, regime_analysis";

const PORTFOLIO_COLS: &str = "strategy_name, assets, timeframe, created_at, duration_seconds, \
    period_start, period_end, initial_capital, final_equity, total_return, sharpe, sortino, \
    max_drawdown, win_rate, profit_factor, n_trades, params, per_asset, equity_curve, warnings";

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The safe insert of one result, WITHOUT transaction control: call it inside a transaction
/// (`BEGIN IMMEDIATE` or a savepoint) — see [`insert_result`] for the self-contained version.
pub fn apply_result(
    conn: &Connection,
    schema: Schema,
    r: &OptimizationResult,
    source: Source,
) -> rusqlite::Result<InsertOutcome> {
    let (extra_col, extra_val) = if schema.results_source {
        (", source", ", ?23")
    } else {
        ("", "")
    };
    let sql = format!(
        "INSERT INTO optimization_results ({RESULT_COLS}{extra_col}, is_latest) \
         VALUES ({}{extra_val}, 0) \
         ON CONFLICT(strategy_name, asset, timeframe, created_at) DO NOTHING",
        placeholders(22)
    );
    let mut st = conn.prepare_cached(&sql)?;
    let mut p: Vec<&dyn rusqlite::ToSql> = vec![
        &r.strategy_name,
        &r.asset,
        &r.timeframe,
        &r.created_at,
        &r.duration_seconds,
        &r.grade,
        &r.total_score,
        &r.oos_sharpe,
        &r.consistency,
        &r.oos_is_ratio,
        &r.dsr,
        &r.param_stability,
        &r.monte_carlo_pvalue,
        &r.mc_underpowered,
        &r.n_windows,
        &r.n_distinct_combos,
        &r.best_params,
        &r.wfo_windows,
        &r.monte_carlo_summary,
        &r.validation_summary,
        &r.warnings,
        &r.regime_analysis,
    ];
    let src = source.as_str();
    if schema.results_source {
        p.push(&src);
    }
    if st.execute(p.as_slice())? == 0 {
        return Ok(InsertOutcome::AlreadyExists);
    }
    let id = conn.last_insert_rowid();
    let latest = take_latest_if_newest(conn, r, id)?;
    Ok(InsertOutcome::Created { id, latest })
}

/// Step 3 of the safe insert. Unparseable stored dates count as older than any parseable one.
fn take_latest_if_newest(
    conn: &Connection,
    r: &OptimizationResult,
    id: i64,
) -> rusqlite::Result<bool> {
    let new_t = parse_created_at(&r.created_at);
    let key = params![r.strategy_name, r.asset, r.timeframe, id];
    let newest_other = |sql: &str| -> rusqlite::Result<Option<Option<i128>>> {
        let mut st = conn.prepare_cached(sql)?;
        let mut rows = st.query(key)?;
        let mut best: Option<Option<i128>> = None;
        while let Some(row) = rows.next()? {
            let t = parse_created_at(&row.get::<_, String>(0)?);
            best = Some(match best {
                None => t,
                Some(b) => b.max(t),
            });
        }
        Ok(best)
    };
    // Fast path: compare with the current latest row(s); if there is none, with every row.
    let mut other = newest_other(
        "SELECT created_at FROM optimization_results \
         WHERE strategy_name = ?1 AND asset = ?2 AND timeframe = ?3 AND is_latest = 1 AND id <> ?4",
    )?;
    if other.is_none() {
        other = newest_other(
            "SELECT created_at FROM optimization_results \
             WHERE strategy_name = ?1 AND asset = ?2 AND timeframe = ?3 AND id <> ?4",
        )?;
    }
    let newest = match other {
        None => true,
        Some(o) => new_t > o,
    };
    if newest {
        conn.prepare_cached(
            "UPDATE optimization_results SET is_latest = 0 \
             WHERE strategy_name = ?1 AND asset = ?2 AND timeframe = ?3 AND is_latest = 1 AND id <> ?4",
        )?
        .execute(key)?;
        conn.prepare_cached("UPDATE optimization_results SET is_latest = 1 WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(newest)
}

/// [`apply_result`] in its own `BEGIN IMMEDIATE` transaction.
pub fn insert_result(
    conn: &mut Connection,
    r: &OptimizationResult,
    source: Source,
) -> rusqlite::Result<InsertOutcome> {
    let schema = Schema::detect(conn)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = apply_result(&tx, schema, r, source)?;
    tx.commit()?;
    Ok(out)
}

/// Insert of one portfolio backtest (no transaction control; duplicates are ignored).
pub fn apply_portfolio(
    conn: &Connection,
    schema: Schema,
    p: &PortfolioBacktest,
    source: Source,
) -> rusqlite::Result<InsertOutcome> {
    let (extra_col, extra_val) = if schema.portfolio_source {
        (", source", ", ?21")
    } else {
        ("", "")
    };
    let sql = format!(
        "INSERT INTO portfolio_backtests ({PORTFOLIO_COLS}{extra_col}) VALUES ({}{extra_val}) \
         ON CONFLICT(strategy_name, timeframe, created_at) DO NOTHING",
        placeholders(20)
    );
    let mut st = conn.prepare_cached(&sql)?;
    let mut v: Vec<&dyn rusqlite::ToSql> = vec![
        &p.strategy_name,
        &p.assets,
        &p.timeframe,
        &p.created_at,
        &p.duration_seconds,
        &p.period_start,
        &p.period_end,
        &p.initial_capital,
        &p.final_equity,
        &p.total_return,
        &p.sharpe,
        &p.sortino,
        &p.max_drawdown,
        &p.win_rate,
        &p.profit_factor,
        &p.n_trades,
        &p.params,
        &p.per_asset,
        &p.equity_curve,
        &p.warnings,
    ];
    let src = source.as_str();
    if schema.portfolio_source {
        v.push(&src);
    }
    if st.execute(v.as_slice())? == 0 {
        return Ok(InsertOutcome::AlreadyExists);
    }
    Ok(InsertOutcome::Created {
        id: conn.last_insert_rowid(),
        latest: false,
    })
}

/// [`apply_portfolio`] in its own `BEGIN IMMEDIATE` transaction.
pub fn insert_portfolio(
    conn: &mut Connection,
    p: &PortfolioBacktest,
    source: Source,
) -> rusqlite::Result<InsertOutcome> {
    let schema = Schema::detect(conn)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = apply_portfolio(&tx, schema, p, source)?;
    tx.commit()?;
    Ok(out)
}

/// A stored row read back, or why it cannot be sent.
pub type ReadRow<T> = (i64, Result<T, rusqlite::Error>);

fn opt_text(row: &Row, i: usize) -> rusqlite::Result<Option<String>> {
    row.get(i)
}

fn result_from_row(row: &Row) -> rusqlite::Result<OptimizationResult> {
    Ok(OptimizationResult {
        strategy_name: row.get(1)?,
        asset: row.get(2)?,
        timeframe: row.get(3)?,
        created_at: row.get(4)?,
        duration_seconds: row.get(5)?,
        grade: row.get(6)?,
        total_score: row.get(7)?,
        oos_sharpe: row.get(8)?,
        consistency: row.get(9)?,
        oos_is_ratio: row.get(10)?,
        dsr: row.get(11)?,
        param_stability: row.get(12)?,
        monte_carlo_pvalue: row.get(13)?,
        mc_underpowered: row.get::<_, Option<i64>>(14)?.unwrap_or(0) != 0,
        n_windows: row.get(15)?,
        n_distinct_combos: row.get(16)?,
        best_params: row.get(17)?,
        wfo_windows: opt_text(row, 18)?,
        monte_carlo_summary: opt_text(row, 19)?,
        validation_summary: opt_text(row, 20)?,
        warnings: opt_text(row, 21)?,
        regime_analysis: opt_text(row, 22)?,
    })
}

fn portfolio_from_row(row: &Row) -> rusqlite::Result<PortfolioBacktest> {
    Ok(PortfolioBacktest {
        strategy_name: row.get(1)?,
        assets: row.get(2)?,
        timeframe: row.get(3)?,
        created_at: row.get(4)?,
        duration_seconds: row.get(5)?,
        period_start: row.get(6)?,
        period_end: row.get(7)?,
        initial_capital: row.get(8)?,
        final_equity: row.get(9)?,
        total_return: row.get(10)?,
        sharpe: row.get(11)?,
        sortino: row.get(12)?,
        max_drawdown: row.get(13)?,
        win_rate: row.get(14)?,
        profit_factor: row.get(15)?,
        n_trades: row.get(16)?,
        params: opt_text(row, 17)?,
        per_asset: opt_text(row, 18)?,
        equity_curve: opt_text(row, 19)?,
        warnings: opt_text(row, 20)?,
    })
}

fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
}

/// Every local row of `optimization_results` (all rows when the `source` column is absent),
/// oldest first. A row that cannot be decoded is returned as an error with its id.
pub fn read_local_results(conn: &Connection) -> rusqlite::Result<Vec<ReadRow<OptimizationResult>>> {
    if !table_exists(conn, "optimization_results")? {
        return Ok(Vec::new());
    }
    let filter = if Schema::detect(conn)?.results_source {
        "WHERE source = 'local'"
    } else {
        ""
    };
    let sql = format!("SELECT id, {RESULT_COLS} FROM optimization_results {filter} ORDER BY id");
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map([], |row| {
        let id: i64 = row.get(0)?;
        Ok((id, result_from_row(row)))
    })?;
    rows.collect()
}

/// The `is_latest` rows of `optimization_results` (of one strategy, or all), with their ids,
/// ordered by strategy, asset, timeframe: what `optimize grades`, `--regrade` and `--apply`
/// read. The same row type ([`OptimizationResult`]) as is inserted and pushed.
pub fn latest_results(
    conn: &Connection,
    strategy: Option<&str>,
) -> rusqlite::Result<Vec<(i64, OptimizationResult)>> {
    let sql = format!(
        "SELECT id, {RESULT_COLS} FROM optimization_results \
         WHERE is_latest = 1 AND (?1 IS NULL OR strategy_name = ?1) \
         ORDER BY strategy_name, asset, timeframe"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params![strategy], |row| {
        Ok((row.get(0)?, result_from_row(row)?))
    })?;
    rows.collect()
}

/// Every local row of `portfolio_backtests`, oldest first.
pub fn read_local_portfolios(
    conn: &Connection,
) -> rusqlite::Result<Vec<ReadRow<PortfolioBacktest>>> {
    if !table_exists(conn, "portfolio_backtests")? {
        return Ok(Vec::new());
    }
    let filter = if Schema::detect(conn)?.portfolio_source {
        "WHERE source = 'local'"
    } else {
        ""
    };
    let sql = format!("SELECT id, {PORTFOLIO_COLS} FROM portfolio_backtests {filter} ORDER BY id");
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map([], |row| {
        let id: i64 = row.get(0)?;
        Ok((id, portfolio_from_row(row)))
    })?;
    rows.collect()
}

/// Row counts `(optimization_results, portfolio_backtests)`.
pub fn counts(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let c = |t: &str| -> rusqlite::Result<i64> {
        if table_exists(conn, t)? {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
        } else {
            Ok(0)
        }
    };
    Ok((c("optimization_results")?, c("portfolio_backtests")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::OptimizationResult;
    use serde_json::json;

    /// The migration, applied by hand here (scalp-store applies it for real).
    pub const SCHEMA: &str = include_str!("../../store/migrations/03-optimization-results/up.sql");

    fn result(created_at: &str) -> OptimizationResult {
        OptimizationResult::from_payload(&json!({
            "strategy_name": "sma_cross", "asset": "BTCUSDT", "timeframe": "1h",
            "created_at": created_at, "grade": "B", "total_score": 71.5,
            "n_windows": 20, "best_params": {"fast": 10},
        }))
        .unwrap()
    }

    fn latest(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT created_at FROM optimization_results WHERE is_latest = 1")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn latest_rule() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        let t1 = "2026-11-21T10:00:00Z";
        assert!(matches!(
            insert_result(&mut c, &result(t1), Source::Server).unwrap(),
            InsertOutcome::Created { latest: true, .. }
        ));
        assert_eq!(
            insert_result(&mut c, &result(t1), Source::Server).unwrap(),
            InsertOutcome::AlreadyExists
        );
        // newer (naive = UTC) moves the flag
        let t2 = "2026-11-21T11:00:00";
        assert!(matches!(
            insert_result(&mut c, &result(t2), Source::Server).unwrap(),
            InsertOutcome::Created { latest: true, .. }
        ));
        // stored in the one spelling (UTC, nanoseconds, Z)
        assert_eq!(latest(&c), vec!["2026-11-21T11:00:00.000000000Z"]);
        // a late-arriving older one (as sent its text sorts later, its instant is earlier) does
        // not steal it
        let t0 = "2026-11-21T10:30:00+01:00";
        assert!(matches!(
            insert_result(&mut c, &result(t0), Source::Server).unwrap(),
            InsertOutcome::Created { latest: false, .. }
        ));
        assert_eq!(latest(&c), vec!["2026-11-21T11:00:00.000000000Z"]);
        assert_eq!(counts(&c).unwrap(), (3, 0));
        // the same instant in another spelling is the same row
        assert_eq!(
            insert_result(&mut c, &result("2026-11-21T12:00:00+01:00"), Source::Server).unwrap(),
            InsertOutcome::AlreadyExists
        );
        // SQL's text order of the column is the order of the instants
        let mut st = c
            .prepare("SELECT created_at FROM optimization_results ORDER BY created_at")
            .unwrap();
        let sql: Vec<String> = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut by_instant = sql.clone();
        by_instant.sort_by_key(|t| crate::payload::parse_created_at(t).unwrap());
        assert_eq!(sql, by_instant);
        assert_eq!(sql[0], "2026-11-21T09:30:00.000000000Z");
    }

    #[test]
    fn works_without_source_column() {
        let mut c = Connection::open_in_memory().unwrap();
        let old = SCHEMA
            .replace("    source              TEXT    NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'server')),\n", "");
        c.execute_batch(&old).unwrap();
        assert_eq!(
            Schema::detect(&c).unwrap(),
            Schema {
                results_source: false,
                portfolio_source: false
            }
        );
        insert_result(&mut c, &result("2026-11-21T10:00:00Z"), Source::Server).unwrap();
        let rows = read_local_results(&c).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.as_ref().unwrap(), &result("2026-11-21T10:00:00Z"));
    }
}
