use serde::{Deserialize, Serialize};

/// `[exchanges.*]`: endpoints and limits. Tests point these at stand-in servers on 127.0.0.1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangesConfig {
    pub binance: BinanceConfig,
    pub bitget: BitgetConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BinanceConfig {
    pub rest_url: String,
    /// Market-data WS endpoint (kline streams are routed through `/market` since 2026-04-23).
    pub ws_url: String,
    /// IP request-weight budget per minute (Binance USDT-M: 2400). We use at most
    /// `weight_safety` of it.
    pub weight_limit_per_minute: u32,
    pub weight_safety: f64,
    /// Max streams per WS connection (Binance USDT-M: 200).
    pub max_streams_per_connection: usize,
    pub request_timeout_s: u64,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        BinanceConfig {
            rest_url: "https://fapi.binance.com".into(),
            ws_url: "wss://fstream.binance.com/market".into(),
            weight_limit_per_minute: 2400,
            weight_safety: 0.8,
            max_streams_per_connection: 200,
            request_timeout_s: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BitgetConfig {
    pub rest_url: String,
    pub ws_public_url: String,
    pub ws_private_url: String,
    /// `USDT-FUTURES` (live) or `SUSDT-FUTURES` (demo).
    pub product_type: String,
    /// Public REST requests per second per IP (Bitget: 20).
    pub public_requests_per_second: u32,
    /// Channels per WS connection (Bitget recommends ≤ 50).
    pub max_channels_per_connection: usize,
    /// Seconds between text `ping`s (Bitget: 30).
    pub ping_interval_s: u64,
    pub request_timeout_s: u64,
}

impl Default for BitgetConfig {
    fn default() -> Self {
        BitgetConfig {
            rest_url: "https://api.bitget.com".into(),
            ws_public_url: "wss://ws.bitget.com/v2/ws/public".into(),
            ws_private_url: "wss://ws.bitget.com/v2/ws/private".into(),
            product_type: "USDT-FUTURES".into(),
            public_requests_per_second: 20,
            max_channels_per_connection: 50,
            ping_interval_s: 30,
            request_timeout_s: 10,
        }
    }
}
