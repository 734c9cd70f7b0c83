//! `scalpctl check-config`: loads `scalp.toml` and its sibling files exactly like the daemons
//! do (unknown keys rejected, strategy parameters and grids checked against the strategies'
//! declarations, errors `file:line:col: key `a.b`: message`), then checks what only
//! the server installation has: the replay data file exists, and `secrets.env` (next to
//! `scalp.toml`) is not readable by other users.

use crate::AdminError;
use scalp_core::config::ConfigError;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfigReport {
    /// Every file that was read.
    pub files: Vec<String>,
    pub assets: usize,
    pub strategies: usize,
    pub sources: Vec<String>,
    pub data_dir: String,
    pub db: String,
    /// Non-fatal remarks (e.g. no secrets.env).
    pub notes: Vec<String>,
}

pub fn check_config(path: &Path) -> Result<ConfigReport, AdminError> {
    let cfg = scalp_strategy::check::load_config(path)?;
    let p = &cfg.main.paths;
    let files = [
        cfg.path.clone(),
        cfg.resolve(&p.assets),
        cfg.resolve(&p.strategies),
        cfg.resolve(&p.param_grids),
    ]
    .iter()
    .map(|f| f.display().to_string())
    .collect();
    let mut notes = Vec::new();
    let sources: Vec<String> = cfg
        .main
        .collector
        .sources
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    if sources.iter().any(|s| s == "replay") {
        let file = cfg.resolve(&p.bundled_data_dir).join(&cfg.main.replay.file);
        if !file.is_file() {
            let text = std::fs::read_to_string(path).ok();
            return Err(ConfigError::invalid(
                &path.display().to_string(),
                text.as_deref(),
                "replay.file",
                format!("replay data file {} does not exist", file.display()),
            )
            .into());
        }
    }
    let secrets = cfg.dir().join("secrets.env");
    match std::fs::metadata(&secrets) {
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o007 != 0 {
                return Err(AdminError::Other(format!(
                    "{}: mode {mode:04o} lets every user read the secrets; run: chmod 0640 {}",
                    secrets.display(),
                    secrets.display()
                )));
            }
        }
        Err(_) => notes.push(format!(
            "{} does not exist (needed for API keys; install.sh creates it)",
            secrets.display()
        )),
    }
    Ok(ConfigReport {
        files,
        assets: cfg.assets.assets.len(),
        strategies: cfg.strategies.strategies.len(),
        sources,
        data_dir: cfg.data_dir().display().to_string(),
        db: cfg.db_path().display().to_string(),
        notes,
    })
}
