use scalp_core::config::{Config, ConfigError, LogFormat};
use std::path::PathBuf;

/// Command-line arguments shared by every daemon. Flatten it into the binary's parser:
/// `#[command(flatten)] daemon: DaemonArgs`.
#[derive(clap::Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Main config file; its siblings (assets.toml, strategies.toml, param_grids.toml) are
    /// looked up next to it.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/etc/scalp-radar/scalp.toml"
    )]
    pub config: PathBuf,
    /// Validate the configuration (and the files it names) and exit: 0 if valid, otherwise
    /// print `file:line:col: key ...: message` and exit 2.
    #[arg(long)]
    pub check_config: bool,
    /// Log format on stderr (overrides `[log].format`). Ignored when logging to journald.
    #[arg(long, value_name = "text|json", value_parser = parse_log_format)]
    pub log_format: Option<LogFormat>,
    /// Data directory (overrides `[paths].data_dir`); relative to the current directory.
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("`{other}`: expected `text` or `json`")),
    }
}

impl DaemonArgs {
    /// Arguments for a given config file, everything else default (tests, tools).
    pub fn for_config(config: impl Into<PathBuf>) -> Self {
        DaemonArgs {
            config: config.into(),
            check_config: false,
            log_format: None,
            data_dir: None,
        }
    }

    /// Loads and validates the configuration (strategy parameters and grids included, see
    /// [`scalp_strategy::check::check_config`]), then applies the command-line overrides
    /// (`--log-format`, `--data-dir`).
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut cfg = scalp_strategy::check::load_config(&self.config)?;
        if let Some(f) = self.log_format {
            cfg.main.log.format = f;
        }
        if let Some(d) = &self.data_dir {
            let abs = std::path::absolute(d).map_err(|e| ConfigError {
                file: "--data-dir".into(),
                line: None,
                column: None,
                key: None,
                message: format!("{}: {e}", d.display()),
            })?;
            cfg.main.paths.data_dir = abs;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        d: DaemonArgs,
    }

    fn write_config(dir: &std::path::Path, extra: &str) -> PathBuf {
        let d = scalp_core::config::defaults::ASSETS_TOML;
        std::fs::write(dir.join("assets.toml"), d).unwrap();
        std::fs::write(
            dir.join("strategies.toml"),
            scalp_core::config::defaults::STRATEGIES_TOML,
        )
        .unwrap();
        std::fs::write(
            dir.join("param_grids.toml"),
            scalp_core::config::defaults::PARAM_GRIDS_TOML,
        )
        .unwrap();
        let p = dir.join("scalp.toml");
        std::fs::write(&p, format!("[paths]\ndata_dir = \"data\"\n{extra}")).unwrap();
        p
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Cli::parse_from(["x"]);
        assert_eq!(c.d.config, PathBuf::from("/etc/scalp-radar/scalp.toml"));
        assert!(!c.d.check_config && c.d.log_format.is_none() && c.d.data_dir.is_none());

        let t = tempfile::tempdir().unwrap();
        let p = write_config(t.path(), "[log]\nformat = \"text\"\n");
        let c = Cli::parse_from([
            "x",
            "--config",
            p.to_str().unwrap(),
            "--log-format",
            "json",
            "--data-dir",
            "/srv/scalp",
        ]);
        let cfg = c.d.load_config().unwrap();
        assert_eq!(cfg.main.log.format, LogFormat::Json);
        assert_eq!(cfg.data_dir(), PathBuf::from("/srv/scalp"));

        // Without override, data_dir is relative to the config file's directory.
        let cfg = DaemonArgs::for_config(&p).load_config().unwrap();
        assert_eq!(cfg.data_dir(), t.path().join("data"));
        assert!(Cli::try_parse_from(["x", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn config_error_names_file_line_key() {
        let t = tempfile::tempdir().unwrap();
        let p = write_config(t.path(), "[collector]\nbogus_key = 1\n");
        let e = DaemonArgs::for_config(&p)
            .load_config()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("{}:4:", p.display())), "{e}");
        assert!(e.contains("bogus_key"), "{e}");
    }
}
