//! The CLI logic (`optimize backtest|indicators|lookahead`) against real files: bundled CSV,
//! a real SQLite database in a temp dir.

use clap::Parser;
use scalp_cli::optimize::backtest::{
    BacktestArgs, IndicatorsArgs, LookaheadArgs, run_backtest_cmd, run_indicators_cmd,
    run_lookahead_cmd,
};
use scalp_core::config::Config;
use std::path::PathBuf;

#[derive(Parser)]
struct B {
    #[command(flatten)]
    a: BacktestArgs,
}
#[derive(Parser)]
struct L {
    #[command(flatten)]
    a: LookaheadArgs,
}

fn data() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/coinbase_btcusd_1h.csv")
        .display()
        .to_string()
}

fn config(dir: &std::path::Path) -> Config {
    scalp_core::config::Config::defaults(dir).unwrap()
}

#[test]
fn backtest_from_csv_is_stored_in_backtest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let out = dir.path().join("report.json");
    let args = B::parse_from([
        "x",
        "--strategy",
        "sma_cross",
        "--data",
        &data(),
        "--capital",
        "10000",
        "--leverage",
        "1",
        "--fee",
        "0.001",
        "--slippage",
        "0",
        "--no-funding",
        "--size",
        "all_cash",
        "--lot",
        "0.00000001",
        "--end",
        "last_open",
        "--params",
        "fast=10,slow=30",
        "--json",
        "--output",
        out.to_str().unwrap(),
    ])
    .a;
    let res = run_backtest_cmd(&cfg, &args).unwrap();
    assert_eq!(res.trades.len(), 387); // the backtesting.py reference figure
    // The contract's minimum order (5 USDT for a file without --symbol) never binds here: the
    // explicit --lot keeps the reference exact.
    assert_eq!((res.skipped_min_order, res.stopped.is_none()), (0, true));
    assert!((res.metrics.final_equity - 47_818.525_8).abs() < 1e-4);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["run_id"], 1);
    assert_eq!(report["trades"].as_array().unwrap().len(), 387);

    let conn = rusqlite::Connection::open(dir.path().join("optimize.db")).unwrap();
    let (n, fe, strategy, params, curve, trades, regimes): (i64, f64, String, String, String, String, String) = conn
        .query_row(
            "SELECT n_trades, final_equity, strategy_name, params, equity_curve, trades_summary, regime_stats FROM backtest_runs WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .unwrap();
    assert_eq!((n, strategy.as_str()), (387, "sma_cross"));
    assert!((fe - res.metrics.final_equity).abs() < 1e-9);
    let p: serde_json::Value = serde_json::from_str(&params).unwrap();
    assert_eq!(
        (p["fast"].as_i64(), p["slow"].as_i64()),
        (Some(10), Some(30))
    );
    let curve: Vec<(i64, f64)> = serde_json::from_str(&curve).unwrap();
    assert_eq!(curve.len(), 500);
    assert_eq!(curve[0].1, res.equity[0]);
    assert_eq!(curve.last().unwrap().1, *res.equity.last().unwrap());
    let trades: Vec<serde_json::Value> = serde_json::from_str(&trades).unwrap();
    assert_eq!(trades.len(), 387);
    let regimes: serde_json::Value = serde_json::from_str(&regimes).unwrap();
    let total: u64 = regimes
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["n_trades"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 387);

    // A second run appends a row.
    let args = B::parse_from([
        "x",
        "--strategy",
        "sma_cross",
        "--data",
        &data(),
        "--days",
        "30",
    ])
    .a;
    run_backtest_cmd(&cfg, &args).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM backtest_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

#[test]
fn bad_params_and_missing_db_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let args = B::parse_from([
        "x",
        "--strategy",
        "sma_cross",
        "--data",
        &data(),
        "--params",
        "fats=3",
    ])
    .a;
    let e = run_backtest_cmd(&cfg, &args).unwrap_err().to_string();
    assert!(
        e.contains("no parameter `fats`") && e.contains("fast"),
        "{e}"
    );
    let args = B::parse_from(["x", "--strategy", "nope", "--data", &data()]).a;
    assert!(
        run_backtest_cmd(&cfg, &args)
            .unwrap_err()
            .to_string()
            .contains("unknown strategy `nope`")
    );
    let args = B::parse_from(["x", "--strategy", "sma_cross", "--symbol", "BTC"]).a;
    let e = format!("{:#}", run_backtest_cmd(&cfg, &args).unwrap_err());
    assert!(e.contains("optimize.db"), "{e}");
}

#[test]
fn lookahead_finds_no_bias_in_sma_cross() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let a = L::parse_from([
        "x",
        "--strategy",
        "sma_cross",
        "--data",
        &data(),
        "--checkpoints",
        "5",
        "--days",
        "120",
    ])
    .a;
    assert!(!run_lookahead_cmd(&cfg, &a).unwrap());
}

#[test]
fn indicators_table_written_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ind.csv");
    let a = IndicatorsArgs {
        data: data().into(),
        only: vec!["sma20".into(), "rsi14".into()],
        output: Some(out.clone()),
    };
    run_indicators_cmd(&a).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.contains("sma20") && header.contains("rsi14"),
        "{header}"
    );
    assert_eq!(lines.count(), 20_111);
    let a = IndicatorsArgs {
        data: data().into(),
        only: vec!["bogus".into()],
        output: Some(out),
    };
    assert!(
        run_indicators_cmd(&a)
            .unwrap_err()
            .to_string()
            .contains("bogus")
    );
}

/// A strategy whose decisions leak state between runs (a global counter): the check must
/// report it, which shows the comparison can fail.
struct Leaky;
static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
impl scalp_strategy::Strategy for Leaky {
    fn name(&self) -> &'static str {
        "leaky"
    }
    fn timeframes(&self) -> Vec<scalp_core::Timeframe> {
        vec![scalp_core::Timeframe::H1]
    }
    fn warmup(&self) -> usize {
        0
    }
    fn history_needed(&self) -> usize {
        usize::MAX
    }
    fn higher_history_needed(&self) -> usize {
        usize::MAX
    }
    fn save_state(&self) -> Result<Vec<u8>, scalp_strategy::state::StateError> {
        Err(scalp_strategy::state::StateError::Encode(
            "test strategy".into(),
        ))
    }
    fn load_state(&mut self, _: &[u8]) -> Result<(), scalp_strategy::state::StateError> {
        Err(scalp_strategy::state::StateError::Encode(
            "test strategy".into(),
        ))
    }
    fn on_candle(
        &mut self,
        ctx: &scalp_strategy::Context<'_>,
        out: &mut Vec<scalp_strategy::Intent>,
    ) {
        let n = SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n.is_multiple_of(50) && ctx.position.is_flat() {
            out.push(scalp_strategy::Intent::MarketEntry {
                side: scalp_strategy::Side::Long,
                margin_frac: 0.5,
            });
        } else if n % 50 == 25 {
            out.push(scalp_strategy::Intent::ClosePosition {
                reason: scalp_strategy::ExitReason::Signal,
            });
        }
    }
}

#[test]
fn lookahead_check_reports_leaking_decisions() {
    let candles = scalp_core::csvdata::read_candles_csv(std::path::Path::new(&data())).unwrap();
    let input =
        scalp_backtest::BacktestInput::new("BTC", scalp_core::Timeframe::H1, &candles[..1003]);
    let make = || -> Box<dyn scalp_strategy::Strategy> { Box::new(Leaky) };
    let rep = scalp_backtest::lookahead::check_lookahead(
        &input,
        &make,
        &scalp_backtest::BacktestConfig::default(),
        4,
    )
    .unwrap();
    assert!(rep.biased());
    assert!(!rep.mismatches.is_empty());
}

/// Candles, funding history from the optimize database (scalp-store tables), run stored there.
#[test]
fn backtest_from_the_optimize_database_uses_stored_funding() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let db = dir.path().join("optimize.db");
    let candles = scalp_core::csvdata::read_candles_csv(std::path::Path::new(&data())).unwrap();
    {
        let conn = scalp_store::open(&db).unwrap();
        let key = scalp_store::SeriesKey {
            exchange: scalp_core::Exchange::Binance,
            symbol: "BTCUSDT",
            timeframe: scalp_core::Timeframe::H1,
        };
        scalp_store::candles::upsert(&conn, &key, &candles).unwrap();
        // A huge stored rate (1 % every 8 h) over the whole period: longs pay it.
        let t0 = candles[0].open_time.div_euclid(28_800_000) * 28_800_000;
        let rates: Vec<scalp_store::FundingRate> = (0..2600)
            .map(|k| scalp_store::FundingRate {
                time: t0 + k * 28_800_000,
                rate: 0.01,
            })
            .collect();
        scalp_store::funding::upsert(&conn, scalp_core::Exchange::Binance, "BTCUSDT", &rates)
            .unwrap();
    }
    let args = B::parse_from([
        "x",
        "--strategy",
        "sma_cross",
        "--symbol",
        "BTC",
        "--exchange",
        "binance",
        "--days",
        "90",
        "--timeframe",
        "1h",
    ])
    .a;
    let res = run_backtest_cmd(&cfg, &args).unwrap();
    assert_eq!(res.metrics.n_candles, 90 * 24);
    assert!(res.metrics.trades.n_trades > 0);
    // Funding used the stored 1 % (the configured 0.01 % would need 90 settlements to reach it).
    let t = res
        .trades
        .iter()
        .find(|t| t.funding != 0.0)
        .expect("a trade held over a settlement");
    let per_settlement = t.funding / (t.qty * t.entry_price);
    assert!(per_settlement > 0.009, "{per_settlement}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (ex, asset): (String, String) = conn
        .query_row("SELECT exchange, asset FROM backtest_runs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((ex.as_str(), asset.as_str()), ("binance", "BTC"));
}

/// The timeframe is verified against the open times (issue 15): a finer one is refused naming
/// the file, the inferred spacing and the asked one; a coarser one is resampled; second
/// timestamps are refused; a multi-timeframe strategy whose higher timeframe is not higher is
/// refused; stored candles are verified against their series' timeframe.
#[test]
fn timeframe_is_verified_resampled_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let run = |extra: &[&str]| {
        let mut v = vec!["x", "--strategy", "sma_cross", "--no-store", "--json"];
        v.extend_from_slice(extra);
        run_backtest_cmd(&cfg, &B::parse_from(v).a)
    };
    let e = run(&["--data", &data(), "--timeframe", "5m"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("coinbase_btcusd_1h.csv: the candles are 1h apart")
            && e.contains("the timeframe asked is 5m"),
        "{e}"
    );
    // 4h from 1h: 20,111 hours from 2017-07-01 11:00; the first full bucket opens at 12:00,
    // the last (08:00, only 2 hours) is dropped.
    let res = run(&["--data", &data(), "--timeframe", "4h"]).unwrap();
    assert_eq!(res.metrics.n_candles, 5027);
    let inferred = run(&["--data", &data()]).unwrap();
    assert_eq!(inferred.metrics.n_candles, 20_111);

    let secs = dir.path().join("seconds.csv");
    std::fs::write(
        &secs,
        "ts_ms,open,high,low,close,volume\n1498906800,1,1,1,1,1\n1498910400,1,1,1,1,1\n",
    )
    .unwrap();
    let e = run(&["--data", secs.to_str().unwrap(), "--timeframe", "1h"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("seconds.csv:2: field `ts_ms`") && e.contains("looks like seconds"),
        "{e}"
    );

    let daily = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/bitstamp_btcusd_1d.csv");
    let args = B::parse_from([
        "x",
        "--strategy",
        "grid_multi_tf",
        "--no-store",
        "--data",
        daily.to_str().unwrap(),
    ])
    .a;
    let e = run_backtest_cmd(&cfg, &args).unwrap_err().to_string();
    assert!(
        e.contains("higher timeframe 4h is not higher than its primary timeframe 1d"),
        "{e}"
    );

    // Daily candles stored under a 1h series key are refused, not backtested as hours.
    let days = scalp_core::csvdata::read_candles_csv(&daily).unwrap();
    {
        let conn = scalp_store::open(&dir.path().join("optimize.db")).unwrap();
        let key = scalp_store::SeriesKey {
            exchange: scalp_core::Exchange::Binance,
            symbol: "BTCUSDT",
            timeframe: scalp_core::Timeframe::H1,
        };
        scalp_store::candles::upsert(&conn, &key, &days).unwrap();
    }
    let e = run(&[
        "--symbol",
        "btcusdt",
        "--exchange",
        "binance",
        "--timeframe",
        "1h",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("binance BTCUSDT 1h") && e.contains("the candles are 1d apart"),
        "{e}"
    );
}

/// The data-quality pass on the reproduction of issue 15: the bundled Coinbase daily candles
/// (a 12-day gap, the 0.06 low of 2017-04-15) give warnings in the console and in the JSON
/// `warnings`, an error with `--strict`; the liquidation no longer takes equity below zero.
#[test]
fn data_quality_warnings_strict_and_equity_floor() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let daily = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/coinbase_btcusd_1d.csv")
        .display()
        .to_string();
    let out = dir.path().join("r.json");
    let args = B::parse_from([
        "x",
        "--strategy",
        "sma_cross",
        "--data",
        &daily,
        "--no-store",
        "--json",
        "--output",
        out.to_str().unwrap(),
    ])
    .a;
    let res = run_backtest_cmd(&cfg, &args).unwrap();
    assert!(res.equity.iter().all(|&e| e >= 0.0));
    assert_eq!(res.metrics.final_equity, 0.0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let w: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("1 gap(s) (12 candles missing): 2019-03-20"),
        "{w:?}"
    );
    assert!(w[1].contains("1 outlier wick(s): 2017-04-15"), "{w:?}");
    let strict = B::parse_from(["x", "--strategy", "sma_cross", "--data", &daily, "--strict"]).a;
    let e = run_backtest_cmd(&cfg, &strict).unwrap_err().to_string();
    assert!(e.contains("--strict") && e.contains("outlier wick"), "{e}");
}

/// A timeframe that is not stored is resampled from a finer stored series (never relabelled,
/// never an error when it can be built), and says so in the warnings.
#[test]
fn coarser_timeframe_is_resampled_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let candles = scalp_core::csvdata::read_candles_csv(std::path::Path::new(&data())).unwrap();
    {
        let conn = scalp_store::open(&dir.path().join("optimize.db")).unwrap();
        let key = scalp_store::SeriesKey {
            exchange: scalp_core::Exchange::Binance,
            symbol: "BTCUSDT",
            timeframe: scalp_core::Timeframe::H1,
        };
        scalp_store::candles::upsert(&conn, &key, &candles).unwrap();
    }
    let out = dir.path().join("r.json");
    let args = |tf: &str| {
        B::parse_from([
            "x",
            "--strategy",
            "sma_cross",
            "--symbol",
            "BTC",
            "--exchange",
            "binance",
            "--timeframe",
            tf,
            "--no-store",
            "--json",
            "--output",
            out.to_str().unwrap(),
        ])
        .a
    };
    let res = run_backtest_cmd(&cfg, &args("4h")).unwrap();
    assert_eq!(res.metrics.n_candles, 5027);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["timeframe"], "4h");
    let w = report["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|x| x
            .as_str()
            .unwrap()
            .ends_with("no 4h series stored: 1h candles resampled to 4h")),
        "{w:?}"
    );
    let e = run_backtest_cmd(&cfg, &args("5m")).unwrap_err().to_string();
    assert!(
        e.contains("no stored candles for binance BTCUSDT 5m"),
        "{e}"
    );
}
