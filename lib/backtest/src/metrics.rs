//! Performance metrics. Every formula is written out in `docs/METRICS.md`.

use crate::regime::Regime;
use crate::trade::Trade;
use scalp_core::{Candle, Timeframe};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Days per year used to annualise daily figures (crypto trades every day).
pub const DAYS_PER_YEAR: f64 = 365.0;
const DAY_MS: i64 = 86_400_000;

/// Trade statistics of one group of trades (all, or one regime).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TradeStats {
    pub n_trades: u32,
    pub wins: u32,
    pub losses: u32,
    /// Percent of trades with net P&L > 0.
    pub win_rate: f64,
    pub net_pnl: f64,
    pub gross_pnl: f64,
    /// Σ net wins / |Σ net losses|; `None` when there is no losing trade.
    pub profit_factor: Option<f64>,
    /// Same on gross P&L (before fees and funding).
    pub gross_profit_factor: Option<f64>,
    /// Mean net P&L of winning trades (0 when none).
    pub avg_win: f64,
    /// Mean net P&L of losing trades (≤ 0; 0 when none).
    pub avg_loss: f64,
    /// avg_win / |avg_loss|; `None` when there is no loss.
    pub risk_reward: Option<f64>,
    /// Mean net P&L per trade.
    pub expectancy: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    pub initial_capital: f64,
    pub final_equity: f64,
    /// final_equity − initial_capital.
    pub net_pnl: f64,
    /// 100 × net_pnl / initial_capital.
    pub return_pct: f64,
    /// Σ trade gross P&L (fill prices include slippage; before fees and funding).
    pub gross_pnl: f64,
    pub fees: f64,
    pub slippage: f64,
    pub funding: f64,
    /// 100 × fees / initial_capital.
    pub fee_drag_pct: f64,
    #[serde(flatten)]
    pub trades: TradeStats,
    pub liquidations: u32,
    /// Annualised Sharpe ratio of daily equity returns (risk-free 0); `None` with < 2 days or
    /// zero volatility.
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio of daily equity returns; `None` without downside.
    pub sortino: Option<f64>,
    /// Largest peak-to-trough fall of the per-candle equity, percent of the peak.
    pub max_drawdown_pct: f64,
    /// Longest time (ms) from an equity peak until equity is back at or above it (or the end).
    pub max_drawdown_duration_ms: i64,
    /// Percent of candles during which a position was open (entry to exit candle inclusive).
    pub exposure_pct: f64,
    pub n_candles: usize,
    pub start: i64,
    /// Close time of the last candle.
    pub end: i64,
    pub per_regime: BTreeMap<Regime, TradeStats>,
}

pub fn trade_stats<'a>(trades: impl Iterator<Item = &'a Trade>) -> TradeStats {
    let mut s = TradeStats::default();
    let (mut win_sum, mut loss_sum, mut gwin, mut gloss) = (0.0, 0.0, 0.0, 0.0);
    for t in trades {
        s.n_trades += 1;
        s.net_pnl += t.net_pnl;
        s.gross_pnl += t.gross_pnl;
        if t.net_pnl > 0.0 {
            s.wins += 1;
            win_sum += t.net_pnl;
        } else if t.net_pnl < 0.0 {
            s.losses += 1;
            loss_sum += t.net_pnl;
        }
        if t.gross_pnl > 0.0 {
            gwin += t.gross_pnl;
        } else {
            gloss += t.gross_pnl;
        }
    }
    if s.n_trades > 0 {
        s.win_rate = 100.0 * f64::from(s.wins) / f64::from(s.n_trades);
        s.expectancy = s.net_pnl / f64::from(s.n_trades);
    }
    s.profit_factor = (loss_sum < 0.0).then(|| win_sum / -loss_sum);
    s.gross_profit_factor = (gloss < 0.0).then(|| gwin / -gloss);
    if s.wins > 0 {
        s.avg_win = win_sum / f64::from(s.wins);
    }
    if s.losses > 0 {
        s.avg_loss = loss_sum / f64::from(s.losses);
        s.risk_reward = Some(s.avg_win / -s.avg_loss);
    }
    s
}

/// Computes every metric from the trades and the per-candle equity.
pub fn compute_metrics(
    trades: &[Trade],
    equity: &[f64],
    candles: &[Candle],
    tf: Timeframe,
    capital: f64,
) -> Metrics {
    let n = equity.len();
    let tf_ms = tf.ms();
    let final_equity = equity.last().copied().unwrap_or(capital);
    let mut m = Metrics {
        initial_capital: capital,
        final_equity,
        net_pnl: final_equity - capital,
        return_pct: 100.0 * (final_equity - capital) / capital,
        n_candles: n,
        start: candles.first().map_or(0, |c| c.open_time),
        end: candles.last().map_or(0, |c| c.open_time + tf_ms),
        trades: trade_stats(trades.iter()),
        ..Metrics::default()
    };
    for t in trades {
        m.gross_pnl += t.gross_pnl;
        m.fees += t.fees;
        m.slippage += t.slippage;
        m.funding += t.funding;
        if t.exit_reason == scalp_strategy::ExitReason::Liquidation {
            m.liquidations += 1;
        }
    }
    m.fee_drag_pct = 100.0 * m.fees / capital;
    for r in Regime::ALL {
        if trades.iter().any(|t| t.regime == r) {
            m.per_regime
                .insert(r, trade_stats(trades.iter().filter(|t| t.regime == r)));
        }
    }

    // One pass over the per-candle equity: drawdown (the initial capital is the first peak),
    // its longest duration, and the equity at the end of each UTC day.
    let mut peak = capital;
    let mut peak_time = m.start;
    let mut in_dd = false;
    let mut max_dd = 0.0f64;
    let mut max_dur = 0i64;
    let mut rets: Vec<f64> = Vec::with_capacity(n / 24 + 2);
    let mut prev_day_eq = capital;
    let mut day_end = i64::MIN; // first ms after the current UTC day
    let mut last_eq = capital;
    for (i, &e) in equity.iter().enumerate() {
        let close_time = candles[i].open_time + tf_ms;
        if e >= peak {
            if in_dd {
                max_dur = max_dur.max(close_time - peak_time);
                in_dd = false;
            }
            peak = e;
            peak_time = close_time;
        } else {
            in_dd = true;
            max_dd = max_dd.max(1.0 - e / peak);
        }
        // The candle belongs to the UTC day of its last millisecond (close_time − 1).
        if close_time > day_end {
            if day_end != i64::MIN {
                rets.push(last_eq / prev_day_eq - 1.0);
                prev_day_eq = last_eq;
            }
            day_end = ((close_time - 1).div_euclid(DAY_MS) + 1) * DAY_MS;
        }
        last_eq = e;
    }
    if !equity.is_empty() {
        rets.push(last_eq / prev_day_eq - 1.0);
    }
    if in_dd {
        max_dur = max_dur.max(m.end - peak_time);
    }
    m.max_drawdown_pct = 100.0 * max_dd;
    m.max_drawdown_duration_ms = max_dur;

    // Exposure: candles between entry and exit (inclusive), counted once.
    let mut covered = 0usize;
    let mut next_free = 0usize;
    for t in trades {
        let a = t.entry_index.max(next_free);
        if t.exit_index >= a {
            covered += t.exit_index - a + 1;
            next_free = t.exit_index + 1;
        }
    }
    if n > 0 {
        m.exposure_pct = 100.0 * covered as f64 / n as f64;
    }

    let (sharpe, sortino) = sharpe_sortino(&rets, DAYS_PER_YEAR);
    m.sharpe = sharpe;
    m.sortino = sortino;
    m
}

/// Sharpe = mean / sample std × √periods; Sortino = mean / downside deviation × √periods with
/// downside deviation = √(Σ min(r, 0)² / N).
pub fn sharpe_sortino(rets: &[f64], periods_per_year: f64) -> (Option<f64>, Option<f64>) {
    let n = rets.len();
    if n < 2 {
        return (None, None);
    }
    let nf = n as f64;
    let mean = rets.iter().sum::<f64>() / nf;
    let var = rets.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (nf - 1.0);
    let ann = periods_per_year.sqrt();
    let sharpe = (var > 0.0).then(|| mean / var.sqrt() * ann);
    let down = (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / nf).sqrt();
    let sortino = (down > 0.0).then(|| mean / down * ann);
    (sharpe, sortino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_duration_and_daily_returns_by_hand() {
        // 12 h candles: day 0 = candles 0,1; day 1 = candles 2,3; day 2 = candle 4.
        let tf = Timeframe::H12;
        let candles: Vec<Candle> = (0..5)
            .map(|i| Candle {
                open_time: i * 43_200_000,
                open: 1.0,
                high: 1.0,
                low: 1.0,
                close: 1.0,
                volume: 0.0,
            })
            .collect();
        let equity = [110.0, 99.0, 105.0, 121.0, 108.9];
        let m = compute_metrics(&[], &equity, &candles, tf, 100.0);
        // Peaks: 110 (close of candle 0 at 12 h), then 121; troughs 99 (−10 %), 108.9 (−10 %).
        assert!((m.max_drawdown_pct - 10.0).abs() < 1e-9);
        // 110 set at 12 h, recovered at the close of candle 3 (48 h): 36 h; the last one lasts
        // from 48 h to the end (60 h): 12 h.
        assert_eq!(m.max_drawdown_duration_ms, 36 * 3_600_000);
        // Daily equity: 99, 121, 108.9 → returns −1 %, +22.2…%, −10 %.
        let r = [99.0 / 100.0 - 1.0, 121.0 / 99.0 - 1.0, 108.9 / 121.0 - 1.0];
        let (sh, so) = sharpe_sortino(&r, 365.0);
        assert_eq!((m.sharpe, m.sortino), (sh, so));
        assert!((m.return_pct - 8.9).abs() < 1e-9);
    }

    #[test]
    fn sharpe_sortino_by_hand() {
        let r = [0.01, -0.02, 0.03, 0.0];
        let (sh, so) = sharpe_sortino(&r, 365.0);
        // mean 0.005, sample var = (0.000025+0.000625+0.000625+0.000025)/3 = 0.00043333…
        let sd = (0.0013f64 / 3.0).sqrt();
        assert!((sh.unwrap() - 0.005 / sd * 365f64.sqrt()).abs() < 1e-12);
        // downside dev = sqrt(0.0004/4) = 0.01
        assert!((so.unwrap() - 0.5 * 365f64.sqrt()).abs() < 1e-12);
        assert_eq!(sharpe_sortino(&[0.1], 365.0), (None, None));
    }
}
