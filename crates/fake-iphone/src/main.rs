//! `fake-iphone`: run the simulated iPhone as a process. Prints `ready ADDR` once it accepts
//! connections; reads control lines (`trust`, `deny`, `lock`, `unlock`, `detach`, `attach`;
//! `backup-add`, `backup-change`, `backup-change-some`, `backup-delete`, `backup-served`) on
//! stdin.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fake_iphone::{FakeIphone, PhoneConfig, TrustState};

#[derive(Parser)]
#[command(
    version,
    about = "A simulated iPhone: usbmuxd socket, lockdownd with TLS and pairing, AFC, backups"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Args,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Write a media folder shaped like a phone's, with a matching Photos.sqlite.
    MakeLibrary(MakeLibrary),
}

#[derive(clap::Args)]
struct MakeLibrary {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "17.5")]
    ios: String,
    #[arg(long, default_value_t = 20)]
    photos: usize,
    #[arg(long, default_value_t = 2)]
    videos: usize,
    #[arg(long, default_value_t = 2)]
    live: usize,
    #[arg(long, default_value_t = 2)]
    edited: usize,
    /// Assets whose originals are only in iCloud (Optimize iPhone Storage).
    #[arg(long, default_value_t = 0)]
    cloud_only: usize,
    #[arg(long, default_value_t = 0)]
    trashed: usize,
    #[arg(long, default_value_t = 0)]
    hidden: usize,
    #[arg(long, default_value_t = 0)]
    albums: usize,
    /// Originals that came through iCloud Photos (PhotoData/CPLAssets).
    #[arg(long, default_value_t = 0)]
    cpl: usize,
    /// Photos in iCloud Shared Albums (PhotoData/PhotoCloudSharingData).
    #[arg(long, default_value_t = 0)]
    shared: usize,
    /// Bursts of three frames, one of them picked.
    #[arg(long, default_value_t = 0)]
    bursts: usize,
    /// JPEG photos cut short on the phone itself (copy "correctly", fail a structure check).
    #[arg(long, default_value_t = 0)]
    truncated: usize,
    /// Extra bytes per photo, for realistic sizes (an iPhone photo is 2-4 MB).
    #[arg(long, default_value_t = 0)]
    photo_bytes: usize,
    /// Extra bytes per video.
    #[arg(long, default_value_t = 0)]
    video_bytes: usize,
}

#[derive(clap::Args)]
struct Args {
    /// TCP address for the usbmuxd socket (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Also serve usbmuxd on this UNIX socket path.
    #[arg(long)]
    unix: Option<PathBuf>,
    /// The folder served as the phone's media root.
    #[arg(long, default_value = ".")]
    media: PathBuf,
    /// UDID of a phone; repeat for several phones.
    #[arg(long)]
    udid: Vec<String>,
    /// Device name of each phone, in the order of --udid.
    #[arg(long)]
    name: Vec<String>,
    #[arg(long, default_value = "17.5")]
    ios: String,
    #[arg(long, default_value = "iPhone15,2")]
    product_type: String,
    /// How the phone answers pairing: trusted, untrusted, locked or deny.
    #[arg(long, default_value = "trusted")]
    state: TrustState,
    /// With --state untrusted: tap Trust by itself this many seconds after the dialog shows.
    #[arg(long)]
    trust_after: Option<f64>,
    /// Attach over Wi-Fi (Network) instead of USB.
    #[arg(long)]
    network: bool,
    /// Round-trip latency added to every AFC reply, in milliseconds (USB 2: about 0.5).
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Phone-to-computer AFC bandwidth in megabytes per second (USB 2: about 35); 0 is unlimited.
    #[arg(long, default_value_t = 0.0)]
    bandwidth_mbps: f64,
    /// Fault: cut the AFC connection once this many file bytes have been served.
    #[arg(long, value_name = "BYTES")]
    fault_drop_after: Option<u64>,
    /// Fault: unplug the phone once this many file bytes have been served.
    #[arg(long, value_name = "BYTES")]
    fault_detach_after: Option<u64>,
    /// Fault: stop answering AFC once this many file bytes have been served.
    #[arg(long, value_name = "BYTES")]
    fault_stall_after: Option<u64>,
    /// Fault: flip a bit of the file byte served at this position.
    #[arg(long, value_name = "BYTES")]
    fault_corrupt_at: Option<u64>,
    /// Fault: report sizes of files whose path contains PATTERN wrong by DELTA bytes.
    #[arg(long, value_name = "PATTERN=DELTA", value_parser = parse_wrong_size)]
    fault_wrong_size: Option<(String, i64)>,
    /// An afcd that cannot pipeline: it drops the connection when a request arrives before
    /// the one before it was answered.
    #[arg(long)]
    afc_one_at_a_time: bool,
    /// An afcd that keeps one file open at a time: a second open while one is open is
    /// refused with NoResources.
    #[arg(long)]
    afc_one_file_open: bool,
    /// An old iPhone's TLS (below iOS 10; use with --ios, e.g. 6.1.6): sessions speak only
    /// TLS 1.0 to 1.2 with CBC suites and RSA key exchange. Below iOS 7, ValidatePair must
    /// come before StartSession.
    #[arg(long)]
    tls_legacy_only: bool,
    /// Fault: list hostile names (.., /, control characters, long names, a symlink) in DCIM.
    #[arg(long)]
    fault_hostile_listing: bool,
    /// Free space the phone reports (storage nearly full: a few hundred MB).
    #[arg(long, value_name = "BYTES")]
    disk_available: Option<u64>,
    /// iCloud Backup: on or off.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    icloud_backup: String,
    /// Days since the last iCloud backup the phone reports; negative: none.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    last_icloud_backup_days: f64,
    /// Days since the last backup to a computer; negative: none.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    last_local_backup_days: f64,
    /// iCloud Photos' sync state file: on, off, offline, missing, stalled:DAYS, or untouched
    /// (leave the media folder's file as it is).
    #[arg(long, default_value = "untouched")]
    icloud_photos: fake_iphone::icloud::PhotosSync,
    /// Backup: serve no com.apple.mobilebackup2 (lockdownd refuses it).
    #[arg(long)]
    no_backup: bool,
    /// Backup: generated files in HomeDomain, AppDomain-* and KeychainDomain.
    #[arg(long, default_value_t = 24)]
    backup_files: usize,
    /// Backup: their bytes in all.
    #[arg(long, default_value_t = 256 * 1024)]
    backup_bytes: u64,
    /// Backup: the seed of their names and contents.
    #[arg(long, default_value_t = 1)]
    backup_seed: u64,
    /// Backup: the passcode prompt (iOS 16.1+): enter-after:SECONDS or never.
    #[arg(long, default_value = "enter-after:0")]
    backup_passcode: fake_iphone::PasscodePrompt,
    /// Backup: seconds a never-entered passcode is waited for before ErrorCode 208.
    #[arg(long, default_value_t = 1800.0)]
    backup_passcode_timeout: f64,
    /// Backup: host free space needed beyond the upload, in bytes (else ErrorCode 105).
    #[arg(long, default_value_t = 128 << 20)]
    backup_free_margin: u64,
    /// Backup: ask the host to purge disk space when short (libimobiledevice 1.3.0 hangs).
    #[arg(long)]
    backup_purge: bool,
    /// Backup: one file fails with a 0x0B error block (as iOS 17's backup_manifest.db).
    #[arg(long)]
    backup_error_block: bool,
    /// Backup: also upload to hostile host paths (.., absolute, odd, over 255 bytes).
    #[arg(long)]
    backup_hostile_paths: bool,
    /// Backup: the backup password the phone starts with (backups are then encrypted).
    #[arg(long)]
    backup_password: Option<String>,
    /// Backup: PBKDF2 rounds of a new keybag, SHA-256 then SHA-1 (real phones: 10000000,10000).
    #[arg(long, value_name = "DPIC,ITER", default_value = "10000000,10000", value_parser = parse_rounds)]
    backup_kdf_rounds: (u32, u32),
}

fn parse_rounds(text: &str) -> Result<(u32, u32), String> {
    let (dpic, iter) = text.split_once(',').ok_or("expected DPIC,ITER")?;
    let number = |n: &str| {
        n.trim()
            .parse::<u32>()
            .map_err(|_| format!("{n:?} is not a round count"))
    };
    Ok((number(dpic)?, number(iter)?))
}

fn parse_wrong_size(text: &str) -> Result<(String, i64), String> {
    let (pattern, delta) = text.rsplit_once('=').ok_or("expected PATTERN=DELTA")?;
    Ok((
        pattern.to_string(),
        delta.parse().map_err(|_| format!("{delta:?} is not a whole number"))?,
    ))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::MakeLibrary(spec)) => make_library(spec),
        None => serve(cli.serve),
    }
}

fn make_library(args: MakeLibrary) -> anyhow::Result<()> {
    let spec = fake_iphone::library::LibrarySpec {
        ios: args.ios,
        photos: args.photos,
        videos: args.videos,
        live: args.live,
        edited: args.edited,
        cloud_only: args.cloud_only,
        trashed: args.trashed,
        hidden: args.hidden,
        albums: args.albums,
        cpl: args.cpl,
        shared: args.shared,
        bursts: args.bursts,
        truncated: args.truncated,
        photo_padding: args.photo_bytes,
        video_padding: args.video_bytes,
    };
    let assets = fake_iphone::library::make_library(&args.out, &spec)?;
    let files: usize = assets.iter().map(|a| a.files.len()).sum();
    println!("made {} assets ({files} files) in {}", assets.len(), args.out.display());
    Ok(())
}

fn serve(args: Args) -> anyhow::Result<()> {
    let udids = if args.udid.is_empty() {
        vec![fake_iphone::config::udid_for(1)]
    } else {
        args.udid.clone()
    };
    let mut fake = FakeIphone::new().listen(args.listen);
    if let Some(path) = &args.unix {
        fake = fake.unix_socket(path.clone());
    }
    for (i, udid) in udids.iter().enumerate() {
        let mut config = PhoneConfig::new(udid.clone(), args.media.clone())
            .ios(args.ios.clone())
            .state(args.state)
            .network(args.network);
        config.product_type = args.product_type.clone();
        config.faults = fake_iphone::Faults {
            drop_after: args.fault_drop_after,
            detach_after: args.fault_detach_after,
            stall_after: args.fault_stall_after,
            corrupt_at: args.fault_corrupt_at,
            wrong_size: args.fault_wrong_size.clone(),
            hostile_listing: args.fault_hostile_listing,
        };
        let days = |d: f64| (d >= 0.0).then_some(d);
        config.icloud = fake_iphone::icloud::ICloudState {
            backup_enabled: args.icloud_backup == "on",
            last_backup_days: days(args.last_icloud_backup_days),
            last_local_backup_days: days(args.last_local_backup_days),
            photos: args.icloud_photos,
        };
        if let Some(bytes) = args.disk_available {
            config.disk_available = bytes.min(config.disk_capacity);
        }
        config.backup = fake_iphone::BackupConfig {
            enabled: !args.no_backup,
            files: args.backup_files,
            bytes: args.backup_bytes,
            seed: args.backup_seed,
            passcode: args.backup_passcode,
            passcode_timeout: Duration::from_secs_f64(args.backup_passcode_timeout.max(0.0)),
            free_space_margin: args.backup_free_margin,
            purge_disk_space: args.backup_purge,
            error_block: args.backup_error_block,
            hostile_paths: args.backup_hostile_paths,
            password: args.backup_password.clone(),
            kdf_rounds: args.backup_kdf_rounds,
        };
        config.afc_one_at_a_time = args.afc_one_at_a_time;
        config.afc_one_file_open = args.afc_one_file_open;
        config.tls_legacy_only = args.tls_legacy_only;
        config.link = fake_iphone::Link {
            latency: Duration::from_secs_f64(args.latency_ms.max(0.0) / 1000.0),
            bandwidth: (args.bandwidth_mbps > 0.0).then_some((args.bandwidth_mbps * 1e6) as u64),
        };
        config.name = args
            .name
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("Test iPhone {}", i + 1));
        if let Some(secs) = args.trust_after {
            config = config.trust_after(Duration::from_secs_f64(secs.max(0.0)));
        }
        fake = fake.phone(config);
    }
    let running = fake.start()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready {}", running.usbmux_address())?;
    stdout.flush()?;
    // Control lines until stdin closes; then keep serving until killed.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = running.control(line.trim());
        if !answer.is_empty() {
            writeln!(stdout, "{answer}")?;
            stdout.flush()?;
        }
    }
    loop {
        std::thread::park();
    }
}
