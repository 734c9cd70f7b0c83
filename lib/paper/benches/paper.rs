//! Whole-simulator figures (a bench command, not criterion: each figure is one long run):
//!
//! `cargo build --release -p scalp-simulator && cargo bench -p scalp-paper --bench paper`
//!
//! 1. Catch-up: every registered strategy × 21 assets on 30 days of synthetic 1m candles
//!    (907,200 candles, 12.7 M runner-candles), database reads and commits included, in process:
//!    runner-candles per second.
//! 2. Restart: `Simulator::open` on that database (every runner resumed from its snapshot, its
//!    windows refilled from the stored candles).
//! 3. Whole process (needs `target/release/scalp-simulator`): resident memory once caught up
//!    and idle; then 1,000 candles committed one at a time the way the collector commits them,
//!    each timed from its commit to the `sim_events` row it causes (p50 / p99).

use scalp_core::config::Config;
use scalp_core::{Exchange, Timeframe};
use scalp_paper::sim::Simulator;
use std::path::Path;
use std::time::{Duration, Instant};

const ASSETS: [&str; 21] = [
    "BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "BCH", "TRX", "NEAR",
    "ATOM", "UNI", "APT", "ARB", "OP", "SUI", "FIL", "INJ",
];
const DAYS: usize = 30;

fn setup(dir: &Path) -> (Config, Vec<Vec<scalp_core::Candle>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(
        root.join("config/param_grids.toml"),
        dir.join("param_grids.toml"),
    )
    .unwrap();
    let q: Vec<String> = ASSETS.iter().map(|a| format!("\"{a}\"")).collect();
    std::fs::write(
        dir.join("assets.toml"),
        format!(
            "quote = \"USDT\"\nassets = [{}]\ntimeframes = [\"1m\"]\n",
            q.join(", ")
        ),
    )
    .unwrap();
    let mut st = String::new();
    for name in scalp_strategy::STRATEGY_NAMES.iter() {
        st.push_str(&format!(
            "[{name}]\nenabled = true\nleverage = 2.0\ntimeframe = \"1m\"\n"
        ));
    }
    std::fs::write(dir.join("strategies.toml"), st).unwrap();
    std::fs::write(
        dir.join("scalp.toml"),
        "[paths]\ndata_dir = \"data\"\n\n[collector]\nsources = [\"binance\"]\n\n\
         [simulator]\ncapital = 100000.0\nstart = \"first_candle\"\npoll_interval_ms = 1000\n",
    )
    .unwrap();
    let cfg = Config::load(&dir.join("scalp.toml")).unwrap();
    let hours =
        scalp_core::csvdata::read_candles_csv(&root.join("data/coinbase_btcusd_1h.csv")).unwrap();
    let n = DAYS * 1440;
    let conn = scalp_store::open(&cfg.db_path()).unwrap();
    let mut all = Vec::new();
    for (k, a) in ASSETS.iter().enumerate() {
        // A different stretch of history per asset.
        let off = (k * 700) % (hours.len() - n / 60 - 1);
        let m = scalp_backtest::synth::minutes_from_hours(&hours[off..], n + 1000);
        let sym = format!("{a}USDT");
        let key = scalp_store::SeriesKey {
            exchange: Exchange::Binance,
            symbol: &sym,
            timeframe: Timeframe::M1,
        };
        scalp_store::candles::upsert(&conn, &key, &m[..n]).unwrap();
        all.push(m);
    }
    (cfg, all)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (cfg, all) = setup(dir.path());
    println!(
        "setup: {} candles stored in {:.1} s",
        ASSETS.len() * DAYS * 1440,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    sim.log_trades = false;
    let open1 = t.elapsed();
    let t = Instant::now();
    let st = sim.poll().unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "  of which reading {:.2} s, stepping {:.2} s, committing {:.2} s",
        st.read_ns as f64 / 1e9,
        st.step_ns as f64 / 1e9,
        st.commit_ns as f64 / 1e9
    );
    println!(
        "catch-up: {} runners, {} runner-candles in {dt:.2} s = {:.2} M runner-candles/s ({} trades, {} events, {} commits; first open {:.0} ms)",
        sim.runner_count(),
        st.runner_candles,
        st.runner_candles as f64 / dt / 1e6,
        st.trades,
        st.events,
        st.commits,
        open1.as_secs_f64() * 1e3
    );
    drop(sim);
    {
        let c = rusqlite::Connection::open(cfg.db_path()).unwrap();
        let mut q = c
            .prepare("SELECT kind, count(*) FROM sim_events GROUP BY kind ORDER BY 2 DESC")
            .unwrap();
        let kinds: Vec<String> = q
            .query_map([], |r| {
                Ok(format!(
                    "{} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        println!("  events: {}", kinds.join(", "));
    }
    let t = Instant::now();
    let sim = Simulator::open(cfg.clone()).unwrap();
    println!(
        "restart (restore {} runners from snapshots + refill, 30 days of 1m history): {:.0} ms",
        sim.runner_count(),
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(sim);

    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/scalp-simulator");
    if !bin.exists() || std::env::var_os("PAPER_BENCH_IN_PROCESS_ONLY").is_some() {
        println!("whole-process figures skipped: build target/release/scalp-simulator first");
        return;
    }
    let state = cfg.state_dir().join("simulator.json");
    let t = Instant::now();
    let mut child = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&cfg.path)
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .spawn()
        .unwrap();
    let read_state = || -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(&state).ok()?).ok()
    };
    while read_state().is_none_or(|s| s["pid"].as_u64() != Some(u64::from(child.id()))) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the simulator did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "whole process: start to first state file {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    std::thread::sleep(Duration::from_secs(3));
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .to_string();
    println!(
        "whole process idle, {} runners: {rss}",
        ASSETS.len() * scalp_strategy::STRATEGY_NAMES.len()
    );

    // Latency: one candle at a time on BTC, from its commit to the commit of the simulator's
    // batch for it (the runners' rows, in the same transaction as its trades and events).
    let conn = scalp_store::open(&cfg.db_path()).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Binance,
        symbol: "BTCUSDT",
        timeframe: Timeframe::M1,
    };
    let reader = rusqlite::Connection::open(cfg.db_path()).unwrap();
    let processed = |c: &rusqlite::Connection| -> i64 {
        c.query_row(
            "SELECT coalesce(min(last_open_time), 0) FROM sim_runners WHERE asset = 'BTC'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let n = DAYS * 1440;
    let mut lat = Vec::new();
    for i in 0..1000 {
        let want = all[0][n + i].open_time;
        let t = Instant::now();
        scalp_store::candles::upsert(&conn, &key, &all[0][n + i..n + i + 1]).unwrap();
        let committed = t.elapsed();
        loop {
            if processed(&reader) >= want {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "candle {i} not processed"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        lat.push((t.elapsed() - committed).as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "latency candle commit → the simulator's commit of it (14 runners) over 1000 candles: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat[500], lat[989], lat[999]
    );
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}
