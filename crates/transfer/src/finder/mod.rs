//! Finder-format backups (docs/backup.md §2): the host side of `lifeboat backup`.
//!
//! - [`job`]: the run, as Finder and `idevicebackup2` make it (docs/backup.md §1.9).
//! - [`store`]: the device's folder requests on a local folder, files written new and hashed.
//! - [`versions`]: dated versions sharing files by hard link, and the kill-safe switch-over.
//! - [`digests`]: lifeboat's own SHA-256 manifest of each version.
//! - [`notify`], [`apps`], [`info_plist`]: the helper services and the host-written Info.plist.
//! - [`problems`]: what is wrong with a folder the device refused to add to.

pub mod apps;
pub mod digests;
pub mod info_plist;
pub mod job;
pub mod notify;
pub mod problems;
pub mod store;
pub mod versions;
