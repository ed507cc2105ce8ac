//! The NUL-separated key/value lists of GetFileInfo and GetDeviceInfo, and ReadDir's name
//! list (docs/protocol.md §3.3).

use std::borrow::Cow;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    #[error("AFC key/value list has an odd number of entries")]
    OddCount,
    #[error("AFC file info lacks {0}")]
    Missing(&'static str),
    #[error("AFC file info has a bad {key}: {value:?}")]
    BadNumber { key: &'static str, value: String },
}

/// The pairs of `key\0value\0...`, borrowed from the payload; one trailing NUL is allowed.
/// Lazy, so that a hostile reply of megabytes of NULs costs no memory to look through.
pub fn pairs(payload: &[u8]) -> impl Iterator<Item = Result<(Cow<'_, str>, Cow<'_, str>), KvError>> {
    let body = payload.strip_suffix(b"\0").unwrap_or(payload);
    let mut tokens = (!body.is_empty())
        .then(|| body.split(|&b| b == 0))
        .into_iter()
        .flatten();
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        match (tokens.next(), tokens.next()) {
            (Some(key), Some(value)) => Some(Ok((String::from_utf8_lossy(key), String::from_utf8_lossy(value)))),
            (Some(_), None) => {
                failed = true;
                Some(Err(KvError::OddCount))
            }
            (None, _) => None,
        }
    })
}

/// [`pairs`], collected and owned.
pub fn parse_pairs(payload: &[u8]) -> Result<Vec<(String, String)>, KvError> {
    pairs(payload)
        .map(|pair| pair.map(|(k, v)| (k.into_owned(), v.into_owned())))
        .collect()
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
        let number = |key: &'static str, value: &str| -> Result<u64, KvError> {
            value.parse::<u64>().map_err(|_| KvError::BadNumber {
                key,
                value: value.chars().take(64).collect(),
            })
        };
        // The first of a repeated key counts, as a lookup by key would find it.
        let (mut size, mut blocks, mut nlink, mut kind, mut mtime, mut birthtime, mut link_target) =
            (None, None, None, None, None, None, None);
        for pair in pairs(payload) {
            let (key, value) = pair?;
            match &*key {
                "st_size" if size.is_none() => size = Some(number("st_size", &value)?),
                "st_blocks" if blocks.is_none() => blocks = Some(number("st_blocks", &value)?),
                "st_nlink" if nlink.is_none() => nlink = Some(number("st_nlink", &value)?),
                "st_ifmt" if kind.is_none() => kind = Some(FileKind::from_ifmt(&value)),
                "st_mtime" if mtime.is_none() => mtime = Some(number("st_mtime", &value)?),
                "st_birthtime" if birthtime.is_none() => birthtime = Some(number("st_birthtime", &value)?),
                "LinkTarget" if link_target.is_none() => link_target = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(FileInfo {
            size: size.ok_or(KvError::Missing("st_size"))?,
            blocks: blocks.unwrap_or(0),
            nlink: nlink.unwrap_or(1),
            kind: kind.ok_or(KvError::Missing("st_ifmt"))?,
            mtime_ns: mtime.unwrap_or(0),
            birthtime_ns: birthtime,
            link_target,
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
    fn pairs_are_read_lazily_and_the_first_of_a_repeated_key_counts() {
        assert_eq!(parse_pairs(b""), Ok(vec![]));
        assert_eq!(parse_pairs(b"k\0v"), Ok(vec![("k".into(), "v".into())]));
        let info = FileInfo::parse(b"st_size\x001\x00st_size\x002\x00st_ifmt\x00S_IFREG\x00").unwrap();
        assert_eq!(info.size, 1);
        // An odd list is an error even after every key was found.
        assert_eq!(
            FileInfo::parse(b"st_size\x001\x00st_ifmt\x00S_IFREG\x00junk\x00"),
            Err(KvError::OddCount)
        );
        // A megabyte of NULs is looked through without building anything.
        assert_eq!(pairs(&vec![0u8; 1 << 20]).filter(Result::is_ok).count(), 1 << 19);
    }

    #[test]
    fn names_drop_dot_entries() {
        assert_eq!(parse_names(b".\0..\x00100APPLE\0"), vec!["100APPLE"]);
    }
}
