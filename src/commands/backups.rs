//! `lifeboat backups`: the device backups on this computer, from their plists alone.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;
use transfer::finder::list::{self, BackupInfo, State};
use transfer::finder::size_cache::SizeCache;

/// Where Finder, iTunes, Apple Devices and lifeboat keep backups on this platform.
fn default_locations() -> Vec<PathBuf> {
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    let lifeboat = directories::ProjectDirs::from("", "", "lifeboat").map(|d| d.data_dir().to_path_buf());
    let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    list::default_locations(
        std::env::consts::OS,
        home.as_deref(),
        env("APPDATA").as_deref(),
        env("USERPROFILE").as_deref(),
        lifeboat.as_deref(),
    )
}

fn unix(time: Option<std::time::SystemTime>) -> Option<i64> {
    time.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

fn state_words(state: &State) -> (&'static str, Option<&str>) {
    match state {
        State::Finished => ("finished", None),
        State::Interrupted(why) => ("interrupted", Some(why)),
        State::Unknown(why) => ("unknown", Some(why)),
    }
}

fn to_json(b: &BackupInfo) -> serde_json::Value {
    let (state, why) = state_words(&b.state);
    json!({
        "path": b.path,
        "udid": b.udid,
        "device_name": b.device_name,
        "product_type": b.product_type,
        "model": b.product_type.as_deref().map(crate::models::marketing_name),
        "ios_version": b.product_version,
        "date": unix(b.date),
        "size": b.size,
        "encrypted": b.encrypted,
        "state": state,
        "state_reason": why,
        "problems": b.problems,
        "versions": b.versions.iter().map(|v| json!({
            "name": v.name,
            "path": v.path,
            "newest": v.newest,
        })).collect::<Vec<_>>(),
    })
}

pub fn run(paths: &[PathBuf], json_out: bool) -> Result<()> {
    for path in paths {
        if !path.is_dir() {
            return Err(crate::exit::Unavailable::Usage(format!("{} is not a folder", path.display())).into());
        }
    }
    let mut roots = default_locations();
    roots.extend(paths.iter().cloned());
    // Sizes are kept between listings (counting them stats every file of every backup).
    let found = match directories::ProjectDirs::from("", "", "lifeboat") {
        Some(dirs) => {
            let mut cache = SizeCache::load(&dirs.cache_dir().join("backup-sizes.plist"));
            let found = list::find_cached(&roots, &mut cache);
            // A cache that cannot be kept (a read-only home) only means counting again.
            let _ = cache.save();
            found
        }
        None => list::find(&roots),
    };
    if json_out {
        let looked: Vec<_> = roots.iter().map(|r| r.display().to_string()).collect();
        let backups: Vec<_> = found.iter().map(to_json).collect();
        crate::json::print(&json!({"looked_in": looked, "backups": backups}))?;
        return Ok(());
    }
    if found.is_empty() {
        println!("No device backups found. Looked in:");
        for root in &roots {
            println!("  {}", root.display());
        }
        return Ok(());
    }
    for b in &found {
        let name = b.device_name.as_deref().unwrap_or("(unnamed device)");
        let model = b
            .product_type
            .as_deref()
            .map(crate::models::marketing_name)
            .unwrap_or("unknown model");
        let (state, why) = state_words(&b.state);
        println!("{name} ({model}, iOS {})", b.product_version.as_deref().unwrap_or("?"));
        println!("  UDID       {}", b.udid.as_deref().unwrap_or("?"));
        println!(
            "  date       {}",
            unix(b.date)
                .map(nightly::status::format_time)
                .unwrap_or_else(|| "?".into())
        );
        println!("  size       {:.1} MB", b.size as f64 / 1e6);
        println!(
            "  encrypted  {}",
            match b.encrypted {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            }
        );
        match why {
            Some(why) => println!("  state      {state}: {why}"),
            None => println!("  state      {state}"),
        }
        println!("  folder     {}", b.path.display());
        if !b.versions.is_empty() {
            let names: Vec<&str> = b.versions.iter().map(|v| v.name.as_str()).collect();
            println!("  versions   {} (the last is this folder)", names.join(", "));
        }
        for problem in &b.problems {
            println!("  problem    {problem}");
        }
    }
    Ok(())
}
