//! One round of checks: the daemons' state files and processes, candle freshness per stream,
//! the paper kill switches, free disk and WAL size. Every rule is in docs/WATCHDOG.md.

use crate::anomaly::Anomaly;
use scalp_core::config::Config;
use scalp_core::{Exchange, Timeframe};
use scalp_marketdata::state::CollectorState;
use scalp_paper::state::SimulatorState;
use scalp_statefile::ReadOutcome;
use std::collections::{BTreeMap, BTreeSet};
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
        ("scalp-api", "api.json", Some(5.0)),
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
    /// Size of `scalp.db` (the main file, WAL excluded).
    pub db_bytes: Option<u64>,
    /// The newest backup in `[paths].backups_dir`: (file name, age in seconds).
    pub last_backup: Option<(String, f64)>,
    /// Daemons systemd restarted since the previous round: (name, restarts before, after).
    pub restarts: Vec<(&'static str, u64, u64)>,
    pub observed: Vec<(Anomaly, String)>,
}

/// The check state kept across rounds: the read-only database connection and the daemons seen.
pub struct Checker {
    cfg: std::sync::Arc<Config>,
    conn: Option<rusqlite::Connection>,
    pub seen: BTreeSet<String>,
    /// Exchanges whose live streams were all disconnected in the previous round.
    prev_disconnected: BTreeSet<String>,
    /// Runners behind their newest stored candle: id → (last open time processed, since when
    /// (wall ms) it has not moved).
    behind: BTreeMap<String, (Option<i64>, i64)>,
    /// Since when (wall ms) the simulator reports `healthy: false`.
    sim_unhealthy_since: Option<i64>,
    /// `NRestarts` of each unit at the previous round (persisted in `state/watchdog.json`, so
    /// restarts that happened while the watchdog itself was down are reported too).
    pub unit_restarts: BTreeMap<String, u64>,
    /// Runner id → its stored series (from the paper plan, made at the first round).
    series: Option<BTreeMap<String, (Exchange, String, Timeframe)>>,
}

fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push("-wal");
    PathBuf::from(s)
}

impl Checker {
    pub fn new(
        cfg: std::sync::Arc<Config>,
        seen: impl IntoIterator<Item = String>,
        unit_restarts: BTreeMap<String, u64>,
    ) -> Checker {
        Checker {
            cfg,
            conn: None,
            seen: seen.into_iter().collect(),
            prev_disconnected: BTreeSet::new(),
            behind: BTreeMap::new(),
            sim_unhealthy_since: None,
            unit_restarts,
            series: None,
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
                if let Some(prev) = self.unit_restarts.insert(name.to_string(), u.restarts)
                    && u.restarts > prev
                {
                    snap.restarts.push((name, prev, u.restarts));
                }
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

        // ws_disconnected: every live stream of an exchange down, in two rounds in a row
        let mut disconnected = BTreeSet::new();
        if let Some(c) = &snap.collector {
            let mut by_ex: BTreeMap<String, (usize, usize)> = BTreeMap::new();
            for s in c.streams.iter().filter(|s| s.exchange != Exchange::Replay) {
                let e = by_ex.entry(s.exchange.to_string()).or_default();
                e.0 += 1;
                if !s.connected {
                    e.1 += 1;
                }
            }
            for (ex, (n, down)) in by_ex {
                if n > 0 && down == n {
                    if self.prev_disconnected.contains(&ex) {
                        snap.observed.push((
                            Anomaly::WsDisconnected {
                                exchange: ex.clone(),
                            },
                            format!("all {n} {ex} streams disconnected (the collector reconnects)"),
                        ));
                    }
                    disconnected.insert(ex);
                }
            }
        }
        self.prev_disconnected = disconnected;

        // lagging: the simulator keeping up with the stored candles
        if let Some(sim) = snap.simulator.clone() {
            self.check_lagging(&sim, now_ms, &mut snap);
            self.check_silent(&sim, &mut snap);
        } else {
            self.behind.clear();
            self.sim_unhealthy_since = None;
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
            if !sim.runners.is_empty()
                && sim
                    .runners
                    .iter()
                    .all(|r| r.kill_switch.is_some() || r.halted)
            {
                let halted = sim.runners.iter().filter(|r| r.halted).count();
                snap.observed.push((
                    Anomaly::AllStrategiesStopped,
                    format!(
                        "all {} paper runners are stopped ({} by a kill switch, {halted} by /stop)",
                        sim.runners.len(),
                        sim.runners.len() - halted
                    ),
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
        snap.db_bytes = std::fs::metadata(cfg.db_path()).ok().map(|m| m.len());

        // backups: the newest copy's age, and the last run of scalp-backup.service
        let backups = data_dir.join(&cfg.main.paths.backups_dir);
        snap.last_backup = newest_backup(&backups);
        if wd.max_backup_age_h > 0.0 {
            if let Some((name, age)) = &snap.last_backup
                && *age > wd.max_backup_age_h * 3600.0
            {
                snap.observed.push((
                    Anomaly::BackupFailed,
                    format!(
                        "the newest backup {name} is {:.1} h old (maximum {} h)",
                        age / 3600.0,
                        wd.max_backup_age_h
                    ),
                ));
            } else if let Some(u) = systemd_unit("scalp-backup")
                && u.active == "failed"
            {
                snap.observed.push((
                    Anomaly::BackupFailed,
                    "the last scalp-backup.service run failed (journalctl -u scalp-backup)".into(),
                ));
            }
        }
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

    /// A runner is lagging when its stream has a newer stored candle than the last one it
    /// processed and it has not moved for longer than `[simulator].max_lag_s` (a stuck or
    /// stopped simulator), or when the simulator itself reports `healthy: false` for that long.
    fn check_lagging(&mut self, sim: &SimulatorState, now_ms: i64, snap: &mut Snapshot) {
        let limit_ms = self.cfg.main.simulator.max_lag_s as i64 * 1000;
        if self.series.is_none() {
            // Planned once: the configuration does not change under a running watchdog (a
            // configuration that plans nothing gives an empty map, not a new attempt per round).
            self.series = Some(match scalp_paper::runner::plan(&self.cfg) {
                Ok(plans) => plans
                    .into_iter()
                    .map(|p| (p.id, (p.exchange, p.symbol, p.timeframe)))
                    .collect(),
                Err(e) => {
                    tracing::warn!("no paper plan for the lagging check: {e}");
                    BTreeMap::new()
                }
            });
        }
        let mut newest_by_stream: BTreeMap<(Exchange, String, Timeframe), Option<i64>> =
            BTreeMap::new();
        let mut worst: Vec<String> = Vec::new();
        let mut still_behind = BTreeSet::new();
        for r in &sim.runners {
            let Some((ex, sym, tf)) = self.series.as_ref().and_then(|m| m.get(&r.id)).cloned()
            else {
                continue;
            };
            let key = (ex, sym.clone(), tf);
            let newest = match newest_by_stream.get(&key) {
                Some(n) => *n,
                None => {
                    let n = self.newest_open_time(ex, &sym, tf);
                    newest_by_stream.insert(key, n);
                    n
                }
            };
            let Some(newest) = newest else { continue };
            if r.last_open_time.is_some_and(|l| l >= newest) {
                continue;
            }
            still_behind.insert(r.id.clone());
            let e = self
                .behind
                .entry(r.id.clone())
                .or_insert((r.last_open_time, now_ms));
            if e.0 != r.last_open_time {
                *e = (r.last_open_time, now_ms);
            }
            if now_ms - e.1 > limit_ms {
                let candles = r
                    .last_open_time
                    .map_or(0, |l| (newest - l) / tf.ms().max(1));
                worst.push(format!(
                    "{} stuck {:.0} s, {} candle(s) behind",
                    r.id,
                    (now_ms - e.1) as f64 / 1000.0,
                    candles
                ));
            }
        }
        self.behind.retain(|k, _| still_behind.contains(k));
        if sim.healthy {
            self.sim_unhealthy_since = None;
        } else {
            let since = *self.sim_unhealthy_since.get_or_insert(now_ms);
            if now_ms - since > limit_ms && worst.is_empty() {
                worst.push(format!(
                    "the simulator reports healthy: false for {:.0} s",
                    (now_ms - since) as f64 / 1000.0
                ));
            }
        }
        if !worst.is_empty() {
            let n = worst.len();
            worst.truncate(5);
            snap.observed.push((
                Anomaly::Lagging {
                    daemon: "scalp-simulator".into(),
                },
                format!(
                    "{n} runner(s) not keeping up (limit {} s): {}",
                    limit_ms / 1000,
                    worst.join("; ")
                ),
            ));
        }
    }

    /// A strategy is silent when none of its runners (not halted, no kill switch) entered or
    /// exited for `[watchdog].silent_after_h` hours of market time (its runners' last candle
    /// against the latest entry / exit / open position / epoch start).
    fn check_silent(&mut self, sim: &SimulatorState, snap: &mut Snapshot) {
        let hours = self.cfg.main.watchdog.silent_after_h;
        if hours <= 0.0 {
            return;
        }
        let limit = (hours * 3_600_000.0) as i64;
        let last_trade: BTreeMap<String, i64> = match self.conn() {
            Some(c) => match last_trade_times(c) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!("sim_trades: {e}");
                    return;
                }
            },
            None => return,
        };
        let mut by_strategy: BTreeMap<&str, (bool, i64)> = BTreeMap::new();
        for r in &sim.runners {
            let e = by_strategy.entry(&r.strategy).or_insert((true, 0));
            if r.halted || r.kill_switch.is_some() {
                e.0 = false;
                continue;
            }
            let Some(last) = r.last_open_time else {
                e.0 = false;
                continue;
            };
            let tf = r
                .timeframe
                .parse::<Timeframe>()
                .map(|t| t.ms())
                .unwrap_or(0);
            let activity = [
                last_trade.get(&format!("{}#{}", r.id, r.epoch)).copied(),
                r.position.as_ref().map(|p| p.opened_at),
                Some(r.origin_open_time),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(r.origin_open_time);
            let quiet = last + tf - activity;
            if quiet <= limit {
                e.0 = false;
            } else {
                e.1 = e.1.max(quiet);
            }
        }
        for (strategy, (silent, quiet)) in by_strategy {
            if silent {
                snap.observed.push((
                    Anomaly::StrategySilent {
                        strategy: strategy.into(),
                    },
                    format!(
                        "no entry or exit for {:.0} h of market time (limit {hours} h)",
                        quiet as f64 / 3_600_000.0
                    ),
                ));
            }
        }
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

/// The latest entry or exit time per `<runner_id>#<epoch>` in `sim_trades`.
fn last_trade_times(conn: &rusqlite::Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    let mut st = conn.prepare_cached(
        "SELECT runner_id, epoch, MAX(exit_time) FROM sim_trades GROUP BY runner_id, epoch",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            format!("{}#{}", r.get::<_, String>(0)?, r.get::<_, i64>(1)?),
            r.get::<_, i64>(2)?,
        ))
    })?;
    rows.collect()
}

/// The newest `scalp-*.db` in `dir` by modification time: (name, age in seconds).
pub fn newest_backup(dir: &Path) -> Option<(String, f64)> {
    let mut best: Option<(String, SystemTime)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !(name.starts_with("scalp-") && name.ends_with(".db")) {
            continue;
        }
        let Ok(m) = e.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, t)| m > *t) {
            best = Some((name, m));
        }
    }
    let (name, t) = best?;
    let age = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Some((name, age))
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
