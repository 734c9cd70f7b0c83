//! A chat identifier, shared by the bot and the per-chat rate limiter.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A chat: a numeric id (groups negative, supergroups `-100…`) or a `@channel` name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatId {
    Id(i64),
    Username(String),
}

impl ChatId {
    /// `"123"`, `"-100123"` → `Id`; `"@name"` → `Username`.
    pub fn parse(s: &str) -> Option<ChatId> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i64>() {
            Some(ChatId::Id(n))
        } else if s.len() > 1 && s.starts_with('@') {
            Some(ChatId::Username(s.to_string()))
        } else {
            None
        }
    }
}

impl From<i64> for ChatId {
    fn from(n: i64) -> Self {
        ChatId::Id(n)
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatId::Id(n) => write!(f, "{n}"),
            ChatId::Username(s) => f.write_str(s),
        }
    }
}
