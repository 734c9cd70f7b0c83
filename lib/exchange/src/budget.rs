//! Shared request budget per exchange (one per process and exchange, cloned into every user).

use scalp_core::Exchange;
use scalp_core::config::{BinanceConfig, BitgetConfig};
use scalp_core::types::{fmt_ms, now_ms};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request budget shared (by cloning) between every REST user of one exchange.
///
/// * Binance ([`RateBudget::binance`]): request *weight* per wall-clock minute. We spend at most
///   `weight_limit_per_minute * weight_safety`; the exchange's own count from the
///   `X-MBX-USED-WEIGHT-1M` response header ([`RateBudget::observe_used_weight`]) overrides ours
///   when it is higher. When the next request would cross the line we wait for the next minute.
/// * Bitget ([`RateBudget::bitget`]): at most 90 % of `public_requests_per_second`, evenly spaced.
/// * Both: [`RateBudget::pause_for`] (HTTP 429 / 418 `Retry-After`) blocks *every* request to the
///   exchange until the pause ends.
#[derive(Clone, Debug)]
pub struct RateBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    exchange: Exchange,
    mode: Mode,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// At most `limit` weight per window of `window_ms` aligned to the Unix epoch.
    Weight { limit: u32, window_ms: i64 },
    /// Requests spaced at least `interval` apart.
    Spaced { interval: Duration },
    /// At most `limit` requests in any rolling `window` (a log of send times).
    Sliding { limit: u32, window: Duration },
}

#[derive(Debug)]
struct State {
    window_start_ms: i64,
    used: u32,
    next_slot: Option<Instant>,
    paused_until: Option<Instant>,
    paused_until_ms: Option<i64>,
    /// Sliding mode: send times inside the window, oldest first.
    sent: std::collections::VecDeque<Instant>,
    requests: u64,
    pauses: u64,
    waited: Duration,
}

/// A snapshot of a [`RateBudget`] for logs and state files.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetStats {
    pub exchange: Exchange,
    /// Requests let through so far.
    pub requests: u64,
    /// Binance: weight used in the current minute (ours or the header's, whichever is higher).
    pub used_weight: u32,
    /// Binance: the weight we allow ourselves per minute; Bitget: requests per second.
    pub limit: u32,
    /// Wall-clock end of the current 429/418 pause, if any.
    pub paused_until_ms: Option<i64>,
    /// Number of 429/418 pauses so far.
    pub pauses: u64,
    /// Total time requests spent waiting for the budget.
    pub waited_ms: u64,
}

impl RateBudget {
    /// Binance: `weight_limit_per_minute * weight_safety` weight per minute.
    pub fn binance(cfg: &BinanceConfig) -> Self {
        let safety = binance_safety(cfg);
        let limit = ((cfg.weight_limit_per_minute as f64) * safety)
            .floor()
            .max(1.0) as u32;
        Self::weight_window(Exchange::Binance, limit, Duration::from_secs(60))
    }

    /// Bitget: 90 % of `public_requests_per_second`, evenly spaced (the margin absorbs network
    /// jitter that would otherwise put one request too many into the exchange's 1 s window).
    pub fn bitget(cfg: &BitgetConfig) -> Self {
        let rps = (cfg.public_requests_per_second.max(1) as f64 * 0.9).max(0.5);
        Self::with_mode(
            Exchange::Bitget,
            Mode::Spaced {
                interval: Duration::from_secs_f64(1.0 / rps),
            },
        )
    }

    /// A weight budget of `limit` per window (Binance uses one minute; tests use shorter ones).
    pub fn weight_window(exchange: Exchange, limit: u32, window: Duration) -> Self {
        let window_ms = (window.as_millis() as i64).max(1);
        Self::with_mode(
            exchange,
            Mode::Weight {
                limit: limit.max(1),
                window_ms,
            },
        )
    }

    /// Binance `GET /fapi/v1/fundingRate`: its own limit of `funding_requests_per_5min` (500)
    /// requests per 5 minutes per IP, apart from the weight budget; we use at most
    /// `weight_safety` of it in any rolling 5 minutes.
    pub fn binance_funding(cfg: &BinanceConfig) -> Self {
        let limit = ((cfg.funding_requests_per_5min as f64) * binance_safety(cfg))
            .floor()
            .max(1.0) as u32;
        Self::sliding(Exchange::Binance, limit, Duration::from_secs(300))
    }

    /// At most `limit` requests in any rolling `window`.
    pub fn sliding(exchange: Exchange, limit: u32, window: Duration) -> Self {
        Self::with_mode(
            exchange,
            Mode::Sliding {
                limit: limit.max(1),
                window,
            },
        )
    }

    /// At most `rps` requests per second, evenly spaced.
    pub fn per_second(exchange: Exchange, rps: u32) -> Self {
        let rps = rps.max(1);
        Self::with_mode(
            exchange,
            Mode::Spaced {
                interval: Duration::from_secs_f64(1.0 / rps as f64),
            },
        )
    }

    fn with_mode(exchange: Exchange, mode: Mode) -> Self {
        RateBudget {
            inner: Arc::new(Inner {
                exchange,
                mode,
                state: Mutex::new(State {
                    window_start_ms: 0,
                    used: 0,
                    next_slot: None,
                    paused_until: None,
                    paused_until_ms: None,
                    sent: std::collections::VecDeque::new(),
                    requests: 0,
                    pauses: 0,
                    waited: Duration::ZERO,
                }),
            }),
        }
    }

    pub fn exchange(&self) -> Exchange {
        self.inner.exchange
    }

    /// Waits until a request of `weight` may be sent, then books it. A request heavier than the
    /// whole window's budget is let through alone at the start of a window.
    pub async fn acquire(&self, weight: u32) {
        let started = Instant::now();
        loop {
            let wait = self.try_book(weight);
            match wait {
                None => break,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
        let waited = started.elapsed();
        if waited > Duration::ZERO {
            let mut st = self.inner.state.lock().unwrap();
            st.waited += waited;
        }
    }

    /// Books the request and returns `None`, or returns how long to wait before trying again.
    fn try_book(&self, weight: u32) -> Option<Duration> {
        let mut st = self.inner.state.lock().unwrap();
        let now = Instant::now();
        if let Some(until) = st.paused_until {
            if until > now {
                return Some(until - now);
            }
            st.paused_until = None;
            st.paused_until_ms = None;
        }
        match self.inner.mode {
            Mode::Weight { limit, window_ms } => {
                let wall = now_ms();
                let start = wall.div_euclid(window_ms) * window_ms;
                if start != st.window_start_ms {
                    st.window_start_ms = start;
                    st.used = 0;
                }
                if st.used == 0 || st.used.saturating_add(weight) <= limit {
                    st.used = st.used.saturating_add(weight);
                    st.requests += 1;
                    None
                } else {
                    // wait for the next window, plus a little margin for clock differences
                    let ms = (start + window_ms - wall).max(1) as u64 + 50;
                    Some(Duration::from_millis(ms))
                }
            }
            Mode::Sliding { limit, window } => {
                while st
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= window)
                {
                    st.sent.pop_front();
                }
                if st.sent.len() < limit as usize {
                    st.sent.push_back(now);
                    st.requests += 1;
                    None
                } else {
                    let oldest = *st.sent.front().expect("full log");
                    Some(
                        (oldest + window).saturating_duration_since(now) + Duration::from_millis(1),
                    )
                }
            }
            Mode::Spaced { interval } => {
                let slot = st.next_slot.unwrap_or(now);
                if slot <= now {
                    st.next_slot = Some(now + interval);
                    st.requests += 1;
                    None
                } else {
                    Some(slot - now)
                }
            }
        }
    }

    /// Records the exchange's own count of the weight used in the current minute
    /// (`X-MBX-USED-WEIGHT-1M`); ours is raised to it when lower.
    pub fn observe_used_weight(&self, used: u32) {
        if let Mode::Weight { window_ms, .. } = self.inner.mode {
            let mut st = self.inner.state.lock().unwrap();
            let wall = now_ms();
            let start = wall.div_euclid(window_ms) * window_ms;
            if start != st.window_start_ms {
                st.window_start_ms = start;
                st.used = 0;
            }
            st.used = st.used.max(used);
        }
    }

    /// Blocks every request to this exchange for `d` (HTTP 429/418 `Retry-After`). A shorter
    /// pause never shortens a longer one already in force.
    pub fn pause_for(&self, d: Duration, status: u16) {
        let mut st = self.inner.state.lock().unwrap();
        let until = Instant::now() + d;
        if st.paused_until.is_none_or(|u| u < until) {
            st.paused_until = Some(until);
            let until_ms = now_ms() + d.as_millis() as i64;
            st.paused_until_ms = Some(until_ms);
            st.pauses += 1;
            tracing::warn!(
                exchange = %self.inner.exchange,
                status,
                pause_ms = d.as_millis() as u64,
                until = %fmt_ms(until_ms),
                "exchange asked us to back off: pausing every request to it"
            );
        }
    }

    /// How long requests are still paused for, if they are.
    pub fn paused_for(&self) -> Option<Duration> {
        let st = self.inner.state.lock().unwrap();
        st.paused_until
            .and_then(|u| u.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    pub fn stats(&self) -> BudgetStats {
        let st = self.inner.state.lock().unwrap();
        let limit = match self.inner.mode {
            Mode::Weight { limit, .. } => limit,
            Mode::Spaced { interval } => (1.0 / interval.as_secs_f64()).round() as u32,
            Mode::Sliding { limit, .. } => limit,
        };
        let paused = st.paused_until.is_some_and(|u| u > Instant::now());
        BudgetStats {
            exchange: self.inner.exchange,
            requests: st.requests,
            used_weight: st.used,
            limit,
            paused_until_ms: if paused { st.paused_until_ms } else { None },
            pauses: st.pauses,
            waited_ms: st.waited.as_millis() as u64,
        }
    }
}

/// The share of Binance's limits we allow ourselves (`weight_safety`, clamped to 5–100 %).
fn binance_safety(cfg: &BinanceConfig) -> f64 {
    if cfg.weight_safety.is_finite() {
        cfg.weight_safety.clamp(0.05, 1.0)
    } else {
        0.8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn weight_window_blocks_until_next_window() {
        // 10 weight per 1 s window: the third request of weight 5 waits for the next window.
        let b = RateBudget::weight_window(Exchange::Binance, 10, Duration::from_millis(1000));
        // start right after a window boundary so the first two land in the same window
        let wall = now_ms();
        let to_next = 1000 - wall.rem_euclid(1000);
        tokio::time::sleep(Duration::from_millis(to_next as u64 + 5)).await;
        let w0 = now_ms().div_euclid(1000);
        b.acquire(5).await;
        b.acquire(5).await;
        assert_eq!(now_ms().div_euclid(1000), w0, "first two fit in one window");
        b.acquire(5).await;
        assert!(
            now_ms().div_euclid(1000) > w0,
            "third waited for the next window"
        );
        assert_eq!(b.stats().requests, 3);
    }

    #[tokio::test]
    async fn header_weight_overrides_ours() {
        let b = RateBudget::weight_window(Exchange::Binance, 100, Duration::from_millis(1000));
        let wall = now_ms();
        tokio::time::sleep(Duration::from_millis(
            (1000 - wall.rem_euclid(1000)) as u64 + 5,
        ))
        .await;
        let w0 = now_ms().div_euclid(1000);
        b.acquire(1).await;
        b.observe_used_weight(99);
        assert_eq!(b.stats().used_weight, 99);
        b.acquire(5).await;
        assert!(now_ms().div_euclid(1000) > w0);
    }

    #[tokio::test]
    async fn spaced_requests() {
        let b = RateBudget::per_second(Exchange::Bitget, 20);
        let t0 = Instant::now();
        for _ in 0..11 {
            b.acquire(1).await;
        }
        // 11 requests at 20/s need at least 10 intervals of 50 ms
        assert!(
            t0.elapsed() >= Duration::from_millis(495),
            "{:?}",
            t0.elapsed()
        );
    }

    #[tokio::test]
    async fn sliding_window_never_exceeds_its_limit_in_any_window() {
        let b = RateBudget::sliding(Exchange::Binance, 5, Duration::from_millis(400));
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..12 {
            b.acquire(1).await;
            at.push(t0.elapsed());
        }
        // a burst of 5 at once, then each later request waits for the oldest to leave the window
        assert!(at[4] < Duration::from_millis(100), "{at:?}");
        for i in 5..at.len() {
            assert!(
                at[i] - at[i - 5] >= Duration::from_millis(400),
                "six requests within 400 ms: {at:?}"
            );
        }
        assert_eq!(b.stats().limit, 5);
    }

    #[test]
    fn binance_funding_budget_is_its_own_500_per_5_minutes() {
        let cfg = BinanceConfig::default();
        let b = RateBudget::binance_funding(&cfg);
        assert_eq!(b.stats().limit, 400, "500 × weight_safety 0.8");
    }

    #[tokio::test]
    async fn pause_blocks_everyone_and_never_shrinks() {
        let b = RateBudget::per_second(Exchange::Bitget, 1000);
        b.pause_for(Duration::from_millis(300), 418);
        b.pause_for(Duration::from_millis(10), 429);
        assert!(b.paused_for().unwrap() > Duration::from_millis(200));
        let t0 = Instant::now();
        let b2 = b.clone();
        let h = tokio::spawn(async move { b2.acquire(1).await });
        b.acquire(1).await;
        h.await.unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(290));
        let s = b.stats();
        assert_eq!(s.pauses, 1);
        assert_eq!(s.paused_until_ms, None);
    }
}
