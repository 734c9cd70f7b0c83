//! The integration tests of scalp-exchange: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-exchange rest::`.

mod rest;
mod stream;
