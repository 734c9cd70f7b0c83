//! Errors. None of them carries the request URL (it holds the bot token): messages are built
//! from `reqwest::Error::without_url()` and every string is passed through a redaction of the
//! token before it is stored (belt and braces).

use std::path::PathBuf;

/// What went wrong talking to Telegram or with the local outbox/offset files.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// A configuration value is unusable (names the field).
    #[error("telegram config `{field}`: {msg}")]
    Config { field: &'static str, msg: String },
    /// HTTP 401, or 404 on a bot path: the token is wrong or revoked. Permanent.
    #[error(
        "telegram {method}: HTTP {status} {description}: the bot token (SCALP_TELEGRAM_TOKEN) is invalid or revoked"
    )]
    Unauthorized {
        method: &'static str,
        status: u16,
        description: String,
    },
    /// HTTP 403: the bot was blocked, kicked or the user is deactivated. Permanent.
    #[error("telegram {method}: HTTP 403 {description}: the bot may not write to this chat")]
    Forbidden {
        method: &'static str,
        description: String,
    },
    /// HTTP 400: the request is wrong (chat not found, message too long, bad HTML). Permanent.
    #[error("telegram {method}: HTTP 400 {description}")]
    BadRequest {
        method: &'static str,
        description: String,
    },
    /// HTTP 409: another getUpdates poller or a webhook. Permanent until the other goes away.
    #[error("telegram {method}: HTTP 409 {description}")]
    Conflict {
        method: &'static str,
        description: String,
    },
    /// HTTP 429 still there after the retries, or a `retry_after` longer than allowed.
    #[error("telegram {method}: HTTP 429 flood control, retry after {retry_after_s} s")]
    RateLimited {
        method: &'static str,
        retry_after_s: u64,
    },
    /// HTTP 5xx (or another unexpected status) after the retries.
    #[error("telegram {method}: HTTP {status} {description}")]
    Server {
        method: &'static str,
        status: u16,
        description: String,
    },
    /// No answer within the request timeout (after the retries).
    #[error("telegram {method}: timed out")]
    Timeout { method: &'static str },
    /// The connection could not be made or broke (after the retries).
    #[error("telegram {method}: {msg}")]
    Network { method: &'static str, msg: String },
    /// The answer was not the Bot API's JSON.
    #[error("telegram {method}: malformed answer: {msg}")]
    Malformed { method: &'static str, msg: String },
    /// The outbox directory or the offset file.
    #[error("telegram {what} {path}: {msg}")]
    Io {
        what: &'static str,
        path: PathBuf,
        msg: String,
    },
}

impl TelegramError {
    /// Retrying the same request cannot help (400, 401/404, 403, 409, config).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            TelegramError::Config { .. }
                | TelegramError::Unauthorized { .. }
                | TelegramError::Forbidden { .. }
                | TelegramError::BadRequest { .. }
                | TelegramError::Conflict { .. }
        )
    }

    /// A 400 caused by the message itself (too long, empty, HTML Telegram cannot parse): sending
    /// it again can never succeed, whereas the next message may.
    pub fn is_bad_message(&self) -> bool {
        match self {
            TelegramError::BadRequest { description, .. } => {
                let d = description.to_ascii_lowercase();
                d.contains("too long") || d.contains("is empty") || d.contains("parse entities")
            }
            _ => false,
        }
    }
}

/// Replaces every occurrence of the token (and of `bot<token>`) with `***`.
pub(crate) fn redact(msg: &str, token: &str) -> String {
    if token.is_empty() {
        return msg.to_string();
    }
    msg.replace(token, "***")
}

/// A reqwest error as text: without the URL, with its source chain (hyper's "connection
/// refused" is only in the chain), redacted.
pub(crate) fn describe(e: reqwest::Error, token: &str) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    redact(&msg, token)
}
