//! usbmuxd: the daemon that multiplexes TCP-like connections to iOS devices over USB.
//!
//! [`codec`] turns bytes into typed messages and back, with no I/O, so the client here and
//! the simulated daemon in `fake-iphone` share it. [`client`] speaks to a real daemon, or
//! with the `usb` feature on Linux reaches phones over USB in-process ([`transport`]).

pub mod address;
pub mod client;
pub mod codec;
pub mod device;
pub mod error;
pub mod message;
pub mod stream;
pub mod transport;
pub mod udev;
#[cfg(all(feature = "usb", target_os = "linux"))]
mod usb;
/// rusbmux's parser as lifeboat's USB worker runs it, for the fuzz target.
#[cfg(all(feature = "usb", target_os = "linux"))]
#[doc(hidden)]
pub use usb::device_packets;
pub mod wire;

pub use address::UsbmuxAddress;
pub use client::{Listener, UsbmuxClient};
pub use device::{ConnectionKind, Device};
pub use error::{Error, Result};
pub use message::{Event, Request, ResultCode};
pub use stream::UsbmuxStream;
pub use transport::{TransportChoice, TransportInfo, UsbSettings};

/// lockdownd's TCP port on the device.
pub const LOCKDOWN_PORT: u16 = 62078;
