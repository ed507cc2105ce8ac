//! Manifest.db (docs/backup.md §2.2): opened read-only on a private copy (a `-wal` may sit
//! beside it, and the backup must never change), decrypted first for an encrypted backup
//! (docs/backup-encryption.md §4).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

use super::crypto::{self, CryptoError, Key};
use super::layout::MANIFEST_DB;
use super::mbfile::{self, MbFile, MbFileError};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

#[derive(Debug, thiserror::Error)]
pub enum ManifestDbError {
    #[error("Manifest.db is missing")]
    Missing,
    #[error("Manifest.db: {0}")]
    Io(#[from] io::Error),
    #[error("Manifest.db does not decrypt: {0}")]
    Decrypt(CryptoError),
    #[error("Manifest.db is not an SQLite database")]
    NotSqlite,
    #[error("Manifest.db: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Flags of a `Files` row (§2.2; symlink per docs/backup-encryption.md §5).
pub const FLAG_FILE: i64 = 1;
pub const FLAG_DIR: i64 = 2;
pub const FLAG_SYMLINK: i64 = 4;

/// One `Files` row, its MBFile decoded.
#[derive(Debug, Clone)]
pub struct Row {
    pub file_id: String,
    pub domain: String,
    pub relative_path: String,
    pub flags: i64,
    pub file: Result<MbFile, MbFileError>,
}

impl Row {
    /// `domain/relativePath`: how a file is named to people (domains as top folders).
    pub fn display_path(&self) -> String {
        if self.relative_path.is_empty() {
            self.domain.clone()
        } else {
            format!("{}/{}", self.domain, self.relative_path)
        }
    }
}

/// An open copy of Manifest.db; the copy goes when this is dropped.
pub struct ManifestDb {
    conn: Connection,
    _dir: tempfile::TempDir,
}

fn copy_dir() -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("lifeboat-manifest-").tempdir()
}

fn open_copy(path: &Path, dir: tempfile::TempDir) -> Result<ManifestDb, ManifestDbError> {
    let mut head = [0u8; 16];
    let n = File::open(path)?.read(&mut head)?;
    if n < head.len() || &head != SQLITE_MAGIC {
        return Err(ManifestDbError::NotSqlite);
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    Ok(ManifestDb { conn, _dir: dir })
}

/// Whether the backup's Manifest.db starts like an SQLite database (so is in clear).
pub fn is_plain(backup: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(backup.join(MANIFEST_DB))
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| &head == SQLITE_MAGIC)
}

impl ManifestDb {
    /// Copies an unencrypted Manifest.db (and its `-wal`/`-shm`) and opens the copy.
    pub fn open_plain(backup: &Path) -> Result<ManifestDb, ManifestDbError> {
        let source = backup.join(MANIFEST_DB);
        match std::fs::metadata(&source) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ManifestDbError::Missing),
            Err(e) => return Err(e.into()),
            Ok(meta) if !meta.is_file() => return Err(ManifestDbError::NotSqlite),
            Ok(_) => {}
        }
        let dir = copy_dir()?;
        let copy = dir.path().join(MANIFEST_DB);
        std::fs::copy(&source, &copy)?;
        for suffix in ["-wal", "-shm"] {
            let side = backup.join(format!("{MANIFEST_DB}{suffix}"));
            if side.is_file() {
                std::fs::copy(&side, dir.path().join(format!("{MANIFEST_DB}{suffix}")))?;
            }
        }
        open_copy(&copy, dir)
    }

    /// Decrypts Manifest.db with its key (zero IV, strict PKCS#7, §4) into a private copy,
    /// streaming, and opens it.
    pub fn open_encrypted(backup: &Path, key: &Key) -> Result<ManifestDb, ManifestDbError> {
        let source = backup.join(MANIFEST_DB);
        let mut input = match File::open(&source) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ManifestDbError::Missing),
            other => other?,
        };
        if !input.metadata()?.is_file() {
            return Err(ManifestDbError::NotSqlite);
        }
        let dir = copy_dir()?;
        let copy = dir.path().join(MANIFEST_DB);
        let mut out = BufWriter::new(File::create(&copy)?);
        let mut decryptor = crypto::Decryptor::new(key);
        let mut buf = vec![0u8; 1 << 20];
        let mut write_error: Option<io::Error> = None;
        let mut sink = |plain: &[u8]| {
            if write_error.is_none()
                && let Err(e) = out.write_all(plain)
            {
                write_error = Some(e);
            }
        };
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            decryptor.update(&mut buf[..n], &mut sink);
        }
        decryptor.finish(&mut sink).map_err(ManifestDbError::Decrypt)?;
        if let Some(e) = write_error {
            return Err(e.into());
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        open_copy(&copy, dir)
    }

    /// `PRAGMA integrity_check`: the problems it lists, none when the database is whole.
    pub fn integrity_check(&self) -> Result<Vec<String>, ManifestDbError> {
        integrity_check(&self.conn)
    }

    /// Every `Files` row, by fileID. A column of an unexpected type reads as text or empty,
    /// so a damaged row is reported rather than stopping the read.
    pub fn rows(&self) -> Result<Vec<Row>, ManifestDbError> {
        let mut rows = Vec::new();
        self.for_each_row(|row| rows.push(row))?;
        Ok(rows)
    }

    /// Hands `each` every `Files` row, by fileID, one at a time: a backup of a million
    /// files is never held as rows at once.
    pub fn for_each_row(&self, mut each: impl FnMut(Row)) -> Result<(), ManifestDbError> {
        let mut stmt = self
            .conn
            .prepare("SELECT fileID, domain, relativePath, flags, file FROM Files ORDER BY fileID")?;
        let text = |v: SqlValue| match v {
            SqlValue::Text(s) => s,
            SqlValue::Integer(i) => i.to_string(),
            SqlValue::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let blob: SqlValue = r.get(4)?;
            each(Row {
                file_id: text(r.get(0)?),
                domain: text(r.get(1)?),
                relative_path: text(r.get(2)?),
                flags: match r.get(3)? {
                    SqlValue::Integer(i) => i,
                    _ => -1,
                },
                file: match blob {
                    SqlValue::Blob(b) => mbfile::decode(&b),
                    SqlValue::Null => Err(MbFileError::NotArchive("the file column is empty")),
                    _ => Err(MbFileError::NotArchive("the file column is not a blob")),
                },
            });
        }
        Ok(())
    }
}

/// `PRAGMA integrity_check` on an open database: the problems, none when whole.
pub fn integrity_check(conn: &Connection) -> Result<Vec<String>, ManifestDbError> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}

/// Checks an SQLite file that is already a private copy: its header, then
/// `PRAGMA integrity_check`. `Err` says what is wrong.
pub fn check_sqlite_copy(path: &Path) -> Result<(), String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("SQLite cannot open it: {e}"))?;
    match integrity_check(&conn) {
        Ok(problems) if problems.is_empty() => Ok(()),
        Ok(problems) => Err(format!(
            "SQLite integrity_check: {}",
            problems.into_iter().take(3).collect::<Vec<_>>().join("; ")
        )),
        Err(e) => Err(format!("SQLite integrity_check failed: {e}")),
    }
}

/// The SQLite file header, to tell a database by its content.
pub fn is_sqlite_header(head: &[u8]) -> bool {
    head.starts_with(SQLITE_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_db(dir: &Path, wal: bool) -> Connection {
        let conn = Connection::open(dir.join(MANIFEST_DB)).unwrap();
        if wal {
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;")
                .unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
             INSERT INTO Files VALUES ('x', 'HomeDomain', 'a', 1, x'00'), (7, NULL, 'b', 'odd', NULL);",
        )
        .unwrap();
        conn
    }

    /// Rows still in a `-wal` are read from the copy; the backup's own files are untouched.
    #[test]
    fn reads_a_wal_copy_and_leaves_the_backup_alone() {
        let dir = tempfile::tempdir().unwrap();
        let conn = make_db(dir.path(), true);
        assert!(dir.path().join("Manifest.db-wal").is_file());
        let before: Vec<_> = ["Manifest.db", "Manifest.db-wal", "Manifest.db-shm"]
            .iter()
            .map(|n| std::fs::read(dir.path().join(n)).unwrap())
            .collect();
        let db = ManifestDb::open_plain(dir.path()).unwrap();
        assert!(db.integrity_check().unwrap().is_empty());
        let rows = db.rows().unwrap();
        assert_eq!(rows.len(), 2);
        let odd = rows.iter().find(|r| r.file_id == "7").unwrap();
        assert_eq!((odd.domain.as_str(), odd.flags), ("", -1));
        assert!(odd.file.is_err());
        assert_eq!(
            rows.iter().find(|r| r.file_id == "x").unwrap().display_path(),
            "HomeDomain/a"
        );
        drop(db);
        let after: Vec<_> = ["Manifest.db", "Manifest.db-wal", "Manifest.db-shm"]
            .iter()
            .map(|n| std::fs::read(dir.path().join(n)).unwrap())
            .collect();
        assert!(after == before, "the backup's Manifest.db files changed");
        drop(conn);
    }

    #[test]
    fn encrypted_copy_and_its_damage() {
        let dir = tempfile::tempdir().unwrap();
        drop(make_db(dir.path(), false));
        let plain = std::fs::read(dir.path().join(MANIFEST_DB)).unwrap();
        let key = Key::from_bytes([5; 32]);
        std::fs::write(dir.path().join(MANIFEST_DB), crypto::encrypt(&key, &plain)).unwrap();
        assert!(!is_plain(dir.path()));
        assert_eq!(
            ManifestDb::open_encrypted(dir.path(), &key)
                .unwrap()
                .rows()
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            ManifestDb::open_encrypted(dir.path(), &Key::from_bytes([6; 32])),
            Err(ManifestDbError::Decrypt(_) | ManifestDbError::NotSqlite)
        ));
        assert!(matches!(
            ManifestDb::open_plain(dir.path()),
            Err(ManifestDbError::NotSqlite)
        ));
        std::fs::remove_file(dir.path().join(MANIFEST_DB)).unwrap();
        assert!(matches!(
            ManifestDb::open_plain(dir.path()),
            Err(ManifestDbError::Missing)
        ));
    }
}
