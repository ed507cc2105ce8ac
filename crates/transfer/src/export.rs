//! `export-photos`: every original on the phone, copied once, checked by SHA-256.
//!
//! plan = the library minus what the manifest holds; each file streams from the phone
//! through SHA-256 into a temporary file, which is synced, given the capture date and
//! renamed; rows are recorded in batches after their files are durable; `SHA256SUMS` files
//! let `sha256sum -c` check every folder without lifeboat.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use afc::client::{AfcClient, AfcError, DEFAULT_CHUNK, DEFAULT_WINDOW, RemoteFile};
use sha2::{Digest, Sha256};

use crate::atomic::{AtomicFile, TEMP_SUFFIX, sync_dir};
use crate::library::{Asset, Library, MediaKind, Role, Source};
use crate::manifest::{self, Entry, Manifest};
use crate::sinks::hex;
use crate::threaded::{self, HashedSink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `YYYY/MM/` by capture date, in the time zone it was taken in where the phone knows it.
    #[default]
    Date,
    /// The phone's own folders (`DCIM/100APPLE/`).
    Device,
    /// Everything in one folder.
    Flat,
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub include_trashed: bool,
    pub exclude_hidden: bool,
    /// Only assets captured at or after this Unix time.
    pub since: Option<i64>,
    pub photos_only: bool,
    pub videos_only: bool,
    pub album: Option<String>,
    /// Leave edited renders out.
    pub skip_edited: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub layout: Layout,
    pub selection: Selection,
    pub dry_run: bool,
    /// Read every file twice and keep it only when both reads hash the same. AFC carries no
    /// checksum of its own; this catches bytes damaged between the phone's disk and ours,
    /// at the price of a second transfer (the phone serves it from its cache).
    pub verify_reads: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Afc(#[from] AfcError),
    #[error("the destination {path}: {source}")]
    Destination {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the manifest {path}: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("another lifeboat export is running into {0}; wait for it to finish (this run changed nothing)")]
    Busy(PathBuf),
}

/// One file planned for copying.
#[derive(Debug, Clone)]
pub struct Planned {
    pub asset_id: String,
    pub role: Role,
    pub device_path: String,
    pub size: u64,
    pub device_mtime_ns: u64,
    pub capture_date: Option<i64>,
    /// Relative to DEST.
    pub dest_path: String,
}

#[derive(Debug, Default)]
pub struct ExportReport {
    pub source: Option<Source>,
    pub assets_selected: u64,
    pub copied: Vec<Planned>,
    pub bytes_copied: u64,
    /// Files already in the destination from an earlier run.
    pub already_there: u64,
    /// Originals only in iCloud: their device paths.
    pub cloud_only: Vec<String>,
    pub failed: Vec<(String, String)>,
    /// Planned but not copied (dry run).
    pub planned: Vec<Planned>,
    pub skipped: Vec<(String, String)>,
}

pub trait ExportProgress {
    fn planned(&mut self, _files: u64, _bytes: u64) {}
    fn bytes(&mut self, _bytes: u64) {}
    fn file_done(&mut self, _planned: &Planned) {}
}

impl ExportProgress for () {}

/// Holds `DEST/.lifeboat/lock` for the run; the OS drops the lock if the process dies.
pub struct DestinationLock {
    _file: fs::File,
}

pub fn lock_destination(dest: &Path) -> Result<DestinationLock, ExportError> {
    let dir = dest.join(manifest::DIR);
    let err = |source| ExportError::Destination {
        path: dest.to_path_buf(),
        source,
    };
    fs::create_dir_all(&dir).map_err(err)?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(err)?;
    match file.try_lock() {
        Ok(()) => Ok(DestinationLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(ExportError::Busy(dest.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

/// Removes temporary files a killed run left behind (we hold the lock, so none is live).
fn remove_leftovers(dest: &Path) -> io::Result<u64> {
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(dest).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().ends_with(TEMP_SUFFIX) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn selected(asset: &Asset, selection: &Selection) -> bool {
    (selection.include_trashed || !asset.trashed)
        && !(selection.exclude_hidden && asset.hidden)
        && selection
            .since
            .is_none_or(|since| asset.created.is_some_and(|c| c >= since))
        && !(selection.photos_only && asset.kind != MediaKind::Photo)
        && !(selection.videos_only && asset.kind != MediaKind::Video)
        && selection
            .album
            .as_ref()
            .is_none_or(|album| asset.albums.iter().any(|a| a == album))
}

fn split_name(name: &str) -> (&str, &str) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (name, ""),
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The folder an asset goes to, relative to DEST.
fn folder_for(asset: &Asset, layout: Layout) -> String {
    match layout {
        Layout::Flat => String::new(),
        Layout::Device => asset
            .original_path
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_string())
            .unwrap_or_default(),
        Layout::Date => match asset
            .created
            .and_then(|c| time::OffsetDateTime::from_unix_timestamp(c + asset.utc_offset.unwrap_or(0)).ok())
        {
            Some(t) => format!("{:04}/{:02}", t.year(), u8::from(t.month())),
            None => "undated".into(),
        },
    }
}

/// The local name of each resource of an asset, all sharing one base name, so a Live
/// Photo's halves and an edit stay together; `suffix` makes the base unique.
fn names_for(asset: &Asset, suffix: u32, skip_edited: bool) -> Vec<(Role, String)> {
    let (stem, _) = split_name(file_name(&asset.original_path));
    let base = if suffix == 0 {
        stem.to_string()
    } else {
        format!("{stem} ({suffix})")
    };
    asset
        .resources
        .iter()
        .filter(|r| !(skip_edited && r.role == Role::Render))
        .map(|r| {
            let (_, ext) = split_name(file_name(&r.file.path));
            let name = match r.role {
                Role::Render => format!("{base}_edited.{}", ext.to_ascii_uppercase()),
                _ => format!("{base}.{ext}"),
            };
            (r.role, name)
        })
        .collect()
}

fn join_rel(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

/// Decides what to copy and where. A name is taken when the manifest or this plan gives
/// it (compared without case) to another asset; the whole asset then moves to the next free
/// suffix, so a Live Photo's halves and an edit keep one base name, also across runs.
pub fn plan(library: &Library, manifest: &Manifest, options: &ExportOptions) -> Result<ExportReport, rusqlite::Error> {
    let mut report = ExportReport {
        source: Some(library.source.clone()),
        skipped: library.skipped.clone(),
        ..Default::default()
    };
    let index = manifest.index()?;
    // Lower-cased destination path -> the asset this run gives it to. Names the manifest
    // already holds are looked up in the index instead, not copied here.
    let mut taken: HashMap<String, &str> = HashMap::new();
    let mut assets: Vec<&Asset> = library
        .assets
        .iter()
        .filter(|a| selected(a, &options.selection))
        .collect();
    // A stable order, so the same library always gets the same names.
    assets.sort_by(|a, b| (a.created, &a.original_path).cmp(&(b.created, &b.original_path)));
    for asset in assets {
        report.assets_selected += 1;
        if asset.cloud_only {
            report.cloud_only.push(asset.original_path.clone());
        }
        let mut todo = Vec::new();
        for resource in &asset.resources {
            if options.selection.skip_edited && resource.role == Role::Render {
                continue;
            }
            match index.find(&resource.file.path, resource.file.size, resource.file.mtime_ns) {
                Some(_) => report.already_there += 1,
                None => todo.push(resource),
            }
        }
        if todo.is_empty() {
            continue;
        }
        let folder = folder_for(asset, options.layout);
        let mut suffix = 0;
        let names = loop {
            let names = names_for(asset, suffix, options.selection.skip_edited);
            let mut free = true;
            for (_, name) in &names {
                let rel = join_rel(&folder, name);
                let owner = match taken.get(&rel.to_lowercase()) {
                    Some(owner) => Some(*owner),
                    None => index.by_dest(&rel).map(|row| row.asset_id.as_str()),
                };
                if owner.is_some_and(|owner| owner != asset.id) {
                    free = false;
                    break;
                }
            }
            if free {
                break names;
            }
            suffix += 1;
        };
        for (_, name) in &names {
            taken.insert(join_rel(&folder, name).to_lowercase(), asset.id.as_str());
        }
        for resource in todo {
            let Some((_, name)) = names.iter().find(|(role, _)| *role == resource.role) else {
                continue;
            };
            report.planned.push(Planned {
                asset_id: asset.id.clone(),
                role: resource.role,
                device_path: resource.file.path.clone(),
                size: resource.file.size,
                device_mtime_ns: resource.file.mtime_ns,
                capture_date: asset.created,
                dest_path: join_rel(&folder, name),
            });
        }
    }
    Ok(report)
}

/// Where the database copy is kept between runs.
pub fn database_cache(dest: &Path) -> PathBuf {
    dest.join(manifest::DIR).join("photos-db")
}

/// Runs the export into `dest`, whose lock the caller holds.
pub fn export<S: Read + Write>(
    afc: &mut AfcClient<S>,
    library: &Library,
    dest: &Path,
    options: &ExportOptions,
    progress: &mut (dyn ExportProgress + Send),
    _lock: &DestinationLock,
) -> Result<ExportReport, ExportError> {
    let dest_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Destination { path, source }
    };
    remove_leftovers(dest).map_err(dest_err(dest))?;
    let manifest_path = dest.join(manifest::DIR).join(manifest::FILE);
    let manifest_err = |source| ExportError::Manifest {
        path: manifest_path.clone(),
        source,
    };
    let mut manifest = Manifest::open(dest).map_err(manifest_err)?;
    let mut report = plan(library, &manifest, options).map_err(manifest_err)?;
    if options.dry_run {
        return Ok(report);
    }
    let mut planned = std::mem::take(&mut report.planned);
    // Read in device order: neighbouring files are neighbours on the phone's disk too.
    planned.sort_by(|a, b| a.device_path.cmp(&b.device_path));
    progress.planned(planned.len() as u64, planned.iter().map(|p| p.size).sum());
    for folder in planned
        .iter()
        .filter_map(|p| p.dest_path.rsplit_once('/').map(|(d, _)| d))
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
    let fetched = threaded::fetch(afc, &remotes, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut sink);
    // Whatever happened, what was completely written is recorded.
    let flushed = sink.flush();
    let touched = std::mem::take(&mut sink.touched);
    let manifest_error = sink.manifest_error.take();
    if let Some(e) = manifest_error {
        return Err(manifest_err(e));
    }
    flushed.map_err(dest_err(dest))?;
    write_sums(dest, &manifest, &touched).map_err(dest_err(dest))?;
    fetched?;
    Ok(report)
}

/// Rewrites `SHA256SUMS` in each touched folder from the manifest, atomically.
fn write_sums(dest: &Path, manifest: &Manifest, folders: &BTreeSet<String>) -> io::Result<()> {
    if folders.is_empty() {
        return Ok(());
    }
    let entries = manifest.all().map_err(io::Error::other)?;
    let mut by_folder: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for e in &entries {
        let (folder, name) = e.dest_path.rsplit_once('/').unwrap_or(("", e.dest_path.as_str()));
        by_folder.entry(folder).or_default().push((name, e.sha256.as_str()));
    }
    for folder in folders {
        let lines = by_folder.get(folder.as_str()).cloned().unwrap_or_default();
        let dir = if folder.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(folder)
        };
        let mut file = AtomicFile::create(&dir.join("SHA256SUMS"))?;
        for (name, sha) in lines {
            writeln!(file, "{sha}  {name}")?;
        }
        file.commit(None)?;
        sync_dir(&dir)?;
    }
    Ok(())
}

/// How many files, or how long, between manifest commits.
const BATCH_FILES: usize = 256;
const BATCH_TIME: Duration = Duration::from_secs(2);

struct Sink<'a> {
    dest: &'a Path,
    planned: &'a [Planned],
    /// Fetches per planned file: 2 with `verify_reads`, fetch index = planned index * reads + pass.
    reads: usize,
    /// Files being written, by planned index (later files open while earlier ones arrive).
    open: HashMap<usize, AtomicFile>,
    /// With `verify_reads`: files read once, waiting for their second read.
    first_reads: HashMap<usize, (AtomicFile, [u8; 32], u64)>,
    /// Files complete on disk whose rows are not committed yet.
    batch: Vec<(Entry, PathBuf)>,
    batch_started: Instant,
    manifest: &'a mut Manifest,
    report: &'a mut ExportReport,
    progress: &'a mut (dyn ExportProgress + Send),
    touched: BTreeSet<String>,
    manifest_error: Option<rusqlite::Error>,
}

fn capture_time(planned: &Planned) -> SystemTime {
    match planned.capture_date {
        Some(secs) if secs >= 0 => UNIX_EPOCH + Duration::from_secs(secs as u64),
        _ => UNIX_EPOCH + Duration::from_nanos(planned.device_mtime_ns),
    }
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

impl Sink<'_> {
    /// Syncs the folders of the batch's files, then records their rows.
    fn flush(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let folders: BTreeSet<PathBuf> = self
            .batch
            .iter()
            .filter_map(|(_, p)| p.parent().map(Path::to_path_buf))
            .collect();
        for folder in folders {
            sync_dir(&folder)?;
        }
        let entries: Vec<Entry> = self.batch.iter().map(|(e, _)| e.clone()).collect();
        if let Err(e) = self.manifest.record(&entries) {
            self.manifest_error = Some(e);
            return Err(io::Error::other("the manifest could not be written"));
        }
        self.batch.clear();
        self.batch_started = Instant::now();
        Ok(())
    }

    /// Where a finished file goes: its planned name, unless a different file is already
    /// there without a manifest row, in which case the next free suffix.
    fn place(&self, planned: &Planned, sha: &str) -> io::Result<(PathBuf, String, bool)> {
        let mut rel = planned.dest_path.clone();
        let mut n = 1;
        loop {
            let path = self.dest.join(&rel);
            if !path.exists() {
                return Ok((path, rel, false));
            }
            // Ours from a killed run, or identical content: adopt it.
            if sha256_file(&path)? == sha {
                return Ok((path, rel, true));
            }
            n += 1;
            let (folder, name) = planned
                .dest_path
                .rsplit_once('/')
                .unwrap_or(("", planned.dest_path.as_str()));
            let (stem, ext) = split_name(name);
            rel = join_rel(folder, &format!("{stem} ({n}).{ext}"));
        }
    }
}

impl Sink<'_> {
    /// Puts a whole, checked file in place and queues its manifest row.
    fn keep(&mut self, index: usize, file: AtomicFile, digest: [u8; 32], bytes: u64) -> io::Result<()> {
        let planned = &self.planned[index];
        let sha = hex(&digest);
        let (path, rel, adopt) = self.place(planned, &sha)?;
        if adopt {
            drop(file);
        } else if path == file.target() {
            file.commit(Some(capture_time(planned)))?;
        } else {
            // The planned name holds another file: write under the free name instead.
            file.commit_as(&path, Some(capture_time(planned)))?;
        }
        let entry = Entry {
            asset_id: planned.asset_id.clone(),
            role: planned.role.as_str().into(),
            device_path: planned.device_path.clone(),
            size: planned.size,
            device_mtime_ns: planned.device_mtime_ns,
            capture_date: planned.capture_date,
            sha256: sha,
            dest_path: rel.clone(),
        };
        self.touched
            .insert(rel.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default());
        self.batch.push((entry, path));
        let mut done = planned.clone();
        done.dest_path = rel;
        self.progress.file_done(&done);
        self.report.bytes_copied += bytes;
        self.report.copied.push(done);
        if self.batch.len() >= BATCH_FILES || self.batch_started.elapsed() >= BATCH_TIME {
            self.flush()?;
        }
        Ok(())
    }

    fn fail(&mut self, index: usize, why: String) {
        self.report.failed.push((self.planned[index].device_path.clone(), why));
    }
}

impl HashedSink for Sink<'_> {
    fn begin(&mut self, fetch_index: usize) -> io::Result<()> {
        let (index, pass) = (fetch_index / self.reads, fetch_index % self.reads);
        if pass == 0 {
            let file = AtomicFile::create(&self.dest.join(&self.planned[index].dest_path))?;
            self.open.insert(index, file);
        }
        Ok(())
    }

    fn data(&mut self, fetch_index: usize, bytes: &[u8]) -> io::Result<()> {
        let (index, pass) = (fetch_index / self.reads, fetch_index % self.reads);
        // A second read is only hashed, which the pipeline has done.
        if pass == 0 {
            self.open
                .get_mut(&index)
                .ok_or_else(|| io::Error::other("data for a file that is not open"))?
                .write_all(bytes)?;
            self.progress.bytes(bytes.len() as u64);
        }
        Ok(())
    }

    fn end(&mut self, fetch_index: usize, outcome: Result<(u64, [u8; 32]), AfcError>) -> io::Result<()> {
        let (index, pass) = (fetch_index / self.reads, fetch_index % self.reads);
        if pass == 0 {
            let opened = self.open.remove(&index);
            let (bytes, digest, file) = match (outcome, opened) {
                (Ok((bytes, digest)), Some(file)) => (bytes, digest, file),
                (Err(e), _) => {
                    self.fail(index, e.to_string());
                    return Ok(());
                }
                (Ok(_), None) => return Ok(()),
            };
            if self.reads == 1 {
                return self.keep(index, file, digest, bytes);
            }
            self.first_reads.insert(index, (file, digest, bytes));
            return Ok(());
        }
        // No first read waiting: it failed and has been reported.
        let Some((file, digest, bytes)) = self.first_reads.remove(&index) else {
            return Ok(());
        };
        match outcome {
            Ok((_, second)) if second == digest => self.keep(index, file, digest, bytes),
            Ok(_) => {
                // Dropping the temporary file removes it; the next run copies it anew.
                drop(file);
                self.fail(
                    index,
                    "two reads of this file differ: its bytes were damaged on the way; nothing was kept, \
                     run again to copy it anew (if it happens again, try another cable or port)"
                        .into(),
                );
                Ok(())
            }
            Err(e) => {
                drop(file);
                self.fail(index, format!("the second read failed: {e}"));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(created: i64, utc_offset: Option<i64>) -> Asset {
        Asset {
            id: "A".into(),
            kind: MediaKind::Photo,
            created: Some(created),
            utc_offset,
            trashed: false,
            hidden: false,
            albums: Vec::new(),
            original_path: "DCIM/100APPLE/IMG_0001.HEIC".into(),
            resources: Vec::new(),
            cloud_only: false,
        }
    }

    #[test]
    fn date_folders_use_the_capture_time_zone() {
        // 2019-01-31 23:30 UTC is already February in Paris.
        let late = 1_548_977_400;
        assert_eq!(folder_for(&asset(late, None), Layout::Date), "2019/01");
        assert_eq!(folder_for(&asset(late, Some(3600)), Layout::Date), "2019/02");
        assert_eq!(folder_for(&asset(late, Some(-3600)), Layout::Date), "2019/01");
        assert_eq!(folder_for(&asset(late, None), Layout::Device), "DCIM/100APPLE");
        assert_eq!(folder_for(&asset(late, None), Layout::Flat), "");
    }

    #[test]
    fn an_asset_shares_one_base_name_and_suffixes_together() {
        use crate::library::Resource;
        use crate::walk::DeviceFile;
        let file = |path: &str| DeviceFile {
            path: path.into(),
            size: 1,
            mtime_ns: 0,
        };
        let mut live = asset(0, None);
        live.resources = vec![
            Resource {
                role: Role::Original,
                file: file("DCIM/100APPLE/IMG_0001.HEIC"),
            },
            Resource {
                role: Role::LiveVideo,
                file: file("DCIM/100APPLE/IMG_0001.MOV"),
            },
            Resource {
                role: Role::Render,
                file: file("PhotoData/Mutations/DCIM/100APPLE/IMG_0001/Adjustments/FullSizeRender.heic"),
            },
        ];
        let names: Vec<String> = names_for(&live, 0, false).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0001_edited.HEIC"]);
        let names: Vec<String> = names_for(&live, 2, true).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG_0001 (2).HEIC", "IMG_0001 (2).MOV"]);
    }
}
