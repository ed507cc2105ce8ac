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
        }
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
