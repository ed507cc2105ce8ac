//! `lifeboat backup [DEST]`: a full device backup in Finder's format, kept as versions
//! (transfer::finder). Output, progress and advice live here; the run lives in
//! `transfer::finder::job`.

use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::ProgressBar;
use mobilebackup2::{DevicePath, Limits, Observer, Phase};
use serde_json::json;
use transfer::finder::job::{BackupJob, BackupProgress, BackupSummary, PASSCODE_MESSAGE, Step, size};
use usbmux::UsbmuxClient;

use crate::cli::BackupArgs;
use crate::commands::password;
use crate::connect;

/// A bar on a terminal; otherwise one line per phase and per 10 % on standard error.
struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    started: Instant,
    bytes: u64,
    batch_bytes: u64,
    files: u64,
    last_tenth: i64,
}

impl Progress {
    fn new() -> Progress {
        let bar = crate::progress::backup_bar();
        Progress {
            // Not a terminal: one line per phase and per 10 %, for logs.
            lines: bar.is_none(),
            bar,
            started: Instant::now(),
            bytes: 0,
            batch_bytes: 0,
            files: 0,
            last_tenth: -1,
        }
    }

    fn log(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if self.lines => eprintln!("lifeboat: {text}"),
            None => {}
        }
    }

    fn refresh(&self) {
        if let Some(bar) = &self.bar {
            let seconds = self.started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} received, {} files, {}/s",
                size(self.bytes),
                self.files,
                size((self.bytes as f64 / seconds) as u64)
            ));
        }
    }
}

impl Observer for Progress {
    fn phase(&mut self, phase: Phase) {
        self.log(phase.describe());
    }

    fn progress(&mut self, percent: f64) {
        let percent = percent.clamp(0.0, 100.0);
        if let Some(bar) = &self.bar {
            bar.set_position((percent * 10.0) as u64);
        }
        let tenth = (percent / 10.0) as i64;
        if self.bar.is_none() && tenth > self.last_tenth {
            self.last_tenth = tenth;
            self.log(&format!(
                "{}% done, {} received in {} files",
                tenth * 10,
                size(self.bytes),
                self.files
            ));
        }
    }

    fn batch(&mut self, total_bytes: u64) {
        self.batch_bytes += total_bytes;
    }

    fn received(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.refresh();
    }

    fn file_done(&mut self, _path: &DevicePath, _size: u64) {
        self.files += 1;
    }

    fn warning(&mut self, text: &str) {
        self.log(&format!("warning: {text}"));
    }
}

impl BackupProgress for Progress {
    fn step(&mut self, step: Step) {
        self.log(step.describe());
    }
}

pub fn run(mux: &UsbmuxClient, args: BackupArgs, device_timeout: Duration) -> Result<()> {
    let encryption = password::encryption(&args)?;
    let config_path = args.config.clone().unwrap_or_else(nightly::config::default_path);
    let settings = nightly::config::backup_settings(&config_path)?;
    let keep = match args.keep {
        Some(n) => n as usize,
        None => settings
            .keep_versions
            .unwrap_or(transfer::finder::versions::DEFAULT_KEEP),
    };
    let job = BackupJob {
        dest: args
            .dest
            .clone()
            .or(settings.destination.clone())
            .unwrap_or_else(nightly::config::default_backup_destination),
        force_full: args.full,
        keep,
        limits: Limits {
            device: device_timeout,
            passcode: args.passcode_timeout,
        },
        encryption,
    };
    let device = connect::select(mux, args.device.as_deref())?;
    let record = connect::trusted_record(mux, &device)?;
    let mut progress = Progress::new();
    let bar = progress.bar.clone();
    let on_passcode = move || match &bar {
        Some(bar) => bar.println(PASSCODE_MESSAGE),
        None => eprintln!("lifeboat: {PASSCODE_MESSAGE}"),
    };
    let result = job.run(mux, &device, &record, &mut progress, &on_passcode);
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let summary = result?;
    // For `lifeboat status` and the nightly run's full-backup warning.
    let record = nightly::status::DeviceBackup {
        finished: nightly::status::now(),
        full: summary.full,
        version: summary.committed.version.clone(),
        path: summary.path.display().to_string(),
    };
    if let Err(e) = nightly::status::record_device_backup(&settings.state_dir, &summary.udid, &device.udid, record) {
        eprintln!(
            "lifeboat: warning: cannot record the backup in {}: {e}",
            settings.state_dir.display()
        );
    }
    if args.json {
        crate::json::print(&summary_json(&summary))?;
    } else {
        print_summary(&summary);
    }
    Ok(())
}

fn kind(summary: &BackupSummary) -> &'static str {
    if summary.full { "full" } else { "incremental" }
}

fn summary_json(summary: &BackupSummary) -> serde_json::Value {
    let report = &summary.report;
    json!({
        "udid": summary.udid,
        "path": summary.path.display().to_string(),
        "version": summary.committed.version,
        "previous_version": summary.committed.previous,
        "pruned_versions": summary.committed.pruned,
        "kind": kind(summary),
        "full": summary.full,
        "encrypted": summary.encrypted,
        "files": report.files,
        "bytes": report.bytes,
        "duration_seconds": summary.duration.as_secs_f64(),
        "hard_links": summary.linked,
        "warnings": report.warnings,
        "refused_paths": report.refused,
        "errors": report.errors.iter().chain(&summary.notes).collect::<Vec<_>>(),
    })
}

fn print_summary(summary: &BackupSummary) {
    let report = &summary.report;
    println!(
        "Backed up {} files ({}), {}, {}, in {:.0} s.",
        report.files,
        size(report.bytes),
        kind(summary),
        if summary.encrypted {
            "encrypted"
        } else {
            "not encrypted"
        },
        summary.duration.as_secs_f64()
    );
    println!("Version {} is in {}", summary.committed.version, summary.path.display());
    if !summary.committed.pruned.is_empty() {
        println!("Removed older versions: {}", summary.committed.pruned.join(", "));
    }
    if !summary.linked {
        eprintln!("lifeboat: this file system has no hard links, so unchanged files were copied into the new version");
    }
    for line in report
        .warnings
        .iter()
        .chain(&report.refused)
        .chain(&report.errors)
        .chain(&summary.notes)
    {
        eprintln!("lifeboat: warning: {line}");
    }
}
