//! The bytes a folder holds, for listings that must not read file contents.

use std::fs;
use std::path::{Path, PathBuf};

/// Bytes in the regular files under `dir` (symbolic links are not followed; what cannot be
/// read counts as nothing). Each file is looked at through its folder's open handle, so the
/// kernel resolves one name per file rather than the whole path, and the top-level folders
/// (a backup's 256 blob folders) are shared out over every core.
pub fn size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut folders = Vec::new();
    add_entries(dir, &mut total, &mut folders);
    let sizes = crate::parallel::map(&folders, |folder: &PathBuf| {
        let mut bytes = 0;
        let mut pending = vec![folder.clone()];
        while let Some(next) = pending.pop() {
            add_entries(&next, &mut bytes, &mut pending);
        }
        bytes
    });
    total + sizes.into_iter().sum::<u64>()
}

/// Adds the sizes of `dir`'s regular files to `total`, and its folders to `folders`.
fn add_entries(dir: &Path, total: &mut u64, folders: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        // The type comes with the listing on most file systems; no extra lookup.
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => folders.push(entry.path()),
            // `DirEntry::metadata` asks relative to the open folder, and does not follow a link.
            Ok(kind) if kind.is_file() => *total += entry.metadata().map_or(0, |m| m.len()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_regular_files_at_every_depth_and_not_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("Manifest.db"), vec![0u8; 100]).unwrap();
        for sub in ["00", "ff", "ff/deeper"] {
            fs::create_dir(root.join(sub)).unwrap();
        }
        fs::write(root.join("00/a"), vec![0u8; 10]).unwrap();
        fs::write(root.join("ff/b"), vec![0u8; 20]).unwrap();
        fs::write(root.join("ff/deeper/c"), vec![0u8; 3]).unwrap();
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            fs::write(outside.path().join("big"), vec![0u8; 5000]).unwrap();
            std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
            std::os::unix::fs::symlink(outside.path().join("big"), root.join("00/biglink")).unwrap();
        }
        assert_eq!(size(root), 133);
        assert_eq!(size(&root.join("missing")), 0);
    }
}
