//! The durable, bounded outbox: one file per message part in a directory the watchdog owns
//! (docs/TELEGRAM.md "Outbox").
//!
//! - `push` splits the message ([`crate::split_html`]) and writes every part before returning:
//!   `<dir>/<seq, 20 digits>.msg`, JSON, written to `.tmp-<seq>`, fsynced, renamed, directory
//!   fsynced.
//! - `deliver` sends oldest first and deletes a part only after Telegram answered `ok:true`; it
//!   stops at the first failure, keeping the order. A part Telegram refuses for its content
//!   (400 too long / empty / unparsable HTML) can never be sent: it is moved to
//!   `<dir>/rejected/` with an error log so it does not block the queue forever.
//! - Bounded: at most `capacity` parts. When a push would exceed it, the oldest low-priority
//!   parts are dropped (then the oldest high-priority ones if that is not enough), and one
//!   notice "N messages dropped" takes the place of the first dropped part; later drops increase
//!   that notice's count instead of adding notices. The notice is not counted in `capacity`.
//! - Delivery is at-least-once: a crash (or a lost answer) after Telegram accepted a part but
//!   before its file is deleted sends it again. The window is one request's round trip plus one
//!   `unlink`; there is no window where a part is lost.

use crate::bot::{Bot, ChatId, MAX_MESSAGE_LEN};
use crate::error::TelegramError;
use crate::html::split_html;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What may be dropped first when the outbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Dropped first (reports, fills).
    Low,
    /// Dropped only when nothing low is left (kill switch, daemon down).
    High,
}

/// A message to queue: HTML (escape the text parts with [`crate::escape_html`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub chat_id: ChatId,
    pub html: String,
    pub priority: Priority,
}

impl OutMessage {
    pub fn low(chat_id: impl Into<ChatId>, html: impl Into<String>) -> Self {
        OutMessage {
            chat_id: chat_id.into(),
            html: html.into(),
            priority: Priority::Low,
        }
    }
    pub fn high(chat_id: impl Into<ChatId>, html: impl Into<String>) -> Self {
        OutMessage {
            chat_id: chat_id.into(),
            html: html.into(),
            priority: Priority::High,
        }
    }
}

/// Outbox settings.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Parts kept at most (the drop notice not counted). Default 1000.
    pub capacity: usize,
    /// Split length (Telegram characters). Default 4096.
    pub max_part_len: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            capacity: 1000,
            max_part_len: MAX_MESSAGE_LEN,
        }
    }
}

/// One queued part, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub seq: u64,
    pub chat_id: ChatId,
    pub text: String,
    pub priority: Priority,
    pub created_ms: i64,
    /// `Some(n)`: this is the "n messages dropped" notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// Parts written.
    pub parts: usize,
    /// Parts dropped to make room (this push's own first parts included when it alone exceeds
    /// the capacity).
    pub dropped: usize,
}

/// What a complete delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    pub sent: usize,
    /// Parts Telegram refused for their content, moved to `rejected/`.
    pub rejected: usize,
}

/// The outbox (see the module documentation). One process owns a directory.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    cfg: OutboxConfig,
    entries: VecDeque<Pending>,
    next_seq: u64,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TelegramError {
    TelegramError::Io {
        what: "outbox",
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// the directory.
pub(crate) fn write_atomic(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}.msg")
}

fn notice_text(n: u64) -> String {
    format!("⚠️ <b>{n} messages dropped</b> (Telegram outbox full)")
}

impl Outbox {
    /// Opens (creating it if needed) the outbox in `dir` and loads the pending parts in order.
    /// A file that does not parse (a torn write) is renamed `*.corrupt` with a warning; leftover
    /// temp files are deleted with a warning.
    pub fn open(dir: impl Into<PathBuf>, cfg: OutboxConfig) -> Result<Outbox, TelegramError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let mut entries = Vec::new();
        let mut max_seq = 0u64;
        for de in std::fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            let de = de.map_err(|e| io_err(&dir, e))?;
            let path = de.path();
            let name = de.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                tracing::warn!(file = %path.display(), "outbox: deleting a half-written message from a crash");
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(stem) = name
                .strip_suffix(".msg")
                .or_else(|| name.strip_suffix(".corrupt"))
            else {
                continue;
            };
            let Ok(seq) = stem.parse::<u64>() else {
                continue;
            };
            max_seq = max_seq.max(seq);
            if !name.ends_with(".msg") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
                .filter(|p| p.seq == seq);
            match parsed {
                Some(p) => entries.push(p),
                None => {
                    tracing::warn!(file = %path.display(), "outbox: ignoring an unreadable message file (renamed .corrupt)");
                    let _ = std::fs::rename(&path, path.with_extension("corrupt"));
                }
            }
        }
        entries.sort_by_key(|p| p.seq);
        Ok(Outbox {
            dir,
            cfg,
            entries: entries.into(),
            next_seq: max_seq + 1,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Parts waiting, the drop notice included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The waiting parts, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.entries.iter()
    }

    fn counted(&self) -> usize {
        self.entries.iter().filter(|p| p.dropped.is_none()).count()
    }

    fn write(&self, p: &Pending) -> Result<(), TelegramError> {
        let path = self.dir.join(file_name(p.seq));
        let tmp = self.dir.join(format!(".tmp-{}", p.seq));
        let bytes = serde_json::to_vec(p).map_err(|e| io_err(&path, e))?;
        write_atomic(&path, &tmp, &bytes).map_err(|e| io_err(&path, e))
    }

    fn remove_file(&self, seq: u64) -> Result<(), TelegramError> {
        let path = self.dir.join(file_name(seq));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, e)),
        }
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))
    }

    /// Splits `msg` and persists every part (durable when this returns), dropping the oldest
    /// parts first if the outbox would exceed its capacity (module documentation).
    pub fn push(&mut self, msg: OutMessage) -> Result<Pushed, TelegramError> {
        let mut parts = split_html(&msg.html, self.cfg.max_part_len);
        let cap = self.cfg.capacity.max(1);
        let mut dropped_new = 0;
        if parts.len() > cap {
            dropped_new = parts.len() - cap;
            parts.drain(..dropped_new);
        }
        let excess = (self.counted() + parts.len()).saturating_sub(cap);
        let mut victims: Vec<u64> = Vec::new();
        for prio in [Priority::Low, Priority::High] {
            for p in &self.entries {
                if victims.len() == excess {
                    break;
                }
                if p.dropped.is_none() && p.priority == prio {
                    victims.push(p.seq);
                }
            }
        }
        let dropped = victims.len() + dropped_new;
        if dropped > 0 {
            self.record_drops(&victims, dropped as u64, &msg.chat_id)?;
        }
        let now = scalp_core::types::now_ms();
        for text in parts.iter() {
            let p = Pending {
                seq: self.next_seq,
                chat_id: msg.chat_id.clone(),
                text: text.clone(),
                priority: msg.priority,
                created_ms: now,
                dropped: None,
            };
            self.next_seq += 1;
            self.write(&p)?;
            self.entries.push_back(p);
        }
        Ok(Pushed {
            parts: parts.len(),
            dropped,
        })
    }

    /// Replaces the victims by one notice (or grows the pending notice).
    fn record_drops(
        &mut self,
        victims: &[u64],
        n: u64,
        chat: &ChatId,
    ) -> Result<(), TelegramError> {
        let existing = self.entries.iter().position(|p| p.dropped.is_some());
        let notice = match existing {
            Some(i) => {
                let mut p = self.entries[i].clone();
                let total = p.dropped.unwrap_or(0) + n;
                p.dropped = Some(total);
                p.text = notice_text(total);
                self.write(&p)?;
                self.entries[i] = p.clone();
                p
            }
            None => {
                // in the place of the first victim (or of this push when it dropped only itself)
                let (seq, chat_id) = match victims.first() {
                    Some(&s) => {
                        let v = self.entries.iter().find(|p| p.seq == s).unwrap();
                        (s, v.chat_id.clone())
                    }
                    None => {
                        let s = self.next_seq;
                        self.next_seq += 1;
                        (s, chat.clone())
                    }
                };
                let p = Pending {
                    seq,
                    chat_id,
                    text: notice_text(n),
                    priority: Priority::High,
                    created_ms: scalp_core::types::now_ms(),
                    dropped: Some(n),
                };
                self.write(&p)?; // renames over the first victim's file
                p
            }
        };
        for &s in victims {
            if s != notice.seq {
                self.remove_file(s)?;
            }
        }
        self.entries
            .retain(|p| p.seq == notice.seq || !victims.contains(&p.seq));
        if existing.is_none() {
            let pos = self
                .entries
                .iter()
                .position(|p| p.seq > notice.seq)
                .unwrap_or(self.entries.len());
            if !self.entries.iter().any(|p| p.seq == notice.seq) {
                self.entries.insert(pos, notice.clone());
            } else if let Some(e) = self.entries.iter_mut().find(|p| p.seq == notice.seq) {
                *e = notice.clone();
            }
        }
        tracing::warn!(
            dropped = n,
            capacity = self.cfg.capacity,
            "telegram outbox full: dropped the oldest messages"
        );
        Ok(())
    }

    /// Sends the waiting parts oldest first, deleting each after `ok:true`. Returns when the
    /// outbox is empty, or the first error (the failed part and everything after it stay,
    /// in order). Parts refused for their content are set aside (module documentation).
    pub async fn deliver(&mut self, bot: &Bot) -> Result<Delivered, TelegramError> {
        let mut done = Delivered::default();
        while let Some(p) = self.entries.front().cloned() {
            match bot.send_message(&p.chat_id, &p.text).await {
                Ok(_) => {
                    self.entries.pop_front();
                    self.remove_file(p.seq)?;
                    done.sent += 1;
                }
                Err(e) if e.is_bad_message() => {
                    tracing::error!(
                        seq = p.seq,
                        "telegram refused an outbox message, set aside in rejected/: {e}"
                    );
                    let rej = self.dir.join("rejected");
                    std::fs::create_dir_all(&rej).map_err(|e| io_err(&rej, e))?;
                    let from = self.dir.join(file_name(p.seq));
                    std::fs::rename(&from, rej.join(file_name(p.seq)))
                        .map_err(|e| io_err(&from, e))?;
                    sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
                    self.entries.pop_front();
                    done.rejected += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(o: &Outbox) -> Vec<String> {
        o.pending().map(|p| p.text.clone()).collect()
    }

    #[test]
    fn persists_in_order_and_reopens() {
        let d = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(d.path(), OutboxConfig::default()).unwrap();
        for i in 0..5 {
            o.push(OutMessage::low(1, format!("m{i}"))).unwrap();
        }
        drop(o);
        let o = Outbox::open(d.path(), OutboxConfig::default()).unwrap();
        assert_eq!(texts(&o), ["m0", "m1", "m2", "m3", "m4"]);
    }

    #[test]
    fn torn_files_are_ignored() {
        let d = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(d.path(), OutboxConfig::default()).unwrap();
        o.push(OutMessage::low(1, "a")).unwrap();
        o.push(OutMessage::low(1, "b")).unwrap();
        drop(o);
        std::fs::write(d.path().join(file_name(2)), b"{\"seq\":2,\"chat").unwrap();
        std::fs::write(d.path().join(".tmp-3"), b"{").unwrap();
        let mut o = Outbox::open(d.path(), OutboxConfig::default()).unwrap();
        assert_eq!(texts(&o), ["a"]);
        assert!(!d.path().join(".tmp-3").exists());
        // the torn file's sequence number is not reused
        o.push(OutMessage::low(1, "c")).unwrap();
        assert!(o.pending().last().unwrap().seq > 2);
    }

    #[test]
    fn full_drops_oldest_low_and_queues_one_notice() {
        let d = tempfile::tempdir().unwrap();
        let cfg = OutboxConfig {
            capacity: 3,
            ..OutboxConfig::default()
        };
        let mut o = Outbox::open(d.path(), cfg.clone()).unwrap();
        o.push(OutMessage::high(1, "H")).unwrap();
        o.push(OutMessage::low(1, "l1")).unwrap();
        o.push(OutMessage::low(1, "l2")).unwrap();
        let r = o.push(OutMessage::low(1, "l3")).unwrap();
        assert_eq!(r.dropped, 1);
        assert_eq!(texts(&o), ["H", &notice_text(1), "l2", "l3"]);
        o.push(OutMessage::low(1, "l4")).unwrap();
        assert_eq!(texts(&o), ["H", &notice_text(2), "l3", "l4"]);
        drop(o);
        let o = Outbox::open(d.path(), cfg).unwrap();
        assert_eq!(texts(&o), ["H", &notice_text(2), "l3", "l4"]);
        assert_eq!(o.pending().filter(|p| p.dropped.is_some()).count(), 1);
    }
}
