use scalp_core::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where [`init_logging`] sent the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Journald,
    Stderr(LogFormat),
}

/// Installs the global tracing subscriber.
///
/// - Filter: `RUST_LOG` if set, otherwise `[log].level` (EnvFilter syntax). An invalid
///   directive falls back to `info` with a warning.
/// - `JOURNAL_STREAM` set (systemd connected our stderr to the journal): native journald
///   records with structured fields and priorities. If journald cannot be reached, falls back to
///   stderr and says so.
/// - Otherwise stderr, in `format_override` or `[log].format` (`text` or `json`).
///
/// Call once, early; a second call is a no-op (the first subscriber stays).
pub fn init_logging(cfg: &LogConfig, format_override: Option<LogFormat>) -> LogTarget {
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => match EnvFilter::try_new(&s) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new("info"), Some(format!("RUST_LOG `{s}`: {e}"))),
        },
        _ => match EnvFilter::try_new(&cfg.level) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new("info"),
                Some(format!("[log].level `{}`: {e}", cfg.level)),
            ),
        },
    };
    let format = format_override.unwrap_or(cfg.format);
    let mut journald_err = None;
    let target = if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            Ok(layer) => {
                let _ = tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
                    .try_init();
                LogTarget::Journald
            }
            Err(e) => {
                journald_err = Some(e);
                init_stderr(filter, format)
            }
        }
    } else {
        init_stderr(filter, format)
    };
    if let Some(e) = journald_err {
        tracing::warn!(
            "JOURNAL_STREAM is set but journald is unreachable ({e}); logging to stderr"
        );
    }
    if let Some(msg) = bad_filter {
        tracing::warn!("invalid log filter {msg}; using `info`");
    }
    target
}

fn init_stderr(filter: EnvFilter, format: LogFormat) -> LogTarget {
    let ansi = std::io::stderr().is_terminal();
    match format {
        LogFormat::Text => {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_target(false);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
        }
        LogFormat::Json => {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(std::io::stderr);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
        }
    }
    LogTarget::Stderr(format)
}
