//! Funding-rate history per (exchange, symbol). Written only by scalp-collector (and
//! `optimize fetch-funding` in its local db).

use crate::{FundingRate, StoreError, invalid, sql_err, write_tx};
use rusqlite::{Connection, params};
use scalp_core::Exchange;
use scalp_core::types::fmt_ms;

/// Inserts or updates funding rates (key: funding time) in one transaction; returns the number
/// of rows inserted or changed. A non-finite rate is rejected before anything is written.
pub fn upsert(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
    rates: &[FundingRate],
) -> Result<usize, StoreError> {
    if symbol.is_empty() {
        return Err(invalid(conn, format!("funding {exchange}: empty symbol")));
    }
    if let Some(bad) = rates.iter().find(|r| !r.rate.is_finite()) {
        return Err(invalid(
            conn,
            format!(
                "funding {exchange} {symbol} at {} ({}): non-finite rate {}",
                bad.time,
                fmt_ms(bad.time),
                bad.rate
            ),
        ));
    }
    if rates.is_empty() {
        return Ok(0);
    }
    write_tx(
        conn,
        &format!("funding {exchange} {symbol}: upsert"),
        |conn| {
            let mut st = conn
            .prepare_cached(
                "INSERT INTO funding_rates (exchange, symbol, funding_time, rate) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (exchange, symbol, funding_time) DO UPDATE SET rate = excluded.rate \
                 WHERE rate IS NOT excluded.rate",
            )
            .map_err(sql_err(conn, "funding: prepare upsert"))?;
            let mut n = 0;
            for r in rates {
                n += st
                    .execute(params![exchange.as_str(), symbol, r.time, r.rate])
                    .map_err(|e| {
                        sql_err(
                            conn,
                            format!("funding {exchange} {symbol}: insert {}", fmt_ms(r.time)),
                        )(e)
                    })?;
            }
            Ok(n)
        },
    )
}

/// Funding rates with `from_ms <= time < to_ms`, ascending.
pub fn load(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<FundingRate>, StoreError> {
    conn.prepare_cached(
        "SELECT funding_time, rate FROM funding_rates \
         WHERE exchange = ?1 AND symbol = ?2 AND funding_time >= ?3 AND funding_time < ?4 ORDER BY funding_time",
    )
    .and_then(|mut st| {
        st.query_map(params![exchange.as_str(), symbol, from_ms, to_ms], |r| {
            Ok(FundingRate { time: r.get(0)?, rate: r.get(1)? })
        })?
        .collect()
    })
    .map_err(sql_err(conn, format!("funding {exchange} {symbol}: load")))
}

/// Funding time of the newest stored rate.
pub fn last_time(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(
        "SELECT max(funding_time) FROM funding_rates WHERE exchange = ?1 AND symbol = ?2",
    )
    .and_then(|mut st| st.query_row(params![exchange.as_str(), symbol], |r| r.get(0)))
    .map_err(sql_err(
        conn,
        format!("funding {exchange} {symbol}: last time"),
    ))
}

/// Funding time of the oldest stored rate.
pub fn first_time(
    conn: &Connection,
    exchange: Exchange,
    symbol: &str,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(
        "SELECT min(funding_time) FROM funding_rates WHERE exchange = ?1 AND symbol = ?2",
    )
    .and_then(|mut st| st.query_row(params![exchange.as_str(), symbol], |r| r.get(0)))
    .map_err(sql_err(
        conn,
        format!("funding {exchange} {symbol}: first time"),
    ))
}
