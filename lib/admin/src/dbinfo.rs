//! Database freshness: the latest row of every series, found from the schema itself.
//!
//! A "series table" has a time column (`open_time`, `open_time_ms`, `ts_ms`, `ts`, `time_ms`,
//! `funding_time`) and either a `symbol` column or a foreign key to a table that has one (a
//! normalised `series` table). Its series are grouped by the `exchange`/`symbol`/`timeframe`
//! columns that exist. The database is opened read-only; nothing is written.

use crate::AdminError;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::path::Path;

const TIME_COLS: &[&str] = &[
    "open_time",
    "open_time_ms",
    "ts_ms",
    "time_ms",
    "funding_time",
    "ts",
];
const TF_COLS: &[&str] = &["timeframe", "tf", "interval"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesFreshness {
    pub table: String,
    pub exchange: Option<String>,
    pub symbol: String,
    pub timeframe: Option<String>,
    pub rows: i64,
    /// Latest time value (milliseconds since the epoch).
    pub latest_ms: i64,
    pub latest: String,
    /// `now - latest_ms` (replayed history is old by design).
    pub age_ms: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DbInfo {
    pub path: String,
    pub size_bytes: u64,
    pub wal_bytes: u64,
    pub schema_version: i64,
    pub tables: Vec<(String, i64)>,
    pub series: Vec<SeriesFreshness>,
}

fn columns(c: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(&format!(
        "PRAGMA table_info(\"{}\")",
        table.replace('"', "\"\"")
    ))?;
    st.query_map([], |r| r.get::<_, String>(1))?.collect()
}

fn foreign_keys(c: &Connection, table: &str) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut st = c.prepare(&format!(
        "PRAGMA foreign_key_list(\"{}\")",
        table.replace('"', "\"\"")
    ))?;
    // (table, from, to)
    st.query_map([], |r| {
        Ok((
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?
                .unwrap_or_else(|| "rowid".into()),
        ))
    })?
    .collect()
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Text of a value that may be stored as TEXT or INTEGER (an enum id).
fn text_expr(col: &str) -> String {
    format!("CAST({col} AS TEXT)")
}

/// Opens the database read-only and reports tables, row counts and series freshness.
pub fn inspect(path: &Path, now_ms: i64) -> Result<DbInfo, AdminError> {
    let meta = std::fs::metadata(path).map_err(|e| AdminError::io(path, e))?;
    let wal = std::fs::metadata(wal_path(path))
        .map(|m| m.len())
        .unwrap_or(0);
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| AdminError::sql(path, e))?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| AdminError::sql(path, e))?;
    let sql = |e| AdminError::sql(path, e);
    let schema_version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    let names: Vec<String> = {
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .map_err(sql)?;
        st.query_map([], |r| r.get(0))
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?
    };
    let mut tables = Vec::new();
    let mut series = Vec::new();
    for t in &names {
        let n: i64 = c
            .query_row(&format!("SELECT COUNT(*) FROM {}", q(t)), [], |r| r.get(0))
            .map_err(sql)?;
        tables.push((t.clone(), n));
        let cols = columns(&c, t).map_err(sql)?;
        let Some(time_col) = TIME_COLS.iter().find(|tc| cols.iter().any(|c| c == *tc)) else {
            continue;
        };
        // where do symbol/exchange/timeframe come from: this table or a referenced one
        let (from, prefix, src_cols) = if cols.iter().any(|c| c == "symbol") {
            (q(t), "a".to_string(), cols.clone())
        } else {
            let mut found = None;
            for (rt, fcol, tcol) in foreign_keys(&c, t).map_err(sql)? {
                let rcols = columns(&c, &rt).map_err(sql)?;
                if rcols.iter().any(|c| c == "symbol") {
                    found = Some((
                        format!(
                            "{} a JOIN {} b ON a.{} = b.{}",
                            q(t),
                            q(&rt),
                            q(&fcol),
                            q(&tcol)
                        ),
                        "b".to_string(),
                        rcols,
                    ));
                    break;
                }
            }
            match found {
                Some(f) => f,
                None => continue,
            }
        };
        let from = if prefix == "a" {
            format!("{from} a")
        } else {
            from
        };
        let col = |name: &str| {
            src_cols
                .iter()
                .any(|c| c == name)
                .then(|| format!("{prefix}.{}", q(name)))
        };
        let ex = col("exchange");
        let tf = TF_COLS.iter().find_map(|n| col(n));
        let sym = col("symbol").expect("symbol column");
        let mut group = vec![text_expr(&sym)];
        group.push(
            ex.as_deref()
                .map(text_expr)
                .unwrap_or_else(|| "NULL".into()),
        );
        group.push(
            tf.as_deref()
                .map(text_expr)
                .unwrap_or_else(|| "NULL".into()),
        );
        let query = format!(
            "SELECT {g0}, {g1}, {g2}, COUNT(*), MAX(a.{tc}) FROM {from} GROUP BY 1, 2, 3 ORDER BY 2, 1, 3",
            g0 = group[0],
            g1 = group[1],
            g2 = group[2],
            tc = q(time_col),
        );
        let mut st = c.prepare(&query).map_err(sql)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(sql)?;
        for row in rows {
            let (symbol, exchange, timeframe, count, latest) = row.map_err(sql)?;
            let Some(latest) = latest else { continue };
            // seconds-resolution columns (ts) are scaled to ms
            let latest_ms = if latest.abs() < 100_000_000_000 {
                latest * 1000
            } else {
                latest
            };
            series.push(SeriesFreshness {
                table: t.clone(),
                exchange,
                symbol: symbol.unwrap_or_default(),
                timeframe,
                rows: count,
                latest_ms,
                latest: crate::fmt_ms(latest_ms),
                age_ms: now_ms - latest_ms,
            });
        }
    }
    Ok(DbInfo {
        path: path.display().to_string(),
        size_bytes: meta.len(),
        wal_bytes: wal,
        schema_version,
        tables,
        series,
    })
}

/// `<db>-wal`.
pub fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    s.into()
}
