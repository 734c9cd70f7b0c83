//! The HTTP plumbing shared by both REST clients: budget, retries, backoff, 429/418.

use crate::backoff::full_jitter;
use crate::{ExchangeError, RateBudget, truncate};
use reqwest::header::HeaderMap;
use scalp_core::Exchange;
use scalp_core::types::{fmt_ms, now_ms};
use std::time::Duration;
use url::Url;

/// How REST requests are retried. Retried: HTTP 429, 418, 5xx, timeouts and dropped connections.
/// A connection that cannot be made (DNS lookup or connect failed) is retried once, then
/// [`ExchangeError::Unreachable`]. Not retried: any other 4xx (a bad request stays bad).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, including the first.
    pub max_attempts: u32,
    /// Backoff bounds (exponential with jitter, see [`crate::backoff::full_jitter`]).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Pause after a 418 without `Retry-After` (Binance bans last 2 minutes to 3 days).
    pub default_ban: Duration,
    /// A call waits out a 429/418 pause only up to this long; beyond it the call fails with
    /// [`ExchangeError::Paused`] (the budget stays paused for everybody either way).
    pub max_pause_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            default_ban: Duration::from_secs(120),
            max_pause_wait: Duration::from_secs(600),
        }
    }
}

pub(crate) struct RestCore {
    pub exchange: Exchange,
    base: Url,
    client: reqwest::Client,
    pub budget: RateBudget,
    pub policy: std::sync::Mutex<RetryPolicy>,
}

pub(crate) struct Reply {
    pub body: String,
}

impl RestCore {
    pub fn new(
        exchange: Exchange,
        base_url: &str,
        timeout_s: u64,
        budget: RateBudget,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ExchangeError> {
        let mut base = Url::parse(base_url).map_err(|e| ExchangeError::InvalidRequest {
            exchange,
            msg: format!("rest_url `{base_url}`: {e}"),
        })?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout_s.max(1)))
            .connect_timeout(Duration::from_secs(timeout_s.clamp(1, 10)))
            .user_agent(concat!("scalp-radar/", env!("CARGO_PKG_VERSION")));
        let client = crate::tls::add_roots(exchange, builder, ca_file)?
            .build()
            .map_err(|e| ExchangeError::Client {
                exchange,
                msg: e.to_string(),
            })?;
        Ok(RestCore {
            exchange,
            base,
            client,
            budget,
            policy: std::sync::Mutex::new(RetryPolicy::default()),
        })
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut u = self
            .base
            .join(path.trim_start_matches('/'))
            .expect("static endpoint path");
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// GET with budget, retries and backoff. Returns the body of a 2xx reply.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        weight: u32,
    ) -> Result<Reply, ExchangeError> {
        let url = self.url(path, query);
        let ex = self.exchange;
        let policy = self.policy.lock().unwrap().clone();
        let mut last = String::new();
        for attempt in 0..policy.max_attempts.max(1) {
            if let Some(p) = self.budget.paused_for()
                && p > policy.max_pause_wait
            {
                return Err(ExchangeError::Paused {
                    exchange: ex,
                    status: 418,
                    until: fmt_ms(now_ms() + p.as_millis() as i64),
                    max_wait_s: policy.max_pause_wait.as_secs(),
                });
            }
            self.budget.acquire(weight).await;
            let backoff = full_jitter(
                attempt,
                policy.min_backoff.as_millis() as u64,
                policy.max_backoff.as_millis() as u64,
            );
            let resp = match self.client.get(url.clone()).send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    // DNS or connect failure: one quick retry, then say which it was.
                    let (what, detail) = unreachable_reason(&e);
                    if attempt + 1 >= CONNECT_ATTEMPTS.min(policy.max_attempts.max(1)) {
                        return Err(ExchangeError::Unreachable {
                            exchange: ex,
                            endpoint: path.to_string(),
                            host: url.host_str().unwrap_or("").to_string(),
                            what,
                            detail,
                            attempts: attempt + 1,
                        });
                    }
                    tracing::warn!(exchange = %ex, endpoint = path, attempt, error = %detail, "{what}, retrying once");
                    tokio::time::sleep(backoff.min(policy.min_backoff)).await;
                    continue;
                }
                Err(e) => {
                    last = format!("transport: {}", error_chain(&e));
                    tracing::warn!(exchange = %ex, endpoint = path, attempt, error = %e, "request failed, backing off");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if ex == Exchange::Binance
                && let Some(used) = header_u64(&headers, "x-mbx-used-weight-1m")
            {
                self.budget
                    .observe_used_weight(used.min(u32::MAX as u64) as u32);
            }
            let body = match resp.text().await {
                Ok(b) => b,
                Err(e) => {
                    last = format!("reading body: {e}");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            match status {
                200..=299 => return Ok(Reply { body }),
                429 | 418 => {
                    let retry_after = header_u64(&headers, "retry-after").map(Duration::from_secs);
                    let pause = match (status, retry_after) {
                        (_, Some(ra)) => ra.max(Duration::from_millis(100)),
                        (418, None) => policy.default_ban,
                        _ => backoff,
                    };
                    self.budget.pause_for(pause, status);
                    last = format!("HTTP {status}: {}", truncate(&body, 200));
                    if pause > policy.max_pause_wait {
                        return Err(ExchangeError::Paused {
                            exchange: ex,
                            status,
                            until: fmt_ms(now_ms() + pause.as_millis() as i64),
                            max_wait_s: policy.max_pause_wait.as_secs(),
                        });
                    }
                    // the next acquire() waits for the pause
                }
                500..=599 => {
                    last = format!("HTTP {status}: {}", truncate(&body, 200));
                    tracing::warn!(exchange = %ex, endpoint = path, attempt, status, "server error, backing off");
                    tokio::time::sleep(backoff).await;
                }
                _ => {
                    return Err(ExchangeError::Http {
                        exchange: ex,
                        endpoint: path.to_string(),
                        status,
                        body: truncate(&body, 300),
                    });
                }
            }
        }
        Err(ExchangeError::RetriesExhausted {
            exchange: ex,
            endpoint: path.to_string(),
            attempts: policy.max_attempts.max(1),
            last,
        })
    }
}

/// Attempts for a request whose connection cannot be made (DNS or connect error).
const CONNECT_ATTEMPTS: u32 = 2;

/// Whether a connect error was the DNS lookup or the connection itself, and the innermost
/// cause (reqwest's own message is only "error sending request").
fn unreachable_reason(e: &reqwest::Error) -> (&'static str, String) {
    let mut chain = Vec::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    let detail = chain.last().cloned().unwrap_or_else(|| e.to_string());
    let what = if all.contains("dns error") || all.contains("failed to lookup address") {
        "DNS lookup failed"
    } else {
        "connection failed"
    };
    (what, detail)
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

pub(crate) use scalp_core::cli::error_chain;
