//! The simulator's tables (migration `05-simulator`): `sim_runners` (identity + snapshot),
//! `sim_trades`, `sim_events`, `sim_meta`. Written only by scalp-simulator, each batch of steps in
//! one transaction together with the snapshots taken after it, so a crash at any moment leaves
//! the trades, events and snapshots of one consistent instant.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use scalp_backtest::Trade;

/// Format of the two snapshot blobs (engine CBOR + strategy state). A row of another version is
/// rebuilt by a deterministic replay.
pub const SNAPSHOT_VERSION: i64 = 1;

/// A `sim_runners` row.
#[derive(Debug, Clone)]
pub struct RunnerRow {
    pub runner_id: String,
    pub epoch: i64,
    pub params_hash: String,
    pub capital: f64,
    pub warmup_from: i64,
    pub origin_open_time: i64,
    pub last_open_time: Option<i64>,
    pub steps: i64,
    pub snapshot_version: i64,
    pub engine_state: Option<Vec<u8>>,
    pub strategy_state: Option<Vec<u8>>,
}

pub fn load_runner(conn: &Connection, id: &str) -> rusqlite::Result<Option<RunnerRow>> {
    conn.query_row(
        "SELECT runner_id, epoch, params_hash, capital, warmup_from, origin_open_time, \
                last_open_time, steps, snapshot_version, engine_state, strategy_state \
         FROM sim_runners WHERE runner_id = ?1",
        [id],
        |r| {
            Ok(RunnerRow {
                runner_id: r.get(0)?,
                epoch: r.get(1)?,
                params_hash: r.get(2)?,
                capital: r.get(3)?,
                warmup_from: r.get(4)?,
                origin_open_time: r.get(5)?,
                last_open_time: r.get(6)?,
                steps: r.get(7)?,
                snapshot_version: r.get(8)?,
                engine_state: r.get(9)?,
                strategy_state: r.get(10)?,
            })
        },
    )
    .optional()
}

/// Counters of an epoch's stored trades: (trades, wins, losses, Σ net, Σ profit, Σ loss).
pub fn trade_stats(
    conn: &Connection,
    id: &str,
    epoch: i64,
) -> rusqlite::Result<(u64, u64, u64, f64, f64, f64)> {
    conn.query_row(
        "SELECT count(*), coalesce(sum(net_pnl > 0), 0), coalesce(sum(net_pnl <= 0), 0), \
                coalesce(sum(net_pnl), 0.0), \
                coalesce(sum(CASE WHEN net_pnl > 0 THEN net_pnl ELSE 0 END), 0.0), \
                coalesce(sum(CASE WHEN net_pnl <= 0 THEN -net_pnl ELSE 0 END), 0.0) \
         FROM sim_trades WHERE runner_id = ?1 AND epoch = ?2",
        params![id, epoch],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )
}

pub fn load_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM sim_meta WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
}

/// A trade to insert.
pub struct TradeRow<'a> {
    pub runner_id: &'a str,
    pub epoch: i64,
    pub seq: u64,
    pub strategy: &'a str,
    pub asset: &'a str,
    pub trade: &'a Trade,
}

/// An event to insert.
pub struct EventRow {
    pub time: i64,
    pub runner_id: Option<String>,
    pub strategy: Option<String>,
    pub asset: Option<String>,
    pub kind: &'static str,
    pub detail: serde_json::Value,
}

/// A runner's row after the batch.
pub struct SnapshotRow<'a> {
    pub runner_id: &'a str,
    pub strategy: &'a str,
    pub asset: &'a str,
    pub exchange: &'a str,
    pub timeframe: &'a str,
    pub epoch: i64,
    pub params: String,
    pub params_hash: &'a str,
    pub capital: f64,
    pub warmup_from: i64,
    pub origin_open_time: i64,
    pub last_open_time: Option<i64>,
    pub steps: i64,
    pub engine_state: Vec<u8>,
    pub strategy_state: Vec<u8>,
}

/// Everything one batch writes, committed at once.
#[derive(Default)]
pub struct Batch<'a> {
    pub trades: Vec<TradeRow<'a>>,
    pub events: Vec<EventRow>,
    pub snapshots: Vec<SnapshotRow<'a>>,
    pub meta: Vec<(&'static str, String)>,
}

impl Batch<'_> {
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty()
            && self.events.is_empty()
            && self.snapshots.is_empty()
            && self.meta.is_empty()
    }
}

/// Commits a batch in one `BEGIN IMMEDIATE` transaction. Returns the ids of the inserted
/// events.
pub fn commit(conn: &mut Connection, b: &Batch<'_>, now_ms: i64) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO sim_trades (runner_id, epoch, seq, strategy, asset, side, entry_time, \
               exit_time, entry_price, exit_price, qty, entries, margin, fees, funding, slippage, \
               gross_pnl, net_pnl, exit_reason, regime, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
               ?18, ?19, ?20, ?21)",
        )?;
        for t in &b.trades {
            let tr = t.trade;
            ins.execute(params![
                t.runner_id,
                t.epoch,
                t.seq as i64,
                t.strategy,
                t.asset,
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
                now_ms,
            ])?;
        }
    }
    let mut ids = Vec::with_capacity(b.events.len());
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO sim_events (time, created_at, runner_id, strategy, asset, kind, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in &b.events {
            ins.execute(params![
                e.time,
                now_ms,
                e.runner_id,
                e.strategy,
                e.asset,
                e.kind,
                e.detail.to_string()
            ])?;
            ids.push(tx.last_insert_rowid());
        }
    }
    {
        let mut up = tx.prepare_cached(
            "INSERT INTO sim_runners (runner_id, strategy, asset, exchange, timeframe, epoch, \
               params, params_hash, capital, warmup_from, origin_open_time, last_open_time, steps, \
               snapshot_version, engine_state, strategy_state, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (runner_id) DO UPDATE SET strategy = excluded.strategy, \
               asset = excluded.asset, exchange = excluded.exchange, \
               timeframe = excluded.timeframe, epoch = excluded.epoch, params = excluded.params, \
               params_hash = excluded.params_hash, capital = excluded.capital, \
               warmup_from = excluded.warmup_from, origin_open_time = excluded.origin_open_time, \
               last_open_time = excluded.last_open_time, steps = excluded.steps, \
               snapshot_version = excluded.snapshot_version, \
               engine_state = excluded.engine_state, strategy_state = excluded.strategy_state, \
               updated_at = excluded.updated_at",
        )?;
        for s in &b.snapshots {
            up.execute(params![
                s.runner_id,
                s.strategy,
                s.asset,
                s.exchange,
                s.timeframe,
                s.epoch,
                s.params,
                s.params_hash,
                s.capital,
                s.warmup_from,
                s.origin_open_time,
                s.last_open_time,
                s.steps,
                SNAPSHOT_VERSION,
                s.engine_state,
                s.strategy_state,
                now_ms,
            ])?;
        }
    }
    {
        let mut up = tx.prepare_cached(
            "INSERT INTO sim_meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        for (k, v) in &b.meta {
            up.execute(params![k, v])?;
        }
    }
    tx.commit()?;
    Ok(ids)
}

pub fn side_str(s: scalp_strategy::Side) -> &'static str {
    match s {
        scalp_strategy::Side::Long => "long",
        scalp_strategy::Side::Short => "short",
    }
}

/// The serde name of a unit enum (`stop_loss`, `TRENDING_UP`).
pub fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
