//! Where the usbmuxd socket is: `--usbmux`, then `USBMUXD_SOCKET_ADDRESS`, then the platform
//! default. Accepts the forms the real clients accept: `UNIX:/path`, a bare path, `host:port`
//! and `[v6]:port`.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

pub const ENV_VAR: &str = "USBMUXD_SOCKET_ADDRESS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsbmuxAddress {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl UsbmuxAddress {
    /// The platform's default daemon address.
    pub fn platform_default() -> UsbmuxAddress {
        if cfg!(windows) {
            UsbmuxAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 27015,
            }
        } else {
            UsbmuxAddress::Unix(PathBuf::from("/var/run/usbmuxd"))
        }
    }

    /// Explicit choice first, then the environment, then the default.
    pub fn resolve(explicit: Option<&str>) -> Result<UsbmuxAddress> {
        if let Some(text) = explicit {
            return UsbmuxAddress::parse(text);
        }
        match std::env::var(ENV_VAR) {
            Ok(text) if !text.trim().is_empty() => UsbmuxAddress::parse(&text),
            _ => Ok(UsbmuxAddress::platform_default()),
        }
    }

    /// Whether the user named a daemon (the flag or the environment) rather than leaving it
    /// to the platform default.
    pub fn is_given(explicit: Option<&str>) -> bool {
        explicit.is_some() || std::env::var(ENV_VAR).is_ok_and(|text| !text.trim().is_empty())
    }

    pub fn parse(text: &str) -> Result<UsbmuxAddress> {
        let text = text.trim();
        let bad = || Error::BadAddress(text.to_string());
        if let Some(path) = text.strip_prefix("UNIX:") {
            if path.is_empty() || cfg!(windows) {
                return Err(bad());
            }
            return Ok(UsbmuxAddress::Unix(PathBuf::from(path)));
        }
        if text.starts_with('/') || text.starts_with('.') {
            return Ok(UsbmuxAddress::Unix(PathBuf::from(text)));
        }
        // host:port, split at the last colon; [v6]:port keeps its brackets off the host.
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(bad());
        }
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6,
            None if host.contains(':') => return Err(bad()),
            None => host,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(UsbmuxAddress::Tcp {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for UsbmuxAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsbmuxAddress::Unix(path) => write!(f, "UNIX:{}", path.display()),
            UsbmuxAddress::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            UsbmuxAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        assert_eq!(
            UsbmuxAddress::parse("UNIX:/tmp/mux").unwrap(),
            UsbmuxAddress::Unix("/tmp/mux".into())
        );
        assert_eq!(
            UsbmuxAddress::parse("/var/run/usbmuxd").unwrap(),
            UsbmuxAddress::Unix("/var/run/usbmuxd".into())
        );
        assert_eq!(
            UsbmuxAddress::parse("127.0.0.1:27015").unwrap(),
            UsbmuxAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 27015
            }
        );
        assert_eq!(
            UsbmuxAddress::parse("localhost:5000").unwrap(),
            UsbmuxAddress::Tcp {
                host: "localhost".into(),
                port: 5000
            }
        );
        assert_eq!(
            UsbmuxAddress::parse("[::1]:5000").unwrap(),
            UsbmuxAddress::Tcp {
                host: "::1".into(),
                port: 5000
            }
        );
        assert_eq!(UsbmuxAddress::parse("[::1]:5000").unwrap().to_string(), "[::1]:5000");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "UNIX:",
            "host",
            "host:",
            ":80",
            "host:0",
            "host:99999",
            "::1:80",
            "a:b",
        ] {
            assert!(UsbmuxAddress::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
