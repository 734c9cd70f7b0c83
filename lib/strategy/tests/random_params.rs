//! Random parameter sets (anywhere in the declared ranges) never panic and only produce intents
//! an engine accepts (prices > 0 and finite, margin_frac in (0, 1], levels on the passive side),
//! deterministically.

use crate::driver::{data, run, synthetic_extras};
use proptest::prelude::*;
use scalp_core::Timeframe;
use scalp_strategy::registry::SPECS;
use scalp_strategy::{Intent, ParamKind, Params, Side};

fn params_for(idx: usize, u: &[f64]) -> Params {
    let spec = &SPECS[idx];
    let kv: Vec<(String, f64)> = spec
        .params
        .iter()
        .zip(u)
        .map(|(p, &u)| {
            let x = match p.kind {
                ParamKind::Float => p.min + u * (p.max - p.min),
                // ints: bias towards small values so that warm-ups fit in the sample
                ParamKind::Int => {
                    (p.min + (u * u * u * (p.max.min(400.0) - p.min)).floor()).min(p.max)
                }
                ParamKind::Bool => (u < 0.5) as u8 as f64,
                ParamKind::Choice => (u * p.choices.len() as f64).floor().min(p.max),
            };
            (p.name.to_string(), x)
        })
        .collect();
    Params::defaults(spec.params)
        .with_overrides(spec.name, spec.params, &kv)
        .expect("in range")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_params_give_valid_intents(idx in 0..SPECS.len(), u in prop::collection::vec(0.0f64..1.0, 16), start in 0usize..15_000) {
        let cs = data();
        let cs = &cs[start..start + 3_000];
        let spec = &SPECS[idx];
        let p = params_for(idx, &u);
        let mut s = scalp_strategy::build(spec.name, &p, Timeframe::H1).unwrap();
        let r = run(s.as_mut(), cs, Timeframe::H1, synthetic_extras);
        let mut s2 = scalp_strategy::build(spec.name, &p, Timeframe::H1).unwrap();
        prop_assert_eq!(&r.steps, &run(s2.as_mut(), cs, Timeframe::H1, synthetic_extras).steps);
        for (i, it) in r.all_intents() {
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
