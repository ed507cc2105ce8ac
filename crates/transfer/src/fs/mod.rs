//! What the photo export and the backup folder need of the local disk: files that appear
//! only complete, safe names, SHA-256 of files, and the destination's lock.

pub mod durable;
pub mod hash;
pub mod lock;
pub mod names;
pub mod open;
pub mod space;
pub mod tree;

pub use atomic_file::{Access, AtomicFile, TEMP_SUFFIX, is_temporary, sync_dir};
