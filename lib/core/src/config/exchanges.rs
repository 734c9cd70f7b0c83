use super::ConfigError;
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
    /// `GET /fapi/v1/fundingRate` has its own limit, apart from the weight: 500 requests per
    /// 5 minutes per IP (Binance "Get Funding Rate History"). We use `weight_safety` of it.
    pub funding_requests_per_5min: u32,
    /// Absolute path of a PEM file whose certificates are trusted for this exchange's REST and
    /// WebSocket besides the bundled Mozilla roots (a TLS-inspecting proxy's CA). Unset: the
    /// bundled roots only. Verification is never turned off.
    pub ca_file: Option<std::path::PathBuf>,
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
            funding_requests_per_5min: 500,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BitgetConfig {
    pub rest_url: String,
    pub ws_public_url: String,
    pub ws_private_url: String,
    /// `USDT-FUTURES` (live) or `SUSDT-FUTURES` (demo; its WebSockets are on
    /// `wss://wspap.bitget.com`, not `ws.bitget.com`: check-config refuses the mix).
    pub product_type: String,
    /// Public REST requests per second per IP (Bitget: 20).
    pub public_requests_per_second: u32,
    /// Channels per WS connection (Bitget recommends ≤ 50).
    pub max_channels_per_connection: usize,
    /// Seconds between text `ping`s (Bitget: 30).
    pub ping_interval_s: u64,
    pub request_timeout_s: u64,
    /// As `[exchanges.binance].ca_file`.
    pub ca_file: Option<std::path::PathBuf>,
}

impl ExchangesConfig {
    /// Checks that would otherwise only show in production: a Binance WS URL without the
    /// `/market` route (the retired unrouted URLs complete the handshake but send no kline), and
    /// a Bitget demo product type on the production WebSocket host or the reverse (demo data
    /// lives on `wspap.bitget.com`).
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let b = &self.binance.ws_url;
        let path = url_path(b);
        if path.trim_end_matches('/') != "/market" {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "exchanges.binance.ws_url",
                format!(
                    "`{b}` does not route through `/market`: since 2026-04-23 Binance sends kline streams only on the routed market endpoint (e.g. wss://fstream.binance.com/market); the retired URLs accept the connection and send nothing"
                ),
            ));
        }
        let g = &self.bitget;
        let demo = g.product_type.starts_with('S') || g.product_type.starts_with('s');
        for (key, url) in [
            ("exchanges.bitget.ws_public_url", &g.ws_public_url),
            ("exchanges.bitget.ws_private_url", &g.ws_private_url),
        ] {
            let host = url_host(url);
            if demo && host.eq_ignore_ascii_case("ws.bitget.com") {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    key,
                    format!(
                        "product_type `{}` is a demo product, but `{url}` is the production host: demo WebSockets live on wspap.bitget.com (wss://wspap.bitget.com/v2/ws/public)",
                        g.product_type
                    ),
                ));
            }
            if !demo && host.eq_ignore_ascii_case("wspap.bitget.com") {
                return Err(ConfigError::invalid(
                    file,
                    Some(text),
                    key,
                    format!(
                        "`{url}` is the demo host, but product_type `{}` is a live product (demo products are SUSDT-FUTURES, SCOIN-FUTURES, SUSDC-FUTURES)",
                        g.product_type
                    ),
                ));
            }
        }
        for (key, ca) in [
            ("exchanges.binance.ca_file", &self.binance.ca_file),
            ("exchanges.bitget.ca_file", &g.ca_file),
        ] {
            let Some(p) = ca else { continue };
            let why = if !p.is_absolute() {
                Some("must be an absolute path".to_string())
            } else {
                match std::fs::read_to_string(p) {
                    Err(e) => Some(format!("cannot read `{}`: {e}", p.display())),
                    Ok(t) if !t.contains("-----BEGIN CERTIFICATE-----") => {
                        Some(format!("`{}` holds no PEM certificate", p.display()))
                    }
                    Ok(_) => None,
                }
            };
            if let Some(why) = why {
                return Err(ConfigError::invalid(file, Some(text), key, why));
            }
        }
        if g.max_channels_per_connection == 0 {
            return Err(ConfigError::invalid(
                file,
                Some(text),
                "exchanges.bitget.max_channels_per_connection",
                "must be ≥ 1",
            ));
        }
        Ok(())
    }
}

/// `scheme://host[:port]/path?q` → `host`.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// `scheme://host[:port]/path?q` → `/path` (empty when there is none).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    rest.find('/').map(|i| &rest[i..]).unwrap_or("")
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
            ca_file: None,
        }
    }
}
