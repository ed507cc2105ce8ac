//! The configuration file (TOML), in the platform's config folder unless `--config` says
//! otherwise.
//!
//! ```toml
//! notify_command = "notify-send lifeboat"   # gets the run's JSON summary on stdin
//! verify_sample_percent = 5                 # after each run; 0 turns it off
//! warn_after_days = 3
//! keep_versions = 5                         # device backups (`lifeboat backup`) kept
//! full_backup_warn_days = 30                # warn when the last full device backup is older
//! full_backup_every_days = 7                # the nightly run makes one itself (iOS before 16.1)
//! backup_destination = "/mnt/backup/devices" # where (default: lifeboat backup's default)
//! afc_window = 8                            # AFC requests in flight at most; 1: one at a time
//!
//! [[phone]]
//! udid = "00008110-001A2B3C4D5E6F70"
//! name = "Ada's iPhone"
//! destination = "/mnt/backup/ada-iphone"
//! layout = "date"                           # date, device, flat or album
//! verify_reads = false                      # read each file twice (catches damage in transit)
//! sidecar = "xmp"                           # NAME.ext.xmp beside each original ("none": off)
//! album_keywords = false                    # album names as keywords in the sidecars
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
pub use transfer::photos::naming::Layout;
pub use transfer::photos::plan::SidecarFormat;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where each run's log goes (default: the platform's state folder, under "logs").
    pub log_dir: Option<PathBuf>,
    /// Where the status file goes (default: the platform's state folder).
    pub state_dir: Option<PathBuf>,
    /// A shell command run after each run, with the JSON summary on its standard input.
    pub notify_command: Option<String>,
    /// Percent of the destination to re-verify after each run (0 for none).
    #[serde(default = "default_sample")]
    pub verify_sample_percent: f64,
    /// `lifeboat status` warns when a phone's last backup is older than this.
    #[serde(default = "default_warn_days")]
    pub warn_after_days: u64,
    /// Versions of a device backup (`lifeboat backup`) kept, the newest included.
    #[serde(default = "default_keep_versions")]
    pub keep_versions: usize,
    /// `lifeboat status` and the nightly notification warn when a phone's last full device
    /// backup is older than this many days (none: no warning).
    pub full_backup_warn_days: Option<u64>,
    /// The nightly run makes a full device backup itself when the last is older than this
    /// many days, on phones that back up without asking for their passcode (before iOS 16.1).
    pub full_backup_every_days: Option<u64>,
    /// Where device backups go (default: [`default_backup_destination`]).
    pub backup_destination: Option<PathBuf>,
    /// AFC requests kept in flight (default 8); 1 for a phone that copes with one at a time.
    pub afc_window: Option<usize>,
    #[serde(default, rename = "phone")]
    pub phones: Vec<Phone>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub udid: String,
    pub name: Option<String>,
    pub destination: PathBuf,
    #[serde(default)]
    pub layout: Layout,
    #[serde(default)]
    pub include_trashed: bool,
    #[serde(default)]
    pub exclude_hidden: bool,
    #[serde(default)]
    pub skip_edited: bool,
    pub album: Option<String>,
    /// Read every file twice and keep it only when both reads agree.
    #[serde(default)]
    pub verify_reads: bool,
    /// A sidecar beside each original (`"xmp"`), or none.
    #[serde(default)]
    pub sidecar: SidecarFormat,
    /// Album names as keywords in the sidecars.
    #[serde(default)]
    pub album_keywords: bool,
}

fn default_sample() -> f64 {
    5.0
}

fn default_warn_days() -> u64 {
    3
}

fn default_keep_versions() -> usize {
    5
}

/// The platform's state folder for lifeboat.
pub fn default_state_dir() -> PathBuf {
    dirs()
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".lifeboat-state"))
}

/// Where Finder, iTunes or the Apple Devices app keep device backups; on Linux, lifeboat's own
/// folder (docs/backup.md §2).
pub fn default_backup_destination() -> PathBuf {
    let base = directories::BaseDirs::new();
    let home = base
        .as_ref()
        .map(|b| b.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        return home.join("Library/Application Support/MobileSync/Backup");
    }
    if cfg!(windows) {
        let apple_devices = home.join("Apple").join("MobileSync").join("Backup");
        if apple_devices.is_dir() {
            return apple_devices;
        }
        let roaming = std::env::var_os("APPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("AppData/Roaming"));
        return roaming.join("Apple Computer").join("MobileSync").join("Backup");
    }
    base.map(|b| b.data_dir().to_path_buf())
        .unwrap_or_else(|| home.join(".local/share"))
        .join("lifeboat")
        .join("backups")
}

/// What `lifeboat backup` reads of the configuration: it needs no `[[phone]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    pub keep_versions: Option<usize>,
    pub state_dir: PathBuf,
    /// `backup_destination`, if set.
    pub destination: Option<PathBuf>,
}

/// [`BackupSettings`] from the file at `path`, if there is one.
pub fn backup_settings(path: &Path) -> Result<BackupSettings, ConfigError> {
    let table = read_table(path)?;
    let state_dir = match table.as_ref().and_then(|t| t.get("state_dir")) {
        Some(toml::Value::String(dir)) => PathBuf::from(dir),
        _ => default_state_dir(),
    };
    let keep_versions = match table.as_ref().and_then(|t| t.get("keep_versions")) {
        None => None,
        Some(toml::Value::Integer(n)) if *n >= 1 => Some(*n as usize),
        Some(other) => {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("keep_versions must be a whole number of at least 1, not {other}"),
            });
        }
    };
    let destination = match table.as_ref().and_then(|t| t.get("backup_destination")) {
        None => None,
        Some(toml::Value::String(dir)) => Some(PathBuf::from(dir)),
        Some(other) => {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("backup_destination must be a folder's path, not {other}"),
            });
        }
    };
    Ok(BackupSettings {
        keep_versions,
        state_dir,
        destination,
    })
}

fn read_table(path: &Path) -> Result<Option<toml::Table>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    toml::from_str(&text).map(Some).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration at {0}: write one (the README shows an example) with a [[phone]] section naming the UDID and destination"
    )]
    Missing(PathBuf),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Phone {
    /// The name to show: the configured one, else the UDID.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.udid)
    }
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "lifeboat")
}

/// `~/.config/lifeboat/config.toml` on Linux, the Application Support folder on macOS.
pub fn default_path() -> PathBuf {
    dirs()
        .map(|d| d.config_dir().join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("lifeboat.toml"))
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ConfigError::Missing(path.to_path_buf())),
            Err(e) => {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if config.phones.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "no [[phone]] is configured".into(),
            });
        }
        if !(0.0..=100.0).contains(&config.verify_sample_percent) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: "verify_sample_percent must be between 0 and 100".into(),
            });
        }
        Ok(config)
    }

    /// The state folder: status file and, by default, logs.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.log_dir.clone().unwrap_or_else(|| self.state_dir().join("logs"))
    }

    pub fn phone(&self, udid: &str) -> Option<&Phone> {
        self.phones.iter().find(|p| p.udid.eq_ignore_ascii_case(udid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_settings_need_no_phone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(backup_settings(&path).unwrap().keep_versions, None);
        std::fs::write(&path, "keep_versions = 9\nstate_dir = \"/var/x\"\n").unwrap();
        let settings = backup_settings(&path).unwrap();
        assert_eq!(settings.keep_versions, Some(9));
        assert_eq!(settings.state_dir, PathBuf::from("/var/x"));
        std::fs::write(&path, "keep_versions = 0\n").unwrap();
        assert!(backup_settings(&path).is_err());
    }

    #[test]
    fn reads_a_config_and_rejects_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert!(matches!(Config::load(&path), Err(ConfigError::Missing(_))));
        std::fs::write(
            &path,
            "notify_command = \"cat\"\n[[phone]]\nudid = \"U1\"\nname = \"Ada\"\ndestination = \"/b\"\nlayout = \"flat\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.phones[0].layout, Layout::Flat);
        assert_eq!(config.verify_sample_percent, 5.0);
        assert_eq!(config.phone("u1").map(Phone::label), Some("Ada"));
        std::fs::write(
            &path,
            "[[phone]]\nudid = \"U1\"\ndestination = \"/b\"\nlayuot = \"flat\"\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("layuot"), "a misspelt key is named: {err}");
        std::fs::write(&path, "warn_after_days = 3\n").unwrap();
        assert!(Config::load(&path).unwrap_err().to_string().contains("no [[phone]]"));
    }

    #[test]
    fn sidecar_keys_are_off_unless_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[[phone]]\nudid = \"U1\"\ndestination = \"/b\"\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.phones[0].sidecar, SidecarFormat::None);
        assert!(!config.phones[0].album_keywords);
        std::fs::write(
            &path,
            "[[phone]]\nudid = \"U1\"\ndestination = \"/b\"\nsidecar = \"xmp\"\nalbum_keywords = true\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.phones[0].sidecar, SidecarFormat::Xmp);
        assert!(config.phones[0].album_keywords);
    }
}
