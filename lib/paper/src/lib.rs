//! Scalp Radar paper trading (`scalp-simulator`). See `docs/SIMULATOR.md`.
//!
//! - [`state`]: `state/simulator.json`, the readable summary (written only by the simulator).
//! - [`control`]: declarative control requests under `control/` (one file per requester) and
//!   their acknowledgements in the state file.

pub mod control;
pub mod db;
pub mod runner;
pub mod sim;
pub mod state;

#[cfg(target_os = "linux")]
pub mod daemon;
