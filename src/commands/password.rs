//! The backup password for `--encrypt`, `--change-password` and `--no-encrypt`: from
//! `--password-file`, the environment, or a prompt without echo. Never printed, logged or
//! written anywhere. Also the password of an encrypted backup to read (`verify`).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use transfer::finder::job::Encryption;
use transfer::finder::keybag::Password;
use zeroize::Zeroizing;

use crate::cli::BackupArgs;
use crate::exit::Unavailable;

pub const ENV: &str = "LIFEBOAT_BACKUP_PASSWORD";
pub const ENV_NEW: &str = "LIFEBOAT_BACKUP_NEW_PASSWORD";

/// The encryption change the arguments ask for, with its passwords.
pub fn encryption(args: &BackupArgs) -> Result<Option<Encryption>> {
    if !(args.encrypt || args.no_encrypt || args.change_password) {
        return Ok(None);
    }
    let file = match &args.password_file {
        Some(path) => Some(read_file(path)?),
        None => None,
    };
    let line = |n: usize| file.as_ref().and_then(|lines| lines.get(n).cloned());
    let env = |name: &str| std::env::var(name).ok().filter(|p| !p.is_empty());
    Ok(Some(if args.encrypt {
        let new = match line(0).or_else(|| env(ENV)) {
            Some(p) => p,
            None => new_password("New backup password: ")?,
        };
        Encryption::On { new }
    } else if args.no_encrypt {
        let old = match line(0).or_else(|| env(ENV)) {
            Some(p) => p,
            None => prompt("Current backup password: ")?,
        };
        Encryption::Off { old }
    } else {
        let old = match line(0).or_else(|| env(ENV)) {
            Some(p) => p,
            None => prompt("Current backup password: ")?,
        };
        let new = match line(1).or_else(|| env(ENV_NEW)) {
            Some(p) => p,
            None => new_password("New backup password: ")?,
        };
        Encryption::Change { old, new }
    }))
}

/// The lines of a password file, each without its line ending; the copies are wiped on drop.
fn read_file(path: &Path) -> Result<Zeroizing<Vec<String>>> {
    let bytes = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("cannot read the password file {}", path.display()))?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Unavailable::Usage(format!("the password file {} is not UTF-8 text", path.display())))?;
    let lines = Zeroizing::new(
        text.split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect::<Vec<_>>(),
    );
    if lines.first().is_none_or(String::is_empty) {
        bail!(Unavailable::Usage(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(lines)
}

/// The password of an encrypted backup to read: from `file`, else the environment, else a
/// prompt with no echo when there is a terminal; `None` when there is no way to ask.
pub fn to_read(file: Option<&Path>, what: &str) -> Result<Option<Password>> {
    if let Some(file) = file {
        return Ok(read_file(file)?.first().cloned().map(Password::new));
    }
    if let Some(text) = std::env::var_os(ENV) {
        let text = text
            .into_string()
            .map_err(|_| anyhow::anyhow!("{ENV} is not valid UTF-8"))?;
        return Ok(Some(Password::new(text)));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    Ok(Some(Password::new(prompt(&format!(
        "Password of the encrypted backup {what}: "
    ))?)))
}

fn new_password(label: &str) -> Result<String> {
    let first = Zeroizing::new(prompt(label)?);
    let again = Zeroizing::new(prompt("Again: ")?);
    if first != again {
        bail!(Unavailable::Usage(
            "the two passwords differ; nothing was changed".into()
        ));
    }
    Ok(first.to_string())
}

/// Reads a line from the terminal with echo off (rpassword: the terminal's modes are restored
/// even when reading fails).
fn prompt(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(Unavailable::Usage(format!(
            "a backup password is needed: give --password-file PATH or set {ENV}"
        )));
    }
    let password = rpassword::prompt_password(label).context("cannot read the password from the terminal")?;
    if password.is_empty() {
        bail!(Unavailable::Usage("the password is empty; nothing was changed".into()));
    }
    Ok(password)
}

/// Opens the device backup at `path` (a backup folder, or a folder holding just one) for
/// reading, asking for its password (as [`to_read`] does) only when it is encrypted.
pub fn open_backup(path: &Path, password_file: Option<&Path>) -> Result<transfer::finder::read::Backup> {
    use transfer::finder::read;
    if !path.is_dir() {
        bail!(Unavailable::Usage(format!("{} is not a folder", path.display())));
    }
    let dir = read::locate(path)?;
    let password = if read::is_encrypted(&dir)? {
        to_read(password_file, &dir.display().to_string())?
    } else {
        None
    };
    Ok(read::Backup::open(&dir, password.as_ref())?)
}
