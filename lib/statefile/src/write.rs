//! Atomic writing side.

use crate::{ENVELOPE_FIELDS, StateError, now_rfc3339_ms};
use serde::Serialize;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// File mode of state files on Unix (owner rw, group r): the `scalp` group reads them.
#[cfg(unix)]
pub const STATE_FILE_MODE: u32 = 0o640;

/// Writes one state file; holds the file's path, the payload schema version and the last `seq`.
///
/// There must be exactly one writer per state file (architecture invariant): the temp file name
/// (`.<name>.tmp` in the same directory) is fixed, so a restarted writer simply overwrites the
/// leftover of a killed one.
#[derive(Debug)]
pub struct StateWriter<T: ?Sized> {
    path: PathBuf,
    tmp: PathBuf,
    version: u32,
    seq: u64,
    _payload: PhantomData<fn(&T)>,
}

impl<T: Serialize + ?Sized> StateWriter<T> {
    /// Prepares a writer for `path` with payload schema `version`. Creates the parent directory
    /// if needed and continues the `seq` of an existing file (whatever its version; a corrupt file
    /// restarts at 0 with a warning, see [`last_seq`]).
    pub fn new(path: impl Into<PathBuf>, version: u32) -> Result<Self, StateError> {
        let path = path.into();
        let file_name = path.file_name().ok_or_else(|| StateError::Payload {
            path: path.clone(),
            msg: "path has no file name".into(),
        })?;
        let mut tmp_name = OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        if let Some(dir) = parent_dir(&path) {
            fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: path.clone(),
                op: "create parent directory",
                source,
            })?;
        }
        let seq = last_seq(&path);
        Ok(StateWriter {
            path,
            tmp,
            version,
            seq,
            _payload: PhantomData,
        })
    }

    /// Writes `payload` atomically with `seq = last seq + 1`; returns that seq. On error the
    /// previous file is untouched and the seq does not advance.
    pub fn write(&mut self, payload: &T) -> Result<u64, StateError> {
        let seq = self.seq + 1;
        let bytes = encode(&self.path, self.version, seq, payload)?;
        self.replace_with(&bytes)?;
        self.seq = seq;
        Ok(seq)
    }

    /// Path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seq of the last successful write (or of the file found at start-up; 0 if none).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Payload schema version written into every file.
    pub fn version(&self) -> u32 {
        self.version
    }

    fn io(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn replace_with(&self, bytes: &[u8]) -> Result<(), StateError> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(STATE_FILE_MODE);
        }
        let mut f = opts.open(&self.tmp).map_err(self.io("create temp file"))?;
        // The mode given to open() is filtered by the umask and ignored for a leftover temp file:
        // set it explicitly.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(STATE_FILE_MODE))
                .map_err(self.io("chmod temp file"))?;
        }
        f.write_all(bytes).map_err(self.io("write temp file"))?;
        f.sync_all().map_err(self.io("fsync temp file"))?;
        drop(f);
        rename_over(&self.tmp, &self.path).map_err(self.io("rename temp file over"))?;
        sync_dir(&self.path).map_err(self.io("fsync directory"))?;
        Ok(())
    }
}

/// One-shot atomic write: continues the existing file's seq. Returns the seq written.
/// A daemon writing repeatedly should keep a [`StateWriter`] instead (no re-read per write).
pub fn write_atomic<T: Serialize + ?Sized>(
    path: &Path,
    version: u32,
    payload: &T,
) -> Result<u64, StateError> {
    StateWriter::<T>::new(path, version)?.write(payload)
}

/// The `seq` of the file at `path`, read leniently (any version, payload ignored); 0 when the
/// file is absent. An unreadable or corrupt file gives 0 and a warning.
pub fn last_seq(path: &Path) -> u64 {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "STATE FILE unreadable, seq restarts at 0");
            return 0;
        }
    };
    #[derive(serde::Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    match serde_json::from_slice::<SeqOnly>(&bytes) {
        Ok(s) => s.seq,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "STATE FILE has no readable seq, seq restarts at 0");
            0
        }
    }
}

fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

fn encode<T: Serialize + ?Sized>(
    path: &Path,
    version: u32,
    seq: u64,
    payload: &T,
) -> Result<Vec<u8>, StateError> {
    let err = |msg: String| StateError::Payload {
        path: path.to_path_buf(),
        msg,
    };
    let value = serde_json::to_value(payload).map_err(|e| err(e.to_string()))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(err(format!(
            "must serialize to a JSON object (struct or map), got {}",
            json_kind(&value)
        )));
    };
    if let Some(k) = ENVELOPE_FIELDS.iter().find(|k| fields.contains_key(**k)) {
        return Err(err(format!("field `{k}` is reserved for the envelope")));
    }
    #[derive(Serialize)]
    struct Out<'a> {
        version: u32,
        seq: u64,
        written_at: &'a str,
        #[serde(flatten)]
        payload: &'a serde_json::Map<String, serde_json::Value>,
    }
    let written_at = now_rfc3339_ms();
    let out = Out {
        version,
        seq,
        written_at: &written_at,
        payload: &fields,
    };
    let mut bytes = serde_json::to_vec_pretty(&out).map_err(|e| err(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(not(windows))]
fn rename_over(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::rename(from, to)
}

/// On Windows a reader that has the target open without FILE_SHARE_DELETE makes the replace fail
/// transiently: retry for up to ~1 s.
#[cfg(windows)]
fn rename_over(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut attempt = 0;
    loop {
        match fs::rename(from, to) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// fsync the directory holding `path` so the rename itself is durable (Unix only; Windows has no
/// directory handles to sync and NTFS journals the rename).
#[cfg(unix)]
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = parent_dir(path).unwrap_or(Path::new("."));
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
