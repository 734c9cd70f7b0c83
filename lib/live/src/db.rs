//! The live tables (migration 07-live): each executor writes only its own strategy's rows.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use scalp_backtest::Trade;
use scalp_paper::db::{enum_str, side_str};

/// Format of `live_runners.engine_state` / `strategy_state`.
pub const SNAPSHOT_VERSION: i64 = 1;

/// A runner's stored row.
#[derive(Debug, Clone)]
pub struct RunnerRow {
    pub params_hash: String,
    pub capital: f64,
    pub warmup_from: i64,
    pub origin_open_time: i64,
    pub last_open_time: Option<i64>,
    pub snapshot_version: i64,
    pub engine_state: Option<Vec<u8>>,
    pub strategy_state: Option<Vec<u8>>,
    pub fills_cursor: String,
}

pub fn load_runner(conn: &Connection, runner_id: &str) -> rusqlite::Result<Option<RunnerRow>> {
    conn.query_row(
        "SELECT params_hash, capital, warmup_from, origin_open_time, last_open_time, \
         snapshot_version, engine_state, strategy_state, fills_cursor \
         FROM live_runners WHERE runner_id = ?1",
        [runner_id],
        |r| {
            Ok(RunnerRow {
                params_hash: r.get(0)?,
                capital: r.get(1)?,
                warmup_from: r.get(2)?,
                origin_open_time: r.get(3)?,
                last_open_time: r.get(4)?,
                snapshot_version: r.get(5)?,
                engine_state: r.get(6)?,
                strategy_state: r.get(7)?,
                fills_cursor: r.get(8)?,
            })
        },
    )
    .optional()
}

/// A snapshot to write.
pub struct SnapshotRow<'a> {
    pub runner_id: &'a str,
    pub strategy: &'a str,
    pub asset: &'a str,
    pub symbol: &'a str,
    pub timeframe: &'a str,
    pub params_hash: &'a str,
    pub capital: f64,
    pub warmup_from: i64,
    pub origin_open_time: i64,
    pub last_open_time: Option<i64>,
    pub engine_state: Vec<u8>,
    pub strategy_state: Vec<u8>,
    pub fills_cursor: String,
}

/// A closed live trade to insert.
pub struct TradeRow<'a> {
    pub runner_id: &'a str,
    pub seq: u64,
    pub strategy: &'a str,
    pub asset: &'a str,
    pub symbol: &'a str,
    pub trade: &'a Trade,
    pub exchange_funding: Option<f64>,
    pub order_ids: Vec<String>,
}

/// An event to insert.
pub struct EventRow {
    pub time: i64,
    pub asset: Option<String>,
    pub kind: &'static str,
    pub detail: serde_json::Value,
}

/// One event of `strategy` outside a pass (the executor halting on a fatal error before or
/// after its state was opened). Called only by the process holding the strategy's lock.
pub fn record_event(db: &std::path::Path, strategy: &str, e: &EventRow) -> anyhow::Result<()> {
    if !db.exists() {
        anyhow::bail!("{}: no database", db.display());
    }
    let mut conn = scalp_store::open(db)?;
    commit(
        &mut conn,
        strategy,
        &[],
        &[],
        std::slice::from_ref(e),
        &[],
        scalp_core::types::now_ms(),
    )?;
    Ok(())
}

/// Snapshots, trades, events and meta records of one strategy in one transaction.
pub fn commit(
    conn: &mut Connection,
    strategy: &str,
    snaps: &[SnapshotRow<'_>],
    trades: &[TradeRow<'_>],
    events: &[EventRow],
    meta: &[(&str, String)],
    now_ms: i64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO live_trades (runner_id, seq, strategy, asset, symbol, side, entry_time, \
               exit_time, entry_price, exit_price, qty, entries, margin, fees, funding, slippage, \
               gross_pnl, net_pnl, exit_reason, regime, exchange_funding, order_ids, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
               ?18, ?19, ?20, ?21, ?22, ?23) ON CONFLICT (runner_id, seq) DO NOTHING",
        )?;
        for t in trades {
            let tr = t.trade;
            ins.execute(params![
                t.runner_id,
                t.seq as i64,
                t.strategy,
                t.asset,
                t.symbol,
                side_str(tr.side),
                tr.entry_time,
                tr.exit_time,
                tr.entry_price,
                tr.exit_price,
                tr.qty,
                tr.entries,
                tr.margin,
                tr.fees,
                tr.funding,
                tr.slippage,
                tr.gross_pnl,
                tr.net_pnl,
                enum_str(&tr.exit_reason),
                enum_str(&tr.regime),
                t.exchange_funding,
                serde_json::to_string(&t.order_ids).unwrap_or_else(|_| "[]".into()),
                now_ms,
            ])?;
        }
    }
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO live_events (time, created_at, strategy, asset, kind, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for e in events {
            ins.execute(params![
                e.time,
                now_ms,
                strategy,
                e.asset,
                e.kind,
                e.detail.to_string()
            ])?;
        }
    }
    {
        let mut up = tx.prepare_cached(
            "INSERT INTO live_runners (runner_id, strategy, asset, symbol, timeframe, params_hash, \
               capital, warmup_from, origin_open_time, last_open_time, snapshot_version, \
               engine_state, strategy_state, fills_cursor, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
             ON CONFLICT (runner_id) DO UPDATE SET symbol = excluded.symbol, \
               timeframe = excluded.timeframe, params_hash = excluded.params_hash, \
               capital = excluded.capital, warmup_from = excluded.warmup_from, \
               origin_open_time = excluded.origin_open_time, \
               last_open_time = excluded.last_open_time, \
               snapshot_version = excluded.snapshot_version, \
               engine_state = excluded.engine_state, strategy_state = excluded.strategy_state, \
               fills_cursor = excluded.fills_cursor, updated_at = excluded.updated_at",
        )?;
        for s in snaps {
            up.execute(params![
                s.runner_id,
                s.strategy,
                s.asset,
                s.symbol,
                s.timeframe,
                s.params_hash,
                s.capital,
                s.warmup_from,
                s.origin_open_time,
                s.last_open_time,
                SNAPSHOT_VERSION,
                s.engine_state,
                s.strategy_state,
                s.fills_cursor,
                now_ms
            ])?;
        }
    }
    {
        let mut up = tx.prepare_cached(
            "INSERT INTO live_meta (strategy, key, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (strategy, key) DO UPDATE SET value = excluded.value",
        )?;
        for (k, v) in meta {
            up.execute(params![strategy, k, v])?;
        }
    }
    tx.commit()
}

/// `scalpctl reset executor` (applied by the executor at start): deletes the strategy's
/// live_runners rows and live_meta records and records `event`, in one transaction; returns
/// what was deleted (blobs as hex) for the backup file.
pub fn reset_strategy(
    conn: &mut Connection,
    strategy: &str,
    event: &EventRow,
    now_ms: i64,
) -> rusqlite::Result<serde_json::Value> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let hex =
        |b: Option<Vec<u8>>| b.map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>());
    let runners: Vec<serde_json::Value> = {
        let mut q = tx.prepare(
            "SELECT runner_id, asset, symbol, timeframe, params_hash, capital, warmup_from, \
               origin_open_time, last_open_time, snapshot_version, engine_state, strategy_state, \
               fills_cursor, updated_at FROM live_runners WHERE strategy = ?1 ORDER BY runner_id",
        )?;
        q.query_map(params![strategy], |r| {
            Ok(serde_json::json!({
                "runner_id": r.get::<_, String>(0)?,
                "asset": r.get::<_, String>(1)?,
                "symbol": r.get::<_, String>(2)?,
                "timeframe": r.get::<_, String>(3)?,
                "params_hash": r.get::<_, String>(4)?,
                "capital": r.get::<_, f64>(5)?,
                "warmup_from": r.get::<_, i64>(6)?,
                "origin_open_time": r.get::<_, i64>(7)?,
                "last_open_time": r.get::<_, Option<i64>>(8)?,
                "snapshot_version": r.get::<_, i64>(9)?,
                "engine_state_cbor_hex": hex(r.get(10)?),
                "strategy_state_cbor_hex": hex(r.get(11)?),
                "fills_cursor": r.get::<_, String>(12)?,
                "updated_at": r.get::<_, i64>(13)?,
            }))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    let meta: serde_json::Map<String, serde_json::Value> = {
        let mut q =
            tx.prepare("SELECT key, value FROM live_meta WHERE strategy = ?1 ORDER BY key")?;
        q.query_map(params![strategy], |r| {
            Ok((r.get::<_, String>(0)?, serde_json::Value::String(r.get(1)?)))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    tx.execute(
        "DELETE FROM live_runners WHERE strategy = ?1",
        params![strategy],
    )?;
    tx.execute(
        "DELETE FROM live_meta WHERE strategy = ?1",
        params![strategy],
    )?;
    tx.execute(
        "INSERT INTO live_events (time, created_at, strategy, asset, kind, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event.time,
            now_ms,
            strategy,
            event.asset,
            event.kind,
            event.detail.to_string()
        ],
    )?;
    tx.commit()?;
    Ok(serde_json::json!({"live_runners": runners, "live_meta": meta}))
}

pub fn load_meta(conn: &Connection, strategy: &str, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM live_meta WHERE strategy = ?1 AND key = ?2",
        [strategy, key],
        |r| r.get(0),
    )
    .optional()
}

/// One request as `live_orders` records it.
#[derive(Debug, Clone, Default)]
pub struct OrderLog {
    pub asset: Option<String>,
    pub symbol: String,
    pub action: &'static str,
    pub client_oid: Option<String>,
    pub purpose: Option<String>,
    pub side: Option<String>,
    pub order_type: Option<String>,
    pub qty: Option<String>,
    pub price: Option<String>,
    pub reduce_only: Option<bool>,
    pub candle_time: Option<i64>,
}

/// Records a request before it is sent (status `sent`); returns its row id.
pub fn order_sent(
    conn: &Connection,
    strategy: &str,
    o: &OrderLog,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO live_orders (strategy, asset, symbol, action, client_oid, purpose, side, \
           order_type, qty, price, reduce_only, candle_time, sent_at, status) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'sent')",
    )?
    .execute(params![
        strategy,
        o.asset,
        o.symbol,
        o.action,
        o.client_oid,
        o.purpose,
        o.side,
        o.order_type,
        o.qty,
        o.price,
        o.reduce_only,
        o.candle_time,
        now_ms
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Records the answer of request `id`.
pub fn order_answered(
    conn: &Connection,
    id: i64,
    ok: bool,
    order_id: Option<&str>,
    answer: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE live_orders SET status = ?2, order_id = ?3, answer = ?4, answered_at = ?5 \
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        if ok { "ok" } else { "error" },
        order_id,
        answer,
        now_ms
    ])?;
    Ok(())
}

/// Requests of `strategy` still `sent` (their answer was never recorded: a crash).
/// (row id, symbol, action, clientOid) of a request whose answer was never recorded.
pub type Unanswered = (i64, String, String, String);

pub fn unanswered(conn: &Connection, strategy: &str) -> rusqlite::Result<Vec<Unanswered>> {
    let mut st = conn.prepare(
        "SELECT id, symbol, action, COALESCE(client_oid, '') FROM live_orders \
         WHERE strategy = ?1 AND status = 'sent' ORDER BY id",
    )?;
    st.query_map([strategy], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?
    .collect()
}

/// The next `live_trades.seq` of a runner is the engine's; this is the number stored.
pub fn trade_count(conn: &Connection, runner_id: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM live_trades WHERE runner_id = ?1",
        [runner_id],
        |r| r.get(0),
    )
}
