//! Finder-format backups (docs/backup.md §2): the host side of `lifeboat backup`.
//!
//! - [`store`]: the device's folder requests on a local folder, files written new and hashed.
//! - [`versions`]: dated versions sharing files by hard link, and the kill-safe switch-over.
//! - [`digests`]: lifeboat's own SHA-256 manifest of each version.

pub mod digests;
pub mod store;
pub mod versions;
