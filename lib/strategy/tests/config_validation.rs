//! config/strategies.toml validates against the declared parameters; bad entries are errors
//! naming the strategy and the parameter.

use scalp_core::config::{StrategiesConfig, parse_toml};
use scalp_strategy::registry::{SPECS, params_for, validate_config};
use scalp_strategy::{ParamError, Params};

const SHIPPED: &str = include_str!("../../../config/strategies.toml");

fn parse(text: &str) -> StrategiesConfig {
    parse_toml(text, "strategies.toml").unwrap()
}

#[test]
fn shipped_strategies_toml_validates() {
    let cfg = parse(SHIPPED);
    validate_config(&cfg).unwrap();
    // every registered strategy has an entry, and nothing else is listed
    let names: Vec<&str> = cfg.strategies.keys().map(String::as_str).collect();
    for s in SPECS {
        assert!(
            names.contains(&s.name),
            "strategies.toml lacks [{}]",
            s.name
        );
    }
    assert_eq!(names.len(), SPECS.len());
    for s in SPECS {
        let entry = &cfg.strategies[s.name];
        let (p, _) = params_for(s.name, entry, None).unwrap();
        if s.name != "sma_cross" {
            // the shipped base params are the declared defaults, spelled out
            assert_eq!(
                p,
                Params::defaults(s.params),
                "[{}.params] differs from the declared defaults",
                s.name
            );
            for spec in s.params {
                assert!(
                    entry.params.contains_key(spec.name),
                    "[{}.params] lacks `{}`",
                    s.name,
                    spec.name
                );
            }
            assert!(
                entry.per_asset.contains_key("BTC"),
                "[{}.per_asset.BTC] example missing",
                s.name
            );
        }
        for asset in entry.per_asset.keys() {
            let (pa, _) = params_for(s.name, entry, Some(asset)).unwrap();
            assert_ne!(pa, p, "[{}.per_asset.{asset}] changes nothing", s.name);
        }
    }
}

fn err(text: &str) -> ParamError {
    validate_config(&parse(text)).unwrap_err()
}

#[test]
fn unknown_and_out_of_range_params_are_named() {
    let e = err("[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.params]\natr_strat = 2.0\n");
    assert!(
        matches!(&e, ParamError::Unknown { strategy, name, .. } if strategy == "grid_atr" && name == "atr_strat"),
        "{e}"
    );
    assert!(
        e.to_string().contains("atr_start"),
        "lists known names: {e}"
    );

    let e = err("[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.params]\nlevels = 50\n");
    assert!(
        matches!(&e, ParamError::Invalid { strategy, name, .. } if strategy == "grid_atr" && name == "levels"),
        "{e}"
    );

    let e = err("[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.params]\nlevels = 2.5\n");
    assert!(e.to_string().contains("`levels`"), "{e}");

    let e = err("[grid_range_atr]\ntimeframe = \"1h\"\n[grid_range_atr.params]\nsides = \"up\"\n");
    assert!(
        e.to_string().contains("`sides`") && e.to_string().contains("long, short, both"),
        "{e}"
    );

    let e = err("[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.per_asset.ETH]\nsl_pct = 1.5\n");
    let msg = e.to_string();
    assert!(
        msg.contains("grid_atr (per_asset.ETH)") && msg.contains("`sl_pct`"),
        "{msg}"
    );

    let e = err("[grid_atr]\ntimeframe = \"1h\"\n[grid_atr.per_asset.ETH]\ntimeframe = \"7m\"\n");
    assert!(e.to_string().contains("`timeframe`"), "{e}");

    let e = err("[grid_atx]\ntimeframe = \"1h\"\n");
    assert_eq!(e, ParamError::UnknownStrategy("grid_atx".into()));
}

#[test]
fn per_asset_overrides_apply() {
    let cfg = parse(SHIPPED);
    let e = &cfg.strategies["grid_atr"];
    let (p, tf) = params_for("grid_atr", e, Some("BTC")).unwrap();
    assert_eq!(p.get("atr_start"), 2.5);
    assert_eq!(tf, scalp_core::Timeframe::H1);
    let (p, _) = params_for("grid_atr", e, Some("SOL")).unwrap();
    assert_eq!(p.get("atr_start"), 2.0);
    let (p, _) = params_for(
        "grid_range_atr",
        &cfg.strategies["grid_range_atr"],
        Some("BTC"),
    )
    .unwrap();
    assert_eq!(p.usize("tp_mode"), 1, "choice `step` is index 1");
}
