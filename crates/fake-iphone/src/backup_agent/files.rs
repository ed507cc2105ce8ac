//! The simulated device file system a backup copies (docs/backup.md §2.1, §3): generated
//! HomeDomain, AppDomain-* and KeychainDomain files, deterministic from a seed, and
//! CameraRollDomain read from the media folder (`Media/DCIM/...`, `Media/PhotoData/...`)
//! at the time of each backup. Control commands add, change and delete generated files
//! between runs, so incremental backups have something to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use sha1::{Digest, Sha1};

use super::crypto::BackupKeys;
use crate::config::BackupConfig;

/// The apps whose containers the phone backs up, `AppDomain-<bundle>`.
pub const APPS: &[&str] = &["com.example.notes", "com.example.chat", "com.example.maps"];

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Arc<Vec<u8>>),
    Disk(PathBuf),
}

/// One regular file of the phone.
#[derive(Debug, Clone)]
pub struct DeviceFile {
    pub domain: String,
    pub path: String,
    pub content: Content,
    pub size: u64,
    /// Unix seconds.
    pub modified: i64,
    pub inode: u64,
    pub protection_class: u64,
}

impl DeviceFile {
    /// fileID = SHA-1 of `domain-relativePath`, lowercase hex (docs/backup.md §2.1).
    pub fn file_id(&self) -> String {
        file_id(&self.domain, &self.path)
    }

    /// The phone-side name sent before each upload (docs/backup.md §1.6).
    pub fn device_name(&self) -> String {
        format!("{}-{}", self.domain, self.path)
    }

    pub fn read(&self) -> std::io::Result<Arc<Vec<u8>>> {
        match &self.content {
            Content::Bytes(bytes) => Ok(bytes.clone()),
            Content::Disk(path) => std::fs::read(path).map(Arc::new),
        }
    }
}

pub fn file_id(domain: &str, path: &str) -> String {
    let digest = Sha1::digest(format!("{domain}-{path}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A small deterministic generator (splitmix64): the same seed gives the same phone.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The generated files, keyed by (domain, path). CameraRollDomain is not kept here: it is
/// whatever the media folder holds when a backup starts.
#[derive(Debug, Default)]
pub struct DeviceFiles {
    files: BTreeMap<(String, String), DeviceFile>,
    seed: u64,
    /// Bumped by every change, so changed files get new bytes and a new time.
    generation: u64,
    next_inode: u64,
    kdf_rounds: (u32, u32),
    /// HealthDomain: backed up only when encrypted (docs/backup-encryption.md §9).
    health: Vec<DeviceFile>,
    encryption: Option<Encryption>,
}

/// The backup password and, once derived, its keys.
#[derive(Clone)]
struct Encryption {
    password: String,
    keys: Option<BackupKeys>,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encryption { .. }")
    }
}

/// The clock of generated files: a fixed start, one second per change.
const EPOCH: i64 = 1_717_000_000;

impl DeviceFiles {
    /// `config.files` files of `config.bytes` bytes in all, spread over the domains.
    pub fn generate(config: &BackupConfig) -> DeviceFiles {
        let mut files = DeviceFiles {
            seed: config.seed,
            next_inode: 100_000,
            kdf_rounds: config.kdf_rounds,
            encryption: config
                .password
                .clone()
                .map(|password| Encryption { password, keys: None }),
            ..DeviceFiles::default()
        };
        let count = config.files as u64;
        let mut mix = Mix(config.seed);
        let mut left = config.bytes;
        for i in 0..count {
            let (domain, path) = generated_name(i);
            // Sizes vary around the mean; the last file takes what is left.
            let mean = left / (count - i);
            let size = if i + 1 == count {
                left
            } else {
                (mean / 2 + mix.next() % (mean + 1)).min(left)
            };
            left -= size;
            files.put(&domain, &path, size as usize);
        }
        for (i, name) in ["Health/healthdb.sqlite", "Health/healthdb_secure.sqlite"]
            .iter()
            .enumerate()
        {
            let bytes = files.content("HealthDomain", name, 2_000 + 1_000 * i);
            files.next_inode += 1;
            files.health.push(DeviceFile {
                domain: "HealthDomain".into(),
                path: (*name).into(),
                size: bytes.len() as u64,
                content: Content::Bytes(Arc::new(bytes)),
                modified: EPOCH,
                inode: files.next_inode,
                protection_class: 3,
            });
        }
        files
    }

    /// Whether backups are encrypted (lockdown's `WillEncrypt`).
    pub fn will_encrypt(&self) -> bool {
        self.encryption.is_some()
    }

    pub fn password(&self) -> Option<&str> {
        self.encryption.as_ref().map(|e| e.password.as_str())
    }

    /// Sets or clears the backup password; a new password gets a new keybag.
    pub fn set_password(&mut self, password: Option<String>) {
        self.encryption = password.map(|password| Encryption { password, keys: None });
    }

    /// The keys of the current password, derived on first use (the KDF is slow on purpose).
    pub fn keys(&mut self) -> Option<BackupKeys> {
        let (dpic, iter) = self.kdf_rounds;
        let encryption = self.encryption.as_mut()?;
        let keys = encryption
            .keys
            .get_or_insert_with(|| BackupKeys::new(&encryption.password, dpic, iter));
        Some(keys.clone())
    }

    fn content(&self, domain: &str, path: &str, size: usize) -> Vec<u8> {
        let mut mix = Mix(self.seed
            ^ u64::from_le_bytes(file_id(domain, path).as_bytes()[..8].try_into().unwrap_or([0; 8]))
            ^ self.generation.wrapping_mul(0x1000_0001));
        mix.bytes(size)
    }

    fn put(&mut self, domain: &str, path: &str, size: usize) {
        let bytes = self.content(domain, path, size);
        self.put_bytes(domain, path, bytes);
    }

    fn put_bytes(&mut self, domain: &str, path: &str, bytes: Vec<u8>) {
        let key = (domain.to_string(), path.to_string());
        let inode = match self.files.get(&key) {
            Some(old) => old.inode,
            None => {
                self.next_inode += 1;
                self.next_inode
            }
        };
        // Ordinary files in classes 3 and 4 (docs/backup-encryption.md §7 step 4).
        let protection_class = if domain == "KeychainDomain" { 4 } else { 3 };
        self.files.insert(
            key,
            DeviceFile {
                domain: domain.to_string(),
                path: path.to_string(),
                size: bytes.len() as u64,
                content: Content::Bytes(Arc::new(bytes)),
                modified: EPOCH + self.generation as i64,
                inode,
                protection_class,
            },
        );
    }

    /// Adds a file of `size` generated bytes (or replaces one).
    pub fn add(&mut self, domain: &str, path: &str, size: usize) {
        self.generation += 1;
        self.put(domain, path, size);
    }

    /// Adds a file with these bytes (or replaces one).
    pub fn add_bytes(&mut self, domain: &str, path: &str, bytes: Vec<u8>) {
        self.generation += 1;
        self.put_bytes(domain, path, bytes);
    }

    /// Gives a file new bytes of the same size and a new modification time.
    pub fn change(&mut self, domain: &str, path: &str) -> bool {
        let Some(size) = self.files.get(&(domain.to_string(), path.to_string())).map(|f| f.size) else {
            return false;
        };
        self.generation += 1;
        self.put(domain, path, size as usize);
        true
    }

    /// Changes `count` generated files (or all of them, if fewer), spread evenly over the
    /// files in (domain, path) order, so the same phone always changes the same ones. Returns
    /// how many changed and their bytes, which an incremental backup must upload.
    pub fn change_some(&mut self, count: usize) -> (usize, u64) {
        let keys: Vec<(String, String)> = self.files.keys().cloned().collect();
        let count = count.min(keys.len());
        let mut bytes = 0;
        for i in 0..count {
            let (domain, path) = &keys[i * keys.len() / count];
            self.change(domain, path);
            bytes += self.files[&(domain.clone(), path.clone())].size;
        }
        (count, bytes)
    }

    pub fn delete(&mut self, domain: &str, path: &str) -> bool {
        self.files.remove(&(domain.to_string(), path.to_string())).is_some()
    }

    /// Every file a backup copies now: the generated ones and the media folder's camera roll.
    pub fn snapshot(&self, media: &Path) -> Vec<DeviceFile> {
        let mut out: Vec<DeviceFile> = self.files.values().cloned().collect();
        if self.will_encrypt() {
            out.extend(self.health.iter().cloned());
        }
        for sub in ["DCIM", "PhotoData"] {
            camera_roll(media, &media.join(sub), &mut out);
        }
        out.sort_by(|a, b| (&a.domain, &a.path).cmp(&(&b.domain, &b.path)));
        out
    }
}

/// The i-th generated file's domain and path.
fn generated_name(i: u64) -> (String, String) {
    match i % 5 {
        0 => (
            "HomeDomain".into(),
            format!("Library/Preferences/com.apple.pref{i:04}.plist"),
        ),
        1 => (
            "HomeDomain".into(),
            format!("Library/SMS/Attachments/{:02x}/att{i:04}.dat", i % 16),
        ),
        2 | 3 => {
            let app = APPS[(i as usize / 5) % APPS.len()];
            (format!("AppDomain-{app}"), format!("Documents/doc{i:04}.bin"))
        }
        _ => ("KeychainDomain".into(), format!("keychain-{i:04}.plist")),
    }
}

/// Regular files under `dir`, as CameraRollDomain `Media/...` entries.
fn camera_roll(media: &Path, dir: &Path, out: &mut Vec<DeviceFile>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            camera_roll(media, &path, out);
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let Some(relative) = path.strip_prefix(media).ok().and_then(Path::to_str) else {
            continue;
        };
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(EPOCH);
        out.push(DeviceFile {
            domain: "CameraRollDomain".into(),
            path: format!("Media/{}", relative.replace('\\', "/")),
            content: Content::Disk(path.clone()),
            size: meta.len(),
            modified,
            inode,
            protection_class: 3,
        });
    }
}

/// The directories that hold `files`, per domain (`Media`, `Media/DCIM`, ...).
pub fn directories(files: &[DeviceFile]) -> Vec<(String, String)> {
    let mut dirs = std::collections::BTreeSet::new();
    for file in files {
        let mut path = file.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            dirs.insert((file.domain.clone(), parent.to_string()));
            path = parent;
        }
    }
    dirs.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_phone() {
        let config = BackupConfig {
            files: 10,
            bytes: 10_000,
            ..BackupConfig::default()
        };
        let a = DeviceFiles::generate(&config).snapshot(Path::new("/nonexistent"));
        let b = DeviceFiles::generate(&config).snapshot(Path::new("/nonexistent"));
        assert_eq!(a.len(), 10);
        assert_eq!(a.iter().map(|f| f.size).sum::<u64>(), 10_000);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.read().unwrap(), y.read().unwrap());
        }
        assert!(a.iter().any(|f| f.domain.starts_with("AppDomain-")));
        assert!(a.iter().any(|f| f.domain == "KeychainDomain"));
    }

    #[test]
    fn change_some_changes_that_many_files_spread_over_the_domains() {
        let config = BackupConfig {
            files: 100,
            bytes: 100_000,
            ..BackupConfig::default()
        };
        let mut files = DeviceFiles::generate(&config);
        let before = files.snapshot(Path::new("/x"));
        let (count, bytes) = files.change_some(10);
        let after = files.snapshot(Path::new("/x"));
        let changed: Vec<&DeviceFile> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a.read().unwrap() != b.read().unwrap())
            .map(|(_, b)| b)
            .collect();
        assert_eq!(count, 10);
        assert_eq!(changed.len(), 10);
        assert_eq!(bytes, changed.iter().map(|f| f.size).sum::<u64>());
        assert!(changed.iter().any(|f| f.domain == "HomeDomain"));
        assert!(changed.iter().any(|f| f.domain != "HomeDomain"));
        // Deterministic: the same phone changes the same files.
        let mut again = DeviceFiles::generate(&config);
        again.change_some(10);
        let again = again.snapshot(Path::new("/x"));
        for (x, y) in after.iter().zip(&again) {
            assert_eq!((&x.domain, &x.path, x.size), (&y.domain, &y.path, y.size));
        }
        assert_eq!(DeviceFiles::generate(&config).change_some(1_000).0, 100);
        assert_eq!(DeviceFiles::generate(&config).change_some(0), (0, 0));
    }

    #[test]
    fn changes_give_new_bytes_and_time() {
        let mut files = DeviceFiles::generate(&BackupConfig::default());
        let first = files.snapshot(Path::new("/x"))[0].clone();
        assert!(files.change(&first.domain, &first.path));
        let again = files.snapshot(Path::new("/x"))[0].clone();
        assert_ne!(first.read().unwrap(), again.read().unwrap());
        assert!(again.modified > first.modified);
        assert_eq!(
            file_id("CameraRollDomain", "Media/DCIM/100APPLE/IMG_0001.JPG").len(),
            40
        );
    }
}
