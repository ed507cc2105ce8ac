//! Paths the device names, checked once (issue 16 §5): relative, inside `<UDID>/`, no `..`,
//! `.` or empty parts, no NUL, no backslash, no part over 255 bytes. Every store operation
//! takes a [`DevicePath`], so an unchecked path cannot reach the disk.

use std::fmt;

/// The longest name of one path part the host accepts (what file systems allow).
pub const MAX_COMPONENT: usize = 255;

/// Why a device path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it is empty")]
    Empty,
    #[error("it is absolute")]
    Absolute,
    #[error("it contains a NUL byte")]
    Nul,
    #[error("it contains a backslash")]
    Backslash,
    #[error("it climbs out with `..`")]
    Parent,
    #[error("it has an empty or `.` part")]
    EmptyPart,
    #[error("one of its parts is {0} bytes long, more than {MAX_COMPONENT}")]
    PartTooLong(usize),
    #[error("it is outside the backup folder of this iPhone")]
    Outside,
}

/// A refused path and why, for the device's error status and the run's report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused the iPhone's path {path:?}: {reason}")]
pub struct PathRefused {
    pub path: String,
    pub reason: Refusal,
}

/// A path inside `<UDID>/`, as the device names it (`<UDID>/Snapshot/ab/abcdef…`). Its
/// first part is always the UDID; the parts after it are plain names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevicePath {
    text: String,
}

impl DevicePath {
    /// Checks `raw` against the rules above for the backup of `udid`.
    pub fn parse(raw: &str, udid: &str) -> Result<DevicePath, PathRefused> {
        check(raw, udid).map_err(|reason| PathRefused {
            path: raw.chars().take(300).collect(),
            reason,
        })
    }

    /// The whole path, `<UDID>/…`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parts after `<UDID>`; none for the backup folder itself.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.text.split('/').skip(1)
    }

    /// The path below `<UDID>/` (`Snapshot/ab/…`), empty for the folder itself.
    pub fn inner(&self) -> &str {
        self.text.split_once('/').map_or("", |(_, rest)| rest)
    }

    pub fn is_root(&self) -> bool {
        !self.text.contains('/')
    }
}

impl fmt::Display for DevicePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check(raw: &str, udid: &str) -> Result<DevicePath, Refusal> {
    // One trailing slash is how some hosts name folders; it means nothing more.
    let text = raw.strip_suffix('/').unwrap_or(raw);
    if text.is_empty() {
        return Err(Refusal::Empty);
    }
    if text.starts_with('/') {
        return Err(Refusal::Absolute);
    }
    if text.contains('\0') {
        return Err(Refusal::Nul);
    }
    if text.contains('\\') {
        return Err(Refusal::Backslash);
    }
    for part in text.split('/') {
        match part {
            ".." => return Err(Refusal::Parent),
            "" | "." => return Err(Refusal::EmptyPart),
            long if long.len() > MAX_COMPONENT => return Err(Refusal::PartTooLong(long.len())),
            _ => {}
        }
    }
    if text.split('/').next() != Some(udid) || udid.is_empty() {
        return Err(Refusal::Outside);
    }
    Ok(DevicePath { text: text.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDID: &str = "00008110-000A";

    fn refusal(raw: &str) -> Option<Refusal> {
        DevicePath::parse(raw, UDID).err().map(|e| e.reason)
    }

    #[test]
    fn backup_paths_pass() {
        let path = DevicePath::parse("00008110-000A/Snapshot/ab/abcdef", UDID).unwrap();
        assert_eq!(path.inner(), "Snapshot/ab/abcdef");
        assert_eq!(path.parts().collect::<Vec<_>>(), ["Snapshot", "ab", "abcdef"]);
        let root = DevicePath::parse("00008110-000A/", UDID).unwrap();
        assert!(root.is_root());
        assert_eq!(root.inner(), "");
    }

    #[test]
    fn hostile_paths_are_refused() {
        assert_eq!(refusal(""), Some(Refusal::Empty));
        assert_eq!(refusal("/etc/passwd"), Some(Refusal::Absolute));
        assert_eq!(refusal("00008110-000A/../x"), Some(Refusal::Parent));
        assert_eq!(refusal("00008110-000A/a/../../x"), Some(Refusal::Parent));
        assert_eq!(refusal("00008110-000A/a\0b"), Some(Refusal::Nul));
        assert_eq!(refusal("00008110-000A\\..\\x"), Some(Refusal::Backslash));
        assert_eq!(refusal("00008110-000A//x"), Some(Refusal::EmptyPart));
        assert_eq!(refusal("00008110-000A/./x"), Some(Refusal::EmptyPart));
        assert_eq!(refusal("OTHER-UDID/Status.plist"), Some(Refusal::Outside));
        assert_eq!(refusal("00008110-000A-20240101-000000"), Some(Refusal::Outside));
        assert_eq!(refusal("Status.plist"), Some(Refusal::Outside));
        let long = format!("00008110-000A/{}", "x".repeat(256));
        assert_eq!(refusal(&long), Some(Refusal::PartTooLong(256)));
        let fine = format!("00008110-000A/{}", "x".repeat(255));
        assert_eq!(refusal(&fine), None);
    }
}
