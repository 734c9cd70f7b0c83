//! `PRAGMA wal_checkpoint(TRUNCATE)`: moves every WAL frame into the database file and truncates
//! the WAL to zero bytes, when no reader holds an old snapshot (otherwise SQLite reports `busy`
//! and the WAL shrinks at a later checkpoint; nothing is lost either way).

use crate::AdminError;
use crate::dbinfo::wal_path;
use rusqlite::Connection;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckpointReport {
    pub db: String,
    pub wal_bytes_before: u64,
    pub wal_bytes_after: u64,
    /// SQLite's answer: busy (1 = a reader or writer prevented a complete checkpoint), WAL
    /// frames, frames checkpointed.
    pub busy: bool,
    pub log_frames: i64,
    pub checkpointed_frames: i64,
}

pub fn checkpoint(db: &Path) -> Result<CheckpointReport, AdminError> {
    if !db.exists() {
        return Err(AdminError::io(
            db,
            std::io::Error::new(std::io::ErrorKind::NotFound, "database does not exist"),
        ));
    }
    let wal = wal_path(db);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = size(&wal);
    let c = Connection::open(db).map_err(|e| AdminError::sql(db, e))?;
    c.busy_timeout(Duration::from_secs(30))
        .map_err(|e| AdminError::sql(db, e))?;
    let pragma = |mode: &str| -> Result<(i64, i64, i64), AdminError> {
        c.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .map_err(|e| AdminError::sql(db, e))
    };
    // PASSIVE first: it reports the WAL's frame counts (TRUNCATE resets them to 0 when it
    // succeeds), then TRUNCATE waits for writers (busy_timeout) and empties the file.
    let (_, log, done) = pragma("PASSIVE")?;
    let (busy, _, _) = pragma("TRUNCATE")?;
    let after = size(&wal);
    drop(c);
    Ok(CheckpointReport {
        db: db.display().to_string(),
        wal_bytes_before: before,
        wal_bytes_after: after,
        busy: busy != 0,
        log_frames: log,
        checkpointed_frames: done,
    })
}
