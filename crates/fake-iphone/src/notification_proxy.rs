//! The simulated notification_proxy (`com.apple.mobile.notification_proxy`): plist frames in
//! lockdown's framing. The computer's `ObserveNotification` registers a name; a name posted
//! by the computer (`PostNotification`) or by the phone itself (the backup agent's
//! `com.apple.LocalAuthentication.ui.presented`, docs/backup.md §1.9) is relayed to every
//! connection observing it as `RelayNotification`. `Shutdown` is answered with `ProxyDeath`,
//! without which libimobiledevice waits 30 s for it. Backup tools start this service before
//! any other (docs/protocol.md §2.7); libimobiledevice 1.3.0's idevicebackup2 crashes when a
//! phone refuses it, which a real phone never does.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};

use lockdown::codec::{Format, MAX_FRAME};
use lockdown::wire;
use plist::{Dictionary, Value};
use usbmux::UsbmuxStream;

use crate::service::{Service, ServiceContext};

const COMMAND: &str = "Command";
const SHUTDOWN: &str = "Shutdown";
const PROXY_DEATH: &str = "ProxyDeath";

/// What a proxy connection waits for: a frame from the computer, or a name to relay.
enum Event {
    Frame(Value),
    Closed,
    Relay(String),
}

struct Observer {
    id: u64,
    names: BTreeSet<String>,
    tx: Sender<Event>,
}

/// One phone's notification centre, shared by its proxy connections and its services.
#[derive(Default)]
pub struct Notifications {
    observers: Mutex<Vec<Observer>>,
    posted: Mutex<Vec<String>>,
    next: AtomicU64,
}

impl Notifications {
    /// Posts `name` on the phone: every connection observing it hears it.
    pub fn post(&self, name: &str) {
        self.posted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
        let mut observers = self.observers.lock().unwrap_or_else(|p| p.into_inner());
        observers.retain(|o| !o.names.contains(name) || o.tx.send(Event::Relay(name.to_string())).is_ok());
    }

    /// Waits up to `limit` for some connection to observe `name`; whether one does.
    pub fn wait_for_observer(&self, name: &str, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let observed = self
                .observers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|o| o.names.contains(name));
            if observed || std::time::Instant::now() >= deadline {
                return observed;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Every name posted so far, by the computer or the phone, in order.
    pub fn posted(&self) -> Vec<String> {
        self.posted.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn register(&self, tx: Sender<Event>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        self.observers.lock().unwrap_or_else(|p| p.into_inner()).push(Observer {
            id,
            names: BTreeSet::new(),
            tx,
        });
        id
    }

    fn observe(&self, id: u64, name: &str) {
        let mut observers = self.observers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = observers.iter_mut().find(|o| o.id == id) {
            o.names.insert(name.to_string());
        }
    }

    fn forget(&self, id: u64) {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|o| o.id != id);
    }
}

pub struct NotificationProxy;

/// The name an `ObserveNotification` frame registers.
fn observation(frame: &Value) -> Option<&str> {
    let request = frame.as_dictionary()?;
    (request.get(COMMAND)?.as_string()? == "ObserveNotification")
        .then(|| request.get("Name")?.as_string())
        .flatten()
}

impl Service for NotificationProxy {
    fn name(&self) -> &'static str {
        "com.apple.mobile.notification_proxy"
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        let Ok(mut reader) = stream.try_clone() else { return };
        let notifications = context.notifications();
        let (tx, rx) = channel();
        let id = notifications.register(tx.clone());
        let observing = notifications.clone();
        let frames = std::thread::spawn(move || {
            // End of stream or a malformed frame: the proxy drops the connection.
            while let Ok(Some(frame)) = wire::read_frame(&mut reader, MAX_FRAME) {
                // Observations take effect as they are read, before anything else happens.
                if let Some(name) = observation(&frame) {
                    observing.observe(id, name);
                }
                if tx.send(Event::Frame(frame)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Event::Closed);
        });
        let mut stream = context.linked(stream);
        while let Ok(event) = rx.recv() {
            let message = match event {
                Event::Closed => break,
                Event::Relay(name) => {
                    let mut relay = Dictionary::new();
                    relay.insert(COMMAND.into(), "RelayNotification".into());
                    relay.insert("Name".into(), name.into());
                    if wire::write_frame(&mut stream, &Value::Dictionary(relay), Format::Xml).is_err() {
                        break;
                    }
                    continue;
                }
                Event::Frame(message) => message,
            };
            stream.request_arrived();
            let Some(request) = message.as_dictionary() else {
                continue;
            };
            let name = request.get("Name").and_then(Value::as_string);
            match (request.get(COMMAND).and_then(Value::as_string), name) {
                (Some("ObserveNotification"), Some(_)) => {}
                (Some("PostNotification"), Some(name)) => notifications.post(name),
                (Some(SHUTDOWN), _) => {
                    let mut death = Dictionary::new();
                    death.insert(COMMAND.into(), PROXY_DEATH.into());
                    let _ = wire::write_frame(&mut stream, &Value::Dictionary(death), Format::Xml);
                    break;
                }
                _ => {}
            }
        }
        notifications.forget(id);
        let _ = stream.get_ref().shutdown(std::net::Shutdown::Both);
        let _ = frames.join();
    }
}
