//! Proving a backup folder whole (docs/backup.md §2.4, docs/backup-encryption.md §6), in the
//! photo verify's vocabulary ([`crate::verify::finding`]): plists, a finished status, the
//! UDID, Manifest.db's integrity, every row's fileID, every blob's presence and size (padded
//! size, key and padding when encrypted), orphans, and with `deep` every file's content.
//! What could not be checked (no password, no recorded hashes) is said in
//! [`BackupReport::checks`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::crypto::{self, Key};
use super::digests::{self, OwnHashes};
use super::keybag::{ClassKeys, Password};
use super::layout::{self, INFO_PLIST, MANIFEST_DB, MANIFEST_PLIST, SNAPSHOT, STATUS_PLIST};
use super::manifest_db::{self, FLAG_DIR, FLAG_FILE, FLAG_SYMLINK, ManifestDb, ManifestDbError, Row};
use super::plists::{self, PlistError};
use super::read::{self, UnlockError};
use crate::fs::hash::{hex, unhex};
use crate::fs::open::NOT_A_FILE;
use crate::verify::content;
use crate::verify::finding::{Finding, Status, VerifyReport};

/// What the phone's error 205 after a broken backup comes from, and what to do (§4:
/// libimobiledevice#1582, pymobiledevice3#1187).
pub const EMPTY_MANIFEST: &str = "Manifest.plist is empty, the known cause of error 205 \
    (\"Manifest references files not in backup\") after an interrupted backup: this backup \
    cannot be restored or backed up onto as it is; move the folder aside (keep it until a \
    new backup has finished) so the next backup is a full one";

/// The SHA-256s lifeboat recorded for the blobs it received (the host side of a backup
/// lifeboat made). The hook for the check that also finds a change that keeps the size.
pub trait RecordedHashes: Sync {
    /// Each blob `xx/<fileID>` of a lower-case fileID, as its fileID's 20 bytes, with the
    /// SHA-256 of the blob as it was stored; sorted by fileID.
    fn blobs(&self) -> &[([u8; 20], [u8; 32])];

    /// The SHA-256 recorded for the blob of `fileID`, if one was.
    fn sha256(&self, file_id: &[u8; 20]) -> Option<[u8; 32]> {
        let blobs = self.blobs();
        let i = blobs.binary_search_by(|(id, _)| id.cmp(file_id)).ok()?;
        Some(blobs[i].1)
    }
}

pub struct Options<'a> {
    /// Read (and decrypt) every file and check its content by type.
    pub deep: bool,
    /// For an encrypted backup; without it only what the password does not guard is checked.
    pub password: Option<&'a Password>,
    pub recorded: Option<&'a dyn RecordedHashes>,
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
}

/// One check, and whether it could be made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub done: bool,
    /// What it checks, or why it could not.
    pub note: String,
}

#[derive(Debug, Default)]
pub struct BackupReport {
    pub dir: PathBuf,
    pub udid: Option<String>,
    pub encrypted: Option<bool>,
    /// Files Manifest.db lists (`recorded`), files checked and OK, bytes read, and the
    /// findings that make the backup unsound. Paths are `domain/relativePath` for files,
    /// folder-relative for everything else.
    pub report: VerifyReport,
    /// What is worth knowing but is no damage (a `Size` that disagrees, §5).
    pub warnings: Vec<Finding>,
    /// The blob (`xx/fileID`) behind a file's finding or warning, by the finding's path.
    pub blobs: BTreeMap<String, String>,
    pub checks: Vec<Check>,
}

impl BackupReport {
    pub fn is_clean(&self) -> bool {
        self.report.findings.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FinderError {
    #[error("{} is not a device backup: it has no Manifest.db, Manifest.plist or Status.plist, nor sub-folders that do", .0.display())]
    NotABackup(PathBuf),
    #[error("the backup password is wrong: the keybag's class keys do not unwrap with it")]
    WrongPassword,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Verifies the backup at `path`, or each backup in the folder `path`.
pub fn verify_all(path: &Path, options: &Options) -> Result<Vec<BackupReport>, FinderError> {
    let dirs = layout::backups_in(path);
    if dirs.is_empty() {
        return Err(FinderError::NotABackup(path.to_path_buf()));
    }
    dirs.iter().map(|dir| verify_backup(dir, options)).collect()
}

/// A file row to check against its blob: only what the checks need, held for every file
/// at once (a 100,000-file backup keeps 100,000 of these).
struct FileRow {
    path: Box<str>,
    /// The fileID's 20 bytes (rows whose fileID is not 40 lowercase hex digits are not
    /// kept): 20 bytes where the text took about 70.
    file_id: [u8; 20],
    size: Option<u64>,
    encryption_key: Option<Box<[u8]>>,
    protection_class: Option<u64>,
}

impl FileRow {
    /// Its blob, relative to the backup folder.
    fn blob(&self) -> String {
        // A row's fileID is 40 lower-case hex digits, so it always names a blob.
        layout::blob_path(&hex(&self.file_id)).unwrap_or_default()
    }
}

/// What checking one blob gave.
#[derive(Default)]
struct Outcome {
    finding: Option<Status>,
    warnings: Vec<Status>,
    bytes: u64,
}

impl Outcome {
    fn bad(status: Status) -> Outcome {
        Outcome {
            finding: Some(status),
            ..Default::default()
        }
    }
}

struct Verifier<'a> {
    dir: &'a Path,
    options: &'a Options<'a>,
    out: BackupReport,
}

impl Verifier<'_> {
    fn find(&mut self, path: impl Into<String>, status: Status) {
        self.out.report.findings.push(Finding {
            path: path.into(),
            status,
        });
    }

    fn warn(&mut self, path: impl Into<String>, status: Status) {
        self.out.warnings.push(Finding {
            path: path.into(),
            status,
        });
    }

    fn check(&mut self, name: &'static str, done: bool, note: impl Into<String>) {
        self.out.checks.push(Check {
            name,
            done,
            note: note.into(),
        });
    }

    fn plist_problem(&mut self, name: &str, error: PlistError) {
        match error {
            PlistError::Missing(_) => self.find(name, Status::Missing),
            PlistError::Empty(_) if name == MANIFEST_PLIST => self.find(name, Status::Damaged(EMPTY_MANIFEST.into())),
            PlistError::Empty(_) => self.find(name, Status::Damaged("empty".into())),
            PlistError::Io { source, .. } => self.find(name, Status::Unreadable(source.to_string())),
            PlistError::Parse { reason, .. } => {
                self.find(name, Status::Damaged(format!("not a property list: {reason}")))
            }
            PlistError::TooLarge { size, .. } => {
                self.find(name, Status::Damaged(format!("{size} bytes, too large for a plist")))
            }
        }
    }
}

pub fn verify_backup(dir: &Path, options: &Options) -> Result<BackupReport, FinderError> {
    if !dir.is_dir() {
        return Err(FinderError::NotABackup(dir.to_path_buf()));
    }
    // A backup lifeboat made carries the SHA-256 of every file as it arrived.
    let own = match options.recorded {
        Some(_) => OwnHashes::None,
        None => digests::own_hashes(dir),
    };
    let with_own;
    let options = match &own {
        OwnHashes::Found(recorded) | OwnHashes::DatabaseChanged(recorded) => {
            with_own = Options {
                deep: options.deep,
                password: options.password,
                recorded: Some(recorded),
                on_bytes: options.on_bytes,
            };
            &with_own
        }
        _ => options,
    };
    let mut report = verify_folder(dir, options)?;
    let recorded_check = report.checks.iter_mut().find(|c| c.name == "recorded-sha256");
    match own {
        OwnHashes::Changed => {
            if let Some(check) = recorded_check {
                check.note = "each file against the SHA-256 lifeboat recorded as it arrived: another \
                              tool has backed up onto this folder since (its Manifest.db and \
                              Status.plist are not the ones recorded), so those hashes no longer apply"
                    .into();
            }
        }
        OwnHashes::DatabaseChanged(_) => {
            if let Some(check) = recorded_check {
                check.note = "every blob against the SHA-256 recorded when lifeboat received it; \
                              Manifest.db is not the one recorded, though no backup has run since \
                              (Status.plist is as recorded)"
                    .into();
            }
            // Damage the integrity check saw is reported already, in its own words.
            if !report.report.findings.iter().any(|f| f.path == MANIFEST_DB) {
                report.report.findings.push(Finding {
                    path: MANIFEST_DB.into(),
                    status: Status::Corrupt,
                });
                report.report.findings.sort_by(|a, b| a.path.cmp(&b.path));
            }
        }
        OwnHashes::None | OwnHashes::Found(_) => {}
    }
    Ok(report)
}

/// What hashing a recorded blob as stored gave.
enum Hashed {
    /// Not there, or not a regular file, when it was looked for: the row's own check says so.
    Absent,
    /// Read whole (this many bytes): its SHA-256 is the one recorded.
    Same(u64),
    /// Read whole: its SHA-256 is not the one recorded.
    Differs(u64),
    /// An `io::Error` is one word, so a result takes 16 bytes: there is one for every blob.
    Unreadable(io::Error),
}
const _: () = assert!(std::mem::size_of::<Hashed>() == 16);

/// The recorded blobs hashed as stored, in the order of [`RecordedHashes::blobs`].
struct Prehashed<'a> {
    recorded: &'a dyn RecordedHashes,
    results: Vec<Hashed>,
}

impl Prehashed<'_> {
    fn get(&self, file_id: &[u8; 20]) -> Option<&Hashed> {
        let i = self.recorded.blobs().binary_search_by(|(id, _)| id.cmp(file_id)).ok()?;
        self.results.get(i)
    }
}

/// Hashes every recorded blob as stored, on every core, until `stop`.
fn hash_recorded(dir: &Path, recorded: &dyn RecordedHashes, options: &Options, stop: &AtomicBool) -> Vec<Hashed> {
    crate::parallel::map(recorded.blobs(), |(id, want)| {
        let Some(blob) = layout::blob_path(&hex(id)) else {
            return Hashed::Absent;
        };
        if stop.load(Ordering::Relaxed) {
            return Hashed::Absent;
        }
        // A device or a pipe in a hostile folder is never read (`open_regular`).
        match crate::fs::hash::hash_file_with(&dir.join(blob), |piece| (options.on_bytes)(piece.len() as u64)) {
            Ok((digest, bytes)) if digest == *want => Hashed::Same(bytes),
            Ok((_, bytes)) => Hashed::Differs(bytes),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::InvalidInput) => Hashed::Absent,
            Err(e) => Hashed::Unreadable(e),
        }
    })
}

fn verify_folder(dir: &Path, options: &Options) -> Result<BackupReport, FinderError> {
    // Without `deep`, the blobs of a backup lifeboat made are hashed against their recorded
    // SHA-256s on every core while the plists, the keys and Manifest.db are checked and its
    // rows read on one: that check needs nothing of them. With `deep` each blob is read
    // once, for both checks, once its row (and key) is known.
    let Some(recorded) = options.recorded.filter(|_| !options.deep) else {
        return check_folder(dir, options, || None);
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hash_recorded(dir, recorded, options, &stop));
        // A panic in the hashing leaves the rows to read their blobs themselves.
        let report = check_folder(dir, options, || hashing.join().ok());
        // A folder that stopped short of the blobs does not wait for them to be hashed.
        stop.store(true, Ordering::Relaxed);
        report
    })
}

/// [`verify_folder`]'s checks, with `prehashed` giving the recorded blobs' hashes (in the
/// order of [`RecordedHashes::blobs`]) when they were taken.
fn check_folder(
    dir: &Path,
    options: &Options,
    prehashed: impl FnOnce() -> Option<Vec<Hashed>>,
) -> Result<BackupReport, FinderError> {
    let mut v = Verifier {
        dir,
        options,
        out: BackupReport {
            dir: dir.to_path_buf(),
            ..Default::default()
        },
    };

    // The plists, the status and the UDID (§2.4 items 1–3).
    let status = plists::read_status(dir)
        .map_err(|e| v.plist_problem(STATUS_PLIST, e))
        .ok();
    let manifest = plists::read_manifest(dir)
        .map_err(|e| v.plist_problem(MANIFEST_PLIST, e))
        .ok();
    let info = plists::read_info(dir).map_err(|e| v.plist_problem(INFO_PLIST, e)).ok();
    v.check(
        "plists",
        true,
        "Status.plist, Manifest.plist and Info.plist are present and parse",
    );
    if let Some(status) = &status {
        if !status.finished() {
            let state = status.snapshot_state.as_deref().unwrap_or("missing");
            v.find(
                STATUS_PLIST,
                Status::Damaged(format!(
                    "the backup did not finish: SnapshotState is {state:?}, not \"finished\""
                )),
            );
        }
        if status.version_ok() == Some(false) {
            let version = status.version.clone().unwrap_or_default();
            v.warn(
                STATUS_PLIST,
                Status::Damaged(format!(
                    "Version {version} is older than 3.3: the phone will make a full backup over it, not an incremental one"
                )),
            );
        }
    }
    if dir.join(SNAPSHOT).exists() {
        v.find(format!("{SNAPSHOT}/"), Status::Temporary);
    }
    v.check(
        "finished",
        status.is_some(),
        "Status.plist says finished and no Snapshot/ is left from an interrupted backup",
    );
    check_udid(&mut v, manifest.as_ref(), info.as_ref());

    // Encryption: the keybag, the password, Manifest.db's key (§4).
    let encrypted = match &manifest {
        Some(m) => m.is_encrypted,
        None => dir.join(MANIFEST_DB).is_file() && !manifest_db::is_plain(dir),
    };
    v.out.encrypted = Some(encrypted);
    let mut keys: Option<ClassKeys> = None;
    let db = if encrypted {
        match unlock(&mut v, manifest.as_ref())? {
            Some((class_keys, manifest_key)) => {
                let db = match &manifest_key {
                    Some(key) => ManifestDb::open_encrypted(dir, key),
                    // Before iOS 10.2 Manifest.db is in clear (§4).
                    None => ManifestDb::open_plain(dir),
                };
                keys = Some(class_keys);
                Some(db)
            }
            None => None,
        }
    } else {
        Some(ManifestDb::open_plain(dir))
    };

    let Some(db) = db else {
        // The password check is recorded unless the bag or ManifestKey stopped it earlier.
        let lacking = if v.out.checks.iter().any(|c| c.name == "password" && !c.done) {
            "the password"
        } else {
            "a sound keybag and ManifestKey (see the findings)"
        };
        if !v.out.checks.iter().any(|c| c.name == "password") {
            v.check("password", false, format!("the keys: they need {lacking}"));
        }
        check_without_keys(&mut v, lacking);
        return Ok(finish(v));
    };
    let files = match db {
        Ok(db) => {
            match db.integrity_check() {
                Ok(problems) if problems.is_empty() => {}
                Ok(problems) => v.find(
                    MANIFEST_DB,
                    Status::Damaged(format!(
                        "PRAGMA integrity_check: {}",
                        problems.into_iter().take(5).collect::<Vec<_>>().join("; ")
                    )),
                ),
                Err(e) => v.find(MANIFEST_DB, Status::Damaged(e.to_string())),
            }
            match file_rows(&mut v, &db) {
                Ok(files) => Some(files),
                Err(e) => {
                    v.find(
                        MANIFEST_DB,
                        Status::Damaged(format!("its Files table cannot be read: {e}")),
                    );
                    None
                }
            }
        }
        Err(ManifestDbError::Missing) => {
            v.find(MANIFEST_DB, Status::Missing);
            None
        }
        Err(ManifestDbError::Io(e)) => {
            v.find(MANIFEST_DB, Status::Unreadable(e.to_string()));
            None
        }
        Err(ManifestDbError::Decrypt(e)) => {
            v.find(MANIFEST_DB, Status::Damaged(format!("it does not decrypt: {e}")));
            None
        }
        Err(e) => {
            v.find(MANIFEST_DB, Status::Damaged(e.to_string()));
            None
        }
    };
    v.check(
        "manifest-db",
        files.is_some(),
        if encrypted {
            "Manifest.db decrypts (strict PKCS#7) and passes PRAGMA integrity_check, read on a private copy"
        } else {
            "Manifest.db passes PRAGMA integrity_check, read on a private copy"
        },
    );
    let Some(files) = files else {
        v.check("file-ids", false, "the rows' fileIDs: Manifest.db cannot be read");
        v.check("blobs", false, "the files' blobs: Manifest.db cannot be read");
        return Ok(finish(v));
    };
    v.check("file-ids", true, "every row's fileID is SHA-1(domain-relativePath)");
    let prehashed = prehashed()
        .zip(options.recorded)
        .map(|(results, recorded)| Prehashed { recorded, results });
    check_files(&mut v, files, keys.as_ref(), prehashed.as_ref())?;
    Ok(finish(v))
}

fn finish(mut v: Verifier) -> BackupReport {
    let recorded = v.options.recorded.is_some();
    v.check(
        "recorded-sha256",
        recorded,
        if recorded {
            "every blob matches the SHA-256 recorded when lifeboat received it"
        } else {
            "each file against a SHA-256 recorded as it arrived: only backups lifeboat made have \
             them, so here a change that keeps a file's size is found only by the content check"
        },
    );
    v.out.report.findings.sort_by(|a, b| a.path.cmp(&b.path));
    v.out.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    v.out
}

fn check_udid(v: &mut Verifier, manifest: Option<&plists::Manifest>, info: Option<&plists::Info>) {
    let folder = v
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let from_manifest = manifest.and_then(|m| m.lockdown.udid.clone());
    let from_info = info.and_then(|i| i.target_identifier.clone().or_else(|| i.device.udid.clone()));
    let udid = from_manifest.clone().or_else(|| from_info.clone());
    v.out.udid = udid
        .clone()
        .or_else(|| layout::looks_like_udid(&folder).then(|| folder.clone()));
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    if let (Some(m), Some(i)) = (&from_manifest, &from_info)
        && !same(m, i)
    {
        v.find(
            INFO_PLIST,
            Status::Damaged(format!(
                "it names the device {i}, but Manifest.plist names {m}: the two are from different backups"
            )),
        );
    }
    if let Some(udid) = &udid
        && !same(udid, &folder)
    {
        let what = format!("the folder is named {folder:?}, but the backup is of the device {udid}");
        if layout::looks_like_udid(&folder) {
            v.find(MANIFEST_PLIST, Status::Damaged(what));
        } else {
            v.warn(
                ".",
                Status::Damaged(format!(
                    "{what}: Finder, iTunes and most tools find a backup by its folder name, so rename it to {udid} before restoring"
                )),
            );
        }
    }
    v.check(
        "udid",
        udid.is_some(),
        "the UDID agrees across the folder name, Manifest.plist and Info.plist",
    );
}

/// The keybag and Manifest.db's key: `None` when there is no password to use (or the bag
/// is damaged); `Err` for a wrong password.
fn unlock(
    v: &mut Verifier,
    manifest: Option<&plists::Manifest>,
) -> Result<Option<(ClassKeys, Option<Key>)>, FinderError> {
    let Some(manifest) = manifest else {
        v.check(
            "password",
            false,
            "the password: Manifest.plist, which holds the keybag, cannot be read",
        );
        return Ok(None);
    };
    let bag = match read::keybag_of(manifest) {
        Ok(bag) => bag,
        Err(e) => {
            v.find(MANIFEST_PLIST, Status::Damaged(e.to_string()));
            return Ok(None);
        }
    };
    let Some(password) = v.options.password else {
        v.check(
            "password",
            false,
            "the password and all it guards: the backup is encrypted and no password was given",
        );
        return Ok(None);
    };
    let keys = match read::class_keys(&bag, password) {
        Ok(keys) => keys,
        Err(UnlockError::WrongPassword) => return Err(FinderError::WrongPassword),
        Err(e) => {
            v.find(MANIFEST_PLIST, Status::Damaged(e.to_string()));
            return Ok(None);
        }
    };
    v.check("password", true, "the password unwraps the keybag's class keys");
    if !keys.failed.is_empty() {
        v.find(
            MANIFEST_PLIST,
            Status::Damaged(format!(
                "its BackupKeyBag is damaged: the keys of classes {:?} do not unwrap though the others do",
                keys.failed
            )),
        );
    }
    let manifest_key = match read::manifest_key(manifest, &keys) {
        Ok(key) => key,
        Err(e) => {
            v.find(MANIFEST_PLIST, Status::Damaged(e.to_string()));
            return Ok(None);
        }
    };
    Ok(Some((keys, manifest_key)))
}

/// What can be checked of an encrypted backup without its keys (§2.4): Manifest.db and
/// every blob are non-empty whole numbers of 16-byte blocks. `lacking` says what is missing.
fn check_without_keys(v: &mut Verifier, lacking: &str) {
    match std::fs::metadata(v.dir.join(MANIFEST_DB)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => v.find(MANIFEST_DB, Status::Missing),
        Err(e) => v.find(MANIFEST_DB, Status::Unreadable(e.to_string())),
        Ok(meta) if meta.len() == 0 || !meta.len().is_multiple_of(16) => v.find(
            MANIFEST_DB,
            Status::Damaged(format!("{} bytes is not a whole number of 16-byte blocks", meta.len())),
        ),
        Ok(_) => {}
    }
    v.check(
        "manifest-db",
        false,
        format!("Manifest.db's contents need {lacking} (only its length was checked)"),
    );
    v.check(
        "file-ids",
        false,
        "the rows' fileIDs: the rows are in the encrypted Manifest.db",
    );
    match layout::blob_files(v.dir) {
        Err(e) => v.find(".", Status::Unreadable(e.to_string())),
        Ok(blobs) => {
            for blob in blobs {
                v.out.report.checked += 1;
                match std::fs::metadata(v.dir.join(&blob)) {
                    Err(e) => v.find(blob, Status::Unreadable(e.to_string())),
                    Ok(meta) if meta.len() == 0 || !meta.len().is_multiple_of(16) => v.find(
                        blob,
                        Status::Damaged(format!(
                            "{} bytes is not a whole number of 16-byte blocks: cut short",
                            meta.len()
                        )),
                    ),
                    Ok(_) => v.out.report.ok += 1,
                }
            }
        }
    }
    v.check(
        "blobs",
        false,
        format!(
            "which files should exist, their sizes, keys and padding need {lacking} (every blob \
             was checked to be a non-empty whole number of 16-byte blocks)"
        ),
    );
    v.check(
        "orphans",
        false,
        format!("orphan blobs: which blobs Manifest.db names needs {lacking}"),
    );
    v.check("content", false, format!("the files' contents need {lacking}"));
}

/// Reads Manifest.db's rows one at a time, checks each fileID and record, and keeps what the
/// blob checks need of each file row: no more than that is held per file.
fn file_rows(v: &mut Verifier, db: &ManifestDb) -> Result<Vec<FileRow>, ManifestDbError> {
    let mut files = Vec::new();
    db.for_each_row(|row: Row| {
        let path = row.display_path();
        if !layout::is_file_id(&row.file_id) {
            v.find(
                path.clone(),
                Status::Damaged(format!("its fileID {:?} is not 40 lowercase hex digits", row.file_id)),
            );
        } else {
            let expected = layout::file_id(&row.domain, &row.relative_path);
            if expected != row.file_id {
                v.find(
                    path.clone(),
                    Status::Damaged(format!(
                        "its fileID is {}, but SHA-1(domain-relativePath) is {expected}: the row was damaged or edited",
                        row.file_id
                    )),
                );
            }
        }
        let file = match row.file {
            Ok(file) => file,
            Err(e) => {
                v.find(path, Status::Damaged(e.to_string()));
                return;
            }
        };
        match row.flags {
            FLAG_FILE => {
                v.out.report.recorded += 1;
                // A fileID that names no blob has had its finding above.
                if layout::blob_path(&row.file_id).is_some() {
                    files.push(FileRow {
                        path: path.into_boxed_str(),
                        file_id: unhex::<20>(&row.file_id).unwrap_or_default(),
                        size: file.size,
                        encryption_key: file.encryption_key.map(Vec::into_boxed_slice),
                        protection_class: file.protection_class,
                    });
                }
            }
            FLAG_DIR | FLAG_SYMLINK => {
                if file.size.is_some_and(|s| s > 0) {
                    v.find(
                        path,
                        Status::Damaged(format!(
                            "a {} record with a Size of {} (the phone rejects such a record)",
                            if row.flags == FLAG_DIR { "folder" } else { "symlink" },
                            file.size.unwrap_or(0)
                        )),
                    );
                }
            }
            other => v.warn(path, Status::Damaged(format!("unknown flags {other}"))),
        }
    })?;
    Ok(files)
}

/// Checks every file row's blob on every core, then looks for blobs no row names.
fn check_files(
    v: &mut Verifier,
    mut files: Vec<FileRow>,
    keys: Option<&ClassKeys>,
    prehashed: Option<&Prehashed>,
) -> Result<(), FinderError> {
    // Rows come by fileID already; sorted here too, so orphans are found by bisection.
    files.sort_unstable_by_key(|f| f.file_id);
    let options = v.options;
    let dir = v.dir;
    // Most blobs are sound: only an outcome with something to say is kept whole, so a file
    // costs 16 bytes here, not the 80 of an outcome.
    let outcomes = crate::parallel::map(&files, |file: &FileRow| {
        let outcome = check_file(dir, file, keys, options, prehashed);
        let bytes = outcome.bytes;
        let notable = (outcome.finding.is_some() || !outcome.warnings.is_empty()).then(|| Box::new(outcome));
        (bytes, notable)
    });
    for (file, (bytes, notable)) in files.iter().zip(outcomes) {
        v.out.report.checked += 1;
        v.out.report.bytes_read += bytes;
        let Some(outcome) = notable else {
            v.out.report.ok += 1;
            continue;
        };
        v.out.blobs.insert(file.path.to_string(), file.blob());
        for warning in outcome.warnings {
            v.warn(&*file.path, warning);
        }
        match outcome.finding {
            Some(status) => v.find(&*file.path, status),
            None => v.out.report.ok += 1,
        }
    }
    v.check(
        "blobs",
        true,
        if keys.is_some() {
            "every file's blob is present at its padded size, its key unwraps and its PKCS#7 padding is valid"
        } else {
            "every file's blob is present at the size its record gives"
        },
    );

    // A blob `xx/<fileID>` is named by a row when that fileID is a file row's (whose blob
    // path is its first two digits, then itself).
    let referenced = |blob: &str| {
        layout::blob_file_id(blob).is_some_and(|id| files.binary_search_by_key(&id, |f| f.file_id).is_ok())
    };
    let mut orphans = Vec::new();
    layout::for_each_blob_file(dir, |blob| {
        if !referenced(blob) {
            orphans.push(blob.to_string());
        }
        Ok(())
    })
    .map_err(|source| FinderError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for blob in orphans {
        v.find(blob, Status::Extra);
    }
    v.check("orphans", true, "no blob is left that no row of Manifest.db names");
    v.check(
        "content",
        options.deep,
        if options.deep {
            "every file read whole (and decrypted); JPEG, PNG, HEIC and MOV, SQLite databases and plists checked by type"
        } else {
            "the files' contents: only a deep check reads them"
        },
    );
    Ok(())
}

fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

fn check_file(
    dir: &Path,
    file: &FileRow,
    keys: Option<&ClassKeys>,
    options: &Options,
    prehashed: Option<&Prehashed>,
) -> Outcome {
    let path = dir.join(file.blob());
    let hashed = prehashed
        .and_then(|p| p.get(&file.file_id))
        .filter(|h| !matches!(h, Hashed::Absent));
    let len = match hashed {
        // Read whole a moment ago: its length is known without looking again.
        Some(Hashed::Same(len) | Hashed::Differs(len)) => *len,
        _ => match std::fs::metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if file.size == Some(0) {
                    return Outcome {
                        warnings: vec![Status::Damaged("no blob for this empty file".into())],
                        ..Default::default()
                    };
                }
                return Outcome::bad(Status::Missing);
            }
            Err(e) => return Outcome::bad(Status::Unreadable(e.to_string())),
            // A device or a pipe in a hostile folder is never read.
            Ok(meta) if !meta.is_file() => return Outcome::bad(Status::Damaged(NOT_A_FILE.into())),
            Ok(meta) => meta.len(),
        },
    };
    let recorded = options.recorded.and_then(|r| r.sha256(&file.file_id));
    let mut outcome = Outcome::default();
    let file_key = match keys {
        None => {
            if let Some(size) = file.size
                && size != len
            {
                let status = Status::SizeChanged {
                    recorded: size,
                    now: len,
                };
                if size_mismatch_is_benign(&path, file, options, &mut outcome) {
                    outcome.warnings.push(status);
                } else {
                    return Outcome {
                        finding: Some(status),
                        ..outcome
                    };
                }
            }
            None
        }
        Some(keys) => match encrypted_checks(&path, len, file, keys, &mut outcome) {
            Ok(key) => Some(key),
            Err(status) => return Outcome::bad(status),
        },
    };
    if let Some(hashed) = hashed {
        match hashed {
            Hashed::Same(bytes) => outcome.bytes += bytes,
            Hashed::Differs(bytes) => {
                outcome.bytes += bytes;
                outcome.finding = Some(Status::Corrupt);
            }
            Hashed::Unreadable(e) => outcome.finding = Some(Status::Unreadable(e.to_string())),
            Hashed::Absent => {}
        }
    } else if options.deep || recorded.is_some() {
        // Without `deep`, a recorded digest is checked on the blob as stored: nothing is
        // decrypted and no content is checked by type.
        let content = options.deep.then_some(file_key.as_ref());
        match read_content(&path, file, content, options, recorded.is_some()) {
            Err(e) => outcome.finding = Some(Status::Unreadable(e.to_string())),
            Ok((digest, bytes, verdict)) => {
                outcome.bytes += bytes;
                if let (Some(want), Some(got)) = (recorded, digest)
                    && want != got
                {
                    outcome.finding = Some(Status::Corrupt);
                } else if let Some(Err(reason)) = verdict {
                    outcome.finding = Some(Status::Damaged(reason));
                }
            }
        }
    }
    outcome
}

/// A plain blob whose length is not its record's `Size`: real iOS records wrong sizes for
/// databases and other live files (docs/backup-encryption.md §5), so the blob is read and
/// checked by type. A whole database, write-ahead log, photo or plist makes the mismatch a
/// warning; a damaged one, or a file of a type that cannot be checked, an error.
fn size_mismatch_is_benign(path: &Path, file: &FileRow, options: &Options, outcome: &mut Outcome) -> bool {
    let head = read_at(path, 0, 4).unwrap_or_default();
    // An SQLite write-ahead log (magic 0x377f0682 / 0x377f0683) changes size all the time.
    if head.len() == 4 && head[..3] == [0x37, 0x7f, 0x06] && (head[3] == 0x82 || head[3] == 0x83) {
        return true;
    }
    match read_content(path, file, Some(None), options, false) {
        Ok((_, bytes, verdict)) => {
            outcome.bytes += bytes;
            verdict == Some(Ok(()))
        }
        Err(_) => false,
    }
}

/// An encrypted file's key, blob length and padding (docs/backup-encryption.md §6 item 4).
fn encrypted_checks(
    path: &Path,
    len: u64,
    file: &FileRow,
    keys: &ClassKeys,
    outcome: &mut Outcome,
) -> Result<Key, Status> {
    let Some(wrapped) = &file.encryption_key else {
        return Err(Status::Damaged(
            "its record has no EncryptionKey, so it cannot be decrypted".into(),
        ));
    };
    let (class, key) = keys
        .unwrap_prefixed(wrapped)
        .map_err(|e| Status::Damaged(format!("its EncryptionKey: {e}")))?;
    if let Some(pc) = file.protection_class
        && pc != u64::from(class)
    {
        outcome.warnings.push(Status::Damaged(format!(
            "its ProtectionClass is {pc} but its key is wrapped with class {class}"
        )));
    }
    let expected = file.size.map(crypto::padded_len);
    if len == 0 || !len.is_multiple_of(16) {
        return Err(match expected {
            Some(recorded) => Status::SizeChanged { recorded, now: len },
            None => Status::Damaged(format!("{len} bytes is not a whole number of 16-byte blocks")),
        });
    }
    let tail_len = if len >= 32 { 32 } else { 16 };
    let tail = read_at(path, len - tail_len as u64, tail_len).map_err(|e| Status::Unreadable(e.to_string()))?;
    match crypto::check_tail(&key, &tail) {
        Ok(pad) => {
            let plain = len - pad as u64;
            if let Some(size) = file.size
                && size != plain
            {
                outcome.warnings.push(Status::SizeChanged {
                    recorded: size,
                    now: plain,
                });
            }
            Ok(key)
        }
        Err(e) => Err(match expected {
            Some(recorded) if recorded != len => Status::SizeChanged { recorded, now: len },
            _ => Status::Damaged(e.to_string()),
        }),
    }
}

/// A blob read whole: its SHA-256 as stored (when asked for), the bytes read, and the
/// content verdict (`None` for a type that has no check).
type ReadResult = (Option<[u8; 32]>, u64, Option<Result<(), String>>);

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 1 << 20]);
}

/// Reads a blob whole, hashing it as stored if `hash` (through the one file hasher), and
/// with `content` (`Some(key)`) checks the plaintext's content, decrypting it first if there
/// is a key. Returns the digest, the bytes read and the content verdict (`None` without
/// `content`).
fn read_content(
    path: &Path,
    file: &FileRow,
    content: Option<Option<&Key>>,
    options: &Options,
    hash: bool,
) -> io::Result<ReadResult> {
    let mut sink = content.map(|_| ContentSink::new(&file.path));
    let mut decryptor = content.flatten().map(crypto::Decryptor::new);
    let mut feed = |piece: &mut [u8]| {
        (options.on_bytes)(piece.len() as u64);
        let Some(sink) = &mut sink else { return };
        match &mut decryptor {
            Some(d) => d.update(piece, &mut |plain| sink.update(plain)),
            None => sink.update(piece),
        }
    };
    let (digest, bytes) = if hash {
        let (digest, bytes) = crate::fs::hash::hash_file_with(path, &mut feed)?;
        (Some(digest), bytes)
    } else {
        let mut f = File::open(path)?;
        let mut total = 0u64;
        BUFFER.with_borrow_mut(|buf| -> io::Result<()> {
            loop {
                let n = match f.read(buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                total += n as u64;
                feed(&mut buf[..n]);
            }
        })?;
        (None, total)
    };
    let Some(mut sink) = sink else {
        return Ok((digest, bytes, None));
    };
    if let Some(d) = decryptor
        && let Err(e) = d.finish(&mut |plain| sink.update(plain))
    {
        return Ok((digest, bytes, Some(Err(e.to_string()))));
    }
    Ok((digest, bytes, sink.finish()))
}

/// The content check by type: JPEG, PNG, HEIC, MOV by name as the photo verify does;
/// SQLite databases (by their header) with `PRAGMA integrity_check` and plists by parsing,
/// both on a copy in a private temporary folder that goes when the check ends.
struct ContentSink {
    name: String,
    head: Vec<u8>,
    kind: Option<Kind>,
    error: Option<String>,
}

/// A copy being written, in a folder of its own (SQLite may add `-wal`/`-shm` beside it).
struct Spool {
    dir: tempfile::TempDir,
    file: File,
}

impl Spool {
    fn new() -> io::Result<Spool> {
        let dir = tempfile::Builder::new().prefix("lifeboat-check-").tempdir()?;
        let file = File::create(dir.path().join("copy"))?;
        Ok(Spool { dir, file })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("copy")
    }
}

enum Kind {
    Media(content::Checker),
    Sqlite(Spool),
    Plist(Spool),
    Other,
}

const HEAD: usize = 16;

impl ContentSink {
    fn new(path: &str) -> ContentSink {
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        ContentSink {
            kind: content::checker_for(&name).map(Kind::Media),
            name,
            head: Vec::new(),
            error: None,
        }
    }

    fn decide(&mut self) {
        let is_plist_name = self.name.to_ascii_lowercase().ends_with(".plist");
        let head = &self.head;
        let spool = |error: &mut Option<String>| match Spool::new() {
            Ok(spool) => Some(spool),
            Err(e) => {
                *error = Some(format!("no temporary file to check it in: {e}"));
                None
            }
        };
        self.kind = Some(if manifest_db::is_sqlite_header(head) {
            spool(&mut self.error).map_or(Kind::Other, Kind::Sqlite)
        } else if head.starts_with(b"bplist00")
            || (is_plist_name && (head.starts_with(b"<?xml") || head.starts_with(b"<plist")))
        {
            spool(&mut self.error).map_or(Kind::Other, Kind::Plist)
        } else {
            Kind::Other
        });
        let head = std::mem::take(&mut self.head);
        self.feed(&head);
    }

    fn update(&mut self, bytes: &[u8]) {
        if self.kind.is_none() {
            let take = (HEAD - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            if self.head.len() < HEAD {
                return;
            }
            self.decide();
            self.feed(&bytes[take..]);
        } else {
            self.feed(bytes);
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        match &mut self.kind {
            Some(Kind::Media(checker)) => checker.update(bytes),
            Some(Kind::Sqlite(spool)) | Some(Kind::Plist(spool)) => {
                if self.error.is_none()
                    && let Err(e) = spool.file.write_all(bytes)
                {
                    self.error = Some(format!("could not copy it to check it: {e}"));
                }
            }
            _ => {}
        }
    }

    /// The verdict; `None` when the file is of no type that has a check.
    fn finish(mut self) -> Option<Result<(), String>> {
        if self.kind.is_none() {
            self.decide();
        }
        if let Some(error) = self.error {
            return Some(Err(error));
        }
        match self.kind? {
            Kind::Media(checker) => Some(checker.finish()),
            Kind::Sqlite(spool) => Some(manifest_db::check_sqlite_copy(&spool.path())),
            Kind::Plist(spool) => Some(
                plist::Value::from_file(spool.path())
                    .map(|_| ())
                    .map_err(|e| format!("not a valid property list: {e}")),
            ),
            Kind::Other => None,
        }
    }
}
