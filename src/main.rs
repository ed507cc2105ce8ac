//! `lifeboat`: back an iPhone up over USB. A thin command line over the crates: parsing,
//! progress and output live here; the protocols and the work live in `crates/`.

mod cli;
mod commands;
mod connect;
mod exit;
mod json;
mod models;
mod page_aligned;
mod progress;

use clap::Parser;

/// Large buffers start on a page, so the kernel's copies into them from the phone's socket
/// and from files run at full speed (see `page_aligned`).
#[global_allocator]
static ALLOCATOR: page_aligned::PageAlignedLarge = page_aligned::PageAlignedLarge;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    connect::set_device_timeout(std::time::Duration::from_secs(cli.device_timeout));
    if let Some(window) = cli.afc_window {
        connect::set_afc_window(window.into());
    }
    let json = cli.command.wants_json();
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => exit::report(&error, json),
    }
}
