//! Restart property: a runner run uninterrupted equals the same runner run k steps, saved
//! (engine state in CBOR + `Strategy::save_state`), restored into fresh instances and continued
//! — with only a bounded window of candles after the restart. Identical trades and equity bits,
//! for every registered strategy, random cut points, several engine settings.

use proptest::prelude::*;
use scalp_backtest::{
    BacktestConfig, BacktestInput, Bar, Engine, EngineState, FillMode, FundingPoint, run_backtest,
};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::{MarketExtras, Params, Strategy};
use std::sync::LazyLock;

static DATA: LazyLock<Vec<Candle>> = LazyLock::new(|| {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    scalp_core::csvdata::read_candles_csv(&p).unwrap()
});

fn funding(candles: &[Candle]) -> Vec<FundingPoint> {
    let t0 = candles[0].open_time.div_euclid(28_800_000) * 28_800_000;
    (0..candles.len() / 8 + 2)
        .map(|k| FundingPoint {
            time: t0 + k as i64 * 28_800_000,
            rate: 0.0002 * ((k as f64) * 0.7).sin(),
        })
        .collect()
}

fn settings(v: u8) -> BacktestConfig {
    let mut c = BacktestConfig::default();
    match v {
        1 => {
            c.fill = FillMode::Close;
            c.leverage = 10.0;
        }
        2 => {
            c.lot_step = 0.001;
            c.min_notional = 5.0;
            c.kill_switch.max_drawdown_pct = Some(30.0);
        }
        _ => {}
    }
    c
}

/// Steps `candles[from..to]` with the backtest's higher-timeframe and extras rules; `window`:
/// how many trailing primary candles each step sees (usize::MAX: all).
#[allow(clippy::too_many_arguments)]
fn drive(
    e: &mut Engine,
    s: &mut dyn Strategy,
    candles: &[Candle],
    higher: &[(Timeframe, Vec<Candle>)],
    funding: &[FundingPoint],
    from: usize,
    to: usize,
    window: usize,
    equity: &mut Vec<f64>,
) {
    let tf = Timeframe::H1.ms();
    for i in from..to {
        let close = candles[i].open_time + tf;
        let hs: Vec<(Timeframe, &[Candle])> = higher
            .iter()
            .map(|(t, h)| {
                let j = h.partition_point(|x| x.open_time + t.ms() <= close);
                (*t, &h[..j])
            })
            .collect();
        let k = funding.partition_point(|f| f.time <= close);
        let extras = MarketExtras {
            funding_rate: (k > 0).then(|| funding[k - 1].rate),
            open_interest: None,
        };
        let lo = (i + 1).saturating_sub(window);
        let bar = Bar {
            candles: &candles[lo..=i],
            higher: &hs,
            funding,
            extras,
        };
        equity.push(e.step(&bar, "BTC", s, None).unwrap());
    }
}

fn check(name: &str, offset: usize, n: usize, cut: f64, v: u8) {
    let spec = scalp_strategy::spec(name).unwrap();
    let params = Params::defaults(spec.params);
    let candles = &DATA[offset..offset + n];
    let fund = funding(candles);
    let cfg = settings(v);
    let mut s0 = (spec.build)(&params, Timeframe::H1);
    let input = BacktestInput::new("BTC", Timeframe::H1, candles)
        .with_aggregated(&s0.timeframes())
        .with_funding(&fund);
    let full = match run_backtest(&input, s0.as_mut(), &cfg) {
        Ok(r) => r,
        Err(_) => return, // e.g. a higher timeframe the primary cannot make
    };
    let tfs = (spec.build)(&params, Timeframe::H1).timeframes();
    let higher = input.higher.clone();
    let k = ((n as f64 * cut) as usize).clamp(1, n - 1);

    // Part 1: k steps, then save.
    let mut s1 = (spec.build)(&params, Timeframe::H1);
    let mut e1 = Engine::new(cfg.clone(), Timeframe::H1, candles[0].open_time).unwrap();
    let mut equity = Vec::new();
    drive(
        &mut e1,
        s1.as_mut(),
        candles,
        &higher,
        &fund,
        0,
        k,
        usize::MAX,
        &mut equity,
    );
    let mut blob = Vec::new();
    ciborium::into_writer(e1.state(), &mut blob).unwrap();
    let sblob = s1.save_state().unwrap();
    let mut trades = e1.take_trades();
    drop((e1, s1));

    // Part 2: fresh instances, restored, bounded window.
    let state: EngineState = ciborium::from_reader(blob.as_slice()).unwrap();
    let mut e2 = Engine::resume(cfg.clone(), Timeframe::H1, state).unwrap();
    let mut s2 = (spec.build)(&params, Timeframe::H1);
    s2.load_state(&sblob).unwrap();
    assert_eq!(s2.timeframes(), tfs);
    let window = s2.history_needed().max(cfg.regime.window + 1);
    drive(
        &mut e2,
        s2.as_mut(),
        candles,
        &higher,
        &fund,
        k,
        n,
        window,
        &mut equity,
    );
    if let Some(eq) = e2.finish(&candles[n - 1], s2.as_mut()) {
        *equity.last_mut().unwrap() = eq;
    }
    trades.extend(e2.take_trades());

    assert_eq!(
        format!("{:?}", trades),
        format!("{:?}", full.trades),
        "{name} v{v} offset {offset} n {n} cut at {k}: trades"
    );
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&equity),
        bits(&full.equity),
        "{name} v{v} cut at {k}: equity bits"
    );
    assert_eq!(e2.state().killed, full.killed, "{name}: kill switch");
}

#[test]
fn every_strategy_resumes_bit_identically_at_fixed_cuts() {
    for name in scalp_strategy::STRATEGY_NAMES.iter() {
        for v in 0..3 {
            for cut in [0.05, 0.5, 0.93] {
                check(name, 1000, 4000, cut, v);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_strategy_cut_and_settings_resume_bit_identically(
        which in 0usize..64, offset in 0usize..15_000, n in 300usize..3000,
        cut in 0.01f64..0.99, v in 0u8..3,
    ) {
        let names = &*scalp_strategy::STRATEGY_NAMES;
        let name = names[which % names.len()];
        check(name, offset.min(DATA.len() - n), n, cut, v);
    }
}
