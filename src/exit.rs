//! Exit codes and how errors are shown: 0 done, 1 the operation failed, 2 no phone, no
//! usbmuxd, or a choice the user must make (which phone).

use std::process::ExitCode;

/// Errors that mean "nothing to work with" rather than "the work failed".
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("No iPhone is connected (looked via {0}). Plug it in with a USB cable, unlock it, and try again.")]
    NoPhone(usbmux::TransportInfo),
    #[error("Several iPhones are connected; choose one with --device UDID:\n{0}")]
    SeveralPhones(String),
    #[error("No connected iPhone has the UDID {wanted}. Connected:\n{connected}")]
    NotConnected { wanted: String, connected: String },
    #[error("cannot use {path} as the destination: {reason}")]
    Destination { path: String, reason: String },
    #[error("{0}")]
    Usage(String),
}

/// usbmux errors that mean nothing can reach the phone from here: no daemon, a bad
/// address, or a phone lifeboat may not open over USB.
fn unreachable(error: &usbmux::Error) -> bool {
    matches!(
        error,
        usbmux::Error::Unreachable { .. }
            | usbmux::Error::BadAddress(_)
            | usbmux::Error::UsbUnavailable(_)
            | usbmux::Error::UsbPermission { .. }
            | usbmux::Error::UsbBusy { .. }
            | usbmux::Error::DaemonSeesNoPhone { .. }
    )
}

pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<Unavailable>().is_some() {
            return 2;
        }
        if cause.downcast_ref::<usbmux::Error>().is_some_and(unreachable) {
            return 2;
        }
        if let Some(lockdown::Error::Usbmux(inner)) = cause.downcast_ref::<lockdown::Error>()
            && unreachable(inner)
        {
            return 2;
        }
    }
    1
}

/// Where a backup password comes from, for a wrong one.
const WRONG_PASSWORD: &str = "it is the password set when \"Encrypt local backup\" was turned on in Finder or \
     iTunes; give it with --password-file or $LIFEBOAT_BACKUP_PASSWORD, or type it at the prompt";

/// What to do next, in this command line's words, for library errors that cannot name a
/// command themselves.
pub fn advice(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(transfer::verify::VerifyError::NoManifest(dir)) = cause.downcast_ref() {
        return Some(format!(
            "make one with `lifeboat verify --init {dir}`, then verify again later"
        ));
    }
    if let Some(transfer::finder::verify::FinderError::WrongPassword) = cause.downcast_ref() {
        return Some(WRONG_PASSWORD.into());
    }
    match cause.downcast_ref::<transfer::finder::read::OpenError>() {
        Some(transfer::finder::read::OpenError::WrongPassword) => return Some(WRONG_PASSWORD.into()),
        Some(transfer::finder::read::OpenError::Database(_)) => {
            return Some("`lifeboat verify` on the backup folder says what else is wrong with it".into());
        }
        Some(transfer::finder::read::OpenError::NeedsPassword) => {
            return Some(
                "give it with --password-file PATH or $LIFEBOAT_BACKUP_PASSWORD, or run in a terminal to be asked"
                    .into(),
            );
        }
        _ => {}
    }
    if let Some(transfer::finder::job::BackupError::Device { code, .. }) = cause.downcast_ref() {
        return match code {
            105 => {
                Some("free some space there, or back up to a folder on another drive: `lifeboat backup DEST`".into())
            }
            205 => Some("start again with a full backup: `lifeboat backup --full`".into()),
            207 => Some("give the backup password with --password-file PATH or LIFEBOAT_BACKUP_PASSWORD".into()),
            _ => None,
        };
    }
    if let Some(mobilebackup2::SessionError::GaveUp(why)) = cause.downcast_ref() {
        return match why {
            mobilebackup2::GaveUp::Passcode(_) => Some("to wait longer: `--passcode-timeout 1h`".into()),
            mobilebackup2::GaveUp::Silent(_) => Some("for a slow iPhone: `--device-timeout SECONDS`".into()),
            mobilebackup2::GaveUp::Cancelled => None,
        };
    }
    if let Some(error) = cause.downcast_ref::<lockdown::Error>() {
        if error.needs_pairing() {
            return Some("run `lifeboat pair`".into());
        }
        if let lockdown::Error::Usbmux(inner) = error {
            return advice(inner);
        }
    }
    match cause.downcast_ref::<usbmux::Error>()? {
        usbmux::Error::Unreachable { .. } if usbmux::transport::USB_SUPPORTED => {
            Some("for USB directly: `--transport usb`".into())
        }
        usbmux::Error::UsbBusy { .. } => Some("for the daemon: `--transport daemon`".into()),
        usbmux::Error::DaemonSeesNoPhone { .. } if usbmux::transport::USB_SUPPORTED => {
            Some("for USB directly, with usbmuxd stopped: `--transport usb`".into())
        }
        usbmux::Error::UsbUnavailable(_) => Some("to use usbmuxd: `--transport daemon`".into()),
        _ => None,
    }
}

/// The first advice any cause in the chain has.
fn advice_for(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(advice)
}

/// Shows `error` on standard error and, when the command was asked for `--json`, as a JSON
/// object on standard output too (`{"error": {"message", "advice", "exit_code"}}`), unless
/// the command printed its own JSON document (which then carries the outcome). The exit code is the same either way.
pub fn report(error: &anyhow::Error, json: bool) -> ExitCode {
    // Causes whose text the message already carries are not repeated.
    let mut message = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if message.contains(&cause) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&cause);
    }
    let advice = advice_for(error);
    let code = code_for(error);
    if json && !crate::json::printed() {
        let document = serde_json::json!({
            "error": {"message": message, "advice": advice, "exit_code": code}
        });
        println!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
    }
    if let Some(advice) = &advice {
        message.push_str("; ");
        message.push_str(advice);
    }
    eprintln!("lifeboat: {message}");
    ExitCode::from(code)
}
