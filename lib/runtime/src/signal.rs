use std::future::Future;
use tokio::signal::unix::{SignalKind, signal};

/// Returns a future that resolves on the first SIGTERM or SIGINT with the signal's name (also
/// logged at info as `SIGNAL SIGTERM received`).
///
/// The handlers are installed when this function is called (inside a tokio runtime), not when
/// the future is first polled, so a signal arriving in between is not lost.
pub fn shutdown_signal() -> impl Future<Output = &'static str> + Send + 'static {
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("SIGNAL {name} received: shutting down");
        name
    }
}
