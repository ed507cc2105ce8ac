//! `lifeboat pair`: the Trust dialog, walked through.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use lockdown::{LockdownClient, PairRecordStore, PairingProgress};
use usbmux::UsbmuxClient;

use crate::connect;

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "lifeboat".into())
}

/// The phone's name for messages, which it tells anyone.
pub fn device_name(client: &mut LockdownClient) -> String {
    client
        .get_value(None, Some("DeviceName"))
        .ok()
        .and_then(|v| v.as_string().map(str::to_string))
        .unwrap_or_else(|| "the iPhone".into())
}

/// The Trust dialog on `device` (called `name` in the messages), waited for up to
/// `timeout`; the new record is proven to open a session, then saved. Returns it with the
/// places it was saved to. `pair` runs this, and so does every command that meets a phone
/// this computer is not paired with.
pub fn pair_device(
    mux: &UsbmuxClient,
    device: &usbmux::Device,
    name: &str,
    timeout: Duration,
) -> Result<(lockdown::PairRecord, Vec<lockdown::store::RecordSource>)> {
    let mut client = LockdownClient::connect(mux, device)?;
    let buid = mux.read_buid()?;
    let terminal = std::io::stderr().is_terminal();
    let spinner = terminal.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut told = false;
    let progress = |PairingProgress::WaitingForTrust { elapsed }| match &spinner {
        Some(bar) => bar.set_message(format!(
            "Unlock {name} and tap Trust on its screen… ({}s)",
            elapsed.as_secs()
        )),
        None if !told => {
            eprintln!("Waiting for you to tap Trust on {name}. Unlock it first if it is locked.");
            told = true;
        }
        None => {}
    };
    let result = client.pair(&buid, &host_name(), timeout, progress);
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    let record = result?;
    let saved = PairRecordStore::new(mux).save_after_session(device, &record)?;
    Ok((record, saved))
}

pub fn run(mux: &UsbmuxClient, wanted: Option<&str>, timeout: u64, force: bool) -> Result<()> {
    let device = connect::select(mux, wanted)?;
    let mut client = LockdownClient::connect(mux, &device)?;
    let name = device_name(&mut client);
    if !force
        && let Some(record) = connect::pair_record(mux, &device.udid)?
        && client.start_session(&record).is_ok()
    {
        let _ = client.stop_session();
        println!("Already paired with {name} ({}).", device.udid);
        return Ok(());
    }

    drop(client);
    let (_, saved) = pair_device(mux, &device, &name, Duration::from_secs(timeout))?;
    let places: Vec<String> = saved.iter().map(ToString::to_string).collect();
    println!(
        "Paired with {name} ({}). Pairing saved to {}.",
        device.udid,
        places.join(" and ")
    );
    Ok(())
}
