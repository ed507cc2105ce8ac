use std::fmt;
use std::io;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An `Error` string lockdownd sent back, typed where we act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceError {
    PasswordProtected,
    UserDeniedPairing,
    PairingDialogResponsePending,
    InvalidHostId,
    SessionInactive,
    InvalidService,
    MissingValue,
    GetProhibited,
    InvalidPairRecord,
    Other(String),
}

impl DeviceError {
    pub fn from_name(name: &str) -> DeviceError {
        match name {
            "PasswordProtected" => DeviceError::PasswordProtected,
            "UserDeniedPairing" => DeviceError::UserDeniedPairing,
            "PairingDialogResponsePending" => DeviceError::PairingDialogResponsePending,
            "InvalidHostID" => DeviceError::InvalidHostId,
            "SessionInactive" => DeviceError::SessionInactive,
            "InvalidService" => DeviceError::InvalidService,
            "MissingValue" => DeviceError::MissingValue,
            "GetProhibited" => DeviceError::GetProhibited,
            "InvalidPairRecord" => DeviceError::InvalidPairRecord,
            other => DeviceError::Other(other.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            DeviceError::PasswordProtected => "PasswordProtected",
            DeviceError::UserDeniedPairing => "UserDeniedPairing",
            DeviceError::PairingDialogResponsePending => "PairingDialogResponsePending",
            DeviceError::InvalidHostId => "InvalidHostID",
            DeviceError::SessionInactive => "SessionInactive",
            DeviceError::InvalidService => "InvalidService",
            DeviceError::MissingValue => "MissingValue",
            DeviceError::GetProhibited => "GetProhibited",
            DeviceError::InvalidPairRecord => "InvalidPairRecord",
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
    #[error(
        "the iPhone's owner tapped \"Don't Trust\". Unplug and replug the phone, then run `lifeboat pair` and tap Trust"
    )]
    PairingDenied,
    #[error(
        "nobody tapped Trust on the iPhone within {0} seconds. Unlock the iPhone, tap Trust, and run `lifeboat pair` again"
    )]
    PairingTimeout(u64),
    #[error("this computer is not paired with the iPhone {udid}. Run `lifeboat pair`, unlock the iPhone and tap Trust")]
    NotPaired { udid: String },
    #[error(
        "the iPhone {udid} no longer trusts this computer (its pairing was reset). Run `lifeboat pair` again and tap Trust"
    )]
    PairingRevoked { udid: String },
    #[error("secure session with the phone failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot make pairing certificates: {0}")]
    Certificate(String),
    #[error("pair record {path}: {message}")]
    PairRecordFile { path: String, message: String },
    #[error("the pair record for {0} is damaged (missing or unreadable keys); run `lifeboat pair` again")]
    BadPairRecord(String),
}

impl Error {
    /// The device's own error string, when this is one.
    pub fn device_error(&self) -> Option<&DeviceError> {
        match self {
            Error::Device { error, .. } => Some(error),
            _ => None,
        }
    }
}
