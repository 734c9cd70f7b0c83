//! Random parameter sets (anywhere in the declared ranges) never panic and only produce intents
//! an engine accepts (prices > 0 and finite, margin_frac in (0, 1], levels on the passive side),
//! deterministically.
//!
//! Fed flat: there is no fill model here, so no position ever opens. The same check with
//! positions (the strategies' in-position branches) runs on the real engine in scalp-backtest
//! (`strategy_behaviour::random_params_give_valid_intents_on_the_engine`).

use proptest::prelude::*;
use scalp_core::{Candle, Timeframe};
use scalp_strategy::registry::SPECS;
use scalp_strategy::{Context, Intent, MarketExtras, PositionView, Side, Strategy};
use std::sync::LazyLock;

static DATA: LazyLock<Vec<Candle>> = LazyLock::new(|| {
    let p = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/coinbase_btcusd_1h.csv"
    ));
    scalp_core::csvdata::read_candles_csv(p).expect("bundled data")
});

/// Synthetic, deterministic market extras (no funding/OI history in the bundled data): funding
/// `0.0008·sin(k/7)` (k = the candle's 8 h period), open interest `10 000·(1 + 0.3·sin(i/29))`
/// at candle i.
fn synthetic_extras(i: usize, c: &Candle) -> MarketExtras {
    let k = (c.open_time / (8 * 3_600_000)) as f64;
    MarketExtras {
        funding_rate: Some(0.0008 * (k / 7.0).sin()),
        open_interest: Some(10_000.0 * (1.0 + 0.3 * (i as f64 / 29.0).sin())),
    }
}

/// Every candle of `cs` in order to `s`, flat (higher timeframes by `scalp_core::resample`, each
/// cut to the candles closed at the current close); the intents with their candle index.
fn feed(s: &mut dyn Strategy, cs: &[Candle]) -> Vec<(usize, Intent)> {
    let tf = Timeframe::H1;
    let highers: Vec<(Timeframe, Vec<Candle>)> = s
        .timeframes()
        .into_iter()
        .skip(1)
        .map(|h| (h, scalp_core::resample::resample(cs, tf, h)))
        .collect();
    let (mut all, mut out) = (vec![], vec![]);
    for (i, c) in cs.iter().enumerate() {
        let close = c.open_time + tf.ms();
        let hs: Vec<(Timeframe, &[Candle])> = highers
            .iter()
            .map(|(h, v)| {
                (
                    *h,
                    &v[..v.partition_point(|x| x.open_time + h.ms() <= close)],
                )
            })
            .collect();
        let ctx = Context {
            asset: "BTC",
            candles: &cs[..=i],
            higher: &hs,
            position: PositionView::default(),
            extras: synthetic_extras(i, c),
        };
        out.clear();
        s.on_candle(&ctx, &mut out);
        all.extend(out.drain(..).map(|x| (i, x)));
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_params_give_valid_intents(idx in 0..SPECS.len(), u in prop::collection::vec(0.0f64..1.0, 16), start in 0usize..15_000) {
        let cs = &DATA[start..start + 3_000];
        let spec = &SPECS[idx];
        let p = SPECS[idx].sample_params(&u, 400.0);
        let mut s = scalp_strategy::build(spec.name, &p, Timeframe::H1).unwrap();
        let r = feed(s.as_mut(), cs);
        let mut s2 = scalp_strategy::build(spec.name, &p, Timeframe::H1).unwrap();
        prop_assert_eq!(&r, &feed(s2.as_mut(), cs));
        for (i, it) in &r {
            let i = *i;
            let close = cs[i].close;
            match *it {
                Intent::PlaceLevel { side, price, margin_frac, .. } => {
                    prop_assert!(price.is_finite() && price > 0.0, "{} {:?}", spec.name, it);
                    prop_assert!(margin_frac > 0.0 && margin_frac <= 1.0, "{} {:?}", spec.name, it);
                    let passive = if side == Side::Long { price < close } else { price > close };
                    prop_assert!(passive, "{} {:?}", spec.name, it);
                }
                Intent::MarketEntry { margin_frac, .. } => prop_assert!(margin_frac > 0.0 && margin_frac <= 1.0),
                Intent::SetStop { price } | Intent::SetTakeProfit { price } => {
                    prop_assert!(price.is_finite() && price > 0.0, "{} {:?} {:?}", spec.name, it, p)
                }
                _ => {}
            }
        }
    }
}
