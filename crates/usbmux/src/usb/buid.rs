//! The SystemBUID: the host's identity that pairing writes into pair records and that
//! usbmuxd answers `ReadBUID` with. With no daemon lifeboat keeps its own, in the same
//! file usbmuxd uses, and reads the system's first so both stay one host to the phone.

use std::io;
use std::path::{Path, PathBuf};

use plist::{Dictionary, Value};

use crate::error::{Error, Result};

/// usbmuxd's file in its lockdown folder; lifeboat keeps one of the same shape.
const FILE_NAME: &str = "SystemConfiguration.plist";

/// The BUID from the first of `read_dirs` that has one, or else from `own_dir`, where a new
/// one is made and kept on first use.
pub(crate) fn system_buid(read_dirs: &[PathBuf], own_dir: &Path) -> Result<String> {
    for dir in read_dirs.iter().map(PathBuf::as_path).chain([own_dir]) {
        if let Some(buid) = read(&dir.join(FILE_NAME)) {
            return Ok(buid);
        }
    }
    let buid = uuid::Uuid::new_v4().to_string().to_uppercase();
    let path = own_dir.join(FILE_NAME);
    match create(&path, &buid) {
        Ok(()) => Ok(buid),
        // Another lifeboat made one at the same moment: use that one.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(&path).ok_or_else(|| unreadable(&path, e)),
        Err(e) => Err(unreadable(&path, e)),
    }
}

fn unreadable(path: &Path, e: io::Error) -> Error {
    Error::Io(io::Error::new(
        e.kind(),
        format!("cannot keep the host identity in {}: {e}", path.display()),
    ))
}

fn read(path: &Path) -> Option<String> {
    let value = Value::from_file(path).ok()?;
    let buid = value.as_dictionary()?.get("SystemBUID")?.as_string()?;
    (!buid.trim().is_empty()).then(|| buid.to_string())
}

/// Writes the file whole, only if there is none yet: a reader never sees half a file, and a
/// racing writer never wins twice.
fn create(path: &Path, buid: &str) -> io::Result<()> {
    let mut dict = Dictionary::new();
    dict.insert("SystemBUID".into(), buid.into());
    let mut bytes = Vec::new();
    plist::to_writer_xml(&mut bytes, &Value::Dictionary(dict)).map_err(io::Error::other)?;
    atomic_file::write_new(path, &bytes, atomic_file::Access::Private)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn made_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("own");
        let first = system_buid(&[], &own).unwrap();
        assert_eq!(first.len(), 36);
        assert_eq!(system_buid(&[], &own).unwrap(), first);
        assert_eq!(fs::read_dir(&own).unwrap().count(), 1, "no temporary left behind");
    }

    #[test]
    fn the_systems_buid_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("lockdown");
        fs::create_dir_all(&system).unwrap();
        let mut dict = Dictionary::new();
        dict.insert("SystemBUID".into(), "SYSTEM-BUID".into());
        Value::Dictionary(dict).to_file_xml(system.join(FILE_NAME)).unwrap();
        let own = dir.path().join("own");
        assert_eq!(
            system_buid(&[dir.path().join("missing"), system], &own).unwrap(),
            "SYSTEM-BUID"
        );
        assert!(!own.exists(), "nothing written when the system has one");
    }
}
