//! Free space on the disk that holds a folder, as a user may fill it: `f_bavail * f_frsize`
//! (blocks free to unprivileged users, in the file system's fragment size).

use std::io;
use std::path::Path;

/// A byte count for people: MB below a gigabyte, GB from there (decimal, as disks are sold).
pub fn human(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// Free bytes for `path`, or for its nearest existing ancestor when it does not exist yet
/// (a destination made on the first run).
pub fn free_space(path: &Path) -> io::Result<u64> {
    let existing = path
        .ancestors()
        .find(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("."));
    available(existing)
}

#[cfg(unix)]
fn available(path: &Path) -> io::Result<u64> {
    let stats = rustix::fs::statvfs(path)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(not(unix))]
fn available(_path: &Path) -> io::Result<u64> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "free space is not measured on this platform",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_not_made_yet_is_measured_where_it_will_be() {
        let dir = tempfile::tempdir().unwrap();
        let here = free_space(dir.path()).unwrap();
        assert!(here > 0);
        let later = free_space(&dir.path().join("not/made/yet")).unwrap();
        // The same file system; other processes may write in between.
        assert!(later.abs_diff(here) < here / 10 + (64 << 20), "{here} vs {later}");
    }
}
