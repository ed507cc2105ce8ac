//! Backup sizes counted on an earlier listing. A backup's size is the sum of its files'
//! sizes, one lookup per file (a million for fifty backups of 20,000 files); the blobs change
//! only when a backup runs, and every backup run, by any tool, rewrites Manifest.db and
//! Status.plist (docs/backup.md §1.10, the snapshot sequence). So a size is kept with those
//! two files' length, modification time and inode, and counted again when any of them
//! differs. A blob changed by hand in between is not seen here; `verify` is the check for
//! that.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::{MANIFEST_DB, STATUS_PLIST};
use crate::fs::{Access, tree};

/// Kept entries at most (the first by path), so the file stays small whatever is listed.
const MAX_ENTRIES: usize = 1000;

/// Manifest.db's and Status.plist's length, modification time (ns) and inode.
type Stamp = [u64; 6];

#[derive(Serialize, Deserialize, Default)]
struct Stored {
    entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    path: String,
    stamp: Vec<u64>,
    size: u64,
}

pub struct SizeCache {
    file: PathBuf,
    known: BTreeMap<String, (Stamp, u64)>,
    changed: bool,
}

impl SizeCache {
    /// The cache in `file`; one that is missing or cannot be read starts empty.
    pub fn load(file: &Path) -> SizeCache {
        let stored: Stored = plist::from_file(file).unwrap_or_default();
        let known = stored
            .entries
            .into_iter()
            .filter_map(|e| Some((e.path, (e.stamp.try_into().ok()?, e.size))))
            .collect();
        SizeCache {
            file: file.to_path_buf(),
            known,
            changed: false,
        }
    }

    /// The bytes in `dir`'s files: from the cache when its stamp still holds, else counted.
    pub fn size(&mut self, dir: &Path) -> u64 {
        let key = dir.to_str().map(str::to_string);
        let stamp = stamp(dir);
        if let (Some(key), Some(stamp)) = (&key, stamp)
            && let Some((kept, size)) = self.known.get(key)
            && *kept == stamp
        {
            return *size;
        }
        let size = tree::size(dir);
        if let (Some(key), Some(stamp)) = (key, stamp) {
            self.known.insert(key, (stamp, size));
            self.changed = true;
        }
        size
    }

    /// Writes the cache back (atomically) if anything was counted; a listing that cannot
    /// keep its cache still lists.
    pub fn save(&self) -> io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let mut entries: Vec<Entry> = self
            .known
            .iter()
            .map(|(path, (stamp, size))| Entry {
                path: path.clone(),
                stamp: stamp.to_vec(),
                size: *size,
            })
            .collect();
        entries.truncate(MAX_ENTRIES);
        let mut bytes = Vec::new();
        plist::to_writer_binary(&mut bytes, &Stored { entries }).map_err(io::Error::other)?;
        if let Some(parent) = self.file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        atomic_file::write(&self.file, &bytes, Access::Private)
    }
}

fn stamp(dir: &Path) -> Option<Stamp> {
    let one = |name: &str| -> Option<[u64; 3]> {
        let meta = std::fs::metadata(dir.join(name)).ok()?;
        let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some([meta.len(), modified.as_nanos() as u64, inode(&meta)])
    };
    let (db, status) = (one(MANIFEST_DB)?, one(STATUS_PLIST)?);
    Some([db[0], db[1], db[2], status[0], status[1], status[2]])
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_manifest_or_status_changes() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("backup");
        std::fs::create_dir_all(backup.join("ab")).unwrap();
        std::fs::write(backup.join(MANIFEST_DB), b"db").unwrap();
        std::fs::write(backup.join(STATUS_PLIST), b"status").unwrap();
        std::fs::write(backup.join("ab/blob"), vec![0u8; 100]).unwrap();
        let file = dir.path().join("cache/sizes.plist");

        let mut cache = SizeCache::load(&file);
        assert_eq!(cache.size(&backup), 108);
        cache.save().unwrap();

        // A blob changed by hand alone is not seen: the stamp still holds.
        std::fs::write(backup.join("ab/other"), vec![0u8; 50]).unwrap();
        let mut again = SizeCache::load(&file);
        assert_eq!(again.size(&backup), 108);

        // A backup run rewrites Status.plist: counted again, and kept.
        std::fs::write(backup.join(STATUS_PLIST), b"status, finished").unwrap();
        assert_eq!(again.size(&backup), 168);
        again.save().unwrap();
        assert_eq!(SizeCache::load(&file).size(&backup), 168);

        // Without Manifest.db (not a whole backup) nothing is kept.
        std::fs::remove_file(backup.join(MANIFEST_DB)).unwrap();
        let mut bare = SizeCache::load(&file);
        assert_eq!(bare.size(&backup), 166);
        assert!(!bare.changed);
    }

    #[test]
    fn a_damaged_cache_is_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sizes.plist");
        std::fs::write(&file, b"not a plist").unwrap();
        let mut cache = SizeCache::load(&file);
        assert_eq!(cache.size(dir.path()), 11);
    }
}
