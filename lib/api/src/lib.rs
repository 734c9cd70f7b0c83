//! Scalp Radar's API (docs/API.md): REST routes over the database (read-only) and the state
//! files, `/ws/live`, `/metrics`, control requests (its only writes, `control/*-api.json`), and
//! the dashboard's static files. Portable (Linux and Windows: `optimize dashboard` can serve it);
//! the systemd daemon around it ([`daemon`]) is Linux-only.

pub mod app;
pub mod control;
pub mod db;
pub mod error;
pub mod files;
pub mod live;
pub mod metrics;
pub mod query;
pub mod state;
pub mod web;
pub mod workstation;

#[cfg(target_os = "linux")]
pub mod daemon;

pub use app::{App, Settings, router, serve};
pub use error::ApiError;
