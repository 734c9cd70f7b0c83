-- 01-market-data: candles, funding rates, open interest (owner: scalp-store, docs/STORAGE.md).
--
-- Writer: scalp-collector only (server db); `optimize fetch-*` in its own local db.
-- Readers: every other daemon, scalpctl, optimize. Times are ms since the Unix epoch (UTC).

-- One row per candle series. Prices/volumes of a series are stored as fixed-point integers
-- scaled by 10^price_scale / 10^volume_scale (see candles below); the scales only grow.
CREATE TABLE series (
    id           INTEGER PRIMARY KEY,
    exchange     TEXT    NOT NULL,                 -- binance | bitget | replay
    symbol       TEXT    NOT NULL,                 -- exchange symbol, e.g. BTCUSDT
    timeframe    TEXT    NOT NULL,                 -- 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d
    tf_ms        INTEGER NOT NULL CHECK (tf_ms > 0),
    price_scale  INTEGER NOT NULL DEFAULT 0 CHECK (price_scale BETWEEN 0 AND 12),
    volume_scale INTEGER NOT NULL DEFAULT 0 CHECK (volume_scale BETWEEN 0 AND 12),
    UNIQUE (exchange, symbol, timeframe)
);

-- Closed candles only. Key (series, open_time) = (exchange, symbol, timeframe, open time): no
-- duplicates. open_time is aligned to the timeframe (checked by the writer API).
-- o h l c v have NO declared type on purpose (no affinity conversion):
--   INTEGER n -> the value is n / 10^scale (exact decimal, compact varint-like storage);
--   REAL x    -> the value is x itself (fallback for values not exact at the series' scale).
-- Use the candles_v view (or scalp_store::candles::load) to read decoded values.
CREATE TABLE candles (
    series_id  INTEGER NOT NULL REFERENCES series (id),
    open_time  INTEGER NOT NULL,
    o, h, l, c, v,
    PRIMARY KEY (series_id, open_time)
) WITHOUT ROWID;

-- Decoded view for humans and ad-hoc SQL (same f64 values as the Rust API).
CREATE VIEW candles_v AS
SELECT s.exchange, s.symbol, s.timeframe, c.open_time,
       CASE typeof(c.o) WHEN 'integer' THEN c.o * 1.0 / p.d ELSE c.o END AS open,
       CASE typeof(c.h) WHEN 'integer' THEN c.h * 1.0 / p.d ELSE c.h END AS high,
       CASE typeof(c.l) WHEN 'integer' THEN c.l * 1.0 / p.d ELSE c.l END AS low,
       CASE typeof(c.c) WHEN 'integer' THEN c.c * 1.0 / p.d ELSE c.c END AS close,
       CASE typeof(c.v) WHEN 'integer' THEN c.v * 1.0 / p.vd ELSE c.v END AS volume
FROM candles c
JOIN series s ON s.id = c.series_id
JOIN (SELECT id,
             CAST('1' || substr('000000000000', 1, price_scale) AS INTEGER) AS d,
             CAST('1' || substr('000000000000', 1, volume_scale) AS INTEGER) AS vd
      FROM series) p ON p.id = s.id;

-- Funding rate per funding period (fraction: 0.0001 = 0.01 %), keyed by funding time.
CREATE TABLE funding_rates (
    exchange     TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    funding_time INTEGER NOT NULL,
    rate         REAL    NOT NULL,
    PRIMARY KEY (exchange, symbol, funding_time)
) WITHOUT ROWID;

-- Open interest snapshots: oi in the base coin; oi_value in the quote coin (USDT) when the
-- exchange reports it (Binance openInterestHist), else NULL.
CREATE TABLE open_interest (
    exchange TEXT    NOT NULL,
    symbol   TEXT    NOT NULL,
    ts       INTEGER NOT NULL,
    oi       REAL    NOT NULL,
    oi_value REAL,
    PRIMARY KEY (exchange, symbol, ts)
) WITHOUT ROWID;
