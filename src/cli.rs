//! The command line.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use transfer::photos::naming::Layout;

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
    /// Seconds the phone may stay silent before lifeboat gives up on it.
    #[arg(long, global = true, value_name = "SECONDS", env = "LIFEBOAT_DEVICE_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub device_timeout: u64,
    /// AFC requests kept in flight on one connection (default: 8 reads, with files opened
    /// ahead of them, and 128 file infos while listing); N sets both windows, and 1 sends one
    /// request at a time, for a phone that drops the connection when asked for more.
    #[arg(long, global = true, value_name = "N", env = "LIFEBOAT_AFC_WINDOW",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub afc_window: Option<u16>,
    /// How to reach the iPhone: daemon (usbmuxd), usb (directly, in-process; Linux), or auto: the daemon if one answers, else USB.
    #[arg(
        long,
        global = true,
        value_name = "HOW",
        env = "LIFEBOAT_TRANSPORT",
        default_value = "auto",
        value_parser = clap::builder::PossibleValuesParser::new(usbmux::TransportChoice::NAMES)
            .try_map(|name| name.parse::<usbmux::TransportChoice>())
    )]
    pub transport: usbmux::TransportChoice,
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
    /// Copy every original photo and video to DEST, checked by SHA-256, each only once.
    ExportPhotos(ExportArgs),
    /// Prove a backup folder is whole; with --against-device, that nothing on the phone is missing from it.
    Verify(VerifyArgs),
    /// List the device backups on this computer (Finder, iTunes, Apple Devices, idevicebackup2, lifeboat).
    Backups {
        /// Backup folders, or folders of them, to look in too.
        paths: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// A full device backup in Finder's format, kept as dated versions.
    Backup(BackupArgs),
    /// One unattended run: wait for a configured iPhone, export what is new, check a sample.
    Nightly {
        /// The configuration file (default: the platform's config folder, lifeboat/config.toml).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// How long to wait for the phone: 30s, 10m, 6h.
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
        wait: std::time::Duration,
    },
    /// Run `lifeboat nightly` every night: a systemd timer, a launchd agent or a scheduled task.
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// When each phone was last backed up, and how the last runs went.
    Status {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Why iCloud is failing, from the iPhone's own values, and what to do now.
    Doctor {
        #[arg(long, value_name = "UDID")]
        device: Option<String>,
        /// Where the photos go, to check there is room (default: the configured destination,
        /// else export-photos' default).
        #[arg(long, value_name = "DIR")]
        dest: Option<PathBuf>,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print the shell completion script for bash, zsh, fish or powershell.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), e.g. `lifeboat man | man -l -`.
    Man,
    /// Look around the iPhone's media folder (what Finder calls its files), or a device backup.
    Files {
        #[arg(long, global = true, value_name = "UDID", conflicts_with = "backup")]
        device: Option<String>,
        /// Browse a device backup folder instead of the iPhone: its domains are the top-level
        /// folders (CameraRollDomain/Media/DCIM, HomeDomain/Library/SMS, ...).
        #[arg(long, global = true, value_name = "PATH")]
        backup: Option<PathBuf>,
        /// With --backup, for an encrypted backup: read the password from the first line of
        /// this file (else $LIFEBOAT_BACKUP_PASSWORD, else a prompt).
        #[arg(long, global = true, value_name = "PATH", requires = "backup")]
        password_file: Option<PathBuf>,
        #[command(subcommand)]
        command: FilesCommand,
    },
}

impl Command {
    /// Whether the command was asked for JSON, so its errors come as JSON too.
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Devices { json, .. }
            | Command::Info { json, .. }
            | Command::Backups { json, .. }
            | Command::Status { json, .. }
            | Command::Doctor { json, .. } => *json,
            Command::ExportPhotos(args) => args.json,
            Command::Verify(args) => args.json,
            Command::Backup(args) => args.json,
            _ => false,
        }
    }
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
    /// Copy a file or folder from the iPhone (or the backup), like `cp -r`, checking every byte arrived.
    Pull {
        path: String,
        dest: PathBuf,
        /// Read every file twice and compare SHA-256, to catch bytes damaged in transfer.
        #[arg(long)]
        verify: bool,
    },
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Where the photos go (default: your Pictures folder, under "iPhone").
    pub dest: Option<PathBuf>,
    #[arg(long, value_name = "UDID", conflicts_with = "from_backup")]
    pub device: Option<String>,
    /// Export from a device backup folder (Finder, iTunes, idevicebackup2, lifeboat backup)
    /// instead of the connected iPhone: its CameraRollDomain holds the photos.
    #[arg(long, value_name = "PATH")]
    pub from_backup: Option<PathBuf>,
    /// With --from-backup, for an encrypted backup: read the password from the first line
    /// of this file (else $LIFEBOAT_BACKUP_PASSWORD, else a prompt).
    #[arg(long, value_name = "PATH", requires = "from_backup")]
    pub password_file: Option<PathBuf>,
    /// date: YYYY/MM folders by capture date; device: the phone's own folders; flat: one folder;
    /// album: a folder per album (a photo in several is stored once, hard-linked into the others).
    #[arg(long, default_value = "date", value_parser = PossibleValuesParser::new(Layout::NAMES).try_map(|name| name.parse::<Layout>()))]
    pub layout: Layout,
    /// Write a sidecar beside each original: xmp (NAME.ext.xmp with title, caption, keywords,
    /// people, favorite, place and capture time, as digiKam and Immich read them).
    #[arg(long, value_name = "FORMAT", value_parser = ["xmp", "none"], default_value = "none")]
    pub sidecar: String,
    /// With --sidecar xmp: album names become keywords too.
    #[arg(long)]
    pub album_keywords: bool,
    /// Leave out photos of iCloud Shared Albums (otherwise under Shared/<album>/).
    #[arg(long)]
    pub no_shared: bool,
    /// Leave out edited versions (IMG_1234_edited.HEIC next to the original).
    #[arg(long)]
    pub no_edited: bool,
    /// Also copy what is in Recently Deleted.
    #[arg(long)]
    pub include_trashed: bool,
    /// Leave out photos in the Hidden album.
    #[arg(long)]
    pub exclude_hidden: bool,
    /// Only photos taken on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub since: Option<i64>,
    #[arg(long, conflicts_with = "videos_only")]
    pub photos_only: bool,
    #[arg(long)]
    pub videos_only: bool,
    /// Only photos in this album.
    #[arg(long, value_name = "NAME")]
    pub album: Option<String>,
    /// Read every file twice and keep it only if both reads agree (catches bytes damaged
    /// between the phone and this computer; takes twice as long).
    #[arg(long)]
    pub verify_reads: bool,
    /// Show what would be copied, and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A JSON summary on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `YYYY-MM-DD` as Unix seconds at midnight UTC.
fn parse_day(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a date like 2024-06-01");
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<i32>().map_err(|_| bad()));
    let (year, month, day) = (
        parts.next().ok_or_else(bad)??,
        parts.next().ok_or_else(bad)??,
        parts.next().ok_or_else(bad)??,
    );
    let month = time::Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| bad())?).map_err(|_| bad())?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The backup folder: the iPhone's backup goes in DEST/<UDID> (default: where Finder
    /// keeps backups; on Linux ~/.local/share/lifeboat/backups).
    pub dest: Option<PathBuf>,
    #[arg(long, value_name = "UDID")]
    pub device: Option<String>,
    /// Ask the iPhone for a full backup rather than only what changed.
    #[arg(long)]
    pub full: bool,
    /// How many versions to keep, the newest included (default: `keep_versions` in the
    /// configuration file, else 5).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub keep: Option<u64>,
    /// The configuration file to read `keep_versions` from.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// How long to wait while the iPhone asks for its passcode.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub passcode_timeout: std::time::Duration,
    /// Turn backup encryption on (the iPhone may ask for its passcode).
    #[arg(long, conflicts_with_all = ["no_encrypt", "change_password"])]
    pub encrypt: bool,
    /// Change the backup password.
    #[arg(long, conflicts_with = "no_encrypt")]
    pub change_password: bool,
    /// Turn backup encryption off (needs the current password).
    #[arg(long)]
    pub no_encrypt: bool,
    /// Read the password from this file's first line (with --change-password: the current
    /// one, then the new one on the second line). Otherwise $LIFEBOAT_BACKUP_PASSWORD
    /// (and $LIFEBOAT_BACKUP_NEW_PASSWORD), or a prompt.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// A JSON summary on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    pub dir: PathBuf,
    /// Check a random share of the files, in percent (for quick nightly checks).
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, conflicts_with_all = ["against_device", "init"])]
    pub sample: Option<f64>,
    /// Say which photos on the connected iPhone are not in DIR (any folder, matched by content).
    #[arg(long, conflicts_with = "init")]
    pub against_device: bool,
    /// Write a manifest for a folder made by another tool, so later checks can find bit rot.
    #[arg(long)]
    pub init: bool,
    #[arg(long, value_name = "UDID")]
    pub device: Option<String>,
    /// Device backups: read (and decrypt) every file and check its content by type.
    #[arg(long, conflicts_with_all = ["against_device", "init", "sample"])]
    pub deep: bool,
    /// Encrypted device backups: read the password from the first line of this file
    /// (else $LIFEBOAT_BACKUP_PASSWORD, else a prompt).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["against_device", "init", "sample"])]
    pub password_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

fn parse_percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p / 100.0),
        _ => Err(format!("{text:?} is not a percentage between 0 and 100")),
    }
}

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Install the nightly run.
    Install {
        /// Time of day, local time.
        #[arg(long, default_value = "02:00")]
        at: nightly::schedule::At,
        /// How long each night's run waits for the phone.
        #[arg(long, default_value = "6h")]
        wait: String,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Show the files and commands, and change nothing.
        #[arg(long)]
        print: bool,
        /// With --print: the platform to show (linux, macos, windows).
        #[arg(long, value_parser = ["linux", "macos", "windows"])]
        platform: Option<String>,
    },
    /// Show the installed schedule, the next run and the last result.
    Status {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Remove the nightly run.
    Remove,
}

/// `30s`, `10m`, `6h`, or plain seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 10m or 6h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?} is not a duration like 30s, 10m or 6h")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}
