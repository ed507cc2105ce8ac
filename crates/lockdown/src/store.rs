//! Where pair records live. Reading: usbmuxd first, then the platform's lockdown folder
//! (where usbmuxd and iTunes keep them), then lifeboat's own folder. Saving: through usbmuxd
//! `SavePairRecord`, so other tools on this computer share the pairing, and to lifeboat's
//! folder with mode 0600, so lifeboat still works where the daemon is gone or replaced.
//! When lifeboat reaches the phone over USB itself there is no daemon to ask: records live
//! in lifeboat's folder, and the platform's folder is still read.

use std::fs;
use std::path::{Path, PathBuf};

use usbmux::{Device, UsbmuxClient};

use crate::client::LockdownClient;
use crate::error::{Error, Result};
use crate::pair_record::PairRecord;

/// Where a record came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordSource {
    Usbmuxd,
    File(PathBuf),
}

impl std::fmt::Display for RecordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordSource::Usbmuxd => write!(f, "usbmuxd"),
            RecordSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

pub struct PairRecordStore<'a> {
    mux: &'a UsbmuxClient,
    system_dirs: Vec<PathBuf>,
    own_dir: PathBuf,
}

/// lifeboat's own folder for pair records (`~/.local/share/lifeboat/pair-records` on Linux).
pub fn default_own_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "lifeboat")
        .map(|dirs| dirs.data_dir().join("pair-records"))
        .unwrap_or_else(|| PathBuf::from(".lifeboat-pair-records"))
}

/// The folders where the system's usbmuxd (or Apple's service) keeps records.
pub fn system_dirs() -> Vec<PathBuf> {
    if cfg!(target_os = "macos") {
        vec![PathBuf::from("/var/db/lockdown")]
    } else if cfg!(windows) {
        std::env::var_os("ProgramData")
            .map(|p| vec![PathBuf::from(p).join("Apple").join("Lockdown")])
            .unwrap_or_default()
    } else {
        vec![PathBuf::from("/var/lib/lockdown")]
    }
}

/// A UDID is used as a file name: refuse anything that could leave the folder.
fn record_file_name(udid: &str) -> Result<String> {
    let safe = !udid.is_empty() && udid.len() <= 64 && udid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if safe {
        Ok(format!("{udid}.plist"))
    } else {
        Err(Error::Protocol(format!(
            "the device reported an unusable UDID {udid:?}"
        )))
    }
}

impl<'a> PairRecordStore<'a> {
    pub fn new(mux: &'a UsbmuxClient) -> PairRecordStore<'a> {
        PairRecordStore {
            mux,
            system_dirs: system_dirs(),
            own_dir: default_own_dir(),
        }
    }

    pub fn with_dirs(mux: &'a UsbmuxClient, system_dirs: Vec<PathBuf>, own_dir: PathBuf) -> PairRecordStore<'a> {
        PairRecordStore {
            mux,
            system_dirs,
            own_dir,
        }
    }

    pub fn own_dir(&self) -> &Path {
        &self.own_dir
    }

    /// The first usable record for `udid`, and where it came from.
    pub fn load(&self, udid: &str) -> Result<Option<(PairRecord, RecordSource)>> {
        let file_name = record_file_name(udid)?;
        // A daemon that cannot answer is not fatal: the files may still hold a record.
        if self.mux.stores_pair_records()
            && let Ok(Some(bytes)) = self.mux.read_pair_record(udid)
            && let Ok(record) = PairRecord::from_bytes(&bytes)
        {
            return Ok(Some((record, RecordSource::Usbmuxd)));
        }
        for dir in self.system_dirs.iter().chain(std::iter::once(&self.own_dir)) {
            let path = dir.join(&file_name);
            let Ok(bytes) = fs::read(&path) else { continue };
            match PairRecord::from_bytes(&bytes) {
                Ok(record) => return Ok(Some((record, RecordSource::File(path)))),
                Err(_) => continue,
            }
        }
        Ok(None)
    }

    /// Keeps a new `record` for `device` only once a session on it has worked, so a phone
    /// whose session cannot work (an old iPhone's TLS, docs/protocol.md §2.6) leaves no
    /// record behind. Then saves it as [`save`](Self::save) does.
    pub fn save_after_session(&self, device: &Device, record: &PairRecord) -> Result<Vec<RecordSource>> {
        let mut check = LockdownClient::connect(self.mux, device)?;
        check.start_session(record)?;
        let _ = check.stop_session();
        self.save(&device.udid, Some(device.device_id), record)
    }

    /// Saves through usbmuxd and to lifeboat's folder. Fails only if neither took it.
    pub fn save(&self, udid: &str, device_id: Option<u32>, record: &PairRecord) -> Result<Vec<RecordSource>> {
        let bytes = record.to_bytes();
        let mut saved = Vec::new();
        if self.mux.stores_pair_records() && self.mux.save_pair_record(udid, device_id, &bytes).is_ok() {
            saved.push(RecordSource::Usbmuxd);
        }
        let path = self.own_dir.join(record_file_name(udid)?);
        match write_private_file(&path, &bytes) {
            Ok(()) => saved.push(RecordSource::File(path)),
            Err(e) if saved.is_empty() => return Err(e),
            Err(_) => {}
        }
        Ok(saved)
    }

    /// Forgets the record everywhere lifeboat may write it.
    pub fn delete(&self, udid: &str) -> Result<()> {
        let path = self.own_dir.join(record_file_name(udid)?);
        if self.mux.stores_pair_records() {
            let _ = self.mux.delete_pair_record(udid);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::PairRecordFile {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }
}

/// Writes `bytes` readable by the owner only, whole or not at all (see `atomic_file`).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_file::write(path, bytes, atomic_file::Access::Private).map_err(|e| Error::PairRecordFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udids_cannot_escape_the_folder() {
        assert!(record_file_name("00008030-001A2B3C4D5E6F70").is_ok());
        for bad in ["", "../etc/passwd", "a/b", "x\0y", &"a".repeat(65)] {
            assert!(record_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_and_complete() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("X.plist");
        write_private_file(&path, b"hello").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temporary left behind"
        );
    }

    /// Over USB there is no daemon: records are saved to lifeboat's folder only, and read
    /// from the platform's folder first, then lifeboat's.
    #[test]
    fn without_a_daemon_records_live_in_files() {
        let dir = tempfile::tempdir().unwrap();
        let mux = match UsbmuxClient::with_transport(
            usbmux::TransportChoice::Usb,
            usbmux::UsbmuxAddress::Unix(dir.path().join("no-daemon")),
            false,
            usbmux::UsbSettings::default(),
        ) {
            Ok(mux) => mux,
            Err(e) => {
                eprintln!("skipping: this build has no USB transport ({e})");
                return;
            }
        };
        let system = dir.path().join("lockdown");
        let own = dir.path().join("own");
        let store = PairRecordStore::with_dirs(&mux, vec![system.clone()], own.clone());
        let udid = "00008030-001A2B3C4D5E6F70";
        let record = |host_id: &str| PairRecord {
            device_certificate: b"D".to_vec(),
            host_certificate: b"H".to_vec(),
            host_private_key: b"K".to_vec(),
            root_certificate: b"R".to_vec(),
            root_private_key: b"S".to_vec(),
            host_id: host_id.into(),
            system_buid: "BUID".into(),
            escrow_bag: None,
            wifi_mac_address: None,
            udid: Some(udid.into()),
        };
        assert_eq!(store.load(udid).unwrap(), None);

        let saved = store.save(udid, Some(1), &record("OWN")).unwrap();
        let own_file = own.join(format!("{udid}.plist"));
        assert_eq!(
            saved,
            vec![RecordSource::File(own_file.clone())],
            "no daemon to save to"
        );
        let (loaded, source) = store.load(udid).unwrap().unwrap();
        assert_eq!((loaded.host_id.as_str(), source), ("OWN", RecordSource::File(own_file)));

        write_private_file(&system.join(format!("{udid}.plist")), &record("SYSTEM").to_bytes()).unwrap();
        assert_eq!(store.load(udid).unwrap().unwrap().0.host_id, "SYSTEM");

        store.delete(udid).unwrap();
        assert_eq!(
            store.load(udid).unwrap().unwrap().0.host_id,
            "SYSTEM",
            "the platform's own records are left alone"
        );
    }
}
