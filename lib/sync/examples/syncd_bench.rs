//! Ingest benchmark of the real scalp-syncd: starts the built daemon on a free 127.0.0.1 port
//! with a fresh database, pushes N distinct ~5 KB results over HTTP/1.1 keep-alive from C
//! concurrent clients (each insert is the full safe transaction, is_latest moves on every
//! insert), then reports the rate, latencies and the daemon's RSS.
//!
//! ```text
//! cargo build --release -p scalp-syncd
//! cargo run --release -p scalp-sync --example syncd_bench -- \
//!     [--bin target/release/scalp-syncd] [--n 20000] [--concurrency 32] [--size 5000]
//! ```

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "bench-key";

struct Args {
    bin: PathBuf,
    n: usize,
    concurrency: usize,
    size: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        bin: PathBuf::from("target/release/scalp-syncd"),
        n: 20_000,
        concurrency: 32,
        size: 5_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--bin" => a.bin = v.into(),
            "--n" => a.n = v.parse().expect("--n"),
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency"),
            "--size" => a.size = v.parse().expect("--size"),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

fn payload(i: usize, size: usize) -> String {
    // 50 strategy/asset keys, increasing created_at: every insert moves is_latest.
    let key = i % 50;
    let secs = i / 50;
    let mut v: Value = json!({
        "strategy_name": format!("bench_{}", key % 5),
        "asset": format!("ASSET{}USDT", key / 5),
        "timeframe": "1h",
        "created_at": "2026-01-01T00:00:00Z",
        "duration_seconds": 12.5, "grade": "B", "total_score": 71.25, "oos_sharpe": 1.42,
        "consistency": 0.8, "oos_is_ratio": 0.71, "dsr": 0.93, "param_stability": 0.66,
        "monte_carlo_pvalue": 0.012, "mc_underpowered": false, "n_windows": 20,
        "n_distinct_combos": 312, "best_params": {"fast": 10, "slow": 50},
        "monte_carlo_summary": {"p_value": 0.012, "n_sims": 1000},
        "validation_summary": {"exchange": "bitget", "sharpe": 1.2},
        "warnings": [], "regime_analysis": {"bull": {"sharpe": 2.0}},
    });
    v["created_at"] = json!(format!(
        "2026-01-{:02}T{:02}:{:02}:{:02}Z",
        1 + secs / 86_400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    ));
    let window =
        json!({"is_sharpe": 1.234567, "oos_sharpe": 0.987654, "params": {"fast": 12, "slow": 70}});
    let per = window.to_string().len() + 1;
    let n = size.saturating_sub(v.to_string().len() + 20) / per;
    v["wfo_windows"] = Value::Array(vec![window; n]);
    v.to_string()
}

/// A minimal HTTP/1.1 keep-alive client (pre-serialised requests, so the client's CPU cost
/// stays far below the server's on a shared 2-core machine).
struct Conn {
    s: std::net::TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: std::net::SocketAddr) -> std::io::Result<Conn> {
        let s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request, reads one response (Content-Length framed): `(status, body)`.
    fn roundtrip(&mut self, req: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        use std::io::{Read, Write};
        self.s.write_all(req)?;
        self.buf.clear();
        let mut tmp = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let status: u16 = head
                    .split(' ')
                    .nth(1)
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    let n = self.s.read(&mut tmp)?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&tmp[..n]);
                }
                return Ok((status, self.buf[end + 4..end + 4 + len].to_vec()));
            }
            let n = self.s.read(&mut tmp)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

fn rss_kb(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// CPU seconds (user + system) used so far by `pid`.
fn cpu_s(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // fields after the ")" of the command name: state is field 3; utime 14, stime 15
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let a = parse_args();
    assert!(
        a.bin.exists(),
        "{} not found: cargo build --release -p scalp-syncd",
        a.bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    for (f, t) in [
        ("assets.toml", scalp_core::config::defaults::ASSETS_TOML),
        (
            "strategies.toml",
            scalp_core::config::defaults::STRATEGIES_TOML,
        ),
        (
            "param_grids.toml",
            scalp_core::config::defaults::PARAM_GRIDS_TOML,
        ),
    ] {
        std::fs::write(dir.path().join(f), t).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("scalp.toml");
    std::fs::write(
        &cfg,
        format!("[paths]\ndata_dir = \"data\"\n[log]\nlevel = \"warn\"\n[syncd]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut child = Command::new(&a.bin)
        .arg("--config")
        .arg(&cfg)
        .env("SCALP_SYNC_API_KEY", KEY)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..a.n)
            .map(|i| {
                let body = payload(i, a.size);
                let mut r = format!(
                    "POST /api/optimization/results HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body.as_bytes());
                r
            })
            .collect(),
    );
    let avg = requests.iter().map(Vec::len).sum::<usize>() / a.n.max(1);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let get_health = || -> Option<Value> {
        let mut c = Conn::open(addr).ok()?;
        let (st, body) = c
            .roundtrip(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .ok()?;
        (st == 200)
            .then(|| serde_json::from_slice(&body).ok())
            .flatten()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_health().is_none() {
        assert!(Instant::now() < deadline, "scalp-syncd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle_rss = rss_kb(pid).0;
    let cpu0 = cpu_s(pid);
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..a.concurrency)
            .map(|_| {
                let (next, requests) = (next.clone(), requests.clone());
                sc.spawn(move || {
                    let mut conn = Conn::open(addr).expect("connect");
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests.len() {
                            break lat;
                        }
                        let t = Instant::now();
                        let (st, body) = conn.roundtrip(&requests[i]).expect("request");
                        assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
                        lat.push(t.elapsed());
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let el = t0.elapsed();
    let (rss, hwm) = rss_kb(pid);
    let cpu = cpu_s(pid) - cpu0;
    let rows = get_health().expect("health")["rows"]["optimization_results"]
        .as_u64()
        .unwrap();
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    let db_bytes = std::fs::metadata(dir.path().join("data/scalp.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "syncd ingest: {} results of {} B avg, {} clients keep-alive: {:.2} s = {:.0} results/s \
         ({:.1} MB/s); latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        a.n,
        avg,
        a.concurrency,
        el.as_secs_f64(),
        a.n as f64 / el.as_secs_f64(),
        (a.n * avg) as f64 / el.as_secs_f64() / 1e6,
        q(0.5).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "syncd CPU: {cpu:.2} s for {} results = {:.0} us of daemon CPU per result \
         (capacity at that cost: {:.0} results/s per core)",
        a.n,
        cpu * 1e6 / a.n as f64,
        a.n as f64 / cpu.max(1e-9)
    );
    println!(
        "syncd RSS: idle {} KiB, after the run {} KiB, peak (VmHWM) {} KiB; rows stored {rows}; db file {:.1} MB",
        idle_rss,
        rss,
        hwm,
        db_bytes as f64 / 1e6
    );
    assert_eq!(rows as usize, a.n);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let st = child.wait().unwrap();
    assert!(st.success(), "scalp-syncd exit {st:?}");
}
