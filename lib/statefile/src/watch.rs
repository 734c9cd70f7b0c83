//! Directory watcher: file-change events are hints, the periodic re-read is the guarantee.

use crate::{Envelope, ReadOutcome, try_read};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::de::DeserializeOwned;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::watch as tw;

/// Watches the state file at `path` (payload schema `version`) and publishes every new good
/// envelope (new `seq`/`written_at`) on the returned channel.
///
/// * The initial value is the file as read now (`None` if absent/invalid).
/// * A background thread watches the **parent directory** with `notify` (a watch on the file
///   itself would die at the first rename-over), keeps only events whose path has the file's
///   name, and re-reads on each of them (bursts are coalesced) and at least every `interval`.
/// * An absent or invalid file never replaces a published value (the last good copy stays);
///   the problem is logged once per distinct reason.
/// * If the directory does not exist yet or `notify` fails, the thread keeps polling every
///   `interval` and retries the directory watch.
/// * The thread ends when every receiver has been dropped (checked at each wake-up).
///
/// Works without a tokio runtime (the channel is runtime-agnostic); in async code use
/// `rx.changed().await`.
pub fn watch<T>(
    path: impl Into<PathBuf>,
    version: u32,
    interval: Duration,
) -> tw::Receiver<Option<Envelope<T>>>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    let path = path.into();
    let mut tracker = Tracker::new(path.clone(), version);
    let (tx, rx) = tw::channel(tracker.next());
    let spawned = std::thread::Builder::new()
        .name("statefile-watch".into())
        .spawn(move || run(path, tracker, tx, interval));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "STATE FILE watcher thread could not start; value will not update");
    }
    rx
}

/// Re-reads the file and yields each new good envelope once (by `(seq, written_at)`); warns
/// once per distinct problem. Unlike `TolerantReader` it hands the envelope over instead of
/// keeping it (the channel holds the last good value), so `T` needs no `Clone`.
struct Tracker {
    path: PathBuf,
    version: u32,
    last_key: Option<(u64, String)>,
    last_problem: Option<String>,
}

impl Tracker {
    fn new(path: PathBuf, version: u32) -> Self {
        Tracker {
            path,
            version,
            last_key: None,
            last_problem: None,
        }
    }

    fn next<T: DeserializeOwned>(&mut self) -> Option<Envelope<T>> {
        let problem = match try_read::<T>(&self.path, self.version) {
            ReadOutcome::Ok(env) => {
                if self.last_problem.take().is_some() {
                    tracing::info!(path = %self.path.display(), seq = env.seq, "STATE FILE readable again");
                }
                let key = (env.seq, env.written_at.clone());
                if self.last_key.as_ref() == Some(&key) {
                    return None;
                }
                self.last_key = Some(key);
                return Some(env);
            }
            ReadOutcome::Missing => format!("{}: absent", self.path.display()),
            ReadOutcome::Invalid(reason) => reason,
        };
        if self.last_problem.as_deref() != Some(problem.as_str()) {
            tracing::warn!(path = %self.path.display(), reason = %problem, kept_seq = ?self.last_key.as_ref().map(|k| k.0),
                "STATE FILE unusable, keeping last good copy");
            self.last_problem = Some(problem);
        }
        None
    }
}

fn run<T: DeserializeOwned + Send + Sync>(
    path: PathBuf,
    mut tracker: Tracker,
    tx: tw::Sender<Option<Envelope<T>>>,
    interval: Duration,
) {
    let name: OsString = path.file_name().map(OsString::from).unwrap_or_default();
    let dir: PathBuf = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let (ev_tx, ev_rx) = mpsc::channel::<()>();
    let mut watcher: Option<RecommendedWatcher> = None;
    let mut last_watch_error: Option<String> = None;
    loop {
        if watcher.is_none() {
            match start_watcher(&dir, name.clone(), ev_tx.clone()) {
                Ok(w) => {
                    watcher = Some(w);
                    last_watch_error = None;
                    // Anything that happened before the watch existed is caught by this read.
                    publish::<T>(&mut tracker, &tx);
                }
                Err(e) => {
                    let e = e.to_string();
                    if last_watch_error.as_deref() != Some(e.as_str()) {
                        tracing::warn!(dir = %dir.display(), error = %e,
                            "STATE FILE directory watch unavailable, polling only");
                        last_watch_error = Some(e);
                    }
                }
            }
        }
        // Wait for an event or the periodic tick (ev_tx is held here, so no disconnect), then
        // coalesce a burst of events into one re-read.
        let _ = ev_rx.recv_timeout(interval);
        while ev_rx.try_recv().is_ok() {}
        if tx.is_closed() {
            return;
        }
        publish::<T>(&mut tracker, &tx);
    }
}

fn publish<T: DeserializeOwned>(tracker: &mut Tracker, tx: &tw::Sender<Option<Envelope<T>>>) {
    if let Some(env) = tracker.next::<T>() {
        let _ = tx.send(Some(env));
    }
}

/// Whether an event can mean new content. notify's inotify backend also reports every open
/// and every read-only close (`EventKind::Access`): re-reading on those would wake the watcher
/// on its own reads (and on every reader's), an endless loop at 100 % of a core.
pub fn is_change(kind: &notify::EventKind) -> bool {
    !matches!(kind, notify::EventKind::Access(_))
}

fn start_watcher(
    dir: &Path,
    name: OsString,
    ev_tx: mpsc::Sender<()>,
) -> notify::Result<RecommendedWatcher> {
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) => {
            if is_change(&ev.kind)
                && ev
                    .paths
                    .iter()
                    .any(|p| p.file_name() == Some(name.as_os_str()))
            {
                let _ = ev_tx.send(());
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "STATE FILE watch error; relying on periodic re-read");
            let _ = ev_tx.send(());
        }
    })?;
    w.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(w)
}
