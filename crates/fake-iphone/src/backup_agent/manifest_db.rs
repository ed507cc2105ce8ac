//! Manifest.db as a phone writes it (docs/backup.md §2.2): SQLite with `Files` and
//! `Properties`, each row's `file` an `MBFile` NSKeyedArchiver blob shaped as
//! docs/backup-encryption.md §7 step 5 says; and reading back the one a host kept, for an
//! incremental backup.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use plist::{Dictionary, Uid, Value};

use super::crypto::BackupKeys;
use super::files::{DeviceFile, file_id};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("Manifest.db: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("Manifest.db: {0}")]
    Io(#[from] std::io::Error),
    #[error("an MBFile archive: {0}")]
    Plist(#[from] plist::Error),
}

/// One row of the Files table, as far as the phone compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub file_id: String,
    pub domain: String,
    pub path: String,
    pub flags: i64,
    pub size: u64,
    pub modified: i64,
}

/// What an MBFile says of a directory or a file.
struct Entry<'a> {
    path: &'a str,
    mode: u64,
    inode: u64,
    modified: i64,
    size: u64,
    protection_class: u64,
    /// Encrypted backups: LE u32 class ‖ the wrapped file key (44 bytes).
    encryption_key: Option<Vec<u8>>,
}

/// An MBFile NSKeyedArchiver (docs/backup-encryption.md §7 step 5): `$top.root` = UID 1,
/// inline integers, `RelativePath` through a UID.
fn mbfile(entry: &Entry) -> Result<Vec<u8>, plist::Error> {
    let mut root = Dictionary::new();
    let int = |n: u64| Value::Integer(n.into());
    let signed = |n: i64| Value::Integer(n.into());
    root.insert("$class".into(), Value::Uid(Uid::new(3)));
    root.insert("RelativePath".into(), Value::Uid(Uid::new(2)));
    root.insert("Mode".into(), int(entry.mode));
    root.insert("InodeNumber".into(), int(entry.inode));
    root.insert("UserID".into(), int(501));
    root.insert("GroupID".into(), int(501));
    root.insert("LastModified".into(), signed(entry.modified));
    root.insert("LastStatusChange".into(), signed(entry.modified));
    root.insert("Birth".into(), signed(entry.modified));
    root.insert("Size".into(), int(entry.size));
    root.insert("ProtectionClass".into(), int(entry.protection_class));
    root.insert("Flags".into(), int(0));
    let mut class = Dictionary::new();
    class.insert("$classname".into(), "MBFile".into());
    class.insert(
        "$classes".into(),
        Value::Array(vec!["MBFile".into(), "NSObject".into()]),
    );
    let mut top = Dictionary::new();
    top.insert("root".into(), Value::Uid(Uid::new(1)));
    let mut archive = Dictionary::new();
    archive.insert("$version".into(), int(100_000));
    archive.insert("$archiver".into(), "NSKeyedArchiver".into());
    archive.insert("$top".into(), Value::Dictionary(top));
    archive.insert(
        "$objects".into(),
        Value::Array(vec![
            "$null".into(),
            Value::Dictionary(root),
            entry.path.into(),
            Value::Dictionary(class),
        ]),
    );
    if let Some(key) = &entry.encryption_key
        && let Some(Value::Array(objects)) = archive.get_mut("$objects")
    {
        // The key object has only NS.data and $class, of class NSMutableData (§7 step 5).
        if let Some(Value::Dictionary(root)) = objects.get_mut(1) {
            root.insert("EncryptionKey".into(), Value::Uid(Uid::new(4)));
        }
        let mut data = Dictionary::new();
        data.insert("NS.data".into(), Value::Data(key.clone()));
        data.insert("$class".into(), Value::Uid(Uid::new(5)));
        let mut class = Dictionary::new();
        class.insert("$classname".into(), "NSMutableData".into());
        class.insert(
            "$classes".into(),
            Value::Array(vec!["NSMutableData".into(), "NSData".into(), "NSObject".into()]),
        );
        objects.push(Value::Dictionary(data));
        objects.push(Value::Dictionary(class));
    }
    let mut out = Vec::new();
    plist::to_writer_binary(&mut out, &Value::Dictionary(archive))?;
    Ok(out)
}

/// A file path for a scratch database, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Scratch(std::env::temp_dir().join(format!(
            "fake-iphone-manifest-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        )))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("db-journal"));
    }
}

/// The Manifest.db bytes for `files` and the directories that hold them; with `keys`, each
/// file's `EncryptionKey` (the database itself is encrypted by the caller).
pub fn build(
    files: &[DeviceFile],
    directories: &[(String, String)],
    keys: Option<&BackupKeys>,
) -> Result<Vec<u8>, ManifestError> {
    let scratch = Scratch::new();
    {
        let mut db = rusqlite::Connection::open(&scratch.0)?;
        db.execute_batch(
            "PRAGMA journal_mode = DELETE;
             CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
             CREATE INDEX FilesDomainIdx ON Files(domain);
             CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
             CREATE INDEX FilesFlagsIdx ON Files(flags);
             CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);",
        )?;
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare("INSERT OR REPLACE INTO Files VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (i, (domain, path)) in directories.iter().enumerate() {
                let blob = mbfile(&Entry {
                    path,
                    mode: 0o40755,
                    inode: 50_000 + i as u64,
                    modified: 1_700_000_000,
                    size: 0,
                    protection_class: 0,
                    encryption_key: None,
                })?;
                insert.execute(rusqlite::params![file_id(domain, path), domain, path, 2, blob])?;
            }
            for file in files {
                let blob = mbfile(&Entry {
                    path: &file.path,
                    mode: 0o100644,
                    inode: file.inode,
                    modified: file.modified,
                    size: file.size,
                    protection_class: file.protection_class,
                    encryption_key: keys.map(|k| {
                        let key = k.file_key(&file.file_id(), file.size, file.modified);
                        k.wrapped(file.protection_class as u32, &key)
                    }),
                })?;
                insert.execute(rusqlite::params![file.file_id(), file.domain, file.path, 1, blob])?;
            }
        }
        tx.commit()?;
    }
    Ok(std::fs::read(&scratch.0)?)
}

/// The rows of a Manifest.db a host sent back, keyed by fileID.
pub fn read(bytes: &[u8]) -> Result<HashMap<String, Row>, ManifestError> {
    let scratch = Scratch::new();
    std::fs::write(&scratch.0, bytes)?;
    let db = rusqlite::Connection::open_with_flags(&scratch.0, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut query = db.prepare("SELECT fileID, domain, relativePath, flags, file FROM Files")?;
    let rows = query.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<Vec<u8>>>(4)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (file_id, domain, path, flags, blob) = row?;
        let (size, modified) = blob.as_deref().and_then(size_and_time).unwrap_or((0, 0));
        out.insert(
            file_id.clone(),
            Row {
                file_id,
                domain,
                path,
                flags,
                size,
                modified,
            },
        );
    }
    Ok(out)
}

/// `Size` and `LastModified` of an MBFile archive.
fn size_and_time(blob: &[u8]) -> Option<(u64, i64)> {
    let archive = Value::from_reader(std::io::Cursor::new(blob)).ok()?;
    let objects = archive.as_dictionary()?.get("$objects")?.as_array()?;
    let root = objects.get(1)?.as_dictionary()?;
    let size = root.get("Size")?.as_unsigned_integer()?;
    let modified = root.get("LastModified")?.as_signed_integer()?;
    Some((size, modified))
}

#[cfg(test)]
mod tests {
    use super::super::files::Content;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_manifest_reads_back() {
        let file = DeviceFile {
            domain: "CameraRollDomain".into(),
            path: "Media/DCIM/100APPLE/IMG_0001.JPG".into(),
            content: Content::Bytes(Arc::new(vec![1, 2, 3])),
            size: 3,
            modified: 1_717_000_123,
            inode: 7,
            protection_class: 3,
        };
        let dirs = super::super::files::directories(std::slice::from_ref(&file));
        let bytes = build(std::slice::from_ref(&file), &dirs, None).unwrap();
        assert!(bytes.starts_with(b"SQLite format 3\0"));
        let rows = read(&bytes).unwrap();
        assert_eq!(rows.len(), 4, "three directories and the photo");
        let row = &rows[&file.file_id()];
        assert_eq!((row.flags, row.size, row.modified), (1, 3, 1_717_000_123));
        assert!(read(b"not a database").is_err());
    }
}
