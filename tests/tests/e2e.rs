//! The end-to-end suite: one test binary (one link of the stand-ins and every dependency, not
//! one per file). Each module starts the real binaries (`scalp_e2e::bin`) against stand-in
//! servers on 127.0.0.1; run one with `cargo nextest run -p scalp-e2e -E 'test(/^api::/)'` or
//! `cargo nextest run -p scalp-e2e api::`.

#[path = "collector_support/mod.rs"]
mod support;
mod syncd_support;

mod api;
mod broker_bitget;
mod cli_trust;
mod collector_live;
mod collector_notify;
mod collector_replay;
mod executor_live;
mod optimize_cli;
mod scalpctl_sim;
mod simulator_paper;
mod syncd_api;
mod syncd_hostile;
mod syncd_push;
mod watchdog;
