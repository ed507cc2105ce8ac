//! lifeboat's own manifest of a backup version: the SHA-256 of every file, taken as the
//! device sent it (issue 16 §3). Kept outside `<UDID>` so Finder and the other tools never
//! see it, in `sha256sum` format with paths relative to the version's folder, so
//! `cd DEST/<UDID> && sha256sum -c ../.lifeboat/<UDID>/manifests/<VERSION>.sha256` checks
//! the newest version with nothing but coreutils.

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;
use std::path::Path;

use crate::fs::hash::hex;

/// Path (relative, `/`-separated) → SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests {
    map: BTreeMap<String, [u8; 32]>,
}

impl Digests {
    pub fn get(&self, path: &str) -> Option<&[u8; 32]> {
        self.map.get(path)
    }

    pub fn insert(&mut self, path: String, digest: [u8; 32]) {
        self.map.insert(path, digest);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &[u8; 32])> {
        self.map.iter()
    }

    /// The keys of `path` and of everything below it, found by range (the keys below
    /// `path/` sort together, before `path0`, as '0' follows '/'): a rename per file of a
    /// full backup stays O(k log n), not a scan of the whole map.
    fn keys_of_tree(&self, path: &str) -> Vec<String> {
        let below = format!("{path}/");
        let end = format!("{path}0");
        let mut keys: Vec<String> = self
            .map
            .range::<str, _>((Bound::Included(below.as_str()), Bound::Excluded(end.as_str())))
            .map(|(k, _)| k.clone())
            .collect();
        if self.map.contains_key(path) {
            keys.push(path.to_string());
        }
        keys
    }

    /// Forgets `path` and everything below it.
    pub fn remove_tree(&mut self, path: &str) {
        for key in self.keys_of_tree(path) {
            self.map.remove(&key);
        }
    }

    /// The entries of `from` and below it, renamed to `to`.
    fn tree(&self, from: &str, to: &str) -> Vec<(String, [u8; 32])> {
        self.keys_of_tree(from)
            .into_iter()
            .filter_map(|key| {
                let digest = *self.map.get(&key)?;
                let renamed = match key.strip_prefix(from).and_then(|rest| rest.strip_prefix('/')) {
                    Some(rest) => format!("{to}/{rest}"),
                    None => to.to_string(),
                };
                Some((renamed, digest))
            })
            .collect()
    }

    /// Follows a rename that replaced `to`.
    pub fn rename_tree(&mut self, from: &str, to: &str) {
        let moved = self.tree(from, to);
        self.remove_tree(from);
        self.remove_tree(to);
        self.map.extend(moved);
    }

    /// Follows a copy that replaced `to`.
    pub fn copy_tree(&mut self, from: &str, to: &str) {
        let copied = self.tree(from, to);
        self.remove_tree(to);
        self.map.extend(copied);
    }

    /// `sha256sum` lines; a name with a newline is escaped the way GNU sha256sum does.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (path, digest) in &self.map {
            if path.contains('\n') {
                out.push('\\');
            }
            out.push_str(&hex(digest));
            out.push_str("  ");
            out.push_str(&path.replace('\n', "\\n"));
            out.push('\n');
        }
        out
    }

    pub fn parse(text: &str) -> Digests {
        let mut digests = Digests::default();
        for line in text.lines() {
            let (escaped, line) = match line.strip_prefix('\\') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let Some((sum, path)) = line.split_once("  ") else {
                continue;
            };
            let Some(digest) = unhex(sum) else { continue };
            let path = if escaped {
                path.replace("\\n", "\n")
            } else {
                path.to_string()
            };
            digests.insert(path, digest);
        }
        digests
    }

    /// Reads a manifest; a missing one is empty.
    pub fn load(path: &Path) -> io::Result<Digests> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Digests::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Digests::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        atomic_file::write(path, self.to_text().as_bytes(), atomic_file::Access::Normal)
    }
}

/// What lifeboat recorded of a backup folder, for `verify`.
#[derive(Debug)]
pub enum OwnHashes {
    /// lifeboat did not make this folder (or its manifest is gone).
    None,
    /// lifeboat made it, but another tool (an `idevicebackup2` run, Finder) changed it since:
    /// its Manifest.db is not the one recorded, so the recorded hashes no longer apply.
    Changed,
    Found(Digests),
}

/// The SHA-256s lifeboat recorded when it made the backup folder `dir`, if they still apply.
pub fn own_hashes(dir: &Path) -> OwnHashes {
    let Some(manifest) = super::versions::own_manifest_of(dir) else {
        return OwnHashes::None;
    };
    let digests = match Digests::load(&manifest) {
        Ok(d) if !d.is_empty() => d,
        _ => return OwnHashes::None,
    };
    let now = crate::fs::hash::sha256_file(&dir.join(super::layout::MANIFEST_DB)).ok();
    match (digests.get(super::layout::MANIFEST_DB), now) {
        (Some(recorded), Some(now)) if *recorded == now => OwnHashes::Found(digests),
        _ => OwnHashes::Changed,
    }
}

impl super::verify::RecordedHashes for Digests {
    fn sha256(&self, file_id: &str) -> Option<[u8; 32]> {
        // Blobs are stored as `xx/<fileID>`, xx its first two characters.
        let prefix = file_id.get(..2)?;
        self.get(&format!("{prefix}/{file_id}")).copied()
    }
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_trees_follow_renames() {
        let mut d = Digests::default();
        d.insert("Snapshot/ab/x".into(), [1; 32]);
        d.insert("Snapshot/ab/y".into(), [2; 32]);
        d.insert("odd\nname".into(), [3; 32]);
        d.insert("Manifest.db".into(), [4; 32]);
        assert_eq!(Digests::parse(&d.to_text()), d);
        d.rename_tree("Snapshot/ab", "ab");
        assert_eq!(d.get("ab/x"), Some(&[1; 32]));
        assert_eq!(d.get("Snapshot/ab/x"), None);
        d.copy_tree("ab/y", "ab/z");
        assert_eq!(d.get("ab/z"), Some(&[2; 32]));
        d.remove_tree("ab");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn trees_are_exact_about_their_prefix() {
        let mut d = Digests::default();
        for path in ["a", "a/x", "a/y/z", "a-b", "a.b/x", "a0", "ab", "b/a/x"] {
            d.insert(path.into(), [path.len() as u8; 32]);
        }
        d.rename_tree("a", "c");
        let mut keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["a-b", "a.b/x", "a0", "ab", "b/a/x", "c", "c/x", "c/y/z"]);
        assert_eq!(d.get("c/y/z"), Some(&[5; 32]));
        // A rename onto a tree replaces it whole.
        d.insert("c/old".into(), [9; 32]);
        d.rename_tree("ab", "c");
        assert_eq!(d.get("c"), Some(&[2; 32]));
        assert_eq!(d.get("c/old"), None);
        assert_eq!(d.get("c/x"), None);
    }
}
