//! AFC status codes (the same numbers in libimobiledevice, pymobiledevice3 and idevice).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AfcStatus {
    Success,
    UnknownError,
    OpHeaderInvalid,
    NoResources,
    ReadError,
    WriteError,
    UnknownPacketType,
    InvalidArg,
    ObjectNotFound,
    ObjectIsDir,
    PermDenied,
    ServiceNotConnected,
    OpTimeout,
    TooMuchData,
    EndOfData,
    OpNotSupported,
    ObjectExists,
    ObjectBusy,
    NoSpaceLeft,
    OpWouldBlock,
    IoError,
    OpInterrupted,
    OpInProgress,
    InternalError,
    Other(u64),
}

const TABLE: [(u64, AfcStatus, &str); 24] = [
    (0, AfcStatus::Success, "success"),
    (1, AfcStatus::UnknownError, "unknown error"),
    (2, AfcStatus::OpHeaderInvalid, "invalid operation header"),
    (
        3,
        AfcStatus::NoResources,
        "no resources (too many open files on the phone)",
    ),
    (4, AfcStatus::ReadError, "read error (or not a folder)"),
    (5, AfcStatus::WriteError, "write error"),
    (6, AfcStatus::UnknownPacketType, "unknown packet type"),
    (7, AfcStatus::InvalidArg, "invalid argument"),
    (8, AfcStatus::ObjectNotFound, "no such file or folder"),
    (9, AfcStatus::ObjectIsDir, "is a folder"),
    (10, AfcStatus::PermDenied, "permission denied"),
    (11, AfcStatus::ServiceNotConnected, "service not connected"),
    (12, AfcStatus::OpTimeout, "operation timed out"),
    (13, AfcStatus::TooMuchData, "too much data"),
    (14, AfcStatus::EndOfData, "end of data"),
    (15, AfcStatus::OpNotSupported, "operation not supported"),
    (16, AfcStatus::ObjectExists, "already exists"),
    (17, AfcStatus::ObjectBusy, "busy"),
    (18, AfcStatus::NoSpaceLeft, "no space left on the phone"),
    (19, AfcStatus::OpWouldBlock, "operation would block"),
    (20, AfcStatus::IoError, "input/output error"),
    (21, AfcStatus::OpInterrupted, "operation interrupted"),
    (22, AfcStatus::OpInProgress, "operation in progress"),
    (23, AfcStatus::InternalError, "internal error"),
];

impl AfcStatus {
    pub fn from_code(code: u64) -> AfcStatus {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, s, _)| *s)
            .unwrap_or(AfcStatus::Other(code))
    }

    pub fn code(self) -> u64 {
        match self {
            AfcStatus::Other(code) => code,
            known => TABLE
                .iter()
                .find(|(_, s, _)| *s == known)
                .map(|(c, _, _)| *c)
                .unwrap_or(1),
        }
    }
}

impl fmt::Display for AfcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match TABLE.iter().find(|(_, s, _)| s == self) {
            Some((code, _, text)) => write!(f, "{text} (AFC {code})"),
            None => write!(f, "AFC error {}", self.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..40 {
            assert_eq!(AfcStatus::from_code(code).code(), code);
        }
        assert_eq!(AfcStatus::from_code(8), AfcStatus::ObjectNotFound);
    }
}
