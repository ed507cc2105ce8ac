//! Files that appear only complete: written under a temporary name in the same folder,
//! synced, then renamed over the final name. A crash or an unplugged phone leaves at most a
//! temporary file, never a partial file under the real name.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Marks lifeboat's temporary files, so leftovers can be found and removed.
pub const TEMP_SUFFIX: &str = ".lifeboat-part";

pub fn temp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}{TEMP_SUFFIX}"))
}

/// A file being written; dropped without [`commit`](Self::commit), it is removed.
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let temp = temp_path(target);
        let file = File::create(&temp)?;
        Ok(AtomicFile {
            file: Some(file),
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the data, sets the modification time, and moves the file into place.
    pub fn commit(mut self, modified: Option<SystemTime>) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("file already committed"))?;
        file.sync_all()?;
        if let Some(time) = modified {
            file.set_modified(time)?;
        }
        drop(file);
        fs::rename(&self.temp, &self.target)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

impl AtomicFile {
    /// Like [`commit`](Self::commit), but into `other` instead of the planned target.
    pub fn commit_as(mut self, other: &Path, modified: Option<SystemTime>) -> io::Result<()> {
        self.target = other.to_path_buf();
        self.commit(modified)
    }
}

/// Makes a rename in `dir` durable (a directory fsync, where the platform has one).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_committed_files_appear() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("IMG_0001.HEIC");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"half").unwrap();
        assert!(!target.exists(), "nothing under the final name while writing");
        drop(file);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "an abandoned file leaves nothing"
        );

        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"whole").unwrap();
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_717_237_800);
        file.commit(Some(when)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
        assert_eq!(fs::metadata(&target).unwrap().modified().unwrap(), when);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
