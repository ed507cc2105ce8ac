//! The device backups on this computer (docs/backup.md §2.1, §2.3): where Finder, iTunes,
//! Apple Devices and lifeboat keep them, and what each is, from its plists alone (no file
//! contents are read).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::layout::{self, SNAPSHOT};
use super::plists::{self, PlistError};
use super::size_cache::SizeCache;

/// Where to look on a platform, given the home folder and (on Windows) `%APPDATA%` and
/// `%USERPROFILE%`; `lifeboat_data` is lifeboat's own data folder.
pub fn default_locations(
    os: &str,
    home: Option<&Path>,
    appdata: Option<&Path>,
    userprofile: Option<&Path>,
    lifeboat_data: Option<&Path>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    match os {
        "macos" => {
            if let Some(home) = home {
                out.push(home.join("Library/Application Support/MobileSync/Backup"));
            }
        }
        "windows" => {
            // iTunes from apple.com, then iTunes or Apple Devices from the Microsoft Store.
            if let Some(appdata) = appdata {
                out.push(appdata.join("Apple Computer").join("MobileSync").join("Backup"));
            }
            if let Some(profile) = userprofile.or(home) {
                out.push(profile.join("Apple").join("MobileSync").join("Backup"));
            }
        }
        _ => {}
    }
    if let Some(data) = lifeboat_data {
        out.push(data.join("backups"));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Finished,
    /// Why it looks interrupted: a Snapshot/ left, or Status not finished.
    Interrupted(String),
    /// Status.plist cannot be read.
    Unknown(String),
}

#[derive(Debug, Clone)]
pub struct BackupInfo {
    pub path: PathBuf,
    pub udid: Option<String>,
    pub device_name: Option<String>,
    pub product_type: Option<String>,
    pub product_version: Option<String>,
    pub date: Option<SystemTime>,
    /// Bytes on disk, from the folder listing.
    pub size: u64,
    pub encrypted: Option<bool>,
    pub state: State,
    /// Plists that could not be read, in words.
    pub problems: Vec<String>,
    /// A backup lifeboat made: its versions, oldest first, this folder (the newest) last.
    pub versions: Vec<super::versions::Version>,
}

/// Describes one backup folder from its plists, counting its size.
pub fn describe(dir: &Path) -> BackupInfo {
    describe_sized(dir, crate::fs::tree::size(dir))
}

/// Describes one backup folder of `size` bytes from its plists.
fn describe_sized(dir: &Path, size: u64) -> BackupInfo {
    let mut problems = Vec::new();
    let mut note = |e: PlistError| {
        problems.push(match &e {
            PlistError::Empty(p) if p.ends_with(layout::MANIFEST_PLIST) => super::verify::EMPTY_MANIFEST.to_string(),
            _ => e.to_string(),
        })
    };
    let status = plists::read_status(dir).map_err(&mut note).ok();
    let manifest = plists::read_manifest(dir).map_err(&mut note).ok();
    let info = plists::read_info(dir).map_err(&mut note).ok();
    let pick = |a: Option<String>, b: Option<String>| a.filter(|s| !s.is_empty()).or(b);
    let lockdown = manifest.as_ref().map(|m| m.lockdown.clone()).unwrap_or_default();
    let device = info.as_ref().map(|i| i.device.clone()).unwrap_or_default();
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let state = if dir.join(SNAPSHOT).exists() {
        State::Interrupted("a Snapshot/ folder is left from an interrupted backup".into())
    } else {
        match &status {
            Some(s) if s.finished() => State::Finished,
            Some(s) => State::Interrupted(format!(
                "Status.plist says {:?}, not finished",
                s.snapshot_state.as_deref().unwrap_or("nothing")
            )),
            None => State::Unknown("Status.plist cannot be read".into()),
        }
    };
    BackupInfo {
        path: dir.to_path_buf(),
        udid: pick(
            lockdown.udid,
            pick(
                info.as_ref().and_then(|i| i.target_identifier.clone()),
                folder.filter(|f| layout::looks_like_udid(f)),
            ),
        ),
        device_name: pick(
            lockdown.name,
            pick(device.name, info.as_ref().and_then(|i| i.display_name.clone())),
        ),
        product_type: pick(lockdown.product_type, device.product_type),
        product_version: pick(lockdown.product_version, device.product_version),
        date: status
            .as_ref()
            .and_then(|s| s.date)
            .or(manifest.as_ref().and_then(|m| m.date))
            .or(info.as_ref().and_then(|i| i.last_backup_date)),
        size,
        encrypted: manifest.map(|m| m.is_encrypted),
        state,
        problems,
        versions: own_versions(dir),
    }
}

/// The versions of a backup lifeboat keeps (`DEST/.lifeboat/<UDID>` beside `DEST/<UDID>`).
fn own_versions(dir: &Path) -> Vec<super::versions::Version> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let layout = super::versions::Layout::new(parent, name);
    if !layout.own().is_dir() {
        return Vec::new();
    }
    super::versions::list(&layout)
}

/// Every backup under `roots` (each a backup, or a folder of them), each once, in order.
pub fn find(roots: &[PathBuf]) -> Vec<BackupInfo> {
    find_sized(roots, &mut |d: &Path| crate::fs::tree::size(d))
}

/// [`find`], with sizes from `cache` where a backup has not run since it counted them.
pub fn find_cached(roots: &[PathBuf], cache: &mut SizeCache) -> Vec<BackupInfo> {
    find_sized(roots, &mut |d: &Path| cache.size(d))
}

fn find_sized(roots: &[PathBuf], size_of: &mut dyn FnMut(&Path) -> u64) -> Vec<BackupInfo> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for root in roots {
        for dir in layout::backups_in(root) {
            let key = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen.insert(key.clone()) {
                // Sizes are kept by the folder's real path, however it was reached.
                out.push(describe_sized(&dir, size_of(&key)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let home = Path::new("/home/ada");
        let data = Path::new("/home/ada/.local/share/lifeboat");
        assert_eq!(
            default_locations("linux", Some(home), None, None, Some(data)),
            vec![PathBuf::from("/home/ada/.local/share/lifeboat/backups")]
        );
        assert_eq!(
            default_locations("macos", Some(Path::new("/Users/ada")), None, None, None),
            vec![PathBuf::from(
                "/Users/ada/Library/Application Support/MobileSync/Backup"
            )]
        );
        let win = default_locations(
            "windows",
            None,
            Some(Path::new("C:/AppData")),
            Some(Path::new("C:/Users/ada")),
            None,
        );
        assert_eq!(win.len(), 2);
        assert!(win[0].ends_with("Apple Computer/MobileSync/Backup"));
        assert!(win[1].ends_with("Apple/MobileSync/Backup"));
    }
}
