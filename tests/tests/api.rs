//! The real `scalp-api` binary against a real database filled by the real programs: the
//! collector replaying the bundled BTC 1h candles, the simulator paper-trading sma_cross and
//! grid_atr on them, `optimize backtest` and `optimize run` writing backtest and optimization
//! rows into the same SQLite file. Checks auth, every route's shape and numbers against the
//! database rows and state files, 404/422, control requests acknowledged by the real simulator
//! (stop → no new entries, start → entries again, a request written while the simulator is down
//! carried by the next one), static files without path escapes, /metrics, /ws/live.
//! Build first: `cargo build --bins`.

use crate::support;

use futures_util::StreamExt;
use rusqlite::Connection;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::Env;

const KEY: &str = "test-key-0123456789abcdef";
const STRATEGIES: [&str; 2] = ["sma_cross", "grid_atr"];

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn body(cps: f64) -> String {
    format!(
        "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = {cps:.1}\n\n[simulator]\ncapital = 4000.0\nstart = \"first_candle\"\nstate_interval_ms = 200\npoll_interval_ms = 200\n\n[optimize]\ndb = \"data/scalp.db\"\nreports_dir = \"reports\"\n\n[api]\nlisten = \"127.0.0.1:0\"\nweb_dir = \"web\"\n"
    )
}

/// The shipped strategies.toml with exactly STRATEGIES enabled on BTC.
fn strategies(dir: &Path) {
    let text =
        std::fs::read_to_string(scalp_e2e::repo_root().join("config/strategies.toml")).unwrap();
    let mut out = String::new();
    let mut section = String::new();
    for l in text.lines() {
        if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_string();
        }
        if l.starts_with("enabled") {
            let on = STRATEGIES.contains(&section.as_str());
            out.push_str(&format!("enabled = {on}\n"));
            if on {
                out.push_str("assets = [\"BTC\"]\n");
            }
            continue;
        }
        if l.starts_with("assets") {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    std::fs::write(dir.join("strategies.toml"), out).unwrap();
}

fn env(cps: f64) -> Env {
    let env = Env::new(&body(cps), &["BTC"], &["1h"]);
    strategies(env.dir.path());
    let web = env.dir.path().join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>Scalp Radar</title>INDEX",
    )
    .unwrap();
    std::fs::write(web.join("assets/app.js"), "console.log('app')").unwrap();
    // Next to web/, never to be served.
    std::fs::write(env.dir.path().join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    env
}

fn start(env: &Env, bin: &str, log: &str, vars: &[(&str, &str)]) -> Proc {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.log(log))
        .unwrap();
    let mut cmd = Command::new(scalp_e2e::bin(bin));
    cmd.arg("--config")
        .arg(env.config())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("JOURNAL_STREAM")
        .env_remove("SCALP_API_KEY")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(f);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Proc(cmd.spawn().unwrap())
}

fn optimize(env: &Env, args: &[&str]) -> Output {
    let o = Command::new(scalp_e2e::bin("optimize"))
        .arg("--config")
        .arg(env.config())
        .args(args)
        .env("SCALP_OPTIMIZE_QUIET", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "optimize {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn csv_path() -> PathBuf {
    scalp_e2e::repo_root().join("data/coinbase_btcusd_1h.csv")
}

fn csv() -> Vec<scalp_core::Candle> {
    scalp_core::csvdata::read_candles_csv(&csv_path()).unwrap()
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

fn wait_for<T>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
    logs: &dyn Fn() -> String,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A raw HTTP/1.1 exchange (the path is sent exactly as given: no client-side normalisation).
struct Resp {
    status: u16,
    headers: String,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = head.to_string();
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        b = &rest[n + 2..];
    }
    out
}

fn get(port: u16, path: &str) -> Resp {
    http(port, "GET", path, &[("X-API-Key", KEY)])
}

fn get_ok(port: u16, path: &str) -> Value {
    let r = get(port, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

fn post(port: u16, path: &str) -> Resp {
    http(
        port,
        "POST",
        path,
        &[("Authorization", &format!("Bearer {KEY}"))],
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn api_port(env: &Env, logs: &dyn Fn() -> String) -> u16 {
    let p = env.data_dir().join("state/api.json");
    wait_for(
        60,
        "state/api.json",
        || {
            let v = read_json(&p)?;
            if v["stopped"] == true {
                return None;
            }
            v["listen"].as_str()?.rsplit(':').next()?.parse().ok()
        },
        logs,
    )
}

fn sim_state(env: &Env) -> Option<Value> {
    read_json(&env.data_dir().join("state/simulator.json"))
}

/// Polls GET /api/control/{id} until it is applied; returns the answer.
fn wait_applied(port: u16, id: &str, logs: &dyn Fn() -> String) -> Value {
    wait_for(
        60,
        &format!("ack of {id}"),
        || {
            let v = get_ok(port, &format!("/api/control/{id}"));
            (v["status"] == "applied").then_some(v)
        },
        logs,
    )
}

fn db(env: &Env) -> Connection {
    Connection::open_with_flags(env.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn entries_after(env: &Env, strategy: &str, t: i64) -> i64 {
    db(env)
        .query_row(
            "SELECT count(*) FROM sim_trades WHERE strategy = ?1 AND entry_time > ?2",
            rusqlite::params![strategy, t],
            |r| r.get(0),
        )
        .unwrap()
}

fn runner<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no runner {id} in {state}"))
}

#[test]
fn api_serves_the_paper_stack_backtests_and_optimizations() {
    let env = env(400.0);
    let logs = || {
        ["collector.log", "simulator.log", "api.log"]
            .iter()
            .map(|l| {
                format!(
                    "--- {l}\n{}",
                    std::fs::read_to_string(env.log(l)).unwrap_or_default()
                )
            })
            .collect::<String>()
    };
    let candles = csv();
    let last_open = candles.last().unwrap().open_time;
    let _collector = start(&env, "scalp-collector", "collector.log", &[]);
    let mut sim = start(&env, "scalp-simulator", "simulator.log", &[]);
    let api = start(&env, "scalp-api", "api.log", &[("SCALP_API_KEY", KEY)]);
    let port = api_port(&env, &logs);

    // --- auth
    let h = http(port, "GET", "/health", &[]);
    assert_eq!(h.status, 200, "{}", h.body);
    assert_eq!(h.json()["database"]["ok"], true, "{}", h.body);
    let r = http(port, "GET", "/api/simulator/ranking", &[]);
    assert_eq!(r.status, 401);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("missing API key"),
        "{}",
        r.body
    );
    let r = http(
        port,
        "GET",
        "/api/simulator/ranking",
        &[("X-API-Key", "nope")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "wrong API key");
    let r = http(
        port,
        "GET",
        "/api/simulator/ranking",
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("wrong API key"))
    );
    let r = http(port, "GET", "/metrics", &[]);
    assert_eq!(r.status, 401);
    assert!(
        !std::fs::read_to_string(env.log("api.log"))
            .unwrap()
            .contains(KEY),
        "key logged"
    );

    // --- control while the replay runs: stop sma_cross → no new sma_cross entries
    wait_for(
        120,
        "a few sma_cross trades",
        || {
            let n: i64 = db(&env)
                .query_row(
                    "SELECT count(*) FROM sim_trades WHERE strategy='sma_cross'",
                    [],
                    |r| r.get(0),
                )
                .ok()?;
            (n >= 3).then_some(())
        },
        &logs,
    );
    let r = post(port, "/api/simulator/strategies/sma_cross/stop");
    assert_eq!(r.status, 202, "{}", r.body);
    let stop = r.json();
    assert_eq!(stop["actions"][0]["action"], "stop");
    let id = stop["request_id"].as_str().unwrap().to_string();
    let ack = wait_applied(port, &id, &logs);
    assert_eq!(ack["result"], "ok", "{ack}");
    let st = get_ok(port, "/api/simulator/status");
    assert!(
        st["halted_strategies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "sma_cross"),
        "{st}"
    );
    let stopped_at = wait_for(
        10,
        "halted runner in status",
        || {
            let st = get_ok(port, "/api/simulator/status");
            let r = runner(&st, "sma_cross:BTC");
            (r["halted"] == true).then(|| r["last_open_time"].as_i64().unwrap())
        },
        &logs,
    );
    assert!(
        stopped_at < last_open - 2000 * 3_600_000,
        "replay too far already to test entries"
    );
    // Let the replay move on ≥ 1000 candles, then: sma_cross opened nothing, grid_atr went on.
    let later = wait_for(
        120,
        "replay progress",
        || {
            let s = sim_state(&env)?;
            let t = runner(&s, "sma_cross:BTC")["last_open_time"].as_i64()?;
            (t > stopped_at + 1000 * 3_600_000).then_some(t)
        },
        &logs,
    );
    assert_eq!(
        entries_after(&env, "sma_cross", stopped_at),
        0,
        "sma_cross entered while stopped"
    );
    let r = post(port, "/api/simulator/strategies/sma_cross/start");
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["request_id"].as_str().unwrap().to_string();
    assert_eq!(wait_applied(port, &id, &logs)["result"], "ok");
    let started_at = runner(&sim_state(&env).unwrap(), "sma_cross:BTC")["last_open_time"]
        .as_i64()
        .unwrap();
    assert!(started_at >= later);

    // --- backtest and optimization rows, while the stack runs; /ws/live shows the progress
    optimize(
        &env,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            csv_path().to_str().unwrap(),
        ],
    );
    optimize(
        &env,
        &[
            "backtest",
            "--strategy",
            "grid_atr",
            "--data",
            csv_path().to_str().unwrap(),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("ws://127.0.0.1:{port}/ws/live");
    assert!(
        rt.block_on(tokio_tungstenite::connect_async(url.clone()))
            .is_err(),
        "websocket without token accepted"
    );
    assert!(
        rt.block_on(tokio_tungstenite::connect_async(format!(
            "{url}?token=nope"
        )))
        .is_err()
    );
    let (mut ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(format!(
            "{url}?token={KEY}"
        )))
        .expect("websocket with token");
    let next = |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> Value {
        let m = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), ws.next()).await })
            .unwrap_or_else(|_| panic!("no update within 20 s\n{}", logs()))
            .unwrap()
            .unwrap();
        serde_json::from_str(m.to_text().unwrap()).unwrap()
    };
    let first = next(&mut ws);
    assert_eq!(first["type"], "update", "{first}");
    assert_eq!(first["strategies"].as_array().unwrap().len(), 2, "{first}");
    assert!(
        first["prices"]["BTC"]["close"].as_f64().is_some(),
        "{first}"
    );
    assert!(first.get("optimization_progress").is_none(), "{first}");
    let csvs = csv_path().to_str().unwrap().to_string();
    let cfg = env.config();
    let run = std::thread::spawn(move || {
        Command::new(scalp_e2e::bin("optimize"))
            .arg("--config")
            .arg(cfg)
            .args([
                "run",
                "--strategy",
                "sma_cross",
                "--symbol",
                "BTC",
                "--data",
                &csvs,
            ])
            .env("SCALP_OPTIMIZE_QUIET", "1")
            .output()
            .unwrap()
    });
    let mut progress = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !run.is_finished() && Instant::now() < deadline {
        let m = next(&mut ws);
        if let Some(p) = m.get("optimization_progress") {
            progress = Some(p.clone());
        }
    }
    let out = run.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = progress.expect("optimization_progress while optimize run ran");
    assert_eq!(
        (
            p["status"].as_str(),
            p["strategy"].as_str(),
            p["symbol"].as_str()
        ),
        (Some("running"), Some("sma_cross"), Some("BTC")),
        "{p}"
    );
    assert!(
        p["progress_pct"].as_f64().is_some() && p["run_id"].as_i64().is_some(),
        "{p}"
    );
    // "window k/n" with the planned count the run stored at its start
    let planned = p["windows_planned"].as_i64().expect("windows_planned");
    assert!(planned >= 1, "{p}");
    let detail = p["detail"].as_str().unwrap();
    let ok = detail.strip_prefix("window ").is_some_and(|r| {
        r.split_once('/').is_some_and(|(k, n)| {
            n == planned.to_string() && k.parse::<i64>().is_ok_and(|k| (1..=planned).contains(&k))
        })
    }) || detail.ends_with(&format!("/{planned} windows)"));
    assert!(ok, "{p}");
    // Gone once the run completed (at most 3 s + a build later).
    let m = next(&mut ws);
    let m = if m.get("optimization_progress").is_some() {
        next(&mut ws)
    } else {
        m
    };
    assert!(m.get("optimization_progress").is_none(), "{m}");

    // --- the replay is over: every runner at the last candle
    wait_for(
        300,
        "runners at the last candle",
        || {
            let s = sim_state(&env)?;
            let rs = s["runners"].as_array()?.clone();
            (rs.len() == 2
                && rs
                    .iter()
                    .all(|r| r["last_open_time"].as_i64() == Some(last_open)))
            .then_some(())
        },
        &logs,
    );
    assert!(
        entries_after(&env, "sma_cross", started_at) > 0,
        "sma_cross never entered again after start at {started_at} (last candle {last_open})"
    );

    // --- simulator routes against the state file and the database
    let file = sim_state(&env).unwrap();
    let st = get_ok(port, "/api/simulator/status");
    assert!(st["seq"].as_u64().unwrap() >= file["seq"].as_u64().unwrap() - 1);
    for k in [
        "pid",
        "capital",
        "runners",
        "ranking",
        "control_acks",
        "global_kill_switch",
        "written_at",
        "age_s",
    ] {
        assert!(st.get(k).is_some(), "status has no {k}: {st}");
    }
    let st = wait_for(
        10,
        "status at the file's seq",
        || {
            let st = get_ok(port, "/api/simulator/status");
            let f = sim_state(&env)?;
            (st["seq"] == f["seq"]).then_some((st, f))
        },
        &logs,
    );
    assert_eq!(st.0["runners"], st.1["runners"]);
    assert_eq!(st.0["equity"], st.1["equity"]);
    let rk = get_ok(port, "/api/simulator/ranking");
    assert_eq!(rk["ranking"], st.1["ranking"]);
    // win_rate in percent, as in backtest_runs (docs/METRICS.md)
    for e in rk["ranking"].as_array().unwrap() {
        let r = runner(&st.1, e["id"].as_str().unwrap());
        let (w, n) = (r["wins"].as_f64().unwrap(), r["trades"].as_f64().unwrap());
        let want = if n > 0.0 { 100.0 * w / n } else { 0.0 };
        assert!(close(e["win_rate"].as_f64().unwrap(), want), "{e} vs {r}");
    }

    let c = db(&env);
    let db_trades: Vec<(String, i64, i64, f64)> = c
        .prepare("SELECT runner_id, seq, exit_time, net_pnl FROM sim_trades ORDER BY exit_time DESC, runner_id, seq DESC LIMIT 5")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let t = get_ok(port, "/api/simulator/trades?limit=5");
    let t = t["trades"].as_array().unwrap();
    assert_eq!(t.len(), 5);
    for (a, b) in t.iter().zip(&db_trades) {
        assert_eq!(
            (
                a["runner_id"].as_str().unwrap(),
                a["seq"].as_i64().unwrap(),
                a["exit_time"].as_i64().unwrap()
            ),
            (b.0.as_str(), b.1, b.2)
        );
        assert!(close(a["net_pnl"].as_f64().unwrap(), b.3));
        for k in [
            "side",
            "entry_price",
            "exit_price",
            "qty",
            "fees",
            "funding",
            "exit_reason",
            "regime",
            "epoch",
            "created_at",
        ] {
            assert!(a.get(k).is_some(), "trade has no {k}");
        }
    }
    let n_grid: i64 = c
        .query_row(
            "SELECT count(*) FROM sim_trades WHERE strategy='grid_atr'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let g = get_ok(
        port,
        "/api/simulator/trades?limit=5000&strategy=grid_atr&asset=BTC",
    );
    assert_eq!(
        g["trades"].as_array().unwrap().len() as i64,
        n_grid.min(5000)
    );
    assert!(
        g["trades"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["strategy"] == "grid_atr")
    );
    let r = get(port, "/api/simulator/trades?limit=abc");
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"].as_str().unwrap().contains("`limit`"),
        "{}",
        r.body
    );
    let r = get(port, "/api/simulator/trades?limt=5");
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"].as_str().unwrap().contains("`limt`"),
        "{}",
        r.body
    );

    let last = candles.last().unwrap();
    let gs = get_ok(port, "/api/simulator/grid-state");
    let gr = gs["runners"].as_array().unwrap();
    assert_eq!(gr.len(), 2);
    for r in gr {
        assert!(close(r["last_close"].as_f64().unwrap(), last.close), "{r}");
        assert_eq!(
            r["levels"],
            runner(&st.1, r["id"].as_str().unwrap())["levels"]
        );
    }
    let cond = get_ok(port, "/api/simulator/conditions");
    let a = &cond["assets"][0];
    assert_eq!(a["asset"], "BTC");
    assert!(close(a["last_close"].as_f64().unwrap(), last.close), "{a}");
    let day = candles
        .iter()
        .rev()
        .find(|c| c.open_time <= last.open_time - 86_400_000)
        .unwrap();
    assert!(
        close(
            a["change_24h_pct"].as_f64().unwrap(),
            (last.close / day.close - 1.0) * 100.0
        ),
        "{a}"
    );
    assert_eq!(a["sparkline"].as_array().unwrap().len(), 48);
    // The indicators, recomputed here from the CSV by hand over the same 300-candle tail (TA-Lib's
    // Wilder RSI seeded with the mean of the first 14 changes; SMA as a plain mean).
    let upto: Vec<f64> = candles
        .iter()
        .filter(|c| c.open_time <= last.open_time)
        .map(|c| c.close)
        .collect();
    let tail = &upto[upto.len() - 300..];
    let ind = &a["indicators"];
    assert_eq!(ind["candles"], 300, "{ind}");
    let sma20 = tail[280..].iter().sum::<f64>() / 20.0;
    assert!(close(ind["sma_20"].as_f64().unwrap(), sma20), "{ind}");
    let (mut up, mut down) = (0.0, 0.0);
    for k in 1..=14 {
        let d = tail[k] - tail[k - 1];
        up += d.max(0.0) / 14.0;
        down += (-d).max(0.0) / 14.0;
    }
    for k in 15..tail.len() {
        let d = tail[k] - tail[k - 1];
        up = (up * 13.0 + d.max(0.0)) / 14.0;
        down = (down * 13.0 + (-d).max(0.0)) / 14.0;
    }
    let rsi = 100.0 * up / (up + down);
    assert!(
        close(ind["rsi_14"].as_f64().unwrap(), rsi),
        "rsi {rsi}: {ind}"
    );
    assert!(
        ["RANGING", "TRENDING_UP", "TRENDING_DOWN", "VOLATILE"]
            .contains(&a["regime"].as_str().unwrap()),
        "{a}"
    );
    for k in [
        "atr_14_pct",
        "adx_14",
        "close_vs_sma_50_pct",
        "bb_20_2_pct_b",
        "zscore_20",
    ] {
        assert!(ind[k].as_f64().is_some_and(f64::is_finite), "{k}: {ind}");
    }
    let levels: Vec<f64> = st.1["runners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["levels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["price"].as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    match levels
        .iter()
        .min_by(|x, y| (*x - last.close).abs().total_cmp(&(*y - last.close).abs()))
    {
        Some(best) => assert!(
            close(a["nearest_level"]["price"].as_f64().unwrap(), *best),
            "{a}"
        ),
        None => assert!(a["nearest_level"].is_null(), "{a}"),
    }

    // --- candles
    let cd = get_ok(
        port,
        "/api/candles?exchange=replay&symbol=BTCUSDT&tf=1h&limit=10",
    );
    let rows = cd["candles"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for (r, c) in rows.iter().zip(&candles[candles.len() - 10..]) {
        assert_eq!(r[0].as_i64().unwrap(), c.open_time);
        assert!(close(r[4].as_f64().unwrap(), c.close) && close(r[1].as_f64().unwrap(), c.open));
    }
    let (f, t) = (candles[100].open_time, candles[150].open_time);
    let cd = get_ok(
        port,
        &format!("/api/candles?exchange=replay&symbol=BTCUSDT&tf=1h&from={f}&to={t}"),
    );
    let want = candles
        .iter()
        .filter(|c| c.open_time >= f && c.open_time < t)
        .count();
    assert_eq!(cd["candles"].as_array().unwrap().len(), want);
    for (q, name) in [
        ("exchange=replay&symbol=BTCUSDT&tf=7m", "`tf`"),
        ("exchange=kraken&symbol=BTCUSDT&tf=1h", "`exchange`"),
        ("exchange=replay&tf=1h", "`symbol`"),
        (
            "exchange=replay&symbol=BTCUSDT&tf=1h&limit=5&from=1",
            "`limit`",
        ),
        ("exchange=replay&symbol=BTCUSDT&tf=1h&limit=0", "`limit`"),
    ] {
        let r = get(port, &format!("/api/candles?{q}"));
        assert_eq!(r.status, 422, "{q}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(name),
            "{q}: {}",
            r.body
        );
    }
    let cd = get_ok(port, "/api/candles?exchange=binance&symbol=NOPE&tf=1h");
    assert_eq!(cd["candles"].as_array().unwrap().len(), 0);

    // --- backtests
    let runs = get_ok(port, "/api/backtest/runs");
    assert_eq!(runs["total"], 2, "{runs}");
    let list = runs["runs"].as_array().unwrap();
    assert_eq!(list[0]["strategy_name"], "grid_atr", "newest first");
    for k in ["params", "equity_curve", "trades_summary", "regime_stats"] {
        assert!(list[0].get(k).is_none(), "list has {k}");
    }
    let id = list[1]["id"].as_i64().unwrap();
    let (ret, curve): (f64, String) = c
        .query_row(
            "SELECT return_pct, equity_curve FROM backtest_runs WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(close(list[1]["return_pct"].as_f64().unwrap(), ret));
    let one = get_ok(port, &format!("/api/backtest/runs/{id}"));
    assert_eq!(
        one["equity_curve"],
        serde_json::from_str::<Value>(&curve).unwrap()
    );
    assert!(
        one["equity_curve"].is_array()
            && one["params"].is_object()
            && one["regime_stats"].is_object(),
        "{one}"
    );
    assert!(!one["trades_summary"].is_string(), "JSON in JSON");
    let asset = list[1]["asset"].as_str().unwrap().to_string();
    let f = get_ok(
        port,
        &format!("/api/backtest/runs?strategy=sma_cross&symbol={asset}&limit=1&offset=0"),
    );
    assert_eq!(f["runs"][0]["id"].as_i64(), Some(id), "{f}");
    let none = get_ok(
        port,
        &format!("/api/backtest/runs?strategy=grid_atr&symbol={asset}x"),
    );
    assert_eq!(none["total"], 0);
    assert_eq!(
        (f["total"].as_i64(), f["runs"].as_array().unwrap().len()),
        (Some(1), 1)
    );
    assert_eq!(get(port, "/api/backtest/runs/999999").status, 404);
    let r = get(port, "/api/backtest/runs/abc");
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(get(port, "/api/backtest/runs?offset=-1").status, 422);

    // --- optimization
    let or = get_ok(port, "/api/optimization/runs?status=completed");
    assert_eq!(or["total"], 1, "{or}");
    let run_id = or["runs"][0]["id"].as_i64().unwrap();
    let (grade, nw): (String, i64) = c
        .query_row("SELECT grade, n_windows FROM optimization_results WHERE is_latest = 1 AND strategy_name = 'sma_cross'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let one = get_ok(port, &format!("/api/optimization/runs/{run_id}"));
    assert_eq!(one["result"]["grade"], grade.as_str(), "{one}");
    assert!(
        one["result"]["best_params"].is_object() && one["settings"].is_object(),
        "{one}"
    );
    assert!(one["result"]["is_latest"].is_boolean());
    // the walk-forward summary stored with the run, parsed (the report's wfo / grade_detail)
    let report_path = one["report_path"].as_str().unwrap();
    let rp = if Path::new(report_path).is_absolute() {
        PathBuf::from(report_path)
    } else {
        env.dir.path().join(report_path)
    };
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&rp).unwrap()).unwrap();
    assert_eq!(one["summary"]["wfo"], report["wfo"], "{one}");
    assert_eq!(one["summary"]["live_eligible"], report["live_eligible"]);
    assert!(one["summary"]["wfo"]["convergence"].as_f64().is_some());
    assert!(
        or["runs"][0].get("summary").is_none(),
        "lists carry no summary"
    );
    let w = get_ok(port, &format!("/api/optimization/runs/{run_id}/windows"));
    assert_eq!(w["windows"].as_array().unwrap().len() as i64, nw);
    assert!(w["windows"][0]["best_params"].is_object());
    let res = get_ok(port, "/api/optimization/results?latest=1");
    assert_eq!(res["results"].as_array().unwrap().len(), 1);
    assert_eq!(res["results"][0]["grade"], grade.as_str());
    assert_eq!(get(port, "/api/optimization/runs/424242").status, 404);
    assert_eq!(
        get(port, "/api/optimization/runs/424242/windows").status,
        404
    );
    assert_eq!(get(port, "/api/optimization/runs?status=done").status, 422);
    assert_eq!(get(port, "/api/nothing/here").status, 404);

    // --- executor: none yet
    assert_eq!(
        get_ok(port, "/api/executor/status")["executors"],
        serde_json::json!([])
    );
    assert_eq!(post(port, "/api/executor/kill-switch/reset").status, 404);
    let r = post(port, "/api/executor/kill-switch/reset?strategy=grid_atr");
    assert_eq!(r.status, 202, "{}", r.body);
    let ctl = read_json(&env.data_dir().join("control/executor-grid_atr-api.json")).unwrap();
    assert_eq!(ctl["actions"][0]["action"], "reset_kill_switch");
    assert_eq!(ctl["request_id"], r.json()["request_id"]);
    assert_eq!(
        post(port, "/api/simulator/strategies/nope/stop").status,
        422
    );

    // --- /metrics
    let m = get(port, "/metrics");
    assert_eq!(m.status, 200);
    let mut equity = std::collections::BTreeMap::new();
    for l in m
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = l.rsplit_once(' ').unwrap();
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad sample {l}"));
        if let Some(rest) = name.strip_prefix("scalp_runner_equity{runner=\"") {
            equity.insert(rest.split('"').next().unwrap().to_string(), v);
        }
    }
    let now = sim_state(&env).unwrap();
    for r in now["runners"].as_array().unwrap() {
        assert!(
            close(
                equity[r["id"].as_str().unwrap()],
                r["equity"].as_f64().unwrap()
            ),
            "{}",
            m.body
        );
    }
    assert!(
        m.body.contains("scalp_daemon_up{daemon=\"simulator\"} 1"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("scalp_api_requests_total{route=\"/api/simulator/status\",status=\"200\"}"),
        "{}",
        m.body
    );
    let col = read_json(&env.data_dir().join("state/collector.json")).unwrap();
    let lag = col["streams"][0]["lag_ms"].as_i64();
    let lag_line = m.body.lines().find(|l| {
        l.starts_with(
            "scalp_candle_lag_seconds{exchange=\"replay\",symbol=\"BTCUSDT\",timeframe=\"1h\"}",
        )
    });
    assert_eq!(
        lag.is_some(),
        lag_line.is_some(),
        "collector {col}\n{}",
        m.body
    );
    assert!(
        m.body.contains("scalp_api_request_duration_seconds_count "),
        "{}",
        m.body
    );

    // --- static files: SPA, no escape
    let r = http(port, "GET", "/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("INDEX"));
    let r = http(port, "GET", "/trades/BTC", &[]);
    assert!(
        r.status == 200 && r.body.contains("INDEX"),
        "SPA fallback: {}",
        r.body
    );
    let r = http(port, "GET", "/assets/app.js", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(http(port, "GET", "/assets/missing.js", &[]).status, 404);
    for p in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/%2E%2E%5Csecret.txt",
        "/assets/../../secret.txt",
    ] {
        let r = http(port, "GET", p, &[]);
        assert!(!r.body.contains("TOP-SECRET"), "{p} escaped web_dir");
        assert!(r.status == 404 || r.status == 400, "{p}: {}", r.status);
    }
    std::fs::rename(env.dir.path().join("web"), env.dir.path().join("web.off")).unwrap();
    let r = http(port, "GET", "/", &[]);
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("dashboard not installed"),
        "{}",
        r.body
    );
    assert_eq!(get(port, "/api/simulator/ranking").status, 200);

    // --- a request written while the simulator is down is carried by the next one
    Command::new("kill")
        .arg("-TERM")
        .arg(sim.0.id().to_string())
        .status()
        .unwrap();
    assert!(sim.0.wait().unwrap().success());
    let a = post(port, "/api/simulator/kill-switch/reset");
    assert_eq!(a.status, 202, "{}", a.body);
    let a_id = a.json()["request_id"].as_str().unwrap().to_string();
    assert_eq!(
        get_ok(port, &format!("/api/control/{a_id}"))["status"],
        "pending"
    );
    let b = post(port, "/api/simulator/reset?strategy=grid_atr&force=1");
    assert_eq!(b.status, 202);
    let b = b.json();
    assert_eq!(b["merged"], serde_json::json!([a_id]), "{b}");
    assert_eq!(b["actions"].as_array().unwrap().len(), 2, "{b}");
    let b_id = b["request_id"].as_str().unwrap().to_string();
    let epoch_before = runner(&sim_state(&env).unwrap(), "grid_atr:BTC")["epoch"]
        .as_i64()
        .unwrap();
    let _sim2 = start(&env, "scalp-simulator", "simulator.log", &[]);
    let ab = wait_applied(port, &a_id, &logs);
    assert_eq!(
        (ab["carried_by"].as_str(), ab["result"].as_str()),
        (Some(b_id.as_str()), Some("ok")),
        "{ab}"
    );
    let s = wait_for(
        30,
        "grid_atr new epoch",
        || {
            let s = sim_state(&env)?;
            (runner(&s, "grid_atr:BTC")["epoch"].as_i64()? == epoch_before + 1).then_some(s)
        },
        &logs,
    );
    assert_eq!(runner(&s, "sma_cross:BTC")["halted"], false);
    assert_eq!(get(port, "/api/control/0-0-0").status, 404);

    // --- idle: neither the API nor the simulator wakes itself on its own reads of the files it
    // watches (notify reports every open; a loop on those cost each a whole core)
    scalp_e2e::wait_idle(api.0.id(), "scalp-api");
    scalp_e2e::wait_idle(_sim2.0.id(), "the simulator");

    // --- SIGTERM: clean stop, last state file
    let mut api = api;
    Command::new("kill")
        .arg("-TERM")
        .arg(api.0.id().to_string())
        .status()
        .unwrap();
    assert!(api.0.wait().unwrap().success(), "{}", logs());
    let st = read_json(&env.data_dir().join("state/api.json")).unwrap();
    assert_eq!(st["stopped"], true);
    assert!(
        st["control_requests"].as_array().unwrap().len() >= 5,
        "{st}"
    );
    assert!(!logs().contains(KEY), "key logged");
}

#[test]
fn refuses_to_start_without_the_key_and_checks_its_config() {
    let env = env(0.0);
    let o = Command::new(scalp_e2e::bin("scalp-api"))
        .arg("--config")
        .arg(env.config())
        .env_remove("SCALP_API_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("SCALP_API_KEY is not set"), "{e}");
    let o = Command::new(scalp_e2e::bin("scalp-api"))
        .arg("--config")
        .arg(env.config())
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(env.config()).unwrap();
    let bad = text.replace("listen = \"127.0.0.1:0\"", "listen = \"localhost\"");
    std::fs::write(env.config(), &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.starts_with("listen = \"localhost\""))
        .unwrap()
        + 1;
    let o = Command::new(scalp_e2e::bin("scalp-api"))
        .arg("--config")
        .arg(env.config())
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&format!("scalp.toml:{line}")) && e.contains("api.listen"),
        "{e}"
    );
    std::fs::write(
        env.config(),
        text.replace("web_dir = \"web\"", "web_dir = \"web\"\ncors = true"),
    )
    .unwrap();
    let o = Command::new(scalp_e2e::bin("scalp-api"))
        .arg("--config")
        .arg(env.config())
        .arg("--check-config")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("api.cors"), "{e}");
}
