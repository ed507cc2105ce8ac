//! The writing end of the export pipeline: each fetched file into a temporary file, kept
//! under its planned name once whole (and, with `verify_reads`, read twice alike), its row
//! recorded in batches after its folder is synced.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use afc::client::AfcError;

use crate::fs::AtomicFile;
use crate::fs::hash::{hex, sha256_file};
use crate::fs::sync_dir;
use crate::manifest::{Entry, Manifest};
use crate::photos::export::ExportProgress;
use crate::photos::library::Asset;
use crate::photos::links;
use crate::photos::naming::join_rel;
use crate::photos::plan::{ExportReport, Namer, Planned};
use crate::threaded::HashedSink;

/// How many files, or how long, between manifest commits.
const BATCH_FILES: usize = 256;
const BATCH_TIME: Duration = Duration::from_secs(2);

pub(crate) struct Sink<'a, 'n> {
    pub dest: &'a Path,
    pub planned: &'a [Planned],
    /// Fetches per planned file: 2 with `verify_reads`, fetch index = planned index * reads + pass.
    pub reads: usize,
    pub assets: HashMap<&'a str, &'a Asset>,
    pub namer: &'a mut Namer<'n>,
    pub skip_edited: bool,
    /// Device path -> destination, for the files of an asset that had to move to another
    /// suffix because its planned name was taken by the time a file arrived.
    pub moved: HashMap<String, String>,
    /// Files being written, by planned index (later files open while earlier ones arrive).
    pub open: HashMap<usize, AtomicFile>,
    /// With `verify_reads`: files read once, waiting for their second read.
    pub first_reads: HashMap<usize, (AtomicFile, [u8; 32], u64)>,
    /// Files complete on disk whose rows are not committed yet.
    pub batch: Vec<(Entry, PathBuf)>,
    pub batch_started: Instant,
    pub manifest: &'a mut Manifest,
    pub report: &'a mut ExportReport,
    pub progress: &'a mut (dyn ExportProgress + Send),
    pub touched: BTreeSet<String>,
    pub manifest_error: Option<rusqlite::Error>,
}

fn folder_of(rel: &str) -> String {
    rel.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
}

fn capture_time(planned: &Planned) -> SystemTime {
    match planned.capture_date {
        Some(secs) if secs >= 0 => UNIX_EPOCH + Duration::from_secs(secs as u64),
        _ => UNIX_EPOCH + Duration::from_nanos(planned.device_mtime_ns),
    }
}

impl Sink<'_, '_> {
    /// Syncs the folders of the batch's files, then records their rows.
    pub fn flush(&mut self) -> io::Result<()> {
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

    /// Where a finished file goes, and whether it is already there: its planned name, a
    /// file with the same bytes there being adopted (a killed run's). When a different file
    /// has taken the name since the plan, the whole asset moves to its next free suffix.
    fn place(&mut self, planned: &Planned, sha: &str) -> io::Result<(String, bool)> {
        let rel = self
            .moved
            .get(&planned.device_path)
            .cloned()
            .unwrap_or_else(|| planned.dest_path.clone());
        let path = self.dest.join(&rel);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((rel, false)),
            Err(e) => return Err(e),
            Ok(meta) if meta.is_file() && hex(&sha256_file(&path)?) == sha => return Ok((rel, true)),
            Ok(_) => {}
        }
        let asset = self
            .assets
            .get(planned.asset_id.as_str())
            .copied()
            .ok_or_else(|| io::Error::other("a planned file without its asset"))?;
        let folder = rel.rsplit_once('/').map(|(f, _)| f.to_string()).unwrap_or_default();
        self.namer.refuse(&rel);
        for (at, name) in self.namer.claim(asset, &folder, self.skip_edited, false) {
            self.moved
                .insert(asset.resources[at].file.path.clone(), join_rel(&folder, &name));
        }
        let rel = self
            .moved
            .get(&planned.device_path)
            .cloned()
            .ok_or_else(|| io::Error::other("no free name for a planned file"))?;
        Ok((rel, false))
    }

    /// Puts a whole, checked file in place and queues its manifest row.
    fn keep(&mut self, index: usize, file: AtomicFile, digest: [u8; 32], bytes: u64) -> io::Result<()> {
        let planned = &self.planned[index];
        let sha = hex(&digest);
        let (rel, adopt) = self.place(planned, &sha)?;
        let path = self.dest.join(&rel);
        if adopt {
            drop(file);
        } else {
            file.commit_as(&path, Some(capture_time(planned)))?;
        }
        let entry = |dest_path: &str| Entry {
            asset_id: planned.asset_id.clone(),
            role: planned.role.as_str().into(),
            device_path: planned.device_path.clone(),
            size: planned.size,
            device_mtime_ns: planned.device_mtime_ns,
            capture_date: planned.capture_date,
            sha256: sha.clone(),
            dest_path: dest_path.to_string(),
        };
        // The album layout's further albums: the same file again, as hard links.
        let mut links = Vec::with_capacity(planned.links.len());
        for link in &planned.links {
            let link_path = self.dest.join(link);
            match links::link_or_copy(&path, &link_path, &sha) {
                Ok(()) => {
                    self.batch.push((entry(link), link_path));
                    self.touched.insert(folder_of(link));
                    links.push(link.clone());
                }
                Err(e) => self
                    .report
                    .failed
                    .push((format!("{} -> {link}", planned.device_path), e.to_string())),
            }
        }
        self.touched.insert(folder_of(&rel));
        self.batch.push((entry(&rel), path));
        let mut done = planned.clone();
        done.dest_path = rel;
        done.links = links;
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

impl HashedSink for Sink<'_, '_> {
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
                    if matches!(e, AfcError::Status { .. }) {
                        self.report.refused_by_phone += 1;
                    }
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
