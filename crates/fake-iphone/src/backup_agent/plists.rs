//! The plists a phone writes into a backup (docs/backup.md §2.3): Status.plist at each
//! phase and Manifest.plist; and what the phone reads of the host's copies.

use std::time::SystemTime;

use plist::{Dictionary, Value};

use crate::config::PhoneConfig;

/// Status.plist with `SnapshotState` = `state` (uploading, moving, finished).
pub fn status(uuid: &str, full: bool, state: &str) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("BackupState".into(), "new".into());
    d.insert("Date".into(), Value::Date(SystemTime::now().into()));
    d.insert("IsFullBackup".into(), full.into());
    d.insert("SnapshotState".into(), state.into());
    d.insert("UUID".into(), uuid.into());
    d.insert("Version".into(), "3.3".into());
    binary(&Value::Dictionary(d))
}

/// Manifest.plist (docs/backup.md §5.5); encrypted, with the keybag and the wrapped
/// Manifest.db key (docs/backup-encryption.md §7 step 7).
pub fn manifest(
    config: &PhoneConfig,
    build_version: &str,
    serial: &str,
    apps: &[Value],
    encryption: Option<(&[u8], Vec<u8>)>,
) -> Vec<u8> {
    let mut lockdown = Dictionary::new();
    lockdown.insert("ProductVersion".into(), config.ios_version.as_str().into());
    lockdown.insert("ProductType".into(), config.product_type.as_str().into());
    lockdown.insert("BuildVersion".into(), build_version.into());
    lockdown.insert("UniqueDeviceID".into(), config.udid.as_str().into());
    lockdown.insert("SerialNumber".into(), serial.into());
    lockdown.insert("DeviceName".into(), config.name.as_str().into());
    let mut applications = Dictionary::new();
    for app in apps {
        let Some(bundle) = app
            .as_dictionary()
            .and_then(|a| a.get("CFBundleIdentifier"))
            .and_then(Value::as_string)
        else {
            continue;
        };
        let mut entry = Dictionary::new();
        entry.insert("CFBundleIdentifier".into(), bundle.into());
        entry.insert("CFBundleVersion".into(), "1.0".into());
        entry.insert("ContainerContentClass".into(), "Data/Application".into());
        applications.insert(bundle.into(), Value::Dictionary(entry));
    }
    let mut d = Dictionary::new();
    d.insert("IsEncrypted".into(), encryption.is_some().into());
    d.insert("WasPasscodeSet".into(), true.into());
    d.insert("Version".into(), "10.0".into());
    d.insert("SystemDomainsVersion".into(), "24.0".into());
    d.insert("Date".into(), Value::Date(SystemTime::now().into()));
    d.insert("Lockdown".into(), Value::Dictionary(lockdown));
    d.insert("Applications".into(), Value::Dictionary(applications));
    match encryption {
        Some((keybag, manifest_key)) => {
            d.insert("BackupKeyBag".into(), Value::Data(keybag.to_vec()));
            d.insert("ManifestKey".into(), Value::Data(manifest_key));
        }
        None => {
            d.insert("BackupKeyBag".into(), Value::Data(b"VERS\0\0\0\x04\0\0\0\x05".to_vec()));
        }
    }
    binary(&Value::Dictionary(d))
}

fn binary(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing a plist of strings, numbers and dates to memory cannot fail.
    let _ = plist::to_writer_binary(&mut out, value);
    out
}

/// Whether a Status.plist the host kept allows an incremental backup: it parses and its
/// `Version` is at least 3.3 (docs/backup.md §1.10).
pub fn status_usable(bytes: &[u8]) -> bool {
    let Ok(value) = Value::from_reader(std::io::Cursor::new(bytes)) else {
        return false;
    };
    value
        .as_dictionary()
        .and_then(|d| d.get("Version"))
        .and_then(Value::as_string)
        .and_then(|v| v.parse::<f64>().ok())
        .is_some_and(|v| v >= 3.3)
}

/// Whether a Manifest.plist the host kept describes a backup of this phone made as it backs
/// up now: unencrypted, or encrypted under the same keybag (docs/backup.md §1.10).
pub fn manifest_usable(bytes: &[u8], udid: &str, keybag: Option<&[u8]>) -> bool {
    let Ok(value) = Value::from_reader(std::io::Cursor::new(bytes)) else {
        return false;
    };
    let Some(d) = value.as_dictionary() else { return false };
    let encrypted = d.get("IsEncrypted").and_then(Value::as_boolean).unwrap_or(false);
    let same_phone = d
        .get("Lockdown")
        .and_then(Value::as_dictionary)
        .and_then(|l| l.get("UniqueDeviceID"))
        .and_then(Value::as_string)
        .is_none_or(|id| id == udid);
    let same_keys = match keybag {
        None => !encrypted,
        Some(bag) => encrypted && d.get("BackupKeyBag").and_then(Value::as_data) == Some(bag),
    };
    same_keys && same_phone
}
