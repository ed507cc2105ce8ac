//! The USB side of the transport behind two traits, so the transport's decisions (which
//! phones to claim, when to retry, when a link is dead) can be tested with a fake bus: no
//! machine that runs the tests has a phone on a USB bus.
//!
//! [`UsbBus`] finds and opens phones; [`MuxDevice`] is one opened phone: it connects
//! streams to its ports, says when its link died, and lets go of it.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A byte stream to a port on the phone.
pub(crate) trait DeviceStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> DeviceStream for T {}

/// A phone on the bus, found without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its device node, `/dev/bus/usb/BBB/DDD`: new each time it is plugged in.
    pub node: String,
    /// From its serial number, before opening it; `None` when it has none.
    pub udid: Option<String>,
    pub product_id: u16,
    pub location_id: u32,
    pub speed: Option<u64>,
    /// Its folder in sysfs, where the interfaces' drivers can be read.
    pub sysfs: Option<PathBuf>,
}

/// Why a phone could not be opened, sorted by what the user can do about it.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// The device node is not ours to open (no udev rule yet, or not applied yet).
    PermissionDenied,
    /// Another program has claimed the usbmux interface.
    Busy,
    /// The phone did not answer the version handshake in time.
    TimedOut,
    /// Anything else, in words.
    Other(String),
}

/// Why a connection to a port failed.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// The phone answered with a reset: nothing listens on the port.
    Refused(String),
    /// The phone's link is gone.
    LinkDown,
}

/// Finds and opens phones.
pub(crate) trait UsbBus: Send + Sync {
    /// The iOS devices on the bus now. No bus at all is an empty list.
    fn present(&self) -> Vec<Found>;

    /// Claims the phone's usbmux interface and does the version handshake. Runs on the
    /// transport's runtime; the caller bounds it with a timeout.
    fn open(&self, found: &Found, device_id: u32) -> BoxFuture<Result<Arc<dyn MuxDevice>, OpenFailure>>;

    /// Who else holds the phone, if another program has claimed one of its interfaces.
    fn holder(&self, found: &Found) -> Option<String>;
}

/// One opened phone.
pub(crate) trait MuxDevice: Send + Sync {
    /// The UDID the phone gave when opened.
    fn udid(&self) -> String;

    /// A stream to `port`. Runs on the transport's runtime.
    fn connect(&self, port: u16) -> BoxFuture<Result<Box<dyn DeviceStream>, ConnectFailure>>;

    /// Completes when the link dies (a USB error ended the reader). Runs on the runtime.
    fn link_down(&self) -> BoxFuture<()>;

    /// Whether the link died: the phone must be opened again.
    fn is_dead(&self) -> bool;

    /// Lets go of the phone: its streams end and its interface is released.
    fn shutdown(&self);
}
