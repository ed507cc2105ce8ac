//! `lifeboat backups`: the device backups on this computer, from their plists alone; and
//! the backup password, for the commands that read encrypted backups.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;
use transfer::finder::keybag::Password;
use transfer::finder::list::{self, BackupInfo, State};

/// The environment variable that may hold the backup password.
pub const PASSWORD_ENV: &str = "LIFEBOAT_BACKUP_PASSWORD";

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
    let found = list::find(&roots);
    if json_out {
        let looked: Vec<_> = roots.iter().map(|r| r.display().to_string()).collect();
        let backups: Vec<_> = found.iter().map(to_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"looked_in": looked, "backups": backups}))?
        );
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
        for problem in &b.problems {
            println!("  problem    {problem}");
        }
    }
    Ok(())
}

/// The password of an encrypted backup: from `file`, else the environment, else a prompt
/// with no echo when there is a terminal; `None` when there is no way to ask.
pub fn password(file: Option<&Path>, what: &str) -> Result<Option<Password>> {
    if let Some(file) = file {
        let contents =
            std::fs::read(file).with_context(|| format!("cannot read the password file {}", file.display()))?;
        return Ok(Some(Password::from_file_contents(contents)));
    }
    if let Some(text) = std::env::var_os(PASSWORD_ENV) {
        let text = text
            .into_string()
            .map_err(|_| anyhow::anyhow!("{PASSWORD_ENV} is not valid UTF-8"))?;
        return Ok(Some(Password::new(text)));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let text = rpassword::prompt_password(format!("Password of the encrypted backup {what}: "))
        .context("cannot read the password from the terminal")?;
    Ok(Some(Password::new(text)))
}
