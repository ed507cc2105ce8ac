//! Why a phone could not be opened, in words that say what to do.

use std::io;

use rusbmux::error::RusbmuxError;

use super::device::OpenFailure;
use crate::error::Error;

/// rusbmux's error from opening a phone, sorted by what the user can do about it.
pub(crate) fn classify(err: RusbmuxError) -> OpenFailure {
    match usb_error_kind(&err) {
        Some(nusb::ErrorKind::PermissionDenied) => OpenFailure::PermissionDenied,
        Some(nusb::ErrorKind::Busy) => OpenFailure::Busy,
        _ => OpenFailure::Other(err.to_string()),
    }
}

/// `failure` from opening the phone `udid` at `node`, as one of the crate's errors.
pub(crate) fn describe(failure: OpenFailure, udid: &str, node: &str, open_timeout: std::time::Duration) -> Error {
    let udid = udid.to_string();
    match failure {
        OpenFailure::PermissionDenied => Error::UsbPermission {
            udid,
            node: node.to_string(),
        },
        OpenFailure::Busy => Error::UsbBusy { udid, holder: holder() },
        // The version handshake is answered by the phone's USB side, locked or not.
        OpenFailure::TimedOut => Error::UsbOpen {
            udid,
            message: format!(
                "it did not answer the USB handshake within {} s; unplug it and plug it in again (try another cable or port if it keeps happening)",
                open_timeout.as_secs()
            ),
        },
        OpenFailure::Other(message) => Error::UsbOpen { udid, message },
    }
}

/// The nusb error kind under `err`, also when rusbmux passed it on as an `io::Error`.
fn usb_error_kind(err: &RusbmuxError) -> Option<nusb::ErrorKind> {
    match err {
        RusbmuxError::USB(e) => Some(e.kind()),
        RusbmuxError::IO(e) => io_kind(e),
        _ => None,
    }
}

fn io_kind(e: &io::Error) -> Option<nusb::ErrorKind> {
    if let Some(inner) = e.get_ref().and_then(|inner| inner.downcast_ref::<nusb::Error>()) {
        return Some(inner.kind());
    }
    match e.kind() {
        io::ErrorKind::PermissionDenied => Some(nusb::ErrorKind::PermissionDenied),
        io::ErrorKind::ResourceBusy => Some(nusb::ErrorKind::Busy),
        _ => None,
    }
}

/// Who most likely holds the phone's interface: a usbmux daemon if one is running (its
/// process name is readable by everyone, unlike the files it has open).
fn holder() -> String {
    running_daemon()
        .map(|(name, pid)| format!("{name} (process {pid})"))
        .unwrap_or_else(|| "another program (usbmuxd or a virtual machine's USB passthrough?)".into())
}

fn running_daemon() -> Option<(String, u32)> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        let name = name.trim();
        matches!(name, "usbmuxd" | "rusbmux").then(|| (name.to_string(), pid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe_rusbmux(err: RusbmuxError, udid: &str, node: &str) -> Error {
        describe(classify(err), udid, node, std::time::Duration::from_secs(5))
    }

    #[test]
    fn permission_and_busy_get_their_own_advice() {
        let denied = RusbmuxError::IO(io::Error::from(io::ErrorKind::PermissionDenied));
        let err = describe_rusbmux(denied, "UDID-1", "/dev/bus/usb/001/004");
        let text = err.to_string();
        assert!(matches!(err, Error::UsbPermission { .. }), "{text}");
        assert!(
            text.contains("/dev/bus/usb/001/004") && text.contains(crate::udev::RULE_PATH),
            "{text}"
        );
        assert!(text.contains("udevadm control --reload"), "{text}");

        let busy = RusbmuxError::IO(io::Error::from(io::ErrorKind::ResourceBusy));
        let err = describe_rusbmux(busy, "UDID-1", "/dev/bus/usb/001/004");
        assert!(matches!(err, Error::UsbBusy { .. }), "{err}");
        assert!(err.to_string().contains("systemctl stop usbmuxd"), "{err}");

        let other = describe_rusbmux(RusbmuxError::UsbmuxInterfaceNotFound, "UDID-1", "/dev/x");
        assert!(matches!(other, Error::UsbOpen { .. }), "{other}");
        assert!(other.is_transient());
    }

    #[test]
    fn a_handshake_timeout_does_not_ask_to_unlock_the_phone() {
        let err = describe(
            OpenFailure::TimedOut,
            "UDID-1",
            "/dev/x",
            std::time::Duration::from_secs(5),
        );
        let text = err.to_string();
        assert!(err.is_transient(), "{text}");
        assert!(!text.to_lowercase().contains("unlock it"), "{text}");
        assert!(
            text.contains("within 5 s") && text.contains("plug it in again"),
            "{text}"
        );
    }
}
