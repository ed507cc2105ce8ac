//! Verify's throughput and memory on a large folder.
//!
//! `cargo bench --bench verify_folder` writes SIZE_MB (default 2048) megabytes of 4 MB
//! files, records them with `verify --init`'s code, then verifies them, and prints the rate,
//! the bytes read (each byte once) and the process's peak resident memory.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// As the lifeboat binary allocates (see `src/page_aligned.rs`).
#[path = "../src/page_aligned.rs"]
#[allow(dead_code)] // its unit tests run with the binary's
mod page_aligned;
#[global_allocator]
static ALLOCATOR: page_aligned::PageAlignedLarge = page_aligned::PageAlignedLarge;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let size_mb: u64 = std::env::var("SIZE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()))
            .unwrap();
    let file_mb = 4u64;
    let files = size_mb / file_mb;
    let mut block = vec![0u8; 1 << 20];
    for n in 0..files {
        let folder = dir.path().join(format!("{:04}/{:02}", 2015 + n % 10, 1 + n % 12));
        std::fs::create_dir_all(&folder).unwrap();
        let mut file = std::io::BufWriter::new(std::fs::File::create(folder.join(format!("IMG_{n:05}.BIN"))).unwrap());
        for m in 0..file_mb {
            for (i, b) in block.iter_mut().enumerate() {
                *b = (i as u64 ^ (n * 31 + m)) as u8;
            }
            file.write_all(&block).unwrap();
        }
    }
    let total = (files * file_mb) << 20;
    let counted = AtomicU64::new(0);
    let count = |n: u64| {
        counted.fetch_add(n, Ordering::Relaxed);
    };
    let started = Instant::now();
    let recorded = transfer::verify::init(dir.path(), &count).unwrap();
    let init_secs = started.elapsed().as_secs_f64();
    counted.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let report = transfer::verify::verify(dir.path(), None, &count).unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.ok, recorded);
    assert!(report.findings.is_empty());
    println!(
        "{files} files, {:.0} MB, {} threads",
        total as f64 / 1e6,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("init:   {init_secs:.2} s ({:.0} MB/s)", total as f64 / 1e6 / init_secs);
    println!("verify: {secs:.2} s ({:.0} MB/s)", total as f64 / 1e6 / secs);
    println!(
        "bytes read by verify: {} of {} ({})",
        report.bytes_read,
        total,
        if report.bytes_read == total && counted.load(Ordering::Relaxed) == total {
            "each byte once"
        } else {
            "MISMATCH"
        }
    );
    println!("peak resident memory: {:.1} MB", peak_rss_mb().unwrap_or(f64::NAN));
}
