//! Waiting on the device without hanging (issue 16 §2): the socket's own timeout is a short
//! tick; silence is counted across ticks and given up on after the device timeout, or after
//! the longer passcode wait while the phone shows its passcode prompt. A cancel request
//! from the phone ends the wait at the next tick.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the device may be silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Normal silence.
    pub device: Duration,
    /// Silence while the phone waits for its passcode (iOS 18 waits up to 30 min).
    pub passcode: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            device: Duration::from_secs(30),
            passcode: Duration::from_secs(30 * 60),
        }
    }
}

/// Flags other threads raise (the notification_proxy observer).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// The phone shows its passcode prompt.
    pub passcode_prompt: Arc<AtomicBool>,
    /// The phone asked to cancel the sync.
    pub cancel: Arc<AtomicBool>,
}

/// Why a wait ended, carried inside an `io::Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GaveUp {
    #[error("the iPhone was silent for {0:?}; check the cable and that it is unlocked, then try again")]
    Silent(Duration),
    #[error("the passcode was not entered on the iPhone within {0:?}")]
    Passcode(Duration),
    #[error("the iPhone asked to cancel the backup")]
    Cancelled,
}

impl GaveUp {
    /// The reason inside `error`, if the wait gave up.
    pub fn of(error: &io::Error) -> Option<GaveUp> {
        error.get_ref()?.downcast_ref::<GaveUp>().copied()
    }
}

fn is_tick(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) && GaveUp::of(error).is_none()
}

pub(crate) struct Patient<S> {
    pub(crate) inner: S,
    pub(crate) limits: Limits,
    pub(crate) signals: Signals,
}

impl<S> Patient<S> {
    fn waited(&self, since: Instant) -> io::Result<()> {
        if self.signals.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other(GaveUp::Cancelled));
        }
        let silent = since.elapsed();
        let (limit, why) = if self.signals.passcode_prompt.load(Ordering::Relaxed) {
            (
                self.limits.passcode.max(self.limits.device),
                GaveUp::Passcode as fn(Duration) -> GaveUp,
            )
        } else {
            (self.limits.device, GaveUp::Silent as fn(Duration) -> GaveUp)
        };
        if silent >= limit {
            return Err(io::Error::new(io::ErrorKind::TimedOut, why(limit)));
        }
        Ok(())
    }
}

impl<S: Read> Read for Patient<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let since = Instant::now();
        loop {
            match self.inner.read(buf) {
                Err(e) if is_tick(&e) || e.kind() == io::ErrorKind::Interrupted => self.waited(since)?,
                other => return other,
            }
        }
    }
}

impl<S: Write> Write for Patient<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let since = Instant::now();
        loop {
            match self.inner.write(buf) {
                Err(e) if is_tick(&e) || e.kind() == io::ErrorKind::Interrupted => self.waited(since)?,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
