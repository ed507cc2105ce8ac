//! One stored file in several folders (the album layout): a hard link, so a photo in five
//! albums takes its space once and every folder holds a real file any program can open;
//! where the disk has no hard links (exFAT, FAT32, some network shares), a checked copy.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use crate::fs::AtomicFile;
use crate::fs::hash::{hex, sha256_file};
use crate::manifest::Entry;
use crate::photos::plan::ExportReport;

/// Makes the planned links to files already exported (photos added to an album since),
/// reading the local file for its SHA-256, never the phone. Returns their manifest rows;
/// folders written to are added to `touched`. A link that cannot be made is reported as
/// failed and the run goes on.
pub(crate) fn make_planned(dest: &Path, report: &mut ExportReport, touched: &mut BTreeSet<String>) -> Vec<Entry> {
    let mut rows = Vec::new();
    let planned = std::mem::take(&mut report.links_planned);
    for link in &planned {
        let (from, to) = (dest.join(&link.from), dest.join(&link.to));
        let made = sha256_file(&from).map(|digest| hex(&digest)).and_then(|sha| {
            if let Some(folder) = to.parent() {
                std::fs::create_dir_all(folder)?;
            }
            link_or_copy(&from, &to, &sha)?;
            crate::fs::sync_dir(to.parent().unwrap_or(dest))?;
            Ok(sha)
        });
        match made {
            Ok(sha) => {
                rows.push(Entry {
                    asset_id: link.asset_id.clone(),
                    role: link.role.as_str().into(),
                    device_path: link.device_path.clone(),
                    size: link.size,
                    device_mtime_ns: link.device_mtime_ns,
                    capture_date: link.capture_date,
                    sha256: sha,
                    dest_path: link.to.clone(),
                });
                touched.insert(link.to.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default());
                report.links_made.push(link.to.clone());
            }
            Err(e) => report
                .failed
                .push((format!("{} -> {}", link.from, link.to), e.to_string())),
        }
    }
    report.links_planned = planned;
    rows
}

/// Makes `link` hold the same bytes as `stored`, whose SHA-256 is `sha` (hex). A file
/// already at `link` with those bytes (a killed run's) is kept; a different one is an error.
pub fn link_or_copy(stored: &Path, link: &Path, sha: &str) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.is_file() && hex(&sha256_file(link)?) == sha => return Ok(()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a different file took this name since the plan",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if std::fs::hard_link(stored, link).is_ok() {
        return Ok(());
    }
    let mut copy = AtomicFile::create(link)?;
    io::copy(&mut std::fs::File::open(stored)?, &mut copy)?;
    let modified = std::fs::metadata(stored)?.modified().ok();
    copy.commit_leaving_folder(modified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_share_the_file_and_refuse_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let stored = dir.path().join("a.jpg");
        std::fs::write(&stored, b"photo").unwrap();
        let sha = hex(&sha256_file(&stored).unwrap());
        let link = dir.path().join("b.jpg");
        link_or_copy(&stored, &link, &sha).unwrap();
        assert_eq!(std::fs::read(&link).unwrap(), b"photo");
        // Again: already there.
        link_or_copy(&stored, &link, &sha).unwrap();
        let other = dir.path().join("c.jpg");
        std::fs::write(&other, b"other").unwrap();
        assert!(link_or_copy(&stored, &other, &sha).is_err());
    }
}
