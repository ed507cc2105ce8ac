//! lifeboat's own manifest of a backup version: the SHA-256 of every file, taken as the
//! device sent it (issue 16 §3). Kept outside `<UDID>` so Finder and the other tools never
//! see it, in `sha256sum` format with paths relative to the version's folder, so
//! `cd DEST/<UDID> && sha256sum -c ../.lifeboat/<UDID>/manifests/<VERSION>.sha256` checks
//! the newest version with nothing but coreutils.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use super::layout;
use crate::fs::hash::{hex_into, unhex};

/// Path (relative, `/`-separated) → SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests {
    map: BTreeMap<Key, [u8; 32]>,
}

/// A manifest path, held as 21 bytes where it is a blob (`xx/<fileID>`, or the same under
/// `Snapshot/`, as nearly every path of a backup is) and as text otherwise: an entry costs
/// about half of what a `String` key did, so a backup of 300,000 files keeps its digests
/// in about 25 MB. Ordered as the text is, so a range of text still finds a whole tree.
#[derive(Debug, Clone)]
enum Key {
    Blob { in_snapshot: bool, id: [u8; 20] },
    Text(Box<str>),
}

/// "Snapshot/xx/" and 40 hex digits: the longest path a blob key stands for.
const BLOB_TEXT_MAX: usize = SNAPSHOT_PREFIX.len() + 3 + 40;
const SNAPSHOT_PREFIX: &str = "Snapshot/";

impl Key {
    /// The key for `path`: every path that names a blob becomes a blob key, so no two keys
    /// stand for the same text.
    fn new(path: impl AsRef<str> + Into<Box<str>>) -> Key {
        let text = path.as_ref();
        let (in_snapshot, blob) = match text.strip_prefix(SNAPSHOT_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        match layout::blob_file_id(blob) {
            // `blob_file_id` takes lower-case digits only, so the text is rebuilt exactly.
            Some(id) => Key::Blob { in_snapshot, id },
            None => Key::Text(path.into()),
        }
    }

    /// Runs `f` on the key's text (a blob's is built on the stack).
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Key::Text(text) => f(text),
            Key::Blob { in_snapshot, id } => {
                let mut buf = [0u8; BLOB_TEXT_MAX];
                let mut len = 0;
                if *in_snapshot {
                    buf[..SNAPSHOT_PREFIX.len()].copy_from_slice(SNAPSHOT_PREFIX.as_bytes());
                    len = SNAPSHOT_PREFIX.len();
                }
                hex_into(&id[..1], &mut buf[len..len + 2]);
                buf[len + 2] = b'/';
                hex_into(id, &mut buf[len + 3..len + 43]);
                len += 43;
                // ASCII throughout.
                f(std::str::from_utf8(&buf[..len]).unwrap_or_default())
            }
        }
    }

    fn text(&self) -> String {
        self.with_text(str::to_string)
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        match (self, other) {
            // Lower-case hex sorts as its bytes do, and `xx/` repeats the first byte.
            (Key::Blob { in_snapshot: a, id: x }, Key::Blob { in_snapshot: b, id: y }) if a == b => x.cmp(y),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            _ => self.with_text(|a| other.with_text(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Key {}

impl Digests {
    pub fn get(&self, path: &str) -> Option<&[u8; 32]> {
        self.map.get(&Key::new(path))
    }

    pub fn insert(&mut self, path: String, digest: [u8; 32]) {
        self.map.insert(Key::new(path), digest);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The keys of `path` and of everything below it, found by range (the keys below
    /// `path/` sort together, before `path0`, as '0' follows '/'): a rename per file of a
    /// full backup stays O(k log n), not a scan of the whole map.
    fn keys_of_tree(&self, path: &str) -> Vec<Key> {
        let below = Key::new(format!("{path}/"));
        let end = Key::new(format!("{path}0"));
        let mut keys: Vec<Key> = self.map.range(below..end).map(|(k, _)| k.clone()).collect();
        let itself = Key::new(path);
        if self.map.contains_key(&itself) {
            keys.push(itself);
        }
        keys
    }

    /// Keeps only the entries whose path `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.map.retain(|key, _| key.with_text(&mut keep));
    }

    /// Forgets `path` and everything below it.
    pub fn remove_tree(&mut self, path: &str) {
        for key in self.keys_of_tree(path) {
            self.map.remove(&key);
        }
    }

    /// The entries of `from` and below it, renamed to `to`.
    fn tree(&self, from: &str, to: &str) -> Vec<(Key, [u8; 32])> {
        self.keys_of_tree(from)
            .into_iter()
            .filter_map(|key| {
                let digest = *self.map.get(&key)?;
                let text = key.text();
                let renamed = match text.strip_prefix(from).and_then(|rest| rest.strip_prefix('/')) {
                    Some(rest) => format!("{to}/{rest}"),
                    None => to.to_string(),
                };
                Some((Key::new(renamed), digest))
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

    /// Every path, in order.
    #[cfg(test)]
    fn paths(&self) -> Vec<String> {
        self.map.keys().map(Key::text).collect()
    }

    /// The manifest's text, as [`save`](Self::save) writes it.
    #[cfg(test)]
    fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.write_text(&mut out).expect("writing to memory");
        String::from_utf8(out).expect("paths are UTF-8")
    }

    /// `sha256sum` lines; a name with a newline is escaped the way GNU sha256sum does.
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut sum = [0u8; 64];
        for (key, digest) in &self.map {
            key.with_text(|path| {
                let escaped = path.contains('\n');
                if escaped {
                    out.write_all(b"\\")?;
                }
                hex_into(digest, &mut sum);
                out.write_all(&sum)?;
                out.write_all(b"  ")?;
                if escaped {
                    out.write_all(path.replace('\n', "\\n").as_bytes())?;
                } else {
                    out.write_all(path.as_bytes())?;
                }
                out.write_all(b"\n")
            })?;
        }
        Ok(())
    }

    /// Reads a manifest line by line; a missing one is empty.
    pub fn load(path: &Path) -> io::Result<Digests> {
        let mut digests = Digests::default();
        for_each_line(path, |path, digest| {
            digests.insert(path, digest);
        })?;
        Ok(digests)
    }

    /// Writes the manifest as it goes, atomically: at 200,000 files its text (11 MB per
    /// 100,000) is never held whole.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        atomic_file::write_with(path, atomic_file::Access::Normal, |out| self.write_text(out))
    }
}

/// One `sha256sum` line as (path, digest); `None` for a line that is not one.
fn parse_line(line: &str) -> Option<(String, [u8; 32])> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (sum, path) = line.split_once("  ")?;
    let digest = unhex::<32>(sum)?;
    let path = if escaped {
        path.replace("\\n", "\n")
    } else {
        path.to_string()
    };
    Some((path, digest))
}

/// Every entry of the manifest at `path`, read a line at a time; a missing file has none.
fn for_each_line(path: &Path, mut each: impl FnMut(String, [u8; 32])) -> io::Result<()> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some((path, digest)) = parse_line(line.trim_end_matches(['\n', '\r'])) {
            each(path, digest);
        }
    }
}

/// The recorded SHA-256s of a backup version as `verify` reads them: blobs (`xx/<fileID>`)
/// by their 20-byte fileID in one sorted array, 52 bytes each, and the few other files by
/// path. A `Digests` map takes about three times as much per file.
#[derive(Debug, Default)]
pub struct Recorded {
    blobs: Vec<([u8; 20], [u8; 32])>,
    others: BTreeMap<String, [u8; 32]>,
}

impl Recorded {
    pub fn load(path: &Path) -> io::Result<Recorded> {
        let mut recorded = Recorded::default();
        for_each_line(path, |path, digest| match layout::blob_file_id(&path) {
            Some(id) => recorded.blobs.push((id, digest)),
            None => {
                recorded.others.insert(path, digest);
            }
        })?;
        recorded.blobs.sort_unstable_by_key(|blob| blob.0);
        // The last line for a path wins, as in a map.
        recorded.blobs.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        recorded.blobs.shrink_to_fit();
        Ok(recorded)
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty() && self.others.is_empty()
    }

    /// The digest recorded for `path`, relative to the version's folder. (Paths that are not
    /// a blob of a lower-case fileID in its own folder are kept by name, so no two paths
    /// share a key.)
    pub fn get(&self, path: &str) -> Option<[u8; 32]> {
        match layout::blob_file_id(path) {
            Some(id) => self.blob(&id),
            None => self.others.get(path).copied(),
        }
    }

    fn blob(&self, file_id: &[u8; 20]) -> Option<[u8; 32]> {
        super::verify::RecordedHashes::sha256(self, file_id)
    }
}

/// What lifeboat recorded of a backup folder, for `verify`.
#[derive(Debug)]
pub enum OwnHashes {
    /// lifeboat did not make this folder (or its manifest is gone).
    None,
    /// lifeboat made it, but another tool (an `idevicebackup2` run, Finder) changed it since:
    /// its Manifest.db and Status.plist are not the ones recorded (a backup run rewrites
    /// both), so the recorded hashes no longer apply.
    Changed,
    /// lifeboat made it, and no backup has run since (Status.plist is as recorded), yet its
    /// Manifest.db is not the one recorded: damage to the database, not another tool's run.
    /// The blobs are still the ones lifeboat received.
    DatabaseChanged(Recorded),
    Found(Recorded),
}

/// The SHA-256s lifeboat recorded when it made the backup folder `dir`, if they still apply.
pub fn own_hashes(dir: &Path) -> OwnHashes {
    let Some(manifest) = super::versions::own_manifest_of(dir) else {
        return OwnHashes::None;
    };
    let recorded = match Recorded::load(&manifest) {
        Ok(r) if !r.is_empty() => r,
        _ => return OwnHashes::None,
    };
    let as_recorded = |name: &str| {
        let now = crate::fs::hash::sha256_file(&dir.join(name)).ok();
        now.is_some() && recorded.get(name) == now
    };
    if as_recorded(layout::MANIFEST_DB) {
        OwnHashes::Found(recorded)
    } else if as_recorded(layout::STATUS_PLIST) {
        OwnHashes::DatabaseChanged(recorded)
    } else {
        OwnHashes::Changed
    }
}

impl super::verify::RecordedHashes for Recorded {
    fn blobs(&self) -> &[([u8; 20], [u8; 32])] {
        &self.blobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::hash::hex;

    #[test]
    fn text_round_trips_and_trees_follow_renames() {
        let mut d = Digests::default();
        d.insert("Snapshot/ab/x".into(), [1; 32]);
        d.insert("Snapshot/ab/y".into(), [2; 32]);
        d.insert("odd\nname".into(), [3; 32]);
        d.insert("Manifest.db".into(), [4; 32]);
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("v.sha256");
        d.save(&manifest).unwrap();
        assert_eq!(Digests::load(&manifest).unwrap(), d);
        d.rename_tree("Snapshot/ab", "ab");
        assert_eq!(d.get("ab/x"), Some(&[1; 32]));
        assert_eq!(d.get("Snapshot/ab/x"), None);
        d.copy_tree("ab/y", "ab/z");
        assert_eq!(d.get("ab/z"), Some(&[2; 32]));
        d.remove_tree("ab");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn a_saved_manifest_loads_as_a_map_and_as_verify_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifests/v1.sha256");
        let id = "3bc15c8aae3e4124dd409035f32ea2fd6835efc9";
        let upper = id.to_uppercase();
        let mut d = Digests::default();
        d.insert(format!("3b/{id}"), [1; 32]);
        d.insert(format!("3B/{upper}"), [2; 32]);
        d.insert(format!("aa/{id}"), [3; 32]);
        d.insert("Manifest.db".into(), [4; 32]);
        d.insert("odd\nname".into(), [5; 32]);
        d.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), d.to_text());
        assert_eq!(Digests::load(&path).unwrap(), d);

        let r = Recorded::load(&path).unwrap();
        assert_eq!(r.blobs.len(), 1, "only a lower-case fileID in its own folder is packed");
        for path in d.paths() {
            assert_eq!(r.get(&path).as_ref(), d.get(&path), "{path}");
        }
        use crate::finder::verify::RecordedHashes;
        assert_eq!(r.sha256(&unhex::<20>(id).unwrap()), Some([1; 32]));
        assert_eq!(r.sha256(&[0; 20]), None);
        assert_eq!(r.get("Info.plist"), None);

        // A later line for the same blob wins, as it does in the map.
        let mut text = d.to_text();
        text.push_str(&format!("{}  3b/{id}\n", hex(&[9; 32])));
        std::fs::write(&path, text).unwrap();
        assert_eq!(Recorded::load(&path).unwrap().get(&format!("3b/{id}")), Some([9; 32]));
        assert_eq!(Digests::load(&path).unwrap().get(&format!("3b/{id}")), Some(&[9; 32]));

        assert!(Recorded::load(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn trees_are_exact_about_their_prefix() {
        let mut d = Digests::default();
        for path in ["a", "a/x", "a/y/z", "a-b", "a.b/x", "a0", "ab", "b/a/x"] {
            d.insert(path.into(), [path.len() as u8; 32]);
        }
        d.rename_tree("a", "c");
        assert_eq!(d.paths(), ["a-b", "a.b/x", "a0", "ab", "b/a/x", "c", "c/x", "c/y/z"]);
        assert_eq!(d.get("c/y/z"), Some(&[5; 32]));
        // A rename onto a tree replaces it whole.
        d.insert("c/old".into(), [9; 32]);
        d.rename_tree("ab", "c");
        assert_eq!(d.get("c"), Some(&[2; 32]));
        assert_eq!(d.get("c/old"), None);
        assert_eq!(d.get("c/x"), None);
    }

    #[test]
    fn blob_keys_keep_their_text_and_its_order() {
        // Blobs in and out of Snapshot/, beside what is not a blob: upper-case digits, a
        // fileID in the wrong folder, a short one, folders, and names that sort between.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut paths: Vec<String> = [
            "Manifest.db",
            "Snapshot",
            "Snapshot/Manifest.db",
            "Snapshot/ab",
            "ab",
            "ab/",
            "ab/abc",
            "Info.plist",
            "9f",
            "a0/",
            "odd\nname",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..300 {
            let mut id = [0u8; 20];
            id.iter_mut().for_each(|b| *b = next() as u8);
            let id = hex(&id);
            let blob = format!("{}/{id}", &id[..2]);
            match next() % 5 {
                0 => paths.push(format!("Snapshot/{blob}")),
                1 => paths.push(blob.to_uppercase()),
                2 => paths.push(format!("{}/{id}", &id[2..4])),
                _ => paths.push(blob),
            }
        }
        let mut d = Digests::default();
        for (i, path) in paths.iter().enumerate() {
            d.insert(path.clone(), [i as u8; 32]);
        }
        paths.sort();
        paths.dedup();
        assert_eq!(d.paths(), paths, "keys keep their text and sort as it does");
        assert!(d.map.keys().filter(|k| matches!(k, Key::Blob { .. })).count() > 150);
        for (i, path) in paths.iter().enumerate() {
            assert!(d.get(path).is_some(), "{path} (#{i}) is found by its text");
        }

        // Snapshot/ moves into place blob folder by blob folder, as a backup's end does.
        let folders: std::collections::BTreeSet<String> = paths
            .iter()
            .filter_map(|p| p.strip_prefix("Snapshot/"))
            .filter_map(|p| p.split_once('/').map(|(f, _)| f.to_string()))
            .collect();
        for folder in &folders {
            d.rename_tree(&format!("Snapshot/{folder}"), folder);
        }
        assert!(
            d.paths()
                .iter()
                .all(|p| !p.starts_with("Snapshot/") || p == "Snapshot/Manifest.db"),
            "{:?}",
            d.paths()
        );
        let text = d.to_text();
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.sha256");
        d.save(&manifest).unwrap();
        assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
        assert_eq!(Digests::load(&manifest).unwrap(), d);
    }

    /// The map as it was before keys were packed: paths as text, trees by text range. The
    /// packed map must do exactly what it did.
    #[derive(Default)]
    struct TextModel(BTreeMap<String, [u8; 32]>);

    impl TextModel {
        fn keys_of_tree(&self, path: &str) -> Vec<String> {
            let (below, end) = (format!("{path}/"), format!("{path}0"));
            let mut keys: Vec<String> = self.0.range(below..end).map(|(k, _)| k.clone()).collect();
            if self.0.contains_key(path) {
                keys.push(path.to_string());
            }
            keys
        }

        fn tree(&self, from: &str, to: &str) -> Vec<(String, [u8; 32])> {
            self.keys_of_tree(from)
                .into_iter()
                .map(|key| {
                    let renamed = match key.strip_prefix(from).and_then(|r| r.strip_prefix('/')) {
                        Some(rest) => format!("{to}/{rest}"),
                        None => to.to_string(),
                    };
                    (renamed, self.0[&key])
                })
                .collect()
        }

        fn remove_tree(&mut self, path: &str) {
            for key in self.keys_of_tree(path) {
                self.0.remove(&key);
            }
        }
    }

    #[test]
    fn packed_keys_do_what_text_keys_did() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        // Few fileIDs, so operations meet the same blobs; their neighbours in text order too.
        let ids: Vec<String> = (0..6u8)
            .map(|i| hex(&[i.wrapping_mul(0x2f) ^ 0x9a; 20]))
            .chain(["00".repeat(20), "ff".repeat(20), "9f".repeat(20), "a0".repeat(20)])
            .collect();
        let path = |next: &mut dyn FnMut(u64) -> u64| -> String {
            let id = &ids[next(ids.len() as u64) as usize];
            let blob = format!("{}/{id}", &id[..2]);
            match next(12) {
                0..=3 => blob,
                4..=6 => format!("Snapshot/{blob}"),
                7 => blob.to_uppercase(),
                8 => id[..2].to_string(),
                9 => format!("Snapshot/{}", &id[..2]),
                10 => ["Snapshot", "Manifest.db", "Snapshot/Manifest.db", "Snapshot/a", "Sn"][next(5) as usize].into(),
                _ => format!("{blob}/x"),
            }
        };
        let mut packed = Digests::default();
        let mut model = TextModel::default();
        let mut largest = 0;
        for step in 0..4_000u32 {
            let a = path(&mut next);
            match next(12) {
                0..=5 => {
                    let digest = [step as u8; 32];
                    packed.insert(a.clone(), digest);
                    model.0.insert(a.clone(), digest);
                }
                6 | 7 => {
                    let b = path(&mut next);
                    packed.rename_tree(&a, &b);
                    let moved = model.tree(&a, &b);
                    model.remove_tree(&a);
                    model.remove_tree(&b);
                    model.0.extend(moved);
                }
                8 | 9 => {
                    let b = path(&mut next);
                    packed.copy_tree(&a, &b);
                    let copied = model.tree(&a, &b);
                    model.remove_tree(&b);
                    model.0.extend(copied);
                }
                10 => {
                    packed.remove_tree(&a);
                    model.remove_tree(&a);
                }
                _ => {
                    let cut = next(3);
                    let keep = |p: &str| p.len() % 3 != cut as usize;
                    packed.retain(keep);
                    model.0.retain(|p, _| keep(p));
                }
            }
            assert_eq!(
                packed.paths(),
                model.0.keys().cloned().collect::<Vec<_>>(),
                "step {step}"
            );
            assert_eq!(packed.get(&a), model.0.get(&a), "step {step}: {a}");
            largest = largest.max(packed.len());
        }
        assert!(largest > 20, "the walk grew the map: {largest}");
    }
}
