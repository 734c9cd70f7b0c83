//! The integration tests of scalp-indicators: one test binary (`autotests = false`, one `[[test]]`),
//! one module per file. Run one file's tests with e.g. `cargo nextest run -p scalp-indicators streaming_batch::`.

mod streaming_batch;
mod talib_reference;
