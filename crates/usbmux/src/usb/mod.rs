//! The embedded USB transport: lifeboat opens the phone itself with rusbmux (library mode,
//! nusb backend) when no usbmuxd daemon runs. It offers what the daemon offers the rest of
//! lifeboat: a device list, attach and detach events, and byte streams to device ports.
//!
//! Only one process can own a phone's usbmux interface, so this is used only when no
//! daemon answers, and says so when something else holds the phone. The bus and the
//! opened phones are behind the traits in [`device`], so all of this is tested with a fake
//! bus (docs/usb-transport.md).

pub(crate) mod bridge;
mod buid;
pub(crate) mod device;
pub mod device_packets;
mod enumerate;
#[cfg(test)]
mod fake;
mod holder;
mod listen;
mod open_error;
mod runtime;
mod rusbmux_bus;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::device::{ConnectionKind, Device};
use crate::error::{Error, Result};
use crate::stream::UsbmuxStream;
use crate::transport::UsbSettings;
use device::{ConnectFailure, Found, MuxDevice, OpenFailure, UsbBus};
pub(crate) use listen::UsbListener;
use runtime::{BackgroundRuntime, RuntimeGone};

/// How long the transport waits for what.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The version handshake a freshly opened phone must answer within.
    pub open: Duration,
    /// How long a phone may take to accept a connection to one of its ports.
    pub connect: Duration,
    /// A phone plugged in a moment ago may not answer yet: how long opening it is tried
    /// again. A try that timed out is always tried once more.
    pub settle: Duration,
    /// Right after plug-in the device node is root's until udev has applied the rule.
    pub permission_grace: Duration,
    /// Between two tries.
    pub pause: Duration,
}

impl Timing {
    pub(crate) const DEFAULT: Timing = Timing {
        open: Duration::from_secs(5),
        connect: Duration::from_secs(10),
        // Longer than `open`, so a phone whose first handshake timed out gets a second.
        settle: Duration::from_secs(8),
        // udev applies a rule within milliseconds of the node appearing; a slow, busy
        // machine gets some seconds.
        permission_grace: Duration::from_secs(3),
        pause: Duration::from_millis(250),
    };
}

/// Cheap to clone: listeners keep one.
#[derive(Clone)]
pub(crate) struct UsbTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for UsbTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsbTransport").finish_non_exhaustive()
    }
}

struct Shared {
    settings: UsbSettings,
    bus: Box<dyn UsbBus>,
    timing: Timing,
    /// Phones opened so far, closed in `Drop` before the runtime stops.
    opened: Mutex<Vec<Opened>>,
    /// Phones on the bus that the last listing could not open, for the caller to ask about.
    unopened: Mutex<Vec<Error>>,
    /// Started on first need: listing an empty bus needs no thread.
    runtime: Mutex<Option<Arc<BackgroundRuntime>>>,
    next_device_id: AtomicU32,
}

struct Opened {
    node: String,
    device: Device,
    mux: Arc<dyn MuxDevice>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // rusbmux's reader and writer tasks hold the device too, so it is never dropped
        // on its own: shut each down, which ends them and releases the interface. The
        // runtime field is dropped after this and stops its thread.
        for opened in lock(&self.opened).drain(..) {
            opened.mux.shutdown();
        }
    }
}

/// A poisoned lock only means another thread panicked while listing; the list itself is
/// still a list.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the UDID `found` comes from its serial number names the phone `wanted`: usbmuxd
/// and the serial number differ in case and dashes on some models.
fn same_udid(found: &str, wanted: &str) -> bool {
    let plain = |udid: &str| {
        udid.chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_lowercase()
    };
    plain(found) == plain(wanted)
}

impl UsbTransport {
    pub(crate) fn new(settings: UsbSettings) -> UsbTransport {
        UsbTransport::with_bus(settings, Box::new(rusbmux_bus::RusbmuxBus), Timing::DEFAULT)
    }

    pub(crate) fn with_bus(settings: UsbSettings, bus: Box<dyn UsbBus>, timing: Timing) -> UsbTransport {
        UsbTransport {
            shared: Arc::new(Shared {
                settings,
                bus,
                timing,
                opened: Mutex::new(Vec::new()),
                unopened: Mutex::new(Vec::new()),
                runtime: Mutex::new(None),
                next_device_id: AtomicU32::new(1),
            }),
        }
    }

    fn runtime(&self) -> Result<Arc<BackgroundRuntime>> {
        let mut slot = lock(&self.shared.runtime);
        if let Some(runtime) = slot.as_ref() {
            return Ok(Arc::clone(runtime));
        }
        let runtime = Arc::new(
            BackgroundRuntime::start()
                .map_err(|e| Error::UsbLink(format!("cannot start the USB worker thread: {e}")))?,
        );
        *slot = Some(Arc::clone(&runtime));
        Ok(runtime)
    }

    /// Runs `future` on the USB runtime; a panic inside rusbmux becomes an error.
    fn run<F, T>(&self, future: F) -> Result<T>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime()?.run(future).map_err(|gone| match gone {
            RuntimeGone::Stopped => Error::UsbLink("the USB worker thread stopped".into()),
            RuntimeGone::Panicked(message) => Error::UsbLink(format!(
                "the USB library failed on what the iPhone sent ({message}); lifeboat starts its USB side afresh on the next try. If it keeps happening, unplug the iPhone and plug it in again"
            )),
        })
    }

    /// After a panic inside rusbmux on the runtime's thread, the tasks of any phone may be
    /// gone: let go of every phone and of the runtime, so the next look starts afresh.
    fn restart_after_panic(&self, opened: &mut Vec<Opened>) {
        let mut slot = lock(&self.shared.runtime);
        if !slot.as_ref().is_some_and(|runtime| runtime.has_panicked()) {
            return;
        }
        tracing::warn!("the USB library panicked; letting go of the phones and starting the USB side afresh");
        for gone in opened.drain(..) {
            gone.mux.shutdown();
        }
        *slot = None;
    }

    /// The phones on the bus, opened; with `wanted`, only that phone is claimed (the
    /// others are left for whoever wants them). A phone that cannot be opened is warned
    /// about and kept for [`UsbTransport::take_unopened`]; when no phone could be opened,
    /// the first failure is the error, since an empty list would read as "no phone" and
    /// hide what the user must fix.
    pub(crate) fn list_devices(&self, wanted: Option<&str>) -> Result<Vec<Device>> {
        let present = self.shared.bus.present();
        let mut opened = lock(&self.shared.opened);
        self.restart_after_panic(&mut opened);
        // Phones unplugged since the last look, and phones whose link died: let go of
        // them. A dead one still on the bus is opened again below.
        opened.retain(|o| {
            let keep = present.iter().any(|found| found.node == o.node) && !o.mux.is_dead();
            if !keep {
                o.mux.shutdown();
            }
            keep
        });
        let mut failures = Vec::new();
        for found in &present {
            if opened.iter().any(|o| o.node == found.node) {
                continue;
            }
            if let (Some(wanted), Some(udid)) = (wanted, found.udid.as_deref())
                && !same_udid(udid, wanted)
            {
                continue;
            }
            match self.open(found) {
                Ok(new) => opened.push(new),
                Err(e) => {
                    tracing::warn!(node = %found.node, "cannot open an iPhone on the bus: {e}");
                    failures.push(e);
                }
            }
        }
        let devices: Vec<Device> = opened.iter().map(|o| o.device.clone()).collect();
        if devices.is_empty() && !failures.is_empty() {
            return Err(failures.remove(0));
        }
        *lock(&self.shared.unopened) = failures;
        Ok(devices)
    }

    /// The phones the last listing found but could not open, with why.
    pub(crate) fn take_unopened(&self) -> Vec<Error> {
        std::mem::take(&mut *lock(&self.shared.unopened))
    }

    /// Opens `found`, trying again while the failure may pass: a phone just plugged in may
    /// not answer yet, and its node may still be root's until udev has applied the rule.
    fn open(&self, found: &Found) -> Result<Opened> {
        let udid = found.udid.clone().unwrap_or_else(|| "(no serial number)".into());
        // Before claiming: rusbmux would take the phone from a program holding it.
        if let Some(holder) = self.shared.bus.holder(found) {
            return Err(Error::UsbBusy { udid, holder });
        }
        let timing = self.shared.timing;
        let started = Instant::now();
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match self.open_once(found, &udid) {
                Ok(opened) => return Ok(opened),
                Err(e) => e,
            };
            let again = match &error {
                Error::UsbPermission { .. } => started.elapsed() < timing.permission_grace,
                e if e.is_transient() => tries < 2 || started.elapsed() < timing.settle,
                _ => false,
            };
            if !again {
                return Err(error);
            }
            tracing::debug!(node = %found.node, tries, "opening the iPhone again: {error}");
            std::thread::sleep(timing.pause);
        }
    }

    /// Claims the phone's usbmux interface and does the version handshake, once.
    fn open_once(&self, found: &Found, udid: &str) -> Result<Opened> {
        let device_id = self.shared.next_device_id.fetch_add(1, Ordering::Relaxed);
        let opening = self.shared.bus.open(found, device_id);
        let timeout = self.shared.timing.open;
        let mux = self
            .run(async move {
                tokio::time::timeout(timeout, opening)
                    .await
                    .unwrap_or(Err(OpenFailure::TimedOut))
            })?
            .map_err(|failure| open_error::describe(failure, udid, &found.node, timeout))?;
        // A dead link ends the phone's streams at once, rather than at the next look. The
        // watch holds the phone weakly: a phone let go of must be dropped, which releases
        // its interface (for a daemon that takes over, say).
        let link_down = mux.link_down();
        let watched = Arc::downgrade(&mux);
        let node = found.node.clone();
        self.runtime()?.handle().spawn(async move {
            link_down.await;
            if let Some(mux) = watched.upgrade() {
                tracing::warn!(%node, "the USB link to the iPhone died; it is opened again at the next look");
                mux.shutdown();
            }
        });
        let device = Device {
            device_id,
            udid: mux.udid(),
            connection: ConnectionKind::Usb {
                speed: found.speed,
                product_id: Some(u32::from(found.product_id)),
                location_id: Some(found.location_id),
            },
        };
        Ok(Opened {
            node: found.node.clone(),
            device,
            mux,
        })
    }

    /// A byte stream to `port` on the phone `device_id` from the last listing.
    pub(crate) fn connect(&self, device_id: u32, port: u16) -> Result<UsbmuxStream> {
        let mux = lock(&self.shared.opened)
            .iter()
            .find(|o| o.device.device_id == device_id && !o.mux.is_dead())
            .map(|o| Arc::clone(&o.mux))
            .ok_or(Error::NoSuchDevice(device_id))?;
        let connecting = mux.connect(port);
        let timeout = self.shared.timing.connect;
        let connected = self.run(async move { tokio::time::timeout(timeout, connecting).await })?;
        match connected {
            Ok(Ok(stream)) => bridge::spawn(self.runtime()?.handle(), stream).map_err(Error::Io),
            _ if !self.is_present(device_id) => Err(Error::NoSuchDevice(device_id)),
            // The same as usbmuxd's ConnectionRefused.
            Ok(Err(ConnectFailure::Refused(why))) => {
                tracing::debug!(port, "the iPhone refused the connection: {why}");
                Err(Error::ConnectionRefused { device_id, port })
            }
            Ok(Err(ConnectFailure::LinkDown)) => Err(Error::UsbLink(
                "the USB link to the iPhone dropped; it is opened again at the next look".into(),
            )),
            // The mux handshake needs no unlock and no trust: a phone on the bus that does
            // not answer it has a link that died without a word (rusbmux's reader stopped
            // before its signal was set, or lost its framing; docs/usb-transport.md §1.1,
            // §3.3). Let it go, so the next look opens it afresh.
            Err(_) => {
                self.let_go(device_id);
                Err(Error::UsbLink(format!(
                    "the iPhone did not answer a connection to port {port} within {} s; \
                     it is opened again at the next look",
                    timeout.as_secs()
                )))
            }
        }
    }

    /// Shuts the phone `device_id` down and forgets it; a later listing opens it again.
    fn let_go(&self, device_id: u32) {
        let mut opened = lock(&self.shared.opened);
        opened.retain(|o| {
            let keep = o.device.device_id != device_id;
            if !keep {
                o.mux.shutdown();
            }
            keep
        });
    }

    /// Whether the phone `device_id` is still on the bus (it may have been unplugged).
    fn is_present(&self, device_id: u32) -> bool {
        let present = self.shared.bus.present();
        lock(&self.shared.opened)
            .iter()
            .any(|o| o.device.device_id == device_id && present.iter().any(|found| found.node == o.node))
    }

    /// The UDIDs of the iOS devices on the bus, opened or not.
    pub(crate) fn udids_on_the_bus(&self) -> Vec<String> {
        self.shared
            .bus
            .present()
            .into_iter()
            .filter_map(|found| found.udid)
            .collect()
    }

    /// Whether an iOS device is on the bus, opened or not.
    pub(crate) fn bus_shows_a_phone(&self) -> bool {
        !self.shared.bus.present().is_empty()
    }

    /// Lets go of every phone, so a daemon that has started can claim them.
    pub(crate) fn release_all(&self) {
        for opened in lock(&self.shared.opened).drain(..) {
            opened.mux.shutdown();
        }
    }

    pub(crate) fn read_buid(&self) -> Result<String> {
        let settings = &self.shared.settings;
        buid::system_buid(&settings.system_dirs, &settings.records_dir)
    }
}
