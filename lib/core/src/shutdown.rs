//! The one stop signal of the project: the daemons' SIGTERM flag (scalp-runtime), the exchange
//! streams' and the collector's stop (scalp-exchange, scalp-marketdata) are this type.

use std::sync::Arc;
use tokio::sync::watch;

/// A cloneable stop signal (like a cancellation token): [`Shutdown::trigger`] once, every clone
/// sees it and [`Shutdown::wait`] returns.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Signals every clone to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once [`Shutdown::trigger`] has been called (immediately if it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
