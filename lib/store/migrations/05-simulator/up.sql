-- 05-simulator: paper trading (owner: scalp-simulator, docs/SIMULATOR.md).
--
-- Writer of all three tables: scalp-simulator (the only one). Readers: scalpctl (trades, arena),
-- later scalp-watchdog (sim_events → alerts), scalp-api (dashboard).
-- Times are ms since the Unix epoch (UTC). Prices and quantities are f64 (the engine's values,
-- bit for bit). A runner is one strategy instance on one asset: runner_id = "<strategy>:<asset>".
-- `epoch` starts at 0 and is bumped by a reset (a fresh start at the initial capital); the rows
-- of earlier epochs are kept.

-- One row per runner: its identity and its crash-safe snapshot, written in the same transaction
-- as the trades and events of the candle it was taken after.
CREATE TABLE IF NOT EXISTS sim_runners (
    runner_id         TEXT    PRIMARY KEY,
    strategy          TEXT    NOT NULL,
    asset             TEXT    NOT NULL,
    exchange          TEXT    NOT NULL,          -- the series' exchange (binance | bitget | replay)
    timeframe         TEXT    NOT NULL,          -- primary timeframe
    epoch             INTEGER NOT NULL DEFAULT 0,
    params            TEXT    NOT NULL,          -- JSON object (resolved, per-asset overrides applied)
    params_hash       TEXT    NOT NULL,          -- of params + engine settings + capital; a change restarts the runner
    capital           REAL    NOT NULL,          -- initial paper capital of this epoch
    warmup_from       INTEGER NOT NULL,          -- open time of the first candle fed (entries blocked before origin)
    origin_open_time  INTEGER NOT NULL,          -- open time of the first candle this epoch trades
    last_open_time    INTEGER,                   -- open time of the last candle processed (NULL: none yet)
    steps             INTEGER NOT NULL DEFAULT 0,-- candles processed this epoch
    snapshot_version  INTEGER NOT NULL,          -- format of the two blobs
    engine_state      BLOB,                      -- EngineState (CBOR, f64 bit-exact)
    strategy_state    BLOB,                      -- Strategy::save_state (CBOR)
    updated_at        INTEGER NOT NULL
);

-- Every closed paper trade, the backtest's trade fields.
CREATE TABLE IF NOT EXISTS sim_trades (
    runner_id    TEXT    NOT NULL,
    epoch        INTEGER NOT NULL,
    seq          INTEGER NOT NULL,               -- 1, 2, … per runner and epoch
    strategy     TEXT    NOT NULL,
    asset        TEXT    NOT NULL,
    side         TEXT    NOT NULL,               -- long | short
    entry_time   INTEGER NOT NULL,
    exit_time    INTEGER NOT NULL,
    entry_price  REAL    NOT NULL,               -- volume-weighted average entry (slippage included)
    exit_price   REAL    NOT NULL,
    qty          REAL    NOT NULL,
    entries      INTEGER NOT NULL,
    margin       REAL    NOT NULL,
    fees         REAL    NOT NULL,
    funding      REAL    NOT NULL,
    slippage     REAL    NOT NULL,
    gross_pnl    REAL    NOT NULL,
    net_pnl      REAL    NOT NULL,
    exit_reason  TEXT    NOT NULL,               -- signal | stop_loss | take_profit | liquidation | kill_switch | end_of_data | …
    regime       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,               -- wall clock when the simulator committed it
    PRIMARY KEY (runner_id, epoch, seq)
);
CREATE INDEX IF NOT EXISTS sim_trades_exit ON sim_trades (exit_time);

-- Monotonic outbox of what happened (the watchdog turns it into alerts; it remembers the last id
-- it sent). Rows are never deleted, so the rowid alone is monotonic (no AUTOINCREMENT and its
-- per-insert sqlite_sequence update). kind: entry | exit | level_filled | levels | kill_switch | global_kill_switch |
-- kill_switch_reset | reset | stopped | runner_started.
CREATE TABLE IF NOT EXISTS sim_events (
    id          INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,                -- market time of the event (fill / candle close)
    created_at  INTEGER NOT NULL,                -- wall clock of the commit
    runner_id   TEXT,                            -- NULL for events of the whole simulator
    strategy    TEXT,
    asset       TEXT,
    kind        TEXT    NOT NULL,
    detail      TEXT    NOT NULL                 -- JSON object
);

-- The simulator's own small records: `global_kill` (the global kill switch), `equity_window`
-- (the summed-equity highs of the last `[risk].window_hours`), `control_acks` (the last control
-- request applied per control file). JSON values, written with the runners' snapshots.
CREATE TABLE IF NOT EXISTS sim_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
