//! Where things are in a backup folder (docs/backup.md §2.1): `<UDID>/` with the plists,
//! Manifest.db and the blobs at `<fileID[0:2]>/<fileID>`, where fileID is the SHA-1 of
//! `domain-relativePath`.

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

pub const MANIFEST_DB: &str = "Manifest.db";
pub const MANIFEST_PLIST: &str = "Manifest.plist";
pub const STATUS_PLIST: &str = "Status.plist";
pub const INFO_PLIST: &str = "Info.plist";
/// Left behind by an interrupted backup (§1.10).
pub const SNAPSHOT: &str = "Snapshot";

/// fileID = lowercase hex SHA-1 of `domain + "-" + relativePath` (§2.1).
pub fn file_id(domain: &str, relative_path: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(domain.as_bytes());
    sha.update(b"-");
    sha.update(relative_path.as_bytes());
    crate::fs::hash::hex(&sha.finalize())
}

/// 40 lowercase hex digits, the only fileIDs that name a blob.
pub fn is_file_id(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The fileID of a blob path `xx/<fileID>` as its 20 bytes, when the fileID is 40 lower-case
/// hex digits in the folder of its first two; `None` for any other path.
pub fn blob_file_id(blob: &str) -> Option<[u8; 20]> {
    let (folder, id) = blob.split_once('/')?;
    if !is_file_id(id) || id.get(..2) != Some(folder) {
        return None;
    }
    crate::fs::hash::unhex::<20>(id)
}

/// Where a fileID's blob lives, relative to the backup folder; `None` for a fileID that
/// could not name one (so a hostile row cannot point outside the folder).
pub fn blob_path(file_id: &str) -> Option<String> {
    is_file_id(file_id).then(|| format!("{}/{}", &file_id[..2], file_id))
}

/// A folder holding a device backup: Manifest.db or Manifest.plist (§2.1), or what an
/// interrupted first backup leaves (Status.plist, Snapshot/, §1.10).
pub fn is_backup(dir: &Path) -> bool {
    dir.join(MANIFEST_DB).is_file()
        || dir.join(MANIFEST_PLIST).is_file()
        || dir.join(STATUS_PLIST).is_file()
        || dir.join(SNAPSHOT).is_dir()
}

/// The backups at `path`: itself if it is one, else its sub-folders that are, sorted.
pub fn backups_in(path: &Path) -> Vec<PathBuf> {
    if is_backup(path) {
        return vec![path.to_path_buf()];
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && is_backup(p))
        .collect();
    found.sort();
    found
}

/// Whether a folder name looks like a UDID (hex, maybe one dash: 40 or 24+1 characters),
/// as the backup folder's name should be.
pub fn looks_like_udid(name: &str) -> bool {
    let hex = name.bytes().filter(|b| b.is_ascii_hexdigit()).count();
    let dashes = name.bytes().filter(|&b| b == b'-').count();
    hex + dashes == name.len() && dashes <= 1 && (hex == 40 || hex == 24)
}

/// Every file under the blob folders (`00`…`ff`), relative to `dir`, sorted: those with a
/// fileID name in the right folder, and anything else found there.
pub fn blob_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for_each_blob_file(dir, |blob| {
        out.push(blob.to_string());
        Ok(())
    })?;
    Ok(out)
}

/// [`blob_files`] one at a time, in the same order, holding one folder's names at most: a
/// backup of 200,000 files is walked without a list of them all.
pub fn for_each_blob_file(dir: &Path, mut each: impl FnMut(&str) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) && entry.file_type()?.is_dir() {
            folders.push(name);
        }
    }
    // Two-character folder names then `/`: sorting each level sorts the whole.
    folders.sort_unstable();
    let mut names = Vec::new();
    for folder in folders {
        names.clear();
        for inner in std::fs::read_dir(dir.join(&folder))? {
            names.push(format!("{folder}/{}", inner?.file_name().to_string_lossy()));
        }
        names.sort_unstable();
        for name in &names {
            each(name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_id_is_sha1_of_domain_dash_path() {
        // SHA-1("CameraRollDomain-Media/DCIM/100APPLE/IMG_0001.JPG"), backup.md §2.1.
        let id = file_id("CameraRollDomain", "Media/DCIM/100APPLE/IMG_0001.JPG");
        assert!(is_file_id(&id));
        let mut sha = Sha1::new();
        sha.update(b"CameraRollDomain-Media/DCIM/100APPLE/IMG_0001.JPG");
        assert_eq!(id, crate::fs::hash::hex(&sha.finalize()));
        assert_eq!(blob_path(&id).unwrap(), format!("{}/{id}", &id[..2]));
        assert_eq!(file_id("", ""), "3bc15c8aae3e4124dd409035f32ea2fd6835efc9");
        assert!(blob_path("../../etc/passwd").is_none());
        assert!(blob_path(&id.to_uppercase()).is_none());
    }

    #[test]
    fn udid_shapes() {
        assert!(looks_like_udid("00008110-001A2B3C4D5E6F70"));
        assert!(looks_like_udid("0123456789abcdef0123456789abcdef01234567"));
        assert!(!looks_like_udid("my backup"));
        assert!(!looks_like_udid("00008110-001A2B3C4D5E6F70-20240101-120000"));
    }
}
