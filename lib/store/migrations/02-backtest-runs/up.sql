-- 02-backtest-runs: every explicit backtest (`optimize backtest`), one row per run
-- (owner: scalp-backtest, docs/BACKTEST.md "Persistence"). WFO-internal backtests are not stored.
--
-- Writer: `optimize backtest` (local optimize db). Readers: `optimize`, scalp-api (reports).
-- Insert-only. Metric columns follow docs/METRICS.md; NULL where a metric is undefined
-- (e.g. profit factor without a losing trade). Times are ms since the Unix epoch (UTC).

CREATE TABLE IF NOT EXISTS backtest_runs (
    id                      INTEGER PRIMARY KEY,
    created_at              TEXT    NOT NULL,              -- RFC 3339 UTC
    strategy_name           TEXT    NOT NULL,
    asset                   TEXT    NOT NULL,
    exchange                TEXT    NOT NULL,              -- binance | bitget | replay | file
    timeframe               TEXT    NOT NULL,
    params                  TEXT    NOT NULL,              -- JSON object
    period_start            INTEGER NOT NULL,              -- open time of the first candle
    period_end              INTEGER NOT NULL,              -- close time of the last candle
    n_candles               INTEGER NOT NULL,
    capital                 REAL    NOT NULL,
    leverage                REAL    NOT NULL,
    maker_fee               REAL    NOT NULL,
    taker_fee               REAL    NOT NULL,
    slippage                REAL    NOT NULL,
    fill_mode               TEXT    NOT NULL,              -- next_open | close
    sizing                  TEXT    NOT NULL,              -- margin_frac | all_cash | fixed:X
    lot_step                REAL    NOT NULL,
    funding_rate            REAL,                          -- NULL = funding disabled
    final_equity            REAL    NOT NULL,
    net_pnl                 REAL    NOT NULL,
    return_pct              REAL    NOT NULL,
    gross_pnl               REAL    NOT NULL,
    fees                    REAL    NOT NULL,
    slippage_cost           REAL    NOT NULL,
    funding                 REAL    NOT NULL,
    fee_drag_pct            REAL    NOT NULL,
    n_trades                INTEGER NOT NULL,
    wins                    INTEGER NOT NULL,
    losses                  INTEGER NOT NULL,
    win_rate                REAL    NOT NULL,
    profit_factor           REAL,
    gross_profit_factor     REAL,
    avg_win                 REAL    NOT NULL,
    avg_loss                REAL    NOT NULL,
    risk_reward             REAL,
    expectancy              REAL    NOT NULL,
    sharpe                  REAL,
    sortino                 REAL,
    max_drawdown_pct        REAL    NOT NULL,
    max_drawdown_duration_ms INTEGER NOT NULL,
    exposure_pct            REAL    NOT NULL,
    liquidations            INTEGER NOT NULL,
    killed                  TEXT,                          -- kill-switch reason, NULL if not tripped
    regime_stats            TEXT    NOT NULL,              -- JSON {regime: TradeStats}
    equity_curve            TEXT    NOT NULL,              -- JSON [[time_ms, equity], ...] ≤ 500 points, first and last kept
    trades_summary          TEXT    NOT NULL               -- JSON compact trade list (see docs/BACKTEST.md)
);

CREATE INDEX IF NOT EXISTS backtest_runs_strategy_asset ON backtest_runs (strategy_name, asset, created_at);
