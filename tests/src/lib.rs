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
