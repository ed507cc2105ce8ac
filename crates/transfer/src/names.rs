//! Device file names as local file names. A phone (or something pretending to be one) can
//! send any bytes as a name; only names that stay inside their folder on every platform are
//! used, and the rest are reported.

use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeName {
    #[error("empty name")]
    Empty,
    #[error("the name {0:?} refers to a folder itself or its parent")]
    DotName(String),
    #[error("the name {0:?} contains a path separator")]
    Separator(String),
    #[error("the name {0:?} contains control characters")]
    Control(String),
    #[error("the name is {0} bytes long, more than file systems allow")]
    TooLong(usize),
    #[error(
        "the name {0:?} differs only in letter case from {1:?}, which case-insensitive disks cannot hold side by side"
    )]
    CaseTwin(String, String),
}

/// Longest name most file systems take (ext4, APFS, NTFS: 255).
pub const MAX_NAME_BYTES: usize = 255;

/// Checks one path component received from the phone.
pub fn check(name: &str) -> Result<&str, UnsafeName> {
    if name.is_empty() {
        return Err(UnsafeName::Empty);
    }
    if name == "." || name == ".." {
        return Err(UnsafeName::DotName(name.into()));
    }
    if name.contains(['/', '\\']) {
        return Err(UnsafeName::Separator(name.into()));
    }
    if name.chars().any(char::is_control) {
        return Err(UnsafeName::Control(name.escape_debug().to_string()));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(UnsafeName::TooLong(name.len()));
    }
    Ok(name)
}

/// The names already used in one local folder, compared without case, so two device files
/// never land on one file of a case-insensitive disk.
#[derive(Debug, Default)]
pub struct Folder {
    taken: HashSet<String>,
    originals: Vec<String>,
}

impl Folder {
    /// Claims `name` in this folder, or says which name it would collide with.
    pub fn claim(&mut self, name: &str) -> Result<(), UnsafeName> {
        let folded = name.to_lowercase();
        if !self.taken.insert(folded.clone()) {
            let twin = self
                .originals
                .iter()
                .find(|o| o.to_lowercase() == folded)
                .cloned()
                .unwrap_or_default();
            return Err(UnsafeName::CaseTwin(name.into(), twin));
        }
        self.originals.push(name.into());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        assert_eq!(check("IMG_0001.HEIC"), Ok("IMG_0001.HEIC"));
        assert_eq!(check("Ünïcode ok.jpg"), Ok("Ünïcode ok.jpg"));
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", "x\0y", "x\u{1}", "x\ny", "x\u{7f}",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check(&"a".repeat(256)), Err(UnsafeName::TooLong(256)));
        assert!(check(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn case_twins_are_caught() {
        let mut folder = Folder::default();
        folder.claim("IMG_0001.HEIC").unwrap();
        folder.claim("IMG_0002.HEIC").unwrap();
        let err = folder.claim("img_0001.heic").unwrap_err();
        assert_eq!(
            err,
            UnsafeName::CaseTwin("img_0001.heic".into(), "IMG_0001.HEIC".into())
        );
    }
}
