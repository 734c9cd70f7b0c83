//! Scalp Radar SQLite store (see `docs/STORAGE.md`). Portable: also used by `optimize.exe`.
//!
//! * [`open`]: creates the parent directory, opens the database, sets the per-connection pragmas
//!   (`journal_mode=WAL` once per database, `synchronous=NORMAL`, `busy_timeout` 10 s,
//!   `foreign_keys=ON`) and migrates to the latest schema — safe when several processes start
//!   at once on a fresh database (migrations are serialised by a lock file). [`open_readonly`]
//!   for readers (no migrations, `query_only`).
//! * Migrations: `lib/store/migrations/NN-name/up.sql`, collected at build time; adding a
//!   directory is all that is needed. The schema version is `PRAGMA user_version`.
//! * Market data (migration 01): [`candles`], [`funding`], [`open_interest`].
//! * Maintenance: [`backup`] (online backup API + integrity check), [`checkpoint`].
//!
//! Other crates run their own SQL on the same [`Connection`] for their own tables.

pub mod candles;
mod codec;
pub mod funding;
mod migrate;
pub mod open_interest;

pub use migrate::{LATEST_VERSION, migration_names, schema_version};
pub use rusqlite::Connection;

use rusqlite::{OpenFlags, TransactionBehavior};
use scalp_core::{Exchange, Timeframe};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `busy_timeout` of every connection: how long a statement waits for another process's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of this crate. Every variant names the database (or the series) concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite error on database `db` (path, or `:memory:`), during `op`.
    #[error("database {db}: {op}: {source}")]
    Sqlite {
        db: String,
        op: String,
        #[source]
        source: rusqlite::Error,
    },
    /// File-system error around the database (parent directory, lock file, backup file).
    #[error("database {db}: {op}: {source}")]
    Io {
        db: String,
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// The database was migrated by a newer binary: never downgraded.
    #[error(
        "database {db}: database schema v{db_version} is newer than this binary (v{binary_version}); upgrade the binary (a schema is never downgraded)"
    )]
    SchemaTooNew {
        db: String,
        db_version: u32,
        binary_version: u32,
    },
    /// A migration failed (the database stays at the previous version).
    #[error("database {db}: migration {name} failed: {reason}")]
    Migration {
        db: String,
        name: String,
        /// The SQLite error alone (the source also carries the whole migration SQL).
        reason: String,
        #[source]
        source: Box<rusqlite_migration::Error>,
    },
    /// Bad input or bad stored data (misaligned open time, non-finite value, unknown
    /// exchange/timeframe in the table, integrity check failure…).
    #[error("database {db}: {msg}")]
    Invalid { db: String, msg: String },
}

/// Display name of a connection's database: its path, or `:memory:`.
pub fn db_name(conn: &Connection) -> String {
    match conn.path() {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => ":memory:".to_string(),
    }
}

pub(crate) fn sql_err(
    conn: &Connection,
    op: impl Into<String>,
) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let db = db_name(conn);
    let op = op.into();
    move |source| StoreError::Sqlite { db, op, source }
}

pub(crate) fn invalid(conn: &Connection, msg: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        db: db_name(conn),
        msg: msg.into(),
    }
}

fn path_sql_err(path: &Path, op: &str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    let db = path.display().to_string();
    let op = op.to_string();
    move |source| StoreError::Sqlite { db, op, source }
}

fn path_io_err(path: &Path, op: &str) -> impl FnOnce(std::io::Error) -> StoreError {
    let db = path.display().to_string();
    let op = op.to_string();
    move |source| StoreError::Io { db, op, source }
}

/// Opens (creating if needed) the database at `path` for reading and writing, sets the pragmas
/// and migrates it to [`LATEST_VERSION`]. Fails with [`StoreError::SchemaTooNew`] if the file was
/// migrated by a newer binary.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(path_io_err(path, "create parent directory"))?;
    }
    let mut conn = Connection::open(path).map_err(path_sql_err(path, "open"))?;
    set_connection_pragmas(&conn)?;
    migrate::migrate(&mut conn, Some(path))?;
    Ok(conn)
}

/// An in-memory database with the full schema (tests, throw-away computations).
pub fn open_in_memory() -> Result<Connection, StoreError> {
    let mut conn =
        Connection::open_in_memory().map_err(path_sql_err(Path::new(":memory:"), "open"))?;
    set_connection_pragmas(&conn)?;
    migrate::migrate(&mut conn, None)?;
    Ok(conn)
}

/// Opens an existing database for reading only (scalpctl, dashboards): no creation, no
/// migration, `SQLITE_OPEN_READ_ONLY` plus `PRAGMA query_only=ON`; a read-only connection
/// never checkpoints the WAL. Errors if the file does not exist.
pub fn open_readonly(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Io {
            db: path.display().to_string(),
            op: "open read-only".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such database file"),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn =
        Connection::open_with_flags(path, flags).map_err(path_sql_err(path, "open read-only"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sql_err(&conn, "set busy_timeout"))?;
    conn.pragma_update(None, "query_only", true)
        .map_err(sql_err(&conn, "set query_only"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sql_err(&conn, "set foreign_keys"))?;
    Ok(conn)
}

/// Per-connection settings (WAL is per database and set under the migration lock).
fn set_connection_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(sql_err(conn, "set busy_timeout"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_err(conn, "set synchronous=NORMAL"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sql_err(conn, "set foreign_keys=ON"))?;
    Ok(())
}

/// Runs `f` atomically: in a `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so
/// a read-then-write never fails with a busy snapshot), or in a savepoint when the caller is
/// already inside a transaction.
pub(crate) fn write_tx<R>(
    conn: &Connection,
    what: &str,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    if conn.is_autocommit() {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(sql_err(conn, format!("{what}: begin immediate")))?;
        let r = f(&tx)?; // dropping tx on error rolls back
        tx.commit()
            .map_err(sql_err(conn, format!("{what}: commit")))?;
        Ok(r)
    } else {
        conn.execute_batch("SAVEPOINT scalp_store")
            .map_err(sql_err(conn, format!("{what}: savepoint")))?;
        match f(conn) {
            Ok(r) => {
                conn.execute_batch("RELEASE scalp_store")
                    .map_err(sql_err(conn, format!("{what}: release savepoint")))?;
                Ok(r)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK TO scalp_store; RELEASE scalp_store");
                Err(e)
            }
        }
    }
}

/// One funding-rate observation: `time` = funding time (ms, UTC), `rate` per funding period as a
/// fraction (0.0001 = 0.01 %; positive = longs pay shorts).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FundingRate {
    pub time: i64,
    pub rate: f64,
}

/// One open-interest snapshot: `time` (ms, UTC), `oi` in the base coin.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OpenInterest {
    pub time: i64,
    pub oi: f64,
}

/// Identifies a candle series: (exchange, symbol, timeframe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey<'a> {
    pub exchange: Exchange,
    pub symbol: &'a str,
    pub timeframe: Timeframe,
}

impl std::fmt::Display for SeriesKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.exchange, self.symbol, self.timeframe)
    }
}

/// Coverage of one stored series (see [`candles::series`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeriesInfo {
    pub exchange: Exchange,
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Number of stored candles.
    pub count: u64,
    /// Open time of the first / last stored candle (None if the series has no candle).
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// What a verified copy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Pages of the copy (`PRAGMA page_count`).
    pub pages: i64,
    /// `PRAGMA integrity_check` of the copy (always `ok`: anything else is an error).
    pub integrity: String,
}

/// How long a backup waits for a database that stays locked before it gives up.
const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(120);

/// Copies `src` into the new file `tmp` with the SQLite backup API **in one step**, i.e. inside
/// one read transaction: a consistent snapshot that never restarts (in WAL mode it blocks no
/// writer; a page-by-page copy would start over at every commit and might never finish on a
/// busy database). Then switches the copy to `journal_mode=DELETE` (one self-contained file),
/// checks its integrity and fsyncs it. `tmp` is left for the caller to move into place; on error
/// it is removed. The one copy routine of the project (`backup` and `scalpctl backup` use it).
pub fn snapshot_to(src: &Connection, tmp: &Path) -> Result<SnapshotStats, StoreError> {
    let res = (|| {
        let mut dst = Connection::open(tmp).map_err(path_sql_err(tmp, "open backup file"))?;
        {
            let b = rusqlite::backup::Backup::new(src, &mut dst)
                .map_err(sql_err(src, "start backup"))?;
            let deadline = std::time::Instant::now() + SNAPSHOT_DEADLINE;
            loop {
                match b
                    .step(-1)
                    .map_err(sql_err(src, format!("backup to {}", tmp.display())))?
                {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    _ if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        return Err(invalid(
                            src,
                            format!(
                                "the database stayed locked for {} s: backup abandoned",
                                SNAPSHOT_DEADLINE.as_secs()
                            ),
                        ));
                    }
                }
            }
        }
        let mode: String = dst
            .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
            .map_err(path_sql_err(tmp, "set journal_mode=DELETE on the copy"))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(StoreError::Invalid {
                db: tmp.display().to_string(),
                msg: format!("copy stayed in journal_mode={mode}"),
            });
        }
        let pages: i64 = dst
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(path_sql_err(tmp, "page_count of the copy"))?;
        integrity_check(&dst)?;
        dst.close()
            .map_err(|(_, e)| path_sql_err(tmp, "close backup file")(e))?;
        std::fs::File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(path_io_err(tmp, "fsync backup file"))?;
        Ok(SnapshotStats {
            pages,
            integrity: "ok".into(),
        })
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    res
}

/// Online backup of `src` into `dest`: [`snapshot_to`] a partial file beside `dest`, then renames
/// it into place and fsyncs the directory (an existing `dest` is replaced only by a verified
/// copy). Never `cp` a live database.
pub fn backup(src: &Connection, dest: &Path) -> Result<SnapshotStats, StoreError> {
    if let Some(src_path) = src.path().filter(|p| !p.is_empty())
        && let (Ok(a), Ok(b)) = (Path::new(src_path).canonicalize(), dest.canonicalize())
        && a == b
    {
        return Err(invalid(
            src,
            format!(
                "backup destination {} is the database itself",
                dest.display()
            ),
        ));
    }
    let io = |op: &'static str| path_io_err(dest, op);
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("create backup directory"))?;
    }
    let mut tmp_name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".partial");
    let tmp: PathBuf = dest.with_file_name(tmp_name);
    remove_partial(&tmp)?;
    let stats = snapshot_to(src, &tmp)?;
    if let Err(e) = std::fs::rename(&tmp, dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("rename backup into place")(e));
    }
    sync_parent_dir(dest).map_err(io("fsync backup directory"))?;
    Ok(stats)
}

/// Removes a stale partial copy and its sidecar files (left by an interrupted backup).
pub fn remove_partial(tmp: &Path) -> Result<(), StoreError> {
    for p in [
        tmp.to_path_buf(),
        sidecar(tmp, "-wal"),
        sidecar(tmp, "-shm"),
        sidecar(tmp, "-journal"),
    ] {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(path_io_err(tmp, "remove stale partial backup")(e));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `PRAGMA integrity_check` → error with the first problems unless the answer is `ok`.
pub fn integrity_check(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(sql_err(conn, "integrity_check"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(sql_err(conn, "integrity_check"))?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(invalid(
            conn,
            format!(
                "integrity_check failed: {}",
                rows.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ),
        ))
    }
}

/// What a WAL checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckpointStats {
    /// Size of the `-wal` file before and after, bytes (after > 0 when a reader kept the
    /// checkpoint from completing; a later one completes it; nothing is lost either way).
    pub wal_bytes_before: u64,
    pub wal_bytes_after: u64,
    /// SQLite reported `busy` for the TRUNCATE (a reader or writer prevented a full one).
    pub busy: bool,
    /// WAL frames, and frames checkpointed, as the PASSIVE pass reported them (TRUNCATE resets
    /// them to 0 when it succeeds).
    pub log_frames: i64,
    pub checkpointed_frames: i64,
}

/// `PRAGMA wal_checkpoint(PASSIVE)` (for the frame counts), then `wal_checkpoint(TRUNCATE)`
/// (waits for writers up to the connection's busy timeout and empties the WAL). The one
/// checkpoint routine of the project; who calls it is stated in ARCHITECTURE.md. In-memory and
/// non-WAL databases report zeros.
pub fn checkpoint(conn: &Connection) -> Result<CheckpointStats, StoreError> {
    let wal = conn
        .path()
        .filter(|p| !p.is_empty())
        .map(|p| sidecar(Path::new(p), "-wal"));
    let size = |p: &Option<PathBuf>| -> u64 {
        p.as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let before = size(&wal);
    let pragma = |mode: &str| -> Result<(i64, i64, i64), StoreError> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(sql_err(conn, format!("wal_checkpoint({mode})")))
    };
    let (_, log, done) = pragma("PASSIVE")?;
    let (busy, _, _) = pragma("TRUNCATE")?;
    Ok(CheckpointStats {
        wal_bytes_before: before,
        wal_bytes_after: size(&wal),
        busy: busy != 0,
        log_frames: log.max(0),
        checkpointed_frames: done.max(0),
    })
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Parses an `exchange` column value.
pub(crate) fn parse_exchange(conn: &Connection, s: &str) -> Result<Exchange, StoreError> {
    s.parse()
        .map_err(|e: String| invalid(conn, format!("stored value: {e}")))
}

/// Parses a `timeframe` column value.
pub(crate) fn parse_timeframe(conn: &Connection, s: &str) -> Result<Timeframe, StoreError> {
    s.parse()
        .map_err(|e: String| invalid(conn, format!("stored value: {e}")))
}
