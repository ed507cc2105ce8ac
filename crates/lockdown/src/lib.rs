//! lockdownd: the phone's gatekeeper on port 62078. Sessions over TLS, pairing (the Trust
//! dialog), device values, and starting services such as AFC.
//!
//! [`codec`] and [`message`] are bytes-to-messages with no I/O, shared with `fake-iphone`;
//! [`client`] drives a connection; [`pairing`] makes the certificates; [`store`] finds and
//! keeps pair records.

pub mod client;
pub mod codec;
pub mod error;
pub mod message;
pub mod pair_record;
pub mod pairing;
pub mod store;
pub mod tls;

pub use client::{LockdownClient, ServiceInfo};
pub use error::{DeviceError, Error, Result};
pub use pair_record::PairRecord;
pub use store::PairRecordStore;

/// The `Type` lockdownd answers to `QueryType`.
pub const LOCKDOWN_TYPE: &str = "com.apple.mobile.lockdown";
pub use client::{PairingProgress, ServiceStream};
