//! Closed candles, keyed by (exchange, symbol, timeframe, open time). Written only by
//! scalp-collector (and `optimize fetch-history` in its local db).
//!
//! Storage (migration 01, docs/STORAGE.md): a `series` row per (exchange, symbol, timeframe)
//! holding the fixed-point scales, and a WITHOUT ROWID `candles(series_id, open_time, o,h,l,c,v)`
//! table; values are exact fixed-point integers where possible (see `codec`).

use crate::codec::{self, MAX_SCALE};
use crate::{
    SeriesInfo, SeriesKey, StoreError, invalid, parse_exchange, parse_timeframe, sql_err, write_tx,
};
use rusqlite::{Connection, OptionalExtension, params};
use scalp_core::Candle;
use scalp_core::types::fmt_ms;

/// (id, price_scale, volume_scale) of a series, if it exists.
fn find_series(conn: &Connection, key: &SeriesKey) -> Result<Option<(i64, u32, u32)>, StoreError> {
    conn.prepare_cached(
        "SELECT id, price_scale, volume_scale FROM series WHERE exchange = ?1 AND symbol = ?2 AND timeframe = ?3",
    )
    .and_then(|mut st| {
        st.query_row(params![key.exchange.as_str(), key.symbol, key.timeframe.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
    })
    .map_err(sql_err(conn, format!("look up series {key}")))
}

fn check_input(conn: &Connection, key: &SeriesKey, candles: &[Candle]) -> Result<(), StoreError> {
    if key.symbol.is_empty() {
        return Err(invalid(conn, format!("candles {key}: empty symbol")));
    }
    let tf = key.timeframe;
    for c in candles {
        if tf.align(c.open_time) != c.open_time {
            return Err(invalid(
                conn,
                format!(
                    "candles {key}: open_time {} ({}) is not aligned to {tf}",
                    c.open_time,
                    fmt_ms(c.open_time)
                ),
            ));
        }
        if let Err(reason) = c.validate() {
            return Err(invalid(
                conn,
                format!(
                    "candles {key}: candle at {} ({}): {reason}",
                    c.open_time,
                    fmt_ms(c.open_time)
                ),
            ));
        }
    }
    Ok(())
}

/// Scale wanted by a set of values: the largest of their smallest exact scales (values that are
/// exact at no scale ≤ 12 are ignored: they are stored as REAL anyway).
fn wanted_scale(values: impl Iterator<Item = f64>) -> u32 {
    values
        .filter_map(codec::decimals)
        .max()
        .unwrap_or(0)
        .min(MAX_SCALE)
}

/// Raises the stored scale of `columns` from `current` towards `wanted` if the existing integers
/// stay exact; returns the new scale.
fn grow_scale(
    conn: &Connection,
    key: &SeriesKey,
    series_id: i64,
    columns: &[&str],
    scale_column: &str,
    current: u32,
    wanted: u32,
) -> Result<u32, StoreError> {
    if wanted <= current {
        return Ok(current);
    }
    let max_expr = columns
        .iter()
        .map(|c| format!("coalesce(max(abs(CASE typeof({c}) WHEN 'integer' THEN {c} END)), 0)"))
        .collect::<Vec<_>>()
        .join(", ");
    let max_abs: i64 = conn
        .query_row(
            &format!("SELECT max({max_expr}, 0) FROM candles WHERE series_id = ?1"),
            [series_id],
            |r| r.get(0),
        )
        .map_err(sql_err(conn, format!("candles {key}: scan for rescale")))?;
    let inc = codec::max_safe_increase(max_abs, wanted - current);
    if inc == 0 {
        return Ok(current);
    }
    let factor = 10i64.pow(inc);
    let sets = columns
        .iter()
        .map(|c| format!("{c} = CASE typeof({c}) WHEN 'integer' THEN {c} * {factor} ELSE {c} END"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.execute(
        &format!("UPDATE candles SET {sets} WHERE series_id = ?1"),
        [series_id],
    )
    .map_err(sql_err(
        conn,
        format!("candles {key}: rescale {scale_column}"),
    ))?;
    let new = current + inc;
    conn.execute(
        &format!("UPDATE series SET {scale_column} = ?1 WHERE id = ?2"),
        params![new, series_id],
    )
    .map_err(sql_err(conn, format!("candles {key}: set {scale_column}")))?;
    Ok(new)
}

/// Inserts or updates `candles` of one series in one transaction (or savepoint, if the caller
/// is in a transaction). Returns the number of rows inserted or changed (re-sending identical
/// candles returns 0). Rejects, before writing anything, a candle whose `open_time` is not
/// aligned to the timeframe or that fails `Candle::validate` (non-finite, non-positive low,
/// negative volume, inconsistent OHLC); the error names the series and the time.
pub fn upsert(conn: &Connection, key: &SeriesKey, candles: &[Candle]) -> Result<usize, StoreError> {
    check_input(conn, key, candles)?;
    if candles.is_empty() {
        return Ok(0);
    }
    write_tx(conn, &format!("candles {key}: upsert"), |conn| {
        conn.prepare_cached(
            "INSERT INTO series (exchange, symbol, timeframe, tf_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (exchange, symbol, timeframe) DO NOTHING",
        )
        .and_then(|mut st| {
            st.execute(params![
                key.exchange.as_str(),
                key.symbol,
                key.timeframe.as_str(),
                key.timeframe.ms()
            ])
        })
        .map_err(sql_err(conn, format!("candles {key}: create series")))?;
        let (id, ps, vs) = find_series(conn, key)?
            .ok_or_else(|| invalid(conn, format!("candles {key}: series row vanished")))?;
        let want_p = wanted_scale(
            candles
                .iter()
                .flat_map(|c| [c.open, c.high, c.low, c.close]),
        );
        let want_v = wanted_scale(candles.iter().map(|c| c.volume));
        let ps = grow_scale(
            conn,
            key,
            id,
            &["o", "h", "l", "c"],
            "price_scale",
            ps,
            want_p,
        )?;
        let vs = grow_scale(conn, key, id, &["v"], "volume_scale", vs, want_v)?;

        let mut st = conn
            .prepare_cached(
                "INSERT INTO candles (series_id, open_time, o, h, l, c, v) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (series_id, open_time) DO UPDATE SET \
                   o = excluded.o, h = excluded.h, l = excluded.l, c = excluded.c, v = excluded.v \
                 WHERE o IS NOT excluded.o OR typeof(o) <> typeof(excluded.o) \
                    OR h IS NOT excluded.h OR typeof(h) <> typeof(excluded.h) \
                    OR l IS NOT excluded.l OR typeof(l) <> typeof(excluded.l) \
                    OR c IS NOT excluded.c OR typeof(c) <> typeof(excluded.c) \
                    OR v IS NOT excluded.v OR typeof(v) <> typeof(excluded.v)",
            )
            .map_err(sql_err(conn, format!("candles {key}: prepare insert")))?;
        let mut changed = 0usize;
        for c in candles {
            changed += st
                .execute(params![
                    id,
                    c.open_time,
                    codec::encode(c.open, ps),
                    codec::encode(c.high, ps),
                    codec::encode(c.low, ps),
                    codec::encode(c.close, ps),
                    codec::encode(c.volume, vs),
                ])
                .map_err(|e| {
                    sql_err(
                        conn,
                        format!("candles {key}: insert {}", fmt_ms(c.open_time)),
                    )(e)
                })?;
        }
        Ok(changed)
    })
}

/// Candles with `from_ms <= open_time < to_ms`, ascending. Unknown series → empty.
pub fn load(
    conn: &Connection,
    key: &SeriesKey,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Candle>, StoreError> {
    load_limit(conn, key, from_ms, to_ms, usize::MAX)
}

/// At most `limit` candles with `from_ms <= open_time < to_ms`: the oldest of the range,
/// ascending. Unknown series → empty.
pub fn load_limit(
    conn: &Connection,
    key: &SeriesKey,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<Candle>, StoreError> {
    let Some(series) = find_series(conn, key)? else {
        return Ok(Vec::new());
    };
    query_decoded(
        conn,
        key,
        series,
        "SELECT open_time, o, h, l, c, v FROM candles \
         WHERE series_id = ?1 AND open_time >= ?2 AND open_time < ?3 ORDER BY open_time LIMIT ?4",
        params![
            series.0,
            from_ms,
            to_ms,
            limit.min(i64::MAX as usize) as i64
        ],
    )
}

/// The newest `n` candles with `open_time < before_ms` (`i64::MAX`: the newest of the series),
/// ascending. Unknown series → empty.
pub fn load_tail(
    conn: &Connection,
    key: &SeriesKey,
    before_ms: i64,
    n: usize,
) -> Result<Vec<Candle>, StoreError> {
    let Some(series) = find_series(conn, key)? else {
        return Ok(Vec::new());
    };
    let mut out = query_decoded(
        conn,
        key,
        series,
        "SELECT open_time, o, h, l, c, v FROM candles \
         WHERE series_id = ?1 AND open_time < ?2 ORDER BY open_time DESC LIMIT ?3",
        params![series.0, before_ms, n.min(i64::MAX as usize) as i64],
    )?;
    out.reverse();
    Ok(out)
}

/// Runs a candle query (columns open_time, o, h, l, c, v) and decodes its rows.
fn query_decoded(
    conn: &Connection,
    key: &SeriesKey,
    (_, ps, vs): (i64, u32, u32),
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Candle>, StoreError> {
    let mut st = conn
        .prepare_cached(sql)
        .map_err(sql_err(conn, format!("candles {key}: prepare load")))?;
    let mut rows = st
        .query(args)
        .map_err(sql_err(conn, format!("candles {key}: load")))?;
    // Per-row errors are built lazily (formatting them eagerly would dominate the scan).
    let load_err = |e: rusqlite::Error| sql_err(conn, format!("candles {key}: load"))(e);
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(load_err)? {
        let open_time: i64 = r.get(0).map_err(load_err)?;
        let mut vals = [0f64; 5];
        for (i, slot) in vals.iter_mut().enumerate() {
            let raw = r.get_ref(i + 1).map_err(load_err)?;
            let scale = if i == 4 { vs } else { ps };
            *slot = codec::decode(raw, scale).map_err(|e| {
                invalid(
                    conn,
                    format!(
                        "candles {key} at {}: column {}: {e}",
                        fmt_ms(open_time),
                        i + 1
                    ),
                )
            })?;
        }
        let [open, high, low, close, volume] = vals;
        out.push(Candle {
            open_time,
            open,
            high,
            low,
            close,
            volume,
        });
    }
    Ok(out)
}

fn scalar_for_series(
    conn: &Connection,
    key: &SeriesKey,
    sql: &str,
    what: &str,
) -> Result<Option<i64>, StoreError> {
    let Some((id, _, _)) = find_series(conn, key)? else {
        return Ok(None);
    };
    conn.prepare_cached(sql)
        .and_then(|mut st| st.query_row([id], |r| r.get::<_, Option<i64>>(0)))
        .map_err(sql_err(conn, format!("candles {key}: {what}")))
}

/// Open time of the newest stored candle.
pub fn last_open_time(conn: &Connection, key: &SeriesKey) -> Result<Option<i64>, StoreError> {
    scalar_for_series(
        conn,
        key,
        "SELECT max(open_time) FROM candles WHERE series_id = ?1",
        "last open time",
    )
}

/// Open time of the oldest stored candle.
pub fn first_open_time(conn: &Connection, key: &SeriesKey) -> Result<Option<i64>, StoreError> {
    scalar_for_series(
        conn,
        key,
        "SELECT min(open_time) FROM candles WHERE series_id = ?1",
        "first open time",
    )
}

/// Number of stored candles of the series.
pub fn count(conn: &Connection, key: &SeriesKey) -> Result<u64, StoreError> {
    Ok(scalar_for_series(
        conn,
        key,
        "SELECT count(*) FROM candles WHERE series_id = ?1",
        "count",
    )?
    .unwrap_or(0) as u64)
}

/// Missing open-time ranges `[start, end)` inside `[from_ms, to_ms)`: every aligned open time `t`
/// with `from_ms <= t < to_ms` that has no candle belongs to exactly one returned range; `start`
/// and `end` are aligned, ranges are ascending and non-adjacent. A range holding one candle per
/// slot is recognised by a `count(*)` and returns at once; otherwise interior gaps are computed
/// in SQL with `LAG` over the primary-key order (one index range scan, no sort), the leading and
/// trailing ones from two index seeks. An unknown series is one gap over the range.
pub fn gaps(
    conn: &Connection,
    key: &SeriesKey,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let tf = key.timeframe.ms();
    // First aligned open time >= from, first aligned open time >= to.
    // (Clamped to ±2^60 ms so the arithmetic cannot overflow for i64::MIN/MAX bounds.)
    let ceil = |t: i64| -> i64 {
        let t = t.clamp(-(1 << 60), 1 << 60);
        -(-t).div_euclid(tf) * tf
    };
    let (a, b) = (ceil(from_ms), ceil(to_ms));
    if a >= b {
        return Ok(Vec::new());
    }
    let Some((id, _, _)) = find_series(conn, key)? else {
        return Ok(vec![(a, b)]);
    };
    let what = format!("candles {key}: gaps");
    // Common case first: a complete range has exactly one candle per slot (a COUNT over the
    // primary-key range is several times cheaper than the window scan).
    let stored: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM candles WHERE series_id = ?1 AND open_time >= ?2 AND open_time < ?3",
        )
        .and_then(|mut st| st.query_row(params![id, a, b], |r| r.get(0)))
        .map_err(sql_err(conn, what.clone()))?;
    if stored == (b - a) / tf {
        return Ok(Vec::new());
    }
    // Interior gaps: LAG over the primary-key order (index range scan, no sort).
    let mut out: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT prev + ?4, ot FROM ( \
                 SELECT open_time AS ot, LAG(open_time) OVER (ORDER BY open_time) AS prev \
                 FROM candles WHERE series_id = ?1 AND open_time >= ?2 AND open_time < ?3) \
             WHERE ot - prev > ?4",
        )
        .and_then(|mut st| {
            st.query_map(params![id, a, b, tf], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(sql_err(conn, what.clone()))?;
    // Leading and trailing gaps from the first/last candle inside the range (two index seeks).
    let edge = |sql: &str| -> Result<Option<i64>, StoreError> {
        conn.prepare_cached(sql)
            .and_then(|mut st| st.query_row(params![id, a, b], |r| r.get(0)).optional())
            .map_err(sql_err(conn, what.clone()))
    };
    let first = edge(
        "SELECT open_time FROM candles WHERE series_id = ?1 AND open_time >= ?2 AND open_time < ?3 \
         ORDER BY open_time LIMIT 1",
    )?;
    let last = edge(
        "SELECT open_time FROM candles WHERE series_id = ?1 AND open_time >= ?2 AND open_time < ?3 \
         ORDER BY open_time DESC LIMIT 1",
    )?;
    match (first, last) {
        (Some(first), Some(last)) => {
            if first > a {
                out.insert(0, (a, first));
            }
            if last + tf < b {
                out.push((last + tf, b));
            }
        }
        _ => out = vec![(a, b)],
    }
    Ok(out)
}

/// Every stored series with its candle count and first/last open time, ordered by exchange,
/// symbol, timeframe length.
pub fn series(conn: &Connection) -> Result<Vec<SeriesInfo>, StoreError> {
    let mut st = conn
        .prepare_cached(
            "SELECT exchange, symbol, timeframe, \
                    (SELECT count(*) FROM candles WHERE series_id = s.id), \
                    (SELECT min(open_time) FROM candles WHERE series_id = s.id), \
                    (SELECT max(open_time) FROM candles WHERE series_id = s.id) \
             FROM series s ORDER BY exchange, symbol, tf_ms",
        )
        .map_err(sql_err(conn, "list series"))?;
    type Row = (String, String, String, i64, Option<i64>, Option<i64>);
    let rows: Vec<Row> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(sql_err(conn, "list series"))?;
    rows.into_iter()
        .map(|(ex, symbol, tf, count, first, last)| {
            Ok(SeriesInfo {
                exchange: parse_exchange(conn, &ex)?,
                symbol,
                timeframe: parse_timeframe(conn, &tf)?,
                count: count as u64,
                first,
                last,
            })
        })
        .collect()
}
