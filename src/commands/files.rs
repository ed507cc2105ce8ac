//! `lifeboat files`: look around the phone's media folder, or a device backup's domains
//! (`--backup`), with one implementation of listing and pulling for both.

use std::path::Path;

use anyhow::Result;
use indicatif::ProgressBar;
use transfer::photos::pull::{PullOptions, PullProgress};
use transfer::source::FileSource;
use usbmux::UsbmuxClient;

use crate::cli::FilesCommand;
use crate::connect;

pub fn run(mux: &UsbmuxClient, wanted: Option<&str>, command: FilesCommand) -> Result<()> {
    let device = connect::select(mux, wanted)?;
    let mut afc = connect::afc(mux, &device)?;
    browse(&mut afc, command)
}

/// `files --backup PATH`: the same commands over a device backup, domains at the top.
pub fn run_backup(path: &Path, password_file: Option<&Path>, command: FilesCommand) -> Result<()> {
    let backup = crate::commands::password::open_backup(path, password_file)?;
    browse(&mut backup.domains(), command)
}

fn browse(source: &mut dyn FileSource, command: FilesCommand) -> Result<()> {
    match command {
        FilesCommand::Ls { path, long } => {
            let names = source.list_dir(&path)?;
            if !long {
                for name in names {
                    println!("{name}");
                }
                return Ok(());
            }
            let paths: Vec<String> = names
                .iter()
                .map(|n| format!("{}/{n}", path.trim_end_matches('/')))
                .collect();
            for (name, info) in names
                .iter()
                .zip(source.file_infos(&paths, afc::client::DEFAULT_WINDOW)?)
            {
                match info {
                    Ok(info) => {
                        let kind = match info.kind {
                            afc::kv::FileKind::Directory => 'd',
                            afc::kv::FileKind::Symlink => 'l',
                            afc::kv::FileKind::File => '-',
                            afc::kv::FileKind::Other => '?',
                        };
                        println!("{kind} {:>12}  {}  {name}", info.size, date(info.mtime_ns));
                    }
                    Err(e) => eprintln!("lifeboat: {name}: {e}"),
                }
            }
            Ok(())
        }
        FilesCommand::Pull { path, dest, verify } => pull(source, &path, &dest, PullOptions { verify }),
    }
}

/// A byte progress bar on a terminal; nothing otherwise.
struct Bar(Option<ProgressBar>);

impl PullProgress for Bar {
    fn planned(&mut self, files: u64, bytes: u64) {
        self.0 = crate::progress::transfer_bar(files, bytes);
    }

    fn bytes(&mut self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }
}

fn pull(source: &mut dyn FileSource, path: &str, dest: &std::path::Path, options: PullOptions) -> Result<()> {
    let started = std::time::Instant::now();
    let mut bar = Bar(None);
    let report = transfer::photos::pull::pull(source, path, dest, options, &mut bar);
    if let Some(bar) = &bar.0 {
        bar.finish_and_clear();
    }
    let report = report?;
    for (remote, reason) in &report.skipped {
        eprintln!("lifeboat: skipped {}: {reason}", remote.escape_debug());
    }
    for (remote, reason) in &report.failed {
        eprintln!("lifeboat: failed {}: {reason}", remote.escape_debug());
    }
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    println!(
        "Pulled {} files ({:.1} MB) in {secs:.1} s ({:.1} MB/s).",
        report.files,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / 1e6 / secs
    );
    if !report.failed.is_empty() || !report.skipped.is_empty() {
        anyhow::bail!(
            "{} files failed and {} entries were skipped",
            report.failed.len(),
            report.skipped.len()
        );
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM` (UTC) for nanoseconds since 1970.
fn date(nanos: u64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01 00:00");
        assert_eq!(super::date(1_523_978_415_000_000_000), "2018-04-17 15:20");
    }
}
