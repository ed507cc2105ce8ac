use std::io;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach usbmuxd at {address}: {source}. Is the usbmuxd service running? (Linux: install and start `usbmuxd`; macOS and Windows: Apple's own service, installed with Finder/iTunes)"
    )]
    Unreachable {
        address: String,
        #[source]
        source: io::Error,
    },
    #[error("usbmuxd connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("usbmuxd protocol error: {0}")]
    Protocol(String),
    #[error("usbmuxd answered {code} to {request}")]
    Refused {
        request: &'static str,
        code: crate::ResultCode,
    },
    #[error("device {device_id} refused a connection to port {port}: is the service running on the phone?")]
    ConnectionRefused { device_id: u32, port: u16 },
    #[error("the device is no longer connected (usbmux device {0}); plug it back in")]
    NoSuchDevice(u32),
    #[error("bad usbmuxd address {0:?}: use UNIX:/path, /path, or host:port")]
    BadAddress(String),
}
