//! What the host does with the device's folder requests, behind one trait, and how a local
//! error becomes a DeviceLink status (docs/backup.md §1.5, §1.7).

use std::io::{self, Read};
use std::time::SystemTime;

use crate::path::DevicePath;

/// A folder entry for `DLContentsOfDirectory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    /// Anything else (a symlink, a device node): listed, never followed.
    Other,
}

/// The host side of a backup folder. Every path is already checked ([`DevicePath`]); an
/// implementation must still never follow a symlink on the way to one. Errors are
/// `io::Error`s; [`status_code`] turns them into the device's errno codes.
pub trait BackupStore {
    /// `mkdir -p`.
    fn create_dir(&mut self, path: &DevicePath) -> io::Result<()>;
    /// Starts receiving a file. At most one file is open at a time.
    fn begin_file(&mut self, path: &DevicePath) -> io::Result<()>;
    /// Appends to the file being received.
    fn write_file(&mut self, data: &[u8]) -> io::Result<()>;
    /// The file is whole: puts it in place.
    fn finish_file(&mut self) -> io::Result<()>;
    /// The file will not be whole: forgets it, leaving what was there before.
    fn abort_file(&mut self);
    /// Opens a file the device asked to download.
    fn open_file(&mut self, path: &DevicePath) -> io::Result<Box<dyn Read + '_>>;
    /// Lists a folder.
    fn list_dir(&mut self, path: &DevicePath) -> io::Result<Vec<Entry>>;
    /// Renames, replacing what is at `to`.
    fn rename(&mut self, from: &DevicePath, to: &DevicePath) -> io::Result<()>;
    /// Removes a file or a folder with its contents; a missing path is fine.
    fn remove(&mut self, path: &DevicePath) -> io::Result<()>;
    /// Copies a file or a folder.
    fn copy(&mut self, from: &DevicePath, to: &DevicePath) -> io::Result<()>;
    /// Bytes free for the backup: `f_bavail * f_frsize`.
    fn free_space(&mut self) -> io::Result<u64>;
}

/// DeviceLink's error codes, as libimobiledevice and pymobiledevice3 map errno
/// (docs/backup.md §1.7).
pub mod code {
    pub const MULTI_STATUS: i64 = -13;
    pub const NOT_FOUND: i64 = -6;
    pub const EXISTS: i64 = -7;
    pub const NOT_A_DIRECTORY: i64 = -8;
    pub const IS_A_DIRECTORY: i64 = -9;
    pub const LOOP: i64 = -10;
    pub const IO: i64 = -11;
    pub const NO_SPACE: i64 = -15;
    pub const OTHER: i64 = -1;
}

/// The DeviceLink code for a local error.
pub fn status_code(error: &io::Error) -> i64 {
    use io::ErrorKind as K;
    match error.kind() {
        K::NotFound => code::NOT_FOUND,
        K::AlreadyExists => code::EXISTS,
        K::NotADirectory => code::NOT_A_DIRECTORY,
        K::IsADirectory => code::IS_A_DIRECTORY,
        K::StorageFull => code::NO_SPACE,
        _ => match error.raw_os_error() {
            Some(5) => code::IO,
            // ELOOP: 40 on Linux, 62 on the BSDs and macOS.
            Some(40) if cfg!(target_os = "linux") => code::LOOP,
            Some(62) if cfg!(target_vendor = "apple") => code::LOOP,
            _ => code::OTHER,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_codes_follow_libimobiledevice() {
        let kind = |k: io::ErrorKind| status_code(&io::Error::from(k));
        assert_eq!(kind(io::ErrorKind::NotFound), -6);
        assert_eq!(kind(io::ErrorKind::AlreadyExists), -7);
        assert_eq!(kind(io::ErrorKind::StorageFull), -15);
        assert_eq!(kind(io::ErrorKind::PermissionDenied), -1);
        assert_eq!(status_code(&io::Error::from_raw_os_error(5)), -11);
    }
}
