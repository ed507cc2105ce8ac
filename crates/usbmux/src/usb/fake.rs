//! A fake USB bus for the transport's tests: phones that open, refuse, hang, panic, are
//! held by another program, and whose links die, with no USB bus on the machine.
//!
//! Each connection is served by an echo task on the transport's runtime, which stands in
//! for rusbmux's reader: when the link dies it stops (the stream then hangs, as with
//! rusbmux), and only a shutdown ends it (the stream then reads end-of-file).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::sync::watch;

use super::device::{BoxFuture, ConnectFailure, DeviceStream, Found, MuxDevice, OpenFailure, UsbBus};

/// A port nothing listens on.
pub(crate) const CLOSED_PORT: u16 = 1;

#[derive(Default)]
pub(crate) struct FakeBus {
    phones: Mutex<Vec<Arc<FakePhone>>>,
}

/// How a fake phone behaves when opened.
#[derive(Debug, Default, Clone)]
pub(crate) struct Behaviour {
    /// Opening is refused with EACCES until then (udev has not applied the rule yet).
    pub denied_until: Option<Instant>,
    /// Every open fails so.
    pub always: Option<fn() -> OpenFailure>,
    /// This many opens never answer the handshake.
    pub silent_opens: usize,
    /// This many opens panic, as rusbmux does on a wrong-size version packet.
    pub panicking_opens: usize,
    /// Another program has claimed an interface through usbfs.
    pub held_by: Option<String>,
}

pub(crate) struct FakePhone {
    pub found: Found,
    behaviour: Mutex<Behaviour>,
    opens: AtomicUsize,
    current: Mutex<Option<Arc<FakeMux>>>,
}

impl FakePhone {
    /// How many times it was asked to open.
    pub(crate) fn opens(&self) -> usize {
        self.opens.load(Ordering::SeqCst)
    }

    /// The link of the phone as last opened dies, as on a USB error: its streams hang.
    pub(crate) fn kill_link(&self) {
        let mux = self.current.lock().unwrap().clone().expect("opened");
        mux.state.send_replace(State::Dead);
    }

    /// The link of the phone as last opened stops answering without a word: rusbmux's
    /// reader died before lifeboat set its signal, or lost its framing (docs §1.1, §3.3).
    /// Connects then wait for ever, and the device does not look dead.
    pub(crate) fn mute_link(&self) {
        let mux = self.current.lock().unwrap().clone().expect("opened");
        mux.state.send_replace(State::Mute);
    }

    /// A task on the transport's runtime panics, as rusbmux's reader does on some input;
    /// returns once it has.
    pub(crate) fn panic_in_reader(&self) {
        let mux = self.current.lock().unwrap().clone().expect("opened");
        let task = mux
            .runtime
            .spawn(async { panic!("from_bytes: size mismatch (a fake reader)") });
        while !task.is_finished() {
            std::thread::yield_now();
        }
    }

    /// Whether anything still holds the phone as last opened (its interface stays claimed
    /// until the device is dropped).
    pub(crate) fn is_held(&self) -> bool {
        let current = self.current.lock().unwrap();
        Arc::strong_count(current.as_ref().expect("opened")) > 1
    }

    /// Whether the phone as last opened was shut down.
    pub(crate) fn was_shut_down(&self) -> bool {
        let mux = self.current.lock().unwrap().clone().expect("opened");
        *mux.state.borrow() == State::Shut
    }

    pub(crate) fn set_behaviour(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

impl FakeBus {
    pub(crate) fn new() -> Arc<FakeBus> {
        Arc::new(FakeBus::default())
    }

    /// Plugs in a phone with serial number `serial` at `/dev/bus/usb/001/{address}`.
    pub(crate) fn plug(&self, address: u8, serial: &str, behaviour: Behaviour) -> Arc<FakePhone> {
        let phone = Arc::new(FakePhone {
            found: Found {
                node: format!("/dev/bus/usb/001/{address:03}"),
                udid: Some(serial.to_string()),
                product_id: 0x12a8,
                location_id: u32::from(address),
                speed: Some(480_000_000),
                sysfs: None,
            },
            behaviour: Mutex::new(behaviour),
            opens: AtomicUsize::new(0),
            current: Mutex::new(None),
        });
        self.phones.lock().unwrap().push(Arc::clone(&phone));
        phone
    }

    fn phone(&self, node: &str) -> Option<Arc<FakePhone>> {
        self.phones
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.found.node == node)
            .cloned()
    }
}

impl UsbBus for Arc<FakeBus> {
    fn present(&self) -> Vec<Found> {
        self.phones.lock().unwrap().iter().map(|p| p.found.clone()).collect()
    }

    fn open(&self, found: &Found, _device_id: u32) -> BoxFuture<Result<Arc<dyn MuxDevice>, OpenFailure>> {
        let phone = self.phone(&found.node).expect("a phone on the fake bus");
        let tries = phone.opens.fetch_add(1, Ordering::SeqCst);
        let behaviour = phone.behaviour.lock().unwrap().clone();
        Box::pin(async move {
            if let Some(failure) = behaviour.always {
                return Err(failure());
            }
            if behaviour.denied_until.is_some_and(|until| Instant::now() < until) {
                return Err(OpenFailure::PermissionDenied);
            }
            if tries < behaviour.silent_opens {
                std::future::pending::<()>().await;
            }
            if tries < behaviour.silent_opens + behaviour.panicking_opens {
                panic!("from_bytes: size mismatch (a fake version packet)");
            }
            let mux = Arc::new(FakeMux {
                udid: phone.found.udid.clone().unwrap_or_default(),
                state: Arc::new(watch::Sender::new(State::Live)),
                runtime: Handle::current(),
            });
            *phone.current.lock().unwrap() = Some(Arc::clone(&mux));
            Ok(mux as Arc<dyn MuxDevice>)
        })
    }

    fn holder(&self, found: &Found) -> Option<String> {
        self.phone(&found.node)?.behaviour.lock().unwrap().held_by.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    /// The link died: nothing moves, nothing ends.
    Dead,
    /// Shut down: every stream ends.
    Shut,
    /// Nothing moves and nothing says so.
    Mute,
}

struct FakeMux {
    udid: String,
    state: Arc<watch::Sender<State>>,
    runtime: Handle,
}

impl MuxDevice for FakeMux {
    fn udid(&self) -> String {
        self.udid.clone()
    }

    fn connect(&self, port: u16) -> BoxFuture<Result<Box<dyn DeviceStream>, ConnectFailure>> {
        let mut state = self.state.subscribe();
        Box::pin(async move {
            let now = *state.borrow();
            match now {
                State::Live => {}
                State::Mute => std::future::pending::<()>().await,
                State::Dead | State::Shut => return Err(ConnectFailure::LinkDown),
            }
            if port == CLOSED_PORT {
                return Err(ConnectFailure::Refused("reset".into()));
            }
            let (device, mut phone) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                loop {
                    let live = *state.borrow_and_update() == State::Live;
                    tokio::select! {
                        read = phone.read(&mut buf), if live => match read {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if phone.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        },
                        changed = state.changed() => {
                            if changed.is_err() || *state.borrow() == State::Shut {
                                return;
                            }
                        }
                    }
                }
            });
            Ok(Box::new(device) as Box<dyn DeviceStream>)
        })
    }

    fn link_down(&self) -> BoxFuture<()> {
        let mut state = self.state.subscribe();
        Box::pin(async move {
            // As rusbmux's signal: a death, or the device dropped; not a shutdown.
            let _ = state.wait_for(|s| *s == State::Dead).await;
        })
    }

    fn is_dead(&self) -> bool {
        matches!(*self.state.borrow(), State::Dead | State::Shut)
    }

    fn shutdown(&self) {
        self.state.send_replace(State::Shut);
    }
}
