//! Scalp Radar shared vocabulary: market types, configuration files and secrets.
//!
//! This crate is portable (Linux and Windows): it must never depend on a Linux-only crate,
//! because `optimize.exe` uses it.

pub mod cli;
pub mod clidocs;
pub mod config;
pub mod csvdata;
pub mod quality;
pub mod resample;
pub mod secrets;
pub mod series;
pub mod shutdown;
pub mod types;

pub use shutdown::Shutdown;
pub use types::{Candle, Exchange, Timeframe};
