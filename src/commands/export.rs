//! `lifeboat export-photos`: the main job.

use std::path::{Path, PathBuf};

use anyhow::Result;
use indicatif::ProgressBar;
use serde_json::json;
use transfer::export::{self, ExportOptions, ExportProgress, ExportReport, Layout, Planned, Selection};
use transfer::library::Source;
use usbmux::UsbmuxClient;

use crate::cli::{ExportArgs, LayoutArg};
use crate::connect;
use crate::exit::Unavailable;

const ICLOUD_ADVICE: &str = "On the iPhone, turn on Settings > Photos > Download and Keep Originals, keep it \
     plugged in and on Wi-Fi until the photos have downloaded, then run this again.";

fn default_destination() -> PathBuf {
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

    fn file_done(&mut self, planned: &Planned) {
        if self.bar.is_none() && self.lines {
            eprintln!("copied {} -> {}", planned.device_path, planned.dest_path);
        }
    }
}

pub fn run(mux: &UsbmuxClient, args: ExportArgs) -> Result<()> {
    let dest = args.dest.clone().unwrap_or_else(default_destination);
    let unusable = |e: std::io::Error| Unavailable::Destination {
        path: dest.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&dest).map_err(unusable)?;
    let lock = export::lock_destination(&dest).map_err(|e| explain_destination(e.into(), &dest))?;
    let device = connect::select(mux, args.device.as_deref())?;
    let mut afc = connect::afc(mux, &device)?;
    let (library, walk_skipped) =
        transfer::load::load_with(&mut afc, Some(&export::database_cache(&dest)), args.verify_reads)?;
    if let Source::FoldersOnly { reason } = &library.source {
        eprintln!("lifeboat: {reason}; working from the photo folders alone (albums, hidden and deleted are unknown).");
    }
    let options = ExportOptions {
        layout: match args.layout {
            LayoutArg::Date => Layout::Date,
            LayoutArg::Device => Layout::Device,
            LayoutArg::Flat => Layout::Flat,
        },
        selection: Selection {
            include_trashed: args.include_trashed,
            exclude_hidden: args.exclude_hidden,
            since: args.since,
            photos_only: args.photos_only,
            videos_only: args.videos_only,
            album: args.album.clone(),
            skip_edited: args.no_edited,
        },
        dry_run: args.dry_run,
        verify_reads: args.verify_reads,
    };
    let mut progress = Progress {
        bar: None,
        lines: !args.json,
    };
    let result = export::export(&mut afc, &library, &dest, &options, &mut progress, &lock);
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    let mut report = result.map_err(|e| explain_destination(e.into(), &dest))?;
    report.skipped.extend(walk_skipped);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&dest, &report, args.dry_run))?
        );
    } else {
        print_summary(&report, args.dry_run);
    }
    let problems = report.failed.len() + report.cloud_only.len();
    if problems > 0 && !args.dry_run {
        anyhow::bail!(
            "{} files failed and {} originals are only in iCloud; run again to retry",
            report.failed.len(),
            report.cloud_only.len()
        );
    }
    Ok(())
}

/// Says what to do when the destination, not the phone, is the problem: full, read-only,
/// or gone (an external drive unplugged mid-run). What was copied before stays recorded.
fn explain_destination(error: anyhow::Error, dest: &Path) -> anyhow::Error {
    use std::io::ErrorKind;
    let kind = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    // SQLite says so in words when the manifest cannot grow.
    let manifest_full = error.chain().any(|cause| cause.to_string().contains("disk is full"));
    let advice = match kind {
        _ if manifest_full => {
            "the destination is full. Free some space or choose another folder, then run again: \
             files copied so far are kept and recorded, and the next run goes on from there"
        }
        Some(ErrorKind::StorageFull | ErrorKind::QuotaExceeded) => {
            "the destination is full. Free some space or choose another folder, then run again: \
             files copied so far are kept and recorded, and the next run goes on from there"
        }
        Some(ErrorKind::ReadOnlyFilesystem) => "the destination is read-only. Choose a folder you can write to",
        Some(ErrorKind::NotFound) if !dest.exists() => {
            "the destination is gone (was the drive unplugged?). Plug it back in and run again: \
             files copied before are kept and recorded"
        }
        _ => return error,
    };
    error.context(format!("{} ({advice})", dest.display()))
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
        "planned": report.planned.iter().map(|p| json!({"device_path": p.device_path, "dest_path": p.dest_path, "size": p.size})).collect::<Vec<_>>(),
        "cloud_only": report.cloud_only,
        "cloud_only_advice": if report.cloud_only.is_empty() { None } else { Some(ICLOUD_ADVICE) },
        "failed": pairs(&report.failed),
        "skipped": pairs(&report.skipped),
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
    }
    if !report.cloud_only.is_empty() {
        println!(
            "{} originals are only in iCloud, not on the iPhone, and were not copied:",
            report.cloud_only.len()
        );
        for path in &report.cloud_only {
            println!("  {path}");
        }
        println!("{ICLOUD_ADVICE}");
    }
    for (path, reason) in &report.skipped {
        eprintln!("lifeboat: skipped {}: {reason}", path.escape_debug());
    }
    for (path, reason) in &report.failed {
        eprintln!("lifeboat: failed {path}: {reason}");
    }
}
