//! Tolerant reading side.

use crate::{ENVELOPE_FIELDS, Envelope};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Result of reading a state file. Never a panic, never an `Err` to propagate: a daemon that
/// cannot read a state file starts fresh ([`ReadOutcome::Missing`]) or keeps its last good copy.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutcome<T> {
    /// A complete file of the expected version.
    Ok(Envelope<T>),
    /// The file does not exist.
    Missing,
    /// The file exists but is unusable: empty, not JSON, not an object, missing or malformed
    /// envelope field, other version, or a payload that does not match `T`. The reason names
    /// the file and, for payload errors, the field path.
    Invalid(String),
}

impl<T> ReadOutcome<T> {
    /// The envelope when the read succeeded.
    pub fn ok(self) -> Option<Envelope<T>> {
        match self {
            ReadOutcome::Ok(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads `path` expecting payload schema `version`; logs a `tracing` warning for anything other
/// than a good file (absent included: a daemon finding no state file starts fresh, and says so).
pub fn read<T: DeserializeOwned>(path: &Path, version: u32) -> ReadOutcome<T> {
    let out = try_read(path, version);
    match &out {
        ReadOutcome::Ok(_) => {}
        ReadOutcome::Missing => {
            tracing::warn!(path = %path.display(), "STATE FILE absent, starting fresh")
        }
        ReadOutcome::Invalid(reason) => {
            tracing::warn!(path = %path.display(), %reason, "STATE FILE invalid, ignored")
        }
    }
    out
}

/// Same as [`read`] without logging (for callers that rate-limit their own warnings).
pub fn try_read<T: DeserializeOwned>(path: &Path, version: u32) -> ReadOutcome<T> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ReadOutcome::Missing,
        Err(e) => return invalid(path, format!("read error: {e}")),
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return invalid(path, "empty file".into());
    }
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return invalid(path, format!("not valid JSON: {e}")),
    };
    let Value::Object(mut fields) = value else {
        return invalid(path, "not a JSON object".into());
    };
    let mut envelope = [None, None, None];
    for (slot, name) in envelope.iter_mut().zip(ENVELOPE_FIELDS) {
        *slot = fields.remove(name);
    }
    let [v, s, w] = envelope;
    let Some(file_version) = v.as_ref().and_then(Value::as_u64) else {
        return invalid(
            path,
            "envelope field `version` missing or not an unsigned integer".into(),
        );
    };
    let Some(seq) = s.as_ref().and_then(Value::as_u64) else {
        return invalid(
            path,
            "envelope field `seq` missing or not an unsigned integer".into(),
        );
    };
    let Some(written_at) = w.as_ref().and_then(Value::as_str).map(str::to_owned) else {
        return invalid(
            path,
            "envelope field `written_at` missing or not a string".into(),
        );
    };
    if file_version != u64::from(version) {
        return invalid(
            path,
            format!("schema version {file_version}, this binary reads version {version}"),
        );
    }
    match serde_path_to_error::deserialize::<_, T>(Value::Object(fields)) {
        Ok(payload) => ReadOutcome::Ok(Envelope {
            version,
            seq,
            written_at,
            payload,
        }),
        Err(e) => {
            let field = e.path().to_string();
            invalid(path, format!("payload field `{field}`: {}", e.into_inner()))
        }
    }
}

fn invalid<T>(path: &Path, reason: String) -> ReadOutcome<T> {
    ReadOutcome::Invalid(format!("{}: {reason}", path.display()))
}

/// What [`TolerantReader::refresh`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// A good file with a different `(seq, written_at)` than the last good one: now current.
    Updated,
    /// The same good file as last time.
    Unchanged,
    /// Absent or invalid (the reason); the last good value, if any, is kept.
    Kept(String),
}

/// A reader that keeps the last good envelope across absent/corrupt reads and warns once per
/// distinct problem (not on every poll).
#[derive(Debug)]
pub struct TolerantReader<T> {
    path: PathBuf,
    version: u32,
    last: Option<Envelope<T>>,
    last_problem: Option<String>,
}

impl<T: DeserializeOwned> TolerantReader<T> {
    /// A reader for `path` with expected payload schema `version`; nothing is read yet.
    pub fn new(path: impl Into<PathBuf>, version: u32) -> Self {
        TolerantReader {
            path: path.into(),
            version,
            last: None,
            last_problem: None,
        }
    }

    /// Re-reads the file.
    pub fn refresh(&mut self) -> Refresh {
        let problem = match try_read::<T>(&self.path, self.version) {
            ReadOutcome::Ok(env) => {
                if self.last_problem.take().is_some() {
                    tracing::info!(path = %self.path.display(), seq = env.seq, "STATE FILE readable again");
                }
                let same = self
                    .last
                    .as_ref()
                    .is_some_and(|l| l.seq == env.seq && l.written_at == env.written_at);
                if same {
                    return Refresh::Unchanged;
                }
                self.last = Some(env);
                return Refresh::Updated;
            }
            ReadOutcome::Missing => format!("{}: absent", self.path.display()),
            ReadOutcome::Invalid(reason) => reason,
        };
        if self.last_problem.as_deref() != Some(problem.as_str()) {
            let kept = self.last.as_ref().map(|l| l.seq);
            tracing::warn!(path = %self.path.display(), reason = %problem, kept_seq = ?kept,
                "STATE FILE unusable, keeping last good copy");
            self.last_problem = Some(problem.clone());
        }
        Refresh::Kept(problem)
    }

    /// The last good envelope, if any was ever read.
    pub fn get(&self) -> Option<&Envelope<T>> {
        self.last.as_ref()
    }

    /// Takes the last good envelope out of the reader.
    pub fn into_inner(self) -> Option<Envelope<T>> {
        self.last
    }

    /// Path being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
