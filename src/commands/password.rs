//! The backup password for `--encrypt`, `--change-password` and `--no-encrypt`: from
//! `--password-file`, the environment, or a prompt without echo. Never printed, logged or
//! written anywhere.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use transfer::finder::job::Encryption;

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

fn read_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the password file {}", path.display()))?;
    let lines: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect();
    if lines.first().is_none_or(String::is_empty) {
        bail!(Unavailable::Usage(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(lines)
}

fn new_password(label: &str) -> Result<String> {
    let first = prompt(label)?;
    let again = prompt("Again: ")?;
    if first != again {
        bail!(Unavailable::Usage(
            "the two passwords differ; nothing was changed".into()
        ));
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off.
fn prompt(label: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(Unavailable::Usage(format!(
            "a backup password is needed: give --password-file PATH or set {ENV}"
        )));
    }
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let line = without_echo(|| {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map(|_| line)
    })?;
    eprintln!();
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!(Unavailable::Usage("the password is empty; nothing was changed".into()));
    }
    Ok(password)
}

#[cfg(unix)]
fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Flush, &quiet)?;
    let result = read();
    tcsetattr(&stdin, OptionalActions::Flush, &saved)?;
    result
}

#[cfg(not(unix))]
fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    read()
}
