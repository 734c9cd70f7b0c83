//! An interrupted `optimize run` does not leave its `optimization_runs` row `running` forever.
//!
//! - On SIGINT (Ctrl-C, also on Windows) or SIGTERM, the row of the run in progress is marked
//!   `failed` with the error `interrupted by SIGINT` (or SIGTERM) and the process exits with
//!   130 (143 for SIGTERM), the shell's convention.
//! - A run killed without a chance to say so (SIGKILL, power loss) is found by the next
//!   `optimize run`: a `running` row whose progress has not moved for [`STALE_AFTER_SECS`] is
//!   marked failed ([`crate::db::fail_stale_runs`]).
//!
//! The module prints nothing: what the handler did ([`Interrupted`]) goes to the reporter the
//! command layer gave [`watch_signals`] (which prints it on stderr), then the process exits.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, OnceLock};
use std::time::Instant;

/// A `running` row without progress for this long is stale (progress is written at every
/// phase step, many times a minute on any real grid).
pub const STALE_AFTER_SECS: i64 = 3600;

struct Current {
    db: PathBuf,
    run_id: i64,
    started: Instant,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);
static INSTALL: Once = Once::new();
static REPORT: OnceLock<fn(&Interrupted)> = OnceLock::new();

/// What the signal handler did, handed to the reporter of [`watch_signals`] just before the
/// process exits with [`Interrupted::exit_code`]. Its `Display` is the line the user sees:
/// `interrupted by SIGINT`, with the run marked failed (or why it could not be).
#[derive(Debug)]
pub struct Interrupted {
    /// `SIGINT` or `SIGTERM`.
    pub signal: &'static str,
    /// 130 for SIGINT, 143 for SIGTERM (the shell's convention).
    pub exit_code: i32,
    /// The run that was in progress, if any.
    pub run: Option<MarkedFailed>,
}

/// The run in progress when the signal came, and whether its row could be marked failed.
#[derive(Debug)]
pub struct MarkedFailed {
    pub db: PathBuf,
    pub run_id: i64,
    /// Why the row could not be marked failed (opening the database or the update).
    pub error: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Interrupted {
    /// The error stored in the run's row (`optimization_runs.error`).
    pub fn message(&self) -> String {
        format!("interrupted by {}", self.signal)
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let msg = self.message();
        match &self.run {
            None => f.write_str(&msg),
            Some(MarkedFailed {
                db,
                run_id,
                error: None,
            }) => write!(f, "{msg}: run {run_id} marked failed in {}", db.display()),
            Some(MarkedFailed {
                db,
                run_id,
                error: Some(e),
            }) => write!(
                f,
                "{msg}: cannot mark run {run_id} failed in {}: {}",
                db.display(),
                crate::error::chain(e.as_ref())
            ),
        }
    }
}

/// Installs the SIGINT/SIGTERM handlers (once); returns when they are registered, so a signal
/// from then on is never the default "die at once". `optimize run` calls it before it writes
/// its first `running` row. On a signal, `report` is given what the handler did (the command
/// layer prints it on stderr), then the process exits; the first reporter given is kept.
pub fn watch_signals(report: fn(&Interrupted)) {
    let _ = REPORT.set(report);
    INSTALL.call_once(install);
}

/// Marks `run_id` of `db` as the run in progress (the one a signal marks failed), installing
/// the signal handlers if that was not done yet (without a reporter if [`watch_signals`] was
/// not called: the row is still marked failed and the exit code is the same).
pub fn set_current(db: &Path, run_id: i64) {
    INSTALL.call_once(install);
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Current {
        db: db.to_path_buf(),
        run_id,
        started: Instant::now(),
    });
}

/// The run in progress has ended (completed or failed): a signal now only exits.
pub fn clear_current() {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Registers the handlers on a thread of their own and waits until they are registered.
fn install() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!("cannot watch for Ctrl-C: {e}");
                    let _ = ready_tx.send(());
                    return;
                }
            };
            let (name, code) = rt.block_on(async move {
                // creating the streams registers the handlers; only then is the caller released
                let signals = Signals::register();
                let _ = ready_tx.send(());
                match signals {
                    Ok(s) => s.recv().await,
                    Err(e) => {
                        tracing::warn!("cannot watch for Ctrl-C: {e}");
                        std::future::pending().await
                    }
                }
            });
            on_signal(name, code);
        });
    match spawned {
        Ok(_) => {
            let _ = ready_rx.recv();
        }
        Err(e) => tracing::warn!("cannot watch for Ctrl-C: {e}"),
    }
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }
    async fn recv(mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

#[cfg(not(unix))]
struct Signals(tokio::signal::windows::CtrlC);

#[cfg(not(unix))]
impl Signals {
    fn register() -> std::io::Result<Self> {
        Ok(Signals(tokio::signal::windows::ctrl_c()?))
    }
    async fn recv(mut self) -> (&'static str, i32) {
        let _ = self.0.recv().await;
        ("SIGINT", 130)
    }
}

fn on_signal(signal: &'static str, exit_code: i32) -> ! {
    let cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut what = Interrupted {
        signal,
        exit_code,
        run: None,
    };
    if let Some(c) = cur {
        let msg = what.message();
        let done: Result<(), Box<dyn std::error::Error + Send + Sync>> =
            crate::db::open(&c.db).map_err(Into::into).and_then(|conn| {
                crate::db::fail_run(&conn, c.run_id, &msg, c.started.elapsed().as_secs_f64())
                    .map_err(Into::into)
            });
        what.run = Some(MarkedFailed {
            db: c.db,
            run_id: c.run_id,
            error: done.err(),
        });
    }
    if let Some(report) = REPORT.get() {
        report(&what);
    }
    std::process::exit(exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines the command layer prints: the same text as when the handler printed them.
    #[test]
    fn the_report_says_what_was_done() {
        let mut i = Interrupted {
            signal: "SIGTERM",
            exit_code: 143,
            run: None,
        };
        assert_eq!(i.to_string(), "interrupted by SIGTERM");
        i.run = Some(MarkedFailed {
            db: "/w/optimize.db".into(),
            run_id: 7,
            error: None,
        });
        assert_eq!(
            i.to_string(),
            "interrupted by SIGTERM: run 7 marked failed in /w/optimize.db"
        );
        i.run = Some(MarkedFailed {
            db: "/w/optimize.db".into(),
            run_id: 7,
            error: Some(Box::new(crate::Error::Sqlite {
                op: "mark the run failed",
                source: rusqlite::Error::InvalidQuery,
            })),
        });
        assert_eq!(
            i.to_string(),
            "interrupted by SIGTERM: cannot mark run 7 failed in /w/optimize.db: mark the run failed: Query is not read-only"
        );
    }
}
