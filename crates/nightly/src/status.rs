//! What unattended runs leave behind for `lifeboat status` and for scripts: a JSON file in
//! the state folder, per phone, with the last run and the last success.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusFile {
    /// By UDID.
    pub phones: BTreeMap<String, PhoneStatus>,
    /// The last run that found no configured phone.
    pub last_empty_night: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PhoneStatus {
    pub name: String,
    pub last_run: Option<RunRecord>,
    /// Unix time of the last run that copied everything it could.
    pub last_success: Option<i64>,
    /// The last device backup (`lifeboat backup`) that succeeded.
    #[serde(default)]
    pub last_device_backup: Option<DeviceBackup>,
    /// Unix time of the last full device backup.
    #[serde(default)]
    pub last_full_backup: Option<i64>,
}

/// A successful device backup, as `lifeboat status` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeviceBackup {
    pub finished: i64,
    pub full: bool,
    pub version: String,
    pub path: String,
}

/// Records a successful device backup of `udid` (named `name`).
pub fn record_device_backup(state_dir: &Path, udid: &str, name: &str, backup: DeviceBackup) -> std::io::Result<()> {
    let mut file = load(state_dir);
    let entry = file.phones.entry(udid.to_string()).or_default();
    if entry.name.is_empty() {
        entry.name = name.to_string();
    }
    if backup.full {
        entry.last_full_backup = Some(backup.finished);
    }
    entry.last_device_backup = Some(backup);
    save(state_dir, &file)
}

/// Whether a phone's full device backup is older than `days` (or there is none), as of `now`.
pub fn full_backup_due(entry: Option<&PhoneStatus>, days: u64, now: i64) -> bool {
    match entry.and_then(|e| e.last_full_backup) {
        Some(when) => now - when >= (days as i64) * 86_400,
        None => true,
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub started: i64,
    pub finished: i64,
    /// `ok`, `incomplete` (cloud-only or failed files left), `failed`, or `busy`.
    pub outcome: String,
    pub destination: String,
    pub copied: u64,
    pub bytes: u64,
    pub already_there: u64,
    pub cloud_only: u64,
    pub failed: u64,
    /// Files on the phone the walk could not take (not symbolic links, which are no photos).
    #[serde(default)]
    pub skipped: u64,
    pub verified: u64,
    pub verify_problems: u64,
    /// One clear line each: what went wrong and what to do.
    pub errors: Vec<String>,
    pub log: Option<String>,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

/// The status file, or an empty one if there is none yet (or it cannot be read).
pub fn load(state_dir: &Path) -> StatusFile {
    std::fs::read(path(state_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes the status file whole, or not at all.
pub fn save(state_dir: &Path, status: &StatusFile) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    atomic_file::write(&path(state_dir), &bytes, atomic_file::Access::Normal)
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `2026-11-24 03:00 UTC`.
pub fn format_time(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => unix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_backups_are_recorded_and_full_ones_fall_due() {
        let dir = tempfile::tempdir().unwrap();
        let backup = |finished, full| DeviceBackup {
            finished,
            full,
            version: "v".into(),
            path: "/b".into(),
        };
        assert!(full_backup_due(None, 30, 0));
        record_device_backup(dir.path(), "U", "Ada", backup(1_000, true)).unwrap();
        record_device_backup(dir.path(), "U", "Ada", backup(2_000, false)).unwrap();
        let file = load(dir.path());
        let entry = &file.phones["U"];
        assert_eq!(entry.last_full_backup, Some(1_000));
        assert_eq!(entry.last_device_backup.as_ref().map(|b| b.finished), Some(2_000));
        assert!(!full_backup_due(Some(entry), 30, 1_000 + 29 * 86_400));
        assert!(full_backup_due(Some(entry), 30, 1_000 + 30 * 86_400));
    }
}
