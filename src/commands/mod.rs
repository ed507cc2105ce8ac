//! One module per command.

mod backup;
mod backups;
mod devices;
mod doctor;
mod export;
mod files;
mod generate;
mod info;
mod nightly;
pub mod pair;
mod password;
mod schedule;
mod unpair;
mod verify;

use std::time::Duration;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::connect;

pub fn run(cli: Cli) -> Result<()> {
    // Made only by the commands that talk to a phone: `status` and `schedule` work with no
    // usbmuxd and whatever address the environment names.
    let mux = || connect::mux(cli.usbmux.as_deref(), cli.transport);
    let device_timeout = Duration::from_secs(cli.device_timeout);
    match cli.command {
        Command::Devices { json } => devices::run(&mux()?, json),
        Command::Info { device, json } => info::run(&mux()?, device.as_deref(), json),
        Command::Pair { device, timeout, force } => pair::run(&mux()?, device.as_deref(), timeout, force),
        Command::Unpair { device } => unpair::run(&mux()?, device.as_deref()),
        Command::Doctor {
            device,
            dest,
            config,
            json,
        } => doctor::run(&mux()?, device.as_deref(), dest, config, json),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man => generate::man(),
        Command::Files {
            device,
            backup,
            password_file,
            command,
        } => match backup {
            Some(backup) => files::run_backup(&backup, password_file.as_deref(), command),
            None => files::run(&mux()?, device.as_deref(), command),
        },
        Command::ExportPhotos(args) => export::run(&mux, args, device_timeout),
        Command::Verify(args) => verify::run(&mux, args),
        Command::Backups { paths, json } => backups::run(&paths, json),
        Command::Backup(args) => backup::run(&mux()?, args, device_timeout),
        Command::Nightly { config, wait } => nightly::run(&mux()?, config, wait, device_timeout),
        Command::Schedule { command } => schedule::run(command),
        Command::Status { config, json } => nightly::status(config, json),
    }
}
