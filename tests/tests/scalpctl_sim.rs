//! `scalpctl trades`, `arena` and `reset` against a real SQLite file and a real
//! `state/simulator.json` in a temp dir (the built scalpctl binary; no simulator runs: the
//! tests write the simulator's rows and state file themselves, and play its acknowledgement).
//! Build first: `cargo build -p scalpctl`.

use scalp_paper::control::{Action, CONTROL_VERSION, ControlRequest};
use scalp_paper::state::{
    ControlAck, GlobalKillSwitch, PositionState, RankEntry, RunnerState, STATE_VERSION,
    SimulatorState,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CONTROL_FILE: &str = "simulator-scalpctl.json";

struct Env {
    _dir: tempfile::TempDir,
    cfg: PathBuf,
    var: PathBuf,
}

impl Env {
    fn state(&self) -> PathBuf {
        self.var.join("state").join("simulator.json")
    }
    fn control(&self) -> PathBuf {
        self.var.join("control").join(CONTROL_FILE)
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(scalp_e2e::bin("scalpctl"))
            .arg("--config")
            .arg(&self.cfg)
            .args(args)
            .env_remove("SCALP_CONFIG")
            .output()
            .expect("run scalpctl")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// `YYYY-MM-DDTHH:MM:SSZ` → ms (the civil-from-days algorithm; the fixture's own clock).
fn ms(t: &str) -> i64 {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000
}

/// Shipped config copy, database with the simulator's schema and a fixture of runners and trades.
fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scalp_e2e::shipped_config_copy(dir.path());
    let var = dir.path().join("var");
    let c = scalp_store::open(&var.join("scalp.db")).unwrap();
    // a later schema adds `warmup_from INTEGER NOT NULL`: give it when the table has it
    let has_warmup: bool = c
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('sim_runners') WHERE name = 'warmup_from'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        > 0;
    for (runner, epoch) in [("grid_atr:BTCUSDT", 1), ("envelope_dca:ETHUSDT", 0)] {
        let (s, a) = runner.split_once(':').unwrap();
        c.execute(
            &format!(
                "INSERT INTO sim_runners (runner_id, strategy, asset, exchange, timeframe, epoch, params,
                 params_hash, capital, origin_open_time, snapshot_version, updated_at{})
                 VALUES (?1, ?2, ?3, 'replay', '1h', ?4, '{{}}', 'h', 5000, 0, 1, 0{})",
                if has_warmup { ", warmup_from" } else { "" },
                if has_warmup { ", 0" } else { "" }
            ),
            rusqlite::params![runner, s, a, epoch],
        )
        .unwrap();
    }
    // (runner, epoch, seq, side, exit time, net pnl)
    let trades = [
        (
            "grid_atr:BTCUSDT",
            0,
            1,
            "long",
            "2026-11-01T00:00:00Z",
            5.0,
        ), // before the reset
        (
            "grid_atr:BTCUSDT",
            1,
            1,
            "long",
            "2026-11-10T00:00:00Z",
            -2.0,
        ),
        (
            "grid_atr:BTCUSDT",
            1,
            2,
            "short",
            "2026-11-20T00:00:00Z",
            3.0,
        ),
        (
            "envelope_dca:ETHUSDT",
            0,
            1,
            "long",
            "2026-11-15T06:00:00Z",
            1.5,
        ),
        (
            "envelope_dca:ETHUSDT",
            0,
            2,
            "long",
            "2026-11-21T12:00:00Z",
            -0.5,
        ),
    ];
    for (runner, epoch, seq, side, exit, net) in trades {
        let (s, a) = runner.split_once(':').unwrap();
        let exit = ms(exit);
        c.execute(
            "INSERT INTO sim_trades (runner_id, epoch, seq, strategy, asset, side, entry_time,
             exit_time, entry_price, exit_price, qty, entries, margin, fees, funding, slippage,
             gross_pnl, net_pnl, exit_reason, regime, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 100.0, 101.5, 0.25, 2, 40.0, 0.1, 0.01, 0.02,
             ?9, ?10, 'take_profit', 'bull', ?8)",
            rusqlite::params![
                runner,
                epoch,
                seq,
                s,
                a,
                side,
                exit - 3_600_000,
                exit,
                net + 0.11,
                net
            ],
        )
        .unwrap();
    }
    Env {
        _dir: dir,
        cfg,
        var,
    }
}

fn runner(id: &str, position: bool) -> RunnerState {
    let (s, a) = id.split_once(':').unwrap();
    RunnerState {
        id: id.into(),
        strategy: s.into(),
        asset: a.into(),
        exchange: "replay".into(),
        timeframe: "1h".into(),
        epoch: 1,
        params: serde_json::json!({}),
        leverage: 3.0,
        capital: 5000.0,
        equity: 5003.0,
        net_pnl: 1.0,
        trades: 2,
        wins: 1,
        losses: 1,
        position: position.then(|| PositionState {
            side: "long".into(),
            qty: 0.02,
            avg_entry: 91000.0,
            entries: 1,
            opened_at: 0,
            stop: Some(89000.0),
            take_profit: None,
            liquidation: None,
            unrealized_pnl: 2.0,
            margin: 600.0,
        }),
        levels: vec![],
        kill_switch: None,
        last_open_time: Some(0),
        origin_open_time: 0,
        halted: false,
    }
}

fn sim_state(acks: Vec<ControlAck>) -> SimulatorState {
    SimulatorState {
        pid: 4242,
        started_at: "2026-11-21T20:00:00Z".into(),
        healthy: true,
        capital: 10000.0,
        equity: 10004.5,
        global_kill_switch: GlobalKillSwitch::default(),
        runners: vec![
            runner("grid_atr:BTCUSDT", true),
            runner("envelope_dca:ETHUSDT", false),
        ],
        ranking: vec![
            RankEntry {
                rank: 1,
                id: "envelope_dca:ETHUSDT".into(),
                strategy: "envelope_dca".into(),
                asset: "ETHUSDT".into(),
                score: 2.5,
                return_pct: 0.02,
                max_drawdown_pct: 0.5,
                trades: 2,
                win_rate: 50.0,
            },
            RankEntry {
                rank: 2,
                id: "grid_atr:BTCUSDT".into(),
                strategy: "grid_atr".into(),
                asset: "BTCUSDT".into(),
                score: 1.0,
                return_pct: 0.01,
                max_drawdown_pct: 1.5,
                trades: 2,
                win_rate: 50.0,
            },
        ],
        control_acks: acks,
        halted_strategies: Vec::new(),
        db_error: None,
        rss_kb: Some(12_000),
    }
}

fn write_state(env: &Env, acks: Vec<ControlAck>) {
    scalp_statefile::write_atomic(&env.state(), STATE_VERSION, &sim_state(acks)).unwrap();
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn ids(v: &Value) -> Vec<(String, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["runner_id"].as_str().unwrap().to_string(),
                t["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn trades_text_json_and_filters() {
    let env = setup();
    let o = env.run(&["trades"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}"); // header, 4 trades, summary
    assert!(lines[0].starts_with("exit time"), "{text}");
    assert!(lines[1].contains("envelope_dca") && lines[1].contains("2026-11-21 12:00:00"));
    assert!(
        lines[5].contains(
            "4 paper trades: 2 wins, 2 losses, net pnl +2.0000, fees 0.4000, funding +0.0400"
        ),
        "{text}"
    );
    // aligned: the reason column starts at the same offset on every trade line
    let col = lines[1].find("take_profit").unwrap();
    assert!(
        lines[1..5]
            .iter()
            .all(|l| l.find("take_profit") == Some(col)),
        "{text}"
    );

    let o = env.run(&["trades", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(
        ids(&v),
        [
            ("envelope_dca:ETHUSDT".to_string(), 2),
            ("grid_atr:BTCUSDT".to_string(), 2),
            ("envelope_dca:ETHUSDT".to_string(), 1),
            ("grid_atr:BTCUSDT".to_string(), 1),
        ]
    );
    let t = &v[1];
    for k in [
        "strategy",
        "asset",
        "side",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "qty",
        "fees",
        "funding",
        "net_pnl",
        "exit_reason",
        "runner_id",
        "epoch",
        "seq",
        "entries",
        "gross_pnl",
        "slippage",
        "regime",
        "source",
    ] {
        assert!(!t[k].is_null(), "missing {k} in {t}");
    }
    assert_eq!(t["exit_time"], "2026-11-20T00:00:00Z");
    assert_eq!(t["entry_time"], "2026-11-19T23:00:00Z");
    assert_eq!(t["side"], "short");
    assert_eq!(t["epoch"], 1);
    assert_eq!(t["entries"], 2);
    assert_eq!(t["net_pnl"], 3.0);
    assert_eq!(t["source"], "paper");

    let n = |args: &[&str]| {
        let mut a = vec!["trades", "--json"];
        a.extend_from_slice(args);
        let o = env.run(&a);
        assert_eq!(code(&o), 0, "{a:?}: {}", stderr(&o));
        json(&o).as_array().unwrap().len()
    };
    assert_eq!(n(&["--all-epochs"]), 5);
    assert_eq!(n(&["--strategy", "grid_atr"]), 2);
    assert_eq!(n(&["--strategy", "grid_atr", "--all-epochs"]), 3);
    assert_eq!(n(&["--asset", "ETHUSDT"]), 2);
    assert_eq!(n(&["--since", "2026-11-15"]), 3);
    assert_eq!(n(&["--since", "2026-11-20T00:00:00Z"]), 2);
    assert_eq!(n(&["--since", "2026-11-20T01:00:00+01:00"]), 2);
    assert_eq!(n(&["--since", "2026-11-20T00:00:00.001Z"]), 1);
    assert_eq!(n(&["--since", "2026-11-22"]), 0);
    assert_eq!(n(&["--limit", "1"]), 1);
    assert_eq!(n(&["--strategy", "momentum"]), 0);
}

#[test]
fn trades_live_and_bad_input() {
    let env = setup();
    let o = env.run(&["trades", "--source", "live"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("no live trades: the executor has not run on this database"),
        "{}",
        stdout(&o)
    );
    let o = env.run(&["trades", "--source", "live", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o), serde_json::json!([]));
    assert!(
        stderr(&o).contains("executor has not run"),
        "{}",
        stderr(&o)
    );

    for (args, needle) in [
        (&["trades", "--source", "backtest"][..], "backtest"),
        (&["trades", "--since", "yesterday"][..], "YYYY-MM-DD"),
        (&["trades", "--since", "2026-02-30"][..], "YYYY-MM-DD"),
        (&["trades", "--limit", "0"][..], "0"),
    ] {
        let o = env.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn arena_missing_corrupt_and_ranked() {
    let env = setup();
    let o = env.run(&["arena"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("scalp-simulator has not written")
            && stderr(&o).contains("simulator.json yet"),
        "{}",
        stderr(&o)
    );
    std::fs::create_dir_all(env.state().parent().unwrap()).unwrap();
    std::fs::write(env.state(), "{\"version\":1,\"seq\":3,").unwrap();
    let o = env.run(&["arena", "--json"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("simulator.json is corrupt: "),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());

    write_state(&env, vec![]);
    let o = env.run(&["arena"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("written ") && t.contains(" ago"), "{t}");
    assert!(
        t.contains("2 runners") && t.contains("global kill switch off"),
        "{t}"
    );
    let first = t
        .lines()
        .position(|l| l.contains("envelope_dca:ETHUSDT"))
        .unwrap();
    let second = t
        .lines()
        .position(|l| l.contains("grid_atr:BTCUSDT"))
        .unwrap();
    assert!(first < second, "{t}");

    let v = json(&env.run(&["arena", "--json"]));
    assert_eq!(v["runners"], 2);
    assert!(v["age_ms"].as_i64().unwrap() >= 0);
    assert_eq!(v["ranking"][0]["id"], "envelope_dca:ETHUSDT");
    assert_eq!(v["ranking"][1]["equity"], 5003.0);
    assert_eq!(v["ranking"][1]["position"], "long");

    let o = env.run(&["status", "--no-units"]);
    let t = stdout(&o);
    assert!(t.contains("Simulator ("), "{t}");
    assert!(t.contains("2 runners (1 with a position)"), "{t}");
}

fn control_request(env: &Env) -> ControlRequest {
    scalp_statefile::try_read::<ControlRequest>(&env.control(), CONTROL_VERSION)
        .ok()
        .expect("control file written")
        .payload
}

#[test]
fn reset_refused_with_a_position_then_queued() {
    let env = setup();
    write_state(&env, vec![]);
    let o = env.run(&["reset", "simulator"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let e = stderr(&o);
    assert!(
        e.contains("refused") && e.contains("grid_atr:BTCUSDT long 0.02 @ 91000"),
        "{e}"
    );
    assert!(e.contains("--force"), "{e}");
    assert!(
        !env.control().exists(),
        "a refused reset must not be written"
    );
    let o = env.run(&["reset", "simulator", "--strategy", "grid_atr"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));

    let o = env.run(&["reset", "simulator", "--strategy", "no_such_strategy"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown strategy `no_such_strategy`"),
        "{}",
        stderr(&o)
    );
    assert!(!env.control().exists());

    // envelope_dca holds no position: written; nobody answers
    let t0 = Instant::now();
    let o = env.run(&[
        "reset",
        "simulator",
        "--strategy",
        "envelope_dca",
        "--wait",
        "0.5",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert!(
        stdout(&o).contains("queued: scalp-simulator applies it at its next start"),
        "{}",
        stdout(&o)
    );
    let r = control_request(&env);
    let (ms_part, pid_part) = r.request_id.split_once('-').unwrap();
    assert!(ms_part.parse::<i64>().unwrap() > 1_700_000_000_000);
    assert!(pid_part.parse::<u32>().is_ok());
    assert!(stdout(&o).contains(&r.request_id));
    assert_eq!(
        r.actions,
        vec![Action::Reset {
            strategy: Some("envelope_dca".into()),
            force: false
        }]
    );

    // the simulator is not running at all (no state file): still queued
    std::fs::remove_file(env.state()).unwrap();
    let o = env.run(&["reset", "kill-switch", "--wait", "0.2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("queued"), "{}", stdout(&o));
    assert_eq!(
        control_request(&env).actions,
        vec![Action::ResetKillSwitch { strategy: None }]
    );
}

/// Plays the simulator: waits for a new request in scalpctl's control file and acknowledges it
/// in the state file with `result`. Returns the request.
fn fake_ack(env: &Env, result: &'static str) -> std::thread::JoinHandle<ControlRequest> {
    let (control, state) = (env.control(), env.state());
    let before = scalp_statefile::try_read::<ControlRequest>(&control, CONTROL_VERSION)
        .ok()
        .map(|e| e.payload.request_id);
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < end, "scalpctl wrote no control request");
            if let Some(e) =
                scalp_statefile::try_read::<ControlRequest>(&control, CONTROL_VERSION).ok()
                && Some(&e.payload.request_id) != before.as_ref()
            {
                std::thread::sleep(Duration::from_millis(300));
                let ack = ControlAck {
                    file: CONTROL_FILE.into(),
                    request_id: e.payload.request_id.clone(),
                    applied_at: "2026-11-21T20:30:00.000Z".into(),
                    result: result.into(),
                };
                let other = ControlAck {
                    file: "simulator-api.json".into(),
                    request_id: e.payload.request_id.clone(),
                    applied_at: "2026-11-21T20:00:00.000Z".into(),
                    result: "ok".into(),
                };
                scalp_statefile::write_atomic(&state, STATE_VERSION, &sim_state(vec![other, ack]))
                    .unwrap();
                return e.payload;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn reset_acknowledged_or_refused_by_the_simulator() {
    let env = setup();
    // an ack of the API's control file with another id must not be taken for ours
    write_state(&env, vec![]);
    let h = fake_ack(&env, "ok");
    let o = env.run(&["reset", "simulator", "--force", "--wait", "10"]);
    let req = h.join().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("answered request {}", req.request_id))
            && out.trim_end().ends_with(": ok"),
        "{out}"
    );
    assert!(!out.contains("queued"), "{out}");
    assert_eq!(
        req.actions,
        vec![Action::Reset {
            strategy: None,
            force: true
        }]
    );

    let h = fake_ack(&env, "refused: grid_atr has no kill switch to reset");
    let o = env.run(&["reset", "kill-switch", "--strategy", "grid_atr"]);
    let req = h.join().unwrap();
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("refused: grid_atr has no kill switch"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        req.actions,
        vec![Action::ResetKillSwitch {
            strategy: Some("grid_atr".into())
        }]
    );
}
