//! lockdownd requests and replies, typed, with their plist form both ways: the client encodes
//! requests and decodes replies, the simulated phone decodes requests and encodes replies,
//! so every request name and key is spelled here once (docs/protocol.md §2.2, §2.3).

use plist::{Dictionary, Value};

use crate::error::{DeviceError, Error, Result};

pub const LABEL: &str = "lifeboat";

/// The keys of lockdownd messages.
pub mod key {
    pub const REQUEST: &str = "Request";
    pub const LABEL: &str = "Label";
    pub const ERROR: &str = "Error";
    pub const RESULT: &str = "Result";
    pub const TYPE: &str = "Type";
    pub const DOMAIN: &str = "Domain";
    pub const KEY: &str = "Key";
    pub const VALUE: &str = "Value";
    pub const HOST_ID: &str = "HostID";
    pub const SYSTEM_BUID: &str = "SystemBUID";
    pub const SESSION_ID: &str = "SessionID";
    pub const ENABLE_SESSION_SSL: &str = "EnableSessionSSL";
    pub const SERVICE: &str = "Service";
    pub const ESCROW_BAG: &str = "EscrowBag";
    pub const PORT: &str = "Port";
    pub const ENABLE_SERVICE_SSL: &str = "EnableServiceSSL";
    pub const PAIR_RECORD: &str = "PairRecord";
    pub const DEVICE_CERTIFICATE: &str = "DeviceCertificate";
    pub const HOST_CERTIFICATE: &str = "HostCertificate";
    pub const ROOT_CERTIFICATE: &str = "RootCertificate";
    pub const PROTOCOL_VERSION: &str = "ProtocolVersion";
    pub const PAIRING_OPTIONS: &str = "PairingOptions";
    pub const EXTENDED_PAIRING_ERRORS: &str = "ExtendedPairingErrors";
    pub const HOST_NAME: &str = "HostName";
}

/// `Result` values: `Success` (pymobiledevice3 requires it after StopSession), and `Failure`,
/// how phones before iOS 5 said no.
const SUCCESS: &str = "Success";
const FAILURE: &str = "Failure";
/// The pairing protocol every current client speaks.
const PAIRING_PROTOCOL_VERSION: &str = "2";

/// The requests this code base sends or serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    QueryType,
    GetValue,
    SetValue,
    RemoveValue,
    StartSession,
    StopSession,
    StartService,
    Pair,
    ValidatePair,
    Unpair,
}

impl Kind {
    const ALL: &[Kind] = &[
        Kind::QueryType,
        Kind::GetValue,
        Kind::SetValue,
        Kind::RemoveValue,
        Kind::StartSession,
        Kind::StopSession,
        Kind::StartService,
        Kind::Pair,
        Kind::ValidatePair,
        Kind::Unpair,
    ];

    /// The `Request` string on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Kind::QueryType => "QueryType",
            Kind::GetValue => "GetValue",
            Kind::SetValue => "SetValue",
            Kind::RemoveValue => "RemoveValue",
            Kind::StartSession => "StartSession",
            Kind::StopSession => "StopSession",
            Kind::StartService => "StartService",
            Kind::Pair => "Pair",
            Kind::ValidatePair => "ValidatePair",
            Kind::Unpair => "Unpair",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// A request. Fields a phone must be able to report missing are `Option`s, so that the
/// simulated phone sees what arrived and answers as a phone does.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    QueryType,
    GetValue {
        domain: Option<String>,
        key: Option<String>,
    },
    SetValue {
        domain: Option<String>,
        key: Option<String>,
        value: Option<Value>,
    },
    RemoveValue {
        domain: Option<String>,
        key: Option<String>,
    },
    StartSession {
        host_id: Option<String>,
        system_buid: Option<String>,
    },
    StopSession {
        session_id: Option<String>,
    },
    StartService {
        service: Option<String>,
        escrow_bag: Option<Vec<u8>>,
    },
    /// `pair_record` is the public part of a pair record (certificates, HostID, SystemBUID).
    Pair {
        pair_record: Option<Dictionary>,
        host_name: Option<String>,
    },
    ValidatePair {
        pair_record: Option<Dictionary>,
    },
    Unpair {
        pair_record: Option<Dictionary>,
    },
    /// A request this code base does not know, by name.
    Unknown(String),
}

fn string(d: &Dictionary, key: &str) -> Option<String> {
    d.get(key).and_then(Value::as_string).map(str::to_string)
}

fn put(d: &mut Dictionary, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        d.insert(key.into(), value.into());
    }
}

impl Request {
    /// The request's name on the wire.
    pub fn name(&self) -> &str {
        match (self, self.kind()) {
            (Request::Unknown(name), _) => name,
            (_, Some(kind)) => kind.name(),
            // Every other variant has a kind.
            (_, None) => "",
        }
    }

    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Request::QueryType => Kind::QueryType,
            Request::GetValue { .. } => Kind::GetValue,
            Request::SetValue { .. } => Kind::SetValue,
            Request::RemoveValue { .. } => Kind::RemoveValue,
            Request::StartSession { .. } => Kind::StartSession,
            Request::StopSession { .. } => Kind::StopSession,
            Request::StartService { .. } => Kind::StartService,
            Request::Pair { .. } => Kind::Pair,
            Request::ValidatePair { .. } => Kind::ValidatePair,
            Request::Unpair { .. } => Kind::Unpair,
            Request::Unknown(_) => return None,
        })
    }

    /// `{Label, Request, …}` as lifeboat sends it.
    pub fn encode(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert(key::LABEL.into(), LABEL.into());
        d.insert(key::REQUEST.into(), self.name().into());
        match self.clone() {
            Request::QueryType | Request::Unknown(_) => {}
            Request::GetValue { domain, key } | Request::RemoveValue { domain, key } => {
                put(&mut d, key::DOMAIN, domain);
                put(&mut d, key::KEY, key);
            }
            Request::SetValue { domain, key, value } => {
                put(&mut d, key::DOMAIN, domain);
                put(&mut d, key::KEY, key);
                put(&mut d, key::VALUE, value);
            }
            Request::StartSession { host_id, system_buid } => {
                put(&mut d, key::HOST_ID, host_id);
                put(&mut d, key::SYSTEM_BUID, system_buid);
            }
            Request::StopSession { session_id } => put(&mut d, key::SESSION_ID, session_id),
            Request::StartService { service, escrow_bag } => {
                put(&mut d, key::SERVICE, service);
                put(&mut d, key::ESCROW_BAG, escrow_bag.map(Value::Data));
            }
            Request::Pair { pair_record, host_name } => {
                put(&mut d, key::PAIR_RECORD, pair_record.map(Value::Dictionary));
                d.insert(key::PROTOCOL_VERSION.into(), PAIRING_PROTOCOL_VERSION.into());
                let mut options = Dictionary::new();
                options.insert(key::EXTENDED_PAIRING_ERRORS.into(), true.into());
                d.insert(key::PAIRING_OPTIONS.into(), Value::Dictionary(options));
                put(&mut d, key::HOST_NAME, host_name);
            }
            Request::ValidatePair { pair_record } | Request::Unpair { pair_record } => {
                put(&mut d, key::PAIR_RECORD, pair_record.map(Value::Dictionary));
                d.insert(key::PROTOCOL_VERSION.into(), PAIRING_PROTOCOL_VERSION.into());
            }
        }
        d
    }

    /// Reads a request as a phone does. The only hard failure is a missing `Request`;
    /// missing or mistyped fields are left for the handler to refuse.
    pub fn decode(d: &Dictionary) -> std::result::Result<Request, DeviceError> {
        let name = d
            .get(key::REQUEST)
            .and_then(Value::as_string)
            .ok_or(DeviceError::MissingRequest)?;
        let Some(kind) = Kind::from_name(name) else {
            return Ok(Request::Unknown(name.to_string()));
        };
        let record = || d.get(key::PAIR_RECORD).and_then(Value::as_dictionary).cloned();
        Ok(match kind {
            Kind::QueryType => Request::QueryType,
            Kind::GetValue => Request::GetValue {
                domain: string(d, key::DOMAIN),
                key: string(d, key::KEY),
            },
            Kind::SetValue => Request::SetValue {
                domain: string(d, key::DOMAIN),
                key: string(d, key::KEY),
                value: d.get(key::VALUE).cloned(),
            },
            Kind::RemoveValue => Request::RemoveValue {
                domain: string(d, key::DOMAIN),
                key: string(d, key::KEY),
            },
            Kind::StartSession => Request::StartSession {
                host_id: string(d, key::HOST_ID),
                system_buid: string(d, key::SYSTEM_BUID),
            },
            Kind::StopSession => Request::StopSession {
                session_id: string(d, key::SESSION_ID),
            },
            Kind::StartService => Request::StartService {
                service: string(d, key::SERVICE),
                escrow_bag: d.get(key::ESCROW_BAG).and_then(Value::as_data).map(<[u8]>::to_vec),
            },
            Kind::Pair => Request::Pair {
                pair_record: record(),
                host_name: string(d, key::HOST_NAME),
            },
            Kind::ValidatePair => Request::ValidatePair { pair_record: record() },
            Kind::Unpair => Request::Unpair { pair_record: record() },
        })
    }
}

/// The `HostID` inside a `PairRecord` (Pair, ValidatePair, Unpair).
pub fn record_host_id(record: &Dictionary) -> Option<&str> {
    record.get(key::HOST_ID)?.as_string()
}

/// A reply. The phone encodes these; the client decodes the successful ones.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    QueryType {
        kind: String,
    },
    /// The value, or why there is none (then `Error` rides next to the echoed Domain and Key).
    GetValue {
        domain: Option<String>,
        key: Option<String>,
        value: std::result::Result<Value, DeviceError>,
    },
    StartSession {
        session_id: String,
        enable_ssl: bool,
    },
    StopSession,
    StartService {
        service: String,
        port: u16,
        enable_ssl: bool,
    },
    Pair {
        escrow_bag: Option<Vec<u8>>,
    },
    /// Success with nothing to say (SetValue, RemoveValue, ValidatePair, Unpair).
    Done(Kind),
    /// A refusal of the request named `request` (`None` when the request had no name).
    Error {
        request: Option<String>,
        error: DeviceError,
    },
}

impl Reply {
    /// A refusal of `request`.
    pub fn error(request: &Request, error: DeviceError) -> Reply {
        Reply::Error {
            request: Some(request.name().to_string()),
            error,
        }
    }

    /// The dictionary a phone sends: `Request` echoed, then the reply's keys.
    pub fn encode(&self) -> Dictionary {
        let mut d = Dictionary::new();
        let echo = match self {
            Reply::QueryType { .. } => Some(Kind::QueryType.name()),
            Reply::GetValue { .. } => Some(Kind::GetValue.name()),
            Reply::StartSession { .. } => Some(Kind::StartSession.name()),
            Reply::StopSession => Some(Kind::StopSession.name()),
            Reply::StartService { .. } => Some(Kind::StartService.name()),
            Reply::Pair { .. } => Some(Kind::Pair.name()),
            Reply::Done(kind) => Some(kind.name()),
            Reply::Error { request, .. } => request.as_deref(),
        };
        put(&mut d, key::REQUEST, echo);
        match self {
            Reply::QueryType { kind } => put(&mut d, key::TYPE, Some(kind.as_str())),
            Reply::GetValue { domain, key, value } => {
                put(&mut d, key::DOMAIN, domain.as_deref());
                put(&mut d, key::KEY, key.as_deref());
                match value {
                    Ok(value) => put(&mut d, key::VALUE, Some(value.clone())),
                    Err(error) => put(&mut d, key::ERROR, Some(error.name())),
                }
            }
            Reply::StartSession { session_id, enable_ssl } => {
                put(&mut d, key::SESSION_ID, Some(session_id.as_str()));
                put(&mut d, key::ENABLE_SESSION_SSL, Some(*enable_ssl));
            }
            Reply::StopSession => put(&mut d, key::RESULT, Some(SUCCESS)),
            Reply::StartService {
                service,
                port,
                enable_ssl,
            } => {
                put(&mut d, key::SERVICE, Some(service.as_str()));
                put(&mut d, key::PORT, Some(u64::from(*port)));
                put(&mut d, key::ENABLE_SERVICE_SSL, Some(*enable_ssl));
            }
            Reply::Pair { escrow_bag } => put(&mut d, key::ESCROW_BAG, escrow_bag.clone().map(Value::Data)),
            Reply::Done(_) => {}
            Reply::Error { error, .. } => put(&mut d, key::ERROR, Some(error.name())),
        }
        d
    }

    /// Reads the reply to a `sent` request: refusals become [`Error::Device`], and what a
    /// success must carry is checked.
    pub fn decode(sent: Kind, d: &Dictionary) -> Result<Reply> {
        let name = sent.name();
        check_reply(name, d)?;
        let missing = |what: &str| Error::Protocol(format!("{name} reply has no {what}"));
        Ok(match sent {
            Kind::QueryType => Reply::QueryType {
                kind: string(d, key::TYPE).ok_or_else(|| missing(key::TYPE))?,
            },
            Kind::GetValue => Reply::GetValue {
                domain: string(d, key::DOMAIN),
                key: string(d, key::KEY),
                value: Ok(d.get(key::VALUE).cloned().ok_or_else(|| Error::Device {
                    request: name.into(),
                    error: DeviceError::MissingValue,
                })?),
            },
            Kind::StartSession => Reply::StartSession {
                session_id: string(d, key::SESSION_ID).ok_or_else(|| missing(key::SESSION_ID))?,
                enable_ssl: d.get(key::ENABLE_SESSION_SSL).and_then(Value::as_boolean) == Some(true),
            },
            Kind::StopSession => Reply::StopSession,
            Kind::StartService => Reply::StartService {
                service: string(d, key::SERVICE).unwrap_or_default(),
                port: d
                    .get(key::PORT)
                    .and_then(Value::as_unsigned_integer)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|&p| p != 0)
                    .ok_or_else(|| missing("valid Port"))?,
                enable_ssl: d.get(key::ENABLE_SERVICE_SSL).and_then(Value::as_boolean) == Some(true),
            },
            Kind::Pair => Reply::Pair {
                escrow_bag: d.get(key::ESCROW_BAG).and_then(Value::as_data).map(<[u8]>::to_vec),
            },
            kind @ (Kind::SetValue | Kind::RemoveValue | Kind::ValidatePair | Kind::Unpair) => Reply::Done(kind),
        })
    }
}

/// Checks a reply to `name`: an `Error` becomes [`Error::Device`]; a missing or different
/// `Request` echo is a protocol error (Unpair excepted: some firmware answers `ValidatePair`).
pub fn check_reply(name: &str, reply: &Dictionary) -> Result<()> {
    if let Some(error) = reply.get(key::ERROR).and_then(Value::as_string) {
        return Err(Error::Device {
            request: name.to_string(),
            error: DeviceError::from_name(error),
        });
    }
    if reply.get(key::RESULT).and_then(Value::as_string) == Some(FAILURE) {
        return Err(Error::Device {
            request: name.to_string(),
            error: DeviceError::Other(FAILURE.into()),
        });
    }
    let unpair = Kind::Unpair.name();
    let validate = Kind::ValidatePair.name();
    match reply.get(key::REQUEST).and_then(Value::as_string) {
        Some(echo) if echo == name => Ok(()),
        Some(echo) if echo == validate && name == unpair => Ok(()),
        Some(other) => Err(Error::Protocol(format!("asked {name}, the phone answered {other}"))),
        None => Err(Error::Protocol(format!("reply to {name} does not name its request"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(kind: Kind) -> Dictionary {
        Reply::Done(kind).encode()
    }

    #[test]
    fn replies_must_echo_and_errors_are_typed() {
        assert!(check_reply("QueryType", &reply(Kind::QueryType)).is_ok());
        assert!(matches!(
            check_reply("QueryType", &reply(Kind::GetValue)),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            check_reply("QueryType", &Dictionary::new()),
            Err(Error::Protocol(_))
        ));
        let pending = Reply::error(
            &Request::Pair {
                pair_record: None,
                host_name: None,
            },
            DeviceError::PairingDialogResponsePending,
        );
        let err = check_reply("Pair", &pending.encode()).unwrap_err();
        assert_eq!(err.device_error(), Some(&DeviceError::PairingDialogResponsePending));
        assert!(check_reply("Unpair", &reply(Kind::ValidatePair)).is_ok());
        let mut old = reply(Kind::GetValue);
        old.insert("Result".into(), "Failure".into());
        assert!(check_reply("GetValue", &old).is_err());
    }

    #[test]
    fn requests_round_trip() {
        let mut record = Dictionary::new();
        record.insert(key::HOST_ID.into(), "H".into());
        let requests = [
            Request::QueryType,
            Request::GetValue {
                domain: Some("com.apple.disk_usage".into()),
                key: None,
            },
            Request::StartSession {
                host_id: Some("H".into()),
                system_buid: Some("B".into()),
            },
            Request::StopSession {
                session_id: Some("S".into()),
            },
            Request::StartService {
                service: Some("com.apple.mobilebackup2".into()),
                escrow_bag: Some(vec![1, 2]),
            },
            Request::Pair {
                pair_record: Some(record.clone()),
                host_name: Some("laptop".into()),
            },
            Request::Unpair {
                pair_record: Some(record),
            },
            Request::Unknown("EnterRecovery".into()),
        ];
        for request in requests {
            let encoded = request.encode();
            assert_eq!(encoded.get(key::LABEL).and_then(Value::as_string), Some(LABEL));
            assert_eq!(Request::decode(&encoded), Ok(request));
        }
        assert_eq!(Request::decode(&Dictionary::new()), Err(DeviceError::MissingRequest));
    }

    #[test]
    fn replies_round_trip_through_the_client_decoder() {
        let replies = [
            (
                Kind::QueryType,
                Reply::QueryType {
                    kind: crate::LOCKDOWN_TYPE.into(),
                },
            ),
            (
                Kind::GetValue,
                Reply::GetValue {
                    domain: None,
                    key: Some("DeviceName".into()),
                    value: Ok("Ada".into()),
                },
            ),
            (
                Kind::StartSession,
                Reply::StartSession {
                    session_id: "S".into(),
                    enable_ssl: true,
                },
            ),
            (Kind::StopSession, Reply::StopSession),
            (
                Kind::StartService,
                Reply::StartService {
                    service: "com.apple.afc".into(),
                    port: 49152,
                    enable_ssl: false,
                },
            ),
            (
                Kind::Pair,
                Reply::Pair {
                    escrow_bag: Some(vec![7]),
                },
            ),
            (Kind::Unpair, Reply::Done(Kind::Unpair)),
        ];
        for (kind, reply) in replies {
            assert_eq!(Reply::decode(kind, &reply.encode()).unwrap(), reply);
        }
        let missing = Reply::GetValue {
            domain: None,
            key: Some("Nope".into()),
            value: Err(DeviceError::MissingValue),
        };
        let encoded = missing.encode();
        assert_eq!(encoded.get(key::KEY).and_then(Value::as_string), Some("Nope"));
        let err = Reply::decode(Kind::GetValue, &encoded).unwrap_err();
        assert_eq!(err.device_error(), Some(&DeviceError::MissingValue));
        let refused = Reply::error(
            &Request::StartService {
                service: Some("x".into()),
                escrow_bag: None,
            },
            DeviceError::InvalidService,
        );
        let err = Reply::decode(Kind::StartService, &refused.encode()).unwrap_err();
        assert_eq!(err.device_error(), Some(&DeviceError::InvalidService));
        let no_port = Reply::Done(Kind::StartService).encode();
        assert!(matches!(
            Reply::decode(Kind::StartService, &no_port),
            Err(Error::Protocol(_))
        ));
    }
}
