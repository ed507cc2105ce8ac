//! What a simulated phone says about iCloud: iCloud Backup in lockdown's backup domain, and
//! iCloud Photos' sync state file over AFC (docs/doctor.md). The states `lifeboat doctor`
//! must tell apart are options here.

use std::path::Path;
use std::time::{Duration, SystemTime};

use plist::{Dictionary, Value};

/// Where iCloud Photos keeps its sync state, under the media root.
pub const SYNC_STATUS: &str = "PhotoData/CPL/syncstatus.plist";

/// iCloud Photos as the phone's sync state file shows it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PhotosSync {
    /// Leave the media folder's file as it is (or absent).
    #[default]
    Untouched,
    /// On, last synced this many days ago.
    On {
        last_sync_days: f64,
    },
    Off,
    /// On, but the phone has no network.
    Offline,
    /// No sync state file at all.
    Missing,
}

impl std::str::FromStr for PhotosSync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "untouched" => Ok(PhotosSync::Untouched),
            "on" => Ok(PhotosSync::On { last_sync_days: 0.1 }),
            "off" => Ok(PhotosSync::Off),
            "offline" => Ok(PhotosSync::Offline),
            "missing" => Ok(PhotosSync::Missing),
            other => match other.strip_prefix("stalled:").and_then(|d| d.parse::<f64>().ok()) {
                Some(days) if days.is_finite() && days >= 0.0 => Ok(PhotosSync::On { last_sync_days: days }),
                _ => Err(format!(
                    "{s:?}: use on, off, offline, missing, untouched or stalled:DAYS"
                )),
            },
        }
    }
}

/// The phone's iCloud settings and history.
#[derive(Debug, Clone, PartialEq)]
pub struct ICloudState {
    pub backup_enabled: bool,
    /// Days since the last iCloud backup; `None`: the phone reports none.
    pub last_backup_days: Option<f64>,
    /// Days since the last backup to a computer; `None`: the phone reports none.
    pub last_local_backup_days: Option<f64>,
    pub photos: PhotosSync,
}

impl Default for ICloudState {
    fn default() -> Self {
        ICloudState {
            backup_enabled: true,
            last_backup_days: Some(1.0),
            last_local_backup_days: None,
            photos: PhotosSync::Untouched,
        }
    }
}

fn days_ago(days: f64) -> Value {
    let then = SystemTime::now()
        .checked_sub(Duration::from_secs_f64(days.clamp(0.0, 36_500.0) * 86_400.0))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    Value::Date(then.into())
}

impl ICloudState {
    /// Its keys in lockdown's `com.apple.mobile.backup` domain.
    pub fn add_backup_values(&self, backup: &mut Dictionary) {
        backup.insert("CloudBackupEnabled".into(), self.backup_enabled.into());
        if let Some(days) = self.last_backup_days {
            backup.insert("LastCloudBackupDate".into(), days_ago(days));
            backup.insert("LastCloudBackupTZ".into(), Value::Integer(0.into()));
        }
        if let Some(days) = self.last_local_backup_days {
            backup.insert("LastiTunesBackupDate".into(), days_ago(days));
            backup.insert("LastiTunesBackupTZ".into(), Value::Integer(0.into()));
        }
    }

    /// Puts the sync state file in `media` as `photos` says (or removes it).
    pub fn write_sync_status(&self, media: &Path) -> std::io::Result<()> {
        let path = media.join(SYNC_STATUS);
        let (exists, last_sync, connected) = match self.photos {
            PhotosSync::Untouched => return Ok(()),
            PhotosSync::Missing => {
                return match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                };
            }
            PhotosSync::Off => (false, None, true),
            PhotosSync::On { last_sync_days } => (true, Some(last_sync_days), true),
            PhotosSync::Offline => (true, Some(2.0), false),
        };
        let mut d = Dictionary::new();
        d.insert("iCloudLibraryExists".into(), exists.into());
        if let Some(days) = last_sync {
            d.insert("lastSyncDate".into(), days_ago(days));
            d.insert("initialSyncDate".into(), days_ago(days.max(400.0)));
        }
        d.insert("connectedToNetwork".into(), connected.into());
        d.insert("inAirplaneMode".into(), false.into());
        let mut bytes = Vec::new();
        Value::Dictionary(d)
            .to_writer_binary(&mut bytes)
            .map_err(std::io::Error::other)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)
    }
}
