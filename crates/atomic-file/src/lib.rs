//! Files that appear only complete: written under a temporary name in the same folder,
//! synced, then renamed (or linked) over the final name. A crash, a kill or an unplugged
//! drive leaves at most a temporary file, never a partial file under the real name.
//! (The one exception is asked for by name: [`AtomicFile::commit_unsynced`], for a tree that
//! is synced whole before anything points to it.)
//!
//! Every crate of lifeboat that writes a file writes it through here: photos and backups,
//! pair records, the host identity, the nightly status. It sits below them all (it needs
//! nothing but `std`), so the lowest layer, usbmux, can use it too.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Ends the name of every temporary file, so leftovers of a killed run can be found.
pub const TEMP_SUFFIX: &str = ".lifeboat-part";

/// Whether `name` is one of our temporary files.
pub fn is_temporary(name: &OsStr) -> bool {
    name.to_string_lossy().ends_with(TEMP_SUFFIX)
}

/// A temporary name beside `target`, unique to this process and call, so two writers of
/// one file (two nightly runs saving their status) never share a temporary.
fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Hidden, and short enough that a 255-byte name still gets a temporary of its own.
    let keep: String = name
        .chars()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= 200).then_some(c)
        })
        .collect();
    target.with_file_name(format!(".{keep}.{}-{n}{TEMP_SUFFIX}", std::process::id()))
}

/// Who may read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// The umask decides, as for any new file.
    #[default]
    Normal,
    /// The owner alone (0600), in a folder that is the owner's alone when it is made
    /// (0700): pair records and keys.
    Private,
}

/// A file being written; dropped without a commit, it is removed.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts writing `target`, whose folder must exist.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        AtomicFile::create_with(target, Access::Normal)
    }

    pub fn create_with(target: &Path, access: Access) -> io::Result<AtomicFile> {
        let temp = temp_path(target);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if access == Access::Private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&temp)?;
        Ok(AtomicFile {
            file: Some(file),
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open temporary file (to set its times or length).
    pub fn file(&self) -> io::Result<&File> {
        self.file.as_ref().ok_or_else(committed)
    }

    /// Syncs the data, sets the modification time and renames the file over its target,
    /// then syncs the folder so the rename survives a power cut.
    pub fn commit(self, modified: Option<SystemTime>) -> io::Result<()> {
        let dir = parent(&self.target).to_path_buf();
        self.commit_leaving_folder(modified)?;
        sync_dir(&dir)
    }

    /// [`commit`](Self::commit) without the folder sync, for a caller that commits many
    /// files and then syncs each folder once (see [`sync_dir`]) before it records them.
    pub fn commit_leaving_folder(mut self, modified: Option<SystemTime>) -> io::Result<()> {
        let file = self.finish(modified)?;
        drop(file);
        fs::rename(&self.temp, &self.target)
    }

    /// Renames the file over its target without syncing its data or its folder: for a
    /// tree that nothing points to yet, which its writer makes durable as a whole (one
    /// `syncfs`) before publishing it. A crash before then may leave the file empty or
    /// partial under its name, so the tree must be discarded after a crash.
    pub fn commit_unsynced(mut self) -> io::Result<()> {
        let file = self.file.take().ok_or_else(committed)?;
        drop(file);
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            let _ = fs::remove_file(&self.temp);
            return Err(e);
        }
        Ok(())
    }

    /// Like [`commit_leaving_folder`](Self::commit_leaving_folder), into `other` (in the
    /// same folder) instead of the target it was created for.
    pub fn commit_as(mut self, other: &Path, modified: Option<SystemTime>) -> io::Result<()> {
        self.target = other.to_path_buf();
        self.commit_leaving_folder(modified)
    }

    /// Commits only if nothing is at the target yet (`AlreadyExists` otherwise, and the
    /// temporary is removed): a racing writer never replaces what another one made.
    pub fn commit_new(mut self) -> io::Result<()> {
        let file = self.finish(None)?;
        drop(file);
        let linked = fs::hard_link(&self.temp, &self.target);
        let _ = fs::remove_file(&self.temp);
        linked?;
        sync_dir(parent(&self.target))
    }

    fn finish(&mut self, modified: Option<SystemTime>) -> io::Result<File> {
        let file = self.file.take().ok_or_else(committed)?;
        let result = file.sync_all().and_then(|()| match modified {
            Some(time) => file.set_modified(time),
            None => Ok(()),
        });
        if let Err(e) = result {
            let _ = fs::remove_file(&self.temp);
            return Err(e);
        }
        Ok(file)
    }
}

fn committed() -> io::Error {
    io::Error::other("file already committed")
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buf),
            None => Err(committed()),
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

/// Writes `bytes` as the whole of `path`, durably, making its folder if needed.
pub fn write(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    write_with(path, access, |out| out.write_all(bytes))
}

/// [`write`], with the contents written by `fill` as it goes (through a buffer), for a file
/// too large to hold whole first.
pub fn write_with(path: &Path, access: Access, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    create_dir(parent(path), access)?;
    let mut file = AtomicFile::create_with(path, access)?;
    let mut out = io::BufWriter::with_capacity(1 << 16, &mut file);
    fill(&mut out)?;
    out.flush()?;
    drop(out);
    file.commit(None)
}

/// [`write`], only if `path` does not exist yet (`AlreadyExists` otherwise).
pub fn write_new(path: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    create_dir(parent(path), access)?;
    let mut file = AtomicFile::create_with(path, access)?;
    file.write_all(bytes)?;
    file.commit_new()
}

/// Makes `dir` and its parents; a private folder the owner's alone.
pub fn create_dir(dir: &Path, access: Access) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if access == Access::Private {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes renames in `dir` durable (a folder fsync, where the platform has one).
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
    use std::time::Duration;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_unsynced_commit_renames_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("abcd");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"blob").unwrap();
        file.commit_unsynced().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"blob");
        assert_eq!(names(dir.path()), ["abcd"]);

        // Into a folder that went meanwhile: an error, and nothing left behind.
        let gone = dir.path().join("gone");
        fs::create_dir(&gone).unwrap();
        let file = AtomicFile::create(&gone.join("x")).unwrap();
        fs::remove_dir_all(&gone).unwrap();
        assert!(file.commit_unsynced().is_err());
    }

    #[test]
    fn only_committed_files_appear() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("IMG_0001.HEIC");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"half").unwrap();
        assert!(!target.exists(), "nothing under the final name while writing");
        assert!(names(dir.path()).iter().all(|n| is_temporary(OsStr::new(n))));
        drop(file);
        assert!(names(dir.path()).is_empty(), "an abandoned file leaves nothing");

        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"whole").unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_717_237_800);
        file.commit(Some(when)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
        assert_eq!(fs::metadata(&target).unwrap().modified().unwrap(), when);
        assert_eq!(names(dir.path()), ["IMG_0001.HEIC"]);
    }

    #[test]
    fn two_writers_of_one_file_do_not_share_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("status.json");
        let mut a = AtomicFile::create(&target).unwrap();
        let mut b = AtomicFile::create(&target).unwrap();
        a.write_all(b"first").unwrap();
        b.write_all(b"second").unwrap();
        a.commit(None).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"first");
        b.commit(None).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["status.json"]);
    }

    #[test]
    fn write_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub").join("SystemConfiguration.plist");
        write_new(&target, b"one", Access::Normal).unwrap();
        let err = write_new(&target, b"two", Access::Normal).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).unwrap(), b"one");
        assert_eq!(names(target.parent().unwrap()), ["SystemConfiguration.plist"]);
    }

    #[test]
    fn long_names_still_get_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(format!("{}.JPG", "é".repeat(125)));
        write(&target, b"x", Access::Normal).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("keys").join("record.plist");
        write(&target, b"secret", Access::Private).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(target.parent().unwrap()), 0o700);
    }
}
