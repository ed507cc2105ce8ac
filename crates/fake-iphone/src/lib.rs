//! A simulated iPhone for tests and benchmarks: one process serving a usbmuxd socket for one
//! or more phones, each with a lockdownd that speaks TLS, pairs like a phone (the Trust
//! dialog, locked, denied) and starts the services of its [`Registry`] (AFC,
//! notification_proxy, mobilebackup2 with installation_proxy and springboardservices), which share one [`link`] model and one [`faults`] model.
//!
//! It shares the codecs of the `usbmux` and `lockdown` crates, and real clients
//! (libimobiledevice's tools, pymobiledevice3) are run against it to keep it faithful.

mod afcd;
pub mod backup_agent;
pub mod config;
pub mod faults;
pub mod icloud;
mod installation_proxy;
mod legacy_tls;
pub mod library;
pub mod link;
mod lockdownd;
pub mod media;
mod notification_proxy;
mod phone;
mod server;
pub mod service;
mod springboard;
mod tls;
mod usbmuxd;
pub mod values;

pub use config::{BackupConfig, PasscodePrompt, PhoneConfig, TrustState};
pub use faults::Faults;
pub use link::Link;
pub use server::{FakeIphone, RunningFake};
pub use service::{Registry, Service, ServiceContext};
