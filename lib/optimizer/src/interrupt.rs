//! An interrupted `optimize run` does not leave its `optimization_runs` row `running` forever.
//!
//! - On SIGINT (Ctrl-C, also on Windows) or SIGTERM, the row of the run in progress is marked
//!   `failed` with the error `interrupted by SIGINT` (or SIGTERM) and the process exits with
//!   130 (143 for SIGTERM), the shell's convention.
//! - A run killed without a chance to say so (SIGKILL, power loss) is found by the next
//!   `optimize run`: a `running` row whose progress has not moved for [`STALE_AFTER_SECS`] is
//!   marked failed ([`crate::db::fail_stale_runs`]).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
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

/// Installs the SIGINT/SIGTERM handlers (once); returns when they are registered, so a signal
/// from then on is never the default "die at once". `optimize run` calls it before it writes
/// its first `running` row.
pub fn watch_signals() {
    INSTALL.call_once(install);
}

/// Marks `run_id` of `db` as the run in progress (the one a signal marks failed), installing
/// the signal handlers if that was not done yet.
pub fn set_current(db: &Path, run_id: i64) {
    watch_signals();
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

fn on_signal(name: &str, code: i32) -> ! {
    let cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    eprintln!();
    if let Some(c) = cur {
        let msg = format!("interrupted by {name}");
        let done = crate::db::open(&c.db).and_then(|conn| {
            crate::db::fail_run(&conn, c.run_id, &msg, c.started.elapsed().as_secs_f64())
                .map_err(Into::into)
        });
        match done {
            Ok(()) => eprintln!(
                "{msg}: run {} marked failed in {}",
                c.run_id,
                c.db.display()
            ),
            Err(e) => eprintln!(
                "{msg}: cannot mark run {} failed in {}: {e:#}",
                c.run_id,
                c.db.display()
            ),
        }
    } else {
        eprintln!("interrupted by {name}");
    }
    std::process::exit(code)
}
