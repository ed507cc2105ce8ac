//! The manifest: what has been exported to a destination, kept in
//! `DEST/.lifeboat/manifest.db` with paths relative to DEST, so the folder can move.
//! A row is written only after its file is complete and synced; a file without a row (the
//! process was killed in between) is adopted by the next run when its hash matches.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::digest_index::{DigestIndex, digest};

pub const DIR: &str = ".lifeboat";
pub const FILE: &str = "manifest.db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub asset_id: String,
    pub role: String,
    pub device_path: String,
    pub size: u64,
    pub device_mtime_ns: u64,
    pub capture_date: Option<i64>,
    pub sha256: String,
    /// Relative to DEST, with `/` separators.
    pub dest_path: String,
}

pub struct Manifest {
    conn: Connection,
}

impl Manifest {
    pub fn open(dest: &Path) -> rusqlite::Result<Manifest> {
        let conn = Connection::open(dest.join(DIR).join(FILE))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS files (
                id INTEGER PRIMARY KEY,
                asset_id TEXT NOT NULL,
                role TEXT NOT NULL,
                device_path TEXT NOT NULL,
                size INTEGER NOT NULL,
                device_mtime_ns INTEGER NOT NULL,
                capture_date INTEGER,
                sha256 TEXT NOT NULL,
                dest_path TEXT NOT NULL UNIQUE,
                copied_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS files_by_device ON files (device_path, size, device_mtime_ns);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )?;
        Ok(Manifest { conn })
    }

    /// Every row's identity and place, read in one query, for planning a run without a
    /// query per file (a 50,000-asset library would otherwise ask 100,000 times).
    pub fn index(&self) -> rusqlite::Result<ManifestIndex> {
        let mut statement = self
            .conn
            .prepare("SELECT asset_id, device_path, size, device_mtime_ns, dest_path, sha256 FROM files")?;
        // Sized up front: a 50,000-row index grown by doubling holds a third more than it needs.
        let count: i64 = self.conn.query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))?;
        let count = usize::try_from(count).unwrap_or(0);
        let mut index = ManifestIndex {
            text: String::with_capacity(count * 24),
            rows: Vec::with_capacity(count),
            ..Default::default()
        };
        let mut by_device = Vec::with_capacity(count);
        let mut by_dest = Vec::with_capacity(count);
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let device = device_key(
                row.get_ref(1)?.as_str()?,
                row.get::<_, i64>(2)? as u64,
                row.get::<_, i64>(3)? as u64,
            );
            let dest_path = row.get_ref(4)?.as_str()?;
            let at = index.rows.len() as u32;
            by_device.push((device, at));
            by_dest.push((dest_key(dest_path), at));
            index.push(row.get_ref(0)?.as_str()?, dest_path, row.get_ref(5)?.as_str()?);
        }
        index.text.shrink_to_fit();
        // Rows of one device file (the album layout's links) chain from the first.
        by_device.sort_unstable();
        for pair in by_device.windows(2) {
            if pair[0].0 == pair[1].0 {
                index.rows[pair[0].1 as usize].next_same_device = pair[1].1;
            }
        }
        by_device.dedup_by_key(|(key, _)| *key);
        index.by_device = DigestIndex::from(by_device);
        // DigestIndex::from sorts it, stably: of rows with one key, the first is found.
        index.by_dest = DigestIndex::from(by_dest);
        Ok(index)
    }

    pub fn all(&self) -> rusqlite::Result<Vec<Entry>> {
        let mut statement = self.conn.prepare(
            "SELECT asset_id, role, device_path, size, device_mtime_ns, capture_date, sha256, dest_path
             FROM files ORDER BY dest_path",
        )?;
        let rows = statement.query_map([], row_to_entry)?;
        rows.collect()
    }

    /// Records a batch in one transaction.
    pub fn record(&mut self, entries: &[Entry]) -> rusqlite::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT OR REPLACE INTO files
                 (asset_id, role, device_path, size, device_mtime_ns, capture_date, sha256, dest_path, copied_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for e in entries {
                insert.execute(params![
                    e.asset_id,
                    e.role,
                    e.device_path,
                    e.size as i64,
                    e.device_mtime_ns as i64,
                    e.capture_date,
                    e.sha256,
                    e.dest_path,
                    now as i64
                ])?;
            }
        }
        tx.commit()
    }
}

fn device_key(device_path: &str, size: u64, mtime_ns: u64) -> u64 {
    digest(&[device_path.as_bytes(), &size.to_le_bytes(), &mtime_ns.to_le_bytes()])
}

/// The key an asset's rows are known by in the index.
pub fn asset_key(asset_id: &str) -> u64 {
    digest(&[asset_id.as_bytes()])
}

fn dest_key(dest_path: &str) -> u64 {
    digest(&[dest_path.to_lowercase().as_bytes()])
}

const NONE: u32 = u32::MAX;

/// One row, in 32 bytes: its asset and content by digest, its destination in the index's text.
#[derive(Debug, Clone, Copy)]
pub struct IndexedRow {
    asset: u64,
    sha: u64,
    dest_start: u32,
    dest_len: u32,
    /// The next row of the same device file (the album layout's hard links), or `NONE`.
    next_same_device: u32,
}

impl IndexedRow {
    pub fn asset_key(&self) -> u64 {
        self.asset
    }
}

/// The manifest in memory, for lookups by device file and by destination name. Kept
/// compact for libraries of hundreds of thousands of files: identities are 64-bit digests
/// (SipHash; a false match among a million rows has odds near 1 in 10^7), destination
/// paths sit back to back in one string, about 60 bytes a row in all.
#[derive(Debug, Default)]
pub struct ManifestIndex {
    text: String,
    rows: Vec<IndexedRow>,
    /// Device key -> the first row of that device file.
    by_device: DigestIndex,
    /// Keyed by the lower-cased destination path: on the case-insensitive file systems of
    /// macOS and Windows, names that differ only in case are one file.
    by_dest: DigestIndex,
}

impl ManifestIndex {
    fn push(&mut self, asset_id: &str, dest_path: &str, sha256: &str) {
        self.rows.push(IndexedRow {
            asset: asset_key(asset_id),
            sha: digest(&[sha256.as_bytes()]),
            dest_start: self.text.len() as u32,
            dest_len: dest_path.len() as u32,
            next_same_device: NONE,
        });
        self.text.push_str(dest_path);
    }

    /// The destination path of `row`.
    pub fn dest(&self, row: &IndexedRow) -> &str {
        let start = row.dest_start as usize;
        self.text.get(start..start + row.dest_len as usize).unwrap_or("")
    }

    /// The row for this exact device file (same path, size and time), if exported.
    pub fn find(&self, device_path: &str, size: u64, mtime_ns: u64) -> Option<&IndexedRow> {
        self.by_device
            .get(device_key(device_path, size, mtime_ns))
            .map(|at| &self.rows[at as usize])
    }

    /// Every destination this exact device file was exported to.
    pub fn dests_of(&self, device_path: &str, size: u64, mtime_ns: u64) -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = self
            .by_device
            .get(device_key(device_path, size, mtime_ns))
            .unwrap_or(NONE);
        while let Some(row) = self.rows.get(at as usize) {
            out.push(self.dest(row));
            at = row.next_same_device;
        }
        out
    }

    /// The row whose destination is `dest_path`, compared without case.
    pub fn by_dest(&self, dest_path: &str) -> Option<&IndexedRow> {
        let row = &self.rows[self.by_dest.get(dest_key(dest_path))? as usize];
        // The text is at hand: a digest match is confirmed.
        (self.dest(row).to_lowercase() == dest_path.to_lowercase()).then_some(row)
    }

    /// Whether the file recorded at `dest_path` has the SHA-256 `sha256` (hex); `None`
    /// when no row records that path.
    pub fn same_content(&self, dest_path: &str, sha256: &str) -> Option<bool> {
        self.by_dest(dest_path)
            .map(|row| row.sha == digest(&[sha256.as_bytes()]))
    }
}

fn row_to_entry(row: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        asset_id: row.get(0)?,
        role: row.get(1)?,
        device_path: row.get(2)?,
        size: row.get::<_, i64>(3)? as u64,
        device_mtime_ns: row.get::<_, i64>(4)? as u64,
        capture_date: row.get(5)?,
        sha256: row.get(6)?,
        dest_path: row.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(device: &str, dest: &str, sha: &str) -> Entry {
        Entry {
            asset_id: format!("asset {device}"),
            role: "original".into(),
            device_path: device.into(),
            size: 10,
            device_mtime_ns: 5,
            capture_date: None,
            sha256: sha.into(),
            dest_path: dest.into(),
        }
    }

    #[test]
    fn the_index_finds_rows_by_device_and_by_destination() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DIR)).unwrap();
        let mut manifest = Manifest::open(dir.path()).unwrap();
        manifest
            .record(&[
                entry("DCIM/100APPLE/IMG_0001.HEIC", "Albums/A/IMG_0001.HEIC", "aa"),
                entry("DCIM/100APPLE/IMG_0002.HEIC", "No Album/IMG_0002.HEIC", "bb"),
                entry("DCIM/100APPLE/IMG_0001.HEIC", "Albums/B/IMG_0001.HEIC", "aa"),
            ])
            .unwrap();
        let index = manifest.index().unwrap();
        let row = index.find("DCIM/100APPLE/IMG_0001.HEIC", 10, 5).unwrap();
        assert_eq!(row.asset_key(), asset_key("asset DCIM/100APPLE/IMG_0001.HEIC"));
        assert!(index.find("DCIM/100APPLE/IMG_0001.HEIC", 11, 5).is_none());
        let mut dests = index.dests_of("DCIM/100APPLE/IMG_0001.HEIC", 10, 5);
        dests.sort();
        assert_eq!(dests, vec!["Albums/A/IMG_0001.HEIC", "Albums/B/IMG_0001.HEIC"]);
        let row = index.by_dest("no album/img_0002.heic").unwrap();
        assert_eq!(index.dest(row), "No Album/IMG_0002.HEIC");
        assert_eq!(index.same_content("No Album/IMG_0002.HEIC", "bb"), Some(true));
        assert_eq!(index.same_content("No Album/IMG_0002.HEIC", "cc"), Some(false));
        assert_eq!(index.same_content("No Album/IMG_0003.HEIC", "bb"), None);
    }
}
