//! Public market data from Binance USDT-M futures and Bitget v2 USDT-FUTURES.
//!
//! * REST ([`binance::BinanceRest`], [`bitget::BitgetRest`], or the exchange-agnostic
//!   [`RestClient`]): paginated [`RestClient::fetch_klines`] that returns only closed candles
//!   (ascending, deduplicated, validated), funding-rate history and open interest. Every request
//!   goes through a shared [`RateBudget`] (Binance request weight per minute honouring
//!   `X-MBX-USED-WEIGHT-1M`; Bitget requests per second) and is retried with bounded exponential
//!   backoff and jitter; HTTP 429 and 418 pause *all* requests to that exchange for
//!   `Retry-After`.
//! * WebSocket kline streams ([`stream::spawn_binance_streams`], [`stream::spawn_bitget_streams`]):
//!   reconnecting tasks that send [`stream::StreamEvent`]s into a tokio mpsc channel. A forming
//!   candle is never reported as [`stream::StreamEvent::Closed`].
//!
//! Everything is pointed at the base URLs of `scalp_core::config::{BinanceConfig, BitgetConfig}`;
//! the tests point them at the stand-in servers of `scalp-e2e`. Conventions: docs/EXCHANGES.md.

pub mod backoff;
pub mod binance;
pub mod bitget;
mod budget;
mod error;
mod http;
mod rest;
pub mod stream;
pub mod tls;
mod wire;

pub use budget::{BudgetStats, RateBudget};
pub use error::ExchangeError;
pub use http::RetryPolicy;
pub use rest::{FundingRate, OpenInterest, RestClient};
pub use scalp_core::Shutdown;

pub(crate) use scalp_core::types::truncate;
