//! Scalp Radar operations: the `scalp-watchdog` daemon (docs/WATCHDOG.md).
//!
//! - [`anomaly`]: the [`Anomaly`] enum and the [`Tracker`] (cooldown per kind and subject,
//!   "resolved" when it clears);
//! - [`checks`]: one round of checks over the state files, the database and the disk;
//! - [`control`]: `/stop`, `/start`, `/reset_killswitch` through scalp-api's control endpoint;
//! - [`messages`]: alert, trade, heartbeat and command-answer texts (Telegram HTML);
//! - [`state`]: `state/watchdog.json` (this daemon is its only writer);
//! - `daemon` (Linux): the work loop under `scalp-runtime` (outbox delivery, `getUpdates`,
//!   WAL checkpoints).

pub mod anomaly;
pub mod checks;
pub mod control;
pub mod messages;
pub mod state;

#[cfg(target_os = "linux")]
pub mod daemon;

pub use anomaly::{Anomaly, Tracker, Transition};
