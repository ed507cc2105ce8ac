//! One tokio runtime on a thread of its own. rusbmux is async throughout; the rest of
//! lifeboat is blocking, so blocking callers hand it futures and wait for their results.
//!
//! rusbmux can panic on what a phone sends (docs/usb-transport.md §3). tokio keeps the
//! runtime going when a task panics; this notes that it happened, so the transport can
//! start afresh (a new runtime, the phones opened again) instead of using a device whose
//! reader task is gone.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Why a future handed to the runtime gave no result.
#[derive(Debug)]
pub(crate) enum RuntimeGone {
    /// Its task was dropped before it finished: the runtime is shutting down.
    Stopped,
    /// It panicked (inside rusbmux), with the panic's message.
    Panicked(String),
}

thread_local! {
    /// On a runtime's thread: the flag its panics set.
    static PANICKED: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// A panic on a runtime's thread is noted on its flag and logged instead of printed; other
/// threads' panics go to the hook that was there before.
fn note_panics_on_runtime_threads() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let flag = PANICKED.with(|flag| flag.borrow().clone());
            match flag {
                Some(flag) => {
                    flag.store(true, Ordering::SeqCst);
                    tracing::error!("the USB library panicked: {info}");
                }
                None => previous(info),
            }
        }));
    });
}

#[derive(Debug)]
pub(crate) struct BackgroundRuntime {
    handle: Handle,
    panicked: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundRuntime {
    pub(crate) fn start() -> io::Result<BackgroundRuntime> {
        note_panics_on_runtime_threads();
        // One thread is plenty: the work is waiting on USB transfers and sockets.
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let panicked = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&panicked);
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("lifeboat-usb".into()).spawn(move || {
            PANICKED.with(|slot| *slot.borrow_mut() = Some(flag));
            // Runs every spawned task until asked to stop; dropping the runtime
            // afterwards cancels whatever is left (bridges, device loops).
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(BackgroundRuntime {
            handle,
            panicked,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Whether a task on this runtime has panicked: the devices it served may have lost
    /// their reader or writer.
    pub(crate) fn has_panicked(&self) -> bool {
        self.panicked.load(Ordering::SeqCst)
    }

    /// Runs `future` on the runtime and blocks this thread until it is done. Callers bound
    /// their futures with timeouts; this only adds the hand-over, and catches a panic at
    /// the task's boundary.
    pub(crate) fn run<F, T>(&self, future: F) -> Result<T, RuntimeGone>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(1);
        let task = self.handle.spawn(future);
        self.handle.spawn(async move {
            let _ = sender.send(match task.await {
                Ok(value) => Ok(value),
                Err(e) if e.is_panic() => Err(RuntimeGone::Panicked(panic_message(e.into_panic()))),
                Err(_) => Err(RuntimeGone::Stopped),
            });
        });
        receiver.recv().unwrap_or(Err(RuntimeGone::Stopped))
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|message| message.to_string())
            .unwrap_or_else(|| "no message".into()),
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
        assert!(!runtime.has_panicked());
        drop(runtime);
    }

    #[test]
    fn a_panicking_future_is_an_error_and_is_noted() {
        let runtime = BackgroundRuntime::start().unwrap();
        let outcome = runtime.run(async {
            let wrong_size: &[u8] = &[1, 2, 3];
            if wrong_size.len() != 12 {
                panic!("from_bytes: size mismatch");
            }
        });
        match outcome {
            Err(RuntimeGone::Panicked(message)) => assert!(message.contains("size mismatch"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert!(runtime.has_panicked());
        // The runtime itself goes on.
        assert_eq!(runtime.run(async { 7 }).unwrap(), 7);
    }
}
