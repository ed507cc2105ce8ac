//! `lifeboat verify`: is this folder whole, and is everything on the phone in it?

use std::io::IsTerminal;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use transfer::verify;
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
        return Err(Unavailable::Destination {
            path: args.dir.display().to_string(),
            reason: "not a folder".into(),
        }
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "recorded": report.recorded,
                "checked": report.checked,
                "ok": report.ok,
                "bytes_read": report.bytes_read,
                "sampled": args.sample.is_some(),
                "findings": findings,
            }))?
        );
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
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "phone_files": total,
                "present": present,
                "missing": report.missing,
                "unreadable": unreadable,
                "skipped": crate::json::skipped(&report.skipped),
            }))?
        );
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
