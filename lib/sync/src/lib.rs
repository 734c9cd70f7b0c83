//! Scalp Radar result sync (docs/SYNC.md).
//!
//! - [`payload`]: strict JSON parsing and validation of the two payloads (shared by both sides);
//! - [`db`]: the insert-only store logic (`optimization_results` with the `is_latest` rule,
//!   `portfolio_backtests`) and the reads `optimize sync` needs;
//! - [`client`]: the `optimize` side — best-effort [`push_result`] (portable: Windows too);
//! - `server` (feature `server`): the scalp-syncd HTTP server;
//! - [`state`]: `state/syncd.json`, scalp-syncd's state file.

pub mod client;
#[cfg(all(feature = "daemon", target_os = "linux"))]
pub mod daemon;
pub mod db;
pub mod payload;
#[cfg(feature = "server")]
pub mod server;
pub mod state;

pub use client::{PushOutcome, SyncClient, push_portfolio, push_result};
pub use db::{InsertOutcome, Source};
pub use payload::{OptimizationResult, PayloadError, PortfolioBacktest};
