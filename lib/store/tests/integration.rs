//! The integration tests of scalp-store: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-store concurrent_open::`.

mod concurrent_open;
mod store;
