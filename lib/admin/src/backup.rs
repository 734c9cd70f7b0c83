//! Online backup of the live database (never `cp` a database that daemons write).
//!
//! 1. SQLite's online backup API copies the database into `<dest>/.scalp-<UTC>.db.partial`
//!    in a single step, i.e. from one read snapshot: in WAL mode the daemons keep writing
//!    meanwhile and the copy never has to restart.
//! 2. The copy is switched to `journal_mode=DELETE` (a single self-contained file) and checked
//!    with `PRAGMA integrity_check`; anything but `ok` deletes it and fails.
//! 3. fsync, rename to `<dest>/scalp-<UTC>.db`, fsync the directory.
//! 4. Retention: only the newest `keep` files named `scalp-*.db` in `dest` are kept.

use crate::AdminError;

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackupReport {
    pub source: String,
    pub backup: String,
    pub bytes: u64,
    pub pages: i64,
    pub integrity: String,
    pub duration_ms: u64,
    /// Older backups deleted by the retention count.
    pub removed: Vec<String>,
    pub kept: usize,
}

/// File name of a backup taken at `now_ms`: `scalp-20261121T201500123Z.db` (sorts by time).
pub fn backup_name(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(now_ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "scalp-{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z.db",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn is_backup_name(n: &str) -> bool {
    n.starts_with("scalp-") && n.ends_with(".db") && n.len() == "scalp-20261121T201500123Z.db".len()
}

/// When running as root, chowns `path` to the owner of `reference` (no-op otherwise).
pub fn match_owner(path: &Path, reference: &Path) -> Result<(), AdminError> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if me != 0 {
        return Ok(());
    }
    let r = std::fs::metadata(reference).map_err(|e| AdminError::io(reference, e))?;
    let m = std::fs::metadata(path).map_err(|e| AdminError::io(path, e))?;
    if (m.uid(), m.gid()) != (r.uid(), r.gid()) {
        std::os::unix::fs::chown(path, Some(r.uid()), Some(r.gid()))
            .map_err(|e| AdminError::io(path, e))?;
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), AdminError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| AdminError::io(dir, e))
}

/// Backs `db` up into `dest` (created if missing) and keeps the newest `keep` backups
/// (`keep` ≥ 1).
pub fn backup(db: &Path, dest: &Path, keep: usize) -> Result<BackupReport, AdminError> {
    if keep == 0 {
        return Err(AdminError::Other("--keep must be at least 1".into()));
    }
    let started = Instant::now();
    if !db.exists() {
        return Err(AdminError::io(
            db,
            std::io::Error::new(std::io::ErrorKind::NotFound, "database does not exist"),
        ));
    }
    std::fs::create_dir_all(dest).map_err(|e| AdminError::io(dest, e))?;
    let name = backup_name(scalp_core::types::now_ms());
    let final_path = dest.join(&name);
    let partial = dest.join(format!(".{name}.partial"));
    let _ = std::fs::remove_file(&partial);

    let res = copy_and_check(db, &partial);
    let (pages, integrity) = match res {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    // run by root (by hand) into the daemons' data dir: give the copy and a new backups dir to
    // the owner of the database, so that the timer (User=scalp) can rotate them later
    match_owner(&partial, db)?;
    match_owner(dest, db)?;
    std::fs::rename(&partial, &final_path).map_err(|e| AdminError::io(&final_path, e))?;
    fsync_dir(dest)?;
    let bytes = std::fs::metadata(&final_path)
        .map_err(|e| AdminError::io(&final_path, e))?
        .len();

    let (removed, kept) = retain(dest, keep)?;
    Ok(BackupReport {
        source: db.display().to_string(),
        backup: final_path.display().to_string(),
        bytes,
        pages,
        integrity,
        duration_ms: started.elapsed().as_millis() as u64,
        removed,
        kept,
    })
}

/// The one copy routine, `scalp_store::snapshot_to`, from a read-only connection (no
/// migration, no checkpoint: the daemons own the database).
fn copy_and_check(db: &Path, partial: &Path) -> Result<(i64, String), AdminError> {
    let src = scalp_store::open_readonly(db).map_err(|e| AdminError::Other(e.to_string()))?;
    let st =
        scalp_store::snapshot_to(&src, partial).map_err(|e| AdminError::Other(e.to_string()))?;
    Ok((st.pages, st.integrity))
}

/// Deletes all but the newest `keep` backups in `dest`. Returns (removed, kept count).
pub fn retain(dest: &Path, keep: usize) -> Result<(Vec<String>, usize), AdminError> {
    let mut names: Vec<String> = std::fs::read_dir(dest)
        .map_err(|e| AdminError::io(dest, e))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_backup_name(n))
        .collect();
    names.sort();
    let mut removed = Vec::new();
    while names.len() > keep {
        let n = names.remove(0);
        let p: PathBuf = dest.join(&n);
        std::fs::remove_file(&p).map_err(|e| AdminError::io(&p, e))?;
        removed.push(n);
    }
    if !removed.is_empty() {
        fsync_dir(dest)?;
    }
    Ok((removed, names.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_sort_by_time() {
        let a = super::backup_name(1_700_000_000_000);
        let b = super::backup_name(1_700_000_000_001);
        assert_eq!(a, "scalp-20231114T221320000Z.db");
        assert!(a < b);
        assert!(super::is_backup_name(&a));
        assert!(!super::is_backup_name("scalp.db"));
    }
}
