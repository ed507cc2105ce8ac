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
    start_log();
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

/// `LIFEBOAT_LOG=debug` (or `trace`, `info`, ...): the libraries' own log on standard error,
/// rusbmux's included, for a first failure with a real phone. Off unless asked for.
fn start_log() {
    let Some(wanted) = std::env::var_os("LIFEBOAT_LOG") else {
        return;
    };
    match wanted
        .to_string_lossy()
        .parse::<tracing_subscriber::filter::LevelFilter>()
    {
        Ok(level) => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(level)
            .init(),
        Err(_) => eprintln!(
            "lifeboat: LIFEBOAT_LOG={} is not a level (error, warn, info, debug, trace); no log",
            wanted.to_string_lossy()
        ),
    }
}
