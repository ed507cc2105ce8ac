//! `lifeboat doctor`: the iCloud checklist answered from the phone, then what lifeboat can
//! do about it right now. It only reads: nothing on the phone is changed to find out.

use std::path::{Path, PathBuf};

use anyhow::Result;
use nightly::doctor::{self, Check, HostFacts, PhoneFacts, Verdict};
use plist::Value;
use serde_json::json;
use usbmux::UsbmuxClient;

use crate::commands::{export, nightly as nightly_command};
use crate::connect;

/// Reads what the phone reports; whatever it refuses stays unknown.
fn phone_facts(mux: &UsbmuxClient, device: &usbmux::Device, cache: Option<PathBuf>) -> Result<PhoneFacts> {
    let mut facts = PhoneFacts::default();
    let Some(record) = connect::pair_record(mux, &device.udid)? else {
        // Unpaired: only the values a phone gives anyone.
        let mut client = lockdown::LockdownClient::connect(mux, device)?;
        if let Ok(Value::Dictionary(values)) = client.get_value(None, None) {
            facts.read_identity(&values);
        }
        return Ok(facts);
    };
    let (mut client, _) = connect::session(mux, device)?;
    facts.paired = true;
    if let Ok(Value::Dictionary(values)) = client.get_value(None, None) {
        facts.read_identity(&values);
    }
    let mut domain = |name: &str| match client.get_value(Some(name), None) {
        Ok(Value::Dictionary(d)) => Some(d),
        _ => None,
    };
    if let Some(backup) = domain("com.apple.mobile.backup") {
        facts.read_backup_domain(&backup);
    }
    if let Some(disk) = domain("com.apple.disk_usage") {
        facts.read_disk_usage(&disk);
    }
    if let Some(battery) = domain("com.apple.mobile.battery") {
        facts.read_battery(&battery);
    }
    let _ = client.stop_session();
    // The photo side: iCloud Photos' own state, and what Photos.sqlite says is only in iCloud.
    if let Ok(mut afc) = afc::connect::connect(mux, device, &record) {
        facts.sync_status = doctor::read_sync_status(&mut afc);
        if let Ok((library, _)) = transfer::photos::load::load(&mut afc, cache.as_deref())
            && matches!(library.source, transfer::photos::library::Source::Database { .. })
        {
            facts.cloud_only = Some(library.assets.iter().filter(|a| a.cloud_only).count() as u64);
            facts.cloud_only_bytes = library.cloud_only_bytes;
        }
    }
    Ok(facts)
}

fn host_facts(
    udid: &str,
    dest: Option<PathBuf>,
    config: Option<&nightly::config::Config>,
    state_dir: &Path,
) -> HostFacts {
    let configured = config.and_then(|c| c.phone(udid)).map(|p| p.destination.clone());
    let dest = dest.or(configured).unwrap_or_else(export::default_destination);
    let mut facts = HostFacts {
        destination_free: transfer::fs::space::free_space(&dest).ok(),
        destination: Some(dest.display().to_string()),
        ..Default::default()
    };
    let status = nightly::status::load(state_dir);
    if let Some(phone) = status.phones.get(udid) {
        facts.last_export = phone.last_success;
        facts.last_outcome = phone.last_run.as_ref().map(|r| r.outcome.clone());
        facts.last_full_backup = phone.last_full_backup;
    }
    facts
}

fn mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "ok     ",
        Verdict::Warning => "WARNING",
        Verdict::Unknown => "unknown",
    }
}

/// What lifeboat can do now, as commands to copy.
fn next_steps(dest: Option<&str>, checks: &[Check]) -> Vec<String> {
    let mut steps = Vec::new();
    let dest = dest.map(|d| format!(" '{d}'")).unwrap_or_default();
    let paired = checks.iter().any(|c| c.item == "paired" && c.verdict == Verdict::Ok);
    if !paired {
        steps.push("lifeboat pair".to_string());
    }
    steps.push(format!("lifeboat export-photos{dest}"));
    steps.push("lifeboat backup".to_string());
    steps
}

pub fn run(
    mux: &UsbmuxClient,
    wanted: Option<&str>,
    dest: Option<PathBuf>,
    config_path: Option<PathBuf>,
    as_json: bool,
) -> Result<()> {
    let device = connect::select(mux, wanted)?;
    // A missing configuration is normal here: the doctor also serves people who have none.
    let config = nightly_command::load_config(config_path.clone()).ok();
    // The status file's folder, which `lifeboat backup` also finds without a `[[phone]]`.
    let state_dir = nightly::config::backup_settings(&config_path.unwrap_or_else(nightly::config::default_path))
        .map(|s| s.state_dir)
        .unwrap_or_else(|_| nightly::config::default_state_dir());
    let cache = config
        .as_ref()
        .and_then(|c| c.phone(&device.udid))
        .map(|p| transfer::photos::export::database_cache(&p.destination));
    let phone = phone_facts(mux, &device, cache)?;
    let host = host_facts(&device.udid, dest, config.as_ref(), &state_dir);
    let checks = doctor::checks(&phone, &host, nightly::status::now());
    let steps = next_steps(host.destination.as_deref(), &checks);
    let warnings = checks.iter().filter(|c| c.verdict == Verdict::Warning).count();
    if as_json {
        crate::json::print(&json!({
            "udid": device.udid,
            "phone": phone,
            "computer": host,
            "checks": checks,
            "warnings": warnings,
            "next": steps,
        }))?;
    } else {
        println!("{} ({})", phone.name.as_deref().unwrap_or("iPhone"), device.udid);
        for check in &checks {
            println!("  {}  {}: {}", mark(check.verdict), check.item, check.finding);
            if let Some(advice) = &check.advice {
                println!("           what to do: {advice}");
            }
        }
        println!("What lifeboat can do now, whatever iCloud does:");
        for step in &steps {
            println!("  {step}");
        }
    }
    if warnings > 0 {
        anyhow::bail!("{warnings} of the checks need attention");
    }
    Ok(())
}
