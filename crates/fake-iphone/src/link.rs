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
        let start = due.max(self.free);
        let until = match self.link.bandwidth {
            Some(bandwidth) => {
                if bandwidth > 0 {
                    self.free = start + Duration::from_secs_f64(len as f64 / bandwidth as f64);
                }
                self.free
            }
            None => start,
        };
        let now = Instant::now();
        if until > now {
            std::thread::sleep(until - now);
        }
    }
}

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
}
