//! The manifest: what has been exported to a destination, kept in
//! `DEST/.lifeboat/manifest.db` with paths relative to DEST, so the folder can move.
//! A row is written only after its file is complete and synced; a file without a row (the
//! process was killed in between) is adopted by the next run when its hash matches.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, params};

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
            .prepare("SELECT asset_id, device_path, size, device_mtime_ns, dest_path FROM files")?;
        // Sized up front: a 50,000-row index grown by doubling holds a third more than it needs.
        let count: i64 = self.conn.query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))?;
        let count = usize::try_from(count).unwrap_or(0);
        let mut index = ManifestIndex {
            rows: Vec::with_capacity(count),
            by_device: HashMap::with_capacity(count),
            by_dest: HashMap::with_capacity(count),
        };
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)? as u64,
                row.get::<_, i64>(3)? as u64,
                row.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (asset_id, device_path, size, mtime_ns, dest_path) = row?;
            let at = index.rows.len();
            index.by_device.insert((device_path, size, mtime_ns), at);
            index.by_dest.insert(dest_path.to_lowercase(), at);
            index.rows.push(IndexedRow { asset_id, dest_path });
        }
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedRow {
    pub asset_id: String,
    pub dest_path: String,
}

/// The manifest in memory, for lookups by device file and by destination name.
#[derive(Debug, Default)]
pub struct ManifestIndex {
    rows: Vec<IndexedRow>,
    by_device: HashMap<(String, u64, u64), usize>,
    /// Keyed by the lower-cased destination path: on the case-insensitive file systems of
    /// macOS and Windows, names that differ only in case are one file.
    by_dest: HashMap<String, usize>,
}

impl ManifestIndex {
    /// The row for this exact device file (same path, size and time), if exported.
    pub fn find(&self, device_path: &str, size: u64, mtime_ns: u64) -> Option<&IndexedRow> {
        // A borrowed tuple key would avoid this allocation; a plan is not hot enough to care.
        self.by_device
            .get(&(device_path.to_string(), size, mtime_ns))
            .map(|&at| &self.rows[at])
    }

    /// The row whose destination is `dest_path`, compared without case.
    pub fn by_dest(&self, dest_path: &str) -> Option<&IndexedRow> {
        self.by_dest.get(&dest_path.to_lowercase()).map(|&at| &self.rows[at])
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
