//! The [`BackupStore`] over one folder, the work tree of a run ([`super::versions`]): the
//! device's `<UDID>/x` is `ROOT/x`. Every file the device sends is written new
//! ([`AtomicFile`]) and renamed into place, never written in place, so a file shared by hard
//! link with an older version is never changed through this one. Each received file is
//! hashed as it streams. No symlink is followed on the way to any path (issue 16 §5).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use mobilebackup2::DevicePath;
use mobilebackup2::store::{BackupStore, Entry, EntryKind};
use sha2::{Digest, Sha256};

use crate::finder::digests::Digests;
use crate::fs::AtomicFile;

struct Receiving {
    file: AtomicFile,
    relative: String,
    hasher: Sha256,
}

/// A backup folder the device works in.
pub struct FolderStore {
    root: PathBuf,
    digests: Digests,
    receiving: Option<Receiving>,
}

fn symlink_refused(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link, which a backup never follows",
        path.display()
    ))
}

impl FolderStore {
    /// A store over `root`, which must exist, with the digests of what it already holds.
    pub fn new(root: PathBuf, digests: Digests) -> FolderStore {
        FolderStore {
            root,
            digests,
            receiving: None,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn digests(&self) -> &Digests {
        &self.digests
    }

    pub fn into_digests(self) -> Digests {
        self.digests
    }

    /// The local path of `path`, after checking that no folder on the way is a symlink.
    fn local(&self, path: &DevicePath) -> io::Result<PathBuf> {
        let mut local = self.root.clone();
        let parts: Vec<&str> = path.parts().collect();
        for (i, part) in parts.iter().enumerate() {
            local.push(part);
            if i + 1 < parts.len() {
                match fs::symlink_metadata(&local) {
                    Ok(meta) if meta.file_type().is_symlink() => return Err(symlink_refused(&local)),
                    _ => {}
                }
            }
        }
        Ok(local)
    }

    /// The local path of `path`, which must not itself be a symlink either.
    fn local_no_link(&self, path: &DevicePath) -> io::Result<(PathBuf, fs::Metadata)> {
        let local = self.local(path)?;
        let meta = fs::symlink_metadata(&local)?;
        if meta.file_type().is_symlink() {
            return Err(symlink_refused(&local));
        }
        Ok((local, meta))
    }
}

impl BackupStore for FolderStore {
    fn create_dir(&mut self, path: &DevicePath) -> io::Result<()> {
        let mut local = self.root.clone();
        for part in path.parts() {
            local.push(part);
            match fs::create_dir(&local) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let meta = fs::symlink_metadata(&local)?;
                    if meta.file_type().is_symlink() {
                        return Err(symlink_refused(&local));
                    }
                    if !meta.is_dir() {
                        return Err(io::ErrorKind::NotADirectory.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn begin_file(&mut self, path: &DevicePath) -> io::Result<()> {
        self.abort_file();
        if path.is_root() {
            return Err(io::ErrorKind::IsADirectory.into());
        }
        let local = self.local(path)?;
        self.receiving = Some(Receiving {
            file: AtomicFile::create(&local)?,
            relative: path.inner().to_string(),
            hasher: Sha256::new(),
        });
        Ok(())
    }

    fn write_file(&mut self, data: &[u8]) -> io::Result<()> {
        let receiving = self
            .receiving
            .as_mut()
            .ok_or_else(|| io::Error::other("no file is being received"))?;
        receiving.hasher.update(data);
        receiving.file.write_all(data)
    }

    fn finish_file(&mut self) -> io::Result<()> {
        let receiving = self
            .receiving
            .take()
            .ok_or_else(|| io::Error::other("no file is being received"))?;
        // The whole version is made durable at once at the switch-over (versions.rs);
        // until then nothing points to it, and a crash discards it.
        receiving.file.commit_unsynced()?;
        self.digests
            .insert(receiving.relative, receiving.hasher.finalize().into());
        Ok(())
    }

    fn abort_file(&mut self) {
        // Dropping an uncommitted AtomicFile removes its temporary.
        self.receiving = None;
    }

    fn open_file(&mut self, path: &DevicePath) -> io::Result<Box<dyn Read + '_>> {
        let (local, meta) = self.local_no_link(path)?;
        if meta.is_dir() {
            return Err(io::ErrorKind::IsADirectory.into());
        }
        Ok(Box::new(fs::File::open(local)?))
    }

    fn list_dir(&mut self, path: &DevicePath) -> io::Result<Vec<Entry>> {
        let (local, meta) = self.local_no_link(path)?;
        if !meta.is_dir() {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(local)? {
            let entry = entry?;
            let name = entry.file_name();
            if atomic_file::is_temporary(&name) {
                continue;
            }
            let meta = entry.metadata()?;
            let kind = if meta.is_file() {
                EntryKind::File
            } else if meta.is_dir() {
                EntryKind::Directory
            } else {
                EntryKind::Other
            };
            entries.push(Entry {
                name: name.to_string_lossy().into_owned(),
                kind,
                size: if kind == EntryKind::File { meta.len() } else { 0 },
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            });
        }
        Ok(entries)
    }

    fn rename(&mut self, from: &DevicePath, to: &DevicePath) -> io::Result<()> {
        let (source, meta) = self.local_no_link(from)?;
        let target = self.local(to)?;
        // rename(2) replaces a file or an empty folder; the device means "replace" for both.
        if meta.is_dir()
            && let Ok(existing) = fs::symlink_metadata(&target)
            && existing.is_dir()
        {
            fs::remove_dir_all(&target)?;
        }
        fs::rename(&source, &target)?;
        self.digests.rename_tree(from.inner(), to.inner());
        Ok(())
    }

    fn remove(&mut self, path: &DevicePath) -> io::Result<()> {
        if path.is_root() {
            // The folder itself stays (the run works in it); its contents go.
            for entry in fs::read_dir(&self.root)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    fs::remove_dir_all(entry.path())?;
                } else {
                    fs::remove_file(entry.path())?;
                }
            }
            self.digests = Digests::default();
            return Ok(());
        }
        let local = self.local(path)?;
        let result = match fs::symlink_metadata(&local) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            // remove_dir_all does not follow symlinks inside the folder.
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&local),
            Ok(_) => fs::remove_file(&local),
        };
        result?;
        self.digests.remove_tree(path.inner());
        Ok(())
    }

    fn copy(&mut self, from: &DevicePath, to: &DevicePath) -> io::Result<()> {
        let (source, meta) = self.local_no_link(from)?;
        let target = self.local(to)?;
        copy_tree(&source, &target, meta.is_dir())?;
        self.digests.copy_tree(from.inner(), to.inner());
        Ok(())
    }

    fn free_space(&mut self) -> io::Result<u64> {
        free_space(&self.root)
    }
}

/// `f_bavail * f_frsize` of the file system holding `path` (docs/backup.md §1.5).
pub fn free_space(path: &Path) -> io::Result<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(path)?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Copies a file (written new) or a folder, never following a symlink.
fn copy_tree(source: &Path, target: &Path, is_dir: bool) -> io::Result<()> {
    if !is_dir {
        let mut file = AtomicFile::create(target)?;
        io::copy(&mut fs::File::open(source)?, &mut file)?;
        return file.commit_unsynced();
    }
    fs::create_dir_all(target)?;
    for entry in fs::read_dir(source)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_symlink() || atomic_file::is_temporary(&entry.file_name()) {
            continue;
        }
        copy_tree(&entry.path(), &target.join(entry.file_name()), kind.is_dir())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDID: &str = "UDID-1";

    fn p(inner: &str) -> DevicePath {
        DevicePath::parse(&format!("{UDID}/{inner}"), UDID).unwrap()
    }

    fn receive(store: &mut FolderStore, path: &str, bytes: &[u8]) {
        store.begin_file(&p(path)).unwrap();
        store.write_file(bytes).unwrap();
        store.finish_file().unwrap();
    }

    #[test]
    fn files_are_written_new_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FolderStore::new(dir.path().to_path_buf(), Digests::default());
        store.create_dir(&p("Snapshot/ab")).unwrap();
        // An older version shares this file by hard link; it must not change.
        let older = dir.path().join("older");
        fs::write(&older, b"old bytes").unwrap();
        fs::hard_link(&older, dir.path().join("Manifest.db")).unwrap();
        receive(&mut store, "Manifest.db", b"new bytes");
        assert_eq!(fs::read(&older).unwrap(), b"old bytes");
        assert_eq!(fs::read(dir.path().join("Manifest.db")).unwrap(), b"new bytes");
        assert_eq!(
            hex(store.digests().get("Manifest.db").unwrap()),
            hex(&Sha256::digest(b"new bytes").into())
        );
        receive(&mut store, "Snapshot/ab/abcd", b"blob");
        store.create_dir(&p("ab")).unwrap();
        store.rename(&p("Snapshot/ab/abcd"), &p("ab/abcd")).unwrap();
        assert!(store.digests().get("ab/abcd").is_some());
        store.copy(&p("ab"), &p("cd")).unwrap();
        assert_eq!(fs::read(dir.path().join("cd/abcd")).unwrap(), b"blob");
        store.remove(&p("Snapshot")).unwrap();
        store.remove(&p("missing")).unwrap();
        let root = DevicePath::parse(UDID, UDID).unwrap();
        store.copy(&p("cd"), &p("kept")).unwrap();
        store.remove(&root).unwrap();
        assert!(dir.path().is_dir() && fs::read_dir(dir.path()).unwrap().count() == 0);
        assert!(store.digests().is_empty());
        store.create_dir(&p("ab")).unwrap();
        receive(&mut store, "ab/abcd", b"blob");
        assert!(!dir.path().join("Snapshot").exists());
        let names: Vec<String> = store.list_dir(&p("ab")).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["abcd"]);
        assert!(store.free_space().unwrap() > 0);
        // An aborted file leaves what was there and no temporary.
        store.begin_file(&p("ab/abcd")).unwrap();
        store.write_file(b"half").unwrap();
        store.abort_file();
        assert_eq!(fs::read(dir.path().join("ab/abcd")).unwrap(), b"blob");
        assert_eq!(fs::read_dir(dir.path().join("ab")).unwrap().count(), 1);
    }

    fn hex(d: &[u8; 32]) -> String {
        crate::fs::hash::hex(d)
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("ln")).unwrap();
        let mut store = FolderStore::new(root.clone(), Digests::default());
        assert!(store.begin_file(&p("ln/new")).is_err());
        assert!(store.open_file(&p("ln/secret")).is_err());
        assert!(store.open_file(&p("ln")).is_err());
        assert!(store.list_dir(&p("ln")).is_err());
        assert!(store.create_dir(&p("ln/x")).is_err());
        assert!(store.rename(&p("ln/secret"), &p("stolen")).is_err());
        assert!(store.copy(&p("ln"), &p("copy")).is_err());
        store.remove(&p("ln")).unwrap();
        assert_eq!(fs::read(outside.join("secret")).unwrap(), b"secret");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    }
}
