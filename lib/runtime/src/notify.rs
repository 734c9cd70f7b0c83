use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// sd_notify(3) client. Every call is a no-op when `NOTIFY_SOCKET` is not set (not started by
/// systemd with `Type=notify`); send errors are logged at debug and otherwise ignored.
#[derive(Debug, Clone)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    /// The watchdog is enabled when `WATCHDOG_USEC` is a positive integer and `WATCHDOG_PID` is
    /// unset or equal to our pid (the same rule as libsystemd's `sd_watchdog_enabled`).
    pub fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        let usec = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|u| *u > 0);
        let pid_ok = match std::env::var("WATCHDOG_PID") {
            Ok(p) => p.trim().parse::<u32>().ok() == Some(std::process::id()),
            Err(_) => true,
        };
        Notifier {
            enabled,
            watchdog: usec.filter(|_| pid_ok).map(Duration::from_micros),
        }
    }

    /// A notifier that never sends anything (tools, tests).
    pub fn disabled() -> Self {
        Notifier {
            enabled: false,
            watchdog: None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The watchdog timeout systemd gave us (`WatchdogSec=`), if any.
    pub fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(false, states) {
            tracing::debug!("sd_notify failed: {e}");
        }
    }

    /// `READY=1` plus `STATUS=<status>`: init is complete (config, DB and state loaded).
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// `STATUS=<text>` (shown by `systemctl status`). Newlines are replaced by spaces.
    pub fn status(&self, text: &str) {
        let t = text.replace('\n', " ");
        self.send(&[NotifyState::Status(&t)]);
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// `WATCHDOG=1`. Prefer [`spawn_watchdog`], which pings only when the work loop progressed.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}

#[derive(Debug, Default)]
struct HeartbeatInner {
    beats: AtomicU64,
    unhealthy: AtomicBool,
}

/// Progress counter shared by the work loop and the watchdog task (cheap to clone: one `Arc`).
///
/// The work loop calls [`beat`](Heartbeat::beat) each time it makes real progress (and only
/// while it considers itself healthy). [`spawn_watchdog`] sends `WATCHDOG=1` only if a beat
/// happened since its previous ping and [`set_healthy`](Heartbeat::set_healthy) was not
/// cleared; otherwise it withholds the ping so that systemd restarts a wedged daemon.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat(Arc<HeartbeatInner>);

impl Heartbeat {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn beat(&self) {
        self.0.beats.fetch_add(1, Ordering::Relaxed);
    }
    pub fn beats(&self) -> u64 {
        self.0.beats.load(Ordering::Relaxed)
    }
    /// Health predicate consulted by the watchdog in addition to the beats (default healthy).
    pub fn set_healthy(&self, healthy: bool) {
        self.0.unhealthy.store(!healthy, Ordering::Relaxed);
    }
    pub fn is_healthy(&self) -> bool {
        !self.0.unhealthy.load(Ordering::Relaxed)
    }
}

/// Decides, at each watchdog tick, whether to ping. Pure logic, separate from the timer.
#[derive(Debug, Default)]
pub(crate) struct PingGate {
    last_beats: Option<u64>,
    withheld: bool,
}

impl PingGate {
    /// `true` if the beat count changed since the last ping (or this is the first tick with a
    /// beat) and the heartbeat is healthy.
    pub(crate) fn should_ping(&mut self, hb: &Heartbeat) -> bool {
        let now = hb.beats();
        let progressed = match self.last_beats {
            None => now > 0,
            Some(prev) => now != prev,
        };
        if progressed && hb.is_healthy() {
            self.last_beats = Some(now);
            if self.withheld {
                tracing::info!("WATCHDOG RESUMED: work loop is progressing again");
                self.withheld = false;
            }
            true
        } else {
            if !self.withheld {
                tracing::warn!(
                    "WATCHDOG WITHHELD: {} since the last ping; systemd restarts us if this lasts",
                    if progressed {
                        "unhealthy"
                    } else {
                        "no progress"
                    }
                );
                self.withheld = true;
            }
            false
        }
    }
}

/// Spawns the watchdog task (inside a tokio runtime): every `WATCHDOG_USEC / 2` it sends
/// `WATCHDOG=1` if `hb` got a beat since the previous ping and is healthy. Returns `None`
/// (no task, no pings) when systemd did not ask for a watchdog.
pub fn spawn_watchdog(notifier: &Notifier, hb: &Heartbeat) -> Option<tokio::task::JoinHandle<()>> {
    let timeout = notifier.watchdog_timeout()?;
    let period = (timeout / 2).max(Duration::from_millis(1));
    let notifier = notifier.clone();
    let hb = hb.clone();
    tracing::info!(
        "watchdog enabled: timeout {timeout:?}, ping every {period:?} while progressing"
    );
    Some(tokio::spawn(async move {
        let mut gate = PingGate::default();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // first tick is immediate: give the loop one period to beat
        loop {
            tick.tick().await;
            if gate.should_ping(&hb) {
                notifier.watchdog();
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_pings_only_after_progress_and_while_healthy() {
        let hb = Heartbeat::new();
        let mut g = PingGate::default();
        assert!(!g.should_ping(&hb), "no beat yet");
        hb.beat();
        assert!(g.should_ping(&hb));
        assert!(!g.should_ping(&hb), "no beat since last ping");
        hb.beat();
        hb.beat();
        assert!(g.should_ping(&hb));
        hb.beat();
        hb.set_healthy(false);
        assert!(!g.should_ping(&hb), "beat but unhealthy");
        hb.set_healthy(true);
        assert!(
            g.should_ping(&hb),
            "the beat is still pending once healthy again"
        );
        let clone = hb.clone();
        clone.beat();
        assert!(g.should_ping(&hb), "clones share the counter");
    }

    #[test]
    fn notifier_without_socket_is_noop() {
        let n = Notifier::disabled();
        n.ready("x");
        n.status("y");
        n.watchdog();
        n.stopping();
        assert!(!n.is_enabled());
        assert!(n.watchdog_timeout().is_none());
    }
}
