//! One run at a time per destination: a lock file the operating system releases when the
//! process dies, so a killed run never leaves the folder locked.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Held for the length of a run.
#[derive(Debug)]
pub struct FolderLock {
    _file: fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another lifeboat run is using {0}; wait for it to finish (this run changed nothing)")]
    Busy(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Locks `dir` through the file `lock_file` inside it (its folder is made if needed).
pub fn lock(dir: &Path, lock_file: &Path) -> Result<FolderLock, LockError> {
    let err = |source| LockError::Io {
        path: lock_file.to_path_buf(),
        source,
    };
    if let Some(parent) = lock_file.parent() {
        fs::create_dir_all(parent).map_err(err)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_file)
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => Ok(FolderLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(LockError::Busy(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".lifeboat").join("lock");
        let first = lock(dir.path(), &file).unwrap();
        assert!(matches!(lock(dir.path(), &file), Err(LockError::Busy(_))));
        drop(first);
        assert!(lock(dir.path(), &file).is_ok());
    }
}
