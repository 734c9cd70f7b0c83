//! Exchange-agnostic REST types and the [`RestClient`] front.

use crate::binance::BinanceRest;
use crate::bitget::BitgetRest;
use crate::{ExchangeError, RateBudget, RetryPolicy};
use scalp_core::config::ExchangesConfig;
use scalp_core::{Candle, Exchange, Timeframe};

pub use crate::wire::{FundingRate, OpenInterest};

/// A REST client for either exchange, sharing one [`RateBudget`] per exchange.
#[derive(Clone)]
pub enum RestClient {
    Binance(BinanceRest),
    Bitget(BitgetRest),
}

impl RestClient {
    /// A client for `exchange` with a fresh budget from the config. Create it once per process
    /// and clone it (clones share the budget).
    pub fn new(exchange: Exchange, cfg: &ExchangesConfig) -> Result<Self, ExchangeError> {
        match exchange {
            Exchange::Binance => Ok(RestClient::Binance(BinanceRest::new(
                &cfg.binance,
                RateBudget::binance(&cfg.binance),
            )?)),
            Exchange::Bitget => Ok(RestClient::Bitget(BitgetRest::new(
                &cfg.bitget,
                RateBudget::bitget(&cfg.bitget),
            )?)),
            Exchange::Replay => Err(ExchangeError::InvalidRequest {
                exchange,
                msg: "the replay source has no REST API".into(),
            }),
        }
    }

    pub fn exchange(&self) -> Exchange {
        match self {
            RestClient::Binance(_) => Exchange::Binance,
            RestClient::Bitget(_) => Exchange::Bitget,
        }
    }

    pub fn budget(&self) -> &RateBudget {
        match self {
            RestClient::Binance(c) => c.budget(),
            RestClient::Bitget(c) => c.budget(),
        }
    }

    pub fn set_retry_policy(&self, p: RetryPolicy) {
        match self {
            RestClient::Binance(c) => c.set_retry_policy(p),
            RestClient::Bitget(c) => c.set_retry_policy(p),
        }
    }

    /// The exchange's clock (ms).
    pub async fn server_time(&self) -> Result<i64, ExchangeError> {
        match self {
            RestClient::Binance(c) => c.server_time().await,
            RestClient::Bitget(c) => c.server_time().await,
        }
    }

    /// Closed candles with `from_ms <= open_time < to_ms`, ascending, deduplicated, validated.
    /// A candle is closed when `open_time + tf <= min(local now, exchange now)`.
    pub async fn fetch_klines(
        &self,
        symbol: &str,
        tf: Timeframe,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Candle>, ExchangeError> {
        match self {
            RestClient::Binance(c) => c.fetch_klines(symbol, tf, from_ms, to_ms).await,
            RestClient::Bitget(c) => c.fetch_klines(symbol, tf, from_ms, to_ms).await,
        }
    }

    /// Funding settlements with `from_ms <= funding_time < to_ms`, ascending.
    pub async fn fetch_funding(
        &self,
        symbol: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<FundingRate>, ExchangeError> {
        match self {
            RestClient::Binance(c) => c.fetch_funding(symbol, from_ms, to_ms).await,
            RestClient::Bitget(c) => c.fetch_funding(symbol, from_ms, to_ms).await,
        }
    }

    /// Current open interest.
    pub async fn open_interest(&self, symbol: &str) -> Result<OpenInterest, ExchangeError> {
        match self {
            RestClient::Binance(c) => c.open_interest(symbol).await,
            RestClient::Bitget(c) => c.open_interest(symbol).await,
        }
    }
}
