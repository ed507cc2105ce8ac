//! Starting and controlling the simulator: listeners, shared state, and the controls a test
//! (or a person typing on stdin) uses to tap Trust, lock, unplug and replug phones.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use usbmux::{Event, UsbmuxStream};

use crate::backup_agent::files::{DeviceFile, DeviceFiles};
use crate::config::PhoneConfig;
use crate::phone::Phone;
use crate::service::{Registry, Service};

/// A service a phone started, waiting for the computer to connect to its port.
#[derive(Debug, Clone)]
pub struct PendingService {
    pub udid: String,
    pub name: String,
}

pub struct State {
    pub phones: Vec<Phone>,
    /// usbmuxd's pair record store: UDID -> record bytes, kept verbatim.
    pub pair_records: HashMap<String, Vec<u8>>,
    pub buid: String,
    pub listeners: Vec<Sender<Event>>,
    pub services: HashMap<u16, PendingService>,
    /// What the phones serve; lockdownd starts nothing else.
    pub registry: Registry,
    /// How long usbmuxd keeps a control connection that says nothing.
    pub control_idle: Duration,
    next_device_id: u32,
    next_service_port: u16,
}

impl State {
    pub fn phone_by_id(&mut self, device_id: u32) -> Option<&mut Phone> {
        self.phones.iter_mut().find(|p| p.device_id == device_id && p.attached)
    }

    pub fn phone_by_udid(&mut self, udid: &str) -> Option<&mut Phone> {
        self.phones.iter_mut().find(|p| p.config.udid == udid)
    }

    /// Unplugs a phone: its sockets are cut and listeners hear `Detached`.
    pub fn detach(&mut self, udid: Option<&str>) -> bool {
        let phone = match udid {
            Some(udid) => self.phone_by_udid(udid),
            None => self.phones.first_mut(),
        };
        let Some(phone) = phone.filter(|p| p.attached) else {
            return false;
        };
        phone.detach();
        let device_id = phone.device_id;
        self.broadcast(Event::Detached { device_id });
        true
    }

    /// Sends an event to every Listen connection, forgetting the closed ones.
    pub fn broadcast(&mut self, event: Event) {
        self.listeners.retain(|l| l.send(event.clone()).is_ok());
    }

    /// A fresh port for a started service, in the range iOS uses.
    pub fn allocate_service_port(&mut self, service: PendingService) -> u16 {
        let port = self.next_service_port;
        self.next_service_port = if port >= 65000 { 49152 } else { port + 1 };
        self.services.insert(port, service);
        port
    }
}

pub type Shared = Arc<Mutex<State>>;

/// Locks the state, recovering from a panicked connection thread: the simulator keeps going.
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Builder for a simulator.
pub struct FakeIphone {
    phones: Vec<PhoneConfig>,
    listen: SocketAddr,
    unix: Option<PathBuf>,
    registry: Registry,
    control_idle: Duration,
}

impl Default for FakeIphone {
    fn default() -> Self {
        FakeIphone::new()
    }
}

impl FakeIphone {
    pub fn new() -> FakeIphone {
        FakeIphone {
            phones: Vec::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            unix: None,
            registry: Registry::standard(),
            control_idle: crate::usbmuxd::CONTROL_IDLE,
        }
    }

    /// How long usbmuxd keeps a silent control connection (a minute unless set; tests
    /// shorten it). A connection that has become a tunnel to the phone never times out.
    pub fn control_idle(mut self, idle: Duration) -> FakeIphone {
        self.control_idle = idle;
        self
    }

    /// Serves `service` too (or instead of the standard one of the same name).
    pub fn service(mut self, service: impl Service + 'static) -> FakeIphone {
        self.registry.register(service);
        self
    }

    pub fn phone(mut self, config: PhoneConfig) -> FakeIphone {
        self.phones.push(config);
        self
    }

    /// TCP address to listen on; port 0 picks a free one.
    pub fn listen(mut self, addr: SocketAddr) -> FakeIphone {
        self.listen = addr;
        self
    }

    /// Also listen on a UNIX socket at this path.
    pub fn unix_socket(mut self, path: PathBuf) -> FakeIphone {
        self.unix = Some(path);
        self
    }

    pub fn start(self) -> anyhow::Result<RunningFake> {
        let mut phones = Vec::new();
        for (i, config) in self.phones.into_iter().enumerate() {
            let n = u32::try_from(i)?;
            phones.push(Phone::new(config, n + 1, n + 1)?);
        }
        let next_device_id = u32::try_from(phones.len())? + 1;
        let shared: Shared = Arc::new(Mutex::new(State {
            phones,
            pair_records: HashMap::new(),
            buid: uuid::Uuid::new_v4().to_string().to_uppercase(),
            listeners: Vec::new(),
            services: HashMap::new(),
            registry: self.registry,
            control_idle: self.control_idle,
            next_device_id,
            next_service_port: 49152,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let tcp = TcpListener::bind(self.listen)?;
        let addr = tcp.local_addr()?;
        {
            let (shared, stop) = (shared.clone(), stop.clone());
            thread::Builder::new().name("fake-usbmuxd-tcp".into()).spawn(move || {
                for conn in tcp.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    conn.set_nodelay(true).ok();
                    spawn_connection(shared.clone(), UsbmuxStream::Tcp(conn));
                }
            })?;
        }
        #[cfg(unix)]
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)?;
            let (shared, stop) = (shared.clone(), stop.clone());
            thread::Builder::new().name("fake-usbmuxd-unix".into()).spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    spawn_connection(shared.clone(), UsbmuxStream::Unix(conn));
                }
            })?;
        }
        Ok(RunningFake {
            addr,
            unix: self.unix,
            shared,
            stop,
        })
    }
}

fn spawn_connection(shared: Shared, stream: UsbmuxStream) {
    let _ = thread::Builder::new()
        .name("fake-usbmuxd-conn".into())
        .spawn(move || crate::usbmuxd::serve(shared, stream));
}

/// A running simulator. Dropping it stops accepting connections.
pub struct RunningFake {
    addr: SocketAddr,
    unix: Option<PathBuf>,
    shared: Shared,
    stop: Arc<AtomicBool>,
}

impl RunningFake {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `USBMUXD_SOCKET_ADDRESS` and `--usbmux`: `127.0.0.1:PORT`.
    pub fn usbmux_address(&self) -> String {
        self.addr.to_string()
    }

    pub fn unix_path(&self) -> Option<&PathBuf> {
        self.unix.as_ref()
    }

    pub fn udids(&self) -> Vec<String> {
        lock(&self.shared)
            .phones
            .iter()
            .map(|p| p.config.udid.clone())
            .collect()
    }

    fn with_phone<T>(&self, udid: Option<&str>, f: impl FnOnce(&mut Phone) -> T) -> Option<T> {
        let mut state = lock(&self.shared);
        let phone = match udid {
            Some(udid) => state.phone_by_udid(udid),
            None => state.phones.first_mut(),
        }?;
        Some(f(phone))
    }

    /// Taps Trust on the phone's screen (the first phone when `udid` is `None`); also unlocks it.
    pub fn tap_trust(&self, udid: Option<&str>) -> bool {
        self.with_phone(udid, Phone::tap_trust).is_some()
    }

    pub fn tap_dont_trust(&self, udid: Option<&str>) -> bool {
        self.with_phone(udid, Phone::tap_dont_trust).is_some()
    }

    pub fn set_locked(&self, udid: Option<&str>, locked: bool) -> bool {
        self.with_phone(udid, |p| p.locked = locked).is_some()
    }

    /// Whether the Trust dialog is on the phone's screen now.
    pub fn trust_dialog_shown(&self, udid: Option<&str>) -> bool {
        self.with_phone(udid, |p| matches!(p.dialog, crate::phone::Dialog::Shown { .. }))
            .unwrap_or(false)
    }

    /// Whether the phone trusts at least one computer.
    pub fn is_paired(&self, udid: Option<&str>) -> bool {
        self.with_phone(udid, |p| !p.trusted_hosts.is_empty()).unwrap_or(false)
    }

    /// Unplugs the phone: listeners get `Detached` and every open connection is cut.
    pub fn detach(&self, udid: Option<&str>) -> bool {
        lock(&self.shared).detach(udid)
    }

    /// File bytes the phone has served over AFC so far.
    pub fn file_bytes_served(&self, udid: Option<&str>) -> u64 {
        self.with_phone(udid, |p| {
            p.stats.file_bytes_served.load(std::sync::atomic::Ordering::SeqCst)
        })
        .unwrap_or(0)
    }

    /// The most AFC requests one connection kept in flight (read by the phone and not yet
    /// answered) since the last call, across connections; counting starts again at 0.
    pub fn take_afc_most_in_flight(&self, udid: Option<&str>) -> usize {
        self.with_phone(udid, |p| {
            p.stats.afc_most_in_flight.swap(0, std::sync::atomic::Ordering::SeqCst)
        })
        .unwrap_or(0)
    }

    /// File bytes the phone has uploaded in backups so far (payload only: not Status.plist,
    /// Manifest.plist or Manifest.db), across runs.
    pub fn backup_bytes_served(&self, udid: Option<&str>) -> u64 {
        self.with_phone(udid, |p| {
            p.stats.backup_bytes_served.load(std::sync::atomic::Ordering::SeqCst)
        })
        .unwrap_or(0)
    }

    /// Every file a backup of the phone would copy now, CameraRollDomain included.
    pub fn backup_files(&self, udid: Option<&str>) -> Vec<DeviceFile> {
        self.with_phone(udid, |p| {
            let files = p.files.lock().unwrap_or_else(|e| e.into_inner());
            files.snapshot(&p.config.media)
        })
        .unwrap_or_default()
    }

    /// Adds a file with `bytes` to the phone (or replaces one), for the next backup.
    pub fn add_backup_file(&self, udid: Option<&str>, domain: &str, path: &str, bytes: Vec<u8>) -> bool {
        self.with_files(udid, |f| {
            f.add_bytes(domain, path, bytes);
            true
        })
    }

    /// Gives a generated file new bytes (same size) and a new modification time.
    pub fn change_backup_file(&self, udid: Option<&str>, domain: &str, path: &str) -> bool {
        self.with_files(udid, |f| f.change(domain, path))
    }

    pub fn delete_backup_file(&self, udid: Option<&str>, domain: &str, path: &str) -> bool {
        self.with_files(udid, |f| f.delete(domain, path))
    }

    fn with_files(&self, udid: Option<&str>, f: impl FnOnce(&mut DeviceFiles) -> bool) -> bool {
        self.with_phone(udid, |p| {
            let mut files = p.files.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut files)
        })
        .unwrap_or(false)
    }

    /// The notifications posted on the phone so far, by computers and by the phone itself.
    pub fn notifications_posted(&self, udid: Option<&str>) -> Vec<String> {
        self.with_phone(udid, |p| p.notifications.posted()).unwrap_or_default()
    }

    /// Arms new one-shot faults for the AFC connections opened from now on, with byte
    /// positions counted from now (the served-bytes counter and the fired list start over).
    pub fn arm(&self, udid: Option<&str>, faults: crate::Faults) -> bool {
        self.with_phone(udid, |p| {
            p.config.faults = faults;
            p.stats.file_bytes_served.store(0, std::sync::atomic::Ordering::SeqCst);
            p.stats
                .backup_bytes_served
                .store(0, std::sync::atomic::Ordering::SeqCst);
            if let Ok(mut fired) = p.stats.fired.lock() {
                fired.clear();
            }
        })
        .is_some()
    }

    /// The faults that have fired so far.
    pub fn faults_fired(&self, udid: Option<&str>) -> Vec<&'static str> {
        self.with_phone(udid, |p| p.stats.fired.lock().map(|f| f.clone()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Plugs the phone back in under a new device id, as usbmuxd does.
    pub fn attach(&self, udid: Option<&str>) -> bool {
        let mut state = lock(&self.shared);
        let device_id = state.next_device_id;
        let phone = match udid {
            Some(udid) => state.phone_by_udid(udid),
            None => state.phones.first_mut(),
        };
        let Some(phone) = phone.filter(|p| !p.attached) else {
            return false;
        };
        phone.attached = true;
        phone.device_id = device_id;
        let device = phone.device();
        state.next_device_id += 1;
        state.broadcast(Event::Attached(device));
        true
    }

    /// Applies one control line (`trust`, `deny`, `lock`, `unlock`, `detach`, `attach`, each
    /// optionally followed by a UDID; or a backup command, see [`RunningFake::backup_control`]).
    /// Returns a reply line.
    pub fn control(&self, line: &str) -> String {
        if line.starts_with("backup-") {
            return self.backup_control(line);
        }
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("");
        let udid = words.next();
        let done = match command {
            "trust" => self.tap_trust(udid),
            "deny" => self.tap_dont_trust(udid),
            "lock" => self.set_locked(udid, true),
            "unlock" => self.set_locked(udid, false),
            "detach" => self.detach(udid),
            "attach" => self.attach(udid),
            "" => return String::new(),
            other => return format!("error unknown command {other:?}"),
        };
        if done {
            format!("ok {command}")
        } else {
            format!("error no such phone for {command}")
        }
    }
}

impl RunningFake {
    /// The backup control lines:
    /// - `backup-add DOMAIN PATH BYTES [UDID]`: a new file of BYTES generated bytes;
    /// - `backup-change DOMAIN PATH [UDID]`: new bytes and time for a file;
    /// - `backup-delete DOMAIN PATH [UDID]`;
    /// - `backup-change-some N [UDID]`: changes N generated files, spread evenly and the same
    ///   ones every time (`ok backup-change-some COUNT BYTES`), for benchmarks;
    /// - `backup-served [UDID]`: the backup bytes uploaded so far (`ok backup-served N`).
    pub fn backup_control(&self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let command = words.first().copied().unwrap_or("");
        let done = match (command, &words[1..]) {
            ("backup-served", udid) if udid.len() <= 1 => {
                return format!("ok backup-served {}", self.backup_bytes_served(udid.first().copied()));
            }
            ("backup-change-some", [count, udid @ ..]) if udid.len() <= 1 => {
                let Ok(count) = count.parse::<usize>() else {
                    return format!("error {count:?} is not a file count");
                };
                let mut changed = None;
                self.with_files(udid.first().copied(), |f| {
                    changed = Some(f.change_some(count));
                    true
                });
                return match changed {
                    Some((count, bytes)) => format!("ok backup-change-some {count} {bytes}"),
                    None => "error no such phone for backup-change-some".to_string(),
                };
            }
            ("backup-add", [domain, path, size, udid @ ..]) if udid.len() <= 1 => {
                let Ok(size) = size.parse::<usize>() else {
                    return format!("error {size:?} is not a byte count");
                };
                self.with_files(udid.first().copied(), |f| {
                    f.add(domain, path, size);
                    true
                })
            }
            ("backup-change", [domain, path, udid @ ..]) if udid.len() <= 1 => {
                self.change_backup_file(udid.first().copied(), domain, path)
            }
            ("backup-delete", [domain, path, udid @ ..]) if udid.len() <= 1 => {
                self.delete_backup_file(udid.first().copied(), domain, path)
            }
            _ => return format!("error usage: {command} DOMAIN PATH [BYTES] [UDID]"),
        };
        if done {
            format!("ok {command}")
        } else {
            format!("error no such phone or file for {command}")
        }
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops so they see the flag.
        let _ = TcpStream::connect(self.addr);
        #[cfg(unix)]
        if let Some(path) = &self.unix {
            let _ = std::os::unix::net::UnixStream::connect(path);
            let _ = std::fs::remove_file(path);
        }
        let mut state = lock(&self.shared);
        for phone in &mut state.phones {
            phone.detach();
        }
    }
}
