//! The runtime state of one simulated phone: its keys, the computers it trusts, the Trust
//! dialog, and the sockets open to it (so unplugging can cut them).

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lockdown::pairing::RsaKey;
use usbmux::{ConnectionKind, Device, UsbmuxStream};

use crate::backup_agent::files::DeviceFiles;
use crate::config::{PhoneConfig, TrustState};
use crate::notification_proxy::Notifications;
use crate::values::Values;

/// Counters a test reads, and which one-shot faults have fired.
#[derive(Debug, Default)]
pub struct PhoneStats {
    /// File bytes served over AFC (FileRefRead data), across connections.
    pub file_bytes_served: std::sync::atomic::AtomicU64,
    /// File bytes uploaded by mobilebackup2 (backup payload, not metadata), across runs.
    pub backup_bytes_served: std::sync::atomic::AtomicU64,
    /// The most AFC requests one connection had read and not yet answered, across connections:
    /// how deep the computer pipelines.
    pub afc_most_in_flight: std::sync::atomic::AtomicUsize,
    pub fired: std::sync::Mutex<Vec<&'static str>>,
}

impl PhoneStats {
    /// True the first time `fault` is claimed.
    pub fn fire(&self, fault: &'static str) -> bool {
        let mut fired = self.fired.lock().unwrap_or_else(|p| p.into_inner());
        if fired.contains(&fault) {
            return false;
        }
        fired.push(fault);
        true
    }
}

/// A computer this phone trusts, from its `Pair` request.
#[derive(Clone)]
pub struct TrustedHost {
    pub device_certificate_pem: Vec<u8>,
    pub host_certificate_pem: Vec<u8>,
    pub root_certificate_pem: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    Hidden,
    Shown { since: Instant },
    Tapped,
    Denied,
}

pub struct Phone {
    pub config: PhoneConfig,
    pub device_id: u32,
    pub attached: bool,
    pub locked: bool,
    pub dialog: Dialog,
    pub device_key_pkcs8: Vec<u8>,
    pub device_public_key_pem: String,
    pub values: Values,
    pub trusted_hosts: HashMap<String, TrustedHost>,
    pub stats: std::sync::Arc<PhoneStats>,
    /// Sockets connected to this phone through usbmux, cut when it is detached.
    pub open_sockets: HashMap<u64, UsbmuxStream>,
    /// What a backup copies (docs/backup.md §2).
    pub files: Arc<Mutex<DeviceFiles>>,
    pub notifications: Arc<Notifications>,
    /// The AFC connection holding `/com.apple.itunes.lock_sync` (docs/backup.md §1.9 step 5).
    pub sync_lock: Arc<Mutex<Option<u64>>>,
}

/// Why a `Pair` request cannot succeed yet.
pub enum PairRefusal {
    Pending,
    Locked,
    Denied,
}

impl Phone {
    pub fn new(config: PhoneConfig, device_id: u32, serial: u32) -> anyhow::Result<Phone> {
        let key = RsaKey::generate()?;
        let device_public_key_pem = key.public_pkcs1_pem()?;
        let values = Values::new(&config, &device_public_key_pem, serial);
        config.icloud.write_sync_status(&config.media)?;
        let config_backup = config.backup.clone();
        Ok(Phone {
            locked: config.state == TrustState::Locked,
            dialog: match config.state {
                TrustState::Deny => Dialog::Denied,
                _ => Dialog::Hidden,
            },
            device_key_pkcs8: key.private_pkcs8_der()?,
            device_public_key_pem,
            values,
            config,
            device_id,
            attached: true,
            trusted_hosts: HashMap::new(),
            stats: Default::default(),
            open_sockets: HashMap::new(),
            files: Arc::new(Mutex::new(DeviceFiles::generate(&config_backup))),
            notifications: Arc::default(),
            sync_lock: Arc::default(),
        })
    }

    pub fn device(&self) -> Device {
        let connection = if self.config.network {
            // A Linux sockaddr_in for 192.0.2.10 (TEST-NET-1), as usbmuxd sends it.
            let mut address = vec![0u8; 16];
            address[0] = 2;
            address[4..8].copy_from_slice(&[192, 0, 2, 10]);
            ConnectionKind::Network { address }
        } else {
            ConnectionKind::Usb {
                speed: Some(480_000_000),
                product_id: Some(0x12a8),
                location_id: Some(0x0010_0000 + self.device_id),
            }
        };
        Device {
            device_id: self.device_id,
            udid: self.config.udid.clone(),
            connection,
        }
    }

    /// Decides a `Pair` request as the phone's screen would.
    pub fn pairing_decision(&mut self) -> Result<(), PairRefusal> {
        if self.locked {
            return Err(PairRefusal::Locked);
        }
        if self.config.state == TrustState::Trusted {
            return Ok(());
        }
        match self.dialog {
            Dialog::Tapped => {
                // The dialog is answered once; the next new computer asks again.
                self.dialog = Dialog::Hidden;
                Ok(())
            }
            Dialog::Denied => Err(PairRefusal::Denied),
            Dialog::Hidden => {
                self.dialog = Dialog::Shown { since: Instant::now() };
                Err(PairRefusal::Pending)
            }
            Dialog::Shown { since } => match self.config.trust_after {
                Some(delay) if since.elapsed() >= delay => {
                    self.dialog = Dialog::Hidden;
                    Ok(())
                }
                _ => Err(PairRefusal::Pending),
            },
        }
    }

    pub fn tap_trust(&mut self) {
        self.locked = false;
        self.dialog = Dialog::Tapped;
    }

    pub fn tap_dont_trust(&mut self) {
        self.dialog = Dialog::Denied;
    }

    /// Unplugs the phone: every socket to it is cut at once.
    pub fn detach(&mut self) {
        self.attached = false;
        for (_, socket) in self.open_sockets.drain() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}
