//! Scalp Radar market data: the collector pipeline and its sources, and the `optimize` data
//! commands. Conventions: `docs/COLLECTOR.md`.
//!
//! Portable (Windows too) except [`collector`], the daemon, which uses the Linux-only
//! scalp-runtime.
//!
//! Data flow: sources ([`replay::ReplaySource`], [`live::LiveSource`] for Binance / Bitget)
//! → [`pipeline::Event`]s on a tokio channel → [`pipeline::Pipeline`] (closed-candle rules of
//! [`validate`], batching, statistics, `state/collector.json`) → [`actor::DbActor`] thread →
//! scalp-store upserts.

pub mod actor;
pub mod clock;
#[cfg(target_os = "linux")]
pub mod collector;
pub mod coverage;
pub mod db;
mod error;
pub mod import;
pub mod live;
pub mod pipeline;
pub mod replay;
mod series;
pub mod state;
pub mod validate;

pub use error::Error;
pub use series::Series;

/// Cooperative stop signal shared by the sources and the pipeline.
pub type Stop = scalp_exchange::Shutdown;
