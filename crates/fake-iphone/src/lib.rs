//! A simulated iPhone for tests and benchmarks: one process serving a usbmuxd socket for one
//! or more phones, each with a lockdownd that speaks TLS, pairs like a phone (the Trust
//! dialog, locked, denied) and starts services.
//!
//! It shares the codecs of the `usbmux` and `lockdown` crates, and real clients
//! (libimobiledevice's tools, pymobiledevice3) are run against it to keep it faithful.

mod afcd;
pub mod config;
pub mod library;
mod lockdownd;
pub mod media;
mod phone;
mod server;
mod tls;
mod usbmuxd;
pub mod values;

pub use afcd::Link;
pub use config::{Faults, PhoneConfig, TrustState};
pub use server::{FakeIphone, RunningFake};
