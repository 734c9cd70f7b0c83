//! Versioned migrations, serialised across processes.
//!
//! Race being prevented: six daemons start at once on a fresh database. Switching to WAL needs
//! an exclusive lock and cannot run inside a transaction; two processes running migration 1
//! concurrently would collide ("table already exists", SQLITE_BUSY on lock upgrade). So:
//!
//! 1. fast path without any lock: `user_version == LATEST` and `journal_mode == wal` → done;
//! 2. otherwise take an exclusive OS lock on `<db>.migrate.lock` (std `File::lock`: `flock` on
//!    Unix, `LockFileEx` on Windows; released when the process dies), then — under the lock —
//!    switch to WAL, **re-read** `user_version` (another process may have migrated meanwhile)
//!    and apply the missing migrations, each in a `BEGIN IMMEDIATE` transaction together with
//!    its `user_version` bump (rusqlite_migration);
//! 3. a database whose `user_version` is above what this binary knows is refused, never
//!    downgraded.
//!
//! The lock is a separate file on purpose: SQLite's own POSIX locks on the database file would be
//! released if this process opened and closed another descriptor on it.

use crate::{StoreError, db_name, sql_err};
use rusqlite::{Connection, TransactionBehavior};
use rusqlite_migration::Migrations;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Schema version after all migrations of this binary (= number of migration directories).
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// Names of the migration directories, in order (`names[v - 1]` brings the schema to `v`).
pub fn migration_names() -> &'static [&'static str] {
    MIGRATION_NAMES
}

/// `PRAGMA user_version` of the database: the number of migrations applied.
pub fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| v as u32)
        .map_err(sql_err(conn, "read user_version"))
}

fn journal_mode(conn: &Connection) -> Result<String, StoreError> {
    conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
        .map(|m| m.to_ascii_lowercase())
        .map_err(sql_err(conn, "read journal_mode"))
}

fn check_not_newer(conn: &Connection, v: u32) -> Result<(), StoreError> {
    if v > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew {
            db: db_name(conn),
            db_version: v,
            binary_version: LATEST_VERSION,
        });
    }
    Ok(())
}

pub(crate) fn migrate(conn: &mut Connection, path: Option<&Path>) -> Result<(), StoreError> {
    let v = schema_version(conn)?;
    check_not_newer(conn, v)?;
    let Some(path) = path else {
        // In-memory: no other process, no WAL.
        return apply(conn, v);
    };
    if v == LATEST_VERSION && journal_mode(conn)? == "wal" {
        return Ok(());
    }
    let lock_path = lock_path(path);
    let lock_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|source| StoreError::Io {
            db: path.display().to_string(),
            op: format!("open migration lock {}", lock_path.display()),
            source,
        })?;
    lock_file.lock().map_err(|source| StoreError::Io {
        db: path.display().to_string(),
        op: format!("lock {}", lock_path.display()),
        source,
    })?;
    // Under the lock. Unlocked when lock_file is dropped (or the process dies).
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
        .map_err(sql_err(conn, "set journal_mode=WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(crate::invalid(
            conn,
            format!(
                "journal_mode=WAL refused (mode is {mode}): is the file on a network filesystem?"
            ),
        ));
    }
    let v = schema_version(conn)?;
    check_not_newer(conn, v)?;
    let r = apply(conn, v);
    drop(lock_file);
    r
}

/// Applies migrations `v+1..=LATEST`, one transaction each (so a failure names the migration and
/// leaves the database at the last good version).
fn apply(conn: &mut Connection, mut v: u32) -> Result<(), StoreError> {
    let migrations = Migrations::from_slice(MIGRATIONS);
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    let mut result = Ok(());
    while v < LATEST_VERSION {
        let target = v as usize + 1;
        if let Err(source) = migrations.to_version(conn, target) {
            let reason = match &source {
                rusqlite_migration::Error::RusqliteError {
                    err: rusqlite::Error::SqlInputError { msg, offset, .. },
                    ..
                } => format!("{msg} (at byte {offset} of up.sql)"),
                rusqlite_migration::Error::RusqliteError { err, .. } => err.to_string(),
                other => other.to_string(),
            };
            result = Err(StoreError::Migration {
                db: db_name(conn),
                name: MIGRATION_NAMES[target - 1].to_string(),
                reason,
                source: Box::new(source),
            });
            break;
        }
        v += 1;
    }
    conn.set_transaction_behavior(TransactionBehavior::Deferred);
    result
}

fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".migrate.lock");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_set_is_valid_and_numbered() {
        Migrations::from_slice(MIGRATIONS)
            .validate()
            .expect("migrations valid");
        assert_eq!(MIGRATION_NAMES.len() as u32, LATEST_VERSION);
        assert_eq!(MIGRATION_NAMES[0], "01-market-data");
        for (i, name) in MIGRATION_NAMES.iter().enumerate() {
            let n: usize = name.split('-').next().unwrap().parse().unwrap();
            assert_eq!(n, i + 1, "{name}");
        }
    }
}
