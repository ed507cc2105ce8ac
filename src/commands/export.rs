//! `lifeboat export-photos`: the main job.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use serde_json::json;
use transfer::photos::ICLOUD_ADVICE;
use transfer::photos::export::{ExportError, ExportProgress};
use transfer::photos::job::{ExportJob, JobError};
use transfer::photos::library::Source;
use transfer::photos::plan::{ExportOptions, ExportReport, Planned, Selection, SidecarFormat};
use usbmux::UsbmuxClient;

use crate::cli::ExportArgs;
use crate::connect;
use crate::exit::Unavailable;

pub fn default_destination() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|dirs| dirs.picture_dir().map(Path::to_path_buf))
        .or_else(|| directories::BaseDirs::new().map(|d| d.home_dir().join("Pictures")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("iPhone")
}

/// A bar on a terminal; otherwise one line per copied file on standard error.
struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl ExportProgress for Progress {
    fn source(&mut self, source: &Source) {
        if let Source::FoldersOnly { reason } = source {
            eprintln!(
                "lifeboat: {reason}; working from the photo folders alone (albums, hidden and deleted are unknown)."
            );
        }
    }

    fn planned(&mut self, files: u64, bytes: u64) {
        self.bar = crate::progress::transfer_bar(files, bytes);
        if self.bar.is_none() && self.lines {
            eprintln!("copying {files} files ({:.1} MB)", bytes as f64 / 1e6);
        }
    }

    fn bytes(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn notice(&mut self, text: &str) {
        let line = format!("lifeboat: {text}; `--afc-window 1` starts that way next time");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn file_done(&mut self, planned: &Planned) {
        if self.bar.is_none() && self.lines {
            eprintln!("copied {} -> {}", planned.device_path, planned.dest_path);
        }
    }
}

pub fn run(mux: &dyn Fn() -> Result<UsbmuxClient>, args: ExportArgs, device_timeout: Duration) -> Result<()> {
    let job = ExportJob {
        afc_window: crate::connect::afc_window_chosen(),
        dest: args.dest.clone().unwrap_or_else(default_destination),
        options: ExportOptions {
            layout: args.layout,
            selection: Selection {
                include_trashed: args.include_trashed,
                exclude_hidden: args.exclude_hidden,
                since: args.since,
                photos_only: args.photos_only,
                videos_only: args.videos_only,
                album: args.album.clone(),
                skip_edited: args.no_edited,
                exclude_shared: args.no_shared,
            },
            dry_run: args.dry_run,
            verify_reads: args.verify_reads,
            sidecar: if args.sidecar == "xmp" {
                SidecarFormat::Xmp
            } else {
                SidecarFormat::None
            },
            album_keywords: args.album_keywords,
        },
        device_timeout,
    };
    // A backup that cannot be opened (no password, a wrong one) leaves the destination alone.
    let backup = match &args.from_backup {
        Some(path) => Some(crate::commands::password::open_backup(
            path,
            args.password_file.as_deref(),
        )?),
        None => None,
    };
    let dest = job.dest.clone();
    // A destination that cannot be made or locked is nothing to work with (exit 2).
    let lock = job.lock().map_err(|e| match e {
        ExportError::Destination { .. } => Unavailable::Destination {
            path: dest.display().to_string(),
            reason: e.to_string(),
        }
        .into(),
        other => anyhow::Error::new(other),
    })?;
    let mut progress = Progress {
        bar: None,
        lines: !args.json,
    };
    let result = match &backup {
        // The same job, reading the backup's CameraRollDomain instead of the phone.
        Some(backup) => job
            .run_with(&mut backup.media(), &lock, &mut progress)
            .map_err(JobError::Export),
        None => {
            let mux = mux()?;
            let device = connect::select(&mux, args.device.as_deref())?;
            let record = connect::trusted_record(&mux, &device)?;
            job.run(&mux, &device, &record, &lock, &mut progress)
        }
    };
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(JobError::Export(e)) => return Err(e.into()),
        Err(JobError::Connect(e)) => return Err(e.into()),
    };
    if args.json {
        crate::json::print(&summary_json(&dest, &report, args.dry_run))?;
    } else {
        print_summary(&report, args.dry_run);
    }
    if let Some(sentence) = report.left_behind_sentence()
        && !args.dry_run
    {
        anyhow::bail!("{sentence}");
    }
    Ok(())
}

fn source_name(source: &Option<Source>) -> &'static str {
    match source {
        Some(Source::Database { .. }) => "Photos.sqlite",
        _ => "folders",
    }
}

fn summary_json(dest: &Path, report: &ExportReport, dry_run: bool) -> serde_json::Value {
    let pairs = |list: &[(String, String)]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|(path, reason)| json!({"path": path, "reason": reason}))
            .collect()
    };
    json!({
        "destination": dest.display().to_string(),
        "source": source_name(&report.source),
        "dry_run": dry_run,
        "assets": report.assets_selected,
        "copied": report.copied.len(),
        "bytes_copied": report.bytes_copied,
        "already_there": report.already_there,
        "sidecars_written": report.sidecars_written,
        "planned": report.planned.iter().map(|p| json!({"device_path": p.device_path, "dest_path": p.dest_path, "size": p.size})).collect::<Vec<_>>(),
        "cloud_only": report.cloud_only,
        "cloud_only_advice": if report.cloud_only.is_empty() { None } else { Some(ICLOUD_ADVICE) },
        "failed": pairs(&report.failed),
        "skipped": crate::json::skipped(&report.skipped),
        "notes": report.notes,
    })
}

fn print_summary(report: &ExportReport, dry_run: bool) {
    if dry_run {
        for planned in &report.planned {
            println!("would copy {} -> {}", planned.device_path, planned.dest_path);
        }
        println!(
            "Would copy {} files ({:.1} MB); {} already there.",
            report.planned.len(),
            report.planned.iter().map(|p| p.size).sum::<u64>() as f64 / 1e6,
            report.already_there
        );
    } else {
        println!(
            "Copied {} files ({:.1} MB) of {} photos and videos; {} files were already there.",
            report.copied.len(),
            report.bytes_copied as f64 / 1e6,
            report.assets_selected,
            report.already_there
        );
        if !report.sidecars_written.is_empty() {
            println!("Wrote {} sidecars.", report.sidecars_written.len());
        }
    }
    if !report.cloud_only.is_empty() {
        println!(
            "{} originals are only in iCloud, not on the iPhone, and were not copied:",
            report.cloud_only.len()
        );
        let (shown, more) = capped(&report.cloud_only);
        for path in shown {
            println!("  {path}");
        }
        if more > 0 {
            println!("  ... and {more} more (--json lists them all)");
        }
        println!("{ICLOUD_ADVICE}");
    }
    let (shown, more) = capped(&report.skipped);
    for skip in shown {
        eprintln!("lifeboat: skipped {}: {}", skip.path.escape_debug(), skip.reason);
    }
    if more > 0 {
        eprintln!("lifeboat: ... and {more} more skipped (--json lists them all)");
    }
    let (shown, more) = capped(&report.failed);
    for (path, reason) in shown {
        eprintln!("lifeboat: failed {path}: {reason}");
    }
    if more > 0 {
        eprintln!("lifeboat: ... and {more} more failed (--json lists them all)");
    }
}

/// How many entries of a long list the text output shows; `--json` and the log hold all.
const SHOWN: usize = 10;

/// The first [`SHOWN`] of `list`, and how many more there are.
fn capped<T>(list: &[T]) -> (impl Iterator<Item = &T>, usize) {
    (list.iter().take(SHOWN), list.len().saturating_sub(SHOWN))
}
