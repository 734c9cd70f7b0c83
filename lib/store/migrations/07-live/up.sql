-- 07-live: live trading (owner: scalp-live, docs/EXECUTOR.md).
--
-- Writers: the scalp-executor@<strategy> instances, each only of the rows whose `strategy` is its
-- own (one instance per strategy is guaranteed by systemd's template unit and by the lock file
-- state/executor-<strategy>.lock the instance holds while it runs). Readers: scalpctl (reconcile,
-- trades, audit-fees), scalp-watchdog (live_events → alerts), scalp-api (dashboard).
-- Times are ms since the Unix epoch (UTC). Exchange quantities and prices are the exact decimal
-- strings the exchange sent or received; the engine's figures are f64.

-- One row per live runner (strategy × asset): identity and crash-safe snapshot, written in the
-- same transaction as the trades and events of the candle it was taken after.
CREATE TABLE IF NOT EXISTS live_runners (
    runner_id         TEXT    PRIMARY KEY,       -- "<strategy>:<asset>"
    strategy          TEXT    NOT NULL,
    asset             TEXT    NOT NULL,
    symbol            TEXT    NOT NULL,
    timeframe         TEXT    NOT NULL,
    params_hash       TEXT    NOT NULL,
    capital           REAL    NOT NULL,
    warmup_from       INTEGER NOT NULL,
    origin_open_time  INTEGER NOT NULL,
    last_open_time    INTEGER,
    snapshot_version  INTEGER NOT NULL,
    engine_state      BLOB,                      -- EngineState (CBOR)
    strategy_state    BLOB,                      -- Strategy::save_state (CBOR)
    fills_cursor      TEXT    NOT NULL,          -- JSON: exchange fills already booked, the open exit
    updated_at        INTEGER NOT NULL
);

-- Every request sent to the exchange and its answer: inserted before the request goes out
-- (status 'sent'), updated with the answer ('ok' | 'error'). A 'sent' row after a crash is an
-- answer that was never recorded: reconciliation looks the order up by its clientOid.
CREATE TABLE IF NOT EXISTS live_orders (
    id           INTEGER PRIMARY KEY,
    strategy     TEXT    NOT NULL,
    asset        TEXT,
    symbol       TEXT    NOT NULL,
    action       TEXT    NOT NULL,               -- place | cancel | place_plan | cancel_plan | close_positions
    client_oid   TEXT,
    purpose      TEXT,                           -- level:N | entry | close:<reason> | take_profit | stop_loss | kill_switch | reconcile
    side         TEXT,
    order_type   TEXT,
    qty          TEXT,
    price        TEXT,
    reduce_only  INTEGER,
    candle_time  INTEGER,                        -- open time of the candle that decided it
    sent_at      INTEGER NOT NULL,
    status       TEXT    NOT NULL,               -- sent | ok | error
    order_id     TEXT,
    answer       TEXT,                           -- the exchange's answer or the error, one line
    answered_at  INTEGER
);
CREATE INDEX IF NOT EXISTS live_orders_oid ON live_orders (strategy, client_oid);

-- Closed live trades: the paper trade fields (the engine booked the exchange's fills) plus what
-- the exchange charged.
CREATE TABLE IF NOT EXISTS live_trades (
    runner_id          TEXT    NOT NULL,
    seq                INTEGER NOT NULL,
    strategy           TEXT    NOT NULL,
    asset              TEXT    NOT NULL,
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL,
    entry_time         INTEGER NOT NULL,
    exit_time          INTEGER NOT NULL,
    entry_price        REAL    NOT NULL,
    exit_price         REAL    NOT NULL,
    qty                REAL    NOT NULL,
    entries            INTEGER NOT NULL,
    margin             REAL    NOT NULL,
    fees               REAL    NOT NULL,         -- fees the exchange charged (USDT)
    funding            REAL    NOT NULL,         -- the engine's funding model
    slippage           REAL    NOT NULL,
    gross_pnl          REAL    NOT NULL,
    net_pnl            REAL    NOT NULL,
    exit_reason        TEXT    NOT NULL,
    regime             TEXT    NOT NULL,
    exchange_funding   REAL,                     -- funding settlements the exchange booked while open (NULL: not read)
    order_ids          TEXT    NOT NULL,         -- JSON array of the exchange order ids of its fills
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (runner_id, seq)
);
CREATE INDEX IF NOT EXISTS live_trades_exit ON live_trades (exit_time);

-- Outbox of what happened (as sim_events): kind = entry | exit | order_rejected | stop_armed |
-- kill_switch | kill_switch_reset | reconcile | halted | insufficient_balance | started | stopped.
CREATE TABLE IF NOT EXISTS live_events (
    id          INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    strategy    TEXT    NOT NULL,
    asset       TEXT,
    kind        TEXT    NOT NULL,
    detail      TEXT    NOT NULL                 -- JSON object
);

-- Per-strategy records (JSON values): `kill` (kill switch and the equity highs of its window),
-- `halted`, `control_acks`.
CREATE TABLE IF NOT EXISTS live_meta (
    strategy  TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (strategy, key)
);
