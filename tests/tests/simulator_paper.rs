//! The real `scalp-simulator` and `scalp-collector` binaries on the bundled BTC 1h data:
//! - parity: the paper trades of sma_cross (10/30), grid_atr, envelope_dca and grid_multi_tf
//!   (4h resampled from 1h) equal, trade for
//!   trade, the trades of `optimize backtest --config <same> --data <same CSV>` (the backtest's
//!   final end-of-data close aside: paper holds that position open);
//! - crash safety: ≥ 100 `kill -9` at random moments while the collector replays at full speed,
//!   then the same trades and byte-identical runner snapshots as an uninterrupted run.

use crate::support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::Env;

const STRATEGIES: [&str; 4] = ["sma_cross", "grid_atr", "envelope_dca", "grid_multi_tf"];

fn body(cps: f64) -> String {
    format!(
        "[collector]\nsources = [\"replay\"]\nstate_interval_s = 1\n\n[replay]\nfile = \"coinbase_btcusd_1h.csv\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1h\"\ncandles_per_second = {cps:.1}\n\n[simulator]\ncapital = 4000.0\nstart = \"first_candle\"\nstate_interval_ms = 200\npoll_interval_ms = 200\n"
    )
}

/// The shipped strategies.toml with exactly the three parity strategies enabled on BTC.
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
    env
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(env: &Env, bin: &str, log: &str) -> Proc {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.log(log))
        .unwrap();
    let child = Command::new(scalp_e2e::bin(bin))
        .arg("--config")
        .arg(env.config())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(f)
        .spawn()
        .unwrap();
    Proc(child)
}

fn csv() -> Vec<scalp_core::Candle> {
    scalp_core::csvdata::read_candles_csv(
        &scalp_e2e::repo_root().join("data/coinbase_btcusd_1h.csv"),
    )
    .unwrap()
}

fn sim_state(env: &Env) -> Option<serde_json::Value> {
    let t = std::fs::read_to_string(env.data_dir().join("state/simulator.json")).ok()?;
    serde_json::from_str(&t).ok()
}

/// Waits until every runner has processed the last candle of the file.
fn wait_done(env: &Env, secs: u64, last_open: i64, logs: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = sim_state(env) {
            let rs = s["runners"].as_array().cloned().unwrap_or_default();
            if rs.len() == STRATEGIES.len()
                && rs
                    .iter()
                    .all(|r| r["last_open_time"].as_i64() == Some(last_open))
            {
                return;
            }
        }
        if Instant::now() > deadline {
            let text: String = logs
                .iter()
                .map(|l| std::fs::read_to_string(env.log(l)).unwrap_or_default())
                .collect();
            panic!(
                "runners did not reach the last candle; state {:?}\n{text}",
                sim_state(env)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// sim_trades of a runner, every column but created_at, ordered by seq.
fn paper_trades(db: &Path, strategy: &str) -> Vec<serde_json::Value> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT seq, side, entry_time, exit_time, entry_price, exit_price, qty, entries, margin, \
             fees, funding, slippage, gross_pnl, net_pnl, exit_reason, regime, epoch \
             FROM sim_trades WHERE strategy = ?1 ORDER BY epoch, seq",
        )
        .unwrap();
    st.query_map([strategy], |r| {
        Ok(serde_json::json!({
            "seq": r.get::<_, i64>(0)?, "side": r.get::<_, String>(1)?,
            "entry_time": r.get::<_, i64>(2)?, "exit_time": r.get::<_, i64>(3)?,
            "entry_price": r.get::<_, f64>(4)?, "exit_price": r.get::<_, f64>(5)?,
            "qty": r.get::<_, f64>(6)?, "entries": r.get::<_, i64>(7)?, "margin": r.get::<_, f64>(8)?,
            "fees": r.get::<_, f64>(9)?, "funding": r.get::<_, f64>(10)?, "slippage": r.get::<_, f64>(11)?,
            "gross_pnl": r.get::<_, f64>(12)?, "net_pnl": r.get::<_, f64>(13)?,
            "exit_reason": r.get::<_, String>(14)?, "regime": r.get::<_, String>(15)?,
            "epoch": r.get::<_, i64>(16)?,
        }))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// (runner_id, last_open_time, engine_state, strategy_state)
type Snapshot = (String, Option<i64>, Vec<u8>, Vec<u8>);

fn snapshots(db: &Path) -> Vec<Snapshot> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT runner_id, last_open_time, engine_state, strategy_state FROM sim_runners ORDER BY runner_id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// One uninterrupted run: collector at full speed and the simulator together.
fn uninterrupted() -> Env {
    uninterrupted_running().0
}

/// The replay done, with the simulator and the collector still running.
fn uninterrupted_running() -> (Env, Proc, Proc) {
    let env = env(0.0);
    let last = csv().last().unwrap().open_time;
    let sim = start(&env, "scalp-simulator", "sim.log");
    let col = start(&env, "scalp-collector", "collector.log");
    wait_done(&env, 240, last, &["sim.log", "collector.log"]);
    (env, sim, col)
}

/// Once the replay is done and a control request applied, the daemons idle: the simulator must
/// not wake itself on its own reads (notify reports every open of a watched file; a loop on
/// those cost a whole core) and the collector has nothing to do. Each must have a 1 s window
/// under 0.1 s of CPU within 15 s (`scalp_e2e::wait_idle`; a busy loop never has one).
fn assert_idle(env: &Env, sim: &Proc, col: &Proc) {
    scalp_statefile::write_atomic(
        &env.data_dir().join("control/simulator-scalpctl.json"),
        scalp_paper::control::CONTROL_VERSION,
        &scalp_paper::control::ControlRequest {
            request_id: "idle-1".into(),
            requested_at: "2026-12-01T00:00:00Z".into(),
            actions: vec![scalp_paper::control::Action::ResetKillSwitch { strategy: None }],
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sim_state(env).is_some_and(|s| s.to_string().contains("idle-1")) {
        assert!(
            Instant::now() < deadline,
            "control request not acknowledged"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    scalp_e2e::wait_idle(sim.0.id(), "the simulator");
    scalp_e2e::wait_idle(col.0.id(), "the collector");
}

#[test]
fn paper_trades_equal_the_backtest_and_survive_kill_9() {
    let data = scalp_e2e::repo_root().join("data/coinbase_btcusd_1h.csv");
    let (a, sim, col) = uninterrupted_running();
    assert_idle(&a, &sim, &col);
    drop((sim, col));
    let log = std::fs::read_to_string(a.log("sim.log")).unwrap();
    assert!(
        log.contains("PAPER ENTRY"),
        "{}",
        &log[..log.len().min(3000)]
    );
    assert!(log.contains("PAPER EXIT"));
    assert!(log.contains("GRID LEVEL"));

    // 1. Parity with `optimize backtest` on the same config and CSV.
    for s in STRATEGIES {
        let out = Command::new(scalp_e2e::bin("optimize"))
            .args(["backtest", "--config"])
            .arg(a.config())
            .args([
                "--strategy",
                s,
                "--symbol",
                "BTC",
                "--no-store",
                "--json",
                "--data",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut want: Vec<serde_json::Value> = rep["trades"].as_array().unwrap().clone();
        if want
            .last()
            .is_some_and(|t| t["exit_reason"] == "end_of_data")
        {
            want.pop();
        }
        let got = paper_trades(&a.db(), s);
        assert!(
            want.len() > 10,
            "{s}: the backtest must trade ({})",
            want.len()
        );
        assert_eq!(got.len(), want.len(), "{s}: trade count");
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g["seq"], k as i64 + 1);
            for f in [
                "side",
                "entry_time",
                "exit_time",
                "entries",
                "exit_reason",
                "regime",
            ] {
                assert_eq!(g[f], w[f], "{s} trade {k}: {f}");
            }
            for f in [
                "entry_price",
                "exit_price",
                "qty",
                "margin",
                "fees",
                "funding",
                "slippage",
                "gross_pnl",
                "net_pnl",
            ] {
                let (x, y) = (g[f].as_f64().unwrap(), w[f].as_f64().unwrap());
                assert!(close(x, y), "{s} trade {k}: {f} paper {x} backtest {y}");
            }
        }
        eprintln!("{s}: {} paper trades = backtest", got.len());
    }

    // 2. The same run with kill -9 at ≥ 100 random moments.
    let b = env(0.0);
    let last = csv().last().unwrap().open_time;
    let col = start(&b, "scalp-collector", "collector.log");
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    while kills < 100 {
        let mut sim = start(&b, "scalp-simulator", "sim.log");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Between 5 and 125 ms: during start-up, restore and catch-up, and between commits.
        std::thread::sleep(Duration::from_millis(5 + rng % 120));
        let _ = sim.0.kill(); // SIGKILL
        let _ = sim.0.wait();
        kills += 1;
    }
    let _sim = start(&b, "scalp-simulator", "sim.log");
    wait_done(&b, 240, last, &["sim.log", "collector.log"]);
    drop(col);
    // The state file is written after the commit it reports: the rows are there.
    for s in STRATEGIES {
        assert_eq!(
            paper_trades(&b.db(), s),
            paper_trades(&a.db(), s),
            "{s}: trades after {kills} kills"
        );
    }
    let (sa, sb) = (snapshots(&a.db()), snapshots(&b.db()));
    assert_eq!(sa.len(), STRATEGIES.len());
    assert_eq!(
        sa, sb,
        "runner snapshots (engine and strategy state) byte-identical"
    );
    let blog = std::fs::read_to_string(b.log("sim.log")).unwrap();
    assert!(
        blog.matches("SIMULATOR RESTORED").count() >= 50,
        "most kills happened after start-up"
    );
}

#[test]
fn corrupt_snapshot_is_rebuilt_by_replay_with_a_warning() {
    let a = uninterrupted();
    let last = csv().last().unwrap().open_time;
    let before = snapshots(&a.db());
    let trades_before: Vec<_> = STRATEGIES
        .iter()
        .map(|s| paper_trades(&a.db(), s))
        .collect();
    // Corrupt one snapshot and remove another.
    {
        let c = rusqlite::Connection::open(a.db()).unwrap();
        c.execute(
            "UPDATE sim_runners SET engine_state = x'deadbeef' WHERE strategy = 'grid_atr'",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE sim_runners SET strategy_state = NULL WHERE strategy = 'sma_cross'",
            [],
        )
        .unwrap();
    }
    std::fs::write(a.data_dir().join("state/simulator.json"), b"{not json").unwrap();
    let _sim = start(&a, "scalp-simulator", "sim2.log");
    wait_done(&a, 120, last, &["sim2.log"]);
    let log = std::fs::read_to_string(a.log("sim2.log")).unwrap();
    assert_eq!(
        log.matches("rebuilding it by replaying").count(),
        2,
        "{log}"
    );
    let after = snapshots(&a.db());
    assert_eq!(before, after, "the replay rebuilds bit-identical snapshots");
    let trades_after: Vec<_> = STRATEGIES
        .iter()
        .map(|s| paper_trades(&a.db(), s))
        .collect();
    assert_eq!(trades_before, trades_after, "no trade lost or duplicated");

    // `scalpctl reset simulator --force` against the running daemon: a new epoch at the
    // initial capital for sma_cross; the other runners go on untouched.
    let out = Command::new(scalp_e2e::bin("scalpctl"))
        .arg("--config")
        .arg(a.config())
        .args([
            "reset",
            "simulator",
            "--strategy",
            "sma_cross",
            "--force",
            "--wait",
            "20",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = sim_state(&a).unwrap_or_default();
        let r = s["runners"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["strategy"] == "sma_cross").cloned());
        if let Some(r) = r
            && r["epoch"] == 1
        {
            assert_eq!(r["trades"], 0);
            assert_eq!(r["equity"], r["capital"]);
            break;
        }
        assert!(Instant::now() < deadline, "no new epoch: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = rusqlite::Connection::open(a.db()).unwrap();
    let resets: i64 = c
        .query_row(
            "SELECT count(*) FROM sim_events WHERE kind = 'reset'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(resets, 1);
    assert_eq!(paper_trades(&a.db(), "grid_atr"), trades_before[1]);
}
