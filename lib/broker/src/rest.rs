//! Signed REST: clock offset, per-endpoint budgets, retries with backoff and jitter.

use crate::error::{is_rate_code, is_transient_code};
use crate::{BrokerError, Credentials, sign};
use scalp_core::Exchange;
use scalp_exchange::RateBudget;
use scalp_exchange::backoff::full_jitter;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Where and how the client talks to Bitget.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `https://api.bitget.com` (tests: the stand-in).
    pub rest_url: String,
    /// `wss://ws.bitget.com/v2/ws/private`; the v3 URL is derived (`/v2/` → `/v3/`) unless set.
    pub ws_private_url: String,
    pub ws_private_url_v3: Option<String>,
    /// Extra trusted roots (PEM), as `[exchanges.bitget].ca_file`.
    pub ca_file: Option<std::path::PathBuf>,
    /// Per-request HTTP timeout.
    pub request_timeout: Duration,
    /// Attempts per request including the first (429 / 5xx / timeouts / transient codes).
    pub max_attempts: u32,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Demo trading: header `paptrading: 1`.
    pub demo: bool,
    /// `locale` header (`en-US`): error messages in English.
    pub locale: String,
    /// Share of each documented per-endpoint limit we allow ourselves (0.05–1.0; default 0.8,
    /// the margin absorbs network jitter between our send and the exchange's count).
    pub budget_share: f64,
    /// v2 `productType` / v3 `category` (`USDT-FUTURES`).
    pub product_type: String,
    pub margin_coin: String,
    pub margin_mode: crate::MarginMode,
    /// How long to wait before looking up an order whose answer was lost.
    pub landing_grace: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            rest_url: "https://api.bitget.com".into(),
            ws_private_url: "wss://ws.bitget.com/v2/ws/private".into(),
            ws_private_url_v3: None,
            ca_file: None,
            request_timeout: Duration::from_secs(10),
            max_attempts: 5,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            demo: false,
            locale: "en-US".into(),
            budget_share: 0.8,
            product_type: "USDT-FUTURES".into(),
            margin_coin: "USDT".into(),
            margin_mode: crate::MarginMode::Crossed,
            landing_grace: Duration::from_millis(300),
        }
    }
}

impl BrokerConfig {
    pub fn ws_url_v3(&self) -> String {
        self.ws_private_url_v3
            .clone()
            .unwrap_or_else(|| self.ws_private_url.replace("/v2/ws/", "/v3/ws/"))
    }
}

/// Documented per-UID (per-IP for public ones) limits in requests per second
/// (exchanges-private.md §1.3–§1.6 and §6.9). Unknown paths get 10/s.
pub const ENDPOINT_LIMITS: &[(&str, u32)] = &[
    ("/api/v2/public/time", 20),
    ("/api/v2/mix/market/contracts", 20),
    ("/api/v2/mix/account/accounts", 10),
    ("/api/v2/mix/account/account", 10),
    ("/api/v2/mix/account/set-leverage", 5),
    ("/api/v2/mix/account/set-margin-mode", 5),
    ("/api/v2/mix/account/set-position-mode", 5),
    ("/api/v2/mix/order/place-order", 10),
    ("/api/v2/mix/order/batch-place-order", 5),
    ("/api/v2/mix/order/cancel-order", 10),
    ("/api/v2/mix/order/batch-cancel-orders", 10),
    ("/api/v2/mix/order/cancel-all-orders", 10),
    ("/api/v2/mix/order/close-positions", 1),
    ("/api/v2/mix/order/detail", 10),
    ("/api/v2/mix/order/orders-pending", 10),
    ("/api/v2/mix/order/orders-history", 10),
    ("/api/v2/mix/order/fills", 10),
    ("/api/v2/mix/position/all-position", 5),
    ("/api/v2/mix/position/single-position", 10),
    ("/api/v2/mix/order/place-tpsl-order", 10),
    ("/api/v2/mix/order/orders-plan-pending", 10),
    ("/api/v2/mix/order/orders-plan-history", 10),
    ("/api/v2/mix/order/cancel-plan-order", 10),
    ("/api/v2/mix/account/bill", 10),
    ("/api/v3/account/settings", 20),
    ("/api/v3/account/assets", 20),
    ("/api/v3/account/set-leverage", 10),
    ("/api/v3/account/set-hold-mode", 10),
    ("/api/v3/market/instruments", 20),
    ("/api/v3/trade/place-order", 10),
    ("/api/v3/trade/place-batch", 5),
    ("/api/v3/trade/cancel-order", 10),
    ("/api/v3/trade/cancel-batch", 5),
    ("/api/v3/trade/cancel-symbol-order", 5),
    ("/api/v3/trade/close-positions", 5),
    ("/api/v3/trade/order-info", 20),
    ("/api/v3/trade/unfilled-orders", 20),
    ("/api/v3/trade/history-orders", 20),
    ("/api/v3/trade/fills", 20),
    ("/api/v3/position/current-position", 20),
    ("/api/v3/trade/place-strategy-order", 10),
    ("/api/v3/trade/unfilled-strategy-orders", 20),
    ("/api/v3/trade/history-strategy-orders", 20),
    ("/api/v3/trade/cancel-strategy-order", 10),
    ("/api/v3/account/financial-records", 20),
];

/// Whether a request may be sent again blindly after a lost answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and idempotent writes (cancel, set-leverage, …): retried on 429, 5xx, timeouts.
    Safe,
    /// Order placement: retried on 429 only (not applied); a timeout or 5xx returns
    /// [`BrokerError::Unavailable`] with `maybe_landed`, and the caller resolves it by lookup.
    Once,
}

pub(crate) struct RestCore {
    pub cfg: BrokerConfig,
    base: String,
    client: reqwest::Client,
    creds: Credentials,
    offset_ms: AtomicI64,
    budgets: HashMap<&'static str, RateBudget>,
    default_budget: RateBudget,
    clock_lock: tokio::sync::Mutex<()>,
    pub sent: AtomicU64,
    last_sync: Mutex<Option<i64>>,
}

pub(crate) enum Method {
    Get,
    Post,
}

impl RestCore {
    pub fn new(cfg: BrokerConfig, creds: Credentials) -> Result<Self, BrokerError> {
        let base = cfg.rest_url.trim_end_matches('/').to_string();
        url::Url::parse(&base)
            .map_err(|e| BrokerError::Client(format!("rest_url `{base}`: {e}")))?;
        let builder = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("scalp-radar/", env!("CARGO_PKG_VERSION")));
        let client =
            scalp_exchange::tls::add_roots(Exchange::Bitget, builder, cfg.ca_file.as_deref())
                .map_err(|e| BrokerError::Client(e.to_string()))?
                .build()
                .map_err(|e| BrokerError::Client(e.to_string()))?;
        let share = if cfg.budget_share.is_finite() {
            cfg.budget_share.clamp(0.05, 1.0)
        } else {
            1.0
        };
        // `share` of the limit, in small bursts: at most k requests in any rolling k / rate
        // seconds (rate = n × share, k = rate / 4 clamped to 1..=4). Any second then holds at most
        // k × ceil(rate / k) ≤ rate + k − 1 requests: exactly `rate` for the shipped share (0.8 of
        // 20, 10 and 5 per second: 16 in bursts of 4, 8 in bursts of 2, 4 one by one), within
        // the limit for any share ≤ 0.8, with the remainder as the margin for requests bunched in
        // flight. Not a rolling window of the whole limit: two full bursts could then reach the
        // exchange within one second. The bursts let a candle's pass read the positions, orders
        // and plans a protection check read a few milliseconds before without waiting 1 / rate.
        let mk = |n: u32| {
            let rate = (n as f64 * share).max(0.1);
            let k = (rate / 4.0).floor().clamp(1.0, 4.0);
            RateBudget::sliding(
                Exchange::Bitget,
                k as u32,
                Duration::from_secs_f64(k / rate),
            )
        };
        let budgets = ENDPOINT_LIMITS.iter().map(|(p, n)| (*p, mk(*n))).collect();
        Ok(RestCore {
            base,
            client,
            creds,
            offset_ms: AtomicI64::new(0),
            budgets,
            default_budget: mk(10),
            clock_lock: tokio::sync::Mutex::new(()),
            sent: AtomicU64::new(0),
            last_sync: Mutex::new(None),
            cfg,
        })
    }

    pub fn creds(&self) -> &Credentials {
        &self.creds
    }

    /// Milliseconds to add to the local clock to get the server's.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
    pub fn server_now_ms(&self) -> i64 {
        scalp_core::types::now_ms() + self.offset_ms()
    }

    fn budget(&self, path: &str) -> &RateBudget {
        self.budgets.get(path).unwrap_or(&self.default_budget)
    }

    /// `GET /api/v2/public/time`; sets the offset to `server - midpoint(local send, receive)`.
    pub async fn sync_clock(&self) -> Result<i64, BrokerError> {
        let _g = self.clock_lock.lock().await;
        let path = "/api/v2/public/time";
        let t0 = scalp_core::types::now_ms();
        let data = self
            .call(Method::Get, path, &[], None, Retry::Safe, false)
            .await?;
        let t1 = scalp_core::types::now_ms();
        let st = crate::model::Row::new(path, &data).str("serverTime")?;
        let server: i64 = st.parse().map_err(|_| BrokerError::Parse {
            endpoint: path.into(),
            field: "serverTime".into(),
            value: st.clone(),
            why: "not a ms timestamp".into(),
        })?;
        let offset = server - (t0 + t1) / 2;
        self.offset_ms.store(offset, Ordering::SeqCst);
        *self.last_sync.lock().unwrap() = Some(t1);
        tracing::info!(offset_ms = offset, rtt_ms = t1 - t0, "bitget clock synced");
        Ok(offset)
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, BrokerError> {
        self.call(Method::Get, path, query, None, Retry::Safe, true)
            .await
    }
    pub async fn get_public(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, BrokerError> {
        self.call(Method::Get, path, query, None, Retry::Safe, false)
            .await
    }
    pub async fn post(&self, path: &str, body: &Value, retry: Retry) -> Result<Value, BrokerError> {
        self.call(Method::Post, path, &[], Some(body), retry, true)
            .await
    }

    /// One request with budget, signing, retries. Returns `data` of a `00000` envelope.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: Retry,
        signed: bool,
    ) -> Result<Value, BrokerError> {
        let qs = encode_query(query);
        let body_s = body.map(|b| b.to_string()).unwrap_or_default();
        let url = if qs.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{qs}", self.base)
        };
        let attempts = self.cfg.max_attempts.max(1);
        let mut resynced = false;
        let mut last = String::new();
        let mut rate_limited = 0u32;
        let mut attempt = 0u32;
        while attempt < attempts {
            let backoff = full_jitter(
                attempt,
                self.cfg.min_backoff.as_millis() as u64,
                self.cfg.max_backoff.as_millis() as u64,
            );
            attempt += 1;
            self.budget(path).acquire(1).await;
            let mut req = match method {
                Method::Get => self.client.get(&url),
                Method::Post => self.client.post(&url).body(body_s.clone()),
            };
            req = req
                .header("Content-Type", "application/json")
                .header("locale", &self.cfg.locale);
            if self.cfg.demo {
                req = req.header("paptrading", "1");
            }
            if signed {
                let ts = self.server_now_ms();
                let m = match method {
                    Method::Get => "GET",
                    Method::Post => "POST",
                };
                let sig = sign::sign_rest(self.creds.secret(), ts, m, path, &qs, &body_s);
                req = req
                    .header("ACCESS-KEY", self.creds.key())
                    .header("ACCESS-SIGN", sig)
                    .header("ACCESS-TIMESTAMP", ts.to_string())
                    .header("ACCESS-PASSPHRASE", self.creds.passphrase());
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("transport: {}", scalp_core::cli::error_chain(&e));
                    // a connect failure never reached the server
                    let landed = !e.is_connect();
                    if retry == Retry::Once && landed {
                        return Err(BrokerError::Unavailable {
                            endpoint: path.into(),
                            attempts: attempt,
                            last,
                            maybe_landed: true,
                        });
                    }
                    tracing::warn!(endpoint = path, attempt, error = %last, "bitget request failed, backing off");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => {
                    last = format!("reading the answer: {e}");
                    if retry == Retry::Once {
                        return Err(BrokerError::Unavailable {
                            endpoint: path.into(),
                            attempts: attempt,
                            last,
                            maybe_landed: true,
                        });
                    }
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let env: Option<Value> = serde_json::from_str(&text).ok();
            let code = env
                .as_ref()
                .and_then(|v| match &v["code"] {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            let msg = env
                .as_ref()
                .and_then(|v| v["msg"].as_str().map(str::to_string))
                .unwrap_or_default();
            if status == 429 || is_rate_code(&code) {
                // not applied: safe to send again, for placements too
                rate_limited += 1;
                last = format!("HTTP {status} code {code}: {msg}");
                self.budget(path).pause_for(backoff, status);
                tracing::warn!(endpoint = path, attempt, "bitget rate limit, backing off");
                // a 429 does not use up an attempt of the (shorter) transient budget
                if rate_limited < attempts * 2 {
                    attempt -= 1;
                }
                continue;
            }
            if (500..=599).contains(&status) || is_transient_code(&code) {
                last = format!("HTTP {status}: {}", scalp_core::types::truncate(&text, 200));
                if retry == Retry::Once {
                    return Err(BrokerError::Unavailable {
                        endpoint: path.into(),
                        attempts: attempt,
                        last,
                        maybe_landed: true,
                    });
                }
                tracing::warn!(
                    endpoint = path,
                    attempt,
                    status,
                    "bitget server error, backing off"
                );
                tokio::time::sleep(backoff).await;
                continue;
            }
            let Some(env) = env else {
                return Err(BrokerError::Parse {
                    endpoint: path.into(),
                    field: "(body)".into(),
                    value: scalp_core::types::truncate(&text, 120),
                    why: format!("HTTP {status}: not JSON"),
                });
            };
            if code == "00000" && status == 200 {
                return Ok(env.get("data").cloned().unwrap_or(Value::Null));
            }
            if code == "40008" && signed && !resynced {
                // clock skew: resync once, then the same request again (not applied)
                resynced = true;
                tracing::warn!(
                    endpoint = path,
                    "bitget: request timestamp expired, re-syncing the clock"
                );
                Box::pin(self.sync_clock()).await?;
                attempt -= 1;
                continue;
            }
            if code.is_empty() {
                return Err(BrokerError::Rejected {
                    endpoint: path.into(),
                    code: format!("HTTP {status}"),
                    msg: scalp_core::types::truncate(&text, 200),
                });
            }
            return Err(BrokerError::from_code(path, &code, &msg));
        }
        if rate_limited > 0 && last.contains("429") {
            return Err(BrokerError::RateLimited {
                endpoint: path.into(),
                attempts: attempt,
            });
        }
        Err(BrokerError::Unavailable {
            endpoint: path.into(),
            attempts: attempt,
            last,
            maybe_landed: false,
        })
    }
}

/// `k=v&k2=v2` in the given order, values percent-encoded outside `[A-Za-z0-9-._~]`. The
/// signature covers exactly this string.
pub fn encode_query(q: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        let mut o = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                o.push(b as char);
            } else {
                o.push_str(&format!("%{b:02X}"));
            }
        }
        o
    };
    q.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
