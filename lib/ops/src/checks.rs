//! One round of checks: the daemons' state files and processes, candle freshness per stream,
//! the paper kill switches, free disk and WAL size. Every rule is in docs/WATCHDOG.md.

use crate::anomaly::Anomaly;
use scalp_core::config::Config;
use scalp_core::{Exchange, Timeframe};
use scalp_marketdata::state::CollectorState;
use scalp_paper::state::SimulatorState;
use scalp_statefile::ReadOutcome;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The daemons whose liveness is checked: binary name, state file, and how often it rewrites
/// that file unconditionally (None: only when something changes — the simulator — so only its
/// process is checked).
pub fn daemons(cfg: &Config) -> Vec<(&'static str, &'static str, Option<f64>)> {
    vec![
        (
            "scalp-collector",
            scalp_marketdata::state::STATE_FILE,
            Some(cfg.main.collector.state_interval_s.max(1) as f64),
        ),
        ("scalp-simulator", scalp_paper::state::STATE_FILE, None),
        ("scalp-syncd", "syncd.json", Some(5.0)),
    ]
}

/// One daemon as seen in this round.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonStatus {
    pub name: &'static str,
    /// Its state file exists (or existed once: `seen`).
    pub present: bool,
    pub seen: bool,
    pub pid: Option<u32>,
    pub age_s: Option<f64>,
    /// Why it is down (None: up, or never seen).
    pub down: Option<String>,
    /// Its systemd unit as `systemctl show` reports it, when systemctl exists and the unit is
    /// loaded (`active/running, 0 restarts`).
    pub unit: Option<String>,
}

/// What one round found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now_ms: i64,
    pub collector: Option<CollectorState>,
    pub simulator: Option<SimulatorState>,
    pub daemons: Vec<DaemonStatus>,
    pub disk_free_pct: Option<f64>,
    pub wal_bytes: Option<u64>,
    pub observed: Vec<(Anomaly, String)>,
}

/// The check state kept across rounds: the read-only database connection and the daemons seen.
pub struct Checker {
    cfg: std::sync::Arc<Config>,
    conn: Option<rusqlite::Connection>,
    pub seen: BTreeSet<String>,
}

fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push("-wal");
    PathBuf::from(s)
}

impl Checker {
    pub fn new(cfg: std::sync::Arc<Config>, seen: impl IntoIterator<Item = String>) -> Checker {
        Checker {
            cfg,
            conn: None,
            seen: seen.into_iter().collect(),
        }
    }

    /// The read-only connection, opened on first use (None while the database does not exist:
    /// the watchdog never creates it).
    pub fn conn(&mut self) -> Option<&rusqlite::Connection> {
        if self.conn.is_none() {
            let db = self.cfg.db_path();
            if !db.exists() {
                return None;
            }
            match scalp_store::open_readonly(&db) {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    tracing::warn!("cannot open the database read-only: {e}");
                    return None;
                }
            }
        }
        self.conn.as_ref()
    }

    /// Drops the connection after an error (reopened next time).
    pub fn reset_conn(&mut self) {
        self.conn = None;
    }

    pub fn round(&mut self, now_ms: i64) -> Snapshot {
        let cfg = self.cfg.clone();
        let wd = &cfg.main.watchdog;
        let state_dir = cfg.state_dir();
        let mut snap = Snapshot {
            now_ms,
            ..Snapshot::default()
        };
        snap.collector = read_typed::<CollectorState>(
            &state_dir.join(scalp_marketdata::state::STATE_FILE),
            scalp_marketdata::state::STATE_VERSION,
        );
        snap.simulator = read_typed::<SimulatorState>(
            &state_dir.join(scalp_paper::state::STATE_FILE),
            scalp_paper::state::STATE_VERSION,
        );

        // daemon_down
        for (name, file, interval) in daemons(&cfg) {
            let unit = systemd_unit(name);
            let enabled = unit.as_ref().is_some_and(|u| u.enabled);
            let mut st = daemon_status(
                name,
                &state_dir.join(file),
                interval,
                wd.state_stale_factor,
                self.seen.contains(name) || enabled,
            );
            if let Some(u) = unit {
                if st.down.is_none() && u.seen_down() && (st.seen || enabled) {
                    st.down = Some(format!("unit {}", u.summary()));
                }
                st.unit = Some(u.summary());
            }
            if st.present && self.seen.insert(name.to_string()) {
                tracing::info!("WATCHING {name} (its state file exists)");
            }
            if let Some(why) = &st.down {
                snap.observed.push((
                    Anomaly::DaemonDown {
                        daemon: name.into(),
                    },
                    why.clone(),
                ));
            }
            snap.daemons.push(st);
        }

        // data_stale
        if let Some(c) = snap.collector.clone() {
            let replay_interval_ms = {
                let cps = cfg.main.replay.candles_per_second;
                let per_candle = if cps > 0.0 { 1000.0 / cps } else { 0.0 };
                per_candle.max(cfg.main.collector.state_interval_s.max(1) as f64 * 1000.0)
            };
            for s in &c.streams {
                let stream = format!("{} {} {}", s.exchange, s.symbol, s.timeframe);
                if s.exchange == Exchange::Replay {
                    // Replay candles are historical: judge the replay's progress (wall time of
                    // the last stored candle), not the candles' own times.
                    let limit = wd.state_stale_factor * replay_interval_ms;
                    if !s.finished
                        && let Some(at) = s.last_closed_stored_at
                        && (now_ms - at) as f64 > limit
                    {
                        snap.observed.push((
                            Anomaly::DataStale { stream },
                            format!(
                                "replay stored no candle for {:.0} s (limit {:.0} s)",
                                (now_ms - at) as f64 / 1000.0,
                                limit / 1000.0
                            ),
                        ));
                    }
                    continue;
                }
                let newest = self
                    .newest_open_time(s.exchange, &s.symbol, s.timeframe)
                    .or(s.last_closed_open_time);
                if let Some(t) = newest
                    && now_ms > t + 3 * s.timeframe.ms()
                {
                    snap.observed.push((
                        Anomaly::DataStale { stream },
                        format!(
                            "newest closed candle {} (closed {:.0} min ago, limit 2 × {})",
                            scalp_core::types::fmt_ms(t),
                            (now_ms - t - s.timeframe.ms()) as f64 / 60_000.0,
                            s.timeframe
                        ),
                    ));
                }
            }
        }

        // kill switches, all strategies stopped
        if let Some(sim) = &snap.simulator {
            if sim.global_kill_switch.active {
                snap.observed.push((
                    Anomaly::KillSwitch {
                        runner: "global".into(),
                    },
                    sim.global_kill_switch
                        .reason
                        .clone()
                        .unwrap_or_else(|| "global kill switch active".into()),
                ));
            }
            for r in &sim.runners {
                if let Some(k) = &r.kill_switch {
                    snap.observed.push((
                        Anomaly::KillSwitch {
                            runner: r.id.clone(),
                        },
                        format!("{}: {}", k.kind, k.reason),
                    ));
                }
            }
            if !sim.runners.is_empty() && sim.runners.iter().all(|r| r.kill_switch.is_some()) {
                snap.observed.push((
                    Anomaly::AllStrategiesStopped,
                    format!("all {} paper runners are stopped", sim.runners.len()),
                ));
            }
        }

        // disk, WAL
        let data_dir = cfg.data_dir();
        snap.disk_free_pct = disk_free_pct(&data_dir);
        if let Some(p) = snap.disk_free_pct
            && p < wd.min_free_disk_pct
        {
            snap.observed.push((
                Anomaly::DiskLow,
                format!(
                    "{:.1} % free on {} (minimum {} %)",
                    p,
                    data_dir.display(),
                    wd.min_free_disk_pct
                ),
            ));
        }
        snap.wal_bytes = std::fs::metadata(wal_path(&cfg.db_path()))
            .ok()
            .map(|m| m.len());
        if let Some(w) = snap.wal_bytes
            && w > wd.max_wal_mb * 1024 * 1024
        {
            snap.observed.push((
                Anomaly::WalGrowing,
                format!(
                    "scalp.db-wal is {:.1} MiB (maximum {} MiB)",
                    w as f64 / 1048576.0,
                    wd.max_wal_mb
                ),
            ));
        }
        snap
    }

    fn newest_open_time(&mut self, exchange: Exchange, symbol: &str, tf: Timeframe) -> Option<i64> {
        let conn = self.conn()?;
        let key = scalp_store::SeriesKey {
            exchange,
            symbol,
            timeframe: tf,
        };
        match scalp_store::candles::last_open_time(conn, &key) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{key}: {e}");
                self.reset_conn();
                None
            }
        }
    }
}

/// A unit as `systemctl show -p LoadState,ActiveState,SubState,NRestarts,UnitFileState` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitState {
    pub active: String,
    pub sub: String,
    pub restarts: u64,
    pub enabled: bool,
}

impl UnitState {
    pub fn summary(&self) -> String {
        format!("{}/{}, {} restarts", self.active, self.sub, self.restarts)
    }
    /// `failed`, or `inactive` while enabled (a daemon of scalp.target that should run).
    pub fn seen_down(&self) -> bool {
        self.active == "failed" || (self.active == "inactive" && self.enabled)
    }
    /// Parses `KEY=value` lines; None unless `LoadState=loaded`.
    pub fn parse(out: &str) -> Option<UnitState> {
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        if get("LoadState") != "loaded" {
            return None;
        }
        Some(UnitState {
            active: get("ActiveState"),
            sub: get("SubState"),
            restarts: get("NRestarts").parse().unwrap_or(0),
            enabled: get("UnitFileState") == "enabled",
        })
    }
}

/// `systemctl show` of `<name>.service` (no root needed); None unless the system runs systemd
/// (`/run/systemd/system`, libsystemd's `sd_booted` rule) and the unit is installed. Killed after
/// 5 s: a hung systemctl never stalls a round.
pub fn systemd_unit(name: &str) -> Option<UnitState> {
    if !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    let mut child = std::process::Command::new("systemctl")
        .args([
            "show",
            "--no-pager",
            "-p",
            "LoadState,ActiveState,SubState,NRestarts,UnitFileState",
            &format!("{name}.service"),
        ])
        .env_remove("NOTIFY_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!("systemctl show {name}.service did not answer within 5 s");
                return None;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    UnitState::parse(&out)
}

fn read_typed<T: serde::de::DeserializeOwned>(path: &Path, version: u32) -> Option<T> {
    match scalp_statefile::try_read::<T>(path, version) {
        ReadOutcome::Ok(env) => Some(env.payload),
        ReadOutcome::Missing => None,
        ReadOutcome::Invalid(why) => {
            tracing::debug!("{why}");
            None
        }
    }
}

/// Liveness of one daemon: down when its state file existed once and is now missing, when the
/// process named in it is not running (Linux `/proc/<pid>/comm`), or when the file is older
/// than `factor × interval`. A daemon never seen is not judged (not every install runs syncd).
pub fn daemon_status(
    name: &'static str,
    path: &Path,
    interval_s: Option<f64>,
    factor: f64,
    seen_before: bool,
) -> DaemonStatus {
    let meta = std::fs::metadata(path).ok();
    let present = meta.is_some();
    let mut st = DaemonStatus {
        name,
        present,
        seen: present || seen_before,
        pid: None,
        age_s: None,
        down: None,
        unit: None,
    };
    let Some(meta) = meta else {
        if seen_before {
            st.down = Some(format!("{} is missing", path.display()));
        }
        return st;
    };
    st.age_s = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .map(|d| d.as_secs_f64());
    st.pid = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["pid"].as_u64())
        .map(|p| p as u32);
    if let Some(pid) = st.pid
        && !process_running(pid, name)
    {
        st.down = Some(format!("process {pid} is not running"));
        return st;
    }
    if let (Some(iv), Some(age)) = (interval_s, st.age_s)
        && age > factor * iv
    {
        st.down = Some(format!(
            "state file not rewritten for {age:.0} s (limit {:.0} s)",
            factor * iv
        ));
    }
    st
}

/// Whether `pid` is a running process called `name` (the kernel keeps 15 bytes of the name).
/// Where `/proc` is not available, every process counts as running (only the age rule applies).
pub fn process_running(pid: u32, name: &str) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => {
            let want: String = name.chars().take(15).collect();
            comm.trim_end() == want
        }
        Err(_) => false,
    }
}

/// Free space (for unprivileged users) on the file system of `dir`, percent.
pub fn disk_free_pct(dir: &Path) -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let s = nix::sys::statvfs::statvfs(dir).ok()?;
        let total = s.blocks() as f64;
        if total <= 0.0 {
            return None;
        }
        Some(s.blocks_available() as f64 / total * 100.0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_rules() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        // never seen: not judged
        assert_eq!(
            daemon_status("scalp-x", &p, Some(1.0), 3.0, false).down,
            None
        );
        // seen once, now missing: down
        assert!(
            daemon_status("scalp-x", &p, Some(1.0), 3.0, true)
                .down
                .is_some()
        );
        // a pid that is not a scalp-x process: down
        std::fs::write(&p, format!("{{\"pid\":{}}}", std::process::id())).unwrap();
        let st = daemon_status("scalp-x", &p, Some(100.0), 3.0, false);
        assert!(st.seen);
        assert!(st.down.unwrap().contains("not running"));
        // our own process under its own name: up
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let me: &'static str = Box::leak(me.trim().to_string().into_boxed_str());
        assert_eq!(daemon_status(me, &p, Some(100.0), 3.0, false).down, None);
    }

    #[test]
    fn unit_state_parse() {
        let u = UnitState::parse(
            "LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=3\nUnitFileState=enabled\n",
        )
        .unwrap();
        assert!(u.seen_down());
        assert_eq!(u.summary(), "failed/failed, 3 restarts");
        assert!(UnitState::parse("LoadState=not-found\nActiveState=inactive\n").is_none());
    }

    #[test]
    fn disk_free_is_a_percentage() {
        let d = tempfile::tempdir().unwrap();
        let p = disk_free_pct(d.path()).unwrap();
        assert!((0.0..=100.0).contains(&p), "{p}");
    }
}
