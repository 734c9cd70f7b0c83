//! Golden results: every registered strategy (default parameters) on the bundled data under
//! several engine settings, reduced to a digest of every trade field and every equity value
//! (f64 bits). Recorded before the engine became steppable (lib/backtest/src/engine.rs); any
//! change of a single bit in any result fails this test.
//!
//! To re-record after an intended change of results: `SCALP_GOLDEN_RECORD=1 cargo nextest run
//! -p scalp-backtest --test integration golden::`, and say why in the commit.

use scalp_backtest::{
    BacktestConfig, BacktestInput, BacktestResult, EndFill, FillMode, FundingPoint, OiPoint,
    Sizing, run_backtest,
};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::Params;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// FNV-1a over 64-bit words.
struct Digest(u64);
impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
    fn u(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn f(&mut self, x: f64) {
        self.u(x.to_bits());
    }
}

pub fn digest(r: &BacktestResult) -> String {
    let mut d = Digest::new();
    for t in &r.trades {
        d.u(t.side as u64);
        d.u(t.entry_index as u64);
        d.u(t.exit_index as u64);
        d.u(t.entry_time as u64);
        d.u(t.exit_time as u64);
        for x in [
            t.entry_price,
            t.exit_price,
            t.qty,
            t.margin,
            t.fees,
            t.funding,
            t.slippage,
            t.gross_pnl,
            t.net_pnl,
        ] {
            d.f(x);
        }
        d.u(u64::from(t.entries));
        d.u(format!("{:?}{:?}", t.exit_reason, t.regime).len() as u64);
        for b in format!("{:?}{:?}", t.exit_reason, t.regime).bytes() {
            d.u(u64::from(b));
        }
    }
    let mut e = Digest::new();
    for x in &r.equity {
        e.f(*x);
    }
    format!(
        "trades={} digest={:016x} equity={:016x} final={:016x} killed={} stopped={} skipped={}/{} funding={}/{}/{:016x}",
        r.trades.len(),
        d.0,
        e.0,
        r.equity.last().copied().unwrap_or(0.0).to_bits(),
        r.killed.as_ref().map_or(-1, |k| k.index as i64),
        r.stopped.as_ref().map_or(-1, |k| k.index as i64),
        r.skipped_entries,
        r.skipped_min_order,
        r.funding.settlements_historical,
        r.funding.settlements_assumed,
        (r.funding.paid_historical + r.funding.paid_assumed).to_bits()
    )
}

/// Deterministic synthetic funding (every 8 h) and open interest (hourly) over the candles.
fn extras(candles: &[Candle]) -> (Vec<FundingPoint>, Vec<OiPoint>) {
    let t0 = candles[0].open_time.div_euclid(8 * 3_600_000) * 8 * 3_600_000;
    let t1 = candles.last().unwrap().open_time;
    let mut f = Vec::new();
    let mut t = t0;
    let mut k = 0u64;
    while t <= t1 {
        // a wave between about −0.06 % and +0.12 % per 8 h
        let rate = 0.0003 + 0.0009 * ((k as f64) * 0.37).sin();
        f.push(FundingPoint { time: t, rate });
        t += 8 * 3_600_000;
        k += 1;
    }
    let oi = candles
        .iter()
        .enumerate()
        .map(|(i, c)| OiPoint {
            time: c.open_time,
            value: 50_000.0 + 8_000.0 * ((i as f64) * 0.05).sin() + (i % 17) as f64 * 120.0,
        })
        .collect();
    (f, oi)
}

fn settings() -> Vec<(&'static str, BacktestConfig)> {
    let base = BacktestConfig::default();
    let mut close = base.clone();
    close.fill = FillMode::Close;
    close.leverage = 10.0;
    close.end_fill = EndFill::LastOpen;
    let mut lots = base.clone();
    lots.lot_step = 0.001;
    lots.min_qty = 0.001;
    lots.min_notional = 5.0;
    lots.capital = 300.0;
    lots.leverage = 20.0;
    let mut ks = base.clone();
    ks.kill_switch.max_drawdown_pct = Some(15.0);
    ks.kill_switch.max_consecutive_losses = Some(4);
    ks.sizing = Sizing::AllCash;
    let mut nofund = base.clone();
    nofund.funding_rate = None;
    nofund.regime.enabled = false;
    vec![
        ("default", base),
        ("close_lev10", close),
        ("lots_min", lots),
        ("kill_allcash", ks),
        ("nofunding", nofund),
    ]
}

pub fn golden_text() -> String {
    let mut out = String::new();
    for (file, tf) in [
        ("coinbase_btcusd_1h.csv", Timeframe::H1),
        ("coinbase_btcusd_1d.csv", Timeframe::D1),
    ] {
        let candles = scalp_core::csvdata::read_candles_csv(&root().join("data").join(file))
            .expect("bundled data");
        let (funding, oi) = extras(&candles);
        for name in scalp_strategy::STRATEGY_NAMES.iter() {
            let spec = scalp_strategy::spec(name).unwrap();
            let params = Params::defaults(spec.params);
            for (label, cfg) in settings() {
                let mut s = (spec.build)(&params, tf);
                let input = BacktestInput::new("BTCUSDT", tf, &candles)
                    .with_aggregated(&s.timeframes())
                    .with_funding(&funding)
                    .with_open_interest(&oi);
                let line = match run_backtest(&input, s.as_mut(), &cfg) {
                    Ok(r) => digest(&r),
                    Err(e) => format!("error: {e}"),
                };
                writeln!(out, "{file} {name} {label}: {line}").unwrap();
            }
        }
    }
    out
}

#[test]
fn every_strategy_matches_its_golden_result() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/engine.txt");
    let now = golden_text();
    if std::env::var_os("SCALP_GOLDEN_RECORD").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).expect("tests/golden/engine.txt");
    let traded = now.lines().filter(|l| !l.contains("trades=0 ")).count();
    assert!(
        traded > 100,
        "the golden cases must trade to mean anything ({traded})"
    );
    let mut bad = Vec::new();
    for (a, b) in want.lines().zip(now.lines()) {
        if a != b {
            bad.push(format!("want {a}\n got {b}"));
        }
    }
    assert_eq!(want.lines().count(), now.lines().count(), "case count");
    assert!(
        bad.is_empty(),
        "{} cases differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
