//! The simulated BackupAgent: `com.apple.mobilebackup2` (docs/backup.md §1, §5). It speaks
//! DeviceLink through the `mobilebackup2` crate's codec (the host uses the same), answers
//! Hello, and runs the device-driven backup of [`sequence`] over the phone's simulated file
//! system ([`files`]), writing Manifest.db ([`manifest_db`]) and the plists ([`plists`]).
//! lockdownd starts it only with the pair record's escrow bag, as a phone does (§1.1).

pub mod crypto;
pub mod files;
mod host;
pub mod manifest_db;
mod plists;
mod sequence;

use mobilebackup2::DlMessage;
use mobilebackup2::message::DEVICE_LINK_VERSION;
use mobilebackup2::request::{Request, Response};
use usbmux::UsbmuxStream;

use crate::service::{Service, ServiceContext};
use host::{Host, HostError};

pub const SERVICE: &str = "com.apple.mobilebackup2";

pub struct MobileBackup2;

impl Service for MobileBackup2 {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        let Ok(mut host) = Host::new(stream, context) else {
            return;
        };
        // A host that breaks the protocol or goes away ends the connection; the phone lives on.
        let _ = serve(&mut host);
    }
}

fn serve(host: &mut Host) -> Result<(), HostError> {
    // docs/backup.md §1.2: the version exchange, then DeviceReady.
    host.send(&DlMessage::VersionExchange {
        major: DEVICE_LINK_VERSION,
        minor: 0,
    })?;
    match host.receive()? {
        DlMessage::VersionsOk { .. } => {}
        _ => return Ok(()),
    }
    host.send(&DlMessage::DeviceReady)?;
    loop {
        let message = match host.receive()? {
            DlMessage::ProcessMessage(message) => message,
            DlMessage::Disconnect(_) => return Ok(()),
            // Nothing else is the host's to send now.
            _ => return Ok(()),
        };
        let response = match Request::decode(&message) {
            Ok(Request::Hello { versions }) => hello(&versions),
            Ok(Request::Backup { force_full, .. }) => {
                let config = host.context().config().clone();
                let udid = host.context().udid().to_string();
                let phone = sequence::Phone {
                    config: &config,
                    udid: &udid,
                    build_version: host.context().value("BuildVersion").unwrap_or_default(),
                    serial: host.context().value("SerialNumber").unwrap_or_default(),
                };
                let response = sequence::backup(host, &phone, force_full)?;
                if response.error_code == 0 {
                    // What Finder shows as the last backup to a computer, and doctor reads
                    // (docs/doctor.md).
                    let now = plist::Value::Date(std::time::SystemTime::now().into());
                    host.context().set_backup_value("LastiTunesBackupDate", now);
                    host.context()
                        .set_backup_value("LastiTunesBackupTZ", plist::Value::Integer(0.into()));
                }
                response
            }
            Ok(Request::Info { .. }) => Response {
                content: Some(plist::Value::Dictionary(plist::Dictionary::new())),
                ..Response::ok()
            },
            Ok(Request::ChangePassword { old, new, .. }) => change_password(host.context(), old, new),
            Err(name) => Response::error(1, format!("Unknown request {name:?} (MBErrorDomain/1)")),
        };
        host.send(&DlMessage::ProcessMessage(response.encode()))?;
    }
}

/// docs/backup.md §1.4, docs/backup-encryption.md §7 step 8: New alone turns encryption on,
/// Old alone off, both change the password; a wrong Old is 207.
fn change_password(context: &ServiceContext, old: Option<String>, new: Option<String>) -> Response {
    let files = context.files();
    let mut files = files.lock().unwrap_or_else(|p| p.into_inner());
    let current = files.password().map(str::to_string);
    if current != old {
        let text = match (&current, &old) {
            (None, Some(_)) => "No backup password is set",
            (Some(_), None) => "A backup password is already set",
            _ => "Invalid password",
        };
        return Response::error(207, format!("{text} (MBErrorDomain/207)"));
    }
    let on = new.is_some();
    files.set_password(new);
    drop(files);
    context.set_backup_value("WillEncrypt", on.into());
    Response::ok()
}

/// docs/backup.md §1.3: the highest common version, 2.1 or 2.0; none is ErrorCode 1.
fn hello(versions: &[f64]) -> Response {
    let common = [2.1, 2.0]
        .into_iter()
        .find(|v| versions.iter().any(|h| (h - v).abs() < 1e-9));
    match common {
        Some(version) => Response {
            protocol_version: Some(version),
            ..Response::ok()
        },
        None => Response::error(1, "No common protocol version (MBErrorDomain/1)"),
    }
}
