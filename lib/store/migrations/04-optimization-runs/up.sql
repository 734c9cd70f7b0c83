-- 04-optimization-runs: walk-forward runs, their windows and every combination tested
-- (owner: scalp-optimizer, docs/OPTIMIZER.md).
--
-- Writer: `optimize run` in its local database ([optimize].db). Readers: `optimize grades`,
-- `optimize run --resume/--regrade`, the dashboard (read-only) when pointed at it.
-- Progress is updated during a run: phase wfo 0–65 %, overfitting 65–80 %, validation 80–95 %,
-- done 100 %; status running → completed | failed (with the error message).

CREATE TABLE IF NOT EXISTS optimization_runs (
    id               INTEGER PRIMARY KEY,
    strategy_name    TEXT    NOT NULL,
    asset            TEXT    NOT NULL,
    timeframe        TEXT    NOT NULL,
    exchange         TEXT    NOT NULL,
    started_at       TEXT    NOT NULL,              -- ISO-8601 UTC
    updated_at       TEXT    NOT NULL,
    finished_at      TEXT,
    status           TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    phase            TEXT    NOT NULL DEFAULT 'wfo' CHECK (phase IN ('wfo', 'overfitting', 'validation', 'done')),
    progress_pct     REAL    NOT NULL DEFAULT 0 CHECK (progress_pct >= 0 AND progress_pct <= 100),
    error            TEXT,                          -- failure message (status = 'failed')
    settings         TEXT,                          -- JSON: grid, windows, engine settings
    result_created_at TEXT,                         -- optimization_results.created_at of the saved result
    report_path      TEXT,
    duration_seconds REAL
);

CREATE INDEX IF NOT EXISTS idx_optimization_runs_key
    ON optimization_runs (strategy_name, asset, timeframe, status);

CREATE TABLE IF NOT EXISTS optimization_windows (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES optimization_runs (id) ON DELETE CASCADE,
    window_index   INTEGER NOT NULL,
    is_start       INTEGER NOT NULL,                -- open times, ms UTC
    is_end         INTEGER NOT NULL,
    oos_start      INTEGER NOT NULL,
    oos_end        INTEGER NOT NULL,
    best_params    TEXT    NOT NULL,                -- JSON object
    is_sharpe      REAL,
    is_trades      INTEGER,
    oos_sharpe     REAL,
    oos_return_pct REAL,
    oos_trades     INTEGER,
    oos_max_dd     REAL,
    regime         TEXT CHECK (regime IN ('bull', 'bear', 'range', 'crash')),
    combos_tested  INTEGER,
    UNIQUE (run_id, window_index)
);

CREATE TABLE IF NOT EXISTS wfo_combo_results (
    id            INTEGER PRIMARY KEY,
    run_id        INTEGER NOT NULL REFERENCES optimization_runs (id) ON DELETE CASCADE,
    window_index  INTEGER NOT NULL,
    pass          TEXT    NOT NULL CHECK (pass IN ('coarse', 'fine')),
    params        TEXT    NOT NULL,                 -- JSON object
    is_sharpe     REAL,
    is_return_pct REAL,
    n_trades      INTEGER,
    max_dd        REAL
);

CREATE INDEX IF NOT EXISTS idx_wfo_combo_results_run
    ON wfo_combo_results (run_id, window_index);
