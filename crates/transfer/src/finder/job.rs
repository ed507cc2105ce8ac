//! The one backup job (docs/backup.md §1.9): lockdown values, notification_proxy, the AFC
//! sync lock, Info.plist, then mobilebackup2 into a new version ([`super::versions`]).
//! Success is the device's final ErrorCode 0 **and** Status.plist `finished`; only then does
//! the new version replace `DEST/<UDID>`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use afc::AfcClient;
use lockdown::{LockdownClient, PairRecord, ServiceStream};
use mobilebackup2::{BackupStore, DevicePath, Finished, Limits, Observer, Report, Session, SessionError, Signals};
use plist::{Dictionary, Value};
use usbmux::{Device, UsbmuxClient};

use crate::finder::versions::{Committed, Run, VersionError};
use crate::finder::{apps, info_plist, notify, problems};

pub const SERVICE: &str = "com.apple.mobilebackup2";
/// The AFC file Finder and libimobiledevice lock while they sync (docs/backup.md §1.9).
pub const SYNC_LOCK: &str = "/com.apple.itunes.lock_sync";
/// What to show when the phone asks for its passcode.
pub const PASSCODE_MESSAGE: &str = "Enter the iPhone's passcode on the iPhone to start the backup";

/// How the socket tick relates to the limits: short, so a cancel or a passcode prompt is
/// noticed quickly.
const TICK: Duration = Duration::from_millis(500);

/// A change to backup encryption, done before the backup (ChangePassword, §1.4).
#[derive(Clone, PartialEq, Eq)]
pub enum Encryption {
    On { new: String },
    Off { old: String },
    Change { old: String, new: String },
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords are never printed.
        f.write_str(match self {
            Encryption::On { .. } => "Encryption::On",
            Encryption::Off { .. } => "Encryption::Off",
            Encryption::Change { .. } => "Encryption::Change",
        })
    }
}

/// What to back up where.
#[derive(Debug, Clone)]
pub struct BackupJob {
    pub dest: PathBuf,
    pub force_full: bool,
    /// Versions kept, the newest included.
    pub keep: usize,
    pub limits: Limits,
    pub encryption: Option<Encryption>,
}

/// The steps of a run, for one log line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Preparing,
    Connecting,
    ChangingPassword,
    Locking,
    BackingUp,
    Saving,
}

impl Step {
    pub fn describe(self) -> &'static str {
        match self {
            Step::Preparing => "preparing the new version",
            Step::Connecting => "connecting to the iPhone's backup service",
            Step::ChangingPassword => "changing backup encryption",
            Step::Locking => "taking the iPhone's sync lock",
            Step::BackingUp => "backing up",
            Step::Saving => "saving the new version",
        }
    }
}

/// Progress of a run: the device's messages ([`Observer`]) and the job's own steps.
pub trait BackupProgress: Observer {
    fn step(&mut self, _step: Step) {}
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot reach the iPhone: {0}")]
    Connect(#[from] lockdown::Error),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Versions(#[from] VersionError),
    #[error("cannot write the backup into {path}: {source}")]
    Destination {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The device's final ErrorCode was not 0.
    #[error("{}", device_text(*.code, .description, .detail))]
    Device {
        code: u64,
        description: String,
        /// What this host knows besides: free space for 105, the folder's problems for 205.
        detail: Option<String>,
    },
    #[error(
        "the iPhone said the backup succeeded but its Status.plist says {0:?}, not finished; the last good version is kept"
    )]
    NotFinished(String),
}

fn device_text(code: u64, description: &str, detail: &Option<String>) -> String {
    let mut text = match mobilebackup2::errors::explain(code) {
        Some(words) => format!("{words} (iPhone error {code})"),
        None if description.is_empty() => format!("the iPhone's backup failed with error {code}"),
        None => format!("the iPhone's backup failed with error {code}: {description}"),
    };
    if let Some(detail) = detail {
        text.push_str(": ");
        text.push_str(detail);
    }
    text
}

/// What a successful run made.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub udid: String,
    /// `DEST/<UDID>`.
    pub path: PathBuf,
    pub committed: Committed,
    pub full: bool,
    pub encrypted: bool,
    pub duration: Duration,
    pub report: Report,
    /// False when the file system has no hard links and unchanged files were copied.
    pub linked: bool,
    /// Helper services that failed; the backup went on without them.
    pub notes: Vec<String>,
}

/// The services a run holds open around the backup.
struct Helpers {
    post: Option<ServiceStream>,
    listen: Option<ServiceStream>,
    afc: Option<AfcClient<ServiceStream>>,
    apps: Option<ServiceStream>,
}

impl BackupJob {
    /// The whole run on `device`. `on_passcode` is called (from another thread) when the
    /// phone shows its passcode prompt.
    pub fn run(
        &self,
        mux: &UsbmuxClient,
        device: &Device,
        record: &PairRecord,
        progress: &mut dyn BackupProgress,
        on_passcode: &(dyn Fn() + Sync),
    ) -> Result<BackupSummary, BackupError> {
        let started = Instant::now();
        let udid = device.udid.clone();
        std::fs::create_dir_all(&self.dest).map_err(|source| BackupError::Destination {
            path: self.dest.clone(),
            source,
        })?;
        progress.step(Step::Preparing);
        let mut run = Run::open(&self.dest, &udid)?;
        progress.step(Step::Connecting);
        let mut notes = Vec::new();
        let mut lockdown = LockdownClient::connect(mux, device)?;
        lockdown.start_session(record)?;
        let values = match lockdown.get_value(None, None)? {
            Value::Dictionary(d) => d,
            _ => Dictionary::new(),
        };
        // The backup connection and the notification listener wait in ticks (see
        // `mobilebackup2::patient`); the others answer requests within the device timeout.
        let device_timeout = self.limits.device;
        let mut open = |name: &str, escrow: bool, timeout: Duration| -> Result<ServiceStream, lockdown::Error> {
            let stream = lockdown.open_service(mux, record, name, escrow)?;
            stream.set_timeout(Some(timeout))?;
            Ok(stream)
        };
        let mut optional = |name: &str, timeout: Duration, notes: &mut Vec<String>| match open(name, false, timeout) {
            Ok(s) => Some(s),
            Err(e) => {
                notes.push(format!("{name} did not start ({e}); going on without it"));
                None
            }
        };
        let mut helpers = Helpers {
            listen: optional(notify::SERVICE, TICK, &mut notes),
            post: optional(notify::SERVICE, device_timeout, &mut notes),
            afc: optional(afc::connect::SERVICE, device_timeout, &mut notes)
                .map(|s| AfcClient::new(s).with_reply_timeout(device_timeout)),
            apps: optional(apps::SERVICE, device_timeout, &mut notes),
        };
        let change = match &self.encryption {
            Some(_) => Some(open(SERVICE, true, TICK)?),
            None => None,
        };
        let backup = open(SERVICE, true, TICK)?;
        let _ = lockdown.stop_session();
        drop(lockdown);

        let heard = notify::Heard::default();
        let signals = Signals {
            passcode_prompt: heard.passcode_prompt.clone(),
            cancel: heard.cancel.clone(),
        };
        let stop = AtomicBool::new(false);
        // The listener waits in reads of a tick each: at the end its read is cut short,
        // or every backup would wait up to a tick more for the thread to notice.
        let mut wake_listener = None;
        let outcome = std::thread::scope(|scope| {
            if let Some(mut listen) = helpers.listen.take() {
                wake_listener = listen.socket().try_clone().ok();
                let (heard, stop) = (&heard, &stop);
                scope.spawn(move || {
                    if notify::observe(&mut listen, &notify::OBSERVED).is_ok() {
                        notify::listen(&mut listen, heard, stop, on_passcode);
                    }
                    notify::shutdown(&mut listen);
                });
            }
            let result = self.backup(
                &udid,
                &values,
                &mut run,
                &mut helpers,
                change,
                backup,
                signals,
                progress,
                &mut notes,
            );
            stop.store(true, Ordering::Relaxed);
            if let Some(socket) = &wake_listener {
                let _ = socket.shutdown(std::net::Shutdown::Read);
            }
            result
        });
        let finished = match outcome {
            Ok(finished) => finished,
            Err(e) => {
                run.abandon();
                return Err(e);
            }
        };
        if !finished.ok() {
            let detail = self.detail(&finished, &udid);
            run.abandon();
            return Err(BackupError::Device {
                code: finished.response.error_code,
                description: finished.response.description.clone().unwrap_or_default(),
                detail,
            });
        }
        match run.snapshot_state() {
            Some(state) if state == "finished" => {}
            other => {
                run.abandon();
                return Err(BackupError::NotFinished(other.unwrap_or_else(|| "nothing".into())));
            }
        }
        progress.step(Step::Saving);
        let linked = run.linked();
        let layout = run.layout().clone();
        let committed = run.commit(self.keep)?;
        let newest = layout.newest();
        Ok(BackupSummary {
            full: read_bool(&newest.join("Status.plist"), "IsFullBackup").unwrap_or(false),
            encrypted: read_bool(&newest.join("Manifest.plist"), "IsEncrypted").unwrap_or(false),
            udid,
            path: newest,
            committed,
            duration: started.elapsed(),
            report: finished.report,
            linked,
            notes,
        })
    }

    /// The part between the services' opening and the device's final answer.
    #[allow(clippy::too_many_arguments)]
    fn backup(
        &self,
        udid: &str,
        values: &Dictionary,
        run: &mut Run,
        helpers: &mut Helpers,
        change: Option<ServiceStream>,
        backup: ServiceStream,
        signals: Signals,
        progress: &mut dyn BackupProgress,
        notes: &mut Vec<String>,
    ) -> Result<Finished, BackupError> {
        if let (Some(stream), Some(encryption)) = (change, &self.encryption) {
            progress.step(Step::ChangingPassword);
            let mut session = Session::connect(stream, udid, self.limits, signals.clone())?;
            let (old, new) = match encryption {
                Encryption::On { new } => (None, Some(new.as_str())),
                Encryption::Off { old } => (Some(old.as_str()), None),
                Encryption::Change { old, new } => (Some(old.as_str()), Some(new.as_str())),
            };
            let finished = session.change_password(old, new, run.store(), progress)?;
            let _ = session.disconnect();
            if !finished.ok() {
                return Ok(finished);
            }
        }
        let mut session = Session::connect(backup, udid, self.limits, signals)?;
        progress.step(Step::Locking);
        let post = |helpers: &mut Helpers, name: &str| {
            if let Some(stream) = helpers.post.as_mut() {
                let _ = notify::post(stream, name);
            }
        };
        post(helpers, notify::SYNC_WILL_START);
        let lock = match helpers.afc.as_mut() {
            Some(afc) => {
                post_lock_request(helpers.post.as_mut());
                sync_lock(afc)
                    .map_err(|e| notes.push(format!("the sync lock was not taken ({e})")))
                    .ok()
            }
            None => None,
        };
        post(helpers, notify::SYNC_DID_START);
        let apps = match helpers.apps.as_mut().map(apps::browse) {
            Some(Ok(apps)) => apps,
            Some(Err(e)) => {
                notes.push(format!(
                    "the app list could not be read ({e}); Info.plist names no apps"
                ));
                Vec::new()
            }
            None => Vec::new(),
        };
        write_info_plist(run, udid, values, &apps)?;
        progress.step(Step::BackingUp);
        let result = session.backup(self.force_full, run.store(), progress);
        if let (Some(afc), Some(handle)) = (helpers.afc.as_mut(), lock) {
            let _ = afc.lock(handle, LOCK_UNLOCK);
            let _ = afc.close(handle);
        }
        post(helpers, notify::SYNC_DID_FINISH);
        if let Some(stream) = helpers.post.as_mut() {
            notify::shutdown(stream);
        }
        let finished = result?;
        let _ = session.disconnect();
        Ok(finished)
    }

    /// What this host can add to the device's error: free space for 105, the folder's
    /// problems for 205.
    fn detail(&self, finished: &Finished, udid: &str) -> Option<String> {
        match finished.response.error_code {
            105 => {
                let free = crate::finder::store::free_space(&self.dest).ok()?;
                let mut text = format!("{} is free in {}", size(free), self.dest.display());
                if let Some(purge) = finished.report.purge_requested {
                    // The device asks for its deficit plus 2 GiB (docs/backup.md §1.10).
                    let deficit = purge.saturating_sub(2 << 30);
                    text.push_str(&format!(
                        ", the backup needs about {} ({} more)",
                        size(free + deficit),
                        size(deficit)
                    ));
                }
                Some(text)
            }
            205 => {
                let folder = self.dest.join(udid);
                let found = problems::problems(&folder);
                Some(if found.is_empty() {
                    format!("in {}, nothing wrong was found from this computer", folder.display())
                } else {
                    format!("in {}: {}", folder.display(), found.join("; "))
                })
            }
            _ => None,
        }
    }
}

/// Bytes in decimal units, as Finder shows them.
pub fn size(bytes: u64) -> String {
    crate::fs::space::human(bytes)
}

const LOCK_EXCLUSIVE: u64 = 6;
const LOCK_UNLOCK: u64 = 12;

fn post_lock_request(stream: Option<&mut ServiceStream>) {
    if let Some(stream) = stream {
        let _ = notify::post(stream, notify::SYNC_LOCK_REQUEST);
    }
}

/// Opens and locks the sync lock file, retrying 50 × 200 ms while another host holds it.
fn sync_lock<S: Read + Write>(afc: &mut AfcClient<S>) -> Result<u64, afc::AfcError> {
    let handle = afc.open(SYNC_LOCK, afc::codec::OpenMode::ReadWrite)?;
    let mut tries = 0;
    loop {
        match afc.lock(handle, LOCK_EXCLUSIVE) {
            Ok(()) => return Ok(handle),
            Err(afc::AfcError::Status {
                status: afc::AfcStatus::OpWouldBlock,
                ..
            }) if tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                let _ = afc.close(handle);
                return Err(e);
            }
        }
    }
}

/// Info.plist goes into the new version like a file the device sent: written new, hashed.
fn write_info_plist(run: &mut Run, udid: &str, values: &Dictionary, apps: &[Dictionary]) -> Result<(), BackupError> {
    let info = info_plist::build(udid, values, apps, SystemTime::now());
    let mut bytes = Vec::new();
    let path = DevicePath::parse(&format!("{udid}/Info.plist"), udid).map_err(|e| BackupError::Destination {
        path: PathBuf::from(udid),
        source: std::io::Error::other(e),
    })?;
    let store = run.store();
    let root = store.root().to_path_buf();
    let failed = |source| BackupError::Destination {
        path: root.join("Info.plist"),
        source,
    };
    info.to_writer_xml(&mut bytes)
        .map_err(|e| failed(std::io::Error::other(e)))?;
    store.begin_file(&path).map_err(failed)?;
    store.write_file(&bytes).map_err(failed)?;
    store.finish_file().map_err(failed)
}

fn read_bool(path: &Path, key: &str) -> Option<bool> {
    plist::Value::from_file(path)
        .ok()?
        .as_dictionary()?
        .get(key)?
        .as_boolean()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_read_as_sentences() {
        for (code, words) in [
            (3, "Restart the iPhone"),
            (104, "could not read some of its own files"),
            (105, "not enough free space"),
            (205, "damaged"),
            (207, "password is wrong"),
            (208, "passcode was not entered"),
            (212, "has not finished its setup"),
        ] {
            let text = device_text(code, "whatever (MBErrorDomain/N)", &None);
            assert!(
                text.contains(words) && text.contains(&format!("error {code}")),
                "{text}"
            );
        }
        let other = device_text(999, "Something new (MBErrorDomain/999)", &Some("detail".into()));
        assert_eq!(
            other,
            "the iPhone's backup failed with error 999: Something new (MBErrorDomain/999): detail"
        );
    }

    #[test]
    fn passwords_never_show_in_debug() {
        let change = Encryption::Change {
            old: "old secret".into(),
            new: "new secret".into(),
        };
        assert!(!format!("{change:?}").contains("secret"));
        let job = BackupJob {
            dest: PathBuf::from("/x"),
            force_full: false,
            keep: 5,
            limits: Limits::default(),
            encryption: Some(change),
        };
        assert!(!format!("{job:?}").contains("secret"));
    }
}
