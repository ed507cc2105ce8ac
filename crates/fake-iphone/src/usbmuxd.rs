//! The simulated usbmuxd: the plist protocol of the real daemon (docs/protocol.md §1.3), XML
//! replies, tags echoed, one request per socket or several in a row, and `Connect` turning
//! the socket into a pipe to the phone's lockdownd or a started service.

use std::sync::mpsc;
use std::time::Duration;

use plist::{Dictionary, Value};
use usbmux::codec::SERVER_MAX_MESSAGE;
use usbmux::{Event, Request, ResultCode, UsbmuxStream, wire};

use crate::server::{Shared, lock};
use crate::service::ServiceContext;

/// Drop a control connection that says nothing for this long (unless the fake is told
/// otherwise, `FakeIphone::control_idle`).
pub const CONTROL_IDLE: Duration = Duration::from_secs(60);

pub fn serve(shared: Shared, mut stream: UsbmuxStream) {
    let idle = lock(&shared).control_idle;
    let _ = stream.set_read_timeout(Some(idle));
    loop {
        let (tag, dict) = match wire::read_message(&mut stream, SERVER_MAX_MESSAGE) {
            Ok(Some((header, dict))) => (header.tag, dict),
            // End of stream, a malformed or oversized message: the daemon just disconnects.
            _ => return,
        };
        let request = match Request::from_plist(&dict) {
            Ok(request) => request,
            Err(code) => {
                if send(&mut stream, tag, code.to_plist()).is_err() {
                    return;
                }
                continue;
            }
        };
        let reply = match request {
            Request::ListDevices => {
                let state = lock(&shared);
                let list = state
                    .phones
                    .iter()
                    .filter(|p| p.attached)
                    .map(|p| p.device().to_attached_plist())
                    .collect();
                let mut d = Dictionary::new();
                d.insert("DeviceList".into(), Value::Array(list));
                Value::Dictionary(d)
            }
            Request::Listen => return listen(&shared, stream, tag),
            Request::Connect { device_id, port } => {
                return connect(&shared, stream, tag, device_id, port);
            }
            Request::ReadBuid => {
                let mut d = Dictionary::new();
                d.insert("BUID".into(), lock(&shared).buid.clone().into());
                Value::Dictionary(d)
            }
            Request::ReadPairRecord { udid } => match lock(&shared).pair_records.get(&udid) {
                Some(data) => {
                    let mut d = Dictionary::new();
                    d.insert("PairRecordData".into(), Value::Data(data.clone()));
                    Value::Dictionary(d)
                }
                None => ResultCode::Errno(2).to_plist(),
            },
            Request::SavePairRecord { udid, data, device_id } => {
                let mut state = lock(&shared);
                state.pair_records.insert(udid.clone(), data);
                // usbmuxd tells listeners when a connected phone got paired.
                if let Some(id) = device_id
                    && state.phone_by_id(id).is_some_and(|p| p.config.udid == udid)
                {
                    state.broadcast(Event::Paired { device_id: id });
                }
                ResultCode::Ok.to_plist()
            }
            Request::DeletePairRecord { udid } => {
                lock(&shared).pair_records.remove(&udid);
                ResultCode::Ok.to_plist()
            }
            Request::ListListeners => {
                let mut d = Dictionary::new();
                d.insert("ListenerList".into(), Value::Array(Vec::new()));
                Value::Dictionary(d)
            }
            Request::Unknown(_) => ResultCode::BadCommand.to_plist(),
        };
        if send(&mut stream, tag, reply).is_err() {
            return;
        }
    }
}

fn send(stream: &mut UsbmuxStream, tag: u32, payload: Value) -> usbmux::Result<()> {
    wire::write_message(stream, tag, &payload)
}

/// `Listen`: a Result, one `Attached` per present phone, then live events (tag 0).
fn listen(shared: &Shared, mut stream: UsbmuxStream, tag: u32) {
    let (sender, receiver) = mpsc::channel();
    let present: Vec<Event> = {
        let mut state = lock(shared);
        state.listeners.push(sender);
        state
            .phones
            .iter()
            .filter(|p| p.attached)
            .map(|p| Event::Attached(p.device()))
            .collect()
    };
    if send(&mut stream, tag, ResultCode::Ok.to_plist()).is_err() {
        return;
    }
    for event in present.into_iter().chain(receiver) {
        if send(&mut stream, 0, event.to_plist()).is_err() {
            return;
        }
    }
}

fn connect(shared: &Shared, mut stream: UsbmuxStream, tag: u32, device_id: u32, port: u16) {
    enum Target {
        Lockdown(String),
        Service(String, String),
    }
    let socket_id = next_socket_id();
    let target = {
        let mut state = lock(shared);
        let Some(phone) = state.phone_by_id(device_id) else {
            let _ = send(&mut stream, tag, ResultCode::BadDevice.to_plist());
            return;
        };
        let udid = phone.config.udid.clone();
        if let Ok(clone) = stream.try_clone() {
            phone.open_sockets.insert(socket_id, clone);
        }
        if port == usbmux::LOCKDOWN_PORT {
            Some(Target::Lockdown(udid))
        } else {
            match state.services.get(&port) {
                Some(service) if service.udid == udid => {
                    let service = state.services.remove(&port).map(|s| s.name).unwrap_or_default();
                    Some(Target::Service(udid, service))
                }
                _ => None,
            }
        }
    };
    let Some(target) = target else {
        let _ = send(&mut stream, tag, ResultCode::ConnectionRefused.to_plist());
        return;
    };
    // A tunnel to the phone stays open however long it is quiet, as with usbmuxd: a client
    // may hold AFC and notification_proxy through a whole backup without a word, and a
    // service that wants an idle limit (lockdownd) sets its own.
    let _ = stream.set_read_timeout(None);
    let udid = match target {
        Target::Lockdown(udid) => {
            if send(&mut stream, tag, ResultCode::Ok.to_plist()).is_ok() {
                crate::lockdownd::serve(shared, stream, &udid);
            }
            udid
        }
        Target::Service(udid, name) => {
            let service = lock(shared).registry.get(&name);
            let context = ServiceContext::for_phone(shared, &udid);
            match (service, context) {
                (Some(service), Some(context)) => {
                    if send(&mut stream, tag, ResultCode::Ok.to_plist()).is_ok() {
                        service.serve(stream, context);
                    }
                }
                // lockdownd starts only registered services; refuse anything else as a
                // phone refuses a port nobody listens on.
                _ => {
                    let _ = send(&mut stream, tag, ResultCode::ConnectionRefused.to_plist());
                }
            }
            udid
        }
    };
    if let Some(phone) = lock(shared).phone_by_udid(&udid) {
        phone.open_sockets.remove(&socket_id);
    }
}

fn next_socket_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
