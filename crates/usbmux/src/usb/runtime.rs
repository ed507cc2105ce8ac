//! One tokio runtime on a thread of its own. rusbmux is async throughout; the rest of
//! lifeboat is blocking, so blocking callers hand it futures and wait for their results.

use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The future's task was dropped before it finished: the runtime is shutting down.
#[derive(Debug)]
pub(crate) struct RuntimeGone;

#[derive(Debug)]
pub(crate) struct BackgroundRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundRuntime {
    pub(crate) fn start() -> io::Result<BackgroundRuntime> {
        // One thread is plenty: the work is waiting on USB transfers and sockets.
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("lifeboat-usb".into()).spawn(move || {
            // Runs every spawned task until asked to stop; dropping the runtime
            // afterwards cancels whatever is left (bridges, device loops).
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(BackgroundRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Runs `future` on the runtime and blocks this thread until it is done. Callers bound
    /// their futures with timeouts; this only adds the hand-over.
    pub(crate) fn run<F, T>(&self, future: F) -> Result<T, RuntimeGone>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| RuntimeGone)
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The runtime thread never runs lifeboat code that could take this lock or wait on
        // this thread, so joining cannot deadlock.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_futures_and_stops_cleanly() {
        let runtime = BackgroundRuntime::start().unwrap();
        let answer = runtime
            .run(async {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                42
            })
            .unwrap();
        assert_eq!(answer, 42);
        drop(runtime);
    }
}
