//! `lifeboat nightly` (the unattended run) and `lifeboat status`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use nightly::backup::Outcome;
use nightly::config::{self, Config};
use nightly::status;
use usbmux::UsbmuxClient;

pub fn load_config(path: Option<PathBuf>) -> Result<Config> {
    Ok(Config::load(&path.unwrap_or_else(config::default_path))?)
}

pub fn run(mux: &UsbmuxClient, config_path: Option<PathBuf>, wait: Duration, device_timeout: Duration) -> Result<()> {
    let config = load_config(config_path)?;
    match nightly::backup::run(
        mux,
        &config,
        &nightly::backup::RunOptions {
            wait,
            device_timeout,
            advise: &crate::exit::advice,
            full_backup_command: "lifeboat backup --full",
            afc_window: crate::connect::afc_window_chosen(),
        },
    ) {
        Outcome::NoPhone | Outcome::Ok | Outcome::Busy => Ok(()),
        Outcome::Incomplete => anyhow::bail!("the backup is incomplete; see the log"),
        Outcome::Failed => anyhow::bail!("the backup failed; see the log"),
    }
}

pub fn status(config_path: Option<PathBuf>, json: bool) -> Result<()> {
    let config = load_config(config_path)?;
    let file = status::load(&config.state_dir());
    if json {
        crate::json::print(&file)?;
        return Ok(());
    }
    let now = status::now();
    let mut stale = 0;
    for phone in &config.phones {
        let entry = file.phones.get(&phone.udid);
        let last_success = entry.and_then(|e| e.last_success);
        match last_success {
            Some(when) => println!("{}: last backed up {}", phone.label(), status::format_time(when)),
            None => println!("{}: never backed up", phone.label()),
        }
        if let Some(run) = entry.and_then(|e| e.last_run.as_ref()) {
            println!(
                "  last run {}: {}, {} copied, {} already there",
                status::format_time(run.finished),
                run.outcome,
                run.copied,
                run.already_there
            );
            for error in &run.errors {
                println!("  - {error}");
            }
        }
        if let Some(backup) = entry.and_then(|e| e.last_device_backup.as_ref()) {
            println!(
                "  device backup {}: {}, version {} in {}",
                status::format_time(backup.finished),
                if backup.full { "full" } else { "incremental" },
                backup.version,
                backup.path
            );
        }
        if let Some(days) = config.full_backup_warn_days
            && status::full_backup_due(entry, days, now)
        {
            stale += 1;
            println!(
                "  warning: no full device backup in the last {days} days; run `lifeboat backup --full` with the iPhone plugged in and unlocked"
            );
        }
        let days = last_success.map(|w| (now - w) / 86_400);
        if days.is_none_or(|d| d >= config.warn_after_days as i64) {
            stale += 1;
            println!(
                "  warning: no backup in the last {} days; plug the iPhone in overnight and check the log",
                config.warn_after_days
            );
        }
    }
    if stale > 0 {
        anyhow::bail!("{stale} phones are not backed up recently");
    }
    Ok(())
}
