//! Client-side send limits, below Telegram's flood control (exchanges-private.md §4.1: about
//! 1 message/s per chat with short bursts tolerated, about 30 messages/s across chats).

use crate::chat::ChatId;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spacing of `sendMessage` calls. `Default`: 1 s per chat, 30 per second overall.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Minimum time between two sends to the same chat.
    pub per_chat_interval: Duration,
    /// Sends per rolling second across all chats (0 = unlimited).
    pub global_per_second: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_chat_interval: Duration::from_secs(1),
            global_per_second: 30,
        }
    }
}

#[derive(Default)]
struct State {
    last: HashMap<ChatId, Instant>,
    recent: VecDeque<Instant>,
}

pub(crate) struct Limiter {
    limits: RateLimits,
    state: Mutex<State>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Limiter {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until a send to `chat` is allowed, and books it.
    pub async fn acquire(&self, chat: &ChatId) {
        loop {
            let wait = {
                let mut st = self.state.lock().await;
                let now = Instant::now();
                let second = Duration::from_secs(1);
                while st
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= second)
                {
                    st.recent.pop_front();
                }
                let w_chat = st
                    .last
                    .get(chat)
                    .map(|t| (*t + self.limits.per_chat_interval).saturating_duration_since(now))
                    .unwrap_or_default();
                let n = self.limits.global_per_second as usize;
                let w_global = match st.recent.front() {
                    Some(t) if n > 0 && st.recent.len() >= n => {
                        (*t + second).saturating_duration_since(now)
                    }
                    _ => Duration::ZERO,
                };
                let w = w_chat.max(w_global);
                if w.is_zero() {
                    st.last.insert(chat.clone(), now);
                    st.recent.push_back(now);
                    if st.last.len() > 10_000 {
                        let horizon = self.limits.per_chat_interval;
                        st.last.retain(|_, t| now.duration_since(*t) < horizon);
                    }
                    return;
                }
                w
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_one_chat_and_caps_global() {
        let l = Limiter::new(RateLimits {
            per_chat_interval: Duration::from_secs(1),
            global_per_second: 3,
        });
        let t0 = Instant::now();
        let a = ChatId::Id(1);
        l.acquire(&a).await;
        l.acquire(&a).await;
        assert!(t0.elapsed() >= Duration::from_secs(1));
        let t1 = Instant::now();
        for i in 10..14 {
            l.acquire(&ChatId::Id(i)).await;
        }
        // 4 distinct chats, but only 3 per rolling second (2 already booked in the last second)
        assert!(
            t1.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t1.elapsed()
        );
    }
}
