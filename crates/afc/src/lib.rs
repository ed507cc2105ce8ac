//! AFC, the Apple File Conduit: the phone's file service rooted at `/var/mobile/Media`.
//!
//! [`codec`] turns packets into typed requests and replies and back, with no I/O; the
//! simulated phone serves with it and the client sends with it.

pub mod codec;
pub mod kv;
pub mod status;
pub mod wire;

pub use codec::{Opcode, Reply, Request};
pub use status::AfcStatus;
pub mod client;
pub mod connect;

pub use client::{AfcClient, AfcError, DeviceInfo, FetchSink, RemoteFile};
