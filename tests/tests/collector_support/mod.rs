//! Shared helpers of the `collector_*` end-to-end tests: a temp config dir, the real
//! `scalp-collector` binary, a real `NOTIFY_SOCKET`, the state file.
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A config directory with `scalp.toml` (given `[paths]`-less body), `assets.toml` and the
/// repo's strategies / param grids; data in `<dir>/data`.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// `scalp_body` is appended after a `[paths]` section pointing data at `<dir>/data` and
    /// bundled data at the checkout's `data/`.
    pub fn new(scalp_body: &str, assets: &[&str], timeframes: &[&str]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = scalp_e2e::repo_root();
        for f in ["strategies.toml", "param_grids.toml"] {
            std::fs::copy(root.join("config").join(f), dir.path().join(f)).unwrap();
        }
        let q = |v: &[&str]| {
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        std::fs::write(
            dir.path().join("assets.toml"),
            format!(
                "quote = \"USDT\"\nassets = [{}]\ntimeframes = [{}]\n",
                q(assets),
                q(timeframes)
            ),
        )
        .unwrap();
        let text = format!(
            "[paths]\ndata_dir = \"data\"\nbundled_data_dir = \"{}\"\n\n{scalp_body}\n",
            root.join("data").display()
        );
        std::fs::write(dir.path().join("scalp.toml"), text).unwrap();
        Env { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("scalp.toml")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn db(&self) -> PathBuf {
        self.data_dir().join("scalp.db")
    }
    pub fn state_file(&self) -> PathBuf {
        self.data_dir().join("state/collector.json")
    }
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the built binary with stderr to `<dir>/<log>` and extra env vars.
    pub fn start(&self, log: &str, env: &[(&str, &str)]) -> Collector {
        let f = std::fs::File::create(self.log(log)).unwrap();
        let mut cmd = Command::new(scalp_e2e::bin("scalp-collector"));
        cmd.arg("--config")
            .arg(self.config())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Collector {
            child: cmd.spawn().expect("start scalp-collector"),
            log: self.log(log),
        }
    }

    /// The state file as JSON (None while absent or unparsable).
    pub fn state(&self) -> Option<serde_json::Value> {
        let t = std::fs::read_to_string(self.state_file()).ok()?;
        serde_json::from_str(&t).ok()
    }

    /// Polls the state file until `pred` holds; panics after `secs`.
    pub fn wait_state(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.state()
                && pred(&s)
            {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; state: {:?}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub struct Collector {
    pub child: Child,
    pub log: PathBuf,
}

impl Collector {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }
    /// Waits for exit (panics after `secs`, killing the process).
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "collector did not exit within {secs} s; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(60)
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Polls the log until it contains `needle`.
    pub fn wait_log(&mut self, secs: u64, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.log_text().contains(needle) {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "collector exited ({st}) before logging `{needle}`:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in the log within {secs} s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A unix datagram socket standing in for systemd's notify socket.
pub struct NotifySocket {
    pub path: PathBuf,
    sock: UnixDatagram,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        NotifySocket { path, sock }
    }

    /// Next datagram (each is one or more `KEY=VALUE` lines), or None after the timeout.
    pub fn recv(&self) -> Option<String> {
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }

    /// Receives until a datagram containing the line `line` arrives; returns everything seen
    /// before it. Panics after `secs`.
    pub fn wait_for(&self, secs: u64, line: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            if let Some(m) = self.recv() {
                let hit = m.lines().any(|l| l == line);
                seen.push(m);
                if hit {
                    return seen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {line} within {secs} s; got {seen:?}"
            );
        }
    }

    /// Everything received during `d`.
    pub fn collect_for(&self, d: Duration) -> Vec<String> {
        let end = Instant::now() + d;
        let mut v = Vec::new();
        while Instant::now() < end {
            if let Some(m) = self.recv() {
                v.push(m);
            }
        }
        v
    }
}

pub fn count_line(msgs: &[String], line: &str) -> usize {
    msgs.iter()
        .map(|m| m.lines().filter(|l| *l == line).count())
        .sum()
}
