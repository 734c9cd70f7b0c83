//! Live trading's planning layer (issue 16; docs/LIVE.md): the executor runs the shared engine
//! with the exchange as its fill model (`scalp_backtest::Engine::step_external`). After each
//! step, [`book::desired`] turns the engine's state into the orders the exchange must hold —
//! resting levels → limit orders, queued market entries and closes → market orders, the
//! take-profit → a reduce-only limit, the stop → the position stop-loss plan (or a protective
//! stop when the strategy set none) — each rounded to the contract and named by a
//! deterministic clientOid; [`book::diff`] compares that with the exchange's open orders and
//! plans and returns the cancels and placements that make them equal, leaving what already
//! matches alone (no churn) and foreign orders untouched.

pub mod book;
pub mod db;
pub mod exec;
pub mod fills;
pub mod sizing;
pub mod state;

#[cfg(target_os = "linux")]
pub mod daemon;
