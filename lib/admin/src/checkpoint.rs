//! `PRAGMA wal_checkpoint(TRUNCATE)`: moves every WAL frame into the database file and truncates
//! the WAL to zero bytes, when no reader holds an old snapshot (otherwise SQLite reports `busy`
//! and the WAL shrinks at a later checkpoint; nothing is lost either way).

use crate::AdminError;
use rusqlite::Connection;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// What `scalpctl checkpoint` reports: the database and what `scalp_store::checkpoint` did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckpointReport {
    pub db: String,
    pub wal_bytes_before: u64,
    pub wal_bytes_after: u64,
    /// SQLite's answer: busy (a reader or writer prevented a complete checkpoint), WAL frames,
    /// frames checkpointed.
    pub busy: bool,
    pub log_frames: i64,
    pub checkpointed_frames: i64,
}

/// Checkpoints `db` through `scalp_store::checkpoint` (PASSIVE for the frame counts, then
/// TRUNCATE), on a plain read-write connection that waits up to 30 s for writers (no migration:
/// the daemons own the schema).
pub fn checkpoint(db: &Path) -> Result<CheckpointReport, AdminError> {
    if !db.exists() {
        return Err(AdminError::io(
            db,
            std::io::Error::new(std::io::ErrorKind::NotFound, "database does not exist"),
        ));
    }
    let c = Connection::open(db).map_err(|e| AdminError::sql(db, e))?;
    c.busy_timeout(Duration::from_secs(30))
        .map_err(|e| AdminError::sql(db, e))?;
    let st = scalp_store::checkpoint(&c).map_err(|e| AdminError::Other(e.to_string()))?;
    Ok(CheckpointReport {
        db: db.display().to_string(),
        wal_bytes_before: st.wal_bytes_before,
        wal_bytes_after: st.wal_bytes_after,
        busy: st.busy,
        log_frames: st.log_frames,
        checkpointed_frames: st.checkpointed_frames,
    })
}
