//! The backup protocol inside `DLMessageProcessMessage`: the host's requests and the
//! device's responses (docs/backup.md §1.3, §1.4, §1.7), typed once for the host and the
//! simulated device.

use plist::{Dictionary, Value};

/// Protocol versions the host offers in `Hello`.
pub const SUPPORTED_VERSIONS: [f64; 2] = [2.0, 2.1];

/// A host request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Hello {
        versions: Vec<f64>,
    },
    Backup {
        target: String,
        source: Option<String>,
        force_full: bool,
    },
    Info {
        target: String,
    },
    /// Enabling encryption sends only the new password, disabling only the old.
    ChangePassword {
        target: String,
        old: Option<String>,
        new: Option<String>,
    },
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "Hello",
            Request::Backup { .. } => "Backup",
            Request::Info { .. } => "Info",
            Request::ChangePassword { .. } => "ChangePassword",
        }
    }

    pub fn encode(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("MessageName".into(), self.name().into());
        match self {
            Request::Hello { versions } => {
                d.insert(
                    "SupportedProtocolVersions".into(),
                    Value::Array(versions.iter().map(|v| Value::Real(*v)).collect()),
                );
            }
            Request::Backup {
                target,
                source,
                force_full,
            } => {
                d.insert("TargetIdentifier".into(), target.as_str().into());
                if let Some(source) = source {
                    d.insert("SourceIdentifier".into(), source.as_str().into());
                }
                let mut options = Dictionary::new();
                options.insert("ForceFullBackup".into(), (*force_full).into());
                d.insert("Options".into(), Value::Dictionary(options));
            }
            Request::Info { target } => {
                d.insert("TargetIdentifier".into(), target.as_str().into());
            }
            Request::ChangePassword { target, old, new } => {
                d.insert("TargetIdentifier".into(), target.as_str().into());
                if let Some(old) = old {
                    d.insert("OldPassword".into(), old.as_str().into());
                }
                if let Some(new) = new {
                    d.insert("NewPassword".into(), new.as_str().into());
                }
            }
        }
        d
    }

    /// The request a device received, or the name of one it does not serve.
    pub fn decode(message: &Dictionary) -> Result<Request, String> {
        let text = |key: &str| message.get(key).and_then(Value::as_string).map(str::to_string);
        let name = text("MessageName").unwrap_or_default();
        let target = || text("TargetIdentifier").unwrap_or_default();
        match name.as_str() {
            "Hello" => Ok(Request::Hello {
                versions: message
                    .get("SupportedProtocolVersions")
                    .and_then(Value::as_array)
                    .map(|list| list.iter().filter_map(Value::as_real).collect())
                    .unwrap_or_default(),
            }),
            "Backup" => Ok(Request::Backup {
                target: target(),
                source: text("SourceIdentifier"),
                force_full: message
                    .get("Options")
                    .and_then(Value::as_dictionary)
                    .and_then(|o| o.get("ForceFullBackup"))
                    .and_then(Value::as_boolean)
                    .unwrap_or(false),
            }),
            "Info" => Ok(Request::Info { target: target() }),
            "ChangePassword" => Ok(Request::ChangePassword {
                target: target(),
                old: text("OldPassword"),
                new: text("NewPassword"),
            }),
            _ => Err(name),
        }
    }
}

/// The device's `Response` (to Hello) or final message of an operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub error_code: u64,
    pub description: Option<String>,
    pub protocol_version: Option<f64>,
    pub content: Option<Value>,
}

impl Response {
    pub fn ok() -> Response {
        Response::default()
    }

    pub fn error(code: u64, description: impl Into<String>) -> Response {
        Response {
            error_code: code,
            description: Some(description.into()),
            ..Default::default()
        }
    }

    pub fn encode(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("MessageName".into(), "Response".into());
        d.insert("ErrorCode".into(), Value::Integer(self.error_code.into()));
        if let Some(description) = &self.description {
            d.insert("ErrorDescription".into(), description.as_str().into());
        }
        if let Some(version) = self.protocol_version {
            d.insert("ProtocolVersion".into(), Value::Real(version));
        }
        if let Some(content) = &self.content {
            d.insert("Content".into(), content.clone());
        }
        d
    }

    /// A response; one without `ErrorCode` is an error of its own (pymobiledevice3 agrees).
    pub fn decode(message: &Dictionary) -> Option<Response> {
        let error_code = match message.get("ErrorCode")? {
            Value::Integer(i) => i.as_unsigned().or_else(|| i.as_signed().map(|s| s as u64))?,
            _ => return None,
        };
        Some(Response {
            error_code,
            description: message
                .get("ErrorDescription")
                .and_then(Value::as_string)
                .map(str::to_string),
            protocol_version: message.get("ProtocolVersion").and_then(Value::as_real),
            content: message.get("Content").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for request in [
            Request::Hello {
                versions: SUPPORTED_VERSIONS.to_vec(),
            },
            Request::Backup {
                target: "UDID".into(),
                source: Some("UDID".into()),
                force_full: true,
            },
            Request::Info { target: "UDID".into() },
            Request::ChangePassword {
                target: "UDID".into(),
                old: None,
                new: Some("secret".into()),
            },
        ] {
            assert_eq!(Request::decode(&request.encode()), Ok(request));
        }
        let mut other = Dictionary::new();
        other.insert("MessageName".into(), "EraseDevice".into());
        assert_eq!(Request::decode(&other), Err("EraseDevice".into()));
    }

    #[test]
    fn responses_round_trip_and_need_an_error_code() {
        let hello = Response {
            protocol_version: Some(2.1),
            ..Response::ok()
        };
        assert_eq!(Response::decode(&hello.encode()), Some(hello));
        let failed = Response::error(105, "Insufficient free disk space (MBErrorDomain/105)");
        assert_eq!(Response::decode(&failed.encode()), Some(failed));
        assert_eq!(Response::decode(&Dictionary::new()), None);
    }
}
