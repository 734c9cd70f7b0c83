//! Message texts (Telegram HTML; every interpolated text part goes through `escape_html`).
//! The formats are listed in docs/WATCHDOG.md "Messages".

use crate::anomaly::{Active, Anomaly};
use crate::checks::Snapshot;
use crate::state::WatchdogState;
use scalp_core::types::fmt_ms;
use scalp_telegram::escape_html as esc;
use serde_json::Value;

/// One `sim_events` row.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub time: i64,
    pub runner_id: Option<String>,
    pub kind: String,
    pub detail: Value,
}

/// `sim_events` rows after `after_id`, oldest first, at most `limit`.
pub fn read_events(
    conn: &rusqlite::Connection,
    after_id: i64,
    limit: usize,
) -> rusqlite::Result<Vec<EventRow>> {
    let mut st = conn.prepare_cached(
        "SELECT id, time, runner_id, kind, detail FROM sim_events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(rusqlite::params![after_id, limit as i64], |r| {
        let detail: String = r.get(4)?;
        Ok(EventRow {
            id: r.get(0)?,
            time: r.get(1)?,
            runner_id: r.get(2)?,
            kind: r.get(3)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        })
    })?;
    rows.collect()
}

/// The highest `sim_events.id` (0 when empty).
pub fn max_event_id(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(id), 0) FROM sim_events", [], |r| {
        r.get(0)
    })
}

/// One `live_events` row (written by the scalp-executor of `strategy`).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEventRow {
    pub id: i64,
    pub time: i64,
    pub strategy: String,
    pub asset: Option<String>,
    pub kind: String,
    pub detail: Value,
}

/// `live_events` rows after `after_id`, oldest first, at most `limit`.
pub fn read_live_events(
    conn: &rusqlite::Connection,
    after_id: i64,
    limit: usize,
) -> rusqlite::Result<Vec<LiveEventRow>> {
    let mut st = conn.prepare_cached(
        "SELECT id, time, strategy, asset, kind, detail FROM live_events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(rusqlite::params![after_id, limit as i64], |r| {
        let detail: String = r.get(5)?;
        Ok(LiveEventRow {
            id: r.get(0)?,
            time: r.get(1)?,
            strategy: r.get(2)?,
            asset: r.get(3)?,
            kind: r.get(4)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        })
    })?;
    rows.collect()
}

/// The highest `live_events.id` (0 when empty or before the live tables exist).
pub fn max_live_event_id(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("SELECT coalesce(max(id), 0) FROM live_events", [], |r| {
        r.get(0)
    })
    .unwrap_or(0)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}
fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("?")
}

/// Prices and quantities: 6 significant decimals at most, no trailing zeros.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    let t = format!("{x:.6}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" { "0".into() } else { t.into() }
}

/// Money: signed, 4 decimals.
pub fn fmt_pnl(x: f64) -> String {
    format!("{x:+.4}")
}

/// The message for one simulator event (`None`: not alerted — `levels`, the resting levels
/// being moved every candle, would drown the chat). `bool`: high priority.
pub fn event_message(e: &EventRow) -> Option<(String, bool)> {
    let runner = esc(e.runner_id.as_deref().unwrap_or("simulator"));
    let d = &e.detail;
    let at = fmt_ms(e.time);
    let msg = match e.kind.as_str() {
        "entry" | "level_filled" => {
            let head = if e.kind == "entry" {
                "🟢 <b>PAPER ENTRY</b>"
            } else {
                "🟡 <b>GRID LEVEL FILLED</b>"
            };
            let level = d["level"]
                .as_u64()
                .map(|l| format!(" (level {l})"))
                .unwrap_or_default();
            (
                format!(
                    "{head} {runner} {side}{level}\nqty {qty} at {price}\nposition {pq} avg {avg}\n{at}",
                    side = esc(s(d, "side")),
                    qty = fmt_num(num(d, "qty")),
                    price = fmt_num(num(d, "price")),
                    pq = fmt_num(num(d, "position_qty")),
                    avg = fmt_num(num(d, "avg_entry")),
                ),
                false,
            )
        }
        "exit" => {
            let pnl = num(d, "net_pnl");
            (
                format!(
                    "{icon} <b>PAPER EXIT</b> {runner} trade #{seq} {side}\nentry {entry} → exit {exit}\nqty {qty}\nP&amp;L <b>{pnl} USDT</b> (fees {fees}, funding {funding})\nreason: {reason}\n{at}",
                    icon = if pnl >= 0.0 { "✅" } else { "🔻" },
                    seq = d["seq"].as_i64().unwrap_or(0),
                    side = esc(s(d, "side")),
                    entry = fmt_num(num(d, "entry_price")),
                    exit = fmt_num(num(d, "exit_price")),
                    qty = fmt_num(num(d, "qty")),
                    pnl = fmt_pnl(pnl),
                    fees = fmt_pnl(num(d, "fees")),
                    funding = fmt_pnl(num(d, "funding")),
                    reason = esc(s(d, "reason")),
                ),
                false,
            )
        }
        "kill_switch" | "stopped" => (
            format!(
                "🛑 <b>{}</b> {runner}: {}\n{at}",
                if e.kind == "kill_switch" {
                    "KILL SWITCH"
                } else {
                    "RUNNER STOPPED"
                },
                esc(s(d, "reason"))
            ),
            true,
        ),
        "global_kill_switch" => (
            format!(
                "🛑 <b>GLOBAL KILL SWITCH</b>: {}\nequity {} (high {}, drawdown {:.2} %)\n{at}",
                esc(s(d, "reason")),
                fmt_num(num(d, "equity")),
                fmt_num(num(d, "high")),
                num(d, "drawdown_pct")
            ),
            true,
        ),
        "kill_switch_reset" => (
            format!(
                "♻️ <b>KILL SWITCH RESET</b> {} ({})",
                runner,
                esc(s(d, "scope"))
            ),
            false,
        ),
        "reset" => (
            format!(
                "♻️ <b>PAPER RESET</b> {runner}: epoch {}",
                d["epoch"].as_i64().unwrap_or(0)
            ),
            false,
        ),
        "runner_started" => (
            format!(
                "▶️ <b>PAPER RUNNER</b> {runner} epoch {} on {}, capital {} USDT",
                d["epoch"].as_i64().unwrap_or(0),
                esc(s(d, "timeframe")),
                fmt_num(num(d, "capital"))
            ),
            false,
        ),
        _ => return None,
    };
    Some(msg)
}

/// The message for one live event (real money: every kind the executor writes is sent;
/// `None` for a kind this version does not know). `bool`: high priority.
pub fn live_event_message(e: &LiveEventRow) -> Option<(String, bool)> {
    let who = match &e.asset {
        Some(a) => format!("{}:{}", esc(&e.strategy), esc(a)),
        None => esc(&e.strategy),
    };
    let d = &e.detail;
    let at = fmt_ms(e.time);
    let msg = match e.kind.as_str() {
        "entry" => {
            let level = d["level"]
                .as_u64()
                .map(|l| format!(" (level {l})"))
                .unwrap_or_default();
            (
                format!(
                    "🟢 <b>LIVE ENTRY</b> {who} {side}{level}\nqty {qty} at {price}, fee {fee}\ncandle {at}",
                    side = esc(s(d, "side")),
                    qty = fmt_num(num(d, "qty")),
                    price = fmt_num(num(d, "price")),
                    fee = fmt_num(num(d, "fee")),
                ),
                false,
            )
        }
        "exit" => {
            let pnl = num(d, "net_pnl");
            (
                format!(
                    "{icon} <b>LIVE EXIT</b> {who} trade #{seq} {side}\nentry {entry} → exit {exit}\nqty {qty}\nP&amp;L <b>{pnl} USDT</b>\nreason: {reason}\n{at}",
                    icon = if pnl >= 0.0 { "✅" } else { "🔻" },
                    seq = d["seq"].as_i64().unwrap_or(0),
                    side = esc(s(d, "side")),
                    entry = fmt_num(num(d, "entry_price")),
                    exit = fmt_num(num(d, "exit_price")),
                    qty = fmt_num(num(d, "qty")),
                    pnl = fmt_pnl(pnl),
                    reason = esc(s(d, "exit_reason")),
                ),
                false,
            )
        }
        "order_rejected" | "insufficient_balance" => (
            format!(
                "{head} {who}: {purpose} {oid} refused\n{error}{tail}\n{at}",
                head = if e.kind == "insufficient_balance" {
                    "💸 <b>LIVE INSUFFICIENT BALANCE</b>"
                } else {
                    "⚠️ <b>LIVE ORDER REFUSED</b>"
                },
                purpose = esc(s(d, "purpose")),
                oid = esc(s(d, "client_oid")),
                error = esc(s(d, "error")),
                tail = if e.kind == "insufficient_balance" {
                    "\nno new exposure before the next candle"
                } else {
                    ""
                },
            ),
            true,
        ),
        "kill_switch" => (
            format!(
                "🛑 <b>LIVE KILL SWITCH</b> {who}: {}\npositions closed, orders and stops cancelled, no new entries (reset: scalpctl reset kill-switch --live --strategy {})\n{at}",
                esc(s(d, "reason")),
                esc(&e.strategy)
            ),
            true,
        ),
        "kill_switch_reset" => (
            format!("♻️ <b>LIVE KILL SWITCH RESET</b> {who}\n{at}"),
            false,
        ),
        "halted" => (
            format!(
                "🛑 <b>EXECUTOR HALTED</b> {who}: {}\nit trades nothing until fixed and restarted (journalctl -u scalp-executor@{})\n{at}",
                esc(s(d, "reason")),
                esc(&e.strategy)
            ),
            true,
        ),
        "executor_reset" => (
            format!(
                "♻️ <b>EXECUTOR RESET</b> {who}{}\n{at}",
                if d["force"].as_bool() == Some(true) {
                    " (forced)"
                } else {
                    ""
                }
            ),
            true,
        ),
        "reconcile" => {
            let consistent = d["consistent"].as_bool().unwrap_or(false);
            let mut t = format!(
                "{} <b>RECONCILE</b> {who}: {}, policy {}, action {}",
                if consistent { "🔎" } else { "⚠️" },
                if consistent {
                    "consistent"
                } else {
                    "discrepancies"
                },
                esc(s(d, "policy")),
                esc(s(d, "action")),
            );
            let items = d["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            for it in items.iter().take(8) {
                t.push_str(&format!(
                    "\n• {}: {}",
                    esc(s(it, "kind")),
                    esc(s(it, "detail"))
                ));
            }
            if items.len() > 8 {
                t.push_str(&format!(
                    "\n… {} more (scalpctl reconcile)",
                    items.len() - 8
                ));
            }
            t.push_str(&format!("\n{at}"));
            (t, !consistent)
        }
        _ => return None,
    };
    Some(msg)
}

pub fn raised_message(a: &Anomaly, detail: &str) -> String {
    format!(
        "⚠️ <b>{}</b> {}: {}",
        a.kind(),
        esc(a.subject()),
        esc(detail)
    )
}

pub fn restarted_message(name: &str, before: u64, after: u64) -> String {
    format!(
        "🔁 <b>{}</b> was restarted by systemd ({before} → {after} restarts; journalctl -u {})",
        esc(name),
        esc(name)
    )
}

pub fn resolved_message(a: &Anomaly, since_ms: i64, now_ms: i64) -> String {
    format!(
        "✅ <b>resolved: {}</b> {} (after {})",
        a.kind(),
        esc(a.subject()),
        fmt_duration((now_ms - since_ms).max(0))
    )
}

pub fn fmt_duration(ms: i64) -> String {
    let s = ms / 1000;
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else {
        format!("{:.1} h", s as f64 / 3600.0)
    }
}

/// Totals from the simulator state: (equity, capital, trades, open positions).
pub fn paper_totals(snap: &Snapshot) -> Option<(f64, f64, u64, usize)> {
    let sim = snap.simulator.as_ref()?;
    Some((
        sim.equity,
        sim.capital,
        sim.runners.iter().map(|r| r.trades).sum(),
        sim.runners.iter().filter(|r| r.position.is_some()).count(),
    ))
}

pub fn heartbeat_message(
    snap: &Snapshot,
    prev: Option<&crate::state::HeartbeatMark>,
    active: usize,
) -> String {
    let mut t = String::from("💓 <b>heartbeat</b>\n");
    match paper_totals(snap) {
        Some((equity, capital, trades, open)) => {
            t.push_str(&format!(
                "equity {} USDT (capital {})\n",
                fmt_num(equity),
                fmt_num(capital)
            ));
            match prev {
                Some(p) => t.push_str(&format!(
                    "P&amp;L since the last heartbeat {} USDT, trades {}\n",
                    fmt_pnl(equity - p.equity),
                    trades.saturating_sub(p.trades)
                )),
                None => t.push_str(&format!("trades {trades}\n")),
            }
            t.push_str(&format!("open positions {open}\n"));
        }
        None => t.push_str("simulator: no state file\n"),
    }
    t.push_str(&format!("anomalies {active}"));
    t
}

pub fn status_message(snap: &Snapshot, st: &WatchdogState) -> String {
    let mut t = String::from("📊 <b>status</b>\n");
    match &snap.simulator {
        Some(sim) => {
            let (equity, capital, trades, open) = paper_totals(snap).unwrap_or_default();
            let stopped = sim
                .runners
                .iter()
                .filter(|r| r.kill_switch.is_some())
                .count();
            t.push_str(&format!(
                "paper: {} runners ({} stopped), equity {} USDT of {} ({}), {} trades, {} open positions{}\n",
                sim.runners.len(),
                stopped,
                fmt_num(equity),
                fmt_num(capital),
                fmt_pnl(equity - capital),
                trades,
                open,
                if sim.global_kill_switch.active {
                    ", GLOBAL KILL SWITCH active"
                } else {
                    ""
                }
            ));
        }
        None => t.push_str("paper: no simulator state\n"),
    }
    match &snap.collector {
        Some(c) => {
            let healthy = c
                .streams
                .iter()
                .filter(|s| s.unhealthy_since.is_none())
                .count();
            t.push_str(&format!(
                "collector: {} of {} streams healthy, {} candles stored\n",
                healthy,
                c.streams.len(),
                c.candles_stored_total
            ));
        }
        None => t.push_str("collector: no state\n"),
    }
    for d in &snap.daemons {
        if d.seen {
            t.push_str(&format!(
                "{}: {}{}\n",
                d.name,
                d.down
                    .as_deref()
                    .map_or("up".to_string(), |w| format!("DOWN ({})", esc(w))),
                d.unit
                    .as_deref()
                    .map(|u| format!(" [unit {}]", esc(u)))
                    .unwrap_or_default()
            ));
        }
    }
    t.push_str(&format!(
        "anomalies: {}\ntelegram queue: {}",
        st.anomalies.active.len(),
        st.outbox_depth
    ));
    t
}

pub fn positions_message(snap: &Snapshot) -> String {
    let Some(sim) = &snap.simulator else {
        return "no simulator state".into();
    };
    let mut t = String::from("📈 <b>open positions</b>\n");
    let mut n = 0;
    for r in &sim.runners {
        if let Some(p) = &r.position {
            n += 1;
            t.push_str(&format!(
                "{} {} qty {} avg {} uPnL {}{}{}\n",
                esc(&r.id),
                esc(&p.side),
                fmt_num(p.qty),
                fmt_num(p.avg_entry),
                fmt_pnl(p.unrealized_pnl),
                p.stop
                    .map(|s| format!(" stop {}", fmt_num(s)))
                    .unwrap_or_default(),
                p.take_profit
                    .map(|s| format!(" tp {}", fmt_num(s)))
                    .unwrap_or_default(),
            ));
        }
    }
    if n == 0 {
        t.push_str("none");
    }
    t.trim_end().to_string()
}

/// `/profit [days]`: closed paper trades of the current epochs committed in the last `days`
/// days (wall time of the commit; all of them without `days`).
pub fn profit_message(
    conn: Option<&rusqlite::Connection>,
    days: Option<u32>,
    now_ms: i64,
) -> String {
    let Some(conn) = conn else {
        return "no database yet".into();
    };
    let since = days.map_or(i64::MIN, |d| now_ms - d as i64 * 86_400_000);
    let q = conn.query_row(
        "SELECT count(*), coalesce(sum(net_pnl), 0), coalesce(sum(net_pnl > 0), 0), coalesce(sum(fees), 0) \
         FROM sim_trades t JOIN sim_runners r ON r.runner_id = t.runner_id AND r.epoch = t.epoch \
         WHERE t.created_at >= ?1",
        [since],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?, r.get::<_, i64>(2)?, r.get::<_, f64>(3)?)),
    );
    match q {
        Ok((n, pnl, wins, fees)) => format!(
            "💰 <b>profit</b> ({})\n{} trades, {} won ({:.0} %)\nnet P&amp;L {} USDT (fees {})",
            days.map_or("all".to_string(), |d| format!("last {d} days")),
            n,
            wins,
            if n > 0 {
                wins as f64 / n as f64 * 100.0
            } else {
                0.0
            },
            fmt_pnl(pnl),
            fmt_pnl(fees)
        ),
        Err(e) => format!("profit: {}", esc(&e.to_string())),
    }
}

/// `/daily`: net P&L per UTC day (commit time) of the last 7 days.
pub fn daily_message(conn: Option<&rusqlite::Connection>, now_ms: i64) -> String {
    let Some(conn) = conn else {
        return "no database yet".into();
    };
    let since = now_ms - 7 * 86_400_000;
    let rows: rusqlite::Result<Vec<(String, i64, f64)>> = conn
        .prepare(
            "SELECT date(t.created_at / 1000, 'unixepoch') AS d, count(*), sum(net_pnl) \
             FROM sim_trades t JOIN sim_runners r ON r.runner_id = t.runner_id AND r.epoch = t.epoch \
             WHERE t.created_at >= ?1 GROUP BY d ORDER BY d DESC",
        )
        .and_then(|mut st| {
            st.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        });
    match rows {
        Ok(rows) if rows.is_empty() => "📅 <b>daily</b>\nno trade in the last 7 days".into(),
        Ok(rows) => {
            let mut t = String::from("📅 <b>daily</b> (UTC)\n");
            for (d, n, pnl) in rows {
                t.push_str(&format!("{d}: {} USDT, {n} trades\n", fmt_pnl(pnl)));
            }
            t.trim_end().to_string()
        }
        Err(e) => format!("daily: {}", esc(&e.to_string())),
    }
}

pub fn health_message(snap: &Snapshot, st: &WatchdogState) -> String {
    let mut t = String::from("🩺 <b>health</b>\n");
    if st.anomalies.active.is_empty() {
        t.push_str("no anomaly\n");
    }
    for a in st.anomalies.active.values() {
        t.push_str(&format!("{}\n", active_line(a)));
    }
    if let Some(p) = snap.disk_free_pct {
        t.push_str(&format!("disk free {p:.1} %\n"));
    }
    match (snap.db_bytes, snap.wal_bytes) {
        (Some(d), w) => t.push_str(&format!(
            "database {:.1} MiB, WAL {:.1} MiB\n",
            d as f64 / 1048576.0,
            w.unwrap_or(0) as f64 / 1048576.0
        )),
        (None, Some(w)) => t.push_str(&format!("WAL {:.1} MiB\n", w as f64 / 1048576.0)),
        (None, None) => {}
    }
    match &snap.last_backup {
        Some((name, age)) => t.push_str(&format!(
            "last backup {} ({} ago)\n",
            esc(name),
            fmt_duration((*age * 1000.0) as i64)
        )),
        None => t.push_str("no backup yet\n"),
    }
    if let Some(c) = &st.last_checkpoint {
        t.push_str(&format!(
            "last checkpoint {}: {}\n",
            fmt_ms(c.at_ms),
            esc(&c.result)
        ));
    }
    t.push_str(&format!("telegram queue {}", st.outbox_depth));
    t
}

fn active_line(a: &Active) -> String {
    format!(
        "⚠️ {} {}: {} (since {})",
        a.anomaly.kind(),
        esc(a.anomaly.subject()),
        esc(&a.detail),
        fmt_ms(a.since_ms)
    )
}

pub const HELP: &str = "ℹ️ <b>commands</b>\n/status — paper equity, runners, daemons\n/positions — open paper positions\n/profit [days] — closed trades and P&amp;L\n/daily — P&amp;L per day (7 days)\n/health — anomalies, disk, database, backup, checkpoint\n/stop STRATEGY — no new paper entries (exits go on)\n/start STRATEGY — entries again\n/reset_killswitch [STRATEGY] — global, or one strategy's\n/help — this list";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(kind: &str, detail: Value) -> LiveEventRow {
        LiveEventRow {
            id: 1,
            time: 1_700_000_000_000,
            strategy: "grid_atr".into(),
            asset: Some("BTC".into()),
            kind: kind.into(),
            detail,
        }
    }

    #[test]
    fn every_live_event_kind_the_executor_writes_is_a_message() {
        let (t, high) = live_event_message(&live(
            "entry",
            json!({"side": "long", "price": 61234.5, "qty": 0.004, "fee": 0.0489876, "level": 2}),
        ))
        .unwrap();
        assert!(!high);
        assert!(
            t.contains("LIVE ENTRY</b> grid_atr:BTC long (level 2)"),
            "{t}"
        );
        assert!(t.contains("qty 0.004 at 61234.5, fee 0.048988"), "{t}");
        let (t, high) = live_event_message(&live(
            "exit",
            json!({"seq": 4, "side": "short", "exit_reason": "take_profit", "entry_price": 100.0,
                "exit_price": 99.0, "qty": 2.0, "net_pnl": 1.9}),
        ))
        .unwrap();
        assert!(!high);
        assert!(
            t.starts_with("✅ <b>LIVE EXIT</b> grid_atr:BTC trade #4 short"),
            "{t}"
        );
        assert!(t.contains("P&amp;L <b>+1.9000 USDT</b>"), "{t}");
        assert!(t.contains("reason: take_profit"), "{t}");
        let (t, high) = live_event_message(&live(
            "insufficient_balance",
            json!({"client_oid": "sr1<x>", "purpose": "entry", "error": "43012 Insufficient balance"}),
        ))
        .unwrap();
        assert!(high);
        assert!(
            t.contains("INSUFFICIENT BALANCE</b> grid_atr:BTC: entry sr1&lt;x&gt; refused"),
            "{t}"
        );
        assert!(t.contains("no new exposure before the next candle"), "{t}");
        let (t, high) = live_event_message(&live(
            "order_rejected",
            json!({"client_oid": "o", "purpose": "stop_loss", "error": "40891 Insufficient position"}),
        ))
        .unwrap();
        assert!(
            high && t.contains("LIVE ORDER REFUSED</b> grid_atr:BTC: stop_loss o refused"),
            "{t}"
        );
        let none = |kind: &str, d: Value| LiveEventRow {
            asset: None,
            ..live(kind, d)
        };
        let (t, high) =
            live_event_message(&none("kill_switch", json!({"reason": "loss 5.1 % > 5 %"})))
                .unwrap();
        assert!(
            high && t.contains("LIVE KILL SWITCH</b> grid_atr: loss 5.1 % &gt; 5 %"),
            "{t}"
        );
        assert!(
            t.contains("scalpctl reset kill-switch --live --strategy grid_atr"),
            "{t}"
        );
        let (t, high) =
            live_event_message(&none("halted", json!({"reason": "keys refused"}))).unwrap();
        assert!(
            high && t.contains("EXECUTOR HALTED</b> grid_atr: keys refused"),
            "{t}"
        );
        let (t, _) = live_event_message(&none("kill_switch_reset", json!({}))).unwrap();
        assert!(t.contains("LIVE KILL SWITCH RESET</b> grid_atr"), "{t}");
        let (t, high) =
            live_event_message(&none("executor_reset", json!({"force": true}))).unwrap();
        assert!(
            high && t.contains("EXECUTOR RESET</b> grid_atr (forced)"),
            "{t}"
        );
        let items: Vec<Value> = (0..10)
            .map(|i| json!({"runner": null, "kind": "foreign_order", "detail": format!("x{i}")}))
            .collect();
        let (t, high) = live_event_message(&none(
            "reconcile",
            json!({"at": "", "policy": "halt", "consistent": false, "action": "halt", "items": items}),
        ))
        .unwrap();
        assert!(high, "{t}");
        assert!(
            t.contains("RECONCILE</b> grid_atr: discrepancies, policy halt, action halt"),
            "{t}"
        );
        assert!(
            t.contains("• foreign_order: x7") && !t.contains("x8"),
            "{t}"
        );
        assert!(t.contains("… 2 more (scalpctl reconcile)"), "{t}");
        let (t, high) = live_event_message(&none(
            "reconcile",
            json!({"policy": "adopt", "consistent": true, "action": "none", "items": []}),
        ))
        .unwrap();
        assert!(
            !high && t.contains("RECONCILE</b> grid_atr: consistent"),
            "{t}"
        );
        assert!(live_event_message(&none("something_new", json!({}))).is_none());
    }

    #[test]
    fn exit_message_carries_the_trade_numbers() {
        let e = EventRow {
            id: 7,
            time: 1_700_000_000_000,
            runner_id: Some("sma_cross:BTC".into()),
            kind: "exit".into(),
            detail: json!({"seq": 3, "side": "long", "entry_price": 100.5, "exit_price": 101.25,
                "qty": 0.012, "net_pnl": -1.23456, "fees": 0.05, "funding": 0.0, "reason": "stop_loss"}),
        };
        let (t, high) = event_message(&e).unwrap();
        assert!(!high);
        assert!(
            t.contains("PAPER EXIT</b> sma_cross:BTC trade #3 long"),
            "{t}"
        );
        assert!(t.contains("entry 100.5 → exit 101.25"), "{t}");
        assert!(t.contains("P&amp;L <b>-1.2346 USDT</b>"), "{t}");
        assert!(t.contains("reason: stop_loss"), "{t}");
        let lv = EventRow {
            kind: "levels".into(),
            ..e
        };
        assert!(event_message(&lv).is_none());
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(42_000.0), "42000");
        assert_eq!(fmt_num(0.0012300), "0.00123");
        assert_eq!(fmt_pnl(1.0), "+1.0000");
    }
}
