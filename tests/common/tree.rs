//! Walking folders (on the `walkdir` crate) and hashing what is in them. Symbolic links are
//! never followed: [`files`] lists one as a file (reading it reads its target), and
//! [`regular_files`] fails the test on one or skips it, as asked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

use super::sha_file;

fn entries(root: &Path) -> impl Iterator<Item = DirEntry> + '_ {
    WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(move |e| e.unwrap_or_else(|e| panic!("walking {}: {e}", root.display())))
}

/// `path` relative to `root`, as a string with `/` between folders.
pub fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap().to_string_lossy().into_owned()
}

/// Every file below `root` (every entry but folders); a folder that cannot be read fails
/// the test.
pub fn files(root: &Path) -> Vec<PathBuf> {
    entries(root)
        .filter(|e| !e.file_type().is_dir())
        .map(DirEntry::into_path)
        .collect()
}

/// Like [`files`], but a folder that cannot be read (or a `root` that is not there) is
/// passed over: for folders a killed or cut-off run may have left in any state.
pub fn files_if_readable(root: &Path) -> Vec<PathBuf> {
    WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(DirEntry::into_path)
        .collect()
}

/// What [`regular_files`] does on meeting a symbolic link.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Links {
    /// Fail the test: nothing should have written one.
    Fail,
    /// Pass it over (a phone's links lead outside its folders).
    Skip,
}

/// Regular files below `root`, with symbolic links treated as `links` says.
pub fn regular_files(root: &Path, links: Links) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in entries(root) {
        if entry.path_is_symlink() {
            assert!(
                links == Links::Skip,
                "a symbolic link was written: {}",
                entry.path().display()
            );
            continue;
        }
        if !entry.file_type().is_dir() {
            out.push(entry.into_path());
        }
    }
    out
}

/// SHA-256 of every file below `root`, by relative path.
pub fn hashes(root: &Path) -> BTreeMap<String, String> {
    files(root)
        .into_iter()
        .map(|path| (rel(root, &path), sha_file(&path)))
        .collect()
}

/// The relative paths of an export's files: all below `root` but lifeboat's own (the
/// `.lifeboat` folder at the top and every `SHA256SUMS`).
pub fn exported(root: &Path) -> Vec<String> {
    WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".lifeboat"))
        .map(|e| e.unwrap_or_else(|e| panic!("walking {}: {e}", root.display())))
        .filter(|e| !e.file_type().is_dir())
        .map(|e| rel(root, e.path()))
        .filter(|rel| !rel.ends_with("SHA256SUMS"))
        .collect()
}

/// SHA-256 of each of an export's files ([`exported`]), by relative path.
pub fn exported_hashes(root: &Path) -> BTreeMap<String, String> {
    exported(root)
        .into_iter()
        .map(|rel| {
            let digest = sha_file(&root.join(&rel));
            (rel, digest)
        })
        .collect()
}

/// An export's folders: `root` and every folder below it but lifeboat's `.lifeboat` ones.
pub fn export_dirs(root: &Path) -> Vec<PathBuf> {
    WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !(e.depth() > 0 && e.file_type().is_dir() && e.file_name() == ".lifeboat"))
        .map(|e| e.unwrap_or_else(|e| panic!("walking {}: {e}", root.display())))
        .filter(|e| e.file_type().is_dir())
        .map(DirEntry::into_path)
        .collect()
}
