//! `sma_cross` fast=10 slow=30 on the bundled Coinbase BTC-USD 1h candles must reproduce what
//! backtesting.py 0.6.6 reports for the same settings (figures produced by
//! `tests/reference/backtestingpy_sma_cross.py`, stored in
//! `tests/reference/sma_cross_btcusd_1h.json`).

use scalp_backtest::{BacktestConfig, BacktestInput, EndFill, FillMode, Sizing, run_backtest};
use scalp_core::Timeframe;
use scalp_strategy::{ExitReason, Params, Side};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rel_eq(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

/// The settings of the reference run, in this engine's terms.
fn reference_config() -> BacktestConfig {
    BacktestConfig {
        capital: 10_000.0,
        leverage: 1.0,
        maker_fee: 0.001,
        taker_fee: 0.001,
        slippage: 0.0,
        funding_rate: None,
        fill: FillMode::NextOpen,
        sizing: Sizing::AllCash,
        lot_step: 0.000_000_01,
        end_fill: EndFill::LastOpen,
        ..BacktestConfig::default()
    }
}

#[test]
fn sma_cross_matches_backtesting_py() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/reference/sma_cross_btcusd_1h.json")).unwrap(),
    )
    .unwrap();
    let candles =
        scalp_core::csvdata::read_candles_csv(&root().join("data/coinbase_btcusd_1h.csv")).unwrap();
    let spec = scalp_strategy::spec("sma_cross").unwrap();
    let params = Params::defaults(spec.params)
        .with_overrides(
            "sma_cross",
            spec.params,
            &[("fast".into(), 10.0), ("slow".into(), 30.0)],
        )
        .unwrap();
    let mut s = (spec.build)(&params, Timeframe::H1);
    let input = BacktestInput::new("BTC", Timeframe::H1, &candles);
    let res = run_backtest(&input, s.as_mut(), &reference_config()).unwrap();

    let rt = reference["trades"].as_array().unwrap();
    assert_eq!(res.trades.len(), rt.len(), "trade count");
    assert_eq!(
        res.trades.len() as u64,
        reference["n_trades"].as_u64().unwrap()
    );
    for (k, (t, r)) in res.trades.iter().zip(rt).enumerate() {
        assert_eq!(t.side, Side::Long);
        assert_eq!(
            t.entry_time,
            r["entry_time"].as_i64().unwrap(),
            "trade {k} entry time"
        );
        assert_eq!(
            t.exit_time,
            r["exit_time"].as_i64().unwrap(),
            "trade {k} exit time"
        );
        assert_eq!(
            t.entry_index as u64,
            r["entry_bar"].as_u64().unwrap(),
            "trade {k} entry bar"
        );
        assert_eq!(
            t.exit_index as u64,
            r["exit_bar"].as_u64().unwrap(),
            "trade {k} exit bar"
        );
        let lots = (t.qty / 1e-8).round() as u64;
        assert_eq!(
            lots,
            r["lots"].as_u64().unwrap(),
            "trade {k} size in lots of 1e-8"
        );
        assert!(
            rel_eq(t.qty, r["size"].as_f64().unwrap()),
            "trade {k} size {} vs {}",
            t.qty,
            r["size"]
        );
        assert!(
            rel_eq(t.entry_price, r["entry_price"].as_f64().unwrap()),
            "trade {k} entry {} vs {}",
            t.entry_price,
            r["entry_price"]
        );
        assert!(
            rel_eq(t.exit_price, r["exit_price"].as_f64().unwrap()),
            "trade {k} exit {} vs {}",
            t.exit_price,
            r["exit_price"]
        );
        assert!(
            rel_eq(t.net_pnl, r["pnl"].as_f64().unwrap()),
            "trade {k} pnl {} vs {}",
            t.net_pnl,
            r["pnl"]
        );
        assert!(
            rel_eq(t.fees, r["commission"].as_f64().unwrap()),
            "trade {k} fees {} vs {}",
            t.fees,
            r["commission"]
        );
        assert!(matches!(
            t.exit_reason,
            ExitReason::Signal | ExitReason::EndOfData
        ));
    }
    let m = &res.metrics;
    let fe = reference["final_equity"].as_f64().unwrap();
    assert!(
        rel_eq(m.final_equity, fe),
        "final equity {} vs {fe}",
        m.final_equity
    );
    let dd = reference["max_drawdown_pct"].as_f64().unwrap();
    assert!(
        rel_eq(m.max_drawdown_pct, dd),
        "max drawdown {} vs {dd}",
        m.max_drawdown_pct
    );
    assert_eq!(
        res.equity.len() as u64,
        reference["n_bars"].as_u64().unwrap()
    );
}
