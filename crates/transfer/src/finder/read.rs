//! Reading files back out of a backup folder (docs/backup.md §2, docs/backup-encryption.md
//! §4–§5): the keybag unlocked with the password, Manifest.db read on a private copy, and
//! its rows seen as a tree whose top-level folders are the domains
//! (`CameraRollDomain/Media/DCIM/...`, `HomeDomain/Library/SMS/...`). A [`View`] of that
//! tree is a [`FileSource`], so `files` lists and pulls from it and the photo export reads
//! a backup's `CameraRollDomain/Media` as it reads the phone's media folder.
//!
//! Listing reads no blob. A blob is read once, in chunks, and decrypted as it streams (no
//! file is held whole), by a reader thread per core working a few files ahead. Blob paths
//! come only from fileIDs that are 40 hex digits, and a blob that is not a regular file (a
//! symlink planted in the folder) is refused, not followed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use afc::client::{AfcError, FetchSink, RemoteFile};
use afc::kv::{FileInfo, FileKind};
use afc::status::AfcStatus;

use super::crypto::{self, Key};
use super::keybag::{self, ClassKeys, KeyError, Keybag, KeybagError, Password};
use super::layout;
use super::manifest_db::{FLAG_DIR, FLAG_FILE, FLAG_SYMLINK, ManifestDb, ManifestDbError};
use super::plists::{self, PlistError};
use crate::fs::open::{Links, NOT_A_FILE, open_regular};
use crate::source::FileSource;

/// Where a phone keeps its photo library inside a backup: the media folder's contents
/// (`DCIM/`, `PhotoData/Photos.sqlite`, ...) are `CameraRollDomain` `Media/...`.
pub const CAMERA_ROLL_MEDIA: &str = "CameraRollDomain/Media";

/// Why the keys of an encrypted backup cannot be had (docs/backup-encryption.md §1–§4).
/// The texts speak of Manifest.plist, which holds the keybag and ManifestKey.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    #[error("it says the backup is encrypted but has no BackupKeyBag")]
    NoKeybag,
    #[error("its BackupKeyBag: {0}")]
    Keybag(KeybagError),
    #[error("it has no ManifestKey, so Manifest.db cannot be decrypted")]
    NoManifestKey,
    #[error("the backup password is wrong: the keybag's class keys do not unwrap with it")]
    WrongPassword,
    #[error("its ManifestKey: {0}")]
    ManifestKey(KeyError),
}

/// The class keys, and Manifest.db's key (`None` before iOS 10.2, when it is in clear).
pub struct Unlocked {
    pub keys: ClassKeys,
    pub manifest_key: Option<Key>,
}

/// The keybag of an encrypted backup's Manifest.plist, checked for what a password cannot
/// make up for: the bag itself, and a ManifestKey where the bag's version needs one.
pub fn keybag_of(manifest: &plists::Manifest) -> Result<Keybag, UnlockError> {
    let bytes = manifest.keybag.as_ref().ok_or(UnlockError::NoKeybag)?;
    let bag = keybag::parse(bytes).map_err(UnlockError::Keybag)?;
    if manifest.manifest_key.is_none() && !bag.is_legacy() {
        return Err(UnlockError::NoManifestKey);
    }
    Ok(bag)
}

/// The class keys `password` unlocks: the key derivation at the bag's own counts (§2),
/// then every class key wrapped with it (§3). The derived key is wiped before this returns.
pub fn class_keys(bag: &Keybag, password: &Password) -> Result<ClassKeys, UnlockError> {
    let key = bag.derive(password).map_err(UnlockError::Keybag)?;
    bag.unlock(&key).map_err(|e| match e {
        KeybagError::WrongPassword => UnlockError::WrongPassword,
        e => UnlockError::Keybag(e),
    })
}

/// Manifest.db's key (§4): `None` when Manifest.plist has no ManifestKey (before iOS 10.2
/// the database is in clear).
pub fn manifest_key(manifest: &plists::Manifest, keys: &ClassKeys) -> Result<Option<Key>, UnlockError> {
    match &manifest.manifest_key {
        None => Ok(None),
        Some(blob) => Ok(Some(keys.unwrap_prefixed(blob).map_err(UnlockError::ManifestKey)?.1)),
    }
}

/// Everything the password unlocks: [`class_keys`], then [`manifest_key`].
pub fn unlock(manifest: &plists::Manifest, bag: &Keybag, password: &Password) -> Result<Unlocked, UnlockError> {
    let keys = class_keys(bag, password)?;
    let manifest_key = manifest_key(manifest, &keys)?;
    Ok(Unlocked { keys, manifest_key })
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{} is not a device backup: it has no Manifest.db, Manifest.plist or Status.plist, nor sub-folders that do", .0.display())]
    NotABackup(PathBuf),
    #[error("{} holds several device backups; name one of them: {}", .0.display(), .1.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Several(PathBuf, Vec<PathBuf>),
    #[error(transparent)]
    Plist(PlistError),
    #[error("the backup is encrypted: its password is needed to read it")]
    NeedsPassword,
    #[error("the backup password is wrong: the keybag's class keys do not unwrap with it")]
    WrongPassword,
    #[error("the backup's Manifest.plist: {0}")]
    Keys(UnlockError),
    #[error("the backup's {0}")]
    Database(ManifestDbError),
}

/// The one backup at `path`: `path` itself, or its only backup sub-folder.
pub fn locate(path: &Path) -> Result<PathBuf, OpenError> {
    let mut found = layout::backups_in(path);
    match found.len() {
        0 => Err(OpenError::NotABackup(path.to_path_buf())),
        1 => Ok(found.remove(0)),
        _ => Err(OpenError::Several(path.to_path_buf(), found)),
    }
}

/// Whether the backup at `dir` says it is encrypted (Manifest.plist alone is read).
pub fn is_encrypted(dir: &Path) -> Result<bool, OpenError> {
    plists::read_manifest(dir)
        .map(|m| m.is_encrypted)
        .map_err(OpenError::Plist)
}

/// One row, as the tree shows it.
#[derive(Debug)]
struct Entry {
    kind: FileKind,
    file_id: String,
    size: u64,
    mtime_ns: u64,
    birth_ns: Option<u64>,
    target: Option<String>,
    /// The EncryptionKey (class ‖ wrapped key) of an encrypted backup's file.
    wrapped_key: Option<Vec<u8>>,
    /// Why the row's record cannot be used, when it cannot.
    problem: Option<String>,
}

/// An open backup: its rows by `domain/relativePath`, the folders they imply, and the class
/// keys when it is encrypted.
pub struct Backup {
    dir: PathBuf,
    keys: Option<ClassKeys>,
    entries: HashMap<String, Entry>,
    /// Folder path -> the names in it ("" is the top, where the domains are).
    folders: BTreeMap<String, BTreeSet<String>>,
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backup")
            .field("dir", &self.dir)
            .field("encrypted", &self.keys.is_some())
            .field("entries", &self.entries.len())
            .finish()
    }
}

fn seconds_to_ns(seconds: Option<i64>) -> Option<u64> {
    seconds
        .filter(|&s| s >= 0)
        .map(|s| (s as u64).saturating_mul(1_000_000_000))
}

impl Backup {
    /// Opens the backup folder `dir` (see [`locate`]); `password` is needed when it is
    /// encrypted.
    pub fn open(dir: &Path, password: Option<&Password>) -> Result<Backup, OpenError> {
        let manifest = plists::read_manifest(dir).map_err(OpenError::Plist)?;
        let (keys, db) = if manifest.is_encrypted {
            let bag = keybag_of(&manifest).map_err(OpenError::Keys)?;
            let password = password.ok_or(OpenError::NeedsPassword)?;
            let Unlocked { keys, manifest_key } = unlock(&manifest, &bag, password).map_err(|e| match e {
                UnlockError::WrongPassword => OpenError::WrongPassword,
                e => OpenError::Keys(e),
            })?;
            let db = match &manifest_key {
                Some(key) => ManifestDb::open_encrypted(dir, key),
                // Before iOS 10.2 Manifest.db is in clear (§4).
                None => ManifestDb::open_plain(dir),
            };
            (Some(keys), db)
        } else {
            (None, ManifestDb::open_plain(dir))
        };
        let rows = db.and_then(|db| db.rows()).map_err(OpenError::Database)?;
        let mut backup = Backup {
            dir: dir.to_path_buf(),
            keys,
            entries: HashMap::with_capacity(rows.len()),
            folders: BTreeMap::new(),
        };
        for row in rows {
            let path = row.display_path();
            let kind = match row.flags {
                FLAG_FILE => FileKind::File,
                FLAG_DIR => FileKind::Directory,
                FLAG_SYMLINK => FileKind::Symlink,
                _ => FileKind::Other,
            };
            let entry = match row.file {
                Ok(file) => Entry {
                    kind,
                    file_id: row.file_id,
                    size: file.size.unwrap_or(0),
                    mtime_ns: seconds_to_ns(file.last_modified).unwrap_or(0),
                    birth_ns: seconds_to_ns(file.birth),
                    target: file.target,
                    wrapped_key: file.encryption_key,
                    problem: None,
                },
                Err(e) => Entry {
                    kind,
                    file_id: row.file_id,
                    size: 0,
                    mtime_ns: 0,
                    birth_ns: None,
                    target: None,
                    wrapped_key: None,
                    problem: Some(format!("its record in Manifest.db: {e}")),
                },
            };
            backup.add(path, entry);
        }
        Ok(backup)
    }

    /// Records a row and every folder above it.
    fn add(&mut self, path: String, entry: Entry) {
        let mut child = path.as_str();
        while let Some((parent, name)) = child.rsplit_once('/') {
            if !self
                .folders
                .entry(parent.to_string())
                .or_default()
                .insert(name.to_string())
            {
                break;
            }
            child = parent;
        }
        if !child.contains('/') {
            self.folders.entry(String::new()).or_default().insert(child.to_string());
        }
        self.entries.entry(path).or_insert(entry);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// The whole backup, domains at the top.
    pub fn domains(&self) -> View<'_> {
        self.view("")
    }

    /// The phone's media folder as it is in the backup ([`CAMERA_ROLL_MEDIA`]).
    pub fn media(&self) -> View<'_> {
        self.view(CAMERA_ROLL_MEDIA)
    }

    /// The backup seen from the folder `root` down.
    pub fn view(&self, root: &str) -> View<'_> {
        View {
            backup: self,
            root: root.trim_matches('/').to_string(),
        }
    }

    fn info(&self, path: &str) -> Option<FileInfo> {
        let info = |kind, size, mtime_ns, birthtime_ns, link_target| FileInfo {
            size,
            blocks: size.div_ceil(512),
            nlink: 1,
            kind,
            mtime_ns,
            birthtime_ns,
            link_target,
        };
        match self.entries.get(path) {
            // A row that is a folder in its flags but has rows below it reads as the folder.
            Some(e) if e.kind == FileKind::Directory || self.folders.contains_key(path) && e.kind != FileKind::File => {
                Some(info(FileKind::Directory, 0, e.mtime_ns, e.birth_ns, None))
            }
            Some(e) => Some(info(e.kind, e.size, e.mtime_ns, e.birth_ns, e.target.clone())),
            None if path.is_empty() || self.folders.contains_key(path) => {
                Some(info(FileKind::Directory, 0, 0, None, None))
            }
            None => None,
        }
    }

    /// Streams one file's plaintext into `sink`. `Ok(Err(..))` is the file's own failure;
    /// `Err` is the sink's.
    fn stream(
        &self,
        path: &str,
        index: usize,
        chunk: usize,
        sink: &mut dyn FetchSink,
    ) -> io::Result<Result<u64, AfcError>> {
        let unreadable = |reason: String| {
            Err(AfcError::Unreadable {
                path: path.to_string(),
                reason,
            })
        };
        let Some(entry) = self.entries.get(path) else {
            return Ok(Err(AfcError::Status {
                path: path.to_string(),
                status: AfcStatus::ObjectNotFound,
            }));
        };
        if entry.kind != FileKind::File {
            return Ok(unreadable("not a regular file in the backup".into()));
        }
        if let Some(problem) = &entry.problem {
            return Ok(unreadable(problem.clone()));
        }
        let Some(blob) = layout::blob_path(&entry.file_id) else {
            return Ok(unreadable(format!(
                "its fileID {:?} names no blob",
                entry.file_id.escape_debug().to_string()
            )));
        };
        let key = match (&self.keys, &entry.wrapped_key) {
            (None, _) => None,
            (Some(_), None) => {
                return Ok(unreadable(
                    "its record has no EncryptionKey, so it cannot be decrypted".into(),
                ));
            }
            (Some(keys), Some(wrapped)) => match keys.unwrap_prefixed(wrapped) {
                Ok((_, key)) => Some(key),
                Err(e) => return Ok(unreadable(format!("its EncryptionKey: {e}"))),
            },
        };
        let file = match open_blob(&self.dir.join(&blob)) {
            Ok(file) => file,
            // Some tools write no blob for an empty file.
            Err(e) if e.kind() == io::ErrorKind::NotFound && entry.size == 0 => return Ok(Ok(0)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(unreadable(format!("its blob {blob} is missing from the backup")));
            }
            Err(e) => return Ok(unreadable(format!("its blob {blob}: {e}"))),
        };
        Ok(match key {
            None => copy_plain(file, index, chunk, sink)?,
            Some(key) => copy_decrypted(file, &key, index, chunk, sink)?,
        }
        .or_else(|reason| unreadable(format!("its blob {blob}: {reason}"))))
    }
}

/// Opens a blob for reading, refusing anything but a regular file (a symlink is not followed).
fn open_blob(path: &Path) -> io::Result<File> {
    // The prefix folder too: a symlink planted there would lead the read elsewhere.
    if let Some(folder) = path.parent()
        && !std::fs::symlink_metadata(folder)?.is_dir()
    {
        return Err(io::Error::other("its folder is not a real folder"));
    }
    // Said as such for a symlink too (opening it would only say "too many levels").
    if !std::fs::symlink_metadata(path)?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, NOT_A_FILE));
    }
    open_regular(path, Links::Refuse)
}

/// Reads into `buf` until it is full or the file ends; the bytes read.
fn fill(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A plain blob, chunk by chunk, each chunk's buffer handed to the sink (and reused when it
/// gives it back). The outer error is the sink's, the inner the file's.
fn copy_plain(mut file: File, index: usize, chunk: usize, sink: &mut dyn FetchSink) -> io::Result<Result<u64, String>> {
    let mut total = 0u64;
    loop {
        let mut buf = sink.spare().unwrap_or_default();
        buf.resize(chunk, 0);
        let n = match fill(&mut file, &mut buf) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if n == 0 {
            return Ok(Ok(total));
        }
        buf.truncate(n);
        total += n as u64;
        sink.data_owned(index, buf)?;
    }
}

/// An encrypted blob, decrypted as it streams (docs/backup-encryption.md §5): the last
/// block is held back until the end, where the padding is checked and stripped.
fn copy_decrypted(
    mut file: File,
    key: &Key,
    index: usize,
    chunk: usize,
    sink: &mut dyn FetchSink,
) -> io::Result<Result<u64, String>> {
    let mut decryptor = crypto::Decryptor::new(key);
    let mut buf = vec![0u8; chunk];
    let mut total = 0u64;
    // The sink's error, kept to stop the read (the decryptor's callback cannot return it).
    let failed: RefCell<Option<io::Error>> = RefCell::new(None);
    let mut give = |plain: &[u8]| {
        if failed.borrow().is_none() && !plain.is_empty() {
            total += plain.len() as u64;
            if let Err(e) = sink.data(index, plain) {
                *failed.borrow_mut() = Some(e);
            }
        }
    };
    loop {
        let n = match fill(&mut file, &mut buf) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if n == 0 {
            break;
        }
        decryptor.update(&mut buf[..n], &mut give);
        if let Some(e) = failed.borrow_mut().take() {
            return Err(e);
        }
    }
    let finished = decryptor.finish(&mut give);
    if let Some(e) = failed.borrow_mut().take() {
        return Err(e);
    }
    Ok(match finished {
        Ok(()) => Ok(total),
        Err(e) => Err(format!("it does not decrypt: {e}")),
    })
}

/// A backup seen from one of its folders down, as a [`FileSource`]: paths are relative to
/// `root`, with or without a leading `/`.
pub struct View<'a> {
    backup: &'a Backup,
    root: String,
}

impl View<'_> {
    /// The tree path of `path` below the root.
    fn full(&self, path: &str) -> String {
        let path = path.trim_matches('/');
        match (self.root.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.root.clone(),
            (false, false) => format!("{}/{path}", self.root),
        }
    }

    fn not_found(path: &str) -> AfcError {
        AfcError::Status {
            path: path.to_string(),
            status: AfcStatus::ObjectNotFound,
        }
    }
}

impl FileSource for View<'_> {
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, AfcError> {
        let full = self.full(path);
        match self.backup.info(&full) {
            None => Err(View::not_found(path)),
            Some(info) if info.kind != FileKind::Directory => Err(AfcError::Status {
                path: path.to_string(),
                status: AfcStatus::ReadError,
            }),
            Some(_) => Ok(self
                .backup
                .folders
                .get(&full)
                .map(|names| names.iter().cloned().collect())
                .unwrap_or_default()),
        }
    }

    fn file_info(&mut self, path: &str) -> Result<FileInfo, AfcError> {
        self.backup.info(&self.full(path)).ok_or_else(|| View::not_found(path))
    }

    fn file_infos(&mut self, paths: &[String], _window: usize) -> Result<Vec<Result<FileInfo, AfcError>>, AfcError> {
        Ok(paths.iter().map(|p| self.file_info(p)).collect())
    }

    /// Files are read and decrypted by one reader thread per core, a few files ahead, and
    /// handed to `sink` one whole file after another, in order; each reader keeps at most
    /// a few chunks of its file waiting, so memory stays a few chunks per core.
    fn fetch(
        &mut self,
        files: &[RemoteFile],
        chunk: u64,
        _window: usize,
        sink: &mut dyn FetchSink,
    ) -> Result<(), AfcError> {
        let chunk = usize::try_from(chunk).unwrap_or(usize::MAX).clamp(4096, 16 << 20);
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
        let paths: Vec<String> = files.iter().map(|f| self.full(&f.path)).collect();
        let backup = self.backup;
        // Buffers the sink is done with, back to the readers (a sink that passes them on to
        // other threads returns them through `spare`, and would hold them all otherwise).
        let pool = Pool::default();
        std::thread::scope(|scope| {
            let (jobs, queue) = sync_channel::<(String, SyncSender<Piece>)>(readers);
            let queue = Arc::new(Mutex::new(queue));
            for _ in 0..readers {
                let queue = Arc::clone(&queue);
                let pool = &pool;
                scope.spawn(move || {
                    loop {
                        // The lock is held only to take the next file.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok((path, pieces)) = job else { return };
                        let mut to = ToChannel { pieces, pool };
                        // A closed channel: the fetch stopped; the next job tells.
                        if let Ok(outcome) = backup.stream(&path, 0, chunk, &mut to) {
                            let _ = to.pieces.send(Piece::End(outcome));
                        }
                    }
                });
            }
            let mut pending = VecDeque::new();
            let mut next = 0;
            for (index, file) in files.iter().enumerate() {
                while next < files.len() && pending.len() <= readers {
                    let (to, from) = sync_channel(AHEAD);
                    if jobs.send((paths[next].clone(), to)).is_err() {
                        break;
                    }
                    pending.push_back(from);
                    next += 1;
                }
                let sink_err = |source| AfcError::Sink {
                    path: file.path.clone(),
                    source,
                };
                let Some(from) = pending.pop_front() else {
                    return Err(sink_err(io::Error::other("the backup's readers stopped")));
                };
                sink.begin(index).map_err(sink_err)?;
                let outcome = loop {
                    match from.recv() {
                        Ok(Piece::Data(bytes)) => {
                            sink.data_owned(index, bytes).map_err(sink_err)?;
                            while let Some(spare) = sink.spare() {
                                pool.put(spare);
                            }
                        }
                        Ok(Piece::End(outcome)) => break outcome,
                        Err(_) => {
                            break Err(AfcError::Unreadable {
                                path: file.path.clone(),
                                reason: "its reader stopped".into(),
                            });
                        }
                    }
                };
                // Errors name the path as the caller asked for it.
                let outcome = outcome.map_err(|e| match e {
                    AfcError::Unreadable { reason, .. } => AfcError::Unreadable {
                        path: file.path.clone(),
                        reason,
                    },
                    AfcError::Status { status, .. } => AfcError::Status {
                        path: file.path.clone(),
                        status,
                    },
                    e => e,
                });
                sink.end(index, outcome).map_err(sink_err)?;
            }
            Ok(())
            // Returning drops the job queue and the waiting channels, so the readers stop.
        })
    }
}

/// Chunks of one file waiting for the sink, per reader.
const AHEAD: usize = 4;

/// What a reader sends of its file: its plaintext, then how it ended.
enum Piece {
    Data(Vec<u8>),
    End(Result<u64, AfcError>),
}

/// Emptied chunk buffers, shared by the readers; a few are kept, the rest freed.
#[derive(Default)]
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    const KEEP: usize = 8;

    fn put(&self, buffer: Vec<u8>) {
        if let Ok(mut kept) = self.0.lock()
            && kept.len() < Pool::KEEP
        {
            kept.push(buffer);
        }
    }

    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.pop()
    }
}

/// A reader's end of its file's channel.
struct ToChannel<'a> {
    pieces: SyncSender<Piece>,
    pool: &'a Pool,
}

fn closed() -> io::Error {
    io::Error::other("the fetch stopped")
}

impl FetchSink for ToChannel<'_> {
    fn begin(&mut self, _index: usize) -> io::Result<()> {
        Ok(())
    }
    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        let mut buffer = self.pool.take().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(bytes);
        self.data_owned(index, buffer)
    }
    fn data_owned(&mut self, _index: usize, bytes: Vec<u8>) -> io::Result<()> {
        self.pieces.send(Piece::Data(bytes)).map_err(|_| closed())
    }
    fn spare(&mut self) -> Option<Vec<u8>> {
        self.pool.take()
    }
    fn end(&mut self, _index: usize, _outcome: Result<u64, AfcError>) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finder::keybag::WrappedClass;
    use crate::finder::mbfile::{self, MbFile};
    use plist::{Dictionary, Value};

    const PASSWORD: &str = "hunter2";

    /// What a test backup row is.
    enum Row<'a> {
        File(&'a [u8]),
        Dir,
        /// A file row whose blob is a symlink to `target`.
        LinkedBlob(&'a Path),
    }

    /// Writes a backup of `rows` (domain, relativePath, what) into `dir`, encrypted with
    /// [`PASSWORD`] (one key derivation round each) when `encrypted`.
    fn write(dir: &Path, rows: &[(&str, &str, Row)], encrypted: bool) {
        let class_key = Key::from_bytes([3; 32]);
        let mut bag = Keybag {
            version: 5,
            kind: 1,
            uuid: vec![1; 16],
            wrap: 0,
            salt: vec![2; 20],
            iterations: 1,
            dp_salt: Some(vec![4; 20]),
            dp_iterations: Some(1),
            classes: Default::default(),
        };
        let password_key = bag.derive(&Password::new(PASSWORD.into())).unwrap();
        bag.classes.insert(
            3,
            WrappedClass {
                class: 3,
                wrap: 2,
                key_type: 0,
                wrapped: crypto::wrap_key(&password_key, &class_key).to_vec(),
            },
        );
        let prefixed = |key: &Key| {
            let mut out = 3u32.to_le_bytes().to_vec();
            out.extend_from_slice(&crypto::wrap_key(&class_key, key));
            out
        };
        let db_dir = tempfile::tempdir().unwrap();
        let db_path = db_dir.path().join("Manifest.db");
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        conn.execute_batch(
            "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);",
        )
        .unwrap();
        for (n, (domain, path, row)) in rows.iter().enumerate() {
            let id = layout::file_id(domain, path);
            let file_key = Key::from_bytes([n as u8 + 10; 32]);
            let (flags, size) = match row {
                Row::File(bytes) => (FLAG_FILE, bytes.len() as u64),
                Row::Dir => (FLAG_DIR, 0),
                Row::LinkedBlob(_) => (FLAG_FILE, 5),
            };
            let record = MbFile {
                relative_path: Some(path.to_string()),
                size: Some(size),
                last_modified: Some(1_700_000_000 + n as i64),
                encryption_key: (encrypted && flags == FLAG_FILE).then(|| prefixed(&file_key)),
                ..MbFile::default()
            };
            conn.execute(
                "INSERT INTO Files VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, domain, path, flags, mbfile::encode(&record)],
            )
            .unwrap();
            let blob = dir.join(layout::blob_path(&id).unwrap());
            std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
            match row {
                Row::File(bytes) if encrypted => std::fs::write(&blob, crypto::encrypt(&file_key, bytes)).unwrap(),
                Row::File(bytes) => std::fs::write(&blob, bytes).unwrap(),
                Row::Dir => {}
                Row::LinkedBlob(target) => std::os::unix::fs::symlink(target, &blob).unwrap(),
            }
        }
        drop(conn);
        let manifest_key = Key::from_bytes([9; 32]);
        let db = std::fs::read(&db_path).unwrap();
        let mut plist = Dictionary::new();
        plist.insert("IsEncrypted".into(), Value::Boolean(encrypted));
        if encrypted {
            std::fs::write(dir.join("Manifest.db"), crypto::encrypt(&manifest_key, &db)).unwrap();
            plist.insert("BackupKeyBag".into(), Value::Data(keybag::encode(&bag)));
            plist.insert("ManifestKey".into(), Value::Data(prefixed(&manifest_key)));
        } else {
            std::fs::write(dir.join("Manifest.db"), db).unwrap();
        }
        Value::Dictionary(plist)
            .to_file_binary(dir.join("Manifest.plist"))
            .unwrap();
    }

    /// Records what a fetch gives, and the largest piece handed over at once.
    #[derive(Default)]
    struct Record {
        calls: Vec<String>,
        bytes: BTreeMap<usize, Vec<u8>>,
        ends: BTreeMap<usize, Result<u64, String>>,
        largest: usize,
    }

    impl FetchSink for Record {
        fn begin(&mut self, index: usize) -> io::Result<()> {
            self.calls.push(format!("begin {index}"));
            self.bytes.insert(index, Vec::new());
            Ok(())
        }
        fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
            self.largest = self.largest.max(bytes.len());
            self.bytes.entry(index).or_default().extend_from_slice(bytes);
            Ok(())
        }
        fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
            self.calls.push(format!("end {index}"));
            self.ends.insert(index, outcome.map_err(|e| e.to_string()));
            Ok(())
        }
    }

    /// Files to fetch by path (the size given is not what these tests look at).
    fn remote_files(paths: &[&str]) -> Vec<RemoteFile> {
        paths
            .iter()
            .map(|p| RemoteFile {
                path: p.to_string(),
                size: 0,
            })
            .collect()
    }

    fn fetch(view: &mut View, paths: &[&str], chunk: u64) -> Record {
        let files = remote_files(paths);
        let mut sink = Record::default();
        view.fetch(&files, chunk, 1, &mut sink).unwrap();
        sink
    }

    fn big() -> Vec<u8> {
        (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn domains_are_folders_and_files_stream_in_chunks() {
        let big = big();
        for encrypted in [false, true] {
            let root = tempfile::tempdir().unwrap();
            let rows = [
                (
                    "CameraRollDomain",
                    "Media/DCIM/100APPLE/IMG_0001.JPG",
                    Row::File(&big[..]),
                ),
                ("CameraRollDomain", "Media/DCIM", Row::Dir),
                ("HomeDomain", "Library/empty", Row::File(b"")),
            ];
            write(root.path(), &rows, encrypted);
            let password = Password::new(PASSWORD.into());
            let backup = Backup::open(root.path(), Some(&password)).unwrap();
            assert_eq!(backup.is_encrypted(), encrypted);
            let mut top = backup.domains();
            assert_eq!(top.list_dir("/").unwrap(), ["CameraRollDomain", "HomeDomain"]);
            assert_eq!(top.list_dir("CameraRollDomain/Media/DCIM/").unwrap(), ["100APPLE"]);
            let info = top
                .file_info("/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG")
                .unwrap();
            assert_eq!((info.kind, info.size), (FileKind::File, big.len() as u64));
            assert_eq!(info.mtime_ns, 1_700_000_000 * 1_000_000_000);
            assert_eq!(top.file_info("HomeDomain").unwrap().kind, FileKind::Directory);
            assert!(matches!(
                top.list_dir("HomeDomain/Library/empty"),
                Err(AfcError::Status {
                    status: AfcStatus::ReadError,
                    ..
                })
            ));
            assert!(matches!(
                top.file_info("HomeDomain/nothing"),
                Err(AfcError::Status {
                    status: AfcStatus::ObjectNotFound,
                    ..
                })
            ));

            // The media view is the phone's media folder; no piece is larger than a chunk.
            let mut media = backup.media();
            assert_eq!(media.list_dir("").unwrap(), ["DCIM"]);
            let got = fetch(&mut media, &["DCIM/100APPLE/IMG_0001.JPG", "DCIM/none"], 4096);
            assert_eq!(got.bytes[&0], big, "encrypted: {encrypted}");
            assert_eq!(got.ends[&0], Ok(big.len() as u64));
            assert!(got.largest <= 4096, "a piece of {} bytes", got.largest);
            assert!(got.ends[&1].as_ref().unwrap_err().contains("DCIM/none"));
            let empty = fetch(&mut top, &["HomeDomain/Library/empty"], 4096);
            assert_eq!(empty.ends[&0], Ok(0));
        }
    }

    /// Many files read ahead by several readers reach the sink whole, one after another,
    /// in order; a sink that fails stops the fetch (and its readers) with its error.
    #[test]
    fn read_ahead_keeps_order_and_stops_on_a_failing_sink() {
        let contents: Vec<Vec<u8>> = (0..40u8).map(|n| vec![n; 1000 + n as usize * 997]).collect();
        let names: Vec<String> = (0..40).map(|n| format!("f{n:02}")).collect();
        let rows: Vec<(&str, &str, Row)> = names
            .iter()
            .zip(&contents)
            .map(|(name, bytes)| ("HomeDomain", name.as_str(), Row::File(bytes)))
            .collect();
        let root = tempfile::tempdir().unwrap();
        write(root.path(), &rows, true);
        let password = Password::new(PASSWORD.into());
        let backup = Backup::open(root.path(), Some(&password)).unwrap();
        let paths: Vec<String> = names.iter().map(|n| format!("HomeDomain/{n}")).collect();
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let got = fetch(&mut backup.domains(), &paths, 4096);
        for (n, bytes) in contents.iter().enumerate() {
            assert_eq!(&got.bytes[&n], bytes, "file {n}");
            assert_eq!(got.ends[&n], Ok(bytes.len() as u64));
        }
        let order: Vec<usize> = got
            .calls
            .iter()
            .filter_map(|c| c.strip_prefix("begin ")?.parse().ok())
            .collect();
        assert_eq!(order, (0..40).collect::<Vec<_>>());
        assert!(
            got.calls
                .windows(2)
                .all(|w| !(w[0].starts_with("begin") && w[1].starts_with("begin"))),
            "files overlap: {:?}",
            got.calls
        );

        struct Failing(usize);
        impl FetchSink for Failing {
            fn begin(&mut self, _: usize) -> io::Result<()> {
                Ok(())
            }
            fn data(&mut self, index: usize, _: &[u8]) -> io::Result<()> {
                if index == self.0 {
                    return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
                }
                Ok(())
            }
            fn end(&mut self, _: usize, _: Result<u64, AfcError>) -> io::Result<()> {
                Ok(())
            }
        }
        let files = remote_files(&paths);
        let stopped = backup.domains().fetch(&files, 4096, 1, &mut Failing(3));
        assert!(
            matches!(&stopped, Err(AfcError::Sink { path, .. }) if path == "HomeDomain/f03"),
            "{stopped:?}"
        );
    }

    #[test]
    fn wrong_missing_and_damaged() {
        let root = tempfile::tempdir().unwrap();
        let big = big();
        write(
            root.path(),
            &[
                ("HomeDomain", "a", Row::File(&big[..])),
                ("HomeDomain", "b", Row::File(b"bee")),
            ],
            true,
        );
        assert!(matches!(
            Backup::open(root.path(), Some(&Password::new("wrong".into()))),
            Err(OpenError::WrongPassword)
        ));
        assert!(matches!(Backup::open(root.path(), None), Err(OpenError::NeedsPassword)));
        assert!(is_encrypted(root.path()).unwrap());

        // A blob cut short does not decrypt, one removed is missing: each file's own failure.
        let blob = |p: &str| {
            root.path()
                .join(layout::blob_path(&layout::file_id("HomeDomain", p)).unwrap())
        };
        let cut = std::fs::read(blob("a")).unwrap();
        std::fs::write(blob("a"), &cut[..cut.len() - 16]).unwrap();
        std::fs::remove_file(blob("b")).unwrap();
        let password = Password::new(PASSWORD.into());
        let backup = Backup::open(root.path(), Some(&password)).unwrap();
        let got = fetch(&mut backup.domains(), &["HomeDomain/a", "HomeDomain/b"], 1 << 20);
        assert!(
            got.ends[&0].as_ref().unwrap_err().contains("does not decrypt"),
            "{:?}",
            got.ends
        );
        assert!(got.ends[&1].as_ref().unwrap_err().contains("missing"), "{:?}", got.ends);
    }

    /// Rows with `..`, absolute paths and a `..` domain stay names in the tree (which pull
    /// refuses, as from a phone); a blob that is a symlink is not followed.
    #[test]
    fn hostile_rows_and_linked_blobs() {
        let root = tempfile::tempdir().unwrap();
        let secret = root.path().join("secret");
        std::fs::write(&secret, "secret").unwrap();
        let dir = root.path().join("backup");
        std::fs::create_dir(&dir).unwrap();
        write(
            &dir,
            &[
                ("HomeDomain", "../../x", Row::File(b"x")),
                ("HomeDomain", "/etc/y", Row::File(b"y")),
                ("..", "z", Row::File(b"z")),
                ("HomeDomain", "linked", Row::LinkedBlob(&secret)),
            ],
            false,
        );
        let backup = Backup::open(&dir, None).unwrap();
        let mut top = backup.domains();
        assert_eq!(top.list_dir("").unwrap(), ["..", "HomeDomain"]);
        assert_eq!(top.list_dir("HomeDomain").unwrap(), ["", "..", "linked"]);
        let got = fetch(&mut top, &["HomeDomain/linked"], 4096);
        assert!(got.bytes[&0].is_empty());
        assert!(
            got.ends[&0].as_ref().unwrap_err().contains("not a regular file"),
            "{:?}",
            got.ends
        );
        assert!(matches!(locate(root.path()), Ok(p) if p == dir));

        // A prefix folder that is a symlink to another folder holding the blob is not followed.
        let id = layout::file_id("HomeDomain", "../../x");
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::rename(dir.join(&id[..2]), elsewhere.join(&id[..2])).unwrap();
        std::os::unix::fs::symlink(elsewhere.join(&id[..2]), dir.join(&id[..2])).unwrap();
        let got = fetch(&mut top, &["HomeDomain/../../x"], 4096);
        assert!(
            got.ends[&0].as_ref().unwrap_err().contains("not a real folder"),
            "{:?}",
            got.ends
        );
    }
}
