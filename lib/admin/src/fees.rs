//! `scalpctl audit-fees [--days N] [--json]`: the fees the exchange actually charged on the
//! closed live trades against what the backtest's fee model charges for the same trades, per
//! symbol (docs/EXECUTOR.md "Fee audit"). Read-only.
//!
//! The model, per trade (docs/BACKTEST.md "Fees"): entry notional × the entry's rate + exit
//! notional × the exit's rate, notional = qty × price. The entry is a maker fill when its orders
//! (the trade's exchange order ids, looked up in `live_orders`) were resting levels and none was
//! a market entry; otherwise taker. The exit is a maker fill for a take-profit (a reduce-only
//! limit), taker for every other exit (market close, stop-loss plan). The rates are the
//! runner's as the executor resolves them (`[backtest]` with the asset's overrides).

use crate::AdminError;
use rusqlite::Connection;
use scalp_core::config::Config;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeeRow {
    pub symbol: String,
    pub trades: u64,
    /// Σ entry + exit notional (USDT).
    pub notional: f64,
    /// What the exchange charged (USDT).
    pub charged: f64,
    /// What the backtest's model charges for the same fills (USDT).
    pub model: f64,
    /// charged − model (USDT).
    pub difference: f64,
    /// charged / notional, in basis points.
    pub charged_bps: f64,
    pub model_bps: f64,
    /// Trades whose entry was modelled as maker.
    pub maker_entries: u64,
    /// Trades that exited at a take-profit (maker).
    pub maker_exits: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeeAudit {
    pub days: Option<u32>,
    pub since_ms: Option<i64>,
    pub rows: Vec<FeeRow>,
    pub total: FeeRow,
    pub note: Option<String>,
}

impl FeeAudit {
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if let Some(n) = &self.note {
            let _ = writeln!(s, "{n}");
            return s;
        }
        let _ = writeln!(
            s,
            "fees charged vs the backtest model, closed live trades{}",
            self.days
                .map_or(String::new(), |d| format!(" of the last {d} days"))
        );
        let _ = writeln!(
            s,
            "{:<14} {:>6} {:>14} {:>11} {:>11} {:>10} {:>8} {:>8}",
            "symbol", "trades", "notional", "charged", "model", "diff", "bps", "model"
        );
        for r in self.rows.iter().chain(std::iter::once(&self.total)) {
            let _ = writeln!(
                s,
                "{:<14} {:>6} {:>14.2} {:>11.4} {:>11.4} {:>+10.4} {:>8.3} {:>8.3}",
                r.symbol,
                r.trades,
                r.notional,
                r.charged,
                r.model,
                r.difference,
                r.charged_bps,
                r.model_bps
            );
        }
        s
    }
}

fn finish(r: &mut FeeRow) {
    r.difference = r.charged - r.model;
    if r.notional > 0.0 {
        r.charged_bps = r.charged / r.notional * 1e4;
        r.model_bps = r.model / r.notional * 1e4;
    }
}

/// (maker, taker) of each runner id the config still plans, for the rates of the model.
fn rates(cfg: &Config) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    for s in cfg.strategies.strategies.keys() {
        if let Ok(ps) = scalp_live::exec::plans(cfg, s) {
            for p in ps {
                out.insert(p.id, (p.settings.maker_fee, p.settings.taker_fee));
            }
        }
    }
    out
}

pub fn audit(cfg: &Config, db: &Path, days: Option<u32>) -> Result<FeeAudit, AdminError> {
    let c = scalp_store::open_readonly(db).map_err(|e| AdminError::Other(e.to_string()))?;
    let since = days.map(|d| scalp_core::types::now_ms() - d as i64 * 86_400_000);
    let default = (cfg.main.backtest.maker_fee, cfg.main.backtest.taker_fee);
    audit_conn(&rates(cfg), default, &c, db, days, since)
}

/// [`audit`] with the rates given: (maker, taker) per runner id, `default` for the others.
pub fn audit_conn(
    rates: &BTreeMap<String, (f64, f64)>,
    default: (f64, f64),
    c: &Connection,
    db: &Path,
    days: Option<u32>,
    since_ms: Option<i64>,
) -> Result<FeeAudit, AdminError> {
    let sql = |e| AdminError::sql(db, e);
    let exists: bool = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'live_trades'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql)?
        > 0;
    let empty = |note: &str| FeeAudit {
        days,
        since_ms,
        rows: Vec::new(),
        total: FeeRow {
            symbol: "total".into(),
            ..FeeRow::default()
        },
        note: Some(note.to_string()),
    };
    if !exists {
        return Ok(empty(crate::trades::NO_LIVE_TRADES));
    }
    let mut purpose = c
        .prepare_cached(
            "SELECT purpose FROM live_orders WHERE strategy = ?1 AND order_id = ?2 AND status = 'ok' LIMIT 1",
        )
        .map_err(sql)?;
    let mut q = c
        .prepare(
            "SELECT runner_id, strategy, symbol, qty, entry_price, exit_price, fees, exit_reason, \
             order_ids FROM live_trades WHERE exit_time >= ?1 ORDER BY symbol, exit_time",
        )
        .map_err(sql)?;
    type Row = (String, String, String, f64, f64, f64, f64, String, String);
    let trades: Vec<Row> = q
        .query_map([since_ms.unwrap_or(i64::MIN)], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    if trades.is_empty() {
        return Ok(empty("no closed live trades in the period"));
    }
    let mut by: BTreeMap<String, FeeRow> = BTreeMap::new();
    for (runner, strategy, symbol, qty, entry, exit, fees, reason, ids) in trades {
        let (maker, taker) = rates.get(&runner).copied().unwrap_or(default);
        let ids: Vec<String> = serde_json::from_str(&ids).unwrap_or_default();
        let (mut levels, mut markets) = (0, 0);
        for id in &ids {
            let p: Option<String> = purpose
                .query_row([&strategy, id], |r| r.get(0))
                .ok()
                .flatten();
            match p.as_deref() {
                Some(p) if p.starts_with("level:") => levels += 1,
                Some("entry") => markets += 1,
                _ => {}
            }
        }
        let maker_entry = levels > 0 && markets == 0;
        let maker_exit = reason == "take_profit";
        let model = qty * entry * if maker_entry { maker } else { taker }
            + qty * exit * if maker_exit { maker } else { taker };
        let r = by.entry(symbol.clone()).or_insert_with(|| FeeRow {
            symbol,
            ..FeeRow::default()
        });
        r.trades += 1;
        r.notional += qty * (entry + exit);
        r.charged += fees;
        r.model += model;
        r.maker_entries += maker_entry as u64;
        r.maker_exits += maker_exit as u64;
    }
    let mut total = FeeRow {
        symbol: "total".into(),
        ..FeeRow::default()
    };
    let mut rows: Vec<FeeRow> = by.into_values().collect();
    for r in &mut rows {
        finish(r);
        total.trades += r.trades;
        total.notional += r.notional;
        total.charged += r.charged;
        total.model += r.model;
        total.maker_entries += r.maker_entries;
        total.maker_exits += r.maker_exits;
    }
    finish(&mut total);
    Ok(FeeAudit {
        days,
        since_ms,
        rows,
        total,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charged_against_the_model_per_symbol() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.db");
        let c = scalp_store::open(&p).unwrap();
        for (oid, purpose) in [
            ("o1", "entry"),
            ("o2", "close:signal"),
            ("o3", "level:0"),
            ("o4", "level:1"),
        ] {
            c.execute(
                "INSERT INTO live_orders (strategy, symbol, action, client_oid, purpose, sent_at, status, order_id) \
                 VALUES ('s', 'X', 'place', ?1, ?2, 0, 'ok', ?1)",
                [oid, purpose],
            )
            .unwrap();
        }
        let trade = |seq: i64,
                     sym: &str,
                     qty: f64,
                     e: f64,
                     x: f64,
                     fees: f64,
                     reason: &str,
                     ids: &str| {
            c.execute(
                "INSERT INTO live_trades (runner_id, seq, strategy, asset, symbol, side, entry_time, \
                   exit_time, entry_price, exit_price, qty, entries, margin, fees, funding, slippage, \
                   gross_pnl, net_pnl, exit_reason, regime, exchange_funding, order_ids, created_at) \
                 VALUES ('s:A', ?1, 's', 'A', ?2, 'long', 0, 1000, ?3, ?4, ?5, 1, 1.0, ?6, 0, 0, 0, 0, ?7, 'range', NULL, ?8, 0)",
                rusqlite::params![seq, sym, e, x, qty, fees, reason, ids],
            )
            .unwrap();
        };
        // market entry, market close: taker both ways
        trade(
            1,
            "BTCUSDT",
            0.1,
            30000.0,
            31000.0,
            3.70,
            "signal",
            r#"["o1","o2"]"#,
        );
        // two resting levels, take-profit: maker both ways
        trade(
            2,
            "ETHUSDT",
            0.2,
            100.0,
            110.0,
            0.0084,
            "take_profit",
            r#"["o3","o4","tp"]"#,
        );
        let rates = BTreeMap::from([("s:A".to_string(), (0.0002, 0.0006))]);
        let a = audit_conn(&rates, (0.0, 0.0), &c, &p, None, None).unwrap();
        assert_eq!(a.rows.len(), 2);
        let btc = &a.rows[0];
        assert_eq!(btc.symbol, "BTCUSDT");
        // 0.1 × 30000 × 0.0006 + 0.1 × 31000 × 0.0006 = 1.8 + 1.86
        assert!((btc.model - 3.66).abs() < 1e-9, "{btc:?}");
        assert!((btc.difference - 0.04).abs() < 1e-9);
        assert_eq!((btc.maker_entries, btc.maker_exits), (0, 0));
        let eth = &a.rows[1];
        // 0.2 × 100 × 0.0002 + 0.2 × 110 × 0.0002 = 0.004 + 0.0044
        assert!((eth.model - 0.0084).abs() < 1e-12, "{eth:?}");
        assert!(eth.difference.abs() < 1e-12);
        assert_eq!((eth.maker_entries, eth.maker_exits), (1, 1));
        assert!((eth.model_bps - 2.0).abs() < 1e-9);
        assert_eq!(a.total.trades, 2);
        assert!(a.to_text().contains("BTCUSDT"));
        // a period without trades
        let none = audit_conn(&rates, (0.0, 0.0), &c, &p, Some(1), Some(5000)).unwrap();
        assert!(none.note.is_some() && none.rows.is_empty());
    }
}
