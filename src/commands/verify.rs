//! `lifeboat verify`: is this folder whole, and is everything on the phone in it?

use std::io::IsTerminal;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use transfer::finder;
use transfer::finder::verify::{BackupReport, Options};
use transfer::verify;
use transfer::verify::finding::Finding;
use usbmux::UsbmuxClient;

use crate::cli::VerifyArgs;
use crate::connect;
use crate::exit::Unavailable;

fn bar() -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::no_length();
        let style = ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar
    })
}

pub fn run(mux: &dyn Fn() -> Result<UsbmuxClient>, args: VerifyArgs) -> Result<()> {
    if !args.dir.is_dir() {
        let why = if args.dir.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(Unavailable::Usage(format!("{} {why}: nothing to verify", args.dir.display())).into());
    }
    // A photo folder keeps its manifest in `.lifeboat/manifest.db`; the folder `lifeboat
    // backup` writes to has a `.lifeboat/<UDID>/` of its own beside the backups.
    let photo_folder = args
        .dir
        .join(transfer::manifest::DIR)
        .join(transfer::manifest::FILE)
        .is_file();
    if !photo_folder && !finder::layout::backups_in(&args.dir).is_empty() {
        return finder_backup(&args);
    }
    if args.password_file.is_some() {
        return Err(Unavailable::Usage(format!(
            "{} is not a device backup; --password-file is for encrypted device backups",
            args.dir.display()
        ))
        .into());
    }
    let progress = bar();
    let on_bytes = |n: u64| {
        if let Some(bar) = &progress {
            bar.inc(n);
        }
    };
    if args.init {
        let recorded = verify::init(&args.dir, &on_bytes);
        if let Some(bar) = &progress {
            bar.finish_and_clear();
        }
        let recorded = recorded?;
        if args.json {
            println!("{}", json!({"recorded": recorded}));
        } else {
            println!(
                "Recorded {recorded} files in {}/.lifeboat/manifest.db.",
                args.dir.display()
            );
        }
        return Ok(());
    }
    if args.against_device {
        return against_device(&mux()?, &args, &on_bytes, progress.as_ref());
    }
    let report = verify::verify(&args.dir, args.sample, &on_bytes);
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let report = report?;
    let count = |label: &str| report.count(label);
    if args.json {
        let findings: Vec<_> = report
            .findings
            .iter()
            .map(|f| json!({"path": f.path, "status": f.status.label(), "detail": f.status.describe()}))
            .collect();
        crate::json::print(&json!({
            "recorded": report.recorded,
            "checked": report.checked,
            "ok": report.ok,
            "bytes_read": report.bytes_read,
            "sampled": args.sample.is_some(),
            "findings": findings,
        }))?;
    } else {
        for finding in &report.findings {
            println!(
                "{} {}  {}",
                finding.status.mark(),
                finding.path,
                finding.status.describe()
            );
        }
        println!(
            "Checked {} of {} recorded files ({:.1} MB): {} OK, {} corrupt, {} damaged, {} missing, {} size changed, {} extra, {} temporary.",
            report.checked,
            report.recorded,
            report.bytes_read as f64 / 1e6,
            report.ok,
            count("corrupt"),
            count("damaged"),
            count("missing"),
            count("size-changed"),
            count("extra"),
            count("temporary"),
        );
    }
    if !report.findings.is_empty() {
        anyhow::bail!("{} problems found in {}", report.findings.len(), args.dir.display());
    }
    Ok(())
}

fn against_device(
    mux: &UsbmuxClient,
    args: &VerifyArgs,
    on_bytes: &(dyn Fn(u64) + Sync),
    progress: Option<&ProgressBar>,
) -> Result<()> {
    let device = connect::select(mux, args.device.as_deref())?;
    let mut afc = connect::afc(mux, &device)?;
    let (library, walk_skipped) = transfer::photos::load::load(&mut afc, None)?;
    let report = verify::against_device(&mut afc, &library, &args.dir, on_bytes);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut report = report?;
    report.skipped = walk_skipped;
    let total = report.present.len() + report.missing.len() + report.unreadable.len();
    if args.json {
        let present: Vec<_> = report
            .present
            .iter()
            .map(|(d, l)| json!({"device_path": d, "local_path": l}))
            .collect();
        let unreadable: Vec<_> = report
            .unreadable
            .iter()
            .map(|(d, r)| json!({"device_path": d, "reason": r}))
            .collect();
        crate::json::print(&json!({
            "phone_files": total,
            "present": present,
            "missing": report.missing,
            "unreadable": unreadable,
            "skipped": crate::json::skipped(&report.skipped),
        }))?;
    } else {
        for path in &report.missing {
            println!("- {path}  not in {}", args.dir.display());
        }
        for (path, reason) in &report.unreadable {
            println!("* {path}  could not be read from the phone: {reason}");
        }
        for skip in &report.skipped {
            eprintln!("lifeboat: skipped {}: {}", skip.path.escape_debug(), skip.reason);
        }
        println!(
            "{} of the iPhone's {total} photo files are in {}; {} are missing.",
            report.present.len(),
            args.dir.display(),
            report.missing.len()
        );
    }
    if report.problems() > 0 {
        anyhow::bail!(
            "{} of the iPhone's files are not in {}",
            report.problems(),
            args.dir.display()
        );
    }
    Ok(())
}

/// `verify` of a Finder/iTunes device backup, or a folder of them (docs/backup.md §2.4).
fn finder_backup(args: &VerifyArgs) -> Result<()> {
    if args.sample.is_some() || args.against_device || args.init {
        return Err(Unavailable::Usage(format!(
            "{} is a device backup: --sample, --against-device and --init are for photo folders",
            args.dir.display()
        ))
        .into());
    }
    let dirs = finder::layout::backups_in(&args.dir);
    let encrypted = dirs
        .iter()
        .any(|d| finder::plists::read_manifest(d).is_ok_and(|m| m.is_encrypted));
    let password = if encrypted {
        crate::commands::password::to_read(args.password_file.as_deref(), &args.dir.display().to_string())?
    } else {
        None
    };
    if encrypted && password.is_none() {
        eprintln!(
            "lifeboat: the backup is encrypted and no password was given (--password-file, ${}, or run in a terminal): \
             only what the password does not guard is checked",
            crate::commands::password::ENV
        );
    }
    let progress = bar();
    let on_bytes = |n: u64| {
        if let Some(bar) = &progress {
            bar.inc(n);
        }
    };
    let options = Options {
        deep: args.deep,
        password: password.as_ref(),
        recorded: None,
        on_bytes: &on_bytes,
    };
    let reports = finder::verify::verify_all(&args.dir, &options);
    drop(password);
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let reports = reports?;
    if args.json {
        let all: Vec<_> = reports.iter().map(report_json).collect();
        crate::json::print(&json!({"kind": "device-backup", "backups": all}))?;
    } else {
        for report in &reports {
            print_report(report, reports.len() > 1);
        }
    }
    let problems: usize = reports.iter().map(|r| r.report.findings.len()).sum();
    if problems > 0 {
        anyhow::bail!("{problems} problems found in {}", args.dir.display());
    }
    Ok(())
}

/// A warning in words: a free-text one is its text alone (it damages nothing).
fn warning_words(status: &verify::Status) -> String {
    match status {
        verify::Status::Damaged(reason) => reason.clone(),
        other => other.describe(),
    }
}

fn finding_json(report: &BackupReport, f: &Finding, warning: bool) -> serde_json::Value {
    json!({
        "path": f.path,
        "status": f.status.label(),
        "mark": f.status.mark().to_string(),
        "detail": if warning { warning_words(&f.status) } else { f.status.describe() },
        "blob": report.blobs.get(&f.path),
    })
}

fn report_json(report: &BackupReport) -> serde_json::Value {
    let r = &report.report;
    json!({
        "path": report.dir,
        "udid": report.udid,
        "encrypted": report.encrypted,
        "recorded": r.recorded,
        "checked": r.checked,
        "ok": r.ok,
        "bytes_read": r.bytes_read,
        "findings": r.findings.iter().map(|f| finding_json(report, f, false)).collect::<Vec<_>>(),
        "warnings": report.warnings.iter().map(|f| finding_json(report, f, true)).collect::<Vec<_>>(),
        "checks": report.checks.iter().map(|c| json!({"name": c.name, "done": c.done, "note": c.note})).collect::<Vec<_>>(),
    })
}

fn print_report(report: &BackupReport, several: bool) {
    let prefix = if several {
        format!(
            "{}/",
            report
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    } else {
        String::new()
    };
    let blob = |f: &Finding| {
        report
            .blobs
            .get(&f.path)
            .map(|b| format!(" (blob {b})"))
            .unwrap_or_default()
    };
    for f in &report.report.findings {
        println!(
            "{} {prefix}{}  {}{}",
            f.status.mark(),
            f.path,
            f.status.describe(),
            blob(f)
        );
    }
    for f in &report.warnings {
        println!("! {prefix}{}  warning: {}{}", f.path, warning_words(&f.status), blob(f));
    }
    for check in &report.checks {
        let mark = if check.done { "checked" } else { "not checked" };
        println!("  {mark}: {}", check.note);
    }
    let r = &report.report;
    let count = |label: &str| r.count(label);
    println!(
        "{}: {} backup of {}: {} files in Manifest.db, {} checked ({:.1} MB read): {} OK, {} missing, {} size changed, {} damaged, {} corrupt, {} extra, {} temporary; {} warnings.",
        report.dir.display(),
        match report.encrypted {
            Some(true) => "encrypted",
            Some(false) => "unencrypted",
            None => "unknown",
        },
        report.udid.as_deref().unwrap_or("an unknown device"),
        r.recorded,
        r.checked,
        r.bytes_read as f64 / 1e6,
        r.ok,
        count("missing"),
        count("size-changed"),
        count("damaged"),
        count("corrupt"),
        count("extra"),
        count("temporary"),
        report.warnings.len(),
    );
}
