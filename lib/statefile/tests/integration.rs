//! The integration tests of scalp-statefile: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-statefile kill::`.

mod kill;
mod statefile;
