//! `lifeboat devices`: what is connected, and whether this computer may talk to it.

use anyhow::Result;
use lockdown::LockdownClient;
use serde::Serialize;
use usbmux::{Device, UsbmuxClient};

use crate::connect;
use crate::exit::Unavailable;
use crate::models::marketing_name;

#[derive(Serialize)]
struct Row {
    udid: String,
    device_id: u32,
    name: Option<String>,
    product_type: Option<String>,
    model: Option<String>,
    ios_version: Option<String>,
    connection: String,
    /// How lifeboat reached it: `usbmuxd` or `usb` (directly, in-process).
    transport: &'static str,
    paired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn describe(mux: &UsbmuxClient, device: &Device) -> Row {
    let mut row = Row {
        udid: device.udid.clone(),
        device_id: device.device_id,
        name: None,
        product_type: None,
        model: None,
        ios_version: None,
        connection: device.connection_label().to_string(),
        transport: mux.transport().kind(),
        paired: false,
        error: None,
    };
    let mut client = match LockdownClient::connect(mux, device) {
        Ok(client) => client,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    let mut value = |key: &str| {
        client
            .get_value(None, Some(key))
            .ok()
            .and_then(|v| v.as_string().map(str::to_string))
    };
    row.name = value("DeviceName");
    row.product_type = value("ProductType");
    row.ios_version = value("ProductVersion");
    row.model = row.product_type.as_deref().map(|p| marketing_name(p).to_string());
    // Paired means a record exists here and the phone still accepts it.
    if let Ok(Some(record)) = connect::pair_record(mux, &device.udid) {
        row.paired = client.start_session(&record).is_ok();
        let _ = client.stop_session();
    }
    row
}

pub fn run(mux: &UsbmuxClient, json: bool) -> Result<()> {
    let devices = connect::devices(mux)?;
    // Over USB directly: phones on the bus that could not be opened are not in the list.
    for unopened in mux.take_unopened() {
        eprintln!("lifeboat: left out: {unopened}");
    }
    let rows: Vec<Row> = devices.iter().map(|d| describe(mux, d)).collect();
    if json {
        crate::json::print(&rows)?;
    } else if !rows.is_empty() {
        let unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        let table: Vec<[String; 6]> = rows
            .iter()
            .map(|r| {
                [
                    r.udid.clone(),
                    unknown(&r.name),
                    unknown(&r.model),
                    unknown(&r.ios_version),
                    r.connection.clone(),
                    if r.paired { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect();
        let header = ["UDID", "NAME", "MODEL", "IOS", "CONNECTION", "PAIRED"].map(String::from);
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                table
                    .iter()
                    .chain([&header])
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in [&header].into_iter().chain(table.iter()) {
            let cells: Vec<String> = line.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            println!("{}", cells.join("  ").trim_end());
        }
        println!("Transport: {}", mux.transport());
        for row in rows.iter().filter(|r| r.error.is_some()) {
            eprintln!("lifeboat: {}: {}", row.udid, row.error.as_deref().unwrap_or_default());
        }
        if rows.iter().any(|r| !r.paired) {
            eprintln!("Pair a phone with `lifeboat pair --device UDID`, then unlock it and tap Trust.");
        }
    }
    if rows.is_empty() {
        return Err(Unavailable::NoPhone(mux.transport()).into());
    }
    Ok(())
}
