//! lockdownd requests and replies as plist dictionaries: building, and checking the
//! conventions real clients enforce (the reply echoes `Request`; failure is an `Error` key).

use plist::{Dictionary, Value};

use crate::error::{DeviceError, Error, Result};

pub const LABEL: &str = "lifeboat";

/// `{Label, Request}` plus whatever the caller adds.
pub fn request(name: &str) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("Label".into(), LABEL.into());
    d.insert("Request".into(), name.into());
    d
}

/// Checks a reply to `name`: an `Error` becomes [`Error::Device`]; a missing or different
/// `Request` echo is a protocol error (Unpair excepted: some firmware answers `ValidatePair`).
pub fn check_reply(name: &str, reply: &Dictionary) -> Result<()> {
    if let Some(error) = reply.get("Error").and_then(Value::as_string) {
        return Err(Error::Device {
            request: name.to_string(),
            error: DeviceError::from_name(error),
        });
    }
    if reply.get("Result").and_then(Value::as_string) == Some("Failure") {
        return Err(Error::Device {
            request: name.to_string(),
            error: DeviceError::Other("Failure".into()),
        });
    }
    match reply.get("Request").and_then(Value::as_string) {
        Some(echo) if echo == name => Ok(()),
        Some("ValidatePair") if name == "Unpair" => Ok(()),
        Some(other) => Err(Error::Protocol(format!("asked {name}, the phone answered {other}"))),
        None => Err(Error::Protocol(format!("reply to {name} does not name its request"))),
    }
}

/// Server side: a success reply echoing the request.
pub fn reply(name: &str) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("Request".into(), name.into());
    d
}

/// Server side: an error reply, as lockdownd sends it.
pub fn error_reply(name: &str, error: &str) -> Dictionary {
    let mut d = reply(name);
    d.insert("Error".into(), error.into());
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_must_echo_and_errors_are_typed() {
        assert!(check_reply("QueryType", &reply("QueryType")).is_ok());
        assert!(matches!(
            check_reply("QueryType", &reply("GetValue")),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            check_reply("QueryType", &Dictionary::new()),
            Err(Error::Protocol(_))
        ));
        let err = check_reply("Pair", &error_reply("Pair", "PairingDialogResponsePending")).unwrap_err();
        assert_eq!(err.device_error(), Some(&DeviceError::PairingDialogResponsePending));
        assert!(check_reply("Unpair", &reply("ValidatePair")).is_ok());
        let mut old = reply("GetValue");
        old.insert("Result".into(), "Failure".into());
        assert!(check_reply("GetValue", &old).is_err());
    }
}
