//! How lifeboat reaches phones: through a usbmuxd daemon, or over USB in-process (the `usb`
//! feature, Linux). `auto` picks the daemon when one answers and USB when none does.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use crate::address::UsbmuxAddress;
use crate::error::Error;
use crate::stream::UsbmuxStream;

/// Whether this build can talk to phones over USB directly.
pub const USB_SUPPORTED: bool = cfg!(all(feature = "usb", target_os = "linux"));

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportChoice {
    /// Only through usbmuxd.
    Daemon,
    /// Only over USB, in-process.
    Usb,
    /// The daemon when one answers at the default address, USB otherwise. An address given
    /// on purpose (`--usbmux` or `USBMUXD_SOCKET_ADDRESS`) means that daemon and no other.
    #[default]
    Auto,
}

impl TransportChoice {
    pub const NAMES: [&'static str; 3] = ["daemon", "usb", "auto"];
}

impl FromStr for TransportChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<TransportChoice, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "daemon" | "usbmuxd" => Ok(TransportChoice::Daemon),
            "usb" => Ok(TransportChoice::Usb),
            "auto" => Ok(TransportChoice::Auto),
            _ => Err(format!("{text:?} is not a transport: use daemon, usb or auto")),
        }
    }
}

impl fmt::Display for TransportChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportChoice::Daemon => "daemon",
            TransportChoice::Usb => "usb",
            TransportChoice::Auto => "auto",
        })
    }
}

/// Where the USB transport keeps what a daemon would keep for it.
#[derive(Debug, Clone, Default)]
pub struct UsbSettings {
    /// lifeboat's own pair record folder; the host's SystemBUID is kept there too.
    pub records_dir: PathBuf,
    /// The platform's lockdown folders, read first (usbmuxd's BUID, if readable).
    pub system_dirs: Vec<PathBuf>,
}

/// The transport in use, for messages and `lifeboat devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportInfo {
    Daemon {
        address: UsbmuxAddress,
    },
    /// `no_daemon_at`: the address where `auto` found nobody, if that is why.
    Usb {
        no_daemon_at: Option<UsbmuxAddress>,
    },
}

impl TransportInfo {
    /// A short stable name for JSON: `usbmuxd` or `usb`.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportInfo::Daemon { .. } => "usbmuxd",
            TransportInfo::Usb { .. } => "usb",
        }
    }
}

impl fmt::Display for TransportInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportInfo::Daemon { address } => write!(f, "usbmuxd at {address}"),
            TransportInfo::Usb {
                no_daemon_at: Some(address),
            } => {
                write!(f, "USB directly, as no usbmuxd daemon answered at {address}")
            }
            TransportInfo::Usb { no_daemon_at: None } => write!(f, "USB directly, as asked"),
        }
    }
}

/// Whether a daemon answers at `address`. Only "nothing there" counts as no: a socket that
/// exists but refuses us (permissions, say) is a daemon whose error the user should see.
pub(crate) fn daemon_answers(address: &UsbmuxAddress) -> bool {
    match UsbmuxStream::connect(address) {
        Ok(_) => true,
        Err(Error::Unreachable { source, .. }) => !nobody_there(&source),
        Err(_) => true,
    }
}

fn nobody_there(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        for name in TransportChoice::NAMES {
            assert_eq!(name.parse::<TransportChoice>().unwrap().to_string(), name);
        }
        assert_eq!("USB".parse::<TransportChoice>().unwrap(), TransportChoice::Usb);
        assert!("bluetooth".parse::<TransportChoice>().is_err());
        assert_eq!(TransportChoice::default(), TransportChoice::Auto);
    }

    #[cfg(unix)]
    #[test]
    fn only_a_listening_socket_is_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usbmuxd");
        assert!(
            !daemon_answers(&UsbmuxAddress::Unix(path.clone())),
            "missing socket file"
        );
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(daemon_answers(&UsbmuxAddress::Unix(path.clone())));
        drop(listener);
        assert!(!daemon_answers(&UsbmuxAddress::Unix(path)), "stale socket file");
    }

    #[cfg(unix)]
    #[test]
    fn auto_uses_a_daemon_that_answers_and_usb_when_none_does() {
        use crate::client::UsbmuxClient;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usbmuxd");
        let address = UsbmuxAddress::Unix(path.clone());
        let client =
            |choice, given| UsbmuxClient::with_transport(choice, address.clone(), given, UsbSettings::default());
        let daemon = TransportInfo::Daemon {
            address: address.clone(),
        };

        // Nothing listens at the default address.
        let auto = client(TransportChoice::Auto, false).unwrap().transport();
        if USB_SUPPORTED {
            assert_eq!(
                auto,
                TransportInfo::Usb {
                    no_daemon_at: Some(address.clone())
                }
            );
            assert!(
                auto.to_string().contains("as no usbmuxd daemon answered at UNIX:"),
                "{auto}"
            );
        } else {
            assert_eq!(auto, daemon, "without USB support there is only the daemon");
        }
        // An address the user gave means that daemon, listening or not.
        assert_eq!(client(TransportChoice::Auto, true).unwrap().transport(), daemon);
        assert_eq!(client(TransportChoice::Daemon, false).unwrap().transport(), daemon);
        match (client(TransportChoice::Usb, false), USB_SUPPORTED) {
            (Ok(usb), true) => {
                assert_eq!(usb.transport(), TransportInfo::Usb { no_daemon_at: None });
                assert!(!usb.stores_pair_records());
                assert_eq!(usb.read_pair_record("UDID").unwrap(), None);
                assert!(usb.save_pair_record("UDID", None, b"record").is_err());
            }
            (Err(e), false) => assert!(matches!(e, Error::UsbUnavailable(_)), "{e}"),
            (other, supported) => panic!("USB support {supported}, yet --transport usb gave {other:?}"),
        }

        // A daemon listening at the default address is used.
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let auto = client(TransportChoice::Auto, false).unwrap();
        assert_eq!(auto.transport(), daemon);
        assert!(auto.stores_pair_records());
    }
}
