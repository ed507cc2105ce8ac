//! Finding the phone the user means and opening what a command needs on it.

use anyhow::{Context, Result};
use lockdown::{LockdownClient, PairRecord, PairRecordStore};
use usbmux::{Device, TransportChoice, UsbSettings, UsbmuxAddress, UsbmuxClient};

use crate::exit::Unavailable;

/// How long the phone may be silent (`--device-timeout`), set once at start.
static DEVICE_TIMEOUT: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();

pub fn set_device_timeout(timeout: std::time::Duration) {
    let _ = DEVICE_TIMEOUT.set(timeout);
}

/// AFC requests in flight on one connection (`--afc-window`), set once at start.
static AFC_WINDOW: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

pub fn set_afc_window(window: usize) {
    let _ = AFC_WINDOW.set(window);
}

/// `--afc-window`, if the user gave it. Without it each kind of request keeps its own
/// window (reads 8, file infos 128): capping every kind at the read window made the walk of
/// a large library four times slower.
pub fn afc_window_chosen() -> Option<usize> {
    AFC_WINDOW.get().copied()
}

/// The client for `--usbmux address` and `--transport choice`. With `auto`, a daemon
/// address the user gave (the flag or `USBMUXD_SOCKET_ADDRESS`) is kept to: falling back to
/// USB would hide a mistyped address, and could take the phone from a daemon that is
/// restarting. Only the platform's default address is probed.
pub fn mux(address: Option<&str>, transport: TransportChoice) -> Result<UsbmuxClient> {
    if address.is_some() && transport == TransportChoice::Usb {
        return Err(Unavailable::Usage(
            "--usbmux names a usbmuxd daemon, which --transport usb does not use; give one or the other".into(),
        )
        .into());
    }
    let given = transport != TransportChoice::Usb && UsbmuxAddress::is_given(address);
    let resolved = match transport {
        // The environment's daemon address is beside the point when USB was asked for.
        TransportChoice::Usb => UsbmuxAddress::platform_default(),
        _ => UsbmuxAddress::resolve(address)?,
    };
    let usb = UsbSettings {
        records_dir: lockdown::store::default_own_dir(),
        system_dirs: lockdown::store::system_dirs(),
    };
    Ok(UsbmuxClient::with_transport(transport, resolved, given, usb)?)
}

/// Connected phones, one entry per UDID: a phone on both USB and Wi-Fi is listed by USB.
pub fn devices(mux: &UsbmuxClient) -> Result<Vec<Device>> {
    devices_wanting(mux, None)
}

/// As [`devices`]; over USB directly, naming a phone leaves the others unclaimed.
fn devices_wanting(mux: &UsbmuxClient, wanted: Option<&str>) -> Result<Vec<Device>> {
    let mut devices: Vec<Device> = Vec::new();
    for device in mux.list_devices_wanting(wanted)? {
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
    let devices = devices_wanting(mux, wanted)?;
    match wanted {
        Some(udid) => match devices.iter().find(|d| d.udid.eq_ignore_ascii_case(udid)) {
            Some(device) => Ok(device.clone()),
            None => {
                // Over USB only the named phone is claimed, so the others are named from
                // the bus.
                let mut connected = listing(&devices);
                for other in mux.udids_on_the_bus() {
                    if !devices.iter().any(|d| d.udid.eq_ignore_ascii_case(&other)) {
                        connected.push_str(&format!("\n  {other} (USB, not opened)"));
                    }
                }
                let connected = connected.trim_start_matches('\n').to_string();
                if connected.is_empty() {
                    return Err(Unavailable::NoPhone(mux.transport()).into());
                }
                Err(Unavailable::NotConnected {
                    wanted: udid.to_string(),
                    connected,
                }
                .into())
            }
        },
        None => match devices.as_slice() {
            [] => Err(Unavailable::NoPhone(mux.transport()).into()),
            [one] => Ok(one.clone()),
            several => Err(Unavailable::SeveralPhones(listing(several)).into()),
        },
    }
}

pub fn pair_record(mux: &UsbmuxClient, udid: &str) -> Result<Option<PairRecord>> {
    Ok(PairRecordStore::new(mux).load(udid)?.map(|(record, _)| record))
}

/// How long a command that meets an unpaired phone waits for Trust, as `pair` does.
const PAIR_IN_PLACE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The pair record for `device`; a phone this computer is not paired with is asked to trust
/// it first (the Trust dialog, as `lifeboat pair` walks it), and the command carries on.
pub fn trusted_record(mux: &UsbmuxClient, device: &Device) -> Result<PairRecord> {
    if let Some(record) = pair_record(mux, &device.udid)? {
        return Ok(record);
    }
    let name = crate::commands::pair::device_name(&mut LockdownClient::connect(mux, device)?);
    eprintln!("lifeboat: this computer is not paired with {name} yet; asking it to trust this computer.");
    let (record, _) = crate::commands::pair::pair_device(mux, device, &name, PAIR_IN_PLACE_TIMEOUT)?;
    Ok(record)
}

/// A lockdown session with the phone, pairing first when it has not trusted this computer.
pub fn session(mux: &UsbmuxClient, device: &Device) -> Result<(LockdownClient, PairRecord)> {
    let record = trusted_record(mux, device)?;
    let mut client = LockdownClient::connect(mux, device).context("cannot reach the iPhone's lockdown service")?;
    client.start_session(&record)?;
    Ok((client, record))
}

/// AFC on the phone's media folder, pairing first when needed.
pub fn afc(mux: &UsbmuxClient, device: &Device) -> Result<afc::AfcClient<lockdown::ServiceStream>> {
    let record = trusted_record(mux, device)?;
    let timeout = DEVICE_TIMEOUT.get().copied().unwrap_or(afc::client::REPLY_TIMEOUT);
    let afc = afc::connect::connect_with_timeout(mux, device, &record, timeout)?;
    Ok(match afc_window_chosen() {
        Some(window) => afc.with_window(window),
        None => afc,
    })
}
