//! Typed usbmuxd messages and their plist dictionaries, for both directions.

use std::fmt;

use plist::{Dictionary, Value};

use crate::device::Device;
use crate::error::{Error, Result};

/// What a client identifies itself as; the daemon stores it and otherwise ignores it.
pub const CLIENT_VERSION: &str = concat!("lifeboat-usbmux ", env!("CARGO_PKG_VERSION"));
pub const PROG_NAME: &str = "lifeboat";
/// `kLibUSBMuxVersion` as libusbmuxd and pymobiledevice3 send it.
pub const LIBUSBMUX_VERSION: u64 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    ListDevices,
    Listen,
    /// `port` is the host-order TCP port; it is byte-swapped on the wire.
    Connect {
        device_id: u32,
        port: u16,
    },
    ReadBuid,
    ReadPairRecord {
        udid: String,
    },
    SavePairRecord {
        udid: String,
        data: Vec<u8>,
        device_id: Option<u32>,
    },
    DeletePairRecord {
        udid: String,
    },
    ListListeners,
    /// Any other MessageType (the server answers BADCOMMAND).
    Unknown(String),
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::ListDevices => "ListDevices",
            Request::Listen => "Listen",
            Request::Connect { .. } => "Connect",
            Request::ReadBuid => "ReadBUID",
            Request::ReadPairRecord { .. } => "ReadPairRecord",
            Request::SavePairRecord { .. } => "SavePairRecord",
            Request::DeletePairRecord { .. } => "DeletePairRecord",
            Request::ListListeners => "ListListeners",
            Request::Unknown(_) => "Unknown",
        }
    }

    /// The request as a client sends it, with the identification keys real clients add.
    pub fn to_plist(&self) -> Value {
        let mut d = Dictionary::new();
        d.insert("ClientVersionString".into(), CLIENT_VERSION.into());
        d.insert("ProgName".into(), PROG_NAME.into());
        d.insert("kLibUSBMuxVersion".into(), LIBUSBMUX_VERSION.into());
        let message_type = match self {
            Request::Unknown(name) => name.clone(),
            other => other.name().to_string(),
        };
        d.insert("MessageType".into(), message_type.into());
        match self {
            Request::Connect { device_id, port } => {
                d.insert("DeviceID".into(), u64::from(*device_id).into());
                d.insert("PortNumber".into(), u64::from(port.swap_bytes()).into());
            }
            Request::ReadPairRecord { udid } | Request::DeletePairRecord { udid } => {
                d.insert("PairRecordID".into(), udid.clone().into());
            }
            Request::SavePairRecord { udid, data, device_id } => {
                d.insert("PairRecordID".into(), udid.clone().into());
                d.insert("PairRecordData".into(), Value::Data(data.clone()));
                if let Some(id) = device_id {
                    d.insert("DeviceID".into(), u64::from(*id).into());
                }
            }
            _ => {}
        }
        Value::Dictionary(d)
    }

    /// Parses a request as a server receives it. Missing arguments are reported as the
    /// result code the real daemon gives for them.
    pub fn from_plist(d: &Dictionary) -> std::result::Result<Request, ResultCode> {
        let Some(message_type) = d.get("MessageType").and_then(Value::as_string) else {
            return Err(ResultCode::BadCommand);
        };
        let udid = || {
            d.get("PairRecordID")
                .and_then(Value::as_string)
                .map(str::to_string)
                .ok_or(ResultCode::Errno(22))
        };
        Ok(match message_type {
            "ListDevices" => Request::ListDevices,
            "Listen" => Request::Listen,
            "Connect" => {
                let device_id = d.get("DeviceID").and_then(as_u32).ok_or(ResultCode::BadDevice)?;
                let wire_port = d
                    .get("PortNumber")
                    .and_then(as_u32)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(ResultCode::BadCommand)?;
                Request::Connect {
                    device_id,
                    port: wire_port.swap_bytes(),
                }
            }
            "ReadBUID" => Request::ReadBuid,
            "ReadPairRecord" => Request::ReadPairRecord { udid: udid()? },
            "DeletePairRecord" => Request::DeletePairRecord { udid: udid()? },
            "SavePairRecord" => {
                let data = d
                    .get("PairRecordData")
                    .and_then(Value::as_data)
                    .ok_or(ResultCode::Errno(22))?
                    .to_vec();
                Request::SavePairRecord {
                    udid: udid()?,
                    data,
                    device_id: d.get("DeviceID").and_then(as_u32),
                }
            }
            "ListListeners" => Request::ListListeners,
            other => Request::Unknown(other.to_string()),
        })
    }
}

/// Accepts unsigned and (as jkcoxson/idevice sends) signed plist integers.
fn as_u32(v: &Value) -> Option<u32> {
    v.as_unsigned_integer()
        .or_else(|| v.as_signed_integer().and_then(|s| u64::try_from(s).ok()))
        .and_then(|u| u32::try_from(u).ok())
}

/// The `Number` of a `Result` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Ok,
    BadCommand,
    BadDevice,
    ConnectionRefused,
    BadVersion,
    /// Pair record requests answer errno values (2 = ENOENT, 22 = EINVAL).
    Errno(u32),
}

impl ResultCode {
    pub fn number(self) -> u32 {
        match self {
            ResultCode::Ok => 0,
            ResultCode::BadCommand => 1,
            ResultCode::BadDevice => 2,
            ResultCode::ConnectionRefused => 3,
            ResultCode::BadVersion => 6,
            ResultCode::Errno(n) => n,
        }
    }

    pub fn from_number(n: u32) -> ResultCode {
        match n {
            0 => ResultCode::Ok,
            1 => ResultCode::BadCommand,
            2 => ResultCode::BadDevice,
            3 => ResultCode::ConnectionRefused,
            6 => ResultCode::BadVersion,
            n => ResultCode::Errno(n),
        }
    }

    pub fn to_plist(self) -> Value {
        let mut d = Dictionary::new();
        d.insert("MessageType".into(), "Result".into());
        d.insert("Number".into(), u64::from(self.number()).into());
        Value::Dictionary(d)
    }

    /// Reads `{MessageType: Result, Number}` from a reply, if it is one.
    pub fn from_reply(d: &Dictionary) -> Option<ResultCode> {
        if d.get("MessageType").and_then(Value::as_string) != Some("Result") {
            return None;
        }
        d.get("Number").and_then(as_u32).map(ResultCode::from_number)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultCode::Ok => write!(f, "OK (0)"),
            ResultCode::BadCommand => write!(f, "BADCOMMAND (1)"),
            ResultCode::BadDevice => write!(f, "BADDEV (2): no such device"),
            ResultCode::ConnectionRefused => write!(f, "CONNREFUSED (3)"),
            ResultCode::BadVersion => write!(f, "BADVERSION (6)"),
            ResultCode::Errno(2) => write!(f, "ENOENT (2)"),
            ResultCode::Errno(n) => write!(f, "error {n}"),
        }
    }
}

/// An unsolicited message on a `Listen` connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Attached(Device),
    Detached { device_id: u32 },
    Paired { device_id: u32 },
}

impl Event {
    pub fn to_plist(&self) -> Value {
        match self {
            Event::Attached(device) => device.to_attached_plist(),
            Event::Detached { device_id } | Event::Paired { device_id } => {
                let mut d = Dictionary::new();
                let kind = if matches!(self, Event::Detached { .. }) {
                    "Detached"
                } else {
                    "Paired"
                };
                d.insert("MessageType".into(), kind.into());
                d.insert("DeviceID".into(), u64::from(*device_id).into());
                Value::Dictionary(d)
            }
        }
    }

    /// Parses an event; `Ok(None)` for message types we do not know (skipped, not fatal).
    pub fn from_plist(d: &Dictionary) -> Result<Option<Event>> {
        let device_id = || {
            d.get("DeviceID")
                .and_then(as_u32)
                .ok_or_else(|| Error::Protocol("event without DeviceID".into()))
        };
        Ok(match d.get("MessageType").and_then(Value::as_string) {
            Some("Attached") => Some(Event::Attached(Device::from_attached_plist(d)?)),
            Some("Detached") => Some(Event::Detached {
                device_id: device_id()?,
            }),
            Some("Paired") => Some(Event::Paired {
                device_id: device_id()?,
            }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_port_is_byte_swapped() {
        let req = Request::Connect {
            device_id: 7,
            port: 62078,
        };
        let Value::Dictionary(d) = req.to_plist() else { panic!() };
        assert_eq!(d.get("PortNumber").and_then(Value::as_unsigned_integer), Some(32498));
        assert_eq!(Request::from_plist(&d).unwrap(), req);
        let afc = Request::Connect {
            device_id: 1,
            port: 49152,
        };
        let Value::Dictionary(d) = afc.to_plist() else { panic!() };
        assert_eq!(d.get("PortNumber").and_then(Value::as_unsigned_integer), Some(192));
    }

    #[test]
    fn server_side_errors_match_daemon() {
        let mut d = Dictionary::new();
        assert_eq!(Request::from_plist(&d), Err(ResultCode::BadCommand));
        d.insert("MessageType".into(), "Connect".into());
        assert_eq!(Request::from_plist(&d), Err(ResultCode::BadDevice));
        d.insert("DeviceID".into(), 3u64.into());
        assert_eq!(Request::from_plist(&d), Err(ResultCode::BadCommand));
        d.insert("PortNumber".into(), Value::Integer((-1i64).into()));
        assert_eq!(Request::from_plist(&d), Err(ResultCode::BadCommand));
        let mut d = Dictionary::new();
        d.insert("MessageType".into(), "Frobnicate".into());
        assert_eq!(Request::from_plist(&d), Ok(Request::Unknown("Frobnicate".into())));
    }

    #[test]
    fn events_round_trip() {
        for ev in [Event::Detached { device_id: 4 }, Event::Paired { device_id: 9 }] {
            let Value::Dictionary(d) = ev.to_plist() else { panic!() };
            assert_eq!(Event::from_plist(&d).unwrap(), Some(ev));
        }
    }
}
