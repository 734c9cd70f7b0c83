//! Persistence of explicit backtests in `backtest_runs` (migration `02-backtest-runs`).

use crate::config::{BacktestConfig, FillMode};
use crate::engine::BacktestResult;
use rusqlite::{Connection, params};
use scalp_core::Candle;

/// The migration that creates `backtest_runs` (also applied by the store's migration runner;
/// `CREATE ... IF NOT EXISTS`, so applying it twice is harmless).
pub const MIGRATION_SQL: &str = include_str!("../../store/migrations/02-backtest-runs/up.sql");

/// Most points kept of the equity curve.
pub const MAX_CURVE_POINTS: usize = 500;

/// What was run (the rest comes from the config and the result).
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub strategy: String,
    pub asset: String,
    /// `binance`, `bitget`, `replay` or `file` (for `--data`).
    pub exchange: String,
    pub timeframe: String,
    pub params: serde_json::Value,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// Creates `backtest_runs` if absent.
pub fn ensure_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(MIGRATION_SQL)
}

/// Indices of at most `max` points spread evenly over `0..n`, always including the first and
/// the last.
pub fn subsample_indices(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut out: Vec<usize> = (0..max)
        .map(|k| ((k as u128 * (n as u128 - 1)) / (max as u128 - 1)) as usize)
        .collect();
    out.dedup();
    out
}

/// `[[close_time_ms, equity], ...]`, subsampled to ≤ 500 points.
pub fn equity_curve_json(
    res: &BacktestResult,
    candles: &[Candle],
    tf_ms: i64,
) -> serde_json::Value {
    let idx = subsample_indices(res.equity.len(), MAX_CURVE_POINTS);
    serde_json::Value::Array(
        idx.into_iter()
            .map(|i| serde_json::json!([candles[i].open_time + tf_ms, res.equity[i]]))
            .collect(),
    )
}

/// Compact trades: `[entry_time, exit_time, side, entry_price, exit_price, qty, net_pnl,
/// exit_reason, regime]` per trade.
pub fn trades_summary_json(res: &BacktestResult) -> serde_json::Value {
    serde_json::Value::Array(
        res.trades
            .iter()
            .map(|t| {
                serde_json::json!([
                    t.entry_time,
                    t.exit_time,
                    t.side,
                    t.entry_price,
                    t.exit_price,
                    t.qty,
                    t.net_pnl,
                    t.exit_reason,
                    t.regime
                ])
            })
            .collect(),
    )
}

/// Inserts one run; returns its id.
pub fn save_run(
    conn: &Connection,
    meta: &RunMeta,
    cfg: &BacktestConfig,
    res: &BacktestResult,
    candles: &[Candle],
    tf_ms: i64,
) -> rusqlite::Result<i64> {
    let m = &res.metrics;
    let t = &m.trades;
    let fill = match cfg.fill {
        FillMode::NextOpen => "next_open",
        FillMode::Close => "close",
    };
    let regime = serde_json::to_string(&m.per_regime).expect("serialisable");
    conn.execute(
        "INSERT INTO backtest_runs (created_at, strategy_name, asset, exchange, timeframe, params,
            period_start, period_end, n_candles, capital, leverage, maker_fee, taker_fee, slippage,
            fill_mode, sizing, lot_step, funding_rate, final_equity, net_pnl, return_pct, gross_pnl,
            fees, slippage_cost, funding, fee_drag_pct, n_trades, wins, losses, win_rate,
            profit_factor, gross_profit_factor, avg_win, avg_loss, risk_reward, expectancy, sharpe,
            sortino, max_drawdown_pct, max_drawdown_duration_ms, exposure_pct, liquidations, killed,
            regime_stats, equity_curve, trades_summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36,
            ?37, ?38, ?39, ?40, ?41, ?42, ?43, ?44, ?45, ?46)",
        params![
            meta.created_at,
            meta.strategy,
            meta.asset,
            meta.exchange,
            meta.timeframe,
            meta.params.to_string(),
            m.start,
            m.end,
            m.n_candles as i64,
            cfg.capital,
            cfg.leverage,
            cfg.maker_fee,
            cfg.taker_fee,
            cfg.slippage,
            fill,
            cfg.sizing.to_string(),
            cfg.lot_step,
            cfg.funding_rate,
            m.final_equity,
            m.net_pnl,
            m.return_pct,
            m.gross_pnl,
            m.fees,
            m.slippage,
            m.funding,
            m.fee_drag_pct,
            t.n_trades,
            t.wins,
            t.losses,
            t.win_rate,
            t.profit_factor,
            t.gross_profit_factor,
            t.avg_win,
            t.avg_loss,
            t.risk_reward,
            t.expectancy,
            m.sharpe,
            m.sortino,
            m.max_drawdown_pct,
            m.max_drawdown_duration_ms,
            m.exposure_pct,
            m.liquidations,
            // The kill switch's reason, else the minimum-order stop's (`stopped: ...`).
            res.killed
                .as_ref()
                .or(res.stopped.as_ref())
                .map(|k| k.reason.clone()),
            regime,
            equity_curve_json(res, candles, tf_ms).to_string(),
            trades_summary_json(res).to_string(),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsample_keeps_first_last_and_bound() {
        assert_eq!(subsample_indices(3, 500), vec![0, 1, 2]);
        let s = subsample_indices(20_111, 500);
        assert_eq!(s.len(), 500);
        assert_eq!(s[0], 0);
        assert_eq!(*s.last().unwrap(), 20_110);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        let s = subsample_indices(501, 500);
        assert!(s.len() <= 500 && s[0] == 0 && *s.last().unwrap() == 500);
    }
}
