//! Device file names as local file names: the one name rule of every command that saves
//! the phone's files.
//!
//! - A name a phone's file system cannot hold (empty, `.`, `..`, a `/`) is a listing that
//!   lies; it is refused and reported.
//! - Any other name is saved, under a name that is safe on every platform and disk a backup
//!   may land on (ext4, APFS, NTFS, exFAT): characters Windows forbids, control characters
//!   and trailing dots or spaces become `_`, a name Windows reserves (`CON`, `LPT1`...) gets
//!   a `_`, and a name too long is shortened. The phone's own name stays in the manifest.
//! - A name already taken by different content gets ` (1)`, then ` (2)`: [`suffixed`].

use std::borrow::Cow;
use std::collections::HashSet;

use crate::fs::TEMP_SUFFIX;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("empty name")]
    Empty,
    #[error("the name {0:?} refers to a folder itself or its parent")]
    DotName(String),
    #[error("the name {0:?} contains a path separator, which no file name on a phone can")]
    Separator(String),
}

/// Longest name most file systems take (ext4, APFS, NTFS: 255 bytes).
pub const MAX_NAME_BYTES: usize = 255;

/// Local names are kept this short, so that a suffix such as ` (12)` always fits.
const MAX_LOCAL_BYTES: usize = MAX_NAME_BYTES - 15;

/// Names lifeboat itself writes into a destination; a phone file never takes them.
const OWN_NAMES: [&str; 2] = ["SHA256SUMS", ".lifeboat"];

/// Checks one name from a phone's folder listing.
pub fn check_listed(name: &str) -> Result<&str, Refused> {
    if name.is_empty() {
        return Err(Refused::Empty);
    }
    if name == "." || name == ".." {
        return Err(Refused::DotName(name.into()));
    }
    if name.contains(['/', '\0']) {
        return Err(Refused::Separator(name.escape_debug().to_string()));
    }
    Ok(name)
}

/// Characters that cannot stand in a name on some platform lifeboat writes to.
fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\\' | '/' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

/// Windows' device names, which no file may take whatever its extension.
fn reserved_on_windows(stem: &str) -> bool {
    let upper = stem.trim_end_matches([' ', '.']).to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$")
        || (upper.len() == 4
            && (upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.as_bytes()[3].is_ascii_digit())
}

/// `name` as a local file name that every platform accepts: the name itself when it is
/// already safe, which is almost always.
pub fn local_name(name: &str) -> Cow<'_, str> {
    let trailing = name.len() - name.trim_end_matches(['.', ' ']).len();
    let (stem, _) = split_ext(name);
    let clean = !name.chars().any(forbidden)
        && trailing == 0
        && name.len() <= MAX_LOCAL_BYTES
        && !reserved_on_windows(stem)
        && !name.ends_with(TEMP_SUFFIX)
        && !OWN_NAMES.iter().any(|own| own.eq_ignore_ascii_case(name));
    if clean && !name.is_empty() && name != "." && name != ".." {
        return Cow::Borrowed(name);
    }
    let mut out: String = name.chars().map(|c| if forbidden(c) { '_' } else { c }).collect();
    // Windows drops trailing dots and spaces, which would merge two names into one.
    let kept = out.trim_end_matches(['.', ' ']).len();
    out.replace_range(kept.., &"_".repeat(out.len() - kept));
    let (stem, ext) = split_ext(&out);
    let mut stem = stem.to_string();
    let mut ext = ext.to_string();
    if ext.len() > 16 {
        // Not an extension worth keeping whole: shorten the name as one piece.
        stem = out.clone();
        ext.clear();
    }
    if reserved_on_windows(&stem) || stem.is_empty() || stem.chars().all(|c| c == '.') {
        stem.push('_');
    }
    let room = MAX_LOCAL_BYTES - if ext.is_empty() { 0 } else { ext.len() + 1 };
    if stem.len() > room {
        let mut cut = room;
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
    }
    let mut out = join_ext(&stem, &ext);
    if out.ends_with(TEMP_SUFFIX) || OWN_NAMES.iter().any(|own| own.eq_ignore_ascii_case(&out)) {
        out.push('_');
    }
    Cow::Owned(out)
}

/// `(stem, extension)`; a name with no dot, or only a leading one, has no extension.
pub fn split_ext(name: &str) -> (&str, &str) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (name, ""),
    }
}

/// `stem.ext`, or the stem alone when there is no extension (never `IMG.`).
pub fn join_ext(stem: &str, ext: &str) -> String {
    if ext.is_empty() {
        stem.to_string()
    } else {
        format!("{stem}.{ext}")
    }
}

/// The `n`th name for a file whose first choice is taken: `IMG_0001 (n).HEIC`, counted
/// from 1; `n` = 0 is the name itself.
pub fn suffixed(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let (stem, ext) = split_ext(name);
    join_ext(&format!("{stem} ({n})"), ext)
}

/// The names already used in one local folder, compared without case, so two device files
/// never land on one file of a case-insensitive disk: the second of `IMG_0001.JPG` and
/// `img_0001.jpg` is saved as `img_0001 (1).jpg`.
#[derive(Debug, Default)]
pub struct Folder {
    taken: HashSet<String>,
}

impl Folder {
    /// The local name a phone file called `name` gets in this folder, now claimed.
    pub fn claim(&mut self, name: &str) -> String {
        let local = local_name(name);
        let mut n = 0;
        loop {
            let candidate = suffixed(&local, n);
            if self.taken.insert(candidate.to_lowercase()) {
                return candidate;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_impossible_names_are_refused() {
        assert_eq!(check_listed("IMG_0001.HEIC"), Ok("IMG_0001.HEIC"));
        assert_eq!(check_listed("IMG\\0003.JPG"), Ok("IMG\\0003.JPG"));
        assert_eq!(check_listed("new\nline.JPG"), Ok("new\nline.JPG"));
        for bad in ["", ".", "..", "../x", "a/b", "x\0y"] {
            assert!(check_listed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn safe_names_are_kept_and_others_made_safe() {
        assert_eq!(local_name("IMG_0001.HEIC"), "IMG_0001.HEIC");
        assert_eq!(local_name("Ünïcode ok.jpg"), "Ünïcode ok.jpg");
        assert!(matches!(local_name("IMG_0001.HEIC"), Cow::Borrowed(_)));
        assert_eq!(local_name("IMG\\0003.JPG"), "IMG_0003.JPG");
        assert_eq!(local_name("new\nline.JPG"), "new_line.JPG");
        assert_eq!(local_name("x\u{1}\u{7f}.JPG"), "x__.JPG");
        assert_eq!(local_name("a:b?.JPG"), "a_b_.JPG");
        assert_eq!(local_name("CON.JPG"), "CON_.JPG");
        assert_eq!(local_name("lpt1"), "lpt1_");
        assert_eq!(local_name("COM10.JPG"), "COM10.JPG");
        assert_eq!(local_name("trailing. "), "trailing__");
        assert_eq!(local_name("SHA256SUMS"), "SHA256SUMS_");
        assert_eq!(local_name(".lifeboat"), ".lifeboat_");
        assert_eq!(local_name("x.lifeboat-part"), "x.lifeboat-part_");
        let long = format!("{}.JPG", "é".repeat(200));
        let short = local_name(&long);
        assert!(short.len() <= MAX_LOCAL_BYTES, "{}", short.len());
        assert!(short.ends_with(".JPG") && short.starts_with("éé"));
        assert!(suffixed(&short, 12345).len() <= MAX_NAME_BYTES);
        assert!(local_name(&"a".repeat(300)).len() <= MAX_LOCAL_BYTES);
    }

    #[test]
    fn suffixes_count_from_one_and_keep_the_extension() {
        assert_eq!(suffixed("IMG_0001.HEIC", 0), "IMG_0001.HEIC");
        assert_eq!(suffixed("IMG_0001.HEIC", 1), "IMG_0001 (1).HEIC");
        assert_eq!(suffixed("IMG", 2), "IMG (2)");
        assert_eq!(suffixed(".hidden", 1), ".hidden (1)");
        assert_eq!(join_ext("IMG", ""), "IMG");
    }

    #[test]
    fn case_twins_get_the_next_suffix() {
        let mut folder = Folder::default();
        assert_eq!(folder.claim("IMG_0001.HEIC"), "IMG_0001.HEIC");
        assert_eq!(folder.claim("IMG_0002.HEIC"), "IMG_0002.HEIC");
        assert_eq!(folder.claim("img_0001.heic"), "img_0001 (1).heic");
        assert_eq!(folder.claim("IMG_0001.heic"), "IMG_0001 (2).heic");
        // (1) and (2) are taken, without case, by the twins above.
        assert_eq!(folder.claim("IMG\\0001.HEIC"), "IMG_0001 (3).HEIC");
    }
}
