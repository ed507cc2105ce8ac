//! `doctor`: the iCloud troubleshooting checklist answered from what the phone itself
//! reports, and from this computer's side (free space, lifeboat's last runs).
//!
//! Facts are read first ([`PhoneFacts`], [`HostFacts`]), then judged by [`checks`], a pure
//! function, so every verdict can be tested without a phone. A value the phone does not
//! report is "unknown", never a guess. Nothing here writes to the phone: the checks read
//! values (`GetValue`), one file over AFC and Photos.sqlite (the doctor notes of
//! `docs/photos.md` list where each value comes from and which are unconfirmed on real
//! phones).

use std::io::{Read, Write};

use afc::client::AfcClient;
use afc::codec::OpenMode;
use plist::{Dictionary, Value};
use serde::Serialize;

/// Where iCloud Photos keeps its sync state on the phone (AFC root).
pub const SYNC_STATUS: &str = "PhotoData/CPL/syncstatus.plist";

/// The largest syncstatus.plist read; real ones are a few KiB.
const MAX_SYNC_STATUS: u64 = 1 << 20;

/// iCloud Backup is called overdue after this many days without one.
pub const BACKUP_OVERDUE_DAYS: i64 = 7;
/// iCloud Photos is called stalled after this many days without a sync.
pub const SYNC_OVERDUE_DAYS: i64 = 3;
/// Below this share of free space the phone is nearly full (iOS warns near 5%).
const NEARLY_FULL_SHARE: f64 = 0.05;
/// And below this many bytes, whatever the share.
const NEARLY_FULL_BYTES: u64 = 2_000_000_000;
/// iCloud Backup waits for power; below this charge, without a charger, it will not start.
const LOW_BATTERY: u64 = 20;

/// What iCloud Photos' sync state file says, if it is there.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    pub library_exists: Option<bool>,
    /// Unix seconds.
    pub last_sync: Option<i64>,
    pub connected_to_network: Option<bool>,
    pub in_airplane_mode: Option<bool>,
}

/// What the phone reported. `None` everywhere the phone did not say.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhoneFacts {
    pub name: Option<String>,
    pub product_type: Option<String>,
    pub ios_version: Option<String>,
    pub paired: bool,
    pub cloud_backup_enabled: Option<bool>,
    /// Unix seconds.
    pub last_cloud_backup: Option<i64>,
    pub last_local_backup: Option<i64>,
    pub will_encrypt: Option<bool>,
    pub data_available: Option<u64>,
    pub data_capacity: Option<u64>,
    pub battery_percent: Option<u64>,
    pub charging: Option<bool>,
    /// `None`: the file could not be read (missing, or AFC refused).
    pub sync_status: Option<SyncStatus>,
    /// From Photos.sqlite: assets iCloud knows, and originals only in iCloud.
    pub cloud_assets: Option<u64>,
    pub cloud_only: Option<u64>,
    pub cloud_only_bytes: Option<u64>,
}

/// This computer's side.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostFacts {
    pub destination: Option<String>,
    /// Free bytes at the destination.
    pub destination_free: Option<u64>,
    /// When lifeboat last copied this phone's photos (Unix seconds), and how that run ended.
    pub last_export: Option<i64>,
    pub last_outcome: Option<String>,
    /// When lifeboat last made a full backup of this phone.
    pub last_full_backup: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    Unknown,
}

/// One item of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub item: &'static str,
    pub verdict: Verdict,
    /// What was found, in one line.
    pub finding: String,
    /// For a warning: what to do, in the words of the steps people know.
    pub advice: Option<String>,
}

impl Check {
    fn ok(item: &'static str, finding: impl Into<String>) -> Check {
        Check {
            item,
            verdict: Verdict::Ok,
            finding: finding.into(),
            advice: None,
        }
    }

    fn warning(item: &'static str, finding: impl Into<String>, advice: impl Into<String>) -> Check {
        Check {
            item,
            verdict: Verdict::Warning,
            finding: finding.into(),
            advice: Some(advice.into()),
        }
    }

    fn unknown(item: &'static str, finding: impl Into<String>) -> Check {
        Check {
            item,
            verdict: Verdict::Unknown,
            finding: finding.into(),
            advice: None,
        }
    }
}

fn days_ago(now: i64, then: i64) -> i64 {
    now.saturating_sub(then).max(0) / 86_400
}

fn ago(now: i64, then: i64) -> String {
    match days_ago(now, then) {
        0 => "today".into(),
        1 => "yesterday".into(),
        n => format!("{n} days ago"),
    }
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// The checklist, judged. `now` is Unix seconds.
pub fn checks(phone: &PhoneFacts, host: &HostFacts, now: i64) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match phone.paired {
        true => Check::ok("paired", "this computer is trusted by the iPhone"),
        false => Check::warning(
            "paired",
            "this computer is not paired with the iPhone",
            "Unlock the iPhone and tap Trust when it asks",
        ),
    });
    out.push(match (&phone.ios_version, &phone.product_type) {
        (Some(version), Some(model)) => Check::ok("iOS", format!("iOS {version} on {model}")),
        _ => Check::unknown("iOS", "the iPhone did not report its iOS version"),
    });
    out.push(match phone.cloud_backup_enabled {
        Some(true) => Check::ok("iCloud Backup", "on"),
        Some(false) => Check::warning(
            "iCloud Backup",
            "off: nothing on this iPhone is backed up to iCloud",
            "Turn it on in Settings > [your name] > iCloud > iCloud Backup, or keep a local backup with lifeboat",
        ),
        None => Check::unknown("iCloud Backup", "the iPhone did not say whether iCloud Backup is on"),
    });
    out.push(match (phone.cloud_backup_enabled, phone.last_cloud_backup) {
        (_, Some(when)) if days_ago(now, when) <= BACKUP_OVERDUE_DAYS => {
            Check::ok("last iCloud backup", ago(now, when))
        }
        (_, Some(when)) => Check::warning(
            "last iCloud backup",
            format!("{}: iCloud Backup has stopped working", ago(now, when)),
            "iCloud Backup needs Wi-Fi, a charger and a locked screen at night, and enough iCloud storage: \
             check Settings > [your name] > iCloud > Manage Storage, free some or buy more, then leave the \
             iPhone on Wi-Fi and charging overnight",
        ),
        (Some(false), None) => Check::ok("last iCloud backup", "none (iCloud Backup is off)"),
        _ => Check::unknown("last iCloud backup", "the iPhone did not report its last iCloud backup"),
    });
    out.push(match phone.last_local_backup {
        Some(when) => Check::ok("last local backup", ago(now, when)),
        None => Check::unknown(
            "last local backup",
            "the iPhone did not report a backup to a computer (perhaps there never was one)",
        ),
    });
    out.push(match phone.will_encrypt {
        Some(true) => Check::ok(
            "local backup encryption",
            "on: backups keep Health data and saved passwords",
        ),
        Some(false) => Check::ok(
            "local backup encryption",
            "off: local backups leave out Health data and saved passwords",
        ),
        None => Check::unknown("local backup encryption", "the iPhone did not say"),
    });
    out.push(icloud_photos(phone, now));
    out.push(match (phone.cloud_only, phone.cloud_only_bytes) {
        (Some(0), _) => Check::ok("originals on the iPhone", "every original is on the iPhone"),
        (Some(n), bytes) => Check::warning(
            "originals on the iPhone",
            format!(
                "{n} originals are only in iCloud{}: no cable can copy them until they are downloaded",
                bytes
                    .map(|b| format!(", {}", transfer::fs::space::human(b)))
                    .unwrap_or_default()
            ),
            "Turn on Settings > Photos > Download and Keep Originals, keep the iPhone on Wi-Fi and charging \
             until they have downloaded (it needs the space), then export again",
        ),
        (None, _) => Check::unknown("originals on the iPhone", "Photos.sqlite could not be read"),
    });
    out.push(match (phone.data_available, phone.data_capacity) {
        (Some(free), Some(total)) if total > 0 => {
            let share = free as f64 / total as f64;
            let finding = format!("{} free of {}", gigabytes(free), gigabytes(total));
            if share < NEARLY_FULL_SHARE || free < NEARLY_FULL_BYTES {
                Check::warning(
                    "iPhone storage",
                    format!("{finding}: nearly full, and iCloud Photos and Backup stall when it is"),
                    "Free storage in Settings > General > iPhone Storage (offload unused apps, delete large \
                     videos once they are copied off)",
                )
            } else {
                Check::ok("iPhone storage", finding)
            }
        }
        _ => Check::unknown("iPhone storage", "the iPhone did not report its free space"),
    });
    out.push(match (phone.battery_percent, phone.charging) {
        (Some(level), Some(true)) => Check::ok("battery", format!("{level}%, charging")),
        (Some(level), Some(false)) if level < LOW_BATTERY => Check::warning(
            "battery",
            format!("{level}%, not charging: iCloud waits for power"),
            "Plug the iPhone into a charger",
        ),
        (Some(level), _) => Check::ok("battery", format!("{level}%")),
        (None, _) => Check::unknown("battery", "the iPhone did not report its battery"),
    });
    out.push(
        match (
            host.destination_free,
            &host.destination,
            phone.data_capacity,
            phone.data_available,
        ) {
            (Some(free), Some(dest), Some(total), Some(available)) => {
                let used = total.saturating_sub(available);
                if free < used {
                    Check::warning(
                        "room on this computer",
                        format!(
                            "{} free at {dest}, and the iPhone holds {}",
                            gigabytes(free),
                            gigabytes(used)
                        ),
                        "Free space there, or choose a larger disk for the backups",
                    )
                } else {
                    Check::ok(
                        "room on this computer",
                        format!(
                            "{} free at {dest} for the iPhone's {}",
                            gigabytes(free),
                            gigabytes(used)
                        ),
                    )
                }
            }
            _ => Check::unknown(
                "room on this computer",
                "no destination to measure, or the iPhone's use is unknown",
            ),
        },
    );
    out.push(match (host.last_export, &host.last_outcome) {
        (Some(when), outcome) => Check::ok(
            "lifeboat's last photo copy",
            format!(
                "{}{}",
                ago(now, when),
                outcome.as_ref().map(|o| format!(" ({o})")).unwrap_or_default()
            ),
        ),
        (None, _) => Check::unknown("lifeboat's last photo copy", "none recorded on this computer"),
    });
    out.push(match host.last_full_backup {
        Some(when) => Check::ok("lifeboat's last full backup", ago(now, when)),
        None => Check::unknown("lifeboat's last full backup", "none recorded on this computer"),
    });
    out
}

fn icloud_photos(phone: &PhoneFacts, now: i64) -> Check {
    const ITEM: &str = "iCloud Photos";
    let Some(sync) = &phone.sync_status else {
        return match phone.cloud_assets {
            Some(n) if n > 0 => Check::unknown(
                ITEM,
                format!("its sync state could not be read, though {n} photos are known to iCloud"),
            ),
            _ => Check::unknown(ITEM, "its sync state could not be read from the iPhone"),
        };
    };
    if sync.library_exists == Some(false) {
        return Check::ok(ITEM, "off");
    }
    if sync.in_airplane_mode == Some(true) {
        return Check::warning(
            ITEM,
            "the iPhone is in Airplane Mode, so nothing syncs",
            "Turn Airplane Mode off in Control Center",
        );
    }
    if sync.connected_to_network == Some(false) {
        return Check::warning(
            ITEM,
            "the iPhone has no network, so nothing syncs",
            "Connect the iPhone to Wi-Fi",
        );
    }
    match sync.last_sync {
        Some(when) if days_ago(now, when) <= SYNC_OVERDUE_DAYS => {
            Check::ok(ITEM, format!("on, last synced {}", ago(now, when)))
        }
        Some(when) => Check::warning(
            ITEM,
            format!("on, but last synced {}: the sync has stalled", ago(now, when)),
            "Keep the iPhone on Wi-Fi and charging; if it stays stuck, sign out of iCloud and back in, \
             and update iOS",
        ),
        None => Check::unknown(ITEM, "on, but the iPhone did not say when it last synced"),
    }
}

fn unix(value: &Value) -> Option<i64> {
    match value {
        Value::Date(date) => {
            let system: std::time::SystemTime = (*date).into();
            match system.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).ok(),
                Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
            }
        }
        _ => None,
    }
}

fn flag(dict: &Dictionary, key: &str) -> Option<bool> {
    dict.get(key).and_then(Value::as_boolean)
}

fn number(dict: &Dictionary, key: &str) -> Option<u64> {
    dict.get(key).and_then(Value::as_unsigned_integer)
}

impl PhoneFacts {
    /// Fills in what the default domain says.
    pub fn read_identity(&mut self, values: &Dictionary) {
        let text = |key: &str| values.get(key).and_then(Value::as_string).map(str::to_string);
        self.name = text("DeviceName");
        self.product_type = text("ProductType");
        self.ios_version = text("ProductVersion");
    }

    /// Fills in `com.apple.mobile.backup`.
    pub fn read_backup_domain(&mut self, backup: &Dictionary) {
        self.cloud_backup_enabled = flag(backup, "CloudBackupEnabled");
        self.last_cloud_backup = backup.get("LastCloudBackupDate").and_then(unix);
        self.last_local_backup = backup.get("LastiTunesBackupDate").and_then(unix);
        self.will_encrypt = flag(backup, "WillEncrypt");
    }

    /// Fills in `com.apple.disk_usage`: `AmountDataAvailable` is what the user sees as free
    /// (purgeable space makes `TotalDataAvailable` differ).
    pub fn read_disk_usage(&mut self, disk: &Dictionary) {
        self.data_available = number(disk, "AmountDataAvailable").or_else(|| number(disk, "TotalDataAvailable"));
        self.data_capacity = number(disk, "TotalDataCapacity");
    }

    /// Fills in `com.apple.mobile.battery`.
    pub fn read_battery(&mut self, battery: &Dictionary) {
        self.battery_percent = number(battery, "BatteryCurrentCapacity");
        self.charging = flag(battery, "BatteryIsCharging");
    }
}

/// Parses `syncstatus.plist`.
pub fn parse_sync_status(bytes: &[u8]) -> Option<SyncStatus> {
    let value = Value::from_reader(std::io::Cursor::new(bytes)).ok()?;
    let dict = value.as_dictionary()?;
    Some(SyncStatus {
        library_exists: flag(dict, "iCloudLibraryExists"),
        last_sync: dict.get("lastSyncDate").and_then(unix),
        connected_to_network: flag(dict, "connectedToNetwork"),
        in_airplane_mode: flag(dict, "inAirplaneMode"),
    })
}

/// Reads iCloud Photos' sync state over AFC; `None` when it is not there or unreadable.
pub fn read_sync_status<S: Read + Write>(afc: &mut AfcClient<S>) -> Option<SyncStatus> {
    let info = afc.file_info(SYNC_STATUS).ok()?;
    if info.size > MAX_SYNC_STATUS {
        return None;
    }
    let handle = afc.open(SYNC_STATUS, OpenMode::ReadOnly).ok()?;
    let bytes = afc.read(handle, info.size);
    let _ = afc.close(handle);
    parse_sync_status(&bytes.ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000;
    const DAY: i64 = 86_400;

    fn healthy() -> PhoneFacts {
        PhoneFacts {
            name: Some("Ada's iPhone".into()),
            product_type: Some("iPhone15,2".into()),
            ios_version: Some("17.5".into()),
            paired: true,
            cloud_backup_enabled: Some(true),
            last_cloud_backup: Some(NOW - DAY),
            last_local_backup: Some(NOW - 10 * DAY),
            will_encrypt: Some(false),
            data_available: Some(40_000_000_000),
            data_capacity: Some(116_000_000_000),
            battery_percent: Some(80),
            charging: Some(true),
            sync_status: Some(SyncStatus {
                library_exists: Some(true),
                last_sync: Some(NOW - 3600),
                connected_to_network: Some(true),
                in_airplane_mode: Some(false),
            }),
            cloud_assets: Some(120),
            cloud_only: Some(0),
            cloud_only_bytes: Some(0),
        }
    }

    fn verdict(checks: &[Check], item: &str) -> Verdict {
        checks.iter().find(|c| c.item == item).map(|c| c.verdict).expect(item)
    }

    #[test]
    fn a_healthy_phone_has_no_warning() {
        let checks = checks(&healthy(), &HostFacts::default(), NOW);
        assert!(checks.iter().all(|c| c.verdict != Verdict::Warning), "{checks:#?}");
        assert_eq!(verdict(&checks, "iCloud Photos"), Verdict::Ok);
    }

    #[test]
    fn each_failure_is_a_warning_with_advice() {
        /// A checklist item, and how to break it on a healthy phone.
        type Case = (&'static str, Box<dyn Fn(&mut PhoneFacts)>);
        let cases: Vec<Case> = vec![
            ("iCloud Backup", Box::new(|p| p.cloud_backup_enabled = Some(false))),
            (
                "last iCloud backup",
                Box::new(|p| p.last_cloud_backup = Some(NOW - 30 * DAY)),
            ),
            ("iPhone storage", Box::new(|p| p.data_available = Some(500_000_000))),
            ("originals on the iPhone", Box::new(|p| p.cloud_only = Some(12))),
            (
                "battery",
                Box::new(|p| (p.battery_percent, p.charging) = (Some(9), Some(false))),
            ),
            (
                "iCloud Photos",
                Box::new(|p| p.sync_status.as_mut().unwrap().last_sync = Some(NOW - 20 * DAY)),
            ),
            (
                "iCloud Photos",
                Box::new(|p| p.sync_status.as_mut().unwrap().in_airplane_mode = Some(true)),
            ),
            ("paired", Box::new(|p| p.paired = false)),
        ];
        for (item, break_it) in cases {
            let mut phone = healthy();
            break_it(&mut phone);
            let checks = checks(&phone, &HostFacts::default(), NOW);
            let check = checks.iter().find(|c| c.item == item).unwrap();
            assert_eq!(check.verdict, Verdict::Warning, "{item}: {check:?}");
            assert!(check.advice.as_ref().is_some_and(|a| !a.is_empty()), "{item}");
        }
    }

    #[test]
    fn what_the_phone_does_not_report_is_unknown() {
        let checks = checks(&PhoneFacts::default(), &HostFacts::default(), NOW);
        for item in [
            "iCloud Backup",
            "last iCloud backup",
            "iCloud Photos",
            "originals on the iPhone",
            "iPhone storage",
            "battery",
        ] {
            assert_eq!(verdict(&checks, item), Verdict::Unknown, "{item}");
        }
    }

    #[test]
    fn a_small_disk_here_is_a_warning() {
        let host = HostFacts {
            destination: Some("/mnt/backup".into()),
            destination_free: Some(10_000_000_000),
            ..Default::default()
        };
        let checks = checks(&healthy(), &host, NOW);
        assert_eq!(verdict(&checks, "room on this computer"), Verdict::Warning);
    }

    #[test]
    fn sync_status_parses_what_it_can() {
        let mut d = Dictionary::new();
        d.insert("iCloudLibraryExists".into(), true.into());
        d.insert("connectedToNetwork".into(), false.into());
        let mut bytes = Vec::new();
        Value::Dictionary(d).to_writer_binary(&mut bytes).unwrap();
        let status = parse_sync_status(&bytes).unwrap();
        assert_eq!(status.library_exists, Some(true));
        assert_eq!(status.connected_to_network, Some(false));
        assert_eq!(status.last_sync, None);
        assert_eq!(parse_sync_status(b"not a plist"), None);
    }
}
