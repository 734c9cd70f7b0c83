//! Receiving commands: `getUpdates` long polling with a persisted offset, authorisation by chat
//! id, command parsing.

use crate::bot::{Bot, ChatId, Update};
use crate::error::TelegramError;
use crate::outbox::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A command from the configured chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Positions,
    /// `/profit [days]`
    Profit {
        days: Option<u32>,
    },
    Daily,
    Health,
    Help,
    /// `/stop STRATEGY`
    Stop {
        strategy: String,
    },
    /// `/start STRATEGY`: lifts a `/stop` (a bare `/start`, Telegram's greeting, is `Help`)
    Start {
        strategy: String,
    },
    /// `/reset_killswitch [STRATEGY]` (none = the global kill switch)
    ResetKillswitch {
        strategy: Option<String>,
    },
    /// Anything else from the configured chat (also a known command with bad arguments), the
    /// whole text.
    Unknown(String),
}

impl Command {
    /// Parses a message text. `bot_username` (without `@`): a command addressed to another bot
    /// (`/status@other_bot`) gives `None`; without it any `@suffix` is accepted and stripped.
    pub fn parse(text: &str, bot_username: Option<&str>) -> Option<Command> {
        let t = text.trim();
        let unknown = || Some(Command::Unknown(t.to_string()));
        let Some(rest) = t.strip_prefix('/') else {
            return unknown();
        };
        let mut words = rest.split_whitespace();
        let head = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let (name, target) = match head.split_once('@') {
            Some((n, b)) => (n, Some(b)),
            None => (head, None),
        };
        if let (Some(target), Some(me)) = (target, bot_username)
            && !target.eq_ignore_ascii_case(me.trim_start_matches('@'))
        {
            return None;
        }
        let name = name.to_ascii_lowercase();
        let cmd = match (name.as_str(), args.as_slice()) {
            ("status", []) => Command::Status,
            ("positions", []) => Command::Positions,
            ("profit", []) => Command::Profit { days: None },
            ("profit", [d]) => match d.parse::<u32>() {
                Ok(n) if n > 0 => Command::Profit { days: Some(n) },
                _ => return unknown(),
            },
            ("daily", []) => Command::Daily,
            ("health", []) => Command::Health,
            ("help", []) | ("start", []) => Command::Help,
            ("start", [s]) => Command::Start {
                strategy: s.to_string(),
            },
            ("stop", [s]) => Command::Stop {
                strategy: s.to_string(),
            },
            ("reset_killswitch", []) => Command::ResetKillswitch { strategy: None },
            ("reset_killswitch", [s]) => Command::ResetKillswitch {
                strategy: Some(s.to_string()),
            },
            _ => return unknown(),
        };
        Some(cmd)
    }
}

/// A command with where it came from (to answer it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub update_id: i64,
    pub chat_id: i64,
    pub message_id: i64,
    pub from_user: Option<i64>,
    pub command: Command,
}

/// Poller settings.
#[derive(Debug, Clone)]
pub struct UpdatesConfig {
    /// The one chat whose messages are accepted (by `message.chat.id`).
    pub chat_id: i64,
    /// The bot's username (without `@`), to ignore commands addressed to other bots in a group.
    pub bot_username: Option<String>,
    /// Long-poll seconds (server cap 50). Default 25.
    pub poll_timeout_s: u64,
    /// Where the next offset is kept (JSON `{"offset":N}`, written atomically).
    pub offset_file: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct OffsetFile {
    offset: i64,
}

/// The `getUpdates` long-poller. The offset is persisted before commands are returned, so a
/// restart never runs a command twice (a crash between persisting and acting loses it: at most
/// once, the safe side for `/stop`).
#[derive(Debug)]
pub struct Updates {
    cfg: UpdatesConfig,
    offset: i64,
}

fn offset_err(path: &Path, e: impl std::fmt::Display) -> TelegramError {
    TelegramError::Io {
        what: "offset file",
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

impl Updates {
    /// Loads the persisted offset (absent → 0 = everything pending; unreadable → 0 with a
    /// warning).
    pub fn open(cfg: UpdatesConfig) -> Result<Updates, TelegramError> {
        let offset = match std::fs::read(&cfg.offset_file) {
            Ok(b) => match serde_json::from_slice::<OffsetFile>(&b) {
                Ok(f) => f.offset,
                Err(e) => {
                    tracing::warn!(file = %cfg.offset_file.display(), "telegram offset file unreadable ({e}), starting from 0");
                    0
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(offset_err(&cfg.offset_file, e)),
        };
        if let Some(dir) = cfg.offset_file.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| offset_err(dir, e))?;
        }
        Ok(Updates { cfg, offset })
    }

    /// The next `offset` sent (the highest update id seen + 1).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// One long poll. Confirms every received update (next offset persisted), returns the
    /// commands of the configured chat in order; other chats' messages are logged at debug
    /// level without their text and dropped.
    pub async fn poll(&mut self, bot: &Bot) -> Result<Vec<Incoming>, TelegramError> {
        let updates = bot
            .get_updates(self.offset, self.cfg.poll_timeout_s)
            .await?;
        let out = self.accept(updates);
        Ok(out)
    }

    fn accept(&mut self, updates: Vec<Update>) -> Vec<Incoming> {
        let mut out = Vec::new();
        let mut next = self.offset;
        for u in updates {
            next = next.max(u.update_id + 1);
            let Some(m) = u.message else {
                continue;
            };
            if m.chat.id != self.cfg.chat_id {
                tracing::debug!(
                    chat_id = m.chat.id,
                    update_id = u.update_id,
                    "telegram: ignoring a message from an unauthorised chat"
                );
                continue;
            }
            let Some(text) = m.text.as_deref() else {
                continue;
            };
            if let Some(command) = Command::parse(text, self.cfg.bot_username.as_deref()) {
                out.push(Incoming {
                    update_id: u.update_id,
                    chat_id: m.chat.id,
                    message_id: m.message_id,
                    from_user: m.from.map(|f| f.id),
                    command,
                });
            }
        }
        if next != self.offset {
            self.offset = next;
            if let Err(e) = self.persist() {
                // the commands are still returned: Telegram confirms them on the next poll
                tracing::error!("telegram: {e}");
            }
        }
        out
    }

    fn persist(&self) -> Result<(), TelegramError> {
        let path = &self.cfg.offset_file;
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let bytes = serde_json::to_vec(&OffsetFile {
            offset: self.offset,
        })
        .map_err(|e| offset_err(path, e))?;
        write_atomic(path, Path::new(&tmp), &bytes).map_err(|e| offset_err(path, e))
    }

    /// The chat the poller accepts.
    pub fn chat(&self) -> ChatId {
        ChatId::Id(self.cfg.chat_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        let p = |t| Command::parse(t, Some("scalp_radar_bot"));
        assert_eq!(p("/status"), Some(Command::Status));
        assert_eq!(p("/status@scalp_radar_bot"), Some(Command::Status));
        assert_eq!(p("/status@other_bot"), None);
        assert_eq!(p("/positions"), Some(Command::Positions));
        assert_eq!(p("/profit"), Some(Command::Profit { days: None }));
        assert_eq!(p("/profit 7"), Some(Command::Profit { days: Some(7) }));
        assert_eq!(p("/profit x"), Some(Command::Unknown("/profit x".into())));
        assert_eq!(p("/daily"), Some(Command::Daily));
        assert_eq!(p("/health"), Some(Command::Health));
        assert_eq!(p("/help"), Some(Command::Help));
        assert_eq!(
            p("/stop grid_atr"),
            Some(Command::Stop {
                strategy: "grid_atr".into()
            })
        );
        assert_eq!(p("/stop"), Some(Command::Unknown("/stop".into())));
        assert_eq!(
            p("/reset_killswitch"),
            Some(Command::ResetKillswitch { strategy: None })
        );
        assert_eq!(
            p("/reset_killswitch@scalp_radar_bot vwap"),
            Some(Command::ResetKillswitch {
                strategy: Some("vwap".into())
            })
        );
        assert_eq!(p("hello"), Some(Command::Unknown("hello".into())));
        assert_eq!(Command::parse("/status@any", None), Some(Command::Status));
    }
}
