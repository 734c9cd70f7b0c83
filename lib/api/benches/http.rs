//! `cargo bench -p scalp-api`: throughput and latency of `/api/simulator/status` and
//! `/api/backtest/runs` with 32 concurrent keep-alive HTTP/1.1 clients (raw tokio TCP, so the
//! client costs little), against the in-process server on a fixture database (200 backtest
//! rows, a 24-runner simulator.json) — or against a running scalp-api when
//! `SCALP_API_BENCH_ADDR=127.0.0.1:8000` and `SCALP_API_KEY` are set.
//! Then 100 `/ws/live` clients: time to connect and get the first `update`, and how long an
//! update takes to reach all of them after the simulator's state file is rewritten (20 rewrites;
//! the in-process server only).
//! Prints req/s, p50, p99 and the process RSS. Not a timed test (docs/API.md "Benchmarks").

use scalp_api::app::{App, Settings, serve};
use scalp_core::secrets::Secret;
use scalp_paper::state::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 32;
const WS_CLIENTS: usize = 100;
const WS_UPDATES: usize = 20;
const SECONDS: u64 = 5;
const KEY: &str = "bench-key";

fn fixture(dir: &std::path::Path) -> Settings {
    let db = dir.join("scalp.db");
    let c = scalp_store::open(&db).unwrap();
    for i in 0..200 {
        c.execute(
            "INSERT INTO backtest_runs (created_at, strategy_name, asset, exchange, timeframe, params, period_start, period_end, n_candles, capital, leverage, maker_fee, taker_fee, slippage, fill_mode, sizing, lot_step, final_equity, net_pnl, return_pct, gross_pnl, fees, slippage_cost, funding, fee_drag_pct, n_trades, wins, losses, win_rate, avg_win, avg_loss, expectancy, max_drawdown_pct, max_drawdown_duration_ms, exposure_pct, liquidations, regime_stats, equity_curve, trades_summary) \
             VALUES ('2026-11-21T10:00:00Z', 'grid_atr', 'BTC', 'replay', '1h', '{}', 0, 1, 1000, 10000, 3, 0.0002, 0.0006, 0.0005, 'next_open', 'margin_frac', 0.001, 10100, 100, 1, 120, 15, 5, 0, 12.5, 10, 6, 4, 60, 30, -20, 10, 4.5, 3600000, 30, 0, '{}', '[]', '[]')",
            [],
        )
        .unwrap_or_else(|e| panic!("row {i}: {e}"));
    }
    drop(c);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let runners: Vec<RunnerState> = (0..24)
        .map(|i| RunnerState {
            id: format!("s{}:A{i}", i % 4),
            strategy: format!("s{}", i % 4),
            asset: format!("A{i}"),
            exchange: "replay".into(),
            timeframe: "1h".into(),
            epoch: 0,
            params: serde_json::json!({"period": 14, "mult": 2.0}),
            leverage: 3.0,
            capital: 1000.0,
            equity: 1010.0,
            net_pnl: 10.0,
            trades: 12,
            wins: 7,
            losses: 5,
            position: None,
            levels: vec![
                LevelState {
                    id: 1,
                    side: "long".into(),
                    price: 100.0,
                    margin_frac: 0.1
                };
                3
            ],
            kill_switch: None,
            last_open_time: Some(1_795_290_000_000),
            origin_open_time: 1_795_200_000_000,
            halted: false,
        })
        .collect();
    let ranking = runners
        .iter()
        .enumerate()
        .map(|(k, r)| RankEntry {
            rank: k as u32 + 1,
            id: r.id.clone(),
            strategy: r.strategy.clone(),
            asset: r.asset.clone(),
            score: 1.0,
            return_pct: 1.0,
            max_drawdown_pct: 0.5,
            trades: 12,
            win_rate: 58.3,
        })
        .collect();
    let s = SimulatorState {
        pid: 1,
        started_at: "2026-11-21T10:00:00Z".into(),
        healthy: true,
        capital: 24000.0,
        equity: 24240.0,
        global_kill_switch: GlobalKillSwitch::default(),
        runners,
        ranking,
        control_acks: vec![],
        halted_strategies: vec![],
        db_error: None,
        rss_kb: None,
    };
    scalp_statefile::write_atomic(&state.join(STATE_FILE), STATE_VERSION, &s).unwrap();
    Settings {
        db_path: db,
        state_dir: state,
        control_dir: dir.join("control"),
        web_dir: dir.join("web"),
        strategies: vec![],
        quote: "USDT".into(),
        cors_origins: vec![],
        write_state_file: false,
    }
}

/// One keep-alive client: requests `path` until `until`; returns the latencies (µs).
async fn client(addr: String, key: String, path: &'static str, until: Instant) -> Vec<u32> {
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {key}\r\n\r\n");
    let mut buf = vec![0u8; 1 << 20];
    let mut lat = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        s.write_all(req.as_bytes()).await.unwrap();
        // Read the head, then Content-Length bytes.
        let mut have = 0;
        let (head_end, len) = loop {
            let n = s.read(&mut buf[have..]).await.unwrap();
            assert!(n > 0, "server closed");
            have += n;
            if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..p]).unwrap();
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .expect("content-length");
                break (p + 4, len);
            }
        };
        while have < head_end + len {
            let n = s.read(&mut buf[have..]).await.unwrap();
            assert!(n > 0, "server closed");
            have += n;
        }
        lat.push(t.elapsed().as_micros() as u32);
    }
    lat
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (addr, key) = match std::env::var("SCALP_API_BENCH_ADDR") {
        Ok(a) => (a, std::env::var("SCALP_API_KEY").expect("SCALP_API_KEY")),
        Err(_) => {
            let settings = fixture(dir.path());
            let addr = rt.block_on(async {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let a = l.local_addr().unwrap();
                let app = App::start(settings, &Secret::new(KEY), a).unwrap();
                tokio::spawn(serve(l, app, std::future::pending()));
                a
            });
            // Let the state-file watcher publish the fixture.
            std::thread::sleep(Duration::from_millis(700));
            (addr.to_string(), KEY.to_string())
        }
    };
    println!("scalp-api bench: {CLIENTS} keep-alive clients, {SECONDS} s per route, server {addr}");
    for path in ["/api/simulator/status", "/api/backtest/runs"] {
        let until = Instant::now() + Duration::from_secs(SECONDS);
        let t0 = Instant::now();
        let mut all: Vec<u32> = rt.block_on(async {
            let hs: Vec<_> = (0..CLIENTS)
                .map(|_| tokio::spawn(client(addr.clone(), key.clone(), path, until)))
                .collect();
            let mut v = Vec::new();
            for h in hs {
                v.extend(h.await.unwrap());
            }
            v
        });
        let secs = t0.elapsed().as_secs_f64();
        all.sort_unstable();
        let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
        println!(
            "{path:24} {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
            all.len() as f64 / secs,
            q(0.50),
            q(0.99),
            all.len()
        );
    }
    println!(
        "process RSS (server + clients): {:?} kB",
        scalp_core::types::rss_kb()
    );
    if std::env::var("SCALP_API_BENCH_ADDR").is_err() {
        rt.block_on(ws_bench(&addr, &dir.path().join("state").join(STATE_FILE)));
    }
}

/// `simulator.written_at` of an `update` message.
fn written_at(m: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(m).ok()?;
    v["simulator"]["written_at"].as_str().map(String::from)
}

async fn ws_bench(addr: &str, state: &std::path::Path) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let rss0 = scalp_core::types::rss_kb();
    let t0 = Instant::now();
    let mut socks = Vec::new();
    for _ in 0..WS_CLIENTS {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/live?token={KEY}"))
            .await
            .expect("ws connect");
        socks.push(ws);
    }
    let connected = t0.elapsed();
    // Each client: report (on a channel) the time every message arrives with its written_at.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant, String)>();
    for (i, ws) in socks.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let (_w, mut r) = ws.split();
            while let Some(Ok(m)) = r.next().await {
                if let Message::Text(t) = m
                    && let Some(w) = written_at(&t)
                {
                    let _ = tx.send((i, Instant::now(), w));
                }
            }
        });
    }
    // Everybody has a first update.
    let mut seen = [false; WS_CLIENTS];
    while seen.iter().any(|s| !s) {
        let (i, _, _) = rx.recv().await.unwrap();
        seen[i] = true;
    }
    let first = t0.elapsed();
    let rss1 = scalp_core::types::rss_kb();
    let mut lat_ms: Vec<f64> = Vec::new();
    for _ in 0..WS_UPDATES {
        let env = scalp_statefile::try_read::<serde_json::Value>(state, STATE_VERSION);
        let scalp_statefile::ReadOutcome::Ok(env) = env else {
            panic!("state file unreadable")
        };
        // `written_at` has millisecond resolution and is what a client matches on: keep two
        // rewrites in distinct milliseconds.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t = Instant::now();
        scalp_statefile::write_atomic(state, STATE_VERSION, &env.payload).unwrap();
        let want = match scalp_statefile::try_read::<serde_json::Value>(state, STATE_VERSION) {
            scalp_statefile::ReadOutcome::Ok(e) => e.written_at,
            _ => panic!("state file unreadable"),
        };
        let mut got = [false; WS_CLIENTS];
        while got.iter().any(|g| !g) {
            let (i, at, w) = rx.recv().await.unwrap();
            if w == want && !got[i] {
                got[i] = true;
                lat_ms.push(at.duration_since(t).as_secs_f64() * 1000.0);
            }
        }
    }
    lat_ms.sort_by(f64::total_cmp);
    let q = |p: f64| lat_ms[((lat_ms.len() as f64 * p) as usize).min(lat_ms.len() - 1)];
    println!(
        "/ws/live {WS_CLIENTS} clients: connected in {:.0} ms, all had a first update after {:.0} ms; \
         state file rewritten → update at every client: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms ({} deliveries)",
        connected.as_secs_f64() * 1000.0,
        first.as_secs_f64() * 1000.0,
        q(0.5),
        q(0.99),
        lat_ms.last().copied().unwrap_or(0.0),
        lat_ms.len()
    );
    println!(
        "process RSS before / with {WS_CLIENTS} WebSocket clients: {:?} / {:?} kB",
        rss0, rss1
    );
}
