//! End to end: the rough edges of issues 10 and 15, each reproduced with the built binaries
//! (`optimize`, `scalpctl`, `scalp-syncd`, `scalp-collector`) as a new user would hit them.
//! Build first: `cargo build --bins`.

use scalp_e2e::{bin, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of the shipped config in a temporary directory, data under `../var`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scalp_e2e::shipped_config_copy(dir.path());
    (dir, cfg)
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name)).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Replaces the first occurrence of `from` in a config file (which must contain it).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

/// Every check-config of every program, on one config: (program, args).
fn check_commands(cfg: &str) -> Vec<(&'static str, Vec<String>)> {
    let c = cfg.to_string();
    vec![
        (
            "optimize",
            vec!["--config".into(), c.clone(), "--check-config".into()],
        ),
        (
            "scalpctl",
            vec!["--config".into(), c.clone(), "check-config".into()],
        ),
        (
            "scalp-syncd",
            vec!["--config".into(), c.clone(), "--check-config".into()],
        ),
        (
            "scalp-collector",
            vec!["--config".into(), c, "--check-config".into()],
        ),
    ]
}

#[test]
fn every_check_config_validates_strategy_params_and_grids() {
    let (_d, cfg) = setup();
    let dir = cfg.parent().unwrap().to_path_buf();
    let strategies = dir.join("strategies.toml");
    let c = cfg.to_str().unwrap();

    // A misspelt parameter of strategies.toml: every program refuses it, naming file:line:key.
    edit(&strategies, "atr_start = 2.0", "atr_strat = 2.0");
    let line = line_of(&strategies, "atr_strat");
    let want = format!(
        "{}:{line}: key `grid_atr.params.atr_strat`",
        strategies.display()
    );
    for (prog, args) in check_commands(c) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(prog, &args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{prog} accepted a misspelt parameter");
        assert!(e.contains(&want), "{prog}: {e}");
        assert!(e.contains("atr_start"), "{prog} lists the known names: {e}");
    }
    edit(&strategies, "atr_strat = 2.0", "atr_start = 2.0");

    // A bad grid axis of param_grids.toml, likewise.
    let grids = dir.join("param_grids.toml");
    edit(&grids, "fast = \"2..40:2\"", "fsat = \"2..40:2\"");
    let line = line_of(&grids, "fsat");
    let want = format!("{}:{line}: key `sma_cross.grid`", grids.display());
    for (prog, args) in check_commands(c) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(prog, &args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{prog} accepted a bad grid");
        assert!(e.contains(&want) && e.contains("fsat"), "{prog}: {e}");
    }
}

#[test]
fn docs_are_generated_only_by_the_explicit_hidden_flag() {
    let (_d, cfg) = setup();
    let docs = tempfile::tempdir().unwrap();
    // The old environment switch made any binary, a daemon included, write files and exit 0.
    let o = Command::new(bin("scalp-syncd"))
        .args(["--config", cfg.to_str().unwrap(), "--check-config"])
        .env("SCALP_GENERATE_DOCS", docs.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(": ok"),
        "the check ran"
    );
    assert_eq!(std::fs::read_dir(docs.path()).unwrap().count(), 0);
    // The hidden flag, alone, is the build step.
    let o = Command::new(bin("optimize"))
        .arg("--generate-docs")
        .arg(docs.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(docs.path().join("man/optimize.1").exists());
    assert!(docs.path().join("man/optimize-run.1").exists());
    let help = run("optimize", &["--help"]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate-docs"));
}

#[test]
fn check_config_in_an_empty_directory_does_not_claim_a_file() {
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(bin("optimize"))
        .arg("--check-config")
        .current_dir(empty.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.contains("scalp.toml: ok"), "{out}");
    assert!(out.contains("built-in defaults"), "{out}");
}

#[test]
fn user_errors_print_the_chain_and_no_backtrace() {
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("nope/scalp.toml");
    let o = Command::new(bin("optimize"))
        .arg("--config")
        .arg(&missing)
        .arg("--check-config")
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.starts_with("Error: ") && e.contains("nope/scalp.toml") && e.contains("cannot read"),
        "{e}"
    );
    assert!(!e.contains("backtrace") && !e.contains(".rs:"), "{e}");
}

fn run_rows(db: &Path) -> Vec<(String, Option<String>)> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut st) = conn.prepare("SELECT status, error FROM optimization_runs ORDER BY id") else {
        return Vec::new();
    };
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

#[test]
fn an_interrupted_run_marks_its_row_failed() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let (_d, cfg) = setup();
        let data = repo_root().join("data/coinbase_btcusd_1h.csv");
        let mut child = Command::new(bin("optimize"))
            .arg("--config")
            .arg(&cfg)
            .args(["run", "--strategy", "grid_atr", "--symbol", "BTC", "--data"])
            .arg(&data)
            .env("SCALP_OPTIMIZE_QUIET", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let db = cfg.parent().unwrap().join("optimize.db");
        let t0 = std::time::Instant::now();
        while run_rows(&db).first().map(|r| r.0.as_str()) != Some("running") {
            assert!(t0.elapsed().as_secs() < 60, "the run never started");
            assert!(child.try_wait().unwrap().is_none(), "the run ended early");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let st = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        let name = format!("SIG{}", &signal[1..]);
        assert!(err.contains(&format!("interrupted by {name}")), "{err}");
        let rows = run_rows(&db);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, "failed", "{rows:?}");
        assert_eq!(
            rows[0].1.as_deref(),
            Some(&*format!("interrupted by {name}"))
        );
    }
}

#[test]
fn negative_fees_are_read_as_values_and_refused() {
    let (_d, cfg) = setup();
    let data = repo_root().join("data/coinbase_btcusd_1h.csv");
    let c = cfg.to_str().unwrap();
    let d = data.to_str().unwrap();
    for cmd in [
        vec!["backtest", "--strategy", "sma_cross", "--no-store"],
        vec![
            "sweep",
            "--strategy",
            "sma_cross",
            "--grid",
            "fast=5,slow=50",
        ],
    ] {
        for fee in ["-0.01", "-1"] {
            let mut args = vec!["--config", c];
            args.extend(&cmd);
            args.extend(["--data", d, "--fee", fee]);
            let o = run("optimize", &args);
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd:?} --fee {fee}: {e}");
            assert!(
                e.contains(&format!("invalid value '{fee}' for '--fee")) && e.contains("negative"),
                "{cmd:?} --fee {fee}: {e}"
            );
            assert!(!e.contains("unexpected argument"), "{e}");
        }
    }
    // A negative funding rate is real and stays accepted.
    let o = run(
        "optimize",
        &[
            "--config",
            c,
            "backtest",
            "--strategy",
            "sma_cross",
            "--no-store",
            "--data",
            d,
            "--funding-rate",
            "-0.0001",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bench_wfo_with_zero_assets_is_refused_not_a_panic() {
    let (_d, cfg) = setup();
    let o = run(
        "optimize",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "bench-wfo",
            "--assets",
            "0",
        ],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--assets") && e.contains("at least 1"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn read_only_commands_never_create_a_database() {
    let (d, cfg) = setup();
    let typo = d.path().join("typo.db");
    let c = cfg.to_str().unwrap();
    let o = run(
        "optimize",
        &["--config", c, "grades", "--db-path", typo.to_str().unwrap()],
    );
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("typo.db") && e.contains("does not exist"), "{e}");
    let o = run(
        "optimize",
        &["--config", c, "check-data", "--db", typo.to_str().unwrap()],
    );
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(
        !typo.exists(),
        "a read-only command created {}",
        typo.display()
    );
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().starts_with("typo")),
        "{names:?}"
    );
    let o = run("optimize", &["--config", c, "grades"]);
    assert!(!o.status.success());
    assert!(!cfg.parent().unwrap().join("optimize.db").exists());
}

#[test]
fn piped_logs_have_no_colour_and_sync_disabled_is_said_once() {
    let (_d, cfg) = setup();
    // Every asset of assets.toml (no candles stored: each job fails fast).
    let o = Command::new(bin("optimize"))
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--strategy", "sma_cross", "--symbols", "BTC,ETH,SOL"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!e.contains('\u{1b}'), "ANSI escapes in piped logs: {e:?}");
    assert_eq!(
        e.matches("sync is disabled").count(),
        1,
        "said once, not once per job: {e}"
    );
    assert!(e.contains(" INFO "), "{e}");
}

#[test]
fn sweep_says_its_size_before_it_starts() {
    let (_d, cfg) = setup();
    let data = repo_root().join("data/coinbase_btcusd_1h.csv");
    let o = run(
        "optimize",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "sweep",
            "--strategy",
            "grid_atr",
            "--data",
            data.to_str().unwrap(),
            "--grid",
            "levels=1|2,atr_start=2|3",
            "--json",
        ],
    );
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        e.contains(
            "sweep grid_atr: 4 combos × 20111 candles = 8.044e4 candle·combos (event engine)"
        ),
        "{e}"
    );
    // Piped: no progress bar drawn, and stdout stays the JSON report.
    assert!(!e.contains('\r') && !e.contains('\u{1b}'), "{e:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["combos"], 4);
}

#[test]
fn run_without_data_says_once_per_series_what_to_fetch() {
    let (_d, cfg) = setup();
    let o = run(
        "optimize",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--strategy",
            "sma_cross",
            "--symbols",
            "BTC,ETH",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success());
    assert!(!out.contains("optimize data fetch-history"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("no binance"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("no binance BTCUSDT 1h candles in ")
            && lines[0].contains("1 job(s) not run (sma_cross)")
            && lines[0].contains(
                "fetch them with: optimize fetch-history --exchange binance --symbols BTC --timeframe 1h --days "
            ),
        "{out}"
    );
    assert!(lines[1].contains("--symbols ETH"), "{out}");
    assert!(
        stderr(&o).contains("2 for want of candles: 2 series"),
        "{}",
        stderr(&o)
    );
    // The suggested command exists, with those flags.
    let h = run("optimize", &["fetch-history", "--help"]);
    let help = String::from_utf8_lossy(&h.stdout);
    assert!(h.status.success());
    for f in ["--exchange", "--symbols", "--timeframe", "--days"] {
        assert!(help.contains(f), "{help}");
    }
}

#[test]
fn fetch_history_offline_fails_in_seconds_and_says_why() {
    for (url, what) in [
        ("http://no-such-host.invalid", "DNS lookup failed"),
        ("http://127.0.0.1:1", "connection failed"),
    ] {
        let (_d, cfg) = setup();
        edit(
            &cfg,
            "rest_url = \"https://fapi.binance.com\"",
            &format!("rest_url = \"{url}\""),
        );
        let t0 = std::time::Instant::now();
        let o = run(
            "optimize",
            &[
                "--config",
                cfg.to_str().unwrap(),
                "fetch-history",
                "--exchange",
                "binance",
                "--symbols",
                "BTC",
                "--days",
                "1",
                "--quiet",
            ],
        );
        let secs = t0.elapsed().as_secs_f64();
        let e = stderr(&o);
        assert!(!o.status.success(), "{e}");
        assert!(secs < 15.0, "took {secs:.1} s: {e}");
        assert!(e.contains("cannot reach") && e.contains(what), "{url}: {e}");
    }
}

#[test]
fn import_loads_a_verified_csv_into_the_optimize_database() {
    let (d, cfg) = setup();
    let c = cfg.to_str().unwrap();
    let hourly = repo_root().join("data/coinbase_btcusd_1h.csv");
    let daily = repo_root().join("data/coinbase_btcusd_1d.csv");
    let db = cfg.parent().unwrap().join("optimize.db");
    // Daily candles are refused as 1h (never relabelled), and nothing is written.
    let o = run(
        "optimize",
        &[
            "--config",
            c,
            "import",
            "--exchange",
            "binance",
            "--symbol",
            "BTC",
            "--timeframe",
            "1h",
            daily.to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("1d apart, not 1h"), "{e}");
    assert!(!db.exists());
    // A bad row is named by its line.
    let bad = d.path().join("bad.csv");
    let text = std::fs::read_to_string(&hourly).unwrap();
    let mut lines: Vec<String> = text.lines().take(10).map(String::from).collect();
    let mut cols: Vec<&str> = lines[4].split(',').collect();
    cols[2] = "not-a-number";
    lines[4] = cols.join(",");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let o = run(
        "optimize",
        &[
            "--config",
            c,
            "import",
            "--exchange",
            "binance",
            "--symbol",
            "BTC",
            "--timeframe",
            "1h",
            bad.to_str().unwrap(),
        ],
    );
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    assert!(e.contains("bad.csv:5"), "{e}");
    // The real hourly file: imported, then a walk-forward reads it from the database.
    let o = run(
        "optimize",
        &[
            "--config",
            c,
            "import",
            "--exchange",
            "binance",
            "--symbol",
            "BTC",
            "--timeframe",
            "1h",
            hourly.to_str().unwrap(),
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("20111 candles") && out.contains("binance BTCUSDT 1h: 20111 new or changed"),
        "{out}"
    );
    let o = run(
        "optimize",
        &["--config", c, "check-data", "--exchange", "binance"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("BTCUSDT") && out.contains("20111"), "{out}");
}
