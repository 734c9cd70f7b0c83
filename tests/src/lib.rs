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
            } else if l.starts_with("null_permutations") {
                // 4 permuted histories (the shipped 99 re-run each walk-forward 99 times): the
                // tests of the null test itself ask for more with --permutations.
                "null_permutations = 4".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(cfg.join("scalp.toml"), text).unwrap();
    cfg.join("scalp.toml")
}

/// CPU seconds used so far by process `pid` (Linux `/proc/<pid>/stat` utime + stime, USER_HZ 100).
pub fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    (rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap()) as f64 / 100.0
}

/// Waits until process `pid` has a whole 1 s window with under 0.1 s of CPU, for at most 15 s;
/// panics naming `what` and the CPU of each window otherwise. A process that loops on its own
/// wake-ups never has such a window (it uses ~1 s per second, a good part of that even on a
/// loaded machine), while a process that is only finishing its last writes soon has one.
pub fn wait_idle(pid: u32, what: &str) {
    let mut seen = Vec::new();
    for _ in 0..15 {
        let c0 = cpu_s(pid);
        std::thread::sleep(std::time::Duration::from_secs(1));
        let used = cpu_s(pid) - c0;
        if used < 0.1 {
            return;
        }
        seen.push(format!("{used:.2}"));
    }
    panic!(
        "{what} (pid {pid}) never idled: CPU seconds per 1 s window: {}",
        seen.join(", ")
    );
}
