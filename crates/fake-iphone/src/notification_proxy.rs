//! The simulated notification_proxy (`com.apple.mobile.notification_proxy`): plist frames in
//! lockdown's framing. It takes the computer's `ObserveNotification` and `PostNotification`
//! and relays nothing, as an idle phone does; `Shutdown` is answered with `ProxyDeath`,
//! without which libimobiledevice waits 30 s for it. Backup tools start this service before
//! any other (docs/protocol.md §2.7); libimobiledevice 1.3.0's idevicebackup2 crashes when a
//! phone refuses it, which a real phone never does.

use lockdown::codec::{Format, MAX_FRAME};
use lockdown::wire;
use plist::{Dictionary, Value};
use usbmux::UsbmuxStream;

use crate::service::{Service, ServiceContext};

const COMMAND: &str = "Command";
const SHUTDOWN: &str = "Shutdown";
const PROXY_DEATH: &str = "ProxyDeath";

pub struct NotificationProxy;

impl Service for NotificationProxy {
    fn name(&self) -> &'static str {
        "com.apple.mobile.notification_proxy"
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        let mut stream = context.linked(stream);
        // End of stream or a malformed frame: the proxy drops the connection.
        while let Ok(Some(message)) = wire::read_frame(&mut stream, MAX_FRAME) {
            stream.request_arrived();
            let command = message
                .as_dictionary()
                .and_then(|d| d.get(COMMAND))
                .and_then(Value::as_string);
            if command == Some(SHUTDOWN) {
                let mut death = Dictionary::new();
                death.insert(COMMAND.into(), PROXY_DEATH.into());
                let _ = wire::write_frame(&mut stream, &Value::Dictionary(death), Format::Xml);
                return;
            }
        }
    }
}
