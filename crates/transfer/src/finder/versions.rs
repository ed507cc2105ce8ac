//! Backup versions (issue 16 §3): each successful run is a dated version, unchanged files
//! are shared between versions by hard link, and `DEST/<UDID>/` is always the newest good
//! one, where Finder, iTunes and `idevicebackup2` look.
//!
//! ```text
//! DEST/<UDID>/                               the newest good version (Finder's format)
//! DEST/.lifeboat/<UDID>/lock                 one run at a time
//! DEST/.lifeboat/<UDID>/current              the version name of DEST/<UDID>
//! DEST/.lifeboat/<UDID>/versions/<VERSION>/  older good versions, same format
//! DEST/.lifeboat/<UDID>/manifests/<VERSION>.sha256   SHA-256 of every file (digests.rs)
//! DEST/.lifeboat/<UDID>/work/                the run in progress
//! DEST/.lifeboat/<UDID>/switch               the journal of an unfinished switch-over
//! ```
//! A version is named by when its run began, in UTC: `2026-12-03-184500`.
//!
//! **A run.** [`Run::open`] takes the lock, finishes or forgets what a killed run left
//! ([`recover`]), and makes `work/` a copy of `DEST/<UDID>/` in which every file is a hard
//! link (a real copy where the file system has no hard links; [`Run::linked`] says which).
//! The device works in `work/` only ([`FolderStore`]): files it sends are new files renamed
//! into place, so no inode of an older version is ever written. A failed or killed run
//! leaves `DEST/<UDID>/` and `versions/` untouched; the next run discards `work/` and
//! begins again from the last good version.
//!
//! **The switch-over** ([`Run::commit`], after the device's final ErrorCode 0 and
//! Status.plist `finished`): blobs that the new Manifest.db names in no row are taken out
//! of `work/` (older versions keep theirs); files and folders of `work/` are synced; the manifest is
//! written; then the journal `switch` records the new version's name, the old one's, and
//! the identity (device, inode) of the `work/` folder. Then `work/` and `DEST/<UDID>/` are
//! exchanged in one atomic rename (`renameat2(RENAME_EXCHANGE)`; where the system has none,
//! two renames), the old tree goes to `versions/<old>`, `current` is written and the
//! journal removed. A kill at any point is safe: before the journal, `work/` is discarded
//! next time; after it, [`recover`] sees from the inode of `DEST/<UDID>` which renames
//! happened and does the rest. Only with the two-rename fallback is there a moment without
//! `DEST/<UDID>`, and the next start puts the new version there.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::finder::digests::Digests;
use crate::finder::layout;
use crate::finder::manifest_db::{self, ManifestDb};
use crate::finder::store::FolderStore;
use crate::fs::hash::{hash_file_with, unhex};
use crate::fs::lock::{self, FolderLock, LockError};

/// Where lifeboat keeps its own files, beside the backups.
pub const OWN_DIR: &str = ".lifeboat";
/// Versions kept by default, the newest included.
pub const DEFAULT_KEEP: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VersionError + use<> {
    let path = path.to_path_buf();
    move |source| VersionError::Io { what, path, source }
}

/// The paths of one phone's backups in DEST.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dest: PathBuf,
    pub udid: String,
}

impl Layout {
    pub fn new(dest: &Path, udid: &str) -> Layout {
        Layout {
            dest: dest.to_path_buf(),
            udid: udid.to_string(),
        }
    }
    /// `DEST/<UDID>`: the newest good version.
    pub fn newest(&self) -> PathBuf {
        self.dest.join(&self.udid)
    }
    pub fn own(&self) -> PathBuf {
        self.dest.join(OWN_DIR).join(&self.udid)
    }
    pub fn work(&self) -> PathBuf {
        self.own().join("work")
    }
    pub fn versions(&self) -> PathBuf {
        self.own().join("versions")
    }
    pub fn manifests(&self) -> PathBuf {
        self.own().join("manifests")
    }
    pub fn manifest(&self, version: &str) -> PathBuf {
        self.manifests().join(format!("{version}.sha256"))
    }
    fn current_file(&self) -> PathBuf {
        self.own().join("current")
    }
    fn journal(&self) -> PathBuf {
        self.own().join("switch")
    }
    fn lock_file(&self) -> PathBuf {
        self.own().join("lock")
    }

    /// The name of the version in `DEST/<UDID>`, if lifeboat made it.
    pub fn current(&self) -> Option<String> {
        let text = fs::read_to_string(self.current_file()).ok()?;
        let name = text.trim();
        valid_name(name).then(|| name.to_string())
    }
}

/// Where lifeboat's SHA-256 manifest of the backup folder `dir` is, if lifeboat made it:
/// `DEST/<UDID>` (the version named in `current`) or `DEST/.lifeboat/<UDID>/versions/<VERSION>`.
pub fn own_manifest_of(dir: &Path) -> Option<PathBuf> {
    let dir = fs::canonicalize(dir).ok()?;
    let name = dir.file_name()?.to_str()?;
    let parent = dir.parent()?;
    if parent.file_name()? == "versions" {
        let own = parent.parent()?;
        if own.parent()?.file_name()? != OWN_DIR || !valid_name(name) {
            return None;
        }
        return Some(own.join("manifests").join(format!("{name}.sha256")));
    }
    let layout = Layout::new(parent, name);
    layout.current().map(|version| layout.manifest(&version))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() < 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// One version on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub name: String,
    pub path: PathBuf,
    pub newest: bool,
}

/// The versions of a phone's backup, oldest first, the newest (`DEST/<UDID>`) last.
pub fn list(layout: &Layout) -> Vec<Version> {
    let mut versions: Vec<Version> = fs::read_dir(layout.versions())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            valid_name(&name).then(|| Version {
                path: e.path(),
                name,
                newest: false,
            })
        })
        .collect();
    versions.sort_by(|a, b| a.name.cmp(&b.name));
    if layout.newest().is_dir() {
        versions.push(Version {
            name: layout.current().unwrap_or_else(|| "unnamed".into()),
            path: layout.newest(),
            newest: true,
        });
    }
    versions
}

/// A version name for `unix` seconds: `YYYY-MM-DD-HHMMSS`, UTC.
pub fn version_name(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}-{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The journal of a switch-over.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Journal {
    new: String,
    old: Option<String>,
    /// (device, inode) of the new version's folder.
    id: (u64, u64),
}

impl Journal {
    fn to_text(&self) -> String {
        format!(
            "new {}\nold {}\nid {} {}\n",
            self.new,
            self.old.as_deref().unwrap_or("-"),
            self.id.0,
            self.id.1
        )
    }

    fn parse(text: &str) -> Option<Journal> {
        let mut new = None;
        let mut old = None;
        let mut id = None;
        for line in text.lines() {
            match line.split_once(' ')? {
                ("new", name) if valid_name(name) => new = Some(name.to_string()),
                ("old", "-") => old = Some(None),
                ("old", name) if valid_name(name) => old = Some(Some(name.to_string())),
                ("id", rest) => {
                    let (dev, ino) = rest.split_once(' ')?;
                    id = Some((dev.parse().ok()?, ino.parse().ok()?));
                }
                _ => return None,
            }
        }
        Some(Journal {
            new: new?,
            old: old?,
            id: id?,
        })
    }
}

/// (device, inode) of a folder, not following a symlink.
fn identity(path: &Path) -> io::Result<(u64, u64)> {
    let meta = fs::symlink_metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        // No inode to tell the trees apart: the creation time stands in for it.
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Ok((0, created))
    }
}

/// Exchanges two folders atomically; `Ok(false)` where the system cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(true),
            Err(e)
                if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::NOTSUP =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// Finishes a switch-over a killed run left half done (see the module doc). Returns the
/// version that is now newest, if a journal was found.
pub fn recover(layout: &Layout) -> Result<Option<String>, VersionError> {
    let journal_path = layout.journal();
    let text = match fs::read_to_string(&journal_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", &journal_path)(e)),
    };
    let Some(journal) = Journal::parse(&text) else {
        // A journal is written whole (atomic_file) or not at all; an unreadable one is
        // not ours to act on.
        fs::remove_file(&journal_path).map_err(io_err("remove", &journal_path))?;
        return Ok(None);
    };
    switch(layout, &journal)?;
    Ok(Some(journal.new))
}

/// The renames of a switch-over, each done only if not done yet.
fn switch(layout: &Layout, journal: &Journal) -> Result<(), VersionError> {
    let (newest, work) = (layout.newest(), layout.work());
    let is_new = |path: &Path| identity(path).is_ok_and(|id| id == journal.id);
    let old_target = |name: &Option<String>| {
        layout
            .versions()
            .join(name.clone().unwrap_or_else(|| format!("before-{}", journal.new)))
    };
    if !is_new(&newest) {
        if newest.exists() {
            if !is_new(&work) {
                // Neither tree is the new one: nothing to finish.
                fs::remove_file(layout.journal()).map_err(io_err("remove", &layout.journal()))?;
                return Ok(());
            }
            if !exchange(&work, &newest).map_err(io_err("switch to the new backup in", &newest))? {
                let target = old_target(&journal.old);
                fs::create_dir_all(layout.versions()).map_err(io_err("make", &layout.versions()))?;
                fs::rename(&newest, &target).map_err(io_err("move the older backup to", &target))?;
                fs::rename(&work, &newest).map_err(io_err("move the new backup to", &newest))?;
            }
        } else if is_new(&work) {
            fs::rename(&work, &newest).map_err(io_err("move the new backup to", &newest))?;
        }
    }
    // `work` now holds the old tree, if there was one.
    if work.exists() {
        let target = old_target(&journal.old);
        fs::create_dir_all(layout.versions()).map_err(io_err("make", &layout.versions()))?;
        fs::rename(&work, &target).map_err(io_err("move the older backup to", &target))?;
    }
    atomic_file::sync_dir(&layout.dest).map_err(io_err("sync", &layout.dest))?;
    atomic_file::write(
        &layout.current_file(),
        format!("{}\n", journal.new).as_bytes(),
        atomic_file::Access::Normal,
    )
    .map_err(io_err("write", &layout.current_file()))?;
    fs::remove_file(layout.journal()).map_err(io_err("remove", &layout.journal()))?;
    Ok(())
}

/// A run in progress: the lock, and the work tree the device writes in.
pub struct Run {
    layout: Layout,
    store: FolderStore,
    name: String,
    linked: bool,
    _lock: FolderLock,
}

/// What a successful switch-over did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The new version's name, now in `DEST/<UDID>`.
    pub version: String,
    /// The version it replaced, now in `versions/`.
    pub previous: Option<String>,
    /// Older versions removed to keep the number asked for.
    pub pruned: Vec<String>,
    /// Files in the version.
    pub files: usize,
}

impl Run {
    /// Locks DEST for `udid`, recovers from a killed run, and prepares the work tree.
    pub fn open(dest: &Path, udid: &str) -> Result<Run, VersionError> {
        let layout = Layout::new(dest, udid);
        let own = layout.own();
        fs::create_dir_all(&own).map_err(io_err("make", &own))?;
        let lock = lock::lock(dest, &layout.lock_file())?;
        recover(&layout)?;
        forget_orphan_manifests(&layout);
        let work = layout.work();
        if fs::symlink_metadata(&work).is_ok() {
            fs::remove_dir_all(&work).map_err(io_err("remove the unfinished run in", &work))?;
        }
        let mut linked = true;
        if layout.newest().is_dir() {
            clone_tree(
                &layout.newest(),
                &work,
                &|from, to| fs::hard_link(from, to),
                &mut linked,
            )
            .map_err(io_err("prepare the new version in", &work))?;
        } else {
            fs::create_dir_all(&work).map_err(io_err("make", &work))?;
        }
        let digests = match layout.current() {
            Some(current) => {
                Digests::load(&layout.manifest(&current)).map_err(io_err("read", &layout.manifest(&current)))?
            }
            None => Digests::default(),
        };
        let name = unused_name(&layout, version_name(now()));
        Ok(Run {
            store: FolderStore::new(work, digests),
            layout,
            name,
            linked,
            _lock: lock,
        })
    }

    pub fn store(&mut self) -> &mut FolderStore {
        &mut self.store
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The name the version gets if the run succeeds.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether unchanged files are shared by hard link (false: the file system has none,
    /// and they were copied).
    pub fn linked(&self) -> bool {
        self.linked
    }

    /// `SnapshotState` of the work tree's Status.plist (`finished` when the device is done).
    pub fn snapshot_state(&self) -> Option<String> {
        let status = plist::Value::from_file(self.store.root().join("Status.plist")).ok()?;
        status
            .as_dictionary()?
            .get("SnapshotState")?
            .as_string()
            .map(str::to_string)
    }

    /// Makes the work tree the newest version and keeps `keep` versions (at least 1).
    pub fn commit(self, keep: usize) -> Result<Committed, VersionError> {
        let Run {
            layout, store, name, ..
        } = self;
        let work = store.root().to_path_buf();
        let mut digests = store.into_digests();
        drop_unnamed_blobs(&work, &mut digests).map_err(io_err("tidy the blobs of", &work))?;
        // Every file gets a digest: files from a folder another tool made are hashed now.
        complete_digests(&work, &mut digests).map_err(io_err("hash the files of", &work))?;
        // The files came in unsynced (store.rs): all of them are made durable here, before
        // anything names the version.
        crate::fs::durable::sync_tree(&work).map_err(io_err("sync", &work))?;
        digests
            .save(&layout.manifest(&name))
            .map_err(io_err("write", &layout.manifest(&name)))?;
        let journal = Journal {
            new: name.clone(),
            old: layout
                .current()
                .or_else(|| layout.newest().is_dir().then(|| found_name(&layout))),
            id: identity(&work).map_err(io_err("read", &work))?,
        };
        atomic_file::write(
            &layout.journal(),
            journal.to_text().as_bytes(),
            atomic_file::Access::Normal,
        )
        .map_err(io_err("write", &layout.journal()))?;
        switch(&layout, &journal)?;
        let pruned = prune(&layout, keep.max(1))?;
        Ok(Committed {
            version: name,
            previous: journal.old,
            pruned,
            files: digests.len(),
        })
    }

    /// Gives the run up: the work tree goes; the last good version is as it was.
    pub fn abandon(self) {
        let _ = fs::remove_dir_all(self.store.root());
    }
}

/// Takes out of the new version the blobs its Manifest.db names in no row. The phone names
/// no file it stopped backing up: after encryption is turned off, the HealthDomain blobs of
/// the encrypted versions stay behind, and `verify` would rightly call them orphans. The
/// older versions keep their own links to them. A Manifest.db that cannot be read in clear
/// (an encrypted backup; its password is the phone's business) leaves everything as it is.
fn drop_unnamed_blobs(work: &Path, digests: &mut Digests) -> io::Result<()> {
    if !manifest_db::is_plain(work) {
        return Ok(());
    }
    let Ok(db) = ManifestDb::open_plain(work) else {
        return Ok(());
    };
    // fileIDs as bytes: 20 each, where a list of strings would take about 90 at 200,000 rows.
    let mut named: Vec<[u8; 20]> = Vec::new();
    if db
        .for_each_row(|row| {
            if let Some(id) = unhex::<20>(&row.file_id) {
                named.push(id);
            }
        })
        .is_err()
    {
        return Ok(());
    }
    drop(db);
    named.sort_unstable();
    let mut unnamed = Vec::new();
    layout::for_each_blob_file(work, |blob| {
        let id = blob.split_once('/').map_or(blob, |(_, id)| id);
        if unhex::<20>(id).is_none_or(|id| named.binary_search(&id).is_err()) {
            unnamed.push(blob.to_string());
        }
        Ok(())
    })?;
    for blob in unnamed {
        fs::remove_file(work.join(&blob))?;
        digests.remove_tree(&blob);
    }
    Ok(())
}

/// `base`, or `base-2`, `base-3`… when a run in the same second took it.
fn unused_name(layout: &Layout, base: String) -> String {
    let current = layout.current();
    let taken = |name: &str| current.as_deref() >= Some(name) || layout.versions().join(name).exists();
    let mut name = base.clone();
    let mut n = 1;
    while taken(&name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// The name for a folder another tool made: when it was last changed.
fn found_name(layout: &Layout) -> String {
    let changed = fs::metadata(layout.newest())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    version_name(changed)
}

/// Removes manifests of versions that never were (a run killed between writing its
/// manifest and its journal).
fn forget_orphan_manifests(layout: &Layout) {
    let current = layout.current();
    for entry in fs::read_dir(layout.manifests()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(version) = name.strip_suffix(".sha256") else {
            continue;
        };
        if current.as_deref() != Some(version) && !layout.versions().join(version).is_dir() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the oldest versions beyond `keep` (the newest counts).
fn prune(layout: &Layout, keep: usize) -> Result<Vec<String>, VersionError> {
    let older: Vec<Version> = list(layout).into_iter().filter(|v| !v.newest).collect();
    let excess = older.len().saturating_sub(keep - 1);
    let mut pruned = Vec::new();
    for version in older.into_iter().take(excess) {
        fs::remove_dir_all(&version.path).map_err(io_err("remove the old version", &version.path))?;
        let _ = fs::remove_file(layout.manifest(&version.name));
        pruned.push(version.name);
    }
    Ok(pruned)
}

/// Recreates the folders of `from` in `to` and hard-links its files with `link` (copies
/// them, and clears `linked`, where the file system refuses links). Temporaries and symlinks
/// are left out; every folder is synced.
fn clone_tree(
    from: &Path,
    to: &Path,
    link: &dyn Fn(&Path, &Path) -> io::Result<()>,
    linked: &mut bool,
) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if kind.is_symlink() || atomic_file::is_temporary(&name) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if kind.is_dir() {
            clone_tree(&source, &target, link, linked)?;
        } else if kind.is_file() {
            if *linked {
                match link(&source, &target) {
                    Ok(()) => continue,
                    Err(e) if no_links(&e) => *linked = false,
                    Err(e) => return Err(e),
                }
            }
            let mut file = atomic_file::AtomicFile::create(&target)?;
            io::copy(&mut fs::File::open(&source)?, &mut file)?;
            file.commit_leaving_folder(entry.metadata()?.modified().ok())?;
        }
    }
    atomic_file::sync_dir(to)
}

/// Whether a hard link failed because the file system has none.
fn no_links(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    ) || error.raw_os_error() == Some(rustix_errno_mlink())
}

fn rustix_errno_mlink() -> i32 {
    // EMLINK: the file has as many links as the file system allows.
    #[cfg(unix)]
    {
        rustix::io::Errno::MLINK.raw_os_error()
    }
    #[cfg(not(unix))]
    {
        -1
    }
}

/// Hashes the files of `root` that `digests` lacks and forgets entries for missing files.
/// (The version is made durable after, as a whole: `durable::sync_tree`.)
fn complete_digests(root: &Path, digests: &mut Digests) -> io::Result<()> {
    // In place, not into a second map: at 200,000 files two maps were the run's peak.
    // Entries for files that are gone are dropped first, then files without one are hashed.
    digests.retain(|relative| {
        std::fs::symlink_metadata(root.join(relative)).is_ok_and(|meta| meta.is_file())
            && !relative
                .rsplit('/')
                .next()
                .is_some_and(|name| atomic_file::is_temporary(name.as_ref()))
    });
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.map_err(io::Error::other)?;
        if !entry.file_type().is_file() || atomic_file::is_temporary(entry.file_name()) {
            continue;
        }
        let relative = entry
            .path()
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        if digests.get(&relative).is_none() {
            let digest = hash_file_with(entry.path(), |_| {})?.0;
            digests.insert(relative, digest);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobilebackup2::{BackupStore, DevicePath};

    const UDID: &str = "UDID-9";

    fn p(inner: &str) -> DevicePath {
        DevicePath::parse(&format!("{UDID}/{inner}"), UDID).unwrap()
    }

    fn put(run: &mut Run, inner: &str, bytes: &[u8]) {
        let store = run.store();
        if let Some((dir, _)) = inner.rsplit_once('/') {
            store.create_dir(&p(dir)).unwrap();
        }
        store.begin_file(&p(inner)).unwrap();
        store.write_file(bytes).unwrap();
        store.finish_file().unwrap();
    }

    fn read(path: &Path) -> Vec<u8> {
        fs::read(path).unwrap()
    }

    /// On a file system without hard links (FAT, exFAT, some network shares) or with a
    /// file at its link limit, the rest of the tree is copied, each file whole with its time.
    #[test]
    fn a_file_system_without_links_gets_copies() {
        use std::os::unix::fs::MetadataExt;
        for refusal in [io::ErrorKind::Unsupported, io::ErrorKind::PermissionDenied] {
            let root = tempfile::tempdir().unwrap();
            let (from, to) = (root.path().join("from"), root.path().join("to"));
            fs::create_dir_all(from.join("ab/cd")).unwrap();
            fs::write(from.join("Manifest.db"), b"db").unwrap();
            fs::write(from.join("ab/abcd"), b"photo").unwrap();
            fs::write(from.join("ab/cd/x"), b"deep").unwrap();
            fs::write(from.join(format!("ab/abcd.1{}", atomic_file::TEMP_SUFFIX)), b"half").unwrap();
            // The first link works; then the file system refuses.
            let links = std::cell::Cell::new(0);
            let link = |a: &Path, b: &Path| {
                links.set(links.get() + 1);
                if links.get() == 1 {
                    fs::hard_link(a, b)
                } else {
                    Err(io::Error::from(refusal))
                }
            };
            let mut linked = true;
            clone_tree(&from, &to, &link, &mut linked).unwrap();
            assert!(!linked, "{refusal:?}");
            for name in ["Manifest.db", "ab/abcd", "ab/cd/x"] {
                assert_eq!(read(&to.join(name)), read(&from.join(name)), "{name}");
                let (a, b) = (
                    fs::metadata(from.join(name)).unwrap(),
                    fs::metadata(to.join(name)).unwrap(),
                );
                assert_eq!(a.modified().unwrap(), b.modified().unwrap(), "{name} keeps its time");
            }
            let copies = ["Manifest.db", "ab/abcd", "ab/cd/x"]
                .iter()
                .filter(|n| fs::metadata(from.join(n)).unwrap().ino() != fs::metadata(to.join(n)).unwrap().ino())
                .count();
            assert_eq!(copies, 2, "one linked, the others copied");
            assert!(
                !to.join(format!("ab/abcd.1{}", atomic_file::TEMP_SUFFIX)).exists(),
                "temporaries stay behind"
            );
        }
        // Any other failure is the run's error, not a quiet copy.
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("from")).unwrap();
        fs::write(root.path().join("from/f"), b"x").unwrap();
        let mut linked = true;
        let failing = |_: &Path, _: &Path| Err(io::Error::from(io::ErrorKind::StorageFull));
        let to = root.path().join("to");
        assert!(clone_tree(&root.path().join("from"), &to, &failing, &mut linked).is_err());
    }

    #[test]
    fn runs_become_versions_sharing_unchanged_files() {
        let dest = tempfile::tempdir().unwrap();
        let layout = Layout::new(dest.path(), UDID);
        let mut run = Run::open(dest.path(), UDID).unwrap();
        put(&mut run, "ab/abcd", b"photo");
        put(&mut run, "Manifest.db", b"manifest 1");
        let first = run.commit(5).unwrap();
        assert_eq!(read(&layout.newest().join("ab/abcd")), b"photo");
        assert_eq!(first.previous, None);
        assert_eq!(layout.current().as_deref(), Some(first.version.as_str()));
        let manifest = fs::read_to_string(layout.manifest(&first.version)).unwrap();
        assert!(manifest.contains("  ab/abcd\n") && manifest.contains("  Manifest.db\n"));

        // Second run: one file changes, one stays; a kill-free run.
        let mut run = Run::open(dest.path(), UDID).unwrap();
        assert!(run.linked());
        put(&mut run, "Manifest.db", b"manifest 2");
        let second = run.commit(5).unwrap();
        assert_ne!(second.version, first.version);
        assert_eq!(second.previous.as_deref(), Some(first.version.as_str()));
        let old = layout.versions().join(&first.version);
        assert_eq!(
            read(&old.join("Manifest.db")),
            b"manifest 1",
            "the older version is unchanged"
        );
        assert_eq!(read(&layout.newest().join("Manifest.db")), b"manifest 2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ino = |p: &Path| fs::metadata(p).unwrap().ino();
            assert_eq!(
                ino(&old.join("ab/abcd")),
                ino(&layout.newest().join("ab/abcd")),
                "shared by hard link"
            );
        }
        let listed = list(&layout);
        assert_eq!(listed.len(), 2);
        assert!(listed[1].newest);
        assert!(!layout.work().exists());
    }

    #[test]
    fn a_failed_run_leaves_the_last_version_and_the_next_completes() {
        let dest = tempfile::tempdir().unwrap();
        let layout = Layout::new(dest.path(), UDID);
        let mut run = Run::open(dest.path(), UDID).unwrap();
        put(&mut run, "Status.plist", b"finished");
        run.commit(5).unwrap();
        let mut run = Run::open(dest.path(), UDID).unwrap();
        put(&mut run, "Status.plist", b"uploading");
        run.store().remove(&p("Status.plist")).unwrap();
        drop(run); // a kill: the work tree stays behind
        assert_eq!(read(&layout.newest().join("Status.plist")), b"finished");
        let mut run = Run::open(dest.path(), UDID).unwrap();
        assert_eq!(
            read(&run.store().root().join("Status.plist")),
            b"finished",
            "begun again from the last good version"
        );
        put(&mut run, "Status.plist", b"finished 2");
        run.commit(5).unwrap();
        assert_eq!(read(&layout.newest().join("Status.plist")), b"finished 2");
    }

    #[test]
    fn a_kill_inside_the_switch_over_is_finished_at_the_next_start() {
        for stage in 0..3 {
            let dest = tempfile::tempdir().unwrap();
            let layout = Layout::new(dest.path(), UDID);
            let mut run = Run::open(dest.path(), UDID).unwrap();
            put(&mut run, "f", b"one");
            let first = run.commit(5).unwrap().version;
            let mut run = Run::open(dest.path(), UDID).unwrap();
            put(&mut run, "f", b"two");
            let name = run.name().to_string();
            let work = run.store().root().to_path_buf();
            let journal = Journal {
                new: name.clone(),
                old: Some(first.clone()),
                id: identity(&work).unwrap(),
            };
            atomic_file::write(
                &layout.journal(),
                journal.to_text().as_bytes(),
                atomic_file::Access::Normal,
            )
            .unwrap();
            // Killed after the journal (0), after the exchange (1), after the old tree moved (2).
            if stage >= 1 && !exchange(&work, &layout.newest()).unwrap() {
                fs::rename(layout.newest(), work.with_file_name("tmp")).unwrap();
                fs::rename(&work, layout.newest()).unwrap();
                fs::rename(work.with_file_name("tmp"), &work).unwrap();
            }
            if stage >= 2 {
                fs::create_dir_all(layout.versions()).unwrap();
                fs::rename(&work, layout.versions().join(&first)).unwrap();
            }
            drop(run); // killed: the lock goes with the process
            let run = Run::open(dest.path(), UDID).unwrap();
            assert_eq!(read(&layout.newest().join("f")), b"two", "stage {stage}");
            assert_eq!(read(&layout.versions().join(&first).join("f")), b"one", "stage {stage}");
            assert_eq!(layout.current().as_deref(), Some(name.as_str()));
            assert!(!layout.journal().exists());
            drop(run);
        }
    }

    #[test]
    fn keep_prunes_the_oldest_versions() {
        let dest = tempfile::tempdir().unwrap();
        let layout = Layout::new(dest.path(), UDID);
        let mut names = Vec::new();
        for i in 0..4 {
            let mut run = Run::open(dest.path(), UDID).unwrap();
            put(&mut run, "f", format!("{i}").as_bytes());
            names.push(run.commit(2).unwrap().version);
        }
        let listed: Vec<String> = list(&layout).into_iter().map(|v| v.name).collect();
        assert_eq!(listed, names[2..].to_vec());
        assert!(!layout.manifest(&names[0]).exists());
    }

    #[test]
    fn a_folder_another_tool_made_becomes_the_first_older_version() {
        let dest = tempfile::tempdir().unwrap();
        let layout = Layout::new(dest.path(), UDID);
        fs::create_dir_all(layout.newest().join("ab")).unwrap();
        fs::write(layout.newest().join("ab/abcd"), b"theirs").unwrap();
        let mut run = Run::open(dest.path(), UDID).unwrap();
        put(&mut run, "Status.plist", b"ours");
        let done = run.commit(5).unwrap();
        let manifest = fs::read_to_string(layout.manifest(&done.version)).unwrap();
        assert!(manifest.contains("  ab/abcd\n"), "foreign files hashed: {manifest}");
        let older = list(&layout);
        assert_eq!(older.len(), 2);
        assert_eq!(read(&older[0].path.join("ab/abcd")), b"theirs");
        assert!(!older[0].path.join("Status.plist").exists());
    }
}
