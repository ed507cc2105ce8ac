//! Which iPhones are on the USB bus right now, without opening anything.

use rusbmux::usb_backend::{AnyDeviceInfo, NusbBackend, UsbBackend};

const APPLE_VENDOR_ID: u16 = 0x05ac;

/// iPhones, iPads and iPods in normal mode (recovery and DFU have other ids): the range
/// usbmuxd claims too.
const IOS_PRODUCT_IDS: std::ops::RangeInclusive<u16> = 0x1290..=0x12af;

pub(crate) fn is_ios_device(vendor_id: u16, product_id: u16) -> bool {
    vendor_id == APPLE_VENDOR_ID && IOS_PRODUCT_IDS.contains(&product_id)
}

/// The iOS devices attached now. A machine with no USB bus at all (a container, a VM)
/// has no phones; that is an answer, not an error. Listed by rusbmux's own backend, so
/// `LIFEBOAT_LOG` shows what it saw (each Apple device, or why the bus could not be
/// read; docs/usb-transport.md §4).
pub(crate) fn ios_devices() -> Vec<nusb::DeviceInfo> {
    // nusb lists synchronously on Linux; the future is ready when first polled.
    futures_lite::future::block_on(NusbBackend.list_devices())
        .into_iter()
        // Only the nusb backend is built; the enum is non-exhaustive.
        .filter_map(|any| match any {
            AnyDeviceInfo::Nusb(info) => Some(info),
            _ => None,
        })
        .filter(|d| is_ios_device(d.vendor_id(), d.product_id()))
        .collect()
}

/// The UDID as usbmuxd spells it: newer phones' 24-digit serial gets a dash after the
/// eighth digit; older 40-digit UDIDs are their serial as is.
pub(crate) fn udid_from_serial(serial: &str) -> String {
    if serial.len() == 24 && serial.is_ascii() {
        format!("{}-{}", &serial[..8], &serial[8..])
    } else {
        serial.to_string()
    }
}

/// The device node to name in permission errors.
pub(crate) fn device_node(info: &nusb::DeviceInfo) -> String {
    format!("/dev/bus/usb/{:03}/{:03}", info.busnum(), info.device_address())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ios_product_ids_count() {
        assert!(is_ios_device(0x05ac, 0x12a8), "iPhone");
        assert!(is_ios_device(0x05ac, 0x1290));
        assert!(is_ios_device(0x05ac, 0x12af));
        assert!(!is_ios_device(0x05ac, 0x1281), "recovery mode");
        assert!(!is_ios_device(0x05ac, 0x024f), "a keyboard");
        assert!(!is_ios_device(0x18d1, 0x12a8), "another vendor");
    }

    #[test]
    fn udids_are_spelled_like_usbmuxd() {
        assert_eq!(
            udid_from_serial("00008110001A2B3C4D5E6F70"),
            "00008110-001A2B3C4D5E6F70"
        );
        let old = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(udid_from_serial(old), old);
    }

    #[test]
    fn listing_without_a_usb_bus_does_not_fail() {
        // In CI there may be no /sys/bus/usb at all; whatever is there, this must return.
        let _ = ios_devices();
    }
}
