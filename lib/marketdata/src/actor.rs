//! A dedicated thread that owns a blocking resource (the SQLite connection) and runs closures
//! sent from async code, one at a time, in order. rusqlite blocks, so the tokio workers never
//! touch it directly.

use tokio::sync::{mpsc, oneshot};

type Job<T> = Box<dyn FnOnce(&mut T) + Send + 'static>;

/// Handle to the owning thread. Cloning shares the same thread and queue.
pub struct DbActor<T> {
    tx: mpsc::Sender<Job<T>>,
}

impl<T> Clone for DbActor<T> {
    fn clone(&self) -> Self {
        DbActor {
            tx: self.tx.clone(),
        }
    }
}

/// The owning thread stopped (its resource panicked or the actor was shut down).
#[derive(Debug, thiserror::Error)]
#[error("the database thread has stopped")]
pub struct ActorGone;

impl<T: Send + 'static> DbActor<T> {
    /// Starts the thread named `name`; `open` runs on it and creates the resource. Returns the
    /// handle and the thread's join handle (joins once every handle is dropped).
    pub fn spawn<E: Send + 'static>(
        name: &str,
        open: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<(Self, std::thread::JoinHandle<()>), E> {
        let (tx, mut rx) = mpsc::channel::<Job<T>>(64);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), E>>();
        let join = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut res = match open() {
                    Ok(r) => {
                        let _ = ready_tx.send(Ok(()));
                        r
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Some(job) = rx.blocking_recv() {
                    job(&mut res);
                }
            })
            .expect("spawn database thread");
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((DbActor { tx }, join)),
            Ok(Err(e)) => {
                let _ = join.join();
                Err(e)
            }
            Err(_) => panic!("database thread panicked while opening"),
        }
    }

    /// Runs `f` on the owning thread and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, ActorGone> {
        let (rtx, rrx) = oneshot::channel();
        let job: Job<T> = Box::new(move |t| {
            let _ = rtx.send(f(t));
        });
        self.tx.send(job).await.map_err(|_| ActorGone)?;
        rrx.await.map_err(|_| ActorGone)
    }

    /// Blocking variant for non-async callers (must not be called from a tokio worker).
    pub fn call_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, ActorGone> {
        let (rtx, rrx) = oneshot::channel();
        let job: Job<T> = Box::new(move |t| {
            let _ = rtx.send(f(t));
        });
        self.tx.blocking_send(job).map_err(|_| ActorGone)?;
        rrx.blocking_recv().map_err(|_| ActorGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_in_order_on_its_thread() {
        let (a, join) = DbActor::spawn("t", || Ok::<_, ()>(Vec::<u32>::new())).unwrap();
        let main = std::thread::current().id();
        for i in 0..10 {
            a.call(move |v| v.push(i)).await.unwrap();
        }
        let (v, tid) = a
            .call(|v| (v.clone(), std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(v, (0..10).collect::<Vec<_>>());
        assert_ne!(tid, main);
        drop(a);
        join.join().unwrap();
    }

    #[test]
    fn open_error_is_returned() {
        let r = DbActor::<()>::spawn("t", || Err::<(), _>("nope"));
        assert_eq!(r.err(), Some("nope"));
    }
}
