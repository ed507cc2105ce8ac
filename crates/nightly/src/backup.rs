//! One unattended run: wait for a configured phone, export what is new, check a sample,
//! and leave a log, a status and a notification. Every failure ends up as one clear line
//! for the person reading the log in the morning.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lockdown::{LockdownClient, PairRecordStore};
use serde_json::json;
use transfer::photos::export::ExportError;
use transfer::photos::job::{ExportJob, JobError};
use transfer::photos::plan::{ExportOptions, Selection};
use usbmux::{Device, Event, UsbmuxClient};

use crate::config::{Config, Phone};
use crate::device_backup::{self, FullBackup};
use crate::status::{self, RunRecord};

/// How a run ended, for the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No configured phone came within the wait: a normal night.
    NoPhone,
    Ok,
    /// Some files are only in iCloud or failed; the rest is safe.
    Incomplete,
    /// Another backup holds the destination; this run did nothing.
    Busy,
    Failed,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::NoPhone => "no-phone",
            Outcome::Ok => "ok",
            Outcome::Incomplete => "incomplete",
            Outcome::Busy => "busy",
            Outcome::Failed => "failed",
        }
    }
}

/// The run's log: a file in the log folder, each line also on standard error.
pub struct Log {
    file: Option<std::fs::File>,
    pub path: Option<PathBuf>,
}

impl Log {
    pub fn open(dir: &Path) -> Log {
        let t = time::OffsetDateTime::now_utc();
        let name = format!(
            "backup-{:04}{:02}{:02}-{:02}{:02}{:02}-{}.log",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            std::process::id()
        );
        let path = dir.join(name);
        let file = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::File::create(&path))
            .ok();
        let path = file.as_ref().map(|_| path);
        Log { file, path }
    }

    pub fn line(&mut self, text: &str) {
        let stamp = status::format_time(status::now());
        eprintln!("lifeboat: {text}");
        if let Some(file) = &mut self.file {
            let _ = writeln!(file, "{stamp} {text}");
            let _ = file.flush();
        }
    }
}

/// Waits until `deadline` for a phone the configuration names; USB is preferred when a
/// phone shows up both ways at once. A daemon that is not running yet, or a phone that
/// cannot be opened over USB yet, is retried.
pub fn wait_for_phone(mux: &UsbmuxClient, config: &Config, deadline: Instant, log: &mut Log) -> Option<Device> {
    let mut told = false;
    loop {
        let remaining = deadline.checked_duration_since(Instant::now())?;
        let mut listener = match mux.listen() {
            Ok(listener) => listener,
            Err(e) => {
                if !told {
                    log.line(&format!(
                        "cannot watch for the phone via {} yet ({e}); waiting",
                        mux.transport()
                    ));
                    told = true;
                }
                std::thread::sleep(remaining.min(Duration::from_secs(2)));
                continue;
            }
        };
        loop {
            let remaining = deadline.checked_duration_since(Instant::now())?;
            match listener.next_event(Some(remaining)) {
                Ok(Some(Event::Attached(device))) if config.phone(&device.udid).is_some() => {
                    if device.is_usb() {
                        return Some(device);
                    }
                    // A Wi-Fi sighting: give USB a moment, it is faster and steadier.
                    let usb = mux
                        .list_devices()
                        .ok()
                        .and_then(|list| list.into_iter().find(|d| d.udid == device.udid && d.is_usb()));
                    return Some(usb.unwrap_or(device));
                }
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(_) => break,
            }
        }
    }
}

fn export_options(phone: &Phone) -> ExportOptions {
    ExportOptions {
        layout: phone.layout,
        selection: Selection {
            include_trashed: phone.include_trashed,
            exclude_hidden: phone.exclude_hidden,
            skip_edited: phone.skip_edited,
            album: phone.album.clone(),
            ..Default::default()
        },
        dry_run: false,
        verify_reads: phone.verify_reads,
        sidecar: phone.sidecar,
        album_keywords: phone.album_keywords,
    }
}

/// What the command line advises for an error it knows (a command to run), so the log
/// says what the terminal would; library errors do not name commands themselves.
pub type Advice<'a> = &'a dyn Fn(&(dyn std::error::Error + 'static)) -> Option<String>;

/// How a run goes, beside the configuration.
pub struct RunOptions<'a> {
    /// How long to wait for a configured phone.
    pub wait: Duration,
    /// The longest the phone may be silent.
    pub device_timeout: Duration,
    pub advise: Advice<'a>,
    /// What to tell the user to run when a full device backup is due (the CLI's words).
    pub full_backup_command: &'a str,
    /// AFC requests in flight, when the command line chose (else the configuration's).
    pub afc_window: Option<usize>,
}

/// An error as one line of the log, with the advice for it.
fn line(error: &(dyn std::error::Error + 'static), advise: Advice) -> String {
    match advise(error) {
        Some(advice) => format!("{error}; {advice}"),
        None => error.to_string(),
    }
}

/// Below this much free space the phone is called nearly full in the log.
const NEARLY_FULL: u64 = 1_000_000_000;

/// Backs up `device`, whose configuration is `phone`, and fills in `record`.
fn back_up(
    mux: &UsbmuxClient,
    device: &Device,
    phone: &Phone,
    config: &Config,
    options: &RunOptions,
    record: &mut RunRecord,
    log: &mut Log,
) -> Outcome {
    let dest = &phone.destination;
    record.destination = dest.display().to_string();
    let job = ExportJob {
        dest: dest.clone(),
        options: export_options(phone),
        device_timeout: options.device_timeout,
        afc_window: options.afc_window.or(config.afc_window),
    };
    let lock = match job.lock() {
        Ok(lock) => lock,
        Err(ExportError::Busy(_)) => {
            record.errors.push(format!(
                "another backup into {} is running; this run skipped it",
                dest.display()
            ));
            return Outcome::Busy;
        }
        Err(e) => {
            record.errors.push(format!("{e}. Is the backup disk connected?"));
            return Outcome::Failed;
        }
    };
    let store = PairRecordStore::new(mux);
    let pair_record = match store.load(&device.udid) {
        Ok(Some((record, _))) => record,
        _ => {
            let error = lockdown::Error::NotPaired {
                udid: device.udid.clone(),
            };
            record.errors.push(line(&error, options.advise));
            return Outcome::Failed;
        }
    };
    // A look at the phone first: it tells locked-since-boot and untrusted apart, and its free space.
    let session = LockdownClient::connect(mux, device).and_then(|mut client| {
        client.start_session(&pair_record)?;
        let free = client
            .get_value(Some("com.apple.disk_usage"), Some("TotalDataAvailable"))
            .ok()
            .and_then(|v| v.as_unsigned_integer());
        let _ = client.stop_session();
        Ok(free)
    });
    match session {
        Ok(Some(free)) if free < NEARLY_FULL => record.errors.push(format!(
            "{} is nearly full ({} MB free); iCloud and the Photos app may stop working until space is freed",
            phone.label(),
            free / 1_000_000
        )),
        Ok(_) => {}
        Err(e) => {
            record.errors.push(line(&e, options.advise));
            return Outcome::Failed;
        }
    }
    let report = match job.run(mux, device, &pair_record, &lock, &mut ()) {
        Ok(report) => report,
        Err(JobError::Connect(lockdown::Error::Locked)) => {
            record.errors.push(format!(
                "{} has been locked since it was switched on; unlock it once and leave it plugged in",
                phone.label()
            ));
            return Outcome::Failed;
        }
        Err(e) => {
            record.errors.push(line(&e, options.advise));
            return Outcome::Failed;
        }
    };
    drop(lock);
    record.copied = report.copied.len() as u64;
    record.bytes = report.bytes_copied;
    record.already_there = report.already_there;
    for note in &report.notes {
        log.line(note);
    }
    record.cloud_only = report.cloud_only.len() as u64;
    record.failed = report.failed.len() as u64;
    log.line(&format!(
        "copied {} files ({:.1} MB) from {}; {} already there",
        record.copied,
        record.bytes as f64 / 1e6,
        phone.label(),
        record.already_there
    ));
    for (path, reason) in &report.failed {
        record.errors.push(format!("{path}: {reason}"));
    }
    for skip in &report.skipped {
        record
            .errors
            .push(format!("skipped {}: {}", skip.path.escape_debug(), skip.reason));
    }
    record.skipped = report.skipped.iter().filter(|s| s.left_behind).count() as u64;
    if record.cloud_only > 0 {
        record.errors.push(format!(
            "{} originals are only in iCloud. {}",
            record.cloud_only,
            transfer::photos::ICLOUD_ADVICE
        ));
    }
    if config.verify_sample_percent > 0.0 {
        match transfer::verify::verify(dest, Some(config.verify_sample_percent / 100.0), &|_| {}) {
            Ok(check) => {
                record.verified = check.checked;
                record.verify_problems = check.findings.len() as u64;
                for finding in &check.findings {
                    record
                        .errors
                        .push(format!("verify: {} is {}", finding.path, finding.status.label()));
                }
                log.line(&format!(
                    "verified a {}% sample: {} files, {} problems",
                    config.verify_sample_percent,
                    check.checked,
                    check.findings.len()
                ));
            }
            Err(e) => record.errors.push(format!("verify: {e}")),
        }
    }
    if record.failed > 0 || record.verify_problems > 0 || record.cloud_only > 0 || record.skipped > 0 {
        Outcome::Incomplete
    } else {
        Outcome::Ok
    }
}

/// The summary `notify_command` receives.
pub fn summary(outcome: &Outcome, phone: Option<(&Phone, &RunRecord)>) -> serde_json::Value {
    match phone {
        None => json!({"outcome": outcome.label(), "message": "no configured iPhone was connected"}),
        Some((phone, record)) => json!({
            "outcome": outcome.label(),
            "phone": phone.label(),
            "udid": phone.udid,
            "run": record,
        }),
    }
}

/// Runs `command` through the shell with `summary` on its standard input.
pub fn notify(command: &str, summary: &serde_json::Value, log: &mut Log) {
    let shell = if cfg!(windows) { ("cmd", "/C") } else { ("sh", "-c") };
    let spawned = Command::new(shell.0)
        .args([shell.1, command])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(summary.to_string().as_bytes());
            }
            match child.wait() {
                Ok(status) if status.success() => {}
                Ok(status) => log.line(&format!("notify_command exited with {status}")),
                Err(e) => log.line(&format!("notify_command: {e}")),
            }
        }
        Err(e) => log.line(&format!("cannot run notify_command {command:?}: {e}")),
    }
}

/// The full device backup when `full_backup_every_days` says one is due; `None` when none is.
fn full_backup_if_due(
    mux: &UsbmuxClient,
    device: &Device,
    phone: &Phone,
    config: &Config,
    options: &RunOptions,
    state_dir: &Path,
    log: &mut Log,
) -> Option<FullBackup> {
    let days = config.full_backup_every_days?;
    if !status::full_backup_due(status::load(state_dir).phones.get(&phone.udid), days, status::now()) {
        return None;
    }
    let record = match PairRecordStore::new(mux).load(&device.udid) {
        Ok(Some((record, _))) => record,
        _ => return None,
    };
    log.line(&format!("{}: a full device backup is due; making it", phone.label()));
    let made = device_backup::make(
        mux,
        device,
        &record,
        phone,
        config,
        state_dir,
        options.device_timeout,
        options.full_backup_command,
    );
    log.line(&match &made {
        FullBackup::Made(version) => format!("full device backup made: version {version}"),
        FullBackup::Skipped(why) => why.clone(),
        FullBackup::Failed(error) => format!("the full device backup failed: {error}"),
    });
    Some(made)
}

/// The whole run. Returns how it ended; the status file and log are written either way.
pub fn run(mux: &UsbmuxClient, config: &Config, options: &RunOptions) -> Outcome {
    let wait = options.wait;
    let state_dir = config.state_dir();
    let mut log = Log::open(&config.log_dir());
    let names: Vec<&str> = config.phones.iter().map(Phone::label).collect();
    log.line(&format!("waiting up to {}s for {}", wait.as_secs(), names.join(", ")));
    let started = status::now();
    let Some(device) = wait_for_phone(mux, config, Instant::now() + wait, &mut log) else {
        log.line("no configured iPhone was connected; nothing to do tonight");
        let mut status_file = status::load(&state_dir);
        status_file.last_empty_night = Some(status::now());
        if let Err(e) = status::save(&state_dir, &status_file) {
            log.line(&format!("cannot write the status file: {e}"));
        }
        if let Some(command) = &config.notify_command {
            notify(command, &summary(&Outcome::NoPhone, None), &mut log);
        }
        return Outcome::NoPhone;
    };
    let Some(phone) = config.phone(&device.udid) else {
        return Outcome::NoPhone;
    };
    log.line(&format!(
        "{} is connected over {}",
        phone.label(),
        device.connection_label()
    ));
    let mut record = RunRecord {
        started,
        log: log.path.as_ref().map(|p| p.display().to_string()),
        ..Default::default()
    };
    let outcome = back_up(mux, &device, phone, config, options, &mut record, &mut log);
    record.finished = status::now();
    record.outcome = outcome.label().into();
    for error in &record.errors {
        log.line(error);
    }
    log.line(&format!("finished: {}", outcome.label()));
    let mut status_file = status::load(&state_dir);
    let entry = status_file.phones.entry(phone.udid.clone()).or_default();
    entry.name = phone.label().to_string();
    if outcome == Outcome::Ok || outcome == Outcome::Incomplete {
        entry.last_success = Some(record.finished);
    }
    entry.last_run = Some(record.clone());
    if let Err(e) = status::save(&state_dir, &status_file) {
        log.line(&format!("cannot write the status file: {e}"));
    }
    // After the photos, and only when the phone answered for them.
    let full_backup = match outcome {
        Outcome::Ok | Outcome::Incomplete => {
            full_backup_if_due(mux, &device, phone, config, options, &state_dir, &mut log)
        }
        _ => None,
    };
    if full_backup.is_some() {
        status_file = status::load(&state_dir);
    }
    let due = config
        .full_backup_warn_days
        .filter(|days| status::full_backup_due(status_file.phones.get(&phone.udid), *days, status::now()));
    if let Some(days) = due {
        log.line(&format!(
            "{}: no full device backup in the last {days} days; run `{}`",
            phone.label(),
            options.full_backup_command
        ));
    }
    if let Some(command) = &config.notify_command {
        let mut summary = summary(&outcome, Some((phone, &record)));
        if let Some(made) = &full_backup {
            summary["full_backup"] = match made {
                FullBackup::Made(version) => json!({"made": version}),
                FullBackup::Skipped(why) => json!({"skipped": why}),
                FullBackup::Failed(error) => json!({"failed": error}),
            };
        }
        if let Some(days) = due {
            summary["full_backup_due"] = json!({
                "days": days,
                "last": status_file.phones.get(&phone.udid).and_then(|e| e.last_full_backup),
                "command": options.full_backup_command,
            });
        }
        notify(command, &summary, &mut log);
    }
    outcome
}
