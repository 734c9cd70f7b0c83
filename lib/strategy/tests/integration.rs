//! The integration tests of scalp-strategy: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-strategy config_validation::`.

mod config_validation;
mod docs_params;
mod random_params;
