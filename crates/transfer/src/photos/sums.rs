//! `SHA256SUMS` in every folder of an export, so `sha256sum -c` checks it without lifeboat.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::Path;

use crate::fs::AtomicFile;
use crate::manifest::Manifest;

/// The file's name in each folder.
pub const FILE: &str = "SHA256SUMS";

/// Rewrites `SHA256SUMS` in each of `folders` (relative to `dest`) from the manifest.
pub fn write_sums(dest: &Path, manifest: &Manifest, folders: &BTreeSet<String>) -> io::Result<()> {
    if folders.is_empty() {
        return Ok(());
    }
    let entries = manifest.all().map_err(io::Error::other)?;
    let mut by_folder: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for e in &entries {
        let (folder, name) = e.dest_path.rsplit_once('/').unwrap_or(("", e.dest_path.as_str()));
        by_folder.entry(folder).or_default().push((name, e.sha256.as_str()));
    }
    for folder in folders {
        let lines = by_folder.get(folder.as_str()).cloned().unwrap_or_default();
        let dir = if folder.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(folder)
        };
        let mut file = AtomicFile::create(&dir.join(FILE))?;
        for (name, sha) in lines {
            writeln!(file, "{sha}  {name}")?;
        }
        file.commit(None)?;
    }
    Ok(())
}
