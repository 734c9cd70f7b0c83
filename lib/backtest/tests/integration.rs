//! The integration tests of scalp-backtest: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-backtest golden::`.

mod golden;
mod live_fills;
mod props;
mod reference_backtestingpy;
mod restart;
mod rules;
mod strategy_behaviour;
mod strategy_driver;
mod strategy_state;
