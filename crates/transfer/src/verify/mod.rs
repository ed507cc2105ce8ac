//! `verify`: proving a backup folder is whole. Every file the manifest records is read once,
//! on all cores, for its SHA-256 and a structural check together; files that are there but
//! unrecorded, and temporaries, are reported too, in the spirit of `rclone check`.
//! `against_device` answers the other question: is everything on the phone in this folder?

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use afc::client::{AfcClient, AfcError, DEFAULT_CHUNK, DEFAULT_WINDOW, RemoteFile};
pub mod content;
pub mod finding;

pub use finding::{Finding, Status, VerifyReport};

use crate::fs::hash::{hash_file_with, hex};
use crate::fs::is_temporary;
use crate::manifest::{self, Entry, Manifest};
use crate::photos::library::Library;
use crate::photos::walk::Skip;
use crate::sinks::Digests;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0} has no lifeboat manifest, so there is nothing to check its files against")]
    NoManifest(String),
    #[error("the manifest: {0}")]
    Manifest(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Afc(#[from] AfcError),
}

/// What reading one file gave.
pub struct Hashed {
    pub sha256: String,
    pub size: u64,
    /// The structural check, for the kinds that have one.
    pub content: Option<Result<(), String>>,
}

/// Reads a file once, streaming, for its hash and its structural check.
pub fn hash_file(path: &Path, on_bytes: &(dyn Fn(u64) + Sync)) -> io::Result<Hashed> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut checker = content::checker_for(&name);
    let (digest, size) = hash_file_with(path, |piece| {
        if let Some(checker) = &mut checker {
            checker.update(piece);
        }
        on_bytes(piece.len() as u64);
    })?;
    Ok(Hashed {
        sha256: hex(&digest),
        size,
        content: checker.map(content::Checker::finish),
    })
}

/// Files in `dir` (relative paths), leaving out lifeboat's own folder and checksum files.
fn local_files(dir: &Path) -> Result<Vec<String>, VerifyError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != manifest::DIR)
    {
        let entry = entry.map_err(|e| VerifyError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() || entry.file_name() == crate::photos::sums::FILE {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(dir) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    out.sort();
    Ok(out)
}

/// Checks `dir` against its manifest. With `sample` (a share between 0 and 1), only that
/// share of the recorded files is read, chosen at random.
pub fn verify(dir: &Path, sample: Option<f64>, on_bytes: &(dyn Fn(u64) + Sync)) -> Result<VerifyReport, VerifyError> {
    if !dir.join(manifest::DIR).join(manifest::FILE).is_file() {
        return Err(VerifyError::NoManifest(dir.display().to_string()));
    }
    let manifest = Manifest::open(dir)?;
    let mut entries = manifest.all()?;
    let mut report = VerifyReport {
        recorded: entries.len() as u64,
        ..Default::default()
    };
    let recorded: HashSet<String> = entries.iter().map(|e| e.dest_path.clone()).collect();
    for path in local_files(dir)? {
        if recorded.contains(&path) {
            continue;
        }
        let status = if is_temporary(std::ffi::OsStr::new(&path)) {
            Status::Temporary
        } else {
            Status::Extra
        };
        report.findings.push(Finding { path, status });
    }
    if let Some(share) = sample {
        use rand::seq::SliceRandom;
        let keep = ((entries.len() as f64 * share.clamp(0.0, 1.0)).ceil() as usize).min(entries.len());
        entries.shuffle(&mut rand::thread_rng());
        entries.truncate(keep);
        entries.sort_by(|a, b| a.dest_path.cmp(&b.dest_path));
    }
    let statuses = crate::parallel::map(&entries, |entry: &Entry| check_entry(dir, entry, on_bytes));
    for (entry, (status, bytes)) in entries.iter().zip(statuses) {
        report.checked += 1;
        report.bytes_read += bytes;
        if status == Status::Ok {
            report.ok += 1;
        } else {
            report.findings.push(Finding {
                path: entry.dest_path.clone(),
                status,
            });
        }
    }
    report.findings.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

fn check_entry(dir: &Path, entry: &Entry, on_bytes: &(dyn Fn(u64) + Sync)) -> (Status, u64) {
    let path = dir.join(&entry.dest_path);
    match fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Status::Missing, 0),
        Err(e) => return (Status::Unreadable(e.to_string()), 0),
        // A size change says enough without reading the file.
        Ok(meta) if meta.len() != entry.size => {
            return (
                Status::SizeChanged {
                    recorded: entry.size,
                    now: meta.len(),
                },
                0,
            );
        }
        Ok(_) => {}
    }
    match hash_file(&path, on_bytes) {
        Err(e) => (Status::Unreadable(e.to_string()), 0),
        Ok(hashed) if hashed.sha256 != entry.sha256 => (Status::Corrupt, hashed.size),
        Ok(Hashed {
            content: Some(Err(reason)),
            size,
            ..
        }) => (Status::Damaged(reason), size),
        Ok(hashed) => (Status::Ok, hashed.size),
    }
}

/// Writes a manifest for a folder made by another tool, so later runs can find bit rot.
/// Returns how many files it recorded.
pub fn init(dir: &Path, on_bytes: &(dyn Fn(u64) + Sync)) -> Result<u64, VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir.join(manifest::DIR)).map_err(io_err)?;
    let files: Vec<String> = local_files(dir)?
        .into_iter()
        .filter(|p| !is_temporary(std::ffi::OsStr::new(p)))
        .collect();
    let mut manifest = Manifest::open(dir)?;
    let known: HashSet<String> = manifest.all()?.into_iter().map(|e| e.dest_path).collect();
    let todo: Vec<String> = files.into_iter().filter(|p| !known.contains(p)).collect();
    let hashed = crate::parallel::map(&todo, |path: &String| {
        let full = dir.join(path);
        let mtime = fs::metadata(&full)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        hash_file(&full, on_bytes).map(|h| (h, mtime))
    });
    let mut entries = Vec::new();
    for (path, result) in todo.iter().zip(hashed) {
        let (hashed, mtime) = result.map_err(|source| VerifyError::Io {
            path: dir.join(path),
            source,
        })?;
        entries.push(Entry {
            asset_id: format!("init:{path}"),
            role: "original".into(),
            device_path: String::new(),
            size: hashed.size,
            device_mtime_ns: mtime,
            capture_date: None,
            sha256: hashed.sha256,
            dest_path: path.clone(),
        });
    }
    manifest.record(&entries)?;
    Ok(entries.len() as u64)
}

#[derive(Debug, Default)]
pub struct AgainstDevice {
    /// Phone files found in the folder: device path and the local file holding its bytes.
    pub present: Vec<(String, String)>,
    /// Phone files the folder does not hold.
    pub missing: Vec<String>,
    /// Phone files that could not be read to compare.
    pub unreadable: Vec<(String, String)>,
    /// What the walk of the phone passed over (the caller fills it in from the load).
    pub skipped: Vec<Skip>,
}

impl AgainstDevice {
    /// Phone files this folder cannot be shown to hold.
    pub fn problems(&self) -> usize {
        self.missing.len() + self.unreadable.len() + self.skipped.iter().filter(|s| s.left_behind).count()
    }
}

/// Which of the phone's photo files (originals, Live videos, sidecars, edits; Recently
/// Deleted left out) are in `dir`, matched by content. A phone file no local file has the
/// size of is missing without reading it; the rest are read from the phone and hashed.
pub fn against_device<S: Read + Write>(
    afc: &mut AfcClient<S>,
    library: &Library,
    dir: &Path,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<AgainstDevice, VerifyError> {
    let mut by_size: HashMap<u64, Vec<String>> = HashMap::new();
    for path in local_files(dir)? {
        if let Ok(meta) = fs::metadata(dir.join(&path)) {
            by_size.entry(meta.len()).or_default().push(path);
        }
    }
    let mut report = AgainstDevice::default();
    let mut to_read: Vec<RemoteFile> = Vec::new();
    for asset in library.assets.iter().filter(|a| !a.trashed) {
        for resource in &asset.resources {
            if by_size.contains_key(&resource.file.size) {
                to_read.push(RemoteFile {
                    path: resource.file.path.clone(),
                    size: resource.file.size,
                });
            } else {
                report.missing.push(resource.file.path.clone());
            }
        }
    }
    let mut digests = Digests::default();
    afc.fetch(&to_read, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut digests)?;
    // Local candidates are hashed once each, only for the sizes the phone has.
    let candidates: Vec<String> = {
        let sizes: HashSet<u64> = to_read.iter().map(|r| r.size).collect();
        let mut paths: Vec<String> = sizes.iter().flat_map(|s| by_size[s].clone()).collect();
        paths.sort();
        paths
    };
    let local: HashMap<String, String> = candidates
        .iter()
        .zip(crate::parallel::map(&candidates, |p: &String| {
            hash_file(&dir.join(p), on_bytes)
        }))
        .filter_map(|(path, hashed)| hashed.ok().map(|h| (h.sha256, path.clone())))
        .collect();
    for (index, remote) in to_read.iter().enumerate() {
        match digests.done.remove(&index) {
            Some(Ok(digest)) => match local.get(&hex(&digest)) {
                Some(local_path) => report.present.push((remote.path.clone(), local_path.clone())),
                None => report.missing.push(remote.path.clone()),
            },
            Some(Err(reason)) => report.unreadable.push((remote.path.clone(), reason)),
            None => report.unreadable.push((remote.path.clone(), "not read".into())),
        }
    }
    report.missing.sort();
    Ok(report)
}
