//! The `file` column of Manifest.db: a binary NSKeyedArchiver plist of class `MBFile`
//! (docs/backup.md §2.2, docs/backup-encryption.md §5, §7 step 5). The `$objects` UIDs are
//! resolved here; every key is optional, and a hostile blob is an error, never a panic.

use plist::{Dictionary, Uid, Value};

/// Blobs larger than this are refused before parsing (real ones are well under 100 KiB,
/// the limit iphone-backup-decrypt applies).
pub const MAX_BLOB: usize = 4 << 20;

/// File type bits of `Mode` (§2.2).
pub const S_IFMT: u64 = 0xF000;
pub const S_IFREG: u64 = 0x8000;
pub const S_IFDIR: u64 = 0x4000;
pub const S_IFLNK: u64 = 0xA000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MbFile {
    pub relative_path: Option<String>,
    pub mode: Option<u64>,
    pub inode: Option<u64>,
    pub user_id: Option<i64>,
    pub group_id: Option<i64>,
    /// Unix seconds.
    pub last_modified: Option<i64>,
    pub last_status_change: Option<i64>,
    pub birth: Option<i64>,
    pub size: Option<u64>,
    pub protection_class: Option<u64>,
    pub flags: Option<u64>,
    /// A symlink's target.
    pub target: Option<String>,
    pub digest: Option<Vec<u8>>,
    /// Encrypted backups: u32 little-endian class ‖ 40-byte wrapped file key.
    pub encryption_key: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MbFileError {
    #[error("the file record is {0} bytes, more than lifeboat reads")]
    TooLarge(usize),
    #[error("the file record is not a property list: {0}")]
    NotPlist(String),
    #[error("the file record is not an NSKeyedArchiver archive: {0}")]
    NotArchive(&'static str),
    #[error("the file record's {key} is not {expected}")]
    BadValue { key: &'static str, expected: &'static str },
}

struct Archive<'a> {
    objects: &'a [Value],
}

impl<'a> Archive<'a> {
    /// A value, following a UID into `$objects`; `$null` is no value.
    fn resolve(&self, value: &'a Value) -> Option<&'a Value> {
        let mut value = value;
        // A UID may point at a UID, but never more than a few deep in a real archive.
        for _ in 0..4 {
            match value {
                Value::Uid(uid) => value = self.objects.get(usize::try_from(uid.get()).ok()?)?,
                Value::String(s) if s == "$null" => return None,
                other => return Some(other),
            }
        }
        None
    }
}

fn int(root: &Dictionary, archive: &Archive, key: &'static str) -> Result<Option<i64>, MbFileError> {
    let Some(value) = root.get(key).and_then(|v| archive.resolve(v)) else {
        return Ok(None);
    };
    match value {
        Value::Integer(i) => i
            .as_signed()
            .or_else(|| i.as_unsigned().map(|u| u as i64))
            .map(Some)
            .ok_or(MbFileError::BadValue {
                key,
                expected: "an integer",
            }),
        Value::Real(r) if r.is_finite() => Ok(Some(*r as i64)),
        _ => Err(MbFileError::BadValue {
            key,
            expected: "an integer",
        }),
    }
}

fn unsigned(root: &Dictionary, archive: &Archive, key: &'static str) -> Result<Option<u64>, MbFileError> {
    match int(root, archive, key)? {
        Some(n) if n < 0 => Err(MbFileError::BadValue {
            key,
            expected: "a non-negative integer",
        }),
        n => Ok(n.map(|n| n as u64)),
    }
}

fn string(root: &Dictionary, archive: &Archive, key: &'static str) -> Result<Option<String>, MbFileError> {
    match root.get(key).and_then(|v| archive.resolve(v)) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Dictionary(d)) => match d.get("NS.string").and_then(|v| archive.resolve(v)) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(MbFileError::BadValue {
                key,
                expected: "a string",
            }),
        },
        Some(_) => Err(MbFileError::BadValue {
            key,
            expected: "a string",
        }),
    }
}

/// Data inline, or an NSData / NSMutableData object with `NS.data`.
fn data(root: &Dictionary, archive: &Archive, key: &'static str) -> Result<Option<Vec<u8>>, MbFileError> {
    match root.get(key).and_then(|v| archive.resolve(v)) {
        None => Ok(None),
        Some(Value::Data(d)) => Ok(Some(d.clone())),
        Some(Value::Dictionary(d)) => match d.get("NS.data").and_then(|v| archive.resolve(v)) {
            Some(Value::Data(bytes)) => Ok(Some(bytes.clone())),
            _ => Err(MbFileError::BadValue { key, expected: "data" }),
        },
        Some(_) => Err(MbFileError::BadValue { key, expected: "data" }),
    }
}

/// Decodes an MBFile archive.
pub fn decode(bytes: &[u8]) -> Result<MbFile, MbFileError> {
    if bytes.len() > MAX_BLOB {
        return Err(MbFileError::TooLarge(bytes.len()));
    }
    let value = Value::from_reader(std::io::Cursor::new(bytes)).map_err(|e| MbFileError::NotPlist(e.to_string()))?;
    let top = value
        .as_dictionary()
        .ok_or(MbFileError::NotArchive("not a dictionary"))?;
    let objects = top
        .get("$objects")
        .and_then(Value::as_array)
        .ok_or(MbFileError::NotArchive("no $objects"))?;
    let archive = Archive { objects };
    let root_uid = match top
        .get("$top")
        .and_then(Value::as_dictionary)
        .and_then(|t| t.get("root"))
    {
        Some(Value::Uid(uid)) => *uid,
        Some(_) => return Err(MbFileError::NotArchive("$top.root is not a UID")),
        // Archives without $top.root keep the root at index 1.
        None => Uid::new(1),
    };
    let root_ref = Value::Uid(root_uid);
    let root = archive
        .resolve(&root_ref)
        .and_then(Value::as_dictionary)
        .ok_or(MbFileError::NotArchive("the root object is not a dictionary"))?;
    Ok(MbFile {
        relative_path: string(root, &archive, "RelativePath")?,
        mode: unsigned(root, &archive, "Mode")?,
        inode: unsigned(root, &archive, "InodeNumber")?,
        user_id: int(root, &archive, "UserID")?,
        group_id: int(root, &archive, "GroupID")?,
        last_modified: int(root, &archive, "LastModified")?,
        last_status_change: int(root, &archive, "LastStatusChange")?,
        birth: int(root, &archive, "Birth")?,
        size: unsigned(root, &archive, "Size")?,
        protection_class: unsigned(root, &archive, "ProtectionClass")?,
        flags: unsigned(root, &archive, "Flags")?,
        target: string(root, &archive, "Target")?,
        digest: data(root, &archive, "Digest")?,
        encryption_key: data(root, &archive, "EncryptionKey")?,
    })
}

/// Encodes an MBFile as the phone does (docs/backup-encryption.md §7 step 5), for making
/// test backups that pyiosbackup, iphone-backup-decrypt and iOSbackup all read.
pub fn encode(file: &MbFile) -> Vec<u8> {
    let class = |name: &str, classes: &[&str]| {
        let mut d = Dictionary::new();
        d.insert("$classname".into(), Value::String(name.into()));
        d.insert(
            "$classes".into(),
            Value::Array(classes.iter().map(|c| Value::String((*c).into())).collect()),
        );
        Value::Dictionary(d)
    };
    let mut objects = vec![Value::String("$null".into()), Value::Boolean(false)];
    let mut root = Dictionary::new();
    let push = |objects: &mut Vec<Value>, value: Value| {
        objects.push(value);
        Value::Uid(Uid::new(objects.len() as u64 - 1))
    };
    if let Some(path) = &file.relative_path {
        let uid = push(&mut objects, Value::String(path.clone()));
        root.insert("RelativePath".into(), uid);
    }
    if let Some(target) = &file.target {
        let uid = push(&mut objects, Value::String(target.clone()));
        root.insert("Target".into(), uid);
    }
    for (key, value) in [
        ("Birth", file.birth),
        ("LastModified", file.last_modified),
        ("LastStatusChange", file.last_status_change),
        ("Mode", file.mode.map(|n| n as i64)),
        ("UserID", file.user_id),
        ("GroupID", file.group_id),
        ("InodeNumber", file.inode.map(|n| n as i64)),
        ("Size", file.size.map(|n| n as i64)),
        ("Flags", file.flags.map(|n| n as i64)),
        ("ProtectionClass", file.protection_class.map(|n| n as i64)),
    ] {
        if let Some(n) = value {
            root.insert(key.into(), Value::Integer(n.into()));
        }
    }
    if let Some(key) = &file.encryption_key {
        let class_uid = push(
            &mut objects,
            class("NSMutableData", &["NSMutableData", "NSData", "NSObject"]),
        );
        let mut data = Dictionary::new();
        data.insert("NS.data".into(), Value::Data(key.clone()));
        data.insert("$class".into(), class_uid);
        let uid = push(&mut objects, Value::Dictionary(data));
        root.insert("EncryptionKey".into(), uid);
    }
    let mbfile_class = push(&mut objects, class("MBFile", &["MBFile", "NSObject"]));
    root.insert("$class".into(), mbfile_class);
    objects[1] = Value::Dictionary(root);
    let mut top = Dictionary::new();
    top.insert("root".into(), Value::Uid(Uid::new(1)));
    let mut archive = Dictionary::new();
    archive.insert("$version".into(), Value::Integer(100_000.into()));
    archive.insert("$archiver".into(), Value::String("NSKeyedArchiver".into()));
    archive.insert("$top".into(), Value::Dictionary(top));
    archive.insert("$objects".into(), Value::Array(objects));
    let mut out = Vec::new();
    // Writing a plist into a Vec cannot fail.
    let _ = Value::Dictionary(archive).to_writer_binary(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MbFile {
        MbFile {
            relative_path: Some("Media/DCIM/100APPLE/IMG_0001.JPG".into()),
            mode: Some(0o100644),
            inode: Some(12345),
            user_id: Some(501),
            group_id: Some(501),
            last_modified: Some(1_700_000_000),
            last_status_change: Some(1_700_000_001),
            birth: Some(1_699_999_999),
            size: Some(4242),
            protection_class: Some(3),
            flags: Some(0),
            target: None,
            digest: None,
            encryption_key: Some(vec![3, 0, 0, 0, 9, 9, 9]),
        }
    }

    #[test]
    fn round_trip() {
        let file = sample();
        assert_eq!(decode(&encode(&file)).unwrap(), file);
        let bare = MbFile::default();
        assert_eq!(decode(&encode(&bare)).unwrap(), bare);
    }

    #[test]
    fn hostile_blobs_are_errors() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut]);
        }
        let mut seed = 0x1234_5678u32;
        for _ in 0..3000 {
            let mut damaged = bytes.clone();
            for _ in 0..3 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (seed >> 8) as usize % damaged.len();
                damaged[at] ^= (seed >> 24) as u8 | 1;
            }
            let _ = decode(&damaged);
        }
        assert!(matches!(decode(b"not a plist"), Err(MbFileError::NotPlist(_))));
        // A UID pointing at itself, and a root that is not a dictionary.
        let mut top = Dictionary::new();
        top.insert("root".into(), Value::Uid(Uid::new(1)));
        let mut archive = Dictionary::new();
        archive.insert("$top".into(), Value::Dictionary(top));
        archive.insert(
            "$objects".into(),
            Value::Array(vec![Value::String("$null".into()), Value::Uid(Uid::new(1))]),
        );
        let mut out = Vec::new();
        Value::Dictionary(archive).to_writer_binary(&mut out).unwrap();
        assert!(matches!(decode(&out), Err(MbFileError::NotArchive(_))));
    }
}
