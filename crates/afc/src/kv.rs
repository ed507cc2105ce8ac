//! The NUL-separated key/value lists of GetFileInfo and GetDeviceInfo, and ReadDir's name
//! list (protocol.md 3.3).

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    #[error("AFC key/value list has an odd number of entries")]
    OddCount,
    #[error("AFC file info lacks {0}")]
    Missing(&'static str),
    #[error("AFC file info has a bad {key}: {value:?}")]
    BadNumber { key: &'static str, value: String },
}

/// Splits `key\0value\0...`; a trailing empty token is ignored.
pub fn parse_pairs(payload: &[u8]) -> Result<Vec<(String, String)>, KvError> {
    let mut tokens: Vec<String> = payload
        .split(|&b| b == 0)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    if tokens.last().is_some_and(String::is_empty) {
        tokens.pop();
    }
    if !tokens.len().is_multiple_of(2) {
        return Err(KvError::OddCount);
    }
    let mut pairs = Vec::with_capacity(tokens.len() / 2);
    let mut it = tokens.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    Ok(pairs)
}

pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// ReadDir's names, without `.` and `..` and empty entries. Names are returned as the phone
/// sent them; callers decide what is safe to use as a local file name.
pub fn parse_names(payload: &[u8]) -> Vec<String> {
    payload
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty() && *n != b"." && *n != b"..")
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

impl FileKind {
    pub fn from_ifmt(value: &str) -> FileKind {
        match value {
            "S_IFREG" => FileKind::File,
            "S_IFDIR" => FileKind::Directory,
            "S_IFLNK" => FileKind::Symlink,
            _ => FileKind::Other,
        }
    }

    pub fn ifmt(self) -> &'static str {
        match self {
            FileKind::File => "S_IFREG",
            FileKind::Directory => "S_IFDIR",
            FileKind::Symlink => "S_IFLNK",
            FileKind::Other => "S_IFIFO",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    pub blocks: u64,
    pub nlink: u64,
    pub kind: FileKind,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    pub birthtime_ns: Option<u64>,
    pub link_target: Option<String>,
}

impl FileInfo {
    pub fn parse(payload: &[u8]) -> Result<FileInfo, KvError> {
        let pairs = parse_pairs(payload)?;
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let number = |key: &'static str| -> Result<Option<u64>, KvError> {
            get(key)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| KvError::BadNumber {
                        key,
                        value: v.to_string(),
                    })
                })
                .transpose()
        };
        Ok(FileInfo {
            size: number("st_size")?.ok_or(KvError::Missing("st_size"))?,
            blocks: number("st_blocks")?.unwrap_or(0),
            nlink: number("st_nlink")?.unwrap_or(1),
            kind: FileKind::from_ifmt(get("st_ifmt").ok_or(KvError::Missing("st_ifmt"))?),
            mtime_ns: number("st_mtime")?.unwrap_or(0),
            birthtime_ns: number("st_birthtime")?,
            link_target: get("LinkTarget").map(str::to_string),
        })
    }

    /// The six keys a real phone sends, in its order, plus `LinkTarget` for symlinks.
    pub fn encode(&self) -> Vec<u8> {
        let mut pairs = vec![
            ("st_size", self.size.to_string()),
            ("st_blocks", self.blocks.to_string()),
            ("st_nlink", self.nlink.to_string()),
            ("st_ifmt", self.kind.ifmt().to_string()),
            ("st_mtime", self.mtime_ns.to_string()),
            ("st_birthtime", self.birthtime_ns.unwrap_or(self.mtime_ns).to_string()),
        ];
        if let Some(target) = &self.link_target {
            pairs.push(("LinkTarget", target.clone()));
        }
        encode_pairs(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_phones_answer() {
        // libimobiledevice issue #1665: a real device's GetFileInfo of a folder.
        let payload = b"st_size\x0064\x00st_blocks\x000\x00st_nlink\x002\x00st_ifmt\x00S_IFDIR\x00st_mtime\x001523978415000000000\x00st_birthtime\x001523978415000000000\x00";
        let info = FileInfo::parse(payload).unwrap();
        assert_eq!(info.kind, FileKind::Directory);
        assert_eq!(info.size, 64);
        assert_eq!(info.mtime_ns, 1_523_978_415_000_000_000);
        assert_eq!(FileInfo::parse(&info.encode()).unwrap(), info);
    }

    #[test]
    fn rejects_odd_and_incomplete_lists() {
        assert_eq!(parse_pairs(b"a\0b\0c\0"), Err(KvError::OddCount));
        assert_eq!(FileInfo::parse(b"st_ifmt\0S_IFREG\0"), Err(KvError::Missing("st_size")));
        assert!(FileInfo::parse(b"st_size\0-5\0st_ifmt\0S_IFREG\0").is_err());
    }

    #[test]
    fn names_drop_dot_entries() {
        assert_eq!(parse_names(b".\0..\x00100APPLE\0"), vec!["100APPLE"]);
    }
}
