//! lockdownd: the phone's gatekeeper on port 62078. Sessions over TLS, pairing (the Trust
//! dialog), device values, and starting services such as AFC.
//!
//! [`codec`] (plist frames) and [`message`] (typed requests and replies) turn bytes into
//! messages with no I/O, shared with `fake-iphone`; [`wire`] reads and writes frames on a
//! stream; [`client`] drives a connection; [`session_tls`] is its TLS, modern or (for old iOS,
//! [`ios`]) legacy; [`service`] opens any service on the phone;
//! [`pairing`] makes the certificates; [`store`] finds and keeps pair records.

pub mod client;
pub mod codec;
pub mod error;
pub mod ios;
#[cfg(feature = "legacy-tls")]
pub mod legacy_tls;
pub mod message;
pub mod pair_record;
pub mod pairing;
pub mod service;
pub mod session_tls;
pub mod store;
pub mod tls;
pub mod wire;

pub use client::{LockdownClient, ServiceInfo};
pub use error::{DeviceError, Error, Result};
pub use pair_record::PairRecord;
pub use store::PairRecordStore;

/// The `Type` lockdownd answers to `QueryType`.
pub const LOCKDOWN_TYPE: &str = "com.apple.mobile.lockdown";
pub use client::PairingProgress;
pub use service::{OpenOptions, ServiceStream};
