//! Making a whole tree durable at once, for trees written with
//! [`AtomicFile::commit_unsynced`](super::AtomicFile::commit_unsynced): a backup version's
//! twenty thousand files cost one `syncfs` instead of one journal commit each.

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes every file and folder written under `root` durable. On Linux, one `syncfs` on the
/// file system that holds `root`; elsewhere, each file and folder under it is synced.
pub fn sync_tree(root: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::fs::syncfs(File::open(root)?)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        for entry in walkdir::WalkDir::new(root) {
            let entry = entry.map_err(io::Error::other)?;
            if entry.file_type().is_dir() {
                super::sync_dir(entry.path())?;
            } else if entry.file_type().is_file() {
                // Windows flushes only a handle open for writing; nothing is written.
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(cfg!(windows))
                    .open(entry.path())?
                    .sync_all()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_syncs_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ab")).unwrap();
        std::fs::write(dir.path().join("ab/abcd"), b"blob").unwrap();
        sync_tree(dir.path()).unwrap();
        assert!(sync_tree(&dir.path().join("gone")).is_err());
    }
}
