//! Console and JSON rendering of a backtest.

use crate::config::BacktestConfig;
use crate::engine::{BacktestResult, Trade};
use crate::metrics::TradeStats;
use serde::Serialize;
use std::fmt::Write;

/// The JSON document printed by `optimize backtest --json`.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub strategy: &'a str,
    pub asset: &'a str,
    pub exchange: &'a str,
    pub timeframe: &'a str,
    pub params: &'a serde_json::Value,
    pub config: &'a BacktestConfig,
    /// Row id in `backtest_runs` when stored.
    pub run_id: Option<i64>,
    pub metrics: &'a crate::metrics::Metrics,
    pub killed: &'a Option<crate::engine::KillEvent>,
    pub skipped_entries: u32,
    /// Funding charged, by the source of its rate (historical or assumed).
    pub funding: crate::engine::FundingStats,
    /// Entries skipped because they were below the exchange minimum order.
    pub skipped_min_order: u32,
    /// Why the runner stopped trading (its equity could no longer place the minimum order).
    pub stopped: &'a Option<crate::engine::KillEvent>,
    /// The contract spec used (lot step, minimums) and where it came from.
    pub contract: &'a str,
    /// Data-quality findings and resampling notes of the input (docs/BACKTEST.md "Candle data").
    pub warnings: &'a [String],
    pub trades: &'a [Trade],
}

/// The funding disclosure: how many settlements used stored rates and how many the assumed
/// rate, and what each cost (`None` when nothing was charged).
pub fn funding_line(f: &crate::engine::FundingStats) -> Option<String> {
    if f.settlements_assumed == 0 && f.settlements_historical == 0 {
        return f
            .assumed_rate
            .is_none()
            .then(|| "off (--no-funding)".to_string());
    }
    let mut parts = Vec::new();
    if f.settlements_historical > 0 {
        parts.push(format!(
            "{} settlements at stored historical rates, cost {:.2}",
            f.settlements_historical, f.paid_historical
        ));
    }
    if f.settlements_assumed > 0 {
        parts.push(format!(
            "{} settlements at the ASSUMED rate {:.4} %/8 h (no stored rate; [backtest].default_funding_rate), cost {:.2}",
            f.settlements_assumed,
            f.assumed_rate.unwrap_or(0.0) * 100.0,
            f.paid_assumed
        ));
    }
    Some(parts.join("; "))
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

fn stats_row(name: &str, s: &TradeStats) -> String {
    format!(
        "{name:<14} {:>7} {:>8.1}% {:>14.2} {:>9} {:>12.2}\n",
        s.n_trades,
        s.win_rate,
        s.net_pnl,
        opt(s.profit_factor),
        s.expectancy
    )
}

/// Human-readable summary (the default output of `optimize backtest`).
pub fn console(r: &Report<'_>, res: &BacktestResult) -> String {
    let m = r.metrics;
    let t = &m.trades;
    let mut s = String::new();
    for w in r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let _ = writeln!(
        s,
        "{} on {} {} ({}), {} candles {} → {}",
        r.strategy,
        r.exchange,
        r.asset,
        r.timeframe,
        m.n_candles,
        scalp_core::types::fmt_ms(m.start),
        scalp_core::types::fmt_ms(m.end)
    );
    let _ = writeln!(s, "params {}", r.params);
    let c = r.config;
    let _ = writeln!(
        s,
        "capital {} leverage {} maker {} taker {} slippage {} fill {:?} size {} lot {}",
        c.capital, c.leverage, c.maker_fee, c.taker_fee, c.slippage, c.fill, c.sizing, c.lot_step
    );
    if !r.contract.is_empty() {
        let _ = writeln!(s, "contract {}", r.contract);
    }
    let rows: [(&str, String); 22] = [
        ("final equity", format!("{:.2}", m.final_equity)),
        (
            "net P&L",
            format!("{:.2} ({:.2}%)", m.net_pnl, m.return_pct),
        ),
        ("gross P&L", format!("{:.2}", m.gross_pnl)),
        ("fees", format!("{:.2}", m.fees)),
        ("slippage", format!("{:.2}", m.slippage)),
        ("funding", format!("{:.2}", m.funding)),
        ("fee drag", format!("{:.2}% of capital", m.fee_drag_pct)),
        (
            "trades",
            format!("{} ({} won, {} lost)", t.n_trades, t.wins, t.losses),
        ),
        ("win rate", format!("{:.2}%", t.win_rate)),
        ("profit factor", opt(t.profit_factor)),
        ("gross PF", opt(t.gross_profit_factor)),
        ("avg win", format!("{:.2}", t.avg_win)),
        ("avg loss", format!("{:.2}", t.avg_loss)),
        ("risk/reward", opt(t.risk_reward)),
        ("expectancy", format!("{:.2}", t.expectancy)),
        ("sharpe (daily)", opt(m.sharpe)),
        ("sortino", opt(m.sortino)),
        ("max drawdown", format!("{:.2}%", m.max_drawdown_pct)),
        (
            "max DD length",
            format!(
                "{:.1} days",
                m.max_drawdown_duration_ms as f64 / 86_400_000.0
            ),
        ),
        ("exposure", format!("{:.1}%", m.exposure_pct)),
        ("liquidations", m.liquidations.to_string()),
        (
            "kill switch",
            r.killed.as_ref().map_or("not tripped".into(), |k| {
                format!("{} at {}", k.reason, scalp_core::types::fmt_ms(k.time))
            }),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "  {k:<16} {v}");
    }
    if res.skipped_entries > 0 {
        let _ = writeln!(s, "  {:<16} {}", "skipped entries", res.skipped_entries);
    }
    if let Some(line) = funding_line(&res.funding) {
        let _ = writeln!(s, "  {:<16} {line}", "funding");
    }
    if res.skipped_min_order > 0 {
        let _ = writeln!(
            s,
            "  {:<16} {} (below the exchange minimum order)",
            "skipped orders", res.skipped_min_order
        );
    }
    if let Some(st) = &res.stopped {
        let _ = writeln!(
            s,
            "  {:<16} {} at {}",
            "stopped",
            st.reason.strip_prefix("stopped: ").unwrap_or(&st.reason),
            scalp_core::types::fmt_ms(st.time)
        );
    }
    if !m.per_regime.is_empty() {
        let _ = writeln!(
            s,
            "\n{:<14} {:>7} {:>9} {:>14} {:>9} {:>12}",
            "regime", "trades", "win", "net P&L", "PF", "expectancy"
        );
        for (reg, st) in &m.per_regime {
            s.push_str(&stats_row(reg.as_str(), st));
        }
    }
    if let Some(id) = r.run_id {
        let _ = writeln!(s, "\nstored as backtest_runs.id = {id}");
    }
    s
}
