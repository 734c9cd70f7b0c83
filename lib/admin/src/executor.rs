//! scalpctl's commands for the live executors (docs/EXECUTOR.md): `reconcile` (the read-only
//! diff of an executor's stored state against the exchange), `check-sizing`, `reset
//! kill-switch --live` and `reset executor`.
//!
//! Keys: the executor's own environment names (`SCALP_BITGET_API_KEY_<STRATEGY>` … falling
//! back to the unsuffixed ones), looked up in scalpctl's environment first, then in the
//! secrets file the units read (`/etc/scalp-radar/secrets.env`, systemd `EnvironmentFile=`
//! syntax). Never printed.

use crate::AdminError;
use scalp_broker::{Bitget, Broker, CredentialSource, Credentials};
use scalp_core::config::Config;
use scalp_live::state::{ExecutorState, ReconcileReport, STATE_VERSION, state_file};
use scalp_paper::control::{Action, ControlRequest};
use scalp_statefile::ReadOutcome;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `KEY=value` lines of a systemd environment file: blank lines and `#`/`;` comments skipped,
/// an optional `export `, values optionally in single or double quotes. Errors name the line.
pub fn parse_env_file(path: &Path, text: &str) -> Result<BTreeMap<String, String>, AdminError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        let Some((k, v)) = l.split_once('=') else {
            return Err(AdminError::Other(format!(
                "{}:{}: not KEY=value",
                path.display(),
                i + 1
            )));
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(AdminError::Other(format!(
                "{}:{}: `{k}` is not a variable name",
                path.display(),
                i + 1
            )));
        }
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The strategy's Bitget keys: scalpctl's environment, then `secrets` (when it exists).
pub fn credentials(
    strategy: &str,
    secrets: &Path,
) -> Result<(Credentials, CredentialSource), AdminError> {
    let file = match std::fs::read_to_string(secrets) {
        Ok(t) => parse_env_file(secrets, &t)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            return Err(AdminError::Io {
                path: secrets.display().to_string(),
                source: e,
            });
        }
    };
    Credentials::from_lookup(strategy, |n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| file.get(n).cloned())
    })
    .map_err(|e| AdminError::Other(format!("{e} (nor in {})", secrets.display())))
}

fn runtime() -> Result<tokio::runtime::Runtime, AdminError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AdminError::Other(format!("tokio runtime: {e}")))
}

async fn connect(cfg: &Config, strategy: &str, secrets: &Path) -> Result<Bitget, AdminError> {
    let (creds, _) = credentials(strategy, secrets)?;
    scalp_broker::connect(scalp_live::exec::broker_config(cfg), creds)
        .await
        .map_err(|e| AdminError::Other(format!("Bitget: {e}")))
}

/// Is `strategy`'s executor running? It holds `state/executor-<s>.lock` while it lives.
pub fn executor_running(cfg: &Config, strategy: &str) -> bool {
    let path = lock_path(cfg, strategy);
    match std::fs::File::open(&path) {
        Ok(f) => f.try_lock().is_err(),
        Err(_) => false,
    }
}

fn lock_path(cfg: &Config, strategy: &str) -> PathBuf {
    cfg.state_dir().join(format!("executor-{strategy}.lock"))
}

fn known(cfg: &Config, strategy: &str) -> Result<(), AdminError> {
    if cfg.strategies.strategies.contains_key(strategy) {
        return Ok(());
    }
    Err(AdminError::Other(format!(
        "unknown strategy `{strategy}`: strategies.toml has {}",
        cfg.strategies
            .strategies
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// The live strategies of the config (`enabled` and `live_eligible`).
pub fn live_strategies(cfg: &Config) -> Vec<String> {
    cfg.strategies
        .strategies
        .iter()
        .filter(|(_, e)| e.enabled && e.live_eligible)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Findings of a reconciliation that call for the admin's attention (everything but
/// `position_ok` and the open-order count).
pub fn findings(r: &ReconcileReport) -> usize {
    r.items
        .iter()
        .filter(|i| i.kind != "position_ok" && i.kind != "orders")
        .count()
}

pub fn reconcile_text(strategy: &str, r: &ReconcileReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let n = findings(r);
    let _ = writeln!(
        s,
        "RECONCILE {strategy} at {}: {} (policy {} would {})",
        r.at,
        if n == 0 {
            "consistent".to_string()
        } else {
            format!("{n} finding(s)")
        },
        r.policy,
        if r.consistent {
            "do nothing".to_string()
        } else {
            r.policy.clone()
        }
    );
    for i in &r.items {
        let _ = writeln!(
            s,
            "  {:<20} {:<22} {}",
            i.kind,
            i.runner.as_deref().unwrap_or("-"),
            i.detail
        );
    }
    s
}

/// `scalpctl reconcile --strategy S`: the diff, changing nothing (the database is opened
/// read-only; only reading requests go to the exchange).
pub fn reconcile(
    cfg: &Config,
    strategy: &str,
    secrets: &Path,
) -> Result<ReconcileReport, AdminError> {
    known(cfg, strategy)?;
    runtime()?.block_on(async {
        let broker = connect(cfg, strategy, secrets).await?;
        scalp_live::exec::Executor::inspect(cfg.clone(), strategy, broker)
            .await
            .map_err(|e| AdminError::Other(format!("{e:#}")))
    })
}

/// `scalpctl check-sizing [--strategy S]`: the strategies' orders against the contracts.
pub fn check_sizing(
    cfg: &Config,
    strategies: &[String],
    secrets: &Path,
    days: u32,
) -> Result<Vec<scalp_live::sizing::SizingReport>, AdminError> {
    for s in strategies {
        known(cfg, s)?;
    }
    let db = cfg.db_path();
    let conn = scalp_store::open_readonly(&db)
        .map_err(|e| AdminError::Other(format!("{}: {e}", db.display())))?;
    let rt = runtime()?;
    let mut out = Vec::new();
    for s in strategies {
        let r = rt.block_on(async {
            let broker = connect(cfg, s, secrets).await?;
            let contracts = broker
                .contracts(None)
                .await
                .map_err(|e| AdminError::Other(format!("Bitget contracts: {e}")))?;
            let bal = broker
                .balance()
                .await
                .map_err(|e| AdminError::Other(format!("Bitget balance: {e}")))?;
            scalp_live::sizing::check(
                cfg,
                s,
                &conn,
                &contracts,
                Some(bal.available.to_f64()),
                days,
            )
            .map_err(|e| AdminError::Other(format!("{s}: {e:#}")))
        })?;
        out.push(r);
    }
    Ok(out)
}

/// The executor's state file, when readable.
pub fn read_state(cfg: &Config, strategy: &str) -> Option<ExecutorState> {
    match scalp_statefile::try_read::<ExecutorState>(
        &cfg.state_dir().join(state_file(strategy)),
        STATE_VERSION,
    ) {
        ReadOutcome::Ok(e) => Some(e.payload),
        _ => None,
    }
}

pub enum Outcome {
    Acknowledged { request_id: String, result: String },
    Queued { request_id: String, path: PathBuf },
    Refused(String),
}

fn write_request(
    cfg: &Config,
    strategy: &str,
    action: Action,
) -> Result<(String, PathBuf), AdminError> {
    let now = scalp_core::types::now_ms();
    let id = crate::simulator::new_request_id(now);
    let req = ControlRequest {
        request_id: id.clone(),
        requested_at: scalp_statefile::now_rfc3339_ms(),
        actions: vec![action],
    };
    let file = scalp_live::exec::control_files(strategy)[0].clone();
    let path = crate::simulator::write_control_file(&cfg.control_dir(), &file, &req)?;
    Ok((id, path))
}

/// `scalpctl reset kill-switch --strategy S --live`: asks the executor of S to clear its kill
/// switch and waits for its answer in its state file.
pub fn reset_kill_switch(
    cfg: &Config,
    strategy: &str,
    wait: Duration,
) -> Result<Outcome, AdminError> {
    known(cfg, strategy)?;
    let (id, path) = write_request(
        cfg,
        strategy,
        Action::ResetKillSwitch {
            strategy: Some(strategy.to_string()),
        },
    )?;
    let file = scalp_live::exec::control_files(strategy)[0].clone();
    let end = Instant::now() + wait;
    loop {
        if let Some(st) = read_state(cfg, strategy)
            && let Some(a) = st
                .control_acks
                .iter()
                .find(|a| a.file == file && a.request_id == id)
        {
            return Ok(Outcome::Acknowledged {
                request_id: id,
                result: a.result.clone(),
            });
        }
        if Instant::now() >= end {
            return Ok(Outcome::Queued {
                request_id: id,
                path,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `scalpctl reset executor --strategy S [--force]`: refused while the executor runs, and —
/// unless `force` — while the exchange shows positions or orders on the strategy's symbols
/// (checked here, and again by the executor when it applies the request at its next start).
pub fn reset_executor(
    cfg: &Config,
    strategy: &str,
    force: bool,
    secrets: &Path,
) -> Result<Outcome, AdminError> {
    known(cfg, strategy)?;
    if executor_running(cfg, strategy) {
        return Ok(Outcome::Refused(format!(
            "scalp-executor@{strategy} is running (it holds {}): stop it first (systemctl stop scalp-executor@{strategy})",
            lock_path(cfg, strategy).display()
        )));
    }
    if !force {
        let open = runtime()?.block_on(async {
            let broker = connect(cfg, strategy, secrets).await?;
            let plans = scalp_live::exec::plans(cfg, strategy)
                .map_err(|e| AdminError::Other(format!("{e:#}")))?;
            let mut symbols: Vec<String> = plans.into_iter().map(|p| p.symbol).collect();
            symbols.sort();
            symbols.dedup();
            let mut open = Vec::new();
            let err = |e: scalp_broker::BrokerError| AdminError::Other(format!("Bitget: {e}"));
            for sym in &symbols {
                for p in broker.positions(Some(sym)).await.map_err(err)? {
                    if !p.size.is_zero() {
                        open.push(format!("position {} {} {sym}", p.side.wire(), p.size));
                    }
                }
                let n = broker.open_orders(Some(sym)).await.map_err(err)?.len();
                if n > 0 {
                    open.push(format!("{n} open order(s) on {sym}"));
                }
                let n = broker
                    .plan_orders(sym)
                    .await
                    .map_err(err)?
                    .iter()
                    .filter(|p| !p.state().is_final())
                    .count();
                if n > 0 {
                    open.push(format!("{n} plan order(s) on {sym}"));
                }
            }
            Ok::<_, AdminError>(open)
        })?;
        if !open.is_empty() {
            return Ok(Outcome::Refused(format!(
                "the exchange still shows {} for {strategy}'s account: close them first, or --force (the executor then adopts or flattens them by its reconcile policy)",
                open.join(", ")
            )));
        }
    }
    let (id, path) = write_request(
        cfg,
        strategy,
        Action::ResetExecutor {
            strategy: strategy.to_string(),
            force,
        },
    )?;
    Ok(Outcome::Queued {
        request_id: id,
        path,
    })
}

/// What `scalpctl status` shows of one live executor (its `state/executor-<s>.json`).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ExecutorSummary {
    pub strategy: String,
    pub state_file: String,
    /// It holds its lock (`state/executor-<s>.lock`) now.
    pub running: bool,
    pub age_ms: Option<i64>,
    pub account_mode: Option<String>,
    pub healthy: Option<bool>,
    pub ws_live: Option<bool>,
    pub halted: Option<String>,
    pub kill_switch: Option<bool>,
    pub kill_switch_reason: Option<String>,
    pub reconcile_consistent: Option<bool>,
    pub reconcile_action: Option<String>,
    pub runners: Option<usize>,
    /// Runners the exchange shows a position for at the executor's last look.
    pub open_positions: Option<usize>,
    pub equity: Option<f64>,
    pub trades: Option<u64>,
    pub last_error: Option<String>,
    /// The state file exists but cannot be used (corrupt, other schema version).
    pub problem: Option<String>,
}

/// A running executor rewrites its state file at least every `poll_interval_ms`; older than
/// this it is stuck (its systemd watchdog restarts it after `WatchdogSec`).
const STALE_MS: i64 = 60_000;

/// Every `executor-<strategy>.json` in `state_dir` (not the `.reset-<ms>` copies), by strategy.
pub fn summaries(state_dir: &Path, now_ms: i64) -> Vec<ExecutorSummary> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| {
                    n.strip_prefix("executor-")
                        .and_then(|s| s.strip_suffix(".json"))
                        .filter(|s| !s.is_empty() && !s.contains('.'))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|strategy| {
            let path = state_dir.join(state_file(&strategy));
            let running = std::fs::File::open(state_dir.join(format!("executor-{strategy}.lock")))
                .is_ok_and(|f| f.try_lock().is_err());
            let mut s = ExecutorSummary {
                strategy,
                state_file: path.display().to_string(),
                running,
                age_ms: None,
                account_mode: None,
                healthy: None,
                ws_live: None,
                halted: None,
                kill_switch: None,
                kill_switch_reason: None,
                reconcile_consistent: None,
                reconcile_action: None,
                runners: None,
                open_positions: None,
                equity: None,
                trades: None,
                last_error: None,
                problem: None,
            };
            match scalp_statefile::try_read::<ExecutorState>(&path, STATE_VERSION) {
                ReadOutcome::Ok(env) => {
                    let p = env.payload;
                    s.age_ms = crate::statefiles::parse_written_at(&serde_json::Value::String(
                        env.written_at,
                    ))
                    .map(|w| now_ms - w);
                    s.account_mode = Some(p.account_mode);
                    s.healthy = Some(p.healthy);
                    s.ws_live = Some(p.ws_live);
                    s.halted = p.halted;
                    s.kill_switch = Some(p.kill_switch.active);
                    s.kill_switch_reason = p.kill_switch.reason;
                    s.reconcile_consistent = Some(p.reconcile.consistent);
                    s.reconcile_action = Some(p.reconcile.action);
                    s.runners = Some(p.runners.len());
                    s.open_positions = Some(
                        p.runners
                            .iter()
                            .filter(|r| r.exchange_position.is_some())
                            .count(),
                    );
                    s.equity = Some(p.runners.iter().map(|r| r.equity).sum());
                    s.trades = Some(p.runners.iter().map(|r| r.trades).sum());
                    s.last_error = p.last_error;
                }
                ReadOutcome::Missing => s.problem = Some("vanished while read".into()),
                ReadOutcome::Invalid(why) => s.problem = Some(why),
            }
            s
        })
        .collect()
}

impl ExecutorSummary {
    /// Problems for `status` (a running executor that is unhealthy, stuck or blind; a kill
    /// switch or halt that needs the admin; a reconciliation with discrepancies).
    pub fn problems(&self) -> Vec<String> {
        let who = format!("scalp-executor@{}", self.strategy);
        let mut p = Vec::new();
        if let Some(pr) = &self.problem {
            p.push(format!("{who}: {pr}"));
            return p;
        }
        if self.running {
            if self.age_ms.is_some_and(|a| a > STALE_MS) {
                p.push(format!(
                    "{who} runs but has not rewritten {} for {} (its loop is stuck)",
                    self.state_file,
                    crate::fmt_age(self.age_ms.unwrap_or(0))
                ));
            }
            if self.healthy == Some(false) {
                p.push(format!(
                    "{who} is not healthy: {}",
                    self.last_error.as_deref().unwrap_or("its last pass failed")
                ));
            }
            if self.ws_live == Some(false) {
                p.push(format!(
                    "{who}: the private WebSocket is down (REST polling only)"
                ));
            }
        }
        if self.kill_switch == Some(true) {
            p.push(format!(
                "{who} kill switch is active ({}); `scalpctl reset kill-switch --live --strategy {}` clears it",
                self.kill_switch_reason.as_deref().unwrap_or("?"),
                self.strategy
            ));
        }
        if let Some(h) = &self.halted {
            p.push(format!("{who} is halted: {h}"));
        }
        if self.reconcile_consistent == Some(false) {
            p.push(format!(
                "{who}: its last reconciliation found discrepancies (action {}); `scalpctl reconcile --strategy {}` shows them",
                self.reconcile_action.as_deref().unwrap_or("?"),
                self.strategy
            ));
        }
        p
    }

    /// One line of `status`'s text.
    pub fn to_line(&self) -> String {
        if let Some(pr) = &self.problem {
            return format!("  {:<16} [{pr}]", self.strategy);
        }
        let yes = |b: Option<bool>, y: &str, n: &str| match b {
            Some(true) => y.to_string(),
            Some(false) => n.to_string(),
            None => "?".into(),
        };
        format!(
            "  {:<16} {:<7} {:<7} {} ws {} runners={} positions={} equity {:.2} trades={} kill switch {} reconcile {} ({}) state {} ago",
            self.strategy,
            if self.running { "running" } else { "stopped" },
            self.account_mode.as_deref().unwrap_or("?"),
            yes(self.healthy, "healthy", "UNHEALTHY"),
            yes(self.ws_live, "live", "down"),
            self.runners.unwrap_or(0),
            self.open_positions.unwrap_or(0),
            self.equity.unwrap_or(f64::NAN),
            self.trades.unwrap_or(0),
            yes(self.kill_switch, "ACTIVE", "off"),
            yes(self.reconcile_consistent, "consistent", "DISCREPANCIES"),
            self.reconcile_action.as_deref().unwrap_or("?"),
            self.age_ms
                .map(crate::fmt_age)
                .unwrap_or_else(|| "?".into()),
        )
    }
}
