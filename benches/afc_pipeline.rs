//! How much keeping AFC requests in flight buys on a link with latency.
//!
//! `cargo bench --bench afc_pipeline` starts the simulated iPhone with 1 ms per request (a
//! USB 2 link is about 0.5 ms), puts 200 files of 300 KB on it, and times fetching them all
//! one request at a time (each request waits for its reply) and with requests in flight.

use std::io;
use std::time::{Duration, Instant};

use afc::client::{AfcError, FetchSink, RemoteFile};
use fake_iphone::{FakeIphone, Link, PhoneConfig};
use usbmux::{UsbmuxAddress, UsbmuxClient};

const FILES: usize = 200;
const SIZE: usize = 300_000;

struct Count(u64);

impl FetchSink for Count {
    fn begin(&mut self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn data(&mut self, _: usize, bytes: &[u8]) -> io::Result<()> {
        self.0 += bytes.len() as u64;
        Ok(())
    }
    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        outcome
            .map(|_| ())
            .map_err(|e| io::Error::other(format!("file {index}: {e}")))
    }
}

/// As the lifeboat binary allocates (see `src/page_aligned.rs`).
#[path = "../src/page_aligned.rs"]
#[allow(dead_code)] // its unit tests run with the binary's
mod page_aligned;
#[global_allocator]
static ALLOCATOR: page_aligned::PageAlignedLarge = page_aligned::PageAlignedLarge;

fn main() {
    let latency_ms: f64 = std::env::var("LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let media = tempfile::tempdir().unwrap();
    let dir = media.path().join("DCIM/100APPLE");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for n in 0..FILES {
        let name = format!("IMG_{:04}.JPG", n + 1);
        let bytes: Vec<u8> = (0..SIZE).map(|i| (i * 7 + n) as u8).collect();
        std::fs::write(dir.join(&name), bytes).unwrap();
        files.push(RemoteFile {
            path: format!("/DCIM/100APPLE/{name}"),
            size: SIZE as u64,
        });
    }
    let link = Link {
        latency: Duration::from_secs_f64(latency_ms / 1000.0),
        bandwidth: None,
    };
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new("00008110-000BE4C400000001", media.path()).link(link))
        .start()
        .unwrap();
    let mux = UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).unwrap());
    let device = mux.list_devices().unwrap().remove(0);
    let buid = mux.read_buid().unwrap();
    let record = lockdown::LockdownClient::connect(&mux, &device)
        .unwrap()
        .pair(&buid, "bench", Duration::from_secs(10), |_| {})
        .unwrap();

    let total_mb = (FILES * SIZE) as f64 / 1e6;
    println!("{FILES} files of {SIZE} bytes ({total_mb:.0} MB), {latency_ms} ms per AFC request");
    println!("{:>8} {:>10} {:>10} {:>9}", "window", "seconds", "files/s", "speed-up");
    let mut baseline = None;
    for window in [1usize, 4, 8, 16, 32] {
        let mut afc = afc::connect::connect(&mux, &device, &record).unwrap();
        let mut sink = Count(0);
        let started = Instant::now();
        afc.fetch(&files, afc::client::DEFAULT_CHUNK, window, &mut sink)
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(sink.0, (FILES * SIZE) as u64);
        let base = *baseline.get_or_insert(secs);
        println!(
            "{window:>8} {secs:>10.3} {:>10.0} {:>8.1}x",
            FILES as f64 / secs,
            base / secs
        );
    }
}
