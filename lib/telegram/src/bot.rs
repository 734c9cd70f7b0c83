//! The Bot API client: `sendMessage` and `getUpdates` (docs/TELEGRAM.md).

use crate::error::{TelegramError, describe, redact};
use crate::limit::{Limiter, RateLimits};
use rand::Rng;
use scalp_core::secrets::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Environment variable holding the bot token.
pub const TOKEN_ENV: &str = "SCALP_TELEGRAM_TOKEN";
/// Telegram's limit on `text`, in UTF-16 code units after entity parsing.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The server caps the long-poll `timeout` at 50 s (`LONG_POLL_MAX_TIMEOUT`).
pub const MAX_POLL_TIMEOUT_S: u64 = 50;

// `ChatId` lives in `chat` (which the rate limiter also reads): no bot ↔ limit cycle.
pub use crate::chat::ChatId;

/// How one API call is retried. Retried: 429 (after `retry_after`), 5xx, timeouts, network
/// errors. Never retried: 400, 401, 403, 404, 409 ([`TelegramError::is_permanent`]) and
/// malformed answers.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, including the first.
    pub max_attempts: u32,
    /// Backoff bounds for 5xx/timeouts (exponential, full jitter, never below `min_backoff`).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// A 429 asking for a longer wait fails the call with [`TelegramError::RateLimited`] instead
    /// of sleeping (the outbox keeps the message).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Client settings. `Default` = the real server.
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// `https://api.telegram.org` (tests: the stand-in's `http://127.0.0.1:<port>`).
    pub base_url: String,
    /// Per request (a long poll gets its `timeout` on top).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    pub limits: RateLimits,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            base_url: "https://api.telegram.org".into(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            limits: RateLimits::default(),
        }
    }
}

/// A chat as the Bot API describes it (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// The sender of a message.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub username: Option<String>,
}

/// A message (sent by us or received), the fields used here.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub date: i64,
    /// Plain text (HTML tags became `entities`, not kept here).
    #[serde(default)]
    pub text: Option<String>,
}

/// One `getUpdates` result item; only `message` updates are asked for.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
}

#[derive(Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ReplyParameters>,
}

#[derive(Deserialize)]
struct ReplyParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

struct Inner {
    base: String,
    token: Secret,
    client: reqwest::Client,
    cfg: BotConfig,
    limiter: Limiter,
}

/// The Bot API client. Cheap to clone (shared connection pool and rate limiter). Its `Debug`
/// shows the base URL only, never the token.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("base_url", &self.inner.base)
            .field("token", &"***")
            .finish()
    }
}

enum Attempt {
    Done(Value),
    Fail(TelegramError),
    /// 429 with this wait.
    Retry429(u64),
}

impl Bot {
    /// A client for `token`. Refuses an empty token or one with characters that cannot be in a
    /// URL path segment (without printing it).
    pub fn new(cfg: BotConfig, token: Secret) -> Result<Bot, TelegramError> {
        let t = token.expose();
        if t.is_empty() || t.chars().any(|c| c.is_whitespace() || "/?#%".contains(c)) {
            return Err(TelegramError::Config {
                field: TOKEN_ENV,
                msg: "the bot token is empty or contains `/`, `?`, `#`, `%` or whitespace".into(),
            });
        }
        let base = cfg.base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TelegramError::Config {
                field: "base_url",
                msg: format!("`{base}` is not an http(s) URL"),
            });
        }
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("scalp-radar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelegramError::Config {
                field: "base_url",
                msg: describe(e, t),
            })?;
        let limiter = Limiter::new(cfg.limits.clone());
        Ok(Bot {
            inner: Arc::new(Inner {
                base,
                token,
                client,
                cfg,
                limiter,
            }),
        })
    }

    /// [`Bot::new`] with the token from `SCALP_TELEGRAM_TOKEN`.
    pub fn from_env(cfg: BotConfig) -> Result<Bot, TelegramError> {
        let token =
            scalp_core::secrets::from_env(TOKEN_ENV).ok_or_else(|| TelegramError::Config {
                field: TOKEN_ENV,
                msg: "not set (put it in /etc/scalp-radar/secrets.env)".into(),
            })?;
        Bot::new(cfg, token)
    }

    pub fn config(&self) -> &BotConfig {
        &self.inner.cfg
    }

    /// `sendMessage` with `parse_mode: HTML` and link previews disabled (`link_preview_options`
    /// and the legacy `disable_web_page_preview`). `html` must already fit
    /// ([`crate::split_html`]); retried and rate-limited as documented on [`RetryPolicy`] and
    /// [`RateLimits`].
    pub async fn send_message(
        &self,
        chat_id: &ChatId,
        html: &str,
    ) -> Result<Message, TelegramError> {
        let body = json!({
            "chat_id": chat_id,
            "text": html,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
            "disable_web_page_preview": true,
        });
        let v = self
            .call("sendMessage", &body, Some(chat_id), Duration::ZERO)
            .await?;
        serde_json::from_value(v).map_err(|e| TelegramError::Malformed {
            method: "sendMessage",
            msg: e.to_string(),
        })
    }

    /// One `getUpdates` long poll (`allowed_updates: ["message"]`), held by the server up to
    /// `timeout_s` (capped at 50). A single attempt: the poller's loop is the retry.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout_s: u64,
    ) -> Result<Vec<Update>, TelegramError> {
        let timeout_s = timeout_s.min(MAX_POLL_TIMEOUT_S);
        let body = json!({
            "offset": offset,
            "timeout": timeout_s,
            "limit": 100,
            "allowed_updates": ["message"],
        });
        let v = match self
            .once("getUpdates", &body, Duration::from_secs(timeout_s))
            .await
        {
            Attempt::Done(v) => v,
            Attempt::Fail(e) => return Err(e),
            Attempt::Retry429(s) => {
                return Err(TelegramError::RateLimited {
                    method: "getUpdates",
                    retry_after_s: s,
                });
            }
        };
        serde_json::from_value(v).map_err(|e| TelegramError::Malformed {
            method: "getUpdates",
            msg: e.to_string(),
        })
    }

    async fn call(
        &self,
        method: &'static str,
        body: &Value,
        chat: Option<&ChatId>,
        extra_timeout: Duration,
    ) -> Result<Value, TelegramError> {
        let pol = &self.inner.cfg.retry;
        let attempts = pol.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            if let Some(c) = chat {
                self.inner.limiter.acquire(c).await;
            }
            let (err, wait) = match self.once(method, body, extra_timeout).await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry429(s) => {
                    let wait = Duration::from_secs(s);
                    let err = TelegramError::RateLimited {
                        method,
                        retry_after_s: s,
                    };
                    if wait > pol.max_retry_after {
                        return Err(err);
                    }
                    // a little slack over `retry_after`, never less
                    (err, wait + Duration::from_millis(50))
                }
                Attempt::Fail(e) => {
                    if e.is_permanent() || matches!(e, TelegramError::Malformed { .. }) {
                        return Err(e);
                    }
                    (e, full_jitter(attempt, pol.min_backoff, pol.max_backoff))
                }
            };
            attempt += 1;
            if attempt >= attempts {
                return Err(err);
            }
            tracing::warn!(
                method,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "telegram request failed, retrying: {err}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(&self, method: &'static str, body: &Value, extra_timeout: Duration) -> Attempt {
        let inner = &self.inner;
        let token = inner.token.expose();
        let url = format!("{}/bot{}/{}", inner.base, token, method);
        tracing::debug!(method, "telegram request");
        let sent = inner
            .client
            .post(url)
            .timeout(inner.cfg.request_timeout + extra_timeout)
            .json(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(transport(method, e, token)),
        };
        let status = resp.status().as_u16();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Attempt::Fail(transport(method, e, token)),
        };
        let reply: Option<Reply> = serde_json::from_str(&text).ok();
        match reply {
            Some(r) if r.ok && status == 200 => Attempt::Done(r.result.unwrap_or(Value::Null)),
            Some(r) if !r.ok => {
                let code = r.error_code.unwrap_or(status);
                let description = redact(r.description.as_deref().unwrap_or(""), token);
                let retry_after = r.parameters.and_then(|p| p.retry_after);
                classify(method, code, description, retry_after)
            }
            _ if status == 200 => Attempt::Fail(TelegramError::Malformed {
                method,
                msg: format!("not a Bot API reply ({} bytes)", text.len()),
            }),
            _ => classify(method, status, "(not a Bot API body)".into(), None),
        }
    }
}

fn classify(
    method: &'static str,
    code: u16,
    description: String,
    retry_after: Option<u64>,
) -> Attempt {
    Attempt::Fail(match code {
        429 => return Attempt::Retry429(retry_after.unwrap_or(1)),
        400 => TelegramError::BadRequest {
            method,
            description,
        },
        401 | 404 => TelegramError::Unauthorized {
            method,
            status: code,
            description,
        },
        403 => TelegramError::Forbidden {
            method,
            description,
        },
        409 => TelegramError::Conflict {
            method,
            description,
        },
        _ => TelegramError::Server {
            method,
            status: code,
            description,
        },
    })
}

fn transport(method: &'static str, e: reqwest::Error, token: &str) -> TelegramError {
    if e.is_timeout() {
        TelegramError::Timeout { method }
    } else {
        TelegramError::Network {
            method,
            msg: describe(e, token),
        }
    }
}

/// Delay before retry `attempt` (0-based): uniform in `[min, min(max, min·2^attempt)]`.
pub(crate) fn full_jitter(attempt: u32, min: Duration, max: Duration) -> Duration {
    let min_ms = (min.as_millis() as u64).max(1);
    let max_ms = (max.as_millis() as u64).max(min_ms);
    let ceiling = min_ms.saturating_mul(1u64 << attempt.min(30)).min(max_ms);
    let ms = if ceiling <= min_ms {
        min_ms
    } else {
        rand::rng().random_range(min_ms..=ceiling)
    };
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_token() {
        let b = Bot::new(BotConfig::default(), Secret::new("123:SECRETTOKEN")).unwrap();
        assert!(!format!("{b:?}").contains("SECRETTOKEN"));
        let e = Bot::new(BotConfig::default(), Secret::new("12/SECRET")).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("SECRET"), "{e}");
    }

    #[test]
    fn chat_ids() {
        assert_eq!(ChatId::parse("-100123"), Some(ChatId::Id(-100123)));
        assert_eq!(ChatId::parse("@ch"), Some(ChatId::Username("@ch".into())));
        assert_eq!(ChatId::parse("x"), None);
        assert_eq!(serde_json::to_string(&ChatId::Id(5)).unwrap(), "5");
    }

    #[test]
    fn jitter_bounds() {
        for a in 0..20 {
            let d = full_jitter(a, Duration::from_millis(100), Duration::from_secs(2));
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_secs(2));
        }
    }
}
