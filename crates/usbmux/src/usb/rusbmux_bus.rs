//! The real USB side: nusb finds the phones, rusbmux (library mode) opens them.

use std::path::Path;
use std::sync::Arc;

use idevice::provider::IdeviceProvider;
use rusbmux::device::usb::UsbDevice;
use rusbmux::provider::RusbmuxProvider;
use rusbmux::usb_backend::AnyDeviceInfo;
use tokio::sync::watch;

use super::device::{BoxFuture, ConnectFailure, DeviceStream, Found, MuxDevice, OpenFailure, UsbBus};
use super::{enumerate, holder, open_error};

#[derive(Debug, Default)]
pub(crate) struct RusbmuxBus;

impl UsbBus for RusbmuxBus {
    fn present(&self) -> Vec<Found> {
        enumerate::ios_devices()
            .iter()
            .map(|info| {
                let any = AnyDeviceInfo::Nusb(info.clone());
                Found {
                    node: enumerate::device_node(info),
                    udid: info.serial_number().map(enumerate::udid_from_serial),
                    product_id: any.product_id(),
                    location_id: any.location_id(),
                    speed: any.speed(),
                    sysfs: Some(info.sysfs_path().to_path_buf()),
                }
            })
            .collect()
    }

    fn open(&self, found: &Found, device_id: u32) -> BoxFuture<Result<Arc<dyn MuxDevice>, OpenFailure>> {
        let node = found.node.clone();
        Box::pin(async move {
            // Found again by its node: nusb's DeviceInfo is not kept between looks.
            let info = enumerate::ios_devices()
                .into_iter()
                .find(|info| enumerate::device_node(info) == node)
                .ok_or_else(|| OpenFailure::Other("it left the bus while being opened".into()))?;
            let usb = UsbDevice::new(AnyDeviceInfo::Nusb(info), u64::from(device_id))
                .await
                .map_err(open_error::classify)?;
            Ok(RusbmuxDevice::watch(usb) as Arc<dyn MuxDevice>)
        })
    }

    fn holder(&self, found: &Found) -> Option<String> {
        holder::usbfs_holder(found.sysfs.as_deref()?, &found.node, Path::new("/proc"))
    }
}

struct RusbmuxDevice {
    usb: Arc<UsbDevice>,
    /// Set when rusbmux's reader stopped on a USB error.
    dead: Arc<watch::Sender<bool>>,
}

impl RusbmuxDevice {
    /// rusbmux's reader stops on any USB error and says so only on `disconnected_tx`,
    /// which nothing sets in library mode: set it, and note the death when it speaks.
    /// Runs on the transport's runtime (it spawns the listening task).
    fn watch(usb: Arc<UsbDevice>) -> Arc<RusbmuxDevice> {
        let (signal, disconnected) = crossfire::mpsc::bounded_async::<(u64, u64)>(1);
        usb.set_disconnected_tx(signal);
        let dead = Arc::new(watch::Sender::new(false));
        let noted = Arc::clone(&dead);
        tokio::spawn(async move {
            // A message, or every sender gone with the device: either way it is over.
            let _ = disconnected.recv().await;
            noted.send_replace(true);
        });
        Arc::new(RusbmuxDevice { usb, dead })
    }
}

impl MuxDevice for RusbmuxDevice {
    fn udid(&self) -> String {
        self.usb.udid.clone()
    }

    fn connect(&self, port: u16) -> BoxFuture<Result<Box<dyn DeviceStream>, ConnectFailure>> {
        let provider = RusbmuxProvider::new(Arc::clone(&self.usb), "lifeboat".into());
        Box::pin(async move {
            match provider.connect(port).await {
                Ok(idevice) => idevice
                    .get_socket()
                    .map(|socket| Box::new(socket) as Box<dyn DeviceStream>)
                    .ok_or(ConnectFailure::LinkDown),
                // The phone answers a closed port with a reset, which rusbmux reports as a
                // failed handshake.
                Err(e) => Err(ConnectFailure::Refused(e.to_string())),
            }
        })
    }

    fn link_down(&self) -> BoxFuture<()> {
        let mut dead = self.dead.subscribe();
        Box::pin(async move {
            let _ = dead.wait_for(|dead| *dead).await;
        })
    }

    fn is_dead(&self) -> bool {
        *self.dead.borrow()
    }

    fn shutdown(&self) {
        let _ = self.usb.shutdown_blocking();
    }
}
