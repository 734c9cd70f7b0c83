//! End to end: the rough edges of issues 10 and 15, each reproduced with the built binaries
//! (`optimize`, `scalpctl`, `scalp-syncd`, `scalp-collector`) as a new user would hit them.
//! Build first: `cargo build --bins`.

use scalp_e2e::{bin, repo_root};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of the shipped config in a temporary directory, data under `../var`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
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
    (dir, cfg.join("scalp.toml"))
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name)).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Replaces the first occurrence of `from` in a config file (which must contain it).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

/// Every check-config of every program, on one config: (program, args).
fn check_commands(cfg: &str) -> Vec<(&'static str, Vec<String>)> {
    let c = cfg.to_string();
    vec![
        (
            "optimize",
            vec!["--config".into(), c.clone(), "--check-config".into()],
        ),
        (
            "scalpctl",
            vec!["--config".into(), c.clone(), "check-config".into()],
        ),
        (
            "scalp-syncd",
            vec!["--config".into(), c.clone(), "--check-config".into()],
        ),
        (
            "scalp-collector",
            vec!["--config".into(), c, "--check-config".into()],
        ),
    ]
}

#[test]
fn every_check_config_validates_strategy_params_and_grids() {
    let (_d, cfg) = setup();
    let dir = cfg.parent().unwrap().to_path_buf();
    let strategies = dir.join("strategies.toml");
    let c = cfg.to_str().unwrap();

    // A misspelt parameter of strategies.toml: every program refuses it, naming file:line:key.
    edit(&strategies, "atr_start = 2.0", "atr_strat = 2.0");
    let line = line_of(&strategies, "atr_strat");
    let want = format!(
        "{}:{line}: key `grid_atr.params.atr_strat`",
        strategies.display()
    );
    for (prog, args) in check_commands(c) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(prog, &args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{prog} accepted a misspelt parameter");
        assert!(e.contains(&want), "{prog}: {e}");
        assert!(e.contains("atr_start"), "{prog} lists the known names: {e}");
    }
    edit(&strategies, "atr_strat = 2.0", "atr_start = 2.0");

    // A bad grid axis of param_grids.toml, likewise.
    let grids = dir.join("param_grids.toml");
    edit(&grids, "fast = \"2..40:2\"", "fsat = \"2..40:2\"");
    let line = line_of(&grids, "fsat");
    let want = format!("{}:{line}: key `sma_cross.grid`", grids.display());
    for (prog, args) in check_commands(c) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(prog, &args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{prog} accepted a bad grid");
        assert!(e.contains(&want) && e.contains("fsat"), "{prog}: {e}");
    }
}

#[test]
fn docs_are_generated_only_by_the_explicit_hidden_flag() {
    let (_d, cfg) = setup();
    let docs = tempfile::tempdir().unwrap();
    // The old environment switch made any binary, a daemon included, write files and exit 0.
    let o = Command::new(bin("scalp-syncd"))
        .args(["--config", cfg.to_str().unwrap(), "--check-config"])
        .env("SCALP_GENERATE_DOCS", docs.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(": ok"),
        "the check ran"
    );
    assert_eq!(std::fs::read_dir(docs.path()).unwrap().count(), 0);
    // The hidden flag, alone, is the build step.
    let o = Command::new(bin("optimize"))
        .arg("--generate-docs")
        .arg(docs.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(docs.path().join("man/optimize.1").exists());
    assert!(docs.path().join("man/optimize-run.1").exists());
    let help = run("optimize", &["--help"]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate-docs"));
}

#[test]
fn check_config_in_an_empty_directory_does_not_claim_a_file() {
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(bin("optimize"))
        .arg("--check-config")
        .current_dir(empty.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.contains("scalp.toml: ok"), "{out}");
    assert!(out.contains("built-in defaults"), "{out}");
}

#[test]
fn user_errors_print_the_chain_and_no_backtrace() {
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("nope/scalp.toml");
    let o = Command::new(bin("optimize"))
        .arg("--config")
        .arg(&missing)
        .arg("--check-config")
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.starts_with("Error: ") && e.contains("nope/scalp.toml") && e.contains("cannot read"),
        "{e}"
    );
    assert!(!e.contains("backtrace") && !e.contains(".rs:"), "{e}");
}
