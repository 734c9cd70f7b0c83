//! Scalp Radar daemon runtime, shared by every daemon (`scalp-collector` now, the others later).
//!
//! Linux-only: the whole crate is compiled out elsewhere, and all its dependencies are
//! target-specific, so `optimize` on Windows never pulls it in.
//!
//! What it gives a daemon (see `docs/RUNTIME.md`):
//! - [`DaemonArgs`]: `--config`, `--check-config`, `--log-format`, `--data-dir`;
//! - [`init_logging`]: journald when `JOURNAL_STREAM` is set (stderr fallback), stderr otherwise;
//! - [`Notifier`] (sd_notify `READY=1`, `STATUS=`, `STOPPING=1`, `WATCHDOG=1`) and [`Heartbeat`],
//!   whose watchdog task pings only when the work loop made progress since the last ping;
//! - [`shutdown_signal`] (SIGTERM / SIGINT);
//! - [`run_daemon`]: config → logging → init → `READY=1` → work loop → on signal `STOPPING=1`,
//!   the daemon saves its state, exit 0.
#![cfg(target_os = "linux")]

mod args;
mod daemon;
mod logging;
mod notify;
mod signal;

pub use args::DaemonArgs;
pub use daemon::{Ctx, Daemon, EXIT_CONFIG, EXIT_FAILURE, Fatal, Shutdown, run_daemon};
pub use logging::init_logging;
pub use notify::{Heartbeat, Notifier, spawn_watchdog};
pub use signal::shutdown_signal;
