//! Open-interest snapshots per (exchange, symbol): `oi` in the base coin, optional `oi_value` in
//! the quote coin. Written only by scalp-collector (and `optimize fetch-oi` in its local db).

use crate::{OpenInterest, StoreError, invalid, sql_err, write_tx};
use rusqlite::{Connection, params};
use scalp_core::Exchange;
use scalp_core::types::fmt_ms;

/// Inserts or updates snapshots (key: time) in one transaction; an existing `oi_value` is kept.
/// Returns the number of rows inserted or changed. Rejects non-finite or negative `oi`.
pub fn upsert(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
    rows: &[OpenInterest],
) -> Result<usize, StoreError> {
    let with: Vec<(OpenInterest, Option<f64>)> = rows.iter().map(|r| (*r, None)).collect();
    upsert_with_value(conn, exchange, symbol, &with)
}

/// Like [`upsert`], also storing `oi_value` (quote coin) when `Some` (a `None` keeps the stored
/// value).
pub fn upsert_with_value(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
    rows: &[(OpenInterest, Option<f64>)],
) -> Result<usize, StoreError> {
    if symbol.is_empty() {
        return Err(invalid(
            conn,
            format!("open interest {exchange}: empty symbol"),
        ));
    }
    for (r, value) in rows {
        let bad_value = value.is_some_and(|v| !v.is_finite() || v < 0.0);
        if !r.oi.is_finite() || r.oi < 0.0 || bad_value {
            return Err(invalid(
                conn,
                format!(
                    "open interest {exchange} {symbol} at {} ({}): invalid oi {} / oi_value {:?}",
                    r.time,
                    fmt_ms(r.time),
                    r.oi,
                    value
                ),
            ));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    write_tx(
        conn,
        &format!("open interest {exchange} {symbol}: upsert"),
        |conn| {
            let mut st = conn
            .prepare_cached(
                "INSERT INTO open_interest (exchange, symbol, ts, oi, oi_value) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (exchange, symbol, ts) DO UPDATE SET \
                   oi = excluded.oi, oi_value = coalesce(excluded.oi_value, oi_value) \
                 WHERE oi IS NOT excluded.oi OR (excluded.oi_value IS NOT NULL AND oi_value IS NOT excluded.oi_value)",
            )
            .map_err(sql_err(conn, "open interest: prepare upsert"))?;
            let mut n = 0;
            for (r, value) in rows {
                n += st
                    .execute(params![exchange.as_str(), symbol, r.time, r.oi, value])
                    .map_err(|e| {
                        sql_err(
                            conn,
                            format!(
                                "open interest {exchange} {symbol}: insert {}",
                                fmt_ms(r.time)
                            ),
                        )(e)
                    })?;
            }
            Ok(n)
        },
    )
}

/// Snapshots with `from_ms <= time < to_ms`, ascending.
pub fn load(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<OpenInterest>, StoreError> {
    Ok(load_with_value(conn, exchange, symbol, from_ms, to_ms)?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// Like [`load`], with the stored `oi_value` (quote coin) if any.
pub fn load_with_value(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(OpenInterest, Option<f64>)>, StoreError> {
    conn.prepare_cached(
        "SELECT ts, oi, oi_value FROM open_interest \
         WHERE exchange = ?1 AND symbol = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts",
    )
    .and_then(|mut st| {
        st.query_map(params![exchange.as_str(), symbol, from_ms, to_ms], |r| {
            Ok((
                OpenInterest {
                    time: r.get(0)?,
                    oi: r.get(1)?,
                },
                r.get(2)?,
            ))
        })?
        .collect()
    })
    .map_err(sql_err(
        conn,
        format!("open interest {exchange} {symbol}: load"),
    ))
}

/// Time of the newest stored snapshot.
pub fn last_time(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT max(ts) FROM open_interest WHERE exchange = ?1 AND symbol = ?2")
        .and_then(|mut st| st.query_row(params![exchange.as_str(), symbol], |r| r.get(0)))
        .map_err(sql_err(
            conn,
            format!("open interest {exchange} {symbol}: last time"),
        ))
}

/// Time of the oldest stored snapshot.
pub fn first_time(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached("SELECT min(ts) FROM open_interest WHERE exchange = ?1 AND symbol = ?2")
        .and_then(|mut st| st.query_row(params![exchange.as_str(), symbol], |r| r.get(0)))
        .map_err(sql_err(
            conn,
            format!("open interest {exchange} {symbol}: first time"),
        ))
}
