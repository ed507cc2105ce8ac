use std::io;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot reach usbmuxd at {address}: {source}. Is the usbmuxd service running? (Linux: install and start `usbmuxd`{}; macOS and Windows: Apple's own service, installed with Finder/iTunes)",
        if crate::transport::USB_SUPPORTED { ", or let lifeboat talk to the iPhone over USB directly" } else { "" }
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
    #[error("cannot talk to the iPhone over USB directly here: {0}")]
    UsbUnavailable(&'static str),
    #[error(
        "permission denied opening the iPhone {udid} at {node} (still so a few seconds after it appeared). Let your user open it with a udev rule, then unplug and replug the iPhone:\n{}\nThat rule's `uaccess` gives access to the user logged in at the machine only: for a run while nobody is logged in (a nightly backup, a login over SSH), use the plugdev variant instead and add the user to the plugdev group:\n{}",
        crate::udev::instructions(crate::udev::rule()),
        crate::udev::instructions(&crate::udev::plugdev_rule())
    )]
    UsbPermission { udid: String, node: String },
    #[error(
        "{holder} holds the USB interface of the iPhone {udid}, and lifeboat does not take a phone from another program. If that is usbmuxd, go through it (with usbmuxd running), or stop it first: `sudo systemctl stop usbmuxd`; otherwise close that program (a photo importer such as gvfs-gphoto2, or a virtual machine's USB passthrough) and try again"
    )]
    UsbBusy { udid: String, holder: String },
    #[error("cannot open the iPhone {udid} over USB: {message}")]
    UsbOpen { udid: String, message: String },
    #[error("the USB link to the iPhone failed: {0}")]
    UsbLink(String),
    #[error(
        "usbmuxd at {address} lists no iPhone, yet one is on the USB bus: the daemon has not claimed it (it may have lost it to another program while starting). Unplug the iPhone and plug it in again, or restart the daemon: `sudo systemctl restart usbmuxd`"
    )]
    DaemonSeesNoPhone { address: String },
    #[error("{request} needs a usbmuxd daemon, and lifeboat is talking to the iPhone over USB directly")]
    NeedsDaemon { request: &'static str },
}

impl Error {
    /// Worth another try in a moment: a phone still starting its USB side after being
    /// plugged in answers a little later. Permissions and a daemon holding it do not pass.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::UsbOpen { .. } | Error::UsbLink(_))
    }
}
