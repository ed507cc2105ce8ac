//! Reading the library off the phone: the folders, and a consistent copy of Photos.sqlite
//! with its `-wal` and `-shm` (the Photos app keeps writing while we copy; a torn copy is
//! "database disk image is malformed", osxphotos #1743, so it is checked and retried).

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use afc::client::{AfcError, DEFAULT_CHUNK, DEFAULT_WINDOW, FetchSink, RemoteFile};

use crate::photos::library::{self, Library};
use crate::photos::walk::{self, DeviceFile, Skipped};
use crate::sinks::Digests;
use crate::source::FileSource;

pub const DATABASE: &str = "PhotoData/Photos.sqlite";
/// The folders that hold photos (docs/photos.md §A1).
pub const ROOTS: [&str; 4] = [
    "DCIM",
    "PhotoData/CPLAssets",
    "PhotoData/Mutations",
    crate::photos::library::SHARED_ROOT,
];
const ATTEMPTS: usize = 3;

/// Copies fetched files whole into local paths.
struct ToFiles<'a> {
    targets: &'a [PathBuf],
    open: HashMap<usize, std::fs::File>,
    failed: Option<String>,
}

impl FetchSink for ToFiles<'_> {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        self.open.insert(index, std::fs::File::create(&self.targets[index])?);
        Ok(())
    }
    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        match self.open.get_mut(&index) {
            Some(file) => file.write_all(bytes),
            None => Ok(()),
        }
    }
    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        self.open.remove(&index);
        if let Err(e) = outcome {
            self.failed = Some(e.to_string());
        }
        Ok(())
    }
}

/// Sizes and times of the database files, to see whether they changed while copying.
fn stamp(source: &mut dyn FileSource) -> Result<Vec<Option<(u64, u64)>>, AfcError> {
    let paths: Vec<String> = ["", "-wal", "-shm"].iter().map(|s| format!("{DATABASE}{s}")).collect();
    Ok(source
        .file_infos(&paths, 3)?
        .into_iter()
        .map(|i| i.ok().map(|i| (i.size, i.mtime_ns)))
        .collect())
}

/// A checked copy of Photos.sqlite in `dir`, or why there is none. A copy already in `dir`
/// is reused when the phone's files have not changed since it was made, so a run with
/// nothing new reads nothing.
pub fn copy_database(
    source: &mut dyn FileSource,
    dir: &Path,
    verify_reads: bool,
) -> Result<Result<PathBuf, String>, AfcError> {
    let mut reason = String::from("PhotoData/Photos.sqlite is missing or cannot be read");
    let stamp_file = dir.join("stamp");
    for _ in 0..ATTEMPTS {
        let before = stamp(source)?;
        let cached = dir.join("Photos.sqlite");
        if std::fs::read_to_string(&stamp_file).ok() == Some(format!("{before:?}")) && quick_check(&cached).is_ok() {
            return Ok(Ok(cached));
        }
        let _ = std::fs::remove_file(&stamp_file);
        let Some((size, _)) = before[0] else {
            return Ok(Err(reason));
        };
        let mut remotes = vec![RemoteFile {
            path: DATABASE.into(),
            size,
        }];
        let mut targets = vec![dir.join("Photos.sqlite")];
        for (suffix, stamp) in ["-wal", "-shm"].iter().zip(&before[1..]) {
            let target = dir.join(format!("Photos.sqlite{suffix}"));
            let _ = std::fs::remove_file(&target);
            if let Some((size, _)) = stamp {
                remotes.push(RemoteFile {
                    path: format!("{DATABASE}{suffix}"),
                    size: *size,
                });
                targets.push(target);
            }
        }
        let mut sink = ToFiles {
            targets: &targets,
            open: HashMap::new(),
            failed: None,
        };
        source.fetch(&remotes, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut sink)?;
        if let Some(failure) = sink.failed {
            reason = format!("copying Photos.sqlite failed: {failure}");
            continue;
        }
        if verify_reads {
            // A second read must hash the same, or the copy is not trusted (and not cached).
            let mut digests = Digests::default();
            source.fetch(&remotes, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut digests)?;
            let same = targets.iter().enumerate().all(
                |(i, target)| matches!((digests.done.get(&i), sha256_of(target)), (Some(Ok(a)), Ok(b)) if *a == b),
            );
            if !same {
                reason = "two reads of Photos.sqlite differ: its bytes were damaged on the way".into();
                continue;
            }
        }
        if stamp(source)? != before {
            reason = "Photos.sqlite kept changing while it was copied".into();
            continue;
        }
        match quick_check(&targets[0]) {
            Ok(()) => {
                let _ = std::fs::write(&stamp_file, format!("{before:?}"));
                return Ok(Ok(targets[0].clone()));
            }
            Err(e) => reason = format!("the copy of Photos.sqlite is damaged: {e}"),
        }
    }
    Ok(Err(reason))
}

fn sha256_of(path: &Path) -> io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().into())
}

fn quick_check(db: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if verdict == "ok" { Ok(()) } else { Err(verdict) }
}

/// The library on the phone, and what the walk passed over. `cache` keeps the database copy
/// between runs; without it a temporary folder is used.
pub fn load(source: &mut dyn FileSource, cache: Option<&Path>) -> Result<(Library, Skipped), AfcError> {
    load_with(source, cache, false)
}

/// [`load`]; with `verify_reads`, the database is read twice and kept only if both agree.
pub fn load_with(
    source: &mut dyn FileSource,
    cache: Option<&Path>,
    verify_reads: bool,
) -> Result<(Library, Skipped), AfcError> {
    load_keeping(source, cache, verify_reads, &mut |_| true)
}

/// [`load_with`], holding only the assets `keep` wants (see [`library::Keep`]).
pub fn load_keeping(
    source: &mut dyn FileSource,
    cache: Option<&Path>,
    verify_reads: bool,
    keep: library::Keep,
) -> Result<(Library, Skipped), AfcError> {
    let fetched = fetch(source, cache, verify_reads)?;
    Ok(fetched.join(keep))
}

/// What the phone gave: the walk's files, and a checked copy of its database or why there
/// is none. Joined into a [`Library`] by [`Fetched::join`], which needs nothing from the
/// phone, so a caller can do its own local work while the phone is read.
pub struct Fetched {
    files: Vec<DeviceFile>,
    skipped: Skipped,
    database: Result<PathBuf, String>,
    /// The database copy's folder when no cache was given; removed when this is dropped.
    _scratch: tempfile::TempDir,
}

/// Walks the photo folders and copies (or reuses) the database: everything a load asks of
/// the phone.
pub fn fetch(source: &mut dyn FileSource, cache: Option<&Path>, verify_reads: bool) -> Result<Fetched, AfcError> {
    let (files, skipped) = walk::walk(source, &ROOTS)?;
    let local = |e| AfcError::Sink {
        path: "the database copy's folder".into(),
        source: e,
    };
    let scratch = tempfile::tempdir().map_err(local)?;
    let dir = match cache {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(local)?;
            dir
        }
        None => scratch.path(),
    };
    let database = copy_database(source, dir, verify_reads)?;
    Ok(Fetched {
        files,
        skipped,
        database,
        _scratch: scratch,
    })
}

impl Fetched {
    /// The library, holding only the assets `keep` wants, and what the walk passed over.
    pub fn join(self, keep: library::Keep) -> (Library, Skipped) {
        // `scratch` lives until the database in it has been read.
        let Fetched {
            files,
            skipped,
            database,
            _scratch: scratch,
        } = self;
        let library = match database {
            Ok(db) => match library::from_database_keeping(&db, &files, keep) {
                Ok(library) => library,
                Err(e) => library::from_files_keeping(&files, e.to_string(), keep),
            },
            Err(reason) => library::from_files_keeping(&files, reason, keep),
        };
        drop(scratch);
        (library, skipped)
    }
}
