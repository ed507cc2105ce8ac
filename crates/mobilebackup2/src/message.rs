//! DeviceLink messages: plist arrays whose first element names the message
//! (docs/backup.md §1.2, §1.5, §1.7). Decoding takes what either side sends; encoding writes
//! what libimobiledevice and pymobiledevice3 accept. No I/O: the frames around them are
//! lockdown's (a 4-byte length and a plist).

use plist::{Dictionary, Value};

/// DeviceLink's placeholder for an empty parameter (docs/backup.md §1.7).
pub const EMPTY_PARAMETER: &str = "___EmptyParameterString___";

/// The DeviceLink version a host accepts: Debian's patched 1.3.0 and idevice say 400.
pub const DEVICE_LINK_VERSION: u64 = 400;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("a DeviceLink message must be a plist array with a name first, not {0}")]
    NotAnArray(&'static str),
    #[error("the DeviceLink message {name} is missing element {index} ({what})")]
    Missing {
        name: String,
        index: usize,
        what: &'static str,
    },
    #[error("element {index} of the DeviceLink message {name} should be {what}")]
    WrongType {
        name: String,
        index: usize,
        what: &'static str,
    },
}

/// One move of `DLMessageMoveItems`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: String,
    pub to: String,
}

/// A DeviceLink message, either way.
#[derive(Debug, Clone, PartialEq)]
pub enum DlMessage {
    /// Device → host: its version; host → device: `DLVersionsOk` with the host's major.
    VersionExchange {
        major: u64,
        minor: u64,
    },
    VersionsOk {
        major: u64,
    },
    DeviceReady,
    /// A request (host → device) or the final response (device → host).
    ProcessMessage(Dictionary),
    Disconnect(String),
    /// Device → host: send these host files as a raw stream.
    DownloadFiles {
        paths: Vec<String>,
        progress: f64,
    },
    /// Device → host: a raw stream of files follows.
    UploadFiles {
        progress: f64,
        total_bytes: u64,
    },
    CreateDirectory {
        path: String,
        progress: f64,
    },
    ContentsOfDirectory {
        path: String,
    },
    MoveItems {
        moves: Vec<Move>,
        progress: f64,
    },
    RemoveItems {
        paths: Vec<String>,
        progress: f64,
    },
    CopyItem {
        from: String,
        to: String,
    },
    GetFreeDiskSpace,
    PurgeDiskSpace {
        amount: u64,
    },
    /// The answer to every device request but `ProcessMessage` and `Disconnect`.
    StatusResponse(StatusResponse),
    /// A message this side does not know: answered with an error status, never ignored.
    Unknown(String),
}

/// `[DLMessageStatusResponse, code, description, payload]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusResponse {
    pub code: i64,
    pub description: Option<String>,
    pub payload: Option<Value>,
}

impl StatusResponse {
    pub fn ok() -> StatusResponse {
        StatusResponse {
            code: 0,
            description: None,
            payload: None,
        }
    }

    pub fn ok_with(payload: Value) -> StatusResponse {
        StatusResponse {
            code: 0,
            description: None,
            payload: Some(payload),
        }
    }

    pub fn error(code: i64, description: impl Into<String>) -> StatusResponse {
        StatusResponse {
            code,
            description: Some(description.into()),
            payload: None,
        }
    }
}

fn name(items: &[Value]) -> Result<&str, MessageError> {
    items
        .first()
        .and_then(Value::as_string)
        .ok_or(MessageError::NotAnArray("an array without a name"))
}

struct Items<'a> {
    name: &'a str,
    items: &'a [Value],
}

impl Items<'_> {
    fn get(&self, index: usize, what: &'static str) -> Result<&Value, MessageError> {
        self.items.get(index).ok_or_else(|| MessageError::Missing {
            name: self.name.to_string(),
            index,
            what,
        })
    }

    fn wrong(&self, index: usize, what: &'static str) -> MessageError {
        MessageError::WrongType {
            name: self.name.to_string(),
            index,
            what,
        }
    }

    fn string(&self, index: usize, what: &'static str) -> Result<String, MessageError> {
        self.get(index, what)?
            .as_string()
            .map(str::to_string)
            .ok_or_else(|| self.wrong(index, what))
    }

    fn unsigned(&self, index: usize, what: &'static str) -> Result<u64, MessageError> {
        unsigned(self.get(index, what)?).ok_or_else(|| self.wrong(index, what))
    }

    fn strings(&self, index: usize, what: &'static str) -> Result<Vec<String>, MessageError> {
        let array = self
            .get(index, what)?
            .as_array()
            .ok_or_else(|| self.wrong(index, what))?;
        array
            .iter()
            .map(|v| v.as_string().map(str::to_string).ok_or_else(|| self.wrong(index, what)))
            .collect()
    }

    /// Progress is optional everywhere: a missing or odd one is 0.
    fn progress(&self, index: usize) -> f64 {
        self.items.get(index).and_then(number).unwrap_or(0.0)
    }
}

fn unsigned(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(i) => i
            .as_unsigned()
            .or_else(|| i.as_signed().and_then(|s| u64::try_from(s).ok())),
        Value::Real(r) if *r >= 0.0 && r.is_finite() => Some(*r as u64),
        _ => None,
    }
}

fn signed(value: &Value) -> Option<i64> {
    match value {
        // pymobiledevice3 writes negative codes as their two's complement in a uint64.
        Value::Integer(i) => i.as_signed().or_else(|| i.as_unsigned().map(|u| u as i64)),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Real(r) if r.is_finite() => Some(*r),
        Value::Integer(i) => i
            .as_signed()
            .map(|s| s as f64)
            .or_else(|| i.as_unsigned().map(|u| u as f64)),
        _ => None,
    }
}

fn optional(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| v.as_string() != Some(EMPTY_PARAMETER))
}

impl DlMessage {
    /// Reads a message from a decoded frame.
    pub fn decode(value: Value) -> Result<DlMessage, MessageError> {
        let Value::Array(items) = value else {
            return Err(MessageError::NotAnArray(kind(&value)));
        };
        let name = name(&items)?;
        let at = Items { name, items: &items };
        Ok(match name {
            "DLMessageVersionExchange" => match items.get(1).and_then(Value::as_string) {
                Some("DLVersionsOk") => DlMessage::VersionsOk {
                    major: at.unsigned(2, "the version")?,
                },
                _ => DlMessage::VersionExchange {
                    major: at.unsigned(1, "the major version")?,
                    minor: items.get(2).and_then(unsigned).unwrap_or(0),
                },
            },
            "DLMessageDeviceReady" => DlMessage::DeviceReady,
            "DLMessageProcessMessage" => DlMessage::ProcessMessage(
                at.get(1, "the message")?
                    .as_dictionary()
                    .cloned()
                    .ok_or_else(|| at.wrong(1, "a dictionary"))?,
            ),
            "DLMessageDisconnect" => DlMessage::Disconnect(
                optional(items.get(1))
                    .and_then(Value::as_string)
                    .unwrap_or_default()
                    .to_string(),
            ),
            "DLMessageDownloadFiles" => DlMessage::DownloadFiles {
                paths: at.strings(1, "a list of paths")?,
                progress: at.progress(3),
            },
            "DLMessageUploadFiles" => DlMessage::UploadFiles {
                progress: at.progress(2),
                total_bytes: items.get(3).and_then(unsigned).unwrap_or(0),
            },
            "DLMessageCreateDirectory" => DlMessage::CreateDirectory {
                path: at.string(1, "a path")?,
                progress: at.progress(3),
            },
            "DLContentsOfDirectory" => DlMessage::ContentsOfDirectory {
                path: at.string(1, "a path")?,
            },
            "DLMessageMoveItems" | "DLMessageMoveFiles" => {
                let moves = at
                    .get(1, "the moves")?
                    .as_dictionary()
                    .ok_or_else(|| at.wrong(1, "a dictionary of moves"))?;
                DlMessage::MoveItems {
                    moves: moves
                        .iter()
                        .map(|(from, to)| {
                            to.as_string()
                                .map(|to| Move {
                                    from: from.clone(),
                                    to: to.to_string(),
                                })
                                .ok_or_else(|| at.wrong(1, "moves to paths"))
                        })
                        .collect::<Result<_, _>>()?,
                    progress: at.progress(3),
                }
            }
            "DLMessageRemoveItems" | "DLMessageRemoveFiles" => DlMessage::RemoveItems {
                paths: at.strings(1, "a list of paths")?,
                progress: at.progress(3),
            },
            "DLMessageCopyItem" => DlMessage::CopyItem {
                from: at.string(1, "a source path")?,
                to: at.string(2, "a destination path")?,
            },
            "DLMessageGetFreeDiskSpace" => DlMessage::GetFreeDiskSpace,
            "DLMessagePurgeDiskSpace" => DlMessage::PurgeDiskSpace {
                amount: items.get(1).and_then(unsigned).unwrap_or(0),
            },
            "DLMessageStatusResponse" => DlMessage::StatusResponse(StatusResponse {
                code: signed(at.get(1, "the status code")?).ok_or_else(|| at.wrong(1, "an integer"))?,
                description: optional(items.get(2)).and_then(Value::as_string).map(str::to_string),
                payload: optional(items.get(3))
                    .filter(|v| !matches!(v, Value::Dictionary(d) if d.is_empty()))
                    .cloned(),
            }),
            other => DlMessage::Unknown(other.to_string()),
        })
    }

    /// The message as a plist array.
    pub fn encode(&self) -> Value {
        let s = |text: &str| Value::String(text.to_string());
        let u = |n: u64| Value::Integer(n.into());
        let strings = |list: &[String]| Value::Array(list.iter().map(|p| s(p)).collect());
        let empty = || Value::Dictionary(Dictionary::new());
        let items = match self {
            DlMessage::VersionExchange { major, minor } => vec![s("DLMessageVersionExchange"), u(*major), u(*minor)],
            DlMessage::VersionsOk { major } => vec![s("DLMessageVersionExchange"), s("DLVersionsOk"), u(*major)],
            DlMessage::DeviceReady => vec![s("DLMessageDeviceReady")],
            DlMessage::ProcessMessage(d) => vec![s("DLMessageProcessMessage"), Value::Dictionary(d.clone())],
            DlMessage::Disconnect(reason) => vec![
                s("DLMessageDisconnect"),
                s(if reason.is_empty() { EMPTY_PARAMETER } else { reason }),
            ],
            // Four elements at least, with real progress: libimobiledevice drops shorter
            // upload messages and pymobiledevice3 indexes [2] and [3] (docs/backup.md §5.6).
            DlMessage::DownloadFiles { paths, progress } => {
                vec![
                    s("DLMessageDownloadFiles"),
                    strings(paths),
                    empty(),
                    Value::Real(*progress),
                ]
            }
            DlMessage::UploadFiles { progress, total_bytes } => vec![
                s("DLMessageUploadFiles"),
                empty(),
                Value::Real(*progress),
                u(*total_bytes),
            ],
            DlMessage::CreateDirectory { path, progress } => {
                vec![s("DLMessageCreateDirectory"), s(path), empty(), Value::Real(*progress)]
            }
            DlMessage::ContentsOfDirectory { path } => vec![s("DLContentsOfDirectory"), s(path)],
            DlMessage::MoveItems { moves, progress } => {
                let map: Dictionary = moves.iter().map(|m| (m.from.clone(), s(&m.to))).collect();
                vec![
                    s("DLMessageMoveItems"),
                    Value::Dictionary(map),
                    empty(),
                    Value::Real(*progress),
                ]
            }
            DlMessage::RemoveItems { paths, progress } => {
                vec![
                    s("DLMessageRemoveItems"),
                    strings(paths),
                    empty(),
                    Value::Real(*progress),
                ]
            }
            DlMessage::CopyItem { from, to } => vec![s("DLMessageCopyItem"), s(from), s(to)],
            DlMessage::GetFreeDiskSpace => vec![s("DLMessageGetFreeDiskSpace")],
            DlMessage::PurgeDiskSpace { amount } => vec![s("DLMessagePurgeDiskSpace"), u(*amount), u(0)],
            DlMessage::StatusResponse(status) => vec![
                s("DLMessageStatusResponse"),
                Value::Integer(status.code.into()),
                s(status.description.as_deref().unwrap_or(EMPTY_PARAMETER)),
                status.payload.clone().unwrap_or_else(|| s(EMPTY_PARAMETER)),
            ],
            DlMessage::Unknown(name) => vec![s(name)],
        };
        Value::Array(items)
    }

    /// The device's overall progress (0 to 100) the message carries, if any.
    pub fn progress(&self) -> Option<f64> {
        match self {
            DlMessage::DownloadFiles { progress, .. }
            | DlMessage::UploadFiles { progress, .. }
            | DlMessage::CreateDirectory { progress, .. }
            | DlMessage::MoveItems { progress, .. }
            | DlMessage::RemoveItems { progress, .. } => Some(*progress),
            _ => None,
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Dictionary(_) => "a dictionary",
        Value::String(_) => "a string",
        Value::Integer(_) | Value::Real(_) => "a number",
        Value::Data(_) => "data",
        _ => "a non-array value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: DlMessage) {
        assert_eq!(DlMessage::decode(message.encode()), Ok(message));
    }

    #[test]
    fn every_message_round_trips() {
        let mut hello = Dictionary::new();
        hello.insert("MessageName".into(), "Hello".into());
        for message in [
            DlMessage::VersionExchange { major: 400, minor: 0 },
            DlMessage::VersionsOk { major: 400 },
            DlMessage::DeviceReady,
            DlMessage::ProcessMessage(hello),
            DlMessage::Disconnect(String::new()),
            DlMessage::DownloadFiles {
                paths: vec!["UDID/Status.plist".into()],
                progress: 1.5,
            },
            DlMessage::UploadFiles {
                progress: 50.0,
                total_bytes: 123,
            },
            DlMessage::CreateDirectory {
                path: "UDID/00".into(),
                progress: 0.0,
            },
            DlMessage::ContentsOfDirectory { path: "UDID".into() },
            DlMessage::MoveItems {
                moves: vec![Move {
                    from: "UDID/Snapshot/ab/x".into(),
                    to: "UDID/ab/x".into(),
                }],
                progress: 99.0,
            },
            DlMessage::RemoveItems {
                paths: vec!["UDID/Snapshot".into()],
                progress: 100.0,
            },
            DlMessage::CopyItem {
                from: "a".into(),
                to: "b".into(),
            },
            DlMessage::GetFreeDiskSpace,
            DlMessage::PurgeDiskSpace { amount: 1 << 30 },
            DlMessage::StatusResponse(StatusResponse::ok()),
            DlMessage::StatusResponse(StatusResponse::error(-13, "Multi status")),
            DlMessage::StatusResponse(StatusResponse::ok_with(Value::Integer(5u64.into()))),
        ] {
            round_trip(message);
        }
    }

    #[test]
    fn files_names_are_items_and_negative_codes_survive_uint64() {
        let files = Value::Array(vec![
            "DLMessageRemoveFiles".into(),
            Value::Array(vec!["a".into()]),
            Value::Dictionary(Dictionary::new()),
            Value::Real(3.0),
        ]);
        assert_eq!(
            DlMessage::decode(files),
            Ok(DlMessage::RemoveItems {
                paths: vec!["a".into()],
                progress: 3.0
            })
        );
        let status = Value::Array(vec![
            "DLMessageStatusResponse".into(),
            Value::Integer((-13i64 as u64).into()),
            "Multi status".into(),
            Value::Dictionary(Dictionary::new()),
        ]);
        let DlMessage::StatusResponse(status) = DlMessage::decode(status).unwrap() else {
            panic!("a status")
        };
        assert_eq!((status.code, status.payload), (-13, None));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in [
            Value::Dictionary(Dictionary::new()),
            Value::Array(vec![]),
            Value::Array(vec![Value::Integer(1u64.into())]),
            Value::Array(vec!["DLMessageProcessMessage".into(), "x".into()]),
            Value::Array(vec!["DLMessageDownloadFiles".into(), "x".into()]),
            Value::Array(vec!["DLMessageMoveItems".into()]),
            Value::Array(vec!["DLMessageCreateDirectory".into(), Value::Integer(1u64.into())]),
            Value::Array(vec!["DLMessageStatusResponse".into(), "x".into()]),
        ] {
            assert!(DlMessage::decode(bad.clone()).is_err(), "{bad:?}");
        }
        assert_eq!(
            DlMessage::decode(Value::Array(vec!["DLMessageSomethingNew".into()])),
            Ok(DlMessage::Unknown("DLMessageSomethingNew".into()))
        );
    }
}
