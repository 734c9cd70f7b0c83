//! config/param_grids.toml: parseable as scalp-core's raw tables, one valid section per
//! registered strategy (names, kinds and ranges checked against each strategy's declarations).

use scalp_core::config::{ParamGridsConfig, parse_toml};
use scalp_optimizer::wfo::WfoSpec;

#[test]
fn every_registered_strategy_has_a_valid_grid() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/param_grids.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let g: ParamGridsConfig = parse_toml(&text, "param_grids.toml").unwrap();
    for name in scalp_strategy::STRATEGY_NAMES.iter() {
        let t = g
            .grids
            .get(*name)
            .unwrap_or_else(|| panic!("param_grids.toml: no [{name}]"));
        let s = WfoSpec::from_table(name, t).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(s.grid.len() >= 2, "{name}: grid too small");
        assert!(
            s.grid.len() <= 5000,
            "{name}: grid of {} combos",
            s.grid.len()
        );
    }
    for k in g.grids.keys() {
        assert!(
            scalp_strategy::spec(k).is_some(),
            "param_grids.toml: [{k}] is not a registered strategy"
        );
    }
}

#[test]
fn bad_sections_are_reported_with_the_key() {
    let t: toml::Table =
        toml::from_str("is_days = 10\noos_days = 5\nbogus = 1\ngrid = { fast = \"2..4:1\" }")
            .unwrap();
    let e = WfoSpec::from_table("sma_cross", &t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sma_cross.bogus"), "{e}");
    let t: toml::Table =
        toml::from_str("is_days = 10\noos_days = 5\ngrid = { fsat = \"2..4:1\" }").unwrap();
    let e = WfoSpec::from_table("sma_cross", &t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sma_cross.grid") && e.contains("fsat"), "{e}");
    let t: toml::Table = toml::from_str("oos_days = 5\ngrid = { fast = \"2..4:1\" }").unwrap();
    let e = WfoSpec::from_table("sma_cross", &t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sma_cross.is_days"), "{e}");
}
