//! What a simulated phone is: identity, iOS version, trust state and media folder.

use std::path::PathBuf;
use std::time::Duration;

/// How the phone answers a `Pair` request from a computer it does not know yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustState {
    /// Pairs at once, as if Trust had been tapped before the request arrived.
    Trusted,
    /// Shows the Trust dialog: `PairingDialogResponsePending` until it is tapped.
    Untrusted,
    /// Locked with a passcode: `PasswordProtected` until unlocked.
    Locked,
    /// The owner taps "Don't Trust": `UserDeniedPairing`.
    Deny,
}

impl std::str::FromStr for TrustState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trusted" => Ok(TrustState::Trusted),
            "untrusted" => Ok(TrustState::Untrusted),
            "locked" => Ok(TrustState::Locked),
            "deny" => Ok(TrustState::Deny),
            other => Err(format!(
                "unknown state {other:?}: use trusted, untrusted, locked or deny"
            )),
        }
    }
}

pub use crate::faults::Faults;

#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub udid: String,
    pub name: String,
    pub ios_version: String,
    pub product_type: String,
    pub state: TrustState,
    /// With `Untrusted`, tap Trust by itself this long after the dialog appears.
    pub trust_after: Option<Duration>,
    /// The AFC root (`/var/mobile/Media` on a phone).
    pub media: PathBuf,
    /// Attached over Wi-Fi rather than USB.
    pub network: bool,
    pub disk_capacity: u64,
    pub disk_available: u64,
    pub battery_percent: u8,
    pub charging: bool,
    /// The USB link's latency and bandwidth, as AFC replies see them.
    pub link: crate::Link,
    pub faults: Faults,
    /// iCloud Backup and iCloud Photos as the phone reports them.
    pub icloud: crate::icloud::ICloudState,
    /// The device side of a full backup (mobilebackup2).
    pub backup: BackupConfig,
    /// An afcd that cannot pipeline: a request that arrives before the one before it was
    /// answered drops the connection.
    pub afc_one_at_a_time: bool,
    /// An afcd that keeps one file open at a time: opening a second file while another is
    /// open is refused with NoResources, an error only a client with a window meets.
    pub afc_one_file_open: bool,
    /// An old iPhone's TLS (below iOS 10): sessions speak only TLS 1.0 to 1.2 with CBC suites
    /// and RSA key exchange, so a modern-only client gets a `handshake_failure` alert.
    pub tls_legacy_only: bool,
}

/// When the passcode prompt of a backup is answered (iOS 16.1 and later, docs/backup.md §1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasscodePrompt {
    /// Entered this long after the prompt shows.
    EnterAfter(Duration),
    /// Never entered: the backup ends in 208 after the configured wait.
    Never,
}

impl std::str::FromStr for PasscodePrompt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "never" {
            return Ok(PasscodePrompt::Never);
        }
        let seconds = s
            .strip_prefix("enter-after:")
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or_else(|| format!("{s:?}: use enter-after:SECONDS or never"))?;
        Ok(PasscodePrompt::EnterAfter(Duration::from_secs_f64(seconds)))
    }
}

/// What the simulated BackupAgent holds and how it behaves (docs/backup.md §1.10, §5).
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Serve `com.apple.mobilebackup2` at all; off, lockdownd refuses it (`InvalidService`).
    pub enabled: bool,
    /// Generated files in HomeDomain, AppDomain-* and KeychainDomain (CameraRollDomain comes
    /// from the media folder).
    pub files: usize,
    /// Their bytes in all.
    pub bytes: u64,
    /// Seed of their names and contents.
    pub seed: u64,
    /// The passcode prompt on iOS 16.1 and later.
    pub passcode: PasscodePrompt,
    /// How long the phone waits for a passcode that never comes before failing with 208.
    pub passcode_timeout: Duration,
    /// Free space needed on the host beyond the upload itself (BackupAgent2: 128 MiB).
    pub free_space_margin: u64,
    /// Ask the host to purge disk space when short (never do this to libimobiledevice 1.3.0,
    /// which never answers).
    pub purge_disk_space: bool,
    /// Upload one extra file whose read fails: a 0x0B error block (iOS 17 does this for
    /// `backup_manifest.db`).
    pub error_block: bool,
    /// Upload files to hostile host paths too (`..`, absolute, odd, over 255 bytes).
    pub hostile_paths: bool,
    /// The backup password the phone starts with: backups are encrypted
    /// (docs/backup-encryption.md §7). `ChangePassword` changes it.
    pub password: Option<String>,
    /// PBKDF2 rounds of a new keybag: SHA-256 (`DPIC`) and SHA-1 (`ITER`). Real phones use
    /// 10,000,000 and 10,000; tests want 1 and 1.
    pub kdf_rounds: (u32, u32),
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: true,
            files: 24,
            bytes: 256 * 1024,
            seed: 1,
            passcode: PasscodePrompt::EnterAfter(Duration::ZERO),
            passcode_timeout: Duration::from_secs(30 * 60),
            free_space_margin: 128 << 20,
            purge_disk_space: false,
            error_block: false,
            hostile_paths: false,
            password: None,
            kdf_rounds: (10_000_000, 10_000),
        }
    }
}

impl PhoneConfig {
    pub fn new(udid: impl Into<String>, media: impl Into<PathBuf>) -> PhoneConfig {
        PhoneConfig {
            udid: udid.into(),
            name: "Test iPhone".into(),
            ios_version: "17.5".into(),
            product_type: "iPhone15,2".into(),
            state: TrustState::Trusted,
            trust_after: None,
            media: media.into(),
            network: false,
            disk_capacity: 128_000_000_000,
            disk_available: 37_520_000_000,
            battery_percent: 82,
            charging: true,
            link: crate::Link::default(),
            faults: Faults::default(),
            icloud: Default::default(),
            backup: BackupConfig::default(),
            afc_one_at_a_time: false,
            afc_one_file_open: false,
            tls_legacy_only: false,
        }
    }

    pub fn backup(mut self, backup: BackupConfig) -> Self {
        self.backup = backup;
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn ios(mut self, version: impl Into<String>) -> Self {
        self.ios_version = version.into();
        self
    }

    pub fn state(mut self, state: TrustState) -> Self {
        self.state = state;
        self
    }

    pub fn trust_after(mut self, delay: Duration) -> Self {
        self.trust_after = Some(delay);
        self
    }

    pub fn link(mut self, link: crate::Link) -> Self {
        self.link = link;
        self
    }

    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    pub fn icloud(mut self, icloud: crate::icloud::ICloudState) -> Self {
        self.icloud = icloud;
        self
    }

    pub fn tls_legacy_only(mut self, legacy: bool) -> Self {
        self.tls_legacy_only = legacy;
        self
    }

    pub fn afc_one_at_a_time(mut self, strict: bool) -> Self {
        self.afc_one_at_a_time = strict;
        self
    }

    pub fn afc_one_file_open(mut self, strict: bool) -> Self {
        self.afc_one_file_open = strict;
        self
    }

    /// The free space the phone reports (at most its capacity).
    pub fn disk_available(mut self, bytes: u64) -> Self {
        self.disk_available = bytes.min(self.disk_capacity);
        self
    }

    pub fn network(mut self, network: bool) -> Self {
        self.network = network;
        self
    }
}

/// A UDID in the modern form (`00008110-` + 16 hex digits), derived from a number.
pub fn udid_for(n: u32) -> String {
    format!("00008110-{:016X}", 0x001A_2B3C_0000_0000u64 + u64::from(n))
}
