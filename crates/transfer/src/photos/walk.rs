//! Listing the phone's photo folders (or a backup's, through the same [`FileSource`]):
//! every file under DCIM, PhotoData/CPLAssets and PhotoData/Mutations with its size and
//! time, GetFileInfo requests kept in flight.

use afc::client::AfcError;
use afc::kv::FileKind;

use crate::fs::names;
pub use crate::photos::plan::Skip;
use crate::source::FileSource;

/// GetFileInfo requests in flight. Each is a few dozen bytes each way, so per-request
/// latency, not the link, bounds a walk: 50,000 files at 0.5 ms take 25 s one at a time.
/// The window is topped up once half of it has drained, so about three quarters of it is in
/// flight: with 64, a 200,000-file walk at 0.5 ms spent 2 s waiting, with 128 about 1 s. The
/// requests hold no handle on the phone and 128 of them are about 10 KB on the wire; a user's
/// `--afc-window` caps them, and a phone that drops them gets one at a time (docs/protocol.md
/// §3.6).
const INFO_WINDOW: usize = 128;

/// A file on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFile {
    /// Relative to the media root, without a leading `/`: `DCIM/100APPLE/IMG_0001.HEIC`.
    pub path: String,
    pub size: u64,
    pub mtime_ns: u64,
}

/// Entries a walk passed over.
pub type Skipped = Vec<Skip>;

fn left_behind(path: &str, reason: &str) -> Skip {
    Skip {
        path: path.to_string(),
        reason: reason.to_string(),
        left_behind: true,
    }
}

/// Files below `roots` (missing roots are fine: not every phone has every folder).
pub fn walk(source: &mut dyn FileSource, roots: &[&str]) -> Result<(Vec<DeviceFile>, Skipped), AfcError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut queue: Vec<String> = Vec::new();
    for root in roots {
        match source.file_info(root) {
            Ok(info) if info.kind == FileKind::Directory => queue.push(root.to_string()),
            Ok(_) => skipped.push(left_behind(root, "not a folder")),
            Err(AfcError::Status { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    while let Some(dir) = queue.pop() {
        let mut children = Vec::new();
        for name in source.list_dir(&dir)? {
            let path = format!("{dir}/{name}");
            // Any name a phone can hold is kept; the local name is made safe when planned.
            match names::check_listed(&name) {
                Ok(_) => children.push(path),
                Err(reason) => skipped.push(left_behind(&path, &reason.to_string())),
            }
        }
        let infos = source.file_infos(&children, INFO_WINDOW)?;
        for (path, info) in children.into_iter().zip(infos) {
            match info {
                Ok(info) if info.kind == FileKind::Directory => queue.push(path),
                Ok(info) if info.kind == FileKind::File => files.push(DeviceFile {
                    path,
                    size: info.size,
                    mtime_ns: info.mtime_ns,
                }),
                Ok(info) if info.kind == FileKind::Symlink => skipped.push(Skip {
                    path,
                    reason: "a symbolic link (not followed; it is not a photo)".into(),
                    left_behind: false,
                }),
                Ok(_) => skipped.push(left_behind(&path, "not a regular file")),
                Err(AfcError::Status { status, .. }) => skipped.push(left_behind(&path, &status.to_string())),
                Err(e) => return Err(e),
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, skipped))
}
