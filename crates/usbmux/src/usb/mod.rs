//! The embedded USB transport: lifeboat opens the phone itself with rusbmux (library mode,
//! nusb backend) when no usbmuxd daemon runs. It offers what the daemon offers the rest of
//! lifeboat: a device list, attach and detach events, and byte streams to device ports.
//!
//! Only one process can own a phone's usbmux interface, so this is used only when no
//! daemon answers, and says so when something else holds the phone.

pub(crate) mod bridge;
mod buid;
mod enumerate;
mod listen;
mod open_error;
mod runtime;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use idevice::provider::IdeviceProvider;
use rusbmux::device::usb::UsbDevice;
use rusbmux::provider::RusbmuxProvider;
use rusbmux::usb_backend::AnyDeviceInfo;

use crate::device::{ConnectionKind, Device};
use crate::error::{Error, Result};
use crate::stream::UsbmuxStream;
use crate::transport::UsbSettings;
pub(crate) use listen::UsbListener;
use runtime::BackgroundRuntime;

/// The version handshake a freshly opened phone must answer within.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a phone may take to accept a connection to one of its ports.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A phone plugged in a moment ago may not answer yet: how long `list_devices` retries.
const SETTLE: Duration = Duration::from_secs(3);

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
    /// Phones opened so far, closed in `Drop` before the runtime stops.
    opened: Mutex<Vec<Opened>>,
    /// Started on first need: listing an empty bus needs no thread.
    runtime: Mutex<Option<Arc<BackgroundRuntime>>>,
    next_device_id: AtomicU32,
}

struct Opened {
    key: nusb::DeviceId,
    device: Device,
    usb: Arc<UsbDevice>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // rusbmux's reader and writer tasks hold the device too, so it is never dropped
        // on its own: shut each down, which ends them and releases the interface. The
        // runtime field is dropped after this and stops its thread.
        for opened in lock(&self.opened).drain(..) {
            let _ = opened.usb.shutdown_blocking();
        }
    }
}

/// A poisoned lock only means another thread panicked while listing; the list itself is
/// still a list.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl UsbTransport {
    pub(crate) fn new(settings: UsbSettings) -> UsbTransport {
        UsbTransport {
            shared: Arc::new(Shared {
                settings,
                opened: Mutex::new(Vec::new()),
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

    /// The phones on the bus, opened. A phone that cannot be opened is an error, since
    /// leaving it out would read as "no phone" and hide what the user must fix.
    pub(crate) fn list_devices(&self) -> Result<Vec<Device>> {
        let deadline = Instant::now() + SETTLE;
        loop {
            match self.scan() {
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(250));
                }
                result => return result,
            }
        }
    }

    fn scan(&self) -> Result<Vec<Device>> {
        let present = enumerate::ios_devices();
        let mut opened = lock(&self.shared.opened);
        // Phones unplugged since the last look: let go of them.
        opened.retain(|o| {
            let still_there = present.iter().any(|info| info.id() == o.key);
            if !still_there {
                let _ = o.usb.shutdown_blocking();
            }
            still_there
        });
        let mut first_error = None;
        for info in present {
            if opened.iter().any(|o| o.key == info.id()) {
                continue;
            }
            match self.open(info) {
                Ok(new) => opened.push(new),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(opened.iter().map(|o| o.device.clone()).collect()),
        }
    }

    /// Claims the phone's usbmux interface and does the version handshake.
    fn open(&self, info: nusb::DeviceInfo) -> Result<Opened> {
        let key = info.id();
        let udid = info
            .serial_number()
            .map(enumerate::udid_from_serial)
            .unwrap_or_else(|| "(no serial number)".into());
        let node = enumerate::device_node(&info);
        let device_id = self.shared.next_device_id.fetch_add(1, Ordering::Relaxed);
        let runtime = self.runtime()?;
        let opening = runtime
            .run(async move {
                tokio::time::timeout(
                    OPEN_TIMEOUT,
                    UsbDevice::new(AnyDeviceInfo::Nusb(info), u64::from(device_id)),
                )
                .await
            })
            .map_err(|_| Error::UsbLink("the USB worker thread stopped".into()))?;
        let usb = match opening {
            Ok(Ok(usb)) => usb,
            Ok(Err(e)) => return Err(open_error::describe(e, &udid, &node)),
            Err(_) => {
                return Err(Error::UsbOpen {
                    udid,
                    message: format!(
                        "it did not answer within {} s; unlock it, or unplug it and plug it in again",
                        OPEN_TIMEOUT.as_secs()
                    ),
                });
            }
        };
        let device = Device {
            device_id,
            udid: usb.udid.clone(),
            connection: ConnectionKind::Usb {
                speed: usb.info.speed(),
                product_id: Some(u32::from(usb.info.product_id())),
                location_id: Some(usb.info.location_id()),
            },
        };
        Ok(Opened { key, device, usb })
    }

    /// A byte stream to `port` on the phone `device_id` from the last listing.
    pub(crate) fn connect(&self, device_id: u32, port: u16) -> Result<UsbmuxStream> {
        let usb = lock(&self.shared.opened)
            .iter()
            .find(|o| o.device.device_id == device_id)
            .map(|o| Arc::clone(&o.usb))
            .ok_or(Error::NoSuchDevice(device_id))?;
        let runtime = self.runtime()?;
        let connected = runtime
            .run(async move {
                let provider = RusbmuxProvider::new(usb, "lifeboat".into());
                match tokio::time::timeout(CONNECT_TIMEOUT, provider.connect(port)).await {
                    Ok(Ok(idevice)) => Ok(idevice.get_socket()),
                    Ok(Err(e)) => Err(Some(e.to_string())),
                    Err(_) => Err(None),
                }
            })
            .map_err(|_| Error::UsbLink("the USB worker thread stopped".into()))?;
        match connected {
            Ok(Some(socket)) => bridge::spawn(runtime.handle(), socket).map_err(Error::Io),
            Ok(None) => Err(Error::UsbLink("rusbmux gave no stream for the connection".into())),
            // The phone answers a closed port with a reset, which rusbmux reports as a
            // failed handshake: the same as usbmuxd's ConnectionRefused.
            Err(Some(_)) if self.is_present(device_id) => Err(Error::ConnectionRefused { device_id, port }),
            Err(_) if !self.is_present(device_id) => Err(Error::NoSuchDevice(device_id)),
            Err(_) => Err(Error::UsbLink(format!(
                "the iPhone did not answer a connection to port {port} within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Whether the phone `device_id` is still on the bus (it may have been unplugged).
    fn is_present(&self, device_id: u32) -> bool {
        let present = enumerate::ios_devices();
        lock(&self.shared.opened)
            .iter()
            .any(|o| o.device.device_id == device_id && present.iter().any(|info| info.id() == o.key))
    }

    pub(crate) fn read_buid(&self) -> Result<String> {
        let settings = &self.shared.settings;
        buid::system_buid(&settings.system_dirs, &settings.records_dir)
    }
}
