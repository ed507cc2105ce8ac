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
