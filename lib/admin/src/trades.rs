//! `scalpctl trades`: closed trades from the database, opened read-only
//! (`scalp_store::open_readonly`).
//!
//! - `paper`: table `sim_trades` (writer scalp-simulator). By default only the current epoch of
//!   each runner (its `sim_runners.epoch`; the newest epoch in `sim_trades` for a runner without
//!   a `sim_runners` row); `all_epochs` keeps the trades from before resets.
//! - `live`: table `live_trades` (writers: the scalp-executor@<strategy> instances). In a
//!   database from before the live tables, or where no executor has sent a request yet (empty
//!   `live_orders`), the answer is an empty list with a note, not an error.
//!
//! Filters: strategy, asset, `since` (on the exit time: trades closed at or after it). Newest
//! first (exit time, then runner, epoch, seq descending), `limit` rows.

use crate::{AdminError, fmt_ms};
use rusqlite::Connection;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Where the trades come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeSource {
    Paper,
    Live,
}

impl TradeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeSource::Paper => "paper",
            TradeSource::Live => "live",
        }
    }
    fn table(self) -> &'static str {
        match self {
            TradeSource::Paper => "sim_trades",
            TradeSource::Live => "live_trades",
        }
    }
}

/// The message when `live_trades` does not exist yet, or no executor ever sent a request
/// (`live_orders` is empty).
pub const NO_LIVE_TRADES: &str = "no live trades: the executor has not run on this database";

#[derive(Debug, Clone, PartialEq)]
pub struct TradeQuery {
    pub source: TradeSource,
    pub strategy: Option<String>,
    pub asset: Option<String>,
    /// Milliseconds since the epoch: trades whose exit time is at or after it.
    pub since_ms: Option<i64>,
    /// ≥ 1.
    pub limit: u32,
    /// Paper only: also the epochs before the runners' last reset.
    pub all_epochs: bool,
}

/// One closed trade (times in ms; rendered as RFC 3339 UTC in JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub source: TradeSource,
    pub runner_id: String,
    pub epoch: i64,
    pub seq: i64,
    pub strategy: String,
    pub asset: String,
    pub side: String,
    pub entry_time: i64,
    pub exit_time: i64,
    pub entry_price: f64,
    pub exit_price: f64,
    pub qty: f64,
    pub entries: i64,
    pub fees: f64,
    pub funding: f64,
    pub slippage: f64,
    pub gross_pnl: f64,
    pub net_pnl: f64,
    pub exit_reason: String,
    pub regime: String,
}

/// The JSON form of a trade: the fields of [`Trade`], times as ISO 8601 UTC (`…Z`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TradeJson {
    pub strategy: String,
    pub asset: String,
    pub side: String,
    pub entry_time: String,
    pub exit_time: String,
    pub entry_price: f64,
    pub exit_price: f64,
    pub qty: f64,
    pub fees: f64,
    pub funding: f64,
    pub net_pnl: f64,
    pub exit_reason: String,
    pub runner_id: String,
    pub epoch: i64,
    pub seq: i64,
    pub entries: i64,
    pub gross_pnl: f64,
    pub slippage: f64,
    pub regime: String,
    pub source: TradeSource,
}

impl Trade {
    pub fn to_json(&self) -> TradeJson {
        TradeJson {
            strategy: self.strategy.clone(),
            asset: self.asset.clone(),
            side: self.side.clone(),
            entry_time: fmt_ms(self.entry_time),
            exit_time: fmt_ms(self.exit_time),
            entry_price: self.entry_price,
            exit_price: self.exit_price,
            qty: self.qty,
            fees: self.fees,
            funding: self.funding,
            net_pnl: self.net_pnl,
            exit_reason: self.exit_reason.clone(),
            runner_id: self.runner_id.clone(),
            epoch: self.epoch,
            seq: self.seq,
            entries: self.entries,
            gross_pnl: self.gross_pnl,
            slippage: self.slippage,
            regime: self.regime.clone(),
            source: self.source,
        }
    }
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq)]
pub struct TradesReport {
    pub source: TradeSource,
    pub trades: Vec<Trade>,
    /// Set when there is nothing to query (`live_trades` absent, or no executor has sent a
    /// request here): [`NO_LIVE_TRADES`].
    pub note: Option<String>,
}

/// Count, wins (net P&L > 0), losses (net P&L < 0; a flat trade is neither) and the sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TradeSummary {
    pub count: usize,
    pub wins: usize,
    pub losses: usize,
    pub net_pnl: f64,
    pub fees: f64,
    pub funding: f64,
}

impl TradesReport {
    pub fn summary(&self) -> TradeSummary {
        let mut s = TradeSummary::default();
        for t in &self.trades {
            s.count += 1;
            if t.net_pnl > 0.0 {
                s.wins += 1;
            } else if t.net_pnl < 0.0 {
                s.losses += 1;
            }
            s.net_pnl += t.net_pnl;
            s.fees += t.fees;
            s.funding += t.funding;
        }
        s
    }

    pub fn to_json(&self) -> Vec<TradeJson> {
        self.trades.iter().map(Trade::to_json).collect()
    }

    /// Aligned table plus the summary line.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        if let Some(n) = &self.note {
            let _ = writeln!(o, "{n}");
            return o;
        }
        if self.trades.is_empty() {
            let _ = writeln!(o, "no {} trades match", self.source.as_str());
        } else {
            let head = [
                "exit time",
                "strategy",
                "asset",
                "side",
                "entry",
                "exit",
                "qty",
                "fees",
                "funding",
                "net pnl",
                "reason",
                "epoch",
                "seq",
            ];
            let rows: Vec<[String; 13]> = self
                .trades
                .iter()
                .map(|t| {
                    [
                        short_time(t.exit_time),
                        t.strategy.clone(),
                        t.asset.clone(),
                        t.side.clone(),
                        num(t.entry_price),
                        num(t.exit_price),
                        num(t.qty),
                        format!("{:.4}", t.fees),
                        format!("{:.4}", t.funding),
                        format!("{:+.4}", t.net_pnl),
                        t.exit_reason.clone(),
                        t.epoch.to_string(),
                        t.seq.to_string(),
                    ]
                })
                .collect();
            let mut w = head.map(str::len);
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            // text columns left-aligned, numbers right-aligned
            let left = [
                true, true, true, true, false, false, false, false, false, false, true, false,
                false,
            ];
            let line = |cells: &[String]| {
                let mut l = String::new();
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        l.push_str("  ");
                    }
                    if left[i] {
                        let _ = write!(l, "{c:<width$}", width = w[i]);
                    } else {
                        let _ = write!(l, "{c:>width$}", width = w[i]);
                    }
                }
                l.trim_end().to_string()
            };
            let _ = writeln!(o, "{}", line(&head.map(String::from)));
            for r in &rows {
                let _ = writeln!(o, "{}", line(r));
            }
        }
        let s = self.summary();
        let _ = writeln!(
            o,
            "{} {} trades: {} wins, {} losses, net pnl {:+.4}, fees {:.4}, funding {:+.4}",
            s.count,
            self.source.as_str(),
            s.wins,
            s.losses,
            s.net_pnl,
            s.fees,
            s.funding
        );
        o
    }
}

/// `2026-11-21 20:15:00` (UTC).
fn short_time(ms: i64) -> String {
    let s = fmt_ms(ms);
    let s = s.trim_end_matches('Z').replacen('T', " ", 1);
    s.split('.').next().unwrap_or(&s).to_string()
}

/// Prices and quantities: up to 8 significant decimals, trailing zeros removed.
fn num(x: f64) -> String {
    let s = format!("{x:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Parses `--since`: `YYYY-MM-DD` (midnight UTC) or RFC 3339 (any offset). Returns ms.
pub fn parse_since(s: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(s, fmt) {
        Ok(d) => Ok(d.midnight().assume_utc().unix_timestamp() * 1000),
        Err(_) => Err(format!(
            "`{s}` is not a date: use YYYY-MM-DD (UTC midnight) or RFC 3339 such as 2026-11-21T20:00:00Z"
        )),
    }
}

fn table_columns(c: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
    st.query_map([], |r| r.get::<_, String>(1))?.collect()
}

/// Runs the query on the database at `db` (read-only).
pub fn trades(db: &Path, q: &TradeQuery) -> Result<TradesReport, AdminError> {
    let c = scalp_store::open_readonly(db).map_err(|e| AdminError::Other(e.to_string()))?;
    query(&c, db, q)
}

/// [`trades`] on an open connection (`db` names it in errors).
pub fn query(c: &Connection, db: &Path, q: &TradeQuery) -> Result<TradesReport, AdminError> {
    let sql = |e| AdminError::sql(db, e);
    let table = q.source.table();
    let cols = table_columns(c, table).map_err(sql)?;
    // the live tables exist from the migration on, the executor's first request fills
    // live_orders: without one, no executor has run here
    let no_executor = || {
        !c.query_row("SELECT EXISTS (SELECT 1 FROM live_orders)", [], |r| {
            r.get::<_, bool>(0)
        })
        .unwrap_or(false)
    };
    if cols.is_empty() || (q.source == TradeSource::Live && no_executor()) {
        return Ok(TradesReport {
            source: q.source,
            trades: Vec::new(),
            note: Some(match q.source {
                TradeSource::Live => NO_LIVE_TRADES.to_string(),
                TradeSource::Paper => format!(
                    "no paper trades: table sim_trades does not exist in {} (scalp-simulator has not opened this database)",
                    db.display()
                ),
            }),
        });
    }
    // live_trades's schema is the executor's; take what exists, defaults for the rest
    let col = |name: &str, default: &str| {
        if cols.iter().any(|c| c == name) {
            format!("t.\"{name}\"")
        } else {
            default.to_string()
        }
    };
    let select = [
        col("runner_id", "''"),
        col("epoch", "0"),
        col("seq", "0"),
        col("strategy", "''"),
        col("asset", "''"),
        col("side", "''"),
        col("entry_time", "0"),
        col("exit_time", "0"),
        col("entry_price", "0.0"),
        col("exit_price", "0.0"),
        col("qty", "0.0"),
        col("entries", "1"),
        col("fees", "0.0"),
        col("funding", "0.0"),
        col("slippage", "0.0"),
        col("gross_pnl", "0.0"),
        col("net_pnl", "0.0"),
        col("exit_reason", "''"),
        col("regime", "''"),
    ]
    .join(", ");
    let mut wh: Vec<String> = Vec::new();
    let mut params: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(s) = &q.strategy {
        params.push(s.clone().into());
        wh.push(format!("t.strategy = ?{}", params.len()));
    }
    if let Some(a) = &q.asset {
        params.push(a.clone().into());
        wh.push(format!("t.asset = ?{}", params.len()));
    }
    if let Some(s) = q.since_ms {
        params.push(s.into());
        wh.push(format!("t.exit_time >= ?{}", params.len()));
    }
    if q.source == TradeSource::Paper && !q.all_epochs {
        let has_runners = !table_columns(c, "sim_runners").map_err(sql)?.is_empty();
        let newest = "(SELECT MAX(t2.epoch) FROM sim_trades t2 WHERE t2.runner_id = t.runner_id)";
        wh.push(if has_runners {
            format!(
                "t.epoch = COALESCE((SELECT r.epoch FROM sim_runners r WHERE r.runner_id = t.runner_id), {newest})"
            )
        } else {
            format!("t.epoch = {newest}")
        });
    }
    params.push(i64::from(q.limit).into());
    let order = ["exit_time", "runner_id", "epoch", "seq"]
        .iter()
        .filter(|c| cols.iter().any(|x| x == *c))
        .map(|c| format!("t.\"{c}\" DESC"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "SELECT {select} FROM \"{table}\" t{}{}{} LIMIT ?{}",
        if wh.is_empty() { "" } else { " WHERE " },
        wh.join(" AND "),
        if order.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {order}")
        },
        params.len()
    );
    let mut st = c.prepare(&text).map_err(sql)?;
    let rows = st
        .query_map(rusqlite::params_from_iter(params), |r| {
            Ok(Trade {
                source: q.source,
                runner_id: r.get(0)?,
                epoch: r.get(1)?,
                seq: r.get(2)?,
                strategy: r.get(3)?,
                asset: r.get(4)?,
                side: r.get(5)?,
                entry_time: r.get(6)?,
                exit_time: r.get(7)?,
                entry_price: r.get(8)?,
                exit_price: r.get(9)?,
                qty: r.get(10)?,
                entries: r.get(11)?,
                fees: r.get(12)?,
                funding: r.get(13)?,
                slippage: r.get(14)?,
                gross_pnl: r.get(15)?,
                net_pnl: r.get(16)?,
                exit_reason: r.get(17)?,
                regime: r.get(18)?,
            })
        })
        .map_err(sql)?;
    let trades = rows.collect::<Result<Vec<_>, _>>().map_err(sql)?;
    Ok(TradesReport {
        source: q.source,
        trades,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("scalp.db");
        let c = scalp_store::open(&p).unwrap();
        (d, p, c)
    }

    fn trade(c: &Connection, runner: &str, epoch: i64, seq: i64, exit: i64, net: f64) {
        let (strategy, asset) = runner.split_once(':').unwrap();
        c.execute(
            "INSERT INTO sim_trades VALUES (?1, ?2, ?3, ?4, ?5, 'long', ?6, ?7, 100.0, 101.0, 0.5, 1,
             50.0, 0.1, 0.01, 0.02, ?8, ?8, 'signal', 'bull', ?7)",
            rusqlite::params![runner, epoch, seq, strategy, asset, exit - 3_600_000, exit, net],
        )
        .unwrap();
    }

    fn q(source: TradeSource) -> TradeQuery {
        TradeQuery {
            source,
            strategy: None,
            asset: None,
            since_ms: None,
            limit: 50,
            all_epochs: false,
        }
    }

    #[test]
    fn current_epoch_newest_first_filters() {
        let (_d, p, c) = db();
        // later schema versions add NOT NULL columns (warmup_from): fill every one with 0
        let extra: Vec<String> = table_columns(&c, "sim_runners")
            .unwrap()
            .into_iter()
            .filter(|k| k == "warmup_from")
            .collect();
        c.execute(
            &format!(
                "INSERT INTO sim_runners (runner_id, strategy, asset, exchange, timeframe, epoch, params,
                 params_hash, capital, origin_open_time, snapshot_version, updated_at{})
                 VALUES ('a:BTC', 'a', 'BTC', 'replay', '1h', 1, '{{}}', 'h', 1000, 0, 1, 0{})",
                extra.iter().map(|k| format!(", {k}")).collect::<String>(),
                ", 0".repeat(extra.len())
            ),
            [],
        )
        .unwrap();
        trade(&c, "a:BTC", 0, 1, 1_000_000, 5.0);
        trade(&c, "a:BTC", 1, 1, 2_000_000, -1.0);
        trade(&c, "a:BTC", 1, 2, 4_000_000, 2.0);
        // no sim_runners row: its newest epoch counts
        trade(&c, "b:ETH", 0, 1, 3_000_000, 0.0);
        trade(&c, "b:ETH", 2, 1, 5_000_000, 3.0);
        let r = query(&c, &p, &q(TradeSource::Paper)).unwrap();
        let ids: Vec<_> = r
            .trades
            .iter()
            .map(|t| (t.runner_id.as_str(), t.epoch, t.seq))
            .collect();
        assert_eq!(ids, [("b:ETH", 2, 1), ("a:BTC", 1, 2), ("a:BTC", 1, 1)]);
        let s = r.summary();
        assert_eq!((s.count, s.wins, s.losses), (3, 2, 1));
        assert!((s.net_pnl - 4.0).abs() < 1e-12);
        let all = query(
            &c,
            &p,
            &TradeQuery {
                all_epochs: true,
                ..q(TradeSource::Paper)
            },
        )
        .unwrap();
        assert_eq!(all.trades.len(), 5);
        let f = query(
            &c,
            &p,
            &TradeQuery {
                strategy: Some("a".into()),
                since_ms: Some(3_000_000),
                all_epochs: true,
                limit: 1,
                ..q(TradeSource::Paper)
            },
        )
        .unwrap();
        assert_eq!(f.trades.len(), 1);
        assert_eq!(f.trades[0].exit_time, 4_000_000);
        let text = r.to_text();
        assert!(text.contains("3 paper trades: 2 wins, 1 losses"), "{text}");
        let j = serde_json::to_value(r.to_json()).unwrap();
        assert_eq!(j[0]["exit_time"], "1970-01-01T01:23:20Z");
        assert_eq!(j[0]["source"], "paper");
    }

    #[test]
    fn live_trades_from_the_executor_table_or_a_note_without_it() {
        let (_d, p, c) = db();
        c.execute(
            "INSERT INTO live_trades (runner_id, seq, strategy, asset, symbol, side, entry_time, \
               exit_time, entry_price, exit_price, qty, entries, margin, fees, funding, slippage, \
               gross_pnl, net_pnl, exit_reason, regime, exchange_funding, order_ids, created_at) \
             VALUES ('s:BTC', 1, 's', 'BTC', 'BTCUSDT', 'long', 0, 3600000, 100.0, 110.0, 1.0, 1, \
               50.0, 0.1, 0.0, 0.0, 10.0, 9.9, 'signal', 'range', NULL, '[\"1\"]', 0)",
            [],
        )
        .unwrap();
        // a row without any request in live_orders: no executor has run here
        let r = query(&c, &p, &q(TradeSource::Live)).unwrap();
        assert!(r.trades.is_empty());
        assert_eq!(r.note.as_deref(), Some(NO_LIVE_TRADES));
        c.execute(
            "INSERT INTO live_orders (strategy, symbol, action, client_oid, purpose, sent_at, \
               status) VALUES ('s', 'BTCUSDT', 'place', 'o1', 'entry', 0, 'ok')",
            [],
        )
        .unwrap();
        let r = query(&c, &p, &q(TradeSource::Live)).unwrap();
        assert_eq!(r.note, None);
        assert_eq!(r.trades.len(), 1);
        assert!((r.trades[0].net_pnl - 9.9).abs() < 1e-12);
        // a database from before the live tables
        c.execute("DROP TABLE live_trades", []).unwrap();
        let r = query(&c, &p, &q(TradeSource::Live)).unwrap();
        assert!(r.trades.is_empty());
        assert_eq!(r.note.as_deref(), Some(NO_LIVE_TRADES));
        assert_eq!(r.to_text().trim(), NO_LIVE_TRADES);
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_since("1970-01-01T01:00:00Z").unwrap(), 3_600_000);
        assert_eq!(parse_since("1970-01-01T02:00:00+01:00").unwrap(), 3_600_000);
        assert!(parse_since("yesterday").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_since("2026-13-01").is_err());
    }
}
