//! Finding the phone the user means and opening what a command needs on it.

use anyhow::{Context, Result};
use lockdown::{LockdownClient, PairRecord, PairRecordStore};
use usbmux::{Device, UsbmuxAddress, UsbmuxClient};

use crate::exit::Unavailable;

/// How long the phone may be silent (`--device-timeout`), set once at start.
static DEVICE_TIMEOUT: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();

pub fn set_device_timeout(timeout: std::time::Duration) {
    let _ = DEVICE_TIMEOUT.set(timeout);
}

pub fn mux(address: Option<&str>) -> Result<UsbmuxClient> {
    Ok(UsbmuxClient::new(UsbmuxAddress::resolve(address)?))
}

/// Connected phones, one entry per UDID: a phone on both USB and Wi-Fi is listed by USB.
pub fn devices(mux: &UsbmuxClient) -> Result<Vec<Device>> {
    let mut devices: Vec<Device> = Vec::new();
    for device in mux.list_devices()? {
        match devices.iter_mut().find(|d| d.udid == device.udid) {
            Some(existing) if !existing.is_usb() && device.is_usb() => *existing = device,
            Some(_) => {}
            None => devices.push(device),
        }
    }
    Ok(devices)
}

fn listing(devices: &[Device]) -> String {
    devices
        .iter()
        .map(|d| format!("  {} ({})", d.udid, d.connection_label()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The phone `wanted` names, or the only one connected.
pub fn select(mux: &UsbmuxClient, wanted: Option<&str>) -> Result<Device> {
    let devices = devices(mux)?;
    match wanted {
        Some(udid) => match devices.iter().find(|d| d.udid.eq_ignore_ascii_case(udid)) {
            Some(device) => Ok(device.clone()),
            None if devices.is_empty() => Err(Unavailable::NoPhone.into()),
            None => Err(Unavailable::NotConnected {
                wanted: udid.to_string(),
                connected: listing(&devices),
            }
            .into()),
        },
        None => match devices.as_slice() {
            [] => Err(Unavailable::NoPhone.into()),
            [one] => Ok(one.clone()),
            several => Err(Unavailable::SeveralPhones(listing(several)).into()),
        },
    }
}

pub fn pair_record(mux: &UsbmuxClient, udid: &str) -> Result<Option<PairRecord>> {
    Ok(PairRecordStore::new(mux).load(udid)?.map(|(record, _)| record))
}

/// A lockdown session with the phone, which must be paired.
pub fn session(mux: &UsbmuxClient, device: &Device) -> Result<(LockdownClient, PairRecord)> {
    let record = pair_record(mux, &device.udid)?.ok_or_else(|| lockdown::Error::NotPaired {
        udid: device.udid.clone(),
    })?;
    let mut client = LockdownClient::connect(mux, device).context("cannot reach the iPhone's lockdown service")?;
    client.start_session(&record)?;
    Ok((client, record))
}

/// AFC on the phone's media folder.
pub fn afc(mux: &UsbmuxClient, device: &Device) -> Result<afc::AfcClient<lockdown::ServiceStream>> {
    let record = pair_record(mux, &device.udid)?.ok_or_else(|| lockdown::Error::NotPaired {
        udid: device.udid.clone(),
    })?;
    let timeout = DEVICE_TIMEOUT.get().copied().unwrap_or(afc::client::REPLY_TIMEOUT);
    Ok(afc::connect::connect_with_timeout(mux, device, &record, timeout)?)
}
