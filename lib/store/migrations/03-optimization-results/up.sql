-- 03-optimization-results: optimizer results and portfolio backtests (owner: scalp-sync, docs/SYNC.md).
--
-- Writers: on the server, scalp-syncd only (rows received over HTTP, source = 'server');
--          on a workstation's local optimize db, `optimize` (source = 'local').
-- Insert-only: rows are never updated except `is_latest`, never deleted by the sync path.
-- `source` is part of the fresh schema; code that inserts checks that the column exists so it
-- also works on a database created before the column was introduced.

CREATE TABLE IF NOT EXISTS optimization_results (
    id                  INTEGER PRIMARY KEY,
    strategy_name       TEXT    NOT NULL,
    asset               TEXT    NOT NULL,
    timeframe           TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,              -- ISO-8601 exactly as sent by optimize
    duration_seconds    REAL,
    grade               TEXT    NOT NULL,              -- A..F
    total_score         REAL    NOT NULL,
    oos_sharpe          REAL,
    consistency         REAL,
    oos_is_ratio        REAL,
    dsr                 REAL,
    param_stability     REAL,
    monte_carlo_pvalue  REAL,
    mc_underpowered     INTEGER NOT NULL DEFAULT 0 CHECK (mc_underpowered IN (0, 1)),
    n_windows           INTEGER NOT NULL,
    n_distinct_combos   INTEGER,
    best_params         TEXT    NOT NULL,              -- JSON object text
    wfo_windows         TEXT,                          -- JSON text
    monte_carlo_summary TEXT,                          -- JSON text
    validation_summary  TEXT,                          -- JSON text
    warnings            TEXT,                          -- JSON text
    regime_analysis     TEXT,                          -- JSON text
    source              TEXT    NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'server')),
    is_latest           INTEGER NOT NULL DEFAULT 0 CHECK (is_latest IN (0, 1)),
    UNIQUE (strategy_name, asset, timeframe, created_at)
);

CREATE INDEX IF NOT EXISTS idx_optimization_results_latest
    ON optimization_results (strategy_name, asset, timeframe, is_latest);

-- At most one latest row per strategy/asset/timeframe, enforced by the database itself:
-- writers clear the old flag before setting the new one, in one transaction.
CREATE UNIQUE INDEX IF NOT EXISTS uq_optimization_results_one_latest
    ON optimization_results (strategy_name, asset, timeframe) WHERE is_latest = 1;

CREATE TABLE IF NOT EXISTS portfolio_backtests (
    id                  INTEGER PRIMARY KEY,
    strategy_name       TEXT    NOT NULL,
    assets              TEXT    NOT NULL,              -- JSON array of symbols
    timeframe           TEXT    NOT NULL,
    created_at          TEXT    NOT NULL,              -- ISO-8601 exactly as sent
    duration_seconds    REAL,
    period_start        TEXT,                          -- ISO-8601 date or date-time
    period_end          TEXT,
    initial_capital     REAL    NOT NULL,              -- quote currency (USDT)
    final_equity        REAL,
    total_return        REAL    NOT NULL,              -- fraction: 0.12 = +12 %
    sharpe              REAL,
    sortino             REAL,
    max_drawdown        REAL,                          -- fraction of peak equity, positive: 0.2 = -20 %
    win_rate            REAL,                          -- fraction of winning trades
    profit_factor       REAL,
    n_trades            INTEGER NOT NULL,
    params              TEXT,                          -- JSON text
    per_asset           TEXT,                          -- JSON text
    equity_curve        TEXT,                          -- JSON text
    warnings            TEXT,                          -- JSON text
    source              TEXT    NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'server')),
    UNIQUE (strategy_name, timeframe, created_at)
);
