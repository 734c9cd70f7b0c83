//! End to end: the built `optimize` binary's sweep, run (WFO → local DB rows, live-progress run
//! row, windows, combos, JSON report), grades, purge-duplicates, --regrade refusal and the
//! --apply timeframe-coherence guard, on the bundled real BTC 1h candles.
//! Build first: `cargo build --bins`.

use rusqlite::Connection;
use scalp_e2e::{bin, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scalp_e2e::shipped_config_copy(dir.path());
    let data = repo_root().join("data/coinbase_btcusd_1h.csv");
    (dir, cfg, data)
}

fn optimize(cfg: &Path, args: &[&str]) -> Output {
    Command::new(bin("optimize"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("SCALP_OPTIMIZE_QUIET", "1")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{s}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    s
}

#[test]
fn sweep_ranks_the_full_grid_with_the_kernel() {
    let (_d, cfg, data) = setup();
    let out = ok(&optimize(
        &cfg,
        &[
            "sweep",
            "--strategy",
            "sma_cross",
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "fast=2..40:2,slow=50..430:20",
            "--fee",
            "0.001",
            "--slippage",
            "0",
            "--leverage",
            "1",
            "--no-funding",
            "--size",
            "all_cash",
            "--lot",
            "0.00000001",
            "--end",
            "last_open",
            "--capital",
            "10000",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["combos"], 400);
    assert_eq!(v["candles"], 20111);
    assert_eq!(v["engine"], "kernel");
    let eq: Vec<f64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["final_equity"].as_f64().unwrap())
        .collect();
    assert!(
        eq.windows(2).all(|w| w[0] >= w[1]),
        "not ranked by final equity"
    );
    // Funding on (the default for perpetuals) stays on the kernel (it pays the same
    // settlements as the engine); a kill switch, which the kernel does not model, makes it
    // decline and the event engine gives the ranking (same grid).
    for (extra, engine) in [(None, "kernel"), (Some(["--kill-dd", "30"]), "event")] {
        let mut args = vec![
            "sweep",
            "--strategy",
            "sma_cross",
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "fast=5|10,slow=30|60",
            "--leverage",
            "1",
            "--json",
        ];
        args.extend(extra.into_iter().flatten());
        let out = ok(&optimize(&cfg, &args));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["engine"], engine, "{extra:?}");
        assert_eq!(v["combos"], 4);
    }
    // Bad grid: clear error naming the axis.
    let o = optimize(
        &cfg,
        &[
            "sweep",
            "--strategy",
            "sma_cross",
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "fsat=2..4:1",
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no parameter `fsat`"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn run_persists_results_runs_windows_and_reports() {
    let (d, cfg, data) = setup();
    let dataa = data.to_str().unwrap();
    let out = ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "sma_cross",
            "--symbol",
            "BTC",
            "--data",
            dataa,
            "-v",
        ],
    ));
    assert!(out.contains("sma_cross BTC 1h: grade "), "{out}");
    let db = cfg.parent().unwrap().join("optimize.db");
    let conn = Connection::open(&db).unwrap();
    let (n, latest, nw): (i64, i64, i64) = conn
        .query_row("SELECT count(*), sum(is_latest), max(n_windows) FROM optimization_results WHERE strategy_name='sma_cross' AND asset='BTC'", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!((n, latest), (1, 1));
    assert!(nw >= 5, "{nw} windows");
    let (status, phase, pct, report): (String, String, f64, String) = conn
        .query_row(
            "SELECT status, phase, progress_pct, report_path FROM optimization_runs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), phase.as_str(), pct),
        ("completed", "done", 100.0)
    );
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(rep["result"]["n_windows"].as_i64(), Some(nw));
    // The null test ran on the config's 4 permuted histories (tests' config; 99 shipped): p is
    // (1 + #null ≥ real) / 5, and the score it was computed for is stored with it.
    let mcs = &rep["result"]["monte_carlo_summary"];
    assert_eq!(mcs["null_permutations"], 4, "{mcs}");
    let p = mcs["null_p"].as_f64().unwrap();
    assert!(
        [0.2, 0.4, 0.6, 0.8, 1.0]
            .iter()
            .any(|x| (x - p).abs() < 1e-12),
        "{p}"
    );
    assert!(mcs["null_score"].as_f64().is_some(), "{mcs}");
    // 4 permutations can never reach p ≤ 0.05: whatever the score, at most C, and said why.
    assert!(
        !matches!(rep["grade_detail"]["grade"].as_str(), Some("A" | "B")),
        "{}",
        rep["grade_detail"]
    );
    // PBO over the most recent even number of OOS windows (C(S, S/2) splits).
    let pbo = mcs["pbo"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&pbo), "{mcs}");
    let s = (nw.min(16) / 2 * 2) as u64;
    let choose = (1..=s / 2).fold(1u64, |a, k| a * (s / 2 + k) / k);
    assert_eq!(mcs["pbo_splits"].as_u64(), Some(choose), "{mcs}");
    let w: i64 = conn
        .query_row("SELECT count(*) FROM optimization_windows", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(w, nw);
    let c: i64 = conn
        .query_row("SELECT count(*) FROM wfo_combo_results", [], |r| r.get(0))
        .unwrap();
    assert!(c > nw * 50, "{c} combos stored");

    // Second identical run: a new latest row; the first becomes a duplicate.
    ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "sma_cross",
            "--symbol",
            "BTC",
            "--data",
            dataa,
        ],
    ));
    let (n, latest): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(is_latest) FROM optimization_results",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((n, latest), (2, 1));
    let out = ok(&optimize(&cfg, &["purge-duplicates", "--dry-run"]));
    assert!(out.contains("1 duplicate(s) found"), "{out}");
    let out = ok(&optimize(&cfg, &["purge-duplicates"]));
    assert!(out.contains("1 duplicate(s) deleted"), "{out}");
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM optimization_results WHERE is_latest = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);

    // --resume skips; grades lists; --regrade refuses incompatible flags.
    let out = ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "sma_cross",
            "--symbol",
            "BTC",
            "--data",
            dataa,
            "--resume",
        ],
    ));
    assert!(out.contains("skipped (--resume"), "{out}");
    let out = ok(&optimize(&cfg, &["grades", "--json"]));
    let g: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(g.as_array().unwrap().len(), 1);
    let o = optimize(&cfg, &["run", "--regrade", "--resume"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be combined with --resume"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = ok(&optimize(
        &cfg,
        &["run", "--regrade", "--strategy", "sma_cross"],
    ));
    assert!(out.contains("(unchanged)"), "{out}");
    // The regraded row is stored beside the one it regrades, newer, and is the latest.
    let (n, latest, newest_is_latest): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(is_latest), (SELECT is_latest FROM optimization_results ORDER BY created_at DESC LIMIT 1) FROM optimization_results",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((n, latest, newest_is_latest), (2, 1, 1));
    drop(d);
}

#[test]
fn apply_guards_timeframes_and_keeps_comments() {
    let (_d, cfg, data) = setup();
    let db = cfg.parent().unwrap().join("optimize.db");
    {
        let mut conn = scalp_store::open(&db).unwrap();
        for (asset, tf, fast) in [("ETH", "1h", 12), ("SOL", "4h", 20)] {
            let p = serde_json::json!({
                "strategy_name": "sma_cross", "asset": asset, "timeframe": tf, "created_at": "2026-01-01T00:00:00Z",
                "grade": "A", "total_score": 85.0, "n_windows": 10, "best_params": {"fast": fast, "slow": 200, "margin_frac": 1.0},
            });
            let r = scalp_sync::OptimizationResult::from_payload(&p).unwrap();
            scalp_sync::db::insert_result(&mut conn, &r, scalp_sync::Source::Local).unwrap();
        }
    }
    let st = cfg.parent().unwrap().join("strategies.toml");
    let before = std::fs::read_to_string(&st).unwrap();
    let o = optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "sma_cross",
            "--symbol",
            "DOGE",
            "--data",
            data.to_str().unwrap(),
            "--apply",
            // the hand-made A results fail the live gate; this checks the timeframe guard
            "--accept-weak",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("SOL graded A on 4h")
            && out.contains("--force-timeframe 1h")
            && out.contains("--exclude SOL")
            && out.contains("--ignore-tf-conflicts"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&st).unwrap(),
        before,
        "strategies.toml changed despite the refusal"
    );
    let out = ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "sma_cross",
            "--symbol",
            "DOGE",
            "--data",
            data.to_str().unwrap(),
            "--resume",
            "--apply",
            "--exclude",
            "SOL",
            // these hand-made A results carry no DSR, Monte Carlo or validation figures: they
            // fail the live gate, so only --accept-weak lets them through (and says so)
            "--accept-weak",
        ],
    ));
    assert!(out.contains("1 asset(s) written"), "{out}");
    assert!(
        out.contains("sma_cross.per_asset.ETH is weak (") && out.contains("validation skipped"),
        "{out}"
    );
    let after = std::fs::read_to_string(&st).unwrap();
    // Every original line (comments included) is still there, in order.
    let mut it = after.lines();
    for l in before.lines() {
        assert!(it.any(|a| a == l), "line lost: {l}\n{after}");
    }
    let eth = after
        .split("[sma_cross.per_asset.ETH]")
        .nth(1)
        .unwrap_or_else(|| panic!("no ETH table:\n{after}"));
    assert!(
        eth.contains("fast = 12") && eth.contains("slow = 200"),
        "{after}"
    );
    assert!(!after.contains("per_asset.SOL"), "{after}");
}

/// `--apply` writes only live-eligible results of known assets, shows the exact TOML diff first,
/// and `--apply --dry-run` shows it without writing; `--accept-weak` lets a weak result through
/// and names the gate terms it fails.
#[test]
fn apply_needs_known_assets_and_the_live_gate_and_shows_the_diff() {
    let (_d, cfg, data) = setup();
    let db = cfg.parent().unwrap().join("optimize.db");
    {
        let mut conn = scalp_store::open(&db).unwrap();
        let strong = |asset: &str, fast: i64, dsr: f64| {
            serde_json::json!({
                "strategy_name": "sma_cross", "asset": asset, "timeframe": "1h", "created_at": "2026-01-01T00:00:00Z",
                "grade": "A", "total_score": 85.0, "n_windows": 10, "oos_sharpe": 1.5, "dsr": dsr,
                "monte_carlo_pvalue": 0.01, "mc_underpowered": false,
                "validation_summary": {"transfer_ratio": 0.8}, "monte_carlo_summary": {"n_trades": 60, "null_p": 0.005, "null_permutations": 199},
                "best_params": {"fast": fast, "slow": 200, "margin_frac": 1.0},
            })
        };
        let doge = serde_json::json!({
            "strategy_name": "sma_cross", "asset": "DOGE", "timeframe": "1h", "created_at": "2026-01-01T00:00:00Z",
            "grade": "F", "total_score": 10.0, "n_windows": 10, "best_params": {"fast": 5, "slow": 50, "margin_frac": 1.0},
        });
        for p in [
            strong("ETH", 12, 0.99),
            strong("BTC", 14, 0.20),
            strong("coinbase_btcusd_1h", 16, 0.99),
            doge,
        ] {
            let r = scalp_sync::OptimizationResult::from_payload(&p).unwrap();
            scalp_sync::db::insert_result(&mut conn, &r, scalp_sync::Source::Local).unwrap();
        }
    }
    let st = cfg.parent().unwrap().join("strategies.toml");
    let before = std::fs::read_to_string(&st).unwrap();
    let base = [
        "run",
        "--strategy",
        "sma_cross",
        "--symbol",
        "DOGE",
        "--data",
        data.to_str().unwrap(),
        "--resume",
        "--apply",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    fn args(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    // a per-asset table named after a CSV file is refused
    let v = with(&["--dry-run"]);
    let o = optimize(&cfg, &args(&v));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("coinbase_btcusd_1h")
            && out.contains("not an asset of assets.toml")
            && out.contains("--symbol"),
        "{out}"
    );

    // --dry-run: the exact diff, nothing written; BTC fails the DSR floor
    let v = with(&["--dry-run", "--exclude", "coinbase_btcusd_1h"]);
    let out = ok(&optimize(&cfg, &args(&v)));
    assert!(
        out.contains("+[sma_cross.per_asset.ETH]") || out.contains("+[sma_cross.per_asset]"),
        "{out}"
    );
    assert!(out.contains("+fast = 12"), "{out}");
    assert!(!out.contains("+fast = 14"), "{out}");
    assert!(
        out.contains("sma_cross.per_asset.BTC not written")
            && out.contains("DSR 0.200 < 0.95")
            && out.contains("--accept-weak"),
        "{out}"
    );
    assert!(out.contains("nothing written"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&st).unwrap(),
        before,
        "dry run wrote"
    );

    // for real: the diff, then ETH only
    let v = with(&["--exclude", "coinbase_btcusd_1h"]);
    let out = ok(&optimize(&cfg, &args(&v)));
    assert!(
        out.contains("+fast = 12") && out.contains("1 asset(s) written"),
        "{out}"
    );
    let after = std::fs::read_to_string(&st).unwrap();
    assert!(
        after.contains("[sma_cross.per_asset.ETH]") && !after.contains("sma_cross.per_asset.BTC"),
        "{after}"
    );

    // --accept-weak: BTC too, saying why it is weak
    let v = with(&["--exclude", "coinbase_btcusd_1h", "--accept-weak"]);
    let out = ok(&optimize(&cfg, &args(&v)));
    assert!(
        out.contains("sma_cross.per_asset.BTC is weak (DSR 0.200 < 0.95)")
            && out.contains("+fast = 14"),
        "{out}"
    );
    let after = std::fs::read_to_string(&st).unwrap();
    assert!(after.contains("[sma_cross.per_asset.BTC]"), "{after}");
}

/// Issue 15's reproductions through the built binary: timeframes verified (refused, resampled or
/// taken from the file, never relabelled), second timestamps refused, data-quality warnings in
/// the console and in `--json`, `--strict`, `check-data --data`, and equity never below zero.
#[test]
fn trust_timeframes_data_quality_and_equity_floor() {
    let (d, cfg, hourly) = setup();
    let root = repo_root();
    let daily = root.join("data/coinbase_btcusd_1d.csv");
    let (hourly, daily) = (hourly.to_str().unwrap(), daily.to_str().unwrap());
    let fails = |args: &[&str]| {
        let o = optimize(&cfg, args);
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = fails(&[
        "backtest",
        "--strategy",
        "sma_cross",
        "--data",
        hourly,
        "--timeframe",
        "5m",
        "--no-store",
    ]);
    assert!(
        e.contains("coinbase_btcusd_1h.csv: the candles are 1h apart") && e.contains("asked is 5m"),
        "{e}"
    );
    let e = fails(&[
        "sweep",
        "--strategy",
        "sma_cross",
        "--data",
        hourly,
        "--timeframe",
        "5m",
    ]);
    assert!(e.contains("the candles are 1h apart"), "{e}");
    let secs = d.path().join("secs.csv");
    std::fs::write(
        &secs,
        "ts_ms,open,high,low,close,volume\n1498906800,1,1,1,1,1\n1498910400,1,1,1,1,1\n",
    )
    .unwrap();
    let e = fails(&[
        "backtest",
        "--strategy",
        "sma_cross",
        "--data",
        secs.to_str().unwrap(),
        "--timeframe",
        "1h",
        "--no-store",
    ]);
    assert!(
        e.contains("secs.csv:2: field `ts_ms`") && e.contains("looks like seconds"),
        "{e}"
    );

    let out = ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "grid_boltrend",
            "--data",
            &root
                .join("data/bitstamp_btcusd_1d.csv")
                .display()
                .to_string(),
            "--symbol",
            "BTC",
            "--dry-run",
        ],
    ));
    assert!(out.contains("grid_boltrend BTC 1d:"), "{out}");
    let out = ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "grid_boltrend",
            "--data",
            hourly,
            "--symbol",
            "BTC",
            "--force-timeframe",
            "1d",
            "--dry-run",
        ],
    ));
    assert!(out.contains("grid_boltrend BTC 1d:"), "{out}");

    let out = ok(&optimize(
        &cfg,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            daily,
            "--no-store",
        ],
    ));
    assert!(
        out.starts_with("warning: ") && out.contains("1 outlier wick(s): 2017-04-15"),
        "{out}"
    );
    assert!(out.contains("final equity     0.00"), "{out}");
    let out = ok(&optimize(
        &cfg,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            daily,
            "--no-store",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{out}");
    assert!(v["metrics"]["final_equity"].as_f64().unwrap() >= 0.0);
    let e = fails(&[
        "backtest",
        "--strategy",
        "sma_cross",
        "--data",
        daily,
        "--no-store",
        "--strict",
    ]);
    assert!(e.contains("--strict"), "{e}");

    let out = ok(&optimize(&cfg, &["check-data", "--data", daily]));
    assert!(
        out.contains("1770 candles, 1d") && out.contains("warning: "),
        "{out}"
    );
    let e = fails(&["check-data", "--data", daily, "--strict"]);
    assert!(e.contains("2 data-quality warning(s) (--strict)"), "{e}");
}

/// Assumptions are disclosed: strategies that need funding or open-interest history are refused
/// where it is missing (backtest of a CSV, sweep) and skipped by `run` with one line; charged
/// funding says whether its rate was historical or assumed and what it cost; `optimize
/// strategies` lists timeframes and required inputs.
#[test]
fn missing_inputs_are_refused_and_assumed_funding_is_disclosed() {
    let (_d, cfg, data) = setup();
    let data = data.to_str().unwrap();
    for s in ["funding", "liquidation", "grid_funding"] {
        let o = optimize(&cfg, &["backtest", "--strategy", s, "--data", data]);
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success(), "{s}: {e}");
        assert!(
            e.contains(&format!("strategy `{s}` needs")) && e.contains("does not provide"),
            "{s}: {e}"
        );
        let o = optimize(&cfg, &["sweep", "--strategy", s, "--data", data]);
        assert!(!o.status.success(), "{s}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("a sweep"),
            "{s}"
        );
    }
    let out = ok(&optimize(
        &cfg,
        &[
            "run",
            "--strategy",
            "funding",
            "--symbol",
            "BTC",
            "--data",
            data,
        ],
    ));
    assert!(
        out.contains("funding BTC 1h: skipped: needs funding-rate history"),
        "{out}"
    );
    let db = cfg.parent().unwrap().join("optimize.db");
    if db.exists() {
        let n: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM optimization_results", [], |r| {
                r.get(0)
            })
            .unwrap_or(0);
        assert_eq!(n, 0, "a skipped strategy is not graded");
    }
    // funding charged at the assumed rate is said, with its cost, in the console and the JSON
    let out = ok(&optimize(
        &cfg,
        &["backtest", "--strategy", "sma_cross", "--data", data],
    ));
    assert!(
        out.contains("settlements at the ASSUMED rate 0.0100 %/8 h"),
        "{out}"
    );
    let out = ok(&optimize(
        &cfg,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            data,
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let f = &v["funding"];
    assert!(f["settlements_assumed"].as_u64().unwrap() > 100, "{f}");
    assert_eq!(f["settlements_historical"], 0, "{f}");
    assert!(f["paid_assumed"].as_f64().unwrap() != 0.0, "{f}");
    assert_eq!(f["assumed_rate"].as_f64(), Some(0.0001), "{f}");
    // the list
    let out = ok(&optimize(&cfg, &["strategies"]));
    assert!(
        out.contains("funding-rate history") && out.contains("open-interest history"),
        "{out}"
    );
    let out = ok(&optimize(&cfg, &["strategies", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 14);
    let m = rows.iter().find(|r| r["name"] == "grid_multi_tf").unwrap();
    assert_eq!(m["higher_timeframes"], serde_json::json!(["4h"]));
}

/// `sweep` resolves params like `backtest` and `run`: the asset's per-asset overrides apply
/// (it used to read only `[name.params]`).
#[test]
fn sweep_applies_per_asset_params() {
    let (_d, cfg, data) = setup();
    let st = cfg.parent().unwrap().join("strategies.toml");
    let text = std::fs::read_to_string(&st).unwrap();
    std::fs::write(
        &st,
        text.replace(
            "[sma_cross.params]\nfast = 10\nslow = 30\n",
            "[sma_cross.params]\nfast = 10\nslow = 30\n[sma_cross.per_asset.BTC]\nmargin_frac = 0.5\n",
        ),
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(&st)
            .unwrap()
            .contains("per_asset.BTC]\nmargin_frac = 0.5")
    );
    let equity = |symbol: &str| {
        let out = ok(&optimize(
            &cfg,
            &[
                "sweep",
                "--strategy",
                "sma_cross",
                "--data",
                data.to_str().unwrap(),
                "--symbol",
                symbol,
                "--grid",
                "fast=10,slow=30",
                "--no-funding",
                "--json",
            ],
        ));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["results"][0]["metrics"]["final_equity"].as_f64().unwrap()
    };
    let with_override = equity("BTC");
    // the same sweep without the per-asset table (the same contract spec applies to both)
    std::fs::write(&st, &text).unwrap();
    let without = equity("BTC");
    assert!(
        (with_override - without).abs() > 1.0,
        "per-asset margin_frac ignored: {with_override} vs {without}"
    );
    std::fs::write(
        &st,
        text.replace(
            "[sma_cross.params]\nfast = 10\nslow = 30\n",
            "[sma_cross.params]\nfast = 10\nslow = 30\n[sma_cross.per_asset.BTC]\nmargin_frac = 0.5\n",
        ),
    )
    .unwrap();
    let out = ok(&optimize(
        &cfg,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            data.to_str().unwrap(),
            "--symbol",
            "BTC",
            "--no-funding",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["params"]["margin_frac"], 0.5, "backtest applies it too");
}

/// issue 15 "Exchange minimums and lot steps": `optimize backtest --strategy grid_range_atr
/// --data data/coinbase_btcusd_1h.csv` made 1,236 trades, most of them under $1 once the
/// account was gone. Now every order meets the contract's minimum (5 USDT, Bitget's
/// minTradeUSDT, for a file without --symbol), smaller ones are skipped and counted, and the
/// runner stops when its orders can no longer meet the minimum.
#[test]
fn backtest_respects_exchange_minimums_and_lot_steps() {
    let (_d, cfg, data) = setup();
    let d = data.to_str().unwrap();
    let base = [
        "backtest",
        "--strategy",
        "grid_range_atr",
        "--data",
        d,
        "--no-store",
    ];
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        a.push("--json");
        serde_json::from_str(ok(&optimize(&cfg, &a)).trim()).unwrap()
    };
    let v = json(&[]);
    let trades = v["trades"].as_array().unwrap();
    assert!(trades.len() < 1236, "{} trades", trades.len());
    for t in trades {
        let notional = t["qty"].as_f64().unwrap() * t["entry_price"].as_f64().unwrap();
        assert!(notional >= 5.0, "an order below the minimum filled: {t}");
    }
    assert!(
        v["skipped_min_order"].as_u64().unwrap() >= 1,
        "{}",
        v["skipped_min_order"]
    );
    let reason = v["stopped"]["reason"].as_str().expect("the runner stopped");
    assert!(
        reason.starts_with("stopped: equity") && reason.contains("below the minimum order"),
        "{reason}"
    );
    assert!(
        v["contract"]
            .as_str()
            .unwrap()
            .contains("min notional 5 USDT")
    );
    // No trade after the stop.
    let stop_time = v["stopped"]["time"].as_i64().unwrap();
    assert!(
        trades
            .iter()
            .all(|t| t["entry_time"].as_i64().unwrap() <= stop_time)
    );

    // The console says it in one line each.
    let out = ok(&optimize(&cfg, &base));
    assert!(
        out.contains("skipped orders") && out.contains("below the exchange minimum order"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("stopped ")),
        "{out}"
    );

    // As BTC: Bitget's BTCUSDT lot step and minimum quantity (0.0001) apply.
    let v = json(&["--symbol", "BTC"]);
    for t in v["trades"].as_array().unwrap() {
        let lots = t["qty"].as_f64().unwrap() / 0.0001;
        assert!(
            (lots - lots.round()).abs() < 1e-6 && lots >= 1.0 - 1e-9,
            "{t}"
        );
    }
    assert!(
        v["contract"]
            .as_str()
            .unwrap()
            .starts_with("BTC: lot 0.0001"),
        "{}",
        v["contract"]
    );
    // --lot 0 is an explicit override and says so.
    let mut a = base.to_vec();
    a.extend_from_slice(&["--symbol", "BTC", "--lot", "0"]);
    let out = ok(&optimize(&cfg, &a));
    assert!(out.contains("lot 0 (--lot 0: no rounding)"), "{out}");

    // sweep applies the same contract (and reports it).
    let out = ok(&optimize(
        &cfg,
        &[
            "sweep",
            "--strategy",
            "sma_cross",
            "--data",
            d,
            "--grid",
            "fast=10,slow=30",
            "--lot",
            "0.0001",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["settings"]["lot_step"], 0.0001);
    assert_eq!(v["settings"]["min_notional"], 5.0);
    assert!(
        v["contract"]
            .as_str()
            .unwrap()
            .contains("lot 0.0001 (--lot)"),
        "{}",
        v["contract"]
    );
}

/// `optimize dashboard`: the API and the dashboard from the workstation's optimize.db. A
/// backtest stored by `optimize backtest` is listed with the key and refused without it; a
/// random key is printed when SCALP_API_KEY is unset; Ctrl-C (SIGINT) stops it with exit 0.
#[test]
fn dashboard_serves_the_local_optimize_db() {
    use std::io::{BufRead, Read, Write};
    let (d, cfg, data) = setup();
    ok(&optimize(
        &cfg,
        &[
            "backtest",
            "--strategy",
            "sma_cross",
            "--data",
            data.to_str().unwrap(),
        ],
    ));
    let web = d.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>dash</title>").unwrap();
    let mut child = Command::new(bin("optimize"))
        .arg("--config")
        .arg(&cfg)
        .args(["dashboard", "--listen", "127.0.0.1:0", "--web-dir"])
        .arg(&web)
        .env_remove("SCALP_API_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("dashboard: http://")
        .and_then(|s| s.strip_suffix('/'))
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let second = lines.next().unwrap().unwrap();
    let key = second
        .strip_prefix("API key for this session: ")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("{second}"))
        .to_string();
    assert_eq!(key.len(), 32, "{second}");
    let get = |path: &str, key: Option<&str>| -> (u16, String) {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let auth = key.map_or(String::new(), |k| format!("X-API-Key: {k}\r\n"));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let status: u16 = r.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = r
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        (status, body)
    };
    assert_eq!(get("/api/backtest/runs", None).0, 401);
    let (st, body) = get("/api/backtest/runs", Some(&key));
    assert_eq!(st, 200, "{body}");
    let db = Connection::open(cfg.parent().unwrap().join("optimize.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM backtest_runs WHERE strategy_name = 'sma_cross'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    assert!(body.contains("\"sma_cross\""), "{body}");
    let (st, page) = get("/", None);
    assert_eq!(st, 200);
    assert!(page.contains("<title>dash</title>"), "{page}");
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// The calibration goal on the bundled BTC 1h data with a fixed seed: envelope_dca's
/// score alone grades A or B on more than 5 % of bar-permuted (no-edge) histories (the bug), and
/// with the null gate — each permuted history graded with its p against the other permuted
/// histories, exactly what `optimize run` would give it — at most 5 % are A or B and none is
/// live-eligible. The verdict is stored where `--apply` reads it.
#[test]
fn null_test_calibrates_the_grade_on_no_edge_histories() {
    let (_d, cfg, data) = setup();
    let out = ok(&optimize(
        &cfg,
        &[
            "null-test",
            "--strategy",
            "envelope_dca",
            "--symbol",
            "BTC",
            "--data",
            data.to_str().unwrap(),
            "--permutations",
            "20",
            "--seed",
            "1",
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["permutations"], 20);
    let before = v["null_ab_rate_score"].as_f64().unwrap();
    let after = v["null_ab_rate"].as_f64().unwrap();
    let live = v["null_live_rate"].as_f64().unwrap();
    assert!(
        before > 0.05,
        "the score alone is calibrated after all: {before}"
    );
    assert!(after <= 0.05, "with the null gate: P(A or B) {after}");
    assert!(live <= 0.01, "with the null gate: P(live) {live}");
    // Each permuted history's own p is its rank among the others (1 + #others ≥ it) / N, and
    // only a p ≤ 0.05 keeps an A or B.
    let null = v["null"].as_array().unwrap();
    let scores: Vec<f64> = null
        .iter()
        .map(|p| p["total_score"].as_f64().unwrap())
        .collect();
    for (j, p) in null.iter().enumerate() {
        let ge = scores
            .iter()
            .enumerate()
            .filter(|(k, s)| *k != j && **s >= scores[j])
            .count();
        assert_eq!(p["p"].as_f64().unwrap(), (1 + ge) as f64 / 20.0, "{p}");
        let sg = p["score_grade"].as_str().unwrap();
        let g = p["grade"].as_str().unwrap();
        if matches!(sg, "A" | "B") && p["p"].as_f64().unwrap() > 0.05 {
            assert_eq!(g, "C", "{p}");
        } else {
            assert_eq!(g, sg, "{p}");
        }
    }
    let stored = cfg
        .parent()
        .unwrap()
        .join("reports/null_tests/envelope_dca_BTC_1h.json");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stored).unwrap()).unwrap();
    assert_eq!(s["null_ab_rate"], v["null_ab_rate"]);
}
