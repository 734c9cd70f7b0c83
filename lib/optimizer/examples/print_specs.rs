//! Prints every registered strategy's parameter declarations (used to write param_grids.toml).
fn main() {
    for name in scalp_strategy::STRATEGY_NAMES.iter() {
        let s = scalp_strategy::spec(name).unwrap();
        println!("[{name}]");
        for p in s.params {
            println!(
                "  {} {:?} default={} min={} max={} {:?}",
                p.name, p.kind, p.default, p.min, p.max, p.choices
            );
        }
    }
}
