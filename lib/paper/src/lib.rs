//! Scalp Radar paper trading (`scalp-simulator`). See `docs/SIMULATOR.md`.
//!
//! - [`state`]: `state/simulator.json`, the readable summary (written only by the simulator).
//! - [`control`]: declarative control requests under `control/` (one file per requester) and
//!   their acknowledgements in the state file.
//! - [`window`]: the rolling high and drawdown of the kill switches (paper and live).

pub mod control;
pub mod db;
pub mod runner;
pub mod sim;
pub mod state;
pub mod window;

#[cfg(target_os = "linux")]
pub mod daemon;
