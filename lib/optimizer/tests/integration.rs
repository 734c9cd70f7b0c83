//! The integration tests of scalp-optimizer: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-optimizer param_grids::`.

mod param_grids;
mod parity;
