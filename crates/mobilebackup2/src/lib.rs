//! DeviceLink and the `com.apple.mobilebackup2` backup protocol (docs/backup.md §1).
//!
//! - [`message`]: DeviceLink messages (plist arrays) both ways, and [`stream`]: the raw file
//!   streams between them. Codecs only, shared with the simulated device and the fuzzers.
//! - [`request`]: the backup protocol's requests and responses.
//! - [`errors`]: the device's error codes in words, with what to do.

pub mod errors;
pub mod message;
pub mod request;
pub mod stream;

pub use message::{DlMessage, Move, StatusResponse};
pub use request::{Request, Response};
