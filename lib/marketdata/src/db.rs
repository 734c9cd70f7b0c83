//! The collector's and the data commands' use of scalp-store, in one place.

use crate::{Error, Series};
use scalp_core::{Candle, Exchange};
use scalp_store::{FundingRate, OpenInterest, StoreError};
use std::path::Path;

pub type Conn = scalp_store::Connection;

/// Opens (creating and migrating if needed) the database at `path`.
pub fn open(path: &Path) -> Result<Conn, Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDbDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    scalp_store::open(path).map_err(|source| Error::OpenDb {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Upserts closed candles of one series; returns the rows inserted or changed.
pub fn upsert_candles(conn: &Conn, s: &Series, candles: &[Candle]) -> Result<usize, StoreError> {
    scalp_store::candles::upsert(conn, &s.key(), candles)
}

pub fn last_open_time(conn: &Conn, s: &Series) -> Result<Option<i64>, StoreError> {
    scalp_store::candles::last_open_time(conn, &s.key())
}

pub fn upsert_funding(
    conn: &Conn,
    ex: Exchange,
    symbol: &str,
    rates: &[FundingRate],
) -> Result<usize, StoreError> {
    scalp_store::funding::upsert(conn, ex, symbol, rates)
}

pub fn upsert_open_interest(
    conn: &Conn,
    ex: Exchange,
    symbol: &str,
    points: &[OpenInterest],
) -> Result<usize, StoreError> {
    scalp_store::open_interest::upsert(conn, ex, symbol, points)
}

pub fn last_funding_time(
    conn: &Conn,
    ex: Exchange,
    symbol: &str,
) -> Result<Option<i64>, StoreError> {
    scalp_store::funding::last_time(conn, ex, symbol)
}

/// Missing open-time ranges `[start, end)` of a series inside `[from, to)`, including a
/// missing head and tail.
pub fn missing_ranges(
    conn: &Conn,
    s: &Series,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    scalp_store::candles::gaps(conn, &s.key(), from, to)
}
