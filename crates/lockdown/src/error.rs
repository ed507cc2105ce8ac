use std::fmt;
use std::io;
use std::time::Duration;

use crate::wire::WireError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An `Error` string lockdownd sends back (docs/protocol.md §2.3), typed where someone acts
/// on it: the client to explain it, the simulated phone to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceError {
    PasswordProtected,
    UserDeniedPairing,
    PairingDialogResponsePending,
    InvalidHostId,
    MissingHostId,
    SessionActive,
    SessionInactive,
    InvalidSessionId,
    MissingService,
    InvalidService,
    MissingValue,
    GetProhibited,
    SetProhibited,
    RemoveProhibited,
    MissingPairRecord,
    InvalidPairRecord,
    InvalidRequest,
    MissingRequest,
    InternalError,
    Other(String),
}

impl DeviceError {
    /// Every named error, so that each name is spelled once, in [`DeviceError::name`].
    const NAMED: &[DeviceError] = &[
        DeviceError::PasswordProtected,
        DeviceError::UserDeniedPairing,
        DeviceError::PairingDialogResponsePending,
        DeviceError::InvalidHostId,
        DeviceError::MissingHostId,
        DeviceError::SessionActive,
        DeviceError::SessionInactive,
        DeviceError::InvalidSessionId,
        DeviceError::MissingService,
        DeviceError::InvalidService,
        DeviceError::MissingValue,
        DeviceError::GetProhibited,
        DeviceError::SetProhibited,
        DeviceError::RemoveProhibited,
        DeviceError::MissingPairRecord,
        DeviceError::InvalidPairRecord,
        DeviceError::InvalidRequest,
        DeviceError::MissingRequest,
        DeviceError::InternalError,
    ];

    pub fn from_name(name: &str) -> DeviceError {
        DeviceError::NAMED
            .iter()
            .find(|e| e.name() == name)
            .cloned()
            .unwrap_or_else(|| DeviceError::Other(name.to_string()))
    }

    pub fn name(&self) -> &str {
        match self {
            DeviceError::PasswordProtected => "PasswordProtected",
            DeviceError::UserDeniedPairing => "UserDeniedPairing",
            DeviceError::PairingDialogResponsePending => "PairingDialogResponsePending",
            DeviceError::InvalidHostId => "InvalidHostID",
            DeviceError::MissingHostId => "MissingHostID",
            DeviceError::SessionActive => "SessionActive",
            DeviceError::SessionInactive => "SessionInactive",
            DeviceError::InvalidSessionId => "InvalidSessionID",
            DeviceError::MissingService => "MissingService",
            DeviceError::InvalidService => "InvalidService",
            DeviceError::MissingValue => "MissingValue",
            DeviceError::GetProhibited => "GetProhibited",
            DeviceError::SetProhibited => "SetProhibited",
            DeviceError::RemoveProhibited => "RemoveProhibited",
            DeviceError::MissingPairRecord => "MissingPairRecord",
            DeviceError::InvalidPairRecord => "InvalidPairRecord",
            DeviceError::InvalidRequest => "InvalidRequest",
            DeviceError::MissingRequest => "MissingRequest",
            DeviceError::InternalError => "InternalError",
            DeviceError::Other(name) => name,
        }
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Usbmux(#[from] usbmux::Error),
    #[error("lost the connection to the phone: {0}. Check the cable and that the phone is still plugged in")]
    Io(#[from] io::Error),
    #[error("the phone did not answer within {0} seconds; unplug it, plug it back in and try again")]
    Timeout(u64),
    #[error("lockdownd protocol error: {0}")]
    Protocol(String),
    #[error("the phone refused {request}: {error}")]
    Device { request: String, error: DeviceError },
    #[error("the iPhone is locked. Unlock it with its passcode, then try again")]
    Locked,
    #[error("the iPhone's owner tapped \"Don't Trust\". Unplug and replug the phone, then pair again and tap Trust")]
    PairingDenied,
    #[error("nobody tapped Trust on the iPhone within {0} seconds. Unlock the iPhone, pair again and tap Trust")]
    PairingTimeout(u64),
    #[error(
        "this computer is not paired with the iPhone {udid}. Pair it: unlock the iPhone and tap Trust when it asks"
    )]
    NotPaired { udid: String },
    #[error("the iPhone {udid} no longer trusts this computer (its pairing was reset). Pair again and tap Trust")]
    PairingRevoked { udid: String },
    #[error("secure session with the phone failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error(
        "the iPhone{} refused the secure session lifeboat offers ({}: {reason}). {}; the cable is not the problem",
        ios.as_ref().map(|v| format!(" (iOS {v})")).unwrap_or_default(),
        offered.describe(),
        offered.advice()
    )]
    TlsRefused {
        ios: Option<String>,
        offered: crate::session_tls::Offered,
        reason: String,
    },
    #[error("cannot set up the older TLS of old iPhones with this computer's OpenSSL: {0}")]
    TlsSetup(String),
    #[error("cannot make pairing certificates: {0}")]
    Certificate(String),
    #[error("pair record {path}: {message}")]
    PairRecordFile { path: String, message: String },
    #[error("the pair record for {0} is damaged (missing or unreadable keys); pair again")]
    BadPairRecord(String),
    #[error("the pair record for {0} has no escrow bag, which {1} needs; pair again to get one")]
    NoEscrowBag(String, String),
}

impl Error {
    /// Whether pairing again (the Trust dialog) is what the user should do next.
    pub fn needs_pairing(&self) -> bool {
        matches!(
            self,
            Error::PairingDenied
                | Error::PairingTimeout(_)
                | Error::NotPaired { .. }
                | Error::PairingRevoked { .. }
                | Error::BadPairRecord(_)
                | Error::NoEscrowBag(..)
        )
    }

    /// A framing failure on a stream whose replies may take up to `timeout`.
    pub fn from_wire(e: WireError, timeout: Duration) -> Error {
        match e {
            // Rounded up: a 500 ms limit is not "0 seconds".
            e if e.is_timeout() => Error::Timeout(timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0)),
            WireError::Codec(e) => Error::Protocol(e.to_string()),
            WireError::Truncated => Error::Protocol("connection closed in the middle of a message".into()),
            WireError::Io(e) => Error::Io(e),
        }
    }

    /// The device's own error string, when this is one.
    pub fn device_error(&self) -> Option<&DeviceError> {
        match self {
            Error::Device { error, .. } => Some(error),
            _ => None,
        }
    }
}
