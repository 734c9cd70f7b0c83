//! Unit states from systemd (`systemctl show`), when systemd is PID 1. Without it (a container
//! without systemd, a developer machine) the status says so instead of failing.

use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// The daemons Scalp Radar may ship, in start order. Only the ones whose unit is installed
/// (`LoadState=loaded`) are reported; `scalp-executor@<strategy>` instances are listed from
/// the running units.
pub const DAEMONS: &[&str] = &[
    "scalp-collector",
    "scalp-simulator",
    "scalp-watchdog",
    "scalp-api",
    "scalp-syncd",
];

/// Other units the status shows: the grouping target and the backup timer.
pub const OTHER_UNITS: &[&str] = &["scalp.target", "scalp-backup.timer", "scalp-backup.service"];

const PROPS: &str = "Id,LoadState,ActiveState,SubState,Result,MainPID,NRestarts,WatchdogUSec,\
ActiveEnterTimestamp,UnitFileState,LastTriggerUSec,NextElapseUSecRealtime,ExecMainStatus";

/// One unit as `systemctl show` reports it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UnitState {
    pub unit: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// `success`, `exit-code`, `signal`, `watchdog`, `start-limit-hit`, ...
    pub result: String,
    pub main_pid: u32,
    pub restarts: u64,
    /// Watchdog period in µs (0 = not armed).
    pub watchdog_usec: u64,
    pub active_since: String,
    pub unit_file_state: String,
    /// Timers only: last and next trigger (as systemd prints them).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_trigger: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_elapse: String,
}

/// Whether systemd is the running init system (the `sd_booted()` test).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Parses the output of `systemctl show -p ... a b c` (blocks of `Key=Value` separated by
/// blank lines, one block per unit, in the order asked).
pub fn parse_show(out: &str) -> Vec<UnitState> {
    let mut units = Vec::new();
    for block in out.split("\n\n") {
        let mut u = UnitState::default();
        let mut any = false;
        for line in block.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            any = true;
            let v = v.to_string();
            match k {
                "Id" => u.unit = v,
                "LoadState" => u.load_state = v,
                "ActiveState" => u.active_state = v,
                "SubState" => u.sub_state = v,
                "Result" => u.result = v,
                "MainPID" => u.main_pid = v.parse().unwrap_or(0),
                "NRestarts" => u.restarts = v.parse().unwrap_or(0),
                "WatchdogUSec" => u.watchdog_usec = parse_usec(&v),
                "ActiveEnterTimestamp" => u.active_since = v,
                "UnitFileState" => u.unit_file_state = v,
                "LastTriggerUSec" => u.last_trigger = v,
                "NextElapseUSecRealtime" => u.next_elapse = v,
                _ => {}
            }
        }
        if any && !u.unit.is_empty() {
            units.push(u);
        }
    }
    units
}

/// `WatchdogUSec` is printed as a time span (`30s`, `1min 30s`, `0`) or as a number.
fn parse_usec(v: &str) -> u64 {
    if let Ok(n) = v.parse::<u64>() {
        return n;
    }
    let mut total = 0u64;
    for part in v.split_whitespace() {
        let idx = part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(part.len());
        let (num, unit) = part.split_at(idx);
        let n: u64 = num.parse().unwrap_or(0);
        let mul = match unit {
            "us" => 1,
            "ms" => 1_000,
            "s" | "" => 1_000_000,
            "min" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            _ => 0,
        };
        total += n * mul;
    }
    total
}

/// Queries systemd for the Scalp Radar units. `Ok(None)` when systemd is not running.
pub fn query() -> Result<Option<Vec<UnitState>>, String> {
    if !systemd_running() {
        return Ok(None);
    }
    let mut names: Vec<String> = DAEMONS.iter().map(|d| format!("{d}.service")).collect();
    names.extend(executor_instances());
    names.extend(OTHER_UNITS.iter().map(|s| s.to_string()));
    let out = Command::new("systemctl")
        .arg("show")
        .arg("-p")
        .arg(PROPS)
        .args(&names)
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemctl show failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let all = parse_show(&String::from_utf8_lossy(&out.stdout));
    Ok(Some(
        all.into_iter()
            .filter(|u| u.load_state != "not-found")
            .collect(),
    ))
}

/// Loaded `scalp-executor@*.service` instances (one per live strategy).
fn executor_instances() -> Vec<String> {
    let Ok(out) = Command::new("systemctl")
        .args([
            "list-units",
            "--all",
            "--plain",
            "--no-legend",
            "scalp-executor@*.service",
        ])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|u| u.starts_with("scalp-executor@"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_show_blocks() {
        let out = "Id=scalp-collector.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\
Result=success\nMainPID=42\nNRestarts=2\nWatchdogUSec=30s\nActiveEnterTimestamp=Sat 2026-11-21 20:00:00 UTC\n\
UnitFileState=enabled\n\nId=scalp-api.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n\
Result=success\nMainPID=0\nNRestarts=0\nWatchdogUSec=0\n";
        let u = parse_show(out);
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].unit, "scalp-collector.service");
        assert_eq!(u[0].main_pid, 42);
        assert_eq!(u[0].restarts, 2);
        assert_eq!(u[0].watchdog_usec, 30_000_000);
        assert_eq!(u[1].load_state, "not-found");
        assert_eq!(u[1].watchdog_usec, 0);
    }

    #[test]
    fn usec_spans() {
        assert_eq!(parse_usec("1min 30s"), 90_000_000);
        assert_eq!(parse_usec("500ms"), 500_000);
        assert_eq!(parse_usec("infinity"), 0);
        assert_eq!(parse_usec("123"), 123);
    }
}
