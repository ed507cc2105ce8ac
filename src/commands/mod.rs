//! One module per command.

mod backup;
mod devices;
mod export;
mod files;
mod info;
mod pair;
mod schedule;
mod unpair;
mod verify;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::connect;

pub fn run(cli: Cli) -> Result<()> {
    let mux = connect::mux(cli.usbmux.as_deref(), cli.transport)?;
    match cli.command {
        Command::Devices { json } => devices::run(&mux, json),
        Command::Info { device, json } => info::run(&mux, device.as_deref(), json),
        Command::Pair { device, timeout, force } => pair::run(&mux, device.as_deref(), timeout, force),
        Command::Unpair { device } => unpair::run(&mux, device.as_deref()),
        Command::Files { device, command } => files::run(&mux, device.as_deref(), command),
        Command::ExportPhotos(args) => export::run(&mux, args),
        Command::Verify(args) => verify::run(&mux, args),
        Command::Backup { config, wait } => backup::run(&mux, config, wait),
        Command::Schedule { command } => schedule::run(command),
        Command::Status { config, json } => backup::status(config, json),
    }
}
