//! The one export job: lock the destination, open AFC with the caller's device timeout,
//! load the library, export, and report what the walk passed over. `export-photos` and
//! the nightly run both call it, so both behave the same.

use std::path::{Path, PathBuf};
use std::time::Duration;

use afc::AfcClient;
use lockdown::{PairRecord, ServiceStream};
use usbmux::{Device, UsbmuxClient};

use crate::photos::export::{self, DestinationLock, ExportError, ExportProgress};
use crate::photos::load;
use crate::photos::plan::{ExportOptions, ExportReport, Prefilter};
use crate::source::FileSource;

/// What to export, where, and how long the phone may be silent.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub dest: PathBuf,
    pub options: ExportOptions,
    /// The longest the phone may be silent before the run gives up on it.
    pub device_timeout: Duration,
    /// AFC requests in flight at most (1: one at a time); `None` leaves each kind of request
    /// its own window (reads 8, file infos 128).
    pub afc_window: Option<usize>,
}

/// Said when files a phone refused with several open came through one at a time.
pub const ONE_FILE_AT_A_TIME: &str =
    "the iPhone refused some files while several were open; they were copied one file at a time (slower)";

/// Said once when a phone's answers make the run go on one AFC request at a time.
pub const ONE_AT_A_TIME: &str =
    "the iPhone did not cope with several AFC requests at once; going on with one request at a time (slower)";

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Reaching the phone's AFC service failed (locked, not paired, gone).
    #[error(transparent)]
    Connect(#[from] lockdown::Error),
    #[error(transparent)]
    Export(#[from] ExportError),
}

impl ExportJob {
    /// Makes the destination and takes its lock; a second run into it is refused.
    pub fn lock(&self) -> Result<DestinationLock, ExportError> {
        std::fs::create_dir_all(&self.dest).map_err(|e| ExportError::destination(&self.dest, &self.dest, e))?;
        export::lock_destination(&self.dest)
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Opens AFC on `device` with this job's timeout and window.
    pub fn connect(
        &self,
        mux: &UsbmuxClient,
        device: &Device,
        record: &PairRecord,
    ) -> Result<AfcClient<ServiceStream>, lockdown::Error> {
        let afc = afc::connect::connect_with_timeout(mux, device, record, self.device_timeout)?;
        Ok(match self.afc_window {
            Some(window) => afc.with_window(window),
            None => afc,
        })
    }

    /// Loads the library from `source` (the phone over AFC, or a backup's media folder)
    /// and exports it into the locked destination. The report lists what the walk passed
    /// over with what the plan skipped.
    pub fn run_with(
        &self,
        source: &mut dyn FileSource,
        lock: &DestinationLock,
        progress: &mut (dyn ExportProgress + Send),
    ) -> Result<ExportReport, ExportError> {
        // The destination's side (leftovers, the manifest's index) is read on a thread of its
        // own while the phone is walked: on a no-op night over a large library both take
        // a good part of the run, and neither needs the other until the join.
        let cache = export::database_cache(&self.dest);
        let (prepared, fetched) = std::thread::scope(|scope| {
            let preparing = scope.spawn(|| export::prepare(&self.dest, lock));
            let fetched = load::fetch(source, Some(&cache), self.options.verify_reads);
            let prepared = preparing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (prepared, fetched)
        });
        let prepared = prepared?;
        let fetched = fetched?;
        // Assets with nothing to do are counted as the library is read, not held.
        let mut prefilter = Prefilter::new(&prepared.index, &self.options);
        let (library, walk_skipped) = fetched.join(&mut |asset| prefilter.keep(asset));
        let tally = prefilter.tally;
        progress.source(&library.source);
        let mut report =
            export::export_prepared(source, &library, &self.dest, &self.options, progress, prepared, tally)?;
        report.skipped.extend(walk_skipped);
        Ok(report)
    }

    /// The whole job on `device`: connect, load, export.
    pub fn run(
        &self,
        mux: &UsbmuxClient,
        device: &Device,
        record: &PairRecord,
        lock: &DestinationLock,
        progress: &mut (dyn ExportProgress + Send),
    ) -> Result<ExportReport, JobError> {
        let mut afc = self.connect(mux, device, record)?;
        match self.run_with(&mut afc, lock, progress) {
            // A phone that cannot take a pipeline drops it or answers out of turn
            // (docs/protocol.md §3.6): once, on a new connection, one request at a time.
            // What was copied is kept; the second pass finds it already there.
            Err(ExportError::Afc(error)) if self.afc_window != Some(1) && error.may_be_pipelining() => {
                drop(afc);
                let Ok(afc) = self.connect(mux, device, record) else {
                    // The phone is gone, not slow: the first error says what happened.
                    return Err(ExportError::Afc(error).into());
                };
                progress.notice(ONE_AT_A_TIME);
                let mut report = self.run_with(&mut afc.with_window(1), lock, progress)?;
                report.notes.push(ONE_AT_A_TIME.to_string());
                Ok(report)
            }
            // Files the phone refused with an error status while several were open: asked
            // for once more one file at a time (the walk keeps its window; it got through).
            // What was copied is kept, so the second pass fetches only those.
            Ok(first) if self.afc_window != Some(1) && first.refused_by_phone > 0 => {
                drop(afc);
                let Ok(afc) = self.connect(mux, device, record) else {
                    return Ok(first);
                };
                let second = self.run_with(&mut afc.with_fetch_window(1), lock, progress)?;
                let helped = !second.copied.is_empty();
                let mut report = first.then(second);
                if helped {
                    progress.notice(ONE_FILE_AT_A_TIME);
                    report.notes.push(ONE_FILE_AT_A_TIME.to_string());
                }
                Ok(report)
            }
            other => Ok(other?),
        }
    }
}
