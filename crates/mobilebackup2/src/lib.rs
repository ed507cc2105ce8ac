//! DeviceLink and the `com.apple.mobilebackup2` backup protocol (docs/backup.md §1).
//!
//! - [`message`]: DeviceLink messages (plist arrays) both ways, and [`stream`]: the raw file
//!   streams between them. Codecs only, shared with the simulated device and the fuzzers.
//! - [`request`]: the backup protocol's requests and responses.
//! - [`errors`]: the device's error codes in words, with what to do.
//! - The host side: [`session`] (handshake, requests, the device-driven loop over any byte
//!   stream), [`store`] (the [`BackupStore`] the host's folder work sits behind), [`path`]
//!   (every path the device names, checked once), [`observer`] (progress) and [`patient`]
//!   (timeouts that never hang and still wait out a passcode prompt).

pub mod errors;
pub mod message;
pub mod observer;
pub mod path;
pub mod patient;
pub mod request;
pub mod session;
pub mod store;
pub mod stream;

pub use message::{DlMessage, Move, StatusResponse};
pub use observer::{Observer, Phase};
pub use path::{DevicePath, PathRefused};
pub use patient::{GaveUp, Limits, Signals};
pub use request::{Request, Response};
pub use session::{Finished, Report, Session, SessionError};
pub use store::{BackupStore, Entry, EntryKind};

#[cfg(test)]
mod tests;
