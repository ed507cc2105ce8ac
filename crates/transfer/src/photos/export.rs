//! `export-photos`: every original on the phone, copied once, checked by SHA-256.
//!
//! plan = the library minus what the manifest holds; each file streams from the phone
//! through SHA-256 into a temporary file, which is synced, given the capture date and
//! renamed; rows are recorded in batches after their files are durable; `SHA256SUMS` files
//! let `sha256sum -c` check every folder without lifeboat.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use afc::client::{AfcError, DEFAULT_CHUNK, DEFAULT_WINDOW, RemoteFile};

use crate::fs::is_temporary;
use crate::fs::lock::{self, FolderLock, LockError};
use crate::manifest::{self, Manifest};
use crate::photos::library::{Library, Source};
use crate::photos::links;
use crate::photos::plan::{ExportOptions, ExportReport, Namer, Planned, Tally, plan_with};
use crate::photos::sidecars;
use crate::photos::sink::Sink;
use crate::photos::sums::write_sums;
use crate::source::FileSource;
use crate::threaded;

/// What is wrong with a destination, so each caller can say what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationProblem {
    Full,
    ReadOnly,
    /// The folder vanished (an external drive unplugged mid-run).
    Gone,
    Other,
}

impl DestinationProblem {
    pub fn of_io(error: &io::Error, dest: &Path) -> DestinationProblem {
        match error.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => DestinationProblem::Full,
            io::ErrorKind::ReadOnlyFilesystem => DestinationProblem::ReadOnly,
            io::ErrorKind::NotFound if !dest.exists() => DestinationProblem::Gone,
            _ => DestinationProblem::Other,
        }
    }

    pub fn of_sqlite(error: &rusqlite::Error, dest: &Path) -> DestinationProblem {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => DestinationProblem::Full,
            Some(ErrorCode::ReadOnly) => DestinationProblem::ReadOnly,
            _ if !dest.exists() => DestinationProblem::Gone,
            _ => DestinationProblem::Other,
        }
    }

    /// What to do, in a sentence, for the problems that have an answer.
    pub fn advice(self) -> &'static str {
        match self {
            DestinationProblem::Full => {
                " (the destination is full. Free some space or choose another folder, then run again: \
                 files copied so far are kept and recorded, and the next run goes on from there)"
            }
            DestinationProblem::ReadOnly => " (the destination is read-only. Choose a folder you can write to)",
            DestinationProblem::Gone => {
                " (the destination is gone (was the drive unplugged?). Plug it back in and run again: \
                 files copied before are kept and recorded)"
            }
            DestinationProblem::Other => "",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Afc(#[from] AfcError),
    #[error("the destination {path}: {source}{}", problem.advice())]
    Destination {
        path: PathBuf,
        problem: DestinationProblem,
        #[source]
        source: io::Error,
    },
    #[error("the manifest {path}: {source}{}", problem.advice())]
    Manifest {
        path: PathBuf,
        problem: DestinationProblem,
        #[source]
        source: rusqlite::Error,
    },
    #[error("another lifeboat export is running into {0}; wait for it to finish (this run changed nothing)")]
    Busy(PathBuf),
}

impl ExportError {
    /// A failure of the destination, classified.
    pub fn destination(dest: &Path, path: &Path, source: io::Error) -> ExportError {
        ExportError::Destination {
            problem: DestinationProblem::of_io(&source, dest),
            path: path.to_path_buf(),
            source,
        }
    }

    fn manifest(dest: &Path, source: rusqlite::Error) -> ExportError {
        ExportError::Manifest {
            problem: DestinationProblem::of_sqlite(&source, dest),
            path: dest.join(manifest::DIR).join(manifest::FILE),
            source,
        }
    }

    /// What is wrong with the destination, when the destination is what failed.
    pub fn destination_problem(&self) -> Option<DestinationProblem> {
        match self {
            ExportError::Destination { problem, .. } | ExportError::Manifest { problem, .. } => Some(*problem),
            _ => None,
        }
    }
}

pub trait ExportProgress {
    /// Where the asset list comes from, known once the library is loaded.
    fn source(&mut self, _source: &Source) {}
    fn planned(&mut self, _files: u64, _bytes: u64) {}
    fn bytes(&mut self, _bytes: u64) {}
    fn file_done(&mut self, _planned: &Planned) {}
    /// Something the user should know once, as it happens (the run goes on).
    fn notice(&mut self, _text: &str) {}
}

impl ExportProgress for () {}

/// Holds `DEST/.lifeboat/lock` for the run; the OS drops the lock if the process dies.
pub type DestinationLock = FolderLock;

pub fn lock_destination(dest: &Path) -> Result<DestinationLock, ExportError> {
    lock::lock(dest, &dest.join(manifest::DIR).join("lock")).map_err(|e| match e {
        LockError::Io { source, .. } => ExportError::destination(dest, dest, source),
        LockError::Busy(dir) => ExportError::Busy(dir),
    })
}

/// Removes temporary files a killed run left behind (we hold the lock, so none is live).
fn remove_leftovers(dest: &Path) -> io::Result<u64> {
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(dest).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() && is_temporary(entry.file_name()) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Where the database copy is kept between runs.
pub fn database_cache(dest: &Path) -> PathBuf {
    dest.join(manifest::DIR).join("photos-db")
}

/// What a run knows of the destination before it reads the phone: leftovers removed, the
/// manifest open and indexed.
pub struct Prepared {
    manifest: Manifest,
    pub index: crate::manifest::ManifestIndex,
}

/// Readies `dest`, whose lock the caller holds, for a run.
pub fn prepare(dest: &Path, _lock: &DestinationLock) -> Result<Prepared, ExportError> {
    remove_leftovers(dest).map_err(|source| ExportError::destination(dest, dest, source))?;
    let manifest_err = |source| ExportError::manifest(dest, source);
    let manifest = Manifest::open(dest).map_err(manifest_err)?;
    let index = manifest.index().map_err(manifest_err)?;
    Ok(Prepared { manifest, index })
}

/// Runs the export into `dest`, whose lock the caller holds.
pub fn export(
    source: &mut dyn FileSource,
    library: &Library,
    dest: &Path,
    options: &ExportOptions,
    progress: &mut (dyn ExportProgress + Send),
    lock: &DestinationLock,
) -> Result<ExportReport, ExportError> {
    let prepared = prepare(dest, lock)?;
    export_prepared(source, library, dest, options, progress, prepared, Tally::default())
}

/// [`export`] into a destination already [`prepare`]d, for a library whose assets with
/// nothing to do were counted in `tally` and not held.
pub fn export_prepared(
    source: &mut dyn FileSource,
    library: &Library,
    dest: &Path,
    options: &ExportOptions,
    progress: &mut (dyn ExportProgress + Send),
    prepared: Prepared,
    tally: Tally,
) -> Result<ExportReport, ExportError> {
    let dest_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::destination(dest, &path, source)
    };
    let manifest_err = |source| ExportError::manifest(dest, source);
    let Prepared { mut manifest, index } = prepared;
    let mut namer = Namer::new(dest, &index);
    let mut report = plan_with(library, &mut namer, &index, options, tally);
    if options.dry_run {
        return Ok(report);
    }
    let mut planned = std::mem::take(&mut report.planned);
    // Read in device order: neighbouring files are neighbours on the phone's disk too.
    planned.sort_by(|a, b| a.device_path.cmp(&b.device_path));
    progress.planned(planned.len() as u64, planned.iter().map(|p| p.size).sum());
    for folder in planned
        .iter()
        .flat_map(|p| std::iter::once(&p.dest_path).chain(&p.links))
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d))
        .collect::<BTreeSet<_>>()
    {
        fs::create_dir_all(dest.join(folder)).map_err(dest_err(&dest.join(folder)))?;
    }
    let reads = if options.verify_reads { 2 } else { 1 };
    let remotes: Vec<RemoteFile> = planned
        .iter()
        .flat_map(|p| {
            std::iter::repeat_n(
                RemoteFile {
                    path: p.device_path.clone(),
                    size: p.size,
                },
                reads,
            )
        })
        .collect();
    let mut sink = Sink {
        dest,
        planned: &planned,
        reads,
        assets: library.assets.iter().map(|a| (a.id.as_str(), a)).collect(),
        namer: &mut namer,
        skip_edited: options.selection.skip_edited,
        moved: HashMap::new(),
        open: HashMap::new(),
        first_reads: HashMap::new(),
        batch: Vec::new(),
        batch_started: Instant::now(),
        manifest: &mut manifest,
        report: &mut report,
        progress,
        touched: BTreeSet::new(),
        manifest_error: None,
    };
    // Hashing and writing run on threads of their own, so the link never waits for them.
    let fetched = threaded::fetch(source, &remotes, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut sink);
    // Whatever happened, what was completely written is recorded.
    let flushed = sink.flush();
    let mut touched = std::mem::take(&mut sink.touched);
    let manifest_error = sink.manifest_error.take();
    if let Some(e) = manifest_error {
        return Err(manifest_err(e));
    }
    flushed.map_err(dest_err(dest))?;
    let rows = links::make_planned(dest, &mut report, &mut touched);
    manifest.record(&rows).map_err(manifest_err)?;
    let rows = sidecars::write(dest, &mut report, &mut touched).map_err(dest_err(dest))?;
    manifest.record(&rows).map_err(manifest_err)?;
    write_sums(dest, &manifest, &touched).map_err(dest_err(dest))?;
    match fetched {
        // Writing a file failed: the destination is the problem, not the phone.
        Err(AfcError::Sink { path, source }) => Err(ExportError::destination(dest, Path::new(&path), source)),
        other => Ok(other.map(|()| report)?),
    }
}
