//! `lifeboat info`: the phone's identity, storage and battery.

use anyhow::Result;
use plist::{Dictionary, Value};
use usbmux::UsbmuxClient;

use crate::{connect, json, models};

/// Bytes as decimal gigabytes, as phones and Finder count them.
fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

pub fn run(mux: &UsbmuxClient, wanted: Option<&str>, as_json: bool) -> Result<()> {
    let device = connect::select(mux, wanted)?;
    let (mut client, _record) = connect::session(mux, &device)?;
    let values = match client.get_value(None, None)? {
        Value::Dictionary(d) => d,
        _ => anyhow::bail!("the phone's values are not a dictionary"),
    };
    // Domains a phone may refuse are left out rather than failing the command.
    let mut domain = |name: &str| match client.get_value(Some(name), None) {
        Ok(Value::Dictionary(d)) => Some(d),
        _ => None,
    };
    let disk = domain("com.apple.disk_usage");
    let battery = domain("com.apple.mobile.battery");
    // Whether the phone encrypts its backups (docs/backup.md §1.10).
    let will_encrypt = matches!(
        client.get_value(Some("com.apple.mobile.backup"), Some("WillEncrypt")),
        Ok(Value::Boolean(true))
    );
    let _ = client.stop_session();

    if as_json {
        let mut out = serde_json::Map::new();
        out.insert("udid".into(), device.udid.clone().into());
        out.insert("connection".into(), device.connection_label().into());
        out.insert("values".into(), public_values(&values));
        out.insert(
            "disk_usage".into(),
            disk.as_ref().map(json::object).map(Into::into).unwrap_or_default(),
        );
        out.insert(
            "battery".into(),
            battery.as_ref().map(json::object).map(Into::into).unwrap_or_default(),
        );
        out.insert("backup_encrypted".into(), will_encrypt.into());
        crate::json::print(&out)?;
        return Ok(());
    }
    let text = |d: &Dictionary, key: &str| d.get(key).and_then(Value::as_string).unwrap_or("?").to_string();
    let number = |d: &Dictionary, key: &str| d.get(key).and_then(Value::as_unsigned_integer);
    let product = text(&values, "ProductType");
    println!("Name:     {}", text(&values, "DeviceName"));
    println!("Model:    {} ({product})", models::marketing_name(&product));
    println!(
        "iOS:      {} ({})",
        text(&values, "ProductVersion"),
        text(&values, "BuildVersion")
    );
    println!("Serial:   {}", text(&values, "SerialNumber"));
    println!("UDID:     {}", device.udid);
    println!("Link:     {}", device.connection_label());
    if let Some(disk) = &disk
        && let (Some(free), Some(total)) = (number(disk, "TotalDataAvailable"), number(disk, "TotalDiskCapacity"))
    {
        println!("Storage:  {} free of {}", gigabytes(free), gigabytes(total));
    }
    if let Some(battery) = &battery
        && let Some(percent) = number(battery, "BatteryCurrentCapacity")
    {
        let charging = battery
            .get("BatteryIsCharging")
            .and_then(Value::as_boolean)
            .unwrap_or(false);
        println!(
            "Battery:  {percent}% ({})",
            if charging { "charging" } else { "not charging" }
        );
    }
    println!(
        "Backups:  {}",
        if will_encrypt {
            "encrypted (a backup password is set)"
        } else {
            "not encrypted"
        }
    );
    Ok(())
}

/// The default domain without the phone's public key: nobody needs it on screen.
fn public_values(values: &Dictionary) -> serde_json::Value {
    let mut object = json::object(values);
    object.remove("DevicePublicKey");
    object.into()
}
