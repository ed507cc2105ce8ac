//! The photo/backup transfer crate: what lifeboat does with the phone's files once it can
//! reach them.
//!
//! - [`photos`]: the photo library, the export job, pulling folders.
//! - [`finder`]: Finder-format device backups: made and kept as versions, found, read, verified.
//! - [`fs`]: the local disk: files that appear only complete, safe names, hashing, locks.
//! - [`manifest`]: what a destination holds, by SHA-256.
//! - [`verify`]: proving a folder whole, in one vocabulary of findings.
//! - [`source`]: where files come from (the phone, or a device backup), one trait for both.
//! - [`threaded`] and [`sinks`]: receiving fetched files, hashed on the way.

mod digest_index;
pub mod finder;
pub mod fs;
pub mod manifest;
mod parallel;
pub mod photos;
pub mod sinks;
pub mod source;
pub mod threaded;
pub mod verify;
