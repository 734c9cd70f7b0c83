//! Telegram Bot API client for the watchdog (issue #12): alerts out through a durable outbox,
//! commands in through `getUpdates` long polling. Wire formats: docs/TELEGRAM.md (from
//! exchanges-private.md §4). Portable: no Linux-only dependency.
//!
//! **The token rule.** The bot token is part of every request URL (`/bot<token>/<method>`).
//! It lives in a [`scalp_core::secrets::Secret`]; no log line, error message, `Debug` or
//! `Display` output contains it: errors are built from `reqwest::Error::without_url()` and
//! every string taken from a response or a transport error is redacted before it is stored.
//!
//! ```no_run
//! # async fn demo() -> Result<(), scalp_telegram::TelegramError> {
//! use scalp_telegram::*;
//! let bot = Bot::from_env(BotConfig::default())?;            // SCALP_TELEGRAM_TOKEN
//! let mut outbox = Outbox::open("/var/lib/scalp-radar/telegram-outbox", OutboxConfig::default())?;
//! outbox.push(OutMessage::high(123456789, format!("<b>kill switch</b> {}", escape_html("a<b"))))?;
//! outbox.deliver(&bot).await?;                               // stops at the first failure
//! let mut updates = Updates::open(UpdatesConfig {
//!     chat_id: 123456789,
//!     bot_username: Some("scalp_radar_bot".into()),
//!     poll_timeout_s: 25,
//!     offset_file: "/var/lib/scalp-radar/telegram-offset.json".into(),
//! })?;
//! for cmd in updates.poll(&bot).await? {
//!     println!("{:?}", cmd.command);
//! }
//! # Ok(()) }
//! ```

mod bot;
mod chat;
mod error;
mod html;
mod limit;
mod outbox;
mod updates;

pub use bot::{
    Bot, BotConfig, Chat, ChatId, MAX_MESSAGE_LEN, MAX_POLL_TIMEOUT_S, Message, RetryPolicy,
    TOKEN_ENV, Update, User,
};
pub use error::TelegramError;
pub use html::{escape_html, split_html, telegram_len};
pub use limit::RateLimits;
pub use outbox::{Delivered, OutMessage, Outbox, OutboxConfig, Pending, Priority, Pushed};
pub use updates::{Command, Incoming, Updates, UpdatesConfig};
