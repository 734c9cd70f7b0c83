//! Scalp Radar optimizer (portable: Linux and Windows `optimize.exe`).
//!
//! - [`grid`]: parameter grids (`fast=2..40:2,slow=50..430:20`, `param_grids.toml`);
//! - [`kernels`]: dedicated fast kernels over shared indicator arrays (parity with the event
//!   engine is property-tested);
//! - [`sweep`]: one grid on one data set, combinations in parallel (rayon);
//! - [`stats`]: PSR, DSR, Monte Carlo, bootstrap;
//! - [`cli`]: the `optimize sweep|run|grades|purge-duplicates|bench-wfo` commands.
//!
//! Conventions and every formula: `docs/OPTIMIZER.md`.

// `!(x > 0.0)` is deliberate throughout: it is also true for NaN, which must be rejected.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Kernels index several parallel arrays with one loop variable.
#![allow(clippy::needless_range_loop)]

pub mod apply;
pub mod bench;
pub mod db;
pub mod grade;
pub mod grid;
pub mod interrupt;
pub mod job;
pub mod kernels;
pub mod nulltest;
pub mod run;
pub mod series;
pub mod stats;
pub mod sweep;
pub mod wfo;

pub use grid::{Grid, GridError};
pub use sweep::{ComboResult, EnginePath, RankBy};
