//! `files pull`: copy a file or folder off the phone (or out of a backup, through the same
//! [`FileSource`]) like `cp -r`, with every file written atomically, its size checked, its
//! device modification time kept, and every name the source lists made a safe local name by the same rule as `export-photos`
//! ([`crate::fs::names`]): case twins get a suffix, unusable characters become `_`.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use afc::client::{AfcError, DEFAULT_CHUNK, DEFAULT_WINDOW, FetchSink, RemoteFile};
use afc::kv::FileKind;

use crate::fs::names::{self, Folder};
use crate::fs::sync_dir;
use crate::sinks::{Digests, HashedFiles};
use crate::source::FileSource;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Afc(#[from] AfcError),
    #[error("{path}: {source}")]
    Local {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}: only files and folders can be pulled")]
    NotAFile(String),
}

/// What happened, file by file where something went wrong.
#[derive(Debug, Default)]
pub struct PullReport {
    pub files: u64,
    pub bytes: u64,
    /// Files that could not be copied, with the reason.
    pub failed: Vec<(String, String)>,
    /// Entries deliberately not copied (impossible names, symlinks), with the reason.
    pub skipped: Vec<(String, String)>,
}

pub trait PullProgress {
    fn planned(&mut self, _files: u64, _bytes: u64) {}
    fn bytes(&mut self, _bytes: u64) {}
}

impl PullProgress for () {}

struct Planned {
    remote: RemoteFile,
    local: PathBuf,
    modified: SystemTime,
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

fn local_err(path: &Path) -> impl FnOnce(io::Error) -> PullError + '_ {
    move |source| PullError::Local {
        path: path.to_path_buf(),
        source,
    }
}

/// How to pull.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions {
    /// Read every file a second time and compare SHA-256: AFC itself carries no checksum,
    /// so this is what catches bytes damaged on the way.
    pub verify: bool,
}

/// Copies `remote` to `dest`. An existing folder `dest` receives `remote` inside it.
pub fn pull(
    source: &mut dyn FileSource,
    remote: &str,
    dest: &Path,
    options: PullOptions,
    progress: &mut dyn PullProgress,
) -> Result<PullReport, PullError> {
    let mut report = PullReport::default();
    let info = source.file_info(remote)?;
    let base = remote.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let target = |report: &mut PullReport| -> Option<PathBuf> {
        if !dest.is_dir() || base.is_empty() {
            return Some(dest.to_path_buf());
        }
        match names::check_listed(base) {
            Ok(name) => Some(dest.join(&*names::local_name(name))),
            Err(reason) => {
                report.skipped.push((remote.to_string(), reason.to_string()));
                None
            }
        }
    };
    let mut plan = Vec::new();
    match info.kind {
        FileKind::File => {
            let Some(local) = target(&mut report) else {
                return Ok(report);
            };
            if let Some(parent) = local.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(local_err(parent))?;
            }
            plan.push(Planned {
                remote: RemoteFile {
                    path: remote.into(),
                    size: info.size,
                },
                local,
                modified: time(info.mtime_ns),
            });
        }
        FileKind::Directory => {
            let Some(root) = target(&mut report) else {
                return Ok(report);
            };
            walk(source, remote, &root, &mut plan, &mut report)?;
        }
        _ => return Err(PullError::NotAFile(remote.into())),
    }
    progress.planned(plan.len() as u64, plan.iter().map(|p| p.remote.size).sum());
    let remotes: Vec<RemoteFile> = plan.iter().map(|p| p.remote.clone()).collect();
    let mut sink = Sink {
        plan: &plan,
        open: HashedFiles::default(),
        report: &mut report,
        progress,
        folders: BTreeSet::new(),
        written: HashMap::new(),
    };
    source.fetch(&remotes, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut sink)?;
    let folders = std::mem::take(&mut sink.folders);
    let written = std::mem::take(&mut sink.written);
    for folder in folders {
        sync_dir(&folder).map_err(local_err(&folder))?;
    }
    if options.verify {
        verify_again(source, &plan, &written, &mut report)?;
    }
    Ok(report)
}

/// Reads the written files again from the phone and compares digests. A file whose two
/// reads differ is removed, so no damaged copy stays under its name.
fn verify_again(
    source: &mut dyn FileSource,
    plan: &[Planned],
    written: &HashMap<usize, [u8; 32]>,
    report: &mut PullReport,
) -> Result<(), PullError> {
    let indices: Vec<usize> = (0..plan.len()).filter(|i| written.contains_key(i)).collect();
    let remotes: Vec<RemoteFile> = indices.iter().map(|&i| plan[i].remote.clone()).collect();
    let mut second = Digests::default();
    source.fetch(&remotes, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut second)?;
    for (position, &index) in indices.iter().enumerate() {
        let again = second.done.remove(&position).and_then(Result::ok);
        if again.as_ref() == Some(&written[&index]) {
            continue;
        }
        let planned = &plan[index];
        let reason = match again {
            Some(_) => {
                "two reads from the phone gave different bytes (damaged in transfer); the copy was removed, pull it again"
            }
            None => "could not be read a second time to verify it; the copy was removed",
        };
        fs::remove_file(&planned.local).map_err(local_err(&planned.local))?;
        report.files -= 1;
        report.bytes -= planned.remote.size;
        report.failed.push((planned.remote.path.clone(), reason.to_string()));
    }
    Ok(())
}

fn time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// Lists `remote` recursively into `plan`, making the local folders as it goes.
fn walk(
    source: &mut dyn FileSource,
    remote: &str,
    local: &Path,
    plan: &mut Vec<Planned>,
    report: &mut PullReport,
) -> Result<(), PullError> {
    let mut queue = vec![(remote.to_string(), local.to_path_buf())];
    while let Some((dir, local_dir)) = queue.pop() {
        fs::create_dir_all(&local_dir).map_err(local_err(&local_dir))?;
        let mut folder = Folder::default();
        let mut entries = Vec::new();
        for name in source.list_dir(&dir)? {
            let remote_path = join(&dir, &name);
            match names::check_listed(&name) {
                Ok(name) => entries.push((folder.claim(name), remote_path)),
                Err(reason) => report.skipped.push((remote_path, reason.to_string())),
            }
        }
        let paths: Vec<String> = entries.iter().map(|(_, p)| p.clone()).collect();
        let infos = source.file_infos(&paths, DEFAULT_WINDOW)?;
        for ((name, remote_path), info) in entries.into_iter().zip(infos) {
            match info {
                Ok(info) if info.kind == FileKind::Directory => queue.push((remote_path, local_dir.join(&name))),
                Ok(info) if info.kind == FileKind::File => plan.push(Planned {
                    remote: RemoteFile {
                        path: remote_path,
                        size: info.size,
                    },
                    local: local_dir.join(&name),
                    modified: time(info.mtime_ns),
                }),
                Ok(info) => {
                    let what = if info.kind == FileKind::Symlink {
                        "a symbolic link (not followed)"
                    } else {
                        "not a regular file"
                    };
                    report.skipped.push((remote_path, what.to_string()));
                }
                Err(e) => report.failed.push((remote_path, e.to_string())),
            }
        }
    }
    Ok(())
}

struct Sink<'a> {
    plan: &'a [Planned],
    open: HashedFiles,
    /// SHA-256 of each file written, by plan index.
    written: HashMap<usize, [u8; 32]>,
    report: &'a mut PullReport,
    progress: &'a mut dyn PullProgress,
    folders: BTreeSet<PathBuf>,
}

impl FetchSink for Sink<'_> {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        self.open.begin(index, &self.plan[index].local)
    }

    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        self.open.write(index, bytes)?;
        self.progress.bytes(bytes.len() as u64);
        Ok(())
    }

    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        let planned = &self.plan[index];
        let file = self.open.finish(index);
        match (outcome, file) {
            (Ok(bytes), Some((file, digest))) => {
                file.commit_leaving_folder(Some(planned.modified))?;
                self.written.insert(index, digest);
                if let Some(parent) = planned.local.parent() {
                    self.folders.insert(parent.to_path_buf());
                }
                self.report.files += 1;
                self.report.bytes += bytes;
            }
            // Dropping the file removes what was written of it.
            (Err(e), _) => self.report.failed.push((planned.remote.path.clone(), e.to_string())),
            (Ok(_), None) => self
                .report
                .failed
                .push((planned.remote.path.clone(), "no local file was open".into())),
        }
        Ok(())
    }
}
