//! Opening a file that must be a regular file: in a hostile or damaged folder a path may
//! name a FIFO (a blocking open would wait for a writer for ever), a device or a folder.

use std::fs::File;
use std::io;
use std::path::Path;

/// The error for a path that names no regular file.
pub const NOT_A_FILE: &str = "not a regular file";

/// Whether a symlink at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    Follow,
    /// A symlink is refused (on Unix: `O_NOFOLLOW`).
    Refuse,
}

/// Opens `path` for reading if it is a regular file; anything else is refused with
/// [`NOT_A_FILE`] and `InvalidInput`. It is opened without waiting for a writer, then
/// looked at, so a FIFO is never read.
pub fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK has no effect on a regular file's reads.
        let mut flags = rustix::fs::OFlags::NONBLOCK;
        if links == Links::Refuse {
            flags |= rustix::fs::OFlags::NOFOLLOW;
        }
        options.custom_flags(flags.bits() as i32);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, NOT_A_FILE));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        // Without a writer, a blocking open would wait for ever.
        let e = open_regular(&fifo, Links::Follow).unwrap_err();
        assert_eq!(
            (e.kind(), e.to_string()),
            (io::ErrorKind::InvalidInput, NOT_A_FILE.to_string())
        );
        let e = open_regular(dir.path(), Links::Follow).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(open_regular(&file, Links::Refuse).is_ok());
        assert!(open_regular(&link, Links::Follow).is_ok());
        assert!(open_regular(&link, Links::Refuse).is_err(), "a symlink is refused");
        assert_eq!(
            crate::fs::hash::hex(&crate::fs::hash::sha256_file(&link).unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            crate::fs::hash::sha256_file(&fifo).unwrap_err().kind(),
            io::ErrorKind::InvalidInput,
            "the hasher reads regular files only"
        );
    }
}
