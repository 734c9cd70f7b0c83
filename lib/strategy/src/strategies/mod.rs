//! One module per strategy; rules in `docs/STRATEGIES.md`.
pub mod sma_cross;
