//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Back an iPhone up to this computer over USB, verified by SHA-256"
)]
pub struct Cli {
    /// usbmuxd address: UNIX:/path, /path or host:port (default: $USBMUXD_SOCKET_ADDRESS, then the system's).
    #[arg(long, global = true, value_name = "ADDR")]
    pub usbmux: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List connected iPhones.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// Show an iPhone's name, model, iOS version, storage and battery.
    Info {
        #[arg(long, value_name = "UDID")]
        device: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Pair with an iPhone: unlock it and tap Trust when it asks.
    Pair {
        #[arg(long, value_name = "UDID")]
        device: Option<String>,
        /// How long to wait for Trust to be tapped, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Pair again even if already paired.
        #[arg(long)]
        force: bool,
    },
    /// Forget the pairing, on the iPhone and on this computer.
    Unpair {
        #[arg(long, value_name = "UDID")]
        device: Option<String>,
    },
    /// Look around the iPhone's media folder (what Finder calls its files).
    Files {
        #[arg(long, global = true, value_name = "UDID")]
        device: Option<String>,
        #[command(subcommand)]
        command: FilesCommand,
    },
}

#[derive(Subcommand)]
pub enum FilesCommand {
    /// List a folder, like `ls`.
    Ls {
        #[arg(default_value = "/")]
        path: String,
        /// Size, date and kind of each entry.
        #[arg(long, short = 'l')]
        long: bool,
    },
    /// Copy a file or folder from the iPhone, like `cp -r`, checking every byte arrived.
    Pull {
        path: String,
        dest: PathBuf,
        /// Read every file twice and compare SHA-256, to catch bytes damaged in transfer.
        #[arg(long)]
        verify: bool,
    },
}
