//! Scalp Radar optimizer (portable: Linux and Windows `optimize.exe`).
//!
//! - [`grid`]: parameter grids (`fast=2..40:2,slow=50..430:20`, `param_grids.toml`);
//! - [`kernels`]: dedicated fast kernels over shared indicator arrays (parity with the event
//!   engine is property-tested);
//! - [`sweep`]: one grid on one data set, combinations in parallel (rayon);
//! - [`wfo`]: the walk-forward, its cost/fill stress and PBO;
//! - [`stats`]: PSR, DSR, Monte Carlo, bootstrap, CSCV, Holm;
//! - [`grade`]: the score, the letter and the live gate;
//! - [`job`], [`run`], [`nulltest`], [`apply`]: one `optimize run` job, the null test, `--apply`;
//! - [`error`]: the typed errors ([`Error`]).
//!
//! The commands (flags, progress, printing) are `scalp_cli::optimize`: this crate has no clap
//! and prints nothing. Conventions and every formula: `docs/OPTIMIZER.md`.

// `!(x > 0.0)` is deliberate throughout: it is also true for NaN, which must be rejected.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Kernels index several parallel arrays with one loop variable.
#![allow(clippy::needless_range_loop)]

pub mod apply;
pub mod bench;
pub mod db;
pub mod error;
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

pub use error::Error;
pub use grid::{Grid, GridError};
pub use sweep::{ComboResult, EnginePath, RankBy};
