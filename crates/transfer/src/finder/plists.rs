//! Status.plist, Manifest.plist and Info.plist (docs/backup.md §2.3): read leniently, every
//! key optional, so one missing key does not hide what the rest say.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use plist::{Dictionary, Value};

/// Plists larger than this are not read (Info.plist with app icons is a few MB).
pub const MAX_PLIST: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PlistError {
    #[error("{} is missing", .0.display())]
    Missing(PathBuf),
    #[error("{} is empty", .0.display())]
    Empty(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a property list: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("{} is {size} bytes, more than lifeboat reads", path.display())]
    TooLarge { path: PathBuf, size: u64 },
}

/// A top-level dictionary, read from `path`.
pub fn read_dict(path: &Path) -> Result<Dictionary, PlistError> {
    let meta = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PlistError::Missing(path.to_path_buf())
        } else {
            PlistError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    if !meta.is_file() {
        return Err(PlistError::Parse {
            path: path.to_path_buf(),
            reason: "it is not a regular file".into(),
        });
    }
    if meta.len() > MAX_PLIST {
        return Err(PlistError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| PlistError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PlistError::Empty(path.to_path_buf()));
    }
    let value = Value::from_reader(std::io::Cursor::new(&bytes)).map_err(|e| PlistError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    match value {
        Value::Dictionary(d) if d.is_empty() => Err(PlistError::Empty(path.to_path_buf())),
        Value::Dictionary(d) => Ok(d),
        _ => Err(PlistError::Parse {
            path: path.to_path_buf(),
            reason: "it is not a dictionary".into(),
        }),
    }
}

fn string(d: &Dictionary, key: &str) -> Option<String> {
    d.get(key).and_then(Value::as_string).map(str::to_owned)
}

fn date(d: &Dictionary, key: &str) -> Option<SystemTime> {
    match d.get(key)? {
        Value::Date(date) => Some((*date).into()),
        _ => None,
    }
}

fn data(d: &Dictionary, key: &str) -> Option<Vec<u8>> {
    d.get(key).and_then(Value::as_data).map(<[u8]>::to_vec)
}

#[derive(Debug, Clone, Default)]
pub struct Status {
    /// uploading, moving or finished (§1.10).
    pub snapshot_state: Option<String>,
    pub backup_state: Option<String>,
    pub version: Option<String>,
    pub date: Option<SystemTime>,
    pub is_full_backup: Option<bool>,
}

impl Status {
    pub fn from_dict(d: &Dictionary) -> Status {
        Status {
            snapshot_state: string(d, "SnapshotState"),
            backup_state: string(d, "BackupState"),
            version: string(d, "Version"),
            date: date(d, "Date"),
            is_full_backup: d.get("IsFullBackup").and_then(Value::as_boolean),
        }
    }

    pub fn finished(&self) -> bool {
        self.snapshot_state.as_deref() == Some("finished")
    }

    /// `Version ≥ 3.3`, which the phone needs for an incremental backup (§1.10); `None`
    /// when there is no readable version.
    pub fn version_ok(&self) -> Option<bool> {
        let version = self.version.as_deref()?;
        let mut parts = version.split('.').map(|p| p.trim().parse::<u32>().ok());
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten().unwrap_or(0);
        Some((major, minor) >= (3, 3))
    }
}

/// The device as Manifest.plist's `Lockdown` or Info.plist describe it.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub udid: Option<String>,
    pub name: Option<String>,
    pub product_type: Option<String>,
    pub product_version: Option<String>,
    pub build_version: Option<String>,
    pub serial_number: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub is_encrypted: bool,
    pub keybag: Option<Vec<u8>>,
    pub manifest_key: Option<Vec<u8>>,
    pub lockdown: Device,
    pub date: Option<SystemTime>,
    pub version: Option<String>,
}

impl Manifest {
    pub fn from_dict(d: &Dictionary) -> Manifest {
        let lockdown = d.get("Lockdown").and_then(Value::as_dictionary);
        let field = |key: &str| lockdown.and_then(|l| string(l, key));
        Manifest {
            is_encrypted: d.get("IsEncrypted").and_then(Value::as_boolean).unwrap_or(false),
            keybag: data(d, "BackupKeyBag"),
            manifest_key: data(d, "ManifestKey"),
            lockdown: Device {
                udid: field("UniqueDeviceID"),
                name: field("DeviceName"),
                product_type: field("ProductType"),
                product_version: field("ProductVersion"),
                build_version: field("BuildVersion"),
                serial_number: field("SerialNumber"),
            },
            date: date(d, "Date"),
            version: string(d, "Version"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Info {
    pub device: Device,
    pub display_name: Option<String>,
    /// `Target Identifier`, the UDID the host backed up.
    pub target_identifier: Option<String>,
    pub last_backup_date: Option<SystemTime>,
}

impl Info {
    pub fn from_dict(d: &Dictionary) -> Info {
        Info {
            device: Device {
                udid: string(d, "Unique Identifier"),
                name: string(d, "Device Name"),
                product_type: string(d, "Product Type"),
                product_version: string(d, "Product Version"),
                build_version: string(d, "Build Version"),
                serial_number: string(d, "Serial Number"),
            },
            display_name: string(d, "Display Name"),
            target_identifier: string(d, "Target Identifier"),
            last_backup_date: date(d, "Last Backup Date"),
        }
    }
}

pub fn read_status(dir: &Path) -> Result<Status, PlistError> {
    read_dict(&dir.join(super::layout::STATUS_PLIST)).map(|d| Status::from_dict(&d))
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, PlistError> {
    read_dict(&dir.join(super::layout::MANIFEST_PLIST)).map(|d| Manifest::from_dict(&d))
}

pub fn read_info(dir: &Path) -> Result<Info, PlistError> {
    read_dict(&dir.join(super::layout::INFO_PLIST)).map(|d| Info::from_dict(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_broken_plists_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Manifest.plist");
        assert!(matches!(read_dict(&path), Err(PlistError::Missing(_))));
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(read_dict(&path), Err(PlistError::Empty(_))));
        std::fs::write(&path, b"bplist00garbage").unwrap();
        assert!(matches!(read_dict(&path), Err(PlistError::Parse { .. })));
        plist::Value::Dictionary(Dictionary::new()).to_file_xml(&path).unwrap();
        assert!(matches!(read_dict(&path), Err(PlistError::Empty(_))));
    }

    #[test]
    fn status_version() {
        let status = |v: &str| Status {
            version: Some(v.into()),
            ..Default::default()
        };
        assert_eq!(status("3.3").version_ok(), Some(true));
        assert_eq!(status("2.4").version_ok(), Some(false));
        assert_eq!(status("10.0").version_ok(), Some(true));
        assert_eq!(status("x").version_ok(), None);
    }
}
