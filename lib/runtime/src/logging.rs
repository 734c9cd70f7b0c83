use scalp_core::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Crates whose TRACE events are raw wire frames: tungstenite dumps every WebSocket frame at
/// TRACE, the Bitget login frame with the API passphrase included (docs/BROKER.md). Secrets are
/// never logged, so these targets are capped at DEBUG even under `RUST_LOG=trace`.
pub const WIRE_TARGETS: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// A global filter layer that drops TRACE events and spans of [`WIRE_TARGETS`] (and their
/// modules) and passes everything else to the other filters.
pub fn no_wire_trace() -> FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    fn keep(m: &tracing::Metadata<'_>) -> bool {
        *m.level() != tracing::Level::TRACE
            || !WIRE_TARGETS.iter().any(|t| {
                m.target() == *t
                    || m.target()
                        .strip_prefix(t)
                        .is_some_and(|r| r.starts_with("::"))
            })
    }
    FilterFn::new(keep as fn(&tracing::Metadata<'_>) -> bool)
}

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
/// - Whatever the filter says, the WebSocket libraries never log at TRACE ([`no_wire_trace`]).
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
                    .with(no_wire_trace())
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
                .with(no_wire_trace())
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
                .with(no_wire_trace())
                .with(filter)
                .with(layer)
                .try_init();
        }
    }
    LogTarget::Stderr(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Under `trace` for everything, the wire crates' TRACE lines (where tungstenite prints
    /// frames) are dropped, their DEBUG lines and every other crate's TRACE lines are kept.
    #[test]
    fn wire_frames_are_never_logged_even_at_trace() {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::registry()
            .with(no_wire_trace())
            .with(EnvFilter::new("trace"))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || w.clone())
                    .with_ansi(false),
            );
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(target: "tungstenite::protocol", "frame {{\"passphrase\":\"P4SS\"}}");
            tracing::trace!(target: "tokio_tungstenite", "frame P4SS2");
            tracing::debug!(target: "tungstenite::handshake", "handshake done");
            tracing::trace!(target: "tungstenite_like_other", "kept trace A");
            tracing::trace!(target: "scalp_broker::ws", "kept trace B");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("P4SS"), "{out}");
        for kept in ["handshake done", "kept trace A", "kept trace B"] {
            assert!(out.contains(kept), "{kept} missing: {out}");
        }
    }
}
