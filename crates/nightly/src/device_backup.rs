//! The nightly run's full device backup (`full_backup_every_days`): when a phone's last full
//! backup is older than that, and the phone backs up without asking for its passcode (before
//! iOS 16.1, docs/backup.md §1.7), the run makes one itself, exactly as `lifeboat backup
//! --full` does. On later iOS no one is there to enter the passcode, so the run says what to
//! run instead.

use std::path::Path;
use std::time::Duration;

use lockdown::{LockdownClient, PairRecord};
use mobilebackup2::Limits;
use transfer::finder::job::{BackupJob, BackupProgress};
use usbmux::{Device, UsbmuxClient};

use crate::config::{Config, Phone, default_backup_destination};
use crate::status::{self, DeviceBackup};

/// The first iOS whose backups wait for the passcode on the phone.
const PASSCODE_FROM: (u64, u64) = (16, 1);

/// What the nightly run did about a full device backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullBackup {
    /// Made: the version's name.
    Made(String),
    /// Not attempted, and why (with what to run instead).
    Skipped(String),
    /// Attempted and failed: the error in one line.
    Failed(String),
}

/// Whether iOS `version` ("15.7.1") asks for the passcode before a backup. Unknown: yes.
pub fn asks_for_passcode(version: Option<&str>) -> bool {
    let Some(version) = version else {
        return true;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten().or(Some(0))) {
        (Some(major), Some(minor)) => (major, minor) >= PASSCODE_FROM,
        _ => true,
    }
}

/// Logs nothing of the device's progress: the run's log gets one line at the end.
struct Quiet;
impl mobilebackup2::Observer for Quiet {}
impl BackupProgress for Quiet {}

/// Makes the full backup of `device` into the configured destination, and records it in the
/// status file so `status` and the next night know.
#[allow(clippy::too_many_arguments)]
pub fn make(
    mux: &UsbmuxClient,
    device: &Device,
    record: &PairRecord,
    phone: &Phone,
    config: &Config,
    state_dir: &Path,
    device_timeout: Duration,
    command: &str,
) -> FullBackup {
    let version = LockdownClient::connect(mux, device)
        .and_then(|mut client| client.get_value(None, Some("ProductVersion")))
        .ok()
        .and_then(|v| v.as_string().map(str::to_string));
    if asks_for_passcode(version.as_deref()) {
        return FullBackup::Skipped(format!(
            "{} (iOS {}) asks for its passcode before a backup, so the nightly run cannot make \
             the full backup; run `{command}` with the iPhone unlocked",
            phone.label(),
            version.as_deref().unwrap_or("unknown")
        ));
    }
    let job = BackupJob {
        dest: config
            .backup_destination
            .clone()
            .unwrap_or_else(default_backup_destination),
        force_full: true,
        keep: config.keep_versions,
        limits: Limits {
            device: device_timeout,
            ..Limits::default()
        },
        encryption: None,
    };
    match job.run(mux, device, record, &mut Quiet, &|| {}) {
        Ok(summary) => {
            let made = DeviceBackup {
                finished: status::now(),
                full: summary.full,
                version: summary.committed.version.clone(),
                path: summary.path.display().to_string(),
            };
            let name = summary.committed.version.clone();
            match status::record_device_backup(state_dir, &device.udid, phone.label(), made) {
                Ok(()) => FullBackup::Made(name),
                Err(e) => FullBackup::Failed(format!(
                    "the full backup {name} was made, but the status file could not record it: {e}"
                )),
            }
        }
        Err(e) => FullBackup::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ios_before_16_1_backs_up_without_the_passcode() {
        assert!(!asks_for_passcode(Some("15.7.1")));
        assert!(!asks_for_passcode(Some("16.0")));
        assert!(!asks_for_passcode(Some("16")));
        assert!(asks_for_passcode(Some("16.1")));
        assert!(asks_for_passcode(Some("17.5")));
        assert!(asks_for_passcode(Some("nonsense")));
        assert!(asks_for_passcode(None));
    }
}
