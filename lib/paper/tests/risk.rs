//! The global kill switch and the control requests, in process on a real SQLite file: it trips
//! on the summed equity, stops new entries everywhere, survives a restart, and is cleared only by
//! a control request, which is applied once and acknowledged; a forced reset starts a new epoch.

use scalp_core::config::Config;
use scalp_core::{Exchange, Timeframe};
use scalp_paper::control::{Action, CONTROL_VERSION, ControlRequest};
use scalp_paper::sim::Simulator;
use std::path::Path;

fn setup(dir: &Path, n: usize, global_pct: f64) -> Config {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(
        root.join("config/param_grids.toml"),
        dir.join("param_grids.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("assets.toml"),
        "quote = \"USDT\"\nassets = [\"BTC\"]\ntimeframes = [\"1h\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("strategies.toml"),
        "[grid_atr]\nenabled = true\nleverage = 3.0\ntimeframe = \"1h\"\nassets = [\"BTC\"]\n\
         [sma_cross]\nenabled = true\nleverage = 1.0\ntimeframe = \"1h\"\nassets = [\"BTC\"]\n\
         [sma_cross.params]\nfast = 10\nslow = 30\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scalp.toml"),
        format!(
            "[paths]\ndata_dir = \"data\"\n\n[collector]\nsources = [\"replay\"]\n\n\
         [simulator]\ncapital = 2000.0\nstart = \"first_candle\"\n\n\
         [risk]\nglobal_kill_switch_pct = {global_pct:.1}\nwindow_hours = 48.0\n"
        ),
    )
    .unwrap();
    let cfg = Config::load(&dir.join("scalp.toml")).unwrap();
    let candles =
        scalp_core::csvdata::read_candles_csv(&root.join("data/coinbase_btcusd_1h.csv")).unwrap();
    let conn = scalp_store::open(&cfg.db_path()).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Replay,
        symbol: "BTCUSDT",
        timeframe: Timeframe::H1,
    };
    scalp_store::candles::upsert(&conn, &key, &candles[..n]).unwrap();
    cfg
}

fn events(cfg: &Config) -> Vec<(i64, i64, String)> {
    let c = rusqlite::Connection::open(cfg.db_path()).unwrap();
    let mut st = c
        .prepare("SELECT id, time, kind FROM sim_events ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn request(cfg: &Config, id: &str, actions: Vec<Action>) {
    let req = ControlRequest {
        request_id: id.into(),
        requested_at: "2026-12-01T00:00:00Z".into(),
        actions,
    };
    scalp_statefile::write_atomic(
        &cfg.control_dir().join("simulator-scalpctl.json"),
        CONTROL_VERSION,
        &req,
    )
    .unwrap();
}

#[test]
fn global_kill_switch_trips_blocks_entries_persists_and_resets_by_request() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), 6000, 4.0);
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    sim.log_trades = false;
    sim.poll().unwrap();
    let ev = events(&cfg);
    let trip = ev
        .iter()
        .find(|e| e.2 == "global_kill_switch")
        .expect("a 4 % drawdown of the summed equity within 48 h trips on 6,000 BTC hours");
    assert!(
        ev.iter().any(|e| e.2 == "entry" || e.2 == "level_filled"),
        "entries before the trip"
    );
    let after: Vec<_> = ev
        .iter()
        .filter(|e| e.0 > trip.0 && (e.2 == "entry" || e.2 == "level_filled"))
        .collect();
    assert!(
        after.is_empty(),
        "no entry after the global kill switch: {after:?}"
    );
    let s = sim.summary(true);
    assert!(s.global_kill_switch.active);
    assert!(
        s.global_kill_switch
            .reason
            .as_deref()
            .unwrap()
            .contains("below its 48h high")
    );
    drop(sim);

    // Still tripped after a restart, and still blocking.
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    assert!(sim.summary(true).global_kill_switch.active);
    sim.poll().unwrap();

    // Cleared by a control request, acknowledged once.
    request(&cfg, "r1", vec![Action::ResetKillSwitch { strategy: None }]);
    sim.poll().unwrap();
    let s = sim.summary(true);
    assert!(!s.global_kill_switch.active);
    let ack = s
        .control_acks
        .iter()
        .find(|a| a.file == "simulator-scalpctl.json")
        .unwrap();
    assert_eq!((ack.request_id.as_str(), ack.result.as_str()), ("r1", "ok"));
    sim.poll().unwrap();
    drop(sim);
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    sim.poll().unwrap();
    let resets = events(&cfg)
        .iter()
        .filter(|e| e.2 == "kill_switch_reset")
        .count();
    assert_eq!(resets, 1, "a request is applied once, across restarts too");

    // A reset of an unknown strategy is refused; a forced reset starts epoch 1.
    request(
        &cfg,
        "r2",
        vec![Action::Reset {
            strategy: Some("nope".into()),
            force: false,
        }],
    );
    sim.poll().unwrap();
    let s = sim.summary(true);
    let ack = s
        .control_acks
        .iter()
        .find(|a| a.request_id == "r2")
        .unwrap();
    assert!(
        ack.result.starts_with("refused: no paper runner"),
        "{}",
        ack.result
    );
    request(
        &cfg,
        "r3",
        vec![Action::Reset {
            strategy: Some("grid_atr".into()),
            force: true,
        }],
    );
    sim.poll().unwrap();
    let s = sim.summary(true);
    let r = s.runners.iter().find(|r| r.strategy == "grid_atr").unwrap();
    assert_eq!(r.epoch, 1);
    assert_eq!(r.trades, 0);
    assert_eq!(r.equity, r.capital);
    let sma = s
        .runners
        .iter()
        .find(|r| r.strategy == "sma_cross")
        .unwrap();
    assert_eq!(sma.epoch, 0, "the other strategy is untouched");
    assert!(events(&cfg).iter().any(|e| e.2 == "reset"));
}

#[test]
fn reset_is_refused_while_a_position_is_open_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), 200, 0.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candles =
        scalp_core::csvdata::read_candles_csv(&root.join("data/coinbase_btcusd_1h.csv")).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Replay,
        symbol: "BTCUSDT",
        timeframe: Timeframe::H1,
    };
    let conn = scalp_store::open(&cfg.db_path()).unwrap();
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    sim.log_trades = false;
    // Feed candles until sma_cross holds a position.
    let mut n = 200;
    loop {
        sim.poll().unwrap();
        let s = sim.summary(true);
        if s.runners
            .iter()
            .any(|r| r.strategy == "sma_cross" && r.position.is_some())
        {
            break;
        }
        assert!(n < 5000, "sma_cross never held a position");
        scalp_store::candles::upsert(&conn, &key, &candles[n..n + 10]).unwrap();
        n += 10;
    }
    request(
        &cfg,
        "q1",
        vec![Action::Reset {
            strategy: Some("sma_cross".into()),
            force: false,
        }],
    );
    sim.poll().unwrap();
    let s = sim.summary(true);
    let ack = s
        .control_acks
        .iter()
        .find(|a| a.request_id == "q1")
        .unwrap();
    assert!(
        ack.result.contains("positions open on sma_cross:BTC"),
        "{}",
        ack.result
    );
    assert_eq!(
        s.runners
            .iter()
            .find(|r| r.strategy == "sma_cross")
            .unwrap()
            .epoch,
        0
    );
    request(
        &cfg,
        "q2",
        vec![Action::Reset {
            strategy: Some("sma_cross".into()),
            force: true,
        }],
    );
    sim.poll().unwrap();
    let s = sim.summary(true);
    let r = s
        .runners
        .iter()
        .find(|r| r.strategy == "sma_cross")
        .unwrap();
    assert_eq!((r.epoch, r.position.is_none()), (1, true));
}

fn append(cfg: &Config, from: usize, to: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candles =
        scalp_core::csvdata::read_candles_csv(&root.join("data/coinbase_btcusd_1h.csv")).unwrap();
    let conn = scalp_store::open(&cfg.db_path()).unwrap();
    let key = scalp_store::SeriesKey {
        exchange: Exchange::Replay,
        symbol: "BTCUSDT",
        timeframe: Timeframe::H1,
    };
    scalp_store::candles::upsert(&conn, &key, &candles[from..to]).unwrap();
}

fn runner_events(cfg: &Config, runner: &str, after_id: i64) -> Vec<String> {
    let c = rusqlite::Connection::open(cfg.db_path()).unwrap();
    let mut st = c
        .prepare("SELECT kind FROM sim_events WHERE runner_id = ?1 AND id > ?2 ORDER BY id")
        .unwrap();
    st.query_map(rusqlite::params![runner, after_id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn stop_blocks_one_strategys_entries_across_a_restart_and_start_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), 2000, 100.0);
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    sim.log_trades = false;
    sim.poll().unwrap();
    assert!(runner_events(&cfg, "sma_cross:BTC", 0).contains(&"entry".to_string()));

    // an unknown strategy is refused; the ack is committed and due at once (no candle needed)
    request(
        &cfg,
        "s0",
        vec![Action::Stop {
            strategy: "nope".into(),
        }],
    );
    assert!(sim.poll().unwrap().commits > 0, "the ack is a change");
    let ack = &sim.summary(true).control_acks[0];
    assert_eq!(ack.request_id, "s0");
    assert!(
        ack.result.contains("no paper runner of strategy `nope`"),
        "{ack:?}"
    );

    request(
        &cfg,
        "s1",
        vec![Action::Stop {
            strategy: "sma_cross".into(),
        }],
    );
    assert!(sim.poll().unwrap().commits > 0);
    let s = sim.summary(true);
    assert_eq!(s.control_acks[0].result, "ok");
    assert_eq!(s.halted_strategies, vec!["sma_cross".to_string()]);
    assert!(
        s.runners
            .iter()
            .find(|r| r.id == "sma_cross:BTC")
            .unwrap()
            .halted
    );
    assert!(
        !s.runners
            .iter()
            .find(|r| r.id == "grid_atr:BTC")
            .unwrap()
            .halted
    );
    let mark = events(&cfg).last().unwrap().0;
    assert!(runner_events(&cfg, "sma_cross:BTC", mark - 2).contains(&"strategy_stopped".into()));

    // 2,000 more hours: grid_atr trades on, sma_cross makes no new entry (exits may go on)
    append(&cfg, 2000, 4000);
    sim.poll().unwrap();
    let sma = runner_events(&cfg, "sma_cross:BTC", mark);
    assert!(!sma.contains(&"entry".to_string()), "{sma:?}");
    let grid = runner_events(&cfg, "grid_atr:BTC", mark);
    assert!(
        grid.iter().any(|k| k == "entry" || k == "level_filled"),
        "{grid:?}"
    );
    drop(sim);

    // still stopped after a restart
    let mut sim = Simulator::open(cfg.clone()).unwrap();
    sim.log_trades = false;
    assert!(
        sim.summary(true)
            .runners
            .iter()
            .find(|r| r.id == "sma_cross:BTC")
            .unwrap()
            .halted
    );
    append(&cfg, 4000, 5000);
    sim.poll().unwrap();
    assert!(!runner_events(&cfg, "sma_cross:BTC", mark).contains(&"entry".to_string()));

    // start: entries again
    request(
        &cfg,
        "s2",
        vec![Action::Start {
            strategy: "sma_cross".into(),
        }],
    );
    sim.poll().unwrap();
    let mark2 = events(&cfg).last().unwrap().0;
    assert!(sim.summary(true).halted_strategies.is_empty());
    append(&cfg, 5000, 8000);
    sim.poll().unwrap();
    let sma = runner_events(&cfg, "sma_cross:BTC", mark2);
    assert!(sma.contains(&"entry".to_string()), "{sma:?}");
}
