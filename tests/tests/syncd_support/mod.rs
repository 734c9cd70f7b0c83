//! Shared helpers of the scalp-syncd end-to-end tests: start the real built daemon on a free
//! 127.0.0.1 port with a temp data dir, talk raw HTTP/1.1 to it, inspect its SQLite file.
#![allow(dead_code)]

use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "test-key-5f0c2a9e";

/// Writes `scalp.toml` (+ siblings) into `dir` with the given extra sections.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    use scalp_core::config::defaults;
    std::fs::write(dir.join("assets.toml"), defaults::ASSETS_TOML).unwrap();
    std::fs::write(dir.join("strategies.toml"), defaults::STRATEGIES_TOML).unwrap();
    std::fs::write(dir.join("param_grids.toml"), defaults::PARAM_GRIDS_TOML).unwrap();
    let p = dir.join("scalp.toml");
    std::fs::write(&p, body).unwrap();
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running scalp-syncd.
pub struct Syncd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub child: Child,
    pub config: PathBuf,
}

pub struct Opts {
    pub key: Option<&'static str>,
    pub max_body_bytes: usize,
    pub env: Vec<(String, String)>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            key: Some(KEY),
            max_body_bytes: 1024 * 1024,
            env: Vec::new(),
        }
    }
}

impl Syncd {
    pub fn start() -> Syncd {
        Syncd::start_with(Opts::default())
    }

    pub fn start_with(o: Opts) -> Syncd {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("syncd.log");
        for _attempt in 0..5 {
            let port = free_port();
            let config = write_config(
                dir.path(),
                &format!(
                    "[paths]\ndata_dir = \"data\"\n[log]\nlevel = \"info\"\n\
                     [syncd]\nlisten = \"127.0.0.1:{port}\"\nmax_body_bytes = {}\n",
                    o.max_body_bytes
                ),
            );
            let log = std::fs::File::create(&log_path).unwrap();
            let mut cmd = Command::new(scalp_e2e::bin("scalp-syncd"));
            cmd.arg("--config")
                .arg(&config)
                .env_remove("NOTIFY_SOCKET")
                .env_remove("JOURNAL_STREAM")
                .env_remove("WATCHDOG_USEC")
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(log);
            match o.key {
                Some(k) => cmd.env("SCALP_SYNC_API_KEY", k),
                None => cmd.env_remove("SCALP_SYNC_API_KEY"),
            };
            for (k, v) in &o.env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().unwrap();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if wait_healthy(&mut child, addr, &log_path, Duration::from_secs(60)) {
                return Syncd {
                    dir,
                    port,
                    child,
                    config,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            // The port was taken between free_port() and the bind: retry with another one.
            assert!(
                log.contains("cannot listen"),
                "scalp-syncd did not start:\n{log}"
            );
        }
        panic!("could not start scalp-syncd on a free port");
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("syncd.log")).unwrap_or_default()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("scalp.db")
    }

    /// A read-only connection to the daemon's live database.
    pub fn db(&self) -> Connection {
        let c =
            Connection::open_with_flags(self.db_path(), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c
    }

    pub fn count(&self, table: &str) -> i64 {
        self.db()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    pub fn integrity_ok(&self) {
        let s: String = self
            .db()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(s, "ok");
    }

    /// `(created_at, is_latest, source)` of a strategy/asset/timeframe, oldest id first.
    pub fn rows(&self, strategy: &str, asset: &str, tf: &str) -> Vec<(String, i64, String)> {
        let c = self.db();
        let mut st = c
            .prepare(
                "SELECT created_at, is_latest, source FROM optimization_results \
                 WHERE strategy_name = ?1 AND asset = ?2 AND timeframe = ?3 ORDER BY id",
            )
            .unwrap();
        st.query_map([strategy, asset, tf], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// POST a JSON value with the test key.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (s, b) = request(
            self.addr(),
            "POST",
            path,
            &[("X-API-Key", KEY), ("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    pub fn post_result(&self, body: &Value) -> (u16, Value) {
        self.post("/api/optimization/results", body)
    }

    /// SIGTERM, then wait for the exit (deadline 30 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "scalp-syncd did not exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Polls `GET /health` until 200; `false` if the process exited first.
pub fn wait_healthy(child: &mut Child, addr: SocketAddr, log: &Path, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok((200, _)) = try_request(addr, "GET", "/health", &[], b"") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "scalp-syncd not healthy within {within:?}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Drop for Syncd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); returns status and body.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes())?;
    // The server may answer (413, 401) and close before reading a large body: that is fine.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no HTTP status in {:?}",
                &text.chars().take(200).collect::<String>()
            ))
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    try_request(addr, method, path, headers, body).unwrap()
}

/// A complete, valid result payload (objects for the JSON fields).
pub fn result(strategy: &str, asset: &str, created_at: &str) -> Value {
    json!({
        "id": 7,
        "strategy_name": strategy,
        "asset": asset,
        "timeframe": "1h",
        "created_at": created_at,
        "duration_seconds": 12.5,
        "grade": "B",
        "total_score": 71.25,
        "oos_sharpe": 1.42,
        "consistency": 0.8,
        "oos_is_ratio": 0.71,
        "dsr": 0.93,
        "param_stability": 0.66,
        "monte_carlo_pvalue": 0.012,
        "mc_underpowered": false,
        "n_windows": 20,
        "n_distinct_combos": 312,
        "best_params": {"fast": 10, "slow": 50},
        "wfo_windows": [{"is_start": "2024-01-01", "oos_sharpe": 1.1, "params": {"fast": 8, "slow": 60}}],
        "monte_carlo_summary": {"p_value": 0.012, "n_sims": 1000},
        "validation_summary": {"exchange": "bitget", "sharpe": 1.2, "transfer_ratio": 0.85},
        "warnings": ["low volume on 3 windows"],
        "regime_analysis": {"bull": {"sharpe": 2.0}, "bear": {"sharpe": 0.4}},
        "source": "local",
        "is_latest": 1,
    })
}

pub fn portfolio(strategy: &str, created_at: &str) -> Value {
    json!({
        "strategy_name": strategy,
        "assets": ["BTCUSDT", "ETHUSDT"],
        "timeframe": "1h",
        "created_at": created_at,
        "period_start": "2025-01-01",
        "period_end": "2025-12-31",
        "initial_capital": 1000.0,
        "final_equity": 1123.4,
        "total_return": 0.1234,
        "sharpe": 1.3,
        "max_drawdown": 0.08,
        "n_trades": 57,
        "per_asset": {"BTCUSDT": {"total_return": 0.1}},
        "equity_curve": [[0, 1000.0], [1, 1010.0]],
    })
}
