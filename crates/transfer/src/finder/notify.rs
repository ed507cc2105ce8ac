//! `com.apple.mobile.notification_proxy` for a backup (docs/backup.md §1.9): one connection
//! observes the phone's notifications on a thread of its own, another posts the host's.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lockdown::codec::{Format, MAX_FRAME};
use lockdown::wire::{self, WireError};
use plist::{Dictionary, Value};

pub const SERVICE: &str = "com.apple.mobile.notification_proxy";

/// Phone → host.
pub const SYNC_CANCEL: &str = "com.apple.itunes-client.syncCancelRequest";
pub const SYNC_SUSPEND: &str = "com.apple.itunes-client.syncSuspendRequest";
pub const SYNC_RESUME: &str = "com.apple.itunes-client.syncResumeRequest";
pub const DOMAIN_CHANGED: &str = "com.apple.mobile.backup.domain_changed";
pub const PASSCODE_SHOWN: &str = "com.apple.LocalAuthentication.ui.presented";
pub const PASSCODE_DISMISSED: &str = "com.apple.LocalAuthentication.ui.dismissed";
/// Host → phone.
pub const SYNC_WILL_START: &str = "com.apple.itunes-mobdev.syncWillStart";
pub const SYNC_LOCK_REQUEST: &str = "com.apple.itunes-mobdev.syncLockRequest";
pub const SYNC_DID_START: &str = "com.apple.itunes-mobdev.syncDidStart";
pub const SYNC_DID_FINISH: &str = "com.apple.itunes-mobdev.syncDidFinish";

/// What the observer thread heard.
#[derive(Debug, Clone, Default)]
pub struct Heard {
    pub passcode_prompt: Arc<AtomicBool>,
    pub cancel: Arc<AtomicBool>,
}

fn command(name: &str, notification: Option<&str>) -> Value {
    let mut d = Dictionary::new();
    d.insert("Command".into(), name.into());
    if let Some(n) = notification {
        d.insert("Name".into(), n.into());
    }
    Value::Dictionary(d)
}

/// Posts `name`.
pub fn post<S: Write>(stream: &mut S, name: &str) -> Result<(), WireError> {
    wire::write_frame(stream, &command("PostNotification", Some(name)), Format::Xml)
}

/// Asks for the notifications `names`.
pub fn observe<S: Write>(stream: &mut S, names: &[&str]) -> Result<(), WireError> {
    for name in names {
        wire::write_frame(stream, &command("ObserveNotification", Some(name)), Format::Xml)?;
    }
    Ok(())
}

/// Ends a connection as libimobiledevice does: `Shutdown`, then the phone's `ProxyDeath`
/// (waited for briefly; a phone that does not answer is not waited on).
pub fn shutdown<S: Read + Write>(stream: &mut S) {
    if wire::write_frame(stream, &command("Shutdown", None), Format::Xml).is_err() {
        return;
    }
    for _ in 0..4 {
        match wire::read_frame(stream, MAX_FRAME) {
            Ok(Some(Value::Dictionary(d))) if d.get("Command").and_then(Value::as_string) == Some("ProxyDeath") => {
                return;
            }
            Ok(Some(_)) => {}
            _ => return,
        }
    }
}

/// Reads relayed notifications until `stop` is raised or the connection ends, calling
/// `on_passcode` when the phone shows its passcode prompt. The stream's read timeout is the
/// tick at which `stop` is checked.
pub fn listen<S: Read>(stream: &mut S, heard: &Heard, stop: &AtomicBool, on_passcode: &(dyn Fn() + Sync)) {
    while !stop.load(Ordering::Relaxed) {
        let name = match wire::read_frame(stream, MAX_FRAME) {
            Ok(Some(Value::Dictionary(d))) => match d.get("Command").and_then(Value::as_string) {
                Some("RelayNotification") => d.get("Name").and_then(Value::as_string).map(str::to_string),
                Some("ProxyDeath") => return,
                _ => None,
            },
            Ok(Some(_)) => None,
            Err(e) if e.is_timeout() => None,
            Ok(None) | Err(_) => return,
        };
        match name.as_deref() {
            Some(PASSCODE_SHOWN) if !heard.passcode_prompt.swap(true, Ordering::Relaxed) => on_passcode(),
            Some(PASSCODE_DISMISSED) => heard.passcode_prompt.store(false, Ordering::Relaxed),
            Some(SYNC_CANCEL) => heard.cancel.store(true, Ordering::Relaxed),
            _ => {}
        }
    }
}

/// The notifications a backup observes.
pub const OBSERVED: [&str; 6] = [
    SYNC_CANCEL,
    SYNC_SUSPEND,
    SYNC_RESUME,
    DOMAIN_CHANGED,
    PASSCODE_SHOWN,
    PASSCODE_DISMISSED,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    #[test]
    fn the_passcode_prompt_and_cancel_are_heard() {
        let (mut host, mut phone) = UnixStream::pair().unwrap();
        host.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let relay = |name: &str| {
            let mut d = Dictionary::new();
            d.insert("Command".into(), "RelayNotification".into());
            d.insert("Name".into(), name.into());
            Value::Dictionary(d)
        };
        wire::write_frame(&mut phone, &relay(PASSCODE_SHOWN), Format::Xml).unwrap();
        wire::write_frame(&mut phone, &relay(SYNC_CANCEL), Format::Xml).unwrap();
        wire::write_frame(&mut phone, &command("ProxyDeath", None), Format::Xml).unwrap();
        let heard = Heard::default();
        let told = AtomicBool::new(false);
        listen(&mut host, &heard, &AtomicBool::new(false), &|| {
            told.store(true, Ordering::Relaxed)
        });
        assert!(told.load(Ordering::Relaxed));
        assert!(heard.passcode_prompt.load(Ordering::Relaxed));
        assert!(heard.cancel.load(Ordering::Relaxed));
    }
}
