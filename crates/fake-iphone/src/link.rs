//! The link model every simulated service shares: each reply waits out a per-request
//! latency, and the bytes leave no faster than the link's bandwidth.

use std::time::{Duration, Instant};

/// How replies reach the computer: a per-request round trip and a byte rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    pub latency: Duration,
    /// Bytes per second from phone to computer; `None` is unlimited.
    pub bandwidth: Option<u64>,
}

impl Link {
    /// When the reply to a request that arrived at `arrived` may start to leave.
    pub fn due(&self, arrived: Instant) -> Instant {
        arrived + self.latency
    }
}

/// Paces one connection's outgoing replies on its [`Link`].
#[derive(Debug)]
pub struct Pacer {
    link: Link,
    /// When the link has finished sending what was queued before.
    free: Instant,
}

impl Pacer {
    pub fn new(link: Link) -> Pacer {
        Pacer {
            link,
            free: Instant::now(),
        }
    }

    /// Sleeps until a reply of `len` bytes, due at `due`, may be written: after its due
    /// time, and, on a limited link, after the time its bytes take to cross it.
    pub fn wait(&mut self, due: Instant, len: u64) {
        let until = self.schedule(due, len);
        let now = Instant::now();
        if until > now {
            std::thread::sleep(until - now);
        }
    }

    /// Books a reply of `len` bytes, due at `due`, on the link, and says when it may be
    /// written (the caller waits until then).
    pub fn schedule(&mut self, due: Instant, len: u64) -> Instant {
        let start = due.max(self.free);
        match self.link.bandwidth {
            Some(bandwidth) => {
                if bandwidth > 0 {
                    self.free = start + Duration::from_secs_f64(len as f64 / bandwidth as f64);
                }
                self.free
            }
            None => start,
        }
    }

    /// Paces one block of a continuous stream (a backup upload): as [`Pacer::wait`], but a
    /// writer that slept longer than asked may catch up on up to [`CATCH_UP`] of it, as a
    /// link's buffers let a real one, so oversleeping does not lower the stream's rate.
    pub fn stream(&mut self, len: u64) {
        let now = Instant::now();
        self.wait(now.checked_sub(CATCH_UP).unwrap_or(now), len);
    }
}

/// How far behind a stream may fall and still catch up at once.
pub const CATCH_UP: Duration = Duration::from_millis(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_wait_for_latency_and_bandwidth() {
        let mut pacer = Pacer::new(Link {
            latency: Duration::from_millis(20),
            bandwidth: Some(100_000),
        });
        let start = Instant::now();
        pacer.wait(Link::default().due(start), 1_000);
        assert!(start.elapsed() >= Duration::from_millis(10), "1000 B at 100 kB/s");
        let start = Instant::now();
        let link = Link {
            latency: Duration::from_millis(20),
            bandwidth: None,
        };
        Pacer::new(link).wait(link.due(start), 1 << 30);
        assert!(start.elapsed() >= Duration::from_millis(20), "latency");
        assert!(start.elapsed() < Duration::from_secs(1), "no bandwidth limit");
    }

    #[test]
    fn a_stream_takes_its_time_on_the_link() {
        // 100 blocks of 10 KB at 10 MB/s: 100 ms on the link.
        let mut pacer = Pacer::new(Link {
            latency: Duration::ZERO,
            bandwidth: Some(10_000_000),
        });
        let start = Instant::now();
        for _ in 0..100 {
            pacer.stream(10_000);
        }
        // The schedule is cumulative: however the sleeps went, the blocks took their time on
        // the link (how much oversleeping is caught up is for the benchmark to show).
        assert!(
            pacer.free - start >= Duration::from_millis(99),
            "{:?}",
            pacer.free - start
        );
        assert!(start.elapsed() >= Duration::from_millis(99));
    }
}
