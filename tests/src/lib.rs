//! Test support for Scalp Radar's end-to-end tests (`tests/tests/*.rs`):
//! stand-in servers that speak the exact exchange wire formats on 127.0.0.1, and helpers to
//! start the real built binaries. Build the binaries first: `cargo build --bins` (the README's
//! test command does).

pub mod standin;

use std::path::PathBuf;

/// Path of a built workspace binary (`target/<profile>/<name>`), next to the running test's
/// `deps/` directory. Panics with a clear message if it was not built.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "binary {} not found: run `cargo build --bins` before the end-to-end tests",
        p.display()
    );
    p
}

/// Root of the source checkout (for `data/`, `config/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A copy of the shipped `config/` (scalp.toml, assets.toml, strategies.toml, param_grids.toml)
/// in `<dir>/config`, with `data_dir = "../var"` so that nothing is written into the checkout.
/// Returns the path of the copied `scalp.toml`.
pub fn shipped_config_copy(dir: &std::path::Path) -> PathBuf {
    let cfg = dir.join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    for f in [
        "scalp.toml",
        "assets.toml",
        "strategies.toml",
        "param_grids.toml",
    ] {
        std::fs::copy(repo_root().join("config").join(f), cfg.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(cfg.join("scalp.toml")).unwrap();
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("data_dir") {
                "data_dir = \"../var\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(cfg.join("scalp.toml"), text).unwrap();
    cfg.join("scalp.toml")
}
