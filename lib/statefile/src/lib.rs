//! Scalp Radar state files (see `docs/STATEFILES.md`).
//!
//! A state file is one JSON object: the envelope fields `version` (the payload's schema version,
//! chosen by the writer), `seq` (monotonic per file, survives writer restarts) and `written_at`
//! (RFC 3339 UTC with milliseconds), followed by the payload's own fields (flattened).
//!
//! * [`StateWriter`] / [`write_atomic`]: temp file in the same directory, write, fsync, rename over
//!   the target, fsync the directory (Unix), mode 0640 (Unix). A reader sees either the previous
//!   complete file or the new complete file, never a mix, even if the writer is SIGKILLed.
//! * [`read`] / [`try_read`] / [`TolerantReader`]: absent, empty, corrupt or wrong-version files
//!   give [`ReadOutcome::Missing`] / [`ReadOutcome::Invalid`] plus a `tracing` warning — never a
//!   panic; [`TolerantReader`] keeps the last good value.
//! * [`watch`]: a background thread that watches the *parent directory* with `notify`, filters
//!   events by file name, re-reads on every event and on a periodic timer, and publishes each new
//!   envelope on a `tokio::sync::watch` channel.
//!
//! The crate is portable (Linux and Windows); only the directory fsync and the file mode are
//! Unix-specific.

mod read;
mod watch;
mod write;

pub use read::{ReadOutcome, Refresh, TolerantReader, read, try_read};
pub use watch::{is_change, watch};
pub use write::{StateWriter, last_seq, write_atomic};

use std::path::PathBuf;

/// Names of the envelope fields; a payload must not use them.
pub const ENVELOPE_FIELDS: [&str; 3] = ["version", "seq", "written_at"];

/// A state file as read back: envelope fields plus the typed payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<T> {
    /// Schema version of the payload (the writer's choice; readers reject other versions).
    pub version: u32,
    /// Monotonic write counter of this file (1 for the first write ever).
    pub seq: u64,
    /// Write time, RFC 3339 UTC with milliseconds, e.g. `2026-11-21T20:06:14.123Z`.
    pub written_at: String,
    /// The payload (the file's other fields).
    pub payload: T,
}

/// Errors of the writing side. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path}: payload: {msg}")]
    Payload { path: PathBuf, msg: String },
}

/// Current UTC time as RFC 3339 with exactly three fractional digits and a `Z` suffix.
pub fn now_rfc3339_ms() -> String {
    const FMT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FMT)
        .expect("formatting a UTC date with a static description cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_at_format() {
        let s = now_rfc3339_ms();
        assert_eq!(s.len(), "2026-11-21T20:06:14.123Z".len(), "{s}");
        assert!(s.ends_with('Z'));
        assert_eq!(&s[19..20], ".");
        time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
            .expect("written_at parses as RFC 3339");
    }
}
